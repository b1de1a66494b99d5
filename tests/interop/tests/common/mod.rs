//! What the interop test files share: sizes, the serial lock, timeouts as
//! failure guards, our side of the standard exchange, and throughput lines.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, MutexGuard};
use utp_core::SynCookies;
use utp_interop::data;
use utp_tokio::{DriverConfig, UtpSocket};

pub mod lt;

pub const MIB: usize = 1 << 20;
/// Bytes sent each way in the transfer tests.
pub const SIZE: usize = 16 * MIB;
/// Payload seeds: what the client sends, and what the server sends back.
pub const SEED_A: u64 = 0xA;
pub const SEED_B: u64 = 0xB;

/// Transfers in one test binary run one at a time, so that the throughput
/// each prints is not shared with another transfer on the 2 cores.
static SERIAL: Mutex<()> = Mutex::const_new(());

pub async fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Awaits `fut`, failing the test if it takes longer than `secs` (a guard
/// against hangs, far above the expected time).
pub async fn guard<T>(what: &str, secs: u64, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {secs} s"),
    }
}

/// UDP receive buffer of every socket in these tests, ours and the peers':
/// with Linux's default (208 KiB) bursts at loopback speed overflow it, and
/// the transfer then measures loss recovery instead of the protocol.
pub const UDP_RCVBUF: usize = 4 << 20;

/// Spawns `accept` after polling it once here, so that it is waiting
/// before anything can connect: libutp-rs2 closes a connection that nobody
/// is accepting when its SYN comes (on a loaded machine a spawned task may
/// not have run yet), and our connect then meets its RESET.
pub async fn accepting<F>(accept: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut accept = Box::pin(accept);
    std::future::poll_fn(|cx| {
        assert!(
            accept.as_mut().poll(cx).is_pending(),
            "nothing to accept yet"
        );
        std::task::Poll::Ready(())
    })
    .await;
    tokio::spawn(accept)
}

/// A std UDP socket on a fresh loopback port with [`UDP_RCVBUF`].
pub fn udp_socket() -> std::net::UdpSocket {
    let sock = socket2::Socket::from(std::net::UdpSocket::bind(loopback()).unwrap());
    sock.set_recv_buffer_size(UDP_RCVBUF).unwrap();
    let sock: std::net::UdpSocket = sock.into();
    sock.set_nonblocking(true).unwrap();
    sock
}

/// Our socket on a fresh loopback port, default configuration.
pub async fn bind_ours() -> UtpSocket {
    bind_listener(Listener::Plain)
}

/// How our listener answers SYNs in a test where the peer connects to us.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Listener {
    /// The default configuration.
    Plain,
    /// `SynCookies::Always`: every SYN gets a SYN cookie, nothing is stored
    /// until the initiator's first packet after the handshake. The peer
    /// must write first (a connection made from a cookie cannot send before
    /// the initiator has sent something).
    Cookies,
}

impl Listener {
    /// The driver configuration of our socket.
    pub fn config(self) -> DriverConfig {
        let mut c = DriverConfig::default();
        if self == Listener::Cookies {
            c.config.syn_cookies = SynCookies::Always;
        }
        c
    }

    /// Suffix for the throughput lines.
    pub fn label(self) -> &'static str {
        match self {
            Listener::Plain => "",
            Listener::Cookies => ", SYN cookies",
        }
    }

    /// After the exchange: with cookies, the listener answered SYNs with
    /// cookies, every connection it accepted was made from a valid one, and
    /// nothing is left half-open.
    pub fn check(self, peer: &str, ours: &UtpSocket) {
        let stats = ours.endpoint_stats();
        eprintln!("{peer}: our endpoint: {stats:?}");
        if self == Listener::Cookies {
            assert!(stats.accepted >= 1, "{peer}: {stats:?}");
            assert!(
                stats.cookies_sent >= 1,
                "{peer}: no SYN cookie sent: {stats:?}"
            );
            assert_eq!(
                stats.cookies_accepted, stats.accepted,
                "{peer}: a connection not made from a cookie: {stats:?}"
            );
            assert_eq!(stats.cookies_invalid, 0, "{peer}: {stats:?}");
            assert_eq!(stats.half_open, 0, "{peer}: {stats:?}");
        }
    }
}

