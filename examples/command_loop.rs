//! Runs one command shape in a loop through `Keyspace::execute` (fsync = no),
//! for profiling with `perf record`: `cargo run --release --example
//! command_loop -- SET 5000000`. Shapes: GET SET INCR LPUSH HSET SADD ZADD, ZMOVE / ZRANK
//! on a 1M-member sorted set, and SPOP / SRANDMEMBER / SSCAN (COUNT 10, following the
//! cursor) on a 1M-member set (SPOP: at most 1M calls), and SCAN (COUNT 10,
//! following the cursor) over 1M keys, and RENAME of a 1M-field hash back and
//! forth between two names.

use std::time::Instant;

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};

#[path = "../benches/support/thread_cpu.rs"]
mod support;
use support::thread_cpu;

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "SET".into()).to_uppercase();
    let n: usize = args.next().map_or(2_000_000, |s| s.parse().expect("count"));
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::new(dir.path())
        .with_fsync(FsyncPolicy::No)
        .with_merge_interval(None);
    let ks = Keyspace::open(Config::new(opts)).expect("open");
    let ctx = Ctx::new(1_800_000_000_000, 1, 0);
    // Distinct keys (or fields, members) the shapes cycle through:
    // `COMMAND_LOOP_KEYS` (default 10,000; more makes the lookups miss
    // the cache).
    let keys_env = std::env::var("COMMAND_LOOP_KEYS").ok();
    let keys: usize = keys_env.map_or(10_000, |s| s.parse().expect("COMMAND_LOOP_KEYS"));
    let b = |s: String| Bytes::from(s);
    // ZADD of member i of the 1M-member zset with score table `mult`.
    let zmove = |i: usize, mult: usize| {
        vec![
            b("ZADD".into()),
            b("bigz".into()),
            b(format!("{}", i * 100 * mult % 999_983)),
            b(format!("m:{:08}", i * 100)),
        ]
    };
    let cmds: Vec<Vec<Bytes>> = (0..keys)
        .map(|i| match shape.as_str() {
            "GET" => vec![b("GET".into()), b(format!("key:{i:08}"))],
            "SET" => vec![b("SET".into()), b(format!("key:{i:08}")), b("v".repeat(16))],
            "INCR" => vec![b("INCR".into()), b("counter".into())],
            "LPUSH" => vec![b("LPUSH".into()), b("list".into()), b("v".repeat(16))],
            "HSET" => vec![
                b("HSET".into()),
                b("hash".into()),
                b(format!("field:{i:08}")),
                b("v".repeat(16)),
            ],
            "SADD" => vec![
                b("SADD".into()),
                b(format!("set:{}", i % 64)),
                b(format!("member:{i:08}")),
            ],
            "ZADD" => vec![
                b("ZADD".into()),
                b("z".into()),
                b(format!("{}", i * 7 % 1000)),
                b(format!("m:{i:08}")),
            ],
            // A member of the 1M-member zset moves (two score tables used
            // in turn, see below) / is ranked.
            "ZMOVE" => zmove(i, 13),
            "SPOP" => vec![b("SPOP".into()), b("bigs".into())],
            "SRANDMEMBER" => vec![b("SRANDMEMBER".into()), b("bigs".into())],
            "SSCAN" => vec![b("SSCAN".into()), b("bigs".into()), b("0".into())],
            "SCAN" => vec![b("SCAN".into()), b("0".into())],
            "ZRANK" => vec![
                b("ZRANK".into()),
                b("bigz".into()),
                b(format!("m:{:08}", i * 100)),
            ],
            "RENAME" if i % 2 == 0 => vec![b("RENAME".into()), b("bigh".into()), b("bigh2".into())],
            "RENAME" => vec![b("RENAME".into()), b("bigh2".into()), b("bigh".into())],
            other => panic!("unknown shape {other}"),
        })
        .collect();
    for i in 0..keys {
        let set = vec![b("SET".into()), b(format!("key:{i:08}")), b("v".repeat(16))];
        ks.execute(&ctx, &set);
    }
    if shape.starts_with('Z') {
        for chunk in 0..1000 {
            let mut a = vec![b("ZADD".into()), b("bigz".into())];
            for i in chunk * 1000..(chunk + 1) * 1000 {
                a.push(b((i as u64 * 7 % 1_000_003).to_string()));
                a.push(b(format!("m:{i:08}")));
            }
            ks.execute(&ctx, &a);
        }
    }
    if shape.starts_with('S') && shape != "SET" && shape != "SADD" {
        for chunk in 0..1000 {
            let mut a = vec![b("SADD".into()), b("bigs".into())];
            for i in chunk * 1000..(chunk + 1) * 1000 {
                a.push(b(format!("member:{i:08}")));
            }
            ks.execute(&ctx, &a);
        }
    }
    if shape == "RENAME" {
        for chunk in 0..1000 {
            let mut a = vec![b("HSET".into()), b("bigh".into())];
            for i in chunk * 1000..(chunk + 1) * 1000 {
                a.push(b(format!("field:{i:08}")));
                a.push(b("v".into()));
            }
            ks.execute(&ctx, &a);
        }
    }
    if shape == "SCAN" {
        for chunk in 0..1000 {
            let mut a = vec![b("MSET".into())];
            for i in chunk * 1000..(chunk + 1) * 1000 {
                a.push(b(format!("k:{i:08}")));
                a.push(b("v".into()));
            }
            ks.execute(&ctx, &a);
        }
    }
    let del = vec![b("DEL".into()), b("list".into())];
    let mut cursor = b("0".into());
    // The other score table for ZMOVE: odd passes use it, so that every
    // ZADD really moves its member.
    let other: Vec<Vec<Bytes>> = if shape == "ZMOVE" {
        (0..keys).map(|i| zmove(i, 17)).collect()
    } else {
        Vec::new()
    };
    let start = Instant::now();
    let cpu_start = thread_cpu();
    for i in 0..n {
        if shape == "ZMOVE" && (i / keys) % 2 == 1 {
            ks.execute(&ctx, &other[i % keys]);
            continue;
        }
        if shape == "SSCAN" || shape == "SCAN" {
            let step = if shape == "SCAN" {
                vec![b("SCAN".into()), cursor.clone()]
            } else {
                vec![b("SSCAN".into()), b("bigs".into()), cursor.clone()]
            };
            if let Reply::Array(parts) = ks.execute(&ctx, &step) {
                if let Some(Reply::Bulk(next)) = parts.first() {
                    cursor = next.clone();
                }
            }
            continue;
        }
        if shape == "SPOP" || shape == "SRANDMEMBER" {
            // A fresh draw per call, as the server gives each command.
            ks.execute(&Ctx::new(1_800_000_000_000, i as u64, 0), &cmds[0]);
            continue;
        }
        ks.execute(&ctx, &cmds[i % keys]);
        if shape == "LPUSH" && i % 100_000 == 99_999 {
            ks.execute(&ctx, &del);
        }
    }
    let el = start.elapsed();
    let cpu = thread_cpu() - cpu_start;
    println!(
        "{shape}: {n} in {el:?}, {:?} per command, {} ns thread CPU per command",
        el / n as u32,
        cpu.as_nanos() / n as u128
    );
}
