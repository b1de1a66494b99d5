//! Many connections on one socket (UDP, or any carrier: [`Peer`]).
//!
//! The [`Endpoint`] routes each datagram by (peer, connection id) to its
//! connection, answers SYNs when listening (with a half-open connection,
//! or a SYN cookie under pressure, [`cookie`]), keeps the accept backlog,
//! hands non-uTP datagrams back, answers packets for unknown connections
//! with RESET, limits every reply to an unproven address ([`limit`]), and
//! multiplexes every connection's output and deadlines. Making connections
//! (plain, with agreed ids) is in `connect.rs`; listening, the backlog and
//! `accept` in `backlog.rs`; rendezvous in `rendezvous.rs` (and two
//! connections with one peer in `duplicate.rs`); the route table in
//! `routes.rs`; what arrives for no connection in `incoming.rs`; the
//! application's borrowed [`Conn`] in `handle.rs`; timers and output in
//! `output.rs`, the deadline heap in `timers.rs`; ICMP reports in
//! `icmp.rs`; the socket-wide send rate limit in `rate.rs`.

mod backlog;
mod connect;
mod cookie;
mod duplicate;
mod handle;
mod icmp;
mod incoming;
mod limit;
mod output;
mod rate;
mod rendezvous;
mod routes;
mod share;
mod timers;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use crate::peer::Peer;

use crate::config::{AcceptFilter, Config};
use crate::conn::{Connection, EventSink, PathMemory};
use crate::event::Event;
pub use crate::handle::ConnHandle;
use crate::rng::Rng;
use crate::seq::SeqNr;
use crate::stats::EndpointStats;
use crate::time::Timestamp;
use crate::wire::{classify, DatagramKind, PacketRepr, PacketType};

use cookie::CookieKey;
pub use handle::Conn;
use incoming::emit_reply;
use limit::ReplyLimiter;
use rate::TotalRate;
use routes::Routes;
use share::WindowShare;
use timers::Timers;

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
pub struct Transmit<P = SocketAddr> {
    /// Where to send it.
    pub destination: P,
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

/// Connection `h` in `slots`, if it is still there.
fn conn_of<P>(slots: &[Slot<P>], h: ConnHandle) -> Option<&Connection> {
    slots
        .get(h.index as usize)
        .filter(|s| s.generation == h.generation)
        .and_then(|s| s.conn.as_deref())
}

/// Forgets, once `map` holds 64 entries, those whose connection
/// (`handle` of the value) is gone or no longer passes `keep`: the
/// rendezvous maps hold no more than the rendezvous under way, and 64.
fn forget_done<P, K, V>(
    map: &mut HashMap<K, V>,
    slots: &[Slot<P>],
    handle: impl Fn(&V) -> ConnHandle,
    keep: impl Fn(&Connection) -> bool,
) {
    if map.len() >= 64 {
        map.retain(|_, v| conn_of(slots, handle(v)).is_some_and(&keep));
    }
}

/// Stateless replies (RESETs, cookie STATEs) waiting to be sent at most.
const MAX_PENDING_REPLIES: usize = 256;

/// How long "under pressure" lasts after the half-open count was last at
/// the threshold (WireGuard's hysteresis).
const PRESSURE_HOLD: core::time::Duration = core::time::Duration::from_secs(1);

/// Who holds a connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Owner {
    /// Nobody yet: a half-open connection not yet in the accept backlog.
    Endpoint,
    /// In the accept backlog.
    Queued,
    /// Handed to the application (`connect` or `accept`).
    App,
}

struct Slot<P> {
    generation: u32,
    /// Boxed: a slot of the `slots` vector stays small, so the vector's
    /// spare capacity costs little per connection.
    conn: Option<Box<Connection>>,
    /// The peer of `conn` (set while `conn` is).
    peer: Option<P>,
    /// In the `ready` queue (may have output).
    ready: bool,
    /// Counted in `Endpoint::half_open`.
    half_open: bool,
    owner: Owner,
    /// The connection's buffered bytes as counted in `Endpoint::buffered`.
    buffered: usize,
    /// In `Endpoint::budget_waiters`.
    budget_blocked: bool,
    /// Waiting for the socket-wide send rate (`rate.rs`).
    rate_blocked: bool,
    /// The time of this slot's live entry in the timer heap (`timers.rs`).
    armed: Option<Timestamp>,
    /// The last receive-window epoch this connection was counted in as
    /// receiving (`share.rs`).
    recv_counted: u32,
}

struct Listener<P> {
    backlog: usize,
    filter: AcceptFilter<P>,
    early_data: bool,
    queue: VecDeque<ConnHandle>,
}

