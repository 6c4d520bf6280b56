//! The Set family: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
//! SRANDMEMBER SMOVE SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF
//! SDIFFSTORE SSCAN.
//!
//! A set keeps its members in memory (a hash set of compact [`Member`]s, no
//! per-member location: 24 bytes a slot, see `members.rs`) and writes one
//! record per member added (`TAG_SET_MEMBER`, sub-key = member, empty value)
//! or removed (`TAG_SET_REM`). Dead-byte accounting uses a per-file tally of
//! the set's record bytes instead of per-member locations. Merge keeps a
//! member record iff the member is in the set of the same generation.

use bytes::Bytes;
use hashbrown::HashSet;

use super::scanmap::ScanMap;

use super::db::{Db, Entry};
use super::journal::{FixTarget, Journal, RecordKey, TAG_SET_MEMBER, TAG_SET_REM};
use super::members::{self, record_bytes, FileTally, Member};
use super::notify::SET;
use super::replay::{incarnation, Load};
use super::value::Value;
use super::Exec;
use crate::command::args::{self, err, int_arg, is, parse_i64};
use crate::command::table::cmd;
use crate::command::{Command, Reply};
use crate::storage::{Location, RecordKind, ReplayEntry};

/// The set commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("sadd", -3, [write, denyoom, fast], (1, 1, 1), "set", "Adds one or more members to a set. Creates the key if it doesn't exist.", "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", sadd),
    cmd!("srem", -3, [write, fast], (1, 1, 1), "set", "Removes one or more members from a set. Deletes the set if the last member was removed.", "1.0.0", "O(N) where N is the number of members to be removed.", srem),
    cmd!("smembers", 2, [readonly], (1, 1, 1), "set", "Returns all members of a set.", "1.0.0", "O(N) where N is the set cardinality.", smembers),
    cmd!("sismember", 3, [readonly, fast], (1, 1, 1), "set", "Determines whether a member belongs to a set.", "1.0.0", "O(1)", sismember),
    cmd!("smismember", -3, [readonly, fast], (1, 1, 1), "set", "Determines whether multiple members belong to a set.", "6.2.0", "O(N) where N is the number of elements being checked for membership", smismember),
    cmd!("scard", 2, [readonly, fast], (1, 1, 1), "set", "Returns the number of members in a set.", "1.0.0", "O(1)", scard),
    cmd!("spop", -2, [write, random, fast], (1, 1, 1), "set", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "1.0.0", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", spop),
    cmd!("srandmember", -2, [readonly, random], (1, 1, 1), "set", "Get one or multiple random members from a set", "1.0.0", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", srandmember),
    cmd!("smove", 4, [write, fast], (1, 2, 1), "set", "Moves a member from one set to another.", "1.0.0", "O(1)", smove),
    cmd!("sinter", -2, [readonly], (1, -1, 1), "set", "Returns the intersect of multiple sets.", "1.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", sinter),
    cmd!("sintercard", -3, [readonly], (0, 0, 0), "set", "Returns the number of members of the intersect of multiple sets.", "7.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", sintercard),
    cmd!("sinterstore", -3, [write, denyoom], (1, -1, 1), "set", "Stores the intersect of multiple sets in a key.", "1.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", sinterstore),
    cmd!("sunion", -2, [readonly], (1, -1, 1), "set", "Returns the union of multiple sets.", "1.0.0", "O(N) where N is the total number of elements in all given sets.", sunion),
    cmd!("sunionstore", -3, [write, denyoom], (1, -1, 1), "set", "Stores the union of multiple sets in a key.", "1.0.0", "O(N) where N is the total number of elements in all given sets.", sunionstore),
    cmd!("sdiff", -2, [readonly], (1, -1, 1), "set", "Returns the difference of multiple sets.", "1.0.0", "O(N) where N is the total number of elements in all given sets.", sdiff),
    cmd!("sdiffstore", -3, [write, denyoom], (1, -1, 1), "set", "Stores the difference of multiple sets in a key.", "1.0.0", "O(N) where N is the total number of elements in all given sets.", sdiffstore),
    cmd!("sscan", -3, [readonly, random], (1, 1, 1), "set", "Iterates over members of a set.", "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", sscan),
];

/// Redis 7.0's `set-max-intset-entries`.
const INTSET_MAX: usize = 512;

/// A Set value.
#[derive(Default)]
pub(crate) struct SetData {
    /// The members.
    members: ScanMap<()>,
    /// Record bytes per data file (dead-byte accounting).
    tally: FileTally,
    /// Redis would have left the intset encoding (sticky, as in Redis).
    hashtable: bool,
}

super::value::boxed_value!(
    /// The value as the keyspace holds it (see `boxed_value`).
    SetValue => SetData
);

impl SetValue {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// What OBJECT ENCODING answers (Redis 7.0: intset or hashtable).
    pub(crate) fn encoding(&self) -> &'static str {
        if self.hashtable {
            "hashtable"
        } else {
            "intset"
        }
    }

    /// Whether `m` is a member.
    pub(crate) fn contains(&self, m: &[u8]) -> bool {
        self.members.contains_key(m)
    }

    /// Iterates the members (hash order, see `scanmap.rs`).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.members.keys().map(Member::as_bytes)
    }

    /// The members in numeric order (an intset's order; all are integers).
    fn intset_order(&self) -> Vec<&[u8]> {
        let mut v: Vec<&[u8]> = self.iter().collect();
        v.sort_by_key(|m| parse_i64(m).unwrap_or(0));
        v
    }

    /// Adds a member in memory; true if it was new.
    fn insert(&mut self, m: &[u8]) -> bool {
        if self.members.insert(m, ()).is_some() {
            return false;
        }
        if !self.hashtable && (self.members.len() > INTSET_MAX || parse_i64(m).is_none()) {
            self.hashtable = true;
        }
        true
    }

    /// A set of these members, encoded as Redis would encode a new set.
    fn from_members<'a>(it: impl ExactSizeIterator<Item = &'a [u8]>) -> SetValue {
        let mut s = SetValue::default();
        s.members.reserve(it.len());
        for m in it {
            s.insert(m);
        }
        s
    }

    /// Every record location holding part of the value (per-file sums).
    pub(crate) fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        self.tally.for_each(f);
    }

    /// Appends the records that recreate the value under `at`.
    pub(crate) fn rewrite(&self, at: &RecordKey<'_>, expire_at_ms: u64, journal: &mut Journal) {
        for m in self.members.keys() {
            journal.put(
                TAG_SET_MEMBER,
                at,
                m.as_bytes(),
                expire_at_ms,
                &Bytes::new(),
                FixTarget::Whole,
            );
        }
    }

    /// A deep copy without locations.
    pub(crate) fn duplicate(&self) -> Self {
        SetValue(Box::new(SetData {
            members: self.members.clone(),
            tally: FileTally::default(),
            hashtable: self.hashtable,
        }))
    }

    /// Stores the location of a record just appended.
    pub(crate) fn set_location(&mut self, _target: &FixTarget, loc: Location) {
        self.tally.add(loc);
    }

    /// Whether the record at `loc` with sub-key `sub` is still live.
    pub(crate) fn is_live(&self, sub: &[u8], _loc: Location) -> bool {
        self.members.contains_key(sub)
    }

    /// Merge moved a live record from `old` to `new`.
    pub(crate) fn relocate(&mut self, _sub: &[u8], old: Location, new: Location) {
        self.tally.moved(old, new);
    }

    /// Stores bytes read at recovery (sets have no values to read).
    pub(crate) fn fill(&mut self, _target: &FixTarget, _loc: Location, _bytes: Bytes) {}
}

