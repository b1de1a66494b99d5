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
//! ## The contract
//!
//! An [`Endpoint`] owns every connection on one UDP socket. Drive it like
//! this, and only like this:
//!
//! 1. **Input.** Give it every datagram the socket receives
//!    ([`Endpoint::handle_datagram`]; a [`Handled::NotUtp`] datagram belongs
//!    to another protocol on the socket, such as the DHT) and call
//!    [`Endpoint::handle_timeout`] when the deadline it gave passes.
//!    Application calls on a connection ([`Conn::write`], [`Conn::read`],
//!    [`Conn::shutdown`], [`Conn::close`], [`Conn::abort`]) are input too.
//! 2. **Drain, in this order, after every input:** [`Endpoint::poll_transmit`]
//!    until `None` (send each datagram), then [`Endpoint::poll_event`] until
//!    `None`, then [`Endpoint::poll_timeout`] for the next deadline.
//!    Acknowledgements are made when you drain, so a batch of datagrams fed
//!    before one drain is answered with one ack, as deployed stacks do.
//! 3. **Wait** until a datagram arrives or the deadline passes, then go to 1.
//!
//! Time is always an argument ([`Timestamp`], microseconds from an epoch
//! you choose). Randomness comes from the seed given to [`Endpoint::new`],
//! so the same inputs give the same outputs.
//!
//! A connection ends with an [`Event::Closed`] carrying a [`CloseReason`].
//! Its handle stays valid (data already received can still be read, and
//! calls say why it closed) until you call [`Conn::close`] or
//! [`Conn::abort`], which release it.
//!
//! ## Configuration
//!
//! [`Config`] holds every setting of an endpoint and its connections, and
//! [`ListenConfig`] those of its listener; both start from `Default` (the
//! defaults are libutp's where it has one, and each field's documentation
//! gives its default and why) and are `#[non_exhaustive]`, so set fields
//! on a default value:
//!
//! ```
//! use std::time::Duration;
//! use utp_core::{AcceptDecision, Config, Endpoint, ListenConfig};
//!
//! let mut config = Config::default();
//! config.connect_timeout = Duration::from_secs(5);
//! config.max_total_send_rate = Some(2_000_000); // bytes/s, all connections
//! config.validate()?;
//! let mut endpoint = Endpoint::new(config, 7);
//! let mut listen = ListenConfig::with_filter(|peer| {
//!     if peer.ip().is_loopback() { AcceptDecision::Accept } else { AcceptDecision::Refuse }
//! });
//! listen.backlog = 32;
//! endpoint.listen(listen);
//! # Ok::<(), utp_core::ConfigError>(())
//! ```
//!
//! Each field states which values are valid (no zero sizes or timeouts,
//! packet sizes within [`config::MIN_PACKET_SIZE`]`..=`[`config::MAX_PACKET_SIZE`],
//! `min_rto` not above `max_rto`, the keepalive shorter than the idle
//! timeout, ...). [`Config::validate`] (and [`ListenConfig::validate`],
//! [`congestion::LedbatConfig::validate`]) checks them and returns a
//! [`ConfigError`] naming the field and the rule; the adapters refuse an
//! invalid configuration with `io::ErrorKind::InvalidInput`. The core
//! itself never refuses nor panics: [`Endpoint::new`] takes each invalid
//! value as the nearest valid one (the field says which), and
//! [`Endpoint::config`] shows what it uses.
//!
//! Choices that change behaviour most: [`Config::congestion`] (LEDBAT,
//! Reno, or your own [`congestion::Controller`] through
//! [`congestion::CongestionKind::custom`]); [`Config::pacing`],
//! [`Config::max_send_rate`] (per connection) and
//! [`Config::max_total_send_rate`] (the whole endpoint, changeable with
//! [`Endpoint::set_max_total_send_rate`]); [`Config::pmtu_discovery`];
//! the limits that bound memory and replies
//! ([`Config::max_connections`], [`Config::memory_budget`],
//! [`Config::replies_per_second`], [`Config::syn_cookies`]).
//!
//! ## On a hostile network
//!
//! An incoming connection is half-open until the initiator's next packet
//! proves it received our answer (our initiators send one at once); only
//! then does it reach [`Endpoint::accept`]. Half-open connections have
//! their own cap and a short life, under pressure SYNs get stateless SYN
//! cookies, replies to addresses that proved nothing are limited per
//! endpoint and per source and never larger than what they answer, forged
//! RESETs must land in a tight window and acks in a plausible one, and all buffers together
//! stay within [`Config::memory_budget`]. `spec/README.md` section 11 says
//! how, and what each deployed peer does with it.
//!
//! ## Example: a complete loop
//!
//! Two endpoints, the "network" a queue in memory: A sends a message and
//! half-closes, B reads it to the end and closes its side.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use utp_core::{CloseReason, Config, Endpoint, Event, ListenConfig, Timestamp};
//!
//! let (a_addr, b_addr): (SocketAddr, SocketAddr) =
//!     ("127.0.0.1:1000".parse()?, "127.0.0.1:2000".parse()?);
//! let mut a = Endpoint::new(Config::default(), 1);
//! let mut b = Endpoint::new(Config::default(), 2);
//! b.listen(ListenConfig::default());
//!
//! let mut now = Timestamp::ZERO;
//! let conn_a = a.connect(now, b_addr)?;
//! let mut c = a.conn(conn_a).ok_or("no such connection")?;
//! c.write(b"hello over uTP")?; // buffered until connected
//! c.shutdown();                // FIN after the data
//! drop(c);
//!
//! let mut wire: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)> = VecDeque::new();
//! let mut buf = [0u8; 1500];
//! let mut received = Vec::new();
//! let mut done = false;
//! while !done {
//!     // 2. Drain both endpoints: datagrams, then events.
//!     for (ep, from) in [(&mut a, a_addr), (&mut b, b_addr)] {
//!         while let Some(t) = ep.poll_transmit(now, &mut buf) {
//!             wire.push_back((from, t.destination, buf[..t.len].to_vec()));
//!         }
//!         while let Some(event) = ep.poll_event() {
//!             match event {
//!                 Event::Incoming => {
//!                     let conn_b = ep.accept().ok_or("nothing to accept")?;
//!                     let c = ep.conn(conn_b).ok_or("no such connection")?;
//!                     assert_eq!(c.peer_addr(), Some(a_addr));
//!                 }
//!                 Event::Readable(h) | Event::Eof(h) => {
//!                     let Some(mut c) = ep.conn(h) else { continue };
//!                     let mut chunk = [0u8; 4096];
//!                     while let Ok(n) = c.read(&mut chunk) {
//!                         if n == 0 {
//!                             c.shutdown(); // the peer is done: so are we
//!                             break;
//!                         }
//!                         received.extend_from_slice(&chunk[..n]);
//!                     }
//!                 }
//!                 Event::Closed(h, reason) => {
//!                     assert_eq!(reason, CloseReason::Finished);
//!                     if let Some(mut c) = ep.conn(h) {
//!                         c.close(); // release it
//!                     }
//!                     done |= from == a_addr;
//!                 }
//!                 _ => {}
//!             }
//!         }
//!     }
//!     // 3. Wait: here, jump to the next datagram (1 ms on this wire) or
//!     //    deadline.
//!     now += Duration::from_millis(1);
//!     if wire.is_empty() {
//!         if let Some(deadline) = [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min() {
//!             now = now.max(deadline);
//!         }
//!     }
//!     // 1. Input.
//!     while let Some((from, to, datagram)) = wire.pop_front() {
//!         let ep = if to == a_addr { &mut a } else { &mut b };
//!         ep.handle_datagram(now, from, &datagram);
//!     }
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//! }
//! assert_eq!(received, b"hello over uTP");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For tests of your own code over a simulated network (latency, loss,
//! reordering, partitions), see the `utp-sim` crate.
//!
//! ## Modules
//!
//! - [`wire`]: the packet format (checked view, typed representation with
//!   `parse`/`emit`, and [`wire::classify`], the rule that tells uTP from
//!   DHT or tracker traffic on a shared socket).
//! - [`SeqNr`] and [`time`]: wrapping sequence and timestamp arithmetic.
//! - [`congestion`]: the [`congestion::Controller`] trait, LEDBAT (the
//!   default, delay-based), Reno (loss-based) and your own
//!   ([`congestion::CongestionKind::Custom`]).
//! - [`peer`]: who a connection is with. Every type is generic over a
//!   [`Peer`] type, `SocketAddr` (UDP) by default: a carrier that is not
//!   UDP (the Portal Network's discv5 messages, keyed by node id) brings its
//!   own, with the largest packet it takes. Connection ids agreed out of
//!   band: [`Endpoint::connect_with_id`], [`Endpoint::accept_with_id`].
//! - [`config`], [`event`], [`error`], [`stats`]: the rest of the API.
//! - [`trace`]: the spans and events the `tracing` feature reports (a span
//!   per connection; handshakes, closes with their reason, timeouts,
//!   retransmits, PMTU changes; every packet at trace level).
//! - `fuzzing` (behind the `fuzzing` feature, not part of the API): checks
//!   shared by the fuzz targets and the test suite.
//!
//! The runtime-free socket loop the adapters (`utp-tokio`, `utp-async-std`,
//! `utp-mio`) share lives in the `utp-driver` crate: use it to put the
//! endpoint on a runtime of your own.
//!
//! LEDBAT ([`Config::congestion`]), pacing ([`Config::pacing`], with an
//! optional [`Config::max_send_rate`] and [`Config::max_total_send_rate`])
//! and path MTU discovery ([`Config::pmtu_discovery`]) are on by default
//! (see [Configuration](#configuration)).
//!
//! ## The wire codec on its own
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
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handle;
pub mod manager;
pub mod peer;
mod rng;
pub mod seq;
pub mod stats;
pub mod time;
pub mod trace;
pub mod wire;

/// The `bytes` crate [`Conn::write_bytes`] takes its buffers from.
pub use bytes;
pub use config::{
    AcceptDecision, AcceptFilter, Config, ConfigError, DuplicateRule, ListenConfig, SynCookies,
    SynInfo,
};
pub use conn::ConnState;
pub use endpoint::{Conn, ConnHandle, Endpoint, Handled, Transmit};
pub use error::{ConnectError, Error};
pub use event::{CloseInfo, CloseReason, Event, Timer};
pub use peer::Peer;
pub use seq::SeqNr;
pub use stats::{ConnStats, EndpointStats, IntervalStats};
pub use time::Timestamp;
