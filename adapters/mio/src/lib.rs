//! # utp-mio
//!
//! uTP ([BEP 29]) on [`mio`]: two ways to use the sans-IO `utp-core` stack
//! on a real UDP socket.
//!
//! - [`UtpMio`] (module [`evented`]) is for programs that run their own
//!   `mio::Poll` loop: register it under a token, call
//!   [`UtpMio::handle_io`] after each poll, give [`UtpMio::timeout`] to the
//!   next poll, and learn what happened from [`UtpMio::poll_event`]. Every
//!   call is non-blocking.
//! - [`blocking`] is a `std::net`-like API: [`UtpListener`] and
//!   [`UtpStream`] (`std::io::Read + Write`). One background thread per UDP
//!   socket runs the protocol; the calling threads block. [`Manager`]
//!   runs utp-core's connection manager on a [`UtpListener`] (see
//!   [below](#staying-connected-to-n-peers)).
//!
//! Both run the loop of [`utp_driver::Driver`]; datagrams that are not
//! uTP (DHT, trackers) sharing the socket are handed back by
//! `recv_foreign`.
//!
//! `bind` and `connect` take [`std::net::ToSocketAddrs`] (names are
//! resolved on the calling thread). The UDP socket is made as
//! [`DriverConfig::socket`] ([`SocketOptions`]) says: a 4 MiB receive
//! buffer, dual stack for `[::]` (IPv4 peers reach it and are reported as
//! plain IPv4 addresses), and on Linux ICMP errors read from the socket,
//! so a connect to a port where nothing listens fails with
//! `ConnectionRefused` at once rather than timing out.
//!
//! ## Example: blocking echo over loopback
//!
//! ```
//! use std::io::{Read, Write};
//! use utp_mio::{UtpListener, UtpStream};
//!
//! let listener = UtpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut stream, _peer) = listener.accept()?;
//!     let mut buf = [0u8; 1024];
//!     loop {
//!         let n = stream.read(&mut buf)?;
//!         if n == 0 {
//!             return Ok(()); // the client shut down its side
//!         }
//!         stream.write_all(&buf[..n])?;
//!     }
//! });
//!
//! let mut stream = UtpStream::connect(addr)?;
//! stream.write_all(b"hello over uTP")?;
//! stream.shutdown(std::net::Shutdown::Write)?; // FIN: the server's read returns 0
//! let mut echoed = Vec::new();
//! stream.read_to_end(&mut echoed)?;
//! assert_eq!(echoed, b"hello over uTP");
//! server.join().unwrap()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Staying connected to N peers
//!
//! [`Manager::spawn`] runs utp-core's connection manager on a
//! [`UtpListener`], on threads of its own: it keeps
//! [`ManagerConfig::target_outbound`] outbound connections among the
//! candidates you give it ([`Manager::add_candidate`], answering
//! [`ManagerEvent::WantCandidates`](utp_driver::ManagerEvent::WantCandidates)),
//! redials permanent peers with backoff, limits inbound connections per IP
//! and subnet, drops connections that make no progress, and hands each
//! connection it keeps to you as
//! [`ManagerEvent::Connected`](utp_driver::ManagerEvent::Connected), which
//! [`Manager::next`] blocks for (with a timeout if you like).
//!
//! ## Configuration
//!
//! [`UtpListener::bind_with`], [`UtpStream::connect_with`] and
//! [`UtpMio::new`] take a [`DriverConfig`]: the endpoint's [`Config`]
//! (timeouts, buffers, packet sizes, the congestion controller, rate
//! limits), the listener's [`ListenConfig`] (or `None` to refuse incoming
//! connections), and the socket loop's own settings. Start from `Default`
//! and set fields; an invalid configuration ([`DriverConfig::validate`]) is
//! refused with `io::ErrorKind::InvalidInput`, the [`ConfigError`] inside.
//! Everything needed for it (and for a congestion [`Controller`] of your
//! own) is re-exported here, so no direct dependency on `utp-core` is
//! needed. [`UtpListener::set_max_send_rate`] (and
//! [`UtpMio::set_max_send_rate`]) limits the bytes per second all
//! connections of a socket send together, at any time.
//!
//! [BEP 29]: https://www.bittorrent.org/beps/bep_0029.html

