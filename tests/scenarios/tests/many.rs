//! Many connections on one endpoint, data in both directions.

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
    // Two clients of 500 flows each, 64 KiB one way and 16 KiB the other:
    // the first writes first, the server writes first to the second.
    let clients: [SocketAddr; 2] = [
        "10.0.0.1:5000".parse().unwrap(),
        "10.0.0.3:5000".parse().unwrap(),
    ];
    let server: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let flows: Vec<Flow> = (0..1000)
        .map(|i| {
            let acceptor_first = i >= 500;
            let (len, reply_len) = if acceptor_first {
                (16 * 1024, 64 * 1024)
            } else {
                (64 * 1024, 16 * 1024)
            };
            Flow {
                client: clients[usize::from(acceptor_first)],
                server,
                len,
                reply_len,
                acceptor_first,
                seed: i,
            }
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
    for client in clients {
        assert_eq!(sim.host(client).connection_count(), 0);
    }
    println!(
        "1000 x 64 KiB: {:.2?} simulated, {:?}",
        end.unwrap() - start,
        sim.stats()
    );
}
