#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
use super::*;

async fn echo_server() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        loop {
            let (n, from) = s.recv_from(&mut buf).await.unwrap();
            s.send_to(&buf[..n], from).await.unwrap();
        }
    });
    addr
}

#[tokio::test]
async fn transparent_relay_forwards_both_ways_and_records() {
    let server = echo_server().await;
    let relay = Relay::start(server, RelayConfig::transparent().recording(10))
        .await
        .unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 64];
    for (sock, msg) in [(&a, &b"one"[..]), (&b, &b"two"[..]), (&a, &b"three"[..])] {
        sock.send_to(msg, relay.local_addr()).await.unwrap();
        let (n, from) = sock.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], msg);
        assert_eq!(from, relay.local_addr());
    }
    let st = relay.stats();
    assert_eq!(st.mappings, 2);
    assert_eq!(st.to_server.received, 3);
    assert_eq!(st.to_client.received, 3);
    let rec = relay.records();
    assert_eq!(rec.len(), 6);
    assert_eq!(rec[0].direction, Direction::ToServer);
    assert_eq!(rec[0].endpoints(), (a.local_addr().unwrap(), server));
    assert_eq!(rec[1].endpoints(), (server, a.local_addr().unwrap()));
    assert_eq!(rec[5].bytes, b"three");
}

#[test]
fn lossy_decisions_follow_the_seed_and_the_rates() {
    let config = RelayConfig::lossy(42);
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let run = |config: &RelayConfig| {
        let mut f = Faults::new(config.seed, client, Direction::ToServer);
        (0..100_000)
            .map(|_| f.decide(config, b""))
            .collect::<Vec<_>>()
    };
    let fates = run(&config);
    assert_eq!(fates, run(&config));
    assert_ne!(fates, run(&RelayConfig::lossy(43)));
    assert!(fates[..2].iter().all(|f| *f == Fate::Forwarded));
    let count = |k: Fate| fates.iter().filter(|f| **f == k).count();
    assert!(
        (800..1200).contains(&count(Fate::Dropped)),
        "{}",
        count(Fate::Dropped)
    );
    assert!((800..1200).contains(&count(Fate::Reordered)));
    assert!((350..650).contains(&count(Fate::Duplicated)));
}

/// Sends `datagrams` through `relay` from a new client socket and returns
/// the first `n` datagrams that reach `server`, in arrival order (failing
/// if one takes more than 5 s).
async fn through(relay: &Relay, server: &UdpSocket, datagrams: &[&[u8]], n: usize) -> Vec<Vec<u8>> {
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for d in datagrams {
        c.send_to(d, relay.local_addr()).await.unwrap();
    }
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while got.len() < n {
        let recv = server.recv_from(&mut buf);
        let Ok(Ok((len, _))) = tokio::time::timeout(Duration::from_secs(5), recv).await else {
            panic!("only {got:?} arrived");
        };
        got.push(buf[..len].to_vec());
    }
    got
}

#[tokio::test]
async fn scripted_drops_and_repeats_hit_the_numbered_datagrams() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = RelayConfig::transparent()
        .dropping(Direction::ToServer, 2..=3)
        .repeating(Direction::ToServer, 1, 5)
        .recording(16);
    let relay = Relay::start(server.local_addr().unwrap(), config)
        .await
        .unwrap();
    let sent: [&[u8]; 6] = [b"1", b"2", b"3", b"4", b"5", b"6"];
    let got = through(&relay, &server, &sent, 5).await;
    let want: Vec<Vec<u8>> = ["1", "4", "5", "1", "6"]
        .iter()
        .map(|m| m.as_bytes().to_vec())
        .collect();
    assert_eq!(got, want);
    let st = relay.stats().to_server;
    assert_eq!((st.received, st.dropped, st.repeated), (6, 2, 1));
    let fates: Vec<Fate> = relay.records().iter().map(|d| d.fate).collect();
    use Fate::*;
    assert_eq!(
        fates,
        [Forwarded, Dropped, Dropped, Forwarded, Repeated, Forwarded]
    );
}

/// A uTP header of `ty` (0 DATA, 1 FIN, 2 STATE) and `seq`, with one
/// byte of payload naming it.
fn utp(ty: u8, seq: u16, tag: u8) -> Vec<u8> {
    let mut b = vec![0u8; 21];
    b[0] = ty << 4 | 1;
    b[16..18].copy_from_slice(&seq.to_be_bytes());
    b[20] = tag;
    b
}

/// With `spare_fins`, the DATA packets dropped and never sent again
/// go just before the FIN (a peer that exits after its FIN cannot
/// resend them); one that got through later does not go twice, and
/// nothing else is sent again.
#[tokio::test]
async fn a_fin_brings_the_dropped_data_before_it() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = RelayConfig {
        spare_fins: true,
        ..RelayConfig::transparent()
    }
    .dropping(Direction::ToServer, 2..=4)
    .dropping(Direction::ToServer, 6..=6);
    let relay = Relay::start(server.local_addr().unwrap(), config)
        .await
        .unwrap();
    // DATA 10 passes; 11, 12 and a STATE are dropped; 11 is sent again
    // and passes; 13 is dropped; then the FIN.
    let sent = [
        utp(0, 10, 1),
        utp(0, 11, 2),
        utp(0, 12, 3),
        utp(2, 12, 4),
        utp(0, 11, 5),
        utp(0, 13, 6),
        utp(1, 14, 7),
    ];
    let sent: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
    let got: Vec<u8> = through(&relay, &server, &sent, 5)
        .await
        .iter()
        .map(|d| d[d.len() - 1])
        .collect();
    // 12 and 13, never sent again, go in the order dropped before the
    // FIN; 11 does not go twice, the STATE not at all.
    assert_eq!(got, [1, 5, 3, 6, 7]);
    let st = relay.stats().to_server;
    assert_eq!((st.received, st.dropped), (7, 4));
}

#[tokio::test]
async fn a_held_datagram_goes_after_the_next_one() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = RelayConfig {
        reorder: 1.0,
        spare_first: 1,
        spare_fins: false,
        reorder_delay: Duration::from_secs(60),
        ..RelayConfig::transparent()
    };
    let relay = Relay::start(server.local_addr().unwrap(), config)
        .await
        .unwrap();
    // "1" is spared; "2" is held until "3" (itself held) releases it.
    let sent: [&[u8]; 3] = [b"1", b"2", b"3"];
    let got = through(&relay, &server, &sent, 2).await;
    assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec()]);
    assert_eq!(relay.stats().to_server.reordered, 2);
}
