//! A uTP echo server: each connection gets back what it sends, and a FIN
//! once the client has sent its own. Runs on smol; under async-std, use
//! `async_std::task::{block_on, spawn}` instead.
//!
//! ```sh
//! cargo run -p utp-async-std --example async_std_echo_server -- --port 6881
//! cargo run -p utp-async-std --example async_std_file_client -- 127.0.0.1:6881 Cargo.toml
//! ```

use std::error::Error;
use std::io;
use std::net::SocketAddr;

use smol::io::AsyncWriteExt;
use utp_async_std::UtpSocket;

fn main() -> Result<(), Box<dyn Error>> {
    let port = port_arg()?;
    smol::block_on(async {
        let socket = UtpSocket::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
        println!("echoing uTP on {}", socket.local_addr()?);
        serve(socket).await
    })?;
    Ok(())
}

/// Accepts connections for as long as the socket works; each one echoes
/// on its own task.
pub(crate) async fn serve(socket: UtpSocket) -> io::Result<()> {
    loop {
        let (stream, peer) = socket.accept().await?;
        smol::spawn(async move {
            let (reader, mut writer) = stream.into_split();
            // Copies until the client's FIN, then sends ours.
            let echoed = smol::io::copy(reader, &mut writer).await;
            match (echoed, writer.close().await) {
                (Ok(n), Ok(())) => println!("{peer}: echoed {n} bytes"),
                (Err(e), _) | (_, Err(e)) => eprintln!("{peer}: {e}"),
            }
        })
        .detach();
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
