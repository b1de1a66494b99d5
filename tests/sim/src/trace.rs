//! The event trace: a running hash of every event and, optionally, the
//! events themselves.

use core::fmt;
use std::collections::VecDeque;
use std::net::SocketAddr;

use utp_core::Timestamp;

use crate::link::DropReason;

/// Which events the simulator keeps in memory. The trace hash and the
/// statistics cover every event whatever the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceMode {
    /// Keep no events (the default).
    #[default]
    Off,
    /// Keep every event. A 100 MiB transfer makes a few hundred thousand
    /// events of 80 bytes each: fine for a test, but mind long soaks.
    Full,
    /// Keep only the last `n` events (a ring buffer).
    Last(usize),
}

/// What happened in a [`TraceEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A host emitted a datagram (`from` is the host).
    Send,
    /// The network dropped a datagram.
    Drop(DropReason),
    /// The network made an extra copy of a datagram; the copy's fate is
    /// traced as its own `Deliver` or `Drop`.
    Duplicate,
    /// A datagram was handed to the host at `to`.
    Deliver,
    /// The host's timer fired: `handle_timeout` was called. `from` and `to`
    /// are both the host's address and `len` is 0.
    Timeout,
}

impl EventKind {
    fn code(self) -> u8 {
        match self {
            EventKind::Send => 0,
            EventKind::Drop(reason) => 0x10 | reason.code(),
            EventKind::Duplicate => 1,
            EventKind::Deliver => 2,
            EventKind::Timeout => 3,
        }
    }
}

/// One event of a simulation run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceEvent {
    /// Virtual time of the event. For `Send`, `Drop` and `Duplicate`, the
    /// time the host emitted the datagram; for `Deliver`, the arrival time.
    pub time: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// The sending host (the host itself for `Timeout`).
    pub from: SocketAddr,
    /// The destination address (the host itself for `Timeout`).
    pub to: SocketAddr,
    /// UDP payload length in bytes (0 for `Timeout`).
    pub len: usize,
    /// For a datagram with a spoofed source (`from` is the address it
    /// claims), the host that really sent it; `None` otherwise.
    pub spoofed_by: Option<SocketAddr>,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            EventKind::Send => "send",
            EventKind::Drop(_) => "drop",
            EventKind::Duplicate => "duplicate",
            EventKind::Deliver => "deliver",
            EventKind::Timeout => "timeout",
        };
        write!(f, "{:?} {what}", self.time)?;
        if self.kind == EventKind::Timeout {
            return write!(f, " {}", self.from);
        }
        write!(f, " {} -> {} {}B", self.from, self.to, self.len)?;
        if let Some(sender) = self.spoofed_by {
            write!(f, " (spoofed by {sender})")?;
        }
        if let EventKind::Drop(reason) = self.kind {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

/// 64-bit FNV-1a: a fixed, portable hash, so a trace hash means the same on
/// every machine and every Rust version.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub(crate) const fn new() -> Self {
        Fnv1a(Self::OFFSET)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(Self::PRIME);
        }
        self.0 = h;
    }

    pub(crate) fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    pub(crate) fn write_addr(&mut self, addr: SocketAddr) {
        match addr {
            SocketAddr::V4(a) => {
                self.write(&[4]);
                self.write(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                self.write(&[6]);
                self.write(&a.ip().octets());
            }
        }
        self.write(&addr.port().to_be_bytes());
    }

    pub(crate) const fn finish(self) -> u64 {
        self.0
    }
}

/// The trace: hash always, events per [`TraceMode`].
pub(crate) struct Trace {
    mode: TraceMode,
    hash: Fnv1a,
    events: VecDeque<TraceEvent>,
}

impl Trace {
    pub(crate) fn new() -> Self {
        Trace {
            mode: TraceMode::Off,
            hash: Fnv1a::new(),
            events: VecDeque::new(),
        }
    }

    pub(crate) fn set_mode(&mut self, mode: TraceMode) {
        self.mode = mode;
        match mode {
            TraceMode::Off => self.events = VecDeque::new(),
            TraceMode::Full => {}
            TraceMode::Last(n) => {
                while self.events.len() > n {
                    self.events.pop_front();
                }
            }
        }
    }

    pub(crate) fn mode(&self) -> TraceMode {
        self.mode
    }

    /// Records an event. `payload`, when given, is folded into the hash too
    /// (the simulator passes it for `Send`), so runs whose datagrams differ
    /// in content but not in size still hash differently.
    pub(crate) fn record(&mut self, event: TraceEvent, payload: Option<&[u8]>) {
        let h = &mut self.hash;
        h.write_u64(event.time.as_micros());
        h.write(&[event.kind.code()]);
        h.write_addr(event.from);
        h.write_addr(event.to);
        h.write_u64(event.len as u64);
        // Only spoofed datagrams add the real sender, so runs without
        // spoofing keep the hashes they always had.
        if let Some(sender) = event.spoofed_by {
            h.write(&[0xff]);
            h.write_addr(sender);
        }
        if let Some(p) = payload {
            h.write(p);
        }
        match self.mode {
            TraceMode::Off => {}
            TraceMode::Full => self.events.push_back(event),
            TraceMode::Last(0) => {}
            TraceMode::Last(n) => {
                if self.events.len() >= n {
                    self.events.pop_front();
                }
                self.events.push_back(event);
            }
        }
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash.finish()
    }

    pub(crate) fn events(&self) -> &VecDeque<TraceEvent> {
        &self.events
    }

    pub(crate) fn take(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.events).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_values() {
        // Published FNV-1a 64 test vectors.
        let mut h = Fnv1a::new();
        h.write(b"");
        assert_eq!(h.finish(), 0xcbf2_9ce4_8422_2325);
        let mut h = Fnv1a::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut h = Fnv1a::new();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn ring_buffer_keeps_the_last_events() {
        let a: SocketAddr = "1.2.3.4:5".parse().unwrap();
        let mut t = Trace::new();
        t.set_mode(TraceMode::Last(2));
        for i in 0..5 {
            t.record(
                TraceEvent {
                    time: Timestamp::from_micros(i),
                    kind: EventKind::Timeout,
                    from: a,
                    to: a,
                    len: 0,
                    spoofed_by: None,
                },
                None,
            );
        }
        let times: Vec<u64> = t.events().iter().map(|e| e.time.as_micros()).collect();
        assert_eq!(times, [3, 4]);
    }
}
