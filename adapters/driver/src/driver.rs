//! The [`Driver`]: its state, one turn of the loop (receive, timers,
//! batched sends, wakers); the application's calls are in `calls.rs`, the
//! counters in `stats.rs`.

mod calls;
mod pressure;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use utp_core::error::close_error;
use utp_core::Peer;
use utp_core::{
    CloseInfo, ConnHandle, ConnState, ConnStats, Endpoint, EndpointStats, Error, Event, Handled,
    Timestamp,
};

use crate::{canonical, remote_for, DatagramSocket, DriverConfig, DriverStats, SocketError};

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

/// Datagrams received per [`Driver::drive`] call at most, so one busy
/// socket cannot starve the runtime.
const RECV_BUDGET: usize = 256;
/// Errors read from the socket's queue per call at most (the rest wait
/// for the next turn), so a flood of ICMP cannot hold the loop.
const ERROR_BUDGET: usize = 64;
/// Largest datagram the receive buffer holds (also the largest GRO batch).
const RECV_BUF: usize = 65_536;
/// Largest batch handed to one segmented send (a UDP length field holds
/// 65 535 bytes with headers).
const MAX_BATCH_BYTES: usize = 65_000;

#[derive(Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
    /// A task waiting for the connection to end ([`Driver::poll_closed`]).
    closed: Option<Waker>,
    /// How it ended, kept from its `Closed` event for as long as the
    /// application holds the handle (the endpoint may forget the
    /// connection before).
    ended: Option<CloseInfo>,
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

/// Several tasks may wait on one socket-wide slot (clones of a socket each
/// calling `accept`): each is kept once and all are woken (the ones that
/// find nothing register again).
fn register_many(list: &mut Vec<Waker>, cx: &Context<'_>) {
    if !list.iter().any(|w| w.will_wake(cx.waker())) {
        list.push(cx.waker().clone());
    }
}

fn wake_all(list: &mut Vec<Waker>) {
    for w in list.drain(..) {
        w.wake();
    }
}

/// Wakes `slot`'s waker now, or keeps it in `deferred` when the turn
/// defers its wakes ([`Driver::drive_deferred`]).
fn wake_or_defer(slot: &mut Option<Waker>, deferred: &mut Option<Vec<Waker>>) {
    if let Some(w) = slot.take() {
        match deferred {
            Some(list) => list.push(w),
            None => w.wake(),
        }
    }
}

/// The outgoing datagrams not yet handed to the socket: a batch of equal
/// segments to one destination in `buf[start..end]`, and possibly one more
/// datagram after it that did not fit the batch.
struct Outbox<P> {
    buf: Vec<u8>,
    /// Room for one datagram.
    slot: usize,
    start: usize,
    end: usize,
    segment: usize,
    to: Option<P>,
    /// A datagram at `buf[end..end + len]` for another batch.
    spill: Option<(P, usize)>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is gone")
}

/// What differs between UDP peers and others: UDP's dual-stack sockets
/// know IPv4 peers by v4-mapped addresses, reported to the application
/// unmapped ([`canonical`]), and refuse a remote of the other family.
struct PeerRules<P> {
    /// The form the application sees of a peer.
    shown: fn(P) -> P,
    /// The form the endpoint knows a remote the application names by, on
    /// a socket of this local address and dual-stack setting.
    route: fn(io::Result<SocketAddr>, bool, P) -> io::Result<P>,
}

