//! A two-endpoint harness with explicit virtual time, for scripted tests.
//!
//! Datagrams travel with a fixed one-way latency; a filter decides per
//! datagram whether it is delivered (tests drop or duplicate specific
//! packets with it). Every datagram is recorded, parsed, for assertions.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use utp_core::wire::{PacketRepr, PacketType};
use utp_core::{Config, ConnHandle, Endpoint, Event, ListenConfig, Peer, Timestamp};

pub const A: &str = "10.0.0.1:1000";
pub const B: &str = "10.0.0.2:2000";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A datagram on the wire, as recorded.
#[derive(Clone, Debug)]
pub struct Wire<P = SocketAddr> {
    pub sent_at: Timestamp,
    pub from: P,
    pub to: P,
    pub bytes: Vec<u8>,
}

impl<P> Wire<P> {
    pub fn packet(&self) -> PacketRepr<'_> {
        PacketRepr::parse(&self.bytes).unwrap()
    }
    pub fn ty(&self) -> PacketType {
        self.packet().packet_type
    }
}

/// What to do with a datagram.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Deliver these bytes instead.
    Rewrite(Vec<u8>),
}

/// Decides each datagram's fate.
pub type WireFilter<P> = Box<dyn FnMut(&Wire<P>) -> Fate>;

/// Two endpoints, A (which connects) and B (which listens), whose peers
/// are `P`s: `SocketAddr`s [`A`] and [`B`] unless made with
/// [`Pair::with_peers`].
pub struct Pair<P: Peer = SocketAddr> {
    pub a: Endpoint<P>,
    pub b: Endpoint<P>,
    /// What each is to the other.
    pub peer_a: P,
    pub peer_b: P,
    pub now: Timestamp,
    pub latency: Duration,
    pub log: Vec<Wire<P>>,
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
    in_transit: VecDeque<(Timestamp, Wire<P>)>,
    pub filter: WireFilter<P>,
    buf: Vec<u8>,
}

impl Pair {
    pub fn new(config_a: Config, config_b: Config) -> Self {
        Pair::with_peers(config_a, config_b, addr(A), addr(B))
    }

    pub fn default_pair() -> Self {
        Pair::new(Config::default(), Config::default())
    }

    pub fn wire_from(&self, from: &str) -> Vec<&Wire> {
        self.log.iter().filter(|w| w.from == addr(from)).collect()
    }
}

impl<P: Peer> Pair<P> {
    /// Endpoint A (`false`) or B (`true`).
    pub fn side(&mut self, b: bool) -> &mut Endpoint<P> {
        if b {
            &mut self.b
        } else {
            &mut self.a
        }
    }

    pub fn with_peers(config_a: Config, config_b: Config, peer_a: P, peer_b: P) -> Self {
        let mut b = Endpoint::with_peer_type(config_b, 2);
        b.listen(ListenConfig::default());
        Pair {
            a: Endpoint::with_peer_type(config_a, 1),
            b,
            peer_a,
            peer_b,
            now: Timestamp::from_secs(1),
            latency: Duration::from_millis(25),
            log: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
            in_transit: VecDeque::new(),
            filter: Box::new(|_| Fate::Deliver),
            buf: vec![0; 65536],
        }
    }

