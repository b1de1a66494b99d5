//! # utp-async-std
//!
//! uTP ([BEP 29]) sockets and streams on [`async-io`](async_io) and
//! [`futures-io`](futures_io): a [`UtpSocket`] owns one UDP socket, connects
//! and accepts [`UtpStream`]s (`futures_io::AsyncRead + AsyncWrite`), and
//! shares the socket with other protocols (the DHT) through
//! [`recv_foreign`](UtpSocket::recv_foreign) and
//! [`send_foreign`](UtpSocket::send_foreign).
//!
//! It depends on no executor, so it works the same under **async-std** and
//! **smol** (and any other executor, or plain [`async_io::block_on`]). Each
//! socket's protocol loop ([`utp_driver`]) runs on a background thread
//! named `utp-driver`, which exits once every handle (socket clones and
//! streams) is dropped and the connections left have finished closing, or
//! 30 s after that at most; the UDP socket closes with it.
//!
//! [`UtpSocket::bind`] and [`UtpSocket::connect`] take anything
//! [`async_net::AsyncToSocketAddrs`] takes (a `SocketAddr`, `"host:port"`,
//! `(host, port)`); names are looked up on a thread pool, off the
//! executor. The UDP socket is made as [`DriverConfig::socket`]
//! ([`SocketOptions`]) says: a 4 MiB receive buffer, dual stack for `[::]`
//! (IPv4 peers reach it and are reported as plain IPv4 addresses), and on
//! Linux ICMP errors read from the socket, so a connect to a port where
//! nothing listens fails with `ConnectionRefused` at once rather than
//! timing out.
//!
//! Closing: [`AsyncWriteExt::close`](futures_lite::AsyncWriteExt::close)
//! half-closes (a FIN after the data written; the peer reads `Ok(0)`, and
//! this side can still read); dropping a stream closes it gracefully (data
//! already written is still delivered); [`UtpStream::abort`] resets it.
//! [`UtpStream::closed`] resolves with how the connection ended (a
//! [`CloseInfo`]: the [`CloseReason`], with the [`Timer`] for a timeout, and
//! the close-reason code the peer sent). [`UtpSocket::close`] then
//! [`UtpSocket::wait_idle`] end the whole socket once every byte written was
//! delivered.
//!
//! ## Staying connected to N peers
//!
//! [`Manager::spawn`] runs utp-core's connection manager on a socket, on a
//! `utp-manager` thread: it keeps [`ManagerConfig::target_outbound`]
//! outbound connections among the candidates you give it
//! ([`Manager::add_candidate`], answering
//! [`ManagerEvent::WantCandidates`](utp_driver::ManagerEvent::WantCandidates)),
//! redials permanent peers with backoff, limits inbound connections per IP
//! and subnet, drops connections that make no progress, and hands each
//! connection it keeps to you as
//! [`ManagerEvent::Connected`](utp_driver::ManagerEvent::Connected).
//!
//! Cancellation: `accept`, `recv_foreign`, `send_foreign`, `closed` and
//! `wait_idle` are cancel safe; dropping a `connect` future abandons that
//! connection; reads and writes are poll-based (a write that returned
//! `Pending` took nothing).
//!
//! ## Example: echo over loopback
//!
//! ```
//! use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
//! use utp_async_std::UtpSocket;
//!
//! async_io::block_on(async {
//!     let server = UtpSocket::bind("127.0.0.1:0").await?;
//!     let client = UtpSocket::bind("127.0.0.1:0").await?;
//!     let addr = server.local_addr()?;
//!
//!     let serve = async {
//!         let (mut stream, _peer) = server.accept().await?;
//!         let mut buf = Vec::new();
//!         stream.read_to_end(&mut buf).await?; // until the client's FIN
//!         stream.write_all(&buf).await?;
//!         stream.close().await // our FIN
//!     };
//!     let talk = async {
//!         let mut stream = client.connect(addr).await?;
//!         stream.write_all(b"hello over uTP").await?;
//!         stream.close().await?; // half-close: we can still read
//!         let mut echoed = Vec::new();
//!         stream.read_to_end(&mut echoed).await?;
//!         Ok::<_, std::io::Error>(echoed)
//!     };
//!     let (served, echoed) = future::zip(serve, talk).await;
//!     served?;
//!     assert_eq!(echoed?, b"hello over uTP");
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Configuration
//!
//! [`UtpSocket::bind_with`] and [`UtpSocket::from_std`] take a
//! [`DriverConfig`]: the endpoint's [`Config`] (timeouts, buffers, packet
//! sizes, the congestion controller, rate limits), the listener's
//! [`ListenConfig`] (or `None` to refuse incoming connections), and the
//! socket loop's own settings. Start from `Default` and set fields; an
//! invalid configuration ([`DriverConfig::validate`]) is refused with
//! `io::ErrorKind::InvalidInput`, the [`ConfigError`] inside. Everything
//! needed for it (and for a congestion [`Controller`] of your own) is
//! re-exported here, so no direct dependency on `utp-core` is needed.
//! [`UtpSocket::set_max_send_rate`] limits the bytes per second all
//! connections of a socket send together, at any time.
//!
//! [BEP 29]: https://www.bittorrent.org/beps/bep_0029.html

