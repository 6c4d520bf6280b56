//! Unit tests of the keyspace through `execute`.

use bytes::Bytes;

use super::{Config, Keyspace};
use crate::command::{Ctx, Reply};
use crate::storage::{FsyncPolicy, IndexKind, Options};

pub(crate) const NOW: u64 = 1_700_000_000_000;

pub(crate) fn open(dir: &std::path::Path) -> Keyspace {
    let opts = Options::new(dir).with_fsync(FsyncPolicy::No);
    Keyspace::open(Config::new(opts)).expect("open keyspace")
}

pub(crate) fn run(ks: &Keyspace, now: u64, args: &[&str]) -> Reply {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    run_bytes(ks, now, &args)
}

/// Runs with binary arguments.
fn run_bytes(ks: &Keyspace, now: u64, args: &[&[u8]]) -> Reply {
    let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    ks.execute(&Ctx::new(now, 7, 0), &argv)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn set_get_del_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["SET", "a", "1"]), Reply::ok());
    assert_eq!(run(&ks, NOW, &["get", "a"]), bulk("1"));
    assert_eq!(run(&ks, NOW, &["INCR", "a"]), Reply::Integer(2));
    assert_eq!(run(&ks, NOW, &["DEL", "a", "b"]), Reply::Integer(1));
    assert_eq!(run(&ks, NOW, &["GET", "a"]), Reply::Nil);
    assert_eq!(
        run(&ks, NOW, &["GET"]),
        Reply::Error("ERR wrong number of arguments for 'get' command".into())
    );
    assert_eq!(
        run(&ks, NOW, &["foo", "a", "b"]),
        Reply::Error("ERR unknown command 'foo', with args beginning with: 'a' 'b' ".into())
    );
}

#[test]
fn expiry_is_lazy_and_active() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["SET", "a", "1", "PX", "100"]), Reply::ok());
    assert_eq!(run(&ks, NOW, &["SET", "b", "1", "PX", "100"]), Reply::ok());
    assert_eq!(run(&ks, NOW, &["PTTL", "a"]), Reply::Integer(100));
    assert_eq!(run(&ks, NOW + 100, &["GET", "a"]), Reply::Nil);
    assert_eq!(run(&ks, NOW + 50, &["DBSIZE"]), Reply::Integer(1));
    assert_eq!(ks.active_expire_cycle(NOW + 100), 1);
    assert_eq!(run(&ks, NOW, &["DBSIZE"]), Reply::Integer(0));
}

#[test]
fn strings_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ks = open(dir.path());
        run(&ks, NOW, &["SET", "a", "1"]);
        run(&ks, NOW, &["SET", "b", "2", "EX", "100"]);
        run(&ks, NOW, &["SET", "c", "3"]);
        run(&ks, NOW, &["DEL", "c"]);
        run(&ks, NOW, &["APPEND", "a", "x"]);
    }
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["GET", "a"]), bulk("1x"));
    assert_eq!(run(&ks, NOW, &["TTL", "b"]), Reply::Integer(100));
    assert_eq!(run(&ks, NOW, &["EXISTS", "c"]), Reply::Integer(0));
}

fn scan_all(ks: &Keyspace, count: &str, between: &mut dyn FnMut(usize)) -> Vec<Bytes> {
    let mut cursor = "0".to_owned();
    let mut out = Vec::new();
    let mut call = 0;
    loop {
        let Reply::Array(parts) = run(ks, NOW, &["SCAN", &cursor, "COUNT", count]) else {
            panic!("SCAN failed");
        };
        let (Reply::Bulk(next), Reply::Array(keys)) = (&parts[0], &parts[1]) else {
            panic!("bad SCAN reply");
        };
        out.extend(keys.iter().map(|k| match k {
            Reply::Bulk(b) => b.clone(),
            other => panic!("bad key {other:?}"),
        }));
        cursor = String::from_utf8(next.to_vec()).expect("cursor");
        if cursor == "0" {
            return out;
        }
        between(call);
        call += 1;
    }
}

#[test]
fn scan_returns_keys_present_throughout_despite_churn() {
    for kind in [IndexKind::Hash, IndexKind::BTree, IndexKind::SkipList] {
        scan_guarantee(kind);
    }
}

fn scan_guarantee(kind: IndexKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::new(dir.path())
        .with_fsync(FsyncPolicy::No)
        .with_index(kind);
    let ks = Keyspace::open(Config::new(opts)).expect("open");
    for i in 0..1000 {
        run(&ks, NOW, &["SET", &format!("stable{i}"), "v"]);
    }
    let mut churn = 0;
    let seen = scan_all(&ks, "17", &mut |call| {
        // Between calls: add and remove other keys (rehash-like churn).
        for j in 0..50 {
            churn += 1;
            run(&ks, NOW, &["SET", &format!("temp{call}-{j}"), "v"]);
            run(&ks, NOW, &["DEL", &format!("temp{}-{j}", call / 2)]);
        }
    });
    assert!(churn > 0);
    let seen: std::collections::HashSet<Bytes> = seen.into_iter().collect();
    for i in 0..1000 {
        assert!(
            seen.contains(format!("stable{i}").as_bytes()),
            "stable{i} missed"
        );
    }
}

