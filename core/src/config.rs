//! Endpoint and connection configuration.
//!
//! Start from `Default` and change fields (the structs are
//! `#[non_exhaustive]`, so fields can be added without breaking you):
//!
//! ```
//! use std::time::Duration;
//! use utp_core::Config;
//!
//! let mut config = Config::default();
//! config.idle_timeout = Some(Duration::from_secs(60));
//! config.max_total_send_rate = Some(10_000_000); // 10 MB/s for the socket
//! config.validate()?;
//! # Ok::<(), utp_core::ConfigError>(())
//! ```
//!
//! Each field's documentation gives its rule; [`Config::validate`] checks
//! them all and names the first one broken ([`ConfigError`]). The adapters
//! refuse an invalid configuration with
//! [`InvalidInput`](std::io::ErrorKind::InvalidInput);
//! [`Endpoint::new`](crate::Endpoint::new) never refuses and never panics:
//! it moves every value to the nearest valid one (said per field).

mod validate;

use core::time::Duration;
use std::net::SocketAddr;

use crate::congestion::CongestionKind;

pub use validate::{ConfigError, MAX_PACKET_SIZE, MIN_PACKET_SIZE};

/// Settings for an [`Endpoint`](crate::Endpoint) and every connection on it.
///
/// Every per-connection resource is bounded by one of these numbers, so the
/// memory an endpoint can use is bounded by `max_connections` times the
/// per-connection bounds, whatever peers send.
///
/// Each field says which values are valid; [`validate`](Self::validate)
/// checks them. Durations beyond 2^32 seconds (136 years) count as that
/// long, which is "never" for any process.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Most connections alive at once (including ones waiting in the accept
    /// backlog). A SYN beyond it is refused with RESET or ignored, as
    /// [`Config::refuse_when_full`] says. Not zero (an endpoint with room
    /// for no connection can do nothing; taken as 1). Default 4096.
    pub max_connections: usize,
    /// Whether a SYN beyond `max_connections` (or a full backlog) gets a
    /// RESET (`true`, the peer learns at once) or is ignored (`false`, the
    /// peer times out; kinder under a SYN flood). Default `true`.
    pub refuse_when_full: bool,
    /// Bytes a connection buffers for sending, in flight or not yet sent.
    /// `write` takes no more, and no more than brings the bytes not sent
    /// yet to twice the send window, at least 64 KiB
    /// ([`Conn::write_room`](crate::Conn::write_room)). Not zero (nothing
    /// could be written; taken as 1). Default 1 MiB.
    pub send_buffer: usize,
    /// Bytes a connection buffers on receipt, in order or not. This is the
    /// window advertised to the peer; data beyond it is dropped. Not zero
    /// (nothing could be received; taken as 1). Default 1 MiB.
    pub recv_buffer: usize,
    /// Largest UDP payload sent to an IPv4 peer. Default 1402 (libutp's).
    /// With [`pmtu_discovery`](Self::pmtu_discovery), the ceiling of the
    /// search. Within [`MIN_PACKET_SIZE`]`..=`[`MAX_PACKET_SIZE`] (room for
    /// a header, the longest SACK and some payload, up to the largest UDP
    /// payload); values outside are taken as the nearest bound.
    pub packet_size_v4: usize,
    /// Largest UDP payload sent to an IPv6 peer. Default 1232 (libutp's,
    /// which is also the IPv6 floor: no search by default). Same bounds as
    /// `packet_size_v4`.
    pub packet_size_v6: usize,
    /// Path MTU discovery (spec/README.md, "Path MTU discovery"): data
    /// packets start at the size every path carries (548 bytes of UDP
    /// payload for IPv4, 1232 for IPv6) and grow to the configured packet
    /// size as don't-fragment probes get through. `false`: every packet
    /// at the configured size from the start, as without discovery.
    /// Default `true`.
    pub pmtu_discovery: bool,
    /// How long a probe size that failed stays the search's upper bound
    /// before the search tries higher again (RFC 8899's raise timer); also
    /// how long the endpoint's per-address memory keeps it. Not zero (the
    /// search would retry a failed size at once, for ever; taken as 1 µs).
    /// Default 600 s.
    pub pmtu_reprobe: Duration,
    /// Lost probes after which a size counts as too big (so that one
    /// congestion drop does not lower it). At least 1 (taken as 1);
    /// default 2.
    pub pmtu_probe_attempts: u32,
    /// Out-of-order packets held for reassembly, counted from the next
    /// expected one; data further ahead is dropped. 1 to
    /// [`MAX_REORDER_WINDOW`] (values outside are taken as the nearest
    /// bound). Default 1024: with full packets that is more than the
    /// default 1 MiB window, so a sender within the window is never
    /// dropped as too far ahead.
    pub reorder_window: u16,
    /// Hold back a packet smaller than the packet size while data is in
    /// flight, so that many small writes make few packets (Nagle). Default
    /// `false`: latency first.
    pub nagle: bool,
    /// How long `connect` tries before reporting
    /// [`CloseReason::TimedOut`](crate::CloseReason::TimedOut). Not zero
    /// (taken as 1 µs). Default 10 s.
    pub connect_timeout: Duration,
    /// How long [`Endpoint::connect_rendezvous`](crate::Endpoint::connect_rendezvous)
    /// tries before `TimedOut(Connect)`. Not zero (taken as 1 µs). Default
    /// 30 s.
    pub rendezvous_timeout: Duration,
    /// How often a rendezvous connect sends its SYN again (hole punching
    /// wants a steady rate, not a backoff; UDT and SRT use 250 ms), plus up
    /// to a fifth of it of jitter per connection. Not zero (taken as 1 µs).
    /// Default 250 ms.
    pub rendezvous_interval: Duration,
    /// The keepalive interval of a rendezvous connection (see
    /// [`keepalive`](Self::keepalive)): below the 30 s after which many
    /// NATs forget a quiet UDP mapping (RFC 4787 asks for 2 minutes; boxes
    /// do less), so the hole it punched stays open. The shorter of this and
    /// `keepalive` applies; `None` (or zero) leaves `keepalive`. Default
    /// 15 s.
    pub rendezvous_keepalive: Option<Duration>,
    /// Which connection a listening endpoint keeps when a rendezvous with a
    /// BEP 29 peer (libutp, libtorrent: they run no contest) ends in two
    /// connections with it: our rendezvous, and the one our listener
    /// accepted from the peer's own SYN (spec section 9, "Two connections
    /// with a BEP 29 peer"). Either way [`Event::Duplicate`](crate::Event::Duplicate)
    /// names both. Default [`DuplicateRule::LowerPort`] (libtorrent's).
    pub rendezvous_duplicates: DuplicateRule,
    /// How long a NAT is taken to keep a quiet UDP mapping: a rendezvous
    /// connection that gives up retransmitting data it sent after at least
    /// this long without receiving anything ends
    /// [`TimedOut(MappingExpired)`](crate::Timer::MappingExpired) rather
    /// than `TimedOut(Retransmissions)`. `None` (or zero) never says so.
    /// Default 30 s (many NATs forget a quiet mapping then).
    pub nat_mapping_timeout: Option<Duration>,
    /// First SYN retransmission timeout; doubles at each retransmission.
    /// Not zero (SYNs would repeat without time passing; taken as 1 µs).
    /// Default 1 s (SYNs at 0, 1, 3, 7 s within the default connect
    /// timeout).
    pub syn_rto: Duration,
    /// Retransmission timeout before any RTT sample. Not zero (taken as
    /// 1 µs). Default 1 s.
    pub initial_rto: Duration,
    /// Floor of the retransmission timeout. Not zero (a timeout of zero
    /// retransmits without time passing; taken as 1 µs), and not above
    /// [`max_rto`](Self::max_rto). Default 500 ms (libtorrent's).
    pub min_rto: Duration,
    /// Ceiling of the retransmission timeout after backoff. At least
    /// [`min_rto`](Self::min_rto) (a smaller one is taken as `min_rto`).
    /// Default 60 s.
    pub max_rto: Duration,
    /// Consecutive retransmission timeouts after which the connection gives
    /// up with [`CloseReason::TimedOut`](crate::CloseReason::TimedOut)
    /// (0: at the first). Default 5 (libutp's).
    pub max_retransmissions: u32,
    /// Send a keepalive (a duplicate STATE) after this long without
    /// sending anything, so NAT mappings stay open. `None` disables. Not
    /// `Some` of zero (a keepalive at every turn of the loop; taken as
    /// `None`), and shorter than [`idle_timeout`](Self::idle_timeout) when
    /// both are set: otherwise two of our endpoints with the same settings
    /// close their quiet but live connections (taken as half the idle
    /// timeout). Default 29 s (libutp's).
    pub keepalive: Option<Duration>,
    /// Give up on a connection after this long without receiving anything.
    /// `None` disables. Not `Some` of zero (taken as `None`). Default 180 s:
    /// longer than the 120 s BitTorrent keepalive and libutp's 29 s uTP
    /// keepalive, so live peers never hit it.
    pub idle_timeout: Option<Duration>,
    /// After `close()`, how long to wait for the peer's FIN once ours is
    /// acknowledged (zero: not at all). Default 10 s.
    pub linger: Duration,
    /// The congestion controller new connections use: a shipped one, or
    /// your own ([`CongestionKind::Custom`]). Default
    /// [`CongestionKind::Ledbat`] with its default settings (100 ms target);
    /// [`LedbatConfig`](crate::congestion::LedbatConfig)'s fields have
    /// rules of their own, which `validate` checks too.
    pub congestion: CongestionKind,
    /// Spread each window's packets over the round trip instead of sending
    /// them in bursts (bursts overflow small router queues and socket
    /// buffers). The rate is the window over the smoothed RTT, times 2 in
    /// slow start and 1.25 otherwise, with bursts of up to 2 ms of it (10
    /// to 256 packets). Default `true`.
    pub pacing: bool,
    /// Most bytes per second a connection sends (payload and headers,
    /// retransmissions included); `None` for no limit. Change it for one
    /// connection with [`Conn::set_max_send_rate`](crate::Conn::set_max_send_rate).
    /// Not `Some(0)` (taken as `None`). Default `None`.
    pub max_send_rate: Option<u64>,
    /// Most bytes per second all connections of the endpoint send together
    /// (SYN, DATA and FIN packets, headers and retransmissions included;
    /// ACKs, keepalives, RESETs and handshake answers are never held back). A
    /// token bucket with bursts of 2 ms of the rate (at least 10, at most
    /// 256 full packets), on top of each connection's own pacing and
    /// [`max_send_rate`](Self::max_send_rate); connections waiting for it
    /// take turns. `None` for no limit. Change it while running with
    /// [`Endpoint::set_max_total_send_rate`](crate::Endpoint::set_max_total_send_rate).
    /// Not `Some(0)` (taken as `None`). Default `None`.
    pub max_total_send_rate: Option<u64>,
    /// Answer packets for unknown connections with RESET (as libutp does),
    /// within the limits on replies to unproven addresses
    /// ([`replies_per_second`](Self::replies_per_second)). Default `true`.
    pub reset_unknown: bool,
    /// Most datagrams a second (a token bucket: a second's worth at once,
    /// then evenly spread) the endpoint sends, all sources together, to
    /// addresses that have not proved they receive what we send: RESETs for
    /// unknown connections, answers to SYNs (half-open or cookie STATEs)
    /// and to retransmitted SYNs. Each such reply is no larger than the
    /// datagram it answers, so a spoofed source gets at most one datagram
    /// of at most its size per datagram sent in its name. Not zero (no SYN
    /// would ever be answered; taken as 1). Default 10,000.
    pub replies_per_second: u32,
    /// The same limit for one source IP address (a victim whose address a
    /// flood spoofs: at most this many 20-byte datagrams a second reach
    /// it). Not zero (taken as 1). Default 1,000, so that a host (or a
    /// carrier NAT) opening many connections at once is answered.
    pub replies_per_source: u32,
    /// How long a half-open connection (a SYN answered, no packet yet from
    /// the initiator that proves it received our STATE) lives. It sends no
    /// keepalives; when it expires it is closed with
    /// [`CloseReason::TimedOut`](crate::CloseReason::TimedOut) and taken out
    /// of the accept backlog. Not zero (no connection could be accepted;
    /// taken as 1 µs). Default 5 s.
    pub half_open_timeout: Duration,
    /// Most half-open connections at once, separate from
    /// [`max_connections`](Self::max_connections). A SYN beyond it gets a
    /// SYN cookie (with [`SynCookies::OnPressure`] or
    /// [`SynCookies::Always`]) or is ignored. Not zero (taken as 1).
    /// Default 1024.
    pub max_half_open: usize,
    /// When the endpoint answers SYNs statelessly (spec/README.md, "SYN
    /// cookies"). Default [`SynCookies::OnPressure`].
    pub syn_cookies: SynCookies,
    /// Half-open connections at which the endpoint is "under pressure" and
    /// [`SynCookies::OnPressure`] starts answering with cookies; pressure
    /// lasts until one second after the count last was at or above it
    /// (WireGuard's hysteresis). Any value: 0 is always under pressure
    /// (as [`SynCookies::Always`]), one above `max_half_open` only when the
    /// table is full. Default 128 (an eighth of `max_half_open`, as
    /// WireGuard's "under load").
    pub syn_cookie_threshold: usize,
    /// Bytes all connections together may hold in send, receive and
    /// reorder buffers (reassembly memory kept for reuse included). When it is reached, writes are refused with
    /// [`Error::WouldBlock`](crate::Error::WouldBlock), out-of-order data is
    /// dropped (the sender retransmits it) and the advertised windows
    /// shrink, so no peer can grow the endpoint's memory past it. Not zero
    /// (nothing could be written or received; taken as 1). Default
    /// 256 MiB.
    pub memory_budget: usize,
}

