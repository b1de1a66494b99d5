//! Configuration through the adapter, under async-std and smol: every
//! constructor refuses an invalid configuration with `InvalidInput` (the
//! `ConfigError` inside), and the socket-wide send rate limit holds a
//! two-way transfer back.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use std::io;
use std::time::{Duration, Instant};

use common::{localhost, read_pattern, write_pattern, Rt};
use futures_lite::{future, AsyncWriteExt};
use utp_async_std::{ConfigError, DriverConfig, UtpSocket};

/// `min_rto` above `max_rto`: the combination that used to panic.
fn inverted() -> DriverConfig {
    let mut config = DriverConfig::default();
    config.config.min_rto = Duration::from_secs(2);
    config.config.max_rto = Duration::from_secs(1);
    config
}

fn assert_invalid(result: io::Result<UtpSocket>, field: &str) {
    let e = result.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let inner = e.get_ref().unwrap().downcast_ref::<ConfigError>().unwrap();
    assert_eq!(inner.field(), field);
}

async fn invalid_configs_are_invalid_input(_: Rt) {
    assert_invalid(
        UtpSocket::bind_with(localhost(), inverted()).await,
        "Config::min_rto",
    );
    let socket = std::net::UdpSocket::bind(localhost()).unwrap();
    assert_invalid(UtpSocket::from_std(socket, inverted()), "Config::min_rto");
    let mut config = DriverConfig::default();
    config.listen.as_mut().unwrap().backlog = 0;
    assert_invalid(
        UtpSocket::bind_with(localhost(), config).await,
        "ListenConfig::backlog",
    );
    let mut config = DriverConfig::default();
    config.foreign_queue = utp_driver::MAX_FOREIGN_QUEUE + 1;
    assert_invalid(
        UtpSocket::bind_with(localhost(), config).await,
        "DriverConfig::foreign_queue",
    );
}

/// Both sockets limited to `RATE`: each sends `LEN` bytes, which takes at
/// least what the limit allows, however fast the machine (only this lower
/// bound is checked: a loaded machine is slower, never faster).
async fn the_socket_wide_limit_holds_a_transfer_back(rt: Rt) {
    const RATE: u64 = 200_000;
    const LEN: usize = 300_000;
    let server = UtpSocket::bind(localhost()).await.unwrap();
    let client = UtpSocket::bind(localhost()).await.unwrap();
    server.set_max_send_rate(Some(RATE));
    client.set_max_send_rate(Some(RATE));
    let addr = server.local_addr().unwrap();
    let start = Instant::now();
    let (c, s) = future::zip(client.connect(addr), server.accept()).await;
    let (c, (s, _)) = (c.unwrap(), s.unwrap());
    let (mut cr, mut cw) = c.into_split();
    let (mut sr, mut sw) = s.into_split();
    let tasks = [
        // The acceptor writes first.
        rt.spawn(async move {
            write_pattern(&mut sw, 2, LEN).await;
            sw.close().await.unwrap();
        }),
        rt.spawn(async move {
            write_pattern(&mut cw, 1, LEN).await;
            cw.close().await.unwrap();
        }),
        rt.spawn(async move { read_pattern(&mut cr, 2, LEN).await }),
        rt.spawn(async move { read_pattern(&mut sr, 1, LEN).await }),
    ];
    for t in tasks {
        t.await;
    }
    let took = start.elapsed();
    // Headers add to the bytes the limit counts; the first burst is ten
    // full packets' worth (14,020 bytes).
    let least = Duration::from_secs_f64((LEN - 14_020) as f64 / RATE as f64);
    println!("{rt:?}: {LEN} bytes each way at {RATE} B/s: {took:?} (at least {least:?})");
    assert!(took >= least, "{took:?} < {least:?}");
    server.set_max_send_rate(None);
    client.set_max_send_rate(None);
}

both_runtimes!(60 => invalid_configs_are_invalid_input, the_socket_wide_limit_holds_a_transfer_back);
