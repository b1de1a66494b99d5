//! [`ShardedListener`]: one port served by several sockets, each with
//! its own endpoint and driver task, for servers with many connections
//! on a runtime with several worker threads.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use tokio::net::UdpSocket;

use crate::{DriverConfig, UtpSocket, UtpStream};

/// A listener on one UDP port made of `N` shards: `N` UDP sockets bound to
/// the same address with `SO_REUSEPORT` ([`SocketOptions::reuse_port`](crate::SocketOptions::reuse_port)),
/// each a [`UtpSocket`] with its own endpoint, lock and driver task. On a
/// multi-thread runtime the shards' loops (receive, timers, sends) run on
/// different worker threads at once instead of taking turns on one lock.
/// Linux and Android only (`bind` fails with `Unsupported` elsewhere:
/// the BSDs and macOS do not spread unicast datagrams over a
/// `SO_REUSEPORT` group); measured against one shard by
/// `examples/sharded.rs`.
///
/// ## Which shard a remote reaches
///
/// Linux hands each datagram arriving on the port to one socket of the
/// group, chosen by a hash of its source and destination addresses and
/// ports (keyed by a secret of the kernel's, so the application cannot
/// compute it). Hence a remote `IP:port` always reaches the same shard,
/// and all its connections (a BitTorrent peer makes all of them from one
/// port) live on that shard's endpoint; remotes on other ports spread over
/// the shards. This holds while the group is unchanged: the hash is scaled
/// to the group's size, so a socket joining the port (another process of
/// the same user binding it with `SO_REUSEPORT`) or leaving it (a shard
/// dropped) moves remotes to other shards, and their connections then stop
/// receiving (`tests/sharded.rs` shows about half of 32 remotes moving
/// when a third socket joins two). Keep the listener whole for its
/// lifetime.
///
/// ## No outgoing connections
///
/// The reply to a datagram a shard sends is hashed like any datagram from
/// that remote: it reaches the remote's shard, which need not be the one
/// that sent (`tests/sharded.rs` shows it). A [`UtpSocket::connect`] on a
/// shard therefore only completes for remotes that hash to that shard; for
/// the others the SYN's answer reaches a shard that knows no such
/// connection (it answers with a RESET) and the connect times out. ICMP
/// errors are steered the same way: a connect to a closed port of another
/// shard's times out rather than failing with `ConnectionRefused`. So the
/// listener offers no `connect`:
/// make outgoing connections from a [`UtpSocket`] of its own (another
/// port). Steering by a BPF program of the application's
/// (`SO_ATTACH_REUSEPORT_CBPF`) could make the shard computable; not
/// done here.
///
/// Datagrams of other protocols ([`recv_foreign`](Self::recv_foreign))
/// also arrive on the remote's shard, so the listener merges them; a
/// DHT's replies come back through it whichever shard sent the query.
///
/// Each shard applies the whole [`DriverConfig`] on its own: its limits
/// (`max_connections`, the backlog, rate limits) are per shard.
#[derive(Clone, Debug)]
pub struct ShardedListener {
    shards: Arc<[UtpSocket]>,
    /// Where the next merged poll starts, so no shard is always first.
    next: Arc<AtomicUsize>,
}

impl ShardedListener {
    /// Binds `shards` sockets to `addr` (the first resolved address that
    /// works; port 0 picks one port for all) with `SO_REUSEPORT`, shard
    /// `i` with `config(i)` (a factory, since a [`ListenConfig`](crate::ListenConfig)'s filter
    /// cannot be cloned; its [`SocketOptions::reuse_port`](crate::SocketOptions::reuse_port)
    /// is set here), each with a driver task spawned on the current
    /// runtime. `InvalidInput` for 0 shards or an invalid configuration.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// use utp_tokio::{DriverConfig, ShardedListener};
    /// let listener = ShardedListener::bind("0.0.0.0:6881", 4, |_| DriverConfig::default()).await?;
    /// let (stream, peer) = listener.accept().await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind(
        addr: impl tokio::net::ToSocketAddrs,
        shards: usize,
        mut config: impl FnMut(usize) -> DriverConfig,
    ) -> io::Result<ShardedListener> {
        if shards == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a sharded listener needs at least one shard",
            ));
        }
        if !cfg!(any(target_os = "linux", target_os = "android")) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "only Linux spreads a port's datagrams over SO_REUSEPORT sockets",
            ));
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
        crate::runtime()?;
        let mut bound = Vec::with_capacity(shards);
        let mut local = None;
        for i in 0..shards {
            let mut config = config(i);
            config.validate()?;
            config.socket.reuse_port = true;
            let socket = match local {
                None => utp_driver::bind_udp(&addrs[..], &config.socket)?,
                Some(local) => utp_driver::bind_udp(local, &config.socket)?,
            };
            local = Some(socket.local_addr()?);
            bound.push((socket, config));
        }
        // Started only once all are bound: a failed bind leaves no task.
        let shards = bound
            .into_iter()
            .map(|(s, config)| UtpSocket::start(UdpSocket::from_std(s)?, config))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ShardedListener {
            shards: shards.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The shards, in the order they were bound: accept on each from a
    /// task of its own, or read each one's
    /// [`endpoint_stats`](UtpSocket::endpoint_stats). Their
    /// [`connect`](UtpSocket::connect) reaches only remotes that hash to
    /// that shard (see the type's documentation).
    pub fn shards(&self) -> &[UtpSocket] {
        &self.shards
    }

    /// The address all shards are bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.first()?.local_addr()
    }

    /// The next incoming connection on any shard, and its peer. Cancel
    /// safe, as [`UtpSocket::accept`].
    pub async fn accept(&self) -> io::Result<(UtpStream, SocketAddr)> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        poll_fn(|cx| self.poll_each(start, |shard| shard.poll_accept(cx))).await
    }

    /// The next datagram of another protocol received on any shard (see
    /// [`UtpSocket::recv_foreign`]). Cancel safe.
    pub async fn recv_foreign(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        poll_fn(|cx| self.poll_each(start, |shard| shard.poll_recv_foreign(cx, buf))).await
    }

    /// Sends a datagram of another protocol from the port (from the first
    /// shard; the answer comes back through
    /// [`recv_foreign`](Self::recv_foreign) on whichever shard the sender
    /// hashes to).
    pub async fn send_foreign(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.first()?.send_foreign(buf, to).await
    }

    /// Closes every shard ([`UtpSocket::close`]).
    pub fn close(&self) {
        for shard in self.shards.iter() {
            shard.close();
        }
    }

    /// Resolves once no connection is left on any shard
    /// ([`UtpSocket::wait_idle`]). Cancel safe.
    pub async fn wait_idle(&self) -> io::Result<()> {
        for shard in self.shards.iter() {
            shard.wait_idle().await?;
        }
        Ok(())
    }

    fn first(&self) -> io::Result<&UtpSocket> {
        self.shards
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no shards"))
    }

    /// Polls each shard once, from `start` on, until one is ready.
    fn poll_each<T>(
        &self,
        start: usize,
        mut poll: impl FnMut(&UtpSocket) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let n = self.shards.len();
        for k in 0..n {
            if let Some(shard) = self.shards.get((start + k) % n) {
                if let ready @ Poll::Ready(_) = poll(shard) {
                    return ready;
                }
            }
        }
        Poll::Pending
    }
}
