//! Hole punching through NATs with a small introducer: [`run_introducer`]
//! serves one on a public host, and [`punch`] has two peers behind NATs
//! find each other through it and make a uTP rendezvous
//! ([`UtpSocket::connect_rendezvous`]) on the socket they will use. The
//! messages and the exchange are in [`utp_driver::introducer`]; they travel
//! as foreign datagrams on the peer's uTP socket, so the NAT mapping the
//! introducer sees is the one the uTP connection uses.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use utp_tokio::introducer::{punch, PunchConfig};
//! use utp_tokio::UtpSocket;
//!
//! let socket = UtpSocket::bind("0.0.0.0:0").await?;
//! let via = "203.0.113.1:3478".parse()?;
//! // The other peer runs the same with the names swapped.
//! let punched = punch(&socket, via, "alice", "bob", &PunchConfig::default()).await?;
//! println!("connected to bob at {}", punched.peer_addr);
//! # Ok(()) }
//! ```

use std::error::Error;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use utp_driver::introducer::{
    decode, ErrorCode, Introducer, Message, MAX_NAME, REGISTER_INTERVAL, REQUEST_LEN,
};

use crate::{UtpSocket, UtpStream};

/// Serves an introducer on `first` and `second` (conventionally ports
/// `P` and `P + 1` of one host: a peer whose NAT shows the two different
/// addresses is told it maps per destination) until an I/O error other
/// than a peer's ICMP error.
pub async fn run_introducer(first: UdpSocket, second: UdpSocket) -> io::Result<()> {
    let mut state = Introducer::default();
    let mut buf = vec![0u8; 2048];
    let mut buf2 = vec![0u8; 2048];
    loop {
        let (port_index, received) = tokio::select! {
            r = first.recv_from(&mut buf) => (0u8, r),
            r = second.recv_from(&mut buf2) => (1u8, r),
        };
        let (n, from) = match received {
            Ok(r) => r,
            // A peer's port went away (ICMP): not the introducer's problem.
            Err(e) if transient(&e) => continue,
            Err(e) => return Err(e),
        };
        let bytes = if port_index == 0 { &buf } else { &buf2 };
        let Some(datagram) = bytes.get(..n) else {
            continue;
        };
        let out = state.handle(Instant::now(), from, port_index, datagram);
        let socket = if port_index == 0 { &first } else { &second };
        for (to, bytes) in out {
            match socket.send_to(&bytes, to).await {
                Err(e) if !transient(&e) => return Err(e),
                _ => {}
            }
        }
    }
}

/// Errors a UDP socket reports for another datagram's ICMP error, or for
/// an address it cannot reach now.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// How long [`punch`] waits for each step.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PunchConfig {
    /// How long to wait for the introducer's first answer.
    pub introducer_wait: Duration,
    /// How long to wait for the peer to register with the introducer, from
    /// its first answer to us.
    pub peer_wait: Duration,
}

impl Default for PunchConfig {
    fn default() -> Self {
        PunchConfig {
            introducer_wait: Duration::from_secs(5),
            peer_wait: Duration::from_secs(30),
        }
    }
}

/// A connection [`punch`] made, and what the introducer saw.
#[derive(Debug)]
pub struct Punched {
    /// The connection.
    pub stream: UtpStream,
    /// The peer's public address (where the connection goes).
    pub peer_addr: SocketAddr,
    /// Our public address as the introducer's two ports saw it (the second
    /// is `None` when it did not answer).
    pub public: [Option<SocketAddr>; 2],
}

/// Why [`punch`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PunchError {
    /// A name is empty or longer than 64 bytes, or both names are the same.
    BadName(String),
    /// The introducer did not answer within [`PunchConfig::introducer_wait`].
    IntroducerSilent(SocketAddr),
    /// The introducer does not know the peer: it did not register within
    /// [`PunchConfig::peer_wait`] of the introducer's first answer.
    UnknownPeer {
        /// The peer's name.
        name: String,
        /// How long we waited for it.
        waited: Duration,
    },
    /// The introducer is full.
    IntroducerFull(SocketAddr),
    /// Both sides tried, but no packet of the peer's came through within
    /// the rendezvous timeout: a NAT between us cannot be traversed.
    Untraversable {
        /// The peer's name.
        peer: String,
        /// The peer's public address, as the introducer saw it.
        peer_addr: SocketAddr,
        /// Our public address on the introducer's two ports.
        public: [Option<SocketAddr>; 2],
        /// Whether the peer's NAT maps a new port per destination.
        peer_per_destination: bool,
    },
    /// An I/O error of the socket, or of the rendezvous other than its
    /// timeout.
    Io(io::Error),
}

impl PunchError {
    /// Whether our own NAT (as the introducer's two ports saw it) or the
    /// peer's maps a new port per destination.
    fn symmetric_note(public: &[Option<SocketAddr>; 2], peer_per_destination: bool) -> String {
        match public {
            [Some(a), Some(b)] if a != b => format!(
                "; our NAT maps a new port per destination (the introducer's ports saw {a} and {b}): \
a symmetric NAT, which hole punching cannot pass"
            ),
            _ if peer_per_destination => {
                "; the peer's NAT maps a new port per destination: a symmetric NAT, which hole \
punching cannot pass"
                    .into()
            }
            _ => String::new(),
        }
    }
}

