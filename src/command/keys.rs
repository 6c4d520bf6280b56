//! Which arguments of a command are keys, as Redis 7.0's `COMMAND GETKEYS`
//! finds them: the legacy range of the command table, plus the commands
//! whose keys move (a `numkeys` argument, a `STORE` option).
//!
//! Redis tries a command's key specs first and falls back to the command's
//! own key finder when a spec fails; the two differ in a few corners kept
//! here: a `numkeys` that is not a strict integer (`1x`, `02`, ` 2`) is read
//! by `atoi`, and the *STORE commands then list the destination last
//! instead of first; SORT's last `STORE` wins, GEORADIUS's first `STORE`
//! and first `STOREDIST` both count, and never as the last argument.

use bytes::Bytes;

use super::args::is;
use super::CommandSpec;

/// How a command with moving keys places them.
enum Movable {
    /// `numkeys` at `count`, the keys right after it; `dest` before it.
    NumKeys { dest: Option<usize>, count: usize },
    /// SORT: the key, then the last `STORE dest`.
    Sort,
    /// GEORADIUS*: the key, then `STORE` / `STOREDIST` keywords searched
    /// from argument `from`.
    GeoStore { from: usize },
    /// MIGRATE: the key argument, or the keys after `KEYS`.
    Migrate,
    /// XREAD / XREADGROUP: the first half of the arguments after STREAMS.
    Streams,
}

fn movable(name: &str) -> Option<Movable> {
    Some(match name {
        "zunionstore" | "zinterstore" | "zdiffstore" => Movable::NumKeys {
            dest: Some(1),
            count: 2,
        },
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            Movable::NumKeys {
                dest: None,
                count: 1,
            }
        }
        "blmpop" | "bzmpop" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall"
        | "fcall_ro" => Movable::NumKeys {
            dest: None,
            count: 2,
        },
        "sort" => Movable::Sort,
        "xread" | "xreadgroup" => Movable::Streams,
        "georadius" => Movable::GeoStore { from: 6 },
        "georadiusbymember" => Movable::GeoStore { from: 5 },
        "migrate" => Movable::Migrate,
        _ => return None,
    })
}

/// Whether the command takes keys at all (`The command has no key
/// arguments` otherwise).
pub fn has_keys(spec: &CommandSpec) -> bool {
    (spec.keys.first > 0 && !channels_not_keys(spec)) || movable(spec.name).is_some()
}

/// Whether the key range of `spec` names shard channels rather than keys
/// (Redis 7.0's `not_key` key-spec flag: SPUBLISH, SSUBSCRIBE,
/// SUNSUBSCRIBE). COMMAND INFO shows the range; COMMAND GETKEYS finds no
/// key there.
pub fn channels_not_keys(spec: &CommandSpec) -> bool {
    matches!(spec.name, "spublish" | "ssubscribe" | "sunsubscribe")
}

/// Whether COMMAND flags the command `movablekeys`, as Redis 7.0 does: its
/// keys are not all at the fixed positions of its key range (a client such
/// as redis-py's RedisCluster then asks COMMAND GETKEYS). SORT_RO's only key
/// is first, but Redis counts its BY / GET patterns as keys it cannot place.
pub fn movable_keys(spec: &CommandSpec) -> bool {
    movable(spec.name).is_some() || spec.name == "sort_ro"
}

/// The positions in `args` (`args[0]` is the command name, arity already
/// checked) of the keys, in Redis's order; empty when the arguments do not
/// say (a bad `numkeys`): `Invalid arguments specified for command`.
pub fn key_positions(spec: &CommandSpec, args: &[Bytes]) -> Vec<usize> {
    match movable(spec.name) {
        Some(Movable::NumKeys { dest, count }) => numkeys(args, dest, count),
        Some(Movable::Sort) => sort(args),
        Some(Movable::GeoStore { from }) => geo_store(args, from),
        Some(Movable::Migrate) => migrate(args),
        Some(Movable::Streams) => streams(args),
        None => spec.keys.positions(args.len()).collect(),
    }
}

