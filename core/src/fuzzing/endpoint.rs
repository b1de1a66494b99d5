//! The `endpoint` target: one endpoint fed arbitrary times, datagrams and
//! API calls.

use super::{Input, Violation};
use crate::wire::{PacketRepr, SelectiveAck};

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
/// limit; with the first byte in 0xc8..=0xcf, connections with agreed
/// ids, SYNs carrying them, listening again with a SYN filter and not
/// listening, see `with_id_op`), with the SYN cookie mode and early data
/// picked by the input. Checks that nothing panics, that every datagram it
/// sends is valid, that buffers, connection and half-open counts stay within
/// the configuration, and that it does not spin.
pub fn endpoint(data: &[u8]) -> Result<(), Violation> {
    use crate::wire::{CloseReason as WireCloseReason, PacketType};
    use crate::{ConnHandle, Endpoint, ListenConfig, SeqNr, Timestamp};

    let mut input = Input { data };
    let seed = input.u32();
    // A first byte of 0xc8..=0xcf (which no input in the corpus had before
    // these calls existed, so theirs keep their meaning) turns operation 11
    // from nothing into the calls with agreed ids.
    let with_ids = seed >> 27 == 0xc8 >> 3;
    // The seed also picks the SYN cookie mode and early data.
    let config = crate::Config {
        syn_cookies: match seed % 3 {
            0 => crate::SynCookies::OnPressure,
            1 => crate::SynCookies::Always,
            _ => crate::SynCookies::Off,
        },
        // And which of two connections with a rendezvous peer stays.
        rendezvous_duplicates: match (seed >> 9) % 3 {
            0 => crate::DuplicateRule::LowerPort,
            1 => crate::DuplicateRule::KeepRendezvous,
            _ => crate::DuplicateRule::KeepBoth,
        },
        ..fuzz_config()
    };
    let mut ep = Endpoint::new(config.clone(), u64::from(seed));
    // Our port: below, equal to, between and above the peers' (2000, 3000,
    // 4000).
    ep.set_local_port(match (seed >> 11) % 4 {
        0 => 1999,
        1 => 2000,
        2 => 3500,
        _ => 5000,
    });
    // And a shared receive window: none, smaller than one share's floor,
    // or a few packets' worth.
    ep.set_recv_window_share(match (seed >> 13) % 3 {
        0 => None,
        1 => Some(1),
        _ => Some(20_000),
    });
    ep.listen(ListenConfig {
        backlog: 4,
        early_data: seed & 0x100 != 0,
        ..ListenConfig::default()
    });
    let mut now = Timestamp::from_secs(1);
    let mut handles: Vec<ConnHandle> = Vec::new();
    let mut seen: Vec<Seen> = Vec::new();
    let mut agreed: Vec<(u8, u16)> = Vec::new();
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
            11 if with_ids => {
                with_id_op(&mut input, &mut ep, now, &seen, &mut agreed, &mut handles)?
            }
            _ => {}
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

/// Operation 11 of the `endpoint` target when the input's first byte is
/// 0xc8..=0xcf (otherwise a no-op, as before these calls existed): the next
/// byte picks one
/// of the calls below by its low four bits; codes not yet used do nothing,
/// so new ones go there without renumbering. Ids are fresh, reused from an
/// earlier agreed id (for the same peer or another), next to an id the
/// endpoint sent with (its routes), or edge values; timeouts run from zero
/// to `Duration::MAX`. Checks that an agreed id that was just taken is
/// refused when asked for again, and that an expected connection whose
/// SYN comes at once (by the input) is connected by it.
///
/// - 0: `connect_with_id`;
/// - 1: `accept_with_id`;
/// - 2: a SYN carrying an agreed id, as `connect_with_id` sends it;
/// - 3: `listen` again with `ListenConfig::with_syn_filter`, deciding by
///   the SYN's id;
/// - 4: `unlisten`;
/// - 5: `connect_rendezvous` (twice: the second must be refused while the
///   first waits);
/// - 6: a SYN from a peer with a fuzzed id and sequence number (crossing a
///   rendezvous SYN, if one waits for that peer: a win, a loss or a draw).
fn with_id_op(
    input: &mut Input<'_>,
    ep: &mut crate::Endpoint,
    now: crate::Timestamp,
    seen: &[Seen],
    agreed: &mut Vec<(u8, u16)>,
    handles: &mut Vec<crate::ConnHandle>,
) -> Result<(), Violation> {
    use crate::{AcceptDecision, ListenConfig};

    match input.u8() % 16 {
        0 => {
            let (peer, id) = pick_agreed(input, seen, agreed);
            if let Ok(h) = ep.connect_with_id(now, fuzz_addr(peer), id) {
                remember(agreed, handles, (peer, id), h);
                if ep.connect_with_id(now, fuzz_addr(peer), id).is_ok() {
                    return Err(Violation(format!(
                        "connect_with_id({}, {id}) taken twice",
                        fuzz_addr(peer)
                    )));
                }
            }
        }
        1 => {
            let (peer, id) = pick_agreed(input, seen, agreed);
            let timeout = fuzz_timeout(input);
            if let Ok(h) = ep.accept_with_id(now, fuzz_addr(peer), id, timeout) {
                remember(agreed, handles, (peer, id), h);
                if ep.accept_with_id(now, fuzz_addr(peer), id, timeout).is_ok() {
                    return Err(Violation(format!(
                        "accept_with_id({}, {id}) taken twice",
                        fuzz_addr(peer)
                    )));
                }
                // Half the time its SYN comes at once: it must connect it.
                if input.u8() & 1 == 1 {
                    expected_syn(input, ep, now, peer, id);
                    let mut connected = false;
                    while let Some(e) = ep.poll_event() {
                        connected |= e == crate::Event::Connected(h);
                    }
                    if !connected {
                        return Err(Violation(format!(
                            "the SYN from {} with the id {id} just expected did not connect it",
                            fuzz_addr(peer)
                        )));
                    }
                }
            }
        }
        2 => {
            let (peer, id) = pick_agreed(input, seen, agreed);
            expected_syn(input, ep, now, peer, id);
        }
        3 => {
            let salt = input.u16();
            let mut listen =
                ListenConfig::with_syn_filter(move |syn| match (syn.connection_id ^ salt) % 3 {
                    0 => AcceptDecision::Accept,
                    1 => AcceptDecision::Refuse,
                    _ => AcceptDecision::Ignore,
                });
            let flags = input.u8();
            // Zero is invalid and taken as 1.
            listen.backlog = usize::from(flags % 8);
            listen.early_data = flags & 0x80 != 0;
            ep.listen(listen);
        }
        4 => ep.unlisten(),
        5 => {
            let (peer, _) = pick_agreed(input, seen, agreed);
            if let Ok(h) = ep.connect_rendezvous(now, fuzz_addr(peer)) {
                handles.push(h);
                let waiting = ep
                    .conn(h)
                    .is_some_and(|c| c.state() == crate::ConnState::Connecting);
                if waiting && ep.connect_rendezvous(now, fuzz_addr(peer)).is_ok() {
                    return Err(Violation(format!(
                        "two rendezvous with {} at once",
                        fuzz_addr(peer)
                    )));
                }
            }
        }
        6 => {
            let (peer, id) = pick_agreed(input, seen, agreed);
            let syn = crate::wire::PacketRepr {
                packet_type: crate::wire::PacketType::Syn,
                connection_id: id,
                timestamp: crate::time::WireTimestamp(input.u32()),
                timestamp_difference: crate::time::TimestampDiff(0),
                window_size: input.u32(),
                seq_nr: crate::SeqNr::new(input.u16()),
                ack_nr: crate::SeqNr::new(0),
                selective_ack: None,
                close_reason: None,
                payload: &[],
            };
            let mut buf = [0u8; 64];
            if let Ok(len) = syn.emit(&mut buf) {
                let _ = ep.handle_datagram(now, fuzz_addr(peer), buf.get(..len).unwrap_or(&[]));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Feeds the SYN `connect_with_id(us, id)` on `peer` sends, its other
/// fields from the input.
fn expected_syn(
    input: &mut Input<'_>,
    ep: &mut crate::Endpoint,
    now: crate::Timestamp,
    peer: u8,
    id: u16,
) {
    let repr = PacketRepr {
        packet_type: crate::wire::PacketType::Syn,
        connection_id: id,
        timestamp: crate::time::WireTimestamp(input.u32()),
        timestamp_difference: crate::time::TimestampDiff(0),
        window_size: u32::from(input.u16()) << (input.u8() % 16),
        seq_nr: crate::SeqNr::new(input.u16()),
        ack_nr: crate::SeqNr::new(0),
        selective_ack: None,
        close_reason: None,
        payload: &[],
    };
    let mut packet = [0u8; 64];
    if let Ok(len) = repr.emit(&mut packet) {
        let _ = ep.handle_datagram(now, fuzz_addr(peer), packet.get(..len).unwrap_or(&[]));
    }
}

/// A peer (an index for [`fuzz_addr`]) and a connection id for the calls
/// with agreed ids, picked to collide with routes often.
fn pick_agreed(input: &mut Input<'_>, seen: &[Seen], agreed: &[(u8, u16)]) -> (u8, u16) {
    let how = input.u8();
    let peer = input.u8();
    // -2..=2 around an id in use: the neighbours `connect_with_id` checks.
    let delta = u16::from(how >> 2 & 0x07).wrapping_sub(2);
    match how % 4 {
        0 => (peer, input.u16()),
        1 => match agreed.get(usize::from(peer) % agreed.len().max(1)) {
            // The same peer, or (every other time) another one.
            Some(&(p, id)) => (
                if how & 0x80 == 0 { p } else { peer },
                id.wrapping_add(delta),
            ),
            None => (peer, input.u16()),
        },
        2 => {
            let base = seen
                .get(usize::from(input.u8()) % seen.len().max(1))
                .map_or(0, |s| s.conn_id);
            (peer, base.wrapping_add(delta))
        }
        _ => {
            let edges = [0, 1, 0x7fff, 0xfffe, 0xffff];
            let id = edges.get(usize::from(how >> 2) % edges.len()).copied();
            (peer, id.unwrap_or(0))
        }
    }
}

/// A timeout for `accept_with_id`: zero, tiny, ordinary or huge.
pub(super) fn fuzz_timeout(input: &mut Input<'_>) -> core::time::Duration {
    use core::time::Duration;
    match input.u8() % 8 {
        0 => Duration::ZERO,
        1 => Duration::from_micros(1),
        2 => Duration::from_millis(u64::from(input.u16())),
        3 => Duration::from_secs(u64::from(input.u16())),
        4 => Duration::MAX,
        5 => Duration::from_secs(u64::MAX),
        6 => Duration::from_micros(u64::MAX),
        _ => Duration::from_secs(10),
    }
}

/// Keeps a new handle and its agreed id (both lists bounded).
fn remember(
    agreed: &mut Vec<(u8, u16)>,
    handles: &mut Vec<crate::ConnHandle>,
    id: (u8, u16),
    h: crate::ConnHandle,
) {
    if agreed.len() >= 16 {
        agreed.remove(0);
    }
    agreed.push(id);
    if handles.len() < 16 {
        handles.push(h);
    }
}
