//! The raft log: its own segment files, one CRC per entry, fsynced before
//! `LogFlushed` is signalled (one write and one fsync per append call; the
//! proposer groups client writes into batch entries, so one fsync covers
//! many writes; a failed fsync poisons the log) except the leader's own
//! entries, acknowledged once written and fsynced by a flusher thread
//! (see [`Durable`] for why that stays safe); the
//! vote and the purge point in a small metadata file replaced atomically.
//!
//! ```text
//! <dir>/meta.json            {"vote":..,"last_purged":..}  (tmp + fsync + rename)
//! <dir>/<first index:020>.rlog  segment: header then frames
//!
//! segment header:  b"FKRL" | version u8 (=3; 2 = bincode before packed
//!                  batches, 1 = JSON payloads: both still read, never
//!                  appended to: appends start a new segment)
//! frame:
//! +-----------+-----------+-------------------------------+
//! | crc32 u32 | len u32   | payload: bincode of the Entry  |
//! | LE, over  | LE        | len bytes                      |
//! | len+payld |           |                                |
//! +-----------+-----------+-------------------------------+
//! ```
//!
//! A new segment is preallocated (`fallocate`, SEGMENT_BYTES of zeros) so
//! that an append's fdatasync has no file size to commit, and zeros are
//! written ahead of the frames ([`ZERO_CHUNK`] at a time) so that it has no
//! extent to convert either; a segment is cut to its frames when the next
//! one starts. Recovery reads the segments in
//! numeric order; zeros after the last frame of the last segment are that
//! room. A torn or corrupt frame at
//! the end of the last segment is cut (what a crash leaves); anywhere else
//! it is an error naming the file and offset. Entries are also kept in
//! memory (a `BTreeMap` from index to entry) for reads: the log is bounded
//! by snapshots and purge.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bincode::Options;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogId, RaftLogReader, Vote};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{blocking, inline, Entry, LogId, StorageError, TypeConfig};

const MAGIC: &[u8; 4] = b"FKRL";
/// Segment format written now: frame payloads are bincode, batches in
/// their packed form ([`super::packed`]).
const VERSION: u8 = 3;
/// Bincode payloads written before [`Request::Packed`](super::Request)
/// (the same decoder reads them); appends start a new segment.
const VERSION_BINCODE: u8 = 2;
/// The first format (JSON payloads): still read; appends start a new
/// segment.
const VERSION_JSON: u8 = 1;
const HEADER_LEN: u64 = 5;
/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Zeros written ahead of the frames at a time (see [`Inner::zero_ahead`]).
pub(crate) const ZERO_CHUNK: u64 = 1 << 20;
/// Refuse frames larger than this at recovery (a corrupt length).
const MAX_FRAME: u32 = 512 << 20;

/// The persisted vote and purge point.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Meta {
    vote: Option<Vote<u64>>,
    last_purged: Option<LogId>,
}

/// One segment file.
#[derive(Debug)]
struct Segment {
    first_index: u64,
    path: PathBuf,
    /// Bytes written (header included).
    len: u64,
}

/// Everything behind the lock. Appends, truncation and purge hold it while
/// they write, so readers see a consistent log.
#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    meta: Meta,
    /// Live entries (index > last_purged) and where each frame starts.
    entries: BTreeMap<u64, (Entry, u64)>,
    /// Segments in index order; the last is the active one.
    segments: Vec<Segment>,
    /// The active segment, open for append (shared with the append that
    /// fsyncs it outside the lock).
    active: Option<Arc<File>>,
    /// The active segment holds written bytes (frames, then zeros) up to
    /// here (see [`Inner::zero_ahead`]).
    zeroed_to: u64,
    /// The frames of an append are encoded here (kept between appends up
    /// to [`KEEP_FRAME_BUF`]: a batch entry of a few hundred writes grew a
    /// fresh vector by doubling, 2 % of a leader's CPU).
    frame_buf: Vec<u8>,
}

/// Largest frame buffer the log keeps between appends.
const KEEP_FRAME_BUF: usize = 1 << 20;

