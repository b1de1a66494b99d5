//! One UDP port for uTP and another protocol, the way BitTorrent clients
//! share theirs with the DHT: datagrams that are not uTP come out of
//! `recv_foreign`, and `send_foreign` answers from the same port.
//!
//! A node answers DHT pings (a bencoded KRPC `ping`, BEP 5) and echoes uTP
//! streams on one port; a client, itself on one shared socket, pings it and
//! then opens a stream to the same address. Blocking, a thread per task.
//!
//! ```sh
//! cargo run -p utp-mio --example mio_shared_port -- --port 6881
//! ```

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use utp_mio::UtpListener;

/// DHT node ids are 20 bytes.
type NodeId = [u8; 20];

fn main() -> Result<(), Box<dyn Error>> {
    let node = UtpListener::bind(("127.0.0.1", port_arg()?))?;
    let addr = node.local_addr()?;
    println!("node on {addr}: DHT pings and uTP streams");
    thread::spawn(move || run_node(&node, *b"example node id, 20B"));

    let client = UtpListener::bind("127.0.0.1:0")?;
    let id = ping(&client, addr, *b"example client id 20")?;
    println!("ping answered by {:?}", String::from_utf8_lossy(&id));
    let mut stream = client.connect(addr)?;
    stream.write_all(b"hello over uTP")?;
    stream.shutdown(std::net::Shutdown::Write)?; // half-close: we can still read
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed)?;
    println!("echoed {:?}", String::from_utf8_lossy(&echoed));
    Ok(())
}

/// Serves both protocols on `socket` for as long as it works: pings are
/// answered with `id` on one thread, streams echoed on this one.
pub(crate) fn run_node(socket: &UtpListener, id: NodeId) -> io::Result<()> {
    thread::scope(|scope| {
        let pings = scope.spawn(|| answer_pings(socket, id));
        let echo = echo_streams(socket);
        pings
            .join()
            .map_err(|_| io::Error::other("a thread panicked"))??;
        echo
    })
}

fn answer_pings(socket: &UtpListener, id: NodeId) -> io::Result<()> {
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = socket.recv_foreign(&mut buf, None)?;
        // Anything else that is not uTP (junk, other queries) is ignored.
        if let Some(t) = buf.get(..n).and_then(parse_ping) {
            socket.send_foreign(&pong(&id, t), from)?;
        }
    }
}

fn echo_streams(socket: &UtpListener) -> io::Result<()> {
    loop {
        let (stream, _peer) = socket.accept()?;
        thread::spawn(move || {
            io::copy(&mut &stream, &mut &stream)?;
            stream.shutdown(std::net::Shutdown::Write)
        });
    }
}

/// Pings `node` from `socket` as node `id`; returns the id that answers.
/// Either datagram may be lost, so the query goes out up to five times.
pub(crate) fn ping(socket: &UtpListener, node: SocketAddr, id: NodeId) -> io::Result<NodeId> {
    let t = *b"pg";
    let mut buf = [0u8; 1500];
    for _ in 0..5 {
        socket.send_foreign(&ping_query(&id, t), node)?;
        let deadline = Instant::now() + Duration::from_millis(500);
        while let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            let (n, from) = match socket.recv_foreign(&mut buf, Some(wait)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break, // send again
                got => got?,
            };
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
