//! A small introducer, so two peers behind NATs learn each other's public
//! address and punch through at the same moment: the messages, and the
//! introducer's own state, without sockets or clocks (time comes in as
//! [`Instant`]s).
//!
//! The messages travel on the peers' uTP sockets as foreign datagrams (as a
//! DHT's would): each starts with `UTPI`, whose first byte `0x55` has the
//! version nibble 5, so no uTP stack takes it for a packet of its own.
//!
//! The exchange:
//!
//! 1. Each peer sends [`Message::Register`] with its name to the
//!    introducer's two ports, every [`REGISTER_INTERVAL`] while it waits.
//!    Each port answers [`Message::Address`]: the address the registration
//!    came from, which is the peer's public address behind a NAT. A NAT that
//!    shows the two ports different addresses maps a new port per
//!    destination (RFC 4787 address-dependent or address-and-port-dependent
//!    mapping, a "symmetric" NAT), which hole punching cannot pass.
//! 2. Each peer sends [`Message::Lookup`] for the other's name every
//!    [`REGISTER_INTERVAL`]. When the other is registered, the introducer
//!    sends [`Message::Peer`] to both: to the asker with the other's
//!    address, to the other with the asker's. Both then start a uTP
//!    rendezvous (`connect_rendezvous`) towards the address they got. A
//!    name not registered (or not any more) is answered
//!    [`Message::Error`] with [`ErrorCode::UnknownPeer`].
//!
//! Requests are padded to [`REQUEST_LEN`] bytes and every answer to one
//! is shorter than it, so the introducer is no amplifier. The only datagram
//! it sends unasked is one [`Message::Peer`] per lookup, to an address
//! that registered. Memory is bounded: at most `max_names` registrations,
//! each forgotten [`Introducer::ttl`] after its last registration.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The first bytes of every introducer message.
pub const MAGIC: [u8; 4] = *b"UTPI";
/// The length requests are padded to (answers are at most
/// [`MAX_ANSWER_LEN`]).
pub const REQUEST_LEN: usize = 160;
/// The longest answer (a [`Message::Peer`] with the longest name and an
/// IPv6 address).
pub const MAX_ANSWER_LEN: usize = 4 + 1 + 1 + MAX_NAME + 1 + 19;
/// The longest name, in bytes.
pub const MAX_NAME: usize = 64;
/// How often a waiting peer repeats its registration and lookup.
pub const REGISTER_INTERVAL: Duration = Duration::from_millis(500);
/// How long a registration lasts without being repeated, by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(120);
/// How many names an introducer keeps, by default.
pub const DEFAULT_MAX_NAMES: usize = 4096;

const KIND_REGISTER: u8 = 1;
const KIND_ADDRESS: u8 = 2;
const KIND_LOOKUP: u8 = 3;
const KIND_PEER: u8 = 4;
const KIND_ERROR: u8 = 5;

/// Why the introducer could not answer a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No peer of that name is registered.
    UnknownPeer,
    /// The peer asked for itself.
    NoSelf,
    /// The introducer holds as many names as it may; try later.
    Full,
}

impl ErrorCode {
    fn to_byte(self) -> u8 {
        match self {
            ErrorCode::UnknownPeer => 1,
            ErrorCode::NoSelf => 2,
            ErrorCode::Full => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(ErrorCode::UnknownPeer),
            2 => Some(ErrorCode::NoSelf),
            3 => Some(ErrorCode::Full),
            _ => None,
        }
    }
}

/// One introducer message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Peer → introducer: "I am `name`" (repeated while waiting).
    Register {
        /// The peer's name (1..=[`MAX_NAME`] bytes).
        name: &'a [u8],
    },
    /// Introducer → peer: the address a registration came from, and which
    /// of the introducer's ports (0 or 1) saw it.
    Address {
        /// 0 for the introducer's first port, 1 for its second.
        port_index: u8,
        /// The registration's source address.
        observed: SocketAddr,
    },
    /// Peer → introducer: "introduce me, `name`, to `peer`".
    Lookup {
        /// The asker's name.
        name: &'a [u8],
        /// The name of the peer it wants to meet.
        peer: &'a [u8],
    },
    /// Introducer → peer: meet `name` at `addr`.
    Peer {
        /// The other peer's name.
        name: &'a [u8],
        /// The other peer's public address.
        addr: SocketAddr,
        /// Whether the other peer's NAT showed the introducer's two ports
        /// different addresses (a mapping per destination).
        per_destination: bool,
    },
    /// Introducer → peer: a lookup of `name` failed.
    Error {
        /// Why.
        code: ErrorCode,
        /// The name looked up.
        name: &'a [u8],
    },
}

