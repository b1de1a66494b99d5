//! [`Transfers`]: runs flows between endpoints in a simulator and checks
//! every byte both ways.

use std::collections::HashMap;
use std::net::SocketAddr;

use utp_core::{CloseReason, Config, ConnHandle, Endpoint, Event, ListenConfig, Timestamp};
use utp_sim::{RunError, Sim};

use crate::stream::*;
use crate::{endpoint, EndpointHost, Flow, FlowResult};

/// What the server does on a connection from one client address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Policy {
    acceptor_first: bool,
    /// Payload bytes to write first (used when `acceptor_first`).
    reply_len: u64,
}

/// A stream being written.
#[derive(Clone, Debug)]
struct Out {
    tag: u64,
    seed: u64,
    /// Stream bytes, tag included.
    total: u64,
    written: u64,
    shut: bool,
    /// Stream bytes made but not yet taken by `write`, from `pending_at`:
    /// made once, not again on every attempt.
    pending: Vec<u8>,
    pending_at: usize,
}

/// Stream bytes made at a time for writing.
const WRITE_CHUNK: u64 = 16 * 1024;

impl Out {
    fn new(tag: u64, seed: u64, payload: u64) -> Self {
        Out {
            tag,
            seed,
            total: payload + HEADER,
            written: 0,
            shut: false,
            pending: Vec::new(),
            pending_at: 0,
        }
    }
}

/// A server connection.
#[derive(Debug, Default)]
struct ServerConn {
    /// The client's tag, while incomplete.
    tag: Vec<u8>,
    /// The flow, from the client's tag.
    flow: Option<usize>,
    /// The flow whose client read this connection's tag.
    claimed: Option<usize>,
    /// What this side writes, once known.
    out: Option<Out>,
    eof: bool,
    /// From an address that is no flow's client: read and discarded.
    stranger: bool,
}

impl ServerConn {
    fn flow(&self) -> Option<usize> {
        self.flow.or(self.claimed)
    }
}

/// The client side of a flow.
#[derive(Clone, Debug)]
struct ClientSide {
    out: Out,
    /// The server's tag, while incomplete.
    tag: Vec<u8>,
    /// Tag and payload seed of the server's stream, once known.
    expect: Option<(u64, u64)>,
}

/// Runs flows to completion in a simulator whose hosts are (or include)
/// uTP endpoints.
pub struct Transfers {
    /// The flows.
    pub flows: Vec<Flow>,
    /// Their results, same order.
    pub results: Vec<FlowResult>,
    /// When each flow's client connects.
    starts: Vec<Timestamp>,
    /// Bytes a server writes to a stranger as it accepts it.
    greeting: usize,
    strangers_accepted: u64,
    clients: Vec<ClientSide>,
    /// Client handle → flow index, per client address.
    by_client: HashMap<(SocketAddr, ConnHandle), usize>,
    servers: HashMap<(SocketAddr, ConnHandle), ServerConn>,
    /// (server, client address) → what the server does.
    policies: HashMap<(SocketAddr, SocketAddr), Policy>,
    /// Per server: how many connections it wrote to first.
    first_count: HashMap<SocketAddr, u64>,
    /// (server, k) → the server connection that wrote tag k.
    first_conn: HashMap<(SocketAddr, u64), ConnHandle>,
    /// (server, tag) → the flow whose client read it.
    claims: HashMap<(SocketAddr, u64), usize>,
    addrs: Vec<SocketAddr>,
    scratch: Vec<u8>,
}

impl Transfers {
    /// Adds the endpoints the flows need to `sim` (clients with `client`
    /// config, listening servers with `server` config; hosts already
    /// there are reused as they are) and starts every flow's connection.
    ///
    /// # Panics
    ///
    /// If flows between the same two addresses disagree on
    /// `acceptor_first`, or on `reply_len` when it is set (the server could
    /// not tell what to write first); if a flow's address holds a host
    /// that is no endpoint.
    pub fn start<H: EndpointHost>(
        sim: &mut Sim<H>,
        flows: Vec<Flow>,
        client: &Config,
        server: &Config,
    ) -> Self {
        let now = sim.now();
        let starts = vec![now; flows.len()];
        Self::start_at(sim, flows, starts, client, server)
    }

