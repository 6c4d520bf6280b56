//! Behaviour of the hash, set and sorted-set families that the differential
//! and model tests do not pin: deterministic random picks, dead-byte
//! accounting, multi-key writes as one batch, deadlines carried by member
//! records, blocking pops run non-blocking, and recovery from hint files.

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};

const NOW: u64 = 1_800_000_000_000;

fn open(dir: &std::path::Path) -> Keyspace {
    let opts = Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_max_file_size(8 * 1024)
        .with_merge_interval(None);
    Keyspace::open(Config::new(opts)).expect("open keyspace")
}

fn run_seeded(ks: &Keyspace, seed: u64, now: u64, parts: &[&str]) -> Reply {
    let argv: Vec<Bytes> = parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect();
    ks.execute(&Ctx::new(now, seed, 0), &argv)
}

fn run(ks: &Keyspace, parts: &[&str]) -> Reply {
    run_seeded(ks, 1, NOW, parts)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn fill(ks: &Keyspace, n: usize) {
    for i in 0..n {
        let m = format!("m{i}");
        run(ks, &["SADD", "s", &m]);
        run(ks, &["HSET", "h", &m, &format!("v{i}")]);
        run(ks, &["ZADD", "z", &i.to_string(), &m]);
    }
}

/// The same seed picks the same members on two keyspaces with the same
/// content but different histories (one of them reopened after a merge).
#[test]
fn random_picks_depend_only_on_content_and_seed() {
    let d1 = tempfile::tempdir().expect("tempdir");
    let d2 = tempfile::tempdir().expect("tempdir");
    let a = open(d1.path());
    fill(&a, 300);
    let b = open(d2.path());
    // Other insertion order, extra members added and removed.
    for i in (0..400).rev() {
        let m = format!("m{i}");
        run(&b, &["SADD", "s", &m]);
        run(&b, &["HSET", "h", &m, "tmp"]);
        run(&b, &["HSET", "h", &m, &format!("v{i}")]);
        run(&b, &["ZADD", "z", &i.to_string(), &m]);
    }
    for i in 300..400 {
        let m = format!("m{i}");
        run(&b, &["SREM", "s", &m]);
        run(&b, &["HDEL", "h", &m]);
        run(&b, &["ZREM", "z", &m]);
    }
    b.merge().expect("merge");
    drop(b);
    let b = open(d2.path());
    let cmds: &[&[&str]] = &[
        &["SRANDMEMBER", "s"],
        &["SRANDMEMBER", "s", "5"],
        &["SRANDMEMBER", "s", "-7"],
        &["HRANDFIELD", "h", "3", "WITHVALUES"],
        &["HRANDFIELD", "h", "-4"],
        &["ZRANDMEMBER", "z", "4", "WITHSCORES"],
        &["ZRANDMEMBER", "z", "-4"],
        &["SPOP", "s", "3"],
        &["SPOP", "s"],
    ];
    for seed in [1u64, 99, 12345] {
        for c in cmds {
            let ra = run_seeded(&a, seed, NOW, c);
            let rb = run_seeded(&b, seed, NOW, c);
            assert_eq!(ra, rb, "{c:?} seed {seed}");
        }
    }
    // And a different seed picks differently (on this content).
    assert_ne!(
        run_seeded(&a, 5, NOW, &["SRANDMEMBER", "s", "5"]),
        run_seeded(&a, 6, NOW, &["SRANDMEMBER", "s", "5"])
    );
}

/// Removing members and deleting collections reports their records as dead
/// bytes (the merge trigger), and merge then reclaims the space.
#[test]
fn removals_report_dead_bytes_and_merge_reclaims_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    fill(&ks, 500);
    let dead0 = ks.stats().storage.dead_bytes;
    for i in 0..250 {
        let m = format!("m{i}");
        run(&ks, &["SREM", "s", &m]);
        run(&ks, &["HDEL", "h", &m]);
        run(&ks, &["ZREM", "z", &m]);
    }
    let dead1 = ks.stats().storage.dead_bytes;
    assert!(dead1 > dead0, "removals reported no dead bytes");
    // Overwrites kill the old record too.
    run(&ks, &["HSET", "h", "m400", "new"]);
    run(&ks, &["ZADD", "z", "-1", "m400"]);
    assert!(ks.stats().storage.dead_bytes > dead1);
    // DEL of each collection: one record, every member record dead (the
    // dropper thread reports big values; wait for it through the stats).
    let before_del = ks.stats().storage.dead_bytes;
    assert_eq!(run(&ks, &["DEL", "s", "h", "z"]), Reply::Integer(3));
    // 750 member records are left, each at least a record of a 4-byte key
    // (slot, key, member) and no value.
    let floor = before_del + 3 * 250 * fincaskv::storage::record_len(4, 0, 0, 0) as u64;
    let mut after = before_del;
    // Up to 10 s: the dropper thread may wait for a busy core.
    for _ in 0..1000 {
        after = ks.stats().storage.dead_bytes;
        if after >= floor {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        after >= floor,
        "DEL reported {} dead bytes",
        after - before_del
    );
    let disk_before = ks.stats().storage.disk_bytes;
    ks.merge().expect("merge");
    assert!(ks.stats().storage.disk_bytes < disk_before / 2);
}

/// SMOVE, SINTERSTORE, ZUNIONSTORE and ZRANGESTORE write every key they
/// touch in one batch; after reopen the result is whole.
#[test]
fn multi_key_writes_survive_reopen_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ks = open(dir.path());
        run(&ks, &["SADD", "a", "x", "y", "z"]);
        run(&ks, &["SADD", "b", "y", "z", "w"]);
        assert_eq!(run(&ks, &["SMOVE", "a", "c", "x"]), Reply::Integer(1));
        assert_eq!(run(&ks, &["SINTERSTORE", "i", "a", "b"]), Reply::Integer(2));
        run(&ks, &["ZADD", "z1", "1", "p", "2", "q"]);
        run(&ks, &["ZADD", "z2", "10", "q", "20", "r"]);
        assert_eq!(
            run(&ks, &["ZUNIONSTORE", "u", "2", "z1", "z2"]),
            Reply::Integer(3)
        );
        assert_eq!(
            run(&ks, &["ZRANGESTORE", "rs", "u", "1", "-1"]),
            Reply::Integer(2)
        );
        // Overwriting a store target of another type.
        run(&ks, &["SET", "str", "v"]);
        assert_eq!(
            run(&ks, &["SUNIONSTORE", "str", "a", "b"]),
            Reply::Integer(3)
        );
    }
    let ks = open(dir.path());
    assert_eq!(run(&ks, &["SISMEMBER", "a", "x"]), Reply::Integer(0));
    assert_eq!(run(&ks, &["SMEMBERS", "c"]), Reply::Set(vec![bulk("x")]));
    assert_eq!(run(&ks, &["SCARD", "i"]), Reply::Integer(2));
    assert_eq!(
        run(&ks, &["ZRANGE", "u", "0", "-1", "WITHSCORES"]),
        Reply::Pairs(vec![
            bulk("p"),
            Reply::Double(1.0),
            bulk("q"),
            Reply::Double(12.0),
            bulk("r"),
            Reply::Double(20.0),
        ])
    );
    assert_eq!(
        run(&ks, &["ZRANGE", "rs", "0", "-1"]),
        Reply::Array(vec![bulk("q"), bulk("r")])
    );
    assert_eq!(run(&ks, &["TYPE", "str"]), Reply::Simple("set".into()));
    assert_eq!(run(&ks, &["SCARD", "str"]), Reply::Integer(3));
}

