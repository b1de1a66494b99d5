//! The socket-wide send rate limit (`Config::max_total_send_rate`), in
//! memory with explicit time: the connections of an endpoint together send
//! at the limit (DATA and FIN bytes on the wire, headers included), with 1,
//! 2 and 4 connections, sharing it evenly, while acks are never held back;
//! a limit changed mid-transfer takes effect at once.

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
use utp_core::congestion::{AckSample, CongestionKind, Controller, ControllerContext};
use utp_core::wire::{PacketRepr, PacketType};
use utp_core::{Config, ConnHandle, Endpoint, Timestamp};

/// Both directions of `n` connections from A to B, each side writing
/// without end (a repeating pattern, checked on receipt).
struct Load {
    conns: Vec<(ConnHandle, ConnHandle)>,
    /// Per connection and direction (A→B, B→A): bytes written, read.
    written: Vec<[u64; 2]>,
    read: Vec<[u64; 2]>,
    pattern: Vec<u8>,
}

impl Load {
    fn start(p: &mut Pair, n: usize) -> Load {
        let conns = (0..n).map(|_| p.connect()).collect::<Vec<_>>();
        Load {
            written: vec![[0; 2]; n],
            read: vec![[0; 2]; n],
            conns,
            pattern: pattern(1 << 16, 7),
        }
    }

    /// Runs for `d` of virtual time, keeping every send buffer full.
    fn run_for(&mut self, p: &mut Pair, d: Duration) {
        let until = p.now + d;
        let mut buf = vec![0u8; 1 << 16];
        let period = self.pattern.len() as u64;
        loop {
            for (i, &(ha, hb)) in self.conns.iter().enumerate() {
                for (dir, ep, h) in [(0, &mut p.a, ha), (1, &mut p.b, hb)] {
                    let mut c = ep.conn(h).unwrap();
                    loop {
                        let at = (self.written[i][dir] % period) as usize;
                        match c.write(&self.pattern[at..]) {
                            Ok(n) => self.written[i][dir] += n as u64,
                            Err(_) => break,
                        }
                    }
                }
                for (dir, ep, h) in [(0, &mut p.b, hb), (1, &mut p.a, ha)] {
                    let mut c = ep.conn(h).unwrap();
                    while let Ok(n) = c.read(&mut buf) {
                        assert!(n > 0, "no stream ends here");
                        for (k, &byte) in buf[..n].iter().enumerate() {
                            let offset = self.read[i][dir] + k as u64;
                            assert_eq!(byte, self.pattern[(offset % period) as usize]);
                        }
                        self.read[i][dir] += n as u64;
                    }
                }
            }
            p.flush();
            match p.next_time() {
                Some(next) if next <= until => p.step_to(next),
                _ => break,
            }
        }
        p.run_until(until);
    }
}

/// Bytes of packets that draw from the limit (SYN, DATA, FIN) `from` sent
/// in `[start, end)`, in all and per connection id; and how many acks.
fn sent_between(
    p: &Pair,
    from: &str,
    start: Timestamp,
    end: Timestamp,
) -> (u64, HashMap<u16, u64>, usize) {
    let mut total = 0;
    let mut per_conn = HashMap::new();
    let mut acks = 0;
    for w in p.wire_from(from) {
        if w.sent_at < start || w.sent_at >= end {
            continue;
        }
        let packet = w.packet();
        match packet.packet_type {
            PacketType::Data | PacketType::Fin | PacketType::Syn => {
                total += w.bytes.len() as u64;
                *per_conn.entry(packet.connection_id).or_insert(0) += w.bytes.len() as u64;
            }
            PacketType::State => acks += 1,
            PacketType::Reset => {}
        }
    }
    (total, per_conn, acks)
}

fn limited(rate: u64) -> Config {
    let mut config = Config::default();
    config.max_total_send_rate = Some(rate);
    config
}

/// `got` bytes in `secs` seconds are within 15% of `rate` bytes a second.
fn assert_near(got: u64, rate: u64, secs: f64, what: &str) {
    let want = rate as f64 * secs;
    let ratio = got as f64 / want;
    println!("{what}: {got} bytes in {secs} s, {ratio:.3} of the limit");
    assert!((0.85..=1.15).contains(&ratio), "{what}: {got} vs {want}");
}

