//! LEDBAT: delay-based "less than best effort" congestion control (RFC 6817
//! as deployed by libutp and libtorrent).

use core::time::Duration;

use super::{AckSample, Controller};
use crate::time::{Timestamp, TimestampDiff};

/// Packets in the initial window.
const INITIAL_WINDOW_PACKETS: usize = 4;

/// The least window, in packets, after a loss, a timeout or any amount of
/// delay: RFC 6817's `MIN_CWND` ("SHOULD be 2", section 2.4.2). One packet
/// in flight would meet a receiver that delays the ack of a lone packet.
pub const MIN_WINDOW_PACKETS: usize = 2;

/// Most minute buckets of base-delay history kept.
pub const MAX_BASE_HISTORY: u8 = 30;

/// Most samples in the current-delay filter.
pub const MAX_CURRENT_FILTER: u8 = 16;

/// Slow start ends at a queuing delay of at least this much (µs).
const SLOW_START_MIN_EXIT_MICROS: i64 = 4_000;

/// Length of one base-delay history bucket.
const BUCKET: Duration = Duration::from_secs(60);

/// A drop of the peer's base delay larger than this is taken for a real
/// path change, not for clock drift (libutp uses the same bound).
const MAX_DRIFT_STEP_MICROS: u32 = 10_000;

/// Settings of the [`Ledbat`] controller. Each field says which values are
/// valid; [`validate`](Self::validate) checks them, and the controller takes
/// an invalid value as the nearest valid one.
/// `#[non_exhaustive]`, like [`Config`](crate::Config): start from
/// `LedbatConfig::default()` and change fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub struct LedbatConfig {
    /// The queuing delay LEDBAT aims to add (RFC 6817's `TARGET`). Not
    /// zero (any delay would be too much; taken as 1 µs). Default 100 ms,
    /// as libutp and libtorrent use.
    pub target: Duration,
    /// Largest window change per round trip, in bytes, reached when the
    /// delay is at zero (growth) or at twice the target (shrinking); scaled
    /// linearly in between. Not zero (the window would never grow after
    /// slow start; taken as 1). Default 3000 (libutp's
    /// `MAX_CWND_INCREASE_BYTES_PER_RTT`).
    pub gain: u32,
    /// One-minute buckets of base-delay history (RFC 6817's
    /// `BASE_HISTORY`), 1 to [`MAX_BASE_HISTORY`] (values outside are
    /// taken as the nearest bound). The base delay is the lowest sample in
    /// them, so a base that rose (a longer route) is adopted after at most
    /// this many minutes. Default 10.
    pub base_history: u8,
    /// Samples in the current-delay filter (RFC 6817's `CURRENT_FILTER`),
    /// 1 to [`MAX_CURRENT_FILTER`] (values outside are taken as the nearest
    /// bound): the current delay is the lowest of the last this many
    /// samples, which removes jitter spikes. Default 4.
    pub current_filter: u8,
    /// Start with slow start (exponential growth until a queue builds, or
    /// a loss). Default `true`.
    pub slow_start: bool,
    /// Shrink in proportion to the window when the delay is over target
    /// (LEDBAT++'s multiplicative decrease), instead of by at most `gain`
    /// per round trip as libutp does. Flows sharing a bottleneck then
    /// converge to equal shares. Default `true`.
    pub multiplicative_decrease: bool,
    /// Every this long (counted from the end of the previous ramp-up), drop
    /// to two packets for two round trips, then slow-start back to the
    /// window held before (LEDBAT++'s periodic slowdown). The queue drains
    /// meanwhile, so every flow on the bottleneck sees the true base delay:
    /// this undoes the latecomer's advantage (a flow that started while
    /// another one's queue stood takes that queue for the base delay and
    /// would otherwise starve the first). Costs a few percent of
    /// throughput. `None` disables. Not `Some` of zero (a flow always
    /// slowed down; taken as `None`). Default 15 s.
    pub slowdown_interval: Option<Duration>,
}

