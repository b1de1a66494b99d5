//! `listen` and `connect`: uTP connections between stdin/stdout (or
//! files) and peers, on utp-tokio. One connection here, or with `listen
//! --keep-open` one after another and several at once (`serve.rs`); the
//! shared pieces (the connection both directions use, copying with
//! progress) are here too, addresses in `addr.rs`, `--stats` and `-w` in
//! `watch.rs`, `punch` and the introducer in `punch.rs`.

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use utp_core::{AcceptDecision, ConnStats, ListenConfig};
use utp_tokio::{UtpSocket, UtpStream};

use crate::error::{Context, Failure};
use crate::progress::{format_rtt, stats_message, Progress};

mod addr;
mod punch;
mod serve;
mod watch;

use addr::{bind_listener, connect};
pub(crate) use addr::{ConnectTo, Family, MapTo};
pub(crate) use punch::{introducer, Meet, PunchTo};
use serve::serve;
pub(crate) use watch::Watching;
use watch::{final_line, observe, say};

/// Which end we are.
#[derive(Debug)]
pub(crate) enum Role {
    /// Accept on `[HOST:]PORT`: one connection, or with `keep_open` any
    /// number until interrupted.
    Listen {
        /// `[HOST:]PORT`.
        addr: String,
        /// Serve connection after connection (`--keep-open`).
        keep_open: bool,
    },
    /// Connect as this says.
    Connect(ConnectTo),
    /// Connect by a rendezvous through NATs, as this says.
    Punch(PunchTo),
}

/// What to move and what to show.
#[derive(Debug)]
pub(crate) struct Options {
    /// Send this file instead of stdin.
    pub(crate) send: Option<PathBuf>,
    /// Write to this file instead of stdout.
    pub(crate) recv: Option<PathBuf>,
    /// Show progress even when stderr is not a terminal.
    pub(crate) progress: bool,
    /// Only errors (and stats lines) on stderr.
    pub(crate) quiet: bool,
    /// The address family of a listener (a connection's is in
    /// [`ConnectTo`]).
    pub(crate) family: Family,
    /// `--stats` and `-w`.
    pub(crate) watching: Watching,
    /// `listen --map`.
    pub(crate) map: Option<MapTo>,
}

/// Copy buffer size: a few packets' worth keeps syscalls and lock turns few.
const BUF: usize = 1024 * 1024;
/// After both directions are done, how long to wait for the peer to
/// acknowledge our FIN (the core's retransmission limit ends it sooner).
const LINGER: Duration = Duration::from_secs(60);
/// Connections a single-connection listener keeps in its backlog (those
/// that arrived with the first one are reset).
const SINGLE_BACKLOG: usize = 16;
/// After we reset a connection that was still open, how long the peer may
/// go without sending before we exit, and the longest we stay.
const ABORT_QUIET: Duration = Duration::from_secs(1);
const ABORT_LINGER: Duration = Duration::from_secs(5);

/// Runs `listen` or `connect` to the end.
pub(crate) fn run(role: Role, opts: Options) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context(|| "cannot start the tokio runtime".into())?;
    let result = runtime.block_on(async {
        match role {
            Role::Listen {
                addr,
                keep_open: true,
            } => serve(&addr, opts).await,
            role => one(role, opts).await,
        }
    });
    // Reading stdin blocks a thread that nothing can interrupt: do not
    // wait for it.
    runtime.shutdown_background();
    result
}