/// Which of two connections with one peer a rendezvous keeps
/// ([`Config::rendezvous_duplicates`]). The one not kept is closed
/// gracefully, with close-reason code 1 (libtorrent's
/// `duplicate_peer_id`) in its FIN: an accepted connection before the
/// application ever sees it; the application's rendezvous connection by
/// a half-close (what was written is still delivered, reads go on until
/// the peer's FIN). A rendezvous not yet connected when the accepted
/// connection is proven, if that is the one to keep, takes it over under
/// its own handle, as a late caller does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum DuplicateRule {
    /// libtorrent's rule, which libtorrent applies on its side too, so
    /// both keep the same connection: the side with the lower port keeps
    /// its outgoing connection (for us the rendezvous, whose SYN won; for
    /// the peer the one our listener accepted). Our port is the one
    /// [`Endpoint::set_local_port`](crate::Endpoint::set_local_port) gave
    /// (the adapters give the socket's; the public one when the introducer
    /// told it), the peer's the port of its address. With either unknown
    /// (not set, a peer that is not a UDP address) or both the same
    /// (libtorrent then draws lots), both are kept.
    #[default]
    LowerPort,
    /// Keep the rendezvous connection, close the accepted one.
    KeepRendezvous,
    /// Keep both: the event names them and the application chooses.
    KeepBoth,
}

