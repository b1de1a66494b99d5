//! What a swarm run measured.

use std::collections::BTreeMap;
use std::time::Duration;

use utp_core::manager::ManagerStats;

/// What a run measured and the rules it checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Samples taken (one per tick).
    pub samples: u64,
    /// Samples at which the manager had `target_outbound` established
    /// outbound connections.
    pub samples_at_target: u64,
    /// Samples at which `target_outbound` connections were established
    /// *and* each of their peers was up (not stopped since it connected).
    pub samples_at_target_live: u64,
    /// Time-weighted: the share of simulated time at the target (exact,
    /// from the instants the count changed).
    pub time_at_target: Duration,
    /// Dials started in each churn period.
    pub dials_per_period: Vec<u64>,
    /// Established outbound connections that ended in each churn period.
    pub disconnects_per_period: Vec<u64>,
    /// Dials that failed in each churn period.
    pub failures_per_period: Vec<u64>,
    /// Dials that failed otherwise than by the connect timeout (refused by
    /// a peer winding down, or by the endpoint), in each churn period.
    pub fast_failures_per_period: Vec<u64>,
    /// Most dials in flight at once (counted by the host).
    pub max_dials_in_flight: usize,
    /// Most outbound connections (dialing or established) at once.
    pub max_outbound: usize,
    /// Dials of an address within `redial_interval` of its previous dial
    /// (the policy says none).
    pub redial_violations: u64,
    /// Connections established for at least two seconds whose hello did
    /// not come back whole (the transport says none).
    pub missing_echoes: u64,
    /// Hello bytes echoed back to the manager.
    pub echoed_bytes: u64,
    /// Peers stopped by churn.
    pub stops: u64,
    /// Of those, crashes.
    pub crashes: u64,
    /// Connections that ended after their peer stopped.
    pub detected: u64,
    /// Sum of the times from a peer's stop to the end of its connection.
    pub detection_total: Duration,
    /// Longest time from a peer's stop to the end of its connection.
    pub detection_max: Duration,
    /// Dial failures by reason.
    pub failure_reasons: BTreeMap<String, u64>,
    /// The manager's counters at the end.
    pub manager: ManagerStats,
    /// Simulator events processed.
    pub events: u64,
}

impl Report {
    /// Share of samples at the target.
    pub fn fraction_at_target(&self) -> f64 {
        ratio(self.samples_at_target, self.samples)
    }

    /// Share of samples at the target with every peer up.
    pub fn fraction_at_target_live(&self) -> f64 {
        ratio(self.samples_at_target_live, self.samples)
    }

    /// Mean time from a peer's stop to the end of its connection.
    pub fn detection_mean(&self) -> Duration {
        let n = u32::try_from(self.detected).unwrap_or(u32::MAX).max(1);
        self.detection_total / n
    }

    /// Most dials in one churn period.
    pub fn max_dials_per_period(&self) -> u64 {
        self.dials_per_period.iter().copied().max().unwrap_or(0)
    }

    /// Mean dials per churn period.
    pub fn mean_dials_per_period(&self) -> f64 {
        let total: u64 = self.dials_per_period.iter().sum();
        ratio(total, self.dials_per_period.len() as u64)
    }
}

#[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
