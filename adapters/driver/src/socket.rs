//! The socket side: the [`DatagramSocket`] trait an adapter implements,
//! [`Batch`] (GSO/GRO through quinn-udp) and the [`Clock`].

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use utp_core::{Peer, Timestamp};

use crate::SocketError;

/// A non-blocking datagram socket whose peers are `P`s: a UDP socket
/// (`P` = `SocketAddr`, the default), as tokio's `UdpSocket`, async-io's
/// `Async<UdpSocket>` and mio's `UdpSocket` provide, or any other carrier
/// of datagrams to peers of a [`Peer`] type. Every call must return
/// [`io::ErrorKind::WouldBlock`] instead of waiting.
///
/// The segment methods let a socket batch (GSO/GRO, sendmmsg/recvmmsg);
/// their defaults move one datagram per call.
pub trait DatagramSocket<P: Peer = SocketAddr> {
    /// Receives one datagram into `buf`: its length and sender.
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, P)>;

    /// Sends `buf` as one datagram to `to`.
    fn try_send_to(&self, buf: &[u8], to: P) -> io::Result<usize>;

    /// The socket's local UDP address (used to refuse a remote of the
    /// other address family at once rather than time out). Default
    /// `Unsupported`: not a UDP socket.
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Most datagrams [`try_send_segments`](Self::try_send_segments) takes
    /// in one call. Default 1: no batching.
    fn max_send_segments(&self) -> usize {
        1
    }

    /// Sends `buf` to `to` as consecutive datagrams of `segment_size` bytes
    /// (the last may be shorter). Returns how many bytes were sent, always
    /// whole datagrams; `WouldBlock` only when none was. The default sends
    /// them one by one.
    fn try_send_segments(&self, buf: &[u8], segment_size: usize, to: P) -> io::Result<usize> {
        let mut sent = 0;
        for datagram in buf.chunks(segment_size.max(1)) {
            match self.try_send_to(datagram, to.clone()) {
                Ok(_) => sent += datagram.len(),
                Err(e) if sent > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// Receives one datagram, or several from one sender coalesced (GRO):
    /// returns the bytes written, the size of each datagram but the last
    /// (the stride) and the sender. The default receives one datagram.
    fn try_recv_segments(&self, buf: &mut [u8]) -> io::Result<(usize, usize, P)> {
        let (len, from) = self.try_recv_from(buf)?;
        Ok((len, len, from))
    }

    /// The oldest error the network reported for a datagram sent (ICMP
    /// port unreachable, packet too big, ...), `Ok(None)` when none is
    /// queued; never blocks. The driver calls it after a receive or send
    /// failed and when a turn starts with nothing to receive, so it should
    /// be cheap when nothing is queued. [`ErrorQueue`](crate::ErrorQueue)
    /// reads Linux's error queue. Default: `Ok(None)`, errors are not read.
    fn try_recv_error(&self) -> io::Result<Option<SocketError>> {
        Ok(None)
    }

    /// How full the socket's receive buffer is now, if the system tells
    /// ([`recv_queue`](crate::recv_queue) asks Linux). The driver looks
    /// at most once a millisecond, and while the buffer is a quarter full
    /// or more, shares the receive window among the connections receiving
    /// ([`DriverConfig::share_recv_window`](crate::DriverConfig::share_recv_window)).
    /// Default `None`: not known, no share.
    fn recv_queue(&self) -> Option<RecvQueue> {
        None
    }

    /// Whether this is an IPv6 socket that also carries IPv4 (see
    /// [`is_dual_stack`](crate::is_dual_stack)): the driver then reaches
    /// IPv4 peers through their v4-mapped addresses. Called at every
    /// connect, so an adapter may answer from a value it keeps. Default
    /// `false`.
    fn dual_stack(&self) -> bool {
        false
    }
}

/// How full a socket's receive buffer is
/// ([`DatagramSocket::recv_queue`]), both figures in the system's
/// accounting (Linux: `SO_MEMINFO`'s `rmem_alloc` and `rcvbuf`, which
/// count the kernel's bookkeeping as well as payload: a buffer holds
/// about half its `capacity` in payload).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecvQueue {
    /// Bytes queued now.
    pub queued: usize,
    /// Bytes the buffer may hold.
    pub capacity: usize,
}

/// Converts between the runtime's [`Instant`]s and the core's
/// [`Timestamp`]s, counted from the moment the clock was made.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose zero is `epoch` (usually `Instant::now()`).
    pub fn new(epoch: Instant) -> Self {
        Clock { epoch }
    }

    /// The timestamp of instant `at` (zero for instants before the epoch).
    pub fn timestamp(&self, at: Instant) -> Timestamp {
        let micros = at.saturating_duration_since(self.epoch).as_micros();
        Timestamp::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// The instant of timestamp `t` (far in the future if it overflows).
    pub fn instant(&self, t: Timestamp) -> Instant {
        let far = Duration::from_secs(86_400 * 365);
        let d = Duration::from_micros(t.as_micros()).min(far);
        self.epoch.checked_add(d).unwrap_or(self.epoch)
    }
}

pub use quinn_udp::UdpSockRef;

/// Segmented sends (GSO) and coalesced receives (GRO) for a UDP socket on
/// Linux, through quinn-udp: the glue every adapter's [`DatagramSocket`]
/// shares. Elsewhere, or when the kernel offers neither, it is off and the
/// adapter moves one datagram per call.
#[derive(Debug)]
pub struct Batch(Option<quinn_udp::UdpSocketState>);

impl Batch {
    /// Batching for `socket` when `enabled` (see
    /// [`DriverConfig::batching`](crate::DriverConfig::batching)) and the
    /// platform has GSO or GRO; off otherwise.
    pub fn new(socket: UdpSockRef<'_>, enabled: bool) -> Batch {
        let state = enabled
            .then(|| quinn_udp::UdpSocketState::new(socket).ok())
            .flatten()
            .filter(|s| s.max_gso_segments() > 1 || s.gro_segments() > 1);
        Batch(state)
    }

    /// Whether batching is on.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// What [`DatagramSocket::max_send_segments`] should return.
    pub fn max_send_segments(&self) -> usize {
        self.0.as_ref().map_or(1, |b| b.max_gso_segments())
    }

    /// [`DatagramSocket::try_send_segments`]: `buf` to `to` in datagrams of
    /// `segment` bytes, in one call. `Unsupported` when batching is off.
    pub fn send(
        &self,
        socket: UdpSockRef<'_>,
        buf: &[u8],
        segment: usize,
        to: SocketAddr,
    ) -> io::Result<usize> {
        let Some(state) = &self.0 else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        let transmit = quinn_udp::Transmit {
            destination: to,
            ecn: None,
            contents: buf,
            segment_size: Some(segment),
            src_ip: None,
        };
        state.try_send(socket, &transmit)?;
        Ok(buf.len())
    }

    /// [`DatagramSocket::try_recv_segments`] when batching is on: one
    /// coalesced batch (bytes, stride, sender). `None` when it is off (the
    /// adapter then receives one datagram with its own call).
    pub fn recv(
        &self,
        socket: UdpSockRef<'_>,
        buf: &mut [u8],
    ) -> Option<io::Result<(usize, usize, SocketAddr)>> {
        let state = self.0.as_ref()?;
        let mut meta = [quinn_udp::RecvMeta::default()];
        let result = state
            .recv(socket, &mut [io::IoSliceMut::new(buf)], &mut meta)
            .map(|_| {
                let [m] = meta;
                (m.len, m.stride, m.addr)
            });
        Some(result)
    }
}
