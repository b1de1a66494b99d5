//! A SYN flood over real sockets while legitimate clients transfer.
//!
//! Flood: UDP sockets bound to many loopback addresses (Linux routes all of
//! 127.0.0.0/8 to `lo`, so each is a distinct source IP, as spoofed sources
//! would be) send valid uTP SYNs (20 bytes, random connection id and
//! sequence number) at the listeners, paced towards [`FLOOD_SYNS`]. The
//! sockets are real, so they read what the listeners answer: replies must
//! not outnumber nor outweigh the SYNs, per source and in total, and none
//! may be larger than the SYN it answers (no amplification).
//!
//! Meanwhile [`CLIENTS`] utp-tokio clients, each on its own socket and
//! source address, connect: half to a "sink" listener, uploading 1 MiB; half
//! to a "source" listener, which writes 1 MiB first (the acceptor writing
//! first, before the client sent anything but its handshake). Both
//! listeners send a fixed reply to every connection at once and read what
//! the client sends to its end, as `utpcat listen --keep-open --send FILE`
//! does. Every client must succeed, byte for byte. UDP may drop datagrams
//! on a loaded machine: uTP retransmits, and no assertion depends on one
//! datagram arriving.
//!
//! Two runs: the listeners are utp-tokio sockets in the test, and they are
//! two `utpcat listen --keep-open --send FILE` processes (see
//! [`Server::utpcat`]; the server-side byte checks are then totals of
//! utpcat's output). The utpcat binary is the one `cargo test --workspace`
//! builds next to this test (or `UTP_FLOOD_UTPCAT=/path/to/utpcat`); the
//! utpcat run reports itself skipped when there is none, and fails instead
//! when `UTP_REQUIRE_UTPCAT` is set (CI sets it).
//!
//! The flood sends all its SYNs (100,000 over 10 s) whatever the clients
//! do; the clients start half a second in, when the listeners are already
//! under pressure.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;
#[path = "flood/syns.rs"]
mod syns;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{data, guard};
use syns::Flood;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use utp_tokio::{DriverConfig, UtpSocket};