impl Default for LedbatConfig {
    fn default() -> Self {
        LedbatConfig {
            target: Duration::from_millis(100),
            gain: 3000,
            base_history: 10,
            current_filter: 4,
            slow_start: true,
            multiplicative_decrease: true,
            slowdown_interval: Some(Duration::from_secs(15)),
        }
    }
}

mod delay;

use delay::{earlier, DelayFilters};

/// Delay-based congestion control (LEDBAT), counted in bytes: uTP's
/// default. It keeps the queuing delay it adds at a target and yields to
/// loss-based traffic, which fills queues.
///
/// - **Delay samples.** Every acknowledgement carries the peer's
///   `timestamp_difference`: our one-way delay to it plus an unknown clock
///   offset. The *base delay* is the lowest sample over the last
///   [`base_history`](LedbatConfig::base_history) minutes, the *current
///   delay* the lowest of the last
///   [`current_filter`](LedbatConfig::current_filter) samples; their
///   difference is the queuing delay we cause.
/// - **Clock drift.** When the peer's clock runs slower than ours, our
///   samples creep up as if a queue grew. The delays we measure in the
///   other direction then creep down by the same amount: when their base
///   falls by a small step, ours is raised by it (libutp's method).
/// - **Slow start** doubles the window every round trip until a queue
///   builds (a queuing delay of an eighth of the minimum RTT, between 4 ms
///   and half the target, as HyStart does: the link is full then), or a
///   loss.
/// - **Avoidance.** Each acknowledgement moves the window by
///   `gain × (target − queuing delay) / target × acked / window`: at most
///   [`gain`](LedbatConfig::gain) bytes of growth per round trip at zero
///   delay. Above target it shrinks, by the same rule or, with
///   [`multiplicative_decrease`](LedbatConfig::multiplicative_decrease), by
///   `window × (delay / target − 1)` per round trip (at most half).
/// - **Loss** halves the window (the connection reports at most one loss
///   per round trip); a **timeout** sets it to [`MIN_WINDOW_PACKETS`] (two)
///   and slow start resumes up to half the old window. Never below two
///   packets: RFC 6817 section 2.4.2 bounds every decrease, the loss
///   response `cwnd = min(cwnd, max(cwnd / 2, MIN_CWND × MSS))` and the
///   per-ack update alike, by `MIN_CWND × MSS` with `MIN_CWND` 2, and
///   LEDBAT has no separate timeout rule (libutp and libtorrent drop to
///   one packet on a timeout; TCP's 1-MSS loss window is RFC 5681's).
/// - **Spurious timeout**: when the connection finds a timeout spurious
///   ([`on_timeout_verdict`](Controller::on_timeout_verdict)), the window,
///   threshold, slow-start state and slowdown schedule return to what they
///   were before it.
/// - **Periodic slowdown** (LEDBAT++): every
///   [`slowdown_interval`](LedbatConfig::slowdown_interval) the window drops
///   to two packets for two round trips, then slow start returns to it. The
///   bottleneck queue drains, every flow re-learns the true base delay, and
///   a flow that started on top of another's queue loses its advantage.
/// - No growth while the application leaves the window unfilled.
/// - Without delay samples (a peer that sends none) it grows as in
///   avoidance at zero delay and relies on losses.
#[derive(Clone, Debug)]
pub struct Ledbat {
    config: LedbatConfig,
    cwnd: usize,
    ssthresh: usize,
    slow_start: bool,
    /// The base-delay history, the current filter, and the minute minima
    /// of the delays the peer's packets take to us.
    delays: DelayFilters,
    /// The reverse base delay last seen, to detect its steps down.
    last_reverse_base: Option<u32>,
    /// Fractional bytes of window change carried between acks.
    carry: i64,
    /// The last queuing delay computed (for statistics).
    queuing_delay: Duration,
    /// The connection's smoothed RTT at the last ack (sizes the slowdown,
    /// which may start from `on_loss`, without an ack).
    srtt: Option<Duration>,
    /// When the next periodic slowdown starts (set when a ramp ends).
    next_slowdown: Option<Timestamp>,
    /// During a slowdown: when it ends, and the window to return to.
    slowdown: Option<(Timestamp, usize)>,
    /// Slow start is the ramp back after a slowdown: it ends at the old
    /// window or at the target delay (not at half of it).
    ramping: bool,
    /// A slowdown happened already (the initial one is done).
    had_slowdown: bool,
    /// What the first timeout of the current episode changed, until the
    /// connection's verdict on it.
    /// (Boxed: kept only between a timeout and its verdict.)
    before_timeout: Option<Box<BeforeTimeout>>,
}

