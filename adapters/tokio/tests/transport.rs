//! uTP over a [`Transport`] that is not UDP: peers named by node ids,
//! 1,024-byte messages, connection ids agreed out of band, either side
//! first, over a lossy in-memory network.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{DriverConfig, MemoryNetwork, MemoryTransport, Peer, Transport, UtpSocket};

mod common;

use common::data;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Node(u32);

impl Peer for Node {
    fn max_packet_size(&self) -> Option<usize> {
        Some(1024)
    }
}

/// A member of the network that records its largest datagram sent.
struct Recorded {
    inner: MemoryTransport<Node>,
    largest: Arc<AtomicUsize>,
}

impl Transport<Node> for Recorded {
    fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, Node)>> {
        self.inner.poll_recv(cx, buf)
    }

    fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8], to: &Node) -> Poll<io::Result<usize>> {
        self.largest.fetch_max(buf.len(), Ordering::Relaxed);
        self.inner.poll_send(cx, buf, to)
    }
}

fn socket(net: &MemoryNetwork<Node>, me: Node, largest: &Arc<AtomicUsize>) -> UtpSocket<Node> {
    let transport = Recorded {
        inner: net.join(me),
        largest: largest.clone(),
    };
    UtpSocket::with_transport(transport, DriverConfig::with_peer_type()).unwrap()
}

/// B expects A with an agreed id and A connects with it; both write and
/// read to the end, the acceptor first unless `initiator_first`.
async fn exchange(initiator_first: bool, loss_ppm: u32) {
    let net = MemoryNetwork::lossy(loss_ppm, 11);
    let largest = Arc::new(AtomicUsize::new(0));
    let a = socket(&net, Node(1), &largest);
    let b = socket(&net, Node(2), &largest);
    let (to_b, to_a) = (data(1, 300_000), data(2, 500_000));
    let id = 0xbeef;
    let expected = b.accept_with_id(Node(1), id, Duration::from_secs(10));
    let acceptor = {
        let to_a = to_a.clone();
        async move {
            let mut s = expected.await?;
            assert_eq!(s.peer(), &Node(1));
            s.write_all(&to_a).await?;
            s.shutdown().await?;
            let mut got = Vec::new();
            s.read_to_end(&mut got).await?;
            io::Result::Ok(got)
        }
    };
    let initiator = {
        let to_b = to_b.clone();
        let a = a.clone();
        async move {
            let mut s = a.connect_with_id(Node(2), id).await?;
            let mut got = Vec::new();
            if !initiator_first {
                // Only once the acceptor's data flows.
                let mut first = [0u8; 1];
                s.read_exact(&mut first).await?;
                got.push(first[0]);
            }
            let (mut r, mut w) = s.into_split();
            let writer = async {
                w.write_all(&to_b).await?;
                w.shutdown().await
            };
            let (written, read) = tokio::join!(writer, r.read_to_end(&mut got));
            written?;
            read?;
            io::Result::Ok(got)
        }
    };
    let (at_b, at_a) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::try_join!(acceptor, initiator)
    })
    .await
    .expect("transfers done in time")
    .unwrap();
    assert!(at_b == to_b, "A's bytes reach B intact");
    assert!(at_a == to_a, "B's bytes reach A intact");
    let largest = largest.load(Ordering::Relaxed);
    assert!(
        largest <= 1024,
        "a {largest}-byte datagram over a 1,024-byte carrier"
    );
    assert!(
        largest > 1000,
        "full packets use the carrier's size ({largest})"
    );
    if loss_ppm > 0 {
        assert!(net.dropped() > 0, "the network dropped datagrams");
    }
}

#[tokio::test]
async fn acceptor_writes_first_over_loss() {
    exchange(false, 20_000).await;
}

#[tokio::test]
async fn initiator_writes_first_over_loss() {
    exchange(true, 20_000).await;
}

#[tokio::test]
async fn acceptor_writes_first_lossless() {
    exchange(false, 0).await;
}

#[tokio::test]
async fn an_expected_connection_times_out_and_ids_are_not_shared() {
    let net = MemoryNetwork::new();
    let largest = Arc::new(AtomicUsize::new(0));
    let b = socket(&net, Node(2), &largest);
    let err = b
        .accept_with_id(Node(1), 7, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let a = socket(&net, Node(1), &largest);
    let first = a.connect_with_id(Node(3), 7);
    let second = a.connect_with_id(Node(3), 7);
    let (first, second) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(100), first),
        second
    );
    assert!(first.is_err(), "nobody at node 3: still connecting");
    assert_eq!(second.unwrap_err().kind(), io::ErrorKind::AddrInUse);
}

#[tokio::test]
async fn plain_connects_and_other_protocols_share_the_transport() {
    let net = MemoryNetwork::new();
    let largest = Arc::new(AtomicUsize::new(0));
    let a = socket(&net, Node(1), &largest);
    let b = socket(&net, Node(2), &largest);
    let (mut s, (mut t, from)) = tokio::try_join!(a.connect_peer(Node(2)), b.accept()).unwrap();
    assert_eq!(from, Node(1));
    s.write_all(b"over a node-id carrier").await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    t.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"over a node-id carrier");
    assert!(
        s.peer_addr().is_err() && s.local_addr().is_err(),
        "no UDP address"
    );
    // A datagram that is not uTP reaches recv_foreign with its sender.
    let foreign = net.join(Node(9));
    let waker = std::task::Waker::noop();
    let sent = foreign.poll_send(&mut Context::from_waker(waker), b"d1:ad2:id20:", &Node(2));
    assert!(matches!(sent, Poll::Ready(Ok(12))));
    let mut buf = [0u8; 64];
    let (n, from) = b.recv_foreign(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"d1:ad2:id20:"[..], Node(9)));
}
