//! Hosts: adding, reaching and waking them; what was sent to nobody or in
//! somebody else's name; the global counters.

use super::*;

impl<H: Host> Sim<H> {
    // ---- hosts ------------------------------------------------------------

    /// Binds `host` to `addr`. It is drained (transmits and timer) before
    /// the next event.
    ///
    /// If a host was already bound to `addr` it is replaced and returned,
    /// like [`HashMap::insert`]: a way to simulate a restart. Its timer is
    /// forgotten; datagrams in flight to `addr` reach the new host.
    pub fn add_host(&mut self, addr: SocketAddr, host: H) -> Option<H> {
        let old = match self.index.get(&addr) {
            Some(&idx) => {
                let slot = self.hosts.get_mut(idx)?;
                slot.timer = None;
                slot.timer_gen = slot.timer_gen.wrapping_add(1);
                slot.fired_at = None;
                Some(core::mem::replace(&mut slot.host, host))
            }
            None => {
                let idx = self.hosts.len();
                self.hosts.push(Slot {
                    addr,
                    host,
                    timer: None,
                    timer_gen: 0,
                    dirty: false,
                    fired_at: None,
                });
                self.index.insert(addr, idx);
                None
            }
        };
        if let Some(&idx) = self.index.get(&addr) {
            self.mark_dirty(idx);
        }
        old
    }

    /// The host bound to `addr`.
    ///
    /// # Panics
    ///
    /// If no host is bound to `addr`; see [`Sim::try_host`].
    #[track_caller]
    #[allow(clippy::panic)] // A test helper: an unknown address is a bug in the test.
    pub fn host(&self, addr: SocketAddr) -> &H {
        match self.try_host(addr) {
            Some(h) => h,
            None => panic!("utp-sim: no host bound to {addr}"),
        }
    }

    /// The host bound to `addr`, for the test to act on it (open a
    /// connection, write data...). The host is drained (transmits and
    /// timer) before the next event.
    ///
    /// # Panics
    ///
    /// If no host is bound to `addr`; see [`Sim::try_host_mut`].
    #[track_caller]
    #[allow(clippy::panic)] // A test helper: an unknown address is a bug in the test.
    pub fn host_mut(&mut self, addr: SocketAddr) -> &mut H {
        match self.try_host_mut(addr) {
            Some(h) => h,
            None => panic!("utp-sim: no host bound to {addr}"),
        }
    }

    /// The host bound to `addr`, if any.
    pub fn try_host(&self, addr: SocketAddr) -> Option<&H> {
        let idx = *self.index.get(&addr)?;
        self.hosts.get(idx).map(|s| &s.host)
    }

    /// The host bound to `addr`, if any; see [`Sim::host_mut`].
    pub fn try_host_mut(&mut self, addr: SocketAddr) -> Option<&mut H> {
        let idx = *self.index.get(&addr)?;
        self.mark_dirty(idx);
        let slot = self.hosts.get_mut(idx)?;
        slot.fired_at = None;
        Some(&mut slot.host)
    }

    /// Every host with its address, in the order they were added.
    pub fn hosts(&self) -> impl Iterator<Item = (SocketAddr, &H)> + '_ {
        self.hosts.iter().map(|s| (s.addr, &s.host))
    }

    /// Marks the host at `addr` to be drained before the next event. Only
    /// needed when its state changed behind the simulator's back (through
    /// shared ownership) rather than through [`Sim::host_mut`].
    pub fn wake(&mut self, addr: SocketAddr) {
        if let Some(&idx) = self.index.get(&addr) {
            self.mark_dirty(idx);
        }
    }

    /// [`Sim::wake`] for every host.
    pub fn wake_all(&mut self) {
        for idx in 0..self.hosts.len() {
            self.mark_dirty(idx);
        }
    }

    /// Global counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Datagrams on their way (scheduled for delivery).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// What was sent to `to` while no host was bound there (a spoofed
    /// source, say): those datagrams are dropped as
    /// [`DropReason::NoSuchHost`] and counted here.
    pub fn unrouted(&self, to: SocketAddr) -> Traffic {
        self.unrouted.get(&to).copied().unwrap_or_default()
    }

    /// [`Sim::unrouted`] for every address that got something, ordered by
    /// address. [`SimStats::unrouted`] is the total.
    pub fn unrouted_all(&self) -> impl ExactSizeIterator<Item = (SocketAddr, Traffic)> + '_ {
        self.unrouted.iter().map(|(&a, &t)| (a, t))
    }

    /// What was sent in the name of `source` without coming from the host
    /// bound there: datagrams of other hosts that claimed `source`
    /// ([`Transmit::source`]) and datagrams the test injected from it
    /// ([`Sim::inject`]). [`SimStats::spoofed`] is the total.
    pub fn spoofed(&self, source: SocketAddr) -> Traffic {
        self.spoofed.get(&source).copied().unwrap_or_default()
    }

    /// [`Sim::spoofed`] for every address claimed, ordered by address.
    pub fn spoofed_all(&self) -> impl ExactSizeIterator<Item = (SocketAddr, Traffic)> + '_ {
        self.spoofed.iter().map(|(&a, &t)| (a, t))
    }

    /// Sends `data` now from the test itself, as if `from` (which need not
    /// be a host) had sent it to `to`: it goes through the link
    /// `from -> to` like any datagram (without the don't-fragment bit) and
    /// counts as [spoofed](Sim::spoofed) in the name of `from`. A host that
    /// spoofs on its own, at its own pace, sets [`Transmit::source`]
    /// instead.
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.route(from, from, to, data, false, true);
    }
}
