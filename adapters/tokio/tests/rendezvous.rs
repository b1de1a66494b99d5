//! Rendezvous connects over loopback UDP and over an in-memory transport:
//! both sides connect to each other at once and get one stream each.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{DriverConfig, MemoryNetwork, Peer, UtpSocket, UtpStream};

mod common;

use common::{data, guard};

/// Both write and read to the end: `a` 200 KB, `b` 300 KB.
async fn exchange<P: Peer + Send + 'static>(a: UtpStream<P>, b: UtpStream<P>) {
    let run = |s: UtpStream<P>, out: Vec<u8>| async move {
        let (mut r, mut w) = s.into_split();
        let writer = async move {
            w.write_all(&out).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let reader = async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        };
        tokio::join!(writer, reader).1
    };
    let (to_b, to_a) = (data(1, 200_000), data(2, 300_000));
    let (at_a, at_b) = tokio::join!(run(a, to_b.clone()), run(b, to_a.clone()));
    assert!(at_b == to_b && at_a == to_a, "bytes intact both ways");
}

#[tokio::test]
async fn two_udp_sockets_meet() {
    guard(60, async {
        // Neither listens: only the rendezvous can connect them.
        let a = UtpSocket::bind_with("127.0.0.1:0", DriverConfig::default().outgoing_only())
            .await
            .unwrap();
        let b = UtpSocket::bind_with("127.0.0.1:0", DriverConfig::default().outgoing_only())
            .await
            .unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (sa, sb) =
            tokio::try_join!(a.connect_rendezvous(b_addr), b.connect_rendezvous(a_addr)).unwrap();
        assert_eq!(
            (sa.peer_addr().unwrap(), sb.peer_addr().unwrap()),
            (b_addr, a_addr)
        );
        let stats = (a.endpoint_stats(), b.endpoint_stats());
        assert_eq!(
            stats.0.rendezvous_lost + stats.1.rendezvous_lost,
            1,
            "{stats:?}"
        );
        exchange(sa, sb).await;
    })
    .await;
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Node(u8);

impl Peer for Node {}

#[tokio::test]
async fn two_nodes_meet_over_a_lossy_transport_one_calling_late() {
    guard(60, async {
        let net = MemoryNetwork::lossy(50_000, 3);
        let a =
            UtpSocket::with_transport(net.join(Node(1)), DriverConfig::with_peer_type()).unwrap();
        let b =
            UtpSocket::with_transport(net.join(Node(2)), DriverConfig::with_peer_type()).unwrap();
        let late = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            b.connect_rendezvous(Node(1)).await
        };
        let (sa, sb) = tokio::try_join!(a.connect_rendezvous(Node(2)), late).unwrap();
        assert_eq!((sa.peer(), sb.peer()), (&Node(2), &Node(1)));
        exchange(sa, sb).await;
    })
    .await;
}
