//! The value cache: bounded in bytes, sharded to keep lock hold times short,
//! evicting by CLOCK (second chance), the usual LRU approximation: a hit only
//! sets a `referenced` bit instead of relinking a list. Keys are record
//! locations: a location is never reused (file ids only grow), so an entry
//! can never return another record's value.
//!
//! A hit costs one hash probe: the node (value and reference bit) lives in
//! the map's slot; the clock hand walks a separate ring of locations, touched
//! only when something must be evicted. Small values are kept as their own
//! boxed bytes and copied out on a hit (the copy touches the value's lines,
//! which the caller reads anyway, instead of a shared reference count on
//! another line and two atomic operations); larger ones are shared.

use bytes::Bytes;
use hashbrown::HashMap;
use parking_lot::Mutex;

use super::Location;

const SHARDS: usize = 16;
/// Bookkeeping charged per entry on top of the value bytes: the map slot
/// (location + node, about 56 bytes at 7/8 load), the ring's location (16)
/// and the value's heap block header (16).
const ENTRY_OVERHEAD: usize = 96;
/// Values up to this size are copied out on a hit; larger ones are shared.
const COPY_MAX: usize = 512;

/// A cached value.
enum Cached {
    /// Copied out on a hit.
    Small(Box<[u8]>),
    /// Cloned (reference counted) on a hit.
    Large(Bytes),
}

impl Cached {
    fn new(value: Bytes) -> Cached {
        if value.len() <= COPY_MAX {
            Cached::Small(value.as_ref().into())
        } else {
            Cached::Large(value)
        }
    }

    fn len(&self) -> usize {
        match self {
            Cached::Small(b) => b.len(),
            Cached::Large(b) => b.len(),
        }
    }

    fn get(&self) -> Bytes {
        match self {
            Cached::Small(b) => Bytes::copy_from_slice(b),
            Cached::Large(b) => b.clone(),
        }
    }
}

struct Node {
    value: Cached,
    referenced: bool,
}

/// One shard: the nodes by location, and the clock's ring of locations.
struct Shard {
    map: HashMap<Location, Node>,
    ring: Vec<Location>,
    hand: usize,
    used: usize,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Shard {
        Shard {
            map: HashMap::new(),
            ring: Vec::new(),
            hand: 0,
            used: 0,
            capacity,
        }
    }

    fn get(&mut self, loc: &Location) -> Option<Bytes> {
        let node = self.map.get_mut(loc)?;
        node.referenced = true;
        Some(node.value.get())
    }

    /// Evicts one entry: the first unreferenced one from the hand on,
    /// clearing reference bits as it passes (at most two sweeps). The last
    /// ring entry takes the evicted one's place.
    fn evict_one(&mut self) -> bool {
        for _ in 0..2 * self.ring.len() {
            if self.hand >= self.ring.len() {
                self.hand = 0;
            }
            let loc = self.ring[self.hand];
            match self.map.get_mut(&loc) {
                Some(node) if node.referenced => {
                    node.referenced = false;
                    self.hand += 1;
                }
                _ => {
                    if let Some(node) = self.map.remove(&loc) {
                        self.used -= node.value.len() + ENTRY_OVERHEAD;
                    }
                    self.ring.swap_remove(self.hand);
                    return true;
                }
            }
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
        self.map.insert(
            loc,
            Node {
                value: Cached::new(value),
                referenced: false,
            },
        );
        self.ring.push(loc);
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
    fn small_values_are_copied_and_large_ones_shared() {
        let c = ValueCache::new(16 * 100_000);
        let small = Bytes::from(vec![7u8; COPY_MAX]);
        let large = Bytes::from(vec![9u8; COPY_MAX + 1]);
        c.insert(loc(1), small.clone());
        c.insert(loc(2), large.clone());
        let got_small = c.get(&loc(1)).expect("small cached");
        let got_large = c.get(&loc(2)).expect("large cached");
        assert_eq!(got_small, small);
        assert_ne!(
            got_small.as_ptr(),
            small.as_ptr(),
            "a small value is a copy"
        );
        assert_eq!(
            got_large.as_ptr(),
            large.as_ptr(),
            "a large value is shared"
        );
        assert_eq!(c.used(), small.len() + large.len() + 2 * ENTRY_OVERHEAD);
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let c = ValueCache::new(0);
        c.insert(loc(1), Bytes::from_static(b"x"));
        assert!(c.get(&loc(1)).is_none());
    }
}
