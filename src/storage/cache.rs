//! The value cache: bounded in bytes, sharded to keep lock hold times short,
//! evicting by CLOCK (second chance), the usual LRU approximation: a hit only
//! sets a `referenced` bit instead of relinking a list, so a hit touches one
//! node instead of three. Keys are record locations: a location is never
//! reused (file ids only grow), so an entry can never return another record's
//! value.

use bytes::Bytes;
use hashbrown::HashMap;
use parking_lot::Mutex;

use super::Location;

const SHARDS: usize = 16;
/// Bookkeeping charged per entry on top of the value bytes.
const ENTRY_OVERHEAD: usize = 64;

struct Node {
    loc: Location,
    value: Bytes,
    referenced: bool,
}

/// One shard: a hash map into a ring of nodes swept by the clock hand.
struct Shard {
    map: HashMap<Location, u32>,
    ring: Vec<Option<Node>>,
    /// Empty ring slots.
    free: Vec<u32>,
    hand: usize,
    used: usize,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Shard {
        Shard {
            map: HashMap::new(),
            ring: Vec::new(),
            free: Vec::new(),
            hand: 0,
            used: 0,
            capacity,
        }
    }

    fn get(&mut self, loc: &Location) -> Option<Bytes> {
        let i = *self.map.get(loc)?;
        let node = self.ring.get_mut(i as usize)?.as_mut()?;
        node.referenced = true;
        Some(node.value.clone())
    }

    /// Evicts one entry: the first unreferenced one from the hand on,
    /// clearing reference bits as it passes (at most two sweeps).
    fn evict_one(&mut self) -> bool {
        let n = self.ring.len();
        for _ in 0..2 * n {
            let i = self.hand % n.max(1);
            self.hand = i + 1;
            let Some(node) = self.ring.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if node.referenced {
                node.referenced = false;
                continue;
            }
            let loc = node.loc;
            self.used -= node.value.len() + ENTRY_OVERHEAD;
            self.ring[i] = None;
            self.map.remove(&loc);
            self.free.push(i as u32);
            return true;
        }
        false
    }

    fn insert(&mut self, loc: Location, value: Bytes) {
        let charge = value.len() + ENTRY_OVERHEAD;
        if charge > self.capacity || self.map.contains_key(&loc) {
            return;
        }
        while self.used + charge > self.capacity {
            if !self.evict_one() {
                return;
            }
        }
        let node = Some(Node {
            loc,
            value,
            referenced: false,
        });
        let i = match self.free.pop() {
            Some(i) => {
                self.ring[i as usize] = node;
                i
            }
            None => {
                self.ring.push(node);
                (self.ring.len() - 1) as u32
            }
        };
        self.map.insert(loc, i);
        self.used += charge;
    }
}

/// A byte-bounded CLOCK (approximate LRU) cache of values keyed by location. Capacity 0 = disabled.
pub(crate) struct ValueCache {
    shards: Vec<Mutex<Shard>>,
    enabled: bool,
}

impl ValueCache {
    pub(crate) fn new(capacity: usize) -> ValueCache {
        let per = capacity / SHARDS;
        ValueCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new(per))).collect(),
            enabled: per > 0,
        }
    }

    fn shard(&self, loc: &Location) -> &Mutex<Shard> {
        let h = (u64::from(loc.file_id).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            ^ loc.offset.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        &self.shards[(h >> 32) as usize % SHARDS]
    }

    pub(crate) fn get(&self, loc: &Location) -> Option<Bytes> {
        if !self.enabled {
            return None;
        }
        self.shard(loc).lock().get(loc)
    }

    pub(crate) fn insert(&self, loc: Location, value: Bytes) {
        if self.enabled {
            self.shard(&loc).lock().insert(loc, value);
        }
    }

    /// Bytes charged (values + per-entry overhead).
    pub(crate) fn used(&self) -> usize {
        self.shards.iter().map(|s| s.lock().used).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(i: u64) -> Location {
        Location {
            file_id: 1,
            offset: i,
            len: 1,
        }
    }

    #[test]
    fn evicts_an_unreferenced_entry_within_budget() {
        let mut s = Shard::new(3 * (10 + ENTRY_OVERHEAD));
        for i in 0..3 {
            s.insert(loc(i), Bytes::from(vec![i as u8; 10]));
        }
        assert!(s.get(&loc(0)).is_some()); // 0 gets its second chance
        assert!(s.get(&loc(2)).is_some());
        s.insert(loc(3), Bytes::from(vec![3; 10]));
        assert!(
            s.get(&loc(1)).is_none(),
            "1 was the only unreferenced entry"
        );
        assert!(s.get(&loc(0)).is_some());
        assert!(s.get(&loc(2)).is_some());
        assert_eq!(s.get(&loc(3)).as_deref(), Some(&[3u8; 10][..]));
        assert!(s.used <= s.capacity);
    }

    #[test]
    fn never_exceeds_capacity_and_skips_oversized() {
        let c = ValueCache::new(16 * 1000);
        for i in 0..10_000u64 {
            c.insert(loc(i), Bytes::from(vec![0u8; (i % 300) as usize]));
        }
        assert!(c.used() <= 16 * 1000);
        c.insert(loc(99_999), Bytes::from(vec![0u8; 5000]));
        assert!(c.get(&loc(99_999)).is_none());
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let c = ValueCache::new(0);
        c.insert(loc(1), Bytes::from_static(b"x"));
        assert!(c.get(&loc(1)).is_none());
    }
}
