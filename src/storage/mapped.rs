//! Appends to the active data file through a shared memory map.
//!
//! A `pwrite` per append costs a system call (about 250 ns here, 40 % of a
//! SET through `execute`). Writing into a `MAP_SHARED` mapping of the file
//! is a `memcpy` into the page cache instead: the bytes are in the kernel's
//! hands as soon as the copy ends, so a process crash loses nothing an
//! append returned for, exactly as with `pwrite`, and `fdatasync` on the
//! descriptor writes the dirtied pages back as it does written ones.
//!
//! The file is grown to the segment capacity while it is active (the tail
//! past the written bytes is a hole or preallocated zeros) and cut back to
//! its written length when it is sealed. Disk space is reserved with
//! `fallocate` ahead of the copies: a store into a page the file system
//! cannot back would kill the process with `SIGBUS`, so nothing is ever
//! copied into a range that was not reserved first, and a failed
//! reservation fails the append with the file system's error (`ENOSPC`)
//! before a byte is written. Recovery reads zeros after the last record
//! as that unused room (see `segment::scan_data_file`).
//!
//! Pages are put in the page cache ahead of the copies by `pwrite`s of
//! zeros (64 KiB at a time, past the write position only): a page first
//! touched through the mapping would be read in and zero-filled by a page
//! fault, which costs far more on this kind of machine. Appends of a page
//! or more skip the mapping and are `pwrite`n into the reserved range.
//!
//! Only a window of the file ([`WINDOW`] bytes around the write position)
//! is mapped at a time, and it moves on as appends pass its end. `fsync`
//! must write-protect every mapped dirty page it cleans, and on a machine
//! with more than one CPU each of those is a TLB-flush interrupt to every
//! CPU running the process: with the whole file mapped, the `everysec`
//! fsync after a burst of writes cleaned ~10,000 mapped pages and slowed
//! the reads of the other thread by a third. A page no longer mapped is
//! cleaned without any of that; unmapping a window is one flush.
//!
//! Where the file system cannot reserve space (no `fallocate`), or off
//! Linux, the writer keeps using `pwrite`: [`ActiveMap::new`] answers `None`.

use std::fs::File;

use memmap2::MmapMut;

/// Appends of at least this many bytes go through `pwrite` (into the
/// reserved range, so they cannot fail for space either).
const PWRITE_FROM: usize = 4096;

/// Zeros written ahead of the copies per `pwrite` (see `ActiveMap::prefill`).
const PREFILL_STEP: usize = 64 << 10;

/// Page size assumed for rounding (a larger real page only costs a fault).
const PAGE: u64 = 4096;

/// Bytes of the file mapped at a time (a multiple of the page size).
const WINDOW: u64 = 1 << 20;

/// Bytes reserved per `fallocate` ahead of the write position.
const RESERVE_STEP: u64 = 4 << 20;

/// The writable mapping of a window of the active data file.
pub(crate) struct ActiveMap {
    /// The mapped window: file bytes `window..window + map.len()`.
    map: MmapMut,
    /// File offset of the window (page-aligned).
    window: u64,
    /// The file's length while active: appends end at or before it.
    capacity: u64,
    /// Bytes from the file's start that are reserved on disk.
    reserved: u64,
    /// End of the bytes written through `pwrite` (records or zeros): the
    /// pages before it are in the page cache. Never behind the write
    /// position.
    prefilled: u64,
}

impl std::fmt::Debug for ActiveMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveMap")
            .field("capacity", &self.capacity)
            .field("window", &self.window)
            .field("reserved", &self.reserved)
            .finish()
    }
}

impl ActiveMap {
    /// Grows `file` (whose records end at `written`) to `capacity` bytes
    /// and maps it for appends. `None` (the file untouched, or cut back to
    /// `written`) when space cannot be reserved or the file cannot be
    /// mapped: the caller then writes with `pwrite`.
    pub(crate) fn new(file: &File, written: u64, capacity: u64) -> Option<ActiveMap> {
        if capacity <= written {
            return None;
        }
        let reserved = reserve(file, written, written + 1, capacity).ok()?;
        if file.set_len(capacity).is_err() {
            return None;
        }
        let window = written / PAGE * PAGE;
        match map_window(file, window, capacity) {
            Some(map) => Some(ActiveMap {
                map,
                window,
                capacity,
                reserved,
                prefilled: written,
            }),
            None => {
                let _ = file.set_len(written);
                None
            }
        }
    }

