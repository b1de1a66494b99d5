//! Link configuration, the per-link state machine and link statistics.

use core::fmt;
use core::time::Duration;
use std::collections::VecDeque;
use std::net::SocketAddr;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use utp_core::Timestamp;

/// Bytes of IPv4 (20) and UDP (8) headers added to every IPv4 datagram on the wire.
pub const IPV4_UDP_OVERHEAD: usize = 28;
/// Bytes of IPv6 (40) and UDP (8) headers added to every IPv6 datagram on the wire.
pub const IPV6_UDP_OVERHEAD: usize = 48;
/// The largest IP packet (IPv4 total length / IPv6 header + payload length field).
const MAX_IP_PACKET: usize = 65_535;

/// The wire size of a UDP datagram with `payload` bytes sent to `to`: the
/// payload plus the IP and UDP headers ([`IPV4_UDP_OVERHEAD`] or
/// [`IPV6_UDP_OVERHEAD`], chosen by the destination's address family).
///
/// This is the size the link's MTU is compared with and the size the
/// bandwidth serialises.
pub fn wire_size(to: SocketAddr, payload: usize) -> usize {
    let overhead = if to.is_ipv4() {
        IPV4_UDP_OVERHEAD
    } else {
        IPV6_UDP_OVERHEAD
    };
    payload.saturating_add(overhead)
}

/// Bursty loss after the Gilbert-Elliott model: a two-state Markov chain.
///
/// For every datagram the link first decides loss with the probability of
/// its current state, then moves from good to bad with `p_good_to_bad` or
/// from bad to good with `p_bad_to_good`. The mean burst length in the bad
/// state is `1 / p_bad_to_good` datagrams. Every link starts in the good
/// state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from the good to the bad state after a datagram.
    pub p_good_to_bad: f64,
    /// Probability of moving from the bad to the good state after a datagram.
    pub p_bad_to_good: f64,
    /// Loss probability while in the good state (often 0).
    pub loss_in_good: f64,
    /// Loss probability while in the bad state (often 1).
    pub loss_in_bad: f64,
}

impl GilbertElliott {
    /// The classic Gilbert model: no loss in the good state, every datagram
    /// lost in the bad state.
    pub const fn gilbert(p_good_to_bad: f64, p_bad_to_good: f64) -> Self {
        GilbertElliott {
            p_good_to_bad,
            p_bad_to_good,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        }
    }
}

/// How one direction of a path between two addresses behaves.
///
/// The order in which a datagram meets the impairments is described on
/// [`Sim`](crate::Sim); in short: partition, MTU, loss, duplication, queue
/// and bandwidth, then latency + jitter (+ reordering delay).
///
/// `LinkConfig::default()` is an ideal link: no delay, no loss, unlimited
/// bandwidth, and an Ethernet MTU of 1500 bytes. Build others with struct
/// update syntax:
///
/// ```
/// use std::time::Duration;
/// use utp_sim::LinkConfig;
/// let dsl = LinkConfig {
///     latency: Duration::from_millis(20),
///     bandwidth: Some(8_000_000),
///     queue_capacity: Some(50),
///     loss: 0.001,
///     ..LinkConfig::default()
/// };
/// assert!(dsl.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay, added after serialisation.
    pub latency: Duration,
    /// Extra delay per datagram, uniform in `[0, jitter]` (microsecond
    /// granularity). Jitter never reorders: a datagram is never delivered
    /// before one sent earlier on the same link (except one picked for
    /// [`reorder`](Self::reorder)).
    pub jitter: Duration,
    /// Bottleneck rate in bits per second; `None` is unlimited (no
    /// serialisation delay, no queue). The wire size
    /// ([`wire_size`]) is serialised, so datagrams queue behind each other.
    pub bandwidth: Option<u64>,
    /// How many datagrams may wait for the bottleneck, not counting the one
    /// being serialised; a datagram arriving at a full queue is dropped
    /// (drop-tail). `None` is unlimited. Only meaningful with a `bandwidth`.
    pub queue_capacity: Option<usize>,
    /// Probability that a datagram is lost, independently of the others.
    pub loss: f64,
    /// Bursty loss, applied in addition to `loss`.
    pub burst_loss: Option<GilbertElliott>,
    /// Probability that a datagram is delivered twice. The copy goes through
    /// the queue, jitter and reordering on its own.
    pub duplicate: f64,
    /// Probability that a datagram is held back by an extra
    /// [`reorder_delay`](Self::reorder_delay), letting later datagrams
    /// overtake it.
    pub reorder: f64,
    /// The extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Largest IP packet the link carries, headers included (see
    /// [`wire_size`]); `None` is unlimited. A bigger datagram with
    /// [`dont_fragment`](crate::Transmit::dont_fragment) set is dropped
    /// ([`DropReason::Mtu`]); without it, it is fragmented by the sender's
    /// IP layer and delivered whole (counted in [`LinkStats::fragmented`]).
    pub mtu: Option<usize>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            bandwidth: None,
            queue_capacity: None,
            loss: 0.0,
            burst_loss: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            mtu: Some(1500),
        }
    }
}

