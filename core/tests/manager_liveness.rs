//! The manager's liveness rule (drop and replace a connection that makes
//! no progress) and its disconnect reasons, scripted with explicit time,
//! and the reasons carried between two endpoints in the close-reason
//! extension.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;
mod manager_common;

use std::time::Duration;

use common::{Pair, B};
use manager_common::{addr, config, drain, one_dial, secs, FAIL};
use utp_core::manager::{
    CandidateOutcome, DisconnectReason, InboundDecision, InboundRefusal, Manager, ManagerConfig,
    Output, PeerReasonCounts,
};
use utp_core::{CloseInfo, CloseReason, Timestamp};

fn us(t: Timestamp) -> Timestamp {
    Timestamp::from_micros(t.as_micros() - 1)
}

#[test]
fn default_stall_timeout_is_bittorrents_keepalive() {
    assert_eq!(
        ManagerConfig::default().stall_timeout,
        Some(Duration::from_secs(120))
    );
}

#[test]
fn stalled_outbound_dropped_at_exactly_the_timeout_and_replaced() {
    let mut m = Manager::new(config(1));
    let (a, b) = (addr("192.0.2.1:1"), addr("192.0.2.2:1"));
    assert_eq!(m.add_candidate(secs(0), a), CandidateOutcome::Queued);
    let (id, _) = one_dial(&drain(&mut m));
    m.on_connected(secs(10), id);
    assert_eq!(m.poll_timeout(), Some(secs(130)));
    m.on_progress(secs(50), id, 100);
    assert_eq!(m.poll_timeout(), Some(secs(170)));
    // The same count again, or a smaller one, is no progress.
    m.on_progress(secs(60), id, 100);
    m.on_progress(secs(61), id, 7);
    assert_eq!(m.poll_timeout(), Some(secs(170)));
    // A replacement waits in the queue (the target is met).
    assert_eq!(m.add_candidate(secs(61), b), CandidateOutcome::Queued);
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(us(secs(170)));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.outbound(), 1);
    m.handle_timeout(secs(170));
    assert_eq!(m.disconnect_reason(id), Some(DisconnectReason::Stalled));
    assert_eq!(m.poll(), Some(Output::Disconnect { id }));
    assert_eq!(m.disconnect_reason(id), Some(DisconnectReason::Stalled));
    let (new, got) = one_dial(&[m.poll().unwrap()]);
    assert_eq!(got, b);
    // Valid until the next poll only.
    assert_eq!(m.poll(), None);
    assert_eq!(m.disconnect_reason(id), None);
    assert_eq!((m.outbound(), m.dialing()), (0, 1));
    let s = m.stats();
    assert_eq!((s.stalled, s.disconnected), (1, 0));
    // The application's own report of the end comes late: ignored.
    m.on_disconnected(secs(171), id, CloseReason::Aborted);
    assert_eq!(m.stats().ignored_reports, 1);
    // The replacement has its own timer from its connection.
    m.on_connected(secs(171), new);
    assert_eq!(m.poll_timeout(), Some(secs(291)));
}

#[test]
fn a_stall_without_candidates_asks_for_one_at_once() {
    let mut m = Manager::new(config(1));
    m.add_candidate(secs(0), addr("192.0.2.1:1"));
    let (id, _) = one_dial(&drain(&mut m));
    m.on_connected(secs(0), id);
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(secs(120));
    assert_eq!(
        drain(&mut m),
        [
            Output::Disconnect { id },
            Output::WantCandidate { count: 1 }
        ]
    );
}

#[test]
fn progress_resets_the_timer_and_a_late_report_does_not_save_a_stalled_one() {
    let mut m = Manager::new(config(1));
    m.add_candidate(secs(0), addr("192.0.2.1:1"));
    let (id, _) = one_dial(&drain(&mut m));
    m.on_connected(secs(0), id);
    for (t, bytes) in [(100, 1), (200, 2), (319, 3_000_000)] {
        m.on_progress(secs(t), id, bytes);
        assert_eq!(m.poll_timeout(), Some(secs(t + 120)));
    }
    m.handle_timeout(us(secs(439)));
    assert!(drain(&mut m).is_empty());
    // Progress reported at 439 s or later comes too late: the connection
    // stalled at 439 s, before the report is looked at.
    m.on_progress(secs(439), id, 3_000_001);
    assert_eq!(drain(&mut m)[0], Output::Disconnect { id });
    assert_eq!(m.stats().stalled, 1);
    assert_eq!(m.stats().ignored_reports, 1);
}

