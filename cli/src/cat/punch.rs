//! `punch` and `introducer`: connecting to a peer behind a NAT by a uTP
//! rendezvous, its public address learnt from an introducer (or given),
//! and serving an introducer (`utp_tokio::introducer`).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use utp_tokio::introducer::{punch as meet, run_introducer, PunchConfig};
use utp_tokio::{DriverConfig, UtpSocket, UtpStream};

use super::addr::resolve;
use super::Family;
use crate::error::{Context, Failure};

/// How `punch` finds its peer.
#[derive(Debug)]
pub(crate) enum Meet {
    /// Through the introducer at `via`, as `name`, asking for `peer`.
    Via {
        /// The introducer's `HOST:PORT`.
        via: String,
        /// Our name.
        name: String,
        /// The peer's name.
        peer: String,
    },
    /// At the public address `HOST:PORT`, already known.
    At(String),
}

/// What `punch` does.
#[derive(Debug)]
pub(crate) struct PunchTo {
    /// How the peer is found.
    pub(crate) meet: Meet,
    /// The local `[HOST:]PORT` to bind (else an ephemeral port).
    pub(crate) local: Option<String>,
    /// How long to wait for the peer to register, and then for the
    /// rendezvous.
    pub(crate) timeout: Duration,
    /// `-4`, `-6`.
    pub(crate) family: Family,
    /// No "punched" line on stderr.
    pub(crate) quiet: bool,
}

/// Binds, finds the peer, and connects by rendezvous: the socket (it must
/// outlive the stream) and the stream.
pub(super) async fn punch(to: &PunchTo) -> Result<(UtpSocket, UtpStream), Failure> {
    let local = resolve(to.local.as_deref().unwrap_or("0"), true, to.family).await?;
    let mut config = DriverConfig::default();
    config.config.rendezvous_timeout = to.timeout;
    // A rendezvous needs no listener; stray SYNs get a RESET.
    config.listen = None;
    let socket = UtpSocket::bind_with(local, config)
        .await
        .context(|| format!("cannot bind {local}"))?;
    match &to.meet {
        Meet::At(spec) => {
            let remote = resolve(spec, false, Family::of(&local)).await?;
            let stream = socket
                .connect_rendezvous(remote)
                .await
                .context(|| format!("punch to {remote}"))?;
            Ok((socket, stream))
        }
        Meet::Via { via, name, peer } => {
            let via_addr = resolve(via, false, Family::of(&local)).await?;
            let mut config = PunchConfig::default();
            config.peer_wait = to.timeout;
            let punched = meet(&socket, via_addr, name, peer, &config)
                .await
                .map_err(|e| Failure::io(format!("punch to `{peer}` via {via_addr}"), e.into()))?;
            if !to.quiet {
                let public = punched.public[0].map_or("unknown".into(), |a| a.to_string());
                eprintln!(
                    "utpcat: punched through to `{peer}` at {} (our public address {public})",
                    punched.peer_addr
                );
            }
            Ok((socket, punched.stream))
        }
    }
}

/// `utpcat introducer [HOST:]PORT`: serves an introducer on PORT and
/// PORT + 1 until interrupted.
pub(crate) fn introducer(spec: &str, family: Family, quiet: bool) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context(|| "cannot start the tokio runtime".into())?;
    runtime.block_on(async {
        let first_addr = resolve(spec, true, family).await?;
        let Some(port2) = first_addr
            .port()
            .checked_add(1)
            .filter(|_| first_addr.port() != 0)
        else {
            return Err(Failure::Usage(format!(
                "`{spec}`: the introducer needs PORT and PORT + 1 (PORT from 1 to 65534)"
            )));
        };
        let second_addr = SocketAddr::new(first_addr.ip(), port2);
        let first = UdpSocket::bind(first_addr)
            .await
            .context(|| format!("cannot bind {first_addr}"))?;
        let second = UdpSocket::bind(second_addr)
            .await
            .context(|| format!("cannot bind {second_addr}"))?;
        if !quiet {
            eprintln!("utpcat: introducer on {first_addr} and {second_addr}");
        }
        run_introducer(first, second)
            .await
            .context(|| "introducer".into())
    })
}
