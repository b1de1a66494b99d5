//! Configuration: every rule `Config::validate` states, and that the core
//! never panics nor spins whatever the configuration (`Endpoint::new`
//! takes invalid values as the nearest valid ones): arbitrary
//! configurations on both sides of a connection that moves data both
//! ways, in memory with explicit time.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use utp_core::config::{MAX_PACKET_SIZE, MAX_REORDER_WINDOW, MIN_PACKET_SIZE};
use utp_core::congestion::{AckSample, CongestionKind, Controller, LedbatConfig};
use utp_core::{Config, ConfigError, Endpoint, Event, ListenConfig, Timestamp};

fn zero(field: &'static str) -> Result<(), ConfigError> {
    Err(ConfigError::Zero { field })
}

fn range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    Err(ConfigError::OutOfRange {
        field,
        value,
        min,
        max,
    })
}

/// `change` applied to the default configuration.
fn check(change: impl FnOnce(&mut Config)) -> Result<(), ConfigError> {
    let mut c = Config::default();
    change(&mut c);
    c.validate()
}

#[test]
fn every_rule_names_its_field() {
    let ms = Duration::from_millis;
    let (min, max) = (MIN_PACKET_SIZE as u64, MAX_PACKET_SIZE as u64);
    assert_eq!(check(|_| {}), Ok(()));
    assert_eq!(
        check(|c| c.max_connections = 0),
        zero("Config::max_connections")
    );
    assert_eq!(check(|c| c.send_buffer = 0), zero("Config::send_buffer"));
    assert_eq!(check(|c| c.recv_buffer = 0), zero("Config::recv_buffer"));
    for (size, ok) in [
        (0, false),
        (MIN_PACKET_SIZE - 1, false),
        (MIN_PACKET_SIZE, true),
        (MAX_PACKET_SIZE, true),
        (MAX_PACKET_SIZE + 1, false),
    ] {
        let want = |field| {
            if ok {
                Ok(())
            } else {
                range(field, size as u64, min, max)
            }
        };
        assert_eq!(
            check(|c| c.packet_size_v4 = size),
            want("Config::packet_size_v4")
        );
        assert_eq!(
            check(|c| c.packet_size_v6 = size),
            want("Config::packet_size_v6")
        );
    }
    assert_eq!(
        check(|c| c.pmtu_reprobe = Duration::ZERO),
        zero("Config::pmtu_reprobe")
    );
    assert_eq!(
        check(|c| c.pmtu_probe_attempts = 0),
        zero("Config::pmtu_probe_attempts")
    );
    let window = u64::from(MAX_REORDER_WINDOW);
    assert_eq!(
        check(|c| c.reorder_window = 0),
        range("Config::reorder_window", 0, 1, window)
    );
    assert_eq!(
        check(|c| c.reorder_window = MAX_REORDER_WINDOW + 1),
        range("Config::reorder_window", window + 1, 1, window)
    );
    assert_eq!(check(|c| c.reorder_window = 1), Ok(()));
    for (field, set) in [
        (
            "Config::connect_timeout",
            (|c: &mut Config| c.connect_timeout = Duration::ZERO) as fn(&mut Config),
        ),
        ("Config::syn_rto", |c| c.syn_rto = Duration::ZERO),
        ("Config::initial_rto", |c| c.initial_rto = Duration::ZERO),
        ("Config::min_rto", |c| c.min_rto = Duration::ZERO),
        ("Config::keepalive", |c| c.keepalive = Some(Duration::ZERO)),
        ("Config::idle_timeout", |c| {
            c.idle_timeout = Some(Duration::ZERO)
        }),
        ("Config::max_send_rate", |c| c.max_send_rate = Some(0)),
        ("Config::max_total_send_rate", |c| {
            c.max_total_send_rate = Some(0)
        }),
        ("Config::replies_per_second", |c| c.replies_per_second = 0),
        ("Config::replies_per_source", |c| c.replies_per_source = 0),
        ("Config::half_open_timeout", |c| {
            c.half_open_timeout = Duration::ZERO
        }),
        ("Config::max_half_open", |c| c.max_half_open = 0),
        ("Config::memory_budget", |c| c.memory_budget = 0),
    ] {
        assert_eq!(check(set), zero(field), "{field}");
    }
    // The panic this rule prevents was in `Duration::clamp`.
    let inverted = |c: &mut Config| {
        c.min_rto = ms(2000);
        c.max_rto = ms(1000);
    };
    assert_eq!(
        check(inverted),
        Err(ConfigError::Exceeds {
            field: "Config::min_rto",
            bound: "Config::max_rto"
        })
    );
    assert_eq!(
        check(|c| {
            c.min_rto = ms(1000);
            c.max_rto = ms(1000);
        }),
        Ok(())
    );
    let not_shorter = Err(ConfigError::NotShorter {
        field: "Config::keepalive",
        bound: "Config::idle_timeout",
    });
    assert_eq!(check(|c| c.idle_timeout = Some(ms(29_000))), not_shorter);
    assert_eq!(check(|c| c.idle_timeout = Some(ms(29_001))), Ok(()));
    assert_eq!(
        check(|c| {
            c.idle_timeout = Some(ms(1000));
            c.keepalive = None;
        }),
        Ok(())
    );
    // Values that look odd but mean something.
    assert_eq!(check(|c| c.linger = Duration::ZERO), Ok(()));
    assert_eq!(check(|c| c.max_retransmissions = 0), Ok(()));
    assert_eq!(check(|c| c.syn_cookie_threshold = 0), Ok(()));
    assert_eq!(check(|c| c.max_send_rate = Some(1)), Ok(()));
    assert_eq!(check(|c| c.idle_timeout = None), Ok(()));

    let ledbat = |change: fn(&mut LedbatConfig)| {
        let mut l = LedbatConfig::default();
        change(&mut l);
        check(move |c| c.congestion = CongestionKind::Ledbat(l))
    };
    assert_eq!(
        ledbat(|l| l.target = Duration::ZERO),
        zero("LedbatConfig::target")
    );
    assert_eq!(ledbat(|l| l.gain = 0), zero("LedbatConfig::gain"));
    assert_eq!(
        ledbat(|l| l.base_history = 0),
        range("LedbatConfig::base_history", 0, 1, 30)
    );
    assert_eq!(
        ledbat(|l| l.base_history = 31),
        range("LedbatConfig::base_history", 31, 1, 30)
    );
    assert_eq!(
        ledbat(|l| l.current_filter = 17),
        range("LedbatConfig::current_filter", 17, 1, 16)
    );
    assert_eq!(
        ledbat(|l| l.slowdown_interval = Some(Duration::ZERO)),
        zero("LedbatConfig::slowdown_interval")
    );
    assert_eq!(ledbat(|l| l.slowdown_interval = None), Ok(()));

    let mut listen = ListenConfig::<std::net::SocketAddr>::default();
    assert_eq!(listen.validate(), Ok(()));
    listen.backlog = 0;
    assert_eq!(listen.validate(), zero("ListenConfig::backlog"));
}

