//! Just enough bencoding (BEP 3) to read a single-file `.torrent`.

use std::io;

/// A decoded bencoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bencode {
    /// `i<n>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Bencode>),
    /// `d...e`, keys in file order.
    Dict(Vec<(Vec<u8>, Bencode)>),
}

impl Bencode {
    /// The value under `key` of a dictionary.
    pub fn get(&self, key: &[u8]) -> Option<&Bencode> {
        match self {
            Bencode::Dict(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Bencode::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Bencode::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

const MAX_DEPTH: usize = 32;

/// Decodes one value that spans all of `input`.
pub fn decode(input: &[u8]) -> io::Result<Bencode> {
    let (value, end) = decode_prefix(input, 0)?;
    if end != input.len() {
        return Err(invalid("trailing bytes after the bencoded value"));
    }
    Ok(value)
}

/// Decodes the value that starts at `pos`; returns it and where it ends.
pub fn decode_prefix(input: &[u8], pos: usize) -> io::Result<(Bencode, usize)> {
    parse(input, pos, 0)
}

/// Where the value stored under `key` in the top-level dictionary starts and
/// ends: the exact bytes a torrent's info-hash is taken over.
pub fn dict_value_span(input: &[u8], key: &[u8]) -> io::Result<(usize, usize)> {
    if input.first() != Some(&b'd') {
        return Err(invalid("not a dictionary"));
    }
    let mut pos = 1;
    while input.get(pos) != Some(&b'e') {
        let (k, after_key) = parse(input, pos, 1)?;
        let (_, after_value) = parse(input, after_key, 1)?;
        if k.as_bytes() == Some(key) {
            return Ok((after_key, after_value));
        }
        pos = after_value;
    }
    Err(invalid(format!(
        "no key {:?}",
        String::from_utf8_lossy(key)
    )))
}

fn parse(input: &[u8], pos: usize, depth: usize) -> io::Result<(Bencode, usize)> {
    if depth > MAX_DEPTH {
        return Err(invalid("nested too deep"));
    }
    match input.get(pos) {
        Some(b'i') => {
            let end = find(input, pos + 1, b'e')?;
            let n = number(input.get(pos + 1..end).unwrap_or_default())?;
            Ok((Bencode::Int(n), end + 1))
        }
        Some(b'l') => {
            let mut items = Vec::new();
            let mut p = pos + 1;
            while input.get(p) != Some(&b'e') {
                let (v, next) = parse(input, p, depth + 1)?;
                items.push(v);
                p = next;
            }
            Ok((Bencode::List(items), p + 1))
        }
        Some(b'd') => {
            let mut entries = Vec::new();
            let mut p = pos + 1;
            while input.get(p) != Some(&b'e') {
                let (k, next) = parse(input, p, depth + 1)?;
                let Bencode::Bytes(k) = k else {
                    return Err(invalid("dictionary key is not a string"));
                };
                let (v, next) = parse(input, next, depth + 1)?;
                entries.push((k, v));
                p = next;
            }
            Ok((Bencode::Dict(entries), p + 1))
        }
        Some(b'0'..=b'9') => {
            let colon = find(input, pos, b':')?;
            let len = usize::try_from(number(input.get(pos..colon).unwrap_or_default())?)
                .map_err(|_| invalid("negative string length"))?;
            let start = colon + 1;
            let end = start
                .checked_add(len)
                .filter(|e| *e <= input.len())
                .ok_or_else(|| invalid("string runs past the end"))?;
            Ok((
                Bencode::Bytes(input.get(start..end).unwrap_or_default().to_vec()),
                end,
            ))
        }
        Some(_) => Err(invalid(format!("unexpected byte at {pos}"))),
        None => Err(invalid("unexpected end of input")),
    }
}

fn find(input: &[u8], from: usize, byte: u8) -> io::Result<usize> {
    input
        .get(from..)
        .and_then(|rest| rest.iter().position(|b| *b == byte))
        .map(|i| from + i)
        .ok_or_else(|| invalid("unterminated value"))
}

fn number(digits: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("bad number"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decodes_nested_values_and_finds_spans() {
        let input = b"d3:agei42e4:infod6:lengthi7ee4:listl1:a1:bee";
        let v = decode(input).unwrap();
        assert_eq!(v.get(b"age").and_then(Bencode::as_int), Some(42));
        assert_eq!(
            v.get(b"list"),
            Some(&Bencode::List(vec![
                Bencode::Bytes(b"a".to_vec()),
                Bencode::Bytes(b"b".to_vec())
            ]))
        );
        let (s, e) = dict_value_span(input, b"info").unwrap();
        assert_eq!(&input[s..e], b"d6:lengthi7ee");
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            &b"i12"[..],
            b"5:abc",
            b"d1:ai1e",
            b"x",
            b"i1ei2e",
            b"di1ei2ee",
            b"",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
