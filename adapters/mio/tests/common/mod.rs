//! Shared by the integration tests: waits that do not count on one
//! datagram arriving (UDP may drop any, e.g. from a full receive buffer on
//! a loaded machine).
#![allow(dead_code)]

use std::time::Duration;

/// How often [`resend_until`] sends, and how long it waits for an answer
/// each time.
pub(crate) const RESENDS: u32 = 20;
pub(crate) const RESEND_WAIT: Duration = Duration::from_millis(500);

/// Calls `send`, then `received` (which waits up to the time it is given
/// and returns `None` if nothing came), until `received` returns
/// something, at most [`RESENDS`] times; returns it and how many sends it
/// took.
pub(crate) fn resend_until<T>(
    what: &str,
    mut send: impl FnMut(),
    mut received: impl FnMut(Duration) -> Option<T>,
) -> (T, u32) {
    for sent in 1..=RESENDS {
        send();
        if let Some(got) = received(RESEND_WAIT) {
            return (got, sent);
        }
    }
    panic!("{what}: nothing arrived after {RESENDS} sends");
}
