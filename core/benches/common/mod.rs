//! What the core's benchmarks share (`core.rs`, the hand-rolled one whose
//! figures the README cites, and `micro.rs`, with divan): a transfer
//! between two endpoints in memory, and the DATA packet the codec is
//! timed on.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use utp_core::bytes::Bytes;
use utp_core::time::{TimestampDiff, WireTimestamp};
use utp_core::wire::{PacketRepr, PacketType, SelectiveAck};
use utp_core::{Config, ConnHandle, Endpoint, Event, ListenConfig, SeqNr, Timestamp};

/// Moves `bytes` from one endpoint to the other over a lossless wire with
/// 1 ms of simulated delay, written with `write` (copied into the send
/// buffer) or, when `queued`, with `write_bytes` (64 KiB `Bytes` slices of
/// one buffer, not copied); returns the wall time taken and the datagrams
/// carried.
pub(crate) fn transfer(bytes: usize, acceptor_writes: bool, queued: bool) -> (Duration, u64) {
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

/// Moves `bytes` from one endpoint to the other as [`transfer`] does
/// (initiator to acceptor, `write_bytes` of one buffer of the whole
/// payload, not one hot 64 KiB chunk), split over `conns` connections that
/// all send at once, the acceptor sharing `share` bytes of receive window
/// among them (`Endpoint::set_recv_window_share`, what the driver does
/// when its socket buffer fills); returns the wall time taken and the
/// datagrams carried.
#[allow(dead_code)] // core.rs only, not micro.rs
pub(crate) fn transfer_many(bytes: usize, conns: usize, share: Option<usize>) -> (Duration, u64) {
    let b_addr: SocketAddr = "192.0.2.2:2000".parse().unwrap();
    let a_addr: SocketAddr = "192.0.2.1:1000".parse().unwrap();
    let mut a = Endpoint::new(Config::default(), 1);
    let mut b = Endpoint::new(Config::default(), 2);
    b.listen(ListenConfig::default());
    b.set_recv_window_share(share);
    let mut now = Timestamp::ZERO;
    let each = bytes / conns;
    let shared = Bytes::from(vec![0x5au8; each]);
    let mut writers: Vec<(ConnHandle, Bytes)> = (0..conns)
        .map(|_| (a.connect(now, b_addr).unwrap(), shared.clone()))
        .collect();
    let mut received = 0usize;
    let mut wire: VecDeque<(bool, Vec<u8>)> = VecDeque::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; 65536];
    let mut rbuf = vec![0u8; 256 * 1024];
    let mut packets = 0u64;
    let start = Instant::now();
    while received < each * conns {
        for (h, pending) in &mut writers {
            if let Some(mut c) = a.conn(*h) {
                while !pending.is_empty() {
                    match c.write_bytes(pending) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
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
                    Event::Incoming => while ep.accept().is_some() {},
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

/// A DATA packet carrying `payload`, with a SACK extension (a 4-byte mask)
/// when `sack`.
pub(crate) fn data_packet(payload: &[u8], sack: bool) -> PacketRepr<'_> {
    PacketRepr {
        packet_type: PacketType::Data,
        connection_id: 0x1234,
        timestamp: WireTimestamp(1_000_000),
        timestamp_difference: TimestampDiff(20_000),
        window_size: 1 << 20,
        seq_nr: SeqNr::new(100),
        ack_nr: SeqNr::new(50),
        selective_ack: sack.then_some(SelectiveAck::NONE),
        close_reason: None,
        payload,
    }
}
