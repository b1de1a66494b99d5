//! Router port mapping (feature `port-mapping`): ask the gateway for a
//! public port that forwards to a socket's UDP port. PCP (RFC 6887) first,
//! NAT-PMP (RFC 6886) when the gateway answers that it speaks only the
//! older protocol (both through the crate `crab_nat`), and UPnP IGD
//! (through `igd-next`, its search sent to the gateway's SSDP port) when
//! neither answers. The mapping is renewed at half its lifetime while the
//! [`PortMap`] lives, and removed by [`PortMap::remove`] (or, on drop, by a
//! task spawned for it).
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use std::time::Duration;
//! use utp_tokio::portmap::{default_gateway, map_port};
//! use utp_tokio::UtpSocket;
//!
//! let socket = UtpSocket::bind("0.0.0.0:6881").await?;
//! let gateway = default_gateway().expect("a default route");
//! let map = map_port(&socket, gateway, Duration::from_secs(3600)).await?;
//! println!("reachable at {} ({:?})", map.public_addr(), map.protocol());
//! // ... accept connections ...
//! map.remove().await?;
//! # Ok(()) }
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use crab_nat::{natpmp, InternetProtocol, PortMapping, PortMappingOptions, PortMappingType};
use crab_nat::{TimeoutConfig, GATEWAY_PORT};
use igd_next::aio::tokio::Tokio;
use igd_next::PortMappingProtocol;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::UtpSocket;

/// How long each PCP or NAT-PMP request waits for the gateway: 250 ms,
/// doubled on each of 3 retries (3.75 s in all; RFC 6886's 9 retries
/// would take two minutes to give up on a gateway without NAT-PMP).
const TIMEOUTS: TimeoutConfig = TimeoutConfig {
    initial_timeout: Duration::from_millis(250),
    max_retries: 3,
    max_retry_timeout: None,
};

/// How long the UPnP search waits for the gateway's answer.
const UPNP_SEARCH: Duration = Duration::from_secs(3);

/// After a failed renewal, how long until the next try.
const RENEW_RETRY: Duration = Duration::from_secs(10);

/// The description UPnP mappings carry.
const DESCRIPTION: &str = "uTP (utp-tokio)";

/// Which protocol granted a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// PCP, RFC 6887.
    Pcp,
    /// NAT-PMP, RFC 6886.
    NatPmp,
    /// UPnP IGD (WANIPConnection's AddPortMapping).
    Upnp,
}

impl Protocol {
    /// Its usual name: `PCP`, `NAT-PMP`, `UPnP`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Pcp => "PCP",
            Protocol::NatPmp => "NAT-PMP",
            Protocol::Upnp => "UPnP",
        }
    }
}

/// A mapping the gateway granted, as each protocol keeps it.
#[derive(Clone, Debug)]
enum Grant {
    PcpOrNatPmp(PortMapping),
    Upnp {
        gateway: igd_next::aio::Gateway<Tokio>,
        external: u16,
        internal: SocketAddr,
        lifetime: u32,
    },
}

impl Grant {
    fn lifetime(&self) -> Duration {
        Duration::from_secs(u64::from(match self {
            Grant::PcpOrNatPmp(m) => m.lifetime(),
            Grant::Upnp { lifetime, .. } => *lifetime,
        }))
    }

    async fn renew(&mut self) -> io::Result<()> {
        match self {
            Grant::PcpOrNatPmp(m) => m.renew().await.map_err(failure),
            // AddPortMapping again with the same values refreshes the lease.
            Grant::Upnp {
                gateway,
                external,
                internal,
                lifetime,
            } => gateway
                .add_port(
                    PortMappingProtocol::UDP,
                    *external,
                    *internal,
                    *lifetime,
                    DESCRIPTION,
                )
                .await
                .map_err(|e| io::Error::other(format!("UPnP: {e}"))),
        }
    }

