//! What the endpoint tells the application.

use crate::ConnHandle;

/// Why a connection ended.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CloseReason {
    /// Both directions finished: each side's FIN was sent and acknowledged.
    Finished,
    /// The application called `close()`; our FIN was acknowledged and the
    /// peer's FIN arrived or the linger time passed.
    LocalClose,
    /// The application called `abort()`: we sent RESET.
    Aborted,
    /// The peer answered our SYN with RESET (nobody listening, or its
    /// filter said no).
    Refused,
    /// The peer sent RESET on an established connection.
    Reset,
    /// A timer ran out; which one says why.
    TimedOut(Timer),
}

/// The timer that ended a connection with [`CloseReason::TimedOut`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Timer {
    /// The handshake did not complete within
    /// [`Config::connect_timeout`](crate::Config::connect_timeout).
    Connect,
    /// An accepted connection's initiator never proved its address within
    /// [`Config::half_open_timeout`](crate::Config::half_open_timeout).
    HalfOpen,
    /// A packet was retransmitted
    /// [`Config::max_retransmissions`](crate::Config::max_retransmissions)
    /// times without an acknowledgement.
    Retransmissions,
    /// Nothing arrived for
    /// [`Config::idle_timeout`](crate::Config::idle_timeout).
    Idle,
    /// A rendezvous connection (through NATs) reached the retransmission
    /// limit, as [`Retransmissions`](Self::Retransmissions), for data sent
    /// after the path had been quiet (nothing received) for at least
    /// [`Config::nat_mapping_timeout`](crate::Config::nat_mapping_timeout):
    /// a NAT between the peers has most likely forgotten the mapping the
    /// connection punched (or the peer went away while all was quiet).
    /// Punch again to go on.
    MappingExpired,
}

impl CloseReason {
    /// Whether the connection ended cleanly: both FINs exchanged
    /// ([`Finished`](Self::Finished)) or our own
    /// [`LocalClose`](Self::LocalClose).
    pub fn is_clean(&self) -> bool {
        matches!(self, CloseReason::Finished | CloseReason::LocalClose)
    }
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CloseReason::Finished => "connection finished",
            CloseReason::LocalClose => "connection closed",
            CloseReason::Aborted => "connection aborted",
            CloseReason::Refused => "connection refused by the peer",
            CloseReason::Reset => "connection reset by the peer",
            CloseReason::TimedOut(Timer::Connect) => "connection timed out (no answer to the SYN)",
            CloseReason::TimedOut(Timer::HalfOpen) => {
                "connection timed out (the initiator never confirmed)"
            }
            CloseReason::TimedOut(Timer::Retransmissions) => {
                "connection timed out (retransmission limit)"
            }
            CloseReason::TimedOut(Timer::Idle) => "connection timed out (idle)",
            CloseReason::TimedOut(Timer::MappingExpired) => {
                "connection timed out (quiet longer than NAT mappings last: the mapping expired)"
            }
        })
    }
}

impl std::error::Error for CloseReason {}

/// How a connection ended, as far as both sides said: our
/// [`CloseReason`], and the close-reason code the peer sent, if any
/// (extension 3, which libtorrent puts in its FIN; the meaning of the code
/// belongs to the application, see [`wire::CloseReason`](crate::wire::CloseReason)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CloseInfo {
    /// Why the connection ended.
    pub reason: CloseReason,
    /// The code the peer's close-reason extension carried.
    pub peer_code: Option<u16>,
}

/// Something the application should know about; see
/// [`Endpoint::poll_event`](crate::Endpoint::poll_event).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Event {
    /// An outgoing connection completed its handshake.
    Connected(ConnHandle),
    /// A new incoming connection waits in the backlog: call
    /// [`Endpoint::accept`](crate::Endpoint::accept).
    Incoming,
    /// Data can be read (given once until a read drains the buffer).
    Readable(ConnHandle),
    /// A write that was refused for lack of buffer space can now proceed.
    /// Only given after such a refusal.
    Writable(ConnHandle),
    /// The peer finished sending: everything up to its FIN has arrived.
    /// Reads return the rest of the data, then `Ok(0)`.
    Eof(ConnHandle),
    /// The connection ended. Data already received can still be read until
    /// the handle is released.
    Closed(ConnHandle, CloseReason),
    /// Two connections with the peer of a rendezvous: a BEP 29 peer
    /// (libutp, libtorrent) runs no contest, so when our SYN won and we
    /// listen, our listener accepted the peer's SYN too, and that
    /// connection has now been proven. [`Config::rendezvous_duplicates`](crate::Config::rendezvous_duplicates)
    /// decides which to keep; the other is being closed (spec section 9).
    Duplicate {
        /// The application's rendezvous connection.
        rendezvous: ConnHandle,
        /// The connection the listener accepted from the peer's SYN; in
        /// the backlog (an [`Incoming`](Event::Incoming) came first) unless
        /// it is the one closed.
        accepted: ConnHandle,
        /// The one kept; `None` when both are.
        kept: Option<ConnHandle>,
    },
}

impl Event {
    /// The connection the event is about (`None` for
    /// [`Incoming`](Event::Incoming); the rendezvous for
    /// [`Duplicate`](Event::Duplicate)).
    pub fn handle(&self) -> Option<ConnHandle> {
        match *self {
            Event::Incoming => None,
            Event::Duplicate { rendezvous: h, .. }
            | Event::Connected(h)
            | Event::Readable(h)
            | Event::Writable(h)
            | Event::Eof(h)
            | Event::Closed(h, _) => Some(h),
        }
    }
}
