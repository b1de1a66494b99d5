//! The send side's packets in flight (the bytes they carry are in
//! `send_buffer.rs`).

use std::collections::VecDeque;

use crate::seq::SeqNr;
use crate::time::Timestamp;
use crate::wire::SelectiveAck;

/// What a sequence number in flight carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SentKind {
    Syn,
    Data,
    Fin,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Sent {
    pub(crate) seq: SeqNr,
    pub(crate) kind: SentKind,
    /// Stream offset and length of the payload.
    pub(crate) offset: u64,
    pub(crate) len: u32,
    /// Bytes on the wire (header included) when last sent.
    pub(crate) wire_len: u32,
    pub(crate) last_sent: Timestamp,
    pub(crate) transmissions: u32,
    pub(crate) sacked: bool,
    /// Deemed lost: waits for retransmission and counts as not in flight.
    pub(crate) lost: bool,
    /// A path MTU probe (padded to `wire_len`) whose fate is not known yet
    /// (see `pmtu.rs`); cleared once acked or lost.
    pub(crate) probe: bool,
}

impl Sent {
    fn counts_in_flight(&self) -> bool {
        !self.sacked && !self.lost
    }
}

/// What a cumulative acknowledgement released.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Acked {
    /// Packets released.
    pub(crate) packets: usize,
    /// Wire bytes newly acknowledged (excluding already-SACKed ones).
    pub(crate) bytes: usize,
    /// Stream offset up to which the send buffer can be released.
    pub(crate) release_to: Option<u64>,
    /// RTT sample from the newest released packet sent once.
    pub(crate) rtt_sample_sent_at: Option<Timestamp>,
    /// Whether the FIN was among them.
    pub(crate) fin: bool,
    /// Whether the SYN was among them.
    pub(crate) syn: bool,
}

/// What happened to a path MTU probe: acked or lost, with its size.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ProbeOutcome {
    Acked(usize),
    Lost(usize),
}

/// Packets sent and not yet acknowledged, in sequence order with no gaps:
/// `packets[i].seq == seq_una + i`.
#[derive(Debug)]
pub(crate) struct InFlight {
    packets: VecDeque<Sent>,
    /// Wire bytes of packets neither SACKed nor lost.
    bytes: usize,
    /// Packets marked lost, so that the per-packet path need not search
    /// for them when there are none.
    lost: usize,
    /// The probe's fate, once known, until the connection takes it.
    probe_outcome: Option<ProbeOutcome>,
}

/// A packet is deemed lost once this many packets sent after it are SACKed
/// (libutp's duplicate-ack threshold).
pub(crate) const SACK_LOSS_THRESHOLD: usize = 3;

/// When a packet with later ones SACKed counts as lost: once `threshold`
/// (a round trip and the reordering window) has passed since it was sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reorder {
    pub(crate) now: Timestamp,
    pub(crate) threshold: core::time::Duration,
}

impl Reorder {
    /// No time condition: the SACK count alone decides.
    #[cfg(test)]
    pub(crate) const NONE: Reorder = Reorder {
        now: Timestamp::ZERO,
        threshold: core::time::Duration::ZERO,
    };
}

impl InFlight {
    pub(crate) fn new() -> Self {
        InFlight {
            packets: VecDeque::new(),
            bytes: 0,
            lost: 0,
            probe_outcome: None,
        }
    }

    /// The probe's fate, if it became known since the last call.
    pub(crate) fn take_probe_outcome(&mut self) -> Option<ProbeOutcome> {
        self.probe_outcome.take()
    }

    fn probe_done(&mut self, index: usize, lost: bool) {
        if let Some(p) = self.packets.get_mut(index) {
            if core::mem::take(&mut p.probe) {
                let size = p.wire_len as usize;
                self.probe_outcome = Some(if lost {
                    ProbeOutcome::Lost(size)
                } else {
                    ProbeOutcome::Acked(size)
                });
            }
        }
    }