/// A reply sent without a connection: a RESET for an unknown connection or
/// a SYN cookie.
#[derive(Clone, Debug)]
struct PendingReply<P> {
    to: P,
    packet_type: PacketType,
    connection_id: u16,
    seq_nr: SeqNr,
    ack_nr: SeqNr,
    timestamp_difference: crate::time::TimestampDiff,
    window_size: u32,
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
pub struct Endpoint<P: Peer = SocketAddr> {
    config: Config,
    rng: Rng,
    slots: Vec<Slot<P>>,
    free: Vec<u32>,
    routes: Routes<P>,
    live: usize,
    listener: Option<Listener<P>>,
    events: VecDeque<Event>,
    ready: VecDeque<u32>,
    /// Datagrams the connection at the front of `ready` sent in its turn
    /// (`output.rs`).
    turn: u32,
    replies: VecDeque<PendingReply<P>>,
    limiter: ReplyLimiter,
    cookie_key: CookieKey,
    /// Half-open connections now.
    half_open: usize,
    /// Under pressure until then (SYN cookies with `OnPressure`).
    pressure_until: Timestamp,
    /// Cookies were sent lately: a packet for an unknown connection may
    /// prove one, and gets no RESET.
    cookies_until: Timestamp,
    /// Bytes all connections buffer (send, receive, reorder), within
    /// `Config::memory_budget`.
    buffered: usize,
    /// Connections whose write found the budget full.
    budget_waiters: Vec<ConnHandle>,
    now: Timestamp,
    stats: EndpointStats,
    /// Path MTU learned per remote address.
    paths: PathMemory,
    /// The socket-wide send rate limit.
    total: TotalRate,
    /// Every connection's deadline (`timers.rs`).
    timers: Timers,
    /// Rendezvous connects waiting for their peer's SYN (`rendezvous.rs`).
    rendezvous: HashMap<P, ConnHandle>,
    /// Rendezvous that lost the contest, by the peer and the id of the SYN
    /// they had sent, with its sequence number: a BEP 29 peer's listener
    /// may answer that SYN (`rendezvous.rs`).
    rendezvous_lost: HashMap<(P, u16), (ConnHandle, SeqNr)>,
    /// SYNs the listener took after they lost the contest to a rendezvous
    /// of ours, by the peer and the SYN's id (`duplicate.rs`).
    rendezvous_rivals: HashMap<(P, u16), ConnHandle>,
    /// The port the peer sees us at, if told (`duplicate.rs`).
    local_port: Option<u16>,
    /// The receive window the connections share (`share.rs`).
    share: WindowShare,
}

impl<P: Peer> core::fmt::Debug for Endpoint<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.live)
            .field("listening", &self.listener.is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new endpoint for UDP peers. `seed` drives every random choice
    /// (connection ids, sequence numbers), so the same seed and inputs
    /// give the same outputs.
    ///
    /// It never fails nor panics, whatever `config` holds: an invalid value
    /// (see [`Config::validate`]) is taken as the nearest valid one, as
    /// each field's documentation says, and [`config`](Self::config)
    /// returns what is used. Call `validate` first to hear of a mistake.
    /// (An endpoint whose peers are of another type, [`Peer`], is made
    /// with [`with_peer_type`](Self::with_peer_type).)
    pub fn new(config: Config, seed: u64) -> Self {
        Endpoint::with_peer_type(config, seed)
    }
}

impl<P: Peer> Endpoint<P> {
    /// A new endpoint whose peers are `P`s
    /// (`Endpoint::<NodeId>::with_peer_type(config, seed)`); otherwise as
    /// [`Endpoint::new`].
    pub fn with_peer_type(config: Config, seed: u64) -> Self {
        let config = config.normalized();
        let mut rng = Rng::new(seed);
        // Keys first, then ids and sequence numbers: none of what we send
        // says anything about them (the generator is ChaCha20).
        let cookie_key = CookieKey::new(rng.next_u64(), rng.next_u64());
        let limiter = ReplyLimiter::new(
            config.replies_per_second,
            config.replies_per_source,
            rng.next_u64(),
            rng.next_u64(),
        );
        Endpoint {
            total: TotalRate::new(&config),
            config,
            rng,
            slots: Vec::new(),
            free: Vec::new(),
            routes: Routes::default(),
            live: 0,
            listener: None,
            events: VecDeque::new(),
            ready: VecDeque::new(),
            turn: 0,
            replies: VecDeque::new(),
            limiter,
            cookie_key,
            half_open: 0,
            pressure_until: Timestamp::ZERO,
            cookies_until: Timestamp::ZERO,
            buffered: 0,
            budget_waiters: Vec::new(),
            now: Timestamp::ZERO,
            stats: EndpointStats::default(),
            paths: PathMemory::default(),
            timers: Timers::default(),
            rendezvous: HashMap::new(),
            rendezvous_lost: HashMap::new(),
            rendezvous_rivals: HashMap::new(),
            local_port: None,
            share: WindowShare::default(),
        }
    }