/// The raft log store (and, cloned, its reader). Cheap to clone: all clones
/// share one `Arc<Mutex<..>>` (openraft owns the store, readers run in the
/// replication tasks).
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    /// Set when an fsync failed: nothing is acknowledged after that.
    poisoned: Arc<std::sync::atomic::AtomicBool>,
    /// How far the log is known to be on disk (see [`Durable`]).
    durable: Durable,
    /// The leader's appends of its own entries: written here, fsynced by
    /// the flusher thread (see [`LogStore::flush_own_entries_behind`]).
    early: Option<Arc<Early>>,
}

/// The leader's parallel fsync: who "we" are, the flusher thread's queue,
/// and the highest index handed to it.
#[derive(Debug)]
struct Early {
    me: u64,
    queue: std::sync::mpsc::Sender<(Arc<File>, LogId)>,
    submitted: std::sync::atomic::AtomicU64,
}

/// How far the raft log is known to be fsynced: the log id of the last
/// durable entry (every entry up to it is on disk), or a failed fsync.
///
/// The leader acknowledges its own appends to openraft as soon as they are
/// written (the Raft thesis, section 10.2.1: the leader writes its log in
/// parallel with replicating it), so openraft may count the leader in a
/// quorum before its fsync ends. Two gates keep every *observable* commit
/// on a majority of disks, as plain Raft does: the state machine applies an
/// entry only once this watermark covers it (so no client reply and no
/// read sees it before the leader's own fsync, and a follower's fsync came
/// before the commit), and the commit index sent to followers is cut to
/// this watermark (so no follower applies what only one disk holds).
#[derive(Debug, Clone)]
pub struct Durable {
    tx: Arc<tokio::sync::watch::Sender<(Option<LogId>, bool)>>,
    /// The highest commit index that was cut to the watermark on its way
    /// to a follower and not yet covered by it (0: none): once covered,
    /// the node sends a heartbeat so that followers apply without waiting
    /// for the next one (see `node.rs`).
    cut: Arc<std::sync::atomic::AtomicU64>,
}

