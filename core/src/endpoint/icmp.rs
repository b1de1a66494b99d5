//! What the network reports about a remote, when the runtime can read it
//! (ICMP errors on Linux): [`Endpoint::handle_unreachable`]. "Packet too
//! big" is [`Endpoint::handle_packet_too_big`].

use std::net::SocketAddr;

use super::Endpoint;
use crate::conn::EventSink;
use crate::peer::Peer;
use crate::time::Timestamp;

impl<P: Peer> Endpoint<P> {
    /// An ICMP "port unreachable" for a datagram sent to `remote`, when
    /// the adapter can read those: nothing listens there.
    ///
    /// Connections to `remote` whose SYN is still unanswered close at once
    /// with [`CloseReason::Refused`](crate::CloseReason::Refused), as if
    /// the peer had answered with RESET: the application hears within a
    /// round trip rather than after [`Config::connect_timeout`](crate::Config::connect_timeout).
    /// Every other connection ignores it: an established peer that
    /// answered once is not given up for one message, which may be a
    /// transient (a peer restarting its socket) or forged by anyone
    /// off-path who knows the address and port (the message carries no
    /// connection id), and a lost peer is noticed by the retransmission
    /// timeouts anyway. A half-open connection accepted from `remote` is
    /// left to [`Config::half_open_timeout`](crate::Config::half_open_timeout).
    /// Nothing is sent in answer (no RESET: nobody is there to read it).
    pub fn handle_unreachable(&mut self, now: Timestamp, remote: SocketAddr) {
        self.tick(now);
        for index in 0..self.slots.len() as u32 {
            let handle = self.handle_of(index);
            let Some(conn) = self
                .slots
                .get_mut(index as usize)
                .filter(|s| s.peer.as_ref().and_then(Peer::socket_addr) == Some(remote))
                .and_then(|s| s.conn.as_mut())
            else {
                continue;
            };
            let mut sink = EventSink {
                queue: &mut self.events,
                handle,
            };
            if conn.on_unreachable(self.now, &mut sink) {
                self.settle(index);
                self.mark_ready(index);
                self.maybe_release(index);
            }
        }
    }
}
