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

mod handshake;
mod memory;
pub(crate) mod pmtu;
pub(crate) mod recv;
pub(crate) mod rtt;
pub(crate) mod send;

use core::time::Duration;
use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::config::Config;
use crate::congestion::{AckSample, Controller};
use crate::error::Error;
use crate::event::{CloseReason, Event};
use crate::seq::SeqNr;
use crate::stats::ConnStats;
use crate::time::{Timestamp, TimestampDiff};
use crate::wire::{PacketRepr, PacketType, SelectiveAck, HEADER_LEN};
use crate::ConnHandle;

use pmtu::Pmtu;
use recv::{RecvBuffer, RecvOutcome};
use rtt::RttEstimator;
use send::{InFlight, SendBuffer, Sent, SentKind};

/// Longest SACK we send: covers the largest reorder window.
const SACK_BUF: usize = 128;

/// Acks remembered while waiting for the caller to drain `poll_transmit`
/// (one per second full packet received).
const ACK_SNAPSHOTS: usize = 8;

/// Shortest time a closed connection that received a FIN stays to
/// acknowledge that FIN again if the peer retransmits it.
const DRAIN_MIN: Duration = Duration::from_secs(3);

/// Duplicate acknowledgements that trigger fast retransmit (peers that send
/// no SACK).
const DUP_ACK_THRESHOLD: u32 = 3;

/// Pacing bursts hold this much time at the pacing rate...
const PACING_BURST_TIME_MICROS: u128 = 2_000;
/// ...but at least this many packets...
const PACING_MIN_BURST_PACKETS: u128 = 10;
/// ...and at most this many.
const PACING_MAX_BURST_PACKETS: u128 = 256;

/// How far behind our oldest unacknowledged packet an acknowledgement may
/// be and still count (a packet of the peer's overtaken by later ones).
const ACK_SLACK: u16 = 64;

/// Most packets in flight: libutp's limit (`OUTGOING_BUFFER_MAX_SIZE - 1`),
/// within its 1024-packet reorder buffer and ours
/// ([`MAX_REORDER_WINDOW`](crate::config::MAX_REORDER_WINDOW)), so that
/// nothing sent is dropped as too far ahead of a hole.
const MAX_PACKETS_IN_FLIGHT: usize = 1023;

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
    remote: SocketAddr,
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
    min_rto: Duration,
    max_rto: Duration,

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
    pace_credit: u128,
    pace_updated: Timestamp,
    /// Set while a packet waits for pacing credit.
    pace_deadline: Option<Timestamp>,

    rto_deadline: Option<Timestamp>,
    /// When the retransmission timer last fired: packets sent before it
    /// give no RTT sample (their ack may answer a retransmission of another
    /// packet, long after their own ack was lost).
    last_rto_at: Timestamp,
    consecutive_timeouts: u32,
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
    full_packets_unacked: u32,
    snapshots: [Option<AckSnapshot>; ACK_SNAPSHOTS],
    /// Window we last advertised, to decide on window updates after reads.
    advertised_window: usize,
    reset_pending: bool,

    write_closed: bool,
    fin_seq: Option<SeqNr>,
    fin_acked: bool,
    close_called: bool,
    writable_wanted: bool,
    readable_signalled: bool,
    eof_signalled: bool,

    stats: ConnStats,
}

impl Connection {
    fn new(
        config: &Config,
        remote: SocketAddr,
        recv_id: u16,
        send_id: u16,
        seq_nr: SeqNr,
        ack_nr: SeqNr,
        now: Timestamp,
    ) -> Self {
        let pmtu = Pmtu::new(config, remote);
        let packet_size = pmtu.current();
        Connection {
            remote,
            recv_id,
            send_id,
            phase: Phase::SynSent,
            syn_seq: None,
            initial_peer_seq: ack_nr,
            hs: handshake::Handshake::new(seq_nr),
            budget_room: usize::MAX,
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
            cc: config.congestion.build(config.packet_size(remote)),
            packet_size,
            pmtu,
            config_nagle: config.nagle,
            max_retransmissions: config.max_retransmissions,
            keepalive: config.keepalive,
            idle_timeout: config.idle_timeout,
            linger: config.linger,
            min_rto: config.min_rto,
            max_rto: config.max_rto,
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
            rto_deadline: None,
            last_rto_at: Timestamp::ZERO,
            consecutive_timeouts: 0,
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
            full_packets_unacked: 0,
            snapshots: [None; ACK_SNAPSHOTS],
            advertised_window: config.recv_buffer,
            reset_pending: false,
            write_closed: false,
            fin_seq: None,
            fin_acked: false,
            close_called: false,
            writable_wanted: false,
            readable_signalled: false,
            eof_signalled: false,
            stats: ConnStats::default(),
        }
    }

