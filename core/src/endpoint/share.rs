//! The receive window the connections of one socket share
//! ([`Endpoint::set_recv_window_share`]).
//!
//! Every datagram for every connection waits in one socket receive buffer
//! until the loop reads it. Each connection advertises its own free
//! buffer (1 MiB by default), so 100 senders together may have 100 MiB in
//! flight towards a buffer of a few MiB: on a path faster than the loop
//! drains (loopback, a fast LAN) the socket drops most of each burst, and
//! every drop costs a retransmission or a timeout. While a share is set,
//! each connection advertises at most `total / receiving` bytes, where
//! `receiving` counts the connections that received data in this or the
//! previous [`EPOCH`], and never less than [`MIN_SHARE`]: the senders
//! together then keep about `total` bytes in flight.
//!
//! Counting is O(1) per data packet: a connection is counted once per
//! epoch (its slot remembers the last epoch it was counted in), and the
//! counts of the two epochs are all the endpoint keeps.

use core::time::Duration;

use super::*;

/// How long a connection counts as receiving after its last data packet
/// (between one and two of these).
pub(super) const EPOCH: Duration = Duration::from_millis(100);

/// The least window a share gives a connection: a few full packets, so
/// that each receiving connection still makes progress every round trip
/// however many there are.
pub(super) const MIN_SHARE: usize = 8 * 1024;

/// The counts behind the share.
#[derive(Debug, Default)]
pub(super) struct WindowShare {
    /// Bytes shared; `None`: no share, each connection advertises its own
    /// free buffer.
    total: Option<usize>,
    /// The epoch `receiving` counts (1-based; a slot's 0 is "never").
    epoch: u32,
    /// Connections that received data in `epoch`.
    receiving: u32,
    /// Connections that received data in the epoch before it.
    before: u32,
}

/// The number of the epoch `now` is in, from 1.
fn epoch_of(now: Timestamp) -> u32 {
    let n = now.as_micros() / EPOCH.as_micros() as u64;
    u32::try_from(n).unwrap_or(u32::MAX - 1).saturating_add(1)
}

impl WindowShare {
    pub(super) fn set_total(&mut self, total: Option<usize>) {
        self.total = total;
    }

    pub(super) fn total(&self) -> Option<usize> {
        self.total
    }

    /// A connection (its slot's `counted` epoch) received a data packet.
    pub(super) fn on_data(&mut self, now: Timestamp, counted: &mut u32) {
        let epoch = epoch_of(now);
        if epoch > self.epoch {
            self.before = if epoch == self.epoch.saturating_add(1) {
                self.receiving
            } else {
                0
            };
            self.receiving = 0;
            self.epoch = epoch;
        }
        if *counted != self.epoch {
            *counted = self.epoch;
            self.receiving = self.receiving.saturating_add(1);
        }
    }

    /// Connections receiving at `now`.
    fn receiving_at(&self, now: Timestamp) -> u32 {
        let epoch = epoch_of(now);
        if epoch <= self.epoch {
            self.receiving.max(self.before)
        } else if epoch == self.epoch.saturating_add(1) {
            self.receiving
        } else {
            0
        }
    }

    /// The most any connection may advertise at `now`.
    pub(super) fn cap(&self, now: Timestamp) -> usize {
        match self.total {
            None => usize::MAX,
            Some(total) => {
                let n = usize::try_from(self.receiving_at(now).max(1)).unwrap_or(usize::MAX);
                (total / n).max(MIN_SHARE)
            }
        }
    }
}

impl<P: Peer> Endpoint<P> {
    /// Shares `total` bytes of advertised receive window among the
    /// connections receiving now: each advertises at most `total`
    /// divided by the number of connections that received data in the
    /// last 100 to 200 ms, and at least 8 KiB (and, as always, no
    /// more than its own free buffer). `None` (the default) lifts the
    /// share. The window a connection advertises bounds what its peer
    /// keeps in flight, so the senders together keep about `total` bytes
    /// in flight towards this socket.
    ///
    /// What a driver sets when the socket's receive buffer overflowed
    /// (many connections receiving faster than the loop reads), with
    /// `total` about the bytes that buffer holds; the adapters do it on
    /// Linux, from the socket's drop counter. A share set all the time
    /// would also bound a path with a long round trip, where most of what
    /// is in flight is on the wire rather than in the buffer, to `total`
    /// per round trip for all connections together.
    pub fn set_recv_window_share(&mut self, total: Option<usize>) {
        self.share.set_total(total);
    }

    /// The share set by [`set_recv_window_share`](Self::set_recv_window_share).
    pub fn recv_window_share(&self) -> Option<usize> {
        self.share.total()
    }

    /// The most a connection may advertise now.
    pub(super) fn window_cap(&self) -> usize {
        self.share.cap(self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn no_share_caps_nothing() {
        let share = WindowShare::default();
        assert_eq!(share.cap(at(0)), usize::MAX);
    }

    #[test]
    fn the_share_divides_among_connections_receiving_lately() {
        let mut share = WindowShare::default();
        share.set_total(Some(400_000));
        // Nobody receiving yet: one connection's worth.
        assert_eq!(share.cap(at(0)), 400_000);
        let mut slots = [0u32; 4];
        for slot in &mut slots {
            share.on_data(at(10), slot);
            // Counted once per epoch, however many packets.
            share.on_data(at(20), slot);
        }
        assert_eq!(share.cap(at(20)), 100_000);
        // Next epoch: the previous count holds while the new one grows.
        share.on_data(at(150), &mut slots[0]);
        assert_eq!(share.cap(at(150)), 100_000);
        // The epoch after: only the one that went on receiving counts.
        assert_eq!(share.cap(at(210)), 400_000);
        share.on_data(at(210), &mut slots[1]);
        share.on_data(at(210), &mut slots[0]);
        assert_eq!(share.cap(at(250)), 200_000);
        // Long silence: nobody counts.
        assert_eq!(share.cap(at(10_000)), 400_000);
        share.on_data(at(10_000), &mut slots[2]);
        assert_eq!(share.cap(at(10_000)), 400_000);
    }

    #[test]
    fn the_share_never_falls_below_a_few_packets() {
        let mut share = WindowShare::default();
        share.set_total(Some(64 * 1024));
        let mut slots = vec![0u32; 1000];
        for slot in &mut slots {
            share.on_data(at(5), slot);
        }
        assert_eq!(share.cap(at(5)), MIN_SHARE);
        share.set_total(None);
        assert_eq!(share.cap(at(5)), usize::MAX);
    }

    #[test]
    fn epochs_survive_any_timestamp() {
        let mut share = WindowShare::default();
        share.set_total(Some(1 << 20));
        let mut slot = 0;
        share.on_data(Timestamp::from_micros(u64::MAX), &mut slot);
        assert_eq!(share.cap(Timestamp::from_micros(u64::MAX)), 1 << 20);
        assert_eq!(share.cap(Timestamp::ZERO), 1 << 20);
    }
}