#[test]
fn a_stalled_permanent_peer_is_redialed_on_its_backoff() {
    let mut m = Manager::new(config(0));
    let p = addr("192.0.2.7:1");
    m.add_permanent(secs(0), p);
    let (id, _) = one_dial(&drain(&mut m));
    m.on_connected(secs(1), id);
    // No progress at all: dropped at 121 s, first failure: 5 s.
    m.handle_timeout(secs(121));
    assert_eq!(drain(&mut m), [Output::Disconnect { id }]);
    assert_eq!(m.poll_timeout(), Some(secs(126)));
    m.handle_timeout(us(secs(126)));
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(secs(126));
    let (id, got) = one_dial(&drain(&mut m));
    assert_eq!(got, p);
    // That dial fails: the second failure waits 10 s.
    m.on_dial_failed(secs(127), id, FAIL);
    assert_eq!(m.poll_timeout(), Some(secs(137)));
    m.handle_timeout(secs(137));
    let (id, _) = one_dial(&drain(&mut m));
    // A success resets the count; the next stall waits 5 s again.
    m.on_connected(secs(137), id);
    m.on_progress(secs(150), id, 1);
    m.handle_timeout(secs(270));
    assert_eq!(drain(&mut m), [Output::Disconnect { id }]);
    assert_eq!(m.poll_timeout(), Some(secs(275)));
    assert_eq!(m.stats().stalled, 2);
}

#[test]
fn a_stalled_inbound_is_dropped_and_frees_its_slot() {
    let mut m = Manager::new(ManagerConfig {
        target_outbound: 0,
        max_inbound_per_ip: 1,
        stall_timeout: Some(Duration::from_secs(30)),
        ..ManagerConfig::default()
    });
    let peer = addr("198.51.100.4:9");
    let InboundDecision::Accept(id) = m.on_inbound(secs(0), peer) else {
        panic!("refused")
    };
    assert_eq!(
        m.on_inbound(secs(1), peer),
        InboundDecision::Refuse(InboundRefusal::PerIp)
    );
    m.on_progress(secs(10), id, 5);
    m.handle_timeout(secs(40));
    assert_eq!(drain(&mut m), [Output::Disconnect { id }]);
    assert_eq!(m.inbound(), 0);
    assert!(matches!(
        m.on_inbound(secs(40), peer),
        InboundDecision::Accept(_)
    ));
}

#[test]
fn no_stall_timeout_keeps_quiet_connections() {
    let mut m = Manager::new(ManagerConfig {
        target_outbound: 1,
        stall_timeout: None,
        ..ManagerConfig::default()
    });
    m.add_candidate(secs(0), addr("192.0.2.1:1"));
    let (id, _) = one_dial(&drain(&mut m));
    m.on_connected(secs(0), id);
    assert_eq!(m.poll_timeout(), None);
    m.handle_timeout(secs(1_000_000));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.outbound(), 1);
}

#[test]
fn wire_codes_are_libtorrents_and_round_trip() {
    // libtorrent's close_reason_t: 0 none, 1 duplicate_peer_id,
    // 10 timed_out_activity, 15 too_many_connections.
    let table = [
        (DisconnectReason::Requested, 0),
        (DisconnectReason::Duplicate, 1),
        (DisconnectReason::Stalled, 10),
        (DisconnectReason::TooManyPeers, 15),
        (DisconnectReason::Other(8), 8),
        (DisconnectReason::Other(256), 256),
        (DisconnectReason::Other(u16::MAX), u16::MAX),
    ];
    for (reason, code) in table {
        assert_eq!(reason.wire_code(), code, "{reason:?}");
        assert_eq!(DisconnectReason::from_wire_code(code), reason, "{code}");
    }
    // Not one-to-one: an inbound limit goes out as too_many_connections,
    // and a named code inside Other reads back as its name.
    assert_eq!(DisconnectReason::InboundLimit.wire_code(), 15);
    assert_eq!(
        DisconnectReason::from_wire_code(DisconnectReason::InboundLimit.wire_code()),
        DisconnectReason::TooManyPeers
    );
    assert_eq!(
        DisconnectReason::from_wire_code(DisconnectReason::Other(10).wire_code()),
        DisconnectReason::Stalled
    );
    for code in 0..=u16::MAX {
        let r = DisconnectReason::from_wire_code(code);
        assert_eq!(r.wire_code(), code);
        assert_eq!(DisconnectReason::from_wire_code(r.wire_code()), r);
    }
    assert_eq!(DisconnectReason::Other(8).to_string(), "close reason 8");
}

#[test]
fn inbound_refusals_and_removals_have_reasons() {
    for refusal in [
        InboundRefusal::Total,
        InboundRefusal::PerIp,
        InboundRefusal::PerSubnet,
    ] {
        assert_eq!(refusal.reason(), DisconnectReason::InboundLimit);
        assert_eq!(refusal.reason().wire_code(), 15);
    }
    let mut m = Manager::new(config(0));
    let p = addr("192.0.2.1:1");
    m.add_permanent(secs(0), p);
    let (id, _) = one_dial(&drain(&mut m));
    m.on_connected(secs(1), id);
    m.remove_permanent(secs(2), p);
    assert_eq!(m.disconnect_reason(id), Some(DisconnectReason::Requested));
    assert_eq!(drain(&mut m), [Output::Disconnect { id }]);
    assert_eq!(m.disconnect_reason(id), None);
}

