//! Making the UDP socket: [`SocketOptions`], [`bind_udp`] and
//! [`configure`], and the address-family rules of a socket
//! ([`canonical`], [`remote_for`], [`pick_remote`]).
//!
//! Dual stack: an IPv6 socket bound to `[::]` with `IPV6_V6ONLY` off also
//! carries IPv4, its IPv4 peers appearing as v4-mapped addresses
//! (`::ffff:a.b.c.d`). The endpoint keys such peers by their mapped
//! address (the form the socket reports them in and sends to); the
//! application sees them as plain IPv4 addresses ([`canonical`]) and may
//! connect to plain IPv4 addresses ([`remote_for`] maps them).

use std::io;
use std::net::{SocketAddr, SocketAddrV6, ToSocketAddrs, UdpSocket};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// How [`bind_udp`] makes a socket and [`configure`] adjusts one: held in
/// [`DriverConfig::socket`](crate::DriverConfig::socket).
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SocketOptions {
    /// The socket's receive buffer (`SO_RCVBUF`), in bytes; `None` keeps
    /// the system's default. Default 4 MiB: Linux's default (208 KiB)
    /// overflows when a fast sender's burst arrives while the loop is busy,
    /// and every datagram dropped there costs a retransmission. The kernel
    /// caps what it grants at `net.core.rmem_max` (and reports twice the
    /// grant, counting its bookkeeping): see what the socket got with the
    /// adapter's `recv_buffer_size()`, and raise the cap
    /// (`sysctl net.core.rmem_max=8388608`) where it is lower.
    pub recv_buffer: Option<usize>,
    /// The socket's send buffer (`SO_SNDBUF`), in bytes; `None` (the
    /// default) keeps the system's default, which suffices: a full send
    /// buffer makes sends wait (`WouldBlock`), it loses nothing. Capped by
    /// `net.core.wmem_max`.
    pub send_buffer: Option<usize>,
    /// `IPV6_V6ONLY` for IPv6 sockets. `None` (the default) makes
    /// [`bind_udp`] turn it off where the system allows, so a socket bound
    /// to `[::]` also reaches and is reached by IPv4 peers (seen as plain
    /// IPv4 addresses by the application); [`configure`] then leaves a
    /// given socket as it is. `Some(v)`: [`bind_udp`] sets `v` (and fails
    /// if it cannot); [`configure`] fails with `InvalidInput` if the socket
    /// differs, since the option cannot change once a socket is bound.
    pub only_v6: Option<bool>,
    /// Read the errors the network reports for datagrams sent (Linux:
    /// `IP_RECVERR`/`IPV6_RECVERR` and the socket's error queue): an ICMP
    /// "port unreachable" ends a connection attempt to that address at
    /// once with `ConnectionRefused` (rather than after
    /// [`Config::connect_timeout`](utp_core::Config::connect_timeout)), and
    /// "fragmentation needed" / "packet too big" lowers the packet size to
    /// that peer ([`Endpoint::handle_packet_too_big`](utp_core::Endpoint::handle_packet_too_big)).
    /// Established connections ignore "port unreachable": see
    /// [`Endpoint::handle_unreachable`](utp_core::Endpoint::handle_unreachable).
    /// Default `true` on Linux; ignored elsewhere (other systems do not
    /// report these errors on unconnected UDP sockets).
    ///
    /// With it on, a send on the socket may fail with the error an earlier
    /// datagram caused (to any peer); the adapters' `send_foreign` retries
    /// once then, so a datagram is only lost to an error that concerns it.
    pub icmp_errors: bool,
    /// `SO_REUSEPORT` before the bind (Unix), so that several sockets,
    /// each with it, share one address: Linux then spreads incoming
    /// datagrams over them by a hash of the source and destination
    /// addresses and ports, so each remote `IP:port` always reaches the
    /// same one of them (until a socket joins or leaves the group). What
    /// utp-tokio's `ShardedListener` binds its shards with. Default
    /// `false`; `true` fails the bind with `Unsupported` off Unix.
    /// [`configure`] ignores it (it matters only at the bind).
    pub reuse_port: bool,
}

/// [`SocketOptions::recv_buffer`]'s default.
const RECV_BUFFER: usize = 4 << 20;

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            recv_buffer: Some(RECV_BUFFER),
            send_buffer: None,
            only_v6: None,
            icmp_errors: cfg!(target_os = "linux"),
            reuse_port: false,
        }
    }
}

