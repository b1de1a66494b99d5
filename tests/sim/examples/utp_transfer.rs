//! Test your uTP application over a bad network: two `utp_core::Endpoint`s
//! in the simulator, 1 MiB over a link with 80 ms RTT, 2% loss and some
//! reordering, checked byte for byte.
//!
//! ```sh
//! cargo run -p utp-sim --example utp_transfer [SEED] [--pcap FILE]
//! ```
//!
//! With `--pcap FILE` it records every delivered datagram to `FILE`; read
//! it with `tshark -r FILE -d udp.port==6881,bt-utp` (or Wireshark's
//! *Decode As…*, UDP port 6881 as BT-uTP).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use utp_core::{Config, Endpoint, Event, ListenConfig};
use utp_sim::{LinkConfig, Sim};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut seed = 1;
    let mut pcap = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--pcap" => pcap = Some(args.next().ok_or("--pcap needs a file")?),
            other => {
                seed = other
                    .parse()
                    .map_err(|_| format!("not a seed: {other:?}"))?
            }
        }
    }
    let client: SocketAddr = "192.0.2.1:6881".parse()?;
    let server: SocketAddr = "198.51.100.7:6881".parse()?;

    let mut sim: Sim<Endpoint> = Sim::new(seed);
    sim.set_default_link(LinkConfig {
        loss: 0.02,
        reorder: 0.01,
        reorder_delay: Duration::from_millis(15),
        bandwidth: Some(50_000_000),
        queue_capacity: Some(200),
        ..LinkConfig::with_latency(Duration::from_millis(40))
    })?;
    sim.add_host(client, Endpoint::new(Config::default(), seed));
    let mut listener = Endpoint::new(Config::default(), seed + 1);
    listener.listen(ListenConfig::default());
    sim.add_host(server, listener);
    if let Some(path) = &pcap {
        sim.record_pcap_file(path)?;
    }

    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let now = sim.now();
    let conn = sim.host_mut(client).connect(now, server)?;
    let mut written = 0;
    let mut received = Vec::new();
    let mut accepted = None;
    let mut buf = vec![0u8; 65536];

    let end = sim.run_until(now + Duration::from_secs(120), |sim| {
        // The client writes while the send buffer takes it, then finishes.
        let ep = sim.host_mut(client);
        while let Some(event) = ep.poll_event() {
            if let Event::Closed(_, reason) = event {
                println!("client closed: {reason:?}");
            }
        }
        if let Some(mut c) = ep.conn(conn) {
            while written < data.len() {
                match c.write(&data[written..]) {
                    Ok(n) => written += n,
                    Err(_) => break,
                }
            }
            if written == data.len() {
                c.shutdown();
            }
        }
        // The server accepts and reads to the end.
        let ep = sim.host_mut(server);
        while ep.poll_event().is_some() {}
        if accepted.is_none() {
            accepted = ep.accept();
        }
        let Some(mut c) = accepted.and_then(|h| ep.conn(h)) else {
            return false;
        };
        loop {
            match c.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(_) => return false,
            }
        }
    })?;

    assert!(received == data, "data differs");
    let stats = sim.host_mut(client).conn(conn).map(|c| c.stats());
    println!(
        "1 MiB delivered intact in {:.2?} of simulated time",
        end.saturating_duration_since(now)
    );
    if let Some(s) = stats {
        println!(
            "client: {} packets, {} retransmits, srtt {:.1?}",
            s.packets_sent, s.retransmits, s.rtt
        );
    }
    println!(
        "link client -> server: {:?}",
        sim.link_stats(client, server)
    );
    println!(
        "trace hash {:016x} (same seed, same hash)",
        sim.trace_hash()
    );
    if let Some(path) = &pcap {
        let records = sim.pcap_records().unwrap_or(0);
        sim.stop_pcap()?;
        println!("{records} datagrams recorded to {path}");
    }
    Ok(())
}
