//! `Conn::write_bytes`: the application's `Bytes` queued without a copy
//! arrive exactly, both ways, through loss and retransmission, mixed with
//! copying writes in any order; the memory budget counts them, and the
//! send buffer lets go of them once they are acknowledged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use common::{drain_within_budget, pattern, Fate, Pair, A};
use proptest::prelude::*;
use utp_core::bytes::Bytes;
use utp_core::wire::PacketType;
use utp_core::{Config, ConnHandle, Endpoint, Error};

/// One write of a script: copied (`write`) or queued (`write_bytes`).
#[derive(Clone, Debug)]
enum Op {
    Copy(Vec<u8>),
    Queue(Bytes),
}

/// Cuts `data` into writes of the given lengths (cycled), queued where
/// `queued` says (cycled).
fn script(data: &[u8], lens: &[usize], queued: &[bool]) -> VecDeque<Op> {
    let mut ops = VecDeque::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let len = lens[i % lens.len()].max(1).min(data.len() - at);
        let part = &data[at..at + len];
        ops.push_back(if queued[i % queued.len()] {
            Op::Queue(Bytes::copy_from_slice(part))
        } else {
            Op::Copy(part.to_vec())
        });
        at += len;
        i += 1;
    }
    ops
}

/// Writes what the script has until the connection blocks; a partial write
/// keeps the rest at the front.
fn pump(c: &mut utp_core::Conn<'_>, ops: &mut VecDeque<Op>) {
    while let Some(op) = ops.front_mut() {
        let result = match op {
            Op::Copy(v) => c.write(v).map(|n| {
                v.drain(..n);
                v.is_empty()
            }),
            Op::Queue(b) => c.write_bytes(b).map(|_| b.is_empty()),
        };
        match result {
            Ok(true) => {
                ops.pop_front();
            }
            Ok(false) => {}
            Err(Error::WouldBlock) => return,
            Err(e) => panic!("write: {e:?}"),
        }
    }
}

