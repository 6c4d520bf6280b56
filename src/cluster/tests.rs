//! Unit tests of the cluster stores: openraft's storage suite, log recovery,
//! snapshot round trips, normalisation.

use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, EntryPayload, RaftLogReader, RaftSnapshotBuilder};
use tempfile::TempDir;

use super::log_store::LogStore;
use super::state_machine::{decode_snapshot, encode_snapshot, normalise, rewritten, StateMachine};
use super::{Entry, LogId, Request, StorageError, TypeConfig};
use crate::command::{Ctx, Reply};
use crate::keyspace::{Config, Keyspace};
use crate::storage::{FsyncPolicy, Options};

fn keyspace(dir: &std::path::Path) -> Arc<Keyspace> {
    let opts = Options::new(dir).with_fsync(FsyncPolicy::No);
    Arc::new(Keyspace::open(Config::new(opts)).expect("open keyspace"))
}

/// Builds the stores for openraft's suite; `early`: a log that
/// acknowledges node 1's own appends before their fsync (the leader's
/// parallel fsync).
struct Builder {
    early: bool,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = TempDir::new().expect("tempdir");
        let mut log = LogStore::open(dir.path().join("raft")).expect("log store");
        if self.early {
            log = log.flush_own_entries_behind(1);
        }
        let ks = keyspace(&dir.path().join("data"));
        let sm = StateMachine::open(ks, dir.path().join("raft")).expect("state machine");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() -> Result<(), StorageError> {
    Suite::test_all(Builder { early: false })
}

#[test]
fn openraft_storage_suite_with_the_leaders_parallel_fsync() -> Result<(), StorageError> {
    Suite::test_all(Builder { early: true })
}

/// Node 1 leading term 1 has its own entries acknowledged at once and
/// made durable by the flusher; entries of another leader are durable
/// when their append answers; a truncation cuts the watermark; a reopen
/// starts it at the last entry.
#[test]
fn the_durable_watermark_follows_own_and_foreign_appends() {
    use openraft::storage::RaftLogStorageExt;
    let dir = TempDir::new().expect("tempdir");
    rt().block_on(async {
        let mut log = LogStore::open(dir.path())
            .expect("open")
            .flush_own_entries_behind(1);
        let durable = log.durable();
        assert_eq!(durable.upto(), None);
        log.save_vote(&openraft::Vote::new_committed(1, 1))
            .await
            .expect("vote");
        log.blocking_append((1..=3).map(|i| cmd(i, &["set", "k", "v"])))
            .await
            .expect("append");
        tokio::time::timeout(std::time::Duration::from_secs(10), durable.wait_for(3))
            .await
            .expect("the flusher made the entries durable")
            .expect("no fsync failure");
        assert_eq!(durable.upto(), Some(log_id(1, 3)));
        // Node 2 leads term 2 and overwrites entry 3 (the watermark drops
        // below what node 1 had submitted to its flusher); its entries
        // are fsynced before the append answers (an append that waited
        // for the old index 3 never ended).
        log.save_vote(&openraft::Vote::new_committed(2, 2))
            .await
            .expect("vote");
        log.truncate(log_id(1, 3)).await.expect("truncate");
        assert_eq!(durable.upto(), Some(log_id(1, 2)));
        let foreign = |i: u64| Entry {
            log_id: LogId::new(CommittedLeaderId::new(2, 2), i),
            ..cmd(i, &["set", "k", "w"])
        };
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            log.blocking_append((3..=5).map(foreign)),
        )
        .await
        .expect("the append answers")
        .expect("append");
        assert_eq!(durable.upto().map(|l| l.index), Some(5));
        log.truncate(LogId::new(CommittedLeaderId::new(2, 2), 5))
            .await
            .expect("truncate");
        assert_eq!(durable.upto().map(|l| l.index), Some(4));
        drop(log);
        let log = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(log.durable().upto().map(|l| l.index), Some(4));
    });
}

