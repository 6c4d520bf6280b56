//! What the Raft state machine (`crate::cluster`) needs from the keyspace:
//!
//! * **replication metadata in the data log**: `execute_replicated` /
//!   `execute_transaction_replicated` / `put_raft_meta` append one
//!   `TAG_RAFT_META` record (opaque bytes: the last applied log id and the
//!   membership) in the same atomic batch as the command's records, so a
//!   restart neither loses an applied entry nor applies it twice;
//! * **snapshots**: [`Keyspace::export_into`] streams every live key as the
//!   records that recreate it (point in time, under the lock;
//!   [`Keyspace::export_forked`] does it in a forked child, holding the
//!   lock only for the fork), and
//!   [`Keyspace::begin_import`] replaces the whole keyspace with such a
//!   copy: streamed into the staging twins of the databases in ordinary
//!   batches, then swapped in by one atomic batch (SWAPDB records + the
//!   metadata), so a copy of any size installs atomically.
//!
//! A [`DumpRecord`]'s key uses the *logical* database index; import maps it
//! to the physical slot of that database's staging twin.

use bytes::Bytes;

use super::journal::{
    decode_key, encode_key, RecordKey, FUNCTIONS_KEY, RAFT_META_KEY, TAG_FLUSH, TAG_FUNCTIONS,
    TAG_RAFT_META, TAG_RENAME, TAG_SWAPDB,
};
use super::{replay, Dropper, GroupItem, Journal, Keyspace, State, STAGING};
use crate::command::{Ctx, Reply};
use crate::storage::{self, RecordKind, ReplayEntry};

/// One record of a keyspace copy (snapshot transfer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpRecord {
    /// True for a delete record.
    pub delete: bool,
    /// The keyspace record type.
    pub tag: u8,
    /// The key's generation in the source keyspace (only equality matters).
    pub gen: u64,
    /// Absolute deadline in ms, 0 = none.
    pub expire_at_ms: u64,
    /// Record key: logical db, user key, sub-key (see `journal.rs`).
    pub key: Vec<u8>,
    /// Record value.
    pub value: Bytes,
}

impl From<&storage::RecordRef<'_>> for DumpRecord {
    /// An owned copy of a record an export streams.
    fn from(r: &storage::RecordRef<'_>) -> DumpRecord {
        DumpRecord {
            delete: r.kind == RecordKind::Delete,
            tag: r.tag,
            gen: r.gen,
            expire_at_ms: r.expire_at_ms,
            key: r.key.to_vec(),
            value: Bytes::copy_from_slice(r.value),
        }
    }
}

impl DumpRecord {
    /// Put or delete, as storage records it.
    pub fn kind(&self) -> RecordKind {
        if self.delete {
            RecordKind::Delete
        } else {
            RecordKind::Put
        }
    }
}

/// Receives a keyspace copy streamed by [`Keyspace::export_into`].
pub trait ExportSink {
    /// What stops the copy.
    type Error;
    /// The replication metadata (the newest `TAG_RAFT_META` record's
    /// bytes), before any record.
    fn meta(&mut self, meta: Option<&Bytes>) -> Result<(), Self::Error>;
    /// One record, its key as in a [`DumpRecord`].
    fn record(&mut self, r: &storage::RecordRef<'_>) -> Result<(), Self::Error>;
}

/// Adds the metadata record to a journal (last record of the batch).
pub(crate) fn log_meta(journal: &mut Journal, meta: Bytes) {
    journal.raw(
        RecordKind::Put,
        TAG_RAFT_META,
        0,
        0,
        RAFT_META_KEY.to_vec(),
        meta,
    );
}

impl Keyspace {
    /// [`Keyspace::execute`] with `meta` appended in the same atomic batch.
    pub fn execute_replicated(&self, ctx: &Ctx, argv: &[Bytes], meta: Bytes) -> Reply {
        self.execute_inner(ctx, argv, Some(meta))
    }

    /// [`Keyspace::execute_transaction`] with `meta` in the same batch.
    pub fn execute_transaction_replicated(
        &self,
        ctx: &Ctx,
        cmds: &[Vec<Bytes>],
        meta: Bytes,
    ) -> Vec<Reply> {
        self.execute_transaction_inner(ctx, cmds, Some(meta))
    }

