//! What the rendezvous tests put between our socket and the peer's: a
//! forwarder that records the uTP headers and can make the two SYNs cross;
//! and the peer's view of its two attempts (its `connect` to us and what its
//! listener made of our SYN), with the policy a BEP 55 client applies to
//! keep one.
//!
//! libutp reports a connection's fate through callbacks (`on_connect`,
//! `on_error` with ECONNREFUSED or ECONNRESET) that libutp-rs2 only logs: a
//! refused `connect` or a reset stream just never becomes readable. The
//! forwarder's record gives the test's libutp side what those callbacks
//! say, read from the packets libutp receives.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use utp_core::wire::{PacketRepr, PacketType};

/// Which way a datagram went, seen from the peer (libutp, libtorrent).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dir {
    /// From us to the peer.
    In,
    /// From the peer to us.
    Out,
}

/// One uTP header forwarded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Seen {
    /// Milliseconds since the forwarder started.
    pub(crate) ms: u64,
    pub(crate) dir: Dir,
    pub(crate) kind: PacketType,
    pub(crate) id: u16,
    pub(crate) seq: u16,
    pub(crate) ack: u16,
}

impl Seen {
    fn parse(dir: Dir, datagram: &[u8]) -> Option<Seen> {
        let p = PacketRepr::parse(datagram).ok()?;
        Some(Seen {
            ms: 0,
            dir,
            kind: p.packet_type,
            id: p.connection_id,
            seq: p.seq_nr.get(),
            ack: p.ack_nr.get(),
        })
    }
}

/// A UDP forwarder between our socket and the peer's: each sends to it as
/// if it were the other (one socket, so each sees one address for the
/// other, as behind a NAT that keeps the port). It records every uTP
/// header it forwards and can make the first SYNs cross: the first SYN of
/// either side waits until the other side's first SYN arrives, then both
/// go on, so that each side has sent its own before it sees the other's,
/// whichever started first (as on any path whose delay exceeds the start
/// offset). Repeats of the waiting SYN are dropped meanwhile.
pub(crate) struct Crossing {
    addr: SocketAddr,
    peer: Arc<OnceLock<SocketAddr>>,
    one_syn: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::AbortHandle,
}

impl Crossing {
    /// Forwards between `ours` and the peer [`set_peer`](Self::set_peer)
    /// names (before that, our datagrams are dropped).
    pub(crate) async fn start(ours: SocketAddr, cross: bool) -> Crossing {
        Crossing::start_on(ours, cross, |_| true).await
    }

    /// [`start`](Self::start) on a port that `port_ok` accepts.
    pub(crate) async fn start_on(
        ours: SocketAddr,
        cross: bool,
        port_ok: impl Fn(u16) -> bool,
    ) -> Crossing {
        let mut sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        while !port_ok(sock.local_addr().unwrap().port()) {
            sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        }
        let addr = sock.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let peer = Arc::new(OnceLock::new());
        let one_syn = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(forward(
            sock,
            ours,
            (peer.clone(), one_syn.clone()),
            cross,
            log.clone(),
        ));
        Crossing {
            addr,
            peer,
            one_syn,
            log,
            task: task.abort_handle(),
        }
    }

    /// The peer's address.
    pub(crate) fn set_peer(&self, peer: SocketAddr) {
        self.peer.set(peer).unwrap();
    }

    /// From now on, a SYN identical to one already forwarded is dropped:
    /// libtorrent makes a new connection of every SYN it receives, and our
    /// SYN sent again on winning the contest would make it a second one.
    pub(crate) fn one_syn_each(&self) {
        self.one_syn.store(true, Ordering::Relaxed);
    }

    /// Where both sides send.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything forwarded so far.
    pub(crate) fn log(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// The peer's view of its attempts so far.
    pub(crate) fn view(&self) -> View {
        View::of(&self.log())
    }
}

impl Drop for Crossing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    sock: tokio::net::UdpSocket,
    ours: SocketAddr,
    (peer, one_syn): (Arc<OnceLock<SocketAddr>>, Arc<AtomicBool>),
    cross: bool,
    log: Arc<Mutex<Vec<Seen>>>,
) {
    let mut syns_sent: Vec<Vec<u8>> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut crossed = !cross;
    let mut held: Option<(Vec<u8>, SocketAddr, Dir)> = None;
    let t0 = std::time::Instant::now();
    let send = |d: &[u8], to: SocketAddr, dir: Dir| {
        if let Some(mut s) = Seen::parse(dir, d) {
            s.ms = t0.elapsed().as_millis() as u64;
            log.lock().unwrap().push(s);
        }
        // Loopback: a full buffer drops it, as a network would.
        let _ = sock.try_send_to(d, to);
    };
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let d = &buf[..n];
        let Some(&peer) = peer.get() else {
            continue;
        };
        let (to, dir) = if from == ours {
            (peer, Dir::In)
        } else if from == peer {
            (ours, Dir::Out)
        } else {
            continue;
        };
        let is_syn = Seen::parse(dir, d).is_some_and(|s| s.kind == PacketType::Syn);
        if is_syn && one_syn.load(Ordering::Relaxed) {
            // (The timestamp differs: compare the header without it.)
            let key = [&d[..4], &d[12..]].concat();
            if syns_sent.contains(&key) {
                continue;
            }
            syns_sent.push(key);
        }
        if !crossed && is_syn {
            match held.take() {
                None => {
                    held = Some((d.to_vec(), to, dir));
                    continue;
                }
                Some(h) if h.2 == dir => {
                    held = Some(h);
                    continue;
                }
                Some((first, first_to, first_dir)) => {
                    crossed = true;
                    send(d, to, dir);
                    send(&first, first_to, first_dir);
                    continue;
                }
            }
        }
        send(d, to, dir);
    }
}