impl Durable {
    pub(crate) fn new(upto: Option<LogId>) -> Durable {
        Durable {
            tx: Arc::new(tokio::sync::watch::channel((upto, false)).0),
            cut: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// The commit index sent to followers: `committed` cut to the
    /// watermark (a follower applies up to what it is told, so only what
    /// the leader's own disk holds too); a cut is remembered for
    /// [`Durable::cut_watch`].
    pub fn commit_for_followers(&self, committed: Option<LogId>) -> Option<LogId> {
        let upto = self.upto();
        let sent = commit_for_followers(committed, upto);
        if let Some(c) = committed.filter(|_| sent != committed) {
            self.cut
                .fetch_max(c.index, std::sync::atomic::Ordering::AcqRel);
        }
        sent
    }

    /// Watches for cut commit indexes becoming covered (without keeping
    /// the watermark alive: it ends with the log).
    pub fn cut_watch(&self) -> CutWatch {
        CutWatch {
            rx: self.tx.subscribe(),
            cut: self.cut.clone(),
        }
    }

    /// The last entry known to be on disk.
    pub fn upto(&self) -> Option<LogId> {
        self.tx.borrow().0
    }

    /// Waits until every entry up to `index` is on disk; an error once an
    /// fsync failed.
    pub async fn wait_for(&self, index: u64) -> io::Result<()> {
        let mut rx = self.tx.subscribe();
        let state = rx
            .wait_for(|(upto, failed)| *failed || upto.is_some_and(|l| l.index >= index))
            .await
            .map_err(|_| io::Error::other("raft log closed"))?;
        if state.1 {
            return Err(io::Error::other("raft log poisoned by a failed fsync"));
        }
        Ok(())
    }

    pub(crate) fn advance(&self, to: LogId) {
        self.tx.send_if_modified(|(upto, _)| {
            let later = upto.map_or(true, |u| u.index < to.index);
            if later {
                *upto = Some(to);
            }
            later
        });
    }

    /// After a truncation: nothing past `last` exists any more.
    fn truncated_to(&self, last: Option<LogId>) {
        self.tx.send_if_modified(|(upto, _)| {
            let past = upto.map(|u| u.index) > last.map(|l| l.index);
            if past {
                *upto = last;
            }
            past
        });
    }

    fn fail(&self) {
        self.tx.send_modify(|(_, failed)| *failed = true);
    }
}

/// The commit index to send: `committed`, or the watermark `durable`
/// when that is lower.
pub(crate) fn commit_for_followers(
    committed: Option<LogId>,
    durable: Option<LogId>,
) -> Option<LogId> {
    if committed.map(|c| c.index) > durable.map(|d| d.index) {
        durable
    } else {
        committed
    }
}

/// See [`Durable::cut_watch`].
#[derive(Debug)]
pub struct CutWatch {
    rx: tokio::sync::watch::Receiver<(Option<LogId>, bool)>,
    cut: Arc<std::sync::atomic::AtomicU64>,
}

impl CutWatch {
    /// Waits until the watermark covers a commit index that was cut on
    /// its way to followers (true, once per cut); false once the log is
    /// gone.
    pub async fn next_covered(&mut self) -> bool {
        use std::sync::atomic::Ordering;
        loop {
            if self.rx.changed().await.is_err() {
                return false;
            }
            let upto = self.rx.borrow_and_update().0.map_or(0, |l| l.index);
            let cut = self.cut.load(Ordering::Acquire);
            if cut > 0
                && upto >= cut
                && self
                    .cut
                    .compare_exchange(cut, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return true;
            }
        }
    }
}

/// The flusher thread: fsyncs the leader's early-acknowledged appends, as
/// many as are queued at once (group commit), then advances the watermark.
/// Only the newest append's file needs the fsync: a segment is sealed
/// (fsynced) before the next one takes appends.
fn flusher(
    rx: std::sync::mpsc::Receiver<(Arc<File>, LogId)>,
    durable: Durable,
    poisoned: Arc<std::sync::atomic::AtomicBool>,
) {
    while let Ok(mut newest) = rx.recv() {
        if let Some(later) = rx.try_iter().last() {
            newest = later;
        }
        let (file, last) = newest;
        match file.sync_data() {
            Ok(()) => durable.advance(last),
            Err(e) => {
                tracing::error!(error = %e, "raft log: fsync failed; the log refuses every write from now on");
                poisoned.store(true, std::sync::atomic::Ordering::Release);
                durable.fail();
                return;
            }
        }
    }
}

fn io_err(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError {
    StorageError::from(openraft::StorageIOError::new(
        subject,
        verb,
        openraft::AnyError::new(&e),
    ))
}

fn logs_err(verb: ErrorVerb, e: io::Error) -> StorageError {
    io_err(ErrorSubject::Logs, verb, e)
}

fn corrupt(path: &Path, offset: u64, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("raft log {} offset {offset}: {why}", path.display()),
    )
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_path(dir: &Path, first_index: u64) -> PathBuf {
    dir.join(format!("{first_index:020}.rlog"))
}

/// Encodes one frame.
/// The bincode options of the log's frames (varint integers, no trailing
/// bytes, bounded by the frame limit).
fn log_codec() -> impl bincode::Options {
    bincode::DefaultOptions::new().with_limit(u64::from(MAX_FRAME))
}

/// The format version in a segment's header (0 if unreadable).
fn segment_version(path: &Path) -> u8 {
    let mut head = [0u8; HEADER_LEN as usize];
    match File::open(path).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) => head[4],
        Err(_) => 0,
    }
}

fn encode_frame(entry: &Entry, out: &mut Vec<u8>) -> io::Result<()> {
    // The payload is encoded in place after room for its header.
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    if let Err(e) = log_codec().serialize_into(&mut *out, entry) {
        out.truncate(start);
        return Err(io::Error::other(e));
    }
    let Ok(len) = u32::try_from(out.len() - start - 8) else {
        out.truncate(start);
        return Err(io::Error::other("raft entry too large"));
    };
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// What follows the last valid frame of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Nothing: the file ends there.
    Clean,
    /// Only zero bytes: preallocated room never written (the active
    /// segment).
    Zeros,
    /// Bytes that are not a valid frame (a torn write, or damage).
    Torn,
}

/// Entries with their frame offsets, where valid data ends, what follows.
type Frames = (Vec<(Entry, u64)>, u64, Tail);

/// Where the valid frames of a segment file end (tests: the file may be
/// longer, preallocated).
#[cfg(test)]
pub(crate) fn valid_end(path: &Path) -> io::Result<u64> {
    let bytes = fs::read(path)?;
    decode_frames(path, &bytes).map(|(_, end, _)| end)
}

impl LogStore {
    /// Where the written zeros ahead of the active segment's frames end
    /// (tests).
    #[cfg(test)]
    pub(crate) fn zeroed_to(&self) -> u64 {
        self.inner.lock().zeroed_to
    }
}

/// Whether `rest` holds only zero bytes.
fn is_zero_tail(rest: &[u8]) -> bool {
    rest.iter().all(|b| *b == 0)
}

/// Extends a new segment to `len` bytes of allocated zeros, when the file
/// system can: an fdatasync after an append into allocated space has no
/// file size to commit, which halves its latency on ext4 (0.15 -> 0.10 ms
/// here). Recovery reads the zero tail as the end of the log.
fn preallocate(f: &File, len: u64) {
    #[cfg(target_os = "linux")]
    {
        // A failure (file system without support) only costs speed.
        let _ = rustix::fs::fallocate(f, rustix::fs::FallocateFlags::empty(), 0, len);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (f, len);
}

/// Decodes the frames of one segment file's bytes. Returns the entries with
/// their offsets and the offset where valid data ends, plus whether the rest
/// was invalid.
fn decode_frames(path: &Path, bytes: &[u8]) -> io::Result<Frames> {
    if bytes.len() < HEADER_LEN as usize || &bytes[..4] != MAGIC {
        return Err(corrupt(path, 0, "bad segment header"));
    }
    let version = bytes[4];
    if ![VERSION, VERSION_BINCODE, VERSION_JSON].contains(&version) {
        return Err(corrupt(path, 4, "unknown segment version"));
    }
    let mut out = Vec::new();
    let mut pos = HEADER_LEN as usize;
    while pos < bytes.len() {
        if is_zero_tail(&bytes[pos..]) {
            // Preallocated room, never written.
            return Ok((out, pos as u64, Tail::Zeros));
        }
        let Some(head) = bytes.get(pos..pos + 8) else {
            return Ok((out, pos as u64, Tail::Torn));
        };
        let crc = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_FRAME {
            return Ok((out, pos as u64, Tail::Torn));
        }
        let Some(payload) = bytes.get(pos + 8..pos + 8 + len as usize) else {
            return Ok((out, pos as u64, Tail::Torn));
        };
        let mut h = crc32fast::Hasher::new();
        h.update(&head[4..8]);
        h.update(payload);
        if h.finalize() != crc {
            return Ok((out, pos as u64, Tail::Torn));
        }
        let entry: Result<Entry, String> = if version == VERSION_JSON {
            serde_json::from_slice(payload).map_err(|e| e.to_string())
        } else {
            log_codec().deserialize(payload).map_err(|e| e.to_string())
        };
        let entry = entry.map_err(|e| corrupt(path, pos as u64, &format!("bad entry: {e}")))?;
        out.push((entry, pos as u64));
        pos += 8 + len as usize;
    }
    Ok((out, pos as u64, Tail::Clean))
}

impl Inner {
    fn write_meta(&self) -> io::Result<()> {
        let tmp = self.dir.join("meta.json.tmp");
        let bytes = serde_json::to_vec(&self.meta).map_err(io::Error::other)?;
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join("meta.json"))?;
        sync_dir(&self.dir)
    }

    fn new_segment(&mut self, first_index: u64) -> io::Result<()> {
        // Seal the active segment first: cut its preallocated room, so
        // that only the last segment may end in zeros.
        if let (Some(f), Some(seg)) = (self.active.take(), self.segments.last()) {
            f.set_len(seg.len)?;
            f.sync_all()?;
        }
        let path = segment_path(&self.dir, first_index);
        // An emptied old-format segment with this name is replaced.
        if self.segments.last().is_some_and(|s| s.path == path) {
            self.segments.pop();
        }
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        f.write_all(MAGIC)?;
        f.write_all(&[VERSION])?;
        preallocate(&f, SEGMENT_BYTES);
        f.sync_all()?;
        sync_dir(&self.dir)?;
        self.segments.push(Segment {
            first_index,
            path,
            len: HEADER_LEN,
        });
        self.active = Some(Arc::new(f));
        self.zeroed_to = HEADER_LEN;
        Ok(())
    }

    /// Writes zeros past `end` (where the frames being appended will end)
    /// when fewer than half a [`ZERO_CHUNK`] of them are left: the next
    /// fdatasync then covers one chunk of zeros and later appends only
    /// overwrite written blocks. `fallocate`'s room reads as zeros but is
    /// unwritten: the first write into it makes ext4 convert the extent,
    /// a journal commit inside that fdatasync, which waits for whatever
    /// else the file system has to commit (the data files' writeback, the
    /// other members' logs on a shared disk). Three members on one disk
    /// (session 39, redis-benchmark -c 50, three alternated pairs): SET
    /// -P 16 338-373k/s against 286-297k with `fallocate` alone, -P 1
    /// 48-65k against 40-52k.
    fn zero_ahead(&mut self, f: &File, end: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        if end + ZERO_CHUNK / 2 <= self.zeroed_to {
            return Ok(());
        }
        let mut at = self.zeroed_to.max(end);
        let to = at + ZERO_CHUNK;
        while at < to {
            std::os::unix::fs::FileExt::write_all_at(f, &ZEROS, at)?;
            at += ZEROS.len() as u64;
        }
        self.zeroed_to = to;
        Ok(())
    }

    fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .values()
            .next_back()
            .map(|(e, _)| *e.get_log_id())
            .or(self.meta.last_purged)
    }

