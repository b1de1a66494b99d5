//! Congestion control behind one trait.
//!
//! A connection asks its [`Controller`] how many bytes may be in flight and
//! reports what happens to them: bytes acknowledged (with RTT and one-way
//! delay samples), losses and timeouts. The connection itself enforces the
//! rules every controller shares: a loss is reported at most once per round
//! trip (a "recovery" period), one packet may always be in flight, and
//! the peer's advertised window limits sending as well. It also tells the
//! controller when a retransmission timeout proves spurious
//! ([`Controller::on_timeout_verdict`]).
//!
//! Shipped controllers: [`Ledbat`], delay-based, the default (uTP's
//! "less than best effort" behaviour: it yields to other traffic), and
//! [`Reno`], loss-based (NewReno-style), for users who want TCP-like
//! competition. Choose with [`Config::congestion`](crate::Config::congestion).
//!
//! Or bring your own: implement [`Controller`] and give the endpoint a
//! factory for it with [`CongestionKind::custom`]:
//!
//! ```
//! use utp_core::congestion::{AckSample, CongestionKind, Controller, ControllerContext};
//! use utp_core::{Config, Timestamp};
//!
//! /// A fixed window of four packets.
//! #[derive(Debug)]
//! struct Fixed(usize);
//!
//! impl Controller for Fixed {
//!     fn window(&self) -> usize {
//!         self.0
//!     }
//!     fn on_ack(&mut self, _ack: &AckSample) {}
//!     fn on_loss(&mut self, _now: Timestamp, _packet_size: usize) {}
//!     fn on_timeout(&mut self, _now: Timestamp, _packet_size: usize) {}
//! }
//!
//! let mut config = Config::default();
//! config.congestion = CongestionKind::custom(|cx: &ControllerContext| {
//!     Box::new(Fixed(4 * cx.packet_size)) as Box<dyn Controller>
//! });
//! ```

mod ledbat;
mod reno;

use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::time::{Timestamp, TimestampDiff};

pub use ledbat::{Ledbat, LedbatConfig, MAX_BASE_HISTORY, MAX_CURRENT_FILTER, MIN_WINDOW_PACKETS};
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
    /// The connection judged the retransmission timeouts reported since
    /// the last verdict (one or more [`on_timeout`](Self::on_timeout)
    /// calls in a row, no loss between them): `spurious` when the ack of
    /// the oldest packet then in flight proves its original transmission
    /// arrived (the network only delayed it), so the window and threshold
    /// should return to their values before the first of those timeouts;
    /// otherwise the loss was real. Called once per such episode. The
    /// default does nothing: the window stays reduced, which is safe.
    fn on_timeout_verdict(&mut self, _now: Timestamp, _spurious: bool) {}
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

/// What a [`ControllerFactory`] is told about the connection it makes a
/// controller for.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ControllerContext {
    /// The peer's UDP address (`None` for a peer of another carrier, see
    /// [`Peer::socket_addr`](crate::Peer::socket_addr)).
    pub remote: Option<SocketAddr>,
    /// The configured packet size for this peer, the unit the shipped
    /// controllers count their initial window in. (The size packets really
    /// have may change with path MTU discovery:
    /// [`AckSample::packet_size`] says.)
    pub packet_size: usize,
    /// When the connection is made.
    pub now: Timestamp,
}

/// Makes a [`Controller`] for each new connection of an endpoint
/// configured with [`CongestionKind::Custom`]. Every
/// `Fn(&ControllerContext) -> Box<dyn Controller> + Send + Sync` is one.
pub trait ControllerFactory: Send + Sync {
    /// A controller for a new connection.
    fn build(&self, context: &ControllerContext) -> Box<dyn Controller>;
}

impl<F> ControllerFactory for F
where
    F: Fn(&ControllerContext) -> Box<dyn Controller> + Send + Sync,
{
    fn build(&self, context: &ControllerContext) -> Box<dyn Controller> {
        self(context)
    }
}

/// Which controller new connections get.
///
/// Two kinds are equal when they are the same shipped controller with the
/// same settings, or [`Custom`](Self::Custom) with the same factory (the
/// same `Arc`).
#[derive(Clone)]
#[non_exhaustive]
pub enum CongestionKind {
    /// Delay-based LEDBAT (the default): see [`Ledbat`].
    Ledbat(LedbatConfig),
    /// Loss-based NewReno-style slow start and congestion avoidance: see
    /// [`Reno`].
    Reno,
    /// A controller of your own: the factory makes one per connection
    /// (see [`custom`](Self::custom) and the [module docs](self)).
    Custom(Arc<dyn ControllerFactory>),
}

impl Default for CongestionKind {
    fn default() -> Self {
        CongestionKind::Ledbat(LedbatConfig::default())
    }
}

impl fmt::Debug for CongestionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CongestionKind::Ledbat(config) => f.debug_tuple("Ledbat").field(config).finish(),
            CongestionKind::Reno => f.write_str("Reno"),
            CongestionKind::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl PartialEq for CongestionKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CongestionKind::Ledbat(a), CongestionKind::Ledbat(b)) => a == b,
            (CongestionKind::Reno, CongestionKind::Reno) => true,
            (CongestionKind::Custom(a), CongestionKind::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for CongestionKind {}

impl CongestionKind {
    /// [`Custom`](Self::Custom) with `factory`, typically a closure
    /// `|cx: &ControllerContext| Box::new(Mine::new(cx)) as Box<dyn Controller>`
    /// (see the [module docs](self)).
    pub fn custom(factory: impl ControllerFactory + 'static) -> Self {
        CongestionKind::Custom(Arc::new(factory))
    }

    pub(crate) fn build(&self, context: &ControllerContext) -> Box<dyn Controller> {
        match self {
            CongestionKind::Ledbat(config) => Box::new(Ledbat::new(*config, context.packet_size)),
            CongestionKind::Reno => Box::new(Reno::new(context.packet_size)),
            CongestionKind::Custom(factory) => factory.build(context),
        }
    }
}
