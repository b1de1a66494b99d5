//! The Portal Network's way of moving content, among many simulated nodes:
//! peers are node ids ([`NodeId`]) carried over the simulated network by
//! [`Overlay`] hosts in 1,024-byte packets, and each transfer is a
//! FINDCONTENT answered with a connection id: the node holding the content
//! expects the requester with that id ([`Endpoint::accept_with_id`]) and
//! writes the content at once; the requester, hearing the id one network
//! latency later, connects with it ([`Endpoint::connect_with_id`]) and
//! reads to the end. Every byte is checked.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use utp_core::{CloseReason, Config, ConnHandle, ConnectError, Endpoint, Error, Timestamp};
use utp_sim::overlay::{Directory, NodeId, Overlay};
use utp_sim::{LinkConfig, Sim};

use crate::stream::{check_stream, fill_stream, HEADER};
use crate::Rng;

/// What to run.
#[derive(Clone, Debug)]
pub struct PortalRun {
    /// Nodes (each at its own address).
    pub nodes: u32,
    /// Distinct other nodes each one fetches content from.
    pub fetches_per_node: u32,
    /// Content sizes, uniform in this range (bytes).
    pub min_len: u64,
    /// Largest content size.
    pub max_len: u64,
    /// Every link, both ways (latency, loss, ...).
    pub link: LinkConfig,
    /// Requests start uniformly within this window.
    pub start_window: Duration,
    /// How long an expected connection waits for its SYN.
    pub expect_timeout: Duration,
    /// Simulated time the run may take.
    pub limit: Duration,
    /// Drives the network and every choice.
    pub seed: u64,
}

/// What came of it.
#[derive(Clone, Debug, Default)]
pub struct PortalResult {
    /// Transfers run.
    pub transfers: usize,
    /// One line per transfer that did not deliver its content intact.
    pub failures: Vec<String>,
    /// Completion times (request to the last byte read) of those that did.
    pub durations: Vec<Duration>,
    /// Bytes delivered and checked.
    pub bytes: u64,
    /// Largest uTP packet sent (the carrier's bound is 1,024).
    pub largest_packet: usize,
    /// Packets for no connection, over all nodes.
    pub unknown_connection: u64,
    /// Frames the carrier rejected.
    pub rejected: u64,
    /// Simulated time until the last transfer ended.
    pub sim_time: Duration,
}

impl PortalResult {
    /// The `q`-quantile (0..=1) of the completion times.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut d = self.durations.clone();
        d.sort();
        let i = ((d.len().saturating_sub(1)) as f64 * q).round() as usize;
        d.get(i).copied().unwrap_or_default()
    }
}

#[derive(Debug)]
enum Phase {
    /// Not yet requested.
    Waiting,
    /// The holder expects the requester, which hears the id at `connect_at`.
    Requested {
        connect_at: Timestamp,
    },
    /// Both sides have their connection.
    Running,
    Done(Timestamp),
    Failed(String),
}

#[derive(Debug)]
struct Transfer {
    requester: u32,
    holder: u32,
    len: u64,
    start: Timestamp,
    id: u16,
    phase: Phase,
    /// The holder's connection and bytes written.
    hb: Option<ConnHandle>,
    written: u64,
    /// The requester's connection and bytes read.
    ha: Option<ConnHandle>,
    read: u64,
}

impl Transfer {
    fn seed(&self, run: u64) -> u64 {
        run ^ (u64::from(self.requester) << 32 | u64::from(self.holder))
    }

    fn tag(&self) -> u64 {
        u64::from(self.requester) << 16 | u64::from(self.holder)
    }

    fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Done(_) | Phase::Failed(_))
    }
}

fn addr(i: u32) -> SocketAddr {
    // 198.51.100.0/24 holds 254 nodes; more go on into 203.0.113.0/24.
    let ip = if i < 254 {
        Ipv4Addr::new(198, 51, 100, (i + 1) as u8)
    } else {
        Ipv4Addr::new(203, 0, 113, (i - 253) as u8)
    };
    SocketAddr::new(ip.into(), 9000)
}