#[test]
fn bloom_commands_reply_like_redisbloom_and_persist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let card_before = {
        let ks = open(dir.path());
        assert_eq!(
            run(&ks, NOW, &["BF.RESERVE", "bf", "0.01", "10"]),
            Reply::ok()
        );
        assert_eq!(
            run(&ks, NOW, &["BF.RESERVE", "bf", "0.01", "10"]),
            Reply::Error("ERR item exists".into())
        );
        assert_eq!(
            run(&ks, NOW, &["BF.RESERVE", "x", "1.5", "10"]),
            Reply::Error("ERR (0 < error rate range < 1)".into())
        );
        assert_eq!(
            run(&ks, NOW, &["BF.RESERVE", "x", "abc", "10"]),
            Reply::Error("ERR bad error rate".into())
        );
        assert_eq!(
            run(&ks, NOW, &["BF.RESERVE", "x", "0.1", "0"]),
            Reply::Error("ERR (capacity should be larger than 0)".into())
        );
        assert_eq!(run(&ks, NOW, &["BF.ADD", "bf", "a"]), Reply::Integer(1));
        assert_eq!(run(&ks, NOW, &["BF.ADD", "bf", "a"]), Reply::Integer(0));
        let items: Vec<String> = (0..50).map(|i| format!("item{i}")).collect();
        let mut madd = vec!["BF.MADD", "bf"];
        madd.extend(items.iter().map(String::as_str));
        assert!(matches!(run(&ks, NOW, &madd), Reply::Array(r) if r.len() == 50));
        assert_eq!(run(&ks, NOW, &["BF.EXISTS", "bf", "a"]), Reply::Integer(1));
        assert_eq!(
            run(&ks, NOW, &["BF.EXISTS", "nokey", "a"]),
            Reply::Integer(0)
        );
        assert_eq!(
            run(&ks, NOW, &["BF.INFO", "nokey"]),
            Reply::Error("ERR not found".into())
        );
        assert!(matches!(
            run(&ks, NOW, &["BF.INFO", "bf", "CAPACITY"]),
            Reply::Array(v) if v.len() == 1
        ));
        assert!(matches!(run(&ks, NOW, &["BF.INFO", "bf"]), Reply::Map(m) if m.len() == 5));
        assert_eq!(
            run(&ks, NOW, &["TYPE", "bf"]),
            Reply::Simple("MBbloom--".into())
        );
        run(&ks, NOW, &["SET", "str", "v"]);
        assert!(run(&ks, NOW, &["BF.ADD", "str", "a"]).is_error());
        assert_eq!(run(&ks, NOW, &["BF.ADD", "auto", "x"]), Reply::Integer(1));
        assert_eq!(run(&ks, NOW, &["RENAME", "bf", "bf2"]), Reply::ok());
        assert_eq!(run(&ks, NOW, &["COPY", "bf2", "bf3"]), Reply::Integer(1));
        run(&ks, NOW, &["BF.CARD", "bf2"])
    };
    assert!(
        matches!(card_before, Reply::Integer(n) if n > 30),
        "{card_before:?}"
    );
    let ks = open(dir.path());
    for key in ["bf2", "bf3"] {
        assert_eq!(run(&ks, NOW, &["BF.CARD", key]), card_before, "{key}");
        for i in 0..50 {
            assert_eq!(
                run(&ks, NOW, &["BF.EXISTS", key, &format!("item{i}")]),
                Reply::Integer(1),
                "{key} lost item{i}"
            );
        }
    }
    assert_eq!(run(&ks, NOW, &["EXISTS", "bf"]), Reply::Integer(0));
    assert_eq!(run(&ks, NOW, &["BF.CARD", "auto"]), Reply::Integer(1));
    ks.merge().expect("merge");
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(
        run(&ks, NOW, &["BF.EXISTS", "bf3", "item7"]),
        Reply::Integer(1)
    );
}

#[test]
fn keys_and_values_are_binary_safe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let key = Bytes::from_static(b"k\r\n\0\xff");
    let val = Bytes::from_static(b"\0\xfe\r\n");
    let ctx = Ctx::new(NOW, 1, 0);
    let set = vec![Bytes::from_static(b"SET"), key.clone(), val.clone()];
    assert_eq!(ks.execute(&ctx, &set), Reply::ok());
    drop(ks);
    let ks = open(dir.path());
    let get = vec![Bytes::from_static(b"GET"), key];
    assert_eq!(ks.execute(&ctx, &get), Reply::Bulk(val));
}