#[test]
fn the_limit_holds_for_one_two_and_four_connections() {
    const RATE: u64 = 1_000_000;
    for n in [1, 2, 4] {
        let mut p = Pair::new(limited(RATE), limited(RATE));
        let mut load = Load::start(&mut p, n);
        // Slow start is over after a second.
        load.run_for(&mut p, Duration::from_secs(1));
        let start = p.now;
        load.run_for(&mut p, Duration::from_secs(2));
        for (side, label) in [(A, "A"), (B, "B")] {
            let (total, per_conn, acks) = sent_between(&p, side, start, p.now);
            assert_near(total, RATE, 2.0, &format!("{n} connections, {label}"));
            // They take turns: each gets its share, within 15%.
            assert_eq!(per_conn.len(), n);
            for (id, bytes) in per_conn {
                let share = bytes as f64 * n as f64 / total as f64;
                assert!(
                    (0.85..=1.15).contains(&share),
                    "{label} conn {id}: {share:.3}"
                );
            }
            // Acks flow alongside (one per two packets the other way).
            assert!(acks > 500, "{label}: {acks} acks");
        }
        // What was read is what was written, less what is in flight.
        for (w, r) in load.written.iter().zip(&load.read) {
            for dir in 0..2 {
                assert!(r[dir] <= w[dir] && r[dir] > 0);
            }
        }
    }
}

#[test]
fn a_limit_changed_mid_transfer_takes_effect() {
    let mut p = Pair::new(limited(1_000_000), Config::default());
    let mut load = Load::start(&mut p, 2);
    load.run_for(&mut p, Duration::from_secs(1));
    let phases: [(Option<u64>, u64); 3] = [
        (Some(1_000_000), 2),
        (Some(500_000), 2),
        (Some(2_000_000), 2),
    ];
    for (rate, secs) in phases {
        p.a.set_max_total_send_rate(rate);
        assert_eq!(p.a.config().max_total_send_rate, rate);
        let start = p.now;
        load.run_for(&mut p, Duration::from_secs(secs));
        let (total, _, _) = sent_between(&p, A, start, p.now);
        assert_near(
            total,
            rate.unwrap(),
            secs as f64,
            &format!("limit {rate:?}"),
        );
    }
    // Lifted: far more than the last limit (the windows limit it now).
    p.a.set_max_total_send_rate(None);
    let start = p.now;
    load.run_for(&mut p, Duration::from_secs(2));
    let (total, _, _) = sent_between(&p, A, start, p.now);
    println!("no limit: {total} bytes in 2 s");
    assert!(total > 2 * 2 * 2_000_000, "{total}");
    // B was never limited: it sent at what its windows allow.
    let (b_total, _, _) = sent_between(&p, B, start, p.now);
    assert!(b_total > 2 * 2 * 2_000_000, "{b_total}");
}

/// A wide-open window (no congestion control in the way).
#[derive(Debug)]
struct Open;

impl Controller for Open {
    fn window(&self) -> usize {
        usize::MAX / 2
    }
    fn on_ack(&mut self, _: &AckSample) {}
    fn on_loss(&mut self, _: Timestamp, _: usize) {}
    fn on_timeout(&mut self, _: Timestamp, _: usize) {}
}

/// Once the bucket is empty, `poll_timeout` says when the next packet may
/// go, so the loop wakes for it.
#[test]
fn poll_timeout_includes_the_refill() {
    let mut config = limited(100_000);
    config.congestion =
        CongestionKind::custom(|_: &ControllerContext| Box::new(Open) as Box<dyn Controller>);
    let mut p = Pair::new(config, Config::default());
    let (ha, _hb) = p.connect();
    p.a.conn(ha).unwrap().write(&pattern(200_000, 1)).unwrap();
    let now = p.now;
    let mut buf = [0u8; 1500];
    // A burst of ten full packets' worth, then nothing.
    let mut burst = 0;
    while let Some(t) = p.a.poll_transmit(now, &mut buf) {
        burst += t.len;
    }
    assert!((14_020 - 1402..=14_020).contains(&burst), "{burst}");
    let next = p.a.poll_timeout().unwrap();
    assert!(next > now, "waits for the bucket");
    // No later than one more full packet takes at 100 kB/s.
    assert!(
        next - now <= Duration::from_micros(14_020),
        "{:?}",
        next - now
    );
    p.a.handle_timeout(next);
    let t =
        p.a.poll_transmit(next, &mut buf)
            .expect("a packet once the bucket refilled");
    assert_eq!(
        PacketRepr::parse(&buf[..t.len]).unwrap().packet_type,
        PacketType::Data
    );
    // An endpoint without a limit has no such deadline.
    let idle = Endpoint::new(Config::default(), 9);
    assert_eq!(idle.poll_timeout(), None);
}
