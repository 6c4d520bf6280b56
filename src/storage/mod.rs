//! The Bitcask storage engine. It knows bytes, not Redis types.
//!
//! Two levels (see `docs/architecture.md`, "storage → keyspace"):
//!
//! * [`Log`]: append-only segment files, the record codec, one writer with
//!   group commit and an fsync policy, value reads by `pread` through an LRU
//!   value cache, recovery (hint files, torn-tail truncation), merge, and the
//!   directory lock. Its owner keeps the index and answers merge's liveness
//!   questions through [`MergeOracle`].
//! * [`Engine`]: the classic Bitcask key/value store: a [`Log`] plus a sharded
//!   in-memory keydir of the configured [`IndexKind`], with put / get / delete /
//!   TTL / atomic batches / scan and an automatic background merge.
//!
//! The index kinds are exported as a generic map in [`index`] so that the
//! keyspace can keep its own key maps in the configured kind.
//!
//! The byte layout of every file is drawn in `docs/storage-format.md` and
//! above the codec in `record.rs` and `hint.rs`.

mod backup;
mod cache;
mod engine;
mod error;
mod hashdir;
mod hint;
pub mod index;
mod lock;
mod log;
mod mapped;
mod merge;
mod record;
mod repair;
mod segment;

use std::path::PathBuf;
use std::time::Duration;

pub use backup::BackupReport;
pub use engine::{Engine, EngineStats, WriteBatch};
pub use error::{Error, Result};
pub use log::{Commit, DeadCache, Log, LogStats, MergePause};
pub use merge::{MergeOracle, MergeReport};
pub use record::RecordKind;

/// Bytes a record with a key of `key_len` and a value of `val_len` bytes,
/// this generation and this deadline takes in a new data file (header
/// included; the header's integers are varints, so they count).
pub fn record_len(key_len: usize, val_len: usize, gen: u64, expire_at_ms: u64) -> usize {
    record::encoded_len(key_len, val_len, gen, expire_at_ms)
}
pub use repair::{repair, RepairReport};

/// When appended bytes are forced to stable storage (Redis's `appendfsync`).
///
/// In every mode an acknowledged write has been handed to the operating system
/// (`pwrite`), so a *process* crash loses nothing that was acknowledged. The
/// modes differ on a *power loss* or kernel crash:
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FsyncPolicy {
    /// `fsync` before acknowledging; concurrent committers share one fsync
    /// (group commit). A power loss loses nothing acknowledged.
    Always,
    /// A background thread fsyncs once a second. A power loss can lose about
    /// the last second of acknowledged writes. The default (as in Redis).
    #[default]
    EverySec,
    /// Never fsync explicitly; the kernel writes back when it likes (typically
    /// within 30 s). A power loss can lose that window.
    No,
}

/// The kind of in-memory index (the keydir).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// SwissTable (hashbrown). Unordered, fastest, the default.
    #[default]
    Hash,
    /// `std::collections::BTreeMap`: ordered keys, prefix and range scans.
    BTree,
    /// crossbeam-skiplist: ordered keys, prefix and range scans.
    SkipList,
}

impl std::str::FromStr for IndexKind {
    type Err = String;

    /// `hash`, `btree` or `skiplist`, in any case; the error names the choices.
    fn from_str(name: &str) -> Result<IndexKind, String> {
        match name.to_ascii_lowercase().as_str() {
            "hash" => Ok(IndexKind::Hash),
            "btree" => Ok(IndexKind::BTree),
            "skiplist" => Ok(IndexKind::SkipList),
            other => Err(format!(
                "unknown index kind '{other}' (hash, btree, skiplist)"
            )),
        }
    }
}

