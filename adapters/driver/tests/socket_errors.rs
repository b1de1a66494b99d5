//! The driver over a scripted socket that behaves as Linux does with
//! ICMP errors on: queued errors (port unreachable, packet too big) fail
//! the next receive or send once and wait in an error queue; and the
//! address rules of a dual-stack socket.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use utp_core::wire::{PacketRepr, PacketType};
use utp_core::{ListenConfig, Timestamp};
use utp_driver::{DatagramSocket, Driver, DriverConfig, SocketError};

/// A receive's result: sender and datagram.
type Received = io::Result<(SocketAddr, Vec<u8>)>;

#[derive(Default)]
struct Script {
    local: Option<SocketAddr>,
    dual_stack: bool,
    /// What the next receives return (then `WouldBlock`).
    inbound: RefCell<VecDeque<Received>>,
    /// Errors the next sends fail with (then they succeed).
    send_errors: RefCell<VecDeque<io::ErrorKind>>,
    /// The error queue.
    queue: RefCell<VecDeque<SocketError>>,
    sent: RefCell<Vec<(SocketAddr, Vec<u8>)>>,
}

impl Script {
    fn on(local: &str) -> Script {
        Script {
            local: Some(addr(local)),
            ..Script::default()
        }
    }

    fn sent_types(&self) -> Vec<(SocketAddr, PacketType)> {
        self.sent
            .borrow()
            .iter()
            .map(|(to, d)| (*to, PacketRepr::parse(d).unwrap().packet_type))
            .collect()
    }
}

impl DatagramSocket for Script {
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let next = self.inbound.borrow_mut().pop_front();
        let (from, data) = next.unwrap_or(Err(io::ErrorKind::WouldBlock.into()))?;
        buf[..data.len()].copy_from_slice(&data);
        Ok((data.len(), from))
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        if let Some(kind) = self.send_errors.borrow_mut().pop_front() {
            return Err(kind.into());
        }
        self.sent.borrow_mut().push((to, buf.to_vec()));
        Ok(buf.len())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local.unwrap())
    }

    fn try_recv_error(&self) -> io::Result<Option<SocketError>> {
        Ok(self.queue.borrow_mut().pop_front())
    }

    fn dual_stack(&self) -> bool {
        self.dual_stack
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn driver(listen: bool) -> Driver {
    let mut config = DriverConfig::default();
    config.seed = Some(7);
    config.listen = listen.then(ListenConfig::default);
    Driver::new(config, 1)
}

fn connect_result(d: &mut Driver, h: utp_core::ConnHandle) -> Poll<io::Result<()>> {
    d.poll_connect(h, &mut Context::from_waker(Waker::noop()))
}

const T0: Timestamp = Timestamp::from_micros(1_000_000);

#[test]
fn a_failed_receive_reads_the_queue_and_refuses_the_attempt() {
    let socket = Script::on("10.0.0.1:1000");
    let mut d = driver(false);
    let dead = addr("10.0.0.2:2000");
    let h = d.connect(&socket, T0, dead).unwrap();
    assert_eq!(socket.sent_types(), vec![(dead, PacketType::Syn)]);
    // The ICMP error: the next receive fails once, the details queued.
    socket
        .inbound
        .borrow_mut()
        .push_back(Err(io::ErrorKind::ConnectionRefused.into()));
    socket
        .queue
        .borrow_mut()
        .push_back(SocketError::PortUnreachable(dead));
    d.drive(&socket, T0);
    match connect_result(&mut d, h) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.stats().socket_errors, 1);
    // Nothing in answer, and no SYN again.
    d.drive(&socket, Timestamp::from_micros(20_000_000));
    assert_eq!(socket.sent.borrow().len(), 1);
}

#[test]
fn a_wakeup_with_nothing_to_receive_reads_the_queue() {
    // POLLERR after the error was reported elsewhere: receives would
    // block, the queue still holds it.
    let socket = Script::on("10.0.0.1:1000");
    let mut d = driver(false);
    let dead = addr("10.0.0.2:2000");
    let h = d.connect(&socket, T0, dead).unwrap();
    socket
        .queue
        .borrow_mut()
        .push_back(SocketError::PortUnreachable(dead));
    d.drive(&socket, T0);
    assert!(
        matches!(connect_result(&mut d, h), Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused)
    );
}

