//! Rendezvous through simulated NATs, every pair of NAT types: A behind
//! one NAT and B behind another register with a server R, learn each
//! other's public address from what R saw, and connect by rendezvous
//! (neither listens). RFC 4787's prediction: the punched path is the one
//! each learnt only if both NATs map endpoint-independently (the port R
//! saw is the port the peer sees); any address-dependent mapping gives
//! the peer another port, and the rendezvous times out. The test prints
//! the table (`--nocapture`) and checks every cell against the
//! prediction, that a connection moves data both ways, that a failure
//! ends in `TimedOut(Connect)` on both sides, and that no case leaves two
//! live connections.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use utp_core::{CloseReason, Config, ConnHandle, Endpoint, Event, Timer, Timestamp};
use utp_sim::{Host, LinkConfig, NatBehavior, NatConfig, PortAssignment, Sim, Transmit};

/// A uTP endpoint that can also send raw datagrams (its registration), or
/// the server that records who registered.
enum Node {
    Peer {
        ep: Box<Endpoint>,
        raw: VecDeque<(SocketAddr, Vec<u8>)>,
    },
    Server {
        seen: Vec<SocketAddr>,
    },
}

impl Host for Node {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        match self {
            Node::Peer { ep, .. } => ep.handle_datagram(now, from, data),
            Node::Server { seen } => seen.push(from),
        }
    }
    fn handle_timeout(&mut self, now: Timestamp) {
        if let Node::Peer { ep, .. } = self {
            ep.handle_timeout(now);
        }
    }
    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        let Node::Peer { ep, raw } = self else {
            return None;
        };
        if let Some((to, data)) = raw.pop_front() {
            buf[..data.len()].copy_from_slice(&data);
            return Some(Transmit::new(to, data.len()));
        }
        // The simulator's `Host` for endpoints.
        ep.poll_transmit(now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Timestamp> {
        match self {
            Node::Peer { ep, .. } => ep.poll_timeout(),
            Node::Server { .. } => None,
        }
    }
}

