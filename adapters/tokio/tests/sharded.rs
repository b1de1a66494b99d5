//! `ShardedListener`: one port, several `SO_REUSEPORT` sockets (Linux).
//! Which shard a remote reaches is the kernel's hash of the addresses, so
//! no test counts on a particular shard; with 32 remotes on 2 or 4 shards
//! the chance that all hash to one shard is below 2^-31, which is as
//! deterministic as the kernel lets us be.
#![cfg(target_os = "linux")]
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use common::{data, guard, resend_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use utp_tokio::{DriverConfig, ShardedListener, UtpSocket, UtpStream};

/// What the acceptor writes first on every connection.
const GREETING: usize = 20_000;

fn config(_shard: usize) -> DriverConfig {
    DriverConfig::default()
}

/// The acceptor's side: writes the greeting first, then echoes what it
/// reads until the FIN, then shuts down.
async fn serve(mut s: UtpStream) -> io::Result<()> {
    s.write_all(&data(1, GREETING)).await?;
    let mut got = Vec::new();
    s.read_to_end(&mut got).await?;
    s.write_all(&got).await?;
    s.shutdown().await
}

/// The initiator's side: reads the greeting, sends `data(seed, len)`,
/// and checks the echo.
async fn exchange(mut s: UtpStream, seed: u64, len: usize) {
    let mut greeting = vec![0; GREETING];
    s.read_exact(&mut greeting).await.unwrap();
    assert!(greeting == data(1, GREETING), "greeting differs");
    let sent = data(seed, len);
    s.write_all(&sent).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.unwrap();
    assert!(back == sent, "seed {seed}: echo differs");
}

/// Each shard's own accept loop: serves every connection and reports
/// (shard, peer).
fn accept_per_shard(listener: &ShardedListener) -> mpsc::UnboundedReceiver<(usize, SocketAddr)> {
    let (tx, rx) = mpsc::unbounded_channel();
    for (i, shard) in listener.shards().iter().enumerate() {
        let (shard, tx) = (shard.clone(), tx.clone());
        tokio::spawn(async move {
            while let Ok((s, peer)) = shard.accept().await {
                tx.send((i, peer)).unwrap();
                tokio::spawn(async move { serve(s).await.unwrap() });
            }
        });
    }
    rx
}

/// 32 clients on their own ports, 2 connections each, against 4 shards
/// accepting on their own tasks: every connection moves data both ways
/// (acceptor first), both of a client's connections are on one shard,
/// and the clients spread over more than one shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_remote_stays_on_one_shard() {
    guard(120, async {
        let listener = ShardedListener::bind("127.0.0.1:0", 4, config)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = accept_per_shard(&listener);
        let mut clients = tokio::task::JoinSet::new();
        let mut ports = Vec::new();
        for c in 0..32u64 {
            let client =
                UtpSocket::bind_with("127.0.0.1:0", DriverConfig::default().outgoing_only())
                    .await
                    .unwrap();
            ports.push(client.local_addr().unwrap());
            clients.spawn(async move {
                for k in 0..2 {
                    let s = client.connect(addr).await.unwrap();
                    exchange(s, c * 2 + k, 30_000 + c as usize).await;
                }
            });
        }
        while let Some(done) = clients.join_next().await {
            done.unwrap();
        }
        let mut shard_of: HashMap<SocketAddr, BTreeSet<usize>> = HashMap::new();
        let mut per_shard = [0u64; 4];
        for _ in 0..64 {
            let (shard, peer) = accepted.recv().await.unwrap();
            shard_of.entry(peer).or_default().insert(shard);
            per_shard[shard] += 1;
        }
        assert_eq!(shard_of.len(), 32, "{shard_of:?}");
        for port in &ports {
            assert_eq!(
                shard_of[port].len(),
                1,
                "{port} on shards {:?}",
                shard_of[port]
            );
        }
        for (i, shard) in listener.shards().iter().enumerate() {
            assert_eq!(shard.endpoint_stats().accepted, per_shard[i]);
        }
        let used = per_shard.iter().filter(|&&n| n > 0).count();
        assert!(used >= 2, "all 32 clients on one shard: {per_shard:?}");
    })
    .await;
}

