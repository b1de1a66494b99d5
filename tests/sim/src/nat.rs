//! NAT boxes after RFC 4787: mapping, filtering, port assignment, mapping
//! timeout and hairpinning. See [NATs](crate#nats) for how the simulator
//! routes through them.

use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use utp_core::Timestamp;

use crate::trace::Fnv1a;

/// Lowest port a NAT hands out when it does not preserve the private one.
pub const NAT_PORT_MIN: u16 = 1024;

/// How a NAT's mappings, or its filters, depend on the remote endpoint
/// (RFC 4787 sections 4.1 and 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NatBehavior {
    /// Mapping: one external address for a private endpoint, whatever it
    /// sends to. Filtering: any remote endpoint may send to a mapping
    /// ("full cone").
    EndpointIndependent,
    /// Mapping: one external address per remote IP address. Filtering:
    /// a remote endpoint passes if the private endpoint sent to its IP
    /// address through this mapping ("restricted cone").
    AddressDependent,
    /// Mapping: one external address per remote IP address and port
    /// ("symmetric"). Filtering: a remote endpoint passes only if the
    /// private endpoint sent to exactly it through this mapping
    /// ("port-restricted"; Linux conntrack).
    AddressAndPortDependent,
}

/// Which external port a new mapping gets (RFC 4787 section 4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortAssignment {
    /// The private port when no live mapping of this NAT uses it (Linux
    /// `masquerade`); otherwise a random one, as with `Random`.
    Preserve,
    /// A random free port in `NAT_PORT_MIN..=65535` for every mapping, drawn
    /// from the simulator's seed (Linux `masquerade random`).
    Random,
}

/// The behaviour of a NAT box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatConfig {
    /// When an outgoing datagram reuses an existing mapping.
    pub mapping: NatBehavior,
    /// Which incoming datagrams a mapping lets through.
    pub filtering: NatBehavior,
    /// Which external port a new mapping gets.
    pub ports: PortAssignment,
    /// How long a mapping lives after the last datagram that refreshed it
    /// (RFC 4787 REQ-5: at least 2 minutes; many boxes use 30 s). It
    /// expires when this much time has passed: a datagram arriving exactly
    /// then finds no mapping.
    pub mapping_timeout: Duration,
    /// Whether incoming datagrams refresh a mapping too (outgoing ones
    /// always do, RFC 4787 REQ-6).
    pub inbound_refresh: bool,
    /// Whether a private host can reach another one (or itself) through
    /// the NAT's public address (RFC 4787 REQ-9). The datagram then
    /// arrives from the sender's external address, after the filter of
    /// the destination's mapping.
    pub hairpinning: bool,
}

impl NatConfig {
    /// Endpoint-independent mapping and filtering, port preservation.
    pub const fn full_cone() -> Self {
        Self::new(
            NatBehavior::EndpointIndependent,
            NatBehavior::EndpointIndependent,
            PortAssignment::Preserve,
        )
    }

    /// Endpoint-independent mapping, address-dependent filtering, port
    /// preservation.
    pub const fn restricted_cone() -> Self {
        Self::new(
            NatBehavior::EndpointIndependent,
            NatBehavior::AddressDependent,
            PortAssignment::Preserve,
        )
    }

    /// Endpoint-independent mapping, address-and-port-dependent filtering,
    /// port preservation: what Linux `masquerade` does in practice. The
    /// [`Default`].
    pub const fn port_restricted_cone() -> Self {
        Self::new(
            NatBehavior::EndpointIndependent,
            NatBehavior::AddressAndPortDependent,
            PortAssignment::Preserve,
        )
    }

    /// Address-and-port-dependent mapping and filtering with random ports
    /// (Linux `masquerade random`).
    pub const fn symmetric() -> Self {
        Self::new(
            NatBehavior::AddressAndPortDependent,
            NatBehavior::AddressAndPortDependent,
            PortAssignment::Random,
        )
    }

    /// The given behaviours, a 2-minute mapping timeout refreshed by
    /// outgoing traffic only, no hairpinning.
    pub const fn new(mapping: NatBehavior, filtering: NatBehavior, ports: PortAssignment) -> Self {
        NatConfig {
            mapping,
            filtering,
            ports,
            mapping_timeout: Duration::from_secs(120),
            inbound_refresh: false,
            hairpinning: false,
        }
    }
}

impl Default for NatConfig {
    fn default() -> Self {
        Self::port_restricted_cone()
    }
}

