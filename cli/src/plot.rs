//! `utpcat plot TRACE.csv OUT.svg`: a `--trace` file drawn as four
//! panels over time.
//!
//! - **Congestion window** (KiB), **Round-trip time** (smoothed, ms) and
//!   **Queuing delay** (ms): the values every row carries (the state of
//!   the connection when the packet went or came), at most [`POINTS`]
//!   points per line (the last row of each slice of time).
//! - **Throughput** (Mbit/s): the `len` of `data` rows summed per bin,
//!   received (`rx`) and sent (`tx`, retransmissions included), drawn at
//!   the bin's middle. A bin is 100 ms, or for a trace shorter than 10 s
//!   the first of 1, 2, 5, 10, 20 or 50 ms that makes at most 100 bins; a
//!   last bin shorter than half of one is left out.
//!
//! Columns are found by their header names ([`crate::trace_csv::COLUMNS`]),
//! so extra or reordered columns do no harm; rows without `t_us` are
//! skipped. The file is read twice, never held in memory. Time is
//! relative to the first row.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::error::{Context, Failure};

/// Most points per line of the first three panels.
const POINTS: u64 = 1000;
/// Throughput bins, µs: the shortest that makes at most [`MAX_BINS`],
/// else the last.
const BINS_US: [u64; 7] = [1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000];
/// Throughput bins per trace at most (unless it is longer than 10 s).
const MAX_BINS: u64 = 100;
/// The longest bin.
const BIN_US_MAX: u64 = 100_000;

/// The panel titles, top to bottom.
pub(crate) const TITLES: [&str; 4] = [
    "Congestion window",
    "Round-trip time",
    "Queuing delay",
    "Throughput",
];

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const RED_: RGBColor = RGBColor(214, 39, 40);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const PURPLE: RGBColor = RGBColor(148, 103, 189);

/// One row, as far as the plot needs it.
#[derive(Clone, Copy, Debug, Default)]
struct Row {
    t_us: u64,
    rx: bool,
    data: bool,
    len: Option<u64>,
    cwnd: Option<u64>,
    rtt_us: Option<u64>,
    delay_us: Option<u64>,
}

/// Where the columns the plot reads are.
#[derive(Debug)]
struct Header {
    t_us: usize,
    dir: Option<usize>,
    kind: Option<usize>,
    len: Option<usize>,
    cwnd: Option<usize>,
    rtt_us: Option<usize>,
    delay_us: Option<usize>,
}

impl Header {
    fn parse(line: &str) -> Option<Header> {
        let names: Vec<&str> = line.trim().split(',').map(str::trim).collect();
        let at = |name: &str| names.iter().position(|n| *n == name);
        Some(Header {
            t_us: at("t_us")?,
            dir: at("dir"),
            kind: at("kind"),
            len: at("len"),
            cwnd: at("cwnd"),
            rtt_us: at("rtt_us"),
            delay_us: at("delay_us"),
        })
    }

    /// `line` as a row; `None` without a time.
    fn row(&self, line: &str) -> Option<Row> {
        let cells: Vec<&str> = line.trim_end().split(',').collect();
        let cell = |i: Option<usize>| i.and_then(|i| cells.get(i)).map(|c| c.trim());
        let number = |i: Option<usize>| cell(i).and_then(|c| c.parse::<u64>().ok());
        Some(Row {
            t_us: number(Some(self.t_us))?,
            rx: cell(self.dir) == Some("rx"),
            data: cell(self.kind) == Some("data"),
            len: number(self.len),
            cwnd: number(self.cwnd),
            rtt_us: number(self.rtt_us),
            delay_us: number(self.delay_us),
        })
    }
}

/// Calls `f` with each row of `path`.
fn rows(path: &Path, mut f: impl FnMut(Row)) -> Result<(), Failure> {
    let context = || format!("cannot read {}", path.display());
    let file = File::open(path).context(context)?;
    let mut lines = BufReader::new(file).lines();
    let header = match lines.next() {
        Some(line) => line.context(context)?,
        None => String::new(),
    };
    let header = Header::parse(&header).ok_or_else(|| {
        Failure::Usage(format!(
            "{} is no utpcat trace (its first line has no t_us column)",
            path.display()
        ))
    })?;
    for line in lines {
        if let Some(row) = header.row(&line.context(context)?) {
            f(row);
        }
    }
    Ok(())
}

/// What the panels draw.
#[derive(Debug, Default)]
struct Series {
    /// (s, KiB), (s, ms), (s, ms).
    cwnd: Vec<(f64, f64)>,
    rtt: Vec<(f64, f64)>,
    delay: Vec<(f64, f64)>,
    /// Bytes per bin: received, sent.
    rx: Vec<u64>,
    tx: Vec<u64>,
    bin_us: u64,
    /// Seconds from the first row to the last.
    span: f64,
}

