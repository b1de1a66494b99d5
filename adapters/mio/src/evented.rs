//! uTP inside an application's own `mio::Poll` loop.
//!
//! [`UtpMio`] owns a UDP socket and a [`Driver`] that keeps every endpoint
//! event. The loop:
//!
//! 1. `poll.poll(&mut events, utp.timeout(Instant::now()))`;
//! 2. `utp.handle_io(Instant::now())` (whatever woke the poll: readiness of
//!    the socket's token or the timeout);
//! 3. drain [`UtpMio::poll_event`] and act on each event: `Incoming` →
//!    [`accept`](UtpMio::accept); `Readable`/`Eof` → [`read`](UtpMio::read)
//!    until `WouldBlock`; `Writable`/`Connected` → [`write`](UtpMio::write)
//!    until `WouldBlock`; `Closed` → [`close`](UtpMio::close) to release the
//!    handle. Events that these calls cause are queued too: drain until
//!    `None`, then go to 1.
//!
//! The socket is edge-triggered: [`handle_io`](UtpMio::handle_io) reads it
//! until it would block, and when it stopped early (a receive budget keeps
//! one socket from starving the rest of the loop) or an application call
//! needs the loop to run, [`timeout`](UtpMio::timeout) returns zero.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};
use utp_core::{CloseInfo, ConnHandle, Event};
use utp_driver::{Clock, DatagramSocket, Driver, DriverConfig, Wait};

use crate::Sock;

/// Set when the driver asks for its loop to run (an application call moved
/// a deadline earlier or left a datagram unsent).
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

