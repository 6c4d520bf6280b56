//! The List family.
//!
//! A list keeps its elements in memory, packed in chunks (a
//! [`QuickList`], as Redis's quicklist), each with a sequence number
//! (`seq`) that orders it and names its record on disk: LPUSH takes the
//! head's seq minus `SEQ_GAP`, RPUSH the tail's plus `SEQ_GAP`, so push and
//! pop are O(1) in memory and one record on disk (`TAG_LIST_ITEM` /
//! `TAG_LIST_REM`). LSET rewrites the
//! element's record (same seq). Pushes space seqs by `SEQ_GAP`, so LINSERT
//! takes the midpoint between two neighbours (one record); only when a gap
//! is used up is the list rewritten as a new incarnation (O(N) records).

use bytes::Bytes;

use super::db::{Db, Entry};
use super::journal::{
    decode_seq, encode_seq, FixTarget, Journal, RecordKey, TAG_LIST_ITEM, TAG_LIST_REM,
};
use super::notify::LIST;
use super::quicklist::QuickList;
use super::replay::{incarnation, Load};
use super::value::Value;
use super::Exec;
use crate::command::args::{self, err, int_arg, is};
use crate::command::table::cmd;
use crate::command::{Command, Reply};
use crate::storage::{Location, RecordKind, ReplayEntry};

/// Distance between the seqs of consecutive pushes: LINSERT takes the
/// midpoint of a gap (one record) and renumbers the list only when a gap is
/// used up (after ~16 inserts at one spot). 2^16 leaves room for 2^47 pushes
/// at each end.
const SEQ_GAP: i64 = 1 << 16;

