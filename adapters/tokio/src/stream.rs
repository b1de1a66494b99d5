//! [`UtpStream`] and its halves: one connection as `AsyncRead` +
//! `AsyncWrite`, how it ends ([`UtpStream::closed`]), and its settings.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use utp_core::bytes::Bytes;
use utp_core::{CloseInfo, ConnHandle, ConnStats, Peer};

use crate::Shared;

/// One connection, shared by a stream or its two halves; closes it when
/// the last goes away.
struct Conn<P: Peer> {
    shared: Arc<Shared<P>>,
    h: ConnHandle,
    peer: P,
}

impl<P: Peer> Conn<P> {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let shared = &self.shared;
        let out = buf.initialize_unfilled();
        let n = match shared
            .lock()
            .poll_read(&*shared.socket, shared.now(), self.h, cx, out)
        {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        shared
            .lock()
            .poll_write(&*shared.socket, shared.now(), self.h, cx, buf)
    }

    fn poll_write_bytes(&self, cx: &mut Context<'_>, data: &mut Bytes) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        shared
            .lock()
            .poll_write_bytes(&*shared.socket, shared.now(), self.h, cx, data)
    }

    fn shutdown(&self) -> io::Result<()> {
        let shared = &self.shared;
        shared
            .lock()
            .shutdown(&*shared.socket, shared.now(), self.h)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.shared.socket.udp() {
            Some(udp) => udp.io.local_addr(),
            None => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peer
            .socket_addr()
            .ok_or_else(|| io::ErrorKind::Unsupported.into())
    }

    fn stats(&self) -> ConnStats {
        self.shared.lock().conn_stats(self.shared.now(), self.h)
    }

    fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<io::Result<CloseInfo>> {
        self.shared.lock().poll_closed(self.h, cx)
    }

    fn set_close_reason(&self, code: Option<u16>) -> io::Result<()> {
        self.shared.lock().set_close_reason(self.h, code)
    }

    fn set_max_send_rate(&self, bytes_per_second: Option<u64>) -> io::Result<()> {
        self.shared
            .lock()
            .set_max_send_rate(self.h, bytes_per_second)
    }

    fn set_keepalive(&self, interval: Option<std::time::Duration>) -> io::Result<()> {
        self.shared.lock().set_keepalive(self.h, interval)
    }
}

impl<P: Peer> Drop for Conn<P> {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.lock().close(&*shared.socket, shared.now(), self.h);
        self.shared.release();
    }
}

/// A uTP connection: [`AsyncRead`] + [`AsyncWrite`].
///
/// `poll_shutdown` half-closes (a FIN after the data written; reading goes
/// on until the peer's FIN), `poll_flush` returns at once (written data is
/// in the send buffer and goes out as the window allows). Dropping the
/// stream closes the connection gracefully: data written is still
/// delivered while the socket lives (see [`UtpSocket::wait_idle`](crate::UtpSocket::wait_idle)
/// to wait for that before exiting); [`abort`](Self::abort) resets it.
/// [`closed`](Self::closed) tells when and how it ended.
///
/// Reads return `Ok(0)` once the peer's FIN and everything before it were
/// read; a RESET that arrives after that is still reported
/// (`ConnectionReset`) by the next read.
///
/// Its peer is a `P`: a `SocketAddr` over UDP (the default), or the peer
/// type of the socket's [`Transport`](crate::Transport).
pub struct UtpStream<P: Peer = SocketAddr> {
    conn: Arc<Conn<P>>,
}

impl UtpStream {
    /// The connection behind the stream (for the manager).
    pub(crate) fn conn_handle(&self) -> ConnHandle {
        self.conn.h
    }
}

impl<P: Peer> UtpStream<P> {
    pub(crate) fn new(shared: Arc<Shared<P>>, h: ConnHandle, peer: P) -> UtpStream<P> {
        shared.acquire();
        UtpStream {
            conn: Arc::new(Conn { shared, h, peer }),
        }
    }

    /// Splits the stream into halves that can be used from two tasks at
    /// once. The connection closes when both are dropped;
    /// [`reunite`](Self::reunite) puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf<P>, OwnedWriteHalf<P>) {
        (
            OwnedReadHalf {
                conn: self.conn.clone(),
            },
            OwnedWriteHalf {
                conn: self.conn,
                shutdown_on_drop: true,
            },
        )
    }

    /// The stream again from its two halves, or both back in the error
    /// when they are not from the same stream.
    pub fn reunite(
        read: OwnedReadHalf<P>,
        mut write: OwnedWriteHalf<P>,
    ) -> Result<UtpStream<P>, ReuniteError<P>> {
        if !Arc::ptr_eq(&read.conn, &write.conn) {
            return Err(ReuniteError(read, write));
        }
        write.shutdown_on_drop = false;
        drop(write);
        Ok(UtpStream { conn: read.conn })
    }

    /// Aborts the connection: the peer gets a RESET (its calls fail with
    /// `ConnectionReset`), unsent data is dropped. From then on this
    /// stream's reads and writes fail with `ConnectionAborted`, and
    /// [`closed`](Self::closed) reports [`CloseReason::Aborted`](crate::CloseReason::Aborted).
    pub fn abort(&self) {
        let c = &self.conn;
        let _ = c
            .shared
            .lock()
            .reset(&*c.shared.socket, c.shared.now(), c.h);
    }
}

/// [`UtpStream::reunite`] was given halves of two different streams; here
/// they are back.
#[derive(Debug)]
pub struct ReuniteError<P: Peer = SocketAddr>(pub OwnedReadHalf<P>, pub OwnedWriteHalf<P>);

impl<P: Peer> std::fmt::Display for ReuniteError<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tried to reunite halves of different streams")
    }
}