/// Applies one replayed record of this family.
pub(crate) fn replay(
    db: &mut Db,
    _slot: usize,
    key: &[u8],
    sub: &[u8],
    e: &ReplayEntry<'_>,
    _loads: &mut Vec<Load>,
) -> Result<(), String> {
    if e.kind == RecordKind::Delete || e.tag == TAG_SET_REM {
        let now_empty = match db.get_mut(key) {
            Some(entry) if entry.gen == e.gen => match &mut entry.value {
                Value::Set(s) => {
                    if s.members.remove(sub).is_some() {
                        let size = record_bytes(key, sub.len(), 0);
                        drop(s.tally.take(size));
                    }
                    s.members.is_empty()
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
        Value::Set(SetValue::default())
    }) else {
        return Ok(());
    };
    let Value::Set(s) = &mut entry.value else {
        return Err("set record for a key of another type".to_owned());
    };
    s.insert(sub);
    s.tally.add(e.location);
    Ok(())
}

/// The set at `key` (lazy expiry): `Ok(None)` if absent, WRONGTYPE if another type.
pub(crate) fn get<'e>(ex: &'e mut Exec<'_>, key: &[u8]) -> Result<Option<&'e mut SetValue>, Reply> {
    match ex.entry(key) {
        None => Ok(None),
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => Err(err(args::WRONGTYPE)),
    }
}

/// Adds members to the set at `key` (created if absent), logging one record
/// per new member. The caller checked the type. Returns how many were new.
fn add(ex: &mut Exec<'_>, key: &Bytes, items: &[&[u8]]) -> usize {
    let slot = ex.slot();
    if ex.st.dbs[slot].get(key).is_none() {
        ex.replace_in(ex.db, key, Value::Set(SetValue::default()), 0);
    }
    let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
        return 0;
    };
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let expire = entry.expire_at_ms;
    let Value::Set(s) = &mut entry.value else {
        return 0;
    };
    let mut added = 0;
    for m in items {
        if s.insert(m) {
            added += 1;
            ex.journal.put(
                TAG_SET_MEMBER,
                &at,
                m,
                expire,
                &Bytes::new(),
                FixTarget::Whole,
            );
        }
    }
    if added > 0 {
        ex.modified(key);
    }
    added
}

/// Removes members from the set at `key` (the caller checked the type),
/// logging one record each; deletes the key when it becomes empty.
fn remove(ex: &mut Exec<'_>, key: &Bytes, items: &[&[u8]]) -> usize {
    let slot = ex.slot();
    let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
        return 0;
    };
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let Value::Set(s) = &mut entry.value else {
        return 0;
    };
    let mut removed = 0;
    let mut dead = FileTally::default();
    let mut dead_bytes = 0;
    for m in items {
        if s.members.remove(m).is_some() {
            removed += 1;
            dead_bytes += record_bytes(key, m.len(), 0);
            ex.journal.delete(TAG_SET_REM, &at, m);
        }
    }
    if dead_bytes > 0 {
        dead = s.tally.take(dead_bytes);
    }
    let empty = s.members.is_empty();
    dead.for_each(&mut |loc| ex.dead(Some(loc)));
    if empty {
        ex.delete(key);
    } else if removed > 0 {
        ex.modified(key);
    }
    removed
}

