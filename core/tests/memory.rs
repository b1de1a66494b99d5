//! The endpoint's memory budget and what an idle connection costs.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::*;
use utp_core::wire::PacketType;
use utp_core::{Config, Endpoint, Error};

/// Counts live heap bytes (for the idle-cost figure).
struct Tracking;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

const BUDGET: usize = 64 * 1024;

/// The tests of this file run one at a time, so that the heap count sees
/// one test's allocations only.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn budgeted() -> Config {
    let mut config = Config::default();
    config.memory_budget = BUDGET;
    config
}

/// A sender that loses its first data packet pushes a whole window after
/// the hole: the receiver holds only what its budget allows, advertises
/// no more than that, and still gets every byte, in order. Both ways: the
/// acceptor receiving, and the acceptor writing first to the initiator.
#[test]
fn out_of_order_data_stays_within_the_budget() {
    let _serial = serial();
    for receiver_is_b in [true, false] {
        let (ca, cb) = if receiver_is_b {
            (Config::default(), budgeted())
        } else {
            (budgeted(), Config::default())
        };
        let mut p = Pair::new(ca, cb);
        let (ha, hb) = p.connect();
        let (sender, receiver) = if receiver_is_b { (A, B) } else { (B, A) };
        let (hs, hr) = if receiver_is_b { (ha, hb) } else { (hb, ha) };
        let mut dropped = false;
        p.filter = Box::new(move |w| {
            if w.from == addr(sender) && w.ty() == PacketType::Data && !dropped {
                dropped = true;
                return Fate::Drop;
            }
            Fate::Deliver
        });
        let data = pattern(1 << 20, 3);
        let mut max_buffered = 0;
        let mut max_window = 0;
        let mut written = 0;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        // The receiver reads only every 100 ms, so what arrives is
        // buffered meanwhile.
        let mut next_read = p.now;
        p.run_while(Duration::from_secs(120), |p| {
            if written < data.len() {
                let conn = p
                    .side(!receiver_is_b)
                    .conn(hs)
                    .unwrap()
                    .write(&data[written..]);
                written += conn.unwrap_or(0);
            }
            if p.now >= next_read {
                next_read = p.now + Duration::from_millis(100);
                while let Ok(n) = p.side(receiver_is_b).conn(hr).unwrap().read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            }
            max_buffered = max_buffered.max(p.side(receiver_is_b).buffered_bytes());
            for w in p.wire_from(receiver).iter().rev().take(4) {
                max_window = max_window.max(w.packet().window_size as usize);
            }
            p.flush();
            got.len() < data.len()
        });
        assert!(got == data, "every byte, in order ({receiver} receiving)");
        // One packet may exceed the rest of the budget only to fill a hole.
        assert!(max_buffered <= BUDGET + 1500, "{max_buffered} buffered");
        assert!(max_window <= BUDGET, "advertised {max_window}");
    }
}

/// Writes stop at the budget with WouldBlock and resume with Writable once
/// acknowledgements free memory; every byte arrives. Both ways: the
/// initiator writing, and the acceptor writing first.
#[test]
fn writes_wait_for_the_budget_and_resume() {
    let _serial = serial();
    for writer_is_b in [false, true] {
        let (ca, cb) = if writer_is_b {
            (Config::default(), budgeted())
        } else {
            (budgeted(), Config::default())
        };
        let mut p = Pair::new(ca, cb);
        let (ha, hb) = p.connect();
        let (hw, hr) = if writer_is_b { (hb, ha) } else { (ha, hb) };
        let data = pattern(BUDGET * 4, 5);
        let first = p.side(writer_is_b).conn(hw).unwrap().write(&data).unwrap();
        assert_eq!(first, BUDGET, "the write takes what the budget allows");
        assert_eq!(
            p.side(writer_is_b).conn(hw).unwrap().write(&data[first..]),
            Err(Error::WouldBlock)
        );
        assert_eq!(p.side(writer_is_b).buffered_bytes(), BUDGET);
        let mut written = first;
        let (got, writable) = drain_within_budget(
            &mut p,
            writer_is_b,
            (hw, hr),
            BUDGET,
            |ep| {
                if written < data.len() {
                    let w = ep.conn(hw).unwrap().write(&data[written..]);
                    written += w.unwrap_or(0);
                }
            },
            |_, got| got.len() < data.len(),
        );
        assert!(got == data);
        assert!(writable >= 1, "told when it could write again");
    }
}

/// What a connection costs once a transfer in both directions is over and
/// it sat idle: the buffers are given back.
#[test]
fn idle_connection_cost_after_a_transfer() {
    let _serial = serial();
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    let a_to_b = pattern(1 << 20, 1);
    let got = transfer(&mut p, ha, hb, &a_to_b, Duration::from_secs(60));
    assert!(got == a_to_b);
    // The other way, B writing, A reading.
    let b_to_a = pattern(1 << 20, 2);
    let mut written = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    p.run_while(Duration::from_secs(60), |p| {
        if written < b_to_a.len() {
            written += p.b.conn(hb).unwrap().write(&b_to_a[written..]).unwrap_or(0);
        }
        while let Ok(n) = p.a.conn(ha).unwrap().read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        p.flush();
        got.len() < b_to_a.len()
    });
    assert!(got == b_to_a);
    let busy = p.a.buffer_heap_bytes() + p.b.buffer_heap_bytes();
    p.run_until(p.now + Duration::from_secs(6));
    let idle = p.a.buffer_heap_bytes() + p.b.buffer_heap_bytes();
    assert_eq!(idle, 0, "every empty buffer given back after 5 s idle");
    // Both connections are still open (A's write side half-closed).
    assert_eq!((p.a.connection_count(), p.b.connection_count()), (1, 1));
    // What one endpoint holds for its idle connection: the heap it frees
    // when replaced by a fresh endpoint with no connection.
    let with_conn = LIVE.load(Ordering::Relaxed);
    drop(std::mem::replace(
        &mut p.a,
        Endpoint::new(Config::default(), 9),
    ));
    let per_connection = with_conn - LIVE.load(Ordering::Relaxed);
    println!(
        "buffers after the transfer {busy} B, after 6 s idle {idle} B; \
         heap of an idle connection after the transfer: {per_connection} B"
    );
    assert!(per_connection < 4 * 1024, "{per_connection} B");
}
