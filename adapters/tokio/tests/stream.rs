//! Streams over loopback: echo, a 64 MiB transfer, 100 connections, half-close, split halves.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Instant;

use common::{data, fill, guard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::UtpSocket;

#[tokio::test]
async fn echo() {
    guard(20, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let client_addr = client.local_addr().unwrap();
        let echo = tokio::spawn(async move {
            let (mut s, peer) = server.accept().await.unwrap();
            assert_eq!(peer, client_addr);
            assert_eq!(s.peer_addr().unwrap(), client_addr);
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
            // Hold the stream until the client is done with it.
            assert_eq!(s.read(&mut buf).await.unwrap(), 0);
        });
        let mut s = client.connect(addr).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
        assert_eq!(s.local_addr().unwrap(), client_addr);
        s.write_all(b"hello, uTP").await.unwrap();
        let mut back = [0u8; 10];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello, uTP");
        s.shutdown().await.unwrap();
        echo.await.unwrap();
        assert_eq!(s.stats().bytes_sent, 10);
        assert_eq!(s.stats().bytes_received, 10);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_64_mib() {
    const LEN: u64 = 64 << 20;
    const SEED: u64 = 64;
    guard(60, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let receiver = tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut buf = vec![0u8; 256 << 10];
            let mut expected = vec![0u8; 256 << 10];
            let mut at = 0u64;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                assert!(at + n as u64 <= LEN, "more bytes than sent");
                fill(SEED, at, &mut expected[..n]);
                assert!(buf[..n] == expected[..n], "bytes differ near offset {at}");
                at += n as u64;
            }
            at
        });
        let mut s = client.connect(addr).await.unwrap();
        let start = Instant::now();
        let mut chunk = vec![0u8; 256 << 10];
        let mut at = 0u64;
        while at < LEN {
            fill(SEED, at, &mut chunk);
            s.write_all(&chunk).await.unwrap();
            at += chunk.len() as u64;
        }
        s.shutdown().await.unwrap();
        assert_eq!(receiver.await.unwrap(), LEN);
        let secs = start.elapsed().as_secs_f64();
        let stats = s.stats();
        eprintln!(
            "64 MiB in {secs:.2} s: {:.1} MiB/s; {} packets sent, {} retransmits, {} timeouts",
            64.0 / secs,
            stats.packets_sent,
            stats.retransmits,
            stats.timeouts
        );
        eprintln!("client driver: {:?}", client.driver_stats());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_connections() {
    const CONNS: u64 = 100;
    const LEN: usize = 64 << 10;
    guard(60, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let client_addr = client.local_addr().unwrap();
        // The server echoes every connection.
        let echo = tokio::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..CONNS {
                let (s, peer) = server.accept().await.unwrap();
                assert_eq!(peer, client_addr);
                tasks.push(tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
                    w.shutdown().await.unwrap();
                    n
                }));
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), LEN as u64);
            }
        });
        let mut clients = Vec::new();
        for i in 0..CONNS {
            let client = client.clone();
            clients.push(tokio::spawn(async move {
                let sent = data(1000 + i, LEN);
                let s = client.connect(addr).await.unwrap();
                let (mut r, mut w) = s.into_split();
                let reader = tokio::spawn(async move {
                    let mut back = Vec::new();
                    r.read_to_end(&mut back).await.unwrap();
                    back
                });
                w.write_all(&sent).await.unwrap();
                w.shutdown().await.unwrap();
                let back = reader.await.unwrap();
                assert!(back == sent, "connection {i}: echo differs");
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        echo.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn half_close_both_directions() {
    guard(20, async {
        let b_sock = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = b_sock.local_addr().unwrap();
        let a_sock = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let a_to_b = data(1, 300_000);
        let b_to_a = data(2, 200_000);
        let (expect_ab, send_ba) = (a_to_b.clone(), b_to_a.clone());
        let b = tokio::spawn(async move {
            let (mut s, _) = b_sock.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            assert!(got == expect_ab, "A to B differs");
            // A's side is closed; B's is still open.
            s.write_all(&send_ba).await.unwrap();
            s.shutdown().await.unwrap();
            s
        });
        let mut a = a_sock.connect(addr).await.unwrap();
        a.write_all(&a_to_b).await.unwrap();
        a.shutdown().await.unwrap();
        let err = a.write(b"late").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        let mut got = Vec::new();
        a.read_to_end(&mut got).await.unwrap();
        assert!(got == b_to_a, "B to A differs");
        // EOF stays EOF.
        assert_eq!(a.read(&mut [0u8; 8]).await.unwrap(), 0);
        drop(b.await.unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_full_duplex() {
    const LEN: usize = 4 << 20;
    guard(40, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        // Each side writes from one task and reads from another, at once.
        async fn duplex(s: utp_tokio::UtpStream, send_seed: u64, recv_seed: u64) {
            let (mut r, mut w) = s.into_split();
            let writer = tokio::spawn(async move {
                w.write_all(&data(send_seed, LEN)).await.unwrap();
                w.shutdown().await.unwrap();
                w
            });
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                assert!(got == data(recv_seed, LEN), "stream {recv_seed} differs");
                r
            });
            let (w, r) = (writer.await.unwrap(), reader.await.unwrap());
            // Both halves speak for the one connection.
            assert_eq!(w.peer_addr().unwrap(), r.peer_addr().unwrap());
            assert!(w.stats().packets_sent > 0);
            assert_eq!(w.stats().packets_sent, r.stats().packets_sent);
        }
        let srv = tokio::spawn(async move {
            let (s, _) = server.accept().await.unwrap();
            duplex(s, 20, 10).await;
        });
        let s = client.connect(addr).await.unwrap();
        duplex(s, 10, 20).await;
        srv.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn dropped_handles_still_deliver() {
    // Everything on the sending side is dropped right after the last
    // write: the driver task finishes the transfer and the FIN exchange.
    const LEN: usize = 3 << 20;
    guard(30, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut s = client.connect(addr).await.unwrap();
        let (mut r, _) = server.accept().await.unwrap();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        });
        s.write_all(&data(7, LEN)).await.unwrap();
        drop(s);
        drop(client);
        assert!(reader.await.unwrap() == data(7, LEN), "data differs");
    })
    .await;
}

#[test]
fn streams_and_halves_are_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin + 'static>() {}
    check::<utp_tokio::UtpStream>();
    check::<utp_tokio::OwnedReadHalf>();
    check::<utp_tokio::OwnedWriteHalf>();
    check::<UtpSocket>();
}

/// `write_bytes` both ways, the acceptor writing first: `Bytes` of mixed
/// sizes (short ones are copied, long ones queued) arrive exactly, from
/// the stream and from a write half.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_bytes_both_ways() {
    const LEN: usize = 3 << 20;
    // Cuts `data` into `Bytes` of 64 KiB, 100 B, 1 MiB, 1500 B, ...
    fn pieces(data: Vec<u8>) -> Vec<utp_tokio::bytes::Bytes> {
        let mut all = utp_tokio::bytes::Bytes::from(data);
        let mut out = Vec::new();
        for len in [64 << 10, 100, 1 << 20, 1500].into_iter().cycle() {
            if all.is_empty() {
                break;
            }
            out.push(all.split_to(len.min(all.len())));
        }
        out
    }
    guard(40, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let srv = tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            for piece in pieces(data(30, LEN)) {
                s.write_bytes(piece).await.unwrap();
            }
            s.shutdown().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            assert!(got == data(31, LEN), "client → server differs");
            s
        });
        let s = client.connect(addr).await.unwrap();
        let (mut r, mut w) = s.into_split();
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert!(got == data(30, LEN), "server → client differs");
        for piece in pieces(data(31, LEN)) {
            w.write_bytes(piece).await.unwrap();
        }
        w.shutdown().await.unwrap();
        let s = srv.await.unwrap();
        assert_eq!(s.stats().bytes_received, LEN as u64);
        drop((r, w));
    })
    .await;
}
