//! Generates uTP traffic on 127.0.0.1 for packet capture.
//! Usage: utpcap <scenario>   where scenario is one of: a b c d1 d2
//!
//! Ports:
//!  a : libutp listener 40001, libutp client 40002
//!  b : libutp listener 40011, libutp client 40012, relay client-side 40013, relay server-side 40014
//!      (client connects to 40013; relay forwards from 40014 to 40011; every 7th DATA
//!       datagram client->server is dropped by the relay)
//!  c : libutp listener 40021, raw hand-made packets from 40022 (bogus DATA), 40023 (SYN)
//!  d1: libutp listener 40031, librqbit-utp client 40032
//!  d2: librqbit-utp listener 40041, libutp client 40042

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use libutp_rs2::UtpUdpContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::{sleep, timeout};

const BIG: usize = 200 * 1024;
const BACK: usize = 4 * 1024;
const SMALL: usize = 20 * 1024;

fn addr(p: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], p))
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// libutp stream write that retries (libutp-rs2 poll_write may accept partial buffers).
async fn write_all<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, buf: &[u8]) -> anyhow::Result<()> {
    w.write_all(buf).await.context("write_all")?;
    Ok(())
}

async fn read_exact<R: tokio::io::AsyncRead + Unpin>(r: &mut R, n: usize) -> anyhow::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    r.read_exact(&mut v).await.context("read_exact")?;
    Ok(v)
}

/// libutp <-> libutp transfer. Listener on `lport`, client on `cport`, client connects to `target`.
async fn libutp_pair(lport: u16, cport: u16, target: SocketAddr, big: usize) -> anyhow::Result<()> {
    let server = UtpUdpContext::new_udp(addr(lport)).await?;
    let client = UtpUdpContext::new_udp(addr(cport)).await?;

    let srv = tokio::spawn({
        let server = server.clone();
        async move {
            let mut s = server.accept().await?;
            eprintln!("server: accepted");
            let got = read_exact(&mut s, big).await?;
            assert_eq!(got, pattern(big, 1), "server: payload mismatch");
            eprintln!("server: read {} bytes OK", got.len());
            write_all(&mut s, &pattern(BACK, 2)).await?;
            eprintln!("server: wrote {BACK} bytes back");
            // give the client time to read before closing
            sleep(Duration::from_millis(500)).await;
            drop(s);
            eprintln!("server: closed");
            anyhow::Ok(())
        }
    });

    let mut c = client.connect(target).await?;
    write_all(&mut c, &pattern(big, 1)).await?;
    eprintln!("client: wrote {big} bytes");
    let back = read_exact(&mut c, BACK).await?;
    assert_eq!(back, pattern(BACK, 2));
    eprintln!("client: read {BACK} bytes back OK");
    // wait for the server's FIN (EOF) so that both directions close
    let mut rest = Vec::new();
    let _ = timeout(Duration::from_secs(3), c.read_to_end(&mut rest)).await;
    eprintln!("client: EOF seen (extra {} bytes)", rest.len());
    drop(c);
    eprintln!("client: closed");
    timeout(Duration::from_secs(10), srv).await???;
    sleep(Duration::from_millis(1500)).await;
    Ok(())
}

/// UDP relay: client-side socket `front` (client talks to it); server-side socket `back`
/// (talks to `server`). Drops every `nth` DATA datagram from client to server.
async fn relay(front: u16, back: u16, server: SocketAddr, nth: usize) -> anyhow::Result<()> {
    let f = Arc::new(UdpSocket::bind(addr(front)).await?);
    let b = Arc::new(UdpSocket::bind(addr(back)).await?);
    let client_addr: Arc<tokio::sync::Mutex<Option<SocketAddr>>> = Default::default();
    let data_count = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    {
        let (f, b, client_addr, data_count, dropped) =
            (f.clone(), b.clone(), client_addr.clone(), data_count.clone(), dropped.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 65536];
            loop {
                let (n, from) = f.recv_from(&mut buf).await.unwrap();
                *client_addr.lock().await = Some(from);
                let ty = buf[0] >> 4;
                if ty == 0 {
                    let k = data_count.fetch_add(1, Ordering::SeqCst) + 1;
                    if k % nth == 0 {
                        dropped.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                }
                let _ = b.send_to(&buf[..n], server).await;
            }
        });
    }
    {
        let (f, b, client_addr) = (f.clone(), b.clone(), client_addr.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 65536];
            loop {
                let (n, _from) = b.recv_from(&mut buf).await.unwrap();
                if let Some(c) = *client_addr.lock().await {
                    let _ = f.send_to(&buf[..n], c).await;
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            sleep(Duration::from_millis(100)).await;
            let d = dropped.load(Ordering::SeqCst);
            if d != last {
                last = d;
                eprintln!("relay: dropped {d} DATA datagrams so far (of {})", data_count.load(Ordering::SeqCst));
            }
        }
    });
    Ok(())
}

