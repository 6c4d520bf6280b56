//! Online, consistent backups of a log directory.
//!
//! Bitcask makes this cheap: every data file but the active one is immutable,
//! so a backup hard-links the sealed files (and their hint files) and copies
//! only the active file, up to the length it had at one instant. That
//! instant is read under the writer lock, between two appends, so the copy
//! holds every append before it and none after it: a batch is wholly in or
//! wholly out. The merge lock is held for the whole backup, so no merge
//! replaces or deletes a file half-way; writers and readers are never
//! blocked for more than the moment it takes to read the active file's
//! length.
//!
//! The backup is built in `<dest>.partial` and renamed to `<dest>` when every
//! file and the directory are fsynced, so a crash never leaves a directory
//! named `<dest>` that is incomplete. The result is a normal data directory:
//! restoring is opening it (or starting a server on it).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::storage::error::{Error, IoContext, Result};
use crate::storage::log::Log;
use crate::storage::segment::{self, DATA_SUFFIX, HINT_SUFFIX};

/// What a backup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup directory.
    pub dir: PathBuf,
    /// Data and hint files hard-linked (sealed files on the same filesystem).
    pub files_linked: usize,
    /// Files copied (the active file's prefix; everything when linking fails).
    pub files_copied: usize,
    /// Bytes in the backup.
    pub bytes: u64,
}

impl Log {
    /// Writes a consistent copy of the log into `dest`, which must not exist
    /// (or be an empty directory). The log stays open for reads and writes
    /// meanwhile; merges wait until the backup is done.
    pub fn backup(&self, dest: &Path) -> Result<BackupReport> {
        let inner = &self.inner;
        check_dest(dest)?;
        let partial = partial_path(dest);
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .ctx(|| format!("removing a stale {}", partial.display()))?;
        }
        std::fs::create_dir_all(&partial).ctx(|| format!("creating {}", partial.display()))?;
        let result = (|| {
            let _merge = inner.merge_lock.lock();
            // The instant of the backup: the active file and its length.
            let (active_id, active_len, files) = {
                let w = inner.writer.lock();
                let files: Vec<_> = inner.segments.read().values().cloned().collect();
                (w.active.id, w.active.size(), files)
            };
            let mut report = BackupReport {
                dir: dest.to_path_buf(),
                ..BackupReport::default()
            };
            for seg in files.iter().filter(|s| s.id <= active_id) {
                let to = segment::file_path(&partial, seg.id, DATA_SUFFIX);
                if seg.id == active_id {
                    copy_prefix(&seg.path, &to, active_len)?;
                    report.files_copied += 1;
                    report.bytes += active_len;
                    continue;
                }
                let len = seg.size();
                link_or_copy(&seg.path, &to, &mut report)?;
                report.bytes += len;
                let hint = segment::file_path(&inner.dir, seg.id, HINT_SUFFIX);
                if hint.exists() {
                    let to = segment::file_path(&partial, seg.id, HINT_SUFFIX);
                    link_or_copy(&hint, &to, &mut report)?;
                    report.bytes += std::fs::metadata(&to)
                        .ctx(|| format!("stat {}", to.display()))?
                        .len();
                }
            }
            segment::sync_dir(&partial)?;
            Ok(report)
        })();
        let report = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&partial);
                return Err(e);
            }
        };
        if dest.exists() {
            // An empty directory (checked above): replace it.
            std::fs::remove_dir(dest).ctx(|| format!("removing empty {}", dest.display()))?;
        }
        std::fs::rename(&partial, dest)
            .ctx(|| format!("renaming {} to {}", partial.display(), dest.display()))?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            segment::sync_dir(parent)?;
        }
        tracing::info!(
            dest = %dest.display(),
            linked = report.files_linked,
            copied = report.files_copied,
            bytes = report.bytes,
            "backup written"
        );
        Ok(report)
    }
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

fn check_dest(dest: &Path) -> Result<()> {
    if dest.file_name().is_none() {
        return Err(Error::InvalidArgument(format!(
            "backup destination {} has no file name",
            dest.display()
        )));
    }
    match std::fs::metadata(dest) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::InvalidArgument(format!(
                "backup destination {} is not a directory",
                dest.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("stat {}", dest.display()), e)),
    }
    let mut entries = std::fs::read_dir(dest).ctx(|| format!("listing {}", dest.display()))?;
    if entries.next().is_some() {
        return Err(Error::InvalidArgument(format!(
            "backup destination {} is not empty",
            dest.display()
        )));
    }
    Ok(())
}

