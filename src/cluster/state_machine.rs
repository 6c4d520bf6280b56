//! The keyspace as the raft state machine.
//!
//! `apply` is total: every entry kind gets one [`Response`]. A command entry
//! runs `Keyspace::execute_replicated` with the proposer's `Ctx` (its clock,
//! kept monotonic across entries, and its seed); the metadata (last applied
//! log id, membership, clock) goes into the keyspace's log in the *same*
//! atomic batch as the data, so a restart resumes exactly after the last
//! applied entry.
//!
//! Snapshots are point-in-time copies of the keyspace
//! (`Keyspace::export_into`), installed atomically (`Keyspace::import`).
//! Their data lives in a file, never whole in memory: a build streams the
//! keyspace, key by key under its lock, straight into the file
//! ([`SnapshotWriter`]; the record count is patched in at the end),
//! openraft sends it in chunks read from the file, a receiver writes the
//! chunks into a file, and install reads it back twice (the checksum
//! first, then the records).
//!
//! ```text
//! snapshot data:
//! b"FKSN" | version u8 | meta_len u32 LE | meta JSON (SmMeta) | count u64 LE
//! then per record:
//! | delete u8 | tag u8 | gen u64 | expire_at_ms u64 | key_len u32 | key | val_len u32 | val |
//! then crc32 u32 LE over everything before it.
//!
//! <dir>/snap-<snapshot id>.data   the data of the current snapshot
//! <dir>/snapshot.json             {"meta": SnapshotMeta, "file": its data file}
//!                                 (tmp + fsync + rename, after the data file)
//! <dir>/*.tmp                     a build or a transfer in progress (removed
//!                                 at open, as is any data file the index
//!                                 does not name)
//! ```

use std::fs;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, StoredMembership};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::packed::Decoded;
use super::{
    blocking, inline, Entry, LogId, NodeInfo, Request, Response, StorageError, TypeConfig,
};
use crate::command::{Ctx, Reply};
use crate::keyspace::{DumpRecord, ExportSink, GroupItem, Keyspace};
use crate::storage::{self, RecordKind};

const SNAP_MAGIC: &[u8; 4] = b"FKSN";
const SNAP_VERSION: u8 = 1;

/// Most commands applied as one keyspace batch: a long run of committed
/// entries (a follower catching up) is split at entry boundaries.
const MAX_GROUP_COMMANDS: usize = 4096;

/// Committed entries on their way into one keyspace batch.
#[derive(Default)]
struct Group {
    /// The keyspace work, in log order.
    items: Vec<GroupItem>,
    /// The arguments of the items' spans (`GroupItem::Span`).
    args: Vec<Bytes>,
    /// Commands in `items`.
    commands: usize,
    /// Per entry, where its replies come from.
    entries: Vec<Vec<Part>>,
}

impl Group {
    /// Empties the group, keeping its vectors' room.
    fn clear(&mut self) {
        self.items.clear();
        self.args.clear();
        self.entries.clear();
        self.commands = 0;
    }
}

/// Where one request's replies come from.
enum Part {
    /// The next item of `Group::items`, which gives this many replies.
    Item(usize),
    /// Applied before a restart (old metadata stopped inside the entry):
    /// this many error replies.
    Skipped(usize),
    /// A batch inside a batch (the proposer flattens them; an old log
    /// may hold one): an error reply for each of its writes.
    Nested(usize),
}

/// What the state machine persists with the data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SmMeta {
    /// The last applied log id.
    pub last_applied: Option<LogId>,
    /// The last applied membership.
    pub membership: StoredMembership<u64, NodeInfo>,
    /// The latest proposer clock applied (entries never go back in time).
    pub now_ms: u64,
    /// Inside a batch entry: (its log id, sub-requests already applied).
    #[serde(default)]
    pub partial: Option<(LogId, usize)>,
}

impl SmMeta {
    /// The metadata in the keyspace's newest metadata record (default
    /// when there is none yet).
    fn decode(meta: Option<&Bytes>) -> io::Result<SmMeta> {
        match meta {
            Some(b) => serde_json::from_slice(b).map_err(io::Error::other),
            None => Ok(SmMeta::default()),
        }
    }

    fn encode(&self) -> Result<Bytes, StorageError> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(|e| sm_err(ErrorVerb::Write, io::Error::other(e)))
    }
}

fn sm_err(verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageError::from(openraft::StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        openraft::AnyError::new(&e),
    ))
}

fn snap_err(verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageError::from(openraft::StorageIOError::new(
        ErrorSubject::Snapshot(None),
        verb,
        openraft::AnyError::new(&e),
    ))
}

