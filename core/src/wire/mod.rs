//! The uTP v1 packet format: checked views over bytes and typed representations.
//!
//! A uTP packet is a 20-byte big-endian header, an optional chain of
//! extensions, and a payload:
//!
//! ```text
//!  0       4       8               16              24              32
//! +-------+-------+---------------+---------------+---------------+
//! | type  | ver   | extension     | connection_id                 |
//! +-------+-------+---------------+---------------+---------------+
//! | timestamp (microseconds)                                      |
//! +---------------+---------------+---------------+---------------+
//! | timestamp_difference (microseconds)                           |
//! +---------------+---------------+---------------+---------------+
//! | window_size                                                   |
//! +---------------+---------------+---------------+---------------+
//! | seq_nr                        | ack_nr                        |
//! +---------------+---------------+---------------+---------------+
//! | [next extension | length | length bytes] ...  | payload ...
//! ```
//!
//! Two layers, as in smoltcp:
//! - [`Packet`] is a checked view over a byte buffer. [`Packet::new_checked`]
//!   validates the header and walks the whole extension chain once; after
//!   that, every accessor is infallible and none can panic.
//! - [`PacketRepr`] is the typed form: [`PacketRepr::parse`] decodes a
//!   datagram (borrowing the selective-ACK mask and payload, copying
//!   nothing), [`PacketRepr::emit`] encodes one into a caller's buffer and
//!   returns its length, never allocating.
//!
//! **Contract:** no function in this module panics, whatever bytes it is
//! given. Every way a datagram can be malformed has its own [`ParseError`].
//!
//! Use [`classify`] first to tell uTP datagrams from other traffic sharing
//! the socket (DHT, UDP trackers).
//!
//! ```
//! use utp_core::wire::{PacketRepr, PacketType, SelectiveAck};
//! use utp_core::{SeqNr, time::{TimestampDiff, WireTimestamp}};
//!
//! let mask = [0b0000_0101, 0, 0, 0]; // ack_nr + 2 and ack_nr + 4 arrived
//! let repr = PacketRepr {
//!     packet_type: PacketType::State,
//!     connection_id: 4242,
//!     timestamp: WireTimestamp(1_000_000),
//!     timestamp_difference: TimestampDiff(35_000),
//!     window_size: 1 << 20,
//!     seq_nr: SeqNr::new(7),
//!     ack_nr: SeqNr::new(65535),
//!     selective_ack: SelectiveAck::new(&mask),
//!     close_reason: None,
//!     payload: &[],
//! };
//! let mut buf = [0u8; 64];
//! let len = repr.emit(&mut buf)?;
//! assert_eq!(len, 26);
//! let back = PacketRepr::parse(&buf[..len])?;
//! assert_eq!(back, repr);
//! let sack = back.selective_ack.ok_or("the SACK went missing")?;
//! let acked: Vec<u16> = sack.acked(back.ack_nr).map(|s| s.get()).collect();
//! assert_eq!(acked, [1, 3]); // wraps past 65535
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod ext;
mod packet;
mod repr;
mod sack;

pub use error::{EmitError, ParseError};
pub use ext::{CloseReason, Extension, ExtensionIter, ExtensionKind};
pub use packet::Packet;
pub use repr::PacketRepr;
pub use sack::{SackIter, SelectiveAck};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 20;

/// The only protocol version there is (uTP v1, BEP 29).
pub const VERSION: u8 = 1;

/// At most this many extensions are accepted in one packet. Deployed stacks
/// send at most two (a SACK and a close reason); the bound keeps the work
/// per datagram small whatever a peer sends.
pub const MAX_EXTENSIONS: usize = 8;

/// The packet types, from the high nibble of the first byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum PacketType {
    /// `ST_DATA`: carries payload and consumes a sequence number.
    Data = 0,
    /// `ST_FIN`: the sender's last sequence number; consumes one.
    Fin = 1,
    /// `ST_STATE`: an acknowledgement; consumes no sequence number.
    State = 2,
    /// `ST_RESET`: abort the connection.
    Reset = 3,
    /// `ST_SYN`: open a connection; consumes a sequence number.
    Syn = 4,
}

impl PacketType {
    /// Decodes a type nibble, `None` for values above 4.
    pub const fn from_nibble(nibble: u8) -> Option<PacketType> {
        Some(match nibble {
            0 => PacketType::Data,
            1 => PacketType::Fin,
            2 => PacketType::State,
            3 => PacketType::Reset,
            4 => PacketType::Syn,
            _ => return None,
        })
    }

    /// The name used in BEP 29 (`ST_DATA`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            PacketType::Data => "ST_DATA",
            PacketType::Fin => "ST_FIN",
            PacketType::State => "ST_STATE",
            PacketType::Reset => "ST_RESET",
            PacketType::Syn => "ST_SYN",
        }
    }
}

/// What a datagram received on a shared socket is, as far as uTP cares.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DatagramKind {
    /// It claims to be uTP: feed it to the endpoint (which may still find it
    /// malformed, drop it and count it).
    Utp,
    /// Not uTP (a DHT message, a tracker reply, noise): hand it back to the
    /// application untouched.
    Foreign,
}

/// Tells a uTP datagram from other traffic on the same UDP socket.
///
/// The rule is the one libutp applies before it looks any further, so that a
/// socket shared with a DHT or a tracker client behaves the same with both
/// stacks: a datagram is uTP when it is at least [`HEADER_LEN`] bytes long,
/// its version nibble is 1 and its type nibble is at most 4.
///
/// - A DHT (KRPC) message is a bencoded dictionary: its first byte is `d`
///   (0x64), version nibble 4, so it is foreign.
/// - A UDP tracker (BEP 15) connect request begins with the protocol id
///   `0x41727101980` (first byte 0x00), and every tracker reply begins with a
///   32-bit action 0..=3 (first byte 0x00): version nibble 0, foreign.
/// - Anything shorter than a header is foreign.
///
/// A datagram that passes the rule but fails [`PacketRepr::parse`] is not
/// handed back: it is a broken uTP packet, and the endpoint drops and counts
/// it.
///
/// ```
/// use utp_core::wire::{classify, DatagramKind};
/// assert_eq!(classify(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), DatagramKind::Foreign);
/// let mut syn = [0u8; 20];
/// syn[0] = 0x41; // ST_SYN, version 1
/// assert_eq!(classify(&syn), DatagramKind::Utp);
/// ```
pub const fn classify(datagram: &[u8]) -> DatagramKind {
    match datagram.first() {
        Some(&first)
            if datagram.len() >= HEADER_LEN && first & 0x0f == VERSION && first >> 4 <= 4 =>
        {
            DatagramKind::Utp
        }
        _ => DatagramKind::Foreign,
    }
}
