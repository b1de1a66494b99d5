//! The connection manager in a simulated swarm (issue 13): one host whose
//! [`Endpoint`] is driven by a [`Manager`], among many peer endpoints of
//! which some are unreachable and some come and go.
//!
//! Every peer is a real listening uTP [`Endpoint`] in a [`Sim`]. A share of
//! them is unreachable for the whole run: no host lives at their address,
//! so every datagram to them is dropped and dials to them time out. Every
//! churn period a share of the reachable peers that are up stops at a
//! random instant of the period. Most stops are clean: the endpoint winds
//! down ([`Endpoint::close_all`]: a FIN on every connection, as a client
//! that quits does) and a second later its link to the manager goes down.
//! A share of them ([`SwarmConfig::crash_percent`]) are crashes: the link
//! goes down at once and nothing is sent, so the manager's side learns
//! only from its own timers or from the peer's next incarnation. After a
//! random downtime a fresh endpoint (no connections, listening) takes the
//! address.
//!
//! The manager host runs the loop the [`manager`](utp_core::manager)
//! module documents: [`Output::Dial`] is [`Endpoint::connect`],
//! [`Output::Disconnect`] is [`Conn::close`](utp_core::Conn::close),
//! [`Output::WantCandidate`] is answered with random peer addresses, and
//! the endpoint's `Connected` and `Closed` events become
//! [`Manager::on_connected`], [`Manager::on_dial_failed`] and
//! [`Manager::on_disconnected`]. Each connection carries a hello from the
//! manager that the peer echoes, so both directions move data.
//!
//! [`run`] returns a [`Report`]: the time the manager held its target, the
//! dials per churn period, and every rule of the policy checked on the way.
//! Everything follows from the seed: the same [`SwarmConfig`] gives the same
//! report.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use utp_core::manager::{DialFailure, Manager, ManagerConfig, Output, PeerId};
use utp_core::{CloseReason, Config, ConnHandle, Endpoint, Event, ListenConfig, Timer, Timestamp};
use utp_sim::{LinkConfig, RunError, Sim};

use crate::Rng;

mod report;

pub use report::Report;

/// What the manager writes on each connection once it is established; the
/// peer echoes it.
pub const HELLO: &[u8] = b"hello from the manager, 68 bytes like a BitTorrent handshake........";

/// The swarm and the policy under test.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Seed of everything: addresses' roles, churn, latencies, candidates.
    pub seed: u64,
    /// Peer endpoints (at most 1,000: they live in the documentation
    /// ranges 198.51.100.0/24 and 203.0.113.0/24, two ports per address).
    pub peers: usize,
    /// Percent of the peers unreachable for the whole run.
    pub unreachable_percent: u64,
    /// Percent of all peers that stop in each churn period (drawn among the
    /// reachable peers that are up).
    pub churn_percent: u64,
    /// The churn period.
    pub churn_period: Duration,
    /// Percent of the stops that are crashes (no FIN; the link goes down
    /// at once).
    pub crash_percent: u64,
    /// A stopped peer comes back after a downtime drawn in this range.
    pub downtime: (Duration, Duration),
    /// One-way latency between the manager and a peer, drawn per peer in
    /// this range.
    pub latency: (Duration, Duration),
    /// Simulated time to run.
    pub duration: Duration,
    /// How often the peers' applications run (accept, echo) and the
    /// target is sampled.
    pub tick: Duration,
    /// Addresses given per address asked for by [`Output::WantCandidate`]
    /// (some of them are skipped as recently dialed or known).
    pub candidates_per_want: usize,
    /// The manager's policy.
    pub manager: ManagerConfig,
    /// The manager host's endpoint.
    pub endpoint: Config,
}

impl Default for SwarmConfig {
    /// 1,000 peers, 20 % unreachable, 10 % stopping (cleanly) every minute
    /// for 10 to 60 s, 10 to 100 ms one way, 30 minutes, sampled every 100 ms, the
    /// default policy and endpoint.
    fn default() -> Self {
        SwarmConfig {
            seed: 1,
            peers: 1000,
            unreachable_percent: 20,
            churn_percent: 10,
            churn_period: Duration::from_secs(60),
            crash_percent: 0,
            downtime: (Duration::from_secs(10), Duration::from_secs(60)),
            latency: (Duration::from_millis(10), Duration::from_millis(100)),
            duration: Duration::from_secs(30 * 60),
            tick: Duration::from_millis(100),
            candidates_per_want: 4,
            manager: ManagerConfig::default(),
            endpoint: Config::default(),
        }
    }
}

