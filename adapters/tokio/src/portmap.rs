//! Router port mapping (feature `port-mapping`): ask the gateway for a
//! public port that forwards to a socket's UDP port, with PCP (RFC 6887)
//! and, when the gateway answers that it speaks only the older protocol,
//! NAT-PMP (RFC 6886), through the crate `crab_nat`. The mapping is renewed
//! at half its lifetime while the [`PortMap`] lives, and removed by
//! [`PortMap::remove`] (or, on drop, by a task spawned for it).
//!
//! UPnP IGD is not supported.
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
//! println!("reachable at {}", map.public_addr());
//! // ... accept connections ...
//! map.remove().await?;
//! # Ok(()) }
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crab_nat::{natpmp, InternetProtocol, PortMapping, PortMappingOptions, PortMappingType};
use crab_nat::{TimeoutConfig, GATEWAY_PORT};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::UtpSocket;

/// How long each request waits for the gateway: 250 ms, doubled on each
/// of 3 retries (3.75 s in all; RFC 6886's 9 retries would take two
/// minutes to give up on a gateway without NAT-PMP).
const TIMEOUTS: TimeoutConfig = TimeoutConfig {
    initial_timeout: Duration::from_millis(250),
    max_retries: 3,
    max_retry_timeout: None,
};

/// After a failed renewal, how long until the next try.
const RENEW_RETRY: Duration = Duration::from_secs(10);

/// Which protocol granted a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// PCP, RFC 6887.
    Pcp,
    /// NAT-PMP, RFC 6886.
    NatPmp,
}

/// A port mapping on the gateway, renewed while this lives.
#[derive(Debug)]
pub struct PortMap {
    public: SocketAddr,
    protocol: Protocol,
    lifetime: Duration,
    mapping: Arc<Mutex<Option<PortMapping>>>,
    stop: Arc<Notify>,
    renewer: Option<JoinHandle<()>>,
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
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.await;
        }
        let mapping = self
            .mapping
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match mapping {
            Some(mapping) => mapping
                .try_drop()
                .await
                .map_err(|(e, _)| io::Error::other(format!("removing the mapping: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for PortMap {
    fn drop(&mut self) {
        self.stop.notify_one();
        let mapping = self
            .mapping
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Best effort: the gateway's lifetime ends the mapping otherwise.
        if let (Some(mapping), Ok(runtime)) = (mapping, tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                let _ = mapping.try_drop().await;
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

/// Asks `gateway` for a public UDP port forwarding to `socket`'s port, for
/// `lifetime` (the gateway may grant another), trying PCP then NAT-PMP.
/// Errors: `TimedOut` when the gateway does not answer, `Unsupported` or
/// `PermissionDenied` when it refuses, `InvalidInput` for a socket on port
/// 0 or of another family than the gateway.
pub async fn map_port(
    socket: &UtpSocket,
    gateway: IpAddr,
    lifetime: Duration,
) -> io::Result<PortMap> {
    let local = socket.local_addr()?;
    let port = NonZeroU16::new(local.port())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the socket has no port"))?;
    // The address the gateway sees us at (PCP puts it in the request).
    let client = {
        let probe = tokio::net::UdpSocket::bind(match gateway {
            IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            IpAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
        })
        .await?;
        probe.connect((gateway, GATEWAY_PORT)).await?;
        probe.local_addr()?.ip()
    };
    let options = PortMappingOptions {
        external_port: Some(port),
        lifetime_seconds: Some(u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX).max(1)),
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
    let granted = Duration::from_secs(u64::from(mapping.lifetime()));
    let mapping = Arc::new(Mutex::new(Some(mapping)));
    let stop = Arc::new(Notify::new());
    let renewer = tokio::spawn(renew(Arc::clone(&mapping), Arc::clone(&stop), granted));
    Ok(PortMap {
        public,
        protocol,
        lifetime: granted,
        mapping,
        stop,
        renewer: Some(renewer),
    })
}

/// Renews the mapping at half its lifetime until stopped.
async fn renew(slot: Arc<Mutex<Option<PortMapping>>>, stop: Arc<Notify>, lifetime: Duration) {
    let mut wait = (lifetime / 2).max(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.notified() => return,
        }
        let current = slot.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(mut mapping) = current else { return };
        wait = match mapping.renew().await {
            Ok(()) => {
                let next = (Duration::from_secs(u64::from(mapping.lifetime())) / 2)
                    .max(Duration::from_secs(1));
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(mapping);
                next
            }
            Err(_) => RENEW_RETRY,
        };
    }
}

/// A mapping failure as an io error of the matching kind.
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
