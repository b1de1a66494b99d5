//! The connection manager on a real socket: it keeps its target of
//! outbound connections among local listeners while some of them reset
//! their connections and go away, and replaces what they took.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use utp_async_std::{
    CloseReason, DriverConfig, Manager, ManagerConfig, ManagerEvent, PeerId, Timer, UtpSocket,
    UtpStream,
};

use common::{localhost, Join, Rt};

both_runtimes!(60 => keeps_its_target_while_listeners_go_away);

/// A listener that keeps every connection (after echoing one byte) until
/// it is stopped (its `stop` dropped): then it resets them all and its
/// socket goes away.
struct Listener {
    addr: SocketAddr,
    task: Join<()>,
    stop: async_channel::Sender<()>,
}

fn listen(rt: Rt, socket: UtpSocket) -> Listener {
    let addr = socket.local_addr().unwrap();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let task = rt.spawn(async move {
        // Kept, not detached: dropping a smol task cancels it.
        let mut conns = Vec::new();
        loop {
            let accepted = future::or(async { Some(socket.accept().await) }, async {
                let _ = stopped.recv().await;
                None
            })
            .await;
            let Some(accepted) = accepted else { break };
            let (mut s, _) = accepted.unwrap();
            let stopped = stopped.clone();
            conns.push(rt.spawn(async move {
                let mut b = [0u8; 1];
                if s.read_exact(&mut b).await.is_ok() {
                    let _ = s.write_all(&b).await;
                }
                let _ = stopped.recv().await;
                s.abort();
            }));
        }
        for c in conns {
            c.await;
        }
    });
    Listener { addr, task, stop }
}

/// Reads manager events until `want` outbound connections are up; keeps
/// the streams, answers requests for candidates with `pool`.
async fn until_connected(
    manager: &mut Manager,
    pool: &[SocketAddr],
    streams: &mut HashMap<PeerId, (SocketAddr, UtpStream)>,
    want: usize,
) {
    while streams.len() < want {
        match manager.next().await.unwrap() {
            ManagerEvent::Connected {
                id,
                peer,
                outbound,
                mut stream,
            } => {
                assert!(outbound);
                stream.write_all(&[7]).await.unwrap();
                let mut echo = [0u8; 1];
                stream.read_exact(&mut echo).await.unwrap();
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

async fn keeps_its_target_while_listeners_go_away(rt: Rt) {
    let mut listeners = Vec::new();
    for _ in 0..12 {
        listeners.push(listen(rt, UtpSocket::bind(localhost()).await.unwrap()));
    }
    let pool: Vec<SocketAddr> = listeners.iter().map(|l| l.addr).collect();
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
    let client = UtpSocket::bind_with(localhost(), socket_config)
        .await
        .unwrap();
    let mut manager = Manager::spawn(client, config).unwrap();
    let mut streams = HashMap::new();
    until_connected(&mut manager, &pool, &mut streams, 8).await;
    assert_eq!(streams.len(), 8);

    // Three listeners the manager is connected to go away, resetting
    // their connections.
    let connected: Vec<SocketAddr> = streams.values().map(|(a, _)| *a).collect();
    let mut gone = Vec::new();
    for l in std::mem::take(&mut listeners) {
        if gone.len() < 3 && connected.contains(&l.addr) {
            drop(l.stop);
            l.task.await;
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
        match manager.next().await.unwrap() {
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
    until_connected(&mut manager, &pool, &mut streams, 8).await;
    assert_eq!(streams.len(), 8);
    assert!(streams.values().all(|(a, _)| !gone.contains(a)));
    let stats = manager.stats().await.unwrap();
    assert!(stats.dials >= 11, "{stats:?}");
}
