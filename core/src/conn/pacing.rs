//! Pacing: packets spread at the window over the RTT (times 2 in slow start,
//! 1.25 otherwise), or at the configured rate cap, with bursts of 2 ms of
//! it (10 to 256 packets); then the endpoint's socket-wide rate
//! (`endpoint/rate.rs`), which tells the connection how many bytes it may
//! send before each `poll_transmit`.

use super::Connection;
use crate::time::Timestamp;

/// The connection's view of the endpoint's socket-wide send rate.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TotalShare {
    /// Bytes the endpoint's bucket holds now (`None`: no limit).
    room: Option<usize>,
    /// Bytes sent since the endpoint last asked.
    spent: usize,
    /// The smallest packet the bucket refused since the endpoint last
    /// asked.
    refused: Option<usize>,
}

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

    /// Whether pacing and the socket-wide rate let a packet of `wire_len`
    /// bytes go now; if not, arms the pacing timer for when it will, or
    /// tells the endpoint (which wakes the connection when its bucket
    /// holds the packet).
    pub(super) fn pace(&mut self, now: Timestamp, wire_len: usize) -> bool {
        if !self.pace_connection(now, wire_len) {
            return false;
        }
        if self.total.room.is_some_and(|room| room < wire_len) {
            self.total.refused = Some(self.total.refused.map_or(wire_len, |n| n.min(wire_len)));
            return false;
        }
        true
    }

    /// The endpoint's bucket holds `room` bytes (`None`: no limit).
    pub(crate) fn set_total_room(&mut self, room: Option<usize>) {
        self.total.room = room;
    }

    /// Bytes sent since the last call, to charge to the endpoint's bucket.
    pub(crate) fn take_total_spent(&mut self) -> usize {
        core::mem::take(&mut self.total.spent)
    }

    /// The smallest packet the endpoint's bucket refused since the last
    /// call.
    pub(crate) fn take_total_blocked(&mut self) -> Option<usize> {
        self.total.refused.take()
    }

    /// The connection's own pacing: whether a packet of `wire_len` bytes
    /// may go now; if not, arms the pacing timer for when it may.
    fn pace_connection(&mut self, now: Timestamp, wire_len: usize) -> bool {
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
        let credit = u128::from(self.pace_credit)
            .saturating_add(rate.saturating_mul(elapsed))
            .min(burst * 1_000_000);
        // At most 256 packets of at most 64 KiB, times 10^6: fits in u64.
        self.pace_credit = u64::try_from(credit).unwrap_or(u64::MAX);
        let need = wire_len as u128 * 1_000_000;
        if credit >= need {
            return true;
        }
        let wait_micros = (need - credit).div_ceil(rate.max(1));
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

    /// Spends pacing credit (and the endpoint's) for a packet sent.
    pub(super) fn charge(&mut self, wire_len: usize) {
        self.total.spent = self.total.spent.saturating_add(wire_len);
        if let Some(room) = self.total.room.as_mut() {
            *room = room.saturating_sub(wire_len);
        }
        self.pace_credit = self
            .pace_credit
            .saturating_sub((wire_len as u64).saturating_mul(1_000_000));
    }
}
