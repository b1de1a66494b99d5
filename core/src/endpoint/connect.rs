//! Making connections: [`Endpoint::connect`], and with a connection id
//! agreed out of band, [`Endpoint::connect_with_id`] and
//! [`Endpoint::accept_with_id`]; the choice of a free id.

use super::{ConnHandle, Endpoint, Owner};
use crate::conn::Connection;
use crate::error::ConnectError;
use crate::peer::Peer;
use crate::seq::SeqNr;
use crate::time::Timestamp;

impl<P: Peer> Endpoint<P> {
    /// Starts a connection to `remote`: the SYN goes out on the next
    /// [`poll_transmit`](Self::poll_transmit). A
    /// [`Connected`](crate::Event::Connected) or [`Closed`](crate::Event::Closed) event
    /// follows. Data written before the handshake completes is sent after it.
    pub fn connect(&mut self, now: Timestamp, remote: P) -> Result<ConnHandle, ConnectError> {
        self.tick(now);
        if self.established() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let recv_id = self
            .free_connection_id(&remote)
            .ok_or(ConnectError::NoConnectionId)?;
        Ok(self.start_connect(now, remote, recv_id))
    }

    /// Starts a connection to `remote` whose connection id was agreed out
    /// of band (the Portal Network's CONTENT and ACCEPT messages): the SYN
    /// carries `id`, we receive on `id` and send on `id + 1`, as BEP 29
    /// has any initiator do with the id it picked. The other side expects
    /// it with [`accept_with_id`](Self::accept_with_id)`(us, id)` (or
    /// accepts it as any SYN). Otherwise as [`connect`](Self::connect);
    /// [`ConnectError::IdInUse`] if `id`, `id - 1` or `id + 1` is routed
    /// for `remote` already.
    pub fn connect_with_id(
        &mut self,
        now: Timestamp,
        remote: P,
        id: u16,
    ) -> Result<ConnHandle, ConnectError> {
        self.tick(now);
        if self.established() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        if !self.id_free(&remote, id) {
            return Err(ConnectError::IdInUse);
        }
        Ok(self.start_connect(now, remote, id))
    }

    /// Expects a connection from `remote` with the connection id `id`
    /// agreed out of band: the handle is the application's at once (no
    /// `accept`), data written to it waits for the peer, and its
    /// [`Connected`](crate::Event::Connected) comes when `remote`'s SYN carrying
    /// `id` arrives (what [`connect_with_id`](Self::connect_with_id)`(us,
    /// id)` sends), or [`Closed`](crate::Event::Closed) with
    /// `TimedOut(Timer::Connect)` after `timeout` without it.
    ///
    /// That SYN is taken before the listener and its filter see it, and
    /// whether or not the endpoint listens. The connection is established
    /// with it and may send at once, in full, before the initiator's next
    /// packet (the agreed id stands for the proof a half-open acceptor
    /// waits for: use ids that are random and secret, as the Portal
    /// Network's are). [`ConnectError::IdInUse`] if we already receive on
    /// `id + 1` from `remote`, or on `id` (that connection would take the
    /// SYN: packets are routed by the id they carry first).
    pub fn accept_with_id(
        &mut self,
        now: Timestamp,
        remote: P,
        id: u16,
        timeout: core::time::Duration,
    ) -> Result<ConnHandle, ConnectError> {
        self.tick(now);
        if self.established() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        // Ours is `id + 1`; the SYN carries `id`, and `handle_datagram`
        // looks that up before ours (`on_syn`).
        if [id, id.wrapping_add(1)]
            .into_iter()
            .any(|r| self.routes.contains_key(&(remote.clone(), r)))
        {
            return Err(ConnectError::IdInUse);
        }
        let our_seq = SeqNr::new(self.rng.next_u16());
        let conn = Connection::expecting(&self.config, now, &remote, id, our_seq, timeout);
        Ok(self.insert(remote, conn, Owner::App))
    }

    fn start_connect(&mut self, now: Timestamp, remote: P, recv_id: u16) -> ConnHandle {
        let isn = SeqNr::new(self.rng.next_u16());
        let conn = Connection::connect(&self.config, now, &remote, recv_id, isn);
        self.insert(remote, conn, Owner::App)
    }

    /// Connections that are not half-open (what `max_connections` limits).
    pub(super) fn established(&self) -> usize {
        self.live - self.half_open
    }

    /// A receive id for a new outgoing connection to `remote` that no
    /// existing connection with that peer uses on either side. Ours are
    /// routed by our receive id `r` and the peer routes them by `r + 1`
    /// (the send id); the new connection's ids are `id` and `id + 1`, so
    /// `id - 1`, `id` and `id + 1` must all be unrouted. (With `id - 1`
    /// routed, the new SYN, carrying `id`, would reach the peer's side of
    /// that older connection and be dropped there.)
    pub(super) fn free_connection_id(&mut self, remote: &P) -> Option<u16> {
        for _ in 0..64 {
            let id = self.rng.next_u16();
            if self.id_free(remote, id) {
                return Some(id);
            }
        }
        (0..=u16::MAX).find(|&id| self.id_free(remote, id))
    }

    /// Whether `id` and its neighbours are unrouted for `remote` (see
    /// [`free_connection_id`](Self::free_connection_id)).
    pub(super) fn id_free(&self, remote: &P, id: u16) -> bool {
        [id.wrapping_sub(1), id, id.wrapping_add(1)]
            .into_iter()
            .all(|id| !self.routes.contains_key(&(remote.clone(), id)))
    }
}
