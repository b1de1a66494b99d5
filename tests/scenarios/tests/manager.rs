//! The connection manager among 1,000 simulated peers (issue 13): 20 %
//! unreachable, 10 % stopping every simulated minute, 30 minutes, one
//! manager host with `target_outbound` 8. The swarm and the host's loop are
//! in [`utp_scenarios::manager_sim`]. Run with `-- --nocapture` for the
//! figures.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::time::{Duration, Instant};

use utp_scenarios::manager_sim::{run, Report, SwarmConfig};

/// The swarm of the issue, with the manager endpoint's connect timeout at
/// `connect_timeout`.
fn swarm(seed: u64, connect_timeout: Duration) -> SwarmConfig {
    let mut cfg = SwarmConfig {
        seed,
        ..SwarmConfig::default()
    };
    cfg.endpoint.connect_timeout = connect_timeout;
    cfg
}

fn print(label: &str, cfg: &SwarmConfig, r: &Report, wall: Duration) {
    println!(
        "{label}: seed {} connect_timeout {:?}: at 8 outbound {:.2} % of samples \
         ({:.2} % with every peer live, {:.2} % of time); dials/min max {} mean {:.1}; \
         {} dials, {} failed, {} connected, {} disconnected; {} stops ({} crashes), \
         peer stop to close mean {:.2?} max {:.2?}; {} sim events; wall {:.2?}",
        cfg.seed,
        cfg.endpoint.connect_timeout,
        100.0 * r.fraction_at_target(),
        100.0 * r.fraction_at_target_live(),
        100.0 * r.time_at_target.as_secs_f64() / cfg.duration.as_secs_f64(),
        r.max_dials_per_period(),
        r.mean_dials_per_period(),
        r.manager.dials,
        r.manager.dial_failures,
        r.manager.connected,
        r.manager.disconnected,
        r.stops,
        r.crashes,
        r.detection_mean(),
        r.detection_max,
        r.events,
        wall,
    );
    println!("{label}: dial failures {:?}", r.failure_reasons);
}

/// The rules every run keeps, whatever its figures.
fn check_policy(cfg: &SwarmConfig, r: &Report) {
    let target = cfg.manager.target_outbound;
    // Never more outbound connections, dialing or established, than the
    // target; so never more than `target` dials in flight (the dial cap of
    // 50 is above it and never binds).
    assert!(r.max_outbound <= target, "{}", r.max_outbound);
    assert!(
        r.max_dials_in_flight <= target.min(cfg.manager.max_dials_in_flight),
        "{}",
        r.max_dials_in_flight
    );
    // No address dialed twice within `redial_interval`.
    assert_eq!(r.redial_violations, 0);
    // Every connection that lived two seconds got its hello echoed.
    assert_eq!(r.missing_echoes, 0);
    assert!(r.echoed_bytes > 0);
    // Dials per minute: each dial takes one of the `target` slots, and a
    // slot comes free only by a dial failing or a connection ending. A dial
    // that times out holds its slot for the connect timeout, so timeouts
    // free a slot at most 60 s / connect_timeout (+1) times a minute; add
    // the slots free at the start of the minute, the connections that
    // ended in it and the dials that failed fast (refused by a peer
    // winding down).
    let per_slot = (cfg.churn_period.as_secs_f64() / cfg.endpoint.connect_timeout.as_secs_f64())
        .floor() as u64
        + 1;
    println!(
        "dial caps checked: <= {target} outbound (dialing + established) at once, so <= {target} \
         dials in flight; no address redialed within {:?}; dials in minute m <= {target} x (1 + \
         {per_slot}) + connections ended in m + fast dial failures in m",
        cfg.manager.redial_interval
    );
    for (m, &dials) in r.dials_per_period.iter().enumerate() {
        let ended = r.disconnects_per_period[m] + r.fast_failures_per_period[m];
        let cap = target as u64 * (1 + per_slot) + ended;
        assert!(dials <= cap, "minute {m}: {dials} dials > cap {cap}");
    }
    assert_eq!(r.manager.dials, r.dials_per_period.iter().sum::<u64>());
    assert!(r.stops > 0);
}

/// The manager endpoint's connect timeout in these runs. With the default
/// 10 s, a dial to one of the 20 % unreachable (or a stopped) peers holds
/// its slot for 10 s, and seeds 1 to 6 keep 8 outbound 90.8 to 97.2 % of
/// the time (5 s: 93.7 to 97.3 %); at 3 s (SYNs at 0 and 1 s), 96.7 to
/// 98.2 % (see `sweep`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[test]
fn keeps_8_outbound_among_1000_churning_peers() {
    for seed in 1..=3 {
        let cfg = swarm(seed, CONNECT_TIMEOUT);
        let started = Instant::now();
        let r = run(&cfg).unwrap();
        let wall = started.elapsed();
        print("manager swarm", &cfg, &r, wall);
        check_policy(&cfg, &r);
        assert!(
            r.fraction_at_target() >= 0.95,
            "seed {seed}: {:.4}",
            r.fraction_at_target()
        );
    }
}

/// Peers that crash (no FIN) are noticed late: the manager's side of an
/// idle connection sends only a keepalive after 29 s of silence, which the
/// link drops while the peer is down and its fresh endpoint answers with
/// RESET once it is back. So the manager counts dead connections as
/// established for up to downtime + keepalive: it holds 8 by its own count,
/// but far less than that with live peers (printed, not asserted: the
/// liveness rule of issue 13 is not built yet).
#[test]
fn crashed_peers_are_noticed_by_the_keepalive_after_they_return() {
    let mut cfg = swarm(1, CONNECT_TIMEOUT);
    cfg.crash_percent = 100;
    let started = Instant::now();
    let r = run(&cfg).unwrap();
    print("manager swarm, crashing peers", &cfg, &r, started.elapsed());
    check_policy(&cfg, &r);
    assert_eq!(r.crashes, r.stops);
    assert!(r.detected > 0);
    let keepalive = cfg.endpoint.keepalive.unwrap();
    let bound = cfg.downtime.1 + keepalive + 2 * cfg.latency.1;
    assert!(
        r.detection_max <= bound,
        "{:?} > {bound:?}",
        r.detection_max
    );
    assert!(r.fraction_at_target() >= 0.95);
}

#[test]
fn same_seed_same_run() {
    let mut cfg = swarm(7, CONNECT_TIMEOUT);
    cfg.duration = Duration::from_secs(5 * 60);
    let a = run(&cfg).unwrap();
    let b = run(&cfg).unwrap();
    assert_eq!(a, b);
    cfg.seed = 8;
    assert_ne!(run(&cfg).unwrap(), a);
}

#[test]
#[ignore = "a sweep of seeds and connect timeouts, for the figures"]
fn sweep() {
    for (t, crash) in [(10u64, 0), (5, 0), (3, 0), (2, 0), (3, 50), (3, 100)] {
        for seed in 1..=6 {
            let mut cfg = swarm(seed, Duration::from_secs(t));
            cfg.crash_percent = crash;
            let started = Instant::now();
            let r = run(&cfg).unwrap();
            print("sweep", &cfg, &r, started.elapsed());
        }
    }
}
