//! The manager's policy knobs and their defaults.

use std::time::Duration;

/// Policy of a [`Manager`](super::Manager). Every default is named after
/// where it comes from (`../shared/reference/P2P.md`, "Connection managers").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerConfig {
    /// Outbound connections to keep (permanent peers count towards it).
    /// Default 8 (btcd's `TargetOutbound`).
    pub target_outbound: usize,
    /// Step of a permanent peer's retry delay: after its n-th consecutive
    /// failure it is redialed `n × retry_duration` later. Also the pause
    /// after too many failed automatic dials, and the interval at which a
    /// manager short of candidates asks again. Default 5 s (btcd).
    pub retry_duration: Duration,
    /// Cap of a permanent peer's retry delay. Default 5 min (btcd).
    pub max_retry_duration: Duration,
    /// After this many consecutive failed automatic dials, every further
    /// failure pauses automatic dialling (and asking for candidates) for one
    /// `retry_duration`, until an automatic dial succeeds. Default 25 (btcd).
    pub max_consecutive_failures: u32,
    /// Dials in flight at once, permanent and automatic together.
    /// Default 50 (go-ethereum).
    pub max_dials_in_flight: usize,
    /// An address is not dialed again automatically within this time of its
    /// last dial or last failure. Default 35 s (go-ethereum: 30 s inbound
    /// throttle + 5 s). Permanent peers follow their own retry schedule.
    pub redial_interval: Duration,
    /// Inbound connections at once. Default 117 (btcd: 125 peers minus the
    /// 8 outbound).
    pub max_inbound: usize,
    /// Inbound connections from one IP address at once (IPv4-mapped IPv6
    /// addresses count as IPv4). Default 2 (ours).
    pub max_inbound_per_ip: usize,
    /// Inbound connections from one /24 (IPv4) or /64 (IPv6) at once.
    /// Default 8 (ours).
    pub max_inbound_per_subnet: usize,
    /// Permanent peers. Default 64 (ours).
    pub max_permanent: usize,
    /// Candidate addresses queued; further ones are refused. Default 1024.
    pub max_candidates: usize,
    /// Entries in the dial history (one per address dialed within
    /// `redial_interval`). When it is full of live entries every dial waits
    /// until the oldest expires, so the redial rule always holds.
    /// Default 4096.
    pub max_history: usize,
    /// An established connection (either direction) whose progress counter
    /// ([`Manager::on_progress`](super::Manager::on_progress)) has not grown
    /// for this long is dropped with
    /// [`DisconnectReason::Stalled`](super::DisconnectReason::Stalled) and,
    /// if outbound, replaced. `None` keeps connections however quiet they
    /// are. Default 120 s: BitTorrent's keepalive interval (a peer sends at
    /// least a keepalive every 2 minutes, so a connection that moved no byte
    /// for that long has no live peer behind it). The application must then
    /// report progress at least that often on healthy connections.
    pub stall_timeout: Option<Duration>,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            target_outbound: 8,
            retry_duration: Duration::from_secs(5),
            max_retry_duration: Duration::from_secs(300),
            max_consecutive_failures: 25,
            max_dials_in_flight: 50,
            redial_interval: Duration::from_secs(35),
            max_inbound: 117,
            max_inbound_per_ip: 2,
            max_inbound_per_subnet: 8,
            max_permanent: 64,
            max_candidates: 1024,
            max_history: 4096,
            stall_timeout: Some(Duration::from_secs(120)),
        }
    }
}
