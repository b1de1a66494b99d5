//! The rules of [`Config`], [`LedbatConfig`] and [`ListenConfig`]: checked
//! by `validate` (for the application, which should hear about a mistake)
//! and applied by `normalized` (for [`Endpoint::new`](crate::Endpoint::new),
//! which must run whatever it is given). Each rule is in both, next to each
//! other; the fields' documentation states them.

use core::fmt;
use core::time::Duration;

use super::{Config, ListenConfig, MAX_REORDER_WINDOW};
use crate::congestion::{CongestionKind, LedbatConfig, MAX_BASE_HISTORY, MAX_CURRENT_FILTER};
use crate::wire::HEADER_LEN;

/// Smallest valid [`Config::packet_size_v4`] and
/// [`Config::packet_size_v6`]: a header, the longest SACK we send (2 + 128
/// bytes) and 16 bytes of payload.
pub const MIN_PACKET_SIZE: usize = HEADER_LEN + 2 + 128 + 16;

/// Largest valid [`Config::packet_size_v4`] and
/// [`Config::packet_size_v6`]: the largest UDP payload over IPv4 (65,535
/// bytes less the IP and UDP headers).
pub const MAX_PACKET_SIZE: usize = 65_507;

/// Durations are taken as at most this long (136 years), so that no
/// arithmetic on them can overflow.
const DURATION_CAP: Duration = Duration::from_secs(1 << 32);

/// The smallest nonzero duration the core distinguishes.
const TICK: Duration = Duration::from_micros(1);

/// Why a configuration is invalid: the field, and the rule it breaks (see
/// the field's documentation). [`Config::validate`] returns the first one
/// found.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// `field` is zero (or `Some` of zero), which it must not be.
    Zero {
        /// The field, as `Type::field`.
        field: &'static str,
    },
    /// `field` is `value`, outside `min..=max`.
    OutOfRange {
        /// The field, as `Type::field`.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The smallest valid value.
        min: u64,
        /// The largest valid value.
        max: u64,
    },
    /// `field` is larger than `bound`, which it must not exceed.
    Exceeds {
        /// The field, as `Type::field`.
        field: &'static str,
        /// The field it must not exceed.
        bound: &'static str,
    },
    /// `field` is not shorter than `bound`, which it must be.
    NotShorter {
        /// The field, as `Type::field`.
        field: &'static str,
        /// The field it must be shorter than.
        bound: &'static str,
    },
}