#[test]
fn oversized_keys_are_refused_before_any_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::new(dir.path())
        .with_fsync(FsyncPolicy::No)
        .with_limits(1024, 4096);
    let ks = Keyspace::open(Config::new(opts)).expect("open");
    let long_key = "k".repeat(600);
    let long_value = "v".repeat(5000);
    assert!(run(&ks, NOW, &["SET", &long_key, "v"]).is_error());
    assert!(run(&ks, NOW, &["SET", "k", &long_value]).is_error());
    assert!(run(&ks, NOW, &["BF.ADD", "bf", &long_key]).is_error());
    run(&ks, NOW, &["SET", "a", &"x".repeat(4000)]);
    assert!(run(&ks, NOW, &["APPEND", "a", &"y".repeat(200)]).is_error());
    assert_eq!(run(&ks, NOW, &["DBSIZE"]), Reply::Integer(1));
    assert_eq!(run(&ks, NOW, &["STRLEN", "a"]), Reply::Integer(4000));
}

#[test]
fn flushall_empties_every_database_and_stays_empty_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ks = open(dir.path());
        for db in 0..3 {
            for i in 0..2000 {
                let argv: Vec<Bytes> = vec![
                    Bytes::from_static(b"RPUSH"),
                    Bytes::from(format!("k{i}")),
                    Bytes::from_static(b"v"),
                ];
                ks.execute(&Ctx::new(NOW, 1, db), &argv);
            }
        }
        assert_eq!(run(&ks, NOW, &["DBSIZE"]), Reply::Integer(2000));
        assert_eq!(run(&ks, NOW, &["FLUSHALL"]), Reply::ok());
        for db in 0..3 {
            let argv = vec![Bytes::from_static(b"DBSIZE")];
            assert_eq!(ks.execute(&Ctx::new(NOW, 1, db), &argv), Reply::Integer(0));
        }
        run(&ks, NOW, &["SET", "after", "v"]);
    }
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["DBSIZE"]), Reply::Integer(1));
    assert_eq!(
        run(&ks, NOW, &["KEYS", "*"]),
        Reply::Array(vec![bulk("after")])
    );
}

#[test]
fn repeated_linsert_at_one_spot_renumbers_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expected: Vec<String> = vec!["a".into(), "z".into()];
    {
        let ks = open(dir.path());
        run(&ks, NOW, &["RPUSH", "l", "a", "z"]);
        run(&ks, NOW, &["EXPIRE", "l", "1000"]);
        // Each insert goes right after "a": the gap halves every time, so
        // the list is renumbered several times on the way.
        for i in 0..70 {
            let v = format!("v{i}");
            let r = run(&ks, NOW, &["LINSERT", "l", "AFTER", "a", &v]);
            expected.insert(1, v);
            assert_eq!(r, Reply::Integer(expected.len() as i64));
        }
        run(&ks, NOW, &["LINSERT", "l", "BEFORE", "a", "first"]);
        expected.insert(0, "first".into());
    }
    let want = Reply::Array(expected.iter().map(|v| bulk(v)).collect());
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["LRANGE", "l", "0", "-1"]), want);
    assert_eq!(run(&ks, NOW, &["TTL", "l"]), Reply::Integer(1000));
    ks.merge().expect("merge");
    drop(ks);
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["LRANGE", "l", "0", "-1"]), want);
}

#[test]
fn bloom_scandump_loadchunk_round_trip_and_persist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let items: Vec<String> = (0..300).map(|i| format!("item{i}")).collect();
    {
        let ks = open(dir.path());
        // A scaling filter that grew a few sub-filters.
        assert_eq!(
            run(&ks, NOW, &["BF.RESERVE", "src", "0.01", "50"]),
            Reply::ok()
        );
        let mut madd = vec!["BF.MADD", "src"];
        madd.extend(items.iter().map(String::as_str));
        run(&ks, NOW, &madd);
        // Dump it chunk by chunk and load it under another key.
        let mut iter = 0i64;
        let mut chunks = 0;
        loop {
            let reply = run(&ks, NOW, &["BF.SCANDUMP", "src", &iter.to_string()]);
            let Reply::Array(parts) = reply else {
                panic!("SCANDUMP replied {reply:?}");
            };
            let (Reply::Integer(next), Reply::Bulk(data)) = (&parts[0], &parts[1]) else {
                panic!("SCANDUMP parts {parts:?}");
            };
            if *next == 0 {
                break;
            }
            chunks += 1;
            let reply = run_bytes(
                &ks,
                NOW,
                &[b"BF.LOADCHUNK", b"dst", next.to_string().as_bytes(), data],
            );
            assert_eq!(reply, Reply::ok(), "chunk {next}");
            iter = *next;
        }
        assert!(chunks >= 3, "{chunks} chunks");
        for key in ["src", "dst"] {
            assert_eq!(
                run(&ks, NOW, &["BF.INFO", "dst"]),
                run(&ks, NOW, &["BF.INFO", key])
            );
        }
        // Bad input is refused and changes nothing.
        assert_eq!(
            run(&ks, NOW, &["BF.LOADCHUNK", "dst", "2", "garbage"]),
            Reply::Error("ERR received bad data".into())
        );
        assert_eq!(
            run(&ks, NOW, &["BF.LOADCHUNK", "new", "1", "short"]),
            Reply::Error("ERR received bad data".into())
        );
        assert_eq!(run(&ks, NOW, &["EXISTS", "new"]), Reply::Integer(0));
        assert_eq!(
            run(&ks, NOW, &["BF.SCANDUMP", "nokey", "0"]),
            Reply::Error("ERR not found".into())
        );
        run(&ks, NOW, &["SET", "str", "v"]);
        assert!(run(&ks, NOW, &["BF.LOADCHUNK", "str", "1", "x"]).is_error());
        assert!(run(&ks, NOW, &["BF.SCANDUMP", "str", "0"]).is_error());
    }
    // The loaded filter is in the log: it survives a reopen and a merge.
    let ks = open(dir.path());
    ks.merge().expect("merge");
    let ks = {
        drop(ks);
        open(dir.path())
    };
    assert_eq!(
        run(&ks, NOW, &["BF.INFO", "dst"]),
        run(&ks, NOW, &["BF.INFO", "src"])
    );
    for item in &items {
        assert_eq!(
            run(&ks, NOW, &["BF.EXISTS", "dst", item]),
            Reply::Integer(1),
            "{item}"
        );
    }
}

