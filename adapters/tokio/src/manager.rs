//! [`Manager`]: utp-core's sans-IO connection manager
//! ([`utp_core::manager`]) driven on a [`UtpSocket`].
//!
//! A task owns the policy: it dials what the policy asks for, accepts and
//! vets incoming connections, reports each connection's progress (packets
//! and bytes received, from its stats) and its end, closes what the policy
//! drops (a RESET carrying the reason's close-reason code), and hands every
//! established connection to the application as a [`ManagerEvent`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use utp_core::manager::{
    DialFailure, DisconnectReason, InboundDecision, Manager as Policy, ManagerConfig, ManagerStats,
    Output, PeerId,
};
use utp_core::{CloseInfo, CloseReason, ConnHandle, Timestamp};
use utp_driver::Clock;

use crate::{Shared, UtpSocket, UtpStream};

/// How often the task reads the connections' progress and notices the
/// ones that ended.
const TICK: Duration = Duration::from_millis(250);

/// What the [`Manager`] tells the application.
#[derive(Debug)]
pub enum ManagerEvent {
    /// A connection the policy keeps: dialed (`outbound`) or accepted.
    Connected {
        /// The policy's name for it.
        id: PeerId,
        /// The peer.
        peer: SocketAddr,
        /// Whether we dialed it.
        outbound: bool,
        /// The stream, the application's to use.
        stream: UtpStream,
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
    /// The policy wants up to `count` more candidate addresses
    /// ([`Manager::add_candidate`]).
    WantCandidates {
        /// How many outbound connections are missing.
        count: usize,
    },
}

enum Command {
    Candidate(SocketAddr),
    Permanent(SocketAddr),
    Stats(tokio::sync::oneshot::Sender<ManagerStats>),
}

/// A connection manager on a socket: keeps `target_outbound` connections,
/// retries permanent peers, limits inbound connections
/// ([`ManagerConfig`]). Dropping it stops the task; the streams it handed
/// out live on.
#[derive(Debug)]
pub struct Manager {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<ManagerEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Manager {
    /// Starts managing `socket`'s connections with `config`. The socket
    /// should listen (the default) for the inbound side to work.
    pub fn spawn(socket: UtpSocket, config: ManagerConfig) -> Manager {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let runner = Runner {
            clock: Clock::new(Instant::now()),
            policy: Policy::new(config),
            socket,
            events: event_tx,
            conns: HashMap::new(),
            dials: JoinSet::new(),
            cancelled: std::collections::HashSet::new(),
        };
        let task = tokio::spawn(runner.run(command_rx));
        Manager {
            commands,
            events,
            task,
        }
    }

    /// Offers an address to dial when a connection is missing.
    pub fn add_candidate(&self, addr: SocketAddr) {
        let _ = self.commands.send(Command::Candidate(addr));
    }

    /// A peer to stay connected to, redialed for ever with backoff.
    pub fn add_permanent(&self, addr: SocketAddr) {
        let _ = self.commands.send(Command::Permanent(addr));
    }

    /// The policy's counters.
    pub async fn stats(&self) -> Option<ManagerStats> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands.send(Command::Stats(tx)).ok()?;
        rx.await.ok()
    }

    /// The next event; `None` once the task has stopped (its socket
    /// failed). Cancel safe.
    pub async fn next(&mut self) -> Option<ManagerEvent> {
        self.events.recv().await
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A handed-out connection, watched through the socket.
struct Watched {
    shared: Arc<Shared>,
    h: ConnHandle,
}

struct Runner {
    clock: Clock,
    policy: Policy,
    socket: UtpSocket,
    events: mpsc::UnboundedSender<ManagerEvent>,
    conns: HashMap<PeerId, Watched>,
    dials: JoinSet<(PeerId, std::io::Result<UtpStream>)>,
    /// Dials the policy dropped while they were in flight: their streams,
    /// should they connect, are closed at once.
    cancelled: std::collections::HashSet<PeerId>,
}

impl Runner {
    fn now(&self) -> Timestamp {
        self.clock.timestamp(Instant::now())
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut tick = tokio::time::interval(TICK);
        let accepter = self.socket.clone();
        // The first turn: the policy asks for candidates.
        let now = self.now();
        self.policy.handle_timeout(now);
        loop {
            self.drain();
            let wake = self
                .policy
                .poll_timeout()
                .map(|t| tokio::time::Instant::from_std(self.clock.instant(t)));
            let timer = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    // The application dropped the manager.
                    None => return,
                },
                accepted = accepter.accept() => match accepted {
                    Ok((stream, peer)) => self.inbound(stream, peer),
                    Err(_) => return,
                },
                Some(done) = self.dials.join_next() => {
                    if let Ok((id, result)) = done {
                        self.dialed(id, result);
                    }
                }
                _ = tick.tick() => self.watch(),
                () = timer => {
                    let now = self.now();
                    self.policy.handle_timeout(now);
                }
            }
        }
    }

