//! The receive side: in-order bytes for the application, out-of-order
//! packets held for reassembly, the advertised window and the SACK mask.

use std::collections::VecDeque;

use crate::seq::SeqNr;

/// What became of a received DATA or FIN packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RecvOutcome {
    /// Stored; `in_order` when it (and maybe held packets after it) became
    /// readable.
    Accepted { in_order: bool },
    /// Already received.
    Duplicate,
    /// Further ahead than the reorder window.
    TooFarAhead,
    /// The payload does not fit the advertised window.
    NoRoom,
    /// Data after the peer's FIN, or a second FIN at another place.
    AfterFin,
}

#[derive(Debug)]
struct Held {
    seq: SeqNr,
    data: Vec<u8>,
    fin: bool,
}

/// Out-of-order packets and the buffers kept for them.
#[derive(Debug, Default)]
struct Reassembly {
    /// Packets after a hole, direct-mapped by `seq % slots.len()`;
    /// allocated on the first out-of-order packet.
    slots: Vec<Option<Held>>,
    /// Buffers of delivered packets, reused for the next held ones.
    pool: Vec<Vec<u8>>,
    /// Capacity of the buffers in `pool`.
    pool_bytes: usize,
}

#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// Last sequence number received in order.
    ack_nr: SeqNr,
    /// In-order bytes the application has not read.
    readable: VecDeque<u8>,
    /// The reassembly slots and spare buffers; allocated on the first
    /// out-of-order packet, freed with the slots (an idle connection
    /// carries a pointer).
    reassembly: Option<Box<Reassembly>>,
    /// Packets held (at most `reorder_window`).
    held_count: u32,
    held_bytes: usize,
    /// The furthest held packet, for the SACK length.
    highest_held: SeqNr,
    reorder_window: u16,
    capacity: usize,
    fin_seq: Option<SeqNr>,
    eof: bool,
    /// The application closed: deliver nothing, keep acknowledging.
    discard: bool,
}

impl RecvBuffer {
    pub(crate) fn new(ack_nr: SeqNr, capacity: usize, reorder_window: u16) -> Self {
        RecvBuffer {
            ack_nr,
            readable: VecDeque::new(),
            reassembly: None,
            held_count: 0,
            held_bytes: 0,
            highest_held: ack_nr,
            reorder_window: reorder_window.max(1),
            capacity,
            fin_seq: None,
            eof: false,
            discard: false,
        }
    }

    pub(crate) fn ack_nr(&self) -> SeqNr {
        self.ack_nr
    }

    /// Re-bases an empty buffer (the initiator learns the peer's first
    /// sequence number from its STATE).
    pub(crate) fn set_ack_nr(&mut self, ack_nr: SeqNr) {
        self.ack_nr = ack_nr;
        self.highest_held = ack_nr;
    }

