//! What the adapters' streams share beyond the driver's calls.

use std::io;
use std::task::{Context, Poll};

use utp_core::bytes::Bytes;

/// Queues all of `data` through `poll` (a stream's `poll_write_bytes`:
/// [`Driver::poll_write_bytes`](crate::Driver::poll_write_bytes) for one
/// connection), waiting while it is `Pending`. What `poll` took is gone from
/// `data`, so when the future is dropped, the rest is not sent.
pub async fn write_all_bytes(
    mut data: Bytes,
    mut poll: impl FnMut(&mut Context<'_>, &mut Bytes) -> Poll<io::Result<usize>>,
) -> io::Result<()> {
    while !data.is_empty() {
        std::future::poll_fn(|cx| poll(cx, &mut data)).await?;
    }
    Ok(())
}
