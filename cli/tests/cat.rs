//! `utpcat listen` and `connect` as separate processes: files, pipes with half-close, exit codes,
//! `listen --keep-open`, and a listener's choice of its one connection.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use common::{
    assert_same_bytes, assert_success, connect, finish, guarded, random_bytes, run_connect,
    scratch, signal, utpcat, Done, Listener,
};

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
        format!("utpcat: connect to {addr}: connection timed out (no answer to the SYN)\n")
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
fn a_listener_whose_connection_delivered_data_refuses_others_with_exit_code_3() {
    let mut listener = Listener::start(&[], Stdio::null());
    let out = listener.collect_stdout();
    let mut first = connect(&listener.addr.to_string(), &[], Stdio::piped());
    assert!(listener
        .line()
        .starts_with("utpcat: connection from 127.0.0.1:"));
    // Data from the first client proves it: from now on SYNs are refused.
    let mut first_in = first.stdin.take().unwrap();
    first_in.write_all(b"first\n").unwrap();
    assert_eq!(out.wait_for(6), b"first\n");

    let (second, elapsed) = run_connect(&listener.addr.to_string(), &[]);
    assert_eq!(second.status.code(), Some(3), "{}", second.stderr);
    assert_eq!(
        second.stderr,
        format!(
            "utpcat: connect to {}: connection refused by the peer\n",
            listener.addr
        )
    );
    // Refused by a RESET, not timed out (10 s): generous for lost SYNs.
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");

    // The first connection is unharmed.
    drop(first_in);
    let first = finish(first, String::new(), None);
    assert_success("first connect", &first);
    let listener = listener.finish();
    assert_success("listen", &listener);
    assert_eq!(out.wait_for(usize::MAX), b"first\n");
}

/// A uTP header (BEP 29) without extensions.
fn header(kind: u8, conn_id: u16, seq: u16, ack: u16) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = (kind << 4) | 1;
    h[2..4].copy_from_slice(&conn_id.to_be_bytes());
    h[12..16].copy_from_slice(&(1u32 << 20).to_be_bytes());
    h[16..18].copy_from_slice(&seq.to_be_bytes());
    h[18..20].copy_from_slice(&ack.to_be_bytes());
    h
}

const ST_STATE: u8 = 2;
const ST_SYN: u8 = 4;

#[test]
fn a_spoofed_syn_never_takes_the_single_connection_listener() {
    let dir = scratch("unproven");
    let down = random_bytes(300_000, 21);
    let up = random_bytes(200_000, 22);
    std::fs::write(dir.join("down"), &down).unwrap();
    std::fs::write(dir.join("up"), &up).unwrap();
    // The listener writes stdin at once, to whichever connection it has.
    let stdin = std::fs::File::open(dir.join("down")).unwrap();
    let mut listener = Listener::start(&[], stdin);
    let out = listener.collect_stdout();

    // A SYN from an address that then says nothing (as if spoofed): sent
    // until the listener's STATE comes back (UDP may drop either). The
    // core keeps it half-open and never hands it to utpcat, and nothing
    // but that STATE goes to the address.
    let ghost = UdpSocket::bind("127.0.0.1:0").unwrap();
    ghost
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (id, syn_seq) = (0x4242u16, 1000u16);
    let mut buf = [0u8; 2048];
    let mut answers = Vec::new();
    for _ in 0..20 {
        ghost
            .send_to(&header(ST_SYN, id, syn_seq, 0), listener.addr)
            .unwrap();
        while let Ok((n, _)) = ghost.recv_from(&mut buf) {
            answers.push((n, buf[0] >> 4));
        }
        if !answers.is_empty() {
            break;
        }
    }
    assert!(!answers.is_empty(), "no STATE for the SYN");
    assert!(
        answers.iter().all(|&(n, ty)| n == 20 && ty == ST_STATE),
        "only 20-byte STATEs to an unproven address: {answers:?}"
    );

    // A real client: it is served, not refused, and gets all of stdin.
    let client = connect(
        &listener.addr.to_string(),
        &["--send", dir.join("up").to_str().unwrap()],
        Stdio::null(),
    );
    assert!(listener
        .line()
        .starts_with("utpcat: connection from 127.0.0.1:"));
    let client = finish(client, String::new(), None);
    assert_success("connect", &client);
    assert_same_bytes("the client's stdout", &client.stdout, &down);
    let listener = listener.finish();
    assert_success("listen", &listener);
    assert_same_bytes("the listener's stdout", &out.wait_for(usize::MAX), &up);
    std::fs::remove_dir_all(&dir).unwrap();
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

/// Splits `out` into the `payloads` it concatenates, each whole, in some
/// order; returns the order (indexes into `payloads`). The payloads are
/// random, so their first bytes tell them apart.
fn whole_in_some_order(out: &[u8], payloads: &[Vec<u8>]) -> Vec<usize> {
    let mut order = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let rest = &out[at..];
        let i = (0..payloads.len())
            .find(|i| !order.contains(i) && rest.starts_with(&payloads[*i][..16]))
            .unwrap_or_else(|| {
                panic!("byte {at} of stdout starts no payload (order so far {order:?})")
            });
        assert!(
            rest.starts_with(&payloads[i]),
            "payload {i} at byte {at} is not whole: interleaved or cut"
        );
        order.push(i);
        at += payloads[i].len();
    }
    assert_eq!(order.len(), payloads.len(), "payloads missing: {order:?}");
    order
}

