//! How a connection ends, as both sides see it: the close-reason code
//! (extension 3) in our FIN and RESET, the peer's code as libtorrent sends
//! it, and a RESET that follows the peer's FIN.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::{addr, pattern, Fate, Pair, Wire, A, B};
use utp_core::wire::{CloseReason as WireCloseReason, PacketRepr, PacketType, HEADER_LEN};
use utp_core::{CloseInfo, CloseReason, ConnHandle, Endpoint, Error};

/// Which side does what: the initiator (A) or the acceptor (B).
#[derive(Clone, Copy, Debug)]
enum Side {
    Initiator,
    Acceptor,
}

/// The handles as (closer, other), each with whether it is on A.
fn sides(ha: ConnHandle, hb: ConnHandle, closer: Side) -> [(ConnHandle, bool); 2] {
    match closer {
        Side::Initiator => [(ha, true), (hb, false)],
        Side::Acceptor => [(hb, false), (ha, true)],
    }
}

fn ep(p: &mut Pair, is_a: bool) -> &mut Endpoint {
    if is_a {
        &mut p.a
    } else {
        &mut p.b
    }
}

/// Reads everything `h` has now.
fn read_all(p: &mut Pair, is_a: bool, h: ConnHandle) -> (Vec<u8>, Result<usize, Error>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match ep(p, is_a).conn(h).unwrap().read(&mut buf) {
            Ok(0) => return (out, Ok(0)),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Err(e)),
        }
    }
}

/// The extension bytes after the header of a packet that carries a
/// close reason: an all-zero 4-byte SACK first (libutp drops a packet whose
/// first extension is 3), then the code.
fn close_extensions(code: u16) -> Vec<u8> {
    let [hi, lo] = code.to_be_bytes();
    vec![3, 4, 0, 0, 0, 0, 0, 4, 0, 0, hi, lo]
}

#[test]
fn a_close_reason_code_travels_in_the_fin_either_way() {
    for closer in [Side::Initiator, Side::Acceptor] {
        let mut p = Pair::default_pair();
        let (ha, hb) = p.connect();
        let [(hc, c_is_a), (ho, o_is_a)] = sides(ha, hb, closer);
        let data = pattern(3000, 4);
        let mut c = ep(&mut p, c_is_a).conn(hc).unwrap();
        assert_eq!(c.write(&data), Ok(3000));
        c.set_close_reason(Some(6));
        c.shutdown();
        drop(c);
        p.run_until(p.now + Duration::from_secs(1));
        let (got, end) = read_all(&mut p, o_is_a, ho);
        assert_eq!((got, end), (data, Ok(0)), "{closer:?}");
        assert_eq!(
            ep(&mut p, o_is_a).conn(ho).unwrap().peer_close_reason(),
            Some(6)
        );

        // The FIN on the wire: SACK (all zero) then the code.
        let from = if c_is_a { A } else { B };
        let fins: Vec<&Wire> = p
            .wire_from(from)
            .into_iter()
            .filter(|w| w.ty() == PacketType::Fin)
            .collect();
        assert_eq!(fins.len(), 1, "{closer:?}");
        assert_eq!(fins[0].bytes[1], 1, "first extension: SACK");
        assert_eq!(&fins[0].bytes[HEADER_LEN..], &close_extensions(6)[..]);

        // The other side finishes too, without a code.
        ep(&mut p, o_is_a).conn(ho).unwrap().shutdown();
        p.run_until(p.now + Duration::from_secs(1));
        let (_, end) = read_all(&mut p, c_is_a, hc);
        assert_eq!(end, Ok(0));
        p.run_until(p.now + Duration::from_secs(1));
        assert_eq!(
            ep(&mut p, c_is_a).conn(hc).unwrap().close_info(),
            Some(CloseInfo {
                reason: CloseReason::Finished,
                peer_code: None
            }),
            "{closer:?}"
        );
        assert_eq!(
            ep(&mut p, o_is_a).conn(ho).unwrap().close_info(),
            Some(CloseInfo {
                reason: CloseReason::Finished,
                peer_code: Some(6)
            }),
            "{closer:?}"
        );
    }
}

