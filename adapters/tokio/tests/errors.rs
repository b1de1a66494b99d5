//! Connection errors over loopback: refused, timed out, reset by the peer.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{guard, read_until_reset};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{DriverConfig, UtpSocket};

#[tokio::test]
async fn refused_when_not_listening() {
    guard(10, async {
        let mut config = DriverConfig::default();
        config.listen = None;
        let closed = UtpSocket::bind_with("127.0.0.1:0", config).await.unwrap();
        let addr = closed.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = client.connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    })
    .await;
}

#[tokio::test]
async fn timed_out_when_nothing_bound() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    guard(10, async {
        // A port that was free a moment ago.
        let addr = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut config = DriverConfig::default();
        config.config.connect_timeout = TIMEOUT;
        // Not told by ICMP either (on Linux that refuses at once: icmp.rs).
        config.socket.icmp_errors = false;
        let client = UtpSocket::bind_with("127.0.0.1:0", config).await.unwrap();
        let start = Instant::now();
        let err = client.connect(addr).await.unwrap_err();
        let elapsed = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(
            elapsed >= TIMEOUT - Duration::from_millis(20),
            "{elapsed:?}"
        );
        assert!(elapsed < TIMEOUT + Duration::from_secs(5), "{elapsed:?}");
    })
    .await;
}

#[tokio::test]
async fn other_address_family_is_invalid_input() {
    guard(10, async {
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = client.connect("[::1]:6881").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    })
    .await;
}

#[tokio::test]
async fn peer_abort_resets() {
    guard(10, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut c = client.connect(addr).await.unwrap();
        let (mut s, _) = server.accept().await.unwrap();
        c.write_all(b"before the reset").await.unwrap();
        let mut buf = [0u8; 16];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"before the reset");
        // The server waits in read when the abort comes.
        let reader = tokio::spawn(async move { (read_until_reset(&mut s).await, s) });
        tokio::task::yield_now().await;
        c.abort();
        let (kind, mut s) = reader.await.unwrap();
        assert_eq!(kind, ErrorKind::ConnectionReset);
        assert_eq!(
            s.write(b"x").await.unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
    })
    .await;
}

#[tokio::test]
async fn abort_wakes_a_blocked_writer() {
    // The client writes far more than the send and receive buffers hold
    // while the server reads only the start: the writer parks on a full
    // window and must learn of the RESET.
    guard(10, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let c = client.connect(addr).await.unwrap();
        let (mut s, _) = server.accept().await.unwrap();
        let (_r, mut w) = c.into_split();
        let writer = tokio::spawn(async move {
            let chunk = vec![7u8; 1 << 20];
            for _ in 0..16 {
                w.write_all(&chunk).await?;
            }
            Ok::<_, std::io::Error>(())
        });
        let mut start = vec![0u8; 64 << 10];
        s.read_exact(&mut start).await.unwrap();
        assert!(start.iter().all(|&b| b == 7));
        s.abort();
        let err = writer.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    })
    .await;
}