#[test]
fn errors_say_what_is_wrong() {
    let mut c = Config::default();
    c.packet_size_v4 = 100;
    let e = c.validate().unwrap_err();
    assert_eq!(e.field(), "Config::packet_size_v4");
    assert_eq!(
        e.to_string(),
        "invalid Config::packet_size_v4: 100 is not within 166..=65507"
    );
    let mut c = Config::default();
    c.idle_timeout = Some(Duration::from_secs(10));
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "invalid Config::keepalive: must be shorter than Config::idle_timeout"
    );
    // As the adapters return it: InvalidInput, the ConfigError inside.
    let e = c.validate().unwrap_err();
    let io = std::io::Error::from(e);
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(io.to_string(), e.to_string());
    assert_eq!(
        io.get_ref().unwrap().downcast_ref::<ConfigError>(),
        Some(&e)
    );
}

#[test]
fn endpoint_takes_invalid_values_as_the_nearest_valid_ones() {
    let mut c = Config::default();
    c.min_rto = Duration::from_secs(2);
    c.max_rto = Duration::from_secs(1);
    c.packet_size_v4 = 0;
    c.packet_size_v6 = usize::MAX;
    c.reorder_window = 5000;
    c.keepalive = Some(Duration::from_secs(60));
    c.idle_timeout = Some(Duration::from_secs(20));
    c.max_send_rate = Some(0);
    c.send_buffer = 0;
    c.connect_timeout = Duration::ZERO;
    let ep = Endpoint::new(c, 1);
    let used = ep.config();
    assert_eq!(used.validate(), Ok(()));
    assert_eq!(used.max_rto, Duration::from_secs(2));
    assert_eq!(used.packet_size_v4, MIN_PACKET_SIZE);
    assert_eq!(used.packet_size_v6, MAX_PACKET_SIZE);
    assert_eq!(used.reorder_window, MAX_REORDER_WINDOW);
    assert_eq!(used.keepalive, Some(Duration::from_secs(10)));
    assert_eq!(used.max_send_rate, None);
    assert_eq!(used.send_buffer, 1);
    assert_eq!(used.connect_timeout, Duration::from_micros(1));
}

