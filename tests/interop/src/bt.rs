//! A minimal BitTorrent peer (BEP 3) for one single-file torrent over any
//! byte stream: the 68-byte handshake, the length-prefixed messages, a
//! downloader that requests every 16 KiB block and checks every piece's
//! SHA-1, and a seeder that answers requests. No extensions (the reserved
//! bytes are zero, so the other side sends a plain bitfield), no choking
//! algorithm: enough to move a torrent over uTP to and from libtorrent.

use std::io;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::bencode::{self, Bencode};

/// Length of the handshake.
pub const HANDSHAKE_LEN: usize = 68;
/// The protocol string of the handshake.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
/// Size of a requested block (the size every client uses).
pub const BLOCK: u32 = 16 * 1024;
/// Longest message accepted: a piece message with a 16 KiB block, or a
/// bitfield of a large torrent.
pub const MAX_MESSAGE: usize = 1 << 20;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// What the downloader needs from a single-file `.torrent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    /// SHA-1 of the bencoded `info` dictionary, as it appears in the file.
    pub info_hash: [u8; 20],
    /// The file name.
    pub name: String,
    /// The file length in bytes.
    pub length: u64,
    /// Bytes per piece (the last piece may be shorter).
    pub piece_length: u64,
    /// SHA-1 of each piece.
    pub pieces: Vec<[u8; 20]>,
}

impl Metainfo {
    /// Parses a single-file torrent.
    pub fn from_bytes(torrent: &[u8]) -> io::Result<Metainfo> {
        let (start, end) = bencode::dict_value_span(torrent, b"info")?;
        let raw_info = torrent.get(start..end).unwrap_or_default();
        let info = bencode::decode(raw_info)?;
        let int = |key: &[u8]| {
            info.get(key)
                .and_then(Bencode::as_int)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| invalid(format!("info.{} missing", String::from_utf8_lossy(key))))
        };
        let length = int(b"length")?;
        let piece_length = int(b"piece length")?;
        if piece_length == 0 {
            return Err(invalid("piece length 0"));
        }
        let name = info
            .get(b"name")
            .and_then(Bencode::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let hashes = info
            .get(b"pieces")
            .and_then(Bencode::as_bytes)
            .ok_or_else(|| invalid("info.pieces missing"))?;
        if hashes.len() % 20 != 0 {
            return Err(invalid("info.pieces is not a multiple of 20 bytes"));
        }
        let pieces: Vec<[u8; 20]> = hashes
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();
        if pieces.len() as u64 != length.div_ceil(piece_length) {
            return Err(invalid("piece count does not match the length"));
        }
        Ok(Metainfo {
            info_hash: Sha1::digest(raw_info).into(),
            name,
            length,
            piece_length,
            pieces,
        })
    }

    /// Length of piece `index`.
    pub fn piece_len(&self, index: usize) -> u64 {
        let start = index as u64 * self.piece_length;
        self.length.saturating_sub(start).min(self.piece_length)
    }

    /// Whether `data` holds piece `index` with the right hash.
    pub fn piece_matches(&self, index: usize, data: &[u8]) -> bool {
        let digest: [u8; 20] = Sha1::digest(data).into();
        self.pieces.get(index) == Some(&digest)
    }
}

/// The 68-byte handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Extension bits (all zero from us).
    pub reserved: [u8; 8],
    /// The torrent.
    pub info_hash: [u8; 20],
    /// The sender's id.
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// The handshake on the wire.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut b = [0u8; HANDSHAKE_LEN];
        let parts: [&[u8]; 5] = [
            &[19],
            PROTOCOL,
            &self.reserved,
            &self.info_hash,
            &self.peer_id,
        ];
        let mut at = 0;
        for part in parts {
            if let Some(dst) = b.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
        }
        b
    }

    /// Parses a received handshake.
    pub fn parse(b: &[u8; HANDSHAKE_LEN]) -> io::Result<Handshake> {
        if b.first() != Some(&19) || b.get(1..20) != Some(&PROTOCOL[..]) {
            return Err(invalid("not a BitTorrent handshake"));
        }
        let mut h = Handshake {
            reserved: [0; 8],
            info_hash: [0; 20],
            peer_id: [0; 20],
        };
        h.reserved.copy_from_slice(b.get(20..28).unwrap_or(&[0; 8]));
        h.info_hash
            .copy_from_slice(b.get(28..48).unwrap_or(&[0; 20]));
        h.peer_id.copy_from_slice(b.get(48..68).unwrap_or(&[0; 20]));
        Ok(h)
    }
}

