//! # utp-sim
//!
//! A deterministic network simulator for sans-IO protocols: the test bench
//! of `utp-core`, and yours.
//!
//! A [`Sim`] holds hosts, each a sans-IO endpoint bound to one
//! [`SocketAddr`] (IPv4 or IPv6) and driven through the [`Host`] trait. It
//! keeps a virtual clock ([`Timestamp`]) that jumps from one event to the
//! next — a datagram arriving or a host's deadline — so a minute of
//! simulated traffic takes milliseconds, and nothing ever sleeps.
//!
//! Between each pair of addresses, in each direction, runs a link with its
//! own [`LinkConfig`]: latency, jitter, bandwidth with a drop-tail queue,
//! random and bursty (Gilbert-Elliott) loss, duplication, reordering, an MTU,
//! and partitions scheduled over time. Several address pairs can share one
//! link ([`Sim::share_link`]), so flows compete for one bottleneck queue,
//! and [`Sim::link_backlog`] reads that queue at any instant. Every bit of randomness comes from
//! the seed given to [`Sim::new`]: the same seed replays the same run, which
//! [`Sim::trace_hash`] lets a test check. [`Sim::stats`] and
//! [`Sim::link_stats`] count what happened; [`Sim::set_trace`] keeps the
//! events themselves when a test wants to look at them.
//!
//! The application logic lives in the test: it reaches the hosts through
//! [`Sim::host`] and [`Sim::host_mut`] and moves time with [`Sim::step`],
//! [`Sim::run_until`] or [`Sim::advance`].
//!
//! ## uTP endpoints
//!
//! [`utp_core::Endpoint`] implements [`Host`], so a `Sim<Endpoint>` runs
//! real uTP connections: add endpoints with [`Sim::add_host`], call
//! `connect`, `accept`, `conn(..).write/read` and `poll_event` through
//! [`Sim::host_mut`] from the closure of [`Sim::run_until`], and the
//! simulator moves their datagrams and fires their timers.
//! `examples/utp_transfer.rs` is a complete program
//! (`cargo run -p utp-sim --example utp_transfer`).
//!
//! ## Congestion-control experiments
//!
//! The [`experiment`] module runs bulk uTP flows through one shared
//! bottleneck and samples windows, RTTs, goodput and the bottleneck queue
//! over time; [`experiment::scenarios`] holds the standard setups, which
//! `examples/report.rs` plots
//! (`cargo run --release -p utp-sim --example report`).
//!
//! ## Hostile hosts
//!
//! A host can lie about its address: a [`Transmit`] whose
//! [`source`](Transmit::source) names another address is delivered with
//! that address as `from`, as a raw socket on a network without source
//! filtering would send it. The datagram travels the link from the sending
//! host's own address to the destination (its latency, loss, bandwidth and
//! partitions: that is the path it really takes), so partitioning the
//! victim's own path does not stop an attacker. A test can also send a
//! datagram itself with [`Sim::inject`].
//!
//! Replies go to the claimed address. Where no host lives there (a random
//! spoofed source), they are dropped as [`DropReason::NoSuchHost`] and
//! counted per destination: [`Sim::unrouted`] for one address,
//! [`Sim::unrouted_all`] for every one, [`SimStats::unrouted`] in total.
//! [`Sim::spoofed`] counts the other side, the datagrams sent in the name
//! of each address by a host not bound to it, so "a spoofed source gets
//! no more, and no larger, replies than the datagrams sent in its name"
//! reads:
//!
//! ```
//! # use utp_sim::{Sim, Host};
//! # fn check<H: Host>(sim: &Sim<H>) {
//! for (addr, replies) in sim.unrouted_all() {
//!     assert!(replies.within(&sim.spoofed(addr)), "{addr}: {replies:?}");
//! }
//! # }
//! ```
//!
//! The trace shows a spoofed datagram with the address it claims as
//! `from` and the real sender in [`TraceEvent::spoofed_by`]; runs without
//! spoofing hash as they always did.
//!
//! ## NATs
//!
//! [`Sim::add_nat`] puts a NAT box with a public IP address on the
//! network, and [`Sim::place_behind_nat`] puts private host addresses
//! behind it. It behaves as RFC 4787 describes, by its [`NatConfig`]:
//! mapping and filtering each endpoint-independent, address-dependent or
//! address-and-port-dependent ([`NatBehavior`]), port preservation or
//! random ports from the seed ([`PortAssignment`]), a mapping timeout
//! refreshed by outgoing traffic (and optionally incoming), hairpinning on
//! or off. Presets: [`NatConfig::full_cone`], [`NatConfig::restricted_cone`],
//! [`NatConfig::port_restricted_cone`] (Linux `masquerade`, the default) and
//! [`NatConfig::symmetric`] (`masquerade random`).
//!
//! A datagram from a private host to an address outside its NAT leaves
//! with its source rewritten to a mapping (made or refreshed at send time);
//! one to another private address of the same NAT goes directly; one to
//! the NAT's own public address is hairpinned or dropped. A datagram to a
//! NAT's public address travels the link from its sender to that address
//! and is translated when it arrives (so a filter opened while it was on
//! its way lets it in): to the private host of the mapping on that port,
//! with its source unchanged, if the mapping is live and its filter allows
//! the source; else it is dropped. Private addresses cannot be reached
//! from outside their NAT. Every NAT drop is a [`DropReason::Nat`];
//! [`Sim::nat_stats`] says why ([`NatStats`]), [`Sim::nat_mappings`]
//! lists the live mappings. A simulator without NATs runs (and hashes)
//! exactly as before.
//!
//! ```
//! # use std::net::SocketAddr;
//! # use utp_sim::{Host, NatConfig, Sim, Timestamp, Transmit};
//! # #[derive(Default)]
//! # struct Node { out: Vec<(SocketAddr, u8)>, got: Vec<SocketAddr> }
//! # impl Host for Node {
//! #     fn handle_datagram(&mut self, _: Timestamp, from: SocketAddr, _: &[u8]) { self.got.push(from) }
//! #     fn handle_timeout(&mut self, _: Timestamp) {}
//! #     fn poll_transmit(&mut self, _: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
//! #         let (to, b) = self.out.pop()?; buf[0] = b; Some(Transmit::new(to, 1))
//! #     }
//! #     fn poll_timeout(&mut self) -> Option<Timestamp> { None }
//! # }
//! let (private, server): (SocketAddr, SocketAddr) =
//!     ("10.0.0.2:6881".parse()?, "203.0.113.1:3478".parse()?);
//! let mut sim = Sim::new(1);
//! let nat = sim.add_nat("192.0.2.1".parse()?, NatConfig::port_restricted_cone())?;
//! sim.add_host(private, Node::default());
//! sim.add_host(server, Node::default());
//! sim.place_behind_nat(nat, private)?;
//!
//! sim.host_mut(private).out.push((server, 1));
//! sim.advance(std::time::Duration::from_millis(10))?;
//! // The server sees the mapping, with the private port preserved...
//! let public: SocketAddr = "192.0.2.1:6881".parse()?;
//! assert_eq!(sim.host(server).got, [public]);
//! // ...and can answer through it; another host cannot.
//! sim.host_mut(server).out.push((public, 2));
//! sim.inject("198.51.100.7:9".parse()?, public, b"?");
//! sim.advance(std::time::Duration::from_millis(10))?;
//! assert_eq!(sim.host(private).got, [server]);
//! let stats = sim.nat_stats(nat);
//! assert_eq!((stats.mappings_created, stats.inbound, stats.inbound_filtered), (1, 1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Packet captures
//!
//! [`Sim::record_pcap_file`] (or [`Sim::record_pcap`] with any writer)
//! streams every datagram the simulator delivers into a pcap file, as the
//! receiving hosts saw it, stamped with virtual time (see [`pcap`]), so a
//! run can be read in Wireshark. Nothing is kept in memory, and nothing is
//! done per datagram when no recording runs.
//!
//! ```no_run
//! # use std::net::SocketAddr;
//! # use std::time::Duration;
//! # use utp_core::{Config, Endpoint, ListenConfig};
//! # use utp_sim::{Sim, Timestamp};
//! let (client, server): (SocketAddr, SocketAddr) =
//!     ("192.0.2.1:6881".parse()?, "198.51.100.7:6881".parse()?);
//! let mut sim: Sim<Endpoint> = Sim::new(1);
//! sim.add_host(client, Endpoint::new(Config::default(), 1));
//! let mut listener = Endpoint::new(Config::default(), 2);
//! listener.listen(ListenConfig::default());
//! sim.add_host(server, listener);
//!
//! sim.record_pcap_file("run.pcap")?;
//! let now = sim.now();
//! sim.host_mut(client).connect(now, server)?;
//! sim.advance(Duration::from_secs(1))?;
//! sim.stop_pcap()?; // flushes, and reports any write error
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Wireshark does not guess uTP on any port: open `run.pcap`, pick a
//! packet, *Analyze → Decode As…*, and set *UDP port* 6881 to *BT-uTP*.
//! Or from the command line:
//!
//! ```sh
//! tshark -r run.pcap -d udp.port==6881,bt-utp
//! tshark -r run.pcap -d udp.port==6881,bt-utp -T fields -e frame.time_relative \
//!     -e bt-utp.type -e bt-utp.seq_nr -e bt-utp.ack_nr -e bt-utp.wnd_size
//! ```
//!
//! `examples/utp_transfer.rs` takes `--pcap FILE`.
//!
//! ## Sizes and the MTU
//!
//! [`Transmit::len`] is the UDP payload. On a link it weighs its
//! [wire size](wire_size): the payload plus 28 bytes of IPv4 and UDP headers
//! ([`IPV4_UDP_OVERHEAD`]) or 48 for IPv6 ([`IPV6_UDP_OVERHEAD`]), by the
//! destination's family. The [MTU](LinkConfig::mtu) is compared with the
//! wire size, and the [bandwidth](LinkConfig::bandwidth) serialises it. So
//! on the default 1500-byte MTU an IPv4 host can send 1472 payload bytes
//! with the don't-fragment bit, an IPv6 host 1452. Statistics count payload
//! bytes.
//!
//! ## Example
//!
//! A toy protocol: a node answers `ping` with `pong`, and resends its own
//! ping every 100 ms until it gets an answer.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use utp_core::Timestamp;
//! use utp_sim::{Host, LinkConfig, Sim, Transmit};
//!
//! #[derive(Default)]
//! struct Node {
//!     outbox: VecDeque<(SocketAddr, &'static [u8])>,
//!     ping_to: Option<SocketAddr>,
//!     retry_at: Option<Timestamp>,
//!     pings_sent: u32,
//!     pong_at: Option<Timestamp>,
//! }
//!
//! impl Node {
//!     fn ping(&mut self, now: Timestamp, to: SocketAddr) {
//!         self.ping_to = Some(to);
//!         self.outbox.push_back((to, b"ping"));
//!         self.pings_sent += 1;
//!         self.retry_at = Some(now + Duration::from_millis(100));
//!     }
//! }
//!
//! impl Host for Node {
//!     fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
//!         match data {
//!             b"ping" => self.outbox.push_back((from, b"pong")),
//!             b"pong" if self.pong_at.is_none() => {
//!                 self.pong_at = Some(now);
//!                 self.retry_at = None;
//!             }
//!             _ => {}
//!         }
//!     }
//!     fn handle_timeout(&mut self, now: Timestamp) {
//!         if let (Some(to), Some(at)) = (self.ping_to, self.retry_at) {
//!             if now >= at {
//!                 self.ping(now, to);
//!             }
//!         }
//!     }
//!     fn poll_transmit(&mut self, _now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
//!         let (to, msg) = self.outbox.pop_front()?;
//!         buf[..msg.len()].copy_from_slice(msg);
//!         Some(Transmit { dont_fragment: true, ..Transmit::new(to, msg.len()) })
//!     }
//!     fn poll_timeout(&mut self) -> Option<Timestamp> {
//!         self.retry_at
//!     }
//! }
//!
//! let a: SocketAddr = "10.0.0.1:6881".parse()?;
//! let b: SocketAddr = "10.0.0.2:6881".parse()?;
//! let mut sim = Sim::new(42);
//! sim.add_host(a, Node::default());
//! sim.add_host(b, Node::default());
//! sim.set_link_both(a, b, LinkConfig::with_latency(Duration::from_millis(20)))?;
//! // b -> a is down for the first 150 ms: the first two pongs are lost.
//! sim.partition(b, a, Timestamp::ZERO, Timestamp::from_millis(150));
//!
//! let now = sim.now();
//! sim.host_mut(a).ping(now, b);
//! let done = sim.run_until(Timestamp::from_secs(10), |sim| sim.host(a).pong_at.is_some())?;
//!
//! // Pings at 0, 100 and 200 ms; the third pong, sent at 220 ms, gets through.
//! assert_eq!(done, Timestamp::from_millis(240));
//! assert_eq!(sim.host(a).pings_sent, 3);
//! let back = sim.link_stats(b, a);
//! assert_eq!((back.sent, back.dropped.partition, back.delivered), (3, 2, 1));
//!
//! // Nothing is left to do: the timer is off and nothing is in flight.
//! let idle = sim.run_until(Timestamp::from_secs(10), |_| false);
//! assert!(matches!(idle, Err(utp_sim::RunError::Idle { .. })));
//!
//! // The same seed and inputs replay exactly; `trace_hash` tells.
//! let hash = sim.trace_hash();
//! # let _ = hash;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/ping.rs` shows a fuller test of a protocol under loss,
//! reordering and a bandwidth limit.

