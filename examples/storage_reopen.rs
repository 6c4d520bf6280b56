//! Measures the storage engine at scale: writes N keys (16-byte keys,
//! 100-byte values, fsync=no), merges to produce hint files, then reopens
//! with hints and without, printing times and keydir memory per key.
//!
//! `cargo run --release --example storage_reopen -- [N] [DIR]` (N default
//! 10,000,000; DIR default a temporary directory).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use fincaskv::storage::{Engine, FsyncPolicy, Options};

/// Counts live heap bytes as requested (malloc's own per-block overhead,
/// typically 8-16 bytes, comes on top).
struct Counting;

static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed)
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
    let before = live_bytes();
    let t = Instant::now();
    let e = Engine::open(opts(&dir))?;
    let s = t.elapsed().as_secs_f64();
    let per_key = (live_bytes() - before) as f64 / n as f64;
    println!(
        "reopen with hints: {} keys in {s:.2} s; keydir heap {per_key:.1} bytes/key \
         ({:.1} beyond the 16 key bytes, + malloc's per-block overhead for each key)",
        e.len(),
        per_key - 16.0
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