impl fmt::Display for PunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PunchError::BadName(why) => f.write_str(why),
            PunchError::IntroducerSilent(addr) => {
                write!(f, "the introducer at {addr} did not answer")
            }
            PunchError::UnknownPeer { name, waited } => write!(
                f,
                "peer `{name}` is unknown to the introducer (it did not register within {:.1} s)",
                waited.as_secs_f64()
            ),
            PunchError::IntroducerFull(addr) => write!(f, "the introducer at {addr} is full"),
            PunchError::Untraversable {
                peer,
                peer_addr,
                public,
                peer_per_destination,
            } => write!(
                f,
                "cannot traverse the NATs to `{peer}` at {peer_addr}: none of its packets came \
through{}",
                PunchError::symmetric_note(public, *peer_per_destination)
            ),
            PunchError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl Error for PunchError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PunchError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PunchError> for io::Error {
    fn from(e: PunchError) -> io::Error {
        let kind = match &e {
            PunchError::BadName(_) => io::ErrorKind::InvalidInput,
            PunchError::IntroducerSilent(_) | PunchError::Untraversable { .. } => {
                io::ErrorKind::TimedOut
            }
            PunchError::UnknownPeer { .. } => io::ErrorKind::NotFound,
            PunchError::IntroducerFull(_) => io::ErrorKind::ResourceBusy,
            PunchError::Io(e) => return io::Error::new(e.kind(), e.to_string()),
        };
        io::Error::new(kind, e)
    }
}

/// Meets the peer registered as `peer` through the introducer at `via`
/// (and its second port, `via`'s port + 1), registering ourselves as
/// `name`, then connects to it with a rendezvous on `socket`: the peer
/// runs the same with the names swapped, at about the same time (either
/// may start first; the other has [`PunchConfig::peer_wait`]).
///
/// While it runs, it takes the socket's foreign datagrams
/// ([`UtpSocket::recv_foreign`]); those not from the introducer are
/// dropped. The rendezvous lasts
/// [`Config::rendezvous_timeout`](crate::Config::rendezvous_timeout), 30 s
/// by default.
pub async fn punch(
    socket: &UtpSocket,
    via: SocketAddr,
    name: &str,
    peer: &str,
    config: &PunchConfig,
) -> Result<Punched, PunchError> {
    for n in [name, peer] {
        if n.is_empty() || n.len() > MAX_NAME {
            return Err(PunchError::BadName(format!(
                "`{n}` is not a name: 1 to {MAX_NAME} bytes"
            )));
        }
    }
    if name == peer {
        return Err(PunchError::BadName(format!(
            "`{name}` cannot punch to itself"
        )));
    }
    let second = via
        .port()
        .checked_add(1)
        .map(|p| SocketAddr::new(via.ip(), p));
    let encode = |m: Message<'_>| m.encode().unwrap_or_default();
    let register = encode(Message::Register {
        name: name.as_bytes(),
    });
    let lookup = encode(Message::Lookup {
        name: name.as_bytes(),
        peer: peer.as_bytes(),
    });
    let started = tokio::time::Instant::now();
    // When the introducer first answered: the wait for the peer starts.
    let mut answered: Option<tokio::time::Instant> = None;
    let mut public: [Option<SocketAddr>; 2] = [None; 2];
    let mut ticks = tokio::time::interval(REGISTER_INTERVAL);
    let mut buf = vec![0u8; REQUEST_LEN];
    let (peer_addr, peer_per_destination) = loop {
        tokio::select! {
            _ = ticks.tick() => {
                match answered {
                    None if started.elapsed() >= config.introducer_wait => {
                        return Err(PunchError::IntroducerSilent(via));
                    }
                    Some(at) if at.elapsed() >= config.peer_wait => {
                        return Err(PunchError::UnknownPeer {
                            name: peer.into(),
                            waited: config.peer_wait,
                        });
                    }
                    _ => {}
                }
                send(socket, &register, via).await?;
                if let Some(second) = second {
                    if public[1].is_none() {
                        send(socket, &register, second).await?;
                    }
                }
                if public[0].is_some() {
                    send(socket, &lookup, via).await?;
                }
            }
            r = socket.recv_foreign(&mut buf) => {
                let (n, from) = r.map_err(PunchError::Io)?;
                if from != via && Some(from) != second {
                    continue;
                }
                match buf.get(..n).and_then(decode) {
                    Some(Message::Address { port_index, observed }) => {
                        let i = usize::from(from != via);
                        if usize::from(port_index.min(1)) == i {
                            if let Some(slot) = public.get_mut(i) {
                                *slot = Some(observed);
                            }
                            answered.get_or_insert_with(tokio::time::Instant::now);
                        }
                    }
                    Some(Message::Peer { name: got, addr, per_destination })
                        if got == peer.as_bytes() =>
                    {
                        break (addr, per_destination);
                    }
                    Some(Message::Error { code: ErrorCode::Full, .. }) => {
                        return Err(PunchError::IntroducerFull(via));
                    }
                    // UnknownPeer: it may register yet; NoSelf cannot happen.
                    _ => {}
                }
            }
        }
    };
    // The port the peer sees us at, for the duplicate rule.
    if let Some(ours) = public[0] {
        socket.set_local_port(ours.port());
    }
    match socket.connect_rendezvous(peer_addr).await {
        Ok(stream) => Ok(Punched {
            stream,
            peer_addr,
            public,
        }),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(PunchError::Untraversable {
            peer: peer.into(),
            peer_addr,
            public,
            peer_per_destination,
        }),
        Err(e) => Err(PunchError::Io(e)),
    }
}

async fn send(socket: &UtpSocket, bytes: &[u8], to: SocketAddr) -> Result<(), PunchError> {
    match socket.send_foreign(bytes, to).await {
        Ok(_) => Ok(()),
        // An earlier datagram's ICMP error: the next tick tries again.
        Err(e) if transient(&e) => Ok(()),
        Err(e) => Err(PunchError::Io(e)),
    }
}
