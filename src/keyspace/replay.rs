//! Rebuilding memory from the log (recovery) and answering merge's
//! questions (which records are live, where they moved).
//!
//! The rules, for every family (docs/storage-format.md, "Keyspace records"):
//! * a record whose generation is newer than the key's in-memory entry (or
//!   whose key is absent) starts a new incarnation: the old value is dropped;
//! * a record of the same generation applies to the entry;
//! * a record of an older generation is dead and ignored;
//! * DEL removes the key if its generation is not newer than the record's;
//!   FLUSH removes the keys older than the flush;
//! * RENAME moves the incarnation of its generation from its source name to
//!   its key (replacing what is there), if the source still holds it; the
//!   renamed incarnation is then found by its generation (`renamed.rs`).

use bytes::Bytes;
use parking_lot::Mutex;

use super::db::{Db, Entry};
use super::journal::{
    decode_key, FixTarget, FLUSH_ALL, TAG_BLOOM_ADD, TAG_BLOOM_IMAGE, TAG_BLOOM_RESERVE, TAG_DEL,
    TAG_EXPIRE, TAG_FLUSH, TAG_FUNCTIONS, TAG_HASH_FIELD, TAG_HASH_REM, TAG_LIST_ITEM,
    TAG_LIST_REM, TAG_RAFT_META, TAG_RENAME, TAG_SET_MEMBER, TAG_SET_REM, TAG_STR, TAG_STREAM_ACK,
    TAG_STREAM_CONSUMER_DEL, TAG_STREAM_ENTRY_DEL, TAG_STREAM_GROUP_DEL, TAG_STREAM_META,
    TAG_STREAM_RANGE_DEL, TAG_STR_PATCH, TAG_SWAPDB, TAG_ZSET_MEMBER, TAG_ZSET_REM,
};
use super::value::{StrData, StrForm, StrValue, Value};
use super::{bloom, hash, list, renamed, set, stream, zset, State};
use crate::storage::{self, Location, Log, MergeOracle, ReplayEntry};

/// A value to read from disk once the log is open (its record came from a
/// hint file, which carries keys and locations but not values).
pub(crate) struct Load {
    /// Physical slot.
    pub(crate) slot: usize,
    /// User key.
    pub(crate) key: Bytes,
    /// Generation the value belongs to.
    pub(crate) gen: u64,
    /// Which part of the value.
    pub(crate) target: FixTarget,
    /// Where the value is.
    pub(crate) loc: Location,
}

fn bad(entry: &ReplayEntry<'_>, why: &str) -> storage::Error {
    storage::Error::InvalidArgument(format!(
        "keyspace record (tag {}) at file {} offset {}: {why}",
        entry.tag, entry.location.file_id, entry.location.offset
    ))
}

/// The entry a record of generation `gen` applies to: the existing one if it
/// is the same generation, a new one built by `make` if the record is newer
/// (or the key absent), `None` if the record is older (dead).
pub(crate) fn incarnation<'d>(
    db: &'d mut Db,
    key: &[u8],
    gen: u64,
    expire_at_ms: u64,
    make: impl FnOnce() -> Value,
) -> Option<&'d mut Entry> {
    let current = db.get(key).map(|e| e.gen);
    match current {
        Some(g) if g > gen => None,
        Some(g) if g == gen => db.get_mut(key),
        _ => {
            let expire_at_ms = db.take_deferred_deadline(key, gen).unwrap_or(expire_at_ms);
            db.insert(
                &Bytes::copy_from_slice(key),
                Entry {
                    value: make(),
                    expire_at_ms,
                    gen,
                },
            );
            db.get_mut(key)
        }
    }
}