/// The state a timeout resets, kept to undo a spurious one.
#[derive(Clone, Copy, Debug)]
struct BeforeTimeout {
    cwnd: usize,
    ssthresh: usize,
    slow_start: bool,
    ramping: bool,
    slowdown: Option<(Timestamp, usize)>,
}

impl Ledbat {
    /// A controller for connections sending `packet_size`-byte packets.
    pub fn new(config: LedbatConfig, packet_size: usize) -> Self {
        let config = config.normalized();
        Ledbat {
            config,
            cwnd: INITIAL_WINDOW_PACKETS * packet_size.max(1),
            ssthresh: usize::MAX,
            slow_start: config.slow_start,
            delays: DelayFilters::new(config.base_history, config.current_filter),
            last_reverse_base: None,
            carry: 0,
            queuing_delay: Duration::ZERO,
            srtt: None,
            next_slowdown: None,
            slowdown: None,
            ramping: false,
            had_slowdown: false,
            before_timeout: None,
        }
    }

    /// Slow start ended (by delay, by reaching the threshold or by a loss):
    /// schedule the next slowdown. The first one comes two round trips
    /// after the first slow start (LEDBAT++'s initial slowdown: a flow that
    /// started on top of another's queue corrects its base delay at once),
    /// later ones every `slowdown_interval`.
    fn end_slow_start(&mut self, now: Timestamp) {
        let first = !self.ramping && !self.had_slowdown;
        self.slow_start = false;
        self.ramping = false;
        self.next_slowdown = self.config.slowdown_interval.map(|i| {
            if first {
                now + 2 * self.srtt.unwrap_or(Duration::from_millis(100))
            } else {
                now + i
            }
        });
    }

    /// Starts, ends or keeps up a periodic slowdown; returns `true` while
    /// one holds the window.
    fn run_slowdown(&mut self, now: Timestamp, packet: usize) -> bool {
        if let Some((until, saved)) = self.slowdown {
            if now < until {
                return true;
            }
            // Over: slow-start back to where we were.
            self.slowdown = None;
            self.ssthresh = saved.max(MIN_WINDOW_PACKETS * packet);
            self.slow_start = true;
            self.ramping = true;
            return false;
        }
        if !self.slow_start && self.next_slowdown.is_some_and(|t| now >= t) {
            let rtt = self.srtt.unwrap_or(Duration::from_millis(100));
            self.next_slowdown = None;
            self.had_slowdown = true;
            self.slowdown = Some((now + 2 * rtt, self.cwnd));
            self.cwnd = MIN_WINDOW_PACKETS * packet;
            self.carry = 0;
            return true;
        }
        false
    }

    fn record_delays(&mut self, ack: &AckSample) -> Option<Duration> {
        if ack.reverse_delay.is_sample() {
            self.delays.add_reverse(ack.now, ack.reverse_delay.0);
            if let Some(base) = self.delays.reverse_min() {
                if let Some(last) = self.last_reverse_base {
                    let step = last.wrapping_sub(base);
                    if earlier(base, last) && step <= MAX_DRIFT_STEP_MICROS {
                        self.delays.shift_base(step);
                    }
                }
                self.last_reverse_base = Some(base);
            }
        }
        if !ack.delay.is_sample() {
            return None;
        }
        self.delays.add_delay(ack.now, ack.delay.0);
        let base = TimestampDiff(self.delays.base_min()?);
        let current = TimestampDiff(self.delays.current_min()?);
        let queuing = current.wrapping_offset_from(base).max(0);
        Some(Duration::from_micros(queuing.unsigned_abs().into()))
    }
}