/// When SYNs are answered with SYN cookies: a STATE whose sequence number
/// is a keyed hash of the SYN (peer address, connection id, sequence
/// number, time bucket), so the endpoint stores nothing until the initiator
/// proves it received it. A connection made from a cookie cannot send
/// before the initiator has sent a packet (spec/README.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum SynCookies {
    /// Never: a SYN beyond the half-open limit is ignored.
    Off,
    /// When the half-open count reached
    /// [`Config::syn_cookie_threshold`] within the last second, or the
    /// half-open table is full.
    #[default]
    OnPressure,
    /// Every SYN (for tests, and for listeners that expect floods).
    Always,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 4096,
            refuse_when_full: true,
            send_buffer: 1 << 20,
            recv_buffer: 1 << 20,
            packet_size_v4: 1402,
            packet_size_v6: 1232,
            pmtu_discovery: true,
            pmtu_reprobe: Duration::from_secs(600),
            pmtu_probe_attempts: 2,
            reorder_window: 1024,
            nagle: false,
            connect_timeout: Duration::from_secs(10),
            rendezvous_timeout: Duration::from_secs(30),
            rendezvous_interval: Duration::from_millis(250),
            rendezvous_keepalive: Some(Duration::from_secs(15)),
            rendezvous_duplicates: DuplicateRule::LowerPort,
            nat_mapping_timeout: Some(Duration::from_secs(30)),
            syn_rto: Duration::from_secs(1),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(500),
            max_rto: Duration::from_secs(60),
            max_retransmissions: 5,
            keepalive: Some(Duration::from_secs(29)),
            idle_timeout: Some(Duration::from_secs(180)),
            linger: Duration::from_secs(10),
            congestion: CongestionKind::default(),
            pacing: true,
            max_send_rate: None,
            max_total_send_rate: None,
            reset_unknown: true,
            replies_per_second: 10_000,
            replies_per_source: 1_000,
            half_open_timeout: Duration::from_secs(5),
            max_half_open: 1024,
            syn_cookies: SynCookies::OnPressure,
            syn_cookie_threshold: 128,
            memory_budget: 256 << 20,
        }
    }
}

