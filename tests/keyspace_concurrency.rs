//! Atomicity under concurrency: INCR and LPUSH from many threads lose
//! nothing, MULTI/EXEC batches are atomic (in memory and on disk), and the
//! observer hears about every modified key.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, KeyObserver, Keyspace, Presence};
use fincaskv::storage::{FsyncPolicy, Options};

const NOW: u64 = 1_800_000_000_000;

fn open(dir: &std::path::Path, fsync: FsyncPolicy) -> Keyspace {
    Keyspace::open(Config::new(Options::new(dir).with_fsync(fsync))).expect("open keyspace")
}

fn argv(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect()
}

fn run(ks: &Keyspace, parts: &[&str]) -> Reply {
    ks.execute(&Ctx::new(NOW, 1, 0), &argv(parts))
}

#[test]
fn concurrent_incr_and_lpush_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // fsync = always: exercises waiting for durability outside the lock.
    let ks = Arc::new(open(dir.path(), FsyncPolicy::Always));
    const THREADS: usize = 8;
    const EACH: usize = 250;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let ks = Arc::clone(&ks);
            std::thread::spawn(move || {
                for i in 0..EACH {
                    assert!(matches!(run(&ks, &["INCR", "counter"]), Reply::Integer(_)));
                    let v = format!("{t}-{i}");
                    assert!(matches!(
                        run(&ks, &["LPUSH", "list", &v]),
                        Reply::Integer(_)
                    ));
                    assert!(matches!(
                        run(&ks, &["INCRBY", "by3", "3"]),
                        Reply::Integer(_)
                    ));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    let total = (THREADS * EACH) as i64;
    assert_eq!(
        run(&ks, &["GET", "counter"]),
        Reply::Bulk(Bytes::from(total.to_string()))
    );
    assert_eq!(
        run(&ks, &["GET", "by3"]),
        Reply::Bulk(Bytes::from((3 * total).to_string()))
    );
    assert_eq!(run(&ks, &["LLEN", "list"]), Reply::Integer(total));
    // Every element exactly once, each thread's elements in push order.
    let Reply::Array(items) = run(&ks, &["LRANGE", "list", "0", "-1"]) else {
        panic!("LRANGE failed");
    };
    let mut seen = std::collections::HashSet::new();
    let mut last_per_thread = [usize::MAX; THREADS];
    for item in items {
        let Reply::Bulk(b) = item else {
            panic!("bad item")
        };
        assert!(seen.insert(b.clone()), "duplicate {b:?}");
        let text = String::from_utf8(b.to_vec()).expect("utf8");
        let (t, i) = text.split_once('-').expect("t-i");
        let (t, i): (usize, usize) = (t.parse().expect("t"), i.parse().expect("i"));
        // Head first: a thread's later pushes come before its earlier ones.
        assert!(i < last_per_thread[t], "thread {t} out of order");
        last_per_thread[t] = i;
    }
    drop(ks);
    let ks = open(dir.path(), FsyncPolicy::Always);
    assert_eq!(
        run(&ks, &["GET", "counter"]),
        Reply::Bulk(Bytes::from(total.to_string()))
    );
    assert_eq!(run(&ks, &["LLEN", "list"]), Reply::Integer(total));
}

#[test]
fn transactions_are_atomic_and_replies_are_per_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = Arc::new(open(dir.path(), FsyncPolicy::No));
    run(&ks, &["SET", "a", "0"]);
    run(&ks, &["SET", "b", "0"]);
    // Readers must never see a != b: each transaction increments both.
    let stop = Arc::new(AtomicUsize::new(0));
    let reader = {
        let ks = Arc::clone(&ks);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut checks = 0;
            while stop.load(Ordering::Relaxed) == 0 || checks == 0 {
                let Reply::Array(r) = run(&ks, &["MGET", "a", "b"]) else {
                    panic!("MGET failed");
                };
                assert_eq!(r[0], r[1], "torn transaction");
                checks += 1;
            }
            checks
        })
    };
    let ctx = Ctx::new(NOW, 1, 0);
    for _ in 0..500 {
        let replies = ks.execute_transaction(
            &ctx,
            &[
                argv(&["INCR", "a"]),
                argv(&["LPUSH", "a", "x"]),
                argv(&["INCR", "b"]),
            ],
        );
        assert!(matches!(replies[0], Reply::Integer(_)));
        assert!(
            replies[1].is_error(),
            "WRONGTYPE expected, got {:?}",
            replies[1]
        );
        assert!(matches!(replies[2], Reply::Integer(_)));
    }
    stop.store(1, Ordering::Relaxed);
    assert!(reader.join().expect("reader") > 0);
    let replies = ks.execute_transaction(
        &ctx,
        &[
            argv(&["SELECT", "3"]),
            argv(&["SET", "in3", "v"]),
            argv(&["NOSUCH"]),
        ],
    );
    assert_eq!(replies[0], Reply::ok());
    assert_eq!(replies[1], Reply::ok());
    assert!(replies[2].is_error());
    assert_eq!(
        ks.execute(&Ctx::new(NOW, 1, 3), &argv(&["GET", "in3"])),
        Reply::Bulk(Bytes::from_static(b"v"))
    );
    drop(ks);
    let ks = open(dir.path(), FsyncPolicy::No);
    assert_eq!(
        run(&ks, &["GET", "a"]),
        Reply::Bulk(Bytes::from_static(b"500"))
    );
    assert_eq!(
        run(&ks, &["GET", "b"]),
        Reply::Bulk(Bytes::from_static(b"500"))
    );
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl KeyObserver for Recorder {
    fn key_modified(&self, db: usize, key: &[u8]) {
        self.events
            .lock()
            .expect("lock")
            .push(format!("mod {db} {}", String::from_utf8_lossy(key)));
    }
    fn db_flushed(&self, db: Option<usize>, presence: &dyn Fn(usize, &[u8]) -> Presence) {
        let k = (presence(0, b"k"), presence(1, b"k"));
        self.events
            .lock()
            .expect("lock")
            .push(format!("flush {db:?} k {k:?}"));
    }
    fn dbs_swapped(&self, a: usize, b: usize, presence: &dyn Fn(usize, &[u8]) -> Presence) {
        let k = (presence(0, b"k"), presence(1, b"k"));
        self.events
            .lock()
            .expect("lock")
            .push(format!("swap {a} {b} k {k:?}"));
    }
}

#[test]
fn observer_hears_writes_not_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path(), FsyncPolicy::No);
    let rec = Arc::new(Recorder::default());
    ks.set_observer(rec.clone());
    run(&ks, &["SET", "k", "v"]);
    run(&ks, &["GET", "k"]);
    run(&ks, &["RPUSH", "l", "a"]);
    run(&ks, &["LPOP", "l"]);
    run(&ks, &["LPOP", "l"]);
    run(&ks, &["SWAPDB", "0", "1"]);
    run(&ks, &["FLUSHALL"]);
    let events = rec.events.lock().expect("lock").clone();
    assert_eq!(
        events,
        vec![
            "mod 0 k",
            "mod 0 l",
            "mod 0 l",
            // Told before the swap, then before the flush.
            "swap 0 1 k (Live, Absent)",
            "flush None k (Absent, Live)",
        ]
    );
}
