//! The index kinds as one generic map: `Index<V>` from byte-string keys to `V`.
//!
//! Used by the [`Engine`](super::Engine)'s keydir (values are record
//! locations) and by the keyspace (values are Redis objects). The caller
//! provides the locking: every mutation takes `&mut self`.
//!
//! ## Layout and the SCAN guarantee
//!
//! Every kind is split into partitions by the top bits of a 64-bit hash of
//! the key (foldhash with a per-index seed): the ordered kinds into
//! [`PARTITIONS`] fixed ones, the `Hash` kind into partitions of at most
//! 448 keys that split as the index grows (extendible hashing,
//! `hashdir.rs`). The SCAN cursor is
//! a position in hash order: `scan(cursor, count)` returns keys whose hash is
//! `>= cursor` in increasing hash order (all keys sharing the last returned
//! hash together) and the next cursor is that hash + 1 (0 = done). A key's
//! hash never changes and no rehash reorders anything, so a key present for
//! the whole scan is returned exactly once, however many keys are added or
//! removed meanwhile (Redis promises "at least once"). A scan call costs one
//! pass over the partitions it touches: at most 448 keys each for `Hash`
//! (O(1) in the index's size), `len / 64` for the ordered kinds.
//!
//! ## Kinds and memory per entry (64-bit, beyond the key bytes and `V`)
//!
//! Keys are stored as [`Key`]: 24 bytes, inline up to 22 bytes (no heap
//! block at all), boxed beyond.
//!
//! * `Hash`: hashbrown `HashTable<(Key, V)>` per partition: 24 + `V` bytes
//!   per slot (padded to 8), 1 control byte, at a load factor between 44 %
//!   (just split) and 87 % (full). For the Engine's 16-byte `V`: 40 bytes per
//!   slot, about 40 × 1.6 + 1.6 ≈ 66 bytes per key *including* a key of up
//!   to 22 bytes; measured by `examples/storage_reopen.rs` at 10 M keys of
//!   16 bytes: 69.4 heap bytes per key, 53.4 beyond the key bytes (52.8 with
//!   the former 64 fixed partitions pre-sized from the hint files). A
//!   longer key adds its heap block.
//! * `BTree`: `BTreeMap<Key, V>`: B-tree nodes of up to 11 entries at 50-100 %
//!   fill: about (24 + `V`) / 0.7 + 8 ≈ 65 bytes for `V` = 16.
//! * `SkipList`: crossbeam-skiplist `SkipMap<Key, u32>` mapping the key to a
//!   slot of a slab `Vec<Option<V>>` (that is how `get_mut` is offered
//!   soundly: the skip list holds only the slot number). A node is about
//!   24 (key) + 4 (slot) + 16 (refcount, height) + 1.33 tower pointers on
//!   average, rounded by malloc, + the slab slot: ≈ 100 bytes for `V` = 16.
//!
//! crossbeam-skiplist 0.1.3 leaks the nodes a `range`/`iter` iteration visits;
//! this module never calls them: ordered walks use `lower_bound` / `front`
//! and `Entry::next`, and a test (`tests/storage_skiplist_churn.rs`) counts
//! allocations under insert / remove / scan churn to prove the memory stays
//! bounded.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::ops::Bound;

use crossbeam_skiplist::SkipMap;
use hashbrown::DefaultHashBuilder;

use super::error::{Error, Result};
use super::hashdir::HashDir;
use super::IndexKind;

/// Bytes of a key stored inline in a [`Key`].
pub const INLINE_KEY: usize = 22;

/// A key as the index stores it: inline up to [`INLINE_KEY`] bytes, boxed
/// beyond. 24 bytes either way; compares, hashes and orders as its bytes.
#[derive(Clone)]
pub enum Key {
    /// A short key, stored in place.
    Inline {
        /// Number of used bytes of `bytes`.
        len: u8,
        /// The key, zero padded.
        bytes: [u8; INLINE_KEY],
    },
    /// A longer key on the heap.
    Heap(Box<[u8]>),
}

impl Key {
    /// Copies `key`.
    pub fn new(key: &[u8]) -> Key {
        if key.len() <= INLINE_KEY {
            let mut bytes = [0u8; INLINE_KEY];
            bytes[..key.len()].copy_from_slice(key);
            Key::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(key.into())
        }
    }

