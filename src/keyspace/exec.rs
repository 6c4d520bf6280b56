//! [`Exec`]: what a command handler sees. It holds the locked state, the
//! command's journal and its context, and offers the operations every family
//! needs: lookup with lazy expiry and type check, generation allocation,
//! replacing and deleting keys (with their records), deadlines, notifying
//! the observer.

use bytes::Bytes;

use super::db::{Db, Entry};
use super::dropper::Dropper;
use super::journal::{FixTarget, Journal, RecordKey, TAG_DEL, TAG_STR};
use super::notify;
use super::value::{StrData, StrForm, StrValue, Value};
use super::State;
use crate::command::{args, Ctx, Reply};

/// The execution context of one command, under the keyspace lock.
pub(crate) struct Exec<'a> {
    /// The command's clock (never the wall clock).
    pub(crate) now_ms: u64,
    /// The selected logical database.
    pub(crate) db: usize,
    /// State of the command's deterministic random generator (splitmix64).
    rng: u64,
    /// The locked state.
    pub(crate) st: &'a mut State,
    /// Where the command's records go.
    pub(crate) journal: &'a mut Journal,
    /// Frees big values off the caller's path.
    dropper: &'a Dropper,
    /// The command is read-only: its lookups count as hits and misses
    /// (INFO `keyspace_hits` / `keyspace_misses`), a miss is a `keymiss`
    /// notification. Set by whoever runs the command.
    pub(crate) reading: bool,
    /// Memory was over `maxmemory` when the command arrived ([`Ctx::oom`]).
    pub(crate) oom: bool,
    /// The first key of the command and its hash, taken (and its slot
    /// prefetched) before the command ran: see [`Exec::hint_key`].
    hint: Option<KeyHint>,
}

/// A key's hash in one database, known for the key's bytes at one address:
/// the command's argument, which stays put and unchanged while the command
/// runs (an `Exec` lives for one command).
struct KeyHint {
    slot: usize,
    ptr: *const u8,
    len: usize,
    hash: u64,
}

impl<'a> Exec<'a> {
    /// A context for one command.
    pub(crate) fn new(
        ctx: &Ctx,
        st: &'a mut State,
        journal: &'a mut Journal,
        dropper: &'a Dropper,
    ) -> Self {
        Exec {
            now_ms: ctx.now_ms,
            db: ctx.db,
            rng: ctx.rng_seed,
            st,
            journal,
            dropper,
            reading: false,
            oom: ctx.oom,
            hint: None,
        }
    }

    /// Hashes `key` in the selected database and starts loading its slot
    /// into the cache, so that the command's first lookup of it (after
    /// parsing its arguments and logging its records) neither hashes it
    /// again nor waits for the slot. `key` must be the very argument the
    /// command will look up (the hint is matched by address).
    pub(crate) fn hint_key(&mut self, key: &[u8]) {
        let slot = self.slot();
        let db = &self.st.dbs[slot];
        let hash = db.hash(key);
        db.prefetch(hash);
        self.hint = Some(KeyHint {
            slot,
            ptr: key.as_ptr(),
            len: key.len(),
            hash,
        });
    }

    /// The hash of `key` in physical slot `slot`: the hint's when it is for
    /// this very key.
    fn key_hash(&self, slot: usize, key: &[u8]) -> u64 {
        match &self.hint {
            Some(h) if h.slot == slot && h.ptr == key.as_ptr() && h.len == key.len() => h.hash,
            _ => self.st.dbs[slot].hash(key),
        }
    }

    /// Longest value a record may carry (APPEND, SETRANGE results).
    pub(crate) fn max_value_len(&self) -> usize {
        self.st.max_value_len
    }

    /// Longest sub-key (hash field, set/zset member, bloom item) a record
    /// key may carry: families check it before mutating.
    pub(crate) fn max_sub_len(&self) -> usize {
        self.st.max_key_len
    }

    /// Number of logical databases.
    pub(crate) fn databases(&self) -> usize {
        self.st.databases
    }