#[test]
fn try_execute_runs_only_what_cannot_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let ctx = Ctx::new(NOW, 7, 0);
    let argv = |a: &[&str]| -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    };
    let set = argv(&["SET", "k", "v"]);
    // Errors found before any lock are answered directly.
    assert_eq!(
        ks.try_execute(&ctx, &argv(&["GET"]), 64),
        Some(Reply::Error(
            "ERR wrong number of arguments for 'get' command".into()
        ))
    );
    // Appends until the quiet path declines once (the mapped window's end
    // or the pages written ahead), then `execute` moves the log on and the
    // quiet path works again: every SET lands either way.
    let (mut quiet, mut declined) = (0, 0);
    for i in 0..40_000 {
        let a = argv(&["SET", &format!("key:{i}"), "value"]);
        match ks.try_execute(&ctx, &a, 128) {
            Some(reply) => {
                assert_eq!(reply, Reply::ok());
                quiet += 1;
            }
            None => {
                declined += 1;
                assert_eq!(ks.execute(&ctx, &a), Reply::ok());
            }
        }
    }
    assert!(
        quiet > 30_000 && declined > 0,
        "quiet {quiet} declined {declined}"
    );
    assert_eq!(run(&ks, NOW, &["DBSIZE"]), Reply::Integer(40_000));
    // A held state lock: declined, nothing done.
    {
        let _held = ks.state.lock();
        assert_eq!(ks.try_execute(&ctx, &set, 64), None);
    }
    assert_eq!(run(&ks, NOW, &["GET", "k"]), Reply::Nil);
    assert_eq!(ks.try_execute(&ctx, &set, 64), Some(Reply::ok()));
    assert_eq!(run(&ks, NOW, &["GET", "k"]), bulk("v"));
    drop(ks);
    // Everything written on the quiet path is in the log.
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["DBSIZE"]), Reply::Integer(40_001));
}

#[test]
fn try_execute_declines_with_fsync_always() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::new(dir.path()).with_fsync(FsyncPolicy::Always);
    let ks = Keyspace::open(Config::new(opts)).expect("open keyspace");
    let set: Vec<Bytes> = ["SET", "k", "v"]
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    assert_eq!(ks.try_execute(&Ctx::new(NOW, 7, 0), &set, 64), None);
    assert_eq!(run(&ks, NOW, &["GET", "k"]), Reply::Nil);
}

/// Overwrites count every replaced record as dead bytes, in whichever file
/// it lives (the cached counter of the last file must not absorb counts
/// meant for another), and after a merge no removed file stays open.
#[test]
fn dead_bytes_follow_overwrites_across_files_and_merge_frees_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::new(dir.path())
        .with_fsync(FsyncPolicy::No)
        .with_max_file_size(4096)
        .with_merge_interval(None);
    let ks = Keyspace::open(Config::new(opts)).expect("open keyspace");
    for round in 0..4 {
        for i in 0..200 {
            let v = format!("value-{round}-{i:04}");
            assert_eq!(
                run(&ks, NOW, &["SET", &format!("k{i:04}"), &v]),
                Reply::ok()
            );
        }
    }
    let s = ks.stats().storage;
    assert!(s.files > 4, "small files rotate: {} files", s.files);
    // Three rounds of 200 records were replaced. Merge keeps the live
    // records byte for byte and drops the dead ones, so the record bytes
    // it removes are exactly the dead bytes counted before (each file
    // starts with an 8-byte header).
    assert!(s.dead_bytes > 600 * 20, "{s:?}");
    let records_before = s.disk_bytes - 8 * s.files as u64;
    ks.merge().expect("merge");
    let after = ks.stats().storage;
    assert_eq!(after.dead_bytes, 0, "{after:?}");
    let records_after = after.disk_bytes - 8 * after.files as u64;
    assert_eq!(
        s.dead_bytes,
        records_before - records_after,
        "before {s:?}, after {after:?}"
    );
    // The removed files are closed: none of them is open as "(deleted)".
    for fd in std::fs::read_dir("/proc/self/fd").expect("fds").flatten() {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let t = target.to_string_lossy();
            assert!(
                !(t.starts_with(&*dir.path().to_string_lossy()) && t.ends_with("(deleted)")),
                "a merged-away file is still open: {t}"
            );
        }
    }
    for i in 0..200 {
        assert_eq!(
            run(&ks, NOW, &["GET", &format!("k{i:04}")]),
            bulk(&format!("value-3-{i:04}"))
        );
    }
}

