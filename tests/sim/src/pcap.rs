//! Packet captures of a simulated run, for Wireshark and tshark.
//!
//! [`PcapWriter`] writes the classic libpcap format: little-endian,
//! version 2.4, microsecond timestamps, a snapshot length of
//! [`SNAPLEN`] bytes and link type [`LINKTYPE_RAW`], so that each record
//! is a bare IP packet, IPv4 or IPv6 as its first nibble says. Each UDP
//! datagram is wrapped in an IPv4 or IPv6 header and a UDP header with
//! valid checksums.
//!
//! [`Sim::record_pcap`] has the simulator stream what it **delivers** into
//! one: a record per datagram handed to a host, stamped with the virtual
//! time it arrived, with the source the host saw (a NAT mapping, a spoofed
//! address) and the address of the host it reached (behind a NAT: the
//! private one). It is a capture at the receivers' sockets: datagrams the
//! network dropped are not in it, a duplicated datagram is in it twice, and
//! the records are in time order. See [Packet
//! captures](crate#packet-captures).

use core::any::Any;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;

use utp_core::Timestamp;

use crate::Sim;

/// The pcap link type of a bare IPv4 or IPv6 packet (`LINKTYPE_RAW`).
pub const LINKTYPE_RAW: u32 = 101;

/// The snapshot length in the file header: records are cut to this many
/// bytes (only a datagram larger than UDP allows is).
pub const SNAPLEN: u32 = 65_535;

/// The global header's magic number, written little-endian.
const MAGIC: u32 = 0xa1b2_c3d4;

const RECORD_HEADER: usize = 16;
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
/// The IP protocol number of UDP.
const UDP: u8 = 17;
const TTL: u8 = 64;

