//! The fault decisions of one direction of one mapping: seeded draws, the
//! script, what is spared (the handshake, FINs and the data dropped before
//! a FIN), and the datagram held back for reordering.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{Action, Direction, Fate, RelayConfig, Scripted};

/// Seeded fault decisions and the held-back datagram of one direction of one
/// mapping.
pub(super) struct Faults {
    rng: u64,
    seen: u64,
    held: Option<(Vec<u8>, Instant)>,
    direction: Direction,
    /// Copies of the datagrams the script sends again, by number.
    kept: HashMap<u64, Vec<u8>>,
    /// What the last decision sends again after the datagram.
    repeat: Option<Vec<u8>>,
    /// DATA packets dropped and not forwarded since, by sequence number
    /// (with `spare_fins`; the most recent [`MAX_UNREPAIRED`]).
    unrepaired: VecDeque<(u16, Vec<u8>)>,
    /// What the last decision sends before the datagram (a FIN's
    /// unrepaired packets).
    before: Vec<Vec<u8>>,
}

/// Dropped DATA packets a direction remembers for its FIN
/// ([`RelayConfig::spare_fins`]); older ones were sent again long since.
const MAX_UNREPAIRED: usize = 64;

/// A uTP header's type (the high nibble of its first byte: 0 DATA, 1 FIN)
/// and sequence number.
fn utp_type_and_seq(bytes: &[u8]) -> Option<(u8, u16)> {
    let first = *bytes.first()?;
    let seq: [u8; 2] = bytes.get(16..18)?.try_into().ok()?;
    Some((first >> 4, u16::from_be_bytes(seq)))
}

impl Faults {
    pub(super) fn new(seed: u64, client: SocketAddr, direction: Direction) -> Self {
        // Each mapping and direction gets its own stream of decisions.
        let mut rng = seed ^ u64::from(client.port()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if direction == Direction::ToClient {
            rng ^= 0xD1B5_4A32_D192_ED03;
        }
        Faults {
            rng,
            seen: 0,
            held: None,
            direction,
            kept: HashMap::new(),
            repeat: None,
            unrepaired: VecDeque::new(),
            before: Vec::new(),
        }
    }

    /// splitmix64, as a uniform number in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn decide(&mut self, config: &RelayConfig, bytes: &[u8]) -> Fate {
        let fate = self.draw(config, bytes);
        if config.spare_fins {
            match utp_type_and_seq(bytes) {
                // DATA: remembered when dropped, forgotten once through.
                Some((0, seq)) => {
                    self.unrepaired.retain(|(s, _)| *s != seq);
                    if fate == Fate::Dropped {
                        if self.unrepaired.len() == MAX_UNREPAIRED {
                            self.unrepaired.pop_front();
                        }
                        self.unrepaired.push_back((seq, bytes.to_vec()));
                    }
                }
                Some((1, _)) => {
                    self.before = self.unrepaired.drain(..).map(|(_, b)| b).collect();
                }
                _ => {}
            }
        }
        fate
    }

    fn draw(&mut self, config: &RelayConfig, bytes: &[u8]) -> Fate {
        self.seen += 1;
        let x = self.uniform();
        let (direction, nth) = (self.direction, self.seen);
        let mine = |s: &&Scripted| s.direction == direction;
        if config
            .script
            .iter()
            .filter(mine)
            .any(|s| s.action == Action::ThenRepeat { earlier: nth })
        {
            self.kept.insert(nth, bytes.to_vec());
        }
        if let Some(s) = config.script.iter().filter(mine).find(|s| s.nth == nth) {
            return match s.action {
                Action::Drop => Fate::Dropped,
                Action::Duplicate => Fate::Duplicated,
                Action::ThenRepeat { earlier } => match self.kept.get(&earlier) {
                    Some(copy) => {
                        self.repeat = Some(copy.clone());
                        Fate::Repeated
                    }
                    None => Fate::Forwarded,
                },
            };
        }
        // (A FIN is a header whose type nibble is 1.)
        let fin = bytes.first().is_some_and(|b| b >> 4 == 1);
        if nth <= config.spare_first || (config.spare_fins && fin) {
            return Fate::Forwarded;
        }
        if x < config.drop {
            Fate::Dropped
        } else if x < config.drop + config.reorder {
            Fate::Reordered
        } else if x < config.drop + config.reorder + config.duplicate {
            Fate::Duplicated
        } else {
            Fate::Forwarded
        }
    }

    /// Applies a decision: sends through `socket` to `to` what must go now.
    pub(super) async fn apply(
        &mut self,
        fate: Fate,
        bytes: &[u8],
        socket: &UdpSocket,
        to: SocketAddr,
        delay: Duration,
    ) {
        // Send errors are ignored: this is a lossy link (and a peer that went
        // away makes loopback sends fail with ECONNREFUSED).
        match fate {
            Fate::Dropped => {}
            Fate::Forwarded | Fate::Duplicated | Fate::Repeated => {
                for earlier in core::mem::take(&mut self.before) {
                    let _ = socket.send_to(&earlier, to).await;
                }
                let _ = socket.send_to(bytes, to).await;
                if fate == Fate::Duplicated {
                    let _ = socket.send_to(bytes, to).await;
                }
                if let Some(copy) = self.repeat.take() {
                    let _ = socket.send_to(&copy, to).await;
                }
                if let Some((held, _)) = self.held.take() {
                    let _ = socket.send_to(&held, to).await;
                }
            }
            Fate::Reordered => {
                if let Some((held, _)) = self.held.take() {
                    let _ = socket.send_to(&held, to).await;
                }
                self.held = Some((bytes.to_vec(), Instant::now() + delay));
            }
        }
    }

    pub(super) async fn release_if_due(&mut self, socket: &UdpSocket, to: SocketAddr) {
        if self
            .held
            .as_ref()
            .is_some_and(|(_, t)| *t <= Instant::now())
        {
            if let Some((held, _)) = self.held.take() {
                let _ = socket.send_to(&held, to).await;
            }
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.held.as_ref().map(|(_, t)| *t)
    }
}
