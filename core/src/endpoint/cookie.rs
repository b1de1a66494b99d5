//! SYN cookies: a STATE whose sequence number is a keyed hash of the SYN,
//! so that an endpoint under a SYN flood answers without storing anything
//! and builds the connection only when the initiator's next packet
//! acknowledges the cookie (spec/README.md, "SYN cookies").
//!
//! The cookie is SipHash-1-3 under a 128-bit key drawn from the endpoint's
//! generator, over the peer's address and port, the SYN's connection id
//! and sequence number and the time bucket, truncated to the 16 bits a
//! sequence number has. The bucket number in the hash rotates the key in
//! effect every [`BUCKET`]; a cookie of the current or the previous bucket
//! is accepted, so a cookie lives between one and two buckets.

use core::hash::{Hash, Hasher};
use core::time::Duration;
#[cfg(test)]
use std::net::SocketAddr;

use siphasher::sip::SipHasher13;

use crate::seq::SeqNr;
use crate::time::Timestamp;

/// Length of a time bucket.
pub(crate) const BUCKET: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub(crate) struct CookieKey {
    k0: u64,
    k1: u64,
}

impl CookieKey {
    pub(crate) fn new(k0: u64, k1: u64) -> Self {
        CookieKey { k0, k1 }
    }

    fn bucket(now: Timestamp) -> u64 {
        now.as_micros() / BUCKET.as_micros() as u64
    }

    fn hash<P: Hash>(&self, peer: &P, syn_id: u16, syn_seq: SeqNr, bucket: u64) -> SeqNr {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        peer.hash(&mut h);
        h.write_u16(syn_id);
        h.write_u16(syn_seq.get());
        h.write_u64(bucket);
        SeqNr::new((h.finish() >> 48) as u16)
    }

    /// The cookie for a SYN received at `now`.
    pub(crate) fn make<P: Hash>(
        &self,
        now: Timestamp,
        peer: &P,
        syn_id: u16,
        syn_seq: SeqNr,
    ) -> SeqNr {
        self.hash(peer, syn_id, syn_seq, Self::bucket(now))
    }

    /// Whether `cookie` was made for this SYN in the current or the
    /// previous bucket.
    pub(crate) fn verify<P: Hash>(
        &self,
        now: Timestamp,
        peer: &P,
        syn_id: u16,
        syn_seq: SeqNr,
        cookie: SeqNr,
    ) -> bool {
        let bucket = Self::bucket(now);
        [bucket, bucket.wrapping_sub(1)]
            .into_iter()
            .any(|b| self.hash(peer, syn_id, syn_seq, b) == cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_verifies_for_its_syn_and_two_buckets_only() {
        let key = CookieKey::new(1, 2);
        let peer: SocketAddr = "192.0.2.1:6881"
            .parse()
            .unwrap_or(SocketAddr::from(([0; 4], 0)));
        let t = Timestamp::from_secs(100);
        let c = key.make(t, &peer, 7, SeqNr::new(9));
        assert!(key.verify(t, &peer, 7, SeqNr::new(9), c));
        assert!(key.verify(t + BUCKET, &peer, 7, SeqNr::new(9), c));
        assert!(!key.verify(t + BUCKET * 2, &peer, 7, SeqNr::new(9), c));
        // Another SYN, another peer or another key: another cookie (these
        // inputs happen not to collide in 16 bits).
        assert_ne!(key.make(t, &peer, 8, SeqNr::new(9)), c);
        assert_ne!(key.make(t, &peer, 7, SeqNr::new(10)), c);
        let other: SocketAddr = "192.0.2.2:6881".parse().unwrap_or(peer);
        assert_ne!(key.make(t, &other, 7, SeqNr::new(9)), c);
        assert_ne!(CookieKey::new(1, 3).make(t, &peer, 7, SeqNr::new(9)), c);
    }
}
