//! Model-based property tests: random operations on strings and lists run
//! against the keyspace and against a plain in-memory model, with reopen and
//! merge in between; every reply and the final contents must agree.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000_000;

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

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[derive(Debug, Clone)]
enum Op {
    Set(u8, Vec<u8>),
    Append(u8, Vec<u8>),
    IncrBy(u8, i64),
    Del(u8),
    SetRange(u8, u8, Vec<u8>),
    LPush(u8, Vec<Vec<u8>>),
    RPush(u8, Vec<Vec<u8>>),
    LPop(u8, u8),
    RPop(u8),
    LSet(u8, i8, Vec<u8>),
    LTrim(u8, i8, i8),
    LInsert(u8, bool, Vec<u8>, Vec<u8>),
    LRem(u8, i8, Vec<u8>),
    Reopen,
    Merge,
}

fn small_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"a".to_vec()),
        Just(b"b".to_vec()),
        Just(b"7".to_vec()),
        Just(b"\r\n\0".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..20),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..3;
    prop_oneof![
        (k.clone(), small_value()).prop_map(|(k, v)| Op::Set(k, v)),
        (k.clone(), small_value()).prop_map(|(k, v)| Op::Append(k, v)),
        (k.clone(), -5i64..5).prop_map(|(k, n)| Op::IncrBy(k, n)),
        k.clone().prop_map(Op::Del),
        (k.clone(), 0u8..8, small_value()).prop_map(|(k, o, v)| Op::SetRange(k, o, v)),
        (k.clone(), proptest::collection::vec(small_value(), 1..4))
            .prop_map(|(k, v)| Op::LPush(k, v)),
        (k.clone(), proptest::collection::vec(small_value(), 1..4))
            .prop_map(|(k, v)| Op::RPush(k, v)),
        (k.clone(), 0u8..3).prop_map(|(k, n)| Op::LPop(k, n)),
        k.clone().prop_map(Op::RPop),
        (k.clone(), -4i8..4, small_value()).prop_map(|(k, i, v)| Op::LSet(k, i, v)),
        (k.clone(), -4i8..4, -4i8..4).prop_map(|(k, s, e)| Op::LTrim(k, s, e)),
        (k.clone(), any::<bool>(), small_value(), small_value())
            .prop_map(|(k, b, p, v)| Op::LInsert(k, b, p, v)),
        (k.clone(), -2i8..3, small_value()).prop_map(|(k, n, v)| Op::LRem(k, n, v)),
        Just(Op::Reopen),
        Just(Op::Merge),
    ]
}

#[derive(Clone, Debug)]
enum M {
    Str(Vec<u8>),
    List(VecDeque<Vec<u8>>),
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k]
}

fn norm_index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

