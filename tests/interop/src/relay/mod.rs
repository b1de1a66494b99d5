//! A UDP relay that sits between a uTP client and a server, with seeded
//! faults (loss, reordering, duplication) and a record of what passed.
//!
//! The client sends to [`Relay::local_addr`] instead of the server. For each
//! client address the relay opens its own socket towards the server (one
//! mapping per client address), so the server sees one peer per client, as
//! behind a NAT. Every datagram is forwarded, dropped, duplicated or held back
//! and sent after the next one of its direction (reordered), as the
//! [`RelayConfig`]'s probabilities and seed decide, one decision per datagram.
//! A [`RelayConfig::script`] overrides those decisions for chosen datagrams,
//! counted per direction of each mapping: drop the acceptor's first two
//! datagrams, or send the client's SYN again once data flows.

use std::collections::hash_map::{Entry, HashMap};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::AbortHandle;
use tokio::time::Instant;

mod config;
mod faults;
#[cfg(test)]
mod tests;

pub use config::{Action, RelayConfig, Scripted};
use faults::Faults;

/// Which way a datagram travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server.
    ToServer,
    /// From the server back to the client.
    ToClient,
}

/// What the relay did with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Sent on once.
    Forwarded,
    /// Not sent.
    Dropped,
    /// Sent twice.
    Duplicated,
    /// Held back, sent after the next datagram of its direction.
    Reordered,
    /// Sent once, followed by an earlier datagram of its direction again
    /// ([`Action::ThenRepeat`]).
    Repeated,
}

/// One datagram as the relay received it.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// Time since the relay started.
    pub at: Duration,
    /// The client's address (the mapping it belongs to).
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
    /// Which way it went.
    pub direction: Direction,
    /// The UDP payload, unchanged.
    pub bytes: Vec<u8>,
    /// What the relay did with it.
    pub fate: Fate,
}

impl Datagram {
    /// Sender and receiver as if there were no relay.
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        match self.direction {
            Direction::ToServer => (self.client, self.server),
            Direction::ToClient => (self.server, self.client),
        }
    }
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams dropped.
    pub dropped: u64,
    /// Datagrams sent twice.
    pub duplicated: u64,
    /// Datagrams held back behind the next one.
    pub reordered: u64,
    /// Earlier datagrams sent again by the script.
    pub repeated: u64,
}

/// Counters of both directions, all mappings together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Client to server.
    pub to_server: DirectionStats,
    /// Server to client.
    pub to_client: DirectionStats,
    /// Client addresses seen (mappings made).
    pub mappings: u64,
}

struct State {
    stats: RelayStats,
    records: Vec<Datagram>,
    tasks: Vec<AbortHandle>,
}

struct Shared {
    recorded: tokio::sync::Notify,
    config: RelayConfig,
    server: SocketAddr,
    start: Instant,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, client: SocketAddr, direction: Direction, bytes: &[u8], fate: Fate) {
        let mut st = self.state();
        let d = match direction {
            Direction::ToServer => &mut st.stats.to_server,
            Direction::ToClient => &mut st.stats.to_client,
        };
        d.received += 1;
        match fate {
            Fate::Forwarded => {}
            Fate::Dropped => d.dropped += 1,
            Fate::Duplicated => d.duplicated += 1,
            Fate::Reordered => d.reordered += 1,
            Fate::Repeated => d.repeated += 1,
        }
        if st.records.len() < self.config.record_limit {
            let at = self.start.elapsed();
            st.records.push(Datagram {
                at,
                client,
                server: self.server,
                direction,
                bytes: bytes.to_vec(),
                fate,
            });
            drop(st);
            self.recorded.notify_waiters();
        }
    }
}

/// A running relay. Dropping it stops it.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Mapping {
    back: Arc<UdpSocket>,
    faults: Faults,
}

const MAX_DATAGRAM: usize = 65536;

