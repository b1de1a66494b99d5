//! The Portal Network's traffic in simulation: 100 nodes named by node
//! ids, each fetching content from 10 others over a carrier of 1,024-byte
//! packets with 1% loss, 1,000 transfers of 1–500 KiB, the holder writing
//! first on a connection whose id was agreed out of band. Prints the
//! failure count and the completion times (run with `--nocapture`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use utp_scenarios::portal::{run_portal, PortalRun};
use utp_sim::LinkConfig;

fn lossy_link() -> LinkConfig {
    LinkConfig {
        latency: Duration::from_millis(30),
        jitter: Duration::from_millis(5),
        bandwidth: Some(20_000_000 / 8),
        loss: 0.01,
        ..LinkConfig::default()
    }
}

fn run(min_len: u64, max_len: u64) -> PortalRun {
    PortalRun {
        nodes: 100,
        fetches_per_node: 10,
        min_len,
        max_len,
        link: lossy_link(),
        start_window: Duration::from_secs(20),
        expect_timeout: Duration::from_secs(15),
        limit: Duration::from_secs(600),
        seed: 0x0090_77a1,
    }
}

#[test]
fn hundred_nodes_thousand_transfers_holder_first_over_one_percent_loss() {
    let wall = Instant::now();
    let r = run_portal(&run(1024, 500 * 1024));
    println!(
        "portal: {} transfers, {} failed, {:.1} MiB checked; completion p50 {:?}, p99 {:?}, max {:?}; \
         largest uTP packet {} bytes; {} packets for no connection, {} frames rejected; \
         {:?} simulated in {:?}",
        r.transfers,
        r.failures.len(),
        r.bytes as f64 / (1 << 20) as f64,
        r.quantile(0.5),
        r.quantile(0.99),
        r.quantile(1.0),
        r.largest_packet,
        r.unknown_connection,
        r.rejected,
        r.sim_time,
        wall.elapsed(),
    );
    assert_eq!(r.transfers, 1000);
    assert!(r.failures.is_empty(), "{:#?}", r.failures);
    assert_eq!(r.durations.len(), 1000);
    assert!(
        r.largest_packet <= 1024 && r.largest_packet > 1000,
        "{}",
        r.largest_packet
    );
    assert_eq!(r.rejected, 0);
}

/// Request/response of BitTorrent's size: 1,000 blocks of 16 KiB, each a
/// request answered at once, over 1% loss (RTT 60 ms). Prints p50/p99.
#[test]
fn thousand_16_kib_blocks_over_one_percent_loss() {
    let r = run_portal(&run(16 * 1024, 16 * 1024));
    println!(
        "16 KiB blocks: {} transfers, {} failed; completion p50 {:?}, p99 {:?}, max {:?}",
        r.transfers,
        r.failures.len(),
        r.quantile(0.5),
        r.quantile(0.99),
        r.quantile(1.0),
    );
    assert!(r.failures.is_empty(), "{:#?}", r.failures);
    assert_eq!(r.durations.len(), 1000);
}
