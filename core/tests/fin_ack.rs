//! How we number the STATE that acknowledges the peer's FIN when our FIN
//! went first: once with the next sequence number (our FIN + 1, what
//! libutp takes), once with our FIN's (what libtorrent takes: it drops
//! every packet numbered past a FIN it received). spec/interop.md,
//! finding 6. And how long a closed connection that received a FIN stays
//! to acknowledge it again (the drain).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use utp_core::wire::PacketType;
use utp_core::{CloseReason, Config, ConnHandle, ConnState, Event, SeqNr, Timer};

/// A's send id, A's FIN's sequence number, the index in the log after it.
fn a_fin(p: &Pair) -> (u16, SeqNr, usize) {
    let (i, fin) = p
        .log
        .iter()
        .enumerate()
        .find(|(_, w)| w.from == addr(A) && w.ty() == PacketType::Fin)
        .expect("A's FIN");
    let fin = fin.packet();
    (fin.connection_id, fin.seq_nr, i + 1)
}

/// B's FIN's sequence number.
fn b_fin(p: &Pair) -> SeqNr {
    p.wire_from(B)
        .into_iter()
        .find(|w| w.ty() == PacketType::Fin)
        .expect("B's FIN")
        .packet()
        .seq_nr
}

/// A's packets from log index `from` on: (type, id, seq_nr, ack_nr), each
/// checked to carry no SACK, no close reason and no payload.
fn a_packets_from(p: &Pair, from: usize) -> Vec<(PacketType, u16, SeqNr, SeqNr)> {
    p.log[from..]
        .iter()
        .filter(|w| w.from == addr(A))
        .map(|w| {
            let q = w.packet();
            assert!(q.selective_ack.is_none(), "{q:?}");
            assert_eq!(q.close_reason, None, "{q:?}");
            assert!(q.payload.is_empty(), "{q:?}");
            (q.packet_type, q.connection_id, q.seq_nr, q.ack_nr)
        })
        .collect()
}

/// A shuts down first; B answers with `reply`, then shuts down too.
fn a_closes_first(p: &mut Pair, ha: ConnHandle, hb: ConnHandle, reply: &[u8]) {
    p.a.conn(ha).unwrap().shutdown();
    p.run_until(p.now + ms(200));
    let mut buf = [0u8; 64];
    assert_eq!(p.b.conn(hb).unwrap().read(&mut buf), Ok(0), "B at eof");
    p.b.conn(hb).unwrap().write(reply).unwrap();
    p.run_until(p.now + ms(200));
    let n = p.a.conn(ha).unwrap().read(&mut buf).unwrap();
    assert_eq!(&buf[..n], reply);
    p.b.conn(hb).unwrap().shutdown();
}

#[test]
fn our_ack_of_the_peers_fin_after_ours_goes_numbered_fin_plus_one_then_fin() {
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    a_closes_first(&mut p, ha, hb, b"reply");
    p.run_until(p.now + Duration::from_secs(5));

    let (id, fin, after) = a_fin(&p);
    let data = p
        .wire_from(B)
        .into_iter()
        .find(|w| w.ty() == PacketType::Data)
        .unwrap()
        .packet()
        .seq_nr;
    let b_fin = b_fin(&p);
    assert_eq!(b_fin, data + 1);
    assert_eq!(
        a_packets_from(&p, after),
        [
            // B's data: acknowledged once, with the next number as always.
            (PacketType::State, id, fin + 1, data),
            // B's FIN: twice, the second numbered as our FIN.
            (PacketType::State, id, fin + 1, b_fin),
            (PacketType::State, id, fin, b_fin),
        ]
    );
    // The two copies differ in seq_nr only (same window, same delay).
    let copies: Vec<_> = p.log[after..]
        .iter()
        .filter(|w| w.from == addr(A) && w.packet().ack_nr == b_fin)
        .collect();
    let (first, second) = (copies[0].packet(), copies[1].packet());
    assert_eq!(first.window_size, second.window_size);
    assert_eq!(first.timestamp_difference, second.timestamp_difference);
    assert_eq!(copies[0].sent_at, copies[1].sent_at);

    assert!(p
        .events_a
        .contains(&Event::Closed(ha, CloseReason::Finished)));
    assert!(p
        .events_b
        .contains(&Event::Closed(hb, CloseReason::Finished)));
}