    /// An outgoing connection: receives on `recv_id`, sends on
    /// `recv_id + 1`, opens with a SYN of sequence number `isn`.
    pub(crate) fn connect(
        config: &Config,
        now: Timestamp,
        remote: SocketAddr,
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
    pub(crate) fn accept(
        config: &Config,
        now: Timestamp,
        remote: SocketAddr,
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

    /// A connection built from a packet that proved a SYN cookie: the
    /// initiator sent its SYN with `p.connection_id - 1` and sequence
    /// number `p.seq_nr - 1`, and acknowledges our cookie `our_seq` (its
    /// ack_nr is `our_seq - 1`). Established at once; the caller then
    /// delivers `p` to it.
    pub(crate) fn from_cookie(
        config: &Config,
        now: Timestamp,
        remote: SocketAddr,
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

    pub(crate) fn remote(&self) -> SocketAddr {
        self.remote
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
            Phase::SynSent | Phase::HalfOpen => ConnState::Connecting,
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
            recv_buffered: self.recv.buffered(),
            packet_size: self.packet_size,
            mtu_probes_sent: self.pmtu.probes_sent,
            mtu_probes_lost: self.pmtu.probes_lost,
            ..self.stats
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
    }

    /// Marks the connection released by the application (used for
    /// connections that closed in the accept backlog, which no one will
    /// ever release).
    pub(crate) fn release(&mut self) {
        self.close_called = true;
    }

    // ----- application calls -----

    pub(crate) fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        if let Phase::Closed(reason) = self.phase {
            return Err(Error::Closed(reason));
        }
        if self.write_closed {
            return Err(Error::Shutdown);
        }
        if data.is_empty() {
            return Ok(0);
        }
        // The endpoint's memory budget bounds it too (`memory.rs`).
        let n = self
            .send
            .write(data.get(..self.budget_room).unwrap_or(data));
        if n == 0 {
            self.writable_wanted = true;
            return Err(Error::WouldBlock);
        }
        self.budget_room -= n;
        Ok(n)
    }

    pub(crate) fn read(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if self.close_called {
            return Err(Error::Shutdown);
        }
        if out.is_empty() {
            return Ok(0);
        }
        let n = self.recv.read(out);
        if n > 0 {
            self.maybe_window_update();
            if self.recv.readable_len() == 0 {
                self.readable_signalled = false;
            }
            return Ok(n);
        }
        self.readable_signalled = false;
        if self.recv.is_eof() {
            return Ok(0);
        }
        match self.phase {
            Phase::Closed(reason) => Err(Error::Closed(reason)),
            _ => Err(Error::WouldBlock),
        }
    }

    /// After the application read: if the window we advertised was too
    /// small to carry a packet and now is not, tell the peer at once
    /// (otherwise a sender stopped by a zero window waits for its probe).
    fn maybe_window_update(&mut self) {
        let window = self.advertised_window_now();
        let reopened = self.advertised_window < self.packet_size && window >= self.packet_size;
        let grew_by_half = window
            >= self
                .advertised_window
                .saturating_add(self.recv.capacity() / 2);
        if reopened || grew_by_half {
            self.ack_pending = true;
        }
    }

    pub(crate) fn shutdown(&mut self) {
        if !self.is_closed() {
            self.write_closed = true;
        }
    }

    pub(crate) fn close(&mut self, now: Timestamp, events: &mut EventSink<'_>) {
        self.close_called = true;
        self.recv.set_discard();
        if !self.is_closed() {
            self.write_closed = true;
            if self.phase == Phase::SynSent
                || (self.phase == Phase::HalfOpen && !self.hs.sent_early_data(self.seq_nr))
            {
                // Nothing was ever exchanged: just stop.
                self.finish(now, CloseReason::LocalClose, events);
            }
        }
    }

    pub(crate) fn abort(&mut self, now: Timestamp, events: &mut EventSink<'_>) {
        self.close_called = true;
        if self.is_closed() {
            return;
        }
        self.reset_pending = true;
        self.finish(now, CloseReason::Aborted, events);
        self.drain_until = None;
    }

    fn finish(&mut self, now: Timestamp, reason: CloseReason, events: &mut EventSink<'_>) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closed(reason);
        self.rto_deadline = None;
        self.probe_deadline = None;
        self.connect_deadline = None;
        self.linger_deadline = None;
        self.pace_deadline = None;
        self.hs.half_open_until = None;
        // Stay long enough to acknowledge a FIN retransmitted because our
        // ack of it was lost; without a FIN there is nothing to drain.
        self.drain_until = if self.recv.fin_seq().is_some() {
            Some(now + (self.rtt.rto() * 4).max(DRAIN_MIN))
        } else {
            None
        };
        self.writable_wanted = false;
        // Nothing more goes out: the send side's memory can go now (what
        // was received stays readable).
        self.send.clear();
        self.recv.release_spare();
        events.push(Event::Closed(events.handle, reason));
    }

    // ----- input -----

    /// A packet routed to this connection (its id and address matched).
    pub(crate) fn on_packet(
        &mut self,
        now: Timestamp,
        p: &PacketRepr<'_>,
        events: &mut EventSink<'_>,
    ) {
        if let Phase::Closed(_) = self.phase {
            // Acknowledge a retransmitted FIN (our ack was lost).
            if p.packet_type == PacketType::Fin && Some(p.seq_nr) == self.recv.fin_seq() {
                self.ack_pending = true;
            }
            return;
        }
        match p.packet_type {
            PacketType::Reset => return self.on_reset(now, p, events),
            PacketType::Syn => return self.on_duplicate_syn(p),
            PacketType::Data | PacketType::Fin | PacketType::State => {}
        }
        let proceed = match self.phase {
            Phase::SynSent => self.on_syn_answer(now, p, events),
            Phase::HalfOpen => self.on_proof(p),
            _ => true,
        };
        if !proceed {
            return;
        }
        if !self.ack_is_plausible(p.ack_nr) {
            self.stats.dropped_invalid += 1;
            return;
        }
        // Only a packet from the peer itself gets this far: a pending
        // RESET challenge is answered (see `handshake.rs`).
        self.hs.reset_challenge = None;
        self.on_peer_progress(p);
        self.stats.packets_received += 1;
        self.last_recv = now;
        self.reply_delay = now.to_wire().difference_since(p.timestamp);
        self.process_ack(now, p, events);
        if self.is_closed() {
            return;
        }
        match p.packet_type {
            PacketType::Data | PacketType::Fin => self.process_data(p, events),
            _ => {}
        }
        self.check_finished(now, events);
    }

    fn on_reset(&mut self, now: Timestamp, p: &PacketRepr<'_>, events: &mut EventSink<'_>) {
        if !self.reset_is_believed(now, p) {
            return;
        }
        let reason = self.reset_reason();
        self.finish(now, reason, events);
        // Nothing to acknowledge after a reset.
        self.drain_until = None;
    }

    /// An ack_nr is plausible when it lies between the packet before our
    /// oldest unacknowledged one (nothing new acked) and the last packet we
    /// sent, allowing for acks that arrive late by up to [`ACK_SLACK`]
    /// packets. The tighter this window, the less an off-path attacker who
    /// guessed the connection id can do (spec/README.md, "Off-path
    /// attackers"): a forged packet must also land in it.
    fn ack_is_plausible(&self, ack_nr: SeqNr) -> bool {
        let newest = self.seq_nr - 1;
        let oldest = self.in_flight.first_seq().unwrap_or(self.seq_nr) - 1;
        let span = u32::from(newest.distance_from(oldest)) + 1;
        ack_nr.in_window(oldest - ACK_SLACK, span + u32::from(ACK_SLACK))
    }

    fn process_ack(&mut self, now: Timestamp, p: &PacketRepr<'_>, events: &mut EventSink<'_>) {
        // Only the newest acknowledgement says what the window is now: an
        // older one (reordered, or forged with a stale ack) must not
        // rewrite it.
        let newest = !p.ack_nr.is_before(self.last_ack);
        let reopened = newest && self.peer_window == 0 && p.window_size > 0;
        if newest {
            self.peer_window = p.window_size;
        }
        let in_flight_before = self.in_flight.bytes();
        let first = self.in_flight.first_seq();
        let mut bytes_acked = 0;
        let mut rtt_from = None;
        let mut new_ack = false;

        if let Some(first) = first {
            if !p.ack_nr.is_before(first) {
                let acked = self.in_flight.ack_through(p.ack_nr, self.last_rto_at);
                if acked.packets > 0 {
                    new_ack = true;
                    bytes_acked += acked.bytes;
                    rtt_from = acked.rtt_sample_sent_at;
                    if let Some(offset) = acked.release_to {
                        let before = self.send.free();
                        self.send.release_to(offset);
                        if self.writable_wanted && self.send.free() > before {
                            self.writable_wanted = false;
                            events.push(Event::Writable(events.handle));
                        }
                    }
                    if acked.fin {
                        self.fin_acked = true;
                    }
                }
            }
        }
        self.pmtu_outcome(now);
        if let Some(sack) = p.selective_ack {
            let (newly, sample, lost) =
                self.in_flight.apply_sack(p.ack_nr, &sack, self.last_rto_at);
            bytes_acked += newly;
            if rtt_from.is_none() {
                rtt_from = sample;
            }
            // A lost path MTU probe is no congestion signal.
            let probe_lost = self.pmtu_outcome(now);
            if lost > usize::from(probe_lost) {
                self.on_loss_detected(now);
            }
        }

        if new_ack {
            self.dup_acks = 0;
            self.last_ack = p.ack_nr;
            self.consecutive_timeouts = 0;
            self.rtt.reset_backoff();
            self.rto_deadline = if self.in_flight.is_empty() {
                None
            } else {
                Some(now + self.rtt.rto())
            };
        } else if p.ack_nr == self.last_ack
            && p.packet_type == PacketType::State
            && p.selective_ack.is_none()
            // An ack saying the window is closed answers a probe; it is no
            // sign of loss.
            && p.window_size > 0
            && !self.in_flight.is_empty()
        {
            self.dup_acks += 1;
            if self.dup_acks == DUP_ACK_THRESHOLD
                && self.in_flight.mark_first_lost()
                && !self.pmtu_outcome(now)
            {
                self.on_loss_detected(now);
            }
        }
        if let Some(sent_at) = rtt_from {
            let sample = now.saturating_duration_since(sent_at);
            self.rtt.on_sample(sample);
        }
        if reopened && !self.in_flight.is_empty() && self.phase == Phase::Established {
            // What is still in flight went into a closed window (the probe):
            // the peer dropped it, so send it again now rather than after a
            // backed-off timeout.
            self.in_flight.mark_all_lost();
            self.rtt.reset_backoff();
            self.rto_deadline = Some(now + self.rtt.rto());
        }
        if bytes_acked > 0 {
            let sample = AckSample {
                now,
                bytes_acked,
                in_flight: in_flight_before,
                rtt: rtt_from.map(|t| now.saturating_duration_since(t)),
                srtt: self.rtt.has_sample().then(|| self.rtt.srtt()),
                min_rtt: self.rtt.has_sample().then(|| self.rtt.min()),
                delay: p.timestamp_difference,
                reverse_delay: self.reply_delay,
                packet_size: self.packet_size,
                app_limited: !self.window_filled,
            };
            self.cc.on_ack(&sample);
        }
        if self.peer_window as usize >= self.packet_size.min(self.send.unsent_len().max(1)) {
            self.probe_deadline = None;
            self.probe_interval = self.rtt.rto();
        }
    }

    fn on_loss_detected(&mut self, now: Timestamp) {
        let in_recovery = self
            .recovery_until
            .zip(self.in_flight.first_seq())
            .is_some_and(|(until, first)| first.is_before(until));
        if !in_recovery {
            self.cc.on_loss(now, self.packet_size);
            self.recovery_until = Some(self.seq_nr);
        }
    }

    fn process_data(&mut self, p: &PacketRepr<'_>, events: &mut EventSink<'_>) {
        self.process_payload(
            p.seq_nr,
            p.payload,
            p.packet_type == PacketType::Fin,
            events,
        );
    }

    /// Takes a DATA or FIN's payload into the receive buffer.
    fn process_payload(
        &mut self,
        seq_nr: SeqNr,
        payload: &[u8],
        fin: bool,
        events: &mut EventSink<'_>,
    ) {
        let outcome = self.recv.on_packet(seq_nr, payload, fin, self.budget_room);
        match outcome {
            RecvOutcome::Accepted { .. } => {
                // Each new packet is accepted once, in order or held for
                // reassembly.
                self.stats.bytes_received = self
                    .stats
                    .bytes_received
                    .saturating_add(payload.len() as u64);
                if payload.len() + HEADER_LEN >= self.packet_size.saturating_sub(SACK_BUF) {
                    self.full_packets_unacked += 1;
                }
                if self.full_packets_unacked >= 2 && !self.recv.has_holes() {
                    self.snapshot_ack();
                    self.full_packets_unacked = 0;
                }
            }
            RecvOutcome::Duplicate => self.stats.duplicates += 1,
            RecvOutcome::TooFarAhead | RecvOutcome::NoRoom | RecvOutcome::AfterFin => {
                self.stats.dropped_invalid += 1;
            }
        }
        // Every DATA/FIN is acknowledged, dropped or not: the ack carries
        // the window that tells the sender why.
        self.ack_pending = true;
        if self.recv.readable_len() > 0 && !self.readable_signalled && !self.close_called {
            self.readable_signalled = true;
            events.push(Event::Readable(events.handle));
        }
        if self.recv.is_eof() && !self.eof_signalled {
            self.eof_signalled = true;
            if !self.close_called {
                events.push(Event::Eof(events.handle));
            }
        }
    }

    fn snapshot_ack(&mut self) {
        let ack_nr = self.recv.ack_nr();
        let free = self.snapshots.iter_mut().find(|s| s.is_none());
        match free {
            Some(slot) => *slot = Some(AckSnapshot { ack_nr }),
            None => {
                // Full: the newest replaces the last; older ones stay so the
                // sender still sees several acks.
                if let Some(last) = self.snapshots.last_mut() {
                    *last = Some(AckSnapshot { ack_nr });
                }
            }
        }
    }

    fn check_finished(&mut self, now: Timestamp, events: &mut EventSink<'_>) {
        if self.is_closed() || !self.fin_acked {
            return;
        }
        if self.recv.is_eof() {
            let reason = if self.close_called {
                CloseReason::LocalClose
            } else {
                CloseReason::Finished
            };
            self.finish(now, reason, events);
        } else if self.close_called && self.linger_deadline.is_none() {
            self.linger_deadline = Some(now + self.linger);
        }
    }

    // ----- timers -----

    pub(crate) fn poll_timeout(&self) -> Option<Timestamp> {
        let mut deadline: Option<Timestamp> = None;
        let mut consider = |t: Option<Timestamp>| {
            if let Some(t) = t {
                deadline = Some(deadline.map_or(t, |d| d.min(t)));
            }
        };
        if let Phase::Closed(_) = self.phase {
            consider(self.drain_until);
            return deadline;
        }
        consider(self.rto_deadline);
        consider(self.connect_deadline);
        consider(self.probe_deadline);
        consider(self.linger_deadline);
        consider(self.pace_deadline);
        consider(self.hs.half_open_until);
        consider(self.hs.third_again.map(|(at, _, _)| at));
        consider(self.idle_release_at());
        if self.phase == Phase::Established {
            consider(self.keepalive.map(|k| self.last_send + k));
        }
        consider(self.idle_timeout.map(|i| self.last_recv + i));
        deadline
    }

    pub(crate) fn on_timeout(&mut self, now: Timestamp, events: &mut EventSink<'_>) {
        if self.is_closed() {
            // The drain period is over: no more deadlines.
            if self.drain_until.is_some_and(|t| now >= t) {
                self.drain_until = None;
            }
            return;
        }
        if self.connect_deadline.is_some_and(|t| now >= t)
            || self.hs.half_open_until.is_some_and(|t| now >= t)
        {
            return self.finish(now, CloseReason::TimedOut, events);
        }
        if let Some(idle) = self.idle_timeout {
            if now >= self.last_recv + idle {
                return self.finish(now, CloseReason::TimedOut, events);
            }
        }
        if self.linger_deadline.is_some_and(|t| now >= t) {
            return self.finish(now, CloseReason::LocalClose, events);
        }
        if self.rto_deadline.is_some_and(|t| now >= t) && !self.pmtu_probe_timeout(now) {
            self.stats.timeouts += 1;
            self.last_rto_at = now;
            // With the peer's window closed, what is in flight is a probe
            // the peer may rightly drop: its timeout is no sign of a dead
            // path or of congestion (the idle timeout catches a dead peer).
            let window_closed = self.peer_window == 0 && self.phase == Phase::Established;
            if !window_closed {
                self.consecutive_timeouts += 1;
            }
            if self.consecutive_timeouts > self.max_retransmissions && self.phase != Phase::SynSent
            {
                return self.finish(now, CloseReason::TimedOut, events);
            }
            self.rtt.back_off();
            if self.phase != Phase::SynSent && !window_closed {
                self.cc.on_timeout(now, self.packet_size);
            }
            // SACKs are forgotten too (RFC 2018's reneging rule): a SACK the
            // peer did not mean, or forged, must not stop a retransmission
            // for ever.
            self.in_flight.mark_all_lost_forget_sacks();
            self.recovery_until = Some(self.seq_nr);
            self.rto_deadline = Some(now + self.rtt.rto());
        }
        self.on_third_timer(now);
        if self.idle_release_at().is_some_and(|t| now >= t) {
            self.release_idle_memory();
        }
        if self.pace_deadline.is_some_and(|t| now >= t) {
            // Credit has built up: poll_transmit sends again.
            self.pace_deadline = None;
        }
        if self.probe_deadline.is_some_and(|t| now >= t) {
            self.probe_due = true;
            self.probe_interval = (self.probe_interval * 2).clamp(self.min_rto, self.max_rto);
            self.probe_deadline = Some(now + self.probe_interval);
        }
        if let Some(k) = self.keepalive {
            if self.phase == Phase::Established && now >= self.last_send + k {
                self.keepalive_due = true;
            }
        }
    }

    // ----- output -----

    /// Writes the next datagram for this connection into `buf`; returns its
    /// length, or `None` when there is nothing to send.
    pub(crate) fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        if self.reset_pending {
            self.reset_pending = false;
            return self.emit_control(now, PacketType::Reset, buf);
        }
        if core::mem::take(&mut self.hs.syn_ack_pending) && !self.is_closed() {
            return self.emit_syn_ack(now, buf);
        }
        if let Phase::Closed(_) = self.phase {
            if self.ack_pending {
                self.ack_pending = false;
                return self.emit_control(now, PacketType::State, buf);
            }
            return None;
        }
        // Retransmissions first, oldest first.
        if let Some((index, p)) = self.in_flight.first_lost() {
            // The oldest packet in flight, once lost, goes at once even if
            // the (just reduced) window is full: everything after it waits
            // for it (fast recovery).
            if (index == 0 || self.may_send(p.wire_len as usize) || p.kind == SentKind::Syn)
                && self.pace(now, p.wire_len as usize)
            {
                return self.retransmit(now, index, p, buf);
            }
        }
        if self.phase == Phase::SynSent {
            return None;
        }
        if !self.in_flight.has_lost() && self.may_send_data() {
            if let Some(len) = self.send_new(now, buf) {
                return Some(len);
            }
        }
        if self.probe_due {
            self.probe_due = false;
            if let Some(len) = self.send_probe(now, buf) {
                return Some(len);
            }
        }
        if let Some(len) = self.send_snapshot(now, buf) {
            return Some(len);
        }
        if self.ack_pending || self.keepalive_due {
            let keepalive = !self.ack_pending;
            self.ack_pending = false;
            self.keepalive_due = false;
            self.full_packets_unacked = 0;
            self.snapshots = [None; ACK_SNAPSHOTS];
            if keepalive {
                return self.emit_keepalive(now, buf);
            }
            return self.emit_control(now, PacketType::State, buf);
        }
        None
    }

    /// Whether `wire_len` more bytes fit the congestion window. (The
    /// peer's window counts payload and is checked where payload is sized.)
    fn may_send(&mut self, wire_len: usize) -> bool {
        let in_flight = self.in_flight.bytes();
        // One packet may always be in flight, so a window smaller than a
        // packet still makes progress. Never more packets than a peer's
        // reorder buffer holds past a hole (small packets after path MTU
        // discovery would exceed it within the window).
        let fits = (in_flight + wire_len <= self.cc.window() || in_flight == 0)
            && self.in_flight.len() < MAX_PACKETS_IN_FLIGHT;
        if !fits {
            self.window_filled = true;
        }
        fits
    }

    fn send_new(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        let unsent = self.send.unsent_len();
        if unsent == 0 {
            self.window_filled = false;
            if self.write_closed && self.fin_seq.is_none() {
                return self.send_fin(now, buf);
            }
            return None;
        }
        let sack_len = self.sack_wire_len();
        let header = HEADER_LEN + sack_len;
        let max_payload = self
            .packet_size
            .saturating_sub(header)
            .min(buf.len().saturating_sub(header));
        if max_payload == 0 {
            return None;
        }
        let mut payload = unsent.min(max_payload);
        // The peer's window is free receive buffer: never send more payload
        // than it has room for. A zero window waits for the probe timer.
        let peer_room =
            (self.peer_window as usize).saturating_sub(self.in_flight_payload_estimate());
        if peer_room == 0 {
            self.arm_probe(now);
            return None;
        }
        payload = payload.min(peer_room);
        if self.config_nagle
            && payload < max_payload
            && !self.in_flight.is_empty()
            && !self.write_closed
        {
            return None;
        }
        if !self.pace(now, header + payload) {
            return None;
        }
        if let Some(payload) = self.plan_probe(now, payload, max_payload, buf.len()) {
            let (offset, len) = self.send.take_unsent(payload);
            return self.send_data_packet(now, offset, len, PacketType::Data, buf);
        }
        if !self.may_send(header + payload) {
            return None;
        }
        let (offset, len) = self.send.take_unsent(payload);
        self.send_data_packet(now, offset, len, PacketType::Data, buf)
    }

    /// The pacing rate in bytes per second: the window over the smoothed
    /// RTT (times 2 in slow start so the window can grow, 1.25 otherwise),
    /// capped by the configured maximum; `None` when nothing limits the
    /// rate (pacing off, or no RTT sample yet, and no cap).
    pub(crate) fn pacing_rate(&self) -> Option<u64> {
        let window_rate = if self.pacing && self.rtt.has_sample() {
            let srtt = self.rtt.srtt().as_micros().max(1);
            let (num, den) = if self.cc.in_slow_start() {
                (2, 1)
            } else {
                (5, 4)
            };
            let rate = (self.cc.window() as u128 * 1_000_000 * num) / (srtt * den);
            Some(u64::try_from(rate).unwrap_or(u64::MAX).max(1))
        } else {
            None
        };
        match (window_rate, self.max_send_rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sets the rate cap of this connection (`None`: no cap).
    pub(crate) fn set_max_send_rate(&mut self, rate: Option<u64>) {
        self.max_send_rate = rate.filter(|&r| r > 0);
    }

    /// Whether pacing lets a packet of `wire_len` bytes go now; if not,
    /// arms the pacing timer for when it will.
    fn pace(&mut self, now: Timestamp, wire_len: usize) -> bool {
        let Some(rate) = self.pacing_rate() else {
            return true;
        };
        let rate = u128::from(rate);
        let packet = self.packet_size as u128;
        let burst = (rate * PACING_BURST_TIME_MICROS / 1_000_000).clamp(
            PACING_MIN_BURST_PACKETS * packet,
            PACING_MAX_BURST_PACKETS * packet,
        );
        // Credit in byte-microseconds: `rate` bytes per second add `rate`
        // per elapsed microsecond.
        let elapsed = u128::from(
            now.as_micros()
                .saturating_sub(self.pace_updated.as_micros()),
        );
        self.pace_updated = now;
        self.pace_credit = self
            .pace_credit
            .saturating_add(rate.saturating_mul(elapsed))
            .min(burst * 1_000_000);
        let need = wire_len as u128 * 1_000_000;
        if self.pace_credit >= need {
            return true;
        }
        let wait_micros = (need - self.pace_credit).div_ceil(rate.max(1));
        let wait =
            core::time::Duration::from_micros(u64::try_from(wait_micros).unwrap_or(u64::MAX));
        self.pace_deadline = Some(now + wait);
        false
    }

    /// Spends pacing credit for a packet sent.
    fn charge(&mut self, wire_len: usize) {
        self.pace_credit = self
            .pace_credit
            .saturating_sub(wire_len as u128 * 1_000_000);
    }

    /// Payload bytes in flight, approximated from wire bytes.
    fn in_flight_payload_estimate(&self) -> usize {
        self.in_flight
            .bytes()
            .saturating_sub(self.in_flight.len() * HEADER_LEN)
    }

    fn arm_probe(&mut self, now: Timestamp) {
        if self.probe_deadline.is_none() && self.in_flight.is_empty() {
            self.probe_deadline = Some(now + self.probe_interval);
        }
    }

    /// A one-byte packet sent into a zero window: the ack it provokes
    /// carries the peer's current window.
    fn send_probe(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        if self.send.unsent_len() == 0 || !self.in_flight.is_empty() {
            return None;
        }
        let (offset, len) = self.send.take_unsent(1);
        // From here on the retransmission timer repeats the probe.
        self.probe_deadline = None;
        self.send_data_packet(now, offset, len, PacketType::Data, buf)
    }

    fn send_fin(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        if !self.may_send(HEADER_LEN) {
            return None;
        }
        let (offset, _) = self.send.take_unsent(0);
        self.send_data_packet(now, offset, 0, PacketType::Fin, buf)
    }

    fn send_data_packet(
        &mut self,
        now: Timestamp,
        offset: u64,
        len: usize,
        ty: PacketType,
        buf: &mut [u8],
    ) -> Option<usize> {
        let seq = self.seq_nr;
        let probe_size = self.take_armed_probe();
        let probe = probe_size.and_then(|size| self.emit_probe(now, seq, offset, len, size, buf));
        let wire_len = match probe {
            Some(wire_len) => wire_len,
            None => self.emit_payload_packet(now, ty, seq, offset, len, buf)?,
        };
        self.seq_nr += 1;
        let kind = if ty == PacketType::Fin {
            self.fin_seq = Some(seq);
            SentKind::Fin
        } else {
            SentKind::Data
        };
        self.in_flight.push(Sent {
            seq,
            kind,
            offset,
            len: len as u32,
            wire_len: wire_len as u32,
            last_sent: now,
            transmissions: 1,
            sacked: false,
            lost: false,
            probe: probe.is_some(),
        });
        self.stats.bytes_sent = self.stats.bytes_sent.saturating_add(len as u64);
        self.charge(wire_len);
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rtt.rto());
        }
        Some(wire_len)
    }

    fn retransmit(
        &mut self,
        now: Timestamp,
        index: usize,
        p: Sent,
        buf: &mut [u8],
    ) -> Option<usize> {
        let wire_len = match p.kind {
            SentKind::Syn => self.emit_syn(now, p.seq, buf)?,
            SentKind::Data => self.emit_payload_packet(
                now,
                PacketType::Data,
                p.seq,
                p.offset,
                p.len as usize,
                buf,
            )?,
            SentKind::Fin => {
                self.emit_payload_packet(now, PacketType::Fin, p.seq, p.offset, 0, buf)?
            }
        };
        if p.transmissions > 0 {
            self.stats.retransmits += 1;
        }
        self.in_flight.resent(index, now, wire_len as u32);
        self.charge(wire_len);
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rtt.rto());
        }
        Some(wire_len)
    }

    fn send_snapshot(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        let index = self.snapshots.iter().position(|s| s.is_some())?;
        let snapshot = self.snapshots.get_mut(index)?.take()?;
        if snapshot.ack_nr == self.recv.ack_nr() {
            // The regular ack will say the same.
            return self.send_snapshot(now, buf);
        }
        let repr = self.header(now, PacketType::State, self.seq_nr, snapshot.ack_nr, None);
        self.finish_emit(now, &repr, buf)
    }

    fn sack_wire_len(&self) -> usize {
        self.recv.sack_len(SACK_BUF).map_or(0, |len| 2 + len)
    }

    fn header<'a>(
        &self,
        now: Timestamp,
        ty: PacketType,
        seq_nr: SeqNr,
        ack_nr: SeqNr,
        sack: Option<SelectiveAck<'a>>,
    ) -> PacketRepr<'a> {
        PacketRepr {
            packet_type: ty,
            connection_id: if ty == PacketType::Syn {
                self.recv_id
            } else {
                self.send_id
            },
            timestamp: now.to_wire(),
            timestamp_difference: self.reply_delay,
            window_size: u32::try_from(self.advertised_window_now()).unwrap_or(u32::MAX),
            seq_nr,
            ack_nr,
            selective_ack: sack,
            close_reason: None,
            payload: &[],
        }
    }

    fn finish_emit(
        &mut self,
        now: Timestamp,
        repr: &PacketRepr<'_>,
        buf: &mut [u8],
    ) -> Option<usize> {
        let len = repr.emit(buf).ok()?;
        self.after_send(now, repr.window_size as usize);
        Some(len)
    }

    fn after_send(&mut self, now: Timestamp, window: usize) {
        self.stats.packets_sent += 1;
        self.last_send = now;
        self.keepalive_due = false;
        self.advertised_window = window;
    }

    fn emit_syn(&mut self, now: Timestamp, seq: SeqNr, buf: &mut [u8]) -> Option<usize> {
        let repr = self.header(now, PacketType::Syn, seq, SeqNr::new(0), None);
        self.finish_emit(now, &repr, buf)
    }

    fn emit_control(&mut self, now: Timestamp, ty: PacketType, buf: &mut [u8]) -> Option<usize> {
        let mut scratch = [0u8; SACK_BUF];
        let sack = self
            .recv
            .sack(&mut scratch)
            .and_then(|len| scratch.get(..len))
            .and_then(SelectiveAck::new);
        let ack_nr = self.recv.ack_nr();
        let mut repr = self.header(now, ty, self.seq_nr, ack_nr, sack);
        if ty == PacketType::Reset {
            repr.selective_ack = None;
        }
        let len = self.finish_emit(now, &repr, buf);
        if len.is_some() && ty == PacketType::State {
            self.ack_pending = false;
            self.full_packets_unacked = 0;
        }
        len
    }

    /// libutp's keepalive: a STATE acknowledging one less than we have,
    /// which the peer ignores as an old ack.
    fn emit_keepalive(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        let repr = self.header(
            now,
            PacketType::State,
            self.seq_nr,
            self.recv.ack_nr() - 1,
            None,
        );
        self.finish_emit(now, &repr, buf)
    }

    /// Emits a DATA or FIN carrying stream bytes `[offset, offset + len)`,
    /// with the current ack and SACK (left out if it would not fit).
    fn emit_payload_packet(
        &mut self,
        now: Timestamp,
        ty: PacketType,
        seq: SeqNr,
        offset: u64,
        len: usize,
        buf: &mut [u8],
    ) -> Option<usize> {
        let mut scratch = [0u8; SACK_BUF];
        let sack = self
            .recv
            .sack(&mut scratch)
            .filter(|sack_len| HEADER_LEN + 2 + sack_len + len <= self.packet_size)
            .and_then(|sack_len| scratch.get(..sack_len))
            .and_then(SelectiveAck::new);
        let repr = self.header(now, ty, seq, self.recv.ack_nr(), sack);
        let header_len = repr.buffer_len();
        let total = header_len + len;
        if total > buf.len() {
            return None;
        }
        let (head, rest) = buf.split_at_mut(header_len);
        repr.emit(head).ok()?;
        let payload = rest.get_mut(..len)?;
        if !self.send.copy_out(offset, payload) {
            return None;
        }
        self.after_send(now, repr.window_size as usize);
        // A packet carrying our current ack makes a pending STATE and the
        // remembered acks redundant.
        self.ack_pending = false;
        self.full_packets_unacked = 0;
        self.snapshots = [None; ACK_SNAPSHOTS];
        Some(total)
    }
}
