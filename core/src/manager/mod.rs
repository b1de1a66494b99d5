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
//!
//! ## Memory
//!
//! Every table is bounded: connections by the caps above (dials in flight +
//! target + permanent + inbound), candidates by `max_candidates`, the dial
//! history by `max_history` (full of live entries, dials wait until the
//! oldest expires), the output queue by one entry per tracked connection
//! plus one candidate request.
//!
//! ## Not built yet (issue 13)
//!
//! Disconnect reasons carried on the wire (the close-reason extension 3
//! that libtorrent uses) and surfaced on both sides; dropping and replacing
//! a connection that stops making progress (liveness); go-ethereum's
//! "no inbound from the same IP within 30 s" rate rule; the adapter runners
//! (`utp_tokio::Manager` and friends); the examples, the 1,000-peer
//! simulation and the fuzz target.

mod config;
mod subnet;

pub use config::ManagerConfig;

use crate::{CloseReason, ConnectError, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use subnet::{ip_key, subnet_key};

/// The manager's name for one connection (dialed or inbound). Unique for the
/// life of a [`Manager`]; never reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PeerId(u64);

impl PeerId {
    /// The number behind the id (for logs and maps).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// Something the manager wants done; see [`Manager::poll`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Output {
    /// Connect to `addr` and report the outcome under `id`
    /// ([`Manager::on_connected`] or [`Manager::on_dial_failed`]).
    Dial {
        /// Name of the connection in later reports.
        id: PeerId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// Close connection `id` (dialing or established). The manager has
    /// forgotten it already; later reports about it are ignored.
    Disconnect {
        /// The connection to close.
        id: PeerId,
    },
    /// The manager is short of outbound connections and has no candidate
    /// queued: give it up to `count` addresses with
    /// [`Manager::add_candidate`] (or none, if you have none; it asks again).
    WantCandidate {
        /// How many more outbound connections it needs.
        count: usize,
    },
}

/// Why a dial failed; see [`Manager::on_dial_failed`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DialFailure {
    /// The connection closed before it was established.
    Closed(CloseReason),
    /// [`Endpoint::connect`](crate::Endpoint::connect) refused to start it.
    Connect(ConnectError),
}

/// Answer to [`Manager::on_inbound`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InboundDecision {
    /// Accept it; report its end under this id.
    Accept(PeerId),
    /// Refuse it (close it at once).
    Refuse(InboundRefusal),
}

/// Which inbound limit refused a connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InboundRefusal {
    /// `max_inbound` connections are in already.
    Total,
    /// `max_inbound_per_ip` connections come from this IP already.
    PerIp,
    /// `max_inbound_per_subnet` connections come from this /24 or /64.
    PerSubnet,
}

/// Answer to [`Manager::add_candidate`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CandidateOutcome {
    /// Queued; it is dialed when a slot is free.
    Queued,
    /// Already queued, dialed, connected or a permanent peer.
    Known,
    /// Dialed or failed within `redial_interval`: skipped.
    RecentlyDialed,
    /// `max_candidates` are queued: refused.
    Full,
}

/// Counters since the manager was made.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ManagerStats {
    /// Dials requested.
    pub dials: u64,
    /// Dials reported failed.
    pub dial_failures: u64,
    /// Dials reported connected.
    pub connected: u64,
    /// Established connections reported ended (both directions).
    pub disconnected: u64,
    /// Inbound connections accepted.
    pub inbound_accepted: u64,
    /// Inbound connections refused.
    pub inbound_refused: u64,
    /// Candidates skipped (at [`Manager::add_candidate`] or when dequeued).
    pub candidates_skipped: u64,
    /// Times a failure paused automatic dialling (the throttle).
    pub throttled: u64,
    /// Reports about unknown or forgotten ids, ignored.
    pub ignored_reports: u64,
}

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

    /// The next thing the manager wants done, oldest first.
    pub fn poll(&mut self) -> Option<Output> {
        self.outputs.pop_front()
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

    /// Time passed: start the dials that became due.
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
                        self.outputs.push_back(Output::Disconnect { id });
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
                self.dialing = self.dialing.saturating_sub(1);
                self.outbound_connected += 1;
                self.stats.connected += 1;
                match peer.kind {
                    Kind::Automatic => self.consecutive_failures = 0,
                    Kind::Permanent => {
                        if let Some(p) = self.permanent.get_mut(&peer.addr) {
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
                },
            );
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

    fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
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

    fn expire_history(&mut self) {
        while let Some(&(t, addr)) = self.history_order.first() {
            if self.now < t + self.config.redial_interval {
                break;
            }
            self.history_order.remove(&(t, addr));
            self.history.remove(&addr);
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
            if peer.kind != Kind::Inbound {
                self.record(peer.addr);
            }
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
