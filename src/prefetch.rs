//! Cache prefetch hints: start loading a value's cache lines now, so that a
//! later access finds them cached while the work in between overlaps the
//! memory latency. A hint has no effect on what the program computes.

/// Asks the CPU to bring every cache line of `value` into the cache and
/// returns at once.
pub(crate) fn lines<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = std::ptr::from_ref(value).cast::<i8>();
        let size = std::mem::size_of::<T>();
        // Every line the value touches, its last one included when it
        // straddles a line boundary.
        let first = start as usize & !63;
        let end = start as usize + size.max(1);
        for line in (first..end).step_by(64) {
            line_at(start.wrapping_add(line.wrapping_sub(start as usize)));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(target_arch = "x86_64")]
#[expect(unsafe_code, reason = "the prefetch intrinsic takes a raw pointer")]
fn line_at(p: *const i8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch never faults and never reads into the program: it
    // is only a hint to the cache, valid for any address (here one inside or
    // at the line start of a live value).
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
}
