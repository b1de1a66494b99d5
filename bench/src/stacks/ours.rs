//! Our stack through each adapter, default configuration (4 MiB UDP
//! buffers, path MTU discovery, LEDBAT).

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::future::try_join_all;
use tokio::io::AsyncWriteExt;
use utp_tokio::ConnStats;

use super::many::{read_slices, slices};
use super::{loopback, read_exact, runtime, wait_stop, write_and_wait};
use crate::child::Reporter;
use crate::Res;

/// utp-tokio receiver on a current-thread or multi-thread runtime.
pub(crate) fn tokio_receive(multi_thread: bool, buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    runtime(multi_thread)?.block_on(async {
        let socket = utp_tokio::UtpSocket::bind(loopback()).await?;
        rep.ready(socket.local_addr()?)?;
        let (mut s, _) = socket.accept().await?;
        read_exact(&mut s, buf, rep).await
    })
}

/// utp-tokio sender on a current-thread or multi-thread runtime.
pub(crate) fn tokio_send(
    multi_thread: bool,
    addr: SocketAddr,
    payload: &[u8],
    rep: &mut Reporter,
) -> Res<()> {
    runtime(multi_thread)?.block_on(async {
        rep.start()?;
        let socket = utp_tokio::UtpSocket::bind(loopback()).await?;
        let mut s = socket.connect(addr).await?;
        write_and_wait(&mut s, payload, rep).await?;
        rep.stopped(Some(&s.stats()))
    })
}

/// utp-tokio receiver on a multi-thread runtime, the application's code
/// in a spawned task.
pub(crate) fn tokio_receive_spawned(buf: &mut Vec<u8>, rep: &mut Reporter) -> Res<()> {
    super::receive_spawned(buf, rep, |mut rep| async move {
        let socket = utp_tokio::UtpSocket::bind(loopback()).await?;
        rep.ready(socket.local_addr()?)?;
        let (s, _) = socket.accept().await?;
        Ok((socket, s))
    })
}

/// utp-tokio sender on a multi-thread runtime, the application's code in
/// a spawned task.
pub(crate) fn tokio_send_spawned(addr: SocketAddr, payload: &Bytes, rep: &mut Reporter) -> Res<()> {
    let connect = move || async move {
        let socket = utp_tokio::UtpSocket::bind(loopback()).await?;
        let s = socket.connect(addr).await?;
        Ok((socket, s))
    };
    super::send_spawned(payload, rep, connect, |(_, s)| Some(s.stats()))
}

/// utp-tokio sender on a current-thread runtime, the payload handed over
/// with `write_bytes` (no copy into the send buffer).
pub(crate) fn tokio_send_bytes(addr: SocketAddr, payload: &Bytes, rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        rep.start()?;
        let socket = utp_tokio::UtpSocket::bind(loopback()).await?;
        let mut s = socket.connect(addr).await?;
        s.write_bytes(payload.clone()).await?;
        rep.written()?;
        wait_stop().await?;
        rep.stopped(Some(&s.stats()))
    })
}

/// `ours-tokio-ct-100` receiver: accepts [`CONNECTIONS`](super::CONNECTIONS) streams on one
/// utp-tokio socket (current-thread runtime) and reads each one's slice
/// ([`many`](super::many)); `done` once every slice is complete.
pub(crate) fn tokio_receive_many(buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        let socket = utp_tokio::UtpSocket::bind(loopback()).await?;
        rep.ready(socket.local_addr()?)?;
        let socket = &socket;
        let _streams = read_slices(buf, || async move { Ok(socket.accept().await?.0) }).await?;
        rep.done()
    })
}

/// `ours-tokio-ct-100` sender: connects [`CONNECTIONS`](super::CONNECTIONS) streams to one
/// socket from one socket (current-thread runtime), all at once, and
/// writes each its index and slice concurrently (the slice with
/// `write_bytes` if `bytes`, else `write_all`); `written` once all took
/// theirs. The `stats` line sums the streams' counters.
pub(crate) fn tokio_send_many(
    addr: SocketAddr,
    payload: &Bytes,
    bytes: bool,
    rep: &mut Reporter,
) -> Res<()> {
    runtime(false)?.block_on(async {
        rep.start()?;
        let socket = utp_tokio::UtpSocket::bind(loopback()).await?;
        let socket = &socket;
        let streams = try_join_all(slices(payload).map(|(i, part)| async move {
            let mut s = socket.connect(addr).await?;
            s.write_all(&i.to_be_bytes()).await?;
            if bytes {
                s.write_bytes(part).await?;
            } else {
                s.write_all(&part).await?;
            }
            Res::Ok(s)
        }))
        .await?;
        rep.written()?;
        wait_stop().await?;
        rep.stopped(Some(&summed(streams.iter().map(|s| s.stats()))))
    })
}

/// The counters the `stats` line reports (retransmits, timeouts, tail-loss
/// probes), summed over several connections; the other fields stay zero.
fn summed(stats: impl Iterator<Item = ConnStats>) -> ConnStats {
    stats.fold(ConnStats::default(), |mut sum, s| {
        sum.retransmits = sum.retransmits.saturating_add(s.retransmits);
        sum.timeouts = sum.timeouts.saturating_add(s.timeouts);
        sum.tail_probes = sum.tail_probes.saturating_add(s.tail_probes);
        sum.packets_sent = sum.packets_sent.saturating_add(s.packets_sent);
        sum.packets_received = sum.packets_received.saturating_add(s.packets_received);
        sum
    })
}

/// utp-async-std receiver: the driver runs on its own thread, this thread
/// blocks on the futures.
pub(crate) fn async_std_receive(buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    use futures_lite::AsyncReadExt;
    futures_lite::future::block_on(async {
        let socket = utp_async_std::UtpSocket::bind(loopback()).await?;
        rep.ready(socket.local_addr()?)?;
        let (mut s, _) = socket.accept().await?;
        s.read_exact(buf).await?;
        rep.done()
    })
}

/// utp-async-std sender.
pub(crate) fn async_std_send(addr: SocketAddr, payload: &[u8], rep: &mut Reporter) -> Res<()> {
    use futures_lite::AsyncWriteExt;
    futures_lite::future::block_on(async {
        rep.start()?;
        let socket = utp_async_std::UtpSocket::bind(loopback()).await?;
        let mut s = socket.connect(addr).await?;
        s.write_all(payload).await?;
        rep.written()?;
        // The driver thread keeps sending while this one blocks.
        Reporter::wait_stop()?;
        rep.stopped(Some(&s.stats()))
    })
}

/// utp-mio blocking receiver.
pub(crate) fn mio_receive(buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    use std::io::Read;
    let listener = utp_mio::UtpListener::bind(loopback())?;
    rep.ready(listener.local_addr()?)?;
    let (mut s, _) = listener.accept()?;
    s.read_exact(buf)?;
    rep.done()
}

/// utp-mio blocking sender.
pub(crate) fn mio_send(addr: SocketAddr, payload: &[u8], rep: &mut Reporter) -> Res<()> {
    use std::io::Write;
    rep.start()?;
    let mut s = utp_mio::UtpStream::connect(addr)?;
    s.write_all(payload)?;
    s.flush()?;
    rep.written()?;
    Reporter::wait_stop()?;
    rep.stopped(Some(&s.stats()))
}
