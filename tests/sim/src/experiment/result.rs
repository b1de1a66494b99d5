//! What an experiment recorded, and the summaries computed from it.

use core::time::Duration;
use std::io::{self, Write};

use utp_core::congestion::CongestionKind;
use utp_core::{CloseReason, ConnStats};

use super::FlowEnd;
use crate::{DropReason, DropStats, LinkConfig, LinkStats};

/// One flow at one sample time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSample {
    /// The sender's connection exists and is not closed yet (the other
    /// fields are zero, and `delivered` holds its last value, otherwise).
    pub active: bool,
    /// The sender's congestion window in bytes.
    pub cwnd: usize,
    /// The sender's bytes in flight.
    pub in_flight: usize,
    /// The sender's smoothed RTT (zero before the first sample).
    pub srtt: Duration,
    /// Bytes the receiving application has read so far.
    pub delivered: u64,
}

/// Everything recorded at one sample time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Time since the start of the run.
    pub time: Duration,
    /// Per flow, in the experiment's order.
    pub flows: Vec<FlowSample>,
    /// Datagrams waiting in the bottleneck queue.
    pub queued: usize,
    /// The bottleneck's queuing delay: how long a datagram sent now would
    /// wait before its own serialisation starts.
    pub queue_delay: Duration,
    /// The bottleneck's drops so far, by reason.
    pub drops: DropStats,
    /// Wire bytes (payload plus IP and UDP headers) the bottleneck has
    /// delivered so far.
    pub wire_bytes: u64,
}

/// How one flow went, at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowOutcome {
    /// The flow's label.
    pub label: String,
    /// The sender's congestion controller.
    pub congestion: CongestionKind,
    /// When it started.
    pub start: Duration,
    /// How it was to end.
    pub end: FlowEnd,
    /// When the handshake completed.
    pub connected_at: Option<Duration>,
    /// When the receiver read the end of the stream.
    pub finished_at: Option<Duration>,
    /// Bytes the receiving application read.
    pub delivered: u64,
    /// Bytes the sending application wrote.
    pub written: u64,
    /// How the sender's connection ended (`None`: still open at the end).
    pub sender_closed: Option<CloseReason>,
    /// How the receiver's connection ended.
    pub receiver_closed: Option<CloseReason>,
    /// The sender's last connection statistics (retransmits, timeouts...).
    pub stats: ConnStats,
}

/// Queuing delay statistics over a window of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DelayStats {
    /// Samples in the window.
    pub samples: usize,
    /// Mean.
    pub mean: Duration,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 95th percentile (nearest rank).
    pub p95: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

/// The worst burst of drops found by [`ExperimentResult::drop_storm`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropStorm {
    /// Drops between `start` and `end`.
    pub drops: u64,
    /// The sample time the window starts at.
    pub start: Duration,
    /// The sample time the window ends at (at most the asked length after
    /// `start`).
    pub end: Duration,
}

/// The outcome of [`Experiment::run`](super::Experiment::run): the samples,
/// each flow's outcome, and summaries over time windows.
///
/// Windows `[from, to]` are taken on the sample grid: rates and counts
/// are differences between the first sample at or after `from` and the
/// last at or before `to`, divided by the time between those two samples.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentResult {
    /// The experiment's name.
    pub name: String,
    /// Its seed.
    pub seed: u64,
    /// Its bottleneck config.
    pub bottleneck: LinkConfig,
    /// Its sample interval.
    pub sample_interval: Duration,
    /// Each flow's outcome, in the experiment's order.
    pub flows: Vec<FlowOutcome>,
    /// The samples, in time order.
    pub samples: Vec<Sample>,
    /// The bottleneck's counters at the end.
    pub bottleneck_stats: LinkStats,
}

impl ExperimentResult {
    /// Time of the last sample: when the run ended.
    pub fn end(&self) -> Duration {
        self.samples.last().map_or(Duration::ZERO, |s| s.time)
    }

    /// The first sample at or after `from` and the last at or before `to`,
    /// if the first comes before the last.
    fn span(&self, from: Duration, to: Duration) -> Option<(&Sample, &Sample)> {
        let a = self.samples.iter().find(|s| s.time >= from)?;
        let b = self.samples.iter().rev().find(|s| s.time <= to)?;
        (a.time < b.time).then_some((a, b))
    }