/// A peer wire message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Length 0.
    KeepAlive,
    /// id 0
    Choke,
    /// id 1
    Unchoke,
    /// id 2
    Interested,
    /// id 3
    NotInterested,
    /// id 4
    Have(u32),
    /// id 5
    Bitfield(Vec<u8>),
    /// id 6
    Request {
        /// Piece index.
        index: u32,
        /// Offset in the piece.
        begin: u32,
        /// Bytes asked for.
        length: u32,
    },
    /// id 7
    Piece {
        /// Piece index.
        index: u32,
        /// Offset in the piece.
        begin: u32,
        /// The bytes.
        block: Vec<u8>,
    },
    /// id 8
    Cancel {
        /// Piece index.
        index: u32,
        /// Offset in the piece.
        begin: u32,
        /// Bytes.
        length: u32,
    },
    /// Any other id (extensions), with its payload.
    Other(u8, Vec<u8>),
}

fn be32(b: &[u8], at: usize) -> io::Result<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| invalid("message too short"))
}

impl Message {
    /// The message with its 4-byte length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let three = |body: &mut Vec<u8>, id: u8, a: u32, b: u32, c: u32| {
            body.push(id);
            for n in [a, b, c] {
                body.extend_from_slice(&n.to_be_bytes());
            }
        };
        match self {
            Message::KeepAlive => {}
            Message::Choke => body.push(0),
            Message::Unchoke => body.push(1),
            Message::Interested => body.push(2),
            Message::NotInterested => body.push(3),
            Message::Have(i) => {
                body.push(4);
                body.extend_from_slice(&i.to_be_bytes());
            }
            Message::Bitfield(bits) => {
                body.push(5);
                body.extend_from_slice(bits);
            }
            Message::Request {
                index,
                begin,
                length,
            } => three(&mut body, 6, *index, *begin, *length),
            Message::Piece {
                index,
                begin,
                block,
            } => {
                body.push(7);
                body.extend_from_slice(&index.to_be_bytes());
                body.extend_from_slice(&begin.to_be_bytes());
                body.extend_from_slice(block);
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => three(&mut body, 8, *index, *begin, *length),
            Message::Other(id, payload) => {
                body.push(*id);
                body.extend_from_slice(payload);
            }
        }
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a message body (the bytes after the length prefix).
    pub fn decode(body: &[u8]) -> io::Result<Message> {
        let Some((&id, rest)) = body.split_first() else {
            return Ok(Message::KeepAlive);
        };
        let fixed = |n: usize| {
            if rest.len() == n {
                Ok(())
            } else {
                Err(invalid(format!(
                    "message {id} has {} payload bytes",
                    rest.len()
                )))
            }
        };
        Ok(match id {
            0 => fixed(0).map(|_| Message::Choke)?,
            1 => fixed(0).map(|_| Message::Unchoke)?,
            2 => fixed(0).map(|_| Message::Interested)?,
            3 => fixed(0).map(|_| Message::NotInterested)?,
            4 => {
                fixed(4)?;
                Message::Have(be32(rest, 0)?)
            }
            5 => Message::Bitfield(rest.to_vec()),
            6 | 8 => {
                fixed(12)?;
                let (index, begin, length) = (be32(rest, 0)?, be32(rest, 4)?, be32(rest, 8)?);
                if id == 6 {
                    Message::Request {
                        index,
                        begin,
                        length,
                    }
                } else {
                    Message::Cancel {
                        index,
                        begin,
                        length,
                    }
                }
            }
            7 => Message::Piece {
                index: be32(rest, 0)?,
                begin: be32(rest, 4)?,
                block: rest.get(8..).unwrap_or_default().to_vec(),
            },
            _ => Message::Other(id, rest.to_vec()),
        })
    }
}

