//! Path MTU discovery: which UDP payload size reaches the peer.
//!
//! The scheme is packetization-layer PMTU discovery (RFC 8899) over uTP's
//! own DATA packets; it never relies on IP fragmentation and needs no ICMP
//! (though it takes ICMP "too big" reports when the adapter has them).
//!
//! - **Sizes** are UDP payload sizes. The floor is what every path carries:
//!   576 − 28 = [`IPV4_FLOOR`] bytes for IPv4, 1280 − 48 = [`IPV6_FLOOR`]
//!   for IPv6. The ceiling is the configured packet size
//!   ([`Config::packet_size_v4`](crate::Config::packet_size_v4) /
//!   [`Config::packet_size_v6`](crate::Config::packet_size_v6)).
//! - **Data packets never exceed the confirmed size**, which starts at the
//!   floor (or at what the endpoint remembers for the peer's IP address).
//! - **A probe** is an ordinary DATA packet — new sequence number, stream
//!   payload sized for the confirmed size — padded up to the probe size with
//!   zero-filled SACK extensions (type 1, bodies of 4 to 252 bytes, chained;
//!   a zero mask acknowledges nothing and every deployed stack parses SACK),
//!   sent with the don't-fragment bit. It carries no real SACK.
//! - **Acked** (cumulatively or selectively): the size is confirmed and
//!   becomes the packet size. **Lost**: it is retransmitted without its
//!   padding (so it fits the confirmed size: no stall), it is not a
//!   congestion signal, and the size counts one failure; after
//!   [`Config::pmtu_probe_attempts`](crate::Config::pmtu_probe_attempts)
//!   failures it is the search's upper bound.
//! - **Search**: the first probe is at the ceiling (most paths carry it: one
//!   round trip and done), then binary search between the confirmed size
//!   and the smallest failed size, until they are within [`GRANULARITY`]
//!   bytes. At most one probe is in flight; a probe goes only with a full
//!   packet of data to send and room for it in the congestion window. Its
//!   loss is found by SACK or duplicate acks; when it is the last packet in
//!   flight, by the retransmission timer, which then is not counted as a
//!   timeout (no backoff, no window reduction). At most `attempts × (1 + ⌈log2((ceiling − floor) /
//!   GRANULARITY)⌉)` probes: 14 for the IPv4 defaults.
//! - **Re-probing**: [`Config::pmtu_reprobe`](crate::Config::pmtu_reprobe)
//!   after a size failed, the failure is forgotten and the search resumes
//!   upward from the confirmed size (RFC 8899's raise timer), so a path
//!   whose MTU grew is found again.
//! - The endpoint remembers, per remote IP address, the confirmed and
//!   failed sizes ([`PathMemory`]); a new connection to that address starts
//!   from them.

use core::time::Duration;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::output::MAX_PACKETS_IN_FLIGHT;
use super::send::ProbeOutcome;
use super::{Connection, ACK_SNAPSHOTS};
use crate::config::Config;
use crate::peer::PeerInfo;
use crate::seq::SeqNr;
use crate::time::Timestamp;
use crate::wire::{PacketType, HEADER_LEN, MAX_EXTENSIONS};

/// Smallest IPv4 MTU every host must accept (576) minus IPv4 and UDP
/// headers.
pub(crate) const IPV4_FLOOR: usize = 576 - 28;
/// IPv6's minimum MTU (1280) minus IPv6 and UDP headers.
pub(crate) const IPV6_FLOOR: usize = 1280 - 48;
/// The search stops once the confirmed size and the smallest failed size
/// are at most this far apart.
pub(crate) const GRANULARITY: usize = 16;
/// IP and UDP header bytes for an address family (a v4-mapped IPv6
/// address, an IPv4 peer of a dual-stack socket, travels over IPv4).
pub(crate) const fn ip_udp_overhead(ip: IpAddr) -> usize {
    match ip.to_canonical() {
        IpAddr::V4(_) => 28,
        IpAddr::V6(_) => 48,
    }
}
/// Largest SACK body (a multiple of 4 that fits the one-byte length).
const MAX_PAD_BODY: usize = 252;
/// Most padding one probe can carry: `MAX_EXTENSIONS` SACKs of 252 bytes.
const MAX_PADDING: usize = MAX_EXTENSIONS * (2 + MAX_PAD_BODY);
/// Largest step above the confirmed size in one probe, so the padding
/// always fits (a real SACK of up to 130 bytes may shrink the payload).
const MAX_PROBE_STEP: usize = MAX_PADDING - 256;
/// Remote addresses the endpoint remembers.
pub(crate) const PATH_MEMORY_ENTRIES: usize = 256;