/// A state machine gated on the log's watermark applies an entry only once
/// the watermark covers it.
#[test]
fn the_state_machine_applies_only_durable_entries() {
    let dir = TempDir::new().expect("tempdir");
    rt().block_on(async {
        let durable = super::log_store::Durable::new(Some(log_id(1, 1)));
        let ks = keyspace(&dir.path().join("data"));
        let mut sm = StateMachine::open(ks.clone(), dir.path().join("raft"))
            .expect("state machine")
            .apply_only_durable(durable.clone());
        sm.apply([cmd(1, &["set", "a", "1"])])
            .await
            .expect("apply a durable entry");
        let pending =
            tokio::spawn(async move { sm.apply([cmd(2, &["set", "b", "2"])]).await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!pending.is_finished(), "applied before its fsync");
        let get = |k: &str| {
            ks.execute(
                &Ctx::new(1_000, 1, 0),
                &[Bytes::from("GET"), Bytes::copy_from_slice(k.as_bytes())],
            )
        };
        assert_eq!(get("b"), Reply::Nil);
        durable.advance(log_id(1, 2));
        pending.await.expect("task").expect("apply");
        assert_eq!(get("a"), Reply::Bulk(Bytes::from("1")));
        assert_eq!(get("b"), Reply::Bulk(Bytes::from("2")));
    });
}

#[test]
fn followers_are_told_no_commit_past_the_leaders_disk() {
    use super::log_store::commit_for_followers;
    let (c, d) = (Some(log_id(1, 9)), Some(log_id(1, 7)));
    assert_eq!(commit_for_followers(c, d), d);
    assert_eq!(commit_for_followers(d, c), d);
    assert_eq!(commit_for_followers(c, None), None);
    assert_eq!(commit_for_followers(None, d), None);
    assert_eq!(commit_for_followers(c, c), c);
}

/// A commit index cut to the leader's disk is reported once the disk
/// covers it (the node then sends a heartbeat), once per cut.
#[test]
fn a_cut_commit_index_is_reported_once_covered() {
    rt().block_on(async {
        let durable = super::log_store::Durable::new(Some(log_id(1, 1)));
        let mut watch = durable.cut_watch();
        assert_eq!(
            durable.commit_for_followers(Some(log_id(1, 1))),
            Some(log_id(1, 1))
        );
        assert_eq!(
            durable.commit_for_followers(Some(log_id(1, 5))),
            Some(log_id(1, 1))
        );
        durable.advance(log_id(1, 3));
        let soon = std::time::Duration::from_millis(50);
        assert!(
            tokio::time::timeout(soon, watch.next_covered())
                .await
                .is_err(),
            "3 < 5"
        );
        durable.advance(log_id(1, 5));
        assert!(tokio::time::timeout(soon, watch.next_covered())
            .await
            .expect("covered"));
        durable.advance(log_id(1, 6));
        assert!(
            tokio::time::timeout(soon, watch.next_covered())
                .await
                .is_err(),
            "reported once"
        );
        drop(durable);
        assert!(!watch.next_covered().await, "the log is gone");
    });
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn cmd(index: u64, argv: &[&str]) -> Entry {
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(Request::Command {
            db: 0,
            now_ms: 1_000,
            rng_seed: 7,
            argv: argv
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        }),
    }
}

/// The first raft log segment file in `dir`.
fn first_segment(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".rlog"))
        .expect("segment")
        .path()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn log_survives_reopen_and_cuts_a_torn_tail() {
    let dir = TempDir::new().expect("tempdir");
    rt().block_on(async {
        let mut log = LogStore::open(dir.path()).expect("open");
        use openraft::storage::RaftLogStorageExt;
        log.blocking_append((1..=5).map(|i| cmd(i, &["set", "k", "v"])))
            .await
            .expect("append");
        log.truncate(log_id(1, 5)).await.expect("truncate");
        drop(log);
        // A torn frame at the end (what a crash mid-write leaves).
        let seg = first_segment(dir.path());
        let mut bytes = std::fs::read(&seg).expect("read");
        let before = bytes.len();
        bytes.extend_from_slice(&[1, 2, 3, 4, 200, 0, 0, 0, 9, 9]);
        std::fs::write(&seg, &bytes).expect("write");
        let mut log = LogStore::open(dir.path()).expect("reopen");
        let got = log.try_get_log_entries(0..100).await.expect("read");
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].log_id.index, 4);
        assert_eq!(
            std::fs::metadata(&seg).expect("meta").len() as usize,
            before
        );
        // Purge then reopen: purged entries stay gone.
        log.purge(log_id(1, 2)).await.expect("purge");
        drop(log);
        let mut log = LogStore::open(dir.path()).expect("reopen 2");
        let got = log.try_get_log_entries(0..100).await.expect("read");
        assert_eq!(
            got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            vec![3, 4]
        );
        let state = log.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
    });
}

