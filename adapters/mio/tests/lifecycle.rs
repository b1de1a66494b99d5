//! How connections and sockets end on the blocking API: `closed()` on both
//! sides with the peer's close-reason code, abort, the listener's
//! `close()` + `wait_idle()` after 64 MiB, several threads in `accept`. A
//! lost datagram (RESET, FIN) is drawn again when late.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;

use common::{data, guard, RESENDS, RESEND_WAIT};
use utp_mio::{CloseInfo, CloseReason, UtpListener, UtpStream};

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// (server, client, client stream, server stream).
fn pair() -> (UtpListener, UtpListener, UtpStream, UtpStream) {
    let server = UtpListener::bind(localhost()).unwrap();
    let client = UtpListener::bind(localhost()).unwrap();
    let c = client.connect(server.local_addr().unwrap()).unwrap();
    let (s, _) = server.accept().unwrap();
    (server, client, c, s)
}

#[test]
fn finished_both_ways_with_the_peers_code() {
    guard(30, || {
        for code_from_acceptor in [false, true] {
            let (_server, _client, mut c, mut s) = pair();
            s.write_all(b"from the acceptor").unwrap();
            c.write_all(b"from the initiator").unwrap();
            let coder = if code_from_acceptor { &s } else { &c };
            coder.set_close_reason(Some(6)).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let (mut got_c, mut got_s) = (Vec::new(), Vec::new());
            c.read_to_end(&mut got_c).unwrap();
            s.read_to_end(&mut got_s).unwrap();
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
            assert_eq!(c.closed(None).unwrap(), finished(code_c));
            assert_eq!(s.closed(None).unwrap(), finished(code_s));
        }
    });
}

#[test]
fn abort_is_aborted_here_and_reset_there() {
    guard(30, || {
        for acceptor_aborts in [false, true] {
            let (_server, _client, c, s) = pair();
            let (aborter, mut victim) = if acceptor_aborts { (s, c) } else { (c, s) };
            aborter.set_close_reason(Some(2)).unwrap();
            aborter.abort();
            assert_eq!(aborter.closed(None).unwrap().reason, CloseReason::Aborted);
            assert_eq!(
                (&aborter).write(b"x").unwrap_err().kind(),
                ErrorKind::ConnectionAborted
            );
            let mut info = None;
            for _ in 0..RESENDS {
                match victim.closed(Some(RESEND_WAIT)) {
                    Ok(i) => {
                        info = Some(i);
                        break;
                    }
                    Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
                }
                // A lost RESET is drawn again by a write.
                let _ = victim.write(b"?");
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
                victim.read(&mut buf).unwrap_err().kind(),
                ErrorKind::ConnectionReset
            );
        }
    });
}

#[test]
fn close_and_wait_idle_deliver_64_mib() {
    guard(120, || {
        for acceptor_writes in [true, false] {
            let (server, client, c, s) = pair();
            let (writer_socket, mut writer, mut reader) = if acceptor_writes {
                (server, s, c)
            } else {
                (client, c, s)
            };
            let expected = data(11, 64 << 20);
            let read = thread::spawn(move || {
                let mut got = Vec::with_capacity(64 << 20);
                reader.read_to_end(&mut got).unwrap();
                reader.shutdown(std::net::Shutdown::Write).unwrap();
                (got, reader)
            });
            writer.write_all(&expected).unwrap();
            writer_socket.close();
            writer_socket.wait_idle(None).unwrap();
            assert_eq!(writer.closed(None).unwrap().reason, CloseReason::LocalClose);
            let (got, _reader) = read.join().unwrap();
            assert!(got == expected, "{} bytes arrived", got.len());
            assert_eq!(
                writer_socket.accept().unwrap_err().kind(),
                ErrorKind::NotConnected
            );
        }
    });
}

#[test]
fn several_threads_accept_at_once() {
    guard(30, || {
        let server = std::sync::Arc::new(UtpListener::bind(localhost()).unwrap());
        let addr = server.local_addr().unwrap();
        let threads = 8;
        let accepters: Vec<_> = (0..threads)
            .map(|_| {
                let server = server.clone();
                thread::spawn(move || {
                    let (mut s, _) = server.accept().unwrap();
                    let mut got = [0u8; 1];
                    s.read_exact(&mut got).unwrap();
                    s.write_all(&got).unwrap();
                    s
                })
            })
            .collect();
        let client = UtpListener::bind(localhost()).unwrap();
        let mut streams = Vec::new();
        for i in 0..threads {
            let mut c = client.connect(addr).unwrap();
            c.write_all(&[i as u8]).unwrap();
            streams.push(c);
        }
        for (i, c) in streams.iter_mut().enumerate() {
            let mut echo = [0u8; 1];
            c.read_exact(&mut echo).unwrap();
            assert_eq!(echo, [i as u8]);
        }
        for a in accepters {
            a.join().unwrap();
        }
    });
}

#[test]
fn shutdown_as_std_has_it() {
    guard(30, || {
        for acceptor_shuts in [true, false] {
            let (_server, _client, c, s) = pair();
            let (shutter, mut other) = if acceptor_shuts { (s, c) } else { (c, s) };
            // Read: reads end at once, while the other side still sends and
            // this side still writes.
            other.write_all(b"unread").unwrap();
            shutter.shutdown(Shutdown::Read).unwrap();
            let mut buf = [0u8; 16];
            assert_eq!((&shutter).read(&mut buf).unwrap(), 0);
            (&shutter).write_all(b"still writing").unwrap();
            let mut got = [0u8; 13];
            other.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"still writing");
            // Both: the FIN follows; writes fail, reads stay at 0.
            shutter.shutdown(Shutdown::Both).unwrap();
            assert_eq!(
                (&shutter).write(b"x").unwrap_err().kind(),
                ErrorKind::BrokenPipe
            );
            assert_eq!((&shutter).read(&mut buf).unwrap(), 0);
            let mut rest = Vec::new();
            other.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty(), "{rest:?}");
        }
    });
}
