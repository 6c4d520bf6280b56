//! The partitions of the `Hash` index kind: extendible hashing over the
//! top bits of the key hash, so that a SCAN step costs one small partition
//! instead of a fixed share of the whole index.
//!
//! * A part holds the keys whose hash starts with its `prefix` (`bits` bits
//!   long), in a hashbrown table of at most [`PART_CAP`] keys: when an insert
//!   finds its part full, the part splits in two on the next hash bit (the
//!   keys with that bit set move to a new part) instead of letting the table
//!   double. A split moves at most `PART_CAP` keys, so no insert pauses for
//!   a whole-index resize (a 10 M-key index of 64 fixed partitions used to
//!   rehash 156 k keys at once).
//! * `dir[top(h, depth)]` is the part of hash `h`; `depth` is the longest
//!   prefix, and a part of `bits` bits owns `2^(depth - bits)` consecutive
//!   directory slots. The directory doubles when a part as long as it splits.
//! * A part covers one contiguous range of the hash space, and the parts in
//!   hash order tile it; [`Index::scan`](super::index::Index::scan) walks
//!   them from the cursor's part. Parts never merge: after mass deletes a
//!   SCAN may walk some empty parts.
//!
//! * A SCAN step hands out a part's keys in hash order, and the tables do
//!   not keep the hashes: the step would hash every key of its part (up to
//!   [`PART_CAP`]) to hand out ten. The dir remembers the sorted hashes of
//!   the last [`SCAN_MEMO`] parts a SCAN visited ([`HashDir::sorted_hashes`]), each
//!   under the part's `stamp`, which every added or removed key bumps; the
//!   next step in the same part then finds its keys by hash.
//!
//! Memory: the tables load between 44 % (just split) and 87 % (full), as a
//! hashbrown table does between doublings; a part adds 56 bytes and the
//! directory 4 bytes per slot (about 1 MB at 10 M keys); the SCAN memory
//! at most [`SCAN_MEMO`] parts' hashes (3.5 KB each).

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use hashbrown::{DefaultHashBuilder, HashTable};

use super::index::{push_from, table_hash, Key};

/// Keys a part holds before it splits: the capacity of a 512-bucket
/// hashbrown table (7/8 of the buckets).
pub(super) const PART_CAP: usize = 448;

/// Parts whose sorted hashes SCAN remembers (several clients scanning at
/// once each keep theirs).
pub(super) const SCAN_MEMO: usize = 16;

/// The longest prefix a part may have; a part this deep (only reachable
/// through colliding hashes) grows its table instead of splitting.
const MAX_BITS: u32 = 24;

/// The top `bits` bits of `h` (0 for no bits).
fn top(h: u64, bits: u32) -> usize {
    h.checked_shr(64 - bits).unwrap_or(0) as usize
}

/// One partition: the keys whose hash starts with `prefix`.
struct Part<V> {
    table: HashTable<(Key, V)>,
    /// Length of the prefix, in bits.
    bits: u32,
    prefix: u64,
    /// Bumped whenever a key comes or goes: what SCAN remembered of the
    /// part under another stamp is stale.
    stamp: u64,
}

impl<V> Part<V> {
    fn new(bits: u32, prefix: u64) -> Part<V> {
        Part {
            table: HashTable::new(),
            bits,
            prefix,
            stamp: 0,
        }
    }
}

/// The part of a hash as a SCAN step sees it ([`HashDir::part_at`]).
struct PartView<'a, V> {
    table: &'a HashTable<(Key, V)>,
    /// The end of the part's hash range (exclusive; `None` for the last).
    end: Option<u64>,
    id: usize,
    stamp: u64,
}

/// The sorted key hashes of recently scanned parts: (part, its stamp then,
/// the hashes), and the slot to reuse next.
#[derive(Default)]
struct ScanMemo {
    parts: Vec<(usize, u64, Arc<[u64]>)>,
    next: usize,
}

/// The parts of a `Hash` index and their directory (see the module docs).
pub(super) struct HashDir<V> {
    /// `2^depth` slots: `depth` is `dir.len().trailing_zeros()`.
    dir: Vec<u32>,
    parts: Vec<Part<V>>,
    memo: Mutex<ScanMemo>,
}

/// Empties `table`, handing out its entries with their key hashes.
fn drain_hashed<'a, V>(
    table: &'a mut HashTable<(Key, V)>,
    hasher: &'a DefaultHashBuilder,
) -> impl Iterator<Item = (u64, (Key, V))> + 'a {
    table.drain().map(|e| (hasher.hash_one(e.0.as_slice()), e))
}

