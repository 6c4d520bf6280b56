//! Every type survives reopen and merge with identical contents, TTLs
//! included; the random workload exercises overwrite, delete, expiry,
//! RENAME / MOVE / COPY, SWAPDB and FLUSHDB, so that merge has dead records
//! of every kind to drop.

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, IndexKind, Options};

const NOW: u64 = 1_800_000_000_000;

fn open(dir: &std::path::Path) -> Keyspace {
    open_kind(dir, IndexKind::Hash)
}

fn open_kind(dir: &std::path::Path, kind: IndexKind) -> Keyspace {
    // Small files, so that there are immutable files for merge to rewrite.
    let opts = Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_index(kind)
        .with_max_file_size(16 * 1024);
    Keyspace::open(Config::new(opts)).expect("open keyspace")
}

fn run_in(ks: &Keyspace, db: usize, args: &[&[u8]]) -> Reply {
    run_at(ks, NOW, db, args)
}

fn run_at(ks: &Keyspace, now: u64, db: usize, args: &[&[u8]]) -> Reply {
    let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    ks.execute(&Ctx::new(now, 7, db), &argv)
}

/// A canonical text of every database: keys, types, values, deadlines.
fn dump(ks: &Keyspace) -> String {
    dump_at(ks, NOW)
}

/// [`dump`] with the clock at `now` (keys past their deadline are absent).
fn dump_at(ks: &Keyspace, now: u64) -> String {
    let run_in = |ks: &Keyspace, db: usize, args: &[&[u8]]| run_at(ks, now, db, args);
    let mut out = String::new();
    for db in 0..ks.databases() {
        let Reply::Array(keys) = run_in(ks, db, &[b"KEYS", b"*"]) else {
            panic!("KEYS failed");
        };
        let mut keys: Vec<Vec<u8>> = keys
            .into_iter()
            .map(|k| match k {
                Reply::Bulk(b) => b.to_vec(),
                other => panic!("bad key {other:?}"),
            })
            .collect();
        keys.sort();
        for key in keys {
            let ty = run_in(ks, db, &[b"TYPE", &key]);
            let value = match &ty {
                Reply::Simple(t) if t == "string" => run_in(ks, db, &[b"GET", &key]),
                Reply::Simple(t) if t == "list" => run_in(ks, db, &[b"LRANGE", &key, b"0", b"-1"]),
                Reply::Simple(t) if t == "hash" => sorted(run_in(ks, db, &[b"HGETALL", &key])),
                Reply::Simple(t) if t == "set" => sorted(run_in(ks, db, &[b"SMEMBERS", &key])),
                Reply::Simple(t) if t == "zset" => {
                    run_in(ks, db, &[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"])
                }
                Reply::Simple(t) if t == "MBbloom--" => Reply::Array(vec![
                    run_in(ks, db, &[b"BF.INFO", &key]),
                    run_in(
                        ks,
                        db,
                        &[b"BF.MEXISTS", &key, b"i0", b"i1", b"i7", b"i33", b"zz"],
                    ),
                ]),
                Reply::Simple(t) if t == "stream" => Reply::Array(vec![
                    run_in(
                        ks,
                        db,
                        &[b"XINFO", b"STREAM", &key, b"FULL", b"COUNT", b"0"],
                    ),
                    run_in(ks, db, &[b"XINFO", b"STREAM", &key]),
                    run_in(ks, db, &[b"XINFO", b"GROUPS", &key]),
                ]),
                other => panic!("unexpected type {other:?}"),
            };
            let deadline = run_in(ks, db, &[b"PEXPIRETIME", &key]);
            out.push_str(&format!(
                "db{db} {:?} {ty:?} {value:?} {deadline:?}\n",
                String::from_utf8_lossy(&key)
            ));
        }
    }
    out
}

/// An array reply with its items sorted (HGETALL pairs kept together).
fn sorted(r: Reply) -> Reply {
    let mut text: Vec<String> = match r {
        Reply::Array(items) | Reply::Set(items) => items.iter().map(|i| format!("{i:?}")).collect(),
        Reply::Map(pairs) => pairs.iter().map(|p| format!("{p:?}")).collect(),
        other => panic!("not a collection reply: {:.200}", format!("{other:?}")),
    };
    text.sort();
    Reply::Bulk(Bytes::from(text.join(",")))
}

/// splitmix64.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn workload(ks: &Keyspace, seed: u64, steps: usize) {
    let mut g = Gen(seed);
    for step in 0..steps {
        let db = g.below(3) as usize;
        let k = format!("k{}", g.below(12)).into_bytes();
        let k2 = format!("k{}", g.below(12)).into_bytes();
        let v = format!("v{step}-{}", "x".repeat(g.below(40) as usize)).into_bytes();
        let n = g.below(5).to_string().into_bytes();
        let dbs = g.below(3).to_string().into_bytes();
        let item = format!("i{}", g.below(40)).into_bytes();
        let ttl = (10_000 + g.below(100_000)).to_string().into_bytes();
        let args: Vec<&[u8]> = match g.below(26) {
            0 | 1 => vec![b"SET", &k, &v],
            2 => vec![b"SET", &k, &v, b"PX", &ttl],
            3 => vec![b"APPEND", &k, &v],
            4 => vec![b"INCR", &k],
            5 | 6 => vec![b"RPUSH", &k, &v, &v],
            7 => vec![b"LPUSH", &k, &v],
            8 => vec![b"LPOP", &k, &n],
            9 => vec![b"RPOP", &k],
            10 => vec![b"LSET", &k, b"0", &v],
            11 => vec![b"LINSERT", &k, b"BEFORE", b"nothing", &v],
            12 => vec![b"LTRIM", &k, b"1", b"-2"],
            13 => vec![b"LREM", &k, b"1", &v],
            14 => vec![b"DEL", &k],
            15 => vec![b"PEXPIRE", &k, &ttl],
            16 => vec![b"PERSIST", &k],
            17 => vec![b"RENAME", &k, &k2],
            18 => vec![b"COPY", &k, &k2, b"DB", &dbs, b"REPLACE"],
            19 => vec![b"MOVE", &k, &dbs],
            20 => vec![b"BF.ADD", &k, &item],
            21 => vec![b"BF.MADD", &k, &item, b"i0", b"i1"],
            22 => vec![b"LMOVE", &k, &k2, b"LEFT", b"RIGHT"],
            23 if step % 50 == 0 => vec![b"SWAPDB", b"0", &dbs],
            24 if step % 97 == 0 => vec![b"FLUSHDB"],
            25 => vec![b"MSET", &k, &v, &k2, &v],
            _ => vec![b"GET", &k],
        };
        run_in(ks, db, &args);
    }
}

#[test]
fn every_type_survives_reopen_and_merge() {
    for kind in [IndexKind::Hash, IndexKind::BTree, IndexKind::SkipList] {
        survives_reopen_and_merge(kind);
    }
}

fn survives_reopen_and_merge(kind: IndexKind) {
    let open = |dir: &std::path::Path| open_kind(dir, kind);
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let ks = open(dir.path());
        workload(&ks, 1, 3000);
        let d = dump(&ks);
        assert!(d.contains("\"list\""), "workload made no list");
        assert!(d.contains("MBbloom--"), "workload made no bloom filter");
        assert!(d.contains("\"string\""), "workload made no string");
        assert!(d.contains("Integer(18"), "workload set no deadline");
        d
    };
    let ks = open(dir.path());
    assert_eq!(dump(&ks), before, "reopen changed the data");
    ks.merge().expect("merge");
    assert_eq!(dump(&ks), before, "merge changed the data");
    // Writes after the merge land in new files and win over merged ones.
    workload(&ks, 2, 1500);
    let after = dump(&ks);
    ks.merge().expect("second merge");
    assert_eq!(dump(&ks), after, "second merge changed the data");
    drop(ks);
    let ks = open(dir.path());
    // Values loaded at recovery are the keyspace's own: the log's value
    // cache must not hold them a second time.
    assert_eq!(
        ks.stats().storage.cache_bytes,
        0,
        "recovery filled the value cache"
    );
    assert_eq!(dump(&ks), after, "reopen after merge changed the data");
}

