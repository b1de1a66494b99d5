use super::{
    CloseReason, EmitError, ExtensionKind, Packet, PacketType, ParseError, SelectiveAck,
    HEADER_LEN, VERSION,
};
use crate::seq::SeqNr;
use crate::time::{TimestampDiff, WireTimestamp};

/// The typed form of a uTP packet.
///
/// Borrowed: the SACK mask and the payload point into the datagram that was
/// parsed, or into the caller's buffers when emitting.
///
/// Encoding is canonical: extensions in the order SACK, close reason; the
/// SACK mask padded to a multiple of 4 bytes; the close reason's reserved
/// bytes zero; legacy extension 2 and unknown extensions (skipped on parse)
/// never emitted. So `parse(emit(r)) == r` for every `r` that emits, and
/// `emit(parse(d))` reproduces any datagram that was itself canonical.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PacketRepr<'a> {
    /// Packet type.
    pub packet_type: PacketType,
    /// `connection_id`.
    pub connection_id: u16,
    /// `timestamp`: the sender's clock, low 32 bits of microseconds.
    pub timestamp: WireTimestamp,
    /// `timestamp_difference`: the sender's latest one-way delay sample.
    pub timestamp_difference: TimestampDiff,
    /// `wnd_size`: free bytes in the sender's receive buffer.
    pub window_size: u32,
    /// `seq_nr`.
    pub seq_nr: SeqNr,
    /// `ack_nr`.
    pub ack_nr: SeqNr,
    /// Extension 1, if present.
    pub selective_ack: Option<SelectiveAck<'a>>,
    /// Extension 3, if present.
    pub close_reason: Option<CloseReason>,
    /// The payload (empty for most non-DATA packets).
    pub payload: &'a [u8],
}

impl<'a> PacketRepr<'a> {
    /// Decodes a datagram. Never panics; see [`ParseError`] for the ways it
    /// can fail.
    pub fn parse(datagram: &'a [u8]) -> Result<PacketRepr<'a>, ParseError> {
        Packet::new_checked(datagram).map(|packet| PacketRepr::from_packet(&packet))
    }

    /// The typed form of a checked packet.
    pub fn from_packet(packet: &Packet<&'a [u8]>) -> PacketRepr<'a> {
        let mut selective_ack = None;
        let mut close_reason = None;
        for ext in packet.extensions_in_datagram() {
            match ext.kind {
                ExtensionKind::SelectiveAck => selective_ack = SelectiveAck::new(ext.data),
                ExtensionKind::CloseReason => close_reason = CloseReason::from_body(ext.data),
                ExtensionKind::ExtensionBits | ExtensionKind::Unknown(_) => {}
            }
        }
        PacketRepr {
            packet_type: packet.packet_type(),
            connection_id: packet.connection_id(),
            timestamp: packet.timestamp(),
            timestamp_difference: packet.timestamp_difference(),
            window_size: packet.window_size(),
            seq_nr: packet.seq_nr(),
            ack_nr: packet.ack_nr(),
            selective_ack,
            close_reason,
            payload: packet.payload_in_datagram(),
        }
    }

    /// Bytes [`PacketRepr::emit`] will write.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self.selective_ack.map_or(0, |s| 2 + s.encoded_len())
            + self.close_reason.map_or(0, |_| 2 + 4)
            + self.payload.len()
    }

    /// Encodes the packet at the start of `buffer` and returns its length.
    /// Never allocates; writes nothing when it fails.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, EmitError> {
        if self.close_reason.is_some() && self.selective_ack.is_none() {
            return Err(EmitError::CloseReasonFirst);
        }
        if self
            .selective_ack
            .is_some_and(|s| s.encoded_len() > SelectiveAck::MAX_MASK_LEN)
        {
            return Err(EmitError::SelectiveAckTooLong);
        }
        let needed = self.buffer_len();
        let available = buffer.len();
        let Some(out) = buffer.get_mut(..needed) else {
            return Err(EmitError::BufferTooSmall { needed, available });
        };
        let Some((header, mut rest)) = out.split_first_chunk_mut::<HEADER_LEN>() else {
            return Err(EmitError::BufferTooSmall { needed, available });
        };

        let first_extension = match (self.selective_ack, self.close_reason) {
            (Some(_), _) => ExtensionKind::SelectiveAck.to_u8(),
            (None, Some(_)) => ExtensionKind::CloseReason.to_u8(),
            (None, None) => 0,
        };
        header[0] = ((self.packet_type as u8) << 4) | VERSION;
        header[1] = first_extension;
        header[2..4].copy_from_slice(&self.connection_id.to_be_bytes());
        header[4..8].copy_from_slice(&self.timestamp.0.to_be_bytes());
        header[8..12].copy_from_slice(&self.timestamp_difference.0.to_be_bytes());
        header[12..16].copy_from_slice(&self.window_size.to_be_bytes());
        header[16..18].copy_from_slice(&self.seq_nr.get().to_be_bytes());
        header[18..20].copy_from_slice(&self.ack_nr.get().to_be_bytes());

        if let Some(sack) = self.selective_ack {
            let next = if self.close_reason.is_some() {
                ExtensionKind::CloseReason.to_u8()
            } else {
                0
            };
            let len = sack.encoded_len();
            // encoded_len() <= MAX_MASK_LEN (252) was checked above.
            put(&mut rest, &[next, len as u8]);
            let body = take(&mut rest, len);
            // `body` is `len` bytes, at least the mask (the length check
            // above); were it shorter, the mask is cut, not a panic.
            let (mask, padding) = body.split_at_mut(sack.mask().len().min(body.len()));
            mask.copy_from_slice(sack.mask().get(..mask.len()).unwrap_or_default());
            padding.fill(0);
        }
        if let Some(CloseReason(code)) = self.close_reason {
            let [hi, lo] = code.to_be_bytes();
            put(&mut rest, &[0, 4, 0, 0, hi, lo]);
        }
        put(&mut rest, self.payload);
        Ok(needed)
    }
}

/// Splits `len` bytes off the front of `rest` (fewer if it is shorter,
/// which `emit`'s length check rules out).
fn take<'b>(rest: &mut &'b mut [u8], len: usize) -> &'b mut [u8] {
    let whole = core::mem::take(rest);
    let (head, tail) = whole.split_at_mut(len.min(whole.len()));
    *rest = tail;
    head
}

/// Copies `bytes` to the front of `rest` and advances it.
fn put(rest: &mut &mut [u8], bytes: &[u8]) {
    let head = take(rest, bytes.len());
    let n = head.len();
    head.copy_from_slice(bytes.get(..n).unwrap_or(&[]));
}
