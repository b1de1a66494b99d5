//! Socket options: buffer sizes as granted, dual stack, resolvable
//! addresses.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io::ErrorKind;

use common::guard;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{DriverConfig, SocketOptions, UtpSocket};

#[cfg(target_os = "linux")]
fn sysctl(name: &str) -> usize {
    let path = format!("/proc/sys/net/core/{name}");
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// What Linux reports for the default receive buffer (4 MiB asked): it
/// grants up to `rmem_max`, and reports twice the grant.
#[cfg(target_os = "linux")]
fn default_recv_buffer() -> usize {
    2 * (4 << 20usize).min(sysctl("rmem_max"))
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_receive_buffer_is_raised_as_far_as_the_system_lets() {
    let socket = UtpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(socket.recv_buffer_size().unwrap(), default_recv_buffer());

    let mut config = DriverConfig::default();
    config.socket.recv_buffer = None;
    config.socket.send_buffer = Some(64 << 10);
    let plain = UtpSocket::bind_with("127.0.0.1:0", config).await.unwrap();
    assert_eq!(plain.recv_buffer_size().unwrap(), sysctl("rmem_default"));
    assert_eq!(plain.send_buffer_size().unwrap(), 2 * (64 << 10));
}

#[tokio::test]
async fn from_std_checks_only_v6_and_sets_the_rest() {
    let mut only = SocketOptions::default();
    only.only_v6 = Some(true);
    let v6only = utp_driver::bind_udp("[::]:0", &only).unwrap();
    let mut config = DriverConfig::default();
    config.socket.only_v6 = Some(false);
    let err = UtpSocket::from_std(v6only, config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

    let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let _socket = UtpSocket::from_std(std, DriverConfig::default()).unwrap();
    #[cfg(target_os = "linux")]
    assert_eq!(_socket.recv_buffer_size().unwrap(), default_recv_buffer());
}

#[tokio::test]
async fn bind_and_connect_resolve_names() {
    guard(20, async {
        // "localhost" may resolve to ::1 first: the IPv4 socket takes the
        // first address of its family.
        let server = UtpSocket::bind(("127.0.0.1", 0)).await.unwrap();
        let port = server.local_addr().unwrap().port();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let accept = tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            s.write_all(b"named").await.unwrap();
            s.shutdown().await.unwrap();
            let mut back = Vec::new();
            s.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, b"resolved");
        });
        let mut c = client.connect(format!("localhost:{port}")).await.unwrap();
        assert_eq!(
            c.peer_addr().unwrap(),
            format!("127.0.0.1:{port}").parse().unwrap()
        );
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"named");
        c.write_all(b"resolved").await.unwrap();
        c.shutdown().await.unwrap();
        accept.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn no_address_of_the_family_is_invalid_input() {
    let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
    let err = client.connect("[::1]:6881").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("IPv4"), "{err}");
}