#[test]
fn merge_reclaims_dead_collections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let big = vec![b'x'; 200];
    for i in 0..500 {
        run_in(
            &ks,
            0,
            &[b"RPUSH", b"list", &big, format!("{i}").as_bytes()],
        );
    }
    run_in(&ks, 0, &[b"SET", b"keep", b"me"]);
    run_in(&ks, 0, &[b"DEL", b"list"]);
    // Let the dropper report the dead bytes (it runs off the caller's path).
    let before = ks.stats().storage.disk_bytes;
    ks.merge().expect("merge");
    let after = ks.stats().storage.disk_bytes;
    assert!(after < before / 4, "merge kept {after} of {before} bytes");
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(
        run_in(&ks, 0, &[b"GET", b"keep"]),
        Reply::Bulk(Bytes::from_static(b"me"))
    );
    assert_eq!(run_in(&ks, 0, &[b"EXISTS", b"list"]), Reply::Integer(0));
}

#[test]
fn deadlines_changed_later_survive_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    // Deadline in the past of the wall clock used by storage's merge, then
    // removed: the value must survive merge and reopen.
    let ctx_past = Ctx::new(1_000, 1, 0);
    let argv = |a: &[&str]| -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    };
    ks.execute(&ctx_past, &argv(&["SET", "k", "v", "PXAT", "2000"]));
    ks.execute(&ctx_past, &argv(&["RPUSH", "l", "a"]));
    ks.execute(&ctx_past, &argv(&["PEXPIREAT", "l", "2000"]));
    ks.execute(&ctx_past, &argv(&["PERSIST", "k"]));
    ks.execute(&ctx_past, &argv(&["PERSIST", "l"]));
    for i in 0..200 {
        ks.execute(
            &ctx_past,
            &argv(&["SET", &format!("filler{i}"), &"y".repeat(200)]),
        );
    }
    ks.merge().expect("merge");
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(
        ks.execute(&ctx_past, &argv(&["GET", "k"])),
        Reply::Bulk(Bytes::from_static(b"v"))
    );
    assert_eq!(
        ks.execute(&ctx_past, &argv(&["TTL", "k"])),
        Reply::Integer(-1)
    );
    assert_eq!(
        ks.execute(&ctx_past, &argv(&["LLEN", "l"])),
        Reply::Integer(1)
    );
}

/// RENAME and MOVE of a collection of any size are one record (plus its
/// deadline), as Redis's O(1): the incarnation keeps its records and a
/// rename record says where it went. Chains of renames (past the point
/// where a rename rewrites the value instead), names reused by new keys,
/// MOVE across databases, writes under the new name, and then reopen (log
/// replay, then hint files) and merge must all give back the same data.
#[test]
fn rename_and_move_are_one_record_and_survive_merge_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let run = |args: &[&[u8]]| run_in(&ks, 0, args);
    for i in 0..5000 {
        let m = format!("member:{i:05}");
        let m = m.as_bytes();
        run(&[b"HSET", b"h", m, b"value"]);
        run(&[b"SADD", b"s", m]);
        run(&[b"ZADD", b"z", format!("{}", i % 97).as_bytes(), m]);
        run(&[b"RPUSH", b"l", m]);
        run(&[b"BF.ADD", b"b", m]);
    }
    run(&[b"SET", b"str", &[b'v'; 3000], b"PX", b"900000"]);
    run(&[b"PEXPIRE", b"h", b"800000"]);
    let disk = |ks: &Keyspace| ks.stats().storage.disk_bytes;
    let before = disk(&ks);
    for (src, dst) in [
        (&b"h"[..], &b"h2"[..]),
        (b"s", b"s2"),
        (b"z", b"z2"),
        (b"l", b"l2"),
        (b"b", b"b2"),
        (b"str", b"str2"),
    ] {
        assert_eq!(run(&[b"RENAME", src, dst]), Reply::ok());
    }
    assert_eq!(run_in(&ks, 0, &[b"MOVE", b"z2", b"2"]), Reply::Integer(1));
    let grown = disk(&ks) - before;
    // Two small records each (the rename and the deadline under the new
    // name), where a rewrite of the values would append hundreds of KB.
    assert!(
        grown < 2000,
        "six renames and a move of 5000-element values appended {grown} bytes"
    );
    assert_eq!(run(&[b"HLEN", b"h2"]), Reply::Integer(5000));
    assert_eq!(run_in(&ks, 2, &[b"ZCARD", b"z2"]), Reply::Integer(5000));
    assert_eq!(
        run(&[b"EXISTS", b"h", b"s", b"z", b"l", b"b", b"str"]),
        Reply::Integer(0)
    );
    // The old names get new values; the renamed ones keep changing.
    run(&[b"HSET", b"h", b"f", b"new"]);
    run(&[b"SET", b"s", b"now a string"]);
    run(&[b"HDEL", b"h2", b"member:00000"]);
    run(&[b"HSET", b"h2", b"member:00001", b"changed", b"extra", b"x"]);
    run(&[b"LPOP", b"l2", b"3"]);
    run(&[b"RPUSH", b"l2", b"tail"]);
    run(&[b"SREM", b"s2", b"member:00002"]);
    run_in(&ks, 2, &[b"ZADD", b"z2", b"1000", b"member:00003"]);
    run(&[b"BF.ADD", b"b2", b"late"]);
    run(&[b"INCR", b"counter"]);
    run(&[b"RENAME", b"counter", b"counter2"]);
    run(&[b"INCRBY", b"counter2", b"41"]);
    // Renames back and forth between two names, with writes and a deadline
    // in between: a chain of 40 renames of the 5000-member set (its records
    // kept), and past the rename limit of a small set (its 17th rename
    // rewrites it).
    run(&[b"SADD", b"small", b"a", b"b", b"c"]);
    for (one, other) in [(&b"s2"[..], &b"s3"[..]), (b"small", b"small2")] {
        for i in 0..40 {
            let (a, b) = if i % 2 == 0 {
                (one, other)
            } else {
                (other, one)
            };
            assert_eq!(run(&[b"RENAME", a, b]), Reply::ok());
            run(&[b"SADD", b, format!("hop{i}").as_bytes()]);
            if one == b"small" && i > 0 {
                // The small set stays small (under its rename limit of 16).
                run(&[b"SREM", b, format!("hop{}", i - 1).as_bytes()]);
            }
            if i == 10 {
                run(&[b"PEXPIRE", b, b"700000"]);
            }
        }
    }
    // A rename onto an existing key replaces it; MOVE back.
    run(&[b"RENAME", b"l2", b"h"]);
    assert_eq!(run_in(&ks, 2, &[b"MOVE", b"z2", b"0"]), Reply::Integer(1));
    let want = dump(&ks);
    assert!(want.contains("hop39"), "the chain lost its last write");
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(dump(&ks), want, "reopen (log replay) changed the data");
    let ks = merge_and_reopen(dir.path(), ks, &want, "first");
    // More renames and writes after the merge, merged again.
    run_in(&ks, 0, &[b"RENAME", b"h2", b"h4"]);
    run_in(&ks, 0, &[b"HSET", b"h4", b"after", b"merge"]);
    run_in(&ks, 0, &[b"RENAME", b"b2", b"s2"]);
    let want = dump(&ks);
    merge_and_reopen(dir.path(), ks, &want, "second");
}

