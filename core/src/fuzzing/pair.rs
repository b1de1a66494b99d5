//! The `pair` target: two endpoints over a network the fuzzer controls,
//! each checking the bytes the other wrote.

use super::{Input, Violation};
use crate::config::MIN_PACKET_SIZE;
use crate::wire::{PacketRepr, PacketType};
use crate::{Endpoint, Peer};

/// The byte at `pos` of the stream the `pair` target sends from A
/// (`from_a`) or from B.
fn pair_byte(from_a: bool, pos: usize) -> u8 {
    let b = (pos as u8).wrapping_mul(7) ^ (pos >> 8) as u8;
    if from_a {
        b
    } else {
        b.wrapping_add(0x5b) ^ (pos >> 16) as u8
    }
}

/// One end of the `pair` target.
#[derive(Debug, Default)]
struct PairSide {
    handle: Option<crate::ConnHandle>,
    /// Bytes this side writes.
    total: usize,
    written: usize,
    shut: bool,
    /// Bytes read from the peer, all checked.
    received: usize,
    eof: bool,
    /// The reason of the `Closed` event, once seen.
    closed: Option<crate::CloseReason>,
    /// `close()` called (after `Closed`, once everything was read).
    released: bool,
    /// The connection was expected (`accept_with_id`), and whether its
    /// `Connected` came.
    expected: bool,
    connected: bool,
}

