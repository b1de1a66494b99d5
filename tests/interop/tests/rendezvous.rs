//! Our rendezvous (`UtpSocket::connect_rendezvous`, spec section 9) against
//! stacks that have none, which send a plain SYN to us at the same moment:
//! libutp (through libutp-rs2) and libtorrent 2.0.8. One connection carries
//! data, 4 MiB each way (libutp) or a torrent each way (libtorrent).
//!
//! Our socket does not listen (a rendezvous socket): a SYN of the peer's
//! that is not part of a contest is refused with RESET.
//!
//! The libutp side both listens and connects to us. Its policy is a BEP 55
//! client's: it keeps the attempt that proved itself both ways (its SYN
//! answered, or our packet after its STATE); were both to, the side with
//! the lower port would keep its outgoing one (libtorrent's rule); the
//! attempt it does not keep must end in a RESET from us (`rendezvous/crossing.rs`).
//!
//! libtorrent applies that rule itself, at the BitTorrent handshake and even
//! to an attempt still connecting: when we win from the higher port it
//! closes our connection and none results (`rendezvous/libtorrent.rs`).
//! What each case sends, packet by packet: spec/interop.md, "Rendezvous
//! against libutp and libtorrent".
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;
#[path = "rendezvous/crossing.rs"]
mod crossing;
#[path = "rendezvous/libtorrent.rs"]
mod libtorrent;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use crossing::{Attempt, Crossing, Fate};
use libutp_rs2::{UtpContext, UtpOpts};
use tokio::io::AsyncWriteExt;
use utp_core::wire::PacketType;
use utp_interop::data::pattern;
use utp_tokio::{DriverConfig, UtpSocket};

/// Bytes each way.
const EACH_WAY: usize = 4 * MIB;

/// Who starts first, and by how much.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Start {
    /// We call `connect_rendezvous`, then libutp (libtorrent) connects 5 ms
    /// later.
    OursFirst,
    /// libutp (libtorrent) connects, then we call 5 ms later.
    TheirsFirst,
}

/// Who writes first on the connection kept.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Writer {
    Ours,
    Libutp,
}

/// How our SYN's connection id is chosen (through `DriverConfig::seed`): the
/// contest compares (id, seq), the lower initiating, so a low id almost
/// always wins against libutp's random one and a high one loses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bias {
    LowId,
    HighId,
}

impl Bias {
    /// A `DriverConfig::seed` whose first SYN has such an id.
    fn seed(self) -> u64 {
        match self {
            Bias::LowId => crossing::seed_where(|id| id < 0x0100),
            Bias::HighId => crossing::seed_where(|id| id > 0xFF00),
        }
    }
}

/// What happened on our side.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// No contest: one SYN was answered before the other arrived.
    NoContest,
    /// We won: our SYN made the connection (libutp's listener took it).
    Won,
    /// We lost: our connection became the acceptor of libutp's SYN.
    Lost,
}

/// A libutp context on a fresh loopback port (4 MiB UDP receive buffer, as
/// in libutp.rs).
fn libutp_context() -> (Arc<UtpContext<tokio::net::UdpSocket>>, SocketAddr) {
    let sock = tokio::net::UdpSocket::from_std(udp_socket()).unwrap();
    let addr = sock.local_addr().unwrap();
    (UtpContext::new(sock, UtpOpts::default()).unwrap(), addr)
}

/// Our socket, endpoint seed `seed`: no listener, or with `listen` the
/// default one.
fn our_socket(seed: u64, listen: bool) -> UtpSocket {
    let mut config = DriverConfig::default();
    config.seed = Some(seed);
    let config = if listen {
        config
    } else {
        config.outgoing_only()
    };
    UtpSocket::from_std(udp_socket(), config).unwrap()
}