    fn window(&self, from: Duration, to: Duration) -> impl Iterator<Item = &Sample> + '_ {
        self.samples
            .iter()
            .filter(move |s| s.time >= from && s.time <= to)
    }

    /// Goodput of flow `flow` in bits per second over `[from, to]`: bytes
    /// delivered to the receiving application. 0 for an empty window or an
    /// unknown flow.
    pub fn goodput(&self, flow: usize, from: Duration, to: Duration) -> f64 {
        let Some((a, b)) = self.span(from, to) else {
            return 0.0;
        };
        let (Some(fa), Some(fb)) = (a.flows.get(flow), b.flows.get(flow)) else {
            return 0.0;
        };
        let bytes = fb.delivered.saturating_sub(fa.delivered);
        bytes as f64 * 8.0 / (b.time - a.time).as_secs_f64()
    }

    /// Every flow's [goodput](Self::goodput) over `[from, to]`.
    pub fn goodputs(&self, from: Duration, to: Duration) -> Vec<f64> {
        (0..self.flows.len())
            .map(|i| self.goodput(i, from, to))
            .collect()
    }

    /// The bottleneck's utilisation over `[from, to]`: wire bytes it
    /// delivered, over what its bandwidth could carry. 0 for an empty
    /// window or a link without a bandwidth limit.
    pub fn utilisation(&self, from: Duration, to: Duration) -> f64 {
        let (Some((a, b)), Some(bw)) = (self.span(from, to), self.bottleneck.bandwidth) else {
            return 0.0;
        };
        let bits = b.wire_bytes.saturating_sub(a.wire_bytes) as f64 * 8.0;
        bits / (bw as f64 * (b.time - a.time).as_secs_f64())
    }

    /// Queuing delay statistics over the samples in `[from, to]`.
    pub fn queue_delay(&self, from: Duration, to: Duration) -> DelayStats {
        let mut delays: Vec<Duration> = self.window(from, to).map(|s| s.queue_delay).collect();
        delays.sort_unstable();
        let n = delays.len();
        if n == 0 {
            return DelayStats::default();
        }
        let total: Duration = delays.iter().sum();
        let rank = |p: f64| {
            let r = ((p * n as f64).ceil() as usize).clamp(1, n);
            delays.get(r - 1).copied().unwrap_or_default()
        };
        DelayStats {
            samples: n,
            mean: total / u32::try_from(n).unwrap_or(u32::MAX),
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: delays.last().copied().unwrap_or_default(),
        }
    }

    /// The bottleneck's drops over `[from, to]`, by reason.
    pub fn drops(&self, from: Duration, to: Duration) -> DropStats {
        let Some((a, b)) = self.span(from, to) else {
            return DropStats::default();
        };
        diff_drops(&b.drops, &a.drops)
    }

    /// The drop-storm detector: the most drops (all reasons) at the
    /// bottleneck between two samples at most `len` apart, and when. A
    /// loss-based controller overshooting shows as one storm per cycle; a
    /// burst that overflows the queue shows as a storm too.
    pub fn drop_storm(&self, len: Duration) -> DropStorm {
        let mut best = DropStorm::default();
        let mut first = 0usize;
        for (last, b) in self.samples.iter().enumerate() {
            while self
                .samples
                .get(first)
                .is_some_and(|a| b.time.saturating_sub(a.time) > len)
            {
                first += 1;
            }
            let Some(a) = self.samples.get(first.min(last)) else {
                continue;
            };
            let drops = b.drops.total().saturating_sub(a.drops.total());
            if drops > best.drops {
                best = DropStorm {
                    drops,
                    start: a.time,
                    end: b.time,
                };
            }
        }
        best
    }

    /// Writes the samples as CSV, one row per sample: `time_s`, then per
    /// flow `fN_active`, `fN_cwnd_bytes`, `fN_in_flight_bytes`,
    /// `fN_srtt_ms`, `fN_delivered_bytes` (N from 1), then the bottleneck's
    /// `queue_packets`, `queue_delay_ms`, `wire_bytes` and one cumulative
    /// `drops_<reason>` column per [`DropReason`].
    pub fn write_csv<W: Write>(&self, mut w: W) -> io::Result<()> {
        let mut header = String::from("time_s");
        for i in 1..=self.flows.len() {
            for col in [
                "active",
                "cwnd_bytes",
                "in_flight_bytes",
                "srtt_ms",
                "delivered_bytes",
            ] {
                header.push_str(&format!(",f{i}_{col}"));
            }
        }
        header.push_str(",queue_packets,queue_delay_ms,wire_bytes");
        for reason in DROP_REASONS {
            header.push_str(&format!(",drops_{}", reason.as_str().replace('-', "_")));
        }
        writeln!(w, "{header}")?;
        for s in &self.samples {
            write!(w, "{:.3}", s.time.as_secs_f64())?;
            for f in &s.flows {
                write!(
                    w,
                    ",{},{},{},{:.3},{}",
                    u8::from(f.active),
                    f.cwnd,
                    f.in_flight,
                    millis(f.srtt),
                    f.delivered
                )?;
            }
            write!(
                w,
                ",{},{:.3},{}",
                s.queued,
                millis(s.queue_delay),
                s.wire_bytes
            )?;
            for reason in DROP_REASONS {
                write!(w, ",{}", s.drops.get(reason))?;
            }
            writeln!(w)?;
        }
        Ok(())
    }

    /// [`write_csv`](Self::write_csv) into a `String`.
    pub fn to_csv(&self) -> String {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.write_csv(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

const DROP_REASONS: [DropReason; 5] = [
    DropReason::QueueFull,
    DropReason::Loss,
    DropReason::Mtu,
    DropReason::Partition,
    DropReason::NoSuchHost,
];

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn diff_drops(b: &DropStats, a: &DropStats) -> DropStats {
    DropStats {
        loss: b.loss.saturating_sub(a.loss),
        queue_full: b.queue_full.saturating_sub(a.queue_full),
        mtu: b.mtu.saturating_sub(a.mtu),
        partition: b.partition.saturating_sub(a.partition),
        no_such_host: b.no_such_host.saturating_sub(a.no_such_host),
        nat: b.nat.saturating_sub(a.nat),
    }
}

/// Jain's fairness index of `throughputs`: `(Σx)² / (n·Σx²)`, 1 when all
/// are equal, `1/n` when one flow takes everything. 1 for an empty or
/// all-zero set (nobody is treated worse than anybody).
///
/// ```
/// use utp_sim::experiment::jain_index;
/// assert_eq!(jain_index(&[5.0, 5.0]), 1.0);
/// assert_eq!(jain_index(&[1.0, 0.0, 0.0, 0.0]), 0.25);
/// ```
pub fn jain_index(throughputs: &[f64]) -> f64 {
    let sum: f64 = throughputs.iter().sum();
    let squares: f64 = throughputs.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        return 1.0;
    }
    sum * sum / (throughputs.len() as f64 * squares)
}
