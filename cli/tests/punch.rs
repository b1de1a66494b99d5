//! `utpcat introducer` and `utpcat punch` over loopback (no NAT: the
//! exchange and the rendezvous, both directions of data, the errors).
//! Through real NATs: `punch_netns.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Stdio};
use std::time::Instant;

use common::*;

/// A running `utpcat introducer` on loopback and its first port.
struct Introducer {
    child: Child,
    port: u16,
}

impl Introducer {
    fn start() -> Introducer {
        // A port whose successor is free too (the introducer binds both).
        for _ in 0..50 {
            let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = probe.local_addr().unwrap().port();
            drop(probe);
            if port == u16::MAX || UdpSocket::bind(("127.0.0.1", port + 1)).is_err() {
                continue;
            }
            let mut child = utpcat()
                .args(["introducer", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            let stderr = child.stderr.take().unwrap();
            BufReader::new(stderr).read_line(&mut line).unwrap();
            if line.starts_with("utpcat: introducer on") {
                return Introducer { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no free pair of ports for the introducer");
    }

    fn via(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Introducer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn punch(args: &[&str]) -> Child {
    let mut command = utpcat();
    command.arg("punch").args(args);
    spawn_piped(command)
}

/// Two peers meet through the introducer and move `a_len` bytes a → b
/// and `b_len` bytes b → a, each checked.
fn both_ways(a_len: usize, b_len: usize, b_first: bool) {
    let intro = Introducer::start();
    let dir = scratch(&format!("punch-{a_len}-{b_len}-{b_first}"));
    let (a_data, b_data) = (random_bytes(a_len, 1), random_bytes(b_len, 2));
    std::fs::write(dir.join("a"), &a_data).unwrap();
    std::fs::write(dir.join("b"), &b_data).unwrap();
    let side = |me: &str, peer: &str| {
        let send = dir.join(me).display().to_string();
        let recv = dir.join(format!("{me}.got")).display().to_string();
        let via = intro.via();
        let args = [
            "--via", &via, "--name", me, "--peer", peer, "--send", &send, "--recv", &recv,
        ];
        punch(&args)
    };
    let (first, second) = if b_first { ("b", "a") } else { ("a", "b") };
    let one = side(first, second);
    // The other comes later: the first waits for it at the introducer.
    std::thread::sleep(std::time::Duration::from_millis(700));
    let two = side(second, first);
    for (who, child) in [(first, one), (second, two)] {
        let done = finish(child, String::new(), None);
        assert_success(who, &done);
        let peer = if who == "a" { "b" } else { "a" };
        assert!(
            done.stderr.contains(&format!(
                "utpcat: punched through to `{peer}` at 127.0.0.1:"
            )),
            "{who}: {}",
            done.stderr
        );
    }
    let got_b = std::fs::read(dir.join("b.got")).unwrap();
    let got_a = std::fs::read(dir.join("a.got")).unwrap();
    assert_same_bytes("a to b", &got_b, &a_data);
    assert_same_bytes("b to a", &got_a, &b_data);
}

#[test]
fn two_peers_meet_and_move_data_both_ways() {
    both_ways(1 << 20, 300_000, false);
}

#[test]
fn the_later_peer_may_be_the_only_sender() {
    // b starts first and sends nothing; a (later) sends.
    both_ways(200_000, 0, true);
    // And the other way round: only the first one sends.
    both_ways(0, 200_000, true);
}

#[test]
fn an_unknown_peer_is_reported_after_the_wait() {
    let intro = Introducer::start();
    let start = Instant::now();
    let via = intro.via();
    let child = punch(&[
        "--via",
        &via,
        "--name",
        "a",
        "--peer",
        "nobody",
        "--timeout",
        "1.5",
    ]);
    let done = finish(child, String::new(), None);
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert_eq!(
        done.stderr.trim(),
        format!(
            "utpcat: punch to `nobody` via 127.0.0.1:{}: peer `nobody` is unknown to the \
introducer (it did not register within 1.5 s)",
            intro.port
        )
    );
    assert!(start.elapsed().as_secs_f64() >= 1.5);
}

#[test]
fn a_silent_introducer_times_out() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let via = silent.local_addr().unwrap().to_string();
    let child = punch(&["--via", &via, "--name", "a", "--peer", "b"]);
    let done = finish(child, String::new(), None);
    assert_eq!(done.status.code(), Some(4), "{}", done.stderr);
    assert_eq!(
        done.stderr.trim(),
        format!("utpcat: punch to `b` via {via}: the introducer at {via} did not answer")
    );
}

#[test]
fn names_are_checked() {
    let done = finish(
        punch(&["--via", "127.0.0.1:9", "--name", "a", "--peer", "a"]),
        String::new(),
        None,
    );
    assert_eq!(done.status.code(), Some(1));
    assert_eq!(
        done.stderr.trim(),
        "utpcat: punch to `a` via 127.0.0.1:9: `a` cannot punch to itself"
    );
    let long = "x".repeat(65);
    let done = finish(
        punch(&["--via", "127.0.0.1:9", "--name", &long, "--peer", "a"]),
        String::new(),
        None,
    );
    assert_eq!(done.status.code(), Some(1));
    assert!(
        done.stderr.contains("is not a name: 1 to 64 bytes"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_known_public_address_needs_no_introducer() {
    // Two ports picked free; each side is told the other's.
    let (pa, pb) = {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        )
    };
    let dir = scratch("punch-known");
    let data = random_bytes(500_000, 3);
    std::fs::write(dir.join("a"), &data).unwrap();
    let a_send = dir.join("a").display().to_string();
    let b_recv = dir.join("b.got").display().to_string();
    let (la, lb) = (format!("127.0.0.1:{pa}"), format!("127.0.0.1:{pb}"));
    let a = punch(&["--local", &la, &lb, "--send", &a_send, "-q"]);
    let b = punch(&["--local", &lb, &la, "--recv", &b_recv, "-q"]);
    assert_success("a", &finish(a, String::new(), None));
    assert_success("b", &finish(b, String::new(), None));
    assert_same_bytes("a to b", &std::fs::read(dir.join("b.got")).unwrap(), &data);
}