/// Options of a [`Log`] or [`Engine`]. Build with [`Options::new`] and the
/// `with_*` methods; every default is stated on its field.
#[derive(Clone, Debug)]
pub struct Options {
    /// The data directory (created if missing).
    pub dir: PathBuf,
    /// Durability policy. Default [`FsyncPolicy::EverySec`].
    pub fsync: FsyncPolicy,
    /// Index kind of the [`Engine`]'s keydir. Default [`IndexKind::Hash`].
    pub index: IndexKind,
    /// A data file is rotated when an append would take it past this size.
    /// Default 256 MiB; at most 2 GiB.
    pub max_file_size: u64,
    /// Capacity of the LRU value cache in bytes; 0 turns it off. Default 64 MiB.
    pub cache_bytes: usize,
    /// [`Log::needs_merge`] is true when dead bytes / total bytes reach this
    /// ratio (and at least `merge_min_dead_bytes` are dead). Default 0.5.
    pub merge_ratio: f64,
    /// Minimum dead bytes before a merge is worth it. Default 16 MiB.
    pub merge_min_dead_bytes: u64,
    /// How often the [`Engine`]'s background thread checks `needs_merge`.
    /// `None` turns the automatic merge off. Default 60 s.
    pub merge_interval: Option<Duration>,
    /// Longest accepted key. Default 1 MiB.
    pub max_key_len: usize,
    /// Longest accepted value. Default 512 MiB (Redis's `proto-max-bulk-len`).
    pub max_value_len: usize,
    /// Append to the active data file through a shared memory map instead
    /// of a `pwrite` per append (same durability, no system call; falls
    /// back to `pwrite` where the file system cannot reserve space).
    /// Default true.
    pub mmap_appends: bool,
}

impl Options {
    /// Options for `dir` with every default.
    pub fn new(dir: impl Into<PathBuf>) -> Options {
        Options {
            dir: dir.into(),
            fsync: FsyncPolicy::default(),
            index: IndexKind::default(),
            max_file_size: 256 << 20,
            cache_bytes: 64 << 20,
            merge_ratio: 0.5,
            merge_min_dead_bytes: 16 << 20,
            merge_interval: Some(Duration::from_secs(60)),
            max_key_len: 1 << 20,
            max_value_len: 512 << 20,
            mmap_appends: true,
        }
    }

    /// Chooses between appends through a memory map (default) and `pwrite`.
    pub fn with_mmap_appends(mut self, on: bool) -> Options {
        self.mmap_appends = on;
        self
    }

    /// Sets the fsync policy.
    pub fn with_fsync(mut self, fsync: FsyncPolicy) -> Options {
        self.fsync = fsync;
        self
    }

    /// Sets the index kind.
    pub fn with_index(mut self, index: IndexKind) -> Options {
        self.index = index;
        self
    }

    /// Sets the rotation size of data files.
    pub fn with_max_file_size(mut self, bytes: u64) -> Options {
        self.max_file_size = bytes;
        self
    }

    /// Sets the value-cache capacity in bytes (0 = off).
    pub fn with_cache_bytes(mut self, bytes: usize) -> Options {
        self.cache_bytes = bytes;
        self
    }

    /// Sets the dead-bytes ratio and minimum that trigger a merge.
    pub fn with_merge_trigger(mut self, ratio: f64, min_dead_bytes: u64) -> Options {
        self.merge_ratio = ratio;
        self.merge_min_dead_bytes = min_dead_bytes;
        self
    }

    /// Sets the automatic merge check interval (`None` = no automatic merge).
    pub fn with_merge_interval(mut self, interval: Option<Duration>) -> Options {
        self.merge_interval = interval;
        self
    }

    /// Sets the key and value length limits.
    pub fn with_limits(mut self, max_key_len: usize, max_value_len: usize) -> Options {
        self.max_key_len = max_key_len;
        self.max_value_len = max_value_len;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_file_size < 4096 || self.max_file_size > (2 << 30) {
            return Err(Error::InvalidArgument(format!(
                "max_file_size {} is outside 4 KiB..=2 GiB",
                self.max_file_size
            )));
        }
        if self.max_key_len == 0 || self.max_key_len > (1 << 30) {
            return Err(Error::InvalidArgument(
                "max_key_len must be 1..=1 GiB".into(),
            ));
        }
        if self.max_value_len > (1 << 30) {
            return Err(Error::InvalidArgument(
                "max_value_len must be <= 1 GiB".into(),
            ));
        }
        if !(self.merge_ratio > 0.0 && self.merge_ratio <= 1.0) {
            return Err(Error::InvalidArgument(
                "merge_ratio must be in (0, 1]".into(),
            ));
        }
        Ok(())
    }
}

/// Where a record lives: file, byte offset of the record, record length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// Numeric id of the data file (its file name).
    pub file_id: u32,
    /// Byte offset of the record's first byte in that file.
    pub offset: u64,
    /// Length of the whole record (header + key + value).
    pub len: u32,
}

