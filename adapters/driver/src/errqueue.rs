//! Errors the network reports for datagrams sent: [`SocketError`], read
//! from the socket's error queue on Linux ([`ErrorQueue`]).
//!
//! With `IP_RECVERR` (and `IPV6_RECVERR`) set, Linux queues every ICMP
//! error that comes back for a datagram of an unconnected UDP socket, with
//! the datagram's destination, and signals it three ways: the socket polls
//! as `POLLERR` while the queue is not empty, and the next receive or send
//! fails once with the error's code. [`Driver::drive`](crate::Driver::drive)
//! reads the queue after such a failure and whenever a turn starts with
//! nothing to receive (a wakeup that was no datagram, which `POLLERR`
//! is); elsewhere nothing is queued and [`ErrorQueue::recv`] returns
//! `Ok(None)`.

use std::io;
use std::net::SocketAddr;
#[cfg(target_os = "linux")]
use std::os::fd::{AsFd, AsRawFd};

/// An error the network reported for a datagram the socket sent.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SocketError {
    /// ICMP "port unreachable": nothing listens at this address.
    PortUnreachable(SocketAddr),
    /// ICMP "fragmentation needed" (IPv4), "packet too big" (IPv6), or
    /// the system's own path MTU: datagrams to `remote` must fit IP
    /// packets of `mtu` bytes.
    PacketTooBig {
        /// The datagram's destination.
        remote: SocketAddr,
        /// The largest IP packet the path takes.
        mtu: usize,
    },
    /// Anything else (host or network unreachable, TTL exceeded, ...):
    /// the protocol's own timers deal with those.
    Other {
        /// The datagram's destination, when the system told it.
        remote: Option<SocketAddr>,
        /// What the error means.
        kind: io::ErrorKind,
    },
}

/// Reads a socket's error queue, when its ICMP errors are on (see
/// [`SocketOptions::icmp_errors`](crate::SocketOptions::icmp_errors)): the
/// glue behind every adapter's
/// [`DatagramSocket::try_recv_error`](crate::DatagramSocket::try_recv_error).
#[derive(Clone, Copy, Debug)]
pub struct ErrorQueue {
    on: bool,
}

impl ErrorQueue {
    /// For `socket`: on when the system queues its errors (Linux, with
    /// `IP_RECVERR` or `IPV6_RECVERR` set, as [`bind_udp`](crate::bind_udp)
    /// and [`configure`](crate::configure) do by default); off otherwise,
    /// and then [`recv`](Self::recv) costs nothing.
    #[cfg(target_os = "linux")]
    pub fn new<S: AsFd>(socket: &S) -> ErrorQueue {
        use nix::sys::socket::{getsockopt, sockopt};
        let fd = socket.as_fd();
        let on = getsockopt(&fd, sockopt::Ipv4RecvErr).unwrap_or(false)
            || getsockopt(&fd, sockopt::Ipv6RecvErr).unwrap_or(false);
        ErrorQueue { on }
    }

    /// Elsewhere: always off.
    #[cfg(not(target_os = "linux"))]
    pub fn new<S>(_socket: &S) -> ErrorQueue {
        ErrorQueue { on: false }
    }

    /// Whether errors are read at all.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The oldest queued error of `socket` (which must be the socket this
    /// was made for), `Ok(None)` when none is queued. Never blocks.
    #[cfg(target_os = "linux")]
    pub fn recv<S: AsFd>(&self, socket: &S) -> io::Result<Option<SocketError>> {
        if !self.on {
            return Ok(None);
        }
        linux::recv(socket.as_fd().as_raw_fd())
    }

    /// Elsewhere: nothing is ever queued.
    #[cfg(not(target_os = "linux"))]
    pub fn recv<S>(&self, _socket: &S) -> io::Result<Option<SocketError>> {
        Ok(None)
    }
}

