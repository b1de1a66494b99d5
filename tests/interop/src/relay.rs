//! A UDP relay that sits between a uTP client and a server, with seeded
//! faults (loss, reordering, duplication) and a record of what passed.
//!
//! The client sends to [`Relay::local_addr`] instead of the server. For each
//! client address the relay opens its own socket towards the server (one
//! mapping per client address), so the server sees one peer per client, as
//! behind a NAT. Every datagram is forwarded, dropped, duplicated or held back
//! and sent after the next one of its direction (reordered), as the
//! [`RelayConfig`]'s probabilities and seed decide, one decision per datagram.
//! A [`RelayConfig::script`] overrides those decisions for chosen datagrams,
//! counted per direction of each mapping: drop the acceptor's first two
//! datagrams, or send the client's SYN again once data flows.

use std::collections::hash_map::{Entry, HashMap};
use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// What the relay does to datagrams.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Seed of the fault decisions.
    pub seed: u64,
    /// Probability that a datagram is dropped.
    pub drop: f64,
    /// Probability that a datagram is held back and sent after the next one
    /// of its direction (or after `reorder_delay` if none comes).
    pub reorder: f64,
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Longest time a held-back datagram waits for the next one.
    pub reorder_delay: Duration,
    /// The first this many datagrams of each direction of each mapping pass
    /// untouched. libutp ignores a retransmitted SYN (see INTEROP.md), so a
    /// lost SYN or SYN-ACK would kill the connection through a fault of the
    /// peer rather than of the stack under test; sparing the handshake keeps
    /// the lossy tests about data transfer.
    pub spare_first: u64,
    /// FINs pass untouched, and the DATA packets of that direction dropped
    /// and not sent again since go just before its FIN: a peer whose
    /// process exits right after its FIN (libtorrent's script, once the
    /// torrent is complete) cannot send either again, and our side would
    /// wait for its idle timeout (180 s) for the FIN, or for the hole
    /// before it. Both hung the lossy libtorrent tests: the FIN in CI, and
    /// libtorrent's last message (9 bytes, dropped) in about one run of
    /// eight once our packet counts moved the seeded drops onto it.
    pub spare_fins: bool,
    /// Keep a copy of at most this many datagrams (both directions, in
    /// arrival order) for [`Relay::records`].
    pub record_limit: usize,
    /// Faults at chosen datagrams, in place of the random decision (which is
    /// still drawn, so the others keep theirs) and of `spare_first`.
    pub script: Vec<Scripted>,
}

/// A fault for one datagram, chosen by its place in its direction of its
/// mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scripted {
    /// The direction counted.
    pub direction: Direction,
    /// The datagram's number in that direction of its mapping, from 1.
    pub nth: u64,
    /// What happens to it.
    pub action: Action,
}

/// What a [`Scripted`] fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Drop it.
    Drop,
    /// Send it twice.
    Duplicate,
    /// Send it, then a copy of the datagram numbered `earlier` (smaller than
    /// `nth`) of the same direction: a late duplicate of it.
    ThenRepeat {
        /// The number of the datagram sent again.
        earlier: u64,
    },
}

impl RelayConfig {
    /// Forward everything unchanged, record nothing.
    pub fn transparent() -> Self {
        RelayConfig {
            seed: 0,
            drop: 0.0,
            reorder: 0.0,
            duplicate: 0.0,
            reorder_delay: Duration::from_millis(5),
            spare_first: 0,
            spare_fins: false,
            record_limit: 0,
            script: Vec::new(),
        }
    }

    /// The lossy link of the interop tests: 1% of datagrams dropped, 1% held
    /// back behind the next one, 0.5% duplicated, in both directions; the
    /// first two datagrams of each direction spared (the handshake).
    pub fn lossy(seed: u64) -> Self {
        RelayConfig {
            seed,
            drop: 0.01,
            reorder: 0.01,
            duplicate: 0.005,
            reorder_delay: Duration::from_millis(5),
            spare_first: 2,
            spare_fins: true,
            record_limit: 0,
            script: Vec::new(),
        }
    }

