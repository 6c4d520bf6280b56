//! A full disk: writes fail with a clear error and change nothing (not even
//! memory), reads keep answering, what was acknowledged stays, merge fails
//! cleanly, and writes work again once space comes back, across a reopen.
//!
//! The disk is a real tmpfs of a few hundred KiB mounted for the test (the
//! test runs as root, as CI does) and grown with `mount -o remount,size=`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};

const NOW: u64 = 1_800_000_000_000;

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        sh(
            &[
                "mount",
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
            ],
            dir.path(),
        );
        SmallDisk { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    fn resize(&self, size: &str) {
        sh(
            &["mount", "-o", &format!("remount,size={size}")],
            self.dir.path(),
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn sh(args: &[&str], target: &Path) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .arg(target)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "{args:?} {} failed (the test needs root)",
        target.display()
    );
}

fn open(dir: &Path, max_file: u64) -> Keyspace {
    let opts = Options::new(dir)
        .with_fsync(FsyncPolicy::Always)
        .with_max_file_size(max_file);
    Keyspace::open(Config::new(opts)).expect("open keyspace")
}

fn run(ks: &Keyspace, args: &[&[u8]]) -> Reply {
    let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    ks.execute(&Ctx::new(NOW, 7, 0), &argv)
}

/// What was acknowledged: the only truth the store must match.
#[derive(Default)]
struct Model {
    strings: BTreeMap<String, String>,
    counter: i64,
    list: Vec<String>,
    set: BTreeSet<String>,
}

impl Model {
    /// Runs write number `i`; updates the model only when acknowledged.
    /// Returns the error text of a refused write.
    fn write(&mut self, ks: &Keyspace, i: usize) -> Option<String> {
        let value = format!("{i:06}-{}", "v".repeat(300));
        let member = format!("m{i}");
        let reply = match i % 5 {
            0 | 1 => run(ks, &[b"SET", format!("k{i}").as_bytes(), value.as_bytes()]),
            2 => run(ks, &[b"INCR", b"counter"]),
            3 => run(ks, &[b"RPUSH", b"list", value.as_bytes()]),
            _ => {
                // A transaction: both or neither.
                let cmds = vec![
                    vec![
                        Bytes::from_static(b"SADD"),
                        Bytes::from("set"),
                        Bytes::from(member.clone()),
                    ],
                    vec![
                        Bytes::from_static(b"SET"),
                        Bytes::from(format!("tx{i}")),
                        Bytes::from(value.clone()),
                    ],
                ];
                let replies = ks.execute_transaction(&Ctx::new(NOW, 7, 0), &cmds);
                assert_eq!(replies.len(), 2);
                match (&replies[0], &replies[1]) {
                    (Reply::Integer(1), Reply::Simple(ok)) if ok == "OK" => {
                        self.set.insert(member);
                        self.strings.insert(format!("tx{i}"), value);
                        return None;
                    }
                    (Reply::Error(a), Reply::Error(b)) => {
                        assert_eq!(a, b, "a failed transaction fails as a whole");
                        return Some(a.clone());
                    }
                    other => panic!("half a transaction: {other:?}"),
                }
            }
        };
        match reply {
            Reply::Error(e) => return Some(e),
            Reply::Simple(_) if i % 5 < 2 => {
                self.strings.insert(format!("k{i}"), value);
            }
            Reply::Integer(n) if i % 5 == 2 => {
                self.counter += 1;
                assert_eq!(n, self.counter, "INCR builds on acknowledged values only");
            }
            Reply::Integer(n) if i % 5 == 3 => {
                self.list.push(value);
                assert_eq!(n as usize, self.list.len());
            }
            other => panic!("write {i}: unexpected {other:?}"),
        }
        None
    }

    /// The store holds exactly what was acknowledged.
    fn verify(&self, ks: &Keyspace, upto: usize) {
        for i in 0..upto {
            for key in [format!("k{i}"), format!("tx{i}")] {
                let got = run(ks, &[b"GET", key.as_bytes()]);
                match self.strings.get(&key) {
                    Some(v) => assert_eq!(got, Reply::Bulk(Bytes::from(v.clone())), "{key}"),
                    None => assert_eq!(got, Reply::Nil, "{key} was refused, yet it is there"),
                }
            }
        }
        let counter = run(ks, &[b"GET", b"counter"]);
        if self.counter > 0 {
            assert_eq!(counter, Reply::Bulk(Bytes::from(self.counter.to_string())));
        }
        let Reply::Array(items) = run(ks, &[b"LRANGE", b"list", b"0", b"-1"]) else {
            panic!("LRANGE");
        };
        let want: Vec<Reply> = self
            .list
            .iter()
            .map(|v| Reply::Bulk(Bytes::from(v.clone())))
            .collect();
        assert_eq!(items, want, "list");
        let Reply::Integer(card) = run(ks, &[b"SCARD", b"set"]) else {
            panic!("SCARD");
        };
        assert_eq!(card as usize, self.set.len(), "set");
    }
}

/// Small data files: the disk fills when a new file's space cannot be
/// reserved (its appends then use `pwrite`) or a `pwrite` fails.
#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers() {
    full_disk(SmallDisk::mount("384k"), 64 * 1024);
}

/// Large data files: the disk fills while the mapped active file reserves
/// its next 4 MiB (`fallocate` fails before anything is copied).
#[test]
fn a_full_disk_while_the_mapped_file_grows() {
    full_disk(SmallDisk::mount("6m"), 64 << 20);
}

fn full_disk(disk: SmallDisk, max_file: u64) {
    let mut model = Model::default();
    let mut next = 0;
    {
        let ks = open(&disk.path(), max_file);
        // Fill the disk until a write is refused.
        let err = loop {
            assert!(next < 200_000, "the disk never filled");
            if let Some(e) = model.write(&ks, next) {
                break e;
            }
            next += 1;
        };
        assert!(err.starts_with("ERR persistence failed"), "{err}");
        assert!(
            err.contains("No space left") || err.contains("no space left"),
            "{err}"
        );
        // Memory was rolled back to the log: the refused write is not visible.
        model.verify(&ks, next + 1);
        // Further writes are refused cheaply and change nothing.
        for i in next + 1..next + 30 {
            if let Some(e) = model.write(&ks, i) {
                assert!(
                    e.contains("no space left") || e.contains("No space left"),
                    "{e}"
                );
            }
        }
        next += 30;
        model.verify(&ks, next);
        // Reads and merge: merge may fail for lack of space, and loses nothing.
        let _ = ks.merge();
        model.verify(&ks, next);

        // Space comes back: writes work again, without a restart.
        disk.resize("64m");
        let before = model.strings.len();
        for i in next..next + 50 {
            assert_eq!(model.write(&ks, i), None, "write {i} after space came back");
        }
        next += 50;
        assert!(model.strings.len() > before);
        model.verify(&ks, next);
        ks.merge().expect("merge with space");
        model.verify(&ks, next);
    }
    // Everything acknowledged survives a reopen; nothing refused appears.
    let ks = open(&disk.path(), max_file);
    model.verify(&ks, next);
}
