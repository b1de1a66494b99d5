//! A hostile network (issue 11): a SYN flood from spoofed sources at a
//! listener that serves real clients meanwhile, and an off-path attacker
//! forging packets into an established transfer.
//!
//! The attackers are simulator hosts that spoof their source address
//! ([`utp_sim::Transmit::source`]); replies to the spoofed addresses, where
//! no host lives, are counted per address by the simulator
//! ([`Sim::unrouted`]). Run with `-- --nocapture` for the figures.
//!
//! The transfers are driven by [`Transfers`]: every flow moves data both
//! ways, the acceptor writing first, every byte checked. The simulator's
//! hosts are [`Node`]s, endpoints beside attackers.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use utp_core::time::{TimestampDiff, WireTimestamp};
use utp_core::wire::{PacketRepr, PacketType, SelectiveAck};
use utp_core::{
    CloseReason, Config, ConnStats, Endpoint, EndpointStats, ListenConfig, SeqNr, Timestamp,
};
use utp_scenarios::{endpoint, endpoint_ref, EndpointHost, Flow, Rng, Transfers};
use utp_sim::{Host, LinkConfig, Sim, Transmit};

const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------- hosts --

/// Builds one forged datagram into the buffer: `(claimed source, destination, length)`.
type Forge = Box<dyn FnMut(&mut Rng, Timestamp, &mut [u8]) -> (SocketAddr, SocketAddr, usize)>;

/// A host that sends `left` forged datagrams, one every `interval` from
/// `next_at`, each with a spoofed source. It knows the addresses it is
/// told; it sees none of the traffic between other hosts.
struct Attacker {
    rng: Rng,
    forge: Forge,
    next_at: Timestamp,
    interval: Duration,
    left: u64,
    sent: u64,
    /// When the last forged datagram went out.
    last_at: Option<Timestamp>,
}

impl Attacker {
    fn new(seed: u64, start: Timestamp, interval: Duration, count: u64, forge: Forge) -> Self {
        Attacker {
            rng: Rng(seed),
            forge,
            next_at: start,
            interval,
            left: count,
            sent: 0,
            last_at: None,
        }
    }
}

impl Host for Attacker {
    fn handle_datagram(&mut self, _: Timestamp, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Timestamp) {}
    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        if self.left == 0 || now < self.next_at {
            return None;
        }
        let (source, to, len) = (self.forge)(&mut self.rng, now, buf);
        self.left -= 1;
        self.sent += 1;
        self.last_at = Some(now);
        self.next_at += self.interval;
        Some(Transmit {
            source: Some(source),
            ..Transmit::new(to, len)
        })
    }
    fn poll_timeout(&mut self) -> Option<Timestamp> {
        (self.left > 0).then_some(self.next_at)
    }
}

/// The hosts of these simulations: uTP endpoints and attackers.
enum Node {
    Ep(Box<Endpoint>),
    Attacker(Box<Attacker>),
}

impl Host for Node {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        match self {
            Node::Ep(e) => Host::handle_datagram(&mut **e, now, from, data),
            Node::Attacker(a) => a.handle_datagram(now, from, data),
        }
    }
    fn handle_timeout(&mut self, now: Timestamp) {
        match self {
            Node::Ep(e) => Host::handle_timeout(&mut **e, now),
            Node::Attacker(a) => a.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        match self {
            Node::Ep(e) => Host::poll_transmit(&mut **e, now, buf),
            Node::Attacker(a) => a.poll_transmit(now, buf),
        }
    }
    fn poll_timeout(&mut self) -> Option<Timestamp> {
        match self {
            Node::Ep(e) => Host::poll_timeout(&mut **e),
            Node::Attacker(a) => a.poll_timeout(),
        }
    }
}

impl EndpointHost for Node {
    fn from_endpoint(endpoint: Endpoint) -> Self {
        Node::Ep(Box::new(endpoint))
    }
    fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            Node::Ep(e) => Some(e),
            Node::Attacker(_) => None,
        }
    }
    fn endpoint_mut(&mut self) -> Option<&mut Endpoint> {
        match self {
            Node::Ep(e) => Some(e),
            Node::Attacker(_) => None,
        }
    }
}

