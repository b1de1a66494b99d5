//! Rendezvous connects: both sides connect to each other at once, and the
//! crossing SYNs make one connection, whatever is lost or crosses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::{addr, both_ways, ms, Fate, Pair, A, B};
use utp_core::wire::{PacketRepr, PacketType};
use utp_core::{CloseReason, ConnHandle, ConnectError, Event, Timer};

/// A and B connect by rendezvous, B `b_later` after A; `drop` decides
/// which datagrams are lost (by sender and by how many SYNs that sender
/// sent before). Then data both ways, B writing first. Checks one
/// connection on each side, no accept, exact bytes.
fn rendezvous(b_later: Duration, drop_syns: (usize, usize)) -> Pair {
    let mut p = Pair::default_pair();
    let (mut syns_a, mut syns_b) = (0, 0);
    p.filter = Box::new(move |w| {
        if w.ty() == PacketType::Syn {
            let (seen, limit) = if w.from == addr(A) {
                (&mut syns_a, drop_syns.0)
            } else {
                (&mut syns_b, drop_syns.1)
            };
            *seen += 1;
            if *seen <= limit {
                return Fate::Drop;
            }
        }
        Fate::Deliver
    });
    let ha = p.a.connect_rendezvous(p.now, addr(B)).unwrap();
    p.run_until(p.now + b_later);
    let hb = p.b.connect_rendezvous(p.now, addr(A)).unwrap();
    both_ways(&mut p, ha, hb, 100_000, 150_000);
    for (events, h) in [(&p.events_a, ha), (&p.events_b, hb)] {
        let connected = events.iter().filter(|e| **e == Event::Connected(h)).count();
        assert_eq!(connected, 1, "{events:?}");
    }
    assert_eq!((p.a.accept(), p.b.accept()), (None, None), "nothing else");
    assert_eq!((p.a.connection_count(), p.b.connection_count()), (1, 1));
    // One side's connection became the acceptor of the other's SYN (the
    // winner may never have seen the loser's SYN).
    let (sa, sb) = (p.a.stats(), p.b.stats());
    assert_eq!(sa.rendezvous_lost + sb.rendezvous_lost, 1, "{sa:?} {sb:?}");
    assert!(sa.rendezvous_won + sb.rendezvous_won <= 1, "{sa:?} {sb:?}");
    p
}

#[test]
fn crossing_syns_make_one_connection() {
    let p = rendezvous(Duration::ZERO, (0, 0));
    // One each, crossing; the winner sends its own once more on seeing the
    // loser's (the loser may not have seen it), and nothing else.
    let syns = |from| {
        p.wire_from(from)
            .iter()
            .filter(|w| w.ty() == PacketType::Syn)
            .count()
    };
    let (a, b) = (syns(A), syns(B));
    assert!((a, b) == (2, 1) || (a, b) == (1, 2), "{a} and {b} SYNs");
}

#[test]
fn first_syn_of_either_side_lost() {
    rendezvous(Duration::ZERO, (1, 0));
    rendezvous(Duration::ZERO, (0, 1));
}

#[test]
fn first_syns_of_both_sides_lost() {
    rendezvous(Duration::ZERO, (1, 1));
    rendezvous(ms(100), (2, 3));
}

#[test]
fn a_syn_crossing_a_state() {
    // A's SYN takes 25 ms. B's leaves 1 ms before it arrives: B answers
    // A's SYN (or wins) while its own SYN crosses that answer.
    let p = rendezvous(ms(24), (0, 0));
    let b_syns = p
        .wire_from(B)
        .iter()
        .filter(|w| w.ty() == PacketType::Syn)
        .count();
    // Once, and once more if it won (on seeing A's SYN).
    assert!((1..=2).contains(&b_syns), "B sent its SYN ({b_syns})");
}

#[test]
fn a_peer_that_calls_late_takes_the_connection_its_listener_made() {
    // B calls after A's SYN arrived: B's listener made a connection from
    // it (still half-open at 26 ms, proven and in the backlog at 51 ms),
    // and connect_rendezvous hands B that one; B sends no SYN.
    for later in [ms(26), ms(51)] {
        let p = rendezvous(later, (0, 0));
        let b_syns = p
            .wire_from(B)
            .iter()
            .filter(|w| w.ty() == PacketType::Syn)
            .count();
        assert_eq!(b_syns, 0);
    }
}

