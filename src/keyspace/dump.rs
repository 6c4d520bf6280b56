//! DUMP and RESTORE, with Redis 7.0's replies and error texts.
//!
//! DUMP serializes a value as an RDB object plus footer (see [`rdb`] for
//! the bytes); RESTORE decodes a payload from Redis 7.0 (every encoding
//! its DUMP writes, and the older ones its RESTORE still loads) or from us,
//! and writes the value through its family's own write path (RPUSH's
//! `list::push`, HSET's `hash::write`, SADD/ZADD's `store`, SET's
//! `set_string`, a stream's `stream::store`), its deadline as PEXPIREAT
//! does: one command, one storage batch, whatever the value's size.
//!
//! Differences from Redis, on purpose:
//! * Payload bytes differ (ours use the plain RDB forms, Redis's the
//!   compact ones); each side restores the other's to the same value.
//!   Streams are the exception: their payload is Redis's own (see
//!   `stream::rdb`), byte for byte unless entries were deleted inside a
//!   listpack node.
//! * A bloom filter (`MBbloom--`) cannot be dumped: RedisBloom's module
//!   serialization is not ours to imitate. DUMP answers an error.
//! * RESTORE refuses any collection with a repeated member or field;
//!   Redis 7.0 (without deep sanitization) keeps a small hash with a
//!   repeated field as a corrupt listpack.
//! * IDLETIME and FREQ are validated and ignored (no LRU / LFU here).
//! * A value that decodes into more than [`MAX_DECODED`] bytes is refused.
//!
//! In a cluster, `cluster::state_machine::normalise` turns a relative ttl
//! into an absolute deadline (ABSTTL) before the entry is replicated, so
//! every replica stores the same deadline.

pub(crate) mod rdb;

use bytes::Bytes;

use super::value::Value;
use super::{hash, list, set, stream, zset, Exec};
use crate::command::args::{self, err, int_arg, is};
use crate::command::table::cmd;
use crate::command::{Command, Reply};
use rdb::{Object, PayloadError};

/// DUMP and RESTORE.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("dump", 2, [readonly], (1, 1, 1), "generic", "Return a serialized version of the value stored at the specified key.", "2.6.0", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).", dump),
    cmd!("restore", -4, [write, denyoom], (1, 1, 1), "generic", "Create a key using the provided serialized value, previously obtained using DUMP.", "2.6.0", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).", restore),
];

/// Most bytes a RESTORE may decode (elements plus a per-element charge,
/// see `rdb::Budget`): what one command may write stays within a storage
/// batch.
pub(crate) const MAX_DECODED: usize = 512 << 20;

/// DUMP's answer for a value it cannot serialize.
const NOT_DUMPABLE: &str = "ERR DUMP is not supported for bloom filters (MBbloom--)";

fn dump(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let Some(entry) = ex.entry(&argv[1]) else {
        return Reply::Nil;
    };
    let payload = match &entry.value {
        Value::Str(s) => rdb::encode_string(&s.data),
        Value::List(l) => rdb::encode_list(l.len(), l.items.iter().map(|i| i.val)),
        Value::Hash(h) => rdb::encode_hash(h.len(), h.iter().map(|(k, v)| (k, v.bytes()))),
        Value::Set(s) => rdb::encode_set(s.len(), s.iter()),
        Value::ZSet(z) => {
            let entries = z.entries();
            rdb::encode_zset(entries.len(), entries.into_iter().map(|(s, m)| (m, s)))
        }
        Value::Bloom(_) => return err(NOT_DUMPABLE),
        Value::Stream(s) => stream::rdb::encode(s),
    };
    Reply::Bulk(Bytes::from(payload))
}

/// RESTORE's options after the payload.
struct Options {
    replace: bool,
    absttl: bool,
}

