//! The driver shares the receive window while the socket's receive buffer
//! fills (`DriverConfig::share_recv_window`), and `recv_queue` reads a real
//! socket's buffer on Linux.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;

use utp_core::Timestamp;
use utp_driver::{DatagramSocket, Driver, DriverConfig, RecvQueue};

/// A socket with nothing to receive whose buffer is as full as the test
/// says.
struct Filling(Cell<Option<RecvQueue>>);

impl DatagramSocket for Filling {
    fn try_recv_from(&self, _: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn try_send_to(&self, buf: &[u8], _: SocketAddr) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn recv_queue(&self) -> Option<RecvQueue> {
        self.0.get()
    }
}

fn queue(queued: usize) -> Option<RecvQueue> {
    Some(RecvQueue {
        queued,
        capacity: 8 << 20,
    })
}

fn at_micros(us: u64) -> Timestamp {
    Timestamp::from_micros(us)
}

#[test]
fn a_filling_buffer_shares_the_window_until_a_second_after_it_drains() {
    let mut driver = Driver::new(DriverConfig::default(), 1);
    let socket = Filling(Cell::new(queue(1 << 20)));
    // The first look shares half the capacity (the payload it holds),
    // though the buffer is only an eighth full: connections that start
    // together would overrun it in slow start.
    driver.drive(&socket, at_micros(0));
    assert_eq!(driver.endpoint().recv_window_share(), Some(4 << 20));
    assert_eq!(driver.stats().recv_buffer_filling, 0);
    // An eighth full, a second later: lifted.
    driver.drive(&socket, at_micros(1_000_000));
    assert_eq!(driver.endpoint().recv_window_share(), None);
    // A quarter full, looked at a millisecond later: shared again.
    socket.0.set(queue(2 << 20));
    driver.drive(&socket, at_micros(1_000_500));
    assert_eq!(
        driver.endpoint().recv_window_share(),
        None,
        "looks at most once a millisecond"
    );
    driver.drive(&socket, at_micros(1_001_000));
    assert_eq!(driver.endpoint().recv_window_share(), Some(4 << 20));
    assert_eq!(driver.stats().recv_buffer_filling, 1);
    // Drained: the share holds for a second after the last filling look.
    socket.0.set(queue(0));
    driver.drive(&socket, at_micros(1_002_000));
    driver.drive(&socket, at_micros(2_000_999));
    assert_eq!(driver.endpoint().recv_window_share(), Some(4 << 20));
    // The next look (a millisecond after the last) lifts it.
    driver.drive(&socket, at_micros(2_001_000));
    assert_eq!(driver.endpoint().recv_window_share(), Some(4 << 20));
    driver.drive(&socket, at_micros(2_002_000));
    assert_eq!(driver.endpoint().recv_window_share(), None);
    // A socket that cannot tell lifts it all the same.
    socket.0.set(queue(8 << 20));
    driver.drive(&socket, at_micros(2_003_000));
    assert_eq!(driver.endpoint().recv_window_share(), Some(4 << 20));
    socket.0.set(None);
    driver.drive(&socket, at_micros(3_003_000));
    assert_eq!(driver.endpoint().recv_window_share(), None);
    assert_eq!(driver.stats().recv_buffer_filling, 2);
}

#[test]
fn the_share_can_be_turned_off() {
    let mut config = DriverConfig::default();
    config.share_recv_window = false;
    let mut driver = Driver::new(config, 1);
    let socket = Filling(Cell::new(queue(8 << 20)));
    driver.drive(&socket, at_micros(0));
    driver.drive(&socket, at_micros(5_000));
    assert_eq!(driver.endpoint().recv_window_share(), None);
    assert_eq!(driver.stats().recv_buffer_filling, 0);
}

#[cfg(target_os = "linux")]
#[test]
fn recv_queue_reads_a_udp_sockets_buffer() {
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let empty = utp_driver::recv_queue(&rx).expect("Linux reports SO_MEMINFO");
    assert_eq!(empty.queued, 0);
    assert_eq!(empty.capacity, utp_driver::buffer_sizes(&rx).unwrap().0);
    // Loopback queues what it delivers at once; a datagram may still be
    // dropped, so only one needs to arrive.
    for _ in 0..10 {
        tx.send_to(&[7; 1000], rx.local_addr().unwrap()).unwrap();
    }
    let full = utp_driver::recv_queue(&rx).unwrap();
    assert!(full.queued >= 1000, "{full:?}");
    assert!(full.queued <= full.capacity, "{full:?}");
}
