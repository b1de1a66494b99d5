//! Stay connected to 8 peers: a [`Manager`] keeps 8 outbound connections
//! among 12 local listeners while, round after round, 3 of the listeners
//! it is connected to stop (resetting their connections) and come back on
//! new ports. Runs on async-std.
//!
//! ```sh
//! cargo run -p utp-async-std --example async_std_manager -- --rounds 5
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_std::task;
use futures_lite::future;
use utp_async_std::{
    DriverConfig, Manager, ManagerConfig, ManagerEvent, PeerId, UtpSocket, UtpStream,
};

fn main() -> Result<(), Box<dyn Error>> {
    let mut rounds = 5;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--rounds", Some(n)) => rounds = n.parse()?,
            _ => return Err("usage: async_std_manager [--rounds N]".into()),
        }
    }
    for (round, took) in task::block_on(run(rounds))?.iter().enumerate() {
        println!("round {round}: 3 listeners stopped, 8 connections again after {took:?}");
    }
    Ok(())
}

/// A listener holding the connections it accepts until it stops (its
/// `stop` is dropped); then it resets them.
pub(crate) struct Listener {
    pub(crate) addr: SocketAddr,
    stop: async_channel::Sender<()>,
}

pub(crate) async fn listener() -> io::Result<Listener> {
    let socket = UtpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    let (stop, stopped) = async_channel::bounded::<()>(1);
    task::spawn(async move {
        loop {
            let accepted = future::or(async { socket.accept().await.ok() }, async {
                let _ = stopped.recv().await;
                None
            })
            .await;
            let Some((stream, _)) = accepted else { return };
            let stopped = stopped.clone();
            task::spawn(async move {
                let _ = stopped.recv().await;
                stream.abort();
            });
        }
    });
    Ok(Listener { addr, stop })
}

/// `rounds` rounds of stopping 3 connected listeners (and starting 3 new
/// ones); how long the manager took each time to hold 8 connections again.
pub(crate) async fn run(rounds: usize) -> io::Result<Vec<Duration>> {
    let mut listeners = Vec::new();
    for _ in 0..12 {
        listeners.push(listener().await?);
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
    let socket = UtpSocket::bind_with("127.0.0.1:0", socket_config).await?;
    let mut manager = Manager::spawn(socket, config)?;
    let mut held: HashMap<PeerId, (SocketAddr, UtpStream)> = HashMap::new();
    hold(&mut manager, &listeners, &mut held, 8).await?;
    let mut took = Vec::new();
    for _ in 0..rounds {
        let connected: Vec<SocketAddr> = held.values().map(|(a, _)| *a).collect();
        let mut stopped = Vec::new();
        let mut kept = Vec::new();
        for l in listeners {
            if stopped.len() < 3 && connected.contains(&l.addr) {
                drop(l.stop);
                stopped.push(l.addr);
            } else {
                kept.push(l);
            }
        }
        listeners = kept;
        for _ in 0..stopped.len() {
            listeners.push(listener().await?);
        }
        let start = Instant::now();
        // The stopped ones' connections end; the manager fills their places.
        while held.values().any(|(a, _)| stopped.contains(a)) {
            event(&mut manager, &listeners, &mut held).await?;
        }
        hold(&mut manager, &listeners, &mut held, 8).await?;
        took.push(start.elapsed());
    }
    Ok(took)
}

/// Handles events until `want` connections are held.
async fn hold(
    manager: &mut Manager,
    listeners: &[Listener],
    held: &mut HashMap<PeerId, (SocketAddr, UtpStream)>,
    want: usize,
) -> io::Result<()> {
    while held.len() < want {
        event(manager, listeners, held).await?;
    }
    Ok(())
}

async fn event(
    manager: &mut Manager,
    listeners: &[Listener],
    held: &mut HashMap<PeerId, (SocketAddr, UtpStream)>,
) -> io::Result<()> {
    let gone = || io::Error::new(io::ErrorKind::NotConnected, "the manager stopped");
    match manager.next().await.ok_or_else(gone)? {
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
