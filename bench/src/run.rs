//! The orchestrator: runs every (round, stack) transfer as two child
//! processes of this same binary, a receiver and a sender, and times it
//! from the sender's `start` line to the receiver's `done` line.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::stacks::Stack;
use crate::Res;

/// What one transfer measured.
#[derive(Clone, Debug)]
pub(crate) struct Measure {
    /// Payload bytes, received and verified.
    pub(crate) bytes: usize,
    /// From the sender's `start` (before connecting) to the receiver's `done`.
    pub(crate) secs: f64,
    /// Sender CPU (user + system) seconds.
    pub(crate) send_cpu: f64,
    /// Receiver CPU seconds.
    pub(crate) recv_cpu: f64,
    /// Our sender's counters (`retransmits=.. timeouts=.. tail_probes=..
    /// packets=.. acks=..`: packets sent, packets received);
    /// empty for the other stacks.
    pub(crate) sender_stats: String,
}

impl Measure {
    /// Payload Gbit/s (10^9 bits per second).
    pub(crate) fn gbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.secs.max(1e-9) / 1e9
    }
}

/// One child process and the lines it prints, each with its arrival time.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
}

impl Proc {
    fn spawn(args: &[String]) -> Res<Proc> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("child has no stdout")?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            child,
            stdin,
            lines,
        })
    }

    /// The next line, which must start with `prefix`; returns its arrival
    /// time and the rest of the line.
    fn expect(&self, prefix: &str, deadline: Instant) -> Res<(Instant, String)> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok((at, line)) => match line.strip_prefix(prefix) {
                Some(rest) => Ok((at, rest.trim().to_string())),
                None => Err(format!("expected `{prefix}`, got `{line}`").into()),
            },
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("timed out waiting for `{prefix}`").into())
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(format!("child exited before `{prefix}`").into())
            }
        }
    }

    fn say(&mut self, line: &str) -> Res<()> {
        let stdin = self.stdin.as_mut().ok_or("child stdin closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits up to `grace` for the child to exit, then kills it.
    fn finish(mut self, grace: Duration) {
        drop(self.stdin.take());
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn args(role: &str, stack: Stack, bytes: usize, seed: u64, cpu: Option<usize>) -> Vec<String> {
    let mut args = vec![
        "--role".into(),
        role.into(),
        "--stack".into(),
        stack.name().into(),
        "--bytes".into(),
        bytes.to_string(),
        "--seed".into(),
        seed.to_string(),
    ];
    if let Some(cpu) = cpu {
        args.extend(["--cpu".to_string(), cpu.to_string()]);
    }
    args
}

/// One transfer of `bytes` (pattern of `seed`) on `stack`, within
/// `timeout`; with `pin`, the receiver on the first CPU and the sender on
/// the second.
pub(crate) fn transfer(
    stack: Stack,
    bytes: usize,
    seed: u64,
    timeout: Duration,
    pin: Option<(usize, usize)>,
) -> Res<Measure> {
    let deadline = Instant::now() + timeout;
    let recv = Proc::spawn(&args("recv", stack, bytes, seed, pin.map(|p| p.0)))?;
    let (_, addr) = recv.expect("ready ", deadline)?;
    let addr: SocketAddr = addr.parse()?;
    let mut send_args = args("send", stack, bytes, seed, pin.map(|p| p.1));
    send_args.extend(["--addr".to_string(), addr.to_string()]);
    let mut send = Proc::spawn(&send_args)?;
    let (t0, _) = send.expect("start", deadline)?;
    let (t1, _) = recv.expect("done", deadline)?;
    let (_, recv_cpu) = recv.expect("cpu ", deadline)?;
    let (_, verified) = recv.expect("verified ", deadline)?;
    send.say("stop")?;
    send.expect("written", deadline)?;
    let (_, mut line) = send.expect("", deadline)?;
    let mut sender_stats = String::new();
    if let Some(stats) = line.strip_prefix("stats ") {
        sender_stats = stats.to_string();
        line = send.expect("", deadline)?.1;
    }
    let send_cpu = line
        .strip_prefix("cpu ")
        .ok_or(format!("expected `cpu`, got `{line}`"))?;
    if verified != "ok" {
        return Err(format!("receiver: {verified}").into());
    }
    recv.finish(Duration::from_secs(5));
    send.finish(Duration::from_secs(5));
    Ok(Measure {
        bytes,
        secs: (t1 - t0).as_secs_f64(),
        send_cpu: send_cpu.trim().parse()?,
        recv_cpu: recv_cpu.parse()?,
        sender_stats,
    })
}
