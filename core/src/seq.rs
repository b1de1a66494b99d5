//! Wrapping 16-bit sequence numbers.
//!
//! uTP numbers packets with a 16-bit counter that wraps from 65535 to 0; a
//! long transfer wraps many times. Ordering is therefore only meaningful
//! between numbers less than half the space (32768) apart: `a` comes before
//! `b` when going forward from `a` reaches `b` in fewer than 32768 steps. Two
//! numbers exactly 32768 apart are incomparable. Every comparison in the stack
//! goes through this type so that no code compares raw `u16`s by accident.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A uTP sequence or acknowledgement number (`seq_nr`, `ack_nr`).
///
/// Arithmetic wraps modulo 2^16. Comparison is circular (see the module
/// docs), so `SeqNr` deliberately does not implement `Ord`/`PartialOrd`:
/// use [`SeqNr::is_before`], [`SeqNr::is_after`] or [`SeqNr::cmp_wrapping`].
///
/// ```
/// use utp_core::SeqNr;
/// let last = SeqNr::new(65535);
/// let next = last + 1;
/// assert_eq!(next, SeqNr::new(0));
/// assert!(last.is_before(next));
/// assert_eq!(next.distance_from(last), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNr(u16);

impl SeqNr {
    /// Half the sequence space: numbers this far apart cannot be ordered.
    pub const HALF: u16 = 0x8000;

    /// Wraps a raw wire value.
    #[inline]
    pub const fn new(raw: u16) -> Self {
        SeqNr(raw)
    }

    /// The raw wire value.
    #[inline]
    pub const fn get(self) -> u16 {
        self.0
    }

    /// How many steps forward from `earlier` reach `self`, modulo 2^16.
    ///
    /// `SeqNr::new(2).distance_from(SeqNr::new(65534)) == 4`.
    #[inline]
    pub const fn distance_from(self, earlier: SeqNr) -> u16 {
        self.0.wrapping_sub(earlier.0)
    }

    /// The signed circular offset of `self` relative to `other`, in
    /// `-32768..=32767`: positive when `self` is after `other`.
    #[inline]
    pub const fn offset_from(self, other: SeqNr) -> i16 {
        self.0.wrapping_sub(other.0) as i16
    }

    /// Circular comparison; `None` when the two are exactly 32768 apart.
    #[inline]
    pub const fn cmp_wrapping(self, other: SeqNr) -> Option<Ordering> {
        match self.0.wrapping_sub(other.0) {
            0 => Some(Ordering::Equal),
            Self::HALF => None,
            d if d < Self::HALF => Some(Ordering::Greater),
            _ => Some(Ordering::Less),
        }
    }

    /// `true` when `self` comes strictly before `other` in circular order.
    #[inline]
    pub const fn is_before(self, other: SeqNr) -> bool {
        matches!(self.cmp_wrapping(other), Some(Ordering::Less))
    }

    /// `true` when `self` comes strictly after `other` in circular order.
    #[inline]
    pub const fn is_after(self, other: SeqNr) -> bool {
        matches!(self.cmp_wrapping(other), Some(Ordering::Greater))
    }

    /// `true` when `self` lies in the half-open window `[start, start + len)`.
    ///
    /// Windows are what receive and in-flight buffers are made of; this is
    /// the one test they use, and it is exact for any `len` up to 65536.
    #[inline]
    pub const fn in_window(self, start: SeqNr, len: u32) -> bool {
        (self.distance_from(start) as u32) < len
    }
}

impl Add<u16> for SeqNr {
    type Output = SeqNr;
    #[inline]
    fn add(self, rhs: u16) -> SeqNr {
        SeqNr(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u16> for SeqNr {
    #[inline]
    fn add_assign(&mut self, rhs: u16) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u16> for SeqNr {
    type Output = SeqNr;
    #[inline]
    fn sub(self, rhs: u16) -> SeqNr {
        SeqNr(self.0.wrapping_sub(rhs))
    }
}

impl SubAssign<u16> for SeqNr {
    #[inline]
    fn sub_assign(&mut self, rhs: u16) {
        self.0 = self.0.wrapping_sub(rhs);
    }
}

impl From<u16> for SeqNr {
    fn from(raw: u16) -> Self {
        SeqNr(raw)
    }
}

impl From<SeqNr> for u16 {
    fn from(seq: SeqNr) -> Self {
        seq.0
    }
}

impl fmt::Debug for SeqNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNr({})", self.0)
    }
}

impl fmt::Display for SeqNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_from_65535_to_0() {
        let top = SeqNr::new(u16::MAX);
        assert_eq!(top + 1, SeqNr::new(0));
        assert_eq!(SeqNr::new(0) - 1, top);
        assert_eq!(top + 10, SeqNr::new(9));
        let mut s = top;
        s += 2;
        assert_eq!(s, SeqNr::new(1));
        s -= 3;
        assert_eq!(s, SeqNr::new(65534));
    }

    #[test]
    fn ordering_across_the_wrap() {
        let a = SeqNr::new(65530);
        let b = SeqNr::new(5);
        assert!(a.is_before(b));
        assert!(b.is_after(a));
        assert!(!a.is_after(b));
        assert!(!b.is_before(a));
        assert_eq!(b.distance_from(a), 11);
        assert_eq!(a.distance_from(b), 65525);
        assert_eq!(b.offset_from(a), 11);
        assert_eq!(a.offset_from(b), -11);
        assert_eq!(a.cmp_wrapping(a), Some(Ordering::Equal));
        assert!(!a.is_before(a) && !a.is_after(a));
    }

    #[test]
    fn half_space_apart_is_incomparable() {
        let a = SeqNr::new(100);
        let b = a + SeqNr::HALF;
        assert_eq!(a.cmp_wrapping(b), None);
        assert_eq!(b.cmp_wrapping(a), None);
        assert!(!a.is_before(b) && !a.is_after(b));
        // One step less than half is still ordered.
        assert!(a.is_before(a + (SeqNr::HALF - 1)));
        assert!(a.is_after(a - (SeqNr::HALF - 1)));
    }

    #[test]
    fn window_membership_across_the_wrap() {
        let start = SeqNr::new(65534);
        assert!(SeqNr::new(65534).in_window(start, 4));
        assert!(SeqNr::new(65535).in_window(start, 4));
        assert!(SeqNr::new(0).in_window(start, 4));
        assert!(SeqNr::new(1).in_window(start, 4));
        assert!(!SeqNr::new(2).in_window(start, 4));
        assert!(!SeqNr::new(65533).in_window(start, 4));
        assert!(!start.in_window(start, 0));
        assert!(SeqNr::new(65533).in_window(start, 65536));
    }

    proptest! {
        #[test]
        fn forward_steps_are_after(a in any::<u16>(), d in 1u16..SeqNr::HALF) {
            let a = SeqNr::new(a);
            let b = a + d;
            prop_assert!(a.is_before(b));
            prop_assert!(b.is_after(a));
            prop_assert_eq!(b.distance_from(a), d);
            prop_assert_eq!(b.offset_from(a), d as i16);
            prop_assert_eq!(b - d, a);
            prop_assert_eq!(a.cmp_wrapping(b), Some(Ordering::Less));
        }

        #[test]
        fn comparison_is_antisymmetric(a in any::<u16>(), b in any::<u16>()) {
            let (a, b) = (SeqNr::new(a), SeqNr::new(b));
            prop_assert_eq!(a.cmp_wrapping(b).map(Ordering::reverse), b.cmp_wrapping(a));
        }
    }
}
