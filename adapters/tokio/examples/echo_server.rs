//! A uTP echo server: each connection gets back what it sends, and a FIN
//! once the client has sent its own.
//!
//! ```sh
//! cargo run -p utp-tokio --example echo_server -- --port 6881
//! cargo run -p utp-tokio --example file_client -- 127.0.0.1:6881 Cargo.toml
//! ```

use std::error::Error;
use std::io;

use utp_tokio::UtpSocket;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let port = port_arg()?;
    let socket = UtpSocket::bind(("0.0.0.0", port)).await?;
    println!("echoing uTP on {}", socket.local_addr()?);
    serve(socket).await?;
    Ok(())
}

/// Accepts connections for as long as the socket works; each one echoes
/// on its own task.
pub(crate) async fn serve(socket: UtpSocket) -> io::Result<()> {
    loop {
        let (stream, peer) = socket.accept().await?;
        tokio::spawn(async move {
            let (mut reader, mut writer) = stream.into_split();
            // Copies until the client's FIN; dropping `writer` sends ours.
            match tokio::io::copy(&mut reader, &mut writer).await {
                Ok(n) => println!("{peer}: echoed {n} bytes"),
                Err(e) => eprintln!("{peer}: {e}"),
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