/// A snapshot file being built, written back to disk every
/// [`PacedFile::EVERY`] bytes (fdatasync): the build then never leaves
/// hundreds of MB of dirty pages for one final fsync to flush, which
/// would queue every raft log fsync on the disk behind it (a 1.2 GB
/// snapshot stalled writes 1.2 s that way).
struct PacedFile {
    file: fs::File,
    unsynced: u64,
}

impl PacedFile {
    const EVERY: u64 = 8 << 20;
}

impl Write for PacedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= Self::EVERY {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for PacedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// Why a snapshot install stopped: the snapshot could not be read (or was
/// damaged), or the keyspace refused to store it.
#[derive(Debug)]
enum InstallError {
    Read(io::Error),
    Import(crate::keyspace::Error),
}

impl From<io::Error> for InstallError {
    fn from(e: io::Error) -> Self {
        InstallError::Read(e)
    }
}

/// A writer that checksums what goes through it.
struct CrcWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// [`SnapshotWriter`] writes its records in pieces of about this size.
const WRITE_PIECE: usize = 1 << 20;

/// Writes snapshot data as the keyspace streams it ([`ExportSink`]): the
/// header when the metadata comes (with a zero record count), each record
/// as it comes, and in [`SnapshotWriter::finish`] the real count over the
/// placeholder and the checksum. The checksum covers the count, which is
/// only known at the end: it is the CRC of the header, of the count and of
/// the records, combined.
pub struct SnapshotWriter<W: Write + Seek> {
    out: CrcWriter<W>,
    /// Records encoded and not yet written (written in big pieces: one
    /// checksum update and one copy per piece, not per field).
    buf: Vec<u8>,
    /// The header's CRC (before the count), once written.
    head: Option<crc32fast::Hasher>,
    /// Where the count goes.
    count_at: u64,
    count: u64,
    /// The metadata the keyspace gave (default when it had none).
    meta: SmMeta,
}

impl<W: Write + Seek> SnapshotWriter<W> {
    /// A writer at the start of `out`.
    pub fn new(out: W) -> SnapshotWriter<W> {
        SnapshotWriter {
            out: CrcWriter {
                inner: out,
                crc: crc32fast::Hasher::new(),
            },
            buf: Vec::with_capacity(WRITE_PIECE + 4096),
            head: None,
            count_at: 0,
            count: 0,
            meta: SmMeta::default(),
        }
    }

    fn header(&mut self, meta: SmMeta) -> io::Result<()> {
        let w = &mut self.out;
        w.write_all(SNAP_MAGIC)?;
        w.write_all(&[SNAP_VERSION])?;
        let m = serde_json::to_vec(&meta).map_err(io::Error::other)?;
        w.write_all(&(m.len() as u32).to_le_bytes())?;
        w.write_all(&m)?;
        self.head = Some(std::mem::replace(&mut w.crc, crc32fast::Hasher::new()));
        self.count_at = w.inner.stream_position()?;
        // Outside the CRC: `finish` accounts for the real count.
        w.inner.write_all(&0u64.to_le_bytes())?;
        self.meta = meta;
        Ok(())
    }

    /// Writes what is buffered, the count and the checksum (the writer
    /// takes nothing more after this).
    pub fn complete(&mut self) -> io::Result<()> {
        if self.head.is_none() {
            self.header(SmMeta::default())?;
        }
        let buf = std::mem::take(&mut self.buf);
        self.out.write_all(&buf)?;
        let count = self.count.to_le_bytes();
        let mut total = self.head.take().unwrap_or_default();
        let mut of_count = crc32fast::Hasher::new();
        of_count.update(&count);
        total.combine(&of_count);
        total.combine(&self.out.crc);
        let inner = &mut self.out.inner;
        inner.write_all(&total.finalize().to_le_bytes())?;
        let end = inner.stream_position()?;
        inner.seek(SeekFrom::Start(self.count_at))?;
        inner.write_all(&count)?;
        inner.seek(SeekFrom::Start(end))?;
        inner.flush()
    }

    /// The output.
    pub fn output(&self) -> &W {
        &self.out.inner
    }

    /// [`SnapshotWriter::complete`]; returns the output and the metadata.
    pub fn finish(mut self) -> io::Result<(W, SmMeta)> {
        self.complete()?;
        Ok((self.out.inner, self.meta))
    }
}

impl<W: Write + Seek> ExportSink for SnapshotWriter<W> {
    type Error = io::Error;

    fn meta(&mut self, meta: Option<&Bytes>) -> io::Result<()> {
        self.header(SmMeta::decode(meta)?)
    }

