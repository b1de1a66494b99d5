//! The peer's window is its free receive buffer past the point it
//! acknowledged: a writer never sends stream bytes beyond that point plus
//! the window it last heard, the packets the peer holds out of order and
//! those lost included (as TCP's `SND.NXT - SND.UNA <= SND.WND`). libutp
//! advertises only what its application has not read, so what it holds
//! out of order comes on top: a writer that left the SACKed packets out
//! overran it when a hole filled (libutp-rs2 then cut the stream). Both
//! directions, the acceptor writing first too, through loss.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use utp_core::wire::PacketType;
use utp_core::Config;

const LEN: usize = 2 << 20;

/// Moves `LEN` bytes from A (or from B, the acceptor, writing first) to a
/// reader that buffers 64 KiB, losing every 13th DATA packet's first
/// transmission; checks every new DATA packet against the reader's last
/// acknowledgement the writer had received when it sent it. Returns how
/// many of the reader's acks carried a SACK (it held packets past a hole).
fn stays_within_the_window(acceptor_writes: bool) -> usize {
    let mut reader = Config::default();
    reader.recv_buffer = 64 * 1024;
    let (config_a, config_b) = if acceptor_writes {
        (reader, Config::default())
    } else {
        (Config::default(), reader)
    };
    let mut p = Pair::new(config_a, config_b);
    p.latency = ms(10);
    let (writer, reader_addr) = if acceptor_writes { (B, A) } else { (A, B) };
    let mut seen = std::collections::HashSet::new();
    let mut n = 0;
    p.filter = Box::new(move |w| {
        if w.from == addr(writer) && w.ty() == PacketType::Data {
            let seq = w.packet().seq_nr.get();
            if seen.insert(seq) {
                n += 1;
                if n % 13 == 0 {
                    return Fate::Drop;
                }
            }
        }
        Fate::Deliver
    });
    let data = pattern(LEN, 3);
    one_way(
        &mut p,
        &data,
        acceptor_writes,
        Duration::from_secs(120),
        10_000_000,
    );

    // Stream offset after each sequence number's payload, from first
    // transmissions; the writer's view of the reader: its acks as they
    // arrived (all are delivered, `latency` after they left).
    let mut end_of: HashMap<u16, u64> = HashMap::new();
    let mut stream_end = 0u64;
    let mut acks = Vec::new();
    for w in &p.log {
        let packet = w.packet();
        if w.from == addr(reader_addr) {
            acks.push((
                w.sent_at + p.latency,
                packet.ack_nr.get(),
                packet.window_size,
            ));
        } else if packet.packet_type == PacketType::Syn {
            end_of.insert(packet.seq_nr.get(), 0);
        }
    }
    let mut checked = 0;
    for w in p.log.iter().filter(|w| w.from == addr(writer)) {
        let packet = w.packet();
        if packet.packet_type != PacketType::Data || end_of.contains_key(&packet.seq_nr.get()) {
            continue;
        }
        stream_end += packet.payload.len() as u64;
        end_of.insert(packet.seq_nr.get(), stream_end);
        let Some(&(_, ack_nr, window)) = acks.iter().rev().find(|(at, ..)| *at <= w.sent_at) else {
            continue;
        };
        let Some(&acked_to) = end_of.get(&ack_nr) else {
            continue;
        };
        let outstanding = stream_end - acked_to;
        assert!(
            outstanding <= u64::from(window).max(1),
            "sent up to {stream_end} with the peer at {acked_to} and a window of {window}"
        );
        checked += 1;
    }
    assert!(checked > 1000, "{checked} packets checked");
    // The reader held packets past holes: its acks said so.
    p.log
        .iter()
        .filter(|w| w.from == addr(reader_addr) && w.packet().selective_ack.is_some())
        .count()
}

#[test]
fn the_stream_past_the_peers_ack_stays_within_its_window() {
    for acceptor_writes in [false, true] {
        let sacks = stays_within_the_window(acceptor_writes);
        assert!(sacks > 100, "{sacks} acks with a SACK");
    }
}
