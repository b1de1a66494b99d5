//! What one more connection costs an endpoint: with N established, idle
//! connections (N = 10^3, 10^4, 10^5) on one in-memory server endpoint
//! (from clients of 10,000 connections each: a peer address has 16-bit
//! connection ids), the server's time for `poll_timeout`, for a
//! `handle_timeout` with nothing due, for one request/response exchange on
//! one connection (a 100-byte write each way, every datagram handled),
//! the time of a second of simulated idle time for everyone (keepalives
//! only), and the heap bytes per idle connection end (all endpoints'
//! allocations over 2N, counted by this binary's allocator).
//!
//! ```sh
//! cargo bench -p utp-core --bench scale              # 10^3, 10^4, 10^5
//! cargo bench -p utp-core --bench scale -- --max 10000
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use utp_core::{Config, ConnHandle, Endpoint, Event, ListenConfig, SynCookies, Timestamp};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a
// counter is updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Net {
    clients: Vec<(SocketAddr, Endpoint)>,
    server: Endpoint,
    now: Timestamp,
    /// (to the server, client index, datagram)
    wire: VecDeque<(bool, usize, Vec<u8>)>,
    buf: Vec<u8>,
    accepted: Vec<ConnHandle>,
}

const SERVER: &str = "192.0.2.1:2000";
const PER_CLIENT: usize = 10_000;

fn config(n: usize) -> Config {
    let mut config = Config::default();
    config.max_connections = n + 16;
    config.max_half_open = n + 16;
    config.syn_cookies = SynCookies::Off;
    config.replies_per_second = u32::MAX;
    config.replies_per_source = u32::MAX;
    // Idle connections and small exchanges: 64 KiB buffers.
    config.send_buffer = 64 * 1024;
    config.recv_buffer = 64 * 1024;
    config
}

impl Net {
    fn new(n: usize) -> Net {
        let mut server = Endpoint::new(config(n), 1);
        let mut listen = ListenConfig::default();
        listen.backlog = n + 16;
        server.listen(listen);
        let clients = (0..n.div_ceil(PER_CLIENT))
            .map(|i| {
                let addr = SocketAddr::from(([198, 51, 100, 1 + i as u8], 1000));
                (addr, Endpoint::new(config(PER_CLIENT), 2 + i as u64))
            })
            .collect();
        Net {
            clients,
            server,
            now: Timestamp::from_secs(1),
            wire: VecDeque::new(),
            buf: vec![0; 65536],
            accepted: Vec::new(),
        }
    }

    /// Moves every datagram until everyone is quiet at this instant, then
    /// advances `step` of time and runs the timers due.
    fn turn(&mut self, step: Duration) {
        let server_addr: SocketAddr = SERVER.parse().unwrap();
        loop {
            for (i, (_, ep)) in self.clients.iter_mut().enumerate() {
                while let Some(t) = ep.poll_transmit(self.now, &mut self.buf) {
                    self.wire.push_back((true, i, self.buf[..t.len].to_vec()));
                }
                while ep.poll_event().is_some() {}
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                let i = self
                    .clients
                    .iter()
                    .position(|(a, _)| *a == t.destination)
                    .unwrap();
                self.wire.push_back((false, i, self.buf[..t.len].to_vec()));
            }
            while let Some(e) = self.server.poll_event() {
                if e == Event::Incoming {
                    while let Some(h) = self.server.accept() {
                        self.accepted.push(h);
                    }
                }
            }
            if self.wire.is_empty() {
                break;
            }
            while let Some((to_server, i, d)) = self.wire.pop_front() {
                let (addr, client) = &mut self.clients[i];
                if to_server {
                    self.server.handle_datagram(self.now, *addr, &d);
                } else {
                    client.handle_datagram(self.now, server_addr, &d);
                }
            }
        }
        self.now += step;
        for (_, ep) in self.clients.iter_mut() {
            if ep.poll_timeout().is_some_and(|t| t <= self.now) {
                ep.handle_timeout(self.now);
            }
        }
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
    }
}

fn main() {
    let mut max = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--max" {
            max = args.next().and_then(|n| n.parse().ok()).expect("--max N");
        }
    }
    println!("connections | poll_timeout | idle handle_timeout | one exchange | 1 s idle (keepalives) | heap per idle connection");
    let mut n = 1_000;
    while n <= max {
        row(n);
        n *= 10;
    }
}

fn row(n: usize) {
    let before = LIVE.load(Ordering::Relaxed);
    let mut p = Net::new(n);
    let server: SocketAddr = SERVER.parse().unwrap();
    let mut handles = Vec::with_capacity(n);
    let setup = Instant::now();
    for k in 0..n {
        let client = k / PER_CLIENT;
        handles.push((client, p.clients[client].1.connect(p.now, server).unwrap()));
        if k % 1000 == 999 || k == n - 1 {
            // SYN, STATE, the third packet: a few turns.
            for _ in 0..4 {
                p.turn(Duration::from_millis(1));
            }
        }
    }
    assert_eq!(p.accepted.len(), n, "all accepted");
    // Let the handshakes' timers settle (the third packet is sent again
    // until data flows; here none does: let that run out).
    for _ in 0..20 {
        p.turn(Duration::from_millis(500));
    }
    let setup = setup.elapsed();
    let heap = LIVE.load(Ordering::Relaxed) - before;

    // The server's poll_timeout.
    let rounds = 2_000;
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(p.server.poll_timeout());
    }
    let poll = t.elapsed() / rounds;

    // Its handle_timeout with nothing due.
    let t = Instant::now();
    for _ in 0..rounds {
        p.server.handle_timeout(p.now);
    }
    let idle_timeout = t.elapsed() / rounds;

    // One request and its response on the first connection, every datagram
    // handled.
    let ((client, ha), hb) = (handles[0], p.accepted[0]);
    let mut out = [0u8; 256];
    let exchanges = 500;
    let t = Instant::now();
    for _ in 0..exchanges {
        p.clients[client]
            .1
            .conn(ha)
            .unwrap()
            .write(&[1; 100])
            .unwrap();
        p.turn(Duration::from_micros(100));
        while p.server.conn(hb).unwrap().read(&mut out).is_ok() {}
        p.server.conn(hb).unwrap().write(&[2; 100]).unwrap();
        p.turn(Duration::from_micros(100));
        while p.clients[client].1.conn(ha).unwrap().read(&mut out).is_ok() {}
    }
    let exchange = t.elapsed() / exchanges;

    // Idle time: a keepalive every 29 s per connection end, so a second of
    // it sends about 2N / 29 of them.
    let t = Instant::now();
    let idle_secs = 30;
    for _ in 0..idle_secs * 10 {
        p.turn(Duration::from_millis(100));
    }
    let per_idle_second = t.elapsed() / idle_secs;
    println!(
        "{n:>11} | {poll:>12?} | {idle_timeout:>19?} | {exchange:>12?} | {per_idle_second:>21?} | {:>6} bytes (setup {setup:?})",
        heap as usize / (2 * n)
    );
}
