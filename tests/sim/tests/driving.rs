//! Driving the simulator: determinism and the trace, run_until and step,
//! timers, replacing and mixing hosts.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use utp_sim::{
    DropReason, EventKind, GilbertElliott, Host, LinkConfig, RunError, Sim, Timestamp, TraceMode,
};

/// A whole scenario with every impairment; returns the trace hash.
fn scenario(seed: u64) -> (u64, Vec<utp_sim::TraceEvent>) {
    let cfg = LinkConfig {
        latency: ms(20),
        jitter: ms(5),
        bandwidth: Some(10_000_000),
        queue_capacity: Some(20),
        loss: 0.02,
        burst_loss: Some(GilbertElliott::gilbert(0.01, 0.3)),
        duplicate: 0.01,
        reorder: 0.02,
        reorder_delay: ms(3),
        mtu: Some(1500),
    };
    let mut sim = pair(seed, cfg);
    sim.set_link(b(), a(), cfg).unwrap();
    sim.set_trace(TraceMode::Full);
    sim.host_mut(b()).echo = true;
    paced(&mut sim, 2_000, Duration::from_micros(700), 400);
    drain(&mut sim);
    // Every datagram and every copy ended up delivered or dropped.
    for (_, _, s) in sim.links() {
        assert_eq!(s.delivered + s.dropped.total(), s.sent + s.duplicated);
    }
    let n = sim.stats().network;
    assert_eq!(n.delivered + n.dropped.total(), n.sent + n.duplicated);
    (sim.trace_hash(), sim.take_trace())
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let (h1, t1) = scenario(1234);
    let (h2, t2) = scenario(1234);
    let (h3, t3) = scenario(1235);
    assert_eq!(h1, h2);
    assert_eq!(t1, t2);
    assert_ne!(h1, h3);
    assert_ne!(t1, t3);
    // Every impairment showed up.
    let count = |k: fn(&EventKind) -> bool| t1.iter().filter(|e| k(&e.kind)).count();
    assert!(count(|k| matches!(k, EventKind::Drop(DropReason::Loss))) > 0);
    assert!(count(|k| *k == EventKind::Duplicate) > 0);
    assert!(t1.len() > 9_000);
}

#[test]
fn trace_hash_does_not_depend_on_trace_mode() {
    let run = |mode| {
        let mut sim = pair(8, LinkConfig::with_latency(ms(3)));
        sim.set_trace(mode);
        sim.host_mut(b()).echo = true;
        paced(&mut sim, 100, ms(1), 30);
        drain(&mut sim);
        let kept = sim.trace().len();
        (sim.trace_hash(), kept)
    };
    let (full, n_full) = run(TraceMode::Full);
    let (off, n_off) = run(TraceMode::Off);
    let (last, n_last) = run(TraceMode::Last(10));
    assert_eq!(full, off);
    assert_eq!(full, last);
    // 100 timeouts, 200 sends, 200 deliveries.
    assert_eq!((n_full, n_off, n_last), (500, 0, 10));
}

#[test]
fn trace_records_events_in_order() {
    let mut sim = pair(1, LinkConfig::with_latency(ms(7)));
    sim.set_trace(TraceMode::Full);
    sim.host_mut(b()).fixed_deadline = Some(t_ms(3));
    sim.host_mut(a()).send(b(), b"hi");
    sim.run_until(t_ms(5), |s| s.host(b()).timeouts.len() == 1)
        .unwrap();
    sim.host_mut(b()).fixed_deadline = None;
    drain(&mut sim);
    let lines: Vec<String> = sim.trace().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "0.000000s send 10.0.0.1:1000 -> 10.0.0.2:2000 2B",
            "0.003000s timeout 10.0.0.2:2000",
            "0.007000s deliver 10.0.0.1:1000 -> 10.0.0.2:2000 2B",
        ]
    );
}

#[test]
fn run_until_reports_idle_and_deadline() {
    let mut sim = pair(1, LinkConfig::with_latency(ms(10)));
    // Nothing at all.
    assert_eq!(
        sim.run_until(t_ms(100), |_| false),
        Err(RunError::Idle {
            now: Timestamp::ZERO
        })
    );
    // A datagram lands at 10 ms, then nothing.
    sim.host_mut(a()).send(b(), b"x");
    let err = sim.run_until(t_ms(100), |_| false).unwrap_err();
    assert_eq!(err, RunError::Idle { now: t_ms(10) });
    assert_eq!(err.now(), t_ms(10));
    assert!(err.to_string().contains("idle"));
    // A periodic timer never idles: the deadline stops it, and time is the deadline.
    paced(&mut sim, u32::MAX, ms(30), 8);
    let err = sim.run_until(t_ms(100), |_| false).unwrap_err();
    assert_eq!(err, RunError::Deadline { now: t_ms(100) });
    assert!(err.to_string().contains("deadline"));
    // Sends at 10, 40, 70, 100 ms: the one at exactly the deadline runs.
    assert_eq!(
        sim.host(a()).timeouts,
        [t_ms(10), t_ms(40), t_ms(70), t_ms(100)]
    );
    // A condition already true returns at once.
    assert_eq!(sim.run_until(t_ms(100), |_| true), Ok(t_ms(100)));
    // advance_to moves time even when idle.
    let mut idle = pair(1, LinkConfig::default());
    idle.advance_to(t_ms(500)).unwrap();
    assert_eq!(idle.now(), t_ms(500));
}