/// Turns the error queue of `socket` on or off (Linux; elsewhere nothing
/// to do). An IPv6 socket gets both options: `IP_RECVERR` covers the IPv4
/// peers of a dual-stack socket.
#[cfg(target_os = "linux")]
pub(crate) fn enable(socket: &socket2::Socket, v6: bool, on: bool) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(socket, sockopt::Ipv4RecvErr, &on).or_else(|e| match v6 {
        // An IPv6-only socket may refuse the IPv4 option.
        true => Ok(()),
        false => Err(e),
    })?;
    if v6 {
        setsockopt(socket, sockopt::Ipv6RecvErr, &on)?;
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn enable(_socket: &socket2::Socket, _v6: bool, _on: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, IoSliceMut};
    use std::net::SocketAddr;
    use std::os::fd::RawFd;

    use nix::errno::Errno;
    use nix::libc;
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};

    use super::SocketError;

    /// One entry of the error queue of `fd`.
    pub(super) fn recv(fd: RawFd) -> io::Result<Option<SocketError>> {
        // The queue hands back the start of the datagram too: not needed.
        let mut data = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut data)];
        // Room for the error with its offender's address, and for what
        // else the socket asks for on every datagram (quinn-udp sets
        // packet info and TOS), or the error is cut off.
        let mut control = nix::cmsg_space!(
            libc::sock_extended_err,
            libc::sockaddr_in6,
            libc::in6_pktinfo,
            libc::in_pktinfo,
            u64,
            u64,
            u64,
            u64
        );
        let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
        let msg = loop {
            match recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut control), flags) {
                Ok(msg) => break msg,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        };
        let remote = msg.address.as_ref().and_then(socket_addr);
        let mut extended = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                match cmsg {
                    ControlMessageOwned::Ipv4RecvErr(ee, _)
                    | ControlMessageOwned::Ipv6RecvErr(ee, _) => extended = Some(ee),
                    _ => {}
                }
            }
        }
        let Some(ee) = extended else {
            // An entry without its description: nothing to act on.
            return Ok(Some(SocketError::Other {
                remote,
                kind: io::ErrorKind::Other,
            }));
        };
        Ok(Some(classify(&ee, remote)))
    }

    fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = a.as_sockaddr_in() {
            return Some(SocketAddr::V4((*v4).into()));
        }
        a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
    }

    /// ICMP types and codes (RFC 792, RFC 4443).
    const ICMP_DEST_UNREACH: u8 = 3;
    const ICMP_PORT_UNREACH: u8 = 3;
    const ICMP6_DST_UNREACH: u8 = 1;
    const ICMP6_PORT_UNREACH: u8 = 4;

    fn classify(ee: &libc::sock_extended_err, remote: Option<SocketAddr>) -> SocketError {
        let origin = ee.ee_origin;
        let port_unreachable = (origin == libc::SO_EE_ORIGIN_ICMP
            && ee.ee_type == ICMP_DEST_UNREACH
            && ee.ee_code == ICMP_PORT_UNREACH)
            || (origin == libc::SO_EE_ORIGIN_ICMP6
                && ee.ee_type == ICMP6_DST_UNREACH
                && ee.ee_code == ICMP6_PORT_UNREACH);
        let errno = i32::try_from(ee.ee_errno).unwrap_or(0);
        match remote {
            Some(remote) if port_unreachable => SocketError::PortUnreachable(remote),
            // ICMP "fragmentation needed" / "packet too big", or the
            // kernel's own check against the path MTU it knows: the MTU is
            // in ee_info.
            Some(remote) if errno == libc::EMSGSIZE && ee.ee_info > 0 => {
                SocketError::PacketTooBig {
                    remote,
                    mtu: ee.ee_info as usize,
                }
            }
            _ => SocketError::Other {
                remote,
                kind: io::Error::from_raw_os_error(errno).kind(),
            },
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]
        use super::*;

        fn ee(origin: u8, ty: u8, code: u8, errno: i32, info: u32) -> libc::sock_extended_err {
            libc::sock_extended_err {
                ee_errno: errno as u32,
                ee_origin: origin,
                ee_type: ty,
                ee_code: code,
                ee_pad: 0,
                ee_info: info,
                ee_data: 0,
            }
        }

        #[test]
        fn icmp_errors_are_classified() {
            let to: SocketAddr = "192.0.2.1:6881".parse().unwrap();
            let refused = ee(libc::SO_EE_ORIGIN_ICMP, 3, 3, libc::ECONNREFUSED, 0);
            assert_eq!(
                classify(&refused, Some(to)),
                SocketError::PortUnreachable(to)
            );
            let refused6 = ee(libc::SO_EE_ORIGIN_ICMP6, 1, 4, libc::ECONNREFUSED, 0);
            assert_eq!(
                classify(&refused6, Some(to)),
                SocketError::PortUnreachable(to)
            );
            let frag = ee(libc::SO_EE_ORIGIN_ICMP, 3, 4, libc::EMSGSIZE, 1400);
            assert_eq!(
                classify(&frag, Some(to)),
                SocketError::PacketTooBig {
                    remote: to,
                    mtu: 1400
                }
            );
            let local = ee(libc::SO_EE_ORIGIN_LOCAL, 0, 0, libc::EMSGSIZE, 1280);
            assert!(matches!(
                classify(&local, Some(to)),
                SocketError::PacketTooBig { mtu: 1280, .. }
            ));
            let host = ee(libc::SO_EE_ORIGIN_ICMP, 3, 1, libc::EHOSTUNREACH, 0);
            assert_eq!(
                classify(&host, Some(to)),
                SocketError::Other {
                    remote: Some(to),
                    kind: io::ErrorKind::HostUnreachable
                }
            );
        }
    }
}
