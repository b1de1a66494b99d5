//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

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
