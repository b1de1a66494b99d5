//! Helpers shared by the manager's scripted tests and property test.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use std::net::SocketAddr;
use utp_core::manager::{DialFailure, Manager, ManagerConfig, Output, PeerId};
use utp_core::{CloseReason, Timestamp};

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ms(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

pub fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

pub fn drain(m: &mut Manager) -> Vec<Output> {
    std::iter::from_fn(|| m.poll()).collect()
}

pub const FAIL: DialFailure = DialFailure::Closed(CloseReason::TimedOut(utp_core::Timer::Connect));

pub fn config(target: usize) -> ManagerConfig {
    ManagerConfig {
        target_outbound: target,
        ..ManagerConfig::default()
    }
}

/// The one dial in `out`.
pub fn one_dial(out: &[Output]) -> (PeerId, SocketAddr) {
    let dials: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Dial { id, addr } => Some((*id, *addr)),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 1, "{out:?}");
    dials[0]
}