    /// [`start`](Self::start), but flow `i`'s client connects at
    /// `starts[i]` (at once if that is not later than now; [`run`](Self::run)
    /// starts the others on time, advancing an idle simulation to them).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start), and if `starts` and `flows` differ in
    /// length.
    pub fn start_at<H: EndpointHost>(
        sim: &mut Sim<H>,
        flows: Vec<Flow>,
        starts: Vec<Timestamp>,
        client: &Config,
        server: &Config,
    ) -> Self {
        assert_eq!(starts.len(), flows.len(), "a start time per flow");
        let mut policies = HashMap::new();
        for f in &flows {
            let policy = Policy {
                acceptor_first: f.acceptor_first,
                reply_len: if f.acceptor_first { f.reply_len } else { 0 },
            };
            let old = policies.insert((f.server, f.client), policy);
            assert!(
                old.is_none_or(|p| p == policy),
                "flows {} → {} disagree on who writes first: {old:?} vs {policy:?}",
                f.client,
                f.server
            );
        }
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for f in &flows {
            for (addr, listening) in [(f.client, false), (f.server, true)] {
                if sim.try_host(addr).is_none() {
                    let config = if listening {
                        server.clone()
                    } else {
                        client.clone()
                    };
                    let seed = sim.seed() ^ u64::from(addr.port()) ^ addrs.len() as u64;
                    let mut ep = Endpoint::new(config, seed);
                    if listening {
                        let mut listen = ListenConfig::default();
                        listen.backlog = 4096;
                        ep.listen(listen);
                    }
                    sim.add_host(addr, H::from_endpoint(ep));
                    addrs.push(addr);
                } else if !addrs.contains(&addr) {
                    // Already in the sim (an earlier `Transfers`): its
                    // events are ours to handle now.
                    addrs.push(addr);
                }
            }
        }
        let clients = flows
            .iter()
            .enumerate()
            .map(|(i, f)| ClientSide {
                out: Out::new(i as u64, f.seed, f.len),
                tag: Vec::new(),
                expect: (!f.acceptor_first).then_some((i as u64, reply_seed(f.seed))),
            })
            .collect();
        let mut t = Transfers {
            results: vec![FlowResult::default(); flows.len()],
            flows,
            starts,
            greeting: 0,
            strangers_accepted: 0,
            clients,
            by_client: HashMap::new(),
            servers: HashMap::new(),
            policies,
            first_count: HashMap::new(),
            first_conn: HashMap::new(),
            claims: HashMap::new(),
            addrs,
            scratch: vec![0; 64 * 1024],
        };
        t.start_due(sim);
        t
    }

    /// Has a server write `bytes` bytes to every stranger it accepts from
    /// now on (and never shut down).
    pub fn greet_strangers(&mut self, bytes: usize) {
        self.greeting = bytes;
    }

    /// Strangers accepted so far.
    pub fn strangers_accepted(&self) -> u64 {
        self.strangers_accepted
    }

    /// Connections `server` has accepted so far (flows' and strangers').
    pub fn server_connections(&self, server: SocketAddr) -> usize {
        self.servers.keys().filter(|(a, _)| *a == server).count()
    }

    /// Connects the flows whose time has come.
    fn start_due<H: EndpointHost>(&mut self, sim: &mut Sim<H>) {
        let now = sim.now();
        for i in 0..self.flows.len() {
            let (Some(f), Some(r), Some(&at)) = (
                self.flows.get(i),
                self.results.get_mut(i),
                self.starts.get(i),
            ) else {
                continue;
            };
            if r.started_at.is_some() || at > now {
                continue;
            }
            r.started_at = Some(now);
            match endpoint(sim, f.client).connect(now, f.server) {
                Ok(h) => {
                    self.by_client.insert((f.client, h), i);
                    r.client_handle = Some(h);
                    self.pump_client(sim, i);
                }
                Err(_) => {
                    r.client_closed = Some(CloseReason::Aborted);
                    r.server_closed = Some(CloseReason::Aborted);
                }
            }
        }
    }

