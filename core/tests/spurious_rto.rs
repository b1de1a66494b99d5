//! Spurious retransmission timeouts (`core/src/conn/undo.rs`): when the
//! acks of the original packets were only delayed past the timeout, the
//! first ack covering the oldest packet echoes a timestamp from before it,
//! and the window, threshold and recovery return to what they were. A real
//! loss, acknowledged only once the retransmission reached the peer, is
//! not undone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use common::{addr, ms, pattern, Fate, Pair, A, B};
use utp_core::congestion::{AckSample, CongestionKind, Controller, ControllerContext};
use utp_core::wire::PacketType;
use utp_core::{Config, ConnStats, Timestamp};

/// What the connection's packets did to B's acks in the second block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Impairment {
    /// B's acks of the second block are held and delivered only 10 ms
    /// after A's timeout, before anything A sent from then on reached B:
    /// a delay spike on the return path. Spurious.
    DelayedAcks,
    /// The second block's first transmissions are lost: only the
    /// retransmissions reach B, and B's acks answer them. Real.
    LostData,
}

/// What [`run`] saw of A's connection.
#[derive(Debug)]
struct Seen {
    /// Before the second block, after the first was acknowledged.
    before: ConnStats,
    /// Just after the timeout.
    after_timeout: ConnStats,
    /// Just after the first ack covering the oldest packet.
    after_verdict: ConnStats,
    /// At the end, both blocks read by B.
    end: ConnStats,
    /// DATA packets A sent in the second block (first sends and resends).
    data_sent: usize,
}

/// Connects (RTT 50 ms), moves a first block A→B so that A has RTT
/// samples and a grown window (path MTU discovery off, so that packets
/// have one size), then a second block of 4000 bytes (three packets) with
/// `impairment`; B reads both.
fn run(config: Config, impairment: Impairment) -> Seen {
    let mut config = config;
    config.pmtu_discovery = false;
    let mut p = Pair::new(config, Config::default());
    let (ha, hb) = p.connect();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let read = |p: &mut Pair, got: &mut Vec<u8>, buf: &mut [u8]| {
        while let Ok(n) = p.b.conn(hb).unwrap().read(buf) {
            got.extend_from_slice(&buf[..n]);
        }
    };
    let first = pattern(8 * 1024, 1);
    p.a.conn(ha).unwrap().write(&first).unwrap();
    p.run_while(ms(2_000), |p| {
        read(p, &mut got, &mut buf);
        got.len() < first.len() || p.a.conn(ha).unwrap().stats().in_flight > 0
    });
    let before = p.a.conn(ha).unwrap().stats();

    // The second block: its acks (or its data) are impaired.
    let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let hold = held.clone();
    let t0 = p.now;
    p.filter = Box::new(move |w| match impairment {
        Impairment::DelayedAcks if w.from == addr(B) => {
            hold.borrow_mut().push(w.bytes.clone());
            Fate::Drop
        }
        // The first sends and the tail loss probe, not the retransmissions
        // after the timeout (at 500 ms).
        Impairment::LostData
            if w.from == addr(A) && w.ty() == PacketType::Data && w.sent_at < t0 + ms(400) =>
        {
            Fate::Drop
        }
        _ => Fate::Deliver,
    });
    let second = pattern(4_000, 2);
    p.a.conn(ha).unwrap().write(&second).unwrap();
    p.run_while(ms(2_000), |p| p.a.conn(ha).unwrap().stats().timeouts == 0);

    let after_timeout = p.a.conn(ha).unwrap().stats();
    let rto_at = p.now;
    assert_eq!(
        rto_at - t0,
        ms(500),
        "the timeout fires at the 500 ms floor"
    );

    match impairment {
        Impairment::DelayedAcks => {
            // The held acks arrive 10 ms after the timeout: A's
            // retransmissions are still on their way to B.
            p.run_until(rto_at + ms(10));
            p.filter = Box::new(|_| Fate::Deliver);
            let acks = held.borrow().clone();
            assert!(!acks.is_empty());
            for bytes in &acks {
                p.a.handle_datagram(p.now, addr(B), bytes);
            }
        }
        Impairment::LostData => {
            // The retransmissions reach B 25 ms after the timeout, its
            // acks (echoing them) reach A 25 ms later.
            p.run_until(rto_at + ms(50));
        }
    }
    let after_verdict = p.a.conn(ha).unwrap().stats();
    p.filter = Box::new(|_| Fate::Deliver);
    p.run_while(ms(5_000), |p| {
        read(p, &mut got, &mut buf);
        got.len() < first.len() + second.len() || p.a.conn(ha).unwrap().stats().in_flight > 0
    });
    assert_eq!(&got[first.len()..], &second[..], "the second block arrives");
    let end = p.a.conn(ha).unwrap().stats();
    let data_sent = p
        .log
        .iter()
        .filter(|w| w.from == addr(A) && w.ty() == PacketType::Data && w.sent_at >= t0)
        .count();
    Seen {
        before,
        after_timeout,
        after_verdict,
        end,
        data_sent,
    }
}

