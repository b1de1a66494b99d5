use core::fmt;

/// Why a datagram is not a well-formed uTP v1 packet.
///
/// Each malformation has its own variant so that stats and tests can tell
/// them apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ParseError {
    /// Shorter than the 20-byte header.
    TooShort,
    /// The version nibble is not 1 (the value found is carried).
    BadVersion(u8),
    /// The type nibble is above 4 (the value found is carried).
    UnknownType(u8),
    /// The extension chain runs past the end of the datagram.
    TruncatedExtension,
    /// More than [`MAX_EXTENSIONS`](super::MAX_EXTENSIONS) extensions.
    TooManyExtensions,
    /// A selective ACK extension with a zero-length mask.
    EmptySelectiveAck,
    /// A close-reason extension whose length is not 4 (the length found).
    BadCloseReasonLength(u8),
    /// A close reason twice; the extension type is carried. (Several
    /// selective ACKs are accepted: the last one counts.)
    DuplicateExtension(u8),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooShort => f.write_str("datagram shorter than the 20-byte uTP header"),
            ParseError::BadVersion(v) => write!(f, "uTP version {v}, expected 1"),
            ParseError::UnknownType(t) => write!(f, "unknown uTP packet type {t}"),
            ParseError::TruncatedExtension => f.write_str("extension chain runs past the datagram"),
            ParseError::TooManyExtensions => f.write_str("too many extensions"),
            ParseError::EmptySelectiveAck => f.write_str("selective ACK with an empty mask"),
            ParseError::BadCloseReasonLength(l) => {
                write!(f, "close-reason extension of length {l}, expected 4")
            }
            ParseError::DuplicateExtension(k) => write!(f, "extension {k} appears twice"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a [`PacketRepr`](super::PacketRepr) could not be encoded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EmitError {
    /// The buffer is smaller than [`PacketRepr::buffer_len`](super::PacketRepr::buffer_len).
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A close reason without a selective ACK before it. libutp drops any
    /// packet whose first extension is 3 or higher, so the close reason must
    /// follow a SACK (an all-zero 4-byte mask acknowledges nothing extra).
    CloseReasonFirst,
    /// The selective ACK mask, padded to a multiple of 4, exceeds the 255
    /// bytes an extension length can express.
    SelectiveAckTooLong,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::BufferTooSmall { needed, available } => {
                write!(f, "packet needs {needed} bytes, buffer has {available}")
            }
            EmitError::CloseReasonFirst => {
                f.write_str("close-reason extension must not be the first extension")
            }
            EmitError::SelectiveAckTooLong => f.write_str("selective ACK mask over 252 bytes"),
        }
    }
}

impl std::error::Error for EmitError {}