    fn record(&mut self, r: &storage::RecordRef<'_>) -> io::Result<()> {
        let klen = u32::try_from(r.key.len()).map_err(io::Error::other)?;
        let vlen = u32::try_from(r.value.len()).map_err(io::Error::other)?;
        let b = &mut self.buf;
        b.extend_from_slice(&[u8::from(r.kind == RecordKind::Delete), r.tag]);
        b.extend_from_slice(&r.gen.to_le_bytes());
        b.extend_from_slice(&r.expire_at_ms.to_le_bytes());
        b.extend_from_slice(&klen.to_le_bytes());
        b.extend_from_slice(r.key);
        b.extend_from_slice(&vlen.to_le_bytes());
        b.extend_from_slice(r.value);
        self.count += 1;
        if self.buf.len() >= WRITE_PIECE {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Writes a keyspace copy in the snapshot data format.
pub fn write_snapshot<W: Write + Seek>(
    out: W,
    meta: &SmMeta,
    records: &[DumpRecord],
) -> io::Result<W> {
    let mut w = SnapshotWriter::new(out);
    w.header(meta.clone())?;
    for r in records {
        w.record(&storage::RecordRef {
            kind: r.kind(),
            tag: r.tag,
            gen: r.gen,
            expire_at_ms: r.expire_at_ms,
            key: &r.key,
            value: &r.value,
        })?;
    }
    Ok(w.finish()?.0)
}

/// Encodes a keyspace copy in memory (tests; nodes write files).
pub fn encode_snapshot(meta: &SmMeta, records: &[DumpRecord]) -> io::Result<Vec<u8>> {
    Ok(write_snapshot(io::Cursor::new(Vec::new()), meta, records)?.into_inner())
}

fn bad_snapshot(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad snapshot: {why}"))
}

/// Reads exactly `N` bytes (a short read is a truncated snapshot).
fn array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut a = [0u8; N];
    r.read_exact(&mut a).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => bad_snapshot("truncated"),
        _ => e,
    })?;
    Ok(a)
}

/// Reads `n` bytes without trusting `n`: memory grows only with the bytes
/// actually there.
fn bytes(r: &mut impl Read, n: u32) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.take(u64::from(n)).read_to_end(&mut v)?;
    if v.len() != n as usize {
        return Err(bad_snapshot("truncated"));
    }
    Ok(v)
}

/// Parses snapshot data without its checksum (already verified), handing
/// each record to `each` as it is read.
fn parse_snapshot<E: From<io::Error>>(
    mut r: impl Read,
    mut each: impl FnMut(DumpRecord) -> Result<(), E>,
) -> Result<SmMeta, E> {
    if &array::<4>(&mut r)? != SNAP_MAGIC || array::<1>(&mut r)?[0] != SNAP_VERSION {
        return Err(bad_snapshot("bad header").into());
    }
    let mlen = u32::from_le_bytes(array(&mut r)?);
    let meta: SmMeta = serde_json::from_slice(&bytes(&mut r, mlen)?).map_err(io::Error::other)?;
    let count = u64::from_le_bytes(array(&mut r)?);
    for _ in 0..count {
        let [delete, tag] = array(&mut r)?;
        let gen = u64::from_le_bytes(array(&mut r)?);
        let expire_at_ms = u64::from_le_bytes(array(&mut r)?);
        let klen = u32::from_le_bytes(array(&mut r)?);
        let key = bytes(&mut r, klen)?;
        let vlen = u32::from_le_bytes(array(&mut r)?);
        let value = Bytes::from(bytes(&mut r, vlen)?);
        each(DumpRecord {
            delete: delete != 0,
            tag,
            gen,
            expire_at_ms,
            key,
            value,
        })?;
    }
    if r.read(&mut [0u8; 1])? != 0 {
        return Err(bad_snapshot("trailing bytes").into());
    }
    Ok(meta)
}

/// Decodes [`encode_snapshot`]'s output (tests; nodes stream files).
pub fn decode_snapshot(data: &[u8]) -> io::Result<(SmMeta, Vec<DumpRecord>)> {
    let mut records = Vec::new();
    let meta = read_snapshot(&mut io::Cursor::new(data), |r| -> io::Result<()> {
        records.push(r);
        Ok(())
    })?;
    Ok((meta, records))
}

/// Reads snapshot data (a file, or bytes in memory): the checksum over
/// the whole of it first, then the records one by one into `each` (nothing
/// is handed on from damaged data; a record that `each` refuses stops the
/// read with its error).
fn read_snapshot<E: From<io::Error>>(
    f: &mut (impl Read + Seek),
    each: impl FnMut(DumpRecord) -> Result<(), E>,
) -> Result<SmMeta, E> {
    let len = f.seek(SeekFrom::End(0))?;
    if len < 9 {
        return Err(bad_snapshot("too short").into());
    }
    f.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::with_capacity(1 << 20, &mut *f);
    let mut check = CrcWriter {
        inner: io::sink(),
        crc: crc32fast::Hasher::new(),
    };
    io::copy(&mut (&mut r).take(len - 4), &mut check)?;
    if check.crc.finalize().to_le_bytes() != array::<4>(&mut r)? {
        return Err(bad_snapshot("checksum mismatch").into());
    }
    drop(r);
    f.seek(SeekFrom::Start(0))?;
    parse_snapshot(
        BufReader::with_capacity(1 << 20, (&mut *f).take(len - 4)),
        each,
    )
}

