//! The socket: IPv6, foreign datagrams, construction from std sockets.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use common::{data, fill, guard, resend_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use utp_tokio::{DriverConfig, UtpSocket};

async fn echo_once(server: UtpSocket, client: UtpSocket) {
    let addr = server.local_addr().unwrap();
    let echo = tokio::spawn(async move {
        let (mut s, _) = server.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(&got).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let sent = data(6, 100_000);
    let mut s = client.connect(addr).await.unwrap();
    s.write_all(&sent).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.unwrap();
    assert!(back == sent, "echo differs");
    echo.await.unwrap();
}

#[tokio::test]
async fn ipv6_echo() {
    guard(20, async {
        let server = match UtpSocket::bind("[::1]:0").await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipped: cannot bind [::1]: {e}");
                return;
            }
        };
        let client = UtpSocket::bind("[::1]:0").await.unwrap();
        assert!(client.local_addr().unwrap().is_ipv6());
        echo_once(server, client).await;
    })
    .await;
}

#[tokio::test]
async fn from_std_sockets() {
    guard(20, async {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = UtpSocket::from_std(a, DriverConfig::default()).unwrap();
        let b = tokio::net::UdpSocket::from_std({
            b.set_nonblocking(true).unwrap();
            b
        })
        .unwrap();
        let client = UtpSocket::from_tokio(b, DriverConfig::default()).unwrap();
        echo_once(server, client).await;
    })
    .await;
}

#[test]
fn from_std_outside_a_runtime_is_an_error() {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = UtpSocket::from_std(s, DriverConfig::default()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Other);
}

/// A DHT ping (bencoded): its first byte, `d`, is no uTP header.
const DHT_PING: &[u8] = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_datagrams_share_the_socket() {
    const LEN: u64 = 8 << 20;
    assert_eq!(
        utp_core::wire::classify(DHT_PING),
        utp_core::wire::DatagramKind::Foreign
    );
    guard(40, async {
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let dht = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dht_addr = dht.local_addr().unwrap();

        // A transfer to the server; once 1 MiB has arrived, the DHT
        // datagram is sent to the same socket.
        let (midway_tx, midway_rx) = oneshot::channel();
        let accepting = server.clone();
        let receiver = tokio::spawn(async move {
            let (mut s, _) = accepting.accept().await.unwrap();
            let mut midway = Some(midway_tx);
            let (mut buf, mut expected) = (vec![0u8; 65536], vec![0u8; 65536]);
            let mut at = 0u64;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                fill(8, at, &mut expected[..n]);
                assert!(buf[..n] == expected[..n], "bytes differ near {at}");
                at += n as u64;
                if at >= 1 << 20 {
                    if let Some(tx) = midway.take() {
                        tx.send(()).unwrap();
                    }
                }
            }
            at
        });
        let sender = tokio::spawn(async move {
            let mut s = client.connect(addr).await.unwrap();
            let mut chunk = vec![0u8; 65536];
            let mut at = 0u64;
            while at < LEN {
                fill(8, at, &mut chunk);
                s.write_all(&chunk).await.unwrap();
                at += chunk.len() as u64;
            }
            s.shutdown().await.unwrap();
            s
        });

        midway_rx.await.unwrap();
        // The transfer fills the socket's receive buffer: like a DHT node,
        // ask again when no answer comes.
        let dht = tokio::net::UdpSocket::from_std({
            dht.set_nonblocking(true).unwrap();
            dht
        })
        .unwrap();
        let mut buf = [0u8; 1500];
        let ((n, from), pings) = resend_until(
            "the DHT ping",
            || async {
                dht.send_to(DHT_PING, addr).await.unwrap();
            },
            async { server.recv_foreign(&mut buf).await.unwrap() },
        )
        .await;
        eprintln!("the DHT ping arrived after {pings} sends");
        assert_eq!(&buf[..n], DHT_PING);
        assert_eq!(from, dht_addr);

        // And the other way: our own datagram from the uTP socket (again
        // until it arrives).
        let reply = b"d1:rd2:id20:mnopqrstuvwxyz012345e1:t2:aa1:y1:re";
        let mut back = [0u8; 1500];
        let ((n, from), _) = resend_until(
            "the reply",
            || async {
                assert_eq!(
                    server.send_foreign(reply, dht_addr).await.unwrap(),
                    reply.len()
                );
            },
            async { dht.recv_from(&mut back).await.unwrap() },
        )
        .await;
        assert_eq!(&back[..n], reply);
        assert_eq!(from, addr);

        assert_eq!(receiver.await.unwrap(), LEN);
        drop(sender.await.unwrap());
        // The transfer never saw it.
        assert_eq!(server.driver_stats().foreign_dropped, 0);
    })
    .await;
}

#[tokio::test]
async fn driver_tasks_end_after_the_last_handle() {
    guard(20, async {
        let metrics = tokio::runtime::Handle::current().metrics();
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let client_addr = client.local_addr().unwrap();
        assert_eq!(metrics.num_alive_tasks(), 2);
        let mut c = client.connect(addr).await.unwrap();
        let (mut s, _) = server.accept().await.unwrap();
        c.write_all(b"last words").await.unwrap();
        drop((c, client, server));
        // The stream keeps the server's task alive.
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
        drop(s);
        // Both loops finish their FIN exchange (and the core's drain
        // period after it) and end; the sockets close.
        while metrics.num_alive_tasks() > 0 {
            tokio::task::yield_now().await;
        }
        std::net::UdpSocket::bind(addr).unwrap();
        std::net::UdpSocket::bind(client_addr).unwrap();
    })
    .await;
}