fn hdr(ty: u8, ext: u8, conn_id: u16, ts: u32, ts_diff: u32, wnd: u32, seq: u16, ack: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    v.push((ty << 4) | 1);
    v.push(ext);
    v.extend_from_slice(&conn_id.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ts_diff.to_be_bytes());
    v.extend_from_slice(&wnd.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ack.to_be_bytes());
    v
}

async fn scenario_c() -> anyhow::Result<()> {
    let _server = UtpUdpContext::new_udp(addr(40021)).await?;
    // accept loop so that the SYN-created connection is taken
    let srv = _server.clone();
    tokio::spawn(async move {
        while let Ok(s) = srv.accept().await {
            eprintln!("c: server accepted a connection (from hand-made SYN)");
            // keep it alive a bit
            tokio::spawn(async move {
                sleep(Duration::from_secs(3)).await;
                drop(s);
            });
        }
    });
    sleep(Duration::from_millis(200)).await;

    // 1. bogus DATA with unknown connection id
    let raw = UdpSocket::bind(addr(40022)).await?;
    let mut pkt = hdr(0, 0, 0xBEEF, 0x0102_0304, 0, 0x0010_0000, 0x1234, 0x5678);
    pkt.extend_from_slice(b"bogus-payload");
    raw.send_to(&pkt, addr(40021)).await?;
    let mut buf = [0u8; 2048];
    match timeout(Duration::from_secs(2), raw.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => eprintln!("c: reply to bogus DATA: {:02x?}", &buf[..n]),
        _ => eprintln!("c: no reply to bogus DATA"),
    }

    // 2. hand-made SYN (type 4), connection id 0x4242, seq 1, ack 0
    let raw2 = UdpSocket::bind(addr(40023)).await?;
    let syn = hdr(4, 0, 0x4242, 0x1111_2222, 0, 0x0010_0000, 0x0001, 0x0000);
    raw2.send_to(&syn, addr(40021)).await?;
    for _ in 0..3 {
        match timeout(Duration::from_secs(2), raw2.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => eprintln!("c: reply to SYN: {:02x?}", &buf[..n]),
            _ => {
                eprintln!("c: no (more) reply to SYN");
                break;
            }
        }
    }
    // 3. bogus STATE and FIN with unknown connection ids (to see whether libutp resets them)
    let st = hdr(2, 0, 0xCAFE, 0x0102_0304, 0, 0x0010_0000, 0x0100, 0x0200);
    raw.send_to(&st, addr(40021)).await?;
    match timeout(Duration::from_secs(1), raw.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => eprintln!("c: reply to bogus STATE: {:02x?}", &buf[..n]),
        _ => eprintln!("c: no reply to bogus STATE"),
    }
    let fin = hdr(1, 0, 0xCAFF, 0x0102_0304, 0, 0x0010_0000, 0x0100, 0x0200);
    raw.send_to(&fin, addr(40021)).await?;
    match timeout(Duration::from_secs(1), raw.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => eprintln!("c: reply to bogus FIN: {:02x?}", &buf[..n]),
        _ => eprintln!("c: no reply to bogus FIN"),
    }
    sleep(Duration::from_millis(500)).await;
    Ok(())
}