    async fn remove(self) -> io::Result<()> {
        match self {
            Grant::PcpOrNatPmp(m) => m
                .try_drop()
                .await
                .map_err(|(e, _)| io::Error::other(format!("removing the mapping: {e}"))),
            Grant::Upnp {
                gateway, external, ..
            } => gateway
                .remove_port(PortMappingProtocol::UDP, external)
                .await
                .map_err(|e| io::Error::other(format!("removing the UPnP mapping: {e}"))),
        }
    }
}

/// A port mapping on the gateway, renewed while this lives.
#[derive(Debug)]
pub struct PortMap {
    public: SocketAddr,
    protocol: Protocol,
    lifetime: Duration,
    stop: Arc<Notify>,
    /// Renews until stopped, then hands the grant back.
    renewer: Option<JoinHandle<Grant>>,
}

impl PortMap {
    /// The public address the gateway forwards to the socket.
    pub fn public_addr(&self) -> SocketAddr {
        self.public
    }

    /// The protocol that granted the mapping.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The lifetime the gateway granted (renewed at half of it).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Stops renewing and asks the gateway to remove the mapping.
    pub async fn remove(mut self) -> io::Result<()> {
        self.stop.notify_one();
        match self.renewer.take() {
            Some(renewer) => match renewer.await {
                Ok(grant) => grant.remove().await,
                Err(e) => Err(io::Error::other(e)),
            },
            None => Ok(()),
        }
    }
}

impl Drop for PortMap {
    fn drop(&mut self) {
        self.stop.notify_one();
        // Best effort: the gateway's lifetime ends the mapping otherwise.
        if let (Some(renewer), Ok(runtime)) =
            (self.renewer.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                if let Ok(grant) = renewer.await {
                    let _ = grant.remove().await;
                }
            });
        }
    }
}

/// The IPv4 default gateway from the kernel's routing table
/// (`/proc/net/route`; Linux only, `None` elsewhere or without a default
/// route).
pub fn default_gateway() -> Option<IpAddr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags ...: destination 0, flag RTF_GATEWAY.
        let (dest, gateway, flags) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
        let flags = u16::from_str_radix(flags, 16).ok()?;
        if *dest != "00000000" || flags & 0x2 == 0 {
            return None;
        }
        // Little-endian hex of the address.
        let raw = u32::from_str_radix(gateway, 16).ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(raw.to_le_bytes())))
    })
}

/// Asks `gateway` for a public UDP port forwarding to `socket`'s port (the
/// same port number, if free), for `lifetime` (the gateway may grant
/// another): PCP, else NAT-PMP, else UPnP IGD. Errors: `TimedOut` when
/// the gateway answers none of them, `InvalidInput` for a socket on port 0,
/// otherwise what the last protocol tried said.
pub async fn map_port(
    socket: &UtpSocket,
    gateway: IpAddr,
    lifetime: Duration,
) -> io::Result<PortMap> {
    let local = socket.local_addr()?;
    let port = NonZeroU16::new(local.port())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the socket has no port"))?;
    // The address the gateway sees us at (PCP and UPnP put it in the request).
    let client = {
        let probe = tokio::net::UdpSocket::bind(match gateway {
            IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        })
        .await?;
        probe.connect((gateway, GATEWAY_PORT)).await?;
        probe.local_addr()?.ip()
    };
    let seconds = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX).max(1);
    let (grant, protocol, public) = match pcp_or_natpmp(gateway, client, port, seconds).await {
        Ok(granted) => granted,
        Err(pcp_error) => match upnp(gateway, SocketAddr::new(client, port.get()), seconds).await {
            Ok(granted) => granted,
            Err(upnp_error) => {
                let kind = match (pcp_error.kind(), upnp_error.kind()) {
                    (io::ErrorKind::TimedOut, io::ErrorKind::TimedOut) => io::ErrorKind::TimedOut,
                    (_, kind) => kind,
                };
                return Err(io::Error::new(kind, format!("{pcp_error}; {upnp_error}")));
            }
        },
    };
    let granted = grant.lifetime();
    let stop = Arc::new(Notify::new());
    let renewer = tokio::spawn(renew(grant, Arc::clone(&stop)));
    Ok(PortMap {
        public,
        protocol,
        lifetime: granted,
        stop,
        renewer: Some(renewer),
    })
}