    /// The retransmission timer fired with the probe the only packet still
    /// counted in flight and none waiting for retransmission: marks it lost
    /// and returns `true`.
    pub(crate) fn mark_lone_probe_lost(&mut self) -> bool {
        if self.lost > 0 {
            return false;
        }
        let mut counting = self
            .packets
            .iter()
            .enumerate()
            .filter(|(_, p)| p.counts_in_flight());
        let (Some((index, p)), None) = (counting.next(), counting.next()) else {
            return false;
        };
        if !p.probe {
            return false;
        }
        let wire_len = p.wire_len as usize;
        self.probe_done(index, true);
        if let Some(p) = self.packets.get_mut(index) {
            p.lost = true;
            self.bytes -= wire_len;
            self.lost += 1;
        }
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.packets.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The oldest unacknowledged sequence number, if any.
    pub(crate) fn first_seq(&self) -> Option<SeqNr> {
        self.packets.front().map(|p| p.seq)
    }

    pub(crate) fn push(&mut self, sent: Sent) {
        if sent.counts_in_flight() {
            self.bytes += sent.wire_len as usize;
        }
        self.lost += usize::from(sent.lost);
        self.packets.push_back(sent);
    }

    /// Releases every packet up to and including `ack_nr`, which the caller
    /// has checked lies within the packets in flight. RTT samples come only
    /// from packets sent once, at or after `sample_after`, and not SACKed
    /// before (their sample was taken then).
    pub(crate) fn ack_through(&mut self, ack_nr: SeqNr, sample_after: Timestamp) -> Acked {
        let mut acked = Acked::default();
        while let Some(front) = self.packets.front() {
            if front.seq.is_after(ack_nr) {
                break;
            }
            let Some(p) = self.packets.pop_front() else {
                break;
            };
            if p.counts_in_flight() {
                self.bytes -= p.wire_len as usize;
            }
            self.lost -= usize::from(p.lost);
            if !p.sacked {
                acked.bytes += p.wire_len as usize;
            }
            acked.packets += 1;
            if p.probe {
                self.probe_outcome = Some(ProbeOutcome::Acked(p.wire_len as usize));
            }
            acked.release_to = Some(p.offset + u64::from(p.len));
            if p.transmissions == 1 && !p.sacked && p.last_sent >= sample_after {
                acked.rtt_sample_sent_at = Some(p.last_sent);
            }
            acked.fin |= p.kind == SentKind::Fin;
            acked.syn |= p.kind == SentKind::Syn;
        }
        acked
    }

    /// Marks the packets a SACK names; returns (newly SACKed wire bytes,
    /// RTT sample's send time, packets newly deemed lost).
    pub(crate) fn apply_sack(
        &mut self,
        ack_nr: SeqNr,
        sack: &SelectiveAck<'_>,
        sample_after: Timestamp,
        reorder: Reorder,
    ) -> (usize, Option<Timestamp>, usize) {
        let Some(first) = self.first_seq() else {
            return (0, None, 0);
        };
        let mut newly = 0;
        let mut sample = None;
        let count = self.packets.len();
        for seq in sack.acked(ack_nr) {
            let index = usize::from(seq.distance_from(first));
            if index >= count {
                // A mask reaching beyond what we sent is clipped.
                break;
            }
            if let Some(p) = self.packets.get_mut(index) {
                if !p.sacked {
                    if p.counts_in_flight() {
                        self.bytes -= p.wire_len as usize;
                    }
                    p.sacked = true;
                    self.lost -= usize::from(p.lost);
                    p.lost = false;
                    newly += p.wire_len as usize;
                    if p.transmissions == 1 && p.last_sent >= sample_after {
                        sample = Some(p.last_sent);
                    }
                }
            }
            self.probe_done(index, false);
        }
        // Loss: a packet sent once with SACK_LOSS_THRESHOLD SACKed packets
        // after it, sent longer ago than a round trip and the reordering
        // window (RACK, RFC 8985: a packet only late, reordered, is not
        // taken for lost, nor resent, nor counted as congestion); a
        // retransmitted one when SACK_LOSS_THRESHOLD packets sent after its
        // retransmission are SACKed (it was lost again: without this, only
        // the retransmission timer would find out).
        let mut sacked_after = 0;
        // The latest send times of the SACKed packets seen so far, latest
        // first.
        let mut latest = [Timestamp::ZERO; SACK_LOSS_THRESHOLD];
        let mut lost = 0;
        for p in self.packets.iter_mut().rev() {
            if p.sacked {
                sacked_after += 1;
                let mut t = p.last_sent;
                for slot in latest.iter_mut() {
                    if t > *slot {
                        core::mem::swap(&mut t, slot);
                    }
                }
            } else if !p.lost {
                // (A path MTU probe is judged at once, as before RACK: the
                // search waits on it, and a probe above the path's MTU is
                // not late but gone.)
                let first_loss = p.transmissions == 1
                    && sacked_after >= SACK_LOSS_THRESHOLD
                    && (p.probe || reorder.now >= p.last_sent + reorder.threshold);
                let lost_again =
                    p.transmissions > 1 && latest.last().is_some_and(|&third| third > p.last_sent);
                if first_loss || lost_again {
                    p.lost = true;
                    self.bytes -= p.wire_len as usize;
                    lost += 1;
                    if core::mem::take(&mut p.probe) {
                        self.probe_outcome = Some(ProbeOutcome::Lost(p.wire_len as usize));
                    }
                }
            }
        }
        self.lost += lost;
        (newly, sample, lost)
    }

    /// Marks the oldest packet lost (duplicate acknowledgements); returns
    /// whether it was newly marked.
    pub(crate) fn mark_first_lost(&mut self) -> bool {
        match self.packets.front_mut() {
            Some(p) if p.counts_in_flight() => {
                p.lost = true;
                self.bytes -= p.wire_len as usize;
                self.lost += 1;
                self.probe_done(0, true);
                true
            }
            _ => false,
        }
    }

    /// A tail loss probe: the newest packet still counted in flight is to
    /// be sent again. Whether there was one.
    pub(crate) fn mark_last_lost(&mut self) -> bool {
        let Some(index) = self.packets.iter().rposition(|p| p.counts_in_flight()) else {
            return false;
        };
        let Some(p) = self.packets.get_mut(index) else {
            return false;
        };
        // A path MTU probe's fate is the search's to judge (its own
        // timeout), not a tail probe's.
        if p.probe {
            return false;
        }
        p.lost = true;
        self.bytes -= p.wire_len as usize;
        self.lost += 1;
        true
    }

    /// Retransmission timeout: everything not SACKed is to be sent again.
    pub(crate) fn mark_all_lost(&mut self) {
        for p in self.packets.iter_mut() {
            if p.counts_in_flight() {
                p.lost = true;
                self.lost += 1;
                if core::mem::take(&mut p.probe) {
                    self.probe_outcome = Some(ProbeOutcome::Lost(p.wire_len as usize));
                }
            }
        }
        self.bytes = 0;
    }

    /// Retransmission timeout: everything not cumulatively acknowledged is
    /// to be sent again, SACKed packets too (the receiver may have dropped
    /// them, RFC 2018's reneging; or the SACK was forged).
    pub(crate) fn mark_all_lost_forget_sacks(&mut self) {
        for p in self.packets.iter_mut() {
            p.sacked = false;
        }
        self.mark_all_lost();
    }

    /// A spurious timeout was undone: packets marked lost and not sent
    /// again since `at` (the timeout) count as in flight again.
    pub(crate) fn unmark_lost_sent_before(&mut self, at: Timestamp) {
        if self.lost == 0 {
            return;
        }
        for p in self.packets.iter_mut() {
            if p.lost && p.last_sent < at {
                p.lost = false;
                self.lost -= 1;
                self.bytes += p.wire_len as usize;
            }
        }
    }

    /// The oldest packet waiting for retransmission.
    pub(crate) fn first_lost(&self) -> Option<(usize, Sent)> {
        if self.lost == 0 {
            return None;
        }
        self.packets
            .iter()
            .enumerate()
            .find(|(_, p)| p.lost)
            .map(|(i, p)| (i, *p))
    }

    /// Records the retransmission of packet `index`.
    pub(crate) fn resent(&mut self, index: usize, now: Timestamp, wire_len: u32) {
        if let Some(p) = self.packets.get_mut(index) {
            if p.counts_in_flight() {
                self.bytes -= p.wire_len as usize;
            }
            self.lost -= usize::from(p.lost);
            p.lost = false;
            p.transmissions += 1;
            p.last_sent = now;
            p.wire_len = wire_len;
            self.bytes += wire_len as usize;
        }
    }

    /// Whether an empty ring still holds memory.
    pub(crate) fn has_spare(&self) -> bool {
        self.packets.is_empty() && self.packets.capacity() > 0
    }

    /// Frees the ring's memory when nothing is in flight.
    pub(crate) fn release_spare(&mut self) {
        if self.packets.is_empty() {
            self.packets = VecDeque::new();
        }
    }

    /// Heap bytes of the ring.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.packets.capacity() * core::mem::size_of::<Sent>()
    }