/// librqbit client (40032) -> libutp listener (40031)
async fn scenario_d1() -> anyhow::Result<()> {
    let server = UtpUdpContext::new_udp(addr(40031)).await?;
    let client = librqbit_utp::UtpSocketUdp::new_udp(addr(40032)).await?;
    let srv = tokio::spawn({
        let server = server.clone();
        async move {
            let mut s = server.accept().await?;
            eprintln!("d1 server(libutp): accepted");
            let got = read_exact(&mut s, SMALL).await?;
            assert_eq!(got, pattern(SMALL, 1));
            write_all(&mut s, &pattern(BACK, 2)).await?;
            eprintln!("d1 server(libutp): echoed back");
            sleep(Duration::from_millis(500)).await;
            drop(s);
            anyhow::Ok(())
        }
    });
    let stream = client.connect(addr(40031)).await?;
    eprintln!("d1 client(rqbit): connected");
    let (mut r, mut w) = stream.split();
    w.write_all(&pattern(SMALL, 1)).await?;
    let back = read_exact(&mut r, BACK).await?;
    assert_eq!(back, pattern(BACK, 2));
    eprintln!("d1 client(rqbit): got reply");
    let _ = w.shutdown().await;
    let mut rest = Vec::new();
    let _ = timeout(Duration::from_secs(3), r.read_to_end(&mut rest)).await;
    eprintln!("d1 client(rqbit): EOF");
    drop(r);
    drop(w);
    timeout(Duration::from_secs(10), srv).await???;
    sleep(Duration::from_millis(1500)).await;
    Ok(())
}

/// libutp client (40042) -> librqbit listener (40041)
async fn scenario_d2() -> anyhow::Result<()> {
    let server = librqbit_utp::UtpSocketUdp::new_udp(addr(40041)).await?;
    let client = UtpUdpContext::new_udp(addr(40042)).await?;
    let srv = tokio::spawn({
        let server = server.clone();
        async move {
            let s = server.accept().await?;
            eprintln!("d2 server(rqbit): accepted");
            let (mut r, mut w) = s.split();
            let got = read_exact(&mut r, SMALL).await?;
            assert_eq!(got, pattern(SMALL, 1));
            w.write_all(&pattern(BACK, 2)).await?;
            eprintln!("d2 server(rqbit): echoed back");
            sleep(Duration::from_millis(500)).await;
            let _ = w.shutdown().await;
            let mut rest = Vec::new();
            let _ = timeout(Duration::from_secs(3), r.read_to_end(&mut rest)).await;
            eprintln!("d2 server(rqbit): EOF");
            anyhow::Ok(())
        }
    });
    let mut c = client.connect(addr(40041)).await?;
    write_all(&mut c, &pattern(SMALL, 1)).await?;
    let back = read_exact(&mut c, BACK).await?;
    assert_eq!(back, pattern(BACK, 2));
    eprintln!("d2 client(libutp): got reply");
    let mut rest = Vec::new();
    let _ = timeout(Duration::from_secs(3), c.read_to_end(&mut rest)).await;
    eprintln!("d2 client(libutp): EOF");
    drop(c);
    timeout(Duration::from_secs(10), srv).await???;
    sleep(Duration::from_millis(1500)).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sc = std::env::args().nth(1).unwrap_or_default();
    let r = match sc.as_str() {
        "a" => timeout(Duration::from_secs(60), libutp_pair(40001, 40002, addr(40001), BIG)).await,
        "b" => {
            timeout(Duration::from_secs(60), async {
                relay(40013, 40014, addr(40011), 7).await?;
                libutp_pair(40011, 40012, addr(40013), BIG).await
            })
            .await
        }
        "c" => timeout(Duration::from_secs(60), scenario_c()).await,
        "d1" => timeout(Duration::from_secs(60), scenario_d1()).await,
        "d2" => timeout(Duration::from_secs(60), scenario_d2()).await,
        _ => anyhow::bail!("usage: utpcap a|b|c|d1|d2"),
    };
    r.context("scenario timed out")??;
    eprintln!("scenario {sc}: done");
    Ok(())
}
