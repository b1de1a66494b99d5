//! Records the handshake and close of every real peer with utp-tokio, in both
//! roles, and writes one pcap per peer for `scripts/capture_vectors.sh`
//! (which decodes them with tshark into `spec/vectors/interop-*.toml`).
//!
//! Usage: `cargo run -p utp-interop --example capture -- OUT_DIR`
//!
//! Each exchange goes through a transparent recording relay; the pcap shows
//! the two stacks talking directly, on fixed ports: our client 50001 to the
//! peer's listener 50002, then the peer's client 50003 to our listener 50004.
//! The exchange is small: the client sends a short message (a BitTorrent
//! handshake for libtorrent), the server answers, both close (utp-rs, which
//! has no half-close, closes first in its client role).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_interop::bt;
use utp_interop::libtorrent::Script;
use utp_interop::pcap::write_pcap;
use utp_interop::relay::{Datagram, Direction, Relay, RelayConfig};
use utp_tokio::UtpSocket;

const OUR_CLIENT: u16 = 50001;
const THEIR_LISTENER: u16 = 50002;
const THEIR_CLIENT: u16 = 50003;
const OUR_LISTENER: u16 = 50004;
const HELLO: &[u8] = b"hello from the client";
const REPLY: &[u8] = b"hello from the server";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Lets the closing FIN/ACK exchange pass the relay before its records are
/// taken (a capture tool, not a test: a pause is fine here).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

async fn recording_relay(server: SocketAddr) -> Relay {
    Relay::start(server, RelayConfig::transparent().recording(4000))
        .await
        .unwrap()
}

/// The records of one relay with fixed ports: client side `c`, server side `s`.
fn mapped(records: Vec<Datagram>, c: u16, s: u16) -> Vec<(Datagram, (SocketAddr, SocketAddr))> {
    let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    records
        .into_iter()
        .map(|d| {
            let ends = match d.direction {
                Direction::ToServer => (at(c), at(s)),
                Direction::ToClient => (at(s), at(c)),
            };
            (d, ends)
        })
        .collect()
}

fn write(out: &Path, name: &str, mut parts: Vec<Vec<(Datagram, (SocketAddr, SocketAddr))>>) {
    // The second exchange follows the first in time.
    let mut all = Vec::new();
    let mut offset = Duration::ZERO;
    for part in parts.iter_mut() {
        let end = part.last().map(|(d, _)| d.at).unwrap_or_default();
        for (d, _) in part.iter_mut() {
            d.at += offset;
        }
        offset += end + Duration::from_secs(1);
        all.append(part);
    }
    let ends: Vec<_> = all.iter().map(|(_, e)| *e).collect();
    let datagrams: Vec<Datagram> = all.into_iter().map(|(d, _)| d).collect();
    let mut i = 0;
    let path = out.join(format!("{name}.pcap"));
    write_pcap(&path, &datagrams, |_| {
        i += 1;
        ends[i - 1]
    })
    .unwrap();
    eprintln!("{}: {} datagrams", path.display(), datagrams.len());
}

async fn ours_client_exchange(target: SocketAddr) {
    let ours = UtpSocket::bind(loopback()).await.unwrap();
    let mut s = ours.connect(target).await.unwrap();
    s.write_all(HELLO).await.unwrap();
    let mut got = vec![0u8; REPLY.len()];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(got, REPLY);
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    settle().await;
}

async fn ours_server(ours: UtpSocket) {
    let (mut s, _) = ours.accept().await.unwrap();
    let mut got = vec![0u8; HELLO.len()];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(got, HELLO);
    s.write_all(REPLY).await.unwrap();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
}

