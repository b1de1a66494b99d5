//! Two connections with the peer of a rendezvous, and which one stays
//! ([`Config::rendezvous_duplicates`](crate::Config::rendezvous_duplicates),
//! spec section 9).
//!
//! A BEP 29 peer (libutp, libtorrent) runs no contest: when our SYN wins
//! and we listen, our listener accepts the peer's SYN as any other
//! (`rendezvous.rs`), and the peer's listener accepts ours. Once the peer
//! proves that accepted connection, each side holds two. A peer of ours
//! never gets that far: its connection became the acceptor of our SYN,
//! and it resets the other. Here the endpoint notes which SYN lost to which
//! rendezvous, and when the connection made from that SYN is proven, keeps
//! one by the rule and tells the application with [`Event::Duplicate`].

use super::{forget_done, ConnHandle, Endpoint, Owner};
use crate::config::DuplicateRule;
use crate::conn::{Connection, EventSink};
use crate::event::Event;
use crate::peer::Peer;

/// libtorrent's close-reason code `duplicate_peer_id`, which our FIN or
/// RESET carries for the connection not kept.
const DUPLICATE_CODE: u16 = 1;

impl<P: Peer> Endpoint<P> {
    /// Tells the endpoint the port the peer sees it at (the socket's own,
    /// or the public one a NAT maps it to, when known), for
    /// [`DuplicateRule::LowerPort`]. The adapters set the socket's.
    pub fn set_local_port(&mut self, port: u16) {
        self.local_port = Some(port);
    }

    /// The port given to [`set_local_port`](Self::set_local_port), if any.
    pub fn local_port(&self) -> Option<u16> {
        self.local_port
    }

    /// Notes that the listener is taking `from`'s SYN with id `syn_id`,
    /// which lost the contest to rendezvous `winner`; forgets, once there
    /// are a few, the entries whose rendezvous has ended.
    pub(super) fn remember_rival(&mut self, from: &P, syn_id: u16, winner: ConnHandle) {
        forget_done(
            &mut self.rendezvous_rivals,
            &self.slots,
            |h| *h,
            |c| !c.is_closed(),
        );
        self.rendezvous_rivals
            .insert((from.clone(), syn_id), winner);
    }

    /// Connection `index`, accepted and just proven: if it was made from a
    /// SYN that lost to a rendezvous still alive, applies the rule (and
    /// queues it, if it stays; one the application already holds, with
    /// early data, stays). Whether it did.
    pub(super) fn settle_duplicate(&mut self, index: u32) -> bool {
        if self.rendezvous_rivals.is_empty() {
            return false;
        }
        let Some((peer, send_id, held)) = self.slots.get(index as usize).and_then(|s| {
            let conn = s.conn.as_deref()?;
            Some((s.peer.clone()?, conn.send_id(), s.owner == Owner::App))
        }) else {
            return false;
        };
        let Some(rendezvous) = self.rendezvous_rivals.remove(&(peer.clone(), send_id)) else {
            return false;
        };
        let Some(waiting) = self
            .slot_conn(rendezvous)
            .filter(|c| !c.is_closed())
            .map(|c| c.rendezvous_syn().is_some())
        else {
            return false;
        };
        self.stats.rendezvous_duplicates += 1;
        let accepted = self.handle_of(index);
        // Early data: the application may hold it already; it keeps both.
        let rule = if held {
            None
        } else {
            self.keep_rendezvous(&peer)
        };
        let kept = match rule {
            None => {
                self.enqueue(index);
                None
            }
            Some(true) => {
                self.with_conn(accepted, |conn, sink, now| {
                    conn.set_close_code(Some(DUPLICATE_CODE));
                    conn.abort(now, sink, true);
                });
                Some(rendezvous)
            }
            // Not yet connected: the accepted connection becomes the
            // rendezvous, under its handle; one connection.
            Some(false) if waiting => {
                self.take_over(rendezvous, index, &peer);
                return true;
            }
            Some(false) => {
                self.enqueue(index);
                self.with_conn(rendezvous, |conn, _, _| conn.supersede(DUPLICATE_CODE));
                self.mark_ready(rendezvous.index);
                Some(accepted)
            }
        };
        self.events.push_back(Event::Duplicate {
            rendezvous,
            accepted,
            kept,
        });
        true
    }

    /// Whether the rule keeps the rendezvous (`Some(true)`), the accepted
    /// connection (`Some(false)`) or both (`None`).
    fn keep_rendezvous(&self, peer: &P) -> Option<bool> {
        match self.config.rendezvous_duplicates {
            DuplicateRule::KeepBoth => None,
            DuplicateRule::KeepRendezvous => Some(true),
            // The lower port keeps its outgoing connection: ours is the
            // rendezvous.
            DuplicateRule::LowerPort => {
                let ours = self.local_port?;
                let theirs = peer.socket_addr()?.port();
                (ours != theirs).then_some(ours < theirs)
            }
        }
    }

    /// Moves accepted connection `index` into the slot of `rendezvous`
    /// (which it adopts: what the application wrote, its settings), which
    /// then says `Connected`.
    fn take_over(&mut self, rendezvous: ConnHandle, index: u32, peer: &P) {
        let accepted = self.handle_of(index);
        // (In the backlog already with early data.)
        if let Some(l) = self.listener.as_mut() {
            l.queue.retain(|h| h.index != index);
        }
        let Some(conn) = self.vacate(index) else {
            return;
        };
        let key = (peer.clone(), conn.recv_id());
        self.replace(rendezvous.index, peer, *conn, key);
        for event in &mut self.events {
            rehandle(event, accepted, rendezvous);
        }
        let config = self.config.clone();
        self.with_conn(rendezvous, |conn, sink, _| {
            conn.adopt_for_rendezvous(&config, sink);
        });
        self.account(rendezvous.index);
        self.mark_ready(rendezvous.index);
    }

    /// Runs `f` on connection `h` (if it is there) with its event sink and
    /// the time.
    pub(super) fn with_conn(
        &mut self,
        h: ConnHandle,
        f: impl FnOnce(&mut Connection, &mut EventSink<'_>, crate::time::Timestamp),
    ) {
        let now = self.now;
        let Some(conn) = self
            .slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.conn.as_deref_mut())
        else {
            return;
        };
        let mut sink = EventSink {
            queue: &mut self.events,
            handle: h,
        };
        f(conn, &mut sink, now);
    }
}

/// `event` about `from` made about `to` instead.
fn rehandle(event: &mut Event, from: ConnHandle, to: ConnHandle) {
    match event {
        Event::Connected(h)
        | Event::Readable(h)
        | Event::Writable(h)
        | Event::Eof(h)
        | Event::Closed(h, _)
            if *h == from =>
        {
            *h = to;
        }
        _ => {}
    }
}
