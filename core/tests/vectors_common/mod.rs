//! The schema of the golden vector files in `spec/vectors/` and the check
//! every valid packet in them must pass (spec/vectors/README.md), shared by
//! `vectors.rs` (every file) and `portal_vectors.rs` (the Portal Network's).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use serde::Deserialize;
use utp_core::wire::{classify, DatagramKind, ExtensionKind, Packet, PacketRepr, PacketType};

/// One `*.toml` file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    #[serde(default)]
    pub packet: Vec<Vector>,
    #[serde(default)]
    pub malformed: Vec<Malformed>,
}

/// A `[[packet]]`: a valid packet, its bytes and its decoded fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    pub name: String,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    pub hex: String,
    #[serde(default)]
    pub canonical_hex: Option<String>,
    #[serde(default)]
    pub emit_error: Option<String>,
    #[serde(rename = "type")]
    pub packet_type: String,
    /// The header's version nibble, when the vector states it.
    #[serde(default)]
    pub version: Option<u8>,
    /// The header's first-extension byte, when the vector states it.
    #[serde(default)]
    pub extension: Option<u8>,
    pub connection_id: u16,
    pub timestamp: u32,
    pub timestamp_difference: u32,
    pub window_size: u32,
    pub seq_nr: u16,
    pub ack_nr: u16,
    pub extensions: Vec<u8>,
    #[serde(default)]
    pub sack_mask: Option<String>,
    #[serde(default)]
    pub acked: Option<Vec<u16>>,
    #[serde(default)]
    pub close_reason: Option<u16>,
    pub payload_len: usize,
    #[serde(default)]
    pub payload: Option<String>,
}

/// A `[[malformed]]`: a datagram and the `ParseError` it must give.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Malformed {
    pub name: String,
    pub hex: String,
    pub error: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// Bytes from hex digits (whitespace ignored).
pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The packet type a vector's `type` names.
pub fn type_from_name(name: &str) -> Option<PacketType> {
    [
        PacketType::Data,
        PacketType::Fin,
        PacketType::State,
        PacketType::Reset,
        PacketType::Syn,
    ]
    .into_iter()
    .find(|&t| type_name(t) == name)
}

/// The name a vector's `type` uses for a packet type.
pub fn type_name(t: PacketType) -> &'static str {
    match t {
        PacketType::Data => "DATA",
        PacketType::Fin => "FIN",
        PacketType::State => "STATE",
        PacketType::Reset => "RESET",
        PacketType::Syn => "SYN",
    }
}

/// Decodes `v.hex`, compares every field the vector states, re-encodes and
/// compares the bytes (with `canonical_hex` / `emit_error` where given).
pub fn check_vector(file: &str, v: &Vector) -> Result<(), String> {
    let _ = (&v.source, &v.note, &v.direction);
    let bytes = unhex(&v.hex);
    let ctx = format!("{file}: {}", v.name);
    if classify(&bytes) != DatagramKind::Utp {
        return Err(format!("{ctx}: not classified as uTP"));
    }
    let packet = Packet::new_checked(&bytes[..]).map_err(|e| format!("{ctx}: {e}"))?;
    let repr = PacketRepr::from_packet(&packet);
    let kinds: Vec<u8> = packet.extensions().map(|e| e.kind.to_u8()).collect();
    let checks: [(&str, String, String); 12] = [
        (
            "type",
            type_name(repr.packet_type).into(),
            v.packet_type.clone(),
        ),
        // The codec has no version field (it accepts only 1) nor the raw
        // first-extension byte in `PacketRepr`: read them from the packet.
        (
            "version",
            format!("{:?}", v.version.map(|_| bytes[0] & 0x0f)),
            format!("{:?}", v.version),
        ),
        (
            "extension",
            format!("{:?}", v.extension.map(|_| packet.first_extension())),
            format!("{:?}", v.extension),
        ),
        (
            "connection_id",
            repr.connection_id.to_string(),
            v.connection_id.to_string(),
        ),
        (
            "timestamp",
            repr.timestamp.0.to_string(),
            v.timestamp.to_string(),
        ),
        (
            "timestamp_difference",
            repr.timestamp_difference.0.to_string(),
            v.timestamp_difference.to_string(),
        ),
        (
            "window_size",
            repr.window_size.to_string(),
            v.window_size.to_string(),
        ),
        (
            "seq_nr",
            repr.seq_nr.get().to_string(),
            v.seq_nr.to_string(),
        ),
        (
            "ack_nr",
            repr.ack_nr.get().to_string(),
            v.ack_nr.to_string(),
        ),
        (
            "extensions",
            format!("{kinds:?}"),
            format!("{:?}", v.extensions),
        ),
        (
            "payload_len",
            repr.payload.len().to_string(),
            v.payload_len.to_string(),
        ),
        (
            "close_reason",
            format!("{:?}", repr.close_reason.map(|c| c.0)),
            format!("{:?}", v.close_reason),
        ),
    ];
    for (field, got, want) in checks {
        if got != want {
            return Err(format!(
                "{ctx}: {field} decoded as {got}, vector says {want}"
            ));
        }
    }
    // The last SACK counts when there are several (spec/README.md).
    let sack_mask = packet
        .extensions()
        .filter(|e| e.kind == ExtensionKind::SelectiveAck)
        .last()
        .map(|e| e.data.to_vec());
    if sack_mask != v.sack_mask.as_deref().map(unhex) {
        return Err(format!("{ctx}: sack mask {sack_mask:02x?}"));
    }
    if let Some(acked) = &v.acked {
        let got: Vec<u16> = repr
            .selective_ack
            .map(|s| s.acked(repr.ack_nr).map(|n| n.get()).collect())
            .unwrap_or_default();
        if &got != acked {
            return Err(format!("{ctx}: SACK acks {got:?}, vector says {acked:?}"));
        }
    }
    if let Some(payload) = &v.payload {
        if repr.payload != unhex(payload) {
            return Err(format!("{ctx}: payload differs"));
        }
    }
    // Re-encode.
    let mut out = vec![0u8; repr.buffer_len()];
    match (repr.emit(&mut out), &v.emit_error) {
        (Err(e), Some(want)) if format!("{e:?}") == *want => {}
        (Err(e), _) => return Err(format!("{ctx}: emit failed with {e:?}")),
        (Ok(_), Some(want)) => return Err(format!("{ctx}: emit succeeded, expected {want}")),
        (Ok(len), None) => {
            let want = unhex(v.canonical_hex.as_deref().unwrap_or(&v.hex));
            if out[..len] != want[..] {
                return Err(format!(
                    "{ctx}: re-encoded differs\n  got  {}\n  want {}",
                    hex(&out[..len]),
                    hex(&want)
                ));
            }
            if v.canonical_hex.is_some() && PacketRepr::parse(&out[..len]) != Ok(repr) {
                return Err(format!("{ctx}: canonical form decodes differently"));
            }
        }
    }
    Ok(())
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
