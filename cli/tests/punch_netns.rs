//! `utpcat punch` through real Linux NATs: the test builds, in network
//! namespaces it creates and removes, two private hosts each behind an
//! nftables masquerade NAT and a public host running `utpcat introducer`,
//! all on documentation addresses:
//!
//! ```text
//! host A 192.0.2.2 ── NAT A ── 203.0.113.2 ┐                 ┌ 203.0.113.18 ── NAT B ── 198.51.100.2 host B
//!         192.0.2.1 (lan)      (wan)       └─ 203.0.113.1 ─ 203.0.113.17 ┘ (wan)   (lan) 198.51.100.1
//!                                              public host (introducer), routing between the NATs
//! ```
//!
//! Each NAT masquerades what leaves its wan interface and, as a home
//! router does, drops new inbound flows (forwarded or to itself: an early
//! punch packet must not leave a conntrack entry that takes the port the
//! mapping needs). Plain `masquerade` keeps the source port when it is
//! free (an endpoint-independent mapping); `masquerade random` picks a
//! port per flow (a symmetric NAT), which hole punching cannot pass.
//!
//! Needs root, `ip` and `nft`. Without them the tests say they are skipped
//! and pass, unless `UTP_REQUIRE_NETNS=1` (CI sets it): then they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const REQUIRE: &str = "UTP_REQUIRE_NETNS";
const INTRODUCER: &str = "203.0.113.1:3478";

/// The namespaces of one test, removed on drop.
struct Lab {
    prefix: String,
}

impl Lab {
    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Builds the network; `Err` says why it could not.
    fn build(tag: &str, symmetric_b: bool) -> Result<Lab, String> {
        let lab = Lab {
            prefix: format!("utp{}{tag}", std::process::id() % 100_000),
        };
        let (pubh, nat_a, nat_b, a, b) = (
            lab.ns("pub"),
            lab.ns("nata"),
            lab.ns("natb"),
            lab.ns("a"),
            lab.ns("b"),
        );
        for ns in [&pubh, &nat_a, &nat_b, &a, &b] {
            run(&["ip", "netns", "add", ns])?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        // Links: a pair of veths each, created straight in their namespaces.
        let link = |ns1: &str, if1: &str, ns2: &str, if2: &str| {
            run(&[
                "ip", "-n", ns1, "link", "add", if1, "type", "veth", "peer", "name", if2, "netns",
                ns2,
            ])?;
            run(&["ip", "-n", ns1, "link", "set", if1, "up"])?;
            run(&["ip", "-n", ns2, "link", "set", if2, "up"])
        };
        link(&pubh, "pa", &nat_a, "wan")?;
        link(&pubh, "pb", &nat_b, "wan")?;
        link(&nat_a, "lan", &a, "eth0")?;
        link(&nat_b, "lan", &b, "eth0")?;
        let addr = |ns: &str, cidr: &str, dev: &str| {
            run(&["ip", "-n", ns, "addr", "add", cidr, "dev", dev])
        };
        addr(&pubh, "203.0.113.1/28", "pa")?;
        addr(&pubh, "203.0.113.17/28", "pb")?;
        addr(&nat_a, "203.0.113.2/28", "wan")?;
        addr(&nat_b, "203.0.113.18/28", "wan")?;
        addr(&nat_a, "192.0.2.1/24", "lan")?;
        addr(&nat_b, "198.51.100.1/24", "lan")?;
        addr(&a, "192.0.2.2/24", "eth0")?;
        addr(&b, "198.51.100.2/24", "eth0")?;
        let route =
            |ns: &str, via: &str| run(&["ip", "-n", ns, "route", "add", "default", "via", via]);
        route(&nat_a, "203.0.113.1")?;
        route(&nat_b, "203.0.113.17")?;
        route(&a, "192.0.2.1")?;
        route(&b, "198.51.100.1")?;
        for ns in [&pubh, &nat_a, &nat_b] {
            run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])?;
        }
        nat(&nat_a, false)?;
        nat(&nat_b, symmetric_b)?;
        Ok(lab)
    }

    /// `utpcat ARGS` in namespace `ns`.
    fn utpcat(&self, ns: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(ns), env!("CARGO_BIN_EXE_utpcat")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting the namespaces deletes their links.
        for ns in ["a", "b", "nata", "natb", "pub"] {
            let _ = run(&["ip", "netns", "del", &self.ns(ns)]);
        }
    }
}

/// The NAT's rules: masquerade on wan (`random`: a port per flow), and
/// no new flow in from wan.
fn nat(ns: &str, random: bool) -> Result<(), String> {
    let masquerade = if random {
        "masquerade random"
    } else {
        "masquerade"
    };
    let rules = format!(
        "table ip nat {{
  chain post {{
    type nat hook postrouting priority srcnat;
    oifname \"wan\" {masquerade}
  }}
}}
table inet guard {{
  chain input {{
    type filter hook input priority filter;
    iifname \"wan\" ct state new drop
  }}
  chain forward {{
    type filter hook forward priority filter;
    iifname \"wan\" ct state new drop
  }}
}}
"
    );
    let path = std::env::temp_dir().join(format!("{ns}.nft"));
    std::fs::write(&path, rules).map_err(|e| e.to_string())?;
    let result = run(&[
        "ip",
        "netns",
        "exec",
        ns,
        "nft",
        "-f",
        &path.display().to_string(),
    ]);
    let _ = std::fs::remove_file(&path);
    result
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The lab, or `None` when it cannot be built and the tests may skip.
fn lab(tag: &str, symmetric_b: bool) -> Option<Lab> {
    match Lab::build(tag, symmetric_b) {
        Ok(lab) => Some(lab),
        Err(why) if std::env::var_os(REQUIRE).is_some() => {
            panic!("{REQUIRE} is set but the NAT lab cannot be built: {why}")
        }
        Err(why) => {
            eprintln!("skipped: cannot build the NAT lab ({why}); set {REQUIRE}=1 to fail instead");
            None
        }
    }
}

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

#[test]
fn two_hosts_behind_nats_punch_through_and_move_16_mib_each_way() {
    let Some(lab) = lab("ok", false) else { return };
    let mut intro = introducer(&lab);
    let dir = scratch("punch-netns");
    let (a_data, b_data) = (random_bytes(16 << 20, 11), random_bytes(16 << 20, 12));
    std::fs::write(dir.join("a"), &a_data).unwrap();
    std::fs::write(dir.join("b"), &b_data).unwrap();
    let side = |me: &str, peer: &str| {
        let send = dir.join(me).display().to_string();
        let recv = dir.join(format!("{me}.got")).display().to_string();
        let args = [
            "punch", "--via", INTRODUCER, "--name", me, "--peer", peer, "--send", &send, "--recv",
            &recv,
        ];
        lab.utpcat(me, &args)
    };
    let a = side("a", "b");
    let b = side("b", "a");
    let (a, b) = (
        finish(a, String::new(), None),
        finish(b, String::new(), None),
    );
    let _ = intro.kill();
    let _ = intro.wait();
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
    let mut intro = introducer(&lab);
    let started = Instant::now();
    let side = |me: &str, peer: &str| {
        let args = [
            "punch",
            "--via",
            INTRODUCER,
            "--name",
            me,
            "--peer",
            peer,
            "--timeout",
            "4",
        ];
        lab.utpcat(me, &args)
    };
    let a = side("a", "b");
    let b = side("b", "a");
    let (a, b) = (
        finish(a, String::new(), None),
        finish(b, String::new(), None),
    );
    let _ = intro.kill();
    let _ = intro.wait();
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
