//! NAT boxes: adding them, placing hosts behind them, and the NAT rules
//! on the way out and in.

use super::*;

impl<H: Host> Sim<H> {
    // ---- NATs -------------------------------------------------------------

    /// Adds a NAT box with the public IP address `public_ip`; put private
    /// addresses behind it with [`Sim::place_behind_nat`]. See
    /// [NATs](crate#nats). Its random ports come from the simulator's seed
    /// and `public_ip`.
    ///
    /// Datagrams to `public_ip` go to the NAT from then on: a host bound to
    /// an address on it is no longer reachable.
    pub fn add_nat(&mut self, public_ip: IpAddr, config: NatConfig) -> Result<NatId, NatError> {
        if config.mapping_timeout.is_zero() {
            return Err(NatError::ZeroTimeout);
        }
        if self.nat_at(public_ip).is_some() {
            return Err(NatError::PublicIpInUse(public_ip));
        }
        if let Some(&private) = self.behind.keys().find(|a| a.ip() == public_ip) {
            return Err(NatError::AlreadyBehind(private));
        }
        self.nats.push(Nat::new(self.seed, public_ip, config));
        Ok(NatId(self.nats.len() - 1))
    }

    /// Puts the private address `private` behind `nat` (the host there may
    /// be added before or after). Its datagrams to addresses outside the
    /// NAT then leave from a mapping on the NAT's public IP; from outside it
    /// can only be reached through a mapping.
    pub fn place_behind_nat(&mut self, nat: NatId, private: SocketAddr) -> Result<(), NatError> {
        if self.nats.get(nat.0).is_none() {
            return Err(NatError::UnknownNat(nat));
        }
        if self.nat_at(private.ip()).is_some() {
            return Err(NatError::PublicAddress(private));
        }
        if self.behind.contains_key(&private) {
            return Err(NatError::AlreadyBehind(private));
        }
        self.behind.insert(private, nat.0);
        Ok(())
    }

    /// The NAT in front of `addr`, if any.
    pub fn nat_of(&self, addr: SocketAddr) -> Option<NatId> {
        self.behind.get(&addr).map(|&i| NatId(i))
    }

    /// The public IP address of `nat`.
    pub fn nat_public_ip(&self, nat: NatId) -> Option<IpAddr> {
        self.nats.get(nat.0).map(|n| n.public_ip)
    }

    /// The config of `nat`.
    pub fn nat_config(&self, nat: NatId) -> Option<&NatConfig> {
        self.nats.get(nat.0).map(|n| &n.config)
    }

    /// The counters of `nat` now (all zero for an unknown id).
    pub fn nat_stats(&self, nat: NatId) -> NatStats {
        self.nats
            .get(nat.0)
            .map(|n| n.stats(self.now))
            .unwrap_or_default()
    }

    /// The live mappings of `nat` now, ordered by external port.
    pub fn nat_mappings(&self, nat: NatId) -> Vec<NatMapping> {
        self.nats
            .get(nat.0)
            .map(|n| n.mappings(self.now).cloned().collect())
            .unwrap_or_default()
    }

    /// The NAT whose public IP is `ip`.
    pub(super) fn nat_at(&self, ip: IpAddr) -> Option<usize> {
        self.nats.iter().position(|n| n.public_ip == ip)
    }

    /// Where a datagram from host `via` (claiming `from`) to `to` goes
    /// when there are NATs, and the source it arrives with: NAT rules on
    /// the way out (translation, hairpinning, private destinations).
    pub(super) fn nat_route(
        &mut self,
        via: SocketAddr,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Result<(SocketAddr, Dest), DropReason> {
        let now = self.now;
        let src_nat = self.behind.get(&via).copied();
        let dst_private = self.behind.get(&to).copied();
        let dst_public = self.nat_at(to.ip());
        let host = |sim: &Self| {
            sim.index
                .get(&to)
                .map(|&h| Dest::Host(h))
                .ok_or(DropReason::NoSuchHost)
        };
        if let Some(d) = dst_private {
            if src_nat == Some(d) {
                return Ok((from, host(self)?));
            }
            if let Some(nat) = self.nats.get_mut(d) {
                nat.stats.private_unreachable = nat.stats.private_unreachable.saturating_add(1);
            }
            return Err(DropReason::Nat);
        }
        let mut seen = from;
        if let Some(nat) = src_nat.and_then(|s| self.nats.get_mut(s)) {
            let hairpin = src_nat == dst_public;
            if hairpin && !nat.config.hairpinning {
                nat.stats.hairpin_dropped = nat.stats.hairpin_dropped.saturating_add(1);
                return Err(DropReason::Nat);
            }
            seen = nat.outbound(now, from, to).ok_or(DropReason::Nat)?;
            if hairpin {
                nat.stats.hairpinned = nat.stats.hairpinned.saturating_add(1);
            }
        }
        match dst_public {
            Some(d) => Ok((seen, Dest::Nat(d))),
            None => Ok((seen, host(self)?)),
        }
    }

    /// A datagram from `from` arriving at a NAT's public address `to`: the
    /// private address and host it goes on to, or why it is dropped.
    pub(super) fn nat_inbound(
        &mut self,
        nat: usize,
        from: SocketAddr,
        to: SocketAddr,
        len: usize,
    ) -> Result<(SocketAddr, usize), DropReason> {
        let now = self.now;
        let nat = self.nats.get_mut(nat).ok_or(DropReason::Nat)?;
        let private = nat.inbound(now, from, to.port()).map_err(|e| match e {
            InboundDrop::Unmapped | InboundDrop::Filtered => DropReason::Nat,
        })?;
        match self.index.get(&private) {
            Some(&host) => Ok((private, host)),
            None => {
                self.stats.unrouted.add(len);
                self.unrouted.entry(private).or_default().add(len);
                Err(DropReason::NoSuchHost)
            }
        }
    }
}
