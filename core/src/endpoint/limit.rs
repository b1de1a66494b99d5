//! The limit on replies to addresses that have not proved they receive
//! what we send (RESETs for unknown connections, answers to SYNs): so many
//! a second for the whole endpoint and for each source IP address, so a
//! spoofed flood can neither reflect much traffic at one victim nor make
//! the endpoint send without bound.
//!
//! Each limit is a token bucket refilled continuously at its rate, holding
//! one second's worth: a host that opens many connections at once is
//! answered at once, and a sustained flood is answered evenly spread at
//! the rate rather than in a burst at the start of every second (bursts of
//! RESETs at a real peer, provoked by forged packets in its name, filled
//! its queue).
//! The per-source buckets live in a fixed table indexed by a keyed hash of
//! the address (two addresses that share a cell share its limit, which only
//! makes the limit stricter), so the limiter allocates once and holds no
//! per-address state.

use core::hash::{Hash, Hasher};

use siphasher::sip::SipHasher13;

use crate::time::Timestamp;

/// Cells of the per-source table.
const SOURCES: usize = 1024;

/// Tokens in millionths, so that refills at any rate are exact.
const UNIT: u64 = 1_000_000;

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Micro-tokens.
    tokens: u64,
    /// When it was last refilled (µs).
    at: u64,
}

impl Bucket {
    /// Refills for the time since the last call and takes one token if
    /// there is one.
    fn take(&mut self, now: u64, per_second: u32) -> bool {
        let rate = u64::from(per_second);
        let capacity = rate.max(1) * UNIT;
        let elapsed = now.saturating_sub(self.at);
        self.at = self.at.max(now);
        self.tokens = self
            .tokens
            .saturating_add(elapsed.saturating_mul(rate))
            .min(capacity);
        if self.tokens >= UNIT {
            self.tokens -= UNIT;
            true
        } else {
            false
        }
    }

    fn put_back(&mut self) {
        self.tokens = self.tokens.saturating_add(UNIT);
    }
}

#[derive(Debug)]
pub(crate) struct ReplyLimiter {
    per_second: u32,
    per_source: u32,
    total: Bucket,
    by_source: Vec<Bucket>,
    k0: u64,
    k1: u64,
}

impl ReplyLimiter {
    pub(crate) fn new(per_second: u32, per_source: u32, k0: u64, k1: u64) -> Self {
        // Full buckets at the start.
        let full = |rate: u32| Bucket {
            tokens: u64::from(rate).max(1) * UNIT,
            at: 0,
        };
        ReplyLimiter {
            per_second,
            per_source,
            total: full(per_second),
            by_source: vec![full(per_source); SOURCES],
            k0,
            k1,
        }
    }

    fn cell<K: Hash>(&self, source: &K) -> usize {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        source.hash(&mut h);
        (h.finish() % SOURCES as u64) as usize
    }

    /// Whether one more reply to `to` (an IP address, or a peer that has
    /// none) may go at `now`; counts it if so.
    pub(crate) fn allow<K: Hash>(&mut self, now: Timestamp, to: &K) -> bool {
        let now = now.as_micros();
        if !self.total.take(now, self.per_second) {
            return false;
        }
        let cell = self.cell(to);
        let per_source = self.per_source;
        let allowed = self
            .by_source
            .get_mut(cell)
            .is_some_and(|b| b.take(now, per_source));
        if !allowed {
            self.total.put_back();
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;
    use std::net::IpAddr;

    #[test]
    fn limits_per_source_and_in_total_with_a_second_of_burst() {
        // 5 a second in all, 2 a second per source.
        let mut l = ReplyLimiter::new(5, 2, 1, 2);
        let t = Timestamp::from_secs(10);
        let a: IpAddr = [192, 0, 2, 1].into();
        assert!(l.allow(t, &a));
        assert!(l.allow(t, &a));
        assert!(!l.allow(t, &a), "third reply to one source at once");
        let others: Vec<IpAddr> = (2..40u8).map(|i| [192, 0, 2, i].into()).collect();
        let allowed = others.iter().filter(|&&ip| l.allow(t, &ip)).count();
        assert_eq!(allowed, 3, "five in total at once");
        // Then one token every 500 ms for that source, spread evenly.
        assert!(!l.allow(t + Duration::from_millis(400), &a));
        assert!(l.allow(t + Duration::from_millis(500), &a));
        let mut sent = 0;
        for ms in 0..10_000u64 {
            if l.allow(Timestamp::from_secs(20) + Duration::from_millis(ms), &a) {
                sent += 1;
            }
        }
        assert!((20..=22).contains(&sent), "{sent} in 10 s");
    }
}