/// The list commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("lpush", -3, [write, denyoom, fast], (1, 1, 1), "list", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", lpush),
    cmd!("rpush", -3, [write, denyoom, fast], (1, 1, 1), "list", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", rpush),
    cmd!("lpushx", -3, [write, denyoom, fast], (1, 1, 1), "list", "Prepends one or more elements to a list only when the list exists.", "2.2.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", lpushx),
    cmd!("rpushx", -3, [write, denyoom, fast], (1, 1, 1), "list", "Appends an element to a list only when the list exists.", "2.2.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", rpushx),
    cmd!("lpop", -2, [write, fast], (1, 1, 1), "list", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "1.0.0", "O(N) where N is the number of elements returned", lpop),
    cmd!("rpop", -2, [write, fast], (1, 1, 1), "list", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "1.0.0", "O(N) where N is the number of elements returned", rpop),
    cmd!("llen", 2, [readonly, fast], (1, 1, 1), "list", "Returns the length of a list.", "1.0.0", "O(1)", llen),
    cmd!("lrange", 4, [readonly], (1, 1, 1), "list", "Returns a range of elements from a list.", "1.0.0", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", lrange),
    cmd!("lindex", 3, [readonly], (1, 1, 1), "list", "Returns an element from a list by its index.", "1.0.0", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", lindex),
    cmd!("lset", 4, [write, denyoom], (1, 1, 1), "list", "Sets the value of an element in a list by its index.", "1.0.0", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", lset),
    cmd!("lrem", 4, [write], (1, 1, 1), "list", "Removes elements from a list. Deletes the list if the last element was removed.", "1.0.0", "O(N+M) where N is the length of the list and M is the number of elements removed.", lrem),
    cmd!("ltrim", 4, [write], (1, 1, 1), "list", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "1.0.0", "O(N) where N is the number of elements to be removed by the operation.", ltrim),
    cmd!("linsert", 5, [write, denyoom], (1, 1, 1), "list", "Inserts an element before or after another element in a list.", "2.2.0", "O(N) where N is the number of elements to traverse before seeing the value pivot.", linsert),
    cmd!("lpos", -3, [readonly], (1, 1, 1), "list", "Returns the index of matching elements in a list.", "6.0.6", "O(N) where N is the number of elements in the list, for the average case.", lpos),
    cmd!("lmove", 5, [write, denyoom], (1, 2, 1), "list", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "6.2.0", "O(1)", lmove),
    cmd!("rpoplpush", 3, [write, denyoom], (1, 2, 1), "list", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "1.2.0", "O(1)", rpoplpush),
    cmd!("lmpop", -4, [write], (0, 0, 0), "list", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "7.0.0", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", lmpop),
    cmd!("blpop", -3, [write, blocking], (1, -2, 1), "list", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.0.0", "O(N) where N is the number of provided keys.", blpop),
    cmd!("brpop", -3, [write, blocking], (1, -2, 1), "list", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.0.0", "O(N) where N is the number of provided keys.", brpop),
    cmd!("blmove", 6, [write, denyoom, blocking], (1, 2, 1), "list", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "6.2.0", "O(1)", blmove),
    cmd!("brpoplpush", 4, [write, denyoom, blocking], (1, 2, 1), "list", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "2.2.0", "O(1)", brpoplpush),
    cmd!("blmpop", -5, [write, blocking], (0, 0, 0), "list", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "7.0.0", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", blmpop),
];

/// A live list entry: its generation, deadline and elements.
struct ListRef<'e> {
    gen: u64,
    expire: u64,
    list: &'e mut ListValue,
}

/// The list at `key`: `Ok(None)` if absent, WRONGTYPE if another type.
fn get_list<'e>(ex: &'e mut Exec<'_>, key: &[u8]) -> Result<Option<ListRef<'e>>, Reply> {
    match ex.entry(key) {
        None => Ok(None),
        Some(Entry {
            value: Value::List(list),
            gen,
            expire_at_ms,
        }) => Ok(Some(ListRef {
            gen: *gen,
            expire: *expire_at_ms,
            list,
        })),
        Some(_) => Err(err(args::WRONGTYPE)),
    }
}

/// The list of a raw entry (`None` if the entry is another type).
fn list_of(entry: &mut Entry) -> Option<&mut ListValue> {
    match &mut entry.value {
        Value::List(l) => Some(l),
        _ => None,
    }
}

/// Pushes `vals` at the head (`left`) or tail of the list at `key` of the
/// selected db, creating it when absent. Returns the new length.
/// The caller checked that `key` is absent or a list.
pub(crate) fn push(ex: &mut Exec<'_>, key: &Bytes, vals: &[Bytes], left: bool) -> usize {
    let exists = ex.entry(key).is_some();
    if !exists {
        ex.replace_in(ex.db, key, Value::List(ListValue::default()), 0);
    }
    let slot = ex.slot();
    let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
        return 0;
    };
    let (len, full) = push_into(entry, ex.journal, slot, key, vals, left);
    pushed(ex, key, exists, full);
    len
}

/// The event of a push at the head (`left`) or the tail.
fn push_event(left: bool) -> &'static str {
    if left {
        "lpush"
    } else {
        "rpush"
    }
}

/// [`pop`] as a command reports it: the pop event, then `del` if the
/// list is gone (nothing when nothing was popped).
fn pop_notify(ex: &mut Exec<'_>, key: &Bytes, left: bool, n: usize) -> Vec<Bytes> {
    let out = pop(ex, key, left, n);
    if !out.is_empty() {
        popped(ex, key, left);
    }
    out
}

/// Reports a pop from the list at `key`: `lpop` / `rpop`, then `del` if
/// the pop emptied it.
fn popped(ex: &mut Exec<'_>, key: &Bytes, left: bool) {
    ex.notify_removal(LIST, if left { "lpop" } else { "rpop" }, key);
}

/// Pushes `vals` into the list `entry` (of `key` in `slot`), logging a
/// record each. Returns the new length and whether the pushed end's
/// sequence numbers ran out (the list must be renumbered).
fn push_into(
    entry: &mut Entry,
    journal: &mut Journal,
    slot: usize,
    key: &Bytes,
    vals: &[Bytes],
    left: bool,
) -> (usize, bool) {
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let Some(list) = list_of(entry) else {
        return (0, false);
    };
    for val in vals {
        let seq = match list.items.end_seq(left) {
            None => 0,
            Some(s) if left => s.saturating_sub(SEQ_GAP),
            Some(s) => s.saturating_add(SEQ_GAP),
        };
        // Logged first: the record's foretold location goes into the item.
        let loc = journal.put_predicted(
            TAG_LIST_ITEM,
            &at,
            &encode_seq(seq),
            val,
            FixTarget::Seq(seq),
        );
        list.items.push(left, seq, val, loc);
    }
    let edge = list.items.end_seq(left);
    // Sequence numbers saturate only after ~9e18 pushes at one end; should
    // that ever happen, renumber the list.
    let full = edge == Some(i64::MIN) || edge == Some(i64::MAX);
    (list.items.len(), full)
}

/// After a push into the list at `key`: announces the change (a new list
/// was announced by `replace_in`) and renumbers a list whose sequence
/// numbers ran out.
fn pushed(ex: &mut Exec<'_>, key: &Bytes, existed: bool, full: bool) {
    if existed {
        ex.modified(key);
    }
    if full {
        renumber(ex, key);
    }
}

/// Rewrites the list at `key` as a new incarnation with seqs 0, 1, 2, ...
fn renumber(ex: &mut Exec<'_>, key: &Bytes) {
    let slot = ex.slot();
    let Some(entry) = ex.st.dbs[slot].get(key) else {
        return;
    };
    let expire = entry.expire_at_ms;
    let Value::List(old) = &entry.value else {
        return;
    };
    let fresh = ListValue {
        items: old.items.copy_with(|i, _| i as i64 * SEQ_GAP),
    };
    let at = ex.replace_in(ex.db, key, Value::List(fresh), expire);
    if let Some(Entry {
        value: Value::List(l),
        ..
    }) = ex.st.dbs[slot].get(key)
    {
        l.rewrite(&at, expire, ex.journal);
    }
    if expire != 0 {
        ex.journal.expire(&at, expire);
    }
}

/// Pops up to `n` elements from the list at `key` (the caller checked it is
/// a list). Deletes the key when it becomes empty.
fn pop(ex: &mut Exec<'_>, key: &Bytes, left: bool, n: usize) -> Vec<Bytes> {
    let slot = ex.slot();
    let Some(entry) = ex.st.dbs[slot].get(key) else {
        return Vec::new();
    };
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let mut out = Vec::new();
    let mut dead = Vec::new();
    let now_empty = {
        let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
            return out;
        };
        let Some(list) = list_of(entry) else {
            return out;
        };
        for _ in 0..n {
            let Some((seq, val, loc)) = list.items.pop(left) else {
                break;
            };
            ex.journal.delete(TAG_LIST_REM, &at, &encode_seq(seq));
            dead.push(loc);
            out.push(val);
        }
        list.items.is_empty()
    };
    for loc in dead {
        ex.dead(loc);
    }
    if now_empty {
        // The REM records empty the list on replay too: no DEL needed.
        ex.st.dbs[slot].remove(key);
    }
    ex.modified(key);
    out
}

fn push_generic(ex: &mut Exec<'_>, argv: &[Bytes], left: bool, only_existing: bool) -> Reply {
    let key = &argv[1];
    let vals = &argv[2..];
    // One lookup checks the type and finds the list to push into.
    let slot = ex.slot();
    let (entry, journal) = ex.entry_and_journal(key);
    let len = match entry {
        Some(e) if !matches!(e.value, Value::List(_)) => return err(args::WRONGTYPE),
        Some(e) => {
            let (len, full) = push_into(e, journal, slot, key, vals, left);
            pushed(ex, key, true, full);
            len
        }
        None if only_existing => return Reply::Integer(0),
        None => push(ex, key, vals, left),
    };
    ex.notify(LIST, push_event(left), key);
    Reply::Integer(len as i64)
}

fn lpush(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ex, argv, true, false)
}

fn rpush(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ex, argv, false, false)
}

fn lpushx(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ex, argv, true, true)
}

