//! The keyspace as the raft state machine.
//!
//! `apply` is total: every entry kind gets one [`Response`]. A command entry
//! runs `Keyspace::execute_replicated` with the proposer's `Ctx` (its clock,
//! kept monotonic across entries, and its seed); the metadata (last applied
//! log id, membership, clock) goes into the keyspace's log in the *same*
//! atomic batch as the data, so a restart resumes exactly after the last
//! applied entry.
//!
//! Snapshots are point-in-time copies of the keyspace (`Keyspace::export`),
//! kept in one file and installed atomically (`Keyspace::import`).
//!
//! ```text
//! snapshot data:
//! b"FKSN" | version u8 | meta_len u32 LE | meta JSON (SmMeta) | count u64 LE
//! then per record:
//! | delete u8 | tag u8 | gen u64 | expire_at_ms u64 | key_len u32 | key | val_len u32 | val |
//! then crc32 u32 LE over everything before it.
//!
//! snapshot file (<dir>/snapshot.bin, tmp + fsync + rename):
//! meta_len u32 LE | SnapshotMeta JSON | snapshot data
//! ```

use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, StoredMembership};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{
    blocking, inline, Entry, LogId, NodeInfo, Request, Response, StorageError, TypeConfig,
};
use crate::command::{Ctx, Reply};
use crate::keyspace::{DumpRecord, GroupItem, Keyspace};

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
    /// Commands in `items`.
    commands: usize,
    /// Per entry, where its replies come from.
    entries: Vec<Vec<Part>>,
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

