//! The simulator proper: the event queue and driving. Hosts and the
//! traffic counters are in `hosts.rs`, links and partitions in `links.rs`,
//! NAT boxes in `nats.rs`; datagrams are routed and delivered in
//! `route.rs`.

mod hosts;
mod links;
mod nats;
mod route;
use route::link_entry;
#[cfg(test)]
mod spoof_tests;

use core::cmp::Ordering;
use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};

use utp_core::Timestamp;

use crate::link::{
    check_mtu, wire_size, LinkBacklog, LinkConfig, LinkState, LinkStats, MtuVerdict, Verdict,
};
use crate::link::{ConfigError, DropReason, Window};
use crate::nat::{InboundDrop, Nat, NatConfig, NatError, NatId, NatMapping, NatStats};
use crate::pcap::Recorder;
use crate::trace::{EventKind, Fnv1a, Trace, TraceEvent, TraceMode};
use crate::{Host, Traffic, Transmit};

/// Size of the buffer handed to [`Host::poll_transmit`].
pub const TRANSMIT_BUF_LEN: usize = 65_535;

/// A host that keeps returning datagrams from `poll_transmit` is cut off
/// after this many in one drain (and drained again later), so a buggy host
/// cannot hang the simulator inside a single call.
const MAX_TRANSMITS_PER_DRAIN: usize = 1 << 20;

/// Default for [`Sim::set_max_events_per_instant`].
pub const DEFAULT_MAX_EVENTS_PER_INSTANT: u64 = 1_000_000;

/// Buffers kept for reuse; more than this many are freed.
const MAX_POOLED_BUFFERS: usize = 4096;

/// Global counters of a simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// All links added up.
    pub network: LinkStats,
    /// Calls of [`Host::handle_timeout`].
    pub timeouts: u64,
    /// Events processed (deliveries and timeouts).
    pub events: u64,
    /// Datagrams sent with a spoofed source ([`Transmit::source`]) or
    /// injected by the test ([`Sim::inject`]).
    pub spoofed: Traffic,
    /// Datagrams sent to an address where no host is bound (also counted
    /// as [`DropReason::NoSuchHost`] drops); per address:
    /// [`Sim::unrouted`].
    pub unrouted: Traffic,
}

/// Why [`Sim::run_until`] stopped without its condition becoming true.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The next event lies after the deadline. Virtual time was moved to the
    /// deadline (`now`), with the later events still pending.
    Deadline {
        /// The simulator's time on return: the deadline.
        now: Timestamp,
    },
    /// Nothing is pending: no datagram in flight and no host timer. The
    /// simulation can never make progress on its own again.
    Idle {
        /// The simulator's time on return (unchanged).
        now: Timestamp,
    },
    /// More than [`Sim::set_max_events_per_instant`] events happened
    /// without virtual time advancing: hosts exchanging datagrams in an
    /// endless loop over zero-latency links, or a host that never stops
    /// transmitting.
    Stalled {
        /// The instant that never ends.
        now: Timestamp,
        /// Events processed at that instant.
        events: u64,
    },
}

impl RunError {
    /// The simulator's time when the run stopped.
    pub const fn now(&self) -> Timestamp {
        match *self {
            RunError::Deadline { now } | RunError::Idle { now } | RunError::Stalled { now, .. } => {
                now
            }
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Deadline { now } => {
                write!(f, "simulation reached its deadline {now:?} before the condition held")
            }
            RunError::Idle { now } => write!(
                f,
                "simulation went idle at {now:?} (nothing in flight, no timers) before the condition held"
            ),
            RunError::Stalled { now, events } => write!(
                f,
                "simulation stalled at {now:?}: {events} events without time advancing"
            ),
        }
    }
}

impl std::error::Error for RunError {}