/// Applies one replayed record.
pub(crate) fn apply(
    st: &mut State,
    e: &ReplayEntry<'_>,
    loads: &mut Vec<Load>,
) -> Result<(), storage::Error> {
    st.next_gen = st.next_gen.max(e.gen.saturating_add(1));
    match e.tag {
        TAG_FLUSH => {
            let which = *e.key.first().ok_or_else(|| bad(e, "empty flush key"))?;
            for (slot, db) in st.dbs.iter_mut().enumerate() {
                if which == FLUSH_ALL || usize::from(which) == slot {
                    let mut stale: Vec<Bytes> = Vec::new();
                    db.for_each(&mut |k, entry| {
                        if entry.gen < e.gen {
                            stale.push(Bytes::copy_from_slice(k));
                        }
                    });
                    for k in stale {
                        db.remove(&k);
                    }
                }
            }
            return Ok(());
        }
        TAG_SWAPDB => {
            let (a, b) = match e.key {
                [a, b] => (usize::from(*a), usize::from(*b)),
                _ => return Err(bad(e, "bad swapdb key")),
            };
            if a >= st.slot_of.len() || b >= st.slot_of.len() {
                return Err(bad(e, "swapdb of a database beyond the slots"));
            }
            st.slot_of.swap(a, b);
            return Ok(());
        }
        TAG_RAFT_META => {
            // Replay is in write order: the last one wins.
            st.raft_meta = Some((e.value.map(Bytes::copy_from_slice), e.location));
            return Ok(());
        }
        TAG_FUNCTIONS => {
            // The last one wins; its libraries are loaded at `finish`.
            st.functions.replayed = Some(e.value.map(Bytes::copy_from_slice));
            st.functions.record = Some(e.location);
            return Ok(());
        }
        TAG_RENAME => return replay_rename(st, e),
        _ => {}
    }
    let (slot, key, sub) = decode_key(e.key).ok_or_else(|| bad(e, "bad record key"))?;
    let db = st
        .dbs
        .get_mut(slot)
        .ok_or_else(|| bad(e, &format!("record for slot {slot}, beyond the slots")))?;
    match e.tag {
        TAG_STR => {
            let data = e.value.map(StrData::copy_from).unwrap_or_default();
            if let Some(entry) = incarnation(db, key, e.gen, e.expire_at_ms, || {
                Value::Str(StrValue::new(Bytes::new()))
            }) {
                entry.value =
                    Value::Str(StrValue::written(data, Some(e.location), StrForm::Encoded));
                if e.value.is_none() {
                    loads.push(Load {
                        slot,
                        key: Bytes::copy_from_slice(key),
                        gen: e.gen,
                        target: FixTarget::Whole,
                        loc: e.location,
                    });
                }
            }
        }
        TAG_STR_PATCH => replay_patch(db, slot, key, sub, e, loads)?,
        TAG_DEL => {
            if db.get(key).is_some_and(|entry| entry.gen <= e.gen) {
                db.remove(key);
            }
        }
        TAG_EXPIRE => {
            let at = u64::from_be_bytes(sub.try_into().map_err(|_| bad(e, "bad deadline"))?);
            match db.get(key).map(|entry| entry.gen) {
                Some(g) if g == e.gen => db.set_expire(key, at),
                // A newer incarnation: the record is dead.
                Some(g) if g > e.gen => {}
                // Its incarnation has no record before it (merge dropped
                // them): the next record of that incarnation takes it.
                _ => db.defer_deadline(key, e.gen, at),
            }
        }
        TAG_LIST_ITEM | TAG_LIST_REM => {
            list::replay(db, slot, key, sub, e, loads).map_err(|why| bad(e, &why))?
        }
        TAG_HASH_FIELD | TAG_HASH_REM => {
            hash::replay(db, slot, key, sub, e, loads).map_err(|why| bad(e, &why))?
        }
        TAG_SET_MEMBER | TAG_SET_REM => {
            set::replay(db, slot, key, sub, e, loads).map_err(|why| bad(e, &why))?
        }
        TAG_ZSET_MEMBER | TAG_ZSET_REM => {
            zset::replay(db, slot, key, sub, e, loads).map_err(|why| bad(e, &why))?
        }
        TAG_BLOOM_RESERVE | TAG_BLOOM_ADD | TAG_BLOOM_IMAGE => {
            bloom::replay(db, slot, key, sub, e, loads).map_err(|why| bad(e, &why))?
        }
        TAG_STREAM_META..=TAG_STREAM_RANGE_DEL => {
            stream::replay(db, slot, key, sub, e, loads).map_err(|why| bad(e, &why))?
        }
        other => return Err(bad(e, &format!("unknown keyspace tag {other}"))),
    }
    Ok(())
}

