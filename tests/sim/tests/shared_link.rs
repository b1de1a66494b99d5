//! Shared bottleneck links (`Sim::share_link`) and the queue backlog (`Sim::link_backlog`).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use utp_sim::{Host, LinkBacklog, LinkConfig, Sim, Timestamp, Transmit};

/// A toy host: sends what the test queues, or a random-interval stream of
/// fixed-size datagrams; counts what it receives.
#[derive(Default)]
struct Node {
    outbox: VecDeque<(SocketAddr, usize)>,
    received: Vec<(Timestamp, SocketAddr, usize)>,
    received_bytes: u64,
    stream: Option<Stream>,
}

/// Datagrams of `size` bytes to `to`, at intervals uniform in
/// `[mean/2, 3*mean/2]` (a seeded xorshift), until `until`.
struct Stream {
    to: SocketAddr,
    size: usize,
    mean: Duration,
    next: Timestamp,
    until: Timestamp,
    rng: u64,
}

impl Stream {
    fn gap(&mut self) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let mean = self.mean.as_micros() as u64;
        Duration::from_micros(mean / 2 + self.rng % (mean + 1))
    }
}

impl Host for Node {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        self.received.push((now, from, data.len()));
        self.received_bytes += data.len() as u64;
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(s) = &mut self.stream {
            while s.next <= now && s.next < s.until {
                self.outbox.push_back((s.to, s.size));
                let gap = s.gap();
                s.next += gap;
            }
        }
    }

    fn poll_transmit(&mut self, _now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        let (to, len) = self.outbox.pop_front()?;
        buf[..len].fill(0xab);
        Some(Transmit {
            to,
            len,
            dont_fragment: true,
            source: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Timestamp> {
        self.stream
            .as_ref()
            .filter(|s| s.next < s.until)
            .map(|s| s.next)
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn t_ms(n: u64) -> Timestamp {
    Timestamp::from_millis(n)
}

/// Two senders and two receivers; `a1 -> b1` is a 1 Mbit/s bottleneck with
/// 10 ms latency and a queue of `queue` datagrams, `a2 -> b2` shares it.
fn dumbbell(seed: u64, queue: usize) -> (Sim<Node>, [SocketAddr; 4]) {
    let [a1, a2, b1, b2] = [
        addr("10.0.1.1:1000"),
        addr("10.0.1.2:1000"),
        addr("10.0.2.1:2000"),
        addr("10.0.2.2:2000"),
    ];
    let mut sim = Sim::new(seed);
    for x in [a1, a2, b1, b2] {
        sim.add_host(x, Node::default());
    }
    sim.set_link(
        a1,
        b1,
        LinkConfig {
            bandwidth: Some(1_000_000),
            queue_capacity: Some(queue),
            ..LinkConfig::with_latency(Duration::from_millis(10))
        },
    )
    .unwrap();
    sim.share_link(a2, b2, a1, b1);
    (sim, [a1, a2, b1, b2])
}

/// 1222 payload bytes + 28 header bytes = 1250 wire bytes: 10 ms at 1 Mbit/s.
const SIZE: usize = 1222;

#[test]
fn a_shared_link_queues_one_pair_behind_the_other() {
    let (mut sim, [a1, a2, b1, b2]) = dumbbell(1, 10);
    sim.host_mut(a1).outbox.push_back((b1, SIZE));
    sim.host_mut(a2).outbox.push_back((b2, SIZE));
    sim.advance_to(Timestamp::ZERO).unwrap();
    // a1's datagram is on the wire, a2's waits behind it.
    let expect = |queued, ms| LinkBacklog {
        queued,
        delay: Duration::from_millis(ms),
    };
    assert_eq!(sim.link_backlog(a1, b1), expect(1, 20));
    assert_eq!(sim.link_backlog(a2, b2), expect(1, 20));
    sim.advance_to(t_ms(5)).unwrap();
    assert_eq!(sim.link_backlog(a1, b1), expect(1, 15));
    sim.advance_to(t_ms(12)).unwrap();
    assert_eq!(sim.link_backlog(a1, b1), expect(0, 8));
    sim.advance_to(t_ms(100)).unwrap();
    assert_eq!(sim.link_backlog(a1, b1), expect(0, 0));

    // Serialised one after the other, then 10 ms of latency.
    assert_eq!(sim.host(b1).received, [(t_ms(20), a1, SIZE)]);
    assert_eq!(sim.host(b2).received, [(t_ms(30), a2, SIZE)]);
    // Counted once, on the shared link; the pair's own link never existed.
    let shared = sim.link_stats(a1, b1);
    assert_eq!((shared.sent, shared.delivered), (2, 2));
    assert_eq!(sim.link_stats(a2, b2), shared);
    assert_eq!(sim.links().count(), 1);
}

#[test]
fn queue_drops_are_counted_once_on_the_shared_link() {
    let (mut sim, [a1, a2, b1, b2]) = dumbbell(1, 1);
    sim.host_mut(a1).outbox.push_back((b1, SIZE));
    sim.host_mut(a2).outbox.extend([(b2, SIZE), (b2, SIZE)]);
    sim.advance_to(t_ms(100)).unwrap();
    // a1's is serialised, a2's first waits, its second finds the queue full.
    assert_eq!(sim.host(b1).received.len(), 1);
    assert_eq!(sim.host(b2).received.len(), 1);
    let shared = sim.link_stats(a1, b1);
    assert_eq!(shared.sent, 3);
    assert_eq!(shared.dropped.queue_full, 1);
    assert_eq!(shared.dropped.total(), 1);
    assert_eq!(sim.stats().network.dropped.queue_full, 1);
    let on_links: u64 = sim.links().map(|(_, _, s)| s.dropped.total()).sum();
    assert_eq!(on_links, 1);
}

#[test]
fn two_pairs_sharing_a_1_mbit_link_get_about_half_each() {
    let (mut sim, [a1, a2, b1, b2]) = dumbbell(7, 20);
    let secs = 20;
    for (i, (from, to)) in [(a1, b1), (a2, b2)].into_iter().enumerate() {
        // Each offers 1 Mbit/s on its own: twice the bottleneck together.
        sim.host_mut(from).stream = Some(Stream {
            to,
            size: SIZE,
            mean: Duration::from_millis(10),
            next: Timestamp::ZERO,
            until: Timestamp::from_secs(secs),
            rng: 0x9e37_79b9_7f4a_7c15 + i as u64,
        });
    }
    sim.advance_to(Timestamp::from_secs(secs + 1)).unwrap();
    let wire_bits = |n: u64| n as f64 * (SIZE as f64 + 28.0) * 8.0;
    let rate1 = wire_bits(sim.host(b1).received.len() as u64) / secs as f64;
    let rate2 = wire_bits(sim.host(b2).received.len() as u64) / secs as f64;
    assert!(
        (400_000.0..600_000.0).contains(&rate1),
        "pair 1 got {rate1} bit/s"
    );
    assert!(
        (400_000.0..600_000.0).contains(&rate2),
        "pair 2 got {rate2} bit/s"
    );
    // Together they fill the bottleneck and never exceed it.
    assert!(rate1 + rate2 > 950_000.0, "total {}", rate1 + rate2);
    assert!(rate1 + rate2 <= 1_000_000.0 * (secs as f64 + 0.2) / secs as f64);

    let shared = sim.link_stats(a1, b1);
    assert_eq!(
        shared.sent,
        shared.delivered + shared.dropped.queue_full,
        "every datagram is delivered or dropped by the queue once"
    );
    assert!(shared.dropped.queue_full > 1000);
    assert_eq!(sim.stats().network.dropped, shared.dropped);
    assert_eq!(
        shared.delivered,
        (sim.host(b1).received.len() + sim.host(b2).received.len()) as u64
    );
}

#[test]
fn shared_links_are_deterministic() {
    let run = |seed| {
        let (mut sim, [a1, a2, b1, b2]) = dumbbell(seed, 5);
        sim.set_link(
            a1,
            b1,
            LinkConfig {
                loss: 0.05,
                bandwidth: Some(1_000_000),
                queue_capacity: Some(5),
                jitter: Duration::from_millis(3),
                ..LinkConfig::with_latency(Duration::from_millis(10))
            },
        )
        .unwrap();
        for (from, to) in [(a1, b1), (a2, b2)] {
            sim.host_mut(from).stream = Some(Stream {
                to,
                size: SIZE,
                mean: Duration::from_millis(10),
                next: Timestamp::ZERO,
                until: Timestamp::from_secs(2),
                rng: 12345,
            });
        }
        sim.advance_to(Timestamp::from_secs(3)).unwrap();
        (sim.trace_hash(), sim.link_stats(a2, b2))
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3).0, run(4).0);
    assert!(run(3).1.dropped.loss > 0);
}

#[test]
fn set_link_and_partition_through_a_shared_pair_act_on_the_shared_link() {
    let (mut sim, [a1, a2, b1, b2]) = dumbbell(1, 10);
    let slow = LinkConfig::with_latency(Duration::from_millis(50));
    sim.set_link(a2, b2, slow).unwrap();
    assert_eq!(sim.link_config(a1, b1), &slow);
    sim.partition(a2, b2, Timestamp::ZERO, t_ms(1));
    assert!(sim.is_partitioned(a1, b1, Timestamp::ZERO));
    sim.heal(a1, b1);
    assert!(!sim.is_partitioned(a2, b2, Timestamp::ZERO));
}

#[test]
fn sharing_is_kept_flat_and_can_be_undone() {
    let (mut sim, [a1, a2, b1, b2]) = dumbbell(1, 10);
    let (a3, b3) = (addr("10.0.1.3:1000"), addr("10.0.2.3:2000"));
    sim.add_host(a3, Node::default());
    sim.add_host(b3, Node::default());
    sim.share_link(a3, b3, a2, b2);
    assert_eq!(sim.shared_link(a3, b3), Some((a1, b1)));
    assert_eq!(sim.shared_link(a1, b1), None);
    // Sharing one's own link undoes it.
    sim.share_link(a2, b2, a2, b2);
    assert_eq!(sim.shared_link(a2, b2), None);

    // Back on its own (default, ideal) link: no bottleneck, no latency.
    sim.unshare_link(a3, b3);
    sim.host_mut(a1).outbox.push_back((b1, SIZE));
    sim.host_mut(a3).outbox.push_back((b3, SIZE));
    sim.advance_to(t_ms(100)).unwrap();
    assert_eq!(sim.host(b3).received, [(Timestamp::ZERO, a3, SIZE)]);
    assert_eq!(sim.host(b1).received, [(t_ms(20), a1, SIZE)]);
    assert_eq!(sim.link_stats(a3, b3).sent, 1);
    assert_eq!(sim.link_stats(a1, b1).sent, 1);
}

#[test]
fn an_unlimited_or_unused_link_has_no_backlog() {
    let (mut sim, [a1, _, b1, _]) = dumbbell(1, 10);
    assert_eq!(sim.link_backlog(b1, a1), LinkBacklog::default());
    sim.host_mut(b1).outbox.push_back((a1, SIZE));
    sim.advance_to(Timestamp::ZERO).unwrap();
    assert_eq!(sim.link_backlog(b1, a1), LinkBacklog::default());
}
