//! The classic Bitcask key/value store: a [`Log`] plus a sharded keydir.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::ops::Bound;
use std::sync::{mpsc, Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use hashbrown::DefaultHashBuilder;
use parking_lot::{RwLock, RwLockWriteGuard};

use super::error::Result;
use super::index::Index;
use super::{
    now_ms, Location, Log, LogStats, MergeOracle, MergeReport, Options, RecordKind, RecordRef,
    ReplayEntry,
};

/// Number of keydir shards (a power of two; each has its own lock).
const SHARDS: usize = 16;
const SHARD_SHIFT: u32 = 64 - SHARDS.trailing_zeros();

/// Where a key's newest record is and its deadline (unpacked form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeyEntry {
    loc: Location,
    expire_at_ms: u64,
}

impl KeyEntry {
    fn expired(&self, now: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now
    }
}

/// No expiry slot.
const NO_TTL: u32 = u32::MAX;

/// What the index stores per key: 16 bytes (with the 24-byte [`Key`] a slot
/// is 40 bytes). Offsets fit in 32 bits because files are at most 2 GiB and
/// one append at most 1 GiB. Deadlines live in the shard's `expires` slab, so
/// keys without a TTL pay nothing for them.
///
/// [`Key`]: super::index::Key
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackedEntry {
    file_id: u32,
    offset: u32,
    len: u32,
    /// Index into `Shard::expires`, or `NO_TTL`.
    ttl: u32,
}

impl PackedEntry {
    fn loc(&self) -> Location {
        Location {
            file_id: self.file_id,
            offset: u64::from(self.offset),
            len: self.len,
        }
    }
}

/// One keydir shard: the index plus the slab of deadlines.
struct Shard {
    index: Index<PackedEntry>,
    expires: Vec<u64>,
    free_ttl: Vec<u32>,
}

impl Shard {
    fn new(kind: super::IndexKind, hasher: DefaultHashBuilder) -> Shard {
        Shard {
            index: Index::with_hasher(kind, hasher),
            expires: Vec::new(),
            free_ttl: Vec::new(),
        }
    }

    fn unpack(&self, p: &PackedEntry) -> KeyEntry {
        let expire_at_ms = if p.ttl == NO_TTL {
            0
        } else {
            self.expires.get(p.ttl as usize).copied().unwrap_or(0)
        };
        KeyEntry {
            loc: p.loc(),
            expire_at_ms,
        }
    }

    fn release_ttl(&mut self, ttl: u32) {
        if ttl != NO_TTL {
            self.free_ttl.push(ttl);
        }
    }

    fn get(&self, key: &[u8]) -> Option<KeyEntry> {
        self.index.get(key).map(|p| self.unpack(p))
    }

    fn insert(&mut self, key: &[u8], e: KeyEntry) -> Option<KeyEntry> {
        let ttl = if e.expire_at_ms == 0 {
            NO_TTL
        } else if let Some(t) = self.free_ttl.pop() {
            self.expires[t as usize] = e.expire_at_ms;
            t
        } else {
            self.expires.push(e.expire_at_ms);
            (self.expires.len() - 1) as u32
        };
        let packed = PackedEntry {
            file_id: e.loc.file_id,
            // < 4 GiB: see the type's docs.
            offset: e.loc.offset as u32,
            len: e.loc.len,
            ttl,
        };
        let old = self.index.insert(key, packed)?;
        let unpacked = self.unpack(&old);
        self.release_ttl(old.ttl);
        Some(unpacked)
    }

    fn remove(&mut self, key: &[u8]) -> Option<KeyEntry> {
        let old = self.index.remove(key)?;
        let unpacked = self.unpack(&old);
        self.release_ttl(old.ttl);
        Some(unpacked)
    }

