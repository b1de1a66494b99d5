//! The runtime-free driver over an in-memory socket: batching, sockets that
//! would block, wakers, foreign datagrams, errors.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use utp_core::{ConnHandle, Timestamp};
use utp_driver::{DatagramSocket, Driver, DriverConfig};

type Wire = Rc<RefCell<VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>>>;

/// One end of an in-memory network; sends fail with WouldBlock while
/// `blocked`; `segments` > 1 makes it take batches.
struct MemSocket {
    addr: SocketAddr,
    wire: Wire,
    blocked: RefCell<bool>,
    segments: usize,
    /// (datagrams, bytes) per send call.
    calls: RefCell<Vec<(usize, usize)>>,
}

impl MemSocket {
    fn new(addr: &str, wire: &Wire, segments: usize) -> Self {
        MemSocket {
            addr: addr.parse().unwrap(),
            wire: wire.clone(),
            blocked: RefCell::new(false),
            segments,
            calls: RefCell::new(Vec::new()),
        }
    }
}

impl DatagramSocket for MemSocket {
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut wire = self.wire.borrow_mut();
        let pos = wire
            .iter()
            .position(|(_, to, _)| *to == self.addr)
            .ok_or(io::ErrorKind::WouldBlock)?;
        let (from, _, data) = wire.remove(pos).unwrap();
        buf[..data.len()].copy_from_slice(&data);
        Ok((data.len(), from))
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        if *self.blocked.borrow() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.calls.borrow_mut().push((1, buf.len()));
        self.wire
            .borrow_mut()
            .push_back((self.addr, to, buf.to_vec()));
        Ok(buf.len())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    fn max_send_segments(&self) -> usize {
        self.segments
    }

    fn try_send_segments(&self, buf: &[u8], seg: usize, to: SocketAddr) -> io::Result<usize> {
        if *self.blocked.borrow() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        assert!(self.segments > 1, "batch sent to a socket that takes none");
        let chunks: Vec<&[u8]> = buf.chunks(seg).collect();
        assert!(chunks.len() <= self.segments);
        for c in &chunks[..chunks.len() - 1] {
            assert_eq!(c.len(), seg, "only the last segment may be short");
        }
        self.calls.borrow_mut().push((chunks.len(), buf.len()));
        let mut wire = self.wire.borrow_mut();
        for c in chunks {
            wire.push_back((self.addr, to, c.to_vec()));
        }
        Ok(buf.len())
    }
}

#[derive(Default)]
struct CountWaker(AtomicUsize);

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn waker() -> (Arc<CountWaker>, Waker) {
    let w = Arc::new(CountWaker::default());
    (w.clone(), Waker::from(w))
}

/// A reader of `h` on `d` that finds nothing to read yet: its wake count
/// and waker (registered).
fn waiting_reader(
    d: &mut Driver,
    s: &MemSocket,
    now: Timestamp,
    h: ConnHandle,
) -> (Arc<CountWaker>, Waker) {
    let (count, w) = waker();
    let mut cx = Context::from_waker(&w);
    assert!(d.poll_read(s, now, h, &mut cx, &mut [0u8; 16]).is_pending());
    (count, w)
}

fn cfg(seed: u64, listen: bool) -> DriverConfig {
    let mut config = DriverConfig::default();
    config.seed = Some(seed);
    if !listen {
        config.listen = None;
    }
    config
}

struct Net {
    a: Driver,
    b: Driver,
    sa: MemSocket,
    sb: MemSocket,
    now: Timestamp,
}

impl Net {
    fn new(segments: usize) -> Self {
        let wire: Wire = Rc::default();
        Net {
            a: Driver::new(cfg(1, false), segments),
            b: Driver::new(cfg(2, true), segments),
            sa: MemSocket::new("127.0.0.1:1000", &wire, segments),
            sb: MemSocket::new("127.0.0.1:2000", &wire, segments),
            now: Timestamp::ZERO,
        }
    }

