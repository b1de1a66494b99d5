//! The examples' logic, run over loopback so they cannot rot: each example
//! file is compiled in here as a module and its functions driven with
//! exact bytes checked both ways.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    // Each example that measures includes examples/support/procfs.rs itself.
    clippy::duplicate_mod
)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use utp_tokio::UtpSocket;

mod common;

use common::{data, guard, resend_until};

// `main` and the argument parsing are used only by the examples themselves.
#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;
#[allow(dead_code)]
#[path = "../examples/file_client.rs"]
mod file_client;
#[allow(dead_code)]
#[path = "../examples/manager.rs"]
mod manager;
#[allow(dead_code)]
#[path = "../examples/many_connections.rs"]
mod many_connections;
#[allow(dead_code)]
#[path = "../examples/portal.rs"]
mod portal;
#[allow(dead_code)]
#[path = "../examples/sharded.rs"]
mod sharded;
#[allow(dead_code)]
#[path = "../examples/shared_port.rs"]
mod shared_port;

async fn local_socket() -> (UtpSocket, SocketAddr) {
    let socket = UtpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// file_client against echo_server, two clients at once: each gets back
/// exactly what it sent.
#[tokio::test]
async fn file_client_through_echo_server() {
    guard(60, async {
        let (server, addr) = local_socket().await;
        let serving = tokio::spawn(echo_server::serve(server));
        let client = |seed: u64, len: usize| async move {
            let sent = data(seed, len);
            let mut echoed = Vec::new();
            let counts = file_client::exchange(addr, &sent[..], &mut echoed)
                .await
                .unwrap();
            assert_eq!(counts, (len as u64, len as u64));
            assert!(echoed == sent, "seed {seed}: echo differs");
        };
        tokio::join!(client(1, 300_000), client(2, 1));
        // An empty file: only the FINs cross.
        client(3, 0).await;
        assert!(!serving.is_finished(), "the server stopped");
    })
    .await;
}

/// file_client against a server that writes first, then reads to the end
/// and answers with what it got.
#[tokio::test]
async fn file_client_when_the_server_writes_first() {
    guard(60, async {
        let (server, addr) = local_socket().await;
        let sent = data(4, 100_000);
        let expected = sent.clone();
        let serve = tokio::spawn(async move {
            let (mut stream, _) = server.accept().await.unwrap();
            stream.write_all(b"welcome\n").await.unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).await.unwrap();
            assert!(got == expected, "the server got other bytes");
            stream.write_all(b"got it").await.unwrap();
            stream.shutdown().await.unwrap();
        });
        let mut output = Vec::new();
        let counts = file_client::exchange(addr, &sent[..], &mut output)
            .await
            .unwrap();
        assert_eq!(output, b"welcome\ngot it");
        assert_eq!(counts, (100_000, 14));
        serve.await.unwrap();
    })
    .await;
}

/// The shared_port node answers a ping with exactly the bencoded reply,
/// ignores other datagrams, and echoes a uTP stream on the same port.
#[tokio::test]
async fn shared_port_serves_pings_and_streams() {
    guard(60, async {
        let (node, addr) = local_socket().await;
        let node_id = *b"the node's id: 20 B.";
        let serving = tokio::spawn(shared_port::run_node(node, node_id));

        // A plain UDP socket: the bytes on the wire.
        let dht = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let query = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:xy1:y1:qe";
        let mut buf = [0u8; 1500];
        let (reply, _) = resend_until(
            "pong",
            || async {
                // Not a ping: the node must not answer it.
                dht.send_to(b"d1:q4:junke", addr).await.unwrap();
                dht.send_to(query, addr).await.unwrap();
            },
            async {
                let (n, from) = dht.recv_from(&mut buf).await.unwrap();
                assert_eq!(from, addr);
                buf[..n].to_vec()
            },
        )
        .await;
        assert_eq!(reply, b"d1:rd2:id20:the node's id: 20 B.e1:t2:xy1:y1:re");

        // The example's own client, on a shared socket: ping, then a stream.
        let (client, _) = local_socket().await;
        let id = shared_port::ping(&client, addr, *b"some client id, 20 B")
            .await
            .unwrap();
        assert_eq!(&id, b"the node's id: 20 B.");
        let sent = data(5, 200_000);
        let mut stream = client.connect(addr).await.unwrap();
        stream.write_all(&sent).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).await.unwrap();
        assert!(echoed == sent, "echo differs");
        assert!(!serving.is_finished(), "the node stopped");
    })
    .await;
}

/// manager: three rounds of 3 connected listeners stopping; each time the
/// manager holds 8 connections again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_holds_8_while_listeners_stop_and_start() {
    let took = guard(60, manager::run(3)).await.unwrap();
    assert_eq!(took.len(), 3);
}

/// The Portal example: content both ways between two node ids with ids
/// agreed out of band, the holder writing first, over a lossy in-memory
/// transport; every byte checked by the example.
#[tokio::test]
async fn portal_moves_content_both_ways() {
    guard(60, async {
        let summary = portal::run(20_000).await.unwrap();
        assert!(summary.contains("all intact"), "{summary}");
    })
    .await;
}

/// The many-connections example, small: 300 connections on one socket
/// pair, 1 MiB on one of them, checked by the example.
#[tokio::test]
async fn many_connections_on_one_socket() {
    guard(60, async {
        let summary = many_connections::run(300, 1, std::time::Duration::from_millis(200))
            .await
            .unwrap();
        assert!(summary.starts_with("300 connections"), "{summary}");
        // And 10 connections sending 4 MiB at once, each checked.
        let rate = many_connections::aggregate(10, 4).await.unwrap();
        assert!(rate > 0.0);
    })
    .await;
}

/// The sharded example, small: 8 clients of 1 MiB against 1 shard and 2,
/// every stream checked by the example (and its byte count sent back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_against_one_shard_and_two() {
    guard(120, async {
        for shards in [1, 2] {
            let f = sharded::run(shards, 8, 1, None).await.unwrap();
            assert!(f.mib_per_s > 0.0 && f.cpu_per_gib >= 0.0, "{f:?}");
        }
    })
    .await;
}