fn rpushx(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ex, argv, false, true)
}

fn pop_generic(ex: &mut Exec<'_>, argv: &[Bytes], left: bool) -> Reply {
    if argv.len() > 3 {
        return args::arity_error(if left { "lpop" } else { "rpop" });
    }
    let count = match argv.get(2) {
        None => None,
        Some(c) => match args::parse_i64(c).and_then(|c| usize::try_from(c).ok()) {
            Some(c) => Some(c),
            None => return err(args::MUST_BE_POSITIVE),
        },
    };
    let key = &argv[1];
    match get_list(ex, key) {
        Err(e) => return e,
        Ok(None) => {
            return if count.is_some() {
                Reply::NilArray
            } else {
                Reply::Nil
            }
        }
        Ok(Some(_)) => {}
    }
    match count {
        None => pop_notify(ex, key, left, 1)
            .into_iter()
            .next()
            .map_or(Reply::Nil, Reply::Bulk),
        Some(0) => Reply::Array(Vec::new()),
        Some(n) => Reply::Array(
            pop_notify(ex, key, left, n)
                .into_iter()
                .map(Reply::Bulk)
                .collect(),
        ),
    }
}

fn lpop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    pop_generic(ex, argv, true)
}

fn rpop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    pop_generic(ex, argv, false)
}