    /// Points `key` at `new` if it still points at `old`.
    fn relocate(&mut self, key: &[u8], old: Location, new: Location) {
        if let Some(p) = self.index.get_mut(key) {
            if p.loc() == old {
                p.file_id = new.file_id;
                p.offset = new.offset as u32;
                p.len = new.len;
            }
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn scan(&self, cursor: u64, count: usize, f: &mut dyn FnMut(&[u8], KeyEntry)) -> u64 {
        self.index
            .scan(cursor, count, &mut |k, p| f(k, self.unpack(p)))
    }

    fn range(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        f: &mut dyn FnMut(&[u8], KeyEntry) -> bool,
    ) -> Result<()> {
        self.index.range(lo, hi, &mut |k, p| f(k, self.unpack(p)))
    }
}

/// The in-memory keydir: shards chosen by the top bits of the key hash, each
/// behind its own `RwLock` (readers share, a writer holds the shard while it
/// appends so that index order always equals log order).
struct Keydir {
    hasher: DefaultHashBuilder,
    shards: Vec<RwLock<Shard>>,
}

impl Keydir {
    fn new(kind: super::IndexKind) -> Keydir {
        let hasher = DefaultHashBuilder::default();
        Keydir {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(Shard::new(kind, hasher)))
                .collect(),
            hasher,
        }
    }

    fn shard_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) >> SHARD_SHIFT) as usize
    }

    fn shard(&self, key: &[u8]) -> &RwLock<Shard> {
        &self.shards[self.shard_of(key)]
    }
}

/// One operation of a [`WriteBatch`].
#[derive(Clone, Debug)]
enum BatchOp {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        expire_at_ms: u64,
    },
    Delete {
        key: Vec<u8>,
    },
}

impl BatchOp {
    fn key(&self) -> &[u8] {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key } => key,
        }
    }
}

/// Puts and deletes applied atomically by [`Engine::write`]: after a crash
/// either all of them are visible or none.
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds a put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut WriteBatch {
        self.put_expire_at(key, value, 0)
    }

    /// Adds a put that expires at `expire_at_ms` (ms since the epoch, 0 = never).
    pub fn put_expire_at(
        &mut self,
        key: &[u8],
        value: &[u8],
        expire_at_ms: u64,
    ) -> &mut WriteBatch {
        self.ops.push(BatchOp::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            expire_at_ms,
        });
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: &[u8]) -> &mut WriteBatch {
        self.ops.push(BatchOp::Delete { key: key.to_vec() });
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Counters of an [`Engine`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Keys in the keydir (expired keys count until they are read or merged away).
    pub keys: u64,
    /// The log's counters.
    pub log: LogStats,
}

/// Shared between the engine handle and its merge thread.
struct Shared {
    log: Log,
    keydir: Keydir,
}

impl MergeOracle for Shared {
    fn is_live(&self, entry: &ReplayEntry<'_>) -> bool {
        if entry.kind == RecordKind::Delete {
            return false;
        }
        let shard = self.keydir.shard(entry.key).read();
        shard
            .get(entry.key)
            .is_some_and(|e| e.loc == entry.location && !e.expired(now_ms()))
    }

    fn relocated(&self, entry: &ReplayEntry<'_>, old: Location, new: Location) {
        self.keydir
            .shard(entry.key)
            .write()
            .relocate(entry.key, old, new);
    }
}

/// A Bitcask key/value store. `Send + Sync`; share it with `Arc`.
pub struct Engine {
    shared: Arc<Shared>,
    /// The automatic merge thread; dropping the sender stops it.
    merger: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("log", &self.shared.log)
            .finish()
    }
}

