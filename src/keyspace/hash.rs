//! The Hash family: HSET HSETNX HGET HMSET HMGET HGETALL HDEL HEXISTS HLEN
//! HKEYS HVALS HINCRBY HINCRBYFLOAT HSTRLEN HRANDFIELD HSCAN.
//!
//! A hash keeps field -> (value, location of the field's record). Each write
//! of a field appends one record (`TAG_HASH_FIELD`, sub-key = field, value =
//! the value), each removal one `TAG_HASH_REM` record. Merge keeps a field
//! record iff it is the field's current record (same generation, same
//! location). Values are kept in memory (see docs/storage-format.md, "Hash,
//! set, zset records", for why and what it costs): a small hash packed in
//! a [`SmallHash`] (Redis's listpack limits), a bigger one in a table.

use bytes::Bytes;

use super::db::{Db, Entry};
use super::journal::{FixTarget, Journal, RecordKey, TAG_HASH_FIELD, TAG_HASH_REM};
use super::members::{self, DeadTally};
use super::notify::HASH;
use super::replay::{incarnation, Load};
use super::scanmap::{self, ScanMap};
use super::smallhash::SmallHash;
use super::value::{SlimLoc, StrData, Value};
use super::Exec;
use crate::command::args::{self, err, int_arg, is, parse_f64, parse_i64};
use crate::command::table::cmd;
use crate::command::{Bulks, Piece};
use crate::command::{Command, Reply};
use crate::storage::{Location, RecordKind, ReplayEntry};

/// The hash commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("hset", -4, [write, denyoom, fast], (1, 1, 1), "hash", "Creates or modifies the value of a field in a hash.", "2.0.0", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", hset),
    cmd!("hsetnx", 4, [write, denyoom, fast], (1, 1, 1), "hash", "Sets the value of a field in a hash only when the field doesn't exist.", "2.0.0", "O(1)", hsetnx),
    cmd!("hget", 3, [readonly, fast], (1, 1, 1), "hash", "Returns the value of a field in a hash.", "2.0.0", "O(1)", hget),
    cmd!("hmset", -4, [write, denyoom, fast], (1, 1, 1), "hash", "Sets the values of multiple fields.", "2.0.0", "O(N) where N is the number of fields being set.", hmset),
    cmd!("hmget", -3, [readonly, fast], (1, 1, 1), "hash", "Returns the values of all fields in a hash.", "2.0.0", "O(N) where N is the number of fields being requested.", hmget),
    cmd!("hgetall", 2, [readonly], (1, 1, 1), "hash", "Returns all fields and values in a hash.", "2.0.0", "O(N) where N is the size of the hash.", hgetall),
    cmd!("hdel", -3, [write, fast], (1, 1, 1), "hash", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "2.0.0", "O(N) where N is the number of fields to be removed.", hdel),
    cmd!("hexists", 3, [readonly, fast], (1, 1, 1), "hash", "Determines whether a field exists in a hash.", "2.0.0", "O(1)", hexists),
    cmd!("hlen", 2, [readonly, fast], (1, 1, 1), "hash", "Returns the number of fields in a hash.", "2.0.0", "O(1)", hlen),
    cmd!("hkeys", 2, [readonly], (1, 1, 1), "hash", "Returns all fields in a hash.", "2.0.0", "O(N) where N is the size of the hash.", hkeys),
    cmd!("hvals", 2, [readonly], (1, 1, 1), "hash", "Returns all values in a hash.", "2.0.0", "O(N) where N is the size of the hash.", hvals),
    cmd!("hincrby", 4, [write, denyoom, fast], (1, 1, 1), "hash", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "2.0.0", "O(1)", hincrby),
    cmd!("hincrbyfloat", 4, [write, denyoom, fast], (1, 1, 1), "hash", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "2.6.0", "O(1)", hincrbyfloat),
    cmd!("hstrlen", 3, [readonly, fast], (1, 1, 1), "hash", "Returns the length of the value of a field.", "3.2.0", "O(1)", hstrlen),
    cmd!("hrandfield", -2, [readonly, random], (1, 1, 1), "hash", "Returns one or more random fields from a hash.", "6.2.0", "O(N) where N is the number of fields returned", hrandfield),
    cmd!("hscan", -3, [readonly, random], (1, 1, 1), "hash", "Iterates over fields and values of a hash.", "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", hscan),
];

/// One field's value and record, in a hash kept as a table.
pub(crate) struct Field {
    value: StrData,
    loc: SlimLoc,
}

