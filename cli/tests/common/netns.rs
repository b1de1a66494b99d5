//! A lab of network namespaces for the tests that cross real NATs: two
//! private hosts each behind an nftables masquerade NAT, and a public host
//! that routes between the NATs, all on documentation addresses:
//!
//! ```text
//! host a 192.0.2.2 ── NAT a ── 203.0.113.2 ┐                 ┌ 203.0.113.18 ── NAT b ── 198.51.100.2 host b
//!         192.0.2.1 (lan)      (wan)       └─ 203.0.113.1 ─ 203.0.113.17 ┘ (wan)   (lan) 198.51.100.1
//!                                              public host, routing between the NATs
//! ```
//!
//! Each NAT masquerades what leaves its wan interface and, as a home
//! router does, drops new inbound flows (forwarded or to itself: an early
//! punch packet must not leave a conntrack entry that takes the port the
//! mapping needs), except flows it was told to forward (DNAT). Plain
//! `masquerade` keeps the source port when it is free (an
//! endpoint-independent mapping); `masquerade random` picks a port per flow
//! (a symmetric NAT).
//!
//! Needs root, `ip` and `nft`. Without them [`lab`] says the test is
//! skipped, unless `UTP_REQUIRE_NETNS=1` (CI sets it): then it panics.

use std::process::{Child, Command};

pub(crate) const REQUIRE: &str = "UTP_REQUIRE_NETNS";
const INTRODUCER: &str = "203.0.113.1:3478";

/// The namespaces of one test, removed on drop.
pub(crate) struct Lab {
    prefix: String,
}

impl Lab {
    /// The full name of namespace `name` (`pub`, `nata`, `natb`, `a`, `b`).
    pub(crate) fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Builds the network; `Err` says why it could not.
    pub(crate) fn build(tag: &str, symmetric_b: bool) -> Result<Lab, String> {
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
    pub(crate) fn utpcat(&self, ns: &str, args: &[&str]) -> Child {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(ns), env!("CARGO_BIN_EXE_utpcat")])
            .args(args);
        super::spawn_piped(command)
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
/// no new flow in from wan but those DNAT rules in `ip nat pre` forward.
fn nat(ns: &str, random: bool) -> Result<(), String> {
    let masquerade = if random {
        "masquerade random"
    } else {
        "masquerade"
    };
    let rules = format!(
        "table ip nat {{
  chain pre {{
    type nat hook prerouting priority dstnat;
  }}
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
    ct status dnat accept
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

pub(crate) fn run(args: &[&str]) -> Result<(), String> {
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
pub(crate) fn lab(tag: &str, symmetric_b: bool) -> Option<Lab> {
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
