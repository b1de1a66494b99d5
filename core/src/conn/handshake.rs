//! The handshake and the rules that keep it safe on a hostile network.
//!
//! Initiator (`SynSent`): only the acceptor's STATE, which carries the
//! acceptor's first sequence number S, completes the handshake; we then
//! acknowledge S - 1 at once (the third packet of the handshake, which
//! proves our address to the acceptor). That packet is sent again, at the
//! retransmission timeout and backing off, until the acceptor shows it is
//! past the handshake (a DATA or FIN, or an ack of our data) or the
//! connect timeout passes: an initiator that only reads would otherwise
//! wait for data from an acceptor that never got it. A DATA or FIN that arrives first
//! (the STATE was lost or overtaken) cannot say what S is for every peer,
//! so it is held, one packet at most, and the SYN goes again at once: our
//! acceptor answers a repeated SYN with its original STATE, and the held
//! packet is placed once S is known.
//!
//! Acceptor (`HalfOpen`): the SYN is answered with STATE(S), and a repeated
//! SYN with the same STATE. Until a packet acknowledging S - 1 (or our one
//! early packet) arrives, the connection sends nothing else (one DATA or
//! FIN with `ListenConfig::early_data`), no keepalives, and dies after
//! `Config::half_open_timeout`.
//!
//! RESET: believed when its ack_nr names a packet we sent lately (libutp
//! answers with the sequence number it received) or our next one. utp-rs
//! sends ack_nr 0 whatever it answers; such a RESET is challenged: we
//! send at once (an ack, and the oldest packet in flight again, or the SYN),
//! and believe a second one only if nothing from the peer arrived after
//! the challenge for a round trip. A live peer's answers clear it.

use core::time::Duration;

use super::{Connection, EventSink, Phase};
use crate::event::{CloseReason, Event};
use crate::seq::SeqNr;
use crate::time::Timestamp;
use crate::wire::{PacketRepr, PacketType};

/// How far behind our oldest unacknowledged packet a RESET's ack_nr may
/// be (it answers a packet of ours that was acknowledged meanwhile).
const RESET_SLACK: u16 = 64;

/// The shortest wait before a challenged RESET is believed.
const CHALLENGE_MIN_WAIT: Duration = Duration::from_millis(10);

/// A DATA or FIN that reached the initiator before the acceptor's STATE.
#[derive(Debug)]
struct Early {
    seq_nr: SeqNr,
    fin: bool,
    payload: Vec<u8>,
}

#[derive(Debug)]
pub(super) struct Handshake {
    /// Acceptor: our first sequence number S (the STATE's, and our first
    /// DATA's).
    initial_seq: SeqNr,
    /// Acceptor: answer with STATE(S) on the next transmit.
    pub(super) syn_ack_pending: bool,
    /// Acceptor: when the half-open connection dies unproven.
    pub(super) half_open_until: Option<Timestamp>,
    /// Acceptor: one packet may go before the initiator is heard.
    pub(super) early_data: bool,
    /// Initiator: a packet held until S is known (boxed: rare, and the
    /// handshake state stays small).
    held: Option<Box<Early>>,
    /// Initiator: the SYN was already resent because of a held packet.
    syn_rushed: bool,
    /// When an unverifiable RESET (ack_nr 0) was challenged.
    pub(super) reset_challenge: Option<Timestamp>,
    /// Expected acceptor (`on_expected_syn`): nothing came after the SYN
    /// yet, so a repeated SYN means our STATE was lost.
    pub(crate) expected_unheard: bool,
    /// A rendezvous acceptor: half-open until proven, and `Connected` then.
    pub(crate) prove_first: bool,
    /// A rendezvous half-closed because the peer's other connection was
    /// kept (`Endpoint::settle_duplicate`): writes say so.
    pub(super) superseded: bool,
    /// Initiator: when to send the third packet again, the interval, and
    /// when to stop.
    pub(super) third_again: Option<(Timestamp, Duration, Timestamp)>,
}

impl Handshake {
    pub(super) fn new(initial_seq: SeqNr) -> Self {
        Handshake {
            initial_seq,
            syn_ack_pending: false,
            half_open_until: None,
            early_data: false,
            held: None,
            syn_rushed: false,
            reset_challenge: None,
            expected_unheard: false,
            prove_first: false,
            superseded: false,
            third_again: None,
        }
    }

    /// Whether an acceptor whose next sequence number is `seq_nr` has sent
    /// its early packet.
    pub(super) fn sent_early_data(&self, seq_nr: SeqNr) -> bool {
        seq_nr != self.initial_seq
    }
}

impl Connection {
    /// A SYN on an existing connection. From the initiator it is a
    /// retransmission (our STATE was lost): the same STATE again while
    /// half-open, a plain ack once it has spoken. Anything else is invalid.
    pub(super) fn on_duplicate_syn(&mut self, p: &PacketRepr<'_>) {
        if self.syn_seq.is_some() || p.seq_nr != self.initial_peer_seq {
            self.stats.dropped_invalid += 1;
            return;
        }
        self.stats.duplicates += 1;
        match self.phase {
            Phase::HalfOpen => self.hs.syn_ack_pending = true,
            Phase::Established if self.hs.expected_unheard => self.hs.syn_ack_pending = true,
            Phase::Established => self.ack_pending = true,
            _ => {}
        }
    }