/// Merges `ks` and reopens it (from the hint files), checking after each
/// step that it still holds `want`.
fn merge_and_reopen(dir: &std::path::Path, ks: Keyspace, want: &str, which: &str) -> Keyspace {
    ks.merge().expect("merge");
    assert_eq!(dump(&ks), want, "the {which} merge changed the data");
    drop(ks);
    let ks = open(dir);
    let got = dump(&ks);
    if got != want {
        let lines = |t: &str| t.lines().map(str::to_owned).collect::<Vec<_>>();
        let (got_lines, want_lines) = (lines(&got), lines(want));
        let missing: Vec<_> = want_lines
            .iter()
            .filter(|l| !got_lines.contains(l))
            .collect();
        let extra: Vec<_> = got_lines
            .iter()
            .filter(|l| !want_lines.contains(l))
            .collect();
        panic!(
            "reopen after the {which} merge changed the data:\nwanted {missing:#?}\ngot {extra:#?}"
        );
    }
    ks
}

/// A random workload over hashes, sets and sorted sets (adds, removes,
/// SPOP, RENAME, MOVE, COPY, deadlines, DEL) on 8 keys in 3 databases,
/// merged now and then: reopen by replay, merge, reopen from hint files,
/// more work and a second merge must all give back the same data.
#[test]
fn collections_with_renames_and_deadlines_survive_merge_and_reopen() {
    for seed in 200..230u64 {
        work_reopen_merge_twice(seed, collection_workload, |_| {});
    }
}

/// `workload(seed, 3000 steps)`, reopen by replay, merge and reopen from
/// hint files, `workload(seed + 1000, 1500 steps)`, merge and reopen again:
/// every step must give back the same data. `check` sees the first dump.
fn work_reopen_merge_twice(seed: u64, workload: fn(&Keyspace, u64, usize), check: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    workload(&ks, seed, 3000);
    let want = dump(&ks);
    check(&want);
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(dump(&ks), want, "seed {seed}: reopen changed the data");
    let ks = merge_and_reopen(dir.path(), ks, &want, &format!("seed {seed} first"));
    workload(&ks, seed + 1000, 1500);
    let want = dump(&ks);
    merge_and_reopen(dir.path(), ks, &want, &format!("seed {seed} second"));
}

fn collection_workload(ks: &Keyspace, seed: u64, steps: usize) {
    let mut g = Gen(seed);
    for step in 0..steps {
        let db = g.below(3) as usize;
        let k = format!("k{}", g.below(8)).into_bytes();
        let k2 = format!("k{}", g.below(8)).into_bytes();
        let m = format!("m{}", g.below(30)).into_bytes();
        let v = format!("v{step}").into_bytes();
        let score = g.below(50).to_string().into_bytes();
        let dbs = g.below(3).to_string().into_bytes();
        let ttl = (10_000 + g.below(100_000)).to_string().into_bytes();
        let args: Vec<&[u8]> = match g.below(16) {
            0 | 1 => vec![b"HSET", &k, &m, &v],
            2 => vec![b"HDEL", &k, &m],
            3 | 4 => vec![b"SADD", &k, &m],
            5 => vec![b"SREM", &k, &m],
            6 | 7 => vec![b"ZADD", &k, &score, &m],
            8 => vec![b"ZREM", &k, &m],
            9 | 10 => vec![b"RENAME", &k, &k2],
            11 => vec![b"MOVE", &k, &dbs],
            12 => vec![b"PEXPIRE", &k, &ttl],
            13 => vec![b"DEL", &k],
            14 => vec![b"SPOP", &k],
            _ => vec![b"COPY", &k, &k2, b"REPLACE"],
        };
        run_in(ks, db, &args);
        if step % 500 == 499 && g.below(2) == 0 {
            ks.merge().expect("merge");
        }
    }
}

/// A deadline set on a collection whose first elements are all removed
/// later: merge drops those elements, so the EXPIRE record comes before
/// every surviving record of the incarnation. Replay used to drop that
/// deadline (found by the random workload above).
#[test]
fn a_deadline_older_than_every_surviving_element_survives_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let run = |args: &[&[u8]]| run_in(&ks, 0, args);
    for (add, rem) in [
        (
            &[&b"SADD"[..], b"s", b"first"][..],
            &[&b"SREM"[..], b"s", b"first"][..],
        ),
        (&[b"HSET", b"h", b"first", b"v"], &[b"HDEL", b"h", b"first"]),
        (&[b"ZADD", b"z", b"1", b"first"], &[b"ZREM", b"z", b"first"]),
        (&[b"RPUSH", b"l", b"first"], &[b"LPOP", b"l"]),
    ] {
        let key = add[1];
        run(add);
        run(&[b"PEXPIRE", key, b"500000"]);
        let mut later = add.to_vec();
        let later_member = b"later".to_vec();
        if let Some(pos) = later.iter().position(|a| *a == b"first") {
            later[pos] = &later_member;
        }
        run(&later);
        run(rem);
    }
    for i in 0..200 {
        run(&[b"SET", format!("filler{i}").as_bytes(), &[b'y'; 200]]);
    }
    let want = dump(&ks);
    assert_eq!(want.matches("Integer(1800000500000)").count(), 4, "{want}");
    merge_and_reopen(dir.path(), ks, &want, "only");
}

/// Every family and most write commands at once (strings with their
/// options, lists, hashes, sets, sorted sets, bloom filters, the *STORE
/// commands, RENAME / RENAMENX / COPY / MOVE, deadlines set, changed,
/// removed and already past, SWAPDB, FLUSHDB) on 10 keys in 3 databases,
/// merged now and then; reopen by replay, merge, reopen from hint files
/// and more work must all give back the same data (longer hunts: see
/// [`hunt_seeds`]).
#[test]
fn every_write_command_survives_merge_and_reopen() {
    // Seeds 300..400, and those that found a bug (522: a PERSIST before a
    // RENAME undone by merge + reopen).
    for seed in hunt_seeds((300..400).chain([522])) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        mixed_workload(&ks, seed, 2500, 0);
        let want = dump(&ks);
        if seed == 300 {
            for ty in [
                "string",
                "list",
                "hash",
                "set",
                "zset",
                "MBbloom--",
                "Integer(18",
            ] {
                assert!(want.contains(ty), "the workload left no {ty}:\n{want}");
            }
        }
        drop(ks);
        let ks = open(dir.path());
        assert_eq!(dump(&ks), want, "seed {seed}: reopen changed the data");
        let ks = merge_and_reopen(dir.path(), ks, &want, &format!("seed {seed} first"));
        mixed_workload(&ks, seed + 10_000, 1500, 0);
        let want = dump(&ks);
        merge_and_reopen(dir.path(), ks, &want, &format!("seed {seed} second"));
    }
}

/// The seeds of a random workload test: `default`, or
/// `FINCASKV_PERSIST_SEEDS=N [FINCASKV_PERSIST_FIRST=S]` (seeds S..S+N, S
/// defaulting to 0) for a longer hunt.
fn hunt_seeds(default: impl Iterator<Item = u64>) -> Vec<u64> {
    let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    match env("FINCASKV_PERSIST_SEEDS") {
        Some(n) => {
            let first = env("FINCASKV_PERSIST_FIRST").unwrap_or(0);
            (first..first + n).collect()
        }
        None => default.collect(),
    }
}

