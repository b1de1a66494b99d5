//! Simulated bulk transfers over impaired links, in both directions at
//! once (the bulk one way, a tenth of it the other; in half of them the
//! server writes first): every byte must arrive intact, and both sides must
//! end cleanly.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use utp_core::{Config, Endpoint, Timestamp};
use utp_scenarios::{Flow, FlowResult, Transfers};
use utp_sim::{GilbertElliott, LinkConfig, Sim};

const MIB: u64 = 1 << 20;

fn client() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}

fn server() -> SocketAddr {
    "10.0.0.2:6000".parse().unwrap()
}

/// 50 ms RTT, 20 Mbit/s, a 100-packet queue.
fn base_link() -> LinkConfig {
    LinkConfig {
        bandwidth: Some(20_000_000),
        queue_capacity: Some(100),
        ..LinkConfig::with_latency(Duration::from_millis(25))
    }
}

/// Who writes first, and how much each way.
#[derive(Clone, Copy)]
struct Dirs {
    /// Client→server payload bytes.
    up: u64,
    /// Server→client payload bytes.
    down: u64,
    acceptor_first: bool,
}

/// The bulk of `len` bytes from the client, a tenth as much back.
fn client_bulk(len: u64) -> Dirs {
    Dirs {
        up: len,
        down: len / 10,
        acceptor_first: false,
    }
}

/// The server writes first: the bulk of `len` bytes from the server, a
/// tenth as much from the client once it has read the server's first bytes.
fn server_bulk(len: u64) -> Dirs {
    Dirs {
        up: len / 10,
        down: len,
        acceptor_first: true,
    }
}

/// Runs one flow over `link` (both directions) and returns the simulated
/// time until both sides had read everything.
fn transfer(seed: u64, dirs: Dirs, link: LinkConfig, limit: Duration) -> (Duration, Sim<Endpoint>) {
    let (d, sim, _) = transfer_watching(seed, dirs, link, limit, |_, _| {});
    (d, sim)
}

/// [`transfer`], calling `watch` with the simulation and the time since the
/// start after each round of events (to change the link mid-flow); also
/// returns the flow's result.
fn transfer_watching(
    seed: u64,
    dirs: Dirs,
    link: LinkConfig,
    limit: Duration,
    mut watch: impl FnMut(&mut Sim<Endpoint>, Duration),
) -> (Duration, Sim<Endpoint>, FlowResult) {
    let mut sim: Sim<Endpoint> = Sim::new(seed);
    sim.set_default_link(link).unwrap();
    let flows = vec![Flow {
        client: client(),
        server: server(),
        len: dirs.up,
        reply_len: dirs.down,
        acceptor_first: dirs.acceptor_first,
        seed,
    }];
    let mut t = Transfers::start(&mut sim, flows, &Config::default(), &Config::default());
    let start = sim.now();
    let end = t.run_watching(&mut sim, start + limit, |sim, _| {
        let since = sim.now() - start;
        watch(sim, since);
        true
    });
    assert!(end.is_ok(), "{end:?}\n{}", t.failures());
    assert!(t.all_clean(), "{}", t.failures());
    let r = t.results[0].clone();
    (r.done_at().unwrap() - start, sim, r)
}

/// Goodput of both directions together.
fn goodput_mbit(dirs: Dirs, d: Duration) -> f64 {
    (dirs.up + dirs.down) as f64 * 8.0 / d.as_secs_f64() / 1e6
}

#[test]
fn ten_mib_no_loss() {
    let dirs = client_bulk(10 * MIB);
    let (d, sim) = transfer(1, dirs, base_link(), Duration::from_secs(120));
    println!(
        "no loss: {:.2?}, {:.1} Mbit/s, {:?}",
        d,
        goodput_mbit(dirs, d),
        sim.stats()
    );
}

#[test]
fn ten_mib_one_percent_loss() {
    let link = LinkConfig {
        loss: 0.01,
        ..base_link()
    };
    let dirs = server_bulk(10 * MIB);
    let (d, _) = transfer(2, dirs, link, Duration::from_secs(300));
    println!("1% loss: {:.2?}, {:.1} Mbit/s", d, goodput_mbit(dirs, d));
}

#[test]
fn ten_mib_five_percent_loss() {
    let link = LinkConfig {
        loss: 0.05,
        ..base_link()
    };
    let dirs = server_bulk(10 * MIB);
    let (d, _) = transfer(3, dirs, link, Duration::from_secs(600));
    println!("5% loss: {:.2?}, {:.1} Mbit/s", d, goodput_mbit(dirs, d));
}

