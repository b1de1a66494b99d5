//! The seeder: greets a downloader and answers its requests while it
//! reads them.

use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::{
    bitfield_all, invalid, read_message, Handshake, Message, Metainfo, BLOCK, HANDSHAKE_LEN,
};

/// How a [`seed`] session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedEnd {
    /// The downloader closed the stream (FIN).
    Eof,
    /// The stream failed with this error kind (for example a RESET).
    Error(io::ErrorKind),
}

/// What [`seed`] did.
#[derive(Clone, Debug)]
pub struct Served {
    /// The downloader's handshake.
    pub remote: Handshake,
    /// Piece messages sent.
    pub blocks: u64,
    /// Block bytes sent.
    pub bytes: u64,
    /// Whether the downloader said "not interested" (it has everything).
    pub not_interested: bool,
    /// From the first request to the last block sent.
    pub elapsed: Duration,
    /// How the session ended.
    pub end: SeedEnd,
}

/// When a seeder sends its greeting (handshake, bitfield, unchoke).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Greeting {
    /// After the downloader's handshake, as an acceptor does.
    Answer,
    /// At once, as an initiator does (libtorrent's acceptor waits for the
    /// initiator's handshake).
    First,
}

/// A seeder's greeting to the downloader at the other end of `stream`:
/// reads its handshake (wrong info-hash is an error) and answers with ours,
/// a full bitfield and an unchoke. Returns the downloader's handshake.
pub async fn greet_downloader<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    meta: &Metainfo,
    our_id: [u8; 20],
) -> io::Result<Handshake> {
    greet_downloader_with(stream, meta, our_id, Greeting::Answer).await
}

/// [`greet_downloader`], the greeting sent when `greeting` says.
pub async fn greet_downloader_with<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    meta: &Metainfo,
    our_id: [u8; 20],
    greeting: Greeting,
) -> io::Result<Handshake> {
    let ours = Handshake {
        reserved: [0; 8],
        info_hash: meta.info_hash,
        peer_id: our_id,
    };
    let mut hello = ours.to_bytes().to_vec();
    hello.extend_from_slice(&Message::Bitfield(bitfield_all(meta.pieces.len())).encode());
    hello.extend_from_slice(&Message::Unchoke.encode());
    if greeting == Greeting::First {
        stream.write_all(&hello).await?;
    }
    let mut hs = [0u8; HANDSHAKE_LEN];
    stream.read_exact(&mut hs).await?;
    let remote = Handshake::parse(&hs)?;
    if remote.info_hash != meta.info_hash {
        return Err(invalid("the downloader asked for another info-hash"));
    }
    if greeting == Greeting::Answer {
        stream.write_all(&hello).await?;
    }
    Ok(remote)
}

/// Serves `data` (the torrent's file) to a downloader at the other end of
/// `stream` until it closes: [`greet_downloader`], then a piece message for
/// every valid request.
pub async fn seed<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    meta: &Metainfo,
    data: &[u8],
    our_id: [u8; 20],
) -> io::Result<Served> {
    seed_with(stream, meta, data, our_id, Greeting::Answer).await
}

/// [`seed`], the greeting sent when `greeting` says.
///
/// The seeder reads while it writes, as a BitTorrent client must: the
/// requests are read as they come and answered in order, and the session
/// ends when the downloader closes, even with pieces still to write (a
/// downloader that has everything closes without reading what it asked for
/// twice; a write cannot wait for it).
pub async fn seed_with<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    meta: &Metainfo,
    data: &[u8],
    our_id: [u8; 20],
    greeting: Greeting,
) -> io::Result<Served> {
    let mut s = BufReader::with_capacity(64 * 1024, stream);
    let remote = greet_downloader_with(&mut s, meta, our_id, greeting).await?;
    let (mut rd, mut wr) = tokio::io::split(s);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let mut not_interested = false;
    let (mut blocks, mut bytes) = (0u64, 0u64);
    let mut started: Option<Instant> = None;
    let mut elapsed = Duration::ZERO;
    // Reads requests until the downloader closes: the session's end.
    let reader = async {
        loop {
            let msg = match read_message(&mut rd).await {
                Ok(Some(msg)) => msg,
                Ok(None) => return Ok(SeedEnd::Eof),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(e),
                Err(e) => return Ok(SeedEnd::Error(e.kind())),
            };
            let reply = match msg {
                Message::Request {
                    index,
                    begin,
                    length,
                } => {
                    let p = index as usize;
                    let (at, length) = (u64::from(begin), u64::from(length));
                    if p >= meta.pieces.len()
                        || length > u64::from(BLOCK)
                        || at + length > meta.piece_len(p)
                    {
                        return Err(invalid(format!("bad request {index}/{begin}/{length}")));
                    }
                    let at = (p as u64 * meta.piece_length + at) as usize;
                    let block = data
                        .get(at..at + length as usize)
                        .unwrap_or_default()
                        .to_vec();
                    Message::Piece {
                        index,
                        begin,
                        block,
                    }
                }
                Message::NotInterested => {
                    not_interested = true;
                    continue;
                }
                Message::Interested => Message::Unchoke,
                _ => continue,
            };
            // The writer lives as long as this loop.
            let _ = tx.send(reply);
        }
    };
    // Writes the replies in order; only a failed write ends it.
    let writer = async {
        while let Some(reply) = rx.recv().await {
            let length = match &reply {
                Message::Piece { block, .. } => {
                    started.get_or_insert_with(Instant::now);
                    Some(block.len() as u64)
                }
                _ => None,
            };
            wr.write_all(&reply.encode()).await?;
            if let Some(length) = length {
                blocks += 1;
                bytes += length;
                elapsed = started.map(|t| t.elapsed()).unwrap_or_default();
            }
        }
        std::future::pending::<io::Result<()>>().await
    };
    let end = tokio::select! {
        end = reader => end?,
        written = writer => match written {
            Err(e) => SeedEnd::Error(e.kind()),
            Ok(()) => SeedEnd::Eof,
        },
    };
    Ok(Served {
        remote,
        blocks,
        bytes,
        not_interested,
        elapsed,
        end,
    })
}