/// Runs the scenario.
pub fn run_portal(cfg: &PortalRun) -> PortalResult {
    let mut rng = Rng(cfg.seed);
    let ids: Vec<NodeId> = (0..cfg.nodes).map(NodeId::from_index).collect();
    let directory = Arc::new(
        ids.iter()
            .enumerate()
            .map(|(i, id)| (*id, addr(i as u32)))
            .collect::<Directory<NodeId>>(),
    );
    let mut sim: Sim<Overlay<NodeId>> = Sim::new(cfg.seed);
    if sim.set_default_link(cfg.link).is_err() {
        return PortalResult {
            failures: vec!["invalid link".into()],
            ..PortalResult::default()
        };
    }
    for (i, id) in ids.iter().enumerate() {
        let endpoint = Endpoint::<NodeId>::with_peer_type(Config::default(), rng.next_u64());
        sim.add_host(
            addr(i as u32),
            Overlay::new(*id, endpoint, directory.clone()),
        );
    }
    let mut transfers = Vec::new();
    for requester in 0..cfg.nodes {
        let mut holders: Vec<u32> = (0..cfg.nodes).filter(|&h| h != requester).collect();
        for _ in 0..cfg.fetches_per_node.min(holders.len() as u32) {
            let holder = holders.swap_remove(rng.below(holders.len() as u64) as usize);
            let span = cfg.max_len.saturating_sub(cfg.min_len) + 1;
            let window = cfg.start_window.as_micros() as u64 + 1;
            transfers.push(Transfer {
                requester,
                holder,
                len: cfg.min_len + rng.below(span),
                start: sim.now() + Duration::from_micros(rng.below(window)),
                id: rng.u16(),
                phase: Phase::Waiting,
                hb: None,
                written: 0,
                ha: None,
                read: 0,
            });
        }
    }
    let deadline = sim.now() + cfg.limit;
    let step = Duration::from_millis(2);
    let mut buf = vec![0u8; 256 * 1024];
    let mut last_end = sim.now();
    while !transfers.iter().all(Transfer::is_over) && sim.now() < deadline {
        let now = sim.now();
        // A holder goes on after its requester is done: it reads the
        // requester's FIN and releases its connection.
        for t in transfers
            .iter_mut()
            .filter(|t| !t.is_over() || t.hb.is_some())
        {
            advance(&mut sim, cfg, t, now, &mut buf, &mut rng);
            if let Phase::Done(at) = t.phase {
                last_end = last_end.max(at);
            }
        }
        if sim.advance(step).is_err() {
            break;
        }
    }
    let mut result = PortalResult {
        transfers: transfers.len(),
        sim_time: last_end.saturating_duration_since(Timestamp::ZERO),
        ..PortalResult::default()
    };
    for t in &transfers {
        match &t.phase {
            Phase::Done(at) => {
                result.durations.push(at.saturating_duration_since(t.start));
                result.bytes += t.len;
            }
            Phase::Failed(why) => result.failures.push(format!(
                "{} <- {} ({} bytes): {why}",
                t.requester, t.holder, t.len
            )),
            other => result.failures.push(format!(
                "{} <- {} ({} bytes): unfinished, {other:?}, {} read",
                t.requester, t.holder, t.len, t.read
            )),
        }
    }
    for i in 0..cfg.nodes {
        let host = sim.host(addr(i));
        result.unknown_connection += host.endpoint.stats().unknown_connection;
        result.rejected += host.rejected;
        result.largest_packet = result.largest_packet.max(host.largest_sent);
    }
    result
}

