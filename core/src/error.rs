//! Errors of the connection API, and their mapping onto [`std::io::Error`]
//! for socket-style adapters.

use core::fmt;
use std::io;

use crate::event::CloseReason;

/// Why a connection call could not proceed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Error {
    /// No room now: the send buffer takes nothing (write: it is full, or
    /// what is not sent yet reached its limit, `Conn::write_room`), or no data has arrived
    /// yet (read). A [`Writable`](crate::Event::Writable) or
    /// [`Readable`](crate::Event::Readable) event follows when that changes.
    WouldBlock,
    /// Writing after `shutdown()` or `close()`.
    Shutdown,
    /// Writing on a rendezvous connection the endpoint half-closed as a
    /// duplicate ([`Event::Duplicate`](crate::Event::Duplicate)): the peer
    /// keeps its other connection, which `accept` hands out.
    Duplicate,
    /// The connection ended for this reason.
    Closed(CloseReason),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WouldBlock => f.write_str("operation would block"),
            Error::Shutdown => f.write_str("write after shutdown"),
            Error::Duplicate => f.write_str(
                "rendezvous closed as a duplicate: the peer keeps the connection the listener accepted",
            ),
            Error::Closed(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why `connect` could not start.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ConnectError {
    /// `max_connections` connections exist already.
    TooManyConnections,
    /// No connection id is free for this peer (all 65536 in use).
    NoConnectionId,
    /// The connection id asked for (`connect_with_id`, `accept_with_id`)
    /// is in use with this peer, or next to one that is.
    IdInUse,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::TooManyConnections => f.write_str("connection limit reached"),
            ConnectError::NoConnectionId => f.write_str("no free connection id for this peer"),
            ConnectError::IdInUse => f.write_str("connection id in use with this peer"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Maps why a connection ended to the error kind a socket user expects.
pub fn close_reason_kind(reason: CloseReason) -> io::ErrorKind {
    match reason {
        CloseReason::Refused => io::ErrorKind::ConnectionRefused,
        CloseReason::Reset => io::ErrorKind::ConnectionReset,
        CloseReason::TimedOut(_) => io::ErrorKind::TimedOut,
        CloseReason::Aborted => io::ErrorKind::ConnectionAborted,
        CloseReason::Finished | CloseReason::LocalClose => io::ErrorKind::NotConnected,
    }
}

/// The [`io::Error`] for a connection that ended for `reason`: kind from
/// [`close_reason_kind`], and the reason itself inside, so that a caller
/// can tell which timer ran out:
/// `err.get_ref().and_then(|e| e.downcast_ref::<CloseReason>())`.
pub fn close_error(reason: CloseReason) -> io::Error {
    io::Error::new(close_reason_kind(reason), reason)
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::WouldBlock => io::ErrorKind::WouldBlock.into(),
            Error::Shutdown => io::Error::new(io::ErrorKind::BrokenPipe, "write after shutdown"),
            Error::Duplicate => io::Error::new(io::ErrorKind::ConnectionAborted, e),
            Error::Closed(reason) => close_error(reason),
        }
    }
}

impl From<ConnectError> for io::Error {
    /// `AddrInUse` for [`ConnectError::IdInUse`], `Other` otherwise; the
    /// `ConnectError` is the source.
    fn from(e: ConnectError) -> io::Error {
        match e {
            ConnectError::IdInUse => io::Error::new(io::ErrorKind::AddrInUse, e),
            e => io::Error::other(e),
        }
    }
}
