//! Input: a packet routed to the connection: RESET, the handshake steps
//! (`handshake.rs`), acknowledgements and SACKs (what they release, RTT
//! samples, loss detection, fast retransmit, the peer's window), and
//! received data.

use super::recv::RecvOutcome;
use super::send::Reorder;
use super::{AckSnapshot, Connection, EventSink, Phase, SACK_BUF};
use crate::congestion::AckSample;
use crate::event::{CloseReason, Event};
use crate::seq::SeqNr;
use crate::time::Timestamp;
use crate::wire::{PacketRepr, PacketType, HEADER_LEN};

/// How far behind our oldest unacknowledged packet an acknowledgement may
/// be and still count: a peer's packet carries the ack it had when it sent
/// it, and we may have had up to `MAX_PACKETS_IN_FLIGHT` (1023) packets
/// acknowledged since by its later packets that overtook it. libtorrent
/// acknowledges once per received batch, so at the end of a fast transfer
/// its last packets lag by hundreds of packets (a slack of 64 most likely
/// dropped its final FIN once, through the lossy relay). RESETs, which
/// end the connection, have their own tight window (`handshake.rs`).
const ACK_SLACK: u16 = 1024;

/// Duplicate acknowledgements that trigger fast retransmit (peers that send
/// no SACK).
const DUP_ACK_THRESHOLD: u32 = 3;

impl Connection {
    /// A packet routed to this connection (its id and address matched).
    pub(crate) fn on_packet(
        &mut self,
        now: Timestamp,
        p: &PacketRepr<'_>,
        events: &mut EventSink<'_>,
    ) {
        #[cfg(feature = "tracing")]
        crate::trace::received(now, p, self);
        if let Phase::Closed(_) = self.phase {
            // Acknowledge a retransmitted FIN, or DATA before it (our ack
            // was lost: its retransmission timeout sends the oldest packet
            // first, perhaps only that one, and without our ack it would
            // go on until we are gone and answer RESET).
            let fin = self.recv.fin_seq();
            let ours_again = match p.packet_type {
                PacketType::Fin => Some(p.seq_nr) == fin,
                PacketType::Data => fin.is_some_and(|f| p.seq_nr.is_before(f)),
                _ => false,
            };
            // (Reset by the application, DATA gets a RESET instead, below.)
            let aborted = self.phase == Phase::Closed(CloseReason::Aborted);
            if ours_again && (p.packet_type == PacketType::Fin || !aborted) {
                self.ack_pending = true;
                if p.packet_type == PacketType::Fin {
                    self.note_close_code(p);
                }
            }
            // Reset by the application but not yet released (`Conn::reset`):
            // a peer that still sends lost our RESET; it gets another, one
            // per packet, as an unknown connection would.
            if self.phase == Phase::Closed(CloseReason::Aborted)
                && p.packet_type != PacketType::Reset
                && p.packet_type != PacketType::Syn
            {
                self.reset_pending = true;
            }
            return;
        }
        if self.phase == Phase::Expecting {
            return self.on_expected_syn(now, p, events);
        }
        match p.packet_type {
            PacketType::Reset => return self.on_reset(now, p, events),
            PacketType::Syn => return self.on_duplicate_syn(p),
            PacketType::Data | PacketType::Fin | PacketType::State => {}
        }
        let proceed = match self.phase {
            Phase::SynSent => self.on_syn_answer(now, p, events),
            Phase::HalfOpen => self.on_proof(p, events),
            _ => true,
        };
        if !proceed {
            return;
        }
        if !self.ack_is_plausible(p.ack_nr) {
            self.stats.dropped_invalid += 1;
            return;
        }
        // Only a packet from the peer itself gets this far: a pending
        // RESET challenge is answered (see `handshake.rs`).
        self.hs.reset_challenge = None;
        self.hs.expected_unheard = false;
        self.note_close_code(p);
        self.on_peer_progress(p);
        self.stats.packets_received += 1;
        self.last_recv = now;
        self.unanswered_since = None;
        self.reply_delay = now.to_wire().difference_since(p.timestamp);
        self.process_ack(now, p, events);
        if self.is_closed() {
            return;
        }
        match p.packet_type {
            PacketType::Data | PacketType::Fin => self.process_data(p, events),
            _ => {}
        }
        self.check_finished(now, events);
    }

    pub(super) fn on_reset(
        &mut self,
        now: Timestamp,
        p: &PacketRepr<'_>,
        events: &mut EventSink<'_>,
    ) {
        if !self.reset_is_believed(now, p) {
            return;
        }
        self.note_close_code(p);
        let reason = self.reset_reason();
        self.finish(now, reason, events);
        // Nothing to acknowledge after a reset.
        self.drain_until = None;
    }

    /// Keeps the close-reason code of a packet that passed the checks
    /// (libtorrent sends it in its FIN, and in the STATE acknowledging ours).
    fn note_close_code(&mut self, p: &PacketRepr<'_>) {
        if let Some(code) = p.close_reason {
            self.peer_close_code = Some(code.0);
        }
    }