#[test]
fn a_retransmitted_fin_gets_both_acks_again_from_the_closed_connection() {
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    a_closes_first(&mut p, ha, hb, b"reply");
    // A's first answer to B's FIN (both STATEs) is lost.
    let mut lost = 0;
    p.filter = Box::new(move |w| {
        let q = w.packet();
        if w.from == addr(A) && q.packet_type == PacketType::State && lost < 2 {
            lost += 1;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    // B's FIN reaches A 25 ms later: A has everything and closes.
    p.run_until(p.now + ms(100));
    assert_eq!(
        p.a.conn(ha).unwrap().state(),
        ConnState::Closed(CloseReason::Finished)
    );
    p.run_until(p.now + Duration::from_secs(10));

    let (id, fin, after) = a_fin(&p);
    let b_fin = b_fin(&p);
    let fins_from_b = p
        .wire_from(B)
        .into_iter()
        .filter(|w| w.ty() == PacketType::Fin)
        .count();
    assert_eq!(fins_from_b, 2, "B sent its FIN again");
    let answers: Vec<_> = a_packets_from(&p, after)
        .into_iter()
        .filter(|&(_, _, _, ack)| ack == b_fin)
        .collect();
    assert_eq!(
        answers,
        [
            (PacketType::State, id, fin + 1, b_fin),
            (PacketType::State, id, fin, b_fin),
            (PacketType::State, id, fin + 1, b_fin),
            (PacketType::State, id, fin, b_fin),
        ]
    );
    assert!(p
        .events_b
        .contains(&Event::Closed(hb, CloseReason::Finished)));
}

/// Runs until A hears how its connection `ha` ended; the time it did.
fn until_a_closed(p: &mut Pair, ha: ConnHandle, limit: Duration) -> utp_core::Timestamp {
    p.run_while(limit, |p| {
        !p.events_a
            .iter()
            .any(|e| matches!(e, Event::Closed(h, _) if *h == ha))
    });
    p.now
}

#[test]
fn the_drain_lasts_four_timeouts_at_least_3_s_and_at_most_a_minute() {
    // (Config::min_rto, hence the timeout here; the drain it gives)
    let cases = [
        (ms(500), Duration::from_secs(3)),
        (Duration::from_secs(5), Duration::from_secs(20)),
        (Duration::from_secs(30), Duration::from_secs(60)),
    ];
    for (min_rto, drain) in cases {
        let mut config = Config::default();
        config.min_rto = min_rto;
        let mut p = Pair::new(config.clone(), config);
        let (ha, hb) = p.connect();
        a_closes_first(&mut p, ha, hb, b"reply");
        // B's FIN ends A's connection (its own FIN is acknowledged).
        let closed_at = until_a_closed(&mut p, ha, Duration::from_secs(5));
        assert_eq!(
            p.a.conn(ha).unwrap().state(),
            ConnState::Closed(CloseReason::Finished)
        );
        p.a.conn(ha).unwrap().close();
        p.run_until(closed_at + drain - ms(1));
        assert_eq!(p.a.connection_count(), 1, "A drains ({min_rto:?})");
        p.run_until(closed_at + drain);
        assert_eq!(p.a.connection_count(), 0, "A's drain is over ({min_rto:?})");
    }
}

#[test]
fn a_connection_that_timed_out_after_the_peers_fin_does_not_drain() {
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    p.b.conn(hb).unwrap().shutdown();
    p.run_until(p.now + ms(200));
    let mut buf = [0u8; 8];
    assert_eq!(p.a.conn(ha).unwrap().read(&mut buf), Ok(0), "A has B's FIN");
    // Then the path dies, and A's last words are never acknowledged.
    p.filter = Box::new(|_| Fate::Drop);
    p.a.conn(ha).unwrap().write(b"late").unwrap();
    until_a_closed(&mut p, ha, Duration::from_secs(300));
    assert_eq!(
        p.a.conn(ha).unwrap().state(),
        ConnState::Closed(CloseReason::TimedOut(Timer::Retransmissions))
    );
    assert_eq!(
        p.a.connection_count(),
        1,
        "kept until the application lets go"
    );
    // Nobody retransmits a FIN over a dead path: nothing to wait for (the
    // timeout had backed off to many seconds; four of them were waited
    // once).
    p.a.conn(ha).unwrap().close();
    assert_eq!(p.a.connection_count(), 0);
    assert_eq!(p.a.poll_timeout(), None);
}
