//! A minimal BitTorrent peer (BEP 3) for one single-file torrent over any
//! byte stream: the 68-byte handshake, the length-prefixed messages, a
//! downloader that requests every 16 KiB block and checks every piece's
//! SHA-1, and a seeder that answers requests. No extensions (the reserved
//! bytes are zero, so the other side sends a plain bitfield), no choking
//! algorithm: enough to move a torrent over uTP to and from libtorrent.
//!
//! This file holds the torrent file, the handshake and the messages;
//! `download.rs` the downloader, `seed.rs` the seeder.

use std::io;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::bencode::{self, Bencode};

mod download;
mod seed;

pub use download::{download, Downloaded};
pub use seed::{
    greet_downloader, greet_downloader_with, seed, seed_with, Greeting, SeedEnd, Served,
};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use tokio::io::AsyncWriteExt;

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
