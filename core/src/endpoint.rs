//! Many connections on one UDP socket.
//!
//! The [`Endpoint`] routes each datagram by (remote address, connection id)
//! to its connection, answers SYNs when listening, hands non-uTP datagrams
//! back, answers packets for unknown connections with a rate-limited RESET,
//! and multiplexes every connection's output and deadlines.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use crate::config::{AcceptDecision, Config, ListenConfig};
use crate::conn::pmtu::{ip_udp_overhead, PathMemory};
use crate::conn::{ConnState, Connection, EventSink};
use crate::error::{ConnectError, Error};
use crate::event::Event;
use crate::rng::Rng;
use crate::seq::SeqNr;
use crate::stats::{ConnStats, EndpointStats};
use crate::time::Timestamp;
use crate::wire::{classify, DatagramKind, PacketRepr, PacketType};

/// Identifies a connection of an [`Endpoint`]. Stale handles (of a
/// connection that is gone) are recognised and refused, never confused with
/// a newer connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ConnHandle {
    index: u32,
    generation: u32,
}

/// What [`Endpoint::handle_datagram`] did with a datagram.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Handled {
    /// It was uTP (valid or not); the endpoint took it.
    Utp,
    /// Not uTP (see [`wire::classify`](crate::wire::classify)): it belongs to
    /// another protocol on the socket, such as the DHT.
    NotUtp,
}

/// A datagram to send, written by [`Endpoint::poll_transmit`] into the
/// caller's buffer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Its length at the start of the buffer.
    pub len: usize,
    /// A path MTU probe: send it with the IPv4 don't-fragment bit (for
    /// IPv6, without source fragmentation), so that a path that cannot carry
    /// it drops it rather than fragmenting it. `false` for every other
    /// datagram: those never exceed the size the path was found to carry
    /// (see [`Config::pmtu_discovery`]), so setting don't-fragment on every
    /// datagram, as sockets with GSO do, is fine too. A socket that cannot
    /// set the bit per datagram should send everything with it.
    pub dont_fragment: bool,
}

/// RESETs waiting to be sent at most.
const MAX_PENDING_RESETS: usize = 64;

struct Slot {
    generation: u32,
    conn: Option<Connection>,
    /// In the `ready` queue (may have output).
    ready: bool,
}

struct Listener {
    backlog: usize,
    filter: Box<dyn FnMut(SocketAddr) -> AcceptDecision + Send>,
    queue: VecDeque<ConnHandle>,
}

#[derive(Clone, Copy, Debug)]
struct PendingReset {
    to: SocketAddr,
    connection_id: u16,
    seq_nr: SeqNr,
    ack_nr: SeqNr,
}