fn attacker(sim: &Sim<Node>, addr: SocketAddr) -> &Attacker {
    match sim.host(addr) {
        Node::Attacker(a) => a,
        Node::Ep(_) => panic!("{addr} is an endpoint"),
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
}

/// Emits a packet with a zero timestamp difference and no close reason.
#[allow(clippy::too_many_arguments)]
fn emit(
    buf: &mut [u8],
    packet_type: PacketType,
    connection_id: u16,
    now: Timestamp,
    window_size: u32,
    seq_nr: u16,
    ack_nr: u16,
    sack: Option<&[u8]>,
    payload: &[u8],
) -> usize {
    PacketRepr {
        packet_type,
        connection_id,
        timestamp: WireTimestamp(now.to_wire().0),
        timestamp_difference: TimestampDiff::NONE,
        window_size,
        seq_nr: SeqNr::new(seq_nr),
        ack_nr: SeqNr::new(ack_nr),
        selective_ack: sack.and_then(SelectiveAck::new),
        close_reason: None,
        payload,
    }
    .emit(buf)
    .unwrap()
}

// ------------------------------------------------------------- transfers --

/// What the acceptor sends a peer that is no flow's client (a spoofed SYN
/// that `accept` handed out): a greeting, as an application that writes
/// first would ([`Transfers::greet_strangers`]). None of it may reach an
/// address that never proved it is there; the reply count of the flood
/// test would show it.
const GREETING: usize = 1024;

/// A count from the environment variable `name`, or `default`.
fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

// ----------------------------------------------------------------- flood --

/// 100,000 SYNs from random spoofed sources (random connection ids and
/// sequence numbers), 10,000 a second for 10 s (the endpoint's default
/// reply budget), at one listener, while 100 real clients (RTTs of 20 to
/// 100 ms) connect during the flood, one every 50 ms from t = 1 s, and
/// move 1 MiB each way, the acceptor writing first.
#[test]
fn syn_flood_from_spoofed_sources_while_100_clients_transfer() {
    let wall = Instant::now();
    // `UTP_SYNS` sets another count (0: the transfers alone).
    let syns = env_count("UTP_SYNS", 100_000);
    const CLIENTS: u8 = 100;
    let mut sim: Sim<Node> = Sim::new(11);
    // 20 Mbit/s per path, a 100-packet queue; the flooder's path has
    // 40 ms RTT.
    sim.set_default_link(LinkConfig {
        bandwidth: Some(20_000_000),
        queue_capacity: Some(100),
        ..LinkConfig::with_latency(Duration::from_millis(20))
    })
    .unwrap();

    let server = v4(10, 0, 0, 1, 6881);
    let config = Config::default();
    let max_half_open = config.max_half_open;
    let memory_budget = config.memory_budget;
    let mut listener = Endpoint::new(config.clone(), 1);
    listener.listen(ListenConfig::default());
    sim.add_host(server, Node::Ep(Box::new(listener)));

    let mut flows = Vec::new();
    let mut starts = Vec::new();
    for i in 0..CLIENTS {
        let client = v4(10, 1, 0, i + 1, 5000);
        // RTTs from 20 to 100 ms.
        sim.set_link_both(
            client,
            server,
            LinkConfig {
                latency: Duration::from_millis(10 + 10 * u64::from(i % 5)),
                ..*sim.default_link()
            },
        )
        .unwrap();
        sim.add_host(
            client,
            Node::Ep(Box::new(Endpoint::new(config.clone(), 100 + u64::from(i)))),
        );
        flows.push(Flow {
            client,
            server,
            len: MIB,
            reply_len: MIB,
            acceptor_first: true,
            seed: u64::from(i),
        });
        starts.push(Timestamp::from_millis(1000 + 50 * u64::from(i)));
    }

    // Spoofed sources in 10.128.0.0/9, where no host lives.
    let flooder = v4(10, 66, 0, 1, 1);
    let forge: Forge = Box::new(move |rng, now, buf| {
        let x = rng.next_u64();
        let source = v4(
            10,
            128 | (x >> 16) as u8 & 0x7f,
            (x >> 24) as u8,
            (x >> 32) as u8,
            (x >> 40) as u16 | 1,
        );
        let len = emit(
            buf,
            PacketType::Syn,
            rng.u16(),
            now,
            1 << 20,
            rng.u16(),
            0,
            None,
            &[],
        );
        (source, server, len)
    });
    let interval = Duration::from_micros(10_000_000 / syns.max(1));
    sim.add_host(
        flooder,
        Node::Attacker(Box::new(Attacker::new(
            7,
            Timestamp::ZERO,
            interval,
            syns,
            forge,
        ))),
    );

    let mut t = Transfers::start_at(&mut sim, flows, starts, &config, &config);
    t.greet_strangers(GREETING);
    let mut half_open_max = 0;
    let mut conns_max = 0;
    let mut buffered_max = 0usize;
    let mut heap_max = 0usize;
    let mut next_sample = Timestamp::ZERO;
    let limit = Timestamp::from_secs(120);
    let end = t.run_watching(&mut sim, limit, |sim, _| {
        let listener = endpoint_ref(sim, server);
        half_open_max = half_open_max.max(listener.stats().half_open);
        conns_max = conns_max.max(listener.connection_count());
        buffered_max = buffered_max.max(listener.buffered_bytes());
        // A walk over every connection: every 50 ms.
        if sim.now() >= next_sample {
            next_sample = sim.now() + Duration::from_millis(50);
            heap_max = heap_max.max(listener.buffer_heap_bytes());
        }
        attacker(sim, flooder).left == 0
    });
    let stats: EndpointStats = endpoint_ref(&sim, server).stats();
    let replies = sim.stats().unrouted;
    let syns_sent = sim.stats().spoofed;
    let mut times: Vec<Duration> = t.results.iter().filter_map(|r| r.duration()).collect();
    times.sort();
    let clean = t
        .flows
        .iter()
        .zip(&t.results)
        .filter(|(f, r)| r.is_clean(f))
        .count();
    println!(
        "flood: {} spoofed SYNs ({} B) over {:?}; replies to spoofed sources {} ({} B) to {} addresses",
        syns_sent.datagrams,
        syns_sent.bytes,
        attacker(&sim, flooder).last_at,
        replies.datagrams,
        replies.bytes,
        sim.unrouted_all().len()
    );
    println!(
        "flood: cookies_sent {} cookies_accepted {} cookies_invalid {} half_open max {} (limit {}) \
         half_open_expired {} replies_suppressed {} resets_sent {} accepted {} strangers accepted {}",
        stats.cookies_sent,
        stats.cookies_accepted,
        stats.cookies_invalid,
        half_open_max,
        max_half_open,
        stats.half_open_expired,
        stats.replies_suppressed,
        stats.resets_sent,
        stats.accepted,
        t.strangers_accepted()
    );
    println!(
        "flood: {clean}/{} flows clean; completion p50 {:?} p99 {:?} max {:?}; server connections max {conns_max}, \
         buffered max {} KiB (heap {} KiB); simulated {:?}, wall {:.1?} (syns_ignored {}, syns_refused {})",
        t.flows.len(),
        times.first().map(|_| percentile(&times, 0.5)),
        times.first().map(|_| percentile(&times, 0.99)),
        times.last(),
        buffered_max / 1024,
        heap_max / 1024,
        end,
        wall.elapsed(),
        stats.syns_ignored,
        stats.syns_refused
    );

    assert!(end.is_ok(), "{end:?}: {}", t.failures());
    assert_eq!(clean, t.flows.len(), "{}", t.failures());
    assert_eq!(syns_sent.datagrams, syns);
    assert!(
        half_open_max <= max_half_open as u64,
        "half-open {half_open_max}"
    );
    // Nobody at a spoofed address gets more, or more bytes, than was sent
    // in its name; so in total neither.
    for (addr, got) in sim.unrouted_all() {
        assert!(
            got.within(&sim.spoofed(addr)),
            "{addr}: {got:?} for {:?}",
            sim.spoofed(addr)
        );
    }
    assert!(replies.within(&syns_sent), "{replies:?} for {syns_sent:?}");
    // Memory, from the listener's own figure (`buffered_bytes`, sampled
    // after every round of events). The connections it keeps are bounded
    // by the half-open cap plus the real clients; what they buffer never
    // exceeds the memory budget, nor the clients' buffers plus a greeting
    // per half-open connection.
    assert!(
        conns_max <= max_half_open + usize::from(CLIENTS),
        "{conns_max} connections"
    );
    assert!(
        buffered_max <= memory_budget,
        "{buffered_max} bytes buffered, budget {memory_budget}"
    );
    let buffer_bound =
        usize::from(CLIENTS) * (config.send_buffer + config.recv_buffer) + max_half_open * GREETING;
    assert!(
        buffered_max <= buffer_bound,
        "{buffered_max} bytes buffered, bound {buffer_bound}"
    );
}

// -------------------------------------------------------------- off-path --

/// What one off-path run showed: counters of both sides and the flow.
#[derive(Debug)]
struct Outcome {
    server_ep: EndpointStats,
    client_ep: EndpointStats,
    server_conn: ConnStats,
    client_conn: ConnStats,
    delivered: u64,
    flow_clean: bool,
    /// Both sides as the driver saw them.
    ends: String,
    /// How the client and the server side ended.
    closed: (Option<CloseReason>, Option<CloseReason>),
    /// When.
    closed_at: (Option<Timestamp>, Option<Timestamp>),
    duration: Option<Duration>,
    /// Largest span of the server's packets in flight seen while attacked.
    span_max: usize,
    /// Forged packets sent, and when the last one went.
    forged: u64,
    attack_end: Option<Timestamp>,
}

/// 4 MiB each way between a client and a server over 10 Mbit/s; with
/// `forged > 0`, an attacker that knows both addresses sends that many
/// forged RESET/FIN/DATA/STATE packets at the server in the client's name,
/// from t = 0.5 s at 500,000 a second.
fn off_path_run(forged: u64) -> Outcome {
    let mut sim: Sim<Node> = Sim::new(5);
    let link = LinkConfig {
        bandwidth: Some(10_000_000),
        queue_capacity: Some(100),
        ..LinkConfig::with_latency(Duration::from_millis(20))
    };
    let (client, server, evil) = (
        v4(10, 0, 0, 1, 5000),
        v4(10, 0, 0, 2, 6881),
        v4(10, 66, 0, 1, 1),
    );
    sim.set_link_both(client, server, link).unwrap();
    // The attacker's own path: fast and clean.
    sim.set_link(
        evil,
        server,
        LinkConfig::with_latency(Duration::from_millis(5)),
    )
    .unwrap();
    let mut s = Endpoint::new(Config::default(), 2);
    s.listen(ListenConfig::default());
    sim.add_host(server, Node::Ep(Box::new(s)));
    sim.add_host(
        client,
        Node::Ep(Box::new(Endpoint::new(Config::default(), 1))),
    );
    let forge: Forge = Box::new(move |rng, now, buf| {
        let mut payload = [0u8; 64];
        let mut mask = [0u8; 4];
        for b in payload.iter_mut().chain(mask.iter_mut()) {
            *b = rng.next_u64() as u8;
        }
        let (ty, ack) = match rng.below(4) {
            // Half the RESETs carry ack_nr 0, which utp-rs sends and the
            // old rules took from anyone.
            0 => (
                PacketType::Reset,
                if rng.below(2) == 0 { 0 } else { rng.u16() },
            ),
            1 => (PacketType::Fin, rng.u16()),
            2 => (PacketType::Data, rng.u16()),
            _ => (PacketType::State, rng.u16()),
        };
        let window = if rng.below(4) == 0 {
            0
        } else {
            rng.next_u64() as u32
        };
        let sack = (rng.below(2) == 0).then_some(&mask[..]);
        let body = if ty == PacketType::Data {
            &payload[..16 + rng.below(48) as usize]
        } else {
            &[][..]
        };
        let len = emit(buf, ty, rng.u16(), now, window, rng.u16(), ack, sack, body);
        (client, server, len)
    });
    sim.add_host(
        evil,
        Node::Attacker(Box::new(Attacker::new(
            99,
            Timestamp::from_millis(500),
            Duration::from_micros(2),
            forged,
            forge,
        ))),
    );
    let flows = vec![Flow {
        client,
        server,
        len: 4 * MIB,
        reply_len: 4 * MIB,
        acceptor_first: true,
        seed: 0,
    }];
    let config = Config::default();
    let mut t = Transfers::start(&mut sim, flows, &config, &config);
    let mut span_max = 0;
    let end = t.run_watching(&mut sim, Timestamp::from_secs(120), |sim, t| {
        if attacker(sim, evil).left > 0 {
            if let Some(h) = t.results[0].server_handle {
                if let Some(c) = endpoint(sim, server).conn(h) {
                    let st = c.stats();
                    span_max = span_max.max(st.in_flight.div_ceil(st.packet_size.max(1)));
                }
            }
        }
        true
    });
    assert!(end.is_ok(), "{end:?}: {}", t.failures());
    let (f, r) = (&t.flows[0], &t.results[0]);
    let a = attacker(&sim, evil);
    Outcome {
        server_ep: endpoint_ref(&sim, server).stats(),
        client_ep: endpoint_ref(&sim, client).stats(),
        server_conn: r.server_stats.unwrap_or_default(),
        client_conn: r.client_stats.unwrap_or_default(),
        delivered: sim.link_stats(evil, server).delivered,
        flow_clean: r.is_clean(f),
        ends: format!("{r:?}"),
        closed: (r.client_closed, r.server_closed),
        closed_at: (r.client_closed_at, r.server_closed_at),
        duration: r.duration(),
        span_max,
        forged: a.sent,
        attack_end: a.last_at,
    }
}

/// An off-path attacker who knows both addresses of a transfer (4 MiB each
/// way) forges 10^6 packets at the server in the client's name, with random
/// connection ids, sequence and ack numbers, windows and SACKs. The
/// transfer must complete intact both ways. `UTP_FORGED` sets another
/// count (for a quick run).
#[test]
fn off_path_forgeries_do_not_break_a_transfer() {
    let wall = Instant::now();
    let forged = env_count("UTP_FORGED", 1_000_000);
    let control = off_path_run(0);
    let control_wall = wall.elapsed();
    let attacked = off_path_run(forged);
    let (c, a) = (&control, &attacked);

    // Every forged packet the server got either named no connection of
    // its own, did not parse, was dropped by the connection as invalid,
    // or was taken by it: the rest is what had an effect.
    let unknown = a.server_ep.unknown_connection - c.server_ep.unknown_connection;
    let malformed = a.server_ep.malformed - c.server_ep.malformed;
    let invalid = a
        .server_conn
        .dropped_invalid
        .saturating_sub(c.server_conn.dropped_invalid);
    let taken = a.delivered.saturating_sub(unknown + malformed + invalid);
    // Its RESETs for unknown ids go to the real client (the spoofed
    // source), on the path the transfer uses: bounded per source IP, and
    // what they cost shows in the transfer time against the control.
    let reflected = a.server_ep.resets_sent - c.server_ep.resets_sent;
    let client_unknown = a.client_ep.unknown_connection - c.client_ep.unknown_connection;
    let client_invalid = a
        .client_conn
        .dropped_invalid
        .saturating_sub(c.client_conn.dropped_invalid);
    println!(
        "off-path: {forged} forged, {} delivered to the server: {unknown} unknown id, {malformed} malformed, \
         {invalid} dropped invalid by the connection, {taken} taken (effect); server RESETs to the client {reflected} \
         ({} suppressed), at the client: {client_unknown} unknown id, {client_invalid} dropped invalid; \
         closed (client, server) {:?}",
        a.delivered,
        a.server_ep.replies_suppressed - c.server_ep.replies_suppressed,
        a.closed,
    );
    println!(
        "off-path: transfer {:?} attacked (closed at {:?}, attack {} packets until {:?}) vs {:?} control; \
         packets received server {} vs {}, client {} vs {}; wall {:.1?} ({control_wall:.1?} control)",
        a.duration,
        a.closed_at,
        a.forged,
        a.attack_end,
        c.duration,
        a.server_conn.packets_received,
        c.server_conn.packets_received,
        a.client_conn.packets_received,
        c.client_conn.packets_received,
        wall.elapsed()
    );
    // What it takes to reset the connection blind. A forged RESET reaches
    // the connection when its id is the connection's receive or send id:
    // 2 in 65,536.
    //  - Old rules: ack_nr 0 was believed from anyone, so 65,536 / 2 =
    //    32,768 RESETs on average.
    //  - New rules: ack_nr must also fall in [oldest unacked - 64, next
    //    seq], a window of (span in flight + 64) of 65,536, and ack_nr 0
    //    only draws a challenge the real peer answers.
    let span = a.span_max as f64;
    let new_rules = 65_536.0 / 2.0 * 65_536.0 / (span + 64.0);
    let ack0_resets = forged as f64 / 8.0;
    println!(
        "off-path: forged RESETs needed on average: old rules 32768, new rules {new_rules:.0} \
         (span in flight up to {} packets); this run sent about {} RESETs, {ack0_resets:.0} with ack_nr 0: \
         {:.1} resets expected under the old rules",
        a.span_max,
        forged / 4,
        ack0_resets * 2.0 / 65_536.0
    );

    assert!(
        control.flow_clean,
        "control run failed: {}\n{control:#?}",
        control.ends
    );
    assert!(
        attacked.flow_clean,
        "the forgeries broke the transfer: {}\n{attacked:#?}",
        attacked.ends
    );
    assert_eq!(
        attacked.forged, forged,
        "the transfer ended before the attack"
    );
    // At most `replies_per_source` a second to the real client, in every
    // one-second window the attack touched.
    let attack = a.attack_end.unwrap() - Timestamp::from_millis(500);
    let windows = attack.as_secs() + 2;
    let per_source = u64::from(Config::default().replies_per_source);
    assert!(
        reflected <= per_source * windows,
        "{reflected} RESETs to the client in {attack:?}"
    );
}