/// Reads `datagram` as an introducer message; `None` if it is not one
/// (another protocol, or malformed).
pub fn decode(datagram: &[u8]) -> Option<Message<'_>> {
    let mut r = Reader(datagram.strip_prefix(&MAGIC)?);
    let kind = r.byte()?;
    match kind {
        KIND_REGISTER => Some(Message::Register { name: r.name()? }),
        KIND_ADDRESS => Some(Message::Address {
            port_index: r.byte()?,
            observed: r.addr()?,
        }),
        KIND_LOOKUP => Some(Message::Lookup {
            name: r.name()?,
            peer: r.name()?,
        }),
        KIND_PEER => Some(Message::Peer {
            name: r.name()?,
            addr: r.addr()?,
            per_destination: r.byte()? != 0,
        }),
        KIND_ERROR => Some(Message::Error {
            code: ErrorCode::from_byte(r.byte()?)?,
            name: r.name()?,
        }),
        _ => None,
    }
}

/// Whether `datagram` is an introducer message (by its first bytes).
pub fn is_introducer_message(datagram: &[u8]) -> bool {
    datagram.starts_with(&MAGIC)
}

impl Message<'_> {
    /// The message as a datagram: requests padded to [`REQUEST_LEN`].
    /// `None` if a name is empty or longer than [`MAX_NAME`].
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(REQUEST_LEN);
        out.extend_from_slice(&MAGIC);
        let request = match self {
            Message::Register { name } => {
                out.push(KIND_REGISTER);
                put_name(&mut out, name)?;
                true
            }
            Message::Address {
                port_index,
                observed,
            } => {
                out.push(KIND_ADDRESS);
                out.push(*port_index);
                put_addr(&mut out, observed);
                false
            }
            Message::Lookup { name, peer } => {
                out.push(KIND_LOOKUP);
                put_name(&mut out, name)?;
                put_name(&mut out, peer)?;
                true
            }
            Message::Peer {
                name,
                addr,
                per_destination,
            } => {
                out.push(KIND_PEER);
                put_name(&mut out, name)?;
                put_addr(&mut out, addr);
                out.push(u8::from(*per_destination));
                false
            }
            Message::Error { code, name } => {
                out.push(KIND_ERROR);
                out.push(code.to_byte());
                put_name(&mut out, name)?;
                false
            }
        };
        if request {
            out.resize(REQUEST_LEN, 0);
        }
        Some(out)
    }
}

fn put_name(out: &mut Vec<u8>, name: &[u8]) -> Option<()> {
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    out.push(u8::try_from(name.len()).ok()?);
    out.extend_from_slice(name);
    Some(())
}

fn put_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// A cursor over a message's bytes; every read checks the length.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn name(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.byte()?);
        if len == 0 || len > MAX_NAME {
            return None;
        }
        self.take(len)
    }

    fn addr(&mut self) -> Option<SocketAddr> {
        let ip = match self.byte()? {
            4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(self.take(4)?).ok()?)),
            6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(self.take(16)?).ok()?)),
            _ => return None,
        };
        let port = u16::from_be_bytes(<[u8; 2]>::try_from(self.take(2)?).ok()?);
        Some(SocketAddr::new(ip, port))
    }
}

/// A registration.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Where the last registration on each port came from.
    seen: [Option<SocketAddr>; 2],
    /// When the last registration came.
    at: Instant,
}

impl Entry {
    fn per_destination(&self) -> bool {
        matches!(self.seen, [Some(a), Some(b)] if a != b)
    }
}

/// The introducer's state: who registered from where. Feed it every
/// datagram its ports receive with [`Introducer::handle`] and send what
/// that returns.
#[derive(Debug)]
pub struct Introducer {
    names: HashMap<Vec<u8>, Entry>,
    max_names: usize,
    ttl: Duration,
}

impl Default for Introducer {
    fn default() -> Self {
        Introducer::new(DEFAULT_MAX_NAMES, DEFAULT_TTL)
    }
}