/// The shared I/O loop and connection table of an adapter; see the
/// [crate docs](crate). Its peers are `P`s: `SocketAddr`s over UDP (the
/// default, [`Driver::new`]), or those of another carrier
/// ([`Driver::with_peer_type`]).
pub struct Driver<P: Peer = SocketAddr> {
    endpoint: Endpoint<P>,
    rules: PeerRules<P>,
    rx: Vec<u8>,
    out: Outbox<P>,
    max_segments: usize,
    wakers: HashMap<ConnHandle, Wakers>,
    accept_wakers: Vec<Waker>,
    foreign: VecDeque<(P, Vec<u8>)>,
    foreign_cap: usize,
    foreign_wakers: Vec<Waker>,
    /// Tasks waiting for the endpoint to have no connection left.
    idle_wakers: Vec<Waker>,
    /// Set by [`Driver::close_all`]: no more connections in or out.
    closing: bool,
    driver_waker: Option<Waker>,
    /// Events kept for [`Driver::poll_event`], when asked for.
    events: Option<VecDeque<Event>>,
    /// The deadline the loop sleeps until (from the last `drive`).
    armed: Option<Timestamp>,
    /// Set by [`Driver::terminate`]: every call fails with this kind.
    terminated: Option<io::ErrorKind>,
    stats: DriverStats,
    /// The receive-window share while the socket's buffer fills; `None`
    /// when [`DriverConfig::share_recv_window`] is off.
    pressure: Option<pressure::RecvPressure>,
    /// During [`Driver::drive_deferred`]: the wakers its events would
    /// wake, for the adapter to wake once it has released the driver.
    deferred: Option<Vec<Waker>>,
    /// [`Driver::set_defer_read_output`]: a read's datagrams (a window
    /// update) wait for the loop's next turn.
    defer_read_output: bool,
}

impl<P: Peer> core::fmt::Debug for Driver<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver")
            .field("endpoint", &self.endpoint)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver around a new endpoint whose peers are UDP addresses.
    /// `max_send_segments` is the socket's
    /// [`DatagramSocket::max_send_segments`].
    pub fn new(config: DriverConfig, max_send_segments: usize) -> Self {
        let rules = PeerRules {
            shown: canonical,
            route: |local, dual_stack, remote| remote_for(local?, dual_stack, remote),
        };
        Driver::build(config, max_send_segments, rules)
    }
}

impl<P: Peer> Driver<P> {
    /// A driver around a new endpoint whose peers are `P`s, on a socket
    /// that carries datagrams to them (`max_send_segments` as for
    /// [`Driver::new`]). Peers are used as they are: no address family
    /// rules.
    pub fn with_peer_type(config: DriverConfig<P>, max_send_segments: usize) -> Self {
        let rules = PeerRules {
            shown: |p| p,
            route: |_, _, remote| Ok(remote),
        };
        Driver::build(config, max_send_segments, rules)
    }

