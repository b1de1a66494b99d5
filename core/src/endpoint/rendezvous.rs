//! Rendezvous connects: [`Endpoint::connect_rendezvous`], and the contest
//! that makes two crossing SYNs one connection (spec section 9).
//!
//! Both peers connect to each other at once. A SYN from a peer we are
//! connecting to by rendezvous (and whose id routes to nothing) is not
//! the listener's: it is compared with ours, as (connection id, sequence
//! number), the lower winning. The winner's connection goes on as the
//! initiator; the loser's SYN is dropped, or, if the winner listens, taken
//! by its listener as any other SYN (a BEP 29 peer, which runs no contest,
//! may keep only the connection that SYN started; a peer of ours resets
//! it, and it ends half-open). The loser's connection
//! becomes, under the same handle and with what the application wrote, the
//! acceptor of the winner's SYN, established at once (as an expected
//! connection is: the application asked for this peer) and answering it
//! with STATE. Both sides compute the same outcome from the same two SYNs;
//! a draw (the same id and sequence number, one chance in 2^32) has our
//! side start again with a new id and sequence number. Nothing on the wire
//! is new: a BEP 29 peer sees SYNs and STATEs.

use super::{forget_done, ConnHandle, Endpoint, Owner};
use crate::conn::{Connection, EventSink};
use crate::error::ConnectError;
use crate::peer::Peer;
use crate::seq::SeqNr;
use crate::time::Timestamp;
use crate::wire::{PacketRepr, PacketType};

impl<P: Peer> Endpoint<P> {
    /// Connects to `remote` while `remote` connects to us (hole punching
    /// through NATs: each side's SYN opens its NAT for the other's). SYNs
    /// go every [`Config::rendezvous_interval`](crate::Config::rendezvous_interval)
    /// (250 ms, with up to a fifth of it of jitter) until the other's SYN
    /// or STATE arrives, for at most
    /// [`Config::rendezvous_timeout`](crate::Config::rendezvous_timeout) (30 s:
    /// then `TimedOut(Connect)`). With both sides ours, the two SYNs make
    /// one connection (see the module docs). The endpoint need not listen,
    /// but against a BEP 29 peer it should: when ours wins, the peer may
    /// keep only the connection its own SYN started, which the listener
    /// then accepts. Two connections with the peer may then result; the
    /// endpoint keeps one by
    /// [`Config::rendezvous_duplicates`](crate::Config::rendezvous_duplicates)
    /// (libtorrent's lower-port rule, with the port given to
    /// [`set_local_port`](Self::set_local_port)) and names both in
    /// [`Event::Duplicate`](crate::Event::Duplicate). `IdInUse` if a
    /// rendezvous with `remote` is already under way.
    pub fn connect_rendezvous(
        &mut self,
        now: Timestamp,
        remote: P,
    ) -> Result<ConnHandle, ConnectError> {
        self.tick(now);
        if self.rendezvous_index(&remote).is_some() {
            return Err(ConnectError::IdInUse);
        }
        // The peer's SYN came first and the listener took it: that is the
        // connection.
        if let Some(handle) = self.adopt_accepted(&remote) {
            return Ok(handle);
        }
        if self.established() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let recv_id = self
            .free_connection_id(&remote)
            .ok_or(ConnectError::NoConnectionId)?;
        let isn = SeqNr::new(self.rng.next_u16());
        let conn = self.rendezvous_conn(now, &remote, recv_id, isn);
        let handle = self.insert(remote.clone(), conn, Owner::App);
        self.remember_rendezvous(remote, handle);
        Ok(handle)
    }

    /// Notes the rendezvous with `remote`, forgetting those done (connected
    /// or closed) once there are a few: the map holds no more than the
    /// rendezvous under way, and 64.
    fn remember_rendezvous(&mut self, remote: P, handle: ConnHandle) {
        forget_done(
            &mut self.rendezvous,
            &self.slots,
            |h| *h,
            Connection::rendezvous_waiting,
        );
        self.rendezvous.insert(remote, handle);
    }