/// A fresh table holding `entries` (with their key hashes): no tombstones,
/// room for [`PART_CAP`] keys, no allocation when empty.
fn fresh_table<V>(
    entries: Vec<(u64, (Key, V))>,
    hasher: &DefaultHashBuilder,
) -> HashTable<(Key, V)> {
    if entries.is_empty() {
        return HashTable::new();
    }
    let mut table = HashTable::with_capacity(PART_CAP.max(entries.len()));
    for (h, entry) in entries {
        table.insert_unique(table_hash(h), entry, |(k, _)| {
            table_hash(hasher.hash_one(k.as_slice()))
        });
    }
    table
}

impl<V> HashDir<V> {
    /// One empty part.
    pub(super) fn new() -> HashDir<V> {
        HashDir {
            dir: vec![0],
            parts: vec![Part::new(0, 0)],
            memo: Mutex::default(),
        }
    }

    /// Records that a key of hash `h` was added or removed.
    pub(super) fn touch(&mut self, h: u64) {
        let i = self.part_of(h);
        self.parts[i].stamp += 1;
    }

    fn depth(&self) -> u32 {
        self.dir.len().trailing_zeros()
    }

    fn part_of(&self, h: u64) -> usize {
        self.dir[top(h, self.depth())] as usize
    }

    /// The table that holds hash `h`.
    pub(super) fn table(&self, h: u64) -> &HashTable<(Key, V)> {
        &self.parts[self.part_of(h)].table
    }

    /// The table that holds hash `h`, mutably (no split: for lookups,
    /// replacements and removals).
    pub(super) fn table_mut(&mut self, h: u64) -> &mut HashTable<(Key, V)> {
        let i = self.part_of(h);
        &mut self.parts[i].table
    }

    /// The table a key of hash `h` is inserted into, after splitting its
    /// part while the part is full.
    pub(super) fn table_for_insert(
        &mut self,
        h: u64,
        hasher: &DefaultHashBuilder,
    ) -> &mut HashTable<(Key, V)> {
        loop {
            let i = self.part_of(h);
            let p = &self.parts[i];
            let (len, room) = (p.table.len(), p.table.capacity() - p.table.len());
            if len >= PART_CAP && p.bits < MAX_BITS {
                self.split(i, hasher);
            } else if room == 0 && len * 2 > PART_CAP && len < PART_CAP {
                // Full of tombstones left by removals: hashbrown would double
                // the table; a fresh one of the part's size holds the insert.
                let table = &mut self.parts[i].table;
                let entries = drain_hashed(table, hasher).collect();
                *table = fresh_table(entries, hasher);
                return table;
            } else {
                return &mut self.parts[i].table;
            }
        }
    }

    /// Splits part `i` on its next hash bit: the keys with the bit set move
    /// to a new part.
    fn split(&mut self, i: usize, hasher: &DefaultHashBuilder) {
        let bits = self.parts[i].bits;
        if bits == self.depth() {
            let dir = std::mem::take(&mut self.dir);
            self.dir = dir.iter().flat_map(|&p| [p, p]).collect();
        }
        let bit = 63 - bits;
        let hi_prefix = (self.parts[i].prefix << 1) | 1;
        let lo = &mut self.parts[i];
        lo.bits = bits + 1;
        lo.prefix <<= 1;
        lo.stamp += 1;
        // Both halves go to fresh tables: removing keys from a hashbrown
        // table leaves tombstones that count against its room, and the next
        // insert would double the table instead of filling it.
        let (upper, lower): (Vec<_>, Vec<_>) =
            drain_hashed(&mut lo.table, hasher).partition(|(h, _)| (h >> bit) & 1 == 1);
        lo.table = fresh_table(lower, hasher);
        let mut hi = Part::new(bits + 1, hi_prefix);
        hi.table = fresh_table(upper, hasher);
        let n = self.parts.len() as u32;
        self.parts.push(hi);
        let span = self.depth() - (bits + 1);
        let first = (hi_prefix as usize) << span;
        self.dir[first..first + (1 << span)].fill(n);
    }