/// Encodes a keyspace copy.
pub fn encode_snapshot(meta: &SmMeta, records: &[DumpRecord]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(SNAP_MAGIC);
    out.push(SNAP_VERSION);
    let m = serde_json::to_vec(meta).map_err(io::Error::other)?;
    out.extend_from_slice(&(m.len() as u32).to_le_bytes());
    out.extend_from_slice(&m);
    out.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for r in records {
        out.push(u8::from(r.delete));
        out.push(r.tag);
        out.extend_from_slice(&r.gen.to_le_bytes());
        out.extend_from_slice(&r.expire_at_ms.to_le_bytes());
        let klen = u32::try_from(r.key.len()).map_err(io::Error::other)?;
        out.extend_from_slice(&klen.to_le_bytes());
        out.extend_from_slice(&r.key);
        let vlen = u32::try_from(r.value.len()).map_err(io::Error::other)?;
        out.extend_from_slice(&vlen.to_le_bytes());
        out.extend_from_slice(&r.value);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| bad_snapshot("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> io::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> io::Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

fn bad_snapshot(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad snapshot: {why}"))
}

/// Decodes [`encode_snapshot`]'s output.
pub fn decode_snapshot(data: &[u8]) -> io::Result<(SmMeta, Vec<DumpRecord>)> {
    if data.len() < 9 {
        return Err(bad_snapshot("too short"));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(bad_snapshot("checksum mismatch"));
    }
    let mut r = Reader { buf: body, pos: 0 };
    if r.take(4)? != SNAP_MAGIC || r.u8()? != SNAP_VERSION {
        return Err(bad_snapshot("bad header"));
    }
    let mlen = r.u32()? as usize;
    let meta: SmMeta = serde_json::from_slice(r.take(mlen)?).map_err(io::Error::other)?;
    let count = r.u64()?;
    let mut records = Vec::new();
    for _ in 0..count {
        let delete = r.u8()? != 0;
        let tag = r.u8()?;
        let gen = r.u64()?;
        let expire_at_ms = r.u64()?;
        let klen = r.u32()? as usize;
        let key = r.take(klen)?.to_vec();
        let vlen = r.u32()? as usize;
        let value = Bytes::copy_from_slice(r.take(vlen)?);
        records.push(DumpRecord {
            delete,
            tag,
            gen,
            expire_at_ms,
            key,
            value,
        });
    }
    if r.pos != body.len() {
        return Err(bad_snapshot("trailing bytes"));
    }
    Ok((meta, records))
}

/// A snapshot kept on disk and in memory.
#[derive(Debug, Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, NodeInfo>,
    data: Vec<u8>,
}

fn save_snapshot(dir: &Path, snap: &StoredSnapshot) -> io::Result<()> {
    let tmp = dir.join("snapshot.bin.tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        let m = serde_json::to_vec(&snap.meta).map_err(io::Error::other)?;
        f.write_all(&(m.len() as u32).to_le_bytes())?;
        f.write_all(&m)?;
        f.write_all(&snap.data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join("snapshot.bin"))?;
    fs::File::open(dir)?.sync_all()
}

fn load_snapshot(dir: &Path) -> io::Result<Option<StoredSnapshot>> {
    let bytes = match fs::read(dir.join("snapshot.bin")) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut r = Reader {
        buf: &bytes,
        pos: 0,
    };
    let mlen = r.u32()? as usize;
    let meta = serde_json::from_slice(r.take(mlen)?).map_err(io::Error::other)?;
    let data = bytes[r.pos..].to_vec();
    Ok(Some(StoredSnapshot { meta, data }))
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
        Ok(StateMachine {
            keyspace,
            dir,
            meta,
            current: Arc::new(Mutex::new(current)),
        })
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.meta.last_applied
    }

    /// Turns one request of an entry into a keyspace group item, advancing
    /// the applied clock (entries never go back in time). `None` for a
    /// nested batch, which the proposer never makes.
    fn item(&mut self, req: Request) -> Option<GroupItem> {
        match req {
            Request::Command {
                db,
                now_ms,
                rng_seed,
                argv,
            } => {
                self.meta.now_ms = self.meta.now_ms.max(now_ms);
                Some(GroupItem::Command {
                    ctx: Ctx::new(self.meta.now_ms, rng_seed, db),
                    argv,
                })
            }
            Request::Transaction {
                db,
                now_ms,
                rng_seed,
                cmds,
            } => {
                self.meta.now_ms = self.meta.now_ms.max(now_ms);
                Some(GroupItem::Commands {
                    ctx: Ctx::new(self.meta.now_ms, rng_seed, db),
                    cmds,
                })
            }
            Request::ExpireCycle { now_ms } => {
                self.meta.now_ms = self.meta.now_ms.max(now_ms);
                Some(GroupItem::Expire {
                    now_ms: self.meta.now_ms,
                })
            }
            Request::Batch(_) => None,
        }
    }

    /// Adds one committed entry to `group`.
    fn push_entry(&mut self, group: &mut Group, entry: Entry) {
        // Metadata written by an older version may stop inside a batch
        // entry: its first `skip` requests are applied already.
        let resume = self.meta.partial.take();
        self.meta.last_applied = Some(entry.log_id);
        let reqs = match entry.payload {
            EntryPayload::Blank => Vec::new(),
            EntryPayload::Membership(m) => {
                self.meta.membership = StoredMembership::new(Some(entry.log_id), m);
                Vec::new()
            }
            EntryPayload::Normal(Request::Batch(subs)) => subs,
            EntryPayload::Normal(req) => vec![req],
        };
        let skip = match resume {
            Some((id, k)) if id == entry.log_id => k,
            _ => 0,
        };
        let mut parts = Vec::with_capacity(reqs.len());
        for (i, req) in reqs.into_iter().enumerate() {
            if i < skip {
                parts.push(Part::Skipped(reply_count(&req)));
                continue;
            }
            let n = reply_count(&req);
            match self.item(req) {
                Some(item) => {
                    group.commands += item.reply_count();
                    parts.push(Part::Item(item.reply_count()));
                    group.items.push(item);
                }
                None => parts.push(Part::Nested(n)),
            }
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
        let items = std::mem::take(&mut group.items);
        group.commands = 0;
        let ks = self.keyspace.clone();
        // The replies of all items in order: each item takes its count.
        let mut results = inline(|| ks.execute_group_replicated(&items, meta)).into_iter();
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
        let (records, meta_bytes) = blocking(|| ks.export());
        // The raft log is purged up to this snapshot: what it covers must be
        // durable in the data files first.
        blocking(|| ks.sync()).map_err(|e| snap_err(ErrorVerb::Write, io::Error::other(e)))?;
        let sm_meta: SmMeta = match meta_bytes {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| snap_err(ErrorVerb::Read, io::Error::other(e)))?,
            None => SmMeta::default(),
        };
        let data =
            encode_snapshot(&sm_meta, &records).map_err(|e| snap_err(ErrorVerb::Write, e))?;
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
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        let dir = self.dir.clone();
        blocking(|| save_snapshot(&dir, &stored)).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        *self.current.lock() = Some(stored);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
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
        let mut out = Vec::new();
        let mut group = Group::default();
        for entry in entries {
            self.push_entry(&mut group, entry);
            if group.commands >= MAX_GROUP_COMMANDS {
                out.extend(self.flush(&mut group)?);
            }
        }
        out.extend(self.flush(&mut group)?);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            keyspace: self.keyspace.clone(),
            dir: self.dir.clone(),
            current: self.current.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, NodeInfo>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let started = std::time::Instant::now();
        let (mut sm_meta, records) =
            decode_snapshot(&data).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        tracing::info!(
            snapshot = %meta.snapshot_id,
            records = records.len(),
            bytes = data.len(),
            "installing a snapshot from the leader"
        );
        sm_meta.last_applied = meta.last_log_id;
        sm_meta.membership = meta.last_membership.clone();
        let meta_bytes = sm_meta.encode()?;
        let ks = self.keyspace.clone();
        blocking(|| ks.import(&records, meta_bytes))
            .map_err(|e| snap_err(ErrorVerb::Write, io::Error::other(e)))?;
        self.meta = sm_meta;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        let dir = self.dir.clone();
        blocking(|| save_snapshot(&dir, &stored)).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        *self.current.lock() = Some(stored);
        tracing::info!(
            snapshot = %meta.snapshot_id,
            ms = started.elapsed().as_millis() as u64,
            "snapshot installed"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.current.lock().clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
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
    let mut out: Vec<Bytes> = argv
        .iter()
        .map(|a| {
            at += a.len();
            block.slice(at - a.len()..at)
        })
        .collect();
    let is = |arg: &[u8], name: &[u8]| arg.eq_ignore_ascii_case(name);
    let deadline = |arg: &[u8], unit: u64| -> Option<Bytes> {
        let n: u64 = std::str::from_utf8(arg).ok()?.parse().ok()?;
        let at = n.checked_mul(unit)?.checked_add(now_ms)?;
        (n > 0 && at < (1 << 62)).then(|| Bytes::from(at.to_string()))
    };
    let name: &[u8] = argv.first().map_or(&[], |n| &n[..]);
    if is(name, b"set") || is(name, b"getex") {
        let mut i = if is(name, b"set") { 3 } else { 2 };
        while i + 1 < out.len() {
            let opt = &out[i];
            let unit = if is(opt, b"ex") {
                Some(1000)
            } else if is(opt, b"px") {
                Some(1)
            } else {
                None
            };
            if let Some(unit) = unit {
                if let Some(at) = deadline(&out[i + 1], unit) {
                    out[i] = Bytes::from_static(b"PXAT");
                    out[i + 1] = at;
                }
                i += 2;
            } else if is(opt, b"exat") || is(opt, b"pxat") {
                i += 2;
            } else {
                i += 1;
            }
        }
    } else if (is(name, b"expire") || is(name, b"pexpire")) && out.len() >= 3 {
        let unit = if is(name, b"expire") { 1000 } else { 1 };
        if let Some(at) = deadline(&out[2], unit) {
            out[0] = Bytes::from_static(b"PEXPIREAT");
            out[2] = at;
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
