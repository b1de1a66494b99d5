//! The connection manager, scripted with explicit time, and a property test.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use utp_core::manager::{
    CandidateOutcome, DisconnectReason, InboundDecision, InboundRefusal, Manager, ManagerConfig,
    Output, PeerId,
};
use utp_core::{CloseReason, Timestamp};

mod manager_common;
use manager_common::{addr, config, drain, ms, one_dial, secs, FAIL};

#[test]
fn defaults_are_btcd_and_go_ethereum() {
    let c = ManagerConfig::default();
    assert_eq!(c.target_outbound, 8);
    assert_eq!(c.retry_duration, Duration::from_secs(5));
    assert_eq!(c.max_retry_duration, Duration::from_secs(300));
    assert_eq!(c.max_consecutive_failures, 25);
    assert_eq!(c.max_dials_in_flight, 50);
    assert_eq!(c.redial_interval, Duration::from_secs(35));
}

#[test]
fn permanent_retry_schedule_grows_by_5s_caps_at_5min_and_resets() {
    let mut m = Manager::new(config(0));
    let p = addr("192.0.2.1:6881");
    assert!(m.add_permanent(secs(0), p));
    assert!(!m.add_permanent(secs(0), p));
    let (mut id, a) = one_dial(&drain(&mut m));
    assert_eq!(a, p);
    // Each dial fails 1 s after it starts; the n-th failure waits min(5n, 300) s.
    let mut now = secs(0);
    let mut dial_times = vec![now];
    for n in 1..=65u64 {
        now += Duration::from_secs(1);
        m.on_dial_failed(now, id, FAIL);
        assert!(drain(&mut m).is_empty());
        let due = now + Duration::from_secs((5 * n).min(300));
        assert_eq!(m.poll_timeout(), Some(due), "failure {n}");
        m.handle_timeout(due - Duration::from_micros(1));
        assert!(drain(&mut m).is_empty(), "early redial after failure {n}");
        m.handle_timeout(due);
        let (next, a) = one_dial(&drain(&mut m));
        assert_eq!(a, p);
        id = next;
        now = due;
        dial_times.push(now);
    }
    // The first dial times exactly: 0, 6, 17, 33, 54 s (1 s dial + 5, 10, 15, 20 s).
    assert_eq!(
        dial_times[..5],
        [secs(0), secs(6), secs(17), secs(33), secs(54)]
    );
    // Success resets the count: the disconnect waits 5 s, not 5 min.
    m.on_connected(now, id);
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.outbound(), 1);
    let t = now + Duration::from_secs(100);
    m.on_disconnected(t, id, CloseReason::Reset);
    assert_eq!(m.poll_timeout(), Some(t + Duration::from_secs(5)));
    m.handle_timeout(t + Duration::from_secs(5));
    let (id, _) = one_dial(&drain(&mut m));
    // And the next failure after that waits 10 s.
    let t = t + Duration::from_secs(6);
    m.on_dial_failed(t, id, FAIL);
    assert_eq!(m.poll_timeout(), Some(t + Duration::from_secs(10)));
}

