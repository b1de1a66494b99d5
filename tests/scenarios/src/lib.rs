//! Shared machinery for the simulated scenarios (`flow.rs`: what to run and
//! what came of it; `stream.rs`: the checked byte streams; `transfers.rs`:
//! the driver; `manager_sim/`: the connection manager among 1,000 peers;
//! `portal.rs`: content moved the Portal Network's way among node ids):
//! transfers in both
//! directions between uTP endpoints in a [`utp_sim::Sim`], verified byte for
//! byte.
//!
//! Each flow sends `len` bytes from a client endpoint to a server endpoint
//! and `reply_len` bytes back. Every stream starts with an 8-byte big-endian
//! tag, followed by pseudo-random bytes derived from (seed, offset), so a
//! wrong, missing or reordered byte is detected without keeping a copy of
//! the data. The client's tag is the flow's index, which tells the server
//! which flow a connection carries.
//!
//! Who writes first: normally the client writes at once and the server
//! answers once it has read the client's tag. With
//! [`Flow::acceptor_first`] the server writes as soon as it accepts the
//! connection, and the client writes only after it has read the server's
//! tag. Before the client has sent anything the server cannot tell flows
//! between the same two addresses apart, so it tags that stream with its own
//! count of such connections (high bit set) and seeds the payload from the
//! tag; the client checks the rest of the stream against the tag it read,
//! and that no two flows read the same tag. The server takes the mode and
//! the length from the peer's address, so flows between the same two
//! addresses must agree on `acceptor_first` (and, when it is set, on
//! `reply_len`).
//!
//! Each side shuts down after its last byte and reads to EOF; both must end
//! with [`CloseReason::Finished`](utp_core::CloseReason::Finished).
//!
//! Flows may start later ([`Transfers::start_at`]); the hosts may be of a
//! test's own type ([`EndpointHost`]), e.g. endpoints beside attackers.
//! A server connection from an address that is no flow's client (a
//! spoofed SYN that `accept` handed out) is a stranger: what it sends is
//! read and discarded, and [`Transfers::greet_strangers`] has the server
//! write to it first, as an application that greets would.

use std::net::SocketAddr;

use utp_core::Endpoint;
use utp_sim::{Host, Sim};

mod flow;
pub mod manager_sim;
pub mod portal;
mod rng;
mod stream;
mod transfers;

pub use flow::{Flow, FlowResult};
pub use rng::Rng;
pub use transfers::Transfers;

/// A simulator host [`Transfers`] can drive: a uTP endpoint, or a test's
/// own host type of which some hosts are endpoints.
pub trait EndpointHost: Host + Sized {
    /// The host for a new endpoint (those [`Transfers::start`] adds).
    fn from_endpoint(endpoint: Endpoint) -> Self;
    /// The endpoint, if this host is one.
    fn endpoint(&self) -> Option<&Endpoint>;
    /// The endpoint, if this host is one.
    fn endpoint_mut(&mut self) -> Option<&mut Endpoint>;
}

impl EndpointHost for Endpoint {
    fn from_endpoint(endpoint: Endpoint) -> Self {
        endpoint
    }
    fn endpoint(&self) -> Option<&Endpoint> {
        Some(self)
    }
    fn endpoint_mut(&mut self) -> Option<&mut Endpoint> {
        Some(self)
    }
}

/// The endpoint at `addr`.
///
/// # Panics
///
/// If no host or no endpoint is there.
#[allow(clippy::panic)] // A test helper: no endpoint there is a bug in the test.
pub fn endpoint<H: EndpointHost>(sim: &mut Sim<H>, addr: SocketAddr) -> &mut Endpoint {
    match sim.host_mut(addr).endpoint_mut() {
        Some(ep) => ep,
        None => panic!("{addr} is no endpoint"),
    }
}

/// The endpoint at `addr`.
///
/// # Panics
///
/// If no host or no endpoint is there.
#[allow(clippy::panic)] // A test helper: no endpoint there is a bug in the test.
pub fn endpoint_ref<H: EndpointHost>(sim: &Sim<H>, addr: SocketAddr) -> &Endpoint {
    match sim.host(addr).endpoint() {
        Some(ep) => ep,
        None => panic!("{addr} is no endpoint"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use crate::stream::*;

    /// The byte at `pos`, one at a time: what the chunked forms must match.
    fn byte_at(tag: u64, seed: u64, pos: u64) -> u8 {
        if pos < HEADER {
            (tag >> (8 * (7 - pos))) as u8
        } else {
            (payload_word(seed, (pos - HEADER) / 8) >> (8 * ((pos - HEADER) % 8))) as u8
        }
    }

    #[test]
    fn chunks_from_any_position_match_the_stream_and_a_wrong_byte_is_found() {
        let (tag, seed) = (0x0102_0304_0506_0708, 42);
        for pos in 0..20 {
            for n in 0..40 {
                let mut chunk = vec![0; n];
                fill_stream(tag, seed, pos, &mut chunk);
                for (k, &b) in chunk.iter().enumerate() {
                    assert_eq!(b, byte_at(tag, seed, pos + k as u64), "pos {pos} k {k}");
                }
                assert_eq!(check_stream(tag, seed, pos, &chunk), None);
                for bad in [0, n / 2, n.saturating_sub(1)]
                    .into_iter()
                    .filter(|&k| k < n)
                {
                    let mut wrong = chunk.clone();
                    wrong[bad] ^= 1;
                    assert_eq!(check_stream(tag, seed, pos, &wrong), Some(pos + bad as u64));
                }
            }
        }
    }
}