/// One turn of one transfer's application logic at `now`.
fn advance(
    sim: &mut Sim<Overlay<NodeId>>,
    cfg: &PortalRun,
    t: &mut Transfer,
    now: Timestamp,
    buf: &mut [u8],
    rng: &mut Rng,
) {
    let (a, b) = (addr(t.requester), addr(t.holder));
    let (ida, idb) = (
        NodeId::from_index(t.requester),
        NodeId::from_index(t.holder),
    );
    match t.phase {
        Phase::Waiting if now >= t.start => {
            // The holder answers FINDCONTENT with an id it expects; one it
            // already uses with this peer is drawn again.
            let holder = &mut sim.host_mut(b).endpoint;
            loop {
                match holder.accept_with_id(now, ida, t.id, cfg.expect_timeout) {
                    Ok(h) => {
                        t.hb = Some(h);
                        break;
                    }
                    Err(ConnectError::IdInUse) => t.id = rng.u16(),
                    Err(e) => return t.phase = Phase::Failed(format!("accept_with_id: {e}")),
                }
            }
            t.phase = Phase::Requested {
                connect_at: now + cfg.link.latency,
            };
        }
        Phase::Requested { connect_at } if now >= connect_at => {
            match sim.host_mut(a).endpoint.connect_with_id(now, idb, t.id) {
                Ok(h) => {
                    t.ha = Some(h);
                    t.phase = Phase::Running;
                }
                // The requester uses that id with the holder already: a
                // real client would ask again; count it.
                Err(e) => return t.phase = Phase::Failed(format!("connect_with_id: {e}")),
            }
        }
        _ => {}
    }
    // The holder writes first, as soon as it expects the requester.
    let (tag, seed, total) = (t.tag(), t.seed(cfg.seed), t.len + HEADER);
    if let Some(hb) = t.hb {
        let holder = &mut sim.host_mut(b).endpoint;
        match holder.conn(hb) {
            None => t.hb = None,
            Some(mut c) => {
                // Only what a write takes is generated.
                let room = c.write_room() as u64;
                let n = (total - t.written).min(room).min(buf.len() as u64) as usize;
                if let Some(chunk) = buf.get_mut(..n).filter(|c| !c.is_empty()) {
                    fill_stream(tag, seed, t.written, chunk);
                    match c.write(chunk) {
                        Ok(k) => t.written += k as u64,
                        Err(Error::WouldBlock) => {}
                        Err(_) => {
                            // Its end (a timeout, a reset) shows at the
                            // requester too.
                            c.close();
                            t.hb = None;
                        }
                    }
                }
                if t.written == total {
                    c.shutdown();
                }
                // The requester's FIN ends it: read it, then release.
                loop {
                    match c.read(buf) {
                        Ok(0) | Err(Error::Closed(_)) => {
                            c.close();
                            t.hb = None;
                            break;
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
        }
    }
    if matches!(t.phase, Phase::Done(_) | Phase::Failed(_)) {
        return;
    }
    let Some(ha) = t.ha else { return };
    let Some(mut c) = sim.host_mut(a).endpoint.conn(ha) else {
        return t.phase = Phase::Failed("requester's connection vanished".into());
    };
    loop {
        match c.read(buf) {
            Ok(0) => {
                if t.read != total {
                    return t.phase = Phase::Failed(format!("EOF after {} of {total}", t.read));
                }
                t.phase = Phase::Done(now);
                c.shutdown();
                c.close();
                return;
            }
            Ok(n) => {
                if let Some(at) = check_stream(tag, seed, t.read, buf.get(..n).unwrap_or_default())
                {
                    return t.phase = Phase::Failed(format!("wrong byte at {at}"));
                }
                t.read += n as u64;
            }
            Err(Error::WouldBlock) => return,
            Err(Error::Closed(reason)) if reason != CloseReason::Finished => {
                return t.phase = Phase::Failed(format!("closed: {reason}"));
            }
            Err(e) => return t.phase = Phase::Failed(format!("read: {e}")),
        }
    }
}
