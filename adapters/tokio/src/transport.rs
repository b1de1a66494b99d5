//! uTP over a carrier that is not a UDP socket: the [`Transport`] trait,
//! and how the driver task uses one ([`Carrier`], the socket side both a
//! UDP socket and a transport present to it).
//!
//! The Ethereum Portal Network carries uTP inside discv5 TALKREQ messages
//! and names peers by node id; a [`Transport`] of such messages, with a
//! [`Peer`] type for node ids, gives a [`UtpSocket`](crate::UtpSocket)
//! whose streams are keyed by node id and connection id
//! ([`UtpSocket::with_transport`](crate::UtpSocket::with_transport)).

use std::io;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use utp_core::Peer;
use utp_driver::DatagramSocket;

use crate::socket::Socket;

/// A carrier of datagrams to and from peers of type `P`, driven as
/// [`UtpSocket`](crate::UtpSocket)'s driver task drives its UDP socket.
///
/// Both calls are polled from that task (and from application calls that
/// send): return `Pending` when nothing can be received, or the datagram
/// cannot be taken now, after arranging for `cx`'s waker to be woken when
/// that changes, as `AsyncRead` does. Datagrams may be lost, duplicated or
/// reordered (uTP recovers); a datagram is at most
/// [`Peer::max_packet_size`] bytes for its peer (that bound is what sizes
/// uTP's packets).
pub trait Transport<P>: Send + Sync + 'static {
    /// Receives one datagram into `buf` (a longer one may be truncated):
    /// its length and sender.
    fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, P)>>;

    /// Sends `buf` as one datagram to `to`: its length once taken. An
    /// error drops that datagram (uTP retransmits); it does not stop the
    /// socket.
    fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8], to: &P) -> Poll<io::Result<usize>>;
}

/// The socket side of the driver task, a UDP socket or a [`Transport`].
pub(crate) trait Carrier<P: Peer>: DatagramSocket<P> + Send + Sync {
    /// The UDP socket, if that is what this is (its readiness, address and
    /// buffers are the task's and `UtpSocket`'s business).
    fn udp(&self) -> Option<&Socket> {
        None
    }

    /// The waker of the driver task, which the carrier's own wakeups go to.
    fn set_task_waker(&self, _waker: &Waker) {}
}

impl Carrier<std::net::SocketAddr> for Socket {
    fn udp(&self) -> Option<&Socket> {
        Some(self)
    }
}

/// A [`Transport`] as the driver's non-blocking socket: `Pending` is
/// `WouldBlock`, and the transport wakes the driver task.
pub(crate) struct TransportSocket<T> {
    transport: T,
    waker: Mutex<Waker>,
}

impl<T> TransportSocket<T> {
    pub(crate) fn new(transport: T) -> Self {
        TransportSocket {
            transport,
            waker: Mutex::new(Waker::noop().clone()),
        }
    }

    fn poll<R>(&self, f: impl FnOnce(&mut Context<'_>) -> Poll<io::Result<R>>) -> io::Result<R> {
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        match f(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<P: Peer, T: Transport<P>> DatagramSocket<P> for TransportSocket<T> {
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, P)> {
        self.poll(|cx| self.transport.poll_recv(cx, buf))
    }

    fn try_send_to(&self, buf: &[u8], to: P) -> io::Result<usize> {
        self.poll(|cx| self.transport.poll_send(cx, buf, &to))
    }
}

impl<P: Peer + Send, T: Transport<P>> Carrier<P> for TransportSocket<T> {
    fn set_task_waker(&self, waker: &Waker) {
        let mut w = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        if !w.will_wake(waker) {
            *w = waker.clone();
        }
    }
}
