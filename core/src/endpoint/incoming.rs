//! What arrives for no connection: SYNs (answered with a half-open
//! connection, a SYN cookie, a refusal or nothing), packets that may prove a
//! cookie, RESETs naming our send id, and packets for unknown connections
//! (RESET); and the replies sent without a connection, within the limits
//! on replies to unproven addresses ([`limit`](super::limit)).

use super::{cookie, Endpoint, Owner, PendingReply, MAX_PENDING_REPLIES, PRESSURE_HOLD};
use crate::config::{AcceptDecision, SynCookies, SynInfo};
use crate::conn::Connection;
use crate::event::Event;
use crate::peer::Peer;
use crate::seq::SeqNr;
use crate::time::Timestamp;
use crate::wire::{PacketRepr, PacketType};

impl<P: Peer> Endpoint<P> {
    /// A RESET may name our send id rather than our receive id (libutp
    /// answers with the id it received).
    pub(super) fn on_unknown_reset(&mut self, now: Timestamp, from: P, packet: &PacketRepr<'_>) {
        for recv_id in [
            packet.connection_id.wrapping_sub(1),
            packet.connection_id.wrapping_add(1),
        ] {
            if let Some(index) = self.routes.get(&(from.clone(), recv_id)) {
                let matches = self
                    .slots
                    .get(index as usize)
                    .and_then(|s| s.conn.as_deref())
                    .is_some_and(|c| c.send_id() == packet.connection_id);
                if matches {
                    self.deliver(now, index, packet);
                    return;
                }
            }
        }
        self.stats.unknown_connection += 1;
    }

    pub(super) fn on_unknown(&mut self, now: Timestamp, from: P, packet: &PacketRepr<'_>) {
        self.stats.unknown_connection += 1;
        if now < self.cookies_until {
            // It may be the initiator's first packet after a cookie.
            if self.try_cookie(now, &from, packet) {
                self.stats.unknown_connection -= 1;
                return;
            }
            // Or one after a lost first packet: a RESET would kill that
            // connection, so none while cookies may be in use.
            self.stats.cookies_invalid += 1;
            return;
        }
        if self.config.reset_unknown {
            self.queue_reset(
                now,
                from,
                packet.connection_id,
                packet.seq_nr,
                packet.ack_nr,
            );
        }
    }

    /// Whether the reply limits let one more datagram go to `to` (which
    /// has not proved it receives what we send); counts it if so.
    pub(super) fn may_reply(&mut self, now: Timestamp, to: &P) -> bool {
        let allowed = match to.socket_addr() {
            Some(addr) => self.limiter.allow(now, &addr.ip()),
            None => self.limiter.allow(now, to),
        };
        if allowed {
            return true;
        }
        self.stats.replies_suppressed += 1;
        false
    }

    pub(super) fn queue_reply(&mut self, now: Timestamp, reply: PendingReply<P>) -> bool {
        if self.replies.len() >= MAX_PENDING_REPLIES || !self.may_reply(now, &reply.to) {
            if self.replies.len() >= MAX_PENDING_REPLIES {
                self.stats.replies_suppressed += 1;
            }
            return false;
        }
        self.replies.push_back(reply);
        true
    }

    /// libutp's answer to a packet for a connection it does not know:
    /// RESET with the id received and ack_nr = the packet's seq_nr. Its
    /// seq_nr echoes the packet's ack_nr (it must say nothing new).
    pub(super) fn queue_reset(
        &mut self,
        now: Timestamp,
        to: P,
        connection_id: u16,
        ack_nr: SeqNr,
        seq_nr: SeqNr,
    ) {
        self.queue_reply(
            now,
            PendingReply {
                to,
                packet_type: PacketType::Reset,
                connection_id,
                seq_nr,
                ack_nr,
                timestamp_difference: crate::time::TimestampDiff::NONE,
                window_size: 0,
            },
        );
    }

    pub(super) fn refuse_syn(&mut self, now: Timestamp, from: P, syn: &PacketRepr<'_>) {
        self.stats.syns_refused += 1;
        self.queue_reset(now, from, syn.connection_id, syn.seq_nr, syn.ack_nr);
    }

