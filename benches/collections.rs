//! Criterion benchmarks of the collection commands through
//! `Keyspace::execute` (fsync = no): HSET, SADD, ZADD on a one-million-member
//! sorted set, ZRANK on it; and the caller-path cost of DEL of a
//! one-million-field hash (timed by hand: building the hash is not part of it).
//!
//! First prints the thread CPU time per command (robust on a loaded
//! machine), then runs criterion (wall clock).
//!
//! Run: `cargo bench --bench collections`.

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
/// Distinct fields / members cycled through by HSET and SADD.
const SPREAD: usize = 100_000;
const BIG: usize = 1_000_000;

fn open(dir: &std::path::Path) -> Keyspace {
    let opts = Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_merge_interval(None);
    Keyspace::open(Config::new(opts)).expect("open keyspace")
}

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

fn bench_collections(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let ctx = Ctx::new(NOW, 1, 0);
    let value = [b'v'; 16];
    let hsets: Vec<Vec<Bytes>> = (0..SPREAD)
        .map(|i| argv(&[b"HSET", b"hash", format!("field:{i:08}").as_bytes(), &value]))
        .collect();
    let sadds: Vec<Vec<Bytes>> = (0..SPREAD)
        .map(|i| {
            argv(&[
                b"SADD",
                format!("set:{}", i % 64).as_bytes(),
                format!("member:{i:08}").as_bytes(),
            ])
        })
        .collect();
    // The 1M-member zset: built in batches of 1000 members.
    for chunk in 0..BIG / 1000 {
        let mut a = vec![Bytes::from_static(b"ZADD"), Bytes::from_static(b"bigz")];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            a.push(Bytes::from((i as u64 * 7 % 1_000_003).to_string()));
            a.push(Bytes::from(format!("m:{i:08}")));
        }
        ks.execute(&ctx, &a);
    }
    assert_eq!(
        ks.execute(&ctx, &argv(&[b"ZCARD", b"bigz"])),
        Reply::Integer(BIG as i64)
    );
    // ZADD that moves an existing member to a new score (remove + insert in
    // the skiplist, one record), over the whole 1M set: two score tables
    // used in turn, so that every ZADD really moves its member.
    let zadds: Vec<Vec<Vec<Bytes>>> = [13u64, 17]
        .iter()
        .map(|mult| {
            (0..SPREAD)
                .map(|i| {
                    let m = i * (BIG / SPREAD);
                    argv(&[
                        b"ZADD",
                        b"bigz",
                        (m as u64 * mult % 999_983).to_string().as_bytes(),
                        format!("m:{m:08}").as_bytes(),
                    ])
                })
                .collect()
        })
        .collect();
    let zranks: Vec<Vec<Bytes>> = (0..SPREAD)
        .map(|i| {
            argv(&[
                b"ZRANK",
                b"bigz",
                format!("m:{:08}", i * (BIG / SPREAD)).as_bytes(),
            ])
        })
        .collect();
    // 1,000 small hashes of 100 fields (the compact encoding): HSET
    // overwrites a field, HGET reads one.
    let small_sets: Vec<Vec<Bytes>> = (0..SPREAD)
        .map(|i| {
            argv(&[
                b"HSET",
                format!("small:{}", i % 1000).as_bytes(),
                format!("field:{:04}", (i / 1000) % 100).as_bytes(),
                &value,
            ])
        })
        .collect();
    let small_gets: Vec<Vec<Bytes>> = small_sets
        .iter()
        .map(|a| vec![Bytes::from_static(b"HGET"), a[1].clone(), a[2].clone()])
        .collect();
    for i in 0..100_000 {
        ks.execute(&ctx, &small_sets[i % SPREAD]);
    }
    // 1,000 small sorted sets of 100 members (the compact form): ZADD
    // gives a member a new score (it moves), ZSCORE reads one.
    let small_zadds: Vec<Vec<Bytes>> = (0..SPREAD)
        .map(|i| {
            argv(&[
                b"ZADD",
                format!("smallz:{}", i % 1000).as_bytes(),
                (i % 977).to_string().as_bytes(),
                format!("member:{:04}", (i / 1000) % 100).as_bytes(),
            ])
        })
        .collect();
    let small_zscores: Vec<Vec<Bytes>> = small_zadds
        .iter()
        .map(|a| vec![Bytes::from_static(b"ZSCORE"), a[1].clone(), a[3].clone()])
        .collect();
    for i in 0..100_000 {
        ks.execute(&ctx, &small_zadds[(i * 7) % SPREAD]);
    }
    let mut g = c.benchmark_group("collections");
    g.measurement_time(Duration::from_secs(3));
    let mut i = 0usize;
    g.bench_function("ZADD (100-member zset, member moves)", |b| {
        b.iter(|| {
            i = (i + 1) % SPREAD;
            ks.execute(&ctx, &small_zadds[i])
        })
    });
    g.bench_function("ZSCORE (100-member zset)", |b| {
        b.iter(|| {
            i = (i + 1) % SPREAD;
            ks.execute(&ctx, &small_zscores[i])
        })
    });
    g.bench_function("HSET (100-field hash)", |b| {
        b.iter(|| {
            i = (i + 1) % SPREAD;
            ks.execute(&ctx, &small_sets[i])
        })
    });
    g.bench_function("HGET (100-field hash)", |b| {
        b.iter(|| {
            i = (i + 1) % SPREAD;
            ks.execute(&ctx, &small_gets[i])
        })
    });
    g.bench_function("HSET (overwrite a field)", |b| {
        b.iter(|| {
            i = (i + 1) % SPREAD;
            ks.execute(&ctx, &hsets[i])
        })
    });
    g.bench_function("SADD (existing member)", |b| {
        b.iter(|| {
            i = (i + 1) % SPREAD;
            ks.execute(&ctx, &sadds[i])
        })
    });
    let mut round = 0u64;
    g.bench_function("HSET (new field)", |b| {
        b.iter_custom(|iters| fresh(&ks, &ctx, iters, &mut round, b"HSET", true))
    });
    g.bench_function("SADD (new member)", |b| {
        b.iter_custom(|iters| fresh(&ks, &ctx, iters, &mut round, b"SADD", false))
    });
    let mut turn = 0usize;
    g.bench_function("ZADD (1M zset, member moves)", |b| {
        b.iter(|| {
            i = (i + 1) % SPREAD;
            if i == 0 {
                turn ^= 1;
            }
            ks.execute(&ctx, &zadds[turn][i])
        })
    });
    g.bench_function("ZRANK (1M zset)", |b| {
        b.iter(|| {
            i = (i + 1) % SPREAD;
            ks.execute(&ctx, &zranks[i])
        })
    });
    g.finish();
}

