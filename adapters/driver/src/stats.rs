//! [`DriverStats`]: what the socket loop counted, and its rates over an
//! interval.

use utp_core::stats::per_second;
use utp_core::Timestamp;

/// Counters of the driver's own (beyond the endpoint's
/// [`EndpointStats`](utp_core::EndpointStats)): the socket's totals; [`since`](Self::since) gives
/// rates over an interval.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DriverStats {
    /// When the figures were taken: the time of the last
    /// [`Driver::drive`](crate::Driver::drive).
    pub at: Timestamp,
    /// UDP payload bytes received.
    pub bytes_received: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// Datagrams received from the socket.
    pub datagrams_received: u64,
    /// Datagrams sent to the socket.
    pub datagrams_sent: u64,
    /// Receive calls that returned data (fewer than datagrams when the
    /// socket coalesces).
    pub recv_calls: u64,
    /// Send calls that sent data.
    pub send_calls: u64,
    /// Sends that failed with an error other than `WouldBlock` (the
    /// datagram was dropped, as a network would).
    pub send_errors: u64,
    /// Foreign datagrams dropped because the queue was full.
    pub foreign_dropped: u64,
    /// Errors read from the socket's error queue (ICMP port unreachable,
    /// packet too big, ...; see
    /// [`DatagramSocket::try_recv_error`](crate::DatagramSocket::try_recv_error)).
    pub socket_errors: u64,
    /// Looks at the socket's receive buffer that found it a quarter full
    /// or more, turning on or prolonging the shared receive window
    /// ([`DriverConfig::share_recv_window`](crate::DriverConfig::share_recv_window)).
    pub recv_buffer_filling: u64,
}

impl DriverStats {
    /// The socket's traffic between `earlier` and these figures: datagrams
    /// and bytes each way, and their rates per second.
    pub fn since(&self, earlier: &DriverStats) -> SocketInterval {
        let elapsed = std::time::Duration::from_micros(
            self.at.as_micros().saturating_sub(earlier.at.as_micros()),
        );
        let bytes_received = self.bytes_received.saturating_sub(earlier.bytes_received);
        let bytes_sent = self.bytes_sent.saturating_sub(earlier.bytes_sent);
        let datagrams_received = self
            .datagrams_received
            .saturating_sub(earlier.datagrams_received);
        let datagrams_sent = self.datagrams_sent.saturating_sub(earlier.datagrams_sent);
        SocketInterval {
            elapsed,
            datagrams_received,
            datagrams_sent,
            bytes_received,
            bytes_sent,
            receive_rate: per_second(bytes_received, elapsed),
            send_rate: per_second(bytes_sent, elapsed),
        }
    }
}

/// A socket's traffic over an interval: [`DriverStats::since`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct SocketInterval {
    /// The interval's length.
    pub elapsed: std::time::Duration,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// UDP payload bytes received.
    pub bytes_received: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// `bytes_received` per second.
    pub receive_rate: u64,
    /// `bytes_sent` per second.
    pub send_rate: u64,
}
