//! Measures the storage engine at scale: writes N keys (16-byte keys,
//! 100-byte values, fsync=no), merges to produce hint files, then reopens
//! with hints and without, printing times and keydir memory per key.
//!
//! `cargo run --release --example storage_reopen -- [N] [DIR]` (N default
//! 10,000,000; DIR default a temporary directory).

use std::time::Instant;

use fincaskv::storage::{Engine, FsyncPolicy, Options};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    k[4..].copy_from_slice(format!("{i:012}").as_bytes());
    k
}

fn opts(dir: &std::path::Path) -> Options {
    Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_merge_interval(None)
        .with_cache_bytes(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let tmp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let value = [0x5au8; 100];
    {
        let e = Engine::open(opts(&dir))?;
        let t = Instant::now();
        for i in 0..n {
            e.put(&key(i), &value)?;
        }
        let s = t.elapsed().as_secs_f64();
        println!("put {n} keys: {s:.2} s ({:.0} ops/s)", n as f64 / s);
        // One dead record so that merge has something to do, then hints.
        e.put(&key(0), &value)?;
        let t = Instant::now();
        let r = e.merge()?;
        println!("merge: {:.2} s, {r:?}", t.elapsed().as_secs_f64());
    }
    let before = rss_bytes();
    let t = Instant::now();
    let e = Engine::open(opts(&dir))?;
    let s = t.elapsed().as_secs_f64();
    let after = rss_bytes();
    println!(
        "reopen with hints: {} keys in {s:.2} s; keydir RSS {:.1} bytes/key ({:.1} beyond the 16 key bytes)",
        e.len(),
        (after - before) as f64 / n as f64,
        (after - before) as f64 / n as f64 - 16.0
    );
    drop(e);
    for entry in std::fs::read_dir(&dir)? {
        let p = entry?.path();
        if p.extension().is_some_and(|x| x == "hint") {
            std::fs::remove_file(p)?;
        }
    }
    let t = Instant::now();
    let e = Engine::open(opts(&dir))?;
    println!(
        "reopen without hints: {} keys in {:.2} s",
        e.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
