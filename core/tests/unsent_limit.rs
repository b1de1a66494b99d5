//! What a write takes: the send buffer's free space, and no more than
//! brings the bytes not sent yet to twice the send window (the smaller of
//! `cwnd` and the peer's window; at least 64 KiB). A writer that writes
//! only when told [`Event::Writable`] (as the adapters do) still moves
//! every byte, exactly, behind a small window and a large one, both
//! directions, the acceptor writing first too.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use utp_core::{Config, ConnHandle, ConnStats, Error, Event};

/// The least unsent bytes a write may bring a connection to.
const UNSENT_MIN: usize = 64 * 1024;
const LEN: usize = 3 << 20;

/// The most a connection may hold unsent, from its figures.
fn unsent_cap(s: &ConnStats) -> usize {
    (2 * s.cwnd.min(s.peer_window as usize)).max(UNSENT_MIN)
}

/// Which limit stopped the writes that a connection refused.
#[derive(Debug, Default)]
struct Stops {
    /// The send buffer was full.
    buffer: usize,
    /// The unsent bytes reached the cap, the buffer had room.
    unsent: usize,
}

/// Moves `LEN` bytes over a fresh connection from A, or from B (the
/// acceptor, writing as soon as it accepted), to a reader whose receive
/// buffer is `recv_buffer`. The writer writes at the start and then only
/// after a `Writable` for its connection, each time until the write is
/// refused; every refusal must be the buffer's or the cap's, and no write
/// leaves more unsent than the cap. Returns what the reader read and
/// which limits stopped the writer.
fn writable_driven(recv_buffer: usize, acceptor_writes: bool) -> (Vec<u8>, Vec<u8>, Stops) {
    let mut reader = Config::default();
    reader.recv_buffer = recv_buffer;
    let (config_a, config_b) = if acceptor_writes {
        (reader, Config::default())
    } else {
        (Config::default(), reader)
    };
    let send_buffer = Config::default().send_buffer;
    let mut p = Pair::new(config_a, config_b);
    p.latency = ms(5);
    let (ha, hb) = p.connect();
    let (hw, hr): (ConnHandle, ConnHandle) = if acceptor_writes { (hb, ha) } else { (ha, hb) };
    let data = pattern(LEN, 9);
    let (mut written, mut may_write, mut shut) = (0, true, false);
    let mut stops = Stops::default();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    p.run_while(Duration::from_secs(120), |p| {
        let events = if acceptor_writes {
            &mut p.events_b
        } else {
            &mut p.events_a
        };
        may_write |= events.drain(..).any(|e| e == Event::Writable(hw));
        {
            let mut c = p.side(acceptor_writes).conn(hw).unwrap();
            while may_write && written < LEN {
                let room = c.write_room();
                match c.write(&data[written..]) {
                    Ok(n) => {
                        assert_eq!(n, room.min(LEN - written), "write_room told");
                        written += n;
                    }
                    Err(Error::WouldBlock) => {
                        assert_eq!(room, 0);
                        may_write = false;
                        let s = c.stats();
                        let buffer_full = s.send_buffered == send_buffer;
                        let at_cap = s.send_unsent >= unsent_cap(&s);
                        assert!(buffer_full || at_cap, "refused with room: {s:?}");
                        if buffer_full {
                            stops.buffer += 1;
                        } else {
                            stops.unsent += 1;
                        }
                    }
                    Err(e) => panic!("write: {e:?}"),
                }
                let s = c.stats();
                assert!(s.send_unsent <= unsent_cap(&s), "over the cap: {s:?}");
            }
            if written == LEN && !shut {
                c.shutdown();
                shut = true;
            }
        }
        loop {
            match p.side(!acceptor_writes).conn(hr).unwrap().read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        p.flush();
        true
    });
    (got, data, stops)
}

/// Behind a small window (the reader buffers 48 KiB) the unsent bytes
/// stop the writer, never the buffer, and every byte arrives.
#[test]
fn a_small_window_holds_the_unsent_bytes_to_the_least_cap() {
    for acceptor_writes in [false, true] {
        let (got, data, stops) = writable_driven(48 * 1024, acceptor_writes);
        assert!(got == data, "acceptor writes: {acceptor_writes}");
        assert_eq!(stops.buffer, 0, "{stops:?}");
        assert!(stops.unsent > 20, "{stops:?}");
    }
}

/// Behind a large window the cap holds the writer back while the window
/// is small (slow start, after a loss): once it grew, the send buffer is
/// what stops it, most of the time.
#[test]
fn a_large_window_leaves_the_send_buffer_the_limit() {
    for acceptor_writes in [false, true] {
        let (got, data, stops) = writable_driven(4 << 20, acceptor_writes);
        assert!(got == data, "acceptor writes: {acceptor_writes}");
        assert!(stops.buffer > 2 * stops.unsent, "{stops:?}");
    }
}

/// Right after the handshake the window is small: the first write takes
/// exactly the least cap, whatever it is offered, and the next is
/// refused until a `Writable`.
#[test]
fn the_first_write_takes_the_least_cap() {
    for acceptor_writes in [false, true] {
        let mut p = Pair::default_pair();
        let (ha, hb) = p.connect();
        let hw = if acceptor_writes { hb } else { ha };
        let mut c = p.side(acceptor_writes).conn(hw).unwrap();
        let s = c.stats();
        assert!(2 * s.cwnd.min(s.peer_window as usize) < UNSENT_MIN, "{s:?}");
        let data = pattern(1 << 20, 1);
        assert_eq!(c.write_room(), UNSENT_MIN);
        assert_eq!(c.write(&data), Ok(UNSENT_MIN));
        assert_eq!(c.write_room(), 0);
        assert_eq!(c.write(&data[UNSENT_MIN..]), Err(Error::WouldBlock));
        assert_eq!(c.stats().send_unsent, UNSENT_MIN);
        c.shutdown();
        assert_eq!(c.write_room(), 0, "shut down");
    }
}