/// The floor and ceiling for `peer`: equal (no search) for a peer not
/// reached over IP, whose carrier sets the size.
fn bounds(config: &Config, peer: PeerInfo) -> (usize, usize) {
    let ceiling = peer.packet_size(config);
    let floor = match peer.ip().map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(_)) => IPV4_FLOOR,
        Some(IpAddr::V6(_)) => IPV6_FLOOR,
        None => ceiling,
    };
    (floor.min(ceiling), ceiling)
}

/// What is known about a path: shared between a connection and the
/// endpoint's per-address memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PathState {
    /// Largest size known to pass.
    pub(crate) confirmed: usize,
    /// Smallest size known to fail, and since when.
    pub(crate) failed: Option<(usize, Timestamp)>,
}

/// One connection's search.
#[derive(Debug)]
pub(crate) struct Pmtu {
    enabled: bool,
    floor: usize,
    ceiling: usize,
    state: PathState,
    reprobe: Duration,
    max_attempts: u32,
    /// Size of the probe in flight.
    in_flight: Option<usize>,
    /// The size being tried and how many of its probes were lost.
    trying: usize,
    attempts: u32,
    /// Probe size for the next DATA packet `send_data_packet` emits.
    armed: Option<usize>,
    /// The last datagram emitted was a probe (don't fragment).
    dont_fragment: bool,
    /// `state` changed since the endpoint last took it.
    changed: bool,
    pub(crate) probes_sent: u64,
    pub(crate) probes_lost: u64,
}

impl Pmtu {
    pub(crate) fn new(config: &Config, peer: PeerInfo) -> Self {
        let (floor, ceiling) = bounds(config, peer);
        let enabled = config.pmtu_discovery && floor < ceiling;
        Pmtu {
            enabled,
            floor,
            ceiling,
            state: PathState {
                confirmed: if enabled { floor } else { ceiling },
                failed: None,
            },
            reprobe: config.pmtu_reprobe,
            max_attempts: config.pmtu_probe_attempts.max(1),
            in_flight: None,
            trying: 0,
            attempts: 0,
            armed: None,
            dont_fragment: false,
            changed: false,
            probes_sent: 0,
            probes_lost: 0,
        }
    }

    /// The packet size to use now.
    pub(crate) fn current(&self) -> usize {
        self.state.confirmed
    }

    /// The largest packet size the search may reach: the configured one.
    pub(crate) fn ceiling(&self) -> usize {
        self.ceiling
    }

    /// Starts from what the endpoint remembers of the path.
    fn resume(&mut self, remembered: PathState, now: Timestamp) {
        if !self.enabled {
            return;
        }
        self.state.confirmed = remembered.confirmed.clamp(self.floor, self.ceiling);
        self.state.failed = remembered
            .failed
            .filter(|&(size, at)| size > self.state.confirmed && now < at + self.reprobe);
    }

    /// The size to probe now, if any.
    pub(crate) fn next_probe(&mut self, now: Timestamp) -> Option<usize> {
        if !self.enabled || self.in_flight.is_some() {
            return None;
        }
        if let Some((_, at)) = self.state.failed {
            if now >= at + self.reprobe {
                // RFC 8899's raise timer: the path may carry more now.
                self.state.failed = None;
                self.attempts = 0;
                self.changed = true;
            }
        }
        let confirmed = self.state.confirmed;
        let failed = self.state.failed.map(|(f, _)| f.min(self.ceiling + 1));
        let target = match failed {
            None if confirmed < self.ceiling => self.ceiling,
            None => return None,
            Some(failed) if failed > confirmed + GRANULARITY => {
                confirmed + (failed - confirmed) / 2
            }
            Some(_) => return None,
        };
        Some(target.min(confirmed + MAX_PROBE_STEP))
    }

    fn on_probe_sent(&mut self, size: usize) {
        if size != self.trying {
            self.trying = size;
            self.attempts = 0;
        }
        self.in_flight = Some(size);
        self.probes_sent += 1;
        self.dont_fragment = true;
    }

