//! # utp-tokio
//!
//! uTP ([BEP 29]) sockets and streams for tokio, on the sans-IO
//! [`utp_core`].
//!
//! A [`UtpSocket`] owns one UDP socket and every uTP connection on it; a
//! task spawned with [`tokio::spawn`] when the socket is made runs the
//! shared [`utp_driver::Driver`] loop (receive, timers, retransmits).
//! [`UtpSocket::connect`] and [`UtpSocket::accept`] give [`UtpStream`]s,
//! which are [`AsyncRead`](tokio::io::AsyncRead) + [`AsyncWrite`](tokio::io::AsyncWrite) like a `TcpStream`:
//! `shutdown` sends a FIN (the peer reads `Ok(0)` and can still write
//! back), and dropping a stream closes it gracefully (data written is still
//! delivered). Datagrams of other protocols arriving on the socket (DHT,
//! trackers) are handed to [`UtpSocket::recv_foreign`].
//!
//! The runtime needs both its I/O and time drivers (`enable_all`).
//!
//! [`UtpSocket::bind`] and [`UtpSocket::connect`] take anything tokio
//! resolves ([`tokio::net::ToSocketAddrs`]: a `SocketAddr`, `"host:port"`,
//! `(host, port)`); names are looked up on tokio's blocking pool. The UDP
//! socket is made as [`DriverConfig::socket`] ([`SocketOptions`]) says: a
//! 4 MiB receive buffer, dual stack for `[::]` (IPv4 peers reach it and
//! are reported as plain IPv4 addresses), and on Linux ICMP errors read
//! from the socket, so a connect to a port where nothing listens fails
//! with `ConnectionRefused` at once rather than timing out.
//!
//! The driver task lives while any [`UtpSocket`] handle or stream exists;
//! after the last is dropped it lets closing connections finish their FIN
//! exchange (at most 30 s), then exits and the UDP socket closes. A program
//! that must know its data arrived before it exits calls
//! [`UtpSocket::close`] and awaits [`UtpSocket::wait_idle`] (returning from
//! `main` stops the runtime, and the driver with it).
//!
//! ## How a connection ends
//!
//! [`UtpStream::closed`] resolves with a [`CloseInfo`]: the
//! [`CloseReason`] (finished, reset by the peer, refused, timed out with
//! the [`Timer`] that ran out, aborted, closed locally) and the
//! close-reason code the peer sent (uTP extension 3, as libtorrent sends
//! it; [`UtpStream::set_close_reason`] sends ours). Errors from reads and
//! writes carry the matching `io::ErrorKind` (`ConnectionReset`,
//! `ConnectionRefused`, `TimedOut`, ...).
//!
//! ## Other carriers: the Portal Network
//!
//! A [`UtpSocket<P>`](UtpSocket) runs over any [`Transport`] of datagrams
//! to peers of a [`Peer`] type (node ids, for uTP inside the Portal
//! Network's discv5 messages): [`UtpSocket::with_transport`], then
//! [`connect_peer`](UtpSocket::connect_peer), [`accept`](UtpSocket::accept),
//! and, with connection ids agreed out of band,
//! [`connect_with_id`](UtpSocket::connect_with_id) and
//! [`accept_with_id`](UtpSocket::accept_with_id) (whose stream may write
//! first). Packets never exceed the peer's [`Peer::max_packet_size`].
//! [`MemoryNetwork`] is such a transport in memory, for tests;
//! `examples/portal.rs` moves content both ways between two node ids.
//!
//! ## Staying connected to N peers
//!
//! [`Manager::spawn`] runs utp-core's connection manager on a socket: it
//! keeps [`ManagerConfig::target_outbound`] outbound connections among the
//! candidates you give it ([`Manager::add_candidate`], answering
//! [`ManagerEvent::WantCandidates`]), redials permanent peers with backoff,
//! limits inbound connections per IP and subnet, drops connections that
//! make no progress, and hands each connection it keeps to you as
//! [`ManagerEvent::Connected`].
//!
//! ## Many cores: one port, several sockets
//!
//! A [`UtpSocket`]'s connections share one endpoint behind one lock, so
//! one driver loop runs at a time. [`ShardedListener::bind`] binds `N`
//! sockets to one port with `SO_REUSEPORT` (Unix), each a `UtpSocket` with
//! its own endpoint and driver task; Linux steers each remote `IP:port` to
//! one of them by a hash, and `accept` merges them. It only accepts: the
//! answer to an outgoing connection's SYN would reach whichever shard the
//! remote hashes to, not the one that sent it (see its documentation).
//!
//! ## Throughput: where to run a stream's reads and writes
//!
//! The driver task runs on a worker of the runtime. On the current-thread
//! runtime, or on the multi-thread one with the stream's reads and writes
//! in a task of their own ([`tokio::spawn`]), the driver and the
//! application mostly share a thread. Reads and writes in `block_on` (the
//! body of `#[tokio::main]`) run on the main thread instead, and every
//! hand-over between it and the driver crosses threads: in the workspace's
//! two-process loopback benchmark (`bench/`, a 2-core machine) a spawned
//! task moved 1.25-2.1x (usually about 1.4x) what `block_on` moved in
//! nine runs. [`UtpStream::write_bytes`] takes a [`Bytes`](bytes::Bytes)
//! without copying it into the send buffer.
//!
//! ## Cancellation
//!
//! `accept`, `recv_foreign`, `send_foreign`, `closed` and `wait_idle` are
//! cancel safe. Dropping a `connect` future abandons that connection. Reads
//! and writes are poll-based (`AsyncRead`/`AsyncWrite`): a write that
//! returned `Pending` took nothing.
//!
//! ## Example: echo over loopback
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use utp_tokio::UtpSocket;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = UtpSocket::bind("127.0.0.1:0").await?;
//!     let addr = server.local_addr()?;
//!     let echo = tokio::spawn(async move {
//!         let (mut stream, _peer) = server.accept().await?;
//!         let mut buf = [0u8; 4096];
//!         loop {
//!             let n = stream.read(&mut buf).await?;
//!             if n == 0 {
//!                 break; // the client shut down its side
//!             }
//!             stream.write_all(&buf[..n]).await?;
//!         }
//!         stream.shutdown().await // FIN: the client reads to the end
//!     });
//!
//!     let client = UtpSocket::bind("127.0.0.1:0").await?;
//!     let mut stream = client.connect(addr).await?;
//!     stream.write_all(b"hello over uTP").await?;
//!     stream.shutdown().await?;
//!     let mut echoed = Vec::new();
//!     stream.read_to_end(&mut echoed).await?;
//!     assert_eq!(echoed, b"hello over uTP");
//!     echo.await??;
//!     Ok(())
//! }
//! ```
//!
//! ## The API at a glance
//!
//! Not run here: it dials a documentation address.
//!
// The root README's "Use it" shows this block; .ci/readme-samples keeps them equal.
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use utp_tokio::UtpSocket;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let socket = UtpSocket::bind("0.0.0.0:6881").await?; // one UDP socket, many connections
//!     let mut stream = socket.connect("198.51.100.7:6881").await?;
//!     stream.write_all(b"hello").await?; // AsyncRead + AsyncWrite, like a TcpStream
//!     stream.shutdown().await?; // FIN; the peer can still answer
//!     let mut reply = Vec::new();
//!     stream.read_to_end(&mut reply).await?;
//!
//!     let (incoming, peer) = socket.accept().await?; // incoming connections, same socket
//!     let mut buf = [0u8; 1500];
//!     let (n, from) = socket.recv_foreign(&mut buf).await?; // DHT etc. on the same port
//!     socket.send_foreign(&buf[..n], from).await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Configuration
//!
//! [`UtpSocket::bind_with`], [`UtpSocket::from_std`] and
//! [`UtpSocket::from_tokio`] take a [`DriverConfig`]: the endpoint's
//! [`Config`] (timeouts, buffers, packet sizes, the congestion controller,
//! rate limits), the listener's [`ListenConfig`] (or `None` to refuse
//! incoming connections), and the socket loop's own settings. Start from
//! `Default` and set fields; an invalid configuration
//! ([`DriverConfig::validate`]) is refused with
//! `io::ErrorKind::InvalidInput`, the [`ConfigError`] inside. Everything
//! needed for it (and for a congestion [`Controller`] of your own) is
//! re-exported here, so no direct dependency on `utp-core` is needed.
//! [`UtpSocket::set_max_send_rate`] limits the bytes per second all
//! connections of a socket send together, at any time.
//!
//! ## Through NATs
//!
//! [`UtpSocket::connect_rendezvous`] connects two peers that connect to
//! each other at once, as hole punching needs; [`introducer`] finds the
//! peer's public address through a small introducer and makes the
//! rendezvous ([`introducer::punch`]); with the feature `port-mapping`,
//! `portmap` asks the router for a public port by PCP, NAT-PMP or UPnP IGD.
//!
//! [BEP 29]: https://www.bittorrent.org/beps/bep_0029.html

