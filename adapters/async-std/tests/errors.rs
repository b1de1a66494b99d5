//! Connection errors over real loopback sockets, under async-std and smol.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{localhost, Rt};
use utp_async_std::{DriverConfig, UtpSocket};

/// A socket that does not listen answers a SYN with RESET.
async fn refused_by_non_listening_socket(_: Rt) {
    let mut config = DriverConfig::default();
    config.listen = None;
    let closed = UtpSocket::bind_with(localhost(), config).await.unwrap();
    let client = UtpSocket::bind(localhost()).await.unwrap();
    let start = Instant::now();
    let err = client
        .connect(closed.local_addr().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // Refused at the first RESET that arrives, long before the connect
    // timeout (10 s); a lost SYN or RESET costs a SYN retransmission (1 s,
    // then 2 s), so only a generous bound.
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert!(closed.endpoint_stats().resets_sent >= 1);
}

/// Nothing bound on the port, and ICMP errors off: TimedOut after the
/// configured connect timeout.
async fn timed_out_when_nothing_bound(_: Rt) {
    let vacant = std::net::UdpSocket::bind(localhost()).unwrap();
    let addr = vacant.local_addr().unwrap();
    drop(vacant);
    let timeout = Duration::from_secs(2);
    let mut config = DriverConfig::default();
    config.config.connect_timeout = timeout;
    // Not told by ICMP either (on Linux that refuses at once: icmp.rs).
    config.socket.icmp_errors = false;
    let client = UtpSocket::bind_with(localhost(), config).await.unwrap();
    let start = Instant::now();
    let err = client.connect(addr).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(
        elapsed >= timeout - Duration::from_millis(50)
            && elapsed < timeout + Duration::from_secs(5),
        "timed out after {elapsed:?}"
    );
}

both_runtimes!(20 => refused_by_non_listening_socket, timed_out_when_nothing_bound);