    /// Runs `items` in order and appends their records and `meta` as one
    /// atomic batch (the raft state machine applies a run of committed
    /// entries this way: one write, and a crash keeps all of it or none).
    /// The replies of all items, in order ([`GroupItem::reply_count`] each).
    /// `args` holds the arguments of the [`GroupItem::Span`] items.
    pub fn execute_group_replicated(
        &self,
        items: &[GroupItem],
        args: &[Bytes],
        meta: Bytes,
    ) -> Vec<Reply> {
        self.execute_group(items, args, Some(meta))
    }

    /// [`Keyspace::active_expire_cycle`] followed by the metadata record.
    pub fn active_expire_cycle_replicated(&self, now_ms: u64, meta: Bytes) -> usize {
        let removed = self.active_expire_cycle(now_ms);
        // Expiry writes no record (replay sees the deadline passed); only
        // the metadata is logged.
        if let Err(e) = self.put_raft_meta(meta) {
            tracing::error!(error = %e, "could not persist raft metadata");
        }
        removed
    }

    /// Appends only a metadata record and waits for it per the fsync policy.
    pub fn put_raft_meta(&self, meta: Bytes) -> Result<(), super::Error> {
        let mut journal = Journal::default();
        let mut state = self.state.lock();
        let commit = self.append(&mut state, &mut journal, Some(meta))?;
        drop(state);
        if let Some(c) = commit {
            c.wait()?;
        }
        Ok(())
    }

    /// The newest metadata record's bytes, if any.
    pub fn raft_meta(&self) -> Option<Bytes> {
        self.state
            .lock()
            .raft_meta
            .as_ref()
            .and_then(|m| m.0.clone())
    }

    /// Streams a point-in-time copy of every key (including keys past
    /// their deadline that were not removed yet) into `sink`: the metadata
    /// first, then the records that recreate each key, key by key, all
    /// under the state lock (no copy of the data is built in memory). Stops
    /// at the sink's first error.
    pub fn export_into<S: ExportSink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        let state = self.lock_for_export();
        self.export_state(&state, sink)
    }