#[test]
fn a_draw_starts_again_with_a_new_id() {
    let mut p = Pair::default_pair();
    let ha = p.a.connect_rendezvous(p.now, addr(B)).unwrap();
    p.filter = Box::new(|_| Fate::Drop);
    p.flush();
    let ours = p
        .log
        .iter()
        .find(|w| w.ty() == PacketType::Syn)
        .unwrap()
        .clone();
    // The same SYN from B: a draw.
    let now = p.now;
    p.a.handle_datagram(now, addr(B), &ours.bytes);
    p.flush();
    let syns: Vec<_> = p
        .log
        .iter()
        .filter(|w| w.ty() == PacketType::Syn)
        .map(|w| (w.packet().connection_id, w.packet().seq_nr))
        .collect();
    assert_eq!(syns.len(), 2, "a new SYN at once: {syns:?}");
    assert_ne!(syns[1].0, syns[0].0, "with a new id");
    // Then B does connect: one connection, under A's first handle.
    p.filter = Box::new(|_| Fate::Deliver);
    let hb = p.b.connect_rendezvous(p.now, addr(A)).unwrap();
    p.run_until(p.now + Duration::from_secs(2));
    assert!(p.events_a.contains(&Event::Connected(ha)));
    assert!(p.events_b.contains(&Event::Connected(hb)));
    assert_eq!((p.a.connection_count(), p.b.connection_count()), (1, 1));
}

#[test]
fn syns_go_at_a_steady_rate_until_the_timeout() {
    let mut p = Pair::default_pair();
    p.filter = Box::new(|_| Fate::Drop);
    let t0 = p.now;
    let ha: ConnHandle = p.a.connect_rendezvous(t0, addr(B)).unwrap();
    assert_eq!(
        p.a.connect_rendezvous(t0, addr(B)),
        Err(ConnectError::IdInUse)
    );
    p.run_until(t0 + Duration::from_secs(31));
    let sends: Vec<Duration> = p
        .wire_from(A)
        .iter()
        .filter(|w| w.ty() == PacketType::Syn)
        .map(|w| w.sent_at - t0)
        .collect();
    // Every 250 ms plus this connection's jitter (up to 50 ms), no
    // backoff, for 30 s.
    let gaps: Vec<Duration> = sends.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[0] == g[1]), "steady: {gaps:?}");
    assert!(gaps[0] >= ms(250) && gaps[0] <= ms(300), "{:?}", gaps[0]);
    assert!(sends.last().unwrap() < &Duration::from_secs(30));
    assert!(sends.len() >= 100, "{} SYNs", sends.len());
    assert_eq!(
        p.events_a,
        vec![Event::Closed(ha, CloseReason::TimedOut(Timer::Connect))]
    );
}

#[test]
fn rendezvous_connections_keep_their_nat_mappings_alive_every_15_s() {
    let mut p = Pair::default_pair();
    let ha = p.a.connect_rendezvous(p.now, addr(B)).unwrap();
    let hb = p.b.connect_rendezvous(p.now, addr(A)).unwrap();
    // (The initiator's third packet goes again at 1, 2 and 4 s while the
    // acceptor, which has nothing to send, says nothing: past that.)
    p.run_until(p.now + Duration::from_secs(10));
    assert!(p.events_a.contains(&Event::Connected(ha)));
    assert!(p.events_b.contains(&Event::Connected(hb)));
    let idle_from = p.now;
    p.run_until(idle_from + Duration::from_secs(60));
    let keepalives = |p: &Pair, from: &str| -> Vec<Duration> {
        p.wire_from(from)
            .iter()
            .filter(|w| w.sent_at > idle_from && w.ty() == PacketType::State)
            .map(|w| w.sent_at - idle_from)
            .collect()
    };
    // Quiet NAT mappings often last 30 s: a keepalive every 15 s (not
    // libutp's 29 s) from each side.
    for side in [A, B] {
        let k = keepalives(&p, side);
        assert_eq!(k.len(), 4, "{side}: {k:?}");
        assert!(
            k.windows(2).all(|w| w[1] - w[0] == Duration::from_secs(15)),
            "{k:?}"
        );
    }
    // And per connection, at will.
    p.a.conn(ha)
        .unwrap()
        .set_keepalive(Some(Duration::from_secs(5)));
    p.b.conn(hb).unwrap().set_keepalive(None);
    let from = p.now;
    p.run_until(from + Duration::from_secs(30));
    let a: Vec<_> = p
        .wire_from(A)
        .iter()
        .filter(|w| w.sent_at > from && w.ty() == PacketType::State)
        .map(|w| w.sent_at)
        .collect();
    assert!(
        a.windows(2).all(|w| w[1] - w[0] == Duration::from_secs(5)),
        "{a:?}"
    );
    assert!(a.len() >= 5, "{a:?}");
    let b = p
        .wire_from(B)
        .iter()
        .filter(|w| w.sent_at > from && w.ty() == PacketType::State)
        .count();
    // A keepalive is not acknowledged: B, without one, sends nothing.
    assert_eq!(b, 0, "B sends none");
}

