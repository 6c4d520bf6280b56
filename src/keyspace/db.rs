//! One database: the key map (a `storage::index::Index` of the configured
//! kind) and its expiry index.
//!
//! ```text
//! Db ─ map:     key ──> Entry { value, expire_at_ms, gen }   (Index<Entry>: hash / btree / skiplist)
//!    └ expires: (expire_at_ms, key) for keys with a deadline (ordered; active expiry)
//! ```
//!
//! SCAN is the index's: the cursor is a position in a fixed hash order, so a
//! key present during the whole scan is returned at least once, whatever
//! inserts and deletes happen in between, on every index kind.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;

use super::value::Value;
use crate::storage::index::Index;
use crate::storage::IndexKind;

/// A key's slot in a database.
pub(crate) struct Entry {
    /// The value.
    pub(crate) value: Value,
    /// Absolute deadline in ms since the epoch; 0 = no expiry.
    pub(crate) expire_at_ms: u64,
    /// Generation of this incarnation of the key: records of older
    /// generations are dead (see docs/storage-format.md, "Keyspace records").
    pub(crate) gen: u64,
}

impl Entry {
    /// Whether the entry is past its deadline at `now_ms`.
    pub(crate) fn expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now_ms
    }
}

/// One database (what SELECT chooses).
pub(crate) struct Db {
    map: Index<Entry>,
    expires: BTreeSet<(u64, Bytes)>,
    /// Recovery only: deadlines (EXPIRE records) replayed before any record
    /// of their incarnation, by generation (unique per incarnation): the
    /// key the record named and the deadline; see [`Db::defer_deadline`].
    deferred: HashMap<u64, (Bytes, u64)>,
}

impl Db {
    /// An empty database whose key map is of `kind`.
    pub(crate) fn new(kind: IndexKind) -> Db {
        Db {
            map: Index::new(kind),
            expires: BTreeSet::new(),
            deferred: HashMap::new(),
        }
    }

