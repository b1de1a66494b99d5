//! Property test: arbitrary data sizes in both directions (either side
//! writing first) under arbitrary network faults. Each side gets exactly
//! the bytes the other wrote (a prefix of them, and all of them when the
//! transfer completes), or reports an error within the configured
//! timeouts. Never a hang, never a panic, nothing left behind.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;
use utp_core::{CloseReason, Config, Endpoint};
use utp_scenarios::{Flow, Transfers};
use utp_sim::{GilbertElliott, LinkConfig, Sim};

#[derive(Clone, Debug)]
struct Faults {
    latency_ms: u64,
    jitter_ms: u64,
    loss: f64,
    burst: Option<(f64, f64)>,
    duplicate: f64,
    reorder: f64,
    bandwidth: Option<u64>,
    queue: Option<usize>,
    /// (start ms, length ms, both directions)
    partitions: Vec<(u64, u64, bool)>,
}

fn faults() -> impl Strategy<Value = Faults> {
    (
        1u64..200,
        0u64..30,
        prop_oneof![Just(0.0), 0.0..0.3],
        proptest::option::of((0.001f64..0.1, 0.1f64..0.9)),
        prop_oneof![Just(0.0), 0.0..0.2],
        prop_oneof![Just(0.0), 0.0..0.2],
        proptest::option::of(1_000_000u64..100_000_000),
        proptest::option::of(1usize..200),
        proptest::collection::vec((0u64..30_000, 1u64..120_000, any::<bool>()), 0..3),
    )
        .prop_map(
            |(
                latency_ms,
                jitter_ms,
                loss,
                burst,
                duplicate,
                reorder,
                bandwidth,
                queue,
                partitions,
            )| Faults {
                latency_ms,
                jitter_ms,
                loss,
                burst,
                duplicate,
                reorder,
                bandwidth,
                queue,
                partitions,
            },
        )
}

fn config() -> Config {
    let mut config = Config::default();
    config.connect_timeout = Duration::from_secs(10);
    config.max_retransmissions = 5;
    config.idle_timeout = Some(Duration::from_secs(60));
    config
}

/// One case: a flow of `len` bytes one way and `reply_len` the other under
/// the faults `f`, checked as the module docs say.
fn run_case(
    len: u64,
    reply_len: u64,
    acceptor_first: bool,
    seed: u64,
    f: &Faults,
) -> Result<(), TestCaseError> {
    let client: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let mut sim: Sim<Endpoint> = Sim::new(seed);
    let link = LinkConfig {
        jitter: Duration::from_millis(f.jitter_ms),
        loss: f.loss,
        burst_loss: f.burst.map(|(gb, bg)| GilbertElliott {
            p_good_to_bad: gb,
            p_bad_to_good: bg,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        }),
        duplicate: f.duplicate,
        reorder: f.reorder,
        reorder_delay: Duration::from_millis(20),
        bandwidth: f.bandwidth,
        queue_capacity: f.queue,
        ..LinkConfig::with_latency(Duration::from_millis(f.latency_ms))
    };
    sim.set_default_link(link).unwrap();
    let start = sim.now();
    let mut last_partition_end = start;
    for &(at, dur, both) in &f.partitions {
        let from = start + Duration::from_millis(at);
        let to = from + Duration::from_millis(dur);
        last_partition_end = last_partition_end.max(to);
        if both {
            sim.partition_both(client, server, from, to);
        } else {
            sim.partition(client, server, from, to);
        }
    }
    let flows = vec![Flow {
        client,
        server,
        len,
        reply_len,
        acceptor_first,
        seed,
    }];
    let mut t = Transfers::start(&mut sim, flows, &config(), &config());
    // Generous but finite: a transfer either finishes or gives up well
    // within this (idle 60 s, retransmissions backing off to 60 s).
    let deadline = last_partition_end + Duration::from_secs(1800);
    let end = t.run(&mut sim, deadline);
    prop_assert!(end.is_ok(), "hang: {:?}\n{}", end, t.failures());
    let flow = &t.flows[0];
    let r = &t.results[0];
    prop_assert!(r.corrupt_at.is_none(), "corrupted at {:?}", r.corrupt_at);
    prop_assert!(
        r.reply_corrupt_at.is_none(),
        "reply corrupted at {:?}",
        r.reply_corrupt_at
    );
    prop_assert!(r.received <= len + 8);
    prop_assert!(r.reply_received <= reply_len + 8);
    let failed = |c: Option<CloseReason>| {
        matches!(
            c,
            Some(CloseReason::TimedOut(_) | CloseReason::Reset | CloseReason::Refused)
        )
    };
    // A side that did not get everything knows it failed (a clean end
    // comes only after the peer's FIN, which follows all its data) ...
    prop_assert!(
        r.client_complete(flow) || failed(r.client_closed),
        "client got {} of {} bytes, eof {}, closed {:?}; server: {:?}",
        r.reply_received,
        reply_len + 8,
        r.reply_eof,
        r.client_closed,
        r.server_closed
    );
    // ... and so does the server, if it ever heard of the flow.
    prop_assert!(
        r.server_handle.is_none() || r.server_complete(flow) || failed(r.server_closed),
        "server got {} of {} bytes, eof {}, closed {:?}; client: {:?}",
        r.received,
        len + 8,
        r.eof,
        r.server_closed,
        r.client_closed
    );
    // Once both sides have ended, both endpoints forget everything within
    // the drain (at most 60 s, none after a timeout).
    let settle_until = sim.now() + Duration::from_secs(61);
    t.settle(&mut sim, settle_until);
    prop_assert_eq!(sim.host(client).connection_count(), 0);
    prop_assert_eq!(sim.host(server).connection_count(), 0);
    Ok(())
}

/// A case that once left the client's connection behind: a partition
/// (17.2 s to 50.5 s, both ways) under burst loss and reordering.
#[test]
fn partition_during_close_leaves_nothing_behind() {
    let f = Faults {
        latency_ms: 165,
        jitter_ms: 13,
        loss: 0.0,
        burst: Some((0.037537489093895045, 0.255058735949749)),
        duplicate: 0.0,
        reorder: 0.07739131790020908,
        bandwidth: None,
        queue: None,
        partitions: vec![(17207, 33331, true)],
    };
    run_case(11635, 4567, false, 11267619802589716244, &f).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn exact_bytes_or_both_sides_fail(
        len in 0u64..200_000,
        reply_len in 0u64..200_000,
        acceptor_first in any::<bool>(),
        seed in any::<u64>(),
        f in faults(),
    ) {
        run_case(len, reply_len, acceptor_first, seed, &f)?;
    }
}
