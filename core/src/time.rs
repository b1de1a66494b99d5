//! Time as the core sees it: given, never read.
//!
//! The core never reads a clock. Every input carries a [`Timestamp`]: a
//! count of microseconds since an epoch the caller picks (process start, a
//! simulator's zero, anything monotonic). Only differences between
//! timestamps matter, so the epoch never shows on the wire.
//!
//! On the wire uTP carries the low 32 bits of the sender's microsecond clock
//! ([`WireTimestamp`]) and, in every packet, the difference between the
//! receive time of the last packet and that packet's wire timestamp
//! ([`TimestampDiff`]). Both wrap about every 71.6 minutes; all arithmetic on
//! them is modulo 2^32.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time: microseconds since a caller-chosen epoch.
///
/// Arithmetic saturates instead of overflowing, so no sequence of inputs can
/// make the core panic on time.
///
/// ```
/// use core::time::Duration;
/// use utp_core::Timestamp;
/// let t0 = Timestamp::from_millis(1_000);
/// let t1 = t0 + Duration::from_millis(250);
/// assert_eq!(t1 - t0, Duration::from_millis(250));
/// assert_eq!(t0 - t1, Duration::ZERO); // saturates
/// assert_eq!(t1.as_micros(), 1_250_000);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    micros: u64,
}

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Timestamp = Timestamp { micros: 0 };
    /// The latest representable time; a deadline that never comes.
    pub const MAX: Timestamp = Timestamp { micros: u64::MAX };

    /// Microseconds since the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp { micros }
    }

    /// Milliseconds since the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// Seconds since the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }

    /// `self + d`, or `None` past [`Timestamp::MAX`].
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        let d = u64::try_from(d.as_micros()).ok()?;
        self.micros.checked_add(d).map(Timestamp::from_micros)
    }

    /// The low 32 bits of the clock, as carried in the `timestamp` field.
    pub const fn to_wire(self) -> WireTimestamp {
        WireTimestamp(self.micros as u32)
    }
}

fn duration_micros_saturating(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturates at [`Timestamp::MAX`].
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp {
            micros: self.micros.saturating_add(duration_micros_saturating(rhs)),
        }
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturates at [`Timestamp::ZERO`].
    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp {
            micros: self.micros.saturating_sub(duration_micros_saturating(rhs)),
        }
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;
    /// Saturates at zero; see [`Timestamp::saturating_duration_since`].
    fn sub(self, rhs: Timestamp) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

/// The 32-bit microsecond timestamp a packet carries (`timestamp` field).
///
/// It is the low 32 bits of the sender's clock, so only differences between
/// two of them mean anything, and those wrap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct WireTimestamp(pub u32);

impl WireTimestamp {
    /// The value for the `timestamp_difference` field of our next packet:
    /// our receive time (`self`, our clock) minus the peer's `sent` timestamp
    /// (its clock), modulo 2^32.
    ///
    /// The two clocks have unrelated epochs, so the result is a one-way delay
    /// plus an unknown constant: LEDBAT only ever compares such values with
    /// each other.
    pub const fn difference_since(self, sent: WireTimestamp) -> TimestampDiff {
        TimestampDiff(self.0.wrapping_sub(sent.0))
    }

    /// Microseconds from `earlier` to `self` on the same clock, modulo 2^32.
    /// Gives an RTT when both stamps are ours.
    pub const fn wrapping_micros_since(self, earlier: WireTimestamp) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
}

/// The `timestamp_difference` field: the peer's view of the one-way delay
/// from us to it, plus an unknown clock offset, modulo 2^32.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct TimestampDiff(pub u32);

impl TimestampDiff {
    /// Sent before the sender has received anything: no sample.
    pub const NONE: TimestampDiff = TimestampDiff(0);
    /// A value some old uTorrent versions send by mistake; it carries no
    /// information and must be ignored.
    pub const BOGUS: TimestampDiff = TimestampDiff(0x7fff_ffff);

    /// `true` when the value is a usable delay sample (neither
    /// [`TimestampDiff::NONE`] nor [`TimestampDiff::BOGUS`]).
    pub const fn is_sample(self) -> bool {
        self.0 != Self::NONE.0 && self.0 != Self::BOGUS.0
    }

    /// The signed distance from `base` to `self` in microseconds, treating
    /// the 32-bit space as circular: positive when `self` is the larger delay.
    ///
    /// This is how delay samples are compared with the base delay even when
    /// the peer's clock wrapped between them.
    pub const fn wrapping_offset_from(self, base: TimestampDiff) -> i32 {
        self.0.wrapping_sub(base.0) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn saturating_arithmetic_never_overflows() {
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        assert_eq!(Timestamp::ZERO - Duration::from_secs(1), Timestamp::ZERO);
        assert_eq!(Timestamp::ZERO + Duration::MAX, Timestamp::MAX);
        assert_eq!(Timestamp::MAX.checked_add(Duration::from_micros(1)), None);
        assert_eq!(
            Timestamp::ZERO.checked_add(Duration::from_micros(7)),
            Some(Timestamp::from_micros(7))
        );
        assert_eq!(Timestamp::ZERO - Timestamp::MAX, Duration::ZERO);
        assert_eq!(Timestamp::from_secs(u64::MAX), Timestamp::MAX);
    }

    #[test]
    fn wire_timestamp_is_low_32_bits() {
        let t = Timestamp::from_micros(0x1_2345_6789);
        assert_eq!(t.to_wire(), WireTimestamp(0x2345_6789));
    }

    #[test]
    fn difference_wraps() {
        // Our clock wrapped past 2^32 while the peer's is near the top.
        let recv = WireTimestamp(10);
        let sent = WireTimestamp(u32::MAX - 9);
        assert_eq!(recv.difference_since(sent), TimestampDiff(20));
        assert_eq!(recv.wrapping_micros_since(sent), 20);
    }

    #[test]
    fn delay_comparison_across_the_wrap() {
        let base = TimestampDiff(u32::MAX - 1_000);
        let later = TimestampDiff(4_000);
        assert_eq!(later.wrapping_offset_from(base), 5_001);
        assert_eq!(base.wrapping_offset_from(later), -5_001);
    }

    #[test]
    fn no_sample_values() {
        assert!(!TimestampDiff::NONE.is_sample());
        assert!(!TimestampDiff::BOGUS.is_sample());
        assert!(TimestampDiff(1).is_sample());
        assert!(TimestampDiff(0x8000_0000).is_sample());
    }

    proptest! {
        #[test]
        fn wire_difference_matches_real_difference(start in any::<u64>(), delta in 0u64..=u32::MAX as u64) {
            let a = Timestamp::from_micros(start);
            let Some(b) = a.checked_add(Duration::from_micros(delta)) else { return Ok(()) };
            prop_assert_eq!(u64::from(b.to_wire().wrapping_micros_since(a.to_wire())), delta);
            prop_assert_eq!(b - a, Duration::from_micros(delta));
        }
    }
}