    /// The configuration in use: the one given to [`new`](Self::new), with
    /// invalid values replaced by the nearest valid ones.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters for traffic that belongs to no connection, and the
    /// half-open count.
    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            half_open: self.half_open as u64,
            ..self.stats
        }
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

    /// Winds the whole endpoint down: stops listening and closes every
    /// connection gracefully, as [`Conn::close`] on each (data written is
    /// still delivered, nothing more is read), those in the accept backlog
    /// included. [`connection_count`](Self::connection_count) reaches 0 once
    /// they have all finished (or timed out).
    pub fn close_all(&mut self, now: Timestamp) {
        self.set_now(now);
        self.unlisten();
        for index in 0..self.slots.len() {
            let handle = self.handle_of(index as u32);
            if let Some(mut c) = self.conn(handle) {
                c.close();
            }
        }
    }

    fn insert(&mut self, peer: P, mut conn: Connection, owner: Owner) -> ConnHandle {
        if let Some(path) = conn.remote_ip().and_then(|ip| self.paths.get(ip)) {
            conn.pmtu_resume(path, self.now);
        }
        let key = (peer.clone(), conn.recv_id());
        let half_open = conn.is_half_open();
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                    peer: None,
                    ready: false,
                    half_open: false,
                    owner,
                    buffered: 0,
                    budget_blocked: false,
                    rate_blocked: false,
                    armed: None,
                    recv_counted: 0,
                });
                (self.slots.len() - 1) as u32
            }
        };
        if half_open {
            self.half_open += 1;
        }
        let handle = match self.slots.get_mut(index as usize) {
            Some(slot) => {
                slot.conn = Some(Box::new(conn));
                slot.peer = Some(peer);
                slot.armed = None;
                slot.recv_counted = 0;
                slot.half_open = half_open;
                slot.owner = owner;
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

    /// Queues connection `index` for `poll_transmit`: called after
    /// anything that may have given it output or changed its timers. Its
    /// deadline is armed when `poll_transmit` finds it has nothing more to
    /// send (`timers.rs`), and here only if it has none armed.
    fn mark_ready(&mut self, index: u32) {
        let mut unarmed = false;
        if let Some(slot) = self.slots.get_mut(index as usize) {
            if !slot.ready && slot.conn.is_some() {
                slot.ready = true;
                self.ready.push_back(index);
            }
            unarmed = slot.armed.is_none();
        }
        if unarmed {
            self.arm(index);
        }
    }

    fn slot_conn(&self, h: ConnHandle) -> Option<&Connection> {
        conn_of(&self.slots, h)
    }

    fn handle_of(&self, index: u32) -> ConnHandle {
        let generation = self.slots.get(index as usize).map_or(0, |s| s.generation);
        ConnHandle { index, generation }
    }

    /// Forgets connection `index` if it is finished.
    fn maybe_release(&mut self, index: u32) {
        let now = self.now;
        let finished = self
            .slots
            .get(index as usize)
            .and_then(|s| s.conn.as_deref())
            .is_some_and(|c| c.is_finished(now));
        if finished {
            self.vacate(index);
        }
    }

    /// Empties slot `index` (its handle goes stale) and hands back the
    /// connection that was there.
    fn vacate(&mut self, index: u32) -> Option<Box<Connection>> {
        let slot = self.slots.get_mut(index as usize)?;
        let conn = slot.conn.take()?;
        if let Some(peer) = slot.peer.take() {
            let key = (peer, conn.recv_id());
            self.routes.remove_if(&key, index);
        }
        self.buffered -= core::mem::take(&mut slot.buffered);
        slot.budget_blocked = false;
        slot.generation = slot.generation.wrapping_add(1);
        slot.armed = None;
        self.free.push(index);
        self.live -= 1;
        self.prune();
        Some(conn)
    }

    /// Updates the memory count after connection `index` may have changed
    /// what it buffers; when memory was freed, the writers that found the
    /// budget full hear [`Writable`](Event::Writable).
    fn account(&mut self, index: u32) {
        let handle = self.handle_of(index);
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let Some(conn) = slot.conn.as_deref_mut() else {
            return;
        };
        // Under pressure (an eighth of the budget left), spare reassembly
        // buffers go back as each connection is touched.
        if self.buffered + self.config.memory_budget / 8 > self.config.memory_budget {
            conn.release_spare_buffers();
        }
        let now_buffered = conn.buffered_bytes();
        let freed = now_buffered < slot.buffered;
        self.buffered = self.buffered - slot.buffered + now_buffered;
        slot.buffered = now_buffered;
        if conn.blocked_by_budget() && !slot.budget_blocked {
            slot.budget_blocked = true;
            self.budget_waiters.push(handle);
        }
        // Wake the waiters once a worthwhile share is free again.
        let room = self.config.memory_budget.saturating_sub(self.buffered);
        if freed && !self.budget_waiters.is_empty() && room >= self.config.memory_budget / 8 {
            for h in core::mem::take(&mut self.budget_waiters) {
                let Some(slot) = self
                    .slots
                    .get_mut(h.index as usize)
                    .filter(|s| s.generation == h.generation)
                else {
                    continue;
                };
                slot.budget_blocked = false;
                if let Some(conn) = slot.conn.as_deref_mut() {
                    let mut sink = EventSink {
                        queue: &mut self.events,
                        handle: h,
                    };
                    conn.budget_freed(&mut sink);
                }
            }
        }
    }

    /// Bytes all connections buffer now (what
    /// [`Config::memory_budget`] bounds).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Heap bytes the connections' buffers hold now (their capacity; at
    /// most about twice [`buffered_bytes`](Self::buffered_bytes) while
    /// busy, and only what is buffered once they are idle). A walk over
    /// every connection: for tests and diagnostics.
    pub fn buffer_heap_bytes(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|s| s.conn.as_deref())
            .map(Connection::heap_bytes)
            .sum()
    }

    /// A borrowed handle to connection `h`; `None` once it is gone.
    pub fn conn(&mut self, h: ConnHandle) -> Option<Conn<'_, P>> {
        self.slot_conn(h)?;
        Some(Conn {
            ep: self,
            handle: h,
        })
    }

    // ----- input -----

    /// Feeds one received datagram. Returns [`Handled::NotUtp`] for a
    /// datagram of another protocol, which the endpoint leaves untouched.
    pub fn handle_datagram(&mut self, now: Timestamp, from: P, datagram: &[u8]) -> Handled {
        self.tick(now);
        if classify(datagram) == DatagramKind::Foreign {
            self.stats.foreign += 1;
            return Handled::NotUtp;
        }
        let Ok(packet) = PacketRepr::parse(datagram) else {
            self.stats.malformed += 1;
            return Handled::Utp;
        };
        let key = (from, packet.connection_id);
        if let Some(index) = self.routes.lookup(&key) {
            // A SYN carrying the id of our own rendezvous SYN: the peer
            // drew the same id (`rendezvous.rs`).
            if packet.packet_type == PacketType::Syn && self.on_rendezvous_syn(now, &key.0, &packet)
            {
                return Handled::Utp;
            }
            self.deliver(now, index, &packet);
            return Handled::Utp;
        }
        let (from, _) = key;
        match packet.packet_type {
            PacketType::Syn => self.on_syn(now, from, &packet),
            PacketType::Reset => self.on_unknown_reset(now, from, &packet),
            _ => {
                self.on_lost_syn_answer(&from, &packet);
                self.on_unknown(now, from, &packet);
            }
        }
        Handled::Utp
    }

    fn deliver(&mut self, now: Timestamp, index: u32, packet: &PacketRepr<'_>) {
        let handle = self.handle_of(index);
        if let Some(slot) = self.slots.get_mut(index as usize) {
            if !packet.payload.is_empty() && slot.conn.is_some() {
                self.share.on_data(now, &mut slot.recv_counted);
            }
        }
        let cap = self.window_cap();
        if let Some(conn) = self
            .slots
            .get_mut(index as usize)
            .and_then(|s| s.conn.as_deref_mut())
        {
            let mut sink = EventSink {
                queue: &mut self.events,
                handle,
            };
            conn.set_budget_room(self.config.memory_budget.saturating_sub(self.buffered));
            conn.set_window_cap(cap);
            conn.on_packet(now, packet, &mut sink);
            if let (Some(path), Some(ip)) = (conn.pmtu_take_update(), conn.remote_ip()) {
                self.paths.record(ip, path, now);
            }
        }
        self.settle(index);
        self.mark_ready(index);
        self.maybe_release(index);
    }
}
