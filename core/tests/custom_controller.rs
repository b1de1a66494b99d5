//! A congestion controller of the user's own (`CongestionKind::Custom`)
//! drives real transfers: its factory is called once per connection with
//! the connection's context, its callbacks run, and the connection never
//! has more in flight than its window.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use utp_core::congestion::{AckSample, CongestionKind, Controller, ControllerContext};
use utp_core::{Config, Timestamp};

/// Packets in the fixed window.
const WINDOW_PACKETS: usize = 4;

/// What the controllers of one endpoint were told.
#[derive(Debug, Default)]
struct Calls {
    acks: AtomicU64,
    bytes_acked: AtomicU64,
    losses: AtomicU64,
    timeouts: AtomicU64,
}

/// A fixed window of `WINDOW_PACKETS` packets that counts its callbacks.
#[derive(Debug)]
struct Fixed {
    window: usize,
    calls: Arc<Calls>,
}

impl Controller for Fixed {
    fn window(&self) -> usize {
        self.window
    }
    fn on_ack(&mut self, ack: &AckSample) {
        self.calls.acks.fetch_add(1, Ordering::Relaxed);
        self.calls
            .bytes_acked
            .fetch_add(ack.bytes_acked as u64, Ordering::Relaxed);
    }
    fn on_loss(&mut self, _: Timestamp, _: usize) {
        self.calls.losses.fetch_add(1, Ordering::Relaxed);
    }
    fn on_timeout(&mut self, _: Timestamp, _: usize) {
        self.calls.timeouts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A configuration whose controller is a [`Fixed`] window reporting to
/// `calls`; every context the factory gets goes to `contexts`.
fn fixed(calls: &Arc<Calls>, contexts: &Arc<Mutex<Vec<ControllerContext>>>) -> Config {
    let (calls, contexts) = (Arc::clone(calls), Arc::clone(contexts));
    let mut config = Config::default();
    config.congestion = CongestionKind::custom(move |cx: &ControllerContext| {
        contexts.lock().unwrap().push(*cx);
        Box::new(Fixed {
            window: WINDOW_PACKETS * cx.packet_size,
            calls: Arc::clone(&calls),
        }) as Box<dyn Controller>
    });
    config
}

#[test]
fn a_fixed_window_controller_drives_a_two_way_transfer() {
    let (calls_a, calls_b) = (Arc::<Calls>::default(), Arc::<Calls>::default());
    let (cx_a, cx_b) = (Arc::default(), Arc::default());
    let mut p = Pair::new(fixed(&calls_a, &cx_a), fixed(&calls_b, &cx_b));
    let window = WINDOW_PACKETS * 1402;
    let (data_a, data_b) = (pattern(300_000, 1), pattern(200_000, 2));
    let t0 = p.now;
    let mut most_in_flight = (0, 0);
    let mut cwnd_seen = (0, 0);
    // The acceptor writes first; A only once it heard from B.
    let r = two_way(
        &mut p,
        &data_a,
        &data_b,
        false,
        Duration::from_secs(60),
        1_000_000,
        |p, r| {
            if let Some(s) = r.ha.and_then(|h| p.a.conn(h)).map(|c| c.stats()) {
                most_in_flight.0 = most_in_flight.0.max(s.in_flight);
                cwnd_seen.0 = s.cwnd;
            }
            if let Some(s) = r.hb.and_then(|h| p.b.conn(h)).map(|c| c.stats()) {
                most_in_flight.1 = most_in_flight.1.max(s.in_flight);
                cwnd_seen.1 = s.cwnd;
            }
        },
    );
    let took = p.now - t0;
    assert!(r.a_eof && r.b_eof, "both streams ended");
    assert!(r.to_b == data_a, "A to B intact");
    assert!(r.to_a == data_b, "B to A intact");

    // One controller per connection, told the peer and the packet size.
    let cx_a = cx_a.lock().unwrap();
    let cx_b = cx_b.lock().unwrap();
    assert_eq!(cx_a.len(), 1);
    assert_eq!(cx_b.len(), 1);
    assert_eq!(cx_a[0].remote, Some(addr(B)));
    assert_eq!(cx_b[0].remote, Some(addr(A)));
    assert_eq!((cx_a[0].packet_size, cx_b[0].packet_size), (1402, 1402));

    // Its window is the connection's, and nothing exceeds it.
    assert_eq!(cwnd_seen, (window, window));
    assert!(most_in_flight.0 <= window, "{most_in_flight:?}");
    assert!(most_in_flight.1 <= window, "{most_in_flight:?}");
    // ... and the window was the limit: it was filled.
    assert!(most_in_flight.0 > window - 1402, "{most_in_flight:?}");

    // Its callbacks ran: every byte sent was acknowledged to it, no loss.
    for (calls, sent) in [(&calls_a, &data_a), (&calls_b, &data_b)] {
        let acks = calls.acks.load(Ordering::Relaxed);
        let acked = calls.bytes_acked.load(Ordering::Relaxed);
        assert!(acks > 0);
        assert!(acked >= sent.len() as u64, "{acked} of {}", sent.len());
        assert_eq!(calls.losses.load(Ordering::Relaxed), 0);
        assert_eq!(calls.timeouts.load(Ordering::Relaxed), 0);
    }

    // Four packets per 50 ms round trip: 300 kB take at least 2.6 s (the
    // shipped LEDBAT, its window growing, would take well under one).
    let rate = (window as f64) / 0.050;
    let least = 300_000.0 / rate;
    assert!(
        took.as_secs_f64() > 0.95 * least,
        "{took:?}, expected at least {least:.2} s"
    );
}

#[test]
fn kinds_compare_by_settings_or_by_factory() {
    let calls = Arc::<Calls>::default();
    let contexts = Arc::default();
    let a = fixed(&calls, &contexts).congestion;
    assert_eq!(a, a.clone(), "the same factory");
    let b = fixed(&calls, &contexts).congestion;
    assert_ne!(a, b, "another factory");
    assert_eq!(CongestionKind::Reno, CongestionKind::Reno);
    assert_ne!(CongestionKind::Reno, CongestionKind::default());
    assert_eq!(format!("{a:?}"), "Custom(..)");
}