    /// A connection from `a` to `b`, handshake done: its handles on `a`
    /// and on `b`.
    fn connected(&mut self) -> (ConnHandle, ConnHandle) {
        let remote = self.sb.addr;
        let h = self.a.connect(&self.sa, self.now, remote).unwrap();
        self.settle();
        let (_, w) = waker();
        let hb = ready(self.b.poll_accept(&mut Context::from_waker(&w))).0;
        (h, hb)
    }

    /// Drives both sides until the wire is quiet (1 ms per round).
    fn settle(&mut self) {
        for _ in 0..10_000 {
            self.now = self.now.checked_add(Duration::from_millis(1)).unwrap();
            self.a.drive(&self.sa, self.now);
            self.b.drive(&self.sb, self.now);
            if self.sa.wire.borrow().is_empty() {
                return;
            }
        }
        panic!("the wire never went quiet");
    }
}

fn ready<T>(p: Poll<io::Result<T>>) -> T {
    match p {
        Poll::Ready(r) => r.unwrap(),
        Poll::Pending => panic!("pending"),
    }
}

#[test]
fn connect_accept_write_read_and_wakers() {
    let mut n = Net::new(1);
    let (accept_count, accept_waker) = waker();
    let mut acx = Context::from_waker(&accept_waker);
    assert!(n.b.poll_accept(&mut acx).is_pending());

    let remote = n.sb.addr;
    let h = n.a.connect(&n.sa, n.now, remote).unwrap();
    let (conn_count, conn_waker) = waker();
    let mut ccx = Context::from_waker(&conn_waker);
    assert!(n.a.poll_connect(h, &mut ccx).is_pending());
    n.settle();
    assert_eq!(conn_count.0.load(Ordering::SeqCst), 1, "Connected wakes");
    ready(n.a.poll_connect(h, &mut ccx));
    assert_eq!(accept_count.0.load(Ordering::SeqCst), 1, "Incoming wakes");
    let (hb, peer) = ready(n.b.poll_accept(&mut acx));
    assert_eq!(peer, n.sa.addr);

    // B waits to read; A writes; B's read waker fires with the data.
    let (read_count, read_waker) = waiting_reader(&mut n.b, &n.sb, n.now, hb);
    let mut rcx = Context::from_waker(&read_waker);
    let mut buf = [0u8; 64];
    let (_, w) = waker();
    let mut wcx = Context::from_waker(&w);
    assert_eq!(
        ready(n.a.poll_write(&n.sa, n.now, h, &mut wcx, b"through the driver")),
        18
    );
    // The write went out from the caller, before any drive.
    assert_eq!(
        n.sa.calls.borrow().len(),
        3,
        "SYN, the handshake's third packet, then the data packet"
    );
    n.settle();
    assert_eq!(read_count.0.load(Ordering::SeqCst), 1);
    let got = ready(n.b.poll_read(&n.sb, n.now, hb, &mut rcx, &mut buf));
    assert_eq!(&buf[..got], b"through the driver");

    // Half-close: B reads Ok(0); writing after shutdown is BrokenPipe.
    n.a.shutdown(&n.sa, n.now, h).unwrap();
    n.settle();
    assert_eq!(
        ready(n.b.poll_read(&n.sb, n.now, hb, &mut rcx, &mut buf)),
        0
    );
    match n.a.poll_write(&n.sa, n.now, h, &mut wcx, b"late") {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
        other => panic!("{other:?}"),
    }
}