#![forbid(unsafe_code)]

pub mod experiment;
mod link;
mod nat;
pub mod overlay;
pub mod pcap;
mod sim;
mod trace;
mod utp;

use std::net::SocketAddr;

pub use link::{
    wire_size, ConfigError, DropReason, DropStats, GilbertElliott, LinkBacklog, LinkConfig,
    LinkStats, IPV4_UDP_OVERHEAD, IPV6_UDP_OVERHEAD,
};
pub use nat::{
    MappingScope, NatBehavior, NatConfig, NatError, NatId, NatMapping, NatStats, PortAssignment,
    NAT_PORT_MIN,
};
pub use pcap::PcapWriter;
pub use sim::{RunError, Sim, SimStats, DEFAULT_MAX_EVENTS_PER_INSTANT, TRANSMIT_BUF_LEN};
pub use trace::{EventKind, TraceEvent, TraceMode};
pub use utp_core::Timestamp;

/// One datagram a host wants to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// Destination address.
    pub to: SocketAddr,
    /// UDP payload length: the datagram is the first `len` bytes of the
    /// buffer given to [`Host::poll_transmit`] (clamped to its length).
    pub len: usize,
    /// The IPv4 don't-fragment bit (for IPv6, the absence of source
    /// fragmentation): a datagram over the path MTU is dropped rather than
    /// fragmented. Path MTU discovery sends its probes with it.
    pub dont_fragment: bool,
    /// The source address the datagram claims. `None` (what every honest
    /// host returns): the host's own address. `Some(addr)` with another
    /// address: a spoofed datagram, as a raw socket sends one (see
    /// [Hostile hosts](crate#hostile-hosts)).
    pub source: Option<SocketAddr>,
}