    /// The part holding hash `h`.
    fn part_at(&self, h: u64) -> PartView<'_, V> {
        let id = self.part_of(h);
        let p = &self.parts[id];
        let end = if p.bits == 0 {
            None
        } else {
            (p.prefix + 1).checked_shl(64 - p.bits).filter(|&e| e != 0)
        };
        PartView {
            table: &p.table,
            end,
            id,
            stamp: p.stamp,
        }
    }

    /// The key hashes of `part`, sorted (equal ones repeated): remembered
    /// from an earlier step while the part has not changed, else computed
    /// and remembered in place of the oldest.
    fn sorted_hashes(&self, part: &PartView<'_, V>, hasher: &DefaultHashBuilder) -> Arc<[u64]> {
        // A panic elsewhere while the lock was held leaves only hashes.
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, hashes)) = memo
            .parts
            .iter()
            .find(|(id, stamp, _)| *id == part.id && *stamp == part.stamp)
        {
            return Arc::clone(hashes);
        }
        let mut hashes: Vec<u64> = part
            .table
            .iter()
            .map(|(k, _)| hasher.hash_one(k.as_slice()))
            .collect();
        hashes.sort_unstable();
        let hashes: Arc<[u64]> = hashes.into();
        let remembered = (part.id, part.stamp, Arc::clone(&hashes));
        let next = memo.next;
        if memo.parts.len() < SCAN_MEMO {
            memo.parts.push(remembered);
        } else {
            memo.parts[next] = remembered;
        }
        memo.next = (next + 1) % SCAN_MEMO;
        hashes
    }

    /// [`Index::scan`](super::index::Index::scan)'s step in the part
    /// holding `cursor`: pushes its entries of hash `>= cursor` to `out`,
    /// only the first `room` in hash order and the rest of the last one's
    /// hash group; returns the end of the part's hash range (`None` for the
    /// last part) and whether entries were left out.
    pub(super) fn collect<'a>(
        &'a self,
        cursor: u64,
        room: usize,
        hasher: &DefaultHashBuilder,
        out: &mut Vec<(u64, Cow<'a, [u8]>, &'a V)>,
    ) -> (Option<u64>, bool) {
        let part = self.part_at(cursor);
        if room >= part.table.len() {
            // The whole part fits (a big COUNT): each key hashed once,
            // nothing sorted or remembered.
            push_from(part.table.iter().map(|(k, v)| (k, v)), cursor, hasher, out);
            return (part.end, false);
        }
        // The part's hashes in order, usually remembered from the step
        // before: only the keys handed out are looked up (and hashed, to
        // tell them from others with the same tag).
        let hashes = self.sorted_hashes(&part, hasher);
        let rest = &hashes[hashes.partition_point(|&h| h < cursor)..];
        let n = match rest.get(room.saturating_sub(1)) {
            Some(&last) if rest.len() > room => rest.partition_point(|&h| h <= last),
            _ => rest.len(),
        };
        let mut previous = None;
        for &h in &rest[..n] {
            if previous == Some(h) {
                // Keys of one hash: the first lookup found them all.
                continue;
            }
            previous = Some(h);
            for (k, v) in part.table.iter_hash(table_hash(h)) {
                if hasher.hash_one(k.as_slice()) == h {
                    out.push((h, Cow::Borrowed(k.as_slice()), v));
                }
            }
        }
        (part.end, n < rest.len())
    }

    /// Every table.
    pub(super) fn tables(&self) -> impl Iterator<Item = &HashTable<(Key, V)>> {
        self.parts.iter().map(|p| &p.table)
    }

    /// Number of parts and the most keys one holds.
    #[cfg(test)]
    pub(super) fn part_sizes(&self) -> (usize, usize) {
        let most = self.parts.iter().map(|p| p.table.len()).max();
        (self.parts.len(), most.unwrap_or(0))
    }

    /// Panics unless the layout invariants hold: the directory maps every
    /// slot to the part whose prefix it extends, and every key is in the
    /// part of its hash.
    #[cfg(test)]
    pub(super) fn check(&self, hasher: &DefaultHashBuilder) {
        let depth = self.depth();
        assert!(self.dir.len().is_power_of_two());
        for (slot, &p) in self.dir.iter().enumerate() {
            let part = &self.parts[p as usize];
            assert!(part.bits <= depth);
            assert_eq!((slot >> (depth - part.bits)) as u64, part.prefix);
        }
        for (i, part) in self.parts.iter().enumerate() {
            for (k, _) in part.table.iter() {
                assert_eq!(self.part_of(hasher.hash_one(k.as_slice())), i);
            }
        }
    }
}