    /// The key bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Heap(b) => b,
        }
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?})", self.as_slice())
    }
}

/// Number of hash partitions of every index (a power of two).
pub const PARTITIONS: usize = 64;
const PART_SHIFT: u32 = 64 - PARTITIONS.trailing_zeros();

/// The slab behind one skip-list partition.
struct SkipPart<V> {
    map: SkipMap<Key, u32>,
    slab: Vec<Option<V>>,
    free: Vec<u32>,
}

impl<V> SkipPart<V> {
    fn new() -> SkipPart<V> {
        SkipPart {
            map: SkipMap::new(),
            slab: Vec::new(),
            free: Vec::new(),
        }
    }

    fn slot(&self, key: &[u8]) -> Option<u32> {
        self.map.get(key).map(|e| *e.value())
    }
}

enum Parts<V> {
    Hash(HashDir<V>),
    BTree(Vec<BTreeMap<Key, V>>),
    SkipList(Vec<SkipPart<V>>),
}

/// A map from byte-string keys to `V` in the configured [`IndexKind`].
pub struct Index<V> {
    kind: IndexKind,
    hasher: DefaultHashBuilder,
    parts: Parts<V>,
    len: usize,
}

impl<V> std::fmt::Debug for Index<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("kind", &self.kind)
            .field("len", &self.len)
            .finish()
    }
}

/// The hash given to a hashbrown table. SwissTable takes its 7-bit control
/// tag from the top bits, which are the partition bits (equal within a
/// partition); rotating gives the table fresh bits for both tag and bucket.
pub(super) fn table_hash(hash: u64) -> u64 {
    hash.rotate_left(32)
}

fn partition(hash: u64) -> usize {
    (hash >> PART_SHIFT) as usize
}

/// Pushes the entries whose key hash is `>= cursor` to `out`, with their
/// hashes (a SCAN step's candidates).
pub(super) fn push_from<'a, V: 'a>(
    entries: impl Iterator<Item = (&'a Key, &'a V)>,
    cursor: u64,
    hasher: &DefaultHashBuilder,
    out: &mut Vec<(u64, Cow<'a, [u8]>, &'a V)>,
) {
    for (k, v) in entries {
        let h = hasher.hash_one(&**k);
        if h >= cursor {
            out.push((h, Cow::Borrowed(&**k), v));
        }
    }
}

/// Is `key` within `(lo, hi)`'s upper bound?
fn below(key: &[u8], hi: Bound<&[u8]>) -> bool {
    match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => key <= h,
        Bound::Excluded(h) => key < h,
    }
}

/// True when no key can satisfy both bounds (avoids `BTreeMap::range` panics).
fn empty_range(lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
    match (lo, hi) {
        (Bound::Included(l), Bound::Included(h)) => l > h,
        (Bound::Included(l), Bound::Excluded(h))
        | (Bound::Excluded(l), Bound::Included(h))
        | (Bound::Excluded(l), Bound::Excluded(h)) => l >= h,
        _ => false,
    }
}

impl<V> Index<V> {
    /// An empty index of `kind` with a fresh hash seed.
    pub fn new(kind: IndexKind) -> Index<V> {
        Index::with_hasher(kind, DefaultHashBuilder::default())
    }

    /// An empty index sharing `hasher` (indexes built from clones of one
    /// hasher order keys identically, which a sharded owner can use to scan
    /// shard by shard with one cursor).
    pub fn with_hasher(kind: IndexKind, hasher: DefaultHashBuilder) -> Index<V> {
        let parts = match kind {
            IndexKind::Hash => Parts::Hash(HashDir::new()),
            IndexKind::BTree => Parts::BTree((0..PARTITIONS).map(|_| BTreeMap::new()).collect()),
            IndexKind::SkipList => {
                Parts::SkipList((0..PARTITIONS).map(|_| SkipPart::new()).collect())
            }
        };
        Index {
            kind,
            hasher,
            parts,
            len: 0,
        }
    }

    /// The kind.
    pub fn kind(&self) -> IndexKind {
        self.kind
    }

    /// True for the ordered kinds (`BTree`, `SkipList`).
    pub fn is_ordered(&self) -> bool {
        self.kind != IndexKind::Hash
    }

