//! A sans-IO connection manager: "stay connected to eight good peers".
//!
//! A [`Manager`] decides *whom* to dial and *whom* to let in; it never owns a
//! socket and never calls the [`Endpoint`](crate::Endpoint). It is fed time,
//! the outcome of the dials it asked for, incoming connections and candidate
//! addresses, and it hands out [`Output`]s: dial this address, drop this
//! connection, give me candidates. An adapter or the application turns them
//! into [`Endpoint::connect`](crate::Endpoint::connect) and
//! [`Conn::close`](crate::Conn::close) and reports back:
//!
//! | what happened                          | call                                |
//! |----------------------------------------|-------------------------------------|
//! | a [`Output::Dial`] connected           | [`Manager::on_connected`]           |
//! | it failed (refused, timed out, error)  | [`Manager::on_dial_failed`]         |
//! | an established connection ended        | [`Manager::on_disconnected`]        |
//! | ... with the peer's close-reason code  | [`Manager::on_disconnected_with`]   |
//! | a connection moved bytes (a counter)   | [`Manager::on_progress`]            |
//! | a connection came in (before accepting)| [`Manager::on_inbound`]             |
//! | an address to try                      | [`Manager::add_candidate`]          |
//! | a peer to keep forever                 | [`Manager::add_permanent`]          |
//!
//! After every call, drain [`Manager::poll`] until `None`; wait until
//! [`Manager::poll_timeout`] and call [`Manager::handle_timeout`], as with
//! the endpoint. Time is always an argument (time going backwards is taken
//! as no time passing); the same calls give the same outputs.
//!
//! ## Policy (defaults in [`ManagerConfig`], from btcd and go-ethereum)
//!
//! - **Target.** While fewer than `target_outbound` outbound connections
//!   are established or being dialed, the manager dials queued candidates,
//!   and when none are queued it emits [`Output::WantCandidate`] (again at
//!   once after a failure or disconnect, otherwise every `retry_duration`).
//! - **Candidates** are skipped if the address is queued, dialed, connected
//!   or permanent already, or was dialed or failed within
//!   `redial_interval` (35 s): no address is dialed automatically twice in
//!   that window.
//! - **Permanent peers** are dialed at once when added and redialed forever:
//!   after the n-th consecutive failure (a dial failing, or an established
//!   connection ending) `min(n × 5 s, 5 min)` later; a success resets n.
//!   They count towards the target, are kept above it and bypass the
//!   redial window.
//! - **Throttle.** From the 25th consecutive failure of automatic dials on,
//!   each failure pauses automatic dials and candidate requests for one
//!   `retry_duration`; an automatic success ends it.
//! - **Dial cap.** At most `max_dials_in_flight` (50) dials at once;
//!   permanent peers go first.
//! - **Inbound limits** on the total, per IP and per /24 (IPv4) or /64
//!   (IPv6), so one host or one network cannot take every slot.
//! - **Liveness.** An established connection (either direction) whose
//!   progress counter has not grown for `stall_timeout` (120 s,
//!   BitTorrent's keepalive interval) is dropped at exactly that deadline
//!   ([`Output::Disconnect`], counted in [`ManagerStats::stalled`]) and
//!   replaced as after any disconnect: an automatic one by the next
//!   candidate, a permanent one on its retry schedule. Deadlines sit in an
//!   ordered set; a connection due is dropped before the call that reaches
//!   its deadline is looked at, so a late progress report does not save it.
//!   The application reports progress often enough, or sets
//!   `stall_timeout: None`.
//! - **Disconnect reasons.** Every [`Output::Disconnect`] has a
//!   [`DisconnectReason`] ([`Manager::disconnect_reason`]): `Stalled` or
//!   `Requested` ([`Manager::remove_permanent`]); an inbound refusal has
//!   [`InboundRefusal::reason`]. The adapter sends it in the close-reason
//!   extension (3, as libtorrent does) with
//!   `conn.set_close_reason(Some(reason.wire_code()))` before closing; the
//!   codes are libtorrent's `close_reason_t` where one fits (see
//!   [`DisconnectReason`]). What the peer sent is
//!   [`DisconnectReason::from_wire_code`] of
//!   [`CloseInfo::peer_code`](crate::CloseInfo::peer_code), counted per
//!   reason by [`Manager::on_disconnected_with`].
//!
//! ## Memory
//!
//! Every table is bounded: connections by the caps above (dials in flight +
//! target + permanent + inbound), candidates by `max_candidates`, the dial
//! history by `max_history` (full of live entries, dials wait until the
//! oldest expires; an address still being dialed keeps its entry), the
//! stall deadlines by the established connections, the reasons by the
//! queued disconnects, the output queue by one entry per tracked
//! connection plus one candidate request. The `manager` fuzz target checks
//! these bounds and the policy against a model after every call.
//!
//! ## Not built yet (issue 13)
//!
//! The manager does not itself drop connections over the target or
//! duplicates (`TooManyPeers` and `Duplicate` are reasons for the
//! application to send); go-ethereum's "no inbound from the same IP within
//! 30 s" rate rule; the interop check of what libtorrent does with the
//! codes we send. The adapters' runners (`utp_tokio::Manager`,
//! `utp_async_std::Manager`, `utp_mio::Manager`) drive it through
//! `utp_driver::ManagerDriver`, which reports progress from the
//! connections' stats and sends the reasons; the 1,000-peer simulation
//! drives it by hand (`tests/scenarios/src/manager_sim`), as a runner
//! would.