    fn on_probe_acked(&mut self, size: usize) {
        self.in_flight = None;
        self.attempts = 0;
        if size > self.state.confirmed && size <= self.ceiling {
            self.state.confirmed = size;
            if self.state.failed.is_some_and(|(f, _)| f <= size) {
                self.state.failed = None;
            }
            self.changed = true;
        }
    }

    fn on_probe_lost(&mut self, size: usize, now: Timestamp) {
        self.in_flight = None;
        self.probes_lost += 1;
        if size != self.trying {
            self.trying = size;
            self.attempts = 0;
        }
        self.attempts += 1;
        if self.attempts >= self.max_attempts {
            self.attempts = 0;
            if size > self.state.confirmed && self.state.failed.is_none_or(|(f, _)| size < f) {
                self.state.failed = Some((size, now));
                self.changed = true;
            }
        }
    }

    /// An ICMP "too big": nothing above `limit` (a UDP payload size) passes.
    fn on_too_big(&mut self, limit: usize, now: Timestamp) {
        if !self.enabled || limit >= self.ceiling {
            return;
        }
        self.state = too_big(self.state, self.floor, limit, now);
        self.changed = true;
    }

    fn take_update(&mut self) -> Option<PathState> {
        core::mem::take(&mut self.changed).then_some(self.state)
    }
}

/// `state` after an ICMP "too big" saying nothing above `limit` passes.
fn too_big(mut state: PathState, floor: usize, limit: usize, now: Timestamp) -> PathState {
    let limit = limit.max(floor);
    state.confirmed = state.confirmed.min(limit);
    let failed = limit + 1;
    if state.failed.is_none_or(|(f, _)| failed < f) {
        state.failed = Some((failed, now));
    }
    state
}

/// The lengths of the zero-filled SACK extensions (2-byte head each) that
/// make exactly `pad` bytes, as (extensions, units of 4 bytes in each,
/// extensions with one unit more), or `None` when no chain of at most
/// `MAX_EXTENSIONS` does (odd, below 6, 8, or 2 mod 4 above 7 × 254).
fn padding_layout(pad: usize) -> Option<(usize, usize, usize)> {
    if pad % 2 != 0 || pad > MAX_PADDING {
        return None;
    }
    // n extensions: pad = 2n + 4 * (units), each body 1..=63 units.
    let mut n = pad.div_ceil(2 + MAX_PAD_BODY).max(1);
    if pad.checked_sub(2 * n)? % 4 != 0 {
        n += 1;
    }
    if n > MAX_EXTENSIONS || 6 * n > pad {
        return None;
    }
    let units = (pad - 2 * n) / 4;
    // `extra` extensions get one unit more than the others.
    Some((n, units / n, units % n))
}

/// Writes the padding chain for `pad` bytes into `out` (exactly `pad`
/// long); returns `false` if `pad` has no layout.
fn write_padding(out: &mut [u8], pad: usize) -> bool {
    let Some((n, base, extra)) = padding_layout(pad) else {
        return false;
    };
    out.fill(0);
    let mut at = 0;
    for i in 0..n {
        let body = 4 * (base + usize::from(i < extra));
        let next = if i + 1 < n { 1 } else { 0 };
        match out.get_mut(at..at + 2) {
            // body <= 252 by construction.
            Some(head) => head.copy_from_slice(&[next, body as u8]),
            None => return false,
        }
        at += 2 + body;
    }
    at == out.len()
}

/// Per remote address: what connections learned about the path, bounded
/// to [`PATH_MEMORY_ENTRIES`] (the least recently updated goes first).
#[derive(Debug, Default)]
pub(crate) struct PathMemory {
    entries: HashMap<IpAddr, (PathState, Timestamp)>,
}

impl PathMemory {
    pub(crate) fn get(&self, ip: IpAddr) -> Option<PathState> {
        self.entries.get(&ip).map(|&(state, _)| state)
    }

    pub(crate) fn record(&mut self, ip: IpAddr, state: PathState, now: Timestamp) {
        if !self.entries.contains_key(&ip) && self.entries.len() >= PATH_MEMORY_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, &(_, updated))| updated)
                .map(|(&ip, _)| ip);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(ip, (state, now));
    }

    /// An ICMP "too big" for `ip`: nothing above `limit` passes.
    pub(crate) fn too_big(&mut self, config: &Config, ip: IpAddr, limit: usize, now: Timestamp) {
        let (floor, ceiling) = bounds(config, PeerInfo::udp(SocketAddr::new(ip, 0)));
        if !config.pmtu_discovery || floor >= ceiling {
            return;
        }
        let state = self.get(ip).unwrap_or(PathState {
            confirmed: floor,
            failed: None,
        });
        self.record(ip, too_big(state, floor, limit, now), now);
    }
}