/// One record the owner appends.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    /// Put or delete.
    pub kind: RecordKind,
    /// Opaque to storage: the owner's record type (keyspace opcode).
    pub tag: u8,
    /// Generation of the owning key.
    pub gen: u64,
    /// Absolute deadline in ms since the Unix epoch; 0 = none.
    pub expire_at_ms: u64,
    /// Opaque key bytes (not empty).
    pub key: &'a [u8],
    /// Value bytes (empty for deletes).
    pub value: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// A put record with tag 0, generation 0 and no expiry.
    pub fn put(key: &'a [u8], value: &'a [u8]) -> RecordRef<'a> {
        RecordRef {
            kind: RecordKind::Put,
            tag: 0,
            gen: 0,
            expire_at_ms: 0,
            key,
            value,
        }
    }

    /// A delete record with tag 0 and generation 0.
    pub fn delete(key: &'a [u8]) -> RecordRef<'a> {
        RecordRef {
            kind: RecordKind::Delete,
            tag: 0,
            gen: 0,
            expire_at_ms: 0,
            key,
            value: &[],
        }
    }
}

/// What recovery and merge hand back to the owner.
#[derive(Clone, Copy, Debug)]
pub struct ReplayEntry<'a> {
    /// Put or delete.
    pub kind: RecordKind,
    /// The owner's tag byte.
    pub tag: u8,
    /// Generation.
    pub gen: u64,
    /// Absolute deadline in ms, 0 = none.
    pub expire_at_ms: u64,
    /// Key bytes.
    pub key: &'a [u8],
    /// The value; `None` when the entry came from a hint file (read it with
    /// [`Log::read_value`]).
    pub value: Option<&'a [u8]>,
    /// The value's length (known also when `value` is `None`).
    pub value_len: u32,
    /// Where the record lives.
    pub location: Location,
}

/// Milliseconds since the Unix epoch by the system clock (merge and the
/// [`Engine`] use it to decide expiry).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod index_kind_tests {
    use super::IndexKind;

    #[test]
    fn index_kinds_parse_by_name_in_any_case() {
        assert_eq!("hash".parse::<IndexKind>(), Ok(IndexKind::Hash));
        assert_eq!("BTree".parse::<IndexKind>(), Ok(IndexKind::BTree));
        assert_eq!("SKIPLIST".parse::<IndexKind>(), Ok(IndexKind::SkipList));
        let err = "lsm".parse::<IndexKind>().expect_err("unknown kind");
        assert!(err.contains("'lsm'") && err.contains("skiplist"), "{err}");
    }
}

/// Entry points of the fuzz targets (`fuzz/`) and of their regression test
/// (`tests/fuzz_regressions.rs`) for decoders that are private to storage.
/// Not an API: each function panics only when it finds a bug.
#[doc(hidden)]
pub mod fuzz_hooks {
    use super::{hint, record};

    /// Decodes `data` as a data-file record and as a file header. A record
    /// that decodes and passes its CRC must re-encode to the same bytes.
    pub fn record(data: &[u8]) {
        let _ = record::check_file_header(data, record::TYPE_DATA);
        let _ = record::decode_header(data, record::Layout::V1);
        let _ = record::decode(data, record::Layout::V1);
        let _ = record::decode_header(data, record::Layout::CURRENT);
        if let Ok(d) = record::decode(data, record::Layout::CURRENT) {
            let len = d.header.record_len() as usize;
            assert!(len <= data.len(), "decoded past the end of the buffer");
            if record::crc_ok(&d.header, &data[..len]) {
                let mut again = Vec::new();
                record::encode(
                    &mut again,
                    d.header.kind,
                    d.header.tag,
                    d.header.gen,
                    d.header.expire_at_ms,
                    d.key,
                    d.value,
                );
                assert_eq!(
                    again,
                    &data[..len],
                    "a valid record re-encodes to other bytes"
                );
            }
        }
        let _ = record::decode_value(bytes::Bytes::copy_from_slice(data), record::Layout::CURRENT);
    }

    /// Replays `data[1..]` as a hint file; with `data[0]` odd, its CRCs are
    /// made valid first so the structural checks behind them are reached.
    /// Every entry handed out must lie inside the buffer and point inside
    /// the data file.
    pub fn hint(data: &[u8]) {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let mut buf = rest.to_vec();
        let data_len = if mode & 1 == 1 {
            hint::fix_checksums_for_fuzzing(&mut buf)
        } else {
            buf.len() as u64
        };
        let _ = hint::replay_bytes(&buf, 1, data_len, &mut |e| {
            assert!(e.key.len() <= buf.len());
            assert!(
                e.location.offset.saturating_add(u64::from(e.location.len)) <= data_len,
                "a hint entry points past its data file"
            );
            Ok(())
        });
    }
}
