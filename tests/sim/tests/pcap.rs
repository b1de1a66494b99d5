//! Packet captures of simulated uTP transfers: the pcap stream holds every
//! delivered datagram, in order, as a valid IP/UDP packet that parses as
//! uTP, and Wireshark's bt-utp dissector (through tshark, when installed)
//! decodes the same packet types.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use utp_core::wire::{PacketRepr, PacketType};
use utp_core::{Config, Endpoint, ListenConfig, Timestamp};
use utp_scenarios::{EndpointHost, Flow, Transfers};
use utp_sim::{EventKind, Host, LinkConfig, LinkStats, Sim, TraceMode, Transmit};

/// A datagram as the receiving host got it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Delivery {
    time: Timestamp,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

type Log = Rc<RefCell<Vec<Delivery>>>;

/// A uTP endpoint that logs every datagram it is handed, in one log shared
/// by all hosts: the deliveries in the order the simulator made them.
struct Tap {
    ep: Endpoint,
    addr: SocketAddr,
    log: Log,
}

impl Host for Tap {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        self.log.borrow_mut().push(Delivery {
            time: now,
            from,
            to: self.addr,
            data: data.to_vec(),
        });
        Host::handle_datagram(&mut self.ep, now, from, data);
    }
    fn handle_timeout(&mut self, now: Timestamp) {
        Host::handle_timeout(&mut self.ep, now);
    }
    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        Host::poll_transmit(&mut self.ep, now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Timestamp> {
        Host::poll_timeout(&mut self.ep)
    }
}

impl EndpointHost for Tap {
    fn from_endpoint(_: Endpoint) -> Self {
        panic!("the test adds its hosts itself")
    }
    fn endpoint(&self) -> Option<&Endpoint> {
        Some(&self.ep)
    }
    fn endpoint_mut(&mut self) -> Option<&mut Endpoint> {
        Some(&mut self.ep)
    }
}

/// What a recorded transfer left behind.
struct Run {
    pcap: Vec<u8>,
    deliveries: Vec<Delivery>,
    /// The simulator's counters.
    network: LinkStats,
    /// `(time, from, to, len)` of the trace's deliver events.
    trace: Vec<(Timestamp, SocketAddr, SocketAddr, usize)>,
}

/// 8 KiB from `client` to `server` and 12 KiB back, the server writing
/// first, over 20 ms links with 3% loss and 2% duplication, recorded.
fn recorded_transfer(client: SocketAddr, server: SocketAddr, seed: u64) -> Run {
    let log = Log::default();
    let mut sim: Sim<Tap> = Sim::new(seed);
    sim.set_trace(TraceMode::Full);
    sim.set_default_link(LinkConfig {
        loss: 0.03,
        duplicate: 0.02,
        ..LinkConfig::with_latency(Duration::from_millis(20))
    })
    .unwrap();
    let mut listener = Endpoint::new(Config::default(), seed ^ 2);
    listener.listen(ListenConfig::default());
    for (addr, ep) in [
        (client, Endpoint::new(Config::default(), seed ^ 1)),
        (server, listener),
    ] {
        let log = Rc::clone(&log);
        sim.add_host(addr, Tap { ep, addr, log });
    }
    sim.record_pcap(Vec::<u8>::new()).unwrap();
    let flow = Flow {
        client,
        server,
        len: 8 << 10,
        reply_len: 12 << 10,
        acceptor_first: true,
        seed,
    };
    let mut t = Transfers::start(&mut sim, vec![flow], &Config::default(), &Config::default());
    let end = t.run(&mut sim, Timestamp::from_secs(60));
    assert!(end.is_ok(), "{end:?}\n{}", t.failures());
    assert!(t.all_clean(), "{}", t.failures());
    // Let the last acks land too.
    let _ = sim.run_until(sim.now() + Duration::from_secs(5), |_| false);
    let records = sim.pcap_records().unwrap();
    let pcap = sim.take_pcap::<Vec<u8>>().unwrap();
    assert_eq!(sim.pcap_records(), None);
    let network = sim.stats().network;
    assert_eq!(records, network.delivered);
    let trace = sim
        .trace()
        .filter(|e| e.kind == EventKind::Deliver)
        .map(|e| (e.time, e.from, e.to, e.len))
        .collect();
    let deliveries = log.borrow().clone();
    Run {
        pcap,
        deliveries,
        network,
        trace,
    }
}