#[test]
fn throttle_after_25_consecutive_failures() {
    let mut m = Manager::new(config(1));
    let mut now = secs(0);
    m.handle_timeout(now);
    assert_eq!(drain(&mut m), [Output::WantCandidate { count: 1 }]);
    for n in 1..=25u32 {
        let a = addr(&format!("192.0.2.{n}:1"));
        assert_eq!(m.add_candidate(now, a), CandidateOutcome::Queued);
        let (id, got) = one_dial(&drain(&mut m));
        assert_eq!(got, a);
        now += Duration::from_millis(100);
        m.on_dial_failed(now, id, FAIL);
        let out = drain(&mut m);
        if n < 25 {
            // Below the threshold a failure asks for a replacement at once.
            assert_eq!(out, [Output::WantCandidate { count: 1 }], "failure {n}");
            assert!(!m.is_throttled(now));
        } else {
            assert!(out.is_empty(), "{out:?}");
            assert!(m.is_throttled(now));
        }
    }
    // Throttled for one retry duration: a candidate waits.
    let until = now + Duration::from_secs(5);
    assert_eq!(m.poll_timeout(), Some(until));
    let a = addr("198.51.100.1:1");
    assert_eq!(m.add_candidate(now, a), CandidateOutcome::Queued);
    m.handle_timeout(until - Duration::from_micros(1));
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(until);
    let (id, got) = one_dial(&drain(&mut m));
    assert_eq!(got, a);
    // The 26th failure throttles again, with no candidate request during it.
    now = until + Duration::from_secs(1);
    m.on_dial_failed(now, id, FAIL);
    assert!(drain(&mut m).is_empty());
    let until = now + Duration::from_secs(5);
    assert_eq!(m.poll_timeout(), Some(until));
    m.handle_timeout(until);
    assert_eq!(drain(&mut m), [Output::WantCandidate { count: 1 }]);
    // A success ends it: the next failure asks again at once.
    let b = addr("198.51.100.2:1");
    m.add_candidate(until, b);
    let (id, _) = one_dial(&drain(&mut m));
    m.on_connected(until, id);
    m.on_disconnected(until + Duration::from_secs(1), id, CloseReason::Reset);
    assert_eq!(drain(&mut m), [Output::WantCandidate { count: 1 }]);
    let c = addr("198.51.100.3:1");
    m.add_candidate(until + Duration::from_secs(1), c);
    let (id, _) = one_dial(&drain(&mut m));
    m.on_dial_failed(until + Duration::from_secs(2), id, FAIL);
    assert!(!m.is_throttled(until + Duration::from_secs(2)));
    assert_eq!(drain(&mut m), [Output::WantCandidate { count: 1 }]);
    assert_eq!(m.stats().throttled, 2);
}

#[test]
fn dial_history_no_redial_within_35s() {
    let mut m = Manager::new(config(1));
    let a = addr("203.0.113.5:4000");
    assert_eq!(m.add_candidate(secs(0), a), CandidateOutcome::Queued);
    let (id, _) = one_dial(&drain(&mut m));
    assert_eq!(m.add_candidate(secs(0), a), CandidateOutcome::Known);
    m.on_dial_failed(secs(1), id, FAIL);
    // 35 s from the failure at 1 s.
    assert_eq!(
        m.add_candidate(secs(2), a),
        CandidateOutcome::RecentlyDialed
    );
    assert_eq!(
        m.add_candidate(ms(35_999), a),
        CandidateOutcome::RecentlyDialed
    );
    drain(&mut m);
    assert_eq!(m.add_candidate(secs(36), a), CandidateOutcome::Queued);
    let (id, got) = one_dial(&drain(&mut m));
    assert_eq!(got, a);
    // A dial that succeeds also counts from its start (36 s): a disconnect
    // at 50 s does not allow a redial before 71 s.
    m.on_connected(secs(40), id);
    m.on_disconnected(secs(50), id, CloseReason::Finished);
    assert_eq!(
        m.add_candidate(secs(50), a),
        CandidateOutcome::RecentlyDialed
    );
    assert_eq!(
        m.add_candidate(ms(70_999), a),
        CandidateOutcome::RecentlyDialed
    );
    drain(&mut m);
    assert_eq!(m.add_candidate(secs(71), a), CandidateOutcome::Queued);
    assert_eq!(one_dial(&drain(&mut m)).1, a);
}

#[test]
fn dial_concurrency_cap_shared_with_permanent_peers_first() {
    let mut m = Manager::new(config(100));
    let now = secs(0);
    for i in 0..60u32 {
        let a = addr(&format!("10.0.{}.{}:1", i / 200, i % 200 + 1));
        assert_eq!(m.add_candidate(now, a), CandidateOutcome::Queued);
    }
    let out = drain(&mut m);
    let dials: Vec<(PeerId, SocketAddr)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Dial { id, addr } => Some((*id, *addr)),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 50);
    assert_eq!(m.dialing(), 50);
    assert_eq!(m.queued_candidates(), 10);
    // A permanent peer waits for a slot too, and gets the first one.
    let p = addr("192.0.2.99:1");
    assert!(m.add_permanent(now, p));
    assert!(drain(&mut m).is_empty());
    m.on_dial_failed(secs(1), dials[0].0, FAIL);
    assert_eq!(one_dial(&drain(&mut m)).1, p);
    m.on_connected(secs(1), dials[1].0);
    let (_, next) = one_dial(&drain(&mut m));
    assert_eq!(next, addr("10.0.0.51:1"));
    assert_eq!(m.dialing(), 50);
}

