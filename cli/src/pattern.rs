//! The demo's payload: a deterministic pseudo-random byte stream that the
//! receiver regenerates to check every byte.
//!
//! Byte `i` of the stream is byte `i % 8` (little-endian) of
//! `splitmix64(SEED + i / 8)`, so any range can be produced from its
//! offset alone, whatever sizes the reads and writes come in.

/// Seeds the stream; any constant works, this one spells "utpcat!!".
const SEED: u64 = 0x7574_7063_6174_2121;

/// SplitMix64's output function: a cheap bijective mixer of good quality.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn word(index: u64) -> [u8; 8] {
    splitmix64(SEED.wrapping_add(index)).to_le_bytes()
}

/// Fills `buf` with the stream's bytes from `offset` on.
pub(crate) fn fill(offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut rest = buf;
    // An unaligned head, byte by byte.
    while pos % 8 != 0 {
        let Some((first, tail)) = rest.split_first_mut() else {
            return;
        };
        let w = word(pos / 8);
        *first = w.get((pos % 8) as usize).copied().unwrap_or(0);
        pos += 1;
        rest = tail;
    }
    let mut chunks = rest.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&word(pos / 8));
        pos += 8;
    }
    let tail = chunks.into_remainder();
    let w = word(pos / 8);
    for (b, v) in tail.iter_mut().zip(w) {
        *b = v;
    }
}

/// Checks received bytes against the stream, chunk by chunk.
#[derive(Debug)]
pub(crate) struct Verifier {
    offset: u64,
    expected: Vec<u8>,
    /// Offset of the first byte that differed.
    first_mismatch: Option<u64>,
}

impl Verifier {
    pub(crate) fn new() -> Self {
        Verifier {
            offset: 0,
            expected: Vec::new(),
            first_mismatch: None,
        }
    }

    /// Compares `data`, the bytes that follow those seen so far.
    pub(crate) fn check(&mut self, data: &[u8]) {
        if self.first_mismatch.is_none() {
            self.expected.resize(data.len(), 0);
            fill(self.offset, &mut self.expected);
            if self.expected != data {
                let at = data
                    .iter()
                    .zip(&self.expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                self.first_mismatch = Some(self.offset + at as u64);
            }
        }
        self.offset += data.len() as u64;
    }

    /// Bytes checked so far.
    pub(crate) fn len(&self) -> u64 {
        self.offset
    }

    /// Where the data first differed, if it did.
    pub(crate) fn first_mismatch(&self) -> Option<u64> {
        self.first_mismatch
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn any_split_gives_the_same_stream() {
        let mut whole = vec![0u8; 1000];
        fill(0, &mut whole);
        for split in [0usize, 1, 3, 7, 8, 9, 500, 999, 1000] {
            let mut a = vec![0u8; split];
            let mut b = vec![0u8; 1000 - split];
            fill(0, &mut a);
            fill(split as u64, &mut b);
            a.extend_from_slice(&b);
            assert_eq!(a, whole, "split at {split}");
        }
    }

    #[test]
    fn verifier_finds_the_first_changed_byte() {
        let mut data = vec![0u8; 300];
        fill(0, &mut data);
        let mut v = Verifier::new();
        v.check(&data[..100]);
        assert_eq!(v.first_mismatch(), None);
        data[150] ^= 1;
        v.check(&data[100..]);
        assert_eq!(v.first_mismatch(), Some(150));
        assert_eq!(v.len(), 300);
    }
}
