//! The downloader: requests every block of the torrent from a seeder and
//! checks every piece.

use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::{has_all, invalid, read_message, Handshake, Message, Metainfo, BLOCK, HANDSHAKE_LEN};

/// What [`download`] got.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// The file, every piece checked against its SHA-1.
    pub data: Vec<u8>,
    /// The seeder's handshake.
    pub remote: Handshake,
    /// Pieces received and checked.
    pub pieces: usize,
    /// Blocks received twice (after a choke) and ignored.
    pub duplicate_blocks: usize,
    /// From the first request to the last piece.
    pub elapsed: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Missing,
    Requested,
    Have,
}

/// Downloads the whole torrent from a seeder at the other end of `stream`:
/// handshake, bitfield (must say it has every piece), interested, unchoke,
/// then requests for every 16 KiB block with at most `pipeline` outstanding;
/// each piece is checked against its SHA-1 as it completes (a mismatch is an
/// `InvalidData` error naming the piece). Leaves the stream open.
pub async fn download<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    meta: &Metainfo,
    our_id: [u8; 20],
    pipeline: usize,
) -> io::Result<Downloaded> {
    let mut s = BufReader::with_capacity(64 * 1024, stream);
    let ours = Handshake {
        reserved: [0; 8],
        info_hash: meta.info_hash,
        peer_id: our_id,
    };
    s.write_all(&ours.to_bytes()).await?;
    let mut hs = [0u8; HANDSHAKE_LEN];
    s.read_exact(&mut hs).await?;
    let remote = Handshake::parse(&hs)?;
    if remote.info_hash != meta.info_hash {
        return Err(invalid("the seeder answered with another info-hash"));
    }
    let pieces = meta.pieces.len();
    let length = usize::try_from(meta.length).map_err(|_| invalid("torrent too large"))?;
    let piece_length = meta.piece_length as usize;
    let blocks_per_piece = piece_length.div_ceil(BLOCK as usize);
    // Block b of piece p is state[p * blocks_per_piece + b].
    let block_len = |p: usize, b: usize| {
        let piece = meta.piece_len(p) as usize;
        piece.saturating_sub(b * BLOCK as usize).min(BLOCK as usize)
    };
    let mut state: Vec<Block> = (0..pieces * blocks_per_piece)
        .map(|i| {
            if block_len(i / blocks_per_piece, i % blocks_per_piece) == 0 {
                Block::Have
            } else {
                Block::Missing
            }
        })
        .collect();
    let mut received_in_piece = vec![0usize; pieces];
    let mut data = vec![0u8; length];
    let mut done_pieces = 0;
    let mut duplicate_blocks = 0;
    let mut outstanding = 0usize;
    let mut choked = true;
    let mut interested_sent = false;
    let mut next = 0usize; // lowest block index that may be Missing
    let mut started: Option<Instant> = None;

    while done_pieces < pieces {
        if !choked && outstanding < pipeline {
            let mut batch = Vec::new();
            let mut i = next;
            while outstanding < pipeline && i < state.len() {
                if state.get(i) == Some(&Block::Missing) {
                    let (p, b) = (i / blocks_per_piece, i % blocks_per_piece);
                    batch.extend_from_slice(
                        &Message::Request {
                            index: p as u32,
                            begin: (b * BLOCK as usize) as u32,
                            length: block_len(p, b) as u32,
                        }
                        .encode(),
                    );
                    if let Some(st) = state.get_mut(i) {
                        *st = Block::Requested;
                    }
                    outstanding += 1;
                }
                i += 1;
            }
            next = i;
            if !batch.is_empty() {
                started.get_or_insert_with(Instant::now);
                s.write_all(&batch).await?;
            }
        }
        let Some(msg) = read_message(&mut s).await? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("seeder closed with {done_pieces} of {pieces} pieces done"),
            ));
        };
        match msg {
            Message::Bitfield(bits) => {
                if !has_all(&bits, pieces) {
                    return Err(invalid("the seeder's bitfield lacks pieces"));
                }
                if !interested_sent {
                    s.write_all(&Message::Interested.encode()).await?;
                    interested_sent = true;
                }
            }
            Message::Unchoke => {
                if !interested_sent {
                    s.write_all(&Message::Interested.encode()).await?;
                    interested_sent = true;
                }
                choked = false;
            }
            Message::Choke => {
                // Without the fast extension a choke discards our requests:
                // ask again after the next unchoke.
                choked = true;
                for st in state.iter_mut().filter(|st| **st == Block::Requested) {
                    *st = Block::Missing;
                }
                outstanding = 0;
                next = 0;
            }
            Message::Piece {
                index,
                begin,
                block,
            } => {
                let (p, off) = (index as usize, begin as usize);
                if p >= pieces || off % BLOCK as usize != 0 {
                    return Err(invalid(format!("unrequested block {p}/{off}")));
                }
                let b = off / BLOCK as usize;
                let i = p * blocks_per_piece + b;
                if block.len() != block_len(p, b) || b >= blocks_per_piece {
                    return Err(invalid(format!(
                        "block {p}/{off} has {} bytes",
                        block.len()
                    )));
                }
                match state.get(i) {
                    Some(Block::Have) => {
                        duplicate_blocks += 1;
                        continue;
                    }
                    Some(Block::Requested) => outstanding = outstanding.saturating_sub(1),
                    _ => {}
                }
                if let Some(st) = state.get_mut(i) {
                    *st = Block::Have;
                }
                let at = p * piece_length + off;
                if let Some(dst) = data.get_mut(at..at + block.len()) {
                    dst.copy_from_slice(&block);
                }
                if let Some(r) = received_in_piece.get_mut(p) {
                    *r += block.len();
                    if *r as u64 == meta.piece_len(p) {
                        let piece = data
                            .get(p * piece_length..p * piece_length + *r)
                            .unwrap_or_default();
                        if !meta.piece_matches(p, piece) {
                            return Err(invalid(format!("piece {p} fails its SHA-1 check")));
                        }
                        done_pieces += 1;
                    }
                }
            }
            // Have, keepalive, extension messages: nothing to do.
            _ => {}
        }
    }
    Ok(Downloaded {
        data,
        remote,
        pieces: done_pieces,
        duplicate_blocks,
        elapsed: started.map(|t| t.elapsed()).unwrap_or_default(),
    })
}