    /// Free bytes: what we advertise.
    pub(crate) fn window(&self) -> usize {
        self.capacity
            .saturating_sub(self.readable.len())
            .saturating_sub(self.held_bytes)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn buffered(&self) -> usize {
        self.readable.len() + self.held_bytes
    }

    pub(crate) fn readable_len(&self) -> usize {
        self.readable.len()
    }

    /// Everything up to the peer's FIN has arrived.
    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    pub(crate) fn fin_seq(&self) -> Option<SeqNr> {
        self.fin_seq
    }

    pub(crate) fn has_holes(&self) -> bool {
        self.held_count > 0
    }

    pub(crate) fn set_discard(&mut self) {
        self.discard = true;
        self.readable.clear();
    }

    /// Takes a DATA or FIN. `room`: bytes the endpoint's memory budget
    /// still allows; data beyond it or beyond the window is refused as
    /// [`RecvOutcome::NoRoom`], except an in-order packet that fills a hole
    /// (reassembly must be able to finish).
    pub(crate) fn on_packet(
        &mut self,
        seq: SeqNr,
        payload: &[u8],
        fin: bool,
        room: usize,
    ) -> RecvOutcome {
        if !seq.is_after(self.ack_nr) {
            return RecvOutcome::Duplicate;
        }
        if let Some(fin_seq) = self.fin_seq {
            if seq.is_after(fin_seq) || (fin && seq != fin_seq) {
                return RecvOutcome::AfterFin;
            }
        }
        let offset = seq.distance_from(self.ack_nr + 1);
        if offset >= self.reorder_window {
            return RecvOutcome::TooFarAhead;
        }
        // The next packet in order is always taken when packets wait behind
        // it: refusing it would leave the held ones (which may fill the
        // window) waiting for ever. That may exceed the buffer or the
        // budget by one packet.
        let fills_hole = offset == 0 && self.held_count > 0;
        if !fills_hole && (payload.len() > self.window() || payload.len() > room) {
            return RecvOutcome::NoRoom;
        }
        if fin {
            self.fin_seq = Some(seq);
        }
        if offset == 0 {
            self.deliver(seq, payload, fin);
            self.pull_held();
            return RecvOutcome::Accepted { in_order: true };
        }
        let window = usize::from(self.reorder_window);
        if self.reassembly.as_ref().is_none_or(|r| r.slots.is_empty()) {
            // The slots are memory the budget counts too.
            let slots = window * core::mem::size_of::<Option<Held>>();
            if slots + payload.len() > room {
                return RecvOutcome::NoRoom;
            }
        }
        let r = self.reassembly.get_or_insert_with(Box::default);
        if r.slots.is_empty() {
            r.slots.resize_with(window, || None);
        }
        let index = usize::from(seq.get()) % r.slots.len();
        let Some(slot) = r.slots.get_mut(index) else {
            return RecvOutcome::TooFarAhead;
        };
        if let Some(held) = slot {
            if held.seq == seq {
                return RecvOutcome::Duplicate;
            }
            // Held packets lie within the window after ack_nr, which is
            // the slot count, so two never share a slot; should one be
            // here anyway, refuse rather than lose its accounting.
            return RecvOutcome::TooFarAhead;
        }
        let mut data = r.pool.pop().unwrap_or_default();
        r.pool_bytes = r.pool_bytes.saturating_sub(data.capacity());
        data.clear();
        data.extend_from_slice(payload);
        self.held_bytes += data.len();
        self.held_count += 1;
        if seq.is_after(self.highest_held) {
            self.highest_held = seq;
        }
        *slot = Some(Held { seq, data, fin });
        RecvOutcome::Accepted { in_order: false }
    }

    fn deliver(&mut self, seq: SeqNr, payload: &[u8], fin: bool) {
        self.ack_nr = seq;
        if !self.discard {
            self.readable.extend(payload);
        }
        if fin {
            self.eof = true;
        }
    }

    fn pull_held(&mut self) {
        while self.held_count > 0 && !self.eof {
            let next = self.ack_nr + 1;
            let Some(r) = self.reassembly.as_mut() else {
                return;
            };
            let len = r.slots.len();
            if len == 0 {
                return;
            }
            let index = usize::from(next.get()) % len;
            let held = match r.slots.get_mut(index) {
                Some(slot) if slot.as_ref().is_some_and(|h| h.seq == next) => slot.take(),
                _ => None,
            };
            let Some(held) = held else { return };
            self.held_count -= 1;
            self.held_bytes -= held.data.len();
            self.deliver(held.seq, &held.data, held.fin);
            if let Some(r) = self.reassembly.as_mut() {
                if r.pool.len() < usize::from(self.reorder_window) {
                    r.pool_bytes += held.data.capacity();
                    r.pool.push(held.data);
                }
            }
        }
    }

    /// Whether empty buffers hold memory that [`release_spare`](Self::release_spare)
    /// would free.
    pub(crate) fn has_spare(&self) -> bool {
        // Reassembly state with nothing held goes too.
        (self.held_count == 0 && self.reassembly.is_some())
            || self.reassembly.as_ref().is_some_and(|r| !r.pool.is_empty())
            || (self.readable.is_empty() && self.readable.capacity() > 0)
    }

    /// Frees the buffers that hold nothing: the pool of packet buffers, the
    /// reassembly slots when nothing is held, and the readable buffer when
    /// it is empty.
    pub(crate) fn release_spare(&mut self) {
        if self.held_count == 0 {
            self.reassembly = None;
        }
        self.release_pool();
        if self.readable.is_empty() {
            self.readable = VecDeque::new();
        }
    }

    /// Memory held for reassembly beyond the bytes buffered: spare packet
    /// buffers kept for reuse, and the reassembly slots.
    pub(crate) fn spare_bytes(&self) -> usize {
        self.reassembly.as_ref().map_or(0, |r| {
            r.pool_bytes + r.slots.capacity() * core::mem::size_of::<Option<Held>>()
        })
    }

    /// Frees the spare packet buffers (under memory pressure).
    pub(crate) fn release_pool(&mut self) {
        if let Some(r) = self.reassembly.as_mut() {
            r.pool = Vec::new();
            r.pool_bytes = 0;
        }
    }

    /// Heap bytes held (capacities).
    pub(crate) fn heap_bytes(&self) -> usize {
        let reassembly = self.reassembly.as_ref().map_or(0, |r| {
            let held: usize = r.slots.iter().flatten().map(|h| h.data.capacity()).sum();
            let pooled: usize = r.pool.iter().map(Vec::capacity).sum();
            core::mem::size_of::<Reassembly>()
                + r.slots.capacity() * core::mem::size_of::<Option<Held>>()
                + r.pool.capacity() * core::mem::size_of::<Vec<u8>>()
                + held
                + pooled
        });
        self.readable.capacity() + reassembly
    }

    /// Copies readable bytes into `out`; returns how many.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.readable.len());
        let (a, b) = self.readable.as_slices();
        let from_a = n.min(a.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..from_a), a.get(..from_a)) {
            dst.copy_from_slice(src);
        }
        if let (Some(dst), Some(src)) = (out.get_mut(from_a..n), b.get(..n - from_a)) {
            dst.copy_from_slice(src);
        }
        self.readable.drain(..n);
        n
    }

    /// Bits the SACK needs (bit i stands for ack_nr + 2 + i), `None` when
    /// nothing is held.
    fn sack_bits(&self) -> Option<usize> {
        (self.held_count > 0)
            .then(|| usize::from(self.highest_held.distance_from(self.ack_nr + 2)) + 1)
    }

    fn mask_len(bits: usize) -> usize {
        bits.div_ceil(8).div_ceil(4) * 4
    }

    /// Length of the mask [`sack`](Self::sack) would write into a buffer of
    /// `max` bytes, without building it.
    pub(crate) fn sack_len(&self, max: usize) -> Option<usize> {
        self.sack_bits()
            .map(|bits| Self::mask_len(bits).min(max / 4 * 4))
    }

    /// Writes the SACK mask for the held packets into `mask` and returns
    /// its length (a multiple of 4), or `None` when nothing is held.
    pub(crate) fn sack(&self, mask: &mut [u8]) -> Option<usize> {
        let bits = self.sack_bits()?;
        let len = Self::mask_len(bits).min(mask.len() / 4 * 4);
        let out = mask.get_mut(..len)?;
        out.fill(0);
        let slots = self.reassembly.as_ref().map_or(&[][..], |r| &r.slots[..]);
        for i in 0..(len * 8).min(bits) {
            let seq = self.ack_nr + 2 + i as u16;
            let held = !slots.is_empty()
                && slots
                    .get(usize::from(seq.get()) % slots.len())
                    .is_some_and(|s| s.as_ref().is_some_and(|h| h.seq == seq));
            if held {
                if let Some(byte) = out.get_mut(i / 8) {
                    *byte |= 1 << (i % 8);
                }
            }
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_reassembly() {
        let mut r = RecvBuffer::new(SeqNr::new(65533), 100, 8);
        assert_eq!(
            r.on_packet(SeqNr::new(65535), b"cc", false, usize::MAX),
            RecvOutcome::Accepted { in_order: false }
        );
        assert_eq!(
            r.on_packet(SeqNr::new(0), b"dd", false, usize::MAX),
            RecvOutcome::Accepted { in_order: false }
        );
        let mut mask = [0u8; 16];
        assert_eq!(r.sack(&mut mask), Some(4));
        assert_eq!(mask[0], 0b11);
        assert_eq!(r.window(), 96);
        assert_eq!(
            r.on_packet(SeqNr::new(65534), b"bb", false, usize::MAX),
            RecvOutcome::Accepted { in_order: true }
        );
        assert_eq!(r.ack_nr(), SeqNr::new(0));
        assert_eq!(r.sack(&mut mask), None);
        let mut out = [0u8; 10];
        assert_eq!(r.read(&mut out), 6);
        assert_eq!(&out[..6], b"bbccdd");
        assert_eq!(
            r.on_packet(SeqNr::new(0), b"dd", false, usize::MAX),
            RecvOutcome::Duplicate
        );
        assert_eq!(
            r.on_packet(SeqNr::new(9), b"x", false, usize::MAX),
            RecvOutcome::TooFarAhead
        );
        assert_eq!(
            r.on_packet(SeqNr::new(8), b"x", false, usize::MAX),
            RecvOutcome::Accepted { in_order: false }
        );
    }

    #[test]
    fn window_is_enforced() {
        let mut r = RecvBuffer::new(SeqNr::new(0), 4, 8);
        assert_eq!(
            r.on_packet(SeqNr::new(1), b"abc", false, usize::MAX),
            RecvOutcome::Accepted { in_order: true }
        );
        assert_eq!(
            r.on_packet(SeqNr::new(2), b"de", false, usize::MAX),
            RecvOutcome::NoRoom
        );
        assert_eq!(r.window(), 1);
        assert_eq!(
            r.on_packet(SeqNr::new(2), b"d", false, usize::MAX),
            RecvOutcome::Accepted { in_order: true }
        );
        assert_eq!(r.window(), 0);
    }

    #[test]
    fn fin_out_of_order_then_eof() {
        let mut r = RecvBuffer::new(SeqNr::new(10), 100, 8);
        assert_eq!(
            r.on_packet(SeqNr::new(12), b"", true, usize::MAX),
            RecvOutcome::Accepted { in_order: false }
        );
        assert!(!r.is_eof());
        assert_eq!(
            r.on_packet(SeqNr::new(13), b"late", false, usize::MAX),
            RecvOutcome::AfterFin
        );
        assert_eq!(
            r.on_packet(SeqNr::new(11), b"end", false, usize::MAX),
            RecvOutcome::Accepted { in_order: true }
        );
        assert!(r.is_eof());
        assert_eq!(r.ack_nr(), SeqNr::new(12));
        assert_eq!(r.readable_len(), 3);
    }

    #[test]
    fn sack_spans_the_window() {
        let mut r = RecvBuffer::new(SeqNr::new(100), 100_000, 64);
        r.on_packet(SeqNr::new(102), b"a", false, usize::MAX);
        r.on_packet(SeqNr::new(164), b"b", false, usize::MAX);
        let mut mask = [0u8; 128];
        let len = r.sack(&mut mask).unwrap();
        assert_eq!(len, 8);
        assert_eq!(r.sack_len(128), Some(8));
        // 102 is bit 0 (ack_nr + 2), 164 is bit 62.
        assert_eq!(&mask[..8], &[1, 0, 0, 0, 0, 0, 0, 0x40]);
    }
}
