//! Single-threaded throughput of the storage engine in ops per wall second
//! and per CPU second (the machine this was written on is shared, so CPU
//! time is the fairer figure): put with fsync=no, batch put, get from the
//! value cache, get from page-cached files. 16-byte keys, 100-byte values.
//!
//! `cargo run --release --example storage_throughput -- [N]` (N keys, default
//! 1,000,000; gets repeat over them to at least 2,000,000 reads).

use std::time::Instant;

use fincaskv::storage::{Engine, FsyncPolicy, Options, WriteBatch};

/// CPU seconds (user + system) of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    let mut n = i;
    for b in k[4..].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

fn measure(
    name: &str,
    ops: u64,
    f: impl FnOnce() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (t, cpu) = (Instant::now(), cpu_seconds());
    f()?;
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "{name:<28} {:>10.0} ops/s wall  {:>10.0} ops/CPU-s  ({ops} ops, {wall:.2} s wall, {cpu:.2} s CPU)",
        ops as f64 / wall,
        ops as f64 / cpu.max(0.01)
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let value = [0x5au8; 100];
    // Gets repeat over the keys so that small key sets still run long
    // enough for CPU time (10 ms ticks) to be precise.
    let rounds = (2_000_000 / n).max(1);
    let dir = tempfile::tempdir()?;
    let opts = Options::new(dir.path())
        .with_fsync(FsyncPolicy::No)
        .with_merge_interval(None)
        .with_cache_bytes(512 << 20);
    {
        let e = Engine::open(opts.clone())?;
        measure("put (fsync=no)", n, || {
            for i in 0..n {
                e.put(&key(i), &value)?;
            }
            Ok(())
        })?;
        measure("batch put (100 per batch)", n, || {
            let mut i = n;
            while i < 2 * n {
                let mut b = WriteBatch::new();
                for _ in 0..100 {
                    b.put(&key(i), &value);
                    i += 1;
                }
                e.write(&b)?;
            }
            Ok(())
        })?;
        // Warm the value cache, then read it back in a scattered order.
        for i in 0..n {
            e.get(&key(i))?;
        }
        // The floor under any get: the keydir lookup alone (no value).
        measure("keydir lookup (contains)", n * rounds, || {
            let mut i = 0;
            for _ in 0..n * rounds {
                i = (i + 7919) % n;
                std::hint::black_box(e.contains(&key(i)));
            }
            Ok(())
        })?;
        measure("get (value cache hit)", n * rounds, || {
            let mut i = 0;
            for _ in 0..n * rounds {
                i = (i + 7919) % n;
                e.get(&key(i))?;
            }
            Ok(())
        })?;
    }
    let e = Engine::open(opts.with_cache_bytes(0))?;
    measure("get (page cache, no value cache)", n * rounds, || {
        let mut i = 0;
        for _ in 0..n * rounds {
            i = (i + 7919) % n;
            e.get(&key(i))?;
        }
        Ok(())
    })?;
    Ok(())
}