/// The manager host's address.
pub fn manager_addr() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 6881))
}

/// The address of peer `i` (`i` < 1,000).
pub fn peer_addr(i: usize) -> SocketAddr {
    let host = 1 + (i / 2) % 250;
    let net = if i % 2 == 0 {
        [198, 51, 100]
    } else {
        [203, 0, 113]
    };
    let port = 6881 + (i / 500) as u16;
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(net[0], net[1], net[2], host as u8),
        port,
    ))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerState {
    /// No host: unreachable for the whole run.
    Unreachable,
    Up,
    /// Drawn to stop at this time.
    Stopping(Timestamp),
    /// Stopped (its endpoint wound down), back later.
    Down,
}

#[derive(Clone, Copy, Debug)]
enum Churn {
    Stop(usize),
    Start(usize),
}

/// One outbound connection of the manager host.
#[derive(Clone, Copy, Debug)]
struct Outbound {
    id: PeerId,
    peer: usize,
    connected_at: Option<Timestamp>,
    echoed: usize,
}

struct World {
    cfg: SwarmConfig,
    rng: Rng,
    manager: Manager,
    addrs: Vec<SocketAddr>,
    index: BTreeMap<SocketAddr, usize>,
    state: Vec<PeerState>,
    /// Times each peer was (re)started, to seed its fresh endpoint.
    generation: Vec<u64>,
    /// When each peer last stopped.
    stopped_at: Vec<Option<Timestamp>>,
    /// Iterated only to count, so its order does not matter.
    conns: HashMap<ConnHandle, Outbound>,
    by_id: BTreeMap<PeerId, ConnHandle>,
    last_dial: BTreeMap<SocketAddr, Timestamp>,
    churn: BTreeMap<(Timestamp, u64), Churn>,
    churn_seq: u64,
    /// Peers whose application runs each tick (those the manager dialed).
    active_peers: BTreeMap<usize, Timestamp>,
    at_target_since: Option<Timestamp>,
    report: Report,
}

fn draw(rng: &mut Rng, (lo, hi): (Duration, Duration)) -> Duration {
    let span = hi.saturating_sub(lo).as_micros() as u64;
    lo + Duration::from_micros(rng.below(span.saturating_add(1)))
}

fn peer_endpoint(seed: u64, peer: usize, generation: u64) -> Endpoint {
    let mut ep = Endpoint::new(
        Config::default(),
        seed ^ ((peer as u64) << 20) ^ (generation << 40) ^ 0x5eed,
    );
    ep.listen(ListenConfig::default());
    ep
}

impl World {
    fn period_of(&self, now: Timestamp) -> usize {
        let p = self.cfg.churn_period.as_micros().max(1);
        (u128::from(now.as_micros()) / p) as usize
    }

    fn bump(list: &mut Vec<u64>, i: usize) {
        if list.len() <= i {
            list.resize(i + 1, 0);
        }
        if let Some(n) = list.get_mut(i) {
            *n += 1;
        }
    }

    fn target_reached(&self) -> bool {
        self.manager.outbound() >= self.manager.config().target_outbound
    }

    /// Keeps the exact time at the target after anything changed.
    fn note_target(&mut self, now: Timestamp) {
        match (self.at_target_since, self.target_reached()) {
            (None, true) => self.at_target_since = Some(now),
            (Some(since), false) => {
                self.report.time_at_target += now.saturating_duration_since(since);
                self.at_target_since = None;
            }
            _ => {}
        }
    }

    /// Carries out everything the manager asks for.
    fn drain_manager(&mut self, sim: &mut Sim<Endpoint>, now: Timestamp) {
        while let Some(out) = self.manager.poll() {
            match out {
                Output::Dial { id, addr } => self.dial(sim, now, id, addr),
                Output::Disconnect { id } => {
                    if let Some(h) = self.by_id.remove(&id) {
                        self.conns.remove(&h);
                        if let Some(mut c) = sim.host_mut(manager_addr()).conn(h) {
                            c.close();
                        }
                    }
                }
                Output::WantCandidate { count } => {
                    let n = count.saturating_mul(self.cfg.candidates_per_want);
                    for _ in 0..n {
                        let i = self.rng.below(self.addrs.len() as u64) as usize;
                        if let Some(&addr) = self.addrs.get(i) {
                            self.manager.add_candidate(now, addr);
                        }
                    }
                }
            }
        }
        self.note_target(now);
    }

