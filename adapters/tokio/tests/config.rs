//! Configuration through the adapter: every constructor refuses an invalid
//! configuration with `InvalidInput` (the `ConfigError` inside), and the
//! socket-wide send rate limit holds a two-way transfer back.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io;
use std::time::{Duration, Instant};

use common::{data, guard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{ConfigError, DriverConfig, UtpSocket};

/// `min_rto` above `max_rto`: the combination that used to panic.
fn inverted() -> DriverConfig {
    let mut config = DriverConfig::default();
    config.config.min_rto = Duration::from_secs(2);
    config.config.max_rto = Duration::from_secs(1);
    config
}

fn assert_invalid(result: io::Result<UtpSocket>, field: &str) {
    let e = result.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let inner = e.get_ref().unwrap().downcast_ref::<ConfigError>().unwrap();
    assert_eq!(inner.field(), field);
}

#[tokio::test]
async fn invalid_configs_are_invalid_input() {
    guard(10, async {
        assert_invalid(
            UtpSocket::bind_with("127.0.0.1:0", inverted()).await,
            "Config::min_rto",
        );
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_invalid(
            UtpSocket::from_std(std_socket, inverted()),
            "Config::min_rto",
        );
        let tokio_socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_invalid(
            UtpSocket::from_tokio(tokio_socket, inverted()),
            "Config::min_rto",
        );
        let mut config = DriverConfig::default();
        config.listen.as_mut().unwrap().backlog = 0;
        assert_invalid(
            UtpSocket::bind_with("127.0.0.1:0", config).await,
            "ListenConfig::backlog",
        );
        let mut config = DriverConfig::default();
        config.foreign_queue = utp_driver::MAX_FOREIGN_QUEUE + 1;
        assert_invalid(
            UtpSocket::bind_with("127.0.0.1:0", config).await,
            "DriverConfig::foreign_queue",
        );
        let mut config = DriverConfig::default();
        config.foreign_queue = 0;
        UtpSocket::bind_with("127.0.0.1:0", config).await.unwrap();
    })
    .await;
}

/// Both sockets limited to `RATE`: each sends `LEN` bytes, which takes at
/// least what the limit allows, however fast the machine (only this lower
/// bound is checked: a loaded machine is slower, never faster).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_wide_limit_holds_a_transfer_back() {
    const RATE: u64 = 200_000;
    const LEN: usize = 300_000;
    guard(60, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        server.set_max_send_rate(Some(RATE));
        client.set_max_send_rate(Some(RATE));
        let addr = server.local_addr().unwrap();
        async fn duplex(s: utp_tokio::UtpStream, send: u64, recv: u64) {
            let (mut r, mut w) = s.into_split();
            let writer = tokio::spawn(async move {
                w.write_all(&data(send, LEN)).await.unwrap();
                w.shutdown().await.unwrap();
                w
            });
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            assert!(got == data(recv, LEN), "stream {recv} differs");
            drop(writer.await.unwrap());
        }
        let start = Instant::now();
        let srv = tokio::spawn(async move {
            let (s, _) = server.accept().await.unwrap();
            duplex(s, 2, 1).await;
            server
        });
        let s = client.connect(addr).await.unwrap();
        duplex(s, 1, 2).await;
        let server = srv.await.unwrap();
        let took = start.elapsed();
        // Headers add to the bytes the limit counts; the first burst is
        // at most 256 full packets' worth (here ten: 14,020 bytes).
        let least = Duration::from_secs_f64((LEN - 14_020) as f64 / RATE as f64);
        println!("{LEN} bytes each way at {RATE} B/s: {took:?} (at least {least:?})");
        assert!(took >= least, "{took:?} < {least:?}");
        // Lifted, the sockets work on.
        server.set_max_send_rate(None);
        client.set_max_send_rate(None);
    })
    .await;
}
