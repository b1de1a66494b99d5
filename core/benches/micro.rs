//! Micro benchmarks of the core alone, with divan: the codec's parse and
//! emit of a 1400-byte DATA packet, with and without a SACK extension, and
//! a 16 MiB transfer between two endpoints in memory (one core drives
//! both; every datagram encoded, parsed, acked, its congestion control
//! run), each direction, reported as payload throughput.
//!
//! ```sh
//! cargo bench -p utp-core --bench micro
//! cargo bench -p utp-core --bench micro -- transfer   # only the transfers
//! ```
//!
//! `core.rs` times the same transfer over 1 GiB with its own loop (the
//! README's figures).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{data_packet, transfer};
use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use utp_core::wire::PacketRepr;

/// Payload bytes of the codec's packet.
const PAYLOAD: usize = 1400;

/// Payload bytes each transfer iteration moves.
const TRANSFER: usize = 16 << 20;

fn main() {
    divan::main();
}

/// `PacketRepr::parse` of a DATA packet, with a SACK or without.
#[divan::bench(args = [false, true])]
fn parse(bencher: Bencher<'_, '_>, sack: bool) {
    let payload = vec![7u8; PAYLOAD];
    let mut buf = vec![0u8; 1500];
    let len = data_packet(&payload, sack).emit(&mut buf).unwrap();
    let datagram = &buf[..len];
    bencher
        .counter(BytesCount::new(len))
        .bench_local(|| PacketRepr::parse(black_box(datagram)).unwrap().seq_nr);
}

/// `PacketRepr::emit` of the same packet.
#[divan::bench(args = [false, true])]
fn emit(bencher: Bencher<'_, '_>, sack: bool) {
    let payload = vec![7u8; PAYLOAD];
    let repr = data_packet(&payload, sack);
    let mut buf = vec![0u8; 1500];
    bencher
        .counter(BytesCount::new(repr.buffer_len()))
        .bench_local(|| black_box(&repr).emit(black_box(&mut buf)).unwrap());
}

/// 16 MiB from the initiator to the acceptor (`acceptor_writes: false`)
/// or back, written with `write`, through two endpoints in memory.
#[divan::bench(args = [false, true], sample_count = 10, sample_size = 1)]
fn transfer_16mib(bencher: Bencher<'_, '_>, acceptor_writes: bool) {
    bencher
        .counter(BytesCount::new(TRANSFER))
        .bench_local(|| transfer(TRANSFER, acceptor_writes, false));
}

/// The same with `write_bytes` (64 KiB `Bytes`, not copied in).
#[divan::bench(args = [false, true], sample_count = 10, sample_size = 1)]
fn transfer_16mib_write_bytes(bencher: Bencher<'_, '_>, acceptor_writes: bool) {
    bencher
        .counter(BytesCount::new(TRANSFER))
        .bench_local(|| transfer(TRANSFER, acceptor_writes, true));
}
