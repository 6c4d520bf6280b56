//! The generic Key family: DEL UNLINK EXISTS TYPE EXPIRE PEXPIRE EXPIREAT
//! PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST KEYS SCAN RANDOMKEY
//! RENAME RENAMENX COPY MOVE SWAPDB DBSIZE FLUSHDB FLUSHALL TOUCH OBJECT.
//!
//! DEL of any value is one record; RENAME and MOVE are one record too (the
//! incarnation keeps its records, see `renamed.rs`); COPY rewrites the value
//! under its new name as a new incarnation, O(N) as in Redis.

use bytes::Bytes;

use super::glob;
use super::journal::{RecordKey, FLUSH_ALL, TAG_FLUSH, TAG_SWAPDB};
use super::notify::{GENERIC, NEW};
use super::renamed::max_hops;
use super::{Exec, Presence};
use crate::command::args::{self, err, int_arg, is};
use crate::command::table::cmd;
use crate::command::{Command, Reply};

/// The generic key commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("del", -2, [write], (1, -1, 1), "generic", "Deletes one or more keys.", "1.0.0", "O(N) where N is the number of keys that will be removed.", del),
    cmd!("unlink", -2, [write, fast], (1, -1, 1), "generic", "Asynchronously deletes one or more keys.", "4.0.0", "O(1) for each key removed regardless of its size.", del),
    cmd!("exists", -2, [readonly, fast], (1, -1, 1), "generic", "Determines whether one or more keys exist.", "1.0.0", "O(N) where N is the number of keys to check.", exists),
    cmd!("type", 2, [readonly, fast], (1, 1, 1), "generic", "Determines the type of value stored at a key.", "1.0.0", "O(1)", type_),
    cmd!("expire", -3, [write, fast], (1, 1, 1), "generic", "Sets the expiration time of a key in seconds.", "1.0.0", "O(1)", expire),
    cmd!("pexpire", -3, [write, fast], (1, 1, 1), "generic", "Sets the expiration time of a key in milliseconds.", "2.6.0", "O(1)", pexpire),
    cmd!("expireat", -3, [write, fast], (1, 1, 1), "generic", "Sets the expiration time of a key to a Unix timestamp.", "1.2.0", "O(1)", expireat),
    cmd!("pexpireat", -3, [write, fast], (1, 1, 1), "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "2.6.0", "O(1)", pexpireat),
    cmd!("ttl", 2, [readonly, fast], (1, 1, 1), "generic", "Returns the expiration time in seconds of a key.", "1.0.0", "O(1)", ttl),
    cmd!("pttl", 2, [readonly, fast], (1, 1, 1), "generic", "Returns the expiration time in milliseconds of a key.", "2.6.0", "O(1)", pttl),
    cmd!("expiretime", 2, [readonly, fast], (1, 1, 1), "generic", "Returns the expiration time of a key as a Unix timestamp.", "7.0.0", "O(1)", expiretime),
    cmd!("pexpiretime", 2, [readonly, fast], (1, 1, 1), "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "7.0.0", "O(1)", pexpiretime),
    cmd!("persist", 2, [write, fast], (1, 1, 1), "generic", "Removes the expiration time of a key.", "2.2.0", "O(1)", persist),
    cmd!("keys", 2, [readonly], (0, 0, 0), "generic", "Returns all key names that match a pattern.", "1.0.0", "O(N) with N being the number of keys in the database", keys),
    cmd!("scan", -2, [readonly], (0, 0, 0), "generic", "Iterates over the key names in the database.", "2.8.0", "O(1) for every call. O(N) for a complete iteration.", scan),
    cmd!("randomkey", 1, [readonly, random], (0, 0, 0), "generic", "Returns a random key name from the database.", "1.0.0", "O(1)", randomkey),
    cmd!("rename", 3, [write], (1, 2, 1), "generic", "Renames a key and overwrites the destination.", "1.0.0", "O(1)", rename),
    cmd!("renamenx", 3, [write, fast], (1, 2, 1), "generic", "Renames a key only when the target key name doesn't exist.", "1.0.0", "O(1)", renamenx),
    cmd!("copy", -3, [write, denyoom], (1, 2, 1), "generic", "Copies the value of a key to a new key.", "6.2.0", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", copy),
    cmd!("move", 3, [write, fast], (1, 1, 1), "generic", "Moves a key to another database.", "1.0.0", "O(1)", move_),
    cmd!("swapdb", 3, [write, fast], (0, 0, 0), "server", "Swaps two Redis databases.", "4.0.0", "O(N) where N is the count of clients watching or blocking on keys from both databases.", swapdb),
    cmd!("dbsize", 1, [readonly, fast], (0, 0, 0), "server", "Returns the number of keys in the database.", "1.0.0", "O(1)", dbsize),
    cmd!("flushdb", -1, [write], (0, 0, 0), "server", "Remove all keys from the current database.", "1.0.0", "O(N) where N is the number of keys in the selected database", flushdb),
    cmd!("flushall", -1, [write], (0, 0, 0), "server", "Removes all keys from all databases.", "1.0.0", "O(N) where N is the total number of keys in all databases", flushall),
    cmd!("touch", -2, [readonly, fast], (1, -1, 1), "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "3.2.1", "O(N) where N is the number of keys that will be touched.", exists),
    cmd!("object", -2, [readonly], (2, 2, 1), "generic", "A container for object introspection commands.", "2.2.3", "Depends on subcommand.", object),
];

fn del(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let mut n = 0;
    for key in &argv[1..] {
        if ex.delete_reported(key) {
            n += 1;
        }
    }
    Reply::Integer(n)
}

fn exists(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let n = argv[1..].iter().filter(|k| ex.exists(k)).count();
    Reply::Integer(n as i64)
}

fn type_(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let name = ex.entry(&argv[1]).map_or("none", |e| e.value.type_name());
    Reply::Simple(name.into())
}

/// EXPIRE and friends (Redis's `expireGenericCommand`).
fn expire_generic(
    ex: &mut Exec<'_>,
    argv: &[Bytes],
    ms: bool,
    absolute: bool,
    name: &str,
) -> Reply {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &argv[3..] {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "gt") {
            gt = true;
        } else if is(opt, "lt") {
            lt = true;
        } else {
            return Reply::Error(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return err("ERR GT and LT options at the same time are not compatible");
    }
    let mut when = match int_arg(&argv[2]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let invalid = || Reply::Error(format!("ERR invalid expire time in '{name}' command"));
    if !ms {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return invalid();
        }
        when *= 1000;
    }
    let base = if absolute { 0 } else { ex.now_ms as i64 };
    if when > i64::MAX - base {
        return invalid();
    }
    when += base;
    let key = &argv[1];
    let Some(current) = ex.expire_of(key) else {
        return Reply::Integer(0);
    };
    let has = current != 0;
    let current = current as i64;
    if (nx && has)
        || (xx && !has)
        || (gt && (!has || when <= current))
        || (lt && has && when >= current)
    {
        return Reply::Integer(0);
    }
    if when <= ex.now_ms as i64 {
        ex.delete_reported(key);
    } else {
        ex.set_expire_in(ex.db, key, when as u64);
        ex.notify(GENERIC, "expire", key);
    }
    Reply::Integer(1)
}

fn expire(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ex, argv, false, false, "expire")
}

fn pexpire(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ex, argv, true, false, "pexpire")
}

fn expireat(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ex, argv, false, true, "expireat")
}

fn pexpireat(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ex, argv, true, true, "pexpireat")
}

