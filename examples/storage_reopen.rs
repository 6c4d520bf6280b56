//! Measures the storage engine at scale: writes N keys (16-byte keys,
//! 100-byte values, fsync=no), merges to produce hint files, then reopens
//! with hints and without, printing times and keydir memory per key.
//!
//! `cargo run --release --example storage_reopen -- [N] [DIR] [reopen]` (N
//! default 10,000,000; DIR default a temporary directory; `reopen` skips the
//! write and merge phase and reuses DIR).

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

/// CPU seconds (user + system) of this process, from /proc/self/stat: on a
/// shared machine wall time overstates the engine's own cost.
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
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
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
    let reopen_only = args.next().is_some_and(|a| a == "reopen");
    if !reopen_only {
        let e = Engine::open(opts(&dir))?;
        let (t, cpu) = (Instant::now(), cpu_seconds());
        for i in 0..n {
            e.put(&key(i), &value)?;
        }
        let (s, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        println!(
            "put {n} keys: {s:.2} s wall ({:.0} ops/s), {cpu:.2} s CPU ({:.0} ops/CPU-s)",
            n as f64 / s,
            n as f64 / cpu
        );
        // One dead record so that merge has something to do, then hints.
        e.put(&key(0), &value)?;
        let t = Instant::now();
        let r = e.merge()?;
        println!("merge: {:.2} s, {r:?}", t.elapsed().as_secs_f64());
    }
    if !reopen_only {
        // Hide the hints, reopen by scanning the data files, restore the hints.
        let hints: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "hint"))
            .collect();
        for p in &hints {
            std::fs::rename(p, p.with_extension("hint-off"))?;
        }
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let e = Engine::open(opts(&dir))?;
        println!(
            "reopen without hints: {} keys in {:.2} s wall, {:.2} s CPU",
            e.len(),
            t.elapsed().as_secs_f64(),
            cpu_seconds() - cpu
        );
        drop(e);
        for p in &hints {
            std::fs::rename(p.with_extension("hint-off"), p)?;
        }
    }
    let before = live_bytes();
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let e = Engine::open(opts(&dir))?;
    let (s, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let per_key = (live_bytes() - before) as f64 / n as f64;
    println!(
        "reopen with hints: {} keys in {s:.2} s wall, {cpu:.2} s CPU; keydir heap \
         {per_key:.1} bytes/key ({:.1} beyond the 16 key bytes; keys <= 22 bytes are inline)",
        e.len(),
        per_key - 16.0
    );
    drop(e);
    Ok(())
}
