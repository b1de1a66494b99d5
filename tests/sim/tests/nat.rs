//! NAT boxes (RFC 4787), checked exactly with toy hosts: mapping and
//! filtering behaviours, port assignment, mapping expiry and refresh,
//! hairpinning, and a first hole punch.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use utp_sim::{
    DropReason, Host, LinkConfig, MappingScope, NatBehavior, NatConfig, NatError, NatId,
    PortAssignment, Sim, Timestamp, Transmit, NAT_PORT_MIN,
};

use NatBehavior::{
    AddressAndPortDependent as Apd, AddressDependent as Ad, EndpointIndependent as Ei,
};

/// Sends what the test queues, records what it receives.
#[derive(Default)]
struct Node {
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    got: Vec<(SocketAddr, Vec<u8>)>,
}

impl Host for Node {
    fn handle_datagram(&mut self, _now: Timestamp, from: SocketAddr, data: &[u8]) {
        self.got.push((from, data.to_vec()));
    }
    fn handle_timeout(&mut self, _now: Timestamp) {}
    fn poll_transmit(&mut self, _now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        let (to, data) = self.outbox.pop_front()?;
        buf[..data.len()].copy_from_slice(&data);
        Some(Transmit::new(to, data.len()))
    }
    fn poll_timeout(&mut self) -> Option<Timestamp> {
        None
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Private hosts.
const P: &str = "10.0.0.2:5000";
const Q: &str = "10.0.0.3:5001";
/// Public servers: S1 and S1b share an IP, S2 has another.
const S1: &str = "203.0.113.10:3478";
const S1B: &str = "203.0.113.10:3479";
const S2: &str = "198.51.100.20:3478";
/// The NAT's public IP.
const NAT_IP: &str = "192.0.2.1";

const LATENCY: Duration = Duration::from_millis(10);

/// A NAT at `NAT_IP` in front of P and Q, and the three servers.
fn network(seed: u64, config: NatConfig) -> (Sim<Node>, NatId) {
    let mut sim = Sim::new(seed);
    sim.set_default_link(LinkConfig::with_latency(LATENCY))
        .unwrap();
    let nat = sim.add_nat(ip(NAT_IP), config).unwrap();
    for a in [P, Q] {
        sim.add_host(addr(a), Node::default());
        sim.place_behind_nat(nat, addr(a)).unwrap();
    }
    for s in [S1, S1B, S2] {
        sim.add_host(addr(s), Node::default());
    }
    (sim, nat)
}

fn send(sim: &mut Sim<Node>, from: &str, to: SocketAddr, msg: &[u8]) {
    sim.host_mut(addr(from))
        .outbox
        .push_back((to, msg.to_vec()));
}

/// Lets everything in flight arrive.
fn settle(sim: &mut Sim<Node>) {
    sim.advance(Duration::from_millis(100)).unwrap();
}

/// The addresses `host` received datagrams from, in order.
fn sources(sim: &Sim<Node>, host: &str) -> Vec<SocketAddr> {
    sim.host(addr(host)).got.iter().map(|(f, _)| *f).collect()
}

fn take(sim: &mut Sim<Node>, host: &str) -> Vec<(SocketAddr, Vec<u8>)> {
    core::mem::take(&mut sim.host_mut(addr(host)).got)
}

const BEHAVIORS: [NatBehavior; 3] = [Ei, Ad, Apd];

/// Which external ports P uses toward S1, S1b (same IP) and S2 (another
/// IP): RFC 4787 section 4.1, for every filtering behaviour and both port
/// assignments.
#[test]
fn the_mapping_behaviour_decides_which_external_ports_a_private_endpoint_uses() {
    for mapping in BEHAVIORS {
        for filtering in BEHAVIORS {
            for ports in [PortAssignment::Preserve, PortAssignment::Random] {
                let (mut sim, nat) = network(3, NatConfig::new(mapping, filtering, ports));
                for (i, s) in [S1, S1B, S2, S1, S2].into_iter().enumerate() {
                    send(&mut sim, P, addr(s), &[i as u8]);
                    settle(&mut sim);
                }
                let seen: Vec<SocketAddr> = [S1, S1B, S2, S1, S2]
                    .iter()
                    .zip([0, 0, 0, 1, 1])
                    .map(|(s, n)| sources(&sim, s)[n])
                    .collect();
                let what = format!("{mapping:?}/{filtering:?}/{ports:?}: {seen:?}");
                assert!(seen.iter().all(|a| a.ip() == ip(NAT_IP)), "{what}");
                let [to_s1, to_s1b, to_s2, again_s1, again_s2] = seen[..] else {
                    panic!("five sources: {what}")
                };
                // A mapping, once made, is reused for the same destination.
                assert_eq!((again_s1, again_s2), (to_s1, to_s2), "{what}");
                let distinct = match mapping {
                    Ei => {
                        assert!(to_s1 == to_s1b && to_s1 == to_s2, "{what}");
                        1
                    }
                    Ad => {
                        assert!(to_s1 == to_s1b && to_s1 != to_s2, "{what}");
                        2
                    }
                    Apd => {
                        assert!(
                            to_s1 != to_s1b && to_s1 != to_s2 && to_s1b != to_s2,
                            "{what}"
                        );
                        3
                    }
                };
                match ports {
                    // The first mapping keeps the private port; later ones
                    // cannot (it is taken) and get random ones.
                    PortAssignment::Preserve => assert_eq!(to_s1.port(), 5000, "{what}"),
                    PortAssignment::Random => {
                        assert!(seen.iter().all(|a| a.port() != 5000), "{what}");
                    }
                }
                assert!(seen
                    .iter()
                    .all(|a| a.port() >= NAT_PORT_MIN || a.port() == 5000));
                let stats = sim.nat_stats(nat);
                assert_eq!(stats.mappings_created, distinct, "{what}");
                assert_eq!(stats.outbound, 5, "{what}");
                let mappings = sim.nat_mappings(nat);
                assert_eq!(mappings.len() as u64, distinct, "{what}");
                assert!(mappings.iter().all(|m| m.private == addr(P)), "{what}");
                let scope = match mapping {
                    Ei => MappingScope::Any,
                    Ad => MappingScope::Address(ip("203.0.113.10")),
                    Apd => MappingScope::Endpoint(addr(S1)),
                };
                let m1 = mappings.iter().find(|m| m.public == to_s1).unwrap();
                assert_eq!(m1.scope, scope, "{what}");
            }
        }
    }
}

/// Which inbound datagrams pass a mapping P opened toward S1 only:
/// RFC 4787 section 5, for every mapping behaviour.
#[test]
fn the_filtering_behaviour_decides_which_remote_endpoints_get_through() {
    for mapping in BEHAVIORS {
        for filtering in BEHAVIORS {
            let config = NatConfig::new(mapping, filtering, PortAssignment::Preserve);
            let (mut sim, nat) = network(5, config);
            send(&mut sim, P, addr(S1), b"out");
            settle(&mut sim);
            let m = sources(&sim, S1)[0];
            assert_eq!(m, addr("192.0.2.1:5000"));
            for s in [S1, S1B, S2] {
                send(&mut sim, s, m, s.as_bytes());
            }
            settle(&mut sim);
            let passed: Vec<SocketAddr> = take(&mut sim, P).into_iter().map(|(f, _)| f).collect();
            let expected: Vec<SocketAddr> = match filtering {
                Ei => vec![addr(S1), addr(S1B), addr(S2)],
                Ad => vec![addr(S1), addr(S1B)],
                Apd => vec![addr(S1)],
            };
            let what = format!("{mapping:?}/{filtering:?}");
            // Inbound datagrams keep their real source.
            assert_eq!(passed, expected, "{what}");
            let stats = sim.nat_stats(nat);
            assert_eq!(stats.inbound, expected.len() as u64, "{what}");
            assert_eq!(stats.inbound_filtered, 3 - expected.len() as u64, "{what}");
            assert_eq!(stats.inbound_unmapped, 0, "{what}");
            assert_eq!(sim.stats().network.dropped.nat, 3 - expected.len() as u64);
            // A port without a mapping lets nothing in, whatever the filter.
            send(&mut sim, S1, addr("192.0.2.1:5001"), b"x");
            settle(&mut sim);
            assert_eq!(sim.nat_stats(nat).inbound_unmapped, 1, "{what}");
            assert!(sim.host(addr(Q)).got.is_empty());
            // Once P has sent to S2, S2 gets in through that mapping, under
            // every filter (with endpoint-independent mapping: the same one).
            send(&mut sim, P, addr(S2), b"out2");
            settle(&mut sim);
            let m2 = sources(&sim, S2)[0];
            assert_eq!(m2 == m, mapping == Ei, "{what}");
            send(&mut sim, S2, m2, b"in2");
            settle(&mut sim);
            assert_eq!(take(&mut sim, P), [(addr(S2), b"in2".to_vec())], "{what}");
        }
    }
}

#[test]
fn a_mapping_expires_after_its_timeout_unless_outbound_traffic_refreshes_it() {
    for ports in [PortAssignment::Preserve, PortAssignment::Random] {
        let config = NatConfig {
            mapping_timeout: Duration::from_secs(30),
            ..NatConfig::new(Ei, Ei, ports)
        };
        let (mut sim, nat) = network(9, config);
        send(&mut sim, P, addr(S1), b"a");
        settle(&mut sim);
        let m = sources(&sim, S1)[0];
        assert_eq!(sim.nat_mappings(nat)[0].expires, Timestamp::from_secs(30));
        // At 20 s P refreshes it: it now lives until 50 s.
        sim.advance_to(Timestamp::from_secs(20)).unwrap();
        send(&mut sim, P, addr(S2), b"b");
        settle(&mut sim);
        assert_eq!(sources(&sim, S2), [m]);
        assert_eq!(sim.nat_mappings(nat)[0].expires, Timestamp::from_secs(50));
        // Inbound traffic does not refresh it (RFC 4787 REQ-6 leaves it
        // optional; off by default).
        sim.advance_to(Timestamp::from_secs(45)).unwrap();
        send(&mut sim, S1, m, b"at 45s");
        settle(&mut sim);
        assert_eq!(take(&mut sim, P), [(addr(S1), b"at 45s".to_vec())]);
        assert_eq!(sim.nat_mappings(nat)[0].expires, Timestamp::from_secs(50));
        // Sent 10 ms before the end, it arrives exactly at 50 s: too late.
        sim.advance_to(Timestamp::from_millis(49_990)).unwrap();
        send(&mut sim, S1, m, b"at 50s");
        settle(&mut sim);
        assert!(sim.host(addr(P)).got.is_empty());
        let stats = sim.nat_stats(nat);
        assert_eq!(
            (
                stats.mappings_created,
                stats.mappings_expired,
                stats.inbound_unmapped
            ),
            (1, 1, 1)
        );
        assert!(sim.nat_mappings(nat).is_empty());
        // P's next datagram makes a new mapping: the same port when
        // preserved, another one when random.
        send(&mut sim, P, addr(S1), b"c");
        settle(&mut sim);
        let m_new = sources(&sim, S1)[1];
        assert_eq!(m_new == m, ports == PortAssignment::Preserve, "{ports:?}");
        assert_eq!(sim.nat_stats(nat).mappings_created, 2);
    }
}

#[test]
fn expiry_is_counted_even_when_nothing_looks_at_the_nat_and_inbound_refresh_is_optional() {
    let config = NatConfig {
        mapping_timeout: Duration::from_secs(30),
        inbound_refresh: true,
        ..NatConfig::full_cone()
    };
    let (mut sim, nat) = network(9, config);
    send(&mut sim, P, addr(S1), b"a");
    settle(&mut sim);
    let m = sources(&sim, S1)[0];
    // Inbound refreshes now: S1 keeps it alive every 20 s.
    for t in [20, 40, 60] {
        sim.advance_to(Timestamp::from_secs(t)).unwrap();
        send(&mut sim, S1, m, b"keepalive");
        settle(&mut sim);
    }
    assert_eq!(take(&mut sim, P).len(), 3);
    assert_eq!(sim.nat_stats(nat).mappings_expired, 0);
    sim.advance_to(Timestamp::from_secs(91)).unwrap();
    assert_eq!(sim.nat_stats(nat).mappings_expired, 1);
    assert!(sim.nat_mappings(nat).is_empty());
}

#[test]
fn hairpinning_loops_a_datagram_to_the_public_address_back_with_the_senders_mapping() {
    for hairpinning in [true, false] {
        let config = NatConfig {
            hairpinning,
            ..NatConfig::full_cone()
        };
        let (mut sim, nat) = network(11, config);
        // Q opens a mapping (learnt from a server, as STUN would tell it).
        send(&mut sim, Q, addr(S1), b"q");
        settle(&mut sim);
        let mq = sources(&sim, S1)[0];
        assert_eq!(mq, addr("192.0.2.1:5001"));
        send(&mut sim, P, mq, b"hairpin");
        settle(&mut sim);
        let stats = sim.nat_stats(nat);
        if hairpinning {
            // It arrives from P's external address, not its private one.
            assert_eq!(
                take(&mut sim, Q),
                [(addr("192.0.2.1:5000"), b"hairpin".to_vec())]
            );
            assert_eq!((stats.hairpinned, stats.hairpin_dropped), (1, 0));
            assert_eq!(stats.mappings_created, 2);
        } else {
            assert!(sim.host(addr(Q)).got.is_empty());
            assert_eq!((stats.hairpinned, stats.hairpin_dropped), (0, 1));
            assert_eq!(stats.mappings_created, 1);
            assert_eq!(sim.link_stats(addr(P), mq).dropped.get(DropReason::Nat), 1);
        }
        // On the LAN, P reaches Q directly, untranslated.
        send(&mut sim, P, addr(Q), b"lan");
        settle(&mut sim);
        assert_eq!(take(&mut sim, Q), [(addr(P), b"lan".to_vec())]);
        // From outside, a private address is unreachable.
        send(&mut sim, S2, addr(Q), b"direct");
        settle(&mut sim);
        assert!(sim.host(addr(Q)).got.is_empty());
        assert_eq!(sim.nat_stats(nat).private_unreachable, 1);
    }
}

#[test]
fn random_ports_follow_the_seed() {
    let ports = |seed: u64| {
        let (mut sim, nat) = network(seed, NatConfig::symmetric());
        for s in [S1, S1B, S2] {
            send(&mut sim, P, addr(s), b"x");
        }
        settle(&mut sim);
        let ports: Vec<u16> = sim
            .nat_mappings(nat)
            .iter()
            .map(|m| m.public.port())
            .collect();
        (ports, sim.trace_hash())
    };
    assert_eq!(ports(1), ports(1));
    assert_ne!(ports(1).0, ports(2).0);
    assert_eq!(ports(1).0.len(), 3);
}

#[test]
fn bad_nat_setups_are_refused() {
    let (mut sim, nat) = network(1, NatConfig::default());
    assert_eq!(
        sim.add_nat(ip(NAT_IP), NatConfig::default()),
        Err(NatError::PublicIpInUse(ip(NAT_IP)))
    );
    let zero = NatConfig {
        mapping_timeout: Duration::ZERO,
        ..NatConfig::default()
    };
    assert_eq!(
        sim.add_nat(ip("192.0.2.9"), zero),
        Err(NatError::ZeroTimeout)
    );
    assert_eq!(
        sim.place_behind_nat(nat, addr(P)),
        Err(NatError::AlreadyBehind(addr(P)))
    );
    assert_eq!(
        sim.place_behind_nat(nat, addr("192.0.2.1:80")),
        Err(NatError::PublicAddress(addr("192.0.2.1:80")))
    );
    assert_eq!(sim.nat_of(addr(P)), Some(nat));
    assert_eq!(sim.nat_of(addr(S1)), None);
    assert_eq!(sim.nat_public_ip(nat), Some(ip(NAT_IP)));
}

// ---- hole punching ---------------------------------------------------------

/// A behind NAT 192.0.2.1, B behind NAT 198.51.100.1, a rendezvous server R.
/// Both register with R, learn each other's public mapping from what R saw,
/// then punch: A at 1 s, B at 1.05 s, each sending five punches 100 ms apart.
/// Returns (what A got from B, what B got from A, and the two NATs' stats).
fn hole_punch(config_a: NatConfig, config_b: NatConfig) -> (usize, usize, [utp_sim::NatStats; 2]) {
    let (a, b, r) = ("10.0.0.2:6881", "10.1.0.2:6881", "203.0.113.1:7000");
    let mut sim = Sim::new(17);
    sim.set_default_link(LinkConfig::with_latency(Duration::from_millis(20)))
        .unwrap();
    let na = sim.add_nat(ip("192.0.2.1"), config_a).unwrap();
    let nb = sim.add_nat(ip("198.51.100.1"), config_b).unwrap();
    for (h, n) in [(a, Some(na)), (b, Some(nb)), (r, None)] {
        sim.add_host(addr(h), Node::default());
        if let Some(n) = n {
            sim.place_behind_nat(n, addr(h)).unwrap();
        }
    }
    send(&mut sim, a, addr(r), b"register");
    send(&mut sim, b, addr(r), b"register");
    settle(&mut sim);
    let [ma, mb] = sources(&sim, r)[..] else {
        panic!("both register")
    };
    for i in 0..5u64 {
        sim.advance_to(Timestamp::from_millis(1000 + 100 * i))
            .unwrap();
        send(&mut sim, a, mb, b"punch from a");
        sim.advance_to(Timestamp::from_millis(1050 + 100 * i))
            .unwrap();
        send(&mut sim, b, ma, b"punch from b");
    }
    sim.advance(Duration::from_secs(1)).unwrap();
    let from_b = sim
        .host(addr(a))
        .got
        .iter()
        .filter(|(f, _)| *f == mb)
        .count();
    let from_a = sim
        .host(addr(b))
        .got
        .iter()
        .filter(|(f, _)| *f == ma)
        .count();
    (from_b, from_a, [sim.nat_stats(na), sim.nat_stats(nb)])
}

#[test]
fn hole_punching_works_between_endpoint_independent_mappings() {
    for config in [
        NatConfig::port_restricted_cone(),
        NatConfig::restricted_cone(),
        NatConfig::full_cone(),
        // Random ports do not matter while the mapping is endpoint-independent.
        NatConfig::new(Ei, Apd, PortAssignment::Random),
    ] {
        let (from_b, from_a, [sa, sb]) = hole_punch(config, config);
        // B's punches all pass: A's first punch (1 s) opened A's filter.
        assert_eq!(from_b, 5, "{config:?}");
        if config.filtering == Ei {
            assert_eq!((from_a, sb.inbound_filtered), (5, 0), "{config:?}");
        } else {
            // A's first punch reaches B's NAT before B punched: filtered.
            assert_eq!((from_a, sb.inbound_filtered), (4, 1), "{config:?}");
        }
        assert_eq!((sa.mappings_created, sb.mappings_created), (1, 1));
        assert_eq!(sa.inbound_filtered, 0);
    }
}

#[test]
fn hole_punching_fails_between_symmetric_nats_with_random_ports() {
    let (from_b, from_a, [sa, sb]) = hole_punch(NatConfig::symmetric(), NatConfig::symmetric());
    assert_eq!((from_b, from_a), (0, 0));
    // Each punch left through a new mapping toward the peer's R-mapping and
    // reached the peer's R-mapping, whose filter knows only R.
    for s in [sa, sb] {
        assert_eq!(s.mappings_created, 2);
        assert_eq!(s.inbound_filtered, 5);
        assert_eq!(s.inbound, 0);
    }
    // Symmetric (A) to port-restricted (B) fails too: A's punches leave
    // from a new mapping B never sent to, and B's punches reach A's
    // R-mapping, which knows only R.
    let (from_b, from_a, [sa, sb]) =
        hole_punch(NatConfig::symmetric(), NatConfig::port_restricted_cone());
    assert_eq!((from_b, from_a), (0, 0));
    assert_eq!((sa.inbound_filtered, sb.inbound_filtered), (5, 5));
    assert_eq!((sa.mappings_created, sb.mappings_created), (2, 1));
}
