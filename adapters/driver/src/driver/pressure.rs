//! Sharing the receive window while the socket's receive buffer fills
//! ([`DriverConfig::share_recv_window`](crate::DriverConfig::share_recv_window)),
//! and for the first [`HOLD`] of the socket's life.

use std::time::Duration;

use utp_core::{Endpoint, Peer, Timestamp};

use crate::{DatagramSocket, RecvQueue};

/// How often the driver asks the socket how full its buffer is.
const LOOK_EVERY: Duration = Duration::from_millis(1);

/// How long the share lasts after the last look that found the buffer
/// filling.
const HOLD: Duration = Duration::from_secs(1);

/// When the share is on, and when to look next.
#[derive(Debug, Default)]
pub(super) struct RecvPressure {
    next_look: Timestamp,
    /// The share is on until then.
    until: Option<Timestamp>,
    /// Whether the socket was looked at yet.
    looked: bool,
}

/// Whether a buffer this full calls for the share: a quarter of its
/// capacity (half of which is payload).
fn filling(q: RecvQueue) -> bool {
    q.capacity > 0 && q.queued >= q.capacity / 4
}

impl RecvPressure {
    /// Looks at the socket's buffer if it is time; turns the endpoint's
    /// share on while the buffer fills and off a [`HOLD`] after. Returns
    /// whether this look found it filling.
    pub(super) fn look<P: Peer, S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        endpoint: &mut Endpoint<P>,
        now: Timestamp,
    ) -> bool {
        if now < self.next_look {
            return false;
        }
        self.next_look = now + LOOK_EVERY;
        let first = !self.looked;
        self.looked = true;
        match socket.recv_queue() {
            // The share starts on: connections that start together (a
            // server's first peers, a client's downloads) would overrun
            // the buffer in slow start before a look found it filling.
            Some(q) if filling(q) || (first && q.capacity > 0) => {
                // About the payload the buffer holds: half its capacity.
                endpoint.set_recv_window_share(Some(q.capacity / 2));
                self.until = Some(now + HOLD);
                filling(q)
            }
            _ => {
                if self.until.is_some_and(|until| now >= until) {
                    endpoint.set_recv_window_share(None);
                    self.until = None;
                }
                false
            }
        }
    }
}
