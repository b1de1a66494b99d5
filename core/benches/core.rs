//! The core's own cost, with no socket and no runtime: how fast two
//! endpoints move bytes through each other in memory (every datagram
//! encoded, parsed, acked, its congestion control run), in both
//! directions, and how fast the codec parses and emits a data packet.
//!
//! ```sh
//! cargo bench -p utp-core --bench core            # 1 GiB each way and each write call, best of 3,
//!                                                 # then over 1 and 100 connections
//! cargo bench -p utp-core --bench core -- --mib 64
//! cargo bench -p utp-core --bench core -- --many   # only the 1- and 100-connection runs
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

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{data_packet, transfer, transfer_many};
use utp_core::wire::PacketRepr;

fn main() {
    let mut mib = 1024;
    let mut only_many = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--mib" {
            mib = args.next().and_then(|n| n.parse().ok()).expect("--mib N");
        }
        if arg == "--many" {
            only_many = true;
        }
        // `cargo bench` passes `--bench`; ignore it and anything else.
    }
    let bytes = mib << 20;
    for queued in [false, true].into_iter().filter(|_| !only_many) {
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
    // One buffer of the whole payload (streamed from memory, as an
    // application's data is), over 1 and 100 connections.
    for (conns, share) in [(1, None), (100, None), (100, Some(4 << 20))] {
        let (took, packets) = (0..3)
            .map(|_| transfer_many(bytes, conns, share))
            .min()
            .unwrap();
        let secs = took.as_secs_f64();
        let shared = match share {
            Some(s) => format!(", {} MiB window shared", s >> 20),
            None => String::new(),
        };
        println!(
            "pair initiator → acceptor, write_bytes of one {mib} MiB buffer, {conns} connection(s){shared}: {:.3} s = {:.0} MiB/s, {:.2} M datagrams/s",
            secs,
            mib as f64 / secs,
            packets as f64 / secs / 1e6
        );
    }
    codec();
}

/// Parse and emit of a full-size DATA packet with a SACK.
fn codec() {
    let payload = vec![7u8; 1400];
    let repr = data_packet(&payload, true);
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
