//! `fincaskv::alloc::CountingAlloc` as the global allocator: the count
//! follows allocations, growth and frees, from several threads.

use fincaskv::alloc::{heap_in_use, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const MB: u64 = 1 << 20;

#[test]
fn the_count_follows_allocations_growth_and_frees_on_any_thread() {
    let start = heap_in_use().expect("the counting allocator is the global one");
    let mut v: Vec<u8> = Vec::with_capacity(8 << 20);
    v.push(1);
    let with_8 = heap_in_use().unwrap();
    assert!(with_8 >= start + 8 * MB, "{start} -> {with_8}");
    assert!(with_8 < start + 9 * MB, "{start} -> {with_8}");
    v.reserve_exact(16 << 20);
    let grown = heap_in_use().unwrap();
    assert!(grown >= start + 16 * MB, "{start} -> {grown}");
    drop(v);
    let freed = heap_in_use().unwrap();
    assert!(freed < start + MB, "{start} -> {freed}");
    // Small allocations count their malloc chunk (at least 32 bytes).
    let boxes: Vec<Box<u32>> = (0..100_000u32).map(Box::new).collect();
    let small = heap_in_use().unwrap();
    assert!(small >= freed + 100_000 * 32, "{freed} -> {small}");
    drop(boxes);
    assert!(heap_in_use().unwrap() < small - 100_000 * 32);

    // Memory freed on another thread leaves the count too (one test: the
    // count is the process's, so tests running at once would blur it).
    let blocks: Vec<Vec<u8>> = (0..4).map(|_| vec![7u8; 4 << 20]).collect();
    let held = heap_in_use().unwrap();
    std::thread::spawn(move || drop(blocks))
        .join()
        .expect("thread");
    let after = heap_in_use().unwrap();
    assert!(after + 15 * MB < held, "{held} -> {after}");
}
