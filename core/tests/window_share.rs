//! The receive window the connections of one endpoint share
//! (`Endpoint::set_recv_window_share`): while it is set, each receiving
//! connection advertises at most its part, the data still arrives whole,
//! and lifting it gives each its own window back. Both directions: the
//! acceptor receiving, and the connector receiving from an acceptor that
//! writes first.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use utp_core::wire::PacketType;
use utp_core::{Config, ConnHandle};

const CONNS: usize = 4;
const EACH: usize = 150_000;
const SHARE: usize = 64 * 1024;

/// Moves `EACH` bytes over each of `CONNS` connections at once, towards B
/// (`b_receives`) or towards A, with `SHARE` shared on the receiver;
/// returns the pair, and where in its log the share began.
fn shared_transfer(b_receives: bool) -> (Pair, usize) {
    let mut pair = Pair::default_pair();
    let conns: Vec<(ConnHandle, ConnHandle)> = (0..CONNS).map(|_| pair.connect()).collect();
    let from = pair.log.len();
    pair.side(b_receives).set_recv_window_share(Some(SHARE));
    assert_eq!(pair.side(b_receives).recv_window_share(), Some(SHARE));
    let data: Vec<Vec<u8>> = (0..CONNS).map(|i| pattern(EACH, i as u8)).collect();
    let mut written = [0; CONNS];
    let mut received = vec![Vec::new(); CONNS];
    let mut eof = [false; CONNS];
    let mut buf = vec![0u8; 65536];
    pair.run_while(Duration::from_secs(60), |p| {
        for (i, &(ha, hb)) in conns.iter().enumerate() {
            let (w, r) = if b_receives { (ha, hb) } else { (hb, ha) };
            if written[i] < EACH {
                if let Ok(n) = p
                    .side(!b_receives)
                    .conn(w)
                    .unwrap()
                    .write(&data[i][written[i]..])
                {
                    written[i] += n;
                }
                if written[i] == EACH {
                    p.side(!b_receives).conn(w).unwrap().shutdown();
                }
            }
            while !eof[i] {
                match p.side(b_receives).conn(r).map(|mut c| c.read(&mut buf)) {
                    Some(Ok(0)) => eof[i] = true,
                    Some(Ok(n)) => received[i].extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
        }
        p.flush();
        !eof.iter().all(|&e| e)
    });
    for i in 0..CONNS {
        assert!(
            received[i] == data[i],
            "connection {i}: the bytes sent, whole"
        );
    }
    (pair, from)
}

/// The windows the receiver advertised in its acks, with whether every
/// connection had received data (so counted as receiving) when each left,
/// from log entry `from` on.
fn acks(pair: &Pair, b_receives: bool, from: usize) -> Vec<(bool, u32)> {
    let (sender, receiver) = if b_receives { (A, B) } else { (B, A) };
    let mut out = Vec::new();
    for w in pair.log[from..].iter().filter(|w| w.from == addr(receiver)) {
        let p = w.packet();
        if p.packet_type != PacketType::State {
            continue;
        }
        let arrived: HashSet<u16> = pair
            .wire_from(sender)
            .into_iter()
            .filter(|d| d.ty() == PacketType::Data && d.sent_at + pair.latency <= w.sent_at)
            .map(|d| d.packet().connection_id)
            .collect();
        out.push((arrived.len() == CONNS, p.window_size));
    }
    out
}

/// Which side writes and which reads, in one direction.
struct Roles {
    /// B reads (A writes); else A reads what B writes.
    b_receives: bool,
    w: ConnHandle,
    r: ConnHandle,
    writer: &'static str,
    receiver: &'static str,
}

impl Roles {
    fn new(b_receives: bool, (ha, hb): (ConnHandle, ConnHandle)) -> Roles {
        if b_receives {
            Roles {
                b_receives,
                w: ha,
                r: hb,
                writer: A,
                receiver: B,
            }
        } else {
            Roles {
                b_receives,
                w: hb,
                r: ha,
                writer: B,
                receiver: A,
            }
        }
    }
}

/// Writes `data` on the writer, runs 200 ms and reads it all back, exact;
/// returns the log length and the time before the write.
fn send_through(pair: &mut Pair, roles: &Roles, data: &[u8]) -> (usize, utp_core::Timestamp) {
    let before = (pair.log.len(), pair.now);
    let conn = pair
        .side(!roles.b_receives)
        .conn(roles.w)
        .unwrap()
        .write(data);
    assert_eq!(conn, Ok(data.len()));
    pair.run_until(pair.now + ms(200));
    let mut buf = vec![0u8; data.len() + 1];
    let n = pair
        .side(roles.b_receives)
        .conn(roles.r)
        .unwrap()
        .read(&mut buf);
    assert_eq!(n, Ok(data.len()));
    assert!(buf[..data.len()] == *data, "the bytes written, exact");
    before
}

/// The STATEs `from` sent from log entry `at` on.
fn states_after<'p>(pair: &'p Pair, from: &str, at: usize) -> Vec<&'p Wire> {
    pair.log[at..]
        .iter()
        .filter(|w| w.from == addr(from) && w.ty() == PacketType::State)
        .collect()
}

