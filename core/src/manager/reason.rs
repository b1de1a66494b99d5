//! Why a connection is dropped, as a typed reason and as the close-reason
//! code (uTP extension 3) that libtorrent reads and writes.

/// Why the manager (or the application) drops a connection, and why the
/// peer said it dropped one.
///
/// On the wire the reason travels as the 16-bit code of the close-reason
/// extension (extension 3, which libtorrent puts in its FIN and RESET). Our
/// reasons are mapped onto libtorrent's `close_reason_t`
/// (`include/libtorrent/close_reason.hpp`) where one means the same:
///
/// | reason                     | code | libtorrent's name        |
/// |----------------------------|------|--------------------------|
/// | [`Requested`](Self::Requested)       | 0  | `none` (generic close)     |
/// | [`Duplicate`](Self::Duplicate)       | 1  | `duplicate_peer_id`        |
/// | [`Stalled`](Self::Stalled)           | 10 | `timed_out_activity`       |
/// | [`TooManyPeers`](Self::TooManyPeers) | 15 | `too_many_connections`     |
/// | [`InboundLimit`](Self::InboundLimit) | 15 | `too_many_connections`     |
/// | [`Other(c)`](Self::Other)            | c  | whatever `c` means         |
///
/// libtorrent has no code of its own for "one host or network has too many
/// connections", so an inbound refusal goes out as 15 as well and a peer's
/// 15 reads back as [`TooManyPeers`](Self::TooManyPeers): the mapping is
/// not one-to-one for [`InboundLimit`](Self::InboundLimit), nor for an
/// [`Other`](Self::Other) whose code is one of the named ones.
///
/// How an adapter sends it: before closing the connection of an
/// [`Output::Disconnect`](super::Output::Disconnect), take the reason from
/// [`Manager::disconnect_reason`](super::Manager::disconnect_reason) and call
/// `conn.set_close_reason(Some(reason.wire_code()))`, then `conn.close()`
/// (or `abort()`). For an inbound refusal, use
/// [`InboundRefusal::reason`](super::InboundRefusal::reason) the same way.
/// Received: [`DisconnectReason::from_wire_code`] of
/// [`CloseInfo::peer_code`](crate::CloseInfo::peer_code), or let
/// [`Manager::on_disconnected_with`](super::Manager::on_disconnected_with)
/// count it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DisconnectReason {
    /// No progress for [`stall_timeout`](super::ManagerConfig::stall_timeout).
    Stalled,
    /// More connections than wanted (over the target, or over the
    /// application's own limit).
    TooManyPeers,
    /// An inbound limit (total, per IP, per subnet) refused the connection.
    InboundLimit,
    /// Already connected to this peer.
    Duplicate,
    /// The application asked for it (for example
    /// [`Manager::remove_permanent`](super::Manager::remove_permanent)), or
    /// the peer closed without a more specific reason (code 0).
    Requested,
    /// Any other code, carried as is.
    Other(u16),
}

impl DisconnectReason {
    /// The close-reason code to send (see the table above).
    pub const fn wire_code(self) -> u16 {
        match self {
            DisconnectReason::Requested => 0,
            DisconnectReason::Duplicate => 1,
            DisconnectReason::Stalled => 10,
            DisconnectReason::TooManyPeers | DisconnectReason::InboundLimit => 15,
            DisconnectReason::Other(code) => code,
        }
    }

    /// The reason a peer's close-reason code stands for: the named reasons
    /// for 0, 1, 10 and 15, [`Other`](Self::Other) for every other code
    /// (libtorrent's 8 `timeout`, 256 and up for protocol errors, ...).
    pub const fn from_wire_code(code: u16) -> DisconnectReason {
        match code {
            0 => DisconnectReason::Requested,
            1 => DisconnectReason::Duplicate,
            10 => DisconnectReason::Stalled,
            15 => DisconnectReason::TooManyPeers,
            other => DisconnectReason::Other(other),
        }
    }
}

impl core::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DisconnectReason::Stalled => f.write_str("no progress (stalled)"),
            DisconnectReason::TooManyPeers => f.write_str("too many connections"),
            DisconnectReason::InboundLimit => f.write_str("inbound limit reached"),
            DisconnectReason::Duplicate => f.write_str("duplicate connection"),
            DisconnectReason::Requested => f.write_str("closed on request"),
            DisconnectReason::Other(code) => write!(f, "close reason {code}"),
        }
    }
}

/// How many connections the peers said they closed for each reason
/// (counted by [`Manager::on_disconnected_with`](super::Manager::on_disconnected_with)).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PeerReasonCounts {
    /// The peer sent no close-reason code.
    pub none: u64,
    /// Code 10 ([`DisconnectReason::Stalled`]).
    pub stalled: u64,
    /// Code 15 ([`DisconnectReason::TooManyPeers`]).
    pub too_many_peers: u64,
    /// Code 1 ([`DisconnectReason::Duplicate`]).
    pub duplicate: u64,
    /// Code 0 ([`DisconnectReason::Requested`]).
    pub requested: u64,
    /// Any other code ([`DisconnectReason::Other`]).
    pub other: u64,
}

impl PeerReasonCounts {
    /// Counts one connection the peer closed with `code`.
    pub(super) fn count(&mut self, code: Option<u16>) {
        let slot = match code.map(DisconnectReason::from_wire_code) {
            None => &mut self.none,
            Some(DisconnectReason::Stalled) => &mut self.stalled,
            Some(DisconnectReason::TooManyPeers | DisconnectReason::InboundLimit) => {
                &mut self.too_many_peers
            }
            Some(DisconnectReason::Duplicate) => &mut self.duplicate,
            Some(DisconnectReason::Requested) => &mut self.requested,
            Some(DisconnectReason::Other(_)) => &mut self.other,
        };
        *slot = slot.saturating_add(1);
    }
}