/// Times `iters` commands that each add a new field / member (argv built
/// and the collections deleted outside the timing), 100,000 at a time.
fn fresh(
    ks: &Keyspace,
    ctx: &Ctx,
    iters: u64,
    round: &mut u64,
    cmd: &[u8],
    with_value: bool,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(100_000);
        *round += 1;
        let key = format!("fresh:{round}");
        let cmds: Vec<Vec<Bytes>> = (0..n)
            .map(|j| {
                let m = format!("member:{j:08}");
                if with_value {
                    argv(&[cmd, key.as_bytes(), m.as_bytes(), b"value-0123456789"])
                } else {
                    argv(&[cmd, key.as_bytes(), m.as_bytes()])
                }
            })
            .collect();
        let start = Instant::now();
        for c in &cmds {
            ks.execute(ctx, c);
        }
        total += start.elapsed();
        ks.execute(ctx, &argv(&[b"DEL", key.as_bytes()]));
        left -= n;
    }
    total
}

/// DEL of a one-million-field hash: the caller's path only (the memory is
/// freed by the dropper thread).
fn del_big_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let ctx = Ctx::new(NOW, 1, 0);
    let mut samples = Vec::new();
    for round in 0..5 {
        let name = format!("bighash{round}").into_bytes();
        for chunk in 0..BIG / 10_000 {
            let mut a: Vec<Bytes> = vec![Bytes::from_static(b"HSET"), Bytes::from(name.clone())];
            for i in 0..10_000 {
                a.push(Bytes::from(format!("f{chunk}-{i}")));
                a.push(Bytes::from_static(b"value-0123456789"));
            }
            ks.execute(&ctx, &a);
        }
        assert_eq!(
            ks.execute(&ctx, &argv(&[b"HLEN", &name])),
            Reply::Integer(BIG as i64)
        );
        let start = Instant::now();
        let r = ks.execute(&ctx, &argv(&[b"DEL", &name]));
        samples.push(start.elapsed());
        assert_eq!(r, Reply::Integer(1));
    }
    samples.sort();
    println!(
        "DEL of a 1,000,000-field hash, caller path: median {:?} (min {:?}, max {:?}, 5 runs)",
        samples[2], samples[0], samples[4]
    );
}

