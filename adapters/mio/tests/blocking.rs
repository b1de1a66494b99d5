//! The blocking API (UtpListener, UtpStream) on real loopback sockets.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use utp_mio::bytes::Bytes;
use utp_mio::{DriverConfig, UtpListener, UtpStream};

mod common;

use common::{data, guard, resend_until, Gen, RESENDS, RESEND_WAIT};

/// A server that echoes every connection until EOF, then shuts down.
fn echo_server(listener: UtpListener, connections: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut workers = Vec::new();
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().unwrap();
            workers.push(thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    stream.write_all(&buf[..n]).unwrap();
                }
                stream.shutdown(std::net::Shutdown::Write).unwrap();
            }));
        }
        for w in workers {
            w.join().unwrap();
        }
    })
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn echo_exact_bytes() {
    guard(30, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = echo_server(listener, 1);
        let mut stream = UtpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
        let msg = data(1, 100_000);
        stream.write_all(&msg).unwrap();
        stream.flush().unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).unwrap();
        assert_eq!(echoed, msg);
        server.join().unwrap();
    });
}

#[test]
fn transfer_64_mib_checked() {
    const LEN: usize = 64 << 20;
    guard(55, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            // Compare with the regenerated stream, 8 bytes at a time.
            let mut gen = Gen::new(64);
            let mut expected = Vec::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0usize;
            loop {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                while expected.len() < n {
                    expected.extend_from_slice(&gen.next().to_le_bytes());
                }
                assert!(buf[..n] == expected[..n], "data differ after byte {total}");
                expected.drain(..n);
                total += n;
            }
            stream.write_all(&(total as u64).to_le_bytes()).unwrap();
            total
        });
        let mut stream = UtpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let start = Instant::now();
        let mut gen = Gen::new(64);
        let mut chunk = Vec::with_capacity(64 * 1024);
        let mut sent = 0;
        while sent < LEN {
            chunk.clear();
            while chunk.len() < 64 * 1024 {
                chunk.extend_from_slice(&gen.next().to_le_bytes());
            }
            stream.write_all(&chunk).unwrap();
            sent += chunk.len();
        }
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut ack = Vec::new();
        stream.read_to_end(&mut ack).unwrap();
        let elapsed = start.elapsed();
        assert_eq!(ack, (LEN as u64).to_le_bytes());
        assert_eq!(server.join().unwrap(), LEN);
        let stats = stream.stats();
        eprintln!(
            "64 MiB in {:.2} s: {:.1} MiB/s ({} packets sent, {} retransmits)",
            elapsed.as_secs_f64(),
            64.0 / elapsed.as_secs_f64(),
            stats.packets_sent,
            stats.retransmits
        );
    });
}

#[test]
fn hundred_connections_on_one_socket() {
    const THREADS: u64 = 10;
    const PER_THREAD: u64 = 10;
    guard(45, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let server_addr = listener.local_addr().unwrap();
        let server = echo_server(listener, (THREADS * PER_THREAD) as usize);
        // A random seed each run: connection ids that collide at the peer
        // (utp-core once picked the id one above an earlier connection's,
        // which lost ~6% of runs) are covered by the core's tests over
        // fixed seeds.
        let client = std::sync::Arc::new(UtpListener::bind(localhost()).unwrap());
        let client_addr = client.local_addr().unwrap();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let client = client.clone();
                thread::spawn(move || {
                    // Open all streams of this thread first: 100 at once.
                    let mut streams: Vec<(u64, UtpStream)> = (0..PER_THREAD)
                        .map(|i| {
                            let s = client
                                .connect(server_addr)
                                .unwrap_or_else(|e| panic!("connect {t}/{i}: {e:?}"));
                            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                            assert_eq!(s.local_addr().unwrap(), client_addr);
                            (t * PER_THREAD + i, s)
                        })
                        .collect();
                    for (id, s) in &mut streams {
                        s.write_all(&data(1000 + *id, 20_000 + *id as usize * 100))
                            .unwrap();
                        s.shutdown(std::net::Shutdown::Write).unwrap();
                    }
                    for (id, s) in &mut streams {
                        let mut echoed = Vec::new();
                        s.read_to_end(&mut echoed).unwrap();
                        assert!(echoed == data(1000 + *id, 20_000 + *id as usize * 100));
                    }
                    streams.len()
                })
            })
            .collect();
        let done: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(done, 100);
        server.join().unwrap();
    });
}

#[test]
fn refused_and_timed_out() {
    guard(30, || {
        // Bound, but not listening: RESET answers the SYN.
        let mut config = DriverConfig::default();
        config.listen = None;
        let closed = UtpListener::bind_with(localhost(), config).unwrap();
        let start = Instant::now();
        let err = UtpStream::connect(closed.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // At the first RESET that arrives, long before the connect timeout
        // (10 s); a lost SYN or RESET costs a retransmission (1 s, 2 s).
        assert!(start.elapsed() < Duration::from_secs(8));

        // Nothing bound at all, and ICMP errors off (on Linux they refuse
        // at once: icmp.rs): no answer until the connect timeout.
        let port = UdpSocket::bind(localhost()).unwrap().local_addr().unwrap();
        let mut config = DriverConfig::default();
        config.config.connect_timeout = Duration::from_secs(2);
        config.socket.icmp_errors = false;
        let start = Instant::now();
        let err = UtpStream::connect_with(port, config).unwrap_err();
        let elapsed = start.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(7),
            "timed out after {elapsed:?}"
        );
    });
}