impl Introducer {
    /// An introducer that keeps at most `max_names` registrations, each for
    /// `ttl` after its last repetition.
    pub fn new(max_names: usize, ttl: Duration) -> Self {
        Introducer {
            names: HashMap::new(),
            max_names,
            ttl,
        }
    }

    /// How long a registration lasts without being repeated.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many names are registered (expired ones included until the next
    /// registration makes room).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name is registered.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Handles `datagram` from `from`, received at `now` on the port
    /// numbered `port_index` (0 or 1): the datagrams to send, as
    /// (destination, bytes), each from that port. Anything that is not a
    /// request is ignored.
    pub fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        port_index: u8,
        datagram: &[u8],
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        // A short request could make the answer an amplifier.
        if datagram.len() < REQUEST_LEN {
            return Vec::new();
        }
        let slot = usize::from(port_index.min(1));
        let answer = match decode(datagram) {
            Some(Message::Register { name }) => {
                if !self.names.contains_key(name) && !self.make_room(now) {
                    Message::Error {
                        code: ErrorCode::Full,
                        name,
                    }
                } else {
                    let entry = self.names.entry(name.to_vec()).or_insert(Entry {
                        seen: [None; 2],
                        at: now,
                    });
                    // A peer that moved (a new mapping) starts over.
                    if entry.seen.iter().flatten().any(|a| a.ip() != from.ip()) {
                        entry.seen = [None; 2];
                    }
                    if let Some(seen) = entry.seen.get_mut(slot) {
                        *seen = Some(from);
                    }
                    entry.at = now;
                    Message::Address {
                        port_index,
                        observed: from,
                    }
                }
            }
            Some(Message::Lookup { name, peer }) => {
                let asker = self.live(now, name).map(|e| e.per_destination());
                match self.live(now, peer) {
                    _ if name == peer => Message::Error {
                        code: ErrorCode::NoSelf,
                        name: peer,
                    },
                    Some(other) => {
                        let addr = other.seen[0].or(other.seen[1]).unwrap_or(from);
                        let per_destination = other.per_destination();
                        // The other learns the asker's address as the lookup
                        // shows it (its mapping towards our first port).
                        let tell_other = Message::Peer {
                            name,
                            addr: from,
                            per_destination: asker.unwrap_or(false),
                        };
                        let mut out = Vec::with_capacity(2);
                        if let Some(bytes) = tell_other.encode() {
                            out.push((addr, bytes));
                        }
                        let tell_asker = Message::Peer {
                            name: peer,
                            addr,
                            per_destination,
                        };
                        if let Some(bytes) = tell_asker.encode() {
                            out.push((from, bytes));
                        }
                        return out;
                    }
                    None => Message::Error {
                        code: ErrorCode::UnknownPeer,
                        name: peer,
                    },
                }
            }
            _ => return Vec::new(),
        };
        answer
            .encode()
            .map(|bytes| vec![(from, bytes)])
            .unwrap_or_default()
    }

    /// The registration of `name`, if it has not expired.
    fn live(&self, now: Instant, name: &[u8]) -> Option<&Entry> {
        self.names
            .get(name)
            .filter(|e| now.saturating_duration_since(e.at) < self.ttl)
    }

    /// Makes room for one more name, forgetting expired ones: whether there
    /// is room.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.names.len() < self.max_names {
            return true;
        }
        let ttl = self.ttl;
        self.names
            .retain(|_, e| now.saturating_duration_since(e.at) < ttl);
        self.names.len() < self.max_names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn register(name: &[u8]) -> Vec<u8> {
        Message::Register { name }.encode().unwrap()
    }

    fn lookup(name: &[u8], peer: &[u8]) -> Vec<u8> {
        Message::Lookup { name, peer }.encode().unwrap()
    }

    #[test]
    fn messages_have_exact_bytes_and_round_trip() {
        let reg = register(b"ab");
        assert_eq!(reg.len(), REQUEST_LEN);
        assert_eq!(&reg[..8], b"UTPI\x01\x02ab");
        assert!(reg[8..].iter().all(|&b| b == 0));
        let peer = Message::Peer {
            name: b"b",
            addr: addr("203.0.113.18:40000"),
            per_destination: true,
        };
        let bytes = peer.encode().unwrap();
        assert_eq!(
            bytes,
            b"UTPI\x04\x01b\x04\xcb\x00\x71\x12\x9c\x40\x01".to_vec()
        );
        assert_eq!(decode(&bytes), Some(peer));
        let v6 = Message::Address {
            port_index: 1,
            observed: addr("[2001:db8::1]:7"),
        };
        let bytes = v6.encode().unwrap();
        assert_eq!(bytes.len(), 4 + 1 + 1 + 1 + 16 + 2);
        assert_eq!(decode(&bytes), Some(v6));
        let err = Message::Error {
            code: ErrorCode::UnknownPeer,
            name: b"zed",
        };
        assert_eq!(decode(&err.encode().unwrap()), Some(err));
        const { assert!(MAX_ANSWER_LEN < REQUEST_LEN) };
    }

    #[test]
    fn bad_names_do_not_encode_and_truncations_do_not_decode() {
        assert_eq!(Message::Register { name: b"" }.encode(), None);
        assert_eq!(Message::Register { name: &[b'x'; 65] }.encode(), None);
        let bytes = Message::Peer {
            name: b"bob",
            addr: addr("[2001:db8::2]:9"),
            per_destination: false,
        }
        .encode()
        .unwrap();
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n]), None, "{n} bytes");
        }
        // A uTP SYN is not ours.
        assert_eq!(
            decode(&[0x41, 0, 0x27, 0x41, 0xc9, 0xb6, 0x99, 0xba, 0, 0, 0, 0]),
            None
        );
    }

    #[test]
    fn a_lookup_introduces_both_and_reports_a_per_destination_nat() {
        let mut intro = Introducer::default();
        let t = Instant::now();
        let a0 = addr("203.0.113.2:5000");
        let b0 = addr("203.0.113.18:41000");
        let b1 = addr("203.0.113.18:41001");
        let out = intro.handle(t, a0, 0, &register(b"a"));
        let want = Message::Address {
            port_index: 0,
            observed: a0,
        };
        assert_eq!(out, vec![(a0, want.encode().unwrap())]);
        intro.handle(t, a0, 1, &register(b"a"));
        intro.handle(t, b0, 0, &register(b"b"));
        intro.handle(t, b1, 1, &register(b"b"));
        let out = intro.handle(t, a0, 0, &lookup(b"a", b"b"));
        let to_b = Message::Peer {
            name: b"a",
            addr: a0,
            per_destination: false,
        };
        let to_a = Message::Peer {
            name: b"b",
            addr: b0,
            per_destination: true,
        };
        assert_eq!(
            out,
            vec![(b0, to_b.encode().unwrap()), (a0, to_a.encode().unwrap())]
        );
        for (_, bytes) in &out {
            assert!(bytes.len() < REQUEST_LEN);
        }
    }

    #[test]
    fn unknown_self_expired_short_and_full() {
        let mut intro = Introducer::new(1, Duration::from_secs(10));
        let t = Instant::now();
        let a = addr("192.0.2.1:1");
        let err = |code, name| Message::Error { code, name }.encode().unwrap();
        assert_eq!(
            intro.handle(t, a, 0, &lookup(b"a", b"b")),
            vec![(a, err(ErrorCode::UnknownPeer, b"b".as_slice()))]
        );
        intro.handle(t, a, 0, &register(b"a"));
        assert_eq!(
            intro.handle(t, a, 0, &lookup(b"a", b"a")),
            vec![(a, err(ErrorCode::NoSelf, b"a".as_slice()))]
        );
        // Full while "a" lives; room once it expired.
        let b = addr("192.0.2.2:2");
        assert_eq!(
            intro.handle(t, b, 0, &register(b"b")),
            vec![(b, err(ErrorCode::Full, b"b".as_slice()))]
        );
        let later = t + Duration::from_secs(10);
        assert_eq!(intro.handle(later, b, 0, &register(b"b")).len(), 1);
        assert_eq!(intro.len(), 1);
        assert_eq!(
            intro.handle(later, b, 0, &lookup(b"b", b"a")),
            vec![(b, err(ErrorCode::UnknownPeer, b"a".as_slice()))]
        );
        // Unpadded requests get nothing.
        let mut short = register(b"c");
        short.truncate(20);
        assert!(intro.handle(later, b, 0, &short).is_empty());
    }
}
