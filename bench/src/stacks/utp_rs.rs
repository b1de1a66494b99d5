//! utp-rs 0.1.0-alpha.17 (the Portal Network's stack) with 4 MiB UDP
//! buffers. Its only read is `read_to_eof`, so the sender closes (FIN) after
//! writing; its write takes what fits its send buffer and may take less.

use std::net::SocketAddr;

use utp_rs::conn::ConnectionConfig;
use utp_rs::peer::Peer;
use utp_rs::socket::UtpSocket;

use super::{runtime, udp_socket, wait_stop};
use crate::child::Reporter;
use crate::Res;

fn socket() -> Res<(UtpSocket<SocketAddr>, SocketAddr)> {
    let sock = tokio::net::UdpSocket::from_std(udp_socket()?)?;
    let addr = sock.local_addr()?;
    Ok((UtpSocket::with_socket(sock), addr))
}

/// utp-rs receiver on a current-thread runtime: reads to the sender's FIN.
pub(crate) fn receive(buf: &mut Vec<u8>, rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        let (socket, addr) = socket()?;
        rep.ready(addr)?;
        let mut s = socket.accept(ConnectionConfig::default()).await?;
        buf.clear(); // keeps the touched capacity
        s.read_to_eof(buf).await?;
        rep.done()
    })
}

/// utp-rs sender on a current-thread runtime.
pub(crate) fn send(addr: SocketAddr, payload: &[u8], rep: &mut Reporter) -> Res<()> {
    runtime(false)?.block_on(async {
        rep.start()?;
        let (socket, _) = socket()?;
        let mut s = socket
            .connect(Peer::new(addr), ConnectionConfig::default())
            .await?;
        let mut rest = payload;
        while !rest.is_empty() {
            let n = s.write(rest).await?;
            if n == 0 {
                return Err(format!("utp-rs write took nothing, {} bytes left", rest.len()).into());
            }
            rest = rest.get(n..).unwrap_or_default();
        }
        // FIN: ends the receiver's read_to_eof once all data is in.
        let closing = tokio::spawn(async move {
            let _ = s.close().await;
        });
        rep.written()?;
        wait_stop().await?;
        closing.abort();
        rep.stopped(None)
    })
}
