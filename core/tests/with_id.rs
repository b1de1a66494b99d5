//! Connections with ids agreed out of band over a carrier that is not UDP,
//! as the Portal Network runs uTP: peers are node ids, packets at most
//! 1,024 bytes, `connect_with_id` on one side and `accept_with_id` on the
//! other, either side writing first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::{pattern, two_way_with, Fate, Pair};
use utp_core::wire::PacketType;
use utp_core::{
    AcceptDecision, CloseReason, Config, ConnectError, Event, ListenConfig, Peer, Timer,
};

/// A node of an overlay network whose messages carry 1,024 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Node(u8);

impl Peer for Node {
    fn max_packet_size(&self) -> Option<usize> {
        Some(1024)
    }
}

const ID: u16 = 0xfffe;

fn pair() -> Pair<Node> {
    Pair::with_peers(Config::default(), Config::default(), Node(1), Node(2))
}

/// B expects A with `ID`, A connects with it; data both ways, `a_first`
/// or the acceptor first. Checks the bytes, the ids on the wire and the
/// packet sizes.
fn transfer(a_first: bool, drop_first_state: bool) {
    let mut p = pair();
    if drop_first_state {
        let mut dropped = false;
        p.filter = Box::new(move |w| {
            if w.from == Node(2) && w.ty() == PacketType::State && !dropped {
                dropped = true;
                return Fate::Drop;
            }
            Fate::Deliver
        });
    }
    let hb =
        p.b.accept_with_id(p.now, Node(1), ID, Duration::from_secs(10))
            .unwrap();
    let ha = p.a.connect_with_id(p.now, Node(2), ID).unwrap();
    let (data_a, data_b) = (pattern(150_000, 1), pattern(300_000, 2));
    let r = two_way_with(
        &mut p,
        (Some(ha), Some(hb)),
        &data_a,
        &data_b,
        a_first,
        Duration::from_secs(60),
        1_000_000,
        |_, _| {},
    );
    assert!(r.a_eof && r.b_eof, "both read to the end");
    assert!(r.to_b == data_a, "A's bytes reach B intact");
    assert!(r.to_a == data_b, "B's bytes reach A intact");
    assert!(p.events_b.contains(&Event::Connected(hb)));
    assert!(!p.events_b.contains(&Event::Incoming), "no accept needed");
    let syn = p.log.iter().find(|w| w.ty() == PacketType::Syn).unwrap();
    assert_eq!(
        syn.packet().connection_id,
        ID,
        "the SYN carries the agreed id"
    );
    for w in &p.log {
        assert!(
            w.bytes.len() <= 1024,
            "{} bytes over a 1,024-byte carrier",
            w.bytes.len()
        );
        let id = w.packet().connection_id;
        match (w.from, w.ty()) {
            (_, PacketType::Syn) => {}
            // A sends on ID + 1, B on ID.
            (Node(1), _) => assert_eq!(id, ID.wrapping_add(1)),
            _ => assert_eq!(id, ID),
        }
    }
    let full = p
        .log
        .iter()
        .filter(|w| w.ty() == PacketType::Data && w.bytes.len() == 1024)
        .count();
    assert!(full > 100, "full packets are the carrier's size ({full})");
}

#[test]
fn initiator_writes_first() {
    transfer(true, false);
}

#[test]
fn acceptor_writes_first() {
    transfer(false, false);
}

#[test]
fn acceptor_first_with_its_state_lost() {
    transfer(false, true);
}

#[test]
fn the_expected_acceptor_sends_at_once_without_proof() {
    let mut p = pair();
    let hb =
        p.b.accept_with_id(p.now, Node(1), ID, Duration::from_secs(10))
            .unwrap();
    p.b.conn(hb).unwrap().write(&pattern(10_000, 3)).unwrap();
    p.flush();
    assert!(p.log.is_empty(), "nothing goes before the SYN");
    p.a.connect_with_id(p.now, Node(2), ID).unwrap();
    // The SYN arrives; B answers STATE and its data in the same instant,
    // before any further packet from A.
    p.run_until(p.now + p.latency);
    let from_b: Vec<PacketType> = p
        .log
        .iter()
        .filter(|w| w.from == Node(2))
        .map(|w| w.ty())
        .collect();
    assert_eq!(from_b.first(), Some(&PacketType::State));
    assert!(
        from_b.len() > 2 && from_b[1..].iter().all(|t| *t == PacketType::Data),
        "{from_b:?}"
    );
}

