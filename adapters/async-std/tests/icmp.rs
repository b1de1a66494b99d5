//! ICMP errors (Linux): a connect to a port nobody listens on fails with
//! `ConnectionRefused` as soon as the port-unreachable message is read,
//! under async-std and smol. (With `icmp_errors` off it times out as
//! before: errors.rs.)
#![cfg(target_os = "linux")]
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Rt;
use utp_async_std::{DriverConfig, UtpSocket};

/// A loopback address of `family` where nothing listens: a plain UDP
/// socket bound it, then closed.
fn dead_port(family: &str) -> SocketAddr {
    let socket = std::net::UdpSocket::bind(format!("{family}:0")).unwrap();
    socket.local_addr().unwrap()
}

/// SYNs every 200 ms, so that a lost ICMP message costs little: without
/// ICMP the attempt would last the 10 s connect timeout.
async fn refused(family: &str) {
    let mut config = DriverConfig::default();
    config.config.syn_rto = Duration::from_millis(200);
    config.listen = None;
    let dead = dead_port(family);
    let client = UtpSocket::bind_with(format!("{family}:0"), config)
        .await
        .unwrap();
    let start = Instant::now();
    let err = client.connect(dead).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert!(client.driver_stats().socket_errors >= 1);
}

async fn unreachable_port_refuses_at_once_v4(_: Rt) {
    refused("127.0.0.1").await;
}

async fn unreachable_port_refuses_at_once_v6(_: Rt) {
    refused("[::1]").await;
}

both_runtimes!(10 => unreachable_port_refuses_at_once_v4, unreachable_port_refuses_at_once_v6);
