//! Sends a file (or stdin) over uTP to HOST:PORT, then a FIN, and prints
//! what comes back until the server closes its side.
//!
//! ```sh
//! cargo run -p utp-tokio --example echo_server -- --port 6881
//! cargo run -p utp-tokio --example file_client -- 127.0.0.1:6881 Cargo.toml
//! echo hello | cargo run -p utp-tokio --example file_client -- localhost:6881
//! ```

use std::error::Error;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use utp_tokio::UtpSocket;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (target, file) = match args.as_slice() {
        [target] => (target, None),
        [target, file] => (target, Some(file)),
        _ => return Err("usage: file_client HOST:PORT [FILE]".into()),
    };
    // IPv4 first: a server bound to 0.0.0.0 does not hear ::1.
    let mut remotes: Vec<SocketAddr> = tokio::net::lookup_host(target).await?.collect();
    remotes.sort_by_key(SocketAddr::is_ipv6);
    let remote = *remotes.first().ok_or("no address")?;

    let input: Box<dyn AsyncRead + Unpin> = match file {
        Some(path) if path != "-" => Box::new(tokio::fs::File::open(path).await?),
        _ => Box::new(tokio::io::stdin()),
    };
    let (sent, received) = exchange(remote, input, tokio::io::stdout()).await?;
    eprintln!("sent {sent} bytes, received {received}");
    Ok(())
}

/// Connects to `remote`, sends all of `input` and a FIN, and meanwhile
/// copies what the server sends to `output` until its FIN. Returns the
/// bytes sent and received.
pub(crate) async fn exchange(
    remote: SocketAddr,
    mut input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> io::Result<(u64, u64)> {
    let local = if remote.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UtpSocket::bind(local).await?;
    let (mut reader, mut writer) = socket.connect(remote).await?.into_split();
    let send = async {
        let n = tokio::io::copy(&mut input, &mut writer).await?;
        writer.shutdown().await?; // FIN: the server reads to the end
        Ok::<_, io::Error>(n)
    };
    let receive = async {
        let n = tokio::io::copy(&mut reader, &mut output).await?;
        output.flush().await?;
        Ok(n)
    };
    tokio::try_join!(send, receive)
}