impl Relay {
    /// Starts a relay towards `server`, listening on a new port of the
    /// server's loopback address (127.0.0.1 or ::1).
    pub async fn start(server: SocketAddr, config: RelayConfig) -> io::Result<Relay> {
        let front = Arc::new(UdpSocket::bind(loopback_like(server)).await?);
        let addr = front.local_addr()?;
        let shared = Arc::new(Shared {
            recorded: tokio::sync::Notify::new(),
            config,
            server,
            start: Instant::now(),
            state: Mutex::new(State {
                stats: RelayStats::default(),
                records: Vec::new(),
                tasks: Vec::new(),
            }),
        });
        let task = tokio::spawn(run_front(front, Arc::clone(&shared)));
        shared.state().tasks.push(task.abort_handle());
        Ok(Relay { addr, shared })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server datagrams are relayed to.
    pub fn server(&self) -> SocketAddr {
        self.shared.server
    }

    /// Counters so far.
    pub fn stats(&self) -> RelayStats {
        self.shared.state().stats
    }

    /// The datagrams recorded so far (see [`RelayConfig::record_limit`]).
    pub fn records(&self) -> Vec<Datagram> {
        self.shared.state().records.clone()
    }

    /// Waits until at least `n` datagrams have been recorded, and returns
    /// the records (never returns if fewer than `n` ever come: wrap it in a
    /// timeout).
    pub async fn wait_for_records(&self, n: usize) -> Vec<Datagram> {
        loop {
            let notified = self.shared.recorded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.shared.state();
                if st.records.len() >= n {
                    return st.records.clone();
                }
            }
            notified.await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in self.shared.state().tasks.drain(..) {
            task.abort();
        }
    }
}

fn loopback_like(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
    }
}

async fn run_front(front: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut mappings: HashMap<SocketAddr, Mapping> = HashMap::new();
    let server = shared.server;
    loop {
        let deadline = mappings.values().filter_map(|m| m.faults.deadline()).min();
        let received = tokio::select! {
            r = front.recv_from(&mut buf) => r,
            _ = sleep_until_opt(deadline) => {
                for m in mappings.values_mut() {
                    m.faults.release_if_due(&m.back, server).await;
                }
                continue;
            }
        };
        // A receive error on loopback is an ICMP "port unreachable" from an
        // earlier send: not fatal for a relay.
        let Ok((len, client)) = received else {
            continue;
        };
        let bytes = buf.get(..len).unwrap_or_default();
        let m = match mappings.entry(client) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let Ok(back) = UdpSocket::bind(loopback_like(server)).await else {
                    continue;
                };
                let back = Arc::new(back);
                let task = tokio::spawn(run_back(
                    Arc::clone(&front),
                    Arc::clone(&back),
                    client,
                    Arc::clone(&shared),
                ));
                {
                    let mut st = shared.state();
                    st.tasks.push(task.abort_handle());
                    st.stats.mappings += 1;
                }
                let faults = Faults::new(shared.config.seed, client, Direction::ToServer);
                e.insert(Mapping { back, faults })
            }
        };
        let fate = m.faults.decide(&shared.config, bytes);
        shared.note(client, Direction::ToServer, bytes, fate);
        let delay = shared.config.reorder_delay;
        m.faults.apply(fate, bytes, &m.back, server, delay).await;
    }
}

async fn run_back(
    front: Arc<UdpSocket>,
    back: Arc<UdpSocket>,
    client: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut faults = Faults::new(shared.config.seed, client, Direction::ToClient);
    loop {
        let received = tokio::select! {
            r = back.recv_from(&mut buf) => r,
            _ = sleep_until_opt(faults.deadline()) => {
                faults.release_if_due(&front, client).await;
                continue;
            }
        };
        let Ok((len, from)) = received else {
            continue;
        };
        if from != shared.server {
            continue;
        }
        let bytes = buf.get(..len).unwrap_or_default();
        let fate = faults.decide(&shared.config, bytes);
        shared.note(client, Direction::ToClient, bytes, fate);
        let delay = shared.config.reorder_delay;
        faults.apply(fate, bytes, &front, client, delay).await;
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
