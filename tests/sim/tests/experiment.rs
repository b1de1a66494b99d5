//! The experiment harness: its summaries on hand-made samples, and the standard scenarios.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

use utp_core::congestion::CongestionKind;
use utp_core::{CloseReason, Config};
use utp_sim::experiment::{
    jain_index, scenarios, DelayStats, DropStorm, Experiment, ExperimentError, ExperimentResult,
    FlowEnd, FlowOutcome, FlowSample, FlowSpec, Sample,
};
use utp_sim::{ConfigError, DropStats, LinkConfig};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- summaries on hand-made samples -----------------------------------------

/// Samples every second for 10 s; flow 0 delivers 1000 bytes a second,
/// flow 1 3000 bytes a second from 5 s on; the link carries 5000 wire bytes
/// a second (of 8000 at 64 kbit/s); queue delay `i * 10 ms`; 2 drops a
/// second, and 30 more in second 7.
fn synthetic() -> ExperimentResult {
    let samples = (0..=10u64)
        .map(|i| Sample {
            time: secs(i),
            flows: vec![
                FlowSample {
                    active: true,
                    cwnd: 1000,
                    in_flight: 500,
                    srtt: ms(50),
                    delivered: 1000 * i,
                },
                FlowSample {
                    active: i >= 5,
                    delivered: 3000 * i.saturating_sub(5),
                    ..FlowSample::default()
                },
            ],
            queued: i as usize,
            queue_delay: ms(10 * i),
            drops: DropStats {
                queue_full: 2 * i + if i >= 7 { 30 } else { 0 },
                loss: 1,
                ..DropStats::default()
            },
            wire_bytes: 5000 * i,
        })
        .collect();
    let outcome = |label: &str| FlowOutcome {
        label: label.into(),
        congestion: CongestionKind::Reno,
        start: Duration::ZERO,
        end: FlowEnd::At(secs(10)),
        connected_at: None,
        finished_at: None,
        delivered: 0,
        written: 0,
        sender_closed: None,
        receiver_closed: None,
        stats: Default::default(),
    };
    ExperimentResult {
        name: "synthetic".into(),
        seed: 0,
        bottleneck: LinkConfig {
            bandwidth: Some(64_000),
            ..LinkConfig::default()
        },
        sample_interval: secs(1),
        flows: vec![outcome("a"), outcome("b")],
        samples,
        bottleneck_stats: Default::default(),
    }
}

#[test]
fn goodput_and_utilisation_over_windows() {
    let r = synthetic();
    assert_eq!(r.end(), secs(10));
    assert_eq!(r.goodput(0, secs(0), secs(10)), 8000.0);
    assert_eq!(r.goodput(1, secs(5), secs(10)), 24000.0);
    // Windows snap inwards to the sample grid: [4.5, 9.9] is [5, 9].
    assert_eq!(r.goodput(1, ms(4500), ms(9900)), 24000.0);
    assert_eq!(r.goodputs(secs(0), secs(10)), vec![8000.0, 12000.0]);
    // Empty windows and unknown flows give 0.
    assert_eq!(r.goodput(0, ms(4100), ms(4900)), 0.0);
    assert_eq!(r.goodput(2, secs(0), secs(10)), 0.0);
    assert_eq!(r.utilisation(secs(0), secs(10)), 0.625);
    let unlimited = ExperimentResult {
        bottleneck: LinkConfig::default(),
        ..synthetic()
    };
    assert_eq!(unlimited.utilisation(secs(0), secs(10)), 0.0);
}

#[test]
fn queue_delay_statistics_use_nearest_rank() {
    let r = synthetic();
    // 11 samples: 0, 10, ..., 100 ms.
    assert_eq!(
        r.queue_delay(secs(0), secs(10)),
        DelayStats {
            samples: 11,
            mean: ms(50),
            p50: ms(50),
            p95: ms(100),
            p99: ms(100),
            max: ms(100),
        }
    );
    // 1..=4 s: 10, 20, 30, 40 ms.
    let d = r.queue_delay(secs(1), secs(4));
    assert_eq!(
        (d.samples, d.mean, d.p50, d.p95),
        (4, ms(25), ms(20), ms(40))
    );
    assert_eq!(r.queue_delay(ms(100), ms(900)), DelayStats::default());
}

#[test]
fn drops_and_drop_storms() {
    let r = synthetic();
    let d = r.drops(secs(0), secs(10));
    assert_eq!((d.queue_full, d.loss, d.total()), (50, 0, 50));
    assert_eq!(r.drops(secs(0), secs(5)).queue_full, 10);
    // The worst 1 s window is 6 -> 7 s: 2 + 30.
    assert_eq!(
        r.drop_storm(secs(1)),
        DropStorm {
            drops: 32,
            start: secs(6),
            end: secs(7),
        }
    );
    // Over 3 s: 4 -> 7 s is the first window with the most, 6 + 30.
    assert_eq!(r.drop_storm(secs(3)).drops, 36);
    assert_eq!(r.drop_storm(secs(3)).start, secs(4));
    // A window shorter than the sample interval sees nothing.
    assert_eq!(r.drop_storm(ms(500)).drops, 0);
}