    /// A connection the listener made from `remote` that the application
    /// has not taken, handed to it as the rendezvous (out of the backlog).
    /// A walk over the slots: once per call, not per packet.
    fn adopt_accepted(&mut self, remote: &P) -> Option<ConnHandle> {
        let index = self.slots.iter().position(|s| {
            s.owner != Owner::App
                && s.peer.as_ref() == Some(remote)
                && s.conn.as_deref().is_some_and(|c| !c.is_closed())
        })? as u32;
        let handle = self.handle_of(index);
        let slot = self.slots.get_mut(index as usize)?;
        let conn = slot.conn.as_deref_mut()?;
        let mut sink = EventSink {
            queue: &mut self.events,
            handle,
        };
        if !conn.adopt_for_rendezvous(&self.config, &mut sink) {
            return None;
        }
        if slot.owner == Owner::Queued {
            if let Some(l) = self.listener.as_mut() {
                l.queue.retain(|h| h.index != index);
            }
        }
        // (Still half-open, it stays counted until proven: `settle`.)
        slot.owner = Owner::App;
        self.stats.rendezvous_lost += 1;
        self.remember_rendezvous(remote.clone(), handle);
        self.mark_ready(index);
        Some(handle)
    }

    fn rendezvous_conn(
        &mut self,
        now: Timestamp,
        remote: &P,
        recv_id: u16,
        isn: SeqNr,
    ) -> Connection {
        let base = self.config.rendezvous_interval;
        let jitter_span = u64::try_from(base.as_micros() / 5).unwrap_or(u64::MAX);
        let jitter = self
            .rng
            .next_u64()
            .checked_rem(jitter_span + 1)
            .unwrap_or(0);
        let interval = base.saturating_add(core::time::Duration::from_micros(jitter));
        Connection::connect_rendezvous(&self.config, now, remote, recv_id, isn, interval)
    }

    /// The slot of the rendezvous with `remote` not yet connected, if any
    /// (entries that are done are forgotten here).
    fn rendezvous_index(&mut self, remote: &P) -> Option<u32> {
        let h = *self.rendezvous.get(remote)?;
        let waiting = self
            .slot_conn(h)
            .is_some_and(Connection::rendezvous_waiting);
        if waiting {
            return Some(h.index);
        }
        self.rendezvous.remove(remote);
        None
    }

    /// A SYN from `from` that no route took. Whether it was a rendezvous
    /// SYN (taken here).
    pub(super) fn on_rendezvous_syn(
        &mut self,
        now: Timestamp,
        from: &P,
        syn: &PacketRepr<'_>,
    ) -> bool {
        let Some(index) = self.rendezvous_index(from) else {
            return false;
        };
        let Some((our_id, our_seq)) = self
            .slots
            .get(index as usize)
            .and_then(|s| s.conn.as_deref())
            .and_then(Connection::rendezvous_syn)
        else {
            return false;
        };
        let ours = (our_id, our_seq.get());
        let theirs = (syn.connection_id, syn.seq_nr.get());
        match theirs.cmp(&ours) {
            // We initiate: the peer becomes the acceptor of our SYN.
            core::cmp::Ordering::Greater => {
                self.stats.rendezvous_won += 1;
                if let Some(conn) = self
                    .slots
                    .get_mut(index as usize)
                    .and_then(|s| s.conn.as_deref_mut())
                {
                    conn.rendezvous_resend_now();
                }
                self.mark_ready(index);
                // A listener takes the peer's SYN too: a BEP 29 peer runs no
                // contest and may keep only its own connection (libtorrent's
                // rule keeps the outgoing one of the lower port), which then
                // lives as one of ours, handed out by `accept` once it is
                // proven. A peer of ours, whose connection became the acceptor
                // of our SYN, answers that connection's STATE with a RESET, and
                // it ends half-open, never handed out.
                if self.listener.is_some() {
                    let winner = self.handle_of(index);
                    self.remember_rival(from, syn.connection_id, winner);
                    return false;
                }
            }
            core::cmp::Ordering::Less => {
                self.rendezvous_accept(now, index, from, syn, ours.0, our_seq);
            }
            core::cmp::Ordering::Equal => self.rendezvous_draw(now, index, from),
        }
        true
    }

