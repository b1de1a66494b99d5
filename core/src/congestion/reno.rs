use super::{AckSample, Controller};
use crate::time::Timestamp;

/// Packets in the initial window.
const INITIAL_WINDOW_PACKETS: usize = 4;

/// Loss-based congestion control (slow start, additive increase,
/// multiplicative decrease), counted in bytes.
///
/// - Slow start: the window grows by the bytes acknowledged until it
///   reaches the slow-start threshold.
/// - Congestion avoidance: one packet per window's worth of acknowledged
///   bytes.
/// - Loss: threshold and window to half the window (at least two packets).
/// - Timeout: threshold to half, window to one packet (RFC 5681's loss
///   window); both return to their values before it when the connection
///   finds the timeout spurious.
/// - No growth while the application leaves the window unfilled.
#[derive(Clone, Debug)]
pub struct Reno {
    cwnd: usize,
    ssthresh: usize,
    /// Acknowledged bytes not yet turned into window growth in avoidance.
    avoidance_credit: usize,
    /// Window and threshold before the first timeout of the current
    /// episode, until the connection's verdict on it.
    before_timeout: Option<(usize, usize)>,
}

impl Reno {
    /// A controller for connections sending `packet_size`-byte packets.
    pub fn new(packet_size: usize) -> Self {
        Reno {
            cwnd: INITIAL_WINDOW_PACKETS * packet_size.max(1),
            ssthresh: usize::MAX,
            avoidance_credit: 0,
            before_timeout: None,
        }
    }
}

impl Controller for Reno {
    fn window(&self) -> usize {
        self.cwnd
    }

    fn on_ack(&mut self, ack: &AckSample) {
        if ack.app_limited {
            return;
        }
        let packet = ack.packet_size.max(1);
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(ack.bytes_acked.min(2 * packet));
        } else {
            self.avoidance_credit = self.avoidance_credit.saturating_add(ack.bytes_acked);
            if self.avoidance_credit >= self.cwnd {
                self.avoidance_credit -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(packet);
            }
        }
    }

    fn on_loss(&mut self, _now: Timestamp, packet_size: usize) {
        self.ssthresh = (self.cwnd / 2).max(2 * packet_size.max(1));
        self.cwnd = self.ssthresh;
        self.avoidance_credit = 0;
    }

    fn on_timeout(&mut self, _now: Timestamp, packet_size: usize) {
        if self.before_timeout.is_none() {
            self.before_timeout = Some((self.cwnd, self.ssthresh));
        }
        self.ssthresh = (self.cwnd / 2).max(2 * packet_size.max(1));
        self.cwnd = packet_size.max(1);
        self.avoidance_credit = 0;
    }

    fn on_timeout_verdict(&mut self, _now: Timestamp, spurious: bool) {
        if let Some((cwnd, ssthresh)) = self.before_timeout.take() {
            if spurious {
                self.cwnd = cwnd;
                self.ssthresh = ssthresh;
                self.avoidance_credit = 0;
            }
        }
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TimestampDiff;

    fn ack(bytes: usize, app_limited: bool) -> AckSample {
        AckSample {
            now: Timestamp::ZERO,
            bytes_acked: bytes,
            in_flight: 0,
            rtt: None,
            srtt: None,
            min_rtt: None,
            delay: TimestampDiff::NONE,
            reverse_delay: TimestampDiff::NONE,
            packet_size: 1000,
            app_limited,
        }
    }

    #[test]
    fn slow_start_then_halving_then_avoidance() {
        let mut r = Reno::new(1000);
        assert_eq!(r.window(), 4000);
        r.on_ack(&ack(1000, false));
        assert_eq!(r.window(), 5000);
        r.on_ack(&ack(1000, true));
        assert_eq!(r.window(), 5000, "no growth when app-limited");
        r.on_loss(Timestamp::ZERO, 1000);
        assert_eq!(r.window(), 2500);
        // Avoidance: +1 packet per window of acked bytes.
        r.on_ack(&ack(2000, false));
        assert_eq!(r.window(), 2500);
        r.on_ack(&ack(500, false));
        assert_eq!(r.window(), 3500);
        r.on_timeout(Timestamp::ZERO, 1000);
        assert_eq!(r.window(), 1000);
        r.on_timeout_verdict(Timestamp::ZERO, true);
        assert_eq!(r.window(), 3500, "a spurious timeout is undone");
        r.on_timeout(Timestamp::ZERO, 1000);
        r.on_timeout_verdict(Timestamp::ZERO, false);
        assert_eq!(r.window(), 1000, "a real one is not");
        r.on_loss(Timestamp::ZERO, 1000);
        assert_eq!(r.window(), 2000, "never below two packets after a loss");
    }
}