#[test]
fn drive_deferred_hands_the_wakes_over_instead_of_waking() {
    let mut n = Net::new(1);
    let remote = n.sb.addr;
    let (accept_count, accept_waker) = waker();
    let mut acx = Context::from_waker(&accept_waker);
    assert!(n.b.poll_accept(&mut acx).is_pending());
    let h = n.a.connect(&n.sa, n.now, remote).unwrap();
    // B's turns of the handshake defer the accept wake.
    let mut woken = Vec::new();
    for _ in 0..10 {
        n.b.drive_deferred(&n.sb, n.now, &mut woken);
        if !woken.is_empty() {
            break;
        }
        n.a.drive(&n.sa, n.now);
    }
    assert_eq!(accept_count.0.load(Ordering::SeqCst), 0);
    assert_eq!(woken.len(), 1);
    assert!(woken[0].will_wake(&accept_waker));
    woken.drain(..).for_each(Waker::wake);
    assert_eq!(accept_count.0.load(Ordering::SeqCst), 1);
    n.settle();
    let (hb, _) = ready(n.b.poll_accept(&mut acx));

    // A reader waits; the data's turn defers its wake; the read then
    // finds the bytes.
    let (read_count, read_waker) = waiting_reader(&mut n.b, &n.sb, n.now, hb);
    let mut rcx = Context::from_waker(&read_waker);
    let mut buf = [0u8; 64];
    let (_, w) = waker();
    let mut wcx = Context::from_waker(&w);
    ready(n.a.poll_write(&n.sa, n.now, h, &mut wcx, b"deferred"));
    n.b.drive_deferred(&n.sb, n.now, &mut woken);
    assert_eq!(read_count.0.load(Ordering::SeqCst), 0);
    assert_eq!(woken.len(), 1);
    assert!(woken[0].will_wake(&read_waker));
    let got = ready(n.b.poll_read(&n.sb, n.now, hb, &mut rcx, &mut buf));
    assert_eq!(&buf[..got], b"deferred");
    woken.clear();

    // A plain `drive` wakes at once, as before.
    let (read_count, _read_waker) = waiting_reader(&mut n.b, &n.sb, n.now, hb);
    ready(n.a.poll_write(&n.sa, n.now, h, &mut wcx, b"now"));
    n.b.drive(&n.sb, n.now);
    assert_eq!(read_count.0.load(Ordering::SeqCst), 1);
}

/// A connection from `n.a` to `n.b` whose receive buffer (8 KiB) `n.a`
/// filled: its handles on `a` and `b`.
fn filled_window(n: &mut Net) -> (ConnHandle, ConnHandle) {
    let (h, hb) = n.connected();
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    let data = vec![7u8; 64 << 10];
    ready(n.a.poll_write(&n.sa, n.now, h, &mut cx, &data));
    n.settle();
    (h, hb)
}

#[test]
fn a_deferred_reads_window_update_leaves_with_the_next_turn() {
    for defer in [false, true] {
        let mut n = Net::new(1);
        n.b = {
            let mut config = cfg(2, true);
            config.config.recv_buffer = 8 << 10;
            Driver::new(config, 1)
        };
        n.b.set_defer_read_output(defer);
        let (_, hb) = filled_window(&mut n);
        let (loop_count, loop_waker) = waker();
        n.b.set_driver_waker(&loop_waker);
        let sent = n.sb.calls.borrow().len();
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut buf = vec![0u8; 64 << 10];
        let got = ready(n.b.poll_read(&n.sb, n.now, hb, &mut cx, &mut buf));
        assert!(got >= 4 << 10, "the buffer was full: {got}");
        assert!(buf[..got].iter().all(|&b| b == 7));
        let by_read = n.sb.calls.borrow().len() - sent;
        if defer {
            // Nothing left from the reader; the loop was woken for it.
            assert_eq!(by_read, 0);
            assert_eq!(loop_count.0.load(Ordering::SeqCst), 1);
            n.b.drive(&n.sb, n.now);
            assert_eq!(
                n.sb.calls.borrow().len() - sent,
                1,
                "the update, by the turn"
            );
        } else {
            assert_eq!(by_read, 1, "the window update, sent by the read");
        }
        // Either way the sender goes on.
        n.settle();
        let more = ready(n.b.poll_read(&n.sb, n.now, hb, &mut cx, &mut buf));
        assert!(more > 0);
    }
}

