//! Storage tests that mangle files: bit flips, truncation, torn tails, repair.

use std::path::{Path, PathBuf};

use fincaskv::storage::{repair, Engine, Error, FsyncPolicy, Options};

fn opts(dir: &Path) -> Options {
    Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_max_file_size(4096)
        .with_merge_interval(None)
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let id = p
                .file_name()?
                .to_str()?
                .strip_suffix(".data")?
                .parse()
                .ok()?;
            Some((id, p))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

fn fill(dir: &Path, n: u32) {
    let e = Engine::open(opts(dir)).expect("open");
    for i in 0..n {
        e.put(format!("key{i:04}").as_bytes(), &[b'v'; 100])
            .expect("put");
    }
}

#[test]
fn bit_flip_in_an_old_file_names_file_and_offset_and_repair_salvages_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), 200);
    let files = data_files(dir.path());
    assert!(files.len() >= 3);
    let victim = &files[1];
    let mut bytes = std::fs::read(victim).expect("read");
    // Flip one bit inside the third record's value (8-byte file header,
    // then records of a 7-byte key and a 100-byte value, generation 0, no
    // deadline).
    let record_len = fincaskv::storage::record_len(7, 100, 0, 0);
    let bad_record = 8 + 2 * record_len;
    bytes[bad_record + 60] ^= 0x04;
    std::fs::write(victim, &bytes).expect("write");

    let err = Engine::open(opts(dir.path())).expect_err("corruption must refuse the open");
    match &err {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file, victim);
            assert_eq!(*offset, bad_record as u64);
        }
        other => panic!("expected Corruption, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("repair") && msg.contains(&victim.display().to_string()),
        "{msg}"
    );

    let report = repair(dir.path()).expect("repair");
    assert_eq!(report.files_rewritten, 1);
    assert!(report.bytes_skipped > 0);
    let e = Engine::open(opts(dir.path())).expect("open after repair");
    assert_eq!(e.len(), 199, "exactly the damaged record is lost");
    let mut missing = 0;
    for i in 0..200 {
        if e.get(format!("key{i:04}").as_bytes())
            .expect("get")
            .is_none()
        {
            missing += 1;
        }
    }
    assert_eq!(missing, 1);
}

#[test]
fn truncated_old_file_is_corruption_and_repairable() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), 200);
    let files = data_files(dir.path());
    let victim = &files[0];
    let len = std::fs::metadata(victim).expect("stat").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(victim)
        .expect("open");
    f.set_len(len - 50).expect("truncate");
    drop(f);
    assert!(matches!(
        Engine::open(opts(dir.path())),
        Err(Error::Corruption { .. })
    ));
    repair(dir.path()).expect("repair");
    let e = Engine::open(opts(dir.path())).expect("open after repair");
    assert_eq!(e.len(), 199);
}

#[test]
fn torn_tail_of_the_active_file_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), 100);
    let files = data_files(dir.path());
    let last = files.last().expect("a file");
    let len = std::fs::metadata(last).expect("stat").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .expect("open");
    f.set_len(len - 10).expect("truncate");
    drop(f);
    let e = Engine::open(opts(dir.path())).expect("torn tail is not corruption");
    assert_eq!(e.len(), 99);
    e.put(b"after", b"tear").expect("put");
    drop(e);
    let e = Engine::open(opts(dir.path())).expect("reopen");
    assert_eq!(e.len(), 100);
    assert_eq!(e.get(b"after").expect("get").as_deref(), Some(&b"tear"[..]));
}

#[test]
fn damaged_hint_falls_back_to_the_data_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let e = Engine::open(opts(dir.path())).expect("open");
        for i in 0..100u32 {
            e.put(format!("k{i}").as_bytes(), b"v").expect("put");
            e.put(format!("k{i}").as_bytes(), b"w").expect("put");
        }
        e.merge().expect("merge");
    }
    let hints: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hint"))
        .collect();
    assert!(!hints.is_empty());
    let mut bytes = std::fs::read(&hints[0]).expect("read");
    bytes[20] ^= 0xFF;
    std::fs::write(&hints[0], &bytes).expect("write");
    let e = Engine::open(opts(dir.path())).expect("open with a bad hint");
    assert_eq!(e.len(), 100);
    assert_eq!(e.get(b"k42").expect("get").as_deref(), Some(&b"w"[..]));
}

