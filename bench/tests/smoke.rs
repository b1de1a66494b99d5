//! The bench end to end, small: ours (tokio, current-thread, over one and
//! over 100 connections, both with `write_bytes`; multi-thread with the
//! application in a spawned task) and TCP (over one and over 100
//! connections), 1 MiB, one round, each as two child processes; every run
//! completes and verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn one_mib_ours_ours_100_and_tcp_verified() {
    let out = Command::new(env!("CARGO_BIN_EXE_utp-bench"))
        .args([
            "--mib",
            "1",
            "--rounds",
            "1",
            "--stacks",
            "ours-tokio-ct-bytes,ours-tokio-ct-100,ours-tokio-mt,tcp,tcp-100",
            "--timeout",
            "60",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for stack in [
        "ours-tokio-ct-bytes",
        "ours-tokio-ct-100",
        "ours-tokio-mt",
        "tcp",
        "tcp-100",
    ] {
        // A completed row: 1 MiB, no failed run ("| 0/1 | 0 |": no stall, none failed).
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {stack} | 1 |")))
            .unwrap_or_else(|| panic!("no row for {stack}:\n{stdout}"));
        assert!(row.contains("| 0/1 | 0 |"), "{row}");
        // The progress line of the run on stderr.
        assert!(
            stderr.contains(&format!("{stack}: ")) && !stderr.contains("FAILED"),
            "{stderr}"
        );
    }
    for how in ["ours, write_bytes", "TCP, write_all"] {
        assert!(
            stdout.contains(&format!(
                "100 connections / one connection (tokio, current thread, {how}): "
            )),
            "{stdout}"
        );
    }
    assert!(!stdout.contains("Failed runs"), "{stdout}");
}
