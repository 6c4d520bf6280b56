//! Merge: rewrite the live records of sealed files into new files with hints.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::error::{Error, IoContext, Result};
use super::hint::HintWriter;
use super::log::Inner;
use super::record::{self, DiskKind, FILE_HEADER_LEN, TYPE_DATA};
use super::segment::{self, Segment, DATA_SUFFIX, HINT_SUFFIX};
use super::{now_ms, Location, RecordKind, ReplayEntry};
use crate::progress::ProgressLog;

/// Name of the side directory merge writes into.
pub(crate) const MERGE_DIR: &str = "merge";
/// Written last into the side directory: the merge is complete.
pub(crate) const FINISHED_MARKER: &str = "MERGE_FINISHED";

/// The owner's answers to merge: which records are live, and where they moved.
pub trait MergeOracle: Sync {
    /// Is this record, found in a file being merged, still live? Deletes are
    /// asked too: every older file is part of the same merge, so answering
    /// `false` for a tombstone is safe. Expired records are dropped without asking.
    fn is_live(&self, entry: &ReplayEntry<'_>) -> bool;
    /// A live record was copied from `old` to `new`: point the index at `new`
    /// if it still points at `old` (compare-and-swap; a concurrent writer wins).
    fn relocated(&self, entry: &ReplayEntry<'_>, old: Location, new: Location);

    /// [`MergeOracle::is_live`] of each of `entries`, into `live` (cleared
    /// first, then one answer per entry, in order). Merge asks in runs of
    /// [`BATCH`] records: an owner that locks its state for an answer
    /// should lock it once for the run, not once per record, so that a
    /// merge does not contend with the owner's writers at every record.
    fn are_live(&self, entries: &[ReplayEntry<'_>], live: &mut Vec<bool>) {
        live.clear();
        live.extend(entries.iter().map(|e| self.is_live(e)));
    }

    /// [`MergeOracle::relocated`] of each (entry, old, new), in order; one
    /// lock for the run, as [`MergeOracle::are_live`].
    fn relocated_all(&self, moves: &[(ReplayEntry<'_>, Location, Location)]) {
        for (e, old, new) in moves {
            self.relocated(e, *old, *new);
        }
    }
}

/// Records per [`MergeOracle::are_live`] / [`MergeOracle::relocated_all`]
/// call.
pub(crate) const BATCH: usize = 512;

/// Bytes of keys and values past which a run is asked about before it
/// reaches [`BATCH`] records; a record this big is asked about alone.
const RUN_BYTES: usize = 4 << 20;

/// What a merge did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Data files merged away.
    pub files_merged: usize,
    /// Data files written.
    pub files_written: usize,
    /// Records copied.
    pub records_kept: u64,
    /// Records dropped (dead, deleted, expired).
    pub records_dropped: u64,
    /// Bytes on disk before (merged files only).
    pub bytes_before: u64,
    /// Bytes written.
    pub bytes_after: u64,
}

/// The finished marker's text: a version line and the highest old file id.
fn marker_text(old_max: u32) -> String {
    format!("fincaskv-merge 1\nold_max={old_max}\n")
}

fn parse_marker(text: &str) -> Option<u32> {
    let mut lines = text.lines();
    if lines.next()? != "fincaskv-merge 1" {
        return None;
    }
    lines.next()?.strip_prefix("old_max=")?.parse().ok()
}

/// Completes or discards a half-done merge found at open.
///
/// With an intact finished marker the merge is complete: move its files in
/// and delete the old ones (idempotent, so a crash during this step is
/// repaired by the next open). Without one, the side directory is discarded
/// and the old files, untouched, are the truth.
pub(crate) fn recover(dir: &Path) -> Result<()> {
    let side = dir.join(MERGE_DIR);
    if !side.exists() {
        return Ok(());
    }
    let marker = side.join(FINISHED_MARKER);
    let old_max = match std::fs::read_to_string(&marker) {
        Ok(text) => parse_marker(&text),
        Err(_) => None,
    };
    match old_max {
        Some(old_max) => {
            tracing::info!(dir = %dir.display(), "completing an interrupted merge");
            install(dir, old_max)
        }
        None => {
            tracing::warn!(dir = %dir.display(), "discarding an unfinished merge");
            std::fs::remove_dir_all(&side).ctx(|| format!("removing {}", side.display()))?;
            segment::sync_dir(dir)
        }
    }
}

/// Moves the merge output into `dir`, deletes the merged files (`id <= old_max`)
/// and finally the side directory (marker last).
fn install(dir: &Path, old_max: u32) -> Result<()> {
    let side = dir.join(MERGE_DIR);
    for suffix in [DATA_SUFFIX, HINT_SUFFIX] {
        for id in segment::list_ids(&side, suffix)? {
            let from = segment::file_path(&side, id, suffix);
            let to = segment::file_path(dir, id, suffix);
            std::fs::rename(&from, &to).ctx(|| format!("moving {}", from.display()))?;
        }
    }
    segment::sync_dir(dir)?;
    for suffix in [DATA_SUFFIX, HINT_SUFFIX] {
        for id in segment::list_ids(dir, suffix)? {
            if id <= old_max {
                let p = segment::file_path(dir, id, suffix);
                std::fs::remove_file(&p).ctx(|| format!("removing {}", p.display()))?;
            }
        }
    }
    segment::sync_dir(dir)?;
    std::fs::remove_dir_all(&side).ctx(|| format!("removing {}", side.display()))?;
    segment::sync_dir(dir)
}

/// Records copied out of the scan's buffer and handed back as
/// [`ReplayEntry`]s, their bytes packed in one arena (no allocation per
/// record); `X` rides along with each. Two uses: the run of scanned
/// records waiting for [`MergeOracle::are_live`] (keys and values), and
/// every record the merge copied, with its new location, kept until the
/// new files are installed (keys only).
struct Copies<X> {
    bytes: Vec<u8>,
    items: Vec<(Copied, X)>,
}

impl<X> Default for Copies<X> {
    fn default() -> Self {
        Copies {
            bytes: Vec::new(),
            items: Vec::new(),
        }
    }
}

/// One record of [`Copies`]: about 56 bytes beside its key (and value).
struct Copied {
    /// The key is `bytes[start..start + key_len]`, the value (if copied)
    /// follows it.
    start: usize,
    gen: u64,
    expire_at_ms: u64,
    location: Location,
    key_len: u32,
    value_len: u32,
    kind: RecordKind,
    tag: u8,
    /// The value was copied (it follows the key).
    with_value: bool,
}

impl<X> Copies<X> {
    /// Copies `e` (its value too when `with_value`; a value copied is
    /// shorter than [`RUN_BYTES`]).
    fn push(&mut self, e: &ReplayEntry<'_>, with_value: bool, extra: X) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(e.key);
        let value = e.value.filter(|_| with_value);
        if let Some(v) = value {
            self.bytes.extend_from_slice(v);
        }
        self.items.push((
            Copied {
                start,
                gen: e.gen,
                expire_at_ms: e.expire_at_ms,
                location: e.location,
                key_len: e.key.len() as u32,
                value_len: e.value_len,
                kind: e.kind,
                tag: e.tag,
                with_value: value.is_some(),
            },
            extra,
        ));
    }

    /// The record `c` as it was pushed.
    fn entry(&self, c: &Copied) -> ReplayEntry<'_> {
        let key_end = c.start + c.key_len as usize;
        ReplayEntry {
            kind: c.kind,
            tag: c.tag,
            gen: c.gen,
            expire_at_ms: c.expire_at_ms,
            key: &self.bytes[c.start..key_end],
            value: c
                .with_value
                .then(|| &self.bytes[key_end..key_end + c.value_len as usize]),
            value_len: c.value_len,
            location: c.location,
        }
    }

    /// Whether a run is due to be asked about.
    fn full(&self) -> bool {
        self.items.len() >= BATCH || self.bytes.len() >= RUN_BYTES
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }
}

/// The output file being written.
struct Output {
    id: u32,
    file: BufWriter<File>,
    size: u64,
    hint: HintWriter,
}

impl Output {
    fn create(side: &Path, id: u32) -> Result<Output> {
        let path = segment::file_path(side, id, DATA_SUFFIX);
        let file = File::create(&path).ctx(|| format!("creating {}", path.display()))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(&record::file_header(TYPE_DATA))
            .ctx(|| format!("writing {}", path.display()))?;
        Ok(Output {
            id,
            file,
            size: FILE_HEADER_LEN as u64,
            hint: HintWriter::new(),
        })
    }

    fn finish(self, side: &Path) -> Result<()> {
        let path = segment::file_path(side, self.id, DATA_SUFFIX);
        let file = self
            .file
            .into_inner()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e.into_error()))?;
        file.sync_all()
            .ctx(|| format!("fsyncing {}", path.display()))?;
        self.hint
            .finish(&segment::file_path(side, self.id, HINT_SUFFIX), self.size)
    }
}

/// The merge's output: the live records copied so far.
struct Writer<'a> {
    inner: &'a Inner,
    side: &'a Path,
    first_out: u32,
    limit: u32,
    report: MergeReport,
    /// Every record copied, with its new location.
    moved: Copies<Location>,
    out_ids: Vec<u32>,
    out: Option<Output>,
    /// The record being encoded.
    buf: Vec<u8>,
}

