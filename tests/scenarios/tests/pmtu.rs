//! Path MTU discovery over simulated links: convergence, lost probes, ICMP, per-address memory, re-probing.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use utp_core::{Config, ConnStats, Endpoint, Timestamp};
use utp_scenarios::{Flow, Transfers};
use utp_sim::{LinkConfig, LinkStats, RunError, Sim};

const MIB: u64 = 1 << 20;
const SEEDS: [u64; 3] = [1, 2, 3];

fn client() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}

fn server() -> SocketAddr {
    "10.0.0.2:6000".parse().unwrap()
}

/// 50 ms RTT with up to 5 ms of jitter (which never reorders), 20 Mbit/s,
/// no random loss and an unbounded queue: every drop is an MTU drop.
fn link(mtu: usize) -> LinkConfig {
    LinkConfig {
        jitter: Duration::from_millis(5),
        bandwidth: Some(20_000_000),
        mtu: Some(mtu),
        ..LinkConfig::with_latency(Duration::from_millis(25))
    }
}

/// What a transfer did, seen from the client connection.
struct Run {
    /// Connect to the server's EOF.
    took: Duration,
    /// The client connection's stats, sampled every 5 ms (the last sample
    /// before it closed).
    last: ConnStats,
    /// Every packet size the client connection used, in order, with when it
    /// started using it (time since the transfer began).
    sizes: Vec<(Duration, usize)>,
}

/// Sends `len` bytes from the client to the server in `sim` (adding the
/// endpoints if they are not there yet) and calls `during` every 5 ms of
/// simulated time with the time elapsed.
fn transfer_in(
    sim: &mut Sim<Endpoint>,
    seed: u64,
    len: u64,
    config: &Config,
    mut during: impl FnMut(&mut Sim<Endpoint>, Duration, &ConnStats),
) -> Run {
    let flows = vec![Flow {
        client: client(),
        server: server(),
        len,
        reply_len: 0,
        acceptor_first: false,
        seed,
    }];
    let mut t = Transfers::start(sim, flows, config, &Config::default());
    let start = sim.now();
    let h = t.results[0].client_handle.unwrap();
    let mut last = sim.host_mut(client()).conn(h).unwrap().stats();
    let mut sizes = vec![(Duration::ZERO, last.packet_size)];
    loop {
        let step = sim.now() + Duration::from_millis(5);
        match t.run(sim, step) {
            Ok(_) => break,
            Err(RunError::Deadline { .. }) => {}
            Err(e) => panic!("{e:?}\n{}", t.failures()),
        }
        let elapsed = sim.now() - start;
        assert!(
            elapsed < Duration::from_secs(120),
            "no end: {}",
            t.failures()
        );
        if let Some(c) = sim.host_mut(client()).conn(h) {
            last = c.stats();
            if sizes.last().map(|s| s.1) != Some(last.packet_size) {
                sizes.push((elapsed, last.packet_size));
            }
        }
        during(sim, elapsed, &last);
    }
    assert!(t.all_clean(), "{}", t.failures());
    Run {
        took: t.results[0].eof_at.unwrap() - start,
        last,
        sizes,
    }
}

fn transfer(seed: u64, len: u64, mtu: usize, config: &Config) -> (Run, Sim<Endpoint>) {
    let mut sim: Sim<Endpoint> = Sim::new(seed);
    sim.set_default_link(link(mtu)).unwrap();
    let run = transfer_in(&mut sim, seed, len, config, |_, _, _| {});
    (run, sim)
}

fn both_ways(sim: &Sim<Endpoint>) -> (LinkStats, LinkStats) {
    (
        sim.link_stats(client(), server()),
        sim.link_stats(server(), client()),
    )
}

/// Only probes were dropped (every drop on these links is an MTU drop of
/// a don't-fragment datagram, and the client counts each as a lost probe),
/// and nothing relied on fragmentation.
fn assert_only_probes_dropped(sim: &Sim<Endpoint>, run: &Run) {
    let (up, down) = both_ways(sim);
    assert_eq!(up.dropped.mtu, run.last.mtu_probes_lost, "{up:?}");
    assert_eq!(up.dropped.total(), up.dropped.mtu, "{up:?}");
    assert_eq!(down.dropped.total(), 0, "{down:?}");
    assert_eq!((up.fragmented, down.fragmented), (0, 0));
}

