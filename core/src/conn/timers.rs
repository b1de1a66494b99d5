//! The connection's deadlines: what `poll_timeout` reports and what
//! `on_timeout` does when one passes (connect and half-open limits, idle
//! timeout, linger, retransmission, pacing, zero-window probes, a delayed
//! ack, keepalives, the handshake's third packet, giving back idle memory).

use super::{Connection, EventSink, Phase};
use crate::event::{CloseReason, Timer};
use crate::time::Timestamp;

impl Connection {
    pub(crate) fn poll_timeout(&self) -> Option<Timestamp> {
        let mut deadline: Option<Timestamp> = None;
        let mut consider = |t: Option<Timestamp>| {
            if let Some(t) = t {
                deadline = Some(deadline.map_or(t, |d| d.min(t)));
            }
        };
        if let Phase::Closed(_) = self.phase {
            consider(self.drain_until);
            return deadline;
        }
        consider(self.rto_deadline);
        consider(self.tlp_deadline);
        consider(self.connect_deadline);
        consider(self.probe_deadline);
        consider(self.linger_deadline);
        consider(self.pace_deadline);
        consider(self.ack_delay_until);
        consider(self.hs.half_open_until);
        consider(self.hs.third_again.map(|(at, _, _)| at));
        consider(self.idle_release_at());
        if self.phase == Phase::Established {
            consider(self.keepalive.map(|k| self.last_send + k));
        }
        if self.phase != Phase::Expecting {
            consider(self.idle_timeout.map(|i| self.last_recv + i));
        }
        deadline
    }

    pub(crate) fn on_timeout(&mut self, now: Timestamp, events: &mut EventSink<'_>) {
        if self.is_closed() {
            // The drain period is over: no more deadlines.
            if self.drain_until.is_some_and(|t| now >= t) {
                self.drain_until = None;
            }
            return;
        }
        if self.connect_deadline.is_some_and(|t| now >= t) {
            return self.finish(now, CloseReason::TimedOut(Timer::Connect), events);
        }
        if self.hs.half_open_until.is_some_and(|t| now >= t) {
            return self.finish(now, CloseReason::TimedOut(Timer::HalfOpen), events);
        }
        if let Some(idle) = self.idle_timeout.filter(|_| self.phase != Phase::Expecting) {
            if now >= self.last_recv + idle {
                return self.finish(now, CloseReason::TimedOut(Timer::Idle), events);
            }
        }
        if self.linger_deadline.is_some_and(|t| now >= t) {
            return self.finish(now, CloseReason::LocalClose, events);
        }
        if self.on_rendezvous_timer(now) {
            // The SYN goes again; no backoff, no timeout counted.
        } else if self.rto_deadline.is_some_and(|t| now >= t) && !self.pmtu_probe_timeout(now) {
            self.stats.timeouts += 1;
            self.last_rto_at = now;
            crate::trace::conn_event!(
                self,
                rto_ms = self.rtt.rto().as_millis() as u64,
                consecutive = self.consecutive_timeouts + 1,
                "retransmission timeout"
            );
            // With the peer's window closed, what is in flight is a probe
            // the peer may rightly drop: its timeout is no sign of a dead
            // path or of congestion (the idle timeout catches a dead peer).
            let window_closed = self.peer_window == 0 && self.phase == Phase::Established;
            if !window_closed {
                self.consecutive_timeouts += 1;
            }
            if self.consecutive_timeouts > self.max_retransmissions && self.phase != Phase::SynSent
            {
                let timer = self.retransmissions_timer();
                return self.finish(now, CloseReason::TimedOut(timer), events);
            }
            self.rtt.back_off();
            if self.phase != Phase::SynSent && !window_closed {
                self.note_timeout(now);
                self.cc.on_timeout(now, self.packet_size);
            }
            // SACKs are forgotten too (RFC 2018's reneging rule): a SACK the
            // peer did not mean, or forged, must not stop a retransmission
            // for ever.
            self.in_flight.mark_all_lost_forget_sacks();
            self.recovery_until = Some(self.seq_nr);
            self.rto_deadline = Some(now + self.rtt.rto());
            self.tlp_deadline = None;
            self.tlp_probed = false;
        }
        self.on_tail_probe_timer(now);
        self.on_third_timer(now);
        if self.idle_release_at().is_some_and(|t| now >= t) {
            self.release_idle_memory();
        }
        if self.ack_delay_until.is_some_and(|t| now >= t) {
            // No second packet came: the delayed ack goes.
            self.ack_delay_until = None;
            self.ack_pending = true;
        }
        if self.pace_deadline.is_some_and(|t| now >= t) {
            // Credit has built up: poll_transmit sends again.
            self.pace_deadline = None;
        }
        if self.probe_deadline.is_some_and(|t| now >= t) {
            self.probe_due = true;
            // Within the timeout's bounds (the ceiling is at least the
            // floor).
            self.probe_interval = self
                .probe_interval
                .saturating_mul(2)
                .max(self.rtt.min_rto())
                .min(self.rtt.max_rto());
            self.probe_deadline = Some(now + self.probe_interval);
        }
        if let Some(k) = self.keepalive {
            if self.phase == Phase::Established && now >= self.last_send + k {
                self.keepalive_due = true;
            }
        }
    }
}
