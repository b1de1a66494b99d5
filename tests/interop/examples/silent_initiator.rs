//! Shows what each real peer sends as a connection's INITIATOR between our
//! SYN answer and its application's first write: the question SYN cookies
//! and half-open acceptors ask (spec/README.md, "SYN cookies"; a peer that
//! stays silent there cannot complete a handshake with a cookie listener,
//! nor receive from an acceptor that holds its data until the initiator
//! proves it got our STATE).
//!
//! Usage: `cargo run -p utp-interop --example silent_initiator [SECONDS]`
//!
//! Each peer connects to a utp-tokio listener through a recording relay and
//! writes nothing for SECONDS (default 3), then writes 5 bytes; our side
//! never writes. The datagrams that passed are printed, one a line, and the
//! initiator's first packet after the handshake relative to its SYN and to
//! our STATE. libtorrent speaks uTP only
//! inside BitTorrent, whose initiator writes its handshake at once, so its
//! line shows whether a bare STATE precedes that DATA. Run with
//! python3-libtorrent installed for the libtorrent line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use utp_interop::libtorrent::{version, Script};
use utp_interop::relay::{Datagram, Direction, Relay, RelayConfig};
use utp_tokio::UtpSocket;

/// What each initiator writes after its silence.
const HELLO: &[u8] = b"hello";
/// How long the relay keeps recording after that write.
const AFTER_WRITE: Duration = Duration::from_millis(500);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// One line per datagram: direction, type, seq_nr, ack_nr, payload length.
fn describe(records: &[Datagram]) -> Vec<String> {
    records
        .iter()
        .map(|d| {
            let b = &d.bytes;
            let kind = match b.first().map(|t| t >> 4) {
                Some(0) => "DATA",
                Some(1) => "FIN",
                Some(2) => "STATE",
                Some(3) => "RESET",
                Some(4) => "SYN",
                _ => "?",
            };
            let dir = match d.direction {
                Direction::ToServer => "peer->ours",
                Direction::ToClient => "ours->peer",
            };
            let seq = u16::from_be_bytes([b[16], b[17]]);
            let ack = u16::from_be_bytes([b[18], b[19]]);
            format!(
                "  {:>6.3}s {dir} {kind:<5} seq {seq:5} ack {ack:5} {} bytes",
                d.at.as_secs_f64(),
                b.len()
            )
        })
        .collect()
}

/// Our listener behind a recording relay, accepting in the background and
/// holding the streams without reading or writing.
async fn listener() -> (Relay, tokio::task::JoinHandle<()>) {
    let ours = UtpSocket::bind(loopback()).await.unwrap();
    let relay = Relay::start(
        ours.local_addr().unwrap(),
        RelayConfig::transparent().recording(64),
    )
    .await
    .unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = ours.accept().await {
            held.push(s);
        }
    });
    (relay, task)
}

fn print(peer: &str, relay: &Relay) {
    let records = relay.records();
    let after_handshake = records
        .iter()
        .skip(2)
        .filter(|d| d.direction == Direction::ToServer)
        .count();
    println!("{peer}: {after_handshake} datagram(s) from the initiator after SYN + our STATE");
    for line in describe(&records) {
        println!("{line}");
    }
    // The initiator's first packet after the handshake, relative to its SYN
    // (seq) and to our STATE (ack): a SYN cookie must be checkable from it.
    let field = |d: &Datagram, at: usize| u16::from_be_bytes([d.bytes[at], d.bytes[at + 1]]);
    if let (Some(syn), Some(state)) = (records.first(), records.get(1)) {
        if let Some(first) = records
            .iter()
            .skip(2)
            .find(|d| d.direction == Direction::ToServer)
        {
            println!(
                "  first packet after the handshake: seq = SYN seq {:+}, ack = our STATE seq {:+}",
                i32::from(field(first, 16).wrapping_sub(field(syn, 16)) as i16),
                i32::from(field(first, 18).wrapping_sub(field(state, 16)) as i16),
            );
        }
    }
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .map_or(3, |s| s.parse().expect("SECONDS"));
    let wait = Duration::from_secs(secs);

    {
        let (relay, _task) = listener().await;
        let sock = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
        let ctx = libutp_rs2::UtpUdpContext::new(sock, Default::default()).unwrap();
        let mut c = ctx.connect(relay.local_addr()).await.unwrap();
        tokio::time::sleep(wait).await;
        c.write_all(HELLO).await.unwrap();
        tokio::time::sleep(AFTER_WRITE).await;
        print("libutp (libutp-rs2 0.1)", &relay);
    }
    {
        let (relay, _task) = listener().await;
        let theirs = librqbit_utp::UtpSocketUdp::new_udp(loopback())
            .await
            .unwrap();
        let c = theirs.connect(relay.local_addr()).await.unwrap();
        tokio::time::sleep(wait).await;
        let (_r, mut w) = c.split();
        w.write_all(HELLO).await.unwrap();
        tokio::time::sleep(AFTER_WRITE).await;
        print("librqbit-utp 0.7", &relay);
    }
    {
        use utp_rs::conn::ConnectionConfig;
        use utp_rs::peer::Peer;
        let (relay, _task) = listener().await;
        let theirs = utp_rs::socket::UtpSocket::with_socket(
            tokio::net::UdpSocket::bind(loopback()).await.unwrap(),
        );
        let mut c = theirs
            .connect(Peer::new(relay.local_addr()), ConnectionConfig::default())
            .await
            .unwrap();
        tokio::time::sleep(wait).await;
        c.write(HELLO).await.unwrap();
        tokio::time::sleep(AFTER_WRITE).await;
        print("utp-rs 0.1.0-alpha.17", &relay);
    }
    match version() {
        Err(e) => println!("libtorrent: not run ({e})"),
        Ok(v) => {
            let (relay, _task) = listener().await;
            let dir = std::env::temp_dir().join(format!("utp-silent-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("payload.bin");
            std::fs::write(&file, utp_interop::data::pattern(64 * 1024, 0x34)).unwrap();
            let mut lt = Script::spawn([
                OsString::from("download"),
                dir.clone().into(),
                file.into(),
                "16384".into(),
                relay.local_addr().port().to_string().into(),
                (secs + 5).to_string().into(),
            ])
            .unwrap();
            let _ = lt.expect("port", Duration::from_secs(60)).await;
            tokio::time::sleep(wait).await;
            print(&format!("libtorrent {v} (BitTorrent initiator)"), &relay);
            drop(lt);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
