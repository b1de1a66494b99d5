//! The table: per stack, median throughput of its rounds, min-max, stalls,
//! CPU per GiB on each side; then the ratios of ours against every peer,
//! and of ours over [`CONNECTIONS`] connections against ours over one.
//!
//! Each ratio is given two ways: the ratio of the two medians, and the
//! median of the per-round ratios (each round's run of one stack against
//! the same round's run of the other, seconds apart). On a shared host
//! whose speed drifts between rounds the second compares runs made under
//! the same conditions; where the two differ, the host moved during the
//! run.

use std::collections::BTreeMap;

use crate::run::Measure;
use crate::stacks::{Stack, CONNECTIONS};

const GIB: f64 = (1u64 << 30) as f64;

/// The results of one stack over all rounds.
pub(crate) struct StackResults {
    /// The stack.
    pub(crate) stack: Stack,
    /// The payload it moved per run, MiB.
    pub(crate) mib: usize,
    /// Runs that completed and verified, by round (1-based).
    pub(crate) ok: BTreeMap<usize, Measure>,
    /// Runs that failed, with why.
    pub(crate) failed: Vec<String>,
}

/// The median of `v` (mean of the two middle values for an even count), or
/// `None` for no values.
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let hi = v.get(n / 2).copied()?;
    if n % 2 == 1 {
        Some(hi)
    } else {
        v.get(n / 2 - 1).map(|lo| (lo + hi) / 2.0)
    }
}

/// A stack's summary numbers.
struct Summary {
    median: f64,
    min: f64,
    max: f64,
    stalls: usize,
    send_cpu: f64,
    recv_cpu: f64,
}

impl StackResults {
    fn summary(&self) -> Option<Summary> {
        let rates: Vec<f64> = self.ok.values().map(Measure::gbit_per_s).collect();
        let mid = median(rates.clone())?;
        let per_gib = |cpu: fn(&Measure) -> f64| {
            median(
                self.ok
                    .values()
                    .map(|m| cpu(m) / (m.bytes as f64 / GIB))
                    .collect(),
            )
            .unwrap_or(f64::NAN)
        };
        Some(Summary {
            median: mid,
            min: rates.iter().copied().fold(f64::INFINITY, f64::min),
            max: rates.iter().copied().fold(0.0, f64::max),
            stalls: rates.iter().filter(|r| **r < mid / 2.0).count(),
            send_cpu: per_gib(|m| m.send_cpu),
            recv_cpu: per_gib(|m| m.recv_cpu),
        })
    }

    /// Our senders' retransmits and RTO timeouts summed over the completed
    /// runs, as `R / T`; `-` for the other stacks (no counters).
    fn counters(&self) -> String {
        let sum = |key: &str| -> Option<u64> {
            self.ok
                .values()
                .map(|m| {
                    m.sender_stats
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse::<u64>().ok())
                })
                .sum()
        };
        match (sum("retransmits"), sum("timeouts")) {
            (Some(r), Some(t)) if !self.ok.is_empty() => format!("{r} / {t}"),
            _ => "-".to_string(),
        }
    }

    /// The median Gbit/s, if any run completed.
    fn median(&self) -> Option<f64> {
        self.summary().map(|s| s.median)
    }
}

/// `a`'s throughput over `b`'s two ways: the ratio of their medians, and
/// the median of the per-round ratios over the rounds both completed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Ratio {
    pub(crate) of_medians: f64,
    pub(crate) paired: f64,
}

impl Ratio {
    pub(crate) fn of(a: &StackResults, b: &StackResults) -> Option<Ratio> {
        let (ma, mb) = (a.median()?, b.median()?);
        if mb <= 0.0 {
            return None;
        }
        let per_round: Vec<f64> =
            a.ok.iter()
                .filter_map(|(round, x)| {
                    let y = b.ok.get(round)?.gbit_per_s();
                    (y > 0.0).then(|| x.gbit_per_s() / y)
                })
                .collect();
        Some(Ratio {
            of_medians: ma / mb,
            paired: median(per_round)?,
        })
    }
}

impl std::fmt::Display for Ratio {
    /// `0.61x (per round 0.64x)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}x (per round {:.2}x)", self.of_medians, self.paired)
    }
}