fn sadd(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if let Err(e) = get(ex, &argv[1]) {
        return e;
    }
    let items: Vec<&[u8]> = argv[2..].iter().map(|b| b.as_ref()).collect();
    let added = add(ex, &argv[1], &items);
    if added > 0 {
        ex.notify(SET, "sadd", &argv[1]);
    }
    Reply::Integer(added as i64)
}

fn srem(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Integer(0),
        Ok(Some(_)) => {
            let items: Vec<&[u8]> = argv[2..].iter().map(|b| b.as_ref()).collect();
            let removed = remove(ex, &argv[1], &items);
            if removed > 0 {
                ex.notify_removal(SET, "srem", &argv[1]);
            }
            Reply::Integer(removed as i64)
        }
    }
}

fn bulk_set<'a>(it: impl Iterator<Item = &'a [u8]>) -> Reply {
    Reply::Set(Reply::bulks(it))
}

fn smembers(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Set(Vec::new()),
        Ok(Some(s)) if !s.hashtable => bulk_set(s.intset_order().into_iter()),
        Ok(Some(s)) => bulk_set(s.iter()),
    }
}

fn sismember(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(s) => Reply::Integer(i64::from(s.is_some_and(|s| s.contains(&argv[2])))),
    }
}

fn smismember(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(s) => {
            let s = s.map(|s| &*s);
            Reply::Array(
                argv[2..]
                    .iter()
                    .map(|m| Reply::Integer(i64::from(s.is_some_and(|s| s.contains(m)))))
                    .collect(),
            )
        }
    }
}

fn scard(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(s) => Reply::Integer(s.map_or(0, |s| s.len()) as i64),
    }
}

/// `count` members picked without repetition, content-deterministically
/// (the same on every replica), in O(count): see [`ScanMap::pick`].
fn pick_distinct(s: &SetValue, count: usize, seed: u64) -> Vec<Bytes> {
    s.members
        .pick(seed, count)
        .into_iter()
        .map(|(m, _)| m.to_bytes())
        .collect()
}

fn spop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return err(args::SYNTAX);
    }
    let count = match argv.get(2).map(|c| parse_i64(c).map(usize::try_from)) {
        None => None,
        Some(Some(Ok(c))) => Some(c),
        Some(_) => return err(args::MUST_BE_POSITIVE),
    };
    let seed = ex.random();
    let picked = match get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(None) => {
            return match count {
                None => Reply::Nil,
                Some(_) => Reply::Set(Vec::new()),
            }
        }
        Ok(Some(s)) => pick_distinct(s, count.unwrap_or(1), seed),
    };
    let items: Vec<&[u8]> = picked.iter().map(|b| b.as_ref()).collect();
    remove(ex, &argv[1], &items);
    if count != Some(0) {
        ex.notify_removal(SET, "spop", &argv[1]);
    }
    match count {
        None => picked.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => Reply::Set(picked.into_iter().map(Reply::Bulk).collect()),
    }
}

