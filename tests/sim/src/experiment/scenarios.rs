//! The standard experiments, shared by the tests and the report program
//! (`cargo run --release -p utp-sim --example report`), so both run the
//! very same setups.
//!
//! A "LEDBAT flow" is [`Config::default()`] (uTP's delay-based controller
//! once it is the default; whatever the default is until then) and a
//! "loss-based flow" is [`loss_based`]: the flow labels name the
//! controller actually in use.

use core::time::Duration;

use utp_core::congestion::CongestionKind;
use utp_core::Config;

use super::{Experiment, FlowSpec};
use crate::LinkConfig;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The config of a "LEDBAT flow": `Config::default()`.
pub fn ledbat() -> Config {
    Config::default()
}

/// The config of a loss-based flow: the default with
/// [`CongestionKind::Reno`].
pub fn loss_based() -> Config {
    let mut config = Config::default();
    config.congestion = CongestionKind::Reno;
    config
}

/// A legend label: the role and the controller really in use, e.g.
/// `"default (Reno)"`.
pub fn label(role: &str, config: &Config) -> String {
    let controller = match config.congestion {
        CongestionKind::Ledbat(_) => "LEDBAT",
        CongestionKind::Reno => "Reno",
        _ => "custom",
    };
    format!("{role} ({controller})")
}

/// The bottleneck of most scenarios: 10 Mbit/s, 25 ms each way (50 ms
/// RTT), a 200-datagram drop-tail queue (about 230 ms of queue when full
/// of 1430-byte datagrams).
pub fn bottleneck_10mbit() -> LinkConfig {
    LinkConfig {
        bandwidth: Some(10_000_000),
        queue_capacity: Some(200),
        ..LinkConfig::with_latency(Duration::from_millis(25))
    }
}

/// a. One default-config flow alone for 60 s.
pub fn single_flow() -> Experiment {
    Experiment::new("single-flow", bottleneck_10mbit(), secs(65)).with_flow(FlowSpec::until(
        label("default", &ledbat()),
        ledbat(),
        secs(0),
        secs(60),
    ))
}

/// b. A LEDBAT flow from 0 to 90 s and a loss-based flow from 30 to 60 s:
/// LEDBAT should yield to it, then take the link back.
pub fn ledbat_vs_loss_based() -> Experiment {
    Experiment::new("ledbat-vs-loss-based", bottleneck_10mbit(), secs(95))
        .with_flow(FlowSpec::until(
            label("default", &ledbat()),
            ledbat(),
            secs(0),
            secs(90),
        ))
        .with_flow(FlowSpec::until(
            label("loss-based", &loss_based()),
            loss_based(),
            secs(30),
            secs(60),
        ))
}

/// c. Two LEDBAT flows until 60 s, the second starting `second_start`
/// later (0 s and 5 s in the report): do they share fairly, and does the
/// late-comer get its share?
pub fn two_ledbat(second_start: Duration) -> Experiment {
    let name = format!("two-ledbat-{}s", second_start.as_secs());
    Experiment::new(name, bottleneck_10mbit(), secs(65))
        .with_flow(FlowSpec::until(
            label("default #1", &ledbat()),
            ledbat(),
            secs(0),
            secs(60),
        ))
        .with_flow(FlowSpec::until(
            label("default #2", &ledbat()),
            ledbat(),
            second_start,
            secs(60),
        ))
}

/// d. A bloated 1000-datagram queue (1.1 s when full), one flow for 60 s
/// with `config`; the report runs it with [`ledbat`] and [`loss_based`].
pub fn bufferbloat(name: &str, config: Config) -> Experiment {
    let bottleneck = LinkConfig {
        queue_capacity: Some(1000),
        ..bottleneck_10mbit()
    };
    Experiment::new(format!("bufferbloat-{name}"), bottleneck, secs(65)).with_flow(FlowSpec::until(
        label(name, &config),
        config.clone(),
        secs(0),
        secs(60),
    ))
}

/// The link of [`pacing`]: 20 Mbit/s into the receiver, 10 ms each way,
/// a 64-datagram queue.
pub fn pacing_link() -> LinkConfig {
    LinkConfig {
        bandwidth: Some(20_000_000),
        queue_capacity: Some(64),
        ..LinkConfig::with_latency(Duration::from_millis(10))
    }
}

/// e. A shallow 64-datagram queue at the far end (the last link into the
/// receiver, [`pacing_link`]) and one 100 MiB transfer with the default
/// config: the drops count how bursty the sender is.
///
/// Why 20 Mbit/s and 20 ms RTT: the bandwidth-delay product is 50 kB (35
/// datagrams), so the 64-datagram queue is about 2 BDP: enough for a
/// paced sender to fill the link without loss, while a sender that
/// releases a window's worth of datagrams back to back overflows it. A
/// full queue drains in 37 ms, below LEDBAT's 100 ms target, so a
/// delay-based controller alone cannot keep it from overflowing either:
/// only pacing spreads the bursts. 100 MiB takes about 42 s at line rate.
pub fn pacing() -> Experiment {
    Experiment::new("pacing", pacing_link(), secs(120)).with_flow(FlowSpec::bytes(
        label("default", &ledbat()),
        ledbat(),
        secs(0),
        100 << 20,
    ))
}

/// Every standard experiment, in the report's order.
pub fn all() -> Vec<Experiment> {
    vec![
        single_flow(),
        ledbat_vs_loss_based(),
        two_ledbat(secs(0)),
        two_ledbat(secs(5)),
        bufferbloat("ledbat", ledbat()),
        bufferbloat("loss-based", loss_based()),
        pacing(),
    ]
}
