//! `demo`: a listener and a client in one process over 127.0.0.1, moving
//! a deterministic pseudo-random stream that the receiver checks byte for
//! byte.

use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use utp_core::ConnStats;

use crate::error::{Context, Failure};
use crate::pattern::{self, Verifier};
use crate::progress::{format_rtt, stats_message, Progress};
use crate::Runtime;

/// Bytes per write and per read.
const CHUNK: usize = 256 * 1024;
/// How often the sender puts its stats on the bar.
const STATS_EVERY: Duration = Duration::from_millis(250);

/// What a run measured.
#[derive(Debug)]
struct Outcome {
    /// From just before connecting to the receiver's end of stream.
    elapsed: Duration,
    /// The sender's connection stats, after the receiver's FIN (so every
    /// byte was acknowledged).
    sender: ConnStats,
    /// What the receiver checked.
    verifier: Verifier,
}

/// Runs the demo on `runtime` with `bytes` bytes and prints the summary.
pub(crate) fn run(
    runtime: Runtime,
    bytes: u64,
    progress: bool,
    quiet: bool,
    compare_tcp: bool,
    batching: bool,
) -> Result<(), Failure> {
    let progress = Progress::new(progress, quiet);
    let bar = progress.as_ref().map(|p| p.bar("demo", Some(bytes)));
    let meter = Meter { bar: bar.clone() };
    let outcome = match runtime {
        Runtime::Tokio => tokio_demo::run(bytes, meter, batching)?,
        Runtime::AsyncStd => async_std_demo::run(bytes, meter, batching)?,
        Runtime::Mio => mio_demo::run(bytes, meter, batching)?,
    };
    if let Some(bar) = &bar {
        bar.finish_with_message(stats_message(&outcome.sender));
    }
    if let Some(p) = &progress {
        p.end();
    }
    report(runtime, bytes, batching, &outcome)?;
    if compare_tcp {
        let tcp = tcp_demo::run(bytes)?;
        let utp_secs = outcome.elapsed.as_secs_f64().max(1e-9);
        let tcp_secs = tcp.elapsed.as_secs_f64().max(1e-9);
        let tcp_rate = tcp.verifier.len() as f64 / tcp_secs;
        let verified = tcp.verifier.first_mismatch().is_none() && tcp.verifier.len() == bytes;
        println!("TCP over 127.0.0.1, same data, same checks (tokio)");
        println!(
            "  throughput   {:.1} MiB/s ({:.0} Mbit/s)",
            tcp_rate / MIB,
            tcp_rate * 8.0 / 1e6
        );
        println!("  uTP / TCP    {:.3}", tcp_secs / utp_secs);
        if !verified {
            return Err(Failure::Verify("TCP data verification failed".into()));
        }
    }
    Ok(())
}