#[test]
fn link_mtu_1280_converges_to_1241_in_11_probes() {
    for seed in SEEDS {
        let (run, sim) = transfer(seed, 4 * MIB, 1280, &Config::default());
        let (reference, _) = transfer(seed, 4 * MIB, 1500, &Config::default());
        println!(
            "seed {seed}: MTU 1280: {:.2?}, sizes {:?}, {} probes ({} lost); MTU 1500: {:.2?}",
            run.took, run.sizes, run.last.mtu_probes_sent, run.last.mtu_probes_lost, reference.took
        );
        // 1252 passes; the search ends within 16 bytes below it: 1402 and
        // 1295, 1268, 1254 fail (twice each), 975, 1188, 1241 pass.
        let sizes: Vec<usize> = run.sizes.iter().map(|s| s.1).collect();
        assert_eq!(sizes, [548, 975, 1188, 1241]);
        assert_eq!(run.last.packet_size, 1241);
        assert_eq!(
            (run.last.mtu_probes_sent, run.last.mtu_probes_lost),
            (11, 8)
        );
        assert_only_probes_dropped(&sim, &run);
        assert_eq!(run.last.timeouts, 0);
        // Converged within the first second.
        assert!(run.sizes[3].0 < Duration::from_secs(1), "{:?}", run.sizes);
        // About as fast as on a 1500-byte link.
        assert!(
            run.took.as_secs_f64() < 1.1 * reference.took.as_secs_f64(),
            "{:?} vs {:?}",
            run.took,
            reference.took
        );
    }
}

#[test]
fn link_mtu_576_every_probe_lost_keeps_working_at_548() {
    let mut floor_only = Config::default();
    floor_only.pmtu_discovery = false;
    floor_only.packet_size_v4 = 548;
    for seed in SEEDS {
        let (run, sim) = transfer(seed, 4 * MIB, 576, &Config::default());
        let (best, _) = transfer(seed, 4 * MIB, 576, &floor_only);
        println!(
            "seed {seed}: MTU 576: {:.2?}, {} probes lost of {}; fixed 548 bytes: {:.2?}",
            run.took, run.last.mtu_probes_lost, run.last.mtu_probes_sent, best.took
        );
        assert_eq!(run.sizes, [(Duration::ZERO, 548)]);
        // Sizes 1402, 975, 761, 654, 601, 574, 561 each fail twice.
        assert_eq!(
            (run.last.mtu_probes_sent, run.last.mtu_probes_lost),
            (14, 14)
        );
        assert_only_probes_dropped(&sim, &run);
        // No stall and no timeout: each lost probe is resent once, unpadded,
        // and costs at most a round trip of held-up acks (the 1 MiB send
        // buffer then fills): within 20% of never probing.
        assert_eq!(run.last.timeouts, 0);
        assert_eq!(run.last.retransmits, 14, "the lost probes, unpadded");
        assert!(
            run.took.as_secs_f64() < 1.2 * best.took.as_secs_f64(),
            "{:?} vs {:?}",
            run.took,
            best.took
        );
    }
}

#[test]
fn link_mtu_1500_reaches_the_ceiling_with_one_probe() {
    let mut off = Config::default();
    off.pmtu_discovery = false;
    for seed in SEEDS {
        let (run, sim) = transfer(seed, 4 * MIB, 1500, &Config::default());
        let (without, _) = transfer(seed, 4 * MIB, 1500, &off);
        println!(
            "seed {seed}: MTU 1500: {:.2?} with discovery, {:.2?} without; sizes {:?}",
            run.took, without.took, run.sizes
        );
        let sizes: Vec<usize> = run.sizes.iter().map(|s| s.1).collect();
        assert_eq!(sizes, [548, 1402]);
        assert_eq!((run.last.mtu_probes_sent, run.last.mtu_probes_lost), (1, 0));
        assert_only_probes_dropped(&sim, &run);
        // One round trip (plus jitter and queueing) after the first data.
        assert!(
            run.sizes[1].0 < Duration::from_millis(200),
            "{:?}",
            run.sizes
        );
        assert!(run.took.as_secs_f64() < 1.05 * without.took.as_secs_f64());
    }
}

