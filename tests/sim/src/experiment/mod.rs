//! Congestion-control experiments: bulk uTP flows through one shared
//! bottleneck (a dumbbell), sampled at a fixed interval.
//!
//! An [`Experiment`] describes the network and the flows; [`Experiment::run`]
//! builds the simulation, drives it, and returns an [`ExperimentResult`]: a
//! time series of [`Sample`]s plus what each flow did in the end, with the
//! summaries a congestion-control comparison needs (goodput, utilisation,
//! queuing delay percentiles, drops and drop storms, Jain's fairness index)
//! and a CSV export.
//!
//! # The network
//!
//! Flow `i` runs from its own sender endpoint `s_i` (`10.1.x.y:6881`) to
//! its own receiver endpoint `r_i` (`10.2.x.y:6881`). Every `s_i -> r_i`
//! direction [shares](crate::Sim::share_link) the link of the first flow,
//! configured with [`Experiment::bottleneck`]: one drop-tail queue, one
//! serialiser, one set of counters. Each reverse (ack) direction has the
//! bottleneck's latency and nothing else: no bandwidth limit, no loss.
//!
//! # The flows
//!
//! Each flow has its own [`utp_core::Config`] (so congestion controllers can
//! differ), a start time and an [end](FlowEnd). The sender connects at its
//! start time and keeps its send buffer full (bulk: it is never
//! application-limited); at its stop time, or once its byte count is
//! written, it stops writing and closes (what it has written is still
//! delivered). The receiver accepts and reads everything as soon as it
//! arrives, then closes after the sender's FIN. The run ends when every
//! flow is over, or at [`Experiment::duration`].
//!
//! # Samples
//!
//! Every [`Experiment::sample_interval`] (from time zero, and once at the
//! end) the run records, per flow, the sender's congestion window, bytes in
//! flight and smoothed RTT, and the bytes delivered to the receiving
//! application so far; and for the bottleneck, its queue length and
//! queuing delay ([`Sim::link_backlog`](crate::Sim::link_backlog)), its
//! cumulative drops by reason and the wire bytes it delivered.
//!
//! Everything is simulated time and seeded randomness: the same experiment
//! gives the same result, bit for bit.
//!
//! # Example
//!
//! One flow with the default config for 3 s through 10 Mbit/s:
//!
//! ```
//! use std::time::Duration;
//! use utp_core::Config;
//! use utp_sim::experiment::{Experiment, FlowSpec};
//! use utp_sim::LinkConfig;
//!
//! let bottleneck = LinkConfig {
//!     bandwidth: Some(10_000_000),
//!     queue_capacity: Some(100),
//!     ..LinkConfig::with_latency(Duration::from_millis(25))
//! };
//! let secs = Duration::from_secs;
//! let exp = Experiment::new("short", bottleneck, secs(5))
//!     .with_flow(FlowSpec::until("bulk", Config::default(), secs(0), secs(3)));
//! let result = exp.run()?;
//!
//! // Samples every 100 ms, then one when the flow is over.
//! assert_eq!(result.samples[10].time, Duration::from_millis(1000));
//! // The last second runs near the link's capacity.
//! let goodput = result.goodput(0, secs(2), secs(3));
//! assert!(goodput > 8e6, "{goodput} bit/s");
//! assert!(result.utilisation(secs(2), secs(3)) > 0.9);
//! // The same seed gives the same run.
//! assert_eq!(exp.run()?.to_csv(), result.to_csv());
//! # Ok::<(), utp_sim::experiment::ExperimentError>(())
//! ```

mod result;
pub mod scenarios;

use core::fmt;
use core::time::Duration;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use utp_core::{
    CloseReason, Config, ConnHandle, ConnStats, ConnectError, Endpoint, Event, ListenConfig,
    Timestamp,
};

use crate::{ConfigError, LinkConfig, RunError, Sim};

pub use result::{
    jain_index, DelayStats, DropStorm, ExperimentResult, FlowOutcome, FlowSample, Sample,
};

/// Default [`Experiment::sample_interval`]: 100 ms.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// UDP port of every sender and receiver.
const PORT: u16 = 6881;

/// What the application writes: its content does not matter.
const WRITE_CHUNK: [u8; 16 * 1024] = [0x5a; 16 * 1024];

/// When a flow's sender stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowEnd {
    /// At this time (since the start of the run) the sender stops writing
    /// and closes; what it wrote is still delivered.
    At(Duration),
    /// The sender writes this many bytes, then closes.
    Bytes(u64),
}

/// One bulk flow of an [`Experiment`].
#[derive(Clone, Debug)]
pub struct FlowSpec {
    /// A name for tables and plot legends.
    pub label: String,
    /// The config of both endpoints of this flow (the sender's congestion
    /// controller is the one that matters).
    pub config: Config,
    /// When the sender connects, since the start of the run.
    pub start: Duration,
    /// When the sender stops.
    pub end: FlowEnd,
}