/// A Hash value: compact while it is small (Redis's listpack encoding),
/// a table once it is not (sticky, as in Redis).
pub(crate) enum HashData {
    /// At most 512 fields, none and no value over 64 bytes.
    Small(SmallHash),
    /// Any hash.
    Table(ScanMap<Field>),
}

impl Default for HashData {
    fn default() -> Self {
        HashData::Small(SmallHash::default())
    }
}

super::value::boxed_value!(
    /// The value as the keyspace holds it (see `boxed_value`).
    HashValue => HashData
);

/// A field's value where the hash keeps it.
#[derive(Clone, Copy)]
pub(crate) enum Val<'a> {
    /// In a small hash's bytes.
    Bytes(&'a [u8]),
    /// In a table's field.
    Data(&'a StrData),
}

impl<'a> Val<'a> {
    /// The value's bytes, where the hash keeps them.
    pub(crate) fn bytes(self) -> &'a [u8] {
        match self {
            Val::Bytes(b) => b,
            Val::Data(d) => d,
        }
    }

    /// The value for a reply: a short one copied into its block, a long
    /// one kept in a `Bytes` shared as it is.
    pub(crate) fn piece(self) -> Piece<'a> {
        match self {
            Val::Data(StrData::Heap(b)) => Piece::Share(b.clone()),
            v => Piece::Copy(v.bytes()),
        }
    }

    /// The bytes [`Val::piece`] copies (0 for a value it shares).
    pub(crate) fn copied_len(self) -> usize {
        match self {
            Val::Data(StrData::Heap(_)) => 0,
            v => v.bytes().len(),
        }
    }

    /// The value, as a reply carries it (a long one shared, not copied).
    pub(crate) fn to_bytes(self) -> Bytes {
        match self {
            Val::Bytes(b) => Bytes::copy_from_slice(b),
            Val::Data(d) => d.to_bytes(),
        }
    }
}

impl std::ops::Deref for Val<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