impl ConfigError {
    /// The field at fault, as `Type::field` (for example
    /// `"Config::min_rto"`).
    pub fn field(&self) -> &'static str {
        match *self {
            ConfigError::Zero { field }
            | ConfigError::OutOfRange { field, .. }
            | ConfigError::Exceeds { field, .. }
            | ConfigError::NotShorter { field, .. } => field,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::Zero { field } => write!(f, "invalid {field}: must not be zero"),
            ConfigError::OutOfRange {
                field,
                value,
                min,
                max,
            } => write!(f, "invalid {field}: {value} is not within {min}..={max}"),
            ConfigError::Exceeds { field, bound } => {
                write!(f, "invalid {field}: must not exceed {bound}")
            }
            ConfigError::NotShorter { field, bound } => {
                write!(f, "invalid {field}: must be shorter than {bound}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// An invalid configuration as an I/O error: kind
/// [`InvalidInput`](std::io::ErrorKind::InvalidInput), the [`ConfigError`]
/// as its source (what the adapters return).
impl From<ConfigError> for std::io::Error {
    fn from(e: ConfigError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

fn nonzero<T: Default + PartialEq>(field: &'static str, value: T) -> Result<(), ConfigError> {
    if value == T::default() {
        return Err(ConfigError::Zero { field });
    }
    Ok(())
}

fn nonzero_some<T: Default + PartialEq>(
    field: &'static str,
    value: Option<T>,
) -> Result<(), ConfigError> {
    match value {
        Some(v) => nonzero(field, v),
        None => Ok(()),
    }
}

fn within(field: &'static str, value: usize, min: usize, max: usize) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    let wide = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    Err(ConfigError::OutOfRange {
        field,
        value: wide(value),
        min: wide(min),
        max: wide(max),
    })
}

/// A duration the core can compute with: nonzero when `nonzero`, and
/// capped.
fn duration(d: Duration, nonzero: bool) -> Duration {
    let floor = if nonzero { TICK } else { Duration::ZERO };
    d.clamp(floor, DURATION_CAP)
}

/// `Some(0)` is `None`; durations are capped.
fn optional_duration(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero()).map(|d| duration(d, true))
}

impl Config {
    /// Checks every field against the rule its documentation states;
    /// returns the first one broken. The adapters refuse an invalid
    /// configuration with [`InvalidInput`](std::io::ErrorKind::InvalidInput);
    /// [`Endpoint::new`](crate::Endpoint::new) takes each invalid value as
    /// the nearest valid one instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use utp_core::{Config, ConfigError};
    ///
    /// let mut config = Config::default();
    /// config.min_rto = Duration::from_secs(2);
    /// config.max_rto = Duration::from_secs(1);
    /// let error = config.validate().unwrap_err();
    /// assert_eq!(
    ///     error,
    ///     ConfigError::Exceeds { field: "Config::min_rto", bound: "Config::max_rto" }
    /// );
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid Config::min_rto: must not exceed Config::max_rto"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero("Config::max_connections", self.max_connections)?;
        nonzero("Config::send_buffer", self.send_buffer)?;
        nonzero("Config::recv_buffer", self.recv_buffer)?;
        within(
            "Config::packet_size_v4",
            self.packet_size_v4,
            MIN_PACKET_SIZE,
            MAX_PACKET_SIZE,
        )?;
        within(
            "Config::packet_size_v6",
            self.packet_size_v6,
            MIN_PACKET_SIZE,
            MAX_PACKET_SIZE,
        )?;
        nonzero("Config::pmtu_reprobe", self.pmtu_reprobe)?;
        nonzero("Config::pmtu_probe_attempts", self.pmtu_probe_attempts)?;
        within(
            "Config::reorder_window",
            usize::from(self.reorder_window),
            1,
            usize::from(MAX_REORDER_WINDOW),
        )?;
        nonzero("Config::connect_timeout", self.connect_timeout)?;
        nonzero("Config::rendezvous_timeout", self.rendezvous_timeout)?;
        nonzero("Config::rendezvous_interval", self.rendezvous_interval)?;
        nonzero_some("Config::rendezvous_keepalive", self.rendezvous_keepalive)?;
        nonzero("Config::syn_rto", self.syn_rto)?;
        nonzero("Config::initial_rto", self.initial_rto)?;
        nonzero("Config::min_rto", self.min_rto)?;
        if self.min_rto > self.max_rto {
            return Err(ConfigError::Exceeds {
                field: "Config::min_rto",
                bound: "Config::max_rto",
            });
        }
        nonzero_some("Config::keepalive", self.keepalive)?;
        nonzero_some("Config::idle_timeout", self.idle_timeout)?;
        if let (Some(keepalive), Some(idle)) = (self.keepalive, self.idle_timeout) {
            if keepalive >= idle {
                return Err(ConfigError::NotShorter {
                    field: "Config::keepalive",
                    bound: "Config::idle_timeout",
                });
            }
        }
        if let CongestionKind::Ledbat(ledbat) = &self.congestion {
            ledbat.validate()?;
        }
        nonzero_some("Config::max_send_rate", self.max_send_rate)?;
        nonzero_some("Config::max_total_send_rate", self.max_total_send_rate)?;
        nonzero("Config::replies_per_second", self.replies_per_second)?;
        nonzero("Config::replies_per_source", self.replies_per_source)?;
        nonzero("Config::half_open_timeout", self.half_open_timeout)?;
        nonzero("Config::max_half_open", self.max_half_open)?;
        nonzero("Config::memory_budget", self.memory_budget)?;
        Ok(())
    }

    /// The configuration with every invalid value moved to the nearest
    /// valid one (what each field's documentation says it is taken as), and
    /// durations capped. A valid configuration is returned unchanged (but
    /// for durations beyond the cap).
    pub(crate) fn normalized(mut self) -> Config {
        self.max_connections = self.max_connections.max(1);
        self.send_buffer = self.send_buffer.max(1);
        self.recv_buffer = self.recv_buffer.max(1);
        self.packet_size_v4 = self.packet_size_v4.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE);
        self.packet_size_v6 = self.packet_size_v6.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE);
        self.pmtu_reprobe = duration(self.pmtu_reprobe, true);
        self.pmtu_probe_attempts = self.pmtu_probe_attempts.max(1);
        self.reorder_window = self.reorder_window.clamp(1, MAX_REORDER_WINDOW);
        self.connect_timeout = duration(self.connect_timeout, true);
        self.rendezvous_timeout = duration(self.rendezvous_timeout, true);
        self.rendezvous_interval = duration(self.rendezvous_interval, true);
        let idle = optional_duration(self.idle_timeout);
        self.rendezvous_keepalive =
            optional_duration(self.rendezvous_keepalive).map(|k| match idle {
                Some(idle) if k >= idle => (idle / 2).max(TICK),
                _ => k,
            });
        self.syn_rto = duration(self.syn_rto, true);
        self.initial_rto = duration(self.initial_rto, true);
        self.min_rto = duration(self.min_rto, true);
        self.max_rto = duration(self.max_rto, true).max(self.min_rto);
        self.idle_timeout = optional_duration(self.idle_timeout);
        self.keepalive = optional_duration(self.keepalive).map(|k| match self.idle_timeout {
            Some(idle) if k >= idle => (idle / 2).max(TICK),
            _ => k,
        });
        self.linger = duration(self.linger, false);
        if let CongestionKind::Ledbat(ledbat) = &mut self.congestion {
            *ledbat = ledbat.normalized();
        }
        self.max_send_rate = self.max_send_rate.filter(|&r| r > 0);
        self.max_total_send_rate = self.max_total_send_rate.filter(|&r| r > 0);
        self.replies_per_second = self.replies_per_second.max(1);
        self.replies_per_source = self.replies_per_source.max(1);
        self.half_open_timeout = duration(self.half_open_timeout, true);
        self.max_half_open = self.max_half_open.max(1);
        self.memory_budget = self.memory_budget.max(1);
        self
    }
}

