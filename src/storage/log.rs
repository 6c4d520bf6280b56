//! The log: segment files, the single writer with group commit, reads by
//! `pread` through the value cache, and open (recovery).

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::cache::ValueCache;
use super::error::{Error, IoContext, Result};
use super::hint;
use super::lock::{DirLock, LOCK_FILE};
use super::mapped::ActiveMap;
use super::merge::{self, MergeOracle, MergeReport};
use super::record::{self, DiskKind, Layout, FILE_HEADER_LEN, TYPE_DATA};
use super::segment::{self, Segment, DATA_SUFFIX, HINT_SUFFIX};
use super::{FsyncPolicy, Location, Options, RecordRef, ReplayEntry};
use crate::progress::ProgressLog;

/// Largest encoded size of one append (one batch); keeps file offsets < 4 GiB.
const MAX_APPEND_BYTES: usize = 1 << 30;

/// A big append is encoded and written in pieces of about this size.
const APPEND_CHUNK: usize = 1 << 20;

/// Counters of the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Number of data files.
    pub files: usize,
    /// Bytes in data files (headers included).
    pub disk_bytes: u64,
    /// Bytes not reported dead.
    pub live_bytes: u64,
    /// Bytes the owner reported dead (overwritten, deleted, expired).
    pub dead_bytes: u64,
    /// Bytes charged in the value cache.
    pub cache_bytes: u64,
    /// Completed merges since open.
    pub merges: u64,
    /// fsyncs of data files since open (group commit: one for many writers).
    pub fsyncs: u64,
    /// Total time spent in those fsyncs, microseconds.
    pub fsync_micros: u64,
    /// The slowest of them, microseconds.
    pub fsync_max_micros: u64,
}

/// The writer's state; one `Mutex` so that appends are serialised.
pub(crate) struct Writer {
    pub active: Arc<Segment>,
    /// Total bytes appended since open (a global position for group commit).
    pub pos: u64,
    /// Next file id to create.
    pub next_id: u32,
    next_batch: u64,
    buf: Vec<u8>,
    /// The active file's writable mapping (`None`: appends use `pwrite`).
    map: Option<ActiveMap>,
    /// The active file was grown past its written bytes (for the mapping)
    /// and must be cut back when sealed.
    grown: bool,
}

impl Writer {
    /// Writes `bytes` at `offset` of the active file: through the mapping
    /// when it covers them, else with `pwrite`. The error says whether the
    /// file may hold part of the bytes past its written end and must be cut
    /// back (a mapped write fails before copying anything).
    fn put_bytes(
        &mut self,
        offset: u64,
        bytes: &[u8],
    ) -> std::result::Result<(), (std::io::Error, bool)> {
        match self.map.as_mut() {
            // Nothing is copied when the space cannot be reserved: no cut.
            Some(map) if map.fits(offset, bytes.len() as u64) => map
                .write(&self.active.file, offset, bytes)
                .map_err(|e| (e, false)),
            _ => {
                // Larger than the mapping's room (one append bigger than a
                // file): unmap before a cut could shrink the file under it.
                self.map = None;
                self.active
                    .file
                    .write_all_at(bytes, offset)
                    .map_err(|e| (e, true))
            }
        }
    }
}

/// Merges are paused while this lives (see [`Log::pause_merges`]).
pub struct MergePause<'a> {
    log: &'a Log,
    _merge: parking_lot::MutexGuard<'a, ()>,
}