impl<P: Peer> std::error::Error for ReuniteError<P> {}

/// The reading half of a [`UtpStream`], from
/// [`into_split`](UtpStream::into_split).
pub struct OwnedReadHalf<P: Peer = SocketAddr> {
    conn: Arc<Conn<P>>,
}

/// The writing half of a [`UtpStream`], from
/// [`into_split`](UtpStream::into_split). `poll_shutdown` sends a FIN, as
/// dropping this half does.
pub struct OwnedWriteHalf<P: Peer = SocketAddr> {
    conn: Arc<Conn<P>>,
    shutdown_on_drop: bool,
}

macro_rules! conn_common {
    ($t:ident) => {
        impl<P: Peer> $t<P> {
            /// The peer's UDP address ([`Peer::socket_addr`];
            /// `Unsupported` for a peer that has none).
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.conn.peer_addr()
            }

            /// The peer.
            pub fn peer(&self) -> &P {
                &self.conn.peer
            }

            /// The local UDP socket's address (`Unsupported` over a
            /// [`Transport`](crate::Transport)).
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.conn.local_addr()
            }

            /// The connection's counters (zero once it is gone).
            pub fn stats(&self) -> ConnStats {
                self.conn.stats()
            }

            /// Resolves once the connection has ended, with how:
            /// [`CloseInfo::reason`] (finished, reset by the peer, refused,
            /// timed out and which timer, aborted, closed locally) and the
            /// close-reason code the peer sent, if any. Data received
            /// before the end can still be read. Fails only when the
            /// socket's driver has stopped.
            ///
            /// Cancel safe: dropping the future loses nothing.
            pub async fn closed(&self) -> io::Result<CloseInfo> {
                poll_fn(|cx| self.conn.poll_closed(cx)).await
            }

            /// [`closed`](Self::closed) as a poll function, for code that
            /// implements its own futures: `Ready` once the connection has
            /// ended; otherwise `cx` is woken when it does.
            pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<io::Result<CloseInfo>> {
                self.conn.poll_closed(cx)
            }

            /// Sets the close-reason code (uTP extension 3, which
            /// libtorrent reads) that this connection's FIN and RESET carry
            /// from now on: call it before `shutdown`, dropping or `abort`.
            /// `None` (the default) sends none.
            pub fn set_close_reason(&self, code: Option<u16>) -> io::Result<()> {
                self.conn.set_close_reason(code)
            }

            /// Caps this connection's sending rate at `bytes_per_second`
            /// (payload, headers and retransmissions), or lifts the cap
            /// with `None` ([`Config::max_send_rate`](crate::Config::max_send_rate)
            /// sets it for every connection).
            pub fn set_max_send_rate(&self, bytes_per_second: Option<u64>) -> io::Result<()> {
                self.conn.set_max_send_rate(bytes_per_second)
            }

            /// Sends a keepalive after `interval` without sending (`None`:
            /// never): [`Config::keepalive`](crate::Config::keepalive) (29 s)
            /// by default, 15 s for a rendezvous connection
            /// ([`Config::rendezvous_keepalive`](crate::Config::rendezvous_keepalive)),
            /// to keep NAT mappings open.
            pub fn set_keepalive(&self, interval: Option<std::time::Duration>) -> io::Result<()> {
                self.conn.set_keepalive(interval)
            }
        }

        impl<P: Peer> std::fmt::Debug for $t<P> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("peer", &self.conn.peer)
                    .finish_non_exhaustive()
            }
        }
    };
}
conn_common!(UtpStream);
conn_common!(OwnedReadHalf);
conn_common!(OwnedWriteHalf);

macro_rules! read_impls {
    ($($t:ident),*) => {$(
        impl<P: Peer> AsyncRead for $t<P> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                self.conn.poll_read(cx, buf)
            }
        }
    )*};
}
read_impls!(UtpStream, OwnedReadHalf);

macro_rules! write_impls {
    ($($t:ident),*) => {$(
        impl<P: Peer> AsyncWrite for $t<P> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.conn.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.conn.shutdown())
            }
        }
    )*};
}
write_impls!(UtpStream, OwnedWriteHalf);

macro_rules! write_bytes {
    ($($t:ident),*) => {$(
        impl<P: Peer> $t<P> {
            /// Writes all of `data`, waiting for room in the send buffer,
            /// without copying it there: the buffer holds the `Bytes`
            /// (slices of it) until the peer acknowledges them, and each
            /// byte is copied once on the way out, into the datagram
            /// ([`utp_core::Conn::write_bytes`]; a `Bytes` under 1 KiB is
            /// copied as `write` does). Not cancel safe: if the future is
            /// dropped, the part already queued is sent and the rest is
            /// not (use [`poll_write_bytes`](Self::poll_write_bytes) to
            /// keep it).
            pub async fn write_bytes(&mut self, data: Bytes) -> io::Result<()> {
                utp_driver::write_all_bytes(data, |cx, d| self.conn.poll_write_bytes(cx, d)).await
            }

            /// [`write_bytes`](Self::write_bytes) as a poll function: queues
            /// as much of `data` as fits, takes that from its front and
            /// returns how much; `Pending` (and `cx` woken later) while the
            /// send buffer takes nothing (`utp_core::Conn::write_room`).
            pub fn poll_write_bytes(
                &mut self,
                cx: &mut Context<'_>,
                data: &mut Bytes,
            ) -> Poll<io::Result<usize>> {
                self.conn.poll_write_bytes(cx, data)
            }
        }
    )*};
}
write_bytes!(UtpStream, OwnedWriteHalf);

impl<P: Peer> Drop for OwnedWriteHalf<P> {
    /// As with tokio's `TcpStream` halves: no more writes, the peer reads
    /// to the end.
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.conn.shutdown();
        }
    }
}
