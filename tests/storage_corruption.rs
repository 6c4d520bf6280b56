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
    // Flip one bit inside the third record's value (8-byte header, 137-byte records).
    let record_len = 30 + 7 + 100;
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
