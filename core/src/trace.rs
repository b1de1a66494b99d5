//! What the stack reports through [`tracing`](https://docs.rs/tracing),
//! with the `tracing` feature (off by default here; the adapters turn it
//! on). Without the feature every hook compiles to nothing.
//!
//! - A span `utp_conn` (target `utp::conn`, debug level) per connection,
//!   with fields `local_id` (our receive id) and `peer`: the parent of
//!   every event below (it is never entered, so the packet path costs
//!   nothing more when a subscriber wants only debug events).
//! - Debug events at target `utp::conn`: handshake complete, end of
//!   stream, close (with `reason`), retransmission timeout, fast
//!   retransmit, packet size changes (PMTU); trace events there when
//!   pacing holds a packet back.
//! - Trace events at target `utp::packet`, one per packet sent or
//!   received by a connection, with fields `t_us` (the core's timestamp),
//!   `dir` (`tx` or `rx`), `kind` (`data`, `state`, `fin`, `reset`, `syn`),
//!   `seq`, `ack`, `len` (payload bytes), `cwnd`, `in_flight` (bytes),
//!   `rtt_us` (smoothed) and `delay_us` (queuing delay estimate).
//!
//! With no subscriber interested, each call site costs one check of a
//! cached flag; nothing is formatted or allocated.

/// A debug event at target `utp::conn`, in the span of connection
/// `$conn` (given as the event's parent: the hot path never enters spans,
/// which costs even when only debug events are wanted).
#[cfg(feature = "tracing")]
macro_rules! conn_event {
    ($conn:expr, $($arg:tt)+) => {
        tracing::debug!(target: "utp::conn", parent: $crate::trace::span_id(&$conn.span), $($arg)+)
    };
}
#[cfg(not(feature = "tracing"))]
macro_rules! conn_event {
    ($conn:expr, $($arg:tt)+) => {
        ()
    };
}

/// A trace event at target `utp::conn`, in the span of connection `$conn`.
#[cfg(feature = "tracing")]
macro_rules! conn_trace {
    ($conn:expr, $($arg:tt)+) => {
        tracing::trace!(target: "utp::conn", parent: $crate::trace::span_id(&$conn.span), $($arg)+)
    };
}
#[cfg(not(feature = "tracing"))]
macro_rules! conn_trace {
    ($conn:expr, $($arg:tt)+) => {
        ()
    };
}

pub(crate) use {conn_event, conn_trace};

#[cfg(feature = "tracing")]
mod on {
    use crate::conn::Connection;
    use crate::seq::SeqNr;
    use crate::time::Timestamp;
    use crate::wire::{Packet, PacketRepr, PacketType};

    /// The span of a new connection, boxed, or none if no subscriber
    /// wants it (a connection then carries a pointer, not a span).
    pub(crate) fn conn_span(
        local_id: u16,
        peer: &dyn core::fmt::Debug,
    ) -> Option<Box<tracing::Span>> {
        let span = tracing::debug_span!(target: "utp::conn", "utp_conn", local_id, peer = ?peer);
        (!span.is_disabled()).then(|| Box::new(span))
    }

    /// The id of a connection's span, the parent of its events (`None`,
    /// as for a disabled span: no parent).
    pub(crate) fn span_id(span: &Option<Box<tracing::Span>>) -> Option<tracing::Id> {
        span.as_deref().and_then(tracing::Span::id)
    }

    fn kind(ty: PacketType) -> &'static str {
        match ty {
            PacketType::Data => "data",
            PacketType::State => "state",
            PacketType::Fin => "fin",
            PacketType::Reset => "reset",
            PacketType::Syn => "syn",
        }
    }

    /// A datagram `conn` sent.
    pub(crate) fn sent(now: Timestamp, datagram: &[u8], conn: &Connection) {
        if !tracing::enabled!(target: "utp::packet", tracing::Level::TRACE) {
            return;
        }
        if let Ok(p) = Packet::new_checked(datagram) {
            let (seq, ack) = (p.seq_nr(), p.ack_nr());
            packet(
                "tx",
                now,
                p.packet_type(),
                seq,
                ack,
                p.payload().len(),
                conn,
            );
        }
    }

    /// A packet `conn` received.
    pub(crate) fn received(now: Timestamp, p: &PacketRepr<'_>, conn: &Connection) {
        if !tracing::enabled!(target: "utp::packet", tracing::Level::TRACE) {
            return;
        }
        let (seq, ack) = (p.seq_nr, p.ack_nr);
        packet("rx", now, p.packet_type, seq, ack, p.payload.len(), conn);
    }

    fn packet(
        dir: &'static str,
        now: Timestamp,
        ty: PacketType,
        seq: SeqNr,
        ack: SeqNr,
        len: usize,
        conn: &Connection,
    ) {
        let stats = conn.stats();
        tracing::trace!(
            target: "utp::packet",
            parent: span_id(&conn.span),
            t_us = now.as_micros(),
            dir,
            kind = kind(ty),
            seq = seq.get(),
            ack = ack.get(),
            len,
            cwnd = stats.cwnd,
            in_flight = stats.in_flight,
            rtt_us = u64::try_from(stats.rtt.as_micros()).unwrap_or(u64::MAX),
            delay_us = u64::try_from(stats.queuing_delay.as_micros()).unwrap_or(u64::MAX),
        );
    }
}

#[cfg(feature = "tracing")]
pub(crate) use on::{conn_span, received, sent, span_id};
