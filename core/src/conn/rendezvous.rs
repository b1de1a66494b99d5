//! A connection's side of a rendezvous (`Endpoint::connect_rendezvous`):
//! both peers connect to each other at once, as hole punching through
//! NATs needs. Each sends plain BEP 29 SYNs at a steady rate (no backoff)
//! until the other's arrives; the endpoint then holds a contest both sides
//! compute alike (the lower SYN, by connection id then sequence number,
//! initiates), and the loser's connection becomes the acceptor of the
//! winner's SYN (`Endpoint::rendezvous_syn`). The connection keeps its
//! handle through that, and what the application wrote meanwhile.

use core::time::Duration;

use super::{Connection, EventSink, Phase};
use crate::config::Config;
use crate::event::Event;
use crate::peer::Peer;
use crate::seq::SeqNr;
use crate::time::Timestamp;

impl Connection {
    /// An outgoing rendezvous connection: as `connect`, its SYN sent again
    /// every `interval` until `Config::rendezvous_timeout`.
    pub(crate) fn connect_rendezvous<P: Peer>(
        config: &Config,
        now: Timestamp,
        remote: &P,
        recv_id: u16,
        isn: SeqNr,
        interval: Duration,
    ) -> Self {
        let mut c = Connection::connect(config, now, remote, recv_id, isn);
        c.rendezvous = Some(interval);
        c.keepalive = rendezvous_keepalive(config);
        c.nat_quiet = nat_quiet(config);
        c.connect_deadline = Some(now + config.rendezvous_timeout);
        c
    }

    /// While a rendezvous SYN is unanswered: its connection id and
    /// sequence number, what the contest compares.
    pub(crate) fn rendezvous_syn(&self) -> Option<(u16, SeqNr)> {
        if self.rendezvous.is_none() || self.phase != Phase::SynSent {
            return None;
        }
        Some((self.recv_id, self.syn_seq?))
    }

    /// A rendezvous not yet connected: its SYN unanswered, or, as the
    /// acceptor, not yet proven.
    pub(crate) fn rendezvous_waiting(&self) -> bool {
        self.rendezvous.is_some() && matches!(self.phase, Phase::SynSent | Phase::HalfOpen)
    }

    /// When the SYN goes again: the rendezvous interval while connecting
    /// by rendezvous, the retransmission timeout otherwise.
    pub(super) fn syn_wait(&self) -> Duration {
        match (self.rendezvous, self.phase) {
            (Some(interval), Phase::SynSent) => interval,
            _ => self.rtt.rto(),
        }
    }

    /// The rendezvous resend timer: due, the SYN goes again, without
    /// backoff. Whether it was due.
    pub(super) fn on_rendezvous_timer(&mut self, now: Timestamp) -> bool {
        let Some(interval) = self.rendezvous else {
            return false;
        };
        if self.phase != Phase::SynSent || self.rto_deadline.is_none_or(|t| now < t) {
            return false;
        }
        self.in_flight.mark_all_lost();
        self.rto_deadline = Some(now + interval);
        true
    }

    /// An acceptor's connection from the peer an application now connects
    /// to by rendezvous (its SYN came before the call): the application
    /// asked for this peer, which stands for the proof a half-open acceptor
    /// waits for; it is established (if it was not) and says `Connected`.
    /// Whether it could be taken (an acceptor, not closed).
    pub(crate) fn adopt_for_rendezvous(
        &mut self,
        config: &Config,
        events: &mut EventSink<'_>,
    ) -> bool {
        if self.syn_seq.is_some() || self.is_closed() || self.phase == Phase::Expecting {
            return false;
        }
        self.rendezvous = Some(config.rendezvous_interval);
        self.keepalive = rendezvous_keepalive(config);
        self.nat_quiet = nat_quiet(config);
        if self.phase == Phase::HalfOpen {
            // `Connected` once the initiator proves the path.
            self.hs.prove_first = true;
            self.hs.early_data = false;
        } else {
            events.push(Event::Connected(events.handle));
        }
        true
    }