/// A string patch: applied to its incarnation now if the record carries its
/// bytes and the base is in memory, otherwise by [`finish`], in log order
/// (a base from a hint file is read there; every patch after it is then
/// deferred too, so the order holds).
fn replay_patch(
    db: &mut Db,
    slot: usize,
    key: &[u8],
    sub: &[u8],
    e: &ReplayEntry<'_>,
    loads: &mut Vec<Load>,
) -> Result<(), storage::Error> {
    let offset = sub
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| bad(e, "bad patch offset"))?;
    if offset.saturating_add(u64::from(e.location.len)) > crate::command::args::MAX_STRING as u64 {
        return Err(bad(e, "patch beyond the largest string"));
    }
    // Only on the incarnation it was written for: an older one's patch is
    // dead, and a patch never starts an incarnation (its base comes first
    // and lives as long as it does).
    let Some(Entry {
        value: Value::Str(s),
        ..
    }) = db.get_mut(key).filter(|en| en.gen == e.gen)
    else {
        return Ok(());
    };
    s.push_patch(e.location);
    s.note_patch(e.location.len as usize);
    s.set_form(StrForm::Raw);
    // A patched string's base has PATCH_MIN_LEN bytes or more: empty data
    // means the base is still to be read.
    match e.value {
        Some(bytes) if !s.data.is_empty() => s.apply_patch(offset as usize, bytes),
        _ => loads.push(Load {
            slot,
            key: Bytes::copy_from_slice(key),
            gen: e.gen,
            target: FixTarget::Patch(offset),
            loc: e.location,
        }),
    }
    Ok(())
}

/// A RENAME / MOVE record: moves incarnation `gen` from the source name
/// (sub-key = source slot + user key) to the record's key, replacing what
/// is there, if the source still holds it.
fn replay_rename(st: &mut State, e: &ReplayEntry<'_>) -> Result<(), storage::Error> {
    let (slot, key, sub) = decode_key(e.key).ok_or_else(|| bad(e, "bad record key"))?;
    let (&from, from_key) = sub
        .split_first()
        .ok_or_else(|| bad(e, "rename without a source"))?;
    let from = usize::from(from);
    if slot >= st.dbs.len() || from >= st.dbs.len() {
        return Err(bad(e, "rename beyond the slots"));
    }
    if !st.dbs[from].get(from_key).is_some_and(|en| en.gen == e.gen) {
        return Ok(());
    }
    let entry = st.dbs[from].remove(from_key).expect("checked above");
    st.dbs[slot].insert(&Bytes::copy_from_slice(key), entry);
    st.renamed.note(&st.dbs, e.gen, slot, key);
    Ok(())
}

/// After the log is open: reads the values that hint files did not carry.
pub(crate) fn finish(st: &mut State, log: &Log, loads: Vec<Load>) -> Result<(), storage::Error> {
    for db in &mut st.dbs {
        db.clear_deferred();
    }
    if let Some((value @ None, loc)) = &mut st.raft_meta {
        *value = Some(log.read_value(*loc)?);
    }
    super::scripting::Functions::finish_replay(st, |loc| log.read_value(loc))?;
    for load in loads {
        let (dbs, moved) = (&mut st.dbs, &st.renamed);
        let Some(entry) = renamed::find_mut(dbs, moved, load.slot, &load.key, load.gen) else {
            continue;
        };
        // Kept by the keyspace: not through the log's value cache.
        let bytes = log.read_value_uncached(load.loc)?;
        entry.value.fill(&load.target, load.loc, bytes);
    }
    Ok(())
}

