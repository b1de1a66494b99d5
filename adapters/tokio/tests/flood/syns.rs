//! The flood side of `flood.rs`: sockets on many loopback addresses that
//! send valid SYNs at the listeners and read what comes back.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::{FLOOD_MAX, FLOOD_PACE, FLOOD_SYNS, MIN_SOURCES, SOURCES, SYN_LEN};

/// Per flood source: SYNs sent, replies read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SourceCount {
    pub(crate) syns: u64,
    pub(crate) replies: u64,
    pub(crate) reply_bytes: u64,
}

/// What the flood did and got.
pub(crate) struct FloodResult {
    pub(crate) syns: u64,
    /// SYNs sent to each target (sink, source).
    pub(crate) per_target: Vec<u64>,
    pub(crate) elapsed: Duration,
    pub(crate) replies: u64,
    pub(crate) reply_bytes: u64,
    pub(crate) largest: usize,
    /// Replies by packet type (DATA, FIN, STATE, RESET, SYN, other).
    pub(crate) kinds: [u64; 6],
    pub(crate) per_source: Vec<SourceCount>,
}

/// Received by one flood socket.
#[derive(Default)]
pub(crate) struct Received {
    pub(crate) replies: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) largest: AtomicU64,
    pub(crate) kinds: [AtomicU64; 6],
}

pub(crate) struct Flood {
    pub(crate) sender: std::thread::JoinHandle<Sent>,
    pub(crate) readers: Vec<JoinHandle<()>>,
    pub(crate) received: Vec<Arc<Received>>,
}

impl Flood {
    /// Binds the sources (127.1.x.y) and starts the sender thread and one
    /// reader task per source.
    pub(crate) fn start(targets: &[SocketAddr]) -> Flood {
        let mut socks = Vec::new();
        for k in 0..SOURCES {
            let ip = Ipv4Addr::new(127, 1, (k / 250) as u8, 1 + (k % 250) as u8);
            match StdUdpSocket::bind((ip, 0)) {
                Ok(s) => socks.push(s),
                // Out of file descriptors: flood from fewer addresses.
                Err(e) if e.raw_os_error() == Some(24) && k >= MIN_SOURCES => break,
                Err(e) => panic!("bind {ip}: {e}"),
            }
        }
        let mut readers = Vec::new();
        let mut received = Vec::new();
        let mut senders = Vec::new();
        for s in socks {
            s.set_nonblocking(true).unwrap();
            senders.push(s.try_clone().unwrap());
            let r = Arc::new(Received::default());
            received.push(r.clone());
            let sock = tokio::net::UdpSocket::from_std(s).unwrap();
            readers.push(tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                while let Ok(n) = sock.recv(&mut buf).await {
                    r.replies.fetch_add(1, Ordering::Relaxed);
                    r.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    r.largest.fetch_max(n as u64, Ordering::Relaxed);
                    let kind = usize::from(buf[0] >> 4).min(5);
                    r.kinds[kind].fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let targets = targets.to_vec();
        let sender = std::thread::spawn(move || send_syns(&senders, &targets));
        Flood {
            sender,
            readers,
            received,
        }
    }

    pub(crate) fn sources(&self) -> usize {
        self.received.len()
    }

    /// Waits until every SYN is sent (or [`FLOOD_MAX`]), lets late replies
    /// arrive, and counts.
    pub(crate) async fn stop(self) -> FloodResult {
        let sender = self.sender;
        let sent = tokio::task::spawn_blocking(move || sender.join().unwrap())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        for r in &self.readers {
            r.abort();
        }
        let mut f = FloodResult {
            syns: sent.per_source.iter().sum(),
            per_target: sent.per_target,
            elapsed: sent.elapsed,
            replies: 0,
            reply_bytes: 0,
            largest: 0,
            kinds: [0; 6],
            per_source: Vec::new(),
        };
        for (r, syns) in self.received.iter().zip(sent.per_source) {
            let c = SourceCount {
                syns,
                replies: r.replies.load(Ordering::Relaxed),
                reply_bytes: r.bytes.load(Ordering::Relaxed),
            };
            f.replies += c.replies;
            f.reply_bytes += c.reply_bytes;
            f.largest = f.largest.max(r.largest.load(Ordering::Relaxed) as usize);
            for (k, n) in f.kinds.iter_mut().zip(&r.kinds) {
                *k += n.load(Ordering::Relaxed);
            }
            f.per_source.push(c);
        }
        f
    }
}

/// The sender thread: SYNs round-robin over the sources and targets, paced
/// at [`FLOOD_SYNS`] (or `UTP_FLOOD_SYNS`) per [`FLOOD_PACE`], until all are sent or
/// [`FLOOD_MAX`].
pub(crate) fn send_syns(socks: &[StdUdpSocket], targets: &[SocketAddr]) -> Sent {
    let mut sent = vec![0u64; socks.len()];
    let mut per_target = vec![0u64; targets.len()];
    let mut total = 0u64;
    let mut rng = 0x5EED_F100_D000_0001u64;
    let start = Instant::now();
    let aim = std::env::var("UTP_FLOOD_SYNS").map_or(FLOOD_SYNS, |v| v.parse().unwrap());
    let rate = aim as f64 / FLOOD_PACE.as_secs_f64();
    while total < aim {
        let elapsed = start.elapsed();
        if elapsed > FLOOD_MAX {
            break;
        }
        let due = ((elapsed.as_secs_f64() * rate) as u64).min(aim);
        while total < due {
            let k = (total as usize) % socks.len();
            let t = (total as usize / socks.len()) % targets.len();
            let syn = syn(splitmix(&mut rng), elapsed);
            match socks[k].send_to(&syn, targets[t]) {
                Ok(_) => {
                    sent[k] += 1;
                    per_target[t] += 1;
                    total += 1;
                }
                // The socket's send buffer is full: try again next round.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("flood send: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Sent {
        per_source: sent,
        per_target,
        elapsed: start.elapsed(),
    }
}

/// What the sender thread sent.
pub(crate) struct Sent {
    pub(crate) per_source: Vec<u64>,
    pub(crate) per_target: Vec<u64>,
    pub(crate) elapsed: Duration,
}

/// A valid uTP SYN: type 4, version 1, no extensions, random connection id
/// and sequence number, a 1 MiB window.
pub(crate) fn syn(random: u64, now: Duration) -> [u8; SYN_LEN] {
    let mut p = [0u8; SYN_LEN];
    p[0] = 0x41;
    p[2..4].copy_from_slice(&(random as u16).to_be_bytes());
    p[4..8].copy_from_slice(&(now.as_micros() as u32).to_be_bytes());
    p[12..16].copy_from_slice(&(1u32 << 20).to_be_bytes());
    p[16..18].copy_from_slice(&((random >> 16) as u16).to_be_bytes());
    p
}

pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
