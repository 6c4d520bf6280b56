//! Hint files: one per merged data file, listing every record of it without
//! the values, so that open can rebuild the index without reading the data.
//!
//! ```text
//! file header (8 bytes): 'F' 'K' 'V' 'H' | version u32 = the record layout
//!   of its data file (2; 1 for a data file of version 1): the entries are
//!   the same in both
//!
//! entry (38-byte fixed part + key), little endian
//! 0       4      5     6            14             22         30         34        38
//! +-------+------+-----+------------+--------------+----------+----------+---------+-----+
//! | crc32 | kind | tag | generation | expire_at_ms | offset   | rec_len  | key_len | key |
//! | u32   | u8   | u8  | u64        | u64          | u64      | u32      | u32     |     |
//! +-------+------+-----+------------+--------------+----------+----------+---------+-----+
//!  crc32 covers bytes 4..end of the entry; kind 1 put, 2 delete.
//!
//! footer (21 bytes), last in the file
//! +-------+------+-------------+-----------------+
//! | crc32 | 0xFF | entry count | data file len   |
//! | u32   | u8   | u64         | u64             |
//! +-------+------+-------------+-----------------+
//! ```
//!
//! A hint is used only when every CRC holds, the footer is last, its count
//! matches, and the data file still has exactly the recorded length; otherwise
//! open falls back to scanning the data file.

use std::io::Write;
use std::path::Path;

use super::error::{IoContext, Result};
use super::record::{self, DiskKind, Layout, FILE_HEADER_LEN, TYPE_HINT};
use super::{Location, RecordKind, ReplayEntry};

const ENTRY_FIXED: usize = 38;
const FOOTER_LEN: usize = 21;
const FOOTER_KIND: u8 = 0xFF;

/// Builds a hint file in memory.
pub(crate) struct HintWriter {
    buf: Vec<u8>,
    count: u64,
}

impl HintWriter {
    pub(crate) fn new() -> HintWriter {
        HintWriter {
            buf: record::file_header(TYPE_HINT).to_vec(),
            count: 0,
        }
    }

