//! The send buffer: the byte stream the application wrote and the peer has
//! not acknowledged, addressed by stream offset.
//!
//! Bytes come two ways. [`write`](crate::Conn::write) copies a slice into
//! a byte ring; [`write_bytes`](crate::Conn::write_bytes) queues the
//! application's [`Bytes`] itself, so that its payload is copied once on
//! the send side, into the datagram (and again for each retransmission).
//! The stream is a queue of segments in order, each a run of the ring or
//! one `Bytes`; consecutive copied writes share one ring segment, so a
//! connection that only copies keeps a single segment. A `Bytes` shorter
//! than [`OWNED_MIN`] is copied into the ring instead: that bounds the
//! segments to about two per `OWNED_MIN` bytes of the buffer.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};

use super::{Connection, Phase};
use crate::error::Error;

/// The least a connection takes in unsent bytes (see
/// [`Connection::write_room`]).
pub(crate) const UNSENT_MIN: usize = 64 << 10;

/// The shortest [`Bytes`] queued as it is; shorter ones are copied (their
/// bookkeeping would cost more than the copy saves).
pub(crate) const OWNED_MIN: usize = 1024;

/// How many packets ahead of the one being built [`SendBuffer::copy_out`]
/// prefetches a queued [`Bytes`]: far enough for a load from memory to
/// finish while two packets are built and sent (one ahead did not always
/// suffice in `utp-bench`'s 1 GiB runs, four was too far).
const PREFETCH_AHEAD: usize = 2;

/// What the memory budget counts for each queued [`Bytes`] besides its
/// bytes: its segment.
pub(crate) const OWNED_OVERHEAD: usize = core::mem::size_of::<Segment>();
// (40 bytes on 64-bit targets, as the spec says.)
const _: () = assert!(OWNED_OVERHEAD <= 48);

#[derive(Debug)]
enum Run {
    /// `len` bytes of the ring from ring position `at` (positions count
    /// every byte ever put in the ring).
    Ring { at: u64, len: usize },
    /// The application's bytes.
    Owned(Bytes),
}

#[derive(Debug)]
struct Segment {
    /// Stream offset of the segment's first byte.
    start: u64,
    run: Run,
}

impl Segment {
    fn len(&self) -> usize {
        match &self.run {
            Run::Ring { len, .. } => *len,
            Run::Owned(b) => b.len(),
        }
    }
}

/// Bytes written by the application and not yet acknowledged, addressed by
/// their offset in the stream.
#[derive(Debug)]
pub(crate) struct SendBuffer {
    /// The bytes copied in by `write`.
    ring: VecDeque<u8>,
    /// Ring position of `ring[0]`.
    ring_base: u64,
    /// The stream from `base` to `end`, in order, without gaps.
    segments: VecDeque<Segment>,
    /// Segments holding a `Bytes`.
    owned: usize,
    /// Stream offset of the first byte buffered: everything before is
    /// acknowledged.
    base: u64,
    /// Stream offset after the last byte buffered.
    end: u64,
    /// Stream offset of the first byte never sent.
    unsent: u64,
    capacity: usize,
}

