//! Why utpcat stopped, and the exit code that says so.

use std::fmt;
use std::io;

/// Exit code of usage errors (clap uses it too) and unresolvable hosts.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code when the peer refused the connection (RESET to our SYN).
pub(crate) const EXIT_REFUSED: u8 = 3;
/// Exit code when connecting, the connection, or an idle timeout timed
/// out.
pub(crate) const EXIT_TIMED_OUT: u8 = 4;
/// Exit code when the peer reset an established connection.
pub(crate) const EXIT_RESET: u8 = 5;
/// Exit code of every other failure (local I/O, other connection errors,
/// the demo's data differed).
pub(crate) const EXIT_OTHER: u8 = 1;

/// The exit codes and what they mean, for `--help` (and the crate docs,
/// which repeat them).
pub(crate) const EXIT_CODES: [(u8, &str); 6] = [
    (0, "done"),
    (
        EXIT_OTHER,
        "any other error (a local file or stdin/stdout, the connection failed otherwise, the demo's data differed)",
    ),
    (EXIT_USAGE, "usage error, or a host that does not resolve"),
    (EXIT_REFUSED, "connection refused by the peer"),
    (
        EXIT_TIMED_OUT,
        "timed out: connecting (--connect-timeout), idle (-w), or the connection",
    ),
    (EXIT_RESET, "connection reset by the peer"),
];

/// The `Exit codes:` section of `--help`.
pub(crate) fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes:");
    for (code, meaning) in EXIT_CODES {
        text += &format!("\n  {code}  {meaning}");
    }
    text
}

/// A failure, printed as `utpcat: <message>`.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A host name did not resolve.
    Resolve {
        /// The name as given.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// An I/O operation failed.
    Io {
        /// What utpcat was doing.
        context: String,
        /// The error.
        err: io::Error,
    },
    /// A bad argument found after parsing.
    Usage(String),
    /// The demo's data did not arrive intact.
    Verify(String),
}

impl Failure {
    /// An I/O failure while doing `context`.
    pub(crate) fn io(context: impl Into<String>, err: io::Error) -> Self {
        Failure::Io {
            context: context.into(),
            err,
        }
    }

    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Resolve { .. } | Failure::Usage(_) => EXIT_USAGE,
            Failure::Io { err, .. } => match err.kind() {
                io::ErrorKind::ConnectionRefused => EXIT_REFUSED,
                io::ErrorKind::TimedOut => EXIT_TIMED_OUT,
                io::ErrorKind::ConnectionReset => EXIT_RESET,
                _ => EXIT_OTHER,
            },
            Failure::Verify(_) => EXIT_OTHER,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Resolve { host, reason } => write!(f, "cannot resolve {host}: {reason}"),
            Failure::Io { context, err } => write!(f, "{context}: {err}"),
            Failure::Usage(text) | Failure::Verify(text) => f.write_str(text),
        }
    }
}

/// Adds what was being done to an I/O error.
pub(crate) trait Context<T> {
    /// Wraps the error as a [`Failure::Io`] with `context`.
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Failure>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|err| Failure::io(context(), err))
    }
}
