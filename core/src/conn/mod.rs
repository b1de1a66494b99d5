//! One connection's state machine.
//!
//! A [`Connection`] owns its send buffer and packets in flight
//! ([`send`]), its receive reassembly ([`recv`]), its RTT estimate
//! ([`rtt`]) and its congestion controller. It is driven by the endpoint:
//! `on_packet` for each validated packet routed to it, `on_timeout` when its
//! deadline passes, `poll_transmit` to produce datagrams, and the
//! application calls (`write`, `read`, `shutdown`, `close`, `abort`).
//! Every event it produces goes into the endpoint's queue through an
//! [`EventSink`].
//!
//! This file holds the state and the constructors; the rest is split by
//! concern: `calls.rs` (the application's calls, and how a connection
//! ends), `input.rs` (packets in: acks, loss, data),
//! `handshake.rs` (the handshake and RESET rules), `timers.rs`,
//! `output.rs` (what goes out next and how it is built), `pacing.rs`,
//! `memory.rs` (the memory budget and idle buffers), [`pmtu`] (path MTU
//! discovery).

mod calls;
mod handshake;
mod input;
mod memory;
mod output;
mod pacing;
mod pmtu;
mod recv;
mod rendezvous;
mod rtt;
mod send;
mod send_buffer;
mod timers;
mod tlp;
mod undo;

use core::time::Duration;
use std::collections::VecDeque;
use std::net::IpAddr;

use crate::config::Config;
use crate::congestion::{Controller, ControllerContext};
use crate::event::{CloseReason, Event};
use crate::handle::ConnHandle;
use crate::peer::{Peer, PeerInfo};
use crate::seq::SeqNr;
use crate::stats::{ConnCounters, ConnStats};
use crate::time::{Timestamp, TimestampDiff};
use crate::wire::{PacketRepr, HEADER_LEN};

use pmtu::Pmtu;
pub(crate) use pmtu::{ip_udp_overhead, PathMemory};
use recv::RecvBuffer;
use rtt::RttEstimator;
use send::{InFlight, Sent, SentKind};
use send_buffer::SendBuffer;

/// Longest SACK we send: covers the largest reorder window.
const SACK_BUF: usize = 128;

/// Acks remembered while waiting for the caller to drain `poll_transmit`
/// (one per [`ACK_EVERY`] full packets received).
const ACK_SNAPSHOTS: usize = 8;

/// Full packets received in order within one batch that leave an ack of
/// their own (TCP's ack every second segment), so that the sender's
/// window advances with them.
const ACK_EVERY: u32 = 2;

/// [`ACK_EVERY`] while the receive window is shared (`endpoint/share.rs`):
/// many connections receive, their packets arrive in runs (a sender's
/// turn, `endpoint/output.rs`) and each ack costs both ends a datagram.
/// Over loopback, 100 connections sent an ack for every second packet
/// with 2, one for every 6.7 with 8, one for every 12 with 16 (a turn's
/// run: one ack per run), and moved about 10% more with 5% less receive
/// CPU per GiB than with 8.
const ACK_EVERY_SHARED: u32 = 16;

/// How long a lone packet's ack may wait for a second packet while the
/// receive window is shared (`input.rs`): well under the sender's
/// shortest tail-loss probe (10 ms, `tlp.rs`).
const ACK_DELAY: Duration = Duration::from_millis(1);

/// Shortest time a closed connection that received a FIN stays to
/// acknowledge that FIN again if the peer retransmits it.
const DRAIN_MIN: Duration = Duration::from_secs(3);

/// Longest such stay (Linux's TCP TIME_WAIT): a drain never outlives this,
/// however long the path's timeout.
const DRAIN_MAX: Duration = Duration::from_secs(60);

/// Where connection events go: the endpoint's queue, tagged with the
/// connection's handle.
pub(crate) struct EventSink<'a> {
    pub(crate) queue: &'a mut VecDeque<Event>,
    pub(crate) handle: ConnHandle,
}

impl EventSink<'_> {
    fn push(&mut self, event: Event) {
        self.queue.push_back(event);
    }
}