/// The zero-window probe timer clamped between `min_rto` and `max_rto`:
/// with the two inverted that panicked.
#[test]
fn inverted_rto_bounds_survive_zero_window_probes() {
    let mut inverted = Config::default();
    inverted.min_rto = Duration::from_secs(2);
    inverted.max_rto = Duration::from_secs(1);
    let mut small = Config::default();
    small.recv_buffer = 16 * 1024;
    let mut p = Pair::new(inverted, small);
    let (ha, hb) = p.connect();
    // 64 KiB: what a write takes at least, whatever the window.
    let data = pattern(64 * 1024, 3);
    assert_eq!(p.a.conn(ha).unwrap().write(&data).unwrap(), data.len());
    p.a.conn(ha).unwrap().shutdown();
    // B does not read: A probes the closed window.
    p.run_until(p.now + Duration::from_secs(60));
    assert_eq!(p.a.conn(ha).unwrap().stats().peer_window, 0);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    p.run_while(Duration::from_secs(120), |p| {
        loop {
            match p.b.conn(hb).map(|mut c| c.read(&mut buf)) {
                Some(Ok(0)) => return false,
                Some(Ok(n)) => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        p.flush();
        true
    });
    assert!(got == data);
}

/// A fixed window, for a custom controller of arbitrary size.
#[derive(Debug)]
struct Fixed(usize);

impl Controller for Fixed {
    fn window(&self) -> usize {
        self.0
    }
    fn on_ack(&mut self, _: &AckSample) {}
    fn on_loss(&mut self, _: Timestamp, _: usize) {}
    fn on_timeout(&mut self, _: Timestamp, _: usize) {}
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0),
        Just(1),
        2..200usize,
        500..70_000usize,
        1_000_000..4_000_000usize,
        Just(usize::MAX),
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (1..5_000u64).prop_map(Duration::from_micros),
        (1..2_000u64).prop_map(Duration::from_millis),
        (1..400u64).prop_map(Duration::from_secs),
        Just(Duration::MAX),
    ]
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(1), 2..20u32, Just(u32::MAX)]
}

fn rate() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        (1..100_000u64).prop_map(Some),
        (100_000..1_000_000_000u64).prop_map(Some),
        Just(Some(u64::MAX)),
    ]
}

/// `default` `keep` times in `keep + 1`, else anything from `other`
/// (`keep` 0: always `other`).
fn or<T: Clone + std::fmt::Debug + 'static>(
    keep: u32,
    default: T,
    other: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    if keep == 0 {
        other.boxed()
    } else {
        prop_oneof![keep => Just(default), 1 => other].boxed()
    }
}

fn congestion(keep: u32) -> impl Strategy<Value = CongestionKind> {
    let d = LedbatConfig::default();
    let ledbat = (
        or(keep, d.target, duration()),
        or(keep, d.gain, count()),
        or(keep, d.base_history, any::<u8>()),
        or(keep, d.current_filter, any::<u8>()),
        any::<bool>(),
        any::<bool>(),
        or(keep, d.slowdown_interval, proptest::option::of(duration())),
    )
        .prop_map(|(target, gain, history, filter, ss, md, slowdown)| {
            let mut l = LedbatConfig::default();
            l.target = target;
            l.gain = gain;
            l.base_history = history;
            l.current_filter = filter;
            l.slow_start = ss;
            l.multiplicative_decrease = md;
            l.slowdown_interval = slowdown;
            CongestionKind::Ledbat(l)
        });
    prop_oneof![
        ledbat,
        Just(CongestionKind::Reno),
        size().prop_map(|w| CongestionKind::custom(
            move |_: &utp_core::congestion::ControllerContext| Box::new(Fixed(w))
                as Box<dyn Controller>
        )),
    ]
}

