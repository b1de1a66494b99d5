//! Test payloads: deterministic pseudo-random bytes, comparison that names the
//! first differing offset, and the throughput line every transfer prints.

use std::time::Duration;

/// `len` pseudo-random bytes from `seed` (xorshift64*): incompressible, and
/// any offset or seed mix-up changes the bytes, so a byte-for-byte comparison
/// catches reordering, duplication and loss.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    if state == 0 {
        state = 1;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Where `got` first differs from `want` (a length difference counts at the
/// shorter length), or `None` when they are equal.
pub fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    if got == want {
        return None;
    }
    Some(
        got.iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| got.len().min(want.len())),
    )
}

/// Checks `got` against `want` byte for byte; the error says where they part.
pub fn verify(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    match first_difference(got, want) {
        None => Ok(()),
        Some(at) => Err(format!(
            "{what}: received {} bytes, expected {}; first difference at offset {at}",
            got.len(),
            want.len()
        )),
    }
}

/// Megabytes (10^6 bytes) per second.
pub fn mb_per_s(bytes: usize, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64().max(1e-9);
    bytes as f64 / secs / 1e6
}

/// Prints (to stderr) one machine-readable throughput line:
/// `interop-throughput peer=<peer> path=<path> bytes=<n> secs=<s> MB/s=<r>`.
/// `path` names who sends to whom, for example `ours->libutp`.
pub fn report_throughput(peer: &str, path: &str, bytes: usize, elapsed: Duration) {
    eprintln!(
        "interop-throughput peer={peer} path={path} bytes={bytes} secs={:.3} MB/s={:.1}",
        elapsed.as_secs_f64(),
        mb_per_s(bytes, elapsed)
    );
}

/// Datagrams the kernel dropped for the IPv4 UDP socket bound to `addr`
/// because its receive buffer was full (the `drops` column of
/// `/proc/net/udp`, Linux only): tells which side of a slow transfer lost
/// packets before the stack saw them.
pub fn udp_drops(addr: std::net::SocketAddr) -> Option<u64> {
    let std::net::SocketAddr::V4(v4) = addr else {
        return None;
    };
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&want.as_str()) {
            fields.last().and_then(|d| d.parse().ok())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn pattern_is_deterministic_and_seed_dependent() {
        assert_eq!(pattern(1000, 7), pattern(1000, 7));
        assert_ne!(pattern(1000, 7), pattern(1000, 8));
        assert_eq!(pattern(13, 7)[..], pattern(1000, 7)[..13]);
        assert_eq!(pattern(0, 1), Vec::<u8>::new());
    }

    #[test]
    fn first_difference_names_the_offset() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abd", b"abc"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(udp_drops(sock.local_addr().unwrap()), Some(0));
        assert_eq!(
            verify("x", b"ab", b"abc"),
            Err("x: received 2 bytes, expected 3; first difference at offset 2".into())
        );
    }
}