impl MergePause<'_> {
    /// Replays every record of the open log, as [`Log::open`] did: hint files
    /// where valid, else the data files, in file order, up to each file's
    /// written size. Dead-byte counters restart at zero (the replay's owner
    /// reports dead records again). The caller must keep appends out while
    /// it runs (the keyspace holds its state lock). Used to rebuild the
    /// owner's memory after a failed append left it ahead of the disk.
    pub fn replay(&self, f: &mut dyn FnMut(ReplayEntry<'_>) -> Result<()>) -> Result<()> {
        let inner = &self.log.inner;
        let segs: Vec<Arc<Segment>> = inner.segments.read().values().cloned().collect();
        for seg in segs {
            seg.dead.store(0, Ordering::Relaxed);
            let size = seg.size();
            let hint_path = segment::file_path(&inner.dir, seg.id, HINT_SUFFIX);
            if hint::replay(&hint_path, seg.id, size, f)? {
                continue;
            }
            let outcome = segment::scan_data_file(&seg.path, seg.id, size, f)?;
            match outcome.bad {
                Some((offset, reason)) if offset < size => {
                    return Err(Error::Corruption {
                        file: seg.path.clone(),
                        offset,
                        reason,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Bytes available to this process on the file system holding `dir`.
#[expect(unsafe_code, reason = "statvfs(3) has no safe wrapper in std")]
fn free_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidArgument(format!("{} has a NUL byte", dir.display())))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized,
    // writable statvfs struct that lives across the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(Error::io(
            format!("statvfs {}", dir.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Shared state of a [`Log`]; reader and writer paths both go through it.
pub(crate) struct Inner {
    pub opts: Options,
    pub dir: PathBuf,
    /// Held for the life of the log; dropping it releases the flock.
    _lock: DirLock,
    /// One writer at a time: appends, rotation.
    pub writer: Mutex<Writer>,
    /// Every readable file by id. Readers clone the `Arc` and `pread` outside
    /// the lock; merge removes merged-away files here (the `Arc` keeps the
    /// descriptor alive for readers still using it).
    pub segments: RwLock<BTreeMap<u32, Arc<Segment>>>,
    pub cache: ValueCache,
    /// Group commit: the one thread holding this fsyncs for everyone waiting.
    sync_lock: Mutex<()>,
    /// Global position up to which appended bytes are fsynced.
    synced: AtomicU64,
    /// Set, with its reason, when an fsync failed.
    poisoned: AtomicBool,
    poison_reason: Mutex<String>,
    /// One merge at a time.
    pub merge_lock: Mutex<()>,
    /// Set when an append failed to write (a full disk, most often);
    /// [`Log::check_space`] clears it once space is back.
    space_short: AtomicBool,
    /// fsync count, total and slowest duration (µs), for [`LogStats`].
    fsyncs: AtomicU64,
    fsync_micros: AtomicU64,
    fsync_max_micros: AtomicU64,
    pub merges: AtomicU64,
    /// Whether the once-a-second fsync of [`FsyncPolicy::EverySec`] runs
    /// (see [`Log::set_timer_sync`]).
    timer_sync: AtomicBool,
}

impl Inner {
    pub(crate) fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned(self.poison_reason.lock().clone()));
        }
        Ok(())
    }

    pub(crate) fn poison(&self, reason: String) {
        tracing::error!(%reason, "fsync failed; the writer is poisoned");
        *self.poison_reason.lock() = reason;
        self.poisoned.store(true, Ordering::Release);
    }

    /// `fdatasync`, counted and timed for the stats.
    fn timed_sync(&self, file: &std::fs::File) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        let result = file.sync_data();
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_micros.fetch_add(micros, Ordering::Relaxed);
        self.fsync_max_micros.fetch_max(micros, Ordering::Relaxed);
        result
    }

    /// fsyncs everything appended so far (group commit leader or follower).
    fn sync_to(&self, target: u64) -> Result<()> {
        if self.synced.load(Ordering::Acquire) >= target {
            return self.check_poison_if_uncovered(target);
        }
        let _g = self.sync_lock.lock();
        self.check_poison()?;
        if self.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let (seg, pos) = {
            let w = self.writer.lock();
            (w.active.clone(), w.pos)
        };
        if let Err(e) = self.timed_sync(&seg.file) {
            let msg = format!("fsync of {} failed: {e}", seg.path.display());
            self.poison(msg.clone());
            return Err(Error::Poisoned(msg));
        }
        self.synced.fetch_max(pos, Ordering::AcqRel);
        Ok(())
    }

    fn check_poison_if_uncovered(&self, target: u64) -> Result<()> {
        if self.synced.load(Ordering::Acquire) >= target {
            Ok(())
        } else {
            self.check_poison()
        }
    }

    /// Maps `seg` for appends when the options ask for it and the file
    /// system allows it (see `mapped.rs`).
    fn map_active(&self, seg: &Segment) -> Option<ActiveMap> {
        if !self.opts.mmap_appends {
            return None;
        }
        ActiveMap::new(&seg.file, seg.size(), self.opts.max_file_size)
    }

    /// Makes `seg` the active file (under the writer lock).
    fn activate(&self, w: &mut Writer, seg: Arc<Segment>) {
        w.map = self.map_active(&seg);
        w.grown = w.map.is_some();
        w.active = seg;
    }

    /// Drops the active file's mapping and cuts the file back to its
    /// written bytes. A failed cut leaves zeros at the end, which recovery
    /// reads as unused room: it only costs disk space.
    fn seal(&self, w: &mut Writer) {
        w.map = None;
        if std::mem::take(&mut w.grown) {
            if let Err(e) = w.active.file.set_len(w.active.size()) {
                tracing::warn!(error = %e, file = %w.active.path.display(), "cutting the unused room of a data file");
            }
        }
    }

    /// Seals the active file and starts file `id` (under the writer lock).
    pub(crate) fn rotate(&self, w: &mut Writer, id: u32) -> Result<()> {
        self.seal(w);
        if self.opts.fsync != FsyncPolicy::No {
            if let Err(e) = self.timed_sync(&w.active.file) {
                let msg = format!("fsync of {} failed: {e}", w.active.path.display());
                self.poison(msg.clone());
                return Err(Error::Poisoned(msg));
            }
            self.synced.fetch_max(w.pos, Ordering::AcqRel);
        }
        let seg = Arc::new(Segment::create(&self.dir, id)?);
        if self.opts.fsync != FsyncPolicy::No {
            segment::sync_dir(&self.dir)?;
        }
        self.segments.write().insert(id, seg.clone());
        self.activate(w, seg);
        w.next_id = id
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument("file id space exhausted; run a merge".into()))?;
        Ok(())
    }

    pub(crate) fn segment(&self, id: u32) -> Option<Arc<Segment>> {
        self.segments.read().get(&id).cloned()
    }

    pub(crate) fn read_value(&self, loc: Location) -> Result<Bytes> {
        if let Some(v) = self.cache.get(&loc) {
            return Ok(v);
        }
        let value = self.read_value_uncached(loc)?;
        self.cache.insert(loc, value.clone());
        Ok(value)
    }

    /// Reads and checks the value of the record at `loc` from its file,
    /// without the value cache.
    pub(crate) fn read_value_uncached(&self, loc: Location) -> Result<Bytes> {
        let seg = self.segment(loc.file_id).ok_or(Error::StaleLocation(loc))?;
        let len = loc.len as usize;
        if len < seg.layout.min_record_len() || loc.offset + u64::from(loc.len) > seg.size() {
            return Err(Error::InvalidArgument(format!(
                "location {loc:?} is outside its file"
            )));
        }
        let mut buf = vec![0u8; len];
        seg.file
            .read_exact_at(&mut buf, loc.offset)
            .ctx(|| format!("reading {}", seg.path.display()))?;
        let (header, value) =
            record::decode_value(Bytes::from(buf), seg.layout).map_err(|e| Error::Corruption {
                file: seg.path.clone(),
                offset: loc.offset,
                reason: e.to_string(),
            })?;
        if header.record_len() != u64::from(loc.len) {
            return Err(Error::Corruption {
                file: seg.path.clone(),
                offset: loc.offset,
                reason: "record length does not match its location".into(),
            });
        }
        Ok(value)
    }
}

/// Handle on an append: done once the records are durable per the fsync policy.
#[must_use = "a commit must be waited on before acknowledging the write"]
pub struct Commit {
    /// `None` when nothing remains to wait for.
    pending: Option<(Arc<Inner>, u64)>,
}

impl std::fmt::Debug for Commit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commit")
            .field("target", &self.pending.as_ref().map(|p| p.1))
            .finish()
    }
}