#[test]
fn refused_and_reset_map_to_io_error_kinds() {
    let mut n = Net::new(1);
    n.b.endpoint().unlisten();
    let remote = n.sb.addr;
    let h = n.a.connect(&n.sa, n.now, remote).unwrap();
    n.settle();
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    match n.a.poll_connect(h, &mut cx) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }

    let mut n = Net::new(1);
    let (h, hb) = n.connected();
    let (read_count, read_waker) = waiting_reader(&mut n.a, &n.sa, n.now, h);
    let mut rcx = Context::from_waker(&read_waker);
    let mut buf = [0u8; 16];
    n.b.abort(&n.sb, n.now, hb);
    n.settle();
    assert_eq!(read_count.0.load(Ordering::SeqCst), 1, "Closed wakes");
    match n.a.poll_read(&n.sa, n.now, h, &mut rcx, &mut buf) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("{other:?}"),
    }

    // Another address family fails at once.
    let v6: SocketAddr = "[::1]:2000".parse().unwrap();
    let e = n.a.connect(&n.sa, n.now, v6).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn batches_equal_datagrams_and_keeps_them_when_the_socket_blocks() {
    let mut n = Net::new(8);
    let (h, hb) = n.connected();
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    n.sa.calls.borrow_mut().clear();

    // The socket blocks: the write is buffered and the loop is told to
    // wait for writability.
    *n.sa.blocked.borrow_mut() = true;
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    let (loop_count, loop_waker) = waker();
    n.a.set_driver_waker(&loop_waker);
    assert_eq!(
        ready(n.a.poll_write(&n.sa, n.now, h, &mut cx, &data)),
        data.len()
    );
    assert!(n.a.pending());
    assert!(loop_count.0.load(Ordering::SeqCst) >= 1, "loop woken");
    let wait = n.a.drive(&n.sa, n.now);
    assert!(wait.writable);
    assert!(n.sa.calls.borrow().is_empty());

    *n.sa.blocked.borrow_mut() = false;
    let wait = n.a.drive(&n.sa, n.now);
    assert!(!wait.writable);
    // The initial window allows several packets: they went in batches of
    // equal segments (the socket asserts the shape), more than one per call.
    let calls = n.sa.calls.borrow().clone();
    assert!(calls.iter().any(|&(d, _)| d > 1), "{calls:?}");
    assert!(calls.iter().all(|&(d, _)| d <= 8));
    let sent: usize = calls.iter().map(|&(d, _)| d).sum();
    assert_eq!(
        n.a.stats().datagrams_sent as usize,
        sent + 2,
        "+ the SYN and the handshake's third packet"
    );

    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < data.len() {
        n.settle();
        while let Poll::Ready(r) = n.b.poll_read(&n.sb, n.now, hb, &mut cx, &mut buf) {
            let k = r.unwrap();
            got.extend_from_slice(&buf[..k]);
        }
    }
    assert_eq!(got, data);
}

#[test]
fn foreign_datagrams_are_queued_bounded_and_woken() {
    let wire: Wire = Rc::default();
    let sock = MemSocket::new("127.0.0.1:1000", &wire, 1);
    let mut config = cfg(3, true);
    config.foreign_queue = 2;
    let mut d = Driver::new(config, 1);
    let (count, w) = waker();
    let mut cx = Context::from_waker(&w);
    let mut buf = [0u8; 64];
    assert!(d.poll_recv_foreign(&mut cx, &mut buf).is_pending());
    let from: SocketAddr = "127.0.0.1:6881".parse().unwrap();
    for msg in [
        &b"d1:ad2:id20:aaaa"[..],
        b"d1:q4:ping",
        b"dropped: queue full",
    ] {
        wire.borrow_mut().push_back((from, sock.addr, msg.to_vec()));
    }
    d.drive(&sock, Timestamp::ZERO);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    let (n1, f1) = ready(d.poll_recv_foreign(&mut cx, &mut buf));
    assert_eq!((&buf[..n1], f1), (&b"d1:ad2:id20:aaaa"[..], from));
    let (n2, _) = ready(d.poll_recv_foreign(&mut cx, &mut buf[..4]));
    assert_eq!(&buf[..n2], b"d1:q", "truncated to the caller's buffer");
    assert!(d.poll_recv_foreign(&mut cx, &mut buf).is_pending());
    assert_eq!(d.stats().foreign_dropped, 1);
    assert_eq!(d.stats().datagrams_received, 3);
}