fn pending<T>(poll: Poll<io::Result<T>>) -> io::Result<T> {
    match poll {
        Poll::Ready(result) => result,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// A uTP endpoint on a mio UDP socket, driven by the application's
/// `mio::Poll`; see the [module docs](self).
pub struct UtpMio {
    socket: Sock,
    driver: Driver,
    clock: Clock,
    flag: Arc<Flag>,
    waker: Waker,
    wait: Wait,
}

impl core::fmt::Debug for UtpMio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UtpMio")
            .field("socket", &self.socket)
            .field("driver", &self.driver)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl UtpMio {
    /// Binds a UDP socket to `addr` (the first resolved address that
    /// works) and listens (default [`DriverConfig`]).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UtpMio> {
        UtpMio::bind_with(addr, DriverConfig::default())
    }

    /// Binds a UDP socket to `addr` with `config` ([`DriverConfig::socket`]
    /// sets buffer sizes, dual stack and ICMP errors: `[::]` makes a
    /// dual-stack socket by default).
    pub fn bind_with(addr: impl ToSocketAddrs, config: DriverConfig) -> io::Result<UtpMio> {
        let socket = utp_driver::bind_udp(addr, &config.socket)?;
        UtpMio::new(mio::net::UdpSocket::from_std(socket), config)
    }

    /// Runs uTP on a bound std socket (made non-blocking here), applying
    /// [`DriverConfig::socket`] ([`utp_driver::configure`]).
    pub fn from_std(socket: std::net::UdpSocket, config: DriverConfig) -> io::Result<UtpMio> {
        utp_driver::configure(&socket, &config.socket)?;
        socket.set_nonblocking(true)?;
        UtpMio::new(mio::net::UdpSocket::from_std(socket), config)
    }

    /// Runs uTP on `socket` with `config` (whose `keep_events` is forced on:
    /// events are how this API reports readiness). The socket is used as
    /// it is: `config.socket` is not applied ([`from_std`](Self::from_std)
    /// applies it). An invalid `config` ([`DriverConfig::validate`]) is
    /// refused with [`io::ErrorKind::InvalidInput`], the
    /// [`ConfigError`](utp_core::ConfigError) as its source.
    pub fn new(socket: mio::net::UdpSocket, mut config: DriverConfig) -> io::Result<UtpMio> {
        config.validate()?;
        config.keep_events = true;
        let flag = Arc::new(Flag::default());
        let socket = Sock::new(socket, config.batching);
        let driver = Driver::new(config, socket.max_send_segments());
        Ok(UtpMio {
            socket,
            driver,
            clock: Clock::new(Instant::now()),
            waker: Waker::from(Arc::clone(&flag)),
            flag,
            wait: Wait {
                deadline: None,
                writable: false,
                // Run once before the first poll.
                again: true,
            },
        })
    }

    /// Registers the socket with `registry` under `token`, for reading and
    /// writing.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut self.socket.0,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Runs the protocol: receives until the socket would block, handles
    /// due timers, sends, queues events. Call it after every poll.
    pub fn handle_io(&mut self, now: Instant) {
        self.flag.0.store(false, Ordering::Release);
        self.wait = self.driver.drive(&self.socket, self.clock.timestamp(now));
        self.driver.set_driver_waker(&self.waker);
    }

    /// How long the next poll may wait at most: `Some(ZERO)` when
    /// [`handle_io`](Self::handle_io) must run again at once, `None` when
    /// only socket readiness matters.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        if self.wait.again || self.flag.0.load(Ordering::Acquire) {
            return Some(Duration::ZERO);
        }
        let deadline = self.wait.deadline?;
        Some(self.clock.instant(deadline).saturating_duration_since(now))
    }

    /// The next event: `Connected`, `Incoming`, `Readable`, `Writable`,
    /// `Eof` or `Closed`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.driver.poll_event()
    }

    /// Starts a connection to `remote`; `Connected(h)` or `Closed(h, _)`
    /// follows. Writes before that are buffered. `remote` is resolved on
    /// this thread (std's resolver blocks for host names); the first
    /// address the socket can reach is used: one of its family, or any from
    /// a dual-stack socket (`InvalidInput` when there is none).
    pub fn connect(&mut self, remote: impl ToSocketAddrs) -> io::Result<ConnHandle> {
        let remote = self
            .socket
            .pick_remote(remote.to_socket_addrs()?.collect())?;
        let now = self.now();
        self.driver.connect(&self.socket, now, remote)
    }

    /// Starts a rendezvous connect to `remote`, which connects to us at the
    /// same time (hole punching; utp-core's `Endpoint::connect_rendezvous`):
    /// `Connected(h)`, or `Closed(h, TimedOut(Connect))` after
    /// `Config::rendezvous_timeout`. `AddrInUse` while another rendezvous
    /// with `remote` waits.
    /// Against a BEP 29 peer, listen too;
    /// `Config::rendezvous_duplicates` says which of two connections is
    /// kept (writes on a rendezvous not kept fail with `ConnectionAborted`).
    pub fn connect_rendezvous(&mut self, remote: impl ToSocketAddrs) -> io::Result<ConnHandle> {
        let remote = self
            .socket
            .pick_remote(remote.to_socket_addrs()?.collect())?;
        let now = self.now();
        self.driver.connect_rendezvous(&self.socket, now, remote)
    }

    /// The next incoming connection (after an `Incoming` event) and its
    /// peer.
    pub fn accept(&mut self) -> Option<(ConnHandle, SocketAddr)> {
        let mut cx = Context::from_waker(Waker::noop());
        match self.driver.poll_accept(&mut cx) {
            Poll::Ready(Ok(accepted)) => Some(accepted),
            _ => None,
        }
    }

    /// Reads received bytes: `Ok(0)` at the peer's FIN, `WouldBlock` when
    /// nothing is there (a `Readable` event follows).
    pub fn read(&mut self, h: ConnHandle, buf: &mut [u8]) -> io::Result<usize> {
        let now = self.now();
        let mut cx = Context::from_waker(Waker::noop());
        pending(self.driver.poll_read(&self.socket, now, h, &mut cx, buf))
    }

    /// Writes as much of `buf` as the send buffer takes; `WouldBlock` when
    /// it is full (a `Writable` event follows).
    pub fn write(&mut self, h: ConnHandle, buf: &[u8]) -> io::Result<usize> {
        let now = self.now();
        let mut cx = Context::from_waker(Waker::noop());
        pending(self.driver.poll_write(&self.socket, now, h, &mut cx, buf))
    }

    /// Half-close: a FIN follows the data written so far.
    pub fn shutdown(&mut self, h: ConnHandle) -> io::Result<()> {
        let now = self.now();
        self.driver.shutdown(&self.socket, now, h)
    }

    /// Closes `h` gracefully (written data is still delivered) and releases
    /// the handle.
    pub fn close(&mut self, h: ConnHandle) {
        let now = self.now();
        self.driver.close(&self.socket, now, h);
    }

    /// Aborts `h` (RESET to the peer) and releases the handle.
    pub fn abort(&mut self, h: ConnHandle) {
        let now = self.now();
        self.driver.abort(&self.socket, now, h);
    }

    /// How `h` ended (after its `Closed` event): the reason and the
    /// close-reason code the peer sent. `None` while it is open or once
    /// the handle was released.
    pub fn close_info(&mut self, h: ConnHandle) -> Option<CloseInfo> {
        self.driver.endpoint().conn(h)?.close_info()
    }

    /// Sets the close-reason code (uTP extension 3) that `h`'s FIN and
    /// RESET carry from now on.
    pub fn set_close_reason(&mut self, h: ConnHandle, code: Option<u16>) -> io::Result<()> {
        self.driver.set_close_reason(h, code)
    }

    /// Caps `h`'s sending rate at `bytes_per_second`, or lifts the cap
    /// (the socket-wide limit is [`set_max_send_rate`](Self::set_max_send_rate)).
    pub fn set_conn_max_send_rate(
        &mut self,
        h: ConnHandle,
        bytes_per_second: Option<u64>,
    ) -> io::Result<()> {
        self.driver.set_max_send_rate(h, bytes_per_second)
    }

    /// Winds the socket down gracefully: no more connections in or out,
    /// every connection closed as by [`close`](Self::close) (data written
    /// is still delivered). Keep running the loop until
    /// [`is_idle`](Self::is_idle).
    pub fn close_all(&mut self) {
        let now = self.now();
        self.driver.close_all(&self.socket, now);
    }

    /// Whether no connection is left (every one finished, failed or was
    /// released).
    pub fn is_idle(&mut self) -> bool {
        self.driver.endpoint().connection_count() == 0
    }

    /// The next datagram of another protocol received on the socket;
    /// `WouldBlock` when none is queued.
    pub fn recv_foreign(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut cx = Context::from_waker(Waker::noop());
        pending(self.driver.poll_recv_foreign(&mut cx, buf))
    }

    /// Sends a datagram of another protocol from the socket (to an IPv4
    /// address from a dual-stack socket too).
    pub fn send_foreign(&mut self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let driver = &mut self.driver;
        self.socket.send_foreign(buf, to, || driver.wake_driver())
    }

    /// Limits the bytes per second all connections of this socket send together
    /// ([`Config::max_total_send_rate`](crate::Config::max_total_send_rate):
    /// SYN, DATA and FIN packets, headers and retransmissions included; acks
    /// are never held back). `None` (or `Some(0)`) lifts the limit. It takes
    /// effect at once, for the connections open and those to come; each
    /// connection's own cap
    /// ([`Config::max_send_rate`](crate::Config::max_send_rate)) still applies.
    /// The waker makes [`timeout`](Self::timeout) zero, so that
    /// [`handle_io`](Self::handle_io) runs.
    pub fn set_max_send_rate(&mut self, rate: Option<u64>) {
        let now = self.now();
        self.driver.endpoint().set_now(now);
        self.driver.endpoint().set_max_total_send_rate(rate);
        self.driver.wake_driver();
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The socket's receive buffer size as the system reports it (Linux:
    /// twice the bytes granted); see
    /// [`SocketOptions::recv_buffer`](utp_driver::SocketOptions::recv_buffer).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        utp_driver::buffer_sizes(&self.socket.0).map(|(recv, _)| recv)
    }

    /// The socket's send buffer size as the system reports it.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        utp_driver::buffer_sizes(&self.socket.0).map(|(_, send)| send)
    }

    /// The driver, for what this type does not wrap (stats, the endpoint).
    pub fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    fn now(&self) -> utp_core::Timestamp {
        self.clock.timestamp(Instant::now())
    }
}
