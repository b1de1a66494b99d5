//! `listen --keep-open`: one socket serving connection after connection,
//! several at once, until the process is interrupted.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use utp_core::ListenConfig;
use utp_tokio::UtpStream;

use super::{
    bind_listener, final_line, observe, open_for_sending, pump, say, Conn, Meter, Options,
    Watching, BUF,
};
use crate::error::{Context, Failure};

/// `listen --keep-open`: serves every connection until the process is
/// interrupted.
///
/// Each client gets `--send FILE` whole, or stdin from its beginning:
/// stdin is read once, kept in memory and sent to every client (one that
/// connects later gets what was read so far, then what follows; its FIN
/// follows the end of stdin). What clients send goes to stdout one
/// connection at a time, never interleaved: a connection takes stdout with
/// its first byte and keeps it until its end; what others send meanwhile
/// is held in memory and written, whole, when their turn comes, in the
/// order they began sending.
pub(super) async fn serve(spec: &str, opts: Options) -> Result<(), Failure> {
    let source = match &opts.send {
        Some(path) => {
            // Opened once now so that a typo fails at once, then for each
            // connection.
            open_for_sending(path).await?;
            Source::File(path.clone())
        }
        None => Source::Stdin(Broadcast::stdin()),
    };
    // The mapping (with --map) is renewed while the listener runs; when it
    // is interrupted, the gateway's lifetime ends it.
    let (socket, local, _mapped) = bind_listener(
        spec,
        opts.family,
        ListenConfig::default(),
        opts.quiet,
        opts.map,
    )
    .await?;
    let turn = Arc::new(tokio::sync::Mutex::new(()));
    // A failure of stdout ends the listener: nothing could be written.
    let (fatal_tx, mut fatal_rx) = mpsc::unbounded_channel::<Failure>();
    loop {
        let accepted = tokio::select! {
            a = socket.accept() => a.context(|| format!("accept on {local}"))?,
            Some(fatal) = fatal_rx.recv() => return Err(fatal),
        };
        let (stream, peer) = accepted;
        if !opts.quiet {
            eprintln!("utpcat: connection from {peer}");
        }
        let source = source.clone();
        let turn = Arc::clone(&turn);
        let fatal = fatal_tx.clone();
        let quiet = opts.quiet;
        let watching = opts.watching;
        tokio::spawn(async move {
            match serve_one(stream, peer, &source, &turn, &fatal, watching).await {
                Ok((sent, received)) if !quiet => {
                    eprintln!("utpcat: {peer} done: sent {sent} bytes, received {received} bytes");
                }
                Ok(_) => {}
                Err(e) => eprintln!("utpcat: {e}"),
            }
        });
    }
}

/// What every client of `listen --keep-open` receives.
#[derive(Clone, Debug)]
enum Source {
    /// This file, opened for each connection.
    File(PathBuf),
    /// Stdin, read once.
    Stdin(Arc<Broadcast>),
}

/// Stdin as read so far, for every connection of `listen --keep-open`.
#[derive(Debug)]
struct Broadcast {
    data: Mutex<Vec<u8>>,
    /// Bytes in `data`, and whether stdin ended.
    len: watch::Receiver<(usize, bool)>,
}