impl LedbatConfig {
    /// Checks every field against the rule its documentation states
    /// ([`Config::validate`] calls it for [`CongestionKind::Ledbat`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero("LedbatConfig::target", self.target)?;
        nonzero("LedbatConfig::gain", self.gain)?;
        within(
            "LedbatConfig::base_history",
            usize::from(self.base_history),
            1,
            usize::from(MAX_BASE_HISTORY),
        )?;
        within(
            "LedbatConfig::current_filter",
            usize::from(self.current_filter),
            1,
            usize::from(MAX_CURRENT_FILTER),
        )?;
        nonzero_some("LedbatConfig::slowdown_interval", self.slowdown_interval)?;
        Ok(())
    }

    /// Every invalid value moved to the nearest valid one.
    pub(crate) fn normalized(mut self) -> LedbatConfig {
        self.target = duration(self.target, true);
        self.gain = self.gain.max(1);
        self.base_history = self.base_history.clamp(1, MAX_BASE_HISTORY);
        self.current_filter = self.current_filter.clamp(1, MAX_CURRENT_FILTER);
        self.slowdown_interval = optional_duration(self.slowdown_interval);
        self
    }
}

impl<P> ListenConfig<P> {
    /// Checks the fields against their rules (the filter can be anything).
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero("ListenConfig::backlog", self.backlog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_normal() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(
            ListenConfig::<std::net::SocketAddr>::default().validate(),
            Ok(())
        );
        assert_eq!(
            format!("{:?}", Config::default().normalized()),
            format!("{:?}", Config::default())
        );
    }

    #[test]
    fn errors_name_the_field_and_the_rule() {
        let e = ConfigError::OutOfRange {
            field: "Config::packet_size_v4",
            value: 100,
            min: 166,
            max: 65_507,
        };
        assert_eq!(
            e.to_string(),
            "invalid Config::packet_size_v4: 100 is not within 166..=65507"
        );
        assert_eq!(e.field(), "Config::packet_size_v4");
        let e = ConfigError::Zero {
            field: "Config::send_buffer",
        };
        assert_eq!(
            e.to_string(),
            "invalid Config::send_buffer: must not be zero"
        );
        let io = std::io::Error::from(e);
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(io.to_string(), e.to_string());
    }
}