/// The locations foretold at log time (strings, list pushes, hash fields)
/// must end up right whether the forecast holds or not: tiny files rotate
/// every few records (a miss), multi-record commands are batches (a miss),
/// single records in a row are hits. Merge keeps exactly the live records
/// (a wrong location would make a live record dead), and a reopen after
/// the merge serves the same data.
#[test]
fn foretold_locations_survive_rotation_batches_merge_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open_small = || {
        let opts = Options::new(dir.path())
            .with_fsync(FsyncPolicy::No)
            .with_max_file_size(4096)
            .with_merge_interval(None);
        Keyspace::open(Config::new(opts)).expect("open keyspace")
    };
    let ks = open_small();
    // Records of ~200 bytes: a 4 KiB file rotates every ~20 of them.
    let pad = "x".repeat(180);
    // INCR rewrites a counter in place (same generation): its deadline
    // and EXPIRE record must survive merges and reopen.
    run(&ks, NOW, &["SET", "t", "0", "EX", "5000"]);
    run(&ks, NOW, &["SET", "p", "0", "EX", "5000"]);
    run(&ks, NOW, &["PERSIST", "p"]);
    for round in 0..30 {
        run(&ks, NOW, &["INCR", "t"]);
        run(&ks, NOW, &["INCR", "p"]);
        let r = format!("{round}{pad}");
        for i in 0..5 {
            let k = format!("s{i}");
            run(&ks, NOW, &["SET", &k, &format!("v{r}-{i}")]);
            run(&ks, NOW, &["INCR", &format!("n{i}")]);
            run(&ks, NOW, &["HSET", "h", &format!("f{i}"), &r]);
            run(&ks, NOW, &["RPUSH", "l", &format!("{r}.{i}")]);
        }
        // Batches: several records in one command.
        run(&ks, NOW, &["HSET", "h2", "a", &r, "b", &r]);
        run(&ks, NOW, &["MSET", "m1", &r, "m2", &r]);
        run(&ks, NOW, &["SET", "e", &r, "EX", "1000"]);
        run(&ks, NOW, &["LPOP", "l"]);
        if round % 7 == 6 {
            ks.merge().expect("merge");
        }
    }
    ks.merge().expect("merge");
    let digest = ks.digest();
    let check = |ks: &Keyspace| {
        for i in 0..5 {
            assert_eq!(
                run(ks, NOW, &["GET", &format!("s{i}")]),
                bulk(&format!("v29{pad}-{i}"))
            );
            assert_eq!(run(ks, NOW, &["GET", &format!("n{i}")]), bulk("30"));
            assert_eq!(
                run(ks, NOW, &["HGET", "h", &format!("f{i}")]),
                bulk(&format!("29{pad}"))
            );
        }
        assert_eq!(
            run(ks, NOW, &["HGET", "h2", "b"]),
            bulk(&format!("29{pad}"))
        );
        assert_eq!(run(ks, NOW, &["GET", "m2"]), bulk(&format!("29{pad}")));
        assert_eq!(run(ks, NOW, &["LLEN", "l"]), Reply::Integer(120));
        assert_eq!(
            run(ks, NOW, &["LINDEX", "l", "-1"]),
            bulk(&format!("29{pad}.4"))
        );
        assert_eq!(run(ks, NOW, &["TTL", "e"]), Reply::Integer(1000));
        assert_eq!(run(ks, NOW, &["GET", "t"]), bulk("30"));
        assert_eq!(run(ks, NOW, &["TTL", "t"]), Reply::Integer(5000));
        assert_eq!(run(ks, NOW, &["GET", "p"]), bulk("30"));
        assert_eq!(run(ks, NOW, &["TTL", "p"]), Reply::Integer(-1));
    };
    check(&ks);
    let s = ks.stats().storage;
    // After a merge only live records are left in the merged files; the
    // active file holds what came after it (nothing here).
    assert_eq!(s.dead_bytes, 0, "{s:?}");
    drop(ks);
    let ks = open_small();
    check(&ks);
    assert_eq!(ks.digest(), digest);
    assert_eq!(run(&ks, NOW + 5_000_000, &["GET", "t"]), Reply::Nil);
    assert_eq!(run(&ks, NOW + 5_000_000, &["GET", "p"]), bulk("30"));
}

