//! Model-based property tests of hashes, sets and sorted sets: random
//! operations run against the keyspace and against plain `BTreeMap` /
//! `BTreeSet` models, with reopen and merge in between; every reply and the
//! full contents (ranks included) must agree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000_000;
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn open(dir: &std::path::Path) -> Keyspace {
    let opts = Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_max_file_size(8 * 1024);
    Keyspace::open(Config::new(opts)).expect("open keyspace")
}

fn run(ks: &Keyspace, parts: &[&[u8]]) -> Reply {
    let argv: Vec<Bytes> = parts.iter().map(|p| Bytes::copy_from_slice(p)).collect();
    ks.execute(&Ctx::new(NOW, 1, 0), &argv)
}

fn bulk(v: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(v))
}

#[derive(Debug, Clone)]
enum Op {
    HSet(u8, u8, Vec<u8>),
    HDel(u8, u8),
    HIncrBy(u8, u8, i8),
    SAdd(u8, Vec<u8>),
    SRem(u8, Vec<u8>),
    SPop(u8),
    ZAdd(u8, i8, u8),
    ZIncrBy(u8, i8, u8),
    ZRem(u8, u8),
    ZPopMin(u8),
    ZRemRangeByRank(u8, i8, i8),
    Del(u8),
    Rename(u8, u8),
    Copy(u8, u8),
    Reopen,
    Merge,
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..4;
    let m = 0u8..12;
    prop_oneof![
        (
            k.clone(),
            m.clone(),
            proptest::collection::vec(any::<u8>(), 0..12)
        )
            .prop_map(|(k, f, v)| Op::HSet(k, f, v)),
        (k.clone(), m.clone()).prop_map(|(k, f)| Op::HDel(k, f)),
        (k.clone(), m.clone(), any::<i8>()).prop_map(|(k, f, n)| Op::HIncrBy(k, f, n)),
        (k.clone(), proptest::collection::vec(m.clone(), 1..4)).prop_map(|(k, v)| Op::SAdd(k, v)),
        (k.clone(), proptest::collection::vec(m.clone(), 1..3)).prop_map(|(k, v)| Op::SRem(k, v)),
        k.clone().prop_map(Op::SPop),
        (k.clone(), -5i8..5, m.clone()).prop_map(|(k, s, mm)| Op::ZAdd(k, s, mm)),
        (k.clone(), -3i8..3, m.clone()).prop_map(|(k, s, mm)| Op::ZIncrBy(k, s, mm)),
        (k.clone(), m.clone()).prop_map(|(k, mm)| Op::ZRem(k, mm)),
        k.clone().prop_map(Op::ZPopMin),
        (k.clone(), -4i8..4, -4i8..4).prop_map(|(k, s, e)| Op::ZRemRangeByRank(k, s, e)),
        k.clone().prop_map(Op::Del),
        (k.clone(), k.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        (k.clone(), k.clone()).prop_map(|(a, b)| Op::Copy(a, b)),
        Just(Op::Reopen),
        Just(Op::Merge),
    ]
}

#[derive(Clone, Debug)]
enum M {
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(BTreeMap<Vec<u8>, f64>),
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k]
}

fn member(m: u8) -> Vec<u8> {
    format!("m{m}").into_bytes()
}

