//! Streams over real loopback sockets, under async-std and under smol.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use common::{localhost, read_pattern, read_until_reset, write_pattern, Pattern, Rt};
use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use utp_async_std::bytes::Bytes;
use utp_async_std::{OwnedReadHalf, OwnedWriteHalf, UtpSocket, UtpStream};

fn _stream_types_are_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin + 'static>() {}
    fn read<T: AsyncRead>() {}
    fn write<T: AsyncWrite>() {}
    check::<UtpStream>();
    check::<OwnedReadHalf>();
    check::<OwnedWriteHalf>();
    check::<UtpSocket>();
    read::<UtpStream>();
    write::<UtpStream>();
    read::<OwnedReadHalf>();
    write::<OwnedWriteHalf>();
}

/// Two sockets on `bind`, and a connected pair of streams between them:
/// (client socket, server socket, client stream, server stream).
async fn pair_on(bind: SocketAddr) -> (UtpSocket, UtpSocket, UtpStream, UtpStream) {
    let server = UtpSocket::bind(bind).await.unwrap();
    let client = UtpSocket::bind(bind).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (c, s) = future::zip(client.connect(addr), server.accept()).await;
    let (c, (s, peer)) = (c.unwrap(), s.unwrap());
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(c.peer_addr().unwrap(), addr);
    assert_eq!(s.local_addr().unwrap(), addr);
    (client, server, c, s)
}

/// The server echoes everything until the client's FIN, then closes.
async fn echo_on(bind: SocketAddr) {
    let (_client, _server, mut c, mut s) = pair_on(bind).await;
    let message = b"exact bytes over uTP, \x00\xff and all".to_vec();
    let serve = async {
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(&got).await.unwrap();
        s.close().await.unwrap();
    };
    let talk = async {
        c.write_all(&message).await.unwrap();
        c.close().await.unwrap();
        let mut echoed = Vec::new();
        c.read_to_end(&mut echoed).await.unwrap();
        echoed
    };
    let ((), echoed) = future::zip(serve, talk).await;
    assert_eq!(echoed, message);
}

async fn echo(_: Rt) {
    echo_on(localhost()).await;
}

async fn ipv6_echo(_: Rt) {
    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    if let Err(e) = std::net::UdpSocket::bind(v6) {
        eprintln!("skipped: cannot bind [::1] ({e})");
        return;
    }
    echo_on(v6).await;
}

/// `len` bytes one way, verified against the regenerated pattern.
async fn transfer(rt: Rt, len: usize) {
    let (_client, _server, mut c, mut s) = pair_on(localhost()).await;
    let start = Instant::now();
    let send = rt.spawn(async move {
        write_pattern(&mut c, 64, len).await;
        c.close().await.unwrap();
        c
    });
    read_pattern(&mut s, 64, len).await;
    let secs = start.elapsed().as_secs_f64();
    let _c = send.await;
    eprintln!(
        "{rt:?}: {} MiB in {secs:.2} s = {:.1} MiB/s",
        len >> 20,
        len as f64 / secs / 1_048_576.0
    );
}

async fn transfer_64mib(rt: Rt) {
    transfer(rt, 64 << 20).await;
}

/// 100 connections from one socket to one listener at once, each with its
/// own data, echoed and checked.
async fn hundred_connections(rt: Rt) {
    const N: u64 = 100;
    const LEN: usize = 20_000;
    let server = UtpSocket::bind(localhost()).await.unwrap();
    let client = UtpSocket::bind(localhost()).await.unwrap();
    let addr = server.local_addr().unwrap();
    let accepting = {
        let server = server.clone();
        rt.spawn(async move {
            let mut echoes = Vec::new();
            for _ in 0..N {
                let (mut s, _) = server.accept().await.unwrap();
                echoes.push(rt.spawn(async move {
                    let mut got = Vec::new();
                    s.read_to_end(&mut got).await.unwrap();
                    s.write_all(&got).await.unwrap();
                    s.close().await.unwrap();
                    got.len()
                }));
            }
            let mut total = 0;
            for e in echoes {
                total += e.await;
            }
            total
        })
    };
    let mut clients = Vec::new();
    for i in 0..N {
        let client = client.clone();
        clients.push(rt.spawn(async move {
            let mut c = client.connect(addr).await.unwrap();
            let data = Pattern::bytes(1000 + i, LEN);
            c.write_all(&data).await.unwrap();
            c.close().await.unwrap();
            let mut echoed = Vec::new();
            c.read_to_end(&mut echoed).await.unwrap();
            assert!(echoed == data, "connection {i} got other bytes back");
        }));
    }
    for c in clients {
        c.await;
    }
    assert_eq!(accepting.await, N as usize * LEN);
}

/// Each side aborts in turn: the other's read fails with ConnectionReset.
async fn abort_resets_peer(_: Rt) {
    for accepting_side_aborts in [false, true] {
        let (_client, _server, c, s) = pair_on(localhost()).await;
        let (mut victim, culprit) = if accepting_side_aborts {
            (c, s)
        } else {
            (s, c)
        };
        let mut culprit = culprit;
        culprit.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        victim.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"x");
        culprit.abort();
        assert_eq!(
            read_until_reset(&mut victim).await,
            ErrorKind::ConnectionReset
        );
    }
}

