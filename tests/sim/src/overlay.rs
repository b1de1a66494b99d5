//! uTP whose peers are not UDP addresses, in simulation: [`Overlay`] runs
//! an [`Endpoint<P>`] whose peers are ids of an overlay network (node ids,
//! as the Ethereum Portal Network's discv5 has) on a simulated host.
//!
//! Each uTP packet travels the simulated UDP network in a frame that
//! names its sender's id ([`OverlayId::LEN`] bytes, then the packet), as a
//! TALKREQ message carries its sender; a shared [`Directory`] tells the
//! address each id is reached at. A frame whose id is not the one its
//! source address is registered for is dropped, as an authenticated
//! carrier (discv5's handshake) drops what does not verify.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use utp_core::{Config, Endpoint, Event, Timestamp};
//! use utp_sim::overlay::{Directory, NodeId, Overlay};
//! use utp_sim::Sim;
//!
//! let (a, b) = (NodeId::from_index(1), NodeId::from_index(2));
//! let (a_addr, b_addr) = ("192.0.2.1:9000".parse()?, "192.0.2.2:9000".parse()?);
//! let directory = Arc::new(Directory::from_iter([(a, a_addr), (b, b_addr)]));
//! let mut sim = Sim::new(1);
//! for (id, addr, seed) in [(a, a_addr, 1), (b, b_addr, 2)] {
//!     let endpoint = Endpoint::<NodeId>::with_peer_type(Config::default(), seed);
//!     sim.add_host(addr, Overlay::new(id, endpoint, directory.clone()));
//! }
//! let wait = Duration::from_secs(5);
//! let hb = sim.host_mut(b_addr).endpoint.accept_with_id(Timestamp::ZERO, a, 77, wait)?;
//! let ha = sim.host_mut(a_addr).endpoint.connect_with_id(Timestamp::ZERO, b, 77)?;
//! sim.advance(Duration::from_secs(1))?;
//! for (addr, h) in [(a_addr, ha), (b_addr, hb)] {
//!     let events: Vec<Event> = std::iter::from_fn(|| sim.host_mut(addr).endpoint.poll_event()).collect();
//!     assert_eq!(events, [Event::Connected(h)]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use utp_core::{Endpoint, Peer, Timestamp};

use crate::{Host, Transmit};

/// A peer id an overlay carries in its frames.
pub trait OverlayId: Peer {
    /// Bytes of an encoded id.
    const LEN: usize;
    /// Writes the id into `out` (`LEN` bytes).
    fn encode(&self, out: &mut [u8]);
    /// The id in `bytes` (`LEN` bytes), if they are one.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// A 32-byte node id, as discv5's. Its carrier takes uTP packets of at most
/// 1,024 bytes, as the Portal Network's clients send them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// A distinct id for each `index` (a test's node number).
    pub fn from_index(index: u32) -> NodeId {
        let mut id = [0u8; 32];
        for (i, b) in id.iter_mut().enumerate() {
            *b = (index.wrapping_mul(0x9e37_79b9).rotate_left(i as u32 % 32) >> 24) as u8 ^ i as u8;
        }
        if let Some(head) = id.get_mut(..4) {
            head.copy_from_slice(&index.to_be_bytes());
        }
        NodeId(id)
    }
}

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The first bytes, as node ids are usually shown.
        for b in self.0.iter().take(4) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl Peer for NodeId {
    fn max_packet_size(&self) -> Option<usize> {
        Some(1024)
    }
}

impl OverlayId for NodeId {
    const LEN: usize = 32;

    fn encode(&self, out: &mut [u8]) {
        if let Some(out) = out.get_mut(..32) {
            out.copy_from_slice(&self.0);
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(NodeId)
    }
}

/// Where each id is reached, and which id each address is.
#[derive(Clone, Debug, Default)]
pub struct Directory<P> {
    addrs: HashMap<P, SocketAddr>,
    ids: HashMap<SocketAddr, P>,
}

impl<P: OverlayId> Directory<P> {
    /// Registers `id` at `addr`.
    pub fn insert(&mut self, id: P, addr: SocketAddr) {
        self.addrs.insert(id.clone(), addr);
        self.ids.insert(addr, id);
    }

    /// Where `id` is reached.
    pub fn addr(&self, id: &P) -> Option<SocketAddr> {
        self.addrs.get(id).copied()
    }
}

impl<P: OverlayId> FromIterator<(P, SocketAddr)> for Directory<P> {
    fn from_iter<I: IntoIterator<Item = (P, SocketAddr)>>(iter: I) -> Self {
        let mut d = Directory {
            addrs: HashMap::new(),
            ids: HashMap::new(),
        };
        for (id, addr) in iter {
            d.insert(id, addr);
        }
        d
    }
}

/// A uTP endpoint whose peers are overlay ids, as a simulator host.
#[derive(Debug)]
pub struct Overlay<P: OverlayId> {
    /// The endpoint: connect, accept and read through it.
    pub endpoint: Endpoint<P>,
    me: P,
    directory: Arc<Directory<P>>,
    /// Frames dropped: too short, or not from the address of the id they
    /// name.
    pub rejected: u64,
    /// The largest uTP packet sent (the frame is [`OverlayId::LEN`] more).
    pub largest_sent: usize,
}

impl<P: OverlayId> Overlay<P> {
    /// `endpoint` as the node `me`, finding peers in `directory`.
    pub fn new(me: P, endpoint: Endpoint<P>, directory: Arc<Directory<P>>) -> Self {
        Overlay {
            endpoint,
            me,
            directory,
            rejected: 0,
            largest_sent: 0,
        }
    }
}

impl<P: OverlayId> Host for Overlay<P> {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        let (Some(head), Some(packet)) = (data.get(..P::LEN), data.get(P::LEN..)) else {
            self.rejected += 1;
            return;
        };
        match P::decode(head) {
            Some(id) if self.directory.ids.get(&from) == Some(&id) => {
                let _ = self.endpoint.handle_datagram(now, id, packet);
            }
            _ => self.rejected += 1,
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.endpoint.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        if buf.len() <= P::LEN {
            return None;
        }
        let (head, body) = buf.split_at_mut(P::LEN);
        loop {
            let t = self.endpoint.poll_transmit(now, body)?;
            // A peer nobody registered: nowhere to send.
            let Some(to) = self.directory.addr(&t.destination) else {
                continue;
            };
            self.me.encode(head);
            self.largest_sent = self.largest_sent.max(t.len);
            return Some(Transmit {
                to,
                len: P::LEN + t.len,
                dont_fragment: false,
                source: None,
            });
        }
    }

    fn poll_timeout(&mut self) -> Option<Timestamp> {
        self.endpoint.poll_timeout()
    }
}