#[test]
fn a_send_failed_by_another_datagrams_error_goes_again() {
    let socket = Script::on("10.0.0.1:1000");
    let mut d = driver(false);
    let dead = addr("10.0.0.2:2000");
    let live = addr("10.0.0.3:3000");
    let h_dead = d.connect(&socket, T0, dead).unwrap();
    // The SYN to `live` meets the error `dead`'s SYN drew.
    socket
        .send_errors
        .borrow_mut()
        .push_back(io::ErrorKind::ConnectionRefused);
    socket
        .queue
        .borrow_mut()
        .push_back(SocketError::PortUnreachable(dead));
    let h_live = d.connect(&socket, T0, live).unwrap();
    assert_eq!(
        socket.sent_types(),
        vec![(dead, PacketType::Syn), (live, PacketType::Syn)]
    );
    assert_eq!(d.stats().send_errors, 0);
    assert!(
        matches!(connect_result(&mut d, h_dead), Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused)
    );
    assert!(connect_result(&mut d, h_live).is_pending());
}

#[test]
fn a_send_that_fails_for_its_own_sake_is_dropped_after_one_retry() {
    let socket = Script::on("10.0.0.1:1000");
    let mut d = driver(false);
    socket
        .send_errors
        .borrow_mut()
        .extend([io::ErrorKind::NetworkUnreachable; 2]);
    let h = d.connect(&socket, T0, addr("10.0.0.2:2000")).unwrap();
    assert!(socket.sent.borrow().is_empty());
    assert_eq!(d.stats().send_errors, 1);
    // The attempt goes on: its timer resends the SYN.
    assert!(connect_result(&mut d, h).is_pending());
    d.drive(&socket, Timestamp::from_micros(2_100_000));
    assert_eq!(socket.sent_types().len(), 1);
}

#[test]
fn other_errors_are_counted_and_ignored() {
    let socket = Script::on("10.0.0.1:1000");
    let mut d = driver(false);
    let peer = addr("10.0.0.2:2000");
    let h = d.connect(&socket, T0, peer).unwrap();
    socket.queue.borrow_mut().extend([
        SocketError::PacketTooBig {
            remote: peer,
            mtu: 576,
        },
        SocketError::Other {
            remote: Some(peer),
            kind: io::ErrorKind::HostUnreachable,
        },
    ]);
    d.drive(&socket, T0);
    assert_eq!(d.stats().socket_errors, 2);
    assert!(connect_result(&mut d, h).is_pending());
}

#[test]
fn a_dual_stack_socket_reaches_ipv4_through_mapped_addresses() {
    let mut socket = Script::on("[::]:1000");
    let mut d = driver(true);
    let v4 = addr("10.0.0.2:2000");
    let mapped = addr("[::ffff:10.0.0.2]:2000");
    let err = d.connect(&socket, T0, v4).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

    socket.dual_stack = true;
    let h = d.connect(&socket, T0, v4).unwrap();
    assert_eq!(socket.sent_types(), vec![(mapped, PacketType::Syn)]);
    assert_eq!(d.peer_addr(h).unwrap(), v4);

    // An IPv4 peer's datagrams come from its mapped address; the
    // application sees it unmapped.
    socket.inbound.borrow_mut().push_back(Ok((
        mapped,
        b"d1:ad2:id20:xxxxxxxxxxxxxxxxxxxxe1:q4:pinge".to_vec(),
    )));
    d.drive(&socket, T0);
    let mut buf = [0u8; 64];
    match d.poll_recv_foreign(&mut Context::from_waker(Waker::noop()), &mut buf) {
        Poll::Ready(Ok((_, from))) => assert_eq!(from, v4),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_ipv4_socket_takes_a_mapped_address_as_ipv4() {
    let socket = Script::on("10.0.0.1:1000");
    let mut d = driver(false);
    let h = d
        .connect(&socket, T0, addr("[::ffff:10.0.0.2]:2000"))
        .unwrap();
    assert_eq!(
        socket.sent_types(),
        vec![(addr("10.0.0.2:2000"), PacketType::Syn)]
    );
    assert_eq!(d.peer_addr(h).unwrap(), addr("10.0.0.2:2000"));
    let err = d.connect(&socket, T0, addr("[::1]:2000")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}
