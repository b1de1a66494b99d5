//! Outages (issue 11, item 7): a path that goes black in both directions
//! ([`Sim::partition_both`]) in the middle of a transfer that moves data
//! both ways. Shorter than the retransmission limits, nothing is lost and
//! the transfer finishes; longer, both sides end with
//! [`CloseReason::TimedOut`] within a bound derived from the config. After
//! s2n-quic's blackhole tests. Run with `-- --nocapture` for the times.
//!
//! The retransmission limit is worth spelling out. With an RTO of `r` at
//! the start of the outage (the 500 ms floor on these paths), timeout `k`
//! fires at `r * (2^k - 1)` after the last ack: timeouts 1 to
//! `max_retransmissions` resend, the next one gives up. With the default
//! 5 the last resend goes at `31 r` (15.5 s) and the connection ends at
//! `63 r` (31.5 s): an outage of 16 to 31 s kills it although it is
//! shorter than the time to give up, because nothing is sent between the
//! two. The 30 s case below therefore runs with `max_retransmissions = 6`
//! (last resend at `63 r`, 31.5 s).
//!
//! The transfer is driven by a small local loop ([`Pair`]): the acceptor
//! writes first (as soon as it accepts), which `utp_scenarios::Transfers`
//! (one way) does not do.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use utp_core::{CloseReason, Config, ConnHandle, Endpoint, Event, ListenConfig, Timestamp};
use utp_sim::{LinkConfig, Sim};

const MIB: u64 = 1 << 20;

fn client() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}

fn server() -> SocketAddr {
    "10.0.0.2:6881".parse().unwrap()
}

/// 40 ms RTT, 10 Mbit/s, a 100-packet queue: 8 MiB take about 7 s.
fn link() -> LinkConfig {
    LinkConfig {
        bandwidth: Some(10_000_000),
        queue_capacity: Some(100),
        ..LinkConfig::with_latency(Duration::from_millis(20))
    }
}

/// Bytes `8 * word ..` of the stream in direction `dir` (0: client to
/// server, 1: server to client).
fn stream_word(dir: u64, word: u64) -> u64 {
    let mut z = (dir << 63 ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn stream_byte(dir: u64, pos: u64) -> u8 {
    (stream_word(dir, pos / 8) >> (8 * (pos % 8))) as u8
}

/// One side of the transfer.
#[derive(Default)]
struct Side {
    handle: Option<ConnHandle>,
    written: u64,
    read: u64,
    corrupt_at: Option<u64>,
    eof: bool,
    shut: bool,
    closed: Option<(CloseReason, Timestamp)>,
    /// When `read` last grew.
    progress_at: Option<Timestamp>,
    /// Stream bytes made but not yet taken by `write`, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
}

impl std::fmt::Debug for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "written {} read {} eof {} corrupt_at {:?} closed {:?}",
            self.written, self.read, self.eof, self.corrupt_at, self.closed
        )
    }
}

/// A client and a listening server moving `up` bytes to the server and
/// `down` bytes back, every byte checked.
struct Pair {
    up: u64,
    down: u64,
    c: Side,
    s: Side,
    buf: Vec<u8>,
}

impl Pair {
    fn start(sim: &mut Sim<Endpoint>, config: &Config, up: u64, down: u64) -> Self {
        let mut s = Endpoint::new(config.clone(), 2);
        s.listen(ListenConfig::default());
        sim.add_host(server(), s);
        sim.add_host(client(), Endpoint::new(config.clone(), 1));
        let now = sim.now();
        let h = sim.host_mut(client()).connect(now, server()).unwrap();
        let mut pair = Pair {
            up,
            down,
            c: Side {
                handle: Some(h),
                ..Side::default()
            },
            s: Side::default(),
            buf: vec![0; 64 * 1024],
        };
        pair.pump(sim, true);
        pair
    }

    fn poll(&mut self, sim: &mut Sim<Endpoint>) {
        for (addr, is_client) in [(client(), true), (server(), false)] {
            while let Some(event) = sim.host_mut(addr).poll_event() {
                match event {
                    Event::Incoming => {
                        let h = sim.host_mut(addr).accept().unwrap();
                        assert!(self.s.handle.is_none(), "a second connection");
                        self.s.handle = Some(h);
                    }
                    Event::Closed(h, reason) => {
                        self.pump(sim, is_client);
                        let now = sim.now();
                        self.side(is_client).closed = Some((reason, now));
                        if let Some(mut c) = sim.host_mut(addr).conn(h) {
                            c.close();
                        }
                        continue;
                    }
                    _ => {}
                }
                self.pump(sim, is_client);
            }
        }
    }