#[test]
fn inbound_limits_total_per_ip_and_per_subnet() {
    let mut m = Manager::new(ManagerConfig {
        target_outbound: 0,
        max_inbound: 5,
        max_inbound_per_ip: 2,
        max_inbound_per_subnet: 3,
        ..ManagerConfig::default()
    });
    let now = secs(0);
    let accept = |d: InboundDecision| match d {
        InboundDecision::Accept(id) => id,
        other => panic!("refused: {other:?}"),
    };
    // IPv4: two from one IP, the third refused; the IPv4-mapped spelling is the same host.
    let a1 = accept(m.on_inbound(now, addr("192.0.2.1:1000")));
    accept(m.on_inbound(now, addr("192.0.2.1:1001")));
    assert_eq!(
        m.on_inbound(now, addr("[::ffff:192.0.2.1]:1002")),
        InboundDecision::Refuse(InboundRefusal::PerIp)
    );
    // A third host of the /24 fills it; a fourth address of it is refused.
    accept(m.on_inbound(now, addr("192.0.2.200:1")));
    assert_eq!(
        m.on_inbound(now, addr("192.0.2.7:1")),
        InboundDecision::Refuse(InboundRefusal::PerSubnet)
    );
    // Another /24 is fine.
    accept(m.on_inbound(now, addr("192.0.3.7:1")));
    // IPv6: a /64 counts as one subnet, another /64 does not.
    accept(m.on_inbound(now, addr("[2001:db8:0:1::1]:1")));
    assert_eq!(
        m.on_inbound(now, addr("[2001:db8:0:1::2]:1")),
        InboundDecision::Refuse(InboundRefusal::Total)
    );
    // Free one slot and check the IPv6 limits without the total in the way.
    m.on_disconnected(secs(1), a1, CloseReason::Finished);
    assert_eq!(m.inbound(), 4);
    let mut m6 = Manager::new(ManagerConfig {
        target_outbound: 0,
        max_inbound_per_ip: 1,
        max_inbound_per_subnet: 2,
        ..ManagerConfig::default()
    });
    accept(m6.on_inbound(now, addr("[2001:db8:0:1::1]:1")));
    assert_eq!(
        m6.on_inbound(now, addr("[2001:db8:0:1::1]:2")),
        InboundDecision::Refuse(InboundRefusal::PerIp)
    );
    accept(m6.on_inbound(now, addr("[2001:db8:0:1:ffff::9]:1")));
    assert_eq!(
        m6.on_inbound(now, addr("[2001:db8:0:1::3]:1")),
        InboundDecision::Refuse(InboundRefusal::PerSubnet)
    );
    accept(m6.on_inbound(now, addr("[2001:db8:0:2::1]:1")));
    // The freed IPv4 slot takes the host again.
    accept(m.on_inbound(secs(1), addr("192.0.2.1:1003")));
    assert_eq!(m.stats().inbound_refused, 3);
}