    /// The acceptor a losing rendezvous connection becomes
    /// (`Connection::expecting`, then the winner's SYN): half-open until the
    /// initiator's next packet, then `Connected`.
    pub(crate) fn prove_first(&mut self, config: &Config) {
        self.rendezvous = Some(config.rendezvous_interval);
        self.hs.prove_first = true;
        self.keepalive = rendezvous_keepalive(config);
        self.nat_quiet = nat_quiet(config);
    }

    /// The timer a retransmission timeout that gives up names: an expired
    /// NAT mapping when this rendezvous connection sent the data it could
    /// not deliver after a quiet of at least `Config::nat_mapping_timeout`.
    pub(super) fn retransmissions_timer(&self) -> crate::event::Timer {
        let quiet = self
            .unanswered_since
            .map(|sent| sent.saturating_duration_since(self.last_recv));
        match (quiet, self.nat_quiet) {
            (Some(quiet), Some(limit)) if quiet >= limit => crate::event::Timer::MappingExpired,
            _ => crate::event::Timer::Retransmissions,
        }
    }

    /// A rendezvous acceptor waiting for its proof gets it another way:
    /// the peer answered the SYN this connection had sent before it lost
    /// the contest (`Endpoint::on_lost_syn_answer`). Connected now; whether
    /// it was waiting.
    pub(crate) fn prove_rendezvous_acceptor(&mut self, events: &mut EventSink<'_>) -> bool {
        if self.rendezvous.is_none() || self.phase != Phase::HalfOpen || !self.hs.prove_first {
            return false;
        }
        self.phase = Phase::Established;
        self.hs.half_open_until = None;
        self.hs.prove_first = false;
        self.connect_deadline = None;
        crate::trace::conn_event!(
            self,
            "rendezvous acceptor proved: the peer answered our SYN"
        );
        events.push(Event::Connected(events.handle));
        true
    }

    /// The peer's SYN lost the contest to ours: it has not seen ours yet
    /// (or it would not send its own), so ours goes again at once rather
    /// than at the next interval. One SYN for one SYN.
    pub(crate) fn rendezvous_resend_now(&mut self) {
        if self.rendezvous_syn().is_some() {
            self.in_flight.mark_all_lost();
        }
    }

    /// Sets the keepalive interval (`Conn::set_keepalive`).
    pub(crate) fn set_keepalive(&mut self, interval: Option<Duration>) {
        self.keepalive = interval.filter(|k| !k.is_zero());
    }

    /// Takes over what the application gave `old` (a rendezvous connection
    /// this one replaces): unsent data, a half-close, the close-reason
    /// code, the rate cap, a waiting writer, and, while still connecting,
    /// the deadline.
    /// A rendezvous closed as a duplicate: half-closed, its FIN (after what
    /// was written) carrying `code`; writes from now on get
    /// [`Error::Duplicate`](crate::Error::Duplicate).
    pub(crate) fn supersede(&mut self, code: u16) {
        self.close_code = Some(code);
        self.shutdown();
        self.hs.superseded = true;
    }

    pub(crate) fn adopt(&mut self, old: Connection) {
        self.send = old.send;
        self.write_closed = old.write_closed;
        self.close_code = old.close_code;
        self.max_send_rate = old.max_send_rate;
        self.writable_wanted = old.writable_wanted;
        if matches!(self.phase, Phase::SynSent | Phase::Expecting) {
            self.connect_deadline = old.connect_deadline;
        }
    }
}

/// A rendezvous connection's keepalive: the shorter of
/// `Config::nat_mapping_timeout`, none if zero.
fn nat_quiet(config: &Config) -> Option<Duration> {
    config.nat_mapping_timeout.filter(|t| !t.is_zero())
}

/// `Config::rendezvous_keepalive` and `Config::keepalive` (none if both are
/// off).
fn rendezvous_keepalive(config: &Config) -> Option<Duration> {
    match (config.rendezvous_keepalive, config.keepalive) {
        (Some(r), Some(k)) => Some(r.min(k)),
        (r, k) => r.or(k),
    }
}
