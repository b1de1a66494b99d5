//! Shared machinery for the simulated scenarios: bulk transfers between uTP
//! endpoints in a [`utp_sim::Sim`], verified byte for byte.
//!
//! Each flow sends `len` bytes from a client endpoint to a server endpoint.
//! The stream starts with the flow's index (8 bytes, big-endian) so the
//! server can tell flows apart, followed by pseudo-random bytes derived from
//! (seed, offset), so a wrong, missing or reordered byte is detected without
//! keeping a copy of the data. The client shuts down after its last byte;
//! the server reads to EOF and shuts down too; both must end with
//! [`CloseReason::Finished`].

use std::collections::HashMap;
use std::net::SocketAddr;

use utp_core::{CloseReason, Config, ConnHandle, Endpoint, Error, Event, ListenConfig, Timestamp};
use utp_sim::{RunError, Sim};

/// Bytes of the flow-index header.
const HEADER: u64 = 8;

/// The byte at `offset` of the payload of a flow with `seed` (after the
/// header).
fn payload_byte(seed: u64, offset: u64) -> u8 {
    let mut z = seed ^ (offset / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> (8 * (offset % 8))) as u8
}

/// The stream byte at `pos` of flow `index`.
fn stream_byte(index: u64, seed: u64, pos: u64) -> u8 {
    if pos < HEADER {
        (index >> (8 * (7 - pos))) as u8
    } else {
        payload_byte(seed, pos - HEADER)
    }
}

/// One client→server transfer.
#[derive(Clone, Debug)]
pub struct Flow {
    /// Client address (an endpoint in the sim).
    pub client: SocketAddr,
    /// Server address (a listening endpoint in the sim).
    pub server: SocketAddr,
    /// Payload bytes (the 8-byte header comes on top).
    pub len: u64,
    /// Seed of the payload bytes.
    pub seed: u64,
}

/// What happened to one flow.
#[derive(Clone, Debug, Default)]
pub struct FlowResult {
    /// Client connection.
    pub client_handle: Option<ConnHandle>,
    /// Server connection, once identified.
    pub server_handle: Option<ConnHandle>,
    /// Stream bytes written by the client.
    pub written: u64,
    /// Stream bytes received by the server, all verified.
    pub received: u64,
    /// First stream position whose byte differed, if any.
    pub corrupt_at: Option<u64>,
    /// The server read EOF.
    pub eof: bool,
    /// When the client connected.
    pub connected_at: Option<Timestamp>,
    /// When the server read EOF.
    pub eof_at: Option<Timestamp>,
    /// How each side ended.
    pub client_closed: Option<CloseReason>,
    /// How the server side ended.
    pub server_closed: Option<CloseReason>,
}

impl FlowResult {
    /// Every byte arrived intact, EOF was read, and both sides finished
    /// cleanly.
    pub fn is_clean(&self, flow: &Flow) -> bool {
        self.corrupt_at.is_none()
            && self.received == flow.len + HEADER
            && self.eof
            && self.client_closed == Some(CloseReason::Finished)
            && self.server_closed == Some(CloseReason::Finished)
    }

    /// Both sides are closed (cleanly or not). A server connection that
    /// never received the flow's header cannot be matched to it; the
    /// endpoint-level checks in the tests cover it.
    pub fn is_over(&self) -> bool {
        self.client_closed.is_some()
            && (self.server_handle.is_none() || self.server_closed.is_some())
    }
}

/// Runs flows to completion in a simulator whose hosts are uTP endpoints.
pub struct Transfers {
    /// The flows.
    pub flows: Vec<Flow>,
    /// Their results, same order.
    pub results: Vec<FlowResult>,
    /// Client handle → flow index, per client address.
    by_client: HashMap<(SocketAddr, ConnHandle), usize>,
    /// Server connections whose header is not complete yet.
    pending_server: HashMap<(SocketAddr, ConnHandle), Vec<u8>>,
    by_server: HashMap<(SocketAddr, ConnHandle), usize>,
    addrs: Vec<SocketAddr>,
    scratch: Vec<u8>,
}

