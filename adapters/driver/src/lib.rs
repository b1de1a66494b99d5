//! # utp-driver
//!
//! The runtime-free I/O loop every utp adapter shares (`utp-tokio`,
//! `utp-async-std`, `utp-mio`). Applications use an adapter; this crate is
//! for writing one.
//!
//! An [`Endpoint`](utp_core::Endpoint) is pure; something has to move datagrams between it and
//! a real UDP socket, run its timers and wake the tasks or threads that
//! wait on its connections. [`Driver`] does all of that without knowing
//! the runtime: it works on any socket with non-blocking
//! [`DatagramSocket`] calls, takes the time as an argument, and wakes
//! waiters through [`std::task::Waker`]s, which tokio, async-io and a
//! blocked thread (a waker that unparks it) all understand.
//!
//! An adapter keeps a `Driver` behind a mutex and runs one loop:
//!
//! 1. lock, call [`Driver::drive`], register its own waker with
//!    [`Driver::set_driver_waker`], unlock (the adapters call
//!    [`Driver::drive_deferred`] and wake the tasks it hands back after
//!    unlocking, so that a task woken on another thread finds the lock
//!    free);
//! 2. wait until the socket is readable, the returned [`Wait::deadline`]
//!    passes, the socket is writable (only when [`Wait::writable`] is set),
//!    or the driver waker fires; then go to 1.
//!
//! Application calls (`poll_read`, `poll_write`, ...) lock the same mutex
//! and call the driver's methods of the same name, which send what they
//! produce at once from the caller's task, and wake the loop only when its
//! wait has to change (an earlier deadline, or a datagram left pending
//! because the socket would block).
//!
//! The socket need not be UDP: a `Driver<P>` and a [`DatagramSocket<P>`]
//! work with any peer type `P` ([`utp_core::Peer`]; `SocketAddr`, the
//! default, is UDP's, with its dual-stack and address-family rules, made
//! by [`Driver::new`]; [`Driver::with_peer_type`] makes the others).
//!
//! No clock is read here: `now` is always an argument; [`Clock`] converts
//! between [`Instant`](std::time::Instant)s and [`Timestamp`](utp_core::Timestamp)s for adapters.
//!
//! What it owns: the [`Driver`] (receive, timers, batched sends, wakers,
//! the queue of foreign datagrams), its [`DriverConfig`], the
//! [`DatagramSocket`] trait an adapter implements for its runtime's socket,
//! and the glue every adapter shares: [`Batch`] (GSO/GRO through
//! quinn-udp), [`ErrorQueue`] (ICMP errors), and the making of the socket.
//! [`ManagerDriver`] (module [`manager`]) is the runtime-free half of the
//! adapters' connection-manager runners: utp-core's manager policy on a
//! driver's connections.
//!
//! ## The socket
//!
//! Every adapter's `bind` makes its socket with [`bind_udp`] (each
//! resolved address in turn, non-blocking) and its `from_std` applies
//! [`configure`], both following [`DriverConfig::socket`]
//! ([`SocketOptions`]):
//!
//! - **Buffers.** The receive buffer is raised to 4 MiB (as far as
//!   `net.core.rmem_max` lets it): with Linux's default 208 KiB a loopback
//!   transfer at full speed drops a datagram in about every 170, each one
//!   a retransmission; at 4 MiB none. See what a socket got with
//!   [`buffer_sizes`] (the adapters' `recv_buffer_size()`).
//! - **A shared receive window.** Many connections receiving at once can
//!   still overflow it together (each advertises its own 1 MiB). While
//!   the buffer is a quarter full or more ([`recv_queue`], Linux's
//!   `SO_MEMINFO`, looked at once a millisecond at most), the driver
//!   shares a window of the payload it holds among the connections
//!   receiving ([`DriverConfig::share_recv_window`]).
//! - **Dual stack.** A socket bound to `[::]` carries IPv4 too
//!   (`IPV6_V6ONLY` off, unless [`SocketOptions::only_v6`] says otherwise).
//!   Its IPv4 peers are known to the endpoint by their v4-mapped addresses,
//!   the form the socket reports and sends to, and to the application as
//!   plain IPv4 addresses ([`canonical`]): `peer_addr`, `accept`,
//!   `recv_foreign`; [`Driver::connect`] takes an IPv4 address on such a
//!   socket ([`remote_for`]), and the adapters' `connect` picks the first
//!   resolved address the socket can reach ([`pick_remote`]).
//! - **ICMP errors** (Linux, [`SocketOptions::icmp_errors`]). With
//!   `IP_RECVERR` the kernel queues the ICMP errors our datagrams draw;
//!   the driver reads them ([`DatagramSocket::try_recv_error`]) after a
//!   receive or send fails and when a turn starts with nothing to receive
//!   (the socket polls as an error then), and hands them to the endpoint:
//!   port unreachable ends connection attempts to that address with
//!   `ConnectionRefused` at once
//!   ([`Endpoint::handle_unreachable`](utp_core::Endpoint::handle_unreachable)),
//!   packet too big lowers the packet size
//!   ([`Endpoint::handle_packet_too_big`](utp_core::Endpoint::handle_packet_too_big)).
//!   A send the kernel fails with an error another datagram caused is
//!   made once more.

mod bind;
mod config;
mod driver;
mod errqueue;
pub mod introducer;
pub mod manager;
mod socket;
mod stats;
mod write;

pub use bind::{
    bind_udp, buffer_sizes, canonical, configure, is_dual_stack, may_be_deferred, pick_remote,
    recv_queue, remote_for, SocketOptions,
};
pub use config::{DriverConfig, MAX_FOREIGN_QUEUE};
pub use driver::{Driver, Wait};
pub use errqueue::{ErrorQueue, SocketError};
pub use manager::{ManagedSocket, ManagerDriver, ManagerEvent, ManagerOutput, MANAGER_TICK};
pub use socket::{Batch, Clock, DatagramSocket, RecvQueue, UdpSockRef};
pub use stats::{DriverStats, SocketInterval};
pub use utp_core::error::{close_error, close_reason_kind};
pub use write::write_all_bytes;