async fn pcp_or_natpmp(
    gateway: IpAddr,
    client: IpAddr,
    port: NonZeroU16,
    seconds: u32,
) -> io::Result<(Grant, Protocol, SocketAddr)> {
    let options = PortMappingOptions {
        external_port: Some(port),
        lifetime_seconds: Some(seconds),
        timeout_config: Some(TIMEOUTS),
    };
    let mapping = PortMapping::new(gateway, client, InternetProtocol::Udp, port, options)
        .await
        .map_err(failure)?;
    let (protocol, public_ip) = match mapping.mapping_type() {
        PortMappingType::Pcp { external_ip, .. } => (Protocol::Pcp, external_ip),
        PortMappingType::NatPmp => (
            Protocol::NatPmp,
            IpAddr::V4(
                natpmp::external_address(gateway, Some(TIMEOUTS))
                    .await
                    .map_err(|e| failure(e.into()))?,
            ),
        ),
    };
    let public = SocketAddr::new(public_ip, mapping.external_port().get());
    Ok((Grant::PcpOrNatPmp(mapping), protocol, public))
}

async fn upnp(
    gateway: IpAddr,
    internal: SocketAddr,
    seconds: u32,
) -> io::Result<(Grant, Protocol, SocketAddr)> {
    let mut options = igd_next::SearchOptions::default();
    // Unicast to the gateway (UPnP 1.1 devices answer it): no multicast, no
    // answer from another device.
    options.broadcast_address = SocketAddr::new(gateway, 1900);
    options.timeout = Some(UPNP_SEARCH);
    options.single_search_timeout = Some(UPNP_SEARCH);
    let found = igd_next::aio::tokio::search_gateway(options)
        .await
        .map_err(|e| match e {
            igd_next::SearchError::NoResponseWithinTimeout => {
                io::Error::new(io::ErrorKind::TimedOut, "UPnP: the gateway did not answer")
            }
            e => io::Error::other(format!("UPnP: {e}")),
        })?;
    let external = internal.port();
    found
        .add_port(
            PortMappingProtocol::UDP,
            external,
            internal,
            seconds,
            DESCRIPTION,
        )
        .await
        .map_err(|e| io::Error::other(format!("UPnP: {e}")))?;
    let ip = found
        .get_external_ip()
        .await
        .map_err(|e| io::Error::other(format!("UPnP: {e}")))?;
    let grant = Grant::Upnp {
        gateway: found,
        external,
        internal,
        lifetime: seconds,
    };
    Ok((grant, Protocol::Upnp, SocketAddr::new(ip, external)))
}

/// Renews `grant` at half its lifetime until stopped; hands it back then.
async fn renew(mut grant: Grant, stop: Arc<Notify>) -> Grant {
    let half = |g: &Grant| (g.lifetime() / 2).max(Duration::from_secs(1));
    let mut wait = half(&grant);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.notified() => return grant,
        }
        // The old grant stays if renewing fails.
        let mut next = grant.clone();
        wait = match next.renew().await {
            Ok(()) => {
                grant = next;
                half(&grant)
            }
            Err(_) => RENEW_RETRY,
        };
    }
}

/// A PCP or NAT-PMP failure as an io error of the matching kind.
fn failure(e: crab_nat::MappingFailure) -> io::Error {
    use crab_nat::{pcp, MappingFailure};
    let kind = match &e {
        MappingFailure::NatPmp(natpmp::Failure::Timeout)
        | MappingFailure::Pcp(pcp::Failure::Timeout) => io::ErrorKind::TimedOut,
        MappingFailure::NatPmp(natpmp::Failure::NotAuthorized)
        | MappingFailure::Pcp(pcp::Failure::NotAuthorized(_)) => io::ErrorKind::PermissionDenied,
        MappingFailure::NatPmp(natpmp::Failure::Socket(e))
        | MappingFailure::Pcp(pcp::Failure::Socket(e)) => e.kind(),
        _ => io::ErrorKind::Unsupported,
    };
    io::Error::new(kind, format!("port mapping: {e}"))
}