/// Half-close: each side's FIN after its data, the other still writing.
async fn half_close_both_ways(_: Rt) {
    // The connecting side closes first, then the accepting side.
    let (_client, _server, mut c, mut s) = pair_on(localhost()).await;
    let up = Pattern::bytes(1, 300_000);
    let down = Pattern::bytes(2, 200_000);
    c.write_all(&up).await.unwrap();
    c.close().await.unwrap();
    let err = c.write_all(b"late").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert!(got == up);
    s.write_all(&down).await.unwrap();
    s.close().await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert!(got == down);
    // Reading at the end again still says end.
    assert_eq!(s.read(&mut [0u8; 8]).await.unwrap(), 0);
    assert_eq!(c.read(&mut [0u8; 8]).await.unwrap(), 0);

    // The accepting side closes first, then both at once.
    let (_client, _server, mut c, mut s) = pair_on(localhost()).await;
    s.write_all(&down).await.unwrap();
    s.close().await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert!(got == down);
    c.write_all(&up).await.unwrap();
    c.close().await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert!(got == up);
}

/// A dropped stream closes gracefully: everything written arrives, then
/// the end.
async fn drop_closes_gracefully(_: Rt) {
    let (_client, _server, mut c, mut s) = pair_on(localhost()).await;
    let data = Pattern::bytes(3, 500_000);
    c.write_all(&data).await.unwrap();
    drop(c);
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert!(got == data);
}

/// Small messages back and forth between two tasks: each round trip
/// needs a wakeup on both sides, so a lost one stalls the test.
async fn ping_pong(rt: Rt) {
    const ROUNDS: u32 = 2000;
    let (_client, _server, mut c, mut s) = pair_on(localhost()).await;
    let echo = rt.spawn(async move {
        let mut word = [0u8; 4];
        for _ in 0..ROUNDS {
            s.read_exact(&mut word).await.unwrap();
            s.write_all(&word).await.unwrap();
        }
        assert_eq!(s.read(&mut word).await.unwrap(), 0);
    });
    let start = Instant::now();
    for i in 0..ROUNDS {
        c.write_all(&i.to_le_bytes()).await.unwrap();
        let mut word = [0u8; 4];
        c.read_exact(&mut word).await.unwrap();
        assert_eq!(u32::from_le_bytes(word), i);
    }
    eprintln!("{rt:?}: {ROUNDS} round trips in {:?}", start.elapsed());
    c.close().await.unwrap();
    echo.await;
}

/// Split halves used from two tasks at once on both sides: full duplex.
async fn split_full_duplex(rt: Rt) {
    const LEN: usize = 4 << 20;
    let (_client, _server, c, s) = pair_on(localhost()).await;
    let (mut cr, mut cw) = c.into_split();
    let (mut sr, mut sw) = s.into_split();
    let tasks = [
        rt.spawn(async move {
            write_pattern(&mut cw, 10, LEN).await;
            cw.close().await.unwrap();
        }),
        rt.spawn(async move {
            write_pattern(&mut sw, 20, LEN).await;
            sw.close().await.unwrap();
        }),
        rt.spawn(async move { read_pattern(&mut cr, 20, LEN).await }),
        rt.spawn(async move { read_pattern(&mut sr, 10, LEN).await }),
    ];
    for t in tasks {
        t.await;
    }
}

/// `data` cut into `Bytes` of the `sizes`, in turn.
fn pieces(data: Vec<u8>, sizes: [usize; 4]) -> Vec<Bytes> {
    let mut all = Bytes::from(data);
    let mut out = Vec::new();
    for len in sizes.into_iter().cycle() {
        if all.is_empty() {
            break;
        }
        out.push(all.split_to(len.min(all.len())));
    }
    out
}

/// `write_bytes` both ways, the acceptor writing first, from the stream and
/// from a write half: `Bytes` of mixed sizes (those under 1 KiB are copied,
/// the others queued) arrive exactly.
async fn write_bytes_both_ways(rt: Rt) {
    const LEN: usize = 3 << 20;
    let (_client, _server, c, mut s) = pair_on(localhost()).await;
    let server = rt.spawn(async move {
        for piece in pieces(Pattern::bytes(30, LEN), [64 << 10, 100, 1 << 20, 1500]) {
            s.write_bytes(piece).await.unwrap();
        }
        s.close().await.unwrap();
        read_pattern(&mut s, 31, LEN).await;
        s.stats().bytes_received
    });
    let (mut r, mut w) = c.into_split();
    read_pattern(&mut r, 30, LEN).await;
    for piece in pieces(Pattern::bytes(31, LEN), [1500, 1 << 20, 100, 64 << 10]) {
        w.write_bytes(piece).await.unwrap();
    }
    w.close().await.unwrap();
    assert_eq!(server.await, LEN as u64);
}

both_runtimes!(30 => echo, ipv6_echo, hundred_connections, abort_resets_peer,
    half_close_both_ways, drop_closes_gracefully, split_full_duplex, ping_pong,
    write_bytes_both_ways);
both_runtimes!(60 => transfer_64mib);
