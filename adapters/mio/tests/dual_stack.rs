//! Blocking API: one socket bound to `[::]` (dual stack, the default)
//! accepts from and connects to both IPv4 and IPv6 peers, reporting IPv4
//! peers as plain IPv4 addresses.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread;

use common::{data, guard};
use utp_mio::{UtpListener, UtpStream};

/// The acceptor writes first and shuts down; the initiator reads it all,
/// answers and shuts down; each checks every byte.
fn talk(acceptor: UtpStream, mut initiator: UtpStream, seed: u64) {
    let first = data(seed, 40_000);
    let second = data(seed + 1, 30_000);
    let expected = second.clone();
    let sent = first.clone();
    let a = thread::spawn(move || {
        let mut acceptor = acceptor;
        acceptor.write_all(&sent).unwrap();
        acceptor.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        acceptor.read_to_end(&mut got).unwrap();
        assert_eq!(got, expected);
    });
    let mut got = Vec::new();
    initiator.read_to_end(&mut got).unwrap();
    assert_eq!(got, first);
    initiator.write_all(&second).unwrap();
    initiator.shutdown(std::net::Shutdown::Write).unwrap();
    a.join().unwrap();
}

fn on(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

#[test]
fn one_socket_serves_both_families() {
    guard(30, || {
        let hub = UtpListener::bind("[::]:0").unwrap();
        let port = hub.local_addr().unwrap().port();
        let v4 = UtpListener::bind("127.0.0.1:0").unwrap();
        let v6 = UtpListener::bind("[::1]:0").unwrap();
        let (v4_addr, v6_addr) = (v4.local_addr().unwrap(), v6.local_addr().unwrap());

        thread::scope(|scope| {
            // Incoming over IPv4, then over IPv6.
            for (client, client_addr, server_ip, seed) in
                [(&v4, v4_addr, "127.0.0.1", 10), (&v6, v6_addr, "[::1]", 20)]
            {
                let accepting = scope.spawn(|| hub.accept().unwrap());
                let initiator = client.connect(on(server_ip, port)).unwrap();
                let (acceptor, peer) = accepting.join().unwrap();
                assert_eq!(peer, client_addr);
                assert_eq!(acceptor.peer_addr().unwrap(), client_addr);
                assert_eq!(initiator.peer_addr().unwrap(), on(server_ip, port));
                talk(acceptor, initiator, seed);
            }

            // Outgoing to an IPv4 address, given as such, and to an IPv6
            // one (resolved from a string).
            for (server, server_addr, seed) in [(&v4, v4_addr, 30), (&v6, v6_addr, 40)] {
                let accepting = scope.spawn(|| server.accept().unwrap());
                let initiator = hub.connect(server_addr.to_string()).unwrap();
                let (acceptor, peer) = accepting.join().unwrap();
                assert_eq!(initiator.peer_addr().unwrap(), server_addr);
                assert_eq!(peer.port(), port);
                talk(acceptor, initiator, seed);
            }
        });
    });
}