#[test]
fn jain_index_values() {
    assert_eq!(jain_index(&[]), 1.0);
    assert_eq!(jain_index(&[0.0, 0.0]), 1.0);
    assert_eq!(jain_index(&[3.0, 3.0, 3.0]), 1.0);
    assert_eq!(jain_index(&[1.0, 0.0]), 0.5);
    assert!((jain_index(&[1.0, 3.0]) - 0.8).abs() < 1e-12);
}

#[test]
fn csv_has_one_row_per_sample() {
    let r = synthetic();
    let csv = r.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 11);
    assert_eq!(
        lines[0],
        "time_s,f1_active,f1_cwnd_bytes,f1_in_flight_bytes,f1_srtt_ms,f1_delivered_bytes,\
         f2_active,f2_cwnd_bytes,f2_in_flight_bytes,f2_srtt_ms,f2_delivered_bytes,\
         queue_packets,queue_delay_ms,wire_bytes,\
         drops_queue_full,drops_loss,drops_mtu,drops_partition,drops_no_such_host"
    );
    assert_eq!(
        lines[8],
        "7.000,1,1000,500,50.000,7000,1,0,0,0.000,6000,7,70.000,35000,44,1,0,0,0"
    );
    let columns = lines[0].split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == columns));
}

// ---- running experiments ------------------------------------------------------

#[test]
fn invalid_experiments_are_refused() {
    let bad = Experiment::new(
        "bad",
        LinkConfig {
            bandwidth: Some(0),
            ..LinkConfig::default()
        },
        secs(1),
    );
    assert_eq!(
        bad.run().unwrap_err(),
        ExperimentError::Config(ConfigError::ZeroBandwidth)
    );
    let mut zero = Experiment::new("zero", LinkConfig::default(), secs(1));
    zero.sample_interval = Duration::ZERO;
    assert_eq!(zero.run().unwrap_err(), ExperimentError::ZeroSampleInterval);
}

#[test]
fn an_experiment_without_flows_samples_an_idle_link_until_its_end() {
    let r = Experiment::new("idle", scenarios::bottleneck_10mbit(), secs(1))
        .run()
        .unwrap();
    let times: Vec<Duration> = r.samples.iter().map(|s| s.time).collect();
    assert_eq!(times, (0..=10).map(|i| ms(100 * i)).collect::<Vec<_>>());
    assert!(r
        .samples
        .iter()
        .all(|s| s.flows.is_empty() && s.wire_bytes == 0));
}

#[test]
fn a_byte_count_flow_delivers_exactly_its_bytes_and_closes() {
    let exp = Experiment::new("bytes", scenarios::bottleneck_10mbit(), secs(30))
        .with_flow(FlowSpec::bytes("x", Config::default(), ms(250), 3_000_000));
    let r = exp.run().unwrap();
    let f = &r.flows[0];
    assert_eq!((f.written, f.delivered), (3_000_000, 3_000_000));
    assert_eq!(f.sender_closed, Some(CloseReason::LocalClose));
    assert!(f.receiver_closed.is_some());
    // Connected one RTT (50 ms plus serialisation) after its start.
    let connected = f.connected_at.unwrap();
    assert!(connected > ms(300) && connected < ms(310), "{connected:?}");
    // 3 MB at 10 Mbit/s takes at least 2.4 s; the run ends once it is over.
    let finished = f.finished_at.unwrap();
    assert!(finished > ms(2650) && finished < secs(5), "{finished:?}");
    assert!(r.end() >= finished && r.end() < finished + secs(1));
    // Not started before 250 ms.
    assert!(r.samples[..3].iter().all(|s| !s.flows[0].active));
    assert!(r.samples[3].flows[0].active);
    assert_eq!(r.samples.last().unwrap().flows[0].delivered, 3_000_000);
}

/// Invariants every run must keep, whatever the controller.
fn check_invariants(r: &ExperimentResult) {
    let cap = r.bottleneck.queue_capacity.unwrap();
    let bw = r.bottleneck.bandwidth.unwrap();
    // A full queue plus the datagram on the wire, at 1500 bytes each.
    let max_delay = Duration::from_secs_f64((cap + 1) as f64 * 1500.0 * 8.0 / bw as f64);
    for pair in r.samples.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(b.time > a.time);
        assert!(b.wire_bytes >= a.wire_bytes);
        assert!(b.drops.total() >= a.drops.total());
        for (fa, fb) in a.flows.iter().zip(&b.flows) {
            assert!(fb.delivered >= fa.delivered);
        }
    }
    for s in &r.samples {
        assert!(s.queued <= cap, "{} at {:?}", s.queued, s.time);
        assert!(s.queue_delay <= max_delay, "{:?}", s.queue_delay);
        // Only the queue drops: the bottleneck has no random loss.
        assert_eq!(s.drops.total(), s.drops.queue_full);
    }
    let last = r.samples.last().unwrap();
    assert_eq!(last.drops, r.bottleneck_stats.dropped);
    for (i, f) in r.flows.iter().enumerate() {
        assert_eq!(last.flows[i].delivered, f.delivered, "{}", f.label);
        // Every flow was closed gracefully and everything written arrived.
        assert_eq!(f.delivered, f.written, "{}", f.label);
        assert!(f.finished_at.is_some(), "{}", f.label);
    }
}