#![forbid(unsafe_code)]

mod sharded;
mod socket;
mod task;
mod transport;

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use socket::Socket;
use task::DriverTask;
use tokio::net::UdpSocket;
use transport::{Carrier, TransportSocket};
use utp_driver::{Clock, DatagramSocket, Driver};

pub mod introducer;
mod manager;
mod memory;
#[cfg(feature = "port-mapping")]
pub mod portmap;
mod stream;

pub use manager::{Manager, ManagerEvent};
pub use memory::{MemoryNetwork, MemoryTransport};
pub use sharded::ShardedListener;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReuniteError, UtpStream};
pub use transport::Transport;
pub use utp_core::manager::{DisconnectReason, ManagerConfig, ManagerStats, PeerId};
// Everything needed to configure a socket, and to write a congestion
// controller, without depending on utp-core (the same list in every adapter).
/// The `bytes` crate [`UtpStream::write_bytes`] takes its buffers from.
pub use utp_core::bytes;
pub use utp_core::congestion::{
    AckSample, CongestionKind, Controller, ControllerContext, ControllerFactory, LedbatConfig,
};
pub use utp_core::{
    AcceptDecision, CloseInfo, CloseReason, Config, ConfigError, ConnStats, DuplicateRule,
    EndpointStats, IntervalStats, ListenConfig, Peer, SynCookies, SynInfo, Timer, Timestamp,
};
pub use utp_driver::{DriverConfig, DriverStats, SocketInterval, SocketOptions};

