//! Segment files: names, the open-file handle shared by readers, and the
//! sequential scanner used by recovery and merge.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{Error, IoContext, Result};
use super::record::{self, DiskKind, Layout, FILE_HEADER_LEN, TYPE_DATA};
use super::{Location, ReplayEntry};

/// Suffix of data files.
pub(crate) const DATA_SUFFIX: &str = "data";
/// Suffix of hint files.
pub(crate) const HINT_SUFFIX: &str = "hint";

/// `dir/0000000042.data`: ids are zero padded so that names also sort numerically,
/// but every listing is sorted by the parsed number, never by name.
pub(crate) fn file_path(dir: &Path, id: u32, suffix: &str) -> PathBuf {
    dir.join(format!("{id:010}.{suffix}"))
}

/// Parses `0000000042.data` into 42.
pub(crate) fn parse_file_name(name: &str, suffix: &str) -> Option<u32> {
    let stem = name.strip_suffix(suffix)?.strip_suffix('.')?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Ids of all files with `suffix` in `dir`, in numeric order.
pub(crate) fn list_ids(dir: &Path, suffix: &str) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let rd = std::fs::read_dir(dir).ctx(|| format!("listing {}", dir.display()))?;
    for entry in rd {
        let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| parse_file_name(n, suffix))
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// fsyncs a directory so that created, renamed and deleted names are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("fsyncing directory {}", dir.display()))
}

/// One data file, shared (`Arc`) by the writer, readers and merge. A reader
/// that holds the `Arc` can still `pread` after merge unlinked the file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub id: u32,
    pub path: PathBuf,
    pub file: File,
    /// Bytes in the file (header included), as far as the writer has written.
    pub size: AtomicU64,
    /// Bytes the owner reported dead.
    pub dead: AtomicU64,
    /// How the file's records are laid out (its header's version).
    pub layout: Layout,
}