/// The current snapshot: its meta and the name of its data file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, NodeInfo>,
    file: String,
}

const SNAPSHOT_INDEX: &str = "snapshot.json";

/// The data file name of a snapshot (ids come from the leader: only safe
/// characters reach the file system).
fn data_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    format!("snap-{safe}.data")
}

/// A fresh temporary file name in `dir`.
fn tmp_path(dir: &Path, what: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{what}-{}-{n}.tmp", std::process::id()))
}

/// Makes the data in `tmp` (complete and fsynced) the current snapshot:
/// the data file first, then the index naming it, then the old data file
/// goes. All under the `current` lock, so a build and an install finishing
/// together do not interleave; a snapshot older than the current one (a
/// build that started before an install) is dropped instead.
fn publish(
    dir: &Path,
    current: &Mutex<Option<StoredSnapshot>>,
    meta: SnapshotMeta<u64, NodeInfo>,
    tmp: &Path,
) -> io::Result<()> {
    let mut cur = current.lock();
    if cur
        .as_ref()
        .is_some_and(|c| c.meta.last_log_id > meta.last_log_id)
    {
        return fs::remove_file(tmp);
    }
    let stored = StoredSnapshot {
        file: data_name(&meta.snapshot_id),
        meta,
    };
    fs::rename(tmp, dir.join(&stored.file))?;
    let index = dir.join(format!("{SNAPSHOT_INDEX}.tmp"));
    {
        let mut f = fs::File::create(&index)?;
        f.write_all(&serde_json::to_vec(&stored).map_err(io::Error::other)?)?;
        f.sync_all()?;
    }
    fs::rename(&index, dir.join(SNAPSHOT_INDEX))?;
    fs::File::open(dir)?.sync_all()?;
    if let Some(old) = cur.replace(stored.clone()) {
        if old.file != stored.file {
            let _ = fs::remove_file(dir.join(old.file));
        }
    }
    Ok(())
}

/// Opens the current snapshot's data file (an open file outlives its
/// replacement: a transfer in progress keeps reading the old one).
fn open_current(
    dir: &Path,
    current: &Mutex<Option<StoredSnapshot>>,
) -> io::Result<Option<(SnapshotMeta<u64, NodeInfo>, fs::File)>> {
    let cur = current.lock();
    match cur.as_ref() {
        None => Ok(None),
        Some(s) => Ok(Some((s.meta.clone(), fs::File::open(dir.join(&s.file))?))),
    }
}