/// The connection's phase. Half-closes are flags on `Established`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// We wait for a SYN with a connection id agreed out of band
    /// (`Endpoint::accept_with_id`); nothing is sent.
    Expecting,
    /// We sent a SYN and wait for the acceptor's STATE.
    SynSent,
    /// We answered a SYN and wait for a packet from the initiator that
    /// proves it received our STATE (see `handshake.rs`).
    HalfOpen,
    /// The handshake is done.
    Established,
    /// Over; the reason was reported.
    Closed(CloseReason),
}

/// The public view of a connection's phase.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ConnState {
    /// Handshake in progress.
    Connecting,
    /// Open; `write_closed` after `shutdown()`/`close()`, `read_closed`
    /// after the peer's FIN arrived in full.
    Established {
        /// Our FIN is queued or sent.
        write_closed: bool,
        /// The peer's FIN and everything before it arrived.
        read_closed: bool,
    },
    /// Over.
    Closed(CloseReason),
}

#[derive(Clone, Copy, Debug)]
struct AckSnapshot {
    ack_nr: SeqNr,
}

#[derive(Debug)]
pub(crate) struct Connection {
    /// What the stack needs of the peer (the endpoint keeps who it is).
    peer: PeerInfo,
    recv_id: u16,
    send_id: u16,
    phase: Phase,
    /// Our SYN's sequence number (initiator only).
    syn_seq: Option<SeqNr>,
    /// The peer's SYN sequence number (acceptor), to recognise a
    /// retransmitted SYN.
    initial_peer_seq: SeqNr,
    /// Handshake state: the acceptor's first sequence number, the held
    /// early packet, the RESET challenge (see `handshake.rs`).
    hs: handshake::Handshake,
    /// Bytes the endpoint's memory budget still allows all connections to
    /// buffer, set by the endpoint before each call (`memory.rs`).
    budget_room: usize,
    /// The most it may advertise: its share of the socket's receive
    /// window (`endpoint/share.rs`; `usize::MAX` without a share).
    window_cap: usize,
    /// Next sequence number for a DATA or FIN.
    seq_nr: SeqNr,
    send: SendBuffer,
    in_flight: InFlight,
    recv: RecvBuffer,
    rtt: RttEstimator,
    cc: Box<dyn Controller>,
    /// Current packet size (UDP payload): the path MTU search's confirmed
    /// size, or the configured size without it.
    packet_size: usize,
    pmtu: Pmtu,
    config_nagle: bool,
    max_retransmissions: u32,
    keepalive: Option<Duration>,
    idle_timeout: Option<Duration>,
    linger: Duration,

    /// The peer's last advertised window.
    peer_window: u32,
    /// Highest ack_nr seen and how often it repeated.
    last_ack: SeqNr,
    dup_acks: u32,
    /// Losses before this sequence number belong to the current recovery.
    recovery_until: Option<SeqNr>,
    /// Value for our packets' timestamp_difference field.
    reply_delay: TimestampDiff,
    /// Whether the application filled the window lately (for the
    /// controller's "no growth when app-limited" rule).
    window_filled: bool,

    /// Pacing: spread packets at the pacing rate (see `Config::pacing`).
    pacing: bool,
    /// Optional rate cap in bytes per second.
    max_send_rate: Option<u64>,
    /// Send credit in byte-microseconds (bytes × 10^6), so that refills at
    /// any rate are exact.
    pace_credit: u64,
    pace_updated: Timestamp,
    /// Set while a packet waits for pacing credit.
    pace_deadline: Option<Timestamp>,
    /// The endpoint's socket-wide rate, as the endpoint last said.
    total: pacing::TotalShare,