#[test]
fn packet_too_big_lowers_a_live_connection() {
    for seed in SEEDS {
        let mut sim: Sim<Endpoint> = Sim::new(seed);
        sim.set_default_link(link(1500)).unwrap();
        let mut told = None;
        let run = transfer_in(&mut sim, seed, 4 * MIB, &Config::default(), |sim, at, s| {
            if told.is_none() && at >= Duration::from_millis(500) {
                assert_eq!(s.packet_size, 1402);
                // A router on the way reports an MTU of 1280.
                sim.host_mut(client())
                    .handle_packet_too_big(server().ip(), 1280);
                told = Some(at);
            }
        });
        let told = told.unwrap();
        println!("seed {seed}: {:?}, told at {told:?}", run.sizes);
        let sizes: Vec<usize> = run.sizes.iter().map(|s| s.1).collect();
        assert_eq!(sizes, [548, 1402, 1252]);
        // At once (sizes are sampled every 5 ms).
        assert_eq!(run.sizes[2].0, told + Duration::from_millis(5));
        assert_eq!(run.last.packet_size, 1252);
        // No probe above it afterwards (the failure is remembered for 600 s).
        assert_eq!(run.last.mtu_probes_sent, 1);
        // A later connection to that address starts at 1252.
        let again = transfer_in(&mut sim, seed, MIB, &Config::default(), |_, _, _| {});
        assert_eq!(again.sizes, [(Duration::ZERO, 1252)]);
        assert_eq!(again.last.mtu_probes_sent, 0);
    }
}

#[test]
fn a_second_connection_starts_at_the_learned_size() {
    for seed in SEEDS {
        let mut sim: Sim<Endpoint> = Sim::new(seed);
        sim.set_default_link(link(1280)).unwrap();
        // Long enough for the search to end (11 probes).
        let first = transfer_in(&mut sim, seed, 4 * MIB, &Config::default(), |_, _, _| {});
        assert_eq!(first.last.mtu_probes_sent, 11);
        assert_eq!(first.last.packet_size, 1241);
        let dropped_before = sim.link_stats(client(), server()).dropped.mtu;
        let second = transfer_in(
            &mut sim,
            seed + 100,
            2 * MIB,
            &Config::default(),
            |_, _, _| {},
        );
        println!(
            "seed {seed}: first {:.2?} {:?}, second {:.2?} {:?}",
            first.took, first.sizes, second.took, second.sizes
        );
        assert_eq!(second.sizes, [(Duration::ZERO, 1241)]);
        // Nothing left to search: no probe at all, so none at a failed size.
        assert_eq!(second.last.mtu_probes_sent, 0);
        assert_eq!(
            sim.link_stats(client(), server()).dropped.mtu,
            dropped_before
        );
        assert!(second.took < first.took);
    }
}

#[test]
fn reprobing_finds_a_link_mtu_raised_mid_run() {
    let mut config = Config::default();
    config.pmtu_reprobe = Duration::from_secs(2);
    for seed in SEEDS {
        let mut sim: Sim<Endpoint> = Sim::new(seed);
        sim.set_default_link(link(1280)).unwrap();
        let mut raised = None;
        let run = transfer_in(&mut sim, seed, 12 * MIB, &config, |sim, at, s| {
            // Once the search is over (1254 failed for the second time).
            if raised.is_none() && s.mtu_probes_lost == 8 {
                assert_eq!((s.packet_size, s.mtu_probes_sent), (1241, 11));
                sim.set_link_both(client(), server(), link(1500)).unwrap();
                raised = Some(at);
            }
        });
        let raised = raised.unwrap();
        println!(
            "seed {seed}: {:.2?}, MTU raised at {raised:?}, sizes {:?}, {} probes",
            run.took, run.sizes, run.last.mtu_probes_sent
        );
        let sizes: Vec<usize> = run.sizes.iter().map(|s| s.1).collect();
        assert_eq!(sizes, [548, 975, 1188, 1241, 1402]);
        // 1402 is tried again once the 2 s re-probe time since the last
        // failure has passed, and passes at once.
        let (at, _) = run.sizes[4];
        let since = at - raised;
        assert!(
            since > Duration::from_millis(1990) && since < Duration::from_millis(2500),
            "{since:?}"
        );
        assert_eq!(
            (run.last.mtu_probes_sent, run.last.mtu_probes_lost),
            (12, 8)
        );
        let _ = Timestamp::ZERO;
    }
}
