//! The LRU value cache, bounded in bytes and sharded to keep lock hold times
//! short. Keys are record locations: a location is never reused (file ids only
//! grow), so an entry can never return another record's value.

use bytes::Bytes;
use hashbrown::HashMap;
use parking_lot::Mutex;

use super::Location;

const SHARDS: usize = 16;
/// Bookkeeping charged per entry on top of the value bytes.
const ENTRY_OVERHEAD: usize = 64;
const NIL: u32 = u32::MAX;

struct Node {
    loc: Location,
    value: Bytes,
    prev: u32,
    next: u32,
}

/// One shard: a hash map into a slab of nodes on an intrusive LRU list.
struct Shard {
    map: HashMap<Location, u32>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    used: usize,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Shard {
        Shard {
            map: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            used: 0,
            capacity,
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = old;
        }
        if old != NIL {
            self.nodes[old as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }

    fn get(&mut self, loc: &Location) -> Option<Bytes> {
        let i = *self.map.get(loc)?;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        Some(self.nodes[i as usize].value.clone())
    }

    fn insert(&mut self, loc: Location, value: Bytes) {
        let charge = value.len() + ENTRY_OVERHEAD;
        if charge > self.capacity || self.map.contains_key(&loc) {
            return;
        }
        while self.used + charge > self.capacity && self.tail != NIL {
            let t = self.tail;
            self.unlink(t);
            let node = &mut self.nodes[t as usize];
            self.used -= node.value.len() + ENTRY_OVERHEAD;
            node.value = Bytes::new();
            let old = node.loc;
            self.map.remove(&old);
            self.free.push(t);
        }
        let node = Node {
            loc,
            value,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.push_front(i);
        self.map.insert(loc, i);
        self.used += charge;
    }
}

/// A byte-bounded LRU of values keyed by location. Capacity 0 = disabled.
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
    fn evicts_least_recently_used_within_budget() {
        let mut s = Shard::new(3 * (10 + ENTRY_OVERHEAD));
        for i in 0..3 {
            s.insert(loc(i), Bytes::from(vec![i as u8; 10]));
        }
        assert!(s.get(&loc(0)).is_some()); // 0 is now most recent
        s.insert(loc(3), Bytes::from(vec![3; 10]));
        assert!(s.get(&loc(1)).is_none(), "1 was least recently used");
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