/// A keyspace copy in memory, as a snapshot carries it.
fn copy_of(ks: &Keyspace) -> (Option<Bytes>, Vec<super::DumpRecord>) {
    struct Collect(Option<Bytes>, Vec<super::DumpRecord>);
    impl super::ExportSink for Collect {
        type Error = std::convert::Infallible;
        fn meta(&mut self, meta: Option<&Bytes>) -> Result<(), Self::Error> {
            self.0 = meta.cloned();
            Ok(())
        }
        fn record(&mut self, r: &crate::storage::RecordRef<'_>) -> Result<(), Self::Error> {
            self.1.push(r.into());
            Ok(())
        }
    }
    let mut c = Collect(None, Vec::new());
    let Ok(()) = ks.export_into(&mut c);
    (c.0, c.1)
}

fn open_with(dir: &std::path::Path, databases: usize) -> Result<Keyspace, super::Error> {
    let opts = Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_max_file_size(256 << 10)
        .with_merge_interval(None);
    let mut cfg = Config::new(opts);
    cfg.databases = databases;
    Keyspace::open(cfg)
}

/// Runs a command in database `db`.
fn run_in(ks: &Keyspace, db: usize, args: &[&str]) -> Reply {
    let argv: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
    ks.execute(&Ctx::new(NOW, 7, db), &argv)
}

/// A source of several import batches (~3 MiB of values) of every shape,
/// with a deadline, in two databases swapped once.
fn import_source(dir: &std::path::Path, tag: &str) -> Keyspace {
    let ks = open_with(dir, 16).expect("open source");
    let pad = "v".repeat(1000);
    for i in 0..3000 {
        run_in(&ks, i % 2 * 3, &["SET", &format!("{tag}{i}"), &pad]);
    }
    run_in(&ks, 0, &["RPUSH", "list", "a", "b", tag]);
    run_in(&ks, 0, &["HSET", "hash", "f", tag]);
    run_in(&ks, 3, &["ZADD", "zset", "1.5", tag]);
    run_in(&ks, 3, &["SET", "ttl", tag, "PX", "500000"]);
    run_in(&ks, 0, &["SWAPDB", "0", "7"]);
    ks
}

fn import_all(ks: &Keyspace, records: &[super::DumpRecord], meta: &str) {
    let mut import = ks.begin_import().expect("begin import");
    for r in records {
        import.push(r).expect("push");
    }
    import
        .commit(Bytes::from(meta.to_string()))
        .expect("commit");
}

/// A snapshot install: batches go to the staging twins while the
/// databases keep serving their old data, the commit swaps every one in
/// at once, and the result is the source's dataset after a reopen, a
/// merge, another reopen and a reopen with more databases.
#[test]
fn an_import_of_many_batches_swaps_in_at_commit_and_persists() {
    let src_dir = tempfile::tempdir().expect("tempdir");
    let src = import_source(src_dir.path(), "k");
    let (_, records) = copy_of(&src);
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open_with(dir.path(), 16).expect("open");
    run_in(&ks, 0, &["SET", "old", "1"]);
    run_in(&ks, 5, &["SADD", "old-set", "x"]);
    let before = ks.digest();

    let mut import = ks.begin_import().expect("begin import");
    for (i, r) in records.iter().enumerate() {
        import.push(r).expect("push");
        if i == records.len() / 2 {
            // Half way (several batches appended): nothing shows yet.
            assert_eq!(run_in(&ks, 0, &["GET", "old"]), bulk("1"));
            assert_eq!(run_in(&ks, 7, &["DBSIZE"]), Reply::Integer(0));
            assert_eq!(ks.digest(), before);
        }
    }
    import.commit(Bytes::from_static(b"meta")).expect("commit");
    assert_ne!(src.digest(), before);
    assert_eq!(ks.digest(), src.digest());
    assert_eq!(run_in(&ks, 0, &["GET", "old"]), Reply::Nil);
    assert_eq!(run_in(&ks, 5, &["DBSIZE"]), Reply::Integer(0));
    assert_eq!(run_in(&ks, 7, &["HGET", "hash", "f"]), bulk("k"));
    assert_eq!(run_in(&ks, 3, &["PTTL", "ttl"]), Reply::Integer(500000));
    assert_eq!(ks.raft_meta(), Some(Bytes::from_static(b"meta")));
    // Writes after the import get generations above the imported ones.
    assert_eq!(run_in(&ks, 7, &["RPUSH", "list", "d"]), Reply::Integer(4));
    let after = ks.digest();
    drop(ks);

    let ks = open_with(dir.path(), 16).expect("reopen");
    assert_eq!(ks.digest(), after);
    ks.merge().expect("merge");
    assert_eq!(ks.digest(), after);
    drop(ks);
    let ks = open_with(dir.path(), 32).expect("reopen with more databases");
    assert_eq!(ks.digest(), after);
    assert_eq!(run_in(&ks, 7, &["LINDEX", "list", "-1"]), bulk("d"));
    assert_eq!(ks.raft_meta(), Some(Bytes::from_static(b"meta")));
}

