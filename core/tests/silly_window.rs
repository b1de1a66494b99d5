//! Sender-side silly-window avoidance (RFC 9293, 3.8.6.2.1): while packets
//! are in flight, a peer window with room for less than a full packet (and
//! less than half the window) waits for their acks, rather than going out
//! as a short packet. A short packet ends the datagram batch it is in and
//! costs a packet for a fraction of its bytes: 100 connections over one
//! socket pair, each behind its share of the receiver's window, sent one
//! packet in 27 short this way. Both directions, the acceptor writing
//! first too.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use utp_core::wire::PacketType;
use utp_core::Config;

const LEN: usize = 300_000;

/// Moves `LEN` bytes to a reader whose 5,000-byte buffer holds three and
/// a half full packets, reading all it gets; returns the writer's DATA
/// packets that were short (not full size) though not the last, and sent
/// while earlier ones were not yet acknowledged, and how many packets it
/// sent in all.
fn short_packets(acceptor_writes: bool) -> (Vec<String>, usize) {
    let mut reader = Config::default();
    reader.recv_buffer = 5_000;
    reader.pmtu_discovery = false;
    let mut writer_config = Config::default();
    writer_config.pmtu_discovery = false;
    let (config_a, config_b) = if acceptor_writes {
        (reader, writer_config)
    } else {
        (writer_config, reader)
    };
    let mut p = Pair::new(config_a, config_b);
    p.latency = ms(5);
    let (writer, reader_addr) = if acceptor_writes { (B, A) } else { (A, B) };
    let data = pattern(LEN, 8);
    one_way(
        &mut p,
        &data,
        acceptor_writes,
        Duration::from_secs(60),
        1_000_000,
    );

    // The reader's cumulative acks as the writer got them (all are
    // delivered, `latency` after they left).
    let acks: Vec<(utp_core::Timestamp, u16)> = p
        .log
        .iter()
        .filter(|w| w.from == addr(reader_addr))
        .map(|w| (w.sent_at + p.latency, w.packet().ack_nr.get()))
        .collect();
    let data_packets: Vec<&Wire> = p
        .log
        .iter()
        .filter(|w| w.from == addr(writer) && w.ty() == PacketType::Data)
        .collect();
    let full = data_packets
        .iter()
        .map(|w| w.packet().payload.len())
        .max()
        .unwrap();
    let last_seq = data_packets.last().unwrap().packet().seq_nr.get();
    let short = data_packets
        .iter()
        .filter(|w| {
            let packet = w.packet();
            let seq = packet.seq_nr.get();
            // Everything before it acknowledged by then: nothing in flight.
            let acked_before = acks
                .iter()
                .rev()
                .find(|(at, _)| *at <= w.sent_at)
                .is_some_and(|&(_, ack)| ack.wrapping_add(1) == seq);
            packet.payload.len() < full && seq != last_seq && !acked_before
        })
        .map(|w| {
            format!(
                "seq {} of {} bytes at {:?}",
                w.packet().seq_nr.get(),
                w.packet().payload.len(),
                w.sent_at
            )
        })
        .collect();
    (short, data_packets.len())
}

#[test]
fn a_window_too_small_for_a_full_packet_waits_for_acks() {
    for acceptor_writes in [false, true] {
        let (short, sent) = short_packets(acceptor_writes);
        assert!(short.is_empty(), "{short:?}");
        // About one full packet for each 1,382 bytes, nothing sent twice
        // and no shorts: the window of three and a half packets carries
        // three.
        assert!((LEN / 1_400..LEN / 1_300).contains(&sent), "{sent} packets");
    }
}
