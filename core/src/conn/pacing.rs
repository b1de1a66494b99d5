//! Pacing: packets spread at the window over the RTT (times 2 in slow start,
//! 1.25 otherwise), or at the configured rate cap, with bursts of 2 ms of
//! it (10 to 256 packets).

use super::Connection;
use crate::time::Timestamp;

/// Pacing bursts hold this much time at the pacing rate...
const PACING_BURST_TIME_MICROS: u128 = 2_000;

/// ...but at least this many packets...
const PACING_MIN_BURST_PACKETS: u128 = 10;

/// ...and at most this many.
const PACING_MAX_BURST_PACKETS: u128 = 256;

impl Connection {
    /// The pacing rate in bytes per second: the window over the smoothed
    /// RTT (times 2 in slow start so the window can grow, 1.25 otherwise),
    /// capped by the configured maximum; `None` when nothing limits the
    /// rate (pacing off, or no RTT sample yet, and no cap).
    pub(crate) fn pacing_rate(&self) -> Option<u64> {
        let window_rate = if self.pacing && self.rtt.has_sample() {
            let srtt = self.rtt.srtt().as_micros().max(1);
            let (num, den) = if self.cc.in_slow_start() {
                (2, 1)
            } else {
                (5, 4)
            };
            let rate = (self.cc.window() as u128 * 1_000_000 * num) / (srtt * den);
            Some(u64::try_from(rate).unwrap_or(u64::MAX).max(1))
        } else {
            None
        };
        match (window_rate, self.max_send_rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sets the rate cap of this connection (`None`: no cap).
    pub(crate) fn set_max_send_rate(&mut self, rate: Option<u64>) {
        self.max_send_rate = rate.filter(|&r| r > 0);
    }

    /// Whether pacing lets a packet of `wire_len` bytes go now; if not,
    /// arms the pacing timer for when it will.
    pub(super) fn pace(&mut self, now: Timestamp, wire_len: usize) -> bool {
        let Some(rate) = self.pacing_rate() else {
            return true;
        };
        let rate = u128::from(rate);
        let packet = self.packet_size as u128;
        let burst = (rate * PACING_BURST_TIME_MICROS / 1_000_000).clamp(
            PACING_MIN_BURST_PACKETS * packet,
            PACING_MAX_BURST_PACKETS * packet,
        );
        // Credit in byte-microseconds: `rate` bytes per second add `rate`
        // per elapsed microsecond.
        let elapsed = u128::from(
            now.as_micros()
                .saturating_sub(self.pace_updated.as_micros()),
        );
        self.pace_updated = now;
        self.pace_credit = self
            .pace_credit
            .saturating_add(rate.saturating_mul(elapsed))
            .min(burst * 1_000_000);
        let need = wire_len as u128 * 1_000_000;
        if self.pace_credit >= need {
            return true;
        }
        let wait_micros = (need - self.pace_credit).div_ceil(rate.max(1));
        let wait =
            core::time::Duration::from_micros(u64::try_from(wait_micros).unwrap_or(u64::MAX));
        self.pace_deadline = Some(now + wait);
        crate::trace::conn_trace!(
            self,
            wait_us = wait.as_micros() as u64,
            "pacing holds a packet"
        );
        false
    }

    /// Spends pacing credit for a packet sent.
    pub(super) fn charge(&mut self, wire_len: usize) {
        self.pace_credit = self
            .pace_credit
            .saturating_sub(wire_len as u128 * 1_000_000);
    }
}