/// Names a NAT box of a [`Sim`](crate::Sim), as returned by
/// [`Sim::add_nat`](crate::Sim::add_nat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NatId(pub(crate) usize);

/// What a NAT box did, as counted by
/// [`Sim::nat_stats`](crate::Sim::nat_stats). Every datagram it drops is
/// also a [`DropReason::Nat`](crate::DropReason::Nat) drop of the link it
/// came on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NatStats {
    /// Mappings created.
    pub mappings_created: u64,
    /// Mappings that timed out (including those whose time is up but that
    /// nothing has looked at yet).
    pub mappings_expired: u64,
    /// Outgoing datagrams translated (hairpinned ones included).
    pub outbound: u64,
    /// Incoming datagrams translated and passed to a private host.
    pub inbound: u64,
    /// Incoming datagrams to an external port without a live mapping.
    pub inbound_unmapped: u64,
    /// Incoming datagrams to a live mapping that its filter refused.
    pub inbound_filtered: u64,
    /// Datagrams from a private host to the NAT's own public address,
    /// looped back in (with hairpinning on).
    pub hairpinned: u64,
    /// Such datagrams dropped because hairpinning is off.
    pub hairpin_dropped: u64,
    /// Datagrams from outside the NAT to one of its private addresses
    /// (not routable there).
    pub private_unreachable: u64,
    /// Outgoing datagrams dropped because no external port was free.
    pub ports_exhausted: u64,
}

/// Which remote endpoints a mapping serves (by its mapping behaviour).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MappingScope {
    /// Every remote endpoint (endpoint-independent mapping).
    Any,
    /// Every port of one remote IP address (address-dependent mapping).
    Address(IpAddr),
    /// One remote endpoint (address-and-port-dependent mapping).
    Endpoint(SocketAddr),
}

impl MappingScope {
    fn of(behavior: NatBehavior, remote: SocketAddr) -> Self {
        match behavior {
            NatBehavior::EndpointIndependent => MappingScope::Any,
            NatBehavior::AddressDependent => MappingScope::Address(remote.ip()),
            NatBehavior::AddressAndPortDependent => MappingScope::Endpoint(remote),
        }
    }
}

/// A live mapping, as listed by
/// [`Sim::nat_mappings`](crate::Sim::nat_mappings).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NatMapping {
    /// The private endpoint.
    pub private: SocketAddr,
    /// Its external address: the NAT's public IP and the mapped port.
    pub public: SocketAddr,
    /// The remote endpoints it serves.
    pub scope: MappingScope,
    /// The remote endpoints the private endpoint sent to through it (what
    /// address- and address-and-port-dependent filters let in).
    pub contacted: BTreeSet<SocketAddr>,
    /// When it expires unless refreshed.
    pub expires: Timestamp,
}

/// Why [`Sim::add_nat`](crate::Sim::add_nat) or
/// [`Sim::place_behind_nat`](crate::Sim::place_behind_nat) refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatError {
    /// Another NAT already has this public IP address.
    PublicIpInUse(IpAddr),
    /// The mapping timeout is zero.
    ZeroTimeout,
    /// No such NAT in this simulator.
    UnknownNat(NatId),
    /// The address is already behind a NAT (this one or another).
    AlreadyBehind(SocketAddr),
    /// The address is on a NAT's public IP.
    PublicAddress(SocketAddr),
}

impl fmt::Display for NatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatError::PublicIpInUse(ip) => write!(f, "nat: public IP {ip} already in use"),
            NatError::ZeroTimeout => f.write_str("nat: mapping timeout must be positive"),
            NatError::UnknownNat(id) => write!(f, "nat: no NAT {}", id.0),
            NatError::AlreadyBehind(a) => write!(f, "nat: {a} is already behind a NAT"),
            NatError::PublicAddress(a) => write!(f, "nat: {a} is on a NAT's public IP"),
        }
    }
}

impl std::error::Error for NatError {}

/// Why an incoming datagram did not pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InboundDrop {
    Unmapped,
    Filtered,
}

/// The state of one NAT box.
pub(crate) struct Nat {
    pub(crate) public_ip: IpAddr,
    pub(crate) config: NatConfig,
    /// Live (or not yet purged) mappings by external port.
    mappings: BTreeMap<u16, NatMapping>,
    rng: Xoshiro256PlusPlus,
    pub(crate) stats: NatStats,
}

