//! The connection manager on a real socket: it keeps its target of
//! outbound connections among local listeners while some of them reset
//! their connections and go away, and replaces what they took; dropped,
//! it stops without closing the streams it handed out.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::guard;
use utp_mio::{
    CloseReason, DriverConfig, Manager, ManagerConfig, ManagerEvent, PeerId, Timer, UtpListener,
    UtpStream,
};

/// A listener that keeps every connection (after echoing one byte) until
/// it is stopped: then it resets them all and its socket goes away.
struct Listener {
    addr: SocketAddr,
    thread: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

fn listen(listener: UtpListener) -> Listener {
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let thread = thread::spawn(move || {
        let mut held = Vec::new();
        while !stopped.load(Ordering::Acquire) {
            match listener.accept_timeout(Duration::from_millis(20)) {
                Ok((s, _)) => {
                    let echo = s.try_clone().unwrap();
                    thread::spawn(move || {
                        let mut b = [0u8; 1];
                        if (&echo).read_exact(&mut b).is_ok() {
                            let _ = (&echo).write_all(&b);
                        }
                    });
                    held.push(s);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
        }
        for s in &held {
            s.abort();
        }
    });
    Listener { addr, thread, stop }
}

fn manager_config() -> (ManagerConfig, DriverConfig) {
    let config = ManagerConfig {
        target_outbound: 8,
        redial_interval: Duration::from_millis(500),
        retry_duration: Duration::from_millis(200),
        ..ManagerConfig::default()
    };
    // A lost RESET from a listener that stops is made up for by a short
    // keepalive and idle timeout (UDP may drop any datagram).
    let mut socket_config = DriverConfig::default();
    socket_config.config.keepalive = Some(Duration::from_millis(500));
    socket_config.config.idle_timeout = Some(Duration::from_secs(2));
    (config, socket_config)
}

/// Reads manager events until `want` outbound connections are up; keeps
/// the streams, answers requests for candidates with `pool`.
fn until_connected(
    manager: &Manager,
    pool: &[SocketAddr],
    streams: &mut HashMap<PeerId, (SocketAddr, UtpStream)>,
    want: usize,
) {
    while streams.len() < want {
        match manager.next(None).unwrap() {
            ManagerEvent::Connected {
                id,
                peer,
                outbound,
                mut stream,
            } => {
                assert!(outbound);
                stream.write_all(&[7]).unwrap();
                let mut echo = [0u8; 1];
                stream.read_exact(&mut echo).unwrap();
                assert_eq!(echo, [7]);
                streams.insert(id, (peer, stream));
            }
            ManagerEvent::Disconnected { id, .. } => {
                streams.remove(&id);
            }
            ManagerEvent::WantCandidates { .. } => {
                for &a in pool {
                    manager.add_candidate(a);
                }
            }
        }
    }
}

#[test]
fn keeps_its_target_while_listeners_go_away() {
    guard(60, || {
        let mut listeners: Vec<Listener> = (0..12)
            .map(|_| listen(UtpListener::bind("127.0.0.1:0").unwrap()))
            .collect();
        let pool: Vec<SocketAddr> = listeners.iter().map(|l| l.addr).collect();
        let (config, socket_config) = manager_config();
        let client = UtpListener::bind_with("127.0.0.1:0", socket_config).unwrap();
        let manager = Manager::spawn(client, config).unwrap();
        let mut streams = HashMap::new();
        until_connected(&manager, &pool, &mut streams, 8);
        assert_eq!(streams.len(), 8);

        // Three listeners the manager is connected to go away, resetting
        // their connections.
        let connected: Vec<SocketAddr> = streams.values().map(|(a, _)| *a).collect();
        let mut gone = Vec::new();
        for l in std::mem::take(&mut listeners) {
            if gone.len() < 3 && connected.contains(&l.addr) {
                l.stop.store(true, Ordering::Release);
                l.thread.join().unwrap();
                gone.push(l.addr);
            } else {
                listeners.push(l);
            }
        }
        assert_eq!(gone.len(), 3);
        // Our streams to them end; the manager reports it and replaces them
        // from the listeners left.
        let mut lost = 0;
        while lost < 3 {
            match manager.next(None).unwrap() {
                ManagerEvent::Disconnected { id, info } => {
                    let (peer, _) = streams.remove(&id).unwrap();
                    assert!(gone.contains(&peer), "{peer}");
                    let reason = info.map(|i| i.reason);
                    assert!(
                        matches!(
                            reason,
                            Some(CloseReason::Reset | CloseReason::TimedOut(Timer::Idle)) | None
                        ),
                        "{reason:?}"
                    );
                    lost += 1;
                }
                ManagerEvent::Connected {
                    id, peer, stream, ..
                } => {
                    streams.insert(id, (peer, stream));
                }
                ManagerEvent::WantCandidates { .. } => {
                    for &a in &pool {
                        manager.add_candidate(a);
                    }
                }
            }
        }
        until_connected(&manager, &pool, &mut streams, 8);
        assert_eq!(streams.len(), 8);
        assert!(streams.values().all(|(a, _)| !gone.contains(a)));
        let stats = manager.stats().unwrap();
        assert!(stats.dials >= 11, "{stats:?}");
    });
}

/// Dropping the manager stops it (its thread is joined) but leaves the
/// streams it handed out open: they still carry bytes both ways.
#[test]
fn dropped_it_leaves_its_streams_open() {
    guard(60, || {
        let listener = UtpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"first").unwrap();
            let mut got = [0u8; 4];
            s.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");
            s.write_all(b"pong").unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty());
        });
        let (mut config, socket_config) = manager_config();
        config.target_outbound = 1;
        let client = UtpListener::bind_with("127.0.0.1:0", socket_config).unwrap();
        let manager = Manager::spawn(client, config).unwrap();
        let mut stream = loop {
            match manager.next(None).unwrap() {
                ManagerEvent::WantCandidates { count } => {
                    assert_eq!(count, 1);
                    manager.add_candidate(addr);
                }
                ManagerEvent::Connected { peer, stream, .. } => {
                    assert_eq!(peer, addr);
                    break stream;
                }
                other => panic!("{other:?}"),
            }
        };
        // No event waits: a timeout.
        assert!(manager.next(Some(Duration::from_millis(50))).is_none());
        drop(manager);
        let mut first = [0u8; 5];
        stream.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"first");
        stream.write_all(b"ping").unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"pong");
        server.join().unwrap();
    });
}