#[test]
fn peer_abort_resets_reader() {
    guard(30, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = UtpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let (server, peer) = listener.accept().unwrap();
        assert_eq!(peer.port(), client.local_addr().unwrap().port());
        server.abort();
        // The RESET is one datagram: without it, a byte written draws
        // another (the listener's endpoint answers packets of a connection
        // it no longer has with RESET).
        client.set_read_timeout(Some(RESEND_WAIT)).unwrap();
        let err = (0..RESENDS)
            .find_map(|_| match client.read(&mut [0u8; 100]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => client.write_all(b"?").err(),
                Err(e) => Some(e),
                Ok(n) => panic!("read {n} bytes after the abort"),
            })
            .expect("no RESET");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn half_close_both_directions() {
    guard(30, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (to_server, to_client) = (data(6, 300_000), data(7, 200_000));
        let (a, b) = (to_server.clone(), to_client.clone());
        let server = thread::spawn(move || {
            // Connection 1: the client shuts down first; we answer after EOF.
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert!(got == a);
            s.write_all(&b).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            // Connection 2: we shut down first, then read the client's data.
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(&b).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert!(got == a);
        });

        let mut c = UtpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(&to_server).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let err = c.write(b"late").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert!(got == to_client);

        let mut c = UtpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert!(got == to_client);
        c.write_all(&to_server).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        server.join().unwrap();
    });
}

/// `write_bytes` both ways, the acceptor writing first: `Bytes` of mixed
/// sizes (those under 1 KiB are copied, the others queued) arrive exactly.
#[test]
fn write_bytes_both_ways() {
    const LEN: usize = 3 << 20;
    fn send(s: &UtpStream, data: Vec<u8>) {
        let mut all = Bytes::from(data);
        for len in [64 << 10, 100, 1 << 20, 1500].into_iter().cycle() {
            if all.is_empty() {
                break;
            }
            s.write_bytes(all.split_to(len.min(all.len()))).unwrap();
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    guard(30, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            send(&s, data(30, LEN));
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert!(got == data(31, LEN), "client → server differs");
        });
        let mut c = UtpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert!(got == data(30, LEN), "server → client differs");
        send(&c, data(31, LEN));
        server.join().unwrap();
    });
}

#[test]
fn ipv6_echo() {
    let listener = match UtpListener::bind("[::1]:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipped: cannot bind [::1]: {e}");
            return;
        }
    };
    guard(30, move || {
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6());
        let server = echo_server(listener, 1);
        let mut stream = UtpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let msg = data(8, 50_000);
        stream.write_all(&msg).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).unwrap();
        assert!(echoed == msg);
        server.join().unwrap();
    });
}

#[test]
fn foreign_datagrams_during_transfer() {
    const LEN: usize = 8 << 20;
    guard(30, || {
        let listener = std::sync::Arc::new(UtpListener::bind(localhost()).unwrap());
        let addr = listener.local_addr().unwrap();
        let (halfway_tx, halfway_rx) = mpsc::channel();
        let l = listener.clone();
        let server = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut signalled = false;
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if !signalled && got.len() >= LEN / 4 {
                    halfway_tx.send(()).unwrap();
                    signalled = true;
                }
            }
            got
        });
        let client = thread::spawn(move || {
            let mut c = UtpStream::connect(addr).unwrap();
            c.write_all(&data(9, LEN)).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
            c
        });

        halfway_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        // The transfer fills the socket's receive buffer, so the ping may
        // be dropped: like a DHT node, ask again when no answer comes.
        let plain = UdpSocket::bind(localhost()).unwrap();
        let dht = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let mut buf = [0u8; 2048];
        let ((n, from), pings) = resend_until(
            "the DHT ping",
            || {
                plain.send_to(dht, addr).unwrap();
            },
            |wait| listener.recv_foreign(&mut buf, Some(wait)).ok(),
        );
        assert_eq!(&buf[..n], dht);
        assert_eq!(from, plain.local_addr().unwrap());

        let reply = b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
        let mut back = [0u8; 2048];
        let ((n, from), _) = resend_until(
            "the reply",
            || assert_eq!(listener.send_foreign(reply, from).unwrap(), reply.len()),
            |wait| {
                plain.set_read_timeout(Some(wait)).unwrap();
                plain.recv_from(&mut back).ok()
            },
        );
        assert_eq!(&back[..n], reply);
        assert_eq!(from, addr);

        assert!(server.join().unwrap() == data(9, LEN));
        drop(client.join().unwrap());
        assert!(listener.driver_stats().datagrams_received > 1000);
        // Only the pings, each once: the ones sent again that arrived are
        // still queued; then the wait times out.
        let mut queued = 0;
        let err = loop {
            match listener.recv_foreign(&mut buf, Some(Duration::from_millis(100))) {
                Ok((n, from)) => {
                    assert_eq!((&buf[..n], from), (&dht[..], plain.local_addr().unwrap()));
                    queued += 1;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(queued < pings, "{queued} more than the {pings} sent");
        let foreign = listener.endpoint_stats().foreign;
        assert!(
            (u64::from(1 + queued)..=u64::from(pings)).contains(&foreign),
            "{foreign}"
        );
    });
}

