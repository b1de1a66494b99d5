//! Interop with libutp, the reference C++ stack (through the crate `libutp-rs2`): 16 MiB each way in both directions, half-close, reset.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use common::*;
use libutp_rs2::{UtpOpts, UtpUdpContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_interop::data::pattern;
use utp_interop::relay::{Relay, RelayConfig};

/// A libutp context on a fresh loopback port, its UDP receive buffer raised
/// to 4 MiB (`UtpOpts::udp_rcvbuf` does the same): with the default 208 KiB
/// libutp-rs2 loses datagrams at loopback speed (INTEROP.md).
async fn libutp_context() -> (Arc<UtpUdpContext>, SocketAddr) {
    let sock = tokio::net::UdpSocket::from_std(udp_socket()).unwrap();
    let addr = sock.local_addr().unwrap();
    (UtpUdpContext::new(sock, UtpOpts::default()).unwrap(), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_to_libutp_listener_16_mib_each_way_with_half_close() {
    our_client_to_libutp(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_to_libutp_listener_through_a_lossy_relay() {
    our_client_to_libutp(Some(RelayConfig::lossy(0x5EED_0011))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libutp_client_to_our_listener_16_mib_each_way_with_half_close() {
    libutp_to_our_listener(None, Listener::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libutp_client_to_our_listener_through_a_lossy_relay() {
    libutp_to_our_listener(Some(RelayConfig::lossy(0x5EED_0012)), Listener::Plain).await;
}

/// libutp as initiator sends nothing after our SYN answer until its
/// application writes (then DATA seq = SYN + 1, ack = our STATE - 1; its
/// first keepalive, ack = STATE - 2, comes 29 s later): here it writes
/// first, which completes a cookie handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libutp_client_to_our_syn_cookie_listener_16_mib_each_way_with_half_close() {
    libutp_to_our_listener(None, Listener::Cookies).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libutp_client_to_our_syn_cookie_listener_through_a_lossy_relay() {
    libutp_to_our_listener(Some(RelayConfig::lossy(0x5EED_0013)), Listener::Cookies).await;
}

/// The relay (if any) goes in front of the listener; the label for the
/// throughput lines.
async fn front(
    listener: SocketAddr,
    relay: Option<RelayConfig>,
) -> (Option<Relay>, SocketAddr, &'static str) {
    match relay {
        Some(config) => {
            let relay = Relay::start(listener, config).await.unwrap();
            let addr = relay.local_addr();
            (Some(relay), addr, "libutp, lossy relay")
        }
        None => (None, listener, "libutp"),
    }
}

async fn our_client_to_libutp(relay: Option<RelayConfig>) {
    let _serial = serial().await;
    let (ctx, addr) = libutp_context().await;
    let (relay, target, label) = front(addr, relay).await;
    let (a, b) = (pattern(SIZE, SEED_A), pattern(SIZE, SEED_B));
    // Accepting before we connect (see `accepting`).
    let server = accepting({
        let (ctx, a, b) = (ctx.clone(), a.clone(), b.clone());
        async move {
            let mut s = ctx.accept().await.unwrap();
            // Reads until our FIN.
            read_all_and_verify(&mut s, "libutp server reading A", &a).await;
            let a_done = Instant::now();
            // Half-close: libutp still sends after it received our FIN.
            s.write_all(&b).await.unwrap();
            // libutp-rs2's shutdown also stops reading (SHUT_RDWR); dropping
            // the stream is utp_close: a FIN after the data.
            drop(s);
            a_done
        }
    })
    .await;
    let ours = bind_ours().await;
    let phases = guard("our client <-> libutp", 120, async {
        let mut s = ours.connect(target).await.unwrap();
        let start = Instant::now();
        let b_done = our_client_side(&mut s, &a, &b).await;
        eprintln!("our stream: {:?}", s.stats());
        assert_reached_ceiling("libutp", &s.stats());
        Phases {
            start,
            a_done: server.await.unwrap(),
            b_done,
        }
    })
    .await;
    print_drops("our client <-> libutp", ours.local_addr().unwrap(), addr);
    if let Some(relay) = relay {
        eprintln!("relay: {:?}", relay.stats());
    }
    report(label, "ours", "libutp", phases);
}

async fn libutp_to_our_listener(relay: Option<RelayConfig>, listener: Listener) {
    let _serial = serial().await;
    let (ctx, theirs) = libutp_context().await;
    let ours = bind_listener(listener);
    let socket = ours.clone();
    let addr = ours.local_addr().unwrap();
    let (relay, target, label) = front(addr, relay).await;
    let (a, b) = (pattern(SIZE, SEED_A), pattern(SIZE, SEED_B));
    let server = tokio::spawn({
        let (a, b) = (a.clone(), b.clone());
        async move {
            let (mut s, _) = ours.accept().await.unwrap();
            // libutp-rs2 cannot send a FIN and keep reading, so the client
            // sends A without a FIN and we read exactly its length.
            read_exact_and_verify(&mut s, "our server reading A", &a).await;
            let a_done = Instant::now();
            s.write_all(&b).await.unwrap();
            s.shutdown().await.unwrap();
            // Half-close: after our FIN we still receive the client's last
            // words and then its FIN.
            read_all_and_verify(&mut s, "our server reading after its FIN", b"libutp done").await;
            eprintln!("our stream: {:?}", s.stats());
            assert_reached_ceiling("libutp", &s.stats());
            a_done
        }
    });
    let phases = guard("libutp client <-> our listener", 120, async {
        let mut c = ctx.connect(target).await.unwrap();
        let start = Instant::now();
        c.write_all(&a).await.unwrap();
        read_all_and_verify(&mut c, "libutp client reading B", &b).await;
        let b_done = Instant::now();
        c.write_all(b"libutp done").await.unwrap();
        drop(c); // utp_close: FIN
        Phases {
            start,
            a_done: server.await.unwrap(),
            b_done,
        }
    })
    .await;
    print_drops("libutp client <-> our listener", addr, theirs);
    if let Some(relay) = relay {
        eprintln!("relay: {:?}", relay.stats());
    }
    listener.check("libutp", &socket);
    report(
        &format!("{label}{}", listener.label()),
        "libutp",
        "ours",
        phases,
    );
}

/// libutp answers every SYN with a STATE before its application sees the
/// connection; libutp-rs2 closes a connection nobody is accepting at once,
/// and libutp then answers our next packet with RESET: our stream reports
/// ConnectionReset (not Refused: the handshake had completed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libutp_not_accepting_resets_our_connection() {
    let (_ctx, addr) = libutp_context().await;
    let ours = bind_ours().await;
    let mut s = guard("connect", 30, ours.connect(addr)).await.unwrap();
    s.write_all(b"anyone there?").await.unwrap();
    let mut buf = [0u8; 16];
    let err = guard("read", 30, s.read(&mut buf)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
}
