//! [`Host`] for [`utp_core::Endpoint`]: a uTP endpoint on a simulated
//! socket.
//!
//! The simulator feeds the endpoint's input and drains its datagrams and
//! deadlines; events stay in the endpoint for the test to take with
//! [`Endpoint::poll_event`](utp_core::Endpoint::poll_event) through
//! [`Sim::host_mut`](crate::Sim::host_mut). Datagrams that are not uTP are
//! counted in the endpoint's stats and otherwise ignored.

use std::net::SocketAddr;

use utp_core::{Endpoint, Timestamp};

use crate::{Host, Transmit};

impl Host for Endpoint {
    fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        // `NotUtp` needs no handling here: the endpoint counts it.
        let _ = Endpoint::handle_datagram(self, now, from, data);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        Endpoint::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Timestamp, buf: &mut [u8]) -> Option<Transmit> {
        Endpoint::poll_transmit(self, now, buf).map(|t| Transmit {
            to: t.destination,
            len: t.len,
            dont_fragment: t.dont_fragment,
            source: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Timestamp> {
        Endpoint::poll_timeout(self)
    }
}
