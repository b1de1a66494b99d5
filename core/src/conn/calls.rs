//! The application's calls on a connection (`write`, `read` and the window
//! update a read may send, `shutdown`, `close`, `abort`), and how a
//! connection ends (`finish`, which every way of ending goes through).
//! `write_bytes` and what a write may take are in `send_buffer.rs`.

use super::{Connection, EventSink, Phase, DRAIN_MAX, DRAIN_MIN};
use crate::error::Error;
use crate::event::{CloseReason, Event};
use crate::time::Timestamp;

impl Connection {
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        if let Some(e) = self.write_refused() {
            return Err(e);
        }
        if data.is_empty() {
            return Ok(0);
        }
        // The endpoint's memory budget bounds it too (`memory.rs`).
        let room = self.write_room().min(self.budget_room);
        let n = self.send.write(data.get(..room).unwrap_or(data));
        if n == 0 {
            self.writable_wanted = true;
            return Err(Error::WouldBlock);
        }
        self.budget_room -= n;
        Ok(n)
    }

    pub(crate) fn read(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if self.close_called {
            return Err(Error::Shutdown);
        }
        if out.is_empty() {
            return Ok(0);
        }
        let n = self.recv.read(out);
        if n > 0 {
            self.maybe_window_update();
            if self.recv.readable_len() == 0 {
                self.readable_signalled = false;
            }
            return Ok(n);
        }
        self.readable_signalled = false;
        if self.recv.is_eof() {
            // Everything the peer sent was read; a RESET that came after
            // its FIN is still reported, so that a reader learns the peer
            // did not end cleanly.
            if self.phase == Phase::Closed(CloseReason::Reset) {
                return Err(Error::Closed(CloseReason::Reset));
            }
            return Ok(0);
        }
        match self.phase {
            Phase::Closed(reason) => Err(Error::Closed(reason)),
            _ => Err(Error::WouldBlock),
        }
    }

    /// After the application read: if the window we advertised was too
    /// small to carry a packet and now is not, or it grew by half, tell the
    /// peer at once (TCP's window update). A sender stopped by a zero
    /// window would otherwise wait for its probe; one held back by a
    /// window too small for a full packet (`output.rs`, silly-window
    /// avoidance) waits for this update. While the window is shared
    /// (`endpoint/share.rs`), the ack of a run of packets goes out before
    /// the application has read them and so carries a window smaller by
    /// the run: with 100 connections sharing 2 MiB (20 KB each, what 200
    /// get of the driver's default 4 MiB), holding the update back 1 ms to
    /// save acks halved their aggregate throughput over loopback.
    fn maybe_window_update(&mut self) {
        let window = self.advertised_window_now();
        let reopened = self.advertised_window < self.packet_size && window >= self.packet_size;
        let grew_by_half = window
            >= self
                .advertised_window
                .saturating_add(self.recv.capacity().min(self.window_cap) / 2);
        if reopened || grew_by_half {
            self.ack_pending = true;
        }
    }

    pub(crate) fn shutdown(&mut self) {
        if !self.is_closed() {
            self.write_closed = true;
        }
    }

    pub(crate) fn close(&mut self, now: Timestamp, events: &mut EventSink<'_>) {
        self.close_called = true;
        self.recv.set_discard();
        if !self.is_closed() {
            self.write_closed = true;
            if matches!(self.phase, Phase::SynSent | Phase::Expecting)
                || (self.phase == Phase::HalfOpen && !self.hs.sent_early_data(self.seq_nr))
            {
                // Nothing was ever exchanged: just stop.
                self.finish(now, CloseReason::LocalClose, events);
            }
        }
    }

    /// RESET to the peer, everything dropped. With `release`, the
    /// application is done with the connection too (as after `close`).
    pub(crate) fn abort(&mut self, now: Timestamp, events: &mut EventSink<'_>, release: bool) {
        if release {
            self.close_called = true;
        }
        if self.is_closed() {
            return;
        }
        // An expected connection whose SYN never came has nobody to tell.
        self.reset_pending = self.phase != Phase::Expecting;
        self.finish(now, CloseReason::Aborted, events);
        self.drain_until = None;
    }

    /// The connection ended for `reason`: timers stop, the send side's
    /// memory goes, the application is told ([`Event::Closed`]).
    pub(super) fn finish(
        &mut self,
        now: Timestamp,
        reason: CloseReason,
        events: &mut EventSink<'_>,
    ) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closed(reason);
        // A closed connection sends no delayed ack: this one goes now.
        if self.ack_delay_until.take().is_some() {
            self.ack_pending = true;
        }
        self.rto_deadline = None;
        self.tlp_deadline = None;
        self.probe_deadline = None;
        self.connect_deadline = None;
        self.linger_deadline = None;
        self.pace_deadline = None;
        self.hs.half_open_until = None;
        // Stay long enough to acknowledge a FIN retransmitted because our
        // ack of it was lost: four timeouts of the path as it was before
        // any backoff, within bounds. Without a FIN there is nothing to
        // drain, and after a timeout nobody is retransmitting one (the
        // peer fell silent, or the path is dead).
        let drain = self.recv.fin_seq().is_some() && !matches!(reason, CloseReason::TimedOut(_));
        self.drain_until =
            drain.then(|| now + (self.rtt.base_rto() * 4).clamp(DRAIN_MIN, DRAIN_MAX));
        self.writable_wanted = false;
        // Nothing more goes out: the send side's memory can go now (what
        // was received stays readable).
        self.send.clear();
        self.recv.release_spare();
        crate::trace::conn_event!(self, %reason, "closed");
        events.push(Event::Closed(events.handle, reason));
    }
}
