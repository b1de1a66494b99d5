//! The table: per stack, median throughput of its rounds, min-max, stalls,
//! CPU per GiB on each side; then the ratios of ours against every peer,
//! and of ours over [`CONNECTIONS`] connections against ours over one.

use crate::run::Measure;
use crate::stacks::{Stack, CONNECTIONS};

const GIB: f64 = (1u64 << 30) as f64;

/// The results of one stack over all rounds.
pub(crate) struct StackResults {
    /// The stack.
    pub(crate) stack: Stack,
    /// The payload it moved per run, MiB.
    pub(crate) mib: usize,
    /// Runs that completed and verified.
    pub(crate) ok: Vec<Measure>,
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
        let rates: Vec<f64> = self.ok.iter().map(Measure::gbit_per_s).collect();
        let mid = median(rates.clone())?;
        let per_gib = |cpu: fn(&Measure) -> f64| {
            median(
                self.ok
                    .iter()
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
                .iter()
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
        out.push_str("\nMedian throughput of ours / peer's:\n\n| ours | ");
        let names: Vec<&str> = peers.iter().map(|p| p.stack.name()).collect();
        out.push_str(&names.join(" | "));
        out.push_str(" |\n|---|");
        out.push_str(&"---:|".repeat(peers.len()));
        out.push('\n');
        for o in &ours {
            out.push_str(&format!("| {} |", o.stack.name()));
            for p in &peers {
                match (o.median(), p.median()) {
                    (Some(a), Some(b)) if b > 0.0 => out.push_str(&format!(" {:.2}x |", a / b)),
                    _ => out.push_str(" - |"),
                }
            }
            out.push('\n');
        }
    }
    let median_of = |stack| results.iter().find(|r| r.stack == stack)?.median();
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
        if let (Some(many), Some(one)) = (median_of(many), median_of(one)) {
            if one > 0.0 {
                out.push_str(&format!(
                    "\n{CONNECTIONS} connections / one connection (tokio, current thread, {how}): {:.2}x",
                    many / one
                ));
            }
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
        if let (Some(ours), Some(tcp)) = (median_of(ours), median_of(tcp)) {
            if tcp > 0.0 {
                out.push_str(&format!(
                    "\nours / TCP, the application on the same runtime (tokio, {how}): {:.2}x",
                    ours / tcp
                ));
            }
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
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
