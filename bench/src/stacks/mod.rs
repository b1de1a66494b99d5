//! The stacks the bench compares, one module each, and what they share.
//!
//! Every stack is measured against itself (its sender to its receiver).
//! A receiver binds 127.0.0.1 on a free port, reports it, accepts one
//! connection (`ours-tokio-ct-100`, `ours-tokio-ct-100-copy`, `tcp-100`:
//! [`CONNECTIONS`], a slice of the payload each, `many.rs`) and reads exactly the payload's length (`utp-rs` reads to
//! the sender's FIN: `read_to_eof` is its only read). A sender connects,
//! writes everything and keeps its process (and the stack's tasks) alive
//! until the orchestrator has seen the receiver finish.

mod librqbit;
mod libutp;
mod many;
mod ours;
mod tcp;
mod utp_rs;

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::ValueEnum;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::child::Reporter;
use crate::Res;

pub(crate) use many::CONNECTIONS;

/// UDP receive (and send) buffer for the peers' sockets that we make
/// ourselves (libutp, utp-rs): with Linux's default 208 KiB libutp loses
/// datagrams at loopback speed and stalls (tests/interop, INTEROP.md). Ours
/// sets 4 MiB by default (`SocketOptions`); librqbit-utp raises its own.
pub(crate) const UDP_BUF: usize = 4 << 20;

/// utp-rs stalls after 2^16 packets (sequence-number rollover): it moves at
/// most this many bytes per run.
pub(crate) const UTP_RS_MAX: usize = 48 << 20;

/// One stack, with the runtime it runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub(crate) enum Stack {
    /// Ours, utp-tokio on a current-thread runtime (`write_all`: the
    /// payload is copied into the send buffer).
    OursTokioCt,
    /// As `ours-tokio-ct`, the payload handed over with `write_bytes` (no
    /// copy into the send buffer).
    OursTokioCtBytes,
    /// Ours, utp-tokio on a current-thread runtime, the payload split over
    /// [`CONNECTIONS`] concurrent connections of one socket pair, each
    /// slice handed over with `write_bytes`.
    #[value(name = "ours-tokio-ct-100")]
    OursTokioCt100,
    /// As `ours-tokio-ct-100`, each slice written with `write_all`.
    #[value(name = "ours-tokio-ct-100-copy")]
    OursTokioCt100Copy,
    /// Ours, utp-tokio on tokio's default multi-thread runtime, the
    /// application's code in a spawned task (as a tokio server runs its
    /// work per connection).
    OursTokioMt,
    /// As `ours-tokio-mt`, the application's code in `block_on` on the
    /// main thread (every hand-over between it and the driver's task
    /// crosses threads).
    OursTokioMtBlockOn,
    /// Ours, utp-async-std (its driver thread; the caller blocks on the futures).
    OursAsyncStd,
    /// Ours, utp-mio's blocking API (its driver thread; std::io streams).
    OursMio,
    /// librqbit-utp 0.7 on a current-thread runtime.
    Librqbit,
    /// libutp through libutp-rs2 0.1, 4 MiB UDP buffers, current-thread runtime.
    Libutp,
    /// utp-rs 0.1.0-alpha.17, 4 MiB UDP buffers, current-thread runtime.
    UtpRs,
    /// tokio's TcpStream on a current-thread runtime.
    Tcp,
    /// As `tcp`, the payload split over [`CONNECTIONS`] concurrent
    /// connections (as `ours-tokio-ct-100-copy`).
    #[value(name = "tcp-100")]
    Tcp100,
    /// tokio's TcpStream on tokio's default multi-thread runtime, the
    /// application's code in a spawned task (as `ours-tokio-mt`).
    TcpMt,
    /// As `tcp-mt`, the application's code in `block_on` on the main
    /// thread (as `ours-tokio-mt-block-on`).
    TcpMtBlockOn,
}

impl Stack {
    /// Every stack, in table order.
    pub(crate) const ALL: [Stack; 15] = [
        Stack::OursTokioCt,
        Stack::OursTokioCtBytes,
        Stack::OursTokioCt100,
        Stack::OursTokioCt100Copy,
        Stack::OursTokioMt,
        Stack::OursTokioMtBlockOn,
        Stack::OursAsyncStd,
        Stack::OursMio,
        Stack::Librqbit,
        Stack::Libutp,
        Stack::UtpRs,
        Stack::Tcp,
        Stack::Tcp100,
        Stack::TcpMt,
        Stack::TcpMtBlockOn,
    ];