    /// Writes entries (not yet fsynced); returns the file to fsync.
    fn append(&mut self, entries: Vec<Entry>) -> io::Result<Option<Arc<File>>> {
        let Some(first) = entries.first() else {
            return Ok(None);
        };
        let first_index = first.get_log_id().index;
        let full = self
            .segments
            .last()
            .map_or(true, |s| s.len >= SEGMENT_BYTES);
        if full || self.active.is_none() {
            self.new_segment(first_index)?;
        }
        let mut buf = std::mem::take(&mut self.frame_buf);
        buf.clear();
        let mut offsets = Vec::with_capacity(entries.len());
        let base = self.segments.last().map_or(HEADER_LEN, |s| s.len);
        for e in &entries {
            offsets.push(base + buf.len() as u64);
            encode_frame(e, &mut buf)?;
        }
        let f = self
            .active
            .clone()
            .ok_or_else(|| io::Error::other("no active raft segment"))?;
        self.zero_ahead(&f, base + buf.len() as u64)?;
        // One positioned write (no seek: a syscall less per entry).
        std::os::unix::fs::FileExt::write_all_at(&*f, &buf, base)?;
        if let Some(seg) = self.segments.last_mut() {
            seg.len = base + buf.len() as u64;
        }
        if buf.capacity() <= KEEP_FRAME_BUF {
            self.frame_buf = buf;
        }
        for (e, off) in entries.into_iter().zip(offsets) {
            self.entries.insert(e.get_log_id().index, (e, off));
        }
        Ok(Some(f))
    }