#[test]
fn target_maintained_disconnect_asks_for_a_new_candidate() {
    // Without the stall timer, so that idle connections leave no deadline.
    let mut m = Manager::new(ManagerConfig {
        stall_timeout: None,
        ..config(2)
    });
    m.handle_timeout(secs(0));
    assert_eq!(drain(&mut m), [Output::WantCandidate { count: 2 }]);
    let (a, b) = (addr("192.0.2.1:1"), addr("192.0.2.2:1"));
    m.add_candidate(secs(0), a);
    m.add_candidate(secs(0), b);
    let out = drain(&mut m);
    assert_eq!(out.len(), 2, "{out:?}");
    let ids: Vec<PeerId> = out
        .iter()
        .map(|o| match o {
            Output::Dial { id, .. } => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    m.on_connected(secs(1), ids[0]);
    m.on_connected(secs(1), ids[1]);
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.poll_timeout(), None);
    // One goes: a replacement is asked for at once, then every 5 s.
    m.on_disconnected(secs(100), ids[0], CloseReason::Reset);
    assert_eq!(drain(&mut m), [Output::WantCandidate { count: 1 }]);
    assert_eq!(m.poll_timeout(), Some(secs(105)));
    m.handle_timeout(secs(105));
    assert_eq!(drain(&mut m), [Output::WantCandidate { count: 1 }]);
    let c = addr("192.0.2.3:1");
    m.add_candidate(secs(106), c);
    assert_eq!(one_dial(&drain(&mut m)).1, c);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn remove_permanent_disconnects_or_withdraws_the_dial() {
    let mut m = Manager::new(config(0));
    let p = addr("192.0.2.1:1");
    m.add_permanent(secs(0), p);
    let (id, _) = one_dial(&drain(&mut m));
    m.on_connected(secs(1), id);
    assert!(m.remove_permanent(secs(2), p));
    assert_eq!(drain(&mut m), [Output::Disconnect { id }]);
    assert_eq!(m.outbound(), 0);
    // Not polled yet: the dial is withdrawn instead.
    let q = addr("192.0.2.2:1");
    m.add_permanent(secs(3), q);
    assert!(m.remove_permanent(secs(3), q));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.dialing(), 0);
    assert!(!m.remove_permanent(secs(3), q));
}

// ---- property test ----

const ADDRS: [&str; 8] = [
    "192.0.2.1:1",
    "192.0.2.1:2",
    "192.0.2.9:1",
    "198.51.100.1:1",
    "[2001:db8::1]:1",
    "[2001:db8::2]:1",
    "[2001:db8:0:1::1]:1",
    "[::ffff:192.0.2.9]:7",
];

#[derive(Clone, Debug)]
enum Op {
    Step(u64),
    /// A jump of whole seconds, past stall deadlines and backoffs.
    Jump(u64),
    Candidate(usize),
    AddPermanent(usize),
    RemovePermanent(usize),
    Connect(usize),
    Fail(usize),
    Disconnect(usize),
    Inbound(usize),
    /// Progress on a connection: the counter grows by this much (0: no growth).
    Progress(usize, u64),
    Timeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..40_000).prop_map(Op::Step),
        (0u64..400).prop_map(Op::Jump),
        (0..ADDRS.len()).prop_map(Op::Candidate),
        (0..ADDRS.len()).prop_map(Op::AddPermanent),
        (0..ADDRS.len()).prop_map(Op::RemovePermanent),
        (0usize..16).prop_map(Op::Connect),
        (0usize..16).prop_map(Op::Fail),
        (0usize..16).prop_map(Op::Disconnect),
        (0..ADDRS.len()).prop_map(Op::Inbound),
        (0usize..16, 0u64..3).prop_map(|(i, n)| Op::Progress(i, n)),
        Just(Op::Timeout),
    ]
}

#[derive(Default)]
struct Model {
    /// Dialing or connected outbound ids: (addr, permanent at dial time, connected).
    out: BTreeMap<PeerId, (SocketAddr, bool, bool)>,
    inbound: BTreeMap<PeerId, SocketAddr>,
    /// Last dial start or failure of each address.
    last: BTreeMap<SocketAddr, Timestamp>,
    /// Permanent peers: (failures since success, time of the last one).
    perm: BTreeMap<SocketAddr, (u32, Timestamp)>,
    /// Established ids: (progress counter, when it last grew or the
    /// connection was established).
    progress: BTreeMap<PeerId, (u64, Timestamp)>,
}

impl Model {
    /// `id` failed or ended at `now`.
    fn ended(&mut self, id: PeerId, now: Timestamp) {
        if let Some((a, _, connected)) = self.out.remove(&id) {
            if !connected {
                self.last.insert(a, now);
            }
            if let Some(p) = self.perm.get_mut(&a) {
                p.0 += 1;
                p.1 = now;
            }
        }
        self.inbound.remove(&id);
        self.progress.remove(&id);
    }