/// One connection to the end: `listen` without `--keep-open`, or
/// `connect`.
///
/// A listener serves the first connection `accept` hands out (the core
/// hands out only connections whose initiator proved its address, so a
/// spoofed SYN never takes it) and writes to it at once; from then on SYNs
/// are refused, and connections that were already waiting are reset.
async fn one(role: Role, opts: Options) -> Result<(), Failure> {
    // Open files first: a typo should not cost a connection.
    let send_file = match &opts.send {
        Some(path) => Some(open_for_sending(path).await?),
        None => None,
    };
    let mut recv_file = match &opts.recv {
        Some(path) => Some(
            tokio::fs::File::create(path)
                .await
                .context(|| format!("cannot create {}", path.display()))?,
        ),
        None => None,
    };
    let send_len = send_file.as_ref().map(|(_, len)| *len);
    let (source, what): (Box<dyn AsyncRead + Unpin + Send>, String) = match send_file {
        Some((file, _)) => (
            Box::new(file),
            opts.send
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        // A terminal user receiving a file has nothing to type.
        None if opts.recv.is_some() && io::stdin().is_terminal() => {
            (Box::new(tokio::io::empty()), String::new())
        }
        None => (Box::new(tokio::io::stdin()), "stdin".into()),
    };
    let mut source = Outgoing {
        inner: source,
        what,
    };

    // The socket must outlive the stream: its driver task runs the
    // connection.
    let (socket, stream) = match role {
        Role::Connect(to) => connect(&to).await?,
        Role::Punch(to) => punch::punch(&to).await?,
        Role::Listen { addr, .. } => {
            let taken = Arc::new(AtomicBool::new(false));
            let filter_taken = Arc::clone(&taken);
            let mut listen = ListenConfig::default();
            listen.backlog = SINGLE_BACKLOG;
            listen.filter = Box::new(move |_| {
                if filter_taken.load(Ordering::Acquire) {
                    AcceptDecision::Refuse
                } else {
                    AcceptDecision::Accept
                }
            });
            let (socket, local, mapped) =
                bind_listener(&addr, opts.family, listen, opts.quiet, opts.map).await?;
            let (stream, peer) = socket
                .accept()
                .await
                .context(|| format!("accept on {local}"))?;
            taken.store(true, Ordering::Release);
            if !opts.quiet {
                eprintln!("utpcat: connection from {peer}");
            }
            // Connections that came in with the first one: nobody serves
            // them.
            let turned_away = async {
                while let Ok((stream, peer)) = socket.accept().await {
                    if !opts.quiet {
                        eprintln!("utpcat: {peer} reset: already connected");
                    }
                    stream.abort();
                }
                std::future::pending::<std::convert::Infallible>().await
            };
            let result = tokio::select! {
                r = transfer(stream, &mut source, recv_file.as_mut(), send_len, &opts) => r,
                never = turned_away => match never {},
            };
            if let Err(e) = &result {
                linger_after_abort(&socket, e).await;
            }
            if let Some(mapped) = mapped {
                if let Err(e) = mapped.remove().await {
                    eprintln!("utpcat: {e}");
                }
            }
            return result;
        }
    };
    let result = transfer(stream, &mut source, recv_file.as_mut(), send_len, &opts).await;
    if let Err(e) = &result {
        linger_after_abort(&socket, e).await;
    }
    result
}

/// After we reset a connection because of `failure`: if the connection
/// was still open (a local failure, not one of the connection), stays
/// while the peer keeps sending, up to [`ABORT_LINGER`]. Our RESET is one
/// datagram and may be lost; while the socket is open, the endpoint
/// answers each packet of the connection it no longer has with another,
/// so the peer learns of the reset instead of timing out.
async fn linger_after_abort(socket: &UtpSocket, failure: &Failure) {
    if is_connection_failure(failure) {
        return;
    }
    let until = Instant::now() + ABORT_LINGER;
    let mut seen = socket.driver_stats().datagrams_received;
    while Instant::now() < until {
        tokio::time::sleep(ABORT_QUIET).await;
        let now_seen = socket.driver_stats().datagrams_received;
        if now_seen == seen {
            return;
        }
        seen = now_seen;
    }
}

/// Opens `path` to send it, with its length.
async fn open_for_sending(path: &Path) -> Result<(tokio::fs::File, u64), Failure> {
    let file = tokio::fs::File::open(path)
        .await
        .context(|| format!("cannot open {}", path.display()))?;
    let len = file
        .metadata()
        .await
        .context(|| format!("cannot read {}", path.display()))?
        .len();
    Ok((file, len))
}

/// Runs one connection: `source` to the peer (then a FIN), what arrives
/// to `recv_file` or stdout, until both directions are done and the peer
/// has our FIN; progress bars and the summary as `opts` say.
async fn transfer(
    stream: UtpStream,
    source: &mut Outgoing,
    recv_file: Option<&mut tokio::fs::File>,
    send_len: Option<u64>,
    opts: &Options,
) -> Result<(), Failure> {
    let peer = stream.peer_addr().context(|| "peer address".into())?;
    let progress = if opts.send.is_some() || opts.recv.is_some() {
        Progress::new(opts.progress, opts.quiet)
    } else {
        None
    };
    let send_bar = match (&progress, send_len) {
        (Some(p), Some(len)) => Some(p.bar("send", Some(len))),
        _ => None,
    };
    let recv_bar = match (&progress, &recv_file) {
        (Some(p), Some(_)) => Some(p.bar("recv", None)),
        _ => None,
    };

    let conn = Conn::new(stream);
    let started = Instant::now();
    let up = async {
        let mut writer = conn.clone();
        let what = source.what.clone();
        let sent = pump(
            &mut source.inner,
            &mut writer,
            Meter::new(send_bar.as_ref(), &conn),
            false,
            || format!("cannot read {what}"),
            || format!("send to {peer}"),
        )
        .await?;
        writer
            .shutdown()
            .await
            .context(|| format!("send to {peer}"))?;
        Ok::<u64, Failure>(sent)
    };
    let down = async {
        let mut reader = conn.clone();
        let received = match recv_file {
            Some(file) => {
                let what = opts.recv.as_ref().map(|p| p.display().to_string());
                let write_context = || format!("cannot write {}", what.as_deref().unwrap_or(""));
                let n = pump(
                    &mut reader,
                    file,
                    Meter::new(recv_bar.as_ref(), &conn),
                    false,
                    || format!("receive from {peer}"),
                    write_context,
                )
                .await?;
                file.sync_all().await.context(write_context)?;
                n
            }
            None => {
                pump(
                    &mut reader,
                    &mut tokio::io::stdout(),
                    Meter::new(None, &conn),
                    true,
                    || format!("receive from {peer}"),
                    || "cannot write stdout".into(),
                )
                .await?
            }
        };
        Ok::<u64, Failure>(received)
    };
    let session = async {
        let counts = tokio::try_join!(up, down)?;
        // Both directions are done; stay until the peer has our FIN, or
        // its retransmissions would find nobody.
        conn.finished(peer).await.map(|()| counts)
    };
    let result = tokio::select! {
        r = session => r,
        idle = observe(&conn, peer, opts.watching, progress.as_ref(), started) => Err(idle),
    };
    let elapsed = started.elapsed();
    let stats = conn.stats();
    for bar in send_bar.iter().chain(recv_bar.iter()) {
        if result.is_ok() {
            bar.finish_with_message(stats_message(&stats));
        } else {
            bar.abandon();
        }
    }
    if let Some(p) = &progress {
        p.end();
    }
    if opts.watching.stats {
        say(None, &final_line(peer, elapsed, &stats));
    }
    let (sent, received) = match result {
        Ok(counts) => counts,
        Err(e) => {
            // Tell the peer at once rather than let it time out.
            conn.abort();
            return Err(e);
        }
    };
    if progress.is_some() {
        eprintln!("{}", summary(sent, received, elapsed, &stats));
    }
    Ok(())
}

/// Whether `failure` came from the connection (the peer or the network)
/// rather than from stdin or a local file.
fn is_connection_failure(failure: &Failure) -> bool {
    matches!(
        failure,
        Failure::Io { err, .. } if matches!(
            err.kind(),
            io::ErrorKind::TimedOut
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::NotConnected
        )
    )
}

/// What a single connection sends: stdin, a file or nothing.
struct Outgoing {
    inner: Box<dyn AsyncRead + Unpin + Send>,
    /// What to call `inner` in errors.
    what: String,
}

/// The connection, shared by the two directions (each locks it for the
/// length of one poll), so that either can read its stats or abort it.
#[derive(Clone, Debug)]
struct Conn(Arc<Mutex<Option<UtpStream>>>);

impl Conn {
    fn new(stream: UtpStream) -> Self {
        Conn(Arc::new(Mutex::new(Some(stream))))
    }

    fn with<T>(
        &self,
        f: impl FnOnce(Pin<&mut UtpStream>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(stream) => f(Pin::new(stream)),
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection aborted",
            ))),
        }
    }

    fn stats(&self) -> ConnStats {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(UtpStream::stats).unwrap_or_default()
    }

    /// Resets the connection: the peer's calls fail with
    /// `ConnectionReset`.
    fn abort(&self) {
        let stream = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(stream) = stream {
            stream.abort();
        }
    }

    /// After both directions are done: waits until the connection has
    /// finished (our FIN acknowledged), or fails as it did.
    async fn finished(&self, peer: SocketAddr) -> Result<(), Failure> {
        let closed = std::future::poll_fn(|cx| self.with(|s| s.poll_closed(cx)));
        match tokio::time::timeout(LINGER, closed).await {
            Ok(Ok(info)) if info.reason.is_clean() => Ok(()),
            Ok(Ok(info)) => Err(Failure::io(
                format!("close with {peer}"),
                utp_core::error::close_error(info.reason),
            )),
            Ok(Err(e)) => Err(Failure::io(format!("close with {peer}"), e)),
            Err(_) => Err(Failure::io(
                format!("close with {peer}"),
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer did not acknowledge the end of the stream",
                ),
            )),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_shutdown(cx))
    }
}

