//! Congestion control behind one trait.
//!
//! A connection asks its [`Controller`] how many bytes may be in flight and
//! reports what happens to them: bytes acknowledged (with RTT and one-way
//! delay samples), losses and timeouts. The connection itself enforces the
//! rules every controller shares: a loss is reported at most once per round
//! trip (a "recovery" period), the window never drops below one packet, and
//! the peer's advertised window limits sending as well.
//!
//! Shipped controllers: [`Ledbat`], delay-based, the default (uTP's
//! "less than best effort" behaviour: it yields to other traffic), and
//! [`Reno`], loss-based (NewReno-style), for users who want TCP-like
//! competition. Choose with [`Config::congestion`](crate::Config::congestion).

mod ledbat;
mod reno;

use core::fmt;
use core::time::Duration;

use crate::time::{Timestamp, TimestampDiff};

pub use ledbat::{Ledbat, LedbatConfig, MAX_BASE_HISTORY, MAX_CURRENT_FILTER};
pub use reno::Reno;

/// What an acknowledgement told the connection.
#[derive(Clone, Copy, Debug)]
pub struct AckSample {
    /// When it arrived.
    pub now: Timestamp,
    /// Bytes (payload plus headers) newly acknowledged, cumulatively or
    /// selectively.
    pub bytes_acked: usize,
    /// Bytes in flight before this acknowledgement.
    pub in_flight: usize,
    /// A round-trip sample from a packet sent once, if the ack gave one.
    pub rtt: Option<Duration>,
    /// The connection's smoothed RTT, once it has a sample.
    pub srtt: Option<Duration>,
    /// The smallest RTT sample so far, once there is one.
    pub min_rtt: Option<Duration>,
    /// The peer's `timestamp_difference`: our one-way delay to it plus an
    /// unknown clock offset (see [`TimestampDiff`]).
    pub delay: TimestampDiff,
    /// Our own measurement of the peer's last packet: its one-way delay to
    /// us plus the opposite clock offset. Steps down in it reveal clock
    /// drift.
    pub reverse_delay: TimestampDiff,
    /// The connection's packet size (the unit windows are counted in).
    pub packet_size: usize,
    /// `true` when the application did not fill the window before this ack
    /// (a controller should not grow the window then).
    pub app_limited: bool,
}

/// A congestion controller: decides how many bytes may be in flight.
pub trait Controller: Send + fmt::Debug {
    /// Bytes that may be in flight now.
    fn window(&self) -> usize;
    /// New data was acknowledged.
    fn on_ack(&mut self, ack: &AckSample);
    /// A packet was found lost by fast retransmit (at most once per round
    /// trip).
    fn on_loss(&mut self, now: Timestamp, packet_size: usize);
    /// The retransmission timer fired.
    fn on_timeout(&mut self, now: Timestamp, packet_size: usize);
    /// The queuing delay the controller believes it causes, if it measures
    /// one (for statistics).
    fn queuing_delay(&self) -> Option<Duration> {
        None
    }
    /// Whether the window is still growing exponentially (pacing sends
    /// faster then, so the window can grow).
    fn in_slow_start(&self) -> bool {
        false
    }
}

/// Which controller new connections get.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CongestionKind {
    /// Delay-based LEDBAT (the default): see [`Ledbat`].
    Ledbat(LedbatConfig),
    /// Loss-based NewReno-style slow start and congestion avoidance: see
    /// [`Reno`].
    Reno,
}

impl Default for CongestionKind {
    fn default() -> Self {
        CongestionKind::Ledbat(LedbatConfig::default())
    }
}

impl CongestionKind {
    pub(crate) fn build(self, packet_size: usize) -> Box<dyn Controller> {
        match self {
            CongestionKind::Ledbat(config) => Box::new(Ledbat::new(config, packet_size)),
            CongestionKind::Reno => Box::new(Reno::new(packet_size)),
        }
    }
}
