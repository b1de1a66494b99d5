//! Interoperability tests of `utp-tokio` against uTP stacks we did not write:
//! libutp (the C++ reference, through the crate `libutp-rs2`), `librqbit-utp`,
//! `utp-rs`, and libtorrent-rasterbar (Debian's `python3-libtorrent`, driven by
//! `scripts/lt_peer.py`). Not published.
//!
//! The tests are in `tests/`; this library holds what they share:
//! - [`data`]: deterministic payloads, byte-for-byte checks, throughput lines;
//! - [`relay`]: a UDP relay between client and server with seeded loss,
//!   reordering and duplication, which can record the datagrams;
//! - [`pcap`]: writes recorded datagrams as a pcap for Wireshark (the capture
//!   vectors in `spec/vectors/interop-*.toml` come from there);
//! - [`bencode`] and [`bt`]: a minimal BitTorrent peer (handshake, bitfield,
//!   requests, SHA-1 checked pieces; and a seeder) to talk to libtorrent,
//!   which speaks uTP only inside BitTorrent;
//! - [`libtorrent`]: runs the Python driver and decides whether the
//!   libtorrent tests run, skip, or fail (`UTP_REQUIRE_LIBTORRENT=1`).
//!
//! A relay with 1% loss between a UDP client and an echo server:
//!
//! ```
//! use utp_interop::relay::{Relay, RelayConfig};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
//! let relay = Relay::start(server.local_addr()?, RelayConfig::lossy(7).recording(16)).await?;
//! let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
//! client.send_to(b"ping", relay.local_addr()).await?; // spared: the first two are never dropped
//! let mut buf = [0u8; 16];
//! let (n, via) = server.recv_from(&mut buf).await?;
//! server.send_to(&buf[..n], via).await?;
//! let (n, from) = client.recv_from(&mut buf).await?;
//! assert_eq!((&buf[..n], from), (&b"ping"[..], relay.local_addr()));
//! assert_eq!(relay.records().len(), 2);
//! # Ok(())
//! # }
//! ```

pub mod bencode;
pub mod bt;
pub mod data;
pub mod libtorrent;
pub mod pcap;
pub mod relay;