#[test]
fn repair_of_a_locked_or_missing_store_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engine::open(opts(dir.path())).expect("open");
    assert!(matches!(repair(dir.path()), Err(Error::Locked { .. })));
    assert!(matches!(
        Engine::open(opts(dir.path())),
        Err(Error::Locked { .. })
    ));
    drop(e);
    assert!(matches!(
        repair(&dir.path().join("nope")),
        Err(Error::NotAStore { .. })
    ));
}

/// Appends `n` zero bytes to `path` (what an unsealed active file holds).
fn add_zeros(path: &Path, n: usize) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open");
    f.write_all(&vec![0u8; n]).expect("append zeros");
}

#[test]
fn sealed_files_end_at_their_last_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engine::open(opts(dir.path())).expect("open");
    e.put(b"k", b"v").expect("put");
    let files = data_files(dir.path());
    let active = files.last().expect("a data file");
    let while_open = std::fs::metadata(active).expect("stat").len();
    assert!(
        while_open >= 4096,
        "the active file is grown to max_file_size for its mapping ({while_open} bytes)"
    );
    drop(e);
    let closed = std::fs::metadata(active).expect("stat").len();
    assert!(closed < 100, "closing cuts the room: {closed} bytes left");
    for f in data_files(dir.path()) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            bytes.last() != Some(&0) || bytes.len() < 100,
            "{} ends in zeros",
            f.display()
        );
    }
}

#[test]
fn zeros_after_the_last_record_are_room_in_any_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), 100);
    let files = data_files(dir.path());
    assert!(files.len() >= 3);
    // A crash before the seal's cut of an old file, and before the active
    // file's: both end in zeros.
    let lens: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("stat").len())
        .collect();
    add_zeros(&files[0], 5000);
    add_zeros(files.last().expect("last"), 70_000);
    let e = Engine::open(opts(dir.path())).expect("zeros are room, not damage");
    assert_eq!(e.len(), 100);
    for i in 0..100 {
        assert!(e
            .get(format!("key{i:04}").as_bytes())
            .expect("get")
            .is_some());
    }
    drop(e);
    assert_eq!(std::fs::metadata(&files[0]).expect("stat").len(), lens[0]);
    let report = repair(dir.path()).expect("repair");
    assert_eq!(report.files_rewritten, 0, "{report:?}");
}

#[test]
fn garbage_before_zeros_in_an_old_file_is_still_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), 100);
    let files = data_files(dir.path());
    let victim = &files[0];
    let len = std::fs::metadata(victim).expect("stat").len();
    add_zeros(victim, 4096);
    let mut bytes = std::fs::read(victim).expect("read");
    bytes[len as usize + 10] = 0x7f;
    std::fs::write(victim, &bytes).expect("write");
    match Engine::open(opts(dir.path())) {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(&file, victim);
            assert_eq!(offset, len);
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}

#[test]
fn pwrite_appends_read_back_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = opts(dir.path()).with_mmap_appends(false);
    {
        let e = Engine::open(o.clone()).expect("open");
        for i in 0..100u32 {
            e.put(format!("key{i:04}").as_bytes(), &i.to_le_bytes())
                .expect("put");
        }
        let active = data_files(dir.path()).pop().expect("a file");
        let len = std::fs::metadata(&active).expect("stat").len();
        assert!(len < 4096, "no room without the mapping: {len} bytes");
    }
    let e = Engine::open(o.with_mmap_appends(true)).expect("reopen mapped");
    for i in 0..100u32 {
        assert_eq!(
            e.get(format!("key{i:04}").as_bytes())
                .expect("get")
                .as_deref(),
            Some(&i.to_le_bytes()[..])
        );
    }
}