/// TTL and friends (Redis's `ttlGenericCommand`).
fn ttl_generic(ex: &mut Exec<'_>, key: &[u8], ms: bool, absolute: bool) -> Reply {
    let Some(at) = ex.expire_of(key) else {
        return Reply::Integer(-2);
    };
    if at == 0 {
        return Reply::Integer(-1);
    }
    let ttl = if absolute {
        at as i64
    } else {
        (at as i64 - ex.now_ms as i64).max(0)
    };
    Reply::Integer(if ms { ttl } else { (ttl + 500) / 1000 })
}

fn ttl(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ex, &argv[1], false, false)
}

fn pttl(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ex, &argv[1], true, false)
}

fn expiretime(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ex, &argv[1], false, true)
}

fn pexpiretime(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ex, &argv[1], true, true)
}

fn persist(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match ex.expire_of(&argv[1]) {
        Some(at) if at != 0 => {
            ex.set_expire_in(ex.db, &argv[1], 0);
            ex.notify(GENERIC, "persist", &argv[1]);
            Reply::Integer(1)
        }
        _ => Reply::Integer(0),
    }
}

fn keys(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let pattern = &argv[1];
    let now = ex.now_ms;
    let all = pattern.as_ref() == b"*";
    let mut out = Vec::new();
    ex.db_mut().for_each(&mut |k, e| {
        if !e.expired(now) && (all || glob::matches(pattern, k)) {
            out.push(Reply::Bulk(Bytes::copy_from_slice(k)));
        }
    });
    Reply::Array(out)
}

