//! A connection's share of the endpoint's memory budget, and giving memory
//! back when the connection goes idle.
//!
//! The endpoint sets `budget_room` (bytes all connections together may
//! still buffer, [`Config::memory_budget`](crate::Config::memory_budget))
//! before every call. Writes take no more than that; out-of-order data
//! is held only within it, and in-order data only within it unless it
//! fills a hole (so reassembly always finishes); the window we advertise
//! never exceeds it, so honest peers slow down before anything is dropped.
//!
//! Buffers grow with use and keep their capacity while the connection is
//! busy (no allocation per packet). After [`IDLE_RELEASE`] without
//! traffic, or when the connection closes, the empty ones are freed.

use core::time::Duration;

use super::Connection;
use crate::time::Timestamp;

/// Time without traffic after which empty buffers are freed.
pub(crate) const IDLE_RELEASE: Duration = Duration::from_secs(5);

impl Connection {
    /// Bytes this connection buffers (what the budget counts): what is
    /// written and not yet acknowledged (with the bookkeeping of each
    /// queued `Bytes`), received and not yet read, held
    /// out of order, and the reassembly memory kept for reuse.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.send.budgeted() + self.recv.buffered() + self.recv.spare_bytes()
    }

    /// Under memory pressure: gives back the spare reassembly buffers.
    pub(crate) fn release_spare_buffers(&mut self) {
        self.recv.release_pool();
    }

    /// Sets what the endpoint's budget still allows.
    pub(crate) fn set_budget_room(&mut self, room: usize) {
        self.budget_room = room;
    }

    /// Sets the most this connection may advertise: its share of the
    /// socket's receive window (`endpoint/share.rs`).
    pub(crate) fn set_window_cap(&mut self, cap: usize) {
        self.window_cap = cap;
    }

    /// The receive window to advertise: our free buffer, within the
    /// budget and the connection's share of the socket's window (a share
    /// counts what is buffered as a smaller buffer would, so a reader
    /// that falls behind slows its sender down as it would without one).
    ///
    /// A share never closes the window by itself: it leaves room for a
    /// full packet (of the configured size: the peer's may be larger than
    /// ours so far). A zero window tells the peer that we drop what it
    /// sends (a sender then resends all it has in flight once the window
    /// reopens), and the buffer does have room; a packet per connection
    /// and round trip beyond the share is what that costs.
    pub(super) fn advertised_window_now(&self) -> usize {
        let share = self
            .window_cap
            .saturating_sub(self.recv.buffered())
            .max(self.pmtu.ceiling());
        self.recv.window().min(self.budget_room).min(share)
    }

    /// Whether the last call wanted to write but the budget had no room.
    pub(crate) fn blocked_by_budget(&self) -> bool {
        self.writable_wanted && self.budget_room == 0 && self.send.free() > 0
    }

    /// Asks the connection to report [`Writable`](crate::Event::Writable)
    /// once the budget has room again: it cleared the flag when it told.
    pub(crate) fn budget_freed(&mut self, events: &mut super::EventSink<'_>) {
        if self.writable_wanted && self.write_room() > 0 {
            self.writable_wanted = false;
            events.push(crate::Event::Writable(events.handle));
        }
    }

    /// When to free idle buffers, if any would be freed.
    pub(super) fn idle_release_at(&self) -> Option<Timestamp> {
        let spare = (self.send.is_empty() && self.send.capacity() > 0)
            || self.in_flight.has_spare()
            || self.recv.has_spare();
        spare.then(|| self.last_send.max(self.last_recv) + IDLE_RELEASE)
    }

    pub(super) fn release_idle_memory(&mut self) {
        if self.send.is_empty() {
            self.send.clear();
        }
        self.in_flight.release_spare();
        self.recv.release_spare();
    }

    /// Heap bytes the connection's buffers hold now (capacity, not use).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.send.capacity() + self.in_flight.heap_bytes() + self.recv.heap_bytes()
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use core::mem::size_of;

    use super::Connection;
    use crate::congestion::Ledbat;

    /// What every connection carries, idle or not, stays within a budget
    /// (issue 14: at most 2 KiB of heap per idle connection end, endpoint
    /// bookkeeping included). Rarely used state (a held early packet, the
    /// reassembly slots, LEDBAT's undo state, the tracing span) is boxed
    /// and absent while idle, and LEDBAT's delay histories take the
    /// configured length, so these sizes only grow by adding fields: keep
    /// the figures below true, or give the room back elsewhere.
    #[test]
    fn connection_state_stays_small() {
        // 1,200 bytes with the `tracing` feature (as tests build it), 8
        // less without; 1,520 before.
        assert!(
            size_of::<Connection>() <= 1_232,
            "{}",
            size_of::<Connection>()
        );
        // 216 bytes and a 96-byte allocation for the default histories
        // (10 + 10 + 4 values); 592 before.
        assert!(size_of::<Ledbat>() <= 232, "{}", size_of::<Ledbat>());
    }
}
