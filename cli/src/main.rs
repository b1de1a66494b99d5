//! # utpcat
//!
//! netcat over uTP ([BEP 29]), and a loopback demo of the utp crates.
//!
//! ```text
//! utpcat [-v|-vv] listen|-l [-4|-6] [-w SECS] [--map [--gateway IP]] [HOST:]PORT [--send FILE] [--recv FILE]
//!                           [--progress] [--stats] [--trace FILE.csv] [-q]
//! utpcat [-v|-vv] listen|-l -k [-4|-6] [-w SECS] [HOST:]PORT [--send FILE] [--stats] [--trace FILE.csv] [-q]
//! utpcat [-v|-vv] connect [-4|-6] [-s ADDR] [-p PORT] [-w SECS] [--connect-timeout SECS] HOST:PORT
//!                         [--send FILE] [--recv FILE] [--progress] [--stats] [--trace FILE.csv] [-q]
//! utpcat [-v|-vv] punch (--via HOST:PORT --name ME --peer OTHER | PEER_HOST:PORT) [--local [HOST:]PORT]
//!                       [--timeout SECS] [-4|-6] [-w SECS] [--send FILE] [--recv FILE] [--progress] [--stats] [-q]
//! utpcat introducer [-4|-6] [-q] [HOST:]PORT
//! utpcat demo [--bytes N] [--runtime tokio|async-std|mio] [--compare-tcp] [--no-batch]
//! utpcat plot TRACE.csv OUT.svg
//! ```
//!
//! `utpcat -l PORT`, `utpcat -l -k PORT` and `utpcat -lk PORT` are
//! `listen` as in nc.
//!
//! ## listen and connect
//!
//! `listen` waits on `[HOST:]PORT` (HOST defaults to `0.0.0.0`, with `-6`
//! to `::`; port 0 picks a free one) for one connection; `connect` opens
//! one to `HOST:PORT` (names resolve, IPv4 addresses first; `-4` or `-6`
//! takes only addresses of that family), from `-s ADDR` and `-p PORT` if
//! given (else the unspecified address of the remote's family and an
//! ephemeral port), trying for `--connect-timeout SECS` (default 10, or
//! `-w` if that is shorter). Either way, stdin goes to the peer and what
//! the peer sends goes to stdout. At the end of stdin utpcat half-closes
//! (sends a FIN) and keeps printing what arrives; it exits once both
//! directions are done, as libutp's `ucat` does.
//!
//! ```text
//! $ utpcat listen 9000 > received.txt          # prints "utpcat: listening on 0.0.0.0:9000"
//! $ echo hello | utpcat connect localhost:9000
//! ```
//!
//! `--send FILE` sends the file instead of stdin (then a FIN), `--recv
//! FILE` writes what arrives to FILE instead of stdout. With `--recv` and
//! no `--send`, a terminal on stdin is not read (nothing to type while a
//! file arrives); piped stdin still is. Transfers to or from files show a
//! progress bar on stderr (bytes, rate, RTT, retransmissions) when stderr
//! is a terminal, or as one line a second in a log with `--progress`, and
//! a summary at the end; `-q` silences everything but errors.
//!
//! `-w SECS` (`--idle-timeout`) ends a connection on which no data moved
//! either way for SECS: utpcat resets it and exits 4 (`utpcat: connection
//! with ADDR: nothing sent or received for 2s`). A listener waits for its
//! connection however long; the count starts then.
//!
//! When utpcat fails for a reason of its own (a file it cannot write), it
//! resets the connection and, before exiting, stays while the peer still
//! sends (up to 5 s), so that a lost RESET is answered again.
//!
//! A listener takes one connection: the first one whose initiator proved
//! that it receives what we send (the core hands out no other, so a
//! spoofed SYN never takes it). From then on further connection attempts
//! are refused (the peer's `connect` fails at once with "connection
//! refused"), and ones that were already waiting are reset.
//!
//! `--map` asks the gateway (`--gateway IP`, else the default route's) for
//! a public port forwarding to the listener, by PCP, NAT-PMP or UPnP IGD,
//! and says where it is reachable: `utpcat: reachable at 203.0.113.2:9000
//! (PCP mapping on 192.168.1.1, 3600 s, renewed)`. The mapping is renewed
//! while utpcat runs and removed when the listener ends (with `-k`, when
//! interrupted, the gateway's lifetime ends it). A gateway that answers none
//! of them (about 7 s) is an error (exit 4).
//!
//! ## listen --keep-open
//!
//! With `-k` (`--keep-open`, as in ncat) the listener serves connection
//! after connection, and several at once, on one socket until it is
//! interrupted (Ctrl-C, SIGTERM); the end of stdin does not stop it.
//!
//! - Every client receives `--send FILE` whole, or all of stdin: stdin is
//!   read once and kept in memory, and each client gets it from its
//!   beginning (a client that connects while stdin is still being read
//!   gets what was read so far, then the rest as it comes), then a FIN
//!   at the end of stdin. For large data, `--send FILE` keeps nothing in
//!   memory.
//! - What clients send goes to stdout one connection at a time, never
//!   interleaved: a connection takes stdout with its first byte and keeps
//!   it until its end; what the others send meanwhile is held in memory
//!   and written whole when their turn comes, in the order they began
//!   sending. (So a client that sends a little and stays open holds up
//!   the others' output, not their transfers.)
//! - `--recv` and `--progress` cannot be combined with `-k` (usage error).
//!   `--stats` prints the lines of every connection (`peer=` tells them
//!   apart); `-w` resets an idle connection, and the listener carries on.
//! - stderr says `utpcat: connection from ADDR` for each connection and
//!   `utpcat: ADDR done: sent N bytes, received M bytes` at its end, or
//!   the error that ended it; the listener carries on. A failure to write
//!   stdout ends it (exit 1).
//!
//! ```text
//! $ utpcat listen -k 9000 --send motd.txt > uploads.bin
//! ```
//!
//! ## Watching a connection
//!
//! - `--stats` prints a line a second on stderr, and one at the end (also
//!   with `-q`), for each connection:
//!
//!   ```text
//!   utpcat: stats peer=127.0.0.1:9000 t=1.000 sent=52428800 received=0 send_rate=52400000 recv_rate=0 cwnd=1048576 in_flight=524288 rtt_us=412 delay_us=96 retransmits=0
//!   utpcat: stats-end peer=127.0.0.1:9000 t=2.104 sent=104857600 received=0 send_rate=49837000 recv_rate=0 cwnd=1048576 in_flight=0 rtt_us=398 delay_us=80 retransmits=0
//!   ```
//!
//!   Always these keys in this order: the peer; seconds since the
//!   connection was established; payload bytes sent and received so far;
//!   bytes/s each way over the second before (at the end: over the
//!   connection); congestion window and bytes in flight; smoothed RTT and
//!   the queuing delay LEDBAT measures, in µs; DATA/FIN packets sent
//!   again so far.
//! - `-v` logs the utp crates' debug events (connections, RTOs, fast
//!   retransmits, PMTU changes) on stderr, `-vv` their trace events too
//!   (every packet); `RUST_LOG`, when set, decides instead (for example
//!   `RUST_LOG=utp::conn=debug`).
//! - `--trace FILE.csv` writes a row per packet sent or received, with
//!   the columns `t_us,dir,kind,seq,ack,len,cwnd,rtt_us,delay_us,in_flight`
//!   (the core's time in µs; `tx`/`rx`; `data`, `state`, `fin`, `reset`,
//!   `syn`; the sequence and ack numbers; payload bytes; the window, RTT,
//!   delay and bytes in flight then). `utpcat plot FILE.csv OUT.svg`
//!   draws it: congestion window, RTT, queuing delay, and throughput each
//!   way (bins of 100 ms, shorter for a trace under 10 s).
//!
//! ```text
//! $ utpcat connect host:9000 --send big.iso --stats --trace up.csv
//! $ utpcat plot up.csv up.svg
//! ```
//!
//! ## punch and introducer: through NATs
//!
//! `punch` connects two peers that are both behind NATs: both run it at
//! about the same time, and the connection then behaves as `connect`'s
//! (stdin/stdout, `--send`, `--recv`, `--stats`, `-w`). With `--via`, each
//! registers under `--name` with an introducer (`utpcat introducer PORT`
//! on a public host; it uses PORT and PORT + 1) and asks for `--peer`; the
//! introducer tells each the other's public address and both start a uTP
//! rendezvous (spec section 9). Without `--via`, give the peer's public
//! address, and bind a known local port with `--local`. `--timeout SECS`
//! (30) bounds the wait for the peer at the introducer and then the
//! rendezvous. stderr says `utpcat: punched through to `OTHER` at ADDR
//! (our public address ADDR)`. Failures: the introducer did not answer
//! within 5 s (exit 4), the peer never registered (`peer `OTHER` is
//! unknown to the introducer`, exit 1), nothing came through
//! (`cannot traverse the NATs to ...`, naming a symmetric NAT when the
//! introducer's two ports saw one, exit 4).
//!
//! ```text
//! public$ utpcat introducer 3478
//! alice$  utpcat punch --via 203.0.113.1:3478 --name alice --peer bob --send photo.jpg
//! bob$    utpcat punch --via 203.0.113.1:3478 --name bob --peer alice --recv photo.jpg
//! ```
//!
//! ## demo
//!
//! `utpcat demo` runs a listener and a client in one process over
//! 127.0.0.1, sends `--bytes` (default `256M`; suffixes K, M, G in powers
//! of 1024, optionally followed by `iB` or `B`) of deterministic
//! pseudo-random data, checks every byte on the receiving side, and prints
//! the runtime, time, throughput, RTT and the sender's retransmissions.
//! `--runtime` picks the adapter: `tokio` (default), `async-std`
//! (utp-async-std) or `mio` (utp-mio's blocking API, one thread per side).
//!
//! ```text
//! $ cargo run --release -p utpcat -- demo
//! ```
//!
//! ## Exit codes
//!
//! (`utpcat --help` lists them too.)
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | done (the demo's data verified) |
//! | 1 | any other error (a local file or stdin/stdout, the connection failed otherwise, the demo's data differed) |
//! | 2 | usage error, or a host that does not resolve (`utpcat: cannot resolve HOST: ...`) |
//! | 3 | connection refused |
//! | 4 | timed out (connecting, `--connect-timeout SECS`; idle, `-w SECS`; or later) |
//! | 5 | connection reset by the peer |
//!
//! [BEP 29]: https://www.bittorrent.org/beps/bep_0029.html

mod cat;
mod demo;
mod error;
mod logging;
mod pattern;
mod plot;
mod progress;
mod trace_csv;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{
    ArgAction, ArgGroup, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};

use crate::cat::{ConnectTo, Family, Meet, PunchTo, Watching};
use crate::error::Failure;

/// The connect timeout without `--connect-timeout` (or a shorter `-w`).
const CONNECT_TIMEOUT_SECS: f64 = 10.0;

/// netcat over uTP (BEP 29).
#[derive(Parser, Debug)]
#[command(name = "utpcat", version, about, long_about = None)]
struct Cli {
    /// Log to stderr: -v debug, -vv trace (RUST_LOG, if set, decides instead).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    // (`about` rather than a doc comment: rustdoc would read `[HOST:]` as a link.)
    #[command(
        short_flag = 'l',
        about = "Wait for a connection on [HOST:]PORT (with -k: any number), then pipe stdin to it and it to stdout \
(also: utpcat -l [-k] [HOST:]PORT)",
        after_help = "With -k, every client gets --send FILE or all of stdin (read once, kept in memory); \
what clients send goes to stdout one connection at a time, never interleaved (a connection \
holds stdout from its first byte to its end; the others are buffered meanwhile). \
Runs until interrupted (Ctrl-C); the end of stdin does not stop it. \
A listener waits for its connection however long; -w counts from then."
    )]
    Listen {
        /// Address to listen on: PORT or HOST:PORT (HOST defaults to 0.0.0.0, with -6 to ::).
        #[arg(value_name = "[HOST:]PORT")]
        addr: String,
        /// Serve connection after connection, several at once, until interrupted.
        #[arg(short = 'k', long, conflicts_with_all = ["recv", "progress"])]
        keep_open: bool,
        /// Ask the gateway for a public port forwarding here (PCP, NAT-PMP or UPnP), and print it; removed at the end.
        #[arg(long)]
        map: bool,
        /// The gateway --map asks [default: the default route's].
        #[arg(long, value_name = "IP", requires = "map")]
        gateway: Option<std::net::IpAddr>,
        #[command(flatten)]
        net: NetArgs,
        #[command(flatten)]
        io: IoArgs,
    },
    /// Connect to HOST:PORT, then pipe stdin to it and it to stdout.
    Connect {
        /// Address to connect to.
        #[arg(value_name = "HOST:PORT")]
        addr: String,
        /// Give up connecting after this many seconds [default: 10, or -w if shorter].
        #[arg(long, value_name = "SECS", value_parser = parse_secs)]
        connect_timeout: Option<f64>,
        /// Connect from this local address (an IP address or a name).
        #[arg(short, long, value_name = "ADDR")]
        source: Option<String>,
        /// Connect from this local port.
        #[arg(short = 'p', long, value_name = "PORT")]
        local_port: Option<u16>,
        #[command(flatten)]
        net: NetArgs,
        #[command(flatten)]
        io: IoArgs,
    },
    /// Connect to a peer behind a NAT: both run punch at about the same time, then pipe stdin to it and it to stdout.
    #[command(
        group(ArgGroup::new("meet").required(true).args(["via", "peer_addr"])),
        after_help = "With --via, both peers register with the introducer (utpcat introducer) under \
their --name and ask for the other's --peer; the introducer tells each the other's public address \
and both start a uTP rendezvous at once, which opens the way through NATs that keep a port per \
socket (most home routers; not symmetric NATs). Without --via, give the peer's public address: \
it runs `utpcat punch --local PORT` with ours."
    )]
    Punch {
        /// The peer's public address, when known already (instead of --via).
        #[arg(value_name = "PEER_HOST:PORT")]
        peer_addr: Option<String>,
        /// The introducer's address (it also uses PORT + 1).
        #[arg(long, value_name = "HOST:PORT", requires_all = ["name", "peer"])]
        via: Option<String>,
        /// Our name at the introducer.
        #[arg(long, value_name = "NAME", requires = "via")]
        name: Option<String>,
        /// The peer's name at the introducer.
        #[arg(long, value_name = "NAME", requires = "via")]
        peer: Option<String>,
        // (`help` rather than a doc comment: rustdoc would read `[HOST:]` as a link.)
        #[arg(
            long,
            value_name = "[HOST:]PORT",
            help = "The local address to bind [default: an ephemeral port]"
        )]
        local: Option<String>,
        /// How long to wait for the peer at the introducer, and then for the rendezvous.
        #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "30")]
        timeout: f64,
        #[command(flatten)]
        net: NetArgs,
        #[command(flatten)]
        io: IoArgs,
    },
    // (`about` rather than a doc comment: rustdoc would read `[HOST:]` as a link.)
    #[command(
        about = "Serve an introducer for punch on [HOST:]PORT and PORT + 1, until interrupted"
    )]
    Introducer {
        /// Address to serve on: PORT or HOST:PORT (HOST defaults to 0.0.0.0, with -6 to ::).
        #[arg(value_name = "[HOST:]PORT")]
        addr: String,
        /// IPv4 only.
        #[arg(short = '4', conflicts_with = "ipv6")]
        ipv4: bool,
        /// IPv6 only.
        #[arg(short = '6')]
        ipv6: bool,
        /// Print nothing but errors.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Transfer data between a listener and a client in this process over loopback, and verify it.
    Demo {
        /// Bytes to transfer (suffixes K, M, G: powers of 1024).
        #[arg(long, value_name = "N", default_value = "256M", value_parser = parse_size)]
        bytes: u64,
        /// The adapter to run on.
        #[arg(long, value_enum, default_value_t = Runtime::Tokio)]
        runtime: Runtime,
        /// Show a progress bar even when stderr is not a terminal.
        #[arg(long)]
        progress: bool,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
        /// Then move the same bytes over TCP on loopback (tokio) and print
        /// the uTP/TCP throughput ratio.
        #[arg(long)]
        compare_tcp: bool,
        /// One datagram per system call (no GSO/GRO batching), to compare.
        #[arg(long)]
        no_batch: bool,
    },
    /// Draw a --trace CSV file as an SVG: congestion window, RTT, queuing delay, throughput.
    Plot {
        /// The trace (written by --trace).
        #[arg(value_name = "TRACE.csv")]
        trace: PathBuf,
        /// The SVG file to write.
        #[arg(value_name = "OUT.svg")]
        out: PathBuf,
    },
}