impl Engine {
    /// Opens (creating if needed) the store in `opts.dir`, rebuilding the
    /// keydir from hint and data files.
    pub fn open(opts: Options) -> Result<Engine> {
        // No pre-sizing from the hint footers: a `Hash` index grows by
        // splitting small partitions, never by doubling a big table.
        let mut keydir = Keydir::new(opts.index);
        let now = now_ms();
        let mut dead: HashMap<u32, u64> = HashMap::new();
        let interval = opts.merge_interval;
        let log = Log::open(opts, &mut |e: ReplayEntry<'_>| {
            // Not shared yet: exclusive access without locking.
            let si = keydir.shard_of(e.key);
            let shard = keydir.shards[si].get_mut();
            let visible =
                e.kind == RecordKind::Put && !(e.expire_at_ms != 0 && e.expire_at_ms <= now);
            let old = if visible {
                shard.insert(
                    e.key,
                    KeyEntry {
                        loc: e.location,
                        expire_at_ms: e.expire_at_ms,
                    },
                )
            } else {
                *dead.entry(e.location.file_id).or_default() += u64::from(e.location.len);
                shard.remove(e.key)
            };
            if let Some(old) = old {
                *dead.entry(old.loc.file_id).or_default() += u64::from(old.loc.len);
            }
            Ok(())
        })?;
        for (file, bytes) in dead {
            log.mark_dead_bytes(file, bytes);
        }
        let shared = Arc::new(Shared { log, keydir });
        let merger = interval.map(|every| spawn_merger(&shared, every));
        Ok(Engine { shared, merger })
    }

    /// Stores `value` under `key`; returns once durable per the fsync policy.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_expire_at(key, value, 0)
    }

    /// Stores `value` under `key` for `ttl`.
    pub fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        let at = now_ms().saturating_add(ttl.as_millis() as u64).max(1);
        self.put_expire_at(key, value, at)
    }

    /// Stores `value` under `key` until `expire_at_ms` (ms since the epoch, 0 = never).
    pub fn put_expire_at(&self, key: &[u8], value: &[u8], expire_at_ms: u64) -> Result<()> {
        let s = &*self.shared;
        let commit = {
            let mut shard = s.keydir.shard(key).write();
            let rec = RecordRef {
                expire_at_ms,
                ..RecordRef::put(key, value)
            };
            let (locs, commit) = s.log.append(&[rec])?;
            let new = KeyEntry {
                loc: locs[0],
                expire_at_ms,
            };
            if let Some(old) = shard.insert(key, new) {
                s.log.mark_dead(old.loc);
            }
            commit
        };
        commit.wait()
    }

    /// The value of `key`, or `None` when absent or expired.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let s = &*self.shared;
        let lock = s.keydir.shard(key);
        {
            let shard = lock.read();
            let Some(e) = shard.get(key) else {
                return Ok(None);
            };
            if !e.expired(now_ms()) {
                // Reading under the shard lock keeps the location valid: merge
                // relocates under the write lock before it drops old files.
                return s.log.read_value(e.loc).map(Some);
            }
        }
        self.drop_if_expired(&mut lock.write(), key);
        Ok(None)
    }

    fn drop_if_expired(&self, shard: &mut RwLockWriteGuard<'_, Shard>, key: &[u8]) {
        if shard.get(key).is_some_and(|e| e.expired(now_ms())) {
            if let Some(old) = shard.remove(key) {
                self.shared.log.mark_dead(old.loc);
            }
        }
    }

    /// True when `key` is present and not expired.
    pub fn contains(&self, key: &[u8]) -> bool {
        let shard = self.shared.keydir.shard(key).read();
        shard.get(key).is_some_and(|e| !e.expired(now_ms()))
    }

    /// Deletes `key`; returns whether it was present (and not expired).
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        let s = &*self.shared;
        let commit = {
            let mut shard = s.keydir.shard(key).write();
            match shard.get(key) {
                None => return Ok(false),
                Some(e) if e.expired(now_ms()) => {
                    self.drop_if_expired(&mut shard, key);
                    return Ok(false);
                }
                Some(_) => {}
            }
            let (locs, commit) = s.log.append(&[RecordRef::delete(key)])?;
            s.log.mark_dead(locs[0]);
            if let Some(old) = shard.remove(key) {
                s.log.mark_dead(old.loc);
            }
            commit
        };
        commit.wait()?;
        Ok(true)
    }

    /// Applies a batch atomically (all or nothing, also across a crash).
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let s = &*self.shared;
        let mut shard_ids: Vec<usize> = batch
            .ops
            .iter()
            .map(|o| s.keydir.shard_of(o.key()))
            .collect();
        shard_ids.sort_unstable();
        shard_ids.dedup();
        let commit = {
            // Lock shards in index order (no deadlock with other batches).
            let mut guards: Vec<(usize, RwLockWriteGuard<'_, Shard>)> = shard_ids
                .iter()
                .map(|&i| (i, s.keydir.shards[i].write()))
                .collect();
            let records: Vec<RecordRef<'_>> = batch
                .ops
                .iter()
                .map(|op| match op {
                    BatchOp::Put {
                        key,
                        value,
                        expire_at_ms,
                    } => RecordRef {
                        expire_at_ms: *expire_at_ms,
                        ..RecordRef::put(key, value)
                    },
                    BatchOp::Delete { key } => RecordRef::delete(key),
                })
                .collect();
            let (locs, commit) = s.log.append(&records)?;
            for (op, loc) in batch.ops.iter().zip(locs) {
                let si = s.keydir.shard_of(op.key());
                let Ok(gi) = guards.binary_search_by_key(&si, |g| g.0) else {
                    continue;
                };
                let shard = &mut guards[gi].1;
                let old = match op {
                    BatchOp::Put {
                        key, expire_at_ms, ..
                    } => shard.insert(
                        key,
                        KeyEntry {
                            loc,
                            expire_at_ms: *expire_at_ms,
                        },
                    ),
                    BatchOp::Delete { key } => {
                        s.log.mark_dead(loc);
                        shard.remove(key)
                    }
                };
                if let Some(old) = old {
                    s.log.mark_dead(old.loc);
                }
            }
            commit
        };
        commit.wait()
    }

    /// One SCAN step over live keys: returns the next cursor (0 = done) and
    /// about `count` keys. A key present for the whole scan is returned at
    /// least once whatever is written meanwhile (see [`Index::scan`]).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let count = count.max(1);
        let mut out = Vec::new();
        let mut cursor = cursor;
        let now = now_ms();
        loop {
            let si = (cursor >> SHARD_SHIFT) as usize;
            let next = {
                let shard = self.shared.keydir.shards[si].read();
                shard.scan(cursor, count - out.len().min(count - 1), &mut |k, e| {
                    if !e.expired(now) {
                        out.push(Bytes::copy_from_slice(k));
                    }
                })
            };
            if next != 0 && (next >> SHARD_SHIFT) as usize == si {
                return (next, out);
            }
            if si + 1 >= SHARDS {
                return (0, out);
            }
            cursor = ((si + 1) as u64) << SHARD_SHIFT;
            if out.len() >= count {
                return (cursor, out);
            }
        }
    }

    /// Live keys starting with `prefix`, in key order. Ordered index kinds
    /// only ([`super::Error::InvalidArgument`] for `Hash`).
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Bytes>> {
        self.keys_in_range(Bound::Included(prefix), Bound::Unbounded, Some(prefix))
    }

    /// Live keys in `(lo, hi)`, in key order. Ordered index kinds only.
    pub fn keys_range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<Vec<Bytes>> {
        self.keys_in_range(lo, hi, None)
    }

    fn keys_in_range(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        prefix: Option<&[u8]>,
    ) -> Result<Vec<Bytes>> {
        let now = now_ms();
        let mut out = Vec::new();
        for shard in &self.shared.keydir.shards {
            shard.read().range(lo, hi, &mut |k, e| {
                if prefix.is_some_and(|p| !k.starts_with(p)) {
                    return false;
                }
                if !e.expired(now) {
                    out.push(Bytes::copy_from_slice(k));
                }
                true
            })?;
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Number of keys in the keydir (expired keys count until read or merged).
    pub fn len(&self) -> usize {
        self.shared
            .keydir
            .shards
            .iter()
            .map(|s| s.read().len())
            .sum()
    }

    /// True when the keydir is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Merges now (also runs automatically when `merge_interval` is set).
    pub fn merge(&self) -> Result<MergeReport> {
        let shared: &Shared = &self.shared;
        shared.log.merge(shared)
    }

    /// Writes a consistent copy of the store into `dest` (see
    /// [`Log::backup`]); the engine stays open meanwhile.
    pub fn backup(&self, dest: &std::path::Path) -> Result<crate::storage::BackupReport> {
        self.shared.log.backup(dest)
    }

    /// True when the dead-bytes trigger is reached.
    pub fn needs_merge(&self) -> bool {
        self.shared.log.needs_merge()
    }

    /// fsyncs everything written so far.
    pub fn sync(&self) -> Result<()> {
        self.shared.log.sync()
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            keys: self.len() as u64,
            log: self.shared.log.stats(),
        }
    }

    /// The underlying log.
    pub fn log(&self) -> &Log {
        &self.shared.log
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.merger.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

/// The automatic merge: checks `needs_merge` every `every` until the engine drops.
fn spawn_merger(shared: &Arc<Shared>, every: Duration) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let body = move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
            let Some(shared) = weak.upgrade() else { break };
            if shared.log.needs_merge() {
                match shared.log.merge(&*shared) {
                    Ok(r) => tracing::info!(?r, "automatic merge done"),
                    Err(e) => tracing::error!(error = %e, "automatic merge failed"),
                }
            }
        }
    };
    let handle = std::thread::Builder::new()
        .name("fincaskv-merge".into())
        .spawn(body)
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not start the merge thread; merge stays manual");
            std::thread::spawn(|| {})
        });
    (tx, handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{FsyncPolicy, IndexKind};

    const KINDS: [IndexKind; 3] = [IndexKind::Hash, IndexKind::BTree, IndexKind::SkipList];

    fn opts(dir: &std::path::Path, kind: IndexKind) -> Options {
        Options::new(dir)
            .with_index(kind)
            .with_fsync(FsyncPolicy::No)
            .with_max_file_size(8192)
            .with_merge_interval(None)
    }

    fn get(e: &Engine, k: &[u8]) -> Option<Vec<u8>> {
        e.get(k).expect("get").map(|b| b.to_vec())
    }

    /// Version of the data or hint file at `path` (its header's last 4 bytes).
    fn file_version(path: &std::path::Path) -> u32 {
        let b = std::fs::read(path).expect("read");
        u32::from_le_bytes(b[4..8].try_into().expect("header"))
    }

    /// A directory written by a version 1 build (30-byte record headers):
    /// a merged file with its hint, an unmerged one with a batch and an
    /// expired record. It opens, reads, takes writes in a new version 2
    /// file, and merge rewrites it all as version 2.
    #[test]
    fn version_1_files_are_read_and_merged_into_version_2() {
        use crate::storage::hint::HintWriter;
        use crate::storage::record::{self, encode_v1, DiskKind, Layout, TYPE_DATA};
        use crate::storage::segment::{file_path, DATA_SUFFIX, HINT_SUFFIX};
        let dir = tempfile::tempdir().expect("tempdir");
        let far = now_ms() + 3_600_000;
        // File 1, as merge wrote it: data and hint.
        let mut data = record::file_header_of(TYPE_DATA, Layout::V1).to_vec();
        let mut hint = HintWriter::new();
        for (key, value, exp) in [(&b"k1"[..], &b"one"[..], 0), (b"k2", b"two", far)] {
            let offset = data.len() as u64;
            encode_v1(&mut data, DiskKind::Put, 0, 0, exp, key, value);
            hint.add(&ReplayEntry {
                kind: RecordKind::Put,
                tag: 0,
                gen: 0,
                expire_at_ms: exp,
                key,
                value: None,
                value_len: 0,
                location: Location {
                    file_id: 1,
                    offset,
                    len: (data.len() as u64 - offset) as u32,
                },
            });
        }
        std::fs::write(file_path(dir.path(), 1, DATA_SUFFIX), &data).expect("write");
        let hint_path = file_path(dir.path(), 1, HINT_SUFFIX);
        hint.finish(&hint_path, data.len() as u64).expect("hint");
        // A version 1 hint names version 1 in its header.
        let mut h = std::fs::read(&hint_path).expect("read");
        h[4..8].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(&hint_path, &h).expect("write");
        // File 2, the old active file: a batch, an expired record, a delete.
        let mut data = record::file_header_of(TYPE_DATA, Layout::V1).to_vec();
        encode_v1(&mut data, DiskKind::Put, 0, 0, 0, b"k3", b"three");
        let count = record::batch_marker_value(2);
        encode_v1(&mut data, DiskKind::BatchBegin, 0, 7, 0, &[], &count);
        encode_v1(&mut data, DiskKind::Put, 0, 0, 0, b"k4", b"four");
        encode_v1(&mut data, DiskKind::Put, 0, 0, 0, b"k1", b"uno");
        encode_v1(&mut data, DiskKind::BatchCommit, 0, 7, 0, &[], &count);
        encode_v1(&mut data, DiskKind::Put, 0, 0, 1, b"k5", b"gone");
        encode_v1(&mut data, DiskKind::Delete, 0, 0, 0, b"k3", b"");
        std::fs::write(file_path(dir.path(), 2, DATA_SUFFIX), &data).expect("write");

        let want = [
            (&b"k1"[..], Some(&b"uno"[..])),
            (b"k2", Some(b"two")),
            (b"k3", None),
            (b"k4", Some(b"four")),
            (b"k5", None),
            (b"k6", Some(b"six")),
        ];
        let check = |e: &Engine| {
            for (k, v) in want {
                assert_eq!(get(e, k).as_deref(), v, "{}", String::from_utf8_lossy(k));
            }
        };
        {
            let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("open v1");
            e.put(b"k6", b"six").expect("put");
            check(&e);
            // Writes went to a new file of the current version.
            assert_eq!(file_version(&file_path(dir.path(), 3, DATA_SUFFIX)), 2);
            assert_eq!(file_version(&file_path(dir.path(), 2, DATA_SUFFIX)), 1);
        }
        let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("reopen");
        check(&e);
        e.merge().expect("merge");
        check(&e);
        drop(e);
        let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("reopen merged");
        check(&e);
        for entry in std::fs::read_dir(dir.path()).expect("ls") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|x| x == "data" || x == "hint") {
                assert_eq!(file_version(&path), 2, "{}", path.display());
            }
        }
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
        check::<Log>();
        check::<crate::storage::index::Index<u64>>();
    }

    #[test]
    fn put_get_delete_reopen_on_every_kind() {
        for kind in KINDS {
            let dir = tempfile::tempdir().expect("tempdir");
            {
                let e = Engine::open(opts(dir.path(), kind)).expect("open");
                for i in 0..500u32 {
                    e.put(format!("k{i}").as_bytes(), format!("v{i}").as_bytes())
                        .expect("put");
                }
                e.put(b"k1", b"again").expect("put");
                assert!(e.delete(b"k2").expect("delete"));
                assert!(!e.delete(b"k2").expect("delete twice"));
                assert_eq!(get(&e, b"k1").as_deref(), Some(&b"again"[..]));
                assert_eq!(get(&e, b"k2"), None);
                assert_eq!(e.len(), 499);
                assert!(e.stats().log.dead_bytes > 0);
            }
            let e = Engine::open(opts(dir.path(), kind)).expect("reopen");
            assert_eq!(e.len(), 499, "{kind:?}");
            assert_eq!(get(&e, b"k1").as_deref(), Some(&b"again"[..]));
            assert_eq!(get(&e, b"k2"), None);
            assert_eq!(get(&e, b"k499").as_deref(), Some(&b"v499"[..]));
        }
    }

    #[test]
    fn ttl_hides_and_reopen_drops_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("open");
            e.put(b"old", b"forever").expect("put");
            e.put_expire_at(b"old", b"gone", 1).expect("put expired");
            e.put_with_ttl(b"live", b"v", Duration::from_secs(3600))
                .expect("put ttl");
            assert_eq!(get(&e, b"old"), None);
            assert!(!e.contains(b"old"));
            assert!(e.contains(b"live"));
        }
        let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("reopen");
        assert_eq!(
            get(&e, b"old"),
            None,
            "expired overwrite hides the older value"
        );
        assert_eq!(get(&e, b"live").as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn expiry_slots_are_reused_without_mixing_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(opts(dir.path(), IndexKind::SkipList)).expect("open");
        let far = now_ms() + 3_600_000;
        e.put_expire_at(b"a", b"1", far).expect("put");
        e.put(b"a", b"2")
            .expect("overwrite without ttl frees the slot");
        e.put_expire_at(b"b", b"3", 1)
            .expect("reuses the slot, expired");
        e.put_expire_at(b"c", b"4", far).expect("put");
        assert_eq!(get(&e, b"a").as_deref(), Some(&b"2"[..]));
        assert_eq!(get(&e, b"b"), None);
        assert_eq!(get(&e, b"c").as_deref(), Some(&b"4"[..]));
        assert!(e.delete(b"c").expect("delete"));
        e.put(b"d", b"5").expect("put");
        assert_eq!(get(&e, b"d").as_deref(), Some(&b"5"[..]));
        let shard = e.shared.keydir.shard(b"a").read();
        assert_eq!(shard.get(b"a").map(|k| k.expire_at_ms), Some(0));
    }

    #[test]
    fn batch_applies_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(opts(dir.path(), IndexKind::BTree)).expect("open");
        e.put(b"gone", b"x").expect("put");
        let mut b = WriteBatch::new();
        for i in 0..50u32 {
            b.put(format!("b{i}").as_bytes(), b"v");
        }
        b.delete(b"gone");
        assert_eq!(b.len(), 51);
        e.write(&b).expect("batch");
        assert_eq!(e.len(), 50);
        assert_eq!(get(&e, b"gone"), None);
        drop(e);
        let e = Engine::open(opts(dir.path(), IndexKind::BTree)).expect("reopen");
        assert_eq!(e.len(), 50);
    }

    #[test]
    fn scan_and_prefix() {
        for kind in KINDS {
            let dir = tempfile::tempdir().expect("tempdir");
            let e = Engine::open(opts(dir.path(), kind)).expect("open");
            for i in 0..300u32 {
                e.put(format!("user:{i:03}").as_bytes(), b"v").expect("put");
            }
            e.put(b"zzz", b"v").expect("put");
            let mut seen = std::collections::BTreeSet::new();
            let mut cursor = 0;
            loop {
                let (next, keys) = e.scan(cursor, 17);
                seen.extend(keys);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            assert_eq!(seen.len(), 301, "{kind:?}");
            if kind == IndexKind::Hash {
                assert!(e.keys_with_prefix(b"user:").is_err());
            } else {
                let keys = e.keys_with_prefix(b"user:1").expect("ordered");
                assert_eq!(keys.len(), 100);
                assert!(keys.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn merge_keeps_live_data_and_reopens_from_hints() {
        for kind in KINDS {
            let dir = tempfile::tempdir().expect("tempdir");
            {
                let e = Engine::open(opts(dir.path(), kind)).expect("open");
                for round in 0..5u32 {
                    for i in 0..200u32 {
                        e.put(
                            format!("k{i}").as_bytes(),
                            format!("v{i}-{round}").as_bytes(),
                        )
                        .expect("put");
                    }
                }
                for i in 0..50u32 {
                    e.delete(format!("k{i}").as_bytes()).expect("delete");
                }
                e.put_expire_at(b"exp", b"x", 1).expect("put");
                let before = e.stats().log;
                let r = e.merge().expect("merge");
                assert_eq!(r.records_kept, 150, "{kind:?} {r:?}");
                let after = e.stats().log;
                assert!(
                    after.disk_bytes < before.disk_bytes / 2,
                    "{before:?} {after:?}"
                );
                assert_eq!(after.dead_bytes, 0);
                for i in 50..200u32 {
                    assert_eq!(
                        get(&e, format!("k{i}").as_bytes()),
                        Some(format!("v{i}-4").into_bytes())
                    );
                }
                e.put(b"k60", b"after-merge").expect("put");
                assert!(!dir.path().join(super::super::merge::MERGE_DIR).exists());
            }
            let hints = std::fs::read_dir(dir.path())
                .expect("ls")
                .filter(|d| {
                    d.as_ref()
                        .is_ok_and(|d| d.file_name().to_string_lossy().ends_with(".hint"))
                })
                .count();
            assert!(hints > 0);
            let e = Engine::open(opts(dir.path(), kind)).expect("reopen");
            assert_eq!(e.len(), 150);
            assert_eq!(get(&e, b"k60").as_deref(), Some(&b"after-merge"[..]));
            assert_eq!(get(&e, b"k10"), None);
            assert_eq!(get(&e, b"k199").as_deref(), Some(&b"v199-4"[..]));
            e.merge().expect("second merge");
            assert_eq!(get(&e, b"k60").as_deref(), Some(&b"after-merge"[..]));
        }
    }

    #[test]
    fn writes_racing_a_merge_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("open");
        for i in 0..2000u32 {
            e.put(format!("k{i}").as_bytes(), b"old").expect("put");
        }
        std::thread::scope(|s| {
            let e = &e;
            s.spawn(move || {
                for i in 0..2000u32 {
                    e.put(format!("k{i}").as_bytes(), b"new").expect("put");
                    if i % 3 == 0 {
                        e.delete(format!("k{i}").as_bytes()).expect("delete");
                    }
                }
            });
            for _ in 0..3 {
                e.merge().expect("merge");
            }
        });
        let check = |e: &Engine| {
            for i in 0..2000u32 {
                let want = if i % 3 == 0 {
                    None
                } else {
                    Some(b"new".to_vec())
                };
                assert_eq!(get(e, format!("k{i}").as_bytes()), want, "k{i}");
            }
        };
        check(&e);
        e.merge().expect("merge");
        check(&e);
        drop(e);
        let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("reopen");
        check(&e);
    }

    #[test]
    fn concurrent_writers_leave_memory_and_disk_in_agreement() {
        // Threads race on the same keys (puts, deletes, batches) while merges
        // run; whatever wins in memory must be what a reopen replays.
        for kind in KINDS {
            let dir = tempfile::tempdir().expect("tempdir");
            let e = Engine::open(opts(dir.path(), kind)).expect("open");
            std::thread::scope(|s| {
                for t in 0..3u32 {
                    let e = &e;
                    s.spawn(move || {
                        for i in 0..600u32 {
                            let k = format!("k{}", (i * 7 + t) % 50);
                            match i % 5 {
                                0 => {
                                    e.delete(k.as_bytes()).expect("delete");
                                }
                                1 => {
                                    let mut b = WriteBatch::new();
                                    b.put(k.as_bytes(), format!("b{t}-{i}").as_bytes());
                                    b.put(format!("k{}", (i + 1) % 50).as_bytes(), b"pair");
                                    e.write(&b).expect("batch");
                                }
                                _ => e
                                    .put(k.as_bytes(), format!("{t}-{i}").as_bytes())
                                    .expect("put"),
                            }
                        }
                    });
                }
                let e = &e;
                s.spawn(move || {
                    for _ in 0..4 {
                        e.merge().expect("merge");
                        let (_, keys) = e.scan(0, 1000);
                        assert!(keys.len() <= 50);
                    }
                });
            });
            let before: Vec<Option<Vec<u8>>> = (0..50)
                .map(|i| get(&e, format!("k{i}").as_bytes()))
                .collect();
            drop(e);
            let e = Engine::open(opts(dir.path(), kind)).expect("reopen");
            let after: Vec<Option<Vec<u8>>> = (0..50)
                .map(|i| get(&e, format!("k{i}").as_bytes()))
                .collect();
            assert_eq!(before, after, "{kind:?}");
        }
    }

    #[test]
    fn half_done_merge_is_discarded_or_completed_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("open");
            for i in 0..300u32 {
                e.put(format!("k{i}").as_bytes(), &[1u8; 100]).expect("put");
            }
        }
        // A merge that never wrote its marker: discarded.
        let side = dir.path().join(super::super::merge::MERGE_DIR);
        std::fs::create_dir(&side).expect("mkdir");
        std::fs::write(side.join("0000009999.data"), b"garbage").expect("write");
        {
            let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("open");
            assert_eq!(e.len(), 300);
            assert!(!side.exists());
            e.merge().expect("merge");
            assert_eq!(e.len(), 300);
        }
        let e = Engine::open(opts(dir.path(), IndexKind::Hash)).expect("open");
        assert_eq!(e.len(), 300);
        assert_eq!(get(&e, b"k7"), Some(vec![1u8; 100]));
    }

    #[test]
    fn automatic_merge_runs_in_background() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(
            opts(dir.path(), IndexKind::Hash)
                .with_merge_trigger(0.3, 1)
                .with_merge_interval(Some(Duration::from_millis(10))),
        )
        .expect("open");
        for _ in 0..10 {
            for i in 0..100u32 {
                e.put(format!("k{i}").as_bytes(), &[0u8; 100]).expect("put");
            }
        }
        let mut merged = false;
        for _ in 0..500 {
            if e.stats().log.merges > 0 {
                merged = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(merged, "the background merge never ran");
        assert_eq!(e.len(), 100);
        assert_eq!(get(&e, b"k5"), Some(vec![0u8; 100]));
    }
}