    /// The same configuration, keeping the first `limit` datagrams.
    pub fn recording(mut self, limit: usize) -> Self {
        self.record_limit = limit;
        self
    }

    /// The same configuration, also dropping the datagrams numbered
    /// `numbers` (from 1) of `direction`, in each mapping.
    pub fn dropping(mut self, direction: Direction, numbers: RangeInclusive<u64>) -> Self {
        self.script.extend(numbers.map(|nth| Scripted {
            direction,
            nth,
            action: Action::Drop,
        }));
        self
    }

    /// The same configuration, also sending datagram `earlier` of
    /// `direction` again right after datagram `at`, in each mapping.
    pub fn repeating(mut self, direction: Direction, earlier: u64, at: u64) -> Self {
        self.script.push(Scripted {
            direction,
            nth: at,
            action: Action::ThenRepeat { earlier },
        });
        self
    }
}

/// Which way a datagram travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server.
    ToServer,
    /// From the server back to the client.
    ToClient,
}

/// What the relay did with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Sent on once.
    Forwarded,
    /// Not sent.
    Dropped,
    /// Sent twice.
    Duplicated,
    /// Held back, sent after the next datagram of its direction.
    Reordered,
    /// Sent once, followed by an earlier datagram of its direction again
    /// ([`Action::ThenRepeat`]).
    Repeated,
}

/// One datagram as the relay received it.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// Time since the relay started.
    pub at: Duration,
    /// The client's address (the mapping it belongs to).
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
    /// Which way it went.
    pub direction: Direction,
    /// The UDP payload, unchanged.
    pub bytes: Vec<u8>,
    /// What the relay did with it.
    pub fate: Fate,
}

impl Datagram {
    /// Sender and receiver as if there were no relay.
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        match self.direction {
            Direction::ToServer => (self.client, self.server),
            Direction::ToClient => (self.server, self.client),
        }
    }
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams dropped.
    pub dropped: u64,
    /// Datagrams sent twice.
    pub duplicated: u64,
    /// Datagrams held back behind the next one.
    pub reordered: u64,
    /// Earlier datagrams sent again by the script.
    pub repeated: u64,
}

/// Counters of both directions, all mappings together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Client to server.
    pub to_server: DirectionStats,
    /// Server to client.
    pub to_client: DirectionStats,
    /// Client addresses seen (mappings made).
    pub mappings: u64,
}

struct State {
    stats: RelayStats,
    records: Vec<Datagram>,
    tasks: Vec<AbortHandle>,
}

struct Shared {
    recorded: tokio::sync::Notify,
    config: RelayConfig,
    server: SocketAddr,
    start: Instant,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, client: SocketAddr, direction: Direction, bytes: &[u8], fate: Fate) {
        let mut st = self.state();
        let d = match direction {
            Direction::ToServer => &mut st.stats.to_server,
            Direction::ToClient => &mut st.stats.to_client,
        };
        d.received += 1;
        match fate {
            Fate::Forwarded => {}
            Fate::Dropped => d.dropped += 1,
            Fate::Duplicated => d.duplicated += 1,
            Fate::Reordered => d.reordered += 1,
            Fate::Repeated => d.repeated += 1,
        }
        if st.records.len() < self.config.record_limit {
            let at = self.start.elapsed();
            st.records.push(Datagram {
                at,
                client,
                server: self.server,
                direction,
                bytes: bytes.to_vec(),
                fate,
            });
            drop(st);
            self.recorded.notify_waiters();
        }
    }
}

/// Seeded fault decisions and the held-back datagram of one direction of one
/// mapping.
struct Faults {
    rng: u64,
    seen: u64,
    held: Option<(Vec<u8>, Instant)>,
    direction: Direction,
    /// Copies of the datagrams the script sends again, by number.
    kept: HashMap<u64, Vec<u8>>,
    /// What the last decision sends again after the datagram.
    repeat: Option<Vec<u8>>,
    /// DATA packets dropped and not forwarded since, by sequence number
    /// (with `spare_fins`; the most recent [`MAX_UNREPAIRED`]).
    unrepaired: VecDeque<(u16, Vec<u8>)>,
    /// What the last decision sends before the datagram (a FIN's
    /// unrepaired packets).
    before: Vec<Vec<u8>>,
}