/// Wire bytes of the second block: 4000 payload bytes in three packets
/// (two of 1382, one of 1236), 20 header bytes each.
const SECOND_BLOCK_WIRE: usize = 4_000 + 3 * 20;

#[test]
fn a_delayed_ack_after_a_timeout_restores_the_window() {
    let s = run(Config::default(), Impairment::DelayedAcks);
    let packet = s.before.packet_size;
    assert_eq!(packet, 1402);
    // Slow start from 4 packets: 8 once the first block was acked.
    assert_eq!(s.before.cwnd, 8 * packet);
    assert!(s.before.slow_start);
    assert_eq!(s.after_timeout.timeouts, 1);
    assert_eq!(s.after_timeout.cwnd, 2 * packet, "RFC 6817's MIN_CWND");
    assert_eq!(s.after_timeout.spurious_timeouts, 0);
    // The held acks echo timestamps from before the timeout: back to 8
    // packets and slow start, which then grows by the bytes they acked.
    assert_eq!(s.after_verdict.spurious_timeouts, 1);
    assert!(s.after_verdict.slow_start);
    assert_eq!(s.after_verdict.cwnd, 8 * packet + SECOND_BLOCK_WIRE);
    assert_eq!(s.after_verdict.in_flight, 0);
    assert_eq!(s.end.timeouts, 1);
    assert_eq!(s.end.spurious_timeouts, 1);
    // Three first sends, the tail loss probe, two retransmissions at the
    // timeout (a window of two packets), nothing after the verdict.
    assert_eq!(s.data_sent, 6);
    assert_eq!(s.end.retransmits, 3);
}

#[test]
fn a_real_loss_is_not_undone() {
    let s = run(Config::default(), Impairment::LostData);
    let packet = s.before.packet_size;
    assert_eq!(s.before.cwnd, 8 * packet);
    assert_eq!(s.after_timeout.timeouts, 1);
    assert_eq!(s.after_timeout.cwnd, 2 * packet);
    // The acks echo the retransmissions: the timeout stands. Slow start
    // from 2 packets reaches the threshold, half the old window, with the
    // two packets acked.
    assert_eq!(s.after_verdict.spurious_timeouts, 0);
    assert_eq!(s.after_verdict.cwnd, 4 * packet);
    assert!(!s.after_verdict.slow_start);
    assert_eq!(s.end.timeouts, 1);
    assert_eq!(s.end.spurious_timeouts, 0);
    // Three first sends and the probe (all lost), then all three again.
    assert_eq!(s.data_sent, 7);
    assert_eq!(s.end.retransmits, 4);
}

/// What a recording controller was told, in order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Call {
    Timeout,
    Verdict(bool),
    Loss,
}

/// A fixed window of 4 packets that records timeouts and verdicts.
#[derive(Debug)]
struct Recorder {
    window: usize,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Controller for Recorder {
    fn window(&self) -> usize {
        self.window
    }
    fn on_ack(&mut self, _: &AckSample) {}
    fn on_loss(&mut self, _: Timestamp, _: usize) {
        self.calls.lock().unwrap().push(Call::Loss);
    }
    fn on_timeout(&mut self, _: Timestamp, _: usize) {
        self.calls.lock().unwrap().push(Call::Timeout);
    }
    fn on_timeout_verdict(&mut self, _: Timestamp, spurious: bool) {
        self.calls.lock().unwrap().push(Call::Verdict(spurious));
    }
}

fn recording() -> (Config, Arc<Mutex<Vec<Call>>>) {
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let c = calls.clone();
    let mut config = Config::default();
    config.congestion = CongestionKind::custom(move |cx: &ControllerContext| {
        Box::new(Recorder {
            window: 4 * cx.packet_size,
            calls: c.clone(),
        }) as Box<dyn Controller>
    });
    (config, calls)
}

#[test]
fn a_custom_controller_hears_one_verdict_per_timeout() {
    let (config, calls) = recording();
    let s = run(config, Impairment::DelayedAcks);
    assert_eq!(*calls.lock().unwrap(), [Call::Timeout, Call::Verdict(true)]);
    assert_eq!(s.end.spurious_timeouts, 1);
    let (config, calls) = recording();
    let s = run(config, Impairment::LostData);
    assert_eq!(
        *calls.lock().unwrap(),
        [Call::Timeout, Call::Verdict(false)]
    );
    assert_eq!(s.end.spurious_timeouts, 0);
}
