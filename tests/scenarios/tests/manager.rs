//! The connection manager among 1,000 simulated peers (issue 13): 20 %
//! unreachable, 10 % stopping every simulated minute, 30 minutes, one
//! manager host with `target_outbound` 8. The swarm and the host's loop are
//! in [`utp_scenarios::manager_sim`]. Run with `-- --nocapture` for the
//! figures.

#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

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
         {} dials, {} failed, {} connected, {} disconnected, {} stops, {} sim events; \
         wall {:.2?}",
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
    // Dials per minute: each dial takes a slot, and a slot comes free only
    // by a dial failing or a connection ending. With every down peer
    // silent, a failing dial holds its slot for the connect timeout, so a
    // slot frees at most 60 s / connect_timeout (+1) times a minute by
    // failures; add the slots free at the start of the minute and the
    // connections that ended in it.
    let per_slot = (cfg.churn_period.as_secs_f64() / cfg.endpoint.connect_timeout.as_secs_f64())
        .floor() as u64
        + 1;
    for (m, &dials) in r.dials_per_period.iter().enumerate() {
        let ended = r.disconnects_per_period.get(m).copied().unwrap_or(0);
        let cap = target as u64 * (1 + per_slot) + ended;
        assert!(dials <= cap, "minute {m}: {dials} dials > cap {cap}");
    }
    assert_eq!(r.manager.dials, r.dials_per_period.iter().sum::<u64>());
    assert!(r.stops > 0);
}

/// The manager endpoint's connect timeout in these runs. With the default
/// 10 s, a dial to one of the 20 % unreachable (or a stopped) peers holds
/// its slot for 10 s, and seeds 1 to 6 keep 8 outbound 90.7 to 94.9 % of
/// the time; at 3 s (SYNs at 0 and 1 s), 96.7 to 98.0 % (see `sweep`).
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
    for t in [10u64, 5, 3, 2] {
        for seed in 1..=6 {
            let cfg = swarm(seed, Duration::from_secs(t));
            let started = Instant::now();
            let r = run(&cfg).unwrap();
            print("sweep", &cfg, &r, started.elapsed());
        }
    }
}
