//! A uTP echo server on the blocking API: a thread per connection echoes
//! what it reads, and sends a FIN once the client has sent its own.
//!
//! ```sh
//! cargo run -p utp-mio --example mio_echo_server -- --port 6881
//! cargo run -p utp-mio --example mio_file_client -- 127.0.0.1:6881 Cargo.toml
//! ```

use std::error::Error;
use std::io;
use std::thread;

use utp_mio::UtpListener;

fn main() -> Result<(), Box<dyn Error>> {
    let listener = UtpListener::bind(("0.0.0.0", port_arg()?))?;
    println!("echoing uTP on {}", listener.local_addr()?);
    serve(listener)?;
    Ok(())
}

/// Accepts connections for as long as the socket works; each one echoes
/// on its own thread.
pub(crate) fn serve(listener: UtpListener) -> io::Result<()> {
    loop {
        let (stream, peer) = listener.accept()?;
        thread::spawn(move || {
            // `&UtpStream` reads and writes: copy from the stream to itself
            // until the client's FIN, then send ours.
            let echoed = io::copy(&mut &stream, &mut &stream);
            match (echoed, stream.shutdown(std::net::Shutdown::Write)) {
                (Ok(n), Ok(())) => println!("{peer}: echoed {n} bytes"),
                (Err(e), _) | (_, Err(e)) => eprintln!("{peer}: {e}"),
            }
        });
    }
}

/// `--port PORT`; without it, any free port.
fn port_arg() -> Result<u16, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(0),
        [flag, port] if flag == "--port" => port.parse().map_err(|e| format!("--port {port}: {e}")),
        _ => Err("usage: echo_server [--port PORT]".into()),
    }
}
