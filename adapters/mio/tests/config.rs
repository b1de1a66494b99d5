//! Configuration through the adapter: every constructor (blocking and
//! evented) refuses an invalid configuration with `InvalidInput` (the
//! `ConfigError` inside), and the socket-wide send rate limit holds a
//! two-way transfer back.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use utp_mio::{ConfigError, DriverConfig, UtpListener, UtpMio, UtpStream};

mod common;

use common::{data, guard};

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// `min_rto` above `max_rto`: the combination that used to panic.
fn inverted() -> DriverConfig {
    let mut config = DriverConfig::default();
    config.config.min_rto = Duration::from_secs(2);
    config.config.max_rto = Duration::from_secs(1);
    config
}

fn assert_invalid<T: std::fmt::Debug>(result: io::Result<T>, field: &str) {
    let e = result.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let inner = e.get_ref().unwrap().downcast_ref::<ConfigError>().unwrap();
    assert_eq!(inner.field(), field);
}

#[test]
fn invalid_configs_are_invalid_input() {
    assert_invalid(
        UtpListener::bind_with(localhost(), inverted()),
        "Config::min_rto",
    );
    // Refused before anything is sent (the port has nobody to answer).
    assert_invalid(
        UtpStream::connect_with("127.0.0.1:9", inverted()),
        "Config::min_rto",
    );
    let socket = mio::net::UdpSocket::bind(localhost()).unwrap();
    assert_invalid(UtpMio::new(socket, inverted()), "Config::min_rto");
    let mut config = DriverConfig::default();
    config.listen.as_mut().unwrap().backlog = 0;
    assert_invalid(
        UtpListener::bind_with(localhost(), config),
        "ListenConfig::backlog",
    );
    // connect_with ignores `listen`: a listener setting cannot fail it.
    let mut config = DriverConfig::default();
    config.foreign_queue = utp_driver::MAX_FOREIGN_QUEUE + 1;
    let socket = mio::net::UdpSocket::bind(localhost()).unwrap();
    assert_invalid(UtpMio::new(socket, config), "DriverConfig::foreign_queue");
    let socket = mio::net::UdpSocket::bind(localhost()).unwrap();
    UtpMio::new(socket, DriverConfig::default()).unwrap();
}

/// Setting the limit wakes the evented loop: the next `timeout` is zero,
/// so the application runs `handle_io`.
#[test]
fn set_max_send_rate_wakes_the_evented_loop() {
    let mut utp = UtpMio::bind(localhost()).unwrap();
    let now = Instant::now();
    utp.handle_io(now);
    assert_ne!(utp.timeout(now), Some(Duration::ZERO), "idle");
    utp.set_max_send_rate(Some(100_000));
    assert_eq!(utp.timeout(now), Some(Duration::ZERO));
    assert_eq!(
        utp.driver().endpoint().config().max_total_send_rate,
        Some(100_000)
    );
}

/// Both sockets limited to `RATE`: each sends `LEN` bytes, which takes at
/// least what the limit allows, however fast the machine (only this lower
/// bound is checked: a loaded machine is slower, never faster).
#[test]
fn the_socket_wide_limit_holds_a_transfer_back() {
    const RATE: u64 = 200_000;
    const LEN: usize = 300_000;
    guard(60, || {
        let server = UtpListener::bind(localhost()).unwrap();
        let client = UtpListener::bind(localhost()).unwrap();
        server.set_max_send_rate(Some(RATE));
        client.set_max_send_rate(Some(RATE));
        let addr = server.local_addr().unwrap();
        /// Writes `send` from a thread of its own while reading `recv`.
        fn duplex(stream: UtpStream, send: u64, recv: u64) {
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let w = thread::spawn(move || {
                writer.write_all(&data(send, LEN)).unwrap();
                writer.shutdown(std::net::Shutdown::Write).unwrap();
            });
            let mut got = Vec::new();
            (&stream).read_to_end(&mut got).unwrap();
            assert!(got == data(recv, LEN), "stream {recv} differs");
            w.join().unwrap();
        }
        let start = Instant::now();
        let srv = thread::spawn(move || {
            let (stream, _) = server.accept().unwrap();
            duplex(stream, 2, 1);
            server
        });
        let stream = client.connect(addr).unwrap();
        duplex(stream, 1, 2);
        let server = srv.join().unwrap();
        let took = start.elapsed();
        // Headers add to the bytes the limit counts; the first burst is ten
        // full packets' worth (14,020 bytes).
        let least = Duration::from_secs_f64((LEN - 14_020) as f64 / RATE as f64);
        println!("{LEN} bytes each way at {RATE} B/s: {took:?} (at least {least:?})");
        assert!(took >= least, "{took:?} < {least:?}");
        server.set_max_send_rate(None);
        client.set_max_send_rate(None);
    });
}