/// SYNs the flood aims to send (`UTP_FLOOD_SYNS` overrides it, e.g. 0 to
/// see the clients alone).
const FLOOD_SYNS: u64 = 100_000;
/// The flood's pace: [`FLOOD_SYNS`] over this long, and it stops at
/// [`FLOOD_MAX`] whatever it managed.
const FLOOD_PACE: Duration = Duration::from_secs(10);
const FLOOD_MAX: Duration = Duration::from_secs(20);
/// Distinct flood source addresses (fewer if the file descriptor limit
/// says so; at least [`MIN_SOURCES`]).
const SOURCES: usize = 1000;
const MIN_SOURCES: usize = 100;
/// Legitimate clients, half uploading, half downloading.
const CLIENTS: usize = 100;
/// Bytes each client moves.
const SIZE: usize = 1 << 20;
/// The clients start this long after the flood, so they meet a listener
/// already under pressure.
const CLIENTS_AFTER: Duration = Duration::from_millis(500);
/// What the sink writes to every connection before reading its upload.
const SINK_HELLO: &[u8] = b"sink ready\n";
/// Payload seeds: what the source serves, what uploaders send.
const SEED_DOWN: u64 = 0xD0;
const SEED_UP: u64 = 0x0F;
/// A downloader's last words after the source's data and FIN: its id.
const ID_LEN: usize = 8;
const SYN_LEN: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syn_flood_from_1000_sources_while_100_clients_transfer_to_tokio_listeners() {
    let down = Arc::new(data(SEED_DOWN, SIZE));
    let up = Arc::new(data(SEED_UP, SIZE));
    let server = Server::in_process(down.clone(), up.clone());
    flood_while_clients_transfer(server, down, up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syn_flood_from_1000_sources_while_100_clients_transfer_to_utpcat_listen_keep_open() {
    let Some(bin) = utpcat_binary() else {
        assert!(
            std::env::var_os("UTP_REQUIRE_UTPCAT").is_none(),
            "UTP_REQUIRE_UTPCAT is set but no utpcat binary was found next to the test \
             (build the workspace's tests, or set UTP_FLOOD_UTPCAT)"
        );
        eprintln!("skipped: no utpcat binary next to the test (set UTP_FLOOD_UTPCAT)");
        return;
    };
    let down = Arc::new(data(SEED_DOWN, SIZE));
    let up = Arc::new(data(SEED_UP, SIZE));
    let server = Server::utpcat(bin, &down).await;
    flood_while_clients_transfer(server, down, up).await;
}

/// `UTP_FLOOD_UTPCAT`, or the utpcat that `cargo test --workspace` built in
/// the target directory this test runs from (`target/<profile>/deps/..`).
fn utpcat_binary() -> Option<std::path::PathBuf> {
    if let Some(bin) = std::env::var_os("UTP_FLOOD_UTPCAT") {
        return Some(bin.into());
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("utpcat");
    bin.is_file().then_some(bin)
}

async fn flood_while_clients_transfer(server: Server, down: Arc<Vec<u8>>, up: Arc<Vec<u8>>) {
    let started = Instant::now();
    eprintln!(
        "flood: target {}, sink {}, source {}",
        server.kind, server.sink, server.source
    );

    let flood = Flood::start(&[server.sink, server.source]);
    eprintln!("flood: {} source addresses", flood.sources());
    tokio::time::sleep(CLIENTS_AFTER).await;

    let clients_started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let (down, up) = (down.clone(), up.clone());
        let (sink, source) = (server.sink, server.source);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let result = if i % 2 == 0 {
                upload(i, sink, &up).await
            } else {
                download(i, source, &down).await
            };
            result.map(|()| t.elapsed())
        }));
    }
    let mut times = Vec::new();
    let mut failed = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match guard(60, t).await.unwrap() {
            Ok(d) => times.push(d),
            Err(e) => failed.push(format!("client {i}: {e}")),
        }
    }
    let clients_done = clients_started.elapsed();
    times.sort();
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        eprintln!(
            "clients: {} of {CLIENTS} done in {:.2} s (each: min {:.2} s, median {:.2} s, max {:.2} s)",
            times.len(),
            clients_done.as_secs_f64(),
            min.as_secs_f64(),
            times[times.len() / 2].as_secs_f64(),
            max.as_secs_f64()
        );
    }
    // The servers' view: every upload whole, every downloader's id back.
    if failed.is_empty() {
        guard(30, server.wait_done()).await;
    }
    let f = flood.stop().await;
    let secs = f.elapsed.as_secs_f64();
    eprintln!(
        "flood: {} SYNs ({} bytes) in {secs:.2} s = {:.0} SYN/s from {} sources; \
         {} replies ({} bytes, largest {} bytes), by type [DATA, FIN, STATE, RESET, SYN, ?] {:?}",
        f.syns,
        f.syns * SYN_LEN as u64,
        f.syns as f64 / secs,
        f.per_source.len(),
        f.replies,
        f.reply_bytes,
        f.largest,
        f.kinds
    );
    eprintln!(
        "flood: SYNs sent to the sink, the source: {:?}",
        f.per_target
    );
    server.report(failed.is_empty());
    eprintln!(
        "flood: total wall time {:.2} s",
        started.elapsed().as_secs_f64()
    );

    assert!(
        failed.is_empty(),
        "{} clients failed: {failed:#?}",
        failed.len()
    );
    assert!(
        f.replies <= f.syns,
        "{} replies to {} SYNs",
        f.replies,
        f.syns
    );
    assert!(
        f.reply_bytes <= f.syns * SYN_LEN as u64,
        "{} reply bytes to {} SYN bytes",
        f.reply_bytes,
        f.syns * SYN_LEN as u64
    );
    assert!(
        f.largest <= SYN_LEN,
        "a {}-byte reply to a {SYN_LEN}-byte SYN",
        f.largest
    );
    for (k, s) in f.per_source.iter().enumerate() {
        assert!(
            s.replies <= s.syns && s.reply_bytes <= s.syns * SYN_LEN as u64,
            "source {k}: {s:?}"
        );
    }
}

