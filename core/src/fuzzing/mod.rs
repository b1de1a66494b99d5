//! Checks shared by the fuzz targets (`fuzz/`) and the ordinary test suite.
//!
//! Each function here is the whole body of one cargo-fuzz target. It returns
//! an error instead of panicking, so the library stays panic-free; the fuzz
//! target turns an error into a crash, and `cargo test` replays the
//! checked-in corpus through the same function.

use core::fmt;

use crate::wire::{classify, DatagramKind, EmitError, PacketRepr, ParseError, SelectiveAck};

mod endpoint;
mod pair;

pub use endpoint::endpoint;
pub use pair::pair;

/// A violated invariant, described for the person who reads the crash.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// Body of the `wire` target: arbitrary bytes → parse → when it succeeds,
/// emit and parse again; both parses must be equal, and emitting the second
/// must give the same bytes as the first (the canonical form is a fixed
/// point). Packets that parse but are not emitted by design (a close reason
/// first, a SACK mask over 252 bytes) must fail to emit with exactly that
/// error. Also checks that [`classify`] agrees with `parse` (every packet
/// that parses is classified as uTP).
pub fn wire(data: &[u8]) -> Result<(), Violation> {
    let parsed = match PacketRepr::parse(data) {
        Ok(repr) => repr,
        Err(ParseError::TooShort | ParseError::BadVersion(_) | ParseError::UnknownType(_)) => {
            if classify(data) == DatagramKind::Utp {
                return Err(Violation(format!(
                    "classified as uTP but the header is invalid: {data:02x?}"
                )));
            }
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    if classify(data) != DatagramKind::Utp {
        return Err(Violation(format!(
            "parses but classified foreign: {data:02x?}"
        )));
    }
    // Two kinds of packet parse but are never emitted: a close reason
    // without a SACK before it, and a SACK mask of 253 to 255 bytes (legal on
    // the wire, but not a multiple of 4). Every other parsed packet must emit.
    let mut first = vec![0u8; parsed.buffer_len()];
    let len = match parsed.emit(&mut first) {
        Ok(len) => len,
        Err(EmitError::CloseReasonFirst) if parsed.selective_ack.is_none() => return Ok(()),
        Err(EmitError::SelectiveAckTooLong)
            if parsed
                .selective_ack
                .is_some_and(|s| s.mask().len() > SelectiveAck::MAX_MASK_LEN) =>
        {
            return Ok(())
        }
        Err(e) => return Err(Violation(format!("parsed {parsed:?} but emit failed: {e}"))),
    };
    if len != first.len() {
        return Err(Violation(format!(
            "emit wrote {len} bytes, buffer_len said {}",
            first.len()
        )));
    }
    let reparsed = PacketRepr::parse(&first)
        .map_err(|e| Violation(format!("emitted {first:02x?} does not parse: {e}")))?;
    if reparsed != parsed {
        return Err(Violation(format!(
            "round trip changed the packet:\n  {parsed:?}\n  {reparsed:?}"
        )));
    }
    let mut second = vec![0u8; reparsed.buffer_len()];
    match reparsed.emit(&mut second) {
        Ok(_) if second == first => Ok(()),
        Ok(_) => Err(Violation(format!(
            "canonical form is not a fixed point:\n  {first:02x?}\n  {second:02x?}"
        ))),
        Err(e) => Err(Violation(format!("re-emit failed: {e}"))),
    }
}

/// Reads fuzzer bytes as a stream of small decisions; runs dry as zeros.
pub(crate) struct Input<'a> {
    pub(crate) data: &'a [u8],
}

impl Input<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn bytes(&mut self, max: usize) -> &[u8] {
        let n = usize::from(self.u8()).min(max).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

/// Body of the `manager` target: the bytes pick a small
/// [`ManagerConfig`](crate::manager::ManagerConfig) and then a sequence of
/// calls (candidates, permanent peers, dial outcomes, inbound connections,
/// progress reports, disconnects with and without a peer code, time jumps,
/// timeouts, reports about unknown ids), run twice to check the outputs are
/// the same. After every call: no cap exceeded (dials in flight, automatic
/// outbound over the target, inbound total, per IP, per subnet, candidates,
/// permanent peers, history, output queue), no automatic dial of an address
/// within its redial window, no permanent dial within its backoff, no
/// established connection kept at or past its stall deadline and none
/// dropped before it, a reason for every disconnect, the counters equal to
/// the tables, `poll` ends.
pub fn manager(data: &[u8]) -> Result<(), Violation> {
    crate::manager::fuzz::run(data)
}
