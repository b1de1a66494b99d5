//! [`UtpStream`] and its halves: one connection as futures-io `AsyncRead`
//! + `AsyncWrite`, how it ends ([`UtpStream::closed`]), and its settings.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::future::poll_fn;
use utp_core::bytes::Bytes;
use utp_core::{CloseInfo, ConnHandle, ConnStats};

use crate::Shared;
use utp_driver::DatagramSocket;

/// One connection, shared by a stream or its two halves; closes it
/// gracefully when dropped.
pub(crate) struct StreamInner {
    shared: Arc<Shared>,
    h: ConnHandle,
}

impl StreamInner {
    /// Wraps `h`, counted already with [`Shared::acquire`].
    pub(crate) fn new(shared: Arc<Shared>, h: ConnHandle) -> Self {
        StreamInner { shared, h }
    }

    /// The connection (for the manager).
    pub(crate) fn conn_handle(&self) -> ConnHandle {
        self.h
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let s = &self.shared;
        s.lock()
            .driver
            .poll_read(&s.socket, s.now(), self.h, cx, buf)
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let s = &self.shared;
        s.lock()
            .driver
            .poll_write(&s.socket, s.now(), self.h, cx, buf)
    }

    fn poll_write_bytes(&self, cx: &mut Context<'_>, data: &mut Bytes) -> Poll<io::Result<usize>> {
        let s = &self.shared;
        s.lock()
            .driver
            .poll_write_bytes(&s.socket, s.now(), self.h, cx, data)
    }

    fn shutdown(&self) -> io::Result<()> {
        let s = &self.shared;
        s.lock().driver.shutdown(&s.socket, s.now(), self.h)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared.lock().driver.peer_addr(self.h)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        DatagramSocket::local_addr(&self.shared.socket)
    }

    fn stats(&self) -> ConnStats {
        self.shared
            .lock()
            .driver
            .conn_stats(self.shared.now(), self.h)
    }

    fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<io::Result<CloseInfo>> {
        self.shared.lock().driver.poll_closed(self.h, cx)
    }

    fn set_close_reason(&self, code: Option<u16>) -> io::Result<()> {
        self.shared.lock().driver.set_close_reason(self.h, code)
    }

    fn set_max_send_rate(&self, bytes_per_second: Option<u64>) -> io::Result<()> {
        self.shared
            .lock()
            .driver
            .set_max_send_rate(self.h, bytes_per_second)
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let s = &self.shared;
        s.lock().driver.close(&s.socket, s.now(), self.h);
        self.shared.release();
    }
}

/// A uTP connection: `futures_io::AsyncRead + AsyncWrite`.
///
/// `close` (futures-io's `poll_close`) half-closes: a FIN follows the
/// data written, the peer reads `Ok(0)`, and this side can still read.
/// Writing after it fails with `BrokenPipe`. Dropping the stream closes it
/// gracefully (data written is still delivered while the socket lives; see
/// [`UtpSocket::wait_idle`](crate::UtpSocket::wait_idle));
/// [`abort`](Self::abort) resets it. [`closed`](Self::closed) tells when
/// and how it ended.
///
/// Reads return `Ok(0)` once the peer's FIN and everything before it were
/// read; a RESET that arrives after that is still reported
/// (`ConnectionReset`) by the next read.
pub struct UtpStream {
    pub(crate) inner: Arc<StreamInner>,
}

/// The reading half of a [`UtpStream`] ([`UtpStream::into_split`]).
pub struct OwnedReadHalf {
    inner: Arc<StreamInner>,
}

/// The writing half of a [`UtpStream`] ([`UtpStream::into_split`]);
/// `close` half-closes the connection, as dropping this half does.
pub struct OwnedWriteHalf {
    inner: Arc<StreamInner>,
    shutdown_on_drop: bool,
}

