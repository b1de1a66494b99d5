//! The endpoint's deadlines, without a scan of every connection: a
//! min-heap of (deadline, slot, generation) entries.
//!
//! An entry is never later than its connection's real deadline once
//! `poll_transmit` has been drained: anything that may change a
//! connection's deadline (a packet, a call, a timer) queues it for
//! `poll_transmit`, and when that finds it has nothing more to send,
//! [`Endpoint::arm`] pushes a new entry if the deadline moved earlier than
//! the one armed (one computation per burst, not per packet); when it moved later (an ack
//! pushed the retransmission timer back), the armed entry fires early,
//! finds nothing due, and arms the real deadline then. An entry is live
//! while its slot's generation and armed time match it; others are
//! dropped when they reach the top, and the heap is rebuilt from the live
//! ones when stale entries outnumber them. So `poll_timeout` is the heap's
//! top, a live entry (perhaps an early wake-up, which is harmless; `None`
//! when no connection has a deadline), and `handle_timeout`
//! touches only connections whose entry is due: O(log n) per deadline
//! change, nothing per idle connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::Endpoint;
use crate::peer::Peer;
use crate::time::Timestamp;

/// One entry: when, which slot, which generation of it.
type Entry = Reverse<(Timestamp, u32, u32)>;

#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Entry>,
    /// Slots found due, reused between calls.
    due: Vec<u32>,
}

impl Timers {
    /// The earliest entry's time (live or not).
    pub(super) fn next(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }
}

impl<P: Peer> Endpoint<P> {
    /// After connection `index` may have changed its deadline: an entry for
    /// it if the deadline is now earlier than the one armed.
    pub(super) fn arm(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let Some(deadline) = slot.conn.as_deref().and_then(|c| c.poll_timeout()) else {
            return;
        };
        // The armed entry will do if it is not later than the deadline and
        // not already due (a due one, left armed, would have
        // `poll_timeout` report the past after the timers ran).
        if slot
            .armed
            .is_some_and(|armed| armed <= deadline && armed > self.now)
        {
            return;
        }
        slot.armed = Some(deadline);
        self.timers
            .heap
            .push(Reverse((deadline, index, slot.generation)));
        // The entry it replaces may have been the top.
        self.prune();
        // Rebuild when stale entries pile up (deadlines that kept moving
        // earlier): the live ones are at most one per connection.
        if self.timers.heap.len() > 4 * self.live + 64 {
            let slots = &self.slots;
            self.timers.heap.retain(|Reverse((t, i, g))| {
                slots
                    .get(*i as usize)
                    .is_some_and(|s| s.generation == *g && s.armed == Some(*t))
            });
        }
    }

    /// Takes the slots whose live entry is due at `now` (their armed time
    /// is cleared: `arm` sets the next one), into a list the caller gives
    /// back with [`Endpoint::return_due`].
    pub(super) fn take_due(&mut self, now: Timestamp) -> Vec<u32> {
        let mut due = core::mem::take(&mut self.timers.due);
        while let Some(&Reverse((t, index, generation))) = self.timers.heap.peek() {
            if t > now {
                break;
            }
            self.timers.heap.pop();
            if let Some(slot) = self
                .slots
                .get_mut(index as usize)
                .filter(|s| s.generation == generation && s.armed == Some(t))
            {
                slot.armed = None;
                due.push(index);
            }
        }
        due
    }

    pub(super) fn return_due(&mut self, mut due: Vec<u32>) {
        due.clear();
        self.timers.due = due;
        self.prune();
    }

    /// Drops stale entries from the top, so that `poll_timeout` reports a
    /// live deadline (or none): called wherever the top may have gone stale
    /// (a connection released, entries taken, one pushed).
    pub(super) fn prune(&mut self) {
        while let Some(&Reverse((t, index, generation))) = self.timers.heap.peek() {
            let live = self
                .slots
                .get(index as usize)
                .is_some_and(|s| s.generation == generation && s.armed == Some(t));
            if live {
                return;
            }
            self.timers.heap.pop();
        }
    }
}