impl HashValue {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        match &**self {
            HashData::Small(s) => s.len(),
            HashData::Table(t) => t.len(),
        }
    }

    /// Whether the hash has no field.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What OBJECT ENCODING answers.
    pub(crate) fn encoding(&self) -> &'static str {
        match &**self {
            HashData::Small(_) => "listpack",
            HashData::Table(_) => "hashtable",
        }
    }

    /// Every field and its value, in the hash's order.
    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], Val<'_>)> + '_> {
        match &**self {
            HashData::Small(s) => Box::new(s.iter().map(|e| (e.name, Val::Bytes(e.value)))),
            HashData::Table(t) => {
                Box::new(t.iter().map(|(k, f)| (k.as_bytes(), Val::Data(&f.value))))
            }
        }
    }

    /// The value of `field`.
    pub(crate) fn get(&self, field: &[u8]) -> Option<Val<'_>> {
        match &**self {
            HashData::Small(s) => s.get(field).map(|e| Val::Bytes(e.value)),
            HashData::Table(t) => t.get(field).map(|f| Val::Data(&f.value)),
        }
    }

    /// `n` distinct fields and their values (all if there are fewer),
    /// picked by the draw `r` from the fields alone (see `ScanMap::pick`).
    fn pick(&self, r: u64, n: usize) -> Vec<(&[u8], Val<'_>)> {
        match &**self {
            HashData::Small(s) => s
                .pick(r, n)
                .into_iter()
                .map(|e| (e.name, Val::Bytes(e.value)))
                .collect(),
            HashData::Table(t) => t
                .pick(r, n)
                .into_iter()
                .map(|(k, f)| (k.as_bytes(), Val::Data(&f.value)))
                .collect(),
        }
    }

    /// The table, the hash converted to one first if it is small.
    fn table(&mut self) -> &mut ScanMap<Field> {
        if let HashData::Small(s) = &**self {
            let mut t = ScanMap::default();
            for e in s.iter() {
                t.insert(
                    e.name,
                    Field {
                        value: StrData::copy_from(e.value),
                        loc: SlimLoc::new(e.loc),
                    },
                );
            }
            **self = HashData::Table(t);
        }
        match &mut **self {
            HashData::Table(t) => t,
            HashData::Small(_) => unreachable!("converted above"),
        }
    }

    /// Sets a field in memory; returns the location of the record it replaced
    /// (`Some(None)` if the field existed without one yet), `None` if new.
    fn insert(
        &mut self,
        field: &[u8],
        value: StrData,
        loc: Option<Location>,
    ) -> Option<Option<Location>> {
        self.insert_hashed(None, field, value, loc)
    }

    /// Starts loading where `field` belongs in a table into the cache
    /// ([`ScanMap::prefetch`]); its hash for [`HashValue::insert_hashed`].
    /// `None` for a small hash (its bytes are one short block).
    fn prefetch(&self, field: &[u8]) -> Option<u64> {
        match &**self {
            HashData::Small(_) => None,
            HashData::Table(t) => Some(t.prefetch(field)),
        }
    }

    /// [`HashValue::insert`] with the field's hash if
    /// [`HashValue::prefetch`] gave one.
    fn insert_hashed(
        &mut self,
        hash: Option<u64>,
        field: &[u8],
        value: StrData,
        loc: Option<Location>,
    ) -> Option<Option<Location>> {
        if let HashData::Small(s) = &mut **self {
            if let Ok(replaced) = s.insert(field, &value, loc) {
                return replaced;
            }
        }
        let t = self.table();
        let hash = hash.unwrap_or_else(|| scanmap::order_hash(field));
        if let Some(f) = t.get_mut_hashed(hash, field) {
            f.value = value;
            return Some(std::mem::replace(&mut f.loc, SlimLoc::new(loc)).get());
        }
        t.insert_hashed(
            hash,
            field,
            Field {
                value,
                loc: SlimLoc::new(loc),
            },
        );
        None
    }

    /// Removes a field; returns its record's location (`Some(None)` if it
    /// had none yet), `None` if it was absent.
    fn remove(&mut self, field: &[u8]) -> Option<Option<Location>> {
        match &mut **self {
            HashData::Small(s) => s.remove(field),
            HashData::Table(t) => t.remove(field).map(|f| f.loc.get()),
        }
    }

    /// Every record location holding part of the value.
    pub(crate) fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        match &**self {
            HashData::Small(s) => s.iter().filter_map(|e| e.loc).for_each(f),
            HashData::Table(t) => t.values().filter_map(|v| v.loc.get()).for_each(f),
        }
    }

    /// Appends the records that recreate the value under `at`.
    pub(crate) fn rewrite(&self, at: &RecordKey<'_>, _expire_at_ms: u64, journal: &mut Journal) {
        match &**self {
            HashData::Small(s) => {
                for e in s.iter() {
                    journal.put_copied(TAG_HASH_FIELD, at, e.name, e.value, FixTarget::Sub);
                }
            }
            HashData::Table(t) => {
                for (name, f) in t.iter() {
                    journal.put_str(
                        TAG_HASH_FIELD,
                        at,
                        name.as_bytes(),
                        &f.value,
                        FixTarget::Sub,
                    );
                }
            }
        }
    }

    /// A deep copy without locations.
    pub(crate) fn duplicate(&self) -> Self {
        let mut copy = HashValue::default();
        match &**self {
            HashData::Small(s) => {
                for e in s.iter() {
                    copy.insert(e.name, StrData::copy_from(e.value), None);
                }
            }
            HashData::Table(t) => {
                *copy = HashData::Table(t.map_values(|f| Field {
                    value: f.value.clone(),
                    loc: SlimLoc::None,
                }));
            }
        }
        copy
    }

    /// Stores `loc` as `name`'s record location, if the field is present
    /// and (with `only_if`) its record is that one.
    fn store_location(&mut self, name: &[u8], only_if: Option<Location>, loc: Location) {
        if let HashData::Small(s) = &mut **self {
            if s.set_loc(name, only_if, loc).is_ok() {
                return;
            }
        }
        if let Some(f) = self.table().get_mut(name) {
            if only_if.is_none() || f.loc.get() == only_if {
                f.loc = SlimLoc::new(Some(loc));
            }
        }
    }

    /// Stores the location of a record just appended (`sub`: its sub-key,
    /// the field's name).
    pub(crate) fn set_location(&mut self, target: &FixTarget, sub: &[u8], loc: Location) {
        let name = match target {
            FixTarget::Member(name) => name.as_ref(),
            FixTarget::Sub => sub,
            _ => return,
        };
        self.store_location(name, None, loc);
    }

    /// Whether the record at `loc` with sub-key `sub` is still live.
    pub(crate) fn is_live(&self, sub: &[u8], loc: Location) -> bool {
        match &**self {
            HashData::Small(s) => s.get(sub).is_some_and(|e| e.loc == Some(loc)),
            HashData::Table(t) => t.get(sub).is_some_and(|f| f.loc.get() == Some(loc)),
        }
    }

    /// Merge moved a live record from `old` to `new`.
    pub(crate) fn relocate(&mut self, sub: &[u8], old: Location, new: Location) {
        self.store_location(sub, Some(old), new);
    }

    /// Stores bytes read at recovery for a record that came from a hint file.
    pub(crate) fn fill(&mut self, target: &FixTarget, loc: Location, bytes: Bytes) {
        if let FixTarget::Member(name) = target {
            if self.is_live(name, loc) {
                self.insert(name, bytes.into(), Some(loc));
            }
        }
    }
}

