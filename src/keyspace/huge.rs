//! Transparent huge pages for the big tables of big collections.
//!
//! A member lookup in a set of a million members, or a descent of a big
//! sorted set's tree, lands on a random line of a table of tens of MB. With
//! 4 KiB pages each of those misses the TLB as well as the cache, and in a
//! virtual machine a TLB miss walks two levels of page tables. Backing the
//! table with 2 MiB pages removes most of those walks: ZADD moving a member
//! of a 1M-member zset took ~20 % less with huge pages on this kind of
//! machine (`examples/command_loop ZMOVE`, see docs/status.md, session 27).
//!
//! Linux's default THP mode is `madvise`: only ranges marked with
//! `MADV_HUGEPAGE` get huge pages. [`advise`] marks the 2 MiB-aligned part
//! of a buffer of at least [`MIN_BYTES`], once per allocation (callers call
//! it when the buffer's capacity changed, before filling the new part, so
//! that the pages are huge when first touched). Smaller buffers are left
//! alone: a huge page for a small table would waste memory. A forked child
//! (the snapshot export, `replicated.rs`) shares the pages; since Linux 5.8
//! a write by the parent to a shared huge page copies one 4 KiB page, not
//! 2 MiB. The advice is a hint: where the kernel refuses it (THP disabled,
//! another OS) nothing changes.

/// Buffers smaller than this keep the default page size.
pub(crate) const MIN_BYTES: usize = 4 << 20;

/// Size of a huge page on x86-64 and aarch64 with 4 KiB base pages.
const HUGE: usize = 2 << 20;

/// Marks the huge-page-aligned part of `buf`'s allocation (its whole
/// capacity, filled or not) for transparent huge pages, if it spans at
/// least [`MIN_BYTES`].
pub(crate) fn advise<T>(buf: &Vec<T>) {
    let bytes = buf.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes < MIN_BYTES {
        return;
    }
    let start = buf.as_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + bytes) / HUGE * HUGE;
    if end > first {
        mark(first, end - first);
    }
}

#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "madvise(2) has no safe wrapper")]
fn mark(addr: usize, len: usize) {
    // SAFETY: `addr..addr + len` lies inside one live heap allocation of
    // ours (a `Vec`'s buffer, page-aligned by the caller). MADV_HUGEPAGE
    // only changes which page size backs the range; it never changes its
    // contents or its mapping, so no Rust reference is invalidated. An
    // error (EINVAL where THP is not built in) is ignored: it is a hint.
    let _ = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn mark(_addr: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// On Linux with THP in `madvise` or `always` mode, a big advised
    /// buffer is backed by huge pages once touched (read from
    /// /proc/self/smaps). Elsewhere it only must not fail.
    #[test]
    fn a_big_buffer_is_advised_and_a_small_one_is_not_touched() {
        let small: Vec<u64> = Vec::with_capacity(1000);
        advise(&small);
        let mut big: Vec<u64> = Vec::with_capacity(16 << 20 >> 3);
        advise(&big);
        big.resize(big.capacity(), 7);
        assert!(big.iter().all(|&x| x == 7));
        #[cfg(target_os = "linux")]
        {
            let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
                .unwrap_or_default();
            if mode.contains("[madvise]") || mode.contains("[always]") {
                let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
                // Inside the advised part (the buffer's first bytes may lie
                // before its first 2 MiB boundary, in another mapping).
                let at = (big.as_ptr() as usize).next_multiple_of(HUGE);
                let huge_kb = vma_field(&smaps, at, "AnonHugePages:");
                assert!(huge_kb.is_some(), "the big buffer's mapping is in smaps");
                // Defragmentation may fail on a fragmented host; the flag
                // itself must be set.
                let flags = vma_line(&smaps, at, "VmFlags:").unwrap_or_default();
                assert!(flags.contains(" hg"), "VmFlags without hg: {flags}");
            }
        }
    }

    /// The `field` line of the smaps entry whose range contains `addr`.
    #[cfg(target_os = "linux")]
    fn vma_line(smaps: &str, addr: usize, field: &str) -> Option<String> {
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = a <= addr && addr < b;
                        continue;
                    }
                }
            }
            if inside && line.starts_with(field) {
                return Some(line.to_owned());
            }
        }
        None
    }

    #[cfg(target_os = "linux")]
    fn vma_field(smaps: &str, addr: usize, field: &str) -> Option<u64> {
        vma_line(smaps, addr, field)?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}
