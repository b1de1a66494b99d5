//! TCP through tokio's TcpStream, the ceiling for loopback.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::future::try_join_all;
use tokio::io::AsyncWriteExt;

use super::many::{read_slices, slices};
use super::{loopback, read_exact, runtime, wait_stop, write_and_wait};
use crate::child::Reporter;
use crate::Res;

/// TCP receiver on a current-thread or multi-thread runtime (in
/// `block_on`).
pub(crate) fn receive(multi_thread: bool, buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    runtime(multi_thread)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(loopback()).await?;
        rep.ready(listener.local_addr()?)?;
        let (mut s, _) = listener.accept().await?;
        read_exact(&mut s, buf, rep).await
    })
}

/// TCP sender on a current-thread or multi-thread runtime (in
/// `block_on`).
pub(crate) fn send(
    multi_thread: bool,
    addr: SocketAddr,
    payload: &[u8],
    rep: &mut Reporter,
) -> Res<()> {
    runtime(multi_thread)?.block_on(async {
        rep.start()?;
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        write_and_wait(&mut s, payload, rep).await?;
        rep.stopped(None)
    })
}

/// TCP receiver on a multi-thread runtime, the application's code in a
/// spawned task.
pub(crate) fn receive_spawned(buf: &mut Vec<u8>, rep: &mut Reporter) -> Res<()> {
    super::receive_spawned(buf, rep, |mut rep| async move {
        let listener = tokio::net::TcpListener::bind(loopback()).await?;
        rep.ready(listener.local_addr()?)?;
        Ok(((), listener.accept().await?.0))
    })
}

/// TCP sender on a multi-thread runtime, the application's code in a
/// spawned task.
pub(crate) fn send_spawned(addr: SocketAddr, payload: &Bytes, rep: &mut Reporter) -> Res<()> {
    let connect = move || async move { Ok(((), tokio::net::TcpStream::connect(addr).await?)) };
    super::send_spawned(payload, rep, connect, |_| None)
}

/// `tcp-100` receiver: accepts [`CONNECTIONS`](super::CONNECTIONS) TCP connections
/// (current-thread runtime) and reads each one's slice
/// ([`many`](super::many)); `done` once every slice is complete.
pub(crate) fn receive_many(buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(loopback()).await?;
        rep.ready(listener.local_addr()?)?;
        let listener = &listener;
        let _streams = read_slices(buf, || async move { Ok(listener.accept().await?.0) }).await?;
        rep.done()
    })
}

/// `tcp-100` sender: [`CONNECTIONS`](super::CONNECTIONS) TCP connections at once, each
/// writing its index and slice with `write_all`.
pub(crate) fn send_many(addr: SocketAddr, payload: &Bytes, rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        rep.start()?;
        let streams = try_join_all(slices(payload).map(|(i, part)| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await?;
            s.write_all(&i.to_be_bytes()).await?;
            s.write_all(&part).await?;
            Res::Ok(s)
        }))
        .await?;
        rep.written()?;
        wait_stop().await?;
        drop(streams);
        rep.stopped(None)
    })
}