impl PairSide {
    /// Reads and checks what arrived from the peer (which wrote
    /// `peer_written` bytes and shut down if `peer_shut`), then writes as
    /// much as the connection takes if `may_write` (the side that writes
    /// first) or once it has heard from the peer; shuts down after its last
    /// byte. Releases the connection once it is closed and drained.
    #[allow(clippy::too_many_arguments)]
    fn pump<P: Peer>(
        &mut self,
        ep: &mut crate::Endpoint<P>,
        is_a: bool,
        may_write: bool,
        peer_written: usize,
        peer_shut: bool,
        read_buf: &mut [u8],
        chunk: &mut [u8],
    ) -> Result<(), Violation> {
        let name = if is_a { "A" } else { "B" };
        let Some(mut c) = self.handle.and_then(|h| ep.conn(h)) else {
            return Ok(());
        };
        let mut drained = false;
        loop {
            match c.read(read_buf) {
                Ok(0) => {
                    if !self.eof && (self.received != peer_written || !peer_shut) {
                        return Err(Violation(format!(
                            "{name} read eof after {} of {peer_written} bytes (peer shut down: {peer_shut})",
                            self.received
                        )));
                    }
                    self.eof = true;
                    drained = true;
                    break;
                }
                Ok(n) => {
                    for (i, &byte) in read_buf.iter().take(n).enumerate() {
                        let pos = self.received + i;
                        if pos >= peer_written {
                            return Err(Violation(format!(
                                "{name} read byte {pos}, but the peer wrote only {peer_written}"
                            )));
                        }
                        if byte != pair_byte(!is_a, pos) {
                            return Err(Violation(format!("{name} read byte {pos} wrong")));
                        }
                    }
                    self.received += n;
                }
                Err(crate::Error::Closed(_)) => {
                    drained = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if may_write || self.received > 0 || self.eof {
            while self.written < self.total {
                let n = (self.total - self.written).min(chunk.len());
                for (i, byte) in chunk.iter_mut().take(n).enumerate() {
                    *byte = pair_byte(is_a, self.written + i);
                }
                let data = chunk.get(..n).unwrap_or(&[]);
                // Every other stretch of the stream goes through
                // `write_bytes` (queued, not copied), the rest through
                // `write`.
                let written = if (self.written / 3000) % 2 == 1 {
                    c.write_bytes(&mut bytes::Bytes::copy_from_slice(data))
                } else {
                    c.write(data)
                };
                match written {
                    Ok(k) => self.written += k,
                    Err(_) => break,
                }
            }
            if self.written == self.total && !self.shut {
                c.shutdown();
                self.shut = true;
            }
        }
        if self.closed.is_some() && drained && !self.released {
            c.close();
            self.released = true;
        }
        Ok(())
    }

    /// [`Event::Duplicate`](crate::Event::Duplicate) with both kept (the
    /// rule could not decide: no local port): this side's application
    /// chooses, as one must. A rendezvous that connected stays and the
    /// accepted connection goes; one still waiting gives way to the accepted
    /// connection, which holds what the peer sent and gets this side's
    /// stream from its start (nothing left the waiting rendezvous).
    fn choose<P: Peer>(&mut self, ep: &mut crate::Endpoint<P>, accepted: crate::ConnHandle) {
        // Out of the backlog (only the peer's connections are there).
        while let Some(h) = ep.accept() {
            if h == accepted {
                break;
            }
            if let Some(mut c) = ep.conn(h) {
                c.abort();
            }
        }
        if self.connected {
            if let Some(mut c) = ep.conn(accepted) {
                c.abort();
            }
            return;
        }
        if let Some(mut c) = self.handle.and_then(|h| ep.conn(h)) {
            c.close();
        }
        *self = PairSide {
            handle: Some(accepted),
            total: self.total,
            expected: true,
            connected: true,
            ..PairSide::default()
        };
    }

    /// Everything the peer wrote was read (and its EOF, if it shut down).
    fn delivered(&self, peer: &PairSide) -> bool {
        self.received == peer.written && (!peer.shut || self.eof)
    }

    /// The connection ended with an error (not a clean finish).
    fn failed(&self) -> bool {
        self.closed
            .is_some_and(|r| r != crate::CloseReason::Finished)
    }

    /// Liveness: this side got everything or knows it will not. A side
    /// that never had a connection (B before a SYN arrived, or expecting
    /// one that never came) is settled when the peer failed.
    fn settled(&self, peer: &PairSide) -> bool {
        if self.handle.is_none() || (self.expected && !self.connected) {
            return peer.failed();
        }
        self.delivered(peer) || self.failed()
    }
}

/// How long the `pair` target runs on after its input is used up (a clean
/// network from then on): far more than a retransmission at the largest
/// RTO, the idle timeout and the linger time.
const PAIR_CLEAN_RUN: core::time::Duration = core::time::Duration::from_secs(600);

/// Body of the `pair` target: two endpoints under a network whose every
/// decision (delay, drop, duplicate) the fuzzer makes. A connects to B; both
/// write a known stream (the input's sizes), one first and the other once it
/// has read something (B first in half of the runs, by the input); each shuts
/// down after its last byte. Checks that what each reads is always a prefix
/// of what the other wrote, and all of it once it sees the end of the
/// stream; that every datagram sent is valid; that nothing spins. Liveness:
/// once the input is used up the network delivers everything after 10 ms,
/// and within 600 s of simulated time each side must have read everything the
/// other wrote (and its EOF) or have its connection closed with an error; if
/// both read everything and shut down, both connections must be closed.
///
/// With the input's seventh byte in 0x58..=0x5f (which no input in the
/// corpus had before, so theirs keep their meaning; its lowest bit still
/// says who writes first), the peers are `Node`s whose carrier takes
/// packets of a size the input picks (below [`MIN_PACKET_SIZE`] too), and
/// the two agree on a connection id (`WithId`): A calls
/// `connect_with_id`, B `accept_with_id` with a fuzzed timeout (from zero
/// to `Duration::MAX`), at once or some rounds later, listening meanwhile
/// or not. The same checks hold, and also: no datagram is larger than the
/// carrier takes (nor [`MIN_PACKET_SIZE`], whatever it says), the SYN
/// carries the agreed id and each side sends on its own, and B's listener
/// never sees a SYN its expected connection takes.
///
/// With the seventh byte in 0x04..=0x07 (values no earlier input had), A
/// and B connect by rendezvous (`connect_rendezvous`), B some rounds after
/// A (the next byte), listening meanwhile (bit 1) or not; the same checks
/// hold.
pub fn pair(data: &[u8]) -> Result<(), Violation> {
    let mut input = Input { data };
    let seeds = (u64::from(input.u16()), u64::from(input.u16()) + 1);
    let total_a = usize::from(input.u16()) * 2;
    let mode = input.u8();
    let total_b = usize::from(input.u16()) * 2;
    let sides = (
        PairSide {
            total: total_a,
            ..PairSide::default()
        },
        PairSide {
            total: total_b,
            ..PairSide::default()
        },
    );
    let acceptor_first = mode & 1 == 1;
    let a_addr = std::net::SocketAddr::from(([10, 0, 0, 1], 1000));
    let b_addr = std::net::SocketAddr::from(([10, 0, 0, 2], 2000));
    if mode & 0xfc == 0x04 {
        // Rendezvous (mode 0x04..=0x07, values no corpus file from before
        // it has: theirs keep their meaning): both connect, B some rounds
        // after A, listening meanwhile (bit 1) or not.
        let rendezvous = Rendezvous {
            delay: input.u8(),
            listen: mode & 0x02 != 0,
        };
        return run(
            input,
            seeds,
            sides,
            acceptor_first,
            (a_addr, b_addr),
            Mode::Rendezvous(rendezvous),
        );
    }
    if mode & 0xf8 != 0x58 {
        return run(
            input,
            seeds,
            sides,
            acceptor_first,
            (a_addr, b_addr),
            Mode::Plain,
        );
    }
    let with_id = WithId {
        id: input.u16(),
        timeout: super::endpoint::fuzz_timeout(&mut input),
        delay: if mode & 0x04 != 0 { input.u8() } else { 0 },
        listen: mode & 0x02 != 0,
    };
    let a_node = Node {
        id: 1,
        max_packet: carrier_size(input.u16()),
    };
    let b_node = Node {
        id: 2,
        max_packet: carrier_size(input.u16()),
    };
    run(
        input,
        seeds,
        sides,
        acceptor_first,
        (a_node, b_node),
        Mode::WithId(with_id),
    )
}

/// How the `pair` target's peers connect.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// A connects, B listens and accepts.
    Plain,
    /// With an agreed id.
    WithId(WithId),
    /// Both connect by rendezvous.
    Rendezvous(Rendezvous),
}

/// How the `pair` target's peers meet by rendezvous.
#[derive(Clone, Copy, Debug)]
struct Rendezvous {
    /// Rounds before B calls `connect_rendezvous`.
    delay: u8,
    /// B listens meanwhile (A's SYN may make a connection there first).
    listen: bool,
}

/// A peer of the `pair` target over a carrier that is not UDP: a node id
/// and the largest packet its carrier takes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Node {
    id: u8,
    max_packet: Option<usize>,
}

impl Peer for Node {
    fn max_packet_size(&self) -> Option<usize> {
        self.max_packet
    }
}

/// A carrier's packet size from two input bytes: none, zero, just below
/// [`MIN_PACKET_SIZE`], unbounded, or anything up to 8 KiB.
fn carrier_size(v: u16) -> Option<usize> {
    match v >> 13 {
        0 => None,
        1 => Some(0),
        2 => Some(MIN_PACKET_SIZE - 1),
        3 => Some(usize::MAX),
        _ => Some(usize::from(v & 0x1fff)),
    }
}

/// How the `pair` target's peers agree on a connection id.
#[derive(Clone, Copy, Debug)]
struct WithId {
    id: u16,
    /// B's `accept_with_id` timeout.
    timeout: core::time::Duration,
    /// Rounds before B calls `accept_with_id` (A's SYN may come first).
    delay: u8,
    /// B listens meanwhile, with a filter that refuses the agreed id.
    listen: bool,
}

/// The `pair` target's run, for either peer type: `peers` are A and B as
/// the other sees them.
fn run<P: Peer>(
    mut input: Input<'_>,
    seeds: (u64, u64),
    (mut sa, mut sb): (PairSide, PairSide),
    acceptor_first: bool,
    (a_peer, b_peer): (P, P),
    mode: Mode,
) -> Result<(), Violation> {
    let with_id = match mode {
        Mode::WithId(w) => Some(w),
        _ => None,
    };
    let rendezvous = match mode {
        Mode::Rendezvous(r) => Some(r),
        _ => None,
    };
    use crate::{AcceptDecision, Config, Event, ListenConfig, Timestamp};
    use core::time::Duration;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let config = Config {
        send_buffer: 32 * 1024,
        recv_buffer: 16 * 1024,
        reorder_window: 32,
        keepalive: Some(Duration::from_secs(10)),
        idle_timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut a = Endpoint::<P>::with_peer_type(config.clone(), seeds.0);
    let mut b = Endpoint::<P>::with_peer_type(config, seeds.1);
    // Times B's filter was asked about the agreed id.
    let filtered = Arc::new(AtomicUsize::new(0));
    let mut now = Timestamp::from_secs(1);
    let connected = match with_id {
        None if rendezvous.is_some() => {
            if rendezvous.is_some_and(|r| r.listen) {
                b.listen(ListenConfig::default());
            }
            sa.expected = true;
            sb.expected = true;
            a.connect_rendezvous(now, b_peer.clone())
        }
        None => {
            b.listen(ListenConfig::default());
            a.connect(now, b_peer.clone())
        }
        Some(w) => {
            if w.listen {
                let asked = Arc::clone(&filtered);
                b.listen(ListenConfig::with_syn_filter(move |syn| {
                    if syn.connection_id == w.id {
                        asked.fetch_add(1, Ordering::Relaxed);
                        AcceptDecision::Refuse
                    } else {
                        AcceptDecision::Accept
                    }
                }));
            }
            sb.expected = true;
            a.connect_with_id(now, b_peer.clone(), w.id)
        }
    };
    let Ok(ha) = connected else {
        return Err(Violation("connect failed on an empty endpoint".into()));
    };
    sa.handle = Some(ha);
    // (arrival, to B?, datagram)
    let mut network: Vec<(Timestamp, bool, Vec<u8>)> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut read_buf = vec![0u8; 8192];
    let mut chunk = vec![0u8; 8192];
    let mut sent = 0usize;
    let mut clean_until: Option<Timestamp> = None;
    let mut stop = false;
    // Rendezvous: B calls now, whatever its delay.
    let mut b_due = false;
    for round in 0..200_000u32 {
        // Application: both read, both write (the first writer at once).
        match with_id {
            Some(w) if sb.handle.is_none() && round >= u32::from(w.delay) => {
                match b.accept_with_id(now, a_peer.clone(), w.id, w.timeout) {
                    Ok(h) => sb.handle = Some(h),
                    Err(e) => {
                        return Err(Violation(format!(
                            "accept_with_id failed on an endpoint without connections: {e}"
                        )))
                    }
                }
            }
            Some(_) => {}
            None => match rendezvous {
                // (Or once the input is used up: while A only probes a
                // window B's unadopted connection keeps shut, rounds come
                // every few seconds, and 255 of them would outlast the run.)
                Some(r)
                    if sb.handle.is_none()
                        && (round >= u32::from(r.delay) || b_due || clean_until.is_some()) =>
                {
                    match b.connect_rendezvous(now, a_peer.clone()) {
                        Ok(h) => sb.handle = Some(h),
                        Err(e) => {
                            return Err(Violation(format!(
                                "connect_rendezvous failed on an endpoint with no other: {e}"
                            )))
                        }
                    }
                }
                Some(_) => {}
                None if sb.handle.is_none() => sb.handle = b.accept(),
                None => {}
            },
        }
        let (bw, bs) = (sb.written, sb.shut);
        sa.pump(
            &mut a,
            true,
            !acceptor_first,
            bw,
            bs,
            &mut read_buf,
            &mut chunk,
        )?;
        let (aw, ashut) = (sa.written, sa.shut);
        sb.pump(
            &mut b,
            false,
            acceptor_first,
            aw,
            ashut,
            &mut read_buf,
            &mut chunk,
        )?;
        let both_delivered = sa.delivered(&sb) && sb.delivered(&sa) && sa.shut && sb.shut;
        if both_delivered && sa.closed.is_some() && sb.closed.is_some() {
            return Ok(());
        }
        if stop {
            if !(sa.settled(&sb) && sb.settled(&sa)) {
                return Err(Violation(format!(
                    "stalled at {now:?} (acceptor first: {acceptor_first}, {mode:?}):\n  A {sa:?}\n  B {sb:?}"
                )));
            }
            if both_delivered {
                return Err(Violation(format!(
                    "everything delivered and both shut down, but not closed at {now:?}:\n  A {sa:?}\n  B {sb:?}"
                )));
            }
            return Ok(());
        }
        // Output: every datagram gets its fate from the input; an exhausted
        // input delivers everything after 10 ms.
        for (ep, to_b) in [(&mut a, true), (&mut b, false)] {
            while let Some(t) = ep.poll_transmit(now, &mut buf) {
                let bytes = buf.get(..t.len).unwrap_or(&[]);
                let Ok(packet) = PacketRepr::parse(bytes) else {
                    return Err(Violation(format!("invalid datagram {bytes:02x?}")));
                };
                let carrier = t
                    .destination
                    .max_packet_size()
                    .map(|m| m.max(MIN_PACKET_SIZE));
                if t.len > ep.config().packet_size_for(&t.destination)
                    || carrier.is_some_and(|max| t.len > max)
                {
                    return Err(Violation(format!(
                        "datagram of {} bytes to {:?}",
                        t.len, t.destination
                    )));
                }
                if let Some(w) = with_id {
                    check_ids(&packet, to_b, w.id)?;
                }
                let fate = input.u8();
                let delay = Duration::from_millis(10 + u64::from(fate & 0x3f));
                let copies = match fate >> 6 {
                    1 if network.len() < 512 => 0,
                    2 => 2,
                    _ => 1,
                };
                for _ in 0..copies {
                    if network.len() < 1024 {
                        network.push((now + delay, to_b, bytes.to_vec()));
                    }
                }
                sent += 1;
                if sent > 1_000_000 {
                    return Err(Violation("endless output".into()));
                }
            }
            let side = if to_b { &mut sa } else { &mut sb };
            while let Some(e) = ep.poll_event() {
                match e {
                    Event::Closed(h, reason) if side.handle == Some(h) => {
                        side.closed = Some(reason);
                    }
                    Event::Connected(h) if side.handle == Some(h) => side.connected = true,
                    Event::Duplicate {
                        rendezvous,
                        accepted,
                        kept: None,
                    } if side.handle == Some(rendezvous) => side.choose(ep, accepted),
                    _ => {}
                }
            }
        }
        if input.is_empty() && clean_until.is_none() {
            clean_until = Some(now + PAIR_CLEAN_RUN);
        }
        // Time: the next arrival or deadline; with nothing left to happen,
        // or at the end of the clean run, the next round is the last.
        let next_net = network.iter().map(|(t, _, _)| *t).min();
        let next = [next_net, a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next.filter(|&t| clean_until.is_none_or(|end| t <= end)) else {
            // A rendezvous B that has not called yet calls now: the run
            // ends only after both did.
            if rendezvous.is_some() && sb.handle.is_none() {
                b_due = true;
                continue;
            }
            stop = true;
            continue;
        };
        now = now.max(next);
        let mut i = 0;
        while i < network.len() {
            if network.get(i).is_some_and(|(t, _, _)| *t <= now) {
                let (_, to_b, bytes) = network.swap_remove(i);
                if to_b {
                    let expecting = sb.handle.and_then(|h| b.conn(h)).is_some();
                    let asked = filtered.load(Ordering::Relaxed);
                    let _ = b.handle_datagram(now, a_peer.clone(), &bytes);
                    if expecting && filtered.load(Ordering::Relaxed) != asked {
                        return Err(Violation(format!(
                            "B's filter saw the agreed SYN while its expected connection lived: {bytes:02x?}"
                        )));
                    }
                } else {
                    let _ = a.handle_datagram(now, b_peer.clone(), &bytes);
                }
            } else {
                i += 1;
            }
        }
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    Err(Violation(format!(
        "no end after 200000 rounds at {now:?}:\n  A {sa:?}\n  B {sb:?}"
    )))
}

/// With an agreed id: A's SYN carries it, A then sends on `id + 1` and B
/// on `id` (RESETs, which answer what came, aside).
fn check_ids(packet: &PacketRepr<'_>, from_a: bool, id: u16) -> Result<(), Violation> {
    let want = match packet.packet_type {
        PacketType::Reset => return Ok(()),
        PacketType::Syn if from_a => id,
        _ if from_a => id.wrapping_add(1),
        _ => id,
    };
    if packet.connection_id != want {
        return Err(Violation(format!(
            "{} sent {:?} with id {}, agreed {id}",
            if from_a { "A" } else { "B" },
            packet.packet_type,
            packet.connection_id
        )));
    }
    Ok(())
}