/// Applies one replayed record of this family.
pub(crate) fn replay(
    db: &mut Db,
    slot: usize,
    key: &[u8],
    sub: &[u8],
    e: &ReplayEntry<'_>,
    loads: &mut Vec<Load>,
) -> Result<(), String> {
    if e.kind == RecordKind::Delete || e.tag == TAG_HASH_REM {
        let now_empty = match db.get_mut(key) {
            Some(entry) if entry.gen == e.gen => match &mut entry.value {
                Value::Hash(h) => {
                    h.remove(sub);
                    h.is_empty()
                }
                _ => false,
            },
            _ => false,
        };
        if now_empty {
            db.remove(key);
        }
        return Ok(());
    }
    let Some(entry) = incarnation(db, key, e.gen, e.expire_at_ms, || {
        Value::Hash(HashValue::default())
    }) else {
        return Ok(());
    };
    let Value::Hash(h) = &mut entry.value else {
        return Err("hash record for a key of another type".to_owned());
    };
    let value = e.value.map(StrData::copy_from).unwrap_or_default();
    h.insert(sub, value, Some(e.location));
    if e.value.is_none() {
        loads.push(Load {
            slot,
            key: Bytes::copy_from_slice(key),
            gen: e.gen,
            target: FixTarget::Member(Bytes::copy_from_slice(sub)),
            loc: e.location,
        });
    }
    Ok(())
}

/// The hash at `key` (lazy expiry): `Ok(None)` if absent, WRONGTYPE if another type.
pub(crate) fn get<'e>(
    ex: &'e mut Exec<'_>,
    key: &[u8],
) -> Result<Option<&'e mut HashValue>, Reply> {
    match ex.entry(key) {
        None => Ok(None),
        Some(Entry {
            value: Value::Hash(h),
            ..
        }) => Ok(Some(h)),
        Some(_) => Err(err(args::WRONGTYPE)),
    }
}

/// Writes field/value pairs into the hash at `key` (created if absent; the
/// caller checked the type), one record each. Returns how many were new.
pub(crate) fn write(ex: &mut Exec<'_>, key: &Bytes, pairs: &[(&Bytes, &Bytes)]) -> usize {
    let slot = ex.slot();
    if ex.st.dbs[slot].get(key).is_none() {
        ex.replace_in(ex.db, key, Value::Hash(HashValue::default()), 0);
    }
    let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
        return 0;
    };
    let (added, dead) = write_into(entry, ex.journal, slot, key, pairs);
    written(ex, key, &dead);
    added
}

/// Writes field/value pairs into the hash `entry` (of `key` in `slot`),
/// one record each. Returns how many fields were new and the records the
/// others replaced.
fn write_into(
    entry: &mut Entry,
    journal: &mut Journal,
    slot: usize,
    key: &Bytes,
    pairs: &[(&Bytes, &Bytes)],
) -> (usize, DeadTally) {
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let mut added = 0;
    let mut dead = DeadTally::default();
    let Value::Hash(h) = &mut entry.value else {
        return (added, dead);
    };
    for (field, value) in pairs {
        // The field's slot in a big table is fetched while the record is
        // logged (logged first: its foretold location goes into the field).
        let hash = h.prefetch(field);
        let loc = journal.put_predicted(TAG_HASH_FIELD, &at, field, value, FixTarget::Sub);
        match h.insert_hashed(hash, field, StrData::from_arg(value), loc) {
            None => added += 1,
            Some(Some(old)) => dead.add(old),
            Some(None) => {}
        }
    }
    (added, dead)
}

/// After a write into the hash at `key`: marks the replaced records dead
/// and announces the change.
fn written(ex: &mut Exec<'_>, key: &Bytes, dead: &DeadTally) {
    dead.for_each(&mut |loc| ex.dead(Some(loc)));
    ex.modified(key);
}

