//! No allocation per packet in steady state: a counting global allocator
//! watches two endpoints in the middle of a bulk transfer (with periodic
//! loss, so SACK, reassembly and retransmission run too), after a warm-up
//! in which buffers reach their working size.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use utp_core::bytes::Bytes;
use utp_core::{Config, Endpoint, Event, ListenConfig, Timestamp};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A datagram in flight, in a preallocated slot.
struct Slot {
    at: Timestamp,
    to_b: bool,
    len: usize,
    bytes: [u8; 1500],
}

#[test]
fn steady_state_transfer_allocates_nothing() {
    // The counter works: a deliberate allocation is seen.
    COUNTING.store(true, Ordering::SeqCst);
    let probe: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
    COUNTING.store(false, Ordering::SeqCst);
    drop(std::hint::black_box(probe));
    assert_eq!(ALLOCATIONS.swap(0, Ordering::SeqCst), 1);

    // One after the other: the counter is global.
    steady_state(Config::default(), "default", false);
    // The application's `Bytes` queued, not copied (a static one: cloning
    // and splitting it allocates nothing, so what is counted is the
    // core's).
    steady_state(Config::default(), "write_bytes", true);
    // The socket-wide rate limit holds the sender back (its waiting list
    // keeps its capacity): below what the lossy path carries, 24 MiB take
    // longer than the 50 s it allows.
    let mut limited = Config::default();
    limited.max_total_send_rate = Some(500_000);
    let took = steady_state(limited, "socket-wide rate limit", false);
    assert!(took > Duration::from_secs(50), "{took:?}");
}

static CHUNK: [u8; 64 * 1024] = [0x42; 64 * 1024];

/// Moves 24 MiB from an endpoint configured `config`, written with
/// `write_bytes` when `queued`; asserts no allocation after the first 8;
/// returns the virtual time it took.
fn steady_state(config: Config, label: &str, queued: bool) -> Duration {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    let a_addr: SocketAddr = "10.0.0.1:1000".parse().unwrap();
    let b_addr: SocketAddr = "10.0.0.2:2000".parse().unwrap();
    let mut a = Endpoint::new(config, 1);
    let mut b = Endpoint::new(Config::default(), 2);
    b.listen(ListenConfig::default());
    let mut now = Timestamp::from_secs(1);
    let ha = a.connect(now, b_addr).unwrap();
    let mut hb = None;
    let latency = Duration::from_millis(10);
    let mut network: VecDeque<Box<Slot>> = VecDeque::with_capacity(8192);
    let mut spare: Vec<Box<Slot>> = (0..8192)
        .map(|_| {
            Box::new(Slot {
                at: now,
                to_b: false,
                len: 0,
                bytes: [0; 1500],
            })
        })
        .collect();
    let chunk = CHUNK.to_vec();
    let mut read_buf = vec![0u8; 64 * 1024];
    let mut buf = vec![0u8; 1500];
    let mut sent_packets = 0u64;
    let mut received = 0u64;
    let warm_up = 8u64 << 20;
    let measured = 16u64 << 20;
    let mut measuring_from = None;

    while received < warm_up + measured {
        if received >= warm_up && measuring_from.is_none() {
            measuring_from = Some(sent_packets);
            COUNTING.store(true, Ordering::SeqCst);
        }
        if let Some(mut c) = a.conn(ha) {
            if queued {
                let mut bytes = Bytes::from_static(&CHUNK);
                while c.write_bytes(&mut bytes).is_ok() {
                    if bytes.is_empty() {
                        bytes = Bytes::from_static(&CHUNK);
                    }
                }
            } else {
                while c.write(&chunk).is_ok() {}
            }
        }
        if hb.is_none() {
            hb = b.accept();
        }
        if let Some(mut c) = hb.and_then(|h| b.conn(h)) {
            while let Ok(n) = c.read(&mut read_buf) {
                if n == 0 {
                    break;
                }
                received += n as u64;
            }
        }
        for (ep, to_b) in [(&mut a, true), (&mut b, false)] {
            while let Some(t) = ep.poll_transmit(now, &mut buf) {
                sent_packets += 1;
                // Every 97th datagram is lost.
                if sent_packets % 97 == 0 {
                    continue;
                }
                let mut slot = spare.pop().expect("enough slots");
                slot.at = now + latency;
                slot.to_b = to_b;
                slot.len = t.len;
                slot.bytes[..t.len].copy_from_slice(&buf[..t.len]);
                network.push_back(slot);
            }
            while let Some(e) = ep.poll_event() {
                assert!(!matches!(e, Event::Closed(..)), "{e:?}");
            }
        }
        let next_net = network.front().map(|s| s.at);
        let next = [next_net, a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        now = now.max(next);
        while network.front().is_some_and(|s| s.at <= now) {
            let slot = network.pop_front().unwrap();
            let (ep, from) = if slot.to_b {
                (&mut b, a_addr)
            } else {
                (&mut a, b_addr)
            };
            ep.handle_datagram(now, from, &slot.bytes[..slot.len]);
            spare.push(slot);
        }
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    COUNTING.store(false, Ordering::SeqCst);
    let packets = sent_packets - measuring_from.unwrap();
    let allocations = ALLOCATIONS.load(Ordering::SeqCst);
    let retransmits = a.conn(ha).unwrap().stats().retransmits;
    let took = now - Timestamp::from_secs(1);
    println!("{label}: {packets} datagrams, {retransmits} retransmits in all, {allocations} allocations while measuring, {took:?}");
    assert!(packets > 10_000);
    assert!(retransmits > 100, "loss was exercised");
    assert_eq!(
        allocations, 0,
        "{label}: allocations in steady state over {packets} datagrams"
    );
    took
}
