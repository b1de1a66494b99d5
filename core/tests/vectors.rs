//! Golden vectors from `spec/vectors/`: real packets captured from other
//! stacks, hand-made packets, and malformed datagrams.
//!
//! For each valid packet: every decoded field must equal the vector, and
//! re-encoding must give the captured bytes exactly (or the vector's
//! `canonical_hex` / `emit_error` where our canonical form differs, which
//! spec/README.md explains). For each malformed datagram: parsing must fail
//! with exactly the listed error.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use utp_core::wire::{classify, DatagramKind, ExtensionKind, Packet, PacketRepr, PacketType};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    #[serde(default)]
    packet: Vec<Vector>,
    #[serde(default)]
    malformed: Vec<Malformed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    source: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    hex: String,
    #[serde(default)]
    canonical_hex: Option<String>,
    #[serde(default)]
    emit_error: Option<String>,
    #[serde(rename = "type")]
    packet_type: String,
    connection_id: u16,
    timestamp: u32,
    timestamp_difference: u32,
    window_size: u32,
    seq_nr: u16,
    ack_nr: u16,
    extensions: Vec<u8>,
    #[serde(default)]
    sack_mask: Option<String>,
    #[serde(default)]
    acked: Option<Vec<u16>>,
    #[serde(default)]
    close_reason: Option<u16>,
    payload_len: usize,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Malformed {
    name: String,
    hex: String,
    error: String,
    #[serde(default)]
    note: Option<String>,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

fn load_all() -> Vec<(String, VectorFile)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("spec/vectors exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed: VectorFile =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                parsed,
            )
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn type_name(t: PacketType) -> &'static str {
    match t {
        PacketType::Data => "DATA",
        PacketType::Fin => "FIN",
        PacketType::State => "STATE",
        PacketType::Reset => "RESET",
        PacketType::Syn => "SYN",
    }
}

fn check_vector(file: &str, v: &Vector) -> Result<(), String> {
    let _ = (&v.source, &v.note, &v.direction);
    let bytes = unhex(&v.hex);
    let ctx = format!("{file}: {}", v.name);
    if classify(&bytes) != DatagramKind::Utp {
        return Err(format!("{ctx}: not classified as uTP"));
    }
    let packet = Packet::new_checked(&bytes[..]).map_err(|e| format!("{ctx}: {e}"))?;
    let repr = PacketRepr::from_packet(&packet);
    let kinds: Vec<u8> = packet.extensions().map(|e| e.kind.to_u8()).collect();
    let checks: [(&str, String, String); 10] = [
        (
            "type",
            type_name(repr.packet_type).into(),
            v.packet_type.clone(),
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn golden_packets_decode_and_reencode() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (file, vf) in load_all() {
        for v in &vf.packet {
            count += 1;
            if let Err(e) = check_vector(&file, v) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(count >= 10, "only {count} golden packets found");
}

#[test]
fn malformed_datagrams_give_their_error() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (file, vf) in load_all() {
        for m in &vf.malformed {
            count += 1;
            let _ = &m.note;
            let got = PacketRepr::parse(&unhex(&m.hex)).map(|_| ());
            if format!("{got:?}") != format!("Err({})", m.error) {
                failures.push(format!("{file}: {}: got {got:?}, want {}", m.name, m.error));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(count >= 10, "only {count} malformed vectors found");
}

/// The captures must cover at least two real stacks, and every packet type
/// from each of them somewhere.
#[test]
fn captures_cover_two_real_stacks() {
    let mut stacks =
        std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for (_, vf) in load_all() {
        for v in vf.packet.iter().filter(|v| v.source != "hand-made") {
            let stack = v.source.split_whitespace().next().unwrap().to_string();
            stacks
                .entry(stack)
                .or_default()
                .insert(v.packet_type.clone());
        }
    }
    assert!(stacks.len() >= 2, "captured stacks: {stacks:?}");
    for (stack, types) in &stacks {
        for t in ["SYN", "STATE", "DATA", "FIN"] {
            assert!(types.contains(t), "{stack} has no {t} vector: {types:?}");
        }
    }
}