    fn build(config: DriverConfig<P>, max_send_segments: usize, rules: PeerRules<P>) -> Self {
        let seed = config.seed.unwrap_or_else(random_seed);
        let mut endpoint = Endpoint::with_peer_type(config.config, seed);
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
            rules,
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
            accept_wakers: Vec::new(),
            foreign: VecDeque::new(),
            foreign_cap: config.foreign_queue,
            foreign_wakers: Vec::new(),
            idle_wakers: Vec::new(),
            closing: false,
            driver_waker: None,
            events: config.keep_events.then(VecDeque::new),
            armed: None,
            terminated: None,
            stats: DriverStats::default(),
            pressure: config
                .share_recv_window
                .then(pressure::RecvPressure::default),
            deferred: None,
            defer_read_output: false,
        }
    }

    /// The endpoint, for what the driver does not wrap (after changing
    /// anything, the loop should run: call [`wake_driver`](Self::wake_driver)).
    pub fn endpoint(&mut self) -> &mut Endpoint<P> {
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

    /// Connection `h`'s counters at `now` (zero once it is gone).
    pub fn conn_stats(&mut self, now: Timestamp, h: ConnHandle) -> ConnStats {
        self.endpoint.set_now(now);
        self.endpoint.conn(h).map(|c| c.stats()).unwrap_or_default()
    }

    /// Connection `h`'s UDP peer address (an IPv4 peer of a dual-stack
    /// socket as its IPv4 address: see [`canonical`]).
    pub fn peer_addr(&mut self, h: ConnHandle) -> io::Result<SocketAddr> {
        self.endpoint
            .conn(h)
            .and_then(|c| c.peer_addr())
            .map(canonical)
            .ok_or_else(gone)
    }

    /// Connection `h`'s peer, as the application sees it (for UDP, as
    /// [`peer_addr`](Self::peer_addr)).
    pub fn peer(&mut self, h: ConnHandle) -> io::Result<P> {
        let peer = self.endpoint.conn(h).and_then(|c| c.peer().cloned());
        peer.map(self.rules.shown).ok_or_else(gone)
    }

    // ----- the loop -----

    /// With `on`, what a read makes the connection send (a window update
    /// once the read reopened the window) is not sent from the reading
    /// task but by the loop's next turn, which it wakes: the updates of
    /// the connections read meanwhile then leave together, in batches
    /// (one system call for many, where each read would make one). For a
    /// loop that runs on the readers' thread (tokio's current-thread
    /// runtime), where its turn follows the readers' at once; off by
    /// default, where waking the loop would be a hand-over between
    /// threads.
    pub fn set_defer_read_output(&mut self, on: bool) {
        self.defer_read_output = on;
    }

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
    pub fn drive<S: DatagramSocket<P> + ?Sized>(&mut self, socket: &S, now: Timestamp) -> Wait {
        self.stats.at = self.stats.at.max(now);
        let mut received = 0;
        let mut again = false;
        if let Some(pressure) = &mut self.pressure {
            if pressure.look(socket, &mut self.endpoint, now) {
                self.stats.recv_buffer_filling += 1;
            }
        }
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
                        self.stats.bytes_received += len as u64;
                        for datagram in data.chunks(stride.max(1)) {
                            received += 1;
                            self.stats.datagrams_received += 1;
                            let handled =
                                self.endpoint.handle_datagram(now, from.clone(), datagram);
                            if handled == Handled::NotUtp {
                                if self.foreign.len() < self.foreign_cap {
                                    let from = (self.rules.shown)(from.clone());
                                    self.foreign.push_back((from, datagram.to_vec()));
                                    wake_all(&mut self.foreign_wakers);
                                } else {
                                    self.stats.foreign_dropped += 1;
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Woken with nothing to receive: perhaps by an
                        // error the socket queued (POLLERR).
                        if received == 0 {
                            self.socket_errors(socket, now);
                        }
                        break;
                    }
                    // An error the network reported for a datagram sent
                    // (Linux, with ICMP errors on: the details are in the
                    // socket's error queue), or an interrupted call.
                    Err(_) => {
                        received += 1;
                        self.socket_errors(socket, now);
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
        self.wake_if_idle();
        let deadline = self.endpoint.poll_timeout();
        self.armed = deadline;
        Wait {
            deadline,
            writable: self.pending(),
            again,
        }
    }

    /// As [`drive`](Self::drive), but the tasks this turn's events would
    /// wake (readers, writers, those waiting to accept or for an end) are
    /// appended to `woken` instead: the adapter wakes them once it has
    /// released its lock on the driver, so that a task woken on another
    /// thread does not first wait for the lock the loop still holds.
    pub fn drive_deferred<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        woken: &mut Vec<Waker>,
    ) -> Wait {
        self.deferred = Some(core::mem::take(woken));
        let wait = self.drive(socket, now);
        if let Some(list) = self.deferred.take() {
            *woken = list;
        }
        wait
    }

    /// Reads the errors the socket queued and hands them to the endpoint
    /// (port unreachable ends connection attempts to that address, packet
    /// too big lowers the packet size to it); how many there were.
    fn socket_errors<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
    ) -> usize {
        let mut read = 0;
        while read < ERROR_BUDGET {
            let Ok(Some(error)) = socket.try_recv_error() else {
                break;
            };
            read += 1;
            self.stats.socket_errors += 1;
            match error {
                SocketError::PortUnreachable(remote) => {
                    self.endpoint.handle_unreachable(now, remote);
                }
                SocketError::PacketTooBig { remote, mtu } => {
                    self.endpoint.set_now(now);
                    self.endpoint.handle_packet_too_big(remote.ip(), mtu);
                }
                _ => {}
            }
        }
        read
    }

    /// Datagrams wait for the socket to become writable.
    pub fn pending(&self) -> bool {
        self.out.end > self.out.start || self.out.spill.is_some()
    }

    /// Sends what the endpoint has to send, batching equal-sized datagrams
    /// to one destination, until it has nothing more or the socket would
    /// block (then the rest stays pending).
    fn flush<S: DatagramSocket<P> + ?Sized>(&mut self, socket: &S, now: Timestamp) {
        self.stats.at = self.stats.at.max(now);
        loop {
            // Send what is pending first.
            if self.out.end > self.out.start {
                if !self.send_batch(socket, now) {
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
                match &self.out.to {
                    None => {
                        self.out.to = Some(t.destination);
                        self.out.segment = t.len;
                        self.out.end = t.len;
                    }
                    Some(to) if *to == t.destination && t.len <= self.out.segment => {
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
    fn send_batch<S: DatagramSocket<P> + ?Sized>(&mut self, socket: &S, now: Timestamp) -> bool {
        let mut retried = false;
        loop {
            let Some(to) = self.out.to.clone() else {
                self.out.start = self.out.end;
                return true;
            };
            let segment = self.out.segment.max(1);
            let Some(data) = self.out.buf.get(self.out.start..self.out.end) else {
                self.out.start = self.out.end;
                return true;
            };
            let len = data.len();
            let result = if len <= segment {
                socket.try_send_to(data, to.clone())
            } else {
                socket.try_send_segments(data, segment, to.clone())
            };
            match result {
                Ok(sent) => {
                    let sent = if len <= segment { len } else { sent.min(len) };
                    self.stats.send_calls += 1;
                    self.stats.datagrams_sent += sent.div_ceil(segment) as u64;
                    self.stats.bytes_sent += sent as u64;
                    self.out.start += sent;
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) => {
                    // With ICMP errors on, a send fails with the error an
                    // earlier datagram (to any peer) caused, before it
                    // leaves: read the queue, and send this one again (an
                    // error of its own comes back).
                    let queued = self.socket_errors(socket, now);
                    if !retried && (queued > 0 || crate::may_be_deferred(&e)) {
                        retried = true;
                        continue;
                    }
                    // No route, message too long: the network dropped it;
                    // retransmission or timeouts follow.
                    #[cfg(feature = "tracing")]
                    tracing::debug!(target: "utp::socket", error = %e, ?to, "send failed");
                    self.stats.send_errors += 1;
                    self.out.start += segment.min(len);
                    return true;
                }
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
                Event::Incoming => {
                    for w in self.accept_wakers.drain(..) {
                        let mut slot = Some(w);
                        wake_or_defer(&mut slot, &mut self.deferred);
                    }
                }
                Event::Readable(h) | Event::Eof(h) => {
                    if let Some(w) = self.wakers.get_mut(&h) {
                        wake_or_defer(&mut w.read, &mut self.deferred);
                    }
                }
                // A rendezvous closed as a duplicate: a waiting writer
                // hears so (the kept connection comes from `accept`).
                Event::Connected(h)
                | Event::Writable(h)
                | Event::Duplicate { rendezvous: h, .. } => {
                    if let Some(w) = self.wakers.get_mut(&h) {
                        wake_or_defer(&mut w.write, &mut self.deferred);
                    }
                }
                Event::Closed(h, reason) => {
                    let peer_code = self.endpoint.conn(h).and_then(|c| c.peer_close_reason());
                    if let Some(w) = self.wakers.get_mut(&h) {
                        w.ended = Some(CloseInfo { reason, peer_code });
                        wake_or_defer(&mut w.read, &mut self.deferred);
                        wake_or_defer(&mut w.write, &mut self.deferred);
                        wake_or_defer(&mut w.closed, &mut self.deferred);
                    }
                }
            }
        }
    }

    /// After an application call on connection `h`: send, wake, and wake
    /// the loop if its wait must change.
    fn after_call<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: Option<ConnHandle>,
    ) {
        self.flush(socket, now);
        self.settle_call(h, false);
    }

    /// What follows any call, once it sent what it sends: wake the waiters,
    /// and the loop if its wait must change or (`unsent`) the call left
    /// datagrams for its turn.
    fn settle_call(&mut self, h: Option<ConnHandle>, unsent: bool) {
        self.dispatch();
        self.wake_if_idle();
        let deadline = h.and_then(|h| self.endpoint.conn(h)?.poll_timeout());
        let earlier = deadline.is_some_and(|d| self.armed.is_none_or(|a| d < a));
        let unsent = unsent && self.endpoint.may_transmit();
        if earlier || unsent || self.pending() {
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
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "utp::socket", ?kind, "the socket loop stops");
        self.terminated = Some(kind);
        for w in self.wakers.values_mut() {
            wake(&mut w.read);
            wake(&mut w.write);
            wake(&mut w.closed);
        }
        wake_all(&mut self.accept_wakers);
        wake_all(&mut self.foreign_wakers);
        wake_all(&mut self.idle_wakers);
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