/// One rendezvous with libutp, its SYN and ours `cross`ing or not, and the
/// exchange on the connection kept. Checks the behaviour for the outcome
/// and returns it.
async fn rendezvous_with_libutp(start: Start, cross: bool, seed: u64, writer: Writer) -> Outcome {
    let what = format!("{start:?}, cross {cross}, seed {seed}, {writer:?} writes first");
    let (ctx, libutp_addr) = libutp_context();
    let ours = our_socket(seed, false);
    let crossing = Arc::new(Crossing::start(ours.local_addr().unwrap(), cross).await);
    crossing.set_peer(libutp_addr);
    // Each side sends to the forwarder and sees the other there.
    let via = crossing.local_addr();
    // Its listener waits before any SYN can come.
    let accept = accepting({
        let ctx = ctx.clone();
        async move { ctx.accept().await.unwrap() }
    })
    .await;
    let offset = Duration::from_millis(5);
    let rendezvous = || {
        let ours = ours.clone();
        tokio::spawn(async move { ours.connect_rendezvous(via).await })
    };
    let (our_conn, outgoing) = match start {
        Start::OursFirst => {
            let r = rendezvous();
            tokio::time::sleep(offset).await;
            (r, ctx.connect(via).await.unwrap())
        }
        Start::TheirsFirst => {
            let o = ctx.connect(via).await.unwrap();
            tokio::time::sleep(offset).await;
            (rendezvous(), o)
        }
    };
    let (a, b) = (pattern(EACH_WAY, SEED_A), pattern(EACH_WAY, SEED_B));
    // The libutp side: keeps one attempt, moves B (and A the other way).
    let libutp_side = tokio::spawn({
        let (crossing, a, b) = (crossing.clone(), a.clone(), b.clone());
        async move {
            let keep = loop {
                if let Some(k) = crossing.view().keep(libutp_addr.port(), via.port()) {
                    break k;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            let (mut s, other) = match keep {
                Attempt::Outgoing => (outgoing, None),
                Attempt::Incoming => (accept.await.unwrap(), Some(outgoing)),
            };
            let writer = effective(writer, keep);
            if writer == Writer::Libutp {
                s.write_all(&b).await.unwrap();
            }
            read_exact_and_verify(&mut s, "libutp reading A", &a).await;
            if writer == Writer::Ours {
                s.write_all(&b).await.unwrap();
            }
            // libutp-rs2 cannot half-close: it reads our FIN, then drops
            // the stream (utp_close, its FIN).
            read_all_and_verify(&mut s, "libutp reading to our FIN", b"").await;
            drop(s);
            (keep, other)
        }
    });
    let (keep, other) = guard(&what, 120, async {
        let mut s = our_conn.await.unwrap().unwrap();
        assert_eq!(s.peer_addr().unwrap(), via);
        // libutp keeps its outgoing attempt exactly when we lost.
        let keep = if ours.endpoint_stats().rendezvous_lost == 1 {
            Attempt::Outgoing
        } else {
            Attempt::Incoming
        };
        let writer = effective(writer, keep);
        if writer == Writer::Ours {
            s.write_all(&a).await.unwrap();
        }
        read_exact_and_verify(&mut s, "our side reading B", &b).await;
        if writer == Writer::Libutp {
            s.write_all(&a).await.unwrap();
        }
        s.shutdown().await.unwrap();
        read_all_and_verify(&mut s, "our side reading to libutp's FIN", b"").await;
        libutp_side.await.unwrap()
    })
    .await;
    // The attempt not kept ends in a RESET from us: libutp holds one
    // connection.
    let not_kept = match keep {
        Attempt::Outgoing => Attempt::Incoming,
        Attempt::Incoming => Attempt::Outgoing,
    };
    let view = guard("the attempt not kept ending", 60, async {
        loop {
            let v = crossing.view();
            if v.fate(not_kept) == Fate::Reset {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    drop(other);
    let stats = ours.endpoint_stats();
    let outcome = match (stats.rendezvous_won, stats.rendezvous_lost) {
        (0, 0) => Outcome::NoContest,
        (_, 0) => Outcome::Won,
        (0, 1) => Outcome::Lost,
        _ => panic!("{what}: {stats:?}"),
    };
    eprintln!(
        "{what}: ports libutp {} forwarder {}; our SYN {:?}, libutp's {:?}; {outcome:?}; libutp keeps its {keep:?} attempt; {view:?}",
        libutp_addr.port(),
        via.port(),
        view.in_syn,
        view.out_syn,
    );
    for s in crossing.log().iter().take(16) {
        eprintln!("  {s:?}");
    }
    eprintln!("our endpoint: {stats:?}");
    // Exactly one connection on our side: no listener, nothing accepted.
    assert_eq!(stats.accepted, 0, "{what}: {stats:?}");
    match outcome {
        // Our connection is the acceptor of libutp's SYN.
        Outcome::Lost => assert_eq!(keep, Attempt::Outgoing, "{what}"),
        // Our SYN made the connection; libutp's SYN was refused.
        Outcome::Won | Outcome::NoContest => {
            assert_eq!(keep, Attempt::Incoming, "{what}");
            assert!(stats.syns_refused >= 1, "{what}: {stats:?}");
        }
    }
    if cross {
        assert_ne!(outcome, Outcome::NoContest, "{what}: the SYNs crossed");
    }
    outcome
}

/// Who writes first, given the attempt libutp keeps: libutp's acceptor
/// cannot write before the initiator's first DATA (libutp leaves
/// `CS_SYN_RECV` only on a DATA, and `utp_write` takes nothing before), so
/// on its incoming connection we write first.
fn effective(writer: Writer, keep: Attempt) -> Writer {
    match keep {
        Attempt::Outgoing => writer,
        Attempt::Incoming => Writer::Ours,
    }
}

/// Runs the crossing rendezvous (both start orders, both writers) with our
/// id biased by `bias`, each until `want` was seen (a low id wins against
/// libutp's random one 255 times in 256: at most 5 tries).
async fn crossing_until(bias: Bias, want: Outcome, writers: &[Writer]) {
    let _serial = serial().await;
    let seed = bias.seed();
    for start in [Start::OursFirst, Start::TheirsFirst] {
        for &writer in writers {
            let mut seen = Vec::new();
            for _ in 0..5 {
                let outcome = rendezvous_with_libutp(start, true, seed, writer).await;
                seen.push(outcome);
                if outcome == want {
                    break;
                }
            }
            assert_eq!(seen.last(), Some(&want), "{start:?} {writer:?}: {seen:?}");
        }
    }
}

/// Starting 5 ms apart on loopback, the first SYN is answered before the
/// second arrives: no contest (whichever outcome, its behaviour is checked).
async fn offset(start: Start) {
    let _serial = serial().await;
    rendezvous_with_libutp(start, false, 1, Writer::Ours).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libutp_connects_5_ms_after_our_rendezvous_4_mib_each_way() {
    offset(Start::OursFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_rendezvous_5_ms_after_libutp_connects_4_mib_each_way() {
    offset(Start::TheirsFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_syns_our_lower_id_wins_libutp_accepts_ours() {
    crossing_until(Bias::LowId, Outcome::Won, &[Writer::Ours]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_syns_our_higher_id_loses_we_accept_libutps() {
    crossing_until(Bias::HighId, Outcome::Lost, &[Writer::Ours, Writer::Libutp]).await;
}
