//! The congestion-control report: runs the standard scenarios, writes a CSV and an SVG figure per scenario, and prints a summary table.
//!
//! ```sh
//! cargo run --release -p utp-sim --example report [-- --out DIR] [--only NAME]
//! ```
//!
//! By default the files go to `docs/report/` of the workspace: per
//! scenario `<name>.csv` (one row per 100 ms sample, see
//! `ExperimentResult::write_csv`) and `<name>.svg` (congestion window,
//! queuing delay, goodput and drops over time), plus `summary.md`. The
//! scenarios are `utp_sim::experiment::scenarios::all()`, the same the
//! tests run.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use plotters::prelude::*;
use utp_sim::experiment::{jain_index, scenarios, ExperimentResult, FlowEnd, Sample};

/// Most points per plotted series and CSV rows per scenario.
const MAX_POINTS: usize = 1000;
/// Goodput is plotted as a moving average over this many samples (1 s).
const GOODPUT_AVERAGE: usize = 10;
/// Summaries skip this much after the last flow start (slow start).
const WARM_UP: Duration = Duration::from_secs(5);

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn main() -> Result<(), Box<dyn Error>> {
    let mut out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/report"));
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a directory")?),
            "--only" => only = Some(args.next().ok_or("--only needs a scenario name")?),
            "-h" | "--help" => {
                println!("usage: report [--out DIR] [--only NAME]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    std::fs::create_dir_all(&out)?;
    let out = out.canonicalize()?;

    let mut table = Table::default();
    for exp in scenarios::all() {
        if only.as_ref().is_some_and(|o| *o != exp.name) {
            continue;
        }
        let started = Instant::now();
        let result = exp.run()?;
        let wall = started.elapsed();
        let result = decimated(result, MAX_POINTS);
        std::fs::write(out.join(format!("{}.csv", result.name)), result.to_csv())?;
        let svg = out.join(format!("{}.svg", result.name));
        plot(&result, &svg)?;
        table.add(&result, wall);
        eprintln!("{:<24} {:>8.2?}  -> {}", result.name, wall, svg.display());
    }
    println!("{}", table.markdown(true));
    std::fs::write(out.join("summary.md"), table.markdown(false))?;
    Ok(())
}

/// Keeps every k-th sample (and the last) so at most `max` remain.
fn decimated(mut r: ExperimentResult, max: usize) -> ExperimentResult {
    let n = r.samples.len();
    if n > max {
        let k = n.div_ceil(max);
        let last = r.samples.pop();
        let mut kept: Vec<Sample> = r.samples.into_iter().step_by(k).collect();
        kept.truncate(max - 1);
        kept.extend(last);
        r.samples = kept;
    }
    r
}

/// The window the summary compares flows over: from `WARM_UP` after the
/// last flow started until the first time-limited flow stops (or the end).
fn comparison_window(r: &ExperimentResult) -> (Duration, Duration) {
    let from = r.flows.iter().map(|f| f.start).max().unwrap_or_default() + WARM_UP;
    let to = r
        .flows
        .iter()
        .filter_map(|f| match f.end {
            FlowEnd::At(t) => Some(t),
            FlowEnd::Bytes(_) => f.finished_at,
        })
        .min()
        .unwrap_or(r.end())
        .min(r.end());
    (from, to)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[derive(Default)]
struct Table {
    rows: Vec<[String; 10]>,
}

impl Table {
    fn add(&mut self, r: &ExperimentResult, wall: Duration) {
        let (from, to) = comparison_window(r);
        let goodputs = r.goodputs(from, to);
        let total: f64 = goodputs.iter().sum();
        let shares = r
            .flows
            .iter()
            .zip(&goodputs)
            .map(|(f, g)| {
                let pct = if total > 0.0 { 100.0 * g / total } else { 0.0 };
                format!("{}: {:.2} Mbit/s ({pct:.0}%)", f.label, g / 1e6)
            })
            .collect::<Vec<_>>()
            .join("; ");
        let delay = r.queue_delay(from, to);
        let all = r.drops(Duration::ZERO, r.end());
        let storm = r.drop_storm(Duration::from_secs(1));
        let retransmits: Vec<String> = r
            .flows
            .iter()
            .map(|f| f.stats.retransmits.to_string())
            .collect();
        self.rows.push([
            r.name.clone(),
            format!("{wall:.2?}"),
            format!("{:.0}–{:.0} s", secs(from), secs(to)),
            format!("{:.1}%", 100.0 * r.utilisation(from, to)),
            format!("{:.0} / {:.0}", millis(delay.mean), millis(delay.p95)),
            shares,
            if r.flows.len() > 1 {
                format!("{:.3}", jain_index(&goodputs))
            } else {
                "–".into()
            },
            format!("{} ({} in window)", all.total(), r.drops(from, to).total()),
            format!("{} at {:.1} s", storm.drops, secs(storm.start)),
            retransmits.join(" / "),
        ]);
    }

    fn markdown(&self, with_wall: bool) -> String {
        let header = [
            "scenario",
            "wall time",
            "window",
            "utilisation",
            "queuing delay mean / p95 (ms)",
            "goodput per flow (share)",
            "Jain",
            "drops",
            "worst 1 s of drops",
            "retransmits",
        ];
        let keep = |i: usize| with_wall || i != 1;
        let mut s = String::new();
        let line = |cells: &[String]| {
            let kept: Vec<&str> = cells
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, c)| c.as_str())
                .collect();
            format!("| {} |\n", kept.join(" | "))
        };
        s.push_str(&line(&header.map(String::from)));
        let rule: Vec<String> = header.iter().map(|_| "---".to_string()).collect();
        s.push_str(&line(&rule));
        for row in &self.rows {
            s.push_str(&line(row));
        }
        if !with_wall {
            let _ = writeln!(
                s,
                "\nWindow: from 5 s after the last flow started to the first flow's stop \
                 (or the transfer's end); utilisation, queuing delay, goodput shares, Jain's \
                 index and \"in window\" drops are over it. Drops and the worst 1 s of drops \
                 are over the whole run; retransmits per flow, whole run."
            );
        }
        s
    }
}

/// One figure per scenario: four panels sharing the time axis.
fn plot(r: &ExperimentResult, path: &std::path::Path) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, (960, 1280)).into_drawing_area();
    root.fill(&WHITE)?;
    let bw = r.bottleneck.bandwidth.map_or("unlimited".to_string(), |b| {
        format!("{} Mbit/s", b / 1_000_000)
    });
    let title = format!(
        "{}: {bw}, {} ms RTT, {}-packet queue",
        r.name,
        r.bottleneck.latency.as_millis() * 2,
        r.bottleneck.queue_capacity.unwrap_or(0)
    );
    let root = root.titled(&title, ("sans-serif", 26))?;
    let panels = root.split_evenly((4, 1));
    let t_max = secs(r.end()).max(1.0);
    let times: Vec<f64> = r.samples.iter().map(|s| secs(s.time)).collect();

    // 1. Congestion window per flow, only while its connection exists.
    let cwnd_kib = |s: &Sample, i: usize| s.flows[i].cwnd as f64 / 1024.0;
    let y_max = r
        .samples
        .iter()
        .flat_map(|s| (0..s.flows.len()).map(move |i| cwnd_kib(s, i)))
        .fold(1.0, f64::max);
    let mut chart = new_chart(
        &panels[0],
        "Congestion window",
        "window (KiB)",
        t_max,
        y_max * 1.1,
    )?;
    for (i, flow) in r.flows.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut labelled = false;
        for segment in active_segments(&r.samples, i) {
            let points = segment.iter().map(|s| (secs(s.time), cwnd_kib(s, i)));
            let series = chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
            if !labelled {
                series
                    .label(flow.label.as_str())
                    .legend(move |(x, y)| legend_line(x, y, colour));
                labelled = true;
            }
        }
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;

    // 2. The bottleneck's queuing delay.
    let delays: Vec<f64> = r.samples.iter().map(|s| millis(s.queue_delay)).collect();
    let y_max = delays.iter().copied().fold(10.0, f64::max);
    let mut chart = new_chart(
        &panels[1],
        "Bottleneck queuing delay",
        "delay (ms)",
        t_max,
        y_max * 1.1,
    )?;
    chart
        .draw_series(LineSeries::new(
            times.iter().copied().zip(delays.iter().copied()),
            BLACK.stroke_width(2),
        ))?
        .label("queuing delay")
        .legend(|(x, y)| legend_line(x, y, BLACK));
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;

    // 3. Goodput per flow and in total, averaged over 1 s.
    let rate = |i: usize, k: usize| -> f64 {
        let a = &r.samples[k.saturating_sub(GOODPUT_AVERAGE)];
        let b = &r.samples[k];
        let dt = secs(b.time - a.time);
        if dt <= 0.0 {
            return 0.0;
        }
        let bytes = b.flows[i].delivered - a.flows[i].delivered;
        bytes as f64 * 8.0 / dt / 1e6
    };
    let per_flow: Vec<Vec<f64>> = (0..r.flows.len())
        .map(|i| (0..r.samples.len()).map(|k| rate(i, k)).collect())
        .collect();
    let totals: Vec<f64> = (0..r.samples.len())
        .map(|k| per_flow.iter().map(|g| g[k]).sum())
        .collect();
    let capacity = r.bottleneck.bandwidth.map_or(0.0, |b| b as f64 / 1e6);
    let y_max = totals.iter().copied().fold(capacity, f64::max);
    let mut chart = new_chart(
        &panels[2],
        "Goodput (1 s moving average)",
        "goodput (Mbit/s)",
        t_max,
        y_max * 1.15,
    )?;
    for (i, flow) in r.flows.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                times.iter().copied().zip(per_flow[i].iter().copied()),
                colour.stroke_width(2),
            ))?
            .label(flow.label.as_str())
            .legend(move |(x, y)| legend_line(x, y, colour));
    }
    if r.flows.len() > 1 {
        chart
            .draw_series(LineSeries::new(
                times.iter().copied().zip(totals.iter().copied()),
                BLACK.stroke_width(1),
            ))?
            .label("all flows")
            .legend(|(x, y)| legend_line(x, y, BLACK));
    }
    if capacity > 0.0 {
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(LineSeries::new(
                [(0.0, capacity), (t_max, capacity)],
                grey.stroke_width(1),
            ))?
            .label("link capacity (wire bytes)")
            .legend(move |(x, y)| legend_line(x, y, grey));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    // 4. Cumulative drops at the bottleneck.
    let drops: Vec<f64> = r.samples.iter().map(|s| s.drops.total() as f64).collect();
    let y_max = drops.iter().copied().fold(10.0, f64::max);
    let mut chart = new_chart(
        &panels[3],
        "Bottleneck drops (cumulative)",
        "datagrams dropped",
        t_max,
        y_max * 1.1,
    )?;
    chart
        .draw_series(LineSeries::new(
            times.iter().copied().zip(drops.iter().copied()),
            RED.stroke_width(2),
        ))?
        .label("queue-full drops, all flows")
        .legend(|(x, y)| legend_line(x, y, RED));
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    root.present()?;
    Ok(())
}

type Chart<'a> = ChartContext<
    'a,
    SVGBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn new_chart<'a>(
    area: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    caption: &str,
    y_label: &str,
    t_max: f64,
    y_max: f64,
) -> Result<Chart<'a>, Box<dyn Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    Ok(chart)
}

fn legend(chart: &mut Chart<'_>, position: SeriesLabelPosition) -> Result<(), Box<dyn Error>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn legend_line(x: i32, y: i32, colour: RGBColor) -> PathElement<(i32, i32)> {
    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
}

/// Runs of consecutive samples where flow `i`'s connection exists.
fn active_segments(samples: &[Sample], i: usize) -> Vec<&[Sample]> {
    let mut out = Vec::new();
    let mut start = None;
    for (k, s) in samples.iter().enumerate() {
        match (s.flows[i].active, start) {
            (true, None) => start = Some(k),
            (false, Some(b)) => {
                out.push(&samples[b..k]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push(&samples[b..]);
    }
    out
}