/// A collection's deadline survives member writes and reopen; once past it
/// the collection is gone (lazily, and after reopen).
#[test]
fn deadlines_of_collections_survive_writes_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ks = open(dir.path());
        for key in ["s", "h", "z"] {
            match key {
                "s" => run(&ks, &["SADD", key, "a"]),
                "h" => run(&ks, &["HSET", key, "a", "1"]),
                _ => run(&ks, &["ZADD", key, "1", "a"]),
            };
            assert_eq!(run(&ks, &["EXPIRE", key, "100"]), Reply::Integer(1));
        }
        run(&ks, &["SADD", "s", "b"]);
        run(&ks, &["HSET", "h", "b", "2"]);
        run(&ks, &["ZADD", "z", "2", "b"]);
        run(&ks, &["SREM", "s", "a"]);
        assert_eq!(run(&ks, &["TTL", "s"]), Reply::Integer(100));
    }
    let ks = open(dir.path());
    for key in ["s", "h", "z"] {
        assert_eq!(run(&ks, &["TTL", key]), Reply::Integer(100), "{key}");
    }
    assert_eq!(run(&ks, &["HGET", "h", "b"]), bulk("2"));
    let later = NOW + 100_000;
    assert_eq!(
        run_seeded(&ks, 1, later, &["SCARD", "s"]),
        Reply::Integer(0)
    );
    assert_eq!(run_seeded(&ks, 1, later, &["HLEN", "h"]), Reply::Integer(0));
    assert_eq!(
        run_seeded(&ks, 1, later, &["ZCARD", "z"]),
        Reply::Integer(0)
    );
    assert_eq!(run_seeded(&ks, 1, later, &["DBSIZE"]), Reply::Integer(0));
}