impl Writer<'_> {
    /// Keeps the record `e` if the oracle found it `live`, drops it if not.
    fn take(&mut self, e: &ReplayEntry<'_>, live: bool) -> Result<()> {
        if live {
            self.keep(e)
        } else {
            self.report.records_dropped += 1;
            Ok(())
        }
    }

    /// Copies the live record `e` to the output (a new output file when
    /// the current one is full).
    fn keep(&mut self, e: &ReplayEntry<'_>) -> Result<()> {
        let value = e.value.unwrap_or(&[]);
        self.buf.clear();
        record::encode(
            &mut self.buf,
            DiskKind::from_kind(e.kind),
            e.tag,
            e.gen,
            e.expire_at_ms,
            e.key,
            value,
        );
        let rotate = match &self.out {
            None => true,
            Some(o) => {
                o.size + self.buf.len() as u64 > self.inner.opts.max_file_size
                    && o.size > FILE_HEADER_LEN as u64
            }
        };
        if rotate {
            if let Some(o) = self.out.take() {
                o.finish(self.side)?;
            }
            let id = self.first_out + self.out_ids.len() as u32;
            if id >= self.limit {
                return Err(Error::InvalidArgument(
                    "merge output exceeded its id range".into(),
                ));
            }
            self.out_ids.push(id);
            self.out = Some(Output::create(self.side, id)?);
        }
        let Some(o) = self.out.as_mut() else {
            return Err(Error::InvalidArgument("merge output missing".into()));
        };
        let new = Location {
            file_id: o.id,
            offset: o.size,
            len: self.buf.len() as u32,
        };
        o.file
            .write_all(&self.buf)
            .ctx(|| format!("writing merge output {}", o.id))?;
        o.size += self.buf.len() as u64;
        o.hint.add(&ReplayEntry {
            location: new,
            value: None,
            ..*e
        });
        self.report.records_kept += 1;
        self.report.bytes_after += self.buf.len() as u64;
        self.moved.push(e, false, new);
        Ok(())
    }
}