    /// A packet for a connection expected with an agreed id: only the
    /// initiator's SYN, which makes it an established acceptor at once
    /// (the id, agreed out of band, stands for the proof a half-open
    /// acceptor waits for), answered with STATE(S) like any acceptor's.
    /// Until the initiator is heard again, a repeated SYN gets that STATE
    /// again (`on_duplicate_syn`).
    pub(super) fn on_expected_syn(
        &mut self,
        now: Timestamp,
        p: &PacketRepr<'_>,
        events: &mut EventSink<'_>,
    ) {
        if p.packet_type != PacketType::Syn {
            self.stats.dropped_invalid += 1;
            return;
        }
        self.initial_peer_seq = p.seq_nr;
        self.recv.set_ack_nr(p.seq_nr);
        self.hs.syn_ack_pending = true;
        if self.hs.prove_first {
            // A rendezvous acceptor waits for the initiator's next packet,
            // which shows the path works both ways (through both NATs),
            // before it is connected; its deadline stays.
            self.phase = Phase::HalfOpen;
            self.peer_window = p.window_size.max(self.packet_size as u32);
            self.reply_delay = now.to_wire().difference_since(p.timestamp);
            self.stats.packets_received += 1;
            self.last_recv = now;
            return;
        }
        self.phase = Phase::Established;
        self.connect_deadline = None;
        self.hs.expected_unheard = true;
        // As `accept`: room for a packet until the peer's first real
        // advertisement (libtorrent and librqbit-utp advertise 0 in a SYN).
        self.peer_window = p.window_size.max(self.packet_size as u32);
        self.reply_delay = now.to_wire().difference_since(p.timestamp);
        self.stats.packets_received += 1;
        self.last_recv = now;
        crate::trace::conn_event!(self, "handshake complete: the expected SYN arrived");
        events.push(Event::Connected(events.handle));
    }

    /// A non-SYN packet while we wait for the acceptor's STATE. Returns
    /// whether to go on processing it (it was that STATE).
    pub(super) fn on_syn_answer(
        &mut self,
        now: Timestamp,
        p: &PacketRepr<'_>,
        events: &mut EventSink<'_>,
    ) -> bool {
        if Some(p.ack_nr) != self.syn_seq {
            self.stats.dropped_invalid += 1;
            return false;
        }
        if p.packet_type != PacketType::State {
            // Its sequence number is S only if the acceptor sends one packet
            // before it hears from us (ours does; not every stack does). Hold
            // it and ask again for the STATE, which says S for certain.
            if self.hs.held.is_none() && p.payload.len() <= self.recv.capacity() {
                self.hs.held = Some(Box::new(Early {
                    seq_nr: p.seq_nr,
                    fin: p.packet_type == PacketType::Fin,
                    payload: p.payload.to_vec(),
                }));
            }
            if !core::mem::replace(&mut self.hs.syn_rushed, true) {
                self.in_flight.mark_first_lost();
            }
            return false;
        }
        // The acceptor's STATE carries its first sequence number S and
        // consumes none: its first DATA is S too. So we have received
        // everything up to S - 1.
        self.recv.set_ack_nr(p.seq_nr - 1);
        self.initial_peer_seq = p.seq_nr - 1;
        self.phase = Phase::Established;
        self.connect_deadline = None;
        // The third packet of the handshake: it proves to the acceptor that
        // we received its STATE (a DATA sent at once carries it instead).
        self.ack_pending = true;
        let rto = self.rtt.rto();
        self.hs.third_again = Some((now + rto, rto, now + self.connect_timeout));
        crate::trace::conn_event!(self, "handshake complete");
        events.push(Event::Connected(events.handle));
        if let Some(early) = self.hs.held.take() {
            self.stats.packets_received += 1;
            self.process_payload(early.seq_nr, &early.payload, early.fin, events);
        }
        true
    }

    /// A non-SYN packet on a half-open connection: it proves the initiator
    /// received our STATE (or our early packet) if it acknowledges S - 1 or
    /// later. Returns whether to go on processing it.
    pub(super) fn on_proof(&mut self, p: &PacketRepr<'_>, events: &mut EventSink<'_>) -> bool {
        let before_first = self.hs.initial_seq - 1;
        let span = u32::from(self.seq_nr.distance_from(before_first));
        if !p.ack_nr.in_window(before_first, span) {
            self.stats.dropped_invalid += 1;
            return false;
        }
        self.phase = Phase::Established;
        self.hs.half_open_until = None;
        crate::trace::conn_event!(self, "handshake complete: the initiator proved its address");
        if core::mem::take(&mut self.hs.prove_first) {
            // A rendezvous acceptor: connected now that the path works both
            // ways (`rendezvous.rs`).
            self.connect_deadline = None;
            events.push(Event::Connected(events.handle));
        }
        true
    }

