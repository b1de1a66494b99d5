//! The examples' logic, run over loopback under async-std and smol so they
//! cannot rot: each example file is compiled in here as a module and its
//! functions driven with exact bytes checked both ways.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use std::net::SocketAddr;

use async_io::Async;
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use utp_async_std::UtpSocket;

use common::{localhost, resend_until, Pattern, Rt};

// `main` and the argument parsing are used only by the examples themselves.
#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;
#[allow(dead_code)]
#[path = "../examples/file_client.rs"]
mod file_client;
#[allow(dead_code)]
#[path = "../examples/async_std_manager.rs"]
mod manager;
#[allow(dead_code)]
#[path = "../examples/shared_port.rs"]
mod shared_port;

async fn local_socket() -> (UtpSocket, SocketAddr) {
    let socket = UtpSocket::bind(localhost()).await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

both_runtimes!(60 =>
    file_client_through_echo_server,
    file_client_when_the_server_writes_first,
    shared_port_serves_pings_and_streams,
);

/// file_client against echo_server, two clients at once: each gets back
/// exactly what it sent.
async fn file_client_through_echo_server(rt: Rt) {
    let (server, addr) = local_socket().await;
    let serving = rt.spawn(echo_server::serve(server));
    let client = |seed: u64, len: usize| async move {
        let sent = Pattern::bytes(seed, len);
        let mut echoed = Vec::new();
        let counts = file_client::exchange(addr, &sent[..], &mut echoed)
            .await
            .unwrap();
        assert_eq!(counts, (len as u64, len as u64));
        assert!(echoed == sent, "seed {seed}: echo differs");
    };
    future::zip(client(1, 300_000), client(2, 1)).await;
    // An empty file: only the FINs cross.
    client(3, 0).await;
    // The server still serves.
    assert!(
        future::poll_once(serving).await.is_none(),
        "the server stopped"
    );
}

/// file_client against a server that writes first, then reads to the end
/// and answers with what it got.
async fn file_client_when_the_server_writes_first(rt: Rt) {
    let (server, addr) = local_socket().await;
    let sent = Pattern::bytes(4, 100_000);
    let expected = sent.clone();
    let serve = rt.spawn(async move {
        let (mut stream, _) = server.accept().await.unwrap();
        stream.write_all(b"welcome\n").await.unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        assert!(got == expected, "the server got other bytes");
        stream.write_all(b"got it").await.unwrap();
        stream.close().await.unwrap();
    });
    let mut output = Vec::new();
    let counts = file_client::exchange(addr, &sent[..], &mut output)
        .await
        .unwrap();
    assert_eq!(output, b"welcome\ngot it");
    assert_eq!(counts, (100_000, 14));
    serve.await;
}

/// The shared_port node answers a ping with exactly the bencoded reply,
/// ignores other datagrams, and echoes a uTP stream on the same port.
async fn shared_port_serves_pings_and_streams(rt: Rt) {
    let (node, addr) = local_socket().await;
    let serving = rt.spawn(shared_port::run_node(node, *b"the node's id: 20 B."));

    // A plain UDP socket: the bytes on the wire.
    let dht = Async::<std::net::UdpSocket>::bind(localhost()).unwrap();
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
    let sent = Pattern::bytes(5, 200_000);
    let mut stream = client.connect(addr).await.unwrap();
    stream.write_all(&sent).await.unwrap();
    stream.close().await.unwrap();
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).await.unwrap();
    assert!(echoed == sent, "echo differs");
    assert!(
        future::poll_once(serving).await.is_none(),
        "the node stopped"
    );
}

/// async_std_manager (on async-std, which its listeners spawn on): three
/// rounds of 3 connected listeners stopping; each time the manager holds
/// 8 connections again.
#[test]
fn manager_holds_8_while_listeners_stop_and_start() {
    Rt::AsyncStd.run(60, |_| async {
        let took = manager::run(3).await.unwrap();
        assert_eq!(took.len(), 3);
    });
}
