//! [`UtpStream`]: one connection of a blocking socket, `std::io::Read +
//! Write`, with timeouts, half-close, and how it ended.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use utp_core::bytes::Bytes;
use utp_core::{CloseInfo, ConnHandle, ConnStats};
use utp_driver::{DatagramSocket, DriverConfig};

use super::{bind, lock, start, Handle, Shared, Waiters};

struct StreamInner {
    handle: Handle,
    conn: ConnHandle,
    readers: Arc<Waiters>,
    writers: Arc<Waiters>,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
    /// `shutdown(Read)` was called: reads return `Ok(0)`.
    read_shut: AtomicBool,
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let h = self.conn;
        self.handle.0.call(|d, s, now| d.close(s, now, h));
    }
}

/// A uTP connection: `std::io::Read + Write` (also through `&UtpStream`).
///
/// Dropping the last handle ([`try_clone`](Self::try_clone) makes more)
/// closes the connection gracefully. [`closed`](Self::closed) tells when
/// and how it ended. Reads return `Ok(0)` once the peer's FIN and
/// everything before it were read; a RESET that arrives after that is still
/// reported (`ConnectionReset`) by the next read.
pub struct UtpStream {
    inner: Arc<StreamInner>,
}

impl core::fmt::Debug for UtpStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UtpStream")
            .field("conn", &self.inner.conn)
            .field("peer_addr", &self.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

pub(super) fn check_timeout(t: Option<Duration>) -> io::Result<Option<Duration>> {
    match t {
        Some(d) if d.is_zero() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero timeout is not allowed",
        )),
        t => Ok(t),
    }
}

impl UtpStream {
    pub(super) fn new(handle: Handle, conn: ConnHandle) -> UtpStream {
        UtpStream {
            inner: Arc::new(StreamInner {
                handle,
                conn,
                readers: Arc::default(),
                writers: Arc::default(),
                read_timeout: Mutex::new(None),
                write_timeout: Mutex::new(None),
                read_shut: AtomicBool::new(false),
            }),
        }
    }