    /// The physical slot of logical database `db`.
    pub(crate) fn slot_of(&self, db: usize) -> usize {
        self.st.slot_of[db]
    }

    /// The physical slot of the selected database.
    pub(crate) fn slot(&self) -> usize {
        self.st.slot_of[self.db]
    }

    /// The selected database, without expiry checks.
    pub(crate) fn db_mut(&mut self) -> &mut Db {
        let slot = self.slot();
        &mut self.st.dbs[slot]
    }

    /// A deterministic pseudo-random number (splitmix64 over the Ctx seed).
    pub(crate) fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fresh generation.
    pub(crate) fn new_gen(&mut self) -> u64 {
        let g = self.st.next_gen;
        self.st.next_gen += 1;
        g
    }

    /// The record identity of `key`'s incarnation `gen` in the selected db.
    #[allow(dead_code, reason = "used by the list, hash, set and zset families")]
    pub(crate) fn at<'k>(&self, key: &'k Bytes, gen: u64) -> RecordKey<'k> {
        RecordKey {
            slot: self.slot(),
            key,
            gen,
        }
    }

    /// Tells the observer that `key` of the selected db changed.
    #[allow(dead_code, reason = "used by the list, hash, set and zset families")]
    pub(crate) fn modified(&self, key: &[u8]) {
        self.modified_in(self.db, key);
    }

    /// Tells the observer that `key` of logical db `db` changed.
    pub(crate) fn modified_in(&self, db: usize, key: &[u8]) {
        if let Some(obs) = &self.st.observer {
            obs.key_modified(db, key);
        }
    }

    /// Reports keyspace notification `event` of `class` (a
    /// [`notify`](super::notify) constant) on `key` of the selected db.
    pub(crate) fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.notify_in(self.db, class, event, key);
    }

    /// [`Exec::notify`] for logical db `db`.
    pub(crate) fn notify_in(&self, db: usize, class: u32, event: &str, key: &[u8]) {
        if let Some(obs) = &self.st.observer {
            if obs.event_classes() & class != 0 {
                obs.key_event(db, event, key);
            }
        }
    }

    /// [`Exec::delete`] as a command reports it: `del` when the key
    /// existed. Returns whether it existed.
    pub(crate) fn delete_reported(&mut self, key: &[u8]) -> bool {
        let existed = self.delete(key);
        if existed {
            self.notify(notify::GENERIC, "del", key);
        }
        existed
    }

    /// Reports `event` of `class` on `key` (a removal: LPOP, SREM, ZREM,
    /// LTRIM, ...), then `del` when that emptied, so removed, the key.
    pub(crate) fn notify_removal(&mut self, class: u32, event: &str, key: &[u8]) {
        self.notify(class, event, key);
        if self.db_mut().get(key).is_none() {
            self.notify(notify::GENERIC, "del", key);
        }
    }

    /// Frees a whole database's entries off this thread (FLUSHDB / FLUSHALL).
    pub(crate) fn discard_db(&self, db: Db) {
        self.dropper.discard_db(db);
    }

    /// Frees a value that left the keyspace (big ones off this thread).
    pub(crate) fn discard(&self, value: Value) {
        self.dropper.discard(value, &self.st.dead);
    }

    /// Reports a record that no longer holds live data (a popped element,
    /// an overwritten field) as dead bytes.
    pub(crate) fn dead(&self, loc: Option<crate::storage::Location>) {
        if let Some(loc) = loc {
            self.dropper.mark_dead(loc, &self.st.dead);
        }
    }

    /// Removes `key` from logical db `db` if it is past its deadline
    /// (lazy expiry). No record is written: after a restart the key is
    /// still past its deadline, and merge drops records of absent keys.
    pub(crate) fn expire_if_needed_in(&mut self, db: usize, key: &[u8]) {
        self.expire_and_hash(db, key);
    }

    /// [`Exec::expire_if_needed_in`], returning the physical slot of `db`
    /// and the key's hash there for the lookup that follows.
    fn expire_and_hash(&mut self, db: usize, key: &[u8]) -> (usize, u64) {
        let slot = self.slot_of(db);
        let h = self.key_hash(slot, key);
        let now = self.now_ms;
        let expired = self.st.dbs[slot]
            .get_hashed(h, key)
            .is_some_and(|e| e.expired(now));
        if expired {
            if let Some(entry) = self.st.dbs[slot].remove_hashed(h, key) {
                self.st.lookups.expired += 1;
                self.discard(entry.value);
                self.modified_in(db, key);
                self.notify_in(db, notify::EXPIRED, "expired", key);
            }
        }
        (slot, h)
    }

    /// The live entry of `key` in the selected db (expired keys are removed first).
    pub(crate) fn entry(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.entry_and_journal(key).0
    }

    /// [`Exec::entry`] and the journal, borrowed together: a write that
    /// checks the key's type and then logs its records needs one lookup.
    pub(crate) fn entry_and_journal(&mut self, key: &[u8]) -> (Option<&mut Entry>, &mut Journal) {
        let slot = self.st.slot_of[self.db];
        let h = self.key_hash(slot, key);
        // One hash lookup on the common path: the state's other fields are
        // used beside the entry's borrow (disjoint fields).
        let st = &mut *self.st;
        let found = match st.dbs[slot].get_live_mut_hashed(h, key, self.now_ms) {
            Ok(Some(entry)) => {
                if self.reading {
                    st.lookups.hits += 1;
                }
                return (Some(entry), &mut *self.journal);
            }
            Ok(None) => None,
            Err(old) => Some(old),
        };
        if let Some(old) = found {
            st.lookups.expired += 1;
            self.dropper.discard(old.value, &st.dead);
            if let Some(obs) = &st.observer {
                obs.key_expired(self.db, key);
                if obs.event_classes() & notify::EXPIRED != 0 {
                    obs.key_event(self.db, "expired", key);
                }
            }
        }
        if self.reading {
            st.lookups.misses += 1;
            if let Some(obs) = &st.observer {
                if obs.event_classes() & notify::KEY_MISS != 0 {
                    obs.key_event(self.db, "keymiss", key);
                }
            }
        }
        (None, &mut *self.journal)
    }

    /// Counts a lookup of `key` as a read (hit or miss, `keymiss`) for a
    /// write command that reads it the way Redis's `lookupKeyRead` does
    /// (GETSET's key, the sources of SUNIONSTORE, ...). Nothing for a
    /// read-only command: its own lookups count.
    pub(crate) fn count_read(&mut self, key: &[u8]) {
        if self.reading {
            return;
        }
        self.reading = true;
        self.entry_and_journal(key);
        self.reading = false;
    }

    /// The live entry of `key` in logical db `db`.
    pub(crate) fn entry_in(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let (slot, h) = self.expire_and_hash(db, key);
        self.st.dbs[slot].get_mut_hashed(h, key)
    }

    /// Whether `key` exists (and is not expired) in the selected db.
    pub(crate) fn exists(&mut self, key: &[u8]) -> bool {
        self.entry(key).is_some()
    }

    /// The string at `key`: `Ok(None)` if absent, WRONGTYPE if another type.
    pub(crate) fn get_str(&mut self, key: &[u8]) -> Result<Option<&mut StrValue>, Reply> {
        match self.entry(key) {
            None => Ok(None),
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => Ok(Some(s)),
            Some(_) => Err(args::err(args::WRONGTYPE)),
        }
    }

    /// Deletes `key` from logical db `db`: one DEL record whatever the size
    /// of the value, memory freed off the hot path. Returns whether it existed.
    pub(crate) fn delete_in(&mut self, db: usize, key: &[u8]) -> bool {
        let (slot, h) = self.expire_and_hash(db, key);
        let Some(entry) = self.st.dbs[slot].remove_hashed(h, key) else {
            return false;
        };
        self.journal.delete(
            TAG_DEL,
            &RecordKey {
                slot,
                key,
                gen: entry.gen,
            },
            &[],
        );
        self.discard(entry.value);
        self.modified_in(db, key);
        true
    }

    /// Deletes `key` from the selected db.
    pub(crate) fn delete(&mut self, key: &[u8]) -> bool {
        self.delete_in(self.db, key)
    }

    /// Installs a new incarnation of `key` (fresh generation) in logical db
    /// `db`, replacing whatever was there, and returns its record identity.
    /// The caller logs the records that build the value, in the same command.
    pub(crate) fn replace_in<'k>(
        &mut self,
        db: usize,
        key: &'k Bytes,
        value: Value,
        expire_at_ms: u64,
    ) -> RecordKey<'k> {
        let at = RecordKey {
            slot: self.slot_of(db),
            key,
            gen: self.new_gen(),
        };
        self.replace_as(db, key, at.gen, value, expire_at_ms);
        at
    }

    /// [`Exec::replace_in`] with the generation `gen` chosen by the caller
    /// (a fresh one, or the incarnation's own when RENAME moves it).
    pub(crate) fn replace_as(
        &mut self,
        db: usize,
        key: &Bytes,
        gen: u64,
        value: Value,
        expire_at_ms: u64,
    ) {
        let slot = self.slot_of(db);
        let h = self.key_hash(slot, key);
        let old = self.st.dbs[slot].insert_hashed(
            h,
            key,
            Entry {
                value,
                expire_at_ms,
                gen,
            },
        );
        // Redis's events: an expired old value goes first (its lookup
        // expires it), then a key that did not exist is `new`.
        let expired = old.as_ref().is_some_and(|o| o.expired(self.now_ms));
        let created = old.is_none() || expired;
        if let Some(old) = old {
            self.discard(old.value);
        }
        if expired {
            self.st.lookups.expired += 1;
            self.notify_in(db, notify::EXPIRED, "expired", key);
        }
        if created {
            self.notify_in(db, notify::NEW, "new", key);
        }
        self.modified_in(db, key);
    }

    /// Sets `key` to the string `data` (a new incarnation) with a deadline.
    pub(crate) fn set_string(&mut self, key: &Bytes, data: impl Into<StrData>, expire_at_ms: u64) {
        self.set_string_as(key, data, expire_at_ms, StrForm::Encoded);
    }

    /// [`Exec::set_string`] for a value Redis would encode as `form`.
    pub(crate) fn set_string_as(
        &mut self,
        key: &Bytes,
        data: impl Into<StrData>,
        expire_at_ms: u64,
        form: StrForm,
    ) {
        let data = data.into();
        // The record is logged first (its value copied, or shared when
        // large), so that the value moves into the keyspace without a clone.
        let at = RecordKey {
            slot: self.slot_of(self.db),
            key,
            gen: self.new_gen(),
        };
        let loc = self
            .journal
            .put_str_predicted(TAG_STR, &at, &data, FixTarget::Whole);
        let value = Value::Str(StrValue::written(data, loc, form));
        self.replace_as(self.db, key, at.gen, value, expire_at_ms);
        if expire_at_ms != 0 {
            self.journal.expire(&at, expire_at_ms);
        }
    }

    /// Changes the deadline of an existing `key` in logical db `db` (0 =
    /// persist) and logs it. A deadline in the past deletes the key, as Redis does.
    pub(crate) fn set_expire_in(&mut self, db: usize, key: &[u8], at_ms: u64) {
        if at_ms != 0 && at_ms <= self.now_ms {
            self.delete_in(db, key);
            return;
        }
        let slot = self.slot_of(db);
        let Some(gen) = self.st.dbs[slot].get(key).map(|e| e.gen) else {
            return;
        };
        self.st.dbs[slot].set_expire(key, at_ms);
        self.journal.expire(&RecordKey { slot, key, gen }, at_ms);
        self.modified_in(db, key);
    }

    /// The deadline of a live key in the selected db (0 = none).
    pub(crate) fn expire_of(&mut self, key: &[u8]) -> Option<u64> {
        self.entry(key).map(|e| e.expire_at_ms)
    }
}