/// The last line: what moved, how fast, and how the connection fared.
fn summary(sent: u64, received: u64, elapsed: Duration, stats: &ConnStats) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = sent.max(received) as f64 / secs;
    format!(
        "utpcat: sent {sent} bytes, received {received} bytes in {secs:.2} s ({:.1} MiB/s, {:.1} Mbit/s); rtt {}, {} retransmits",
        rate / (1024.0 * 1024.0),
        rate * 8.0 / 1e6,
        format_rtt(stats.rtt),
        stats.retransmits,
    )
}

/// Counts bytes on a progress bar, with the connection's stats in its
/// message a few times a second.
struct Meter<'a> {
    bar: Option<&'a ProgressBar>,
    conn: &'a Conn,
    last: Option<Instant>,
}

impl<'a> Meter<'a> {
    fn new(bar: Option<&'a ProgressBar>, conn: &'a Conn) -> Self {
        Meter {
            bar,
            conn,
            last: None,
        }
    }

    fn add(&mut self, n: u64) {
        let Some(bar) = self.bar else {
            return;
        };
        bar.inc(n);
        let now = Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(250))
        {
            bar.set_message(stats_message(&self.conn.stats()));
            self.last = Some(now);
        }
    }
}

/// Copies `from` into `to` until EOF, counting on `meter`, flushing after
/// each chunk if `flush_each` (stdout: pipes and terminals see data as it
/// comes; a file is flushed at the end only). Returns the bytes copied.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    mut meter: Meter<'_>,
    flush_each: bool,
    read_context: impl Fn() -> String,
    write_context: impl Fn() -> String,
) -> Result<u64, Failure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await.context(&read_context)?;
        let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
            break;
        };
        to.write_all(data).await.context(&write_context)?;
        if flush_each {
            to.flush().await.context(&write_context)?;
        }
        total += n as u64;
        meter.add(n as u64);
    }
    to.flush().await.context(&write_context)?;
    Ok(total)
}
