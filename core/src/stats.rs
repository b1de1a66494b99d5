//! Counters, per connection and per endpoint.
//!
//! As UDT's performance monitor does, the figures come in three kinds:
//! totals since the connection began (the counters of [`ConnStats`]),
//! instantaneous values (its `rtt`, `cwnd`, `in_flight`, `pacing_rate`,
//! `queuing_delay`, ...), and interval figures with rates, from two
//! snapshots: [`ConnStats::since`].

use core::time::Duration;

use crate::time::Timestamp;

/// What one connection has done so far.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ConnStats {
    /// When the figures were taken: the endpoint's time at its last call
    /// (for [`since`](Self::since)).
    pub at: Timestamp,
    /// Payload bytes handed to `write` and sent at least once.
    pub bytes_sent: u64,
    /// Payload bytes received, each counted once (in order or held for
    /// reassembly; duplicates and data beyond the window are not counted).
    pub bytes_received: u64,
    /// Datagrams sent, of every type.
    pub packets_sent: u64,
    /// Datagrams received and accepted for this connection.
    pub packets_received: u64,
    /// DATA/FIN packets sent again.
    pub retransmits: u64,
    /// Retransmission timeouts that fired.
    pub timeouts: u64,
    /// Retransmission timeouts found spurious and undone: the ack of the
    /// oldest packet then in flight proved, by the timestamp it echoed,
    /// that the original arrived (only delayed). Timeouts in a row count
    /// once. Also in `timeouts`.
    pub spurious_timeouts: u64,
    /// Tail loss probes sent (the newest packet again, when no ack came
    /// for two round trips).
    pub tail_probes: u64,
    /// Packets received that we already had.
    pub duplicates: u64,
    /// Packets dropped as invalid for this connection (bad ack range,
    /// unexpected type, beyond the window, ...).
    pub dropped_invalid: u64,
    /// Smoothed round-trip time (zero before the first sample).
    pub rtt: Duration,
    /// Round-trip time variance.
    pub rtt_var: Duration,
    /// Smallest round-trip time seen (zero before the first sample).
    pub rtt_min: Duration,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Congestion window in bytes.
    pub cwnd: usize,
    /// The queuing delay the congestion controller measures (LEDBAT; zero
    /// for controllers that measure none).
    pub queuing_delay: Duration,
    /// Whether the controller is in slow start.
    pub slow_start: bool,
    /// Pacing rate in bytes per second (0: not paced yet, no RTT sample).
    pub pacing_rate: u64,
    /// Bytes in flight (sent, not acknowledged).
    pub in_flight: usize,
    /// The peer's last advertised window.
    pub peer_window: u32,
    /// Bytes in the send buffer (in flight or waiting).
    pub send_buffered: usize,
    /// Of those, bytes never sent yet. A write takes no more than brings
    /// this to twice the smaller of `cwnd` and `peer_window` (at least
    /// 64 KiB), within the send buffer.
    pub send_unsent: usize,
    /// Bytes in the receive buffer (readable or out of order).
    pub recv_buffered: usize,
    /// Current packet size: the largest UDP payload sent to the peer (the
    /// size path MTU discovery confirmed, or the configured one).
    pub packet_size: usize,
    /// Path MTU probes sent.
    pub mtu_probes_sent: u64,
    /// Path MTU probes lost (each retransmitted unpadded, none counted as
    /// congestion).
    pub mtu_probes_lost: u64,
}

impl ConnStats {
    /// What happened between `earlier` and these figures, with rates. A
    /// counter that went down (figures of another connection) counts zero.
    pub fn since(&self, earlier: &ConnStats) -> IntervalStats {
        let elapsed =
            Duration::from_micros(self.at.as_micros().saturating_sub(earlier.at.as_micros()));
        let bytes_sent = self.bytes_sent.saturating_sub(earlier.bytes_sent);
        let bytes_received = self.bytes_received.saturating_sub(earlier.bytes_received);
        IntervalStats {
            elapsed,
            bytes_sent,
            bytes_received,
            packets_sent: self.packets_sent.saturating_sub(earlier.packets_sent),
            packets_received: self
                .packets_received
                .saturating_sub(earlier.packets_received),
            retransmits: self.retransmits.saturating_sub(earlier.retransmits),
            timeouts: self.timeouts.saturating_sub(earlier.timeouts),
            send_rate: per_second(bytes_sent, elapsed),
            receive_rate: per_second(bytes_received, elapsed),
        }
    }
}

