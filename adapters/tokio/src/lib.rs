//! # utp-tokio
//!
//! uTP ([BEP 29]) sockets and streams for tokio, on the sans-IO
//! [`utp_core`].
//!
//! A [`UtpSocket`] owns one UDP socket and every uTP connection on it; a
//! task spawned with [`tokio::spawn`] when the socket is made runs the
//! shared [`utp_driver::Driver`] loop (receive, timers, retransmits).
//! [`UtpSocket::connect`] and [`UtpSocket::accept`] give [`UtpStream`]s,
//! which are [`AsyncRead`] + [`AsyncWrite`] like a `TcpStream`:
//! `shutdown` sends a FIN (the peer reads `Ok(0)` and can still write
//! back), and dropping a stream closes it gracefully (data written is still
//! delivered). Datagrams of other protocols arriving on the socket (DHT,
//! trackers) are handed to [`UtpSocket::recv_foreign`].
//!
//! The runtime needs both its I/O and time drivers (`enable_all`).
//!
//! The driver task lives while any [`UtpSocket`] handle or stream exists;
//! after the last is dropped it lets closing connections finish their FIN
//! exchange (at most 30 s), then exits and the UDP socket closes.
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
//! [BEP 29]: https://www.bittorrent.org/beps/bep_0029.html

#![forbid(unsafe_code)]

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::UdpSocket;
use tokio::time::Sleep;
use utp_core::ConnHandle;
use utp_driver::{Batch, Clock, DatagramSocket, Driver};

// Everything needed to configure a socket, and to write a congestion
// controller, without depending on utp-core (the same list in every adapter).
pub use utp_core::congestion::{
    AckSample, CongestionKind, Controller, ControllerContext, ControllerFactory, LedbatConfig,
};
pub use utp_core::{
    AcceptDecision, CloseReason, Config, ConfigError, ConnStats, EndpointStats, ListenConfig,
    SynCookies, Timestamp,
};
pub use utp_driver::{DriverConfig, DriverStats};

/// How long the driver task keeps closing connections alive after the
/// last handle and stream are dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(30);
/// Loop turns in one poll of the driver task before it yields.
const TURNS_PER_POLL: usize = 16;

/// tokio's socket as the driver's [`DatagramSocket`]. Its `try_*` calls
/// (and `try_io` around quinn-udp's) clear tokio's readiness on
/// `WouldBlock`, as the loop needs. With `batch` (Linux), sends of equal
/// datagrams to one peer go out as one GSO call and receives take GRO
/// batches, through quinn-udp.
#[derive(Debug)]
struct Socket {
    io: UdpSocket,
    batch: Batch,
}

impl Socket {
    fn new(io: UdpSocket, batching: bool) -> Socket {
        let batch = Batch::new((&io).into(), batching);
        Socket { io, batch }
    }
}

impl DatagramSocket for Socket {
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_recv_from(buf)
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.io.try_send_to(buf, to)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    fn max_send_segments(&self) -> usize {
        self.batch.max_send_segments()
    }

    fn try_send_segments(&self, buf: &[u8], segment: usize, to: SocketAddr) -> io::Result<usize> {
        self.io.try_io(Interest::WRITABLE, || {
            self.batch.send((&self.io).into(), buf, segment, to)
        })
    }

    fn try_recv_segments(&self, buf: &mut [u8]) -> io::Result<(usize, usize, SocketAddr)> {
        if !self.batch.is_on() {
            let (len, from) = self.io.try_recv_from(buf)?;
            return Ok((len, len, from));
        }
        self.io.try_io(Interest::READABLE, || {
            self.batch
                .recv((&self.io).into(), buf)
                .unwrap_or_else(|| Err(io::ErrorKind::Unsupported.into()))
        })
    }
}

