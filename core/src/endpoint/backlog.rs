//! The listener's side: [`Endpoint::listen`], the accept backlog and
//! [`Endpoint::accept`], and what happens when a half-open connection is
//! proven (it joins the backlog, or is refused, or is settled as a
//! rendezvous duplicate: `duplicate.rs`) or a connection closes before the
//! application held it.

use std::collections::VecDeque;

use super::{ConnHandle, Endpoint, Listener, Owner};
use crate::config::ListenConfig;
use crate::conn::{Connection, EventSink};
use crate::event::Event;
use crate::peer::Peer;

impl<P: Peer> Endpoint<P> {
    /// Accept incoming connections from now on.
    ///
    /// A SYN makes a half-open connection (or, under pressure, only a SYN
    /// cookie); it joins the backlog, with an [`Incoming`](Event::Incoming)
    /// event, once the initiator's next packet proves it received our
    /// answer (our initiators send one at once). With
    /// [`ListenConfig::early_data`] it joins at once and may send one
    /// packet before that. A backlog of 0 (invalid, see
    /// [`ListenConfig::validate`]) is taken as 1.
    pub fn listen(&mut self, config: ListenConfig<P>) {
        self.listener = Some(Listener {
            backlog: config.backlog.max(1),
            filter: config.filter,
            early_data: config.early_data,
            queue: VecDeque::new(),
        });
    }

    /// Stop accepting; connections already accepted stay, and those still
    /// in the backlog live on until they close.
    pub fn unlisten(&mut self) {
        if let Some(listener) = self.listener.take() {
            for h in listener.queue {
                if let Some(slot) = self.slots.get_mut(h.index as usize) {
                    slot.owner = Owner::Endpoint;
                }
            }
        }
    }

    /// Takes the oldest connection from the accept backlog.
    pub fn accept(&mut self) -> Option<ConnHandle> {
        loop {
            let h = self.listener.as_mut()?.queue.pop_front()?;
            if let Some(slot) = self.slots.get_mut(h.index as usize) {
                slot.owner = Owner::App;
            }
            match self.slot_conn(h).map(Connection::is_closed) {
                Some(false) => return Some(h),
                // Closed before the application ever saw it: nobody will
                // release it, so release it here.
                Some(true) => {
                    if let Some(c) = self
                        .slots
                        .get_mut(h.index as usize)
                        .and_then(|s| s.conn.as_deref_mut())
                    {
                        c.release();
                    }
                    self.maybe_release(h.index);
                }
                None => {}
            }
        }
    }

    /// Bookkeeping after connection `index` may have changed phase: a
    /// half-open connection that was proved joins the backlog (or is
    /// refused when it is full, or kept out as a duplicate: `duplicate.rs`);
    /// one that closed before the application held it is let go.
    pub(super) fn settle(&mut self, index: u32) {
        self.account(index);
        if self.proven_now(index) && !self.settle_duplicate(index) {
            self.enqueue(index);
        }
        self.let_go_unheld(index);
    }

    /// Whether half-open connection `index` has just been proven and is
    /// alive; its half-open count goes.
    fn proven_now(&mut self, index: u32) -> bool {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return false;
        };
        let Some(conn) = slot.conn.as_deref() else {
            return false;
        };
        if !slot.half_open || conn.is_half_open() {
            return false;
        }
        slot.half_open = false;
        self.half_open -= 1;
        if conn.is_closed() {
            self.stats.half_open_expired += 1;
            return false;
        }
        // (With early data it joined the backlog at its SYN, and may
        // have been handed out since.)
        true
    }

    /// Puts proven connection `index` in the accept backlog, with an
    /// [`Incoming`](Event::Incoming) event, or refuses it when full (unless
    /// it is there already).
    pub(super) fn enqueue(&mut self, index: u32) {
        let handle = self.handle_of(index);
        let Some(slot) = self
            .slots
            .get_mut(index as usize)
            .filter(|s| s.owner == Owner::Endpoint)
        else {
            return;
        };
        let Some(conn) = slot.conn.as_deref_mut() else {
            return;
        };
        match self.listener.as_mut() {
            Some(l) if l.queue.len() < l.backlog => {
                l.queue.push_back(handle);
                slot.owner = Owner::Queued;
                // Before the connection's own events (the proving
                // packet may have brought data): the application
                // learns of the handle before it hears of it.
                let at = self
                    .events
                    .iter()
                    .position(|e| e.handle() == Some(handle))
                    .unwrap_or(self.events.len());
                self.events.insert(at, Event::Incoming);
            }
            _ => {
                // Nowhere to put it: tell the (now proven) peer.
                let mut sink = EventSink {
                    queue: &mut self.events,
                    handle,
                };
                conn.abort(self.now, &mut sink, true);
            }
        }
    }

    /// Lets connection `index` go if it closed before the application held
    /// it.
    fn let_go_unheld(&mut self, index: u32) {
        let handle = self.handle_of(index);
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let Some(conn) = slot.conn.as_deref_mut() else {
            return;
        };
        if conn.is_closed() && slot.owner != Owner::App {
            if slot.owner == Owner::Queued {
                if let Some(l) = self.listener.as_mut() {
                    l.queue.retain(|h| h.index != index);
                }
                slot.owner = Owner::Endpoint;
            }
            conn.release();
            // Nobody holds its handle: its events mean nothing to anyone.
            self.events.retain(|e| e.handle() != Some(handle));
        }
    }
}