fn scan(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let cursor = match std::str::from_utf8(&argv[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(c) => c,
        None => return err("ERR invalid cursor"),
    };
    let mut count = 10usize;
    let mut pattern: Option<&Bytes> = None;
    let mut type_filter: Option<&Bytes> = None;
    let mut j = 2;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if is(&argv[j], "count") && more {
            match int_arg(&argv[j + 1]) {
                Ok(c) if c >= 1 => count = c as usize,
                Ok(_) => return err(args::SYNTAX),
                Err(e) => return e,
            }
        } else if is(&argv[j], "match") && more {
            pattern = Some(&argv[j + 1]);
        } else if is(&argv[j], "type") && more {
            type_filter = Some(&argv[j + 1]);
        } else {
            return err(args::SYNTAX);
        }
        j += 2;
    }
    let now = ex.now_ms;
    let mut out = Vec::new();
    let next = ex.db_mut().scan(cursor, count, &mut |k, e| {
        let keep = !e.expired(now)
            && type_filter.map_or(true, |t| {
                t.eq_ignore_ascii_case(e.value.type_name().as_bytes())
            })
            && pattern.map_or(true, |p| glob::matches(p, k));
        if keep {
            out.push(Reply::Bulk(Bytes::copy_from_slice(k)));
        }
    });
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(out),
    ])
}

fn randomkey(ex: &mut Exec<'_>, _argv: &[Bytes]) -> Reply {
    // Walk from a random SCAN position to the first key not past its
    // deadline. Expired keys met on the way are skipped, not deleted: a read
    // must not change what replicas hold (unlike Redis, which deletes them).
    let now = ex.now_ms;
    let start = ex.random();
    let db = ex.db_mut();
    let mut cursor = start;
    let mut wrapped = false;
    let mut budget = db.len().min(10_000);
    loop {
        let mut found = None;
        let next = db.scan(cursor, 16, &mut |k, e| {
            if found.is_none() && !e.expired(now) {
                found = Some(Bytes::copy_from_slice(k));
            }
            budget = budget.saturating_sub(1);
        });
        if let Some(k) = found {
            return Reply::Bulk(k);
        }
        if budget == 0 {
            return Reply::Nil;
        }
        if next == 0 {
            if wrapped {
                return Reply::Nil;
            }
            wrapped = true;
        }
        cursor = next;
    }
}

/// RENAME / MOVE: `src` of db `from` becomes `dst` of db `to`, replacing
/// it, with its deadline. The incarnation keeps its generation and its
/// records: one rename record (and the deadline again) whatever the size of
/// the value, O(1) as in Redis. An incarnation renamed [`max_hops`] times
/// already is rewritten instead (a new incarnation: see `renamed.rs`), so
/// the cost is O(1) amortised. The caller checked that `src` exists.
fn rename_key(ex: &mut Exec<'_>, from: usize, src: &Bytes, to: usize, dst: &Bytes) {
    let slot_from = ex.slot_of(from);
    let Some((gen, len)) = ex.st.dbs[slot_from]
        .get(src)
        .map(|e| (e.gen, e.value.len()))
    else {
        return;
    };
    if ex.st.renamed.hops(gen) >= max_hops(len) {
        transfer(ex, from, src, to, dst, false);
        return;
    }
    let Some(entry) = ex.st.dbs[slot_from].remove(src) else {
        return;
    };
    ex.modified_in(from, src);
    let expire = entry.expire_at_ms;
    ex.replace_as(to, dst, gen, entry.value, expire);
    let slot_to = ex.slot_of(to);
    let at = RecordKey {
        slot: slot_to,
        key: dst,
        gen,
    };
    ex.journal.rename(&at, slot_from, src);
    // The deadline again under the new name, also when there is none:
    // records of the incarnation written while it had one carry it in
    // their headers, and the PERSIST that removed it names the old key,
    // which merge then judges dead (EXPIRE records are live under their
    // own name only). Without this record a merge + reopen brought back a
    // deadline removed before the rename.
    ex.journal.expire(&at, expire);
    ex.st.renamed.note(&ex.st.dbs, gen, slot_to, dst);
}