    /// The state lock, with memory never ahead of the log (see `lock_state`).
    fn lock_for_export(&self) -> parking_lot::MutexGuard<'_, State> {
        self.lock_state().unwrap_or_else(|e| {
            tracing::error!(error = %e, "reloading the keyspace before a snapshot failed");
            self.state.lock()
        })
    }

    /// [`Keyspace::export_into`]'s work, on a locked state.
    fn export_state<S: ExportSink + ?Sized>(
        &self,
        state: &State,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        sink.meta(state.raft_meta.as_ref().and_then(|m| m.0.as_ref()))?;
        // The function libraries, when there are any (a copy without
        // them installs none).
        if !state.functions.is_empty() {
            let payload = state.functions.dump();
            sink.record(&storage::RecordRef {
                kind: RecordKind::Put,
                tag: TAG_FUNCTIONS,
                gen: 0,
                expire_at_ms: 0,
                key: FUNCTIONS_KEY,
                value: &payload,
            })?;
        }
        let mut journal = Journal::default();
        let mut out = Ok(());
        for db in 0..self.databases {
            let slot = state.slot_of[db];
            let d = &state.dbs[slot];
            d.for_each(&mut |key, entry| {
                if out.is_err() {
                    return;
                }
                let at = RecordKey {
                    slot: db,
                    key,
                    gen: entry.gen,
                };
                entry.value.rewrite(&at, entry.expire_at_ms, &mut journal);
                // Deadlines live in their own records (journal.rs).
                if entry.expire_at_ms != 0 {
                    journal.expire(&at, entry.expire_at_ms);
                }
                out = journal.try_each_record(|r| sink.record(r));
                journal.clear();
            });
            if out.is_err() {
                break;
            }
        }
        out
    }

    /// [`Keyspace::export_into`] without holding the lock for the copy, as
    /// Redis's BGSAVE does it: the lock is held only while the process
    /// forks, and the child, which sees memory as it was at that instant
    /// (copy-on-write), streams the copy into `sink` and runs `finish`
    /// (write the end, fsync), then exits. Commands run in the parent
    /// meanwhile. Returns the metadata the copy starts with. When the fork
    /// itself fails (no memory for the page tables), the copy is made here
    /// under the lock instead.
    ///
    /// The child runs only this copy: no other thread exists there, so it
    /// takes no lock (the state's is the parent's guard, copied), logs
    /// nothing and leaves with `_exit`; its error comes back through a pipe.
    /// It first closes every inherited descriptor but stdin/out/err and
    /// `keep_fds` (the sink's files): a copy of a data directory's flock'd
    /// `LOCK` descriptor would otherwise keep that directory locked, after
    /// the parent closed it, until the child exits, and copies of sockets
    /// would keep them registered with the parent's epoll.
    pub fn export_forked<S, E>(
        &self,
        sink: &mut S,
        keep_fds: &[std::os::fd::RawFd],
        finish: impl FnOnce(&mut S) -> Result<(), E>,
    ) -> std::io::Result<Option<Bytes>>
    where
        S: ExportSink<Error = E>,
        E: std::fmt::Display,
    {
        use std::io::{Read, Write};
        let (mut rx, mut tx) = fork::pipe()?;
        let locked = std::time::Instant::now();
        let state = self.lock_for_export();
        let meta = state.raft_meta.as_ref().and_then(|m| m.0.clone());
        let forked = std::time::Instant::now();
        let pid = fork::fork();
        if pid == 0 {
            // The child.
            fork::child_setup();
            let mut keep = keep_fds.to_vec();
            keep.push(std::os::fd::AsRawFd::as_raw_fd(&tx));
            fork::close_all_but(keep);
            let run = std::panic::AssertUnwindSafe(|| -> Result<(), E> {
                self.export_state(&state, sink)?;
                finish(sink)
            });
            let code = match std::panic::catch_unwind(run) {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => {
                    let _ = write!(tx, "{e}");
                    1
                }
                Err(_) => {
                    let _ = write!(tx, "the copy panicked");
                    2
                }
            };
            fork::exit(code);
        }
        drop(tx);
        if pid < 0 {
            let err = std::io::Error::last_os_error();
            tracing::warn!(error = %err, "fork failed: copying the keyspace under its lock");
            let copied = self
                .export_state(&state, sink)
                .and_then(|()| finish(sink))
                .map_err(|e| std::io::Error::other(e.to_string()));
            drop(state);
            return copied.map(|()| meta);
        }
        drop(state);
        tracing::info!(
            pid,
            lock_wait_us = forked.duration_since(locked).as_micros() as u64,
            fork_us = forked.elapsed().as_micros() as u64,
            "keyspace copy forked"
        );
        let mut why = String::new();
        let _ = rx.read_to_string(&mut why);
        let status = fork::wait(pid)?;
        tracing::info!(
            pid,
            status,
            ms = forked.elapsed().as_millis() as u64,
            "keyspace copy done"
        );
        if status != 0 {
            return Err(std::io::Error::other(format!(
                "the keyspace copy in child process {pid} failed (status {status}): {why}"
            )));
        }
        Ok(meta)
    }

    /// A digest of the whole dataset (`DEBUG DIGEST`): 20 bytes, all zero
    /// for an empty keyspace. Order-independent (a sum of per-record
    /// hashes over what [`Keyspace::export_into`] gives, generations left
    /// out), so two nodes that applied the same log, or one that installed
    /// the other's snapshot, agree. Comparable between processes of one
    /// build (the hash is std's SipHash with fixed keys).
    pub fn digest(&self) -> [u8; 20] {
        struct Lanes([u64; 3]);
        impl ExportSink for Lanes {
            type Error = std::convert::Infallible;
            fn meta(&mut self, _: Option<&Bytes>) -> Result<(), Self::Error> {
                Ok(())
            }
            fn record(&mut self, r: &storage::RecordRef<'_>) -> Result<(), Self::Error> {
                use std::hash::{Hash, Hasher};
                let delete = r.kind == RecordKind::Delete;
                for (seed, lane) in self.0.iter_mut().enumerate() {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    (seed as u8).hash(&mut h);
                    (delete, r.tag, r.expire_at_ms, r.key, r.value).hash(&mut h);
                    *lane = lane.wrapping_add(h.finish());
                }
                Ok(())
            }
        }
        let mut lanes = Lanes([0; 3]);
        let Ok(()) = self.export_into(&mut lanes);
        let lanes = lanes.0;
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&lanes[0].to_be_bytes());
        out[8..16].copy_from_slice(&lanes[1].to_be_bytes());
        out[16..].copy_from_slice(&lanes[2].to_be_bytes()[..4]);
        out
    }

    /// Starts replacing every database with a copy streamed from
    /// [`Keyspace::export_into`] (a snapshot install): the copy is written
    /// into the staging twins of the databases, in ordinary batches, while
    /// the databases keep serving; [`Import::commit`] then swaps them in
    /// with one small atomic batch. Nothing is visible before the commit,
    /// and a crash before it leaves the databases as they were (recovery
    /// drops whatever staging holds, see [`drop_staging`]).
    pub fn begin_import(&self) -> Result<Import<'_>, super::Error> {
        let mut state = self.lock_state()?;
        // Whatever an earlier, unfinished import left in staging is older
        // than this flush, on disk as in memory.
        let flush_gen = state.next_gen;
        state.next_gen += 1;
        let mut journal = Journal::default();
        let slots: Vec<usize> = (0..self.databases)
            .map(|db| state.slot_of[STAGING + db])
            .collect();
        for &slot in &slots {
            journal.control(TAG_FLUSH, flush_gen, vec![slot as u8], true);
        }
        empty_slots(&mut state, &self.dropper, slots.iter().copied());
        let commit = self.append(&mut state, &mut journal, None)?;
        drop(state);
        if let Some(c) = commit {
            c.wait()?;
        }
        Ok(Import {
            ks: self,
            slots,
            journal,
            bytes: 0,
            last: None,
            gens: 0..0,
            committed: false,
            functions: None,
        })
    }
}