    /// Removes entries with index >= `index`.
    fn truncate(&mut self, index: u64) -> io::Result<()> {
        let Some((first_gone, offset)) = self.entries.range(index..).next().map(|(k, v)| (*k, v.1))
        else {
            return Ok(());
        };
        // Drop whole segments that start at or after the first removed entry.
        while self.segments.len() > 1
            && self
                .segments
                .last()
                .is_some_and(|s| s.first_index >= first_gone)
        {
            if let Some(seg) = self.segments.pop() {
                fs::remove_file(&seg.path)?;
            }
        }
        let seg_first = self.segments.last().map_or(0, |s| s.first_index);
        if seg_first >= first_gone {
            // The only segment left starts at the cut: empty it.
            if let Some(seg) = self.segments.last_mut() {
                let f = OpenOptions::new().write(true).open(&seg.path)?;
                f.set_len(HEADER_LEN)?;
                f.sync_all()?;
                seg.len = HEADER_LEN;
            }
        } else if let Some(seg) = self.segments.last_mut() {
            let f = OpenOptions::new().write(true).open(&seg.path)?;
            f.set_len(offset)?;
            f.sync_all()?;
            seg.len = offset;
        }
        sync_dir(&self.dir)?;
        self.active = match self
            .segments
            .last()
            .filter(|s| segment_version(&s.path) == VERSION)
        {
            Some(seg) => Some(Arc::new(
                OpenOptions::new().read(true).write(true).open(&seg.path)?,
            )),
            None => None,
        };
        // The cut took the zeros written ahead with it.
        self.zeroed_to = self.segments.last().map_or(HEADER_LEN, |seg| seg.len);
        let _ = self.entries.split_off(&index);
        Ok(())
    }