impl SendBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        SendBuffer {
            ring: VecDeque::new(),
            ring_base: 0,
            segments: VecDeque::new(),
            owned: 0,
            base: 0,
            end: 0,
            unsent: 0,
            capacity,
        }
    }

    pub(crate) fn free(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    /// Bytes buffered.
    pub(crate) fn len(&self) -> usize {
        (self.end - self.base) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.end == self.base
    }

    /// What the memory budget counts: the bytes buffered and the
    /// bookkeeping of each queued `Bytes`.
    pub(crate) fn budgeted(&self) -> usize {
        self.len() + self.owned * OWNED_OVERHEAD
    }

    /// Heap bytes held: the ring and segment queue's allocations, and the
    /// queued `Bytes` (their length: what they share with the application
    /// is not ours to count twice).
    pub(crate) fn capacity(&self) -> usize {
        let owned_bytes = self.len() - self.ring.len();
        self.ring.capacity() + self.segments.capacity() * OWNED_OVERHEAD + owned_bytes
    }

    /// Drops what is buffered (nothing more will be sent) and frees the
    /// memory.
    pub(crate) fn clear(&mut self) {
        self.ring = VecDeque::new();
        self.ring_base = 0;
        self.segments = VecDeque::new();
        self.owned = 0;
        self.base = self.end;
        self.unsent = self.end;
    }

    /// Copies as much of `bytes` as fits; returns how much.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        let Some(bytes) = bytes.get(..n) else {
            return 0;
        };
        if n == 0 {
            return 0;
        }
        let at = self.ring_base + self.ring.len() as u64;
        self.ring.extend(bytes);
        match self.segments.back_mut() {
            Some(Segment {
                run: Run::Ring { len, .. },
                ..
            }) => *len += n,
            _ => self.segments.push_back(Segment {
                start: self.end,
                run: Run::Ring { at, len: n },
            }),
        }
        self.end += n as u64;
        n
    }

    /// Queues as much of `bytes` as fits, at most `max`, taking it from the
    /// front of `bytes`; returns how much. Short ones are copied.
    pub(crate) fn write_bytes(&mut self, bytes: &mut Bytes, max: usize) -> usize {
        let n = bytes.len().min(self.free()).min(max);
        if n < OWNED_MIN {
            let n = bytes.get(..n).map_or(0, |b| self.write(b));
            bytes.advance(n);
            return n;
        }
        let run = if n == bytes.len() {
            core::mem::take(bytes)
        } else {
            bytes.split_to(n)
        };
        self.segments.push_back(Segment {
            start: self.end,
            run: Run::Owned(run),
        });
        self.owned += 1;
        self.end += n as u64;
        n
    }

    /// Bytes sent and not yet cumulatively acknowledged (SACKed and lost
    /// ones included).
    pub(crate) fn sent_unacked(&self) -> usize {
        self.unsent.min(self.end).saturating_sub(self.base) as usize
    }

    pub(crate) fn unsent_len(&self) -> usize {
        (self.end - self.unsent.min(self.end)) as usize
    }

    /// Claims up to `max` unsent bytes for a new packet: (offset, length).
    pub(crate) fn take_unsent(&mut self, max: usize) -> (u64, usize) {
        let len = self.unsent_len().min(max);
        let offset = self.unsent;
        self.unsent += len as u64;
        (offset, len)
    }

    /// Copies `out.len()` bytes starting at stream `offset` into `out`.
    /// Returns `false` (copying nothing) if they are not all buffered.
    pub(crate) fn copy_out(&self, offset: u64, out: &mut [u8]) -> bool {
        if offset < self.base || offset + out.len() as u64 > self.end {
            return false;
        }
        // The segment holding `offset`: the last one starting at or before.
        let mut index = self
            .segments
            .partition_point(|s| s.start <= offset)
            .saturating_sub(1);
        let mut offset = offset;
        let mut out = out;
        while !out.is_empty() {
            let Some(segment) = self.segments.get(index) else {
                return false;
            };
            let within = offset.saturating_sub(segment.start) as usize;
            let take = segment.len().saturating_sub(within).min(out.len());
            if take == 0 {
                return false;
            }
            let (dst, rest) = out.split_at_mut(take);
            let copied = match &segment.run {
                Run::Ring { at, .. } => {
                    let from = at.saturating_sub(self.ring_base) as usize + within;
                    // With many connections their rings outgrow the
                    // cache between a write and the send (as a queued
                    // `Bytes` is cold): the same prefetch.
                    prefetch_ring(&self.ring, from + take * PREFETCH_AHEAD, take);
                    copy_from_ring(&self.ring, from, dst)
                }
                Run::Owned(b) => match b.get(within..within + take) {
                    Some(src) => {
                        // The application's bytes may be cold (a large
                        // payload, a file's pages): start loading what
                        // the packet after the next takes while this one
                        // is built and sent.
                        let ahead = within + take * PREFETCH_AHEAD;
                        if let Some(next) = b.get(ahead..(ahead + take).min(b.len())) {
                            prefetch(next);
                        }
                        dst.copy_from_slice(src);
                        true
                    }
                    None => false,
                },
            };
            if !copied {
                return false;
            }
            out = rest;
            offset += take as u64;
            index += 1;
        }
        true
    }

    /// Drops everything before stream offset `offset` (acknowledged).
    pub(crate) fn release_to(&mut self, offset: u64) {
        let offset = offset.min(self.end);
        while self.base < offset {
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            let n = ((offset - front.start) as usize).min(front.len());
            if n == front.len() {
                if let Some(segment) = self.segments.pop_front() {
                    match segment.run {
                        Run::Ring { len, .. } => self.drain_ring(len),
                        Run::Owned(_) => self.owned -= 1,
                    }
                }
            } else {
                match &mut front.run {
                    Run::Ring { at, len } => {
                        *at += n as u64;
                        *len -= n;
                    }
                    Run::Owned(b) => b.advance(n),
                }
                front.start += n as u64;
                if matches!(front.run, Run::Ring { .. }) {
                    self.drain_ring(n);
                }
            }
            self.base += n as u64;
        }
        self.unsent = self.unsent.max(self.base);
    }

    fn drain_ring(&mut self, n: usize) {
        let n = n.min(self.ring.len());
        self.ring.drain(..n);
        self.ring_base += n as u64;
    }
}