/// HSET/HMSET: one lookup checks the type and finds the hash to write
/// into (created when absent). Returns how many fields were new.
fn set_pairs(ex: &mut Exec<'_>, key: &Bytes, pairs: &[(&Bytes, &Bytes)]) -> Result<usize, Reply> {
    let slot = ex.slot();
    let (entry, journal) = ex.entry_and_journal(key);
    match entry {
        Some(e) if !matches!(e.value, Value::Hash(_)) => Err(err(args::WRONGTYPE)),
        Some(e) => {
            let (added, dead) = write_into(e, journal, slot, key, pairs);
            written(ex, key, &dead);
            Ok(added)
        }
        None => Ok(write(ex, key, pairs)),
    }
}

fn pairs_of<'a>(argv: &'a [Bytes], name: &str) -> Result<Vec<(&'a Bytes, &'a Bytes)>, Reply> {
    if argv.len() % 2 != 0 {
        return Err(args::arity_error(name));
    }
    Ok(argv[2..].chunks_exact(2).map(|p| (&p[0], &p[1])).collect())
}

fn hset(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    // One pair (the common case) needs no vector.
    let one;
    let many;
    let pairs: &[(&Bytes, &Bytes)] = if let [_, _, f, v] = argv {
        one = [(f, v)];
        &one
    } else {
        many = match pairs_of(argv, "hset") {
            Ok(p) => p,
            Err(e) => return e,
        };
        &many
    };
    match set_pairs(ex, &argv[1], pairs) {
        Ok(added) => {
            ex.notify(HASH, "hset", &argv[1]);
            Reply::Integer(added as i64)
        }
        Err(e) => e,
    }
}

fn hmset(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let pairs = match pairs_of(argv, "hmset") {
        Ok(p) => p,
        Err(e) => return e,
    };
    match set_pairs(ex, &argv[1], &pairs) {
        Ok(_) => {
            ex.notify(HASH, "hset", &argv[1]);
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn hsetnx(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(Some(h)) if h.get(&argv[2]).is_some() => Reply::Integer(0),
        Ok(_) => {
            write(ex, &argv[1], &[(&argv[2], &argv[3])]);
            ex.notify(HASH, "hset", &argv[1]);
            Reply::Integer(1)
        }
    }
}

fn hget(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(h) => h
            .and_then(|h| h.get(&argv[2]).map(Val::to_bytes))
            .map_or(Reply::Nil, Reply::Bulk),
    }
}

fn hmget(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(h) => {
            let h = h.map(|h| &*h);
            Reply::Array(
                argv[2..]
                    .iter()
                    .map(|f| {
                        h.and_then(|h| h.get(f).map(Val::to_bytes))
                            .map_or(Reply::Nil, Reply::Bulk)
                    })
                    .collect(),
            )
        }
    }
}

fn hgetall(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Map(Vec::new()),
        Ok(Some(h)) => {
            // Sized first (a second walk of the fields costs less than
            // growing the block and the lists as they fill).
            let bytes = h.iter().map(|(k, v)| k.len() + v.copied_len()).sum();
            let mut out = Bulks::with_capacity(2 * h.len(), bytes);
            for (k, v) in h.iter() {
                out.copy(k);
                out.piece(v.piece());
            }
            Reply::Map(out.finish_pairs())
        }
    }
}

fn hkeys(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(h)) => Reply::Array(Reply::bulks(h.iter().map(|(k, _)| k))),
    }
}

fn hvals(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(h)) => Reply::Array(Reply::bulks_of(h.iter().map(|(_, v)| v.piece()))),
    }
}

fn hdel(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    match get(ex, key) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(_)) => {}
    }
    let slot = ex.slot();
    let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
        return Reply::Integer(0);
    };
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let Value::Hash(h) = &mut entry.value else {
        return Reply::Integer(0);
    };
    let mut removed = 0;
    let mut dead = DeadTally::default();
    for f in &argv[2..] {
        if let Some(old) = h.remove(f.as_ref()) {
            removed += 1;
            if let Some(loc) = old {
                dead.add(loc);
            }
            ex.journal.delete(TAG_HASH_REM, &at, f);
        }
    }
    let empty = h.is_empty();
    dead.for_each(&mut |loc| ex.dead(Some(loc)));
    if removed > 0 {
        ex.notify(HASH, "hdel", key);
    }
    if empty {
        ex.delete_reported(key);
    } else if removed > 0 {
        ex.modified(key);
    }
    Reply::Integer(removed)
}

fn hexists(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(h) => Reply::Integer(i64::from(h.is_some_and(|h| h.get(&argv[2]).is_some()))),
    }
}