/// Runs one merge.
pub(crate) fn run(inner: &Inner, oracle: &dyn MergeOracle) -> Result<MergeReport> {
    let _merge = inner.merge_lock.lock();
    inner.check_poison()?;
    let max_file = inner.opts.max_file_size;
    // 1. Seal every file: rotate to a new active file whose id leaves a gap
    //    for the output, so that later writes replay after it.
    let (old, old_max, first_out, new_active) = {
        let mut w = inner.writer.lock();
        let old: Vec<Arc<Segment>> = inner
            .segments
            .read()
            .values()
            .filter(|s| s.id <= w.active.id)
            .cloned()
            .collect();
        let total: u64 = old.iter().map(|s| s.size()).sum();
        if old.len() <= 1 && total <= FILE_HEADER_LEN as u64 {
            return Ok(MergeReport::default());
        }
        let reserve = u32::try_from(2 * total / max_file + 3)
            .map_err(|_| Error::InvalidArgument("merge output too large".into()))?;
        let old_max = w.active.id;
        let new_active = old_max
            .checked_add(reserve)
            .and_then(|x| x.checked_add(1))
            .ok_or_else(|| Error::InvalidArgument("file id space exhausted".into()))?;
        inner.rotate(&mut w, new_active)?;
        (old, old_max, old_max + 1, new_active)
    };
    let result = write_output(inner, oracle, &old, first_out, new_active);
    let side = inner.dir.join(MERGE_DIR);
    let (mut report, moved, out_ids) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&side);
            return Err(e);
        }
    };
    // 2. Seal the merge: the finished marker, last, then the directory.
    let marker = side.join(FINISHED_MARKER);
    let mut f = File::create(&marker).ctx(|| format!("creating {}", marker.display()))?;
    f.write_all(marker_text(old_max).as_bytes())
        .and_then(|()| f.sync_all())
        .ctx(|| format!("writing {}", marker.display()))?;
    segment::sync_dir(&side)?;
    // 3. Switch over on disk, then in memory.
    if let Err(e) = install(&inner.dir, old_max) {
        // Half installed: only a reopen (which completes the install) is
        // safe now; stop every further write and merge.
        inner.poison(format!(
            "merge install failed ({e}); reopen the store to complete it"
        ));
        return Err(e);
    }
    {
        let mut segs = inner.segments.write();
        for &id in &out_ids {
            segs.insert(id, Arc::new(Segment::open(&inner.dir, id)?));
        }
    }
    for run in moved.items.chunks(BATCH) {
        let moves: Vec<_> = run
            .iter()
            .map(|(c, new)| (moved.entry(c), c.location, *new))
            .collect();
        oracle.relocated_all(&moves);
    }
    // A record overwritten while the merge ran was copied but is dead.
    let mut live = Vec::with_capacity(BATCH);
    for run in moved.items.chunks(BATCH) {
        let entries: Vec<_> = run
            .iter()
            .map(|(c, new)| ReplayEntry {
                location: *new,
                ..moved.entry(c)
            })
            .collect();
        oracle.are_live(&entries, &mut live);
        for ((_, new), _) in run.iter().zip(&live).filter(|(_, l)| !**l) {
            if let Some(seg) = inner.segment(new.file_id) {
                seg.dead.fetch_add(u64::from(new.len), Ordering::Relaxed);
            }
        }
    }
    {
        let mut segs = inner.segments.write();
        for s in &old {
            segs.remove(&s.id);
        }
    }
    report.files_merged = old.len();
    report.files_written = out_ids.len();
    report.bytes_before = old.iter().map(|s| s.size()).sum();
    inner.merges.fetch_add(1, Ordering::Relaxed);
    Ok(report)
}

