//! Shared by the utpcat process tests: running `listen` and `connect`,
//! collecting their output, guards, deterministic data.
#![allow(dead_code)]

#[cfg(target_os = "linux")]
pub(crate) mod gateway;
pub(crate) mod netns;
pub(crate) mod upnp;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any utpcat process may take before the test gives up on it.
pub(crate) const GUARD: Duration = Duration::from_secs(60);

pub(crate) fn utpcat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_utpcat"))
}

/// Starts `command` with stdin from nowhere and stdout, stderr piped.
pub(crate) fn spawn_piped(mut command: Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What a finished process left.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

/// Kills `pid` with `signal` (a name such as `KILL`, `TERM`, `INT`).
pub(crate) fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Runs `f` on a thread; panics if it takes longer than `GUARD` (after
/// killing `pid`).
pub(crate) fn guarded<T: Send + 'static>(pid: u32, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(GUARD) {
        Ok(v) => v,
        Err(_) => {
            signal(pid, "KILL");
            panic!("utpcat (pid {pid}) did not finish within {GUARD:?}");
        }
    }
}

/// Closes `child`'s stdin (if still open) and waits for it to exit.
/// `stderr` holds what was already read of its stderr, and `rest` the
/// lines of the rest if its stderr was taken.
pub(crate) fn finish(
    mut child: Child,
    stderr: String,
    rest: Option<mpsc::Receiver<String>>,
) -> Done {
    drop(child.stdin.take());
    guarded(child.id(), move || {
        let out = child.wait_with_output().unwrap();
        let mut stderr = stderr;
        // The reader ends at the end of stderr.
        stderr.extend(rest.iter().flat_map(|r| r.iter()));
        stderr += &String::from_utf8_lossy(&out.stderr);
        Done {
            status: out.status,
            stdout: out.stdout,
            stderr,
        }
    })
}

/// A running `utpcat listen` and the address it reported.
pub(crate) struct Listener {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    /// Its stderr, line by line, read on a thread.
    lines: mpsc::Receiver<String>,
    /// Stderr lines read so far.
    pub(crate) seen: String,
}

impl Listener {
    /// Starts `utpcat listen 127.0.0.1:0 ARGS` and reads its "listening
    /// on" line.
    pub(crate) fn start(args: &[&str], stdin: impl Into<Stdio>) -> Listener {
        Listener::start_on("127.0.0.1:0", args, stdin)
    }

    /// Starts `utpcat listen ADDR ARGS` and reads its "listening on"
    /// line.
    pub(crate) fn start_on(addr: &str, args: &[&str], stdin: impl Into<Stdio>) -> Listener {
        let mut child = utpcat()
            .args(["listen", addr])
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if tx.send(line + "\n").is_err() {
                    break;
                }
            }
        });
        let mut listener = Listener {
            child,
            addr: ([0, 0, 0, 0], 0).into(),
            lines,
            seen: String::new(),
        };
        let line = listener.line();
        listener.addr = line
            .strip_prefix("utpcat: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .trim()
            .parse()
            .unwrap();
        listener
    }

    /// The next line on its stderr (empty at its end), within `GUARD`.
    pub(crate) fn line(&mut self) -> String {
        match self.lines.recv_timeout(GUARD) {
            Ok(line) => {
                self.seen += &line;
                line
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => String::new(),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                signal(self.child.id(), "KILL");
                panic!("no line on stderr within {GUARD:?}; so far:\n{}", self.seen);
            }
        }
    }

    /// Reads stderr lines until one satisfies `pred`; returns it.
    pub(crate) fn line_where(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.line();
            assert!(!line.is_empty(), "stderr ended:\n{}", self.seen);
            if pred(&line) {
                return line;
            }
        }
    }

    /// Takes its stdout, collected on a thread from now on.
    pub(crate) fn collect_stdout(&mut self) -> Collected {
        Collected::start(self.child.stdout.take().unwrap())
    }

    pub(crate) fn finish(self) -> Done {
        finish(self.child, self.seen, Some(self.lines))
    }
}

/// A child's stdout, read on a thread as it comes.
pub(crate) struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    ended: Arc<Mutex<bool>>,
}

impl Collected {
    pub(crate) fn start(mut out: ChildStdout) -> Collected {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(false));
        let (b, e) = (Arc::clone(&bytes), Arc::clone(&ended));
        thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => b.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
            *e.lock().unwrap() = true;
        });
        Collected { bytes, ended }
    }

    /// Everything so far.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    /// Waits until at least `len` bytes came (or the stream ended), within
    /// `GUARD`; returns them all.
    pub(crate) fn wait_for(&self, len: usize) -> Vec<u8> {
        let start = Instant::now();
        loop {
            let got = self.bytes();
            if got.len() >= len || *self.ended.lock().unwrap() {
                return got;
            }
            assert!(
                start.elapsed() < GUARD,
                "{} of {len} bytes after {GUARD:?}",
                got.len()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

pub(crate) fn connect(addr: &str, args: &[&str], stdin: impl Into<Stdio>) -> Child {
    utpcat()
        .args(["connect", addr])
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub(crate) fn run_connect(addr: &str, args: &[&str]) -> (Done, Duration) {
    let start = Instant::now();
    let done = finish(connect(addr, args, Stdio::null()), String::new(), None);
    (done, start.elapsed())
}

/// A fresh scratch directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("utpcat-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `len` pseudo-random bytes (xorshift64), different per `seed`.
pub(crate) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub(crate) fn assert_success(who: &str, done: &Done) {
    assert!(
        done.status.success(),
        "{who} failed: {:?}\nstderr:\n{}",
        done.status,
        done.stderr
    );
}

/// How `got` differs from `want` (lengths, first difference), if it does.
pub(crate) fn difference(got: &[u8], want: &[u8]) -> Option<String> {
    if got == want {
        return None;
    }
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    Some(format!(
        "got {} bytes, want {}; first difference at byte {first}",
        got.len(),
        want.len()
    ))
}

/// Asserts `got == want`, saying how they differ rather than printing
/// megabytes.
pub(crate) fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if let Some(d) = difference(got, want) {
        panic!("{what}: {d}");
    }
}