fn srandmember(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return err(args::SYNTAX);
    }
    let count = match argv.get(2).map(|c| int_arg(c)) {
        None => None,
        Some(Ok(i64::MIN)) => {
            return err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
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
    let s = match get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(None) => {
            return match count {
                None => Reply::Nil,
                Some(_) => Reply::Array(Vec::new()),
            }
        }
        Ok(Some(s)) => s,
    };
    match count {
        None => pick_distinct(s, 1, seed)
            .into_iter()
            .next()
            .map_or(Reply::Nil, Reply::Bulk),
        Some(c) if c >= 0 => Reply::Array(
            pick_distinct(s, c as usize, seed)
                .into_iter()
                .map(Reply::Bulk)
                .collect(),
        ),
        Some(_) => Reply::Array(
            draws
                .iter()
                .flat_map(|&r| s.members.pick(r, 1))
                .map(|(m, _)| Reply::Bulk(m.to_bytes()))
                .collect(),
        ),
    }
}

fn smove(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (src, dst, m) = (&argv[1], &argv[2], &argv[3]);
    let in_src = match get(ex, src) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(s)) => s.contains(m),
    };
    if let Err(e) = get(ex, dst) {
        return e;
    }
    if !in_src {
        return Reply::Integer(0);
    }
    if src == dst {
        return Reply::Integer(1);
    }
    remove(ex, src, &[m]);
    ex.notify_removal(SET, "srem", src);
    if add(ex, dst, &[m]) > 0 {
        ex.notify(SET, "sadd", dst);
    }
    Reply::Integer(1)
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Checks the inputs of SINTER & co as Redis does, before any is read: a
/// read counted for each, then WRONGTYPE (which wins over a missing key).
fn check_inputs(ex: &mut Exec<'_>, keys: &[Bytes]) -> Result<(), Reply> {
    for k in keys {
        ex.count_read(k);
        get(ex, k)?;
    }
    Ok(())
}

/// The members of the intersection / union / difference of the sets at
/// `keys` (checked by [`check_inputs`]), where the sets keep them. An
/// intersection stops after `limit` members (0: no limit).
fn combined<'a>(db: &'a Db, keys: &[Bytes], op: Op, limit: usize) -> Vec<&'a [u8]> {
    let sets: Vec<Option<&SetValue>> = keys
        .iter()
        .map(|k| match db.get(k).map(|e| &e.value) {
            Some(Value::Set(s)) => Some(s),
            _ => None,
        })
        .collect();
    match op {
        Op::Inter => {
            let Some(mut sets) = sets.into_iter().collect::<Option<Vec<&SetValue>>>() else {
                return Vec::new();
            };
            sets.sort_by_key(|s| s.len());
            let Some((first, rest)) = sets.split_first() else {
                return Vec::new();
            };
            let common = first.iter().filter(|m| rest.iter().all(|s| s.contains(m)));
            match limit {
                0 => common.collect(),
                n => common.take(n).collect(),
            }
        }
        Op::Union => {
            let mut seen: HashSet<&[u8]> = HashSet::new();
            for s in sets.iter().flatten() {
                seen.extend(s.iter());
            }
            seen.into_iter().collect()
        }
        Op::Diff => match sets.split_first() {
            Some((Some(first), rest)) => first
                .iter()
                .filter(|m| !rest.iter().flatten().any(|s| s.contains(m)))
                .collect(),
            _ => Vec::new(),
        },
    }
}

fn combine_reply(ex: &mut Exec<'_>, argv: &[Bytes], op: Op) -> Reply {
    let keys = &argv[1..];
    if let Err(e) = check_inputs(ex, keys) {
        return e;
    }
    Reply::Set(Reply::bulks(combined(ex.db_mut(), keys, op, 0)))
}