impl UtpStream {
    /// Splits the stream into halves that two tasks can use at once. The
    /// connection closes gracefully when both are dropped;
    /// [`reunite`](Self::reunite) puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let read = OwnedReadHalf {
            inner: Arc::clone(&self.inner),
        };
        let write = OwnedWriteHalf {
            inner: self.inner,
            shutdown_on_drop: true,
        };
        (read, write)
    }

    /// The stream again from its two halves, or both back in the error
    /// when they are not from the same stream.
    pub fn reunite(
        read: OwnedReadHalf,
        mut write: OwnedWriteHalf,
    ) -> Result<UtpStream, ReuniteError> {
        if !Arc::ptr_eq(&read.inner, &write.inner) {
            return Err(ReuniteError(read, write));
        }
        write.shutdown_on_drop = false;
        drop(write);
        Ok(UtpStream { inner: read.inner })
    }

    /// Resets the connection: the peer's calls fail with
    /// `ConnectionReset`; data not yet delivered is dropped. From then on
    /// this stream's reads and writes fail with `ConnectionAborted`, and
    /// [`closed`](Self::closed) reports
    /// [`CloseReason::Aborted`](crate::CloseReason::Aborted).
    pub fn abort(&self) {
        let s = &self.inner.shared;
        let _ = s.lock().driver.reset(&s.socket, s.now(), self.inner.h);
    }
}

/// [`UtpStream::reunite`] was given halves of two different streams; here
/// they are back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl core::fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("tried to reunite halves of different streams")
    }
}

impl std::error::Error for ReuniteError {}

macro_rules! common_impls {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// The peer's address.
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.inner.peer_addr()
            }

            /// The local address (the socket's).
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.inner.local_addr()
            }

            /// The connection's counters (zero once it is gone).
            pub fn stats(&self) -> ConnStats {
                self.inner.stats()
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
                poll_fn(|cx| self.inner.poll_closed(cx)).await
            }

            /// [`closed`](Self::closed) as a poll function, for code that
            /// implements its own futures: `Ready` once the connection has
            /// ended; otherwise `cx` is woken when it does.
            pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<io::Result<CloseInfo>> {
                self.inner.poll_closed(cx)
            }

            /// Sets the close-reason code (uTP extension 3, which
            /// libtorrent reads) that this connection's FIN and RESET carry
            /// from now on: call it before `close`, dropping or `abort`.
            /// `None` (the default) sends none.
            pub fn set_close_reason(&self, code: Option<u16>) -> io::Result<()> {
                self.inner.set_close_reason(code)
            }

            /// Caps this connection's sending rate at `bytes_per_second`
            /// (payload, headers and retransmissions), or lifts the cap
            /// with `None` ([`Config::max_send_rate`](crate::Config::max_send_rate)
            /// sets it for every connection).
            pub fn set_max_send_rate(&self, bytes_per_second: Option<u64>) -> io::Result<()> {
                self.inner.set_max_send_rate(bytes_per_second)
            }
        }

        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("peer_addr", &self.inner.peer_addr().ok())
                    .finish_non_exhaustive()
            }
        }
    )*};
}
common_impls!(UtpStream, OwnedReadHalf, OwnedWriteHalf);

macro_rules! read_impls {
    ($($ty:ident),*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }
    )*};
}
read_impls!(UtpStream, OwnedReadHalf);

macro_rules! write_impls {
    ($($ty:ident),*) => {$(
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Written bytes are in the connection's send buffer, sent
                // as the window allows: nothing to flush.
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.inner.shutdown())
            }
        }
    )*};
}
write_impls!(UtpStream, OwnedWriteHalf);

macro_rules! write_bytes {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// Writes all of `data` into the send buffer without copying
            /// it (a `Bytes` under 1 KiB is copied): its bytes are copied
            /// only into the datagrams that carry them (utp-core's
            /// `Conn::write_bytes`). Waits for room. Not cancel safe: if
            /// dropped, the part already queued is sent, the rest not
            /// ([`poll_write_bytes`](Self::poll_write_bytes) keeps it).
            pub async fn write_bytes(&mut self, data: Bytes) -> io::Result<()> {
                utp_driver::write_all_bytes(data, |cx, d| self.inner.poll_write_bytes(cx, d)).await
            }

            /// [`write_bytes`](Self::write_bytes) one step at a time:
            /// queues what fits, takes it from the front of `data`, returns
            /// how much; `Pending` (`cx` woken later) while the buffer is
            /// full.
            pub fn poll_write_bytes(
                &mut self,
                cx: &mut Context<'_>,
                data: &mut Bytes,
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_write_bytes(cx, data)
            }
        }
    )*};
}
write_bytes!(UtpStream, OwnedWriteHalf);

impl Drop for OwnedWriteHalf {
    /// As with tokio's `TcpStream` halves: no more writes, the peer reads
    /// to the end.
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.inner.shutdown();
        }
    }
}
