//! Incarnations that RENAME or MOVE gave a new name without rewriting them.
//!
//! RENAME / MOVE keep the incarnation's generation and its records: they log
//! one `TAG_RENAME` record (new name, old name, generation) instead of
//! rewriting every element under the new name, so they cost O(1) whatever
//! the size of the value, as in Redis. Records written before a rename name
//! the old key, later ones the new key; replay meets them in log order, so
//! it rebuilds the value under each name in turn and the rename record
//! moves it, exactly as the commands did.
//!
//! Generations are unique across the keyspace, so a record's generation
//! says which incarnation it belongs to. This map sends the generation of
//! every renamed incarnation to its current name: merge's liveness test,
//! its relocations, the journal's location fixes and recovery's value loads
//! look there before they look at the record's own key (which may now hold
//! another incarnation, or nothing).
//!
//! Every rename record of a live incarnation stays live (replay needs the
//! whole chain from the name its first records carry). After
//! [`max_hops`]`(len)` renames of one incarnation of `len` elements (`len`,
//! at least 16), the next rename rewrites it as a new incarnation instead
//! (O(len) records), which kills the chain. So the rename records kept
//! alive are at most about one per element (the value's own footprint at
//! worst, like the dead records merge leaves), and a rename costs O(1)
//! amortised (about one element rewritten per rename) even when the same
//! value is renamed back and forth forever. Entries of incarnations that died are pruned when the
//! map has doubled since the last prune.

use std::collections::HashMap;

use bytes::Bytes;

use super::db::{Db, Entry};

/// How many renames of an incarnation of `len` elements keep its records;
/// the next one rewrites it (see the module doc).
pub(crate) fn max_hops(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX).max(16)
}

/// Where a renamed incarnation lives now.
struct Moved {
    /// Physical slot.
    slot: usize,
    /// User key.
    key: Bytes,
    /// How many renames it went through.
    hops: u32,
}

/// Generation of a renamed incarnation -> its current name.
#[derive(Default)]
pub(crate) struct Renamed {
    by_gen: HashMap<u64, Moved>,
    /// Prune dead entries when the map reaches this size.
    prune_at: usize,
}

impl Renamed {
    /// How many times incarnation `gen` was renamed (0 if never).
    pub(crate) fn hops(&self, gen: u64) -> u32 {
        self.by_gen.get(&gen).map_or(0, |m| m.hops)
    }

    /// Records that incarnation `gen` is now `key` in `slot` (the entry is
    /// already there). Prunes dead entries once the map has doubled.
    pub(crate) fn note(&mut self, dbs: &[Db], gen: u64, slot: usize, key: &[u8]) {
        let hops = self.hops(gen) + 1;
        self.by_gen.insert(
            gen,
            Moved {
                slot,
                key: Bytes::copy_from_slice(key),
                hops,
            },
        );
        if self.by_gen.len() >= self.prune_at {
            self.by_gen.retain(|g, m| {
                dbs.get(m.slot)
                    .and_then(|db| db.get(&m.key))
                    .is_some_and(|e| e.gen == *g)
            });
            self.prune_at = (2 * self.by_gen.len()).max(1024);
        }
    }

    /// The current name of incarnation `gen` if it was renamed.
    fn get(&self, gen: u64) -> Option<&Moved> {
        if self.by_gen.is_empty() {
            return None;
        }
        self.by_gen.get(&gen)
    }
}

/// The live entry of incarnation `gen`, one of whose records names `key` in
/// `slot`: the renamed incarnation's current entry, or the key's own.
pub(crate) fn find<'d>(
    dbs: &'d [Db],
    renamed: &Renamed,
    slot: usize,
    key: &[u8],
    gen: u64,
) -> Option<&'d Entry> {
    let (slot, key) = match renamed.get(gen) {
        Some(m) => (m.slot, &m.key[..]),
        None => (slot, key),
    };
    dbs.get(slot)?.get(key).filter(|e| e.gen == gen)
}

/// [`find`], mutable.
pub(crate) fn find_mut<'d>(
    dbs: &'d mut [Db],
    renamed: &Renamed,
    slot: usize,
    key: &[u8],
    gen: u64,
) -> Option<&'d mut Entry> {
    let (slot, key) = match renamed.get(gen) {
        Some(m) => (m.slot, &m.key[..]),
        None => (slot, key),
    };
    dbs.get_mut(slot)?.get_mut(key).filter(|e| e.gen == gen)
}
