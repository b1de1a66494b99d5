//! GSO/GRO batching through quinn-udp: on by default on Linux, off on request.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use common::{data, guard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{DriverConfig, DriverStats, UtpSocket};

/// Moves 4 MiB from a client to a listener, both made with `batching`;
/// returns the sender's and the receiver's driver counters.
async fn transfer(batching: bool) -> (DriverStats, DriverStats) {
    let config = |listen| {
        let mut config = DriverConfig::default();
        config.batching = batching;
        config.listen = listen;
        config
    };
    let server = UtpSocket::bind_with("127.0.0.1:0", config(Some(Default::default())))
        .await
        .unwrap();
    let client = UtpSocket::bind_with("127.0.0.1:0", config(None))
        .await
        .unwrap();
    let payload = data(11, 4 << 20);
    let addr = server.local_addr().unwrap();
    let reader = tokio::spawn({
        let server = server.clone();
        async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        }
    });
    let mut s = client.connect(addr).await.unwrap();
    s.write_all(&payload).await.unwrap();
    s.shutdown().await.unwrap();
    assert!(reader.await.unwrap() == payload, "data differs");
    (client.driver_stats(), server.driver_stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_sends_several_datagrams_per_call_on_linux() {
    let (sent, _) = guard(60, transfer(true)).await;
    eprintln!("batching: {sent:?}");
    if cfg!(target_os = "linux") {
        assert!(
            sent.datagrams_sent > 2 * sent.send_calls,
            "GSO should carry several datagrams per call: {sent:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_batching_every_call_moves_one_datagram() {
    let (sent, received) = guard(60, transfer(false)).await;
    assert_eq!(sent.datagrams_sent, sent.send_calls);
    assert_eq!(received.datagrams_received, received.recv_calls);
}
