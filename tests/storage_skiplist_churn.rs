//! crossbeam-skiplist 0.1.3 leaks the nodes its `range` iteration visits.
//! `storage::index` never uses `range`/`iter`; this test counts live heap
//! bytes (a counting global allocator) across rounds of insert / remove /
//! scan / ordered walks and proves that memory stays bounded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ops::Bound;
use std::sync::atomic::{AtomicIsize, Ordering};

use fincaskv::storage::index::Index;
use fincaskv::storage::IndexKind;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn round(ix: &mut Index<u64>, r: u64) {
    for i in 0..2000u64 {
        ix.insert(format!("key-{r}-{i}").as_bytes(), i);
    }
    // Every kind of walk the index offers, several times.
    for _ in 0..3 {
        let mut cursor = 0;
        loop {
            cursor = ix.scan(cursor, 50, &mut |_, _| {});
            if cursor == 0 {
                break;
            }
        }
        ix.range(Bound::Unbounded, Bound::Unbounded, &mut |_, _| true)
            .expect("ordered");
        ix.prefix(format!("key-{r}-1").as_bytes(), &mut |_, _| true)
            .expect("ordered");
        let mut n = 0;
        ix.for_each(&mut |_, _| n += 1);
        assert_eq!(n, 2000);
    }
    for i in 0..2000u64 {
        assert_eq!(ix.remove(format!("key-{r}-{i}").as_bytes()), Some(i));
    }
    assert!(ix.is_empty());
}

#[test]
fn skiplist_memory_is_bounded_under_churn() {
    let mut ix: Index<u64> = Index::new(IndexKind::SkipList);
    // Warm up: reach the steady state of slabs, free lists and epoch garbage.
    for r in 0..5 {
        round(&mut ix, r);
    }
    let baseline = LIVE.load(Ordering::Relaxed);
    let mut peak_after = baseline;
    for r in 5..60 {
        round(&mut ix, r);
        peak_after = peak_after.max(LIVE.load(Ordering::Relaxed));
    }
    // 55 rounds of 2000 keys would leak megabytes (each node is > 50 bytes:
    // 110k nodes > 5 MB) if the walks kept nodes alive.
    let growth = peak_after - baseline;
    assert!(
        growth < 1_000_000,
        "live heap grew by {growth} bytes over 55 churn rounds (baseline {baseline})"
    );
}