impl Config {
    /// The largest packet sent to `peer` before path MTU discovery has
    /// found more: [`packet_size_v4`](Self::packet_size_v4) or
    /// [`packet_size_v6`](Self::packet_size_v6) by its address family
    /// (IPv4's for a peer not reached over IP), within
    /// [`Peer::max_packet_size`](crate::Peer::max_packet_size).
    pub fn packet_size_for<P: crate::Peer>(&self, peer: &P) -> usize {
        crate::peer::PeerInfo::of(peer).packet_size(self)
    }

    /// `reorder_window` within its documented bound.
    pub(crate) fn effective_reorder_window(&self) -> u16 {
        self.reorder_window.clamp(1, MAX_REORDER_WINDOW)
    }
}

/// Upper bound of [`Config::reorder_window`]: a SACK can describe this many
/// packets in 128 bytes.
pub const MAX_REORDER_WINDOW: u16 = 1024;

/// What to do with an incoming connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AcceptDecision {
    /// Accept it (it joins the backlog; [`Endpoint::accept`](crate::Endpoint::accept) takes it).
    Accept,
    /// Refuse it with RESET: the peer sees "connection refused" at once.
    Refuse,
    /// Ignore it: no answer, the peer times out.
    Ignore,
}

/// Listener settings for [`Endpoint::listen`](crate::Endpoint::listen).
///
/// ```
/// use std::net::SocketAddr;
/// use utp_core::{AcceptDecision, ListenConfig};
///
/// let local: SocketAddr = "127.0.0.1:0".parse()?;
/// let mut listen = ListenConfig::with_filter(move |peer: SocketAddr| {
///     if peer.ip() == local.ip() {
///         AcceptDecision::Accept
///     } else {
///         AcceptDecision::Refuse
///     }
/// });
/// listen.backlog = 16;
/// listen.validate()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub struct ListenConfig<P = SocketAddr> {
    /// Connections accepted by the protocol but not yet taken by
    /// [`Endpoint::accept`](crate::Endpoint::accept). A SYN beyond it is
    /// treated as over `max_connections`. Not zero (nothing could be
    /// accepted; taken as 1). Default 128.
    pub backlog: usize,
    /// The "firewall": called once per new SYN with the peer and the
    /// SYN's connection id ([`ListenConfig::with_filter`] builds one from
    /// a function of the peer alone). Not called for a SYN that an
    /// expected connection ([`Endpoint::accept_with_id`](crate::Endpoint::accept_with_id))
    /// takes. Default: accept everything.
    pub filter: AcceptFilter<P>,
    /// Let an accepted connection send its first DATA packet before the
    /// initiator has proved it receives our packets. Off (the default), an
    /// acceptor that writes first holds its data until the initiator's
    /// first packet arrives: our initiators send one at once (the third
    /// packet of the handshake), but a BEP 29 initiator that only reads
    /// (utp-rs in the Portal Network) stays silent, and the connection ends
    /// after [`Config::half_open_timeout`]. On, one packet goes at once (a
    /// reply larger than the SYN it answers, to an address nobody
    /// verified); use it where the peer was authenticated out of band, as
    /// the Portal Network does over discv5. A connection made from a SYN
    /// cookie never sends early.
    pub early_data: bool,
}

