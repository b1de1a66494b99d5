//! Who a connection is with: the [`Peer`] trait.
//!
//! An [`Endpoint`](crate::Endpoint) routes datagrams by (peer, connection
//! id). Over UDP the peer is the remote [`SocketAddr`], the default type
//! parameter everywhere, so code written for UDP names no peer type at
//! all. A carrier that is not a UDP socket brings its own: the Ethereum
//! Portal Network carries uTP inside discv5 TALKREQ messages and names
//! peers by node id; a test can use plain integers. The stack asks of a
//! peer only what this trait says: equality and hashing (for routing),
//! `Debug` (for traces), whether it is reached at an IP address (for the
//! path MTU memory, ICMP reports and the per-source limit on replies to
//! unproven addresses), and the largest packet its carrier takes.
//!
//! ```
//! use utp_core::{Config, Endpoint, Peer};
//!
//! /// A node of an overlay whose messages hold at most 1,024 bytes.
//! #[derive(Clone, PartialEq, Eq, Hash, Debug)]
//! struct NodeId([u8; 32]);
//!
//! impl Peer for NodeId {
//!     fn max_packet_size(&self) -> Option<usize> {
//!         Some(1024)
//!     }
//! }
//!
//! let mut ep = Endpoint::<NodeId>::with_peer_type(Config::default(), 7);
//! let h = ep.connect_with_id(Default::default(), NodeId([1; 32]), 0x1234)?;
//! assert_eq!(ep.conn(h).map(|c| c.stats().packet_size), Some(1024));
//! # Ok::<(), utp_core::ConnectError>(())
//! ```

use core::fmt::Debug;
use core::hash::Hash;
use std::net::{IpAddr, SocketAddr};

use crate::config::{Config, MAX_PACKET_SIZE, MIN_PACKET_SIZE};

/// A peer as the stack knows it: routing key, trace label and path facts.
///
/// Implement it for the peer identity of your carrier; `SocketAddr`
/// implements it for UDP. Equal peers must hash equally (as `Hash`
/// requires), and a peer's answers must not change while connections to
/// it live (they are read when a connection is made).
pub trait Peer: Clone + Eq + Hash + Debug {
    /// The UDP address datagrams to this peer go to, if they travel over
    /// IP/UDP themselves. It keys what the stack remembers and limits per
    /// address: the path MTU learned ([`Config::pmtu_discovery`]), ICMP
    /// reports, and the per-source budget of replies to unproven
    /// addresses ([`Config::replies_per_source`]). `None` (the default):
    /// the carrier is something else, path MTU discovery is off for this
    /// peer and its packets have the size
    /// [`max_packet_size`](Self::max_packet_size) says (or
    /// [`Config::packet_size_v4`]).
    fn socket_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// The largest uTP packet the carrier takes for this peer, if it sets
    /// one (`None`, the default: the configured size for the address
    /// family, and what path MTU discovery finds). Packets are never
    /// larger; a value below [`MIN_PACKET_SIZE`] is taken as that.
    fn max_packet_size(&self) -> Option<usize> {
        None
    }
}

impl Peer for SocketAddr {
    fn socket_addr(&self) -> Option<SocketAddr> {
        Some(*self)
    }
}

/// What a connection keeps of its peer: the facts, not the identity (which
/// the endpoint keeps), so connections are not generic.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PeerInfo {
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) max_packet: Option<usize>,
}

impl PeerInfo {
    pub(crate) fn of<P: Peer>(peer: &P) -> PeerInfo {
        PeerInfo {
            addr: peer.socket_addr(),
            max_packet: peer.max_packet_size(),
        }
    }

    /// A peer reached over UDP at `addr`.
    pub(crate) fn udp(addr: SocketAddr) -> PeerInfo {
        PeerInfo {
            addr: Some(addr),
            max_packet: None,
        }
    }

    pub(crate) fn ip(&self) -> Option<IpAddr> {
        self.addr.map(|a| a.ip())
    }

    /// The largest packet for this peer before path MTU discovery: the
    /// configured size for its address family (IPv4's for a carrier that
    /// is not IP), within the carrier's bound.
    pub(crate) fn packet_size(&self, config: &Config) -> usize {
        // A v4-mapped IPv6 address (an IPv4 peer of a dual-stack socket)
        // travels over IPv4.
        let size = match self.ip().map(|ip| ip.to_canonical()) {
            Some(IpAddr::V6(_)) => config.packet_size_v6,
            _ => config.packet_size_v4,
        };
        // Room for a header, a full SACK and some payload, whatever is set.
        let size = size.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE);
        match self.max_packet {
            Some(max) => size.min(max.max(MIN_PACKET_SIZE)),
            None => size,
        }
    }
}