/// Applies `op` to the model and returns the expected reply.
fn apply(model: &mut HashMap<u8, M>, op: &Op) -> Option<Reply> {
    let wrong = || Reply::Error(WRONGTYPE.to_owned());
    Some(match op {
        Op::Set(k, v) => {
            model.insert(*k, M::Str(v.clone()));
            Reply::ok()
        }
        Op::Append(k, v) => match model.get_mut(k) {
            None => {
                model.insert(*k, M::Str(v.clone()));
                Reply::Integer(v.len() as i64)
            }
            Some(M::Str(s)) => {
                s.extend_from_slice(v);
                Reply::Integer(s.len() as i64)
            }
            Some(_) => wrong(),
        },
        Op::IncrBy(k, n) => {
            let cur = match model.get(k) {
                None => 0,
                Some(M::Str(s)) => match std::str::from_utf8(s).ok().and_then(|t| {
                    let v: i64 = t.parse().ok()?;
                    (v.to_string() == t).then_some(v)
                }) {
                    Some(v) => v,
                    None => {
                        return Some(Reply::Error(
                            "ERR value is not an integer or out of range".into(),
                        ))
                    }
                },
                Some(_) => return Some(wrong()),
            };
            let new = cur + n;
            model.insert(*k, M::Str(new.to_string().into_bytes()));
            Reply::Integer(new)
        }
        Op::Del(k) => Reply::Integer(i64::from(model.remove(k).is_some())),
        Op::SetRange(k, off, v) => {
            let off = *off as usize;
            match model.get_mut(k) {
                Some(M::List(_)) => wrong(),
                None if v.is_empty() => Reply::Integer(0),
                Some(M::Str(s)) if v.is_empty() => Reply::Integer(s.len() as i64),
                existing => {
                    let mut s = match existing {
                        Some(M::Str(s)) => s.clone(),
                        _ => Vec::new(),
                    };
                    if s.len() < off + v.len() {
                        s.resize(off + v.len(), 0);
                    }
                    s[off..off + v.len()].copy_from_slice(v);
                    let len = s.len();
                    model.insert(*k, M::Str(s));
                    Reply::Integer(len as i64)
                }
            }
        }
        Op::LPush(k, vs) | Op::RPush(k, vs) => {
            let left = matches!(op, Op::LPush(..));
            let entry = model.entry(*k).or_insert_with(|| M::List(VecDeque::new()));
            let M::List(l) = entry else {
                return Some(wrong());
            };
            for v in vs {
                if left {
                    l.push_front(v.clone());
                } else {
                    l.push_back(v.clone());
                }
            }
            Reply::Integer(l.len() as i64)
        }
        Op::LPop(k, n) => {
            let Some(entry) = model.get_mut(k) else {
                return Some(if *n == 0 { Reply::Nil } else { Reply::NilArray });
            };
            let M::List(l) = entry else {
                return Some(wrong());
            };
            let r = if *n == 0 {
                l.pop_front().map_or(Reply::Nil, |v| bulk(&v))
            } else {
                Reply::Array(
                    (0..*n)
                        .filter_map(|_| l.pop_front())
                        .map(|v| bulk(&v))
                        .collect(),
                )
            };
            if l.is_empty() {
                model.remove(k);
            }
            r
        }
        Op::RPop(k) => {
            let Some(entry) = model.get_mut(k) else {
                return Some(Reply::Nil);
            };
            let M::List(l) = entry else {
                return Some(wrong());
            };
            let r = l.pop_back().map_or(Reply::Nil, |v| bulk(&v));
            if l.is_empty() {
                model.remove(k);
            }
            r
        }
        Op::LSet(k, i, v) => match model.get_mut(k) {
            None => Reply::Error("ERR no such key".into()),
            Some(M::Str(_)) => wrong(),
            Some(M::List(l)) => match norm_index(i64::from(*i), l.len()) {
                Some(i) => {
                    l[i] = v.clone();
                    Reply::ok()
                }
                None => Reply::Error("ERR index out of range".into()),
            },
        },
        Op::LTrim(k, s, e) => match model.get_mut(k) {
            None => Reply::ok(),
            Some(M::Str(_)) => wrong(),
            Some(M::List(l)) => {
                let len = l.len() as i64;
                let mut s = i64::from(*s);
                let mut e = i64::from(*e);
                if s < 0 {
                    s += len;
                }
                if e < 0 {
                    e += len;
                }
                if s < 0 {
                    s = 0;
                }
                let kept: VecDeque<Vec<u8>> = if s > e || s >= len {
                    VecDeque::new()
                } else {
                    let e = e.min(len - 1);
                    l.range(s as usize..=e as usize).cloned().collect()
                };
                if kept.is_empty() {
                    model.remove(k);
                } else {
                    *l = kept;
                }
                Reply::ok()
            }
        },
        Op::LInsert(k, after, pivot, v) => match model.get_mut(k) {
            None => Reply::Integer(0),
            Some(M::Str(_)) => wrong(),
            Some(M::List(l)) => match l.iter().position(|x| x == pivot) {
                None => Reply::Integer(-1),
                Some(p) => {
                    l.insert(if *after { p + 1 } else { p }, v.clone());
                    Reply::Integer(l.len() as i64)
                }
            },
        },
        Op::LRem(k, n, v) => match model.get_mut(k) {
            None => Reply::Integer(0),
            Some(M::Str(_)) => wrong(),
            Some(M::List(l)) => {
                let n = i64::from(*n);
                let limit = if n == 0 {
                    usize::MAX
                } else {
                    n.unsigned_abs() as usize
                };
                let mut removed = 0;
                let mut items: Vec<Vec<u8>> = l.iter().cloned().collect();
                if n < 0 {
                    items.reverse();
                }
                items.retain(|x| {
                    if x == v && removed < limit {
                        removed += 1;
                        false
                    } else {
                        true
                    }
                });
                if n < 0 {
                    items.reverse();
                }
                *l = items.into();
                if l.is_empty() {
                    model.remove(k);
                }
                Reply::Integer(removed as i64)
            }
        },
        Op::Reopen | Op::Merge => return None,
    })
}