/// Network options of `listen` and `connect`.
#[derive(Args, Debug)]
struct NetArgs {
    /// IPv4 only (names resolve to IPv4 addresses).
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    // (`help` rather than a doc comment: rustdoc would read `[::]` as a link.)
    #[arg(
        short = '6',
        help = "IPv6 only (names resolve to IPv6 addresses; a listener binds [::])"
    )]
    ipv6: bool,
    /// Fail (exit 4) when no data moved either way for this many seconds.
    #[arg(short = 'w', long, value_name = "SECS", value_parser = parse_secs)]
    idle_timeout: Option<f64>,
}

impl NetArgs {
    fn family(&self) -> Family {
        match (self.ipv4, self.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        }
    }
}

/// Options of `listen` and `connect`.
#[derive(Args, Debug)]
struct IoArgs {
    /// Send FILE instead of stdin, then half-close.
    #[arg(long, value_name = "FILE")]
    send: Option<PathBuf>,
    /// Write what arrives to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    recv: Option<PathBuf>,
    /// Show progress bars even when stderr is not a terminal.
    #[arg(long)]
    progress: bool,
    /// Print a line of connection stats (cwnd, RTT, rates, retransmits) every second, and at the end.
    #[arg(long)]
    stats: bool,
    /// Write every packet sent and received (time, type, numbers, cwnd, RTT, delay) to FILE as CSV.
    #[arg(long, value_name = "FILE.csv")]
    trace: Option<PathBuf>,
    /// Print nothing but errors (and --stats lines) on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// The adapters `demo` can run on.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runtime {
    /// utp-tokio on a multi-threaded tokio runtime.
    Tokio,
    /// utp-async-std on async-std's executor.
    AsyncStd,
    /// utp-mio's blocking API, a thread per side.
    Mio,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Tokio => "tokio",
            Runtime::AsyncStd => "async-std",
            Runtime::Mio => "mio (blocking)",
        }
    }
}