#[test]
fn abort_with_a_code_sends_it_in_the_reset() {
    for closer in [Side::Initiator, Side::Acceptor] {
        let mut p = Pair::default_pair();
        let (ha, hb) = p.connect();
        let [(hc, c_is_a), (ho, o_is_a)] = sides(ha, hb, closer);
        let mut c = ep(&mut p, c_is_a).conn(hc).unwrap();
        assert!(c.close_info().is_none(), "open");
        c.set_close_reason(Some(2));
        c.abort();
        drop(c);
        p.run_until(p.now + Duration::from_secs(1));
        let from = if c_is_a { A } else { B };
        let resets: Vec<&Wire> = p
            .wire_from(from)
            .into_iter()
            .filter(|w| w.ty() == PacketType::Reset)
            .collect();
        assert_eq!(resets.len(), 1, "{closer:?}");
        assert_eq!(&resets[0].bytes[HEADER_LEN..], &close_extensions(2)[..]);
        assert_eq!(
            ep(&mut p, o_is_a).conn(ho).unwrap().close_info(),
            Some(CloseInfo {
                reason: CloseReason::Reset,
                peer_code: Some(2)
            })
        );
        let (_, end) = read_all(&mut p, o_is_a, ho);
        assert_eq!(end, Err(Error::Closed(CloseReason::Reset)));
    }
}

#[test]
fn reads_after_eof_report_a_reset_that_came_later() {
    for closer in [Side::Initiator, Side::Acceptor] {
        let mut p = Pair::default_pair();
        let (ha, hb) = p.connect();
        let [(hc, c_is_a), (ho, o_is_a)] = sides(ha, hb, closer);
        let mut c = ep(&mut p, c_is_a).conn(hc).unwrap();
        assert_eq!(c.write(b"all of it"), Ok(9));
        c.shutdown();
        drop(c);
        p.run_until(p.now + Duration::from_secs(1));
        let (got, end) = read_all(&mut p, o_is_a, ho);
        assert_eq!((&got[..], end), (&b"all of it"[..], Ok(0)));
        // EOF again until something else happens.
        assert_eq!(read_all(&mut p, o_is_a, ho).1, Ok(0));
        // Then the writer gives up on the connection.
        ep(&mut p, c_is_a).conn(hc).unwrap().abort();
        p.run_until(p.now + Duration::from_secs(1));
        assert_eq!(
            read_all(&mut p, o_is_a, ho),
            (Vec::new(), Err(Error::Closed(CloseReason::Reset))),
            "{closer:?}"
        );
    }
}

/// Our SACK-then-reason extensions rewritten as libtorrent sends them:
/// the reason first and alone.
fn reason_first(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes[..HEADER_LEN].to_vec();
    out[1] = 3;
    out.extend_from_slice(&[0, 4]);
    out.extend_from_slice(&bytes[HEADER_LEN + 8..HEADER_LEN + 12]);
    out
}

/// libtorrent puts the close reason first, with no SACK, in its FIN; such
/// a code is read as well as ours.
#[test]
fn a_code_in_first_position_as_libtorrent_sends_it_is_read() {
    let mut p = Pair::default_pair();
    let (ha, hb) = p.connect();
    p.filter = Box::new(|w| {
        if w.from == addr(A) && w.ty() == PacketType::Fin {
            Fate::Rewrite(reason_first(&w.bytes))
        } else {
            Fate::Deliver
        }
    });
    let mut a = p.a.conn(ha).unwrap();
    a.set_close_reason(Some(8));
    a.shutdown();
    drop(a);
    p.run_until(p.now + Duration::from_secs(1));
    let fin = p
        .log
        .iter()
        .find(|w| w.from == addr(A) && w.ty() == PacketType::Fin)
        .unwrap();
    let delivered = reason_first(&fin.bytes);
    assert_eq!(&delivered[HEADER_LEN..], &[0, 4, 0, 0, 0, 8]);
    let parsed = PacketRepr::parse(&delivered).unwrap();
    assert_eq!(
        (parsed.selective_ack, parsed.close_reason),
        (None, Some(WireCloseReason(8)))
    );
    assert_eq!(read_all(&mut p, false, hb).1, Ok(0));
    assert_eq!(p.b.conn(hb).unwrap().peer_close_reason(), Some(8));
}