    pub(crate) fn add(&mut self, e: &ReplayEntry<'_>) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; 4]);
        self.buf.push(DiskKind::from_kind(e.kind) as u8);
        self.buf.push(e.tag);
        self.buf.extend_from_slice(&e.gen.to_le_bytes());
        self.buf.extend_from_slice(&e.expire_at_ms.to_le_bytes());
        self.buf.extend_from_slice(&e.location.offset.to_le_bytes());
        self.buf.extend_from_slice(&e.location.len.to_le_bytes());
        self.buf
            .extend_from_slice(&(e.key.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(e.key);
        let crc = crc32fast::hash(&self.buf[start + 4..]);
        self.buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
        self.count += 1;
    }

    /// Writes the file (with footer) and fsyncs it.
    pub(crate) fn finish(mut self, path: &Path, data_len: u64) -> Result<()> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; 4]);
        self.buf.push(FOOTER_KIND);
        self.buf.extend_from_slice(&self.count.to_le_bytes());
        self.buf.extend_from_slice(&data_len.to_le_bytes());
        let crc = crc32fast::hash(&self.buf[start + 4..]);
        self.buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
        let mut f = std::fs::File::create(path).ctx(|| format!("creating {}", path.display()))?;
        f.write_all(&self.buf)
            .and_then(|()| f.sync_all())
            .ctx(|| format!("writing {}", path.display()))
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Validates a whole hint file; returns the entry region and the data
/// file's record layout when valid.
fn validate(buf: &[u8], data_len: u64) -> Option<(std::ops::Range<usize>, Layout)> {
    let layout = record::check_file_header(buf, TYPE_HINT).ok()?;
    if buf.len() < FILE_HEADER_LEN + FOOTER_LEN {
        return None;
    }
    let foot = buf.len() - FOOTER_LEN;
    let f = &buf[foot..];
    if f[4] != FOOTER_KIND || crc32fast::hash(&f[4..]) != u32_at(f, 0) {
        return None;
    }
    let (count, len) = (u64_at(f, 5), u64_at(f, 13));
    if len != data_len {
        return None;
    }
    let mut pos = FILE_HEADER_LEN;
    let mut n = 0u64;
    while pos < foot {
        if foot - pos < ENTRY_FIXED {
            return None;
        }
        let key_len = u32_at(buf, pos + 34) as usize;
        let end = pos.checked_add(ENTRY_FIXED)?.checked_add(key_len)?;
        if end > foot || crc32fast::hash(&buf[pos + 4..end]) != u32_at(buf, pos) {
            return None;
        }
        let kind = buf[pos + 4];
        if kind != DiskKind::Put as u8 && kind != DiskKind::Delete as u8 {
            return None;
        }
        let offset = u64_at(buf, pos + 22);
        let rec_len = u32_at(buf, pos + 30);
        if offset.checked_add(u64::from(rec_len))? > data_len {
            return None;
        }
        // The record length must leave room for a value.
        record::value_len(
            layout,
            rec_len,
            key_len,
            u64_at(buf, pos + 6),
            u64_at(buf, pos + 14),
        )?;
        pos = end;
        n += 1;
    }
    (n == count).then_some((FILE_HEADER_LEN..foot, layout))
}

/// Replays a hint file if it is valid for a data file of `data_len` bytes.
/// Returns `Ok(false)` (having called `f` never) when the hint is unusable.
pub(crate) fn replay(
    path: &Path,
    file_id: u32,
    data_len: u64,
    f: &mut dyn FnMut(ReplayEntry<'_>) -> Result<()>,
) -> Result<bool> {
    let buf = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(super::Error::io(format!("reading {}", path.display()), e)),
    };
    let replayed = replay_bytes(&buf, file_id, data_len, f)?;
    if !replayed {
        tracing::warn!(file = %path.display(), "hint file is invalid, scanning the data file instead");
    }
    Ok(replayed)
}

/// [`replay`] on the bytes of a hint file.
pub(crate) fn replay_bytes(
    buf: &[u8],
    file_id: u32,
    data_len: u64,
    f: &mut dyn FnMut(ReplayEntry<'_>) -> Result<()>,
) -> Result<bool> {
    let Some((range, layout)) = validate(buf, data_len) else {
        return Ok(false);
    };
    let mut pos = range.start;
    while pos < range.end {
        let key_len = u32_at(buf, pos + 34) as usize;
        let kind = if buf[pos + 4] == DiskKind::Put as u8 {
            RecordKind::Put
        } else {
            RecordKind::Delete
        };
        let (gen, expire_at_ms) = (u64_at(buf, pos + 6), u64_at(buf, pos + 14));
        let len = u32_at(buf, pos + 30);
        f(ReplayEntry {
            kind,
            tag: buf[pos + 5],
            gen,
            expire_at_ms,
            key: &buf[pos + ENTRY_FIXED..pos + ENTRY_FIXED + key_len],
            value: None,
            // `validate` checked that one fits.
            value_len: record::value_len(layout, len, key_len, gen, expire_at_ms).unwrap_or(0),
            location: Location {
                file_id,
                offset: u64_at(buf, pos + 22),
                len,
            },
        })?;
        pos += ENTRY_FIXED + key_len;
    }
    Ok(true)
}

/// Fuzzing aid: gives `buf` a valid file header, valid entry CRCs where
/// the entry framing fits and a valid footer CRC, so that a fuzzer reaches
/// the structural checks behind them. Returns the data length the footer
/// names.
pub(crate) fn fix_checksums_for_fuzzing(buf: &mut [u8]) -> u64 {
    if buf.len() < FILE_HEADER_LEN + FOOTER_LEN {
        return 0;
    }
    buf[..FILE_HEADER_LEN].copy_from_slice(&record::file_header(TYPE_HINT));
    let foot = buf.len() - FOOTER_LEN;
    let mut pos = FILE_HEADER_LEN;
    while foot - pos >= ENTRY_FIXED {
        let key_len = u32_at(buf, pos + 34) as usize;
        let Some(end) = (pos + ENTRY_FIXED)
            .checked_add(key_len)
            .filter(|&e| e <= foot)
        else {
            break;
        };
        let crc = crc32fast::hash(&buf[pos + 4..end]);
        buf[pos..pos + 4].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
    buf[foot + 4] = FOOTER_KIND;
    let crc = crc32fast::hash(&buf[foot + 4..]);
    buf[foot..foot + 4].copy_from_slice(&crc.to_le_bytes());
    u64_at(buf, foot + 13)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &[u8], offset: u64) -> ReplayEntry<'_> {
        ReplayEntry {
            kind: RecordKind::Put,
            tag: 3,
            gen: 9,
            expire_at_ms: 77,
            key,
            value: None,
            value_len: 0,
            location: Location {
                file_id: 5,
                offset,
                len: 40,
            },
        }
    }

    type Row = (Vec<u8>, Location, u8, u64, u64);

    fn collect(path: &Path, data_len: u64) -> Option<Vec<Row>> {
        let mut v = Vec::new();
        let ok = replay(path, 5, data_len, &mut |e| {
            v.push((e.key.to_vec(), e.location, e.tag, e.gen, e.expire_at_ms));
            Ok(())
        })
        .expect("io");
        ok.then_some(v)
    }

    #[test]
    fn round_trip_and_length_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("1.hint");
        let mut w = HintWriter::new();
        w.add(&entry(b"a", 8));
        w.add(&entry(b"bb", 48));
        w.finish(&path, 88).expect("write");
        let got = collect(&path, 88).expect("valid");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0, b"bb");
        assert_eq!(got[1].1.offset, 48);
        assert_eq!((got[0].2, got[0].3, got[0].4), (3, 9, 77));
        assert!(collect(&path, 89).is_none(), "data length mismatch");
    }

    #[test]
    fn any_damage_invalidates_the_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("1.hint");
        let mut w = HintWriter::new();
        w.add(&entry(b"key", 8));
        w.finish(&path, 100).expect("write");
        let good = std::fs::read(&path).expect("read");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&path, &bad).expect("write");
            assert!(collect(&path, 100).is_none(), "flip at {i} unnoticed");
        }
        std::fs::write(&path, &good).expect("write");
        assert!(collect(&path, 100).is_some());
        std::fs::write(&path, &good[..good.len() - 1]).expect("write");
        assert!(collect(&path, 100).is_none());
    }
}