/// The table as Markdown: one row per stack, then the ratio table, then
/// the ucat row (`ucat`: the cell and a note under the table).
pub(crate) fn table(results: &[StackResults], ucat: (&str, &str)) -> String {
    let mut out = String::new();
    out.push_str(
        "| stack | MiB | median Gbit/s | min-max Gbit/s | stalls | failed | send CPU s/GiB | recv CPU s/GiB | retransmits / RTOs |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let runs = r.ok.len() + r.failed.len();
        match r.summary() {
            Some(s) => out.push_str(&format!(
                "| {} | {} | {:.2} | {:.2}-{:.2} | {}/{} | {} | {:.2} | {:.2} | {} |\n",
                r.stack.name(),
                r.mib,
                s.median,
                s.min,
                s.max,
                s.stalls,
                r.ok.len(),
                r.failed.len(),
                s.send_cpu,
                s.recv_cpu,
                r.counters()
            )),
            None => out.push_str(&format!(
                "| {} | {} | - | - | - | {}/{runs} | - | - | - |\n",
                r.stack.name(),
                r.mib,
                r.failed.len()
            )),
        }
    }
    let (cell, note) = ucat;
    out.push_str(&format!(
        "| ucat | - | {cell} | - | - | - | - | - | - |\n\nucat: {note}\n"
    ));
    let peers: Vec<&StackResults> = results.iter().filter(|r| !r.stack.is_ours()).collect();
    let ours: Vec<&StackResults> = results.iter().filter(|r| r.stack.is_ours()).collect();
    if !peers.is_empty() && !ours.is_empty() {
        out.push_str(
            "\nThroughput of ours / peer's: ratio of the medians (median of the per-round ratios):\n\n| ours | ",
        );
        let names: Vec<&str> = peers.iter().map(|p| p.stack.name()).collect();
        out.push_str(&names.join(" | "));
        out.push_str(" |\n|---|");
        out.push_str(&"---:|".repeat(peers.len()));
        out.push('\n');
        for o in &ours {
            out.push_str(&format!("| {} |", o.stack.name()));
            for p in &peers {
                match Ratio::of(o, p) {
                    Some(r) => out.push_str(&format!(" {:.2}x ({:.2}x) |", r.of_medians, r.paired)),
                    None => out.push_str(" - |"),
                }
            }
            out.push('\n');
        }
    }
    let find = |stack| results.iter().find(|r: &&StackResults| r.stack == stack);
    let ratio = |a, b| Ratio::of(find(a)?, find(b)?);
    for (many, one, how) in [
        (
            Stack::OursTokioCt100,
            Stack::OursTokioCtBytes,
            "ours, write_bytes",
        ),
        (
            Stack::OursTokioCt100Copy,
            Stack::OursTokioCt,
            "ours, write_all",
        ),
        (Stack::Tcp100, Stack::Tcp, "TCP, write_all"),
    ] {
        if let Some(r) = ratio(many, one) {
            out.push_str(&format!(
                "\n{CONNECTIONS} connections / one connection (tokio, current thread, {how}): {r}"
            ));
        }
    }
    for (ours, tcp, how) in [
        (Stack::OursTokioCt, Stack::Tcp, "current thread"),
        (
            Stack::OursTokioMt,
            Stack::TcpMt,
            "multi-thread, spawned task",
        ),
        (
            Stack::OursTokioMtBlockOn,
            Stack::TcpMtBlockOn,
            "multi-thread, block_on",
        ),
    ] {
        if let Some(r) = ratio(ours, tcp) {
            out.push_str(&format!(
                "\nours / TCP, the application on the same runtime (tokio, {how}): {r}"
            ));
        }
    }
    out.push('\n');
    let failures: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.failed
                .iter()
                .map(move |f| format!("{}: {f}", r.stack.name()))
        })
        .collect();
    if !failures.is_empty() {
        out.push_str("\nFailed runs:\n");
        for f in failures {
            out.push_str(&format!("- {f}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{median, Ratio, StackResults};
    use crate::run::Measure;
    use crate::stacks::Stack;

    /// Results of `stack` with one run per (round, Gbit/s): 1 Gbit in
    /// 1/rate seconds.
    fn results(stack: Stack, runs: &[(usize, f64)]) -> StackResults {
        StackResults {
            stack,
            mib: 1,
            ok: runs
                .iter()
                .map(|&(round, rate)| {
                    let m = Measure {
                        bytes: 125_000_000,
                        secs: 1.0 / rate,
                        send_cpu: 0.0,
                        recv_cpu: 0.0,
                        sender_stats: String::new(),
                    };
                    (round, m)
                })
                .collect(),
            failed: Vec::new(),
        }
    }

    #[test]
    fn ratios_of_medians_and_per_round() {
        // The host slows down over the rounds; ours is 0.8x TCP in each.
        let tcp = results(Stack::Tcp, &[(1, 30.0), (2, 20.0), (3, 10.0), (4, 25.0)]);
        let ours = results(Stack::OursTokioCt, &[(1, 24.0), (2, 16.0), (3, 8.0)]);
        let r = Ratio::of(&ours, &tcp).unwrap();
        // Medians 16 and 22.5; per round 0.8 each (round 4: ours failed).
        assert!((r.of_medians - 16.0 / 22.5).abs() < 1e-9, "{r:?}");
        assert!((r.paired - 0.8).abs() < 1e-9, "{r:?}");
        assert_eq!(r.to_string(), "0.71x (per round 0.80x)");
        // No round in common: no per-round ratio, so no ratio.
        let late = results(Stack::Tcp, &[(5, 10.0)]);
        assert_eq!(Ratio::of(&ours, &late), None);
        let none = results(Stack::Tcp, &[]);
        assert_eq!(Ratio::of(&ours, &none), None);
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