/// A uTP endpoint: every connection on one UDP socket.
///
/// Methods come in four groups, as in the crate docs' loop:
/// - input: [`handle_datagram`](Self::handle_datagram),
///   [`handle_timeout`](Self::handle_timeout), and ICMP reports if the
///   adapter has them: [`handle_packet_too_big`](Self::handle_packet_too_big);
/// - output, to drain after every input or call, in this order:
///   [`poll_transmit`](Self::poll_transmit) until `None`,
///   [`poll_event`](Self::poll_event) until `None`, then
///   [`poll_timeout`](Self::poll_timeout);
/// - connections: [`connect`](Self::connect), [`listen`](Self::listen),
///   [`accept`](Self::accept), [`conn`](Self::conn);
/// - getters: [`stats`](Self::stats), [`connection_count`](Self::connection_count).
pub struct Endpoint {
    config: Config,
    rng: Rng,
    slots: Vec<Slot>,
    free: Vec<u32>,
    routes: HashMap<(SocketAddr, u16), u32>,
    live: usize,
    listener: Option<Listener>,
    events: VecDeque<Event>,
    ready: VecDeque<u32>,
    resets: VecDeque<PendingReset>,
    reset_tokens: u32,
    reset_refill: Timestamp,
    now: Timestamp,
    stats: EndpointStats,
    /// Path MTU learned per remote address.
    paths: PathMemory,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.live)
            .field("listening", &self.listener.is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new endpoint. `seed` drives every random choice (connection ids,
    /// sequence numbers), so the same seed and inputs give the same outputs.
    pub fn new(config: Config, seed: u64) -> Self {
        let reset_tokens = config.replies_per_second;
        Endpoint {
            config,
            rng: Rng::new(seed),
            slots: Vec::new(),
            free: Vec::new(),
            routes: HashMap::new(),
            live: 0,
            listener: None,
            events: VecDeque::new(),
            ready: VecDeque::new(),
            resets: VecDeque::new(),
            reset_tokens,
            reset_refill: Timestamp::ZERO,
            now: Timestamp::ZERO,
            stats: EndpointStats::default(),
            paths: PathMemory::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters for traffic that belongs to no connection.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Connections alive (including closed ones not yet released).
    pub fn connection_count(&self) -> usize {
        self.live
    }

    /// Moves the endpoint's clock to `now` (never backwards) without any
    /// other input, so that the next [`Conn`] call is stamped with `now`.
    /// The input and output methods do this themselves; a runtime that
    /// calls `write` long after its last input should call this first.
    pub fn set_now(&mut self, now: Timestamp) {
        self.tick(now);
    }

    fn tick(&mut self, now: Timestamp) {
        if now > self.now {
            self.now = now;
        }
    }

    // ----- connections -----

    /// Accept incoming connections from now on.
    pub fn listen(&mut self, config: ListenConfig) {
        self.listener = Some(Listener {
            backlog: config.backlog,
            filter: config.filter,
            queue: VecDeque::new(),
        });
    }

    /// Stop accepting; connections already accepted stay.
    pub fn unlisten(&mut self) {
        self.listener = None;
    }

    /// Takes the oldest connection from the accept backlog.
    pub fn accept(&mut self) -> Option<ConnHandle> {
        loop {
            let h = self.listener.as_mut()?.queue.pop_front()?;
            match self.slot_conn(h).map(Connection::is_closed) {
                Some(false) => return Some(h),
                // Closed before the application ever saw it: nobody will
                // release it, so release it here.
                Some(true) => {
                    if let Some(c) = self
                        .slots
                        .get_mut(h.index as usize)
                        .and_then(|s| s.conn.as_mut())
                    {
                        c.release();
                    }
                    self.maybe_release(h.index);
                }
                None => {}
            }
        }
    }

    /// Starts a connection to `remote`: the SYN goes out on the next
    /// [`poll_transmit`](Self::poll_transmit). A
    /// [`Connected`](Event::Connected) or [`Closed`](Event::Closed) event
    /// follows. Data written before the handshake completes is sent after it.
    pub fn connect(
        &mut self,
        now: Timestamp,
        remote: SocketAddr,
    ) -> Result<ConnHandle, ConnectError> {
        self.tick(now);
        if self.live >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let recv_id = self
            .free_connection_id(remote)
            .ok_or(ConnectError::NoConnectionId)?;
        let isn = SeqNr::new(self.rng.next_u16());
        let mut conn = Connection::connect(&self.config, now, remote, recv_id, isn);
        if let Some(path) = self.paths.get(remote.ip()) {
            conn.pmtu_resume(path, now);
        }
        Ok(self.insert(conn))
    }

    /// A receive id for a new outgoing connection to `remote` that no
    /// existing connection with that peer uses on either side. Ours are
    /// routed by our receive id `r` and the peer routes them by `r + 1`
    /// (the send id); the new connection's ids are `id` and `id + 1`, so
    /// `id - 1`, `id` and `id + 1` must all be unrouted. (With `id - 1`
    /// routed, the new SYN, carrying `id`, would reach the peer's side of
    /// that older connection and be dropped there.)
    fn free_connection_id(&mut self, remote: SocketAddr) -> Option<u16> {
        let free = |routes: &HashMap<(SocketAddr, u16), u32>, id: u16| {
            !routes.contains_key(&(remote, id.wrapping_sub(1)))
                && !routes.contains_key(&(remote, id))
                && !routes.contains_key(&(remote, id.wrapping_add(1)))
        };
        for _ in 0..64 {
            let id = self.rng.next_u16();
            if free(&self.routes, id) {
                return Some(id);
            }
        }
        (0..=u16::MAX).find(|&id| free(&self.routes, id))
    }

    fn insert(&mut self, conn: Connection) -> ConnHandle {
        let key = (conn.remote(), conn.recv_id());
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                    ready: false,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let handle = match self.slots.get_mut(index as usize) {
            Some(slot) => {
                slot.conn = Some(conn);
                ConnHandle {
                    index,
                    generation: slot.generation,
                }
            }
            None => ConnHandle {
                index,
                generation: u32::MAX,
            },
        };
        self.routes.insert(key, index);
        self.live += 1;
        self.mark_ready(index);
        handle
    }

    fn mark_ready(&mut self, index: u32) {
        if let Some(slot) = self.slots.get_mut(index as usize) {
            if !slot.ready && slot.conn.is_some() {
                slot.ready = true;
                self.ready.push_back(index);
            }
        }
    }

    fn slot_conn(&self, h: ConnHandle) -> Option<&Connection> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.conn.as_ref())
    }

    fn handle_of(&self, index: u32) -> ConnHandle {
        let generation = self.slots.get(index as usize).map_or(0, |s| s.generation);
        ConnHandle { index, generation }
    }

    /// Forgets connection `index` if it is finished.
    fn maybe_release(&mut self, index: u32) {
        let now = self.now;
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let finished = slot.conn.as_ref().is_some_and(|c| c.is_finished(now));
        if !finished {
            return;
        }
        if let Some(conn) = slot.conn.take() {
            let key = (conn.remote(), conn.recv_id());
            if self.routes.get(&key) == Some(&index) {
                self.routes.remove(&key);
            }
        }
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.live -= 1;
    }

    /// A borrowed handle to connection `h`; `None` once it is gone.
    pub fn conn(&mut self, h: ConnHandle) -> Option<Conn<'_>> {
        self.slot_conn(h)?;
        Some(Conn {
            ep: self,
            handle: h,
        })
    }

    // ----- input -----

    /// Feeds one received datagram. Returns [`Handled::NotUtp`] for a
    /// datagram of another protocol, which the endpoint leaves untouched.
    pub fn handle_datagram(
        &mut self,
        now: Timestamp,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Handled {
        self.tick(now);
        if classify(datagram) == DatagramKind::Foreign {
            self.stats.foreign += 1;
            return Handled::NotUtp;
        }
        let Ok(packet) = PacketRepr::parse(datagram) else {
            self.stats.malformed += 1;
            return Handled::Utp;
        };
        if let Some(&index) = self.routes.get(&(from, packet.connection_id)) {
            self.deliver(now, index, &packet);
            return Handled::Utp;
        }
        match packet.packet_type {
            PacketType::Syn => self.on_syn(now, from, &packet),
            PacketType::Reset => self.on_unknown_reset(now, from, &packet),
            _ => self.on_unknown(now, from, &packet),
        }
        Handled::Utp
    }

    fn deliver(&mut self, now: Timestamp, index: u32, packet: &PacketRepr<'_>) {
        let handle = self.handle_of(index);
        if let Some(conn) = self
            .slots
            .get_mut(index as usize)
            .and_then(|s| s.conn.as_mut())
        {
            let mut sink = EventSink {
                queue: &mut self.events,
                handle,
            };
            conn.on_packet(now, packet, &mut sink);
            if let Some(path) = conn.pmtu_take_update() {
                self.paths.record(conn.remote().ip(), path, now);
            }
        }
        self.mark_ready(index);
        self.maybe_release(index);
    }

    /// A RESET may name our send id rather than our receive id (libutp
    /// answers with the id it received).
    fn on_unknown_reset(&mut self, now: Timestamp, from: SocketAddr, packet: &PacketRepr<'_>) {
        for recv_id in [
            packet.connection_id.wrapping_sub(1),
            packet.connection_id.wrapping_add(1),
        ] {
            if let Some(&index) = self.routes.get(&(from, recv_id)) {
                let matches = self
                    .slots
                    .get(index as usize)
                    .and_then(|s| s.conn.as_ref())
                    .is_some_and(|c| c.send_id() == packet.connection_id);
                if matches {
                    self.deliver(now, index, packet);
                    return;
                }
            }
        }
        self.stats.unknown_connection += 1;
    }

    fn on_unknown(&mut self, now: Timestamp, from: SocketAddr, packet: &PacketRepr<'_>) {
        self.stats.unknown_connection += 1;
        if self.config.reset_unknown {
            self.queue_reset(now, from, packet.connection_id, packet.seq_nr);
        }
    }

    /// libutp's answer to a packet for a connection it does not know:
    /// RESET with the id received and ack_nr = the packet's seq_nr.
    fn queue_reset(&mut self, now: Timestamp, to: SocketAddr, connection_id: u16, ack_nr: SeqNr) {
        let elapsed = now.saturating_duration_since(self.reset_refill);
        if elapsed.as_secs() >= 1 {
            self.reset_tokens = self.config.replies_per_second;
            self.reset_refill = now;
        }
        if self.reset_tokens == 0 || self.resets.len() >= MAX_PENDING_RESETS {
            self.stats.replies_suppressed += 1;
            return;
        }
        self.reset_tokens -= 1;
        let seq_nr = SeqNr::new(self.rng.next_u16());
        self.resets.push_back(PendingReset {
            to,
            connection_id,
            seq_nr,
            ack_nr,
        });
    }

    fn on_syn(&mut self, now: Timestamp, from: SocketAddr, syn: &PacketRepr<'_>) {
        // The acceptor receives on id + 1: a retransmitted SYN finds the
        // connection it created there.
        let recv_id = syn.connection_id.wrapping_add(1);
        if let Some(&index) = self.routes.get(&(from, recv_id)) {
            self.deliver(now, index, syn);
            return;
        }
        let Some(listener) = self.listener.as_mut() else {
            // Nobody listens: refuse, as libutp does for unknown ids.
            if self.config.reset_unknown {
                self.stats.syns_refused += 1;
                self.queue_reset(now, from, syn.connection_id, syn.seq_nr);
            } else {
                self.stats.syns_ignored += 1;
            }
            return;
        };
        let decision = (listener.filter)(from);
        let full =
            self.live >= self.config.max_connections || listener.queue.len() >= listener.backlog;
        let decision = match decision {
            AcceptDecision::Accept if full => {
                if self.config.refuse_when_full {
                    AcceptDecision::Refuse
                } else {
                    AcceptDecision::Ignore
                }
            }
            d => d,
        };
        match decision {
            AcceptDecision::Accept => {}
            AcceptDecision::Refuse => {
                self.stats.syns_refused += 1;
                self.queue_reset(now, from, syn.connection_id, syn.seq_nr);
                return;
            }
            AcceptDecision::Ignore => {
                self.stats.syns_ignored += 1;
                return;
            }
        }
        let our_seq = SeqNr::new(self.rng.next_u16());
        let mut conn = Connection::accept(&self.config, now, from, syn, our_seq);
        if let Some(path) = self.paths.get(from.ip()) {
            conn.pmtu_resume(path, now);
        }
        let handle = self.insert(conn);
        self.stats.accepted += 1;
        if let Some(listener) = self.listener.as_mut() {
            listener.queue.push_back(handle);
        }
        self.events.push_back(Event::Incoming);
    }

    /// An ICMP "packet too big" (IPv6) or "fragmentation needed" (IPv4)
    /// for `remote`, when the adapter can read those: `mtu` is the IP MTU
    /// the message reports. Connections to `remote`, and later ones,
    /// send no UDP payload larger than `mtu` minus the IP and UDP headers
    /// (never less than the floor of path MTU discovery: 548 bytes for
    /// IPv4, 1232 for IPv6) until [`Config::pmtu_reprobe`] has passed.
    /// Packets already in flight keep their size when retransmitted (their
    /// sequence numbers cannot be split), so on a path that really shrank
    /// below them they are lost until the connection times out. Nothing
    /// happens with [`Config::pmtu_discovery`] off. The message is not
    /// authenticated: the floor bounds what a forged one can do.
    pub fn handle_packet_too_big(&mut self, remote: IpAddr, mtu: usize) {
        if !self.config.pmtu_discovery {
            return;
        }
        let now = self.now;
        let limit = mtu.saturating_sub(ip_udp_overhead(remote));
        self.paths.too_big(&self.config, remote, limit, now);
        for index in 0..self.slots.len() as u32 {
            let Some(conn) = self
                .slots
                .get_mut(index as usize)
                .and_then(|s| s.conn.as_mut())
            else {
                continue;
            };
            if conn.remote().ip() == remote {
                conn.on_packet_too_big(limit, now);
                // The memory already has the new bound.
                let _ = conn.pmtu_take_update();
                self.mark_ready(index);
            }
        }
    }

    /// Processes expired deadlines. Call when the time from
    /// [`poll_timeout`](Self::poll_timeout) has come (calling it earlier or
    /// more often is harmless).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        for index in 0..self.slots.len() as u32 {
            let handle = self.handle_of(index);
            let Some(conn) = self
                .slots
                .get_mut(index as usize)
                .and_then(|s| s.conn.as_mut())
            else {
                continue;
            };
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                let mut sink = EventSink {
                    queue: &mut self.events,
                    handle,
                };
                conn.on_timeout(now, &mut sink);
                if let Some(path) = conn.pmtu_take_update() {
                    self.paths.record(conn.remote().ip(), path, now);
                }
                self.mark_ready(index);
            }
            self.maybe_release(index);
        }
    }

    // ----- output -----

    /// Writes the next datagram to send into `buf` (which should hold at
    /// least the configured packet size; 1500 bytes is enough by default)
    /// and says where it goes. Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        self.tick(now);
        if let Some(reset) = self.resets.pop_front() {
            if let Some(len) = emit_reset(now, &reset, buf) {
                self.stats.resets_sent += 1;
                return Some(Transmit {
                    destination: reset.to,
                    len,
                    dont_fragment: false,
                });
            }
        }
        while let Some(index) = self.ready.pop_front() {
            let Some(slot) = self.slots.get_mut(index as usize) else {
                continue;
            };
            let Some(conn) = slot.conn.as_mut() else {
                slot.ready = false;
                continue;
            };
            match conn.poll_transmit(now, buf) {
                Some(len) => {
                    let destination = conn.remote();
                    let dont_fragment = conn.take_dont_fragment();
                    // Round robin: back of the queue, it may have more.
                    self.ready.push_back(index);
                    return Some(Transmit {
                        destination,
                        len,
                        dont_fragment,
                    });
                }
                None => {
                    slot.ready = false;
                    self.maybe_release(index);
                }
            }
        }
        None
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) at the latest;
    /// `None` when no timer is running.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.slots
            .iter()
            .filter_map(|s| s.conn.as_ref())
            .filter_map(Connection::poll_timeout)
            .min()
    }
}