#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_io::{Async, Timer as IoTimer};
use async_net::AsyncToSocketAddrs;
use futures_lite::future::poll_fn;
use utp_core::Timestamp;
use utp_driver::{Batch, Clock, DatagramSocket, Driver, ErrorQueue, SocketError};

mod manager;
mod stream;

pub use manager::{Manager, ManagerEvent};
use stream::StreamInner;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReuniteError, UtpStream};
pub use utp_core::manager::{DisconnectReason, ManagerConfig, ManagerStats, PeerId};
// Everything needed to configure a socket, and to write a congestion
// controller, without depending on utp-core (the same list in every adapter).
/// The `bytes` crate `UtpStream::write_bytes` takes its buffers from.
pub use utp_core::bytes;
pub use utp_core::congestion::{
    AckSample, CongestionKind, Controller, ControllerContext, ControllerFactory, LedbatConfig,
};
pub use utp_core::{
    AcceptDecision, CloseInfo, CloseReason, Config, ConfigError, ConnStats, DuplicateRule,
    EndpointStats, IntervalStats, ListenConfig, SynCookies, Timer,
};
pub use utp_driver::{DriverConfig, DriverStats, SocketInterval, SocketOptions};

/// How long the loop keeps running for closing connections once every
/// handle is gone.
const LINGER: Duration = Duration::from_secs(30);

/// The UDP socket as the driver sees it (a newtype: both the trait and
/// `Async` are foreign), with its batching, its error queue and whether
/// it is dual-stack. It is non-blocking, so the calls return `WouldBlock`
/// rather than wait. async-io reports a queued ICMP error (`POLLERR`) as
/// readable, which wakes the loop to read it.
struct Udp(Async<UdpSocket>, Batch, ErrorQueue, bool);
impl Udp {
    /// With `batching`, GSO/GRO through quinn-udp where the platform has
    /// them (see [`DriverConfig::batching`]).
    fn new(io: Async<UdpSocket>, batching: bool) -> Udp {
        let batch = Batch::new(io.get_ref().into(), batching);
        let errors = ErrorQueue::new(io.get_ref());
        let dual_stack = utp_driver::is_dual_stack(io.get_ref());
        Udp(io, batch, errors, dual_stack)
    }
}

impl DatagramSocket for Udp {
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.get_ref().recv_from(buf)
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.0.get_ref().send_to(buf, to)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    fn max_send_segments(&self) -> usize {
        self.1.max_send_segments()
    }

    fn try_send_segments(&self, buf: &[u8], segment: usize, to: SocketAddr) -> io::Result<usize> {
        self.1.send(self.0.get_ref().into(), buf, segment, to)
    }

    fn try_recv_segments(&self, buf: &mut [u8]) -> io::Result<(usize, usize, SocketAddr)> {
        match self.1.recv(self.0.get_ref().into(), buf) {
            Some(result) => result,
            None => {
                let (len, from) = self.try_recv_from(buf)?;
                Ok((len, len, from))
            }
        }
    }

    fn try_recv_error(&self) -> io::Result<Option<SocketError>> {
        self.2.recv(self.0.get_ref())
    }

    fn recv_queue(&self) -> Option<utp_driver::RecvQueue> {
        utp_driver::recv_queue(self.0.get_ref())
    }

    fn dual_stack(&self) -> bool {
        self.3
    }
}

/// What the loop and the handles share; the driver and the handle count
/// sit behind one mutex, never held across an await.
struct Shared {
    state: Mutex<State>,
    socket: Udp,
    clock: Clock,
}

struct State {
    driver: Driver,
    /// Live [`SocketHandle`]s and [`StreamInner`]s.
    handles: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Timestamp {
        self.clock.timestamp(Instant::now())
    }

