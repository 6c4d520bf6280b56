//! Memory of a one-million-member set of 16-byte members: FincasKV (live heap
//! bytes, counted by a global allocator, and the RSS growth) against Redis 7.0
//! (`INFO memory` `used_memory` delta of a `redis-server` this example starts
//! on a free loopback port, when one is installed).
//!
//! `cargo run --release --example set_memory -- [N] [strings|list|hash|zset]`
//! (N default 1,000,000). With `strings`: N string keys (`key:<i>`) of
//! 16-byte values instead, made with MSET; with `list`: a list of N 16-byte
//! elements, made with RPUSH; with `hash`: a hash of N 16-byte fields with
//! 16-byte values, made with HSET; with `zset`: a sorted set of N 16-byte
//! members (score = index), made with ZADD.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};

/// Counts live heap bytes as requested (malloc's per-block overhead comes on
/// top: see the RSS figure).
struct Counting;

static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The i-th member: exactly 16 bytes.
fn member(i: u64) -> Vec<u8> {
    format!("member-{i:09}").into_bytes()
}

/// What the example fills.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Set,
    Strings,
    List,
    Hash,
    ZSet,
}

impl Shape {
    /// The shape named on the command line (a set by default) and what
    /// its items are.
    fn named(name: Option<&str>) -> (Shape, &'static str) {
        match name {
            Some("strings") => (Shape::Strings, "string keys of 16-byte values"),
            Some("list") => (Shape::List, "list elements of 16 bytes"),
            Some("hash") => (Shape::Hash, "hash fields of 16 bytes with 16-byte values"),
            Some("zset") => (Shape::ZSet, "sorted-set members of 16 bytes"),
            _ => (Shape::Set, "members of 16 bytes"),
        }
    }

    /// The command that adds items, before its items, and the one that
    /// counts them.
    fn commands(self) -> (&'static [&'static [u8]], &'static [&'static [u8]]) {
        match self {
            Shape::Set => (&[b"SADD", b"set"], &[b"SCARD", b"set"]),
            Shape::List => (&[b"RPUSH", b"list"], &[b"LLEN", b"list"]),
            Shape::Strings => (&[b"MSET"], &[b"DBSIZE"]),
            Shape::Hash => (&[b"HSET", b"hash"], &[b"HLEN", b"hash"]),
            Shape::ZSet => (&[b"ZADD", b"zset"], &[b"ZCARD", b"zset"]),
        }
    }
}

/// The command that adds items `i..end`: each item is member `j`, after
/// its key (`key:<j>`), field (`field-<j>`) or score (`j`) for the shapes
/// that have one.
fn batch(i: u64, end: u64, shape: Shape) -> Vec<Vec<u8>> {
    let mut argv: Vec<Vec<u8>> = shape.commands().0.iter().map(|a| a.to_vec()).collect();
    for j in i..end {
        match shape {
            Shape::Strings => argv.push(format!("key:{j:09}").into_bytes()),
            Shape::Hash => argv.push(format!("field-{j:010}").into_bytes()),
            Shape::ZSet => argv.push(j.to_string().into_bytes()),
            _ => {}
        }
        argv.push(member(j));
    }
    argv
}

fn ours(n: u64, shape: Shape) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let opts = Options::new(dir.path())
        .with_fsync(FsyncPolicy::No)
        .with_merge_interval(None);
    let ks = Keyspace::open(Config::new(opts))?;
    let ctx = Ctx::new(1_800_000_000_000, 1, 0);
    let before = LIVE.load(Ordering::Relaxed);
    let rss_before = rss_bytes();
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        let argv: Vec<Bytes> = batch(i, end, shape).into_iter().map(Bytes::from).collect();
        ks.execute(&ctx, &argv);
        i = end;
    }
    let count: Vec<Bytes> = shape
        .commands()
        .1
        .iter()
        .map(|a| Bytes::from_static(a))
        .collect();
    let count = ks.execute(&ctx, &count);
    assert_eq!(count, Reply::Integer(n as i64));
    let heap = LIVE.load(Ordering::Relaxed) - before;
    let rss = rss_bytes().saturating_sub(rss_before);
    drop(ks);
    Ok((heap, rss))
}

/// A minimal RESP2 client call: sends argv, reads one reply line (and a bulk body).
fn call(
    w: &mut TcpStream,
    r: &mut BufReader<TcpStream>,
    argv: &[&[u8]],
) -> std::io::Result<String> {
    send(w, argv)?;
    read_reply(r)
}

fn send(w: &mut TcpStream, argv: &[&[u8]]) -> std::io::Result<()> {
    let mut out = format!("*{}\r\n", argv.len()).into_bytes();
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    w.write_all(&out)
}

fn read_reply(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    if let Some(len) = line.strip_prefix('$') {
        let len: usize = len.trim().parse().unwrap_or(0);
        let mut body = vec![0u8; len + 2];
        r.read_exact(&mut body)?;
        return Ok(String::from_utf8_lossy(&body[..len]).into_owned());
    }
    Ok(line)
}

fn used_memory(w: &mut TcpStream, r: &mut BufReader<TcpStream>) -> std::io::Result<u64> {
    let info = call(w, r, &[b"INFO", b"memory"])?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}

fn redis(n: u64, shape: Shape) -> Result<Option<u64>, Box<dyn std::error::Error>> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return Ok(None);
    };
    let mut stream = None;
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let Some(mut w) = stream else {
        child.kill()?;
        return Ok(None);
    };
    let mut r = BufReader::new(w.try_clone()?);
    let before = used_memory(&mut w, &mut r)?;
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        let args = batch(i, end, shape);
        let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        call(&mut w, &mut r, &argv)?;
        i = end;
    }
    let after = used_memory(&mut w, &mut r)?;
    child.kill()?;
    child.wait()?;
    Ok(Some(after.saturating_sub(before)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let (shape, what) = Shape::named(std::env::args().nth(2).as_deref());
    let (heap, rss) = ours(n, shape)?;
    println!(
        "fincaskv: {n} {what}: live heap +{heap} B ({:.1} B/member), RSS +{rss} B ({:.1} B/member)",
        heap as f64 / n as f64,
        rss as f64 / n as f64
    );
    match redis(n, shape)? {
        Some(used) => {
            println!(
                "redis 7.0: used_memory +{used} B ({:.1} B/member); fincaskv heap / redis = {:.2}, RSS / redis = {:.2}",
                used as f64 / n as f64,
                heap as f64 / used as f64,
                rss as f64 / used as f64
            );
        }
        None => println!("redis-server not found: no comparison"),
    }
    Ok(())
}