fn ep(sim: &mut Sim<Node>, at: SocketAddr) -> &mut Endpoint {
    match sim.host_mut(at) {
        Node::Peer { ep, .. } => ep,
        Node::Server { .. } => panic!("not a peer"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Connected, data both ways, after this long.
    Connected(Duration),
    /// Both sides' rendezvous timed out.
    TimedOut,
}

const A: &str = "10.0.0.2:6881";
const B: &str = "10.1.0.2:6881";
const R: &str = "203.0.113.1:7000";

/// A behind NAT `a_nat`, B behind `b_nat`, both registered with R: the
/// simulator, and the public addresses R saw (A's, B's).
fn setup(
    a_nat: NatConfig,
    b_nat: NatConfig,
    seed: u64,
    config: &Config,
) -> (
    Sim<Node>,
    utp_sim::NatId,
    utp_sim::NatId,
    SocketAddr,
    SocketAddr,
) {
    let (a, b, r): (SocketAddr, SocketAddr, SocketAddr) =
        (A.parse().unwrap(), B.parse().unwrap(), R.parse().unwrap());
    let mut sim: Sim<Node> = Sim::new(seed);
    sim.set_default_link(LinkConfig::with_latency(Duration::from_millis(20)))
        .unwrap();
    let na = sim.add_nat("192.0.2.1".parse().unwrap(), a_nat).unwrap();
    let nb = sim.add_nat("198.51.100.1".parse().unwrap(), b_nat).unwrap();
    for (addr, nat, s) in [(a, na, 1), (b, nb, 2)] {
        let raw = VecDeque::from([(r, b"register".to_vec())]);
        let node = Node::Peer {
            ep: Box::new(Endpoint::new(config.clone(), seed ^ s)),
            raw,
        };
        sim.add_host(addr, node);
        sim.place_behind_nat(nat, addr).unwrap();
    }
    sim.add_host(r, Node::Server { seen: Vec::new() });
    sim.advance(Duration::from_millis(500)).unwrap();
    let Node::Server { seen } = sim.host(r) else {
        panic!("R is the server")
    };
    let public = |nat_ip: &str| *seen.iter().find(|s| s.ip().to_string() == nat_ip).unwrap();
    let (ma, mb) = (public("192.0.2.1"), public("198.51.100.1"));
    (sim, na, nb, ma, mb)
}

fn punch(a_nat: NatConfig, b_nat: NatConfig, seed: u64) -> Outcome {
    let (a, b): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
    let mut config = Config::default();
    config.rendezvous_timeout = Duration::from_secs(5);
    let (mut sim, _, _, ma, mb) = setup(a_nat, b_nat, seed, &config);
    // Both are told at once; B acts 30 ms later.
    let t0 = sim.now();
    let ha = ep(&mut sim, a).connect_rendezvous(t0, mb).unwrap();
    sim.advance(Duration::from_millis(30)).unwrap();
    let t1 = sim.now();
    let hb = ep(&mut sim, b).connect_rendezvous(t1, ma).unwrap();
    sim.wake_all();
    // Data both ways once connected, B first.
    let (msg_a, msg_b) = (vec![0xa5u8; 20_000], vec![0x5au8; 30_000]);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let (mut sent_a, mut sent_b) = (false, false);
    let (mut up_a, mut up_b) = (None, None);
    let mut ended: Vec<(char, CloseReason)> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = t0 + Duration::from_secs(20);
    while sim.now() < deadline {
        for (side, addr, h, up, sent, msg, got) in [
            ('a', a, ha, &mut up_a, &mut sent_a, &msg_a, &mut got_a),
            ('b', b, hb, &mut up_b, &mut sent_b, &msg_b, &mut got_b),
        ] {
            let now = sim.now();
            let e = ep(&mut sim, addr);
            while let Some(ev) = e.poll_event() {
                match ev {
                    Event::Connected(x) if x == h => *up = Some(now),
                    Event::Closed(x, reason) if x == h => ended.push((side, reason)),
                    _ => {}
                }
            }
            if up.is_some() && !*sent && (side == 'b' || !got.is_empty()) {
                let mut c = e.conn(h).unwrap();
                assert_eq!(c.write(msg).unwrap(), msg.len());
                c.shutdown();
                *sent = true;
            }
            if let Some(mut c) = e.conn(h) {
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            }
        }
        if got_a.len() == msg_b.len() && got_b.len() == msg_a.len() || ended.len() == 2 {
            break;
        }
        sim.advance(Duration::from_millis(5)).unwrap();
    }
    // Never two live connections between them.
    for addr in [a, b] {
        assert!(
            ep(&mut sim, addr).connection_count() <= 1,
            "{a_nat:?} / {b_nat:?}"
        );
    }
    if got_a == msg_b && got_b == msg_a {
        let up = up_a.unwrap().max(up_b.unwrap());
        return Outcome::Connected(up.saturating_duration_since(t0));
    }
    let timed_out = (
        CloseReason::TimedOut(Timer::Connect),
        CloseReason::TimedOut(Timer::Connect),
    );
    let reasons: Vec<CloseReason> = ended.iter().map(|e| e.1).collect();
    assert_eq!(reasons.len(), 2, "{a_nat:?} / {b_nat:?}: {ended:?}");
    assert_eq!((reasons[0], reasons[1]), timed_out, "{a_nat:?} / {b_nat:?}");
    assert!(up_a.is_none() && up_b.is_none(), "no half connection");
    let _: (ConnHandle, ConnHandle) = (ha, hb);
    Outcome::TimedOut
}

fn name(c: &NatConfig) -> String {
    let short = |b: NatBehavior| match b {
        NatBehavior::EndpointIndependent => "EI",
        NatBehavior::AddressDependent => "AD",
        NatBehavior::AddressAndPortDependent => "APD",
    };
    let ports = match c.ports {
        PortAssignment::Preserve => "pp",
        PortAssignment::Random => "rnd",
    };
    format!("{}m/{}f/{ports}", short(c.mapping), short(c.filtering))
}

#[test]
fn rendezvous_between_every_pair_of_nat_types() {
    use NatBehavior::*;
    let kinds = [
        EndpointIndependent,
        AddressDependent,
        AddressAndPortDependent,
    ];
    let mut nats = Vec::new();
    for mapping in kinds {
        for filtering in kinds {
            for ports in [PortAssignment::Preserve, PortAssignment::Random] {
                nats.push(NatConfig::new(mapping, filtering, ports));
            }
        }
    }
    let mut connected = 0;
    let mut failed = 0;
    let mut slowest = Duration::ZERO;
    for a_nat in &nats {
        let mut row = format!("{:>12} |", name(a_nat));
        for b_nat in &nats {
            let predicted =
                a_nat.mapping == EndpointIndependent && b_nat.mapping == EndpointIndependent;
            for seed in [1, 2] {
                let outcome = punch(*a_nat, *b_nat, seed);
                match outcome {
                    Outcome::Connected(took) => {
                        assert!(predicted, "{} / {}: connected", name(a_nat), name(b_nat));
                        slowest = slowest.max(took);
                        connected += 1;
                        if seed == 1 {
                            row += &format!(" {:>4}", took.as_millis());
                        }
                    }
                    Outcome::TimedOut => {
                        assert!(!predicted, "{} / {}: timed out", name(a_nat), name(b_nat));
                        failed += 1;
                        if seed == 1 {
                            row += "    -";
                        }
                    }
                }
            }
        }
        println!("{row}");
    }
    println!(
        "rendezvous through NATs: {connected} connected (slowest {slowest:?} after the first \
         SYN), {failed} timed out as RFC 4787 predicts"
    );
    assert_eq!(connected, 2 * 6 * 6);
    assert_eq!(failed, 2 * (18 * 18 - 36));
}

/// Keepalives every 15 s hold NAT mappings that expire after 30 s quiet:
/// data still flows after 90 s idle. Without keepalives the mappings
/// expire, and the writer hears of it: its connection ends
/// `TimedOut(MappingExpired)`.
#[test]
fn keepalives_hold_nat_mappings_and_their_loss_is_reported() {
    let (a, b): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
    for keepalives in [true, false] {
        let nat = NatConfig {
            mapping_timeout: Duration::from_secs(30),
            ..NatConfig::port_restricted_cone()
        };
        let (mut sim, na, nb, ma, mb) = setup(nat, nat, 1, &Config::default());
        let now = sim.now();
        let ha = ep(&mut sim, a).connect_rendezvous(now, mb).unwrap();
        let hb = ep(&mut sim, b).connect_rendezvous(now, ma).unwrap();
        sim.wake_all();
        sim.advance(Duration::from_secs(2)).unwrap();
        let events = |sim: &mut Sim<Node>, at| -> Vec<Event> {
            std::iter::from_fn(|| ep(sim, at).poll_event()).collect()
        };
        assert!(events(&mut sim, a).contains(&Event::Connected(ha)));
        assert!(events(&mut sim, b).contains(&Event::Connected(hb)));
        if !keepalives {
            ep(&mut sim, a).conn(ha).unwrap().set_keepalive(None);
            ep(&mut sim, b).conn(hb).unwrap().set_keepalive(None);
            sim.wake_all();
        }
        sim.advance(Duration::from_secs(90)).unwrap();
        let expired = sim.nat_stats(na).mappings_expired + sim.nat_stats(nb).mappings_expired;
        let data = vec![7u8; 10_000];
        let now = sim.now();
        assert_eq!(
            ep(&mut sim, a).conn(ha).unwrap().write(&data).unwrap(),
            data.len()
        );
        ep(&mut sim, a).set_now(now);
        sim.wake_all();
        // Five backed-off retransmissions, then the sixth timeout gives up
        // (the RTO starts at 1 s here: no RTT sample came before).
        sim.advance(Duration::from_secs(70)).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = ep(&mut sim, b).conn(hb).unwrap().read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let a_events = events(&mut sim, a);
        if keepalives {
            assert_eq!(expired, 0, "no mapping expired");
            assert!(got == data, "delivered after 90 s idle");
            assert!(
                !a_events.iter().any(|e| matches!(e, Event::Closed(..))),
                "{a_events:?}"
            );
        } else {
            assert!(expired >= 2, "both mappings expired ({expired})");
            assert!(got.is_empty(), "nothing got through");
            assert!(
                a_events.contains(&Event::Closed(
                    ha,
                    CloseReason::TimedOut(Timer::MappingExpired)
                )),
                "{a_events:?}"
            );
        }
    }
}
