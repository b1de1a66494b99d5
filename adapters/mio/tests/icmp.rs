//! ICMP errors (Linux), blocking API: a connect to a port nobody listens
//! on fails with `ConnectionRefused` as soon as the port-unreachable
//! message is read. (With `icmp_errors` off it times out as before:
//! blocking.rs.)
#![cfg(target_os = "linux")]
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::guard;
use utp_mio::{DriverConfig, UtpListener, UtpStream};

/// A loopback address of `family` where nothing listens: a plain UDP
/// socket bound it, then closed.
fn dead_port(family: &str) -> SocketAddr {
    let socket = std::net::UdpSocket::bind(format!("{family}:0")).unwrap();
    socket.local_addr().unwrap()
}

/// SYNs every 200 ms, so that a lost ICMP message costs little: without
/// ICMP the attempt would last the 10 s connect timeout.
fn config() -> DriverConfig {
    let mut config = DriverConfig::default();
    config.config.syn_rto = Duration::from_millis(200);
    config.listen = None;
    config
}

fn refused(family: &'static str) {
    let dead = dead_port(family);
    let socket = UtpListener::bind_with(format!("{family}:0"), config()).unwrap();
    let start = Instant::now();
    let err = socket.connect(dead).unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert!(socket.driver_stats().socket_errors >= 1);
}

#[test]
fn unreachable_port_refuses_at_once_v4() {
    guard(10, || refused("127.0.0.1"));
}

#[test]
fn unreachable_port_refuses_at_once_v6() {
    guard(10, || refused("[::1]"));
}

#[test]
fn a_stream_of_its_own_is_refused_at_once() {
    guard(10, || {
        let dead = dead_port("127.0.0.1");
        let start = Instant::now();
        let err = UtpStream::connect_with(dead, config()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(start.elapsed() < Duration::from_secs(1));
    });
}
