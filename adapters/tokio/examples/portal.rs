//! uTP as the Ethereum Portal Network runs it: over a "talkreq" transport
//! (here in memory) whose peers are 32-byte node ids and whose messages
//! carry at most 1,024 bytes, with connection ids agreed out of band.
//!
//! Two nodes each ask the other for content (FINDCONTENT): the node that
//! has it answers with a random connection id, expects the connection
//! with that id (`accept_with_id`) and, as soon as the requester connects
//! with it (`connect_with_id`), writes the content first, then closes.
//! Then one offers content to the other (OFFER): the one accepting it
//! answers with an id and expects the connection, and the offerer writes.
//! Every transfer is checked byte for byte.
//!
//! ```sh
//! cargo run -p utp-tokio --example portal
//! ```

use std::error::Error;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use utp_tokio::{DriverConfig, MemoryNetwork, Peer, UtpSocket, UtpStream};

/// A node id. Its carrier's messages hold 1,024 bytes of uTP.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct NodeId([u8; 32]);

impl Peer for NodeId {
    fn max_packet_size(&self) -> Option<usize> {
        Some(1024)
    }
}

/// The Portal wire protocol's messages, reduced to what uTP needs: a
/// request, and the answer carrying the connection id.
enum Request {
    FindContent {
        from: NodeId,
        answer: oneshot::Sender<u16>,
    },
    Offer {
        from: NodeId,
        answer: oneshot::Sender<u16>,
    },
}

struct Node {
    id: NodeId,
    socket: UtpSocket<NodeId>,
    /// What this node serves.
    content: Vec<u8>,
}

impl Node {
    /// Answers requests until the channel closes; returns the content
    /// offered to it.
    async fn serve(&self, mut requests: mpsc::Receiver<Request>) -> io::Result<Vec<Vec<u8>>> {
        let mut offered = Vec::new();
        while let Some(request) = requests.recv().await {
            let id = rand_id();
            match request {
                Request::FindContent { from, answer } => {
                    // Expect first, then tell the id (the SYN may follow
                    // the answer at once).
                    let expected = self
                        .socket
                        .accept_with_id(from, id, Duration::from_secs(10));
                    let _ = answer.send(id);
                    let mut stream = expected.await?;
                    // The acceptor writes first.
                    stream.write_all(&self.content).await?;
                    stream.shutdown().await?;
                    let mut rest = Vec::new();
                    stream.read_to_end(&mut rest).await?;
                }
                Request::Offer { from, answer } => {
                    let expected = self
                        .socket
                        .accept_with_id(from, id, Duration::from_secs(10));
                    let _ = answer.send(id);
                    let mut stream = expected.await?;
                    let mut content = Vec::new();
                    stream.read_to_end(&mut content).await?;
                    stream.shutdown().await?;
                    offered.push(content);
                }
            }
        }
        Ok(offered)
    }
}

/// Sends a request made by `make` to `to`'s server, waits for the
/// connection id it answers with, and connects with it.
async fn request(
    me: &Node,
    to: NodeId,
    requests: &mpsc::Sender<Request>,
    make: impl FnOnce(NodeId, oneshot::Sender<u16>) -> Request,
) -> io::Result<UtpStream<NodeId>> {
    let (answer, id) = oneshot::channel();
    requests
        .send(make(me.id, answer))
        .await
        .map_err(|_| io::ErrorKind::BrokenPipe)?;
    let id = id.await.map_err(|_| io::ErrorKind::BrokenPipe)?;
    me.socket.connect_with_id(to, id).await
}

/// Asks `to` for its content: FINDCONTENT, then uTP with the id it gave.
async fn find_content(
    me: &Node,
    to: NodeId,
    requests: &mpsc::Sender<Request>,
) -> io::Result<Vec<u8>> {
    let make = |from, answer| Request::FindContent { from, answer };
    let mut stream = request(me, to, requests, make).await?;
    let mut content = Vec::new();
    stream.read_to_end(&mut content).await?;
    stream.shutdown().await?;
    Ok(content)
}

/// Offers `content` to `to`: OFFER, then uTP with the id it gave, the
/// initiator writing.
async fn offer(
    me: &Node,
    to: NodeId,
    requests: &mpsc::Sender<Request>,
    content: &[u8],
) -> io::Result<()> {
    let make = |from, answer| Request::Offer { from, answer };
    let mut stream = request(me, to, requests, make).await?;
    stream.write_all(content).await?;
    stream.shutdown().await?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    Ok(())
}

/// A random connection id (std's randomly keyed hasher stands in for a
/// random source here).
fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x0075_7470);
    h.finish() as u16
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let summary = run(10_000).await?;
    println!("{summary}");
    Ok(())
}

/// The three transfers over a network that loses `loss_ppm` of the
/// messages; what moved, checked.
pub(crate) async fn run(loss_ppm: u32) -> io::Result<String> {
    let net = MemoryNetwork::lossy(loss_ppm, 7);
    let make = |id: NodeId, content: Vec<u8>| -> io::Result<Arc<Node>> {
        let socket = UtpSocket::with_transport(net.join(id), DriverConfig::with_peer_type())?;
        Ok(Arc::new(Node {
            id,
            socket,
            content,
        }))
    };
    let alice = make(NodeId([0xa1; 32]), content(300_000, 1))?;
    let bob = make(NodeId([0xb0; 32]), content(200_000, 2))?;
    let (to_alice, alice_requests) = mpsc::channel(4);
    let (to_bob, bob_requests) = mpsc::channel(4);
    let alice_server = tokio::spawn({
        let alice = alice.clone();
        async move { alice.serve(alice_requests).await }
    });
    let bob_server = tokio::spawn({
        let bob = bob.clone();
        async move { bob.serve(bob_requests).await }
    });

    let started = Instant::now();
    let offered = content(100_000, 3);
    let (alice_got, bob_got, ()) = tokio::try_join!(
        find_content(&alice, bob.id, &to_bob),
        find_content(&bob, alice.id, &to_alice),
        offer(&alice, bob.id, &to_bob, &offered),
    )?;
    let took = started.elapsed();
    // No more requests: the servers return what was offered to them.
    drop((to_alice, to_bob));
    let offered_to_alice = alice_server.await.map_err(io::Error::other)??;
    let offered_to_bob = bob_server.await.map_err(io::Error::other)??;
    let intact = alice_got == bob.content
        && bob_got == alice.content
        && offered_to_alice.is_empty()
        && offered_to_bob == [offered.clone()];
    if !intact {
        return Err(io::Error::other("content differs"));
    }
    Ok(format!(
        "alice fetched {} bytes from bob (bob writing first), bob {} from alice \
         (alice writing first), alice offered {} to bob; {} messages lost ({loss_ppm} per million); \
         all intact in {took:?}",
        alice_got.len(),
        bob_got.len(),
        offered.len(),
        net.dropped(),
    ))
}
