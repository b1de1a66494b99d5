//! Rendezvous connects over loopback under async-std and smol: two sockets
//! that do not listen connect to each other at once and get one stream
//! each; data both ways.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use common::{localhost, Pattern, Rt};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use utp_async_std::{DriverConfig, UtpSocket, UtpStream};

/// Writes `out`, half-closes, reads to the end.
async fn exchange(s: UtpStream, out: Vec<u8>) -> Vec<u8> {
    let (mut r, mut w) = s.into_split();
    let writer = async {
        w.write_all(&out).await.unwrap();
        w.close().await.unwrap();
    };
    let reader = async {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        got
    };
    future::zip(writer, reader).await.1
}

async fn two_sockets_meet(_: Rt) {
    let config = || DriverConfig::default().outgoing_only();
    let a = UtpSocket::bind_with(localhost(), config()).await.unwrap();
    let b = UtpSocket::bind_with(localhost(), config()).await.unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let (sa, sb) = future::zip(a.connect_rendezvous(b_addr), b.connect_rendezvous(a_addr)).await;
    let (sa, sb) = (sa.unwrap(), sb.unwrap());
    assert_eq!(
        (sa.peer_addr().unwrap(), sb.peer_addr().unwrap()),
        (b_addr, a_addr)
    );
    let (to_b, to_a) = (Pattern::bytes(1, 200_000), Pattern::bytes(2, 300_000));
    let (at_b, at_a) = future::zip(exchange(sb, to_a.clone()), exchange(sa, to_b.clone())).await;
    assert!(at_b == to_b && at_a == to_a, "bytes intact both ways");
    let (ea, eb) = (a.endpoint_stats(), b.endpoint_stats());
    assert_eq!(ea.rendezvous_lost + eb.rendezvous_lost, 1, "{ea:?} {eb:?}");
}

both_runtimes!(60 => two_sockets_meet);