    /// The name on the command line and in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stack::OursTokioCt => "ours-tokio-ct",
            Stack::OursTokioCtBytes => "ours-tokio-ct-bytes",
            Stack::OursTokioCt100 => "ours-tokio-ct-100",
            Stack::OursTokioCt100Copy => "ours-tokio-ct-100-copy",
            Stack::OursTokioMt => "ours-tokio-mt",
            Stack::OursTokioMtBlockOn => "ours-tokio-mt-block-on",
            Stack::OursAsyncStd => "ours-async-std",
            Stack::OursMio => "ours-mio",
            Stack::Librqbit => "librqbit",
            Stack::Libutp => "libutp",
            Stack::UtpRs => "utp-rs",
            Stack::Tcp => "tcp",
            Stack::Tcp100 => "tcp-100",
            Stack::TcpMt => "tcp-mt",
            Stack::TcpMtBlockOn => "tcp-mt-block-on",
        }
    }

    /// Whether this is one of our adapters.
    pub(crate) fn is_ours(self) -> bool {
        matches!(
            self,
            Stack::OursTokioCt
                | Stack::OursTokioCtBytes
                | Stack::OursTokioCt100
                | Stack::OursTokioCt100Copy
                | Stack::OursTokioMt
                | Stack::OursTokioMtBlockOn
                | Stack::OursAsyncStd
                | Stack::OursMio
        )
    }

    /// The payload this stack moves when `bytes` were asked for.
    pub(crate) fn payload_len(self, bytes: usize) -> usize {
        match self {
            Stack::UtpRs => bytes.min(UTP_RS_MAX),
            _ => bytes,
        }
    }
}

/// The receiver side of `stack` (see the module docs): fills `buf` (its
/// pages already touched, so that page faults stay out of the measurement).
pub(crate) fn receive(stack: Stack, buf: &mut Vec<u8>, rep: &mut Reporter) -> Res<()> {
    match stack {
        Stack::OursTokioCt | Stack::OursTokioCtBytes => ours::tokio_receive(false, buf, rep),
        Stack::OursTokioCt100 | Stack::OursTokioCt100Copy => ours::tokio_receive_many(buf, rep),
        Stack::OursTokioMt => ours::tokio_receive_spawned(buf, rep),
        Stack::OursTokioMtBlockOn => ours::tokio_receive(true, buf, rep),
        Stack::OursAsyncStd => ours::async_std_receive(buf, rep),
        Stack::OursMio => ours::mio_receive(buf, rep),
        Stack::Librqbit => librqbit::receive(buf, rep),
        Stack::Libutp => libutp::receive(buf, rep),
        Stack::UtpRs => utp_rs::receive(buf, rep),
        Stack::Tcp => tcp::receive(false, buf, rep),
        Stack::Tcp100 => tcp::receive_many(buf, rep),
        Stack::TcpMt => tcp::receive_spawned(buf, rep),
        Stack::TcpMtBlockOn => tcp::receive(true, buf, rep),
    }
}

/// The sender side of `stack` (see the module docs).
pub(crate) fn send(stack: Stack, addr: SocketAddr, bytes: &Bytes, rep: &mut Reporter) -> Res<()> {
    let payload: &[u8] = bytes;
    match stack {
        Stack::OursTokioCt => ours::tokio_send(false, addr, payload, rep),
        Stack::OursTokioCtBytes => ours::tokio_send_bytes(addr, bytes, rep),
        Stack::OursTokioCt100 => ours::tokio_send_many(addr, bytes, true, rep),
        Stack::OursTokioCt100Copy => ours::tokio_send_many(addr, bytes, false, rep),
        Stack::OursTokioMt => ours::tokio_send_spawned(addr, bytes, rep),
        Stack::OursTokioMtBlockOn => ours::tokio_send(true, addr, payload, rep),
        Stack::OursAsyncStd => ours::async_std_send(addr, payload, rep),
        Stack::OursMio => ours::mio_send(addr, payload, rep),
        Stack::Librqbit => librqbit::send(addr, payload, rep),
        Stack::Libutp => libutp::send(addr, payload, rep),
        Stack::UtpRs => utp_rs::send(addr, payload, rep),
        Stack::Tcp => tcp::send(false, addr, payload, rep),
        Stack::Tcp100 => tcp::send_many(addr, bytes, rep),
        Stack::TcpMt => tcp::send_spawned(addr, bytes, rep),
        Stack::TcpMtBlockOn => tcp::send(true, addr, payload, rep),
    }
}

