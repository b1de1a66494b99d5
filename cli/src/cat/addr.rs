//! Addresses: parsing `[HOST:]PORT`, resolving names in the address
//! family asked for, binding a listener, connecting from a chosen local
//! address.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use utp_core::ListenConfig;
use utp_tokio::portmap::{default_gateway, map_port, PortMap};
use utp_tokio::{DriverConfig, UtpSocket, UtpStream};

use crate::error::{Context, Failure};

/// Which address family names resolve to and sockets bind in (`-4`,
/// `-6`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Family {
    /// Either; IPv4 addresses are preferred.
    #[default]
    Any,
    /// IPv4 only (`-4`).
    V4,
    /// IPv6 only (`-6`).
    V6,
}

impl Family {
    fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }

    /// What a resolver found nothing of.
    fn none_found(self) -> &'static str {
        match self {
            Family::Any => "no addresses",
            Family::V4 => "no IPv4 address",
            Family::V6 => "no IPv6 address",
        }
    }

    /// The family of `addr`.
    pub(super) fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// Where and how to connect.
#[derive(Debug)]
pub(crate) struct ConnectTo {
    /// `HOST:PORT`.
    pub(crate) addr: String,
    /// How long to try.
    pub(crate) timeout: Duration,
    /// The local address to bind (`-s`), else the unspecified one.
    pub(crate) source: Option<String>,
    /// The local port to bind (`-p`), else an ephemeral one.
    pub(crate) local_port: Option<u16>,
    /// `-4`, `-6`.
    pub(crate) family: Family,
}

/// `HOST:PORT`, `[V6]:PORT`, or for a listener `PORT` and `:PORT` (the
/// host then is the unspecified address of `family`), split.
fn split_addr(spec: &str, listen: bool, family: Family) -> Result<(String, u16), Failure> {
    let usage = || {
        Failure::Usage(if listen {
            format!("`{spec}` is not [HOST:]PORT")
        } else {
            format!("`{spec}` is not HOST:PORT")
        })
    };
    let (host, port) = match spec.rsplit_once(':') {
        Some((host, port)) => (host, port),
        None if listen => ("", spec),
        None => return Err(usage()),
    };
    let port: u16 = port.parse().map_err(|_| usage())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host {
        "" if listen && family == Family::V6 => Ok(("::".into(), port)),
        "" if listen => Ok(("0.0.0.0".into(), port)),
        "" => Err(usage()),
        _ => Ok((host.into(), port)),
    }
}

/// Resolves `host` with `port` to an address of `family`; with
/// [`Family::Any`], IPv4 addresses are preferred (a listener on the
/// default 0.0.0.0 is not reachable over IPv6, and a uTP connect to a dead
/// address only fails after the whole timeout).
async fn lookup(host: &str, port: u16, family: Family) -> Result<SocketAddr, Failure> {
    let fail = |reason: String| Failure::Resolve {
        host: host.into(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| fail(e.to_string()))?
        .filter(|a| family.admits(a))
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| fail(family.none_found().into()))
}

/// Resolves `spec` (see [`split_addr`]).
pub(super) async fn resolve(
    spec: &str,
    listen: bool,
    family: Family,
) -> Result<SocketAddr, Failure> {
    let (host, port) = split_addr(spec, listen, family)?;
    lookup(&host, port, family).await
}

/// `listen --map`: ask the gateway (`--gateway`, else the default route's)
/// for a public port.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapTo {
    /// The gateway to ask, else the default route's.
    pub(crate) gateway: Option<IpAddr>,
}

/// How long `--map` asks the gateway to keep the mapping (renewed at half
/// of what it grants while utpcat runs).
const MAP_LIFETIME: Duration = Duration::from_secs(3600);

/// Binds `spec` to listen with `listen`, and says where (unless
/// `quiet`): the socket and its address; with `map`, the port mapping
/// made for it, whose public address is said too.
pub(super) async fn bind_listener(
    spec: &str,
    family: Family,
    listen: ListenConfig,
    quiet: bool,
    map: Option<MapTo>,
) -> Result<(UtpSocket, SocketAddr, Option<PortMap>), Failure> {
    let addr = resolve(spec, true, family).await?;
    let mut config = DriverConfig::default();
    config.listen = Some(listen);
    let socket = UtpSocket::bind_with(addr, config)
        .await
        .context(|| format!("cannot listen on {addr}"))?;
    let local = socket
        .local_addr()
        .context(|| format!("cannot listen on {addr}"))?;
    if !quiet {
        eprintln!("utpcat: listening on {local}");
    }
    let Some(map) = map else {
        return Ok((socket, local, None));
    };
    let gateway = map.gateway.or_else(default_gateway).ok_or_else(|| {
        Failure::Usage("--map: no default route to find the gateway; give --gateway IP".into())
    })?;
    let mapped = map_port(&socket, gateway, MAP_LIFETIME)
        .await
        .context(|| format!("cannot map a public port on {gateway}"))?;
    // Said even with -q: it is what the user asked for.
    let protocol = mapped.protocol().name();
    eprintln!(
        "utpcat: reachable at {} ({protocol} mapping on {gateway}, {} s, renewed)",
        mapped.public_addr(),
        mapped.lifetime().as_secs()
    );
    Ok((socket, local, Some(mapped)))
}