/// Reads `path` into [`Series`]; `None` if it has no rows.
fn series(path: &Path) -> Result<Option<Series>, Failure> {
    let mut range: Option<(u64, u64)> = None;
    rows(path, |r| {
        range = Some(match range {
            Some((lo, hi)) => (lo.min(r.t_us), hi.max(r.t_us)),
            None => (r.t_us, r.t_us),
        });
    })?;
    let Some((start, end)) = range else {
        return Ok(None);
    };
    let span_us = end - start;
    let bin_us = bin_us(span_us);
    let slice_us = (span_us / POINTS).max(1);
    // Whole bins, and a last part if it is at least half of one.
    let mut bins = span_us / bin_us;
    if span_us % bin_us >= bin_us / 2 || bins == 0 {
        bins += 1;
    }
    let bins = usize::try_from(bins).unwrap_or(usize::MAX);
    let mut s = Series {
        rx: vec![0; bins],
        tx: vec![0; bins],
        bin_us,
        span: span_us as f64 / 1e6,
        ..Series::default()
    };
    // The last value of each slice of time: (slice, point).
    let mut last: [Option<(u64, (f64, f64))>; 3] = [None; 3];
    let mut lines: [Vec<(f64, f64)>; 3] = Default::default();
    rows(path, |r| {
        let t = r.t_us.saturating_sub(start);
        let secs = t as f64 / 1e6;
        let slice = t / slice_us;
        let values = [
            r.cwnd.map(|c| c as f64 / 1024.0),
            r.rtt_us.map(|u| u as f64 / 1000.0),
            r.delay_us.map(|u| u as f64 / 1000.0),
        ];
        for ((value, last), line) in values.iter().zip(&mut last).zip(&mut lines) {
            let Some(v) = value else { continue };
            if let Some((at, point)) = *last {
                if at != slice {
                    line.push(point);
                }
            }
            *last = Some((slice, (secs, *v)));
        }
        if r.data {
            let bin = usize::try_from(t / bin_us).unwrap_or(usize::MAX);
            let bins = if r.rx { &mut s.rx } else { &mut s.tx };
            if let Some(b) = bins.get_mut(bin) {
                *b += r.len.unwrap_or(0);
            }
        }
    })?;
    for (line, last) in lines.iter_mut().zip(last) {
        line.extend(last.map(|(_, p)| p));
    }
    let [cwnd, rtt, delay] = lines;
    s.cwnd = cwnd;
    s.rtt = rtt;
    s.delay = delay;
    Ok(Some(s))
}

/// The throughput bin for a trace of `span_us` (see the module docs).
fn bin_us(span_us: u64) -> u64 {
    BINS_US
        .iter()
        .copied()
        .find(|b| span_us <= b * MAX_BINS)
        .unwrap_or(BIN_US_MAX)
}

/// `utpcat plot`: draws `trace` into the SVG file `out`.
pub(crate) fn run(trace: &Path, out: &Path) -> Result<(), Failure> {
    let series = series(trace)?;
    if series.is_none() {
        eprintln!(
            "utpcat: {} has no packet rows; the panels are empty",
            trace.display()
        );
    }
    let title = trace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let svg = draw(&series.unwrap_or_default(), &title)
        .map_err(|e| Failure::io("cannot draw the plot", std::io::Error::other(e)))?;
    std::fs::write(out, svg).context(|| format!("cannot write {}", out.display()))
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The SVG text.
fn draw(s: &Series, title: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 1280)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 24))
            .map_err(|e| e.to_string())?;
        let panels = root.split_evenly((4, 1));
        let [cwnd_area, rtt_area, delay_area, rate_area] = panels.as_slice() else {
            return Err("four panels".into());
        };
        let t_max = s.span.max(1e-3);
        let [cwnd_t, rtt_t, delay_t, rate_t] = TITLES;

        line_panel(cwnd_area, cwnd_t, "window (KiB)", t_max, &s.cwnd, BLUE_)?;
        line_panel(rtt_area, rtt_t, "smoothed RTT (ms)", t_max, &s.rtt, GREEN_)?;
        line_panel(delay_area, delay_t, "delay (ms)", t_max, &s.delay, PURPLE)?;

        let bin_secs = s.bin_us as f64 / 1e6;
        let mbits = |bins: &[u64]| -> Vec<(f64, f64)> {
            bins.iter()
                .enumerate()
                .map(|(i, b)| {
                    let middle = (i as f64 + 0.5) * bin_secs;
                    (middle, *b as f64 * 8.0 / bin_secs / 1e6)
                })
                .collect()
        };
        let (rx, tx) = (mbits(&s.rx), mbits(&s.tx));
        let y_max = rx.iter().chain(&tx).map(|p| p.1).fold(1.0, f64::max);
        let caption = format!("{rate_t} (per {} ms)", s.bin_us / 1000);
        // Room above the lines for the legend.
        let mut chart = chart(rate_area, &caption, "Mbit/s", t_max, y_max * 1.4)?;
        for (points, colour, label) in [
            (rx, BLUE_, "received (rx data)"),
            (tx, RED_, "sent (tx data, with retransmissions)"),
        ] {
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A panel with one line.
fn line_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    y_label: &str,
    t_max: f64,
    points: &[(f64, f64)],
    colour: RGBColor,
) -> Result<(), String> {
    let y_max = points.iter().map(|p| p.1).fold(1e-3, f64::max);
    let mut chart = chart(area, caption, y_label, t_max, y_max * 1.1)?;
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Axes with `caption`, time from 0 to `t_max` s, `y_label` from 0 to
/// `y_max`.
fn chart<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    y_label: &str,
    t_max: f64,
    y_max: f64,
) -> Result<Chart<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins() {
        assert_eq!(bin_us(0), 1000);
        assert_eq!(bin_us(50_000), 1000);
        assert_eq!(bin_us(100_001), 2000);
        assert_eq!(bin_us(1_999_500), 20_000);
        assert_eq!(bin_us(10_000_000), 100_000);
        assert_eq!(bin_us(3_600_000_000), 100_000);
    }

    #[test]
    fn rows_are_read_by_header_name() {
        let header = Header::parse("kind,t_us,len,dir,extra").unwrap();
        let row = header.row("data,1500,1400,rx,zzz").unwrap();
        assert_eq!(
            (row.t_us, row.rx, row.data, row.len, row.cwnd),
            (1500, true, true, Some(1400), None)
        );
        assert!(header.row(",,,").is_none());
        assert!(Header::parse("a,b").is_none());
    }
}
