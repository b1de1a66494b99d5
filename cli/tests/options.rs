//! utpcat's everyday options as processes: `-w` (idle timeout), `--stats`,
//! `-v` and `RUST_LOG`, `--trace` and `plot`, `-s`/`-p`, `-4`/`-6`, and
//! their exit codes. (Refused, connect timeout and reset by the peer are
//! in `cat.rs`.)
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_same_bytes, assert_success, connect, finish, guarded, random_bytes, run_connect,
    scratch, signal, utpcat, Collected, Listener,
};

/// The peer of a process that gave up on its connection: it exits with
/// `code` once the RESET arrives. That is one datagram, which UDP may
/// lose (then the peer, idle too, would wait forever): if it has not
/// exited within 10 s, it is killed and nothing is asserted.
fn peer_reset_or_killed(mut child: Child, code: i32) {
    drop(child.stdin.take());
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(code));
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    eprintln!("the RESET was lost; killing the peer");
    signal(child.id(), "KILL");
    let _ = child.wait();
}

#[test]
fn an_idle_listener_gives_up_with_exit_code_4() {
    let mut listener = Listener::start(&["-w", "1"], Stdio::piped());
    let out = listener.collect_stdout();
    // Its stdin stays open: it sends nothing, not even a FIN.
    let _listener_in = listener.child.stdin.take().unwrap();
    let mut client = connect(&listener.addr.to_string(), &[], Stdio::piped());
    let mut client_in = client.stdin.take().unwrap();
    client_in.write_all(b"hi\n").unwrap();
    assert_eq!(out.wait_for(3), b"hi\n");
    let since = Instant::now();
    let listener = listener.finish();
    let idle = since.elapsed();
    assert_eq!(listener.status.code(), Some(4), "{}", listener.stderr);
    let last = listener.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("utpcat: connection with 127.0.0.1:")
            && last.ends_with(": nothing sent or received for 1s"),
        "{}",
        listener.stderr
    );
    // Counted from the last byte, not from the start (generous).
    assert!(idle >= Duration::from_millis(500), "{idle:?}");
    client.stdin = Some(client_in);
    peer_reset_or_killed(client, 5);
}

#[test]
fn an_idle_client_gives_up_with_exit_code_4() {
    let mut listener = Listener::start(&[], Stdio::piped());
    let mut listener_in = listener.child.stdin.take().unwrap();
    let mut client = connect(
        &listener.addr.to_string(),
        &["--idle-timeout", "1"],
        Stdio::piped(),
    );
    let client_in = client.stdin.take().unwrap();
    let got = Collected::start(client.stdout.take().unwrap());
    assert!(listener
        .line()
        .starts_with("utpcat: connection from 127.0.0.1:"));
    listener_in.write_all(b"hello\n").unwrap();
    assert_eq!(got.wait_for(6), b"hello\n");
    let client = finish(client, String::new(), None);
    drop(client_in);
    assert_eq!(client.status.code(), Some(4), "{}", client.stderr);
    assert_eq!(
        client.stderr,
        format!(
            "utpcat: connection with {}: nothing sent or received for 1s\n",
            listener.addr
        )
    );
    assert_eq!(got.wait_for(usize::MAX), b"hello\n");
    let Listener { mut child, .. } = listener;
    child.stdin = Some(listener_in);
    peer_reset_or_killed(child, 5);
}

