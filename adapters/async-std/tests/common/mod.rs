//! Shared by the integration tests: the two runtimes, a timeout guard,
//! deterministic pseudo-random data, and waits that do not count on one
//! datagram arriving (UDP may drop any, e.g. from a full receive buffer
//! on a loaded machine).

#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The runtime a scenario runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rt {
    AsyncStd,
    Smol,
}

/// A spawned task's result.
pub(crate) type Join<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Rt {
    /// Runs `scenario` to completion under this runtime, failing after
    /// `secs` seconds.
    pub(crate) fn run<F, Fut>(self, secs: u64, scenario: F)
    where
        F: FnOnce(Rt) -> Fut,
        Fut: Future<Output = ()>,
    {
        let guarded = guard(secs, scenario(self));
        match self {
            Rt::AsyncStd => async_std::task::block_on(guarded),
            Rt::Smol => smol::block_on(guarded),
        }
    }

    /// Spawns `fut` on this runtime's executor.
    pub(crate) fn spawn<T: Send + 'static>(
        self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Join<T> {
        match self {
            Rt::AsyncStd => Box::pin(async_std::task::spawn(fut)),
            Rt::Smol => Box::pin(smol::spawn(fut)),
        }
    }
}

/// `fut`, or a panic after `secs` seconds.
pub(crate) async fn guard<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    future::or(fut, async {
        async_io::Timer::after(Duration::from_secs(secs)).await;
        panic!("timed out after {secs} s");
    })
    .await
}

/// Runs each named `async fn(Rt)` under both runtimes, as tests
/// `<name>::async_std` and `<name>::smol`, with a timeout of `secs`.
macro_rules! both_runtimes {
    ($secs:expr => $($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn async_std() {
                crate::common::Rt::AsyncStd.run($secs, super::$name)
            }
            #[test]
            fn smol() {
                crate::common::Rt::Smol.run($secs, super::$name)
            }
        }
    )*};
}

pub(crate) fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Deterministic pseudo-random bytes (xorshift64*), seeded.
pub(crate) struct Pattern {
    state: u64,
}

impl Pattern {
    pub(crate) fn new(seed: u64) -> Self {
        Pattern {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let word = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// `len` bytes of pattern `seed`.
    pub(crate) fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        Pattern::new(seed).fill(&mut v);
        v
    }
}

/// Writes `len` bytes of pattern `seed` in chunks of up to 64 KiB.
pub(crate) async fn write_pattern(w: &mut (impl AsyncWrite + Unpin), seed: u64, len: usize) {
    let mut pattern = Pattern::new(seed);
    let mut chunk = vec![0u8; 65_536];
    let mut left = len;
    while left > 0 {
        // Whole multiples of 8 so that the stream matches one long fill.
        let n = left.min(chunk.len());
        pattern.fill(&mut chunk[..n]);
        w.write_all(&chunk[..n]).await.unwrap();
        left -= n;
    }
}

/// Reads to the end, checking every byte against pattern `seed`; asserts
/// exactly `len` bytes came.
pub(crate) async fn read_pattern(r: &mut (impl AsyncRead + Unpin), seed: u64, len: usize) {
    let mut expected = Pattern::new(seed);
    let mut want = vec![0u8; 65_536];
    let mut buf = vec![0u8; 65_536];
    // Bytes of `want` generated and not yet compared.
    let (mut have, mut at) = (0usize, 0usize);
    let mut total = 0usize;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        let mut got = &buf[..n];
        while !got.is_empty() {
            if at == have {
                let next = (len - total).clamp(1, want.len());
                expected.fill(&mut want[..next]);
                (have, at) = (next, 0);
            }
            let m = got.len().min(have - at);
            assert!(
                got[..m] == want[at..at + m],
                "bytes differ in {total}..{}",
                total + m
            );
            (got, at, total) = (&got[m..], at + m, total + m);
            assert!(total <= len, "more than {len} bytes");
        }
    }
    assert_eq!(total, len);
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
        let wait = async {
            async_io::Timer::after(RESEND_WAIT).await;
            None
        };
        if let Some(got) = future::or(async { Some(received.as_mut().await) }, wait).await {
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
        let wait = async {
            async_io::Timer::after(RESEND_WAIT).await;
            None
        };
        match future::or(async { Some(victim.read(&mut buf).await) }, wait).await {
            Some(Err(e)) => return e.kind(),
            Some(Ok(n)) => panic!("read {n} bytes after the peer aborted"),
            None => {
                if let Err(e) = victim.write_all(b"?").await {
                    return e.kind();
                }
            }
        }
    }
    panic!("no RESET after {RESENDS} tries");
}
