//! Congestion control behind one trait.
//!
//! A connection asks its [`Controller`] how many bytes may be in flight and
//! reports what happens to them: bytes acknowledged (with RTT and one-way
//! delay samples), losses and timeouts. The connection itself enforces the
//! rules every controller shares: a loss is reported at most once per round
//! trip (a "recovery" period), the window never drops below one packet, and
//! the peer's advertised window limits sending as well.
//!
//! Shipped controllers: [`Reno`], loss-based. LEDBAT (the delay-based
//! default of uTP) arrives with its own issue.

mod reno;

use core::fmt;
use core::time::Duration;

use crate::time::{Timestamp, TimestampDiff};

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
    /// The peer's `timestamp_difference`: our one-way delay to it plus an
    /// unknown clock offset (see [`TimestampDiff`]).
    pub delay: TimestampDiff,
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
}

/// Which controller new connections get.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum CongestionKind {
    /// Loss-based NewReno-style slow start and congestion avoidance.
    #[default]
    Reno,
}

impl CongestionKind {
    pub(crate) fn build(self, packet_size: usize) -> Box<dyn Controller> {
        match self {
            CongestionKind::Reno => Box::new(Reno::new(packet_size)),
        }
    }
}
