//! Interop with libtorrent-rasterbar 2.0.8 (Debian python3-libtorrent, driven by scripts/lt_peer.py): an 8 MiB torrent over uTP each way, directly and through a lossy relay.
//!
//! libtorrent speaks uTP only inside BitTorrent, so our side is the minimal
//! BitTorrent peer of `utp_interop::bt` on a utp-tokio stream. The script
//! makes the torrent (libtorrent's own create_torrent) from a file the test
//! writes, and prints its port, info-hash and torrent path; the test reads
//! those lines.
//!
//! When `/usr/bin/python3` cannot import libtorrent these tests print that
//! they are skipped and pass, unless `UTP_REQUIRE_LIBTORRENT=1` (CI), which
//! makes them fail with the apt-get line to run.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use utp_interop::bt::{self, Metainfo, SeedEnd};
use utp_interop::data::{pattern, report_throughput, verify};
use utp_interop::libtorrent::{availability, parse_hex20, Availability, Script};
use utp_interop::relay::{Relay, RelayConfig};
use utp_tokio::{CloseInfo, CloseReason};

const TORRENT_SIZE: usize = 8 * MIB;
const PIECE: usize = 256 * 1024;
/// Requests kept outstanding by our downloader (4 MiB).
const PIPELINE: usize = 256;
const SCRIPT_TIMEOUT: &str = "120";
/// libtorrent's `close_reason_t::upload_to_upload` (6): it closes a
/// connection when both sides have everything (spec/interop.md).
const LT_UPLOAD_TO_UPLOAD: u16 = 6;

fn libtorrent_available(test: &str) -> bool {
    match availability(test) {
        Availability::Run(version) => {
            eprintln!("{test}: libtorrent {version}");
            true
        }
        Availability::Skip(msg) => {
            eprintln!("{msg}");
            false
        }
        Availability::Fail(msg) => panic!("{msg}"),
    }
}

/// Writes the payload and returns its path.
fn payload_file(dir: &TempDir, payload: &[u8]) -> std::path::PathBuf {
    let file = dir.0.join("payload.bin");
    std::fs::write(&file, payload).unwrap();
    file
}

async fn read_torrent(lt: &mut Script) -> Metainfo {
    let path = lt.expect("torrent", Duration::from_secs(60)).await.unwrap();
    let info_hash = parse_hex20(
        &lt.expect("info_hash", Duration::from_secs(10))
            .await
            .unwrap(),
    )
    .unwrap();
    let meta = Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(
        meta.info_hash, info_hash,
        "our info-hash of libtorrent's torrent differs from libtorrent's"
    );
    assert_eq!(meta.length, TORRENT_SIZE as u64);
    assert_eq!(meta.piece_length, PIECE as u64);
    meta
}

/// libtorrent seeds; our downloader connects (directly or through a relay),
/// requests every block and checks every piece's SHA-1, and the whole file
/// byte for byte.
async fn libtorrent_seeds_to_us(test: &str, relay: Option<RelayConfig>) {
    if !libtorrent_available(test) {
        return;
    }
    let _serial = serial().await;
    let dir = TempDir::new("lt-seed");
    let payload = pattern(TORRENT_SIZE, 0x17);
    let file = payload_file(&dir, &payload);
    let mut lt = Script::spawn([
        OsString::from("seed"),
        dir.0.clone().into(),
        file.into(),
        PIECE.to_string().into(),
        SCRIPT_TIMEOUT.into(),
    ])
    .unwrap();
    let meta = read_torrent(&mut lt).await;
    let port: u16 = lt
        .expect("port", Duration::from_secs(30))
        .await
        .unwrap()
        .parse()
        .unwrap();
    let lt_addr = SocketAddr::from(([127, 0, 0, 1], port));
    lt.expect("ready", Duration::from_secs(10)).await.unwrap();
    let relay = match relay {
        Some(config) => Some(Relay::start(lt_addr, config).await.unwrap()),
        None => None,
    };
    let target = relay.as_ref().map_or(lt_addr, Relay::local_addr);
    let ours = bind_ours().await;
    let got = guard(test, 120, async {
        let mut s = ours.connect(target).await.unwrap();
        let got = bt::download(&mut s, &meta, bt::peer_id(1), PIPELINE)
            .await
            .unwrap();
        eprintln!("our stream: {:?}", s.stats());
        assert_reached_ceiling("libtorrent", &s.stats());
        drop(s); // graceful close: FIN
        got
    })
    .await;
    verify("the downloaded file", &got.data, &payload).unwrap();
    assert_eq!(got.pieces, TORRENT_SIZE / PIECE);
    assert_eq!(
        &got.remote.peer_id[..3],
        b"-LT",
        "libtorrent's peer id: {:?}",
        got.remote.peer_id
    );
    lt.close_stdin();
    let uploaded: usize = lt
        .expect("uploaded", Duration::from_secs(30))
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        uploaded >= TORRENT_SIZE,
        "libtorrent says it uploaded {uploaded} bytes"
    );
    assert!(lt.wait(Duration::from_secs(30)).await.unwrap().success());
    if let Some(relay) = relay {
        eprintln!("relay: {:?}", relay.stats());
    }
    let path = if relay_used(test) {
        "libtorrent(seeder)->ours, lossy relay"
    } else {
        "libtorrent(seeder)->ours"
    };
    report_throughput("libtorrent", path, TORRENT_SIZE, got.elapsed);
}