    /// An ack_nr is plausible when it lies between the packet before our
    /// oldest unacknowledged one (nothing new acked) and the last packet we
    /// sent, allowing for acks that arrive late by up to [`ACK_SLACK`]
    /// packets. The tighter this window, the less an off-path attacker who
    /// guessed the connection id can do (spec/README.md, "Off-path
    /// attackers"): a forged packet must also land in it.
    pub(super) fn ack_is_plausible(&self, ack_nr: SeqNr) -> bool {
        let newest = self.seq_nr - 1;
        let oldest = self.in_flight.first_seq().unwrap_or(self.seq_nr) - 1;
        let span = u32::from(newest.distance_from(oldest)) + 1;
        ack_nr.in_window(oldest - ACK_SLACK, span + u32::from(ACK_SLACK))
    }

    pub(super) fn process_ack(
        &mut self,
        now: Timestamp,
        p: &PacketRepr<'_>,
        events: &mut EventSink<'_>,
    ) {
        // Only the newest acknowledgement says what the window is now: an
        // older one (reordered, or forged with a stale ack) must not
        // rewrite it.
        let newest = !p.ack_nr.is_before(self.last_ack);
        let window_before = self.peer_window;
        let reopened = newest && self.peer_window == 0 && p.window_size > 0;
        if newest {
            self.peer_window = p.window_size;
        }
        let in_flight_before = self.in_flight.bytes();
        let first = self.in_flight.first_seq();
        let mut bytes_acked = 0;
        let mut rtt_from = None;
        let mut new_ack = false;

        if let Some(first) = first {
            if !p.ack_nr.is_before(first) {
                let acked = self.in_flight.ack_through(p.ack_nr, self.last_rto_at);
                if acked.packets > 0 {
                    new_ack = true;
                    bytes_acked += acked.bytes;
                    rtt_from = acked.rtt_sample_sent_at;
                    if let Some(offset) = acked.release_to {
                        self.send.release_to(offset);
                    }
                    if acked.fin {
                        self.fin_acked = true;
                    }
                }
            }
        }
        if new_ack {
            self.judge_timeout(now, p);
        }
        self.pmtu_outcome(now);
        if let Some(sack) = p.selective_ack {
            let (newly, sample, lost) =
                self.in_flight
                    .apply_sack(p.ack_nr, &sack, self.last_rto_at, self.reorder(now));
            bytes_acked += newly;
            if rtt_from.is_none() {
                rtt_from = sample;
            }
            // A lost path MTU probe is no congestion signal.
            let probe_lost = self.pmtu_outcome(now);
            if lost > usize::from(probe_lost) {
                self.on_loss_detected(now);
            }
        }

        if new_ack {
            self.dup_acks = 0;
            self.last_ack = p.ack_nr;
            self.consecutive_timeouts = 0;
            self.rtt.reset_backoff();
            self.rto_deadline = if self.in_flight.is_empty() {
                None
            } else {
                Some(now + self.rtt.rto())
            };
        }
        if new_ack || bytes_acked > 0 {
            self.on_ack_progress(now);
        } else if p.ack_nr == self.last_ack
            && p.packet_type == PacketType::State
            && p.selective_ack.is_none()
            // An ack saying the window is closed answers a probe, and one
            // that opens the window further is a window update (sent after
            // a read): neither is a sign of loss (RFC 5681's duplicate ack
            // keeps the window; ours may shrink by the packets the peer
            // holds past the hole).
            && p.window_size > 0
            && p.window_size <= window_before
            && !self.in_flight.is_empty()
        {
            self.dup_acks += 1;
            if self.dup_acks == DUP_ACK_THRESHOLD
                && self.in_flight.mark_first_lost()
                && !self.pmtu_outcome(now)
            {
                self.on_loss_detected(now);
            }
        }
        if let Some(sent_at) = rtt_from {
            let sample = now.saturating_duration_since(sent_at);
            self.rtt.on_sample(sample);
        }
        if reopened && !self.in_flight.is_empty() && self.phase == Phase::Established {
            // What is still in flight went into a closed window (the probe):
            // the peer dropped it, so send it again now rather than after a
            // backed-off timeout.
            self.in_flight.mark_all_lost();
            self.rtt.reset_backoff();
            self.rto_deadline = Some(now + self.rtt.rto());
        }
        if bytes_acked > 0 {
            let sample = AckSample {
                now,
                bytes_acked,
                in_flight: in_flight_before,
                rtt: rtt_from.map(|t| now.saturating_duration_since(t)),
                srtt: self.rtt.has_sample().then(|| self.rtt.srtt()),
                min_rtt: self.rtt.has_sample().then(|| self.rtt.min()),
                delay: p.timestamp_difference,
                reverse_delay: self.reply_delay,
                packet_size: self.packet_size,
                app_limited: !self.window_filled,
            };
            self.cc.on_ack(&sample);
        }
        if self.peer_window as usize >= self.packet_size.min(self.send.unsent_len().max(1)) {
            self.probe_deadline = None;
            self.probe_interval = self.rtt.rto();
        }
        self.writable_again(events);
    }