impl Commit {
    /// A commit that is already done.
    pub fn done() -> Commit {
        Commit { pending: None }
    }

    /// Blocks until the records are durable per the policy: with
    /// [`FsyncPolicy::Always`], until an fsync covering them has returned
    /// (concurrent waiters share one fsync); otherwise returns at once (the
    /// bytes were handed to the OS by `append`).
    pub fn wait(self) -> Result<()> {
        match self.pending {
            None => Ok(()),
            Some((inner, target)) => inner.sync_to(target),
        }
    }

    /// True when [`Commit::wait`] would not block.
    pub fn is_done(&self) -> bool {
        match &self.pending {
            None => true,
            Some((inner, target)) => inner.synced.load(Ordering::Acquire) >= *target,
        }
    }
}

/// The append-only log. `Send + Sync`; share it by reference or `Arc`.
pub struct Log {
    pub(crate) inner: Arc<Inner>,
    /// The `everysec` fsync thread; dropping the sender stops it.
    syncer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("dir", &self.inner.dir).finish()
    }
}

/// Checks that `dir` is (or can become) a store and creates it if missing.
fn prepare_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::NotAStore {
                dir: dir.to_path_buf(),
                reason: "it is not a directory".into(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
            return Ok(());
        }
        Err(e) => return Err(Error::io(format!("stat {}", dir.display()), e)),
    }
    let mut foreign = None;
    let mut ours = false;
    for entry in std::fs::read_dir(dir).ctx(|| format!("listing {}", dir.display()))? {
        let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == LOCK_FILE
            || name == merge::MERGE_DIR
            || segment::parse_file_name(&name, DATA_SUFFIX).is_some()
            || segment::parse_file_name(&name, HINT_SUFFIX).is_some()
        {
            ours = true;
        } else if foreign.is_none() {
            foreign = Some(name.into_owned());
        }
    }
    match foreign {
        Some(name) if !ours => Err(Error::NotAStore {
            dir: dir.to_path_buf(),
            reason: format!("it holds other files (e.g. {name:?}) and no data files"),
        }),
        _ => Ok(()),
    }
}

/// The dead-bytes counter of the file [`Log::mark_dead_cached`] counted
/// into last (empty at first and after [`DeadCache::clear`]).
#[derive(Default)]
pub struct DeadCache(Option<Arc<Segment>>);

impl DeadCache {
    /// Forgets the cached file (call after a merge).
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

impl std::fmt::Debug for DeadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DeadCache")
            .field(&self.0.as_ref().map(|s| s.id))
            .finish()
    }
}