fn execute(ks: &Keyspace, op: &Op) -> Reply {
    let i = |n: i64| n.to_string().into_bytes();
    match op {
        Op::Set(k, v) => run(ks, &[b"SET", &key(*k), v]),
        Op::Append(k, v) => run(ks, &[b"APPEND", &key(*k), v]),
        Op::IncrBy(k, n) => run(ks, &[b"INCRBY", &key(*k), &i(*n)]),
        Op::Del(k) => run(ks, &[b"DEL", &key(*k)]),
        Op::SetRange(k, o, v) => run(ks, &[b"SETRANGE", &key(*k), &i(i64::from(*o)), v]),
        Op::LPush(k, vs) | Op::RPush(k, vs) => {
            let name: &[u8] = if matches!(op, Op::LPush(..)) {
                b"LPUSH"
            } else {
                b"RPUSH"
            };
            let kk = key(*k);
            let mut parts: Vec<&[u8]> = vec![name, &kk];
            parts.extend(vs.iter().map(|v| v.as_slice()));
            run(ks, &parts)
        }
        Op::LPop(k, 0) => run(ks, &[b"LPOP", &key(*k)]),
        Op::LPop(k, n) => run(ks, &[b"LPOP", &key(*k), &i(i64::from(*n))]),
        Op::RPop(k) => run(ks, &[b"RPOP", &key(*k)]),
        Op::LSet(k, idx, v) => run(ks, &[b"LSET", &key(*k), &i(i64::from(*idx)), v]),
        Op::LTrim(k, s, e) => run(
            ks,
            &[b"LTRIM", &key(*k), &i(i64::from(*s)), &i(i64::from(*e))],
        ),
        Op::LInsert(k, after, p, v) => {
            let w: &[u8] = if *after { b"AFTER" } else { b"BEFORE" };
            run(ks, &[b"LINSERT", &key(*k), w, p, v])
        }
        Op::LRem(k, n, v) => run(ks, &[b"LREM", &key(*k), &i(i64::from(*n)), v]),
        Op::Reopen | Op::Merge => Reply::ok(),
    }
}

fn check_contents(ks: &Keyspace, model: &HashMap<u8, M>) {
    for k in 0..3u8 {
        let kk = key(k);
        match model.get(&k) {
            None => assert_eq!(run(ks, &[b"EXISTS", &kk]), Reply::Integer(0), "key {k}"),
            Some(M::Str(s)) => assert_eq!(run(ks, &[b"GET", &kk]), bulk(s), "key {k}"),
            Some(M::List(l)) => assert_eq!(
                run(ks, &[b"LRANGE", &kk, b"0", b"-1"]),
                Reply::Array(l.iter().map(|v| bulk(v)).collect()),
                "key {k}"
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn strings_and_lists_follow_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ks = open(dir.path());
        let mut model: HashMap<u8, M> = HashMap::new();
        for op in &ops {
            match op {
                Op::Reopen => {
                    drop(ks);
                    ks = open(dir.path());
                }
                Op::Merge => ks.merge().expect("merge"),
                _ => {
                    let expected = apply(&mut model, op).expect("model reply");
                    let got = execute(&ks, op);
                    prop_assert_eq!(got, expected, "op {:?}", op);
                }
            }
            check_contents(&ks, &model);
        }
        drop(ks);
        let ks = open(dir.path());
        check_contents(&ks, &model);
    }
}
