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

/// Two endpoints joined by a lossless in-memory wire with 1 ms of
/// simulated delay: A (`192.0.2.1:1000`) connects, B (`192.0.2.2:2000`)
/// listens. Each [`round`](Net::round) drains both, reading whatever is
/// readable, and delivers what they sent.
pub(crate) struct Net {
    pub(crate) a: Endpoint,
    pub(crate) b: Endpoint,
    pub(crate) now: Timestamp,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    wire: VecDeque<(bool, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
    buf: Vec<u8>,
    rbuf: Vec<u8>,
    /// Datagrams carried.
    pub(crate) packets: u64,
    /// Payload bytes read, on either side.
    pub(crate) received: usize,
}

impl Net {
    pub(crate) fn new() -> Net {
        let mut b = Endpoint::new(Config::default(), 2);
        b.listen(ListenConfig::default());
        Net {
            a: Endpoint::new(Config::default(), 1),
            b,
            now: Timestamp::ZERO,
            a_addr: "192.0.2.1:1000".parse().unwrap(),
            b_addr: "192.0.2.2:2000".parse().unwrap(),
            wire: VecDeque::new(),
            spare: Vec::new(),
            buf: vec![0; 65536],
            rbuf: vec![0; 256 * 1024],
            packets: 0,
            received: 0,
        }
    }

    /// A connects to B.
    pub(crate) fn connect(&mut self) -> ConnHandle {
        self.a.connect(self.now, self.b_addr).unwrap()
    }

    /// One round: both endpoints' datagrams onto the wire and their events
    /// handled (`incoming` is called with B on `Event::Incoming`; readable
    /// data is read and counted), a millisecond passes (or time jumps to
    /// the next deadline when nothing is in flight), the datagrams are
    /// delivered and due timers run.
    pub(crate) fn round(&mut self, mut incoming: impl FnMut(&mut Endpoint)) {
        let Net {
            a,
            b,
            now,
            a_addr,
            b_addr,
            wire,
            spare,
            buf,
            rbuf,
            packets,
            received,
        } = self;
        for (to_b, ep) in [(true, &mut *a), (false, &mut *b)] {
            while let Some(t) = ep.poll_transmit(*now, buf) {
                let mut d = spare.pop().unwrap_or_default();
                d.clear();
                d.extend_from_slice(&buf[..t.len]);
                wire.push_back((to_b, d));
            }
            while let Some(event) = ep.poll_event() {
                match event {
                    Event::Incoming => incoming(ep),
                    Event::Readable(h) | Event::Eof(h) => {
                        let Some(mut c) = ep.conn(h) else { continue };
                        while let Ok(n) = c.read(rbuf) {
                            if n == 0 {
                                break;
                            }
                            *received += n;
                        }
                    }
                    _ => {}
                }
            }
        }
        *now += Duration::from_millis(1);
        if wire.is_empty() {
            if let Some(t) = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            {
                *now = (*now).max(t);
            }
        }
        while let Some((to_b, d)) = wire.pop_front() {
            *packets += 1;
            if to_b {
                b.handle_datagram(*now, *a_addr, &d);
            } else {
                a.handle_datagram(*now, *b_addr, &d);
            }
            spare.push(d);
        }
        a.handle_timeout(*now);
        b.handle_timeout(*now);
    }
}

/// Moves `bytes` from one endpoint to the other over a [`Net`], written
/// with `write` (copied into the send buffer) or, when `queued`, with
/// `write_bytes` (64 KiB `Bytes` slices of one buffer, not copied);
/// returns the wall time taken and the datagrams carried.
pub(crate) fn transfer(bytes: usize, acceptor_writes: bool, queued: bool) -> (Duration, u64) {
    let mut net = Net::new();
    let ha = net.connect();
    let mut hb: Option<ConnHandle> = None;
    let chunk = vec![0x5au8; 64 * 1024];
    let shared = Bytes::from(chunk.clone());
    let mut pending = Bytes::new();
    let mut sent = 0usize;
    let start = Instant::now();
    while net.received < bytes {
        // The writer fills its send buffer.
        let writer = if acceptor_writes {
            hb.map(|h| (&mut net.b, h))
        } else {
            Some((&mut net.a, ha))
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
        net.round(|b| hb = b.accept());
    }
    (start.elapsed(), net.packets)
}

/// Moves `bytes` from one endpoint to the other over a [`Net`]
/// (initiator to acceptor, `write_bytes` of one buffer of the whole
/// payload, not one hot 64 KiB chunk), split over `conns` connections that
/// all send at once, the acceptor sharing `share` bytes of receive window
/// among them (`Endpoint::set_recv_window_share`, what the driver does
/// when its socket buffer fills); returns the wall time taken and the
/// datagrams carried.
#[allow(dead_code)] // core.rs only, not micro.rs
pub(crate) fn transfer_many(bytes: usize, conns: usize, share: Option<usize>) -> (Duration, u64) {
    let mut net = Net::new();
    net.b.set_recv_window_share(share);
    let each = bytes / conns;
    // One buffer of the whole payload, each connection its own slice of
    // it (as each would send its own data), so that 100 connections stream
    // as much memory as one does.
    let whole = Bytes::from(vec![0x5au8; each * conns]);
    let mut writers: Vec<(ConnHandle, Bytes)> = (0..conns)
        .map(|i| (net.connect(), whole.slice(i * each..(i + 1) * each)))
        .collect();
    let start = Instant::now();
    while net.received < each * conns {
        for (h, pending) in &mut writers {
            if let Some(mut c) = net.a.conn(*h) {
                while !pending.is_empty() {
                    match c.write_bytes(pending) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
        }
        net.round(|b| while b.accept().is_some() {});
    }
    (start.elapsed(), net.packets)
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