mod config;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz;
mod liveness;
mod reason;
mod subnet;
mod types;

pub use config::ManagerConfig;
pub use reason::{DisconnectReason, PeerReasonCounts};
pub use types::{
    CandidateOutcome, DialFailure, InboundDecision, InboundRefusal, ManagerStats, Output, PeerId,
};

use crate::{CloseReason, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use subnet::{ip_key, subnet_key};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Automatic,
    Permanent,
    Inbound,
}

#[derive(Clone, Copy, Debug)]
struct Peer {
    addr: SocketAddr,
    kind: Kind,
    connected: bool,
    /// The last progress counter reported, and when it would stall
    /// (established connections with a `stall_timeout` only).
    progress: u64,
    stall_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug)]
enum PermState {
    /// Dial when this time comes.
    Waiting(Timestamp),
    /// Dialing or connected under this id.
    Active(PeerId),
}

#[derive(Clone, Copy, Debug)]
struct Permanent {
    failures: u32,
    state: PermState,
}

/// The sans-IO connection manager; see the [module docs](self).
#[derive(Debug)]
pub struct Manager {
    config: ManagerConfig,
    now: Timestamp,
    next_id: u64,
    peers: BTreeMap<PeerId, Peer>,
    /// Outbound connections (dialing or established) by address.
    outbound_by_addr: BTreeMap<SocketAddr, PeerId>,
    permanent: BTreeMap<SocketAddr, Permanent>,
    candidates: VecDeque<SocketAddr>,
    /// Last dial or failure of each address, and the same ordered by time.
    history: BTreeMap<SocketAddr, Timestamp>,
    history_order: BTreeSet<(Timestamp, SocketAddr)>,
    inbound_per_ip: BTreeMap<[u8; 16], usize>,
    inbound_per_subnet: BTreeMap<[u8; 16], usize>,
    inbound: usize,
    dialing: usize,
    outbound_connected: usize,
    consecutive_failures: u32,
    throttle_until: Timestamp,
    next_ask: Timestamp,
    outputs: VecDeque<Output>,
    /// Stall deadlines of established connections, earliest first.
    stalls: BTreeSet<(Timestamp, PeerId)>,
    /// Reasons of the queued [`Output::Disconnect`]s, and of the one
    /// [`Manager::poll`] returned last.
    reasons: BTreeMap<PeerId, DisconnectReason>,
    last_reason: Option<(PeerId, DisconnectReason)>,
    stats: ManagerStats,
}

