//! The endpoint's random numbers: connection ids, initial sequence numbers
//! and the SYN cookie key.
//!
//! ChaCha20 keyed from the endpoint seed: the same seed replays a run
//! exactly (tests, the simulator), and an observer who sees ids and
//! sequence numbers learns nothing about the next ones or about the cookie
//! key, as it could from a non-cryptographic generator. The adapters seed it
//! from the operating system.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[derive(Clone, Debug)]
pub(crate) struct Rng(ChaCha20Rng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(ChaCha20Rng::seed_from_u64(seed))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub(crate) fn next_u16(&mut self) -> u16 {
        (self.next_u64() >> 48) as u16
    }
}
