//! The keyspace's records: their encoding (see docs/storage-format.md,
//! "Keyspace records") and the journal that collects the records of one
//! command (or one MULTI/EXEC) before they are appended as one batch.
//!
//! ```text
//! storage record key (opaque to storage):
//! +------+-------------+----------------+----------------------------+
//! | slot | key_len u32 | user key bytes | sub-key (family-specific)  |
//! | u8   | big endian  | key_len bytes  | rest of the record key     |
//! +------+-------------+----------------+----------------------------+
//! tag (RecordRef::tag) says which family record it is; gen is the key's
//! generation; expire_at_ms the key's deadline when the record was written.
//! ```

use bytes::Bytes;

use super::value::StrData;
use crate::storage::{Location, RecordKind, RecordRef};

/// A string value: key = db key, value = the bytes.
pub(crate) const TAG_STR: u8 = 1;
/// Bytes written in place into a string of the same generation (APPEND,
/// SETRANGE, SETBIT, BITFIELD on a big string): sub = byte offset (u64 big
/// endian), value = the bytes; the string grows with zero bytes to reach
/// them. Replay applies a string's patches to its `TAG_STR` record in log
/// order.
pub(crate) const TAG_STR_PATCH: u8 = 7;
/// A key deleted (any type): every record of generation <= gen is dead.
pub(crate) const TAG_DEL: u8 = 2;
/// A key's deadline changed (sub = deadline in ms, u64 big endian; 0 =
/// PERSIST), for generation gen.
pub(crate) const TAG_EXPIRE: u8 = 3;
/// FLUSHDB (key = \[slot\]) / FLUSHALL (key = \[0xFF\]): keys of generation < gen die.
pub(crate) const TAG_FLUSH: u8 = 4;
/// SWAPDB: key = \[db a, db b\] (logical indexes); always live.
pub(crate) const TAG_SWAPDB: u8 = 5;
/// RENAME / MOVE of a key's incarnation `gen`, which keeps its generation
/// and its records: key = the new name, sub = \[source slot\] + source user
/// key. Live while the incarnation lives (see `keyspace::renamed`).
pub(crate) const TAG_RENAME: u8 = 6;
/// List element: sub = seq (i64, order-preserving big endian), value = element.
pub(crate) const TAG_LIST_ITEM: u8 = 16;
/// List element removed: sub = seq.
pub(crate) const TAG_LIST_REM: u8 = 17;
/// Hash field (reserved for the hash family): sub = field, value = value.
pub(crate) const TAG_HASH_FIELD: u8 = 32;
/// Hash field removed (reserved).
pub(crate) const TAG_HASH_REM: u8 = 33;
/// Set member (reserved for the set family): sub = member.
pub(crate) const TAG_SET_MEMBER: u8 = 48;
/// Set member removed (reserved).
pub(crate) const TAG_SET_REM: u8 = 49;
/// Sorted-set member (reserved): sub = score (8 bytes) + member.
pub(crate) const TAG_ZSET_MEMBER: u8 = 64;
/// Sorted-set member removed (reserved).
pub(crate) const TAG_ZSET_REM: u8 = 65;
/// Bloom filter created: sub = parameters.
pub(crate) const TAG_BLOOM_RESERVE: u8 = 80;
/// Bloom filter item added: sub = item.
pub(crate) const TAG_BLOOM_ADD: u8 = 81;
/// Bloom filter image chunk (RENAME/MOVE/COPY): sub = filter index (u32),
/// capacity (u64), items (u64), serialized length (u64), offset (u64), bytes.
pub(crate) const TAG_BLOOM_IMAGE: u8 = 82;
/// Stream counters (last id, max deleted id, entries added, tail node):
/// sub = see `stream.rs`; the newest one is live.
pub(crate) const TAG_STREAM_META: u8 = 112;
/// Stream entry: sub = id (16 B) + node master id (16 B), value = fields.
pub(crate) const TAG_STREAM_ENTRY: u8 = 113;
/// Stream entry deleted (XDEL): sub = id.
pub(crate) const TAG_STREAM_ENTRY_DEL: u8 = 114;
/// Consumer group: sub = name, last delivered id, entries read.
pub(crate) const TAG_STREAM_GROUP: u8 = 115;
/// Consumer group destroyed: sub = name.
pub(crate) const TAG_STREAM_GROUP_DEL: u8 = 116;
/// Consumer: sub = group, name, seen time.
pub(crate) const TAG_STREAM_CONSUMER: u8 = 117;
/// Consumer deleted (and its pending entries): sub = group, name.
pub(crate) const TAG_STREAM_CONSUMER_DEL: u8 = 118;
/// Pending entry: sub = group, id, delivery time, delivery count, consumer.
pub(crate) const TAG_STREAM_PENDING: u8 = 119;
/// Pending entry acknowledged (or dropped): sub = group, id.
pub(crate) const TAG_STREAM_ACK: u8 = 120;
/// Every entry up to this id removed (XTRIM, XADD MAXLEN/MINID): sub = id.
pub(crate) const TAG_STREAM_RANGE_DEL: u8 = 121;
/// Replication metadata (the Raft state machine's last applied log id and
/// membership): key = `RAFT_META_KEY`, value = opaque bytes of the cluster
/// module. Only the newest one is live. See `keyspace::replicated`.
pub(crate) const TAG_RAFT_META: u8 = 96;
/// The record key of [`TAG_RAFT_META`] records.
pub(crate) const RAFT_META_KEY: &[u8] = b"raft-meta";
/// The loaded function libraries (FUNCTION LOAD / DELETE / FLUSH /
/// RESTORE): key = `FUNCTIONS_KEY`, value = every library, in Redis's
/// FUNCTION DUMP payload format. Only the newest one is live; FLUSHALL
/// does not touch it. See `keyspace::scripting::functions`.
pub(crate) const TAG_FUNCTIONS: u8 = 97;
/// The record key of [`TAG_FUNCTIONS`] records.
pub(crate) const FUNCTIONS_KEY: &[u8] = b"functions";
/// Flush key meaning "every database".
pub(crate) const FLUSH_ALL: u8 = 0xFF;