/// The merged `accept` takes connections from every shard; two clients
/// at once from each of 32 ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_accept_serves_every_shard() {
    guard(120, async {
        let listener = ShardedListener::bind("127.0.0.1:0", 2, config)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = {
            let listener = listener.clone();
            tokio::spawn(async move {
                for _ in 0..64 {
                    let (s, _) = listener.accept().await.unwrap();
                    tokio::spawn(async move { serve(s).await.unwrap() });
                }
            })
        };
        let mut clients = tokio::task::JoinSet::new();
        for c in 0..32u64 {
            let client =
                UtpSocket::bind_with("127.0.0.1:0", DriverConfig::default().outgoing_only())
                    .await
                    .unwrap();
            for k in 0..2 {
                let client = client.clone();
                clients.spawn(async move {
                    let s = client.connect(addr).await.unwrap();
                    exchange(s, 100 + c * 2 + k, 10_000).await;
                });
            }
        }
        while let Some(done) = clients.join_next().await {
            done.unwrap();
        }
        serving.await.unwrap();
        let per_shard: Vec<u64> = listener
            .shards()
            .iter()
            .map(|s| s.endpoint_stats().accepted)
            .collect();
        assert_eq!(per_shard.iter().sum::<u64>(), 64, "{per_shard:?}");
        assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    })
    .await;
}

/// Each shard's foreign datagrams, tagged with the shard's number plus
/// `first`, into `tx`.
fn foreign_into(listener: &ShardedListener, first: usize, tx: &mpsc::UnboundedSender<Landed>) {
    for (i, shard) in listener.shards().iter().enumerate() {
        let (shard, tx) = (shard.clone(), tx.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            while let Ok((n, _)) = shard.recv_foreign(&mut buf).await {
                if tx.send((first + i, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
    }
}

/// A foreign datagram and the shard it arrived on.
type Landed = (usize, Vec<u8>);

/// Each shard's foreign datagrams, tagged with the shard.
fn foreign_per_shard(listener: &ShardedListener) -> mpsc::UnboundedReceiver<Landed> {
    let (tx, rx) = mpsc::unbounded_channel();
    foreign_into(listener, 0, &tx);
    rx
}

/// The shard on which `tag` arrives, sending it with `send` until it does.
async fn landing<S: std::future::Future<Output = ()>>(
    rx: &mut mpsc::UnboundedReceiver<Landed>,
    tag: &[u8],
    send: impl FnMut() -> S,
) -> usize {
    let (shard, _) = resend_until("a tagged datagram", send, async {
        loop {
            let (shard, got) = rx.recv().await.unwrap();
            if got == tag {
                return shard;
            }
        }
    })
    .await;
    shard
}

/// Why the listener has no `connect`: the reply to a datagram a shard
/// sends reaches the shard the remote hashes to, whichever shard sent.
/// 32 remotes on plain UDP sockets echo what they get; for each, its own
/// datagram and its replies to each shard land on one shard, and for
/// some remote that is not the shard that sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reach_the_remotes_shard_not_the_sender() {
    guard(120, async {
        let listener = ShardedListener::bind("127.0.0.1:0", 2, config)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut rx = foreign_per_shard(&listener);
        let mut homes = BTreeSet::new();
        for r in 0..32 {
            let remote = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let at = remote.local_addr().unwrap();
            let echo = {
                let remote = remote.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 256];
                    loop {
                        let (n, from) = remote.recv_from(&mut buf).await.unwrap();
                        remote.send_to(&buf[..n], from).await.unwrap();
                    }
                })
            };
            let own = format!("remote {r}").into_bytes();
            let home = landing(&mut rx, &own, || async {
                remote.send_to(&own, addr).await.unwrap();
            })
            .await;
            for (k, shard) in listener.shards().iter().enumerate() {
                let tag = format!("remote {r}, from shard {k}").into_bytes();
                let reply = landing(&mut rx, &tag, || async {
                    shard.send_foreign(&tag, at).await.unwrap();
                })
                .await;
                assert_eq!(reply, home, "remote {r}'s reply to shard {k}");
            }
            homes.insert(home);
            echo.abort();
        }
        // So each shard got replies to the other's datagrams.
        assert_eq!(homes.len(), 2, "all 32 remotes on one shard");
    })
    .await;
}

