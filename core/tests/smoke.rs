//! Smoke test: a plain transfer between two endpoints.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod common;
use common::*;
use std::time::Duration;

#[test]
fn one_megabyte() {
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    let data = pattern(1 << 20, 7);
    let got = transfer(&mut p, ha, hb, &data, Duration::from_secs(60));
    assert_eq!(got.len(), data.len());
    assert!(got == data);
}