impl Controller for Ledbat {
    fn window(&self) -> usize {
        self.cwnd
    }

    fn on_ack(&mut self, ack: &AckSample) {
        let packet = ack.packet_size.max(1);
        let queuing = self.record_delays(ack);
        if let Some(q) = queuing {
            self.queuing_delay = q;
        }
        if ack.srtt.is_some() {
            self.srtt = ack.srtt;
        }
        if self.run_slowdown(ack.now, packet) {
            return;
        }
        let queuing = queuing.unwrap_or(Duration::ZERO);
        let target = self.config.target.as_micros().clamp(1, i64::MAX as u128) as i64;
        let delay = queuing.as_micros().min(i64::MAX as u128) as i64;

        if self.slow_start {
            // The first slow start stops once a queue builds: at an eighth
            // of the minimum RTT (between 4 ms and half the target), as
            // HyStart does. The link is full by then, and the window still
            // grows for a round trip before the delay shows: exiting later
            // overflows small queues. The ramp after a slowdown returns to
            // a window known to be right, up to the target.
            let exit_delay = if self.ramping {
                target
            } else {
                let eighth = ack
                    .min_rtt
                    .map_or(0, |r| (r.as_micros() / 8).min(i64::MAX as u128) as i64);
                eighth.max(SLOW_START_MIN_EXIT_MICROS).min(target / 2)
            };
            if delay >= exit_delay {
                // The queue is building: from here on, avoidance.
                self.ssthresh = self.cwnd;
                self.end_slow_start(ack.now);
            } else {
                if !ack.app_limited {
                    self.cwnd = self.cwnd.saturating_add(ack.bytes_acked);
                    if self.cwnd >= self.ssthresh {
                        self.cwnd = self.ssthresh.max(MIN_WINDOW_PACKETS * packet);
                        self.end_slow_start(ack.now);
                    }
                }
                return;
            }
        }

        let floor = MIN_WINDOW_PACKETS * packet;
        let cwnd = self.cwnd.max(floor) as i64;
        let gain = i64::from(self.config.gain);
        // Window change over one round trip.
        let per_rtt: i64 = if delay <= target {
            gain.saturating_mul(target - delay) / target
        } else {
            let over = delay - target;
            if self.config.multiplicative_decrease {
                // LEDBAT++: gain − window × (delay / target − 1). Flows
                // seeing the same delay settle where window × excess equals
                // the gain: at equal windows.
                gain.saturating_sub(cwnd.saturating_mul(over) / target)
                    .max(-(cwnd / 2))
            } else {
                -(gain.saturating_mul(over.min(target)) / target)
            }
        };
        if per_rtt > 0 && ack.app_limited {
            return;
        }
        // Spread over the round trip: each acknowledged byte moves the
        // window by per_rtt / cwnd; the remainder carries to the next ack.
        let acked = i64::try_from(ack.bytes_acked).unwrap_or(i64::MAX);
        let scaled = per_rtt.saturating_mul(acked).saturating_add(self.carry);
        let change = scaled / cwnd;
        self.carry = scaled % cwnd;
        let new = i64::try_from(self.cwnd)
            .unwrap_or(i64::MAX)
            .saturating_add(change)
            .max(floor as i64);
        self.cwnd = usize::try_from(new).unwrap_or(floor);
    }

    fn on_loss(&mut self, now: Timestamp, packet_size: usize) {
        let window = match self.slowdown.take() {
            Some((_, saved)) => saved,
            None => self.cwnd,
        };
        self.cwnd = (window / 2).max(MIN_WINDOW_PACKETS * packet_size.max(1));
        self.ssthresh = self.cwnd;
        self.carry = 0;
        if self.slow_start || self.next_slowdown.is_none() {
            self.end_slow_start(now);
        }
    }

