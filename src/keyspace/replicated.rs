//! What the Raft state machine (`crate::cluster`) needs from the keyspace:
//!
//! * **replication metadata in the data log**: `execute_replicated` /
//!   `execute_transaction_replicated` / `put_raft_meta` append one
//!   `TAG_RAFT_META` record (opaque bytes: the last applied log id and the
//!   membership) in the same atomic batch as the command's records, so a
//!   restart neither loses an applied entry nor applies it twice;
//! * **snapshots**: [`Keyspace::export_into`] streams every live key as the
//!   records that recreate it (point in time, under the lock), and
//!   [`Keyspace::import`] replaces the whole keyspace with such a copy in one
//!   atomic batch (FLUSHALL record + the records + the metadata).
//!
//! A [`DumpRecord`]'s key uses the *logical* database index; import maps it
//! to the current physical slot, so earlier SWAPDB records stay consistent.

use bytes::Bytes;

use super::journal::{decode_key, RecordKey, FLUSH_ALL, RAFT_META_KEY, TAG_FLUSH, TAG_RAFT_META};
use super::{replay, GroupItem, Journal, Keyspace};
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

/// Encodes a record key (slot, user key, sub-key) as `journal.rs` draws it.
fn record_key(slot: usize, key: &[u8], sub: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + key.len() + sub.len());
    // Slots are < 256: Keyspace::open refuses more databases.
    out.push(slot as u8);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(sub);
    out
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
    pub fn execute_group_replicated(&self, items: &[GroupItem], meta: Bytes) -> Vec<Reply> {
        self.execute_group(items, Some(meta))
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
        // Never export memory that is ahead of the log (see `lock_state`).
        let state = self.lock_state().unwrap_or_else(|e| {
            tracing::error!(error = %e, "reloading the keyspace before a snapshot failed");
            self.state.lock()
        });
        sink.meta(state.raft_meta.as_ref().and_then(|m| m.0.as_ref()))?;
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

    /// Replaces every database with `records` (from [`Keyspace::export_into`]) and
    /// sets the metadata, as one atomic batch, then waits for durability.
    /// An error while rebuilding memory (a malformed copy) leaves the
    /// keyspace partly replaced: the caller treats it as fatal.
    pub fn import(&self, records: &[DumpRecord], meta: Bytes) -> Result<(), super::Error> {
        let mut state = self.state.lock();
        // Map every record to the current physical slot and a fresh generation.
        let flush_gen = state.next_gen;
        let mut next_gen = flush_gen + 1;
        let mut gens: std::collections::HashMap<(u64, Vec<u8>), u64> = Default::default();
        let mut journal = Journal::default();
        journal.raw(
            RecordKind::Delete,
            TAG_FLUSH,
            flush_gen,
            0,
            vec![FLUSH_ALL],
            Bytes::new(),
        );
        for r in records {
            let (db, key, sub) = decode_key(&r.key)
                .filter(|(db, _, _)| *db < self.databases)
                .ok_or_else(|| {
                    super::Error::Storage(storage::Error::InvalidArgument(
                        "snapshot record with a bad key".to_owned(),
                    ))
                })?;
            let gen = *gens.entry((r.gen, key.to_vec())).or_insert_with(|| {
                next_gen += 1;
                next_gen - 1
            });
            journal.raw(
                r.kind(),
                r.tag,
                gen,
                r.expire_at_ms,
                record_key(state.slot_of[db], key, sub),
                r.value.clone(),
            );
        }
        log_meta(&mut journal, meta);
        let raw = journal.take_raw();
        let refs: Vec<storage::RecordRef<'_>> = raw
            .iter()
            .map(
                |(kind, tag, gen, expire_at_ms, key, value)| storage::RecordRef {
                    kind: *kind,
                    tag: *tag,
                    gen: *gen,
                    expire_at_ms: *expire_at_ms,
                    key,
                    value,
                },
            )
            .collect();
        let (locations, commit) = self.log.append(&refs)?;
        // The batch is in the log: rebuild memory exactly as recovery would.
        for slot in 0..state.dbs.len() {
            let all = state.dbs[slot].take_all();
            self.dropper.discard_db(all);
        }
        let mut loads = Vec::new();
        for (rec, loc) in refs.iter().zip(&locations) {
            let entry = ReplayEntry {
                kind: rec.kind,
                tag: rec.tag,
                gen: rec.gen,
                expire_at_ms: rec.expire_at_ms,
                key: rec.key,
                value: Some(rec.value),
                location: *loc,
            };
            if rec.kind == RecordKind::Delete {
                self.log.mark_dead(*loc);
            }
            if rec.tag == TAG_RAFT_META {
                if let Some((_, old)) = state.raft_meta.take() {
                    self.log.mark_dead(old);
                }
            }
            replay::apply(&mut state, &entry, &mut loads)?;
        }
        state.next_gen = state.next_gen.max(next_gen);
        // Memory now holds exactly the imported batch, which is in the log.
        state.stale = false;
        if let Some(obs) = &state.observer {
            obs.db_flushed(None);
        }
        drop(state);
        commit.wait()?;
        Ok(())
    }
}