impl Transmit {
    /// A datagram of `len` bytes to `to` from the host's own address,
    /// without the don't-fragment bit.
    pub const fn new(to: SocketAddr, len: usize) -> Self {
        Transmit {
            to,
            len,
            dont_fragment: false,
            source: None,
        }
    }
}

/// A count of datagrams and of their payload bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Traffic {
    /// Datagrams.
    pub datagrams: u64,
    /// UDP payload bytes, all datagrams together.
    pub bytes: u64,
}

impl Traffic {
    pub(crate) fn add(&mut self, len: usize) {
        self.datagrams = self.datagrams.saturating_add(1);
        self.bytes = self.bytes.saturating_add(len as u64);
    }

    /// Whether `self` is at most `other` in datagrams and in bytes: "no
    /// more replies than requests, and no larger".
    pub const fn within(&self, other: &Traffic) -> bool {
        self.datagrams <= other.datagrams && self.bytes <= other.bytes
    }
}

/// A network node driven by the simulator: a sans-IO protocol endpoint
/// bound to one address.
///
/// The simulator calls [`handle_datagram`](Host::handle_datagram) or
/// [`handle_timeout`](Host::handle_timeout) for each event, then drains the
/// host: [`poll_transmit`](Host::poll_transmit) until `None`, then
/// [`poll_timeout`](Host::poll_timeout). See [`Sim`] for the timer rules.
pub trait Host {
    /// A datagram from `from` arrived at time `now`.
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]);
    /// The deadline returned by [`Host::poll_timeout`] has come (`now` is
    /// at or after it).
    fn handle_timeout(&mut self, now: Timestamp);
    /// Writes the next datagram into `buf` (at least 65535 bytes) and
    /// returns it; `None` when nothing is pending. Called until `None`.
    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit>;
    /// When the host next wants [`Host::handle_timeout`]; `None` = no timer.
    fn poll_timeout(&mut self) -> Option<Timestamp>;
}

/// Lets a simulation mix host types as `Sim<Box<dyn Host>>`.
impl<H: Host + ?Sized> Host for Box<H> {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        (**self).handle_datagram(now, from, data);
    }
    fn handle_timeout(&mut self, now: Timestamp) {
        (**self).handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        (**self).poll_transmit(now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Timestamp> {
        (**self).poll_timeout()
    }
}