/// What the driver task, socket handles and streams share.
struct Shared<P: Peer = SocketAddr> {
    driver: Mutex<Driver<P>>,
    socket: Box<dyn Carrier<P>>,
    clock: Clock,
    /// Live socket handles (all clones of one [`UtpSocket`] count once)
    /// and streams.
    handles: AtomicUsize,
}

impl<P: Peer> Shared<P> {
    fn lock(&self) -> MutexGuard<'_, Driver<P>> {
        self.driver.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> utp_core::Timestamp {
        self.clock.timestamp(Instant::now())
    }

    fn acquire(&self) {
        self.handles.fetch_add(1, Ordering::AcqRel);
    }

    /// One handle fewer; the last one wakes the loop so that it starts
    /// winding down.
    fn release(&self) {
        if self.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.lock().wake_driver();
        }
    }
}

/// One handle's share of the socket (all clones of a [`UtpSocket`] hold
/// one).
struct SocketRef<P: Peer>(Arc<Shared<P>>);

impl<P: Peer> Drop for SocketRef<P> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A UDP socket carrying uTP connections: connect from it, accept on it,
/// and exchange other protocols' datagrams on it. Cloning is cheap; every
/// clone is the same socket.
///
/// Its peers are `P`s: `SocketAddr`s for a UDP socket (the default), or
/// those of a [`Transport`] ([`UtpSocket::with_transport`]).
pub struct UtpSocket<P: Peer = SocketAddr> {
    inner: Arc<SocketRef<P>>,
}