/// A segment of format 2 (bincode before packed batches, a `Batch` entry
/// in its derived form) is read as it was; appends after it start a
/// segment of the current format.
#[test]
fn a_segment_of_the_previous_format_is_read_and_appended_after() {
    use bincode::Options;
    let dir = TempDir::new().expect("tempdir");
    let old = [
        cmd(1, &["set", "a", "1"]),
        batch(2, &[&["incr", "n"], &["del", "a"]], false),
    ];
    let mut bytes = b"FKRL\x02".to_vec();
    for e in &old {
        let payload = bincode::DefaultOptions::new().serialize(e).expect("encode");
        let len = (payload.len() as u32).to_le_bytes();
        let mut h = crc32fast::Hasher::new();
        h.update(&len);
        h.update(&payload);
        bytes.extend_from_slice(&h.finalize().to_le_bytes());
        bytes.extend_from_slice(&len);
        bytes.extend_from_slice(&payload);
    }
    std::fs::write(dir.path().join(format!("{:020}.rlog", 1)), &bytes).expect("write");
    rt().block_on(async {
        use openraft::storage::RaftLogStorageExt;
        let mut log = LogStore::open(dir.path()).expect("open");
        let got = log.try_get_log_entries(0..100).await.expect("read");
        assert_eq!(got, old);
        let new = batch(3, &[&["set", "b", "2"], &["get", "b"]], true);
        log.blocking_append([new.clone()]).await.expect("append");
        drop(log);
        let mut log = LogStore::open(dir.path()).expect("reopen");
        let got = log.try_get_log_entries(0..100).await.expect("read");
        assert_eq!(got, [old[0].clone(), old[1].clone(), new]);
    });
    let mut versions: Vec<(String, u8)> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".rlog"))
        .map(|e| {
            let head = std::fs::read(e.path()).expect("read");
            (e.file_name().to_string_lossy().into_owned(), head[4])
        })
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        [
            (format!("{:020}.rlog", 1), 2),
            (format!("{:020}.rlog", 3), 3)
        ]
    );
}

/// Opens the raft log in `dir`, appends SET entries `ids`, closes it.
/// A purge answers once its purge point is durable and deletes the
/// segments it emptied on another thread (openraft's core waits for the
/// purge; unlinking a GB of segments inline stalled writes ~0.7 s); the
/// log reopens with the purged entries gone.
#[test]
fn purged_segments_are_deleted_after_the_purge_answers() {
    let dir = TempDir::new().expect("tempdir");
    let segments = || {
        std::fs::read_dir(dir.path())
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".rlog"))
            })
            .count()
    };
    rt().block_on(async {
        use openraft::storage::RaftLogStorageExt;
        let mut log = LogStore::open(dir.path()).expect("open");
        // 12 entries of 8 MiB: two 64 MiB segments.
        let big = "x".repeat(8 << 20);
        for i in 1..=12 {
            log.blocking_append([cmd(i, &["set", "k", &big])])
                .await
                .expect("append");
        }
        assert!(segments() >= 2, "{} segments", segments());
        log.purge(log_id(1, 11)).await.expect("purge");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while segments() > 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(segments(), 1);
        drop(log);
        let mut log = LogStore::open(dir.path()).expect("reopen");
        let got = log.try_get_log_entries(0..100).await.expect("read");
        assert_eq!(
            got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            vec![12]
        );
    });
}

async fn append_and_close(dir: &std::path::Path, ids: std::ops::RangeInclusive<u64>) {
    use openraft::storage::RaftLogStorageExt;
    let mut log = LogStore::open(dir).expect("open");
    log.blocking_append(ids.map(|i| cmd(i, &["set", "k", "v"])))
        .await
        .expect("append");
}

#[test]
fn preallocated_room_reads_as_the_end_of_the_log() {
    let dir = TempDir::new().expect("tempdir");
    rt().block_on(async {
        append_and_close(dir.path(), 1..=3).await;
        // Reopen (the zero tail is room, not a torn frame), append after
        // it, reopen again: every entry, in order.
        append_and_close(dir.path(), 4..=6).await;
        let mut log = LogStore::open(dir.path()).expect("reopen 2");
        let got = log.try_get_log_entries(0..100).await.expect("read");
        assert_eq!(
            got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
    });
}

#[test]
fn zeros_are_written_ahead_of_the_frames_and_go_with_a_cut() {
    use super::log_store::{valid_end, ZERO_CHUNK};
    use openraft::storage::RaftLogStorageExt;
    let dir = TempDir::new().expect("tempdir");
    let segment = || first_segment(dir.path());
    let big = |tag: &str| format!("{tag}{}", "v".repeat(100_000));
    rt().block_on(async {
        let mut log = LogStore::open(dir.path()).expect("open");
        // 30 frames of ~100 KB: the frames cross three zero chunks.
        for i in 1..=30 {
            log.blocking_append([cmd(i, &["set", "k", &big("a")])])
                .await
                .expect("append");
            let end = valid_end(&segment()).expect("frames");
            let ahead = log.zeroed_to();
            assert!(
                ahead >= end + ZERO_CHUNK / 2,
                "entry {i}: zeros end at {ahead}, frames at {end}"
            );
            let mut room = vec![1u8; (ahead - end) as usize];
            let f = std::fs::File::open(segment()).expect("open segment");
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut room, end).expect("read");
            assert!(room.iter().all(|b| *b == 0));
        }
        // A cut takes the zeros with it; appends after it write theirs again.
        log.truncate(log_id(1, 15)).await.expect("truncate");
        assert_eq!(log.zeroed_to(), valid_end(&segment()).expect("frames"));
        for i in 15..=20 {
            log.blocking_append([cmd(i, &["set", "k", &big("b")])])
                .await
                .expect("append");
        }
        assert!(log.zeroed_to() >= valid_end(&segment()).expect("frames") + ZERO_CHUNK / 2);
        drop(log);
        let mut log = LogStore::open(dir.path()).expect("reopen");
        let got = log.try_get_log_entries(0..100).await.expect("read");
        assert_eq!(
            got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            (1..=20).collect::<Vec<_>>()
        );
        for e in &got {
            let EntryPayload::Normal(Request::Command { argv, .. }) = &e.payload else {
                panic!("entry {} is not a command", e.log_id.index);
            };
            let want = if e.log_id.index < 15 {
                big("a")
            } else {
                big("b")
            };
            assert_eq!(argv[2], want.as_bytes(), "entry {}", e.log_id.index);
        }
    });
}