    rto_deadline: Option<Timestamp>,
    /// A rendezvous connect's SYN interval (`rendezvous.rs`).
    rendezvous: Option<Duration>,
    /// For a rendezvous connection, `Config::nat_mapping_timeout`: the
    /// quiet after which a retransmission timeout is reported as an
    /// expired mapping (`rendezvous.rs`).
    nat_quiet: Option<Duration>,
    /// When data first went out since the last packet received (cleared
    /// by the next one received).
    unanswered_since: Option<Timestamp>,
    /// When to send a tail loss probe (`tlp.rs`).
    tlp_deadline: Option<Timestamp>,
    /// A probe went since the last ack that acknowledged something new.
    tlp_probed: bool,
    /// When the retransmission timer last fired: packets sent before it
    /// give no RTT sample (their ack may answer a retransmission of another
    /// packet, long after their own ack was lost).
    last_rto_at: Timestamp,
    consecutive_timeouts: u32,
    /// Timeouts waiting for the verdict on whether they were spurious
    /// (`undo.rs`).
    timeout_episode: Option<undo::TimeoutEpisode>,
    connect_deadline: Option<Timestamp>,
    connect_timeout: Duration,
    probe_deadline: Option<Timestamp>,
    probe_interval: Duration,
    probe_due: bool,
    linger_deadline: Option<Timestamp>,
    /// Closed connections stay a while to acknowledge a retransmitted FIN.
    drain_until: Option<Timestamp>,
    last_recv: Timestamp,
    last_send: Timestamp,
    keepalive_due: bool,

    ack_pending: bool,
    /// A lone packet's ack waits until then for a second packet (only
    /// while the receive window is shared: `input.rs`).
    ack_delay_until: Option<Timestamp>,
    full_packets_unacked: u32,
    snapshots: [Option<AckSnapshot>; ACK_SNAPSHOTS],
    /// Window we last advertised, to decide on window updates after reads.
    advertised_window: usize,
    reset_pending: bool,
    /// After our FIN, the STATE that acknowledged the peer's FIN goes out
    /// once more, numbered as our FIN (`output.rs`, `emit_control`).
    fin_ack_again: bool,
    /// The close-reason code (extension 3) our FIN and RESET carry, when
    /// the application gave one.
    close_code: Option<u16>,
    /// The close-reason code the peer sent, if any.
    peer_close_code: Option<u16>,

    write_closed: bool,
    fin_seq: Option<SeqNr>,
    fin_acked: bool,
    close_called: bool,
    writable_wanted: bool,
    readable_signalled: bool,
    eof_signalled: bool,

    stats: ConnCounters,
    /// The parent of this connection's events (see `trace.rs`).
    #[cfg(feature = "tracing")]
    pub(crate) span: Option<Box<tracing::Span>>,
}

impl Connection {
    fn new<P: Peer>(
        config: &Config,
        remote: &P,
        recv_id: u16,
        send_id: u16,
        seq_nr: SeqNr,
        ack_nr: SeqNr,
        now: Timestamp,
    ) -> Self {
        let peer = PeerInfo::of(remote);
        let pmtu = Pmtu::new(config, peer);
        let packet_size = pmtu.current();
        Connection {
            peer,
            recv_id,
            send_id,
            phase: Phase::SynSent,
            syn_seq: None,
            initial_peer_seq: ack_nr,
            hs: handshake::Handshake::new(seq_nr),
            budget_room: usize::MAX,
            window_cap: usize::MAX,
            seq_nr,
            send: SendBuffer::new(config.send_buffer),
            in_flight: InFlight::new(),
            recv: RecvBuffer::new(
                ack_nr,
                config.recv_buffer,
                config.effective_reorder_window(),
            ),
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            // The initial window, in bytes, does not depend on the path MTU.
            cc: config.congestion.build(&ControllerContext {
                remote: peer.addr,
                packet_size: peer.packet_size(config),
                now,
            }),
            packet_size,
            pmtu,
            config_nagle: config.nagle,
            max_retransmissions: config.max_retransmissions,
            keepalive: config.keepalive,
            idle_timeout: config.idle_timeout,
            linger: config.linger,
            peer_window: 0,
            last_ack: seq_nr - 1,
            dup_acks: 0,
            recovery_until: None,
            reply_delay: TimestampDiff::NONE,
            window_filled: false,
            pacing: config.pacing,
            max_send_rate: config.max_send_rate.filter(|&r| r > 0),
            pace_credit: 0,
            pace_updated: now,
            pace_deadline: None,
            total: pacing::TotalShare::default(),
            rto_deadline: None,
            rendezvous: None,
            nat_quiet: None,
            unanswered_since: None,
            tlp_deadline: None,
            tlp_probed: false,
            last_rto_at: Timestamp::ZERO,
            consecutive_timeouts: 0,
            timeout_episode: None,
            connect_deadline: None,
            connect_timeout: config.connect_timeout,
            probe_deadline: None,
            probe_interval: config.initial_rto,
            probe_due: false,
            linger_deadline: None,
            drain_until: None,
            last_recv: now,
            last_send: now,
            keepalive_due: false,
            ack_pending: false,
            ack_delay_until: None,
            full_packets_unacked: 0,
            snapshots: [None; ACK_SNAPSHOTS],
            advertised_window: config.recv_buffer,
            reset_pending: false,
            fin_ack_again: false,
            close_code: None,
            peer_close_code: None,
            write_closed: false,
            fin_seq: None,
            fin_acked: false,
            close_called: false,
            writable_wanted: false,
            readable_signalled: false,
            eof_signalled: false,
            stats: ConnCounters::default(),
            #[cfg(feature = "tracing")]
            span: crate::trace::conn_span(recv_id, remote),
        }
    }

