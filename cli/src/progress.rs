//! Progress bars on stderr: drawn in place on a terminal, one line a
//! second otherwise (when `--progress` asks for them in a log).

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use utp_core::ConnStats;

/// Where bars go, if anywhere.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    multi: MultiProgress,
    log: Option<Arc<LineLog>>,
}

impl Progress {
    /// Bars on stderr when it is a terminal or `force` is set, unless
    /// `quiet`; `None` for no bars.
    pub(crate) fn new(force: bool, quiet: bool) -> Option<Progress> {
        if quiet {
            return None;
        }
        if io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            Some(Progress { multi, log: None })
        } else if force {
            let log = Arc::new(LineLog::default());
            let target =
                ProgressDrawTarget::term_like_with_hz(Box::new(LogTerm(Arc::clone(&log))), 1);
            let multi = MultiProgress::with_draw_target(target);
            Some(Progress {
                multi,
                log: Some(log),
            })
        } else {
            None
        }
    }

    /// A bar for a transfer of `total` bytes (unknown: `None`), labelled
    /// `label`.
    pub(crate) fn bar(&self, label: &'static str, total: Option<u64>) -> ProgressBar {
        let (bar, template) = match total {
            Some(n) => (
                ProgressBar::new(n),
                "{prefix:>4} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            ),
            None => (
                ProgressBar::no_length(),
                "{prefix:>4} {spinner} {bytes} in {elapsed} {binary_bytes_per_sec} {msg}",
            ),
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = self.multi.add(bar.with_style(style).with_prefix(label));
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }

    /// Prints `line` on stderr above the bars (they are drawn again
    /// below it).
    pub(crate) fn println(&self, line: &str) {
        match &self.log {
            Some(log) => {
                log.end_line();
                eprintln!("{line}");
            }
            None => {
                if self.multi.println(line).is_err() {
                    eprintln!("{line}");
                }
            }
        }
    }

    /// Ends the bars' last line (call after finishing them), so that what
    /// follows starts on a line of its own.
    pub(crate) fn end(&self) {
        match &self.log {
            Some(log) => log.end_line(),
            // A bar drawn in place leaves the cursor at its end.
            None => eprintln!(),
        }
    }
}

/// The bar's message: the connection's RTT and retransmissions.
pub(crate) fn stats_message(stats: &ConnStats) -> String {
    format!("rtt {} retx {}", format_rtt(stats.rtt), stats.retransmits)
}

/// An RTT with a precision that suits loopback and WANs.
pub(crate) fn format_rtt(rtt: Duration) -> String {
    let ms = rtt.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{} µs", rtt.as_micros())
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// A "terminal" that turns each redraw into plain lines, for stderr
/// redirected to a file or pipe: no cursor movement, no padding.
#[derive(Debug, Default)]
struct LineLog {
    /// A line was started and not yet ended.
    open: AtomicBool,
}

impl LineLog {
    fn end_line(&self) {
        if self.open.swap(false, Ordering::Relaxed) {
            let _ = io::stderr().write_all(b"\n");
        }
    }
}

/// The [`LineLog`] as indicatif draws on it.
#[derive(Debug)]
struct LogTerm(Arc<LineLog>);

impl TermLike for LogTerm {
    fn width(&self) -> u16 {
        100
    }

    fn move_cursor_up(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.end_line();
        writeln!(io::stderr(), "{}", s.trim_end())
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        // The drawer pads each line with spaces to the width so that the
        // terminal wraps to the next one: here, the padding ends the line.
        if s.trim().is_empty() {
            self.0.end_line();
            return Ok(());
        }
        self.0.open.store(true, Ordering::Relaxed);
        io::stderr().write_all(s.trim_end().as_bytes())
    }

    fn clear_line(&self) -> io::Result<()> {
        self.0.end_line();
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}