    /// Drives the simulation until every flow is over or `deadline`.
    pub fn run<H: EndpointHost>(
        &mut self,
        sim: &mut Sim<H>,
        deadline: Timestamp,
    ) -> Result<Timestamp, RunError> {
        self.run_watching(sim, deadline, |_, _| true)
    }

    /// [`run`](Self::run) until every flow is over and `watch` returns
    /// `true`, or `deadline`. `watch` is called after each round of events,
    /// to sample or act on the hosts.
    pub fn run_watching<H, W>(
        &mut self,
        sim: &mut Sim<H>,
        deadline: Timestamp,
        mut watch: W,
    ) -> Result<Timestamp, RunError>
    where
        H: EndpointHost,
        W: FnMut(&mut Sim<H>, &Self) -> bool,
    {
        loop {
            let next_start = self
                .starts
                .iter()
                .zip(&self.results)
                .filter(|(_, r)| r.started_at.is_none())
                .map(|(&at, _)| at)
                .min();
            let until = next_start.map_or(deadline, |t| t.min(deadline));
            let result = sim.run_until(until, |sim| {
                self.start_due(sim);
                self.handle_events(sim);
                let watched = watch(sim, self);
                watched && self.results.iter().all(FlowResult::is_over)
            });
            match result {
                // Stopped to start a flow.
                Err(RunError::Deadline { now }) if now < deadline => {}
                Err(RunError::Idle { .. }) if next_start.is_some_and(|t| t <= deadline) => {
                    sim.advance_to(until)?;
                }
                other => return other,
            }
        }
    }

    /// Keeps handling events (closing connections as they end) until
    /// `deadline`, for checks that everything is eventually released, or
    /// to run up to a moment.
    pub fn settle<H: EndpointHost>(&mut self, sim: &mut Sim<H>, deadline: Timestamp) {
        let _ = self.run_watching(sim, deadline, |_, _| false);
    }

    /// Every flow delivered every byte both ways and closed cleanly.
    pub fn all_clean(&self) -> bool {
        self.flows
            .iter()
            .zip(&self.results)
            .all(|(f, r)| r.is_clean(f))
    }