#[test]
fn step_processes_one_event() {
    let mut sim = pair(1, LinkConfig::with_latency(ms(10)));
    sim.host_mut(a()).send(b(), b"1");
    sim.host_mut(a()).send(b(), b"2");
    assert_eq!(sim.next_event_time(), Some(t_ms(10)));
    assert_eq!(sim.in_flight(), 2);
    assert!(sim.step());
    assert_eq!(sim.host(b()).received.len(), 1);
    assert_eq!(sim.now(), t_ms(10));
    assert!(sim.step());
    assert!(!sim.step());
    assert_eq!(sim.in_flight(), 0);
    assert_eq!(sim.stats().events, 2);
}

#[test]
fn past_deadline_fires_at_now() {
    let mut sim = pair(1, LinkConfig::default());
    sim.advance_to(t_ms(50)).unwrap();
    sim.host_mut(a()).fixed_deadline = Some(t_ms(10));
    assert!(sim.step());
    assert_eq!(sim.host(a()).timeouts, [t_ms(50)]);
}

#[test]
fn a_timer_stuck_in_the_past_still_lets_time_advance() {
    // A broken host: its deadline never moves. It fires at `now`, then,
    // having just fired with nothing else happening, once per microsecond.
    let mut sim = pair(1, LinkConfig::default());
    sim.advance_to(t_ms(1)).unwrap();
    sim.host_mut(a()).fixed_deadline = Some(Timestamp::ZERO);
    let err = sim
        .run_until(Timestamp::from_micros(1_100), |_| false)
        .unwrap_err();
    assert_eq!(
        err,
        RunError::Deadline {
            now: Timestamp::from_micros(1_100)
        }
    );
    let t = &sim.host(a()).timeouts;
    assert_eq!(t.len(), 101);
    assert_eq!(t[0], t_ms(1));
    assert_eq!(t[1], Timestamp::from_micros(1_001));
    assert_eq!(sim.stats().timeouts, 101);
}

#[test]
fn zero_latency_ping_pong_is_reported_as_stalled() {
    let mut sim = Sim::new(1);
    sim.add_host(a(), Node::echo());
    sim.add_host(b(), Node::echo());
    sim.set_max_events_per_instant(1_000);
    sim.host_mut(a()).send(b(), b"forever");
    let err = sim.run_until(t_ms(1), |_| false).unwrap_err();
    assert_eq!(
        err,
        RunError::Stalled {
            now: Timestamp::ZERO,
            events: 1_001
        }
    );
}

#[test]
fn replacing_a_host_returns_the_old_one() {
    let mut sim = pair(1, LinkConfig::with_latency(ms(5)));
    sim.host_mut(a()).send(b(), b"to the old b");
    sim.advance(ms(1)).unwrap();
    let old = sim.add_host(b(), Node::echo()).unwrap();
    assert!(old.received.is_empty());
    drain(&mut sim);
    // The new host got the datagram in flight, and echoed it.
    assert_eq!(sim.host(b()).received.len(), 1);
    assert_eq!(sim.host(a()).received.len(), 1);
    assert_eq!(sim.hosts().count(), 2);
    assert!(sim.try_host(addr("1.1.1.1:1")).is_none());
}

#[test]
fn boxed_hosts_mix_types() {
    let mut sim: Sim<Box<dyn Host>> = Sim::new(1);
    sim.add_host(a(), Box::new(Node::echo()));
    let mut pinger = Node::default();
    pinger.send(a(), b"hi");
    sim.add_host(b(), Box::new(pinger));
    drain_dyn(&mut sim);
    assert_eq!(sim.stats().network.delivered, 2);
}

fn drain_dyn(sim: &mut Sim<Box<dyn Host>>) {
    assert!(matches!(
        sim.run_until(Timestamp::MAX, |_| false),
        Err(RunError::Idle { .. })
    ));
}

#[test]
fn many_datagrams_through_a_bottleneck() {
    // 150,000 datagrams of 1400 bytes paced at the rate of a 100 Mbit/s
    // link: checks the event queue and buffer reuse hold up.
    let cfg = LinkConfig {
        latency: ms(25),
        bandwidth: Some(100_000_000),
        queue_capacity: Some(100),
        ..LinkConfig::default()
    };
    let mut sim = pair(1, cfg);
    sim.host_mut(b()).discard = true;
    // 1428 bytes on the wire at 100 Mbit/s: 114.24 us; pace at 115 us.
    paced(&mut sim, 150_000, Duration::from_micros(115), 1400);
    drain(&mut sim);
    let s = sim.link_stats(a(), b());
    assert_eq!(s.delivered, 150_000);
    assert_eq!(s.delivered_bytes, 150_000 * 1400);
    assert_eq!(sim.host(b()).count, 150_000);
    assert_eq!(s.dropped.total(), 0);
}