/// Members of a zset model in (score, member) order.
fn zorder(z: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Applies `op` to the model; returns the expected reply (`None` = not
/// checked: SPOP picks at random, checked separately).
fn apply(model: &mut HashMap<u8, M>, op: &Op) -> Option<Reply> {
    let wrong = || Some(Reply::Error(WRONGTYPE.to_owned()));
    match op {
        Op::HSet(k, f, v) => {
            let e = model.entry(*k).or_insert_with(|| M::Hash(BTreeMap::new()));
            let M::Hash(h) = e else { return wrong() };
            let new = h.insert(member(*f), v.clone()).is_none();
            Some(Reply::Integer(i64::from(new)))
        }
        Op::HDel(k, f) => match model.get_mut(k) {
            None => Some(Reply::Integer(0)),
            Some(M::Hash(h)) => {
                let n = i64::from(h.remove(&member(*f)).is_some());
                if h.is_empty() {
                    model.remove(k);
                }
                Some(Reply::Integer(n))
            }
            Some(_) => wrong(),
        },
        Op::HIncrBy(k, f, n) => {
            let e = model.entry(*k).or_insert_with(|| M::Hash(BTreeMap::new()));
            let M::Hash(h) = e else { return wrong() };
            let cur = match h.get(&member(*f)) {
                None => 0,
                Some(v) => match std::str::from_utf8(v)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok().filter(|x| x.to_string() == t))
                {
                    Some(x) => x,
                    None => {
                        if h.is_empty() {
                            model.remove(k);
                        }
                        return Some(Reply::Error("ERR hash value is not an integer".into()));
                    }
                },
            };
            let new = cur + i64::from(*n);
            h.insert(member(*f), new.to_string().into_bytes());
            Some(Reply::Integer(new))
        }
        Op::SAdd(k, ms) => {
            let e = model.entry(*k).or_insert_with(|| M::Set(BTreeSet::new()));
            let M::Set(s) = e else { return wrong() };
            let n = ms.iter().filter(|m| s.insert(member(**m))).count();
            Some(Reply::Integer(n as i64))
        }
        Op::SRem(k, ms) => match model.get_mut(k) {
            None => Some(Reply::Integer(0)),
            Some(M::Set(s)) => {
                let n = ms.iter().filter(|m| s.remove(&member(**m))).count();
                if s.is_empty() {
                    model.remove(k);
                }
                Some(Reply::Integer(n as i64))
            }
            Some(_) => wrong(),
        },
        Op::SPop(_) => None,
        Op::ZAdd(k, s, m) => {
            let e = model.entry(*k).or_insert_with(|| M::ZSet(BTreeMap::new()));
            let M::ZSet(z) = e else { return wrong() };
            let new = z.insert(member(*m), f64::from(*s)).is_none();
            Some(Reply::Integer(i64::from(new)))
        }
        Op::ZIncrBy(k, by, m) => {
            let e = model.entry(*k).or_insert_with(|| M::ZSet(BTreeMap::new()));
            let M::ZSet(z) = e else { return wrong() };
            let v = z.entry(member(*m)).or_insert(0.0);
            *v += f64::from(*by);
            *v += 0.0;
            Some(Reply::Double(*v))
        }
        Op::ZRem(k, m) => match model.get_mut(k) {
            None => Some(Reply::Integer(0)),
            Some(M::ZSet(z)) => {
                let n = i64::from(z.remove(&member(*m)).is_some());
                if z.is_empty() {
                    model.remove(k);
                }
                Some(Reply::Integer(n))
            }
            Some(_) => wrong(),
        },
        Op::ZPopMin(k) => match model.get_mut(k) {
            None => Some(Reply::Array(Vec::new())),
            Some(M::ZSet(z)) => {
                let (m, s) = zorder(z).remove(0);
                z.remove(&m);
                if z.is_empty() {
                    model.remove(k);
                }
                Some(Reply::Array(vec![bulk(&m), Reply::Double(s)]))
            }
            Some(_) => wrong(),
        },
        Op::ZRemRangeByRank(k, s, e) => match model.get_mut(k) {
            None => Some(Reply::Integer(0)),
            Some(M::ZSet(z)) => {
                let len = z.len() as i64;
                let mut s = i64::from(*s);
                let mut e = i64::from(*e);
                if s < 0 {
                    s += len;
                }
                if e < 0 {
                    e += len;
                }
                s = s.max(0);
                if s > e || s >= len {
                    return Some(Reply::Integer(0));
                }
                e = e.min(len - 1);
                let order = zorder(z);
                for (m, _) in &order[s as usize..=e as usize] {
                    z.remove(m);
                }
                if z.is_empty() {
                    model.remove(k);
                }
                Some(Reply::Integer(e - s + 1))
            }
            Some(_) => wrong(),
        },
        Op::Del(k) => Some(Reply::Integer(i64::from(model.remove(k).is_some()))),
        Op::Rename(a, b) => match model.remove(a) {
            None => Some(Reply::Error("ERR no such key".into())),
            Some(v) => {
                model.insert(*b, v);
                Some(Reply::ok())
            }
        },
        Op::Copy(a, b) => {
            if a == b {
                return Some(Reply::Error(
                    "ERR source and destination objects are the same".into(),
                ));
            }
            match (model.get(a).cloned(), model.contains_key(b)) {
                (Some(v), false) => {
                    model.insert(*b, v);
                    Some(Reply::Integer(1))
                }
                _ => Some(Reply::Integer(0)),
            }
        }
        Op::Reopen | Op::Merge => None,
    }
}

fn argv_of(op: &Op) -> Vec<Vec<u8>> {
    let s = |x: &str| x.as_bytes().to_vec();
    match op {
        Op::HSet(k, f, v) => vec![s("HSET"), key(*k), member(*f), v.clone()],
        Op::HDel(k, f) => vec![s("HDEL"), key(*k), member(*f)],
        Op::HIncrBy(k, f, n) => vec![s("HINCRBY"), key(*k), member(*f), s(&n.to_string())],
        Op::SAdd(k, ms) | Op::SRem(k, ms) => {
            let name = if matches!(op, Op::SAdd(..)) {
                "SADD"
            } else {
                "SREM"
            };
            let mut v = vec![s(name), key(*k)];
            v.extend(ms.iter().map(|m| member(*m)));
            v
        }
        Op::SPop(k) => vec![s("SPOP"), key(*k)],
        Op::ZAdd(k, sc, m) => vec![s("ZADD"), key(*k), s(&sc.to_string()), member(*m)],
        Op::ZIncrBy(k, by, m) => vec![s("ZINCRBY"), key(*k), s(&by.to_string()), member(*m)],
        Op::ZRem(k, m) => vec![s("ZREM"), key(*k), member(*m)],
        Op::ZPopMin(k) => vec![s("ZPOPMIN"), key(*k)],
        Op::ZRemRangeByRank(k, a, b) => {
            vec![
                s("ZREMRANGEBYRANK"),
                key(*k),
                s(&a.to_string()),
                s(&b.to_string()),
            ]
        }
        Op::Del(k) => vec![s("DEL"), key(*k)],
        Op::Rename(a, b) => vec![s("RENAME"), key(*a), key(*b)],
        Op::Copy(a, b) => vec![s("COPY"), key(*a), key(*b)],
        Op::Reopen | Op::Merge => Vec::new(),
    }
}

fn sorted_bulks(r: Reply) -> Vec<Vec<u8>> {
    let items = match r {
        Reply::Array(a) | Reply::Set(a) => a,
        other => panic!("not an array: {other:?}"),
    };
    let mut v: Vec<Vec<u8>> = items
        .into_iter()
        .map(|x| match x {
            Reply::Bulk(b) => b.to_vec(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    v.sort();
    v
}

/// Checks every key of the keyspace against the model.
fn check_contents(ks: &Keyspace, model: &HashMap<u8, M>) -> Result<(), TestCaseError> {
    for k in 0u8..4 {
        let kk = key(k);
        match model.get(&k) {
            None => prop_assert_eq!(run(ks, &[b"EXISTS", &kk]), Reply::Integer(0)),
            Some(M::Hash(h)) => {
                let r = run(ks, &[b"HGETALL", &kk]);
                let Reply::Map(pairs) = r else {
                    return Err(TestCaseError::fail(format!("HGETALL {r:?}")));
                };
                let got: BTreeMap<Vec<u8>, Vec<u8>> = pairs
                    .into_iter()
                    .map(|(a, b)| match (a, b) {
                        (Reply::Bulk(a), Reply::Bulk(b)) => (a.to_vec(), b.to_vec()),
                        other => panic!("bad pair {other:?}"),
                    })
                    .collect();
                prop_assert_eq!(&got, h);
                prop_assert_eq!(run(ks, &[b"HLEN", &kk]), Reply::Integer(h.len() as i64));
            }
            Some(M::Set(s)) => {
                let got = sorted_bulks(run(ks, &[b"SMEMBERS", &kk]));
                prop_assert_eq!(got, s.iter().cloned().collect::<Vec<_>>());
                prop_assert_eq!(run(ks, &[b"SCARD", &kk]), Reply::Integer(s.len() as i64));
            }
            Some(M::ZSet(z)) => {
                let order = zorder(z);
                let mut want = Vec::new();
                for (m, s) in &order {
                    want.push(bulk(m));
                    want.push(Reply::Double(*s));
                }
                prop_assert_eq!(
                    run(ks, &[b"ZRANGE", &kk, b"0", b"-1", b"WITHSCORES"]),
                    Reply::Pairs(want)
                );
                for (i, (m, _)) in order.iter().enumerate() {
                    prop_assert_eq!(run(ks, &[b"ZRANK", &kk, m]), Reply::Integer(i as i64));
                }
                prop_assert_eq!(
                    run(ks, &[b"ZCOUNT", &kk, b"-inf", b"0"]),
                    Reply::Integer(order.iter().filter(|(_, s)| *s <= 0.0).count() as i64)
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn collections_agree_with_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ks = open(dir.path());
        let mut model: HashMap<u8, M> = HashMap::new();
        for op in &ops {
            match op {
                Op::Reopen => {
                    drop(ks);
                    ks = open(dir.path());
                    check_contents(&ks, &model)?;
                    continue;
                }
                Op::Merge => {
                    ks.merge().expect("merge");
                    check_contents(&ks, &model)?;
                    drop(ks);
                    ks = open(dir.path());
                    check_contents(&ks, &model)?;
                    continue;
                }
                Op::SPop(k) => {
                    let r = run(&ks, &[b"SPOP", &key(*k)]);
                    match model.get_mut(k) {
                        None => prop_assert_eq!(r, Reply::Nil),
                        Some(M::Set(s)) => {
                            let Reply::Bulk(m) = r else {
                                return Err(TestCaseError::fail(format!("SPOP {r:?}")));
                            };
                            prop_assert!(s.remove(m.as_ref()), "popped a non-member");
                            if s.is_empty() {
                                model.remove(k);
                            }
                        }
                        Some(_) => prop_assert_eq!(r, Reply::Error(WRONGTYPE.into())),
                    }
                    continue;
                }
                _ => {}
            }
            let argv = argv_of(op);
            let parts: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            let got = run(&ks, &parts);
            let want = apply(&mut model, op);
            if let Some(want) = want {
                prop_assert_eq!(got, want, "{:?}", op);
            }
        }
        check_contents(&ks, &model)?;
        drop(ks);
        let ks = open(dir.path());
        check_contents(&ks, &model)?;
    }
}