    fn command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Candidate(addr) => {
                self.policy.add_candidate(now, addr);
            }
            Command::Permanent(addr) => {
                self.policy.add_permanent(now, addr);
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.policy.stats());
            }
        }
    }

    /// Carries out what the policy asks for.
    fn drain(&mut self) {
        while let Some(output) = self.policy.poll() {
            match output {
                Output::Dial { id, addr } => {
                    let socket = self.socket.clone();
                    self.dials
                        .spawn(async move { (id, socket.connect(addr).await) });
                }
                Output::Disconnect { id } => {
                    let reason = self
                        .policy
                        .disconnect_reason(id)
                        .unwrap_or(DisconnectReason::Requested);
                    let Some(w) = self.conns.remove(&id) else {
                        // Still dialing.
                        self.cancelled.insert(id);
                        continue;
                    };
                    {
                        let mut d = w.shared.lock();
                        let _ = d.set_close_reason(w.h, Some(reason.wire_code()));
                        let _ = d.reset(&*w.shared.socket, w.shared.now(), w.h);
                        drop(d);
                        let info = Some(CloseInfo {
                            reason: CloseReason::Aborted,
                            peer_code: None,
                        });
                        let _ = self.events.send(ManagerEvent::Disconnected { id, info });
                    }
                }
                Output::WantCandidate { count } => {
                    let _ = self.events.send(ManagerEvent::WantCandidates { count });
                }
            }
        }
    }

    fn dialed(&mut self, id: PeerId, result: std::io::Result<UtpStream>) {
        if self.cancelled.remove(&id) {
            // Dropping the stream closes it.
            return;
        }
        let now = self.now();
        match result {
            Ok(stream) => {
                self.policy.on_connected(now, id);
                let peer = stream.conn_peer();
                self.hand_out(id, peer, true, stream);
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

    fn inbound(&mut self, stream: UtpStream, peer: SocketAddr) {
        let now = self.now();
        match self.policy.on_inbound(now, peer) {
            InboundDecision::Accept(id) => self.hand_out(id, peer, false, stream),
            InboundDecision::Refuse(refusal) => {
                let _ = stream.set_close_reason(Some(refusal.reason().wire_code()));
                stream.abort();
            }
        }
    }

    fn hand_out(&mut self, id: PeerId, peer: SocketAddr, outbound: bool, stream: UtpStream) {
        let (shared, h) = stream.watch();
        self.conns.insert(id, Watched { shared, h });
        let event = ManagerEvent::Connected {
            id,
            peer,
            outbound,
            stream,
        };
        let _ = self.events.send(event);
    }

    /// Reports progress and ends.
    fn watch(&mut self) {
        let now = self.now();
        let mut ended = Vec::new();
        for (&id, w) in &self.conns {
            let mut d = w.shared.lock();
            let stats = d.conn_stats(w.shared.now(), w.h);
            let info = match d.endpoint().conn(w.h) {
                None => Some(None),
                Some(c) => c.close_info().map(Some),
            };
            drop(d);
            match info {
                Some(info) => ended.push((id, info)),
                None => {
                    self.policy
                        .on_progress(now, id, stats.packets_received + stats.bytes_received)
                }
            }
        }
        for (id, info) in ended {
            self.conns.remove(&id);
            match info {
                Some(info) => self.policy.on_disconnected_with(now, id, info),
                None => self
                    .policy
                    .on_disconnected(now, id, CloseReason::LocalClose),
            }
            let _ = self.events.send(ManagerEvent::Disconnected { id, info });
        }
    }
}