    /// The 64-bit hash that orders `key` for [`Index::scan`].
    pub fn hash_key(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// An empty index of the same kind and hash seed (a key hashes as it
    /// did here, so a hash taken before still finds its key there).
    pub fn emptied(&self) -> Index<V> {
        Index::with_hasher(self.kind, self.hasher)
    }

    /// Starts loading the slot where `key`, of hash `h` ([`Index::hash_key`]),
    /// is or would be into the cache, for a lookup with the same hash after
    /// some other work. A hint: nothing changes.
    pub fn prefetch(&self, h: u64) {
        if let Parts::Hash(d) = &self.parts {
            if let Some(entry) = d.table(h).iter_hash(table_hash(h)).next() {
                crate::prefetch::lines(entry);
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_hashed(self.hash_key(key), key)
    }

    /// [`Index::get`] with `key`'s hash `h` ([`Index::hash_key`]).
    pub(crate) fn get_hashed(&self, h: u64, key: &[u8]) -> Option<&V> {
        debug_assert_eq!(h, self.hash_key(key));
        let p = partition(h);
        match &self.parts {
            Parts::Hash(d) => d
                .table(h)
                .find(table_hash(h), |(k, _)| **k == *key)
                .map(|(_, v)| v),
            Parts::BTree(t) => t[p].get(key),
            Parts::SkipList(t) => {
                let s = t[p].slot(key)?;
                t[p].slab.get(s as usize)?.as_ref()
            }
        }
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_mut_hashed(self.hash_key(key), key)
    }

    /// [`Index::get_mut`] with `key`'s hash `h` ([`Index::hash_key`]).
    pub(crate) fn get_mut_hashed(&mut self, h: u64, key: &[u8]) -> Option<&mut V> {
        debug_assert_eq!(h, self.hash_key(key));
        let p = partition(h);
        match &mut self.parts {
            Parts::Hash(d) => d
                .table_mut(h)
                .find_mut(table_hash(h), |(k, _)| **k == *key)
                .map(|(_, v)| v),
            Parts::BTree(t) => t[p].get_mut(key),
            Parts::SkipList(t) => {
                let s = t[p].slot(key)?;
                t[p].slab.get_mut(s as usize)?.as_mut()
            }
        }
    }

    /// Inserts or replaces; returns the previous value. The key is copied
    /// only when it is new.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        self.insert_hashed(self.hash_key(key), key, value)
    }

    /// [`Index::insert`] with `key`'s hash `h` ([`Index::hash_key`]).
    pub(crate) fn insert_hashed(&mut self, h: u64, key: &[u8], value: V) -> Option<V> {
        debug_assert_eq!(h, self.hash_key(key));
        let p = partition(h);
        let Index {
            hasher, parts, len, ..
        } = self;
        let old = match parts {
            Parts::Hash(d) => {
                match d.table_for_insert(h, hasher).entry(
                    table_hash(h),
                    |(k, _)| **k == *key,
                    |(k, _)| table_hash(hasher.hash_one(&**k)),
                ) {
                    hashbrown::hash_table::Entry::Occupied(mut o) => {
                        Some(std::mem::replace(&mut o.get_mut().1, value))
                    }
                    hashbrown::hash_table::Entry::Vacant(v) => {
                        v.insert((Key::new(key), value));
                        d.touch(h);
                        None
                    }
                }
            }
            Parts::BTree(t) => match t[p].get_mut(key) {
                Some(slot) => Some(std::mem::replace(slot, value)),
                None => {
                    t[p].insert(Key::new(key), value);
                    None
                }
            },
            Parts::SkipList(t) => {
                let part = &mut t[p];
                match part.slot(key) {
                    Some(s) => part
                        .slab
                        .get_mut(s as usize)
                        .and_then(|slot| slot.replace(value)),
                    None => {
                        let s = match part.free.pop() {
                            Some(s) => {
                                part.slab[s as usize] = Some(value);
                                s
                            }
                            None => {
                                part.slab.push(Some(value));
                                (part.slab.len() - 1) as u32
                            }
                        };
                        part.map.insert(Key::new(key), s);
                        None
                    }
                }
            }
        };
        if old.is_none() {
            *len += 1;
        }
        old
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_hashed(self.hash_key(key), key)
    }

    /// [`Index::remove`] with `key`'s hash `h` ([`Index::hash_key`]).
    pub(crate) fn remove_hashed(&mut self, h: u64, key: &[u8]) -> Option<V> {
        debug_assert_eq!(h, self.hash_key(key));
        let p = partition(h);
        let old = match &mut self.parts {
            Parts::Hash(d) => match d
                .table_mut(h)
                .find_entry(table_hash(h), |(k, _)| **k == *key)
            {
                Ok(o) => {
                    let old = o.remove().0 .1;
                    d.touch(h);
                    Some(old)
                }
                Err(_) => None,
            },
            Parts::BTree(t) => t[p].remove(key),
            Parts::SkipList(t) => {
                let part = &mut t[p];
                let s = part.map.remove(key).map(|e| *e.value());
                match s {
                    Some(s) => {
                        let v = part.slab.get_mut(s as usize).and_then(Option::take);
                        part.free.push(s);
                        v
                    }
                    None => None,
                }
            }
        };
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        let kind = self.kind;
        let hasher = self.hasher;
        *self = Index::with_hasher(kind, hasher);
    }

    /// Calls `f` on every entry (unspecified order for `Hash`, hash-partition
    /// order for the others; use [`Index::range`] for key order).
    pub fn for_each(&self, f: &mut dyn FnMut(&[u8], &V)) {
        match &self.parts {
            Parts::Hash(d) => d.tables().for_each(|t| t.iter().for_each(|(k, v)| f(k, v))),
            Parts::BTree(t) => t.iter().for_each(|m| m.iter().for_each(|(k, v)| f(k, v))),
            Parts::SkipList(t) => {
                for part in t {
                    let mut cur = part.map.front();
                    while let Some(e) = cur {
                        if let Some(Some(v)) = part.slab.get(*e.value() as usize) {
                            f(e.key(), v);
                        }
                        cur = e.next();
                    }
                }
            }
        }
    }

    /// One SCAN step: hands up to about `count` entries with hash `>= cursor`
    /// to `f` in hash order and returns the next cursor (0 = complete). See
    /// the module docs for the guarantee.
    pub fn scan(&self, cursor: u64, count: usize, f: &mut dyn FnMut(&[u8], &V)) -> u64 {
        let count = count.max(1);
        let mut emitted = 0usize;
        let mut cursor = cursor;
        loop {
            let mut found: Vec<(u64, Cow<'_, [u8]>, &V)> = Vec::new();
            let room = count - emitted;
            let (end, more) = self.collect_from(cursor, room, &mut found);
            let order = |a: &(u64, Cow<'_, [u8]>, &V), b: &(u64, Cow<'_, [u8]>, &V)| {
                a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1))
            };
            if !found.is_empty() && (found.len() > room || more) {
                // Only the first `room` entries (and the rest of the last
                // one's hash group) are handed out: select, then sort them.
                let room = room.min(found.len());
                found.select_nth_unstable_by(room - 1, order);
                let last_hash = found[room - 1].0;
                let mut n = room;
                for i in room..found.len() {
                    if found[i].0 == last_hash {
                        found.swap(n, i);
                        n += 1;
                    }
                }
                found[..n].sort_unstable_by(order);
                for (_, k, v) in &found[..n] {
                    f(k, v);
                }
                return last_hash.wrapping_add(1);
            }
            found.sort_unstable_by(order);
            for (_, k, v) in &found {
                f(k, v);
            }
            emitted += found.len();
            let Some(end) = end else { return 0 };
            cursor = end;
            if emitted >= count {
                return cursor;
            }
        }
    }

    /// Pushes the entries of the partition holding hash `cursor` whose hash
    /// is `>= cursor` to `out` (the `Hash` kind: only the first `room` in
    /// hash order, and the rest of the last one's hash group); returns the
    /// end of the partition's hash range (`None` for the last partition)
    /// and whether entries were left out.
    fn collect_from<'a>(
        &'a self,
        cursor: u64,
        room: usize,
        out: &mut Vec<(u64, Cow<'a, [u8]>, &'a V)>,
    ) -> (Option<u64>, bool) {
        let hasher = &self.hasher;
        let p = partition(cursor);
        let fixed_end = (p + 1 < PARTITIONS).then(|| ((p + 1) as u64) << PART_SHIFT);
        match &self.parts {
            Parts::Hash(d) => d.collect(cursor, room, hasher, out),
            Parts::BTree(t) => {
                push_from(t[p].iter(), cursor, hasher, out);
                (fixed_end, false)
            }
            Parts::SkipList(t) => {
                // Skip-list entries lend their keys only while the entry
                // lives, so qualifying keys are copied.
                let part = &t[p];
                let mut cur = part.map.front();
                while let Some(e) = cur {
                    let h = hasher.hash_one(&**e.key());
                    if h >= cursor {
                        if let Some(Some(v)) = part.slab.get(*e.value() as usize) {
                            out.push((h, Cow::Owned(e.key().to_vec()), v));
                        }
                    }
                    cur = e.next();
                }
                (fixed_end, false)
            }
        }
    }

