//! One socket bound to `[::]` (dual stack, the default) accepts from and
//! connects to both IPv4 and IPv6 peers, reporting IPv4 peers as plain
//! IPv4 addresses.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::net::SocketAddr;

use common::{data, guard, resend_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{UtpSocket, UtpStream};

/// The acceptor writes first and shuts down; the initiator reads it all,
/// answers and shuts down; each checks every byte.
async fn talk(mut acceptor: UtpStream, mut initiator: UtpStream, seed: u64) {
    let first = data(seed, 40_000);
    let second = data(seed + 1, 30_000);
    let a = async {
        acceptor.write_all(&first).await.unwrap();
        acceptor.shutdown().await.unwrap();
        let mut got = Vec::new();
        acceptor.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, second);
    };
    let b = async {
        let mut got = Vec::new();
        initiator.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, first);
        initiator.write_all(&second).await.unwrap();
        initiator.shutdown().await.unwrap();
    };
    tokio::join!(a, b);
}

fn on(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

#[tokio::test]
async fn one_socket_serves_both_families() {
    guard(30, async {
        let hub = UtpSocket::bind("[::]:0").await.unwrap();
        let port = hub.local_addr().unwrap().port();
        let v4 = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let v6 = UtpSocket::bind("[::1]:0").await.unwrap();
        let (v4_addr, v6_addr) = (v4.local_addr().unwrap(), v6.local_addr().unwrap());

        // Incoming over IPv4, then over IPv6.
        for (client, client_addr, server_ip, seed) in
            [(&v4, v4_addr, "127.0.0.1", 10), (&v6, v6_addr, "[::1]", 20)]
        {
            let (initiator, accepted) =
                tokio::join!(client.connect(on(server_ip, port)), hub.accept());
            let initiator = initiator.unwrap();
            let (acceptor, peer) = accepted.unwrap();
            assert_eq!(peer, client_addr);
            assert_eq!(acceptor.peer_addr().unwrap(), client_addr);
            assert_eq!(initiator.peer_addr().unwrap(), on(server_ip, port));
            talk(acceptor, initiator, seed).await;
        }

        // Outgoing to an IPv4 address, given as such, and to an IPv6 one.
        for (server, server_addr, seed) in [(&v4, v4_addr, 30), (&v6, v6_addr, 40)] {
            let (initiator, accepted) = tokio::join!(hub.connect(server_addr), server.accept());
            let initiator = initiator.unwrap();
            let (acceptor, peer) = accepted.unwrap();
            assert_eq!(initiator.peer_addr().unwrap(), server_addr);
            assert_eq!(peer.port(), port);
            talk(acceptor, initiator, seed).await;
        }
    })
    .await;
}

#[tokio::test]
async fn ipv4_datagrams_of_other_protocols_come_and_go_as_ipv4() {
    guard(30, async {
        let hub = UtpSocket::bind("[::]:0").await.unwrap();
        let port = hub.local_addr().unwrap().port();
        let plain = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let plain_addr = plain.local_addr().unwrap();
        // Not uTP: the first byte's version nibble is not 1.
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let mut buf = [0u8; 256];
        let (received, _) = resend_until(
            "ping",
            || async {
                plain.send_to(ping, on("127.0.0.1", port)).await.unwrap();
            },
            hub.recv_foreign(&mut buf),
        )
        .await;
        let (n, from) = received.unwrap();
        assert_eq!(&buf[..n], ping);
        assert_eq!(from, plain_addr);
        let mut back = [0u8; 256];
        let (received, _) = resend_until(
            "pong",
            || async {
                hub.send_foreign(b"pong", from).await.unwrap();
            },
            plain.recv_from(&mut back),
        )
        .await;
        let (m, replier) = received.unwrap();
        assert_eq!(&back[..m], b"pong");
        assert_eq!(replier, on("127.0.0.1", port));
    })
    .await;
}

#[tokio::test]
async fn an_ipv6_only_socket_refuses_ipv4_at_once() {
    guard(10, async {
        let mut config = utp_tokio::DriverConfig::default();
        config.socket.only_v6 = Some(true);
        let only = UtpSocket::bind_with("[::]:0", config).await.unwrap();
        let err = only.connect("127.0.0.1:6881").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    })
    .await;
}