/// Moves/copies `src` of db `from` to `dst` of db `to` as a new incarnation
/// (rewriting its records), keeping the deadline. The caller checked that
/// `src` exists; `dst` is replaced.
fn transfer(ex: &mut Exec<'_>, from: usize, src: &Bytes, to: usize, dst: &Bytes, keep_src: bool) {
    let slot = ex.slot_of(from);
    let Some(entry) = ex.st.dbs[slot].get(src) else {
        return;
    };
    let expire = entry.expire_at_ms;
    let value = entry.value.duplicate();
    if !keep_src {
        ex.delete_in(from, src);
    } else {
        // Make sure a stale destination does not hide behind a lazy expiry.
        ex.expire_if_needed_in(to, dst);
    }
    let at: RecordKey<'_> = ex.replace_in(to, dst, value, expire);
    let slot_to = ex.slot_of(to);
    if let Some(entry) = ex.st.dbs[slot_to].get(dst) {
        entry.value.rewrite(&at, expire, ex.journal);
    }
    if expire != 0 {
        ex.journal.expire(&at, expire);
    }
}

fn rename_generic(ex: &mut Exec<'_>, argv: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&argv[1], &argv[2]);
    if !ex.exists(src) {
        return err(args::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { Reply::Integer(0) } else { Reply::ok() };
    }
    let dst_live = ex.exists(dst);
    if nx && dst_live {
        return Reply::Integer(0);
    }
    rename_key(ex, ex.db, src, ex.db, dst);
    if dst_live {
        // Redis deletes the old destination, then adds the key anew.
        ex.notify(NEW, "new", dst);
    }
    ex.notify(GENERIC, "rename_from", src);
    ex.notify(GENERIC, "rename_to", dst);
    if nx {
        Reply::Integer(1)
    } else {
        Reply::ok()
    }
}

fn rename(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    rename_generic(ex, argv, false)
}

fn renamenx(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    rename_generic(ex, argv, true)
}

/// A database index argument: `ERR value is not an integer or out of range`
/// if not an int, `ERR DB index is out of range` if outside 0..databases.
fn db_arg(ex: &Exec<'_>, arg: &[u8]) -> Result<usize, Reply> {
    let v = int_arg(arg)?;
    if v < i64::from(i32::MIN) || v > i64::from(i32::MAX) {
        return Err(err(args::NOT_INTEGER));
    }
    usize::try_from(v)
        .ok()
        .filter(|&d| d < ex.databases())
        .ok_or_else(|| err("ERR DB index is out of range"))
}

fn copy(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let mut to = ex.db;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        if is(&argv[j], "replace") {
            replace = true;
        } else if is(&argv[j], "db") && j + 1 < argv.len() {
            to = match db_arg(ex, &argv[j + 1]) {
                Ok(d) => d,
                Err(e) => return e,
            };
            j += 1;
        } else {
            return err(args::SYNTAX);
        }
        j += 1;
    }
    let (src, dst) = (&argv[1], &argv[2]);
    if to == ex.db && src == dst {
        return err("ERR source and destination objects are the same");
    }
    ex.count_read(src);
    if !ex.exists(src) {
        return Reply::Integer(0);
    }
    let dst_live = ex.entry_in(to, dst).is_some();
    if dst_live && !replace {
        return Reply::Integer(0);
    }
    transfer(ex, ex.db, src, to, dst, true);
    if dst_live {
        ex.notify_in(to, NEW, "new", dst);
    }
    ex.notify_in(to, GENERIC, "copy_to", dst);
    Reply::Integer(1)
}