/// A NAT that forgot the mapping: data sent after a quiet of at least
/// `Config::nat_mapping_timeout` (30 s) that never gets through ends a
/// rendezvous connection `TimedOut(MappingExpired)`; after a shorter
/// quiet, or on a connection that was no rendezvous, it is
/// `TimedOut(Retransmissions)` as ever.
#[test]
fn a_mapping_lost_after_a_quiet_is_reported_as_expired() {
    let cases = [
        (true, 45, Timer::MappingExpired),
        (true, 5, Timer::Retransmissions),
        (false, 45, Timer::Retransmissions),
    ];
    for (rendezvous, quiet, want) in cases {
        let mut p = Pair::default_pair();
        let (ha, hb) = if rendezvous {
            let ha = p.a.connect_rendezvous(p.now, addr(B)).unwrap();
            let hb = p.b.connect_rendezvous(p.now, addr(A)).unwrap();
            (ha, hb)
        } else {
            p.connect()
        };
        p.a.conn(ha).unwrap().set_keepalive(None);
        p.b.conn(hb).unwrap().set_keepalive(None);
        // Connected, and the handshake's last packets done with; then quiet.
        p.run_until(p.now + Duration::from_secs(10));
        assert!(p.events_a.contains(&Event::Connected(ha)));
        p.run_until(p.now + Duration::from_secs(quiet));
        // The mappings are gone: nothing gets through any more.
        p.filter = Box::new(|_| Fate::Drop);
        assert_eq!(p.a.conn(ha).unwrap().write(b"after the quiet").unwrap(), 15);
        p.run_until(p.now + Duration::from_secs(300));
        let closed: Vec<_> = p
            .events_a
            .iter()
            .filter(|e| matches!(e, Event::Closed(h, _) if *h == ha))
            .collect();
        assert_eq!(
            closed,
            vec![&Event::Closed(ha, CloseReason::TimedOut(want))],
            "rendezvous {rendezvous}, quiet {quiet} s"
        );
    }
}

/// (type, id, seq, ack) of a packet.
trait Header {
    fn header(&self) -> (PacketType, u16, u16, u16);
}

impl Header for PacketRepr<'_> {
    fn header(&self) -> (PacketType, u16, u16, u16) {
        (
            self.packet_type,
            self.connection_id,
            self.seq_nr.get(),
            self.ack_nr.get(),
        )
    }
}

/// A copy of `syn` (one of A's) as another packet: type, id, seq and ack
/// rewritten (BEP 29 header: type at 0, id at 2, seq at 16, ack at 18).
fn rewritten(syn: &[u8], ty: PacketType, id: u16, seq: u16, ack: u16) -> Vec<u8> {
    let mut b = syn.to_vec();
    b[0] = ((ty as u8) << 4) | 1;
    b[2..4].copy_from_slice(&id.to_be_bytes());
    b[16..18].copy_from_slice(&seq.to_be_bytes());
    b[18..20].copy_from_slice(&ack.to_be_bytes());
    b
}