    fn side(&mut self, is_client: bool) -> &mut Side {
        if is_client {
            &mut self.c
        } else {
            &mut self.s
        }
    }

    fn pump(&mut self, sim: &mut Sim<Endpoint>, is_client: bool) {
        let now = sim.now();
        let (addr, total, dir) = if is_client {
            (client(), self.up, 0)
        } else {
            (server(), self.down, 1)
        };
        let buf = &mut self.buf;
        let side = if is_client { &mut self.c } else { &mut self.s };
        let Some(mut conn) = side.handle.and_then(|h| sim.host_mut(addr).conn(h)) else {
            return;
        };
        while side.written < total {
            // The bytes from `written` on, made once and kept until taken.
            if side.out_pos >= side.out.len() {
                let n = (total - side.written).min(16 * 1024);
                side.out = (0..n).map(|k| stream_byte(dir, side.written + k)).collect();
                side.out_pos = 0;
            }
            match conn.write(&side.out[side.out_pos..]) {
                Ok(w) => {
                    side.out_pos += w;
                    side.written += w as u64;
                }
                Err(_) => break,
            }
        }
        if side.written == total && !side.shut {
            side.shut = true;
            conn.shutdown();
        }
        loop {
            match conn.read(buf) {
                Ok(0) => {
                    side.eof = true;
                    break;
                }
                Ok(n) => {
                    for (k, &b) in buf[..n].iter().enumerate() {
                        let pos = side.read + k as u64;
                        if side.corrupt_at.is_none() && b != stream_byte(1 - dir, pos) {
                            side.corrupt_at = Some(pos);
                        }
                    }
                    side.read += n as u64;
                    side.progress_at = Some(now);
                }
                Err(_) => break,
            }
        }
    }

    fn over(&self) -> bool {
        self.c.closed.is_some() && (self.s.handle.is_none() || self.s.closed.is_some())
    }

    fn clean(&self) -> bool {
        self.c.corrupt_at.is_none()
            && self.s.corrupt_at.is_none()
            && self.s.read == self.up
            && self.c.read == self.down
            && self.c.eof
            && self.s.eof
            && self.c.closed.map(|c| c.0) == Some(CloseReason::Finished)
            && self.s.closed.map(|c| c.0) == Some(CloseReason::Finished)
    }
}

/// What a run with a blackhole from `start` for `len` showed.
#[derive(Debug)]
struct Run {
    pair_c: Side,
    pair_s: Side,
    clean: bool,
    end: Timestamp,
    /// The RTO of each side when the path went black.
    rto_at_start: (Duration, Duration),
    /// First progress (bytes read, either side) after the path came back.
    resumed_at: Option<Timestamp>,
}

fn run(
    seed: u64,
    config: &Config,
    bytes: u64,
    start: Timestamp,
    len: Duration,
    limit: Timestamp,
) -> Run {
    let mut sim: Sim<Endpoint> = Sim::new(seed);
    sim.set_link_both(client(), server(), link()).unwrap();
    let heal = start + len;
    sim.partition_both(client(), server(), start, heal);
    let mut pair = Pair::start(&mut sim, config, bytes, bytes);
    // Up to the outage, then through it.
    let _ = sim.run_until(start, |sim| {
        pair.poll(sim);
        false
    });
    assert!(
        pair.c.read > 0 && pair.s.read > 0 && pair.c.read < bytes && pair.s.read < bytes,
        "both directions must be mid-transfer when the path goes black: {:?} {:?}",
        pair.c,
        pair.s
    );
    let rto = |sim: &mut Sim<Endpoint>, addr, h: Option<ConnHandle>| {
        sim.host_mut(addr)
            .conn(h.unwrap())
            .map(|c| c.stats().rto)
            .unwrap()
    };
    let rto_at_start = (
        rto(&mut sim, client(), pair.c.handle),
        rto(&mut sim, server(), pair.s.handle),
    );
    let mut resumed_at = None;
    let end = sim.run_until(limit, |sim| {
        pair.poll(sim);
        if resumed_at.is_none() {
            let last = pair.c.progress_at.max(pair.s.progress_at);
            resumed_at = last.filter(|&t| t >= heal);
        }
        pair.over()
    });
    let end = end.unwrap_or_else(|e| panic!("{e}: {:?} {:?}", pair.c, pair.s));
    Run {
        clean: pair.clean(),
        pair_c: pair.c,
        pair_s: pair.s,
        end,
        rto_at_start,
        resumed_at,
    }
}