/// Hard-links `from` to `to`, copying (and fsyncing) when the link fails
/// (another filesystem, or links not supported).
fn link_or_copy(from: &Path, to: &Path, report: &mut BackupReport) -> Result<()> {
    if std::fs::hard_link(from, to).is_ok() {
        report.files_linked += 1;
        return Ok(());
    }
    let len = std::fs::metadata(from)
        .ctx(|| format!("stat {}", from.display()))?
        .len();
    copy_prefix(from, to, len)?;
    report.files_copied += 1;
    Ok(())
}

/// Copies the first `len` bytes of `from` into a new file `to` and fsyncs it.
fn copy_prefix(from: &Path, to: &Path, len: u64) -> Result<()> {
    let src = File::open(from).ctx(|| format!("opening {}", from.display()))?;
    let mut dst = File::create(to).ctx(|| format!("creating {}", to.display()))?;
    let copied = std::io::copy(&mut src.take(len), &mut dst)
        .ctx(|| format!("copying {} to {}", from.display(), to.display()))?;
    if copied != len {
        return Err(Error::io(
            format!("copying {}", from.display()),
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{copied} of {len} bytes"),
            ),
        ));
    }
    dst.flush().ctx(|| format!("writing {}", to.display()))?;
    dst.sync_all()
        .ctx(|| format!("fsyncing {}", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    use crate::storage::{Engine, FsyncPolicy, Options, WriteBatch};

    fn opts(dir: &std::path::Path) -> Options {
        Options::new(dir)
            .with_fsync(FsyncPolicy::No)
            .with_max_file_size(64 * 1024)
            .with_merge_interval(None)
    }

    /// Batches of three keys written with one token: in a consistent copy
    /// the three always agree, and every batch acknowledged before the
    /// backup started is there.
    #[test]
    fn backup_under_writes_is_consistent_and_opens() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(Engine::open(opts(&tmp.path().join("db"))).expect("open"));
        for i in 0..2000u64 {
            engine
                .put(format!("old{i}").as_bytes(), &i.to_le_bytes())
                .expect("put");
        }
        engine.merge().expect("merge");
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let writer = {
            let (engine, stop, acked) = (engine.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut token = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    token += 1;
                    let v = token.to_le_bytes();
                    let mut b = WriteBatch::new();
                    b.put(b"a", &v).put(b"b", &v).put(b"c", &v);
                    engine.write(&b).expect("batch");
                    acked.store(token, Ordering::Release);
                }
            })
        };
        while acked.load(Ordering::Acquire) < 500 {
            std::thread::yield_now();
        }
        let before = acked.load(Ordering::Acquire);
        let dest = tmp.path().join("backup");
        let report = engine.backup(&dest).expect("backup");
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("writer");
        assert!(report.files_linked > 0, "{report:?}");
        assert!(report.files_copied >= 1, "{report:?}");
        assert!(!tmp.path().join("backup.partial").exists());

        let copy = Engine::open(opts(&dest)).expect("backup opens");
        let get = |k: &[u8]| {
            let v = copy.get(k).expect("get").expect("present");
            u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes"))
        };
        let (a, b, c) = (get(b"a"), get(b"b"), get(b"c"));
        assert_eq!((a, a), (b, c), "a batch is half in the backup");
        assert!(a >= before, "acknowledged batch {before} missing (got {a})");
        for i in 0..2000u64 {
            assert_eq!(
                copy.get(format!("old{i}").as_bytes())
                    .expect("get")
                    .as_deref(),
                Some(&i.to_le_bytes()[..])
            );
        }
        // The copy is a store of its own: writes and merges there leave the
        // original alone (hard links share sealed files, which nobody writes).
        copy.put(b"only-in-copy", b"1").expect("put");
        copy.merge().expect("merge copy");
        drop(copy);
        assert_eq!(engine.get(b"only-in-copy").expect("get"), None);
        assert_eq!(
            engine.get(b"old7").expect("get").as_deref(),
            Some(&7u64.to_le_bytes()[..])
        );
    }

    #[test]
    fn backup_refuses_a_non_empty_destination() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(opts(&tmp.path().join("db"))).expect("open");
        engine.put(b"k", b"v").expect("put");
        let dest = tmp.path().join("full");
        std::fs::create_dir(&dest).expect("mkdir");
        std::fs::write(dest.join("x"), b"x").expect("write");
        let err = engine.backup(&dest).expect_err("non-empty");
        assert!(err.to_string().contains("not empty"), "{err}");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        assert!(engine.backup(&file).is_err());
        // An empty directory is fine, and so is a second backup elsewhere.
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        engine.backup(&empty).expect("into an empty dir");
        engine.backup(&tmp.path().join("again")).expect("again");
        let copy = Engine::open(opts(&empty)).expect("open");
        assert_eq!(copy.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
    }
}