    fn dial(&mut self, sim: &mut Sim<Endpoint>, now: Timestamp, id: PeerId, addr: SocketAddr) {
        let period = self.period_of(now);
        Self::bump(&mut self.report.dials_per_period, period);
        if let Some(last) = self.last_dial.insert(addr, now) {
            if now.saturating_duration_since(last) < self.cfg.manager.redial_interval {
                self.report.redial_violations += 1;
            }
        }
        let Some(&peer) = self.index.get(&addr) else {
            return;
        };
        match sim.host_mut(manager_addr()).connect(now, addr) {
            Ok(h) => {
                self.conns.insert(
                    h,
                    Outbound {
                        id,
                        peer,
                        connected_at: None,
                        echoed: 0,
                    },
                );
                self.by_id.insert(id, h);
                self.active_peers.insert(peer, now);
            }
            Err(e) => {
                *self
                    .report
                    .failure_reasons
                    .entry(format!("connect: {e:?}"))
                    .or_insert(0) += 1;
                Self::bump(&mut self.report.failures_per_period, period);
                Self::bump(&mut self.report.fast_failures_per_period, period);
                self.manager
                    .on_dial_failed(now, id, DialFailure::Connect(e));
            }
        }
        let dialing = self
            .conns
            .values()
            .filter(|c| c.connected_at.is_none())
            .count();
        self.report.max_dials_in_flight = self.report.max_dials_in_flight.max(dialing);
        self.report.max_outbound = self.report.max_outbound.max(self.conns.len());
    }

