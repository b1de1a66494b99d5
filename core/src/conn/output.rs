//! Output: what `poll_transmit` sends next (RESET, the handshake's STATE,
//! retransmissions, new data within the congestion and peer windows, FIN,
//! probes, acks) and how each packet is built into the caller's buffer.

use super::send::{Sent, SentKind};
use super::{Connection, Phase, ACK_SNAPSHOTS, SACK_BUF};
use crate::seq::SeqNr;
use crate::time::Timestamp;
use crate::wire::{
    CloseReason as WireCloseReason, PacketRepr, PacketType, SelectiveAck, HEADER_LEN,
};

/// The SACK put before a close reason when there is nothing to acknowledge
/// selectively.
static ZERO_SACK: [u8; 4] = [0; 4];

/// Most packets in flight: libutp's limit (`OUTGOING_BUFFER_MAX_SIZE - 1`),
/// within its 1024-packet reorder buffer and ours
/// ([`MAX_REORDER_WINDOW`](crate::config::MAX_REORDER_WINDOW)), so that
/// nothing sent is dropped as too far ahead of a hole.
pub(super) const MAX_PACKETS_IN_FLIGHT: usize = 1023;

impl Connection {
    /// Writes the next datagram for this connection into `buf`; returns its
    /// length, or `None` when there is nothing to send.
    pub(crate) fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        if self.reset_pending {
            self.reset_pending = false;
            return self.emit_control(now, PacketType::Reset, buf);
        }
        if core::mem::take(&mut self.fin_ack_again) {
            if let Some(fin) = self.fin_seq {
                return self.emit_numbered(now, PacketType::State, fin, buf);
            }
        }
        if core::mem::take(&mut self.hs.syn_ack_pending) && !self.is_closed() {
            return self.emit_syn_ack(now, buf);
        }
        if let Phase::Closed(_) = self.phase {
            if self.ack_pending {
                self.ack_pending = false;
                return self.emit_control(now, PacketType::State, buf);
            }
            return None;
        }
        // Retransmissions first, oldest first.
        if let Some((index, p)) = self.in_flight.first_lost() {
            // The oldest packet in flight, once lost, goes at once even if
            // the (just reduced) window is full: everything after it waits
            // for it (fast recovery).
            if (index == 0 || self.may_send(p.wire_len as usize) || p.kind == SentKind::Syn)
                && self.pace(now, p.wire_len as usize)
            {
                return self.retransmit(now, index, p, buf);
            }
        }
        if matches!(self.phase, Phase::SynSent | Phase::Expecting) {
            return None;
        }
        if !self.in_flight.has_lost() && self.may_send_data() {
            if let Some(len) = self.send_new(now, buf) {
                return Some(len);
            }
        }
        if self.probe_due {
            self.probe_due = false;
            if let Some(len) = self.send_probe(now, buf) {
                return Some(len);
            }
        }
        if let Some(len) = self.send_snapshot(now, buf) {
            return Some(len);
        }
        if self.ack_pending || self.keepalive_due {
            let keepalive = !self.ack_pending;
            self.ack_pending = false;
            self.keepalive_due = false;
            self.full_packets_unacked = 0;
            self.snapshots = [None; ACK_SNAPSHOTS];
            if keepalive {
                return self.emit_keepalive(now, buf);
            }
            return self.emit_control(now, PacketType::State, buf);
        }
        None
    }

    /// Whether `wire_len` more bytes fit the congestion window. (The
    /// peer's window counts payload and is checked where payload is sized.)
    pub(super) fn may_send(&mut self, wire_len: usize) -> bool {
        let in_flight = self.in_flight.bytes();
        // One packet may always be in flight, so a window smaller than a
        // packet still makes progress. Never more packets than a peer's
        // reorder buffer holds past a hole (small packets after path MTU
        // discovery would exceed it within the window).
        let fits = (in_flight + wire_len <= self.cc.window() || in_flight == 0)
            && self.in_flight.len() < MAX_PACKETS_IN_FLIGHT;
        if !fits {
            self.window_filled = true;
        }
        fits
    }

    pub(super) fn send_new(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        let unsent = self.send.unsent_len();
        if unsent == 0 {
            self.window_filled = false;
            if self.write_closed && self.fin_seq.is_none() {
                return self.send_fin(now, buf);
            }
            return None;
        }
        let sack_len = self.sack_wire_len();
        let header = HEADER_LEN + sack_len;
        let max_payload = self
            .packet_size
            .saturating_sub(header)
            .min(buf.len().saturating_sub(header));
        if max_payload == 0 {
            return None;
        }
        let mut payload = unsent.min(max_payload);
        // The peer's window is its free receive buffer past the point it
        // acknowledged: the stream sent beyond that point stays within it,
        // the packets it holds out of order (SACKed) and those lost
        // included, as TCP's `SND.NXT - SND.UNA <= SND.WND`. A receiver
        // that does not count held packets in its window (libutp) takes
        // them all at once when the hole fills. A zero window waits for
        // the probe timer.
        let peer_room = (self.peer_window as usize).saturating_sub(self.send.sent_unacked());
        if peer_room == 0 {
            self.arm_probe(now);
            return None;
        }
        // Sender-side silly-window avoidance (RFC 9293, 3.8.6.2.1): a
        // window that takes less than a full packet, and less than half
        // the peer's window, waits for the acks of the packets in flight
        // to open it further (a short packet would end the datagram batch
        // it is in and take a packet's cost for a fraction of its bytes:
        // 100 connections over one socket pair sent one in 27 packets
        // short this way, each behind its share of the window).
        if peer_room < payload
            && peer_room < max_payload
            && peer_room < self.peer_window as usize / 2
            && !self.in_flight.is_empty()
        {
            return None;
        }
        payload = payload.min(peer_room);
        if self.config_nagle
            && payload < max_payload
            && !self.in_flight.is_empty()
            && !self.write_closed
        {
            return None;
        }
        if !self.pace(now, header + payload) {
            return None;
        }
        if let Some(payload) = self.plan_probe(now, payload, max_payload, buf.len()) {
            let (offset, len) = self.send.take_unsent(payload);
            return self.send_data_packet(now, offset, len, PacketType::Data, buf);
        }
        if !self.may_send(header + payload) {
            return None;
        }
        let (offset, len) = self.send.take_unsent(payload);
        self.send_data_packet(now, offset, len, PacketType::Data, buf)
    }

    pub(super) fn arm_probe(&mut self, now: Timestamp) {
        if self.probe_deadline.is_none() && self.in_flight.is_empty() {
            self.probe_deadline = Some(now + self.probe_interval);
        }
    }

    /// A one-byte packet sent into a zero window: the ack it provokes
    /// carries the peer's current window.
    pub(super) fn send_probe(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        if self.send.unsent_len() == 0 || !self.in_flight.is_empty() {
            return None;
        }
        let (offset, len) = self.send.take_unsent(1);
        // From here on the retransmission timer repeats the probe.
        self.probe_deadline = None;
        self.send_data_packet(now, offset, len, PacketType::Data, buf)
    }

    pub(super) fn send_fin(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        if !self.may_send(HEADER_LEN) {
            return None;
        }
        let (offset, _) = self.send.take_unsent(0);
        self.send_data_packet(now, offset, 0, PacketType::Fin, buf)
    }

    pub(super) fn send_data_packet(
        &mut self,
        now: Timestamp,
        offset: u64,
        len: usize,
        ty: PacketType,
        buf: &mut [u8],
    ) -> Option<usize> {
        let seq = self.seq_nr;
        let probe_size = self.take_armed_probe();
        let probe = probe_size.and_then(|size| self.emit_probe(now, seq, offset, len, size, buf));
        let wire_len = match probe {
            Some(wire_len) => wire_len,
            None => self.emit_payload_packet(now, ty, seq, offset, len, buf)?,
        };
        self.seq_nr += 1;
        let kind = if ty == PacketType::Fin {
            self.fin_seq = Some(seq);
            SentKind::Fin
        } else {
            SentKind::Data
        };
        self.unanswered_since.get_or_insert(now);
        self.in_flight.push(Sent {
            seq,
            kind,
            offset,
            len: len as u32,
            wire_len: wire_len as u32,
            last_sent: now,
            transmissions: 1,
            sacked: false,
            lost: false,
            probe: probe.is_some(),
        });
        self.stats.bytes_sent = self.stats.bytes_sent.saturating_add(len as u64);
        self.charge(wire_len);
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rtt.rto());
        }
        self.arm_tail_probe(now);
        Some(wire_len)
    }

    pub(super) fn retransmit(
        &mut self,
        now: Timestamp,
        index: usize,
        p: Sent,
        buf: &mut [u8],
    ) -> Option<usize> {
        let wire_len = match p.kind {
            SentKind::Syn => self.emit_syn(now, p.seq, buf)?,
            SentKind::Data => self.emit_payload_packet(
                now,
                PacketType::Data,
                p.seq,
                p.offset,
                p.len as usize,
                buf,
            )?,
            SentKind::Fin => {
                self.emit_payload_packet(now, PacketType::Fin, p.seq, p.offset, 0, buf)?
            }
        };
        if p.transmissions > 0 {
            self.stats.retransmits += 1;
        }
        self.in_flight.resent(index, now, wire_len as u32);
        self.charge(wire_len);
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.syn_wait());
        }
        Some(wire_len)
    }

    pub(super) fn send_snapshot(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        let index = self.snapshots.iter().position(|s| s.is_some())?;
        let snapshot = self.snapshots.get_mut(index)?.take()?;
        if snapshot.ack_nr == self.recv.ack_nr() {
            // The regular ack will say the same.
            return self.send_snapshot(now, buf);
        }
        let repr = self.header(now, PacketType::State, self.seq_nr, snapshot.ack_nr, None);
        self.finish_emit(now, &repr, buf)
    }

    pub(super) fn sack_wire_len(&self) -> usize {
        self.recv.sack_len(SACK_BUF).map_or(0, |len| 2 + len)
    }

    pub(super) fn header<'a>(
        &self,
        now: Timestamp,
        ty: PacketType,
        seq_nr: SeqNr,
        ack_nr: SeqNr,
        sack: Option<SelectiveAck<'a>>,
    ) -> PacketRepr<'a> {
        PacketRepr {
            packet_type: ty,
            connection_id: if ty == PacketType::Syn {
                self.recv_id
            } else {
                self.send_id
            },
            timestamp: now.to_wire(),
            timestamp_difference: self.reply_delay,
            window_size: u32::try_from(self.advertised_window_now()).unwrap_or(u32::MAX),
            seq_nr,
            ack_nr,
            selective_ack: sack,
            close_reason: None,
            payload: &[],
        }
    }

    pub(super) fn finish_emit(
        &mut self,
        now: Timestamp,
        repr: &PacketRepr<'_>,
        buf: &mut [u8],
    ) -> Option<usize> {
        let len = repr.emit(buf).ok()?;
        self.after_send(now, repr.window_size as usize);
        Some(len)
    }

    pub(super) fn after_send(&mut self, now: Timestamp, window: usize) {
        self.stats.packets_sent += 1;
        self.last_send = now;
        self.keepalive_due = false;
        self.advertised_window = window;
        // Every packet carries the current ack.
        self.ack_delay_until = None;
    }

    pub(super) fn emit_syn(&mut self, now: Timestamp, seq: SeqNr, buf: &mut [u8]) -> Option<usize> {
        let repr = self.header(now, PacketType::Syn, seq, SeqNr::new(0), None);
        self.finish_emit(now, &repr, buf)
    }

    /// A STATE or RESET with our next sequence number, the current ack and
    /// SACK (a RESET: the close code instead of the SACK).
    ///
    /// A STATE that acknowledges the peer's FIN after our own FIN is sent
    /// twice, numbered our FIN + 1 and then our FIN, because the two
    /// reference stacks disagree on what such a STATE carries
    /// (spec/interop.md, finding 6): libutp (like librqbit-utp and utp-rs)
    /// puts the next sequence number, one past its FIN, and drops a STATE
    /// whose `seq_nr` is not past the last packet it took (so our FIN's
    /// number, once it has our FIN); libtorrent's FIN takes no sequence
    /// number, its STATEs after its FIN carry the FIN's, and it drops every
    /// packet numbered past a FIN it received, so it would never see our
    /// acknowledgement of its FIN. Each drops the copy it does not expect.
    pub(super) fn emit_control(
        &mut self,
        now: Timestamp,
        ty: PacketType,
        buf: &mut [u8],
    ) -> Option<usize> {
        let len = self.emit_numbered(now, ty, self.seq_nr, buf);
        if len.is_some()
            && ty == PacketType::State
            && self.fin_seq.is_some()
            && self.recv.fin_seq() == Some(self.recv.ack_nr())
        {
            self.fin_ack_again = true;
        }
        len
    }

    /// [`emit_control`](Self::emit_control) with `seq_nr` = `seq`.
    fn emit_numbered(
        &mut self,
        now: Timestamp,
        ty: PacketType,
        seq: SeqNr,
        buf: &mut [u8],
    ) -> Option<usize> {
        let mut scratch = [0u8; SACK_BUF];
        let sack = self
            .recv
            .sack(&mut scratch)
            .and_then(|len| scratch.get(..len))
            .and_then(SelectiveAck::new);
        let ack_nr = self.recv.ack_nr();
        let mut repr = self.header(now, ty, seq, ack_nr, sack);
        if ty == PacketType::Reset {
            repr.selective_ack = None;
            self.add_close_code(&mut repr);
        }
        let len = self.finish_emit(now, &repr, buf);
        if len.is_some() && ty == PacketType::State {
            self.ack_pending = false;
            self.full_packets_unacked = 0;
        }
        len
    }

    /// Puts the application's close-reason code (extension 3) in `repr`,
    /// after a SACK: libutp drops a packet whose first extension is 3, so
    /// with nothing to acknowledge selectively an all-zero SACK goes first
    /// (spec/README.md, "Close reason").
    fn add_close_code(&self, repr: &mut PacketRepr<'_>) {
        let Some(code) = self.close_code else {
            return;
        };
        if repr.selective_ack.is_none() {
            repr.selective_ack = SelectiveAck::new(&ZERO_SACK);
        }
        repr.close_reason = Some(WireCloseReason(code));
    }

    /// libutp's keepalive: a STATE acknowledging one less than we have,
    /// which the peer ignores as an old ack.
    pub(super) fn emit_keepalive(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        let repr = self.header(
            now,
            PacketType::State,
            self.seq_nr,
            self.recv.ack_nr() - 1,
            None,
        );
        self.finish_emit(now, &repr, buf)
    }

    /// Emits a DATA or FIN carrying stream bytes `[offset, offset + len)`,
    /// with the current ack and SACK (left out if it would not fit).
    pub(super) fn emit_payload_packet(
        &mut self,
        now: Timestamp,
        ty: PacketType,
        seq: SeqNr,
        offset: u64,
        len: usize,
        buf: &mut [u8],
    ) -> Option<usize> {
        let mut scratch = [0u8; SACK_BUF];
        let sack = self
            .recv
            .sack(&mut scratch)
            .filter(|sack_len| HEADER_LEN + 2 + sack_len + len <= self.packet_size)
            .and_then(|sack_len| scratch.get(..sack_len))
            .and_then(SelectiveAck::new);
        let mut repr = self.header(now, ty, seq, self.recv.ack_nr(), sack);
        if ty == PacketType::Fin {
            self.add_close_code(&mut repr);
        }
        let header_len = repr.buffer_len();
        let total = header_len + len;
        if total > buf.len() {
            return None;
        }
        let (head, rest) = buf.split_at_mut(header_len);
        repr.emit(head).ok()?;
        let payload = rest.get_mut(..len)?;
        if !self.send.copy_out(offset, payload) {
            return None;
        }
        self.after_send(now, repr.window_size as usize);
        // A packet carrying our current ack makes a pending STATE and the
        // remembered acks redundant.
        self.ack_pending = false;
        self.full_packets_unacked = 0;
        self.snapshots = [None; ACK_SNAPSHOTS];
        Some(total)
    }
}