/// Dropped DATA packets a direction remembers for its FIN
/// ([`RelayConfig::spare_fins`]); older ones were sent again long since.
const MAX_UNREPAIRED: usize = 64;

/// A uTP header's type (the high nibble of its first byte: 0 DATA, 1 FIN)
/// and sequence number.
fn utp_type_and_seq(bytes: &[u8]) -> Option<(u8, u16)> {
    let first = *bytes.first()?;
    let seq: [u8; 2] = bytes.get(16..18)?.try_into().ok()?;
    Some((first >> 4, u16::from_be_bytes(seq)))
}

impl Faults {
    fn new(seed: u64, client: SocketAddr, direction: Direction) -> Self {
        // Each mapping and direction gets its own stream of decisions.
        let mut rng = seed ^ u64::from(client.port()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if direction == Direction::ToClient {
            rng ^= 0xD1B5_4A32_D192_ED03;
        }
        Faults {
            rng,
            seen: 0,
            held: None,
            direction,
            kept: HashMap::new(),
            repeat: None,
            unrepaired: VecDeque::new(),
            before: Vec::new(),
        }
    }

    /// splitmix64, as a uniform number in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn decide(&mut self, config: &RelayConfig, bytes: &[u8]) -> Fate {
        let fate = self.draw(config, bytes);
        if config.spare_fins {
            match utp_type_and_seq(bytes) {
                // DATA: remembered when dropped, forgotten once through.
                Some((0, seq)) => {
                    self.unrepaired.retain(|(s, _)| *s != seq);
                    if fate == Fate::Dropped {
                        if self.unrepaired.len() == MAX_UNREPAIRED {
                            self.unrepaired.pop_front();
                        }
                        self.unrepaired.push_back((seq, bytes.to_vec()));
                    }
                }
                Some((1, _)) => {
                    self.before = self.unrepaired.drain(..).map(|(_, b)| b).collect();
                }
                _ => {}
            }
        }
        fate
    }

    fn draw(&mut self, config: &RelayConfig, bytes: &[u8]) -> Fate {
        self.seen += 1;
        let x = self.uniform();
        let (direction, nth) = (self.direction, self.seen);
        let mine = |s: &&Scripted| s.direction == direction;
        if config
            .script
            .iter()
            .filter(mine)
            .any(|s| s.action == Action::ThenRepeat { earlier: nth })
        {
            self.kept.insert(nth, bytes.to_vec());
        }
        if let Some(s) = config.script.iter().filter(mine).find(|s| s.nth == nth) {
            return match s.action {
                Action::Drop => Fate::Dropped,
                Action::Duplicate => Fate::Duplicated,
                Action::ThenRepeat { earlier } => match self.kept.get(&earlier) {
                    Some(copy) => {
                        self.repeat = Some(copy.clone());
                        Fate::Repeated
                    }
                    None => Fate::Forwarded,
                },
            };
        }
        // (A FIN is a header whose type nibble is 1.)
        let fin = bytes.first().is_some_and(|b| b >> 4 == 1);
        if nth <= config.spare_first || (config.spare_fins && fin) {
            return Fate::Forwarded;
        }
        if x < config.drop {
            Fate::Dropped
        } else if x < config.drop + config.reorder {
            Fate::Reordered
        } else if x < config.drop + config.reorder + config.duplicate {
            Fate::Duplicated
        } else {
            Fate::Forwarded
        }
    }

