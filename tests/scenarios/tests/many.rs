//! Many connections on one endpoint.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use utp_core::{Config, Endpoint};
use utp_scenarios::{Flow, Transfers};
use utp_sim::{LinkConfig, Sim};

#[test]
fn thousand_concurrent_connections_each_64_kib() {
    let mut sim: Sim<Endpoint> = Sim::new(42);
    // A link with room for the initial burst of 1000 flows (4 packets
    // each): the point here is many connections, not congestion collapse.
    sim.set_default_link(LinkConfig {
        bandwidth: Some(1_000_000_000),
        queue_capacity: Some(5000),
        loss: 0.001,
        ..LinkConfig::with_latency(Duration::from_millis(10))
    })
    .unwrap();
    let client: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let flows: Vec<Flow> = (0..1000)
        .map(|i| Flow {
            client,
            server,
            len: 64 * 1024,
            seed: i,
        })
        .collect();
    let mut t = Transfers::start(&mut sim, flows, &Config::default(), &Config::default());
    let start = sim.now();
    let end = t.run(&mut sim, start + Duration::from_secs(600));
    assert!(end.is_ok(), "{end:?}\n{}", t.failures());
    assert!(t.all_clean(), "{}", t.failures());
    assert_eq!(sim.host(server).stats().accepted, 1000);
    // Everything was released once both sides closed.
    sim.advance(Duration::from_secs(10)).unwrap();
    assert_eq!(sim.host(server).connection_count(), 0);
    assert_eq!(sim.host(client).connection_count(), 0);
    println!(
        "1000 x 64 KiB: {:.2?} simulated, {:?}",
        end.unwrap() - start,
        sim.stats()
    );
}
