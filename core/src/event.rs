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
    /// No answer: the connect timeout, the retransmission limit or the idle
    /// timeout ran out.
    TimedOut,
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
}

impl Event {
    /// The connection the event is about (`None` for
    /// [`Incoming`](Event::Incoming)).
    pub fn handle(&self) -> Option<ConnHandle> {
        match *self {
            Event::Incoming => None,
            Event::Connected(h)
            | Event::Readable(h)
            | Event::Writable(h)
            | Event::Eof(h)
            | Event::Closed(h, _) => Some(h),
        }
    }
}
