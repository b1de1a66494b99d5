//! The application's calls on a [`Driver`]: connections (connect, accept,
//! read, write, half-close, close, abort, how they ended), winding the
//! socket down, and the datagrams of other protocols.

use super::*;
use utp_core::ConnectError;

/// Which of a connection's waiters a call is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Read,
    Write,
}

impl<P: Peer> Driver<P> {
    /// Winds the socket down gracefully ([`Endpoint::close_all`]): no more
    /// connections are accepted or made (`poll_accept` and `connect` fail
    /// with `NotConnected`), and every connection is closed as a dropped
    /// stream is: data written is still delivered, nothing more is read.
    /// [`poll_idle`](Self::poll_idle) tells when they are all gone.
    pub fn close_all<S: DatagramSocket<P> + ?Sized>(&mut self, socket: &S, now: Timestamp) {
        if self.closing || self.terminated.is_some() {
            return;
        }
        self.closing = true;
        self.endpoint.close_all(now);
        wake_all(&mut self.accept_wakers);
        self.after_call(socket, now, None);
        // The closes may have earlier deadlines (and finish at once).
        self.armed = None;
        self.wake_driver();
    }

    /// Ready once the endpoint has no connection left (every one finished,
    /// timed out or was aborted, and was released by its stream or by
    /// [`close_all`](Self::close_all)).
    pub fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        if self.endpoint.connection_count() == 0 {
            return Poll::Ready(Ok(()));
        }
        register_many(&mut self.idle_wakers, cx);
        Poll::Pending
    }

    pub(super) fn wake_if_idle(&mut self) {
        if !self.idle_wakers.is_empty() && self.endpoint.connection_count() == 0 {
            wake_all(&mut self.idle_wakers);
        }
    }

    fn closing_error() -> io::Error {
        io::Error::new(io::ErrorKind::NotConnected, "the uTP socket is closing")
    }

    // ----- connections -----

    /// Starts a connection to `remote` (complete it with
    /// [`poll_connect`](Self::poll_connect)): an address of the socket's
    /// family, or an IPv4 one from a dual-stack socket
    /// ([`DatagramSocket::dual_stack`]); `InvalidInput` otherwise.
    pub fn connect<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        remote: P,
    ) -> io::Result<ConnHandle> {
        self.open(socket, now, remote, |ep, remote| ep.connect(now, remote))
    }

    /// Starts a connection to `remote` with a connection id agreed out of
    /// band ([`Endpoint::connect_with_id`](utp_core::Endpoint::connect_with_id));
    /// otherwise as [`connect`](Self::connect). `AddrInUse` when the id is
    /// taken.
    pub fn connect_with_id<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        remote: P,
        id: u16,
    ) -> io::Result<ConnHandle> {
        self.open(socket, now, remote, |ep, remote| {
            ep.connect_with_id(now, remote, id)
        })
    }

    /// Expects a connection from `remote` with a connection id agreed out
    /// of band ([`Endpoint::accept_with_id`](utp_core::Endpoint::accept_with_id)):
    /// the handle at once, to be completed with
    /// [`poll_connect`](Self::poll_connect) (ready when the SYN came;
    /// `TimedOut` after `timeout`). `AddrInUse` when the id is taken.
    pub fn accept_with_id<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        remote: P,
        id: u16,
        timeout: core::time::Duration,
    ) -> io::Result<ConnHandle> {
        self.open(socket, now, remote, |ep, remote| {
            ep.accept_with_id(now, remote, id, timeout)
        })
    }

    /// Starts a rendezvous connect to `remote`, which connects to us at
    /// the same time ([`Endpoint::connect_rendezvous`](utp_core::Endpoint::connect_rendezvous):
    /// hole punching); complete it with [`poll_connect`](Self::poll_connect).
    /// `AddrInUse` while another rendezvous with `remote` waits.
    pub fn connect_rendezvous<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        remote: P,
    ) -> io::Result<ConnHandle> {
        self.open(socket, now, remote, |ep, remote| {
            ep.connect_rendezvous(now, remote)
        })
    }

    fn open<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        remote: P,
        open: impl FnOnce(&mut utp_core::Endpoint<P>, P) -> Result<ConnHandle, ConnectError>,
    ) -> io::Result<ConnHandle> {
        self.check()?;
        if self.closing {
            return Err(Self::closing_error());
        }
        // A remote of the other family is refused at once rather than
        // timed out, but for an IPv4 remote of a dual-stack socket, which
        // the endpoint knows by its v4-mapped address (the form the socket
        // reports its datagrams in).
        let local = socket.local_addr();
        // The rendezvous duplicate rule compares ports (`DuplicateRule`).
        if let (None, Ok(addr)) = (self.endpoint.local_port(), &local) {
            self.endpoint.set_local_port(addr.port());
        }
        let remote = (self.rules.route)(local, socket.dual_stack(), remote)?;
        let h = open(&mut self.endpoint, remote)?;
        self.wakers.insert(h, Wakers::default());
        self.after_call(socket, now, Some(h));
        Ok(h)
    }

    /// Ready when connection `h`'s handshake completed, or with the error
    /// that ended it (`ConnectionRefused`, `TimedOut`, ...).
    pub fn poll_connect(&mut self, h: ConnHandle, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        let state = self.endpoint.conn(h).ok_or_else(gone)?.state();
        match state {
            ConnState::Connecting => {
                if let Some(w) = self.wakers.get_mut(&h) {
                    register(&mut w.write, cx);
                }
                Poll::Pending
            }
            ConnState::Established { .. } => Poll::Ready(Ok(())),
            ConnState::Closed(reason) => Poll::Ready(Err(close_error(reason))),
        }
    }

    /// The next incoming connection and its peer.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(ConnHandle, P)>> {
        self.check()?;
        if self.closing {
            return Poll::Ready(Err(Self::closing_error()));
        }
        while let Some(h) = self.endpoint.accept() {
            if let Some(peer) = self.endpoint.conn(h).and_then(|c| c.peer().cloned()) {
                self.wakers.insert(h, Wakers::default());
                return Poll::Ready(Ok((h, (self.rules.shown)(peer))));
            }
        }
        register_many(&mut self.accept_wakers, cx);
        Poll::Pending
    }

    /// Reads received bytes of `h` into `buf`: `Ok(0)` at the peer's FIN
    /// (or for an empty `buf`), `Pending` until data arrives.
    pub fn poll_read<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // A read may reopen the window: the update goes out at once, or
        // with the loop's next turn (`set_defer_read_output`).
        self.poll_io(socket, now, h, cx, Side::Read, |c| c.read(buf))
    }

    /// Writes as much of `buf` as the send buffer takes
    /// ([`utp_core::Conn::write_room`]); `Pending` while it takes nothing.
    /// Before the handshake completes, data is buffered and sent after it.
    pub fn poll_write<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(socket, now, h, cx, Side::Write, |c| c.write(buf))
    }

    /// Queues as much of `data` as the send buffer takes without copying
    /// it ([`utp_core::Conn::write_bytes`]), taking that from its front;
    /// `Pending` while it takes nothing.
    pub fn poll_write_bytes<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
        cx: &mut Context<'_>,
        data: &mut utp_core::bytes::Bytes,
    ) -> Poll<io::Result<usize>> {
        self.poll_io(socket, now, h, cx, Side::Write, |c| c.write_bytes(data))
    }

    /// `op` on connection `h`: on success, send what it produced (a read's
    /// is left to the loop's next turn with `set_defer_read_output`); on
    /// `WouldBlock`, register `cx` as the waiting reader or writer.
    fn poll_io<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
        cx: &mut Context<'_>,
        side: Side,
        op: impl FnOnce(&mut utp_core::Conn<'_, P>) -> Result<usize, Error>,
    ) -> Poll<io::Result<usize>> {
        let defer = side == Side::Read && self.defer_read_output;
        self.check()?;
        self.endpoint.set_now(now);
        let result = op(&mut self.endpoint.conn(h).ok_or_else(gone)?);
        match result {
            Ok(n) if defer => {
                self.settle_call(Some(h), true);
                Poll::Ready(Ok(n))
            }
            Ok(n) => {
                self.after_call(socket, now, Some(h));
                Poll::Ready(Ok(n))
            }
            Err(Error::WouldBlock) => {
                if let Some(w) = self.wakers.get_mut(&h) {
                    match side {
                        Side::Read => register(&mut w.read, cx),
                        Side::Write => register(&mut w.write, cx),
                    }
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }

    /// Ready when connection `h` has ended: how (our reason, the peer's
    /// close-reason code). A connection the application still reads keeps
    /// its received data readable after this.
    pub fn poll_closed(
        &mut self,
        h: ConnHandle,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<CloseInfo>> {
        self.check()?;
        if let Some(info) = self.wakers.get(&h).and_then(|w| w.ended) {
            return Poll::Ready(Ok(info));
        }
        let conn = self.endpoint.conn(h).ok_or_else(gone)?;
        if let Some(info) = conn.close_info() {
            return Poll::Ready(Ok(info));
        }
        drop(conn);
        if let Some(w) = self.wakers.get_mut(&h) {
            register(&mut w.closed, cx);
        }
        Poll::Pending
    }

    /// Sets the close-reason code (extension 3) that `h`'s FIN and RESET
    /// carry ([`Conn::set_close_reason`](utp_core::Conn::set_close_reason)).
    pub fn set_close_reason(&mut self, h: ConnHandle, code: Option<u16>) -> io::Result<()> {
        self.check()?;
        self.endpoint
            .conn(h)
            .ok_or_else(gone)?
            .set_close_reason(code);
        Ok(())
    }

    /// Caps `h`'s sending rate ([`Conn::set_max_send_rate`](utp_core::Conn::set_max_send_rate)).
    pub fn set_max_send_rate(
        &mut self,
        h: ConnHandle,
        bytes_per_second: Option<u64>,
    ) -> io::Result<()> {
        self.check()?;
        self.endpoint
            .conn(h)
            .ok_or_else(gone)?
            .set_max_send_rate(bytes_per_second);
        self.wake_driver();
        Ok(())
    }

    /// Sets `h`'s keepalive interval ([`Conn::set_keepalive`](utp_core::Conn::set_keepalive)).
    pub fn set_keepalive(
        &mut self,
        h: ConnHandle,
        interval: Option<core::time::Duration>,
    ) -> io::Result<()> {
        self.check()?;
        self.endpoint
            .conn(h)
            .ok_or_else(gone)?
            .set_keepalive(interval);
        self.wake_driver();
        Ok(())
    }

    /// Half-close: a FIN follows the data written so far.
    pub fn shutdown<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
    ) -> io::Result<()> {
        self.conn_call(socket, now, h, |c| c.shutdown())
    }

    /// Closes `h` gracefully (data written is still delivered) and forgets
    /// its waiters; the handle is invalid afterwards. For a dropped stream.
    pub fn close<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
    ) {
        self.wakers.remove(&h);
        if self.terminated.is_some() {
            return;
        }
        self.endpoint.set_now(now);
        if let Some(mut c) = self.endpoint.conn(h) {
            c.close();
        }
        self.after_call(socket, now, Some(h));
    }

    /// Aborts `h`: RESET to the peer, everything dropped; the handle is
    /// invalid afterwards.
    pub fn abort<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
    ) {
        self.wakers.remove(&h);
        if self.terminated.is_some() {
            return;
        }
        self.endpoint.set_now(now);
        if let Some(mut c) = self.endpoint.conn(h) {
            c.abort();
        }
        self.after_call(socket, now, None);
    }

    /// Resets `h` (RESET to the peer, everything dropped) but keeps the
    /// handle: calls on it fail with `ConnectionAborted` and
    /// [`poll_closed`](Self::poll_closed) reports
    /// [`CloseReason::Aborted`](utp_core::CloseReason::Aborted) until
    /// [`close`](Self::close) releases it. For a stream's `abort`.
    pub fn reset<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
    ) -> io::Result<()> {
        self.conn_call(socket, now, h, |c| c.reset())
    }

    /// `op` on connection `h` now, then what follows any call: send, wake.
    fn conn_call<S: DatagramSocket<P> + ?Sized>(
        &mut self,
        socket: &S,
        now: Timestamp,
        h: ConnHandle,
        op: impl FnOnce(&mut utp_core::Conn<'_, P>),
    ) -> io::Result<()> {
        self.check()?;
        self.endpoint.set_now(now);
        op(&mut self.endpoint.conn(h).ok_or_else(gone)?);
        self.after_call(socket, now, Some(h));
        Ok(())
    }

    // ----- other protocols on the socket -----

    /// The next datagram that was not uTP, copied into `buf` (truncated to
    /// its length): bytes copied and sender.
    pub fn poll_recv_foreign(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, P)>> {
        self.check()?;
        match self.foreign.pop_front() {
            Some((from, datagram)) => {
                let n = datagram.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), datagram.get(..n)) {
                    dst.copy_from_slice(src);
                }
                Poll::Ready(Ok((n, from)))
            }
            None => {
                register_many(&mut self.foreign_wakers, cx);
                Poll::Pending
            }
        }
    }
}