/// Parses `[REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]` as Redis does:
/// IDLETIME and FREQ exclude each other (the later one is a syntax error).
fn options(argv: &[Bytes]) -> Result<Options, Reply> {
    let mut o = Options {
        replace: false,
        absttl: false,
    };
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if is(&argv[j], "replace") {
            o.replace = true;
        } else if is(&argv[j], "absttl") {
            o.absttl = true;
        } else if is(&argv[j], "idletime") && more && !freq {
            if int_arg(&argv[j + 1])? < 0 {
                return Err(err("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = true;
            j += 1;
        } else if is(&argv[j], "freq") && more && !idle {
            if !(0..=255).contains(&int_arg(&argv[j + 1])?) {
                return Err(err("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = true;
            j += 1;
        } else {
            return Err(err(args::SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], its
/// checks in Redis's order: options, existing key, ttl, footer, body.
fn restore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match restore_checked(ex, argv) {
        Ok(()) => {
            if ex.db_mut().get(&argv[1]).is_some() {
                ex.notify(super::notify::GENERIC, "restore", &argv[1]);
            }
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn restore_checked(ex: &mut Exec<'_>, argv: &[Bytes]) -> Result<(), Reply> {
    let opts = options(argv)?;
    let key = &argv[1];
    if !opts.replace && ex.exists(key) {
        return Err(err("BUSYKEY Target key name already exists."));
    }
    let ttl = int_arg(&argv[2])?;
    if ttl < 0 {
        return Err(err("ERR Invalid TTL value, must be >= 0"));
    }
    let obj = rdb::decode(&argv[3], MAX_DECODED).map_err(|e| match e {
        PayloadError::VersionOrChecksum => err("ERR DUMP payload version or checksum are wrong"),
        PayloadError::BadFormat => err("ERR Bad data format"),
        PayloadError::TooLarge => Reply::Error(format!(
            "ERR DUMP payload decodes into more than {} MiB",
            MAX_DECODED >> 20
        )),
    })?;
    check_lengths(ex, &obj)?;
    // Redis adds now to a relative ttl in a signed 64-bit sum; a sum past
    // its range wrapped negative there, so it counts as already expired.
    let deadline = match (ttl, opts.absttl) {
        (0, _) => Some(0),
        (t, true) => Some(t),
        (t, false) => t.checked_add(ex.now_ms as i64),
    };
    let deleted = opts.replace && ex.delete(key);
    let deadline = match deadline {
        Some(d) if d == 0 || d > ex.now_ms as i64 => d as u64,
        // Already expired: the key is not created (any old one is gone).
        _ => {
            if deleted {
                ex.notify(super::notify::GENERIC, "del", key);
            }
            return Ok(());
        }
    };
    write(ex, key, obj, deadline);
    Ok(())
}

/// Refuses elements the log cannot store: sub-keys (members, fields)
/// longer than a record key allows, values longer than a value may be.
fn check_lengths(ex: &Exec<'_>, obj: &Object) -> Result<(), Reply> {
    let (max_sub, max_value) = (ex.max_sub_len(), ex.max_value_len());
    let fits = match obj {
        Object::Str(v) => v.len() <= max_value,
        Object::List(v) => v.iter().all(|e| e.len() <= max_value),
        Object::Set(v) => v.iter().all(|m| m.len() <= max_sub),
        Object::Hash(v) => v
            .iter()
            .all(|(f, val)| f.len() <= max_sub && val.len() <= max_value),
        Object::ZSet(v) => v.iter().all(|(m, _)| m.len() <= max_sub),
        Object::Stream(v) => {
            let (name, entry) = v.longest();
            name <= max_sub && entry <= max_value
        }
    };
    if fits {
        Ok(())
    } else {
        Err(Reply::Error(format!(
            "ERR DUMP payload holds an element longer than this server stores (members and fields at most {max_sub} bytes, values at most {max_value})"
        )))
    }
}

/// Creates `key` (absent: checked or deleted by the caller) holding `obj`
/// through its family's write path, then sets its deadline (0 = none).
fn write(ex: &mut Exec<'_>, key: &Bytes, obj: Object, deadline: u64) {
    match obj {
        Object::Str(v) => {
            ex.set_string(key, Bytes::from(v), deadline);
            return;
        }
        Object::List(items) => {
            let items: Vec<Bytes> = items.into_iter().map(Bytes::from).collect();
            list::push(ex, key, &items, false);
        }
        Object::Hash(pairs) => {
            let pairs: Vec<(Bytes, Bytes)> = pairs
                .into_iter()
                .map(|(f, v)| (Bytes::from(f), Bytes::from(v)))
                .collect();
            let refs: Vec<(&Bytes, &Bytes)> = pairs.iter().map(|(f, v)| (f, v)).collect();
            hash::write(ex, key, &refs);
        }
        Object::Set(members) => {
            let members: Vec<Bytes> = members.into_iter().map(Bytes::from).collect();
            set::store(ex, key, &members);
        }
        Object::ZSet(pairs) => {
            let pairs: Vec<(Bytes, f64)> = pairs
                .into_iter()
                .map(|(m, s)| (Bytes::from(m), s))
                .collect();
            let in_listpack = zset::combined_in_listpack(&pairs);
            zset::store(ex, key, pairs, in_listpack);
        }
        Object::Stream(v) => stream::store(ex, key, v.0),
    }
    if deadline != 0 {
        ex.set_expire_in(ex.db, key, deadline);
    }
}