    /// Counts a new handle; pair with [`release`](Self::release).
    fn acquire(state: &mut State) {
        state.handles += 1;
    }

    /// A handle is gone: the loop checks whether it was the last.
    fn release(&self) {
        let mut state = self.lock();
        state.handles = state.handles.saturating_sub(1);
        state.driver.wake_driver();
    }
}

/// The protocol loop of one socket, polled by `async_io::block_on` on the
/// `utp-driver` thread.
struct Loop {
    shared: Arc<Shared>,
    timer: IoTimer,
    /// The instant the timer is set to (`None`: never, or it fired).
    armed: Option<Instant>,
    /// Set once every handle is gone: the loop ends at this instant at the
    /// latest.
    linger_until: Option<Instant>,
    /// The tasks a turn woke, woken once the lock is released.
    woken: Vec<Waker>,
}

impl Loop {
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Loop {
            shared,
            timer,
            armed,
            linger_until,
            woken,
        } = self;
        loop {
            let mut guard = shared.lock();
            let state = &mut *guard;
            // The waker goes in before `drive`, under the same lock as the
            // application calls, so none of their wakeups is lost.
            state.driver.set_driver_waker(cx.waker());
            let now = Instant::now();
            if state.handles == 0 && linger_until.is_none() {
                // Nobody will accept what waits in the backlog: close it
                // and take no more.
                state
                    .driver
                    .close_all(&shared.socket, shared.clock.timestamp(now));
                *linger_until = Some(now + LINGER);
            }
            // The tasks the turn wakes are woken once the lock is released.
            let wait =
                state
                    .driver
                    .drive_deferred(&shared.socket, shared.clock.timestamp(now), woken);
            let mut done = false;
            if let Some(until) = *linger_until {
                // Done once no connection is left and the last datagrams (a
                // final ACK) left the socket.
                let idle = state.driver.endpoint().connection_count() == 0 && !wait.writable;
                if idle || now >= until {
                    state.driver.terminate(io::ErrorKind::NotConnected);
                    done = true;
                }
            }
            drop(guard);
            woken.drain(..).for_each(Waker::wake);
            if done {
                return Poll::Ready(());
            }
            if wait.again {
                // Datagrams may still be queued; this thread has nothing
                // else to run, so drive again at once.
                continue;
            }
            let deadline = wait.deadline.map(|t| shared.clock.instant(t));
            let deadline = match (deadline, *linger_until) {
                (Some(d), Some(l)) => Some(d.min(l)),
                (d, l) => d.or(l),
            };
            if deadline != *armed {
                match deadline {
                    Some(at) => timer.set_at(at),
                    None => *timer = IoTimer::never(),
                }
                *armed = deadline;
            }
            // Readiness already signalled (or a due timer) means another
            // turn now; otherwise every source has our waker.
            let readable = shared.socket.0.poll_readable(cx);
            let writable = if wait.writable {
                shared.socket.0.poll_writable(cx)
            } else {
                Poll::Pending
            };
            let mut ready = false;
            for poll in [readable, writable] {
                match poll {
                    Poll::Ready(Ok(())) => ready = true,
                    Poll::Pending => {}
                    Poll::Ready(Err(e)) => {
                        // The socket failed: every call reports it.
                        shared.lock().driver.terminate(e.kind());
                        return Poll::Ready(());
                    }
                }
            }
            if Pin::new(&mut *timer).poll(cx).is_ready() {
                *armed = None;
                ready = true;
            }
            if !ready {
                return Poll::Pending;
            }
        }
    }
}

/// A uTP socket: one UDP socket carrying any number of connections, in
/// both directions, and datagrams of other protocols. Clones share it.
#[derive(Clone)]
pub struct UtpSocket {
    handle: Arc<SocketHandle>,
}