/// Two shards whose connects give up after 3 s: the listener, its
/// address, and where foreign datagrams land.
async fn connecting_listener() -> (ShardedListener, SocketAddr, mpsc::UnboundedReceiver<Landed>) {
    let listener = ShardedListener::bind("127.0.0.1:0", 2, |_| {
        let mut c = DriverConfig::default();
        c.config.connect_timeout = Duration::from_secs(3);
        c
    })
    .await
    .unwrap();
    let addr = listener.local_addr().unwrap();
    let rx = foreign_per_shard(&listener);
    (listener, addr, rx)
}

/// What a `connect` from a shard meets: it completes (and moves data both
/// ways) for a remote that hashes to that shard; for the others the
/// answer to the SYN reaches the other shard, and the connect fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_from_a_shard_reaches_only_remotes_hashed_to_it() {
    guard(120, async {
        let (listener, addr, mut rx) = connecting_listener().await;
        let mut attempts = tokio::task::JoinSet::new();
        let mut servers = Vec::new();
        for r in 0..24 {
            let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
            let at = server.local_addr().unwrap();
            let tag = format!("server {r}").into_bytes();
            let home = landing(&mut rx, &tag, || async {
                server.send_foreign(&tag, addr).await.unwrap();
            })
            .await;
            let accepting = server.clone();
            tokio::spawn(async move {
                while let Ok((s, _)) = accepting.accept().await {
                    tokio::spawn(serve(s));
                }
            });
            servers.push(server);
            let shard0 = listener.shards()[0].clone();
            attempts.spawn(async move {
                let result = match shard0.connect(at).await {
                    Ok(s) => {
                        exchange(s, 300 + r, 5_000).await;
                        Ok(())
                    }
                    Err(e) => Err(e.kind()),
                };
                (r, home, result)
            });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = attempts.join_next().await {
            outcomes.push(done.unwrap());
        }
        outcomes.sort();
        for (r, home, result) in &outcomes {
            match home {
                0 => assert_eq!(*result, Ok(()), "server {r} hashes to shard 0"),
                _ => assert_eq!(*result, Err(io::ErrorKind::TimedOut), "server {r}"),
            }
        }
        // Shard 1 got the answers to shard 0's SYNs (and reset them).
        let stats = listener.shards()[1].endpoint_stats();
        assert!(stats.unknown_connection > 0, "{stats:?}");
        let homes: BTreeSet<usize> = outcomes.iter().map(|o| o.1).collect();
        assert_eq!(homes.len(), 2, "all 24 servers on one shard");
    })
    .await;
}

