//! [`Flow`]: one transfer to run, and [`FlowResult`]: what came of it.

use std::net::SocketAddr;
use std::time::Duration;

use utp_core::{CloseReason, ConnHandle, ConnStats, Timestamp};

use crate::stream::*;

/// One transfer in both directions between a client and a server.
#[derive(Clone, Debug)]
pub struct Flow {
    /// Client address (an endpoint in the sim).
    pub client: SocketAddr,
    /// Server address (a listening endpoint in the sim).
    pub server: SocketAddr,
    /// Client→server payload bytes (the 8-byte tag comes on top).
    pub len: u64,
    /// Server→client payload bytes (the 8-byte tag comes on top).
    pub reply_len: u64,
    /// The server writes as soon as it accepts; the client writes only
    /// once it has read the server's tag. Otherwise the client writes at
    /// once and the server once it has read the client's tag.
    pub acceptor_first: bool,
    /// Seed of the payload bytes.
    pub seed: u64,
}

impl Flow {
    /// Client→server stream bytes: the tag and `len`.
    pub fn stream_len(&self) -> u64 {
        self.len + HEADER
    }

    /// Server→client stream bytes: the tag and `reply_len`.
    pub fn reply_stream_len(&self) -> u64 {
        self.reply_len + HEADER
    }
}

/// What happened to one flow.
#[derive(Clone, Debug, Default)]
pub struct FlowResult {
    /// Client connection.
    pub client_handle: Option<ConnHandle>,
    /// Server connection, once identified.
    pub server_handle: Option<ConnHandle>,
    /// Stream bytes written by the client.
    pub written: u64,
    /// Stream bytes received by the server, all verified.
    pub received: u64,
    /// First client→server stream position whose byte differed, if any.
    pub corrupt_at: Option<u64>,
    /// The server read EOF.
    pub eof: bool,
    /// Stream bytes written by the server (counted once it is identified).
    pub reply_written: u64,
    /// Stream bytes received by the client, all verified.
    pub reply_received: u64,
    /// First server→client stream position whose byte differed (or whose
    /// tag belonged to another flow), if any.
    pub reply_corrupt_at: Option<u64>,
    /// The client read EOF.
    pub reply_eof: bool,
    /// When the client called `connect`.
    pub started_at: Option<Timestamp>,
    /// When the client connected.
    pub connected_at: Option<Timestamp>,
    /// When the server last received stream bytes.
    pub received_at: Option<Timestamp>,
    /// When the client last received stream bytes.
    pub reply_received_at: Option<Timestamp>,
    /// When the server read EOF.
    pub eof_at: Option<Timestamp>,
    /// When the client read EOF.
    pub reply_eof_at: Option<Timestamp>,
    /// How the client side ended.
    pub client_closed: Option<CloseReason>,
    /// How the server side ended.
    pub server_closed: Option<CloseReason>,
    /// When the client side ended.
    pub client_closed_at: Option<Timestamp>,
    /// When the server side ended.
    pub server_closed_at: Option<Timestamp>,
    /// The client connection's counters when it ended.
    pub client_stats: Option<ConnStats>,
    /// The server connection's counters when it ended.
    pub server_stats: Option<ConnStats>,
}

impl FlowResult {
    /// Every byte arrived intact both ways, both sides read EOF, and both
    /// sides finished cleanly.
    pub fn is_clean(&self, flow: &Flow) -> bool {
        self.client_complete(flow)
            && self.server_complete(flow)
            && self.client_closed == Some(CloseReason::Finished)
            && self.server_closed == Some(CloseReason::Finished)
    }

    /// The server read every byte of the client's stream, intact, and EOF.
    pub fn server_complete(&self, flow: &Flow) -> bool {
        self.corrupt_at.is_none() && self.received == flow.stream_len() && self.eof
    }

    /// The client read every byte of the server's stream, intact, and EOF.
    pub fn client_complete(&self, flow: &Flow) -> bool {
        self.reply_corrupt_at.is_none()
            && self.reply_received == flow.reply_stream_len()
            && self.reply_eof
    }

    /// When both sides had read EOF.
    pub fn done_at(&self) -> Option<Timestamp> {
        Some(self.eof_at?.max(self.reply_eof_at?))
    }

    /// From the client's `connect` to the later of the two sides' ends.
    pub fn duration(&self) -> Option<Duration> {
        Some(self.client_closed_at?.max(self.server_closed_at?) - self.started_at?)
    }

    /// Both sides are closed (cleanly or not). A server connection that
    /// was never matched to the flow (no tag read on either side) cannot
    /// be waited for; the endpoint-level checks in the tests cover it.
    pub fn is_over(&self) -> bool {
        self.client_closed.is_some()
            && (self.server_handle.is_none() || self.server_closed.is_some())
    }
}