/// Writes UDP datagrams as a classic pcap stream (see the [module
/// docs](self)), one record at a time: nothing is buffered here, so wrap a
/// file in a [`BufWriter`].
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    records: u64,
    /// The IPv4 identification field: counts IPv4 records, wrapping.
    ip_id: u16,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header to `out` and returns the writer.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = [0u8; 24];
        put(&mut header, 0, &MAGIC.to_le_bytes());
        put(&mut header, 4, &2u16.to_le_bytes());
        put(&mut header, 6, &4u16.to_le_bytes());
        // thiszone and sigfigs stay 0: timestamps are UTC, exact.
        put(&mut header, 16, &SNAPLEN.to_le_bytes());
        put(&mut header, 20, &LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            records: 0,
            ip_id: 0,
        })
    }

    /// Writes one record: the UDP datagram `payload` from `from` to `to`
    /// at `time` (seconds and microseconds since the Unix epoch in the
    /// file, saturating in the year 2106).
    ///
    /// Both addresses IPv4 give an IPv4 packet (identification counting
    /// up, no fragment bits, TTL 64); otherwise an IPv6 packet (hop limit
    /// 64), an IPv4 address written as IPv4-mapped (`::ffff:a.b.c.d`).
    /// Length fields saturate at 65535 for a payload larger than one UDP
    /// datagram can carry, and such a record is cut to [`SNAPLEN`].
    pub fn write_datagram(
        &mut self,
        time: Timestamp,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        // Record header, IP header, UDP header.
        let mut head = [0u8; RECORD_HEADER + IPV6_HEADER + UDP_HEADER];
        let udp_len = UDP_HEADER + payload.len();
        let ip = RECORD_HEADER;
        let (ip_len, udp, pseudo_sum) = match (from.ip(), to.ip()) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let total = IPV4_HEADER + udp_len;
                put(&mut head, ip, &[0x45, 0]);
                put(&mut head, ip + 2, &len16(total).to_be_bytes());
                put(&mut head, ip + 4, &self.ip_id.to_be_bytes());
                put(&mut head, ip + 8, &[TTL, UDP]);
                put(&mut head, ip + 12, &src.octets());
                put(&mut head, ip + 16, &dst.octets());
                let sum = !fold(add_bytes(0, head.get(ip..ip + IPV4_HEADER).unwrap_or(&[])));
                put(&mut head, ip + 10, &sum.to_be_bytes());
                self.ip_id = self.ip_id.wrapping_add(1);
                let mut pseudo = [0u8; 12];
                put(&mut pseudo, 0, &src.octets());
                put(&mut pseudo, 4, &dst.octets());
                put(&mut pseudo, 8, &[0, UDP]);
                put(&mut pseudo, 10, &len16(udp_len).to_be_bytes());
                (total, ip + IPV4_HEADER, add_bytes(0, &pseudo))
            }
            (src, dst) => {
                let (src, dst) = (v6(src), v6(dst));
                put(&mut head, ip, &[0x60, 0, 0, 0]);
                put(&mut head, ip + 4, &len16(udp_len).to_be_bytes());
                put(&mut head, ip + 6, &[UDP, TTL]);
                put(&mut head, ip + 8, &src.octets());
                put(&mut head, ip + 24, &dst.octets());
                let mut pseudo = [0u8; 40];
                put(&mut pseudo, 0, &src.octets());
                put(&mut pseudo, 16, &dst.octets());
                put(
                    &mut pseudo,
                    32,
                    &u32::try_from(udp_len).unwrap_or(u32::MAX).to_be_bytes(),
                );
                put(&mut pseudo, 39, &[UDP]);
                (
                    IPV6_HEADER + udp_len,
                    ip + IPV6_HEADER,
                    add_bytes(0, &pseudo),
                )
            }
        };
        put(&mut head, udp, &from.port().to_be_bytes());
        put(&mut head, udp + 2, &to.port().to_be_bytes());
        put(&mut head, udp + 4, &len16(udp_len).to_be_bytes());
        let udp_header = head.get(udp..udp + UDP_HEADER).unwrap_or(&[]);
        let sum = !fold(add_bytes(add_bytes(pseudo_sum, udp_header), payload));
        // 0 means "no checksum" (IPv4) or is invalid (IPv6): send its
        // ones'-complement twin.
        let sum = if sum == 0 { 0xffff } else { sum };
        put(&mut head, udp + 6, &sum.to_be_bytes());

        let micros = time.as_micros();
        let secs = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
        let orig = u32::try_from(ip_len).unwrap_or(u32::MAX);
        let incl = orig.min(SNAPLEN);
        put(&mut head, 0, &secs.to_le_bytes());
        put(&mut head, 4, &((micros % 1_000_000) as u32).to_le_bytes());
        put(&mut head, 8, &incl.to_le_bytes());
        put(&mut head, 12, &orig.to_le_bytes());

        let headers = udp + UDP_HEADER;
        let room = (incl as usize).saturating_sub(headers - RECORD_HEADER);
        self.out.write_all(head.get(..headers).unwrap_or(&head))?;
        self.out.write_all(payload.get(..room).unwrap_or(payload))?;
        self.records = self.records.saturating_add(1);
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Copies `bytes` into `buf` at `at` (the offsets here are constants that
/// fit; out of range would write nothing).
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// A length for a 16-bit field, saturating.
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Adds `bytes` as big-endian 16-bit words (the last one padded with a
/// zero byte) to the Internet checksum sum `acc` (RFC 1071). Only the last
/// slice of a checksum may have an odd length.
fn add_bytes(acc: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(2);
    let mut acc = acc;
    for w in &mut words {
        if let [hi, lo] = *w {
            acc += u64::from(u16::from_be_bytes([hi, lo]));
        }
    }
    if let [last] = *words.remainder() {
        acc += u64::from(u16::from_be_bytes([last, 0]));
    }
    acc
}

/// Folds a checksum sum into 16 bits, end-around carry.
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// A writer the simulator records into and can hand back by type.
trait Sink: Write + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<W: Write + Send + Sync + 'static> Sink for W {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The recording of a [`Sim`]: the writer and the first error it gave.
pub(crate) struct Recorder {
    pcap: PcapWriter<Box<dyn Sink>>,
    error: Option<io::Error>,
}

impl Recorder {
    /// Records one delivered datagram; after a write error, nothing more.
    pub(crate) fn record(
        &mut self,
        time: Timestamp,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) {
        if self.error.is_none() {
            if let Err(e) = self.pcap.write_datagram(time, from, to, data) {
                self.error = Some(e);
            }
        }
    }

    /// Flushes; the first error of the recording, if any.
    fn finish(&mut self) -> io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.pcap.flush(),
        }
    }
}