/// ICMP errors are steered like datagrams: a connect from shard 0 to a
/// port where nothing listens ends at once with `ConnectionRefused` only
/// when that address hashes to shard 0; otherwise the "port unreachable"
/// reaches shard 1's error queue and the connect times out. Each address
/// is first bound by a plain UDP socket, to learn its shard, then freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icmp_errors_reach_the_remotes_shard() {
    guard(120, async {
        let (listener, addr, mut rx) = connecting_listener().await;
        let mut attempts = tokio::task::JoinSet::new();
        for r in 0..24 {
            let gone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let at = gone.local_addr().unwrap();
            let tag = format!("closed {r}").into_bytes();
            let home = landing(&mut rx, &tag, || async {
                gone.send_to(&tag, addr).await.unwrap();
            })
            .await;
            drop(gone);
            let shard0 = listener.shards()[0].clone();
            attempts.spawn(async move {
                let kind = shard0.connect(at).await.map(drop).map_err(|e| e.kind());
                (r, home, kind)
            });
        }
        let mut homes = BTreeSet::new();
        while let Some(done) = attempts.join_next().await {
            let (r, home, kind) = done.unwrap();
            let expected = match home {
                0 => io::ErrorKind::ConnectionRefused,
                _ => io::ErrorKind::TimedOut,
            };
            assert_eq!(kind, Err(expected), "port {r}, on shard {home}");
            homes.insert(home);
        }
        assert_eq!(homes.len(), 2, "all 24 addresses on one shard");
        let errors = listener.shards()[1].driver_stats().socket_errors;
        assert!(errors > 0, "shard 1 read no ICMP error");
    })
    .await;
}

/// Why a shard must not come or go: a socket joining the port (here a
/// second listener of one shard) takes over some remotes and moves others
/// between the first listener's shards, since the kernel scales its hash
/// to the group's size. With 32 remotes, going from 2 sockets to 3
/// moves about half of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_joining_the_port_moves_remotes() {
    guard(120, async {
        let listener = ShardedListener::bind("127.0.0.1:0", 2, config)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        foreign_into(&listener, 0, &tx);
        let mut remotes = Vec::new();
        for _ in 0..32 {
            remotes.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        }
        let mut homes = Vec::new();
        for (r, remote) in remotes.iter().enumerate() {
            let tag = format!("before {r}").into_bytes();
            homes.push(
                landing(&mut rx, &tag, || async {
                    remote.send_to(&tag, addr).await.unwrap();
                })
                .await,
            );
        }
        let newcomer = ShardedListener::bind(addr, 1, config).await.unwrap();
        foreign_into(&newcomer, 2, &tx);
        let mut moved = 0;
        for (r, remote) in remotes.iter().enumerate() {
            let tag = format!("after {r}").into_bytes();
            let now = landing(&mut rx, &tag, || async {
                remote.send_to(&tag, addr).await.unwrap();
            })
            .await;
            moved += usize::from(now != homes[r]);
        }
        assert!(moved > 0, "no remote moved");
    })
    .await;
}

/// The merged `recv_foreign` gets the datagrams of remotes on every
/// shard, and `send_foreign` reaches each remote from the port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_foreign_datagrams_from_every_shard() {
    guard(120, async {
        let listener = ShardedListener::bind("127.0.0.1:0", 2, config)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        for r in 0..32 {
            let remote = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let at = remote.local_addr().unwrap();
            let tag = format!("query {r}").into_bytes();
            let (from, _) = resend_until(
                "a query",
                || async {
                    remote.send_to(&tag, addr).await.unwrap();
                },
                async {
                    let mut buf = [0u8; 64];
                    loop {
                        let (n, from) = listener.recv_foreign(&mut buf).await.unwrap();
                        if buf[..n] == tag[..] {
                            return from;
                        }
                    }
                },
            )
            .await;
            assert_eq!(from, at);
            let answer = format!("answer {r}").into_bytes();
            let (got, _) = resend_until(
                "an answer",
                || async {
                    listener.send_foreign(&answer, at).await.unwrap();
                },
                async {
                    let mut buf = [0u8; 64];
                    let (n, from) = remote.recv_from(&mut buf).await.unwrap();
                    assert_eq!(from, addr);
                    buf[..n].to_vec()
                },
            )
            .await;
            assert_eq!(got, answer);
        }
        let per_shard: Vec<u64> = listener
            .shards()
            .iter()
            .map(|s| s.endpoint_stats().foreign)
            .collect();
        assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    })
    .await;
}