/// What the driver task, socket handles and streams share.
struct Shared {
    driver: Mutex<Driver>,
    socket: Socket,
    clock: Clock,
    /// Live socket handles (all clones of one [`UtpSocket`] count once)
    /// and streams.
    handles: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Driver> {
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

/// The driver task's future: the loop of [`utp_driver`].
struct DriverTask {
    shared: Arc<Shared>,
    sleep: Pin<Box<Sleep>>,
    /// When the last handle went away.
    orphaned: Option<Instant>,
}

impl Future for DriverTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        for _ in 0..TURNS_PER_POLL {
            let now = Instant::now();
            let (wait, orphaned) = {
                let mut d = this.shared.lock();
                let wait = d.drive(&this.shared.socket, this.shared.clock.timestamp(now));
                d.set_driver_waker(cx.waker());
                let orphaned = this.shared.handles.load(Ordering::Acquire) == 0;
                if orphaned && this.orphaned.is_none() {
                    // Nobody will accept: close the backlog, refuse new SYNs.
                    let ep = d.endpoint();
                    while let Some(h) = ep.accept() {
                        if let Some(mut c) = ep.conn(h) {
                            c.close();
                        }
                    }
                    ep.unlisten();
                    d.wake_driver();
                }
                (wait, orphaned.then(|| d.endpoint().connection_count()))
            };
            let mut deadline = wait.deadline.map(|t| this.shared.clock.instant(t));
            if let Some(connections) = orphaned {
                let since = *this.orphaned.get_or_insert(now);
                // Done once no connection is left and the last datagrams
                // (a final ACK) left the socket.
                if (connections == 0 && !wait.writable) || now >= since + CLOSE_GRACE {
                    return Poll::Ready(());
                }
                deadline =
                    Some(deadline.map_or(since + CLOSE_GRACE, |d| d.min(since + CLOSE_GRACE)));
            }
            if wait.again {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let mut ready = false;
            let socket = &this.shared.socket.io;
            match socket.poll_recv_ready(cx) {
                Poll::Ready(Ok(())) => ready = true,
                Poll::Ready(Err(e)) => return fail(&this.shared, e),
                Poll::Pending => {}
            }
            if wait.writable {
                match socket.poll_send_ready(cx) {
                    Poll::Ready(Ok(())) => ready = true,
                    Poll::Ready(Err(e)) => return fail(&this.shared, e),
                    Poll::Pending => {}
                }
            }
            if let Some(at) = deadline {
                let at = tokio::time::Instant::from_std(at);
                if this.sleep.deadline() != at {
                    this.sleep.as_mut().reset(at);
                }
                ready |= this.sleep.as_mut().poll(cx).is_ready();
            }
            if !ready {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The socket failed: the loop ends.
fn fail(shared: &Shared, e: io::Error) -> Poll<()> {
    shared.lock().terminate(e.kind());
    Poll::Ready(())
}

impl Drop for DriverTask {
    /// The loop ended (or the runtime shut down): every waiter is woken and
    /// every later call fails.
    fn drop(&mut self) {
        self.shared.lock().terminate(io::ErrorKind::NotConnected);
    }
}

/// One handle's share of the socket (all clones of a [`UtpSocket`] hold
/// one).
struct SocketRef(Arc<Shared>);

impl Drop for SocketRef {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A UDP socket carrying uTP connections: connect from it, accept on it,
/// and exchange other protocols' datagrams on it. Cloning is cheap; every
/// clone is the same socket.
#[derive(Clone)]
pub struct UtpSocket {
    inner: Arc<SocketRef>,
}

impl std::fmt::Debug for UtpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UtpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl UtpSocket {
    /// Binds a UDP socket to `addr` and listens for incoming connections
    /// (the default [`DriverConfig`]).
    pub async fn bind(addr: impl tokio::net::ToSocketAddrs) -> io::Result<UtpSocket> {
        Self::bind_with(addr, DriverConfig::default()).await
    }

    /// Binds a UDP socket to `addr` with `config` (`listen: None` refuses
    /// incoming connections).
    ///
    /// An invalid `config` ([`DriverConfig::validate`]) is refused with
    /// [`io::ErrorKind::InvalidInput`], the [`ConfigError`] as its source.
    pub async fn bind_with(
        addr: impl tokio::net::ToSocketAddrs,
        config: DriverConfig,
    ) -> io::Result<UtpSocket> {
        config.validate()?;
        Self::from_tokio(UdpSocket::bind(addr).await?, config)
    }

    /// Takes over a bound std socket (made non-blocking here). Must be
    /// called within a tokio runtime. An invalid `config` is refused as by
    /// [`bind_with`](Self::bind_with).
    pub fn from_std(socket: std::net::UdpSocket, config: DriverConfig) -> io::Result<UtpSocket> {
        config.validate()?;
        runtime()?;
        socket.set_nonblocking(true)?;
        Self::from_tokio(UdpSocket::from_std(socket)?, config)
    }

    /// Takes over a bound tokio socket. Must be called within a tokio
    /// runtime (the driver task is spawned on it). An invalid `config` is
    /// refused as by [`bind_with`](Self::bind_with).
    pub fn from_tokio(socket: UdpSocket, config: DriverConfig) -> io::Result<UtpSocket> {
        config.validate()?;
        let runtime = runtime()?;
        let socket = Socket::new(socket, config.batching);
        let driver = Driver::new(config, socket.max_send_segments());
        let shared = Arc::new(Shared {
            driver: Mutex::new(driver),
            socket,
            clock: Clock::new(Instant::now()),
            handles: AtomicUsize::new(1),
        });
        runtime.spawn(DriverTask {
            shared: shared.clone(),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            orphaned: None,
        });
        Ok(UtpSocket {
            inner: Arc::new(SocketRef(shared)),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.0
    }

    /// Connects to `remote`: resolves once the handshake completed, or
    /// with `ConnectionRefused` (the peer answered RESET) or `TimedOut`
    /// ([`Config::connect_timeout`]). Dropping the future abandons the
    /// attempt.
    pub async fn connect(&self, remote: SocketAddr) -> io::Result<UtpStream> {
        let shared = self.shared();
        let h = {
            let mut d = shared.lock();
            d.connect(&shared.socket, shared.now(), remote)?
        };
        // Made first so that a dropped future closes the connection.
        let stream = UtpStream::new(shared.clone(), h, remote);
        poll_fn(|cx| shared.lock().poll_connect(h, cx)).await?;
        Ok(stream)
    }

    /// The next incoming connection and its peer.
    pub async fn accept(&self) -> io::Result<(UtpStream, SocketAddr)> {
        let shared = self.shared();
        let (h, peer) = poll_fn(|cx| shared.lock().poll_accept(cx)).await?;
        Ok((UtpStream::new(shared.clone(), h, peer), peer))
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared().socket.io.local_addr()
    }

    /// The next datagram received that was not uTP (DHT, tracker, ...),
    /// copied into `buf` (truncated if longer): its length and sender.
    pub async fn recv_foreign(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.shared().lock().poll_recv_foreign(cx, buf)).await
    }

    /// Sends a datagram of another protocol from this socket.
    pub async fn send_foreign(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.shared().socket.io.send_to(buf, to).await
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

/// One connection, shared by a stream or its two halves; closes it when
/// the last goes away.
struct Conn {
    shared: Arc<Shared>,
    h: ConnHandle,
    peer: SocketAddr,
    aborted: AtomicBool,
}

impl Conn {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let shared = &self.shared;
        let out = buf.initialize_unfilled();
        let n = match shared
            .lock()
            .poll_read(&shared.socket, shared.now(), self.h, cx, out)
        {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        shared
            .lock()
            .poll_write(&shared.socket, shared.now(), self.h, cx, buf)
    }

    fn shutdown(&self) -> io::Result<()> {
        let shared = &self.shared;
        shared.lock().shutdown(&shared.socket, shared.now(), self.h)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.socket.io.local_addr()
    }

    fn stats(&self) -> ConnStats {
        self.shared.lock().conn_stats(self.h)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if !self.aborted.load(Ordering::Acquire) {
            let shared = &self.shared;
            shared.lock().close(&shared.socket, shared.now(), self.h);
        }
        self.shared.release();
    }
}

/// A uTP connection: [`AsyncRead`] + [`AsyncWrite`].
///
/// `poll_shutdown` half-closes (a FIN after the data written; reading goes
/// on until the peer's FIN), `poll_flush` returns at once (written data is
/// in the send buffer and goes out as the window allows). Dropping the
/// stream closes the connection gracefully; [`abort`](Self::abort) resets
/// it.
pub struct UtpStream {
    conn: Arc<Conn>,
}

impl UtpStream {
    fn new(shared: Arc<Shared>, h: ConnHandle, peer: SocketAddr) -> UtpStream {
        shared.acquire();
        UtpStream {
            conn: Arc::new(Conn {
                shared,
                h,
                peer,
                aborted: AtomicBool::new(false),
            }),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.peer)
    }

    /// The local socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.conn.local_addr()
    }

    /// The connection's counters (zero once it is gone).
    pub fn stats(&self) -> ConnStats {
        self.conn.stats()
    }

    /// Splits the stream into halves that can be used from two tasks at
    /// once. The connection closes when both are dropped.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                conn: self.conn.clone(),
            },
            OwnedWriteHalf { conn: self.conn },
        )
    }

    /// Aborts the connection: the peer gets a RESET (its calls fail with
    /// `ConnectionReset`), unsent data is dropped.
    pub fn abort(self) {
        let c = &self.conn;
        c.aborted.store(true, Ordering::Release);
        c.shared.lock().abort(&c.shared.socket, c.shared.now(), c.h);
    }
}

impl std::fmt::Debug for UtpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UtpStream")
            .field("peer_addr", &self.conn.peer)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for UtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.conn.poll_read(cx, buf)
    }
}

impl AsyncWrite for UtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.conn.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.conn.shutdown())
    }
}

/// The reading half of a [`UtpStream`], from
/// [`into_split`](UtpStream::into_split).
pub struct OwnedReadHalf {
    conn: Arc<Conn>,
}

/// The writing half of a [`UtpStream`], from
/// [`into_split`](UtpStream::into_split). `poll_shutdown` sends a FIN, as
/// dropping this half does.
pub struct OwnedWriteHalf {
    conn: Arc<Conn>,
}

macro_rules! half_common {
    ($t:ident) => {
        impl $t {
            /// The peer's address.
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                Ok(self.conn.peer)
            }

            /// The local socket's address.
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.conn.local_addr()
            }

            /// The connection's counters (zero once it is gone).
            pub fn stats(&self) -> ConnStats {
                self.conn.stats()
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("peer_addr", &self.conn.peer)
                    .finish_non_exhaustive()
            }
        }
    };
}
half_common!(OwnedReadHalf);
half_common!(OwnedWriteHalf);

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.conn.poll_read(cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.conn.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.conn.shutdown())
    }
}

impl Drop for OwnedWriteHalf {
    /// As with tokio's `TcpStream` halves: no more writes, the peer reads
    /// to the end.
    fn drop(&mut self) {
        let _ = self.conn.shutdown();
    }
}