impl Transfers {
    /// Adds the endpoints the flows need to `sim` (clients with `client`
    /// config, listening servers with `server` config; endpoints already
    /// there are reused as they are) and starts every flow's connection.
    pub fn start(
        sim: &mut Sim<Endpoint>,
        flows: Vec<Flow>,
        client: &Config,
        server: &Config,
    ) -> Self {
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
                        ep.listen(ListenConfig {
                            backlog: 4096,
                            ..ListenConfig::default()
                        });
                    }
                    sim.add_host(addr, ep);
                    addrs.push(addr);
                } else if !addrs.contains(&addr) {
                    // Already in the sim (an earlier `Transfers`): its
                    // events are ours to handle now.
                    addrs.push(addr);
                }
            }
        }
        let mut t = Transfers {
            results: vec![FlowResult::default(); flows.len()],
            flows,
            by_client: HashMap::new(),
            pending_server: HashMap::new(),
            by_server: HashMap::new(),
            addrs,
            scratch: vec![0; 64 * 1024],
        };
        let now = sim.now();
        for (i, f) in t.flows.iter().enumerate() {
            let ep = sim.host_mut(f.client);
            match ep.connect(now, f.server) {
                Ok(h) => {
                    t.by_client.insert((f.client, h), i);
                    if let Some(r) = t.results.get_mut(i) {
                        r.client_handle = Some(h);
                    }
                }
                Err(e) => {
                    if let Some(r) = t.results.get_mut(i) {
                        r.client_closed = Some(CloseReason::Aborted);
                        r.server_closed = Some(CloseReason::Aborted);
                    }
                    let _ = e;
                }
            }
        }
        for i in 0..t.flows.len() {
            t.pump_client(sim, i);
        }
        t
    }

    /// Drives the simulation until every flow is over or `deadline`.
    pub fn run(
        &mut self,
        sim: &mut Sim<Endpoint>,
        deadline: Timestamp,
    ) -> Result<Timestamp, RunError> {
        sim.run_until(deadline, |sim| {
            self.handle_events(sim);
            self.results.iter().all(FlowResult::is_over)
        })
    }

    /// Keeps handling events (closing connections as they end) until
    /// `deadline`, for checks that everything is eventually released.
    pub fn settle(&mut self, sim: &mut Sim<Endpoint>, deadline: Timestamp) {
        let _ = sim.run_until(deadline, |sim| {
            self.handle_events(sim);
            false
        });
    }

    /// Every flow delivered every byte and closed cleanly.
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
            .map(|(i, (f, r))| format!("flow {i} ({} bytes): {r:?}", f.len + HEADER))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn handle_events(&mut self, sim: &mut Sim<Endpoint>) {
        for ai in 0..self.addrs.len() {
            let Some(&addr) = self.addrs.get(ai) else {
                continue;
            };
            while let Some(event) = sim.host_mut(addr).poll_event() {
                self.on_event(sim, addr, event);
            }
        }
    }

    fn on_event(&mut self, sim: &mut Sim<Endpoint>, addr: SocketAddr, event: Event) {
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
            Event::Writable(h) => {
                if let Some(&i) = self.by_client.get(&(addr, h)) {
                    self.pump_client(sim, i);
                }
            }
            Event::Incoming => {
                while let Some(h) = sim.host_mut(addr).accept() {
                    self.pending_server.insert((addr, h), Vec::new());
                    self.pump_server(sim, addr, h);
                }
            }
            Event::Readable(h) | Event::Eof(h) => self.pump_server(sim, addr, h),
            Event::Closed(h, reason) => {
                if let Some(&i) = self.by_client.get(&(addr, h)) {
                    if let Some(r) = self.results.get_mut(i) {
                        r.client_closed = Some(reason);
                    }
                    if let Some(mut c) = sim.host_mut(addr).conn(h) {
                        c.close();
                    }
                } else {
                    // Drain what is left before recording the end.
                    self.pump_server(sim, addr, h);
                    match self.by_server.get(&(addr, h)) {
                        Some(&i) => {
                            if let Some(r) = self.results.get_mut(i) {
                                r.server_closed = Some(reason);
                            }
                        }
                        None => {
                            // Closed before its header arrived: it cannot
                            // be matched to a flow; the flow's client side
                            // reports the failure.
                            self.pending_server.remove(&(addr, h));
                        }
                    }
                    if let Some(mut c) = sim.host_mut(addr).conn(h) {
                        c.close();
                    }
                }
            }
        }
    }

    /// Writes as much of flow `i` as the client connection takes.
    fn pump_client(&mut self, sim: &mut Sim<Endpoint>, i: usize) {
        let (Some(f), Some(r)) = (self.flows.get(i), self.results.get_mut(i)) else {
            return;
        };
        let Some(h) = r.client_handle else { return };
        let total = f.len + HEADER;
        let ep = sim.host_mut(f.client);
        let Some(mut conn) = ep.conn(h) else { return };
        while r.written < total {
            let n = (total - r.written).min(self.scratch.len() as u64) as usize;
            let Some(chunk) = self.scratch.get_mut(..n) else {
                return;
            };
            for (k, b) in chunk.iter_mut().enumerate() {
                *b = stream_byte(i as u64, f.seed, r.written + k as u64);
            }
            match conn.write(chunk) {
                Ok(written) => r.written += written as u64,
                Err(Error::WouldBlock) => return,
                Err(_) => return,
            }
        }
        if r.written == total {
            conn.shutdown();
        }
    }

    /// Reads everything available on a server connection and verifies it.
    fn pump_server(&mut self, sim: &mut Sim<Endpoint>, addr: SocketAddr, h: ConnHandle) {
        let now = sim.now();
        let ep = sim.host_mut(addr);
        let Some(mut conn) = ep.conn(h) else { return };
        loop {
            let n = match conn.read(&mut self.scratch) {
                Ok(0) => {
                    if let Some(&i) = self.by_server.get(&(addr, h)) {
                        if let Some(r) = self.results.get_mut(i) {
                            if !r.eof {
                                r.eof = true;
                                r.eof_at = Some(now);
                                // Our direction is empty: finish it too.
                                conn.shutdown();
                            }
                        }
                    }
                    return;
                }
                Ok(n) => n,
                Err(_) => return,
            };
            let Some(mut data) = self.scratch.get(..n) else {
                return;
            };
            // Identify the flow from the header.
            let index = match self.by_server.get(&(addr, h)) {
                Some(&i) => i,
                None => {
                    let Some(pending) = self.pending_server.get_mut(&(addr, h)) else {
                        return;
                    };
                    let need = HEADER as usize - pending.len();
                    let take = need.min(data.len());
                    pending.extend_from_slice(data.get(..take).unwrap_or(&[]));
                    data = data.get(take..).unwrap_or(&[]);
                    if pending.len() < HEADER as usize {
                        continue;
                    }
                    let mut id = [0u8; 8];
                    id.copy_from_slice(pending.get(..8).unwrap_or(&[0; 8]));
                    let i = u64::from_be_bytes(id) as usize;
                    self.pending_server.remove(&(addr, h));
                    self.by_server.insert((addr, h), i);
                    if let Some(r) = self.results.get_mut(i) {
                        r.server_handle = Some(h);
                        r.received = HEADER;
                    }
                    i
                }
            };
            let (Some(f), Some(r)) = (self.flows.get(index), self.results.get_mut(index)) else {
                return;
            };
            for (k, &b) in data.iter().enumerate() {
                let pos = r.received + k as u64;
                if r.corrupt_at.is_none() && b != stream_byte(index as u64, f.seed, pos) {
                    r.corrupt_at = Some(pos);
                }
            }
            r.received += data.len() as u64;
        }
    }
}
