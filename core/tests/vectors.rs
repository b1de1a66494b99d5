//! Golden vectors from `spec/vectors/`: real packets captured from other
//! stacks, hand-made packets, published vectors, and malformed datagrams.
//!
//! For each valid packet: every decoded field must equal the vector, and
//! re-encoding must give the captured bytes exactly (or the vector's
//! `canonical_hex` / `emit_error` where our canonical form differs, which
//! spec/README.md explains). For each malformed datagram: parsing must fail
//! with exactly the listed error. The schema and the per-packet check are in
//! `vectors_common`.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod vectors_common;

use std::path::{Path, PathBuf};

use utp_core::wire::PacketRepr;
use vectors_common::{check_vector, unhex, VectorFile};

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