#[test]
fn peer_codes_are_counted_per_reason() {
    let mut m = Manager::new(ManagerConfig {
        target_outbound: 0,
        max_inbound_per_ip: 10,
        ..ManagerConfig::default()
    });
    let codes = [
        None,
        Some(10),
        Some(15),
        Some(8),
        Some(0),
        Some(1),
        Some(300),
    ];
    for code in codes {
        let InboundDecision::Accept(id) = m.on_inbound(secs(0), addr("192.0.2.1:1")) else {
            panic!("refused")
        };
        let info = CloseInfo {
            reason: CloseReason::Finished,
            peer_code: code,
        };
        m.on_disconnected_with(secs(1), id, info);
        // A second report about the same id is ignored and not counted.
        m.on_disconnected_with(secs(1), id, info);
    }
    let s = m.stats();
    assert_eq!(
        s.peer_reasons,
        PeerReasonCounts {
            none: 1,
            stalled: 1,
            too_many_peers: 1,
            duplicate: 1,
            requested: 1,
            other: 2,
        }
    );
    assert_eq!((s.disconnected, s.ignored_reports), (7, 7));
}

/// Two endpoints, one manager each: A's manager drops a stalled
/// connection, A sends the reason in its RESET, B's manager counts it and
/// B's application reads it as a typed reason. Then B refuses a second
/// inbound connection with the inbound limit's code, and A reads it.
#[test]
fn reasons_travel_between_two_endpoints() {
    let stall = Duration::from_secs(10);
    let cfg = |target| ManagerConfig {
        target_outbound: target,
        max_inbound: 1,
        stall_timeout: Some(stall),
        ..ManagerConfig::default()
    };
    let mut ma = Manager::new(cfg(1));
    let mut mb = Manager::new(cfg(0));
    let mut p = Pair::default_pair();
    assert_eq!(ma.add_candidate(p.now, addr(B)), CandidateOutcome::Queued);
    let (id_a, _) = one_dial(&drain(&mut ma));
    let (ha, hb) = p.connect();
    ma.on_connected(p.now, id_a);
    let InboundDecision::Accept(id_b) = mb.on_inbound(p.now, common::addr(common::A)) else {
        panic!("B refused")
    };
    // Both write once, and both report the progress.
    assert_eq!(p.a.conn(ha).unwrap().write(b"ping"), Ok(4));
    assert_eq!(p.b.conn(hb).unwrap().write(b"pong"), Ok(4));
    p.run_until(p.now + Duration::from_millis(500));
    let mut buf = [0u8; 16];
    assert_eq!(p.a.conn(ha).unwrap().read(&mut buf), Ok(4));
    assert_eq!(&buf[..4], b"pong");
    assert_eq!(p.b.conn(hb).unwrap().read(&mut buf), Ok(4));
    assert_eq!(&buf[..4], b"ping");
    ma.on_progress(p.now, id_a, 8);
    mb.on_progress(p.now, id_b, 8);
    // Nothing more moves; A's manager gives up first (B's timer started
    // at the same time, but B is told of the end before its own runs out).
    let due = ma.poll_timeout().unwrap();
    assert_eq!(due, p.now + stall);
    p.run_until(due);
    ma.handle_timeout(p.now);
    assert_eq!(ma.poll(), Some(Output::Disconnect { id: id_a }));
    let reason = ma.disconnect_reason(id_a).unwrap();
    assert_eq!(reason, DisconnectReason::Stalled);
    let mut c = p.a.conn(ha).unwrap();
    c.set_close_reason(Some(reason.wire_code()));
    c.abort();
    drop(c);
    assert_eq!(ma.poll(), Some(Output::WantCandidate { count: 1 }));
    p.run_until(p.now + Duration::from_millis(100));
    let info = p.b.conn(hb).unwrap().close_info().unwrap();
    assert_eq!(
        info,
        CloseInfo {
            reason: CloseReason::Reset,
            peer_code: Some(10)
        }
    );
    assert_eq!(
        DisconnectReason::from_wire_code(info.peer_code.unwrap()),
        DisconnectReason::Stalled
    );
    mb.on_disconnected_with(p.now, id_b, info);
    assert_eq!(mb.stats().peer_reasons.stalled, 1);
    assert_eq!(mb.inbound(), 0);

    // B takes one inbound only: a second connection while a first is in
    // is refused, and the refusal's code reaches A.
    let (_, hb1) = p.connect();
    assert!(matches!(
        mb.on_inbound(p.now, common::addr(common::A)),
        InboundDecision::Accept(_)
    ));
    let (ha2, hb2) = p.connect();
    let InboundDecision::Refuse(refusal) = mb.on_inbound(p.now, common::addr(common::A)) else {
        panic!("B accepted over max_inbound")
    };
    assert_eq!(refusal, InboundRefusal::Total);
    let mut c = p.b.conn(hb2).unwrap();
    c.set_close_reason(Some(refusal.reason().wire_code()));
    c.abort();
    drop(c);
    p.run_until(p.now + Duration::from_millis(100));
    let info = p.a.conn(ha2).unwrap().close_info().unwrap();
    assert_eq!(info.peer_code, Some(15));
    assert_eq!(
        DisconnectReason::from_wire_code(info.peer_code.unwrap()),
        DisconnectReason::TooManyPeers
    );
    assert!(
        p.b.conn(hb1).unwrap().close_info().is_none(),
        "first one open"
    );
}
