//! Replays the checked-in cargo-fuzz corpora through the same functions the
//! fuzz targets call, so every CI run exercises them without cargo-fuzz.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::Path;

fn replay(target: &str, check: fn(&[u8]) -> Result<(), utp_core::fuzzing::Violation>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut count = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        count += 1;
        if let Err(v) = check(&data) {
            failures.push(format!("{}: {v}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(count >= 20, "corpus {target} has only {count} inputs");
}

#[test]
fn wire_corpus() {
    replay("wire", utp_core::fuzzing::wire);
}

#[test]
fn endpoint_corpus() {
    replay("endpoint", utp_core::fuzzing::endpoint);
}

#[test]
fn pair_corpus() {
    replay("pair", utp_core::fuzzing::pair);
}

#[test]
fn manager_corpus() {
    replay("manager", utp_core::fuzzing::manager);
}