/// Reads one message; `Ok(None)` at a clean end of stream (between messages).
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Message>> {
    let mut len = [0u8; 4];
    let first = r.read(&mut len).await?;
    if first == 0 {
        return Ok(None);
    }
    if let Some(rest) = len.get_mut(first..) {
        r.read_exact(rest).await?;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(invalid(format!("message of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Message::decode(&body).map(Some)
}

/// A peer id for our side: `-UI0001-` and 12 bytes from `seed`.
pub fn peer_id(seed: u64) -> [u8; 20] {
    let mut id = *b"-UI0001-000000000000";
    let digits = format!("{:012}", seed % 1_000_000_000_000);
    if let Some(dst) = id.get_mut(8..) {
        dst.copy_from_slice(digits.as_bytes());
    }
    id
}

fn bitfield_all(pieces: usize) -> Vec<u8> {
    let mut bits = vec![0xffu8; pieces.div_ceil(8)];
    if let Some(last) = bits.last_mut() {
        let spare = bits_len(pieces) - pieces;
        *last = 0xffu8 << spare;
    }
    bits
}

fn bits_len(pieces: usize) -> usize {
    pieces.div_ceil(8) * 8
}

fn has_all(bits: &[u8], pieces: usize) -> bool {
    bits.len() == pieces.div_ceil(8) && bits == bitfield_all(pieces).as_slice()
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// A torrent as libtorrent's create_torrent writes one (keys sorted).
    fn torrent(data: &[u8], piece_length: usize) -> Vec<u8> {
        let mut pieces = Vec::new();
        for chunk in data.chunks(piece_length) {
            pieces.extend_from_slice(&Sha1::digest(chunk));
        }
        let mut info = format!(
            "d6:lengthi{}e4:name4:file12:piece lengthi{piece_length}e6:pieces{}:",
            data.len(),
            pieces.len()
        )
        .into_bytes();
        info.extend_from_slice(&pieces);
        info.push(b'e');
        let mut t = b"d13:creation datei0e4:info".to_vec();
        t.extend_from_slice(&info);
        t.push(b'e');
        t
    }

    #[test]
    fn metainfo_hashes_the_info_dictionary() {
        let data = crate::data::pattern(100_000, 1);
        let t = torrent(&data, 32768);
        let m = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(m.length, 100_000);
        assert_eq!(m.pieces.len(), 4);
        assert_eq!(m.piece_len(3), 100_000 - 3 * 32768);
        assert_eq!(m.name, "file");
        let (s, e) = bencode::dict_value_span(&t, b"info").unwrap();
        assert_eq!(m.info_hash, <[u8; 20]>::from(Sha1::digest(&t[s..e])));
        assert!(m.piece_matches(3, &data[3 * 32768..]));
        assert!(!m.piece_matches(2, &data[3 * 32768..]));
    }

    #[test]
    fn messages_round_trip() {
        let all = [
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(7),
            Message::Bitfield(vec![0xff, 0xe0]),
            Message::Request {
                index: 1,
                begin: 16384,
                length: 16384,
            },
            Message::Piece {
                index: 2,
                begin: 0,
                block: vec![1, 2, 3],
            },
            Message::Cancel {
                index: 1,
                begin: 0,
                length: 5,
            },
            Message::Other(20, vec![9]),
        ];
        for m in all {
            let wire = m.encode();
            assert_eq!(
                u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize,
                wire.len() - 4
            );
            assert_eq!(Message::decode(&wire[4..]).unwrap(), m);
        }
        assert!(Message::decode(&[4, 0, 0]).is_err());
        assert_eq!(bitfield_all(11), vec![0xff, 0xe0]);
        assert_eq!(bitfield_all(16), vec![0xff, 0xff]);
        assert_eq!(&peer_id(42), b"-UI0001-000000000042");
    }

    #[tokio::test]
    async fn download_and_seed_talk_to_each_other() {
        let data = crate::data::pattern(300_000, 9);
        let meta = Metainfo::from_bytes(&torrent(&data, 65536)).unwrap();
        let (mut a, mut b) = tokio::io::duplex(100_000);
        let seeder = {
            let (meta, data) = (meta.clone(), data.clone());
            tokio::spawn(async move { seed(&mut b, &meta, &data, peer_id(2)).await.unwrap() })
        };
        let got = download(&mut a, &meta, peer_id(1), 8).await.unwrap();
        assert_eq!(got.data, data);
        assert_eq!(got.pieces, 5);
        assert_eq!(&got.remote.peer_id, &peer_id(2));
        a.write_all(&Message::NotInterested.encode()).await.unwrap();
        drop(a);
        let served = seeder.await.unwrap();
        assert_eq!(served.bytes, 300_000);
        assert_eq!(served.blocks, 300_000u64.div_ceil(16384));
        assert!(served.not_interested);
        assert_eq!(served.end, SeedEnd::Eof);
        assert_eq!(&served.remote.peer_id, &peer_id(1));
    }
}
