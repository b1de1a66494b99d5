use super::{ParseError, MAX_EXTENSIONS};

/// An extension type, from a `next extension` byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ExtensionKind {
    /// 1: selective ACK bitmask.
    SelectiveAck,
    /// 2: legacy "extension bits" (8 bytes); sent by old stacks, ignored.
    ExtensionBits,
    /// 3: libtorrent's close reason (2 reserved bytes, then a u16 code).
    CloseReason,
    /// Any other non-zero type: skipped.
    Unknown(u8),
}

impl ExtensionKind {
    /// Decodes a non-zero extension type byte (0 ends the chain and is not a
    /// kind).
    pub const fn from_u8(kind: u8) -> ExtensionKind {
        match kind {
            1 => ExtensionKind::SelectiveAck,
            2 => ExtensionKind::ExtensionBits,
            3 => ExtensionKind::CloseReason,
            other => ExtensionKind::Unknown(other),
        }
    }

    /// The type byte.
    pub const fn to_u8(self) -> u8 {
        match self {
            ExtensionKind::SelectiveAck => 1,
            ExtensionKind::ExtensionBits => 2,
            ExtensionKind::CloseReason => 3,
            ExtensionKind::Unknown(other) => other,
        }
    }
}

/// One extension of a packet's chain, undecoded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Extension<'a> {
    /// Its type.
    pub kind: ExtensionKind,
    /// Its body (the `length` bytes after the two-byte extension header).
    pub data: &'a [u8],
}

/// The reason code libtorrent puts in extension 3 when it closes a
/// connection (its `close_reason_t`: 0 none, 1 duplicate peer id, 2 torrent
/// removed, 8 timeout, ...). Carried as a plain number: the meaning belongs
/// to the application.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct CloseReason(pub u16);

impl CloseReason {
    /// Reads the 4-byte body; `None` when it is not exactly 4 bytes.
    pub(crate) fn from_body(body: &[u8]) -> Option<CloseReason> {
        match *body {
            [_, _, hi, lo] => Some(CloseReason(u16::from_be_bytes([hi, lo]))),
            _ => None,
        }
    }
}

/// Walks an extension chain, validating each step. Shared by
/// [`Packet::new_checked`](super::Packet::new_checked) and [`ExtensionIter`].
#[derive(Clone, Debug)]
pub(crate) struct Chain<'a> {
    next: u8,
    rest: &'a [u8],
    seen: usize,
}

impl<'a> Chain<'a> {
    /// `first` is the header's extension byte, `after_header` the bytes that
    /// follow the header.
    pub(crate) fn new(first: u8, after_header: &'a [u8]) -> Self {
        Chain {
            next: first,
            rest: after_header,
            seen: 0,
        }
    }

    /// What is left once the chain has ended: the payload.
    pub(crate) fn remainder(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) fn step(&mut self) -> Option<Result<Extension<'a>, ParseError>> {
        if self.next == 0 {
            return None;
        }
        let kind = ExtensionKind::from_u8(self.next);
        self.seen += 1;
        if self.seen > MAX_EXTENSIONS {
            return Some(Err(ParseError::TooManyExtensions));
        }
        let [next, len, rest @ ..] = self.rest else {
            return Some(Err(ParseError::TruncatedExtension));
        };
        let Some((data, rest)) = rest.split_at_checked(usize::from(*len)) else {
            return Some(Err(ParseError::TruncatedExtension));
        };
        match kind {
            ExtensionKind::SelectiveAck if data.is_empty() => {
                return Some(Err(ParseError::EmptySelectiveAck))
            }
            ExtensionKind::CloseReason if data.len() != 4 => {
                return Some(Err(ParseError::BadCloseReasonLength(*len)))
            }
            _ => {}
        }
        self.next = *next;
        self.rest = rest;
        Some(Ok(Extension { kind, data }))
    }
}

/// Iterator over the extensions of a checked [`Packet`](super::Packet), in
/// wire order.
#[derive(Clone, Debug)]
pub struct ExtensionIter<'a> {
    chain: Chain<'a>,
}

impl<'a> ExtensionIter<'a> {
    pub(crate) fn new(chain: Chain<'a>) -> Self {
        ExtensionIter { chain }
    }
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = Extension<'a>;

    fn next(&mut self) -> Option<Extension<'a>> {
        // The packet was checked, so an error cannot occur; stop if it did.
        match self.chain.step()? {
            Ok(ext) => Some(ext),
            Err(_) => {
                self.chain = Chain::new(0, &[]);
                None
            }
        }
    }
}