    /// Connects to `addr` (each resolved address in turn) from a socket of
    /// its own on an ephemeral port, which accepts no connections.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<UtpStream> {
        UtpStream::connect_with(addr, DriverConfig::default())
    }

    /// [`connect`](Self::connect) with `config` (its `listen` and
    /// `keep_events` are ignored: the socket refuses incoming connections).
    /// An invalid `config` is refused as by [`UtpListener::bind_with`](super::UtpListener::bind_with).
    pub fn connect_with(addr: impl ToSocketAddrs, config: DriverConfig) -> io::Result<UtpStream> {
        let config = config.outgoing_only();
        config.validate()?;
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for remote in addr.to_socket_addrs()? {
            let config = config.outgoing_only();
            let local: SocketAddr = match remote {
                SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let attempt = bind(local, &config)
                .and_then(|socket| start(socket, config))
                .and_then(|handle| {
                    let h = handle.0.connect(remote, false)?;
                    Ok(UtpStream::new(handle, h))
                });
            match attempt {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A second handle to the same connection (for example, to read in one
    /// thread and write in another).
    pub fn try_clone(&self) -> io::Result<UtpStream> {
        Ok(UtpStream {
            inner: Arc::clone(&self.inner),
        })
    }

    /// Blocks reads at most `t` (`None`: forever), then `WouldBlock`.
    /// Shared by all handles of the connection.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        *lock(&self.inner.read_timeout) = check_timeout(t)?;
        Ok(())
    }

    /// Blocks writes at most `t` (`None`: forever), then `WouldBlock`.
    /// Shared by all handles of the connection.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        *lock(&self.inner.write_timeout) = check_timeout(t)?;
        Ok(())
    }

    /// As std's `TcpStream::shutdown`: [`Shutdown::Write`] half-closes (a
    /// FIN follows the data written so far; reading goes on, and writes
    /// fail with `BrokenPipe`); [`Shutdown::Read`] makes every later read
    /// return `Ok(0)` at once (what arrives is still acknowledged, and
    /// dropped with the stream); [`Shutdown::Both`] does both. For every
    /// handle of the connection.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.inner.read_shut.store(true, Ordering::Release);
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            let h = self.inner.conn;
            self.shared().call(|d, s, now| d.shutdown(s, now, h))?;
        }
        Ok(())
    }

    /// Aborts the connection: RESET to the peer, buffered data dropped.
    /// Reads and writes on every handle of it fail with `ConnectionAborted`
    /// from now on, and [`closed`](Self::closed) reports
    /// [`CloseReason::Aborted`](crate::CloseReason::Aborted).
    pub fn abort(&self) {
        let h = self.inner.conn;
        let _ = self.shared().call(|d, s, now| d.reset(s, now, h));
    }

    /// Blocks until the connection has ended, and tells how:
    /// [`CloseInfo::reason`] (finished, reset by the peer, refused, timed
    /// out and which timer, aborted, closed locally) and the close-reason
    /// code the peer sent, if any; `WouldBlock` once `timeout` passes. Data
    /// received before the end can still be read.
    pub fn closed(&self, timeout: Option<Duration>) -> io::Result<CloseInfo> {
        let h = self.inner.conn;
        let waiters = Arc::default();
        self.shared()
            .wait(&waiters, timeout, |d, _, _, cx| d.poll_closed(h, cx))
    }

    /// Sets the close-reason code (uTP extension 3, which libtorrent reads)
    /// that this connection's FIN and RESET carry from now on: call it
    /// before `shutdown`, dropping or `abort`. `None` (the default) sends
    /// none.
    pub fn set_close_reason(&self, code: Option<u16>) -> io::Result<()> {
        let h = self.inner.conn;
        self.shared().call(|d, _, _| d.set_close_reason(h, code))
    }

    /// Caps this connection's sending rate at `bytes_per_second` (payload,
    /// headers and retransmissions), or lifts the cap with `None`.
    pub fn set_max_send_rate(&self, bytes_per_second: Option<u64>) -> io::Result<()> {
        let h = self.inner.conn;
        self.shared()
            .call(|d, _, _| d.set_max_send_rate(h, bytes_per_second))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared().lock().driver.peer_addr(self.inner.conn)
    }

    /// The local socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared().lock().socket.local_addr()
    }

    /// The connection's counters (zero once it is gone).
    pub fn stats(&self) -> ConnStats {
        self.shared().lock().driver.conn_stats(
            self.shared().clock.timestamp(Instant::now()),
            self.inner.conn,
        )
    }

    fn shared(&self) -> &Shared {
        &self.inner.handle.0
    }

    /// The connection (for the manager).
    pub(crate) fn conn_handle(&self) -> ConnHandle {
        self.inner.conn
    }
}

impl UtpStream {
    /// Writes all of `data`, blocking for room in the send buffer (within
    /// the write timeout, [`set_write_timeout`](Self::set_write_timeout)),
    /// without copying it there: the buffer holds the `Bytes` (slices of
    /// it) until the peer acknowledges them, and each byte is copied once
    /// on the way out, into the datagram (utp-core's `Conn::write_bytes`; a
    /// `Bytes` under 1 KiB is copied as `write` does). On an error, what
    /// was queued before it is still sent.
    pub fn write_bytes(&self, mut data: Bytes) -> io::Result<()> {
        let (h, timeout) = (self.inner.conn, *lock(&self.inner.write_timeout));
        while !data.is_empty() {
            self.shared()
                .wait(&self.inner.writers, timeout, |d, s, now, cx| {
                    d.poll_write_bytes(s, now, h, cx, &mut data)
                })?;
        }
        Ok(())
    }
}

impl Read for &UtpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.inner.read_shut.load(Ordering::Acquire) {
            return Ok(0);
        }
        let (h, timeout) = (self.inner.conn, *lock(&self.inner.read_timeout));
        self.shared()
            .wait(&self.inner.readers, timeout, |d, s, now, cx| {
                d.poll_read(s, now, h, cx, buf)
            })
    }
}

impl Write for &UtpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (h, timeout) = (self.inner.conn, *lock(&self.inner.write_timeout));
        self.shared()
            .wait(&self.inner.writers, timeout, |d, s, now, cx| {
                d.poll_write(s, now, h, cx, buf)
            })
    }

    /// Written data is in the connection's send buffer already: nothing to
    /// do.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for UtpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for UtpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
