//! Errors of the connection API.

use core::fmt;

use crate::event::CloseReason;

/// Why a connection call could not proceed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Error {
    /// No room now: the send buffer is full (write), or no data has arrived
    /// yet (read). A [`Writable`](crate::Event::Writable) or
    /// [`Readable`](crate::Event::Readable) event follows when that changes.
    WouldBlock,
    /// Writing after `shutdown()` or `close()`.
    Shutdown,
    /// The connection ended for this reason.
    Closed(CloseReason),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WouldBlock => f.write_str("operation would block"),
            Error::Shutdown => f.write_str("write after shutdown"),
            Error::Closed(reason) => write!(f, "connection closed: {reason:?}"),
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
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::TooManyConnections => f.write_str("connection limit reached"),
            ConnectError::NoConnectionId => f.write_str("no free connection id for this peer"),
        }
    }
}

impl std::error::Error for ConnectError {}