/// Stores `members` as a new set at `dst` (deleting `dst` when empty).
pub(crate) fn store<M: AsRef<[u8]>>(ex: &mut Exec<'_>, dst: &Bytes, members: &[M]) -> usize {
    if members.is_empty() {
        ex.delete(dst);
        return 0;
    }
    let value = SetValue::from_members(members.iter().map(|m| m.as_ref()));
    let n = value.len();
    let at = ex.replace_in(ex.db, dst, Value::Set(value), 0);
    for m in members {
        ex.journal.put(
            TAG_SET_MEMBER,
            &at,
            m.as_ref(),
            0,
            &Bytes::new(),
            FixTarget::Whole,
        );
    }
    n
}

fn combine_store(ex: &mut Exec<'_>, argv: &[Bytes], op: Op) -> Reply {
    let dst = &argv[1];
    let keys = &argv[2..];
    if let Err(e) = check_inputs(ex, keys) {
        return e;
    }
    // Copied into one block: the store writes the database the members
    // are read from (`dst` may be an input).
    let mut block = Vec::new();
    let mut spans = Vec::new();
    for m in combined(ex.db_mut(), keys, op, 0) {
        spans.push(block.len()..block.len() + m.len());
        block.extend_from_slice(m);
    }
    let members: Vec<&[u8]> = spans.into_iter().map(|r| &block[r]).collect();
    if members.is_empty() {
        ex.delete_reported(dst);
        return Reply::Integer(0);
    }
    let n = store(ex, dst, &members);
    let event = match op {
        Op::Inter => "sinterstore",
        Op::Union => "sunionstore",
        Op::Diff => "sdiffstore",
    };
    ex.notify(SET, event, dst);
    Reply::Integer(n as i64)
}

fn sinter(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine_reply(ex, argv, Op::Inter)
}

fn sunion(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine_reply(ex, argv, Op::Union)
}

fn sdiff(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine_reply(ex, argv, Op::Diff)
}

fn sinterstore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine_store(ex, argv, Op::Inter)
}

fn sunionstore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine_store(ex, argv, Op::Union)
}

fn sdiffstore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine_store(ex, argv, Op::Diff)
}

/// Parses `numkeys key [key ...]` starting at argv\[at\]: the keys and the
/// index after them (Redis's texts for SINTERCARD, ZUNION, ZMPOP, ...).
pub(crate) fn numkeys(argv: &[Bytes], at: usize) -> Result<(&[Bytes], usize), Reply> {
    let n = match parse_i64(&argv[at]) {
        Some(n) if n > 0 => n,
        _ => return Err(err("ERR numkeys should be greater than 0")),
    };
    let n = n as usize;
    let first = at + 1;
    if n > argv.len() - first {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok((&argv[first..first + n], first + n))
}

/// The LIMIT of SINTERCARD / ZINTERCARD: Redis answers "LIMIT can't be
/// negative" for a negative limit and for one that is not an integer.
pub(crate) fn limit_arg(a: &[u8]) -> Result<usize, Reply> {
    match parse_i64(a) {
        Some(l) if l >= 0 => Ok(l as usize),
        _ => Err(err("ERR LIMIT can't be negative")),
    }
}

fn sintercard(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (keys, mut j) = match numkeys(argv, 1) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut limit = 0usize;
    while j < argv.len() {
        if is(&argv[j], "limit") && j + 1 < argv.len() {
            match limit_arg(&argv[j + 1]) {
                Ok(l) => limit = l,
                Err(e) => return e,
            }
            j += 2;
        } else {
            return err(args::SYNTAX);
        }
    }
    if let Err(e) = check_inputs(ex, keys) {
        return e;
    }
    Reply::Integer(combined(ex.db_mut(), keys, Op::Inter, limit).len() as i64)
}

fn sscan(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let a = match members::scan_args(argv) {
        Ok(a) => a,
        Err(e) => return e,
    };
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => members::scan_reply(0, Vec::new()),
        Ok(Some(s)) => {
            let (next, got) = if s.hashtable {
                let (next, got) = members::scan_map(&s.members, &a);
                (next, got.into_iter().map(|(m, _)| m.as_bytes()).collect())
            } else {
                (0, members::scan_whole(s.intset_order(), |m| m, &a))
            };
            members::scan_reply(
                next,
                got.into_iter()
                    .map(|m| Reply::Bulk(Bytes::copy_from_slice(m)))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn collection_values_are_one_pointer() {
        // Every key's entry holds a `Value`: collections must not bloat it.
        assert_eq!(std::mem::size_of::<super::SetValue>(), 8);
        assert_eq!(std::mem::size_of::<super::super::hash::HashValue>(), 8);
        assert_eq!(std::mem::size_of::<super::super::zset::ZSetValue>(), 8);
    }
}
