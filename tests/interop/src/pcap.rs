//! Writes recorded datagrams as a pcap file (Ethernet, IPv4, UDP), so that
//! Wireshark's `bt-utp` dissector can decode them: the field values of the
//! captured test vectors come from that independent decoder (see
//! `spec/vectors/README.md`).

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::relay::Datagram;

/// The pcap bytes of `datagrams`, each sent from and to the addresses
/// `address` gives for it (for example the endpoints without the relay, with
/// fixed ports so that capture scripts can name the stacks by port). IPv6
/// addresses are written as 127.0.0.1.
pub fn to_pcap(
    datagrams: &[Datagram],
    mut address: impl FnMut(&Datagram) -> (SocketAddr, SocketAddr),
) -> Vec<u8> {
    let mut out = Vec::new();
    // Global header: little-endian magic, microsecond stamps, version 2.4,
    // snaplen 65535, link type 1 (Ethernet).
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for d in datagrams {
        let (from, to) = address(d);
        let frame = frame(from, to, &d.bytes);
        let secs = u32::try_from(d.at.as_secs()).unwrap_or(u32::MAX);
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&d.at.subsec_micros().to_le_bytes());
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// Writes [`to_pcap`]'s bytes to `path`.
pub fn write_pcap(
    path: &std::path::Path,
    datagrams: &[Datagram],
    address: impl FnMut(&Datagram) -> (SocketAddr, SocketAddr),
) -> io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(&to_pcap(datagrams, address))
}

fn v4(ip: IpAddr) -> [u8; 4] {
    match ip {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => Ipv4Addr::LOCALHOST.octets(),
    }
}

fn frame(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    let ip_len = udp_len.saturating_add(20);
    let mut f = Vec::with_capacity(14 + usize::from(ip_len));
    // Ethernet: zero MACs, type IPv4.
    f.extend_from_slice(&[0; 12]);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&v4(from.ip()));
    ip[16..20].copy_from_slice(&v4(to.ip()));
    let checksum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&from.port().to_be_bytes());
    f.extend_from_slice(&to.port().to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum
    f.extend_from_slice(payload);
    f
}

fn ipv4_checksum(header: &[u8; 20]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| {
            u32::from(u16::from_be_bytes([
                w.first().copied().unwrap_or(0),
                w.get(1).copied().unwrap_or(0),
            ]))
        })
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::relay::{Direction, Fate};
    use std::time::Duration;

    #[test]
    fn one_datagram_frame_layout() {
        let d = Datagram {
            at: Duration::from_micros(1_500_000),
            client: "127.0.0.1:1000".parse().unwrap(),
            server: "127.0.0.1:2000".parse().unwrap(),
            direction: Direction::ToServer,
            bytes: vec![0x41, 0, 1, 2],
            fate: Fate::Forwarded,
        };
        let p = to_pcap(&[d], |d| d.endpoints());
        assert_eq!(&p[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        let rec = &p[24..];
        assert_eq!(&rec[..4], &1u32.to_le_bytes());
        assert_eq!(&rec[4..8], &500_000u32.to_le_bytes());
        assert_eq!(&rec[8..12], &(14u32 + 20 + 8 + 4).to_le_bytes());
        let ip = &rec[16 + 14..16 + 34];
        // A header with its checksum in place sums to 0xffff.
        let mut h = [0u8; 20];
        h.copy_from_slice(ip);
        assert_eq!(ipv4_checksum(&h), 0);
        let udp = &rec[16 + 34..];
        assert_eq!(&udp[..4], &[0x03, 0xe8, 0x07, 0xd0]);
        assert_eq!(&udp[8..], &[0x41, 0, 1, 2]);
    }
}
