//! TCP through tokio's TcpStream, the ceiling for loopback.

use std::net::SocketAddr;

use super::{loopback, read_exact, runtime, write_and_wait};
use crate::child::Reporter;
use crate::Res;

/// TCP receiver on a current-thread runtime.
pub(crate) fn receive(buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(loopback()).await?;
        rep.ready(listener.local_addr()?)?;
        let (mut s, _) = listener.accept().await?;
        read_exact(&mut s, buf, rep).await
    })
}

/// TCP sender on a current-thread runtime.
pub(crate) fn send(addr: SocketAddr, payload: &[u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        rep.start()?;
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        write_and_wait(&mut s, payload, rep).await?;
        rep.stopped(None)
    })
}