/// Prints the summary; fails when the data was short or differed.
fn report(runtime: Runtime, bytes: u64, batching: bool, o: &Outcome) -> Result<(), Failure> {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let rate = o.verifier.len() as f64 / secs;
    let verdict = match (o.verifier.first_mismatch(), o.verifier.len() == bytes) {
        (None, true) => "OK (every byte matched)".to_string(),
        (Some(at), _) => format!("FAILED (first differing byte at offset {at})"),
        (None, false) => format!("FAILED (received {} bytes)", o.verifier.len()),
    };
    println!("utpcat demo over 127.0.0.1");
    println!(
        "  runtime      {}{}",
        runtime.name(),
        if batching { "" } else { ", no batching" }
    );
    println!("  bytes        {} ({:.1} MiB)", bytes, bytes as f64 / MIB);
    println!("  time         {secs:.3} s");
    println!(
        "  throughput   {:.1} MiB/s ({:.0} Mbit/s)",
        rate / MIB,
        rate * 8.0 / 1e6
    );
    println!(
        "  rtt          {} (min {})",
        format_rtt(o.sender.rtt),
        format_rtt(o.sender.rtt_min)
    );
    println!(
        "  retransmits  {} ({} packets sent, {} timeouts)",
        o.sender.retransmits, o.sender.packets_sent, o.sender.timeouts
    );
    println!("  verified     {verdict}");
    if o.verifier.first_mismatch().is_none() && o.verifier.len() == bytes {
        Ok(())
    } else {
        Err(Failure::Verify(format!("demo data verification {verdict}")))
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Moves the bar from the receiving side, its message from the sending side.
#[derive(Clone, Debug)]
struct Meter {
    bar: Option<ProgressBar>,
}

impl Meter {
    fn received(&self, n: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
    }

    /// Called by the sender after each write; updates the message now and
    /// then. `last` is the sender's own timer.
    fn sender_stats(&self, last: &mut Instant, stats: impl FnOnce() -> ConnStats) {
        if let Some(bar) = &self.bar {
            if last.elapsed() >= STATS_EVERY {
                bar.set_message(stats_message(&stats()));
                *last = Instant::now();
            }
        }
    }
}

/// Fills `buf` with up to `CHUNK` bytes of the stream at `offset`, fewer at
/// the end; returns the part to send.
fn next_chunk(buf: &mut [u8], offset: u64, total: u64) -> &[u8] {
    let n = (total - offset).min(buf.len() as u64) as usize;
    let part = buf.get_mut(..n).unwrap_or_default();
    pattern::fill(offset, part);
    part
}

/// The demo's socket settings: `batching` as asked; listening or not.
fn driver_config(batching: bool, listen: bool) -> utp_tokio::DriverConfig {
    let mut config = utp_tokio::DriverConfig::default();
    config.batching = batching;
    if !listen {
        config.listen = None;
    }
    config
}

fn io_failure(what: &'static str) -> impl FnOnce() -> String {
    move || what.to_string()
}

mod tokio_demo {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use utp_tokio::UtpSocket;

    pub(super) fn run(bytes: u64, meter: Meter, batching: bool) -> Result<Outcome, Failure> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context(io_failure("cannot start the tokio runtime"))?;
        rt.block_on(transfer(bytes, meter, batching))
    }

    async fn transfer(bytes: u64, meter: Meter, batching: bool) -> Result<Outcome, Failure> {
        let listener = UtpSocket::bind_with("127.0.0.1:0", driver_config(batching, true))
            .await
            .context(io_failure("bind the listener"))?;
        let addr = listener
            .local_addr()
            .context(io_failure("listener address"))?;
        let client = UtpSocket::bind_with("127.0.0.1:0", driver_config(batching, false))
            .await
            .context(io_failure("bind the client"))?;

        let start = Instant::now();
        let recv_meter = meter.clone();
        let receiver = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.context(io_failure("accept"))?;
            let mut verifier = Verifier::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = stream.read(&mut buf).await.context(io_failure("receive"))?;
                let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
                    break;
                };
                verifier.check(data);
                recv_meter.received(n);
            }
            let elapsed = start.elapsed();
            // Our FIN tells the sender everything arrived.
            stream
                .shutdown()
                .await
                .context(io_failure("receiver shutdown"))?;
            Ok::<_, Failure>((verifier, elapsed))
        });

        let mut stream = client.connect(addr).await.context(io_failure("connect"))?;
        let mut buf = vec![0u8; CHUNK];
        let mut offset = 0;
        let mut last = Instant::now();
        while offset < bytes {
            let chunk = next_chunk(&mut buf, offset, bytes);
            stream.write_all(chunk).await.context(io_failure("send"))?;
            offset += chunk.len() as u64;
            meter.sender_stats(&mut last, || stream.stats());
        }
        stream
            .shutdown()
            .await
            .context(io_failure("sender shutdown"))?;
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .await
            .context(io_failure("wait for the receiver's FIN"))?;
        let sender = stream.stats();
        let (verifier, elapsed) = receiver
            .await
            .map_err(|e| Failure::io("receiver task", std::io::Error::other(e)))??;
        Ok(Outcome {
            elapsed,
            sender,
            verifier,
        })
    }
}

mod async_std_demo {
    use super::*;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::net::{Ipv4Addr, SocketAddr};
    use utp_async_std::UtpSocket;

    pub(super) fn run(bytes: u64, meter: Meter, batching: bool) -> Result<Outcome, Failure> {
        async_std::task::block_on(transfer(bytes, meter, batching))
    }

    async fn transfer(bytes: u64, meter: Meter, batching: bool) -> Result<Outcome, Failure> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let listener = UtpSocket::bind_with(loopback, driver_config(batching, true))
            .await
            .context(io_failure("bind the listener"))?;
        let addr = listener
            .local_addr()
            .context(io_failure("listener address"))?;
        let client = UtpSocket::bind_with(loopback, driver_config(batching, false))
            .await
            .context(io_failure("bind the client"))?;

