//! The handshake when the acceptor writes at once and the network loses
//! or repeats its first packets: `utpcat listen PORT < file` and `utpcat
//! connect` through a UDP relay on 127.0.0.1 with a scripted fault (the
//! relay of the interop tests). Every byte must arrive exactly, both ways,
//! and both processes exit 0.
//!
//! In the relay's terms the initiator (`connect`) is the client and the
//! acceptor (`listen`) the server; datagrams are numbered from 1 in each
//! direction. The acceptor's first datagrams are its STATE (the answer to
//! the SYN), then its first DATA (or, with a core that holds data until
//! the initiator proves itself, its STATE again for the retransmitted
//! SYN).
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::process::Stdio;

use common::{assert_success, connect, difference, finish, random_bytes, scratch, Listener};
use utp_interop::relay::{Direction, Relay, RelayConfig, RelayStats};

/// 1 MiB from the acceptor (its stdin, written at once), and with
/// `initiator_sends` 1 MiB from the initiator too (`--send`), through a
/// relay with `config`; returns the relay's counters.
fn through_relay(name: &str, config: RelayConfig, initiator_sends: bool) -> RelayStats {
    let dir = scratch(name);
    let down = random_bytes(1 << 20, 50);
    let up = random_bytes((1 << 20) + 3, 51);
    std::fs::write(dir.join("down"), &down).unwrap();
    std::fs::write(dir.join("up"), &up).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let mut listener = Listener::start(&[], std::fs::File::open(dir.join("down")).unwrap());
    let out = listener.collect_stdout();
    let relay = runtime
        .block_on(Relay::start(listener.addr, config))
        .unwrap();
    let up_file = dir.join("up");
    let args: Vec<&str> = if initiator_sends {
        vec!["--send", up_file.to_str().unwrap()]
    } else {
        vec![]
    };
    let client = finish(
        connect(&relay.local_addr().to_string(), &args, Stdio::null()),
        String::new(),
        None,
    );
    let listener = listener.finish();
    let stats = relay.stats();
    let context = format!(
        "relay {stats:?}\nconnect: {:?}, stderr:\n{}\nlisten: {:?}, stderr:\n{}",
        client.status, client.stderr, listener.status, listener.stderr
    );
    let want_up: &[u8] = if initiator_sends { &up } else { b"" };
    let checks = [
        ("the initiator's stdout", difference(&client.stdout, &down)),
        (
            "the acceptor's stdout",
            difference(&out.wait_for(usize::MAX), want_up),
        ),
    ];
    for (what, diff) in checks {
        if let Some(diff) = diff {
            panic!("{what}: {diff}\n{context}");
        }
    }
    assert_success("connect", &client);
    assert_success("listen", &listener);
    std::fs::remove_dir_all(&dir).unwrap();
    stats
}

/// Drops the acceptor's datagrams `1..=last`.
fn dropping_first(last: u64) -> RelayConfig {
    RelayConfig::transparent().dropping(Direction::ToClient, 1..=last)
}

#[test]
fn state_lost() {
    let stats = through_relay("state-lost", dropping_first(1), false);
    assert_eq!(stats.to_client.dropped, 1);
}

#[test]
fn state_lost_initiator_sending_too() {
    let stats = through_relay("state-lost-both", dropping_first(1), true);
    assert_eq!(stats.to_client.dropped, 1);
}

/// The must-show of the handshake fix: STATE and first DATA lost.
#[test]
fn state_and_first_data_lost() {
    let stats = through_relay("state-data-lost", dropping_first(2), false);
    assert_eq!(stats.to_client.dropped, 2);
}

#[test]
fn state_and_first_data_lost_initiator_sending_too() {
    let stats = through_relay("state-data-lost-both", dropping_first(2), true);
    assert_eq!(stats.to_client.dropped, 2);
}

#[test]
fn state_first_data_and_the_answer_to_the_retransmitted_syn_lost() {
    let stats = through_relay("state-data-syn-lost", dropping_first(3), false);
    assert_eq!(stats.to_client.dropped, 3);
}

#[test]
fn state_first_data_and_the_answer_to_the_retransmitted_syn_lost_initiator_sending_too() {
    let stats = through_relay("state-data-syn-lost-both", dropping_first(3), true);
    assert_eq!(stats.to_client.dropped, 3);
}

/// The relay sends the initiator's SYN (its datagram 1) again after its
/// 40th datagram, once data flows.
fn duplicate_syn_later() -> RelayConfig {
    RelayConfig::transparent().repeating(Direction::ToServer, 1, 40)
}

#[test]
fn a_duplicate_syn_after_data() {
    let stats = through_relay("dup-syn", duplicate_syn_later(), false);
    assert_eq!(stats.to_server.repeated, 1);
}

#[test]
fn a_duplicate_syn_after_data_initiator_sending_too() {
    let stats = through_relay("dup-syn-both", duplicate_syn_later(), true);
    assert_eq!(stats.to_server.repeated, 1);
}