    /// RACK's rule for SACKed holes (RFC 8985): a packet is lost once a
    /// round trip and the reordering window (a quarter of the least RTT)
    /// have passed since it was sent; without an RTT sample, at once.
    fn reorder(&self, now: Timestamp) -> Reorder {
        let threshold = if self.rtt.has_sample() {
            self.rtt.srtt() + self.rtt.min() / 4
        } else {
            core::time::Duration::ZERO
        };
        Reorder { now, threshold }
    }

    pub(super) fn on_loss_detected(&mut self, now: Timestamp) {
        let in_recovery = self
            .recovery_until
            .zip(self.in_flight.first_seq())
            .is_some_and(|(until, first)| first.is_before(until));
        if !in_recovery {
            self.end_timeout_episode(now);
            self.cc.on_loss(now, self.packet_size);
            self.recovery_until = Some(self.seq_nr);
            crate::trace::conn_event!(
                self,
                cwnd = self.cc.window(),
                "loss detected: fast retransmit"
            );
        }
    }

    pub(super) fn process_data(&mut self, p: &PacketRepr<'_>, events: &mut EventSink<'_>) {
        self.process_payload(
            p.seq_nr,
            p.payload,
            p.packet_type == PacketType::Fin,
            events,
        );
    }

    /// Takes a DATA or FIN's payload into the receive buffer.
    pub(super) fn process_payload(
        &mut self,
        seq_nr: SeqNr,
        payload: &[u8],
        fin: bool,
        events: &mut EventSink<'_>,
    ) {
        let had_holes = self.recv.has_holes();
        let outcome = self.recv.on_packet(seq_nr, payload, fin, self.budget_room);
        let mut delay = false;
        match outcome {
            RecvOutcome::Accepted { .. } => {
                // Each new packet is accepted once, in order or held for
                // reassembly.
                self.stats.bytes_received = self
                    .stats
                    .bytes_received
                    .saturating_add(payload.len() as u64);
                if payload.len() + HEADER_LEN >= self.packet_size.saturating_sub(SACK_BUF) {
                    self.full_packets_unacked += 1;
                }
                let every = if self.window_cap != usize::MAX {
                    super::ACK_EVERY_SHARED
                } else {
                    super::ACK_EVERY
                };
                if self.full_packets_unacked >= every && !self.recv.has_holes() {
                    self.snapshot_ack();
                    self.full_packets_unacked = 0;
                }
                // While the socket's receive window is shared (many
                // connections receiving at once: `endpoint/share.rs`), a
                // lone full-size in-order packet waits a moment for a
                // second one (TCP's rule), halving the acks every sender
                // and this endpoint handle; anything else is acked at once:
                // a packet that filled a hole (its sender is recovering) or
                // completed the stream (the connection may close now, and a
                // closed one sends no delayed ack), a FIN, a held one.
                delay = self.window_cap != usize::MAX
                    && self.full_packets_unacked == 1
                    && !fin
                    && !had_holes
                    && !self.recv.has_holes()
                    && !self.recv.is_eof();
            }
            RecvOutcome::Duplicate => self.stats.duplicates += 1,
            RecvOutcome::TooFarAhead | RecvOutcome::NoRoom | RecvOutcome::AfterFin => {
                self.stats.dropped_invalid += 1;
            }
        }
        // Every DATA/FIN is acknowledged, dropped or not: the ack carries
        // the window that tells the sender why.
        if delay {
            self.ack_delay_until
                .get_or_insert(self.last_recv + super::ACK_DELAY);
        } else {
            self.ack_pending = true;
        }
        if self.recv.readable_len() > 0 && !self.readable_signalled && !self.close_called {
            self.readable_signalled = true;
            events.push(Event::Readable(events.handle));
        }
        if self.recv.is_eof() && !self.eof_signalled {
            self.eof_signalled = true;
            if !self.close_called {
                crate::trace::conn_event!(self, "the peer finished sending");
                events.push(Event::Eof(events.handle));
            }
        }
    }

    pub(super) fn snapshot_ack(&mut self) {
        let ack_nr = self.recv.ack_nr();
        let free = self.snapshots.iter_mut().find(|s| s.is_none());
        match free {
            Some(slot) => *slot = Some(AckSnapshot { ack_nr }),
            None => {
                // Full: the newest replaces the last; older ones stay so the
                // sender still sees several acks.
                if let Some(last) = self.snapshots.last_mut() {
                    *last = Some(AckSnapshot { ack_nr });
                }
            }
        }
    }

    pub(super) fn check_finished(&mut self, now: Timestamp, events: &mut EventSink<'_>) {
        if self.is_closed() || !self.fin_acked {
            return;
        }
        if self.recv.is_eof() {
            let reason = if self.close_called {
                CloseReason::LocalClose
            } else {
                CloseReason::Finished
            };
            self.finish(now, reason, events);
        } else if self.close_called && self.linger_deadline.is_none() {
            self.linger_deadline = Some(now + self.linger);
        }
    }
}
