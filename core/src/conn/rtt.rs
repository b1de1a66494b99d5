//! Round-trip time estimation and the retransmission timeout (RFC 6298
//! arithmetic with a configurable floor and ceiling).

use core::time::Duration;

#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    srtt: Duration,
    rttvar: Duration,
    min: Duration,
    has_sample: bool,
    /// Timeout before backoff.
    base_rto: Duration,
    /// Doublings applied since the last new acknowledgement.
    backoff: u32,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    pub(crate) fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: Duration::ZERO,
            rttvar: Duration::ZERO,
            min: Duration::ZERO,
            has_sample: false,
            base_rto: initial_rto,
            backoff: 0,
            min_rto,
            max_rto: max_rto.max(min_rto),
        }
    }

    pub(crate) fn on_sample(&mut self, rtt: Duration) {
        if self.has_sample {
            let delta = self.srtt.abs_diff(rtt);
            self.rttvar = (self.rttvar * 3 + delta) / 4;
            self.srtt = (self.srtt * 7 + rtt) / 8;
            self.min = self.min.min(rtt);
        } else {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
            self.min = rtt;
            self.has_sample = true;
        }
        self.base_rto = (self.srtt + 4 * self.rttvar).clamp(self.min_rto, self.max_rto);
    }

    /// The current timeout, with backoff.
    pub(crate) fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        self.base_rto
            .checked_mul(factor)
            .unwrap_or(self.max_rto)
            .min(self.max_rto)
    }

    /// The current timeout before backoff.
    pub(crate) fn base_rto(&self) -> Duration {
        self.base_rto
    }

    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1).min(16);
    }

    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    pub(crate) fn has_sample(&self) -> bool {
        self.has_sample
    }

    pub(crate) fn srtt(&self) -> Duration {
        self.srtt
    }

    pub(crate) fn rttvar(&self) -> Duration {
        self.rttvar
    }

    pub(crate) fn min(&self) -> Duration {
        self.min
    }

    /// The timeout's floor (`Config::min_rto`).
    pub(crate) fn min_rto(&self) -> Duration {
        self.min_rto
    }

    /// The timeout's ceiling (`Config::max_rto`, at least the floor).
    pub(crate) fn max_rto(&self) -> Duration {
        self.max_rto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_follows_rfc6298_with_floor_and_backoff() {
        let ms = Duration::from_millis;
        let mut r = RttEstimator::new(ms(1000), ms(500), ms(60_000));
        assert_eq!(r.rto(), ms(1000));
        r.on_sample(ms(100));
        // srtt 100, rttvar 50: 100 + 200 = 300, floored at 500.
        assert_eq!(r.rto(), ms(500));
        r.on_sample(ms(900));
        // rttvar = (3*50 + 800)/4 = 237.5, srtt = (700 + 900)/8 = 200.
        assert_eq!(r.srtt(), ms(200));
        assert_eq!(r.rto(), ms(200) + Duration::from_micros(950_000));
        assert_eq!(r.min(), ms(100));
        r.back_off();
        r.back_off();
        assert_eq!(r.rto(), (ms(200) + Duration::from_micros(950_000)) * 4);
        for _ in 0..40 {
            r.back_off();
        }
        assert_eq!(r.rto(), ms(60_000));
        r.reset_backoff();
        assert_eq!(r.rto(), ms(1150));
    }
}
