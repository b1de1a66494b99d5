//! Checks shared by the fuzz targets (`fuzz/`) and the ordinary test suite.
//!
//! Each function here is the whole body of one cargo-fuzz target. It returns
//! an error instead of panicking, so the library stays panic-free; the fuzz
//! target turns an error into a crash, and `cargo test` replays the
//! checked-in corpus through the same function.

use core::fmt;

use crate::wire::{classify, DatagramKind, EmitError, PacketRepr, ParseError, SelectiveAck};

/// A violated invariant, described for the person who reads the crash.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// Body of the `wire` target: arbitrary bytes → parse → when it succeeds,
/// emit and parse again; both parses must be equal, and emitting the second
/// must give the same bytes as the first (the canonical form is a fixed
/// point). Packets that parse but are not emitted by design (a close reason
/// first, a SACK mask over 252 bytes) must fail to emit with exactly that
/// error. Also checks that [`classify`] agrees with `parse` (every packet
/// that parses is classified as uTP).
pub fn wire(data: &[u8]) -> Result<(), Violation> {
    let parsed = match PacketRepr::parse(data) {
        Ok(repr) => repr,
        Err(ParseError::TooShort | ParseError::BadVersion(_) | ParseError::UnknownType(_)) => {
            if classify(data) == DatagramKind::Utp {
                return Err(Violation(format!(
                    "classified as uTP but the header is invalid: {data:02x?}"
                )));
            }
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    if classify(data) != DatagramKind::Utp {
        return Err(Violation(format!(
            "parses but classified foreign: {data:02x?}"
        )));
    }
    // Two kinds of packet parse but are never emitted: a close reason
    // without a SACK before it, and a SACK mask of 253 to 255 bytes (legal on
    // the wire, but not a multiple of 4). Every other parsed packet must emit.
    let mut first = vec![0u8; parsed.buffer_len()];
    let len = match parsed.emit(&mut first) {
        Ok(len) => len,
        Err(EmitError::CloseReasonFirst) if parsed.selective_ack.is_none() => return Ok(()),
        Err(EmitError::SelectiveAckTooLong)
            if parsed
                .selective_ack
                .is_some_and(|s| s.mask().len() > SelectiveAck::MAX_MASK_LEN) =>
        {
            return Ok(())
        }
        Err(e) => return Err(Violation(format!("parsed {parsed:?} but emit failed: {e}"))),
    };
    if len != first.len() {
        return Err(Violation(format!(
            "emit wrote {len} bytes, buffer_len said {}",
            first.len()
        )));
    }
    let reparsed = PacketRepr::parse(&first)
        .map_err(|e| Violation(format!("emitted {first:02x?} does not parse: {e}")))?;
    if reparsed != parsed {
        return Err(Violation(format!(
            "round trip changed the packet:\n  {parsed:?}\n  {reparsed:?}"
        )));
    }
    let mut second = vec![0u8; reparsed.buffer_len()];
    match reparsed.emit(&mut second) {
        Ok(_) if second == first => Ok(()),
        Ok(_) => Err(Violation(format!(
            "canonical form is not a fixed point:\n  {first:02x?}\n  {second:02x?}"
        ))),
        Err(e) => Err(Violation(format!("re-emit failed: {e}"))),
    }
}

/// Reads fuzzer bytes as a stream of small decisions; runs dry as zeros.
pub(crate) struct Input<'a> {
    pub(crate) data: &'a [u8],
}

impl Input<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn bytes(&mut self, max: usize) -> &[u8] {
        let n = usize::from(self.u8()).min(max).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

const FUZZ_ADDRS: [&str; 3] = ["10.0.0.2:2000", "10.0.0.3:3000", "[2001:db8::1]:4000"];

fn fuzz_addr(i: u8) -> std::net::SocketAddr {
    let s = FUZZ_ADDRS
        .get(usize::from(i) % FUZZ_ADDRS.len())
        .copied()
        .unwrap_or("10.0.0.2:2000");
    s.parse()
        .unwrap_or(std::net::SocketAddr::from(([10, 0, 0, 2], 2000)))
}

/// Small limits so that the fuzzer reaches them.
fn fuzz_config() -> crate::Config {
    crate::Config {
        max_connections: 8,
        send_buffer: 16 * 1024,
        recv_buffer: 8 * 1024,
        reorder_window: 16,
        replies_per_second: 4,
        replies_per_source: 2,
        max_half_open: 4,
        syn_cookie_threshold: 2,
        memory_budget: 64 * 1024,
        ..crate::Config::default()
    }
}

/// What the endpoint sent, remembered so that later packets can answer it.
#[derive(Clone, Copy, Default)]
struct Seen {
    conn_id: u16,
    seq_nr: u16,
    ack_nr: u16,
}

/// Checks every datagram an endpoint sends: it must be valid uTP, no
/// longer than the configured packet size.
fn drain(
    ep: &mut crate::Endpoint,
    now: crate::Timestamp,
    buf: &mut [u8],
    seen: &mut Vec<Seen>,
) -> Result<usize, Violation> {
    let mut count = 0;
    while let Some(t) = ep.poll_transmit(now, buf) {
        count += 1;
        if count > 100_000 {
            return Err(Violation("poll_transmit never returns None".into()));
        }
        let bytes = buf.get(..t.len).unwrap_or(&[]);
        let packet = PacketRepr::parse(bytes).map_err(|e| {
            Violation(format!(
                "endpoint sent an invalid packet ({e}): {bytes:02x?}"
            ))
        })?;
        if t.len > ep.config().packet_size_for(&t.destination) {
            return Err(Violation(format!("datagram of {} bytes", t.len)));
        }
        if seen.len() < 64 {
            seen.push(Seen {
                conn_id: packet.connection_id,
                seq_nr: packet.seq_nr.get(),
                ack_nr: packet.ack_nr.get(),
            });
        }
    }
    while ep.poll_event().is_some() {}
    Ok(count)
}

/// Body of the `endpoint` target: one endpoint fed arbitrary times,
/// datagrams from a few addresses (raw, or built to answer what it sent)
/// and API calls in any order (connection calls, reset, close reasons and
/// rate caps; ICMP reports, winding the endpoint down, the socket-wide rate
/// limit), with the SYN cookie mode and early data
/// picked by the input. Checks that nothing panics, that every datagram it
/// sends is valid, that buffers, connection and half-open counts stay within
/// the configuration, and that it does not spin.
pub fn endpoint(data: &[u8]) -> Result<(), Violation> {
    use crate::wire::{CloseReason as WireCloseReason, PacketType};
    use crate::{ConnHandle, Endpoint, ListenConfig, SeqNr, Timestamp};

    let mut input = Input { data };
    let seed = input.u32();
    // The seed also picks the SYN cookie mode and early data.
    let config = crate::Config {
        syn_cookies: match seed % 3 {
            0 => crate::SynCookies::OnPressure,
            1 => crate::SynCookies::Always,
            _ => crate::SynCookies::Off,
        },
        ..fuzz_config()
    };
    let mut ep = Endpoint::new(config.clone(), u64::from(seed));
    ep.listen(ListenConfig {
        backlog: 4,
        early_data: seed & 0x100 != 0,
        ..ListenConfig::default()
    });
    let mut now = Timestamp::from_secs(1);
    let mut handles: Vec<ConnHandle> = Vec::new();
    let mut seen: Vec<Seen> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut packet_buf = vec![0u8; 2048];
    let mut read_buf = vec![0u8; 4096];
    let payload = [0x5au8; 1400];
    let mut steps = 0;
    while !input.is_empty() && steps < 2_000 {
        steps += 1;
        match input.u8() % 15 {
            0 => now += core::time::Duration::from_micros(u64::from(input.u16()) * 64),
            1 => {
                let from = fuzz_addr(input.u8());
                let raw = input.bytes(255).to_vec();
                let _ = ep.handle_datagram(now, from, &raw);
            }
            2..=4 => {
                // A packet answering something the endpoint sent.
                let from = fuzz_addr(input.u8());
                let pick = usize::from(input.u8());
                let base = seen
                    .get(pick % seen.len().max(1))
                    .copied()
                    .unwrap_or_default();
                let kind = input.u8();
                let packet_type = PacketType::from_nibble(kind % 5).unwrap_or(PacketType::State);
                let id_delta = [0u16, 1, 0xffff]
                    .get(usize::from(kind >> 5) % 3)
                    .copied()
                    .unwrap_or(0);
                let mask = [input.u8(), input.u8(), input.u8(), input.u8()];
                let with_sack = kind & 0x08 != 0;
                let plen = usize::from(input.u16() % 1400);
                let repr = PacketRepr {
                    packet_type,
                    connection_id: base.conn_id.wrapping_add(id_delta),
                    timestamp: crate::time::WireTimestamp(input.u32()),
                    timestamp_difference: crate::time::TimestampDiff(input.u32()),
                    window_size: u32::from(input.u16()) << (input.u8() % 16),
                    seq_nr: SeqNr::new(base.ack_nr.wrapping_add(input.u8().into()).wrapping_sub(2)),
                    ack_nr: SeqNr::new(base.seq_nr.wrapping_sub(input.u8().into()).wrapping_add(1)),
                    selective_ack: if with_sack {
                        SelectiveAck::new(&mask)
                    } else {
                        None
                    },
                    close_reason: if kind & 0x10 != 0 && with_sack {
                        Some(WireCloseReason(2))
                    } else {
                        None
                    },
                    payload: if packet_type == PacketType::Data || packet_type == PacketType::Fin {
                        payload.get(..plen).unwrap_or(&[])
                    } else {
                        &[]
                    },
                };
                if let Ok(len) = repr.emit(&mut packet_buf) {
                    let _ = ep.handle_datagram(now, from, packet_buf.get(..len).unwrap_or(&[]));
                }
            }
            5 => {
                if let Ok(h) = ep.connect(now, fuzz_addr(input.u8())) {
                    if handles.len() < 16 {
                        handles.push(h);
                    }
                }
            }
            6 => {
                if let Some(h) = ep.accept() {
                    if handles.len() < 16 {
                        handles.push(h);
                    }
                }
            }
            7 | 8 => {
                let h = handles
                    .get(usize::from(input.u8()) % handles.len().max(1))
                    .copied();
                let op = input.u8();
                if let Some(mut c) = h.and_then(|h| ep.conn(h)) {
                    match op % 9 {
                        0 | 1 => {
                            let n = usize::from(input.u16()) % payload.len();
                            let _ = c.write(payload.get(..n).unwrap_or(&[]));
                        }
                        2 => {
                            let _ = c.read(&mut read_buf);
                        }
                        3 => c.shutdown(),
                        4 => c.close(),
                        5 => c.abort(),
                        6 => c.reset(),
                        7 => c.set_close_reason(Some(u16::from(op))),
                        _ => c.set_max_send_rate(Some(u64::from(input.u16()) * 64)),
                    }
                    let stats = c.stats();
                    if stats.send_buffered > config.send_buffer
                        || stats.recv_buffered > config.recv_buffer
                    {
                        return Err(Violation(format!("buffers over their bounds: {stats:?}")));
                    }
                }
            }
            9 => {
                if let Some(t) = ep.poll_timeout() {
                    now = now.max(t);
                    ep.handle_timeout(now);
                }
            }
            10 => ep.handle_timeout(now),
            12 => ep.handle_unreachable(now, fuzz_addr(input.u8())),
            13 => ep.handle_packet_too_big(fuzz_addr(input.u8()).ip(), usize::from(input.u16())),
            14 => match input.u8() {
                // Rarely: the whole endpoint winds down.
                0 => ep.close_all(now),
                rate => ep.set_max_total_send_rate(Some(u64::from(rate) * 4096)),
            },
            _ => {
                drain(&mut ep, now, &mut buf, &mut seen)?;
            }
        }
        drain(&mut ep, now, &mut buf, &mut seen)?;
        // Half-open connections have their own cap.
        if ep.connection_count() > config.max_connections + config.max_half_open {
            return Err(Violation(format!("{} connections", ep.connection_count())));
        }
        if ep.stats().half_open > config.max_half_open as u64 {
            return Err(Violation(format!("{} half-open", ep.stats().half_open)));
        }
        if seen.len() >= 64 {
            seen.drain(..32);
        }
    }
    // Left alone, every timer eventually quiets down: no deadline in the
    // past that stays in the past after handling it.
    for _ in 0..10_000 {
        let Some(t) = ep.poll_timeout() else {
            return Ok(());
        };
        if t > now {
            now = t;
        }
        ep.handle_timeout(now);
        drain(&mut ep, now, &mut buf, &mut seen)?;
        if ep.poll_timeout().is_some_and(|next| next <= now) {
            return Err(Violation(format!(
                "deadline {t:?} stays due after handle_timeout"
            )));
        }
    }
    Ok(())
}

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
}

impl PairSide {
    /// Reads and checks what arrived from the peer (which wrote
    /// `peer_written` bytes and shut down if `peer_shut`), then writes as
    /// much as the connection takes if `may_write` (the side that writes
    /// first) or once it has heard from the peer; shuts down after its last
    /// byte. Releases the connection once it is closed and drained.
    #[allow(clippy::too_many_arguments)]
    fn pump(
        &mut self,
        ep: &mut crate::Endpoint,
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
                match c.write(chunk.get(..n).unwrap_or(&[])) {
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
    /// that never had a connection (B before a SYN arrived) is settled
    /// when the peer failed.
    fn settled(&self, peer: &PairSide) -> bool {
        if self.handle.is_none() {
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
pub fn pair(data: &[u8]) -> Result<(), Violation> {
    use crate::{Config, Endpoint, Event, ListenConfig, Timestamp};
    use core::time::Duration;

    let mut input = Input { data };
    let config = Config {
        send_buffer: 32 * 1024,
        recv_buffer: 16 * 1024,
        reorder_window: 32,
        keepalive: Some(Duration::from_secs(10)),
        idle_timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let a_addr: std::net::SocketAddr = std::net::SocketAddr::from(([10, 0, 0, 1], 1000));
    let b_addr: std::net::SocketAddr = std::net::SocketAddr::from(([10, 0, 0, 2], 2000));
    let mut a = Endpoint::new(config.clone(), u64::from(input.u16()));
    let mut b = Endpoint::new(config, u64::from(input.u16()) + 1);
    b.listen(ListenConfig::default());
    let mut sa = PairSide {
        total: usize::from(input.u16()) * 2,
        ..PairSide::default()
    };
    let acceptor_first = input.u8() & 1 == 1;
    let mut sb = PairSide {
        total: usize::from(input.u16()) * 2,
        ..PairSide::default()
    };
    let mut now = Timestamp::from_secs(1);
    let Ok(ha) = a.connect(now, b_addr) else {
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
    for _ in 0..200_000 {
        // Application: both read, both write (the first writer at once).
        if sb.handle.is_none() {
            sb.handle = b.accept();
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
                    "stalled at {now:?} (acceptor first: {acceptor_first}):\n  A {sa:?}\n  B {sb:?}"
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
                if PacketRepr::parse(bytes).is_err() {
                    return Err(Violation(format!("invalid datagram {bytes:02x?}")));
                }
                if t.len > ep.config().packet_size_for(&t.destination) {
                    return Err(Violation(format!("datagram of {} bytes", t.len)));
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
                if let Event::Closed(h, reason) = e {
                    if side.handle == Some(h) {
                        side.closed = Some(reason);
                    }
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
            stop = true;
            continue;
        };
        now = now.max(next);
        let mut i = 0;
        while i < network.len() {
            if network.get(i).is_some_and(|(t, _, _)| *t <= now) {
                let (_, to_b, bytes) = network.swap_remove(i);
                let (ep, from) = if to_b {
                    (&mut b, a_addr)
                } else {
                    (&mut a, b_addr)
                };
                let _ = ep.handle_datagram(now, from, &bytes);
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

/// Body of the `manager` target: the bytes pick a small
/// [`ManagerConfig`](crate::manager::ManagerConfig) and then a sequence of
/// calls (candidates, permanent peers, dial outcomes, inbound connections,
/// progress reports, disconnects with and without a peer code, time jumps,
/// timeouts, reports about unknown ids), run twice to check the outputs are
/// the same. After every call: no cap exceeded (dials in flight, automatic
/// outbound over the target, inbound total, per IP, per subnet, candidates,
/// permanent peers, history, output queue), no automatic dial of an address
/// within its redial window, no permanent dial within its backoff, no
/// established connection kept at or past its stall deadline and none
/// dropped before it, a reason for every disconnect, the counters equal to
/// the tables, `poll` ends.
pub fn manager(data: &[u8]) -> Result<(), Violation> {
    crate::manager::fuzz::run(data)
}
