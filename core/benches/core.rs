//! The core's own cost, with no socket and no runtime: how fast two
//! endpoints move bytes through each other in memory (every datagram
//! encoded, parsed, acked, its congestion control run), in both
//! directions, and how fast the codec parses and emits a data packet.
//!
//! ```sh
//! cargo bench -p utp-core --bench core            # 1 GiB each way and each write call, best of 3
//! cargo bench -p utp-core --bench core -- --mib 64
//! ```
//!
//! The figures are CPU throughput of the state machine (one core drives
//! both ends), an upper bound for what any adapter can reach; compare runs
//! of the same machine only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use utp_core::bytes::Bytes;
use utp_core::time::{TimestampDiff, WireTimestamp};
use utp_core::wire::{PacketRepr, PacketType, SelectiveAck};
use utp_core::{Config, ConnHandle, Endpoint, Event, ListenConfig, SeqNr, Timestamp};

fn main() {
    let mut mib = 1024;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--mib" {
            mib = args.next().and_then(|n| n.parse().ok()).expect("--mib N");
        }
        // `cargo bench` passes `--bench`; ignore it and anything else.
    }
    let bytes = mib << 20;
    for queued in [false, true] {
        for (name, acceptor_writes) in [
            ("initiator → acceptor", false),
            ("acceptor → initiator", true),
        ] {
            let (took, packets) = (0..3)
                .map(|_| transfer(bytes, acceptor_writes, queued))
                .min()
                .unwrap();
            let secs = took.as_secs_f64();
            let how = if queued { "write_bytes" } else { "write" };
            println!(
                "pair {name}, {how}: {mib} MiB in {:.3} s = {:.0} MiB/s, {:.2} M datagrams/s",
                secs,
                mib as f64 / secs,
                packets as f64 / secs / 1e6
            );
        }
    }
    codec();
}

/// Moves `bytes` from one endpoint to the other over a lossless wire with
/// 1 ms of simulated delay, written with `write` (copied into the send
/// buffer) or, when `queued`, with `write_bytes` (64 KiB `Bytes` slices of
/// one buffer, not copied); returns the wall time taken and the datagrams
/// carried.
fn transfer(bytes: usize, acceptor_writes: bool, queued: bool) -> (Duration, u64) {
    let a_addr: SocketAddr = "192.0.2.1:1000".parse().unwrap();
    let b_addr: SocketAddr = "192.0.2.2:2000".parse().unwrap();
    let mut a = Endpoint::new(Config::default(), 1);
    let mut b = Endpoint::new(Config::default(), 2);
    b.listen(ListenConfig::default());
    let mut now = Timestamp::ZERO;
    let ha = a.connect(now, b_addr).unwrap();
    let mut hb: Option<ConnHandle> = None;
    let chunk = vec![0x5au8; 64 * 1024];
    let shared = Bytes::from(chunk.clone());
    let mut pending = Bytes::new();
    let mut sent = 0usize;
    let mut received = 0usize;
    let mut wire: VecDeque<(bool, Vec<u8>)> = VecDeque::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; 65536];
    let mut rbuf = vec![0u8; 256 * 1024];
    let mut packets = 0u64;
    let start = Instant::now();
    while received < bytes {
        // The writer fills its send buffer.
        let writer = if acceptor_writes {
            hb.map(|h| (&mut b, h))
        } else {
            Some((&mut a, ha))
        };
        if let Some((ep, h)) = writer {
            if let Some(mut c) = ep.conn(h) {
                while sent < bytes {
                    let len = chunk.len().min(bytes - sent);
                    let written = if queued {
                        if pending.is_empty() {
                            pending = shared.slice(..len);
                        }
                        c.write_bytes(&mut pending)
                    } else {
                        c.write(&chunk[..len])
                    };
                    match written {
                        Ok(0) | Err(_) => break,
                        Ok(n) => sent += n,
                    }
                }
            }
        }
        for (to_b, ep) in [(true, &mut a), (false, &mut b)] {
            while let Some(t) = ep.poll_transmit(now, &mut buf) {
                let mut d = spare.pop().unwrap_or_default();
                d.clear();
                d.extend_from_slice(&buf[..t.len]);
                wire.push_back((to_b, d));
            }
            while let Some(event) = ep.poll_event() {
                match event {
                    Event::Incoming => hb = ep.accept(),
                    Event::Readable(h) | Event::Eof(h) => {
                        let Some(mut c) = ep.conn(h) else { continue };
                        while let Ok(n) = c.read(&mut rbuf) {
                            if n == 0 {
                                break;
                            }
                            received += n;
                        }
                    }
                    _ => {}
                }
            }
        }
        now += Duration::from_millis(1);
        if wire.is_empty() {
            if let Some(t) = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            {
                now = now.max(t);
            }
        }
        while let Some((to_b, d)) = wire.pop_front() {
            packets += 1;
            if to_b {
                b.handle_datagram(now, a_addr, &d);
            } else {
                a.handle_datagram(now, b_addr, &d);
            }
            spare.push(d);
        }
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    (start.elapsed(), packets)
}

/// Parse and emit of a full-size DATA packet with a SACK.
fn codec() {
    let payload = vec![7u8; 1400];
    let repr = PacketRepr {
        packet_type: PacketType::Data,
        connection_id: 0x1234,
        timestamp: WireTimestamp(1_000_000),
        timestamp_difference: TimestampDiff(20_000),
        window_size: 1 << 20,
        seq_nr: SeqNr::new(100),
        ack_nr: SeqNr::new(50),
        selective_ack: Some(SelectiveAck::NONE),
        close_reason: None,
        payload: &payload,
    };
    let mut buf = vec![0u8; 1500];
    let len = repr.emit(&mut buf).unwrap();
    let rounds = 5_000_000u32;
    let start = Instant::now();
    for _ in 0..rounds {
        let p = PacketRepr::parse(black_box(&buf[..len])).unwrap();
        black_box(p.seq_nr);
    }
    let parse = start.elapsed() / rounds;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(black_box(&repr).emit(&mut buf).unwrap());
    }
    let emit = start.elapsed() / rounds;
    println!("codec: parse {parse:?}, emit {emit:?} per 1400-byte DATA packet");
}
