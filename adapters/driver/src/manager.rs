//! The runtime-free half of every adapter's connection-manager runner:
//! utp-core's sans-IO policy ([`utp_core::manager::Manager`]) wired to a
//! socket's [`Driver`].
//!
//! A [`ManagerDriver`] owns the policy, the connections it handed out
//! (by [`PeerId`]) and the dials in flight. It carries out what needs only
//! the driver: a drop the policy asks for (the reason's close-reason code,
//! then a RESET), the vetting of an incoming connection, the progress of
//! each connection (packets and bytes received, from its stats) and its
//! end (with its [`CloseInfo`]), and the outcome of a dial. What needs the
//! runtime it hands back as [`ManagerOutput`]s: dial this address, or tell
//! the application this [`ManagerEvent`].
//!
//! A runner (an adapter's `Manager`) loops:
//!
//! 1. if [`ManagerDriver::poll_timeout`] has passed, call
//!    [`ManagerDriver::handle_timeout`];
//! 2. drain [`ManagerDriver::poll`]: start each [`ManagerOutput::Dial`]
//!    (its outcome goes to [`ManagerDriver::dialed`]), pass each
//!    [`ManagerOutput::Event`] to the application;
//! 3. wait for the application's commands
//!    ([`add_candidate`](ManagerDriver::add_candidate),
//!    [`add_permanent`](ManagerDriver::add_permanent),
//!    [`stats`](ManagerDriver::stats)), an accepted connection
//!    ([`inbound`](ManagerDriver::inbound)), a dial's outcome, or the
//!    instant [`poll_timeout`](ManagerDriver::poll_timeout) returns; then
//!    go to 1.
//!
//! The timeout covers the policy's own timers and a [`MANAGER_TICK`] at
//! which the connections' progress and ends are read. No clock is read
//! here: the time is an argument.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use utp_core::manager::{
    DialFailure, DisconnectReason, InboundDecision, Manager as Policy, ManagerConfig, ManagerStats,
    Output, PeerId,
};
use utp_core::{CloseInfo, CloseReason, ConnHandle, Timestamp};

use crate::{Clock, DatagramSocket, Driver};

/// How often a [`ManagerDriver`] reads its connections' progress and
/// notices the ones that ended.
pub const MANAGER_TICK: Duration = Duration::from_millis(250);

/// What an adapter's manager tells the application; `S` is the adapter's
/// stream.
#[derive(Debug)]
pub enum ManagerEvent<S> {
    /// A connection the policy keeps: dialed (`outbound`) or accepted.
    Connected {
        /// The policy's name for it.
        id: PeerId,
        /// The peer.
        peer: SocketAddr,
        /// Whether we dialed it.
        outbound: bool,
        /// The stream, the application's to use.
        stream: S,
    },
    /// A connection handed out before has ended (or was dropped by the
    /// policy: its stream's calls fail from then on).
    Disconnected {
        /// The policy's name for it.
        id: PeerId,
        /// How it ended, if the socket still knew (`None`: its stream was
        /// dropped and the connection forgotten).
        info: Option<CloseInfo>,
    },
    /// The policy wants up to `count` more candidate addresses (the
    /// manager's `add_candidate`).
    WantCandidates {
        /// How many outbound connections are missing.
        count: usize,
    },
}

/// What a [`ManagerDriver`] wants from its runner.
#[derive(Debug)]
pub enum ManagerOutput<S> {
    /// Connect to `addr` from the socket and report the outcome with
    /// [`ManagerDriver::dialed`] under `id`.
    Dial {
        /// The dial's name.
        id: PeerId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// Hand this to the application.
    Event(ManagerEvent<S>),
}

/// An adapter's socket as a [`ManagerDriver`] sees it: its driver, and the
/// connection behind each of its streams.
pub trait ManagedSocket {
    /// The adapter's socket type, as its driver's calls take it.
    type Socket: DatagramSocket + ?Sized;
    /// The adapter's stream.
    type Stream;

