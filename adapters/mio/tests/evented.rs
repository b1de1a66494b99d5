//! UtpMio inside a hand-written mio::Poll loop, on real loopback sockets.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use utp_mio::{CloseReason, ConnHandle, Event, UtpMio};

mod common;

use common::resend_until;

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Bytes waiting to be written to one connection.
#[derive(Default)]
struct Outgoing {
    data: Vec<u8>,
    at: usize,
    /// Shut down once everything is written.
    fin: bool,
    fin_sent: bool,
}

/// Writes what `out` holds until done or WouldBlock; then the FIN if asked.
fn pump(utp: &mut UtpMio, h: ConnHandle, out: &mut Outgoing) {
    while out.at < out.data.len() {
        match utp.write(h, &out.data[out.at..]) {
            Ok(n) => out.at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("write: {e}"),
        }
    }
    if out.fin && !out.fin_sent {
        utp.shutdown(h).unwrap();
        out.fin_sent = true;
    }
}

/// Reads everything there is into `into`; true at EOF.
fn drain(utp: &mut UtpMio, h: ConnHandle, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 8192];
    loop {
        match utp.read(h, &mut buf) {
            Ok(0) => return true,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn echo_in_a_poll_loop() {
    const SERVER: Token = Token(0);
    const CLIENT: Token = Token(1);
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(64);
    let mut server = UtpMio::bind(localhost()).unwrap();
    let mut client = UtpMio::bind(localhost()).unwrap();
    server.register(poll.registry(), SERVER).unwrap();
    client.register(poll.registry(), CLIENT).unwrap();
    let server_addr = server.local_addr().unwrap();
    let client_addr = client.local_addr().unwrap();

    let msg = message(3 << 20);
    let conn = client.connect(server_addr).unwrap();
    let mut client_out = Outgoing {
        data: msg.clone(),
        fin: true,
        ..Outgoing::default()
    };
    let mut echoed = Vec::new();
    // The server's connections: bytes read and not yet echoed.
    let mut server_out: HashMap<ConnHandle, Outgoing> = HashMap::new();
    let mut closed = (None, None);

    let give_up = Instant::now() + Duration::from_secs(30);
    // Until both connections closed and, after their drain time (a few
    // seconds: timers of the loop), were forgotten.
    while closed.0.is_none()
        || closed.1.is_none()
        || server.driver().endpoint().connection_count() > 0
        || client.driver().endpoint().connection_count() > 0
    {
        assert!(Instant::now() < give_up, "echo did not finish");
        let now = Instant::now();
        let timeout = [server.timeout(now), client.timeout(now)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(Duration::from_secs(1));
        poll.poll(&mut events, Some(timeout)).unwrap();
        server.handle_io(Instant::now());
        client.handle_io(Instant::now());

        while let Some(event) = server.poll_event() {
            match event {
                Event::Incoming => {
                    let (h, peer) = server.accept().unwrap();
                    assert_eq!(peer, client_addr);
                    server_out.insert(h, Outgoing::default());
                }
                Event::Readable(h) | Event::Eof(h) => {
                    let out = server_out.get_mut(&h).unwrap();
                    let mut got = Vec::new();
                    out.fin |= drain(&mut server, h, &mut got);
                    out.data.extend_from_slice(&got);
                    pump(&mut server, h, out);
                }
                Event::Writable(h) => pump(&mut server, h, server_out.get_mut(&h).unwrap()),
                Event::Closed(h, reason) => {
                    closed.0 = Some(reason);
                    server.close(h);
                }
                Event::Connected(_) => panic!("the server connected out"),
                Event::Duplicate { .. } => panic!("no rendezvous here"),
            }
        }
        while let Some(event) = client.poll_event() {
            match event {
                Event::Connected(h) | Event::Writable(h) => {
                    assert_eq!(h, conn);
                    pump(&mut client, h, &mut client_out);
                }
                Event::Readable(h) | Event::Eof(h) => {
                    drain(&mut client, h, &mut echoed);
                }
                Event::Closed(h, reason) => {
                    closed.1 = Some(reason);
                    client.close(h);
                }
                Event::Incoming => panic!("nobody connects to the client"),
                Event::Duplicate { .. } => panic!("no rendezvous here"),
            }
        }
    }
    assert_eq!(
        closed,
        (Some(CloseReason::Finished), Some(CloseReason::Finished))
    );
    assert!(
        echoed == msg,
        "echo differs ({} of {} bytes)",
        echoed.len(),
        msg.len()
    );
}

#[test]
fn foreign_datagrams_in_a_poll_loop() {
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(8);
    let mut utp = UtpMio::bind(localhost()).unwrap();
    utp.register(poll.registry(), Token(7)).unwrap();
    let addr = utp.local_addr().unwrap();
    let mut buf = [0u8; 2048];
    let err = utp.recv_foreign(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

    // Sent again until it arrives: UDP may drop it.
    let plain = UdpSocket::bind(localhost()).unwrap();
    let dht = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    let ((n, from), pings) = resend_until(
        "the DHT ping",
        || {
            plain.send_to(dht, addr).unwrap();
        },
        |wait| {
            let give_up = Instant::now() + wait;
            while Instant::now() < give_up {
                let timeout = utp
                    .timeout(Instant::now())
                    .unwrap_or(wait)
                    .min(give_up.saturating_duration_since(Instant::now()));
                poll.poll(&mut events, Some(timeout)).unwrap();
                utp.handle_io(Instant::now());
                match utp.recv_foreign(&mut buf) {
                    Ok(got) => return Some(got),
                    Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
                }
            }
            None
        },
    );
    assert_eq!(&buf[..n], dht);
    assert_eq!(from, plain.local_addr().unwrap());
    assert_eq!(utp.poll_event(), None);
    let foreign = utp.driver().endpoint_stats().foreign;
    assert!((1..=u64::from(pings)).contains(&foreign), "{foreign}");

    let reply = b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
    let ((n, from), _) = resend_until(
        "the reply",
        || assert_eq!(utp.send_foreign(reply, from).unwrap(), reply.len()),
        |wait| {
            plain.set_read_timeout(Some(wait)).unwrap();
            plain.recv_from(&mut buf).ok()
        },
    );
    assert_eq!(&buf[..n], reply);
    assert_eq!(from, addr);
}

/// Two evented sockets that do not listen connect to each other at once
/// (`connect_rendezvous`): one connection each, a message each way.
#[test]
fn a_rendezvous_in_a_poll_loop() {
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(64);
    let config = || utp_mio::DriverConfig::default().outgoing_only();
    let mut sides = [
        UtpMio::bind_with(localhost(), config()).unwrap(),
        UtpMio::bind_with(localhost(), config()).unwrap(),
    ];
    let addrs = [
        sides[0].local_addr().unwrap(),
        sides[1].local_addr().unwrap(),
    ];
    for (i, s) in sides.iter_mut().enumerate() {
        s.register(poll.registry(), Token(i)).unwrap();
    }
    let handles = [
        sides[0].connect_rendezvous(addrs[1]).unwrap(),
        sides[1].connect_rendezvous(addrs[0]).unwrap(),
    ];
    let msgs = [
        message(300_000),
        message(200_000).into_iter().rev().collect::<Vec<u8>>(),
    ];
    let mut out = msgs.clone().map(|data| Outgoing {
        data,
        fin: true,
        ..Outgoing::default()
    });
    let mut got = [Vec::new(), Vec::new()];
    let mut eof = [false, false];
    let give_up = Instant::now() + Duration::from_secs(30);
    while !(eof[0] && eof[1]) {
        assert!(
            Instant::now() < give_up,
            "the rendezvous exchange did not finish"
        );
        let now = Instant::now();
        let timeout = sides
            .iter_mut()
            .filter_map(|s| s.timeout(now))
            .min()
            .unwrap_or(Duration::from_secs(1));
        poll.poll(&mut events, Some(timeout)).unwrap();
        for i in 0..2 {
            let (s, h) = (&mut sides[i], handles[i]);
            s.handle_io(Instant::now());
            while let Some(event) = s.poll_event() {
                match event {
                    Event::Connected(c) | Event::Writable(c) => {
                        assert_eq!(c, h);
                        pump(s, h, &mut out[i]);
                    }
                    Event::Readable(c) | Event::Eof(c) => {
                        assert_eq!(c, h);
                        eof[i] |= drain(s, h, &mut got[i]);
                    }
                    // Both FINs went and came: done with this side.
                    Event::Closed(c, CloseReason::Finished) => assert_eq!(c, h),
                    Event::Closed(_, reason) => panic!("side {i} closed: {reason:?}"),
                    Event::Incoming | Event::Duplicate { .. } => {
                        panic!("side {i} does not listen")
                    }
                }
            }
        }
    }
    assert!(
        got[1] == msgs[0] && got[0] == msgs[1],
        "bytes intact both ways"
    );
    let stats = [
        sides[0].driver().endpoint().stats(),
        sides[1].driver().endpoint().stats(),
    ];
    assert_eq!(
        stats[0].rendezvous_lost + stats[1].rendezvous_lost,
        1,
        "{stats:?}"
    );
}