/// BZPOPMIN / BZPOPMAX / BZMPOP run without blocking: a null array when
/// nothing is there, the first non-empty key otherwise.
#[test]
fn blocking_pops_run_non_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    assert_eq!(run(&ks, &["BZPOPMIN", "a", "b", "0"]), Reply::NilArray);
    assert_eq!(
        run(&ks, &["BZMPOP", "1", "2", "a", "b", "MIN"]),
        Reply::NilArray
    );
    run(&ks, &["ZADD", "b", "1", "x", "2", "y"]);
    assert_eq!(
        run(&ks, &["BZPOPMAX", "a", "b", "0"]),
        Reply::Array(vec![bulk("b"), bulk("y"), Reply::Double(2.0)])
    );
    assert_eq!(
        run(&ks, &["BZMPOP", "0", "2", "a", "b", "MIN", "COUNT", "5"]),
        Reply::Array(vec![
            bulk("b"),
            Reply::Array(vec![Reply::Array(vec![bulk("x"), Reply::Double(1.0)])]),
        ])
    );
    assert_eq!(run(&ks, &["EXISTS", "b"]), Reply::Integer(0));
}

/// Hash values whose records were merged (so recovery reads them from hint
/// files, which carry no values) come back identical, big ones included.
#[test]
fn hash_values_recovered_from_hint_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "x".repeat(3000);
    {
        let ks = open(dir.path());
        for i in 0..200 {
            let v = if i % 10 == 0 {
                big.clone()
            } else {
                format!("value-{i}")
            };
            run(&ks, &["HSET", "h", &format!("f{i}"), &v]);
            run(&ks, &["ZADD", "z", &format!("{i}.5"), &format!("m{i}")]);
        }
        // Filler so that the hash's files are sealed and merged.
        for i in 0..200 {
            run(&ks, &["SET", &format!("k{i}"), &"y".repeat(100)]);
        }
        ks.merge().expect("merge");
    }
    let ks = open(dir.path());
    for i in 0..200 {
        let want = if i % 10 == 0 {
            big.clone()
        } else {
            format!("value-{i}")
        };
        assert_eq!(
            run(&ks, &["HGET", "h", &format!("f{i}")]),
            bulk(&want),
            "f{i}"
        );
        assert_eq!(
            run(&ks, &["ZSCORE", "z", &format!("m{i}")]),
            Reply::Double(i as f64 + 0.5)
        );
    }
    assert_eq!(
        run(&ks, &["OBJECT", "ENCODING", "h"]),
        Reply::Bulk(Bytes::from_static(b"hashtable"))
    );
}

/// HSCAN / SSCAN / ZSCAN of a big collection visit about COUNT members a
/// call (O(COUNT) per call, as in Redis; not a fraction of the whole
/// collection) and a complete iteration returns every member once.
#[test]
fn collection_scans_step_by_count() {
    let d = tempfile::tempdir().expect("tempdir");
    let ks = open(d.path());
    fill(&ks, 2000);
    for (cmd, key, per_member) in [("SSCAN", "s", 1), ("HSCAN", "h", 2), ("ZSCAN", "z", 2)] {
        let mut seen = std::collections::BTreeSet::new();
        let (mut cursor, mut steps) = ("0".to_string(), 0);
        loop {
            let Reply::Array(parts) = run(&ks, &[cmd, key, &cursor, "COUNT", "10"]) else {
                panic!("{cmd}: not an array");
            };
            let (Reply::Bulk(next), Reply::Array(items)) = (&parts[0], &parts[1]) else {
                panic!("{cmd}: bad shape");
            };
            assert!(
                items.len() <= 11 * per_member,
                "{cmd} returned {} items for COUNT 10",
                items.len() / per_member
            );
            for m in items.iter().step_by(per_member) {
                assert!(seen.insert(format!("{m:?}")), "{cmd} returned {m:?} twice");
            }
            steps += 1;
            cursor = String::from_utf8(next.to_vec()).expect("cursor");
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 2000, "{cmd}");
        assert!((190..=210).contains(&steps), "{cmd}: {steps} steps");
    }
}
