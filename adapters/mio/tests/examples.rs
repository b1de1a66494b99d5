//! The examples' logic, run over loopback so they cannot rot: each example
//! file is compiled in here as a module and its functions driven with
//! exact bytes checked both ways.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::thread;

use utp_mio::UtpListener;

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
#[path = "../examples/mio_manager.rs"]
mod manager;
#[allow(dead_code)]
#[path = "../examples/shared_port.rs"]
mod shared_port;

fn local_listener() -> (UtpListener, SocketAddr) {
    let listener = UtpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// file_client against echo_server, two clients at once: each gets back
/// exactly what it sent.
#[test]
fn file_client_through_echo_server() {
    guard(60, || {
        let (server, addr) = local_listener();
        let serving = thread::spawn(move || echo_server::serve(server));
        let client = move |seed: u64, len: usize| {
            let sent = data(seed, len);
            let mut echoed = Vec::new();
            let counts = file_client::exchange(addr, &sent[..], &mut echoed).unwrap();
            assert_eq!(counts, (len as u64, len as u64));
            assert!(echoed == sent, "seed {seed}: echo differs");
        };
        thread::scope(|s| {
            s.spawn(|| client(1, 300_000));
            s.spawn(|| client(2, 1));
        });
        // An empty file: only the FINs cross.
        client(3, 0);
        assert!(!serving.is_finished(), "the server stopped");
    });
}

/// file_client against a server that writes first, then reads to the end
/// and answers with what it got.
#[test]
fn file_client_when_the_server_writes_first() {
    guard(60, || {
        let (server, addr) = local_listener();
        let sent = data(4, 100_000);
        let expected = sent.clone();
        let serve = thread::spawn(move || {
            let (mut stream, _) = server.accept().unwrap();
            stream.write_all(b"welcome\n").unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).unwrap();
            assert!(got == expected, "the server got other bytes");
            stream.write_all(b"got it").unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut output = Vec::new();
        let counts = file_client::exchange(addr, &sent[..], &mut output).unwrap();
        assert_eq!(output, b"welcome\ngot it");
        assert_eq!(counts, (100_000, 14));
        serve.join().unwrap();
    });
}

/// The shared_port node answers a ping with exactly the bencoded reply,
/// ignores other datagrams, and echoes a uTP stream on the same port.
#[test]
fn shared_port_serves_pings_and_streams() {
    guard(60, || {
        let (node, addr) = local_listener();
        let serving = thread::spawn(move || shared_port::run_node(&node, *b"the node's id: 20 B."));

        // A plain UDP socket: the bytes on the wire.
        let dht = UdpSocket::bind("127.0.0.1:0").unwrap();
        let query = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:xy1:y1:qe";
        let mut buf = [0u8; 1500];
        let (reply, _) = resend_until(
            "pong",
            || {
                // Not a ping: the node must not answer it.
                dht.send_to(b"d1:q4:junke", addr).unwrap();
                dht.send_to(query, addr).unwrap();
            },
            |wait| {
                dht.set_read_timeout(Some(wait)).unwrap();
                let (n, from) = dht.recv_from(&mut buf).ok()?;
                assert_eq!(from, addr);
                Some(buf[..n].to_vec())
            },
        );
        assert_eq!(reply, b"d1:rd2:id20:the node's id: 20 B.e1:t2:xy1:y1:re");

        // The example's own client, on a shared socket: ping, then a stream.
        let (client, _) = local_listener();
        let id = shared_port::ping(&client, addr, *b"some client id, 20 B").unwrap();
        assert_eq!(&id, b"the node's id: 20 B.");
        let sent = data(5, 200_000);
        let mut stream = client.connect(addr).unwrap();
        stream.write_all(&sent).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).unwrap();
        assert!(echoed == sent, "echo differs");
        assert!(!serving.is_finished(), "the node stopped");
    });
}

/// mio_manager: three rounds of 3 connected listeners stopping; each time
/// the manager holds 8 connections again.
#[test]
fn manager_holds_8_while_listeners_stop_and_start() {
    let took = guard(60, || manager::run(3).unwrap());
    assert_eq!(took.len(), 3);
}