/// The clock of step `step` when it moves `tick` ms a step.
fn clock(step: usize, tick: u64) -> u64 {
    NOW + step as u64 * tick
}

/// `steps` random writes; the clock moves `tick` ms a step (0: it stands
/// still), so that deadlines pass and keys expire (lazily, and by an
/// active expiry cycle now and then). Returns how many keys the cycles
/// removed.
fn mixed_workload(ks: &Keyspace, seed: u64, steps: usize, tick: u64) -> usize {
    let mut g = Gen(seed);
    let mut expired = 0;
    for step in 0..steps {
        let now = clock(step, tick);
        let db = g.below(3) as usize;
        let k = format!("k{}", g.below(10)).into_bytes();
        let k2 = format!("k{}", g.below(10)).into_bytes();
        let k3 = format!("k{}", g.below(10)).into_bytes();
        let m = format!("m{}", g.below(25)).into_bytes();
        let v = format!("v{step}-{}", "x".repeat(g.below(30) as usize)).into_bytes();
        let n = g.below(4).to_string().into_bytes();
        let score = (g.below(40) as i64 - 10).to_string().into_bytes();
        let dbs = g.below(3).to_string().into_bytes();
        let ttl = (10_000 + g.below(100_000)).to_string().into_bytes();
        let past = (now - 1 - g.below(1000)).to_string().into_bytes();
        let bit_at = (step % 50 * 7).to_string().into_bytes();
        let bit = [b'0' + (step / 3 % 2) as u8];
        let args: Vec<&[u8]> = match g.below(64) {
            0 => vec![b"SET", &k, &v],
            1 => vec![b"SET", &k, &v, b"PX", &ttl, b"GET"],
            2 => vec![b"SET", &k, &v, b"KEEPTTL", b"XX"],
            3 => vec![b"SET", &k, &v, b"NX", b"EX", b"100"],
            // Every third one a SETBIT instead on odd seeds (no extra
            // draw; even seeds, regression seed 522 among them, keep the
            // exact sequences they had before SETBIT existed).
            4 if seed % 2 == 1 && step % 3 == 0 => vec![b"SETBIT", &k, &bit_at, &bit],
            4 => vec![b"SETRANGE", &k, &n, &v],
            // Odd seeds also run BITFIELD, SORT ... STORE and BITOP in
            // place of some APPEND / SINTERSTORE / SDIFFSTORE steps (same
            // rule: no extra draw).
            5 if seed % 2 == 1 && step % 3 == 1 => {
                vec![b"BITFIELD", &k, b"INCRBY", b"u8", &bit_at, &score]
            }
            5 => vec![b"APPEND", &k, &v],
            6 => vec![b"INCRBY", &k, &score],
            7 => vec![b"INCRBYFLOAT", &k, b"1.5"],
            8 => vec![b"GETDEL", &k],
            9 => vec![b"GETEX", &k, b"PX", &ttl],
            10 => vec![b"GETEX", &k, b"PERSIST"],
            11 => vec![b"MSETNX", &k, &v, &k2, &v],
            12 | 13 => vec![b"RPUSH", &k, &v, &m],
            14 => vec![b"LPUSH", &k, &m],
            15 => vec![b"LPOP", &k, &n],
            16 => vec![b"RPOP", &k],
            17 => vec![b"LSET", &k, b"-1", &v],
            18 => vec![b"LINSERT", &k, b"AFTER", &m, &v],
            19 => vec![b"LTRIM", &k, b"1", b"-1"],
            20 => vec![b"LREM", &k, b"0", &m],
            21 => vec![b"LMOVE", &k, &k2, b"RIGHT", b"LEFT"],
            22 => vec![b"LMPOP", b"2", &k, &k2, b"LEFT", b"COUNT", b"2"],
            23 | 24 => vec![b"HSET", &k, &m, &v, b"f", &n],
            25 => vec![b"HDEL", &k, &m],
            26 => vec![b"HINCRBY", &k, &m, &score],
            27 => vec![b"HINCRBYFLOAT", &k, b"f", b"0.25"],
            28 => vec![b"HSETNX", &k, &m, &v],
            29 | 30 => vec![b"SADD", &k, &m, &n],
            31 => vec![b"SREM", &k, &m],
            32 => vec![b"SPOP", &k, &n],
            33 => vec![b"SMOVE", &k, &k2, &m],
            34 if seed % 2 == 1 && step % 3 == 1 => {
                vec![b"SORT", &k, b"BY", b"nosort", b"STORE", &k3]
            }
            34 => vec![b"SINTERSTORE", &k3, &k, &k2],
            35 => vec![b"SUNIONSTORE", &k3, &k, &k2],
            36 if seed % 2 == 1 && step % 3 == 1 => vec![b"BITOP", b"OR", &k3, &k, &k2],
            36 => vec![b"SDIFFSTORE", &k3, &k, &k2],
            37 | 38 => vec![b"ZADD", &k, &score, &m],
            39 => vec![b"ZADD", &k, b"GT", b"CH", &score, &m, b"7", &n],
            40 => vec![b"ZADD", &k, b"INCR", &score, &m],
            41 => vec![b"ZINCRBY", &k, b"2.5", &m],
            42 => vec![b"ZREM", &k, &m],
            43 => vec![b"ZPOPMIN", &k, &n],
            44 => vec![b"ZPOPMAX", &k],
            45 => vec![b"ZREMRANGEBYRANK", &k, b"0", b"1"],
            46 => vec![b"ZREMRANGEBYSCORE", &k, b"-5", b"0"],
            47 => vec![b"ZUNIONSTORE", &k3, b"2", &k, &k2, b"WEIGHTS", b"1", b"2"],
            48 => vec![b"ZINTERSTORE", &k3, b"2", &k, &k2, b"AGGREGATE", b"MAX"],
            49 => vec![b"ZRANGESTORE", &k3, &k, b"0", b"-2"],
            50 => vec![b"ZMPOP", b"2", &k, &k2, b"MAX", b"COUNT", b"2"],
            51 => vec![b"BF.ADD", &k, &m],
            52 => vec![b"BF.MADD", &k, &m, b"i0", b"i1"],
            53 => vec![b"DEL", &k, &k2],
            54 => vec![b"UNLINK", &k],
            55 | 56 => vec![b"RENAME", &k, &k2],
            57 => vec![b"RENAMENX", &k, &k2],
            58 => vec![b"COPY", &k, &k2, b"DB", &dbs, b"REPLACE"],
            59 => vec![b"MOVE", &k, &dbs],
            60 => vec![b"PEXPIRE", &k, &ttl, b"GT"],
            61 => vec![b"PEXPIREAT", &k, &past],
            62 => vec![b"PERSIST", &k],
            _ if step % 40 == 0 => vec![b"SWAPDB", b"1", &dbs],
            _ if step % 131 == 0 => vec![b"FLUSHDB"],
            _ => vec![b"PEXPIRE", &k, &ttl],
        };
        let r = run_at(ks, now, db, &args);
        if tick > 0 && step % 97 == 0 {
            expired += ks.active_expire_cycle(now);
        }
        if std::env::var_os("FINCASKV_PERSIST_TRACE").is_some() {
            let text: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            eprintln!("TRACE {step} db{db} {} -> {r:?}", text.join(" "));
        }
        if step % 400 == 399 && g.below(2) == 0 {
            if std::env::var_os("FINCASKV_PERSIST_TRACE").is_some() {
                eprintln!("TRACE {step} MERGE");
            }
            ks.merge().expect("merge");
        }
    }
    expired
}

