//! The [`Driver`]: one turn of the loop, application calls, wakers.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use utp_core::error::close_error;
use utp_core::{
    ConnHandle, ConnState, ConnStats, Endpoint, EndpointStats, Error, Event, Handled, Timestamp,
};

use crate::{DatagramSocket, DriverConfig};

/// What the adapter's loop should wait for after [`Driver::drive`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Wait {
    /// Call `drive` again at this time at the latest (`None`: no timer).
    pub deadline: Option<Timestamp>,
    /// A datagram is waiting for the socket to become writable.
    pub writable: bool,
    /// The receive budget ran out with datagrams perhaps still queued:
    /// call `drive` again soon (after yielding to other tasks).
    pub again: bool,
}

/// Counters of the driver's own (beyond the endpoint's
/// [`EndpointStats`]).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DriverStats {
    /// Datagrams received from the socket.
    pub datagrams_received: u64,
    /// Datagrams sent to the socket.
    pub datagrams_sent: u64,
    /// Receive calls that returned data (fewer than datagrams when the
    /// socket coalesces).
    pub recv_calls: u64,
    /// Send calls that sent data.
    pub send_calls: u64,
    /// Sends that failed with an error other than `WouldBlock` (the
    /// datagram was dropped, as a network would).
    pub send_errors: u64,
    /// Foreign datagrams dropped because the queue was full.
    pub foreign_dropped: u64,
}

/// Datagrams received per [`Driver::drive`] call at most, so one busy
/// socket cannot starve the runtime.
const RECV_BUDGET: usize = 256;
/// Largest datagram the receive buffer holds (also the largest GRO batch).
const RECV_BUF: usize = 65_536;
/// Largest batch handed to one segmented send (a UDP length field holds
/// 65 535 bytes with headers).
const MAX_BATCH_BYTES: usize = 65_000;

#[derive(Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

/// The outgoing datagrams not yet handed to the socket: a batch of equal
/// segments to one destination in `buf[start..end]`, and possibly one more
/// datagram after it that did not fit the batch.
struct Outbox {
    buf: Vec<u8>,
    /// Room for one datagram.
    slot: usize,
    start: usize,
    end: usize,
    segment: usize,
    to: Option<SocketAddr>,
    /// A datagram at `buf[end..end + len]` for another batch.
    spill: Option<(SocketAddr, usize)>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is gone")
}

/// The shared I/O loop and connection table of an adapter; see the
/// [crate docs](crate).
pub struct Driver {
    endpoint: Endpoint,
    rx: Vec<u8>,
    out: Outbox,
    max_segments: usize,
    wakers: HashMap<ConnHandle, Wakers>,
    accept_waker: Option<Waker>,
    foreign: VecDeque<(SocketAddr, Vec<u8>)>,
    foreign_cap: usize,
    foreign_waker: Option<Waker>,
    driver_waker: Option<Waker>,
    /// Events kept for [`Driver::poll_event`], when asked for.
    events: Option<VecDeque<Event>>,
    /// The deadline the loop sleeps until (from the last `drive`).
    armed: Option<Timestamp>,
    /// Set by [`Driver::terminate`]: every call fails with this kind.
    terminated: Option<io::ErrorKind>,
    stats: DriverStats,
}