/// Binds a non-blocking UDP socket to the first of `addrs` that works,
/// with `options` applied (buffer sizes and `IPV6_V6ONLY` before the
/// bind). Every adapter's `bind` makes its socket here.
pub fn bind_udp(addrs: impl ToSocketAddrs, options: &SocketOptions) -> io::Result<UdpSocket> {
    let mut last = None;
    for addr in addrs.to_socket_addrs()? {
        match bind_one(addr, options) {
            Ok(socket) => return Ok(socket),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

fn bind_one(addr: SocketAddr, options: &SocketOptions) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        match options.only_v6 {
            Some(only) => socket.set_only_v6(only)?,
            // Dual stack where the system has it; IPv6 only where not.
            None => drop(socket.set_only_v6(false)),
        }
    }
    set_buffers(&socket, options)?;
    if options.reuse_port {
        set_reuse_port(&socket)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    crate::errqueue::enable(&socket, addr.is_ipv6(), options.icmp_errors)?;
    Ok(socket.into())
}

/// Applies `options` to a socket bound already (an adapter's `from_std`):
/// buffer sizes and ICMP errors; `only_v6`, which cannot change after the
/// bind, is only checked. Blocking mode is left to the adapter.
///
/// Takes any socket that [`SockRef`] takes: a `std::net::UdpSocket`,
/// tokio's, mio's.
pub fn configure<'s, S>(socket: &'s S, options: &SocketOptions) -> io::Result<()>
where
    SockRef<'s>: From<&'s S>,
{
    let s = SockRef::from(socket);
    if let Some(only) = options.only_v6 {
        if is_v6(&s) && s.only_v6()? != only {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the socket's IPV6_V6ONLY is not {only}, and cannot change once it is bound"
                ),
            ));
        }
    }
    set_buffers(&s, options)?;
    crate::errqueue::enable(&s, is_v6(&s), options.icmp_errors)
}

#[cfg(unix)]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(unix))]
fn set_reuse_port(_: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "SO_REUSEPORT exists only on Unix",
    ))
}

fn is_v6(socket: &Socket) -> bool {
    socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .is_some_and(|a| a.is_ipv6())
}

fn set_buffers(socket: &Socket, options: &SocketOptions) -> io::Result<()> {
    if let Some(size) = options.recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(size) = options.send_buffer {
        socket.set_send_buffer_size(size)?;
    }
    Ok(())
}

/// The receive and send buffer sizes of `socket` as the system reports
/// them (Linux: twice the bytes granted, counting its bookkeeping).
pub fn buffer_sizes<'s, S>(socket: &'s S) -> io::Result<(usize, usize)>
where
    SockRef<'s>: From<&'s S>,
{
    let s = SockRef::from(socket);
    Ok((s.recv_buffer_size()?, s.send_buffer_size()?))
}

/// How full `socket`'s receive buffer is: Linux's `SO_MEMINFO` (what
/// the adapters return from
/// [`DatagramSocket::recv_queue`](crate::DatagramSocket::recv_queue));
/// `None` elsewhere or if the system does not say.
pub fn recv_queue<'s, S>(socket: &'s S) -> Option<crate::RecvQueue>
where
    SockRef<'s>: From<&'s S>,
{
    #[cfg(target_os = "linux")]
    {
        meminfo::recv_queue(&SockRef::from(socket))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        None
    }
}

#[cfg(target_os = "linux")]
mod meminfo {
    use nix::libc;
    use nix::{getsockopt_impl, sockopt_impl};
    use socket2::SockRef;

    // The first eight of the kernel's `SK_MEMINFO_*` counters: every
    // kernel with the option has at least these, so it always fills the
    // whole array (nix checks the length it reports).
    sockopt_impl!(
        MemInfo,
        GetOnly,
        libc::SOL_SOCKET,
        libc::SO_MEMINFO,
        [u32; 8]
    );

    pub(super) fn recv_queue(socket: &SockRef<'_>) -> Option<crate::RecvQueue> {
        let info = nix::sys::socket::getsockopt(&**socket, MemInfo).ok()?;
        let at = |i: libc::c_int| {
            usize::try_from(i)
                .ok()
                .and_then(|i| info.get(i))
                .map(|&v| v as usize)
        };
        Some(crate::RecvQueue {
            queued: at(libc::SK_MEMINFO_RMEM_ALLOC)?,
            capacity: at(libc::SK_MEMINFO_RCVBUF)?,
        })
    }
}

/// Whether `socket` is an IPv6 socket that also carries IPv4
/// (`IPV6_V6ONLY` off): what adapters return from
/// [`DatagramSocket::dual_stack`](crate::DatagramSocket::dual_stack).
pub fn is_dual_stack<'s, S>(socket: &'s S) -> bool
where
    SockRef<'s>: From<&'s S>,
{
    let s = SockRef::from(socket);
    is_v6(&s) && s.only_v6().is_ok_and(|only| !only)
}

