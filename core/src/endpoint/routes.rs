//! Which connection a packet is for: (peer, connection id) to the slot,
//! with the last lookup remembered, so that a run of datagrams for one
//! connection (a bulk transfer) is routed without hashing each one.

use std::collections::HashMap;

use crate::peer::Peer;

/// The route table. Every change forgets the remembered lookup.
pub(super) struct Routes<P> {
    map: HashMap<(P, u16), u32>,
    last: Option<((P, u16), u32)>,
}

impl<P> Default for Routes<P> {
    fn default() -> Self {
        Routes {
            map: HashMap::new(),
            last: None,
        }
    }
}

impl<P: Peer> Routes<P> {
    /// The slot routed by `key`.
    pub(super) fn get(&self, key: &(P, u16)) -> Option<u32> {
        match &self.last {
            Some((k, index)) if k == key => Some(*index),
            _ => self.map.get(key).copied(),
        }
    }

    /// As [`get`](Self::get), remembering the answer for the next call.
    pub(super) fn lookup(&mut self, key: &(P, u16)) -> Option<u32> {
        if let Some((k, index)) = &self.last {
            if k == key {
                return Some(*index);
            }
        }
        let index = *self.map.get(key)?;
        self.last = Some((key.clone(), index));
        Some(index)
    }

    pub(super) fn contains_key(&self, key: &(P, u16)) -> bool {
        self.get(key).is_some()
    }

    pub(super) fn insert(&mut self, key: (P, u16), index: u32) {
        self.last = None;
        self.map.insert(key, index);
    }

    /// Removes `key`'s route if it leads to `index`.
    pub(super) fn remove_if(&mut self, key: &(P, u16), index: u32) {
        if self.map.get(key) == Some(&index) {
            self.last = None;
            self.map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::Routes;

    #[test]
    fn a_remembered_lookup_never_outlives_a_change() {
        let a = SocketAddr::from(([192, 0, 2, 1], 1000));
        let mut r = Routes::default();
        r.insert((a, 7), 1);
        assert_eq!(r.lookup(&(a, 7)), Some(1));
        assert_eq!(r.lookup(&(a, 7)), Some(1));
        r.insert((a, 7), 2);
        assert_eq!(r.lookup(&(a, 7)), Some(2));
        r.remove_if(&(a, 7), 1);
        assert_eq!(r.get(&(a, 7)), Some(2), "not the route to 1");
        r.remove_if(&(a, 7), 2);
        assert_eq!((r.lookup(&(a, 7)), r.get(&(a, 7))), (None, None));
        assert!(!r.contains_key(&(a, 7)));
        assert_eq!(r.lookup(&(a, 8)), None);
    }
}