impl FlowSpec {
    /// A flow from `start` until `stop`.
    pub fn until(
        label: impl Into<String>,
        config: Config,
        start: Duration,
        stop: Duration,
    ) -> Self {
        FlowSpec {
            label: label.into(),
            config,
            start,
            end: FlowEnd::At(stop),
        }
    }

    /// A flow of `bytes` bytes from `start`.
    pub fn bytes(label: impl Into<String>, config: Config, start: Duration, bytes: u64) -> Self {
        FlowSpec {
            label: label.into(),
            config,
            start,
            end: FlowEnd::Bytes(bytes),
        }
    }
}

/// A dumbbell experiment: flows sharing one bottleneck; see the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct Experiment {
    /// A name for files and tables (`single-flow`, ...).
    pub name: String,
    /// Seed of the simulator (link randomness) and of the endpoints.
    pub seed: u64,
    /// The shared `s_i -> r_i` link: bandwidth, queue capacity and one-way
    /// latency (and any other impairment). The reverse links get its
    /// latency only.
    pub bottleneck: LinkConfig,
    /// The flows.
    pub flows: Vec<FlowSpec>,
    /// The run ends at this time at the latest (it ends earlier once every
    /// flow is over).
    pub duration: Duration,
    /// Time between samples (default [`DEFAULT_SAMPLE_INTERVAL`]).
    pub sample_interval: Duration,
}

