//! [`Manager`]: utp-core's sans-IO connection manager
//! ([`utp_core::manager`]) driven on a [`UtpSocket`].
//!
//! A task owns the policy, through utp-driver's [`ManagerDriver`] (which
//! does everything that needs only the socket's driver): it dials what the
//! policy asks for, accepts and vets incoming connections, reports each
//! connection's progress (packets and bytes received, from its stats) and
//! its end, closes what the policy drops (a RESET carrying the reason's
//! close-reason code), and hands every established connection to the
//! application as a [`ManagerEvent`]. The task is the async glue: it waits
//! for commands, accepted connections, dial outcomes and the driver's
//! timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use utp_core::manager::{ManagerConfig, ManagerStats, PeerId};
use utp_core::{ConnHandle, Timestamp};
use utp_driver::{Driver, ManagedSocket, ManagerDriver, ManagerOutput};

use crate::transport::Carrier;
use crate::{Shared, UtpSocket, UtpStream};

/// What the [`Manager`] tells the application (utp-driver's
/// [`ManagerEvent`](utp_driver::ManagerEvent) with this crate's
/// [`UtpStream`]).
pub type ManagerEvent = utp_driver::ManagerEvent<UtpStream>;

enum Command {
    Candidate(SocketAddr),
    Permanent(SocketAddr),
    Stats(oneshot::Sender<ManagerStats>),
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
        let managed = Managed(socket.shared().clone());
        let core = ManagerDriver::new(managed, config, Instant::now());
        let task = tokio::spawn(run(core, socket, command_rx, event_tx));
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
        let (tx, rx) = oneshot::channel();
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

/// The socket as the manager's driver sees it.
struct Managed(Arc<Shared>);

impl ManagedSocket for Managed {
    type Socket = dyn Carrier<SocketAddr>;
    type Stream = UtpStream;

    fn with_driver<R>(&self, f: impl FnOnce(&mut Driver, &Self::Socket, Timestamp) -> R) -> R {
        let now = self.0.now();
        f(&mut self.0.lock(), &*self.0.socket, now)
    }

    fn conn(stream: &UtpStream) -> ConnHandle {
        stream.conn_handle()
    }
}

type Core = ManagerDriver<Managed>;

/// The task: the manager's driver fed from the commands, the socket's
/// accepts, the dials' outcomes and its timeout.
async fn run(
    mut core: Core,
    socket: UtpSocket,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<ManagerEvent>,
) {
    let mut dials: JoinSet<(PeerId, std::io::Result<UtpStream>)> = JoinSet::new();
    loop {
        if Instant::now() >= core.poll_timeout() {
            core.handle_timeout(Instant::now());
        }
        while let Some(output) = core.poll() {
            match output {
                ManagerOutput::Dial { id, addr } => {
                    let socket = socket.clone();
                    dials.spawn(async move { (id, socket.connect(addr).await) });
                }
                ManagerOutput::Event(event) => {
                    let _ = events.send(event);
                }
            }
        }
        let wake = tokio::time::Instant::from_std(core.poll_timeout());
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Candidate(addr)) => core.add_candidate(Instant::now(), addr),
                Some(Command::Permanent(addr)) => core.add_permanent(Instant::now(), addr),
                Some(Command::Stats(reply)) => {
                    let _ = reply.send(core.stats());
                }
                // The application dropped the manager.
                None => return,
            },
            accepted = socket.accept() => match accepted {
                Ok((stream, peer)) => core.inbound(Instant::now(), stream, peer),
                Err(_) => return,
            },
            Some(done) = dials.join_next() => {
                if let Ok((id, result)) = done {
                    core.dialed(Instant::now(), id, result);
                }
            }
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}