fn llen(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get_list(ex, &argv[1]) {
        Ok(Some(l)) => Reply::Integer(l.list.len() as i64),
        Ok(None) => Reply::Integer(0),
        Err(e) => e,
    }
}

/// Redis's range normalisation (LRANGE / LTRIM): `None` when empty.
fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    if end < 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

fn two_ints(a: &[u8], b: &[u8]) -> Result<(i64, i64), Reply> {
    Ok((int_arg(a)?, int_arg(b)?))
}

fn lrange(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (start, end) = match two_ints(&argv[2], &argv[3]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let list = match get_list(ex, &argv[1]) {
        Ok(Some(l)) => l.list,
        Ok(None) => return Reply::Array(Vec::new()),
        Err(e) => return e,
    };
    let Some((s, e)) = range(start, end, list.len()) else {
        return Reply::Array(Vec::new());
    };
    Reply::Array(Reply::bulks(list.items.values(s, e - s + 1)))
}

/// An index (negative from the tail) into a list of `len`.
fn index(idx: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if idx < 0 { len + idx } else { idx };
    (0..len).contains(&i).then_some(i as usize)
}

fn lindex(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    // Redis looks the key up (and checks its type) before parsing the index.
    let list = match get_list(ex, &argv[1]) {
        Ok(Some(l)) => l.list,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    match int_arg(&argv[2]) {
        Ok(idx) => match index(idx, list.len()).and_then(|i| list.items.get(i)) {
            Some(e) => Reply::Bulk(Bytes::copy_from_slice(e.val)),
            None => Reply::Nil,
        },
        Err(e) => e,
    }
}

fn lset(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    // Redis looks the key up (and checks its type) before parsing the index.
    let ListRef { gen, expire, list } = match get_list(ex, key) {
        Ok(Some(l)) => l,
        Ok(None) => return err(args::NO_SUCH_KEY),
        Err(e) => return e,
    };
    let idx = match int_arg(&argv[2]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let Some(i) = index(idx, list.len()) else {
        return err(args::INDEX_RANGE);
    };
    let Some(seq) = list.items.get(i).map(|e| e.seq) else {
        return err(args::INDEX_RANGE);
    };
    let old_loc = list.items.set(i, &argv[3], None);
    let at = ex.at(key, gen);
    ex.journal.put(
        TAG_LIST_ITEM,
        &at,
        &encode_seq(seq),
        expire,
        &argv[3],
        FixTarget::Seq(seq),
    );
    ex.dead(old_loc);
    ex.modified(key);
    ex.notify(LIST, "lset", key);
    Reply::ok()
}

/// Removes the elements at the given positions (ascending) of the list at
/// `key`; deletes the key if it becomes empty.
fn remove_positions(ex: &mut Exec<'_>, key: &Bytes, positions: &[usize]) {
    if positions.is_empty() {
        return;
    }
    let slot = ex.slot();
    let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
        return;
    };
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let Some(list) = list_of(entry) else {
        return;
    };
    let dead = list.items.remove_at(positions);
    let empty = list.items.is_empty();
    for (seq, loc) in dead {
        ex.journal.delete(TAG_LIST_REM, &at, &encode_seq(seq));
        ex.dead(loc);
    }
    if empty {
        ex.st.dbs[slot].remove(key);
    }
    ex.modified(key);
}

fn lrem(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let count = match int_arg(&argv[2]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let key = &argv[1];
    let list = match get_list(ex, key) {
        Ok(Some(l)) => l.list,
        Ok(None) => return Reply::Integer(0),
        Err(e) => return e,
    };
    let target = &argv[3];
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs().try_into().unwrap_or(usize::MAX)
    };
    let mut positions: Vec<usize> = if count >= 0 {
        list.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.val == &target[..])
            .map(|(p, _)| p)
            .take(limit)
            .collect()
    } else {
        let len = list.len();
        list.items
            .iter()
            .rev()
            .enumerate()
            .map(|(s, e)| (len - 1 - s, e))
            .filter(|(_, i)| i.val == &target[..])
            .map(|(p, _)| p)
            .take(limit)
            .collect()
    };
    positions.sort_unstable();
    let n = positions.len();
    remove_positions(ex, key, &positions);
    if n > 0 {
        ex.notify_removal(LIST, "lrem", key);
    }
    Reply::Integer(n as i64)
}

fn ltrim(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (start, end) = match two_ints(&argv[2], &argv[3]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let key = &argv[1];
    let len = match get_list(ex, key) {
        Ok(Some(l)) => l.list.len(),
        Ok(None) => return Reply::ok(),
        Err(e) => return e,
    };
    let (ltrim, rtrim) = match range(start, end, len) {
        None => (len, 0),
        Some((s, e)) => (s, len - e - 1),
    };
    if ltrim > 0 {
        pop(ex, key, true, ltrim);
    }
    if rtrim > 0 && ex.db_mut().get(key).is_some() {
        pop(ex, key, false, rtrim);
    }
    ex.notify_removal(LIST, "ltrim", key);
    Reply::ok()
}

fn linsert(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let after = if is(&argv[2], "after") {
        true
    } else if is(&argv[2], "before") {
        false
    } else {
        return err(args::SYNTAX);
    };
    let key = &argv[1];
    let list = match get_list(ex, key) {
        Ok(Some(l)) => l.list,
        Ok(None) => return Reply::Integer(0),
        Err(e) => return e,
    };
    let Some(pivot) = list.items.iter().position(|i| i.val == &argv[3][..]) else {
        return Reply::Integer(-1);
    };
    let at_pos = if after { pivot + 1 } else { pivot };
    // A seq strictly between the neighbours, if the gap allows one.
    let before = at_pos
        .checked_sub(1)
        .and_then(|i| list.items.get(i))
        .map(|i| i.seq);
    let next = list.items.get(at_pos).map(|i| i.seq);
    let seq = match (before, next) {
        (Some(a), Some(b)) if i128::from(b) - i128::from(a) > 1 => {
            Some((i128::from(a) + (i128::from(b) - i128::from(a)) / 2) as i64)
        }
        (Some(a), None) => a.checked_add(SEQ_GAP),
        (None, Some(b)) => b.checked_sub(SEQ_GAP),
        _ => None,
    };
    let Some(seq) = seq else {
        // No room: renumber (a new incarnation, O(N) records), then insert
        // (the second call finds gaps of SEQ_GAP).
        renumber(ex, key);
        return linsert(ex, argv);
    };
    let ListRef { gen, expire, list } = match get_list(ex, key) {
        Ok(Some(l)) => l,
        _ => return Reply::Integer(-1),
    };
    list.items.insert(at_pos, seq, &argv[4], None);
    let len = list.items.len();
    let at = ex.at(key, gen);
    ex.journal.put(
        TAG_LIST_ITEM,
        &at,
        &encode_seq(seq),
        expire,
        &argv[4],
        FixTarget::Seq(seq),
    );
    ex.modified(key);
    ex.notify(LIST, "linsert", key);
    Reply::Integer(len as i64)
}

fn lpos(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if is(&argv[j], "rank") && more {
            rank = match int_arg(&argv[j + 1]) {
                Ok(i64::MIN) => {
                    return err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
                }
                Ok(0) => return err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
                Ok(r) => r,
                Err(e) => return e,
            };
        } else if is(&argv[j], "count") && more {
            // Redis answers a non-integer COUNT / MAXLEN with the same text.
            count = match args::parse_i64(&argv[j + 1]) {
                Some(c) if c >= 0 => Some(c as usize),
                _ => return err("ERR COUNT can't be negative"),
            };
        } else if is(&argv[j], "maxlen") && more {
            maxlen = match args::parse_i64(&argv[j + 1]) {
                Some(c) if c >= 0 => c as usize,
                _ => return err("ERR MAXLEN can't be negative"),
            };
        } else {
            return err(args::SYNTAX);
        }
        j += 2;
    }
    let list = match get_list(ex, &argv[1]) {
        Ok(Some(l)) => l.list,
        Ok(None) => {
            return if count.is_some() {
                Reply::Array(Vec::new())
            } else {
                Reply::Nil
            }
        }
        Err(e) => return e,
    };
    let len = list.len();
    let want = match count {
        Some(0) => usize::MAX,
        Some(c) => c,
        None => 1,
    };
    let mut skip = rank.unsigned_abs() - 1;
    let mut found = Vec::new();
    let limit = if maxlen == 0 { len } else { maxlen.min(len) };
    let scan: Box<dyn Iterator<Item = _>> = if rank > 0 {
        Box::new(list.items.iter())
    } else {
        Box::new(list.items.iter().rev())
    };
    for (step, e) in scan.take(limit).enumerate() {
        let i = if rank > 0 { step } else { len - 1 - step };
        if e.val == &argv[2][..] {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(i);
            if found.len() >= want {
                break;
            }
        }
    }
    if count.is_some() {
        Reply::Array(
            found
                .into_iter()
                .map(|i| Reply::Integer(i as i64))
                .collect(),
        )
    } else {
        found
            .first()
            .map_or(Reply::Nil, |&i| Reply::Integer(i as i64))
    }
}

/// LEFT / RIGHT.
fn side(arg: &[u8]) -> Result<bool, Reply> {
    args::either(arg, "left", "right")
}

/// Pops from `src` and pushes to `dst`; `Ok(None)` when `src` is empty.
fn move_one(
    ex: &mut Exec<'_>,
    src: &Bytes,
    dst: &Bytes,
    from_left: bool,
    to_left: bool,
) -> Result<Option<Bytes>, Reply> {
    let Some(l) = get_list(ex, src)? else {
        return Ok(None);
    };
    if src == dst && l.list.len() == 1 {
        // Moved onto itself, a one-element list stays what it is (Redis
        // keeps the list object and its TTL). Popping it would delete the
        // key and the push would make a new one, without the TTL.
        let val = l
            .list
            .items
            .get(0)
            .map_or_else(Bytes::new, |e| Bytes::copy_from_slice(e.val));
        ex.modified(src);
        ex.notify(LIST, push_event(to_left), dst);
        ex.notify(LIST, if from_left { "lpop" } else { "rpop" }, src);
        return Ok(Some(val));
    }
    get_list(ex, dst)?;
    let Some(val) = pop(ex, src, from_left, 1).into_iter().next() else {
        return Ok(None);
    };
    // Redis's order: the push (and `new`) on dst, then the pop on src.
    push(ex, dst, std::slice::from_ref(&val), to_left);
    ex.notify(LIST, push_event(to_left), dst);
    popped(ex, src, from_left);
    Ok(Some(val))
}

fn lmove(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (from, to) = match (side(&argv[3]), side(&argv[4])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match move_one(ex, &argv[1], &argv[2], from, to) {
        Ok(v) => v.map_or(Reply::Nil, Reply::Bulk),
        Err(e) => e,
    }
}

fn rpoplpush(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match move_one(ex, &argv[1], &argv[2], false, true) {
        Ok(v) => v.map_or(Reply::Nil, Reply::Bulk),
        Err(e) => e,
    }
}

/// LMPOP / BLMPOP from `argv[numkeys_idx..]`.
fn mpop(ex: &mut Exec<'_>, argv: &[Bytes], numkeys_idx: usize) -> Reply {
    let numkeys = match args::parse_i64(&argv[numkeys_idx]) {
        Some(n) if n >= 1 => n as usize,
        _ => return err("ERR numkeys should be greater than 0"),
    };
    let where_idx = numkeys_idx.saturating_add(numkeys).saturating_add(1);
    if where_idx >= argv.len() {
        return err(args::SYNTAX);
    }
    let left = match side(&argv[where_idx]) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && is(&argv[j], "count") && j + 1 < argv.len() {
            count = match args::parse_i64(&argv[j + 1]) {
                Some(c) if c >= 1 => Some(c as usize),
                _ => return err("ERR count should be greater than 0"),
            };
            j += 2;
        } else {
            return err(args::SYNTAX);
        }
    }
    let count = count.unwrap_or(1);
    for key in &argv[numkeys_idx + 1..where_idx] {
        match get_list(ex, key) {
            Err(e) => return e,
            Ok(None) => continue,
            Ok(Some(_)) => {
                let vals = pop_notify(ex, key, left, count);
                return Reply::Array(vec![
                    Reply::Bulk(key.clone()),
                    Reply::Array(vals.into_iter().map(Reply::Bulk).collect()),
                ]);
            }
        }
    }
    Reply::NilArray
}

fn lmpop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    mpop(ex, argv, 1)
}