fn check_share(b_receives: bool) {
    let (mut pair, from) = shared_transfer(b_receives);
    let acks = acks(&pair, b_receives, from);
    let all = acks.iter().filter(|(all, _)| *all).count();
    assert!(all > 100, "acks while all four received: {all}");
    for &(all, window) in &acks {
        // Never more than the whole share; a quarter of it once all four
        // count as receiving.
        assert!(window as usize <= SHARE, "{window}");
        if all {
            assert!(window as usize <= SHARE / CONNS, "{window}");
        }
    }
    // A connection that was squeezed hard still got full-size windows.
    assert!(acks
        .iter()
        .any(|&(all, w)| all && w as usize > SHARE / CONNS - 2_000));

    // Lifted: a new connection advertises its whole buffer again (the ack
    // of 3000 bytes not yet read: all the rest of it).
    pair.side(b_receives).set_recv_window_share(None);
    let roles = Roles::new(b_receives, pair.connect());
    let (from, _) = send_through(&mut pair, &roles, &[1; 3000]);
    let window = states_after(&pair, roles.receiver, from)
        .iter()
        .map(|w| w.packet().window_size)
        .max()
        .unwrap();
    assert_eq!(window as usize, Config::default().recv_buffer - 3000);
}

#[test]
fn the_acceptor_receiving_shares_its_window() {
    check_share(true);
}

#[test]
fn the_connector_receiving_from_an_acceptor_writing_first_shares_its_window() {
    check_share(false);
}

#[test]
fn without_a_share_each_connection_advertises_its_own_buffer() {
    let mut pair = Pair::default_pair();
    let (ha, _hb) = pair.connect();
    pair.a.conn(ha).unwrap().write(&[5; 20_000]).unwrap();
    pair.run_until(pair.now + ms(200));
    assert_eq!(pair.b.recv_window_share(), None);
    let smallest = pair
        .wire_from(B)
        .iter()
        .filter(|w| w.ty() == PacketType::State)
        .map(|w| w.packet().window_size as usize)
        .min()
        .unwrap();
    // Only the unread data is taken off the 1 MiB.
    assert!(
        smallest >= Config::default().recv_buffer - 20_000,
        "{smallest}"
    );
}

/// While a share is set, a lone full-size packet's ack waits 1 ms for a
/// second packet; two full packets, or a short one, are acked at once.
/// Both directions.
fn check_delayed_ack(b_receives: bool) {
    let mut pair = Pair::default_pair();
    let roles = Roles::new(b_receives, pair.connect());
    // A first transfer shows how much payload a full packet carries.
    send_through(&mut pair, &roles, &[3; 20_000]);
    let full = pair
        .wire_from(roles.writer)
        .iter()
        .filter(|w| w.ty() == PacketType::Data)
        .map(|w| w.packet().payload.len())
        .max()
        .unwrap();
    // When the receiver's first STATE after a write left, past the one
    // latency the data took to arrive.
    let ack_delay = |pair: &mut Pair, len: usize| {
        let (at, sent) = send_through(pair, &roles, &pattern(len, len as u8));
        let first = states_after(pair, roles.receiver, at)[0].sent_at;
        first.saturating_duration_since(sent) - pair.latency
    };
    pair.side(b_receives).set_recv_window_share(Some(1 << 20));
    let cases: Vec<_> = [full, 2 * full, 300]
        .into_iter()
        .map(|len| ack_delay(&mut pair, len))
        .collect();
    assert_eq!(cases, [ms(1), ms(0), ms(0)], "lone full packet, two, short");
    // Without a share, the lone full packet is acked at once.
    pair.side(b_receives).set_recv_window_share(None);
    assert_eq!(ack_delay(&mut pair, full), ms(0));
}

#[test]
fn under_a_share_the_acceptor_delays_a_lone_packets_ack() {
    check_delayed_ack(true);
}

#[test]
fn under_a_share_the_connector_delays_a_lone_packets_ack_from_an_acceptor_writing_first() {
    check_delayed_ack(false);
}
