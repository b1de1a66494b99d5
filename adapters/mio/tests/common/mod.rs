//! Shared by the integration tests: a timeout guard, deterministic data,
//! and waits that do not count on one datagram arriving (UDP may drop any,
//! e.g. from a full receive buffer on a loaded machine).
#![allow(dead_code)]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How often [`resend_until`] sends, and how long it waits for an answer
/// each time.
pub(crate) const RESENDS: u32 = 20;
pub(crate) const RESEND_WAIT: Duration = Duration::from_millis(500);

/// Calls `send`, then `received` (which waits up to the time it is given
/// and returns `None` if nothing came), until `received` returns
/// something, at most [`RESENDS`] times; returns it and how many sends it
/// took.
pub(crate) fn resend_until<T>(
    what: &str,
    mut send: impl FnMut(),
    mut received: impl FnMut(Duration) -> Option<T>,
) -> (T, u32) {
    for sent in 1..=RESENDS {
        send();
        if let Some(got) = received(RESEND_WAIT) {
            return (got, sent);
        }
    }
    panic!("{what}: nothing arrived after {RESENDS} sends");
}

/// Runs `f` on a thread; fails the test if it takes longer than `secs`.
pub(crate) fn guard<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test did not finish in {secs} s"),
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), different per seed.
pub(crate) fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut gen = Gen::new(seed);
    while out.len() < len {
        out.extend_from_slice(&gen.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

pub(crate) struct Gen(u64);

impl Gen {
    pub(crate) fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
