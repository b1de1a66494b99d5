//! [`DriverConfig`]: the settings of a [`Driver`](crate::Driver).

use std::net::SocketAddr;

use utp_core::{Config, ConfigError, ListenConfig};

/// Largest valid [`DriverConfig::foreign_queue`].
pub const MAX_FOREIGN_QUEUE: usize = 1 << 16;

use crate::SocketOptions;

/// Settings of a [`Driver`](crate::Driver) whose peers are `P`s
/// (`SocketAddr`s over UDP, the default).
///
/// Start from `Default` (for another peer type,
/// [`DriverConfig::with_peer_type`]) and change fields (the struct is
/// `#[non_exhaustive]`, so fields can be added without breaking you):
///
/// ```
/// use std::time::Duration;
/// use utp_driver::DriverConfig;
///
/// let mut config = DriverConfig::default();
/// config.config.connect_timeout = Duration::from_secs(3);
/// config.listen = None; // refuse incoming connections
/// config.validate()?;
/// # Ok::<(), utp_core::ConfigError>(())
/// ```
#[non_exhaustive]
pub struct DriverConfig<P = SocketAddr> {
    /// The endpoint's configuration.
    pub config: Config,
    /// Accept incoming connections (`Some`, the default) or refuse them.
    pub listen: Option<ListenConfig<P>>,
    /// The endpoint's seed. `None` (the default) draws one from the
    /// operating system's random source; set it for reproducible
    /// connection ids and sequence numbers.
    pub seed: Option<u64>,
    /// Datagrams of other protocols held for
    /// [`Driver::poll_recv_foreign`](crate::Driver::poll_recv_foreign); beyond this, new ones are dropped
    /// and counted. At most [`MAX_FOREIGN_QUEUE`] (each holds up to 64 KiB,
    /// and a flood of foreign datagrams fills the queue); 0 drops them all.
    /// Default 256.
    pub foreign_queue: usize,
    /// Also keep every endpoint event for [`Driver::poll_event`](crate::Driver::poll_event), for an
    /// application that runs its own event loop rather than waiting on
    /// wakers. It must then drain them. Default `false`.
    pub keep_events: bool,
    /// Let the adapter batch: equal datagrams to one peer leave in one
    /// segmented send (GSO) and receives take coalesced batches (GRO), on
    /// Linux, through quinn-udp. On loopback this multiplies throughput
    /// (see the README). Such sockets set don't-fragment on every datagram.
    /// That is safe with path MTU discovery on
    /// ([`Config::pmtu_discovery`], the default): data packets never exceed
    /// a size a probe confirmed. With discovery off, an IPv4 path whose MTU
    /// is below the packet size plus 28 bytes (1430 by default) drops full
    /// packets; lower [`Config::packet_size_v4`] or turn batching off for
    /// such paths. Default `true`.
    pub batching: bool,
    /// How the adapters' `bind` makes the UDP socket, and what their
    /// `from_std` sets on a given one: buffer sizes, dual stack, ICMP
    /// errors. See [`SocketOptions`].
    pub socket: SocketOptions,
    /// While the socket's receive buffer is a quarter full or more (the
    /// driver looks at most once a millisecond, where the socket tells:
    /// [`DatagramSocket::recv_queue`](crate::DatagramSocket::recv_queue),
    /// Linux), share a receive window of about the payload the buffer
    /// holds among the connections receiving
    /// ([`Endpoint::set_recv_window_share`](utp_core::Endpoint::set_recv_window_share)),
    /// until a second passes without such a look; and for the first
    /// second of the socket (connections that start together would
    /// overrun the buffer in slow start before a look found it filling).
    /// Many senders then no longer overflow the buffer together (100
    /// connections over loopback lost about a tenth of their packets to it
    /// without). One connection's share is the whole buffer, more than its
    /// own window by default. Default `true`.
    pub share_recv_window: bool,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig::with_peer_type()
    }
}

impl<P> DriverConfig<P> {
    /// The default settings, for a driver whose peers are `P`s
    /// (`DriverConfig::<NodeId>::with_peer_type()`; `Default` for UDP).
    pub fn with_peer_type() -> Self {
        DriverConfig {
            config: Config::default(),
            listen: Some(ListenConfig::default()),
            seed: None,
            foreign_queue: 256,
            keep_events: false,
            batching: true,
            socket: SocketOptions::default(),
            share_recv_window: true,
        }
    }
}

impl<P> DriverConfig<P> {
    /// Checks [`config`](Self::config) ([`Config::validate`]), `listen`
    /// ([`ListenConfig::validate`]) and this struct's own fields against
    /// the rules their documentation states; returns the first one broken.
    /// Every adapter calls it when it starts and refuses an invalid
    /// configuration with [`InvalidInput`](std::io::ErrorKind::InvalidInput)
    /// (`io::Error::from(error)`, the [`ConfigError`] as its source).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()?;
        if let Some(listen) = &self.listen {
            listen.validate()?;
        }
        if self.foreign_queue > MAX_FOREIGN_QUEUE {
            return Err(ConfigError::OutOfRange {
                field: "DriverConfig::foreign_queue",
                value: u64::try_from(self.foreign_queue).unwrap_or(u64::MAX),
                min: 0,
                max: MAX_FOREIGN_QUEUE as u64,
            });
        }
        Ok(())
    }

    /// A copy for a socket that only connects out: every setting, but
    /// `listen` is `None` and `keep_events` is off (the listener's filter
    /// cannot be copied, and nobody would drain the events).
    pub fn outgoing_only(&self) -> DriverConfig<P> {
        // No `..`: a new field must be thought about here.
        DriverConfig {
            config: self.config.clone(),
            listen: None,
            seed: self.seed,
            foreign_queue: self.foreign_queue,
            keep_events: false,
            batching: self.batching,
            socket: self.socket.clone(),
            share_recv_window: self.share_recv_window,
        }
    }
}

impl<P> core::fmt::Debug for DriverConfig<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DriverConfig")
            .field("config", &self.config)
            .field("listen", &self.listen.is_some())
            .field("seed", &self.seed)
            .field("foreign_queue", &self.foreign_queue)
            .field("keep_events", &self.keep_events)
            .field("batching", &self.batching)
            .field("socket", &self.socket)
            .field("share_recv_window", &self.share_recv_window)
            .finish()
    }
}
