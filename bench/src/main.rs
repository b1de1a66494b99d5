//! `utp-bench`: two-process throughput over loopback of our uTP stack
//! (each adapter) against librqbit-utp, libutp, utp-rs and TCP.
//!
//! ```text
//! cargo run --release -p utp-bench -- --mib 64 --rounds 5
//! ```
//!
//! Each transfer runs as two child processes of this binary (`--role recv`
//! and `--role send`), so that each side's CPU time is its own; the rounds
//! interleave the stacks (every stack's round 1, then every stack's round
//! 2, ...), so that a slow minute of the machine touches all stacks alike.
//! The receiver checks the payload (the interop tests' seeded pattern)
//! byte for byte. See README.md for the columns. The exit status is 1 when
//! any run failed (the table is printed all the same).

mod child;
mod memory;
mod report;
mod run;
mod stacks;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::report::StackResults;
use crate::stacks::Stack;

/// The error type of the bench (it is a program: errors are reported, not
/// matched on).
pub(crate) type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MIB: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Role {
    Recv,
    Send,
}

/// Two-process uTP throughput over loopback: ours (each adapter) against
/// librqbit-utp, libutp, utp-rs and TCP, receiver-verified, interleaved rounds.
#[derive(Parser, Debug)]
#[command(name = "utp-bench")]
struct Args {
    /// Payload per transfer, MiB (utp-rs moves at most 48: its sequence
    /// numbers roll over after 2^16 packets and it stalls).
    #[arg(long, default_value_t = 64)]
    mib: usize,
    /// Rounds; each runs every stack once.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Stacks to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    stacks: Vec<Stack>,
    /// A transfer taking longer than this many seconds is killed and
    /// counted as failed.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Pin the receiver to CPU 0 and the sender to CPU 1, every thread of
    /// each (Linux, two CPUs or more): the scheduler then never puts a
    /// thread of one side beside the other's, which on a two-core machine
    /// moves the multi-thread runtimes' figures most (see bench/README).
    /// Every stack is pinned alike.
    #[arg(long)]
    pin: bool,
    /// Child: the CPU to pin itself to (internal).
    #[arg(long, hide = true)]
    cpu: Option<usize>,
    /// Child process role (internal).
    #[arg(long, value_enum, hide = true)]
    role: Option<Role>,
    /// Child: the stack (internal).
    #[arg(long, value_enum, hide = true)]
    stack: Option<Stack>,
    /// Child: payload bytes (internal).
    #[arg(long, hide = true)]
    bytes: Option<usize>,
    /// Child: payload seed (internal).
    #[arg(long, hide = true, default_value_t = 0)]
    seed: u64,
    /// Child sender: the receiver's address (internal).
    #[arg(long, hide = true)]
    addr: Option<SocketAddr>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.role {
        Some(role) => child_main(role, &args),
        None => bench_main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("utp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn child_main(role: Role, args: &Args) -> Res<()> {
    let stack = args.stack.ok_or("--stack is required with --role")?;
    let bytes = args.bytes.ok_or("--bytes is required with --role")?;
    if let Some(cpu) = args.cpu {
        pin_to(cpu)?;
    }
    match role {
        Role::Recv => child::receive(stack, bytes, args.seed),
        Role::Send => {
            let addr = args.addr.ok_or("--addr is required with --role send")?;
            child::send(stack, addr, bytes, args.seed)
        }
    }
}

/// How the header lines say `--pin` is on.
const PINNED: &str = ", receiver pinned to CPU 0 and sender to CPU 1";

/// Pins this process (its threads made from now on) to `cpu`.
#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) -> Res<()> {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpu: usize) -> Res<()> {
    Err("--pin works on Linux only".into())
}

/// Where `ucat` (libutp's C example client) is, if on PATH. libutp-rs2-sys
/// bundles only the library sources (no ucat.c), so the bench cannot build it.
/// Returns the table cell and a note.
fn ucat() -> (&'static str, String) {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("ucat"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => (
            "not run",
            format!(
                "found at {}, but this bench does not drive it yet",
                p.display()
            ),
        ),
        None => (
            "not found",
            "not on PATH, and libutp-rs2-sys bundles the library without ucat.c to build it from"
                .to_string(),
        ),
    }
}

fn bench_main(args: &Args) -> Res<()> {
    let stacks = if args.stacks.is_empty() {
        Stack::ALL.to_vec()
    } else {
        args.stacks.clone()
    };
    let bytes = args.mib.checked_mul(MIB).ok_or("--mib too large")?;
    let timeout = Duration::from_secs(args.timeout);
    let pin = match args.pin {
        false => None,
        true if std::thread::available_parallelism().map_or(0, |n| n.get()) >= 2 => Some((0, 1)),
        true => return Err("--pin needs two CPUs".into()),
    };
    let mut results: Vec<StackResults> = stacks
        .iter()
        .map(|&stack| StackResults {
            stack,
            mib: stack.payload_len(bytes) / MIB,
            ok: BTreeMap::new(),
            failed: Vec::new(),
        })
        .collect();
    eprintln!(
        "utp-bench: {} MiB, {} rounds, {} stacks, two processes over 127.0.0.1{}",
        args.mib,
        args.rounds,
        stacks.len(),
        if pin.is_some() { PINNED } else { "" }
    );
    for round in 1..=args.rounds {
        for r in results.iter_mut() {
            let len = r.stack.payload_len(bytes);
            let seed = 0xBE_0000 + round as u64;
            match run::transfer(r.stack, len, seed, timeout, pin) {
                Ok(m) => {
                    eprintln!(
                        "round {round}/{} {:>14}: {:7.2} Gbit/s in {:.3} s, CPU send {:.3} s, recv {:.3} s {}",
                        args.rounds,
                        r.stack.name(),
                        m.gbit_per_s(),
                        m.secs,
                        m.send_cpu,
                        m.recv_cpu,
                        m.sender_stats
                    );
                    r.ok.insert(round, m);
                }
                Err(e) => {
                    eprintln!(
                        "round {round}/{} {:>14}: FAILED: {e}",
                        args.rounds,
                        r.stack.name()
                    );
                    r.failed.push(format!("round {round}: {e}"));
                }
            }
        }
    }
    println!(
        "\n{} MiB per transfer (utp-rs at most 48), {} interleaved rounds, receiver-verified{}; \
         stalls = runs below half the stack's median\n",
        args.mib,
        args.rounds,
        if pin.is_some() { PINNED } else { "" }
    );
    let (cell, note) = ucat();
    print!("{}", report::table(&results, (cell, &note)));
    let many = [
        Stack::OursTokioCt100,
        Stack::OursTokioCt100Copy,
        Stack::Tcp100,
    ];
    if results.iter().any(|r| many.contains(&r.stack)) {
        println!("\n{}", memory::reference(bytes));
    }
    let failed: usize = results.iter().map(|r| r.failed.len()).sum();
    if failed > 0 {
        return Err(format!("{failed} runs failed (see the table)").into());
    }
    Ok(())
}