impl<P: Peer> Clone for UtpSocket<P> {
    fn clone(&self) -> Self {
        UtpSocket {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Peer> UtpSocket<P> {
    fn shared(&self) -> &Arc<Shared<P>> {
        &self.inner.0
    }
}

impl<P: Peer> std::fmt::Debug for UtpSocket<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let local = self
            .shared()
            .socket
            .udp()
            .and_then(|u| u.io.local_addr().ok());
        f.debug_struct("UtpSocket")
            .field("local_addr", &local)
            .finish_non_exhaustive()
    }
}

impl UtpSocket {
    /// Binds a UDP socket to `addr` (the first resolved address that
    /// works) and listens for incoming connections (the default
    /// [`DriverConfig`]).
    pub async fn bind(addr: impl tokio::net::ToSocketAddrs) -> io::Result<UtpSocket> {
        Self::bind_with(addr, DriverConfig::default()).await
    }

    /// Binds a UDP socket to `addr` with `config` (`listen: None` refuses
    /// incoming connections; [`DriverConfig::socket`] sets buffer sizes,
    /// dual stack and ICMP errors). Host names are resolved by tokio
    /// ([`tokio::net::lookup_host`], on its blocking pool). `[::]` makes a
    /// dual-stack socket by default, which IPv4 peers reach too.
    ///
    /// An invalid `config` ([`DriverConfig::validate`]) is refused with
    /// [`io::ErrorKind::InvalidInput`], the [`ConfigError`] as its source.
    pub async fn bind_with(
        addr: impl tokio::net::ToSocketAddrs,
        config: DriverConfig,
    ) -> io::Result<UtpSocket> {
        config.validate()?;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
        let socket = utp_driver::bind_udp(&addrs[..], &config.socket)?;
        runtime()?;
        Self::start(UdpSocket::from_std(socket)?, config)
    }

    /// Takes over a bound std socket (made non-blocking here), applying
    /// [`DriverConfig::socket`] ([`utp_driver::configure`]). Must be called
    /// within a tokio runtime. An invalid `config` is refused as by
    /// [`bind_with`](Self::bind_with).
    pub fn from_std(socket: std::net::UdpSocket, config: DriverConfig) -> io::Result<UtpSocket> {
        config.validate()?;
        runtime()?;
        socket.set_nonblocking(true)?;
        Self::from_tokio(UdpSocket::from_std(socket)?, config)
    }

    /// Takes over a bound tokio socket, applying [`DriverConfig::socket`]
    /// ([`utp_driver::configure`]). Must be called within a tokio runtime
    /// (the driver task is spawned on it). An invalid `config` is refused
    /// as by [`bind_with`](Self::bind_with).
    pub fn from_tokio(socket: UdpSocket, config: DriverConfig) -> io::Result<UtpSocket> {
        utp_driver::configure(&socket, &config.socket)?;
        Self::start(socket, config)
    }

    fn start(socket: UdpSocket, config: DriverConfig) -> io::Result<UtpSocket> {
        config.validate()?;
        let socket = Socket::new(socket, config.batching);
        let driver = Driver::new(config, socket.max_send_segments());
        UtpSocket::spawn(driver, Box::new(socket))
    }