/// A blocking command's timeout (seconds, may be fractional): checked
/// exactly as Redis does, then ignored (these run non-blocking here).
fn timeout_arg(arg: &[u8]) -> Result<(), Reply> {
    let t =
        args::parse_f64(arg).ok_or_else(|| err("ERR timeout is not a float or out of range"))?;
    if t < 0.0 {
        return Err(err("ERR timeout is negative"));
    }
    if !(t * 1000.0).is_finite() || t * 1000.0 > i64::MAX as f64 {
        return Err(err("ERR timeout is out of range"));
    }
    Ok(())
}

fn bpop(ex: &mut Exec<'_>, argv: &[Bytes], left: bool) -> Reply {
    if let Err(e) = timeout_arg(&argv[argv.len() - 1]) {
        return e;
    }
    for key in &argv[1..argv.len() - 1] {
        match get_list(ex, key) {
            Err(e) => return e,
            Ok(None) => continue,
            Ok(Some(_)) => {
                if let Some(v) = pop_notify(ex, key, left, 1).into_iter().next() {
                    return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)]);
                }
            }
        }
    }
    Reply::NilArray
}

fn blpop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    bpop(ex, argv, true)
}

fn brpop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    bpop(ex, argv, false)
}

fn blmove(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (from, to) = match (side(&argv[3]), side(&argv[4])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if let Err(e) = timeout_arg(&argv[5]) {
        return e;
    }
    match move_one(ex, &argv[1], &argv[2], from, to) {
        Ok(v) => v.map_or(Reply::Nil, Reply::Bulk),
        Err(e) => e,
    }
}

fn brpoplpush(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if let Err(e) = timeout_arg(&argv[3]) {
        return e;
    }
    match move_one(ex, &argv[1], &argv[2], false, true) {
        Ok(v) => v.map_or(Reply::Nil, Reply::Bulk),
        Err(e) => e,
    }
}

fn blmpop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if let Err(e) = timeout_arg(&argv[1]) {
        return e;
    }
    mpop(ex, argv, 2)
}