impl Manager {
    /// A manager with this policy and nothing to do yet (with a nonzero
    /// target it asks for candidates at the first call).
    pub fn new(config: ManagerConfig) -> Self {
        Manager {
            config,
            now: Timestamp::ZERO,
            next_id: 0,
            peers: BTreeMap::new(),
            outbound_by_addr: BTreeMap::new(),
            permanent: BTreeMap::new(),
            candidates: VecDeque::new(),
            history: BTreeMap::new(),
            history_order: BTreeSet::new(),
            inbound_per_ip: BTreeMap::new(),
            inbound_per_subnet: BTreeMap::new(),
            inbound: 0,
            dialing: 0,
            outbound_connected: 0,
            consecutive_failures: 0,
            throttle_until: Timestamp::ZERO,
            next_ask: Timestamp::ZERO,
            outputs: VecDeque::new(),
            stalls: BTreeSet::new(),
            reasons: BTreeMap::new(),
            last_reason: None,
            stats: ManagerStats::default(),
        }
    }

    /// The policy.
    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> ManagerStats {
        self.stats
    }

    /// Dials in flight.
    pub fn dialing(&self) -> usize {
        self.dialing
    }

    /// Established outbound connections (permanent and automatic).
    pub fn outbound(&self) -> usize {
        self.outbound_connected
    }

    /// Inbound connections.
    pub fn inbound(&self) -> usize {
        self.inbound
    }

    /// Candidates queued.
    pub fn queued_candidates(&self) -> usize {
        self.candidates.len()
    }

    /// Whether automatic dials are paused by the throttle at `now`.
    pub fn is_throttled(&self, now: Timestamp) -> bool {
        now.max(self.now) < self.throttle_until
    }

    /// The next thing the manager wants done, oldest first. For an
    /// [`Output::Disconnect`], [`Manager::disconnect_reason`] says why until
    /// the next call of `poll`.
    pub fn poll(&mut self) -> Option<Output> {
        let out = self.outputs.pop_front();
        self.last_reason = match out {
            Some(Output::Disconnect { id }) => self.reasons.remove(&id).map(|r| (id, r)),
            _ => None,
        };
        out
    }

    /// When [`Manager::handle_timeout`] should be called next, if ever
    /// (without new input). May be in the past: call it then at once.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let now = self.now;
        let mut next: Option<Timestamp> = None;
        let mut consider = |t: Timestamp| {
            if t > now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if let Some(&(at, _)) = self.stalls.first() {
            consider(at);
        }
        let dial_slot = self.dialing < self.config.max_dials_in_flight;
        let history_wait = self.history_free_at();
        for p in self.permanent.values() {
            if let PermState::Waiting(at) = p.state {
                if dial_slot {
                    consider(at.max(history_wait.unwrap_or(at)));
                }
            }
        }
        if dial_slot && self.automatic_need() > 0 {
            if now < self.throttle_until {
                consider(self.throttle_until);
            } else if self.candidates.is_empty() {
                consider(self.next_ask);
            } else if let Some(t) = history_wait {
                consider(t);
            }
        }
        next
    }

