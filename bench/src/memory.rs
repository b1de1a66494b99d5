//! A reference for the `-100` rows: what this machine's memory charges for
//! copies that go to 100 interleaved places of one payload buffer rather
//! than one running place, with no transport at all.
//!
//! The `-100` stacks split the payload into 100 slices, one per
//! connection. Each side then copies each connection's run of packets
//! (16 full packets, about 22 KiB, a turn of the sending endpoint) out of
//! or into its own slice: 100 streams of addresses through the payload
//! at once where one connection has one. On the machine of this crate's
//! figures plain `copy_from_slice` into 100 interleaved places moved
//! about 0.8× what it moved into one (a C `memcpy` loop measured the
//! same), and 100 TCP connections move about 0.8× one as well.

use std::hint::black_box;
use std::time::Instant;

use crate::stacks::CONNECTIONS;

/// Bytes of a run: 16 packets of 1,382 payload bytes.
const RUN: usize = 16 * 1382;

/// GB/s (10^9 bytes a second) of copying a hot `RUN`-byte source into
/// `dest`, split into `streams` equal slices visited round robin, a run
/// at a time.
fn copy_rate(dest: &mut [u8], source: &[u8], streams: usize) -> f64 {
    let slice = dest.len() / streams;
    let mut at = vec![0usize; streams];
    let start = Instant::now();
    let mut copied = 0usize;
    let mut progress = true;
    while progress {
        progress = false;
        for (i, pos) in at.iter_mut().enumerate() {
            let n = RUN.min(slice - *pos);
            if n == 0 {
                continue;
            }
            let from = i * slice + *pos;
            if let (Some(d), Some(s)) = (dest.get_mut(from..from + n), source.get(..n)) {
                d.copy_from_slice(s);
            }
            *pos += n;
            copied += n;
            progress = true;
        }
        black_box(&mut *dest);
    }
    copied as f64 / start.elapsed().as_secs_f64().max(1e-9) / 1e9
}

/// One line for the report: the copy rate into one place and into
/// [`CONNECTIONS`] interleaved places of a `bytes`-byte buffer (written
/// first, so that its pages are mapped), best of three each.
pub(crate) fn reference(bytes: usize) -> String {
    let mut dest = vec![0xA5u8; bytes.max(CONNECTIONS * RUN)];
    let source = vec![0x5Au8; RUN];
    let best = |dest: &mut Vec<u8>, streams| {
        (0..3)
            .map(|_| copy_rate(dest, &source, streams))
            .fold(0.0, f64::max)
    };
    let one = best(&mut dest, 1);
    let many = best(&mut dest, CONNECTIONS);
    format!(
        "Memory reference (no transport): copying {} MiB in runs of {RUN} bytes into one place \
         {one:.1} GB/s, into {CONNECTIONS} interleaved places {many:.1} GB/s ({:.2}x); the -100 \
         rows copy their payload out of and into 100 such places",
        dest.len() >> 20,
        many / one.max(1e-9)
    )
}

#[cfg(test)]
mod tests {
    use super::{copy_rate, reference, RUN};

    /// Every byte of the destination is copied, into one place or many.
    #[test]
    #[allow(clippy::indexing_slicing)]
    fn every_slice_is_filled() {
        let source = vec![7u8; RUN];
        for streams in [1, 3, 100] {
            let mut dest = vec![0u8; 100 * RUN + 17];
            assert!(copy_rate(&mut dest, &source, streams) > 0.0);
            let covered = dest.len() / streams * streams;
            assert!(dest[..covered].iter().all(|&b| b == 7), "{streams}");
        }
        assert!(reference(1 << 20).starts_with("Memory reference"));
    }
}