/// Why an experiment could not run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExperimentError {
    /// The bottleneck config is invalid.
    Config(ConfigError),
    /// The sample interval is zero.
    ZeroSampleInterval,
    /// A sender could not connect.
    Connect {
        /// The flow's index.
        flow: usize,
        /// Why.
        error: ConnectError,
    },
    /// The simulation stopped advancing ([`RunError::Stalled`]).
    Stalled(RunError),
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExperimentError::Config(e) => write!(f, "bottleneck: {e}"),
            ExperimentError::ZeroSampleInterval => f.write_str("the sample interval is zero"),
            ExperimentError::Connect { flow, error } => {
                write!(f, "flow {flow} could not connect: {error}")
            }
            ExperimentError::Stalled(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExperimentError {}

impl From<ConfigError> for ExperimentError {
    fn from(e: ConfigError) -> Self {
        ExperimentError::Config(e)
    }
}

impl Experiment {
    /// An experiment without flows: seed 1, samples every 100 ms.
    pub fn new(name: impl Into<String>, bottleneck: LinkConfig, duration: Duration) -> Self {
        Experiment {
            name: name.into(),
            seed: 1,
            bottleneck,
            flows: Vec::new(),
            duration,
            sample_interval: DEFAULT_SAMPLE_INTERVAL,
        }
    }

    /// Adds a flow.
    #[must_use]
    pub fn with_flow(mut self, flow: FlowSpec) -> Self {
        self.flows.push(flow);
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The sender address of flow `i`.
    pub fn sender(i: usize) -> SocketAddr {
        flow_addr(1, i)
    }

    /// The receiver address of flow `i`.
    pub fn receiver(i: usize) -> SocketAddr {
        flow_addr(2, i)
    }

    /// Runs the experiment to its end.
    pub fn run(&self) -> Result<ExperimentResult, ExperimentError> {
        self.bottleneck.validate()?;
        if self.sample_interval.is_zero() {
            return Err(ExperimentError::ZeroSampleInterval);
        }
        let mut sim: Sim<Endpoint> = Sim::new(self.seed);
        let reverse = LinkConfig::with_latency(self.bottleneck.latency);
        let mut runs = Vec::with_capacity(self.flows.len());
        for (i, spec) in self.flows.iter().enumerate() {
            let (s, r) = (Self::sender(i), Self::receiver(i));
            let endpoint_seed = self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64) << 1;
            sim.add_host(s, Endpoint::new(spec.config.clone(), endpoint_seed));
            let mut receiver = Endpoint::new(spec.config.clone(), endpoint_seed | 1);
            receiver.listen(ListenConfig::default());
            sim.add_host(r, receiver);
            if i == 0 {
                sim.set_link(s, r, self.bottleneck)?;
            } else {
                sim.share_link(s, r, Self::sender(0), Self::receiver(0));
            }
            sim.set_link(r, s, reverse)?;
            runs.push(FlowRun::new(s, r));
        }
        let (bs, br) = (Self::sender(0), Self::receiver(0));

        let end = Timestamp::ZERO + self.duration;
        let mut samples = Vec::new();
        // The receivers read into it; its content is never looked at.
        let mut read_buf = vec![0u8; 64 * 1024];
        let mut next_sample = Timestamp::ZERO;
        loop {
            let now = sim.now();
            for (i, (spec, run)) in self.flows.iter().zip(runs.iter_mut()).enumerate() {
                run.act(&mut sim, spec, now)
                    .map_err(|error| ExperimentError::Connect { flow: i, error })?;
            }
            pump(&mut sim, &mut runs, &self.flows, &mut read_buf);
            let over = (!runs.is_empty() && runs.iter().all(FlowRun::is_over)) || now >= end;
            if now >= next_sample || over {
                samples.push(sample(&mut sim, &mut runs, bs, br));
                while next_sample <= now {
                    next_sample += self.sample_interval;
                }
            }
            if over {
                break;
            }
            let target = self
                .flows
                .iter()
                .zip(&runs)
                .filter_map(|(spec, run)| run.next_action(spec))
                .filter(|&t| t > now)
                .fold(next_sample.min(end), Timestamp::min);
            match sim.run_until(target, |sim| {
                pump(sim, &mut runs, &self.flows, &mut read_buf);
                false
            }) {
                Err(e @ RunError::Stalled { .. }) => return Err(ExperimentError::Stalled(e)),
                Err(RunError::Idle { .. }) => {
                    sim.advance_to(target).map_err(ExperimentError::Stalled)?;
                }
                Err(RunError::Deadline { .. }) | Ok(_) => {}
            }
        }

        let flows = self
            .flows
            .iter()
            .zip(&runs)
            .map(|(spec, run)| FlowOutcome {
                label: spec.label.clone(),
                congestion: spec.config.congestion.clone(),
                start: spec.start,
                end: spec.end,
                connected_at: run.connected_at.map(since_zero),
                finished_at: run.eof_at.map(since_zero),
                delivered: run.delivered,
                written: run.written,
                sender_closed: run.sender_closed,
                receiver_closed: run.receiver_closed,
                stats: run.last_stats,
            })
            .collect();
        Ok(ExperimentResult {
            name: self.name.clone(),
            seed: self.seed,
            bottleneck: self.bottleneck,
            sample_interval: self.sample_interval,
            flows,
            samples,
            bottleneck_stats: sim.link_stats(bs, br),
        })
    }
}

/// `10.<net>.<hi>.<lo>:6881` for flow `i` (hosts counted from 1).
fn flow_addr(net: u8, i: usize) -> SocketAddr {
    let n = i.wrapping_add(1);
    let ip = Ipv4Addr::new(10, net, (n >> 8) as u8, n as u8);
    SocketAddr::V4(SocketAddrV4::new(ip, PORT))
}

fn since_zero(t: Timestamp) -> Duration {
    t.saturating_duration_since(Timestamp::ZERO)
}

/// The state of one flow during a run.
struct FlowRun {
    sender: SocketAddr,
    receiver: SocketAddr,
    client: Option<ConnHandle>,
    server: Option<ConnHandle>,
    /// The sender stopped writing and closed.
    closing: bool,
    written: u64,
    delivered: u64,
    connected_at: Option<Timestamp>,
    eof_at: Option<Timestamp>,
    sender_closed: Option<CloseReason>,
    receiver_closed: Option<CloseReason>,
    last_stats: ConnStats,
}

impl FlowRun {
    fn new(sender: SocketAddr, receiver: SocketAddr) -> Self {
        FlowRun {
            sender,
            receiver,
            client: None,
            server: None,
            closing: false,
            written: 0,
            delivered: 0,
            connected_at: None,
            eof_at: None,
            sender_closed: None,
            receiver_closed: None,
            last_stats: ConnStats::default(),
        }
    }

    fn is_over(&self) -> bool {
        self.sender_closed.is_some() && (self.server.is_none() || self.receiver_closed.is_some())
    }

    /// The next time this flow must be started or stopped, if any.
    fn next_action(&self, spec: &FlowSpec) -> Option<Timestamp> {
        if self.client.is_none() && self.sender_closed.is_none() {
            return Some(Timestamp::ZERO + spec.start);
        }
        match spec.end {
            FlowEnd::At(stop) if !self.closing => Some(Timestamp::ZERO + stop),
            _ => None,
        }
    }

    /// Starts or stops the flow if its time has come.
    fn act(
        &mut self,
        sim: &mut Sim<Endpoint>,
        spec: &FlowSpec,
        now: Timestamp,
    ) -> Result<(), ConnectError> {
        if self.client.is_none()
            && self.sender_closed.is_none()
            && now >= Timestamp::ZERO + spec.start
        {
            let h = sim.host_mut(self.sender).connect(now, self.receiver)?;
            self.client = Some(h);
            self.fill(sim, spec);
        }
        if let (FlowEnd::At(stop), Some(h)) = (spec.end, self.client) {
            if !self.closing && now >= Timestamp::ZERO + stop {
                self.close_sender(sim, h, now);
            }
        }
        Ok(())
    }

    fn close_sender(&mut self, sim: &mut Sim<Endpoint>, h: ConnHandle, now: Timestamp) {
        self.closing = true;
        let ep = sim.host_mut(self.sender);
        ep.set_now(now);
        if let Some(mut c) = ep.conn(h) {
            c.close();
        }
    }

    /// Keeps the sender's buffer full (up to the byte count).
    fn fill(&mut self, sim: &mut Sim<Endpoint>, spec: &FlowSpec) {
        let Some(h) = self.client else { return };
        if self.closing {
            return;
        }
        let now = sim.now();
        let limit = match spec.end {
            FlowEnd::Bytes(n) => n,
            FlowEnd::At(_) => u64::MAX,
        };
        let ep = sim.host_mut(self.sender);
        ep.set_now(now);
        let Some(mut c) = ep.conn(h) else { return };
        while self.written < limit {
            let n = usize::try_from(limit - self.written)
                .unwrap_or(usize::MAX)
                .min(WRITE_CHUNK.len());
            match c.write(WRITE_CHUNK.get(..n).unwrap_or(&[])) {
                Ok(0) | Err(_) => return,
                Ok(n) => self.written += n as u64,
            }
        }
        drop(c);
        self.close_sender(sim, h, now);
    }

    /// Reads everything the receiver has.
    fn drain(&mut self, sim: &mut Sim<Endpoint>, buf: &mut [u8]) {
        let Some(h) = self.server else { return };
        let now = sim.now();
        let ep = sim.host_mut(self.receiver);
        let Some(mut c) = ep.conn(h) else { return };
        loop {
            match c.read(buf) {
                Ok(0) => {
                    if self.eof_at.is_none() {
                        self.eof_at = Some(now);
                        c.close();
                    }
                    return;
                }
                Ok(n) => self.delivered += n as u64,
                Err(_) => return,
            }
        }
    }
}

/// Handles every pending event of every flow's endpoints.
fn pump(sim: &mut Sim<Endpoint>, runs: &mut [FlowRun], specs: &[FlowSpec], buf: &mut [u8]) {
    for (run, spec) in runs.iter_mut().zip(specs) {
        while let Some(event) = sim.host_mut(run.sender).poll_event() {
            match event {
                Event::Connected(_) => {
                    run.connected_at = Some(sim.now());
                    run.fill(sim, spec);
                }
                Event::Writable(_) => run.fill(sim, spec),
                Event::Closed(h, reason) => {
                    if let Some(c) = sim.host_mut(run.sender).conn(h) {
                        run.last_stats = c.stats();
                    }
                    run.sender_closed = Some(reason);
                }
                Event::Incoming | Event::Readable(_) | Event::Eof(_) | Event::Duplicate { .. } => {}
            }
        }
        while let Some(event) = sim.host_mut(run.receiver).poll_event() {
            match event {
                Event::Incoming => {
                    if let Some(h) = sim.host_mut(run.receiver).accept() {
                        run.server = Some(h);
                    }
                    run.drain(sim, buf);
                }
                Event::Readable(_) | Event::Eof(_) => run.drain(sim, buf),
                Event::Closed(_, reason) => {
                    run.drain(sim, buf);
                    run.receiver_closed = Some(reason);
                }
                Event::Connected(_) | Event::Writable(_) | Event::Duplicate { .. } => {}
            }
        }
    }
}

/// Records the state of every flow and of the bottleneck now.
fn sample(sim: &mut Sim<Endpoint>, runs: &mut [FlowRun], bs: SocketAddr, br: SocketAddr) -> Sample {
    let flows = runs
        .iter_mut()
        .map(|run| {
            let stats = match run.client {
                Some(h) if run.sender_closed.is_none() => {
                    sim.host_mut(run.sender).conn(h).map(|c| c.stats())
                }
                _ => None,
            };
            if let Some(s) = stats {
                run.last_stats = s;
            }
            let s = stats.unwrap_or_default();
            FlowSample {
                active: stats.is_some(),
                cwnd: s.cwnd,
                in_flight: s.in_flight,
                srtt: s.rtt,
                delivered: run.delivered,
            }
        })
        .collect();
    let backlog = sim.link_backlog(bs, br);
    let link = sim.link_stats(bs, br);
    Sample {
        time: since_zero(sim.now()),
        flows,
        queued: backlog.queued,
        queue_delay: backlog.delay,
        drops: link.dropped,
        wire_bytes: link.delivered_bytes.saturating_add(
            link.delivered
                .saturating_mul(crate::IPV4_UDP_OVERHEAD as u64),
        ),
    }
}
