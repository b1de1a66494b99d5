//! `utpcat listen` and `connect` as separate processes: files, pipes with half-close, exit codes.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long any utpcat process may take before the test gives up on it.
const GUARD: Duration = Duration::from_secs(60);

fn utpcat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_utpcat"))
}

/// What a finished process left.
#[derive(Debug)]
struct Done {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `f` on a thread; panics if it takes longer than `GUARD` (after
/// killing `pid`).
fn guarded<T: Send + 'static>(pid: u32, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(GUARD) {
        Ok(v) => v,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("utpcat (pid {pid}) did not finish within {GUARD:?}");
        }
    }
}

/// Closes `child`'s stdin (if still open) and waits for it to exit.
/// `stderr` holds what was already read of its stderr, and the reader of
/// the rest if it was taken.
fn finish(mut child: Child, stderr: String, rest: Option<BufReader<ChildStderr>>) -> Done {
    drop(child.stdin.take());
    guarded(child.id(), move || {
        let mut stderr = stderr;
        if let Some(mut rest) = rest {
            rest.read_to_string(&mut stderr).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        stderr += &String::from_utf8_lossy(&out.stderr);
        Done {
            status: out.status,
            stdout: out.stdout,
            stderr,
        }
    })
}

/// A running `utpcat listen` and the address it reported.
struct Listener {
    child: Child,
    addr: SocketAddr,
    stderr: BufReader<ChildStderr>,
    /// Stderr lines read so far.
    seen: String,
}

impl Listener {
    /// Starts `utpcat listen 127.0.0.1:0 ARGS` and reads its "listening
    /// on" line.
    fn start(args: &[&str], stdin: Stdio) -> Listener {
        let mut child = utpcat()
            .args(["listen", "127.0.0.1:0"])
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut listener = Listener {
            child,
            addr: ([0, 0, 0, 0], 0).into(),
            stderr,
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

    /// The next line on its stderr.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stderr.read_line(&mut line).unwrap();
        self.seen += &line;
        line
    }

    fn finish(self) -> Done {
        finish(self.child, self.seen, Some(self.stderr))
    }
}

fn connect(addr: &str, args: &[&str], stdin: Stdio) -> Child {
    utpcat()
        .args(["connect", addr])
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn run_connect(addr: &str, args: &[&str]) -> (Done, Duration) {
    let start = Instant::now();
    let done = finish(connect(addr, args, Stdio::null()), String::new(), None);
    (done, start.elapsed())
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("utpcat-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `len` pseudo-random bytes (xorshift64), different per `seed`.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
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

fn assert_success(who: &str, done: &Done) {
    assert!(
        done.status.success(),
        "{who} failed: {:?}\nstderr:\n{}",
        done.status,
        done.stderr
    );
}

#[test]
fn a_file_moves_byte_identical_from_connect_to_listen() {
    let dir = scratch("file");
    let data = random_bytes(3 * 1024 * 1024 + 17, 1);
    let input = dir.join("in.bin");
    let output = dir.join("out.bin");
    std::fs::write(&input, &data).unwrap();

    let listener = Listener::start(&["--recv", output.to_str().unwrap()], Stdio::null());
    let (client, _) = run_connect(
        &listener.addr.to_string(),
        &["--send", input.to_str().unwrap()],
    );
    let addr = listener.addr;
    let listener = listener.finish();
    assert_success("connect", &client);
    assert_success("listen", &listener);
    assert!(
        std::fs::read(&output).unwrap() == data,
        "the received file differs"
    );
    // Nothing went the other way, and no bar without a terminal.
    assert_eq!(client.stdout, b"");
    assert_eq!(client.stderr, "");
    assert_eq!(listener.stdout, b"");
    let lines: Vec<&str> = listener.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", listener.stderr);
    assert_eq!(lines[0], format!("utpcat: listening on {addr}"));
    assert!(
        lines[1].starts_with("utpcat: connection from 127.0.0.1:"),
        "{}",
        lines[1]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_move_both_ways_at_once_with_progress_lines() {
    let dir = scratch("both");
    let up = random_bytes(2 * 1024 * 1024 + 3, 2);
    let down = random_bytes(1024 * 1024 + 5, 3);
    std::fs::write(dir.join("up"), &up).unwrap();
    std::fs::write(dir.join("down"), &down).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();

    let listener = Listener::start(
        &[
            "--send",
            &path("down"),
            "--recv",
            &path("up.got"),
            "--progress",
        ],
        Stdio::null(),
    );
    // A host name resolves.
    let (client, _) = run_connect(
        &format!("localhost:{}", listener.addr.port()),
        &["--send", &path("up"), "--recv", &path("down.got")],
    );
    let listener = listener.finish();
    assert_success("connect", &client);
    assert_success("listen", &listener);
    assert!(std::fs::read(dir.join("up.got")).unwrap() == up);
    assert!(std::fs::read(dir.join("down.got")).unwrap() == down);
    // --progress without a terminal: plain lines, then the summary.
    let summary = format!(
        "\nutpcat: sent {} bytes, received {} bytes in ",
        down.len(),
        up.len()
    );
    assert!(listener.stderr.contains(&summary), "{}", listener.stderr);
    assert!(listener.stderr.contains("\nsend "), "{}", listener.stderr);
    assert!(listener.stderr.contains("\nrecv "), "{}", listener.stderr);
    assert!(
        listener.stderr.ends_with(" retransmits\n"),
        "{}",
        listener.stderr
    );
    assert!(!listener.stderr.contains('\x1b'), "escape codes in a log");
    assert!(!listener.stderr.contains('\r'), "carriage returns in a log");
    assert_eq!(client.stderr, "");
    assert_eq!(client.stdout, b"");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stdin_to_stdout_with_half_close_then_a_reply() {
    let mut listener = Listener::start(&[], Stdio::piped());
    let mut client = connect(&listener.addr.to_string(), &[], Stdio::piped());

    // The client sends and closes its stdin: utpcat half-closes.
    let mut client_in = client.stdin.take().unwrap();
    client_in.write_all(b"hello\nworld\n").unwrap();
    drop(client_in);

    // The listener prints exactly those bytes...
    let mut listener_out = listener.child.stdout.take().unwrap();
    let pid = listener.child.id();
    let (got, mut listener_out) = guarded(pid, move || {
        let mut got = vec![0u8; 12];
        listener_out.read_exact(&mut got).unwrap();
        (got, listener_out)
    });
    assert_eq!(got, b"hello\nworld\n");
    assert!(listener
        .line()
        .starts_with("utpcat: connection from 127.0.0.1:"));

    // ...and can still answer over the half-closed connection.
    let mut listener_in = listener.child.stdin.take().unwrap();
    listener_in.write_all(b"reply\n").unwrap();
    drop(listener_in);

    let client = finish(client, String::new(), None);
    assert_success("connect", &client);
    assert_eq!(client.stdout, b"reply\n");
    assert_eq!(client.stderr, "");

    let rest = guarded(pid, move || {
        let mut rest = Vec::new();
        listener_out.read_to_end(&mut rest).unwrap();
        rest
    });
    let listener = listener.finish();
    assert_success("listen", &listener);
    assert_eq!(rest, b"", "the listener printed more than was sent");
}

#[test]
fn nothing_listening_times_out_with_exit_code_4() {
    // A bound UDP socket that never answers: SYNs vanish.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let (done, elapsed) = run_connect(&addr.to_string(), &["--connect-timeout", "1"]);
    assert_eq!(done.status.code(), Some(4), "{}", done.stderr);
    assert_eq!(
        done.stderr,
        format!("utpcat: connect to {addr}: connection timed out\n")
    );
    assert_eq!(done.stdout, b"");
    // --connect-timeout took effect (the default is 10 s).
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

#[test]
fn an_unknown_host_fails_with_exit_code_2() {
    let (done, _) = run_connect("no.such.host.invalid:1", &[]);
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert!(
        done.stderr
            .starts_with("utpcat: cannot resolve no.such.host.invalid: "),
        "{}",
        done.stderr
    );
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
}

#[test]
fn a_listener_with_its_one_connection_refuses_others_with_exit_code_3() {
    let mut listener = Listener::start(&[], Stdio::null());
    let first = connect(&listener.addr.to_string(), &[], Stdio::piped());
    assert!(listener
        .line()
        .starts_with("utpcat: connection from 127.0.0.1:"));

    let (second, elapsed) = run_connect(&listener.addr.to_string(), &[]);
    assert_eq!(second.status.code(), Some(3), "{}", second.stderr);
    assert_eq!(
        second.stderr,
        format!(
            "utpcat: connect to {}: connection refused by the peer\n",
            listener.addr
        )
    );
    // Refused by a RESET, not timed out.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    // The first connection is unharmed.
    let first = finish(first, String::new(), None);
    assert_success("first connect", &first);
    assert_success("listen", &listener.finish());
}

#[test]
fn a_peer_that_fails_resets_the_connection_exit_code_5() {
    let dir = scratch("reset");
    let input = dir.join("in.bin");
    std::fs::write(&input, random_bytes(4 * 1024 * 1024, 4)).unwrap();
    // Writing to /dev/full fails: the listener aborts the connection.
    let listener = Listener::start(&["--recv", "/dev/full"], Stdio::null());
    let (client, _) = run_connect(
        &listener.addr.to_string(),
        &["--send", input.to_str().unwrap()],
    );
    let listener = listener.finish();
    assert_eq!(listener.status.code(), Some(1), "{}", listener.stderr);
    assert!(
        listener
            .stderr
            .ends_with("utpcat: cannot write /dev/full: No space left on device (os error 28)\n"),
        "{}",
        listener.stderr
    );
    assert_eq!(client.status.code(), Some(5), "{}", client.stderr);
    assert!(
        client.stderr.ends_with(": connection reset by the peer\n"),
        "{}",
        client.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_with_code_2() {
    let (done, _) = run_connect("127.0.0.1", &[]);
    assert_eq!(done.status.code(), Some(2));
    assert_eq!(done.stderr, "utpcat: `127.0.0.1` is not HOST:PORT\n");
    let (done, _) = run_connect("127.0.0.1:1", &["--connect-timeout", "0"]);
    assert_eq!(done.status.code(), Some(2));
    assert!(
        done.stderr.contains("not a positive number of seconds"),
        "{}",
        done.stderr
    );
    let out = utpcat().arg("listen").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_file_fails_before_connecting_with_exit_code_1() {
    let (done, elapsed) = run_connect("127.0.0.1:1", &["--send", "/nonexistent/utpcat-test"]);
    assert_eq!(done.status.code(), Some(1));
    assert!(
        done.stderr
            .starts_with("utpcat: cannot open /nonexistent/utpcat-test: No such file or directory"),
        "{}",
        done.stderr
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}
