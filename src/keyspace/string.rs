//! The String family: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET
//! MSET MSETNX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE
//! SETRANGE SUBSTR LCS (the bitmap commands are in `bitmap.rs`).
//!
//! Every write makes a new incarnation of the key (fresh generation, one
//! `TAG_STR` record holding the whole value); writes that modify a value in
//! place in Redis (APPEND, INCR, SETRANGE, ...) keep the deadline.

use bytes::{Bytes, BytesMut};

use super::db::Entry;
use super::journal::{FixTarget, RecordKey, TAG_STR, TAG_STR_PATCH};
use super::notify::{GENERIC, STRING};
use super::value::{StrData, StrForm, Value};
use super::Exec;
use crate::command::args::{self, err, int_arg, is};
use crate::command::table::cmd;
use crate::command::{Command, Reply};

/// The string commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("get", 2, [readonly, fast], (1, 1, 1), "string", "Returns the string value of a key.", "1.0.0", "O(1)", get),
    cmd!("set", -3, [write, denyoom], (1, 1, 1), "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "1.0.0", "O(1)", set),
    cmd!("setnx", 3, [write, denyoom, fast], (1, 1, 1), "string", "Set the string value of a key only when the key doesn't exist.", "1.0.0", "O(1)", setnx),
    cmd!("setex", 4, [write, denyoom], (1, 1, 1), "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "2.0.0", "O(1)", setex),
    cmd!("psetex", 4, [write, denyoom], (1, 1, 1), "string", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "2.6.0", "O(1)", psetex),
    cmd!("getset", 3, [write, denyoom, fast], (1, 1, 1), "string", "Returns the previous string value of a key after setting it to a new value.", "1.0.0", "O(1)", getset),
    cmd!("getdel", 2, [write, fast], (1, 1, 1), "string", "Returns the string value of a key after deleting the key.", "6.2.0", "O(1)", getdel),
    cmd!("getex", -2, [write, fast], (1, 1, 1), "string", "Returns the string value of a key after setting its expiration time.", "6.2.0", "O(1)", getex),
    cmd!("mget", -2, [readonly, fast], (1, -1, 1), "string", "Atomically returns the string values of one or more keys.", "1.0.0", "O(N) where N is the number of keys to retrieve.", mget),
    cmd!("mset", -3, [write, denyoom], (1, -1, 2), "string", "Atomically creates or modifies the string values of one or more keys.", "1.0.1", "O(N) where N is the number of keys to set.", mset),
    cmd!("msetnx", -3, [write, denyoom], (1, -1, 2), "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "1.0.1", "O(N) where N is the number of keys to set.", msetnx),
    cmd!("append", 3, [write, denyoom, fast], (1, 1, 1), "string", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "2.0.0", "O(1)", append),
    cmd!("strlen", 2, [readonly, fast], (1, 1, 1), "string", "Returns the length of a string value.", "2.2.0", "O(1)", strlen),
    cmd!("incr", 2, [write, denyoom, fast], (1, 1, 1), "string", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0", "O(1)", incr),
    cmd!("decr", 2, [write, denyoom, fast], (1, 1, 1), "string", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0", "O(1)", decr),
    cmd!("incrby", 3, [write, denyoom, fast], (1, 1, 1), "string", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "1.0.0", "O(1)", incrby),
    cmd!("decrby", 3, [write, denyoom, fast], (1, 1, 1), "string", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "1.0.0", "O(1)", decrby),
    cmd!("incrbyfloat", 3, [write, denyoom, fast], (1, 1, 1), "string", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "2.6.0", "O(1)", incrbyfloat),
    cmd!("getrange", 4, [readonly], (1, 1, 1), "string", "Returns a substring of the string stored at a key.", "2.4.0", "O(N) where N is the length of the returned string.", getrange),
    cmd!("substr", 4, [readonly], (1, 1, 1), "string", "Returns a substring from a string value.", "1.0.0", "O(N) where N is the length of the returned string.", getrange),
    cmd!("setrange", 4, [write, denyoom], (1, 1, 1), "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "2.2.0", "O(1), not counting the time taken to copy the new string in place.", setrange),
    cmd!("lcs", -3, [readonly], (1, 2, 1), "string", "Finds the longest common substring.", "7.0.0", "O(N*M) where N and M are the lengths of s1 and s2, respectively", lcs),
];

/// A string reply or WRONGTYPE; nil when absent.
pub(super) fn read(ex: &mut Exec<'_>, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    Ok(ex.get_str(key)?.map(|s| s.data.to_bytes()))
}

fn bulk_or_nil(v: Option<Bytes>) -> Reply {
    v.map_or(Reply::Nil, Reply::Bulk)
}

fn get(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match read(ex, &argv[1]) {
        Ok(v) => bulk_or_nil(v),
        Err(e) => e,
    }
}

/// Flags shared by SET and GETEX (Redis's `parseExtendedStringArgumentsOrReply`).
#[derive(Default)]
struct SetFlags {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (unit is ms, absolute, argument).
    expire: Option<(bool, bool, Bytes)>,
}

fn parse_set_flags(argv: &[Bytes], from: usize, for_set: bool) -> Result<SetFlags, Reply> {
    let mut f = SetFlags::default();
    let mut j = from;
    while j < argv.len() {
        let opt = &argv[j];
        let next = argv.get(j + 1);
        let timed = f.expire.is_some();
        if is(opt, "nx") && !f.xx && for_set {
            f.nx = true;
        } else if is(opt, "xx") && !f.nx && for_set {
            f.xx = true;
        } else if is(opt, "get") && for_set {
            f.get = true;
        } else if is(opt, "keepttl") && !f.persist && !timed && for_set {
            f.keepttl = true;
        } else if is(opt, "persist") && !for_set && !timed && !f.keepttl {
            f.persist = true;
        } else if let (Some(next), false) = (next, f.keepttl || f.persist) {
            let kind = if is(opt, "ex") {
                (false, false)
            } else if is(opt, "px") {
                (true, false)
            } else if is(opt, "exat") {
                (false, true)
            } else if is(opt, "pxat") {
                (true, true)
            } else {
                return Err(err(args::SYNTAX));
            };
            // The same unit may repeat (the last wins); a different one may not.
            if let Some((ms, abs, _)) = &f.expire {
                if (*ms, *abs) != kind {
                    return Err(err(args::SYNTAX));
                }
            }
            f.expire = Some((kind.0, kind.1, next.clone()));
            j += 1;
        } else {
            return Err(err(args::SYNTAX));
        }
        j += 1;
    }
    Ok(f)
}

/// The absolute deadline of an EX/PX/EXAT/PXAT argument (Redis's rules and
/// error text), or 0 when there is none.
fn deadline(now_ms: u64, expire: &Option<(bool, bool, Bytes)>, name: &str) -> Result<u64, Reply> {
    let Some((ms, abs, arg)) = expire else {
        return Ok(0);
    };
    let invalid = || Reply::Error(format!("ERR invalid expire time in '{name}' command"));
    let v = int_arg(arg)?;
    if v <= 0 || (!ms && v > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut when = if *ms { v } else { v * 1000 };
    if !abs {
        when = when.checked_add(now_ms as i64).ok_or_else(invalid)?;
    }
    Ok(when as u64)
}

fn set(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let flags = match parse_set_flags(argv, 3, true) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let when = match deadline(ex.now_ms, &flags.expire, "set") {
        Ok(w) => w,
        Err(e) => return e,
    };
    let key = &argv[1];
    let old = if flags.get {
        ex.count_read(key);
        match read(ex, key) {
            Ok(v) => Some(v),
            Err(e) => return e,
        }
    } else {
        None
    };
    // Plain SET overwrites whatever is there: only NX / XX need a lookup.
    let found = (flags.nx || flags.xx) && ex.exists(key);
    let abort = (flags.nx && found) || (flags.xx && !found);
    if !abort {
        let expire = if flags.keepttl {
            ex.expire_of(key).unwrap_or(0)
        } else {
            when
        };
        ex.set_string(key, StrData::from_arg(&argv[2]), expire);
        ex.notify(STRING, "set", key);
        if flags.expire.is_some() {
            ex.notify(GENERIC, "expire", key);
        }
        // A deadline already past (EXAT/PXAT): the key is set, then gone,
        // `expired` as when Redis removes it on its next access.
        if expire != 0 && expire <= ex.now_ms {
            ex.delete(key);
        }
    }
    match (old, abort) {
        (Some(old), _) => bulk_or_nil(old),
        (None, true) => Reply::Nil,
        (None, false) => Reply::ok(),
    }
}

fn setnx(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if ex.exists(&argv[1]) {
        return Reply::Integer(0);
    }
    ex.set_string(&argv[1], StrData::from_arg(&argv[2]), 0);
    ex.notify(STRING, "set", &argv[1]);
    Reply::Integer(1)
}

fn setex_generic(ex: &mut Exec<'_>, argv: &[Bytes], ms: bool, name: &str) -> Reply {
    let when = match deadline(ex.now_ms, &Some((ms, false, argv[2].clone())), name) {
        Ok(w) => w,
        Err(e) => return e,
    };
    ex.set_string(&argv[1], StrData::from_arg(&argv[3]), when);
    ex.notify(STRING, "set", &argv[1]);
    ex.notify(GENERIC, "expire", &argv[1]);
    Reply::ok()
}

fn setex(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    setex_generic(ex, argv, false, "setex")
}

fn psetex(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    setex_generic(ex, argv, true, "psetex")
}

fn getset(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    ex.count_read(&argv[1]);
    let old = match read(ex, &argv[1]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    ex.set_string(&argv[1], StrData::from_arg(&argv[2]), 0);
    ex.notify(STRING, "set", &argv[1]);
    bulk_or_nil(old)
}

fn getdel(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    ex.count_read(&argv[1]);
    let old = match read(ex, &argv[1]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if old.is_some() {
        ex.delete_reported(&argv[1]);
    }
    bulk_or_nil(old)
}

fn getex(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let flags = match parse_set_flags(argv, 2, false) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let when = match deadline(ex.now_ms, &flags.expire, "getex") {
        Ok(w) => w,
        Err(e) => return e,
    };
    let key = &argv[1];
    ex.count_read(key);
    let value = match read(ex, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    if flags.expire.is_some() {
        ex.set_expire_in(ex.db, key, when);
        let event = if when <= ex.now_ms { "del" } else { "expire" };
        ex.notify(GENERIC, event, key);
    } else if flags.persist && ex.expire_of(key).unwrap_or(0) != 0 {
        ex.set_expire_in(ex.db, key, 0);
        ex.notify(GENERIC, "persist", key);
    }
    Reply::Bulk(value)
}

fn mget(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let out = argv[1..]
        .iter()
        .map(|k| match ex.get_str(k) {
            Ok(Some(s)) => Reply::Bulk(s.data.to_bytes()),
            _ => Reply::Nil,
        })
        .collect();
    Reply::Array(out)
}

fn mset(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() % 2 == 0 {
        return args::arity_error("mset");
    }
    for pair in argv[1..].chunks_exact(2) {
        ex.set_string(&pair[0], StrData::from_arg(&pair[1]), 0);
        ex.notify(STRING, "set", &pair[0]);
    }
    Reply::ok()
}

fn msetnx(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() % 2 == 0 {
        return args::arity_error("msetnx");
    }
    if argv[1..].chunks_exact(2).any(|p| ex.exists(&p[0])) {
        return Reply::Integer(0);
    }
    for pair in argv[1..].chunks_exact(2) {
        ex.set_string(&pair[0], StrData::from_arg(&pair[1]), 0);
        ex.notify(STRING, "set", &pair[0]);
    }
    Reply::Integer(1)
}

fn append(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let piece = &argv[2];
    let old_len = match ex.get_str(key) {
        Ok(v) => v.map(|s| s.data.len()),
        Err(e) => return e,
    };
    let Some(old_len) = old_len else {
        // A new key, made the SET way (`int` / `embstr` / `raw` by content).
        ex.set_string(key, StrData::from_arg(piece), 0);
        ex.notify(STRING, "append", key);
        return Reply::Integer(piece.len() as i64);
    };
    if old_len + piece.len() > ex.max_value_len() {
        return err(args::TOO_BIG);
    }
    match edit_string(ex, key, old_len..old_len + piece.len(), |buf| {
        buf[old_len..].copy_from_slice(piece)
    }) {
        Ok(((), len)) => {
            ex.notify(STRING, "append", key);
            Reply::Integer(len as i64)
        }
        Err(e) => e,
    }
}

/// Changes the string at `key` in place, as Redis's APPEND, SETRANGE,
/// SETBIT and BITFIELD do: the value (or an empty one if the key is
/// absent) grows with zero bytes to `span.end`, `edit` changes bytes within
/// `span`, and the result is logged. A big string
/// ([`value::PATCH_MIN_LEN`](super::value::PATCH_MIN_LEN) bytes or more)
/// gets a patch record of just `span` while its patch budget lasts
/// (`StrValue::patch_fits`), then one whole-value record again, so a
/// small edit of a big string costs O(edit) amortized on disk, and in
/// memory too (the bytes change in place when nothing else shares them).
/// Anything else is rewritten whole as a new incarnation, as SET does, and
/// the result is `raw`. Keeps the deadline. Answers `edit`'s answer and
/// the new length, or WRONGTYPE.
pub(crate) fn edit_string<R>(
    ex: &mut Exec<'_>,
    key: &Bytes,
    span: std::ops::Range<usize>,
    edit: impl FnOnce(&mut [u8]) -> R,
) -> Result<(R, usize), Reply> {
    let slot = ex.slot();
    let (entry, journal) = ex.entry_and_journal(key);
    let (s, expire, gen) = match entry {
        None => (None, 0, 0),
        Some(Entry {
            value: Value::Str(s),
            expire_at_ms,
            gen,
        }) => (Some(s), *expire_at_ms, *gen),
        Some(_) => return Err(err(args::WRONGTYPE)),
    };
    let Some(s) = s else {
        let mut buf = BytesMut::zeroed(span.end);
        let r = edit(&mut buf);
        ex.set_string_as(key, buf.freeze(), 0, StrForm::Raw);
        return Ok((r, span.end));
    };
    let patch = s.patch_fits(span.len());
    let mut buf = s.data.take_mut();
    if buf.len() < span.end {
        buf.resize(span.end, 0);
    }
    let r = edit(&mut buf);
    let len = buf.len();
    if !patch {
        ex.set_string_as(key, buf.freeze(), expire, StrForm::Raw);
        return Ok((r, len));
    }
    let data = buf.freeze();
    let piece = data.slice(span.clone());
    s.data = StrData::Heap(data);
    s.set_form(StrForm::Raw);
    let at = RecordKey { slot, key, gen };
    let offset = span.start as u64;
    journal.put(
        TAG_STR_PATCH,
        &at,
        &offset.to_be_bytes(),
        0,
        &piece,
        FixTarget::Patch(offset),
    );
    s.note_patch(piece.len());
    ex.modified(key);
    Ok((r, len))
}

fn strlen(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match read(ex, &argv[1]) {
        Ok(v) => Reply::Integer(v.map_or(0, |v| v.len() as i64)),
        Err(e) => e,
    }
}

/// INCRBY and friends: the new value, keeping the deadline.
fn incr_by(ex: &mut Exec<'_>, key: &Bytes, by: i64) -> Reply {
    // One lookup reads the number and the deadline (no clone of the value:
    // its first clone would allocate a shared header) and, for a counter
    // without a deadline, rewrites it in place.
    let slot = ex.slot();
    let (entry, journal) = ex.entry_and_journal(key);
    let (s, expire, gen) = match entry {
        None => {
            ex.set_string(key, StrData::int(by), 0);
            ex.notify(STRING, "incrby", key);
            return Reply::Integer(by);
        }
        Some(Entry {
            value: Value::Str(s),
            expire_at_ms,
            gen,
        }) => (s, *expire_at_ms, *gen),
        Some(_) => return err(args::WRONGTYPE),
    };
    let Some(n) = args::parse_i64(&s.data) else {
        return err(args::NOT_INTEGER);
    };
    let Some(new) = n.checked_add(by) else {
        return err(args::OVERFLOW);
    };
    let data = StrData::int(new);
    if expire != 0 || s.is_patched() {
        // A new incarnation: its string record, then its EXPIRE record
        // (replay needs them in that order, and merge may drop the older
        // string records of a generation, so a key with a deadline is not
        // rewritten in place).
        ex.set_string(key, data, expire);
        ex.notify(STRING, "incrby", key);
        return Reply::Integer(new);
    }
    // In place: the same incarnation (generation) gets a newer string
    // record; replay and merge keep the newest record of a generation (its
    // location is the value's).
    let at = RecordKey { slot, key, gen };
    let loc = journal.put_str_predicted(TAG_STR, &at, &data, FixTarget::Whole);
    s.data = data;
    s.set_form(StrForm::Encoded);
    let old = s.rebase(loc);
    ex.dead(old);
    ex.modified(key);
    ex.notify(STRING, "incrby", key);
    Reply::Integer(new)
}

fn incr(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    incr_by(ex, &argv[1], 1)
}

fn decr(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    incr_by(ex, &argv[1], -1)
}

fn incrby(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match int_arg(&argv[2]) {
        Ok(by) => incr_by(ex, &argv[1], by),
        Err(e) => e,
    }
}

fn decrby(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match int_arg(&argv[2]) {
        Ok(i64::MIN) => err("ERR decrement would overflow"),
        Ok(by) => incr_by(ex, &argv[1], -by),
        Err(e) => e,
    }
}

fn incrbyfloat(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let current = match read(ex, key) {
        Ok(None) => 0.0,
        Ok(Some(v)) => match args::parse_f64(&v) {
            Some(n) => n,
            None => return err(args::NOT_FLOAT),
        },
        Err(e) => return e,
    };
    let by = match args::float_arg(&argv[2]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    // Redis computes in long double (64-bit mantissa): integer sums that fit
    // an i64 are exact there; compute them exactly here too.
    let exact = match (read_int(ex, key), args::parse_i64(&argv[2])) {
        (Some(a), Some(b)) => a.checked_add(b),
        _ => None,
    };
    if let Some(sum) = exact {
        let text = args::int_bytes(sum);
        let expire = ex.expire_of(key).unwrap_or(0);
        ex.set_string_as(key, text.clone(), expire, StrForm::Plain);
        ex.notify(STRING, "incrbyfloat", key);
        return Reply::Bulk(text);
    }
    let new = current + by;
    if !new.is_finite() {
        return err("ERR increment would produce NaN or Infinity");
    }
    let text = Bytes::from(args::format_float(new));
    let expire = ex.expire_of(key).unwrap_or(0);
    ex.set_string_as(key, text.clone(), expire, StrForm::Plain);
    ex.notify(STRING, "incrbyfloat", key);
    Reply::Bulk(text)
}

/// The current value of `key` as an exact integer (absent = 0).
fn read_int(ex: &mut Exec<'_>, key: &[u8]) -> Option<i64> {
    match read(ex, key) {
        Ok(None) => Some(0),
        Ok(Some(v)) => args::parse_i64(&v),
        Err(_) => None,
    }
}

fn getrange(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (start, end) = match (int_arg(&argv[2]), int_arg(&argv[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let value = match read(ex, &argv[1]) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return e,
    };
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::Bulk(Bytes::new());
    }
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Reply::Bulk(Bytes::new());
    }
    Reply::Bulk(value.slice(start as usize..=end as usize))
}

fn setrange(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let offset = match int_arg(&argv[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Ok(offset) = usize::try_from(offset) else {
        return err("ERR offset is out of range");
    };
    let key = &argv[1];
    let piece = &argv[3];
    let old_len = match ex.get_str(key) {
        Ok(v) => v.map_or(0, |s| s.data.len()),
        Err(e) => return e,
    };
    if piece.is_empty() {
        return Reply::Integer(old_len as i64);
    }
    if offset.saturating_add(piece.len()) > ex.max_value_len() {
        return err(args::TOO_BIG);
    }
    let end = offset + piece.len();
    match edit_string(ex, key, offset..end, |buf| {
        buf[offset..end].copy_from_slice(piece)
    }) {
        Ok(((), len)) => {
            ex.notify(STRING, "setrange", key);
            Reply::Integer(len as i64)
        }
        Err(e) => e,
    }
}

/// The most DP cells LCS allocates (4 bytes each, like Redis's limit of
/// proto-max-bulk-len bytes of transient memory).
const LCS_MAX_CELLS: usize = args::MAX_STRING / 4;

fn lcs(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let a = ex.get_str(&argv[1]).map(|s| s.map(|s| s.data.to_bytes()));
    let b = ex.get_str(&argv[2]).map(|s| s.map(|s| s.data.to_bytes()));
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a.unwrap_or_default(), b.unwrap_or_default()),
        _ => return err("ERR The specified keys must contain string values"),
    };
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        if is(opt, "idx") {
            getidx = true;
        } else if is(opt, "len") {
            getlen = true;
        } else if is(opt, "withmatchlen") {
            withmatchlen = true;
        } else if is(opt, "minmatchlen") && j + 1 < argv.len() {
            minmatchlen = match int_arg(&argv[j + 1]) {
                Ok(v) => v.max(0),
                Err(e) => return e,
            };
            j += 1;
        } else {
            return err(args::SYNTAX);
        }
        j += 1;
    }
    if getidx && getlen {
        return err("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen + 1).saturating_mul(blen + 1);
    if cells > LCS_MAX_CELLS {
        return err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let mut table = vec![0u32; cells];
    let at = |i: usize, j: usize| j + i * (blen + 1);
    for i in 1..=alen {
        for j in 1..=blen {
            table[at(i, j)] = if a[i - 1] == b[j - 1] {
                table[at(i - 1, j - 1)] + 1
            } else {
                table[at(i - 1, j)].max(table[at(i, j - 1)])
            };
        }
    }
    let total = table[at(alen, blen)] as usize;
    if getlen {
        return Reply::Integer(total as i64);
    }
    // Walk back from the end, as Redis does, collecting the common string
    // and the matching ranges (last match first).
    let mut result = vec![0u8; total];
    let mut matches = Vec::new();
    let (mut i, mut j, mut idx) = (alen, blen, total);
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0usize, 0usize, 0usize);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == alen {
                a_start = i - 1;
                a_end = i - 1;
                b_start = j - 1;
                b_end = j - 1;
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[at(i - 1, j)] > table[at(i, j - 1)] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = (a_end - a_start + 1) as i64;
            if minmatchlen == 0 || match_len >= minmatchlen {
                let mut m = vec![
                    Reply::Array(vec![
                        Reply::Integer(a_start as i64),
                        Reply::Integer(a_end as i64),
                    ]),
                    Reply::Array(vec![
                        Reply::Integer(b_start as i64),
                        Reply::Integer(b_end as i64),
                    ]),
                ];
                if withmatchlen {
                    m.push(Reply::Integer(match_len));
                }
                matches.push(Reply::Array(m));
            }
            a_start = alen;
        }
    }
    if getidx {
        Reply::Map(vec![
            (Reply::bulk(&b"matches"[..]), Reply::Array(matches)),
            (Reply::bulk(&b"len"[..]), Reply::Integer(total as i64)),
        ])
    } else {
        Reply::Bulk(Bytes::from(result))
    }
}