    /// Applies a decision: sends through `socket` to `to` what must go now.
    async fn apply(
        &mut self,
        fate: Fate,
        bytes: &[u8],
        socket: &UdpSocket,
        to: SocketAddr,
        delay: Duration,
    ) {
        // Send errors are ignored: this is a lossy link (and a peer that went
        // away makes loopback sends fail with ECONNREFUSED).
        match fate {
            Fate::Dropped => {}
            Fate::Forwarded | Fate::Duplicated | Fate::Repeated => {
                for earlier in core::mem::take(&mut self.before) {
                    let _ = socket.send_to(&earlier, to).await;
                }
                let _ = socket.send_to(bytes, to).await;
                if fate == Fate::Duplicated {
                    let _ = socket.send_to(bytes, to).await;
                }
                if let Some(copy) = self.repeat.take() {
                    let _ = socket.send_to(&copy, to).await;
                }
                if let Some((held, _)) = self.held.take() {
                    let _ = socket.send_to(&held, to).await;
                }
            }
            Fate::Reordered => {
                if let Some((held, _)) = self.held.take() {
                    let _ = socket.send_to(&held, to).await;
                }
                self.held = Some((bytes.to_vec(), Instant::now() + delay));
            }
        }
    }

    async fn release_if_due(&mut self, socket: &UdpSocket, to: SocketAddr) {
        if self
            .held
            .as_ref()
            .is_some_and(|(_, t)| *t <= Instant::now())
        {
            if let Some((held, _)) = self.held.take() {
                let _ = socket.send_to(&held, to).await;
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.held.as_ref().map(|(_, t)| *t)
    }
}

/// A running relay. Dropping it stops it.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Mapping {
    back: Arc<UdpSocket>,
    faults: Faults,
}

const MAX_DATAGRAM: usize = 65536;

impl Relay {
    /// Starts a relay towards `server`, listening on a new port of the
    /// server's loopback address (127.0.0.1 or ::1).
    pub async fn start(server: SocketAddr, config: RelayConfig) -> io::Result<Relay> {
        let front = Arc::new(UdpSocket::bind(loopback_like(server)).await?);
        let addr = front.local_addr()?;
        let shared = Arc::new(Shared {
            recorded: tokio::sync::Notify::new(),
            config,
            server,
            start: Instant::now(),
            state: Mutex::new(State {
                stats: RelayStats::default(),
                records: Vec::new(),
                tasks: Vec::new(),
            }),
        });
        let task = tokio::spawn(run_front(front, Arc::clone(&shared)));
        shared.state().tasks.push(task.abort_handle());
        Ok(Relay { addr, shared })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server datagrams are relayed to.
    pub fn server(&self) -> SocketAddr {
        self.shared.server
    }

    /// Counters so far.
    pub fn stats(&self) -> RelayStats {
        self.shared.state().stats
    }

    /// The datagrams recorded so far (see [`RelayConfig::record_limit`]).
    pub fn records(&self) -> Vec<Datagram> {
        self.shared.state().records.clone()
    }

    /// Waits until at least `n` datagrams have been recorded, and returns
    /// the records (never returns if fewer than `n` ever come: wrap it in a
    /// timeout).
    pub async fn wait_for_records(&self, n: usize) -> Vec<Datagram> {
        loop {
            let notified = self.shared.recorded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.shared.state();
                if st.records.len() >= n {
                    return st.records.clone();
                }
            }
            notified.await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in self.shared.state().tasks.drain(..) {
            task.abort();
        }
    }
}

fn loopback_like(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
    }
}

async fn run_front(front: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut mappings: HashMap<SocketAddr, Mapping> = HashMap::new();
    let server = shared.server;
    loop {
        let deadline = mappings.values().filter_map(|m| m.faults.deadline()).min();
        let received = tokio::select! {
            r = front.recv_from(&mut buf) => r,
            _ = sleep_until_opt(deadline) => {
                for m in mappings.values_mut() {
                    m.faults.release_if_due(&m.back, server).await;
                }
                continue;
            }
        };
        // A receive error on loopback is an ICMP "port unreachable" from an
        // earlier send: not fatal for a relay.
        let Ok((len, client)) = received else {
            continue;
        };
        let bytes = buf.get(..len).unwrap_or_default();
        let m = match mappings.entry(client) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let Ok(back) = UdpSocket::bind(loopback_like(server)).await else {
                    continue;
                };
                let back = Arc::new(back);
                let task = tokio::spawn(run_back(
                    Arc::clone(&front),
                    Arc::clone(&back),
                    client,
                    Arc::clone(&shared),
                ));
                {
                    let mut st = shared.state();
                    st.tasks.push(task.abort_handle());
                    st.stats.mappings += 1;
                }
                let faults = Faults::new(shared.config.seed, client, Direction::ToServer);
                e.insert(Mapping { back, faults })
            }
        };
        let fate = m.faults.decide(&shared.config, bytes);
        shared.note(client, Direction::ToServer, bytes, fate);
        let delay = shared.config.reorder_delay;
        m.faults.apply(fate, bytes, &m.back, server, delay).await;
    }
}