    /// Writes zeros from `prefilled` to past `need` (reserved space only),
    /// so that the next copies land in pages already in the page cache. A
    /// page first touched through the mapping is read in (zero-filled) by
    /// a page fault instead, which costs several times more here (measured:
    /// 14 % of a SET through `execute`, against 3 % for this `pwrite`).
    /// `prefilled` never lags the write position, so this writes only at or
    /// after it, over bytes that hold nothing yet.
    fn prefill(&mut self, file: &File, need: u64) -> std::io::Result<()> {
        // `need` is under a page past `prefilled` (appends that reach here
        // are shorter than PWRITE_FROM), so the range fits this buffer.
        static ZEROS: [u8; PREFILL_STEP + PAGE as usize] = [0; PREFILL_STEP + PAGE as usize];
        let from = self.prefilled;
        let to = (from + PREFILL_STEP as u64)
            .div_ceil(PAGE)
            .saturating_mul(PAGE)
            .min(self.reserved)
            .max(need);
        let len = usize::try_from(to - from).map_err(std::io::Error::other)?;
        let zeros = ZEROS
            .get(..len)
            .ok_or_else(|| std::io::Error::other("prefill range"))?;
        std::os::unix::fs::FileExt::write_all_at(file, zeros, from)?;
        self.prefilled = to;
        Ok(())
    }

    /// True when `len` bytes at `offset` lie inside the file's capacity.
    pub(crate) fn fits(&self, offset: u64, len: u64) -> bool {
        offset
            .checked_add(len)
            .is_some_and(|end| end <= self.capacity)
    }

    /// True when [`ActiveMap::write`] of `len` bytes at `offset` would be a
    /// copy only: inside the mapped window, in reserved space and in pages
    /// already written ahead (no system call, no major fault).
    pub(crate) fn quiet(&self, offset: u64, len: u64) -> bool {
        let end = offset.saturating_add(len);
        len < PWRITE_FROM as u64
            && offset >= self.window
            && end <= self.window + self.map.len() as u64
            && end <= self.reserved
            && end <= self.prefilled
    }

    /// Copies `bytes` to `offset` (inside the mapping: see [`ActiveMap::fits`])
    /// after reserving the disk space they need. On an error nothing was
    /// copied.
    pub(crate) fn write(&mut self, file: &File, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let end = offset + bytes.len() as u64;
        if end > self.reserved {
            self.reserved = reserve(file, self.reserved, end, self.capacity)?;
        }
        if bytes.len() >= PWRITE_FROM {
            // A page or more: the copy dominates, and a page the kernel
            // fills whole needs no zeroing first, unlike a faulted-in one.
            std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)?;
            self.prefilled = self.prefilled.max(end);
            return Ok(());
        }
        if end > self.prefilled {
            self.prefill(file, end)?;
        }
        if end > self.window + self.map.len() as u64 || offset < self.window {
            // Move the window on (the old one is unmapped when replaced).
            let window = offset / PAGE * PAGE;
            self.map = map_window(file, window, self.capacity)
                .ok_or_else(|| std::io::Error::other("could not map the active file"))?;
            self.window = window;
        }
        let start = usize::try_from(offset - self.window).map_err(std::io::Error::other)?;
        self.map[start..start + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

/// Reserves disk blocks from `from` to at least `need`, in steps of
/// [`RESERVE_STEP`] but not past `cap`; returns the new reserved end.
#[cfg(target_os = "linux")]
fn reserve(file: &File, from: u64, need: u64, cap: u64) -> std::io::Result<u64> {
    let end = (need.div_ceil(RESERVE_STEP).max(1) * RESERVE_STEP)
        .min(cap)
        .max(need)
        .max(from);
    if end == from {
        return Ok(end);
    }
    let falloc = |to: u64| {
        rustix::fs::fallocate(file, rustix::fs::FallocateFlags::KEEP_SIZE, from, to - from)
    };
    match falloc(end) {
        Ok(()) => Ok(end),
        Err(rustix::io::Errno::NOSPC) => {
            // Not a whole step left: reserve what this append needs, so
            // that the disk is used up to its last pages.
            let exact = need.div_ceil(PAGE).saturating_mul(PAGE).min(end);
            falloc(exact)?;
            Ok(exact)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn reserve(_file: &File, _from: u64, _need: u64, _cap: u64) -> std::io::Result<u64> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Maps the window of `file` at `window` (page-aligned): [`WINDOW`] bytes,
/// or up to `capacity`.
fn map_window(file: &File, window: u64, capacity: u64) -> Option<MmapMut> {
    let len = usize::try_from(WINDOW.min(capacity.checked_sub(window)?)).ok()?;
    if len == 0 {
        return None;
    }
    let map = map(file, window, len)?;
    // No readahead on a fault: the pages past the written end hold nothing
    // to read, and readahead would allocate and zero large folios of them.
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Random);
    Some(map)
}

/// Maps `len` bytes of `file` from `offset`, shared and writable.
#[expect(unsafe_code, reason = "memory-mapping a file is unsafe in Rust")]
fn map(file: &File, offset: u64, len: usize) -> Option<MmapMut> {
    // SAFETY: the mapping is only sound if nothing else changes the file's
    // length below `len` or writes it while mapped. The store's directory
    // lock keeps every other FincasKV process out; inside the process the
    // writer (under its mutex) is the only one to write this file, and it
    // drops the mapping before cutting the file back (`Inner::seal`).
    // Readers use `pread` on the descriptor, never this memory.
    unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map_mut(file)
    }
    .ok()
}
