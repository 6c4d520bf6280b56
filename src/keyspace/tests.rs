//! Unit tests of the keyspace through `execute`.

use bytes::Bytes;

use super::{Config, Keyspace};
use crate::command::{Ctx, Reply};
use crate::storage::{FsyncPolicy, Options};

pub(crate) const NOW: u64 = 1_700_000_000_000;

pub(crate) fn open(dir: &std::path::Path) -> Keyspace {
    let opts = Options::new(dir).with_fsync(FsyncPolicy::No);
    Keyspace::open(Config::new(opts)).expect("open keyspace")
}

pub(crate) fn run(ks: &Keyspace, now: u64, args: &[&str]) -> Reply {
    let argv: Vec<Bytes> = args
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    ks.execute(&Ctx::new(now, 7, 0), &argv)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn set_get_del_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["SET", "a", "1"]), Reply::ok());
    assert_eq!(run(&ks, NOW, &["get", "a"]), bulk("1"));
    assert_eq!(run(&ks, NOW, &["INCR", "a"]), Reply::Integer(2));
    assert_eq!(run(&ks, NOW, &["DEL", "a", "b"]), Reply::Integer(1));
    assert_eq!(run(&ks, NOW, &["GET", "a"]), Reply::Nil);
    assert_eq!(
        run(&ks, NOW, &["GET"]),
        Reply::Error("ERR wrong number of arguments for 'get' command".into())
    );
    assert_eq!(
        run(&ks, NOW, &["foo", "a", "b"]),
        Reply::Error("ERR unknown command 'foo', with args beginning with: 'a' 'b' ".into())
    );
}

#[test]
fn expiry_is_lazy_and_active() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["SET", "a", "1", "PX", "100"]), Reply::ok());
    assert_eq!(run(&ks, NOW, &["SET", "b", "1", "PX", "100"]), Reply::ok());
    assert_eq!(run(&ks, NOW, &["PTTL", "a"]), Reply::Integer(100));
    assert_eq!(run(&ks, NOW + 100, &["GET", "a"]), Reply::Nil);
    assert_eq!(run(&ks, NOW + 50, &["DBSIZE"]), Reply::Integer(1));
    assert_eq!(ks.active_expire_cycle(NOW + 100), 1);
    assert_eq!(run(&ks, NOW, &["DBSIZE"]), Reply::Integer(0));
}

#[test]
fn strings_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ks = open(dir.path());
        run(&ks, NOW, &["SET", "a", "1"]);
        run(&ks, NOW, &["SET", "b", "2", "EX", "100"]);
        run(&ks, NOW, &["SET", "c", "3"]);
        run(&ks, NOW, &["DEL", "c"]);
        run(&ks, NOW, &["APPEND", "a", "x"]);
    }
    let ks = open(dir.path());
    assert_eq!(run(&ks, NOW, &["GET", "a"]), bulk("1x"));
    assert_eq!(run(&ks, NOW, &["TTL", "b"]), Reply::Integer(100));
    assert_eq!(run(&ks, NOW, &["EXISTS", "c"]), Reply::Integer(0));
}