    /// Walks keys in order within `(lo, hi)`, calling `f` until it returns
    /// `false`. [`Error::InvalidArgument`] for the unordered `Hash` kind.
    pub fn range(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        f: &mut dyn FnMut(&[u8], &V) -> bool,
    ) -> Result<()> {
        if empty_range(lo, hi) {
            return Ok(());
        }
        match &self.parts {
            Parts::Hash(_) => Err(Error::InvalidArgument(
                "the hash index is unordered; range needs btree or skiplist".into(),
            )),
            Parts::BTree(t) => {
                let mut heads: Vec<_> = t
                    .iter()
                    .map(|m| m.range::<[u8], _>((lo, hi)).peekable())
                    .collect();
                loop {
                    let mut best: Option<(usize, &[u8])> = None;
                    for (i, it) in heads.iter_mut().enumerate() {
                        if let Some((k, _)) = it.peek() {
                            if best.map_or(true, |(_, b)| k.as_ref() < b) {
                                best = Some((i, k));
                            }
                        }
                    }
                    let Some((i, _)) = best else { return Ok(()) };
                    if let Some((k, v)) = heads[i].next() {
                        if !f(k, v) {
                            return Ok(());
                        }
                    }
                }
            }
            Parts::SkipList(t) => {
                let mut heads: Vec<_> = t.iter().map(|p| p.map.lower_bound(lo)).collect();
                loop {
                    let mut best: Option<usize> = None;
                    for (i, e) in heads.iter().enumerate() {
                        if let Some(e) = e {
                            let better = match best.and_then(|b| heads[b].as_ref()) {
                                None => true,
                                Some(b) => e.key().cmp(b.key()) == Ordering::Less,
                            };
                            if better {
                                best = Some(i);
                            }
                        }
                    }
                    let Some(i) = best else { return Ok(()) };
                    let Some(e) = heads[i].take() else {
                        return Ok(());
                    };
                    if !below(e.key(), hi) {
                        continue;
                    }
                    if let Some(Some(v)) = t[i].slab.get(*e.value() as usize) {
                        if !f(e.key(), v) {
                            return Ok(());
                        }
                    }
                    heads[i] = e.next();
                }
            }
        }
    }

