//! The socket-wide send rate limit ([`Config::max_total_send_rate`]): a
//! token bucket every connection of the endpoint draws from for the
//! packets that carry sequence numbers (SYN, DATA, FIN, retransmissions
//! included). ACKs, keepalives, RESETs and the endpoint's own replies never
//! wait for it, so a saturated limit slows data, not the control loop.
//!
//! Before each connection's `poll_transmit` the endpoint tells it how many
//! bytes the bucket holds; the connection's pacing (`conn/pacing.rs`)
//! refuses a packet that does not fit and says so, and reports what it
//! sent. A refused connection waits in a first-in first-out list, woken
//! (made ready again) when the bucket holds the smallest packet refused:
//! [`Endpoint::poll_timeout`] includes that time. Waiters take turns in
//! the order they were refused. Nothing here allocates per packet (the
//! list keeps its capacity).

use core::time::Duration;

use super::Endpoint;
use crate::config::Config;
use crate::time::Timestamp;

/// Bursts hold this much time at the rate...
const BURST_MICROS: u128 = 2_000;
/// ...but at least this many full packets...
const MIN_BURST_PACKETS: u128 = 10;
/// ...and at most this many.
const MAX_BURST_PACKETS: u128 = 256;

/// Byte-microseconds per byte: credit is kept in bytes × 10^6 so that
/// refills at any rate are exact.
const UNIT: i128 = 1_000_000;

#[derive(Debug)]
pub(super) struct TotalRate {
    /// Bytes per second; `None`: no limit.
    rate: Option<u64>,
    /// Largest packet (the unit of the burst bounds).
    packet: usize,
    /// Credit in byte-microseconds. Negative when a packet was larger than
    /// the room it was sent in (a FIN is never held, a probe may grow):
    /// the debt is paid before the next one.
    credit: i128,
    updated: Timestamp,
    /// The smallest packet refused since the waiters were last woken.
    need: Option<usize>,
    /// Connections (slot indices) refused, in order.
    waiters: Vec<u32>,
}

impl TotalRate {
    pub(super) fn new(config: &Config) -> Self {
        let mut total = TotalRate {
            rate: None,
            packet: config.packet_size_v4.max(config.packet_size_v6),
            credit: 0,
            updated: Timestamp::ZERO,
            need: None,
            waiters: Vec::new(),
        };
        total.rate = config.max_total_send_rate.filter(|&r| r > 0);
        total.credit = total.burst();
        total
    }

    /// Whether a limit is set.
    pub(super) fn is_limited(&self) -> bool {
        self.rate.is_some()
    }

    /// The bucket's size in byte-microseconds.
    fn burst(&self) -> i128 {
        let Some(rate) = self.rate else {
            return 0;
        };
        let packet = self.packet as u128;
        let bytes = (u128::from(rate) * BURST_MICROS / 1_000_000)
            .clamp(MIN_BURST_PACKETS * packet, MAX_BURST_PACKETS * packet);
        i128::try_from(bytes)
            .unwrap_or(i128::MAX)
            .saturating_mul(UNIT)
    }

    fn refill(&mut self, now: Timestamp) {
        let elapsed = now.as_micros().saturating_sub(self.updated.as_micros());
        self.updated = self.updated.max(now);
        if let Some(rate) = self.rate {
            let add = i128::from(rate).saturating_mul(i128::from(elapsed));
            self.credit = self.credit.saturating_add(add).min(self.burst());
        }
    }

    /// Bytes that may be sent now (`None`: no limit).
    fn room(&self) -> Option<usize> {
        self.rate?;
        let bytes = self.credit.max(0) / UNIT;
        Some(usize::try_from(bytes).unwrap_or(usize::MAX))
    }

    fn spend(&mut self, bytes: usize) {
        if self.rate.is_some() && bytes > 0 {
            let cost = i128::try_from(bytes).unwrap_or(i128::MAX);
            self.credit = self.credit.saturating_sub(cost.saturating_mul(UNIT));
        }
    }

    /// Bytes a connection may send now (`None`: no limit), refilled for
    /// the time since the last call.
    pub(super) fn room_at(&mut self, now: Timestamp) -> Option<usize> {
        self.refill(now);
        self.room()
    }

    /// After connection `index` transmitted (or did not): charges the
    /// `spent` bytes, and if the bucket `refused` a packet of that size,
    /// puts the connection on the waiting list (`listed` is its slot's
    /// flag that says it is on it).
    pub(super) fn charge(
        &mut self,
        index: u32,
        listed: &mut bool,
        spent: usize,
        refused: Option<usize>,
    ) {
        self.spend(spent);
        if let Some(need) = refused {
            self.need = Some(self.need.map_or(need, |n| n.min(need)));
            if !*listed {
                *listed = true;
                self.waiters.push(index);
            }
        }
    }

    /// When the smallest refused packet fits.
    fn deadline(&self) -> Option<Timestamp> {
        let rate = self.rate?;
        let need = self.need?;
        let need = i128::try_from(need)
            .unwrap_or(i128::MAX)
            .saturating_mul(UNIT);
        let missing = need.saturating_sub(self.credit).max(0);
        let rate = i128::from(rate.max(1));
        let wait = (missing + rate - 1) / rate;
        let wait = u64::try_from(wait).unwrap_or(u64::MAX);
        Some(self.updated + Duration::from_micros(wait))
    }
}

impl<P: crate::peer::Peer> Endpoint<P> {
    /// Changes [`Config::max_total_send_rate`] from now on: the most bytes
    /// per second all connections together send (`None` or `Some(0)`: no
    /// limit). Connections waiting for the old limit are let go at once,
    /// to wait again under the new one if they must.
    pub fn set_max_total_send_rate(&mut self, rate: Option<u64>) {
        let now = self.now;
        let rate = rate.filter(|&r| r > 0);
        self.total.refill(now);
        let unlimited_before = self.total.rate.is_none();
        self.total.rate = rate;
        self.config.max_total_send_rate = rate;
        self.total.credit = if unlimited_before {
            self.total.burst()
        } else {
            self.total.credit.min(self.total.burst())
        };
        self.wake_rate_waiters();
    }

    /// When the bucket lets the first waiter go, if any waits.
    pub(super) fn rate_deadline(&self) -> Option<Timestamp> {
        if self.total.waiters.is_empty() {
            return None;
        }
        self.total.deadline()
    }

    /// At a timeout: wakes the waiters if the bucket refilled enough.
    pub(super) fn rate_on_timeout(&mut self, now: Timestamp) {
        if self.rate_deadline().is_some_and(|t| t <= now) {
            self.wake_rate_waiters();
        }
    }

    /// Makes every waiting connection ready again, in the order it was
    /// refused.
    fn wake_rate_waiters(&mut self) {
        self.total.need = None;
        let mut waiters = core::mem::take(&mut self.total.waiters);
        for index in waiters.drain(..) {
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.rate_blocked = false;
            }
            self.mark_ready(index);
        }
        // Keep the capacity: no allocation on the next refusal.
        self.total.waiters = waiters;
    }
}
