//! Interop with librqbit-utp 0.7: 16 MiB each way in both directions, closing, refused connections, our RESET.
//!
//! librqbit-utp has no half-close: a FIN it receives while established makes
//! it send its own FIN at once (it can no longer write), and after sending
//! its FIN it takes our next plain ACK for a FIN ("some clients send FIN+ACK
//! as STATE with seq_nr + 1", `stream_dispatch.rs`) when we have sent no data
//! yet, closing before our data arrives. So neither side sends a FIN before
//! the exchange is over: each reads exactly the other's 16 MiB; then the
//! closes are checked.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io;
use std::sync::Arc;
use std::time::Instant;

use common::*;
use librqbit_utp::UtpSocketUdp;
use tokio::io::AsyncWriteExt;
use utp_interop::data::pattern;
use utp_interop::relay::{Direction, Relay, RelayConfig};

/// librqbit-utp raises its own UDP receive buffer (to the kernel's maximum).
async fn rqbit_socket() -> Arc<UtpSocketUdp> {
    UtpSocketUdp::new_udp(loopback()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_to_librqbit_listener_16_mib_each_way() {
    let _serial = serial().await;
    let theirs = rqbit_socket().await;
    let addr = theirs.bind_addr();
    let (a, b) = (pattern(SIZE, SEED_A), pattern(SIZE, SEED_B));
    let server = tokio::spawn({
        let (theirs, a, b) = (theirs.clone(), a.clone(), b.clone());
        async move {
            let (mut r, mut w) = theirs.accept().await.unwrap().split();
            read_exact_and_verify(&mut r, "librqbit server reading A", &a).await;
            let a_done = Instant::now();
            w.write_all(&b).await.unwrap();
            // Its shutdown sends the FIN and resolves once the connection
            // has closed both ways (our FIN, or our ACK of its FIN, which it
            // reads as a FIN: see above).
            w.shutdown().await.unwrap();
            a_done
        }
    });
    let ours = bind_ours().await;
    let phases = guard("our client <-> librqbit", 120, async {
        let mut s = ours.connect(addr).await.unwrap();
        let start = Instant::now();
        s.write_all(&a).await.unwrap();
        read_all_and_verify(&mut s, "our client reading B", &b).await;
        let b_done = Instant::now();
        s.shutdown().await.unwrap();
        eprintln!("our stream: {:?}", s.stats());
        assert_reached_ceiling("librqbit", &s.stats());
        Phases {
            start,
            a_done: server.await.unwrap(),
            b_done,
        }
    })
    .await;
    print_drops("our client <-> librqbit", ours.local_addr().unwrap(), addr);
    report("librqbit-utp", "ours", "librqbit", phases);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librqbit_client_to_our_listener_16_mib_each_way() {
    librqbit_to_our_listener(Listener::Plain).await;
}

/// librqbit-utp as initiator sends nothing after our SYN answer until its
/// application writes (then DATA seq = SYN + 1, ack = our STATE - 1): here
/// it writes first, which completes a cookie handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librqbit_client_to_our_syn_cookie_listener_16_mib_each_way() {
    librqbit_to_our_listener(Listener::Cookies).await;
}

async fn librqbit_to_our_listener(listener: Listener) {
    let _serial = serial().await;
    let theirs = rqbit_socket().await;
    let ours = bind_listener(listener);
    let socket = ours.clone();
    let addr = ours.local_addr().unwrap();
    let (a, b) = (pattern(SIZE, SEED_A), pattern(SIZE, SEED_B));
    let server = tokio::spawn({
        let (a, b) = (a.clone(), b.clone());
        async move {
            let (mut s, _) = ours.accept().await.unwrap();
            read_exact_and_verify(&mut s, "our server reading A", &a).await;
            let a_done = Instant::now();
            s.write_all(&b).await.unwrap();
            s.shutdown().await.unwrap();
            // librqbit-utp answers our FIN with its own at once: the stream
            // ends with nothing more.
            read_all_and_verify(&mut s, "our server reading after its FIN", b"").await;
            eprintln!("our stream: {:?}", s.stats());
            assert_reached_ceiling("librqbit", &s.stats());
            a_done
        }
    });
    let phases = guard("librqbit client <-> our listener", 120, async {
        let (mut r, mut w) = theirs.connect(addr).await.unwrap().split();
        let start = Instant::now();
        w.write_all(&a).await.unwrap();
        read_all_and_verify(&mut r, "librqbit client reading B", &b).await;
        let b_done = Instant::now();
        w.shutdown().await.unwrap();
        Phases {
            start,
            a_done: server.await.unwrap(),
            b_done,
        }
    })
    .await;
    print_drops("librqbit client <-> our listener", addr, theirs.bind_addr());
    listener.check("librqbit-utp", &socket);
    report(
        &format!("librqbit-utp{}", listener.label()),
        "librqbit",
        "ours",
        phases,
    );
}

/// librqbit-utp sends RESET only when a SYN finds its accept queue full (32
/// SYNs waiting for accept()): our connect then fails with
/// ConnectionRefused. The 32 waiting SYNs are hand-made, from a plain UDP
/// socket, so that they are all there before ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librqbit_with_a_full_accept_queue_refuses_our_connect() {
    let theirs = rqbit_socket().await;
    let addr = theirs.bind_addr();
    let raw = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
    for id in 0..32u16 {
        let mut syn = [0u8; 20];
        syn[0] = 0x41; // SYN, version 1
        syn[2..4].copy_from_slice(&(1000 + 2 * id).to_be_bytes());
        syn[12..16].copy_from_slice(&(1u32 << 20).to_be_bytes());
        syn[16..18].copy_from_slice(&1u16.to_be_bytes());
        raw.send_to(&syn, addr).await.unwrap();
    }
    let ours = bind_ours().await;
    let err = guard("connect", 30, ours.connect(addr)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
}

/// The other way: a socket of ours that does not listen answers
/// librqbit-utp's SYN with RESET {the SYN's id, ack_nr = the SYN's seq_nr}
/// (libutp's form). librqbit-utp ignores a RESET while it connects (only a
/// STATE can complete it) and never resends its SYN, so its connect just
/// hangs; the relay shows what we sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_socket_not_listening_answers_librqbit_syn_with_reset() {
    let mut config = utp_tokio::DriverConfig::default();
    config.listen = None;
    let ours = utp_tokio::UtpSocket::from_std(udp_socket(), config).unwrap();
    let relay = Relay::start(
        ours.local_addr().unwrap(),
        RelayConfig::transparent().recording(8),
    )
    .await
    .unwrap();
    let theirs = rqbit_socket().await;
    let via = relay.local_addr();
    let connect = tokio::spawn(async move { theirs.connect(via).await.map(|_| ()) });
    let records = guard("SYN and RESET", 30, relay.wait_for_records(2)).await;
    connect.abort();
    let (syn, reset) = (&records[0].bytes, &records[1].bytes);
    assert_eq!(
        (records[0].direction, records[1].direction),
        (Direction::ToServer, Direction::ToClient)
    );
    assert_eq!(syn[0], 0x41, "librqbit-utp's first datagram is a SYN");
    assert_eq!(reset.len(), 20, "RESET without extensions: {reset:02x?}");
    assert_eq!(reset[0], 0x31, "RESET, version 1");
    assert_eq!(
        reset[2..4],
        syn[2..4],
        "RESET names the SYN's connection id"
    );
    assert_eq!(reset[18..20], syn[16..18], "RESET acks the SYN's seq_nr");
}
