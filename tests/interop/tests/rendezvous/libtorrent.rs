//! Our rendezvous against libtorrent 2.0.8: `lt_peer.py rendezvous` has
//! libtorrent `connect_peer` to us over uTP (as a BEP 55 client does on a
//! holepunch `connect`) while we call `connect_rendezvous` to its uTP port,
//! both through the crossing forwarder (the SYNs cross: a contest on our
//! side); then the torrent moves one way on the connection that resulted,
//! as in libtorrent.rs: libtorrent seeds to our downloader, or our seeder
//! serves libtorrent. Skipped unless libtorrent imports (or failing, with
//! `UTP_REQUIRE_LIBTORRENT=1`).

use utp_interop::bt::{self, Greeting, SeedEnd};
use utp_interop::data::verify;

use super::common::lt::{
    libtorrent_available, payload_file, read_torrent, start_script, PIECE, PIPELINE, TORRENT_SIZE,
};
use super::crossing::Dir;
use super::*;

/// Linux's ETIMEDOUT, as libtorrent's `system` category reports it.
const ETIMEDOUT: i32 = 110;

/// Which way the torrent goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    LibtorrentSeeds,
    WeSeed,
}

/// Our port (the forwarder's, which libtorrent sees) against libtorrent's:
/// its duplicate-peer rule keeps the outgoing connection of the side with
/// the lower port.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ports {
    OursLower,
    OursHigher,
}