#![forbid(unsafe_code)]

use std::io;
use std::net::SocketAddr;

use utp_driver::{Batch, DatagramSocket, ErrorQueue, SocketError};

pub mod blocking;
pub mod evented;
mod manager;

pub use blocking::{UtpListener, UtpStream};
pub use evented::UtpMio;
pub use manager::{Manager, ManagerEvent};
pub use utp_core::manager::{DisconnectReason, ManagerConfig, ManagerStats, PeerId};
// Everything needed to configure a socket, and to write a congestion
// controller, without depending on utp-core (the same list in every adapter).
/// The `bytes` crate `UtpStream::write_bytes` takes its buffers from.
pub use utp_core::bytes;
pub use utp_core::congestion::{
    AckSample, CongestionKind, Controller, ControllerContext, ControllerFactory, LedbatConfig,
};
pub use utp_core::{
    AcceptDecision, CloseInfo, CloseReason, Config, ConfigError, ConnStats, DuplicateRule,
    EndpointStats, IntervalStats, ListenConfig, SynCookies, Timer, Timestamp,
};
pub use utp_driver::{DriverConfig, DriverStats, SocketInterval, SocketOptions};
// The evented API's own types.
pub use utp_core::{ConnHandle, Event};
pub use utp_driver::Driver;

/// mio's UDP socket as the driver's [`DatagramSocket`] (a newtype: both the
/// trait and the type are foreign to this crate), with its batching, its
/// error queue and whether it is dual-stack. mio's calls never block; a
/// queued ICMP error (`POLLERR`) is an event of the socket's token, after
/// which the driver's turn reads it.
#[derive(Debug)]
struct Sock(mio::net::UdpSocket, Batch, ErrorQueue, bool);
impl Sock {
    /// With `batching`, GSO/GRO through quinn-udp where the platform has
    /// them (see [`DriverConfig::batching`]).
    fn new(io: mio::net::UdpSocket, batching: bool) -> Sock {
        let batch = Batch::new((&io).into(), batching);
        let errors = ErrorQueue::new(&io);
        let dual_stack = utp_driver::is_dual_stack(&io);
        Sock(io, batch, errors, dual_stack)
    }

    /// Sends a datagram of another protocol: to an IPv4 `to` from a
    /// dual-stack socket too, and once more when the send reported an ICMP
    /// error another datagram caused (then `wake` runs: the loop should
    /// read the error queue).
    fn send_foreign(&self, buf: &[u8], to: SocketAddr, wake: impl FnOnce()) -> io::Result<usize> {
        let to = match self.3 {
            true => utp_driver::remote_for(self.0.local_addr()?, true, to)?,
            false => to,
        };
        match self.0.send_to(buf, to) {
            Err(e) if self.2.is_on() && utp_driver::may_be_deferred(&e) => {
                wake();
                self.0.send_to(buf, to)
            }
            result => result,
        }
    }

    /// The first of `candidates` (a peer's resolved addresses) this
    /// socket can reach.
    fn pick_remote(&self, candidates: Vec<SocketAddr>) -> io::Result<SocketAddr> {
        utp_driver::pick_remote(self.0.local_addr()?, self.3, candidates)
    }
}

impl DatagramSocket for Sock {
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.recv_from(buf)
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.0.send_to(buf, to)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn max_send_segments(&self) -> usize {
        self.1.max_send_segments()
    }

    fn try_send_segments(&self, buf: &[u8], segment: usize, to: SocketAddr) -> io::Result<usize> {
        self.1.send((&self.0).into(), buf, segment, to)
    }

    fn try_recv_segments(&self, buf: &mut [u8]) -> io::Result<(usize, usize, SocketAddr)> {
        match self.1.recv((&self.0).into(), buf) {
            Some(result) => result,
            None => {
                let (len, from) = self.try_recv_from(buf)?;
                Ok((len, len, from))
            }
        }
    }

    fn try_recv_error(&self) -> io::Result<Option<SocketError>> {
        self.2.recv(&self.0)
    }

    fn recv_queue(&self) -> Option<utp_driver::RecvQueue> {
        utp_driver::recv_queue(&self.0)
    }

    fn dual_stack(&self) -> bool {
        self.3
    }
}