#[test]
fn blackholes_within_the_limits_lose_nothing() {
    let start = Timestamp::from_secs(2);
    let control = run(
        1,
        &Config::default(),
        8 * MIB,
        start,
        Duration::ZERO,
        Timestamp::from_secs(60),
    );
    assert!(control.clean, "{control:?}");
    println!(
        "outage: none: transfer of 8 MiB each way ends at {:?}",
        control.end
    );
    let patient = Config {
        max_retransmissions: 6,
        ..Config::default()
    };
    for (secs, config) in [
        (2, Config::default()),
        (10, Config::default()),
        (30, patient),
    ] {
        let len = Duration::from_secs(secs);
        let r = run(
            secs,
            &config,
            8 * MIB,
            start,
            len,
            Timestamp::from_secs(300),
        );
        println!(
            "outage: {secs} s blackhole (max_retransmissions {}): RTO at start {:?}/{:?}, traffic again at {:?} \
             ({:?} after the heal), transfer ends at {:?} ({:?} later than without)",
            config.max_retransmissions,
            r.rto_at_start.0,
            r.rto_at_start.1,
            r.resumed_at,
            r.resumed_at.map(|t| t - (start + len)),
            r.end,
            r.end - control.end
        );
        assert!(r.clean, "{secs} s: {r:#?}");
        // It resumed with the first resend after the heal: no later than
        // one (capped) backoff step beyond it.
        let resumed = r.resumed_at.unwrap() - (start + len);
        assert!(
            resumed <= len + Duration::from_secs(2),
            "{secs} s: resumed {resumed:?} after"
        );
    }
}

#[test]
fn longer_blackholes_time_out_on_both_sides() {
    let start = Timestamp::from_secs(2);
    let config = Config::default();
    let n = config.max_retransmissions;
    // Both sides have data in flight: each gives up at timeout n + 1,
    // `r * (2^(n+1) - 1)` after its last ack (the RTO of both stays at its
    // 500 ms floor here, far below the 60 s cap).
    let r = run(
        3,
        &config,
        8 * MIB,
        start,
        Duration::from_secs(3600),
        Timestamp::from_secs(400),
    );
    let steps = (1u32 << (n + 1)) - 1;
    let latest = |rto: Duration| start + rto * steps + Duration::from_secs(1);
    let earliest = start + config.min_rto * ((1u32 << n) - 1);
    for (name, side, rto) in [
        ("client", &r.pair_c, r.rto_at_start.0),
        ("server", &r.pair_s, r.rto_at_start.1),
    ] {
        let (reason, at) = side.closed.unwrap();
        println!(
            "outage: permanent from {start:?}: {name} closed {reason:?} at {at:?} ({:?} in; RTO at start {rto:?}, \
             bound {:?})",
            at - start,
            latest(rto) - start
        );
        assert_eq!(reason, CloseReason::TimedOut, "{name}");
        assert!(
            at >= earliest && at <= latest(rto),
            "{name} closed at {at:?}"
        );
    }

    // One direction finished before the outage: the server has nothing in
    // flight and only the idle timeout tells it the path is gone.
    let mut sim: Sim<Endpoint> = Sim::new(4);
    sim.set_link_both(client(), server(), link()).unwrap();
    let mut pair = Pair::start(&mut sim, &config, 16 * MIB, 64 * 1024);
    let _ = sim.run_until(start, |sim| {
        pair.poll(sim);
        false
    });
    assert!(
        pair.c.eof && pair.s.read < 16 * MIB,
        "{:?} {:?}",
        pair.c,
        pair.s
    );
    sim.partition_both(client(), server(), start, Timestamp::MAX);
    let end = sim.run_until(Timestamp::from_secs(400), |sim| {
        pair.poll(sim);
        pair.over()
    });
    assert!(end.is_ok(), "{end:?}");
    let idle = config.idle_timeout.unwrap();
    for (name, side, bound) in [
        ("client", &pair.c, start + config.max_rto),
        (
            "server (idle)",
            &pair.s,
            start + idle + Duration::from_secs(1),
        ),
    ] {
        let (reason, at) = side.closed.unwrap();
        println!(
            "outage: permanent, {name}: closed {reason:?} at {at:?} ({:?} in, bound {:?})",
            at - start,
            bound - start
        );
        assert_eq!(reason, CloseReason::TimedOut, "{name}");
        assert!(at <= bound, "{name} closed at {at:?}");
    }
}
