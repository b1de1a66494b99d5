//! A blocking, `std::net`-like API: [`UtpListener`] and [`UtpStream`].
//!
//! Each UDP socket gets one background thread that owns a `mio::Poll` and
//! runs the [`Driver`] loop; a `mio::Waker` lets application calls wake it.
//! Calling threads lock the driver, try the operation and, when it cannot
//! proceed, park until the driver wakes them (or their timeout passes).
//!
//! Lifetime: the thread runs while a listener or a stream of its socket
//! exists. Once all are dropped it goes on until every connection has
//! finished its close (dropping a stream closes it gracefully: data
//! written is still delivered), at most 30 seconds, then exits and the
//! socket closes.
//!
//! Timeouts (read, write, `recv_foreign`) report
//! [`io::ErrorKind::WouldBlock`], as std's sockets do on Unix.
//!
//! This file has the thread and [`UtpListener`]; `stream.rs` the streams.

mod stream;

use stream::check_timeout;
pub use stream::UtpStream;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Token};
use utp_core::{ConnHandle, EndpointStats, Timestamp};
use utp_driver::{Clock, DatagramSocket, Driver, DriverConfig, DriverStats};

use crate::Sock;

/// How long the thread keeps running for closing connections after the
/// last handle is gone.
const LINGER: Duration = Duration::from_secs(30);
const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Threads parked on one thing (a direction of a stream, accept, foreign
/// datagrams); waking unparks them all, and each polls again. std's
/// unpark-before-park token makes a wake between poll and park harmless.
#[derive(Default)]
struct Waiters(Mutex<Vec<Thread>>);

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        for t in lock(&self.0).iter() {
            t.unpark();
        }
    }
}

/// The background thread's waker, given to the driver.
struct LoopWaker(mio::Waker);

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Failing means the poll is gone, and with it the thread.
        let _ = self.0.wake();
    }
}

/// Under one lock, as the thread re-registers the socket.
struct Inner {
    driver: Driver,
    socket: Sock,
}

struct Shared {
    inner: Mutex<Inner>,
    clock: Clock,
    loop_waker: Arc<LoopWaker>,
    /// Live [`Handle`]s.
    handles: AtomicUsize,
    accepters: Arc<Waiters>,
    foreign: Arc<Waiters>,
}

/// A counted reference to the socket: the thread runs while any exists.
struct Handle(Arc<Shared>);

impl Handle {
    fn new(shared: &Arc<Shared>) -> Handle {
        shared.handles.fetch_add(1, Ordering::AcqRel);
        Handle(Arc::clone(shared))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.0.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.loop_waker.wake_by_ref();
        }
    }
}

fn bind(addr: impl ToSocketAddrs, config: &DriverConfig) -> io::Result<mio::net::UdpSocket> {
    let socket = utp_driver::bind_udp(addr, &config.socket)?;
    Ok(mio::net::UdpSocket::from_std(socket))
}

/// Starts the thread for `socket`; returns the first handle.
fn start(mut socket: mio::net::UdpSocket, mut config: DriverConfig) -> io::Result<Handle> {
    // Nobody would drain kept events here.
    config.keep_events = false;
    let poll = mio::Poll::new()?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)?;
    let loop_waker = Arc::new(LoopWaker(mio::Waker::new(poll.registry(), WAKE)?));
    let socket = Sock::new(socket, config.batching);
    let driver = Driver::new(config, socket.max_send_segments());
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner { socket, driver }),
        clock: Clock::new(Instant::now()),
        loop_waker,
        handles: AtomicUsize::new(1),
        accepters: Arc::default(),
        foreign: Arc::default(),
    });
    let thread_shared = Arc::clone(&shared);
    thread::Builder::new()
        .name("utp-mio".into())
        .spawn(move || run(&thread_shared, poll))?;
    Ok(Handle(shared))
}

