//! The endpoint's connections take turns at `poll_transmit`: a run of up
//! to 16 datagrams each while they have them (the receiver then handles a
//! run for one connection at a time), one each under a socket-wide rate
//! limit. Both directions, the acceptor writing first too.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use utp_core::wire::PacketType;
use utp_core::{Config, ConnHandle};

const EACH: usize = 300_000;

/// Two connections send `EACH` bytes each at once, from A
/// (`acceptor_writes` false) or from B; returns the lengths of the runs
/// of DATA datagrams of one connection that the writer sent together.
fn runs_of(config: Config, acceptor_writes: bool) -> Vec<usize> {
    let mut pair = Pair::new(config.clone(), config);
    pair.latency = ms(1);
    let conns: Vec<(ConnHandle, ConnHandle)> = (0..2).map(|_| pair.connect()).collect();
    let data: Vec<Vec<u8>> = (0..2).map(|i| pattern(EACH, i as u8)).collect();
    let mut written = [0; 2];
    let mut received = vec![Vec::new(); 2];
    let mut buf = vec![0u8; 65536];
    pair.run_while(Duration::from_secs(30), |p| {
        for (i, &(ha, hb)) in conns.iter().enumerate() {
            let (w, r) = if acceptor_writes { (hb, ha) } else { (ha, hb) };
            if let Ok(n) = p
                .side(acceptor_writes)
                .conn(w)
                .unwrap()
                .write(&data[i][written[i]..])
            {
                written[i] += n;
            }
            while let Ok(n) = p.side(!acceptor_writes).conn(r).unwrap().read(&mut buf) {
                received[i].extend_from_slice(&buf[..n]);
            }
        }
        p.flush();
        received.iter().any(|r| r.len() < EACH)
    });
    assert!(received == data, "the bytes sent, whole");
    let writer = if acceptor_writes { B } else { A };
    let mut runs = Vec::new();
    let mut last = None;
    for w in pair.wire_from(writer) {
        if w.ty() != PacketType::Data {
            continue;
        }
        let key = (w.sent_at, w.packet().connection_id);
        if last == Some(key) {
            *runs.last_mut().unwrap() += 1;
        } else {
            runs.push(1);
        }
        last = Some(key);
    }
    runs
}

fn check_turns(acceptor_writes: bool) {
    let runs = runs_of(Config::default(), acceptor_writes);
    // Never more than 16 in a row, and mostly 16 (shorter while the
    // congestion window opens and at the end).
    assert_eq!(runs.iter().max(), Some(&16), "{runs:?}");
    let full = runs.iter().filter(|&&n| n == 16).count();
    assert!(full * 2 > runs.len(), "{runs:?}");
    // Under a socket-wide rate limit, one each: its credit goes round.
    let mut limited = Config::default();
    limited.max_total_send_rate = Some(4_000_000);
    let runs = runs_of(limited, acceptor_writes);
    assert!(runs.len() > 400, "{}", runs.len());
    assert!(runs.iter().all(|&n| n == 1), "{runs:?}");
}

#[test]
fn the_initiators_connections_send_in_turns_of_sixteen() {
    check_turns(false);
}

#[test]
fn the_acceptors_connections_send_in_turns_of_sixteen() {
    check_turns(true);
}