#[test]
fn corruption_in_a_sealed_position_is_cut_only_at_the_tail() {
    let dir = TempDir::new().expect("tempdir");
    rt().block_on(async {
        append_and_close(dir.path(), 1..=3).await;
        let seg = first_segment(dir.path());
        let mut bytes = std::fs::read(&seg).expect("read");
        // Flip a byte inside the last frame's payload (the file may be
        // longer: preallocated zeros).
        let n = super::log_store::valid_end(&seg).expect("end") as usize;
        bytes[n - 3] ^= 0xFF;
        std::fs::write(&seg, &bytes).expect("write");
        let mut log = LogStore::open(dir.path()).expect("reopen");
        let got = log.try_get_log_entries(0..100).await.expect("read");
        assert_eq!(got.len(), 2);
    });
}

#[test]
fn applied_entries_are_not_reapplied_after_restart() {
    let dir = TempDir::new().expect("tempdir");
    rt().block_on(async {
        {
            let ks = keyspace(&dir.path().join("data"));
            let mut sm = StateMachine::open(ks, dir.path().join("raft")).expect("sm");
            let out = sm
                .apply([cmd(1, &["incr", "n"]), cmd(2, &["incr", "n"])])
                .await
                .expect("apply");
            assert_eq!(out[1].replies, vec![Reply::Integer(2)]);
            // An entry whose command is rejected still counts as applied.
            sm.apply([cmd(3, &["nosuchcommand"])]).await.expect("apply");
        }
        let ks = keyspace(&dir.path().join("data"));
        let mut sm = StateMachine::open(ks.clone(), dir.path().join("raft")).expect("sm");
        let (applied, _) = sm.applied_state().await.expect("state");
        assert_eq!(applied, Some(log_id(1, 3)));
        let got = ks.execute(
            &Ctx::new(2_000, 0, 0),
            &[Bytes::from("get"), Bytes::from("n")],
        );
        assert_eq!(got, Reply::bulk("2"));
    });
}

#[test]
fn snapshot_round_trip_replaces_the_keyspace() {
    let a = TempDir::new().expect("tempdir");
    let b = TempDir::new().expect("tempdir");
    rt().block_on(async {
        let ks_a = keyspace(&a.path().join("data"));
        let mut sm_a = StateMachine::open(ks_a.clone(), a.path().join("raft")).expect("sm");
        sm_a.apply([
            cmd(1, &["set", "s", "hello"]),
            cmd(2, &["set", "t", "x", "pxat", "99999999"]),
            cmd(3, &["mset", "l", "a", "m", "b"]),
        ])
        .await
        .expect("apply");
        let snap = sm_a
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        assert_eq!(snap.meta.last_log_id, Some(log_id(1, 3)));

        let ks_b = keyspace(&b.path().join("data"));
        ks_b.execute(
            &Ctx::new(1, 0, 0),
            &[Bytes::from("set"), Bytes::from("stale"), Bytes::from("1")],
        );
        let mut sm_b = StateMachine::open(ks_b.clone(), b.path().join("raft")).expect("sm");
        sm_b.install_snapshot(&snap.meta, snap.snapshot)
            .await
            .expect("install");
        let ctx = Ctx::new(2_000, 0, 0);
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("get"), Bytes::from("s")]),
            Reply::bulk("hello")
        );
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("get"), Bytes::from("stale")]),
            Reply::Nil
        );
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("pexpiretime"), Bytes::from("t")]),
            Reply::Integer(99_999_999)
        );
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("get"), Bytes::from("m")]),
            Reply::bulk("b")
        );
        drop(sm_b);
        drop(ks_b);
        // The import is durable and carries the applied id.
        let ks_b = keyspace(&b.path().join("data"));
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("get"), Bytes::from("s")]),
            Reply::bulk("hello")
        );
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("get"), Bytes::from("stale")]),
            Reply::Nil
        );
        let mut sm_b = StateMachine::open(ks_b, b.path().join("raft")).expect("sm");
        assert_eq!(
            sm_b.applied_state().await.expect("state").0,
            Some(log_id(1, 3))
        );
        let cur = sm_b
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("some");
        assert_eq!(cur.meta.last_log_id, Some(log_id(1, 3)));
    });
}