async fn run_back(
    front: Arc<UdpSocket>,
    back: Arc<UdpSocket>,
    client: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut faults = Faults::new(shared.config.seed, client, Direction::ToClient);
    loop {
        let received = tokio::select! {
            r = back.recv_from(&mut buf) => r,
            _ = sleep_until_opt(faults.deadline()) => {
                faults.release_if_due(&front, client).await;
                continue;
            }
        };
        let Ok((len, from)) = received else {
            continue;
        };
        if from != shared.server {
            continue;
        }
        let bytes = buf.get(..len).unwrap_or_default();
        let fate = faults.decide(&shared.config, bytes);
        shared.note(client, Direction::ToClient, bytes, fate);
        let delay = shared.config.reorder_delay;
        faults.apply(fate, bytes, &front, client, delay).await;
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    async fn echo_server() -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = s.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let (n, from) = s.recv_from(&mut buf).await.unwrap();
                s.send_to(&buf[..n], from).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn transparent_relay_forwards_both_ways_and_records() {
        let server = echo_server().await;
        let relay = Relay::start(server, RelayConfig::transparent().recording(10))
            .await
            .unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 64];
        for (sock, msg) in [(&a, &b"one"[..]), (&b, &b"two"[..]), (&a, &b"three"[..])] {
            sock.send_to(msg, relay.local_addr()).await.unwrap();
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], msg);
            assert_eq!(from, relay.local_addr());
        }
        let st = relay.stats();
        assert_eq!(st.mappings, 2);
        assert_eq!(st.to_server.received, 3);
        assert_eq!(st.to_client.received, 3);
        let rec = relay.records();
        assert_eq!(rec.len(), 6);
        assert_eq!(rec[0].direction, Direction::ToServer);
        assert_eq!(rec[0].endpoints(), (a.local_addr().unwrap(), server));
        assert_eq!(rec[1].endpoints(), (server, a.local_addr().unwrap()));
        assert_eq!(rec[5].bytes, b"three");
    }

    #[test]
    fn lossy_decisions_follow_the_seed_and_the_rates() {
        let config = RelayConfig::lossy(42);
        let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let run = |config: &RelayConfig| {
            let mut f = Faults::new(config.seed, client, Direction::ToServer);
            (0..100_000)
                .map(|_| f.decide(config, b""))
                .collect::<Vec<_>>()
        };
        let fates = run(&config);
        assert_eq!(fates, run(&config));
        assert_ne!(fates, run(&RelayConfig::lossy(43)));
        assert!(fates[..2].iter().all(|f| *f == Fate::Forwarded));
        let count = |k: Fate| fates.iter().filter(|f| **f == k).count();
        assert!(
            (800..1200).contains(&count(Fate::Dropped)),
            "{}",
            count(Fate::Dropped)
        );
        assert!((800..1200).contains(&count(Fate::Reordered)));
        assert!((350..650).contains(&count(Fate::Duplicated)));
    }

    #[tokio::test]
    async fn scripted_drops_and_repeats_hit_the_numbered_datagrams() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let config = RelayConfig::transparent()
            .dropping(Direction::ToServer, 2..=3)
            .repeating(Direction::ToServer, 1, 5)
            .recording(16);
        let relay = Relay::start(server.local_addr().unwrap(), config)
            .await
            .unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for msg in [b"1", b"2", b"3", b"4", b"5", b"6"] {
            c.send_to(msg, relay.local_addr()).await.unwrap();
        }
        let mut buf = [0u8; 8];
        let mut got = Vec::new();
        for _ in 0..5 {
            let (n, _) = server.recv_from(&mut buf).await.unwrap();
            got.push(buf[..n].to_vec());
        }
        let want: Vec<Vec<u8>> = ["1", "4", "5", "1", "6"]
            .iter()
            .map(|m| m.as_bytes().to_vec())
            .collect();
        assert_eq!(got, want);
        let st = relay.stats().to_server;
        assert_eq!((st.received, st.dropped, st.repeated), (6, 2, 1));
        let fates: Vec<Fate> = relay.records().iter().map(|d| d.fate).collect();
        use Fate::*;
        assert_eq!(
            fates,
            [Forwarded, Dropped, Dropped, Forwarded, Repeated, Forwarded]
        );
    }

    /// A uTP header of `ty` (0 DATA, 1 FIN, 2 STATE) and `seq`, with one
    /// byte of payload naming it.
    fn utp(ty: u8, seq: u16, tag: u8) -> Vec<u8> {
        let mut b = vec![0u8; 21];
        b[0] = ty << 4 | 1;
        b[16..18].copy_from_slice(&seq.to_be_bytes());
        b[20] = tag;
        b
    }

    /// With `spare_fins`, the DATA packets dropped and never sent again
    /// go just before the FIN (a peer that exits after its FIN cannot
    /// resend them); one that got through later does not go twice, and
    /// nothing else is sent again.
    #[tokio::test]
    async fn a_fin_brings_the_dropped_data_before_it() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let config = RelayConfig {
            spare_fins: true,
            ..RelayConfig::transparent()
        }
        .dropping(Direction::ToServer, 2..=4)
        .dropping(Direction::ToServer, 6..=6);
        let relay = Relay::start(server.local_addr().unwrap(), config)
            .await
            .unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // DATA 10 passes; 11, 12 and a STATE are dropped; 11 is sent again
        // and passes; 13 is dropped; then the FIN.
        let sent = [
            utp(0, 10, 1),
            utp(0, 11, 2),
            utp(0, 12, 3),
            utp(2, 12, 4),
            utp(0, 11, 5),
            utp(0, 13, 6),
            utp(1, 14, 7),
        ];
        for d in &sent {
            c.send_to(d, relay.local_addr()).await.unwrap();
        }
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        for _ in 0..5 {
            let recv = server.recv_from(&mut buf);
            let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_secs(5), recv).await else {
                panic!("only {got:?} arrived");
            };
            got.push(buf[n - 1]);
        }
        // 12 and 13, never sent again, go in the order dropped before the
        // FIN; 11 does not go twice, the STATE not at all.
        assert_eq!(got, [1, 5, 3, 6, 7]);
        let st = relay.stats().to_server;
        assert_eq!((st.received, st.dropped), (7, 4));
    }

    #[tokio::test]
    async fn a_held_datagram_goes_after_the_next_one() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let config = RelayConfig {
            reorder: 1.0,
            spare_first: 1,
            spare_fins: false,
            reorder_delay: Duration::from_secs(60),
            ..RelayConfig::transparent()
        };
        let relay = Relay::start(server.local_addr().unwrap(), config)
            .await
            .unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for msg in [b"1", b"2", b"3"] {
            c.send_to(msg, relay.local_addr()).await.unwrap();
        }
        // "1" is spared; "2" is held until "3" (itself held) releases it.
        let mut buf = [0u8; 8];
        let mut got = Vec::new();
        for _ in 0..2 {
            let (n, _) = server.recv_from(&mut buf).await.unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec()]);
        assert_eq!(relay.stats().to_server.reordered, 2);
    }
}
