//! The manager's public vocabulary: ids, outputs, answers, counters.

use super::reason::{DisconnectReason, PeerReasonCounts};
#[cfg(doc)]
use super::Manager;
use crate::{CloseReason, ConnectError};
use std::net::SocketAddr;

/// The manager's name for one connection (dialed or inbound). Unique for the
/// life of a [`Manager`]; never reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PeerId(pub(super) u64);

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
    /// forgotten it already; later reports about it are ignored. Why:
    /// [`Manager::disconnect_reason`] (send it with
    /// `conn.set_close_reason(Some(reason.wire_code()))` before closing).
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

impl InboundRefusal {
    /// The reason to send when closing the refused connection:
    /// [`DisconnectReason::InboundLimit`] for every limit (sent as
    /// libtorrent's `too_many_connections`, 15).
    pub const fn reason(self) -> DisconnectReason {
        DisconnectReason::InboundLimit
    }
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
    /// Established connections reported ended (both directions); the
    /// ones the manager dropped itself are counted in `stalled`.
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
    /// Established connections dropped for making no progress for
    /// `stall_timeout` (each also an [`Output::Disconnect`]).
    pub stalled: u64,
    /// Close-reason codes the peers sent, as reported with
    /// [`Manager::on_disconnected_with`].
    pub peer_reasons: PeerReasonCounts,
}
