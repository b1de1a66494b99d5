//! The delay filters LEDBAT keeps (RFC 6817 section 3.4.2): the minimum
//! over minute buckets (the base-delay history, and the reverse history
//! that detects clock drift) and the minimum of the last few samples (the
//! current delay). Values are 32-bit wrapping delays, compared as such.
//!
//! The three share one allocation sized by the configuration (ten, ten
//! and four values by default), so that an idle connection's controller
//! does not carry the largest histories allowed.

use super::{BUCKET, MAX_BASE_HISTORY, MAX_CURRENT_FILTER};
use crate::time::Timestamp;

/// The base-delay history, the reverse history and the current filter.
#[derive(Clone, Debug)]
pub(super) struct DelayFilters {
    /// The base history's buckets, then the reverse history's, then the
    /// current filter's samples.
    values: Box<[u32]>,
    /// Buckets per history (1 to `MAX_BASE_HISTORY`).
    history_len: u8,
    base: History,
    reverse: History,
    current: Ring,
}

/// Minimum of samples over time buckets, in a ring of buckets.
#[derive(Clone, Copy, Debug)]
struct History {
    bucket_started: Timestamp,
    /// Buckets in use.
    len: u8,
    /// Index of the newest bucket.
    newest: u8,
}

/// The lowest of the last few samples, in a ring.
#[derive(Clone, Copy, Debug)]
struct Ring {
    len: u8,
    next: u8,
}

/// `a < b` for wrapping delay values.
pub(super) fn earlier(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The smallest of wrapping delay values.
fn wrapping_min<'a>(values: impl Iterator<Item = &'a u32>) -> Option<u32> {
    values
        .copied()
        .reduce(|a, b| if earlier(b, a) { b } else { a })
}

impl DelayFilters {
    /// Histories of `history` buckets and a current filter of `current`
    /// samples (each clamped to its bounds).
    pub(super) fn new(history: u8, current: u8) -> Self {
        let history = history.clamp(1, MAX_BASE_HISTORY);
        let current = current.clamp(1, MAX_CURRENT_FILTER);
        let len = 2 * usize::from(history) + usize::from(current);
        let empty = History {
            bucket_started: Timestamp::ZERO,
            len: 0,
            newest: 0,
        };
        DelayFilters {
            values: vec![0; len].into_boxed_slice(),
            history_len: history,
            base: empty,
            reverse: empty,
            current: Ring { len: 0, next: 0 },
        }
    }

    fn base_values(&self) -> &[u32] {
        self.values
            .get(..usize::from(self.history_len))
            .unwrap_or(&[])
    }

    fn reverse_values(&self) -> &[u32] {
        let h = usize::from(self.history_len);
        self.values.get(h..2 * h).unwrap_or(&[])
    }

    fn current_values(&self) -> &[u32] {
        let h = usize::from(self.history_len);
        self.values.get(2 * h..).unwrap_or(&[])
    }

    /// A sample of our delay to the peer.
    pub(super) fn add_delay(&mut self, now: Timestamp, sample: u32) {
        let (base, _, current) = split(&mut self.values, self.history_len);
        self.base.add(base, now, sample);
        self.current.add(current, sample);
    }

    /// A sample of the peer's delay to us.
    pub(super) fn add_reverse(&mut self, now: Timestamp, sample: u32) {
        let (_, reverse, _) = split(&mut self.values, self.history_len);
        self.reverse.add(reverse, now, sample);
    }

    /// The base delay: the lowest sample of the base history.
    pub(super) fn base_min(&self) -> Option<u32> {
        wrapping_min(self.base_values().iter().take(self.base.len.into()))
    }

    /// The reverse base delay.
    pub(super) fn reverse_min(&self) -> Option<u32> {
        wrapping_min(self.reverse_values().iter().take(self.reverse.len.into()))
    }

    /// The current delay: the lowest of the last samples.
    pub(super) fn current_min(&self) -> Option<u32> {
        wrapping_min(self.current_values().iter().take(self.current.len.into()))
    }

    /// Adds `by` to every bucket of the base history (our delays rose by
    /// the clock drift).
    pub(super) fn shift_base(&mut self, by: u32) {
        let len = self.base.len.into();
        let (base, _, _) = split(&mut self.values, self.history_len);
        for b in base.iter_mut().take(len) {
            *b = b.wrapping_add(by);
        }
    }
}

/// The base history's, the reverse history's and the current filter's
/// values, of histories of `history` buckets.
fn split(values: &mut [u32], history: u8) -> (&mut [u32], &mut [u32], &mut [u32]) {
    let h = usize::from(history);
    let (base, rest) = values.split_at_mut_checked(h).unwrap_or((&mut [], &mut []));
    let (reverse, current) = rest.split_at_mut_checked(h).unwrap_or((&mut [], &mut []));
    (base, reverse, current)
}

impl History {
    fn add(&mut self, buckets: &mut [u32], now: Timestamp, sample: u32) {
        // At most MAX_BASE_HISTORY (30) buckets.
        let capacity = u8::try_from(buckets.len())
            .unwrap_or(MAX_BASE_HISTORY)
            .max(1);
        let new_bucket =
            self.len == 0 || now.saturating_duration_since(self.bucket_started) >= BUCKET;
        if new_bucket {
            if self.len > 0 {
                self.newest = (self.newest + 1) % capacity;
            }
            self.len = (self.len + 1).min(capacity);
            self.bucket_started = now;
        }
        if let Some(newest) = buckets.get_mut(usize::from(self.newest)) {
            if new_bucket || earlier(sample, *newest) {
                *newest = sample;
            }
        }
    }
}

impl Ring {
    fn add(&mut self, samples: &mut [u32], sample: u32) {
        // At most MAX_CURRENT_FILTER (16) samples.
        let capacity = u8::try_from(samples.len())
            .unwrap_or(MAX_CURRENT_FILTER)
            .max(1);
        if let Some(slot) = samples.get_mut(usize::from(self.next)) {
            *slot = sample;
        }
        self.next = (self.next + 1) % capacity;
        self.len = (self.len + 1).min(capacity);
    }
}