/// The background loop.
fn run(shared: &Shared, mut poll: mio::Poll) {
    let waker = Waker::from(Arc::clone(&shared.loop_waker));
    let mut events = Events::with_capacity(64);
    let mut writable = false;
    let mut orphaned: Option<Instant> = None;
    // The threads a turn wakes, woken once the lock is released.
    let mut woken = Vec::new();
    loop {
        let now = Instant::now();
        let timeout = {
            let mut guard = shared.lock();
            let Inner { driver, socket } = &mut *guard;
            let wait = driver.drive_deferred(socket, shared.clock.timestamp(now), &mut woken);
            driver.set_driver_waker(&waker);
            let mut timeout = match wait.again {
                true => Some(Duration::ZERO),
                false => wait
                    .deadline
                    .map(|d| shared.clock.instant(d).saturating_duration_since(now)),
            };
            if shared.handles.load(Ordering::Acquire) == 0 {
                if orphaned.is_none() {
                    // Nobody will accept what waits in the backlog.
                    driver.close_all(socket, shared.clock.timestamp(now));
                }
                let since = *orphaned.get_or_insert(now);
                let left = (since + LINGER).saturating_duration_since(now);
                // Done once no connection is left and the last datagrams (a
                // final ACK) left the socket.
                let idle = driver.endpoint().connection_count() == 0 && !wait.writable;
                if idle || left.is_zero() {
                    driver.terminate(io::ErrorKind::NotConnected);
                    woken.drain(..).for_each(Waker::wake);
                    return;
                }
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            // Writable readiness only while a datagram waits for it: on
            // Linux every datagram sent would otherwise wake the thread.
            if wait.writable != writable {
                writable = wait.writable;
                let interest = match writable {
                    true => Interest::READABLE | Interest::WRITABLE,
                    false => Interest::READABLE,
                };
                if let Err(e) = poll.registry().reregister(&mut socket.0, SOCKET, interest) {
                    driver.terminate(e.kind());
                    woken.drain(..).for_each(Waker::wake);
                    return;
                }
            }
            timeout
        };
        woken.drain(..).for_each(Waker::wake);
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                shared.lock().driver.terminate(e.kind());
                return;
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Polls `f` until it is ready, parking in between (registered in
    /// `waiters`); `WouldBlock` once `timeout` passes.
    fn wait<T>(
        &self,
        waiters: &Arc<Waiters>,
        timeout: Option<Duration>,
        mut f: impl FnMut(&mut Driver, &Sock, Timestamp, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> io::Result<T> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let waker = Waker::from(Arc::clone(waiters));
        let mut cx = Context::from_waker(&waker);
        let mut registered = false;
        let result = loop {
            let now = Instant::now();
            {
                let mut guard = self.lock();
                let Inner { driver, socket } = &mut *guard;
                if let Poll::Ready(r) = f(driver, socket, self.clock.timestamp(now), &mut cx) {
                    break r;
                }
            }
            if !registered {
                // Poll once more after registering, so no wake is missed.
                lock(&waiters.0).push(thread::current());
                registered = true;
                continue;
            }
            match deadline {
                None => thread::park(),
                Some(d) if now < d => thread::park_timeout(d - now),
                Some(_) => break Err(io::Error::new(io::ErrorKind::WouldBlock, "timed out")),
            }
        };
        if registered {
            let me = thread::current().id();
            let mut list = lock(&waiters.0);
            if let Some(i) = list.iter().position(|t| t.id() == me) {
                list.swap_remove(i);
            }
        }
        result
    }

    /// Connects to `remote`, blocking until the handshake completes.
    /// Connects to `remote` (by rendezvous with `rendezvous`), blocking
    /// until the handshake completes.
    fn connect(&self, remote: SocketAddr, rendezvous: bool) -> io::Result<ConnHandle> {
        let h = {
            let mut guard = self.lock();
            let Inner { driver, socket } = &mut *guard;
            let now = self.clock.timestamp(Instant::now());
            if rendezvous {
                driver.connect_rendezvous(socket, now, remote)?
            } else {
                driver.connect(socket, now, remote)?
            }
        };
        let waiters = Arc::default();
        match self.wait(&waiters, None, |d, _, _, cx| d.poll_connect(h, cx)) {
            Ok(()) => Ok(h),
            Err(e) => {
                self.call(|d, s, now| d.close(s, now, h));
                Err(e)
            }
        }
    }

    /// Runs `f` on the driver now.
    fn call<T>(&self, f: impl FnOnce(&mut Driver, &Sock, Timestamp) -> T) -> T {
        let mut guard = self.lock();
        let Inner { driver, socket } = &mut *guard;
        f(driver, socket, self.clock.timestamp(Instant::now()))
    }
}

/// A uTP socket that accepts connections, and can also connect out from
/// the same UDP port.
pub struct UtpListener {
    handle: Handle,
}

impl core::fmt::Debug for UtpListener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UtpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl UtpListener {
    /// Binds a UDP socket to `addr` (the first address that works) and
    /// listens, with the default [`DriverConfig`].
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UtpListener> {
        UtpListener::bind_with(addr, DriverConfig::default())
    }

    /// Binds with `config` (its `listen: None` makes a socket that only
    /// connects out and refuses incoming connections; `keep_events` is
    /// ignored; [`DriverConfig::socket`] sets buffer sizes, dual stack and
    /// ICMP errors). `[::]` makes a dual-stack socket by default, which
    /// IPv4 peers reach too.
    ///
    /// An invalid `config` ([`DriverConfig::validate`]) is refused with
    /// [`io::ErrorKind::InvalidInput`], the
    /// [`ConfigError`](utp_core::ConfigError) as its source.
    pub fn bind_with(addr: impl ToSocketAddrs, config: DriverConfig) -> io::Result<UtpListener> {
        config.validate()?;
        let handle = start(bind(addr, &config)?, config)?;
        Ok(UtpListener { handle })
    }

    /// Waits for the next incoming connection. Several threads may wait at
    /// once; each connection goes to one of them.
    pub fn accept(&self) -> io::Result<(UtpStream, SocketAddr)> {
        self.accept_within(None)
    }

    /// [`accept`](Self::accept), waiting at most `timeout`:
    /// [`io::ErrorKind::WouldBlock`] if no connection came in by then (a
    /// zero `timeout` is refused with `InvalidInput`, as std's
    /// `set_read_timeout` refuses it). For a thread that accepts and must
    /// also notice when to stop.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(UtpStream, SocketAddr)> {
        self.accept_within(check_timeout(Some(timeout))?)
    }

    fn accept_within(&self, timeout: Option<Duration>) -> io::Result<(UtpStream, SocketAddr)> {
        let shared = &self.handle.0;
        let (h, peer) = shared.wait(&shared.accepters, timeout, |d, _, _, cx| d.poll_accept(cx))?;
        Ok((UtpStream::new(Handle::new(shared), h), peer))
    }

    /// Connects to `remote` from this socket, blocking until the handshake
    /// completes (`ConnectionRefused` when the peer answers RESET or, on
    /// Linux, ICMP says nothing listens there; `TimedOut` after the
    /// configured `connect_timeout`). `remote` is resolved on this thread;
    /// the first address the socket can reach is used: one of its family,
    /// or any from a dual-stack socket (`InvalidInput` when there is none).
    pub fn connect(&self, remote: impl ToSocketAddrs) -> io::Result<UtpStream> {
        let candidates = remote.to_socket_addrs()?.collect();
        let remote = self.handle.0.lock().socket.pick_remote(candidates)?;
        let h = self.handle.0.connect(remote, false)?;
        Ok(UtpStream::new(Handle::new(&self.handle.0), h))
    }

    /// Connects to `remote` while `remote` connects to us, as hole punching
    /// through NATs needs (utp-core's `Endpoint::connect_rendezvous`): SYNs
    /// every 250 ms until the other's arrives, for at most
    /// `Config::rendezvous_timeout` (30 s, then `TimedOut`). Blocks until
    /// connected. `AddrInUse` while another rendezvous with `remote` waits.
    /// Against a BEP 29 peer, listen too;
    /// `Config::rendezvous_duplicates` says which of two connections is
    /// kept (writes on a rendezvous not kept fail with `ConnectionAborted`).
    pub fn connect_rendezvous(&self, remote: impl ToSocketAddrs) -> io::Result<UtpStream> {
        let candidates = remote.to_socket_addrs()?.collect();
        let remote = self.handle.0.lock().socket.pick_remote(candidates)?;
        let h = self.handle.0.connect(remote, true)?;
        Ok(UtpStream::new(Handle::new(&self.handle.0), h))
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.handle.0.lock().socket.local_addr()
    }

    /// Runs `f` on the socket's driver now (for the manager).
    pub(crate) fn call<T>(&self, f: impl FnOnce(&mut Driver, &Sock, Timestamp) -> T) -> T {
        self.handle.0.call(f)
    }

    /// Waits for a datagram of another protocol (not uTP) received on the
    /// socket: bytes copied (truncated to `buf`) and sender. `WouldBlock`
    /// once `timeout` passes.
    pub fn recv_foreign(
        &self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> io::Result<(usize, SocketAddr)> {
        let shared = &self.handle.0;
        shared.wait(&shared.foreign, timeout, |d, _, _, cx| {
            d.poll_recv_foreign(cx, buf)
        })
    }

    /// Sends a datagram of another protocol from the socket. While the
    /// socket's send buffer is full it retries for up to a second, then
    /// reports `WouldBlock`.
    pub fn send_foreign(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let give_up = Instant::now() + Duration::from_secs(1);
        loop {
            let shared = &self.handle.0;
            let result = shared
                .lock()
                .socket
                .send_foreign(buf, to, || shared.loop_waker.wake_by_ref());
            match result {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < give_up => {
                    thread::park_timeout(Duration::from_millis(1));
                }
                result => return result,
            }
        }
    }

    /// Winds the whole socket down gracefully: no more connections are
    /// accepted or made (`accept` and `connect` fail with `NotConnected`),
    /// and every connection is closed as if its stream were dropped: data
    /// already written is still delivered, nothing more is read. Call
    /// [`wait_idle`](Self::wait_idle) before exiting for that delivery to
    /// complete.
    pub fn close(&self) {
        self.handle.0.call(|d, s, now| d.close_all(s, now));
    }

    /// Blocks until no connection is left on the socket: each finished
    /// (both FINs acknowledged), timed out or was reset, and its stream was
    /// dropped (or [`close`](Self::close) released it); `WouldBlock` once
    /// `timeout` passes. After `close()` this is when every byte written
    /// has been acknowledged by its peer or its connection has failed.
    pub fn wait_idle(&self, timeout: Option<Duration>) -> io::Result<()> {
        let waiters = Arc::default();
        self.handle
            .0
            .wait(&waiters, timeout, |d, _, _, cx| d.poll_idle(cx))
    }

    /// Limits the bytes per second all connections of this socket send together
    /// ([`Config::max_total_send_rate`](crate::Config::max_total_send_rate):
    /// SYN, DATA and FIN packets, headers and retransmissions included; acks
    /// are never held back). `None` (or `Some(0)`) lifts the limit. It takes
    /// effect at once, for the connections open and those to come; each
    /// connection's own cap
    /// ([`Config::max_send_rate`](crate::Config::max_send_rate)) still applies.
    pub fn set_max_send_rate(&self, rate: Option<u64>) {
        self.handle.0.call(|driver, _, now| {
            driver.endpoint().set_now(now);
            driver.endpoint().set_max_total_send_rate(rate);
            driver.wake_driver();
        });
    }

    /// The endpoint's counters.
    pub fn endpoint_stats(&self) -> EndpointStats {
        self.handle.0.lock().driver.endpoint_stats()
    }

    /// The socket's receive buffer size as the system reports it (Linux:
    /// twice the bytes granted); see [`SocketOptions::recv_buffer`](utp_driver::SocketOptions::recv_buffer).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        utp_driver::buffer_sizes(&self.handle.0.lock().socket.0).map(|(recv, _)| recv)
    }

    /// The socket's send buffer size as the system reports it.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        utp_driver::buffer_sizes(&self.handle.0.lock().socket.0).map(|(_, send)| send)
    }

    /// The driver's counters.
    pub fn driver_stats(&self) -> DriverStats {
        self.handle.0.lock().driver.stats()
    }
}

impl Drop for UtpListener {
    fn drop(&mut self) {
        // Refuse from now on; connections nobody will accept are closed.
        self.handle.0.call(|d, s, now| {
            while let Some(h) = d.endpoint().accept() {
                d.close(s, now, h);
            }
            d.endpoint().unlisten();
        });
    }
}
