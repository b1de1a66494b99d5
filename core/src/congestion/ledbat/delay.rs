//! The delay filters LEDBAT keeps (RFC 6817 section 3.4.2): the minimum
//! over minute buckets (the base-delay history, and the reverse history
//! that detects clock drift) and the minimum of the last few samples (the
//! current delay). Values are 32-bit wrapping delays, compared as such.

use super::{BUCKET, MAX_BASE_HISTORY, MAX_CURRENT_FILTER};
use crate::time::Timestamp;

/// Minimum of samples over time buckets: the base-delay history (minute
/// buckets) and the reverse history used to detect clock drift. Values are
/// 32-bit wrapping delays, compared as such.
#[derive(Clone, Debug)]
pub(super) struct DelayHistory {
    buckets: [u32; MAX_BASE_HISTORY as usize],
    len: usize,
    /// Index of the newest bucket.
    newest: usize,
    bucket_started: Timestamp,
    capacity: usize,
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

impl DelayHistory {
    pub(super) fn new(capacity: u8) -> Self {
        DelayHistory {
            buckets: [0; MAX_BASE_HISTORY as usize],
            len: 0,
            newest: 0,
            bucket_started: Timestamp::ZERO,
            capacity: usize::from(capacity.clamp(1, MAX_BASE_HISTORY)),
        }
    }

    pub(super) fn add(&mut self, now: Timestamp, sample: u32) {
        let new_bucket =
            self.len == 0 || now.saturating_duration_since(self.bucket_started) >= BUCKET;
        if new_bucket {
            if self.len > 0 {
                self.newest = (self.newest + 1) % self.capacity;
            }
            self.len = (self.len + 1).min(self.capacity);
            self.bucket_started = now;
        }
        if let Some(newest) = self.buckets.get_mut(self.newest) {
            if new_bucket || earlier(sample, *newest) {
                *newest = sample;
            }
        }
    }

    pub(super) fn min(&self) -> Option<u32> {
        wrapping_min(self.buckets.iter().take(self.len))
    }

    /// Adds `by` to every bucket (our delays rose by the clock drift).
    pub(super) fn shift(&mut self, by: u32) {
        for b in self.buckets.iter_mut().take(self.len) {
            *b = b.wrapping_add(by);
        }
    }
}

/// The lowest of the last few samples.
#[derive(Clone, Debug)]
pub(super) struct CurrentFilter {
    samples: [u32; MAX_CURRENT_FILTER as usize],
    len: usize,
    next: usize,
    capacity: usize,
}

impl CurrentFilter {
    pub(super) fn new(capacity: u8) -> Self {
        CurrentFilter {
            samples: [0; MAX_CURRENT_FILTER as usize],
            len: 0,
            next: 0,
            capacity: usize::from(capacity.clamp(1, MAX_CURRENT_FILTER)),
        }
    }

    pub(super) fn add(&mut self, sample: u32) {
        if let Some(slot) = self.samples.get_mut(self.next) {
            *slot = sample;
        }
        self.next = (self.next + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }

    pub(super) fn min(&self) -> Option<u32> {
        wrapping_min(self.samples.iter().take(self.len))
    }
}