/// [`every_write_command_survives_merge_and_reopen`] with a clock that
/// moves 40 ms a step: deadlines of 10-110 s pass during the run, keys
/// expire lazily and in active expiry cycles, and the data compared after
/// each reopen is the data at the run's last instant.
#[test]
fn every_write_command_survives_merge_and_reopen_while_keys_expire() {
    const TICK: u64 = 40;
    let mut expired = 0;
    for seed in hunt_seeds(700..760) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        expired += mixed_workload(&ks, seed, 2500, TICK);
        let end = clock(2500, TICK);
        let want = dump_at(&ks, end);
        drop(ks);
        let ks = open(dir.path());
        assert_eq!(
            dump_at(&ks, end),
            want,
            "seed {seed}: reopen changed the data"
        );
        ks.merge().expect("merge");
        assert_eq!(
            dump_at(&ks, end),
            want,
            "seed {seed}: merge changed the data"
        );
        drop(ks);
        let ks = open(dir.path());
        assert_eq!(
            dump_at(&ks, end),
            want,
            "seed {seed}: reopen after merge changed the data"
        );
    }
    assert!(expired > 0, "no key expired in an active cycle");
}

/// A keyspace copy as a cluster snapshot carries it (`export_into`).
fn snapshot_of(ks: &Keyspace) -> Vec<fincaskv::keyspace::DumpRecord> {
    struct Collect(Vec<fincaskv::keyspace::DumpRecord>);
    impl fincaskv::keyspace::ExportSink for Collect {
        type Error = std::convert::Infallible;
        fn meta(&mut self, _meta: Option<&Bytes>) -> Result<(), Self::Error> {
            Ok(())
        }
        fn record(&mut self, r: &fincaskv::storage::RecordRef<'_>) -> Result<(), Self::Error> {
            self.0.push(r.into());
            Ok(())
        }
    }
    let mut c = Collect(Vec::new());
    let Ok(()) = ks.export_into(&mut c);
    c.0
}

/// The random workload (renamed incarnations, deadlines, every family)
/// copied as a snapshot and installed into another keyspace that held
/// other data: the copy holds the same data and digest, and keeps it
/// across reopen, merge and reopen from hints.
#[test]
fn a_snapshot_of_the_random_workload_installs_the_same_data() {
    const TICK: u64 = 40;
    for seed in hunt_seeds(900..930) {
        let src_dir = tempfile::tempdir().expect("tempdir");
        let src = open(src_dir.path());
        mixed_workload(&src, seed, 2500, TICK);
        let end = clock(2500, TICK);
        let want = dump_at(&src, end);
        let records = snapshot_of(&src);
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        mixed_workload(&ks, seed + 50_000, 300, 0);
        let mut import = ks.begin_import().expect("begin import");
        for r in &records {
            import.push(r).expect("push");
        }
        import.commit(Bytes::from_static(b"meta")).expect("commit");
        assert_eq!(
            dump_at(&ks, end),
            want,
            "seed {seed}: the installed copy differs"
        );
        assert_eq!(ks.digest(), src.digest(), "seed {seed}: digests differ");
        drop(ks);
        let ks = open(dir.path());
        assert_eq!(
            dump_at(&ks, end),
            want,
            "seed {seed}: reopen changed the copy"
        );
        ks.merge().expect("merge");
        drop(ks);
        let ks = open(dir.path());
        assert_eq!(
            dump_at(&ks, end),
            want,
            "seed {seed}: merge + reopen changed the copy"
        );
    }
}

/// The random workload on the ordered key-map kinds too (the keyspace's
/// keys in B-trees or skip lists instead of the hash directory).
#[test]
fn the_random_workload_survives_merge_and_reopen_on_every_index_kind() {
    for kind in [IndexKind::BTree, IndexKind::SkipList] {
        for seed in hunt_seeds(1200..1215) {
            let dir = tempfile::tempdir().expect("tempdir");
            let ks = open_kind(dir.path(), kind);
            mixed_workload(&ks, seed, 2500, 40);
            let end = clock(2500, 40);
            let want = dump_at(&ks, end);
            drop(ks);
            let ks = open_kind(dir.path(), kind);
            assert_eq!(dump_at(&ks, end), want, "{kind:?} seed {seed}: reopen");
            ks.merge().expect("merge");
            drop(ks);
            let ks = open_kind(dir.path(), kind);
            assert_eq!(
                dump_at(&ks, end),
                want,
                "{kind:?} seed {seed}: merge + reopen"
            );
        }
    }
}

/// A Lua script's writes are ONE storage batch: they survive a reopen
/// together, and a crash that cuts the batch's tail (the commit record)
/// loses all of them, never some; a write before the script is unaffected.
#[test]
fn a_scripts_writes_are_one_batch() {
    const SCRIPT: &[u8] = b"for i = 1, 5 do redis.call('set', KEYS[1] .. i, ARGV[1]) end \
        redis.call('rpush', 'list', 'a', 'b') return redis.call('dbsize')";
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ks = open(dir.path());
        assert_eq!(run_in(&ks, 0, &[b"SET", b"before", b"1"]), Reply::ok());
        assert_eq!(
            run_in(&ks, 0, &[b"EVAL", SCRIPT, b"1", b"k", b"v"]),
            Reply::Integer(7)
        );
    }
    let expected = {
        let ks = open(dir.path());
        let text = dump(&ks);
        for i in 1..=5 {
            assert!(text.contains(&format!("k{i}")), "{text}");
        }
        assert!(text.contains("list"), "{text}");
        text
    };
    // The same again, then cut the newest data file inside the last batch.
    let dir2 = tempfile::tempdir().expect("tempdir");
    {
        let ks = open(dir2.path());
        assert_eq!(run_in(&ks, 0, &[b"SET", b"before", b"1"]), Reply::ok());
        assert_eq!(
            run_in(&ks, 0, &[b"EVAL", SCRIPT, b"1", b"k", b"v"]),
            Reply::Integer(7)
        );
        assert_eq!(dump(&ks), expected);
    }
    let newest = std::fs::read_dir(dir2.path())
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .max()
        .expect("a data file");
    let bytes = std::fs::read(&newest).expect("read data file");
    let end = bytes.iter().rposition(|&b| b != 0).expect("records");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .expect("open data file");
    file.set_len(end as u64).expect("truncate");
    drop(file);
    let ks = open(dir2.path());
    let text = dump(&ks);
    assert!(text.contains("before"), "{text}");
    assert!(!text.contains("k1") && !text.contains("list"), "{text}");
}

/// A script that fails midway keeps the writes it made before the error
/// (Redis does not roll back), and they persist.
#[test]
fn a_failed_script_keeps_its_earlier_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ks = open(dir.path());
        let reply = run_in(
            &ks,
            0,
            &[
                b"EVAL",
                b"redis.call('set', 'a', '1') redis.call('hset', 'h', 'f', 'v') \
                  redis.call('lpush', 'a', 'x') redis.call('set', 'b', '1')",
                b"0",
            ],
        );
        assert!(
            matches!(&reply, Reply::Error(e) if e.starts_with("WRONGTYPE")),
            "{reply:?}"
        );
    }
    let ks = open(dir.path());
    assert_eq!(
        run_in(&ks, 0, &[b"GET", b"a"]),
        Reply::Bulk(Bytes::from_static(b"1"))
    );
    assert_eq!(
        run_in(&ks, 0, &[b"HGET", b"h", b"f"]),
        Reply::Bulk(Bytes::from_static(b"v"))
    );
    assert_eq!(run_in(&ks, 0, &[b"GET", b"b"]), Reply::Nil);
}

