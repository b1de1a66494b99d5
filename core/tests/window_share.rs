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
    read_back(pair, roles, data);
    before
}

/// Reads what the reader has in one call: exactly `data`.
fn read_back(pair: &mut Pair, roles: &Roles, data: &[u8]) {
    let mut buf = vec![0u8; data.len() + 1];
    let n = pair
        .side(roles.b_receives)
        .conn(roles.r)
        .unwrap()
        .read(&mut buf);
    assert_eq!(n, Ok(data.len()));
    assert!(buf[..data.len()] == *data, "the bytes written, exact");
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

/// A share never closes a window by itself: a reader that does not read
/// past its share still advertises one packet while its buffer has room
/// (a zero window would tell the sender the data it has in flight is
/// dropped, and it would send it all again). Both directions.
fn check_share_leaves_a_packet(b_receives: bool) {
    let mut pair = Pair::default_pair();
    let roles = Roles::new(b_receives, pair.connect());
    // The least share there is: 8 KiB.
    pair.side(b_receives).set_recv_window_share(Some(1));
    let from = pair.log.len();
    let data = pattern(60_000, 9);
    assert_eq!(
        pair.side(!b_receives).conn(roles.w).unwrap().write(&data),
        Ok(data.len())
    );
    pair.run_until(pair.now + Duration::from_secs(3));
    let receiver = pair.side(b_receives).conn(roles.r).unwrap().stats();
    let windows: Vec<u32> = states_after(&pair, roles.receiver, from)
        .iter()
        .map(|w| w.packet().window_size)
        .collect();
    // 8 KiB less the first packets, then a full packet each time: the
    // configured size, what a peer's packets may be (this side's own
    // packets are smaller while its path MTU search goes on).
    let full = Config::default().packet_size_v4;
    assert!(
        (full..8 * 1024).contains(&(windows[0] as usize)),
        "{windows:?}"
    );
    assert!(windows.len() > 20, "{windows:?}");
    assert!(
        windows[1..].iter().all(|&w| w as usize == full),
        "{windows:?}"
    );
    // So it all arrived, a packet a round trip once past the share (the
    // rest of a window a packet does not fill is not sent on its own:
    // silly-window avoidance), and nothing was sent twice.
    assert_eq!(receiver.recv_buffered, data.len());
    let writer = pair.side(!b_receives).conn(roles.w).unwrap().stats();
    assert_eq!((writer.retransmits, writer.timeouts), (0, 0));
    read_back(&mut pair, &roles, &data);
}

#[test]
fn a_share_leaves_the_acceptor_a_packet_of_window() {
    check_share_leaves_a_packet(true);
}

#[test]
fn a_share_leaves_the_connector_a_packet_of_window_from_an_acceptor_writing_first() {
    check_share_leaves_a_packet(false);
}

/// While a share is set, a run of full packets arriving together is acked
/// every sixteenth packet (and at its end), not every second (ten packets:
/// one ack, not five): the packets of many connections arrive in runs (a
/// sender's turn, `Endpoint::poll_transmit`), and each ack costs both
/// ends. Both directions.
fn check_ack_every_sixteenth(b_receives: bool) {
    let mut pair = Pair::default_pair();
    let roles = Roles::new(b_receives, pair.connect());
    // Warm up: path MTU found, the congestion window open.
    for seed in 0..5 {
        send_through(&mut pair, &roles, &pattern(50_000, seed));
    }
    let full = pair
        .wire_from(roles.writer)
        .iter()
        .filter(|w| w.ty() == PacketType::Data)
        .map(|w| w.packet().payload.len())
        .max()
        .unwrap();
    let acks_of_run = |pair: &mut Pair, share: Option<usize>| {
        pair.side(b_receives).set_recv_window_share(share);
        // Ten: what the pacer lets go at once.
        let (at, _) = send_through(pair, &roles, &pattern(10 * full, 2));
        let sent: Vec<_> = pair.log[at..]
            .iter()
            .filter(|w| w.from == addr(roles.writer) && w.ty() == PacketType::Data)
            .map(|w| w.sent_at)
            .collect();
        assert_eq!(sent.len(), 10);
        assert!(
            sent.iter().all(|&t| t == sent[0]),
            "sent together: {sent:?}"
        );
        states_after(pair, roles.receiver, at).len()
    };
    assert_eq!(acks_of_run(&mut pair, Some(4 << 20)), 1, "with a share");
    assert_eq!(acks_of_run(&mut pair, None), 5, "without");
}

#[test]
fn under_a_share_the_acceptor_acks_every_sixteenth_packet_of_a_run() {
    check_ack_every_sixteenth(true);
}

#[test]
fn under_a_share_the_connector_acks_every_sixteenth_packet_of_a_run_from_an_acceptor_writing_first()
{
    check_ack_every_sixteenth(false);
}

/// A read that opens the window by half tells the sender at once, while
/// a share is set too: the ack of the packets read carried a window
/// smaller by them, and a sender held back by it waits for this update.
/// Both directions.
fn check_window_update(b_receives: bool) {
    for share in [None, Some(64 * 1024)] {
        let mut config = Config::default();
        config.recv_buffer = 64 * 1024;
        let mut pair = Pair::new(config.clone(), config);
        let roles = Roles::new(b_receives, pair.connect());
        pair.side(b_receives).set_recv_window_share(share);
        let data = pattern(40_000, 4);
        let w = pair.side(!b_receives).conn(roles.w).unwrap().write(&data);
        assert_eq!(w, Ok(data.len()));
        pair.run_until(pair.now + ms(300));
        let (at, read_at) = (pair.log.len(), pair.now);
        read_back(&mut pair, &roles, &data);
        pair.flush();
        pair.run_until(pair.now + ms(5));
        let states = states_after(&pair, roles.receiver, at);
        assert_eq!(states.len(), 1, "{share:?}");
        assert_eq!(states[0].sent_at, read_at, "{share:?}");
        assert_eq!(states[0].packet().window_size, 64 * 1024, "{share:?}");
    }
}

#[test]
fn the_acceptors_window_update_goes_at_once_under_a_share() {
    check_window_update(true);
}

#[test]
fn the_connectors_window_update_goes_at_once_under_a_share_from_an_acceptor_writing_first() {
    check_window_update(false);
}

/// Under a share, a full-size packet that fills the last hole before a
/// held FIN is acked at once: it completes the stream, the connection
/// closes, and a closed connection sends no delayed ack (the writer would
/// resend its tail until it timed out). The reader shut its side down
/// first, so it closes on that packet. Both directions.
fn check_last_hole_acked_at_once(b_receives: bool) {
    let mut config = Config::default();
    config.pmtu_discovery = false;
    let mut pair = Pair::new(config.clone(), config);
    let roles = Roles::new(b_receives, pair.connect());
    pair.side(b_receives).set_recv_window_share(Some(1 << 20));
    pair.side(b_receives).conn(roles.r).unwrap().shutdown();
    pair.run_until(pair.now + ms(200));
    // Ten full packets and a FIN; the tenth is lost once.
    let writer = addr(roles.writer);
    let mut data_seen = 0;
    pair.filter = Box::new(move |w| {
        if w.from == writer && w.ty() == PacketType::Data {
            data_seen += 1;
            if data_seen == 10 {
                return Fate::Drop;
            }
        }
        Fate::Deliver
    });
    let from = pair.log.len();
    let data = pattern(10 * 1382, 6);
    {
        let mut w = pair.side(!b_receives).conn(roles.w).unwrap();
        assert_eq!(w.write(&data), Ok(data.len()));
        w.shutdown();
    }
    pair.run_until(pair.now + Duration::from_secs(3));
    let sent: Vec<&Wire> = pair.log[from..]
        .iter()
        .filter(|w| w.from == writer && w.ty() == PacketType::Data)
        .collect();
    assert_eq!(sent.len(), 11, "ten and the one resent");
    assert_eq!(sent[10].packet().seq_nr, sent[9].packet().seq_nr);
    assert_eq!(sent[10].packet().payload.len(), 1382);
    // Acked on arrival, and both ends finished.
    let arrived = sent[10].sent_at + pair.latency;
    let acks = states_after(&pair, roles.receiver, from);
    assert_eq!(acks.last().unwrap().sent_at, arrived);
    assert_eq!(
        acks.last().unwrap().packet().ack_nr,
        sent[10].packet().seq_nr + 1
    );
    let events = if b_receives {
        &pair.events_a
    } else {
        &pair.events_b
    };
    assert!(
        events.contains(&utp_core::Event::Closed(
            roles.w,
            utp_core::CloseReason::Finished
        )),
        "{events:?}"
    );
    read_back(&mut pair, &roles, &data);
}

#[test]
fn under_a_share_the_acceptor_acks_the_packet_that_completes_the_stream_at_once() {
    check_last_hole_acked_at_once(true);
}

#[test]
fn under_a_share_the_connector_acks_the_packet_that_completes_the_stream_at_once_from_an_acceptor_writing_first(
) {
    check_last_hole_acked_at_once(false);
}
