//! Sends a file (or stdin) over uTP to HOST:PORT, then a FIN, and prints
//! what comes back until the server closes its side. Blocking: one thread
//! sends while this one receives.
//!
//! ```sh
//! cargo run -p utp-mio --example mio_echo_server -- --port 6881
//! cargo run -p utp-mio --example mio_file_client -- 127.0.0.1:6881 Cargo.toml
//! echo hello | cargo run -p utp-mio --example mio_file_client -- localhost:6881
//! ```

use std::error::Error;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::thread;

use utp_mio::UtpStream;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (target, file) = match args.as_slice() {
        [target] => (target, None),
        [target, file] => (target, Some(file)),
        _ => return Err("usage: file_client HOST:PORT [FILE]".into()),
    };
    let input: Box<dyn Read + Send> = match file {
        Some(path) if path != "-" => Box::new(File::open(path)?),
        _ => Box::new(io::stdin()),
    };
    let (sent, received) = exchange(target.as_str(), input, io::stdout())?;
    eprintln!("sent {sent} bytes, received {received}");
    Ok(())
}

/// Connects to `remote`, sends all of `input` and a FIN, and meanwhile
/// copies what the server sends to `output` until its FIN. Returns the
/// bytes sent and received.
pub(crate) fn exchange(
    remote: impl ToSocketAddrs,
    mut input: impl Read + Send,
    mut output: impl Write,
) -> io::Result<(u64, u64)> {
    let stream = UtpStream::connect(remote)?;
    thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let sent = io::copy(&mut input, &mut &stream);
            // FIN even after an error, so that the server (and the reading
            // below) come to an end.
            stream.shutdown(std::net::Shutdown::Write)?;
            sent
        });
        let received = io::copy(&mut &stream, &mut output)?;
        output.flush()?;
        let sent = sender
            .join()
            .map_err(|_| io::Error::other("the sender panicked"))??;
        Ok((sent, received))
    })
}