fn numkeys(args: &[Bytes], dest: Option<usize>, count: usize) -> Vec<usize> {
    let Some(arg) = args.get(count) else {
        return Vec::new();
    };
    let first = count + 1;
    // The key spec: a strict integer, every key present.
    let strict = std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.starts_with('+') && (s.len() == 1 || !s.starts_with('0')))
        .and_then(|s| s.parse::<i64>().ok());
    if let Some(n) = strict.filter(|&n| n > 0) {
        let n = n as usize;
        if first + n <= args.len() {
            return dest.into_iter().chain(first..first + n).collect();
        }
        return Vec::new();
    }
    // The command's own finder: atoi, the destination last.
    let n = atoi(arg);
    if n < 1 || n as usize > args.len() - first {
        return Vec::new();
    }
    (first..first + n as usize).chain(dest).collect()
}

/// C's `atoi`: leading white space, a sign, digits; anything else ends it.
fn atoi(b: &[u8]) -> i64 {
    let (neg, rest) = super::args::c_sign(b);
    let mut n: i64 = 0;
    for d in rest.iter().take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Redis's `xreadGetKeys`: options are skipped up to STREAMS; the keys are
/// the first half of what follows (none when that is odd or empty).
fn streams(args: &[Bytes]) -> Vec<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if is(a, "block") || is(a, "count") {
            i += 1;
        } else if is(a, "group") {
            i += 2;
        } else if is(a, "streams") {
            let num = args.len() - i - 1;
            if num == 0 || num % 2 != 0 {
                return Vec::new();
            }
            return (i + 1..i + 1 + num / 2).collect();
        }
        i += 1;
    }
    Vec::new()
}

fn sort(args: &[Bytes]) -> Vec<usize> {
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "limit") {
            i += 2;
        } else if is(a, "get") || is(a, "by") {
            i += 1;
        } else if is(a, "store") && i + 1 < args.len() {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    std::iter::once(1).chain(store).collect()
}

fn geo_store(args: &[Bytes], from: usize) -> Vec<usize> {
    let find = |word: &str| {
        (from..args.len().saturating_sub(1))
            .find(|&i| is(&args[i], word))
            .map(|i| i + 1)
    };
    std::iter::once(1)
        .chain(find("store"))
        .chain(find("storedist"))
        .collect()
}