    /// Walks the keys that start with `prefix`, in order (ordered kinds only).
    pub fn prefix(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8], &V) -> bool) -> Result<()> {
        self.range(Bound::Included(prefix), Bound::Unbounded, &mut |k, v| {
            k.starts_with(prefix) && f(k, v)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    const KINDS: [IndexKind; 3] = [IndexKind::Hash, IndexKind::BTree, IndexKind::SkipList];

    fn key(i: u32) -> Vec<u8> {
        format!("key:{i:06}").into_bytes()
    }

    #[test]
    fn keys_are_24_bytes_and_compare_as_bytes() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        let short = Key::new(b"abc");
        let long = Key::new(&[b'z'; 40]);
        assert!(matches!(short, Key::Inline { .. }));
        assert!(matches!(long, Key::Heap(_)));
        assert_eq!(&*short, b"abc");
        assert_eq!(long.len(), 40);
        assert!(short < long);
        assert_eq!(Key::new(&[7; 22]).as_slice(), &[7; 22]);
        assert!(matches!(Key::new(&[7; 23]), Key::Heap(_)));
        assert_eq!(Key::new(b""), Key::new(b""));
    }

    #[test]
    fn long_and_short_keys_mix() {
        for kind in KINDS {
            let mut ix: Index<usize> = Index::new(kind);
            for n in 0..60 {
                ix.insert(&vec![b'k'; n + 1], n);
            }
            for n in 0..60 {
                assert_eq!(
                    ix.get(&vec![b'k'; n + 1]),
                    Some(&n),
                    "{kind:?} len {}",
                    n + 1
                );
            }
            assert_eq!(ix.remove(&[b'k'; 30]), Some(29));
            assert_eq!(ix.len(), 59);
        }
    }

    #[test]
    fn basic_operations_on_every_kind() {
        for kind in KINDS {
            let mut ix: Index<u64> = Index::new(kind);
            assert!(ix.is_empty());
            for i in 0..1000 {
                assert_eq!(ix.insert(&key(i), u64::from(i)), None, "{kind:?}");
            }
            assert_eq!(ix.len(), 1000);
            assert_eq!(ix.insert(&key(5), 55), Some(5));
            assert_eq!(ix.len(), 1000);
            assert_eq!(ix.get(&key(5)), Some(&55));
            *ix.get_mut(&key(6)).expect("present") += 100;
            assert_eq!(ix.get(&key(6)), Some(&106));
            assert_eq!(ix.remove(&key(7)), Some(7));
            assert_eq!(ix.remove(&key(7)), None);
            assert!(!ix.contains_key(&key(7)));
            assert_eq!(ix.len(), 999);
            let mut n = 0;
            ix.for_each(&mut |_, _| n += 1);
            assert_eq!(n, 999);
            // slot reuse in the skip list keeps values apart
            ix.insert(b"new", 1);
            assert_eq!(ix.get(b"new"), Some(&1));
            assert_eq!(ix.get(&key(8)), Some(&8));
            ix.clear();
            assert!(ix.is_empty());
            assert_eq!(ix.get(&key(8)), None);
        }
    }

    #[test]
    fn ordered_kinds_range_and_prefix_in_key_order() {
        for kind in [IndexKind::BTree, IndexKind::SkipList] {
            let mut ix: Index<u32> = Index::new(kind);
            for i in (0..500).rev() {
                ix.insert(&key(i), i);
            }
            ix.insert(b"other", 0);
            let mut got = Vec::new();
            ix.range(
                Bound::Included(&key(100)[..]),
                Bound::Excluded(&key(110)[..]),
                &mut |k, v| {
                    got.push((k.to_vec(), *v));
                    true
                },
            )
            .expect("ordered");
            let want: Vec<_> = (100..110).map(|i| (key(i), i)).collect();
            assert_eq!(got, want, "{kind:?}");
            let mut n = 0;
            ix.prefix(b"key:0001", &mut |k, _| {
                assert!(k.starts_with(b"key:0001"));
                n += 1;
                true
            })
            .expect("ordered");
            assert_eq!(n, 100);
            let mut first = Vec::new();
            ix.range(Bound::Unbounded, Bound::Unbounded, &mut |k, _| {
                first.push(k.to_vec());
                first.len() < 3
            })
            .expect("ordered");
            assert_eq!(first, vec![key(0), key(1), key(2)]);
            // inverted and empty bounds are empty, not a panic
            ix.range(Bound::Included(b"z"), Bound::Included(b"a"), &mut |_, _| {
                panic!("nothing in an inverted range")
            })
            .expect("ordered");
            ix.range(Bound::Excluded(b"a"), Bound::Excluded(b"a"), &mut |_, _| {
                panic!("nothing in an empty range")
            })
            .expect("ordered");
        }
        let ix: Index<u32> = Index::new(IndexKind::Hash);
        assert!(ix
            .range(Bound::Unbounded, Bound::Unbounded, &mut |_, _| true)
            .is_err());
    }

    #[test]
    fn full_scan_returns_every_key_once() {
        for kind in KINDS {
            let mut ix: Index<u32> = Index::new(kind);
            for i in 0..3000 {
                ix.insert(&key(i), i);
            }
            for count in [1, 7, 100, 10_000] {
                let mut seen = Vec::new();
                let mut cursor = 0;
                loop {
                    cursor = ix.scan(cursor, count, &mut |k, _| seen.push(k.to_vec()));
                    if cursor == 0 {
                        break;
                    }
                }
                let set: BTreeSet<_> = seen.iter().cloned().collect();
                assert_eq!(set.len(), 3000, "{kind:?} count {count}");
                assert_eq!(seen.len(), 3000, "no duplicates without churn");
            }
        }
    }

    #[test]
    fn scan_guarantee_under_churn() {
        for kind in KINDS {
            let mut ix: Index<u32> = Index::new(kind);
            // stable keys are present for the whole scan; others come and go
            for i in 0..2000 {
                ix.insert(&key(i), i);
            }
            let mut seen = BTreeSet::new();
            let mut cursor = 0;
            let mut round = 0u32;
            loop {
                cursor = ix.scan(cursor, 10, &mut |k, _| {
                    seen.insert(k.to_vec());
                });
                for j in 0..20 {
                    let n = 10_000 + round * 20 + j;
                    ix.insert(&key(n), n);
                    if n % 3 == 0 {
                        ix.remove(&key(n - 7));
                    }
                }
                if round % 2 == 0 {
                    // removals of non-stable keys from earlier rounds
                    ix.remove(&key(10_000 + round));
                }
                round += 1;
                if cursor == 0 {
                    break;
                }
            }
            for i in 0..2000 {
                assert!(seen.contains(&key(i)), "{kind:?} missed stable key {i}");
            }
        }
    }

    /// Scans stepping in turn (more of them than the parts whose hashes
    /// the `Hash` kind remembers) while keys come and go: a key added ahead
    /// of a scan's cursor is handed out to it, a removed one never again,
    /// every key present throughout once; on every kind and at every count.
    #[test]
    fn keys_added_or_removed_during_scans_are_seen_as_they_are() {
        const SCANS: usize = super::super::hashdir::SCAN_MEMO + 2;
        for kind in KINDS {
            for count in [1, 10, 1000] {
                let mut ix: Index<u32> = Index::new(kind);
                for i in 0..3000 {
                    ix.insert(&key(i), i);
                }
                let mut cursors = [0u64; SCANS];
                let mut live = [true; SCANS];
                let mut seen: Vec<Vec<Vec<u8>>> = vec![Vec::new(); SCANS];
                let mut must_see: Vec<Vec<Vec<u8>>> = vec![Vec::new(); SCANS];
                let mut gone: BTreeSet<Vec<u8>> = BTreeSet::new();
                let mut step = 0u32;
                while live.iter().any(|l| *l) {
                    for s in 0..SCANS {
                        if !live[s] {
                            continue;
                        }
                        cursors[s] = ix.scan(cursors[s], count, &mut |k, v| {
                            assert!(!gone.contains(k), "{kind:?}: a removed key");
                            assert_eq!(key(*v), k);
                            seen[s].push(k.to_vec());
                        });
                        live[s] = cursors[s] != 0;
                        step += 1;
                        if step % 4 == 0 {
                            let (n, k) = (3000 + step, key(3000 + step));
                            let h = ix.hash_key(&k);
                            ix.insert(&k, n);
                            for t in 0..SCANS {
                                if live[t] && h >= cursors[t] {
                                    must_see[t].push(k.clone());
                                }
                            }
                        }
                        let r = key(step * 7 % 3000);
                        if ix.remove(&r).is_some() {
                            gone.insert(r);
                        }
                    }
                }
                for s in 0..SCANS {
                    let handed: BTreeSet<&Vec<u8>> = seen[s].iter().collect();
                    assert_eq!(handed.len(), seen[s].len(), "{kind:?}: a key twice");
                    for k in &must_see[s] {
                        assert!(handed.contains(k), "{kind:?} count {count}: an added key");
                    }
                    for i in 0..3000 {
                        let k = key(i);
                        assert!(
                            gone.contains(&k) || handed.contains(&k),
                            "{kind:?}: key {i}"
                        );
                    }
                }
            }
        }
    }

    /// The `Hash` kind's partitions and their directory after `ix`'s changes.
    fn check_hash_layout(ix: &Index<u32>) -> (usize, usize) {
        let Parts::Hash(d) = &ix.parts else {
            panic!("not a hash index")
        };
        d.check(&ix.hasher);
        d.part_sizes()
    }

    #[test]
    fn hash_partitions_split_small_and_scan_steps_stay_small() {
        let mut ix: Index<u32> = Index::new(IndexKind::Hash);
        let n = 100_000;
        for i in 0..n {
            ix.insert(&key(i), i);
        }
        let (parts, most) = check_hash_layout(&ix);
        assert!(
            most <= super::super::hashdir::PART_CAP,
            "a part of {most} keys"
        );
        assert!(
            parts >= n as usize / super::super::hashdir::PART_CAP,
            "{parts} parts"
        );
        // A step of COUNT 10 hands out about 10 keys, in hash order.
        let mut got = Vec::new();
        let next = ix.scan(0, 10, &mut |k, _| got.push(ix.hash_key(k)));
        assert!((10..=12).contains(&got.len()), "{} keys", got.len());
        assert!(got.windows(2).all(|w| w[0] <= w[1]));
        assert!(next > *got.last().expect("keys"));
        // Everything but a few keys goes: the scan still finds the rest
        // (walking the emptied parts) and the lookups still work.
        for i in 10..n {
            assert_eq!(ix.remove(&key(i)), Some(i));
        }
        check_hash_layout(&ix);
        let mut left = BTreeSet::new();
        let mut cursor = 0;
        loop {
            cursor = ix.scan(cursor, 3, &mut |k, _| {
                left.insert(k.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(left, (0..10).map(key).collect::<BTreeSet<_>>());
        assert_eq!(ix.get(&key(3)), Some(&3));
        assert_eq!(ix.get(&key(30)), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Enough keys to split the hash partitions many times over.
        #[test]
        fn hash_kind_matches_a_btreemap_through_splits(
            ops in proptest::collection::vec((any::<bool>(), 0u32..4000, any::<u32>()), 1..6000)
        ) {
            let mut ix: Index<u32> = Index::new(IndexKind::Hash);
            let mut model = BTreeMap::new();
            for &(insert, k, v) in &ops {
                if insert {
                    prop_assert_eq!(ix.insert(&key(k), v), model.insert(key(k), v));
                } else {
                    prop_assert_eq!(ix.remove(&key(k)), model.remove(&key(k)));
                }
            }
            prop_assert_eq!(ix.len(), model.len());
            check_hash_layout(&ix);
            for (k, v) in &model {
                prop_assert_eq!(ix.get(k), Some(v));
            }
            let mut all = BTreeMap::new();
            let mut cursor = 0;
            loop {
                cursor = ix.scan(cursor, 50, &mut |k, v| {
                    assert!(all.insert(k.to_vec(), *v).is_none(), "a key twice");
                });
                if cursor == 0 {
                    break;
                }
            }
            prop_assert_eq!(all, model);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        Mutate(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            any::<u8>().prop_map(Op::Remove),
            any::<u8>().prop_map(Op::Mutate),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_kind_matches_a_btreemap(ops in proptest::collection::vec(op(), 0..200)) {
            for kind in KINDS {
                let mut ix: Index<u32> = Index::new(kind);
                let mut model: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
                for op in &ops {
                    match *op {
                        Op::Insert(k, v) => {
                            let k = vec![b'k', k];
                            prop_assert_eq!(ix.insert(&k, v), model.insert(k, v));
                        }
                        Op::Remove(k) => {
                            let k = vec![b'k', k];
                            prop_assert_eq!(ix.remove(&k), model.remove(&k));
                        }
                        Op::Mutate(k) => {
                            let k = vec![b'k', k];
                            if let Some(v) = ix.get_mut(&k) { *v = v.wrapping_add(1); }
                            if let Some(v) = model.get_mut(&k) { *v = v.wrapping_add(1); }
                        }
                    }
                    prop_assert_eq!(ix.len(), model.len());
                }
                let mut all = BTreeMap::new();
                ix.for_each(&mut |k, v| { all.insert(k.to_vec(), *v); });
                prop_assert_eq!(&all, &model);
                if ix.is_ordered() {
                    let mut ordered = Vec::new();
                    ix.range(Bound::Unbounded, Bound::Unbounded, &mut |k, v| {
                        ordered.push((k.to_vec(), *v));
                        true
                    }).expect("ordered");
                    let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    prop_assert_eq!(ordered, want);
                }
            }
        }
    }
}
