//! `utpcat demo` on each runtime: 16 MiB over loopback, verified.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::process::{Command, Output, Stdio};

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_utpcat"))
        .arg("demo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn check_runtime(runtime: &str, shown: &str) {
    let out = demo(&["--bytes", "16M", "--runtime", runtime]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("runtime      {shown}\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("bytes        16777216 (16.0 MiB)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verified     OK (every byte matched)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("MiB/s"), "{stdout}");
    assert!(stdout.contains("Mbit/s"), "{stdout}");
    assert!(stdout.contains("retransmits  "), "{stdout}");
    // No terminal and no --progress: no bar.
    assert_eq!(stderr, "");
}

#[test]
fn demo_on_tokio_verifies_16_mib() {
    check_runtime("tokio", "tokio");
}

#[test]
fn demo_on_async_std_verifies_16_mib() {
    check_runtime("async-std", "async-std");
}

#[test]
fn demo_on_mio_verifies_16_mib() {
    check_runtime("mio", "mio (blocking)");
}

#[test]
fn demo_sizes_with_suffixes_and_odd_lengths() {
    let out = demo(&["--bytes", "100001", "-q"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("bytes        100001 (0.1 MiB)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("verified     OK"), "{stdout}");
}

#[test]
fn demo_rejects_a_bad_size_with_usage_exit_code() {
    let out = demo(&["--bytes", "12X"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("`12X` is not a size"), "{stderr}");
    assert!(out.stdout.is_empty());
}