/// Packet captures ([`PcapWriter`]); see [Packet captures](crate#packet-captures).
impl<H> Sim<H> {
    /// Starts recording every datagram delivered from now on into `out`,
    /// as a pcap stream (the global header is written at once): what the
    /// receiving hosts saw, at the virtual time they saw it (see
    /// [`crate::pcap`]). Each record goes straight to `out`; give it a
    /// [`BufWriter`] or use [`Sim::record_pcap_file`].
    ///
    /// A recording already running is stopped first, as by
    /// [`Sim::stop_pcap`]; its error, if any, is returned and no new
    /// recording starts. A write error during the run ends the recording
    /// (the simulation goes on); [`Sim::stop_pcap`] or [`Sim::take_pcap`]
    /// report it. Without a recording, delivering costs nothing more.
    pub fn record_pcap<W: Write + Send + Sync + 'static>(&mut self, out: W) -> io::Result<()> {
        self.stop_pcap()?;
        let sink: Box<dyn Sink> = Box::new(out);
        self.pcap = Some(Recorder {
            pcap: PcapWriter::new(sink)?,
            error: None,
        });
        Ok(())
    }

    /// [`Sim::record_pcap`] into a new file at `path` (truncated if it
    /// exists), buffered. Call [`Sim::stop_pcap`] at the end to see write
    /// errors; dropping the simulator flushes the file too, silently.
    pub fn record_pcap_file(&mut self, path: impl AsRef<Path>) -> io::Result<()> {
        self.record_pcap(BufWriter::new(File::create(path)?))
    }

    /// Records written by the running recording, `None` when there is
    /// none.
    pub fn pcap_records(&self) -> Option<u64> {
        self.pcap.as_ref().map(|r| r.pcap.records())
    }

    /// Ends the recording: flushes its writer and drops it. Returns the
    /// first write error of the recording, if any; `Ok` when nothing was
    /// recording.
    pub fn stop_pcap(&mut self) -> io::Result<()> {
        match self.pcap.take() {
            Some(mut rec) => rec.finish(),
            None => Ok(()),
        }
    }

    /// Ends the recording and hands back its writer, flushed, as the `W`
    /// given to [`Sim::record_pcap`] (a `Vec<u8>` holds the whole capture).
    ///
    /// Fails with [`io::ErrorKind::NotFound`] when nothing is recording,
    /// with [`io::ErrorKind::InvalidInput`] when the writer is not a `W`
    /// (the recording then goes on), and with the first write error of
    /// the recording (which is then over).
    pub fn take_pcap<W: 'static>(&mut self) -> io::Result<W> {
        let Some(rec) = self.pcap.as_ref() else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no pcap recording is running",
            ));
        };
        // `Box<dyn Sink>` is a `Sink` too: ask the box's content.
        let out: &dyn Sink = &**rec.pcap.get_ref();
        if !out.as_any().is::<W>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the pcap recording writes to another type",
            ));
        }
        let Some(mut rec) = self.pcap.take() else {
            return Err(io::ErrorKind::NotFound.into());
        };
        rec.finish()?;
        let out: Box<dyn Sink> = rec.pcap.into_inner()?;
        match out.into_any().downcast::<W>() {
            Ok(out) => Ok(*out),
            Err(_) => Err(io::ErrorKind::InvalidInput.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// Verifies an Internet checksum over `parts`: the sum including the
    /// checksum field folds to 0xffff.
    fn sums_to_ffff(parts: &[&[u8]]) -> bool {
        fold(parts.iter().fold(0, |acc, p| add_bytes(acc, p))) == 0xffff
    }

    #[test]
    fn rfc_1071_example_sum() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add_bytes(0, &bytes)), 0xddf2);
        assert_eq!(fold(add_bytes(0, &[0xab])), 0xab00);
    }

    #[test]
    fn an_ipv4_record_has_valid_header_and_udp_checksums() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let (a, b): (SocketAddr, SocketAddr) = (
            "192.0.2.1:6881".parse().unwrap(),
            "198.51.100.7:80".parse().unwrap(),
        );
        w.write_datagram(Timestamp::from_micros(3_000_042), a, b, b"odd")
            .unwrap();
        let out = w.into_inner().unwrap();
        let rec = &out[24..];
        assert_eq!(
            &rec[..16],
            &[3, 0, 0, 0, 42, 0, 0, 0, 31, 0, 0, 0, 31, 0, 0, 0]
        );
        let ip = &rec[16..];
        assert_eq!(ip.len(), 31);
        assert!(sums_to_ffff(&[&ip[..20]]));
        let pseudo = [&ip[12..20], &[0, 17, 0, 11][..]].concat();
        assert!(sums_to_ffff(&[&pseudo, &ip[20..]]));
        assert_eq!(&ip[20..28], &[0x1a, 0xe1, 0, 80, 0, 11, ip[26], ip[27]]);
    }

    #[test]
    fn mixed_families_are_written_as_ipv6_with_a_mapped_address() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let (a, b): (SocketAddr, SocketAddr) = (
            "192.0.2.1:1".parse().unwrap(),
            "[2001:db8::2]:2".parse().unwrap(),
        );
        w.write_datagram(Timestamp::ZERO, a, b, b"hi").unwrap();
        let out = w.into_inner().unwrap();
        let ip = &out[24 + 16..];
        assert_eq!(ip.len(), 40 + 8 + 2);
        assert_eq!(ip[0] >> 4, 6);
        let mapped: Ipv6Addr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(&ip[8..24], &mapped.octets());
        let pseudo = [&ip[8..40], &[0, 0, 0, 10, 0, 0, 0, 17][..]].concat();
        assert!(sums_to_ffff(&[&pseudo, &ip[40..]]));
    }

    #[test]
    fn a_datagram_larger_than_udp_allows_saturates_and_is_cut_to_the_snaplen() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let a: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let payload = vec![7u8; 65_535];
        w.write_datagram(Timestamp::ZERO, a, a, &payload).unwrap();
        let out = w.into_inner().unwrap();
        let rec = &out[24..];
        let incl = u32::from_le_bytes(rec[8..12].try_into().unwrap());
        let orig = u32::from_le_bytes(rec[12..16].try_into().unwrap());
        assert_eq!((incl, orig), (65_535, 65_535 + 28));
        assert_eq!(rec.len(), 16 + 65_535);
        assert_eq!(&rec[16 + 2..16 + 4], &[0xff, 0xff]);
        assert_eq!(&rec[16 + 24..16 + 26], &[0xff, 0xff]);
    }
}