    /// Time passed: drop the connections that stalled, start the dials
    /// that became due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.pump(now);
    }

    /// Offer an address to dial when the manager is short of outbound
    /// connections.
    pub fn add_candidate(&mut self, now: Timestamp, addr: SocketAddr) -> CandidateOutcome {
        self.advance(now);
        let outcome = if self.permanent.contains_key(&addr)
            || self.outbound_by_addr.contains_key(&addr)
            || self.candidates.contains(&addr)
        {
            CandidateOutcome::Known
        } else if self.recently_dialed(addr) {
            CandidateOutcome::RecentlyDialed
        } else if self.candidates.len() >= self.config.max_candidates {
            CandidateOutcome::Full
        } else {
            self.candidates.push_back(addr);
            CandidateOutcome::Queued
        };
        if outcome != CandidateOutcome::Queued {
            self.stats.candidates_skipped += 1;
        }
        self.pump(now);
        outcome
    }

    /// Keep a connection to `addr` forever (dialed at once, redialed after
    /// failures on the retry schedule). An automatic connection to `addr`
    /// already dialing or established becomes the permanent one. Returns
    /// false if `addr` is permanent already or `max_permanent` are.
    pub fn add_permanent(&mut self, now: Timestamp, addr: SocketAddr) -> bool {
        self.advance(now);
        if self.permanent.contains_key(&addr) || self.permanent.len() >= self.config.max_permanent {
            self.pump(now);
            return false;
        }
        self.candidates.retain(|a| *a != addr);
        let state = match self.outbound_by_addr.get(&addr).copied() {
            Some(id) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.kind = Kind::Permanent;
                }
                PermState::Active(id)
            }
            None => PermState::Waiting(self.now),
        };
        self.permanent
            .insert(addr, Permanent { failures: 0, state });
        self.pump(now);
        true
    }

    /// Stop keeping `addr`: its connection (dialing or established) is
    /// dropped ([`Output::Disconnect`], or its [`Output::Dial`] withdrawn if
    /// not polled yet). Returns false if `addr` was not permanent.
    pub fn remove_permanent(&mut self, now: Timestamp, addr: SocketAddr) -> bool {
        self.advance(now);
        let removed = match self.permanent.remove(&addr) {
            Some(p) => {
                if let PermState::Active(id) = p.state {
                    self.forget(id);
                    let before = self.outputs.len();
                    self.outputs
                        .retain(|o| !matches!(o, Output::Dial { id: d, .. } if *d == id));
                    if self.outputs.len() == before {
                        self.push_disconnect(id, DisconnectReason::Requested);
                    }
                }
                true
            }
            None => false,
        };
        self.pump(now);
        removed
    }

    /// Dial `id` connected.
    pub fn on_connected(&mut self, now: Timestamp, id: PeerId) {
        self.advance(now);
        match self.peers.get_mut(&id) {
            Some(peer) if !peer.connected && peer.kind != Kind::Inbound => {
                peer.connected = true;
                let kind = peer.kind;
                let addr = peer.addr;
                self.arm_stall(id);
                self.dialing = self.dialing.saturating_sub(1);
                self.outbound_connected += 1;
                self.stats.connected += 1;
                match kind {
                    Kind::Automatic => self.consecutive_failures = 0,
                    Kind::Permanent => {
                        if let Some(p) = self.permanent.get_mut(&addr) {
                            p.failures = 0;
                        }
                    }
                    Kind::Inbound => {}
                }
            }
            _ => self.stats.ignored_reports += 1,
        }
        self.pump(now);
    }

    /// Dial `id` failed. (An established connection reported here counts
    /// as [`Manager::on_disconnected`].)
    pub fn on_dial_failed(&mut self, now: Timestamp, id: PeerId, reason: DialFailure) {
        let _ = reason; // Reasons are not used by the policy yet.
        self.advance(now);
        self.ended(id);
        self.pump(now);
    }

    /// Connection `id` (outbound or inbound) ended. (A dial reported here
    /// counts as [`Manager::on_dial_failed`].)
    pub fn on_disconnected(&mut self, now: Timestamp, id: PeerId, reason: CloseReason) {
        let _ = reason; // Reasons are not used by the policy yet.
        self.advance(now);
        self.ended(id);
        self.pump(now);
    }

    /// A connection from `peer` arrived: accept it (and report its end
    /// under the returned id) or refuse it.
    pub fn on_inbound(&mut self, now: Timestamp, peer: SocketAddr) -> InboundDecision {
        self.advance(now);
        let ip = ip_key(peer.ip());
        let subnet = subnet_key(peer.ip());
        let decision = if self.inbound >= self.config.max_inbound {
            InboundDecision::Refuse(InboundRefusal::Total)
        } else if self.inbound_per_ip.get(&ip).copied().unwrap_or(0)
            >= self.config.max_inbound_per_ip
        {
            InboundDecision::Refuse(InboundRefusal::PerIp)
        } else if self.inbound_per_subnet.get(&subnet).copied().unwrap_or(0)
            >= self.config.max_inbound_per_subnet
        {
            InboundDecision::Refuse(InboundRefusal::PerSubnet)
        } else {
            let id = self.new_id();
            self.peers.insert(
                id,
                Peer {
                    addr: peer,
                    kind: Kind::Inbound,
                    connected: true,
                    progress: 0,
                    stall_at: None,
                },
            );
            self.arm_stall(id);
            self.inbound += 1;
            *self.inbound_per_ip.entry(ip).or_insert(0) += 1;
            *self.inbound_per_subnet.entry(subnet).or_insert(0) += 1;
            InboundDecision::Accept(id)
        };
        match decision {
            InboundDecision::Accept(_) => self.stats.inbound_accepted += 1,
            InboundDecision::Refuse(_) => self.stats.inbound_refused += 1,
        }
        self.pump(now);
        decision
    }

    /// Moves the clock to `now` and drops the connections that stalled by
    /// then, before the call that brought `now` is looked at.
    fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        self.drop_stalled();
    }

    fn new_id(&mut self) -> PeerId {
        let id = PeerId(self.next_id);
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    /// Outbound connections short of the target.
    fn automatic_need(&self) -> usize {
        self.config
            .target_outbound
            .saturating_sub(self.dialing + self.outbound_connected)
    }

    fn recently_dialed(&self, addr: SocketAddr) -> bool {
        self.history
            .get(&addr)
            .is_some_and(|t| self.now < *t + self.config.redial_interval)
    }

    /// Forgets the dials and failures older than `redial_interval`, except
    /// for addresses still being dialed: their entry is renewed at now, so
    /// that the failure that may come is recorded in place and the history
    /// never grows past `max_history` (found by the `manager` fuzz target).
    fn expire_history(&mut self) {
        let mut renew = Vec::new();
        while let Some(&(t, addr)) = self.history_order.first() {
            if self.now < t + self.config.redial_interval {
                break;
            }
            self.history_order.remove(&(t, addr));
            let dialing = self
                .outbound_by_addr
                .get(&addr)
                .and_then(|id| self.peers.get(id))
                .is_some_and(|p| !p.connected);
            if dialing {
                renew.push(addr);
            } else {
                self.history.remove(&addr);
            }
        }
        for addr in renew {
            self.history.insert(addr, self.now);
            self.history_order.insert((self.now, addr));
        }
    }

    /// When the full history gets a free entry (None if not full).
    fn history_free_at(&self) -> Option<Timestamp> {
        if self.history.len() < self.config.max_history {
            return None;
        }
        Some(
            self.history_order
                .first()
                .map_or(self.now, |(t, _)| *t + self.config.redial_interval),
        )
    }

    /// Whether a dial of `addr` can be recorded in the history now.
    fn history_room(&self, addr: SocketAddr) -> bool {
        self.history.contains_key(&addr) || self.history.len() < self.config.max_history
    }

    fn record(&mut self, addr: SocketAddr) {
        if let Some(old) = self.history.insert(addr, self.now) {
            self.history_order.remove(&(old, addr));
        }
        self.history_order.insert((self.now, addr));
    }

    /// Drop `id` from the tables (no outputs, no policy).
    fn forget(&mut self, id: PeerId) -> Option<Peer> {
        let peer = self.peers.remove(&id)?;
        if let Some(at) = peer.stall_at {
            self.stalls.remove(&(at, id));
        }
        match peer.kind {
            Kind::Inbound => {
                self.inbound = self.inbound.saturating_sub(1);
                decrement(&mut self.inbound_per_ip, ip_key(peer.addr.ip()));
                decrement(&mut self.inbound_per_subnet, subnet_key(peer.addr.ip()));
            }
            Kind::Automatic | Kind::Permanent => {
                if self.outbound_by_addr.get(&peer.addr) == Some(&id) {
                    self.outbound_by_addr.remove(&peer.addr);
                }
                if peer.connected {
                    self.outbound_connected = self.outbound_connected.saturating_sub(1);
                } else {
                    self.dialing = self.dialing.saturating_sub(1);
                }
            }
        }
        Some(peer)
    }

    /// A dial failed or a connection ended: apply the policy.
    fn ended(&mut self, id: PeerId) {
        let Some(peer) = self.forget(id) else {
            self.stats.ignored_reports += 1;
            return;
        };
        if peer.connected {
            self.stats.disconnected += 1;
        } else {
            self.stats.dial_failures += 1;
        }
        self.after_end(peer);
    }

    /// The policy after `peer` (forgotten already) failed or ended.
    fn after_end(&mut self, peer: Peer) {
        if !peer.connected && peer.kind != Kind::Inbound {
            self.record(peer.addr);
        }
        match peer.kind {
            Kind::Inbound => {}
            Kind::Automatic => {
                if !peer.connected {
                    self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                    if self.consecutive_failures >= self.config.max_consecutive_failures {
                        self.throttle_until = self.now + self.config.retry_duration;
                        self.stats.throttled += 1;
                    }
                }
                self.next_ask = self.now;
            }
            Kind::Permanent => {
                if let Some(p) = self.permanent.get_mut(&peer.addr) {
                    p.failures = p.failures.saturating_add(1);
                    let delay = self
                        .config
                        .retry_duration
                        .saturating_mul(p.failures)
                        .min(self.config.max_retry_duration);
                    p.state = PermState::Waiting(self.now + delay);
                }
            }
        }
    }

    fn start_dial(&mut self, addr: SocketAddr, kind: Kind) -> PeerId {
        let id = self.new_id();
        self.peers.insert(
            id,
            Peer {
                addr,
                kind,
                connected: false,
                progress: 0,
                stall_at: None,
            },
        );
        self.outbound_by_addr.insert(addr, id);
        self.dialing += 1;
        self.record(addr);
        self.stats.dials += 1;
        self.outputs.push_back(Output::Dial { id, addr });
        id
    }

    /// Start every dial that is due and allowed, ask for candidates.
    fn pump(&mut self, now: Timestamp) {
        self.advance(now);
        self.expire_history();
        // Permanent peers first.
        let due: Vec<SocketAddr> = self
            .permanent
            .iter()
            .filter(|(_, p)| matches!(p.state, PermState::Waiting(at) if at <= self.now))
            .map(|(a, _)| *a)
            .collect();
        for addr in due {
            if self.dialing >= self.config.max_dials_in_flight {
                break;
            }
            // An outbound to a permanent address is always its own, so the
            // second test cannot hold; it is kept as a guard.
            if !self.history_room(addr) || self.outbound_by_addr.contains_key(&addr) {
                continue;
            }
            let id = self.start_dial(addr, Kind::Permanent);
            if let Some(p) = self.permanent.get_mut(&addr) {
                p.state = PermState::Active(id);
            }
        }
        // Automatic dials.
        if self.now < self.throttle_until {
            return;
        }
        while self.automatic_need() > 0 && self.dialing < self.config.max_dials_in_flight {
            if self.history.len() >= self.config.max_history {
                return;
            }
            let Some(addr) = self.candidates.pop_front() else {
                break;
            };
            if self.permanent.contains_key(&addr)
                || self.outbound_by_addr.contains_key(&addr)
                || self.recently_dialed(addr)
            {
                self.stats.candidates_skipped += 1;
                continue;
            }
            self.start_dial(addr, Kind::Automatic);
        }
        let need = self.automatic_need();
        if need > 0
            && self.candidates.is_empty()
            && self.dialing < self.config.max_dials_in_flight
            && self.now >= self.next_ask
        {
            self.next_ask = self.now + self.config.retry_duration;
            let pending = self
                .outputs
                .iter_mut()
                .find(|o| matches!(o, Output::WantCandidate { .. }));
            match pending {
                Some(o) => *o = Output::WantCandidate { count: need },
                None => self
                    .outputs
                    .push_back(Output::WantCandidate { count: need }),
            }
        }
    }
}

fn decrement(map: &mut BTreeMap<[u8; 16], usize>, key: [u8; 16]) {
    if let Some(n) = map.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}