    /// An outgoing connection: receives on `recv_id`, sends on
    /// `recv_id + 1`, opens with a SYN of sequence number `isn`.
    pub(crate) fn connect<P: Peer>(
        config: &Config,
        now: Timestamp,
        remote: &P,
        recv_id: u16,
        isn: SeqNr,
    ) -> Self {
        let mut c = Connection::new(
            config,
            remote,
            recv_id,
            recv_id.wrapping_add(1),
            isn,
            SeqNr::new(0),
            now,
        );
        c.syn_seq = Some(isn);
        c.connect_deadline = Some(now + config.connect_timeout);
        c.rtt = RttEstimator::new(config.syn_rto, config.min_rto, config.max_rto);
        // The SYN is the first packet in flight; poll_transmit sends it.
        c.in_flight.push(Sent {
            seq: isn,
            kind: SentKind::Syn,
            offset: 0,
            len: 0,
            wire_len: HEADER_LEN as u32,
            last_sent: now,
            transmissions: 0,
            sacked: false,
            lost: true,
            probe: false,
        });
        c.seq_nr = isn + 1;
        c.last_ack = isn - 1;
        c
    }

    /// An incoming connection from `syn`: receives on `syn.connection_id
    /// + 1`, sends on `syn.connection_id`, answers with STATE carrying
    /// `our_seq` (which our first DATA will also carry).
    /// The connection starts half-open: it answers the SYN, sends no data
    /// (one packet with `early_data`) and no keepalives until the initiator
    /// proves it received our STATE, and dies after
    /// [`Config::half_open_timeout`] otherwise.
    pub(crate) fn accept<P: Peer>(
        config: &Config,
        now: Timestamp,
        remote: &P,
        syn: &PacketRepr<'_>,
        our_seq: SeqNr,
        early_data: bool,
    ) -> Self {
        let mut c = Connection::new(
            config,
            remote,
            syn.connection_id.wrapping_add(1),
            syn.connection_id,
            our_seq,
            syn.seq_nr,
            now,
        );
        c.phase = Phase::HalfOpen;
        c.hs.half_open_until = Some(now + config.half_open_timeout);
        c.hs.early_data = early_data;
        c.hs.syn_ack_pending = true;
        // libtorrent and librqbit-utp advertise 0 in the SYN; assume room
        // for a packet until the peer's first real advertisement.
        c.peer_window = syn.window_size.max(c.packet_size as u32);
        c.reply_delay = now.to_wire().difference_since(syn.timestamp);
        c.stats.packets_received = 1;
        c
    }

