//! [`Manager`]: utp-core's sans-IO connection manager
//! ([`utp_core::manager`]) driven on a [`UtpSocket`].
//!
//! The policy runs on a thread of its own, `utp-manager`, through
//! utp-driver's [`ManagerDriver`] (which does everything that needs only
//! the socket's driver: closing what the policy drops with the reason's
//! close-reason code, vetting incoming connections, reading each
//! connection's progress and end). The thread is the async glue, polled by
//! [`async_io::block_on`] as the socket's own loop is: it waits for the
//! application's commands, accepted connections, the dials in flight and
//! the driver's timeout, and hands every established connection to the
//! application as a [`ManagerEvent`]. No executor is needed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::Timer;
use futures_lite::future::{self, poll_fn};
use utp_core::manager::{ManagerConfig, ManagerStats, PeerId};
use utp_core::{ConnHandle, Timestamp};
use utp_driver::{Driver, ManagedSocket, ManagerDriver, ManagerOutput};

use crate::{Shared, Udp, UtpSocket, UtpStream};

/// What the [`Manager`] tells the application (utp-driver's
/// [`ManagerEvent`](utp_driver::ManagerEvent) with this crate's
/// [`UtpStream`]).
pub type ManagerEvent = utp_driver::ManagerEvent<UtpStream>;

enum Command {
    Candidate(SocketAddr),
    Permanent(SocketAddr),
    Stats(async_channel::Sender<ManagerStats>),
}

/// A connection manager on a socket: keeps `target_outbound` connections,
/// retries permanent peers, limits inbound connections
/// ([`ManagerConfig`]). Dropping it stops its thread (dials in flight are
/// abandoned); the streams it handed out live on.
#[derive(Debug)]
pub struct Manager {
    commands: async_channel::Sender<Command>,
    events: async_channel::Receiver<ManagerEvent>,
}

impl Manager {
    /// Starts managing `socket`'s connections with `config` on a new
    /// `utp-manager` thread (an error if it cannot be started). The socket
    /// should listen (the default) for the inbound side to work.
    pub fn spawn(socket: UtpSocket, config: ManagerConfig) -> io::Result<Manager> {
        let (commands, command_rx) = async_channel::unbounded();
        let (event_tx, events) = async_channel::unbounded();
        let managed = Managed(Arc::clone(socket.shared()));
        let core = ManagerDriver::new(managed, config, Instant::now());
        std::thread::Builder::new()
            .name("utp-manager".into())
            .spawn(move || async_io::block_on(run(core, socket, command_rx, event_tx)))?;
        Ok(Manager { commands, events })
    }

    /// Offers an address to dial when a connection is missing.
    pub fn add_candidate(&self, addr: SocketAddr) {
        let _ = self.commands.try_send(Command::Candidate(addr));
    }

    /// A peer to stay connected to, redialed for ever with backoff.
    pub fn add_permanent(&self, addr: SocketAddr) {
        let _ = self.commands.try_send(Command::Permanent(addr));
    }

    /// The policy's counters; `None` once the thread has stopped.
    pub async fn stats(&self) -> Option<ManagerStats> {
        let (tx, rx) = async_channel::bounded(1);
        self.commands.try_send(Command::Stats(tx)).ok()?;
        rx.recv().await.ok()
    }

    /// The next event; `None` once the thread has stopped (its socket
    /// failed). Cancel safe.
    pub async fn next(&mut self) -> Option<ManagerEvent> {
        self.events.recv().await.ok()
    }
}

/// The socket as the manager's driver sees it.
struct Managed(Arc<Shared>);

impl ManagedSocket for Managed {
    type Socket = Udp;
    type Stream = UtpStream;

    fn with_driver<R>(&self, f: impl FnOnce(&mut Driver, &Udp, Timestamp) -> R) -> R {
        let now = self.0.now();
        f(&mut self.0.lock().driver, &self.0.socket, now)
    }

    fn conn(stream: &UtpStream) -> ConnHandle {
        stream.inner.conn_handle()
    }
}

type Dialing = Pin<Box<dyn Future<Output = (PeerId, io::Result<UtpStream>)> + Send>>;

/// The dials in flight; the next to finish.
#[derive(Default)]
struct Dials(Vec<Dialing>);

impl Dials {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(PeerId, io::Result<UtpStream>)> {
        for i in 0..self.0.len() {
            let Some(dial) = self.0.get_mut(i) else {
                break;
            };
            if let Poll::Ready(done) = dial.as_mut().poll(cx) {
                drop(self.0.swap_remove(i));
                return Poll::Ready(done);
            }
        }
        Poll::Pending
    }
}

/// What woke the thread.
enum Step {
    Command(Option<Command>),
    Accepted(io::Result<(UtpStream, SocketAddr)>),
    Dialed(PeerId, io::Result<UtpStream>),
    Timeout,
}

/// The thread: the manager's driver fed from the commands, the socket's
/// accepts, the dials' outcomes and its timeout.
async fn run(
    mut core: ManagerDriver<Managed>,
    socket: UtpSocket,
    commands: async_channel::Receiver<Command>,
    events: async_channel::Sender<ManagerEvent>,
) {
    let mut dials = Dials::default();
    loop {
        if Instant::now() >= core.poll_timeout() {
            core.handle_timeout(Instant::now());
        }
        while let Some(output) = core.poll() {
            match output {
                ManagerOutput::Dial { id, addr } => {
                    let socket = socket.clone();
                    dials
                        .0
                        .push(Box::pin(async move { (id, socket.connect(addr).await) }));
                }
                ManagerOutput::Event(event) => {
                    let _ = events.try_send(event);
                }
            }
        }
        let wake = core.poll_timeout();
        let step = future::or(
            async { Step::Command(commands.recv().await.ok()) },
            future::or(
                async { Step::Accepted(socket.accept().await) },
                future::or(
                    poll_fn(|cx| dials.poll_next(cx).map(|(id, r)| Step::Dialed(id, r))),
                    async {
                        Timer::at(wake).await;
                        Step::Timeout
                    },
                ),
            ),
        )
        .await;
        match step {
            Step::Command(Some(Command::Candidate(addr))) => {
                core.add_candidate(Instant::now(), addr)
            }
            Step::Command(Some(Command::Permanent(addr))) => {
                core.add_permanent(Instant::now(), addr)
            }
            Step::Command(Some(Command::Stats(reply))) => {
                let _ = reply.try_send(core.stats());
            }
            // The application dropped the manager.
            Step::Command(None) => return,
            Step::Accepted(Ok((stream, peer))) => core.inbound(Instant::now(), stream, peer),
            Step::Accepted(Err(_)) => return,
            Step::Dialed(id, result) => core.dialed(Instant::now(), id, result),
            Step::Timeout => {}
        }
    }
}