/// A crash in the middle of an import (batches on disk, no commit) leaves
/// the databases as they were, and what it wrote never comes back: not
/// after a reopen, nor through the next import's staging databases.
#[test]
fn an_import_cut_short_leaves_the_databases_as_they_were() {
    let a_dir = tempfile::tempdir().expect("tempdir");
    let (_, copy_a) = copy_of(&import_source(a_dir.path(), "a"));
    let b_dir = tempfile::tempdir().expect("tempdir");
    let src_b = import_source(b_dir.path(), "b");
    let (_, copy_b) = copy_of(&src_b);
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open_with(dir.path(), 16).expect("open");
    run_in(&ks, 0, &["SET", "old", "1"]);
    import_all(&ks, &copy_a[..10], "first");
    let before = ks.digest();

    let mut import = ks.begin_import().expect("begin import");
    for r in &copy_a {
        import.push(r).expect("push");
    }
    // The process dies here: the import is never committed nor dropped.
    std::mem::forget(import);
    drop(ks);
    let ks = open_with(dir.path(), 16).expect("reopen");
    assert_eq!(ks.digest(), before);
    assert_eq!(ks.raft_meta(), Some(Bytes::from_static(b"first")));
    let staged = |ks: &Keyspace| {
        let st = ks.state.lock();
        (0..16)
            .map(|d| st.dbs[st.slot_of[super::STAGING + d]].len())
            .sum::<usize>()
    };
    assert_eq!(staged(&ks), 0, "recovery empties the staging databases");

    // An import abandoned by an error frees staging and changes nothing.
    let mut import = ks.begin_import().expect("begin import");
    for r in &copy_a[..2000] {
        import.push(r).expect("push");
    }
    let mut flush = copy_a[0].clone();
    flush.tag = super::journal::TAG_FLUSH;
    assert!(import.push(&flush).is_err());
    assert_ne!(staged(&ks), 0);
    drop(import);
    assert_eq!(staged(&ks), 0, "an abandoned import frees staging");
    assert_eq!(ks.digest(), before);

    import_all(&ks, &copy_b, "second");
    assert_eq!(ks.digest(), src_b.digest());
    drop(ks);
    let ks = open_with(dir.path(), 16).expect("reopen");
    assert_eq!(ks.digest(), src_b.digest());
    assert_eq!(run_in(&ks, 7, &["EXISTS", "a1"]), Reply::Integer(0));
}

/// Data in database 3 cannot be opened with 2 databases (it would
/// vanish), and the staging twins never count as data.
#[test]
fn reopening_with_fewer_databases_than_the_data_uses_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open_with(dir.path(), 16).expect("open");
    run_in(&ks, 3, &["SET", "k", "v"]);
    run_in(&ks, 0, &["SWAPDB", "3", "1"]);
    drop(ks);
    let err = open_with(dir.path(), 1).expect_err("refused");
    assert!(err.to_string().contains("database 1"), "{err}");
    let ks = open_with(dir.path(), 2).expect("two databases hold it");
    assert_eq!(run_in(&ks, 1, &["GET", "k"]), bulk("v"));
    assert!(open_with(dir.path(), super::MAX_DATABASES + 1).is_err());
}

/// A sink that takes its time (in the child of a forked export) and keeps
/// the record keys it saw.
struct SlowSink {
    pause: std::time::Duration,
    fail: bool,
    keys: Vec<u8>,
    out: std::fs::File,
}

impl super::ExportSink for SlowSink {
    type Error = std::io::Error;
    fn meta(&mut self, _: Option<&Bytes>) -> std::io::Result<()> {
        std::thread::sleep(self.pause);
        Ok(())
    }
    fn record(&mut self, r: &crate::storage::RecordRef<'_>) -> std::io::Result<()> {
        if self.fail {
            return Err(std::io::Error::other("the sink refused a record"));
        }
        self.keys.extend_from_slice(r.key);
        self.keys.push(b'\n');
        Ok(())
    }
}

/// The forked export (snapshot builds) copies the keyspace as it was at
/// the fork while commands keep running: a SET issued during the copy
/// finishes long before the copy does and is not in it. A failing copy
/// reports the child's error.
#[test]
fn a_forked_export_copies_the_fork_instant_without_holding_the_lock() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = std::sync::Arc::new(open(dir.path()));
    run(&ks, NOW, &["SET", "before", "1"]);
    run(&ks, NOW, &["HSET", "hash", "field", "v"]);
    ks.put_raft_meta(Bytes::from_static(b"m1")).expect("meta");
    let path = dir.path().join("copy");
    let mut sink = SlowSink {
        pause: Duration::from_secs(2),
        fail: false,
        keys: Vec::new(),
        out: std::fs::File::create(&path).expect("create"),
    };
    // Another keyspace of this process, closed and reopened during the
    // copy: the child must not keep its directory locked.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = open(other_dir.path());
    let start = Instant::now();
    let writer = {
        let ks = ks.clone();
        let other_path = other_dir.path().to_path_buf();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(run(&ks, NOW, &["SET", "during", "1"]), Reply::ok());
            drop(other);
            let reopened = open_with(&other_path, 16).map(drop);
            (start.elapsed(), reopened)
        })
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sink.out);
    let meta = ks
        .export_forked(&mut sink, &[fd], |s| {
            s.out.write_all(&s.keys)?;
            s.out.sync_all()
        })
        .expect("forked export");
    let copied = start.elapsed();
    let (set_done, reopened) = writer.join().expect("writer");
    reopened.expect("a keyspace closed during the copy reopens (no lock left in the child)");
    assert_eq!(meta, Some(Bytes::from_static(b"m1")));
    assert!(
        set_done + Duration::from_millis(1000) < copied,
        "the SET waited for the copy: done at {set_done:?}, copy at {copied:?}"
    );
    let copy = std::fs::read(&path).expect("read copy");
    let has = |k: &[u8]| copy.windows(k.len()).any(|w| w == k);
    assert!(has(b"before") && has(b"field"), "{copy:?}");
    assert!(!has(b"during"), "{copy:?}");
    // The parent's sink saw nothing: the child had its own copy.
    assert!(sink.keys.is_empty());

    sink.fail = true;
    sink.pause = Duration::ZERO;
    let err = ks
        .export_forked(&mut sink, &[], |_| Ok(()))
        .expect_err("a failing copy");
    assert!(
        err.to_string().contains("the sink refused a record"),
        "{err}"
    );
}