/// The names of the files in `dir`, sorted.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Builds a snapshot.
async fn build(sm: &mut StateMachine) -> openraft::storage::Snapshot<TypeConfig> {
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build")
}

/// The current snapshot data file of the raft directory `raft`.
fn data_file(raft: &std::path::Path) -> std::path::PathBuf {
    let name = files(raft)
        .into_iter()
        .find(|f| f.ends_with(".data"))
        .expect("a data file");
    raft.join(name)
}

/// A state machine over a fresh keyspace with `n` keys applied at log
/// indexes 1..=n.
async fn filled(dir: &std::path::Path, n: u64) -> (Arc<Keyspace>, StateMachine) {
    let ks = keyspace(&dir.join("data"));
    let mut sm = StateMachine::open(ks.clone(), dir.join("raft")).expect("sm");
    let entries: Vec<Entry> = (1..=n)
        .map(|i| cmd(i, &["set", &format!("k{i}"), &format!("v{i}")]))
        .collect();
    sm.apply(entries).await.expect("apply");
    (ks, sm)
}

#[test]
fn snapshot_data_lives_in_one_file_that_a_new_build_replaces() {
    use tokio::io::AsyncReadExt;
    let a = TempDir::new().expect("tempdir");
    let raft = a.path().join("raft");
    rt().block_on(async {
        let (ks, mut sm) = filled(a.path(), 50).await;
        let first = build(&mut sm).await;
        let listed = files(&raft);
        let data: Vec<&String> = listed.iter().filter(|f| f.ends_with(".data")).collect();
        assert_eq!(data.len(), 1, "{listed:?}");
        assert!(listed.contains(&"snapshot.json".to_string()), "{listed:?}");
        // What the builder hands to openraft is the file's content.
        let mut sent = Vec::new();
        let mut handle = first.snapshot;
        handle.read_to_end(&mut sent).await.expect("read");
        assert_eq!(sent, std::fs::read(raft.join(data[0])).expect("data"));
        let (_, records) = decode_snapshot(&sent).expect("decode");
        assert_eq!(records.len(), 50);

        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = build(&mut sm).await;
        assert_ne!(second.meta.snapshot_id, first.meta.snapshot_id);
        let listed = files(&raft);
        assert_eq!(
            listed.iter().filter(|f| f.ends_with(".data")).count(),
            1,
            "the old data file is removed: {listed:?}"
        );
        // Leftovers of an interrupted build or transfer go at open.
        std::fs::write(raft.join("receive-1-1.tmp"), b"partial").expect("write");
        std::fs::write(raft.join("snap-stale.data"), b"old").expect("write");
        drop(sm);
        drop(ks);
        let ks = keyspace(&a.path().join("data"));
        let mut sm = StateMachine::open(ks, &raft).expect("sm");
        let listed = files(&raft);
        assert!(
            !listed
                .iter()
                .any(|f| f.ends_with(".tmp") || f == "snap-stale.data"),
            "{listed:?}"
        );
        let cur = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("some");
        assert_eq!(cur.meta, second.meta);
    });
}

#[test]
fn a_snapshot_received_in_chunks_is_installed_from_its_file() {
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let a = TempDir::new().expect("tempdir");
    let b = TempDir::new().expect("tempdir");
    rt().block_on(async {
        let (_ks_a, mut sm_a) = filled(a.path(), 30).await;
        let snap = build(&mut sm_a).await;
        let data = std::fs::read(data_file(&a.path().join("raft"))).expect("read");
        let ks_b = keyspace(&b.path().join("data"));
        let mut sm_b = StateMachine::open(ks_b.clone(), b.path().join("raft")).expect("sm");
        let mut rx = sm_b.begin_receiving_snapshot().await.expect("begin");
        // Chunks arrive at offsets, the last one first here.
        let cut = data.len() / 2;
        rx.seek(std::io::SeekFrom::Start(cut as u64))
            .await
            .expect("seek");
        rx.write_all(&data[cut..]).await.expect("write");
        rx.seek(std::io::SeekFrom::Start(0)).await.expect("seek");
        rx.write_all(&data[..cut]).await.expect("write");
        rx.shutdown().await.expect("flush");
        sm_b.install_snapshot(&snap.meta, rx)
            .await
            .expect("install");
        assert_eq!(
            ks_b.execute(
                &Ctx::new(2_000, 0, 0),
                &[Bytes::from("get"), Bytes::from("k7")]
            ),
            Reply::bulk("v7")
        );
        let listed = files(&b.path().join("raft"));
        assert!(
            !listed.iter().any(|f| f.ends_with(".tmp")),
            "the received file is adopted: {listed:?}"
        );
        assert_eq!(
            std::fs::read(data_file(&b.path().join("raft"))).expect("read"),
            data
        );
    });
}

