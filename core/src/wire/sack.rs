use core::hash::{Hash, Hasher};

use crate::seq::SeqNr;

/// A selective ACK (extension 1): a bitmask of packets received beyond
/// `ack_nr`.
///
/// Bit `i` (least significant bit first within each byte, bytes in order)
/// says that packet `ack_nr + 2 + i` has arrived; `ack_nr + 1` is the hole
/// that made the SACK necessary, so it has no bit.
///
/// Any non-empty mask is accepted (libtorrent sends 1 to 3 bytes); masks are
/// emitted padded with zero bytes to a multiple of 4, the length libutp and
/// utp-rs expect. Two masks are equal when they acknowledge the same packets,
/// whatever their trailing zero bytes.
#[derive(Clone, Copy, Debug)]
pub struct SelectiveAck<'a> {
    mask: &'a [u8],
}

impl<'a> SelectiveAck<'a> {
    /// A 4-byte mask that acknowledges nothing. It is what to put before a
    /// close reason when there is nothing to selectively acknowledge.
    pub const NONE: SelectiveAck<'static> = SelectiveAck { mask: &[0; 4] };

    /// Longest mask that can be emitted: 252 bytes (the largest multiple of 4
    /// that fits the one-byte extension length), 2016 packets.
    pub const MAX_MASK_LEN: usize = 252;

    /// Wraps a mask; `None` when it is empty.
    pub const fn new(mask: &'a [u8]) -> Option<SelectiveAck<'a>> {
        if mask.is_empty() {
            None
        } else {
            Some(SelectiveAck { mask })
        }
    }

    /// The raw mask bytes, as received or given.
    pub const fn mask(&self) -> &'a [u8] {
        self.mask
    }

    /// How many packets the mask covers (8 per byte).
    pub const fn bit_len(&self) -> usize {
        self.mask.len() * 8
    }

    /// Length of the extension body when emitted: the mask padded to a
    /// multiple of 4 bytes.
    pub const fn encoded_len(&self) -> usize {
        self.mask.len().div_ceil(4) * 4
    }

    /// `true` when bit `index` is set (packet `ack_nr + 2 + index`).
    pub fn is_set(&self, index: usize) -> bool {
        self.mask
            .get(index / 8)
            .is_some_and(|byte| byte & (1 << (index % 8)) != 0)
    }

    /// `true` when the mask says `seq` arrived, for a packet with `ack_nr`.
    pub fn acks(&self, ack_nr: SeqNr, seq: SeqNr) -> bool {
        let index = seq.distance_from(ack_nr + 2);
        self.is_set(usize::from(index))
    }

    /// The sequence numbers this mask acknowledges, in increasing order,
    /// for a packet whose `ack_nr` is `ack_nr`.
    pub fn acked(&self, ack_nr: SeqNr) -> SackIter<'a> {
        SackIter {
            mask: self.mask,
            base: ack_nr + 2,
            byte_index: 0,
            current: self.mask.first().copied().unwrap_or(0),
        }
    }

    /// The mask without its trailing zero bytes: what equality compares.
    fn significant(&self) -> &'a [u8] {
        let end = self
            .mask
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        self.mask.get(..end).unwrap_or(&[])
    }
}

impl PartialEq for SelectiveAck<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.significant() == other.significant()
    }
}

impl Eq for SelectiveAck<'_> {}

impl Hash for SelectiveAck<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.significant().hash(state);
    }
}

/// Iterator over the sequence numbers a [`SelectiveAck`] acknowledges.
#[derive(Clone, Debug)]
pub struct SackIter<'a> {
    mask: &'a [u8],
    base: SeqNr,
    byte_index: usize,
    /// Bits of the current byte not yet yielded.
    current: u8,
}

impl Iterator for SackIter<'_> {
    type Item = SeqNr;

    fn next(&mut self) -> Option<SeqNr> {
        while self.current == 0 {
            self.byte_index += 1;
            self.current = *self.mask.get(self.byte_index)?;
        }
        let bit = self.current.trailing_zeros();
        self.current &= self.current - 1;
        // byte_index < mask.len() <= 255, so the offset fits in a u16.
        let offset = (self.byte_index * 8) as u16 + bit as u16;
        Some(self.base + offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_order_is_lsb_first() {
        let mask = [0b1000_0001, 0b0000_0010];
        let sack = SelectiveAck::new(&mask).unwrap();
        let ack = SeqNr::new(100);
        let got: Vec<u16> = sack.acked(ack).map(SeqNr::get).collect();
        assert_eq!(got, [102, 109, 111]);
        assert!(sack.acks(ack, SeqNr::new(102)));
        assert!(!sack.acks(ack, SeqNr::new(101)));
        assert!(!sack.acks(ack, SeqNr::new(103)));
        assert!(sack.acks(ack, SeqNr::new(111)));
        assert!(!sack.acks(ack, SeqNr::new(118)));
        // Far outside the mask, including "before" ack_nr: not acked.
        assert!(!sack.acks(ack, SeqNr::new(50)));
    }

    #[test]
    fn iteration_wraps_past_65535() {
        let mask = [0xff];
        let sack = SelectiveAck::new(&mask).unwrap();
        let got: Vec<u16> = sack.acked(SeqNr::new(65532)).map(SeqNr::get).collect();
        assert_eq!(got, [65534, 65535, 0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn empty_mask_is_rejected_and_zero_mask_acks_nothing() {
        assert!(SelectiveAck::new(&[]).is_none());
        assert_eq!(SelectiveAck::NONE.acked(SeqNr::new(0)).count(), 0);
        assert_eq!(SelectiveAck::NONE.encoded_len(), 4);
    }

    #[test]
    fn equality_ignores_trailing_zero_bytes() {
        let short = [0x05];
        let padded = [0x05, 0, 0, 0];
        let other = [0x05, 0, 0, 1];
        let a = SelectiveAck::new(&short).unwrap();
        assert_eq!(a, SelectiveAck::new(&padded).unwrap());
        assert_ne!(a, SelectiveAck::new(&other).unwrap());
        assert_eq!(a.encoded_len(), 4);
        assert_eq!(SelectiveAck::new(&[1; 5]).unwrap().encoded_len(), 8);
    }

    #[test]
    fn full_mask_yields_every_bit() {
        let mask = [0xff; 255];
        let sack = SelectiveAck::new(&mask).unwrap();
        assert_eq!(sack.acked(SeqNr::new(7)).count(), 255 * 8);
        assert_eq!(
            sack.acked(SeqNr::new(7)).last(),
            Some(SeqNr::new(7 + 2 + 255 * 8 - 1))
        );
    }
}