fn relay_used(test: &str) -> bool {
    test.contains("lossy")
}

/// Our seeder; libtorrent adds the torrent without data, connects to us
/// (directly or through a relay) and downloads until it reports the torrent
/// complete, every piece checked; the script then compares the file too.
async fn we_seed_to_libtorrent(test: &str, relay: Option<RelayConfig>, listener: Listener) {
    if !libtorrent_available(test) {
        return;
    }
    let _serial = serial().await;
    let dir = TempDir::new("lt-download");
    let payload = pattern(TORRENT_SIZE, 0x18);
    let file = payload_file(&dir, &payload);
    let ours = bind_listener(listener);
    let our_addr = ours.local_addr().unwrap();
    let relay = match relay {
        Some(config) => Some(Relay::start(our_addr, config).await.unwrap()),
        None => None,
    };
    let target = relay.as_ref().map_or(our_addr, Relay::local_addr);
    let mut lt = Script::spawn([
        OsString::from("download"),
        dir.0.clone().into(),
        file.into(),
        PIECE.to_string().into(),
        target.port().to_string().into(),
        SCRIPT_TIMEOUT.into(),
    ])
    .unwrap();
    let meta = read_torrent(&mut lt).await;
    let (mut s, _) = guard("libtorrent connecting to us", 60, ours.accept())
        .await
        .unwrap();
    let start = Instant::now();
    let seeder = tokio::spawn(async move {
        let served = bt::seed(&mut s, &meta, &payload, bt::peer_id(2))
            .await
            .unwrap();
        eprintln!("our stream: {:?}", s.stats());
        assert_reached_ceiling("libtorrent", &s.stats());
        // libtorrent's FIN carried its close reason (extension 3). It may
        // be gone before our FIN could be acknowledged, so we end the
        // connection here at once: closed() tells our reason and its code.
        s.abort();
        let info = s.closed().await.unwrap();
        (served, info)
    });
    let secs = lt
        .expect("complete", Duration::from_secs(120))
        .await
        .unwrap();
    let elapsed = start.elapsed();
    eprintln!("libtorrent reports the torrent complete after {secs} s");
    assert_eq!(
        lt.expect("verified", Duration::from_secs(30))
            .await
            .unwrap(),
        "yes"
    );
    assert!(lt.wait(Duration::from_secs(30)).await.unwrap().success());
    // libtorrent closes the connection once it has everything.
    let (served, info) = guard("libtorrent closing", 60, seeder).await.unwrap();
    eprintln!("our stream ended: {info:?}");
    assert_eq!(
        info,
        CloseInfo {
            reason: CloseReason::Aborted,
            peer_code: Some(LT_UPLOAD_TO_UPLOAD)
        },
        "libtorrent closes a finished download with its close reason"
    );
    assert!(served.bytes >= TORRENT_SIZE as u64, "{served:?}");
    assert_eq!(&served.remote.peer_id[..3], b"-LT");
    assert_eq!(served.end, SeedEnd::Eof, "{served:?}");
    if let Some(relay) = relay {
        eprintln!("relay: {:?}", relay.stats());
    }
    listener.check("libtorrent", &ours);
    let path = if relay_used(test) {
        "ours(seeder)->libtorrent, lossy relay"
    } else {
        "ours(seeder)->libtorrent"
    };
    let path = format!("{path}{}", listener.label());
    report_throughput("libtorrent", &path, TORRENT_SIZE, elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_seeds_8_mib_to_our_downloader() {
    libtorrent_seeds_to_us("libtorrent_seeds_8_mib_to_our_downloader", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_seeder_serves_8_mib_to_libtorrent() {
    we_seed_to_libtorrent(
        "our_seeder_serves_8_mib_to_libtorrent",
        None,
        Listener::Plain,
    )
    .await;
}

/// libtorrent as initiator writes its BitTorrent handshake at once (DATA
/// seq = SYN + 1, ack = our STATE - 1, right after our STATE; no bare
/// STATE before it): a cookie handshake completes, and our seeder (which
/// reads the handshake before it writes) serves the torrent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_syn_cookie_seeder_serves_8_mib_to_libtorrent() {
    we_seed_to_libtorrent(
        "our_syn_cookie_seeder_serves_8_mib_to_libtorrent",
        None,
        Listener::Cookies,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_syn_cookie_seeder_serves_8_mib_to_libtorrent_through_a_lossy_relay() {
    we_seed_to_libtorrent(
        "our_syn_cookie_seeder_serves_8_mib_to_libtorrent_through_a_lossy_relay",
        Some(RelayConfig::lossy(0x5EED_0003)),
        Listener::Cookies,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_seeds_8_mib_to_our_downloader_through_a_lossy_relay() {
    let relay = RelayConfig::lossy(0x5EED_0001);
    libtorrent_seeds_to_us(
        "libtorrent_seeds_8_mib_to_our_downloader_through_a_lossy_relay",
        Some(relay),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_seeder_serves_8_mib_to_libtorrent_through_a_lossy_relay() {
    let relay = RelayConfig::lossy(0x5EED_0002);
    we_seed_to_libtorrent(
        "our_seeder_serves_8_mib_to_libtorrent_through_a_lossy_relay",
        Some(relay),
        Listener::Plain,
    )
    .await;
}