#[test]
fn single_flow_fills_the_link() {
    let r = scenarios::single_flow().run().unwrap();
    check_invariants(&r);
    assert_eq!(r.name, "single-flow");
    assert!(r.end() >= secs(60) && r.end() < secs(62), "{:?}", r.end());
    let util = r.utilisation(secs(10), secs(60));
    assert!(util > 0.95, "utilisation {util}");
    let goodput = r.goodput(0, secs(10), secs(60));
    assert!(goodput > 9.0e6 && goodput < 10.0e6, "goodput {goodput}");
    // Sampled every 100 ms (plus the final sample).
    for (i, s) in r.samples.iter().enumerate().take(600) {
        assert_eq!(s.time, ms(100 * i as u64));
    }
    // The sender's estimates are sampled: an RTT of at least the 50 ms path.
    let s = &r.samples[300].flows[0];
    assert!(s.active && s.cwnd > 0 && s.srtt >= ms(50), "{s:?}");
}

#[test]
fn runs_are_deterministic() {
    let a = scenarios::two_ledbat(secs(5)).run().unwrap();
    let b = scenarios::two_ledbat(secs(5)).run().unwrap();
    assert!(a == b);
    assert!(a.to_csv() == b.to_csv());
    // Without random impairments the seed only picks connection ids and
    // sequence numbers, which change no timing; with random loss, it
    // changes the run.
    let mut lossy = scenarios::two_ledbat(secs(5));
    lossy.bottleneck.loss = 0.001;
    lossy.duration = secs(10);
    let c = lossy.clone().run().unwrap();
    assert!(c == lossy.clone().run().unwrap());
    assert!(c.drops(secs(0), secs(10)).loss > 0);
    let d = lossy.with_seed(2).run().unwrap();
    assert!(c.to_csv() != d.to_csv());
}

#[test]
fn two_flows_of_the_same_controller_share_the_link() {
    for delay in [0, 5] {
        let r = scenarios::two_ledbat(secs(delay)).run().unwrap();
        check_invariants(&r);
        let g = r.goodputs(secs(10), secs(60));
        let jain = jain_index(&g);
        assert!(
            jain > 0.9,
            "start delay {delay} s: goodputs {g:?}, Jain {jain}"
        );
        assert!(g[0] + g[1] > 9.0e6, "{g:?}");
        // The late-comer waits its turn.
        assert!(r
            .samples
            .iter()
            .take(10 * delay as usize)
            .all(|s| !s.flows[1].active));
    }
}

#[test]
fn ledbat_vs_loss_based_both_flows_run_and_the_link_stays_full() {
    let r = scenarios::ledbat_vs_loss_based().run().unwrap();
    check_invariants(&r);
    assert_eq!(r.flows[1].congestion, CongestionKind::Reno);
    assert!(r.utilisation(secs(10), secs(90)) > 0.95);
    // The loss-based flow gets a real share while it runs.
    let loss_based = r.goodput(1, secs(35), secs(60));
    assert!(loss_based > 1.0e6, "{loss_based}");
    // And the default flow has the link alone before and after.
    assert!(r.goodput(0, secs(10), secs(30)) > 9.0e6);
    assert!(r.goodput(0, secs(70), secs(90)) > 9.0e6);
}

#[test]
fn bufferbloat_with_a_loss_based_flow_keeps_the_queue_long() {
    let r = scenarios::bufferbloat("loss-based", scenarios::loss_based())
        .run()
        .unwrap();
    check_invariants(&r);
    assert!(r.utilisation(secs(10), secs(60)) > 0.95);
    // A loss-based flow fills the queue as far as its window lets it: the
    // 1 MiB receive window alone is ~760 datagrams, 0.87 s at 10 Mbit/s.
    let d = r.queue_delay(secs(10), secs(60));
    assert!(d.mean > ms(500), "{d:?}");
}

#[test]
fn pacing_scenario_delivers_100_mib_and_counts_drops() {
    let r = scenarios::pacing().run().unwrap();
    check_invariants(&r);
    let f = &r.flows[0];
    assert_eq!(f.delivered, 100 << 20);
    // 100 MiB at 20 Mbit/s takes at least 42 s.
    let done = f.finished_at.unwrap();
    assert!(done > secs(42) && done < secs(60), "{done:?}");
    let drops = r.drops(Duration::ZERO, r.end());
    assert_eq!(drops, r.bottleneck_stats.dropped);
    assert_eq!(r.drop_storm(r.end()).drops, drops.total());
}

#[test]
fn every_standard_scenario_has_a_distinct_name() {
    let mut names: Vec<String> = scenarios::all().into_iter().map(|e| e.name).collect();
    assert_eq!(names.len(), 7);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 7);
}