    /// The connections stalled by `now` (the manager drops them before it
    /// looks at a call made at `now`), taken out of the model.
    fn stall(&mut self, now: Timestamp, timeout: Duration) -> Vec<PeerId> {
        let due: Vec<PeerId> = self
            .progress
            .iter()
            .filter(|(_, (_, at))| *at + timeout <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.ended(*id, now);
        }
        due
    }
}

const STALL: Duration = Duration::from_secs(60);

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn never_exceeds_limits_dials_in_backoff_or_keeps_a_stalled_connection(
        ops in prop::collection::vec(op(), 1..200)
    ) {
        let cfg = ManagerConfig {
            target_outbound: 3,
            max_dials_in_flight: 2,
            max_inbound: 4,
            max_inbound_per_ip: 1,
            max_inbound_per_subnet: 2,
            max_permanent: 3,
            max_candidates: 4,
            max_history: 5,
            max_consecutive_failures: 3,
            stall_timeout: Some(STALL),
            ..ManagerConfig::default()
        };
        let mut m = Manager::new(cfg.clone());
        let mut md = Model::default();
        let mut now = Timestamp::ZERO;
        let mut stalled_total = 0u64;
        for op in ops {
            let ids: Vec<PeerId> = md.out.keys().chain(md.inbound.keys()).copied().collect();
            let pick = |i: usize| ids[i % ids.len()];
            if let Op::Timeout = op {
                if let Some(t) = m.poll_timeout() { now = now.max(t); }
            }
            let calls = match op {
                Op::Step(_) | Op::Jump(_) => false,
                Op::Connect(_) | Op::Fail(_) | Op::Disconnect(_) | Op::Progress(..) => !ids.is_empty(),
                _ => true,
            };
            let stalled = if calls { md.stall(now, STALL) } else { Vec::new() };
            match op {
                Op::Step(ms) => now += Duration::from_millis(ms),
                Op::Jump(s) => now += Duration::from_secs(s),
                Op::Candidate(i) => { m.add_candidate(now, addr(ADDRS[i])); }
                Op::AddPermanent(i) => {
                    let a = addr(ADDRS[i]);
                    if m.add_permanent(now, a) {
                        md.perm.insert(a, (0, now));
                        // An adopted automatic connection becomes permanent.
                        for v in md.out.values_mut() { if v.0 == a { v.1 = true; } }
                    }
                }
                Op::RemovePermanent(i) => {
                    let a = addr(ADDRS[i]);
                    if m.remove_permanent(now, a) {
                        md.perm.remove(&a);
                    }
                }
                Op::Connect(i) => {
                    if ids.is_empty() { continue; }
                    let id = pick(i);
                    m.on_connected(now, id);
                    if let Some(v) = md.out.get_mut(&id) {
                        if !v.2 {
                            v.2 = true;
                            md.progress.insert(id, (0, now));
                            if let Some(p) = md.perm.get_mut(&v.0) { p.0 = 0; }
                        }
                    }
                }
                Op::Fail(i) | Op::Disconnect(i) => {
                    if ids.is_empty() { continue; }
                    let id = pick(i);
                    if matches!(op, Op::Fail(_)) {
                        m.on_dial_failed(now, id, FAIL);
                    } else {
                        m.on_disconnected(now, id, CloseReason::Reset);
                    }
                    md.ended(id, now);
                }
                Op::Inbound(i) => {
                    let a = addr(ADDRS[i]);
                    if let InboundDecision::Accept(id) = m.on_inbound(now, a) {
                        md.inbound.insert(id, a);
                        md.progress.insert(id, (0, now));
                    }
                }
                Op::Progress(i, grow) => {
                    if ids.is_empty() { continue; }
                    let id = pick(i);
                    let value = md.progress.get(&id).map_or(0, |p| p.0) + grow;
                    m.on_progress(now, id, value);
                    if let Some(p) = md.progress.get_mut(&id) {
                        if value > p.0 { *p = (value, now); }
                    }
                }
                Op::Timeout => m.handle_timeout(now),
            }
            while let Some(o) = m.poll() {
                match o {
                    Output::Dial { id, addr: a } => {
                        let permanent = md.perm.contains_key(&a);
                        if permanent {
                            let (n, at) = md.perm[&a];
                            let wait = cfg.retry_duration.saturating_mul(n).min(cfg.max_retry_duration);
                            prop_assert!(n == 0 || now >= at + wait, "permanent {a} dialed in backoff");
                        } else if let Some(t) = md.last.get(&a) {
                            prop_assert!(now >= *t + cfg.redial_interval, "{a} redialed within the window");
                        }
                        prop_assert!(!md.out.values().any(|v| v.0 == a), "two dials to {a}");
                        md.last.insert(a, now);
                        md.out.insert(id, (a, permanent, false));
                    }
                    Output::Disconnect { id } => {
                        let reason = m.disconnect_reason(id);
                        if stalled.contains(&id) {
                            prop_assert_eq!(reason, Some(DisconnectReason::Stalled));
                        } else {
                            prop_assert_eq!(reason, Some(DisconnectReason::Requested));
                            prop_assert!(md.out.remove(&id).is_some());
                            md.progress.remove(&id);
                        }
                    }
                    Output::WantCandidate { count } => {
                        prop_assert!(count >= 1 && count <= cfg.target_outbound);
                        prop_assert!(!m.is_throttled(now));
                    }
                }
            }
            // Liveness: nothing established is past its deadline by the
            // manager's clock, and the manager wakes up by the earliest one.
            let earliest = md.progress.values().map(|(_, at)| *at + STALL).min();
            if calls {
                prop_assert!(earliest.is_none_or(|t| t > now), "stalled connection kept");
            }
            if let Some(t) = earliest {
                prop_assert!(m.poll_timeout().is_some_and(|p| p <= t), "no wake-up by {t:?}");
            }
            stalled_total += stalled.len() as u64;
            prop_assert_eq!(m.stats().stalled, stalled_total);
            // Limits, from the model's own bookkeeping.
            let dialing = md.out.values().filter(|v| !v.2).count();
            prop_assert!(dialing <= cfg.max_dials_in_flight);
            prop_assert_eq!(dialing, m.dialing());
            prop_assert_eq!(md.out.values().filter(|v| v.2).count(), m.outbound());
            let automatic = md.out.values().filter(|v| !v.1).count();
            prop_assert!(automatic <= cfg.target_outbound);
            prop_assert!(md.inbound.len() <= cfg.max_inbound);
            prop_assert_eq!(md.inbound.len(), m.inbound());
            let mut per_ip: BTreeMap<String, usize> = BTreeMap::new();
            for a in md.inbound.values() {
                let ip = match a.ip() {
                    std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6.to_string(), |v4| v4.to_string()),
                    v4 => v4.to_string(),
                };
                *per_ip.entry(ip).or_default() += 1;
            }
            prop_assert!(per_ip.values().all(|n| *n <= cfg.max_inbound_per_ip));
            let mut per_subnet: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
            for a in md.inbound.values() {
                let key = match a.ip() {
                    std::net::IpAddr::V4(v4) => v4.octets()[..3].to_vec(),
                    std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                        Some(v4) => v4.octets()[..3].to_vec(),
                        None => v6.octets()[..8].to_vec(),
                    },
                };
                *per_subnet.entry(key).or_default() += 1;
            }
            prop_assert!(per_subnet.values().all(|n| *n <= cfg.max_inbound_per_subnet));
            prop_assert!(m.queued_candidates() <= cfg.max_candidates);
            prop_assert!(md.perm.len() <= cfg.max_permanent);
        }
    }

    /// The fuzz target's body on arbitrary bytes: the same invariants,
    /// checked against the manager's internals.
    #[test]
    fn fuzz_body_holds_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Err(v) = utp_core::fuzzing::manager(&data) {
            prop_assert!(false, "{}", v);
        }
    }
}