    pub(super) fn on_syn(&mut self, now: Timestamp, from: P, syn: &PacketRepr<'_>) {
        // The acceptor receives on id + 1: a retransmitted SYN finds the
        // connection it created there, and a first one the connection
        // expected with that id (`accept_with_id`).
        let key = (from, syn.connection_id.wrapping_add(1));
        if let Some(index) = self.routes.get(&key) {
            let (from, _) = key;
            // While half-open, its answer goes to an unproven address.
            let half_open = self.slots.get(index as usize).is_some_and(|s| s.half_open);
            if !half_open || self.may_reply(now, &from) {
                self.deliver(now, index, syn);
            }
            return;
        }
        let (from, _) = key;
        // Crossing a rendezvous connect of ours: the contest decides.
        if self.on_rendezvous_syn(now, &from, syn) {
            return;
        }
        let Some(listener) = self.listener.as_mut() else {
            // Nobody listens: refuse, as libutp does for unknown ids.
            if self.config.reset_unknown {
                self.refuse_syn(now, from, syn);
            } else {
                self.stats.syns_ignored += 1;
            }
            return;
        };
        let decision = (listener.filter)(&SynInfo {
            peer: &from,
            connection_id: syn.connection_id,
        });
        let early_data = listener.early_data;
        // Half-open connections count here too: each may become one. Under
        // pressure they no longer grow, and only established ones count.
        let table_full = self.half_open >= self.config.max_half_open;
        let cookie = match self.config.syn_cookies {
            SynCookies::Off => false,
            SynCookies::OnPressure => table_full || now < self.pressure_until,
            SynCookies::Always => true,
        };
        let connections = if cookie {
            self.live - self.half_open
        } else {
            self.live
        };
        let full =
            connections >= self.config.max_connections || listener.queue.len() >= listener.backlog;
        let decision = match decision {
            AcceptDecision::Accept if full => {
                if self.config.refuse_when_full {
                    AcceptDecision::Refuse
                } else {
                    AcceptDecision::Ignore
                }
            }
            d => d,
        };
        match decision {
            AcceptDecision::Accept => {}
            AcceptDecision::Refuse => return self.refuse_syn(now, from, syn),
            AcceptDecision::Ignore => {
                self.stats.syns_ignored += 1;
                return;
            }
        }
        if cookie {
            return self.send_cookie(now, from, syn);
        }
        if table_full {
            self.stats.syns_ignored += 1;
            return;
        }
        if !self.may_reply(now, &from) {
            return;
        }
        let our_seq = SeqNr::new(self.rng.next_u16());
        let conn = Connection::accept(&self.config, now, &from, syn, our_seq, early_data);
        let owner = if early_data {
            Owner::Queued
        } else {
            Owner::Endpoint
        };
        let handle = self.insert(from, conn, owner);
        self.stats.accepted += 1;
        if self.half_open >= self.config.syn_cookie_threshold {
            self.pressure_until = now + PRESSURE_HOLD;
        }
        if early_data {
            if let Some(listener) = self.listener.as_mut() {
                listener.queue.push_back(handle);
            }
            self.events.push_back(Event::Incoming);
        }
    }

    /// Answers `syn` with a cookie STATE and keeps nothing.
    pub(super) fn send_cookie(&mut self, now: Timestamp, from: P, syn: &PacketRepr<'_>) {
        let cookie = self
            .cookie_key
            .make(now, &from, syn.connection_id, syn.seq_nr);
        let sent = self.queue_reply(
            now,
            PendingReply {
                to: from,
                packet_type: PacketType::State,
                connection_id: syn.connection_id,
                seq_nr: cookie,
                ack_nr: syn.seq_nr,
                timestamp_difference: now.to_wire().difference_since(syn.timestamp),
                window_size: u32::try_from(self.config.recv_buffer).unwrap_or(u32::MAX),
            },
        );
        if sent {
            self.stats.cookies_sent += 1;
            self.cookies_until = now + cookie::BUCKET * 2;
        }
    }

    /// Builds the connection a valid cookie stands for, from the
    /// initiator's first packet after it (its seq_nr is the SYN's + 1 and
    /// it acknowledges the cookie - 1); returns whether `p` was that.
    pub(super) fn try_cookie(&mut self, now: Timestamp, from: &P, p: &PacketRepr<'_>) -> bool {
        if p.packet_type == PacketType::Reset {
            return false;
        }
        let cookie = p.ack_nr + 1;
        let (syn_id, syn_seq) = (p.connection_id.wrapping_sub(1), p.seq_nr - 1);
        if !self.cookie_key.verify(now, from, syn_id, syn_seq, cookie) {
            return false;
        }
        let Some(listener) = self.listener.as_ref() else {
            return false;
        };
        if self.live - self.half_open >= self.config.max_connections
            || listener.queue.len() >= listener.backlog
        {
            // It proved its address, so it may be told.
            self.stats.syns_refused += 1;
            self.queue_reset(
                now,
                from.clone(),
                p.connection_id.wrapping_sub(1),
                p.seq_nr,
                p.ack_nr,
            );
            return true;
        }
        let conn = Connection::from_cookie(&self.config, now, from, p, cookie);
        let handle = self.insert(from.clone(), conn, Owner::Queued);
        self.stats.accepted += 1;
        self.stats.cookies_accepted += 1;
        if let Some(listener) = self.listener.as_mut() {
            listener.queue.push_back(handle);
        }
        self.events.push_back(Event::Incoming);
        self.deliver(now, handle.index, p);
        true
    }
}

pub(super) fn emit_reply<P>(
    now: Timestamp,
    reply: &PendingReply<P>,
    buf: &mut [u8],
) -> Option<usize> {
    let repr = PacketRepr {
        packet_type: reply.packet_type,
        connection_id: reply.connection_id,
        timestamp: now.to_wire(),
        timestamp_difference: reply.timestamp_difference,
        window_size: reply.window_size,
        seq_nr: reply.seq_nr,
        ack_nr: reply.ack_nr,
        selective_ack: None,
        close_reason: None,
        payload: &[],
    };
    repr.emit(buf).ok()
}
