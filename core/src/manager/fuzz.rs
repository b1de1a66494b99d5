//! The body of the `manager` fuzz target (see
//! [`fuzzing::manager`](crate::fuzzing::manager)): a model of what the
//! manager was told, checked against what it does after every call.

use super::subnet::{ip_key, subnet_key};
use super::{DisconnectReason, InboundDecision, Kind, Manager, ManagerConfig, Output, PeerId};
use crate::fuzzing::{Input, Violation};
use crate::{CloseInfo, CloseReason, Timer, Timestamp};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Calls per input, so one input stays fast.
const MAX_OPS: usize = 2_000;
/// `poll` calls after one call before the queue must be empty.
const MAX_POLLS: usize = 10_000;

/// Two hosts sharing an IP, hosts sharing a /24 and a /64, an IPv4-mapped
/// spelling of an IPv4 host.
fn addr(i: u8) -> SocketAddr {
    let v4 = |d: u8, port: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, d)), port);
    let v6 = |g: u16, h: u16| {
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, g, 0, 0, 0, h)),
            1,
        )
    };
    match i % 10 {
        0 => v4(1, 1),
        1 => v4(1, 2),
        2 => v4(9, 1),
        3 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 1),
        4 => v6(0, 1),
        5 => v6(0, 2),
        6 => v6(1, 1),
        7 => SocketAddr::new(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped()), 7),
        8 => v4(200, 1),
        _ => v6(1, 9),
    }
}

fn config(input: &mut Input<'_>) -> ManagerConfig {
    let mut c = ManagerConfig::default();
    let mut small = |max: u8| usize::from(input.u8() % (max + 1));
    c.target_outbound = small(4);
    c.max_dials_in_flight = small(3);
    c.max_inbound = small(4);
    c.max_inbound_per_ip = small(2);
    c.max_inbound_per_subnet = small(3);
    c.max_permanent = small(3);
    c.max_candidates = small(4);
    c.max_history = small(6);
    c.max_consecutive_failures = u32::from(input.u8() % 5);
    c.retry_duration = Duration::from_millis(u64::from(input.u8()) * 100);
    c.max_retry_duration = Duration::from_millis(u64::from(input.u8()) * 500);
    c.redial_interval = Duration::from_millis(u64::from(input.u8()) * 200);
    let stall = input.u8();
    c.stall_timeout = (stall != 0).then(|| Duration::from_millis(u64::from(stall) * 250));
    c
}

#[derive(Default)]
struct Model {
    /// Outbound ids: (addr, connected).
    out: BTreeMap<PeerId, (SocketAddr, bool)>,
    inbound: BTreeMap<PeerId, SocketAddr>,
    /// Established ids: (progress counter, time it last grew or the
    /// connection was established).
    progress: BTreeMap<PeerId, (u64, Timestamp)>,
    /// Last dial start or failure of each address.
    last: BTreeMap<SocketAddr, Timestamp>,
    /// Permanent peers: (failures since success, time of the last one).
    perm: BTreeMap<SocketAddr, (u32, Timestamp)>,
}

impl Model {
    fn ids(&self) -> Vec<PeerId> {
        self.out
            .keys()
            .chain(self.inbound.keys())
            .copied()
            .collect()
    }

    /// The connection `id` ended (dial failed, disconnected, dropped).
    fn ended(&mut self, id: PeerId, now: Timestamp) {
        if let Some((a, connected)) = self.out.remove(&id) {
            if !connected {
                self.last.insert(a, now);
            }
            if let Some(p) = self.perm.get_mut(&a) {
                p.0 = p.0.saturating_add(1);
                p.1 = now;
            }
        }
        self.inbound.remove(&id);
        self.progress.remove(&id);
    }
}

fn fail<T>(msg: String) -> Result<T, Violation> {
    Err(Violation(msg))
}

