//! The endpoint's timers and output: running due timers, multiplexing
//! every connection's datagrams (and the endpoint's own replies) into
//! `poll_transmit`, events and the next deadline.

use super::*;

/// Datagrams a connection sends in a row while it has them, before the
/// next ready connection's turn (about 22 KB of full packets, less than
/// the 64 KB a TCP sender hands the network in one go): the receiving
/// endpoint then routes a run of datagrams to one connection (its route
/// remembered, its state and buffers in cache) and acknowledges them
/// together, rather than each datagram being for another connection
/// (in a profile of 100 connections over one loopback socket pair, turns
/// of one datagram made the receiver's payload copies cost half as much
/// again: the next connection's buffers were out of cache).
const TURN: u32 = 16;

impl<P: Peer> Endpoint<P> {
    /// Processes expired deadlines. Call when the time from
    /// [`poll_timeout`](Self::poll_timeout) has come (calling it earlier or
    /// more often is harmless).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        self.rate_on_timeout(now);
        // Only the connections whose deadline may have come (`timers.rs`).
        let due = self.take_due(now);
        let cap = self.window_cap();
        for &index in &due {
            let handle = self.handle_of(index);
            let Some(conn) = self
                .slots
                .get_mut(index as usize)
                .and_then(|s| s.conn.as_deref_mut())
            else {
                continue;
            };
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                let mut sink = EventSink {
                    queue: &mut self.events,
                    handle,
                };
                conn.set_budget_room(self.config.memory_budget.saturating_sub(self.buffered));
                conn.set_window_cap(cap);
                conn.on_timeout(now, &mut sink);
                if let (Some(path), Some(ip)) = (conn.pmtu_take_update(), conn.remote_ip()) {
                    self.paths.record(ip, path, now);
                }
                self.settle(index);
            }
            // Armed again (if it has a deadline still): its entry was taken.
            self.mark_ready(index);
            self.maybe_release(index);
        }
        self.return_due(due);
    }

    // ----- output -----

    /// Writes the next datagram to send into `buf` (which should hold at
    /// least the configured packet size; 1500 bytes is enough by default)
    /// and says where it goes. Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit<P>> {
        self.tick(now);
        if let Some(reply) = self.replies.pop_front() {
            if let Some(len) = emit_reply(now, &reply, buf) {
                if reply.packet_type == PacketType::Reset {
                    self.stats.resets_sent += 1;
                }
                return Some(Transmit {
                    destination: reply.to,
                    len,
                    dont_fragment: false,
                });
            }
        }
        let cap = self.window_cap();
        while let Some(index) = self.ready.pop_front() {
            let Some(slot) = self.slots.get_mut(index as usize) else {
                self.turn = 0;
                continue;
            };
            let Some(conn) = slot.conn.as_deref_mut() else {
                self.turn = 0;
                slot.ready = false;
                continue;
            };
            // The window it advertises stays within the budget.
            conn.set_budget_room(self.config.memory_budget.saturating_sub(self.buffered));
            // And within its share of the socket's window (`share.rs`).
            conn.set_window_cap(cap);
            // And what it sends within the socket-wide rate (`rate.rs`).
            conn.set_total_room(self.total.room_at(now));
            let sent = conn.poll_transmit(now, buf);
            self.total.charge(
                index,
                &mut slot.rate_blocked,
                conn.take_total_spent(),
                conn.take_total_blocked(),
            );
            match sent {
                Some(len) => {
                    #[cfg(feature = "tracing")]
                    if let Some(datagram) = buf.get(..len) {
                        crate::trace::sent(now, datagram, conn);
                    }
                    let dont_fragment = conn.take_dont_fragment();
                    let Some(destination) = slot.peer.clone() else {
                        self.turn = 0;
                        continue;
                    };
                    // It may have more (its timers are armed once it has
                    // nothing more): its turn goes on for a run of
                    // datagrams, then round robin, back of the queue.
                    self.turn += 1;
                    if self.turn < self.turn_len() {
                        self.ready.push_front(index);
                    } else {
                        self.turn = 0;
                        self.ready.push_back(index);
                    }
                    return Some(Transmit {
                        destination,
                        len,
                        dont_fragment,
                    });
                }
                None => {
                    self.turn = 0;
                    slot.ready = false;
                    // Done sending for now: what it did since it was
                    // queued (a packet in, a call, packets out) set the
                    // deadline `poll_timeout` needs.
                    self.arm(index);
                    self.maybe_release(index);
                }
            }
        }
        None
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) may have a datagram:
    /// a reply is queued or a connection was touched since it last had
    /// nothing to send (it may still have nothing). For a loop that puts
    /// off sending after an application call until its next turn.
    pub fn may_transmit(&self) -> bool {
        !self.replies.is_empty() || !self.ready.is_empty()
    }

    /// Datagrams one connection sends in a row before the next ready
    /// one's turn ([`TURN`]); one under a socket-wide rate limit, whose
    /// credit then goes round (`rate.rs`).
    fn turn_len(&self) -> u32 {
        if self.total.is_limited() {
            1
        } else {
            TURN
        }
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) at the latest;
    /// `None` when no timer is running. Ask after draining
    /// [`poll_transmit`](Self::poll_transmit) (as the loop of the crate
    /// docs does): a connection's new deadline is taken when it has nothing
    /// more to send. It may be a little early (a timer that moved later is
    /// found not due and armed again); calling `handle_timeout` early is
    /// harmless. (This includes when the
    /// socket-wide send rate, [`Config::max_total_send_rate`], lets a
    /// waiting connection send again.)
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let conns = self.timers.next();
        match (conns, self.rate_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