#[test]
fn a_group_remembers_its_last_command_by_its_exact_name() {
    let mut last = super::LastCommand::default();
    let name = |c: Option<&'static crate::command::Command>| c.map(|c| c.spec.name);
    assert_eq!(name(last.find(b"SET")), Some("set"));
    assert_eq!(name(last.find(b"SET")), Some("set"));
    // Another name, another case, a prefix and an unknown one are looked up.
    assert_eq!(name(last.find(b"get")), Some("get"));
    assert_eq!(name(last.find(b"GeT")), Some("get"));
    assert_eq!(name(last.find(b"GETEX")), Some("getex"));
    assert_eq!(name(last.find(b"GE")), None);
    assert_eq!(name(last.find(b"GETEX")), Some("getex"));
    assert_eq!(name(last.find(b"")), None);
    // A name longer than the memory is looked up every time.
    let long = [b'x'; 40];
    assert_eq!(name(last.find(&long)), None);
    assert_eq!(name(last.find(b"getex")), Some("getex"));
}

/// Lone-pair ZADDs on a sorted set big enough that ZADD finds both of a
/// member's places before writing its record (the member table, the new
/// place, then the old one): plain moves, INCR, GT / LT / NX / XX, new
/// members and equal scores, against a model, through a reopen too.
#[test]
fn lone_zadds_on_a_big_sorted_set_match_a_model() {
    use std::collections::HashMap;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ks = open(dir.path());
    let members = 40_000u64;
    let mut model: HashMap<String, f64> = HashMap::new();
    for chunk in 0..members / 1000 {
        let mut a = vec!["ZADD".to_owned(), "z".to_owned()];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            let (s, m) = ((i * 7 % 1009) as f64, format!("m{i:06}"));
            a.push(s.to_string());
            a.push(m.clone());
            model.insert(m, s);
        }
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        assert_eq!(run(&ks, NOW, &a), Reply::Integer(1000));
    }
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..30_000 {
        let r = next();
        // Some members beyond the set (added), scores with many ties.
        let m = format!("m{:06}", r % (members + 2000));
        let s = ((r >> 20) % 1013) as f64 - 3.0;
        let opt = ["", "INCR", "GT", "LT", "NX", "XX", "CH"][(r >> 40) as usize % 7];
        let cur = model.get(&m).copied();
        let mut a = vec!["ZADD", "z"];
        if !opt.is_empty() {
            a.push(opt);
        }
        let s_text = s.to_string();
        a.push(&s_text);
        a.push(&m);
        let new = match (opt, cur) {
            ("INCR", Some(c)) => Some(c + s),
            ("GT", Some(c)) => (s > c).then_some(s),
            ("LT", Some(c)) => (s < c).then_some(s),
            ("NX", Some(_)) => None,
            ("XX", None) => None,
            _ => Some(s),
        };
        let reply = run(&ks, NOW, &a);
        let expected = match opt {
            "INCR" => new.map_or(Reply::Nil, Reply::Double),
            "CH" => Reply::Integer(i64::from(cur != new)),
            _ => Reply::Integer(i64::from(cur.is_none() && new.is_some())),
        };
        assert_eq!(reply, expected, "{a:?} over {cur:?}");
        if let Some(n) = new {
            model.insert(m, n);
        }
    }
    let mut order: Vec<(f64, &String)> = model.iter().map(|(m, s)| (*s, m)).collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let expected = Reply::Array(order.iter().map(|(_, m)| bulk(m)).collect());
    assert_eq!(run(&ks, NOW, &["ZRANGE", "z", "0", "-1"]), expected);
    for (rank, (s, m)) in order.iter().enumerate().step_by(997) {
        assert_eq!(
            run(&ks, NOW, &["ZRANK", "z", m]),
            Reply::Integer(rank as i64)
        );
        assert_eq!(run(&ks, NOW, &["ZSCORE", "z", m]), Reply::Double(*s));
    }
    drop(ks);
    ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["ZRANGE", "z", "0", "-1"]), expected);
}
