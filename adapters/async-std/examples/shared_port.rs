//! One UDP port for uTP and another protocol, the way BitTorrent clients
//! share theirs with the DHT: datagrams that are not uTP come out of
//! `recv_foreign`, and `send_foreign` answers from the same port.
//!
//! A node answers DHT pings (a bencoded KRPC `ping`, BEP 5) and echoes uTP
//! streams on one port; a client, itself on one shared socket, pings it and
//! then opens a stream to the same address. Runs on smol.
//!
//! ```sh
//! cargo run -p utp-async-std --example async_std_shared_port -- --port 6881
//! ```

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{future, Timer};
use utp_async_std::UtpSocket;

/// DHT node ids are 20 bytes.
type NodeId = [u8; 20];

fn main() -> Result<(), Box<dyn Error>> {
    let port = port_arg()?;
    smol::block_on(async {
        let node = UtpSocket::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let addr = node.local_addr()?;
        println!("node on {addr}: DHT pings and uTP streams");
        smol::spawn(run_node(node, *b"example node id, 20B")).detach();

        let client = UtpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let id = ping(&client, addr, *b"example client id 20").await?;
        println!("ping answered by {:?}", String::from_utf8_lossy(&id));
        let mut stream = client.connect(addr).await?;
        stream.write_all(b"hello over uTP").await?;
        stream.close().await?; // half-close: we can still read
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).await?;
        println!("echoed {:?}", String::from_utf8_lossy(&echoed));
        Ok(())
    })
}

/// Serves both protocols on `socket` until it fails: pings are answered
/// with `id`, streams echoed.
pub(crate) async fn run_node(socket: UtpSocket, id: NodeId) -> io::Result<()> {
    future::try_zip(answer_pings(&socket, id), echo_streams(&socket)).await?;
    Ok(())
}

async fn answer_pings(socket: &UtpSocket, id: NodeId) -> io::Result<()> {
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = socket.recv_foreign(&mut buf).await?;
        // Anything else that is not uTP (junk, other queries) is ignored.
        if let Some(t) = buf.get(..n).and_then(parse_ping) {
            socket.send_foreign(&pong(&id, t), from).await?;
        }
    }
}

async fn echo_streams(socket: &UtpSocket) -> io::Result<()> {
    loop {
        let (stream, _peer) = socket.accept().await?;
        smol::spawn(async move {
            let (reader, mut writer) = stream.into_split();
            smol::io::copy(reader, &mut writer).await?;
            writer.close().await
        })
        .detach();
    }
}

/// Pings `node` from `socket` as node `id`; returns the id that answers.
/// Either datagram may be lost, so the query goes out up to five times.
pub(crate) async fn ping(socket: &UtpSocket, node: SocketAddr, id: NodeId) -> io::Result<NodeId> {
    let t = *b"pg";
    let mut buf = [0u8; 1500];
    for _ in 0..5 {
        socket.send_foreign(&ping_query(&id, t), node).await?;
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            let timeout = async {
                Timer::at(deadline).await;
                None
            };
            let Some(got) =
                future::or(async { Some(socket.recv_foreign(&mut buf).await) }, timeout).await
            else {
                break; // send again
            };
            let (n, from) = got?;
            match buf.get(..n).and_then(|reply| parse_pong(reply, t)) {
                Some(id) if from == node => return Ok(id),
                _ => {} // something else: keep waiting
            }
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no answer to ping"))
}

/// `{"a": {"id": id}, "q": "ping", "t": t, "y": "q"}`, bencoded.
fn ping_query(id: &NodeId, t: [u8; 2]) -> Vec<u8> {
    [&b"d1:ad2:id20:"[..], id, b"e1:q4:ping1:t2:", &t, b"1:y1:qe"].concat()
}

/// `{"r": {"id": id}, "t": t, "y": "r"}`, bencoded.
fn pong(id: &NodeId, t: [u8; 2]) -> Vec<u8> {
    [&b"d1:rd2:id20:"[..], id, b"e1:t2:", &t, b"1:y1:re"].concat()
}

/// The transaction id of a ping laid out as [`ping_query`] writes it (a
/// real node parses any bencoding).
fn parse_ping(msg: &[u8]) -> Option<[u8; 2]> {
    let rest = msg.strip_prefix(b"d1:ad2:id20:")?.get(20..)?;
    let t = rest
        .strip_prefix(b"e1:q4:ping1:t2:")?
        .strip_suffix(b"1:y1:qe")?;
    t.try_into().ok()
}

/// The node id in an answer to ping `t`, laid out as [`pong`] writes it.
fn parse_pong(msg: &[u8], t: [u8; 2]) -> Option<NodeId> {
    let (id, rest) = msg.strip_prefix(b"d1:rd2:id20:")?.split_at_checked(20)?;
    let rest = rest.strip_prefix(b"e1:t2:")?.strip_prefix(&t)?;
    (rest == b"1:y1:re").then(|| id.try_into().ok()).flatten()
}

/// `--port PORT`; without it, any free port.
fn port_arg() -> Result<u16, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(0),
        [flag, port] if flag == "--port" => port.parse().map_err(|e| format!("--port {port}: {e}")),
        _ => Err("usage: shared_port [--port PORT]".into()),
    }
}