    /// After a packet from the peer was accepted: once it shows the
    /// acceptor is past the handshake, the third packet need not go again.
    pub(super) fn on_peer_progress(&mut self, p: &PacketRepr<'_>) {
        if self.hs.third_again.is_some()
            && (p.packet_type != PacketType::State || Some(p.ack_nr) != self.syn_seq)
        {
            self.hs.third_again = None;
        }
    }

    /// The third packet's timer: due, it sends the packet again.
    pub(super) fn on_third_timer(&mut self, now: Timestamp) {
        let Some((at, interval, until)) = self.hs.third_again else {
            return;
        };
        if now < at {
            return;
        }
        if now >= until {
            self.hs.third_again = None;
            return;
        }
        self.ack_pending = true;
        let interval = interval * 2;
        self.hs.third_again = Some((now + interval, interval, until));
    }

    /// Whether a half-open acceptor may send new data now: only its one
    /// early packet, and only with `early_data`.
    pub(super) fn may_send_data(&self) -> bool {
        self.phase != Phase::HalfOpen
            || (self.hs.early_data && !self.hs.sent_early_data(self.seq_nr))
    }

    /// The acceptor's STATE: sequence number S, acknowledging the SYN.
    pub(super) fn emit_syn_ack(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<usize> {
        let repr = self.header(
            now,
            PacketType::State,
            self.hs.initial_seq,
            self.initial_peer_seq,
            None,
        );
        self.finish_emit(now, &repr, buf)
    }

    /// Whether a RESET routed to this connection ends it.
    pub(super) fn reset_is_believed(&mut self, now: Timestamp, p: &PacketRepr<'_>) -> bool {
        if self.rendezvous.is_some() && matches!(self.phase, Phase::SynSent | Phase::HalfOpen) {
            // A rendezvous peer that has not started yet refuses our SYN (or
            // our STATE, from its side of a NAT that has not opened yet): it
            // will answer a later one (`rendezvous.rs`). Unproven, a RESET
            // says nothing the deadline does not.
            self.stats.dropped_invalid += 1;
            return false;
        }
        let plausible = match self.phase {
            // libutp refuses with ack_nr = our SYN's sequence number.
            Phase::SynSent => Some(p.ack_nr) == self.syn_seq,
            _ => {
                let oldest = self.in_flight.first_seq().unwrap_or(self.seq_nr) - 1 - RESET_SLACK;
                let span = u32::from(self.seq_nr.distance_from(oldest)) + 1;
                p.ack_nr.in_window(oldest, span)
            }
        };
        if plausible {
            return true;
        }
        if p.ack_nr.get() != 0 {
            self.stats.dropped_invalid += 1;
            return false;
        }
        // utp-rs's form: challenge it.
        match self.hs.reset_challenge {
            Some(at) if now >= at + self.challenge_wait() => true,
            Some(_) => {
                self.stats.dropped_invalid += 1;
                false
            }
            None => {
                self.hs.reset_challenge = Some(now);
                self.stats.dropped_invalid += 1;
                // Provoke an answer from a live peer: an ack, and the oldest
                // packet in flight (the SYN while connecting) again.
                self.ack_pending = self.phase != Phase::SynSent;
                self.in_flight.mark_first_lost();
                false
            }
        }
    }

    /// How long a challenged peer has to show it is alive: a round trip.
    fn challenge_wait(&self) -> Duration {
        let rtt = if self.rtt.has_sample() {
            self.rtt.srtt()
        } else {
            self.rtt.rto() / 2
        };
        rtt.max(CHALLENGE_MIN_WAIT)
    }

    /// The network said nothing listens at the remote's port (ICMP port
    /// unreachable): an initiator still waiting for the SYN's answer is
    /// refused at once; in any other phase the message is ignored (see
    /// [`Endpoint::handle_unreachable`](crate::Endpoint::handle_unreachable)).
    /// Whether it closed.
    pub(crate) fn on_unreachable(&mut self, now: Timestamp, events: &mut EventSink<'_>) -> bool {
        // A rendezvous peer may bind its socket after our first SYN.
        if self.phase != Phase::SynSent || self.rendezvous.is_some() {
            return false;
        }
        self.finish(now, CloseReason::Refused, events);
        true
    }

    /// What a believed RESET means.
    pub(super) fn reset_reason(&self) -> CloseReason {
        // The FIN is the last packet we send: when it is the oldest one in
        // flight, everything before it was acknowledged.
        let only_fin_unacked = self.fin_seq.is_some() && self.in_flight.first_seq() == self.fin_seq;
        if self.phase == Phase::SynSent {
            CloseReason::Refused
        } else if self.recv.is_eof() && (self.fin_acked || only_fin_unacked) {
            // Every byte went both ways and the peer sent its FIN: it
            // finished and forgot us before our FIN's ack reached us
            // (libutp answers a connection it no longer has with RESET).
            CloseReason::Finished
        } else {
            CloseReason::Reset
        }
    }
}