    /// Runs `f` on the socket's driver (locked), with the socket and the
    /// driver's time now. `f` never drops a stream.
    fn with_driver<R>(&self, f: impl FnOnce(&mut Driver, &Self::Socket, Timestamp) -> R) -> R;

    /// The connection behind `stream`.
    fn conn(stream: &Self::Stream) -> ConnHandle;
}

/// A dial in flight.
#[derive(Debug)]
struct Dial {
    addr: SocketAddr,
    /// The policy dropped it meanwhile: its stream, should it connect, is
    /// closed at once.
    cancelled: bool,
}

/// The policy on a socket, without the runtime; see the
/// [module docs](self).
pub struct ManagerDriver<M: ManagedSocket> {
    socket: M,
    clock: Clock,
    policy: Policy,
    /// The connections handed out.
    conns: HashMap<PeerId, ConnHandle>,
    dials: HashMap<PeerId, Dial>,
    next_tick: Instant,
    out: VecDeque<ManagerOutput<M::Stream>>,
}

impl<M: ManagedSocket> core::fmt::Debug for ManagerDriver<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ManagerDriver")
            .field("policy", &self.policy)
            .field("conns", &self.conns)
            .field("dials", &self.dials)
            .finish_non_exhaustive()
    }
}

impl<M: ManagedSocket> ManagerDriver<M> {
    /// The policy `config` on `socket`, started at `now` (with a nonzero
    /// target its first output asks for candidates).
    pub fn new(socket: M, config: ManagerConfig, now: Instant) -> Self {
        let mut manager = ManagerDriver {
            socket,
            clock: Clock::new(now),
            policy: Policy::new(config),
            conns: HashMap::new(),
            dials: HashMap::new(),
            next_tick: now + MANAGER_TICK,
            out: VecDeque::new(),
        };
        manager.policy.handle_timeout(Timestamp::ZERO);
        manager
    }

    /// The socket.
    pub fn socket(&self) -> &M {
        &self.socket
    }

    /// The policy's counters.
    pub fn stats(&self) -> ManagerStats {
        self.policy.stats()
    }

    /// Offers an address to dial when a connection is missing.
    pub fn add_candidate(&mut self, now: Instant, addr: SocketAddr) {
        let now = self.clock.timestamp(now);
        self.policy.add_candidate(now, addr);
    }

