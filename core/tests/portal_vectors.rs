//! The Ethereum Portal Network's uTP wire test vectors
//! (`spec/vectors/portal-utp.toml`, from ethereum/portal-network-specs).
//!
//! Every vector must decode to exactly the fields it states and re-encode to
//! its bytes unchanged (these are canonical packets: no `canonical_hex`, no
//! `emit_error`), and the packet built from the stated fields alone, without
//! looking at the bytes, must encode to the same bytes.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod vectors_common;

use utp_core::time::{TimestampDiff, WireTimestamp};
use utp_core::wire::{CloseReason, PacketRepr, SelectiveAck};
use utp_core::SeqNr;
use vectors_common::{check_vector, hex, type_from_name, unhex, Vector, VectorFile};

const FILE: &str = include_str!("../../spec/vectors/portal-utp.toml");

fn vectors() -> Vec<Vector> {
    let file: VectorFile = toml::from_str(FILE).expect("portal-utp.toml parses");
    assert!(file.malformed.is_empty());
    file.packet
}

/// The packet a vector's fields describe; `mask` and `payload` hold the
/// decoded `sack_mask` and `payload`.
fn from_fields<'a>(v: &Vector, mask: &'a [u8], payload: &'a [u8]) -> PacketRepr<'a> {
    PacketRepr {
        packet_type: type_from_name(&v.packet_type).expect("known type"),
        connection_id: v.connection_id,
        timestamp: WireTimestamp(v.timestamp),
        timestamp_difference: TimestampDiff(v.timestamp_difference),
        window_size: v.window_size,
        seq_nr: SeqNr::new(v.seq_nr),
        ack_nr: SeqNr::new(v.ack_nr),
        selective_ack: v.sack_mask.as_ref().and_then(|_| SelectiveAck::new(mask)),
        close_reason: v.close_reason.map(CloseReason),
        payload,
    }
}

/// The file holds the six packets the source publishes, in its order, each
/// stating every header field and its whole payload.
#[test]
fn the_six_published_vectors_are_all_there() {
    let vs = vectors();
    let names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "portal-syn",
            "portal-state",
            "portal-state-sack",
            "portal-data",
            "portal-fin",
            "portal-reset"
        ]
    );
    for v in &vs {
        assert_eq!(v.version, Some(1), "{}", v.name);
        assert!(v.extension.is_some(), "{}: no extension byte", v.name);
        let payload = v.payload.as_deref().map(unhex);
        assert_eq!(payload.map(|p| p.len()), Some(v.payload_len), "{}", v.name);
        assert!(
            v.canonical_hex.is_none() && v.emit_error.is_none(),
            "{}",
            v.name
        );
    }
}

#[test]
fn portal_vectors_decode_to_their_fields_and_reencode_exactly() {
    let failures: Vec<String> = vectors()
        .iter()
        .filter_map(|v| check_vector("portal-utp.toml", v).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn portal_vectors_built_from_their_fields_encode_to_their_bytes() {
    for v in &vectors() {
        let want = unhex(&v.hex);
        let mask = v.sack_mask.as_deref().map(unhex).unwrap_or_default();
        let payload = unhex(v.payload.as_deref().unwrap_or(""));
        let repr = from_fields(v, &mask, &payload);
        // The stated first-extension byte is what the fields imply.
        let first = match (&repr.selective_ack, &repr.close_reason) {
            (Some(_), _) => 1,
            (None, Some(_)) => 3,
            (None, None) => 0,
        };
        assert_eq!(Some(first), v.extension, "{}", v.name);
        let mut out = vec![0u8; repr.buffer_len()];
        let len = repr.emit(&mut out).unwrap();
        assert_eq!(len, want.len(), "{}: length", v.name);
        assert_eq!(
            hex(&out[..len]),
            hex(&want),
            "{}: built from fields",
            v.name
        );
        assert_eq!(PacketRepr::parse(&want), Ok(repr), "{}: decoded", v.name);
    }
}