/// A BEP 29 peer (libutp, libtorrent) runs no contest: it connects with a
/// plain SYN and its listener answers ours. When ours loses, our connection
/// becomes the acceptor of its SYN, and that peer sends nothing more until
/// its application writes; its listener's STATE for our SYN is the proof
/// that the path works both ways: we are connected at once (and RESET the
/// peer's duplicate). A STATE that does not answer our SYN proves nothing.
#[test]
fn a_bep29_peer_answering_our_losing_syn_proves_the_acceptor() {
    let mut p = Pair::default_pair();
    p.filter = Box::new(|_| Fate::Drop);
    let ha = p.a.connect_rendezvous(p.now, addr(B)).unwrap();
    p.flush();
    let syn = p.wire_from(A)[0].bytes.clone();
    let ours = PacketRepr::parse(&syn).unwrap();
    let (our_id, our_seq) = (ours.connection_id, ours.seq_nr.get());
    assert_ne!(our_id, 0);
    // The peer's SYN, id 0: lower than ours, it wins.
    let now = p.now;
    p.a.handle_datagram(now, addr(B), &rewritten(&syn, PacketType::Syn, 0, 7, 0));
    p.flush();
    assert_eq!(p.a.stats().rendezvous_lost, 1);
    let state = p.wire_from(A).last().unwrap().packet().header();
    assert_eq!(
        (state.0, state.1, state.3),
        (PacketType::State, 0, 7),
        "our STATE for its SYN"
    );
    assert!(p.events_a.is_empty(), "half-open: {:?}", p.events_a);
    // A STATE that answers something else: still half-open, and RESET.
    let sent = p.log.len();
    p.a.handle_datagram(
        now,
        addr(B),
        &rewritten(
            &syn,
            PacketType::State,
            our_id,
            500,
            our_seq.wrapping_add(9),
        ),
    );
    p.flush();
    assert!(p.events_a.is_empty(), "{:?}", p.events_a);
    let reset = p.log[sent].packet().header();
    assert_eq!((reset.0, reset.1), (PacketType::Reset, our_id));
    // Its listener's STATE for our SYN: connected.
    let sent = p.log.len();
    p.a.handle_datagram(
        now,
        addr(B),
        &rewritten(&syn, PacketType::State, our_id, 500, our_seq),
    );
    p.flush();
    assert_eq!(p.events_a, vec![Event::Connected(ha)]);
    let reset = p.log[sent].packet().header();
    assert_eq!(
        (reset.0, reset.1),
        (PacketType::Reset, our_id),
        "the peer's duplicate connection is reset"
    );
    // Our data goes at once, on the peer's connection (send id 0).
    p.a.conn(ha).unwrap().write(b"hello").unwrap();
    p.flush();
    let data = p.wire_from(A).last().unwrap().packet().header();
    assert_eq!((data.0, data.1, data.3), (PacketType::Data, 0, 7));
    assert_eq!(p.a.stats().syns_refused, 0);
}

/// A winner that listens lets its listener take the loser's SYN too (a
/// BEP 29 peer may keep only the connection that SYN started): between
/// two of ours, the loser answers that connection's STATE with a RESET, so
/// it ends half-open, never handed out, and each side keeps one connection.
#[test]
fn a_listening_winner_accepts_the_losing_syn_and_the_loser_resets_it() {
    let mut p = Pair::default_pair();
    p.a.listen(utp_core::ListenConfig::default());
    let ha = p.a.connect_rendezvous(p.now, addr(B)).unwrap();
    let hb = p.b.connect_rendezvous(p.now, addr(A)).unwrap();
    both_ways(&mut p, ha, hb, 50_000, 70_000);
    let (sa, sb) = (p.a.stats(), p.b.stats());
    let (winner, loser, l) = if sa.rendezvous_won == 1 {
        (&p.a, &p.b, B)
    } else {
        (&p.b, &p.a, A)
    };
    assert_eq!(winner.stats().rendezvous_won, 1, "{sa:?} {sb:?}");
    assert_eq!(loser.stats().rendezvous_lost, 1, "{sa:?} {sb:?}");
    // The winner's listener took the loser's SYN ...
    assert_eq!(winner.stats().accepted, 1, "{sa:?} {sb:?}");
    // ... and its STATE got the loser's RESET.
    let resets = p
        .wire_from(l)
        .iter()
        .filter(|x| x.ty() == PacketType::Reset)
        .count();
    assert_eq!(resets, 1, "one RESET from {l}");
    assert_eq!(
        (p.a.accept(), p.b.accept()),
        (None, None),
        "nothing handed out"
    );
    assert_eq!((p.a.connection_count(), p.b.connection_count()), (1, 1));
}