    /// Number of keys (expired-but-not-yet-removed included, as Redis's DBSIZE).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Number of keys with a deadline.
    pub(crate) fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// The hash of `key` in this database, for the `*_hashed` methods. It
    /// stays the key's hash for the life of the database, across
    /// [`Db::take_all`].
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.map.hash_key(key)
    }

    /// Starts loading the slot of the key of hash `h` into the cache (see
    /// [`Index::prefetch`]).
    pub(crate) fn prefetch(&self, h: u64) {
        self.map.prefetch(h);
    }

    /// The entry, expired or not.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// [`Db::get`] with `key`'s hash `h` ([`Db::hash`]).
    pub(crate) fn get_hashed(&self, h: u64, key: &[u8]) -> Option<&Entry> {
        self.map.get_hashed(h, key)
    }

    /// The entry, expired or not, mutably. Do not change `expire_at_ms`
    /// through it: use [`Db::set_expire`].
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// [`Db::get_mut`] with `key`'s hash `h` ([`Db::hash`]).
    pub(crate) fn get_mut_hashed(&mut self, h: u64, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut_hashed(h, key)
    }

    /// The entry of `key` (of hash `h`, [`Db::hash`]) if it is not past its
    /// deadline at `now_ms`; an expired entry is removed and returned as
    /// `Err` (lazy expiry).
    pub(crate) fn get_live_mut_hashed(
        &mut self,
        h: u64,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<&mut Entry>, Entry> {
        if self.expires.is_empty() {
            // No key of this database has a deadline: one lookup.
            return Ok(self.map.get_mut_hashed(h, key));
        }
        match self.map.get_hashed(h, key) {
            None => Ok(None),
            Some(e) if e.expired(now_ms) => match self.remove_hashed(h, key) {
                Some(entry) => Err(entry),
                None => Ok(None),
            },
            Some(_) => Ok(self.map.get_mut_hashed(h, key)),
        }
    }

    /// Inserts or replaces; returns the previous entry.
    pub(crate) fn insert(&mut self, key: &Bytes, entry: Entry) -> Option<Entry> {
        self.insert_hashed(self.hash(key), key, entry)
    }

    /// [`Db::insert`] with `key`'s hash `h` ([`Db::hash`]).
    pub(crate) fn insert_hashed(&mut self, h: u64, key: &Bytes, entry: Entry) -> Option<Entry> {
        let at = entry.expire_at_ms;
        if at != 0 {
            // A copy: `key` may be a slice of a connection's read buffer or
            // of a raft entry's packed batch, which a shared reference
            // would keep alive as long as the deadline.
            self.expires.insert((at, Bytes::copy_from_slice(key)));
        }
        let old = self.map.insert_hashed(h, key, entry);
        if let Some(old) = &old {
            if old.expire_at_ms != 0 && old.expire_at_ms != at {
                self.expires.remove(&(old.expire_at_ms, key.clone()));
            }
        }
        old
    }

    /// Removes a key; returns its entry.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.remove_hashed(self.hash(key), key)
    }

    /// [`Db::remove`] with `key`'s hash `h` ([`Db::hash`]).
    pub(crate) fn remove_hashed(&mut self, h: u64, key: &[u8]) -> Option<Entry> {
        let entry = self.map.remove_hashed(h, key)?;
        if entry.expire_at_ms != 0 {
            self.expires
                .remove(&(entry.expire_at_ms, Bytes::copy_from_slice(key)));
        }
        Some(entry)
    }

    /// Sets (0 = removes) the deadline of an existing key.
    pub(crate) fn set_expire(&mut self, key: &[u8], at_ms: u64) {
        let Some(entry) = self.map.get_mut(key) else {
            return;
        };
        let old = entry.expire_at_ms;
        if old == at_ms {
            return;
        }
        entry.expire_at_ms = at_ms;
        let k = Bytes::copy_from_slice(key);
        if old != 0 {
            self.expires.remove(&(old, k.clone()));
        }
        if at_ms != 0 {
            self.expires.insert((at_ms, k));
        }
    }

    /// Recovery: keeps the deadline `at_ms` of incarnation `gen` of `key`
    /// until a record creates that incarnation. After a merge, an EXPIRE
    /// record can come before every surviving record of its incarnation
    /// (the elements written before the EXPIRE were all removed, so merge
    /// dropped them), and it must not be lost.
    pub(crate) fn defer_deadline(&mut self, key: &[u8], gen: u64, at_ms: u64) {
        self.deferred
            .insert(gen, (Bytes::copy_from_slice(key), at_ms));
    }

    /// The deadline deferred for incarnation `gen` of `key`, if any (taken).
    pub(crate) fn take_deferred_deadline(&mut self, key: &[u8], gen: u64) -> Option<u64> {
        match self.deferred.get(&gen) {
            Some((k, _)) if k.as_ref() == key => self.deferred.remove(&gen).map(|(_, at)| at),
            _ => None,
        }
    }

    /// Forgets the deadlines no incarnation claimed (end of recovery).
    pub(crate) fn clear_deferred(&mut self) {
        self.deferred = HashMap::new();
    }

    /// Removes every key; returns them as a database (to be freed off the
    /// hot path). The emptied database keeps its key hash ([`Db::hash`]).
    pub(crate) fn take_all(&mut self) -> Db {
        let empty = Db {
            map: self.map.emptied(),
            expires: BTreeSet::new(),
            deferred: HashMap::new(),
        };
        std::mem::replace(self, empty)
    }

    /// Calls `f` with every value (dead-byte accounting of a flushed database).
    pub(crate) fn for_each_value(&self, f: &mut dyn FnMut(&Value)) {
        self.map.for_each(&mut |_, e| f(&e.value));
    }

    /// Whether some key's deadline is `<= now_ms`.
    pub(crate) fn any_due(&self, now_ms: u64) -> bool {
        self.expires
            .iter()
            .next()
            .is_some_and(|(at, _)| *at <= now_ms)
    }

    /// Up to `limit` keys whose deadline is `<= now_ms`, earliest first.
    pub(crate) fn due(&self, now_ms: u64, limit: usize) -> Vec<Bytes> {
        self.expires
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// One SCAN step from `cursor`: about `count` entries to `f`; returns
    /// the next cursor (0 = complete).
    pub(crate) fn scan(&self, cursor: u64, count: usize, f: &mut dyn FnMut(&[u8], &Entry)) -> u64 {
        self.map.scan(cursor, count, f)
    }

    /// Calls `f` with every key and entry.
    pub(crate) fn for_each(&self, f: &mut dyn FnMut(&[u8], &Entry)) {
        self.map.for_each(f);
    }
}