fn hlen(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(h) => Reply::Integer(h.map_or(0, |h| h.len()) as i64),
    }
}

fn hstrlen(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(h) => Reply::Integer(h.and_then(|h| h.get(&argv[2])).map_or(0, |v| v.len()) as i64),
    }
}

fn hincrby(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let by = match int_arg(&argv[3]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let current = match get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(h) => match h.and_then(|h| h.get(&argv[2])) {
            None => 0,
            Some(v) => match parse_i64(&v) {
                Some(n) => n,
                None => return err("ERR hash value is not an integer"),
            },
        },
    };
    let Some(new) = current.checked_add(by) else {
        return err(args::OVERFLOW);
    };
    write(ex, &argv[1], &[(&argv[2], &args::int_bytes(new))]);
    ex.notify(HASH, "hincrby", &argv[1]);
    Reply::Integer(new)
}

fn hincrbyfloat(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let by = match args::float_arg(&argv[3]) {
        Ok(v) if v.is_finite() => v,
        Ok(_) => return err("ERR value is NaN or Infinity"),
        Err(e) => return e,
    };
    let current = match get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(h) => match h.and_then(|h| h.get(&argv[2])) {
            None => 0.0,
            Some(v) => match parse_f64(&v) {
                Some(n) => n,
                None => return err("ERR hash value is not a float"),
            },
        },
    };
    let new = current + by;
    if !new.is_finite() {
        return err("ERR increment would produce NaN or Infinity");
    }
    let text = Bytes::from(args::format_float(new));
    write(ex, &argv[1], &[(&argv[2], &text)]);
    ex.notify(HASH, "hincrbyfloat", &argv[1]);
    Reply::Bulk(text)
}

fn hrandfield(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let mut withvalues = false;
    if argv.len() > 4 || (argv.len() == 4 && !is(&argv[3], "withvalues")) {
        return err(args::SYNTAX);
    }
    if argv.len() == 4 {
        withvalues = true;
    }
    let count = match argv.get(2).map(|c| int_arg(c)) {
        None => None,
        Some(Ok(i64::MIN)) => {
            return err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        }
        Some(Ok(c)) if withvalues && c < -(i64::MAX / 2) => {
            return err("ERR value is out of range")
        }
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return e,
    };
    let seed = ex.random();
    let mut draws = Vec::new();
    if let Some(c) = count {
        if c < 0 {
            draws = (0..c.unsigned_abs()).map(|_| ex.random()).collect();
        }
    }
    let h = match get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(None) => {
            return match count {
                None => Reply::Nil,
                Some(_) => Reply::Array(Vec::new()),
            }
        }
        Ok(Some(h)) => h,
    };
    // Content-deterministic picks in O(count) (see `ScanMap::pick`).
    let picked = match count {
        None => {
            return h
                .pick(seed, 1)
                .first()
                .map_or(Reply::Nil, |(k, _)| Reply::Bulk(Bytes::copy_from_slice(k)));
        }
        Some(c) if c >= 0 => h.pick(seed, c as usize),
        Some(_) => draws.iter().flat_map(|&r| h.pick(r, 1)).collect(),
    };
    let mut out = Vec::with_capacity(picked.len() * 2);
    for (k, v) in picked {
        out.push(Reply::Bulk(Bytes::copy_from_slice(k)));
        if withvalues {
            out.push(Reply::Bulk(v.to_bytes()));
        }
    }
    if withvalues {
        Reply::Pairs(out)
    } else {
        Reply::Array(out)
    }
}

fn hscan(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let a = match members::scan_args(argv) {
        Ok(a) => a,
        Err(e) => return e,
    };
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => members::scan_reply(0, Vec::new()),
        Ok(Some(h)) => {
            let mut out = Vec::new();
            let mut add = |k: &[u8], v: Val<'_>| {
                out.push(Reply::Bulk(Bytes::copy_from_slice(k)));
                out.push(Reply::Bulk(v.to_bytes()));
            };
            // A small hash answers in one step, as a listpack does in Redis.
            let next = match &**h {
                HashData::Small(s) => {
                    for e in members::scan_whole(s.iter(), |e| e.name, &a) {
                        add(e.name, Val::Bytes(e.value));
                    }
                    0
                }
                HashData::Table(t) => {
                    let (next, got) = members::scan_map(t, &a);
                    for (k, f) in got {
                        add(k.as_bytes(), Val::Data(&f.value));
                    }
                    next
                }
            };
            members::scan_reply(next, out)
        }
    }
}
