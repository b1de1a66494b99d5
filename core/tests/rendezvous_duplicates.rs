//! Two connections with a BEP 29 peer after a rendezvous (spec section 9,
//! "Two connections with a BEP 29 peer"): A calls `connect_rendezvous` and
//! listens; B plays a BEP 29 peer (libutp, libtorrent), which runs no
//! contest: a plain `connect` to A at the same moment, and a listener.
//! When A's SYN wins, A's listener takes B's SYN too, so each side ends
//! with two connections once B proves its own; A keeps one by
//! `Config::rendezvous_duplicates` and says so with `Event::Duplicate`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{addr, both_ways, Fate, Pair, B};
use utp_core::wire::{PacketRepr, PacketType};
use utp_core::{
    CloseReason, Config, ConnHandle, DuplicateRule, Endpoint, Error, Event, ListenConfig,
};

/// A at `a` (its port told to the endpoint), listening, connects by
/// rendezvous to B while B connects to A plainly; `drop_answers` STATEs of
/// B's listener for A's rendezvous SYN are lost. A's endpoint is seeded so
/// that its SYN wins (the first seed that does; the seeds are fixed, so the
/// test is deterministic). Runs until the handshakes are over. Returns the
/// pair, A's rendezvous handle and B's outgoing one.
fn crossing(a: &str, rule: DuplicateRule, drop_answers: usize) -> (Pair, ConnHandle, ConnHandle) {
    let (p, ha, hb, _) = crossing_with(a, rule, drop_answers, true, false, false);
    (p, ha, hb)
}

/// As [`crossing`]; A's endpoint is told its port only with `tell_port`,
/// and listens with early data with `early_data`; with `accept_early`, A
/// accepts as soon as anything is in the backlog (the last value: what).
fn crossing_with(
    a: &str,
    rule: DuplicateRule,
    drop_answers: usize,
    tell_port: bool,
    early_data: bool,
    accept_early: bool,
) -> (Pair, ConnHandle, ConnHandle, Vec<ConnHandle>) {
    let a = addr(a);
    for seed in 1..64 {
        let mut config = Config::default();
        config.rendezvous_duplicates = rule;
        let mut p = Pair::with_peers(config.clone(), Config::default(), a, addr(B));
        p.a = Endpoint::new(config, seed);
        let mut listen = ListenConfig::default();
        listen.early_data = early_data;
        p.a.listen(listen);
        if tell_port {
            p.a.set_local_port(a.port());
        }
        let mut our_syn = None;
        let mut held = Vec::new();
        let mut dropped = 0;
        p.filter = Box::new(move |w| {
            let packet = w.packet();
            if w.from == a && packet.packet_type == PacketType::Syn {
                our_syn.get_or_insert(packet.connection_id);
            }
            let answer = w.to == a
                && packet.packet_type == PacketType::State
                && Some(packet.connection_id) == our_syn;
            if answer && dropped < drop_answers {
                dropped += 1;
                return Fate::Drop;
            }
            Fate::Deliver
        });
        let ha = p.a.connect_rendezvous(p.now, addr(B)).unwrap();
        let hb = p.b.connect(p.now, a).unwrap();
        // In 1 ms steps (with early data, an accept may take a connection
        // before it is proven).
        for _ in 0..200 {
            p.run_until(p.now + Duration::from_millis(1));
            if accept_early {
                if let Some(h) = p.a.accept() {
                    held.push(h);
                }
            }
        }
        if p.a.stats().rendezvous_won == 1 {
            return (p, ha, hb, held);
        }
    }
    panic!("no seed below 64 made A's SYN win");
}

/// A's one `Duplicate` event: (rendezvous, accepted, kept).
fn the_duplicate(p: &Pair) -> (ConnHandle, ConnHandle, Option<ConnHandle>) {
    match duplicates(&p.events_a)[..] {
        [Event::Duplicate {
            rendezvous,
            accepted,
            kept,
        }] => (rendezvous, accepted, kept),
        _ => panic!("one Duplicate: {:?}", p.events_a),
    }
}

fn duplicates(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .copied()
        .filter(|e| matches!(e, Event::Duplicate { .. }))
        .collect()
}

