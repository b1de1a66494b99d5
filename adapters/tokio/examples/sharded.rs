//! A server with many connections on one port, on one socket against
//! several (`ShardedListener`, `SO_REUSEPORT`, Linux): `--clients`
//! client sockets (one connection each, default 64) all send `--mib` MiB
//! (default 16) to the server at once, on tokio's multi-thread runtime;
//! printed for each shard count and round (interleaved): the aggregate
//! throughput, the process's CPU seconds per GiB moved (clients and
//! server share the process and the cores) and the kernel's share of
//! them, the datagrams per receive call at the server (GRO coalescing),
//! and the datagrams the kernel dropped at the server's port. Then the
//! median of each. `--recv-kib K`
//! sets each shard's receive buffer (default 4096), to tell the second
//! thread's share of a gain from the second buffer's.
//!
//! ```sh
//! cargo run --release -p utp-tokio --example sharded -- --clients 64 --mib 16 --shards 1,2 --rounds 5
//! cargo run --release -p utp-tokio --example sharded -- --clients 64 --mib 16 --recv-kib 2048 --rounds 5
//! cargo run --release -p utp-tokio --example sharded -- --clients 8 --mib 64 --rounds 5
//! ```
//!
//! Measured on a 2-core machine loaded by other work (load average 5 to
//! 6), medians of 5 interleaved rounds, 1 shard against 2:
//!
//! | clients x MiB | receive buffer | MiB/s, 1 / 2 shards | CPU s/GiB | dropped at the server |
//! |---|---|---|---|---|
//! | 64 x 16 | 4 MiB each | 96 / 136 | 5.51 / 3.74 | 460-777 / 0-68 |
//! | 64 x 16 | 2 MiB each | 109 / 139 | 4.63 / 3.65 | 2211-2684 / 190-256 |
//! | 8 x 64 | 4 MiB each | 338 / 333 | 1.44 / 1.36 | 0 / 0 |
//!
//! With many connections two shards move about 1.4x as much for two
//! thirds of the CPU per byte, also against one shard with the same total
//! buffer (2 x 2 MiB against 1 x 4 MiB); the server then takes 12 to 15
//! datagrams per receive call instead of 7 and drops a tenth as many.
//! With 8 connections it makes no difference. The process used about
//! half a core in all runs (the rest went to other work), so these show
//! the cost per byte, not what two idle cores would reach.

use std::collections::BTreeSet;
use std::error::Error;
use std::io;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{DriverConfig, ShardedListener, UtpSocket};

#[allow(dead_code)]
#[path = "support/procfs.rs"]
mod procfs;

/// What one run measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Figures {
    /// Payload MiB/s, all connections together.
    pub(crate) mib_per_s: f64,
    /// The process's CPU seconds per GiB of payload.
    pub(crate) cpu_per_gib: f64,
    /// The share of that CPU time spent in the kernel.
    pub(crate) kernel_share: f64,
    /// Datagrams per receive call at the server (GRO coalescing).
    pub(crate) per_recv: f64,
    /// Datagrams the kernel dropped at the server's port.
    pub(crate) drops: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (mut clients, mut mib, mut rounds) = (64usize, 16usize, 3usize);
    let mut recv_kib = None;
    let mut shard_counts = vec![1usize, 2];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--clients", Some(v)) => clients = v.parse()?,
            ("--mib", Some(v)) => mib = v.parse()?,
            ("--rounds", Some(v)) => rounds = v.parse()?,
            ("--recv-kib", Some(v)) => recv_kib = Some(v.parse::<usize>()?),
            ("--shards", Some(v)) => {
                shard_counts = v.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            _ => return Err(
                "usage: sharded [--clients N] [--mib M] [--shards 1,2] [--rounds R] [--recv-kib K]"
                    .into(),
            ),
        }
    }
    println!(
        "{clients} clients x {mib} MiB at once, {} worker threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut all: Vec<Vec<Figures>> = vec![Vec::new(); shard_counts.len()];
    for round in 1..=rounds {
        for (&shards, runs) in shard_counts.iter().zip(all.iter_mut()) {
            let f = run(shards, clients, mib, recv_kib).await?;
            println!("round {round}, {shards} shard(s): {}", describe(&f));
            runs.push(f);
        }
    }
    for (shards, runs) in shard_counts.iter().zip(&all) {
        let median = |key: fn(&Figures) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(key).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        println!(
            "median, {shards} shard(s): {:.0} MiB/s ({:.2} Gbit/s), {:.2} CPU s/GiB",
            median(|f| f.mib_per_s),
            median(|f| f.mib_per_s) * 8.0 * 1.048_576 / 1000.0,
            median(|f| f.cpu_per_gib),
        );
    }
    Ok(())
}

