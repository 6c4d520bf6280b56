//! Model-based test of the storage `Engine` against a `BTreeMap`: random
//! put / get / delete / expire / batch / merge / reopen sequences, for every
//! index kind.

use std::collections::BTreeMap;
use std::ops::Bound;

use fincaskv::storage::{Engine, FsyncPolicy, IndexKind, Options, WriteBatch};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16),
    PutExpired(u8, u16),
    PutFutureTtl(u8, u16),
    Get(u8),
    Delete(u8),
    Batch(Vec<(u8, Option<u16>)>),
    Merge,
    Reopen,
    Scan(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..40, any::<u16>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => (0u8..40, any::<u16>()).prop_map(|(k, v)| Op::PutExpired(k, v)),
        1 => (0u8..40, any::<u16>()).prop_map(|(k, v)| Op::PutFutureTtl(k, v)),
        4 => (0u8..40).prop_map(Op::Get),
        3 => (0u8..40).prop_map(Op::Delete),
        2 => proptest::collection::vec((0u8..40, proptest::option::of(any::<u16>())), 1..6)
            .prop_map(Op::Batch),
        1 => Just(Op::Merge),
        1 => Just(Op::Reopen),
        1 => (1u8..20).prop_map(Op::Scan),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k:03}").into_bytes()
}

/// Values vary in length so that records straddle small files.
fn value(v: u16) -> Vec<u8> {
    let mut out = v.to_le_bytes().to_vec();
    out.resize(2 + (v % 97) as usize, b'x');
    out
}

fn open(dir: &std::path::Path, kind: IndexKind) -> Engine {
    Engine::open(
        Options::new(dir)
            .with_index(kind)
            .with_fsync(FsyncPolicy::No)
            .with_max_file_size(4096)
            .with_cache_bytes(if kind == IndexKind::BTree { 0 } else { 1 << 16 })
            .with_merge_interval(None),
    )
    .expect("open")
}

fn check_all(e: &Engine, model: &BTreeMap<Vec<u8>, Vec<u8>>) -> Result<(), TestCaseError> {
    for k in 0..40u8 {
        let got = e.get(&key(k)).expect("get").map(|b| b.to_vec());
        prop_assert_eq!(got, model.get(&key(k)).cloned(), "key {}", k);
    }
    prop_assert_eq!(e.len(), model.len());
    Ok(())
}

fn run(kind: IndexKind, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut e = open(dir.path(), kind);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let far = fincaskv::storage::now_ms() + 3_600_000;
    for op in ops {
        match op {
            Op::Put(k, v) => {
                e.put(&key(*k), &value(*v)).expect("put");
                model.insert(key(*k), value(*v));
            }
            Op::PutExpired(k, v) => {
                e.put_expire_at(&key(*k), &value(*v), 1).expect("put");
                model.remove(&key(*k));
            }
            Op::PutFutureTtl(k, v) => {
                e.put_expire_at(&key(*k), &value(*v), far).expect("put");
                model.insert(key(*k), value(*v));
            }
            Op::Get(k) => {
                let got = e.get(&key(*k)).expect("get").map(|b| b.to_vec());
                prop_assert_eq!(got, model.get(&key(*k)).cloned());
            }
            Op::Delete(k) => {
                let existed = e.delete(&key(*k)).expect("delete");
                prop_assert_eq!(existed, model.remove(&key(*k)).is_some());
            }
            Op::Batch(items) => {
                let mut b = WriteBatch::new();
                for (k, v) in items {
                    match v {
                        Some(v) => {
                            b.put(&key(*k), &value(*v));
                            model.insert(key(*k), value(*v));
                        }
                        None => {
                            b.delete(&key(*k));
                            model.remove(&key(*k));
                        }
                    }
                }
                e.write(&b).expect("batch");
            }
            Op::Merge => {
                e.merge().expect("merge");
                check_all(&e, &model)?;
            }
            Op::Reopen => {
                drop(e);
                e = open(dir.path(), kind);
                check_all(&e, &model)?;
            }
            Op::Scan(count) => {
                let mut seen = std::collections::BTreeSet::new();
                let mut cursor = 0;
                loop {
                    let (next, keys) = e.scan(cursor, usize::from(*count));
                    seen.extend(keys.into_iter().map(|b| b.to_vec()));
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
                let want: std::collections::BTreeSet<_> = model.keys().cloned().collect();
                prop_assert_eq!(seen, want);
                if kind != IndexKind::Hash {
                    let keys = e
                        .keys_range(Bound::Unbounded, Bound::Unbounded)
                        .expect("ordered");
                    let keys: Vec<Vec<u8>> = keys.into_iter().map(|b| b.to_vec()).collect();
                    let want: Vec<_> = model.keys().cloned().collect();
                    prop_assert_eq!(keys, want);
                }
            }
        }
    }
    check_all(&e, &model)?;
    drop(e);
    let e = open(dir.path(), kind);
    check_all(&e, &model)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn hash_engine_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(IndexKind::Hash, &ops)?;
    }

    #[test]
    fn btree_engine_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(IndexKind::BTree, &ops)?;
    }

    #[test]
    fn skiplist_engine_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(IndexKind::SkipList, &ops)?;
    }
}