/// The few system calls of [`Keyspace::export_forked`].
#[expect(
    unsafe_code,
    reason = "fork(2), _exit(2), waitpid(2) and prctl(2) have no safe wrapper in std"
)]
mod fork {
    /// A pipe (read end, write end), closed on exec.
    pub(super) fn pipe() -> std::io::Result<(std::fs::File, std::fs::File)> {
        use std::os::fd::{FromRawFd, OwnedFd};
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2(2) writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and owned by nothing else.
        let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((rx.into(), tx.into()))
    }

    /// fork(2): 0 in the child, the child's pid in the parent, -1 on error.
    pub(super) fn fork() -> libc::pid_t {
        // SAFETY: the child only reads memory it inherited, allocates
        // (glibc resets its allocator locks in the child), writes files
        // and leaves through `exit`; it takes no lock another thread
        // could have held.
        unsafe { libc::fork() }
    }

    /// In the child: die with the parent, and let the usual signals
    /// terminate it (the parent's handlers forward them to a runtime
    /// that does not exist here).
    pub(super) fn child_setup() {
        // SAFETY: plain system calls with constant arguments.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }

    /// Closes every descriptor from 3 on that is not in `keep`.
    pub(super) fn close_all_but(mut keep: Vec<libc::c_int>) {
        keep.retain(|&fd| fd >= 3);
        keep.sort_unstable();
        keep.dedup();
        let mut from: libc::c_uint = 3;
        for fd in keep {
            let fd = fd as libc::c_uint;
            if fd > from {
                close_range(from, fd - 1);
            }
            from = fd + 1;
        }
        close_range(from, libc::c_uint::MAX);
    }

    /// close_range(2), or one close(2) per descriptor where the kernel
    /// lacks it (before Linux 5.9).
    fn close_range(first: libc::c_uint, last: libc::c_uint) {
        // SAFETY: closes descriptors of this (child) process only.
        let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if rc == 0 {
            return;
        }
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid out pointer.
        let open_max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            limit.rlim_cur.min(1 << 20) as libc::c_uint
        } else {
            1 << 16
        };
        for fd in first..=last.min(open_max.saturating_sub(1)) {
            // SAFETY: as above; a descriptor that is not open fails EBADF.
            unsafe { libc::close(fd as libc::c_int) };
        }
    }