#[test]
fn ten_mib_bursty_loss() {
    let link = LinkConfig {
        burst_loss: Some(GilbertElliott {
            p_good_to_bad: 0.005,
            p_bad_to_good: 0.3,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        }),
        ..base_link()
    };
    let dirs = client_bulk(10 * MIB);
    let (d, sim) = transfer(4, dirs, link, Duration::from_secs(600));
    let lost = sim.link_stats(client(), server()).dropped.total();
    println!(
        "bursty loss: {:.2?}, {:.1} Mbit/s, {lost} dropped",
        d,
        goodput_mbit(dirs, d)
    );
    assert!(lost > 0);
}

#[test]
fn ten_mib_reordering() {
    let link = LinkConfig {
        reorder: 0.05,
        reorder_delay: Duration::from_millis(10),
        ..base_link()
    };
    let dirs = server_bulk(10 * MIB);
    let (d, sim) = transfer(5, dirs, link, Duration::from_secs(300));
    let reordered = sim.link_stats(server(), client()).reordered;
    println!(
        "reordering: {:.2?}, {:.1} Mbit/s, {reordered} reordered",
        d,
        goodput_mbit(dirs, d)
    );
    assert!(reordered > 100);
}

/// The one-way delay jumps from 30 ms to 600 ms, both ways, for one second,
/// two seconds into the transfer: the round trip outlasts the 500 ms
/// retransmission timeout, which fires although nothing was lost.
#[test]
fn ten_mib_delay_spike() {
    let normal = LinkConfig {
        bandwidth: Some(20_000_000),
        queue_capacity: Some(100),
        ..LinkConfig::with_latency(Duration::from_millis(30))
    };
    let spike = LinkConfig {
        latency: Duration::from_millis(600),
        ..normal
    };
    let dirs = client_bulk(10 * MIB);
    let mut phase = 0;
    let (d, sim, r) = transfer_watching(8, dirs, normal, Duration::from_secs(300), |sim, since| {
        let want = if since < Duration::from_secs(2) {
            0
        } else if since < Duration::from_secs(3) {
            1
        } else {
            2
        };
        if want != phase {
            phase = want;
            let link = if phase == 1 { spike } else { normal };
            sim.set_link_both(client(), server(), link).unwrap();
        }
    });
    assert_eq!(phase, 2, "the spike came and went during the transfer");
    let stats = r.client_stats.unwrap();
    println!(
        "delay spike: {:.2?}, {:.1} Mbit/s, sender: {} timeouts, {} spurious, {} retransmits; {:?}",
        d,
        goodput_mbit(dirs, d),
        stats.timeouts,
        stats.spurious_timeouts,
        stats.retransmits,
        sim.link_stats(client(), server())
    );
}

#[test]
fn ten_mib_duplication() {
    let link = LinkConfig {
        duplicate: 0.05,
        ..base_link()
    };
    let dirs = client_bulk(10 * MIB);
    let (d, sim) = transfer(6, dirs, link, Duration::from_secs(300));
    let dup = sim.link_stats(client(), server()).duplicated;
    let receiver_dups = {
        let ep = sim.host(server());
        ep.stats()
    };
    println!(
        "duplication: {:.2?}, {:.1} Mbit/s, {dup} duplicated, {receiver_dups:?}",
        d,
        goodput_mbit(dirs, d)
    );
    assert!(dup > 100);
}

#[test]
fn hundred_mib_one_percent_loss() {
    let link = LinkConfig {
        loss: 0.01,
        ..base_link()
    };
    let dirs = client_bulk(100 * MIB);
    let (d, sim) = transfer(7, dirs, link, Duration::from_secs(3600));
    println!(
        "100 MiB, 1% loss, 50 ms RTT, 20 Mbit/s: {:.2?} simulated, goodput {:.2} Mbit/s; {:?}",
        d,
        goodput_mbit(dirs, d),
        sim.link_stats(client(), server())
    );
}

#[test]
fn same_seed_same_trace() {
    let link = LinkConfig {
        loss: 0.02,
        ..base_link()
    };
    let (_, a) = transfer(11, server_bulk(MIB), link, Duration::from_secs(60));
    let (_, b) = transfer(11, server_bulk(MIB), link, Duration::from_secs(60));
    let (_, c) = transfer(12, server_bulk(MIB), link, Duration::from_secs(60));
    assert_eq!(a.trace_hash(), b.trace_hash());
    assert_ne!(a.trace_hash(), c.trace_hash());
    let _ = Timestamp::ZERO;
}
