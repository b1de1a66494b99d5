//! Toy hosts and helpers shared by the network tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use utp_sim::{Host, LinkConfig, RunError, Sim, Timestamp, Transmit};

/// A toy host: sends what the test queues, records what it receives,
/// optionally echoes, and optionally keeps a periodic timer.
#[derive(Default)]
pub(crate) struct Node {
    pub(crate) outbox: VecDeque<(SocketAddr, Vec<u8>, bool)>,
    pub(crate) received: Vec<(Timestamp, SocketAddr, Vec<u8>)>,
    /// Count datagrams instead of keeping them.
    pub(crate) discard: bool,
    pub(crate) count: u64,
    pub(crate) echo: bool,
    /// Periodic timer: fires every `period`, sending `(to, seq)` until `left` is 0.
    pub(crate) pace: Option<Pace>,
    pub(crate) timeouts: Vec<Timestamp>,
    /// A fixed answer for poll_timeout (to test the timer rules).
    pub(crate) fixed_deadline: Option<Timestamp>,
}

pub(crate) struct Pace {
    pub(crate) to: SocketAddr,
    pub(crate) period: Duration,
    pub(crate) next: Timestamp,
    pub(crate) left: u32,
    pub(crate) seq: u32,
    pub(crate) size: usize,
}

impl Node {
    pub(crate) fn echo() -> Self {
        Node {
            echo: true,
            ..Node::default()
        }
    }

    pub(crate) fn send(&mut self, to: SocketAddr, data: &[u8]) {
        self.outbox.push_back((to, data.to_vec(), true));
    }

    pub(crate) fn send_seq(&mut self, to: SocketAddr, seq: u32, size: usize) {
        let mut data = vec![0u8; size.max(4)];
        data[..4].copy_from_slice(&seq.to_be_bytes());
        self.outbox.push_back((to, data, true));
    }

    /// Sequence numbers of received datagrams, in arrival order.
    pub(crate) fn seqs(&self) -> Vec<u32> {
        self.received
            .iter()
            .map(|(_, _, d)| u32::from_be_bytes(d[..4].try_into().unwrap()))
            .collect()
    }

    pub(crate) fn times(&self) -> Vec<u64> {
        self.received
            .iter()
            .map(|(t, _, _)| t.as_micros())
            .collect()
    }
}

impl Host for Node {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        self.count += 1;
        if !self.discard {
            self.received.push((now, from, data.to_vec()));
        }
        if self.echo {
            self.outbox.push_back((from, data.to_vec(), true));
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.timeouts.push(now);
        if let Some(p) = &mut self.pace {
            while p.left > 0 && p.next <= now {
                let mut data = vec![0u8; p.size.max(4)];
                data[..4].copy_from_slice(&p.seq.to_be_bytes());
                self.outbox.push_back((p.to, data, true));
                p.seq += 1;
                p.left -= 1;
                p.next += p.period;
            }
        }
    }

    fn poll_transmit(&mut self, _now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        let (to, data, dont_fragment) = self.outbox.pop_front()?;
        buf[..data.len()].copy_from_slice(&data);
        Some(Transmit {
            to,
            len: data.len(),
            dont_fragment,
            source: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Timestamp> {
        if self.fixed_deadline.is_some() {
            return self.fixed_deadline;
        }
        self.pace.as_ref().filter(|p| p.left > 0).map(|p| p.next)
    }
}

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn a() -> SocketAddr {
    addr("10.0.0.1:1000")
}

pub(crate) fn b() -> SocketAddr {
    addr("10.0.0.2:2000")
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn t_ms(n: u64) -> Timestamp {
    Timestamp::from_millis(n)
}

pub(crate) fn pair(seed: u64, config: LinkConfig) -> Sim<Node> {
    let mut sim = Sim::new(seed);
    sim.add_host(a(), Node::default());
    sim.add_host(b(), Node::default());
    sim.set_link(a(), b(), config).unwrap();
    sim
}

/// Runs until nothing is pending.
pub(crate) fn drain(sim: &mut Sim<Node>) {
    match sim.run_until(Timestamp::MAX, |_| false) {
        Err(RunError::Idle { .. }) => {}
        other => panic!("expected idle, got {other:?}"),
    }
}

/// `a` sends `n` datagrams of `size` bytes to `b`, one every `period`.
pub(crate) fn paced(sim: &mut Sim<Node>, n: u32, period: Duration, size: usize) {
    let next = sim.now();
    sim.host_mut(a()).pace = Some(Pace {
        to: b(),
        period,
        next,
        left: n,
        seq: 0,
        size,
    });
}