fn describe(f: &Figures) -> String {
    format!(
        "{:.0} MiB/s ({:.2} Gbit/s), {:.2} CPU s/GiB ({:.0}% in the kernel), server: {:.1} \
         datagrams per receive call, {} dropped",
        f.mib_per_s,
        f.mib_per_s * 8.0 * 1.048_576 / 1000.0,
        f.cpu_per_gib,
        f.kernel_share * 100.0,
        f.per_recv,
        f.drops
    )
}

/// How much a client writes, and the server reads, at a time.
const CHUNK: usize = 64 << 10;

/// One run: a listener of `shards` shards on 127.0.0.1, `clients` client
/// sockets (at most 256) connected to it, then `mib` MiB from each at
/// once. Every byte client `c` sends is `c`, so the server checks each
/// stream cheaply (all bytes equal, the right count, every client once)
/// and answers with the count, which the client checks. `recv_kib`: each
/// shard's receive buffer, if not the default (4 MiB).
pub(crate) async fn run(
    shards: usize,
    clients: usize,
    mib: usize,
    recv_kib: Option<usize>,
) -> Result<Figures, Box<dyn Error>> {
    let clients = clients.clamp(1, 256);
    let len = (mib << 20) as u64;
    let listener = ShardedListener::bind("127.0.0.1:0", shards, |_| {
        let mut config = DriverConfig::default();
        if let Some(kib) = recv_kib {
            config.socket.recv_buffer = Some(kib << 10);
        }
        if let Some(listen) = config.listen.as_mut() {
            listen.backlog = listen.backlog.max(clients);
        }
        config
    })
    .await?;
    let addr = listener.local_addr()?;
    let drops_before = procfs::udp_drops(addr.port());
    let receiving = {
        let listener = listener.clone();
        tokio::spawn(async move {
            let mut readers = tokio::task::JoinSet::new();
            for _ in 0..clients {
                let (mut s, _) = listener.accept().await?;
                readers.spawn(async move {
                    // The client's number, and that all its bytes are it.
                    let mut buf = vec![0u8; CHUNK];
                    let (mut got, mut first, mut intact) = (0u64, None, true);
                    loop {
                        let n = s.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        let id = *first.get_or_insert(buf.first().copied().unwrap_or(0));
                        intact &= buf.get(..n).is_some_and(|b| b.iter().all(|&x| x == id));
                        got += n as u64;
                    }
                    // The acceptor answers with the count it got.
                    s.write_all(&got.to_be_bytes()).await?;
                    s.shutdown().await?;
                    io::Result::Ok((first, got, intact))
                });
            }
            let mut seen = BTreeSet::new();
            while let Some(done) = readers.join_next().await {
                let (first, got, intact) = done.map_err(io::Error::other)??;
                if !intact || got != len || !first.is_some_and(|id| seen.insert(id)) {
                    return Err(io::Error::other("a transfer arrived damaged"));
                }
            }
            io::Result::Ok(seen.len())
        })
    };
    let mut streams = Vec::with_capacity(clients);
    for _ in 0..clients {
        let socket =
            UtpSocket::bind_with("127.0.0.1:0", DriverConfig::default().outgoing_only()).await?;
        streams.push(socket.connect(addr).await?);
    }
    let (t, cpu) = (Instant::now(), procfs::cpu_split());
    let mut writers = tokio::task::JoinSet::new();
    for (c, mut s) in streams.into_iter().enumerate() {
        writers.spawn(async move {
            let chunk = vec![c as u8; CHUNK];
            let mut left = len;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                s.write_all(chunk.get(..n).unwrap_or(&chunk)).await?;
                left -= n as u64;
            }
            s.shutdown().await?;
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).await?;
            match answer == len.to_be_bytes() {
                true => io::Result::Ok(()),
                false => Err(io::Error::other("the server counted other bytes")),
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    let took = t.elapsed().as_secs_f64();
    let (user, kernel) = procfs::cpu_split();
    let (user, kernel) = (user - cpu.0, kernel - cpu.1);
    let cpu = user + kernel;
    let (datagrams, calls) = listener.shards().iter().fold((0, 0), |(d, c), shard| {
        let stats = shard.driver_stats();
        (d + stats.datagrams_received, c + stats.recv_calls)
    });
    if receiving.await?? != clients {
        return Err("not every client was served".into());
    }
    let total = len as f64 * clients as f64;
    Ok(Figures {
        mib_per_s: total / f64::from(1 << 20) / took,
        cpu_per_gib: cpu / (total / f64::from(1 << 30)),
        kernel_share: if cpu > 0.0 { kernel / cpu } else { 0.0 },
        per_recv: datagrams as f64 / calls.max(1) as f64,
        drops: procfs::udp_drops(addr.port()).saturating_sub(drops_before),
    })
}
