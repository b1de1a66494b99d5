//! Other protocols sharing the uTP socket, under async-std and smol.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use async_io::Async;
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};

use common::{localhost, resend_until, Pattern, Rt};
use utp_async_std::UtpSocket;

/// A DHT ping as a BitTorrent client sends it (bencoded; no uTP header).
const DHT_PING: &[u8] = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";

/// A foreign datagram reaches `recv_foreign` in the middle of a uTP
/// transfer to the same socket, which completes intact; `send_foreign`
/// reaches a plain UDP socket.
async fn foreign_datagrams_during_transfer(rt: Rt) {
    const LEN: usize = 4 << 20;
    const HALF: usize = LEN / 2;
    let receiver = UtpSocket::bind(localhost()).await.unwrap();
    let sender = UtpSocket::bind(localhost()).await.unwrap();
    let plain = std::net::UdpSocket::bind(localhost()).unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let addr = receiver.local_addr().unwrap();
    let data = Pattern::bytes(7, LEN);

    let (c, s) = future::zip(sender.connect(addr), receiver.accept()).await;
    let (mut c, (mut s, _)) = (c.unwrap(), s.unwrap());
    let send = {
        let data = data.clone();
        rt.spawn(async move {
            c.write_all(&data).await.unwrap();
            c.close().await.unwrap();
            c
        })
    };

    // Half the data in, the rest still on its way: the DHT speaks. The
    // transfer fills the socket's receive buffer, so the ping may be
    // dropped: like a DHT node, ask again when no answer comes.
    let mut got = vec![0u8; HALF];
    s.read_exact(&mut got).await.unwrap();
    let mut buf = [0u8; 1500];
    let plain = Async::new(plain).unwrap();
    let ((n, from), pings) = resend_until(
        "the DHT ping",
        || async {
            plain.send_to(DHT_PING, addr).await.unwrap();
        },
        async { receiver.recv_foreign(&mut buf).await.unwrap() },
    )
    .await;
    assert_eq!(&buf[..n], DHT_PING);
    assert_eq!(from, plain_addr);

    // And answers from the uTP socket (again until it arrives).
    let reply = b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
    let mut back = [0u8; 1500];
    let ((n, from), _) = resend_until(
        "the reply",
        || async {
            assert_eq!(
                receiver.send_foreign(reply, plain_addr).await.unwrap(),
                reply.len()
            );
        },
        async { plain.recv_from(&mut back).await.unwrap() },
    )
    .await;
    assert_eq!(&back[..n], reply);
    assert_eq!(from, addr);

    s.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "transfer corrupted");
    let _c = send.await;
    // Every ping that arrived was handed over as foreign, none as uTP.
    let foreign = receiver.endpoint_stats().foreign;
    assert!(
        (1..=u64::from(pings)).contains(&foreign),
        "{foreign} of {pings}"
    );
    assert!(receiver.driver_stats().datagrams_received > (LEN / 1500) as u64);
}

both_runtimes!(30 => foreign_datagrams_during_transfer);