#[test]
fn read_and_write_timeouts_give_would_block() {
    guard(30, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let mut c = UtpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let err = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

        // Nothing is sent: the read times out with WouldBlock.
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let start = Instant::now();
        let err = c.read(&mut [0u8; 10]).unwrap_err();
        let elapsed = start.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5));

        // The server never reads: its window and our send buffer fill up,
        // then a write times out with WouldBlock.
        c.set_write_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut written = 0;
        let err = loop {
            match c.write(&chunk) {
                Ok(n) => written += n,
                Err(e) => break e,
            }
            assert!(written < 64 << 20, "writes never blocked");
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(written >= 1 << 20, "blocked after {written} bytes");
    });
}

#[test]
fn try_clone_full_duplex() {
    const LEN: usize = 4 << 20;
    fn duplex(stream: UtpStream, send_seed: u64, recv_seed: u64) {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let w = thread::spawn(move || {
            (&writer).write_all(&data(send_seed, LEN)).unwrap();
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        (&stream).read_to_end(&mut got).unwrap();
        assert!(got == data(recv_seed, LEN));
        w.join().unwrap();
    }
    guard(40, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            duplex(s, 11, 10);
        });
        duplex(UtpStream::connect(addr).unwrap(), 10, 11);
        server.join().unwrap();
    });
}

#[test]
fn streams_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<UtpStream>();
    check::<UtpListener>();
}

/// Waits (without sleeping) until `addr` can be bound again, i.e. the
/// background thread exited and closed its socket; how long that took.
fn port_freed(addr: SocketAddr, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match UdpSocket::bind(addr) {
            Ok(_) => return start.elapsed(),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::AddrInUse),
        }
        assert!(start.elapsed() < within, "{addr} still bound");
        thread::yield_now();
    }
}

#[test]
fn socket_closes_when_all_handles_are_gone() {
    guard(30, || {
        // No connection: the thread exits as soon as the listener drops.
        let listener = UtpListener::bind(localhost()).unwrap();
        let server_addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(port_freed(server_addr, Duration::from_secs(5)) < Duration::from_secs(1));

        // A connection: both sockets stay open while it closes (FIN
        // exchange, drain time), then go.
        let listener = UtpListener::bind(localhost()).unwrap();
        let server_addr = listener.local_addr().unwrap();
        let server = echo_server(listener, 1);
        let mut c = UtpStream::connect(server_addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let client_port = c.local_addr().unwrap().port();
        let client_addr = SocketAddr::from(([127, 0, 0, 1], client_port));
        c.write_all(b"bye").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
        let c2 = c.try_clone().unwrap();
        drop(c);
        assert!(
            UdpSocket::bind(client_addr).is_err(),
            "closed while a clone lives"
        );
        drop(c2);
        server.join().unwrap();
        port_freed(client_addr, Duration::from_secs(15));
        port_freed(server_addr, Duration::from_secs(15));
    });
}

/// `accept_timeout`: `WouldBlock` when nothing came in time (a zero
/// timeout refused), the connection once one comes, with its bytes.
#[test]
fn accept_timeout_gives_up_then_accepts() {
    guard(30, || {
        let listener = UtpListener::bind(localhost()).unwrap();
        let addr = listener.local_addr().unwrap();
        let zero = listener.accept_timeout(Duration::ZERO).unwrap_err();
        assert_eq!(zero.kind(), io::ErrorKind::InvalidInput);
        let started = Instant::now();
        let idle = listener
            .accept_timeout(Duration::from_millis(50))
            .unwrap_err();
        assert_eq!(idle.kind(), io::ErrorKind::WouldBlock);
        assert!(started.elapsed() >= Duration::from_millis(50));
        let client = thread::spawn(move || {
            let mut stream = UtpStream::connect(addr).unwrap();
            let mut hello = [0u8; 5];
            stream.read_exact(&mut hello).unwrap();
            assert_eq!(&hello, b"hello");
            stream.write_all(b"hi").unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty());
        });
        let (mut stream, _) = loop {
            match listener.accept_timeout(Duration::from_millis(100)) {
                Ok(accepted) => break accepted,
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
            }
        };
        stream.write_all(b"hello").unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hi");
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        client.join().unwrap();
    });
}
