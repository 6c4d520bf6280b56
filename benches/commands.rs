//! Criterion benchmarks of commands through `Keyspace::execute` (fsync = no):
//! GET, SET, INCR, LPUSH; and the caller-path cost of DEL of a list of one
//! million elements (timed by hand: building the list is not part of it).
//!
//! Run: `cargo bench --bench commands`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, Criterion};
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};

const NOW: u64 = 1_800_000_000_000;
const KEYS: usize = 10_000;

fn open(dir: &std::path::Path) -> Keyspace {
    let opts = Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_merge_interval(None);
    Keyspace::open(Config::new(opts)).expect("open keyspace")
}

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

fn key(i: usize) -> Vec<u8> {
    format!("key:{:08}", i % KEYS).into_bytes()
}

fn bench_commands(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let ctx = Ctx::new(NOW, 1, 0);
    let value = [b'v'; 16];
    let sets: Vec<Vec<Bytes>> = (0..KEYS)
        .map(|i| argv(&[b"SET", &key(i), &value]))
        .collect();
    let gets: Vec<Vec<Bytes>> = (0..KEYS).map(|i| argv(&[b"GET", &key(i)])).collect();
    for s in &sets {
        ks.execute(&ctx, s);
    }
    let mut g = c.benchmark_group("execute");
    g.measurement_time(Duration::from_secs(3));
    let mut i = 0usize;
    g.bench_function("GET", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            ks.execute(&ctx, &gets[i])
        })
    });
    g.bench_function("SET", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            ks.execute(&ctx, &sets[i])
        })
    });
    let incr = argv(&[b"INCR", b"counter"]);
    g.bench_function("INCR", |b| b.iter(|| ks.execute(&ctx, &incr)));
    let lpush = argv(&[b"LPUSH", b"list", &value]);
    let del = argv(&[b"DEL", b"list"]);
    g.bench_function("LPUSH", |b| {
        b.iter_custom(|iters| {
            // Bound the list: time the pushes, not the periodic DEL.
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(100_000);
                let start = Instant::now();
                for _ in 0..n {
                    ks.execute(&ctx, &lpush);
                }
                total += start.elapsed();
                ks.execute(&ctx, &del);
                left -= n;
            }
            total
        })
    });
    g.finish();
}

/// DEL of a one-million-element list: the caller's path only (the memory is
/// freed by the dropper thread).
fn del_big_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let ctx = Ctx::new(NOW, 1, 0);
    let mut samples = Vec::new();
    let mut cpu = Vec::new();
    for round in 0..5 {
        let name = format!("big{round}").into_bytes();
        for chunk in 0..100 {
            let mut args: Vec<Bytes> =
                vec![Bytes::from_static(b"RPUSH"), Bytes::from(name.clone())];
            args.extend((0..10_000).map(|i| Bytes::from(format!("e{chunk}-{i}"))));
            ks.execute(&ctx, &args);
        }
        assert_eq!(
            ks.execute(&ctx, &argv(&[b"LLEN", &name])),
            Reply::Integer(1_000_000)
        );
        // Flush the pushes first: otherwise the kernel's writeback of ~50 MB
        // of dirty pages may throttle the DEL record's pwrite (storage I/O,
        // not the keyspace's work) and the figure measures the disk.
        ks.sync().expect("sync");
        let (start, start_cpu) = (Instant::now(), thread_cpu());
        let r = ks.execute(&ctx, &argv(&[b"DEL", &name]));
        cpu.push(thread_cpu() - start_cpu);
        samples.push(start.elapsed());
        assert_eq!(r, Reply::Integer(1));
    }
    samples.sort();
    cpu.sort();
    println!(
        "DEL of a 1,000,000-element list, caller path: wall median {:?} (min {:?}, max {:?}); \
         thread CPU median {:?} (max {:?}), 5 runs",
        samples[2], samples[0], samples[4], cpu[2], cpu[4]
    );
}

/// CPU time of the calling thread (immune to other processes on a loaded
/// machine, unlike criterion's wall clock).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Thread CPU time per command for GET, SET, INCR, LPUSH (fsync = no).
fn cpu_per_op() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let ctx = Ctx::new(NOW, 1, 0);
    let value = [b'v'; 16];
    let sets: Vec<Vec<Bytes>> = (0..KEYS)
        .map(|i| argv(&[b"SET", &key(i), &value]))
        .collect();
    let gets: Vec<Vec<Bytes>> = (0..KEYS).map(|i| argv(&[b"GET", &key(i)])).collect();
    for s in &sets {
        ks.execute(&ctx, s);
    }
    let incr = argv(&[b"INCR", b"counter"]);
    let lpush = argv(&[b"LPUSH", b"list", &value]);
    const N: usize = 200_000;
    let report = |name: &str, f: &mut dyn FnMut(usize)| {
        for i in 0..N / 10 {
            f(i); // warm up
        }
        let start = thread_cpu();
        for i in 0..N {
            f(i);
        }
        let per = (thread_cpu() - start) / N as u32;
        println!("thread CPU per {name}: {per:?}");
    };
    report("GET", &mut |i| {
        criterion::black_box(ks.execute(&ctx, &gets[i % KEYS]));
    });
    report("SET", &mut |i| {
        criterion::black_box(ks.execute(&ctx, &sets[i % KEYS]));
    });
    report("INCR", &mut |_| {
        criterion::black_box(ks.execute(&ctx, &incr));
    });
    report("LPUSH", &mut |_| {
        criterion::black_box(ks.execute(&ctx, &lpush));
    });
}

criterion_group!(benches, bench_commands);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench --bench commands -- GET` runs only the matching
    // benchmarks; the DEL measurement runs without a filter or with "DEL".
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if filters.is_empty() || filters.iter().any(|f| f.contains("DEL")) {
        del_big_list();
    }
    if filters.is_empty() || filters.iter().any(|f| f.contains("CPU")) {
        cpu_per_op();
    }
}
