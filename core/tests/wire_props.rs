//! Property tests for the wire codec.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use proptest::prelude::*;
use utp_core::fuzzing;
use utp_core::time::{TimestampDiff, WireTimestamp};
use utp_core::wire::{CloseReason, EmitError, PacketRepr, PacketType, SelectiveAck, HEADER_LEN};
use utp_core::SeqNr;

/// Owned material for a `PacketRepr` (which borrows).
#[derive(Debug, Clone)]
struct Owned {
    packet_type: PacketType,
    connection_id: u16,
    timestamp: u32,
    timestamp_difference: u32,
    window_size: u32,
    seq_nr: u16,
    ack_nr: u16,
    sack: Option<Vec<u8>>,
    close_reason: Option<u16>,
    payload: Vec<u8>,
}

impl Owned {
    fn repr(&self) -> PacketRepr<'_> {
        PacketRepr {
            packet_type: self.packet_type,
            connection_id: self.connection_id,
            timestamp: WireTimestamp(self.timestamp),
            timestamp_difference: TimestampDiff(self.timestamp_difference),
            window_size: self.window_size,
            seq_nr: SeqNr::new(self.seq_nr),
            ack_nr: SeqNr::new(self.ack_nr),
            selective_ack: self.sack.as_deref().and_then(SelectiveAck::new),
            close_reason: self.close_reason.map(CloseReason),
            payload: &self.payload,
        }
    }
}

fn packet_type() -> impl Strategy<Value = PacketType> {
    prop_oneof![
        Just(PacketType::Data),
        Just(PacketType::Fin),
        Just(PacketType::State),
        Just(PacketType::Reset),
        Just(PacketType::Syn),
    ]
}

prop_compose! {
    /// Every packet the emitter accepts: a close reason always comes with a
    /// SACK, masks are 1..=252 bytes.
    fn emittable()(
        packet_type in packet_type(),
        connection_id in any::<u16>(),
        timestamp in any::<u32>(),
        timestamp_difference in any::<u32>(),
        window_size in any::<u32>(),
        seq_nr in any::<u16>(),
        ack_nr in any::<u16>(),
        sack in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=252)),
        close_reason in proptest::option::of(any::<u16>()),
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
    ) -> Owned {
        let sack = if close_reason.is_some() && sack.is_none() { Some(vec![0; 4]) } else { sack };
        Owned { packet_type, connection_id, timestamp, timestamp_difference, window_size, seq_nr, ack_nr, sack, close_reason, payload }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parse_of_emit_is_identity(p in emittable()) {
        let repr = p.repr();
        let mut buf = vec![0u8; 2048];
        let len = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(len, repr.buffer_len());
        let sack_len = p.sack.as_ref().map_or(0, |m| 2 + m.len().div_ceil(4) * 4);
        let close_len = if p.close_reason.is_some() { 6 } else { 0 };
        prop_assert_eq!(len, HEADER_LEN + sack_len + close_len + p.payload.len());
        let back = PacketRepr::parse(&buf[..len]).unwrap();
        prop_assert_eq!(back, repr);
        // Emitted SACK lengths are multiples of 4, whatever was given.
        if let Some(s) = back.selective_ack {
            prop_assert_eq!(s.mask().len() % 4, 0);
        }
        prop_assert_eq!(back.payload, &p.payload[..]);
    }

    #[test]
    fn emit_into_a_short_buffer_fails_and_writes_nothing(p in emittable(), short in 0usize..64) {
        let repr = p.repr();
        let need = repr.buffer_len();
        let size = need.saturating_sub(1 + short % need);
        let mut buf = vec![0xaa; size];
        prop_assert_eq!(
            repr.emit(&mut buf),
            Err(EmitError::BufferTooSmall { needed: need, available: size })
        );
        prop_assert!(buf.iter().all(|&b| b == 0xaa));
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Err(v) = fuzzing::wire(&data) {
            return Err(TestCaseError::fail(v.to_string()));
        }
    }

    /// Random bytes rarely get past the first byte; this keeps a valid
    /// header start and lets the extension chain be arbitrary.
    #[test]
    fn parse_never_panics_on_arbitrary_extension_chains(
        type_nibble in 0u8..5,
        first_ext in prop_oneof![Just(0u8), Just(1), Just(2), Just(3), any::<u8>()],
        rest_of_header in proptest::collection::vec(any::<u8>(), 18),
        chain in proptest::collection::vec(prop_oneof![0u8..5, any::<u8>()], 0..80),
    ) {
        let mut data = vec![(type_nibble << 4) | 1, first_ext];
        data.extend_from_slice(&rest_of_header);
        data.extend_from_slice(&chain);
        if let Err(v) = fuzzing::wire(&data) {
            return Err(TestCaseError::fail(v.to_string()));
        }
    }
}

#[test]
fn close_reason_is_never_emitted_first() {
    let repr = PacketRepr {
        packet_type: PacketType::Fin,
        connection_id: 1,
        timestamp: WireTimestamp(0),
        timestamp_difference: TimestampDiff(0),
        window_size: 0,
        seq_nr: SeqNr::new(1),
        ack_nr: SeqNr::new(1),
        selective_ack: None,
        close_reason: Some(CloseReason(2)),
        payload: &[],
    };
    let mut buf = [0u8; 64];
    assert_eq!(repr.emit(&mut buf), Err(EmitError::CloseReasonFirst));
    let with_sack = PacketRepr {
        selective_ack: Some(SelectiveAck::NONE),
        ..repr
    };
    let len = with_sack.emit(&mut buf).unwrap();
    assert_eq!(buf[1], 1, "first extension is the SACK");
    assert_eq!(&buf[20..len], &[3, 4, 0, 0, 0, 0, 0, 4, 0, 0, 0, 2]);
}

#[test]
fn oversized_sack_is_refused() {
    let mask = [0xffu8; 253];
    let repr = PacketRepr {
        packet_type: PacketType::State,
        connection_id: 1,
        timestamp: WireTimestamp(0),
        timestamp_difference: TimestampDiff(0),
        window_size: 0,
        seq_nr: SeqNr::new(1),
        ack_nr: SeqNr::new(1),
        selective_ack: SelectiveAck::new(&mask),
        close_reason: None,
        payload: &[],
    };
    let mut buf = [0u8; 512];
    assert_eq!(repr.emit(&mut buf), Err(EmitError::SelectiveAckTooLong));
    // 252 bytes is the largest that fits.
    let repr = PacketRepr {
        selective_ack: SelectiveAck::new(&mask[..252]),
        ..repr
    };
    assert_eq!(repr.emit(&mut buf), Ok(20 + 2 + 252));
}