/// The incarnation a record belongs to: database slot, user key, generation.
#[derive(Clone, Debug)]
pub(crate) struct RecordKey<'a> {
    /// Physical database slot (not the logical SELECT index: see SWAPDB).
    pub(crate) slot: usize,
    /// The user key.
    pub(crate) key: &'a [u8],
    /// The key's generation.
    pub(crate) gen: u64,
}

/// Which part of a value a record wrote, so that its location can be stored
/// once the append returns.
#[derive(Clone, Debug)]
#[allow(dead_code, reason = "used by the list, hash, set and zset families")]
pub(crate) enum FixTarget {
    /// Nothing to remember.
    None,
    /// The whole value (strings).
    Whole,
    /// A list element by sequence number.
    Seq(i64),
    /// A member / field / item by name.
    Member(Bytes),
    /// The hash field or sorted-set member the record's sub-key names
    /// (read back from the journal at settle: no copy of the name).
    Sub,
    /// A string patch at this byte offset (appended to the value's patches).
    Patch(u64),
    /// The stream record of this tag whose sub-key names the part.
    Stream(u8),
    /// A stream entry's fields (ms, seq), read at recovery.
    StreamEntry(u64, u64),
}

/// One record waiting to be appended.
pub(crate) struct Pending {
    kind: RecordKind,
    tag: u8,
    gen: u64,
    expire_at_ms: u64,
    /// The record key: a range of the journal's `keys` buffer.
    key: std::ops::Range<usize>,
    value: PendingValue,
    /// Where to store the location (`None` = nowhere).
    fix: Option<FixTarget>,
    /// The record is dead from birth (deletes): report it to merge's counter.
    dead: bool,
    /// The location [`Journal::put_predicted`] foretold and the caller
    /// stored: when the append puts the record there, settle has nothing
    /// to fix.
    predicted: Option<Location>,
}

/// A pending record's value.
enum PendingValue {
    /// Copied into the journal's `keys` buffer (small values): cheaper
    /// than sharing the `Bytes`, whose first clone allocates a shared
    /// header when it was built from a `Vec` (every argv argument is).
    Copied(std::ops::Range<usize>),
    /// Shared with the keyspace (large values: no copy).
    Shared(Bytes),
}

/// Values up to this many bytes are copied into the journal.
const COPY_VALUE_MAX: usize = 512;

/// The records of one command or transaction, appended as one batch.
/// Reused from command to command (it lives in the locked state), so that
/// its buffers are allocated once.
#[derive(Default)]
pub(crate) struct Journal {
    pending: Vec<Pending>,
    /// Every pending record key (and small value), back to back.
    keys: Vec<u8>,
    /// Where the last append of one record ended (file id, offset): where
    /// the next one lands unless something else appended or the file was
    /// rotated in between. `None` after a batch, a failure, or at open.
    tail: Option<(u32, u64)>,
    /// A [`TAG_FUNCTIONS`] record is pending (its location goes to the
    /// state after the append).
    pub(crate) has_functions: bool,
}

