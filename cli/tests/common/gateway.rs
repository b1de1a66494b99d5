//! A gateway's port-mapping service for the NAT lab, written from the
//! RFCs: PCP's MAP opcode (RFC 6887) and NAT-PMP (RFC 6886) on UDP 5351 of
//! a NAT namespace's lan address, or UPnP IGD (`upnp.rs`: SSDP on UDP 1900,
//! HTTP on 5000). A mapping it grants is installed as an nft DNAT rule in
//! the NAT's `ip nat pre` chain (the lab's forward chain lets DNAT'd flows
//! in); a lifetime of 0 (or DeletePortMapping) removes it. Speaking only
//! NAT-PMP, it answers PCP requests "unsupported version" in NAT-PMP's
//! format, so clients fall back; speaking only UPnP, nothing listens on
//! 5351.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::netns::run;
use super::upnp::{serve_http, ssdp_answer, Action, HTTP_PORT};

/// The protocol the gateway speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Speaks {
    /// PCP and NAT-PMP.
    Pcp,
    /// NAT-PMP only.
    NatPmp,
    /// UPnP IGD only.
    Upnp,
}

/// What the gateway did, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// Granted (or renewed) a UDP mapping: external port → internal
    /// address, for this many seconds, by this protocol.
    Map {
        by: Speaks,
        external: u16,
        internal: SocketAddr,
        lifetime: u32,
    },
    /// Removed the mapping of this external port.
    Unmap { external: u16 },
    /// Answered a PCP request "unsupported version".
    RefusedPcp,
}