    /// Forgets entries up to and including `log_id`; returns what the
    /// caller should free and delete off the lock: the purged entries and
    /// the segment files that hold nothing else.
    fn purge(&mut self, log_id: LogId) -> io::Result<Purged> {
        self.meta.last_purged = Some(log_id);
        self.write_meta()?;
        let keep = self.entries.split_off(&(log_id.index + 1));
        let entries = std::mem::replace(&mut self.entries, keep);
        // A segment can go when the next one starts at or before the first
        // entry still needed.
        let mut files = Vec::new();
        while self.segments.len() > 1 && self.segments[1].first_index <= log_id.index + 1 {
            files.push(self.segments.remove(0).path);
        }
        Ok(Purged { entries, files })
    }
}

/// What a purge leaves to free and delete.
struct Purged {
    entries: BTreeMap<u64, (Entry, u64)>,
    files: Vec<PathBuf>,
}

impl LogStore {
    /// Opens (creating) the log in `dir` and recovers it.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<LogStore> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let meta: Meta = match fs::read(dir.join("meta.json")) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| corrupt(&dir.join("meta.json"), 0, &e.to_string()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(e),
        };
        let mut firsts: Vec<u64> = Vec::new();
        for ent in fs::read_dir(&dir)? {
            let name = ent?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".rlog")
                .and_then(|n| n.parse::<u64>().ok())
            {
                firsts.push(n);
            }
        }
        firsts.sort_unstable();
        let purged = meta.last_purged.map_or(0, |l| l.index + 1);
        let mut inner = Inner {
            dir: dir.clone(),
            meta,
            entries: BTreeMap::new(),
            segments: Vec::new(),
            active: None,
            zeroed_to: 0,
            frame_buf: Vec::new(),
        };
        let count = firsts.len();
        for (i, first) in firsts.into_iter().enumerate() {
            let path = segment_path(&dir, first);
            let mut bytes = Vec::new();
            File::open(&path)?.read_to_end(&mut bytes)?;
            let last = i + 1 == count;
            let (frames, end, tail) = if bytes.len() < HEADER_LEN as usize && last {
                // A crash while creating the segment: start it over.
                (Vec::new(), HEADER_LEN, Tail::Torn)
            } else {
                decode_frames(&path, &bytes)?
            };
            if tail == Tail::Zeros && !last {
                return Err(corrupt(&path, end, "zeros inside a sealed segment"));
            }
            if tail == Tail::Torn {
                if !last {
                    return Err(corrupt(&path, end, "corrupt frame in a sealed segment"));
                }
                tracing::warn!(file = %path.display(), offset = end, "raft log: cutting a torn tail");
                let f = OpenOptions::new().write(true).open(&path)?;
                if bytes.len() < HEADER_LEN as usize {
                    f.set_len(0)?;
                    drop(f);
                    let mut f = OpenOptions::new().write(true).open(&path)?;
                    f.write_all(MAGIC)?;
                    f.write_all(&[VERSION])?;
                    f.sync_all()?;
                } else {
                    f.set_len(end)?;
                    f.sync_all()?;
                }
            }
            for (e, off) in frames {
                let idx = e.get_log_id().index;
                if idx >= purged {
                    inner.entries.insert(idx, (e, off));
                }
            }
            inner.segments.push(Segment {
                first_index: first,
                path,
                len: end,
            });
        }
        if let Some(seg) = inner
            .segments
            .last()
            .filter(|s| segment_version(&s.path) == VERSION)
        {
            inner.active = Some(Arc::new(
                OpenOptions::new().read(true).write(true).open(&seg.path)?,
            ));
            inner.zeroed_to = seg.len;
        }
        // What recovery read is what the watermark starts from: make it
        // durable (a crash of the process leaves written pages in the page
        // cache, not necessarily on disk).
        for seg in &inner.segments {
            File::open(&seg.path)?.sync_all()?;
        }
        let durable = Durable::new(inner.last_log_id());
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
            poisoned: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            durable,
            early: None,
        })
    }

    /// Lets node `me`, while it is the leader, acknowledge its own appends
    /// once written and fsync them on a flusher thread, in parallel with
    /// their replication (see [`Durable`] for what keeps this safe: the
    /// state machine must wait on [`LogStore::durable`] and the commit index
    /// sent to followers must be cut to it).
    pub fn flush_own_entries_behind(mut self, me: u64) -> LogStore {
        let (tx, rx) = std::sync::mpsc::channel();
        let (durable, poisoned) = (self.durable.clone(), self.poisoned.clone());
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flusher(rx, durable, poisoned))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::warn!(error = %e, "no raft log flusher thread; the leader fsyncs inline"));
        self.early = Some(Arc::new(Early {
            me,
            queue: tx,
            submitted: std::sync::atomic::AtomicU64::new(0),
        }));
        self
    }

    /// How far the log is on disk.
    pub fn durable(&self) -> Durable {
        self.durable.clone()
    }

    /// Waits until the flusher has made every early-acknowledged append
    /// durable (before an inline fsync, a truncation), then forgets them:
    /// a truncation may cut the watermark below what was submitted, and
    /// the entries after it are then new ones (a wait for the old index
    /// would never end). Only openraft's core appends and truncates, one
    /// call at a time, so nothing is submitted meanwhile.
    async fn drain(&self) -> Result<(), StorageError> {
        if let Some(early) = &self.early {
            let submitted = early.submitted.load(std::sync::atomic::Ordering::Acquire);
            if submitted > 0 {
                self.durable
                    .wait_for(submitted)
                    .await
                    .map_err(|e| logs_err(ErrorVerb::Write, e))?;
                early
                    .submitted
                    .store(0, std::sync::atomic::Ordering::Release);
            }
        }
        Ok(())
    }

    /// Whether `entries` are this node's own, appended while it leads:
    /// its vote is a committed vote for itself and every entry carries
    /// that leadership.
    fn own_entries(&self, entries: &[Entry]) -> Option<&Early> {
        let early = self.early.as_deref()?;
        let vote = self.inner.lock().meta.vote?;
        let mine = vote.is_committed()
            && vote.leader_id().voted_for() == Some(early.me)
            && entries
                .iter()
                .all(|e| e.get_log_id().leader_id == *vote.leader_id());
        mine.then_some(early)
    }

    /// The id of the last entry (or of the purge point), if any.
    pub fn last_log_id(&self) -> Option<LogId> {
        self.inner.lock().last_log_id()
    }

    /// The index of the last entry (or of the purge point), 0 when empty.
    pub fn last_index(&self) -> u64 {
        self.last_log_id().map_or(0, |l| l.index)
    }

    /// Whether the log has never held an entry nor a vote (a fresh node).
    pub fn is_pristine(&self) -> bool {
        let g = self.inner.lock();
        g.entries.is_empty() && g.meta.last_purged.is_none() && g.meta.vote.is_none()
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let g = self.inner.lock();
        Ok(g.entries
            .range(range)
            .map(|(_, (e, _))| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let g = self.inner.lock();
        Ok(LogState {
            last_purged_log_id: g.meta.last_purged,
            last_log_id: g.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        let old = g.meta.vote.replace(*vote);
        if let Err(e) = blocking(|| g.write_meta()) {
            g.meta.vote = old;
            return Err(io_err(ErrorSubject::Vote, ErrorVerb::Write, e));
        }
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        Ok(self.inner.lock().meta.vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if self.poisoned.load(std::sync::atomic::Ordering::Acquire) {
            let e = io::Error::other("raft log poisoned by an earlier fsync failure");
            return Err(logs_err(ErrorVerb::Write, e));
        }
        let Some(last) = entries.last().map(|e| *e.get_log_id()) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        if let Some(early) = self.own_entries(&entries) {
            // The leader's own entries: written now, acknowledged now (so
            // openraft replicates them at once), fsynced by the flusher.
            let file = inline(|| self.inner.lock().append(entries))
                .map_err(|e| logs_err(ErrorVerb::Write, e))?;
            if let Some(f) = file {
                early
                    .submitted
                    .fetch_max(last.index, std::sync::atomic::Ordering::AcqRel);
                if let Err(std::sync::mpsc::SendError((f, _))) = early.queue.send((f, last)) {
                    // No flusher: fsync here.
                    inline(|| f.sync_data()).map_err(|e| logs_err(ErrorVerb::Write, e))?;
                    self.durable.advance(last);
                }
            }
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        // Entries from a leader (or ours from an older term): durable
        // before they are acknowledged, after whatever the flusher holds.
        self.drain().await?;
        // openraft 0.9 waits for LogFlushed before it runs its next command,
        // so a flusher thread could never group two appends: write and
        // fsync here (the lock is not held during the fsync, so replication
        // tasks keep reading).
        let poisoned = &self.poisoned;
        let res = inline(|| {
            let file = self.inner.lock().append(entries)?;
            if let Some(f) = file {
                if let Err(e) = f.sync_data() {
                    poisoned.store(true, std::sync::atomic::Ordering::Release);
                    return Err(e);
                }
            }
            Ok(())
        });
        match res {
            Ok(()) => {
                self.durable.advance(last);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let text = e.to_string();
                callback.log_io_completed(Err(io::Error::other(text)));
                Err(logs_err(ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.drain().await?;
        let last = blocking(|| {
            let mut g = self.inner.lock();
            g.truncate(log_id.index).map(|()| g.last_log_id())
        })
        .map_err(|e| logs_err(ErrorVerb::Delete, e))?;
        self.durable.truncated_to(last);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let purged = blocking(|| self.inner.lock().purge(log_id))
            .map_err(|e| logs_err(ErrorVerb::Delete, e))?;
        // The purge point is durable (meta.json): the entries are freed
        // and the files deleted now, on their own thread. openraft's core
        // waits for this call: unlinking a GB of segments inline took
        // ~0.7 s, and freeing the entries of 650k SETs ~0.1 s, during
        // which no write was served. A crash before the files are gone
        // leaves files that the open reads past (entries at or below the
        // purge point are skipped) and the next purge deletes.
        std::thread::spawn(move || {
            let Purged { entries, files } = purged;
            drop(entries);
            for path in files {
                if let Err(e) = fs::remove_file(&path) {
                    tracing::warn!(file = %path.display(), error = %e, "raft log: could not delete a purged segment");
                }
            }
        });
        Ok(())
    }
}
