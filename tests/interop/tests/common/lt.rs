//! What the libtorrent test files share: whether to run, the torrent's
//! sizes, the payload file, starting the script, and the torrent it made.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use utp_interop::bt::Metainfo;
use utp_interop::libtorrent::{availability, parse_hex20, Availability, Script};

use super::{TempDir, MIB};

/// The torrent the tests move.
pub const TORRENT_SIZE: usize = 8 * MIB;
pub const PIECE: usize = 256 * 1024;
/// Requests kept outstanding by our downloader (4 MiB).
pub const PIPELINE: usize = 256;
/// How long `lt_peer.py` runs at most, seconds.
pub const SCRIPT_TIMEOUT: &str = "120";

/// Starts `lt_peer.py` with `mode` (its command and words), the torrent's
/// directory and payload `file`, [`PIECE`], our `port` if the mode takes
/// one, and [`SCRIPT_TIMEOUT`].
pub fn start_script(mode: &[&str], dir: &TempDir, file: &Path, port: Option<u16>) -> Script {
    let mut args: Vec<OsString> = mode.iter().map(OsString::from).collect();
    args.extend([dir.0.clone().into(), file.into(), PIECE.to_string().into()]);
    args.extend(port.map(|p| p.to_string().into()));
    args.push(SCRIPT_TIMEOUT.into());
    Script::spawn(args).unwrap()
}

/// Whether a libtorrent test runs: prints the version, or that it is
/// skipped; fails if libtorrent is missing but required.
pub fn libtorrent_available(test: &str) -> bool {
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
pub fn payload_file(dir: &TempDir, payload: &[u8]) -> std::path::PathBuf {
    let file = dir.0.join("payload.bin");
    std::fs::write(&file, payload).unwrap();
    file
}

/// Reads the script's `torrent` and `info_hash` lines and the torrent,
/// checking our info-hash and its size and piece length.
pub async fn read_torrent(lt: &mut Script, size: usize, piece: usize) -> Metainfo {
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
    assert_eq!(meta.length, size as u64);
    assert_eq!(meta.piece_length, piece as u64);
    meta
}
