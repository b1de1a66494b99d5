//! ICMP errors (Linux): a connect to a port nobody listens on fails with
//! `ConnectionRefused` as soon as the port-unreachable message is read
//! from the socket's error queue, not after the connect timeout. (With
//! `icmp_errors` off it times out as before: errors.rs.)
#![cfg(target_os = "linux")]
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::guard;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{DriverConfig, UtpSocket};

/// A loopback address of `family` where nothing listens: a plain UDP
/// socket bound it, then closed.
fn dead_port(family: &str) -> SocketAddr {
    let socket = std::net::UdpSocket::bind(format!("{family}:0")).unwrap();
    socket.local_addr().unwrap()
}

/// SYNs every 200 ms: one lost ICMP message costs that much, and the
/// 1 s guard below still holds; without ICMP the attempt would last the
/// 10 s connect timeout.
fn config() -> DriverConfig {
    let mut config = DriverConfig::default();
    config.config.syn_rto = Duration::from_millis(200);
    config.listen = None;
    config
}

async fn refused(family: &str) {
    refused_from(family, family).await;
}

async fn refused_from(local: &str, family: &str) {
    let dead = dead_port(family);
    let client = UtpSocket::bind_with(format!("{local}:0"), config())
        .await
        .unwrap();
    let start = Instant::now();
    let err = client.connect(dead).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert!(client.driver_stats().socket_errors >= 1);
}

#[tokio::test]
async fn unreachable_port_refuses_at_once_v4() {
    guard(10, refused("127.0.0.1")).await;
}

#[tokio::test]
async fn unreachable_port_refuses_at_once_v6() {
    guard(10, refused("[::1]")).await;
}

#[tokio::test]
async fn unreachable_ipv4_port_refuses_at_once_from_a_dual_stack_socket() {
    guard(10, refused_from("[::]", "127.0.0.1")).await;
}

#[tokio::test]
async fn established_connections_outlive_an_unreachable_peer_elsewhere() {
    // Port unreachable for one address ends only the attempt to it: a
    // connection on the same socket to a live peer goes on.
    guard(20, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind_with("127.0.0.1:0", config()).await.unwrap();
        let accept = tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            s.write_all(b"acceptor first").await.unwrap();
            let mut buf = [0u8; 13];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"initiator now");
            s.shutdown().await.unwrap();
            assert_eq!(s.read(&mut [0u8; 1]).await.unwrap(), 0);
        });
        let mut c = client.connect(addr).await.unwrap();
        let err = client.connect(dead_port("127.0.0.1")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        let mut buf = [0u8; 14];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"acceptor first");
        c.write_all(b"initiator now").await.unwrap();
        c.shutdown().await.unwrap();
        assert_eq!(c.read(&mut [0u8; 1]).await.unwrap(), 0);
        accept.await.unwrap();
    })
    .await;
}