    /// Our connection becomes the acceptor of the winner's `syn`; our own
    /// SYN was `(our_id, our_seq)`.
    fn rendezvous_accept(
        &mut self,
        now: Timestamp,
        index: u32,
        from: &P,
        syn: &PacketRepr<'_>,
        our_id: u16,
        our_seq: SeqNr,
    ) {
        let key = (from.clone(), syn.connection_id.wrapping_add(1));
        if self.routes.contains_key(&key) {
            // Taken by another connection with this peer: leave it to our
            // own SYN.
            return;
        }
        let acceptor_seq = SeqNr::new(self.rng.next_u16());
        let timeout = self.config.rendezvous_timeout;
        let mut conn = Connection::expecting(
            &self.config,
            now,
            from,
            syn.connection_id,
            acceptor_seq,
            timeout,
        );
        conn.prove_first(&self.config);
        self.replace(index, from, conn, key);
        self.rendezvous.remove(from);
        self.remember_lost(from, our_id, our_seq, index);
        self.stats.rendezvous_lost += 1;
        self.deliver(now, index, syn);
    }

    /// Notes the SYN a rendezvous that lost had sent, forgetting, once
    /// there are a few, the entries whose acceptor is no longer waiting.
    fn remember_lost(&mut self, from: &P, our_id: u16, our_seq: SeqNr, index: u32) {
        forget_done(
            &mut self.rendezvous_lost,
            &self.slots,
            |(h, _)| *h,
            Connection::rendezvous_waiting,
        );
        let handle = self.handle_of(index);
        self.rendezvous_lost
            .insert((from.clone(), our_id), (handle, our_seq));
    }

    /// A packet for no connection: if it is a STATE answering the SYN of a
    /// rendezvous that lost (a BEP 29 peer, which runs no contest, let its
    /// listener take our SYN while we became the acceptor of its own), our
    /// SYN reached the peer and its answer reached us: the path works both
    /// ways, which is the proof the acceptor waits for (a BEP 29 initiator
    /// sends nothing after our STATE until its application writes). The
    /// STATE itself still gets the RESET any unknown packet gets, which ends
    /// the peer's duplicate connection.
    pub(super) fn on_lost_syn_answer(&mut self, from: &P, p: &PacketRepr<'_>) {
        if p.packet_type != PacketType::State {
            return;
        }
        let key = (from.clone(), p.connection_id);
        let Some(&(handle, syn_seq)) = self.rendezvous_lost.get(&key) else {
            return;
        };
        if p.ack_nr != syn_seq {
            return;
        }
        self.rendezvous_lost.remove(&key);
        let mut proven = false;
        self.with_conn(handle, |conn, sink, _| {
            proven = conn.prove_rendezvous_acceptor(sink);
        });
        if proven {
            self.settle(handle.index);
            self.mark_ready(handle.index);
        }
    }

    /// Both SYNs the same: ours starts again with a new id and sequence
    /// number.
    fn rendezvous_draw(&mut self, now: Timestamp, index: u32, from: &P) {
        let Some(recv_id) = self.free_connection_id(from) else {
            return;
        };
        let isn = SeqNr::new(self.rng.next_u16());
        let conn = self.rendezvous_conn(now, from, recv_id, isn);
        self.replace(index, from, conn, (from.clone(), recv_id));
        self.mark_ready(index);
    }

    /// Puts `conn` in slot `index` in place of the connection there (which
    /// it adopts), routed by `key`.
    pub(super) fn replace(&mut self, index: u32, from: &P, mut conn: Connection, key: (P, u16)) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let Some(old) = slot.conn.take() else {
            return;
        };
        let old_key = (from.clone(), old.recv_id());
        conn.adopt(*old);
        slot.conn = Some(Box::new(conn));
        self.routes.remove_if(&old_key, index);
        self.routes.insert(key, index);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use crate::{Config, Endpoint, Timestamp};

    #[test]
    fn finished_rendezvous_are_forgotten() {
        let mut ep = Endpoint::new(Config::default(), 1);
        let now = Timestamp::from_secs(1);
        for i in 0..300u16 {
            let peer = SocketAddr::from(([192, 0, 2, 1], 1000 + i));
            let h = ep.connect_rendezvous(now, peer).unwrap();
            if let Some(mut c) = ep.conn(h) {
                c.abort();
            }
        }
        assert!(
            ep.rendezvous.len() <= 64,
            "{} remembered",
            ep.rendezvous.len()
        );
    }
}