/// `addr` as the application should see it: a v4-mapped IPv6 address
/// (`[::ffff:a.b.c.d]:p`, how a dual-stack socket reports an IPv4 peer)
/// becomes the IPv4 address `a.b.c.d:p`; others are unchanged.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// The address under which a socket bound to `local` reaches `remote`:
/// an IPv4 `remote` from a dual-stack IPv6 socket becomes its v4-mapped
/// address, a v4-mapped `remote` from an IPv4 socket its IPv4 address;
/// `InvalidInput` when the families cannot meet.
pub fn remote_for(
    local: SocketAddr,
    dual_stack: bool,
    remote: SocketAddr,
) -> io::Result<SocketAddr> {
    match (local, remote) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => Ok(remote),
        (SocketAddr::V6(_), SocketAddr::V6(_)) => Ok(remote),
        (SocketAddr::V6(_), SocketAddr::V4(v4)) if dual_stack => Ok(SocketAddr::V6(
            SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
        )),
        (SocketAddr::V4(_), SocketAddr::V6(_)) if canonical(remote).is_ipv4() => {
            Ok(canonical(remote))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot reach {remote} from a socket bound to {local}"),
        )),
    }
}

/// The first of `candidates` (resolved addresses of a peer) that a socket
/// bound to `local` can reach (see [`remote_for`]), unchanged; an
/// `InvalidInput` error naming the socket's family when none is.
pub fn pick_remote(
    local: SocketAddr,
    dual_stack: bool,
    candidates: impl IntoIterator<Item = SocketAddr>,
) -> io::Result<SocketAddr> {
    let mut seen = 0;
    for remote in candidates {
        seen += 1;
        if remote_for(local, dual_stack, remote).is_ok() {
            return Ok(remote);
        }
    }
    let family = match (local, dual_stack) {
        (SocketAddr::V4(_), _) => "IPv4",
        (SocketAddr::V6(_), false) => "IPv6",
        (SocketAddr::V6(_), true) => "IPv4 or IPv6",
    };
    let message = match seen {
        0 => "the address resolved to nothing".to_string(),
        n => format!(
            "none of the {n} resolved addresses is {family}, as the socket bound to {local} needs"
        ),
    };
    Err(io::Error::new(io::ErrorKind::InvalidInput, message))
}

/// For `send_foreign` on a socket with ICMP errors on: whether a failed
/// send may have reported an error another datagram caused (Linux hands
/// a queued ICMP error to the next call on the socket), so one retry is
/// worth it. A send that fails for its own sake fails again.
pub fn may_be_deferred(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    ) || error
        .raw_os_error()
        .is_some_and(|code| DEFERRED_CODES.contains(&code))
}

/// errno values ICMP errors set on Linux beyond the kinds above:
/// EMSGSIZE (fragmentation needed), EPROTO (parameter problem).
#[cfg(target_os = "linux")]
const DEFERRED_CODES: [i32; 2] = [nix::libc::EMSGSIZE, nix::libc::EPROTO];
#[cfg(not(target_os = "linux"))]
const DEFERRED_CODES: [i32; 0] = [];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn canonical_unmaps_only_mapped_addresses() {
        assert_eq!(canonical(a("[::ffff:127.0.0.1]:5")), a("127.0.0.1:5"));
        assert_eq!(canonical(a("[::1]:5")), a("[::1]:5"));
        assert_eq!(canonical(a("10.0.0.1:5")), a("10.0.0.1:5"));
    }

    #[test]
    fn families_meet_as_the_socket_allows() {
        let v4 = a("0.0.0.0:1");
        let v6 = a("[::]:1");
        assert_eq!(
            remote_for(v6, true, a("1.2.3.4:5")).unwrap(),
            a("[::ffff:1.2.3.4]:5")
        );
        assert!(remote_for(v6, false, a("1.2.3.4:5")).is_err());
        assert_eq!(
            remote_for(v4, false, a("[::ffff:1.2.3.4]:5")).unwrap(),
            a("1.2.3.4:5")
        );
        assert!(remote_for(v4, false, a("[::1]:5")).is_err());
        assert_eq!(
            pick_remote(v4, false, [a("[::1]:5"), a("127.0.0.1:5")]).unwrap(),
            a("127.0.0.1:5")
        );
        let err = pick_remote(v6, false, [a("127.0.0.1:5")]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