    /// A peer to stay connected to, redialed for ever with backoff.
    pub fn add_permanent(&mut self, now: Instant, addr: SocketAddr) {
        let now = self.clock.timestamp(now);
        self.policy.add_permanent(now, addr);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due: the policy's
    /// next timer or the next [`MANAGER_TICK`], whichever comes first.
    pub fn poll_timeout(&self) -> Instant {
        match self.policy.poll_timeout() {
            Some(t) => self.clock.instant(t).min(self.next_tick),
            None => self.next_tick,
        }
    }

    /// Time passed: at a tick, report the connections' progress and the
    /// ones that ended; run the policy's timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_tick {
            self.next_tick = now + MANAGER_TICK;
            self.watch(now);
        }
        self.policy.handle_timeout(self.clock.timestamp(now));
    }

    /// The next thing to do; call until `None` after every other call.
    /// A drop the policy asked for is carried out here (the reason's
    /// close-reason code, then a RESET) and reported as
    /// [`ManagerEvent::Disconnected`], [`CloseReason::Aborted`].
    pub fn poll(&mut self) -> Option<ManagerOutput<M::Stream>> {
        while let Some(output) = self.policy.poll() {
            match output {
                Output::Dial { id, addr } => {
                    let dial = Dial {
                        addr,
                        cancelled: false,
                    };
                    self.dials.insert(id, dial);
                    self.out.push_back(ManagerOutput::Dial { id, addr });
                }
                Output::Disconnect { id } => {
                    let reason = self
                        .policy
                        .disconnect_reason(id)
                        .unwrap_or(DisconnectReason::Requested);
                    self.disconnect(id, reason);
                }
                Output::WantCandidate { count } => {
                    let event = ManagerEvent::WantCandidates { count };
                    self.out.push_back(ManagerOutput::Event(event));
                }
            }
        }
        self.out.pop_front()
    }

    fn disconnect(&mut self, id: PeerId, reason: DisconnectReason) {
        let Some(h) = self.conns.remove(&id) else {
            if let Some(dial) = self.dials.get_mut(&id) {
                dial.cancelled = true;
            }
            return;
        };
        self.socket.with_driver(|d, socket, now| {
            let _ = d.set_close_reason(h, Some(reason.wire_code()));
            let _ = d.reset(socket, now, h);
        });
        let info = Some(CloseInfo {
            reason: CloseReason::Aborted,
            peer_code: None,
        });
        let event = ManagerEvent::Disconnected { id, info };
        self.out.push_back(ManagerOutput::Event(event));
    }

    /// Dial `id` ended: connected (the stream is handed out as
    /// [`ManagerEvent::Connected`], or closed if the policy dropped the dial
    /// meanwhile) or failed (the [`CloseReason`] inside the error, or
    /// `Refused`).
    pub fn dialed(&mut self, now: Instant, id: PeerId, result: io::Result<M::Stream>) {
        let Some(dial) = self.dials.remove(&id) else {
            return;
        };
        if dial.cancelled {
            // Dropping the stream closes it.
            return;
        }
        let now = self.clock.timestamp(now);
        match result {
            Ok(stream) => {
                self.policy.on_connected(now, id);
                self.hand_out(id, dial.addr, true, stream);
            }
            Err(e) => {
                let reason = e
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<CloseReason>())
                    .copied()
                    .unwrap_or(CloseReason::Refused);
                self.policy
                    .on_dial_failed(now, id, DialFailure::Closed(reason));
            }
        }
    }

    /// A connection came in from `peer`: handed out if the policy lets it
    /// in, otherwise reset with the refusal's close-reason code and
    /// closed.
    pub fn inbound(&mut self, now: Instant, stream: M::Stream, peer: SocketAddr) {
        let now = self.clock.timestamp(now);
        match self.policy.on_inbound(now, peer) {
            InboundDecision::Accept(id) => self.hand_out(id, peer, false, stream),
            InboundDecision::Refuse(refusal) => {
                let h = M::conn(&stream);
                let code = refusal.reason().wire_code();
                self.socket.with_driver(|d, socket, now| {
                    let _ = d.set_close_reason(h, Some(code));
                    let _ = d.reset(socket, now, h);
                });
                drop(stream);
            }
        }
    }

    fn hand_out(&mut self, id: PeerId, peer: SocketAddr, outbound: bool, stream: M::Stream) {
        self.conns.insert(id, M::conn(&stream));
        let event = ManagerEvent::Connected {
            id,
            peer,
            outbound,
            stream,
        };
        self.out.push_back(ManagerOutput::Event(event));
    }

    /// Reports progress and ends.
    fn watch(&mut self, now: Instant) {
        let now = self.clock.timestamp(now);
        let conns = &self.conns;
        let seen: Vec<(PeerId, u64, Option<Option<CloseInfo>>)> =
            self.socket.with_driver(|d, _, driver_now| {
                conns
                    .iter()
                    .map(|(&id, &h)| {
                        let stats = d.conn_stats(driver_now, h);
                        let ended = match d.endpoint().conn(h) {
                            None => Some(None),
                            Some(c) => c.close_info().map(Some),
                        };
                        (id, stats.packets_received + stats.bytes_received, ended)
                    })
                    .collect()
            });
        for (id, progress, ended) in seen {
            let Some(info) = ended else {
                self.policy.on_progress(now, id, progress);
                continue;
            };
            self.conns.remove(&id);
            match info {
                Some(info) => self.policy.on_disconnected_with(now, id, info),
                None => self
                    .policy
                    .on_disconnected(now, id, CloseReason::LocalClose),
            }
            let event = ManagerEvent::Disconnected { id, info };
            self.out.push_back(ManagerOutput::Event(event));
        }
    }
}
