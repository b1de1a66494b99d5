//! Watching one connection: the `--stats` lines, once a second and at
//! the end, and the idle timeout of `-w`.
//!
//! A stats line is `utpcat: stats` (every second) or `utpcat: stats-end`
//! (once, when the connection ended, well or not), then space-separated
//! `key=value` fields, always these, in this order:
//!
//! | key | value |
//! |-----|-------|
//! | `peer` | the peer's address |
//! | `t` | seconds since the connection was established, 3 decimals |
//! | `sent`, `received` | payload bytes so far (sent at least once; received once) |
//! | `send_rate`, `recv_rate` | bytes/s over the second before (`stats-end`: over the connection) |
//! | `cwnd` | congestion window, bytes |
//! | `in_flight` | bytes sent and not yet acknowledged |
//! | `rtt_us` | smoothed round-trip time, µs (0 before the first sample) |
//! | `delay_us` | the queuing delay LEDBAT measures, µs |
//! | `retransmits` | DATA/FIN packets sent again so far |
//!
//! ```text
//! utpcat: stats peer=127.0.0.1:9000 t=1.000 sent=52428800 received=0 send_rate=52400000 recv_rate=0 cwnd=1048576 in_flight=524288 rtt_us=412 delay_us=96 retransmits=0
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use utp_core::ConnStats;

use super::Conn;
use crate::error::Failure;
use crate::progress::Progress;

/// How often a stats line is printed.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// What to watch on a connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Watching {
    /// Print stats lines (`--stats`).
    pub(crate) stats: bool,
    /// Fail once no payload moved either way for this long (`-w`).
    pub(crate) idle: Option<Duration>,
}

/// Prints stats lines as `watching` asks (above the progress bars, if
/// any) until the connection has been idle for too long: then returns
/// that failure. Never returns if there is nothing to watch.
pub(super) async fn observe(
    conn: &Conn,
    peer: SocketAddr,
    watching: Watching,
    progress: Option<&Progress>,
    started: Instant,
) -> Failure {
    // How often to look for movement: a tenth of the timeout.
    let check = watching
        .idle
        .map(|idle| (idle / 10).clamp(Duration::from_millis(10), Duration::from_millis(250)));
    let mut next_line = started + STATS_EVERY;
    let first = conn.stats();
    let mut moved = (first.bytes_sent, first.bytes_received);
    let mut last_moved = Instant::now();
    let mut previous = (first, started);
    loop {
        let now = Instant::now();
        let wake = match (watching.stats, check) {
            (true, Some(c)) => next_line.min(now + c),
            (true, None) => next_line,
            (false, Some(c)) => now + c,
            (false, None) => std::future::pending().await,
        };
        tokio::time::sleep_until(wake.into()).await;
        let now = Instant::now();
        let stats = conn.stats();
        if let Some(idle) = watching.idle {
            let bytes = (stats.bytes_sent, stats.bytes_received);
            if bytes != moved {
                moved = bytes;
                last_moved = now;
            } else if now.duration_since(last_moved) >= idle {
                return Failure::io(
                    format!("connection with {peer}"),
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("nothing sent or received for {idle:?}"),
                    ),
                );
            }
        }
        if watching.stats && now >= next_line {
            let (before, at) = previous;
            let line = stats_line(
                "stats",
                peer,
                now.duration_since(started),
                &stats,
                &before,
                now.duration_since(at),
            );
            say(progress, &line);
            previous = (stats, now);
            next_line += STATS_EVERY;
            if next_line <= now {
                // Late (a loaded machine): a second from now, no burst.
                next_line = now + STATS_EVERY;
            }
        }
    }
}

/// The `stats-end` line of a connection that lasted `elapsed` and ended
/// with `stats`.
pub(super) fn final_line(peer: SocketAddr, elapsed: Duration, stats: &ConnStats) -> String {
    stats_line(
        "stats-end",
        peer,
        elapsed,
        stats,
        &ConnStats::default(),
        elapsed,
    )
}

/// Prints `line` on stderr, above the progress bars if there are any.
pub(super) fn say(progress: Option<&Progress>, line: &str) {
    match progress {
        Some(p) => p.println(line),
        None => eprintln!("{line}"),
    }
}

/// A stats line (see the module docs): `stats` now, rates since `before`,
/// `interval` ago.
fn stats_line(
    kind: &str,
    peer: SocketAddr,
    t: Duration,
    stats: &ConnStats,
    before: &ConnStats,
    interval: Duration,
) -> String {
    let secs = interval.as_secs_f64().max(1e-6);
    let rate = |now: u64, then: u64| (now.saturating_sub(then) as f64 / secs).round() as u64;
    format!(
        "utpcat: {kind} peer={peer} t={:.3} sent={} received={} send_rate={} recv_rate={} cwnd={} in_flight={} rtt_us={} delay_us={} retransmits={}",
        t.as_secs_f64(),
        stats.bytes_sent,
        stats.bytes_received,
        rate(stats.bytes_sent, before.bytes_sent),
        rate(stats.bytes_received, before.bytes_received),
        stats.cwnd,
        stats.in_flight,
        stats.rtt.as_micros(),
        stats.queuing_delay.as_micros(),
        stats.retransmits,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stats_line_has_every_field_in_order() {
        let before = ConnStats {
            bytes_sent: 1000,
            bytes_received: 10,
            ..ConnStats::default()
        };
        let now = ConnStats {
            bytes_sent: 3000,
            bytes_received: 510,
            cwnd: 65536,
            in_flight: 1400,
            rtt: Duration::from_micros(1234),
            queuing_delay: Duration::from_micros(56),
            retransmits: 7,
            ..ConnStats::default()
        };
        let line = stats_line(
            "stats",
            "127.0.0.1:9000".parse().unwrap(),
            Duration::from_millis(2500),
            &now,
            &before,
            Duration::from_millis(500),
        );
        assert_eq!(
            line,
            "utpcat: stats peer=127.0.0.1:9000 t=2.500 sent=3000 received=510 send_rate=4000 \
             recv_rate=1000 cwnd=65536 in_flight=1400 rtt_us=1234 delay_us=56 retransmits=7"
        );
        let end = final_line("[::1]:1".parse().unwrap(), Duration::from_secs(2), &now);
        assert_eq!(
            end,
            "utpcat: stats-end peer=[::1]:1 t=2.000 sent=3000 received=510 send_rate=1500 \
             recv_rate=255 cwnd=65536 in_flight=1400 rtt_us=1234 delay_us=56 retransmits=7"
        );
    }
}