/// Our socket on a fresh loopback port, configured as `listener` says.
pub fn bind_listener(listener: Listener) -> UtpSocket {
    UtpSocket::from_std(udp_socket(), listener.config()).unwrap()
}

/// Kernel drops (full receive buffer) of both sockets, for the test output.
pub fn print_drops(what: &str, ours: SocketAddr, theirs: SocketAddr) {
    eprintln!(
        "{what}: UDP receive-buffer drops: ours {:?}, theirs {:?}",
        data::udp_drops(ours),
        data::udp_drops(theirs)
    );
}

/// When each phase of the standard exchange ended.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    /// The client starts writing A.
    pub start: Instant,
    /// The server has all of A (and starts writing B).
    pub a_done: Instant,
    /// The client has all of B.
    pub b_done: Instant,
}

/// Prints the two throughput lines of an exchange of `SIZE` bytes each way:
/// client to server, then server to client.
pub fn report(peer: &str, client: &str, server: &str, p: Phases) {
    let (client, server) = (format!("{client}(client)"), format!("{server}(server)"));
    data::report_throughput(
        peer,
        &format!("{client}->{server}"),
        SIZE,
        p.a_done - p.start,
    );
    data::report_throughput(
        peer,
        &format!("{server}->{client}"),
        SIZE,
        p.b_done - p.a_done,
    );
}

/// Reads to the end of the stream and checks the bytes.
pub async fn read_all_and_verify<R: AsyncRead + Unpin>(r: &mut R, what: &str, want: &[u8]) {
    let mut got = Vec::with_capacity(want.len());
    r.read_to_end(&mut got)
        .await
        .unwrap_or_else(|e| panic!("{what}: read failed after {} bytes: {e}", got.len()));
    data::verify(what, &got, want).unwrap();
}

/// Reads exactly `want.len()` bytes and checks them.
pub async fn read_exact_and_verify<R: AsyncRead + Unpin>(r: &mut R, what: &str, want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    r.read_exact(&mut got)
        .await
        .unwrap_or_else(|e| panic!("{what}: read_exact failed: {e}"));
    data::verify(what, &got, want).unwrap();
}

/// Our client's side of the standard exchange: write A, shut down our side
/// (FIN), then read B to the peer's FIN, still receiving after our FIN
/// (half-close). Returns when B is complete.
pub async fn our_client_side<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    a: &[u8],
    b: &[u8],
) -> Instant {
    s.write_all(a).await.unwrap();
    s.shutdown().await.unwrap();
    read_all_and_verify(s, "client reading B", b).await;
    Instant::now()
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("utp-interop-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Path MTU discovery with a real peer on loopback: our padded probe (a DATA
/// packet with zero-filled SACKs, sent with don't-fragment) was accepted and
/// acknowledged, so the connection reached the ceiling, 1402 bytes.
pub fn assert_reached_ceiling(peer: &str, stats: &utp_core::ConnStats) {
    eprintln!(
        "{peer}: packet size {} after {} path MTU probes ({} lost)",
        stats.packet_size, stats.mtu_probes_sent, stats.mtu_probes_lost
    );
    assert_eq!(stats.packet_size, 1402, "{peer}: {stats:?}");
    assert!(stats.mtu_probes_sent >= 1, "{peer}: {stats:?}");
}

/// [`assert_reached_ceiling`] for a connection through a lossy relay that
/// sent little data (a downloader's requests): a probe goes only with a
/// full packet of data, so when the relay drops the one or two probes
/// such a connection sends, nothing is left to carry another. Then every
/// probe sent must have been lost (one that arrived is acknowledged and
/// confirms its size); the tests without the relay demand the ceiling.
pub fn assert_reached_ceiling_or_probes_lost(peer: &str, stats: &utp_core::ConnStats) {
    if stats.packet_size == 1402 || stats.mtu_probes_sent == 0 {
        return assert_reached_ceiling(peer, stats);
    }
    eprintln!(
        "{peer}: packet size {} after {} path MTU probes, all lost on the lossy link",
        stats.packet_size, stats.mtu_probes_sent
    );
    assert_eq!(
        stats.mtu_probes_lost, stats.mtu_probes_sent,
        "{peer}: {stats:?}"
    );
}
