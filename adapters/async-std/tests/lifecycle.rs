//! How connections and sockets end, under async-std and smol: `closed()`
//! on both sides with the peer's close-reason code, abort, the socket's
//! `close()` + `wait_idle()` after 64 MiB, and several tasks in `accept`.
//! A lost datagram (RESET, FIN) is drawn again when late.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use std::io::ErrorKind;

use common::{localhost, read_pattern, write_pattern, Rt, RESENDS, RESEND_WAIT};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use utp_async_std::{CloseInfo, CloseReason, UtpSocket, UtpStream};

async fn pair() -> (UtpSocket, UtpSocket, UtpStream, UtpStream) {
    let server = UtpSocket::bind(localhost()).await.unwrap();
    let client = UtpSocket::bind(localhost()).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (c, s) = future::zip(client.connect(addr), server.accept()).await;
    (server, client, c.unwrap(), s.unwrap().0)
}

async fn finished_both_ways_with_the_peers_code(_: Rt) {
    for code_from_acceptor in [false, true] {
        let (_server, _client, mut c, mut s) = pair().await;
        s.write_all(b"from the acceptor").await.unwrap();
        c.write_all(b"from the initiator").await.unwrap();
        let coder = if code_from_acceptor { &s } else { &c };
        coder.set_close_reason(Some(6)).unwrap();
        c.close().await.unwrap();
        s.close().await.unwrap();
        let (mut got_c, mut got_s) = (Vec::new(), Vec::new());
        c.read_to_end(&mut got_c).await.unwrap();
        s.read_to_end(&mut got_s).await.unwrap();
        assert_eq!(got_c, b"from the acceptor");
        assert_eq!(got_s, b"from the initiator");
        let finished = |peer_code| CloseInfo {
            reason: CloseReason::Finished,
            peer_code,
        };
        let (code_c, code_s) = if code_from_acceptor {
            (Some(6), None)
        } else {
            (None, Some(6))
        };
        assert_eq!(c.closed().await.unwrap(), finished(code_c));
        assert_eq!(s.closed().await.unwrap(), finished(code_s));
    }
}

async fn abort_is_aborted_here_and_reset_there(_: Rt) {
    for acceptor_aborts in [false, true] {
        let (_server, _client, c, s) = pair().await;
        let (aborter, mut victim) = if acceptor_aborts { (s, c) } else { (c, s) };
        aborter.set_close_reason(Some(2)).unwrap();
        aborter.abort();
        assert_eq!(aborter.closed().await.unwrap().reason, CloseReason::Aborted);
        let mut info = None;
        for _ in 0..RESENDS {
            let late = async {
                async_io::Timer::after(RESEND_WAIT).await;
                None
            };
            info = future::or(async { Some(victim.closed().await.unwrap()) }, late).await;
            if info.is_some() {
                break;
            }
            // A lost RESET is drawn again by a write.
            let _ = victim.write(b"?").await;
        }
        assert_eq!(
            info,
            Some(CloseInfo {
                reason: CloseReason::Reset,
                peer_code: Some(2)
            })
        );
        let mut buf = [0u8; 4];
        assert_eq!(
            victim.read(&mut buf).await.unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
    }
}

async fn close_and_wait_idle_deliver_64_mib(rt: Rt) {
    for acceptor_writes in [true, false] {
        let (server, client, c, s) = pair().await;
        let (writer_socket, mut writer, mut reader) = if acceptor_writes {
            (server, s, c)
        } else {
            (client, c, s)
        };
        let len = 64 << 20;
        let read = rt.spawn(async move {
            read_pattern(&mut reader, 9, len).await;
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
            reader.close().await.unwrap();
            reader
        });
        write_pattern(&mut writer, 9, len).await;
        writer_socket.close();
        writer_socket.wait_idle().await.unwrap();
        assert_eq!(
            writer.closed().await.unwrap().reason,
            CloseReason::LocalClose
        );
        read.await;
        assert_eq!(
            writer_socket.accept().await.unwrap_err().kind(),
            ErrorKind::NotConnected
        );
    }
}

async fn eight_tasks_accept_at_once(rt: Rt) {
    let server = UtpSocket::bind(localhost()).await.unwrap();
    let addr = server.local_addr().unwrap();
    let tasks = 8;
    let accepters: Vec<_> = (0..tasks)
        .map(|_| {
            let server = server.clone();
            rt.spawn(async move {
                let (mut s, _) = server.accept().await.unwrap();
                let mut got = [0u8; 1];
                s.read_exact(&mut got).await.unwrap();
                s.write_all(&got).await.unwrap();
                s
            })
        })
        .collect();
    let client = UtpSocket::bind(localhost()).await.unwrap();
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
        a.await;
    }
}

both_runtimes!(60 =>
    finished_both_ways_with_the_peers_code,
    abort_is_aborted_here_and_reset_there,
    close_and_wait_idle_deliver_64_mib,
    eight_tasks_accept_at_once,
);