/// A list value.
#[derive(Default)]
pub(crate) struct ListValue {
    /// Elements, head first, seqs increasing.
    pub(crate) items: QuickList,
}

impl ListValue {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Redis 7.0 always answers `quicklist` for lists.
    pub(crate) fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Every record location.
    pub(crate) fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        for e in self.items.iter() {
            if let Some(loc) = e.loc {
                f(loc);
            }
        }
    }

    /// Records recreating the list under `at` (its seqs).
    pub(crate) fn rewrite(&self, at: &RecordKey<'_>, _expire_at_ms: u64, journal: &mut Journal) {
        for e in self.items.iter() {
            journal.put_copied(
                TAG_LIST_ITEM,
                at,
                &encode_seq(e.seq),
                e.val,
                FixTarget::Seq(e.seq),
            );
        }
    }

    /// A copy without locations.
    pub(crate) fn duplicate(&self) -> ListValue {
        ListValue {
            items: self.items.copy_with(|_, seq| seq),
        }
    }

    /// Stores the location of an element's record.
    pub(crate) fn set_location(&mut self, target: &FixTarget, loc: Location) {
        if let FixTarget::Seq(seq) = target {
            self.items.set_loc(*seq, None, Some(loc));
        }
    }

    /// Whether the element record at `loc` is the element's current one.
    pub(crate) fn is_live(&self, sub: &[u8], loc: Location) -> bool {
        decode_seq(sub)
            .and_then(|seq| self.items.by_seq(seq))
            .is_some_and(|e| e.loc == Some(loc))
    }

    /// Merge moved an element record.
    pub(crate) fn relocate(&mut self, sub: &[u8], old: Location, new: Location) {
        if let Some(seq) = decode_seq(sub) {
            self.items.set_loc(seq, Some(Some(old)), Some(new));
        }
    }

    /// Element bytes read at recovery.
    pub(crate) fn fill(&mut self, target: &FixTarget, loc: Location, bytes: Bytes) {
        if let FixTarget::Seq(seq) = target {
            self.items.fill(*seq, loc, &bytes);
        }
    }
}