impl<P> Default for ListenConfig<P> {
    fn default() -> Self {
        ListenConfig {
            backlog: 128,
            filter: Box::new(|_| AcceptDecision::Accept),
            early_data: false,
        }
    }
}

impl ListenConfig {
    /// The default settings with `filter`, a function of the peer's
    /// address, as the "firewall" (see [`ListenConfig::filter`]).
    pub fn with_filter(
        mut filter: impl FnMut(SocketAddr) -> AcceptDecision + Send + 'static,
    ) -> ListenConfig {
        ListenConfig {
            filter: Box::new(move |syn: &SynInfo<'_, SocketAddr>| filter(*syn.peer)),
            ..ListenConfig::default()
        }
    }
}

impl<P> ListenConfig<P> {
    /// The default settings with `filter`, told the peer and the SYN's
    /// connection id, as the "firewall".
    pub fn with_syn_filter(
        filter: impl FnMut(&SynInfo<'_, P>) -> AcceptDecision + Send + 'static,
    ) -> ListenConfig<P> {
        ListenConfig {
            filter: Box::new(filter),
            ..ListenConfig::default()
        }
    }
}

/// The accept filter's type ([`ListenConfig::filter`]).
pub type AcceptFilter<P = SocketAddr> = Box<dyn FnMut(&SynInfo<'_, P>) -> AcceptDecision + Send>;

/// What the accept filter ([`ListenConfig::filter`]) is told of a SYN.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SynInfo<'a, P> {
    /// Who sent it.
    pub peer: &'a P,
    /// Its connection id: the initiator's receive id (ours will be one
    /// more), the id a peer that agreed on one out of band uses.
    pub connection_id: u16,
}

impl<P> core::fmt::Debug for ListenConfig<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ListenConfig")
            .field("backlog", &self.backlog)
            .field("early_data", &self.early_data)
            .finish_non_exhaustive()
    }
}
