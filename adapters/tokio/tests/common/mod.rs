//! Helpers shared by the integration tests: deterministic data, a
//! timeout guard, and waits that do not count on one datagram arriving
//! (UDP may drop any, e.g. from a full receive buffer on a loaded
//! machine).
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Byte `i` of the deterministic pseudo-random stream `seed`.
pub(crate) fn byte_at(seed: u64, i: u64) -> u8 {
    // splitmix64 of the 8-byte word index, one byte of it.
    let mut z = seed
        .wrapping_mul(0x2545_f491_4f6c_dd1d)
        .wrapping_add((i / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> ((i % 8) * 8)) as u8
}

/// Fills `buf` with the stream `seed` from offset `at`.
pub(crate) fn fill(seed: u64, at: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = byte_at(seed, at + k as u64);
    }
}

/// `len` bytes of the stream `seed`.
pub(crate) fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill(seed, 0, &mut v);
    v
}

/// Fails the test if `fut` takes longer than `secs` seconds.
pub(crate) async fn guard<F: Future>(secs: u64, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("test timed out")
}

/// How often [`resend_until`] sends, and how long it waits for an answer
/// each time.
pub(crate) const RESENDS: u32 = 20;
pub(crate) const RESEND_WAIT: Duration = Duration::from_millis(500);

/// Calls `send` until `received` completes, waiting [`RESEND_WAIT`]
/// after each call, at most [`RESENDS`] times; returns what `received`
/// gave and how many sends it took. `received` is polled throughout, so a
/// late datagram still counts.
pub(crate) async fn resend_until<T, S: Future<Output = ()>>(
    what: &str,
    mut send: impl FnMut() -> S,
    received: impl Future<Output = T>,
) -> (T, u32) {
    let mut received = std::pin::pin!(received);
    for sent in 1..=RESENDS {
        send().await;
        if let Ok(got) = tokio::time::timeout(RESEND_WAIT, received.as_mut()).await {
            return (got, sent);
        }
    }
    panic!("{what}: nothing arrived after {RESENDS} sends");
}

/// After the peer aborted: reads from `victim` until that fails, and
/// returns the error's kind. The peer's RESET is one datagram; if it does
/// not come within [`RESEND_WAIT`], a byte written draws another (the
/// peer's endpoint answers packets of a connection it no longer has with
/// RESET).
pub(crate) async fn read_until_reset(
    victim: &mut (impl AsyncRead + AsyncWrite + Unpin),
) -> io::ErrorKind {
    let mut buf = [0u8; 64];
    for _ in 0..RESENDS {
        match tokio::time::timeout(RESEND_WAIT, victim.read(&mut buf)).await {
            Ok(Err(e)) => return e.kind(),
            Ok(Ok(n)) => panic!("read {n} bytes after the peer aborted"),
            Err(_) => {
                if let Err(e) = victim.write_all(b"?").await {
                    return e.kind();
                }
            }
        }
    }
    panic!("no RESET after {RESENDS} tries");
}