impl Log {
    /// Opens (creating if needed) and replays every committed record, hint
    /// files first where valid, in the order they were written (files in
    /// numeric order). A torn tail of the last file is truncated with a
    /// warning; damage anywhere else is [`Error::Corruption`].
    pub fn open(
        opts: Options,
        replay: &mut dyn FnMut(ReplayEntry<'_>) -> Result<()>,
    ) -> Result<Log> {
        opts.validate()?;
        let dir = opts.dir.clone();
        prepare_dir(&dir)?;
        let lock = DirLock::acquire(&dir)?;
        merge::recover(&dir)?;
        let ids = segment::list_ids(&dir, DATA_SUFFIX)?;
        // Hints without their data file are leftovers; remove them.
        for hid in segment::list_ids(&dir, HINT_SUFFIX)? {
            if ids.binary_search(&hid).is_err() {
                let p = segment::file_path(&dir, hid, HINT_SUFFIX);
                std::fs::remove_file(&p).ctx(|| format!("removing {}", p.display()))?;
            }
        }
        let mut segments = BTreeMap::new();
        let mut last_has_hint = false;
        let mut sizes = Vec::with_capacity(ids.len());
        for &id in &ids {
            let path = segment::file_path(&dir, id, DATA_SUFFIX);
            let len = std::fs::metadata(&path)
                .ctx(|| format!("stat {}", path.display()))?
                .len();
            sizes.push(len);
        }
        let mut progress = ProgressLog::new("loading data files", sizes.iter().sum());
        let mut loaded = 0u64;
        for (i, &id) in ids.iter().enumerate() {
            let is_last = i + 1 == ids.len();
            let path = segment::file_path(&dir, id, DATA_SUFFIX);
            let data_len = sizes[i];
            let hint_path = segment::file_path(&dir, id, HINT_SUFFIX);
            let hinted = hint::replay(&hint_path, id, data_len, replay)?;
            if !hinted {
                let outcome = segment::scan_data_file(&path, id, u64::MAX, replay)?;
                if let (None, Some(room)) = (&outcome.bad, outcome.room_from) {
                    cut_room(&path, room)?;
                }
                if let Some((offset, reason)) = outcome.bad {
                    if !is_last {
                        return Err(Error::Corruption {
                            file: path,
                            offset,
                            reason,
                        });
                    }
                    repair_tail(&path, outcome.valid_len, offset, &reason)?;
                }
            }
            if is_last {
                last_has_hint = hinted;
            }
            segments.insert(id, Arc::new(Segment::open(&dir, id)?));
            loaded += data_len;
            progress.update(loaded, || format!("{}/{} files", i + 1, ids.len()));
        }
        progress.finish(|| format!("{} files", ids.len()));
        let last = segments.values().next_back().cloned();
        // The last file is appended to unless merge wrote it (it has a
        // hint) or it holds an older record layout.
        let (active, next_id) = match last {
            Some(seg) if !last_has_hint && seg.layout == Layout::CURRENT => {
                let next = seg
                    .id
                    .checked_add(1)
                    .ok_or_else(|| Error::InvalidArgument("file id space exhausted".into()))?;
                (seg, next)
            }
            other => {
                let id = other.map_or(1, |s| s.id + 1);
                let seg = Arc::new(Segment::create(&dir, id)?);
                segment::sync_dir(&dir)?;
                segments.insert(id, seg.clone());
                (seg, id + 1)
            }
        };
        let inner = Arc::new(Inner {
            cache: ValueCache::new(opts.cache_bytes),
            dir,
            _lock: lock,
            writer: Mutex::new(Writer {
                active: active.clone(),
                pos: 0,
                next_id,
                next_batch: 1,
                buf: Vec::new(),
                map: None,
                grown: false,
            }),
            segments: RwLock::new(segments),
            sync_lock: Mutex::new(()),
            synced: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            poison_reason: Mutex::new(String::new()),
            merge_lock: Mutex::new(()),
            space_short: AtomicBool::new(false),
            fsyncs: AtomicU64::new(0),
            fsync_micros: AtomicU64::new(0),
            fsync_max_micros: AtomicU64::new(0),
            merges: AtomicU64::new(0),
            timer_sync: AtomicBool::new(true),
            opts,
        });
        inner.activate(&mut inner.writer.lock(), active);
        let syncer = (inner.opts.fsync == FsyncPolicy::EverySec).then(|| spawn_syncer(&inner));
        Ok(Log { inner, syncer })
    }

    /// Appends records; more than one = one atomic batch (all or none after a
    /// crash). Returns each record's location and a [`Commit`] to wait on
    /// before acknowledging. Bad input (empty key, key or value too long) is
    /// [`Error::InvalidArgument`]; after a failed fsync every append is
    /// [`Error::Poisoned`].
    pub fn append(&self, records: &[RecordRef<'_>]) -> Result<(Vec<Location>, Commit)> {
        let mut locs = Vec::with_capacity(records.len());
        let commit = self.append_into(records, &mut locs)?;
        Ok((locs, commit))
    }

    /// [`Log::append`] writing the locations into `locs` (cleared first),
    /// so that a caller appending in a loop reuses one vector.
    pub fn append_into(
        &self,
        records: &[RecordRef<'_>],
        locs: &mut Vec<Location>,
    ) -> Result<Commit> {
        self.append_each(records.iter().copied(), locs)
    }

    /// [`Log::append_into`] of records an iterator makes (walked twice: a
    /// check, then the encoding), so that an owner that keeps its records
    /// in its own form needs no vector of them.
    pub fn append_each<'r, I>(&self, records: I, locs: &mut Vec<Location>) -> Result<Commit>
    where
        I: ExactSizeIterator<Item = RecordRef<'r>> + Clone,
    {
        let inner = &self.inner;
        locs.clear();
        let n = records.len();
        if n == 0 {
            return Ok(Commit::done());
        }
        let mut total = 0usize;
        for r in records.clone() {
            if r.key.is_empty() {
                return Err(Error::InvalidArgument("empty key".into()));
            }
            if r.key.len() > inner.opts.max_key_len {
                return Err(Error::InvalidArgument(format!(
                    "key of {} bytes exceeds the maximum of {}",
                    r.key.len(),
                    inner.opts.max_key_len
                )));
            }
            if r.value.len() > inner.opts.max_value_len {
                return Err(Error::InvalidArgument(format!(
                    "value of {} bytes exceeds the maximum of {}",
                    r.value.len(),
                    inner.opts.max_value_len
                )));
            }
            total = total.saturating_add(record::encoded_len(
                r.key.len(),
                r.value.len(),
                r.gen,
                r.expire_at_ms,
            ));
        }
        let batch = n > 1;
        if batch {
            // The batch id is not known yet: count its widest varint.
            total += 2 * record::encoded_len(0, 4, u64::MAX, 0);
        }
        if total > MAX_APPEND_BYTES {
            return Err(Error::InvalidArgument(format!(
                "append of {total} bytes exceeds the maximum of {MAX_APPEND_BYTES}"
            )));
        }
        inner.check_poison()?;
        let mut guard = inner.writer.lock();
        let w = &mut *guard;
        if w.active.size() + total as u64 > inner.opts.max_file_size
            && w.active.size() > FILE_HEADER_LEN as u64
        {
            let id = w.next_id;
            inner.rotate(w, id)?;
        }
        let base = w.active.size();
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        locs.reserve(n);
        let batch_id = w.next_batch;
        if batch {
            w.next_batch += 1;
            let count = record::batch_marker_value(n as u32);
            record::encode(&mut buf, DiskKind::BatchBegin, 0, batch_id, 0, &[], &count);
        }
        // Bytes of this append already written (a big batch is encoded and
        // written a chunk at a time, so no buffer of its whole size is
        // allocated and faulted in; its commit marker comes last, so a
        // crash between chunks leaves a torn batch, which recovery drops).
        let mut flushed = 0u64;
        let mut written = Ok(());
        for r in records {
            let start = buf.len();
            record::encode(
                &mut buf,
                DiskKind::from_kind(r.kind),
                r.tag,
                r.gen,
                r.expire_at_ms,
                r.key,
                r.value,
            );
            locs.push(Location {
                file_id: w.active.id,
                offset: base + flushed + start as u64,
                len: (buf.len() - start) as u32,
            });
            if buf.len() >= APPEND_CHUNK {
                written = w.put_bytes(base + flushed, &buf);
                if written.is_err() {
                    break;
                }
                flushed += buf.len() as u64;
                buf.clear();
            }
        }
        if written.is_ok() {
            if batch {
                let count = record::batch_marker_value(n as u32);
                record::encode(&mut buf, DiskKind::BatchCommit, 0, batch_id, 0, &[], &count);
            }
            written = w.put_bytes(base + flushed, &buf);
        }
        let len = flushed + buf.len() as u64;
        // One huge record may have grown the buffer: do not keep that.
        if buf.capacity() <= 4 * APPEND_CHUNK {
            w.buf = buf;
        }
        if let Err((e, cut)) = written {
            locs.clear();
            // A full disk (ENOSPC), a quota or an I/O error: part of the
            // batch may be in the file. Cut it off so the file ends with the
            // last whole append (a sealed file with garbage at its end would
            // refuse the next open); if even that fails, the next append
            // overwrites it and recovery cuts it as a torn tail.
            if cut {
                if let Err(t) = w.active.file.set_len(base) {
                    tracing::warn!(error = %t, file = %w.active.path.display(), "cutting a failed append");
                }
            }
            self.inner.space_short.store(true, Ordering::Release);
            return Err(Error::io(format!("writing {}", w.active.path.display()), e));
        }
        w.active.size.store(base + len, Ordering::Release);
        w.pos += len;
        let commit = if inner.opts.fsync == FsyncPolicy::Always {
            Commit {
                pending: Some((inner.clone(), w.pos)),
            }
        } else {
            Commit::done()
        };
        Ok(commit)
    }

    /// Whether an append of `bytes` bytes would be a copy into memory only:
    /// no `fsync` per write (`fsync = always`), no rotation, no `pwrite`,
    /// and the bytes land in the mapped window of the active file, in
    /// pages already reserved and in the page cache (no `fallocate`, no
    /// `mmap`, no major fault). Also false while the writer lock is held
    /// (the append would wait) or after a failed write. For callers that
    /// must not block, such as a Python thread holding the GIL.
    pub fn quiet_room(&self, bytes: u64) -> bool {
        let inner = &self.inner;
        if inner.opts.fsync == FsyncPolicy::Always || inner.space_short.load(Ordering::Acquire) {
            return false;
        }
        let Some(w) = inner.writer.try_lock() else {
            return false;
        };
        let base = w.active.size();
        base + bytes <= inner.opts.max_file_size
            && w.map.as_ref().is_some_and(|m| m.quiet(base, bytes))
    }

    /// Whether an append of about `bytes` bytes can be written. Free after
    /// a successful append (no system call); after a failed write it asks
    /// the file system (statvfs) for `bytes` plus 1 MiB of headroom and
    /// answers [`Error::NoSpace`] until that much is free again. Callers that
    /// change state in memory before appending ask first, so that a full
    /// disk refuses writes cheaply instead of failing them half way.
    pub fn check_space(&self, bytes: u64) -> Result<()> {
        if !self.inner.space_short.load(Ordering::Acquire) {
            return Ok(());
        }
        let want = bytes.saturating_add(1 << 20);
        let free = free_bytes(&self.inner.dir)?;
        if free < want {
            return Err(Error::NoSpace(format!(
                "{} has {free} bytes free, {want} needed",
                self.inner.dir.display()
            )));
        }
        self.inner.space_short.store(false, Ordering::Release);
        Ok(())
    }

    /// Stops merges until the returned guard drops, so that its
    /// [`MergePause::replay`] sees a fixed set of files.
    pub fn pause_merges(&self) -> MergePause<'_> {
        MergePause {
            log: self,
            _merge: self.inner.merge_lock.lock(),
        }
    }

    /// Reads the value of the record at `loc` (through the value cache). The
    /// record's CRC is checked on every disk read.
    pub fn read_value(&self, loc: Location) -> Result<Bytes> {
        self.inner.read_value(loc)
    }

    /// [`Log::read_value`] without the value cache, for an owner that keeps
    /// the value itself (the keyspace at recovery): caching it too would
    /// only add the cache's bookkeeping per value (and pin the record's
    /// header and key with it), up to the cache's whole budget.
    pub fn read_value_uncached(&self, loc: Location) -> Result<Bytes> {
        self.inner.read_value_uncached(loc)
    }

    /// The owner reports that the record at `loc` became dead (overwritten,
    /// deleted, expired): it counts towards the merge trigger.
    pub fn mark_dead(&self, loc: Location) {
        self.mark_dead_bytes(loc.file_id, u64::from(loc.len));
    }

    /// [`Log::mark_dead`] through `cache`, which keeps the last file's
    /// counter: an overwrite in the same file as the previous one costs one
    /// atomic add instead of a lock, a map lookup and the add. File ids are
    /// never reused, so a cached file that merge has since removed only
    /// absorbs the count; the owner clears the cache after a merge so that
    /// a removed file's descriptor (and disk space) is not held.
    pub fn mark_dead_cached(&self, cache: &mut DeadCache, loc: Location) {
        let bytes = u64::from(loc.len);
        if let Some(seg) = &cache.0 {
            if seg.id == loc.file_id {
                seg.dead.fetch_add(bytes, Ordering::Relaxed);
                return;
            }
        }
        cache.0 = self.inner.segments.read().get(&loc.file_id).cloned();
        if let Some(seg) = &cache.0 {
            seg.dead.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Like [`Log::mark_dead`] for a sum of bytes in one file (handy after replay).
    pub fn mark_dead_bytes(&self, file_id: u32, bytes: u64) {
        // Under the read lock, without cloning the `Arc`: this runs on every
        // overwrite, and the clone's two atomic operations cost more than
        // the counter.
        if let Some(seg) = self.inner.segments.read().get(&file_id) {
            seg.dead.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Rewrites the live records of every sealed file (liveness from `oracle`)
    /// into new files with hint files, then deletes the old files. Runs on the
    /// caller's thread; writers are blocked only while the active file is
    /// rotated. Records appended while it runs replay after its output.
    pub fn merge(&self, oracle: &dyn MergeOracle) -> Result<MergeReport> {
        merge::run(&self.inner, oracle)
    }

    /// True when the dead-bytes ratio and minimum of the options are reached.
    pub fn needs_merge(&self) -> bool {
        let s = self.stats();
        s.dead_bytes >= self.inner.opts.merge_min_dead_bytes
            && s.disk_bytes > 0
            && s.dead_bytes as f64 / s.disk_bytes as f64 >= self.inner.opts.merge_ratio
    }

    /// Stops (`false`) or restarts the once-a-second fsync of
    /// [`FsyncPolicy::EverySec`]. For a log whose writes are made durable
    /// elsewhere before they are acknowledged (a raft member's keyspace:
    /// its raft log is fsynced first): that owner calls [`Log::sync`]
    /// before it forgets anything the data files must cover. Files are
    /// still fsynced when sealed, so a machine crash can lose only the
    /// active file's tail: a prefix of the appends survives.
    pub fn set_timer_sync(&self, on: bool) {
        self.inner.timer_sync.store(on, Ordering::Release);
    }

    /// fsyncs everything appended so far, whatever the policy.
    pub fn sync(&self) -> Result<()> {
        let pos = self.inner.writer.lock().pos;
        self.inner.sync_to(pos.max(1))
    }

    /// Counters.
    pub fn stats(&self) -> LogStats {
        let segs = self.inner.segments.read();
        let mut s = LogStats {
            files: segs.len(),
            cache_bytes: self.inner.cache.used() as u64,
            merges: self.inner.merges.load(Ordering::Relaxed),
            fsyncs: self.inner.fsyncs.load(Ordering::Relaxed),
            fsync_micros: self.inner.fsync_micros.load(Ordering::Relaxed),
            fsync_max_micros: self.inner.fsync_max_micros.load(Ordering::Relaxed),
            ..LogStats::default()
        };
        for seg in segs.values() {
            s.disk_bytes += seg.size();
            s.dead_bytes += seg.dead();
        }
        s.live_bytes = s.disk_bytes - s.dead_bytes;
        s
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.syncer.take() {
            drop(tx);
            let _ = handle.join();
        }
        self.inner.seal(&mut self.inner.writer.lock());
        if self.inner.opts.fsync != FsyncPolicy::No && !self.inner.poisoned.load(Ordering::Acquire)
        {
            if let Err(e) = self.sync() {
                tracing::warn!(error = %e, "final fsync on close failed");
            }
        }
    }
}

/// Cuts the zeros from `room` to the end of a data file: the unused room
/// of a file that was active when the process stopped.
fn cut_room(path: &Path, room: u64) -> Result<()> {
    tracing::debug!(file = %path.display(), offset = room, "cutting unused room after the last record");
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(room))
        .ctx(|| format!("cutting {}", path.display()))
}

/// Starts the `everysec` thread: it fsyncs once a second until the log drops.
fn spawn_syncer(inner: &Arc<Inner>) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let handle = std::thread::Builder::new()
        .name("fincaskv-fsync".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(1))
            {
                let Some(inner) = weak.upgrade() else { break };
                if !inner.timer_sync.load(Ordering::Acquire) {
                    continue;
                }
                let pos = inner.writer.lock().pos;
                if pos > 0 {
                    if let Err(e) = inner.sync_to(pos) {
                        tracing::error!(error = %e, "everysec fsync failed");
                    }
                }
            }
        });
    match handle {
        Ok(h) => (tx, h),
        Err(e) => {
            // Without a thread we cannot keep the promise of `everysec`;
            // degrade loudly to a thread that exits at once.
            tracing::error!(error = %e, "could not start the fsync thread");
            let h = std::thread::spawn(|| {});
            (tx, h)
        }
    }
}

/// Cuts a torn tail off the last data file and logs it.
fn repair_tail(path: &Path, valid_len: u64, bad_at: u64, reason: &str) -> Result<()> {
    tracing::warn!(
        file = %path.display(),
        offset = bad_at,
        truncated_to = valid_len,
        %reason,
        "torn tail in the active data file: truncating"
    );
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .ctx(|| format!("opening {}", path.display()))?;
    if valid_len < FILE_HEADER_LEN as u64 {
        let meta_len = f
            .metadata()
            .ctx(|| format!("stat {}", path.display()))?
            .len();
        if meta_len >= FILE_HEADER_LEN as u64 {
            // A full-size header that is wrong is not a torn write.
            return Err(Error::Corruption {
                file: path.to_path_buf(),
                offset: 0,
                reason: reason.to_string(),
            });
        }
        f.set_len(0)
            .ctx(|| format!("truncating {}", path.display()))?;
        f.write_all_at(&record::file_header(TYPE_DATA), 0)
            .ctx(|| format!("writing header of {}", path.display()))?;
    } else {
        f.set_len(valid_len)
            .ctx(|| format!("truncating {}", path.display()))?;
    }
    f.sync_all().ctx(|| format!("fsyncing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::RecordKind;

    type Seen = Vec<(RecordKind, Vec<u8>, Option<Vec<u8>>, Location)>;

    fn open(dir: &Path, fsync: FsyncPolicy) -> Result<(Log, Seen)> {
        let mut seen = Vec::new();
        let log = Log::open(
            Options::new(dir).with_fsync(fsync).with_max_file_size(4096),
            &mut |e| {
                seen.push((
                    e.kind,
                    e.key.to_vec(),
                    e.value.map(|v| v.to_vec()),
                    e.location,
                ));
                Ok(())
            },
        )?;
        Ok((log, seen))
    }

    #[test]
    fn append_read_reopen_in_order_across_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut locs = Vec::new();
        {
            let (log, seen) = open(dir.path(), FsyncPolicy::No).expect("open");
            assert!(seen.is_empty());
            for i in 0..200u32 {
                let k = format!("key{i}");
                let v = format!("value{i}").repeat(5);
                let (l, c) = log
                    .append(&[RecordRef::put(k.as_bytes(), v.as_bytes())])
                    .expect("append");
                c.wait().expect("commit");
                locs.push(l[0]);
            }
            let (l, c) = log.append(&[RecordRef::delete(b"key0")]).expect("delete");
            c.wait().expect("commit");
            locs.push(l[0]);
            assert!(log.stats().files >= 3, "rotation at 4 KiB");
            assert_eq!(
                &log.read_value(locs[7]).expect("read")[..],
                b"value7value7value7value7value7"
            );
        }
        let (log, seen) = open(dir.path(), FsyncPolicy::No).expect("reopen");
        assert_eq!(seen.len(), 201);
        for (i, (kind, key, value, loc)) in seen.iter().enumerate().take(200) {
            assert_eq!(*kind, RecordKind::Put);
            assert_eq!(key, format!("key{i}").as_bytes());
            assert_eq!(
                value.as_deref(),
                Some(format!("value{i}").repeat(5).as_bytes())
            );
            assert_eq!(*loc, locs[i]);
        }
        assert_eq!(seen[200].0, RecordKind::Delete);
        assert_eq!(
            &log.read_value(locs[150]).expect("read")[..],
            b"value150value150value150value150value150"
        );
    }

    /// A batch several times `APPEND_CHUNK` is written a chunk at a time:
    /// every location points at its record, before and after a reopen, and
    /// a small append after it lands behind it.
    #[test]
    fn big_batch_is_written_in_chunks() {
        for mmap in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let opts = || {
                Options::new(dir.path())
                    .with_fsync(FsyncPolicy::No)
                    .with_mmap_appends(mmap)
            };
            let value = |i: usize| format!("{i:>9}").repeat(1 + i % 200);
            let n = 5_000usize;
            let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            let values: Vec<String> = (0..n).map(value).collect();
            let total: usize = values.iter().map(String::len).sum();
            assert!(total > 4 * APPEND_CHUNK, "{total} bytes: several chunks");
            let log = Log::open(opts(), &mut |_| Ok(())).expect("open");
            let records: Vec<RecordRef<'_>> = keys
                .iter()
                .zip(&values)
                .map(|(k, v)| RecordRef::put(k.as_bytes(), v.as_bytes()))
                .collect();
            let (locs, _) = log.append(&records).expect("append");
            let (after, _) = log
                .append(&[RecordRef::put(b"after", b"x")])
                .expect("append after");
            assert!(after[0].offset >= locs[n - 1].offset + u64::from(locs[n - 1].len));
            for i in (0..n).step_by(7) {
                assert_eq!(
                    &log.read_value(locs[i]).expect("read")[..],
                    values[i].as_bytes()
                );
            }
            drop(log);
            let mut seen = 0usize;
            Log::open(opts(), &mut |e| {
                if seen < n {
                    assert_eq!(e.key, keys[seen].as_bytes());
                    assert_eq!(
                        e.value.map(<[u8]>::to_vec),
                        Some(values[seen].clone().into_bytes())
                    );
                } else {
                    assert_eq!(e.key, b"after");
                }
                seen += 1;
                Ok(())
            })
            .expect("reopen");
            assert_eq!(seen, n + 1);
        }
    }

    /// Small appends through the memory map across several mapping
    /// windows (1 MiB each) of one 8 MiB file: every record reads back
    /// before and after a reopen, none straddling a window is torn.
    #[test]
    fn mapped_appends_cross_windows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = || {
            Options::new(dir.path())
                .with_fsync(FsyncPolicy::No)
                .with_max_file_size(8 << 20)
        };
        let value = |i: u32| format!("{i:>7}").repeat(1 + (i % 37) as usize);
        let n = 30_000u32;
        let mut locs = Vec::new();
        {
            let log = Log::open(opts(), &mut |_| Ok(())).expect("open");
            for i in 0..n {
                let (l, _) = log
                    .append(&[RecordRef::put(
                        format!("k{i}").as_bytes(),
                        value(i).as_bytes(),
                    )])
                    .expect("append");
                locs.push(l[0]);
            }
            assert_eq!(log.stats().files, 1, "one file, several windows");
            assert!(locs[n as usize - 1].offset > 3 << 20);
            for i in (0..n).step_by(997) {
                assert_eq!(
                    &log.read_value(locs[i as usize]).expect("read")[..],
                    value(i).as_bytes()
                );
            }
        }
        let mut seen = 0u32;
        let log = Log::open(opts(), &mut |e| {
            assert_eq!(e.key, format!("k{seen}").as_bytes());
            assert_eq!(e.value.map(|v| v.to_vec()), Some(value(seen).into_bytes()));
            seen += 1;
            Ok(())
        })
        .expect("reopen");
        assert_eq!(seen, n);
        assert_eq!(
            &log.read_value(locs[12_345]).expect("read")[..],
            value(12_345).as_bytes()
        );
    }

    #[test]
    fn batch_is_all_or_nothing_after_a_torn_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path;
        let good_len;
        {
            let (log, _) = open(dir.path(), FsyncPolicy::Always).expect("open");
            let (_, c) = log
                .append(&[RecordRef::put(b"solo", b"1")])
                .expect("append");
            c.wait().expect("commit");
            good_len = log.stats().disk_bytes;
            let (locs, c) = log
                .append(&[
                    RecordRef::put(b"a", b"1"),
                    RecordRef::put(b"b", b"2"),
                    RecordRef::delete(b"solo"),
                ])
                .expect("batch");
            c.wait().expect("commit");
            assert_eq!(locs.len(), 3);
            path = segment::file_path(dir.path(), locs[0].file_id, DATA_SUFFIX);
        }
        let full = std::fs::read(&path).expect("read");
        // Every cut inside the batch hides the whole batch.
        for cut in good_len..full.len() as u64 {
            std::fs::write(&path, &full[..cut as usize]).expect("cut");
            let (_, seen) = open(dir.path(), FsyncPolicy::No).expect("reopen");
            assert_eq!(seen.len(), 1, "cut at {cut}");
            assert_eq!(seen[0].1, b"solo");
            assert_eq!(std::fs::metadata(&path).expect("stat").len(), good_len);
        }
        std::fs::write(&path, &full).expect("restore");
        let (_, seen) = open(dir.path(), FsyncPolicy::No).expect("reopen");
        assert_eq!(seen.len(), 4, "the whole batch is visible");
    }

