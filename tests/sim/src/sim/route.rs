//! Datagrams from hosts to the network and on to hosts: draining a host,
//! routing through links and NATs, delivery.

use super::*;

impl<H: Host> Sim<H> {
    pub(super) fn drain(&mut self, idx: usize) {
        let mut buf = core::mem::take(&mut self.scratch);
        if buf.len() < TRANSMIT_BUF_LEN {
            buf.resize(TRANSMIT_BUF_LEN, 0);
        }
        let now = self.now;
        let mut sent = 0usize;
        let mut cut_off = false;
        while let Some(slot) = self.hosts.get_mut(idx) {
            if sent >= MAX_TRANSMITS_PER_DRAIN {
                cut_off = true;
                break;
            }
            let Some(Transmit {
                to,
                len,
                dont_fragment,
                source,
            }) = slot.host.poll_transmit(now, &mut buf)
            else {
                break;
            };
            let via = slot.addr;
            let from = source.unwrap_or(via);
            let data = buf.get(..len).unwrap_or(buf.as_slice());
            self.route(via, from, to, data, dont_fragment, from != via);
            sent += 1;
        }
        self.scratch = buf;

        let Some(slot) = self.hosts.get_mut(idx) else {
            return;
        };
        slot.dirty = false;
        let want = slot.host.poll_timeout().map(|t| {
            if t > now {
                t
            } else if slot.fired_at == Some(now) {
                now + Duration::from_micros(1)
            } else {
                now
            }
        });
        if want != slot.timer {
            slot.timer = want;
            slot.timer_gen = slot.timer_gen.wrapping_add(1);
            let generation = slot.timer_gen;
            if let Some(at) = want {
                self.schedule(
                    at,
                    Event::Timer {
                        host: idx,
                        generation,
                    },
                );
            }
        }
        if cut_off {
            self.mark_dirty(idx);
        }
    }

    /// Sends one datagram through the network: on the link `via -> to`,
    /// claiming `from` as its source (`spoofed`: not sent by the host
    /// bound to `from`).
    pub(super) fn route(
        &mut self,
        via: SocketAddr,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
        dont_fragment: bool,
        spoofed: bool,
    ) {
        let now = self.now;
        let len = data.len();
        let spoofed_by = (via != from).then_some(via);
        let event = |kind| TraceEvent {
            time: now,
            kind,
            from,
            to,
            len,
            spoofed_by,
        };
        self.trace.record(event(EventKind::Send), Some(data));
        self.stats.network.on_send(len);
        if spoofed {
            self.stats.spoofed.add(len);
            self.spoofed.entry(from).or_default().add(len);
        }
        // Where it goes, and the source it arrives with (a NAT mapping).
        let dest = if self.nats.is_empty() {
            self.index
                .get(&to)
                .map(|&h| (from, Dest::Host(h)))
                .ok_or(DropReason::NoSuchHost)
        } else {
            self.nat_route(via, from, to)
        };
        if matches!(dest, Err(DropReason::NoSuchHost)) {
            self.stats.unrouted.add(len);
            self.unrouted.entry(to).or_default().add(len);
        }
        let (link_from, link_to) = self.link_key(via, to);
        let link = link_entry(&mut self.links, self.seed, link_from, link_to);
        link.stats.on_send(len);
        let cfg = link.config.unwrap_or(self.default_link);

        let verdict = match dest {
            Err(reason) => Err(reason),
            Ok(_) if link.is_down(now) => Err(DropReason::Partition),
            Ok(host) => match check_mtu(&cfg, to, len, dont_fragment) {
                MtuVerdict::Drop => Err(DropReason::Mtu),
                verdict => {
                    if let MtuVerdict::Fragmented = verdict {
                        link.stats.on_fragment();
                        self.stats.network.on_fragment();
                    }
                    if link.lose(&cfg) {
                        Err(DropReason::Loss)
                    } else {
                        Ok(host)
                    }
                }
            },
        };
        let (seen, dest) = match verdict {
            Ok(target) => target,
            Err(reason) => {
                link.stats.on_drop(reason);
                self.stats.network.on_drop(reason);
                self.trace.record(event(EventKind::Drop(reason)), None);
                return;
            }
        };

        let duplicated = link.duplicate(&cfg);
        let wire = wire_size(to, len);
        for copy in [false, true] {
            if copy {
                if !duplicated {
                    break;
                }
                link.stats.on_duplicate();
                self.stats.network.on_duplicate();
                self.trace.record(event(EventKind::Duplicate), None);
            }
            match link.transmit(&cfg, now, wire) {
                Verdict::Deliver { at, reordered } => {
                    if reordered {
                        link.stats.on_reorder();
                        self.stats.network.on_reorder();
                    }
                    let mut buf = self.pool.pop().unwrap_or_default();
                    buf.clear();
                    buf.extend_from_slice(data);
                    self.in_flight = self.in_flight.saturating_add(1);
                    let seq = self.next_seq;
                    self.next_seq = self.next_seq.wrapping_add(1);
                    self.queue.push(Scheduled {
                        at,
                        seq,
                        event: Event::Deliver {
                            from: seen,
                            via,
                            to,
                            spoofed_by,
                            dest,
                            data: buf,
                        },
                    });
                }
                Verdict::Drop(reason) => {
                    link.stats.on_drop(reason);
                    self.stats.network.on_drop(reason);
                    self.trace.record(event(EventKind::Drop(reason)), None);
                }
            }
        }
    }
}

/// The state of link `from -> to`, created on first use.
pub(super) fn link_entry(
    links: &mut BTreeMap<(SocketAddr, SocketAddr), LinkState>,
    seed: u64,
    from: SocketAddr,
    to: SocketAddr,
) -> &mut LinkState {
    links
        .entry((from, to))
        .or_insert_with(|| LinkState::new(link_seed(seed, from, to)))
}

/// The seed of the PRNG of link `from -> to`.
pub(super) fn link_seed(seed: u64, from: SocketAddr, to: SocketAddr) -> u64 {
    let mut h = Fnv1a::new();
    h.write_u64(seed);
    h.write_addr(from);
    h.write_addr(to);
    h.finish()
}
