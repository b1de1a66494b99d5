//! Spoofed sources and injected datagrams.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

/// Sends what it is told (from any source it likes) and answers every
/// datagram with `re:` + the datagram, to whoever it claims to be from.
#[derive(Default)]
struct Echo {
    outbox: Vec<(Option<SocketAddr>, SocketAddr, Vec<u8>)>,
    got: Vec<(SocketAddr, Vec<u8>)>,
}

impl Host for Echo {
    fn handle_datagram(&mut self, _now: Timestamp, from: SocketAddr, data: &[u8]) {
        self.got.push((from, data.to_vec()));
        if !data.starts_with(b"re:") {
            let mut reply = b"re:".to_vec();
            reply.extend_from_slice(data);
            self.outbox.push((None, from, reply));
        }
    }
    fn handle_timeout(&mut self, _now: Timestamp) {}
    fn poll_transmit(&mut self, _now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        let (source, to, data) = self.outbox.pop()?;
        buf[..data.len()].copy_from_slice(&data);
        Some(Transmit {
            source,
            ..Transmit::new(to, data.len())
        })
    }
    fn poll_timeout(&mut self) -> Option<Timestamp> {
        None
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn three() -> (Sim<Echo>, SocketAddr, SocketAddr, SocketAddr) {
    let (a, b, c) = (addr("10.0.0.1:1"), addr("10.0.0.2:1"), addr("10.0.0.3:1"));
    let mut sim = Sim::new(7);
    for x in [a, b, c] {
        sim.add_host(x, Echo::default());
    }
    sim.set_default_link(LinkConfig::with_latency(Duration::from_millis(10)))
        .unwrap();
    (sim, a, b, c)
}

#[test]
fn a_spoofed_source_is_what_the_receiver_sees_and_replies_to_nobody_are_counted() {
    let (mut sim, a, b, _) = three();
    let nobody = addr("10.9.9.9:9");
    sim.host_mut(a)
        .outbox
        .push((Some(nobody), b, b"ping".to_vec()));
    let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
    assert_eq!(sim.host(b).got, [(nobody, b"ping".to_vec())]);
    // It travelled a's link; the reply went to the spoofed address.
    assert_eq!(sim.link_stats(a, b).delivered, 1);
    assert_eq!(sim.link_stats(nobody, b).sent, 0);
    assert_eq!(sim.link_stats(b, nobody).dropped.no_such_host, 1);
    let sent = Traffic {
        datagrams: 1,
        bytes: 4,
    };
    let replied = Traffic {
        datagrams: 1,
        bytes: 7,
    };
    assert_eq!(sim.spoofed(nobody), sent);
    assert_eq!(sim.unrouted(nobody), replied);
    assert_eq!(sim.unrouted_all().collect::<Vec<_>>(), [(nobody, replied)]);
    assert_eq!(sim.spoofed_all().collect::<Vec<_>>(), [(nobody, sent)]);
    assert_eq!((sim.stats().spoofed, sim.stats().unrouted), (sent, replied));
    assert!(sent.within(&sent) && !replied.within(&sent));
    assert!(sim.spoofed(a).datagrams == 0 && sim.unrouted(b).datagrams == 0);
}

#[test]
fn spoofing_another_host_sends_the_reply_to_it_over_the_attackers_path() {
    let (mut sim, a, b, c) = three();
    sim.set_trace(TraceMode::Full);
    // The victim's own path to b is down: the forgery does not use it.
    sim.partition(c, b, Timestamp::ZERO, Timestamp::from_millis(5));
    sim.set_link(a, b, LinkConfig::with_latency(Duration::from_millis(3)))
        .unwrap();
    sim.host_mut(a).outbox.push((Some(c), b, b"x".to_vec()));
    let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
    assert_eq!(sim.host(b).got, [(c, b"x".to_vec())]);
    // c got b's answer to a question it never asked.
    assert_eq!(sim.host(c).got, [(b, b"re:x".to_vec())]);
    assert!(sim.host(a).got.is_empty());
    assert_eq!(sim.unrouted_all().len(), 0);
    let events: Vec<String> = sim.trace().map(ToString::to_string).collect();
    assert_eq!(
        events,
        [
            "0.000000s send 10.0.0.3:1 -> 10.0.0.2:1 1B (spoofed by 10.0.0.1:1)",
            "0.003000s deliver 10.0.0.3:1 -> 10.0.0.2:1 1B (spoofed by 10.0.0.1:1)",
            "0.003000s send 10.0.0.2:1 -> 10.0.0.3:1 4B",
            "0.013000s deliver 10.0.0.2:1 -> 10.0.0.3:1 4B",
        ],
        "{events:#?}"
    );
    // Partitioning the attacker's own path does stop it.
    sim.partition(a, b, sim.now(), Timestamp::MAX);
    sim.host_mut(a).outbox.push((Some(c), b, b"y".to_vec()));
    let _ = sim.run_until(Timestamp::from_secs(2), |_| false);
    assert_eq!(sim.link_stats(a, b).dropped.partition, 1);
    assert_eq!(sim.host(b).got.len(), 1);
    assert_eq!(sim.spoofed(c).datagrams, 2);
}

#[test]
fn the_test_can_inject_a_datagram_from_any_address() {
    let (mut sim, _, b, _) = three();
    let nobody = addr("[2001:db8::1]:7");
    sim.inject(nobody, b, b"hi");
    let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
    assert_eq!(sim.host(b).got, [(nobody, b"hi".to_vec())]);
    assert_eq!(sim.link_stats(nobody, b).delivered, 1);
    assert_eq!(sim.spoofed(nobody).datagrams, 1);
    assert_eq!(sim.unrouted(nobody).bytes, 5);
}

#[test]
fn spoofed_runs_replay_and_hash_apart_from_honest_ones() {
    let run = |spoof: bool| {
        let (mut sim, a, b, c) = three();
        let source = spoof.then_some(c);
        sim.host_mut(a).outbox.push((source, b, b"z".to_vec()));
        let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
        sim.trace_hash()
    };
    assert_eq!(run(true), run(true));
    assert_ne!(run(true), run(false));
    // Naming one's own address is no spoofing.
    let (mut sim, a, b, _) = three();
    sim.host_mut(a).outbox.push((Some(a), b, b"z".to_vec()));
    let _ = sim.run_until(Timestamp::from_secs(1), |_| false);
    assert_eq!(sim.stats().spoofed, Traffic::default());
    assert_eq!(sim.trace_hash(), run(false));
}