/// Parses a byte count: digits, then optionally K, M or G (powers of
/// 1024), then optionally `iB` or `B`; any case.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let stripped = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match stripped.char_indices().last() {
        Some((i, 'k')) => (stripped.get(..i), 10),
        Some((i, 'm')) => (stripped.get(..i), 20),
        Some((i, 'g')) => (stripped.get(..i), 30),
        Some((i, 't')) => (stripped.get(..i), 40),
        _ => (Some(stripped), 0),
    };
    let bad = || format!("`{text}` is not a size (examples: 1000, 64K, 16M, 1G)");
    let n: u64 = digits
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a positive number of seconds.
fn parse_secs(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 1e6 => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Listen {
            addr,
            keep_open,
            map,
            gateway,
            net,
            io,
        } => {
            let mut opts = options(io, &net, net.family());
            opts.map = map.then_some(cat::MapTo { gateway });
            cat::run(cat::Role::Listen { addr, keep_open }, opts)
        }
        Command::Connect {
            addr,
            connect_timeout,
            source,
            local_port,
            net,
            io,
        } => {
            // As in nc, -w bounds connecting too, unless told otherwise.
            let timeout = connect_timeout.unwrap_or_else(|| {
                net.idle_timeout
                    .map_or(CONNECT_TIMEOUT_SECS, |w| w.min(CONNECT_TIMEOUT_SECS))
            });
            let to = ConnectTo {
                addr,
                timeout: Duration::from_secs_f64(timeout),
                source,
                local_port,
                family: net.family(),
            };
            cat::run(cat::Role::Connect(to), options(io, &net, net.family()))
        }
        Command::Punch {
            peer_addr,
            via,
            name,
            peer,
            local,
            timeout,
            net,
            io,
        } => {
            let meet = match (via, name, peer, peer_addr) {
                (Some(via), Some(name), Some(peer), None) => Meet::Via { via, name, peer },
                (None, None, None, Some(addr)) => Meet::At(addr),
                // clap's group and `requires` leave no other case.
                _ => {
                    return Err(crate::error::Failure::Usage(
                        "give --via with --name and --peer, or PEER_HOST:PORT".into(),
                    ))
                }
            };
            let to = PunchTo {
                meet,
                local,
                timeout: Duration::from_secs_f64(timeout),
                family: net.family(),
                quiet: io.quiet,
            };
            cat::run(cat::Role::Punch(to), options(io, &net, net.family()))
        }
        Command::Introducer {
            addr,
            ipv4,
            ipv6,
            quiet,
        } => {
            let family = match (ipv4, ipv6) {
                (true, _) => Family::V4,
                (_, true) => Family::V6,
                _ => Family::Any,
            };
            cat::introducer(&addr, family, quiet)
        }
        Command::Demo {
            bytes,
            runtime,
            progress,
            quiet,
            compare_tcp,
            no_batch,
        } => demo::run(runtime, bytes, progress, quiet, compare_tcp, !no_batch),
        Command::Plot { trace, out } => plot::run(&trace, &out),
    }
}