impl LinkConfig {
    /// A default (ideal) link with the given one-way latency.
    pub fn with_latency(latency: Duration) -> Self {
        LinkConfig {
            latency,
            ..LinkConfig::default()
        }
    }

    /// Checks that every probability is a number in `[0, 1]` and that the
    /// bandwidth, if set, is not zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_probability("loss", self.loss)?;
        check_probability("duplicate", self.duplicate)?;
        check_probability("reorder", self.reorder)?;
        if let Some(ge) = &self.burst_loss {
            check_probability("burst_loss.p_good_to_bad", ge.p_good_to_bad)?;
            check_probability("burst_loss.p_bad_to_good", ge.p_bad_to_good)?;
            check_probability("burst_loss.loss_in_good", ge.loss_in_good)?;
            check_probability("burst_loss.loss_in_bad", ge.loss_in_bad)?;
        }
        if self.bandwidth == Some(0) {
            return Err(ConfigError::ZeroBandwidth);
        }
        Ok(())
    }
}

fn check_probability(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Probability { field, value })
    }
}

/// Why a [`LinkConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConfigError {
    /// A probability is NaN or outside `[0, 1]`.
    Probability {
        /// The field's name, e.g. `"loss"` or `"burst_loss.p_bad_to_good"`.
        field: &'static str,
        /// The refused value.
        value: f64,
    },
    /// `bandwidth` is `Some(0)`: nothing could ever be sent.
    ZeroBandwidth,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Probability { field, value } => {
                write!(
                    f,
                    "link config: {field} = {value} is not a probability in [0, 1]"
                )
            }
            ConfigError::ZeroBandwidth => {
                write!(
                    f,
                    "link config: bandwidth must be positive (use None for unlimited)"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why the network dropped a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Random loss: [`LinkConfig::loss`] or [`LinkConfig::burst_loss`].
    Loss,
    /// The bottleneck queue was full ([`LinkConfig::queue_capacity`]).
    QueueFull,
    /// Larger than the link MTU with the don't-fragment bit set, or larger
    /// than any IP packet can be.
    Mtu,
    /// Sent while the link was partitioned.
    Partition,
    /// No host is bound to the destination address.
    NoSuchHost,
    /// A NAT box dropped it (no mapping, refused by the filter, no
    /// hairpinning, a private address seen from outside, no free port);
    /// [`Sim::nat_stats`](crate::Sim::nat_stats) tells which.
    Nat,
}

impl DropReason {
    /// A stable name, as used in traces.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::QueueFull => "queue-full",
            DropReason::Mtu => "mtu",
            DropReason::Partition => "partition",
            DropReason::NoSuchHost => "no-such-host",
            DropReason::Nat => "nat",
        }
    }

    pub(crate) const fn code(self) -> u8 {
        match self {
            DropReason::Loss => 0,
            DropReason::QueueFull => 1,
            DropReason::Mtu => 2,
            DropReason::Partition => 3,
            DropReason::NoSuchHost => 4,
            DropReason::Nat => 5,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Drop counters, one per [`DropReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropStats {
    /// [`DropReason::Loss`].
    pub loss: u64,
    /// [`DropReason::QueueFull`].
    pub queue_full: u64,
    /// [`DropReason::Mtu`].
    pub mtu: u64,
    /// [`DropReason::Partition`].
    pub partition: u64,
    /// [`DropReason::NoSuchHost`].
    pub no_such_host: u64,
    /// [`DropReason::Nat`].
    pub nat: u64,
}

impl DropStats {
    /// The counter for `reason`.
    pub const fn get(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Loss => self.loss,
            DropReason::QueueFull => self.queue_full,
            DropReason::Mtu => self.mtu,
            DropReason::Partition => self.partition,
            DropReason::NoSuchHost => self.no_such_host,
            DropReason::Nat => self.nat,
        }
    }

    /// All drops.
    pub const fn total(&self) -> u64 {
        self.loss
            .saturating_add(self.queue_full)
            .saturating_add(self.mtu)
            .saturating_add(self.partition)
            .saturating_add(self.no_such_host)
            .saturating_add(self.nat)
    }

    fn bump(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Loss => &mut self.loss,
            DropReason::QueueFull => &mut self.queue_full,
            DropReason::Mtu => &mut self.mtu,
            DropReason::Partition => &mut self.partition,
            DropReason::NoSuchHost => &mut self.no_such_host,
            DropReason::Nat => &mut self.nat,
        };
        *c = c.saturating_add(1);
    }
}

/// Packet counters of one directed link, or of the whole network.
///
/// Byte counters count UDP payload bytes, as the hosts see them.
/// `sent` counts datagrams the hosts emitted; each emitted datagram ends up
/// dropped or delivered, and a duplicate adds one more copy that itself ends
/// up dropped (only by a full queue) or delivered. Datagrams still in flight
/// are in neither.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams emitted by the sending host.
    pub sent: u64,
    /// Payload bytes emitted by the sending host.
    pub sent_bytes: u64,
    /// Datagrams (copies included) handed to the receiving host.
    pub delivered: u64,
    /// Payload bytes handed to the receiving host.
    pub delivered_bytes: u64,
    /// Extra copies made by [`LinkConfig::duplicate`].
    pub duplicated: u64,
    /// Datagrams over the MTU sent without the don't-fragment bit.
    pub fragmented: u64,
    /// Datagrams held back by [`LinkConfig::reorder`].
    pub reordered: u64,
    /// Drops by reason.
    pub dropped: DropStats,
}

impl LinkStats {
    pub(crate) fn on_send(&mut self, len: usize) {
        self.sent = self.sent.saturating_add(1);
        self.sent_bytes = self.sent_bytes.saturating_add(len as u64);
    }

    pub(crate) fn on_deliver(&mut self, len: usize) {
        self.delivered = self.delivered.saturating_add(1);
        self.delivered_bytes = self.delivered_bytes.saturating_add(len as u64);
    }

    pub(crate) fn on_drop(&mut self, reason: DropReason) {
        self.dropped.bump(reason);
    }

    pub(crate) fn on_duplicate(&mut self) {
        self.duplicated = self.duplicated.saturating_add(1);
    }

    pub(crate) fn on_fragment(&mut self) {
        self.fragmented = self.fragmented.saturating_add(1);
    }

    pub(crate) fn on_reorder(&mut self) {
        self.reordered = self.reordered.saturating_add(1);
    }
}

/// The instantaneous state of a link's bottleneck queue, from
/// [`Sim::link_backlog`](crate::Sim::link_backlog).
///
/// `delay` is the ground-truth queuing delay: a datagram sent now starts
/// its own serialisation after `delay`, then takes its serialisation time
/// and the link latency. A link without a
/// [`bandwidth`](LinkConfig::bandwidth) never queues: both are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkBacklog {
    /// Datagrams waiting for the bottleneck, not counting the one being
    /// serialised (the number compared with
    /// [`queue_capacity`](LinkConfig::queue_capacity)).
    pub queued: usize,
    /// Time until the bottleneck has finished serialising everything it
    /// holds, the datagram being serialised included.
    pub delay: Duration,
}

/// A time window `[start, end)` during which a link is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
}

/// What the link decided for one datagram (or its copy).
pub(crate) enum Verdict {
    /// Deliver at this time.
    Deliver { at: Timestamp, reordered: bool },
    /// Dropped.
    Drop(DropReason),
}

/// The mutable state of one directed link.
pub(crate) struct LinkState {
    /// `None`: use the simulator's default config.
    pub(crate) config: Option<LinkConfig>,
    pub(crate) stats: LinkStats,
    pub(crate) partitions: Vec<Window>,
    rng: Xoshiro256PlusPlus,
    /// Gilbert-Elliott state.
    bad: bool,
    /// When the bottleneck finishes serialising what it has, in nanoseconds.
    busy_until_ns: u128,
    /// Start times (ns) of datagrams waiting for the bottleneck, in order.
    waiting: VecDeque<u128>,
    /// Latest delivery time of a non-reordered datagram: jitter keeps FIFO.
    last_arrival: Timestamp,
}

impl LinkState {
    pub(crate) fn new(seed: u64) -> Self {
        LinkState {
            config: None,
            stats: LinkStats::default(),
            partitions: Vec::new(),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            bad: false,
            busy_until_ns: 0,
            waiting: VecDeque::new(),
            last_arrival: Timestamp::ZERO,
        }
    }

    pub(crate) fn is_down(&self, now: Timestamp) -> bool {
        self.partitions
            .iter()
            .any(|w| w.start <= now && now < w.end)
    }

    /// A uniform `f64` in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`; draws nothing when `p` is 0 or 1.
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 || p.is_nan() {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }

    /// A uniform integer in `[0, max]`.
    fn uniform_upto(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let range = u128::from(max) + 1;
        ((u128::from(self.rng.next_u64()) * range) >> 64) as u64
    }

    /// Decides random and bursty loss for one datagram.
    pub(crate) fn lose(&mut self, cfg: &LinkConfig) -> bool {
        let mut lost = self.chance(cfg.loss);
        if let Some(ge) = &cfg.burst_loss {
            let p = if self.bad {
                ge.loss_in_bad
            } else {
                ge.loss_in_good
            };
            lost |= self.chance(p);
            let flip = if self.bad {
                ge.p_bad_to_good
            } else {
                ge.p_good_to_bad
            };
            if self.chance(flip) {
                self.bad = !self.bad;
            }
        }
        lost
    }

    /// Decides duplication for one datagram.
    pub(crate) fn duplicate(&mut self, cfg: &LinkConfig) -> bool {
        self.chance(cfg.duplicate)
    }

    /// What waits for the bottleneck at `now`: datagrams queued (not
    /// counting the one being serialised) and the time until the bottleneck
    /// has sent all of them.
    pub(crate) fn backlog(&self, now: Timestamp) -> LinkBacklog {
        let now_ns = u128::from(now.as_micros()) * 1_000;
        let queued = self.waiting.iter().filter(|&&start| start > now_ns).count();
        let wait_ns = self.busy_until_ns.saturating_sub(now_ns);
        LinkBacklog {
            queued,
            delay: Duration::from_nanos(u64::try_from(wait_ns).unwrap_or(u64::MAX)),
        }
    }

    /// Puts one datagram of `wire` bytes on the link at `now`: queue,
    /// serialisation, latency, jitter, reordering.
    pub(crate) fn transmit(&mut self, cfg: &LinkConfig, now: Timestamp, wire: usize) -> Verdict {
        let now_ns = u128::from(now.as_micros()) * 1_000;
        let depart_ns = match cfg.bandwidth {
            None | Some(0) => now_ns,
            Some(bw) => {
                while self.waiting.front().is_some_and(|&start| start <= now_ns) {
                    self.waiting.pop_front();
                }
                if let Some(cap) = cfg.queue_capacity {
                    if self.waiting.len() >= cap && self.busy_until_ns > now_ns {
                        return Verdict::Drop(DropReason::QueueFull);
                    }
                }
                let start = self.busy_until_ns.max(now_ns);
                if start > now_ns {
                    self.waiting.push_back(start);
                }
                // bits * 1e9 / bw, rounded up to whole nanoseconds.
                let bits = (wire as u128) * 8;
                let tx_ns = (bits * 1_000_000_000).div_ceil(u128::from(bw));
                self.busy_until_ns = start.saturating_add(tx_ns);
                self.busy_until_ns
            }
        };
        let depart_us = u64::try_from(depart_ns.div_ceil(1_000)).unwrap_or(u64::MAX);
        let mut at = Timestamp::from_micros(depart_us) + cfg.latency;
        let jitter_us = u64::try_from(cfg.jitter.as_micros()).unwrap_or(u64::MAX);
        at += Duration::from_micros(self.uniform_upto(jitter_us));
        if self.chance(cfg.reorder) {
            // Held back: later datagrams may overtake it, and it does not
            // hold them back in turn.
            return Verdict::Deliver {
                at: at + cfg.reorder_delay,
                reordered: true,
            };
        }
        at = at.max(self.last_arrival);
        self.last_arrival = at;
        Verdict::Deliver {
            at,
            reordered: false,
        }
    }
}

/// The MTU verdict for a datagram of `payload` bytes to `to`.
pub(crate) enum MtuVerdict {
    Fits,
    Fragmented,
    Drop,
}

pub(crate) fn check_mtu(
    cfg: &LinkConfig,
    to: SocketAddr,
    payload: usize,
    dont_fragment: bool,
) -> MtuVerdict {
    // A UDP datagram can never be larger than 65535 bytes with its header,
    // and an IPv4 packet, headers included, not larger than 65535 either.
    let ip_limit = if to.is_ipv4() {
        MAX_IP_PACKET
    } else {
        MAX_IP_PACKET + 40
    };
    let wire = wire_size(to, payload);
    if payload.saturating_add(8) > MAX_IP_PACKET || wire > ip_limit {
        return MtuVerdict::Drop;
    }
    match cfg.mtu {
        Some(mtu) if wire > mtu => {
            if dont_fragment {
                MtuVerdict::Drop
            } else {
                MtuVerdict::Fragmented
            }
        }
        _ => MtuVerdict::Fits,
    }
}