/// A tokio runtime: multi-thread (tokio's default worker count) or
/// current-thread.
fn runtime(multi_thread: bool) -> Res<tokio::runtime::Runtime> {
    let mut b = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    Ok(b.enable_all().build()?)
}

/// The loopback address receivers bind (port chosen by the kernel).
fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A non-blocking std UDP socket on loopback with [`UDP_BUF`] buffers.
fn udp_socket() -> Res<std::net::UdpSocket> {
    let sock = socket2::Socket::from(std::net::UdpSocket::bind(loopback())?);
    sock.set_recv_buffer_size(UDP_BUF)?;
    sock.set_send_buffer_size(UDP_BUF)?;
    let sock: std::net::UdpSocket = sock.into();
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Fills `buf` from a tokio stream, then reports `done`.
async fn read_exact<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    rep: &mut Reporter,
) -> Res<()> {
    r.read_exact(buf).await?;
    rep.done()
}

/// Writes everything to a tokio stream, reports `written`, and waits for
/// the orchestrator's `stop` while the runtime keeps the stack going; the
/// caller then calls [`Reporter::stopped`].
async fn write_and_wait<W: AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
    rep: &mut Reporter,
) -> Res<()> {
    // No flush: libutp-rs2 does not implement it, and every stack here
    // delivers what write took without one.
    w.write_all(payload).await?;
    rep.written()?;
    wait_stop().await
}

/// A receiver on a multi-thread runtime whose application code runs in
/// a spawned task (as a tokio server runs its work per connection):
/// `accept` binds, reports `ready` and accepts one stream (with whatever
/// must stay open beside it), then the task fills `buf` from it.
fn receive_spawned<F, Fut, K, S>(buf: &mut Vec<u8>, rep: &Reporter, accept: F) -> Res<()>
where
    F: FnOnce(Reporter) -> Fut,
    Fut: Future<Output = Res<(K, S)>> + Send + 'static,
    K: Send + 'static,
    S: AsyncRead + Unpin + Send + 'static,
{
    let mut owned = std::mem::take(buf);
    let mut rep = rep.clone();
    let accepted = accept(rep.clone());
    *buf = runtime(true)?.block_on(async move {
        tokio::spawn(async move {
            let (_kept, mut s) = accepted.await?;
            read_exact(&mut s, &mut owned, &mut rep).await?;
            Res::Ok(owned)
        })
        .await?
    })?;
    Ok(())
}

/// A sender on a multi-thread runtime whose application code runs in a
/// spawned task: `connect` makes the stream (with whatever must stay open
/// beside it), the task writes everything to it; both are kept until the
/// orchestrator's `stop`, then `stats` reads their counters for
/// [`Reporter::stopped`].
fn send_spawned<F, Fut, K, W>(
    payload: &Bytes,
    rep: &mut Reporter,
    connect: F,
    stats: impl FnOnce(&(K, W)) -> Option<utp_tokio::ConnStats>,
) -> Res<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Res<(K, W)>> + Send + 'static,
    K: Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let payload = payload.clone();
    runtime(true)?.block_on(async {
        rep.start()?;
        let mut task_rep = rep.clone();
        let connected = connect();
        let kept = tokio::spawn(async move {
            let (k, mut w) = connected.await?;
            w.write_all(&payload).await?;
            task_rep.written()?;
            Res::Ok((k, w))
        })
        .await??;
        wait_stop().await?;
        rep.stopped(stats(&kept).as_ref())
    })
}

/// Waits for `stop` on a blocking thread (the runtime keeps running).
async fn wait_stop() -> Res<()> {
    tokio::task::spawn_blocking(|| Reporter::wait_stop().map_err(|e| e.to_string())).await??;
    Ok(())
}