/// One run; returns every output in order.
fn run_once(data: &[u8]) -> Result<Vec<Output>, Violation> {
    let mut input = Input { data };
    let cfg = config(&mut input);
    let mut m = Manager::new(cfg.clone());
    let mut md = Model::default();
    let mut clock = Timestamp::ZERO;
    let mut trace = Vec::new();
    let mut ops = 0;
    while !input.is_empty() && ops < MAX_OPS {
        ops += 1;
        let ids = md.ids();
        let pick = |i: u8| -> Option<PeerId> {
            match ids.len() {
                0 => None,
                n => ids.get(usize::from(i) % n).copied(),
            }
        };
        let op = input.u8();
        let arg = input.u8();
        // What the call is about, for the model, once the manager has taken
        // it (connections that stalled by then are dropped first).
        let mut connected: Option<PeerId> = None;
        let mut ended: Option<PeerId> = None;
        let mut progress: Option<(PeerId, u64)> = None;
        if op % 14 == 11 {
            if let Some(t) = m.poll_timeout() {
                clock = clock.max(t);
            }
        }
        let calls = match op % 14 {
            0 | 1 => false,
            5..=8 | 10 => !ids.is_empty(),
            _ => true,
        };
        // Connections that stalled by the time of the call: the manager
        // drops them before it looks at the call (their Disconnects come
        // first among the call's outputs), so the model does too.
        let mut stalled_due: Vec<PeerId> = Vec::new();
        if let (true, Some(timeout)) = (calls, cfg.stall_timeout) {
            for (id, (_, at)) in &md.progress {
                if *at + timeout <= clock {
                    stalled_due.push(*id);
                }
            }
        }
        for id in &stalled_due {
            md.ended(*id, clock);
        }
        match op % 14 {
            0 => clock += Duration::from_millis(u64::from(arg) * 10),
            1 => clock += Duration::from_secs(u64::from(input.u16())),
            2 => {
                m.add_candidate(clock, addr(arg));
            }
            3 => {
                let a = addr(arg);
                if m.add_permanent(clock, a) {
                    md.perm.insert(a, (0, clock));
                }
            }
            4 => {
                if m.remove_permanent(clock, addr(arg)) {
                    md.perm.remove(&addr(arg));
                }
            }
            5 => {
                if let Some(id) = pick(arg) {
                    m.on_connected(clock, id);
                    connected = Some(id);
                }
            }
            6 => {
                if let Some(id) = pick(arg) {
                    let why = CloseReason::TimedOut(Timer::Connect);
                    m.on_dial_failed(clock, id, super::DialFailure::Closed(why));
                    ended = Some(id);
                }
            }
            7 | 8 => {
                if let Some(id) = pick(arg) {
                    let code = input.u16();
                    if op % 14 == 7 {
                        m.on_disconnected(clock, id, CloseReason::Reset);
                    } else {
                        let peer_code = (code & 1 == 1).then_some(code >> 1);
                        let info = CloseInfo {
                            reason: CloseReason::Reset,
                            peer_code,
                        };
                        m.on_disconnected_with(clock, id, info);
                    }
                    ended = Some(id);
                }
            }
            9 => {
                if let InboundDecision::Accept(id) = m.on_inbound(clock, addr(arg)) {
                    if md.out.contains_key(&id) || md.inbound.contains_key(&id) {
                        return Err(Violation(format!("inbound id {id:?} reused")));
                    }
                    md.inbound.insert(id, addr(arg));
                    md.progress.insert(id, (0, clock));
                }
            }
            10 => {
                if let Some(id) = pick(arg) {
                    let value = match input.u8() {
                        0 => 0,
                        step => md.progress.get(&id).map_or(0, |p| p.0) + u64::from(step % 4),
                    };
                    m.on_progress(clock, id, value);
                    progress = Some((id, value));
                }
            }
            11 | 12 => m.handle_timeout(clock),
            _ => {
                // A report about an id the manager never gave out.
                let id = PeerId(u64::from(input.u16()) + 1_000_000);
                m.on_connected(clock, id);
                m.on_progress(clock, id, 1);
                m.on_dial_failed(clock, id, super::DialFailure::Closed(CloseReason::Refused));
            }
        }
        // The manager's clock: `clock` if it was called, earlier if the op
        // was a time step only.
        let now = m.now;
        if calls && now != clock {
            return fail(format!("manager clock {now:?}, call at {clock:?}"));
        }
        if let Some(id) = connected {
            if let Some(v) = md.out.get_mut(&id) {
                if !v.1 {
                    v.1 = true;
                    md.progress.insert(id, (0, now));
                    if let Some(p) = md.perm.get_mut(&v.0) {
                        p.0 = 0;
                    }
                }
            }
        }
        if let Some(id) = ended {
            md.ended(id, now);
        }
        if let Some((id, value)) = progress {
            if let Some(p) = md.progress.get_mut(&id) {
                if value > p.0 {
                    *p = (value, now);
                }
            }
        }
        check_queue(&m, &cfg)?;
        let mut polls = 0;
        while let Some(o) = m.poll() {
            polls += 1;
            if polls > MAX_POLLS {
                return Err(Violation("poll does not end".into()));
            }
            trace.push(o);
            match o {
                Output::Dial { id, addr: a } => {
                    if let Some(&(n, at)) = md.perm.get(&a) {
                        let wait = cfg
                            .retry_duration
                            .saturating_mul(n)
                            .min(cfg.max_retry_duration);
                        if n > 0 && now < at + wait {
                            return Err(Violation(format!("permanent {a} dialed in backoff")));
                        }
                    } else if let Some(t) = md.last.get(&a) {
                        if now < *t + cfg.redial_interval {
                            return Err(Violation(format!("{a} redialed within the window")));
                        }
                    }
                    if md.out.values().any(|v| v.0 == a) {
                        return Err(Violation(format!("two dials to {a}")));
                    }
                    md.last.insert(a, now);
                    md.out.insert(id, (a, false));
                }
                Output::Disconnect { id } => {
                    let reason = m.disconnect_reason(id);
                    let stalled = stalled_due.contains(&id);
                    match reason {
                        Some(DisconnectReason::Stalled) if stalled => {}
                        Some(DisconnectReason::Requested)
                            if !stalled && md.out.contains_key(&id) =>
                        {
                            // remove_permanent: no failure, no new history.
                            md.out.remove(&id);
                            md.progress.remove(&id);
                        }
                        other => {
                            return Err(Violation(format!(
                                "disconnect of {id:?} with reason {other:?} (stall due: {stalled})"
                            )))
                        }
                    }
                }
                Output::WantCandidate { count } => {
                    if count == 0 || count > cfg.target_outbound {
                        return Err(Violation(format!("WantCandidate {count}")));
                    }
                    if m.is_throttled(now) {
                        return Err(Violation("candidate request while throttled".into()));
                    }
                }
            }
        }
        check_tables(&m, &md, &cfg, now)?;
    }
    Ok(trace)
}