    /// Drains output of both endpoints into the network and their events
    /// into the logs.
    pub fn flush(&mut self) {
        loop {
            let mut any = false;
            for side in [0, 1] {
                let (ep, from, to) = if side == 0 {
                    (&mut self.a, &self.peer_a, &self.peer_b)
                } else {
                    (&mut self.b, &self.peer_b, &self.peer_a)
                };
                while let Some(t) = ep.poll_transmit(self.now, &mut self.buf) {
                    assert_eq!(&t.destination, to);
                    let wire = Wire {
                        sent_at: self.now,
                        from: from.clone(),
                        to: to.clone(),
                        bytes: self.buf[..t.len].to_vec(),
                    };
                    self.log.push(wire.clone());
                    match (self.filter)(&wire) {
                        Fate::Deliver => self.in_transit.push_back((self.now + self.latency, wire)),
                        Fate::Rewrite(bytes) => self
                            .in_transit
                            .push_back((self.now + self.latency, Wire { bytes, ..wire })),
                        Fate::Drop => {}
                        Fate::Duplicate => {
                            self.in_transit
                                .push_back((self.now + self.latency, wire.clone()));
                            self.in_transit.push_back((self.now + self.latency, wire));
                        }
                    }
                    any = true;
                }
                while let Some(e) = ep.poll_event() {
                    if side == 0 {
                        self.events_a.push(e)
                    } else {
                        self.events_b.push(e)
                    }
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
    }

    /// The next time something happens.
    pub fn next_time(&self) -> Option<Timestamp> {
        let net = self.in_transit.front().map(|(t, _)| *t);
        [net, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advances to `t`, delivering datagrams and firing timers on the way.
    pub fn run_until(&mut self, t: Timestamp) {
        self.flush();
        while let Some(next) = self.next_time() {
            if next > t {
                break;
            }
            self.step_to(next);
        }
        self.now = self.now.max(t);
        self.flush();
    }

    /// Advances by one event.
    pub fn step_to(&mut self, next: Timestamp) {
        self.now = self.now.max(next);
        while let Some((at, _)) = self.in_transit.front() {
            if *at > self.now {
                break;
            }
            let (_, w) = self.in_transit.pop_front().unwrap();
            let ep = if w.to == self.peer_a {
                &mut self.a
            } else {
                &mut self.b
            };
            ep.handle_datagram(self.now, w.from, &w.bytes);
        }
        if self.a.poll_timeout().is_some_and(|d| d <= self.now) {
            self.a.handle_timeout(self.now);
        }
        if self.b.poll_timeout().is_some_and(|d| d <= self.now) {
            self.b.handle_timeout(self.now);
        }
        self.flush();
    }

    /// Runs until `done` says so, with a bound on virtual time.
    pub fn run_while(&mut self, limit: Duration, mut keep_going: impl FnMut(&mut Pair<P>) -> bool) {
        let deadline = self.now + limit;
        self.flush();
        while keep_going(self) {
            let next = self
                .next_time()
                .expect("nothing left to happen but the test is not done");
            assert!(next <= deadline, "virtual time limit reached");
            self.step_to(next);
        }
    }

    /// Connects A to B and accepts on B (once A's third handshake packet
    /// reached B and B's connection joined its backlog).
    pub fn connect(&mut self) -> (ConnHandle, ConnHandle) {
        let ha = self.a.connect(self.now, self.peer_b.clone()).unwrap();
        let incoming = self
            .events_b
            .iter()
            .filter(|e| **e == Event::Incoming)
            .count();
        self.run_while(Duration::from_secs(30), |p| {
            !p.events_a.contains(&Event::Connected(ha))
                || p.events_b.iter().filter(|e| **e == Event::Incoming).count() == incoming
        });
        let hb = self.b.accept().expect("B accepted");
        (ha, hb)
    }
}

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Deterministic payload.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Moves `data` from `from` to `to` (A→B when `a_to_b`), reading
/// everything; returns the bytes received once the writer's FIN arrived.
pub fn transfer<P: Peer>(
    pair: &mut Pair<P>,
    ha: ConnHandle,
    hb: ConnHandle,
    data: &[u8],
    limit: Duration,
) -> Vec<u8> {
    let mut written = 0;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut shut = false;
    pair.run_while(limit, |p| {
        if written < data.len() {
            if let Ok(n) = p.a.conn(ha).unwrap().write(&data[written..]) {
                written += n;
            }
        } else if !shut {
            p.a.conn(ha).unwrap().shutdown();
            shut = true;
        }
        loop {
            match p.b.conn(hb).map(|mut c| c.read(&mut buf)) {
                Some(Ok(0)) => return false,
                Some(Ok(n)) => received.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        p.flush();
        true
    });
    received
}

/// What [`two_way`] moved.
#[derive(Debug, Default)]
pub struct TwoWay {
    /// A's connection (`None`: `connect` refused).
    pub ha: Option<ConnHandle>,
    /// B's connection, once accepted.
    pub hb: Option<ConnHandle>,
    /// Bytes A read, and whether it read the end of the stream.
    pub to_a: Vec<u8>,
    pub a_eof: bool,
    /// Bytes B read, and whether it read the end of the stream.
    pub to_b: Vec<u8>,
    pub b_eof: bool,
}

/// Connects A to B and moves `data_a` A→B and `data_b` B→A, each side
/// shutting down after its data and reading everything. B writes as soon
/// as it has accepted; A at once when `a_first`, otherwise only once it
/// has read something from B (the acceptor writes first). Runs until both
/// sides read the end of the stream, nothing is left to happen, `limit`
/// of virtual time passed or `max_steps` steps were taken; `each_step`
/// sees the pair after every step. Asserts nothing: the caller checks
/// what it needs.
pub fn two_way<P: Peer>(
    p: &mut Pair<P>,
    data_a: &[u8],
    data_b: &[u8],
    a_first: bool,
    limit: Duration,
    max_steps: usize,
    each_step: impl FnMut(&mut Pair<P>, &TwoWay),
) -> TwoWay {
    let ha = p.a.connect(p.now, p.peer_b.clone()).ok();
    two_way_with(
        p,
        (ha, None),
        data_a,
        data_b,
        a_first,
        limit,
        max_steps,
        each_step,
    )
}

/// [`two_way`] in one direction: `data` from A to B, or from B, the
/// acceptor, writing first to A when `acceptor_writes`; asserts that the
/// reader got exactly `data`.
pub fn one_way<P: Peer>(
    p: &mut Pair<P>,
    data: &[u8],
    acceptor_writes: bool,
    limit: Duration,
    max_steps: usize,
) -> TwoWay {
    let (data_a, data_b): (&[u8], &[u8]) = if acceptor_writes {
        (&[], data)
    } else {
        (data, &[])
    };
    let r = two_way(
        p,
        data_a,
        data_b,
        !acceptor_writes,
        limit,
        max_steps,
        |_, _| {},
    );
    let got = if acceptor_writes { &r.to_a } else { &r.to_b };
    assert!(got == data, "bytes intact: {} of {}", got.len(), data.len());
    r
}

/// [`two_way`] on connections already opened: A's `ha` (`None`: refused)
/// and B's `hb` (`None`: B takes it from `accept`).
#[allow(clippy::too_many_arguments)]
pub fn two_way_with<P: Peer>(
    p: &mut Pair<P>,
    (ha, hb): (Option<ConnHandle>, Option<ConnHandle>),
    data_a: &[u8],
    data_b: &[u8],
    a_first: bool,
    limit: Duration,
    max_steps: usize,
    mut each_step: impl FnMut(&mut Pair<P>, &TwoWay),
) -> TwoWay {
    let mut r = TwoWay {
        ha,
        hb,
        ..TwoWay::default()
    };
    let Some(ha) = r.ha else { return r };
    let (mut sent_a, mut sent_b) = (0, 0);
    let mut buf = vec![0u8; 65536];
    let deadline = p.now + limit;
    for _ in 0..max_steps {
        if r.hb.is_none() {
            r.hb = p.b.accept();
        }
        let a_may_write = a_first || !r.to_a.is_empty();
        for (ep, h, data, may_write, sent, got, eof) in [
            (
                &mut p.a,
                Some(ha),
                data_a,
                a_may_write,
                &mut sent_a,
                &mut r.to_a,
                &mut r.a_eof,
            ),
            (
                &mut p.b,
                r.hb,
                data_b,
                true,
                &mut sent_b,
                &mut r.to_b,
                &mut r.b_eof,
            ),
        ] {
            let Some(mut c) = h.and_then(|h| ep.conn(h)) else {
                continue;
            };
            if may_write && *sent < data.len() {
                if let Ok(n) = c.write(&data[*sent..]) {
                    *sent += n;
                }
            }
            if may_write && *sent == data.len() {
                c.shutdown();
            }
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    *eof = true;
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        p.flush();
        each_step(p, &r);
        if r.a_eof && r.b_eof {
            break;
        }
        let Some(next) = p.next_time() else { break };
        if next > deadline {
            break;
        }
        p.step_to(next);
    }
    r
}

/// `a_len` bytes A → B and `b_len` B → A on the connections `ha` and
/// `hb`, B writing first: both read to the end, bytes intact.
pub fn both_ways<P: Peer>(
    p: &mut Pair<P>,
    ha: ConnHandle,
    hb: ConnHandle,
    a_len: usize,
    b_len: usize,
) {
    let (data_a, data_b) = (pattern(a_len, 1), pattern(b_len, 2));
    let r = two_way_with(
        p,
        (Some(ha), Some(hb)),
        &data_a,
        &data_b,
        false,
        Duration::from_secs(60),
        1_000_000,
        |_, _| {},
    );
    assert!(r.a_eof && r.b_eof, "both read to the end");
    assert!(
        r.to_b == data_a && r.to_a == data_b,
        "bytes intact both ways"
    );
}

/// Drains a transfer the writer's memory budget holds back: each step,
/// counts the [`Event::Writable`] for `hw` the writer got, lets
/// `write_more` write again on the writer's endpoint, checks the writer
/// buffers at most `budget`, and reads all the reader has on `hr`; until
/// `keep_going` (given what was read) says stop. Returns what was read and
/// how many `Writable` came.
pub fn drain_within_budget<P: Peer>(
    p: &mut Pair<P>,
    writer_is_b: bool,
    (hw, hr): (ConnHandle, ConnHandle),
    budget: usize,
    mut write_more: impl FnMut(&mut Endpoint<P>),
    mut keep_going: impl FnMut(&mut Pair<P>, &[u8]) -> bool,
) -> (Vec<u8>, usize) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut writable = 0;
    p.run_while(Duration::from_secs(60), |p| {
        let events = if writer_is_b {
            &mut p.events_b
        } else {
            &mut p.events_a
        };
        writable += events
            .drain(..)
            .filter(|e| *e == Event::Writable(hw))
            .count();
        write_more(p.side(writer_is_b));
        assert!(p.side(writer_is_b).buffered_bytes() <= budget);
        while let Ok(n) = p.side(!writer_is_b).conn(hr).unwrap().read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        p.flush();
        keep_going(p, &got)
    });
    (got, writable)
}