/// Whether a record is still live, given the state in memory.
fn is_live(st: &State, e: &ReplayEntry<'_>) -> bool {
    match e.tag {
        // Always live: the slot mapping is part of the data.
        TAG_SWAPDB => return true,
        TAG_RAFT_META => return st.raft_meta.as_ref().is_some_and(|m| m.1 == e.location),
        TAG_FUNCTIONS => return st.functions.record == Some(e.location),
        // Dead from birth: every record they kill is older and is merged
        // with them (merge takes the oldest files first).
        TAG_FLUSH
        | TAG_DEL
        | TAG_LIST_REM
        | TAG_HASH_REM
        | TAG_SET_REM
        | TAG_ZSET_REM
        | TAG_STREAM_ENTRY_DEL
        | TAG_STREAM_GROUP_DEL
        | TAG_STREAM_CONSUMER_DEL
        | TAG_STREAM_ACK
        | TAG_STREAM_RANGE_DEL => return false,
        _ => {}
    }
    let Some((slot, key, sub)) = decode_key(e.key) else {
        return false;
    };
    if e.tag == TAG_EXPIRE {
        // Under its own name only: RENAME / MOVE log the deadline again
        // under the new name.
        return st
            .dbs
            .get(slot)
            .and_then(|db| db.get(key))
            .is_some_and(|entry| entry.gen == e.gen);
    }
    let Some(entry) = renamed::find(&st.dbs, &st.renamed, slot, key, e.gen) else {
        return false;
    };
    match (&entry.value, e.tag) {
        (_, TAG_RENAME) => true,
        (Value::Str(s), TAG_STR | TAG_STR_PATCH) => s.is_live(e.tag, e.location),
        (Value::List(v), TAG_LIST_ITEM) => v.is_live(sub, e.location),
        (Value::Hash(v), TAG_HASH_FIELD) => v.is_live(sub, e.location),
        (Value::Set(v), TAG_SET_MEMBER) => v.is_live(sub, e.location),
        (Value::ZSet(v), TAG_ZSET_MEMBER) => v.is_live(sub, e.location),
        (Value::Bloom(v), TAG_BLOOM_RESERVE | TAG_BLOOM_ADD | TAG_BLOOM_IMAGE) => {
            v.is_live(sub, e.location)
        }
        (Value::Stream(v), tag) => v.is_live(tag, sub, e.location),
        _ => false,
    }
}

/// Points the value at `new` where it pointed at `old`.
fn relocate(st: &mut State, e: &ReplayEntry<'_>, old: Location, new: Location) {
    if e.tag == TAG_RAFT_META {
        if let Some(meta) = st.raft_meta.as_mut().filter(|m| m.1 == old) {
            meta.1 = new;
        }
        return;
    }
    if e.tag == TAG_FUNCTIONS {
        if st.functions.record == Some(old) {
            st.functions.record = Some(new);
        }
        return;
    }
    let Some((slot, key, sub)) = decode_key(e.key) else {
        return;
    };
    let Some(entry) = renamed::find_mut(&mut st.dbs, &st.renamed, slot, key, e.gen) else {
        return;
    };
    match (&mut entry.value, e.tag) {
        (Value::Str(s), TAG_STR | TAG_STR_PATCH) => s.relocate(e.tag, old, new),
        (Value::List(v), TAG_LIST_ITEM) => v.relocate(sub, old, new),
        (Value::Hash(v), TAG_HASH_FIELD) => v.relocate(sub, old, new),
        (Value::Set(v), TAG_SET_MEMBER) => v.relocate(sub, old, new),
        (Value::ZSet(v), TAG_ZSET_MEMBER) => v.relocate(sub, old, new),
        (Value::Bloom(v), TAG_BLOOM_RESERVE | TAG_BLOOM_ADD | TAG_BLOOM_IMAGE) => {
            v.relocate(sub, old, new)
        }
        (Value::Stream(v), tag) => v.relocate(tag, sub, old, new),
        _ => {}
    }
}

/// The keyspace's answer to merge: takes the lock for each question.
pub(crate) struct Oracle<'a> {
    /// The keyspace state.
    pub(crate) state: &'a Mutex<State>,
}

impl MergeOracle for Oracle<'_> {
    fn is_live(&self, entry: &ReplayEntry<'_>) -> bool {
        let state = self.state.lock();
        // Memory ahead of the log judges nothing: keep every record.
        state.stale || is_live(&state, entry)
    }

    fn relocated(&self, entry: &ReplayEntry<'_>, old: Location, new: Location) {
        relocate(&mut self.state.lock(), entry, old, new);
    }

    fn are_live(&self, entries: &[ReplayEntry<'_>], live: &mut Vec<bool>) {
        live.clear();
        let state = self.state.lock();
        live.extend(entries.iter().map(|e| state.stale || is_live(&state, e)));
    }

    fn relocated_all(&self, moves: &[(ReplayEntry<'_>, Location, Location)]) {
        let mut state = self.state.lock();
        for (e, old, new) in moves {
            relocate(&mut state, e, *old, *new);
        }
    }
}