#[test]
fn terminate_fails_every_call_and_wakes_waiters() {
    let mut n = Net::new(1);
    let remote = n.sb.addr;
    let h = n.a.connect(&n.sa, n.now, remote).unwrap();
    let (count, w) = waker();
    let mut cx = Context::from_waker(&w);
    assert!(n.a.poll_connect(h, &mut cx).is_pending());
    n.a.terminate(io::ErrorKind::NotConnected);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    match n.a.poll_connect(h, &mut cx) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::NotConnected),
        other => panic!("{other:?}"),
    }
    let e = n.a.connect(&n.sa, n.now, remote).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotConnected);
}

#[test]
fn clock_round_trips() {
    let epoch = std::time::Instant::now();
    let clock = utp_driver::Clock::new(epoch);
    let later = epoch + Duration::from_millis(1500);
    let t = clock.timestamp(later);
    assert_eq!(t, Timestamp::from_millis(1500));
    assert_eq!(clock.instant(t), later);
    assert_eq!(
        clock.timestamp(epoch - Duration::from_secs(1)),
        Timestamp::ZERO
    );
}

#[test]
fn interval_figures_of_a_connection_and_the_socket() {
    let mut n = Net::new(1);
    let (h, hb) = n.connected();
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    let (conn0, sock0) = (n.a.conn_stats(n.now, h), n.a.stats());
    let calls0 = n.sa.calls.borrow().len();
    let data = vec![5u8; 10_000];
    let mut written = 0;
    while written < data.len() {
        written += ready(n.a.poll_write(&n.sa, n.now, h, &mut cx, &data[written..]));
    }
    n.settle();
    let mut buf = vec![0u8; 20_000];
    assert_eq!(
        ready(n.b.poll_read(&n.sb, n.now, hb, &mut cx, &mut buf)),
        10_000
    );
    n.settle();
    let (conn1, sock1) = (n.a.conn_stats(n.now, h), n.a.stats());
    assert_eq!((conn1.at, sock1.at), (n.now, n.now));

    let conn = conn1.since(&conn0);
    assert_eq!(
        conn.elapsed,
        Duration::from_micros(n.now.as_micros() - conn0.at.as_micros())
    );
    assert_eq!(conn.bytes_sent, 10_000);
    assert_eq!(conn.retransmits, 0);
    assert_eq!(
        conn.send_rate,
        10_000 * 1_000_000 / conn.elapsed.as_micros() as u64
    );

    let sock = sock1.since(&sock0);
    let calls = n.sa.calls.borrow();
    let sent: usize = calls[calls0..].iter().map(|&(_, bytes)| bytes).sum();
    let datagrams: usize = calls[calls0..].iter().map(|&(d, _)| d).sum();
    assert_eq!(sock.bytes_sent, sent as u64);
    assert_eq!(sock.datagrams_sent, datagrams as u64);
    assert_eq!(sock.elapsed, sock1.at.saturating_duration_since(sock0.at));
    assert_eq!(
        sock.send_rate,
        sent as u64 * 1_000_000 / sock.elapsed.as_micros() as u64
    );
    // Figures of another connection (counters lower) give zero, not a wrap.
    assert_eq!(conn0.since(&conn1).bytes_sent, 0);
}