impl Segment {
    /// Opens an existing file for reading and appending.
    pub(crate) fn open(dir: &Path, id: u32) -> Result<Segment> {
        let path = file_path(dir, id, DATA_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .ctx(|| format!("opening {}", path.display()))?;
        let size = file
            .metadata()
            .ctx(|| format!("stat {}", path.display()))?
            .len();
        let mut head = [0u8; FILE_HEADER_LEN];
        let got = file
            .read_at(&mut head, 0)
            .ctx(|| format!("reading {}", path.display()))?;
        let layout = record::check_file_header(&head[..got], TYPE_DATA).map_err(|reason| {
            Error::Corruption {
                file: path.clone(),
                offset: 0,
                reason,
            }
        })?;
        Ok(Segment {
            id,
            path,
            file,
            size: AtomicU64::new(size),
            dead: AtomicU64::new(0),
            layout,
        })
    }

    /// Creates a new file with its header (fails if it exists).
    pub(crate) fn create(dir: &Path, id: u32) -> Result<Segment> {
        let path = file_path(dir, id, DATA_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx(|| format!("creating {}", path.display()))?;
        if let Err(e) = file.write_all_at(&record::file_header(TYPE_DATA), 0) {
            // A file without its header would block the next rotation (the
            // id exists) and read as damage: remove it (a full disk).
            let _ = std::fs::remove_file(&path);
            return Err(Error::io(
                format!("writing header of {}", path.display()),
                e,
            ));
        }
        Ok(Segment {
            id,
            path,
            file,
            size: AtomicU64::new(FILE_HEADER_LEN as u64),
            dead: AtomicU64::new(0),
            layout: Layout::CURRENT,
        })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub(crate) fn dead(&self) -> u64 {
        self.dead.load(Ordering::Relaxed).min(self.size())
    }
}

/// How a sequential scan of one data file ended.
#[derive(Debug, Default)]
pub(crate) struct ScanOutcome {
    /// End of the last record that was handed out (outside a batch or as part
    /// of a committed batch). Everything after it is not applied.
    pub valid_len: u64,
    /// The first bad spot: offset and reason. `None` when the file is clean.
    pub bad: Option<(u64, String)>,
    /// Where zeros start that run to the end of the file: the unused room
    /// of a file that was active (see `mapped.rs`), not damage.
    pub room_from: Option<u64>,
}

/// Ends a scan at `pos`, where no valid record starts: zeros up to the end
/// of the file are the unused room of an active file (an open batch before
/// them was torn); anything else is damage at `pos`.
fn stop_at(
    file: &File,
    pos: u64,
    file_len: u64,
    reason: String,
    open_batch: Option<u64>,
    out: &mut ScanOutcome,
) -> std::io::Result<()> {
    if zeros_between(file, pos, file_len)? {
        out.room_from = Some(pos);
        if let Some(start) = open_batch {
            out.bad = Some((start, "batch without commit marker".into()));
        }
    } else {
        out.bad = Some((pos, reason));
    }
    Ok(())
}

/// True when every byte of `file` in `from..to` is zero.
pub(crate) fn zeros_between(file: &File, from: u64, to: u64) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let n = buf
            .len()
            .min(usize::try_from(to - at).unwrap_or(usize::MAX));
        file.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Reads every committed record of a data file in order and hands it to `f`
/// (with its value). Batches are handed out only when their commit marker is
/// intact. Stops at the first bad record and reports it in the outcome, or
/// at zeros running to the end (the room of a file that was active); only
/// I/O errors and errors from `f` are returned as `Err`. Reads at most
/// `limit` bytes of the file.
pub(crate) fn scan_data_file(
    path: &Path,
    file_id: u32,
    limit: u64,
    f: &mut dyn FnMut(ReplayEntry<'_>) -> Result<()>,
) -> Result<ScanOutcome> {
    let file = File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let file_len = file
        .metadata()
        .ctx(|| format!("stat {}", path.display()))?
        .len()
        .min(limit);
    let mut out = ScanOutcome::default();
    let mut rd = BufReader::with_capacity(
        1 << 20,
        file.try_clone()
            .ctx(|| format!("opening {}", path.display()))?,
    );
    let mut head = [0u8; FILE_HEADER_LEN];
    let got = read_full(&mut rd, &mut head).ctx(|| format!("reading {}", path.display()))?;
    let layout = match record::check_file_header(&head[..got], TYPE_DATA) {
        Ok(layout) => layout,
        Err(reason) => {
            out.bad = Some((0, reason));
            return Ok(out);
        }
    };
    let prefix = layout.prefix_len();
    let mut pos = FILE_HEADER_LEN as u64;
    out.valid_len = pos;
    let mut rec: Vec<u8> = Vec::new();
    // An open batch: (id, count, start offset, buffered records with offsets).
    let mut batch: Option<(u64, u32, u64)> = None;
    let mut batch_buf: Vec<u8> = Vec::new();
    let mut batch_offsets: Vec<(u64, usize, usize)> = Vec::new();
    loop {
        rec.clear();
        rec.resize(prefix, 0);
        let got = read_full(&mut (&mut rd).take(file_len - pos), &mut rec)
            .ctx(|| format!("reading {}", path.display()))?;
        let open_batch = batch.map(|b| b.2);
        let mut stop = |reason: &str| {
            stop_at(
                &file,
                pos,
                file_len,
                reason.to_string(),
                open_batch,
                &mut out,
            )
            .ctx(|| format!("reading {}", path.display()))
        };
        if got == 0 {
            if let Some((_, _, start)) = batch {
                out.bad = Some((start, "batch without commit marker".into()));
            }
            return Ok(out);
        }
        if got < prefix {
            stop("truncated record header")?;
            return Ok(out);
        }
        // The prefix tells the header's length (version 2: its varints).
        let header_len = match record::header_len_of(&rec, layout) {
            Ok((_, n)) => n,
            Err(e) => {
                stop(&format!("{e:?}"))?;
                return Ok(out);
            }
        };
        if pos + header_len as u64 > file_len {
            stop("truncated record header")?;
            return Ok(out);
        }
        rec.resize(header_len, 0);
        rd.read_exact(&mut rec[prefix..])
            .ctx(|| format!("reading {}", path.display()))?;
        let header = match record::decode_header(&rec, layout) {
            Ok(h) => h,
            Err(e) => {
                stop(&format!("{e:?}"))?;
                return Ok(out);
            }
        };
        let total = header.record_len();
        if pos + total > file_len {
            stop("record extends past the end of the file")?;
            return Ok(out);
        }
        // The length is bounded by the file length checked above.
        rec.resize(total as usize, 0);
        rd.read_exact(&mut rec[header_len..])
            .ctx(|| format!("reading {}", path.display()))?;
        if !record::crc_ok(&header, &rec) {
            stop("checksum mismatch")?;
            return Ok(out);
        }
        let key_end = header.value_start();
        let end = pos + total;
        match header.kind {
            DiskKind::Put | DiskKind::Delete => {
                if batch.is_some() {
                    batch_offsets.push((pos, batch_buf.len(), rec.len()));
                    batch_buf.extend_from_slice(&rec);
                } else {
                    f(entry_of(&rec, layout, file_id, pos)?)?;
                    out.valid_len = end;
                }
            }
            DiskKind::BatchBegin => {
                if batch.is_some() {
                    out.bad = Some((pos, "batch begins inside another batch".into()));
                    return Ok(out);
                }
                let Some(count) = record::batch_marker_count(&rec[key_end..]) else {
                    out.bad = Some((pos, "malformed batch marker".into()));
                    return Ok(out);
                };
                batch = Some((header.gen, count, pos));
                batch_buf.clear();
                batch_offsets.clear();
            }
            DiskKind::BatchCommit => {
                let count = record::batch_marker_count(&rec[key_end..]);
                match batch {
                    Some((id, n, _))
                        if id == header.gen
                            && Some(n) == count
                            && n as usize == batch_offsets.len() =>
                    {
                        for &(off, at, len) in &batch_offsets {
                            f(entry_of(&batch_buf[at..at + len], layout, file_id, off)?)?;
                        }
                        batch = None;
                        out.valid_len = end;
                    }
                    _ => {
                        out.bad = Some((pos, "batch commit marker does not match".into()));
                        return Ok(out);
                    }
                }
            }
        }
        pos = end;
    }
}

/// Builds the replay entry of a verified record.
fn entry_of(rec: &[u8], layout: Layout, file_id: u32, offset: u64) -> Result<ReplayEntry<'_>> {
    let d = record::decode(rec, layout).map_err(|e| super::Error::Corruption {
        file: PathBuf::new(),
        offset,
        reason: e.to_string(),
    })?;
    let kind = match d.header.kind.record_kind() {
        Some(k) => k,
        None => {
            return Err(super::Error::Corruption {
                file: PathBuf::new(),
                offset,
                reason: "batch marker where a record was expected".into(),
            })
        }
    };
    Ok(ReplayEntry {
        kind,
        tag: d.header.tag,
        gen: d.header.gen,
        expire_at_ms: d.header.expire_at_ms,
        key: d.key,
        value: Some(d.value),
        value_len: d.header.val_len,
        location: Location {
            file_id,
            offset,
            len: rec.len() as u32,
        },
    })
}

/// Reads until `buf` is full or EOF; returns how many bytes were read.
pub(crate) fn read_full(rd: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match rd.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_numerically() {
        let dir = Path::new("/x");
        let p = file_path(dir, 42, DATA_SUFFIX);
        assert_eq!(p, Path::new("/x/0000000042.data"));
        assert_eq!(parse_file_name("0000000042.data", DATA_SUFFIX), Some(42));
        assert_eq!(parse_file_name("0000000042.hint", DATA_SUFFIX), None);
        assert_eq!(parse_file_name(".data", DATA_SUFFIX), None);
        assert_eq!(parse_file_name("x1.data", DATA_SUFFIX), None);
    }

    #[test]
    fn listing_sorts_by_number_not_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["10.data", "9.data", "0000000002.data", "LOCK"] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        assert_eq!(
            list_ids(dir.path(), DATA_SUFFIX).expect("list"),
            vec![2, 9, 10]
        );
    }
}
