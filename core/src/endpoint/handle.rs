//! [`Conn`]: a connection of an [`Endpoint`], borrowed for the
//! application's calls.

use std::net::SocketAddr;

use super::{ConnHandle, Endpoint};
use crate::conn::{ConnState, Connection, EventSink};
use crate::error::Error;
use crate::peer::Peer;
use crate::stats::ConnStats;
use crate::time::Timestamp;

/// A borrowed connection of an [`Endpoint`], from [`Endpoint::conn`].
///
/// After any call that may produce output (`write`, `read`, `shutdown`,
/// `close`, `abort`), drain the endpoint's `poll_transmit`.
pub struct Conn<'a, P: Peer = SocketAddr> {
    pub(super) ep: &'a mut Endpoint<P>,
    pub(super) handle: ConnHandle,
}

impl<P: Peer> Conn<'_, P> {
    fn with<R>(
        &mut self,
        f: impl FnOnce(&mut Connection, &mut EventSink<'_>, Timestamp) -> R,
    ) -> Option<R> {
        let now = self.ep.now;
        let cap = self.ep.window_cap();
        let index = self.handle.index;
        let handle = self.handle;
        let slot = self.ep.slots.get_mut(index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        let conn = slot.conn.as_deref_mut()?;
        let mut sink = EventSink {
            queue: &mut self.ep.events,
            handle,
        };
        conn.set_budget_room(
            self.ep
                .config
                .memory_budget
                .saturating_sub(self.ep.buffered),
        );
        conn.set_window_cap(cap);
        let r = f(conn, &mut sink, now);
        self.ep.settle(index);
        self.ep.mark_ready(index);
        Some(r)
    }

    fn get(&self) -> Option<&Connection> {
        self.ep.slot_conn(self.handle)
    }

    /// This connection's handle.
    pub fn handle(&self) -> ConnHandle {
        self.handle
    }

    /// Copies as much of `data` as fits into the send buffer and returns
    /// how much: at most [`write_room`](Self::write_room).
    /// [`Error::WouldBlock`] when that is 0 (a
    /// [`Writable`](crate::Event::Writable) event follows when there is room).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.with(|c, _, _| c.write(data))
            .unwrap_or(Err(Error::Closed(crate::CloseReason::LocalClose)))
    }

    /// Bytes a write would take now: the send buffer's free space
    /// ([`Config::send_buffer`](crate::Config::send_buffer)), within the
    /// endpoint's memory budget, and no more than brings what is not sent
    /// yet ([`ConnStats::send_unsent`]) to twice the send window (the
    /// smaller of `cwnd` and the peer's window; at least 64 KiB), so that
    /// written bytes leave within a round trip or two, while still in the
    /// cache (as Linux's `TCP_NOTSENT_LOWAT`). 0 for a connection that
    /// takes no writes (closed, shut down, gone).
    pub fn write_room(&self) -> usize {
        let budget = self
            .ep
            .config
            .memory_budget
            .saturating_sub(self.ep.buffered);
        self.get()
            .filter(|c| c.write_refused().is_none())
            .map_or(0, |c| c.write_room().min(budget))
    }

    /// Queues as much of `data` as fits into the send buffer without
    /// copying it, takes that from the front of `data` and returns how
    /// much: each byte is then copied once on the send side, into the
    /// datagram (the [`write`](Self::write) path copies it into the buffer
    /// first). A `data` shorter than 1 KiB is copied like `write` does.
    /// The buffer keeps its `Bytes` until the peer acknowledges them, which
    /// keeps alive the allocation they are sliced from (the memory budget
    /// counts only the bytes queued). [`Error::WouldBlock`] when the buffer
    /// is full, as for `write`.
    pub fn write_bytes(&mut self, data: &mut bytes::Bytes) -> Result<usize, Error> {
        self.with(|c, _, _| c.write_bytes(data))
            .unwrap_or(Err(Error::Closed(crate::CloseReason::LocalClose)))
    }

    /// Copies received in-order bytes into `out`. `Ok(0)` (for a non-empty
    /// `out`) means the peer finished sending and everything was read;
    /// [`Error::WouldBlock`] means nothing has arrived yet (a
    /// [`Readable`](crate::Event::Readable) event follows).
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        self.with(|c, _, _| c.read(out))
            .unwrap_or(Err(Error::Closed(crate::CloseReason::LocalClose)))
    }

    /// Half-close: no more writes; a FIN follows the data already written.
    /// Reading goes on until the peer's FIN.
    pub fn shutdown(&mut self) {
        self.with(|c, _, _| c.shutdown());
    }

    /// Full close: like [`shutdown`](Self::shutdown), and the application
    /// will read no more (incoming data is acknowledged and discarded).
    /// Unacknowledged data is still delivered ("linger"); the connection
    /// ends with [`CloseReason::LocalClose`](crate::CloseReason::LocalClose)
    /// once our FIN is acknowledged and the peer's has arrived or the linger
    /// time passed.
    pub fn close(&mut self) {
        self.with(|c, events, now| c.close(now, events));
    }

    /// Abort: send RESET and drop everything; the handle is released (as
    /// after [`close`](Self::close)).
    pub fn abort(&mut self) {
        self.with(|c, events, now| c.abort(now, events, true));
    }

    /// Like [`abort`](Self::abort), but the handle stays valid: the
    /// connection is [`Closed`](crate::ConnState::Closed) with
    /// [`CloseReason::Aborted`](crate::CloseReason::Aborted) (reads and
    /// writes fail with it, [`close_info`](Self::close_info) says so) until
    /// the application releases it with [`close`](Self::close).
    pub fn reset(&mut self) {
        self.with(|c, events, now| c.abort(now, events, false));
    }

    /// Sets the close-reason code (extension 3, as libtorrent sends) that
    /// our FIN and RESET carry from now on; `None` sends none (the default).
    /// The code's meaning is the application's (libtorrent's own codes are
    /// listed at [`wire::CloseReason`](crate::wire::CloseReason)). Set it
    /// before [`close`](Self::close), [`shutdown`](Self::shutdown) or
    /// [`abort`](Self::abort).
    pub fn set_close_reason(&mut self, code: Option<u16>) {
        self.with(|c, _, _| c.set_close_code(code));
    }

    /// The close-reason code the peer sent (in its FIN, RESET or an ack),
    /// if any.
    pub fn peer_close_reason(&self) -> Option<u16> {
        self.get().and_then(Connection::peer_close_code)
    }

    /// How the connection ended, once it has: our reason and the peer's
    /// code. `None` while it is open.
    pub fn close_info(&self) -> Option<crate::CloseInfo> {
        match self.state() {
            ConnState::Closed(reason) => Some(crate::CloseInfo {
                reason,
                peer_code: self.peer_close_reason(),
            }),
            _ => None,
        }
    }

    /// Caps this connection's sending rate at `bytes_per_second` (payload,
    /// headers and retransmissions), or lifts the cap with `None`
    /// (see [`Config::max_send_rate`](crate::Config::max_send_rate)).
    /// Packets are spread evenly at that rate.
    pub fn set_max_send_rate(&mut self, bytes_per_second: Option<u64>) {
        self.with(|c, _, _| c.set_max_send_rate(bytes_per_second));
    }

    /// Sends a keepalive after `interval` without sending anything (`None`:
    /// never), for this connection from now on; [`Config::keepalive`](crate::Config::keepalive)
    /// (29 s) is the default, and
    /// [`Config::rendezvous_keepalive`](crate::Config::rendezvous_keepalive)
    /// (15 s) that of a rendezvous connection, to keep the NAT mappings
    /// it punched alive. Zero is taken as `None`.
    pub fn set_keepalive(&mut self, interval: Option<core::time::Duration>) {
        self.with(|c, _, _| c.set_keepalive(interval));
    }

    /// The connection's phase.
    pub fn state(&self) -> ConnState {
        self.get().map_or(
            ConnState::Closed(crate::CloseReason::LocalClose),
            Connection::state,
        )
    }

    /// The peer's UDP address ([`Peer::socket_addr`]; for a
    /// `SocketAddr` peer, the peer).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer().and_then(Peer::socket_addr)
    }

    /// The peer.
    pub fn peer(&self) -> Option<&P> {
        self.get()?;
        self.ep.slots.get(self.handle.index as usize)?.peer.as_ref()
    }

    /// This connection's next deadline (part of what
    /// [`Endpoint::poll_timeout`] reports), cheaper to ask than the whole
    /// endpoint's.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.get().and_then(Connection::poll_timeout)
    }

    /// Counters and estimates.
    pub fn stats(&self) -> ConnStats {
        ConnStats {
            at: self.ep.now,
            ..self.get().map(Connection::stats).unwrap_or_default()
        }
    }
}

impl<P: Peer> Drop for Conn<'_, P> {
    fn drop(&mut self) {
        // A read or close may have been the last thing keeping a closed
        // connection alive.
        self.ep.maybe_release(self.handle.index);
    }
}