/// Both sides write their script at once (B, the acceptor, as soon as it
/// accepted, so before it read anything), shut down after it, and read
/// everything; `drop` decides which DATA packets are lost. Returns what A
/// and B read, and each writer's retransmissions, once everything is
/// also acknowledged (and released from the send buffers).
fn exchange(
    p: &mut Pair,
    mut ops_a: VecDeque<Op>,
    mut ops_b: VecDeque<Op>,
) -> (Vec<u8>, Vec<u8>, u64, u64) {
    let (ha, hb) = p.connect();
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    let (mut a_eof, mut b_eof) = (false, false);
    let (mut a_shut, mut b_shut) = (false, false);
    let mut buf = vec![0u8; 65536];
    p.run_while(Duration::from_secs(120), |p| {
        for (ep, h, ops, shut, got, eof) in [
            (&mut p.b, hb, &mut ops_b, &mut b_shut, &mut to_b, &mut b_eof),
            (&mut p.a, ha, &mut ops_a, &mut a_shut, &mut to_a, &mut a_eof),
        ] {
            let mut c = ep.conn(h).unwrap();
            pump(&mut c, ops);
            if ops.is_empty() && !*shut {
                c.shutdown();
                *shut = true;
            }
            loop {
                match c.read(&mut buf) {
                    Ok(0) => {
                        *eof = true;
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        p.flush();
        let unacked = |ep: &mut Endpoint, h| ep.conn(h).unwrap().stats().send_buffered;
        !(a_eof && b_eof && unacked(&mut p.a, ha) == 0 && unacked(&mut p.b, hb) == 0)
    });
    assert!(a_eof && b_eof, "both read the end of the stream");
    let stats_a = p.a.conn(ha).unwrap().stats();
    let stats_b = p.b.conn(hb).unwrap().stats();
    assert_eq!(
        (stats_a.send_buffered, stats_b.send_buffered),
        (0, 0),
        "everything acknowledged and released"
    );
    let (retransmits_a, retransmits_b) = (stats_a.retransmits, stats_b.retransmits);
    (to_a, to_b, retransmits_a, retransmits_b)
}

/// Loses the first transmission of every DATA packet whose sequence
/// number is `k` mod `every`, from both sides, and the last ones' too
/// (tail loss): each is sent again.
fn lossy(p: &mut Pair, every: u16, k: u16) {
    let mut seen: Vec<(bool, u16)> = Vec::new();
    let a = common::addr(A);
    p.filter = Box::new(move |wire| {
        if wire.ty() != PacketType::Data {
            return Fate::Deliver;
        }
        let key = (wire.from == a, wire.packet().seq_nr.get());
        if key.1 % every == k % every && !seen.contains(&key) {
            seen.push(key);
            return Fate::Drop;
        }
        Fate::Deliver
    });
}

#[test]
fn queued_bytes_arrive_exactly_both_ways_through_loss() {
    let data_a = pattern(300_000, 1);
    let data_b = pattern(200_000, 2);
    let mut p = Pair::default_pair();
    lossy(&mut p, 13, 5);
    // All queued: big, medium and short ones (copied).
    let (to_a, to_b, re_a, re_b) = exchange(
        &mut p,
        script(&data_a, &[65536, 1500, 100_000, 4000], &[true]),
        script(&data_b, &[16384, 700, 33_333], &[true]),
    );
    assert!(to_b == data_a, "A → B intact");
    assert!(to_a == data_b, "B → A intact");
    assert!(re_a > 5 && re_b > 5, "retransmissions: {re_a}, {re_b}");
}

/// The send buffer drops its references once the bytes are acknowledged:
/// the application's buffer is its own again.
#[test]
fn acknowledged_bytes_are_let_go() {
    let mut p = Pair::default_pair();
    lossy(&mut p, 5, 2);
    let (ha, hb) = p.connect();
    let block = Bytes::from(pattern(64 * 1024, 9));
    let mut queued = block.clone();
    assert_eq!(
        p.a.conn(ha).unwrap().write_bytes(&mut queued).unwrap(),
        64 * 1024
    );
    assert!(queued.is_empty());
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    p.run_while(Duration::from_secs(10), |p| {
        while let Ok(n) = p.b.conn(hb).unwrap().read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() < block.len() || p.a.buffered_bytes() > 0
    });
    assert!(got == block);
    assert!(p.a.conn(ha).unwrap().stats().retransmits > 0);
    assert_eq!(p.a.conn(ha).unwrap().stats().send_buffered, 0);
    drop(queued);
    assert!(block.is_unique(), "the send buffer holds no reference");
}

const BUDGET: usize = 64 * 1024;

/// A queued `Bytes` counts against the endpoint's memory budget: its bytes
/// and its bookkeeping; writes wait for room and resume with `Writable`;
/// everything arrives and the budget is all free again.
#[test]
fn queued_bytes_count_against_the_memory_budget() {
    for writer_is_b in [false, true] {
        let mut budgeted = Config::default();
        budgeted.memory_budget = BUDGET;
        let (ca, cb) = if writer_is_b {
            (Config::default(), budgeted)
        } else {
            (budgeted, Config::default())
        };
        let mut p = Pair::new(ca, cb);
        let (ha, hb) = p.connect();
        let (hw, hr): (ConnHandle, ConnHandle) = if writer_is_b { (hb, ha) } else { (ha, hb) };
        let data = pattern(BUDGET * 4, 5);
        let mut rest = Bytes::from(data.clone());
        let first = p
            .side(writer_is_b)
            .conn(hw)
            .unwrap()
            .write_bytes(&mut rest)
            .unwrap();
        let buffered = p.side(writer_is_b).buffered_bytes();
        assert!(first < BUDGET && first > BUDGET - 256, "{first}");
        assert!(buffered <= BUDGET, "{buffered}");
        assert!(buffered > first, "the segment is counted: {buffered}");
        assert_eq!(rest.len(), data.len() - first);
        assert_eq!(
            p.side(writer_is_b).conn(hw).unwrap().write_bytes(&mut rest),
            Err(Error::WouldBlock)
        );
        let (got, writable) = drain_within_budget(
            &mut p,
            writer_is_b,
            (hw, hr),
            BUDGET,
            |ep| {
                if !rest.is_empty() {
                    let _ = ep.conn(hw).unwrap().write_bytes(&mut rest);
                }
            },
            |p, got| got.len() < data.len() || p.side(writer_is_b).buffered_bytes() > 0,
        );
        assert!(got == data, "writer_is_b {writer_is_b}");
        assert!(writable > 0, "Writable after the budget freed");
        assert_eq!(p.side(writer_is_b).buffered_bytes(), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Copying and queued writes of any lengths, interleaved in any order,
    /// both ways at once, with loss: each side reads exactly what the
    /// other wrote.
    #[test]
    fn copied_and_queued_writes_interleave(
        len_a in 0usize..120_000,
        len_b in 0usize..120_000,
        lens in proptest::collection::vec(1usize..40_000, 1..8),
        queued in proptest::collection::vec(any::<bool>(), 1..8),
        every in 3u16..40,
        seed in any::<u8>(),
    ) {
        let data_a = pattern(len_a, seed);
        let data_b = pattern(len_b, seed.wrapping_add(1));
        let mut p = Pair::default_pair();
        lossy(&mut p, every, u16::from(seed));
        let flipped: Vec<bool> = queued.iter().map(|q| !q).collect();
        let (to_a, to_b, _, _) = exchange(
            &mut p,
            script(&data_a, &lens, &queued),
            script(&data_b, &lens, &flipped),
        );
        prop_assert!(to_b == data_a, "A → B: {} of {}", to_b.len(), data_a.len());
        prop_assert!(to_a == data_b, "B → A: {} of {}", to_a.len(), data_b.len());
    }
}