/// Uploader: reads the sink's hello while it writes its id and 1 MiB, then
/// FIN; the sink checks the bytes.
async fn upload(i: usize, sink: SocketAddr, up: &[u8]) -> Result<(), String> {
    let socket = client_socket(i);
    let s = socket
        .connect(sink)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut r, mut w) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.map(|_| got)
    });
    w.write_all(&(i as u64).to_be_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    w.write_all(up).await.map_err(|e| format!("upload: {e}"))?;
    w.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
    let got = reader
        .await
        .unwrap()
        .map_err(|e| format!("reading the sink's hello: {e}"))?;
    if got != SINK_HELLO {
        return Err(format!("the sink's hello was {got:?}"));
    }
    // Dropping the socket here is fine: its driver lingers until what we
    // wrote is acknowledged.
    Ok(())
}

/// Downloader: sends nothing but its handshake; the source writes first.
/// It reads 1 MiB to the source's FIN, then writes its id (half-close).
async fn download(i: usize, source: SocketAddr, down: &[u8]) -> Result<(), String> {
    let socket = client_socket(i);
    let mut s = socket
        .connect(source)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut got = Vec::with_capacity(SIZE);
    s.read_to_end(&mut got)
        .await
        .map_err(|e| format!("download after {} bytes: {e}", got.len()))?;
    if got != down {
        return Err(format!("download differs ({} bytes)", got.len()));
    }
    s.write_all(&(i as u64).to_be_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    s.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
    // The source's log shows the id arrived; the socket's driver lingers
    // until it is acknowledged.
    Ok(())
}

/// Each client on its own source address, 127.0.2.x, as distinct hosts.
fn client_socket(i: usize) -> UtpSocket {
    let ip = Ipv4Addr::new(127, 0, 2, 1 + i as u8);
    let sock = StdUdpSocket::bind((ip, 0)).unwrap();
    UtpSocket::from_std(sock, DriverConfig::default()).unwrap()
}

// ---------------------------------------------------------------- servers

/// The listeners under test: a sink (clients upload) and a source (it
/// writes first).
struct Server {
    kind: &'static str,
    sink: SocketAddr,
    source: SocketAddr,
    inner: ServerKind,
}

enum ServerKind {
    InProcess {
        sockets: [UtpSocket; 2],
        log: Arc<Log>,
        _tasks: Vec<AbortOnDrop>,
    },
    Utpcat {
        children: Vec<tokio::process::Child>,
        /// Bytes each process wrote to stdout: sink, source.
        out: [Arc<AtomicU64>; 2],
        /// The files utpcat sends (opened again for each connection),
        /// removed when the server goes.
        _files: TempDir,
    },
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the in-process listeners saw.
#[derive(Default)]
struct Log {
    /// Uploads received whole and equal (their ids).
    uploads: Mutex<Vec<u64>>,
    /// Downloaders' ids received after the data.
    downloads: Mutex<Vec<u64>>,
    /// Uploads or ids that arrived wrong: the test fails.
    bad: Mutex<Vec<String>>,
    /// Connections that ended in an error (flood connections time out).
    errors: AtomicU64,
    accepted: AtomicU64,
}

impl Server {
    /// Two utp-tokio listeners with the default configuration, serving
    /// every accepted connection as utpcat would ([`serve`]).
    fn in_process(down: Arc<Vec<u8>>, up: Arc<Vec<u8>>) -> Server {
        let log = Arc::new(Log::default());
        let bind = || {
            UtpSocket::from_std(
                StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap(),
                DriverConfig::default(),
            )
            .unwrap()
        };
        let (sink, source) = (bind(), bind());
        let tasks = [(&sink, Role::Sink), (&source, Role::Source)]
            .map(|(s, role)| {
                AbortOnDrop(tokio::spawn(serve(
                    s.clone(),
                    role,
                    down.clone(),
                    up.clone(),
                    log.clone(),
                )))
            })
            .into();
        Server {
            kind: "utp-tokio listeners in the test",
            sink: sink.local_addr().unwrap(),
            source: source.local_addr().unwrap(),
            inner: ServerKind::InProcess {
                sockets: [sink, source],
                log,
                _tasks: tasks,
            },
        }
    }

    /// Two `utpcat listen --keep-open --send FILE 127.0.0.1:0` processes
    /// (the sink's FILE holds [`SINK_HELLO`], the source's 1 MiB); each
    /// prints `utpcat: listening on ADDR` on stderr and what it receives on
    /// stdout, which the test counts. The one place that knows utpcat's
    /// command line.
    async fn utpcat(bin: std::path::PathBuf, down: &[u8]) -> Server {
        use tokio::io::AsyncBufReadExt;
        let dir = std::env::temp_dir().join(format!("utp-flood-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut children = Vec::new();
        let mut addrs = Vec::new();
        let mut outs = Vec::new();
        for (name, file) in [("sink", SINK_HELLO), ("source", down)] {
            let path = dir.join(name);
            std::fs::write(&path, file).unwrap();
            let mut child = tokio::process::Command::new(&bin)
                .args(["listen", "--keep-open", "--send"])
                .arg(&path)
                .arg("127.0.0.1:0")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
            let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
            let addr: SocketAddr = guard(10, async {
                let mut seen = Vec::new();
                loop {
                    let Some(line) = stderr.next_line().await.unwrap() else {
                        panic!("{} ended; its stderr: {seen:?}", bin.display());
                    };
                    if let Some(a) = line.strip_prefix("utpcat: listening on ") {
                        return a.trim().parse().unwrap();
                    }
                    seen.push(line);
                }
            })
            .await;
            tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
            let count = Arc::new(AtomicU64::new(0));
            let mut stdout = child.stdout.take().unwrap();
            let c = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = stdout.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    c.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
            children.push(child);
            addrs.push(addr);
            outs.push(count);
        }
        let [sink_out, source_out]: [Arc<AtomicU64>; 2] = outs.try_into().unwrap();
        Server {
            kind: "utpcat listen --keep-open",
            sink: addrs[0],
            source: addrs[1],
            inner: ServerKind::Utpcat {
                children,
                out: [sink_out, source_out],
                _files: TempDir(dir),
            },
        }
    }

    /// Until the servers have everything every client sent.
    async fn wait_done(&self) {
        let half = (CLIENTS / 2) as u64;
        loop {
            match &self.inner {
                ServerKind::InProcess { log, .. } => {
                    let bad = log.bad.lock().unwrap().clone();
                    assert!(bad.is_empty(), "servers received wrong bytes: {bad:?}");
                    if log.uploads.lock().unwrap().len() as u64 == half
                        && log.downloads.lock().unwrap().len() as u64 == half
                    {
                        return;
                    }
                }
                ServerKind::Utpcat { out, .. } => {
                    let (sink, source) = (
                        out[0].load(Ordering::Relaxed),
                        out[1].load(Ordering::Relaxed),
                    );
                    let want = (half * (ID_LEN + SIZE) as u64, half * ID_LEN as u64);
                    assert!(sink <= want.0 && source <= want.1, "{sink}, {source}");
                    if (sink, source) == want {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Prints the servers' figures; with `check`, asserts that they
    /// received every client's bytes.
    fn report(&self, check: bool) {
        match &self.inner {
            ServerKind::InProcess { sockets, log, .. } => {
                let mut ups = log.uploads.lock().unwrap().clone();
                let mut downs = log.downloads.lock().unwrap().clone();
                ups.sort_unstable();
                downs.sort_unstable();
                let even: Vec<u64> = (0..CLIENTS as u64).filter(|i| i % 2 == 0).collect();
                let odd: Vec<u64> = (0..CLIENTS as u64).filter(|i| i % 2 == 1).collect();
                if check {
                    assert_eq!(ups, even, "uploads received");
                    assert_eq!(downs, odd, "downloaders' ids received");
                }
                eprintln!(
                    "servers: {} uploads and {} downloads complete; {} connections accepted, \
                     {} ended in an error",
                    ups.len(),
                    downs.len(),
                    log.accepted.load(Ordering::Relaxed),
                    log.errors.load(Ordering::Relaxed)
                );
                for (name, s) in ["sink", "source"].iter().zip(sockets) {
                    eprintln!("{name}: {:?}", s.endpoint_stats());
                    eprintln!("{name}: {:?}", s.driver_stats());
                }
            }
            ServerKind::Utpcat { out, children, .. } => {
                eprintln!(
                    "utpcat: {} processes; stdout bytes: sink {}, source {}",
                    children.len(),
                    out[0].load(Ordering::Relaxed),
                    out[1].load(Ordering::Relaxed)
                );
            }
        }
    }
}

/// Which listener: what it writes first and what it expects back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// Writes [`SINK_HELLO`]; expects an id and the upload.
    Sink,
    /// Writes the 1 MiB download; expects the downloader's id.
    Source,
}

/// Accepts forever; each connection: write the role's reply, FIN, read to
/// the end, check what came (nothing at all: a flood connection, which
/// ends in an error when it is never completed).
async fn serve(socket: UtpSocket, role: Role, down: Arc<Vec<u8>>, up: Arc<Vec<u8>>, log: Arc<Log>) {
    loop {
        let Ok((mut s, _)) = socket.accept().await else {
            return;
        };
        log.accepted.fetch_add(1, Ordering::Relaxed);
        let (down, up, log) = (down.clone(), up.clone(), log.clone());
        tokio::spawn(async move {
            let reply: &[u8] = match role {
                Role::Sink => SINK_HELLO,
                Role::Source => &down,
            };
            let mut got = Vec::new();
            let result = async {
                s.write_all(reply).await?;
                s.shutdown().await?;
                s.read_to_end(&mut got).await
            }
            .await;
            if result.is_err() {
                log.errors.fetch_add(1, Ordering::Relaxed);
            }
            let checked = match role {
                Role::Sink => check_upload(&got, &up),
                Role::Source => check_id(&got),
            };
            let list = match role {
                Role::Sink => &log.uploads,
                Role::Source => &log.downloads,
            };
            match (checked, result) {
                (None, _) => {}
                (Some(Ok(id)), Ok(_)) => list.lock().unwrap().push(id),
                (Some(Ok(id)), Err(e)) => log
                    .bad
                    .lock()
                    .unwrap()
                    .push(format!("{role:?}, client {id}: {e}")),
                (Some(Err(e)), _) => log.bad.lock().unwrap().push(format!("{role:?}: {e}")),
            }
        });
    }
}

fn parse_id(got: &[u8]) -> Result<u64, String> {
    let id = u64::from_be_bytes(got[..ID_LEN].try_into().unwrap());
    if id < CLIENTS as u64 {
        Ok(id)
    } else {
        Err(format!("id {id}"))
    }
}

/// An upload: the client's id, then exactly `up`.
fn check_upload(got: &[u8], up: &[u8]) -> Option<Result<u64, String>> {
    if got.is_empty() {
        return None;
    }
    if got.len() != ID_LEN + SIZE {
        return Some(Err(format!("upload of {} bytes", got.len())));
    }
    Some(parse_id(got).and_then(|id| {
        if &got[ID_LEN..] == up {
            Ok(id)
        } else {
            Err(format!("client {id}: upload differs"))
        }
    }))
}

/// A downloader's id, after the source's data.
fn check_id(got: &[u8]) -> Option<Result<u64, String>> {
    match got.len() {
        0 => None,
        ID_LEN => Some(parse_id(got)),
        n => Some(Err(format!("{n} bytes after the download"))),
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