#[test]
fn w_bounds_connecting_too_with_exit_code_4() {
    // Drops everything: SYNs vanish.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let (done, elapsed) = run_connect(&addr.to_string(), &["-w", "1"]);
    assert_eq!(done.status.code(), Some(4), "{}", done.stderr);
    assert_eq!(
        done.stderr,
        format!("utpcat: connect to {addr}: connection timed out (no answer to the SYN)\n")
    );
    // Not the default 10 s.
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

#[test]
fn bad_options_are_usage_errors_with_exit_code_2() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["connect", "-4", "-6", "127.0.0.1:1"],
            "error: the argument '-4' cannot be used with '-6'",
        ),
        (
            &["connect", "-w", "0", "127.0.0.1:1"],
            "is not a positive number of seconds",
        ),
        (
            &["connect", "-4", "[::1]:1"],
            "utpcat: cannot resolve ::1: no IPv4 address\n",
        ),
        (
            &["connect", "-s", "127.0.0.1", "[::1]:1"],
            "utpcat: cannot resolve ::1: no IPv4 address (the source address is 127.0.0.1)\n",
        ),
        (&["-l"], "error: the following required arguments"),
        (
            &["plot", "only-one.csv"],
            "error: the following required arguments",
        ),
    ];
    for (args, want) in cases {
        let out = utpcat().args(args).stdin(Stdio::null()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

#[test]
fn source_address_and_port_bind_the_client() {
    let listener = Listener::start(&[], Stdio::null());
    let mut listener = listener;
    for attempt in 0.. {
        // A port that was free a moment ago (another process may take it
        // meanwhile: then try another).
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (client, _) = run_connect(
            &listener.addr.to_string(),
            &["-s", "127.0.0.1", "-p", &port.to_string()],
        );
        if client.status.code() == Some(1) && client.stderr.contains("cannot bind") && attempt < 3 {
            continue;
        }
        assert_success("connect", &client);
        assert_eq!(
            listener.line(),
            format!("utpcat: connection from 127.0.0.1:{port}\n")
        );
        break;
    }
    assert_success("listen", &listener.finish());
}

#[test]
fn dash_6_listens_on_the_v6_unspecified_address() {
    let dir = scratch("v6");
    let down = random_bytes(200_000, 60);
    let up = random_bytes(150_001, 61);
    std::fs::write(dir.join("down"), &down).unwrap();
    std::fs::write(dir.join("up"), &up).unwrap();
    let mut listener =
        Listener::start_on("0", &["-6"], std::fs::File::open(dir.join("down")).unwrap());
    assert!(listener.addr.ip().is_unspecified() && listener.addr.is_ipv6());
    let out = listener.collect_stdout();
    let (client, _) = run_connect(
        &format!("[::1]:{}", listener.addr.port()),
        &["-6", "--send", dir.join("up").to_str().unwrap()],
    );
    assert_success("connect", &client);
    assert_same_bytes("the client's stdout", &client.stdout, &down);
    assert!(
        listener.seen.starts_with("utpcat: listening on [::]:"),
        "{}",
        listener.seen
    );
    let line = listener.line();
    assert!(line.starts_with("utpcat: connection from [::1]:"), "{line}");
    let listener = listener.finish();
    assert_success("listen", &listener);
    assert_same_bytes("the listener's stdout", &out.wait_for(usize::MAX), &up);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One stats line: its kind (`stats`, `stats-end`) and values, every key
/// checked in order.
fn parse_stats(line: &str) -> (String, String, Vec<f64>) {
    const KEYS: [&str; 11] = [
        "peer",
        "t",
        "sent",
        "received",
        "send_rate",
        "recv_rate",
        "cwnd",
        "in_flight",
        "rtt_us",
        "delay_us",
        "retransmits",
    ];
    let rest = line.strip_prefix("utpcat: ").unwrap();
    let mut words = rest.split(' ');
    let kind = words.next().unwrap().to_string();
    let pairs: Vec<(&str, &str)> = words.map(|w| w.split_once('=').unwrap()).collect();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, KEYS, "{line}");
    let peer = pairs[0].1.to_string();
    let values = pairs[1..]
        .iter()
        .map(|(k, v)| {
            if *k != "t" {
                assert!(v.bytes().all(|b| b.is_ascii_digit()), "{k}={v} in {line}");
            }
            v.parse::<f64>().unwrap()
        })
        .collect();
    (kind, peer, values)
}

/// Index of a value in what [`parse_stats`] returns.
const T: usize = 0;
const SENT: usize = 1;
const RECEIVED: usize = 2;

/// The stats lines in `stderr`: those every second, then the end.
fn stats_lines(stderr: &str, peer: &str) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut periodic = Vec::new();
    let mut end = None;
    for line in stderr.lines().filter(|l| l.starts_with("utpcat: stats")) {
        let (kind, from, values) = parse_stats(line);
        assert_eq!(from, peer, "{line}");
        match kind.as_str() {
            "stats" => {
                assert!(end.is_none(), "a stats line after the end:\n{stderr}");
                periodic.push(values);
            }
            "stats-end" => {
                assert!(end.is_none(), "two ends:\n{stderr}");
                end = Some(values);
            }
            other => panic!("kind {other} in {line}"),
        }
    }
    (
        periodic,
        end.unwrap_or_else(|| panic!("no stats-end:\n{stderr}")),
    )
}

#[test]
fn stats_lines_every_second_and_at_the_end() {
    let dir = scratch("stats");
    let down = random_bytes(64 * 1024, 62);
    std::fs::write(dir.join("down"), &down).unwrap();
    let (first, second) = (random_bytes(100_000, 63), random_bytes(50_000, 64));
    let mut listener =
        Listener::start(&["--stats"], std::fs::File::open(dir.join("down")).unwrap());
    let out = listener.collect_stdout();
    let mut client = connect(
        &listener.addr.to_string(),
        &["--stats", "-q"],
        Stdio::piped(),
    );
    let mut client_in = client.stdin.take().unwrap();
    client_in.write_all(&first).unwrap();
    assert_eq!(out.wait_for(first.len()).len(), first.len());
    // The connection lasts a few seconds: lines every second meanwhile.
    thread::sleep(Duration::from_millis(2500));
    client_in.write_all(&second).unwrap();
    drop(client_in);
    let client = finish(client, String::new(), None);
    let client_addr = listener
        .line_where(|l| l.starts_with("utpcat: connection from "))
        .trim()
        .strip_prefix("utpcat: connection from ")
        .unwrap()
        .to_string();
    let listener_addr = listener.addr.to_string();
    let listener = listener.finish();
    assert_success("connect", &client);
    assert_success("listen", &listener);
    assert_same_bytes("the client's stdout", &client.stdout, &down);
    let sent_up = first.len() + second.len();
    assert_same_bytes(
        "the listener's stdout",
        &out.wait_for(usize::MAX),
        &[first, second].concat(),
    );

    let ends = [
        (&listener.stderr, client_addr.as_str(), down.len(), sent_up),
        (&client.stderr, listener_addr.as_str(), sent_up, down.len()),
    ];
    for (stderr, peer, sent, received) in ends {
        let (periodic, end) = stats_lines(stderr, peer);
        assert_eq!(end[SENT], sent as f64, "{stderr}");
        assert_eq!(end[RECEIVED], received as f64, "{stderr}");
        // At least the line at 1 s (a loaded machine may be late for
        // the next).
        assert!(!periodic.is_empty(), "{stderr}");
        let mut before = [0.0; 3];
        for v in periodic.iter().chain([&end]) {
            for i in [T, SENT, RECEIVED] {
                assert!(v[i] >= before[i], "not monotonic:\n{stderr}");
                before[i] = v[i];
            }
        }
        assert!(periodic[0][T] >= 1.0, "{stderr}");
    }
    // -q keeps only the stats lines.
    assert!(
        client
            .stderr
            .lines()
            .all(|l| l.starts_with("utpcat: stats")),
        "{}",
        client.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verbose_logging_and_traces_leave_the_data_alone() {
    let dir = scratch("verbose");
    let down = random_bytes(300_000, 65);
    let up = random_bytes(400_003, 66);
    std::fs::write(dir.join("down"), &down).unwrap();
    std::fs::write(dir.join("up"), &up).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let listener = Listener::start(
        &["-vv", "--trace", &path("listen.csv")],
        std::fs::File::open(dir.join("down")).unwrap(),
    );
    let mut listener = listener;
    let out = listener.collect_stdout();
    // RUST_LOG decides over -v.
    let client = utpcat()
        .env("RUST_LOG", "trace")
        .args(["-v", "connect", &listener.addr.to_string()])
        .args(["--send", &path("up"), "--trace", &path("connect.csv")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = finish(client, String::new(), None);
    let listener = listener.finish();
    assert_success("connect", &client);
    assert_success("listen", &listener);
    assert_same_bytes("the client's stdout", &client.stdout, &down);
    assert_same_bytes("the listener's stdout", &out.wait_for(usize::MAX), &up);
    for name in ["listen.csv", "connect.csv"] {
        let trace = std::fs::read_to_string(dir.join(name)).unwrap();
        let mut lines = trace.lines();
        assert_eq!(
            lines.next(),
            Some("t_us,dir,kind,seq,ack,len,cwnd,rtt_us,delay_us,in_flight")
        );
        // Rows once the library emits packet events.
        for row in lines {
            let cells: Vec<&str> = row.split(',').collect();
            assert_eq!(cells.len(), 10, "{row}");
            assert!(["tx", "rx"].contains(&cells[1]), "{row}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_trace_plots_as_four_panels() {
    let dir = scratch("plot");
    // 2 s of a sender: a data packet a millisecond, an ack back for
    // each; cwnd grows, RTT and delay wander.
    let mut csv = String::from("t_us,dir,kind,seq,ack,len,cwnd,rtt_us,delay_us,in_flight\n");
    for i in 0..2000u64 {
        let t = 5_000_000 + i * 1000;
        let (cwnd, rtt, delay) = (3000 + i * 60, 20_000 + (i % 100) * 100, (i % 50) * 200);
        csv += &format!(
            "{t},tx,data,{i},7,1400,{cwnd},{rtt},{delay},{}\n",
            1400 * (i % 8)
        );
        csv += &format!("{},rx,state,8,{i},0,{cwnd},{rtt},{delay},0\n", t + 500);
    }
    // A row of the peer's data, and one without a time (skipped).
    csv += "7000000,rx,data,8,1999,1000,123000,20000,0,0\n,tx,data,1,1,1,1,1,1,1\n";
    std::fs::write(dir.join("t.csv"), &csv).unwrap();
    let svg = dir.join("t.svg");
    let run = |csv: &str, svg: &std::path::Path| {
        let child = utpcat()
            .args(["plot", csv, svg.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        guarded(pid, move || child.wait_with_output().unwrap())
    };
    let done = run(dir.join("t.csv").to_str().unwrap(), &svg);
    assert!(done.status.success(), "{:?}", done);
    assert_eq!(done.stderr, b"");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..100.min(text.len())]);
    assert!(text.len() > 10_000, "{} bytes", text.len());
    for title in [
        "Congestion window",
        "Round-trip time",
        "Queuing delay",
        // 2 s of trace: bins of 20 ms.
        "Throughput (per 20 ms)",
        "t.csv",
    ] {
        assert!(text.contains(title), "no {title:?} in the SVG");
    }

    // A trace with no packets yet: empty panels, and a note.
    std::fs::write(dir.join("empty.csv"), &csv[..csv.find('\n').unwrap() + 1]).unwrap();
    let done = run(dir.join("empty.csv").to_str().unwrap(), &dir.join("e.svg"));
    assert!(done.status.success(), "{:?}", done);
    assert!(String::from_utf8_lossy(&done.stderr).contains("has no packet rows"));
    assert!(std::fs::read_to_string(dir.join("e.svg"))
        .unwrap()
        .contains("Queuing delay"));

    // Not a trace: a usage error.
    std::fs::write(dir.join("other.csv"), "a,b\n1,2\n").unwrap();
    let done = run(dir.join("other.csv").to_str().unwrap(), &dir.join("o.svg"));
    assert_eq!(done.status.code(), Some(2), "{:?}", done);
    std::fs::remove_dir_all(&dir).unwrap();
}