/// The close-reason code the last `ty` packet from `from` carried.
fn close_code(p: &Pair, from: SocketAddr, ty: PacketType) -> Option<u16> {
    let w = p
        .log
        .iter()
        .rev()
        .find(|w| w.from == from && w.ty() == ty)
        .expect("such a packet");
    PacketRepr::parse(&w.bytes)
        .unwrap()
        .close_reason
        .map(|r| r.0)
}

/// Our port lower: by libtorrent's rule we keep our outgoing connection,
/// the rendezvous; the one our listener accepted is reset (code 1,
/// `duplicate_peer_id`) before the application ever sees it. B's outgoing
/// connection gets that RESET, and its incoming one carries the data.
#[test]
fn the_lower_port_keeps_its_rendezvous_and_resets_the_accepted_one() {
    let (mut p, ha, hb_out) = crossing("10.0.0.1:1000", DuplicateRule::LowerPort, 0);
    let (rendezvous, accepted, kept) = the_duplicate(&p);
    assert_eq!((rendezvous, kept), (ha, Some(ha)));
    assert_ne!(accepted, ha);
    assert!(p.events_a.contains(&Event::Connected(ha)));
    assert!(!p.events_a.contains(&Event::Incoming), "{:?}", p.events_a);
    assert_eq!(p.a.accept(), None, "the duplicate is never handed out");
    assert_eq!(p.a.stats().rendezvous_duplicates, 1);
    assert_eq!(
        close_code(&p, addr("10.0.0.1:1000"), PacketType::Reset),
        Some(1)
    );
    assert!(
        p.events_b
            .contains(&Event::Closed(hb_out, CloseReason::Reset)),
        "{:?}",
        p.events_b
    );
    let hb_in = p.b.accept().expect("B's listener took A's SYN");
    both_ways(&mut p, ha, hb_in, 200_000, 300_000);
    assert_eq!(p.a.connection_count(), 1);
}

/// Our port higher: the peer keeps its outgoing connection, which our
/// listener accepted; it is handed out, and the rendezvous is half-closed
/// (our FIN with code 1, after what was written): writes on it say
/// `Duplicate`, and it ends once the peer closes its side too.
#[test]
fn the_higher_port_keeps_the_accepted_one_and_half_closes_its_rendezvous() {
    let (mut p, ha, hb_out) = crossing("10.0.0.1:3000", DuplicateRule::LowerPort, 0);
    let (rendezvous, accepted, kept) = the_duplicate(&p);
    assert_eq!((rendezvous, kept), (ha, Some(accepted)));
    let incoming = p.events_a.iter().position(|e| *e == Event::Incoming);
    let duplicate = p
        .events_a
        .iter()
        .position(|e| matches!(e, Event::Duplicate { .. }));
    assert!(incoming < duplicate, "{:?}", p.events_a);
    assert_eq!(p.a.accept(), Some(accepted));
    assert_eq!(p.a.conn(ha).unwrap().write(b"late"), Err(Error::Duplicate));
    assert_eq!(
        close_code(&p, addr("10.0.0.1:3000"), PacketType::Fin),
        Some(1)
    );
    // B hears the end of its incoming connection, and closes it.
    let hb_in = p.b.accept().expect("B's listener took A's SYN");
    assert!(p.events_b.contains(&Event::Eof(hb_in)), "{:?}", p.events_b);
    p.b.conn(hb_in).unwrap().close();
    both_ways(&mut p, accepted, hb_out, 200_000, 300_000);
    assert!(
        p.events_a
            .contains(&Event::Closed(ha, CloseReason::Finished)),
        "{:?}",
        p.events_a
    );
}

