//! The two child roles: a receiver and a sender of one transfer, each its own
//! process so that its CPU time (`getrusage`) is its own.
//!
//! The orchestrator reads their stdout line by line:
//! - receiver: `ready <addr>`, `done` (the last byte is in), `cpu <secs>`,
//!   then `verified ok` or `verified FAIL <why>`;
//! - sender: `start` (just before it connects), `written`, and after the
//!   orchestrator writes `stop` to its stdin, for ours `stats ...`, then
//!   `cpu <secs>`.
//!
//! CPU seconds are user + system time from `ready` to `done` (receiver) and
//! from `start` to `stop` (sender): the payload is generated before and
//! checked after, outside the measured span.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};
use utp_interop::data::{pattern, verify};
use utp_tokio::ConnStats;

use crate::stacks::Stack;
use crate::Res;

/// User + system CPU time of this process so far.
fn cpu_now() -> Res<Duration> {
    let u = getrusage(UsageWho::RUSAGE_SELF)?;
    let (user, sys) = (u.user_time(), u.system_time());
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    Ok(micros(user) + micros(sys))
}

/// Prints one protocol line and flushes it at once (the orchestrator
/// timestamps `start` and `done` when they arrive).
fn say(line: &str) -> Res<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// What a stack's side reports through; it also keeps the CPU clock.
/// (`Clone`: a copy may report from a spawned task.)
#[derive(Clone)]
pub(crate) struct Reporter {
    cpu_start: Duration,
}

impl Reporter {
    fn new() -> Res<Reporter> {
        Ok(Reporter {
            cpu_start: cpu_now()?,
        })
    }

    /// Receiver: listening on `addr`; the CPU clock starts.
    pub(crate) fn ready(&mut self, addr: SocketAddr) -> Res<()> {
        self.cpu_start = cpu_now()?;
        say(&format!("ready {addr}"))
    }

    /// Receiver: every byte has arrived; the CPU clock stops.
    pub(crate) fn done(&mut self) -> Res<()> {
        say("done")?;
        let cpu = cpu_now()?.saturating_sub(self.cpu_start);
        say(&format!("cpu {:.6}", cpu.as_secs_f64()))
    }

    /// Sender: about to connect; the CPU clock starts.
    pub(crate) fn start(&mut self) -> Res<()> {
        self.cpu_start = cpu_now()?;
        say("start")
    }

    /// Sender: the stack took every byte (it may still be sending them).
    pub(crate) fn written(&mut self) -> Res<()> {
        say("written")
    }

    /// Sender: blocks until the orchestrator says `stop` (the receiver has
    /// everything). Call it where blocking the thread does not stop the
    /// stack (tokio stacks: `spawn_blocking`), then [`Reporter::stopped`].
    pub(crate) fn wait_stop() -> Res<()> {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(())
    }

    /// Sender, after `stop`: reports our connection's counters (`stats`
    /// line: retransmits, RTO timeouts, tail-loss probes; ours only) and
    /// the CPU time.
    pub(crate) fn stopped(&self, stats: Option<&ConnStats>) -> Res<()> {
        let cpu = cpu_now()?.saturating_sub(self.cpu_start);
        if let Some(st) = stats {
            say(&format!(
                "stats retransmits={} timeouts={} tail_probes={} packets={} acks={}",
                st.retransmits, st.timeouts, st.tail_probes, st.packets_sent, st.packets_received
            ))?;
        }
        say(&format!("cpu {:.6}", cpu.as_secs_f64()))
    }
}

/// Runs the receiver: `bytes` from one connection on `stack`, checked
/// against the pattern of `seed`.
pub(crate) fn receive(stack: Stack, bytes: usize, seed: u64) -> Res<()> {
    let want = pattern(bytes, seed);
    // Written once, so that its pages are mapped before the clock starts.
    let mut got = vec![0xA5u8; bytes];
    let mut rep = Reporter::new()?;
    crate::stacks::receive(stack, &mut got, &mut rep)?;
    match verify(stack.name(), &got, &want) {
        Ok(()) => say("verified ok"),
        Err(why) => say(&format!("verified FAIL {why}")),
    }
}

/// Runs the sender: `bytes` of the pattern of `seed` to `addr` on `stack`.
pub(crate) fn send(stack: Stack, addr: SocketAddr, bytes: usize, seed: u64) -> Res<()> {
    // A `Bytes`, so that `write_bytes` rows hand it over without a copy.
    let payload = bytes::Bytes::from(pattern(bytes, seed));
    let mut rep = Reporter::new()?;
    crate::stacks::send(stack, addr, &payload, &mut rep)
}