/// One rendezvous with libtorrent and the torrent over it; checks the
/// behaviour for the outcome and returns it.
/// With `listen`, our socket listens too, and a SYN of libtorrent's that
/// lost our contest is accepted as a second connection.
async fn rendezvous_with_libtorrent(
    role: Role,
    start: Start,
    ports: Ports,
    seed: u64,
    listen: bool,
) -> Outcome {
    let what = format!("libtorrent, {role:?}, {start:?}, {ports:?}, seed {seed}, listen {listen}");
    let dir = TempDir::new("lt-rendezvous");
    let payload = pattern(TORRENT_SIZE, 0x1A);
    let file = payload_file(&dir, &payload);
    let ours = our_socket(seed, listen);
    let lt_role = match role {
        Role::LibtorrentSeeds => "seed",
        Role::WeSeed => "download",
    };
    let mut lt = start_script(&["rendezvous", lt_role], &dir, &file, None);
    let meta = read_torrent(&mut lt, TORRENT_SIZE, PIECE).await;
    let lt_addr = lt.listen_addr().await.unwrap();
    let port = lt_addr.port();
    // Our port as libtorrent sees it is the forwarder's.
    let fwd = Crossing::start_on(ours.local_addr().unwrap(), true, |p| match ports {
        Ports::OursLower => p < port,
        Ports::OursHigher => p > port,
    })
    .await;
    let via = fwd.local_addr();
    fwd.set_peer(lt_addr);
    if listen {
        // Our duplicate rule compares our port with the peer's, as
        // libtorrent's does; the forwarder shows each side the other at its
        // own port, so we are told a port on the same side of it as the
        // forwarder's port is of libtorrent's (spec section 9).
        ours.set_local_port(match ports {
            Ports::OursHigher => u16::MAX,
            Ports::OursLower => 1,
        });
    }
    if ports == Ports::OursHigher {
        // Where libtorrent's rule would close our connection, one SYN each
        // way: with our SYN repeated on winning, libtorrent may hold two
        // incoming connections and take our handshake on the second only
        // after its outgoing attempt timed out (spec/interop.md).
        fwd.one_syn_each();
    }
    lt.expect("ready", Duration::from_secs(30)).await.unwrap();
    let go = format!("go {}", via.port());
    let rendezvous = || {
        let ours = ours.clone();
        tokio::spawn(async move { ours.connect_rendezvous(via).await })
    };
    let ours_conn = match start {
        Start::OursFirst => {
            let r = rendezvous();
            tokio::time::sleep(Duration::from_millis(5)).await;
            lt.send_line(&go).await.unwrap();
            r
        }
        Start::TheirsFirst => {
            lt.send_line(&go).await.unwrap();
            lt.expect("connecting", Duration::from_secs(30))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            rendezvous()
        }
    };
    let s = guard(&what, 60, ours_conn).await.unwrap().unwrap();
    assert_eq!(s.peer_addr().unwrap(), via);
    let stats = ours.endpoint_stats();
    let outcome = match (stats.rendezvous_won, stats.rendezvous_lost) {
        (0, 0) => Outcome::NoContest,
        (_, 0) => Outcome::Won,
        (0, 1) => Outcome::Lost,
        _ => panic!("{what}: {stats:?}"),
    };
    // libtorrent keeps the outgoing connection of the side with the lower
    // port when a second connection with a peer reaches the BitTorrent
    // handshake, even one still connecting: when we won (its SYN went
    // unanswered) from the higher port, it keeps that dead attempt and
    // closes ours.
    let dropped = outcome != Outcome::Lost && ports == Ports::OursHigher;
    // Listening, we accepted that attempt of libtorrent's too: it is the
    // connection libtorrent keeps, and ours, by the same rule: `accept`
    // hands it out when our rendezvous was connected first (which is then
    // half-closed, and gets libtorrent's FIN), or the rendezvous took it
    // over when it was not.
    let mut s = match (dropped, listen) {
        (true, true) => {
            guard(&what, 60, async {
                while ours.endpoint_stats().rendezvous_duplicates == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            match tokio::time::timeout(Duration::from_secs(1), ours.accept()).await {
                Ok(accepted) => {
                    let (kept, _) = accepted.unwrap();
                    assert_eq!(kept.peer_addr().unwrap(), via);
                    eprintln!("{what}: kept the accepted connection; the rendezvous half-closed");
                    drop(s);
                    kept
                }
                Err(_) => {
                    eprintln!("{what}: the rendezvous took the accepted connection over");
                    s
                }
            }
        }
        _ => s,
    };
    let dropped = dropped && !listen;
    match role {
        Role::LibtorrentSeeds if dropped => {
            let err = match guard(
                &what,
                120,
                bt::download(&mut s, &meta, bt::peer_id(1), PIPELINE),
            )
            .await
            {
                Ok(got) => panic!("{what}: the download completed, {} pieces", got.pieces),
                Err(e) => e,
            };
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::UnexpectedEof,
                "{what}: {err}"
            );
            // It closed ours with a FIN (no alert: an incoming connection
            // closed before it joins the torrent posts none); the attempt it
            // kept times out (its SYN lost the contest and is not repeated).
            let fin = fwd
                .log()
                .into_iter()
                .find(|p| p.dir == Dir::Out && p.kind == PacketType::Fin);
            assert_eq!(fin.map(|p| p.id), fwd.view().in_syn.map(|s| s.0), "{what}");
            let timed_out =
                format!("peer_disconnected {via} socket_type=3 reason=0 error=system:{ETIMEDOUT} op=connect");
            guard(&what, 60, async {
                while lt.expect("peer", Duration::from_secs(60)).await.unwrap() != timed_out {}
            })
            .await;
            drop(s);
            lt.close_stdin();
            let uploaded = lt
                .expect("uploaded", Duration::from_secs(30))
                .await
                .unwrap();
            assert_eq!(uploaded, "0", "{what}");
        }
        Role::LibtorrentSeeds => {
            let got = guard(
                &what,
                120,
                bt::download(&mut s, &meta, bt::peer_id(1), PIPELINE),
            )
            .await
            .unwrap();
            verify("the downloaded file", &got.data, &payload).unwrap();
            assert_eq!(got.pieces, TORRENT_SIZE / PIECE);
            assert_eq!(&got.remote.peer_id[..3], b"-LT");
            drop(s);
            lt.close_stdin();
            let uploaded: usize = lt
                .expect("uploaded", Duration::from_secs(30))
                .await
                .unwrap()
                .parse()
                .unwrap();
            assert!(uploaded >= TORRENT_SIZE, "libtorrent uploaded {uploaded}");
        }
        Role::WeSeed if dropped => panic!("{what}: no test has libtorrent drop our seeder"),
        Role::WeSeed => {
            // Our handshake first: libtorrent's acceptor (when ours is the
            // initiator) waits for it; its initiator does not mind.
            let seeder = tokio::spawn({
                let (meta, payload) = (meta.clone(), payload.clone());
                async move {
                    let served =
                        bt::seed_with(&mut s, &meta, &payload, bt::peer_id(2), Greeting::First)
                            .await
                            .unwrap();
                    s.abort();
                    served
                }
            });
            lt.expect("complete", Duration::from_secs(120))
                .await
                .unwrap();
            assert_eq!(
                lt.expect("verified", Duration::from_secs(30))
                    .await
                    .unwrap(),
                "yes"
            );
            // libtorrent closes the connection once it has everything.
            let served = guard(&what, 60, seeder).await.unwrap();
            assert!(served.bytes >= TORRENT_SIZE as u64, "{served:?}");
            assert_eq!(served.end, SeedEnd::Eof, "{served:?}");
            lt.close_stdin();
        }
    }
    // The torrent went over one of libtorrent's attempts; the other never
    // carried anything.
    let log = fwd.log();
    let view = fwd.view();
    let accepted_its_own = listen && outcome != Outcome::Lost && ports == Ports::OursHigher;
    let carried = match outcome {
        Outcome::Lost => Attempt::Outgoing,
        _ if accepted_its_own => Attempt::Outgoing,
        Outcome::Won | Outcome::NoContest => Attempt::Incoming,
    };
    assert_eq!(view.fate(carried), Fate::Counted, "{what}: {view:?}");
    match carried {
        // Our listener answered its SYN; its incoming one (ours) got its FIN.
        Attempt::Outgoing if accepted_its_own => {}
        // Its incoming one (our losing SYN) got our RESET for its STATE.
        Attempt::Outgoing => assert_eq!(view.incoming, Fate::Reset, "{what}: {view:?}"),
        // No SYN of libtorrent's got an answer from us: the first lost the
        // contest; a later one (libtorrent connects again after its connect
        // timed out) gets a RESET.
        // Listening from the lower port: our listener answered its SYN, and
        // once libtorrent proved that connection our rule (libtorrent's)
        // kept the rendezvous and reset it.
        Attempt::Incoming if listen => {
            let duplicates = ours.endpoint_stats().rendezvous_duplicates;
            assert!(duplicates <= 1, "{what}: {duplicates} duplicates");
            let reset = log.iter().any(|s| {
                s.dir == Dir::In
                    && s.kind == PacketType::Reset
                    && Some(s.id) == view.out_syn.map(|x| x.0)
            });
            assert_eq!(reset, duplicates == 1, "{what}: {view:?}");
        }
        Attempt::Incoming => {
            for syn in log
                .iter()
                .filter(|s| s.dir == Dir::Out && s.kind == PacketType::Syn)
            {
                let answered = log.iter().any(|s| {
                    s.dir == Dir::In
                        && s.kind == PacketType::State
                        && s.id == syn.id
                        && s.ack == syn.seq
                });
                assert!(!answered, "{what}: we answered libtorrent's SYN {syn:?}");
            }
        }
    }
    let peers = lt.expect("peers", Duration::from_secs(30)).await.unwrap();
    lt.expect("done", Duration::from_secs(30)).await.unwrap();
    assert!(lt.wait(Duration::from_secs(30)).await.unwrap().success());
    let stats = ours.endpoint_stats();
    eprintln!(
        "{what}: ports libtorrent {port} forwarder {}; our SYN {:?}, libtorrent's {:?}; {outcome:?}; \
         the connection was libtorrent's {carried:?} attempt; {view:?}; libtorrent's peer list {peers}",
        via.port(),
        view.in_syn,
        view.out_syn
    );
    for s in fwd
        .log()
        .iter()
        .filter(|s| s.kind != PacketType::Data)
        .take(16)
    {
        eprintln!("  {s:?}");
    }
    eprintln!("our endpoint: {stats:?}");
    // Listening, our listener took libtorrent's SYN where we won the contest
    // (and handed it out only where libtorrent kept it).
    let accepted = u64::from(listen && outcome == Outcome::Won);
    assert_eq!(stats.accepted, accepted, "{what}: {stats:?}");
    assert!(
        !lt.transcript.iter().any(|l| l.contains("peer_ban")),
        "{what}: {:?}",
        lt.transcript
    );
    outcome
}

/// Runs until `want` was seen (at most 3 tries: a biased id wins or loses
/// 255 times in 256).
async fn libtorrent_until(
    test: &str,
    role: Role,
    start: Start,
    ports: Ports,
    bias: Bias,
    want: Outcome,
    listen: bool,
) {
    if !libtorrent_available(test) {
        return;
    }
    let _serial = serial().await;
    let seed = bias.seed();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let outcome = rendezvous_with_libtorrent(role, start, ports, seed, listen).await;
        seen.push(outcome);
        if outcome == want {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&want), "{test}: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_seeds_8_mib_over_a_rendezvous_we_win() {
    libtorrent_until(
        "libtorrent_seeds_8_mib_over_a_rendezvous_we_win",
        Role::LibtorrentSeeds,
        Start::OursFirst,
        Ports::OursLower,
        Bias::LowId,
        Outcome::Won,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_seeds_8_mib_over_a_rendezvous_libtorrent_wins() {
    libtorrent_until(
        "libtorrent_seeds_8_mib_over_a_rendezvous_libtorrent_wins",
        Role::LibtorrentSeeds,
        Start::TheirsFirst,
        Ports::OursHigher,
        Bias::HighId,
        Outcome::Lost,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_seed_8_mib_to_libtorrent_over_a_rendezvous_we_win() {
    libtorrent_until(
        "we_seed_8_mib_to_libtorrent_over_a_rendezvous_we_win",
        Role::WeSeed,
        Start::TheirsFirst,
        Ports::OursLower,
        Bias::LowId,
        Outcome::Won,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_seed_8_mib_to_libtorrent_over_a_rendezvous_libtorrent_wins() {
    libtorrent_until(
        "we_seed_8_mib_to_libtorrent_over_a_rendezvous_libtorrent_wins",
        Role::WeSeed,
        Start::OursFirst,
        Ports::OursHigher,
        Bias::HighId,
        Outcome::Lost,
        false,
    )
    .await;
}

/// We win the contest (our id is low), but our port is the higher: libtorrent
/// closes our connection (FIN) as soon as our BitTorrent handshake arrives,
/// keeping its own outgoing attempt, whose SYN we did not answer; that one
/// then times out (and a new connect of libtorrent's gets our RESET).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_drops_a_rendezvous_we_win_from_the_higher_port() {
    libtorrent_until(
        "libtorrent_drops_a_rendezvous_we_win_from_the_higher_port",
        Role::LibtorrentSeeds,
        Start::OursFirst,
        Ports::OursHigher,
        Bias::LowId,
        Outcome::Won,
        false,
    )
    .await;
}

/// We win from the lower port, our socket listening: our listener accepts
/// libtorrent's SYN too, and once libtorrent proves that connection, our
/// rule, as libtorrent's, keeps the rendezvous (our outgoing one) and
/// resets the other; the torrent goes over the rendezvous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_rendezvous_we_win_from_the_lower_port_keeps_it_and_resets_libtorrents_attempt()
{
    libtorrent_until(
        "a_listening_rendezvous_we_win_from_the_lower_port_keeps_it_and_resets_libtorrents_attempt",
        Role::LibtorrentSeeds,
        Start::OursFirst,
        Ports::OursLower,
        Bias::LowId,
        Outcome::Won,
        true,
    )
    .await;
}

/// The same, our socket listening: its SYN, which lost our contest, is
/// accepted as a second connection, which libtorrent keeps; ours gets its
/// FIN, and the torrent goes over the one `accept` hands out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_rendezvous_we_win_from_the_higher_port_goes_on_over_libtorrents_attempt() {
    libtorrent_until(
        "a_listening_rendezvous_we_win_from_the_higher_port_goes_on_over_libtorrents_attempt",
        Role::LibtorrentSeeds,
        Start::OursFirst,
        Ports::OursHigher,
        Bias::LowId,
        Outcome::Won,
        true,
    )
    .await;
}
