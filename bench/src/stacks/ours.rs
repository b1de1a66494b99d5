//! Our stack through each adapter, default configuration (4 MiB UDP
//! buffers, path MTU discovery, LEDBAT).

use std::net::SocketAddr;

use super::{loopback, read_exact, runtime, write_and_wait};
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