/// RESTORE writes each type through its family's records: restored values
/// (with deadlines, REPLACE over another type, in another database) come
/// back identical after a reopen by replay, a merge and a reopen from hint
/// files; DUMP of a bloom filter is an error and changes nothing.
#[test]
fn restored_values_survive_reopen_and_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let many: Vec<Vec<u8>> = (0..1000).map(|i| format!("m{i}").into_bytes()).collect();
    let with = |head: &[&[u8]], tail: &[Vec<u8>]| -> Vec<Vec<u8>> {
        head.iter()
            .map(|a| a.to_vec())
            .chain(tail.iter().cloned())
            .collect()
    };
    let scored: Vec<Vec<u8>> = many
        .iter()
        .enumerate()
        .flat_map(|(i, m)| [format!("{}.5", i).into_bytes(), m.clone()])
        .collect();
    let paired: Vec<Vec<u8>> = many.iter().flat_map(|m| [m.clone(), m.repeat(3)]).collect();
    for argv in [
        with(&[b"SET", b"s", b"bin\r\n\0value"], &[]),
        with(&[b"SET", b"n", b"-12345"], &[]),
        with(&[b"RPUSH", b"l"], &many),
        with(&[b"SADD", b"set"], &many),
        with(&[b"SADD", b"ints", b"1", b"2", b"-3"], &[]),
        with(&[b"HSET", b"h"], &paired),
        with(&[b"ZADD", b"z"], &scored),
        with(&[b"BF.ADD", b"bf", b"item"], &[]),
        with(&[b"SET", b"other", b"a string to replace"], &[]),
    ] {
        let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        assert!(
            !matches!(run_in(&ks, 0, &args), Reply::Error(_)),
            "{argv:?}"
        );
    }
    assert!(matches!(
        run_in(&ks, 0, &[b"DUMP", b"bf"]),
        Reply::Error(e) if e.starts_with("ERR DUMP is not supported")
    ));
    let deadline = (NOW + 3_600_000).to_string();
    for (key, target, db, opts) in [
        (&b"s"[..], &b"other"[..], 0, &[&b"REPLACE"[..]][..]),
        (b"n", b"n2", 1, &[]),
        (b"l", b"l2", 0, &[]),
        (b"set", b"set2", 2, &[]),
        (b"ints", b"ints2", 0, &[]),
        (b"h", b"h2", 0, &[]),
        (b"z", b"z2", 3, &[]),
    ] {
        let Reply::Bulk(payload) = run_in(&ks, 0, &[b"DUMP", key]) else {
            panic!("DUMP {key:?}");
        };
        let mut argv: Vec<&[u8]> = vec![b"RESTORE", target, deadline.as_bytes(), &payload];
        argv.push(b"ABSTTL");
        argv.extend_from_slice(opts);
        assert_eq!(run_in(&ks, db, &argv), Reply::ok(), "RESTORE {target:?}");
        assert_eq!(
            run_in(&ks, db, &[b"PEXPIRETIME", target]),
            Reply::Integer(NOW as i64 + 3_600_000)
        );
        // The restored copy holds the original's contents.
        let (a, b) = (dump_key(&ks, 0, key), dump_key(&ks, db, target));
        assert_eq!(a, b, "contents of {target:?}");
    }
    // Overwrite and delete some originals, so that merge has dead records.
    assert_eq!(
        run_in(&ks, 0, &[b"DEL", b"l", b"set", b"z"]),
        Reply::Integer(3)
    );
    let want = dump(&ks);
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(
        dump(&ks),
        want,
        "reopen (log replay) changed the restored data"
    );
    merge_and_reopen(dir.path(), ks, &want, "restore");
}

/// The value of one key as [`dump`] shows it (without the deadline).
fn dump_key(ks: &Keyspace, db: usize, key: &[u8]) -> Reply {
    match run_in(ks, db, &[b"TYPE", key]) {
        Reply::Simple(t) if t == "string" => run_in(ks, db, &[b"GET", key]),
        Reply::Simple(t) if t == "list" => run_in(ks, db, &[b"LRANGE", key, b"0", b"-1"]),
        Reply::Simple(t) if t == "hash" => sorted(run_in(ks, db, &[b"HGETALL", key])),
        Reply::Simple(t) if t == "set" => sorted(run_in(ks, db, &[b"SMEMBERS", key])),
        Reply::Simple(t) if t == "zset" => {
            run_in(ks, db, &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
        }
        other => panic!("unexpected type {other:?}"),
    }
}

/// Big strings edited in place (APPEND, SETRANGE, SETBIT, BITFIELD get
/// patch records on a string of 1 KiB or more) under RENAME / MOVE / COPY,
/// deadlines, INCR, overwrite and DEL, merged now and then: reopen by
/// replay, merge, reopen from hint files, more work and a second merge must
/// all give back the same data.
#[test]
fn big_strings_edited_in_place_survive_merge_and_reopen() {
    for seed in 600..616u64 {
        work_reopen_merge_twice(seed, big_string_workload, |want| {
            assert!(
                want.len() > 20_000,
                "seed {seed}: the workload left no big strings"
            );
        });
    }
}

fn big_string_workload(ks: &Keyspace, seed: u64, steps: usize) {
    let mut g = Gen(seed);
    for step in 0..steps {
        let db = g.below(2) as usize;
        let k = format!("s{}", g.below(5)).into_bytes();
        let k2 = format!("s{}", g.below(5)).into_bytes();
        let piece = format!("<{step}:{}>", "p".repeat(g.below(30) as usize)).into_bytes();
        let big = format!("{step}{}", "b".repeat(1000 + g.below(3000) as usize)).into_bytes();
        let offset = g.below(6000).to_string().into_bytes();
        let bit = g.below(60_000).to_string().into_bytes();
        let on = g.below(2).to_string().into_bytes();
        let ttl = (10_000 + g.below(100_000)).to_string().into_bytes();
        let dbs = g.below(2).to_string().into_bytes();
        let args: Vec<&[u8]> = match g.below(20) {
            0 => vec![b"SET", &k, &big],
            1..=5 => vec![b"APPEND", &k, &piece],
            6..=8 => vec![b"SETRANGE", &k, &offset, &piece],
            9..=11 => vec![b"SETBIT", &k, &bit, &on],
            12 => vec![
                b"BITFIELD",
                &k,
                b"INCRBY",
                b"u8",
                &bit,
                b"7",
                b"SET",
                b"i16",
                &offset,
                b"-3",
            ],
            13 => vec![b"RENAME", &k, &k2],
            14 => vec![b"MOVE", &k, &dbs],
            15 => vec![b"COPY", &k, &k2, b"DB", &dbs, b"REPLACE"],
            16 => vec![b"PEXPIRE", &k, &ttl],
            17 => vec![b"PERSIST", &k],
            18 if step % 7 == 0 => vec![b"DEL", &k],
            _ => vec![b"SET", &k, b"12"],
        };
        run_in(ks, db, &args);
        if step % 400 == 399 && g.below(2) == 0 {
            ks.merge().expect("merge");
        }
    }
}

/// APPEND, SETRANGE and SETBIT on a big string write about what they
/// change, not the whole value (Redis does them in O(1) amortized): 20,000
/// small edits of a 64 KiB string write a small multiple of their own
/// bytes, where rewriting the value each time would write over 1 GiB.
#[test]
fn small_edits_of_a_big_string_write_little() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let value = vec![b'v'; 64 * 1024];
    run_in(&ks, 0, &[b"SET", b"big", &value]);
    let before = ks.stats().storage.disk_bytes;
    let mut model = value.clone();
    let mut edited = 0u64;
    for i in 0..20_000usize {
        let piece = format!("{i:08}").into_bytes();
        match i % 3 {
            0 => {
                run_in(&ks, 0, &[b"APPEND", b"big", &piece]);
                model.extend_from_slice(&piece);
            }
            1 => {
                let at = (i * 7919) % model.len();
                run_in(
                    &ks,
                    0,
                    &[b"SETRANGE", b"big", at.to_string().as_bytes(), &piece],
                );
                if model.len() < at + piece.len() {
                    model.resize(at + piece.len(), 0);
                }
                model[at..at + piece.len()].copy_from_slice(&piece);
            }
            _ => {
                let bit = (i * 104_729) % (model.len() * 8);
                run_in(
                    &ks,
                    0,
                    &[b"SETBIT", b"big", bit.to_string().as_bytes(), b"1"],
                );
                model[bit / 8] |= 0x80 >> (bit % 8);
            }
        }
        edited += piece.len() as u64;
    }
    let written = ks.stats().storage.disk_bytes - before;
    // Each edit: its bytes, a record header and key, and its share of the
    // whole-value rewrites the patch budget allows (about as much again).
    assert!(
        written < 20_000 * 200 + 4 * model.len() as u64,
        "{written} bytes written for {edited} bytes of edits of a {} byte string",
        model.len()
    );
    assert_eq!(
        run_in(&ks, 0, &[b"GET", b"big"]),
        Reply::Bulk(model.clone().into())
    );
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(run_in(&ks, 0, &[b"GET", b"big"]), Reply::Bulk(model.into()));
}

