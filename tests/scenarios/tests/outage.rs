//! Outages (issue 11, item 7): a path that goes black in both directions
//! ([`Sim::partition_both`]) in the middle of a transfer that moves data
//! both ways. Shorter than the retransmission limits, nothing is lost and
//! the transfer finishes; longer, both sides end with
//! [`CloseReason::TimedOut`] (which timer: retransmissions or idle) within a bound derived from the config. After
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
//! The transfer is driven by [`Transfers`], the acceptor writing first,
//! every byte checked.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use utp_core::{CloseReason, Config, ConnHandle, Endpoint, Timer, Timestamp};
use utp_scenarios::{endpoint, Flow, FlowResult, Transfers};
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

/// Starts a transfer of `up` bytes to the server and `down` bytes back,
/// the server writing first.
fn start_pair(sim: &mut Sim<Endpoint>, config: &Config, up: u64, down: u64) -> Transfers {
    let flow = Flow {
        client: client(),
        server: server(),
        len: up,
        reply_len: down,
        acceptor_first: true,
        seed: 0,
    };
    Transfers::start(sim, vec![flow], config, config)
}

/// Runs the transfer until both sides have ended (and `watch`, called
/// after each round of events, returns `true`), which must be before
/// `limit`; it must have made one connection.
fn finish_pair<W>(
    sim: &mut Sim<Endpoint>,
    pair: &mut Transfers,
    limit: Timestamp,
    watch: W,
) -> Timestamp
where
    W: FnMut(&mut Sim<Endpoint>, &Transfers) -> bool,
{
    let end = pair.run_watching(sim, limit, watch);
    let end = end.unwrap_or_else(|e| panic!("{e}: {}", pair.failures()));
    assert_eq!(pair.server_connections(server()), 1, "a second connection");
    end
}

/// What a run with a blackhole from `start` for `len` showed.
#[derive(Debug)]
struct Run {
    pair: FlowResult,
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
    let mut pair = start_pair(&mut sim, config, bytes, bytes);
    // Up to the outage, then through it.
    pair.settle(&mut sim, start);
    let (f, r) = (&pair.flows[0], &pair.results[0]);
    assert!(
        r.reply_received > 0
            && r.received > 0
            && r.reply_received < f.reply_stream_len()
            && r.received < f.stream_len(),
        "both directions must be mid-transfer when the path goes black: {r:?}"
    );
    let rto = |sim: &mut Sim<Endpoint>, addr, h: Option<ConnHandle>| {
        endpoint(sim, addr)
            .conn(h.unwrap())
            .map(|c| c.stats().rto)
            .unwrap()
    };
    let rto_at_start = (
        rto(&mut sim, client(), r.client_handle),
        rto(&mut sim, server(), r.server_handle),
    );
    let mut resumed_at = None;
    let end = finish_pair(&mut sim, &mut pair, limit, |_, pair| {
        if resumed_at.is_none() {
            let r = &pair.results[0];
            resumed_at = r
                .received_at
                .max(r.reply_received_at)
                .filter(|&t| t >= heal);
        }
        true
    });
    let (f, r) = (&pair.flows[0], &pair.results[0]);
    Run {
        clean: r.is_clean(f),
        pair: r.clone(),
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
    let mut patient = Config::default();
    patient.max_retransmissions = 6;
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
    let p = &r.pair;
    for (name, closed, rto) in [
        (
            "client",
            p.client_closed.zip(p.client_closed_at),
            r.rto_at_start.0,
        ),
        (
            "server",
            p.server_closed.zip(p.server_closed_at),
            r.rto_at_start.1,
        ),
    ] {
        let (reason, at) = closed.unwrap();
        println!(
            "outage: permanent from {start:?}: {name} closed {reason:?} at {at:?} ({:?} in; RTO at start {rto:?}, \
             bound {:?})",
            at - start,
            latest(rto) - start
        );
        assert_eq!(
            reason,
            CloseReason::TimedOut(Timer::Retransmissions),
            "{name}"
        );
        assert!(
            at >= earliest && at <= latest(rto),
            "{name} closed at {at:?}"
        );
    }

    // One direction finished before the outage: the server has nothing in
    // flight and only the idle timeout tells it the path is gone.
    let mut sim: Sim<Endpoint> = Sim::new(4);
    sim.set_link_both(client(), server(), link()).unwrap();
    let mut pair = start_pair(&mut sim, &config, 16 * MIB, 64 * 1024);
    pair.settle(&mut sim, start);
    let (f, r) = (&pair.flows[0], &pair.results[0]);
    assert!(r.reply_eof && r.received < f.stream_len(), "{r:?}");
    sim.partition_both(client(), server(), start, Timestamp::MAX);
    finish_pair(&mut sim, &mut pair, Timestamp::from_secs(400), |_, _| true);
    let idle = config.idle_timeout.unwrap();
    let p = &pair.results[0];
    for (name, closed, bound, timer) in [
        (
            "client",
            p.client_closed.zip(p.client_closed_at),
            start + config.max_rto,
            Timer::Retransmissions,
        ),
        (
            "server (idle)",
            p.server_closed.zip(p.server_closed_at),
            start + idle + Duration::from_secs(1),
            Timer::Idle,
        ),
    ] {
        let (reason, at) = closed.unwrap();
        println!(
            "outage: permanent, {name}: closed {reason:?} at {at:?} ({:?} in, bound {:?})",
            at - start,
            bound - start
        );
        assert_eq!(reason, CloseReason::TimedOut(timer), "{name}");
        assert!(at <= bound, "{name} closed at {at:?}");
    }
}