    /// Takes the manager host's events and reports them to the manager.
    fn pump(&mut self, sim: &mut Sim<Endpoint>) {
        let now = sim.now();
        let mut buf = [0u8; 256];
        loop {
            let ep = sim.host_mut(manager_addr());
            let Some(ev) = ep.poll_event() else { break };
            match ev {
                Event::Connected(h) => {
                    if let Some(c) = self.conns.get_mut(&h) {
                        c.connected_at = Some(now);
                        let id = c.id;
                        if let Some(mut conn) = ep.conn(h) {
                            // A fresh connection's send buffer takes a hello.
                            let _ = conn.write(HELLO);
                        }
                        self.manager.on_connected(now, id);
                    }
                }
                Event::Readable(h) => {
                    if let Some(mut conn) = ep.conn(h) {
                        while let Ok(n) = conn.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            self.report.echoed_bytes += n as u64;
                            if let Some(c) = self.conns.get_mut(&h) {
                                c.echoed += n;
                            }
                        }
                    }
                }
                Event::Eof(h) => {
                    if let Some(mut conn) = ep.conn(h) {
                        conn.close();
                    }
                }
                Event::Closed(h, reason) => self.closed(now, h, reason),
                Event::Incoming | Event::Writable(_) | Event::Duplicate { .. } => {}
            }
        }
        self.drain_manager(sim, now);
    }

    fn closed(&mut self, now: Timestamp, h: ConnHandle, reason: CloseReason) {
        let Some(c) = self.conns.remove(&h) else {
            return;
        };
        self.by_id.remove(&c.id);
        let period = self.period_of(now);
        match c.connected_at {
            Some(at) => {
                Self::bump(&mut self.report.disconnects_per_period, period);
                let stop = self.stopped_at.get(c.peer).copied().flatten();
                if let Some(stop) = stop.filter(|s| *s >= at) {
                    let late = now.saturating_duration_since(stop);
                    self.report.detected += 1;
                    self.report.detection_total += late;
                    self.report.detection_max = self.report.detection_max.max(late);
                }
                if now.saturating_duration_since(at) >= Duration::from_secs(2)
                    && c.echoed < HELLO.len()
                {
                    self.report.missing_echoes += 1;
                }
                self.manager.on_disconnected(now, c.id, reason);
            }
            None => {
                Self::bump(&mut self.report.failures_per_period, period);
                if reason != CloseReason::TimedOut(Timer::Connect) {
                    Self::bump(&mut self.report.fast_failures_per_period, period);
                }
                *self
                    .report
                    .failure_reasons
                    .entry(format!("{reason:?}"))
                    .or_insert(0) += 1;
                self.manager
                    .on_dial_failed(now, c.id, DialFailure::Closed(reason));
            }
        }
    }

    /// The applications of the peers the manager dialed lately: accept
    /// and echo.
    fn run_peers(&mut self, sim: &mut Sim<Endpoint>, now: Timestamp) {
        let mut buf = [0u8; 256];
        let keep = Duration::from_secs(120);
        self.active_peers
            .retain(|_, at| now.saturating_duration_since(*at) < keep);
        for &peer in self.active_peers.keys() {
            if !matches!(
                self.state.get(peer),
                Some(PeerState::Up | PeerState::Stopping(_))
            ) {
                continue;
            }
            let Some(&addr) = self.addrs.get(peer) else {
                continue;
            };
            let ep = sim.host_mut(addr);
            while ep.accept().is_some() {}
            while let Some(ev) = ep.poll_event() {
                match ev {
                    Event::Readable(h) => {
                        let Some(mut conn) = ep.conn(h) else { continue };
                        while let Ok(n) = conn.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            // The hello fits the fresh send buffer.
                            let _ = conn.write(buf.get(..n).unwrap_or_default());
                        }
                    }
                    Event::Eof(h) => {
                        if let Some(mut conn) = ep.conn(h) {
                            conn.close();
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn schedule(&mut self, at: Timestamp, what: Churn) {
        self.churn_seq += 1;
        self.churn.insert((at, self.churn_seq), what);
    }

    /// Draws the peers that stop in the period starting at `start`.
    fn plan_period(&mut self, start: Timestamp) {
        let want = self.addrs.len() as u64 * self.cfg.churn_percent / 100;
        let mut up: Vec<usize> = (0..self.addrs.len())
            .filter(|&i| self.state.get(i) == Some(&PeerState::Up))
            .collect();
        let period = self.cfg.churn_period;
        for _ in 0..want {
            if up.is_empty() {
                break;
            }
            let k = self.rng.below(up.len() as u64) as usize;
            let peer = up.swap_remove(k);
            let at = start + draw(&mut self.rng, (Duration::ZERO, period));
            // Marked now so that it is not drawn twice.
            if let Some(s) = self.state.get_mut(peer) {
                *s = PeerState::Stopping(at);
            }
            self.schedule(at, Churn::Stop(peer));
        }
    }

    fn apply(&mut self, sim: &mut Sim<Endpoint>, now: Timestamp, what: Churn) {
        match what {
            Churn::Stop(peer) => {
                let Some(&addr) = self.addrs.get(peer) else {
                    return;
                };
                self.report.stops += 1;
                if let Some(s) = self.state.get_mut(peer) {
                    *s = PeerState::Down;
                }
                if let Some(s) = self.stopped_at.get_mut(peer) {
                    *s = Some(now);
                }
                let down = draw(&mut self.rng, self.cfg.downtime);
                let grace = if self.rng.below(100) < self.cfg.crash_percent {
                    self.report.crashes += 1;
                    Duration::ZERO
                } else {
                    // The FINs leave; then the host is off the network.
                    sim.host_mut(addr).close_all(now);
                    Duration::from_secs(1).min(down)
                };
                sim.partition_both(addr, manager_addr(), now + grace, now + down);
                self.schedule(now + down, Churn::Start(peer));
            }
            Churn::Start(peer) => {
                let Some(&addr) = self.addrs.get(peer) else {
                    return;
                };
                let generation = match self.generation.get_mut(peer) {
                    Some(g) => {
                        *g += 1;
                        *g
                    }
                    None => 0,
                };
                sim.add_host(addr, peer_endpoint(self.cfg.seed, peer, generation));
                if let Some(s) = self.state.get_mut(peer) {
                    *s = PeerState::Up;
                }
            }
        }
    }

    /// Tells the manager how far each established connection got: the
    /// packets it received (keepalive answers count, so an idle connection
    /// to a live peer makes progress and one to a dead peer does not).
    fn report_progress(&mut self, sim: &mut Sim<Endpoint>, now: Timestamp) {
        let ep = sim.host_mut(manager_addr());
        for (h, c) in &self.conns {
            if c.connected_at.is_none() {
                continue;
            }
            if let Some(conn) = ep.conn(*h) {
                let stats = conn.stats();
                self.manager
                    .on_progress(now, c.id, stats.packets_received + stats.bytes_received);
            }
        }
    }

    fn sample(&mut self) {
        self.report.samples += 1;
        if !self.target_reached() {
            return;
        }
        self.report.samples_at_target += 1;
        let live = self
            .conns
            .values()
            .filter(|c| {
                // Established after the peer's last stop, if any.
                c.connected_at.is_some_and(|at| {
                    self.stopped_at
                        .get(c.peer)
                        .copied()
                        .flatten()
                        .is_none_or(|s| s < at)
                })
            })
            .count();
        if live >= self.manager.config().target_outbound {
            self.report.samples_at_target_live += 1;
        }
    }
}

/// Runs the swarm of `cfg` and reports.
///
/// # Errors
///
/// If the simulator stalls (a host loops without time passing).
pub fn run(cfg: &SwarmConfig) -> Result<Report, RunError> {
    let mut rng = Rng(cfg.seed);
    let peers = cfg.peers.min(1000);
    let addrs: Vec<SocketAddr> = (0..peers).map(peer_addr).collect();
    let mut sim: Sim<Endpoint> = Sim::new(cfg.seed);
    let me = manager_addr();
    sim.add_host(me, Endpoint::new(cfg.endpoint.clone(), cfg.seed ^ 0xa11ce));

    // Roles: the first `unreachable` of a shuffled order have no host.
    let mut order: Vec<usize> = (0..peers).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let unreachable = peers * cfg.unreachable_percent.min(100) as usize / 100;
    let mut state = vec![PeerState::Up; peers];
    for (k, &i) in order.iter().enumerate() {
        let Some(&addr) = addrs.get(i) else { continue };
        let latency = draw(&mut rng, cfg.latency);
        // A link with only a latency is always valid.
        let _ = sim.set_link_both(me, addr, LinkConfig::with_latency(latency));
        if k < unreachable {
            if let Some(s) = state.get_mut(i) {
                *s = PeerState::Unreachable;
            }
        } else {
            sim.add_host(addr, peer_endpoint(cfg.seed, i, 0));
        }
    }

    let mut world = World {
        cfg: cfg.clone(),
        rng,
        manager: Manager::new(cfg.manager.clone()),
        index: addrs.iter().enumerate().map(|(i, a)| (*a, i)).collect(),
        addrs,
        state,
        generation: vec![0; peers],
        stopped_at: vec![None; peers],
        conns: HashMap::new(),
        by_id: BTreeMap::new(),
        last_dial: BTreeMap::new(),
        churn: BTreeMap::new(),
        churn_seq: 0,
        active_peers: BTreeMap::new(),
        at_target_since: None,
        report: Report::default(),
    };

    let end = Timestamp::ZERO + cfg.duration;
    let tick = cfg.tick.max(Duration::from_micros(1));
    let mut next_tick = Timestamp::ZERO;
    let mut next_period = Timestamp::ZERO;
    world.manager.handle_timeout(Timestamp::ZERO);
    world.drain_manager(&mut sim, Timestamp::ZERO);
    loop {
        let now = sim.now();
        // Things due now, in a fixed order: churn, the manager's timer, a
        // new churn period, a tick.
        while let Some((&(at, seq), &what)) = world.churn.first_key_value() {
            if at > now {
                break;
            }
            world.churn.remove(&(at, seq));
            world.apply(&mut sim, now, what);
        }
        if world.manager.poll_timeout().is_some_and(|t| t <= now) {
            world.manager.handle_timeout(now);
            world.drain_manager(&mut sim, now);
        }
        if now >= next_period && now < end {
            world.plan_period(next_period);
            next_period += cfg.churn_period;
        }
        if now >= next_tick {
            world.run_peers(&mut sim, now);
            world.pump(&mut sim);
            world.report_progress(&mut sim, now);
            world.drain_manager(&mut sim, now);
            if now < end {
                world.sample();
            }
            next_tick += tick;
        }
        if now >= end {
            break;
        }
        let mut wake = next_tick.min(next_period).min(end);
        if let Some(t) = world.manager.poll_timeout() {
            wake = wake.min(t.max(now));
        }
        if let Some((&(at, _), _)) = world.churn.first_key_value() {
            wake = wake.min(at);
        }
        let result = sim.run_until(wake, |sim| {
            world.pump(sim);
            world
                .manager
                .poll_timeout()
                .is_some_and(|t| t < wake && t <= sim.now())
        });
        match result {
            Ok(_) | Err(RunError::Deadline { .. }) => {}
            Err(RunError::Idle { .. }) => sim.advance_to(wake)?,
            Err(e) => return Err(e),
        }
    }
    world.note_target(end);
    if let Some(since) = world.at_target_since {
        world.report.time_at_target += end.saturating_duration_since(since);
    }
    // Every period of the run has its entry (an event at `end` exactly
    // opens one more).
    let periods = world.period_of(end).max(1);
    for list in [
        &mut world.report.dials_per_period,
        &mut world.report.disconnects_per_period,
        &mut world.report.failures_per_period,
        &mut world.report.fast_failures_per_period,
    ] {
        if list.len() < periods {
            list.resize(periods, 0);
        }
    }
    world.report.manager = world.manager.stats();
    world.report.events = sim.stats().events;
    Ok(world.report)
}