    /// Connects to `remote`: resolves once the handshake completed, or
    /// with `ConnectionRefused` (the peer answered RESET, or, on Linux,
    /// ICMP said nothing listens there) or `TimedOut`
    /// ([`Config::connect_timeout`]).
    ///
    /// `remote` is resolved by tokio; the first address the socket can
    /// reach is used: one of its family, or any from a dual-stack socket
    /// (`InvalidInput` when there is none).
    ///
    /// Not cancel safe in the sense that dropping the future abandons the
    /// attempt (the half-made connection is closed); nothing else is lost.
    pub async fn connect(&self, remote: impl tokio::net::ToSocketAddrs) -> io::Result<UtpStream> {
        let candidates = tokio::net::lookup_host(remote).await?;
        let udp = self.udp();
        let local = udp.io.local_addr()?;
        let remote = utp_driver::pick_remote(local, udp.dual_stack, candidates)?;
        let stream = self
            .open(utp_driver::canonical(remote), |d, socket, now| {
                d.connect(socket, now, remote)
            })
            .await?;
        Ok(stream)
    }

    /// The UDP socket (a `UtpSocket<SocketAddr>` is made only on one).
    fn udp(&self) -> &Socket {
        match self.shared().socket.udp() {
            Some(udp) => udp,
            None => unreachable_udp(),
        }
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp().io.local_addr()
    }

    /// Sends a datagram of another protocol from this socket (to an IPv4
    /// address from a dual-stack socket too).
    ///
    /// Cancel safe: the datagram was sent or not, never half.
    pub async fn send_foreign(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let socket = self.udp();
        let to = match socket.dual_stack {
            true => utp_driver::remote_for(socket.io.local_addr()?, true, to)?,
            false => to,
        };
        match socket.io.send_to(buf, to).await {
            // An ICMP error another datagram caused, reported here.
            Err(e) if socket.errors.is_on() && utp_driver::may_be_deferred(&e) => {
                self.shared().lock().wake_driver();
                socket.io.send_to(buf, to).await
            }
            result => result,
        }
    }

    /// The socket's receive buffer size as the system reports it (Linux:
    /// twice the bytes granted); see [`SocketOptions::recv_buffer`].
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        utp_driver::buffer_sizes(&self.udp().io).map(|(recv, _)| recv)
    }

    /// The socket's send buffer size as the system reports it.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        utp_driver::buffer_sizes(&self.udp().io).map(|(_, send)| send)
    }
}

/// A `UtpSocket<SocketAddr>` without its UDP socket cannot be made: only
/// [`UtpSocket::start`] makes one, with a UDP socket.
#[cold]
fn unreachable_udp() -> ! {
    #[allow(clippy::panic)]
    {
        panic!("a UtpSocket<SocketAddr> always has a UDP socket")
    }
}