async fn libutp(out: &Path) {
    use libutp_rs2::UtpUdpContext;
    let sock = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
    let addr = sock.local_addr().unwrap();
    let ctx_listen = UtpUdpContext::new(sock, Default::default()).unwrap();
    // a: our client -> libutp listener
    let relay = recording_relay(addr).await;
    let server = tokio::spawn({
        let ctx = ctx_listen.clone();
        async move {
            let mut s = ctx.accept().await.unwrap();
            let mut got = vec![0u8; HELLO.len()];
            s.read_exact(&mut got).await.unwrap();
            s.write_all(REPLY).await.unwrap();
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
            drop(s);
        }
    });
    ours_client_exchange(relay.local_addr()).await;
    server.await.unwrap();
    settle().await;
    let a = mapped(relay.records(), OUR_CLIENT, THEIR_LISTENER);
    // b: libutp client -> our listener
    let ours = UtpSocket::bind(loopback()).await.unwrap();
    let relay = recording_relay(ours.local_addr().unwrap()).await;
    let server = tokio::spawn(ours_server(ours));
    let client = UtpUdpContext::new(
        tokio::net::UdpSocket::bind(loopback()).await.unwrap(),
        Default::default(),
    )
    .unwrap();
    let mut c = client.connect(relay.local_addr()).await.unwrap();
    c.write_all(HELLO).await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, REPLY);
    drop(c);
    server.await.unwrap();
    settle().await;
    let b = mapped(relay.records(), THEIR_CLIENT, OUR_LISTENER);
    write(out, "libutp", vec![a, b]);
}

async fn librqbit(out: &Path) {
    use librqbit_utp::UtpSocketUdp;
    let theirs = UtpSocketUdp::new_udp(loopback()).await.unwrap();
    let relay = recording_relay(theirs.bind_addr()).await;
    let server = tokio::spawn({
        let theirs = theirs.clone();
        async move {
            let (mut r, mut w) = theirs.accept().await.unwrap().split();
            let mut got = vec![0u8; HELLO.len()];
            r.read_exact(&mut got).await.unwrap();
            w.write_all(REPLY).await.unwrap();
            let _ = tokio::time::timeout(Duration::from_secs(5), w.shutdown()).await;
        }
    });
    ours_client_exchange(relay.local_addr()).await;
    server.await.unwrap();
    settle().await;
    let a = mapped(relay.records(), OUR_CLIENT, THEIR_LISTENER);
    let ours = UtpSocket::bind(loopback()).await.unwrap();
    let relay = recording_relay(ours.local_addr().unwrap()).await;
    let server = tokio::spawn(ours_server(ours));
    let (mut r, mut w) = theirs.connect(relay.local_addr()).await.unwrap().split();
    w.write_all(HELLO).await.unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, REPLY);
    let _ = tokio::time::timeout(Duration::from_secs(5), w.shutdown()).await;
    server.await.unwrap();
    settle().await;
    let b = mapped(relay.records(), THEIR_CLIENT, OUR_LISTENER);
    write(out, "librqbit-utp", vec![a, b]);
}

async fn utp_rs(out: &Path) {
    use utp_rs::conn::ConnectionConfig;
    use utp_rs::peer::Peer;
    let sock = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
    let addr = sock.local_addr().unwrap();
    let theirs = utp_rs::socket::UtpSocket::with_socket(sock);
    let relay = recording_relay(addr).await;
    let server = tokio::spawn(async move {
        // utp-rs writes first and reads to our FIN (it has no half-close).
        let mut s = theirs.accept(ConnectionConfig::default()).await.unwrap();
        s.write(REPLY).await.unwrap();
        let mut got = Vec::new();
        s.read_to_eof(&mut got).await.unwrap();
        assert_eq!(got, HELLO);
        let _ = s.close().await;
        theirs
    });
    {
        let ours = UtpSocket::bind(loopback()).await.unwrap();
        let mut s = ours.connect(relay.local_addr()).await.unwrap();
        let mut got = vec![0u8; REPLY.len()];
        s.read_exact(&mut got).await.unwrap();
        s.write_all(HELLO).await.unwrap();
        s.shutdown().await.unwrap();
        let theirs = server.await.unwrap();
        settle().await;
        drop(theirs);
    }
    let a = mapped(relay.records(), OUR_CLIENT, THEIR_LISTENER);
    let ours = UtpSocket::bind(loopback()).await.unwrap();
    let relay = recording_relay(ours.local_addr().unwrap()).await;
    // utp-rs sends its FIN first this time (close() returns once it is
    // acknowledged and forgets the connection); our reply after that draws
    // utp-rs's RESET for an unknown connection.
    let server = tokio::spawn(async move {
        let (mut s, _) = ours.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, HELLO);
        settle().await;
        let _ = s.write_all(REPLY).await;
        let _ = s.shutdown().await;
        settle().await;
    });
    let client = utp_rs::socket::UtpSocket::with_socket(
        tokio::net::UdpSocket::bind(loopback()).await.unwrap(),
    );
    let mut c = client
        .connect(Peer::new(relay.local_addr()), ConnectionConfig::default())
        .await
        .unwrap();
    c.write(HELLO).await.unwrap();
    c.close().await.unwrap();
    server.await.unwrap();
    let b = mapped(relay.records(), THEIR_CLIENT, OUR_LISTENER);
    write(out, "utp-rs", vec![a, b]);
}

