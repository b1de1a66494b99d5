//! Many connections on one socket over real loopback UDP: N idle
//! connections between a client socket and a server socket (default
//! 10,000), then a bulk transfer on one of them while the others stay
//! open. Prints the time to open them, the process's memory per
//! connection, the CPU one second of the idle connections costs, and the
//! transfer's throughput. With `--parallel K`, instead: `--mib` MiB split
//! over K connections that all send at once, and their aggregate
//! throughput against one connection's.
//!
//! ```sh
//! cargo run --release -p utp-tokio --example many_connections -- --connections 10000
//! cargo run --release -p utp-tokio --example many_connections -- --parallel 100
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{DriverConfig, UtpSocket, UtpStream};

#[allow(dead_code)]
#[path = "support/procfs.rs"]
mod procfs;
use procfs::{cpu_seconds, rss_kib};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut n: usize = 10_000;
    let mut mib = 64usize;
    let mut parallel = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--connections", Some(v)) => n = v.parse()?,
            ("--mib", Some(v)) => mib = v.parse()?,
            ("--parallel", Some(v)) => parallel = Some(v.parse()?),
            _ => {
                return Err(
                    "usage: many_connections [--connections N] [--mib M] [--parallel K]".into(),
                )
            }
        }
    }
    match parallel {
        Some(k) => {
            let one = aggregate(1, mib).await?;
            let many = aggregate(k, mib).await?;
            println!(
                "{mib} MiB over one connection: {one:.0} MiB/s; over {k} at once: {many:.0} MiB/s \
                 in aggregate ({:.2}x)",
                many / one
            );
        }
        None => println!("{}", run(n, mib, Duration::from_secs(5)).await?),
    }
    Ok(())
}

/// `mib` MiB split over `k` connections of one socket pair, all sending at
/// once, each checked; the aggregate MiB/s.
pub(crate) async fn aggregate(k: usize, mib: usize) -> Result<f64, Box<dyn Error>> {
    let k = k.max(1);
    let server = UtpSocket::bind("127.0.0.1:0").await?;
    let client =
        UtpSocket::bind_with("127.0.0.1:0", DriverConfig::default().outgoing_only()).await?;
    let addr = server.local_addr()?;
    let share = (mib << 20) / k;
    let receiving = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut readers = tokio::task::JoinSet::new();
            for _ in 0..k {
                let (mut s, _) = server.accept().await?;
                readers.spawn(async move {
                    let mut got = Vec::with_capacity(share);
                    s.read_to_end(&mut got).await.map(|_| got)
                });
            }
            let mut intact = true;
            while let Some(got) = readers.join_next().await {
                let got = got.map_err(std::io::Error::other)??;
                intact &= got.len() == share && got.iter().all(|&b| b == 0xa5);
            }
            std::io::Result::Ok(intact)
        })
    };
    let mut streams = Vec::with_capacity(k);
    for _ in 0..k {
        streams.push(client.connect(addr).await?);
    }
    let t = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for mut s in streams {
        writers.spawn(async move {
            s.write_all(&vec![0xa5u8; share]).await?;
            s.shutdown().await?;
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await
        });
    }
    if !receiving.await?? {
        return Err("a transfer arrived damaged".into());
    }
    let took = t.elapsed();
    while let Some(w) = writers.join_next().await {
        w??;
    }
    Ok((share * k) as f64 / (1 << 20) as f64 / took.as_secs_f64())
}

/// Opens `n` connections, leaves them idle for `idle`, moves `mib` MiB on
/// one; the figures.
pub(crate) async fn run(n: usize, mib: usize, idle: Duration) -> Result<String, Box<dyn Error>> {
    let n = n.max(1);
    let mut config = DriverConfig::default();
    config.config.max_connections = n + 16;
    config.config.max_half_open = n + 16;
    config.config.replies_per_second = u32::MAX;
    config.config.replies_per_source = u32::MAX;
    if let Some(listen) = config.listen.as_mut() {
        listen.backlog = n + 16;
    }
    let mut client_config = config.outgoing_only();
    client_config.config = config.config.clone();
    let server = UtpSocket::bind_with("127.0.0.1:0", config).await?;
    let client = UtpSocket::bind_with("127.0.0.1:0", client_config).await?;
    let addr = server.local_addr()?;
    let rss_before = rss_kib();

    // The one that will carry the transfer first, then the others, 500 at
    // a time; the server accepts as they come.
    let (tx, (rx, _)) = tokio::try_join!(client.connect(addr), server.accept())?;
    let accepting = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut accepted = Vec::with_capacity(n);
            while accepted.len() < n - 1 {
                accepted.push(server.accept().await?.0);
            }
            std::io::Result::Ok(accepted)
        })
    };
    let started = Instant::now();
    let mut streams: Vec<UtpStream> = Vec::with_capacity(n);
    while streams.len() < n - 1 {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..(n - 1 - streams.len()).min(500) {
            let client = client.clone();
            batch.spawn(async move { client.connect(addr).await });
        }
        while let Some(done) = batch.join_next().await {
            streams.push(done??);
        }
    }
    let accepted = accepting.await??;
    assert_eq!(accepted.len() + 1, n);
    let opened = started.elapsed();
    let rss = rss_kib().saturating_sub(rss_before);

    // Idle: keepalives only.
    let cpu0 = cpu_seconds();
    tokio::time::sleep(idle).await;
    let idle_cpu = (cpu_seconds() - cpu0) / idle.as_secs_f64();

    // One bulk transfer among them.
    let payload = vec![0x5au8; mib << 20];
    let (mut tx, mut rx) = (tx, rx);
    let t = Instant::now();
    let (sent, got) = tokio::join!(
        async {
            tx.write_all(&payload).await?;
            tx.shutdown().await
        },
        async {
            let mut got = Vec::with_capacity(payload.len());
            rx.read_to_end(&mut got).await.map(|_| got)
        }
    );
    sent?;
    let got = got?;
    let took = t.elapsed();
    if got != payload {
        return Err("the transfer arrived damaged".into());
    }
    Ok(format!(
        "{n} connections on one socket pair: opened in {opened:.2?}; {:.1} KiB of memory per \
         connection (both ends, process RSS); idle: {:.2}% of a core; one {mib} MiB transfer \
         among them: {:.0} MiB/s",
        rss as f64 / n as f64,
        idle_cpu * 100.0,
        mib as f64 / took.as_secs_f64()
    ))
}