        let start = Instant::now();
        let recv_meter = meter.clone();
        let receiver = async_std::task::spawn(async move {
            let (mut stream, _) = listener.accept().await.context(io_failure("accept"))?;
            let mut verifier = Verifier::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = stream.read(&mut buf).await.context(io_failure("receive"))?;
                let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
                    break;
                };
                verifier.check(data);
                recv_meter.received(n);
            }
            let elapsed = start.elapsed();
            stream.close().await.context(io_failure("receiver close"))?;
            Ok::<_, Failure>((verifier, elapsed))
        });

        let mut stream = client.connect(addr).await.context(io_failure("connect"))?;
        let mut buf = vec![0u8; CHUNK];
        let mut offset = 0;
        let mut last = Instant::now();
        while offset < bytes {
            let chunk = next_chunk(&mut buf, offset, bytes);
            stream.write_all(chunk).await.context(io_failure("send"))?;
            offset += chunk.len() as u64;
            meter.sender_stats(&mut last, || stream.stats());
        }
        stream.close().await.context(io_failure("sender close"))?;
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .await
            .context(io_failure("wait for the receiver's FIN"))?;
        let sender = stream.stats();
        let (verifier, elapsed) = receiver.await?;
        Ok(Outcome {
            elapsed,
            sender,
            verifier,
        })
    }
}

mod mio_demo {
    use super::*;
    use std::io::{Read, Write};
    use utp_mio::blocking::{UtpListener, UtpStream};

    pub(super) fn run(bytes: u64, meter: Meter, batching: bool) -> Result<Outcome, Failure> {
        let listener = UtpListener::bind_with("127.0.0.1:0", driver_config(batching, true))
            .context(io_failure("bind the listener"))?;
        let addr = listener
            .local_addr()
            .context(io_failure("listener address"))?;

        let start = Instant::now();
        let recv_meter = meter.clone();
        let receiver = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().context(io_failure("accept"))?;
            let mut verifier = Verifier::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = stream.read(&mut buf).context(io_failure("receive"))?;
                let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
                    break;
                };
                verifier.check(data);
                recv_meter.received(n);
            }
            let elapsed = start.elapsed();
            stream
                .shutdown(std::net::Shutdown::Write)
                .context(io_failure("receiver shutdown"))?;
            Ok::<_, Failure>((verifier, elapsed))
        });

        let mut stream = UtpStream::connect_with(addr, driver_config(batching, false))
            .context(io_failure("connect"))?;
        let mut buf = vec![0u8; CHUNK];
        let mut offset = 0;
        let mut last = Instant::now();
        while offset < bytes {
            let chunk = next_chunk(&mut buf, offset, bytes);
            stream.write_all(chunk).context(io_failure("send"))?;
            offset += chunk.len() as u64;
            meter.sender_stats(&mut last, || stream.stats());
        }
        stream
            .shutdown(std::net::Shutdown::Write)
            .context(io_failure("sender shutdown"))?;
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .context(io_failure("wait for the receiver's FIN"))?;
        let sender = stream.stats();
        let (verifier, elapsed) = receiver
            .join()
            .map_err(|_| Failure::Verify("the receiving thread panicked".into()))??;
        Ok(Outcome {
            elapsed,
            sender,
            verifier,
        })
    }
}

/// The same transfer over TCP, for the ratio `--compare-tcp` prints.
mod tcp_demo {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    pub(super) fn run(bytes: u64) -> Result<Outcome, Failure> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context(io_failure("cannot start the tokio runtime"))?;
        rt.block_on(transfer(bytes))
    }

    async fn transfer(bytes: u64) -> Result<Outcome, Failure> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context(io_failure("bind the TCP listener"))?;
        let addr = listener
            .local_addr()
            .context(io_failure("TCP listener address"))?;
        let start = Instant::now();
        let receiver = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.context(io_failure("TCP accept"))?;
            let mut verifier = Verifier::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = stream
                    .read(&mut buf)
                    .await
                    .context(io_failure("TCP receive"))?;
                let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
                    break;
                };
                verifier.check(data);
            }
            Ok::<_, Failure>((verifier, start.elapsed()))
        });
        let mut stream = TcpStream::connect(addr)
            .await
            .context(io_failure("TCP connect"))?;
        let mut buf = vec![0u8; CHUNK];
        let mut offset = 0;
        while offset < bytes {
            let chunk = next_chunk(&mut buf, offset, bytes);
            stream
                .write_all(chunk)
                .await
                .context(io_failure("TCP send"))?;
            offset += chunk.len() as u64;
        }
        stream
            .shutdown()
            .await
            .context(io_failure("TCP shutdown"))?;
        let (verifier, elapsed) = receiver
            .await
            .map_err(|e| Failure::io("TCP receiver task", std::io::Error::other(e)))??;
        Ok(Outcome {
            elapsed,
            sender: ConnStats::default(),
            verifier,
        })
    }
}
