//! Liveness (dropping connections that make no progress) and the reasons
//! behind the manager's disconnects.

use super::{DisconnectReason, Manager, Output, PeerId};
use crate::{CloseInfo, Timestamp};

impl Manager {
    /// Connection `id` has moved `bytes_total` bytes so far (a counter that
    /// only grows, for example bytes received plus bytes sent from the
    /// connection's stats). When it grew, the connection's stall timer
    /// starts again: a connection whose counter has not grown for
    /// [`stall_timeout`](super::ManagerConfig::stall_timeout) is dropped
    /// ([`Output::Disconnect`] with [`DisconnectReason::Stalled`]) and, if
    /// outbound, replaced. Reports for dials not connected yet, or unknown
    /// ids, are ignored.
    pub fn on_progress(&mut self, now: Timestamp, id: PeerId, bytes_total: u64) {
        self.advance(now);
        match self.peers.get_mut(&id) {
            Some(peer) if peer.connected => {
                if bytes_total > peer.progress {
                    peer.progress = bytes_total;
                    self.arm_stall(id);
                }
            }
            _ => self.stats.ignored_reports += 1,
        }
        self.pump(now);
    }

    /// As [`Manager::on_disconnected`], with what the peer said:
    /// `info.peer_code` (its close-reason code, if it sent one) is counted
    /// in [`ManagerStats::peer_reasons`](super::ManagerStats::peer_reasons)
    /// (for an id the manager still tracks; others are ignored as there).
    /// The typed reason is [`DisconnectReason::from_wire_code`] of it.
    pub fn on_disconnected_with(&mut self, now: Timestamp, id: PeerId, info: CloseInfo) {
        if self.peers.contains_key(&id) {
            self.stats.peer_reasons.count(info.peer_code);
        }
        self.on_disconnected(now, id, info.reason);
    }

    /// Why the manager asked to close `id`: for an [`Output::Disconnect`]
    /// still queued, or the one [`Manager::poll`] returned last (until the
    /// next `poll`). `None` for any other id.
    pub fn disconnect_reason(&self, id: PeerId) -> Option<DisconnectReason> {
        match self.last_reason {
            Some((last, reason)) if last == id => Some(reason),
            _ => self.reasons.get(&id).copied(),
        }
    }

    /// Queues the disconnect of `id` (forgotten already).
    pub(super) fn push_disconnect(&mut self, id: PeerId, reason: DisconnectReason) {
        self.reasons.insert(id, reason);
        self.outputs.push_back(Output::Disconnect { id });
    }

    /// (Re)starts the stall timer of established connection `id` at now.
    pub(super) fn arm_stall(&mut self, id: PeerId) {
        let Some(timeout) = self.config.stall_timeout else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Some(old) = peer.stall_at {
            self.stalls.remove(&(old, id));
        }
        let at = self.now + timeout;
        peer.stall_at = Some(at);
        self.stalls.insert((at, id));
    }

    /// Drops every connection whose stall deadline has come, earliest first,
    /// and applies the policy as after a disconnect (replacement dial,
    /// permanent peer backoff).
    pub(super) fn drop_stalled(&mut self) {
        while let Some(&(at, id)) = self.stalls.first() {
            if at > self.now {
                break;
            }
            self.stalls.remove(&(at, id));
            let Some(peer) = self.forget(id) else {
                continue;
            };
            self.stats.stalled += 1;
            self.push_disconnect(id, DisconnectReason::Stalled);
            self.after_end(peer);
        }
    }
}
