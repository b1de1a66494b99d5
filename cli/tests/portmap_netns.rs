//! `utpcat listen --map` through a real Linux NAT: host a, behind NAT a
//! (nftables masquerade, no new inbound flows), asks the NAT's port-mapping
//! service (`common/gateway.rs`, written from RFC 6887, RFC 6886 and the
//! UPnP IGD specifications) for a public port; the service installs it as a DNAT rule, and the public
//! host connects straight in. In network namespaces the test builds and
//! removes (`common/netns.rs`); skipped without root, `ip` and `nft`,
//! unless `UTP_REQUIRE_NETNS=1` (CI sets it).
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use common::gateway::{Event, Gateway, Speaks};
use common::netns::lab;
use common::*;

const LAN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

/// host a listens on 40000 with `--map`; the public host connects to the
/// address the listener printed; 1 MiB each way. The gateway grants
/// `lifetime` seconds; the public host waits `delay` before connecting.
fn mapped_listener(tag: &str, speaks: Speaks, lifetime: u32, delay: Duration) -> Vec<Event> {
    let Some(lab) = lab(tag, false) else {
        return Vec::new();
    };
    let gateway = Gateway::start(&lab.ns("nata"), LAN, PUBLIC, speaks, lifetime);
    let dir = scratch(&format!("portmap-{tag}"));
    let (a_data, p_data) = (random_bytes(1 << 20, 21), random_bytes(1 << 20, 22));
    std::fs::write(dir.join("a"), &a_data).unwrap();
    std::fs::write(dir.join("p"), &p_data).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    let (a_send, a_recv, p_send, p_recv) = (path("a"), path("a.got"), path("p"), path("p.got"));
    let mut listener = lab.utpcat(
        "a",
        &[
            "listen",
            "40000",
            "--map",
            "--gateway",
            "192.0.2.1",
            "--send",
            &a_send,
            "--recv",
            &a_recv,
        ],
    );
    // Its stderr, line by line.
    let (tx, lines) = mpsc::channel();
    let stderr = BufReader::new(listener.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let reachable = loop {
        let line = lines
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("no \"reachable at\" line; so far:\n{seen}"));
        seen += &line;
        seen += "\n";
        if let Some(rest) = line.strip_prefix("utpcat: reachable at ") {
            break rest.to_string();
        }
    };
    let protocol = match speaks {
        Speaks::Pcp => "PCP",
        Speaks::NatPmp => "NAT-PMP",
        Speaks::Upnp => "UPnP",
    };
    assert_eq!(
        reachable,
        format!("203.0.113.2:40000 ({protocol} mapping on 192.0.2.1, {lifetime} s, renewed)")
    );
    let public: SocketAddr = reachable.split(' ').next().unwrap().parse().unwrap();
    std::thread::sleep(delay);
    let outside = lab.utpcat(
        "pub",
        &[
            "connect",
            &public.to_string(),
            "--send",
            &p_send,
            "--recv",
            &p_recv,
        ],
    );
    let outside = finish(outside, String::new(), None);
    assert_success("the outside host", &outside);
    let listener = finish(listener, seen, Some(lines));
    assert_success("the mapped listener", &listener);
    assert_same_bytes(
        "a to outside",
        &std::fs::read(path("p.got")).unwrap(),
        &a_data,
    );
    assert_same_bytes(
        "outside to a",
        &std::fs::read(path("a.got")).unwrap(),
        &p_data,
    );
    gateway.events()
}

/// A mapping of 40000 to host a's 40000 for an hour, granted by `by`.
fn hour_mapping(by: Speaks) -> Event {
    Event::Map {
        by,
        external: 40000,
        internal: "192.0.2.2:40000".parse().unwrap(),
        lifetime: 3600,
    }
}

/// The gateway speaking `speaks` saw exactly `want` (unless skipped).
fn mapped_as(tag: &str, speaks: Speaks, want: Vec<Event>) {
    let events = mapped_listener(tag, speaks, 3600, Duration::ZERO);
    if !events.is_empty() {
        assert_eq!(events, want);
    }
}

#[test]
fn pcp_mapping_lets_an_outside_host_connect_in_and_is_removed_at_the_end() {
    let unmap = Event::Unmap { external: 40000 };
    mapped_as("pcp", Speaks::Pcp, vec![hour_mapping(Speaks::Pcp), unmap]);
}

#[test]
fn nat_pmp_is_the_fallback_when_the_gateway_has_no_pcp() {
    let unmap = Event::Unmap { external: 40000 };
    let want = vec![Event::RefusedPcp, hour_mapping(Speaks::NatPmp), unmap];
    mapped_as("pmp", Speaks::NatPmp, want);
}

#[test]
fn upnp_is_the_fallback_when_the_gateway_has_neither() {
    let unmap = Event::Unmap { external: 40000 };
    mapped_as(
        "upnp",
        Speaks::Upnp,
        vec![hour_mapping(Speaks::Upnp), unmap],
    );
}

#[test]
fn a_short_mapping_is_renewed_before_it_expires() {
    // Granted 2 s: renewed after 1 s, and again; the outside host comes
    // after 2.5 s, by when two renewals were due.
    let events = mapped_listener("renew", Speaks::Pcp, 2, Duration::from_millis(2500));
    if events.is_empty() {
        return; // skipped
    }
    let maps = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Map {
                    external: 40000,
                    lifetime: 2,
                    ..
                }
            )
        })
        .count();
    assert!(maps >= 3, "a mapping and at least two renewals: {events:?}");
    assert_eq!(events.last(), Some(&Event::Unmap { external: 40000 }));
}

#[test]
fn without_a_mapping_the_nat_keeps_an_outside_host_out() {
    let Some(lab) = lab("nomap", false) else {
        return;
    };
    let listener = lab.utpcat("a", &["listen", "40000"]);
    // Time for the listener to bind (a connect too early proves nothing
    // more: it fails either way).
    std::thread::sleep(Duration::from_millis(300));
    let outside = lab.utpcat(
        "pub",
        &["connect", "203.0.113.2:40000", "--connect-timeout", "1.5"],
    );
    let outside = finish(outside, String::new(), None);
    assert_eq!(outside.status.code(), Some(4), "{}", outside.stderr);
    signal(listener.id(), "KILL");
    let _ = finish(listener, String::new(), None);
}