/// One of the libutp side's two attempts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Attempt {
    /// Its `connect` to us.
    Outgoing,
    /// What its listener made of our SYN.
    Incoming,
}

/// How an attempt stands, from the packets libutp received.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fate {
    /// Not begun (no SYN of it seen) or still open.
    Pending,
    /// Proved both ways: the outgoing SYN answered by STATE, or, for the
    /// incoming one, a packet from the initiator after libutp's STATE.
    Counted,
    /// Ended by a RESET from us (libutp's ECONNREFUSED or ECONNRESET)
    /// without having counted.
    Reset,
}

/// The libutp side's view of both attempts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct View {
    /// The outgoing SYN's (id, seq), once sent.
    pub(crate) out_syn: Option<(u16, u16)>,
    /// Our SYN's (id, seq), once received.
    pub(crate) in_syn: Option<(u16, u16)>,
    pub(crate) outgoing: Fate,
    pub(crate) incoming: Fate,
}

impl View {
    /// Reads the log.
    pub(crate) fn of(log: &[Seen]) -> View {
        let first_syn = |dir| {
            log.iter()
                .find(|s| s.dir == dir && s.kind == PacketType::Syn)
                .map(|s| (s.id, s.seq))
        };
        let (out_syn, in_syn) = (first_syn(Dir::Out), first_syn(Dir::In));
        let received = |ids: [u16; 2], kinds: &[PacketType], ack: Option<u16>| {
            log.iter().any(|s| {
                s.dir == Dir::In
                    && ids.contains(&s.id)
                    && kinds.contains(&s.kind)
                    && ack.is_none_or(|a| a == s.ack)
            })
        };
        // (A connection that counted stays counted when it ends.)
        let fate = |counted: bool, reset: bool| match (counted, reset) {
            (true, _) => Fate::Counted,
            (false, true) => Fate::Reset,
            (false, false) => Fate::Pending,
        };
        let outgoing = out_syn.map_or(Fate::Pending, |(id, seq)| {
            fate(
                received([id, id], &[PacketType::State], Some(seq)),
                received([id, id.wrapping_add(1)], &[PacketType::Reset], None),
            )
        });
        // Our side sends on the incoming connection with id + 1.
        let incoming = in_syn.map_or(Fate::Pending, |(id, _)| {
            let next = id.wrapping_add(1);
            fate(
                received(
                    [next, next],
                    &[PacketType::State, PacketType::Data, PacketType::Fin],
                    None,
                ),
                received([id, next], &[PacketType::Reset], None),
            )
        });
        View {
            out_syn,
            in_syn,
            outgoing,
            incoming,
        }
    }

    /// The policy of a BEP 55 client (libtorrent's rule for two connections
    /// with one peer): the attempt that counted; if both did, the side with
    /// the lower port keeps its outgoing one. `None` while neither counts.
    pub(crate) fn keep(&self, libutp_port: u16, our_port: u16) -> Option<Attempt> {
        match (self.outgoing, self.incoming) {
            (Fate::Counted, Fate::Counted) if libutp_port < our_port => Some(Attempt::Outgoing),
            (Fate::Counted, Fate::Counted) => Some(Attempt::Incoming),
            (Fate::Counted, _) => Some(Attempt::Outgoing),
            (_, Fate::Counted) => Some(Attempt::Incoming),
            _ => None,
        }
    }

    /// The fate of `attempt`.
    pub(crate) fn fate(&self, attempt: Attempt) -> Fate {
        match attempt {
            Attempt::Outgoing => self.outgoing,
            Attempt::Incoming => self.incoming,
        }
    }
}

/// Our SYN's (id, seq) of an endpoint with `seed` that starts a rendezvous:
/// what a socket made with that `DriverConfig::seed` sends.
pub(crate) fn our_syn(seed: u64) -> (u16, u16) {
    let mut ep = utp_core::Endpoint::new(utp_core::Config::default(), seed);
    let now = utp_core::Timestamp::from_secs(1);
    let peer = SocketAddr::from(([127, 0, 0, 1], 9));
    ep.connect_rendezvous(now, peer).unwrap();
    let mut buf = [0u8; 1500];
    let t = ep.poll_transmit(now, &mut buf).unwrap();
    let p = PacketRepr::parse(&buf[..t.len]).unwrap();
    assert_eq!(p.packet_type, PacketType::Syn);
    (p.connection_id, p.seq_nr.get())
}

/// The first seed whose SYN id satisfies `want`.
pub(crate) fn seed_where(want: impl Fn(u16) -> bool) -> u64 {
    (1..100_000).find(|&s| want(our_syn(s).0)).unwrap()
}
