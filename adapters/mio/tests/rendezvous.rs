//! Rendezvous connects over loopback with the blocking API and with the
//! evented one: both sides connect to each other at once and get one
//! connection each; data both ways.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;

use utp_mio::{DriverConfig, UtpListener, UtpStream};

mod common;

use common::{data, guard};

/// Writes `out` (on a thread), half-closes, reads to the end.
fn exchange(mut s: UtpStream, out: Vec<u8>) -> Vec<u8> {
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        w.write_all(&out).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    got
}

#[test]
fn two_blocking_sockets_meet() {
    guard(60, || {
        let config = || DriverConfig::default().outgoing_only();
        let a = UtpListener::bind_with("127.0.0.1:0", config()).unwrap();
        let b = UtpListener::bind_with("127.0.0.1:0", config()).unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let bt = thread::spawn(move || {
            let s = b.connect_rendezvous(a_addr).unwrap();
            (b, s)
        });
        let sa = a.connect_rendezvous(b_addr).unwrap();
        let (b, sb) = bt.join().unwrap();
        assert_eq!(
            (sa.peer_addr().unwrap(), sb.peer_addr().unwrap()),
            (b_addr, a_addr)
        );
        let (to_b, to_a) = (data(1, 200_000), data(2, 300_000));
        let expect_b = to_b.clone();
        let bt = thread::spawn(move || exchange(sb, to_a));
        let at_a = exchange(sa, to_b);
        let at_b = bt.join().unwrap();
        assert!(
            at_b == expect_b && at_a == data(2, 300_000),
            "bytes intact both ways"
        );
        drop((a, b));
    });
}