    /// A connection expected from `remote` with the connection id `id`
    /// agreed out of band: the initiator's SYN will carry `id` (its receive
    /// id); we receive on `id + 1` and send on `id`. It sends nothing until
    /// that SYN arrives (`on_expected_syn`), and gives up with
    /// `TimedOut(Connect)` after `timeout`.
    pub(crate) fn expecting<P: Peer>(
        config: &Config,
        now: Timestamp,
        remote: &P,
        id: u16,
        our_seq: SeqNr,
        timeout: Duration,
    ) -> Self {
        let mut c = Connection::new(
            config,
            remote,
            id.wrapping_add(1),
            id,
            our_seq,
            SeqNr::new(0),
            now,
        );
        c.phase = Phase::Expecting;
        c.connect_deadline = Some(now + timeout);
        c
    }

    /// A connection built from a packet that proved a SYN cookie: the
    /// initiator sent its SYN with `p.connection_id - 1` and sequence
    /// number `p.seq_nr - 1`, and acknowledges our cookie `our_seq` (its
    /// ack_nr is `our_seq - 1`). Established at once; the caller then
    /// delivers `p` to it.
    pub(crate) fn from_cookie<P: Peer>(
        config: &Config,
        now: Timestamp,
        remote: &P,
        p: &PacketRepr<'_>,
        our_seq: SeqNr,
    ) -> Self {
        let mut c = Connection::new(
            config,
            remote,
            p.connection_id,
            p.connection_id.wrapping_sub(1),
            our_seq,
            p.seq_nr - 1,
            now,
        );
        c.phase = Phase::Established;
        c.peer_window = p.window_size.max(c.packet_size as u32);
        c
    }

    /// The peer's IP address, if it is reached over IP.
    pub(crate) fn remote_ip(&self) -> Option<IpAddr> {
        self.peer.ip()
    }

    pub(crate) fn recv_id(&self) -> u16 {
        self.recv_id
    }

    pub(crate) fn send_id(&self) -> u16 {
        self.send_id
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed(_))
    }

    /// An acceptor that has not yet heard from the initiator.
    pub(crate) fn is_half_open(&self) -> bool {
        self.phase == Phase::HalfOpen
    }

    pub(crate) fn state(&self) -> ConnState {
        match self.phase {
            Phase::Expecting | Phase::SynSent | Phase::HalfOpen => ConnState::Connecting,
            Phase::Established => ConnState::Established {
                write_closed: self.write_closed,
                read_closed: self.recv.is_eof(),
            },
            Phase::Closed(reason) => ConnState::Closed(reason),
        }
    }

    pub(crate) fn stats(&self) -> ConnStats {
        ConnStats {
            rtt: self.rtt.srtt(),
            rtt_var: self.rtt.rttvar(),
            rtt_min: self.rtt.min(),
            rto: self.rtt.rto(),
            cwnd: self.cc.window(),
            queuing_delay: self.cc.queuing_delay().unwrap_or_default(),
            slow_start: self.cc.in_slow_start(),
            pacing_rate: self.pacing_rate().unwrap_or(0),
            in_flight: self.in_flight.bytes(),
            peer_window: self.peer_window,
            send_buffered: self.send.len(),
            send_unsent: self.send.unsent_len(),
            recv_buffered: self.recv.buffered(),
            packet_size: self.packet_size,
            mtu_probes_sent: self.pmtu.probes_sent,
            mtu_probes_lost: self.pmtu.probes_lost,
            ..self.stats.totals()
        }
    }

    /// Whether the endpoint may forget this connection: closed, released
    /// by the application (`close`/`abort`), its drain time over and its
    /// RESET (if any) sent.
    pub(crate) fn is_finished(&self, now: Timestamp) -> bool {
        self.is_closed()
            && self.close_called
            && self.drain_until.is_none_or(|t| now >= t)
            && !self.reset_pending
            && !self.fin_ack_again
    }

    /// Sets the close-reason code our FIN and RESET will carry.
    pub(crate) fn set_close_code(&mut self, code: Option<u16>) {
        self.close_code = code;
    }

    /// The close-reason code the peer sent, if any.
    pub(crate) fn peer_close_code(&self) -> Option<u16> {
        self.peer_close_code
    }

    /// Marks the connection released by the application (used for
    /// connections that closed in the accept backlog, which no one will
    /// ever release).
    pub(crate) fn release(&mut self) {
        self.close_called = true;
    }
}