/// Our port higher, and the rendezvous not yet connected when the peer
/// proves the connection our listener accepted (the peer's answers to our
/// SYN lost): that connection becomes the rendezvous, under its handle.
/// One connection; nothing handed out by `accept`, no `Duplicate` event.
#[test]
fn an_unconnected_rendezvous_takes_over_the_accepted_connection() {
    let (mut p, ha, hb_out) = crossing("10.0.0.1:3000", DuplicateRule::LowerPort, 100);
    assert_eq!(p.a.stats().rendezvous_duplicates, 1);
    assert!(duplicates(&p.events_a).is_empty(), "{:?}", p.events_a);
    let connected: Vec<_> = p
        .events_a
        .iter()
        .filter(|e| matches!(e, Event::Connected(_)))
        .collect();
    assert_eq!(connected, [&Event::Connected(ha)]);
    assert_eq!(p.a.accept(), None);
    // What was written on the rendezvous before goes over the connection
    // it took over.
    both_ways(&mut p, ha, hb_out, 200_000, 300_000);
    assert_eq!(p.a.connection_count(), 1);
}

/// `KeepBoth`: both live, the event names them, and the application
/// chooses; here it reads and writes on both.
#[test]
fn keep_both_leaves_the_choice_to_the_application() {
    let (mut p, ha, hb_out) = crossing("10.0.0.1:1000", DuplicateRule::KeepBoth, 0);
    let (rendezvous, accepted, kept) = the_duplicate(&p);
    assert_eq!(kept, None);
    assert_eq!(rendezvous, ha);
    assert_eq!(p.a.accept(), Some(accepted));
    let hb_in = p.b.accept().expect("B's listener took A's SYN");
    both_ways(&mut p, ha, hb_in, 100_000, 50_000);
    both_ways(&mut p, accepted, hb_out, 50_000, 100_000);
}

/// Without the local port (an endpoint no adapter told), the lower-port
/// rule cannot run: both are kept, as with `KeepBoth`.
#[test]
fn an_unknown_port_keeps_both() {
    let (mut p, ha, _, _) = crossing_with(
        "10.0.0.1:1000",
        DuplicateRule::LowerPort,
        0,
        false,
        false,
        false,
    );
    assert_eq!(p.a.local_port(), None);
    let (rendezvous, accepted, kept) = the_duplicate(&p);
    assert_eq!(kept, None);
    assert_eq!(rendezvous, ha);
    assert_eq!(p.a.accept(), Some(accepted));
    assert_eq!(p.a.conn(ha).unwrap().write(b"still open"), Ok(10));
}

/// `KeepRendezvous` keeps ours whatever the ports.
#[test]
fn keep_rendezvous_ignores_the_ports() {
    let (mut p, ha, _) = crossing("10.0.0.1:3000", DuplicateRule::KeepRendezvous, 0);
    assert_eq!(the_duplicate(&p).2, Some(ha));
    assert_eq!(p.a.accept(), None);
    let hb_in = p.b.accept().expect("B's listener took A's SYN");
    both_ways(&mut p, ha, hb_in, 100_000, 100_000);
}

/// With early data the accepted connection joins the backlog at its SYN,
/// and the application may take it before it is proven: then it holds
/// both, and the event says so.
#[test]
fn early_data_connections_taken_before_their_proof_are_kept() {
    let (mut p, ha, hb_out, held) = crossing_with(
        "10.0.0.1:1000",
        DuplicateRule::LowerPort,
        0,
        true,
        true,
        true,
    );
    let (rendezvous, accepted, kept) = the_duplicate(&p);
    assert_eq!((rendezvous, kept), (ha, None));
    assert_eq!(held, [accepted]);
    let hb_in = p.b.accept().expect("B's listener took A's SYN");
    both_ways(&mut p, ha, hb_in, 50_000, 80_000);
    both_ways(&mut p, accepted, hb_out, 80_000, 50_000);
}

/// Not yet taken, an early-data connection in the backlog gets the rule as
/// without early data: from the lower port it is reset and taken out of the
/// backlog.
#[test]
fn early_data_connections_still_in_the_backlog_get_the_rule() {
    let (mut p, ha, _, _) = crossing_with(
        "10.0.0.1:1000",
        DuplicateRule::LowerPort,
        0,
        true,
        true,
        false,
    );
    assert_eq!(the_duplicate(&p).2, Some(ha));
    assert_eq!(p.a.accept(), None, "out of the backlog");
    let hb_in = p.b.accept().expect("B's listener took A's SYN");
    both_ways(&mut p, ha, hb_in, 50_000, 80_000);
}
