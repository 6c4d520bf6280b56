//! One database: the key map, its SCAN order and its expiry index.
//!
//! ```text
//! Db ─ map:     key ──> Entry { value, expire_at_ms, gen }      (hash map, O(1))
//!    ├ order:   (scan_hash(key), key)                           (ordered; SCAN cursors)
//!    └ expires: (expire_at_ms, key) for keys with a deadline    (ordered; active expiry)
//! ```
//!
//! SCAN walks `order` by hash: the cursor is the next hash to visit, so a key
//! present during the whole scan is returned at least once, whatever inserts
//! and deletes happen in between (Redis's guarantee), and keys sharing a hash
//! are returned together so that a cursor never splits them.

use std::collections::BTreeSet;

use bytes::Bytes;
use hashbrown::HashMap;

use super::value::Value;

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
#[derive(Default)]
pub(crate) struct Db {
    map: HashMap<Bytes, Entry>,
    order: BTreeSet<(u64, Bytes)>,
    expires: BTreeSet<(u64, Bytes)>,
}

/// The hash that orders SCAN: fixed (the same on every run and replica) and
/// 63 bits wide so that a cursor fits a signed 64-bit integer.
pub(crate) fn scan_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15 ^ key.len() as u64;
    for chunk in key.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 32;
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^= h >> 33;
    h >> 1
}

impl Db {
    /// Number of keys (expired-but-not-yet-removed included, as Redis's DBSIZE).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Number of keys with a deadline.
    pub(crate) fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// The entry, expired or not.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// The entry, expired or not, mutably. Do not change `expire_at_ms`
    /// through it: use [`Db::set_expire`].
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// The entry of `key` if it is not past its deadline at `now_ms`; an
    /// expired entry is removed and returned as `Err` (lazy expiry), in one
    /// hash lookup on the common path.
    pub(crate) fn get_live_mut(
        &mut self,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<&mut Entry>, Entry> {
        match self.map.entry_ref(key) {
            hashbrown::hash_map::EntryRef::Occupied(o) => {
                if o.get().expired(now_ms) {
                    let (k, entry) = o.remove_entry();
                    self.expires.remove(&(entry.expire_at_ms, k.clone()));
                    self.order.remove(&(scan_hash(&k), k));
                    Err(entry)
                } else {
                    Ok(Some(o.into_mut()))
                }
            }
            hashbrown::hash_map::EntryRef::Vacant(_) => Ok(None),
        }
    }

    /// Inserts or replaces; returns the previous entry.
    pub(crate) fn insert(&mut self, key: Bytes, entry: Entry) -> Option<Entry> {
        if entry.expire_at_ms != 0 {
            self.expires.insert((entry.expire_at_ms, key.clone()));
        }
        let old = self.map.insert(key.clone(), entry);
        match &old {
            Some(old) => {
                if old.expire_at_ms != 0 {
                    let at = self.map.get(&key).map_or(0, |e| e.expire_at_ms);
                    if at != old.expire_at_ms {
                        self.expires.remove(&(old.expire_at_ms, key));
                    }
                }
            }
            None => {
                self.order.insert((scan_hash(&key), key));
            }
        }
        old
    }

    /// The stored key and its entry.
    pub(crate) fn get_key_value(&self, key: &[u8]) -> Option<(&Bytes, &Entry)> {
        self.map.get_key_value(key)
    }

    /// Removes a key; returns its entry.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.remove_entry(key).map(|(_, e)| e)
    }

    /// Removes a key; returns the stored key and its entry.
    pub(crate) fn remove_entry(&mut self, key: &[u8]) -> Option<(Bytes, Entry)> {
        let (key, entry) = self.map.remove_entry(key)?;
        if entry.expire_at_ms != 0 {
            self.expires.remove(&(entry.expire_at_ms, key.clone()));
        }
        self.order.remove(&(scan_hash(&key), key.clone()));
        Some((key, entry))
    }

    /// Sets (0 = removes) the deadline of an existing key.
    pub(crate) fn set_expire(&mut self, key: &[u8], at_ms: u64) {
        let Some((k, entry)) = self.map.get_key_value_mut(key) else {
            return;
        };
        if entry.expire_at_ms == at_ms {
            return;
        }
        if entry.expire_at_ms != 0 {
            self.expires.remove(&(entry.expire_at_ms, k.clone()));
        }
        if at_ms != 0 {
            self.expires.insert((at_ms, k.clone()));
        }
        entry.expire_at_ms = at_ms;
    }

    /// Removes every key; returns the entries (to be freed off the hot path).
    pub(crate) fn take_all(&mut self) -> HashMap<Bytes, Entry> {
        self.order.clear();
        self.expires.clear();
        std::mem::take(&mut self.map)
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

    /// Keys in SCAN order from hash `cursor`: calls `f` for each until it
    /// returns false *and* the next key's hash differs. Returns the next
    /// cursor (0 when the walk reached the end).
    pub(crate) fn scan(&self, cursor: u64, mut f: impl FnMut(&Bytes) -> bool) -> u64 {
        let mut want_more = true;
        let mut last: Option<u64> = None;
        for (h, key) in self.order.range((cursor, Bytes::new())..) {
            if !want_more && last != Some(*h) {
                return *h;
            }
            last = Some(*h);
            want_more = f(key);
        }
        0
    }

    /// Every key in SCAN order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Bytes> {
        self.order.iter().map(|(_, k)| k)
    }

    /// The first key at or after hash `from` in SCAN order, wrapping around.
    pub(crate) fn key_near(&self, from: u64) -> Option<&Bytes> {
        self.order
            .range((from, Bytes::new())..)
            .next()
            .or_else(|| self.order.iter().next())
            .map(|(_, k)| k)
    }

    /// All entries (replay post-processing, stats).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&Bytes, &mut Entry)> {
        self.map.iter_mut()
    }
}