/// A running gateway service; stopped on drop.
pub(crate) struct Gateway {
    events: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Serves on `lan:5351` inside namespace `ns`, telling clients the
    /// public address `public`; every mapping gets `lifetime` seconds
    /// whatever was asked.
    pub(crate) fn start(
        ns: &str,
        lan: Ipv4Addr,
        public: Ipv4Addr,
        speaks: Speaks,
        lifetime: u32,
    ) -> Gateway {
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (ev, st, ns) = (Arc::clone(&events), Arc::clone(&stop), ns.to_string());
        let thread = std::thread::spawn(move || {
            // This thread, and the sockets it opens, join the NAT's network.
            let netns = File::open(format!("/var/run/netns/{ns}")).unwrap();
            nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let record = |e: Event| {
                install(&ns, &e);
                ev.lock().unwrap().push(e);
            };
            let started = Instant::now();
            let mut buf = [0u8; 1100];
            if speaks == Speaks::Upnp {
                let ssdp = UdpSocket::bind((lan, 1900)).unwrap();
                let http = TcpListener::bind((lan, HTTP_PORT)).unwrap();
                ssdp.set_nonblocking(true).unwrap();
                http.set_nonblocking(true).unwrap();
                ready_tx.send(()).unwrap();
                while !st.load(Ordering::Relaxed) {
                    let mut idle = true;
                    if let Ok((n, from)) = ssdp.recv_from(&mut buf) {
                        idle = false;
                        if let Some(reply) = ssdp_answer(&buf[..n], lan) {
                            let _ = ssdp.send_to(&reply, from);
                        }
                    }
                    if let Ok((stream, _)) = http.accept() {
                        idle = false;
                        let _ = stream.set_nonblocking(false);
                        serve_http(stream, public, |action| {
                            record(match action {
                                Action::Add {
                                    external,
                                    internal,
                                    lease,
                                } => Event::Map {
                                    by: Speaks::Upnp,
                                    external,
                                    internal,
                                    lifetime: lease,
                                },
                                Action::Delete { external } => Event::Unmap { external },
                            });
                            true
                        });
                    }
                    if idle {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                return;
            }
            let socket = UdpSocket::bind((lan, 5351)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            ready_tx.send(()).unwrap();
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let epoch = u32::try_from(started.elapsed().as_secs()).unwrap_or(u32::MAX);
                let SocketAddr::V4(from4) = from else {
                    continue;
                };
                let pcp = speaks == Speaks::Pcp;
                let reply = answer(&buf[..n], *from4.ip(), public, pcp, lifetime, epoch, record);
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the gateway service did not start");
        Gateway {
            events,
            stop,
            thread: Some(thread),
        }
    }

    /// What it did so far.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Puts `event` into the NAT's rules.
fn install(ns: &str, event: &Event) {
    match event {
        Event::Map {
            external, internal, ..
        } => {
            // A renewal replaces the rule.
            run(&[
                "ip", "netns", "exec", ns, "nft", "flush", "chain", "ip", "nat", "pre",
            ])
            .unwrap();
            let rule = format!("iifname \"wan\" udp dport {external} dnat to {internal}");
            let mut args = vec![
                "ip", "netns", "exec", ns, "nft", "add", "rule", "ip", "nat", "pre",
            ];
            args.extend(rule.split(' '));
            run(&args).unwrap();
        }
        Event::Unmap { .. } => {
            run(&[
                "ip", "netns", "exec", ns, "nft", "flush", "chain", "ip", "nat", "pre",
            ])
            .unwrap();
        }
        Event::RefusedPcp => {}
    }
}

/// The answer to `request` from `client`, reporting what it grants.
fn answer(
    request: &[u8],
    client: Ipv4Addr,
    public: Ipv4Addr,
    pcp: bool,
    lifetime: u32,
    epoch: u32,
    mut report: impl FnMut(Event),
) -> Option<Vec<u8>> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*request.get(i)?, *request.get(i + 1)?]));
    let u32_at = |i: usize| {
        Some(u32::from_be_bytes([
            *request.get(i)?,
            *request.get(i + 1)?,
            *request.get(i + 2)?,
            *request.get(i + 3)?,
        ]))
    };
    let version = *request.first()?;
    let opcode = *request.get(1)?;
    match version {
        // NAT-PMP (RFC 6886 section 3).
        0 => match opcode {
            // External address: version, 128 + op, result, epoch, address.
            0 => {
                let mut r = vec![0, 128, 0, 0];
                r.extend_from_slice(&epoch.to_be_bytes());
                r.extend_from_slice(&public.octets());
                Some(r)
            }
            // Map UDP: reserved, internal port, suggested external port, lifetime.
            1 if request.len() >= 12 => {
                let internal = u16_at(4)?;
                let suggested = u16_at(6)?;
                let asked = u32_at(8)?;
                let external = if suggested == 0 { internal } else { suggested };
                let granted = if asked == 0 { 0 } else { lifetime };
                report(match granted {
                    0 => Event::Unmap { external },
                    _ => Event::Map {
                        by: Speaks::NatPmp,
                        external,
                        internal: SocketAddr::from((client, internal)),
                        lifetime: granted,
                    },
                });
                let mut r = vec![0, 129, 0, 0];
                r.extend_from_slice(&epoch.to_be_bytes());
                r.extend_from_slice(&internal.to_be_bytes());
                r.extend_from_slice(&(if granted == 0 { 0 } else { external }).to_be_bytes());
                r.extend_from_slice(&granted.to_be_bytes());
                Some(r)
            }
            // Unsupported opcode (5).
            _ => {
                let mut r = vec![0, 128 | opcode, 0, 5];
                r.extend_from_slice(&epoch.to_be_bytes());
                Some(r)
            }
        },
        // PCP (RFC 6887 sections 7 and 11): MAP only.
        2 if pcp && opcode == 1 && request.len() >= 60 => {
            let asked = u32_at(4)?;
            let protocol = *request.get(36)?;
            let internal = u16_at(40)?;
            let suggested = u16_at(42)?;
            let external = if suggested == 0 { internal } else { suggested };
            let granted = if asked == 0 { 0 } else { lifetime };
            if protocol == 17 {
                report(match granted {
                    0 => Event::Unmap { external },
                    _ => Event::Map {
                        by: Speaks::Pcp,
                        external,
                        internal: SocketAddr::from((client, internal)),
                        lifetime: granted,
                    },
                });
            }
            // Header: version, R + opcode, reserved, result, lifetime, epoch, 96 reserved bits.
            let mut r = vec![2, 0x81, 0, 0];
            r.extend_from_slice(&granted.to_be_bytes());
            r.extend_from_slice(&epoch.to_be_bytes());
            r.extend_from_slice(&[0; 12]);
            // MAP: the request's nonce, protocol and internal port, then the
            // assigned port and address (IPv4-mapped).
            r.extend_from_slice(request.get(24..40)?);
            r.extend_from_slice(&internal.to_be_bytes());
            r.extend_from_slice(&external.to_be_bytes());
            r.extend_from_slice(&public.to_ipv6_mapped().octets());
            Some(r)
        }
        // Another version (PCP without PCP): NAT-PMP's "unsupported
        // version" (result 1), which tells a PCP client to fall back.
        _ => {
            report(Event::RefusedPcp);
            let mut r = vec![0, 128 | opcode, 0, 1];
            r.extend_from_slice(&epoch.to_be_bytes());
            Some(r)
        }
    }
}
