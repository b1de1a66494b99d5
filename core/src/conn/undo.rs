//! Spurious retransmission timeouts, and undoing them (the response of
//! RFC 4015, Eifel; the detection is RFC 3522's, with uTP's timestamps in
//! place of TCP's).
//!
//! A sudden rise of the path's delay (a delay spike, a radio link's
//! retransmissions) can outlast the retransmission timeout with nothing
//! lost: the timer fires, the window drops to its minimum, and the acks of
//! the original packets arrive soon after. The first ack that covers the
//! oldest packet in flight at the (first) timeout decides:
//!
//! - Every packet of ours carries the time we sent it; the peer's packets
//!   echo, in `timestamp_difference`, its receive time of the last packet
//!   it got from us minus that packet's timestamp, and carry their own send
//!   time. `timestamp − timestamp_difference` is then our send time of that
//!   last packet plus how long the peer held it before this one: an upper
//!   bound on when we sent it, on our clock, free of the clocks' offset.
//! - When that bound lies before the timeout, the peer had not received
//!   anything we sent from the timeout on, so it acknowledged the original
//!   transmission: the timeout was spurious. The controller returns to its
//!   state before the timeout ([`Controller::on_timeout_verdict`]), the
//!   recovery period is the one before it, and packets still waiting for
//!   their retransmission count as in flight again (their originals are on
//!   the way). The retransmission timeout's backoff and the count of
//!   consecutive timeouts are reset by any new acknowledgement anyway.
//! - Otherwise (or without a delay sample from the peer) the timeout
//!   stands. A loss found by fast retransmit during the episode ends it the
//!   same way.
//!
//! Several timeouts in a row form one episode, judged against the first.
//! A peer that reorders our retransmission ahead of an original sent before
//! it by more than the timeout can make a real loss look spurious; the
//! cost is one window that was not reduced, as for any misreport of a peer.
//!
//! [`Controller::on_timeout_verdict`]: crate::congestion::Controller::on_timeout_verdict

use super::Connection;
use crate::seq::SeqNr;
use crate::time::Timestamp;
use crate::wire::PacketRepr;

/// One or more retransmission timeouts in a row, waiting for the ack that
/// tells whether they were spurious.
#[derive(Clone, Copy, Debug)]
pub(super) struct TimeoutEpisode {
    /// When the first of them fired: every retransmission they caused left
    /// at or after it.
    first_at: Timestamp,
    /// The oldest packet in flight then: the first ack covering it decides.
    oldest: SeqNr,
    /// The recovery period before the first timeout.
    recovery_until: Option<SeqNr>,
}

impl Connection {
    /// The retransmission timer fired and the controller was told: starts
    /// an episode unless one is under way. Called before the timeout
    /// changes the recovery period.
    pub(super) fn note_timeout(&mut self, now: Timestamp) {
        if self.timeout_episode.is_some() {
            return;
        }
        if let Some(oldest) = self.in_flight.first_seq() {
            self.timeout_episode = Some(TimeoutEpisode {
                first_at: now,
                oldest,
                recovery_until: self.recovery_until,
            });
        }
    }

    /// An ack that cumulatively acknowledged something new (`p`): if it
    /// covers the episode's oldest packet, the verdict. Called before the
    /// controller hears of the ack.
    pub(super) fn judge_timeout(&mut self, now: Timestamp, p: &PacketRepr<'_>) {
        let Some(episode) = self.timeout_episode else {
            return;
        };
        if p.ack_nr.is_before(episode.oldest) {
            return;
        }
        self.timeout_episode = None;
        let spurious = echo_predates(p, episode.first_at, now);
        self.cc.on_timeout_verdict(now, spurious);
        if spurious {
            self.stats.spurious_timeouts += 1;
            self.recovery_until = episode.recovery_until;
            self.in_flight.unmark_lost_sent_before(episode.first_at);
            crate::trace::conn_event!(
                self,
                cwnd = self.cc.window(),
                "spurious retransmission timeout undone"
            );
        }
    }

    /// A loss found by fast retransmit: the episode's timeouts stand.
    /// Called before the controller hears of the loss.
    pub(super) fn end_timeout_episode(&mut self, now: Timestamp) {
        if self.timeout_episode.take().is_some() {
            self.cc.on_timeout_verdict(now, false);
        }
    }
}

/// Whether the packet of ours whose receipt `p` echoes was sent before
/// `at` (see the module docs): `p.timestamp − p.timestamp_difference`,
/// compared on our 32-bit microsecond clock. An echo that is no sample, or
/// that would lie after `now`, proves nothing.
fn echo_predates(p: &PacketRepr<'_>, at: Timestamp, now: Timestamp) -> bool {
    if !p.timestamp_difference.is_sample() {
        return false;
    }
    let echoed = p.timestamp.0.wrapping_sub(p.timestamp_difference.0);
    let before = (at.to_wire().0.wrapping_sub(echoed) as i32) > 0;
    let not_ahead = (now.to_wire().0.wrapping_sub(echoed) as i32) >= 0;
    before && not_ahead
}