/// [`prefetch`]es up to `len` bytes of `ring` from index `start` (what
/// of them it holds).
fn prefetch_ring(ring: &VecDeque<u8>, start: usize, len: usize) {
    let (a, b) = ring.as_slices();
    let end = start.saturating_add(len);
    if let Some(part) = a.get(start.min(a.len())..end.min(a.len())) {
        prefetch(part);
    }
    let (b_start, b_end) = (start.saturating_sub(a.len()), end.saturating_sub(a.len()));
    if let Some(part) = b.get(b_start.min(b.len())..b_end.min(b.len())) {
        prefetch(part);
    }
}

/// Copies `out.len()` bytes of `ring` from index `start` into `out`.
fn copy_from_ring(ring: &VecDeque<u8>, start: usize, out: &mut [u8]) -> bool {
    let end = start + out.len();
    if end > ring.len() {
        return false;
    }
    let (a, b) = ring.as_slices();
    let from_a = a.len().saturating_sub(start).min(out.len());
    let (dst_a, dst_b) = out.split_at_mut(from_a);
    if let Some(src) = a.get(start..start + from_a) {
        dst_a.copy_from_slice(src);
    }
    let b_start = (start + from_a).saturating_sub(a.len());
    match b.get(b_start..b_start + dst_b.len()) {
        Some(src) => dst_b.copy_from_slice(src),
        None => return false,
    }
    true
}

impl Connection {
    /// Bytes a write may take now: the send buffer's free space, and no
    /// more than brings what is not sent yet to twice the send window
    /// (the congestion window or the peer's, the smaller; at least
    /// [`UNSENT_MIN`]). What is written is then sent within a round trip
    /// or two, while it is still in the cache: a connection held back by
    /// a small window (many connections on one socket) would otherwise
    /// fill its whole buffer, and the bytes would be copied in and out of
    /// memory that all those buffers together push out of the cache (as
    /// Linux's `TCP_NOTSENT_LOWAT`). A fast connection's window is large,
    /// so its buffer bounds it as before.
    pub(crate) fn write_room(&self) -> usize {
        let window = self.cc.window().min(self.peer_window as usize);
        let unsent_cap = window.saturating_mul(2).max(UNSENT_MIN);
        self.send
            .free()
            .min(unsent_cap.saturating_sub(self.send.unsent_len()))
    }

    /// After an acknowledgement: reports [`Writable`](crate::Event::Writable)
    /// if a write was refused and now has room (acknowledged bytes left
    /// the buffer, or the window grew, or packets sent since took unsent
    /// bytes below the limit: each of those comes before an ack).
    pub(super) fn writable_again(&mut self, events: &mut super::EventSink<'_>) {
        if self.writable_wanted && self.write_room() > 0 {
            self.writable_wanted = false;
            events.push(crate::Event::Writable(events.handle));
        }
    }

    /// Why the application may not write now, if it may not.
    pub(crate) fn write_refused(&self) -> Option<Error> {
        if self.hs.superseded {
            return Some(Error::Duplicate);
        }
        if let Phase::Closed(reason) = self.phase {
            return Some(Error::Closed(reason));
        }
        self.write_closed.then_some(Error::Shutdown)
    }

    /// [`Conn::write_bytes`](crate::Conn::write_bytes).
    pub(crate) fn write_bytes(&mut self, data: &mut Bytes) -> Result<usize, Error> {
        if let Some(e) = self.write_refused() {
            return Err(e);
        }
        if data.is_empty() {
            return Ok(0);
        }
        // The endpoint's memory budget bounds it too (`memory.rs`), with
        // the segment a queued `Bytes` takes.
        let room = if data.len().min(self.write_room()) >= OWNED_MIN {
            self.budget_room.saturating_sub(OWNED_OVERHEAD)
        } else {
            self.budget_room
        };
        let room = room.min(self.write_room());
        let before = self.send.budgeted();
        let n = self.send.write_bytes(data, room);
        if n == 0 {
            self.writable_wanted = true;
            return Err(Error::WouldBlock);
        }
        let took = self.send.budgeted() - before;
        self.budget_room = self.budget_room.saturating_sub(took);
        Ok(n)
    }
}