/// Counted once however many clones of a [`UtpSocket`] exist.
struct SocketHandle {
    shared: Arc<Shared>,
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl core::fmt::Debug for UtpSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UtpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl UtpSocket {
    /// Binds a UDP socket to `addr` (the first resolved address that
    /// works) and accepts incoming connections (the default
    /// [`DriverConfig`]).
    pub async fn bind(addr: impl AsyncToSocketAddrs) -> io::Result<UtpSocket> {
        Self::bind_with(addr, DriverConfig::default()).await
    }

    /// Binds a UDP socket to `addr` with `config` (set
    /// [`DriverConfig::listen`] to `None` to refuse incoming connections;
    /// [`DriverConfig::socket`] sets buffer sizes, dual stack and ICMP
    /// errors). `addr` is anything [`async_net::AsyncToSocketAddrs`] takes
    /// (a `SocketAddr`, `"host:port"`, `(host, port)`); host names are
    /// resolved on the [`blocking`](https://docs.rs/blocking) thread pool,
    /// not on the caller's executor. `[::]` makes a dual-stack socket by
    /// default, which IPv4 peers reach too.
    ///
    /// An invalid `config` ([`DriverConfig::validate`]) is refused with
    /// [`io::ErrorKind::InvalidInput`], the [`ConfigError`] as its source.
    pub async fn bind_with(
        addr: impl AsyncToSocketAddrs,
        config: DriverConfig,
    ) -> io::Result<UtpSocket> {
        config.validate()?;
        let addrs = async_net::resolve(addr).await?;
        Self::start(utp_driver::bind_udp(&addrs[..], &config.socket)?, config)
    }

    /// Runs uTP on a UDP socket bound already (it is made non-blocking,
    /// and [`DriverConfig::socket`] is applied: [`utp_driver::configure`])
    /// and starts its `utp-driver` thread. An invalid `config` is refused
    /// as by [`bind_with`](Self::bind_with).
    pub fn from_std(socket: UdpSocket, config: DriverConfig) -> io::Result<UtpSocket> {
        utp_driver::configure(&socket, &config.socket)?;
        Self::start(socket, config)
    }

    fn start(socket: UdpSocket, config: DriverConfig) -> io::Result<UtpSocket> {
        config.validate()?;
        let socket = Udp::new(Async::new(socket)?, config.batching);
        let driver = Driver::new(config, socket.max_send_segments());
        let shared = Arc::new(Shared {
            state: Mutex::new(State { driver, handles: 1 }),
            socket,
            clock: Clock::new(Instant::now()),
        });
        let mut driver_loop = Loop {
            shared: Arc::clone(&shared),
            timer: IoTimer::never(),
            armed: None,
            linger_until: None,
            woken: Vec::new(),
        };
        std::thread::Builder::new()
            .name("utp-driver".into())
            .spawn(move || async_io::block_on(poll_fn(|cx| driver_loop.poll_turn(cx))))?;
        Ok(UtpSocket {
            handle: Arc::new(SocketHandle { shared }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Connects to `remote`: resolves once the handshake completes, or with
    /// `ConnectionRefused` (the peer answered with RESET, or, on Linux,
    /// ICMP said nothing listens there) or `TimedOut` (after
    /// [`Config::connect_timeout`]).
    ///
    /// `remote` is resolved as in [`bind_with`](Self::bind_with); the
    /// first address the socket can reach is used: one of its family, or
    /// any from a dual-stack socket (`InvalidInput` when there is none).
    ///
    /// Dropping the future abandons the attempt (the half-made connection
    /// is closed); nothing else is lost.
    pub async fn connect(&self, remote: impl AsyncToSocketAddrs) -> io::Result<UtpStream> {
        self.open(remote, false).await
    }

    /// Connects to `remote` while `remote` connects to us, as hole
    /// punching through NATs needs (utp-core's
    /// `Endpoint::connect_rendezvous`): SYNs every 250 ms until the other's
    /// arrives, for at most `Config::rendezvous_timeout` (30 s, then
    /// `TimedOut`). `AddrInUse` while another rendezvous with `remote`
    /// waits. Dropping the future abandons the attempt.
    /// Against a BEP 29 peer, listen too;
    /// `Config::rendezvous_duplicates` says which of two connections is
    /// kept (writes on a rendezvous not kept fail with `ConnectionAborted`).
    pub async fn connect_rendezvous(
        &self,
        remote: impl AsyncToSocketAddrs,
    ) -> io::Result<UtpStream> {
        self.open(remote, true).await
    }

    async fn open(
        &self,
        remote: impl AsyncToSocketAddrs,
        rendezvous: bool,
    ) -> io::Result<UtpStream> {
        let shared = self.shared();
        let candidates = async_net::resolve(remote).await?;
        let local = shared.socket.local_addr()?;
        let remote = utp_driver::pick_remote(local, shared.socket.3, candidates)?;
        let h = {
            let mut state = shared.lock();
            let now = shared.now();
            let h = if rendezvous {
                state
                    .driver
                    .connect_rendezvous(&shared.socket, now, remote)?
            } else {
                state.driver.connect(&shared.socket, now, remote)?
            };
            Shared::acquire(&mut state);
            h
        };
        // Made before waiting, so that dropping this future closes it.
        let stream = StreamInner::new(Arc::clone(shared), h);
        poll_fn(|cx| shared.lock().driver.poll_connect(h, cx)).await?;
        Ok(UtpStream {
            inner: Arc::new(stream),
        })
    }

    /// The next incoming connection and its peer. Several tasks may wait
    /// at once (on clones of the socket); each connection goes to one of
    /// them.
    ///
    /// Cancel safe: a connection is taken from the backlog only when the
    /// future completes.
    pub async fn accept(&self) -> io::Result<(UtpStream, SocketAddr)> {
        let shared = self.shared();
        let (h, peer) = poll_fn(|cx| {
            let mut state = shared.lock();
            let accepted = state.driver.poll_accept(cx);
            if let Poll::Ready(Ok(_)) = accepted {
                Shared::acquire(&mut state);
            }
            accepted
        })
        .await?;
        let inner = Arc::new(StreamInner::new(Arc::clone(shared), h));
        Ok((UtpStream { inner }, peer))
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared().socket.local_addr()
    }

    /// The next datagram received that was not uTP (copied into `buf`,
    /// truncated to its length): its length and sender. Several tasks may
    /// wait at once; each datagram goes to one of them.
    ///
    /// Cancel safe: a datagram is taken only when the future completes.
    pub async fn recv_foreign(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.shared().lock().driver.poll_recv_foreign(cx, buf)).await
    }

    /// Sends `buf` as one datagram to `to` on the uTP socket (for another
    /// protocol sharing it); an IPv4 `to` works from a dual-stack socket
    /// too.
    ///
    /// Cancel safe: the datagram was sent or not, never half.
    pub async fn send_foreign(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let socket = &self.shared().socket;
        let to = match socket.3 {
            true => utp_driver::remote_for(socket.local_addr()?, true, to)?,
            false => to,
        };
        match socket.0.send_to(buf, to).await {
            // An ICMP error another datagram caused, reported here.
            Err(e) if socket.2.is_on() && utp_driver::may_be_deferred(&e) => {
                self.shared().lock().driver.wake_driver();
                socket.0.send_to(buf, to).await
            }
            result => result,
        }
    }

    /// The socket's receive buffer size as the system reports it (Linux:
    /// twice the bytes granted); see [`SocketOptions::recv_buffer`].
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        utp_driver::buffer_sizes(self.shared().socket.0.get_ref()).map(|(recv, _)| recv)
    }

    /// The socket's send buffer size as the system reports it.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        utp_driver::buffer_sizes(self.shared().socket.0.get_ref()).map(|(_, send)| send)
    }

    /// Winds the whole socket down gracefully: no more connections are
    /// accepted or made (`accept` and `connect` fail with `NotConnected`),
    /// and every connection is closed as if its stream were dropped: data
    /// already written is still delivered, nothing more is read (reads and
    /// writes on the streams fail). Await [`wait_idle`](Self::wait_idle)
    /// before exiting for that delivery to complete.
    pub fn close(&self) {
        let shared = self.shared();
        shared.lock().driver.close_all(&shared.socket, shared.now());
    }

    /// Resolves once no connection is left on the socket: each finished
    /// (both FINs acknowledged), timed out or was reset, and its stream was
    /// dropped (or [`close`](Self::close) released it). After `close()`
    /// this is when every byte written has been acknowledged by its peer or
    /// its connection has failed.
    ///
    /// Cancel safe.
    pub async fn wait_idle(&self) -> io::Result<()> {
        poll_fn(|cx| self.shared().lock().driver.poll_idle(cx)).await
    }

    /// Limits the bytes per second all connections of this socket send together
    /// ([`Config::max_total_send_rate`]: SYN, DATA and FIN packets, headers and
    /// retransmissions included; acks are never held back). `None` (or
    /// `Some(0)`) lifts the limit. It takes effect at once, for the connections
    /// open and those to come; each connection's own cap
    /// ([`Config::max_send_rate`]) still applies.
    pub fn set_max_send_rate(&self, rate: Option<u64>) {
        let shared = self.shared();
        let mut state = shared.lock();
        state.driver.endpoint().set_now(shared.now());
        state.driver.endpoint().set_max_total_send_rate(rate);
        state.driver.wake_driver();
    }

    /// Counters of the traffic that belongs to no connection.
    pub fn endpoint_stats(&self) -> EndpointStats {
        self.shared().lock().driver.endpoint_stats()
    }

    /// Counters of the socket loop (datagrams and calls).
    pub fn driver_stats(&self) -> DriverStats {
        self.shared().lock().driver.stats()
    }
}