async fn libtorrent(out: &Path) {
    let dir = out.join("lt-work");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payload.bin");
    std::fs::write(&file, utp_interop::data::pattern(64 * 1024, 0x33)).unwrap();
    let payload = std::fs::read(&file).unwrap();
    let args = |mode: &str, extra: Option<u16>| {
        let mut v: Vec<std::ffi::OsString> = vec![
            mode.into(),
            dir.clone().into(),
            file.clone().into(),
            "16384".into(),
        ];
        if let Some(p) = extra {
            v.push(p.to_string().into());
        }
        v.push("60".into());
        v
    };
    // a: our client (downloader) -> libtorrent seeding
    let mut lt = Script::spawn(args("seed", None)).unwrap();
    let torrent = lt.expect("torrent", Duration::from_secs(60)).await.unwrap();
    let meta = bt::Metainfo::from_bytes(&std::fs::read(torrent).unwrap()).unwrap();
    let lt_addr = lt.listen_addr().await.unwrap();
    lt.expect("ready", Duration::from_secs(10)).await.unwrap();
    let relay = recording_relay(lt_addr).await;
    {
        let ours = UtpSocket::bind(loopback()).await.unwrap();
        let mut s = ours.connect(relay.local_addr()).await.unwrap();
        let got = bt::download(&mut s, &meta, bt::peer_id(1), 16)
            .await
            .unwrap();
        assert_eq!(got.data, payload);
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        settle().await;
    }
    lt.wait(Duration::from_secs(30)).await.unwrap();
    let a = mapped(relay.records(), OUR_CLIENT, THEIR_LISTENER);
    // b: libtorrent (downloader) -> our seeder
    let ours = UtpSocket::bind(loopback()).await.unwrap();
    let relay = recording_relay(ours.local_addr().unwrap()).await;
    let dl_dir = out.join("lt-work-dl");
    std::fs::create_dir_all(&dl_dir).unwrap();
    let mut a2 = args("download", Some(relay.local_addr().port()));
    a2[1] = dl_dir.into();
    let mut lt = Script::spawn(a2).unwrap();
    let torrent = lt.expect("torrent", Duration::from_secs(60)).await.unwrap();
    let meta = bt::Metainfo::from_bytes(&std::fs::read(torrent).unwrap()).unwrap();
    let (mut s, _) = ours.accept().await.unwrap();
    let seeder = tokio::spawn(async move {
        bt::seed(&mut s, &meta, &payload, bt::peer_id(2))
            .await
            .unwrap()
    });
    lt.expect("complete", Duration::from_secs(60))
        .await
        .unwrap();
    lt.wait(Duration::from_secs(30)).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), seeder).await;
    settle().await;
    let b = mapped(relay.records(), THEIR_CLIENT, OUR_LISTENER);
    write(out, "libtorrent", vec![a, b]);
}

#[tokio::main]
async fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: capture OUT_DIR"));
    std::fs::create_dir_all(&out).unwrap();
    libutp(&out).await;
    librqbit(&out).await;
    utp_rs(&out).await;
    libtorrent(&out).await;
}