impl Broadcast {
    /// Starts reading stdin into a new broadcast.
    fn stdin() -> Arc<Broadcast> {
        let (tx, rx) = watch::channel((0, false));
        let broadcast = Arc::new(Broadcast {
            data: Mutex::new(Vec::new()),
            len: rx,
        });
        let filling = Arc::clone(&broadcast);
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; BUF];
            loop {
                let n = match stdin.read(&mut buf).await {
                    Ok(n) => n,
                    Err(e) => {
                        eprintln!("utpcat: cannot read stdin: {e}");
                        0
                    }
                };
                let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                    tx.send_modify(|(_, done)| *done = true);
                    return;
                };
                let len = {
                    let mut data = filling.data.lock().unwrap_or_else(PoisonError::into_inner);
                    data.extend_from_slice(chunk);
                    data.len()
                };
                tx.send_modify(|(l, _)| *l = len);
            }
        });
        broadcast
    }

    /// Sends all of stdin to `to`, as it comes; the bytes sent.
    async fn send(&self, to: &mut Conn, peer: SocketAddr) -> Result<u64, Failure> {
        let mut len = self.len.clone();
        let mut at = 0usize;
        loop {
            let (have, done) = *len.borrow_and_update();
            if at < have {
                let chunk = {
                    let data = self.data.lock().unwrap_or_else(PoisonError::into_inner);
                    data.get(at..have.min(at + BUF))
                        .unwrap_or_default()
                        .to_vec()
                };
                to.write_all(&chunk)
                    .await
                    .context(|| format!("send to {peer}"))?;
                at += chunk.len();
                continue;
            }
            if done || len.changed().await.is_err() {
                break;
            }
        }
        to.flush().await.context(|| format!("send to {peer}"))?;
        Ok(at as u64)
    }
}

/// One connection of `listen --keep-open`, watched as `watching` says:
/// the bytes sent and received.
async fn serve_one(
    stream: UtpStream,
    peer: SocketAddr,
    source: &Source,
    turn: &tokio::sync::Mutex<()>,
    fatal: &mpsc::UnboundedSender<Failure>,
    watching: Watching,
) -> Result<(u64, u64), Failure> {
    let started = Instant::now();
    let conn = Conn::new(stream);
    let up = async {
        let mut writer = conn.clone();
        let sent = match source {
            Source::File(path) => {
                let (mut file, _) = open_for_sending(path).await?;
                pump(
                    &mut file,
                    &mut writer,
                    Meter::new(None, &conn),
                    false,
                    || format!("cannot read {}", path.display()),
                    || format!("send to {peer}"),
                )
                .await?
            }
            Source::Stdin(broadcast) => broadcast.send(&mut writer, peer).await?,
        };
        writer
            .shutdown()
            .await
            .context(|| format!("send to {peer}"))?;
        Ok::<u64, Failure>(sent)
    };
    let down = in_turn(&conn, peer, turn, fatal);
    let session = async {
        let counts = tokio::try_join!(up, down)?;
        conn.finished(peer).await.map(|()| counts)
    };
    let result = tokio::select! {
        r = session => r,
        idle = observe(&conn, peer, watching, None, started) => Err(idle),
    };
    if watching.stats {
        say(None, &final_line(peer, started.elapsed(), &conn.stats()));
    }
    if result.is_err() {
        conn.abort();
    }
    result
}

/// What `conn` receives, to stdout when its turn comes: read at once and
/// held until then. The bytes received.
async fn in_turn(
    conn: &Conn,
    peer: SocketAddr,
    turn: &tokio::sync::Mutex<()>,
    fatal: &mpsc::UnboundedSender<Failure>,
) -> Result<u64, Failure> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let read = async move {
        let mut reader = conn.clone();
        let mut buf = vec![0u8; BUF];
        let mut total = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .context(|| format!("receive from {peer}"))?;
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            total += n as u64;
            // The writer only goes away with an error of stdout.
            let _ = tx.send(chunk.to_vec());
        }
        Ok::<u64, Failure>(total)
    };
    let write = async {
        let Some(first) = rx.recv().await else {
            return Ok(());
        };
        let _turn = turn.lock().await;
        let mut stdout = tokio::io::stdout();
        let mut chunk = Some(first);
        while let Some(data) = chunk {
            if let Err(e) = async {
                stdout.write_all(&data).await?;
                stdout.flush().await
            }
            .await
            {
                let copy = io::Error::new(e.kind(), e.to_string());
                let _ = fatal.send(Failure::io("cannot write stdout", e));
                return Err(Failure::io("cannot write stdout", copy));
            }
            chunk = rx.recv().await;
        }
        Ok::<(), Failure>(())
    };
    let (total, ()) = tokio::try_join!(read, write)?;
    Ok(total)
}