/// The connection's side: hooks called from `conn/mod.rs` and the
/// endpoint.
impl Connection {
    /// Takes the size the search settled on.
    fn update_packet_size(&mut self) {
        let size = self.pmtu.current();
        if size != self.packet_size {
            crate::trace::conn_event!(
                self,
                from = self.packet_size,
                to = size,
                "packet size changed"
            );
            self.packet_size = size;
        }
    }

    /// Starts the search from what the endpoint remembers for the peer.
    pub(crate) fn pmtu_resume(&mut self, remembered: PathState, now: Timestamp) {
        self.pmtu.resume(remembered, now);
        self.update_packet_size();
    }

    /// What the search learned since the last call, for the endpoint's
    /// memory.
    pub(crate) fn pmtu_take_update(&mut self) -> Option<PathState> {
        self.pmtu.take_update()
    }

    /// Whether the datagram just emitted was a probe (and resets that).
    pub(crate) fn take_dont_fragment(&mut self) -> bool {
        core::mem::take(&mut self.pmtu.dont_fragment)
    }

    /// An ICMP "too big" for this connection's path: `limit` is the largest
    /// UDP payload. Packets already in flight keep their size when
    /// retransmitted (their sequence numbers cannot be split).
    pub(crate) fn on_packet_too_big(&mut self, limit: usize, now: Timestamp) {
        self.pmtu.on_too_big(limit, now);
        self.update_packet_size();
    }

    /// In `send_new`, for a full packet of `payload` bytes: if a probe is due and fits the congestion window, arms it
    /// and returns the payload to give it (the probe's size is padding on
    /// top).
    pub(super) fn plan_probe(
        &mut self,
        now: Timestamp,
        payload: usize,
        max_payload: usize,
        buf_len: usize,
    ) -> Option<usize> {
        if payload < max_payload {
            return None;
        }
        let size = self.pmtu.next_probe(now)?;
        if size > buf_len {
            return None;
        }
        let in_flight = self.in_flight.bytes();
        if in_flight + size > self.cc.window() && in_flight != 0
            || self.in_flight.len() >= MAX_PACKETS_IN_FLIGHT
        {
            return None;
        }
        // The padding must be a chain of SACKs (even, at least 6 bytes, not
        // 8): trim the payload to make it so.
        let mut payload = payload.min(size.checked_sub(HEADER_LEN + 6)?);
        if (size - HEADER_LEN - payload) % 2 != 0 {
            payload = payload.checked_sub(1)?;
        }
        while padding_layout(size - HEADER_LEN - payload).is_none() {
            payload = payload.checked_sub(2)?;
        }
        if payload == 0 {
            return None;
        }
        self.pmtu.armed = Some(size);
        Some(payload)
    }

    /// Takes the probe size armed by `plan_probe`, for `send_data_packet`.
    pub(super) fn take_armed_probe(&mut self) -> Option<usize> {
        self.pmtu.armed.take()
    }

    /// Emits DATA `seq` carrying stream bytes `[offset, offset + len)`,
    /// padded to `size` bytes with zero SACKs, no real SACK.
    pub(super) fn emit_probe(
        &mut self,
        now: Timestamp,
        seq: SeqNr,
        offset: u64,
        len: usize,
        size: usize,
        buf: &mut [u8],
    ) -> Option<usize> {
        let pad = size.checked_sub(HEADER_LEN + len)?;
        let out = buf.get_mut(..size)?;
        let repr = self.header(now, PacketType::Data, seq, self.recv.ack_nr(), None);
        let (head, rest) = out.split_at_mut(HEADER_LEN);
        repr.emit(head).ok()?;
        let (padding, payload) = rest.split_at_mut(pad);
        if !write_padding(padding, pad) || !self.send.copy_out(offset, payload) {
            return None;
        }
        // The first extension: a SACK.
        *head.get_mut(1)? = 1;
        self.after_send(now, repr.window_size as usize);
        self.ack_pending = false;
        self.full_packets_unacked = 0;
        self.snapshots = [None; ACK_SNAPSHOTS];
        self.pmtu.on_probe_sent(size);
        Some(size)
    }