    /// A one-line description of the flows that are not clean.
    pub fn failures(&self) -> String {
        self.flows
            .iter()
            .zip(&self.results)
            .enumerate()
            .filter(|(_, (f, r))| !r.is_clean(f))
            .take(5)
            .map(|(i, (f, r))| {
                format!(
                    "flow {i} ({} bytes, {} back, acceptor first: {}): {r:?}",
                    f.stream_len(),
                    f.reply_stream_len(),
                    f.acceptor_first
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn handle_events<H: EndpointHost>(&mut self, sim: &mut Sim<H>) {
        for ai in 0..self.addrs.len() {
            let Some(&addr) = self.addrs.get(ai) else {
                continue;
            };
            while let Some(event) = endpoint(sim, addr).poll_event() {
                self.on_event(sim, addr, event);
            }
        }
    }

    fn on_event<H: EndpointHost>(&mut self, sim: &mut Sim<H>, addr: SocketAddr, event: Event) {
        let now = sim.now();
        match event {
            Event::Connected(h) => {
                if let Some(&i) = self.by_client.get(&(addr, h)) {
                    if let Some(r) = self.results.get_mut(i) {
                        r.connected_at = Some(now);
                    }
                    self.pump_client(sim, i);
                }
            }
            Event::Writable(h) | Event::Readable(h) | Event::Eof(h) => {
                if let Some(&i) = self.by_client.get(&(addr, h)) {
                    self.pump_client(sim, i);
                } else {
                    self.pump_server(sim, addr, h);
                }
            }
            // No rendezvous here.
            Event::Duplicate { .. } => {}
            Event::Incoming => {
                while let Some(h) = endpoint(sim, addr).accept() {
                    self.on_accept(sim, addr, h);
                }
            }
            Event::Closed(h, reason) => {
                let stats = endpoint(sim, addr).conn(h).map(|c| c.stats());
                if let Some(&i) = self.by_client.get(&(addr, h)) {
                    // Read what is left before recording the end.
                    self.pump_client(sim, i);
                    if let Some(r) = self.results.get_mut(i) {
                        r.client_closed = Some(reason);
                        r.client_closed_at = Some(now);
                        r.client_stats = stats;
                    }
                } else {
                    self.pump_server(sim, addr, h);
                    // A connection never matched to a flow cannot be
                    // recorded; the flow's client side reports the failure.
                    let flow = self.servers.get(&(addr, h)).and_then(ServerConn::flow);
                    if let Some(r) = flow.and_then(|i| self.results.get_mut(i)) {
                        r.server_closed = Some(reason);
                        r.server_closed_at = Some(now);
                        r.server_stats = stats;
                    }
                }
                if let Some(mut c) = endpoint(sim, addr).conn(h) {
                    c.close();
                }
            }
        }
    }

    /// A new server connection: writes first if its peer's flows say so,
    /// or greets it if it is a stranger.
    fn on_accept<H: EndpointHost>(&mut self, sim: &mut Sim<H>, addr: SocketAddr, h: ConnHandle) {
        let peer = endpoint(sim, addr).conn(h).and_then(|c| c.peer_addr());
        let policy = peer.and_then(|p| self.policies.get(&(addr, p)).copied());
        let mut sc = ServerConn::default();
        if policy.is_none() {
            sc.stranger = true;
            self.strangers_accepted += 1;
            if let Some(mut conn) = endpoint(sim, addr).conn(h) {
                let greeting = vec![STRANGER_BYTE; self.greeting];
                let _ = conn.write(&greeting);
            }
        }
        if let Some(p) = policy.filter(|p| p.acceptor_first) {
            let count = self.first_count.entry(addr).or_insert(0);
            let k = *count;
            *count += 1;
            self.first_conn.insert((addr, k), h);
            sc.out = Some(Out::new(SERVER_TAG | k, first_seed(addr, k), p.reply_len));
        }
        self.servers.insert((addr, h), sc);
        self.pump_server(sim, addr, h);
    }

    /// Reads and verifies what the server sent on flow `i`, then writes as
    /// much of the flow as the client connection takes (once it may).
    fn pump_client<H: EndpointHost>(&mut self, sim: &mut Sim<H>, i: usize) {
        let now = sim.now();
        let (Some(f), Some(r), Some(cs)) = (
            self.flows.get(i),
            self.results.get_mut(i),
            self.clients.get_mut(i),
        ) else {
            return;
        };
        let Some(h) = r.client_handle else { return };
        let Some(mut conn) = endpoint(sim, f.client).conn(h) else {
            return;
        };
        loop {
            let n = match conn.read(&mut self.scratch) {
                Ok(0) => {
                    if !r.reply_eof {
                        r.reply_eof = true;
                        r.reply_eof_at = Some(now);
                    }
                    break;
                }
                Ok(n) => n,
                Err(_) => break,
            };
            r.reply_received_at = Some(now);
            let mut data = self.scratch.get(..n).unwrap_or(&[]);
            if cs.expect.is_none() {
                // Acceptor first: learn the tag.
                let take = (HEADER as usize - cs.tag.len()).min(data.len());
                cs.tag.extend_from_slice(data.get(..take).unwrap_or(&[]));
                data = data.get(take..).unwrap_or(&[]);
                r.reply_received += take as u64;
                if cs.tag.len() == HEADER as usize {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(cs.tag.get(..8).unwrap_or(&[0; 8]));
                    let tag = u64::from_be_bytes(bytes);
                    let k = tag & !SERVER_TAG;
                    let claimed = *self.claims.entry((f.server, tag)).or_insert(i);
                    let server_conn = self.first_conn.get(&(f.server, k)).copied();
                    if tag & SERVER_TAG == 0 || claimed != i || server_conn.is_none() {
                        r.reply_corrupt_at.get_or_insert(0);
                    }
                    if let Some(sh) = server_conn.filter(|_| claimed == i) {
                        r.server_handle.get_or_insert(sh);
                        if let Some(sc) = self.servers.get_mut(&(f.server, sh)) {
                            sc.claimed = Some(i);
                            if sc.flow.is_some_and(|j| j != i) {
                                r.reply_corrupt_at.get_or_insert(0);
                            }
                            if let Some(out) = &sc.out {
                                r.reply_written = out.written;
                            }
                        }
                    }
                    cs.expect = Some((tag, first_seed(f.server, k)));
                }
            }
            if let Some((tag, seed)) = cs.expect {
                if r.reply_corrupt_at.is_none() {
                    r.reply_corrupt_at = check_stream(tag, seed, r.reply_received, data);
                }
            }
            r.reply_received += data.len() as u64;
        }
        if f.acceptor_first && r.reply_received < HEADER {
            return;
        }
        let out = &mut cs.out;
        write_stream(&mut conn, out);
        r.written = out.written;
    }

    /// Reads and verifies everything available on a server connection,
    /// then writes as much of its stream as it takes (once it is known).
    fn pump_server<H: EndpointHost>(&mut self, sim: &mut Sim<H>, addr: SocketAddr, h: ConnHandle) {
        let now = sim.now();
        let Some(sc) = self.servers.get_mut(&(addr, h)) else {
            return;
        };
        let Some(mut conn) = endpoint(sim, addr).conn(h) else {
            return;
        };
        loop {
            let n = match conn.read(&mut self.scratch) {
                Ok(0) => {
                    if !sc.eof {
                        sc.eof = true;
                        if let Some(r) = sc.flow.and_then(|i| self.results.get_mut(i)) {
                            r.eof = true;
                            r.eof_at = Some(now);
                        }
                    }
                    break;
                }
                Ok(n) => n,
                Err(_) => break,
            };
            if sc.stranger {
                continue;
            }
            let mut data = self.scratch.get(..n).unwrap_or(&[]);
            // Identify the flow from the client's tag.
            let index = match sc.flow {
                Some(i) => i,
                None => {
                    let need = HEADER as usize - sc.tag.len();
                    let take = need.min(data.len());
                    sc.tag.extend_from_slice(data.get(..take).unwrap_or(&[]));
                    data = data.get(take..).unwrap_or(&[]);
                    if sc.tag.len() < HEADER as usize {
                        continue;
                    }
                    let mut id = [0u8; 8];
                    id.copy_from_slice(sc.tag.get(..8).unwrap_or(&[0; 8]));
                    let i = u64::from_be_bytes(id) as usize;
                    let (Some(f), Some(r)) = (self.flows.get(i), self.results.get_mut(i)) else {
                        // Not one of ours: read on, verify nothing.
                        sc.flow = Some(usize::MAX);
                        continue;
                    };
                    sc.flow = Some(i);
                    r.server_handle = Some(h);
                    r.received = HEADER;
                    if sc.claimed.is_some_and(|j| j != i) {
                        r.corrupt_at.get_or_insert(0);
                    }
                    if sc.out.is_none() {
                        sc.out = Some(Out::new(i as u64, reply_seed(f.seed), f.reply_len));
                    }
                    i
                }
            };
            let (Some(f), Some(r)) = (self.flows.get(index), self.results.get_mut(index)) else {
                continue;
            };
            r.received_at = Some(now);
            if r.corrupt_at.is_none() {
                r.corrupt_at = check_stream(index as u64, f.seed, r.received, data);
            }
            r.received += data.len() as u64;
        }
        let flow = sc.flow();
        if let Some(out) = &mut sc.out {
            write_stream(&mut conn, out);
            if let Some(r) = flow.and_then(|i| self.results.get_mut(i)) {
                r.reply_written = out.written;
            }
        }
    }
}

/// Writes as much of `out` as `conn` takes; shuts down after the last byte.
fn write_stream(conn: &mut utp_core::Conn<'_>, out: &mut Out) {
    while out.written < out.total {
        if out.pending_at >= out.pending.len() {
            let n = (out.total - out.written).min(WRITE_CHUNK) as usize;
            out.pending.resize(n, 0);
            fill_stream(out.tag, out.seed, out.written, &mut out.pending);
            out.pending_at = 0;
        }
        match conn.write(out.pending.get(out.pending_at..).unwrap_or(&[])) {
            Ok(written) => {
                out.pending_at += written;
                out.written += written as u64;
            }
            Err(_) => return,
        }
    }
    if !out.shut {
        out.shut = true;
        out.pending = Vec::new();
        conn.shutdown();
    }
}
