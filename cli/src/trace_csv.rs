//! `--trace FILE.csv`: a tracing layer that writes the library's
//! per-packet events (target `utp::packet`) as CSV rows.
//!
//! The columns are [`COLUMNS`], in that order, one row per event: each
//! cell is the event's field of that name (integers as decimal, `dir`
//! `tx`/`rx`, `kind` `data`/`state`/`fin`/`reset`/`syn`), empty when the
//! event has no such field; other fields are left out. `t_us` is the
//! core's timestamp in microseconds (its own clock, not the wall clock).
//! A value with a comma, quote or line break is quoted as RFC 4180 says
//! (the library's values never have one).
//!
//! The rows go through a buffered writer (64 KiB in `logging.rs`),
//! flushed by the first row [`FLUSH_EVERY`] after the last flush and at
//! the end ([`CsvHandle::finish`]): memory stays bounded however long the
//! trace. A process killed by a signal (`listen -k` ends so) loses the
//! rows since the last flush.
//!
//! There is no connection column: with `listen -k`, the rows of all
//! connections are mixed.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The target of the library's per-packet events.
pub(crate) const TARGET: &str = "utp::packet";

/// The CSV columns, in order: the fields of the per-packet events.
pub(crate) const COLUMNS: [&str; 10] = [
    "t_us",
    "dir",
    "kind",
    "seq",
    "ack",
    "len",
    "cwnd",
    "rtt_us",
    "delay_us",
    "in_flight",
];

/// The longest rows stay in memory before they are written.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Where rows go, shared by the layer and its handle.
#[derive(Debug)]
struct Sink<W> {
    out: W,
    last_flush: Instant,
    /// The first write error; from then on nothing is written.
    error: Option<io::Error>,
}

impl<W: Write> Sink<W> {
    fn write(&mut self, line: &str) {
        if self.error.is_some() {
            return;
        }
        let mut result = self.out.write_all(line.as_bytes());
        if result.is_ok() && self.last_flush.elapsed() >= FLUSH_EVERY {
            result = self.out.flush();
            self.last_flush = Instant::now();
        }
        if let Err(e) = result {
            self.error = Some(e);
        }
    }
}

/// The layer: writes each event of [`TARGET`] as a row.
#[derive(Debug)]
pub(crate) struct CsvLayer<W> {
    sink: Arc<Mutex<Sink<W>>>,
}

/// Ends the trace of a [`CsvLayer`].
#[derive(Debug)]
pub(crate) struct CsvHandle<W> {
    sink: Arc<Mutex<Sink<W>>>,
}

impl<W: Write> CsvLayer<W> {
    /// A layer writing to `out`, which gets the header line at once; and
    /// its handle.
    pub(crate) fn new(mut out: W) -> io::Result<(CsvLayer<W>, CsvHandle<W>)> {
        writeln!(out, "{}", COLUMNS.join(","))?;
        let sink = Arc::new(Mutex::new(Sink {
            out,
            last_flush: Instant::now(),
            error: None,
        }));
        let handle = CsvHandle {
            sink: Arc::clone(&sink),
        };
        Ok((CsvLayer { sink }, handle))
    }
}

impl<W: Write> CsvHandle<W> {
    /// Flushes what is buffered; the first error writing the trace, if
    /// any.
    pub(crate) fn finish(&self) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        match sink.error.take() {
            Some(e) => Err(e),
            None => sink.out.flush(),
        }
    }
}

impl<S: Subscriber, W: Write + Send + 'static> Layer<S> for CsvLayer<W> {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut row = Row::default();
        event.record(&mut row);
        let line = row.line();
        self.sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(&line);
    }
}

/// One event's cells, by column.
#[derive(Default)]
struct Row([Option<String>; COLUMNS.len()]);

impl Row {
    fn cell(&mut self, field: &Field) -> Option<&mut Option<String>> {
        let i = COLUMNS.iter().position(|c| *c == field.name())?;
        self.0.get_mut(i)
    }

    fn set(&mut self, field: &Field, value: impl fmt::Display) {
        if let Some(cell) = self.cell(field) {
            *cell = Some(value.to_string());
        }
    }

    /// The row as a CSV line, with its line break.
    fn line(&self) -> String {
        let mut line = String::with_capacity(64);
        for (i, cell) in self.0.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            if let Some(value) = cell {
                push_escaped(&mut line, value);
            }
        }
        line.push('\n');
        line
    }
}

/// Appends `value` to `line`, quoted if it has to be.
fn push_escaped(line: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        let _ = write!(line, "\"{}\"", value.replace('"', "\"\""));
    } else {
        line.push_str(value);
    }
}

impl Visit for Row {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.set(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// A `Write` the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn packet_events_become_rows_and_others_are_left_out() {
        let out = Shared::default();
        let (layer, handle) = CsvLayer::new(out.clone()).unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(
                target: "utp::packet",
                t_us = 1_000_123u64,
                dir = "tx",
                kind = "data",
                seq = 1u16,
                ack = 65535u16,
                len = 1400usize,
                cwnd = 65536u32,
                rtt_us = 250u64,
                delay_us = 12u64,
                in_flight = 2800usize,
            );
            // Another target: not a packet.
            tracing::trace!(target: "utp::conn", seq = 9u16, "rto");
            // Fields in another order, one missing, one extra, a message.
            tracing::trace!(
                target: "utp::packet",
                in_flight = 0usize,
                kind = "state",
                dir = "rx",
                ack = 1u16,
                seq = 7u16,
                len = 0usize,
                cwnd = 65536usize,
                rtt_us = 260u64,
                delay_us = 0u64,
                peer = "127.0.0.1:9",
                "ack"
            );
            tracing::info_span!("utp_conn", local_id = 5u16).in_scope(|| {
                tracing::trace!(target: "utp::packet", t_us = 3u64, dir = "a,\"b\"", seq = -1i64);
            });
        });
        handle.finish().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "t_us,dir,kind,seq,ack,len,cwnd,rtt_us,delay_us,in_flight\n\
             1000123,tx,data,1,65535,1400,65536,250,12,2800\n\
             ,rx,state,7,1,0,65536,260,0,0\n\
             3,\"a,\"\"b\"\"\",,-1,,,,,,\n"
        );
    }

    /// Fails every write.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_is_reported_at_the_end() {
        // The header fits the buffer; the row does not, so writing it fails.
        let (layer, handle) = CsvLayer::new(io::BufWriter::with_capacity(64, Broken)).unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "utp::packet", t_us = 1u64, dir = "tx");
        });
        assert_eq!(handle.finish().unwrap_err().to_string(), "disk on fire");
    }
}
