//! How to test your own sans-IO protocol with utp-sim.
//!
//! The protocol here is a toy: a client sends numbered pings, one at a
//! time, resending each after a retransmission timeout until the server's
//! pong comes back. The same shape fits any sans-IO endpoint: implement
//! [`Host`] by forwarding to your endpoint's `handle_*`/`poll_*` methods,
//! put the endpoints in a [`Sim`], shape the links, and drive it from the
//! test with `run_until`.
//!
//! Run it with `cargo run -p utp-sim --example ping [seed]`.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use utp_sim::{GilbertElliott, Host, LinkConfig, Sim, Timestamp, TraceMode, Transmit};

/// The client: pings `count` times, stop-and-wait, with a fixed RTO.
struct Client {
    server: SocketAddr,
    rto: Duration,
    count: u32,
    /// The ping in flight: its number and when it was first sent.
    current: Option<(u32, Timestamp)>,
    resend_at: Option<Timestamp>,
    send_now: bool,
    rtts: Vec<Duration>,
    resends: u32,
}

impl Client {
    fn new(server: SocketAddr, count: u32) -> Self {
        Client {
            server,
            rto: Duration::from_millis(250),
            count,
            current: None,
            resend_at: None,
            send_now: false,
            rtts: Vec::new(),
            resends: 0,
        }
    }

    /// What a test calls to start the protocol (application logic).
    fn start(&mut self, now: Timestamp) {
        self.current = Some((0, now));
        self.send_now = true;
    }

    fn done(&self) -> bool {
        self.rtts.len() as u32 == self.count
    }
}

/// The server: answers each ping with a pong carrying the same number.
#[derive(Default)]
struct Server {
    pending: Vec<(SocketAddr, u32)>,
    pings: u32,
}

/// Two host types in one simulation: an enum keeps each one reachable.
enum Node {
    Client(Client),
    Server(Server),
}

impl Node {
    fn client(&self) -> &Client {
        match self {
            Node::Client(c) => c,
            Node::Server(_) => panic!("not a client"),
        }
    }

    fn client_mut(&mut self) -> &mut Client {
        match self {
            Node::Client(c) => c,
            Node::Server(_) => panic!("not a client"),
        }
    }
}

impl Host for Node {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        let Ok(bytes) = <[u8; 5]>::try_from(data) else {
            return; // not ours
        };
        let n = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        match self {
            Node::Server(s) if bytes[0] == b'P' => {
                s.pings += 1;
                s.pending.push((from, n));
            }
            Node::Client(c) if bytes[0] == b'p' => {
                let Some((cur, first_sent)) = c.current else {
                    return;
                };
                if n != cur {
                    return; // a late pong for an earlier ping
                }
                c.rtts.push(now - first_sent);
                c.resend_at = None;
                c.current = (n + 1 < c.count).then_some((n + 1, now));
                c.send_now = c.current.is_some();
            }
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        if let Node::Client(c) = self {
            if c.resend_at.is_some_and(|t| now >= t) {
                c.resends += 1;
                c.send_now = true;
            }
        }
    }

    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        let (to, tag, n) = match self {
            Node::Client(c) => {
                if !std::mem::take(&mut c.send_now) {
                    return None;
                }
                let (n, _) = c.current?;
                c.resend_at = Some(now + c.rto);
                (c.server, b'P', n)
            }
            Node::Server(s) => {
                let (to, n) = s.pending.pop()?;
                (to, b'p', n)
            }
        };
        buf[0] = tag;
        buf[1..5].copy_from_slice(&n.to_be_bytes());
        Some(Transmit {
            to,
            len: 5,
            dont_fragment: true,
            source: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Timestamp> {
        match self {
            Node::Client(c) => c.resend_at,
            Node::Server(_) => None,
        }
    }
}

/// One run: 100 pings over a lossy, jittery, bursty path.
fn run(seed: u64, trace: bool) -> Result<Sim<Node>, Box<dyn std::error::Error>> {
    let client: SocketAddr = "192.0.2.1:50000".parse()?;
    let server: SocketAddr = "[2001:db8::1]:6881".parse()?;

    let mut sim = Sim::new(seed);
    sim.add_host(client, Node::Client(Client::new(server, 100)));
    sim.add_host(server, Node::Server(Server::default()));
    if trace {
        sim.set_trace(TraceMode::Last(8));
    }

    // A bad path: 40 ms each way, 10 ms of jitter, 2% random loss, plus
    // loss bursts averaging 3 datagrams.
    let path = LinkConfig {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(10),
        bandwidth: Some(1_000_000),
        queue_capacity: Some(16),
        loss: 0.02,
        burst_loss: Some(GilbertElliott::gilbert(0.02, 1.0 / 3.0)),
        ..LinkConfig::default()
    };
    sim.set_link_both(client, server, path)?;
    // And the server is unreachable for two seconds.
    sim.partition(
        client,
        server,
        Timestamp::from_secs(3),
        Timestamp::from_secs(5),
    );

    let now = sim.now();
    sim.host_mut(client).client_mut().start(now);
    // Fails with RunError::Deadline if the protocol gets stuck, or
    // RunError::Idle if it gives up (no timer, nothing in flight).
    let t = sim.run_until(Timestamp::from_secs(120), |sim| {
        sim.host(client).client().done()
    })?;
    println!("seed {seed}: 100 pings answered at {t:?}");
    Ok(sim)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1);

    let sim = run(seed, true)?;
    let client: SocketAddr = "192.0.2.1:50000".parse()?;

    let c = sim.host(client).client();
    let max = c.rtts.iter().max().copied().unwrap_or_default();
    let mean = c.rtts.iter().sum::<Duration>() / c.rtts.len().max(1) as u32;
    println!("rtt mean {mean:?}, max {max:?}; {} resends", c.resends);
    for (from, to, s) in sim.links() {
        println!(
            "{from} -> {to}: sent {}, delivered {}, lost {}, partitioned {}",
            s.sent, s.delivered, s.dropped.loss, s.dropped.partition
        );
    }
    println!("last events:");
    for e in sim.trace() {
        println!("  {e}");
    }

    // Determinism: the same seed replays the same run, event for event.
    let again = run(seed, false)?;
    assert_eq!(sim.trace_hash(), again.trace_hash());
    println!(
        "trace hash {:016x} (replayed identically)",
        sim.trace_hash()
    );
    Ok(())
}
