//! What the network reports about a remote, when the runtime can read it
//! (ICMP errors on Linux): [`Endpoint::handle_unreachable`] and
//! [`Endpoint::handle_packet_too_big`].

use std::net::{IpAddr, SocketAddr};

use super::Endpoint;
use crate::conn::ip_udp_overhead;
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
                .and_then(|s| s.conn.as_deref_mut())
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

    /// An ICMP "packet too big" (IPv6) or "fragmentation needed" (IPv4)
    /// for `remote`, when the adapter can read those: `mtu` is the IP MTU
    /// the message reports. Connections to `remote`, and later ones,
    /// send no UDP payload larger than `mtu` minus the IP and UDP headers
    /// (never less than the floor of path MTU discovery: 548 bytes for
    /// IPv4, 1232 for IPv6) until [`Config::pmtu_reprobe`](crate::Config::pmtu_reprobe) has passed.
    /// Packets already in flight keep their size when retransmitted (their
    /// sequence numbers cannot be split), so on a path that really shrank
    /// below them they are lost until the connection times out. Nothing
    /// happens with [`Config::pmtu_discovery`](crate::Config::pmtu_discovery) off. The message is not
    /// authenticated: the floor bounds what a forged one can do.
    pub fn handle_packet_too_big(&mut self, remote: IpAddr, mtu: usize) {
        if !self.config.pmtu_discovery {
            return;
        }
        let now = self.now;
        let limit = mtu.saturating_sub(ip_udp_overhead(remote));
        self.paths.too_big(&self.config, remote, limit, now);
        for index in 0..self.slots.len() as u32 {
            let Some(conn) = self
                .slots
                .get_mut(index as usize)
                .and_then(|s| s.conn.as_deref_mut())
            else {
                continue;
            };
            if conn.remote_ip() == Some(remote) {
                conn.on_packet_too_big(limit, now);
                // The memory already has the new bound.
                let _ = conn.pmtu_take_update();
                self.mark_ready(index);
            }
        }
    }
}