#[test]
fn a_damaged_snapshot_file_is_refused_and_changes_nothing() {
    use tokio::io::AsyncWriteExt;
    let a = TempDir::new().expect("tempdir");
    let b = TempDir::new().expect("tempdir");
    rt().block_on(async {
        let (_ks_a, mut sm_a) = filled(a.path(), 20).await;
        let snap = build(&mut sm_a).await;
        let mut data = std::fs::read(data_file(&a.path().join("raft"))).expect("read");
        let mid = data.len() / 2;
        data[mid] ^= 0x10;
        let (ks_b, mut sm_b) = filled(b.path(), 1).await;
        let mut rx = sm_b.begin_receiving_snapshot().await.expect("begin");
        rx.write_all(&data).await.expect("write");
        rx.shutdown().await.expect("flush");
        let err = sm_b.install_snapshot(&snap.meta, rx).await;
        assert!(err.is_err());
        let ctx = Ctx::new(2_000, 0, 0);
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("get"), Bytes::from("k1")]),
            Reply::bulk("v1")
        );
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("dbsize")]),
            Reply::Integer(1)
        );
        assert!(sm_b
            .get_current_snapshot()
            .await
            .expect("current")
            .is_none());
    });
}

#[test]
fn a_snapshot_file_of_the_earlier_format_is_converted() {
    let a = TempDir::new().expect("tempdir");
    let raft = a.path().join("raft");
    rt().block_on(async {
        let (ks, mut sm) = filled(a.path(), 5).await;
        let snap = build(&mut sm).await;
        drop(sm);
        drop(ks);
        let path = data_file(&raft);
        let data = std::fs::read(&path).expect("read");
        std::fs::remove_file(&path).expect("rm");
        std::fs::remove_file(raft.join("snapshot.json")).expect("rm");
        // meta_len u32 LE | SnapshotMeta JSON | data
        let m = serde_json::to_vec(&snap.meta).expect("json");
        let mut old = (m.len() as u32).to_le_bytes().to_vec();
        old.extend_from_slice(&m);
        old.extend_from_slice(&data);
        std::fs::write(raft.join("snapshot.bin"), old).expect("write");
        let ks = keyspace(&a.path().join("data"));
        let mut sm = StateMachine::open(ks, &raft).expect("sm");
        let cur = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("some");
        assert_eq!(cur.meta, snap.meta);
        assert!(!raft.join("snapshot.bin").exists());
    });
}

#[test]
fn snapshot_codec_rejects_damage() {
    let meta = super::state_machine::SmMeta::default();
    let data = encode_snapshot(&meta, &[]).expect("encode");
    assert!(decode_snapshot(&data).is_ok());
    let mut bad = data.clone();
    bad[6] ^= 1;
    assert!(decode_snapshot(&bad).is_err());
    assert!(decode_snapshot(&data[..data.len() - 1]).is_err());
    let _ = Cursor::new(data);
}