    fn on_timeout(&mut self, _now: Timestamp, packet_size: usize) {
        let packet = packet_size.max(1);
        if self.before_timeout.is_none() {
            self.before_timeout = Some(Box::new(BeforeTimeout {
                cwnd: self.cwnd,
                ssthresh: self.ssthresh,
                slow_start: self.slow_start,
                ramping: self.ramping,
                slowdown: self.slowdown,
            }));
        }
        self.ssthresh = (self.cwnd / 2).max(MIN_WINDOW_PACKETS * packet);
        self.cwnd = MIN_WINDOW_PACKETS * packet;
        self.slow_start = true;
        self.ramping = false;
        self.slowdown = None;
        self.carry = 0;
    }

    fn on_timeout_verdict(&mut self, _now: Timestamp, spurious: bool) {
        let Some(before) = self.before_timeout.take() else {
            return;
        };
        if spurious {
            self.cwnd = before.cwnd;
            self.ssthresh = before.ssthresh;
            self.slow_start = before.slow_start;
            self.ramping = before.ramping;
            self.slowdown = before.slowdown;
            self.carry = 0;
        }
    }

    fn queuing_delay(&self) -> Option<Duration> {
        Some(self.queuing_delay)
    }

    fn in_slow_start(&self) -> bool {
        self.slow_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: usize = 1000;

    fn ack(now_ms: u64, bytes: usize, delay_us: u32) -> AckSample {
        AckSample {
            now: Timestamp::from_millis(now_ms),
            bytes_acked: bytes,
            in_flight: 0,
            rtt: Some(Duration::from_millis(50)),
            srtt: Some(Duration::from_millis(50)),
            min_rtt: Some(Duration::from_millis(50)),
            delay: TimestampDiff(delay_us),
            reverse_delay: TimestampDiff::NONE,
            packet_size: P,
            app_limited: false,
        }
    }

    fn no_slowdown() -> LedbatConfig {
        LedbatConfig {
            slowdown_interval: None,
            ..LedbatConfig::default()
        }
    }

    #[test]
    fn slow_start_doubles_until_a_queue_builds() {
        let mut l = Ledbat::new(no_slowdown(), P);
        assert_eq!(l.window(), 4 * P);
        // Base 1 s (an arbitrary clock offset), no queue: exponential.
        l.on_ack(&ack(0, 4 * P, 1_000_000));
        assert_eq!(l.window(), 8 * P);
        assert!(l.in_slow_start());
        // No growth when the application did not fill the window.
        let mut idle = ack(10, 8 * P, 1_000_000);
        idle.app_limited = true;
        l.on_ack(&idle);
        assert_eq!(l.window(), 8 * P);
        // 6.25 ms of queue (an eighth of the 50 ms RTT): slow start ends,
        // the window stays.
        for t in 0..4 {
            l.on_ack(&ack(20 + t, 0, 1_006_250));
        }
        assert!(!l.in_slow_start());
        assert_eq!(l.queuing_delay(), Some(Duration::from_micros(6_250)));
    }

    #[test]
    fn avoidance_moves_the_window_by_gain_times_off_target() {
        let config = LedbatConfig {
            slow_start: false,
            ..no_slowdown()
        };
        let mut l = Ledbat::new(config, P);
        let w = l.window();
        // Zero queuing delay: a whole window acked grows it by the gain.
        l.on_ack(&ack(0, w, 500));
        assert_eq!(l.window(), w + 3000);
        // Half the target: half the gain per window.
        let mut l = Ledbat::new(config, P);
        l.on_ack(&ack(0, 0, 500));
        for t in 1..5 {
            l.on_ack(&ack(t, 0, 50_500));
        }
        l.on_ack(&ack(5, w, 50_500));
        assert_eq!(l.window(), w + 1500);
        // 150 ms: gain − window × 0.5 per window acked (LEDBAT++).
        let mut l = Ledbat::new(config, 10 * P);
        l.on_ack(&ack(0, 0, 500));
        let w = l.window(); // 40_000
        for t in 1..5 {
            l.on_ack(&ack(t, 0, 150_500));
        }
        l.on_ack(&ack(5, w, 150_500));
        assert_eq!(l.window(), w + 3000 - w / 2);
    }

    #[test]
    fn additive_decrease_when_configured() {
        let config = LedbatConfig {
            slow_start: false,
            multiplicative_decrease: false,
            ..no_slowdown()
        };
        let mut l = Ledbat::new(config, 10 * P);
        l.on_ack(&ack(0, 0, 500));
        let w = l.window();
        for t in 1..5 {
            l.on_ack(&ack(t, 0, 300_500));
        }
        // Capped at one gain per window of acks at twice the target.
        l.on_ack(&ack(5, w, 300_500));
        assert_eq!(l.window(), w - 3000);
    }

    #[test]
    fn base_delay_is_the_minimum_over_minute_buckets() {
        let config = LedbatConfig {
            slow_start: false,
            base_history: 2,
            current_filter: 1,
            ..no_slowdown()
        };
        let mut l = Ledbat::new(config, P);
        l.on_ack(&ack(0, 0, 10_000));
        l.on_ack(&ack(1_000, 0, 40_000));
        assert_eq!(l.queuing_delay(), Some(Duration::from_millis(30)));
        // Minute two: the first bucket's 10 ms still counts.
        l.on_ack(&ack(61_000, 0, 40_000));
        assert_eq!(l.queuing_delay(), Some(Duration::from_millis(30)));
        // Minute three: with two buckets, the 10 ms sample is forgotten
        // and the base rises to 40 ms.
        l.on_ack(&ack(122_000, 0, 40_000));
        assert_eq!(l.queuing_delay(), Some(Duration::ZERO));
    }

    #[test]
    fn samples_compare_across_the_32_bit_wrap() {
        let config = LedbatConfig {
            slow_start: false,
            current_filter: 1,
            ..no_slowdown()
        };
        let mut l = Ledbat::new(config, P);
        l.on_ack(&ack(0, 0, u32::MAX - 4_999));
        l.on_ack(&ack(1, 0, 20_000));
        assert_eq!(l.queuing_delay(), Some(Duration::from_millis(25)));
    }

    #[test]
    fn clock_drift_raises_the_base() {
        let config = LedbatConfig {
            slow_start: false,
            current_filter: 1,
            ..no_slowdown()
        };
        let mut l = Ledbat::new(config, P);
        let mut a = ack(0, 0, 100_000);
        a.reverse_delay = TimestampDiff(500_000);
        l.on_ack(&a);
        // The peer's clock slips 2 ms against ours: our samples rise by 2 ms,
        // theirs fall by 2 ms. That is drift, not queuing.
        let mut a = ack(10, 0, 102_000);
        a.reverse_delay = TimestampDiff(498_000);
        l.on_ack(&a);
        assert_eq!(l.queuing_delay(), Some(Duration::ZERO));
        // A real queue still shows.
        let mut a = ack(20, 0, 132_000);
        a.reverse_delay = TimestampDiff(498_000);
        l.on_ack(&a);
        assert_eq!(l.queuing_delay(), Some(Duration::from_millis(30)));
    }

    #[test]
    fn loss_halves_timeout_resets_to_two_packets_never_below() {
        let mut l = Ledbat::new(no_slowdown(), P);
        l.on_ack(&ack(0, 12 * P, 1_000));
        assert_eq!(l.window(), 16 * P);
        l.on_loss(Timestamp::from_millis(1), P);
        assert_eq!(l.window(), 8 * P);
        assert!(!l.in_slow_start());
        l.on_timeout(Timestamp::from_millis(2), P);
        assert_eq!(l.window(), 2 * P, "RFC 6817's MIN_CWND of 2 packets");
        assert!(l.in_slow_start(), "slow start back to half the old window");
        l.on_loss(Timestamp::from_millis(3), P);
        l.on_loss(Timestamp::from_millis(4), P);
        assert_eq!(l.window(), 2 * P, "never below two packets");
        // Far over target for a long time: still two packets.
        for t in 0..100 {
            l.on_ack(&ack(10 + t, P, 900_000));
        }
        assert_eq!(l.window(), 2 * P);
        // Slow start back to half the window before the timeout (4
        // packets): 2 + 2 = 4, and avoidance from there.
        let mut l = Ledbat::new(no_slowdown(), P);
        l.on_ack(&ack(0, 4 * P, 1_000));
        assert_eq!(l.window(), 8 * P);
        l.on_timeout(Timestamp::from_millis(1), P);
        l.on_ack(&ack(2, 3 * P, 1_000));
        assert_eq!(l.window(), 4 * P);
        assert!(!l.in_slow_start());
    }

    #[test]
    fn a_spurious_timeout_is_undone_a_real_one_is_not() {
        let mut l = Ledbat::new(no_slowdown(), P);
        l.on_ack(&ack(0, 12 * P, 1_000));
        l.on_loss(Timestamp::from_millis(1), P);
        assert_eq!(l.window(), 8 * P);
        // Two timeouts in a row, then the verdict: spurious. Everything
        // returns to before the first.
        l.on_timeout(Timestamp::from_millis(2), P);
        l.on_timeout(Timestamp::from_millis(3), P);
        assert_eq!(l.window(), 2 * P);
        l.on_ack(&ack(4, P, 1_000));
        assert_eq!(
            l.window(),
            2 * P,
            "the second timeout took the threshold to two packets"
        );
        assert!(!l.in_slow_start());
        l.on_timeout_verdict(Timestamp::from_millis(5), true);
        assert_eq!(l.window(), 8 * P);
        assert!(!l.in_slow_start());
        // A verdict without a timeout before it changes nothing.
        l.on_timeout_verdict(Timestamp::from_millis(6), true);
        assert_eq!(l.window(), 8 * P);
        // A real timeout keeps its reduction, and its slow start.
        l.on_timeout(Timestamp::from_millis(7), P);
        l.on_timeout_verdict(Timestamp::from_millis(8), false);
        assert_eq!(l.window(), 2 * P);
        assert!(l.in_slow_start());
        // The saved state went with the verdict: a later spurious verdict
        // restores nothing older.
        l.on_timeout_verdict(Timestamp::from_millis(9), true);
        assert_eq!(l.window(), 2 * P);
    }

    #[test]
    fn periodic_slowdown_drops_to_two_packets_then_ramps_back() {
        let config = LedbatConfig {
            slowdown_interval: Some(Duration::from_secs(15)),
            ..LedbatConfig::default()
        };
        let mut l = Ledbat::new(config, P);
        // Slow start to 64 packets, then a queue: slow start ends at 0.1 s.
        let mut t = 0;
        while l.window() < 64 * P {
            l.on_ack(&ack(t, l.window(), 1_000));
            t += 50;
        }
        for _ in 0..4 {
            l.on_ack(&ack(t, 0, 11_000));
        }
        assert!(!l.in_slow_start());
        let before = l.window();
        // The initial slowdown comes two RTTs (100 ms) later.
        l.on_ack(&ack(t + 150, 0, 11_000));
        assert_eq!(l.window(), 2 * P);
        // It lasts two RTTs, then slow start returns to the old window.
        l.on_ack(&ack(t + 200, 0, 1_000));
        assert_eq!(l.window(), 2 * P);
        l.on_ack(&ack(t + 300, 2 * P, 1_000));
        assert!(l.in_slow_start());
        let mut now = t + 300;
        while l.in_slow_start() {
            now += 50;
            l.on_ack(&ack(now, l.window(), 1_000));
        }
        assert_eq!(l.window(), before);
        // The next one comes 15 s after the ramp ended.
        l.on_ack(&ack(now + 14_900, 0, 1_000));
        assert!(l.window() > 2 * P);
        l.on_ack(&ack(now + 15_001, 0, 1_000));
        assert_eq!(l.window(), 2 * P);
    }
}
