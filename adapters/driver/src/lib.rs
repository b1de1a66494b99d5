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
//!    [`Driver::set_driver_waker`], unlock;
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
//! No clock is read here: `now` is always an argument; [`Clock`] converts
//! between [`Instant`](std::time::Instant)s and [`Timestamp`](utp_core::Timestamp)s for adapters.
//!
//! What it owns: the [`Driver`] (receive, timers, batched sends, wakers,
//! the queue of foreign datagrams), its [`DriverConfig`], the
//! [`DatagramSocket`] trait an adapter implements for its runtime's socket,
//! and [`Batch`], the GSO/GRO glue through quinn-udp every adapter shares.

mod config;
mod driver;
mod socket;

pub use config::{DriverConfig, MAX_FOREIGN_QUEUE};
pub use driver::{Driver, DriverStats, Wait};
pub use socket::{Batch, Clock, DatagramSocket, UdpSockRef};
pub use utp_core::error::{close_error, close_reason_kind};
