use super::ext::Chain;
use super::{
    CloseReason, ExtensionIter, ExtensionKind, PacketType, ParseError, SelectiveAck, HEADER_LEN,
    VERSION,
};
use crate::seq::SeqNr;
use crate::time::{TimestampDiff, WireTimestamp};

/// Byte offsets of the header fields.
mod field {
    pub(super) const TYPE_VER: usize = 0;
    pub(super) const EXTENSION: usize = 1;
    pub(super) const CONNECTION_ID: usize = 2;
    pub(super) const TIMESTAMP: usize = 4;
    pub(super) const TIMESTAMP_DIFF: usize = 8;
    pub(super) const WINDOW: usize = 12;
    pub(super) const SEQ_NR: usize = 16;
    pub(super) const ACK_NR: usize = 18;
}

/// A checked view of a uTP packet in a byte buffer.
///
/// The only way to make one is [`Packet::new_checked`], which validates the
/// header and the whole extension chain. Afterwards every accessor is
/// infallible and allocation-free.
#[derive(Clone, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    payload_offset: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates `buffer` as a uTP v1 packet.
    ///
    /// Checks, in order: length, version, type, then each extension (type,
    /// length within the datagram, at most
    /// [`MAX_EXTENSIONS`](super::MAX_EXTENSIONS), a non-empty SACK mask, a
    /// 4-byte close reason, no close reason twice). Unknown extension
    /// types and the legacy type 2 are skipped. Several SACKs are accepted
    /// and the last one counts, as in libutp and librqbit-utp: path MTU
    /// probes are padded with zero-filled SACKs.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, ParseError> {
        let bytes = buffer.as_ref();
        let Some((header, after_header)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(ParseError::TooShort);
        };
        let type_ver = header[field::TYPE_VER];
        if type_ver & 0x0f != VERSION {
            return Err(ParseError::BadVersion(type_ver & 0x0f));
        }
        if PacketType::from_nibble(type_ver >> 4).is_none() {
            return Err(ParseError::UnknownType(type_ver >> 4));
        }
        let mut chain = Chain::new(header[field::EXTENSION], after_header);
        let mut close_seen = false;
        while let Some(ext) = chain.step() {
            let ext = ext?;
            if ext.kind == ExtensionKind::CloseReason {
                if close_seen {
                    return Err(ParseError::DuplicateExtension(ext.kind.to_u8()));
                }
                close_seen = true;
            }
        }
        let payload_offset = bytes.len() - chain.remainder().len();
        Ok(Packet {
            buffer,
            payload_offset,
        })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn be16(&self, at: usize) -> u16 {
        match self.buffer.as_ref().get(at..at + 2) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    fn be32(&self, at: usize) -> u32 {
        match self.buffer.as_ref().get(at..at + 4) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        // Checked in `new_checked`; the fallback is never taken.
        PacketType::from_nibble(self.byte(field::TYPE_VER) >> 4).unwrap_or(PacketType::Reset)
    }

    /// The type of the first extension (0 = none).
    pub fn first_extension(&self) -> u8 {
        self.byte(field::EXTENSION)
    }

    /// `connection_id`.
    pub fn connection_id(&self) -> u16 {
        self.be16(field::CONNECTION_ID)
    }

    /// `timestamp`: the sender's clock when it sent the packet.
    pub fn timestamp(&self) -> WireTimestamp {
        WireTimestamp(self.be32(field::TIMESTAMP))
    }

    /// `timestamp_difference`: the sender's last one-way delay sample.
    pub fn timestamp_difference(&self) -> TimestampDiff {
        TimestampDiff(self.be32(field::TIMESTAMP_DIFF))
    }

    /// `wnd_size`: free bytes in the sender's receive buffer.
    pub fn window_size(&self) -> u32 {
        self.be32(field::WINDOW)
    }

    /// `seq_nr`.
    pub fn seq_nr(&self) -> SeqNr {
        SeqNr::new(self.be16(field::SEQ_NR))
    }

    /// `ack_nr`.
    pub fn ack_nr(&self) -> SeqNr {
        SeqNr::new(self.be16(field::ACK_NR))
    }

    /// The extensions, in wire order.
    pub fn extensions(&self) -> ExtensionIter<'_> {
        extensions_of(self.buffer.as_ref())
    }

    /// The selective ACK, if the packet has one (the last one if it has
    /// several).
    pub fn selective_ack(&self) -> Option<SelectiveAck<'_>> {
        self.extensions()
            .filter(|e| e.kind == ExtensionKind::SelectiveAck)
            .last()
            .and_then(|e| SelectiveAck::new(e.data))
    }

    /// The close reason, if the packet has one.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.extensions()
            .find(|e| e.kind == ExtensionKind::CloseReason)
            .and_then(|e| CloseReason::from_body(e.data))
    }

    /// The payload: everything after the extension chain.
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.payload_offset..)
            .unwrap_or(&[])
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The extensions, borrowing the datagram rather than the view.
    pub(crate) fn extensions_in_datagram(&self) -> ExtensionIter<'a> {
        extensions_of(self.buffer)
    }

    /// The payload, borrowing the datagram rather than the view.
    pub(crate) fn payload_in_datagram(&self) -> &'a [u8] {
        self.buffer.get(self.payload_offset..).unwrap_or(&[])
    }
}

fn extensions_of(datagram: &[u8]) -> ExtensionIter<'_> {
    match datagram.split_first_chunk::<HEADER_LEN>() {
        Some((header, after_header)) => {
            ExtensionIter::new(Chain::new(header[field::EXTENSION], after_header))
        }
        None => ExtensionIter::new(Chain::new(0, &[])),
    }
}
