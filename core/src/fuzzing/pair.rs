//! The `pair` target: two endpoints over a network the fuzzer controls,
//! each checking the bytes the other wrote.

use super::{Input, Violation};
use crate::wire::PacketRepr;

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