    /// Applies what happened to the probe in flight (acked or lost) since
    /// the last call; returns whether it was lost (a loss that is no
    /// congestion signal).
    pub(super) fn pmtu_outcome(&mut self, now: Timestamp) -> bool {
        let lost = match self.in_flight.take_probe_outcome() {
            None => return false,
            Some(ProbeOutcome::Acked(size)) => {
                self.pmtu.on_probe_acked(size);
                false
            }
            Some(ProbeOutcome::Lost(size)) => {
                self.pmtu.on_probe_lost(size, now);
                // Its retransmission, the oldest packet in flight, goes
                // now; the cumulative ack waits for it, a round trip from
                // now (which with a deep queue can exceed the RTO counted
                // from the last cumulative ack).
                if self.rto_deadline.is_some() {
                    self.rto_deadline = Some(now + self.rtt.rto());
                }
                true
            }
        };
        self.update_packet_size();
        lost
    }

    /// The retransmission timer fired: if the probe is all that is
    /// outstanding, it was lost to the path MTU, not to congestion. Marks
    /// it lost (it goes again unpadded), re-arms the timer without backing
    /// off, and returns `true`; otherwise `false` and the caller handles a
    /// real timeout.
    pub(super) fn pmtu_probe_timeout(&mut self, now: Timestamp) -> bool {
        if !self.in_flight.mark_lone_probe_lost() {
            return false;
        }
        self.pmtu_outcome(now);
        self.rto_deadline = Some(now + self.rtt.rto());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> SocketAddr {
        "10.0.0.2:6000".parse().unwrap()
    }

    /// Runs the search against a path that carries sizes up to `path`
    /// (every probe above it lost); returns (final size, probes).
    fn search(config: &Config, path: usize) -> (usize, u64) {
        let mut p = Pmtu::new(config, PeerInfo::udp(v4()));
        let now = Timestamp::ZERO;
        while let Some(size) = p.next_probe(now) {
            p.on_probe_sent(size);
            if size <= path {
                p.on_probe_acked(size);
            } else {
                p.on_probe_lost(size, now);
            }
            assert!(p.probes_sent < 100, "no convergence");
        }
        (p.current(), p.probes_sent)
    }

    #[test]
    fn converges_within_the_granularity_in_bounded_probes() {
        let config = Config::default();
        // Link MTU 1280: 1252 passes.
        assert_eq!(search(&config, 1252), (1241, 11));
        // 1500: the ceiling at once.
        assert_eq!(search(&config, 1472), (1402, 1));
        // 576: nothing above the floor; 7 sizes fail twice each.
        assert_eq!(search(&config, 548), (548, 14));
        for path in 548..1500 {
            let (size, probes) = search(&config, path);
            let best = path.min(1402);
            assert!(size <= best && best - size <= GRANULARITY, "{path}: {size}");
            assert!(probes <= 14, "{path}: {probes} probes");
        }
    }

    #[test]
    fn one_loss_does_not_lower_the_bound() {
        let mut p = Pmtu::new(&Config::default(), PeerInfo::udp(v4()));
        let now = Timestamp::ZERO;
        assert_eq!(p.next_probe(now), Some(1402));
        p.on_probe_sent(1402);
        p.on_probe_lost(1402, now);
        assert_eq!(
            p.next_probe(now),
            Some(1402),
            "one loss: the same size again"
        );
        p.on_probe_sent(1402);
        p.on_probe_acked(1402);
        assert_eq!(p.current(), 1402);
        assert_eq!(p.next_probe(now), None);
        assert_eq!((p.probes_sent, p.probes_lost), (2, 1));
    }

    #[test]
    fn at_most_one_probe_in_flight() {
        let mut p = Pmtu::new(&Config::default(), PeerInfo::udp(v4()));
        let now = Timestamp::ZERO;
        let size = p.next_probe(now).unwrap_or(0);
        p.on_probe_sent(size);
        assert_eq!(p.next_probe(now), None);
    }

    #[test]
    fn disabled_means_the_configured_size_and_no_probe() {
        let config = Config {
            pmtu_discovery: false,
            ..Config::default()
        };
        let mut p = Pmtu::new(&config, PeerInfo::udp(v4()));
        assert_eq!(p.current(), 1402);
        assert_eq!(p.next_probe(Timestamp::ZERO), None);
        // IPv6 defaults: floor == ceiling, nothing to search.
        let mut p6 = Pmtu::new(
            &Config::default(),
            PeerInfo::udp("[2001:db8::1]:1".parse().unwrap_or(v4())),
        );
        assert_eq!(p6.current(), 1232);
        assert_eq!(p6.next_probe(Timestamp::ZERO), None);
    }

    #[test]
    fn failure_is_forgotten_after_the_reprobe_time() {
        let config = Config::default();
        let mut p = Pmtu::new(&config, PeerInfo::udp(v4()));
        let t0 = Timestamp::from_secs(1);
        for _ in 0..2 {
            p.on_probe_sent(1402);
            p.on_probe_lost(1402, t0);
        }
        assert_eq!(p.state.failed, Some((1402, t0)));
        assert_eq!(p.next_probe(t0), Some(975));
        p.on_probe_sent(975);
        p.on_probe_acked(975);
        let later = t0 + config.pmtu_reprobe;
        assert_eq!(p.next_probe(later), Some(1402), "upward again");
        assert_eq!(p.take_update().map(|s| s.failed), Some(None));
    }

    #[test]
    fn too_big_lowers_the_size_and_bounds_the_search() {
        let mut p = Pmtu::new(&Config::default(), PeerInfo::udp(v4()));
        let now = Timestamp::ZERO;
        p.on_probe_sent(1402);
        p.on_probe_acked(1402);
        p.on_too_big(1280 - 28, now);
        assert_eq!(p.current(), 1252);
        assert_eq!(p.next_probe(now), None);
        // Never below the floor.
        p.on_too_big(100, now);
        assert_eq!(p.current(), IPV4_FLOOR);
    }

    #[test]
    fn resume_from_memory() {
        let config = Config::default();
        let mut p = Pmtu::new(&config, PeerInfo::udp(v4()));
        let now = Timestamp::from_secs(5);
        p.resume(
            PathState {
                confirmed: 1241,
                failed: Some((1254, Timestamp::from_secs(1))),
            },
            now,
        );
        assert_eq!(p.current(), 1241);
        assert_eq!(p.next_probe(now), None, "nothing left to search");
        // A memory older than the reprobe time: the failure is forgotten.
        let mut q = Pmtu::new(&config, PeerInfo::udp(v4()));
        q.resume(
            PathState {
                confirmed: 1241,
                failed: Some((1254, Timestamp::ZERO)),
            },
            Timestamp::ZERO + config.pmtu_reprobe,
        );
        assert_eq!(
            q.next_probe(Timestamp::ZERO + config.pmtu_reprobe),
            Some(1402)
        );
    }

    #[test]
    fn padding_layouts_are_exact() {
        for pad in 0..=MAX_PADDING + 8 {
            let mut out = vec![0xaa; pad];
            let ok = write_padding(&mut out, pad);
            assert_eq!(ok, padding_layout(pad).is_some());
            if pad % 2 == 0 && (10..=7 * (2 + MAX_PAD_BODY)).contains(&pad) {
                assert!(ok, "{pad}");
            }
            if !ok {
                continue;
            }
            // Walk the chain as a parser would.
            let (mut at, mut count, mut next) = (0, 0, 1u8);
            while next != 0 {
                next = out[at];
                let len = usize::from(out[at + 1]);
                assert!(len % 4 == 0 && (4..=252).contains(&len), "{pad}: {len}");
                assert!(out[at + 2..at + 2 + len].iter().all(|&b| b == 0));
                at += 2 + len;
                count += 1;
            }
            assert_eq!(at, pad);
            assert!(count <= MAX_EXTENSIONS);
        }
    }

    #[test]
    fn memory_is_bounded_and_evicts_the_oldest() {
        let mut m = PathMemory::default();
        let state = PathState {
            confirmed: 1000,
            failed: None,
        };
        for i in 0..=PATH_MEMORY_ENTRIES as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            m.record(ip, state, Timestamp::from_secs(u64::from(i)));
        }
        assert_eq!(m.entries.len(), PATH_MEMORY_ENTRIES);
        assert_eq!(m.get(IpAddr::from([10, 0, 0, 0])), None);
        assert_eq!(m.get(IpAddr::from([10, 0, 0, 1])), Some(state));
    }
}