fn emit_reset(now: Timestamp, reset: &PendingReset, buf: &mut [u8]) -> Option<usize> {
    let repr = PacketRepr {
        packet_type: PacketType::Reset,
        connection_id: reset.connection_id,
        timestamp: now.to_wire(),
        timestamp_difference: crate::time::TimestampDiff::NONE,
        window_size: 0,
        seq_nr: reset.seq_nr,
        ack_nr: reset.ack_nr,
        selective_ack: None,
        close_reason: None,
        payload: &[],
    };
    repr.emit(buf).ok()
}

/// A borrowed connection of an [`Endpoint`], from [`Endpoint::conn`].
///
/// After any call that may produce output (`write`, `read`, `shutdown`,
/// `close`, `abort`), drain the endpoint's `poll_transmit`.
pub struct Conn<'a> {
    ep: &'a mut Endpoint,
    handle: ConnHandle,
}

impl Conn<'_> {
    fn with<R>(
        &mut self,
        f: impl FnOnce(&mut Connection, &mut EventSink<'_>, Timestamp) -> R,
    ) -> Option<R> {
        let now = self.ep.now;
        let index = self.handle.index;
        let handle = self.handle;
        let slot = self.ep.slots.get_mut(index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        let conn = slot.conn.as_mut()?;
        let mut sink = EventSink {
            queue: &mut self.ep.events,
            handle,
        };
        let r = f(conn, &mut sink, now);
        self.ep.mark_ready(index);
        Some(r)
    }

    fn get(&self) -> Option<&Connection> {
        self.ep.slot_conn(self.handle)
    }

    /// This connection's handle.
    pub fn handle(&self) -> ConnHandle {
        self.handle
    }

    /// Copies as much of `data` as fits into the send buffer and returns
    /// how much. [`Error::WouldBlock`] when the buffer is full (a
    /// [`Writable`](Event::Writable) event follows when there is room).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.with(|c, _, _| c.write(data))
            .unwrap_or(Err(Error::Closed(crate::CloseReason::LocalClose)))
    }

    /// Copies received in-order bytes into `out`. `Ok(0)` (for a non-empty
    /// `out`) means the peer finished sending and everything was read;
    /// [`Error::WouldBlock`] means nothing has arrived yet (a
    /// [`Readable`](Event::Readable) event follows).
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        self.with(|c, _, _| c.read(out))
            .unwrap_or(Err(Error::Closed(crate::CloseReason::LocalClose)))
    }

    /// Half-close: no more writes; a FIN follows the data already written.
    /// Reading goes on until the peer's FIN.
    pub fn shutdown(&mut self) {
        self.with(|c, _, _| c.shutdown());
    }

    /// Full close: like [`shutdown`](Self::shutdown), and the application
    /// will read no more (incoming data is acknowledged and discarded).
    /// Unacknowledged data is still delivered ("linger"); the connection
    /// ends with [`CloseReason::LocalClose`](crate::CloseReason::LocalClose)
    /// once our FIN is acknowledged and the peer's has arrived or the linger
    /// time passed.
    pub fn close(&mut self) {
        self.with(|c, events, now| c.close(now, events));
    }

    /// Abort: send RESET and drop everything.
    pub fn abort(&mut self) {
        self.with(|c, events, now| c.abort(now, events));
    }

    /// Caps this connection's sending rate at `bytes_per_second` (payload,
    /// headers and retransmissions), or lifts the cap with `None`
    /// (see [`Config::max_send_rate`](crate::Config::max_send_rate)).
    /// Packets are spread evenly at that rate.
    pub fn set_max_send_rate(&mut self, bytes_per_second: Option<u64>) {
        self.with(|c, _, _| c.set_max_send_rate(bytes_per_second));
    }

    /// The connection's phase.
    pub fn state(&self) -> ConnState {
        self.get().map_or(
            ConnState::Closed(crate::CloseReason::LocalClose),
            Connection::state,
        )
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.get().map(Connection::remote)
    }

    /// This connection's next deadline (part of what
    /// [`Endpoint::poll_timeout`] reports), cheaper to ask than the whole
    /// endpoint's.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.get().and_then(Connection::poll_timeout)
    }

    /// Counters and estimates.
    pub fn stats(&self) -> ConnStats {
        self.get().map(Connection::stats).unwrap_or_default()
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        // A read or close may have been the last thing keeping a closed
        // connection alive.
        self.ep.maybe_release(self.handle.index);
    }
}