    pub(crate) fn has_lost(&self) -> bool {
        self.lost > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(seq: u16) -> Sent {
        Sent {
            seq: SeqNr::new(seq),
            kind: SentKind::Data,
            offset: u64::from(seq) * 10,
            len: 10,
            wire_len: 30,
            last_sent: Timestamp::ZERO,
            transmissions: 1,
            sacked: false,
            lost: false,
            probe: false,
        }
    }

    #[test]
    fn a_hole_is_lost_only_after_a_round_trip_and_the_reordering_window() {
        let mut f = InFlight::new();
        for s in 10..16 {
            f.push(sent(s));
        }
        // 11, 12, 13 SACKed: 10 has three after it, sent at 0.
        let mask = [0b0000_0111];
        let rtt = core::time::Duration::from_millis(60);
        let early = Reorder {
            now: Timestamp::from_micros(59_999),
            threshold: rtt,
        };
        let (_, _, lost) = f.apply_sack(
            SeqNr::new(9),
            &SelectiveAck::new(&mask).unwrap(),
            Timestamp::ZERO,
            early,
        );
        assert_eq!(lost, 0, "perhaps only late: not lost yet");
        assert!(!f.has_lost());
        let later = Reorder {
            now: Timestamp::from_micros(60_000),
            ..early
        };
        let (_, _, lost) = f.apply_sack(
            SeqNr::new(9),
            &SelectiveAck::new(&mask).unwrap(),
            Timestamp::ZERO,
            later,
        );
        assert_eq!(lost, 1);
        assert_eq!(f.first_lost().map(|(_, p)| p.seq.get()), Some(10));
    }

    #[test]
    fn sack_marks_and_detects_loss() {
        let mut f = InFlight::new();
        for s in 10..16 {
            f.push(sent(s));
        }
        assert_eq!(f.bytes(), 180);
        // ack_nr 9 (nothing), SACK 12, 13, 14: 10 and 11 lost.
        let mask = [0b0000_1110]; // bit i is ack_nr + 2 + i: 12, 13, 14
        let (newly, _, lost) = f.apply_sack(
            SeqNr::new(9),
            &SelectiveAck::new(&mask).unwrap(),
            Timestamp::ZERO,
            Reorder::NONE,
        );
        assert_eq!(newly, 90);
        assert_eq!(lost, 2);
        assert_eq!(f.bytes(), 30, "only 15 still counts in flight");
        assert_eq!(f.first_lost().map(|(i, p)| (i, p.seq.get())), Some((0, 10)));
        assert_eq!(f.lost, 2);
        f.resent(0, Timestamp::from_secs(1), 30);
        assert_eq!(f.bytes(), 60);
        assert_eq!(f.lost, 1);
        let acked = f.ack_through(SeqNr::new(14), Timestamp::ZERO);
        assert_eq!(
            f.lost, 0,
            "the lost packet 11 was released by the cumulative ack"
        );
        assert!(!f.has_lost() && f.first_lost().is_none());
        assert_eq!(acked.packets, 5);
        assert_eq!(acked.bytes, 60, "SACKed bytes are not counted twice");
        assert_eq!(acked.release_to, Some(150));
        assert_eq!(f.first_seq(), Some(SeqNr::new(15)));
        assert_eq!(f.bytes(), 30);
    }

    #[test]
    fn an_undone_timeout_puts_packets_not_yet_resent_back_in_flight() {
        let mut f = InFlight::new();
        for s in 10..14 {
            f.push(sent(s));
        }
        f.mark_all_lost_forget_sacks();
        assert_eq!(f.bytes(), 0);
        // The timeout at 1 s resent 10 and 11.
        f.resent(0, Timestamp::from_secs(1), 30);
        f.resent(1, Timestamp::from_secs(1), 30);
        assert_eq!((f.bytes(), f.lost), (60, 2));
        f.unmark_lost_sent_before(Timestamp::from_secs(1));
        assert_eq!((f.bytes(), f.lost), (120, 0));
        assert!(f.first_lost().is_none(), "nothing waits to be resent");
        assert_eq!(
            f.packets
                .iter()
                .map(|p| p.transmissions)
                .collect::<Vec<_>>(),
            [2, 2, 1, 1]
        );
    }

    #[test]
    fn a_retransmission_lost_again_is_found_by_later_sacks() {
        let mut f = InFlight::new();
        for s in 10..14 {
            f.push(sent(s));
        }
        // SACK 11, 12, 13: 10 is lost.
        let mask = [0b0000_0111]; // ack_nr 9: bits are 11, 12, 13
        let (_, _, lost) = f.apply_sack(
            SeqNr::new(9),
            &SelectiveAck::new(&mask).unwrap(),
            Timestamp::ZERO,
            Reorder::NONE,
        );
        assert_eq!(lost, 1);
        // 10 is sent again at 1 s, then 14..17 after it.
        f.resent(0, Timestamp::from_secs(1), 30);
        for s in 14..17 {
            let mut p = sent(s);
            p.last_sent = Timestamp::from_secs(2);
            f.push(p);
        }
        // Two of them SACKed: not enough.
        let mask = [0b0001_1111, 0, 0, 0]; // 11..15
        let (_, _, lost) = f.apply_sack(
            SeqNr::new(9),
            &SelectiveAck::new(&mask).unwrap(),
            Timestamp::ZERO,
            Reorder::NONE,
        );
        assert_eq!(
            lost, 0,
            "only two packets sent after the retransmission are SACKed"
        );
        // The third: 10 was lost again.
        let mask = [0b0011_1111, 0, 0, 0]; // 11..16
        let (_, _, lost) = f.apply_sack(
            SeqNr::new(9),
            &SelectiveAck::new(&mask).unwrap(),
            Timestamp::ZERO,
            Reorder::NONE,
        );
        assert_eq!(lost, 1);
        assert_eq!(
            f.first_lost()
                .map(|(i, p)| (i, p.seq.get(), p.transmissions)),
            Some((0, 10, 2))
        );
    }
}