struct Slot<H> {
    addr: SocketAddr,
    host: H,
    /// The timer as scheduled in the event queue.
    timer: Option<Timestamp>,
    /// Bumped whenever `timer` changes; older timer events are stale.
    timer_gen: u64,
    /// In the dirty list: transmits and timer must be polled.
    dirty: bool,
    /// Set by `handle_timeout(now)`, cleared by any other input: a host that
    /// asks again for a deadline `<= now` right after its timeout fired at
    /// `now` gets it at `now + 1µs`.
    fired_at: Option<Timestamp>,
}

/// Where a datagram in flight goes.
#[derive(Clone, Copy)]
enum Dest {
    /// A host, by index.
    Host(usize),
    /// The public address of a NAT, by index: translated on arrival.
    Nat(usize),
}

enum Event {
    Deliver {
        /// The source the receiver sees: the one the datagram claims, or
        /// its NAT mapping.
        from: SocketAddr,
        /// Whose link it travels: the real sender.
        via: SocketAddr,
        /// The destination address it was sent to.
        to: SocketAddr,
        /// `Some(via)` for a spoofed source.
        spoofed_by: Option<SocketAddr>,
        dest: Dest,
        data: Vec<u8>,
    },
    Timer {
        host: usize,
        generation: u64,
    },
}