/// Reads the snapshot index of `dir` and removes leftovers: temporary
/// files, data files the index does not name. A `snapshot.bin` of an
/// earlier version (meta_len u32 LE | SnapshotMeta JSON | data) is
/// converted.
fn load_snapshot(dir: &Path) -> io::Result<Option<StoredSnapshot>> {
    let current = Mutex::new(None);
    let legacy = dir.join("snapshot.bin");
    match fs::read(&legacy) {
        Ok(old) => {
            let mut r = &old[..];
            let mlen = u32::from_le_bytes(array(&mut r)?);
            let meta = serde_json::from_slice(&bytes(&mut r, mlen)?).map_err(io::Error::other)?;
            let tmp = tmp_path(dir, "legacy");
            let mut f = fs::File::create(&tmp)?;
            f.write_all(r)?;
            f.sync_all()?;
            publish(dir, &current, meta, &tmp)?;
            fs::remove_file(&legacy)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let stored: Option<StoredSnapshot> = match fs::read(dir.join(SNAPSHOT_INDEX)) {
        Ok(b) => Some(serde_json::from_slice(&b).map_err(io::Error::other)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let stored = stored.filter(|s| dir.join(&s.file).is_file());
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let named = stored.as_ref().is_some_and(|s| s.file == name);
        let stale_data = name.starts_with("snap-") && name.ends_with(".data") && !named;
        if name.ends_with(".tmp") || stale_data {
            let _ = fs::remove_file(dir.join(&*name));
        }
    }
    Ok(stored)
}

/// Moves (or, for a file that is not the transfer's, copies) received
/// snapshot data into a temporary file of `dir`, fsynced, for [`publish`].
fn adopt(dir: &Path, f: &mut fs::File, receiving: Option<PathBuf>) -> io::Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    if let Some(path) = receiving {
        let same = fs::metadata(&path).ok().is_some_and(|m| {
            f.metadata()
                .is_ok_and(|mine| (mine.dev(), mine.ino()) == (m.dev(), m.ino()))
        });
        if same {
            f.sync_all()?;
            return Ok(path);
        }
        let _ = fs::remove_file(&path);
    }
    let tmp = tmp_path(dir, "copy");
    let mut out = fs::File::create(&tmp)?;
    f.seek(SeekFrom::Start(0))?;
    io::copy(f, &mut out)?;
    out.sync_all()?;
    Ok(tmp)
}

/// The state machine: the keyspace plus the snapshot directory.
pub struct StateMachine {
    keyspace: Arc<Keyspace>,
    /// Where `snapshot.bin` lives.
    dir: PathBuf,
    /// Mirrors the newest metadata record in the keyspace's log.
    meta: SmMeta,
    /// The current snapshot; shared with snapshot builders running beside
    /// `apply` (openraft builds snapshots in a separate task).
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    /// The file a snapshot transfer from the leader is being written to.
    receiving: Option<PathBuf>,
    /// When set, an entry is applied only once the raft log holds it on
    /// disk (the leader acknowledges its own appends before their fsync:
    /// see [`super::log_store::Durable`]).
    durable: Option<super::log_store::Durable>,
    /// The group `apply` fills, kept between calls for its vectors'
    /// capacity (a group of hundreds of commands grew them every time).
    group: Group,
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl StateMachine {
    /// Opens the state machine over `keyspace`, reading the metadata record
    /// from the keyspace and the snapshot file from `dir`.
    pub fn open(keyspace: Arc<Keyspace>, dir: impl AsRef<Path>) -> io::Result<StateMachine> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let meta = match keyspace.raft_meta() {
            Some(b) => serde_json::from_slice(&b).map_err(io::Error::other)?,
            None => SmMeta::default(),
        };
        let current = load_snapshot(&dir)?;
        // Every applied write is in the raft log, fsynced before it was
        // acknowledged, and a restart applies again what the data files
        // lost. So the data files skip `everysec`'s timer, whose fsync of a
        // second of writes queued the raft log's fsyncs behind it (three
        // members on one disk, four alternated pairs of redis-benchmark
        // -c 50 runs: SET -P 1 39-53k/s against 36-43k, -P 16 268-312k
        // against 259-270k); they are fsynced before the raft log is
        // purged (snapshot build and install).
        keyspace.set_timer_sync(false);
        Ok(StateMachine {
            keyspace,
            dir,
            meta,
            current: Arc::new(Mutex::new(current)),
            receiving: None,
            durable: None,
            group: Group::default(),
        })
    }

    /// Makes `apply` wait until the raft log's fsync covers what it
    /// applies (see [`super::log_store::Durable`]).
    pub fn apply_only_durable(mut self, durable: super::log_store::Durable) -> StateMachine {
        self.durable = Some(durable);
        self
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.meta.last_applied
    }

    /// The applied clock advanced to `now_ms` (entries never go back in
    /// time).
    fn clock(&mut self, now_ms: u64) -> u64 {
        self.meta.now_ms = self.meta.now_ms.max(now_ms);
        self.meta.now_ms
    }

    /// Turns one request of an entry into a keyspace group item, advancing
    /// the applied clock (entries never go back in time). `None` for a
    /// nested batch, which the proposer never makes.
    fn item(&mut self, req: Request) -> Option<GroupItem> {
        let now_ms = match &req {
            Request::Command { now_ms, .. }
            | Request::Transaction { now_ms, .. }
            | Request::ExpireCycle { now_ms } => self.clock(*now_ms),
            Request::Batch(_) | Request::Packed(_) => return None,
        };
        match req {
            Request::Command {
                db,
                now_ms,
                rng_seed,
                argv,
            } => Some(GroupItem::Command {
                ctx: Ctx::new(now_ms, rng_seed, db),
                argv,
            }),
            Request::Transaction {
                db,
                now_ms,
                rng_seed,
                cmds,
            } => Some(GroupItem::Commands {
                ctx: Ctx::new(now_ms, rng_seed, db),
                cmds,
            }),
            Request::ExpireCycle { .. } => Some(GroupItem::Expire { now_ms }),
            Request::Batch(_) | Request::Packed(_) => None,
        }
    }

    /// Adds one committed entry to `group`.
    fn push_entry(&mut self, group: &mut Group, entry: Entry) {
        // Metadata written by an older version may stop inside a batch
        // entry: its first `skip` requests are applied already.
        let resume = self.meta.partial.take();
        self.meta.last_applied = Some(entry.log_id);
        let skip = match resume {
            Some((id, k)) if id == entry.log_id => k,
            _ => 0,
        };
        let mut parts = Vec::new();
        let mut push = |sm: &mut StateMachine, group: &mut Group, i: usize, req: Decoded| {
            let item = match req {
                _ if i < skip => {
                    let n = match &req {
                        Decoded::Command { .. } => 1,
                        Decoded::Other(r) => reply_count(r),
                    };
                    // Spans of skipped commands are never read.
                    parts.push(Part::Skipped(n));
                    return;
                }
                Decoded::Command {
                    db,
                    now_ms,
                    rng_seed,
                    at,
                    len,
                } => GroupItem::Span {
                    ctx: Ctx::new(sm.clock(now_ms), rng_seed, db),
                    at,
                    len,
                },
                Decoded::Other(req) => {
                    let n = reply_count(&req);
                    match sm.item(req) {
                        Some(item) => item,
                        None => {
                            parts.push(Part::Nested(n));
                            return;
                        }
                    }
                }
            };
            let n = item.reply_count();
            group.commands += n;
            group.items.push(item);
            // Consecutive items take their replies in turn: one part.
            match parts.last_mut() {
                Some(Part::Item(m)) => *m += n,
                _ => parts.push(Part::Item(n)),
            }
        };
        match entry.payload {
            EntryPayload::Blank => {}
            EntryPayload::Membership(m) => {
                self.meta.membership = StoredMembership::new(Some(entry.log_id), m);
            }
            EntryPayload::Normal(Request::Packed(p)) => {
                let mut reqs = p.into_requests();
                let mut i = 0;
                while let Some(d) = reqs.next_into(&mut group.args) {
                    push(self, group, i, d);
                    i += 1;
                }
            }
            EntryPayload::Normal(Request::Batch(subs)) => {
                for (i, req) in subs.iter().enumerate() {
                    push(self, group, i, Decoded::Other(req.clone()));
                }
            }
            EntryPayload::Normal(req) => push(self, group, 0, Decoded::Other(req)),
        }
        group.entries.push(parts);
    }

    /// Applies `group` as one keyspace batch carrying the metadata (the
    /// last applied id is the group's last entry) and returns one response
    /// per entry.
    fn flush(&mut self, group: &mut Group) -> Result<Vec<Response>, StorageError> {
        if group.entries.is_empty() {
            return Ok(Vec::new());
        }
        let meta = self.meta.encode()?;
        group.commands = 0;
        let ks = self.keyspace.clone();
        // The replies of all items in order: each item takes its count.
        let mut results =
            inline(|| ks.execute_group_replicated(&group.items, &group.args, meta)).into_iter();
        group.items.clear();
        group.args.clear();
        let mut out = Vec::with_capacity(group.entries.len());
        for parts in group.entries.drain(..) {
            let mut replies = Vec::new();
            for part in parts {
                match part {
                    Part::Item(n) => replies.extend(results.by_ref().take(n)),
                    Part::Skipped(n) => replies.extend(
                        std::iter::repeat(Reply::error("ERR applied before a restart")).take(n),
                    ),
                    Part::Nested(n) => {
                        replies.extend(std::iter::repeat(Reply::error("ERR nested batch")).take(n))
                    }
                }
            }
            out.push(Response { replies });
        }
        Ok(out)
    }
}

/// How many replies applying `req` produces (batch replies are split by it).
pub fn reply_count(req: &Request) -> usize {
    match req {
        Request::Command { .. } => 1,
        Request::Transaction { cmds, .. } => cmds.len(),
        Request::ExpireCycle { .. } => 0,
        Request::Batch(subs) => subs.iter().map(reply_count).sum(),
        Request::Packed(p) => p.reply_count(),
    }
}

/// Builds snapshots beside `apply`.
pub struct SnapshotBuilder {
    keyspace: Arc<Keyspace>,
    dir: PathBuf,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let ks = self.keyspace.clone();
        let dir = self.dir.clone();
        let tmp = tmp_path(&dir, "build");
        // A child process streams the keyspace into the file from a
        // copy-on-write image of memory (as Redis's BGSAVE): the keyspace
        // lock is held only for the fork, not for the whole copy.
        let sm_meta = blocking(|| -> io::Result<SmMeta> {
            let file = PacedFile {
                file: fs::File::create(&tmp)?,
                unsynced: 0,
            };
            let fd = std::os::fd::AsRawFd::as_raw_fd(&file.file);
            let mut w = SnapshotWriter::new(file);
            let meta = ks.export_forked(&mut w, &[fd], |w| {
                w.complete()?;
                w.output().file.sync_all()
            })?;
            SmMeta::decode(meta.as_ref())
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        // The raft log is purged up to this snapshot: what it covers must be
        // durable in the data files first.
        blocking(|| ks.sync()).map_err(|e| snap_err(ErrorVerb::Write, io::Error::other(e)))?;
        let snapshot_id = format!(
            "{}-{}",
            sm_meta.last_applied.map_or(0, |l| l.index),
            crate::server::now_ms()
        );
        let meta = SnapshotMeta {
            last_log_id: sm_meta.last_applied,
            last_membership: sm_meta.membership.clone(),
            snapshot_id,
        };
        let current = self.current.clone();
        let file = blocking(|| -> io::Result<fs::File> {
            // Opened before publishing: the handle reads this data even if
            // a newer snapshot replaces it meanwhile.
            let data = fs::File::open(&tmp)?;
            publish(&dir, &current, meta.clone(), &tmp)?;
            Ok(data)
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<u64, NodeInfo>), StorageError> {
        Ok((self.meta.last_applied, self.meta.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if let (Some(durable), Some(last)) = (&self.durable, entries.last()) {
            durable
                .wait_for(last.log_id.index)
                .await
                .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        }
        let mut out = Vec::new();
        let mut group = std::mem::take(&mut self.group);
        let applied = || {
            for entry in entries {
                self.push_entry(&mut group, entry);
                if group.commands >= MAX_GROUP_COMMANDS {
                    out.extend(self.flush(&mut group)?);
                }
            }
            out.extend(self.flush(&mut group)?);
            Ok::<_, StorageError>(())
        };
        let result = applied();
        // A failed flush leaves work behind: it is not kept for the next call.
        group.clear();
        self.group = group;
        result.map(|()| out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            keyspace: self.keyspace.clone(),
            dir: self.dir.clone(),
            current: self.current.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        if let Some(old) = self.receiving.take() {
            let _ = fs::remove_file(old);
        }
        let path = tmp_path(&self.dir, "receive");
        tracing::info!("receiving a snapshot from the leader");
        let f = blocking(|| {
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        self.receiving = Some(path);
        Ok(Box::new(tokio::fs::File::from_std(f)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, NodeInfo>,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let mut file = snapshot.into_std().await;
        let started = std::time::Instant::now();
        tracing::info!(snapshot = %meta.snapshot_id, "installing a snapshot from the leader");
        let ks = self.keyspace.clone();
        // Records stream from the file into the staging databases; the
        // commit swaps them in with the metadata, atomically. A damaged
        // file is found by its checksum before any record is imported.
        let mut records = 0u64;
        let sm_meta = blocking(|| -> Result<SmMeta, InstallError> {
            let mut import = ks.begin_import().map_err(InstallError::Import)?;
            let mut sm_meta = read_snapshot(&mut file, |r| {
                records += 1;
                import.push(&r).map_err(InstallError::Import)
            })?;
            sm_meta.last_applied = meta.last_log_id;
            sm_meta.membership = meta.last_membership.clone();
            let meta_bytes = sm_meta.encode().map_err(io::Error::other)?;
            import.commit(meta_bytes).map_err(InstallError::Import)?;
            // openraft purges the raft log up to the snapshot next.
            ks.sync().map_err(InstallError::Import)?;
            Ok(sm_meta)
        })
        .map_err(|e| match e {
            InstallError::Import(e) => snap_err(ErrorVerb::Write, io::Error::other(e)),
            InstallError::Read(e) => snap_err(ErrorVerb::Read, e),
        })?;
        tracing::info!(records, "snapshot records imported");
        self.meta = sm_meta;
        let dir = self.dir.clone();
        let receiving = self.receiving.take();
        let current = self.current.clone();
        blocking(|| {
            let tmp = adopt(&dir, &mut file, receiving)?;
            publish(&dir, &current, meta.clone(), &tmp)
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        tracing::info!(
            snapshot = %meta.snapshot_id,
            ms = started.elapsed().as_millis() as u64,
            "snapshot installed"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let (dir, current) = (self.dir.clone(), self.current.clone());
        let found =
            blocking(|| open_current(&dir, &current)).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        Ok(found.map(|(meta, f)| Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(f)),
        }))
    }
}

/// Turns relative TTLs into absolute deadlines at `now_ms` (SET EX/PX,
/// EXPIRE, PEXPIRE, GETEX EX/PX), so that the logged command reads the same
/// as what it did. (SETEX / PSETEX and the rest stay relative: an entry
/// also carries the proposer's `now_ms`, which apply uses as the clock, so
/// they mean the same thing on every replica too.) Arguments that do not
/// parse as a positive integer are left alone (the command then fails the
/// same way everywhere).
pub fn normalise(argv: &[Bytes], now_ms: u64) -> Vec<Bytes> {
    // One copy of all the arguments in one block, sliced: the entry then
    // pins neither the connection's read buffer (which a shared argument
    // would) nor one allocation per argument, and clones of it (the log
    // store's, for each follower and for apply) only count references.
    let mut block = Vec::with_capacity(argv.iter().map(|a| a.len()).sum());
    for a in argv {
        block.extend_from_slice(a);
    }
    let block = Bytes::from(block);
    let mut at = 0;
    let out: Vec<Bytes> = argv
        .iter()
        .map(|a| {
            at += a.len();
            block.slice(at - a.len()..at)
        })
        .collect();
    rewritten(&out, now_ms).unwrap_or(out)
}

/// `argv` normalised (see [`normalise`]) when that changes it, else
/// `None`: a packed batch copies the arguments anyway, so it needs no
/// copy of its own (`Packer::command`).
pub fn rewritten(argv: &[Bytes], now_ms: u64) -> Option<Vec<Bytes>> {
    let is = |arg: &[u8], name: &[u8]| arg.eq_ignore_ascii_case(name);
    let deadline = |arg: &[u8], unit: u64| -> Option<Bytes> {
        let n: u64 = std::str::from_utf8(arg).ok()?.parse().ok()?;
        let at = n.checked_mul(unit)?.checked_add(now_ms)?;
        (n > 0 && at < (1 << 62)).then(|| Bytes::from(at.to_string()))
    };
    let name: &[u8] = argv.first().map_or(&[], |n| &n[..]);
    let mut out: Option<Vec<Bytes>> = None;
    let mut set = |i: usize, v: Bytes| out.get_or_insert_with(|| argv.to_vec())[i] = v;
    if is(name, b"set") || is(name, b"getex") {
        let mut i = if is(name, b"set") { 3 } else { 2 };
        while i + 1 < argv.len() {
            let opt = &argv[i];
            let unit = if is(opt, b"ex") {
                Some(1000)
            } else if is(opt, b"px") {
                Some(1)
            } else {
                None
            };
            if let Some(unit) = unit {
                if let Some(at) = deadline(&argv[i + 1], unit) {
                    set(i, Bytes::from_static(b"PXAT"));
                    set(i + 1, at);
                }
                i += 2;
            } else if is(opt, b"exat") || is(opt, b"pxat") {
                i += 2;
            } else {
                i += 1;
            }
        }
    } else if (is(name, b"expire") || is(name, b"pexpire")) && argv.len() >= 3 {
        let unit = if is(name, b"expire") { 1000 } else { 1 };
        if let Some(at) = deadline(&argv[2], unit) {
            set(0, Bytes::from_static(b"PEXPIREAT"));
            set(2, at);
        }
    } else if is(name, b"restore") && argv.len() >= 4 {
        // RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]:
        // a relative ttl > 0 becomes an absolute deadline with ABSTTL
        // added; ttl 0 (no expiry) and an ABSTTL already given stay as is.
        let mut i = 4;
        let mut absttl = false;
        while i < argv.len() {
            if is(&argv[i], b"absttl") {
                absttl = true;
            }
            i += if is(&argv[i], b"idletime") || is(&argv[i], b"freq") {
                2
            } else {
                1
            };
        }
        if !absttl {
            if let Some(at) = deadline(&argv[2], 1) {
                set(2, at);
                out.as_mut()?.push(Bytes::from_static(b"ABSTTL"));
            }
        }
    }
    out
}

/// The reply of an applied command entry (the first reply), or an error.
pub fn first_reply(resp: Response) -> Reply {
    resp.replies
        .into_iter()
        .next()
        .unwrap_or_else(|| Reply::error("ERR empty reply from the state machine"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(index: u64, id: &str) -> SnapshotMeta<u64, NodeInfo> {
        SnapshotMeta {
            last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(1, 1), index)),
            last_membership: StoredMembership::default(),
            snapshot_id: id.to_owned(),
        }
    }

    fn stage(dir: &Path, body: &[u8]) -> PathBuf {
        let tmp = tmp_path(dir, "test");
        fs::write(&tmp, body).expect("write");
        tmp
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let d = dir.path();
        let current = Mutex::new(None);
        publish(d, &current, meta(10, "10-a"), &stage(d, b"ten")).expect("publish");
        // A build that started before the install of index 10 ends later.
        publish(d, &current, meta(7, "7-b"), &stage(d, b"seven")).expect("publish");
        let (m, _) = open_current(d, &current).expect("open").expect("some");
        assert_eq!(m.snapshot_id, "10-a");
        let loaded = load_snapshot(d).expect("load").expect("some");
        assert_eq!(loaded.meta.snapshot_id, "10-a");
        assert_eq!(fs::read(d.join(&loaded.file)).expect("read"), b"ten");
        let mut names: Vec<String> = fs::read_dir(d)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["snap-10-a.data", "snapshot.json"]);
        // A newer one replaces it and its file.
        publish(d, &current, meta(12, "12/../c"), &stage(d, b"twelve")).expect("publish");
        let loaded = load_snapshot(d).expect("load").expect("some");
        assert_eq!(loaded.file, "snap-12____c.data");
        assert!(!d.join("snap-10-a.data").exists());
    }
}
