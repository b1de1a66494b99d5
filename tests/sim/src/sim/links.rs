//! Links between hosts: their configuration, partitions, shared
//! bottlenecks and counters.

use super::*;

impl<H: Host> Sim<H> {
    // ---- links ------------------------------------------------------------

    /// The config of every link not set with [`Sim::set_link`]; takes
    /// effect for the next datagram, on links already used too.
    pub fn set_default_link(&mut self, config: LinkConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.default_link = config;
        Ok(())
    }

    /// The config of links not set with [`Sim::set_link`].
    pub fn default_link(&self) -> &LinkConfig {
        &self.default_link
    }

    /// Configures the direction `from -> to`; takes effect for the next
    /// datagram (datagrams in flight keep their delivery time). The link's
    /// queue, loss state and statistics carry over.
    pub fn set_link(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        config: LinkConfig,
    ) -> Result<(), ConfigError> {
        config.validate()?;
        self.link_state(from, to).config = Some(config);
        Ok(())
    }

    /// [`Sim::set_link`] for both directions between `a` and `b`.
    pub fn set_link_both(
        &mut self,
        a: SocketAddr,
        b: SocketAddr,
        config: LinkConfig,
    ) -> Result<(), ConfigError> {
        self.set_link(a, b, config)?;
        self.set_link(b, a, config)
    }

    /// Makes `from -> to` follow the default config again.
    pub fn reset_link(&mut self, from: SocketAddr, to: SocketAddr) {
        let key = self.link_key(from, to);
        if let Some(link) = self.links.get_mut(&key) {
            link.config = None;
        }
    }

    /// The config in force for `from -> to`.
    pub fn link_config(&self, from: SocketAddr, to: SocketAddr) -> &LinkConfig {
        self.links
            .get(&self.link_key(from, to))
            .and_then(|l| l.config.as_ref())
            .unwrap_or(&self.default_link)
    }

    /// Takes `from -> to` down from `start` until (excluding) `end`:
    /// datagrams sent in that window are dropped
    /// ([`DropReason::Partition`]); those already in flight still arrive.
    /// Windows add up; an empty window (`start >= end`) does nothing. Use
    /// [`Timestamp::MAX`] as `end` for "forever".
    pub fn partition(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        start: Timestamp,
        end: Timestamp,
    ) {
        if start < end {
            self.link_state(from, to)
                .partitions
                .push(Window { start, end });
        }
    }

    /// [`Sim::partition`] for both directions between `a` and `b`.
    pub fn partition_both(
        &mut self,
        a: SocketAddr,
        b: SocketAddr,
        start: Timestamp,
        end: Timestamp,
    ) {
        self.partition(a, b, start, end);
        self.partition(b, a, start, end);
    }

    /// Removes every partition window of `from -> to`, past and future.
    pub fn heal(&mut self, from: SocketAddr, to: SocketAddr) {
        let key = self.link_key(from, to);
        if let Some(link) = self.links.get_mut(&key) {
            link.partitions.clear();
        }
    }

    /// Whether `from -> to` is partitioned at `time`.
    pub fn is_partitioned(&self, from: SocketAddr, to: SocketAddr, time: Timestamp) -> bool {
        self.links
            .get(&self.link_key(from, to))
            .is_some_and(|l| l.is_down(time))
    }

    /// Counters of `from -> to` (all zero for a link never used). For a
    /// pair that [shares a link](Sim::share_link), the shared link's
    /// counters: the traffic of every pair on it.
    pub fn link_stats(&self, from: SocketAddr, to: SocketAddr) -> LinkStats {
        self.links
            .get(&self.link_key(from, to))
            .map(|l| l.stats)
            .unwrap_or_default()
    }

    /// What waits in the bottleneck queue of `from -> to` (or of the link it
    /// [shares](Sim::share_link)) right now: the queued datagrams and the
    /// queuing delay a datagram sent now would see. Zero for a link without
    /// a bandwidth limit or never used.
    pub fn link_backlog(&self, from: SocketAddr, to: SocketAddr) -> LinkBacklog {
        self.links
            .get(&self.link_key(from, to))
            .map(|l| l.backlog(self.now))
            .unwrap_or_default()
    }

    /// Makes the datagrams `from -> to` go through the link of
    /// `link_from -> link_to` from now on: its config, partitions, queue
    /// and serialisation, loss PRNG and statistics. Every other call that
    /// names `from -> to` ([`Sim::set_link`], [`Sim::partition`],
    /// [`Sim::link_stats`], [`Sim::link_backlog`], ...) then acts on that
    /// shared link too.
    ///
    /// This is how several flows share one bottleneck (a dumbbell): give
    /// the bottleneck's config to one pair and share it with the others. A
    /// queue drop is counted once, on the shared link.
    ///
    /// If `link_from -> link_to` itself shares a link, `from -> to` joins
    /// that one; pairs already sharing `from -> to` follow it.
    /// `share_link(from, to, from, to)` undoes the sharing, as
    /// [`Sim::unshare_link`] does. What
    /// `from -> to` counted on its own link before is kept (and shown again
    /// after [`Sim::unshare_link`]); datagrams in flight keep their
    /// delivery time.
    ///
    /// ```
    /// # use std::net::SocketAddr;
    /// # use std::time::Duration;
    /// # use utp_sim::{LinkConfig, Sim};
    /// # let [a1, a2, b1, b2]: [SocketAddr; 4] =
    /// #     ["10.0.0.1:1", "10.0.0.2:1", "10.0.1.1:1", "10.0.1.2:1"].map(|s| s.parse().unwrap());
    /// let mut sim: Sim<utp_core::Endpoint> = Sim::new(1);
    /// let bottleneck = LinkConfig {
    ///     bandwidth: Some(1_000_000),
    ///     queue_capacity: Some(50),
    ///     ..LinkConfig::with_latency(Duration::from_millis(20))
    /// };
    /// sim.set_link(a1, b1, bottleneck)?;
    /// sim.share_link(a2, b2, a1, b1); // a2 -> b2 queues behind a1 -> b1
    /// assert_eq!(sim.shared_link(a2, b2), Some((a1, b1)));
    /// assert_eq!(sim.link_config(a2, b2), &bottleneck);
    /// # Ok::<(), utp_sim::ConfigError>(())
    /// ```
    pub fn share_link(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        link_from: SocketAddr,
        link_to: SocketAddr,
    ) {
        let target = self.link_key(link_from, link_to);
        if (link_from, link_to) == (from, to) || target == (from, to) {
            self.shared.remove(&(from, to));
            return;
        }
        self.shared.insert((from, to), target);
        for via in self.shared.values_mut() {
            if *via == (from, to) {
                *via = target;
            }
        }
    }

    /// Gives `from -> to` its own link again (the one it had before
    /// [`Sim::share_link`], with its config and counters). Pairs that
    /// shared `from -> to`'s link keep the link they were moved to.
    pub fn unshare_link(&mut self, from: SocketAddr, to: SocketAddr) {
        self.shared.remove(&(from, to));
    }

    /// The pair whose link `from -> to` uses, if it [shares
    /// one](Sim::share_link).
    pub fn shared_link(
        &self,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Option<(SocketAddr, SocketAddr)> {
        self.shared.get(&(from, to)).copied()
    }

    /// Counters of every link used or configured so far, ordered by
    /// `(from, to)`.
    pub fn links(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr, &LinkStats)> + '_ {
        self.links.iter().map(|(&(f, t), l)| (f, t, &l.stats))
    }
}
