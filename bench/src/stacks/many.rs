//! A payload split over [`CONNECTIONS`] streams of one socket pair (or
//! TCP connections), for every stack that runs that way: each stream first
//! carries its slice's index (4 bytes, big-endian), so the order of accepts
//! does not matter, then its slice.

use std::cell::RefCell;
use std::future::Future;

use bytes::Bytes;
use futures_util::future::try_join_all;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::Res;

/// Streams of the `-100` stacks.
pub(crate) const CONNECTIONS: usize = 100;

/// The length of each of the [`CONNECTIONS`] slices of a `total`-byte
/// payload: contiguous, the last shorter (for a payload so small that
/// fewer slices of this length cover it, the trailing ones are empty).
fn slice_len(total: usize) -> usize {
    total.div_ceil(CONNECTIONS).max(1)
}

/// The [`CONNECTIONS`] slices of `payload`, with their indices.
pub(crate) fn slices(payload: &Bytes) -> impl Iterator<Item = (u32, Bytes)> {
    let n = slice_len(payload.len());
    let mut parts: Vec<Bytes> = (0..payload.len())
        .step_by(n)
        .map(|at| payload.slice(at..(at + n).min(payload.len())))
        .collect();
    parts.resize(CONNECTIONS, Bytes::new());
    (0u32..).zip(parts)
}

/// Accepts [`CONNECTIONS`] streams with `accept` and reads each one's
/// slice into its place in `buf`, all at once. Returns the streams (kept
/// open until every slice is in).
pub(crate) async fn read_slices<S, A, F>(buf: &mut [u8], accept: A) -> Res<Vec<S>>
where
    S: AsyncRead + Unpin,
    A: Fn() -> F,
    F: Future<Output = Res<S>>,
{
    let n = slice_len(buf.len());
    let mut parts: Vec<Option<&mut [u8]>> = buf.chunks_mut(n).map(Some).collect();
    parts.resize_with(CONNECTIONS, || Some(&mut []));
    let parts = RefCell::new(parts);
    let (parts, accept) = (&parts, &accept);
    let one = move |_| async move {
        let mut s = accept().await?;
        let mut index = [0u8; 4];
        s.read_exact(&mut index).await?;
        let i = usize::try_from(u32::from_be_bytes(index))?;
        let part = parts
            .borrow_mut()
            .get_mut(i)
            .and_then(Option::take)
            .ok_or(format!("slice index {i} out of range or repeated"))?;
        s.read_exact(part).await?;
        Res::Ok(s)
    };
    try_join_all((0..CONNECTIONS).map(one)).await
}