/// FUNCTION LIST WITHCODE (the libraries are listed by name).
fn function_list(ks: &Keyspace) -> Reply {
    run_in(ks, 0, &[b"FUNCTION", b"LIST", b"WITHCODE"])
}

#[test]
fn functions_survive_reopen_flushall_and_merge() {
    const LIB_A: &[u8] = b"#!lua name=liba\n\
        redis.register_function{function_name='geta', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a key'}\n\
        redis.register_function('seta', function(keys, args) return redis.call('set', keys[1], args[1]) end)";
    const LIB_B: &[u8] =
        b"#!lua name=libb\nredis.register_function('b', function() return 'b1' end)";
    const LIB_B2: &[u8] =
        b"#!lua name=libb\nredis.register_function('b', function() return 'b2' end)";
    const LIB_C: &[u8] =
        b"#!lua name=libc\nredis.register_function('c', function() return 'c' end)";
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = {
        let ks = open(dir.path());
        assert_eq!(
            run_in(&ks, 0, &[b"FUNCTION", b"LOAD", LIB_A]),
            Reply::Bulk(Bytes::from_static(b"liba"))
        );
        assert_eq!(
            run_in(&ks, 0, &[b"FUNCTION", b"LOAD", LIB_B]),
            Reply::Bulk(Bytes::from_static(b"libb"))
        );
        assert_eq!(
            run_in(&ks, 0, &[b"FUNCTION", b"LOAD", b"REPLACE", LIB_B2]),
            Reply::Bulk(Bytes::from_static(b"libb"))
        );
        assert_eq!(
            run_in(&ks, 0, &[b"FUNCTION", b"LOAD", LIB_C]),
            Reply::Bulk(Bytes::from_static(b"libc"))
        );
        assert_eq!(
            run_in(&ks, 0, &[b"FUNCTION", b"DELETE", b"libc"]),
            Reply::ok()
        );
        assert_eq!(
            run_in(&ks, 0, &[b"FCALL", b"seta", b"1", b"k", b"v"]),
            Reply::ok()
        );
        // Functions are not keys: FLUSHALL keeps them.
        assert_eq!(run_in(&ks, 0, &[b"FLUSHALL"]), Reply::ok());
        assert_eq!(
            run_in(&ks, 0, &[b"FCALL", b"seta", b"1", b"k", b"v2"]),
            Reply::ok()
        );
        // Enough other records for several files, so that merge has work.
        for i in 0..2000u32 {
            let key = format!("filler{}", i % 50);
            run_in(&ks, 0, &[b"SET", key.as_bytes(), &[b'x'; 64]]);
        }
        function_list(&ks)
    };
    let check = |ks: &Keyspace| {
        assert_eq!(function_list(ks), expected);
        assert_eq!(
            run_in(ks, 0, &[b"FCALL_RO", b"geta", b"1", b"k"]),
            Reply::Bulk(Bytes::from_static(b"v2"))
        );
        assert_eq!(
            run_in(ks, 0, &[b"FCALL", b"b", b"0"]),
            Reply::Bulk(Bytes::from_static(b"b2"))
        );
        assert_eq!(
            run_in(ks, 0, &[b"FCALL", b"c", b"0"]),
            Reply::Error("ERR Function not found".into())
        );
    };
    {
        let ks = open(dir.path());
        check(&ks);
        ks.merge().expect("merge");
        check(&ks);
    }
    // Reopened from the merged files and their hint files (which carry no
    // values: the functions record is read back).
    {
        let ks = open(dir.path());
        check(&ks);
        assert_eq!(run_in(&ks, 0, &[b"FUNCTION", b"FLUSH"]), Reply::ok());
    }
    let ks = open(dir.path());
    assert_eq!(function_list(&ks), Reply::Array(Vec::new()));
    ks.merge().expect("merge");
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(function_list(&ks), Reply::Array(Vec::new()));
    assert_eq!(
        run_in(&ks, 0, &[b"FUNCTION", b"LOAD", LIB_C]),
        Reply::Bulk(Bytes::from_static(b"libc"))
    );
}

/// A random stream workload (entries added with explicit and generated
/// ids, XDEL, exact and approximate trims, groups, consumers, reads, acks,
/// claims, XSETID, RENAME / COPY / DEL, deadlines) with the clock moving:
/// reopen by replay, merge, reopen from hint files and a second round
/// must give back the same XINFO STREAM FULL (delivery and seen times,
/// counters, last ids, entries read included).
#[test]
fn streams_survive_merge_and_reopen() {
    for seed in hunt_seeds(300..312u64) {
        work_reopen_merge_twice(seed, stream_workload, |want| {
            assert!(
                want.contains("stream"),
                "seed {seed}: no stream left:\n{want}"
            );
        });
    }
}