fn move_(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let to = match db_arg(ex, &argv[2]) {
        Ok(d) => d,
        Err(e) => return e,
    };
    if to == ex.db {
        return err("ERR source and destination objects are the same");
    }
    let key = &argv[1];
    if !ex.exists(key) {
        return Reply::Integer(0);
    }
    if ex.entry_in(to, key).is_some() {
        return Reply::Integer(0);
    }
    rename_key(ex, ex.db, key, to, key);
    ex.notify(GENERIC, "move_from", key);
    ex.notify_in(to, GENERIC, "move_to", key);
    Reply::Integer(1)
}

fn swapdb(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let parse = |arg: &[u8], which: &str| -> Result<usize, Reply> {
        let v = args::parse_i64(arg)
            .filter(|v| *v >= i64::from(i32::MIN) && *v <= i64::from(i32::MAX))
            .ok_or_else(|| Reply::Error(format!("ERR invalid {which} DB index")))?;
        usize::try_from(v)
            .ok()
            .filter(|&d| d < ex.databases())
            .ok_or_else(|| err("ERR DB index is out of range"))
    };
    let (a, b) = match (parse(&argv[1], "first"), parse(&argv[2], "second")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if a != b {
        if let Some(obs) = &ex.st.observer {
            obs.dbs_swapped(a, b, &|d, key| presence(ex, d, key));
        }
        ex.st.slot_of.swap(a, b);
        let gen = ex.new_gen();
        ex.journal
            .control(TAG_SWAPDB, gen, vec![a as u8, b as u8], false);
    }
    Reply::ok()
}

fn dbsize(ex: &mut Exec<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Integer(ex.db_mut().len() as i64)
}

fn flush_mode_ok(argv: &[Bytes]) -> bool {
    match argv.len() {
        1 => true,
        2 => is(&argv[1], "async") || is(&argv[1], "sync"),
        _ => false,
    }
}

/// How logical database `d` holds `key` now (deadlines included).
fn presence(ex: &Exec<'_>, d: usize, key: &[u8]) -> Presence {
    match ex.st.dbs[ex.st.slot_of[d]].get(key) {
        None => Presence::Absent,
        Some(e) if e.expired(ex.now_ms) => Presence::Expired,
        Some(_) => Presence::Live,
    }
}

/// Empties logical database `db` (or all when `None`): one record.
fn flush(ex: &mut Exec<'_>, db: Option<usize>) {
    let gen = ex.new_gen();
    let key = match db {
        Some(d) => vec![ex.slot_of(d) as u8],
        None => vec![FLUSH_ALL],
    };
    ex.journal.control(TAG_FLUSH, gen, key, true);
    if let Some(obs) = &ex.st.observer {
        obs.db_flushed(db, &|d, key| presence(ex, d, key));
    }
    let dbs: Vec<usize> = match db {
        Some(d) => vec![d],
        None => (0..ex.databases()).collect(),
    };
    for d in dbs {
        let slot = ex.slot_of(d);
        let all = ex.st.dbs[slot].take_all();
        ex.discard_db(all);
    }
}

fn flushdb(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if !flush_mode_ok(argv) {
        return err(args::SYNTAX);
    }
    flush(ex, Some(ex.db));
    Reply::ok()
}

fn flushall(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if !flush_mode_ok(argv) {
        return err(args::SYNTAX);
    }
    flush(ex, None);
    Reply::ok()
}

fn object(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let sub = &argv[1];
    if is(sub, "help") && argv.len() == 2 {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ];
        return Reply::Array(
            lines
                .iter()
                .map(|l| Reply::Simple((*l).to_owned().into()))
                .collect(),
        );
    }
    let known = ["encoding", "freq", "idletime", "refcount", "help"];
    let Some(name) = known.iter().find(|n| is(sub, n)) else {
        return Reply::Error(format!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        ));
    };
    if argv.len() != 3 {
        return Reply::Error(format!(
            "ERR wrong number of arguments for 'object|{name}' command"
        ));
    }
    let Some(entry) = ex.entry(&argv[2]) else {
        return Reply::Nil;
    };
    match *name {
        "encoding" => Reply::bulk(entry.value.encoding()),
        "refcount" => Reply::Integer(1),
        "idletime" => Reply::Integer(0),
        _ => err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
    }
}
