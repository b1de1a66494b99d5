//! `utpcat punch` through real Linux NATs: two private hosts each behind
//! an nftables masquerade NAT and a public host running `utpcat
//! introducer`, in network namespaces the test builds and removes
//! (`common/netns.rs`). Skipped without root, `ip` and `nft`, unless
//! `UTP_REQUIRE_NETNS=1` (CI sets it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use common::netns::{lab, Lab};
use common::*;

const INTRODUCER: &str = "203.0.113.1:3478";

/// Starts the introducer on the public host.
fn introducer(lab: &Lab) -> Child {
    let mut child = lab.utpcat("pub", &["introducer", INTRODUCER]);
    // Its one line says it is bound.
    let mut line = String::new();
    let stderr = child.stderr.as_mut().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stderr), &mut line).unwrap();
    assert_eq!(
        line.trim(),
        "utpcat: introducer on 203.0.113.1:3478 and 203.0.113.1:3479"
    );
    child
}

/// Hosts a and b run `utpcat punch --via INTRODUCER --name ME --peer
/// OTHER` with `extra(ME)` at once, against an introducer started for
/// them: what each left, once both ended.
fn punch_both(lab: &Lab, extra: impl Fn(&str) -> Vec<String>) -> (Done, Done) {
    let mut intro = introducer(lab);
    let side = |me: &str, peer: &str| {
        let mut args: Vec<String> = ["punch", "--via", INTRODUCER, "--name", me, "--peer", peer]
            .map(String::from)
            .to_vec();
        args.extend(extra(me));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.utpcat(me, &args)
    };
    let (a, b) = (side("a", "b"), side("b", "a"));
    let done = (
        finish(a, String::new(), None),
        finish(b, String::new(), None),
    );
    let _ = intro.kill();
    let _ = intro.wait();
    done
}

#[test]
fn two_hosts_behind_nats_punch_through_and_move_16_mib_each_way() {
    let Some(lab) = lab("ok", false) else { return };
    let dir = scratch("punch-netns");
    let (a_data, b_data) = (random_bytes(16 << 20, 11), random_bytes(16 << 20, 12));
    std::fs::write(dir.join("a"), &a_data).unwrap();
    std::fs::write(dir.join("b"), &b_data).unwrap();
    let (a, b) = punch_both(&lab, |me| {
        let send = dir.join(me).display().to_string();
        let recv = dir.join(format!("{me}.got")).display().to_string();
        vec!["--send".into(), send, "--recv".into(), recv]
    });
    assert_success("a", &a);
    assert_success("b", &b);
    // Each saw the other's NAT's public address, with its port preserved
    // (so this is no relay: the introducer only told them where).
    assert!(
        a.stderr
            .contains("utpcat: punched through to `b` at 203.0.113.18:")
            && a.stderr.contains("(our public address 203.0.113.2:"),
        "a: {}",
        a.stderr
    );
    assert!(
        b.stderr
            .contains("utpcat: punched through to `a` at 203.0.113.2:")
            && b.stderr.contains("(our public address 203.0.113.18:"),
        "b: {}",
        b.stderr
    );
    assert_same_bytes(
        "a to b",
        &std::fs::read(dir.join("b.got")).unwrap(),
        &a_data,
    );
    assert_same_bytes(
        "b to a",
        &std::fs::read(dir.join("a.got")).unwrap(),
        &b_data,
    );
}

#[test]
fn a_symmetric_nat_fails_clearly_within_the_timeout() {
    let Some(lab) = lab("sym", true) else { return };
    let started = Instant::now();
    let (a, b) = punch_both(&lab, |_| vec!["--timeout".into(), "4".into()]);
    // The peer wait ends as soon as both registered; then the 4 s
    // rendezvous. Generous for a loaded machine, far below a hang.
    assert!(started.elapsed() < Duration::from_secs(30));
    for (who, done) in [("a", &a), ("b", &b)] {
        assert_eq!(done.status.code(), Some(4), "{who}: {}", done.stderr);
        assert!(
            done.stderr.contains("cannot traverse the NATs to"),
            "{who}: {}",
            done.stderr
        );
    }
    // a learns that b's NAT maps per destination; b sees it of its own.
    assert!(
        a.stderr
            .contains("the peer's NAT maps a new port per destination: a symmetric NAT"),
        "a: {}",
        a.stderr
    );
    assert!(
        b.stderr.contains(
            "our NAT maps a new port per destination (the introducer's ports saw 203.0.113.18:"
        ),
        "b: {}",
        b.stderr
    );
}

#[test]
fn known_public_addresses_punch_without_an_introducer() {
    let Some(lab) = lab("known", false) else {
        return;
    };
    let dir = scratch("punch-netns-known");
    let data = random_bytes(1 << 20, 13);
    std::fs::write(dir.join("b"), &data).unwrap();
    let recv = dir.join("a.got").display().to_string();
    let send = dir.join("b").display().to_string();
    // masquerade keeps a free source port: each public address is the
    // NAT's with the host's port.
    let a = lab.utpcat(
        "a",
        &[
            "punch",
            "--local",
            "40000",
            "203.0.113.18:40001",
            "--recv",
            &recv,
            "-q",
        ],
    );
    let b = lab.utpcat(
        "b",
        &[
            "punch",
            "--local",
            "40001",
            "203.0.113.2:40000",
            "--send",
            &send,
            "-q",
        ],
    );
    assert_success("b", &finish(b, String::new(), None));
    assert_success("a", &finish(a, String::new(), None));
    assert_same_bytes("b to a", &std::fs::read(dir.join("a.got")).unwrap(), &data);
}
