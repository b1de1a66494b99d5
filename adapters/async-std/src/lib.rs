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
//! Closing: [`AsyncWriteExt::close`](futures_lite::AsyncWriteExt::close)
//! half-closes (a FIN after the data written; the peer reads `Ok(0)`, and
//! this side can still read); dropping a stream closes it gracefully (data
//! already written is still delivered); [`UtpStream::abort`] resets it.
//!
//! ## Example: echo over loopback
//!
//! ```
//! use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
//! use utp_async_std::UtpSocket;
//!
//! async_io::block_on(async {
//!     let server = UtpSocket::bind("127.0.0.1:0".parse()?).await?;
//!     let client = UtpSocket::bind("127.0.0.1:0".parse()?).await?;
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::future::poll_fn;
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

/// How long the loop keeps running for closing connections once every
/// handle is gone.
const LINGER: Duration = Duration::from_secs(30);

/// The UDP socket as the driver sees it (a newtype: both the trait and
/// `Async` are foreign). It is non-blocking, so the calls return
/// `WouldBlock` rather than wait.
struct Udp(Async<UdpSocket>, Batch);
impl Udp {
    /// With `batching`, GSO/GRO through quinn-udp where the platform has
    /// them (see [`DriverConfig::batching`]).
    fn new(io: Async<UdpSocket>, batching: bool) -> Udp {
        let batch = Batch::new(io.get_ref().into(), batching);
        Udp(io, batch)
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
    timer: Timer,
    /// The instant the timer is set to (`None`: never, or it fired).
    armed: Option<Instant>,
    /// Set once every handle is gone: the loop ends at this instant at the
    /// latest.
    linger_until: Option<Instant>,
}

impl Loop {
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Loop {
            shared,
            timer,
            armed,
            linger_until,
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
                let endpoint = state.driver.endpoint();
                while let Some(h) = endpoint.accept() {
                    if let Some(mut conn) = endpoint.conn(h) {
                        conn.close();
                    }
                }
                endpoint.unlisten();
                *linger_until = Some(now + LINGER);
            }
            let wait = state
                .driver
                .drive(&shared.socket, shared.clock.timestamp(now));
            if let Some(until) = *linger_until {
                // Done once no connection is left and the last datagrams (a
                // final ACK) left the socket.
                let idle = state.driver.endpoint().connection_count() == 0 && !wait.writable;
                if idle || now >= until {
                    state.driver.terminate(io::ErrorKind::NotConnected);
                    return Poll::Ready(());
                }
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
            drop(guard);
            if deadline != *armed {
                match deadline {
                    Some(at) => timer.set_at(at),
                    None => *timer = Timer::never(),
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
    /// Binds a UDP socket to `addr` and accepts incoming connections (the
    /// default [`DriverConfig`]).
    pub async fn bind(addr: SocketAddr) -> io::Result<UtpSocket> {
        Self::bind_with(addr, DriverConfig::default()).await
    }

    /// Binds a UDP socket to `addr` with `config` (set
    /// [`DriverConfig::listen`] to `None` to refuse incoming connections).
    ///
    /// An invalid `config` ([`DriverConfig::validate`]) is refused with
    /// [`io::ErrorKind::InvalidInput`], the [`ConfigError`] as its source.
    pub async fn bind_with(addr: SocketAddr, config: DriverConfig) -> io::Result<UtpSocket> {
        config.validate()?;
        Self::from_std(UdpSocket::bind(addr)?, config)
    }

    /// Runs uTP on a UDP socket bound already (it is made non-blocking) and
    /// starts its `utp-driver` thread. An invalid `config` is refused as by
    /// [`bind_with`](Self::bind_with).
    pub fn from_std(socket: UdpSocket, config: DriverConfig) -> io::Result<UtpSocket> {
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
            timer: Timer::never(),
            armed: None,
            linger_until: None,
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
    /// `ConnectionRefused` (the peer answered with RESET) or `TimedOut`
    /// (after [`Config::connect_timeout`]).
    pub async fn connect(&self, remote: SocketAddr) -> io::Result<UtpStream> {
        let shared = self.shared();
        let h = {
            let mut state = shared.lock();
            let h = state.driver.connect(&shared.socket, shared.now(), remote)?;
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

    /// The next incoming connection and its peer.
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
    /// truncated to its length): its length and sender.
    pub async fn recv_foreign(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.shared().lock().driver.poll_recv_foreign(cx, buf)).await
    }

    /// Sends `buf` as one datagram to `to` on the uTP socket (for another
    /// protocol sharing it).
    pub async fn send_foreign(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.shared().socket.0.send_to(buf, to).await
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

/// One connection, shared by a stream or its two halves; closes it
/// gracefully when dropped.
struct StreamInner {
    shared: Arc<Shared>,
    h: ConnHandle,
    /// Reset already: nothing left to close.
    aborted: AtomicBool,
}

impl StreamInner {
    /// Wraps `h`, counted already with [`Shared::acquire`].
    fn new(shared: Arc<Shared>, h: ConnHandle) -> Self {
        StreamInner {
            shared,
            h,
            aborted: AtomicBool::new(false),
        }
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let s = &self.shared;
        s.lock()
            .driver
            .poll_read(&s.socket, s.now(), self.h, cx, buf)
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let s = &self.shared;
        s.lock()
            .driver
            .poll_write(&s.socket, s.now(), self.h, cx, buf)
    }

    fn poll_close(&self) -> Poll<io::Result<()>> {
        let s = &self.shared;
        Poll::Ready(s.lock().driver.shutdown(&s.socket, s.now(), self.h))
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared.lock().driver.peer_addr(self.h)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }

    fn stats(&self) -> ConnStats {
        self.shared.lock().driver.conn_stats(self.h)
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        if !self.aborted.load(Ordering::Acquire) {
            let s = &self.shared;
            s.lock().driver.close(&s.socket, s.now(), self.h);
        }
        self.shared.release();
    }
}

/// A uTP connection: `futures_io::AsyncRead + AsyncWrite`.
///
/// `close` (futures-io's `poll_close`) half-closes: a FIN follows the
/// data written, the peer reads `Ok(0)`, and this side can still read.
/// Writing after it fails with `BrokenPipe`. Dropping the stream closes it
/// gracefully; [`abort`](Self::abort) resets it.
pub struct UtpStream {
    inner: Arc<StreamInner>,
}

/// The reading half of a [`UtpStream`] ([`UtpStream::into_split`]).
pub struct OwnedReadHalf {
    inner: Arc<StreamInner>,
}

/// The writing half of a [`UtpStream`] ([`UtpStream::into_split`]);
/// `close` half-closes the connection.
pub struct OwnedWriteHalf {
    inner: Arc<StreamInner>,
}

impl UtpStream {
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address (the socket's).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connection's counters.
    pub fn stats(&self) -> ConnStats {
        self.inner.stats()
    }

    /// Splits the stream into halves that two tasks can use at once. The
    /// connection closes gracefully when both are dropped.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let read = OwnedReadHalf {
            inner: Arc::clone(&self.inner),
        };
        (read, OwnedWriteHalf { inner: self.inner })
    }

    /// Resets the connection: the peer's calls fail with
    /// `ConnectionReset`; data not yet delivered is dropped.
    pub fn abort(self) {
        let s = &self.inner.shared;
        self.inner.aborted.store(true, Ordering::Release);
        s.lock().driver.abort(&s.socket, s.now(), self.inner.h);
    }
}

macro_rules! half_impls {
    ($($ty:ident),*) => {$(
        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("peer_addr", &self.inner.peer_addr().ok())
                    .finish_non_exhaustive()
            }
        }
    )*};
}
half_impls!(UtpStream, OwnedReadHalf, OwnedWriteHalf);

macro_rules! read_impls {
    ($($ty:ident),*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }
    )*};
}
read_impls!(UtpStream, OwnedReadHalf);

macro_rules! write_impls {
    ($($ty:ident),*) => {$(
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Written bytes are in the connection's send buffer, sent
                // as the window allows: nothing to flush.
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.inner.poll_close()
            }
        }
    )*};
}
write_impls!(UtpStream, OwnedWriteHalf);

impl OwnedReadHalf {
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

impl OwnedWriteHalf {
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}