fn stream_workload(ks: &Keyspace, seed: u64, steps: usize) {
    let mut g = Gen(seed);
    for step in 0..steps {
        let now = NOW + step as u64 * 3 + seed * 10_000;
        let db = g.below(2) as usize;
        let k = format!("x{}", g.below(4)).into_bytes();
        let k2 = format!("x{}", g.below(4)).into_bytes();
        let grp = format!("g{}", g.below(3)).into_bytes();
        let con = format!("c{}", g.below(3)).into_bytes();
        let id = format!("{}-{}", now - g.below(20_000), g.below(3)).into_bytes();
        let n = g.below(60).to_string().into_bytes();
        let v = format!("v{step}").into_bytes();
        let args: Vec<&[u8]> = match g.below(20) {
            0..=4 => vec![b"XADD", &k, b"*", b"f", &v, b"n", &n],
            5 => vec![b"XADD", &k, b"MAXLEN", b"~", &n, b"*", b"f", &v],
            6 => vec![b"XADD", &k, &id, b"f", &v],
            7 => vec![b"XDEL", &k, &id],
            8 => vec![b"XTRIM", &k, b"MAXLEN", &n],
            9 => vec![b"XTRIM", &k, b"MINID", b"~", &id],
            10 => vec![b"XGROUP", b"CREATE", &k, &grp, b"0", b"MKSTREAM"],
            11 | 12 => vec![
                b"XREADGROUP",
                b"GROUP",
                &grp,
                &con,
                b"COUNT",
                &n,
                b"STREAMS",
                &k,
                b">",
            ],
            13 => vec![
                b"XREADGROUP",
                b"GROUP",
                &grp,
                &con,
                b"COUNT",
                b"3",
                b"STREAMS",
                &k,
                b"0",
            ],
            14 => vec![b"XACK", &k, &grp, &id],
            15 => vec![b"XAUTOCLAIM", &k, &grp, &con, b"0", b"0", b"COUNT", b"5"],
            16 => match g.below(4) {
                0 => vec![b"XGROUP", b"DELCONSUMER", &k, &grp, &con],
                1 => vec![b"XGROUP", b"DESTROY", &k, &grp],
                2 => vec![b"XGROUP", b"SETID", &k, &grp, &id],
                _ => vec![b"XGROUP", b"CREATECONSUMER", &k, &grp, &con],
            },
            17 => vec![
                b"XCLAIM",
                &k,
                &grp,
                &con,
                b"0",
                &id,
                b"FORCE",
                b"RETRYCOUNT",
                &n,
            ],
            18 => match g.below(4) {
                0 => vec![b"RENAME", &k, &k2],
                1 => vec![b"COPY", &k, &k2, b"REPLACE"],
                2 => vec![b"PEXPIRE", &k, b"100000000"],
                _ => vec![b"DEL", &k],
            },
            _ => vec![b"XSETID", &k, b"99999999999999-0"],
        };
        run_at(ks, now, db, &args);
        if step % 500 == 499 && g.below(2) == 0 {
            ks.merge().expect("merge");
        }
    }
}

/// Long lists (many chunks of `src/keyspace/quicklist.rs`, elements short
/// and long, changed in the middle by LSET / LINSERT / LREM) come back the
/// same after reopen by replay and after merge and reopen from hint files
/// (the elements' bytes then read at the end of recovery).
#[test]
fn long_lists_survive_merge_and_reopen() {
    for seed in hunt_seeds(60..64) {
        work_reopen_merge_twice(seed, long_list_workload, |d| {
            let elements = d.matches("Bulk").count();
            assert!(elements > 1000, "seed {seed}: only {elements} elements");
        });
    }
}

fn long_list_workload(ks: &Keyspace, seed: u64, steps: usize) {
    let mut g = Gen(seed);
    for step in 0..steps {
        let k = format!("L{}", g.below(3)).into_bytes();
        let k2 = format!("L{}", g.below(3)).into_bytes();
        let dup = format!("dup{}", g.below(4)).into_bytes();
        let v = match g.below(12) {
            0 => vec![b'x'; 300 + g.below(50) as usize],
            1 if g.below(3) == 0 => vec![b'y'; 5000 + g.below(500) as usize],
            2 | 3 => dup.clone(),
            _ => format!("e{step}-{}", "z".repeat(g.below(20) as usize)).into_bytes(),
        };
        let at = (g.below(1200) as i64 - 600).to_string().into_bytes();
        let n = (1 + g.below(8)).to_string().into_bytes();
        let args: Vec<&[u8]> = match g.below(14) {
            0..=2 => vec![b"RPUSH", &k, &v, &dup, &v],
            3 | 4 => vec![b"LPUSH", &k, &v, &v],
            5 => vec![b"LSET", &k, &at, &v],
            6 => vec![b"LINSERT", &k, b"BEFORE", &dup, &v],
            7 => vec![b"LINSERT", &k, b"AFTER", &dup, &v],
            8 => vec![b"LREM", &k, b"2", &dup],
            9 => vec![b"LPOP", &k, &n],
            10 => vec![b"RPOP", &k],
            11 => vec![b"LMOVE", &k, &k2, b"LEFT", b"RIGHT"],
            12 if step % 40 == 0 => vec![b"LTRIM", &k, b"3", b"-4"],
            _ => vec![b"LINDEX", &k, &at],
        };
        run_in(ks, 0, &args);
    }
}

/// Writers race merges (which ask the keyspace about their records in
/// runs, under one lock per run): every write wins over the merge's copy,
/// and a reopen finds what memory held.
#[test]
fn writes_racing_merges_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let round = |ks: &Keyspace, r: usize| {
        for i in 0..1500usize {
            let k = format!("k{i}");
            let v = format!("v{r}-{i}");
            run_in(ks, 0, &[b"SET", k.as_bytes(), v.as_bytes()]);
            let f = format!("f{}", i % 700);
            run_in(ks, 0, &[b"HSET", b"h", f.as_bytes(), v.as_bytes()]);
            run_in(ks, 0, &[b"RPUSH", b"l", v.as_bytes()]);
            if i % 5 == 0 {
                run_in(ks, 0, &[b"LPOP", b"l"]);
            }
            if i % 7 == r % 7 {
                run_in(ks, 0, &[b"DEL", k.as_bytes()]);
            }
        }
    };
    round(&ks, 0);
    std::thread::scope(|s| {
        let ks = &ks;
        s.spawn(move || {
            for r in 1..4 {
                round(ks, r);
            }
        });
        for _ in 0..6 {
            ks.merge().expect("merge");
        }
    });
    ks.merge().expect("last merge");
    let before = dump(&ks);
    for i in (0..1500usize).step_by(97) {
        let got = run_in(&ks, 0, &[b"GET", format!("k{i}").as_bytes()]);
        let want = if i % 7 == 3 {
            Reply::Nil
        } else {
            Reply::Bulk(Bytes::from(format!("v3-{i}")))
        };
        assert_eq!(got, want, "k{i}");
    }
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(dump(&ks), before);
}

/// A record bigger than a merge run's byte budget is asked about alone
/// (not copied into the run), between the runs around it: the merge keeps
/// it, drops its dead twin, and keeps the records before and after it.
#[test]
fn values_bigger_than_a_merge_run_survive_merge_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let big: Vec<u8> = (0..5 << 20).map(|i: usize| (i % 251) as u8).collect();
    let mut dead = big.clone();
    dead[0] ^= 1;
    run_in(&ks, 0, &[b"SET", b"a", b"1"]);
    run_in(&ks, 0, &[b"SET", b"big", &dead]);
    run_in(&ks, 0, &[b"SET", b"b", b"2"]);
    run_in(&ks, 0, &[b"SET", b"big", &big]);
    run_in(&ks, 0, &[b"SET", b"gone", &big]);
    run_in(&ks, 0, &[b"DEL", b"gone"]);
    run_in(&ks, 0, &[b"SET", b"a", b"3"]);
    let check = |ks: &Keyspace| {
        assert_eq!(
            run_in(ks, 0, &[b"GET", b"big"]),
            Reply::Bulk(Bytes::from(big.clone()))
        );
        assert_eq!(
            run_in(ks, 0, &[b"GET", b"a"]),
            Reply::Bulk(Bytes::from_static(b"3"))
        );
        assert_eq!(
            run_in(ks, 0, &[b"GET", b"b"]),
            Reply::Bulk(Bytes::from_static(b"2"))
        );
        assert_eq!(run_in(ks, 0, &[b"EXISTS", b"gone"]), Reply::Integer(0));
    };
    ks.merge().expect("merge");
    check(&ks);
    let want = dump(&ks);
    drop(ks);
    let ks = open(dir.path());
    check(&ks);
    assert_eq!(dump(&ks), want);
    ks.merge().expect("second merge");
    check(&ks);
}