#[test]
fn relative_ttls_become_deadlines() {
    let argv = |v: &[&str]| {
        v.iter()
            .map(|a| Bytes::from(a.to_string()))
            .collect::<Vec<_>>()
    };
    let s = |v: Vec<Bytes>| {
        v.into_iter()
            .map(|a| String::from_utf8(a.to_vec()).expect("utf8"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        s(normalise(&argv(&["SET", "k", "v", "EX", "10"]), 1_000)),
        ["SET", "k", "v", "PXAT", "11000"]
    );
    // `rewritten` (what a packed batch uses) says when nothing changes.
    for unchanged in [
        &["set", "k", "v"][..],
        &["set", "k", "v", "exat", "5", "nx"],
        &["expire", "k", "-2"],
        &["restore", "k", "0", "p"],
        &["incr", "ex"],
    ] {
        assert_eq!(rewritten(&argv(unchanged), 1_000), None, "{unchanged:?}");
    }
    assert_eq!(
        rewritten(&argv(&["pexpire", "k", "5"]), 1_000).map(s),
        Some(vec!["PEXPIREAT".into(), "k".into(), "1005".into()])
    );
    assert_eq!(
        s(normalise(&argv(&["set", "k", "v", "px", "5", "nx"]), 1_000)),
        ["set", "k", "v", "PXAT", "1005", "nx"]
    );
    assert_eq!(
        s(normalise(&argv(&["expire", "k", "2", "nx"]), 1_000)),
        ["PEXPIREAT", "k", "3000", "nx"]
    );
    assert_eq!(
        s(normalise(&argv(&["expire", "k", "-2"]), 1_000)),
        ["expire", "k", "-2"]
    );
    assert_eq!(
        s(normalise(&argv(&["set", "ex", "px"]), 1_000)),
        ["set", "ex", "px"]
    );
    assert_eq!(
        s(normalise(
            &argv(&["RESTORE", "k", "500", "p", "REPLACE"]),
            1_000
        )),
        ["RESTORE", "k", "1500", "p", "REPLACE", "ABSTTL"]
    );
    assert_eq!(
        s(normalise(&argv(&["restore", "k", "0", "p"]), 1_000)),
        ["restore", "k", "0", "p"]
    );
    assert_eq!(
        s(normalise(
            &argv(&["restore", "k", "7000", "p", "absttl"]),
            1_000
        )),
        ["restore", "k", "7000", "p", "absttl"]
    );
    assert_eq!(
        s(normalise(
            &argv(&["restore", "k", "5", "p", "IDLETIME", "absttl"]),
            1_000
        )),
        ["restore", "k", "1005", "p", "IDLETIME", "absttl", "ABSTTL"]
    );
    assert_eq!(
        s(normalise(&argv(&["restore", "k", "-5", "p"]), 1_000)),
        ["restore", "k", "-5", "p"]
    );
}

/// A batch entry: packed (what the proposer makes now) or in the older
/// `Request::Batch` form (still applied from old logs).
fn batch(index: u64, argvs: &[&[&str]], packed: bool) -> Entry {
    let reqs: Vec<Request> = argvs
        .iter()
        .map(|argv| Request::Command {
            db: 0,
            now_ms: 1_000,
            rng_seed: 7,
            argv: argv
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        })
        .collect();
    let req = if packed {
        Request::Packed(super::packed::Packed::pack(&reqs))
    } else {
        Request::Batch(reqs.into())
    };
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(req),
    }
}

#[test]
fn batch_entries_split_replies_and_resume_after_a_crash_mid_entry() {
    for packed in [true, false] {
        batch_entries_split_replies_and_resume(packed);
    }
}

fn batch_entries_split_replies_and_resume(packed: bool) {
    let dir = TempDir::new().expect("tempdir");
    rt().block_on(async {
        let ks = keyspace(&dir.path().join("data"));
        let mut sm = StateMachine::open(ks.clone(), dir.path().join("raft")).expect("sm");
        let out = sm
            .apply([batch(
                1,
                &[&["incr", "n"], &["incr", "n"], &["get", "n"]],
                packed,
            )])
            .await
            .expect("apply");
        assert_eq!(
            out[0].replies,
            vec![
                Reply::Integer(1),
                Reply::Integer(2),
                Reply::Bulk(Bytes::from_static(b"2"))
            ]
        );
        // A crash after the first sub-request of entry 2: the metadata says
        // entry 1 is applied and one sub-request of entry 2 too.
        let meta = super::state_machine::SmMeta {
            last_applied: Some(log_id(1, 1)),
            partial: Some((log_id(1, 2), 1)),
            ..Default::default()
        };
        ks.execute(
            &Ctx::new(1_000, 0, 0),
            &[Bytes::from("incr"), Bytes::from("m")],
        );
        ks.put_raft_meta(Bytes::from(serde_json::to_vec(&meta).expect("json")))
            .expect("meta");
        drop(sm);
        let mut sm = StateMachine::open(ks.clone(), dir.path().join("raft")).expect("sm");
        assert_eq!(
            sm.applied_state().await.expect("state").0,
            Some(log_id(1, 1))
        );
        sm.apply([batch(2, &[&["incr", "m"], &["incr", "m"]], packed)])
            .await
            .expect("apply");
        let ctx = Ctx::new(2_000, 0, 0);
        assert_eq!(
            ks.execute(&ctx, &[Bytes::from("get"), Bytes::from("m")]),
            Reply::bulk("2")
        );
        assert_eq!(
            sm.applied_state().await.expect("state").0,
            Some(log_id(1, 2))
        );
    });
}

#[test]
fn node_names_and_addresses_are_validated() {
    let info = |name: &str, addr: &str| super::NodeInfo {
        name: name.to_owned(),
        raft_addr: addr.to_owned(),
    };
    assert!(info("node1", "127.0.0.1:7000").validate().is_ok());
    assert!(info("n-2.a_b", "[::1]:7000").validate().is_ok());
    assert!(info("db.example", "db.example:7000").validate().is_ok());
    for (name, addr) in [
        ("", "127.0.0.1:7000"),
        ("../../etc/passwd", "127.0.0.1:7000"),
        ("a b", "127.0.0.1:7000"),
        (&"x".repeat(65), "127.0.0.1:7000"),
        ("n1", "127.0.0.1"),
        ("n1", "127.0.0.1:0"),
        ("n1", "127.0.0.1:99999"),
        ("n1", ":7000"),
        ("n1", "host/../x:7000"),
    ] {
        assert!(info(name, addr).validate().is_err(), "{name:?} {addr:?}");
    }
}

/// `Request` as it was up to session 18 (arguments as `Vec<u8>`): raft logs
/// and peers of that version must still read the same bytes.
#[derive(serde::Serialize)]
enum OldRequest {
    Command {
        db: usize,
        now_ms: u64,
        rng_seed: u64,
        argv: Vec<Vec<u8>>,
    },
    Transaction {
        db: usize,
        now_ms: u64,
        rng_seed: u64,
        cmds: Vec<Vec<Vec<u8>>>,
    },
    #[allow(dead_code)]
    ExpireCycle {
        now_ms: u64,
    },
    Batch(Vec<OldRequest>),
}

#[test]
fn arguments_as_bytes_keep_the_log_and_wire_encoding() {
    use bincode::Options;
    let codec = || bincode::DefaultOptions::new();
    let args: Vec<Vec<u8>> = vec![b"SET".to_vec(), b"k\r\n\0\xff".to_vec(), vec![7u8; 300]];
    let old = OldRequest::Batch(vec![
        OldRequest::Command {
            db: 3,
            now_ms: 1_700_000_000_000,
            rng_seed: 42,
            argv: args.clone(),
        },
        OldRequest::Transaction {
            db: 0,
            now_ms: 5,
            rng_seed: 6,
            cmds: vec![args.clone(), Vec::new()],
        },
    ]);
    let b = |v: &[Vec<u8>]| v.iter().map(|a| Bytes::from(a.clone())).collect::<Vec<_>>();
    let new = Request::Batch(
        vec![
            Request::Command {
                db: 3,
                now_ms: 1_700_000_000_000,
                rng_seed: 42,
                argv: b(&args).into(),
            },
            Request::Transaction {
                db: 0,
                now_ms: 5,
                rng_seed: 6,
                cmds: vec![b(&args), Vec::new()],
            },
        ]
        .into(),
    );
    let old_bytes = codec().serialize(&old).expect("old encodes");
    assert_eq!(codec().serialize(&new).expect("new encodes"), old_bytes);
    let back: Request = codec().deserialize(&old_bytes).expect("old bytes decode");
    assert_eq!(back, new);
}

#[test]
fn responses_serialise_through_wire_replies() {
    use bincode::Options;
    let resp = super::Response {
        replies: vec![
            Reply::ok(),
            Reply::error("ERR no"),
            Reply::Integer(-3),
            Reply::Bulk(Bytes::from_static(b"a\r\n\0")),
            Reply::Array(vec![Reply::Nil, Reply::Double(1.5)]),
        ],
    };
    let codec = || bincode::DefaultOptions::new();
    let bytes = codec().serialize(&resp).expect("encodes");
    let wire: Vec<super::WireReply> = resp.replies.iter().map(Into::into).collect();
    assert_eq!(bytes, codec().serialize(&wire).expect("wire encodes"));
    let back: super::Response = codec().deserialize(&bytes).expect("decodes");
    assert_eq!(back, resp);
}

#[test]
fn a_streamed_snapshot_of_every_type_installs_the_same_dataset() {
    let a = TempDir::new().expect("tempdir");
    let b = TempDir::new().expect("tempdir");
    rt().block_on(async {
        let ks_a = keyspace(&a.path().join("data"));
        let mut sm_a = StateMachine::open(ks_a.clone(), a.path().join("raft")).expect("sm");
        let mut entries = vec![
            cmd(1, &["set", "s", "v", "pxat", "99999999999"]),
            cmd(2, &["rpush", "l", "a", "b", "c"]),
            cmd(3, &["hset", "h", "f1", "1", "f2", "2"]),
            cmd(4, &["sadd", "set", "x", "y"]),
            cmd(5, &["zadd", "z", "1.5", "m1", "-3", "m2"]),
            cmd(6, &["bf.add", "bloom", "item"]),
            cmd(7, &["incr", "counter"]),
        ];
        // A big collection streams as many records (one per element).
        let many: Vec<String> = (0..2000).map(|i| format!("e{i}")).collect();
        let mut sadd = vec!["sadd", "big"];
        sadd.extend(many.iter().map(String::as_str));
        entries.push(cmd(8, &sadd));
        sm_a.apply(entries).await.expect("apply");
        let snap = build(&mut sm_a).await;
        assert_eq!(snap.meta.last_log_id, Some(log_id(1, 8)));

        let ks_b = keyspace(&b.path().join("data"));
        let mut sm_b = StateMachine::open(ks_b.clone(), b.path().join("raft")).expect("sm");
        sm_b.install_snapshot(&snap.meta, snap.snapshot)
            .await
            .expect("install");
        assert_ne!(ks_a.digest(), [0u8; 20]);
        assert_eq!(ks_a.digest(), ks_b.digest());
        let ctx = Ctx::new(2_000, 0, 0);
        assert_eq!(
            ks_b.execute(&ctx, &[Bytes::from("scard"), Bytes::from("big")]),
            Reply::Integer(2000)
        );
        assert_eq!(
            ks_b.execute(
                &ctx,
                &[Bytes::from("zscore"), Bytes::from("z"), Bytes::from("m2")]
            ),
            Reply::Double(-3.0)
        );
        assert_eq!(
            sm_b.applied_state().await.expect("state").0,
            Some(log_id(1, 8))
        );
    });
}
