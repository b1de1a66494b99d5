//! Sends a file (or stdin) over uTP to HOST:PORT, then a FIN, and prints
//! what comes back until the server closes its side. Runs on smol.
//!
//! ```sh
//! cargo run -p utp-async-std --example async_std_echo_server -- --port 6881
//! cargo run -p utp-async-std --example async_std_file_client -- 127.0.0.1:6881 Cargo.toml
//! echo hello | cargo run -p utp-async-std --example async_std_file_client -- localhost:6881
//! ```

use std::error::Error;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use smol::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use smol::Unblock;
use utp_async_std::UtpSocket;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (target, file) = match args.as_slice() {
        [target] => (target, None),
        [target, file] => (target, Some(file)),
        _ => return Err("usage: file_client HOST:PORT [FILE]".into()),
    };
    smol::block_on(async {
        // IPv4 first: a server bound to 0.0.0.0 does not hear ::1.
        let mut remotes = smol::net::resolve(target.as_str()).await?;
        remotes.sort_by_key(SocketAddr::is_ipv6);
        let remote = *remotes.first().ok_or("no address")?;

        let input: Box<dyn AsyncRead + Unpin> = match file {
            Some(path) if path != "-" => Box::new(smol::fs::File::open(path).await?),
            _ => Box::new(Unblock::new(io::stdin())),
        };
        let (sent, received) = exchange(remote, input, Unblock::new(io::stdout())).await?;
        eprintln!("sent {sent} bytes, received {received}");
        Ok(())
    })
}

/// Connects to `remote`, sends all of `input` and a FIN, and meanwhile
/// copies what the server sends to `output` until its FIN. Returns the
/// bytes sent and received.
pub(crate) async fn exchange(
    remote: SocketAddr,
    input: impl AsyncRead,
    mut output: impl AsyncWrite + Unpin,
) -> io::Result<(u64, u64)> {
    let local: SocketAddr = match remote {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UtpSocket::bind(local).await?;
    let (reader, mut writer) = socket.connect(remote).await?.into_split();
    let send = async {
        let n = smol::io::copy(input, &mut writer).await?;
        writer.close().await?; // FIN: the server reads to the end
        Ok(n)
    };
    let receive = async {
        let n = smol::io::copy(reader, &mut output).await?;
        output.flush().await?;
        Ok(n)
    };
    smol::future::try_zip(send, receive).await
}
