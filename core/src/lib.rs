//! # utp-core
//!
//! A sans-IO implementation of uTP, the micro transport protocol of
//! BitTorrent ([BEP 29]), wire-compatible with libutp and libtorrent.
//!
//! The crate never reads a clock and never touches a socket: time and
//! datagrams are arguments, datagrams to send are written into the caller's
//! buffers. That makes the same code run on any runtime, under a
//! deterministic simulator, under property tests and under a fuzzer.
//!
//! What is here today:
//! - [`wire`]: the packet format, a checked view and a typed representation
//!   with `parse`/`emit`, and the [`wire::classify`] rule that tells uTP
//!   datagrams from DHT or tracker traffic on the same socket.
//! - [`SeqNr`]: wrapping 16-bit sequence numbers with circular ordering.
//! - [`time`]: the caller-driven [`Timestamp`] and the 32-bit wire
//!   timestamp arithmetic.
//! - [`fuzzing`]: checks shared by the fuzz targets and the test suite.
//!
//! The connection state machine and the endpoint are not written yet.
//!
//! ```
//! use utp_core::wire::{classify, DatagramKind, PacketRepr, PacketType};
//!
//! // A SYN as libutp sends it (vector libutp-plain-1-syn in spec/vectors).
//! let syn = [
//!     0x41, 0x00, 0x45, 0x67, 0x16, 0x03, 0x35, 0x3f, 0x00, 0x00, 0x00, 0x00,
//!     0x00, 0x10, 0x00, 0x00, 0x23, 0xc6, 0x00, 0x00,
//! ];
//! assert_eq!(classify(&syn), DatagramKind::Utp);
//! let packet = PacketRepr::parse(&syn)?;
//! assert_eq!(packet.packet_type, PacketType::Syn);
//! assert_eq!(packet.connection_id, 17767);
//! assert_eq!(packet.seq_nr.get(), 9158);
//! assert_eq!(packet.window_size, 1 << 20);
//!
//! let mut out = [0u8; 1500];
//! let len = packet.emit(&mut out)?;
//! assert_eq!(&out[..len], &syn[..]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [BEP 29]: https://www.bittorrent.org/beps/bep_0029.html

#![forbid(unsafe_code)]

pub mod config;
pub mod congestion;
mod conn;
mod endpoint;
pub mod error;
pub mod event;
pub mod fuzzing;
mod rng;
pub mod seq;
pub mod stats;
pub mod time;
pub mod wire;

pub use config::{AcceptDecision, Config, ListenConfig};
pub use conn::ConnState;
pub use endpoint::{Conn, ConnHandle, Endpoint, Handled, Transmit};
pub use error::{ConnectError, Error};
pub use event::{CloseReason, Event};
pub use seq::SeqNr;
pub use stats::{ConnStats, EndpointStats};
pub use time::Timestamp;
