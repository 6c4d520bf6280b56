//! `repair(dir)`: salvage every valid record after corruption (the storage
//! counterpart of `redis-check-aof --fix`).

use std::io::Write;
use std::path::Path;

use super::error::{IoContext, Result};
use super::lock::DirLock;
use super::record::{self, DiskKind, Layout, FILE_HEADER_LEN, TYPE_DATA};
use super::segment::{self, DATA_SUFFIX, HINT_SUFFIX};
use super::{merge, Error};

/// What [`repair`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Data files examined.
    pub files_scanned: usize,
    /// Data files rewritten because they held damage.
    pub files_rewritten: usize,
    /// Records (puts and deletes) kept.
    pub records_kept: u64,
    /// Records dropped because they belonged to a batch without an intact
    /// commit marker.
    pub records_dropped: u64,
    /// Damaged bytes skipped.
    pub bytes_skipped: u64,
}

/// Rewrites every damaged data file of the store in `dir` so that it holds
/// exactly its valid records: a bad region is skipped up to the next record
/// whose CRC holds, a batch is kept only with its intact commit marker, a
/// damaged file's hint is deleted. Undamaged files are left alone. The store
/// must not be open (the directory lock is taken: [`Error::Locked`]).
pub fn repair(dir: &Path) -> Result<RepairReport> {
    if !dir.is_dir() {
        return Err(Error::NotAStore {
            dir: dir.to_path_buf(),
            reason: "no such directory".into(),
        });
    }
    let _lock = DirLock::acquire(dir)?;
    merge::recover(dir)?;
    let mut report = RepairReport::default();
    for id in segment::list_ids(dir, DATA_SUFFIX)? {
        report.files_scanned += 1;
        let path = segment::file_path(dir, id, DATA_SUFFIX);
        let data = std::fs::read(&path).ctx(|| format!("reading {}", path.display()))?;
        let (clean, damaged, stats) = salvage(&data);
        report.records_kept += stats.0;
        report.records_dropped += stats.1;
        report.bytes_skipped += stats.2;
        if !damaged {
            continue;
        }
        tracing::warn!(file = %path.display(), skipped = stats.2, "repairing damaged data file");
        let hint = segment::file_path(dir, id, HINT_SUFFIX);
        if hint.exists() {
            std::fs::remove_file(&hint).ctx(|| format!("removing {}", hint.display()))?;
        }
        let tmp = path.with_extension("repair");
        let mut f = std::fs::File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        f.write_all(&clean)
            .and_then(|()| f.sync_all())
            .ctx(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).ctx(|| format!("replacing {}", path.display()))?;
        segment::sync_dir(dir)?;
        report.files_rewritten += 1;
    }
    Ok(report)
}

/// Returns the clean file image, whether anything was wrong, and
/// (records kept, records dropped, bytes skipped).
fn salvage(data: &[u8]) -> (Vec<u8>, bool, (u64, u64, u64)) {
    match record::check_file_header(data, TYPE_DATA) {
        Ok(layout) => salvage_as(data, layout, false),
        // Without a readable header the records tell their layout: keep
        // the reading that saves more of them.
        Err(_) => {
            let v2 = salvage_as(data, Layout::V2, true);
            let v1 = salvage_as(data, Layout::V1, true);
            if v1.2 .0 > v2.2 .0 {
                v1
            } else {
                v2
            }
        }
    }
}

/// [`salvage`] reading the records as `layout`.
fn salvage_as(data: &[u8], layout: Layout, mut damaged: bool) -> (Vec<u8>, bool, (u64, u64, u64)) {
    let mut out = record::file_header_of(TYPE_DATA, layout).to_vec();
    let (mut kept, mut dropped, mut skipped) = (0u64, 0u64, 0u64);
    let mut pos = FILE_HEADER_LEN.min(data.len());
    if damaged {
        skipped += pos as u64;
    }
    // An open batch: its bytes and record count so far.
    let mut batch: Option<(Vec<u8>, u64)> = None;
    while pos < data.len() {
        match record::decode(&data[pos..], layout) {
            Ok(d) => {
                let len = d.header.record_len() as usize;
                let bytes = &data[pos..pos + len];
                match d.header.kind {
                    DiskKind::Put | DiskKind::Delete => match &mut batch {
                        Some((buf, n)) => {
                            buf.extend_from_slice(bytes);
                            *n += 1;
                        }
                        None => {
                            out.extend_from_slice(bytes);
                            kept += 1;
                        }
                    },
                    DiskKind::BatchBegin => {
                        if let Some((_, n)) = batch.take() {
                            dropped += n;
                            damaged = true;
                        }
                        batch = Some((bytes.to_vec(), 0));
                    }
                    DiskKind::BatchCommit => match batch.take() {
                        Some((mut buf, n))
                            if record::batch_marker_count(d.value) == Some(n as u32) =>
                        {
                            buf.extend_from_slice(bytes);
                            out.extend_from_slice(&buf);
                            kept += n;
                        }
                        Some((_, n)) => {
                            dropped += n;
                            damaged = true;
                        }
                        None => damaged = true,
                    },
                }
                pos += len;
            }
            // Zeros to the end: the unused room of a file that was active
            // when the process stopped (see `mapped.rs`), not damage.
            Err(_) if data[pos..].iter().all(|&b| b == 0) => {
                break;
            }
            Err(_) => {
                damaged = true;
                skipped += 1;
                pos += 1;
            }
        }
    }
    if let Some((_, n)) = batch {
        dropped += n;
        damaged = true;
    }
    (out, damaged, (kept, dropped, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salvage_skips_damage_and_keeps_the_rest() {
        let mut data = record::file_header(TYPE_DATA).to_vec();
        record::encode(&mut data, DiskKind::Put, 0, 0, 0, b"a", b"1");
        let bad_at = data.len();
        record::encode(&mut data, DiskKind::Put, 0, 0, 0, b"b", b"2");
        record::encode(&mut data, DiskKind::Put, 0, 0, 0, b"c", b"3");
        // The last byte of the second record (its value).
        data[bad_at + record::encoded_len(1, 1, 0, 0) - 1] ^= 0xFF;
        let (clean, damaged, (kept, dropped, skipped)) = salvage(&data);
        assert!(damaged);
        assert_eq!((kept, dropped), (2, 0));
        assert!(skipped > 0);
        let (_, damaged_again, _) = salvage(&clean);
        assert!(!damaged_again, "the output is clean");
    }

    #[test]
    fn batch_without_commit_is_dropped_whole() {
        let mut data = record::file_header(TYPE_DATA).to_vec();
        record::encode(
            &mut data,
            DiskKind::BatchBegin,
            0,
            1,
            0,
            b"",
            &record::batch_marker_value(2),
        );
        record::encode(&mut data, DiskKind::Put, 0, 0, 0, b"a", b"1");
        record::encode(&mut data, DiskKind::Put, 0, 0, 0, b"b", b"2");
        let (clean, damaged, (kept, dropped, _)) = salvage(&data);
        assert!(damaged);
        assert_eq!((kept, dropped), (0, 2));
        assert_eq!(clean.len(), FILE_HEADER_LEN);
    }
}
