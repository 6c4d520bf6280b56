//! Keyspace notifications (Redis's `notify-keyspace-events`): the event
//! classes, their configuration string, and the names commands report.
//!
//! A command reports what it did to a key through
//! [`Exec::notify`](super::Exec::notify) with a class and Redis's event
//! name (`"set"`, `"lpush"`, `"del"`, `"expired"`, ...). The keyspace asks
//! its [`KeyObserver`](super::KeyObserver) which classes are wanted and
//! hands it the wanted events, under the lock, in the order the command
//! made them; the server publishes them on `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>`. Nothing here is replicated: every cluster
//! node reports the events of the entries it applies, as a Redis replica
//! does.

/// `g`: commands that are not type-specific (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key removed because its deadline passed.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key evicted for memory (never: there is no maxmemory eviction).
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read of a missing key.
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events (no modules: accepted, never reported).
pub const MODULE: u32 = 1 << 12;
/// `n`: a key created.
pub const NEW: u32 = 1 << 13;
/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `A`: every class but `m` and `n`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The classes of a `notify-keyspace-events` string, or `None` for a
/// character that names none (Redis's error then lists the valid ones).
pub fn parse_classes(s: &str) -> Option<u32> {
    s.chars().try_fold(0, |flags, c| {
        Some(
            flags
                | match c {
                    'A' => ALL,
                    'g' => GENERIC,
                    '$' => STRING,
                    'l' => LIST,
                    's' => SET,
                    'h' => HASH,
                    'z' => ZSET,
                    'x' => EXPIRED,
                    'e' => EVICTED,
                    'K' => KEYSPACE,
                    'E' => KEYEVENT,
                    't' => STREAM,
                    'm' => KEY_MISS,
                    'd' => MODULE,
                    'n' => NEW,
                    _ => return None,
                },
        )
    })
}

/// The canonical string of `flags`, as CONFIG GET shows it: `A` for every
/// class of `A` (then `n` is not shown, as in Redis 7.0), else the class
/// letters in Redis's order; then `K`, `E` and `m`.
pub fn classes_string(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// The error text of an invalid class string (after CONFIG SET's prefix).
pub const INVALID_CLASSES: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_as_redis_shows_them() {
        for (given, shown) in [
            ("KEA", "AKE"),
            ("Ex", "xE"),
            ("", ""),
            ("gK", "gK"),
            ("AKEmn", "AKEm"),
            ("nK", "nK"),
            ("g$lshzxetdKE", "AKE"),
            ("$lz", "$lz"),
        ] {
            let flags = parse_classes(given).unwrap();
            assert_eq!(classes_string(flags), shown, "{given}");
        }
        assert_eq!(parse_classes("KEZ"), None);
        assert_eq!(parse_classes("k"), None);
    }
}
