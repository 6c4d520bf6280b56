//! Criterion benchmarks of the storage engine: put, get (cache hit / miss),
//! batch put, reopen with and without hint files. 16-byte keys, 100-byte values.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fincaskv::storage::{Engine, FsyncPolicy, Options, WriteBatch};

const VALUE: [u8; 100] = [0x5a; 100];

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    let mut n = i;
    for b in k[4..].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

fn opts(dir: &std::path::Path) -> Options {
    Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_merge_interval(None)
}

fn fill(e: &Engine, n: u64) {
    for i in 0..n {
        e.put(&key(i), &VALUE).expect("put");
    }
}

fn bench_put(c: &mut Criterion) {
    let mut g = c.benchmark_group("put");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engine::open(opts(dir.path())).expect("open");
    let mut i = 0u64;
    g.bench_function("put_fsync_no", |b| {
        b.iter(|| {
            i += 1;
            e.put(&key(i), &VALUE).expect("put");
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("batch_put_100", |b| {
        b.iter_batched(
            || {
                let mut batch = WriteBatch::new();
                for _ in 0..100 {
                    i += 1;
                    batch.put(&key(i), &VALUE);
                }
                batch
            },
            |batch| e.write(&batch).expect("batch"),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_get(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let e = Engine::open(opts(dir.path())).expect("open");
        fill(&e, N);
    }
    {
        let e = Engine::open(opts(dir.path()).with_cache_bytes(256 << 20)).expect("open");
        for i in 0..N {
            e.get(&key(i)).expect("warm");
        }
        let mut i = 0u64;
        g.bench_function("get_cache_hit", |b| {
            b.iter(|| {
                i = (i + 7919) % N;
                e.get(&key(i)).expect("get")
            })
        });
    }
    {
        let e = Engine::open(opts(dir.path()).with_cache_bytes(0)).expect("open");
        let mut i = 0u64;
        g.bench_function("get_page_cache_no_value_cache", |b| {
            b.iter(|| {
                i = (i + 7919) % N;
                e.get(&key(i)).expect("get")
            })
        });
    }
    g.finish();
}

fn bench_reopen(c: &mut Criterion) {
    const N: u64 = 200_000;
    let mut g = c.benchmark_group("reopen_200k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    let plain = tempfile::tempdir().expect("tempdir");
    let hinted = tempfile::tempdir().expect("tempdir");
    for dir in [plain.path(), hinted.path()] {
        let e = Engine::open(opts(dir).with_max_file_size(8 << 20)).expect("open");
        fill(&e, N);
        if dir == hinted.path() {
            e.put(b"overwrite", b"x").expect("put");
            e.put(b"overwrite", b"y").expect("put");
            e.merge().expect("merge");
        }
    }
    g.bench_function("without_hints", |b| {
        b.iter(|| Engine::open(opts(plain.path())).expect("open"))
    });
    g.bench_function("with_hints", |b| {
        b.iter(|| Engine::open(opts(hinted.path())).expect("open"))
    });
    g.finish();
}

criterion_group!(benches, bench_put, bench_get, bench_reopen);
criterion_main!(benches);
