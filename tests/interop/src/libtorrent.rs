//! Runs libtorrent-rasterbar (Debian's `python3-libtorrent`) through
//! `scripts/lt_peer.py`, and decides whether the libtorrent tests run.
//!
//! The script and the test talk through argv and stdout: the script prints
//! `key value` lines (`port 40123`, `info_hash 3f..`, `torrent /tmp/../test.torrent`,
//! `complete 1.234`, ...); [`Script::expect`] waits for a key.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The interpreter the Debian package installs libtorrent for (a pyenv or
/// venv `python3` earlier on the PATH would not find it).
pub const PYTHON: &str = "/usr/bin/python3";

/// The environment variable that turns a missing libtorrent into a test
/// failure instead of a skip (CI sets it).
pub const REQUIRE_ENV: &str = "UTP_REQUIRE_LIBTORRENT";

/// What a libtorrent test prints or fails with when the module is missing.
pub const MISSING: &str = "python3-libtorrent is required: apt-get install -y python3-libtorrent";

/// The driver script.
pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lt_peer.py")
}

/// The libtorrent version `/usr/bin/python3` imports, or why it cannot.
pub fn version() -> Result<String, String> {
    let out = std::process::Command::new(PYTHON)
        .args(["-c", "import libtorrent; print(libtorrent.__version__)"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{PYTHON} cannot run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Whether a libtorrent test should run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// libtorrent imports: run (the version is given).
    Run(String),
    /// Not installed and not required: the test prints this and returns.
    Skip(String),
    /// Not installed but [`REQUIRE_ENV`]`=1`: the test fails with this.
    Fail(String),
}

/// Decides from [`version`] and [`REQUIRE_ENV`].
pub fn availability(test: &str) -> Availability {
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    decide(test, version(), required)
}

/// The decision of [`availability`], given what [`version`] said and whether
/// libtorrent is required.
pub fn decide(test: &str, version: Result<String, String>, required: bool) -> Availability {
    match version {
        Ok(v) => Availability::Run(v),
        Err(why) if required => Availability::Fail(format!(
            "{test}: {MISSING} ({REQUIRE_ENV}=1; {PYTHON} says: {why})"
        )),
        Err(why) => Availability::Skip(format!(
            "{test}: skipped: {MISSING} (set {REQUIRE_ENV}=1 to make this a failure; {PYTHON} says: {why})"
        )),
    }
}

/// A running `lt_peer.py`.
pub struct Script {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read so far.
    pub transcript: Vec<String>,
}

impl Script {
    /// Starts `lt_peer.py` with `args` (stdout piped for [`Script::expect`],
    /// stderr inherited so that libtorrent's alerts show in the test output).
    pub fn spawn<I, A>(args: I) -> io::Result<Script>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<std::ffi::OsStr>,
    {
        let mut child = Command::new(PYTHON)
            .arg(script_path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let stdin = child.stdin.take();
        Ok(Script {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            transcript: Vec::new(),
        })
    }

    /// Reads lines until one starts with `key` and returns the rest of it.
    /// Fails if the script ends first, prints `timeout`/`error`, or `within`
    /// passes.
    pub async fn expect(&mut self, key: &str, within: Duration) -> io::Result<String> {
        let wait = async {
            loop {
                let Some(line) = self.lines.next_line().await? else {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "lt_peer.py ended before printing {key:?}; it printed {:?}",
                            self.transcript
                        ),
                    ));
                };
                eprintln!("lt_peer.py: {line}");
                self.transcript.push(line.clone());
                let (k, v) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                if k == key {
                    return Ok(v.to_string());
                }
                if k == "timeout" || k == "error" {
                    return Err(io::Error::other(format!("lt_peer.py: {line}")));
                }
            }
        };
        tokio::time::timeout(within, wait).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("lt_peer.py did not print {key:?} within {within:?}"),
            )
        })?
    }

    /// Reads the `port` line: where libtorrent listens (uTP and TCP, on
    /// loopback).
    pub async fn listen_addr(&mut self) -> io::Result<std::net::SocketAddr> {
        let line = self.expect("port", Duration::from_secs(30)).await?;
        let port: u16 = line
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("port {line:?}")))?;
        Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Writes `line` and a newline to the script's standard input.
    pub async fn send_line(&mut self, line: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("standard input closed"))?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await
    }

    /// Closes the script's standard input (the seeder's signal to stop).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the script to exit (at most `within`, then kills it).
    pub async fn wait(&mut self, within: Duration) -> io::Result<ExitStatus> {
        self.close_stdin();
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                self.child.kill().await?;
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "lt_peer.py did not exit; killed",
                ))
            }
        }
    }
}

/// Decodes a 40-digit hex info-hash.
pub fn parse_hex20(hex: &str) -> Option<[u8; 20]> {
    let hex = hex.trim();
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    #[test]
    fn missing_libtorrent_skips_unless_required() {
        assert_eq!(
            decide("t", Ok("2.0.8.0".into()), true),
            Availability::Run("2.0.8.0".into())
        );
        let no = || Err("ModuleNotFoundError: No module named 'libtorrent'".to_string());
        let Availability::Skip(msg) = decide("t", no(), false) else {
            panic!("not skipped")
        };
        assert!(msg.starts_with(
            "t: skipped: python3-libtorrent is required: apt-get install -y python3-libtorrent"
        ));
        let Availability::Fail(msg) = decide("t", no(), true) else {
            panic!("not failed")
        };
        assert!(msg.starts_with(
            "t: python3-libtorrent is required: apt-get install -y python3-libtorrent"
        ));
        assert!(msg.contains("No module named 'libtorrent'"));
    }

    #[test]
    fn hex_info_hash() {
        let h = parse_hex20("000102030405060708090a0b0c0d0e0f10111213");
        assert_eq!(h, Some(core::array::from_fn(|i| i as u8)));
        assert_eq!(parse_hex20("00"), None);
        assert_eq!(parse_hex20(&"zz".repeat(20)), None);
    }
}
