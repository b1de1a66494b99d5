//! librqbit-utp 0.7 (it raises its own UDP receive buffer).

use std::net::SocketAddr;

use librqbit_utp::UtpSocketUdp;

use super::{loopback, read_exact, runtime, write_and_wait};
use crate::child::Reporter;
use crate::Res;

/// librqbit-utp receiver on a current-thread runtime.
pub(crate) fn receive(buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        let socket = UtpSocketUdp::new_udp(loopback()).await?;
        rep.ready(socket.bind_addr())?;
        let (mut r, _w) = socket.accept().await?.split();
        read_exact(&mut r, buf, rep).await
    })
}

/// librqbit-utp sender on a current-thread runtime.
pub(crate) fn send(addr: SocketAddr, payload: &[u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        rep.start()?;
        let socket = UtpSocketUdp::new_udp(loopback()).await?;
        let (_r, mut w) = socket.connect(addr).await?.split();
        write_and_wait(&mut w, payload, rep).await?;
        rep.stopped(None)
    })
}