#[test]
fn an_expected_connection_that_never_comes_times_out() {
    let mut p = pair();
    let hb =
        p.b.accept_with_id(p.now, Node(1), ID, Duration::from_secs(3))
            .unwrap();
    p.b.conn(hb).unwrap().write(b"never sent").unwrap();
    p.run_until(p.now + Duration::from_millis(2_999));
    assert!(p.events_b.is_empty());
    p.run_until(p.now + Duration::from_millis(1));
    assert_eq!(
        p.events_b,
        vec![Event::Closed(hb, CloseReason::TimedOut(Timer::Connect))]
    );
    assert!(p.log.is_empty(), "nothing was sent");
}

#[test]
fn the_expected_syn_bypasses_the_listener_and_the_filter_sees_ids() {
    let mut p = pair();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    p.b.listen(ListenConfig::with_syn_filter(move |syn| {
        log.lock().unwrap().push((*syn.peer, syn.connection_id));
        AcceptDecision::Refuse
    }));
    let hb =
        p.b.accept_with_id(p.now, Node(1), ID, Duration::from_secs(10))
            .unwrap();
    let ha = p.a.connect_with_id(p.now, Node(2), ID).unwrap();
    let other = p.a.connect(p.now, Node(2)).unwrap();
    p.run_until(p.now + Duration::from_secs(1));
    assert!(p.events_a.contains(&Event::Connected(ha)));
    assert!(p.events_b.contains(&Event::Connected(hb)));
    assert!(p
        .events_a
        .contains(&Event::Closed(other, CloseReason::Refused)));
    let other_syn = p
        .log
        .iter()
        .filter(|w| w.ty() == PacketType::Syn)
        .map(|w| w.packet().connection_id)
        .find(|&id| id != ID)
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![(Node(1), other_syn)]);
}

#[test]
fn ids_in_use_are_refused() {
    let mut p = pair();
    let now = p.now;
    p.a.connect_with_id(now, Node(2), 100).unwrap();
    for id in [99, 100, 101] {
        assert_eq!(
            p.a.connect_with_id(now, Node(2), id),
            Err(ConnectError::IdInUse)
        );
    }
    // Another peer, the same id: fine.
    p.a.connect_with_id(now, Node(3), 100).unwrap();
    p.b.accept_with_id(now, Node(1), 100, Duration::from_secs(1))
        .unwrap();
    assert_eq!(
        p.b.accept_with_id(now, Node(1), 100, Duration::from_secs(1)),
        Err(ConnectError::IdInUse)
    );
}

#[test]
fn udp_peers_keep_their_sizes() {
    let c = Config::default();
    let v4: std::net::SocketAddr = "192.0.2.1:1".parse().unwrap();
    let v6: std::net::SocketAddr = "[2001:db8::1]:1".parse().unwrap();
    assert_eq!(c.packet_size_for(&v4), c.packet_size_v4);
    assert_eq!(c.packet_size_for(&v6), c.packet_size_v6);
    assert_eq!(c.packet_size_for(&Node(1)), 1024);
}

/// Regression (found building the `endpoint` fuzz target's calls with
/// agreed ids): B connects to A with id X, so B receives on X; B then
/// expects A with the same X. A's SYN carries X and is routed to B's own
/// initiator before the expected connection (which receives on X + 1)
/// is looked at, so the expected connection could never connect:
/// `accept_with_id` refuses it.
#[test]
fn an_expected_id_that_an_existing_connection_receives_on_is_refused() {
    let mut p = pair();
    let now = p.now;
    p.b.connect_with_id(now, Node(1), 500).unwrap();
    assert_eq!(
        p.b.accept_with_id(now, Node(1), 500, Duration::from_secs(1)),
        Err(ConnectError::IdInUse)
    );
    // 498 (ours 499, its SYN's 498) is free, and so is 500 with another
    // peer.
    p.b.accept_with_id(now, Node(1), 498, Duration::from_secs(1))
        .unwrap();
    p.b.accept_with_id(now, Node(3), 500, Duration::from_secs(1))
        .unwrap();
}