/// Encodes a record key: slot, user key, sub-key.
pub(crate) fn encode_key(slot: usize, key: &[u8], sub: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + key.len() + sub.len());
    encode_key_into(&mut out, slot, key, sub);
    out
}

/// Appends an encoded record key to `out`.
fn encode_key_into(out: &mut Vec<u8>, slot: usize, key: &[u8], sub: &[u8]) {
    // Slots are < 256 (`SLOTS` in mod.rs).
    out.push(slot as u8);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(sub);
}

/// Decodes a record key into (slot, user key, sub-key).
pub(crate) fn decode_key(raw: &[u8]) -> Option<(usize, &[u8], &[u8])> {
    let slot = usize::from(*raw.first()?);
    let len_bytes: [u8; 4] = raw.get(1..5)?.try_into().ok()?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let key = raw.get(5..5usize.checked_add(len)?)?;
    let sub = &raw[5 + len..];
    Some((slot, key, sub))
}

/// A list sequence number as 8 bytes that sort like the signed value.
pub(crate) fn encode_seq(seq: i64) -> [u8; 8] {
    ((seq as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`encode_seq`].
pub(crate) fn decode_seq(sub: &[u8]) -> Option<i64> {
    let b: [u8; 8] = sub.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

impl Journal {
    /// Appends a record key to the buffer; returns its range.
    fn key(&mut self, slot: usize, key: &[u8], sub: &[u8]) -> std::ops::Range<usize> {
        let start = self.keys.len();
        encode_key_into(&mut self.keys, slot, key, sub);
        start..self.keys.len()
    }

    /// Keeps a record's value: small ones copied, large ones shared.
    fn value(&mut self, value: &Bytes) -> PendingValue {
        if value.len() <= COPY_VALUE_MAX {
            self.copied(value)
        } else {
            PendingValue::Shared(value.clone())
        }
    }

    /// Copies a record's value into the buffer.
    fn copied(&mut self, value: &[u8]) -> PendingValue {
        let start = self.keys.len();
        self.keys.extend_from_slice(value);
        PendingValue::Copied(start..self.keys.len())
    }

    /// A pending record's value bytes.
    fn value_of<'a>(&'a self, p: &'a Pending) -> &'a [u8] {
        match &p.value {
            PendingValue::Copied(r) => &self.keys[r.clone()],
            PendingValue::Shared(b) => b,
        }
    }

    /// Whether nothing was logged.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Logs a put record of `at`'s incarnation.
    ///
    /// `_expire_at_ms` is not written: every keyspace record has a zero
    /// storage deadline, so that storage never drops one on its own (the
    /// deadline of a key can change after its records were written); a key's
    /// deadline travels in `TAG_EXPIRE` records only ([`Journal::expire`]),
    /// logged after the records that create the incarnation.
    pub(crate) fn put(
        &mut self,
        tag: u8,
        at: &RecordKey<'_>,
        sub: &[u8],
        _expire_at_ms: u64,
        value: &Bytes,
        fix: FixTarget,
    ) {
        let value = self.value(value);
        self.put_value(tag, at, sub, value, fix);
    }

    /// [`Journal::put`] of a value already kept.
    fn put_value(
        &mut self,
        tag: u8,
        at: &RecordKey<'_>,
        sub: &[u8],
        value: PendingValue,
        fix: FixTarget,
    ) {
        // The fix finds its entry again by the record key (slot, key,
        // generation), read back from `keys` at settle: no key clone here.
        let fix = match fix {
            FixTarget::None => None,
            t => Some(t),
        };
        let key = self.key(at.slot, at.key, sub);
        self.pending.push(Pending {
            kind: RecordKind::Put,
            tag,
            gen: at.gen,
            expire_at_ms: 0,
            key,
            value,
            fix,
            dead: false,
            predicted: None,
        });
    }

    /// [`Journal::put`], foretelling the record's location when it is the
    /// first of the journal: the caller stores the answer in the value as
    /// its location, and settle leaves it alone when the append put the
    /// record there (one record, nothing appended in between, no rotation)
    /// and fixes it as usual otherwise. Saves settle's second lookup of
    /// the key (and of the member) on the common path.
    ///
    /// Until settle, a wrong forecast (the journal got more records, or
    /// the file rotated) is only ever read if the same command discards the
    /// value again: that counts its length as dead bytes in the forecast
    /// file, where otherwise (no location yet) nothing would be counted.
    pub(crate) fn put_predicted(
        &mut self,
        tag: u8,
        at: &RecordKey<'_>,
        sub: &[u8],
        value: &Bytes,
        fix: FixTarget,
    ) -> Option<Location> {
        let value = self.value(value);
        self.put_value(tag, at, sub, value, fix);
        self.predict()
    }

    /// [`Journal::put`] of a string value (a short one is copied from its
    /// place in the entry).
    pub(crate) fn put_str(
        &mut self,
        tag: u8,
        at: &RecordKey<'_>,
        sub: &[u8],
        data: &StrData,
        fix: FixTarget,
    ) {
        let value = match data {
            StrData::Heap(b) => self.value(b),
            short => self.copied(short),
        };
        self.put_value(tag, at, sub, value, fix);
    }

    /// [`Journal::put`] of a short value, copied.
    pub(crate) fn put_copied(
        &mut self,
        tag: u8,
        at: &RecordKey<'_>,
        sub: &[u8],
        value: &[u8],
        fix: FixTarget,
    ) {
        let value = self.copied(value);
        self.put_value(tag, at, sub, value, fix);
    }

    /// [`Journal::put_predicted`] of a string value.
    pub(crate) fn put_str_predicted(
        &mut self,
        tag: u8,
        at: &RecordKey<'_>,
        data: &StrData,
        fix: FixTarget,
    ) -> Option<Location> {
        self.put_str(tag, at, &[], data, fix);
        self.predict()
    }

    /// The location the journal's only record will get, noted in it.
    fn predict(&mut self) -> Option<Location> {
        let (file_id, offset) = self.tail?;
        let [p] = self.pending.as_mut_slice() else {
            return None;
        };
        let value_len = match &p.value {
            PendingValue::Copied(r) => r.len(),
            PendingValue::Shared(b) => b.len(),
        };
        let len = crate::storage::record_len(p.key.len(), value_len, p.gen, p.expire_at_ms);
        let loc = Location {
            file_id,
            offset,
            len: u32::try_from(len).ok()?,
        };
        p.predicted = Some(loc);
        Some(loc)
    }

    /// Logs a delete record (of a key, an element, a member): dead from birth.
    pub(crate) fn delete(&mut self, tag: u8, at: &RecordKey<'_>, sub: &[u8]) {
        let key = self.key(at.slot, at.key, sub);
        self.pending.push(Pending {
            kind: RecordKind::Delete,
            tag,
            gen: at.gen,
            expire_at_ms: 0,
            key,
            value: PendingValue::Copied(0..0),
            fix: None,
            dead: true,
            predicted: None,
        });
    }

    /// Logs a new deadline for `at`'s incarnation (0 = none), in the
    /// record key (the storage deadline stays 0, see [`Journal::put`]).
    pub(crate) fn expire(&mut self, at: &RecordKey<'_>, expire_at_ms: u64) {
        let key = self.key(at.slot, at.key, &expire_at_ms.to_be_bytes());
        self.push_empty(TAG_EXPIRE, at.gen, key, false);
    }

    /// Logs that `to.gen`'s incarnation, named `from_key` in slot
    /// `from_slot`, is now named `to.key` in slot `to.slot` (RENAME, MOVE).
    pub(crate) fn rename(&mut self, to: &RecordKey<'_>, from_slot: usize, from_key: &[u8]) {
        let mut sub = Vec::with_capacity(1 + from_key.len());
        sub.push(u8::try_from(from_slot).expect("slots fit a byte"));
        sub.extend_from_slice(from_key);
        let key = self.key(to.slot, to.key, &sub);
        self.push_empty(TAG_RENAME, to.gen, key, false);
    }

    /// Logs a database-level record (FLUSH, SWAPDB) with a raw key.
    pub(crate) fn control(&mut self, tag: u8, gen: u64, raw_key: Vec<u8>, dead: bool) {
        let start = self.keys.len();
        self.keys.extend_from_slice(&raw_key);
        let key = start..self.keys.len();
        self.push_empty(tag, gen, key, dead);
    }

    /// Queues a record without a value whose key is already in `keys`: a
    /// put, or a delete (dead from birth) if `dead`.
    fn push_empty(&mut self, tag: u8, gen: u64, key: std::ops::Range<usize>, dead: bool) {
        self.pending.push(Pending {
            kind: if dead {
                RecordKind::Delete
            } else {
                RecordKind::Put
            },
            tag,
            gen,
            expire_at_ms: 0,
            key,
            value: PendingValue::Copied(0..0),
            fix: None,
            dead,
            predicted: None,
        });
    }

    /// Logs a raw record (snapshot import, replication metadata).
    pub(crate) fn raw(
        &mut self,
        kind: RecordKind,
        tag: u8,
        gen: u64,
        expire_at_ms: u64,
        key: Vec<u8>,
        value: Bytes,
    ) {
        self.has_functions |= tag == TAG_FUNCTIONS;
        let start = self.keys.len();
        self.keys.extend_from_slice(&key);
        let key = start..self.keys.len();
        self.pending.push(Pending {
            kind,
            tag,
            gen,
            expire_at_ms,
            key,
            value: PendingValue::Shared(value),
            fix: None,
            dead: kind == RecordKind::Delete,
            predicted: None,
        });
    }

    /// A pending record as storage wants it.
    fn record_of<'a>(&'a self, p: &'a Pending) -> RecordRef<'a> {
        RecordRef {
            kind: p.kind,
            tag: p.tag,
            gen: p.gen,
            expire_at_ms: p.expire_at_ms,
            key: &self.keys[p.key.clone()],
            value: self.value_of(p),
        }
    }

    /// The only record, when there is exactly one (no Vec needed).
    pub(crate) fn single(&self) -> Option<RecordRef<'_>> {
        match self.pending.as_slice() {
            [p] => Some(self.record_of(p)),
            _ => None,
        }
    }

    /// Calls `f` with each record, in order, until it fails.
    pub(crate) fn try_each_record<E>(
        &self,
        mut f: impl FnMut(&RecordRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.pending.iter().try_for_each(|p| f(&self.record_of(p)))
    }

    /// The positions (in append order) of the pending records of `tag`.
    pub(crate) fn positions_of(&self, tag: u8) -> impl Iterator<Item = usize> + '_ {
        self.pending
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.tag == tag)
            .map(|(i, _)| i)
    }

    /// The records as storage wants them, made as they are walked (no
    /// vector of them: a replicated group holds thousands).
    pub(crate) fn records(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + Clone + '_ {
        self.pending.iter().map(|p| self.record_of(p))
    }

    /// After the append: for each record, `fix(slot, key, sub, gen, target,
    /// loc)` when it has a
    /// target, `dead(loc)` when it is dead from birth. Empties the journal.
    pub(crate) fn settle(
        &mut self,
        locations: &[Location],
        mut fix: impl FnMut(usize, &[u8], &[u8], u64, &FixTarget, Location),
        mut dead: impl FnMut(Location),
    ) {
        let single = self.pending.len() == 1 && locations.len() == 1;
        for (p, loc) in self.pending.drain(..).zip(locations) {
            if let Some(target) = &p.fix {
                let foretold = single && p.predicted == Some(*loc);
                if !foretold {
                    if let Some((slot, key, sub)) = decode_key(&self.keys[p.key.clone()]) {
                        fix(slot, key, sub, p.gen, target, *loc);
                    }
                }
            }
            if p.dead {
                dead(*loc);
            }
        }
        self.tail = match locations {
            [one] if single => Some((one.file_id, one.offset + u64::from(one.len))),
            _ => None,
        };
        self.keys.clear();
        self.has_functions = false;
        self.trim();
    }

    /// Drops everything logged (the append failed).
    pub(crate) fn clear(&mut self) {
        self.has_functions = false;
        self.pending.clear();
        self.keys.clear();
        self.tail = None;
        self.trim();
    }

    /// Gives back the memory of an unusually big command (the journal is
    /// kept between commands).
    fn trim(&mut self) {
        const KEEP: usize = 64 * 1024;
        if self.keys.capacity() > KEEP {
            self.keys = Vec::new();
        }
        if self.pending.capacity() > KEEP / 64 {
            self.pending = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_seq_order() {
        let raw = encode_key(3, b"a\r\n\0\xff", b"sub");
        assert_eq!(
            decode_key(&raw),
            Some((3, &b"a\r\n\0\xff"[..], &b"sub"[..]))
        );
        assert_eq!(decode_key(&raw[..4]), None);
        assert_eq!(decode_key(&raw[..7]), None);
        let seqs = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in seqs.windows(2) {
            assert!(encode_seq(w[0]) < encode_seq(w[1]));
        }
        for s in seqs {
            assert_eq!(decode_seq(&encode_seq(s)), Some(s));
        }
    }
}