    /// Leaves the child without running destructors or atexit handlers
    /// (they belong to the parent's threads and files).
    pub(super) fn exit(code: i32) -> ! {
        // SAFETY: _exit(2) never returns and touches nothing in user space.
        unsafe { libc::_exit(code) }
    }

    /// Waits for child `pid`; its exit code (128 + signal when killed).
    pub(super) fn wait(pid: libc::pid_t) -> std::io::Result<i32> {
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid out pointer for the call.
            if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        Ok(if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        })
    }
}

/// How many record bytes an import gathers before it appends them.
const IMPORT_BATCH_BYTES: usize = 1 << 20;

/// Generations an import reserves at a time.
const IMPORT_GENS: u64 = 4096;

/// A snapshot import in progress ([`Keyspace::begin_import`]): records
/// go to the staging twins of the databases, batch by batch, and
/// [`Import::commit`] swaps them in. Dropped without a commit, it empties
/// the staging databases again.
pub struct Import<'a> {
    ks: &'a Keyspace,
    /// The physical slot of each database's staging twin (only a commit
    /// moves them).
    slots: Vec<usize>,
    /// The records not appended yet.
    journal: Journal,
    /// Their size.
    bytes: usize,
    /// The last record's logical db, user key and source generation, and
    /// the generation it was given here: a key's records arrive together
    /// (the export writes key by key), so this is all the remapping needs.
    last: Option<(usize, Vec<u8>, u64, u64)>,
    /// Generations reserved and not handed out yet.
    gens: std::ops::Range<u64>,
    committed: bool,
    /// The copy's function libraries (a FUNCTION DUMP payload), installed
    /// by the commit.
    functions: Option<Bytes>,
}

