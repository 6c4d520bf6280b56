//! Criterion benchmarks of commands through `Keyspace::execute` (fsync = no):
//! GET, SET, INCR, LPUSH, HSET, SADD on small values, each on a fresh
//! keyspace; then the thread CPU time per command of the same shapes; and
//! the caller-path cost of DEL of a list of one million elements (timed by
//! hand: building the list is not part of it).
//!
//! Run: `cargo bench --bench commands`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, Criterion};
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};

#[path = "support/thread_cpu.rs"]
mod support;
use support::thread_cpu;

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

/// One command shape: its name and the argv of call `i` (cycled over
/// [`KEYS`]); the shapes of `examples/command_loop.rs`.
struct Shape {
    name: &'static str,
    argv: fn(usize) -> Vec<Bytes>,
}

const VALUE: &[u8] = b"vvvvvvvvvvvvvvvv";

/// GET SET INCR LPUSH HSET SADD on small values: 10,000 keys for GET / SET,
/// one counter, one list, one hash of 10,000 fields (overwritten after the
/// first round), 64 sets sharing 10,000 members (present after the first
/// round, as in redis-benchmark's SADD).
const SHAPES: [Shape; 6] = [
    Shape {
        name: "GET",
        argv: |i| argv(&[b"GET", &key(i)]),
    },
    Shape {
        name: "SET",
        argv: |i| argv(&[b"SET", &key(i), VALUE]),
    },
    Shape {
        name: "INCR",
        argv: |_| argv(&[b"INCR", b"counter"]),
    },
    Shape {
        name: "LPUSH",
        argv: |_| argv(&[b"LPUSH", b"list", VALUE]),
    },
    Shape {
        name: "HSET",
        argv: |i| {
            argv(&[
                b"HSET",
                b"hash",
                format!("field:{:08}", i % KEYS).as_bytes(),
                VALUE,
            ])
        },
    },
    Shape {
        name: "SADD",
        argv: |i| {
            argv(&[
                b"SADD",
                format!("set:{}", i % 64).as_bytes(),
                format!("member:{:08}", i % KEYS).as_bytes(),
            ])
        },
    },
];

/// A fresh keyspace in its own directory, loaded with the 10,000 string
/// keys GET reads. Every shape gets one: a keyspace that earlier shapes
/// filled with gigabytes of dead records (merge is off here) measures the
/// page cache and the disk's writeback, not the command.
fn fresh_keyspace() -> (tempfile::TempDir, Keyspace) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let ctx = Ctx::new(NOW, 1, 0);
    for i in 0..KEYS {
        ks.execute(&ctx, &argv(&[b"SET", &key(i), VALUE]));
    }
    (dir, ks)
}

fn bench_commands(c: &mut Criterion) {
    let ctx = Ctx::new(NOW, 1, 0);
    let mut g = c.benchmark_group("execute");
    g.measurement_time(Duration::from_secs(3));
    let del = argv(&[b"DEL", b"list"]);
    for shape in &SHAPES {
        let (_dir, ks) = fresh_keyspace();
        let cmds: Vec<Vec<Bytes>> = (0..KEYS).map(shape.argv).collect();
        let mut i = 0usize;
        g.bench_function(shape.name, |b| {
            b.iter_custom(|iters| {
                // 100,000 commands at a time; LPUSH's list is deleted
                // between rounds (untimed) so that it stays bounded.
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(100_000);
                    let start = Instant::now();
                    for _ in 0..n {
                        i = (i + 1) % KEYS;
                        criterion::black_box(ks.execute(&ctx, &cmds[i]));
                    }
                    total += start.elapsed();
                    if shape.name == "LPUSH" {
                        ks.execute(&ctx, &del);
                    }
                    left -= n;
                }
                total
            })
        });
    }
    g.finish();
}

/// LRANGE of the first 100 elements of a list of 10,000 short elements
/// (redis-benchmark's LRANGE_100): the reply path of a list.
fn bench_lrange(c: &mut Criterion) {
    let (_dir, ks) = fresh_keyspace();
    let ctx = Ctx::new(NOW, 1, 0);
    for chunk in 0..100 {
        let mut args = argv(&[b"RPUSH", b"biglist"]);
        args.extend((0..100).map(|i| Bytes::from(format!("e{chunk}-{i}"))));
        ks.execute(&ctx, &args);
    }
    let cmd = argv(&[b"LRANGE", b"biglist", b"0", b"99"]);
    let mut g = c.benchmark_group("execute");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("LRANGE_100", |b| b.iter(|| ks.execute(&ctx, &cmd)));
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

/// Thread CPU time per command of every shape, each on a fresh keyspace
/// (fsync = no; robust on a loaded machine, unlike criterion's wall clock).
fn cpu_per_op() {
    let ctx = Ctx::new(NOW, 1, 0);
    const N: usize = 200_000;
    for shape in &SHAPES {
        let (_dir, ks) = fresh_keyspace();
        let cmds: Vec<Vec<Bytes>> = (0..KEYS).map(shape.argv).collect();
        for cmd in cmds.iter().cycle().take(N / 10) {
            ks.execute(&ctx, cmd); // warm up
        }
        let start = thread_cpu();
        for cmd in cmds.iter().cycle().take(N) {
            criterion::black_box(ks.execute(&ctx, cmd));
        }
        let per = (thread_cpu() - start) / N as u32;
        println!("thread CPU per {}: {per:?}", shape.name);
    }
}

criterion_group!(benches, bench_commands, bench_lrange);

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