/// Whether this process ignores SIGINT (inherited from a shell that ran
/// it in the background); its children then ignore it too.
fn sigint_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (2 - 1)) != 0)
}

/// Interrupts a `listen -k` and checks that the signal ended it.
fn interrupt(mut listener: Listener) -> Done {
    use std::os::unix::process::ExitStatusExt;
    assert!(
        listener.child.try_wait().unwrap().is_none(),
        "the listener stopped by itself:\n{}",
        listener.seen
    );
    // Ctrl-C, unless SIGINT is ignored here (and so in the listener).
    let (name, number) = if sigint_ignored() {
        ("TERM", 15)
    } else {
        ("INT", 2)
    };
    signal(listener.child.id(), name);
    let done = listener.finish();
    assert_eq!(done.status.signal(), Some(number), "{:?}", done.status);
    done
}

#[test]
fn keep_open_serves_clients_in_sequence_and_at_once_sending_stdin_to_each() {
    let dir = scratch("keep-open");
    let down = random_bytes(256 * 1024 + 7, 30);
    std::fs::write(dir.join("down"), &down).unwrap();
    let ups: Vec<Vec<u8>> = (0..7)
        .map(|i| random_bytes(100_000 + i * 4099, 31 + i as u64))
        .collect();
    for (i, up) in ups.iter().enumerate() {
        std::fs::write(dir.join(format!("up{i}")), up).unwrap();
    }
    let send = |i: usize| dir.join(format!("up{i}")).to_str().unwrap().to_string();
    // Stdin is a file: it ends at once, which does not stop the listener.
    let mut listener = Listener::start(&["-k"], std::fs::File::open(dir.join("down")).unwrap());
    let out = listener.collect_stdout();
    let addr = listener.addr.to_string();
    let done_lines = |listener: &mut Listener, n: usize| {
        for _ in 0..n {
            let line =
                listener.line_where(|l| l.contains(" done: ") || !l.contains("connection from"));
            assert!(
                line.contains(" done: sent 262151 bytes, received "),
                "{line}"
            );
        }
    };

    // Two in sequence: each gets all of stdin, and its bytes are printed
    // before the next one's.
    let mut expected_len = 0;
    for i in 0..2 {
        let client = finish(
            connect(&addr, &["--send", &send(i)], Stdio::null()),
            String::new(),
            None,
        );
        assert_success("connect", &client);
        assert_same_bytes(&format!("client {i}'s stdout"), &client.stdout, &down);
        done_lines(&mut listener, 1);
        expected_len += ups[i].len();
        let printed = out.wait_for(expected_len);
        assert_same_bytes("the listener's stdout", &printed, &ups[..=i].concat());
    }

    // Four at once: each whole, in some order.
    let clients: Vec<_> = (2..6)
        .map(|i| connect(&addr, &["--send", &send(i)], Stdio::null()))
        .collect();
    for (k, client) in clients.into_iter().enumerate() {
        let client = finish(client, String::new(), None);
        assert_success("connect", &client);
        assert_same_bytes(&format!("client {}'s stdout", k + 2), &client.stdout, &down);
    }
    done_lines(&mut listener, 4);
    expected_len += ups[2..6].iter().map(Vec::len).sum::<usize>();
    let printed = out.wait_for(expected_len);
    assert_same_bytes(
        "the first two",
        &printed[..ups[0].len() + ups[1].len()],
        &ups[..2].concat(),
    );
    let order = whole_in_some_order(&printed[ups[0].len() + ups[1].len()..], &ups[2..6]);
    eprintln!("concurrent clients printed in the order {order:?}");

    // Still serving after all that: one more, over stdin this time.
    let mut late = connect(&addr, &[], Stdio::piped());
    late.stdin.take().unwrap().write_all(&ups[6]).unwrap();
    let late = finish(late, String::new(), None);
    assert_success("late connect", &late);
    assert_same_bytes("the late client's stdout", &late.stdout, &down);
    done_lines(&mut listener, 1);
    expected_len += ups[6].len();
    assert_same_bytes(
        "the late client's bytes",
        &out.wait_for(expected_len)[expected_len - ups[6].len()..],
        &ups[6],
    );

    // It runs until interrupted.
    thread::sleep(Duration::from_millis(200));
    let done = interrupt(listener);
    assert_eq!(out.wait_for(usize::MAX).len(), expected_len);
    assert_eq!(
        done.stderr
            .matches("utpcat: connection from 127.0.0.1:")
            .count(),
        7,
        "{}",
        done.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_open_sends_a_file_to_clients_at_once_while_stdin_stays_open() {
    let dir = scratch("keep-open-file");
    let file = random_bytes(500_000, 40);
    std::fs::write(dir.join("file"), &file).unwrap();
    // Stdin piped and never written: --send decides, stdin is not read.
    let mut listener = Listener::start(
        &["-k", "--send", dir.join("file").to_str().unwrap()],
        Stdio::piped(),
    );
    let out = listener.collect_stdout();
    let addr = listener.addr.to_string();
    let ups: Vec<Vec<u8>> = (0..3)
        .map(|i| random_bytes(150_000 + i, 41 + i as u64))
        .collect();
    let clients: Vec<_> = ups
        .iter()
        .map(|up| {
            let mut c = connect(&addr, &[], Stdio::piped());
            let mut stdin = c.stdin.take().unwrap();
            let up = up.clone();
            // Fed from a thread: a pipe holds less than this.
            thread::spawn(move || stdin.write_all(&up).unwrap());
            c
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        let c = finish(c, String::new(), None);
        assert_success("connect", &c);
        assert_same_bytes(&format!("client {i}'s stdout"), &c.stdout, &file);
    }
    let total: usize = ups.iter().map(Vec::len).sum();
    whole_in_some_order(&out.wait_for(total), &ups);
    for _ in 0..3 {
        let line = listener.line_where(|l| !l.contains("connection from"));
        assert!(
            line.contains(" done: sent 500000 bytes, received 15000"),
            "{line}"
        );
    }
    interrupt(listener);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_open_with_recv_or_progress_is_a_usage_error() {
    for extra in ["--recv=/dev/null", "--progress"] {
        let out = utpcat()
            .args(["listen", "-k", "127.0.0.1:0", extra])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("error: the argument '--keep-open' cannot be used with '--"),
            "{stderr}"
        );
    }
}