/// The global header of every capture: magic a1b2c3d4 little-endian,
/// version 2.4, zone 0, sigfigs 0, snaplen 65535, LINKTYPE_RAW (101).
const GLOBAL_HEADER: [u8; 24] = [
    0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101, 0, 0, 0,
];

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().unwrap())
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// The Internet checksum sum of `parts` folded to 16 bits: 0xffff when the
/// checksum they contain is right.
fn ones_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for word in parts.concat().chunks(2) {
        sum += u64::from(u16::from_be_bytes([word[0], *word.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Parses one record's IP packet, checking every header field: the
/// datagram's addresses and payload.
fn parse_ip_udp(packet: &[u8]) -> (SocketAddr, SocketAddr, &[u8]) {
    let (src, dst, udp, pseudo): (IpAddr, IpAddr, &[u8], Vec<u8>) = match packet[0] >> 4 {
        4 => {
            let ip = &packet[..20];
            assert_eq!(ip[0], 0x45, "IPv4 without options");
            assert_eq!(usize::from(be16(&ip[2..])), packet.len(), "total length");
            assert_eq!(&ip[6..8], &[0, 0], "no fragment bits");
            assert_eq!((ip[8], ip[9]), (64, 17), "TTL 64, UDP");
            assert_eq!(ones_sum(&[ip]), 0xffff, "IPv4 header checksum");
            let src = Ipv4Addr::from(<[u8; 4]>::try_from(&ip[12..16]).unwrap());
            let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&ip[16..20]).unwrap());
            let udp_len = (packet.len() - 20) as u16;
            let pseudo = [&ip[12..20], &[0, 17], &udp_len.to_be_bytes()[..]].concat();
            (src.into(), dst.into(), &packet[20..], pseudo)
        }
        6 => {
            let ip = &packet[..40];
            assert_eq!(&ip[..4], &[0x60, 0, 0, 0], "version 6, no class or flow");
            assert_eq!(
                usize::from(be16(&ip[4..])),
                packet.len() - 40,
                "payload length"
            );
            assert_eq!((ip[6], ip[7]), (17, 64), "UDP, hop limit 64");
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
            let udp_len = (packet.len() - 40) as u32;
            let pseudo = [&ip[8..40], &udp_len.to_be_bytes(), &[0, 0, 0, 17][..]].concat();
            (src.into(), dst.into(), &packet[40..], pseudo)
        }
        v => panic!("IP version {v}"),
    };
    assert_eq!(usize::from(be16(&udp[4..])), udp.len(), "UDP length");
    assert_ne!(be16(&udp[6..]), 0, "a UDP checksum");
    assert_eq!(ones_sum(&[&pseudo, udp]), 0xffff, "UDP checksum");
    let from = SocketAddr::new(src, be16(&udp[0..]));
    let to = SocketAddr::new(dst, be16(&udp[2..]));
    (from, to, &udp[8..])
}

/// Checks the capture's structure against what the hosts received, and
/// returns the uTP packet type of every record.
fn check_capture(run: &Run, client: SocketAddr, server: SocketAddr) -> Vec<PacketType> {
    let pcap = &run.pcap;
    assert_eq!(pcap[..24], GLOBAL_HEADER);
    assert_eq!(run.deliveries.len() as u64, run.network.delivered);
    assert_eq!(run.trace.len() as u64, run.network.delivered);
    let mut at = 24;
    let mut types = Vec::new();
    for (i, d) in run.deliveries.iter().enumerate() {
        let rec = &pcap[at..];
        let micros = u64::from(le32(rec)) * 1_000_000 + u64::from(le32(&rec[4..]));
        let (incl, orig) = (le32(&rec[8..]) as usize, le32(&rec[12..]) as usize);
        assert_eq!(Timestamp::from_micros(micros), d.time, "record {i}: time");
        assert_eq!(incl, orig, "record {i}: cut");
        let (from, to, payload) = parse_ip_udp(&rec[16..16 + incl]);
        assert_eq!((from, to), (d.from, d.to), "record {i}: addresses");
        assert!([(client, server), (server, client)].contains(&(from, to)));
        assert_eq!(payload, d.data, "record {i}: payload");
        assert_eq!(run.trace[i], (d.time, d.from, d.to, d.data.len()));
        let repr = PacketRepr::parse(payload).unwrap();
        types.push(repr.packet_type);
        at += 16 + incl;
    }
    assert_eq!(at, pcap.len(), "no more records than deliveries");
    // The connection opens with a SYN, uTP version 1, from the client.
    let first = &run.deliveries[0];
    assert_eq!(
        (first.from, first.data[0]),
        (client, 0x41),
        "ST_SYN, version 1"
    );
    assert_eq!(types[0], PacketType::Syn);
    types
}

fn v4() -> (SocketAddr, SocketAddr) {
    (
        "192.0.2.1:6881".parse().unwrap(),
        "198.51.100.7:6882".parse().unwrap(),
    )
}

fn v6() -> (SocketAddr, SocketAddr) {
    (
        "[2001:db8::1]:6881".parse().unwrap(),
        "[2001:db8::2]:6882".parse().unwrap(),
    )
}

#[test]
fn an_ipv4_capture_holds_every_delivered_datagram_in_order() {
    let (client, server) = v4();
    let run = recorded_transfer(client, server, 1);
    let types = check_capture(&run, client, server);
    for kind in [PacketType::Data, PacketType::State, PacketType::Fin] {
        assert!(types.contains(&kind), "{kind:?} in {types:?}");
    }
    // The loss and duplication did something: datagrams were lost, and
    // one arrived twice.
    assert!(run.network.dropped.loss > 0 && run.network.duplicated > 0);
    let mut seen = std::collections::HashSet::new();
    assert!(
        run.deliveries.iter().any(|d| !seen.insert(&d.data)),
        "a duplicated datagram is recorded twice"
    );
}

#[test]
fn an_ipv6_capture_carries_ipv6_headers_with_udp_checksums() {
    let (client, server) = v6();
    let run = recorded_transfer(client, server, 2);
    check_capture(&run, client, server);
    assert!(run.pcap[24 + 16] >> 4 == 6);
}

#[test]
fn the_same_seed_records_the_same_bytes() {
    let (client, server) = v4();
    assert_eq!(
        recorded_transfer(client, server, 3).pcap,
        recorded_transfer(client, server, 3).pcap
    );
}

#[test]
fn take_pcap_hands_back_only_the_writer_it_was_given() {
    let mut sim: Sim<Endpoint> = Sim::new(1);
    assert_eq!(
        sim.take_pcap::<Vec<u8>>().unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert!(sim.stop_pcap().is_ok());
    sim.record_pcap(Vec::<u8>::new()).unwrap();
    let wrong = sim.take_pcap::<std::fs::File>().unwrap_err();
    assert_eq!(wrong.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(sim.pcap_records(), Some(0), "still recording");
    assert_eq!(sim.take_pcap::<Vec<u8>>().unwrap(), GLOBAL_HEADER);
}

/// A writer that fails after `ok` bytes.
struct Failing {
    ok: usize,
}

impl io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.ok);
        self.ok -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_write_error_ends_the_recording_but_not_the_run_and_is_reported() {
    let (a, b) = v4();
    let mut sim: Sim<Endpoint> = Sim::new(1);
    sim.add_host(a, Endpoint::new(Config::default(), 1));
    let mut listener = Endpoint::new(Config::default(), 2);
    listener.listen(ListenConfig::default());
    sim.add_host(b, listener);
    sim.record_pcap(Failing { ok: 24 + 10 }).unwrap();
    let now = sim.now();
    sim.host_mut(a).connect(now, b).unwrap();
    sim.advance(Duration::from_secs(1)).unwrap();
    assert!(sim.stats().network.delivered >= 2, "the handshake went on");
    assert_eq!(sim.pcap_records(), Some(0));
    assert_eq!(sim.stop_pcap().unwrap_err().to_string(), "disk full");
    assert_eq!(sim.pcap_records(), None);
}

/// Set to `1` (CI does) to fail rather than skip the tshark check when
/// tshark is missing.
const REQUIRE_TSHARK: &str = "UTP_REQUIRE_TSHARK";

/// Whether tshark runs here. When it does not, the test says so on stderr,
/// or fails if [`REQUIRE_TSHARK`]`=1`.
fn have_tshark(test: &str) -> bool {
    let why = match Command::new("tshark").arg("--version").output() {
        Ok(out) if out.status.success() => return true,
        Ok(out) => format!("tshark --version failed: {}", out.status),
        Err(e) => format!("tshark: {e}"),
    };
    let missing = "tshark is needed: apt-get install -y tshark";
    assert!(
        !std::env::var(REQUIRE_TSHARK).is_ok_and(|v| v == "1"),
        "{test}: {missing} ({REQUIRE_TSHARK}=1; {why})"
    );
    eprintln!("{test}: Wireshark check skipped: {missing} (set {REQUIRE_TSHARK}=1 to make this a failure; {why})");
    false
}

/// What tshark's bt-utp dissector reads from a capture file, with the
/// client's port decoded as uTP and checksums checked: per frame, the uTP
/// type, version, connection id, seq_nr and ack_nr, then the IPv4 and UDP
/// checksum status (1 = good; the IPv4 one empty for IPv6) and the
/// malformed-packet marker (empty).
fn tshark_fields(pcap: &[u8], port: u16) -> Vec<String> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    io::Write::write_all(&mut file, pcap).unwrap();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file.path())
        .args(["-d", &format!("udp.port=={port},bt-utp")])
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ])
        .args(["-T", "fields", "-E", "separator=,"])
        .args([
            "-e",
            "bt-utp.type",
            "-e",
            "bt-utp.ver",
            "-e",
            "bt-utp.connection_id",
        ])
        .args(["-e", "bt-utp.seq_nr", "-e", "bt-utp.ack_nr"])
        .args([
            "-e",
            "ip.checksum.status",
            "-e",
            "udp.checksum.status",
            "-e",
            "_ws.malformed",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn wiresharks_bt_utp_dissector_reads_what_we_wrote() {
    if !have_tshark("wiresharks_bt_utp_dissector_reads_what_we_wrote") {
        return;
    }
    for (seed, (client, server)) in [(1, v4()), (2, v6())] {
        let run = recorded_transfer(client, server, seed);
        let ip_sum = if client.is_ipv4() { "1" } else { "" };
        let want: Vec<String> = run
            .deliveries
            .iter()
            .map(|d| {
                let p = PacketRepr::parse(&d.data).unwrap();
                format!(
                    "{},1,{},{},{},{ip_sum},1,",
                    p.packet_type as u8,
                    p.connection_id,
                    p.seq_nr.get(),
                    p.ack_nr.get()
                )
            })
            .collect();
        let got = tshark_fields(&run.pcap, client.port());
        assert_eq!(got.len(), want.len(), "{client}: frames");
        for (i, (got, want)) in got.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "{client}: frame {}", i + 1);
        }
    }
}

#[test]
fn a_recording_keeps_the_simulator_send_and_sync() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync>(_: &T) {}
    let mut sim: Sim<Endpoint> = Sim::new(1);
    sim.record_pcap(Vec::<u8>::new()).unwrap();
    send(&sim);
    let mut sim: Sim<Box<dyn Host + Send + Sync>> = Sim::new(1);
    sim.record_pcap(Vec::<u8>::new()).unwrap();
    send_sync(&sim);
}
