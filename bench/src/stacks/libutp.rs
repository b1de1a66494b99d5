//! libutp, the reference C++ stack, through libutp-rs2 0.1 with 4 MiB UDP
//! buffers (with the default 208 KiB it loses datagrams and stalls).

use std::net::SocketAddr;

use libutp_rs2::{UtpOpts, UtpUdpContext};

use super::{read_exact, runtime, udp_socket, write_and_wait};
use crate::child::Reporter;
use crate::Res;

/// A libutp context on a fresh loopback port with 4 MiB buffers.
fn context() -> Res<(std::sync::Arc<UtpUdpContext>, SocketAddr)> {
    let sock = tokio::net::UdpSocket::from_std(udp_socket()?)?;
    let addr = sock.local_addr()?;
    let ctx = UtpUdpContext::new(sock, UtpOpts::default()).map_err(|e| e.to_string())?;
    Ok((ctx, addr))
}

/// libutp receiver on a current-thread runtime.
pub(crate) fn receive(buf: &mut [u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        let (ctx, addr) = context()?;
        rep.ready(addr)?;
        let mut s = ctx.accept().await.map_err(|e| e.to_string())?;
        read_exact(&mut s, buf, rep).await
    })
}

/// libutp sender on a current-thread runtime.
pub(crate) fn send(addr: SocketAddr, payload: &[u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        rep.start()?;
        let (ctx, _) = context()?;
        let mut s = ctx.connect(addr).await.map_err(|e| e.to_string())?;
        write_and_wait(&mut s, payload, rep).await?;
        rep.stopped(None)
    })
}