impl<P: Peer + Send + 'static> UtpSocket<P> {
    /// uTP over `transport`, a carrier of datagrams to peers of type `P`
    /// that is not a UDP socket (see [`Transport`]): a driver task is
    /// spawned on the current tokio runtime, as for a UDP socket, and
    /// everything else works the same. `config` is made with
    /// [`DriverConfig::with_peer_type`] (its [`DriverConfig::socket`]
    /// and [`DriverConfig::batching`] do not apply). An invalid `config`
    /// is refused as by [`bind_with`](UtpSocket::bind_with).
    pub fn with_transport(
        transport: impl Transport<P>,
        config: DriverConfig<P>,
    ) -> io::Result<UtpSocket<P>> {
        config.validate()?;
        let driver = Driver::with_peer_type(config, 1);
        UtpSocket::spawn(driver, Box::new(TransportSocket::new(transport)))
    }

    fn spawn(mut driver: Driver<P>, socket: Box<dyn Carrier<P>>) -> io::Result<UtpSocket<P>> {
        let runtime = runtime()?;
        // On one thread the loop's task runs right after the readers it
        // woke: their window updates wait for it and leave together.
        if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
            driver.set_defer_read_output(true);
        }
        let shared = Arc::new(Shared {
            driver: Mutex::new(driver),
            socket,
            clock: Clock::new(Instant::now()),
            handles: AtomicUsize::new(1),
        });
        runtime.spawn(DriverTask::new(shared.clone()));
        Ok(UtpSocket {
            inner: Arc::new(SocketRef(shared)),
        })
    }

    /// Starts a connection with `open` and waits for its handshake.
    async fn open(
        &self,
        peer: P,
        open: impl FnOnce(
            &mut Driver<P>,
            &dyn Carrier<P>,
            Timestamp,
        ) -> io::Result<utp_core::ConnHandle>,
    ) -> io::Result<UtpStream<P>> {
        let shared = self.shared();
        let h = open(&mut shared.lock(), &*shared.socket, shared.now())?;
        // Made first so that a dropped future closes the connection.
        let stream = UtpStream::new(shared.clone(), h, peer);
        poll_fn(|cx| shared.lock().poll_connect(h, cx)).await?;
        Ok(stream)
    }

    /// Connects to `peer` (for a UDP socket, [`connect`](UtpSocket::connect)
    /// takes names and picks the address): resolves once the handshake
    /// completed, or fails as `connect` does.
    pub async fn connect_peer(&self, peer: P) -> io::Result<UtpStream<P>> {
        let remote = peer.clone();
        self.open(peer, |d, socket, now| d.connect(socket, now, remote))
            .await
    }

    /// Connects to `peer` with the connection id `id` agreed out of band
    /// (the Portal Network's CONTENT and ACCEPT messages): the SYN carries
    /// `id`; the other side expects it with
    /// [`accept_with_id`](Self::accept_with_id). `AddrInUse` if the id is
    /// in use with `peer`. Otherwise as [`connect_peer`](Self::connect_peer).
    pub async fn connect_with_id(&self, peer: P, id: u16) -> io::Result<UtpStream<P>> {
        let remote = peer.clone();
        self.open(peer, |d, socket, now| {
            d.connect_with_id(socket, now, remote, id)
        })
        .await
    }

    /// Connects to `peer` while `peer` connects to us, as hole punching
    /// through NATs needs (both learn each other's public address from a
    /// third party first): SYNs every 250 ms (+ jitter) until the other's
    /// arrives, for at most [`Config::rendezvous_timeout`] (30 s, then
    /// `TimedOut`). When both sides are ours, the crossing SYNs make one
    /// connection. The socket need not listen, but against a BEP 29 peer
    /// (libtorrent) it should: when ours wins, that peer may keep only the
    /// connection its own SYN started, which [`accept`](Self::accept) then
    /// hands out. When both connections live, the socket keeps one by
    /// [`Config::rendezvous_duplicates`] (libtorrent's rule: the lower port
    /// keeps its outgoing one): if that is the accepted one, this stream is
    /// half-closed and its writes fail with `ConnectionAborted`
    /// (`utp_core::Error::Duplicate` inside); reads go on until the peer's
    /// FIN. `AddrInUse` while another rendezvous with `peer` waits.
    pub async fn connect_rendezvous(&self, peer: P) -> io::Result<UtpStream<P>> {
        let remote = peer.clone();
        self.open(peer, |d, socket, now| {
            d.connect_rendezvous(socket, now, remote)
        })
        .await
    }

    /// Expects a connection from `peer` with the connection id `id` agreed
    /// out of band: resolves with its stream once `peer`'s SYN with `id`
    /// came (before the listener and its filter see it), or with
    /// `TimedOut` after `timeout`. The stream may write at once: its data
    /// goes before the initiator's next packet, as the Portal Network's
    /// acceptors send content first. Register before telling the peer the
    /// id. `AddrInUse` if the id is in use with `peer`.
    ///
    /// Not cancel safe in the sense that dropping the future gives up the
    /// expected connection.
    pub async fn accept_with_id(
        &self,
        peer: P,
        id: u16,
        timeout: Duration,
    ) -> io::Result<UtpStream<P>> {
        let remote = peer.clone();
        self.open(peer, |d, socket, now| {
            d.accept_with_id(socket, now, remote, id, timeout)
        })
        .await
    }

    /// The next incoming connection and its peer. Several tasks may wait
    /// at once (on clones of the socket); each connection goes to one of
    /// them.
    ///
    /// Cancel safe: a connection is taken from the backlog only when the
    /// future completes.
    pub async fn accept(&self) -> io::Result<(UtpStream<P>, P)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// [`accept`](Self::accept) as a poll (what [`ShardedListener`] merges).
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UtpStream<P>, P)>> {
        let shared = self.shared();
        let (h, peer) = ready!(shared.lock().poll_accept(cx))?;
        Poll::Ready(Ok((UtpStream::new(shared.clone(), h, peer.clone()), peer)))
    }

    /// The next datagram received that was not uTP (DHT, tracker, ...),
    /// copied into `buf` (truncated if longer): its length and sender.
    /// Several tasks may wait at once; each datagram goes to one of them.
    ///
    /// Cancel safe: a datagram is taken only when the future completes.
    pub async fn recv_foreign(&self, buf: &mut [u8]) -> io::Result<(usize, P)> {
        poll_fn(|cx| self.poll_recv_foreign(cx, buf)).await
    }

    /// [`recv_foreign`](Self::recv_foreign) as a poll.
    fn poll_recv_foreign(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, P)>> {
        self.shared().lock().poll_recv_foreign(cx, buf)
    }

    /// Winds the whole socket down gracefully: no more connections are
    /// accepted or made (`accept` and `connect` fail with `NotConnected`),
    /// and every connection is closed as if its stream were dropped: data
    /// already written is still delivered, nothing more is read (reads and
    /// writes on the streams fail). Await [`wait_idle`](Self::wait_idle)
    /// before exiting for that delivery to complete.
    pub fn close(&self) {
        let shared = self.shared();
        shared.lock().close_all(&*shared.socket, shared.now());
    }

    /// Resolves once no connection is left on the socket: each finished
    /// (both FINs acknowledged), timed out or was reset, and its stream was
    /// dropped (or [`close`](Self::close) released it). After
    /// `close()` this is when every byte written has been acknowledged by
    /// its peer or its connection has failed; returning from `main` before
    /// it ends the driver with data unacknowledged.
    ///
    /// Cancel safe.
    pub async fn wait_idle(&self) -> io::Result<()> {
        poll_fn(|cx| self.shared().lock().poll_idle(cx)).await
    }

    /// Limits the bytes per second all connections of this socket send together
    /// ([`Config::max_total_send_rate`]: SYN, DATA and FIN packets, headers and
    /// retransmissions included; acks are never held back). `None` (or
    /// `Some(0)`) lifts the limit. It takes effect at once, for the connections
    /// open and those to come; each connection's own cap
    /// ([`Config::max_send_rate`]) still applies.
    pub fn set_max_send_rate(&self, rate: Option<u64>) {
        let shared = self.shared();
        let mut driver = shared.lock();
        driver.endpoint().set_now(shared.now());
        driver.endpoint().set_max_total_send_rate(rate);
        driver.wake_driver();
    }

    /// Tells the socket the port its peers see it at, when a NAT maps it
    /// to another than its own (the introducer's answer says which): the
    /// rule that keeps one of two connections with a rendezvous peer
    /// compares it with the peer's ([`Config::rendezvous_duplicates`]).
    /// Without it, the socket's own port is used.
    pub fn set_local_port(&self, port: u16) {
        self.shared().lock().endpoint().set_local_port(port);
    }

    /// Counters of traffic that belongs to no connection.
    pub fn endpoint_stats(&self) -> EndpointStats {
        self.shared().lock().endpoint_stats()
    }

    /// The driver's counters (datagrams and calls on the socket).
    pub fn driver_stats(&self) -> DriverStats {
        self.shared().lock().stats()
    }
}

fn runtime() -> io::Result<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current()
        .map_err(|e| io::Error::other(format!("utp-tokio needs a tokio runtime: {e}")))
}