/// Writes the live records of `old` into the side directory.
fn write_output(
    inner: &Inner,
    oracle: &dyn MergeOracle,
    old: &[Arc<Segment>],
    first_out: u32,
    limit: u32,
) -> Result<(MergeReport, Copies<Location>, Vec<u32>)> {
    let side = inner.dir.join(MERGE_DIR);
    if side.exists() {
        std::fs::remove_dir_all(&side).ctx(|| format!("removing {}", side.display()))?;
    }
    std::fs::create_dir(&side).ctx(|| format!("creating {}", side.display()))?;
    let now = now_ms();
    let mut w = Writer {
        inner,
        side: &side,
        first_out,
        limit,
        report: MergeReport::default(),
        moved: Copies::default(),
        out_ids: Vec::new(),
        out: None,
        buf: Vec::new(),
    };
    // The run of scanned records waiting for the oracle's answers.
    let mut pending: Copies<()> = Copies::default();
    let mut live = Vec::with_capacity(BATCH);
    // Asks the oracle about the pending run at once, then writes the live.
    let mut settle = |pending: &mut Copies<()>, w: &mut Writer<'_>| -> Result<()> {
        let entries: Vec<_> = pending
            .items
            .iter()
            .map(|(c, ())| pending.entry(c))
            .collect();
        oracle.are_live(&entries, &mut live);
        for (e, &is_live) in entries.iter().zip(&live) {
            w.take(e, is_live)?;
        }
        drop(entries);
        pending.clear();
        Ok(())
    };
    let mut progress = ProgressLog::new("merge", old.iter().map(|s| s.size()).sum());
    let mut scanned = 0u64;
    for (i, seg) in old.iter().enumerate() {
        let outcome = segment::scan_data_file(&seg.path, seg.id, seg.size(), &mut |e| {
            if e.expire_at_ms != 0 && e.expire_at_ms <= now {
                w.report.records_dropped += 1;
                return Ok(());
            }
            if e.key.len() + e.value.map_or(0, <[u8]>::len) >= RUN_BYTES {
                // A big record is asked about alone, not copied (after the
                // run before it, so that the output keeps the scan order).
                settle(&mut pending, &mut w)?;
                return w.take(&e, oracle.is_live(&e));
            }
            pending.push(&e, true, ());
            if pending.full() {
                settle(&mut pending, &mut w)?;
            }
            Ok(())
        })?;
        if let Some((offset, reason)) = outcome.bad {
            return Err(Error::Corruption {
                file: seg.path.clone(),
                offset,
                reason,
            });
        }
        settle(&mut pending, &mut w)?;
        scanned += seg.size();
        progress.update(scanned, || format!("{}/{} files", i + 1, old.len()));
    }
    if let Some(o) = w.out.take() {
        o.finish(&side)?;
    }
    let Writer {
        report,
        moved,
        out_ids,
        ..
    } = w;
    progress.finish(|| {
        format!(
            "{} records kept, {} dropped",
            report.records_kept, report.records_dropped
        )
    });
    Ok((report, moved, out_ids))
}