    #[test]
    fn committed_batch_replays_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (log, _) = open(dir.path(), FsyncPolicy::No).expect("open");
            let (_, c) = log
                .append(&[RecordRef::put(b"a", b"1"), RecordRef::put(b"b", b"2")])
                .expect("batch");
            c.wait().expect("commit");
        }
        let (_, seen) = open(dir.path(), FsyncPolicy::No).expect("reopen");
        let keys: Vec<_> = seen.iter().map(|s| s.1.clone()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn bad_crc_in_an_old_file_is_corruption_naming_file_and_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first;
        {
            let (log, _) = open(dir.path(), FsyncPolicy::No).expect("open");
            let (l, c) = log
                .append(&[RecordRef::put(b"k", &[7u8; 3000])])
                .expect("append");
            c.wait().expect("commit");
            first = l[0];
            let (_, c) = log
                .append(&[RecordRef::put(b"k2", &[8u8; 3000])])
                .expect("append");
            c.wait().expect("commit");
            assert_eq!(log.stats().files, 2);
        }
        let path = segment::file_path(dir.path(), first.file_id, DATA_SUFFIX);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[first.offset as usize + 100] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        match open(dir.path(), FsyncPolicy::No) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, path);
                assert_eq!(offset, first.offset);
            }
            other => panic!("expected corruption, got {:?}", other.map(|_| ())),
        }
        let msg = open(dir.path(), FsyncPolicy::No)
            .map(|_| ())
            .expect_err("corrupt")
            .to_string();
        assert!(msg.contains("repair"), "{msg}");
    }

    #[test]
    fn everysecs_timer_stands_down_and_resumes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = open(dir.path(), FsyncPolicy::EverySec).expect("open");
        log.set_timer_sync(false);
        let base = log.stats().fsyncs;
        let (_, c) = log.append(&[RecordRef::put(b"k", b"v")]).expect("append");
        c.wait().expect("commit");
        std::thread::sleep(Duration::from_millis(2_300));
        assert_eq!(
            log.stats().fsyncs,
            base,
            "the timer fsynced while stood down"
        );
        log.set_timer_sync(true);
        let (_, c) = log.append(&[RecordRef::put(b"k", b"v2")]).expect("append");
        c.wait().expect("commit");
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while log.stats().fsyncs == base {
            assert!(std::time::Instant::now() < until, "the timer never resumed");
            std::thread::sleep(Duration::from_millis(50));
        }
        // An explicit sync works whatever the timer does.
        log.set_timer_sync(false);
        let before = log.stats().fsyncs;
        let (_, c) = log.append(&[RecordRef::put(b"k", b"v3")]).expect("append");
        c.wait().expect("commit");
        log.sync().expect("sync");
        assert_eq!(log.stats().fsyncs, before + 1);
    }

    #[test]
    fn torn_tail_is_truncated_and_appends_continue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loc;
        {
            let (log, _) = open(dir.path(), FsyncPolicy::No).expect("open");
            let (l, c) = log.append(&[RecordRef::put(b"k", b"v")]).expect("append");
            c.wait().expect("commit");
            loc = l[0];
        }
        let path = segment::file_path(dir.path(), loc.file_id, DATA_SUFFIX);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut f, &[1, 2, 3, 4, 5, 0, 0]).expect("garbage");
        drop(f);
        {
            let (log, seen) = open(dir.path(), FsyncPolicy::No).expect("reopen");
            assert_eq!(seen.len(), 1);
            let (_, c) = log.append(&[RecordRef::put(b"k2", b"v2")]).expect("append");
            c.wait().expect("commit");
        }
        let (_, seen) = open(dir.path(), FsyncPolicy::No).expect("reopen");
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn second_open_is_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_log, _) = open(dir.path(), FsyncPolicy::No).expect("open");
        assert!(matches!(
            open(dir.path(), FsyncPolicy::No),
            Err(Error::Locked { .. })
        ));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log =
            Log::open(Options::new(dir.path()).with_limits(8, 16), &mut |_| Ok(())).expect("open");
        assert!(matches!(
            log.append(&[RecordRef::put(b"", b"v")]),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            log.append(&[RecordRef::put(b"123456789", b"v")]),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            log.append(&[RecordRef::put(b"k", &[0; 17])]),
            Err(Error::InvalidArgument(_))
        ));
        let bogus = Location {
            file_id: 999,
            offset: 8,
            len: 40,
        };
        assert!(matches!(
            log.read_value(bogus),
            Err(Error::StaleLocation(_))
        ));
        let file = dir.path().join("plainfile");
        std::fs::write(&file, b"x").expect("write");
        assert!(matches!(
            Log::open(Options::new(&file), &mut |_| Ok(())),
            Err(Error::NotAStore { .. })
        ));
        let other = tempfile::tempdir().expect("tempdir");
        std::fs::write(other.path().join("notes.txt"), b"x").expect("write");
        assert!(matches!(
            Log::open(Options::new(other.path()), &mut |_| Ok(())),
            Err(Error::NotAStore { .. })
        ));
    }

    #[test]
    fn always_commits_are_durable_and_shared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = open(dir.path(), FsyncPolicy::Always).expect("open");
        std::thread::scope(|s| {
            for t in 0..4 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..50 {
                        let k = format!("{t}-{i}");
                        let (_, c) = log
                            .append(&[RecordRef::put(k.as_bytes(), b"v")])
                            .expect("append");
                        assert!(!c.is_done() || c.is_done());
                        c.wait().expect("commit");
                    }
                });
            }
        });
        let (_, c) = log
            .append(&[RecordRef::put(b"last", b"v")])
            .expect("append");
        assert!(!c.is_done(), "not fsynced yet");
        c.wait().expect("wait");
        log.sync().expect("sync");
    }

    #[test]
    fn poisoned_writer_refuses_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = open(dir.path(), FsyncPolicy::Always).expect("open");
        log.inner.poison("simulated fsync failure".into());
        assert!(matches!(
            log.append(&[RecordRef::put(b"k", b"v")]),
            Err(Error::Poisoned(_))
        ));
        assert!(matches!(log.sync(), Err(Error::Poisoned(_))));
    }

    #[test]
    fn dead_bytes_drive_needs_merge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::open(
            Options::new(dir.path()).with_merge_trigger(0.5, 100),
            &mut |_| Ok(()),
        )
        .expect("open");
        let (l, c) = log
            .append(&[RecordRef::put(b"k", &[0; 500])])
            .expect("append");
        c.wait().expect("commit");
        assert!(!log.needs_merge());
        log.mark_dead(l[0]);
        assert!(log.needs_merge());
        let s = log.stats();
        assert_eq!(s.dead_bytes, u64::from(l[0].len));
        assert_eq!(s.live_bytes + s.dead_bytes, s.disk_bytes);
    }
}