/// `count` over `elapsed`, per second (0 for no time).
pub fn per_second(count: u64, elapsed: Duration) -> u64 {
    let micros = elapsed.as_micros();
    if micros == 0 {
        return 0;
    }
    u64::try_from(u128::from(count) * 1_000_000 / micros).unwrap_or(u64::MAX)
}

/// The totals a connection counts (those of [`ConnStats`]); its other
/// figures are read from its state when asked, so they take no room.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct ConnCounters {
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) packets_sent: u64,
    pub(crate) packets_received: u64,
    pub(crate) retransmits: u64,
    pub(crate) timeouts: u64,
    pub(crate) spurious_timeouts: u64,
    pub(crate) tail_probes: u64,
    pub(crate) duplicates: u64,
    pub(crate) dropped_invalid: u64,
}

impl ConnCounters {
    /// The totals as [`ConnStats`], its other figures zero.
    pub(crate) fn totals(&self) -> ConnStats {
        ConnStats {
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            packets_sent: self.packets_sent,
            packets_received: self.packets_received,
            retransmits: self.retransmits,
            timeouts: self.timeouts,
            spurious_timeouts: self.spurious_timeouts,
            tail_probes: self.tail_probes,
            duplicates: self.duplicates,
            dropped_invalid: self.dropped_invalid,
            ..ConnStats::default()
        }
    }
}

/// A connection's figures over an interval: [`ConnStats::since`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct IntervalStats {
    /// The interval's length.
    pub elapsed: Duration,
    /// Payload bytes sent for the first time.
    pub bytes_sent: u64,
    /// Payload bytes received (each once).
    pub bytes_received: u64,
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Datagrams received.
    pub packets_received: u64,
    /// DATA/FIN packets sent again.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// `bytes_sent` per second.
    pub send_rate: u64,
    /// `bytes_received` per second.
    pub receive_rate: u64,
}

/// What the endpoint has done with datagrams that belong to no connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct EndpointStats {
    /// Datagrams handed back as not uTP.
    pub foreign: u64,
    /// Datagrams that looked like uTP but did not parse.
    pub malformed: u64,
    /// uTP packets for no known connection (after any RESET answer).
    pub unknown_connection: u64,
    /// RESETs sent for unknown connections.
    pub resets_sent: u64,
    /// Rendezvous contests our SYN won (we initiated; the peer's SYN was
    /// dropped).
    pub rendezvous_won: u64,
    /// Rendezvous contests the peer's SYN won (our connection became its
    /// acceptor).
    pub rendezvous_lost: u64,
    /// Connections our listener accepted from the peer of a rendezvous
    /// our SYN had won, once proven: a BEP 29 peer's (see
    /// [`Event::Duplicate`](crate::Event::Duplicate)).
    pub rendezvous_duplicates: u64,
    /// Replies to unproven addresses (RESETs, SYN answers) not sent because
    /// of [`Config::replies_per_second`](crate::Config::replies_per_second)
    /// or [`Config::replies_per_source`](crate::Config::replies_per_source).
    pub replies_suppressed: u64,
    /// SYNs refused with RESET (no listener, filter, limit or backlog).
    pub syns_refused: u64,
    /// SYNs ignored (filter, limit, backlog, or no listener with
    /// `reset_unknown` off).
    pub syns_ignored: u64,
    /// Connections accepted by the protocol.
    pub accepted: u64,
    /// Half-open connections now (SYN answered, initiator not yet heard).
    pub half_open: u64,
    /// Half-open connections that expired before the initiator was heard.
    pub half_open_expired: u64,
    /// SYNs answered with a SYN cookie.
    pub cookies_sent: u64,
    /// Connections made from a valid cookie.
    pub cookies_accepted: u64,
    /// Packets that carried a cookie that did not verify (forged, or older
    /// than two time buckets), dropped.
    pub cookies_invalid: u64,
}
