//! [`MemoryNetwork`]: an in-process [`Transport`] for tests and examples,
//! peers named by any [`Peer`] type (node ids, names, integers), with
//! optional seeded loss.
//!
//! ```
//! use utp_tokio::{DriverConfig, MemoryNetwork, Peer, UtpSocket};
//!
//! #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
//! struct Node(u8);
//! impl Peer for Node {}
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let net = MemoryNetwork::new();
//! let a = UtpSocket::with_transport(net.join(Node(1)), DriverConfig::with_peer_type())?;
//! let b = UtpSocket::with_transport(net.join(Node(2)), DriverConfig::with_peer_type())?;
//! let (stream, (_, from)) = tokio::try_join!(a.connect_peer(Node(2)), b.accept())?;
//! assert_eq!((stream.peer(), from), (&Node(2), Node(1)));
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use utp_core::Peer;

use crate::Transport;

type Datagram<P> = (P, Vec<u8>);

struct Net<P> {
    members: HashMap<P, mpsc::UnboundedSender<Datagram<P>>>,
    /// Datagrams dropped per million, and the generator deciding which.
    loss_ppm: u32,
    rng: u64,
    dropped: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A network in memory: every [`join`](Self::join)ed peer reaches every
/// other, datagrams arrive in order, none is lost unless
/// [`lossy`](Self::lossy) says so. Cloning gives another handle to the
/// same network.
pub struct MemoryNetwork<P> {
    net: Arc<Mutex<Net<P>>>,
}

impl<P> Clone for MemoryNetwork<P> {
    fn clone(&self) -> Self {
        MemoryNetwork {
            net: self.net.clone(),
        }
    }
}

impl<P> std::fmt::Debug for MemoryNetwork<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let net = lock(&self.net);
        f.debug_struct("MemoryNetwork")
            .field("members", &net.members.len())
            .field("loss_ppm", &net.loss_ppm)
            .field("dropped", &net.dropped)
            .finish()
    }
}

impl<P: Peer + Send + 'static> Default for MemoryNetwork<P> {
    fn default() -> Self {
        MemoryNetwork::new()
    }
}

impl<P: Peer + Send + 'static> MemoryNetwork<P> {
    /// A lossless network.
    pub fn new() -> Self {
        MemoryNetwork::lossy(0, 0)
    }

    /// A network that drops `per_million` of the datagrams sent, chosen by
    /// a generator seeded with `seed` (the same sends drop the same
    /// datagrams).
    pub fn lossy(per_million: u32, seed: u64) -> Self {
        MemoryNetwork {
            net: Arc::new(Mutex::new(Net {
                members: HashMap::new(),
                loss_ppm: per_million,
                rng: seed | 1,
                dropped: 0,
            })),
        }
    }

    /// The transport of a new member named `me` (it replaces one of the
    /// same name).
    pub fn join(&self, me: P) -> MemoryTransport<P> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.net).members.insert(me.clone(), tx);
        MemoryTransport {
            me,
            net: self.net.clone(),
            rx: Mutex::new(rx),
        }
    }

    /// Datagrams dropped so far.
    pub fn dropped(&self) -> u64 {
        lock(&self.net).dropped
    }
}

/// One member's side of a [`MemoryNetwork`]: a [`Transport`].
pub struct MemoryTransport<P> {
    me: P,
    net: Arc<Mutex<Net<P>>>,
    rx: Mutex<mpsc::UnboundedReceiver<Datagram<P>>>,
}

impl<P: std::fmt::Debug> std::fmt::Debug for MemoryTransport<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl<P: Peer + Send + Sync + 'static> Transport<P> for MemoryTransport<P> {
    fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, P)>> {
        match lock(&self.rx).poll_recv(cx) {
            Poll::Ready(Some((from, datagram))) => {
                let n = datagram.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), datagram.get(..n)) {
                    dst.copy_from_slice(src);
                }
                Poll::Ready(Ok((n, from)))
            }
            // Every sender is gone with the network: nothing will come.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    fn poll_send(&self, _cx: &mut Context<'_>, buf: &[u8], to: &P) -> Poll<io::Result<usize>> {
        let mut net = lock(&self.net);
        if net.loss_ppm > 0 {
            // xorshift64: deterministic for a seed and a sequence of sends.
            let mut x = net.rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            net.rng = x;
            if x % 1_000_000 < u64::from(net.loss_ppm) {
                net.dropped += 1;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        // A peer that is not (or no longer) there: the datagram is lost,
        // as on a network.
        if let Some(tx) = net.members.get(to) {
            let _ = tx.send((self.me.clone(), buf.to_vec()));
        }
        Poll::Ready(Ok(buf.len()))
    }
}