impl Nat {
    pub(crate) fn new(sim_seed: u64, public_ip: IpAddr, config: NatConfig) -> Self {
        let mut h = Fnv1a::new();
        h.write_u64(sim_seed);
        h.write(b"nat");
        h.write_addr(SocketAddr::new(public_ip, 0));
        Nat {
            public_ip,
            config,
            mappings: BTreeMap::new(),
            rng: Xoshiro256PlusPlus::seed_from_u64(h.finish()),
            stats: NatStats::default(),
        }
    }

    /// Forgets the mappings whose time is up.
    fn purge(&mut self, now: Timestamp) {
        let before = self.mappings.len();
        self.mappings.retain(|_, m| m.expires > now);
        let gone = (before - self.mappings.len()) as u64;
        self.stats.mappings_expired = self.stats.mappings_expired.saturating_add(gone);
    }

    /// Translates a datagram from `private` to `remote` leaving now: the
    /// external source it gets, creating or refreshing the mapping. `None`
    /// when no port is free.
    pub(crate) fn outbound(
        &mut self,
        now: Timestamp,
        private: SocketAddr,
        remote: SocketAddr,
    ) -> Option<SocketAddr> {
        self.purge(now);
        let scope = MappingScope::of(self.config.mapping, remote);
        let found = self
            .mappings
            .iter()
            .find(|(_, m)| m.private == private && m.scope == scope)
            .map(|(&port, _)| port);
        let port = match found {
            Some(port) => port,
            None => {
                let Some(port) = self.allocate(private.port()) else {
                    self.stats.ports_exhausted = self.stats.ports_exhausted.saturating_add(1);
                    return None;
                };
                self.stats.mappings_created = self.stats.mappings_created.saturating_add(1);
                self.mappings.insert(
                    port,
                    NatMapping {
                        private,
                        public: SocketAddr::new(self.public_ip, port),
                        scope,
                        contacted: BTreeSet::new(),
                        expires: now,
                    },
                );
                port
            }
        };
        let timeout = self.config.mapping_timeout;
        let m = self.mappings.get_mut(&port)?;
        m.expires = now + timeout;
        m.contacted.insert(remote);
        self.stats.outbound = self.stats.outbound.saturating_add(1);
        Some(m.public)
    }

    /// A free external port for a new mapping of private port `wanted`.
    fn allocate(&mut self, wanted: u16) -> Option<u16> {
        if self.config.ports == PortAssignment::Preserve
            && wanted != 0
            && !self.mappings.contains_key(&wanted)
        {
            return Some(wanted);
        }
        let span = u32::from(u16::MAX - NAT_PORT_MIN) + 1;
        let start = (self.rng.next_u64() % u64::from(span)) as u32;
        (0..span)
            .filter_map(|i| u16::try_from(u32::from(NAT_PORT_MIN) + (start + i) % span).ok())
            .find(|p| !self.mappings.contains_key(p))
    }

    /// Translates a datagram from `from` arriving now at external port
    /// `port`: the private endpoint it goes to, or why it is dropped.
    pub(crate) fn inbound(
        &mut self,
        now: Timestamp,
        from: SocketAddr,
        port: u16,
    ) -> Result<SocketAddr, InboundDrop> {
        self.purge(now);
        let filtering = self.config.filtering;
        let (refresh, timeout) = (self.config.inbound_refresh, self.config.mapping_timeout);
        let Some(m) = self.mappings.get_mut(&port) else {
            self.stats.inbound_unmapped = self.stats.inbound_unmapped.saturating_add(1);
            return Err(InboundDrop::Unmapped);
        };
        let allowed = match filtering {
            NatBehavior::EndpointIndependent => true,
            NatBehavior::AddressDependent => m.contacted.iter().any(|c| c.ip() == from.ip()),
            NatBehavior::AddressAndPortDependent => m.contacted.contains(&from),
        };
        if !allowed {
            self.stats.inbound_filtered = self.stats.inbound_filtered.saturating_add(1);
            return Err(InboundDrop::Filtered);
        }
        if refresh {
            m.expires = now + timeout;
        }
        self.stats.inbound = self.stats.inbound.saturating_add(1);
        Ok(m.private)
    }

    /// The live mappings at `now`, by external port.
    pub(crate) fn mappings(&self, now: Timestamp) -> impl Iterator<Item = &NatMapping> + '_ {
        self.mappings.values().filter(move |m| m.expires > now)
    }

    /// The counters, with the mappings whose time is up counted as expired.
    pub(crate) fn stats(&self, now: Timestamp) -> NatStats {
        let stale = self.mappings.values().filter(|m| m.expires <= now).count() as u64;
        NatStats {
            mappings_expired: self.stats.mappings_expired.saturating_add(stale),
            ..self.stats
        }
    }
}