/// Connects as `to` says: from `-s`/`-p` if given, else from an
/// ephemeral port of the remote's address family.
pub(super) async fn connect(to: &ConnectTo) -> Result<(UtpSocket, UtpStream), Failure> {
    let port = to.local_port.unwrap_or(0);
    let (local, remote) = match &to.source {
        Some(source) => {
            let source = source
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(source);
            let local = lookup(source, port, to.family).await?;
            // The remote must be of the source's family.
            let remote = match resolve(&to.addr, false, Family::of(&local)).await {
                Err(Failure::Resolve { host, reason }) => Err(Failure::Resolve {
                    host,
                    reason: format!("{reason} (the source address is {})", local.ip()),
                }),
                r => r,
            }?;
            (Some(local), remote)
        }
        None => (None, resolve(&to.addr, false, to.family).await?),
    };
    let local = local.unwrap_or_else(|| {
        if remote.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, port).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, port).into()
        }
    });
    let mut config = DriverConfig::default();
    config.config.connect_timeout = to.timeout;
    // Nobody will accept here: SYNs get a RESET.
    config.listen = None;
    let socket = UtpSocket::bind_with(local, config)
        .await
        .context(|| format!("cannot bind {local}"))?;
    let context = || format!("connect to {remote}");
    // The core gives up after `timeout`; the outer bound only guards
    // against a driver that never reports.
    let stream = tokio::time::timeout(to.timeout + Duration::from_secs(5), socket.connect(remote))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))
        .and_then(|r| r)
        .context(context)?;
    Ok((socket, stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split() {
        let ok = |s: &str, l: bool| split_addr(s, l, Family::Any).ok();
        assert_eq!(ok("9000", true), Some(("0.0.0.0".into(), 9000)));
        assert_eq!(ok(":9000", true), Some(("0.0.0.0".into(), 9000)));
        assert_eq!(ok("localhost:80", false), Some(("localhost".into(), 80)));
        assert_eq!(ok("[::1]:80", false), Some(("::1".into(), 80)));
        assert_eq!(ok("[::]:80", true), Some(("::".into(), 80)));
        assert_eq!(ok("9000", false), None);
        assert_eq!(ok(":9000", false), None);
        assert_eq!(ok("host:99999", false), None);
        assert_eq!(ok("host:", false), None);
    }

    #[test]
    fn a_v6_listener_defaults_to_the_v6_unspecified_address() {
        let v6 = |s: &str| split_addr(s, true, Family::V6).ok();
        assert_eq!(v6("9000"), Some(("::".into(), 9000)));
        assert_eq!(v6(":9000"), Some(("::".into(), 9000)));
        assert_eq!(v6("[::1]:9000"), Some(("::1".into(), 9000)));
        assert_eq!(
            split_addr("9000", true, Family::V4).ok(),
            Some(("0.0.0.0".into(), 9000))
        );
    }

    #[tokio::test]
    async fn names_resolve_in_the_family_asked_for() {
        let v4: SocketAddr = "127.0.0.1:7".parse().unwrap();
        let v6: SocketAddr = "[::1]:7".parse().unwrap();
        assert_eq!(lookup("127.0.0.1", 7, Family::Any).await.ok(), Some(v4));
        assert_eq!(lookup("127.0.0.1", 7, Family::V4).await.ok(), Some(v4));
        assert_eq!(lookup("::1", 7, Family::V6).await.ok(), Some(v6));
        let err = lookup("127.0.0.1", 7, Family::V6).await.err().unwrap();
        assert_eq!(err.to_string(), "cannot resolve 127.0.0.1: no IPv6 address");
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        let err = lookup("::1", 7, Family::V4).await.err().unwrap();
        assert_eq!(err.to_string(), "cannot resolve ::1: no IPv4 address");
    }
}