impl Import<'_> {
    /// Adds one record of the copy (its key names the logical db).
    pub fn push(&mut self, r: &DumpRecord) -> Result<(), super::Error> {
        let bad = |why: &str| {
            super::Error::Storage(storage::Error::InvalidArgument(format!(
                "snapshot record (tag {}): {why}",
                r.tag
            )))
        };
        if r.tag == TAG_FUNCTIONS {
            self.functions = Some(r.value.clone());
            return Ok(());
        }
        if matches!(r.tag, TAG_FLUSH | TAG_SWAPDB | TAG_RAFT_META | TAG_RENAME) {
            return Err(bad("a database-level or rename record in a copy of keys"));
        }
        let databases = self.ks.databases;
        let (db, key, sub) = decode_key(&r.key)
            .filter(|(db, _, _)| *db < databases)
            .ok_or_else(|| bad("bad key"))?;
        let gen = match &self.last {
            Some((d, k, src, gen)) if *d == db && k.as_slice() == key && *src == r.gen => *gen,
            _ => {
                let gen = self.fresh_gen();
                self.last = Some((db, key.to_vec(), r.gen, gen));
                gen
            }
        };
        self.journal.raw(
            r.kind(),
            r.tag,
            gen,
            r.expire_at_ms,
            encode_key(self.slots[db], key, sub),
            r.value.clone(),
        );
        self.bytes += r.key.len() + r.value.len() + 32;
        if self.bytes >= IMPORT_BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// A generation above every one in use, from a reserved run.
    fn fresh_gen(&mut self) -> u64 {
        if self.gens.is_empty() {
            let mut state = self.ks.state.lock();
            self.gens = state.next_gen..state.next_gen + IMPORT_GENS;
            state.next_gen += IMPORT_GENS;
        }
        let gen = self.gens.start;
        self.gens.start += 1;
        gen
    }

    /// Appends the gathered records as one batch and builds them in the
    /// staging databases exactly as recovery would.
    fn flush(&mut self) -> Result<(), super::Error> {
        if self.journal.is_empty() {
            return Ok(());
        }
        let ks = self.ks;
        let mut state = ks.state.lock();
        let mut locations = Vec::new();
        let commit = ks.log.append_each(self.journal.records(), &mut locations)?;
        let mut loads = Vec::new();
        let mut applied = Ok(());
        for (rec, loc) in self.journal.records().zip(&locations) {
            if rec.kind == RecordKind::Delete {
                ks.log.mark_dead(*loc);
            }
            let entry = ReplayEntry {
                kind: rec.kind,
                tag: rec.tag,
                gen: rec.gen,
                expire_at_ms: rec.expire_at_ms,
                key: rec.key,
                value: Some(rec.value),
                value_len: rec.value.len() as u32,
                location: *loc,
            };
            applied = replay::apply(&mut state, &entry, &mut loads);
            if applied.is_err() {
                break;
            }
        }
        drop(state);
        self.journal.clear();
        self.bytes = 0;
        applied?;
        commit.wait()?;
        Ok(())
    }

    /// Appends what is left, then swaps every database with its staging
    /// twin and writes `meta`, as one atomic batch, and waits for
    /// durability. The replaced data is freed off this thread; merge drops
    /// its records.
    pub fn commit(mut self, meta: Bytes) -> Result<(), super::Error> {
        self.flush()?;
        let ks = self.ks;
        let mut state = ks.lock_state()?;
        let gen = state.next_gen;
        state.next_gen += 1;
        let mut journal = Journal::default();
        for db in 0..ks.databases {
            journal.control(TAG_SWAPDB, gen, vec![db as u8, (STAGING + db) as u8], false);
        }
        // The copy's libraries replace this node's (none if it had none).
        let functions = match self.functions.take() {
            Some(payload) => payload,
            None => Bytes::from(super::scripting::Functions::default().dump()),
        };
        journal.raw(
            RecordKind::Put,
            TAG_FUNCTIONS,
            0,
            0,
            FUNCTIONS_KEY.to_vec(),
            functions.clone(),
        );
        let commit = ks.append(&mut state, &mut journal, Some(meta))?;
        state.functions.replayed = Some(Some(functions));
        super::scripting::Functions::finish_replay(&mut state, |loc| ks.log.read_value(loc))?;
        for db in 0..ks.databases {
            state.slot_of.swap(db, STAGING + db);
        }
        // The twins now hold the replaced data.
        let replaced: Vec<usize> = (0..ks.databases)
            .map(|db| state.slot_of[STAGING + db])
            .collect();
        empty_slots(&mut state, &ks.dropper, replaced);
        if let Some(obs) = &state.observer {
            // The whole dataset was replaced: every watch is touched.
            obs.db_flushed(None, &|_, _| super::Presence::Live);
        }
        drop(state);
        self.committed = true;
        if let Some(c) = commit {
            c.wait()?;
        }
        Ok(())
    }
}

impl Drop for Import<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Abandoned (a damaged copy, a failed append): free what staging
        // holds; the next import's flush makes its records dead on disk.
        let mut state = self.ks.state.lock();
        empty_slots(&mut state, &self.ks.dropper, self.slots.iter().copied());
    }
}

/// Empties the databases in physical `slots`, freeing their contents off
/// the caller's thread. Only memory: the caller writes whatever records
/// make their keys dead on disk.
fn empty_slots(st: &mut State, dropper: &Dropper, slots: impl IntoIterator<Item = usize>) {
    for slot in slots {
        if st.dbs[slot].len() != 0 {
            let old = st.dbs[slot].take_all();
            dropper.discard_db(old);
        }
    }
}

/// After a replay (open, or a reload after a failed write): empties the
/// staging databases (an import that a crash cut short; until the commit
/// nothing of it counts) and refuses data in a database beyond
/// `databases` (reopened with fewer).
pub(crate) fn drop_staging(st: &mut State, dropper: &Dropper) -> Result<(), storage::Error> {
    let staging: Vec<usize> = st.slot_of[STAGING..].to_vec();
    empty_slots(st, dropper, staging);
    match (st.databases..STAGING).find(|&d| st.dbs[st.slot_of[d]].len() != 0) {
        Some(d) => Err(storage::Error::InvalidArgument(format!(
            "the data has keys in database {d} but `databases` is {}",
            st.databases
        ))),
        None => Ok(()),
    }
}
