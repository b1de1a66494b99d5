//! How connections and sockets end: `closed()` with every reason on both
//! sides, close-reason codes, `close()` + `wait_idle()` in a process that
//! exits right after, and several tasks waiting in `accept` and
//! `recv_foreign` at once. Over loopback, where a datagram may be lost:
//! every wait for one (a RESET, a FIN) provokes it again if it is late.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io::ErrorKind;
use std::process::Command;
use std::time::Duration;

use common::{data, guard, RESENDS, RESEND_WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utp_tokio::{CloseInfo, CloseReason, DriverConfig, Timer, UtpSocket, UtpStream};

async fn pair() -> (UtpSocket, UtpSocket, UtpStream, UtpStream) {
    let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
    let c = client.connect(server.local_addr().unwrap()).await.unwrap();
    let (s, _) = server.accept().await.unwrap();
    (server, client, c, s)
}

/// `closed()` of `victim` after its peer reset it. A lost RESET is drawn
/// again by writing a byte (the peer answers packets of a connection it
/// no longer has with RESET).
async fn closed_after_reset(victim: &mut UtpStream) -> CloseInfo {
    for _ in 0..RESENDS {
        if let Ok(info) = tokio::time::timeout(RESEND_WAIT, victim.closed()).await {
            return info.unwrap();
        }
        let _ = victim.write(b"?").await;
    }
    panic!("no RESET arrived");
}

#[tokio::test]
async fn both_sides_see_a_finished_connection_with_the_peers_code() {
    guard(30, async {
        // Each side in turn sends the code; data moves both ways, the
        // acceptor writing first.
        for code_from_acceptor in [false, true] {
            let (_server, _client, mut c, mut s) = pair().await;
            s.write_all(b"from the acceptor").await.unwrap();
            c.write_all(b"from the initiator").await.unwrap();
            let (coder, other) = if code_from_acceptor {
                (&mut s, &mut c)
            } else {
                (&mut c, &mut s)
            };
            coder.set_close_reason(Some(6)).unwrap();
            coder.shutdown().await.unwrap();
            other.shutdown().await.unwrap();
            let mut got_c = Vec::new();
            let mut got_s = Vec::new();
            c.read_to_end(&mut got_c).await.unwrap();
            s.read_to_end(&mut got_s).await.unwrap();
            assert_eq!(got_c, b"from the acceptor");
            assert_eq!(got_s, b"from the initiator");
            let (info_c, info_s) = (c.closed().await.unwrap(), s.closed().await.unwrap());
            let finished = |peer_code| CloseInfo {
                reason: CloseReason::Finished,
                peer_code,
            };
            if code_from_acceptor {
                assert_eq!((info_c, info_s), (finished(Some(6)), finished(None)));
            } else {
                assert_eq!((info_c, info_s), (finished(None), finished(Some(6))));
            }
        }
    })
    .await;
}

#[tokio::test]
async fn abort_is_aborted_here_and_reset_there_with_the_code() {
    guard(30, async {
        for acceptor_aborts in [false, true] {
            let (_server, _client, c, s) = pair().await;
            let (aborter, mut victim) = if acceptor_aborts { (s, c) } else { (c, s) };
            aborter.set_close_reason(Some(2)).unwrap();
            aborter.abort();
            assert_eq!(
                aborter.closed().await.unwrap(),
                CloseInfo {
                    reason: CloseReason::Aborted,
                    peer_code: None
                }
            );
            let mut aborter = aborter;
            assert_eq!(
                aborter.write(b"x").await.unwrap_err().kind(),
                ErrorKind::ConnectionAborted
            );
            assert_eq!(
                closed_after_reset(&mut victim).await,
                CloseInfo {
                    reason: CloseReason::Reset,
                    peer_code: Some(2)
                }
            );
            let mut buf = [0u8; 8];
            assert_eq!(
                victim.read(&mut buf).await.unwrap_err().kind(),
                ErrorKind::ConnectionReset
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_read_after_eof_reports_a_later_reset() {
    guard(30, async {
        for acceptor_writes in [true, false] {
            let (_server, _client, c, s) = pair().await;
            let (mut writer, mut reader) = if acceptor_writes { (s, c) } else { (c, s) };
            writer.write_all(b"everything").await.unwrap();
            writer.shutdown().await.unwrap();
            let mut got = Vec::new();
            reader.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"everything");
            writer.abort();
            // A lost RESET is drawn again by a write (our FIN is not sent:
            // we never shut down; the byte goes out as data).
            let mut kind = None;
            for _ in 0..RESENDS {
                let mut buf = [0u8; 8];
                match tokio::time::timeout(RESEND_WAIT, reader.read(&mut buf)).await {
                    Ok(Ok(0)) => {
                        let _ = reader.write(b"?").await;
                        tokio::time::sleep(RESEND_WAIT).await;
                    }
                    Ok(Ok(n)) => panic!("{n} bytes after EOF"),
                    Ok(Err(e)) => {
                        kind = Some(e.kind());
                        break;
                    }
                    Err(_) => {}
                }
            }
            assert_eq!(kind, Some(ErrorKind::ConnectionReset));
        }
    })
    .await;
}

#[tokio::test]
async fn timeouts_name_their_timer() {
    guard(30, async {
        // A peer that goes silent: the idle timeout ends the connection on
        // both sides (neither hears the other).
        let config = || {
            let mut c = DriverConfig::default();
            c.config.idle_timeout = Some(Duration::from_millis(600));
            c.config.keepalive = None;
            c
        };
        let server = UtpSocket::bind_with("127.0.0.1:0", config()).await.unwrap();
        let client = UtpSocket::bind_with("127.0.0.1:0", config()).await.unwrap();
        let c = client.connect(server.local_addr().unwrap()).await.unwrap();
        let (s, _) = server.accept().await.unwrap();
        // Without keepalives nothing is sent by either side from now on:
        // both time out idle.
        let (ic, is) = tokio::join!(c.closed(), s.closed());
        let idle = CloseInfo {
            reason: CloseReason::TimedOut(Timer::Idle),
            peer_code: None,
        };
        assert_eq!((ic.unwrap(), is.unwrap()), (idle, idle));

        // No answer to the SYN: the connect timeout.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut quick = DriverConfig::default();
        quick.config.connect_timeout = Duration::from_millis(500);
        let client = UtpSocket::bind_with("127.0.0.1:0", quick).await.unwrap();
        let err = client
            .connect(silent.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            "connection timed out (no answer to the SYN)"
        );
        assert_eq!(reason_in(&err), Some(CloseReason::TimedOut(Timer::Connect)));
    })
    .await;
}

/// The typed reason inside an error of a connection that ended.
fn reason_in(err: &std::io::Error) -> Option<CloseReason> {
    err.get_ref()?.downcast_ref::<CloseReason>().copied()
}

#[tokio::test]
async fn a_refused_connect_and_failed_calls_carry_the_reason() {
    guard(30, async {
        // A socket that refuses: its RESET ends our attempt.
        let mut refusing = DriverConfig::default();
        refusing.listen = None;
        let server = UtpSocket::bind_with("127.0.0.1:0", refusing).await.unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = client
            .connect(server.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(reason_in(&err), Some(CloseReason::Refused));
        // A read on a reset stream carries Reset.
        let (_server, _client, c, mut s) = pair().await;
        c.abort();
        drop(c);
        let info = closed_after_reset(&mut s).await;
        assert_eq!(info.reason, CloseReason::Reset);
        let mut buf = [0u8; 4];
        let err = s.read(&mut buf).await.unwrap_err();
        assert_eq!(reason_in(&err), Some(CloseReason::Reset));
    })
    .await;
}

#[tokio::test]
async fn socket_close_ends_held_streams_as_local_close() {
    guard(30, async {
        for close_acceptor in [true, false] {
            let (server, client, mut c, mut s) = pair().await;
            let (closer, closer_stream, other) = if close_acceptor {
                (&server, &mut s, &mut c)
            } else {
                (&client, &mut c, &mut s)
            };
            closer_stream.write_all(b"last words").await.unwrap();
            closer.close();
            // The other side reads everything, then answers with its FIN.
            let mut got = Vec::new();
            other.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"last words");
            other.shutdown().await.unwrap();
            closer.wait_idle().await.unwrap();
            // The stream still held says how it ended, though close()
            // released its connection.
            assert_eq!(
                closer_stream.closed().await.unwrap(),
                CloseInfo {
                    reason: CloseReason::LocalClose,
                    peer_code: None
                }
            );
            assert_eq!(
                closer_stream.write(b"x").await.unwrap_err().kind(),
                ErrorKind::NotConnected
            );
            assert_eq!(other.closed().await.unwrap().reason, CloseReason::Finished);
            // No new connections either way.
            let err = closer.connect("127.0.0.1:9").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotConnected);
            assert_eq!(
                closer.accept().await.unwrap_err().kind(),
                ErrorKind::NotConnected
            );
        }
    })
    .await;
}

#[tokio::test]
async fn several_tasks_accept_at_once() {
    for tasks in [2usize, 8] {
        guard(30, async {
            let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            // Each task takes one connection and stops: all of them finish
            // only if every waiting task is woken in its turn.
            let accepters: Vec<_> = (0..tasks)
                .map(|_| {
                    let server = server.clone();
                    tokio::spawn(async move {
                        let (mut s, _) = server.accept().await.unwrap();
                        let mut got = [0u8; 1];
                        s.read_exact(&mut got).await.unwrap();
                        s.write_all(&got).await.unwrap();
                        s
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut streams = Vec::new();
            for i in 0..tasks {
                let mut c = client.connect(addr).await.unwrap();
                c.write_all(&[i as u8]).await.unwrap();
                streams.push(c);
            }
            for (i, c) in streams.iter_mut().enumerate() {
                let mut echo = [0u8; 1];
                c.read_exact(&mut echo).await.unwrap();
                assert_eq!(echo, [i as u8]);
            }
            for a in accepters {
                a.await.unwrap();
            }
        })
        .await;
    }
}

#[tokio::test]
async fn several_tasks_receive_foreign_datagrams_at_once() {
    guard(30, async {
        let socket = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let tasks = 8;
        let receivers: Vec<_> = (0..tasks)
            .map(|_| {
                let socket = socket.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let (n, _) = socket.recv_foreign(&mut buf).await.unwrap();
                    buf[..n].to_vec()
                })
            })
            .collect();
        tokio::task::yield_now().await;
        // Every task must get one; datagrams may be lost, so keep sending
        // until all are done (extra ones stay queued).
        let sender = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut receivers = receivers;
        let mut got = Vec::new();
        for _ in 0..RESENDS {
            for _ in 0..tasks {
                sender.send_to(b"d1:ad2:id20:xe", addr).await.unwrap();
            }
            tokio::time::sleep(RESEND_WAIT).await;
            let (done, waiting): (Vec<_>, Vec<_>) =
                receivers.into_iter().partition(|r| r.is_finished());
            for r in done {
                got.push(r.await.unwrap());
            }
            receivers = waiting;
            if receivers.is_empty() {
                break;
            }
        }
        assert_eq!(got.len(), tasks);
        assert!(got.iter().all(|d| d == b"d1:ad2:id20:xe"));
    })
    .await;
}

/// The child process of [`close_and_wait_idle_deliver_everything_before_exit`]:
/// connects to `UTP_LIFECYCLE_PEER`, writes 64 MiB, closes the socket,
/// waits until it is idle and returns (the process exits).
#[test]
fn child_writes_64_mib_then_exits() {
    let Ok(peer) = std::env::var("UTP_LIFECYCLE_PEER") else {
        return; // only as a child
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let socket = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut stream = socket.connect(peer.as_str()).await.unwrap();
        let mut at = 0u64;
        let mut chunk = vec![0u8; 1 << 20];
        while at < 64 << 20 {
            common::fill(64, at, &mut chunk);
            stream.write_all(&chunk).await.unwrap();
            at += chunk.len() as u64;
        }
        socket.close();
        socket.wait_idle().await.unwrap();
    });
    // Returning ends the process: the runtime and the driver with it.
}

#[tokio::test]
async fn close_and_wait_idle_deliver_everything_before_exit() {
    guard(120, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_writes_64_mib_then_exits",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("UTP_LIFECYCLE_PEER", addr.to_string())
            .spawn()
            .unwrap();
        let (mut s, _) = server.accept().await.unwrap();
        let mut received = Vec::with_capacity(64 << 20);
        s.read_to_end(&mut received).await.unwrap();
        // Our FIN lets the child's connection finish (it waits for it).
        s.shutdown().await.unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "child: {status}");
        assert_eq!(received.len(), 64 << 20);
        assert!(received == data(64, 64 << 20), "the bytes differ");
    })
    .await;
}