impl core::fmt::Debug for Driver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver")
            .field("endpoint", &self.endpoint)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver around a new endpoint. `max_send_segments` is the
    /// socket's [`DatagramSocket::max_send_segments`].
    pub fn new(config: DriverConfig, max_send_segments: usize) -> Self {
        let seed = config.seed.unwrap_or_else(random_seed);
        let mut endpoint = Endpoint::new(config.config, seed);
        // From the endpoint's configuration: packet sizes within bounds.
        let slot = endpoint
            .config()
            .packet_size_v4
            .max(endpoint.config().packet_size_v6)
            .max(1500);
        let max_segments = max_send_segments.clamp(1, (MAX_BATCH_BYTES / slot).max(1));
        if let Some(listen) = config.listen {
            endpoint.listen(listen);
        }
        Driver {
            endpoint,
            rx: vec![0; RECV_BUF],
            out: Outbox {
                buf: vec![0; slot * (max_segments + 1)],
                slot,
                start: 0,
                end: 0,
                segment: 0,
                to: None,
                spill: None,
            },
            max_segments,
            wakers: HashMap::new(),
            accept_waker: None,
            foreign: VecDeque::new(),
            foreign_cap: config.foreign_queue,
            foreign_waker: None,
            driver_waker: None,
            events: config.keep_events.then(VecDeque::new),
            armed: None,
            terminated: None,
            stats: DriverStats::default(),
        }
    }

    /// The endpoint, for what the driver does not wrap (after changing
    /// anything, the loop should run: call [`wake_driver`](Self::wake_driver)).
    pub fn endpoint(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The endpoint's counters.
    pub fn endpoint_stats(&self) -> EndpointStats {
        self.endpoint.stats()
    }

    /// The driver's own counters.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// Connection `h`'s counters (zero once it is gone).
    pub fn conn_stats(&mut self, h: ConnHandle) -> ConnStats {
        self.endpoint.conn(h).map(|c| c.stats()).unwrap_or_default()
    }

    /// Connection `h`'s peer.
    pub fn peer_addr(&mut self, h: ConnHandle) -> io::Result<SocketAddr> {
        self.endpoint
            .conn(h)
            .and_then(|c| c.peer_addr())
            .ok_or_else(gone)
    }

    // ----- the loop -----

    /// Registers the waker of the adapter's loop, woken when its wait must
    /// change.
    pub fn set_driver_waker(&mut self, waker: &Waker) {
        match &self.driver_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.driver_waker = Some(waker.clone()),
        }
    }

    /// The next endpoint event, when [`DriverConfig::keep_events`] is set.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.as_mut()?.pop_front()
    }

    /// Wakes the adapter's loop.
    pub fn wake_driver(&mut self) {
        if let Some(w) = &self.driver_waker {
            w.wake_by_ref();
        }
    }

    /// One turn of the loop: receive until the socket would block (or the
    /// budget runs out), feed the endpoint, run due timers, send, wake
    /// waiters. Returns what to wait for.
    pub fn drive<S: DatagramSocket + ?Sized>(&mut self, socket: &S, now: Timestamp) -> Wait {
        let mut received = 0;
        let mut again = false;
        if self.terminated.is_none() {
            loop {
                if received >= RECV_BUDGET {
                    again = true;
                    break;
                }
                match socket.try_recv_segments(&mut self.rx) {
                    Ok((len, stride, from)) => {
                        self.stats.recv_calls += 1;
                        let data = self.rx.get(..len).unwrap_or(&[]);
                        for datagram in data.chunks(stride.max(1)) {
                            received += 1;
                            self.stats.datagrams_received += 1;
                            if self.endpoint.handle_datagram(now, from, datagram) == Handled::NotUtp
                            {
                                if self.foreign.len() < self.foreign_cap {
                                    self.foreign.push_back((from, datagram.to_vec()));
                                    wake(&mut self.foreign_waker);
                                } else {
                                    self.stats.foreign_dropped += 1;
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // ICMP errors reported on the socket (port unreachable
                    // and the like) and interrupted calls: the protocol's
                    // own timers deal with unreachable peers.
                    Err(_) => {
                        received += 1;
                    }
                }
            }
        }
        // `armed` is never later than the earliest deadline (application
        // calls lower it), so it tells without another scan of every
        // connection whether a timer is due.
        if self.armed.is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.flush(socket, now);
        self.dispatch();
        let deadline = self.endpoint.poll_timeout();
        self.armed = deadline;
        Wait {
            deadline,
            writable: self.pending(),
            again,
        }
    }

    /// Datagrams wait for the socket to become writable.
    pub fn pending(&self) -> bool {
        self.out.end > self.out.start || self.out.spill.is_some()
    }

    /// Sends what the endpoint has to send, batching equal-sized datagrams
    /// to one destination, until it has nothing more or the socket would
    /// block (then the rest stays pending).
    fn flush<S: DatagramSocket + ?Sized>(&mut self, socket: &S, now: Timestamp) {
        loop {
            // Send what is pending first.
            if self.out.end > self.out.start {
                if !self.send_batch(socket) {
                    return;
                }
                continue;
            }
            if let Some((to, len)) = self.out.spill.take() {
                let from = self.out.end;
                self.out.buf.copy_within(from..from + len, 0);
                self.out.start = 0;
                self.out.end = len;
                self.out.segment = len;
                self.out.to = Some(to);
                continue;
            }
            // Fill a new batch.
            self.out.start = 0;
            self.out.end = 0;
            self.out.to = None;
            let mut count = 0;
            loop {
                let at = self.out.end;
                let Some(room) = self.out.buf.get_mut(at..at + self.out.slot) else {
                    break;
                };
                let Some(t) = self.endpoint.poll_transmit(now, room) else {
                    break;
                };
                match self.out.to {
                    None => {
                        self.out.to = Some(t.destination);
                        self.out.segment = t.len;
                        self.out.end = t.len;
                    }
                    Some(to) if to == t.destination && t.len <= self.out.segment => {
                        self.out.end += t.len;
                    }
                    Some(_) => {
                        self.out.spill = Some((t.destination, t.len));
                        break;
                    }
                }
                count += 1;
                // A shorter datagram ends a batch (only the last segment
                // may be short).
                if count >= self.max_segments || t.len < self.out.segment {
                    break;
                }
            }
            if count == 0 {
                return;
            }
        }
    }

    /// Sends the pending batch; `false` when the socket would block.
    fn send_batch<S: DatagramSocket + ?Sized>(&mut self, socket: &S) -> bool {
        let Some(to) = self.out.to else {
            self.out.start = self.out.end;
            return true;
        };
        let segment = self.out.segment.max(1);
        let Some(data) = self.out.buf.get(self.out.start..self.out.end) else {
            self.out.start = self.out.end;
            return true;
        };
        let result = if data.len() <= segment {
            socket.try_send_to(data, to)
        } else {
            socket.try_send_segments(data, segment, to)
        };
        match result {
            Ok(sent) => {
                let sent = if data.len() <= segment {
                    data.len()
                } else {
                    sent.min(data.len())
                };
                self.stats.send_calls += 1;
                self.stats.datagrams_sent += sent.div_ceil(segment) as u64;
                self.out.start += sent;
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => {
                // Unreachable destination, no route, message too long: the
                // network dropped it; retransmission or timeouts follow.
                self.stats.send_errors += 1;
                self.out.start += segment.min(data.len());
                true
            }
        }
    }

    /// Hands the endpoint's events to the waiters.
    fn dispatch(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            if let Some(kept) = &mut self.events {
                kept.push_back(event);
            }
            match event {
                Event::Incoming => wake(&mut self.accept_waker),
                Event::Readable(h) | Event::Eof(h) => {
                    if let Some(w) = self.wakers.get_mut(&h) {
                        wake(&mut w.read);
                    }
                }
                Event::Connected(h) | Event::Writable(h) => {
                    if let Some(w) = self.wakers.get_mut(&h) {
                        wake(&mut w.write);
                    }
                }
                Event::Closed(h, _) => {
                    if let Some(w) = self.wakers.get_mut(&h) {
                        wake(&mut w.read);
                        wake(&mut w.write);
                    }
                }
            }
        }
    }

    /// After an application call on connection `h`: send, wake, and wake
    /// the loop if its wait must change.
    fn after_call<S: DatagramSocket + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: Option<ConnHandle>,
    ) {
        self.flush(socket, now);
        self.dispatch();
        let deadline = h.and_then(|h| self.endpoint.conn(h)?.poll_timeout());
        let earlier = deadline.is_some_and(|d| self.armed.is_none_or(|a| d < a));
        if earlier || self.pending() {
            if earlier {
                self.armed = deadline;
            }
            self.wake_driver();
        }
    }

    fn check(&self) -> io::Result<()> {
        match self.terminated {
            Some(kind) => Err(io::Error::new(kind, "the uTP socket's driver has stopped")),
            None => Ok(()),
        }
    }

    /// Stops everything: every waiter is woken and every later call fails
    /// with `kind` (an adapter calls this when its socket is dropped or
    /// fails).
    pub fn terminate(&mut self, kind: io::ErrorKind) {
        self.terminated = Some(kind);
        for w in self.wakers.values_mut() {
            wake(&mut w.read);
            wake(&mut w.write);
        }
        wake(&mut self.accept_waker);
        wake(&mut self.foreign_waker);
    }

    // ----- connections -----

    /// Starts a connection to `remote` (complete it with
    /// [`poll_connect`](Self::poll_connect)).
    pub fn connect<S: DatagramSocket + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        remote: SocketAddr,
    ) -> io::Result<ConnHandle> {
        self.check()?;
        let local = socket.local_addr()?;
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot reach {remote} from a socket bound to {local}"),
            ));
        }
        let h = self.endpoint.connect(now, remote)?;
        self.wakers.insert(h, Wakers::default());
        self.after_call(socket, now, Some(h));
        Ok(h)
    }

    /// Ready when connection `h`'s handshake completed, or with the error
    /// that ended it (`ConnectionRefused`, `TimedOut`, ...).
    pub fn poll_connect(&mut self, h: ConnHandle, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        let state = self.endpoint.conn(h).ok_or_else(gone)?.state();
        match state {
            ConnState::Connecting => {
                if let Some(w) = self.wakers.get_mut(&h) {
                    register(&mut w.write, cx);
                }
                Poll::Pending
            }
            ConnState::Established { .. } => Poll::Ready(Ok(())),
            ConnState::Closed(reason) => Poll::Ready(Err(close_error(reason))),
        }
    }

    /// The next incoming connection and its peer.
    pub fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(ConnHandle, SocketAddr)>> {
        self.check()?;
        while let Some(h) = self.endpoint.accept() {
            if let Some(peer) = self.endpoint.conn(h).and_then(|c| c.peer_addr()) {
                self.wakers.insert(h, Wakers::default());
                return Poll::Ready(Ok((h, peer)));
            }
        }
        register(&mut self.accept_waker, cx);
        Poll::Pending
    }

    /// Reads received bytes of `h` into `buf`: `Ok(0)` at the peer's FIN
    /// (or for an empty `buf`), `Pending` until data arrives.
    pub fn poll_read<S: DatagramSocket + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // A read may reopen the window: the update goes out at once.
        self.poll_io(socket, now, h, cx, |w| &mut w.read, |c| c.read(buf))
    }

    /// Writes as much of `buf` as the send buffer takes; `Pending` while it
    /// is full. Before the handshake completes, data is buffered and sent
    /// after it.
    pub fn poll_write<S: DatagramSocket + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(socket, now, h, cx, |w| &mut w.write, |c| c.write(buf))
    }

    /// `op` on connection `h`: on success, send what it produced; on
    /// `WouldBlock`, register `cx` in the waker slot `side` picks.
    fn poll_io<S: DatagramSocket + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
        cx: &mut Context<'_>,
        side: fn(&mut Wakers) -> &mut Option<Waker>,
        op: impl FnOnce(&mut utp_core::Conn<'_>) -> Result<usize, Error>,
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        self.endpoint.set_now(now);
        let result = op(&mut self.endpoint.conn(h).ok_or_else(gone)?);
        match result {
            Ok(n) => {
                self.after_call(socket, now, Some(h));
                Poll::Ready(Ok(n))
            }
            Err(Error::WouldBlock) => {
                if let Some(w) = self.wakers.get_mut(&h) {
                    register(side(w), cx);
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }

    /// Half-close: a FIN follows the data written so far.
    pub fn shutdown<S: DatagramSocket + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
    ) -> io::Result<()> {
        self.check()?;
        self.endpoint.set_now(now);
        self.endpoint.conn(h).ok_or_else(gone)?.shutdown();
        self.after_call(socket, now, Some(h));
        Ok(())
    }

    /// Closes `h` gracefully (data written is still delivered) and forgets
    /// its waiters; the handle is invalid afterwards. For a dropped stream.
    pub fn close<S: DatagramSocket + ?Sized>(&mut self, socket: &S, now: Timestamp, h: ConnHandle) {
        self.wakers.remove(&h);
        if self.terminated.is_some() {
            return;
        }
        self.endpoint.set_now(now);
        if let Some(mut c) = self.endpoint.conn(h) {
            c.close();
        }
        self.after_call(socket, now, Some(h));
    }

    /// Aborts `h`: RESET to the peer, everything dropped; the handle is
    /// invalid afterwards.
    pub fn abort<S: DatagramSocket + ?Sized>(&mut self, socket: &S, now: Timestamp, h: ConnHandle) {
        self.wakers.remove(&h);
        if self.terminated.is_some() {
            return;
        }
        self.endpoint.set_now(now);
        if let Some(mut c) = self.endpoint.conn(h) {
            c.abort();
        }
        self.after_call(socket, now, None);
    }

    // ----- other protocols on the socket -----

    /// The next datagram that was not uTP, copied into `buf` (truncated to
    /// its length): bytes copied and sender.
    pub fn poll_recv_foreign(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.check()?;
        match self.foreign.pop_front() {
            Some((from, datagram)) => {
                let n = datagram.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), datagram.get(..n)) {
                    dst.copy_from_slice(src);
                }
                Poll::Ready(Ok((n, from)))
            }
            None => {
                register(&mut self.foreign_waker, cx);
                Poll::Pending
            }
        }
    }
}

/// A seed from the operating system's random source, for drivers not given
/// one (connection ids, sequence numbers and the SYN cookie key derive from
/// it). Should the source fail, the standard library's randomly keyed
/// hasher (itself seeded from the system once per process) stands in.
fn random_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x7574_705f_7365_6564);
        h.finish()
    })
}