/// Thread CPU time per command: HSET / SADD of new fields / members, ZADD
/// moving a member and ZRANK in a 1M-member zset, DEL of a 1M-field hash.
fn cpu_per_op() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    let ctx = Ctx::new(NOW, 1, 0);
    let n = 200_000usize;
    let per = |label: &str, cmds: &[Vec<Bytes>]| {
        let start = thread_cpu();
        for c in cmds {
            ks.execute(&ctx, c);
        }
        let spent = thread_cpu() - start;
        println!(
            "{label}: {:?} thread CPU per command",
            spent / cmds.len() as u32
        );
    };
    let hsets: Vec<Vec<Bytes>> = (0..n)
        .map(|i| {
            argv(&[
                b"HSET",
                b"cpu:h",
                format!("field:{i:08}").as_bytes(),
                b"value-0123456789",
            ])
        })
        .collect();
    per("HSET (new field)", &hsets);
    let sadds: Vec<Vec<Bytes>> = (0..n)
        .map(|i| argv(&[b"SADD", b"cpu:s", format!("member:{i:08}").as_bytes()]))
        .collect();
    per("SADD (new member)", &sadds);
    for chunk in 0..BIG / 1000 {
        let mut a = vec![Bytes::from_static(b"ZADD"), Bytes::from_static(b"cpu:z")];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            a.push(Bytes::from((i as u64 * 7 % 1_000_003).to_string()));
            a.push(Bytes::from(format!("m:{i:08}")));
        }
        ks.execute(&ctx, &a);
    }
    let zadds: Vec<Vec<Bytes>> = (0..n)
        .map(|i| {
            let m = i * (BIG / n);
            argv(&[
                b"ZADD",
                b"cpu:z",
                (m as u64 * 13 % 999_983).to_string().as_bytes(),
                format!("m:{m:08}").as_bytes(),
            ])
        })
        .collect();
    per("ZADD (1M zset, member moves)", &zadds);
    let zranks: Vec<Vec<Bytes>> = (0..n)
        .map(|i| {
            argv(&[
                b"ZRANK",
                b"cpu:z",
                format!("m:{:08}", i * (BIG / n)).as_bytes(),
            ])
        })
        .collect();
    per("ZRANK (1M zset)", &zranks);
    let mut a: Vec<Bytes> = vec![Bytes::from_static(b"HSET"), Bytes::from_static(b"cpu:big")];
    for i in 0..BIG {
        a.push(Bytes::from(format!("f{i}")));
        a.push(Bytes::from_static(b"v"));
        if a.len() >= 20_002 {
            ks.execute(&ctx, &a);
            a.truncate(2);
        }
    }
    per("DEL (1M-field hash)", &[argv(&[b"DEL", b"cpu:big"])]);
}

criterion_group!(benches, bench_collections);

fn main() {
    cpu_per_op();
    benches();
    Criterion::default().configure_from_args().final_summary();
    del_big_hash();
}