/// Asks the CPU to start loading `bytes` into its caches (x86-64; a no-op
/// elsewhere). A hint: it reads nothing and changes no result.
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.iter().step_by(64) {
        mem_prefetch::prefetch_read_data::<u8, 3>(line);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ring's prefetch takes any range, within the ring, across its
    /// wrap or past its end, and changes nothing.
    #[test]
    fn prefetch_ring_takes_any_range() {
        let mut ring: VecDeque<u8> = VecDeque::with_capacity(8);
        ring.extend(b"abcdefgh");
        ring.drain(..5);
        ring.extend(b"ijkl");
        assert!(!ring.as_slices().1.is_empty(), "the ring wraps");
        for (start, len) in [
            (0, 7),
            (1, 3),
            (2, 4),
            (3, 100),
            (7, 1),
            (100, 5),
            (usize::MAX, 9),
        ] {
            prefetch_ring(&ring, start, len);
        }
        assert!(ring.iter().eq(b"fghijkl"));
    }

    #[test]
    fn send_buffer_wraps_and_releases() {
        let mut b = SendBuffer::new(8);
        assert_eq!(b.write(b"abcdef"), 6);
        assert_eq!(b.take_unsent(4), (0, 4));
        b.release_to(4);
        assert_eq!(b.write(b"ghijklmn"), 6);
        assert_eq!(b.free(), 0);
        let mut out = [0u8; 6];
        assert!(b.copy_out(5, &mut out));
        assert_eq!(&out, b"fghijk");
        assert!(!b.copy_out(3, &mut out), "released bytes are gone");
        assert!(!b.copy_out(8, &mut out), "beyond the buffer");
        assert_eq!(b.unsent_len(), 8);
        assert_eq!(b.take_unsent(100), (4, 8));
        assert_eq!(b.unsent_len(), 0);
        assert_eq!(b.segments.len(), 1, "copied writes share one segment");
    }

    /// A stream of copied and queued runs reads back the same from every
    /// offset, across segment boundaries, while the front is released.
    #[test]
    fn mixed_segments_copy_out_and_release() {
        let stream: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut b = SendBuffer::new(1 << 20);
        // copied 100, queued 3000, queued 2000 (two owned in a row),
        // copied 500 (a short Bytes, copied), copied 1400, queued 3000.
        let mut at = 0;
        for (len, owned) in [
            (100, false),
            (3000, true),
            (2000, true),
            (500, true),
            (1400, false),
            (3000, true),
        ] {
            let part = &stream[at..at + len];
            if owned {
                let mut bytes = Bytes::copy_from_slice(part);
                assert_eq!(b.write_bytes(&mut bytes, usize::MAX), len);
                assert!(bytes.is_empty());
            } else {
                assert_eq!(b.write(part), len);
            }
            at += len;
        }
        assert_eq!(b.len(), 10_000);
        assert_eq!(b.owned, 3);
        assert_eq!(b.segments.len(), 5, "the short Bytes joined the ring run");
        let mut released = 0;
        for step in [0usize, 50, 1000, 3100, 3101, 5100, 5700, 7000, 9999, 10_000] {
            b.release_to(step as u64);
            released = released.max(step);
            assert_eq!(b.len(), 10_000 - released);
            for (offset, len) in [(released, 1402), (released + 7, 3000), (released, 1)] {
                let offset = offset.min(10_000);
                let len = len.min(10_000 - offset);
                let mut out = vec![0u8; len];
                assert!(b.copy_out(offset as u64, &mut out), "{offset}+{len}");
                assert_eq!(out, stream[offset..offset + len]);
            }
            if released > 0 {
                assert!(!b.copy_out(released as u64 - 1, &mut [0u8; 1]));
            }
        }
        assert!(b.is_empty());
        assert_eq!((b.owned, b.segments.len(), b.ring.len()), (0, 0, 0));
    }

    #[test]
    fn a_bytes_is_split_at_the_free_space() {
        let mut b = SendBuffer::new(4096);
        assert_eq!(b.write(&[1; 1000]), 1000);
        let mut bytes = Bytes::from(vec![2u8; 5000]);
        assert_eq!(b.write_bytes(&mut bytes, usize::MAX), 3096);
        assert_eq!(bytes.len(), 1904, "the rest stays with the caller");
        assert_eq!(b.free(), 0);
        assert_eq!(b.write_bytes(&mut bytes, usize::MAX), 0);
        b.release_to(2000);
        // 2000 free, but the limit allows 1500: queued.
        assert_eq!(b.write_bytes(&mut bytes, 1500), 1500);
        // 404 left, under OWNED_MIN: copied.
        assert_eq!(b.write_bytes(&mut bytes, usize::MAX), 404);
        assert!(bytes.is_empty());
        assert_eq!(b.owned, 2);
        assert_eq!(b.budgeted(), 4000 + 2 * OWNED_OVERHEAD);
        let mut out = vec![0u8; 4000];
        assert!(b.copy_out(2000, &mut out));
        assert!(out.iter().all(|&x| x == 2));
    }
}
