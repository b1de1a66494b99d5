//! Tail loss probes (after RFC 8985, section 7): when the last packets of
//! a burst are lost, nothing arrives after them to tell (no duplicate
//! acks, no SACKs), and only the retransmission timeout, at least 500 ms,
//! would find out: the end of every lossy request/response, a 16 KiB
//! BitTorrent block, waits for it. So when data is in flight and no ack
//! has come for a probe timeout (PTO: twice the smoothed RTT, at least
//! 10 ms, plus 25 ms when one packet is in flight, for a receiver that
//! delays the ack of a lone packet), the newest packet in flight goes
//! again, once. Its ack, with a SACK, shows what else was lost and fast
//! recovery repairs it; a retransmission timeout stays the backstop. A
//! probe is no congestion signal (the window is not reduced); the loss it
//! reveals is, as any.

use core::time::Duration;

use super::{Connection, Phase};
use crate::time::Timestamp;

/// The shortest probe timeout.
const MIN_PTO: Duration = Duration::from_millis(10);
/// Added to the probe timeout while one packet is in flight.
const LONE_PACKET_ACK_DELAY: Duration = Duration::from_millis(25);

impl Connection {
    /// After sending new data or taking an ack: the probe timer, if data is
    /// in flight, an RTT is known, no probe went since the last ack, and it
    /// would fire before the retransmission timer.
    pub(super) fn arm_tail_probe(&mut self, now: Timestamp) {
        self.tlp_deadline = None;
        if self.phase != Phase::Established
            || self.tlp_probed
            // A closed window has probes of its own.
            || self.peer_window == 0
            || self.in_flight.is_empty()
            || !self.rtt.has_sample()
        {
            return;
        }
        let mut pto = (self.rtt.srtt() * 2).max(MIN_PTO);
        if self.in_flight.len() == 1 {
            pto += LONE_PACKET_ACK_DELAY;
        }
        let at = now + pto;
        if self.rto_deadline.is_some_and(|rto| at < rto) {
            self.tlp_deadline = Some(at);
        }
    }

    /// The probe timer fired: the newest packet in flight is sent again
    /// (unless something is already to be retransmitted).
    pub(super) fn on_tail_probe_timer(&mut self, now: Timestamp) {
        if self.tlp_deadline.is_none_or(|t| now < t) {
            return;
        }
        self.tlp_deadline = None;
        if self.in_flight.has_lost() || !self.in_flight.mark_last_lost() {
            return;
        }
        self.tlp_probed = true;
        self.stats.tail_probes += 1;
        crate::trace::conn_event!(self, "tail loss probe");
    }

    /// An ack that acknowledged something new: another probe may go.
    pub(super) fn on_ack_progress(&mut self, now: Timestamp) {
        self.tlp_probed = false;
        self.arm_tail_probe(now);
    }
}