fn options(a: IoArgs, net: &NetArgs, family: Family) -> cat::Options {
    cat::Options {
        send: a.send,
        recv: a.recv,
        progress: a.progress,
        quiet: a.quiet,
        family,
        watching: Watching {
            stats: a.stats,
            idle: net.idle_timeout.map(Duration::from_secs_f64),
        },
        map: None,
    }
}

/// The command line, with the exit codes in `--help`.
fn command() -> clap::Command {
    Cli::command().after_help(error::exit_codes_help())
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let trace = match &cli.command {
        Command::Listen { io, .. } | Command::Connect { io, .. } | Command::Punch { io, .. } => {
            io.trace.clone()
        }
        _ => None,
    };
    let result = logging::init(cli.verbose, trace.as_deref()).and_then(|logging| {
        let result = run(cli.command);
        let finished = logging.finish();
        result.and(finished)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("utpcat: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("20000000000G").is_err());
    }

    #[test]
    fn the_cli_is_consistent() {
        command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        command()
            .try_get_matches_from(args)
            .and_then(|m| Cli::from_arg_matches(&m))
    }

    /// `listen`'s address and -k, if `args` parse as `listen`.
    fn listening(args: &[&str]) -> Option<(String, bool)> {
        match parse(args).ok()?.command {
            Command::Listen {
                addr, keep_open, ..
            } => Some((addr, keep_open)),
            _ => None,
        }
    }

    #[test]
    fn dash_l_is_listen_as_in_nc() {
        let want = |addr: &str, k: bool| Some((addr.to_string(), k));
        assert_eq!(
            listening(&["utpcat", "listen", "9000"]),
            want("9000", false)
        );
        assert_eq!(listening(&["utpcat", "-l", "9000"]), want("9000", false));
        assert_eq!(
            listening(&["utpcat", "-l", "-k", "9000"]),
            want("9000", true)
        );
        assert_eq!(
            listening(&["utpcat", "-lk", "h:9000"]),
            want("h:9000", true)
        );
        assert_eq!(
            listening(&["utpcat", "-l", "9000", "-k"]),
            want("9000", true)
        );
        let cli = parse(&["utpcat", "-lkv6", "9000"]).unwrap();
        assert_eq!(cli.verbose, 1);
        let Command::Listen { net, .. } = cli.command else {
            panic!("not listen");
        };
        assert_eq!(net.family(), Family::V6);
        let cli = parse(&["utpcat", "-vv", "-l", "9000"]).unwrap();
        assert_eq!(cli.verbose, 2);
        assert!(parse(&["utpcat", "-l"]).is_err());
        assert!(parse(&["utpcat", "-l", "-4", "-6", "1"]).is_err());
    }

    #[test]
    fn connect_options() {
        let cli = parse(&[
            "utpcat",
            "connect",
            "-s",
            "127.0.0.1",
            "-p",
            "5000",
            "-w",
            "2.5",
            "-4",
            "h:1",
        ])
        .unwrap();
        let Command::Connect {
            source,
            local_port,
            net,
            connect_timeout,
            ..
        } = cli.command
        else {
            panic!("not connect");
        };
        assert_eq!(source.as_deref(), Some("127.0.0.1"));
        assert_eq!(local_port, Some(5000));
        assert_eq!(net.idle_timeout, Some(2.5));
        assert_eq!(net.family(), Family::V4);
        assert_eq!(connect_timeout, None);
    }

    #[test]
    fn help_lists_the_exit_codes() {
        // clap wraps the text to the terminal's width (100 columns without
        // one): compare with every run of whitespace made one space.
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let help = words(&command().render_long_help().to_string());
        for (code, meaning) in error::EXIT_CODES {
            let line = words(&format!("{code} {meaning}"));
            assert!(help.contains(&line), "{line:?} not in {help}");
        }
    }
}