/// Redis's `migrateGetKeys`: AUTH and AUTH2 skip their arguments (so a
/// password `KEYS` is no keyword), `KEYS` with a non-empty key argument
/// names no key at all.
fn migrate(args: &[Bytes]) -> Vec<usize> {
    let mut i = 6;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "auth") {
            i += usize::from(more >= 1);
        } else if is(&args[i], "auth2") {
            i += if more >= 2 { 2 } else { 0 };
        } else if is(&args[i], "keys") {
            if !args[3].is_empty() {
                return Vec::new();
            }
            return (i + 1..args.len()).collect();
        }
        i += 1;
    }
    vec![3]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(cmd: &str) -> Vec<String> {
        let args: Vec<Bytes> = cmd
            .split(' ')
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let spec = crate::command::lookup(&args[0]).expect("a command");
        key_positions(spec, &args)
            .into_iter()
            .map(|i| String::from_utf8_lossy(&args[i]).into_owned())
            .collect()
    }

    /// Each case checked against redis-server 7.0.15's COMMAND GETKEYS.
    #[test]
    fn migrate_keys_are_found_as_redis_finds_them() {
        let found = |cmd: &str| -> Vec<String> {
            let args: Vec<Bytes> = cmd
                .split(' ')
                .map(|s| Bytes::copy_from_slice(s.trim_matches('\'').as_bytes()))
                .collect();
            migrate(&args)
                .into_iter()
                .map(|i| String::from_utf8_lossy(&args[i]).into_owned())
                .collect()
        };
        assert_eq!(found("MIGRATE h 1 '' 0 5 keys a b"), ["a", "b"]);
        assert_eq!(found("MIGRATE h 1 k 0 5"), ["k"]);
        assert_eq!(found("MIGRATE h 1 '' 0 5 copy replace auth keys a b"), [""]);
        assert_eq!(
            found("MIGRATE h 1 '' 0 5 auth2 keys b keys a b"),
            ["a", "b"]
        );
        assert!(found("MIGRATE h 1 k 0 5 keys a").is_empty());
    }

    /// Each case checked against redis-server 7.0.15's COMMAND GETKEYS.
    #[test]
    fn moving_keys_are_found_as_redis_finds_them() {
        let cases: &[(&str, &[&str])] = &[
            ("ZUNIONSTORE dest 2 a b", &["dest", "a", "b"]),
            ("XREAD COUNT 1 STREAMS a b 0 0", &["a", "b"]),
            ("XREADGROUP GROUP g c STREAMS a 0", &["a"]),
            ("XREAD STREAMS a b 0", &[]),
            ("XREAD BLOCK 0 STREAMS a $", &["a"]),
            ("ZUNIONSTORE dest 3 a b", &[]),
            ("ZUNIONSTORE dest 0 a", &[]),
            ("ZUNIONSTORE dest x a", &[]),
            ("ZUNIONSTORE d 1x a", &["a", "d"]),
            ("ZUNIONSTORE d 1 a WEIGHTS", &["d", "a"]),
            ("ZINTERSTORE d 1 a WEIGHTS 2", &["d", "a"]),
            ("ZDIFFSTORE d 2 a b", &["d", "a", "b"]),
            ("ZUNION 2 a b WITHSCORES", &["a", "b"]),
            ("ZINTERCARD 2 a b LIMIT 1", &["a", "b"]),
            ("SINTERCARD 02 a b", &["a", "b"]),
            ("SINTERCARD +2 a b", &["a", "b"]),
            ("LMPOP 2 a b LEFT", &["a", "b"]),
            ("LMPOP 1x a LEFT", &["a"]),
            ("LMPOP 0 a LEFT", &[]),
            ("LMPOP -1 a LEFT", &[]),
            ("BLMPOP 0 2 a b LEFT", &["a", "b"]),
            ("BLMPOP 0 1 a b", &["a"]),
            ("BZMPOP 0 2 a b MIN", &["a", "b"]),
            ("SORT k STORE d", &["k", "d"]),
            ("SORT k BY w STORE d GET x", &["k", "d"]),
            ("SORT k STORE", &["k"]),
            ("SORT k STORE d LIMIT", &["k", "d"]),
            ("SORT k LIMIT 0 1 STORE d STORE e", &["k", "e"]),
            ("SORT_RO k", &["k"]),
            ("GEORADIUS k 0 0 1 km STORE d", &["k", "d"]),
            ("GEORADIUS k 0 0 1 km STORE", &["k"]),
            ("GEORADIUS k 0 0 1 store d", &["k"]),
            ("GEORADIUS k 0 0 1 km STOREDIST e STORE d", &["k", "d", "e"]),
            ("GEORADIUS k 0 0 1 km STORE d STORE e", &["k", "d"]),
            ("GEORADIUSBYMEMBER k m 1 store d", &["k"]),
            ("GEORADIUSBYMEMBER k m 1 km store d", &["k", "d"]),
            ("GEORADIUS_RO k 0 0 1 km", &["k"]),
            ("GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km", &["d", "s"]),
            ("MSET a 1 b", &["a", "b"]),
        ];
        for (cmd, want) in cases {
            assert_eq!(keys(cmd), *want, "{cmd}");
        }
    }

    #[test]
    fn atoi_reads_like_c() {
        for (s, n) in [
            (" 2", 2),
            ("+2", 2),
            ("-3x", -3),
            ("x", 0),
            ("", 0),
            ("02", 2),
        ] {
            assert_eq!(atoi(s.as_bytes()), n, "{s:?}");
        }
    }
}
