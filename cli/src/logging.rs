//! Tracing output: `-v`/`-vv` (or `RUST_LOG`) as log lines on stderr,
//! `--trace FILE.csv` as per-packet rows in a file.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::error::{Context, Failure};
use crate::trace_csv::{self, CsvHandle, CsvLayer};

/// The crates whose events `-v` shows (the library's targets `utp::conn`
/// and `utp::packet` start with `utp`).
const TARGETS: [&str; 5] = ["utp", "utp_core", "utp_driver", "utp_tokio", "utpcat"];

/// The trace file being written, if any.
#[derive(Debug)]
pub(crate) struct Logging {
    trace: Option<(PathBuf, CsvHandle<BufWriter<File>>)>,
}

impl Logging {
    /// Flushes the trace file.
    pub(crate) fn finish(self) -> Result<(), Failure> {
        match self.trace {
            Some((path, handle)) => handle
                .finish()
                .context(|| format!("cannot write {}", path.display())),
            None => Ok(()),
        }
    }
}

/// The filter of the stderr log: `RUST_LOG` when it is set (it overrides
/// `-v`), else debug (`-v`) or trace (`-vv`) for [`TARGETS`]; `None`:
/// no log.
fn log_filter(verbose: u8, rust_log: Option<&str>) -> Option<EnvFilter> {
    let directives = match (rust_log.filter(|r| !r.trim().is_empty()), verbose) {
        (Some(r), _) => r.to_string(),
        (None, 0) => return None,
        (None, v) => {
            let level = if v == 1 { "debug" } else { "trace" };
            TARGETS.map(|t| format!("{t}={level}")).join(",")
        }
    };
    Some(EnvFilter::builder().parse_lossy(directives))
}

/// Installs the global subscriber: a log on stderr as [`log_filter`]
/// says, and with `trace` a [`CsvLayer`] writing to that file (created
/// now).
pub(crate) fn init(verbose: u8, trace: Option<&Path>) -> Result<Logging, Failure> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let log = log_filter(verbose, rust_log.as_deref()).map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::stderr().is_terminal())
            .with_filter(filter)
    });
    let (csv, trace) = match trace {
        Some(path) => {
            let file =
                File::create(path).context(|| format!("cannot create {}", path.display()))?;
            let (layer, handle) = CsvLayer::new(BufWriter::with_capacity(64 * 1024, file))
                .context(|| format!("cannot write {}", path.display()))?;
            let only_packets = Targets::new().with_target(trace_csv::TARGET, Level::TRACE);
            (
                Some(layer.with_filter(only_packets)),
                Some((path.to_path_buf(), handle)),
            )
        }
        None => (None, None),
    };
    if log.is_some() || csv.is_some() {
        // Fails only if a subscriber is already set: then it stays.
        let _ = tracing_subscriber::registry()
            .with(log)
            .with(csv)
            .try_init();
    }
    Ok(Logging { trace })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(verbose: u8, rust_log: Option<&str>) -> Option<String> {
        log_filter(verbose, rust_log).map(|f| f.to_string())
    }

    #[test]
    fn verbosity_and_rust_log() {
        assert_eq!(shown(0, None), None);
        assert_eq!(shown(0, Some(" ")), None);
        let debug = shown(1, None).unwrap();
        for t in TARGETS {
            assert!(debug.contains(&format!("{t}=debug")), "{debug}");
        }
        assert!(!debug.contains("trace"), "{debug}");
        let trace = shown(2, None).unwrap();
        assert!(trace.contains("utp_tokio=trace"), "{trace}");
        assert_eq!(shown(5, None), Some(trace));
        // RUST_LOG wins over -v, and works alone.
        assert_eq!(
            shown(2, Some("utp::conn=info")),
            Some("utp::conn=info".into())
        );
        assert_eq!(shown(0, Some("warn")), Some("warn".into()));
    }
}