/// A configuration whose every field is its default `keep` times in
/// `keep + 1`, else arbitrary (invalid values included).
fn config(keep: u32) -> impl Strategy<Value = Config> {
    let d = Config::default();
    let sizes = (
        or(keep, d.max_connections, size()),
        or(keep, d.send_buffer, size()),
        or(keep, d.recv_buffer, size()),
        or(keep, d.packet_size_v4, size()),
        or(keep, d.packet_size_v6, size()),
        or(keep, d.max_half_open, size()),
        or(keep, d.memory_budget, size()),
        or(keep, d.syn_cookie_threshold, size()),
    );
    let flags = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    let times = (
        or(keep, d.pmtu_reprobe, duration()),
        or(keep, d.connect_timeout, duration()),
        or(keep, d.syn_rto, duration()),
        or(keep, d.initial_rto, duration()),
        or(keep, d.min_rto, duration()),
        or(keep, d.max_rto, duration()),
        or(keep, d.linger, duration()),
        or(keep, d.half_open_timeout, duration()),
        or(keep, d.keepalive, proptest::option::of(duration())),
        or(keep, d.idle_timeout, proptest::option::of(duration())),
    );
    let counts = (
        or(keep, d.pmtu_probe_attempts, count()),
        or(keep, d.max_retransmissions, count()),
        or(keep, d.replies_per_second, count()),
        or(keep, d.replies_per_source, count()),
        or(keep, d.reorder_window, any::<u16>()),
        or(keep, d.max_send_rate, rate()),
        or(keep, d.max_total_send_rate, rate()),
        0..3u8,
    );
    let congestion = or(keep, CongestionKind::default(), congestion(keep));
    (sizes, flags, times, counts, congestion).prop_map(
        |(sizes, flags, times, counts, congestion)| {
            let mut c = Config::default();
            (
                c.max_connections,
                c.send_buffer,
                c.recv_buffer,
                c.packet_size_v4,
                c.packet_size_v6,
                c.max_half_open,
                c.memory_budget,
                c.syn_cookie_threshold,
            ) = sizes;
            (
                c.refuse_when_full,
                c.pmtu_discovery,
                c.nagle,
                c.pacing,
                c.reset_unknown,
            ) = flags;
            (
                c.pmtu_reprobe,
                c.connect_timeout,
                c.syn_rto,
                c.initial_rto,
                c.min_rto,
                c.max_rto,
                c.linger,
                c.half_open_timeout,
                c.keepalive,
                c.idle_timeout,
            ) = times;
            let cookies;
            (
                c.pmtu_probe_attempts,
                c.max_retransmissions,
                c.replies_per_second,
                c.replies_per_source,
                c.reorder_window,
                c.max_send_rate,
                c.max_total_send_rate,
                cookies,
            ) = counts;
            c.congestion = congestion;
            c.syn_cookies = match cookies {
                0 => utp_core::SynCookies::Off,
                1 => utp_core::SynCookies::OnPressure,
                _ => utp_core::SynCookies::Always,
            };
            c
        },
    )
}

/// Most steps (deliveries or timer firings) a run takes: a configuration
/// may make a connection crawl (a rate of one byte a second, a
/// microsecond keepalive), which is no failure.
const MAX_STEPS: usize = 20_000;

/// A two-way exchange between endpoints configured `a` and `b`, checked
/// for sanity only: nothing is required to arrive.
fn exchange(a: Config, b: Config, backlog: usize, early_data: bool) -> TwoWay {
    let mut p = Pair::new(a, b);
    let mut listen = ListenConfig::<std::net::SocketAddr>::default();
    listen.backlog = backlog;
    listen.early_data = early_data;
    p.b.listen(listen);
    let data = pattern(20_000, 1);
    let r = two_way(
        &mut p,
        &data,
        &data,
        true,
        Duration::from_secs(120),
        MAX_STEPS,
        |_, _| {},
    );
    // Whatever arrived is what was sent, in order.
    assert!(r.to_b.len() <= data.len() && r.to_b == data[..r.to_b.len()]);
    assert!(r.to_a.len() <= data.len() && r.to_a == data[..r.to_a.len()]);
    // Events only for the handles given out.
    for e in p.events_a.iter() {
        assert!(e.handle().is_none_or(|h| Some(h) == r.ha), "{e:?}");
    }
    for e in p.events_b.iter() {
        assert!(
            *e == Event::Incoming || e.handle().is_none_or(|h| Some(h) == r.hb),
            "{e:?}"
        );
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    /// Whatever the configurations, nothing panics or spins, and the
    /// endpoint runs with a valid one.
    #[test]
    fn arbitrary_configs_never_panic(
        a in prop_oneof![config(0), config(12)],
        b in prop_oneof![config(0), config(12)],
        backlog in prop_oneof![Just(0usize), 1..4usize, Just(usize::MAX)],
        early_data in any::<bool>(),
    ) {
        prop_assert_eq!(Endpoint::new(a.clone(), 0).config().validate(), Ok(()));
        prop_assert_eq!(Endpoint::new(b.clone(), 0).config().validate(), Ok(()));
        exchange(a, b, backlog, early_data);
    }
}

/// The same exchange with valid, ordinary settings does complete (the
/// harness above can see success).
#[test]
fn the_exchange_completes_with_defaults() {
    let r = exchange(Config::default(), Config::default(), 1, false);
    assert_eq!(r.to_a, pattern(20_000, 1));
    assert_eq!(r.to_b, pattern(20_000, 1));
    assert!(r.a_eof && r.b_eof);
}
