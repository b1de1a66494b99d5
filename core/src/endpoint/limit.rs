//! The limit on replies to addresses that have not proved they receive
//! what we send (RESETs for unknown connections, answers to SYNs): so many
//! a second for the whole endpoint and for each source IP address, so a
//! spoofed flood can neither reflect much traffic at one victim nor make
//! the endpoint send without bound.
//!
//! Counts are kept per one-second window; the per-source counts live in a
//! fixed table indexed by a keyed hash of the address (two addresses that
//! share a cell share its limit, which only makes the limit stricter), so
//! the limiter allocates once and holds no per-address state.

use core::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip::SipHasher13;

use crate::time::Timestamp;

/// Cells of the per-source table.
const SOURCES: usize = 1024;

#[derive(Debug)]
pub(crate) struct ReplyLimiter {
    per_second: u32,
    per_source: u32,
    window_start: Timestamp,
    sent: u32,
    by_source: Vec<u32>,
    k0: u64,
    k1: u64,
}

impl ReplyLimiter {
    pub(crate) fn new(per_second: u32, per_source: u32, k0: u64, k1: u64) -> Self {
        ReplyLimiter {
            per_second,
            per_source,
            window_start: Timestamp::ZERO,
            sent: 0,
            by_source: vec![0; SOURCES],
            k0,
            k1,
        }
    }

    fn cell(&self, ip: IpAddr) -> usize {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        match ip {
            IpAddr::V4(ip) => h.write(&ip.octets()),
            IpAddr::V6(ip) => h.write(&ip.octets()),
        }
        (h.finish() % SOURCES as u64) as usize
    }

    /// Whether one more reply to `to` may go at `now`; counts it if so.
    pub(crate) fn allow(&mut self, now: Timestamp, to: IpAddr) -> bool {
        if now.saturating_duration_since(self.window_start).as_secs() >= 1 {
            self.window_start = now;
            self.sent = 0;
            self.by_source.fill(0);
        }
        if self.sent >= self.per_second {
            return false;
        }
        let cell = self.cell(to);
        let Some(count) = self.by_source.get_mut(cell) else {
            return false;
        };
        if *count >= self.per_source {
            return false;
        }
        *count += 1;
        self.sent += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_source_and_in_total_per_second() {
        let mut l = ReplyLimiter::new(5, 2, 1, 2);
        let t = Timestamp::from_secs(10);
        let a: IpAddr = [192, 0, 2, 1].into();
        assert!(l.allow(t, a));
        assert!(l.allow(t, a));
        assert!(!l.allow(t, a), "third reply to one source in a second");
        let others: Vec<IpAddr> = (2..40u8).map(|i| [192, 0, 2, i].into()).collect();
        let allowed = others.iter().filter(|&&ip| l.allow(t, ip)).count();
        assert_eq!(allowed, 3, "five in total");
        let later = Timestamp::from_secs(11);
        assert!(l.allow(later, a), "a new second");
    }
}