struct Scheduled {
    at: Timestamp,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` pops the earliest event, and among
    /// events at the same time the one scheduled first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A deterministic network of [`Host`]s.
///
/// # Time
///
/// Virtual time starts at [`Timestamp::ZERO`] (or the time given to
/// [`Sim::new_at`]) and only moves when an event is processed: it jumps to
/// the earliest pending event, a datagram delivery or a host deadline.
/// Events at the same time run in the order they were scheduled.
///
/// # Timers
///
/// After every input (a datagram, a timeout, [`Sim::host_mut`], adding the
/// host) the simulator drains the host: it calls
/// [`poll_transmit`](Host::poll_transmit) until `None`, routing each
/// datagram, then [`poll_timeout`](Host::poll_timeout). A deadline in the
/// future is scheduled as is. A deadline at or before `now` fires at `now`
/// — unless the host's timeout has just fired at `now` with no other input
/// since; then it fires at `now + 1µs`. So a host whose timer check is off
/// by one (`>` instead of `>=`) still progresses, and no host can hold
/// virtual time still with its timer.
///
/// # What a datagram goes through
///
/// When a host emits a datagram to `to`, the link `(from, to)` (its own
/// [`LinkConfig`] or the default one; or the link it shares, see
/// [`Sim::share_link`]) decides, in this order:
/// 1. no host bound at `to`: dropped, [`DropReason::NoSuchHost`], and
///    counted per address ([`Sim::unrouted`]); with NATs, their rules on the
///    way out (dropped as [`DropReason::Nat`]; see [NATs](crate#nats));
/// 2. link partitioned now: dropped, [`DropReason::Partition`] (datagrams
///    already in flight when a partition starts are still delivered);
/// 3. [MTU](LinkConfig::mtu) check on the [wire size](crate::wire_size):
///    dropped ([`DropReason::Mtu`]) if too big and
///    [`dont_fragment`](Transmit::dont_fragment), else passed whole;
/// 4. random and bursty loss: dropped, [`DropReason::Loss`];
/// 5. duplication: maybe a second copy; each copy then goes through
/// 6. the bottleneck queue ([`DropReason::QueueFull`]) and serialisation at
///    the link [bandwidth](LinkConfig::bandwidth),
/// 7. latency, jitter (which keeps FIFO order) and maybe the reordering
///    delay, which gives its delivery time.
///
/// A datagram with a spoofed source ([`Transmit::source`]) goes through
/// the link from its real sender to `to`, and arrives with the claimed
/// address as `from`; see [Hostile hosts](crate#hostile-hosts).
///
/// # Randomness
///
/// Each directed link has its own PRNG (xoshiro256++) seeded from the
/// simulator's seed and the two addresses, so the same seed gives the same
/// run, and traffic on one link does not change the luck of another.
/// Pairs that [share a link](Sim::share_link) draw from that link's PRNG,
/// in the order their datagrams are sent, which is deterministic too.
///
/// # Shared links
///
/// By default every directed address pair has a link of its own. A
/// dumbbell — several flows through one bottleneck — is made with
/// [`Sim::share_link`]: the datagrams of `from -> to` then go through the
/// link state of another pair (its config, partitions, drop-tail queue and
/// serialisation, loss PRNG and statistics), queuing behind that link's
/// own traffic and that of every other pair sharing it.
pub struct Sim<H> {
    seed: u64,
    now: Timestamp,
    hosts: Vec<Slot<H>>,
    index: HashMap<SocketAddr, usize>,
    links: BTreeMap<(SocketAddr, SocketAddr), LinkState>,
    /// `(from, to)` -> the pair whose link state it uses (never itself,
    /// never a pair that is in turn shared: kept flat by `share_link`).
    shared: BTreeMap<(SocketAddr, SocketAddr), (SocketAddr, SocketAddr)>,
    default_link: LinkConfig,
    queue: BinaryHeap<Scheduled>,
    next_seq: u64,
    in_flight: usize,
    dirty: Vec<usize>,
    dirty_spare: Vec<usize>,
    pool: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    trace: Trace,
    stats: SimStats,
    /// Datagrams to addresses without a host, per address.
    unrouted: BTreeMap<SocketAddr, Traffic>,
    /// Datagrams in the name of an address not sent by its host.
    spoofed: BTreeMap<SocketAddr, Traffic>,
    max_events_per_instant: u64,
    /// NAT boxes, by [`NatId`].
    nats: Vec<Nat>,
    /// Private address -> the NAT in front of it.
    behind: BTreeMap<SocketAddr, usize>,
    /// The packet capture of deliveries, when one is recording
    /// ([`Sim::record_pcap`]).
    pub(crate) pcap: Option<Recorder>,
}

impl<H> fmt::Debug for Sim<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("hosts", &self.hosts.len())
            .field("in_flight", &self.in_flight)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<H: Host> Sim<H> {
    /// An empty network at time zero whose randomness comes from `seed`.
    pub fn new(seed: u64) -> Self {
        Self::new_at(seed, Timestamp::ZERO)
    }

    /// An empty network whose clock starts at `start` (e.g. just before the
    /// 32-bit wire timestamps wrap).
    pub fn new_at(seed: u64, start: Timestamp) -> Self {
        Sim {
            seed,
            now: start,
            hosts: Vec::new(),
            index: HashMap::new(),
            links: BTreeMap::new(),
            shared: BTreeMap::new(),
            default_link: LinkConfig::default(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            in_flight: 0,
            dirty: Vec::new(),
            dirty_spare: Vec::new(),
            pool: Vec::new(),
            scratch: vec![0; TRANSMIT_BUF_LEN],
            trace: Trace::new(),
            stats: SimStats::default(),
            unrouted: BTreeMap::new(),
            spoofed: BTreeMap::new(),
            max_events_per_instant: DEFAULT_MAX_EVENTS_PER_INSTANT,
            nats: Vec::new(),
            behind: BTreeMap::new(),
            pcap: None,
        }
    }

    /// The seed given to [`Sim::new`].
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    // ---- trace ------------------------------------------------------------

    /// Chooses which events are kept in memory from now on
    /// (default [`TraceMode::Off`]). Switching to `Off` frees the kept ones.
    pub fn set_trace(&mut self, mode: TraceMode) {
        self.trace.set_mode(mode);
    }

    /// The current [`TraceMode`].
    pub fn trace_mode(&self) -> TraceMode {
        self.trace.mode()
    }

    /// The kept events, oldest first.
    pub fn trace(&self) -> impl ExactSizeIterator<Item = &TraceEvent> + '_ {
        self.trace.events().iter()
    }

    /// Takes the kept events out, leaving the trace empty (the hash goes on).
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        self.trace.take()
    }

    /// A 64-bit FNV-1a hash of every event so far (time, kind, drop reason,
    /// addresses, length, and the payload of every sent datagram), whatever
    /// the [`TraceMode`]. Two runs with equal hashes did the same thing; the
    /// value is the same on every platform and Rust version.
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    // ---- driving ----------------------------------------------------------

    /// Sets how many events [`Sim::run_until`] accepts at one instant
    /// before giving up with [`RunError::Stalled`] (default
    /// [`DEFAULT_MAX_EVENTS_PER_INSTANT`]).
    pub fn set_max_events_per_instant(&mut self, max: u64) {
        self.max_events_per_instant = max;
    }

    /// Time of the next event, after draining the hosts that need it.
    pub fn next_event_time(&mut self) -> Option<Timestamp> {
        self.flush();
        self.peek_time()
    }

    /// Drains the hosts that need it, processes the next event (moving
    /// virtual time to it) and drains the host it touched. Returns `false`
    /// when nothing is pending.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(Scheduled { at, event, .. }) = self.pop_next() else {
            return false;
        };
        self.now = self.now.max(at);
        self.stats.events = self.stats.events.saturating_add(1);
        match event {
            Event::Deliver {
                from,
                via,
                to,
                spoofed_by,
                dest,
                data,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                let len = data.len();
                let key = self.link_key(via, to);
                let arrived = match dest {
                    Dest::Host(host) => Ok((to, host)),
                    Dest::Nat(nat) => self.nat_inbound(nat, from, to, len),
                };
                let (to, host) = match arrived {
                    Ok(arrived) => arrived,
                    Err(reason) => {
                        self.trace.record(
                            TraceEvent {
                                time: self.now,
                                kind: EventKind::Drop(reason),
                                from,
                                to,
                                len,
                                spoofed_by,
                            },
                            None,
                        );
                        self.stats.network.on_drop(reason);
                        if let Some(link) = self.links.get_mut(&key) {
                            link.stats.on_drop(reason);
                        }
                        self.recycle(data);
                        self.flush();
                        return true;
                    }
                };
                if let Some(pcap) = &mut self.pcap {
                    pcap.record(self.now, from, to, &data);
                }
                self.trace.record(
                    TraceEvent {
                        time: self.now,
                        kind: EventKind::Deliver,
                        from,
                        to,
                        len,
                        spoofed_by,
                    },
                    None,
                );
                self.stats.network.on_deliver(len);
                if let Some(link) = self.links.get_mut(&key) {
                    link.stats.on_deliver(len);
                }
                if let Some(slot) = self.hosts.get_mut(host) {
                    slot.host.handle_datagram(self.now, from, &data);
                    slot.fired_at = None;
                }
                self.recycle(data);
                self.mark_dirty(host);
            }
            Event::Timer { host, .. } => {
                let now = self.now;
                if let Some(slot) = self.hosts.get_mut(host) {
                    slot.timer = None;
                    slot.timer_gen = slot.timer_gen.wrapping_add(1);
                    slot.fired_at = Some(now);
                    let addr = slot.addr;
                    slot.host.handle_timeout(now);
                    self.stats.timeouts = self.stats.timeouts.saturating_add(1);
                    self.trace.record(
                        TraceEvent {
                            time: now,
                            kind: EventKind::Timeout,
                            from: addr,
                            to: addr,
                            len: 0,
                            spoofed_by: None,
                        },
                        None,
                    );
                }
                self.mark_dirty(host);
            }
        }
        self.flush();
        true
    }

    /// Runs the simulation until `done` returns `true`, and returns the time
    /// then.
    ///
    /// Each round drains the hosts (all of them on the first round, then
    /// those touched), calls `done` (which may act on hosts through
    /// [`Sim::host_mut`]), and processes one event. It fails with
    /// [`RunError::Deadline`] when the next event is later than `deadline`
    /// (time is then moved to `deadline`), with [`RunError::Idle`] when
    /// nothing is pending, and with [`RunError::Stalled`] when time stops
    /// advancing.
    pub fn run_until<F>(&mut self, deadline: Timestamp, mut done: F) -> Result<Timestamp, RunError>
    where
        F: FnMut(&mut Self) -> bool,
    {
        self.wake_all();
        let mut instant = self.now;
        let mut at_instant: u64 = 0;
        loop {
            self.flush();
            if done(self) {
                return Ok(self.now);
            }
            self.flush();
            let Some(next) = self.peek_time() else {
                return Err(RunError::Idle { now: self.now });
            };
            if next > deadline {
                self.now = self.now.max(deadline);
                return Err(RunError::Deadline { now: self.now });
            }
            let next = next.max(self.now);
            if next == instant {
                at_instant = at_instant.saturating_add(1);
                if at_instant > self.max_events_per_instant {
                    return Err(RunError::Stalled {
                        now: self.now,
                        events: at_instant,
                    });
                }
            } else {
                instant = next;
                at_instant = 1;
            }
            self.step();
        }
    }

    /// Processes every event up to and including `time`, then sets the
    /// clock to `time` (if it is later than now). Fails only with
    /// [`RunError::Stalled`].
    pub fn advance_to(&mut self, time: Timestamp) -> Result<(), RunError> {
        match self.run_until(time, |_| false) {
            Err(RunError::Stalled { now, events }) => Err(RunError::Stalled { now, events }),
            _ => {
                self.now = self.now.max(time);
                Ok(())
            }
        }
    }

    /// [`Sim::advance_to`] `now + duration`.
    pub fn advance(&mut self, duration: Duration) -> Result<(), RunError> {
        self.advance_to(self.now + duration)
    }

    // ---- internals --------------------------------------------------------

    fn mark_dirty(&mut self, idx: usize) {
        if let Some(slot) = self.hosts.get_mut(idx) {
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(idx);
            }
        }
    }

    /// The pair whose link state `from -> to` uses.
    fn link_key(&self, from: SocketAddr, to: SocketAddr) -> (SocketAddr, SocketAddr) {
        self.shared.get(&(from, to)).copied().unwrap_or((from, to))
    }

    fn link_state(&mut self, from: SocketAddr, to: SocketAddr) -> &mut LinkState {
        let (from, to) = self.link_key(from, to);
        link_entry(&mut self.links, self.seed, from, to)
    }

    fn schedule(&mut self, at: Timestamp, event: Event) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.queue.push(Scheduled { at, seq, event });
    }

    fn is_stale(&self, ev: &Scheduled) -> bool {
        match ev.event {
            Event::Timer { host, generation } => self
                .hosts
                .get(host)
                .is_none_or(|s| s.timer_gen != generation || s.timer.is_none()),
            Event::Deliver { .. } => false,
        }
    }

    fn peek_time(&mut self) -> Option<Timestamp> {
        loop {
            let top = self.queue.peek()?;
            if self.is_stale(top) {
                self.queue.pop();
            } else {
                return Some(top.at);
            }
        }
    }

    fn pop_next(&mut self) -> Option<Scheduled> {
        loop {
            let ev = self.queue.pop()?;
            if !self.is_stale(&ev) {
                return Some(ev);
            }
        }
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < MAX_POOLED_BUFFERS {
            self.pool.push(buf);
        }
    }

    /// Drains every dirty host, in the order they became dirty.
    fn flush(&mut self) {
        while !self.dirty.is_empty() {
            let mut list =
                core::mem::replace(&mut self.dirty, core::mem::take(&mut self.dirty_spare));
            for &idx in &list {
                self.drain(idx);
            }
            list.clear();
            self.dirty_spare = list;
        }
    }
}
