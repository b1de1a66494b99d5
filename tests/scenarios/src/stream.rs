//! The byte streams flows carry: an 8-byte tag, then pseudo-random bytes
//! from (seed, offset), generated and checked in chunks without a copy.

use std::net::{IpAddr, SocketAddr};

/// Bytes of the tag that starts every stream.
pub(crate) const HEADER: u64 = 8;

/// Set in the tag of a stream the server wrote before it knew the flow.
pub(crate) const SERVER_TAG: u64 = 1 << 63;

/// What a server greets strangers with ([`Transfers::greet_strangers`]).
pub(crate) const STRANGER_BYTE: u8 = 0x55;

/// Payload bytes `8 * word ..` of a stream with `seed` (after the tag),
/// little-endian.
pub(crate) fn payload_word(seed: u64, word: u64) -> u64 {
    let mut z = seed ^ word.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Calls `each(k, byte)` for the bytes at `pos + k` of a stream tagged
/// `tag` with payload `seed`, for `k` in `0..n`, until it returns `false`.
pub(crate) fn stream_bytes(
    tag: u64,
    seed: u64,
    pos: u64,
    n: usize,
    mut each: impl FnMut(usize, u8) -> bool,
) {
    let mut word = 0;
    for k in 0..n {
        let p = pos + k as u64;
        let b = if p < HEADER {
            (tag >> (8 * (7 - p))) as u8
        } else {
            let offset = p - HEADER;
            if k == 0 || offset % 8 == 0 {
                word = payload_word(seed, offset / 8);
            }
            (word >> (8 * (offset % 8))) as u8
        };
        if !each(k, b) {
            return;
        }
    }
}

/// Fills `out` with the bytes from `pos` on of a stream tagged `tag` with
/// payload `seed`.
pub(crate) fn fill_stream(tag: u64, seed: u64, pos: u64, out: &mut [u8]) {
    let n = out.len();
    stream_bytes(tag, seed, pos, n, |k, b| {
        if let Some(slot) = out.get_mut(k) {
            *slot = b;
        }
        true
    });
}

/// The first position from `pos` on where `data` differs from the stream
/// tagged `tag` with payload `seed`.
pub(crate) fn check_stream(tag: u64, seed: u64, pos: u64, data: &[u8]) -> Option<u64> {
    let mut bad = None;
    stream_bytes(tag, seed, pos, data.len(), |k, b| {
        if data.get(k) == Some(&b) {
            return true;
        }
        bad = Some(pos + k as u64);
        false
    });
    bad
}

/// Payload seed of the server's answer to a flow with `seed`.
pub(crate) fn reply_seed(seed: u64) -> u64 {
    seed ^ 0x5851_f42d_4c95_7f2d
}

/// Payload seed of the `k`-th stream `server` wrote before knowing the flow.
pub(crate) fn first_seed(server: SocketAddr, k: u64) -> u64 {
    let ip = match server.ip() {
        IpAddr::V4(v) => u64::from(u32::from(v)),
        IpAddr::V6(v) => {
            let x = u128::from(v);
            (x as u64) ^ ((x >> 64) as u64)
        }
    };
    (ip.rotate_left(16) ^ u64::from(server.port())).wrapping_mul(0xd6e8_feb8_6659_fd93) ^ k
}