/// The output queue: one entry per connection it names plus one candidate
/// request (every Disconnect and Dial names a distinct connection).
fn check_queue(m: &Manager, cfg: &ManagerConfig) -> Result<(), Violation> {
    let conns = cfg.max_dials_in_flight + cfg.target_outbound + cfg.max_permanent + cfg.max_inbound;
    if m.outputs.len() > 2 * conns + 1 {
        return fail(format!("{} outputs queued", m.outputs.len()));
    }
    if m.reasons.len() > m.outputs.len() {
        return fail("reasons kept for disconnects no longer queued".into());
    }
    Ok(())
}

fn check_tables(
    m: &Manager,
    md: &Model,
    cfg: &ManagerConfig,
    now: Timestamp,
) -> Result<(), Violation> {
    let dialing = md.out.values().filter(|v| !v.1).count();
    if dialing != m.dialing() || dialing > cfg.max_dials_in_flight {
        return fail(format!("dialing {dialing}, manager {}", m.dialing()));
    }
    let automatic = m
        .peers
        .values()
        .filter(|p| p.kind == Kind::Automatic)
        .count();
    if automatic > cfg.target_outbound {
        return fail(format!(
            "{automatic} automatic over target {}",
            cfg.target_outbound
        ));
    }
    let outbound = md.out.values().filter(|v| v.1).count();
    if outbound != m.outbound() || md.inbound.len() != m.inbound() {
        return fail(format!(
            "outbound {outbound}/{}, inbound {}/{}",
            m.outbound(),
            md.inbound.len(),
            m.inbound()
        ));
    }
    if md.inbound.len() > cfg.max_inbound {
        return fail("inbound over max_inbound".into());
    }
    let mut per_ip: BTreeMap<[u8; 16], usize> = BTreeMap::new();
    let mut per_subnet: BTreeMap<[u8; 16], usize> = BTreeMap::new();
    for a in md.inbound.values() {
        *per_ip.entry(ip_key(a.ip())).or_default() += 1;
        *per_subnet.entry(subnet_key(a.ip())).or_default() += 1;
    }
    if per_ip.values().any(|n| *n > cfg.max_inbound_per_ip)
        || per_subnet.values().any(|n| *n > cfg.max_inbound_per_subnet)
    {
        return fail("inbound per IP or per subnet over its limit".into());
    }
    if m.peers.len() != md.out.len() + md.inbound.len() {
        return fail(format!(
            "{} peers tracked, model {}",
            m.peers.len(),
            md.out.len() + md.inbound.len()
        ));
    }
    if m.queued_candidates() > cfg.max_candidates || m.permanent.len() > cfg.max_permanent {
        return fail("candidates or permanent peers over their limits".into());
    }
    if m.history.len() > cfg.max_history || m.history.len() != m.history_order.len() {
        return fail(format!(
            "history {} entries ({} ordered), max {}",
            m.history.len(),
            m.history_order.len(),
            cfg.max_history
        ));
    }
    // Liveness: every established connection has a deadline in the future,
    // exactly its last progress plus the timeout.
    let established = m.peers.values().filter(|p| p.connected).count();
    match cfg.stall_timeout {
        Some(timeout) => {
            if m.stalls.len() != established {
                return fail(format!(
                    "{} stall deadlines, {established} established",
                    m.stalls.len()
                ));
            }
            for (id, (_, at)) in &md.progress {
                let due = *at + timeout;
                if !m.stalls.contains(&(due, *id)) || due <= now {
                    return fail(format!(
                        "{id:?} kept past its stall deadline {due:?} at {now:?}"
                    ));
                }
            }
        }
        None => {
            if !m.stalls.is_empty() {
                return fail("stall deadlines without a stall_timeout".into());
            }
        }
    }
    if let Some(t) = m.poll_timeout() {
        if t <= now {
            return fail(format!("poll_timeout {t:?} not after now {now:?}"));
        }
    }
    Ok(())
}

/// See [`fuzzing::manager`](crate::fuzzing::manager).
pub(crate) fn run(data: &[u8]) -> Result<(), Violation> {
    let first = run_once(data)?;
    let second = run_once(data)?;
    if first != second {
        return fail("same calls, different outputs".into());
    }
    Ok(())
}
