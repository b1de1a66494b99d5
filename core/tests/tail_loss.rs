//! Tail loss probes: the lost last packet of a 16 KiB block is sent again
//! by a probe a few round trips after it, not a 500 ms retransmission
//! timeout later.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::{ms, pattern, Fate, Pair, A, B};
use utp_core::wire::PacketType;
use utp_core::ConnHandle;

/// What became of one 16 KiB block.
struct Block {
    /// When it was read in full, after the write.
    done: Duration,
    /// The sends of `seq`, after the write.
    sends: Vec<Duration>,
    /// The writer's stats at the end.
    stats: utp_core::ConnStats,
    /// The sequence numbers of the block's DATA packets, in order sent.
    seqs: Vec<u16>,
}

/// After the handshake (RTT 50 ms), `writer` (A or B) writes a 16 KiB
/// block, the other side reads it; the DATA packet with sequence number
/// `drop` is lost once. The harness is deterministic: a run without the
/// drop tells what the last packet's number will be.
fn block(writer: &str, drop: Option<u16>) -> Block {
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    let (w, r): (ConnHandle, ConnHandle) = if writer == A { (ha, hb) } else { (hb, ha) };
    let from = common::addr(writer);
    let mut dropped = false;
    p.filter = Box::new(move |wire| {
        let hit = wire.from == from
            && wire.ty() == PacketType::Data
            && Some(wire.packet().seq_nr.get()) == drop;
        if hit && !dropped {
            dropped = true;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    let data = pattern(16 * 1024, 7);
    let t0 = p.now;
    let ep = if writer == A { &mut p.a } else { &mut p.b };
    assert_eq!(ep.conn(w).unwrap().write(&data).unwrap(), data.len());
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut done = None;
    p.run_while(Duration::from_secs(5), |p| {
        let ep = if writer == A { &mut p.b } else { &mut p.a };
        while let Ok(n) = ep.conn(r).unwrap().read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            done = Some(p.now - t0);
            return false;
        }
        true
    });
    assert!(got == data, "the block arrives intact");
    let data_from_writer = p
        .log
        .iter()
        .filter(|x| x.from == from && x.ty() == PacketType::Data && x.sent_at >= t0);
    let mut seqs = Vec::new();
    let mut sends = Vec::new();
    for x in data_from_writer {
        let seq = x.packet().seq_nr.get();
        if !seqs.contains(&seq) {
            seqs.push(seq);
        }
        if Some(seq) == drop {
            sends.push(x.sent_at - t0);
        }
    }
    let ep = if writer == A { &mut p.a } else { &mut p.b };
    let stats = ep.conn(w).unwrap().stats();
    Block {
        done: done.unwrap(),
        sends,
        stats,
        seqs,
    }
}

fn check(writer: &str) {
    let clean = block(writer, None);
    assert!(clean.seqs.len() >= 11, "a dozen packets: {:?}", clean.seqs);
    assert_eq!(clean.stats.tail_probes, 0, "no probe without loss");
    let last = *clean.seqs.last().unwrap();
    let Block {
        done, sends, stats, ..
    } = block(writer, Some(last));
    // The probe timer (two round trips of 50 ms, and 25 ms with one
    // packet in flight) restarts with the ack of the packets sent with the
    // lost one, one round trip after them: probed 175 ms after its first
    // send, read one way (25 ms) later; not the 500 ms of a retransmission
    // timeout.
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert_eq!(sends[1] - sends[0], ms(175), "{sends:?}");
    assert!(
        done <= clean.done + ms(200),
        "{done:?}, {:?} without the loss",
        clean.done
    );
    assert_eq!(stats.timeouts, 0, "no retransmission timeout");
    assert_eq!(stats.tail_probes, 1);
    assert_eq!(stats.retransmits, 1);
}

#[test]
fn initiator_block_recovers_its_lost_tail_without_a_timeout() {
    check(A);
}

#[test]
fn acceptor_block_recovers_its_lost_tail_without_a_timeout() {
    check(B);
}

/// `writer` sends 2 KiB and its FIN (one burst) to a peer that shut down
/// at once;
/// every ack of that data is lost until `until` after the write, so the
/// writer's retransmission timeout sends its oldest packet again to a peer
/// that has everything and has closed. Returns how each side ended.
fn lost_final_acks(writer: &str, until: Duration) -> (Vec<utp_core::Event>, Vec<utp_core::Event>) {
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    let (w, r): (ConnHandle, ConnHandle) = if writer == A { (ha, hb) } else { (hb, ha) };
    let reader_addr = common::addr(if writer == A { B } else { A });
    // The reader is done writing before any data comes: its FIN carries an
    // ack of nothing of it.
    {
        let ep = if writer == A { &mut p.b } else { &mut p.a };
        ep.conn(r).unwrap().shutdown();
    }
    p.run_until(p.now + ms(200));
    let t0 = p.now;
    p.filter = Box::new(move |wire| {
        if wire.from == reader_addr && wire.ty() == PacketType::State && wire.sent_at < t0 + until {
            return Fate::Drop;
        }
        Fate::Deliver
    });
    let data = pattern(2 * 1024, 3);
    {
        let ep = if writer == A { &mut p.a } else { &mut p.b };
        let mut c = ep.conn(w).unwrap();
        assert_eq!(c.write(&data).unwrap(), data.len());
        c.shutdown();
    }
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    p.run_while(Duration::from_secs(30), |p| {
        let ep = if writer == A { &mut p.b } else { &mut p.a };
        if let Some(mut c) = ep.conn(r) {
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        let ended = |events: &[utp_core::Event], h| {
            events
                .iter()
                .any(|e| matches!(e, utp_core::Event::Closed(x, _) if *x == h))
        };
        !(ended(&p.events_a, ha) && ended(&p.events_b, hb))
    });
    assert!(got == data, "the data arrived");
    (p.events_a.clone(), p.events_b.clone())
}

fn closes_finished(writer: &str) {
    // Acks lost for 300 ms: the writer's RTO (500 ms) resends its oldest
    // packet after the reader has closed, and the reader answers it.
    let (events_a, events_b) = lost_final_acks(writer, ms(300));
    for events in [events_a, events_b] {
        let closed: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                utp_core::Event::Closed(_, reason) => Some(*reason),
                _ => None,
            })
            .collect();
        assert_eq!(closed, [utp_core::CloseReason::Finished], "{events:?}");
    }
}

#[test]
fn a_closed_initiator_acks_data_sent_again_after_its_ack_was_lost() {
    closes_finished(B);
}

#[test]
fn a_closed_acceptor_acks_data_sent_again_after_its_ack_was_lost() {
    closes_finished(A);
}