/// Applies a replayed list record.
pub(crate) fn replay(
    db: &mut Db,
    slot: usize,
    key: &[u8],
    sub: &[u8],
    e: &ReplayEntry<'_>,
    loads: &mut Vec<Load>,
) -> Result<(), String> {
    let seq = decode_seq(sub).ok_or("bad list seq")?;
    if e.kind == RecordKind::Delete || e.tag == TAG_LIST_REM {
        let now_empty = match db.get_mut(key) {
            Some(entry) if entry.gen == e.gen => match &mut entry.value {
                Value::List(l) => {
                    l.items.remove_seq(seq);
                    l.items.is_empty()
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
        Value::List(ListValue::default())
    }) else {
        return Ok(());
    };
    let Value::List(list) = &mut entry.value else {
        return Err("list record for a key of another type".to_owned());
    };
    // From a hint file, the bytes are read at the end of recovery: until
    // then zeros of their length hold their place (filled in place).
    let zeros;
    let val = match e.value {
        Some(v) => v,
        None => {
            zeros = vec![0u8; e.value_len as usize];
            &zeros[..]
        }
    };
    list.items.put(seq, val, Some(e.location));
    if e.value.is_none() {
        loads.push(Load {
            slot,
            key: Bytes::copy_from_slice(key),
            gen: e.gen,
            target: FixTarget::Seq(seq),
            loc: e.location,
        });
    }
    Ok(())
}
