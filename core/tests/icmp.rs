//! What the network reports about a remote (ICMP, read by the adapters on
//! Linux): port unreachable ends a connection attempt with `Refused` and
//! nothing else; v4-mapped peers (IPv4 through a dual-stack socket) are
//! sized as IPv4 (packet size and path MTU floor).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use utp_core::{CloseReason, Config, ConnState, Endpoint, Event, Timestamp};

#[test]
fn port_unreachable_refuses_a_connection_attempt_at_once() {
    let mut p = Pair::default_pair();
    // Nothing reaches B: as if nothing listened there.
    p.filter = Box::new(|_| Fate::Drop);
    let h = p.a.connect(p.now, addr(B)).unwrap();
    p.flush();
    assert_eq!(p.wire_from(A).len(), 1);

    p.now += Duration::from_millis(1);
    p.a.handle_unreachable(p.now, addr(B));
    p.flush();
    assert_eq!(p.events_a, vec![Event::Closed(h, CloseReason::Refused)]);
    assert_eq!(
        p.a.conn(h).unwrap().state(),
        ConnState::Closed(CloseReason::Refused)
    );
    // No RESET, no SYN again: nothing at all is sent.
    p.run_until(p.now + Duration::from_secs(5));
    assert_eq!(p.log.len(), 1);
    // A second message for the closed attempt changes nothing.
    p.a.handle_unreachable(p.now, addr(B));
    p.flush();
    assert_eq!(p.events_a, vec![Event::Closed(h, CloseReason::Refused)]);
}

#[test]
fn only_attempts_to_that_address_end() {
    let mut ep = Endpoint::new(Config::default(), 1);
    let mut now = Timestamp::from_secs(1);
    let dead = addr("10.0.0.2:2000");
    let live = addr("10.0.0.3:3000");
    let h_dead = ep.connect(now, dead).unwrap();
    let h_live = ep.connect(now, live).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut sent = Vec::new();
    while let Some(t) = ep.poll_transmit(now, &mut buf) {
        sent.push(t.destination);
    }
    assert_eq!(sent, vec![dead, live]);
    ep.handle_unreachable(now, dead);
    let mut events = Vec::new();
    while let Some(e) = ep.poll_event() {
        events.push(e);
    }
    assert_eq!(events, vec![Event::Closed(h_dead, CloseReason::Refused)]);
    assert!(ep.poll_transmit(now, &mut buf).is_none());
    assert_eq!(ep.conn(h_live).unwrap().state(), ConnState::Connecting);
    // At the SYN timeout only the live attempt sends again.
    now = ep.poll_timeout().unwrap();
    ep.handle_timeout(now);
    sent.clear();
    while let Some(t) = ep.poll_transmit(now, &mut buf) {
        sent.push(t.destination);
    }
    assert_eq!(sent, vec![live]);
}

#[test]
fn port_unreachable_for_another_port_is_ignored() {
    let mut p = Pair::default_pair();
    p.filter = Box::new(|_| Fate::Drop);
    let h = p.a.connect(p.now, addr(B)).unwrap();
    p.flush();
    p.a.handle_unreachable(p.now, addr("10.0.0.2:2001"));
    p.flush();
    assert!(p.events_a.is_empty());
    assert_eq!(p.a.conn(h).unwrap().state(), ConnState::Connecting);
}

#[test]
fn established_connections_ignore_port_unreachable() {
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    let events_a = p.events_a.len();
    let events_b = p.events_b.len();
    // One message to each side (forged, or a transient).
    p.a.handle_unreachable(p.now, addr(B));
    p.b.handle_unreachable(p.now, addr(A));
    p.flush();
    assert_eq!(p.events_a.len(), events_a);
    assert_eq!(p.events_b.len(), events_b);
    assert!(matches!(
        p.a.conn(ha).unwrap().state(),
        ConnState::Established { .. }
    ));

    // Both directions still work, the acceptor writing first.
    let first = pattern(5000, 7);
    assert_eq!(p.b.conn(hb).unwrap().write(&first).unwrap(), first.len());
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    p.run_while(Duration::from_secs(10), |p| {
        while let Ok(n) = p.a.conn(ha).unwrap().read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() < first.len()
    });
    assert_eq!(got, first);
    let second = pattern(200_000, 9);
    assert_eq!(
        transfer(&mut p, ha, hb, &second, Duration::from_secs(30)),
        second
    );
}

#[test]
fn a_half_open_acceptor_ignores_port_unreachable() {
    let mut p = Pair::default_pair();
    // B's answer to the SYN is lost: B stays half-open.
    p.filter = Box::new(|w| match w.from == addr(B) {
        true => Fate::Drop,
        false => Fate::Deliver,
    });
    let _ = p.a.connect(p.now, addr(B)).unwrap();
    p.run_until(p.now + Duration::from_millis(100));
    assert_eq!(p.b.connection_count(), 1);
    p.b.handle_unreachable(p.now, addr(A));
    p.flush();
    assert_eq!(p.b.connection_count(), 1);
    assert!(p.events_b.is_empty());
}

fn first_packet_size(config: Config, remote: &str) -> usize {
    let mut ep = Endpoint::new(config, 1);
    let h = ep.connect(Timestamp::from_secs(1), addr(remote)).unwrap();
    let size = ep.conn(h).unwrap().stats().packet_size;
    size
}

#[test]
fn v4_mapped_peers_are_sized_as_ipv4() {
    let mapped = "[::ffff:10.0.0.2]:2000";
    let v6 = "[2001:db8::2]:2000";
    // Path MTU discovery starts at the family's floor...
    let on = Config::default();
    assert_eq!(first_packet_size(on.clone(), B), 548);
    assert_eq!(first_packet_size(on.clone(), mapped), 548);
    assert_eq!(first_packet_size(on, v6), 1232);
    // ... and without it, packets are the family's configured size.
    let mut off = Config::default();
    off.pmtu_discovery = false;
    let v4_size = off.packet_size_v4;
    assert_eq!(first_packet_size(off.clone(), mapped), v4_size);
    assert_eq!(first_packet_size(off.clone(), v6), off.packet_size_v6);
}
