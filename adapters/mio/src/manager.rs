//! [`Manager`]: utp-core's sans-IO connection manager
//! ([`utp_core::manager`]) run on a blocking [`UtpListener`].
//!
//! The policy runs on a thread of its own, `utp-manager`, through
//! utp-driver's [`ManagerDriver`] (which does everything that needs only
//! the socket's driver: closing what the policy drops with the reason's
//! close-reason code, vetting incoming connections, reading each
//! connection's progress and end). The thread waits on one channel, with
//! the driver's timeout (the policy's next timer or the 250 ms tick at
//! which progress is read): the application's commands, the connections a
//! `utp-manager-accept` thread accepts, and the outcome of each dial, made
//! by a short-lived `utp-manager-dial` thread with a blocking connect.
//! Every established connection reaches the application as a
//! [`ManagerEvent`] through [`Manager::next`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use utp_core::manager::{ManagerConfig, ManagerStats, PeerId};
use utp_core::{ConnHandle, Timestamp};
use utp_driver::{Driver, ManagedSocket, ManagerDriver, ManagerOutput};

use crate::{Sock, UtpListener, UtpStream};

/// How long the accept thread waits for a connection before it looks
/// whether to stop.
const ACCEPT_POLL: Duration = Duration::from_millis(250);

/// What the [`Manager`] tells the application (utp-driver's
/// [`ManagerEvent`](utp_driver::ManagerEvent) with this crate's
/// [`UtpStream`]).
pub type ManagerEvent = utp_driver::ManagerEvent<UtpStream>;

/// What reaches the manager thread.
enum Msg {
    Candidate(SocketAddr),
    Permanent(SocketAddr),
    Stats(mpsc::Sender<ManagerStats>),
    Accepted(UtpStream, SocketAddr),
    Dialed(PeerId, io::Result<UtpStream>),
    /// The manager was dropped, or the listener failed.
    Stop,
}

/// A connection manager on a listener: keeps `target_outbound`
/// connections, retries permanent peers, limits inbound connections
/// ([`ManagerConfig`]).
///
/// Dropping it stops its threads (the accept thread within 250 ms; a dial
/// in flight finishes its connect and closes what it got); the streams it
/// handed out live on. The listener stops listening once the last of them
/// is gone.
#[derive(Debug)]
pub struct Manager {
    commands: mpsc::Sender<Msg>,
    events: mpsc::Receiver<ManagerEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Manager {
    /// Starts managing `listener`'s connections with `config` on new
    /// threads (an error if they cannot be started). The listener should
    /// listen (the default) for the inbound side to work.
    pub fn spawn(listener: UtpListener, config: ManagerConfig) -> io::Result<Manager> {
        let listener = Arc::new(listener);
        let (commands, inbox) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (accepting, tx, halt) = (Arc::clone(&listener), commands.clone(), Arc::clone(&stop));
        thread::Builder::new()
            .name("utp-manager-accept".into())
            .spawn(move || accept(&accepting, &tx, &halt))?;
        let core = ManagerDriver::new(Managed(listener), config, Instant::now());
        let (tx, halt) = (commands.clone(), Arc::clone(&stop));
        let thread = thread::Builder::new()
            .name("utp-manager".into())
            .spawn(move || run(core, &inbox, &tx, &event_tx, &halt));
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                stop.store(true, Ordering::Release);
                return Err(e);
            }
        };
        Ok(Manager {
            commands,
            events,
            stop,
            thread: Some(thread),
        })
    }

    /// Offers an address to dial when a connection is missing.
    pub fn add_candidate(&self, addr: SocketAddr) {
        let _ = self.commands.send(Msg::Candidate(addr));
    }

    /// A peer to stay connected to, redialed for ever with backoff.
    pub fn add_permanent(&self, addr: SocketAddr) {
        let _ = self.commands.send(Msg::Permanent(addr));
    }

    /// The policy's counters; `None` once the manager thread has stopped.
    pub fn stats(&self) -> Option<ManagerStats> {
        let (tx, rx) = mpsc::channel();
        self.commands.send(Msg::Stats(tx)).ok()?;
        rx.recv().ok()
    }

    /// Blocks until the next event, at most `timeout` (`None`: no limit).
    /// `None` when the timeout passed, or at once when the manager thread
    /// has stopped (the listener failed) and every event was taken.
    pub fn next(&self, timeout: Option<Duration>) -> Option<ManagerEvent> {
        match timeout {
            None => self.events.recv().ok(),
            Some(t) => self.events.recv_timeout(t).ok(),
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.commands.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The listener as the manager's driver sees it.
struct Managed(Arc<UtpListener>);

impl ManagedSocket for Managed {
    type Socket = Sock;
    type Stream = UtpStream;

    fn with_driver<R>(&self, f: impl FnOnce(&mut Driver, &Sock, Timestamp) -> R) -> R {
        self.0.call(f)
    }

    fn conn(stream: &UtpStream) -> ConnHandle {
        stream.conn_handle()
    }
}

/// The accept thread: every connection to the manager thread, until
/// `stop` (or the listener fails: then the manager stops too).
fn accept(listener: &UtpListener, tx: &mpsc::Sender<Msg>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept_timeout(ACCEPT_POLL) {
            Ok((stream, peer)) => {
                if tx.send(Msg::Accepted(stream, peer)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => {
                let _ = tx.send(Msg::Stop);
                return;
            }
        }
    }
}

/// The manager thread: the manager's driver fed from one channel, with
/// its timeout.
fn run(
    mut core: ManagerDriver<Managed>,
    inbox: &mpsc::Receiver<Msg>,
    tx: &mpsc::Sender<Msg>,
    events: &mpsc::Sender<ManagerEvent>,
    stop: &AtomicBool,
) {
    loop {
        if Instant::now() >= core.poll_timeout() {
            core.handle_timeout(Instant::now());
        }
        while let Some(output) = core.poll() {
            match output {
                ManagerOutput::Dial { id, addr } => {
                    let (listener, tx) = (Arc::clone(&core.socket().0), tx.clone());
                    let dial = thread::Builder::new()
                        .name("utp-manager-dial".into())
                        .spawn(move || {
                            let _ = tx.send(Msg::Dialed(id, listener.connect(addr)));
                        });
                    if let Err(e) = dial {
                        core.dialed(Instant::now(), id, Err(e));
                    }
                }
                ManagerOutput::Event(event) => {
                    let _ = events.send(event);
                }
            }
        }
        let wait = core
            .poll_timeout()
            .saturating_duration_since(Instant::now());
        match inbox.recv_timeout(wait) {
            Ok(Msg::Candidate(addr)) => core.add_candidate(Instant::now(), addr),
            Ok(Msg::Permanent(addr)) => core.add_permanent(Instant::now(), addr),
            Ok(Msg::Stats(reply)) => {
                let _ = reply.send(core.stats());
            }
            Ok(Msg::Accepted(stream, peer)) => core.inbound(Instant::now(), stream, peer),
            Ok(Msg::Dialed(id, result)) => core.dialed(Instant::now(), id, result),
            Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    stop.store(true, Ordering::Release);
}
