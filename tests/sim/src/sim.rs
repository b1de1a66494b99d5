//! The simulator proper: hosts, the event queue, routing and driving.

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

    // ---- hosts ------------------------------------------------------------

    /// Binds `host` to `addr`. It is drained (transmits and timer) before
    /// the next event.
    ///
    /// If a host was already bound to `addr` it is replaced and returned,
    /// like [`HashMap::insert`]: a way to simulate a restart. Its timer is
    /// forgotten; datagrams in flight to `addr` reach the new host.
    pub fn add_host(&mut self, addr: SocketAddr, host: H) -> Option<H> {
        let old = match self.index.get(&addr) {
            Some(&idx) => {
                let slot = self.hosts.get_mut(idx)?;
                slot.timer = None;
                slot.timer_gen = slot.timer_gen.wrapping_add(1);
                slot.fired_at = None;
                Some(core::mem::replace(&mut slot.host, host))
            }
            None => {
                let idx = self.hosts.len();
                self.hosts.push(Slot {
                    addr,
                    host,
                    timer: None,
                    timer_gen: 0,
                    dirty: false,
                    fired_at: None,
                });
                self.index.insert(addr, idx);
                None
            }
        };
        if let Some(&idx) = self.index.get(&addr) {
            self.mark_dirty(idx);
        }
        old
    }

    /// The host bound to `addr`.
    ///
    /// # Panics
    ///
    /// If no host is bound to `addr`; see [`Sim::try_host`].
    #[track_caller]
    #[allow(clippy::panic)] // A test helper: an unknown address is a bug in the test.
    pub fn host(&self, addr: SocketAddr) -> &H {
        match self.try_host(addr) {
            Some(h) => h,
            None => panic!("utp-sim: no host bound to {addr}"),
        }
    }

    /// The host bound to `addr`, for the test to act on it (open a
    /// connection, write data...). The host is drained (transmits and
    /// timer) before the next event.
    ///
    /// # Panics
    ///
    /// If no host is bound to `addr`; see [`Sim::try_host_mut`].
    #[track_caller]
    #[allow(clippy::panic)] // A test helper: an unknown address is a bug in the test.
    pub fn host_mut(&mut self, addr: SocketAddr) -> &mut H {
        match self.try_host_mut(addr) {
            Some(h) => h,
            None => panic!("utp-sim: no host bound to {addr}"),
        }
    }

    /// The host bound to `addr`, if any.
    pub fn try_host(&self, addr: SocketAddr) -> Option<&H> {
        let idx = *self.index.get(&addr)?;
        self.hosts.get(idx).map(|s| &s.host)
    }

    /// The host bound to `addr`, if any; see [`Sim::host_mut`].
    pub fn try_host_mut(&mut self, addr: SocketAddr) -> Option<&mut H> {
        let idx = *self.index.get(&addr)?;
        self.mark_dirty(idx);
        let slot = self.hosts.get_mut(idx)?;
        slot.fired_at = None;
        Some(&mut slot.host)
    }

    /// Every host with its address, in the order they were added.
    pub fn hosts(&self) -> impl Iterator<Item = (SocketAddr, &H)> + '_ {
        self.hosts.iter().map(|s| (s.addr, &s.host))
    }

    /// Marks the host at `addr` to be drained before the next event. Only
    /// needed when its state changed behind the simulator's back (through
    /// shared ownership) rather than through [`Sim::host_mut`].
    pub fn wake(&mut self, addr: SocketAddr) {
        if let Some(&idx) = self.index.get(&addr) {
            self.mark_dirty(idx);
        }
    }

    /// [`Sim::wake`] for every host.
    pub fn wake_all(&mut self) {
        for idx in 0..self.hosts.len() {
            self.mark_dirty(idx);
        }
    }

    // ---- links ------------------------------------------------------------

    /// The config of every link not set with [`Sim::set_link`]; takes
    /// effect for the next datagram, on links already used too.
    pub fn set_default_link(&mut self, config: LinkConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.default_link = config;
        Ok(())
    }

    /// The config of links not set with [`Sim::set_link`].
    pub fn default_link(&self) -> &LinkConfig {
        &self.default_link
    }

    /// Configures the direction `from -> to`; takes effect for the next
    /// datagram (datagrams in flight keep their delivery time). The link's
    /// queue, loss state and statistics carry over.
    pub fn set_link(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        config: LinkConfig,
    ) -> Result<(), ConfigError> {
        config.validate()?;
        self.link_state(from, to).config = Some(config);
        Ok(())
    }

    /// [`Sim::set_link`] for both directions between `a` and `b`.
    pub fn set_link_both(
        &mut self,
        a: SocketAddr,
        b: SocketAddr,
        config: LinkConfig,
    ) -> Result<(), ConfigError> {
        self.set_link(a, b, config)?;
        self.set_link(b, a, config)
    }

    /// Makes `from -> to` follow the default config again.
    pub fn reset_link(&mut self, from: SocketAddr, to: SocketAddr) {
        let key = self.link_key(from, to);
        if let Some(link) = self.links.get_mut(&key) {
            link.config = None;
        }
    }

    /// The config in force for `from -> to`.
    pub fn link_config(&self, from: SocketAddr, to: SocketAddr) -> &LinkConfig {
        self.links
            .get(&self.link_key(from, to))
            .and_then(|l| l.config.as_ref())
            .unwrap_or(&self.default_link)
    }

    /// Takes `from -> to` down from `start` until (excluding) `end`:
    /// datagrams sent in that window are dropped
    /// ([`DropReason::Partition`]); those already in flight still arrive.
    /// Windows add up; an empty window (`start >= end`) does nothing. Use
    /// [`Timestamp::MAX`] as `end` for "forever".
    pub fn partition(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        start: Timestamp,
        end: Timestamp,
    ) {
        if start < end {
            self.link_state(from, to)
                .partitions
                .push(Window { start, end });
        }
    }

    /// [`Sim::partition`] for both directions between `a` and `b`.
    pub fn partition_both(
        &mut self,
        a: SocketAddr,
        b: SocketAddr,
        start: Timestamp,
        end: Timestamp,
    ) {
        self.partition(a, b, start, end);
        self.partition(b, a, start, end);
    }

    /// Removes every partition window of `from -> to`, past and future.
    pub fn heal(&mut self, from: SocketAddr, to: SocketAddr) {
        let key = self.link_key(from, to);
        if let Some(link) = self.links.get_mut(&key) {
            link.partitions.clear();
        }
    }

    /// Whether `from -> to` is partitioned at `time`.
    pub fn is_partitioned(&self, from: SocketAddr, to: SocketAddr, time: Timestamp) -> bool {
        self.links
            .get(&self.link_key(from, to))
            .is_some_and(|l| l.is_down(time))
    }

    /// Counters of `from -> to` (all zero for a link never used). For a
    /// pair that [shares a link](Sim::share_link), the shared link's
    /// counters: the traffic of every pair on it.
    pub fn link_stats(&self, from: SocketAddr, to: SocketAddr) -> LinkStats {
        self.links
            .get(&self.link_key(from, to))
            .map(|l| l.stats)
            .unwrap_or_default()
    }

    /// What waits in the bottleneck queue of `from -> to` (or of the link it
    /// [shares](Sim::share_link)) right now: the queued datagrams and the
    /// queuing delay a datagram sent now would see. Zero for a link without
    /// a bandwidth limit or never used.
    pub fn link_backlog(&self, from: SocketAddr, to: SocketAddr) -> LinkBacklog {
        self.links
            .get(&self.link_key(from, to))
            .map(|l| l.backlog(self.now))
            .unwrap_or_default()
    }

    /// Makes the datagrams `from -> to` go through the link of
    /// `link_from -> link_to` from now on: its config, partitions, queue
    /// and serialisation, loss PRNG and statistics. Every other call that
    /// names `from -> to` ([`Sim::set_link`], [`Sim::partition`],
    /// [`Sim::link_stats`], [`Sim::link_backlog`], ...) then acts on that
    /// shared link too.
    ///
    /// This is how several flows share one bottleneck (a dumbbell): give
    /// the bottleneck's config to one pair and share it with the others. A
    /// queue drop is counted once, on the shared link.
    ///
    /// If `link_from -> link_to` itself shares a link, `from -> to` joins
    /// that one; pairs already sharing `from -> to` follow it.
    /// `share_link(from, to, from, to)` undoes the sharing, as
    /// [`Sim::unshare_link`] does. What
    /// `from -> to` counted on its own link before is kept (and shown again
    /// after [`Sim::unshare_link`]); datagrams in flight keep their
    /// delivery time.
    ///
    /// ```
    /// # use std::net::SocketAddr;
    /// # use std::time::Duration;
    /// # use utp_sim::{LinkConfig, Sim};
    /// # let [a1, a2, b1, b2]: [SocketAddr; 4] =
    /// #     ["10.0.0.1:1", "10.0.0.2:1", "10.0.1.1:1", "10.0.1.2:1"].map(|s| s.parse().unwrap());
    /// let mut sim: Sim<utp_core::Endpoint> = Sim::new(1);
    /// let bottleneck = LinkConfig {
    ///     bandwidth: Some(1_000_000),
    ///     queue_capacity: Some(50),
    ///     ..LinkConfig::with_latency(Duration::from_millis(20))
    /// };
    /// sim.set_link(a1, b1, bottleneck)?;
    /// sim.share_link(a2, b2, a1, b1); // a2 -> b2 queues behind a1 -> b1
    /// assert_eq!(sim.shared_link(a2, b2), Some((a1, b1)));
    /// assert_eq!(sim.link_config(a2, b2), &bottleneck);
    /// # Ok::<(), utp_sim::ConfigError>(())
    /// ```
    pub fn share_link(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        link_from: SocketAddr,
        link_to: SocketAddr,
    ) {
        let target = self.link_key(link_from, link_to);
        if (link_from, link_to) == (from, to) || target == (from, to) {
            self.shared.remove(&(from, to));
            return;
        }
        self.shared.insert((from, to), target);
        for via in self.shared.values_mut() {
            if *via == (from, to) {
                *via = target;
            }
        }
    }

    /// Gives `from -> to` its own link again (the one it had before
    /// [`Sim::share_link`], with its config and counters). Pairs that
    /// shared `from -> to`'s link keep the link they were moved to.
    pub fn unshare_link(&mut self, from: SocketAddr, to: SocketAddr) {
        self.shared.remove(&(from, to));
    }

    /// The pair whose link `from -> to` uses, if it [shares
    /// one](Sim::share_link).
    pub fn shared_link(
        &self,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Option<(SocketAddr, SocketAddr)> {
        self.shared.get(&(from, to)).copied()
    }

    /// Counters of every link used or configured so far, ordered by
    /// `(from, to)`.
    pub fn links(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr, &LinkStats)> + '_ {
        self.links.iter().map(|(&(f, t), l)| (f, t, &l.stats))
    }

    /// Global counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Datagrams on their way (scheduled for delivery).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// What was sent to `to` while no host was bound there (a spoofed
    /// source, say): those datagrams are dropped as
    /// [`DropReason::NoSuchHost`] and counted here.
    pub fn unrouted(&self, to: SocketAddr) -> Traffic {
        self.unrouted.get(&to).copied().unwrap_or_default()
    }

    /// [`Sim::unrouted`] for every address that got something, ordered by
    /// address. [`SimStats::unrouted`] is the total.
    pub fn unrouted_all(&self) -> impl ExactSizeIterator<Item = (SocketAddr, Traffic)> + '_ {
        self.unrouted.iter().map(|(&a, &t)| (a, t))
    }

    /// What was sent in the name of `source` without coming from the host
    /// bound there: datagrams of other hosts that claimed `source`
    /// ([`Transmit::source`]) and datagrams the test injected from it
    /// ([`Sim::inject`]). [`SimStats::spoofed`] is the total.
    pub fn spoofed(&self, source: SocketAddr) -> Traffic {
        self.spoofed.get(&source).copied().unwrap_or_default()
    }

    /// [`Sim::spoofed`] for every address claimed, ordered by address.
    pub fn spoofed_all(&self) -> impl ExactSizeIterator<Item = (SocketAddr, Traffic)> + '_ {
        self.spoofed.iter().map(|(&a, &t)| (a, t))
    }

    /// Sends `data` now from the test itself, as if `from` (which need not
    /// be a host) had sent it to `to`: it goes through the link
    /// `from -> to` like any datagram (without the don't-fragment bit) and
    /// counts as [spoofed](Sim::spoofed) in the name of `from`. A host that
    /// spoofs on its own, at its own pace, sets [`Transmit::source`]
    /// instead.
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.route(from, from, to, data, false, true);
    }

    // ---- NATs -------------------------------------------------------------

    /// Adds a NAT box with the public IP address `public_ip`; put private
    /// addresses behind it with [`Sim::place_behind_nat`]. See
    /// [NATs](crate#nats). Its random ports come from the simulator's seed
    /// and `public_ip`.
    ///
    /// Datagrams to `public_ip` go to the NAT from then on: a host bound to
    /// an address on it is no longer reachable.
    pub fn add_nat(&mut self, public_ip: IpAddr, config: NatConfig) -> Result<NatId, NatError> {
        if config.mapping_timeout.is_zero() {
            return Err(NatError::ZeroTimeout);
        }
        if self.nat_at(public_ip).is_some() {
            return Err(NatError::PublicIpInUse(public_ip));
        }
        if let Some(&private) = self.behind.keys().find(|a| a.ip() == public_ip) {
            return Err(NatError::AlreadyBehind(private));
        }
        self.nats.push(Nat::new(self.seed, public_ip, config));
        Ok(NatId(self.nats.len() - 1))
    }

    /// Puts the private address `private` behind `nat` (the host there may
    /// be added before or after). Its datagrams to addresses outside the
    /// NAT then leave from a mapping on the NAT's public IP; from outside it
    /// can only be reached through a mapping.
    pub fn place_behind_nat(&mut self, nat: NatId, private: SocketAddr) -> Result<(), NatError> {
        if self.nats.get(nat.0).is_none() {
            return Err(NatError::UnknownNat(nat));
        }
        if self.nat_at(private.ip()).is_some() {
            return Err(NatError::PublicAddress(private));
        }
        if self.behind.contains_key(&private) {
            return Err(NatError::AlreadyBehind(private));
        }
        self.behind.insert(private, nat.0);
        Ok(())
    }

    /// The NAT in front of `addr`, if any.
    pub fn nat_of(&self, addr: SocketAddr) -> Option<NatId> {
        self.behind.get(&addr).map(|&i| NatId(i))
    }

    /// The public IP address of `nat`.
    pub fn nat_public_ip(&self, nat: NatId) -> Option<IpAddr> {
        self.nats.get(nat.0).map(|n| n.public_ip)
    }

    /// The config of `nat`.
    pub fn nat_config(&self, nat: NatId) -> Option<&NatConfig> {
        self.nats.get(nat.0).map(|n| &n.config)
    }

    /// The counters of `nat` now (all zero for an unknown id).
    pub fn nat_stats(&self, nat: NatId) -> NatStats {
        self.nats
            .get(nat.0)
            .map(|n| n.stats(self.now))
            .unwrap_or_default()
    }

    /// The live mappings of `nat` now, ordered by external port.
    pub fn nat_mappings(&self, nat: NatId) -> Vec<NatMapping> {
        self.nats
            .get(nat.0)
            .map(|n| n.mappings(self.now).cloned().collect())
            .unwrap_or_default()
    }

    /// The NAT whose public IP is `ip`.
    fn nat_at(&self, ip: IpAddr) -> Option<usize> {
        self.nats.iter().position(|n| n.public_ip == ip)
    }

    /// Where a datagram from host `via` (claiming `from`) to `to` goes
    /// when there are NATs, and the source it arrives with: NAT rules on
    /// the way out (translation, hairpinning, private destinations).
    fn nat_route(
        &mut self,
        via: SocketAddr,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Result<(SocketAddr, Dest), DropReason> {
        let now = self.now;
        let src_nat = self.behind.get(&via).copied();
        let dst_private = self.behind.get(&to).copied();
        let dst_public = self.nat_at(to.ip());
        let host = |sim: &Self| {
            sim.index
                .get(&to)
                .map(|&h| Dest::Host(h))
                .ok_or(DropReason::NoSuchHost)
        };
        if let Some(d) = dst_private {
            if src_nat == Some(d) {
                return Ok((from, host(self)?));
            }
            if let Some(nat) = self.nats.get_mut(d) {
                nat.stats.private_unreachable = nat.stats.private_unreachable.saturating_add(1);
            }
            return Err(DropReason::Nat);
        }
        let mut seen = from;
        if let Some(nat) = src_nat.and_then(|s| self.nats.get_mut(s)) {
            let hairpin = src_nat == dst_public;
            if hairpin && !nat.config.hairpinning {
                nat.stats.hairpin_dropped = nat.stats.hairpin_dropped.saturating_add(1);
                return Err(DropReason::Nat);
            }
            seen = nat.outbound(now, from, to).ok_or(DropReason::Nat)?;
            if hairpin {
                nat.stats.hairpinned = nat.stats.hairpinned.saturating_add(1);
            }
        }
        match dst_public {
            Some(d) => Ok((seen, Dest::Nat(d))),
            None => Ok((seen, host(self)?)),
        }
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

    fn drain(&mut self, idx: usize) {
        let mut buf = core::mem::take(&mut self.scratch);
        if buf.len() < TRANSMIT_BUF_LEN {
            buf.resize(TRANSMIT_BUF_LEN, 0);
        }
        let now = self.now;
        let mut sent = 0usize;
        let mut cut_off = false;
        while let Some(slot) = self.hosts.get_mut(idx) {
            if sent >= MAX_TRANSMITS_PER_DRAIN {
                cut_off = true;
                break;
            }
            let Some(Transmit {
                to,
                len,
                dont_fragment,
                source,
            }) = slot.host.poll_transmit(now, &mut buf)
            else {
                break;
            };
            let via = slot.addr;
            let from = source.unwrap_or(via);
            let data = buf.get(..len).unwrap_or(buf.as_slice());
            self.route(via, from, to, data, dont_fragment, from != via);
            sent += 1;
        }
        self.scratch = buf;

        let Some(slot) = self.hosts.get_mut(idx) else {
            return;
        };
        slot.dirty = false;
        let want = slot.host.poll_timeout().map(|t| {
            if t > now {
                t
            } else if slot.fired_at == Some(now) {
                now + Duration::from_micros(1)
            } else {
                now
            }
        });
        if want != slot.timer {
            slot.timer = want;
            slot.timer_gen = slot.timer_gen.wrapping_add(1);
            let generation = slot.timer_gen;
            if let Some(at) = want {
                self.schedule(
                    at,
                    Event::Timer {
                        host: idx,
                        generation,
                    },
                );
            }
        }
        if cut_off {
            self.mark_dirty(idx);
        }
    }

    /// A datagram from `from` arriving at a NAT's public address `to`: the
    /// private address and host it goes on to, or why it is dropped.
    fn nat_inbound(
        &mut self,
        nat: usize,
        from: SocketAddr,
        to: SocketAddr,
        len: usize,
    ) -> Result<(SocketAddr, usize), DropReason> {
        let now = self.now;
        let nat = self.nats.get_mut(nat).ok_or(DropReason::Nat)?;
        let private = nat.inbound(now, from, to.port()).map_err(|e| match e {
            InboundDrop::Unmapped | InboundDrop::Filtered => DropReason::Nat,
        })?;
        match self.index.get(&private) {
            Some(&host) => Ok((private, host)),
            None => {
                self.stats.unrouted.add(len);
                self.unrouted.entry(private).or_default().add(len);
                Err(DropReason::NoSuchHost)
            }
        }
    }

    /// Sends one datagram through the network: on the link `via -> to`,
    /// claiming `from` as its source (`spoofed`: not sent by the host
    /// bound to `from`).
    fn route(
        &mut self,
        via: SocketAddr,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
        dont_fragment: bool,
        spoofed: bool,
    ) {
        let now = self.now;
        let len = data.len();
        let spoofed_by = (via != from).then_some(via);
        let event = |kind| TraceEvent {
            time: now,
            kind,
            from,
            to,
            len,
            spoofed_by,
        };
        self.trace.record(event(EventKind::Send), Some(data));
        self.stats.network.on_send(len);
        if spoofed {
            self.stats.spoofed.add(len);
            self.spoofed.entry(from).or_default().add(len);
        }
        // Where it goes, and the source it arrives with (a NAT mapping).
        let dest = if self.nats.is_empty() {
            self.index
                .get(&to)
                .map(|&h| (from, Dest::Host(h)))
                .ok_or(DropReason::NoSuchHost)
        } else {
            self.nat_route(via, from, to)
        };
        if matches!(dest, Err(DropReason::NoSuchHost)) {
            self.stats.unrouted.add(len);
            self.unrouted.entry(to).or_default().add(len);
        }
        let (link_from, link_to) = self.link_key(via, to);
        let link = link_entry(&mut self.links, self.seed, link_from, link_to);
        link.stats.on_send(len);
        let cfg = link.config.unwrap_or(self.default_link);

        let verdict = match dest {
            Err(reason) => Err(reason),
            Ok(_) if link.is_down(now) => Err(DropReason::Partition),
            Ok(host) => match check_mtu(&cfg, to, len, dont_fragment) {
                MtuVerdict::Drop => Err(DropReason::Mtu),
                verdict => {
                    if let MtuVerdict::Fragmented = verdict {
                        link.stats.on_fragment();
                        self.stats.network.on_fragment();
                    }
                    if link.lose(&cfg) {
                        Err(DropReason::Loss)
                    } else {
                        Ok(host)
                    }
                }
            },
        };
        let (seen, dest) = match verdict {
            Ok(target) => target,
            Err(reason) => {
                link.stats.on_drop(reason);
                self.stats.network.on_drop(reason);
                self.trace.record(event(EventKind::Drop(reason)), None);
                return;
            }
        };

        let duplicated = link.duplicate(&cfg);
        let wire = wire_size(to, len);
        for copy in [false, true] {
            if copy {
                if !duplicated {
                    break;
                }
                link.stats.on_duplicate();
                self.stats.network.on_duplicate();
                self.trace.record(event(EventKind::Duplicate), None);
            }
            match link.transmit(&cfg, now, wire) {
                Verdict::Deliver { at, reordered } => {
                    if reordered {
                        link.stats.on_reorder();
                        self.stats.network.on_reorder();
                    }
                    let mut buf = self.pool.pop().unwrap_or_default();
                    buf.clear();
                    buf.extend_from_slice(data);
                    self.in_flight = self.in_flight.saturating_add(1);
                    let seq = self.next_seq;
                    self.next_seq = self.next_seq.wrapping_add(1);
                    self.queue.push(Scheduled {
                        at,
                        seq,
                        event: Event::Deliver {
                            from: seen,
                            via,
                            to,
                            spoofed_by,
                            dest,
                            data: buf,
                        },
                    });
                }
                Verdict::Drop(reason) => {
                    link.stats.on_drop(reason);
                    self.stats.network.on_drop(reason);
                    self.trace.record(event(EventKind::Drop(reason)), None);
                }
            }
        }
    }
}

/// The state of link `from -> to`, created on first use.
fn link_entry(
    links: &mut BTreeMap<(SocketAddr, SocketAddr), LinkState>,
    seed: u64,
    from: SocketAddr,
    to: SocketAddr,
) -> &mut LinkState {
    links
        .entry((from, to))
        .or_insert_with(|| LinkState::new(link_seed(seed, from, to)))
}

/// The seed of the PRNG of link `from -> to`.
fn link_seed(seed: u64, from: SocketAddr, to: SocketAddr) -> u64 {
    let mut h = Fnv1a::new();
    h.write_u64(seed);
    h.write_addr(from);
    h.write_addr(to);
    h.finish()
}

#[cfg(test)]
mod spoof_tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// Sends what it is told (from any source it likes) and answers every
    /// datagram with `re:` + the datagram, to whoever it claims to be from.
    #[derive(Default)]
    struct Echo {
        outbox: Vec<(Option<SocketAddr>, SocketAddr, Vec<u8>)>,
        got: Vec<(SocketAddr, Vec<u8>)>,
    }

    impl Host for Echo {
        fn handle_datagram(&mut self, _now: Timestamp, from: SocketAddr, data: &[u8]) {
            self.got.push((from, data.to_vec()));
            if !data.starts_with(b"re:") {
                let mut reply = b"re:".to_vec();
                reply.extend_from_slice(data);
                self.outbox.push((None, from, reply));
            }
        }
        fn handle_timeout(&mut self, _now: Timestamp) {}
        fn poll_transmit(&mut self, _now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
            let (source, to, data) = self.outbox.pop()?;
            buf[..data.len()].copy_from_slice(&data);
            Some(Transmit {
                source,
                ..Transmit::new(to, data.len())
            })
        }
        fn poll_timeout(&mut self) -> Option<Timestamp> {
            None
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn three() -> (Sim<Echo>, SocketAddr, SocketAddr, SocketAddr) {
        let (a, b, c) = (addr("10.0.0.1:1"), addr("10.0.0.2:1"), addr("10.0.0.3:1"));
        let mut sim = Sim::new(7);
        for x in [a, b, c] {
            sim.add_host(x, Echo::default());
        }
        sim.set_default_link(LinkConfig::with_latency(Duration::from_millis(10)))
            .unwrap();
        (sim, a, b, c)
    }

    #[test]
    fn a_spoofed_source_is_what_the_receiver_sees_and_replies_to_nobody_are_counted() {
        let (mut sim, a, b, _) = three();
        let nobody = addr("10.9.9.9:9");
        sim.host_mut(a)
            .outbox
            .push((Some(nobody), b, b"ping".to_vec()));
        let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
        assert_eq!(sim.host(b).got, [(nobody, b"ping".to_vec())]);
        // It travelled a's link; the reply went to the spoofed address.
        assert_eq!(sim.link_stats(a, b).delivered, 1);
        assert_eq!(sim.link_stats(nobody, b).sent, 0);
        assert_eq!(sim.link_stats(b, nobody).dropped.no_such_host, 1);
        let sent = Traffic {
            datagrams: 1,
            bytes: 4,
        };
        let replied = Traffic {
            datagrams: 1,
            bytes: 7,
        };
        assert_eq!(sim.spoofed(nobody), sent);
        assert_eq!(sim.unrouted(nobody), replied);
        assert_eq!(sim.unrouted_all().collect::<Vec<_>>(), [(nobody, replied)]);
        assert_eq!(sim.spoofed_all().collect::<Vec<_>>(), [(nobody, sent)]);
        assert_eq!((sim.stats().spoofed, sim.stats().unrouted), (sent, replied));
        assert!(sent.within(&sent) && !replied.within(&sent));
        assert!(sim.spoofed(a).datagrams == 0 && sim.unrouted(b).datagrams == 0);
    }

    #[test]
    fn spoofing_another_host_sends_the_reply_to_it_over_the_attackers_path() {
        let (mut sim, a, b, c) = three();
        sim.set_trace(TraceMode::Full);
        // The victim's own path to b is down: the forgery does not use it.
        sim.partition(c, b, Timestamp::ZERO, Timestamp::from_millis(5));
        sim.set_link(a, b, LinkConfig::with_latency(Duration::from_millis(3)))
            .unwrap();
        sim.host_mut(a).outbox.push((Some(c), b, b"x".to_vec()));
        let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
        assert_eq!(sim.host(b).got, [(c, b"x".to_vec())]);
        // c got b's answer to a question it never asked.
        assert_eq!(sim.host(c).got, [(b, b"re:x".to_vec())]);
        assert!(sim.host(a).got.is_empty());
        assert_eq!(sim.unrouted_all().len(), 0);
        let events: Vec<String> = sim.trace().map(ToString::to_string).collect();
        assert_eq!(
            events,
            [
                "0.000000s send 10.0.0.3:1 -> 10.0.0.2:1 1B (spoofed by 10.0.0.1:1)",
                "0.003000s deliver 10.0.0.3:1 -> 10.0.0.2:1 1B (spoofed by 10.0.0.1:1)",
                "0.003000s send 10.0.0.2:1 -> 10.0.0.3:1 4B",
                "0.013000s deliver 10.0.0.2:1 -> 10.0.0.3:1 4B",
            ],
            "{events:#?}"
        );
        // Partitioning the attacker's own path does stop it.
        sim.partition(a, b, sim.now(), Timestamp::MAX);
        sim.host_mut(a).outbox.push((Some(c), b, b"y".to_vec()));
        let _ = sim.run_until(Timestamp::from_secs(2), |_| false);
        assert_eq!(sim.link_stats(a, b).dropped.partition, 1);
        assert_eq!(sim.host(b).got.len(), 1);
        assert_eq!(sim.spoofed(c).datagrams, 2);
    }

    #[test]
    fn the_test_can_inject_a_datagram_from_any_address() {
        let (mut sim, _, b, _) = three();
        let nobody = addr("[2001:db8::1]:7");
        sim.inject(nobody, b, b"hi");
        let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
        assert_eq!(sim.host(b).got, [(nobody, b"hi".to_vec())]);
        assert_eq!(sim.link_stats(nobody, b).delivered, 1);
        assert_eq!(sim.spoofed(nobody).datagrams, 1);
        assert_eq!(sim.unrouted(nobody).bytes, 5);
    }

    #[test]
    fn spoofed_runs_replay_and_hash_apart_from_honest_ones() {
        let run = |spoof: bool| {
            let (mut sim, a, b, c) = three();
            let source = spoof.then_some(c);
            sim.host_mut(a).outbox.push((source, b, b"z".to_vec()));
            let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
            sim.trace_hash()
        };
        assert_eq!(run(true), run(true));
        assert_ne!(run(true), run(false));
        // Naming one's own address is no spoofing.
        let (mut sim, a, b, _) = three();
        sim.host_mut(a).outbox.push((Some(a), b, b"z".to_vec()));
        let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
        assert_eq!(sim.stats().spoofed, Traffic::default());
        assert_eq!(sim.trace_hash(), run(false));
    }
}
