//! Stay connected to 8 peers: a blocking [`Manager`] keeps 8 outbound
//! connections among 12 local listeners while, round after round, 3 of the
//! listeners it is connected to stop (resetting their connections) and
//! come back on new ports.
//!
//! ```sh
//! cargo run -p utp-mio --example mio_manager -- --rounds 5
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use utp_mio::{DriverConfig, Manager, ManagerConfig, ManagerEvent, PeerId, UtpListener, UtpStream};

fn main() -> Result<(), Box<dyn Error>> {
    let mut rounds = 5;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--rounds", Some(n)) => rounds = n.parse()?,
            _ => return Err("usage: mio_manager [--rounds N]".into()),
        }
    }
    for (round, took) in run(rounds)?.iter().enumerate() {
        println!("round {round}: 3 listeners stopped, 8 connections again after {took:?}");
    }
    Ok(())
}

/// A listener holding the connections it accepts until it stops; then it
/// resets them.
pub(crate) struct Listener {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

pub(crate) fn listener() -> io::Result<Listener> {
    let listener = UtpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    thread::spawn(move || {
        let mut held = Vec::new();
        // Accepting with a timeout, to notice the stop soon.
        while !stopped.load(Ordering::Acquire) {
            match listener.accept_timeout(Duration::from_millis(20)) {
                Ok((stream, _)) => held.push(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        for stream in &held {
            stream.abort();
        }
    });
    Ok(Listener { addr, stop })
}

/// `rounds` rounds of stopping 3 connected listeners (and starting 3 new
/// ones); how long the manager took each time to hold 8 connections again.
pub(crate) fn run(rounds: usize) -> io::Result<Vec<Duration>> {
    let mut listeners = Vec::new();
    for _ in 0..12 {
        listeners.push(listener()?);
    }
    let config = ManagerConfig {
        target_outbound: 8,
        redial_interval: Duration::from_millis(500),
        retry_duration: Duration::from_millis(200),
        ..ManagerConfig::default()
    };
    // A listener that stops resets its connections; should that RESET be
    // lost, a keepalive every 500 ms and a 2 s idle timeout notice the gone
    // peer soon (the defaults, 29 s and 180 s, suit the Internet better).
    let mut socket_config = DriverConfig::default();
    socket_config.config.keepalive = Some(Duration::from_millis(500));
    socket_config.config.idle_timeout = Some(Duration::from_secs(2));
    let socket = UtpListener::bind_with("127.0.0.1:0", socket_config)?;
    let manager = Manager::spawn(socket, config)?;
    let mut held: HashMap<PeerId, (SocketAddr, UtpStream)> = HashMap::new();
    hold(&manager, &listeners, &mut held, 8)?;
    let mut took = Vec::new();
    for _ in 0..rounds {
        let connected: Vec<SocketAddr> = held.values().map(|(a, _)| *a).collect();
        let mut stopped = Vec::new();
        let mut kept = Vec::new();
        for l in listeners {
            if stopped.len() < 3 && connected.contains(&l.addr) {
                l.stop.store(true, Ordering::Release);
                stopped.push(l.addr);
            } else {
                kept.push(l);
            }
        }
        listeners = kept;
        for _ in 0..stopped.len() {
            listeners.push(listener()?);
        }
        let start = Instant::now();
        // The stopped ones' connections end; the manager fills their places.
        while held.values().any(|(a, _)| stopped.contains(a)) {
            event(&manager, &listeners, &mut held)?;
        }
        hold(&manager, &listeners, &mut held, 8)?;
        took.push(start.elapsed());
    }
    Ok(took)
}

/// Handles events until `want` connections are held.
fn hold(
    manager: &Manager,
    listeners: &[Listener],
    held: &mut HashMap<PeerId, (SocketAddr, UtpStream)>,
    want: usize,
) -> io::Result<()> {
    while held.len() < want {
        event(manager, listeners, held)?;
    }
    Ok(())
}

fn event(
    manager: &Manager,
    listeners: &[Listener],
    held: &mut HashMap<PeerId, (SocketAddr, UtpStream)>,
) -> io::Result<()> {
    let gone = || io::Error::new(io::ErrorKind::NotConnected, "the manager stopped");
    match manager.next(None).ok_or_else(gone)? {
        ManagerEvent::Connected {
            id, peer, stream, ..
        } => {
            held.insert(id, (peer, stream));
        }
        ManagerEvent::Disconnected { id, .. } => {
            held.remove(&id);
        }
        ManagerEvent::WantCandidates { .. } => {
            for l in listeners {
                manager.add_candidate(l.addr);
            }
        }
    }
    Ok(())
}
