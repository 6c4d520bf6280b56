//! Differential tests: the same command sequences run against
//! `Keyspace::execute` and a real `redis-server` (7.0, started by the test on
//! a free loopback port), replies compared exactly.
//!
//! Intended differences (documented in docs/architecture.md):
//! * KEYS returns keys in a different order: both sides are sorted.
//! * SCAN cursors differ (ours walk a hash order): only complete iterations
//!   are compared, as sets.
//! * RANDOMKEY, OBJECT IDLETIME/REFCOUNT/FREQ are not compared.
//! * INCRBYFLOAT computes in f64 where Redis uses x87 long double: results
//!   agree for integers (computed exactly) and ordinary decimals, not for
//!   magnitudes beyond 2^53 with fractions. Scripts stay in the agreeing range.
//! * LPOS RANK -9223372036854775808 is refused (as Redis 7.2 does); 7.0
//!   accepts it by accident.
//! * HyperLogLog: PFDEBUG DECODE of a corrupted value whose last XZERO
//!   opcode was cut off and then split by PFADD reads, in Redis, a byte past
//!   the end of the string (we read 0): the script avoids that one case.
//! * PTTL/PEXPIRETIME depend on the millisecond each side runs at: the
//!   scripts use TTL (seconds, rounded) with long deadlines instead.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config, Keyspace};
use fincaskv::storage::{FsyncPolicy, Options};

/// A RESP2 reply, as both sides are compared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum R {
    Simple(Vec<u8>),
    Err(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<R>>),
}

/// Our reply in its RESP2 shape.
fn from_reply(r: &Reply) -> R {
    match r {
        Reply::Simple(s) => R::Simple(s.as_bytes().to_vec()),
        Reply::Error(s) => R::Err(s.as_bytes().to_vec()),
        Reply::Integer(i) => R::Int(*i),
        Reply::Bulk(b) | Reply::Verbatim(b) | Reply::HumanDouble(b) => R::Bulk(Some(b.to_vec())),
        Reply::Nil => R::Bulk(None),
        Reply::NilArray => R::Array(None),
        Reply::Array(a) | Reply::Set(a) | Reply::Push(a) | Reply::Pairs(a) => {
            R::Array(Some(a.iter().map(from_reply).collect()))
        }
        Reply::PairMap(m) => R::Array(Some(
            m.iter()
                .map(|(k, v)| R::Array(Some(vec![from_reply(k), from_reply(v)])))
                .collect(),
        )),
        Reply::Map(m) => R::Array(Some(
            m.iter()
                .flat_map(|(k, v)| [from_reply(k), from_reply(v)])
                .collect(),
        )),
        Reply::Double(d) => R::Bulk(Some(redis_double(*d).into_bytes())),
        Reply::Bool(b) => R::Int(i64::from(*b)),
    }
}

/// A minimal RESP2 client.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    fn call(&mut self, argv: &[Vec<u8>]) -> R {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).expect("write to redis");
        self.read()
    }

    fn line(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.reader
            .read_until(b'\n', &mut buf)
            .expect("read from redis");
        assert!(buf.ends_with(b"\r\n"), "bad line {buf:?}");
        buf.truncate(buf.len() - 2);
        buf
    }

    fn read(&mut self) -> R {
        let line = self.line();
        let (kind, rest) = line.split_first().expect("empty reply line");
        let num = || -> i64 {
            std::str::from_utf8(rest)
                .expect("utf8 length")
                .parse()
                .expect("length")
        };
        match kind {
            b'+' => R::Simple(rest.to_vec()),
            b'-' => R::Err(rest.to_vec()),
            b':' => R::Int(num()),
            b'$' => {
                let n = num();
                if n < 0 {
                    return R::Bulk(None);
                }
                let mut buf = vec![0u8; n as usize + 2];
                std::io::Read::read_exact(&mut self.reader, &mut buf).expect("bulk");
                buf.truncate(n as usize);
                R::Bulk(Some(buf))
            }
            b'*' => {
                let n = num();
                if n < 0 {
                    return R::Array(None);
                }
                R::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            other => panic!("unexpected RESP type {other}"),
        }
    }
}

/// A redis-server child process, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `INFO server` of whatever listens on `port`; any failure (nothing there
/// yet, a connection reset by a server that lost the port) is an error to
/// retry on, not a panic.
fn probe_info(port: u16) -> std::io::Result<String> {
    use std::io::Read;
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    reader.read_line(&mut head)?;
    let len: usize = head
        .strip_prefix('$')
        .and_then(|n| n.trim_end().parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected reply {head:?}")))?;
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Starts a redis-server on a free loopback port. Tests run in parallel,
/// so a port found free may be taken by another test's server before ours
/// binds it: the server that answers must report our child's pid.
fn start_redis() -> Redis {
    for _ in 0..20 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let mut redis = Redis { child, port };
        let marker = format!("process_id:{}", redis.child.id());
        // Wait for a condition (our server answers), not for a fixed time.
        for _ in 0..500 {
            if matches!(redis.child.try_wait(), Ok(Some(_))) {
                break; // it could not bind: try another port
            }
            if let Ok(info) = probe_info(port) {
                if info.contains(&marker) {
                    return redis;
                }
                break; // another test's server: try another port
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(redis);
    }
    panic!("could not start redis-server");
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Both sides, side by side.
struct Pair {
    _redis: Redis,
    client: Client,
    ks: Keyspace,
    _dir: tempfile::TempDir,
    mismatches: Vec<String>,
    db: usize,
}

impl Pair {
    fn new() -> Pair {
        let redis = start_redis();
        let client = Client::connect(redis.port).expect("connect");
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = Keyspace::open(Config::new(
            Options::new(dir.path()).with_fsync(FsyncPolicy::No),
        ))
        .expect("open");
        Pair {
            _redis: redis,
            client,
            ks,
            _dir: dir,
            mismatches: Vec::new(),
            db: 0,
        }
    }

    fn both(&mut self, argv: &[Vec<u8>]) -> (R, R) {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        let blocking = [
            "blpop",
            "brpop",
            "blmove",
            "brpoplpush",
            "blmpop",
            "bzpopmin",
            "bzpopmax",
            "bzmpop",
        ]
        .contains(&name.as_str());
        let theirs = if blocking {
            // Redis runs blocking commands non-blocking inside MULTI, which is
            // how the keyspace runs them.
            self.client.call(&[b"MULTI".to_vec()]);
            let queued = self.client.call(argv);
            let exec = self.client.call(&[b"EXEC".to_vec()]);
            match (queued, exec) {
                (R::Err(e), _) => R::Err(e),
                (_, R::Array(Some(mut replies))) if replies.len() == 1 => replies.remove(0),
                (_, other) => other,
            }
        } else {
            self.client.call(argv)
        };
        let ctx = Ctx::new(now_ms(), 1, self.db);
        let args: Vec<Bytes> = argv.iter().map(|a| Bytes::from(a.clone())).collect();
        let ours = from_reply(&self.ks.execute(&ctx, &args));
        (ours, theirs)
    }

    /// Runs one command on both sides and records a mismatch.
    fn check(&mut self, argv: &[Vec<u8>]) {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        if name == "select" {
            let theirs = self.client.call(argv);
            if theirs == R::Simple(b"OK".to_vec()) {
                self.db = String::from_utf8_lossy(&argv[1]).parse().expect("db");
            }
            return;
        }
        let (mut ours, mut theirs) = self.both(argv);
        normalize_collection_reply(&name, argv, &mut ours);
        normalize_collection_reply(&name, argv, &mut theirs);
        if name == "keys" {
            for r in [&mut ours, &mut theirs] {
                if let R::Array(Some(a)) = r {
                    a.sort();
                }
            }
        }
        if ours != theirs {
            self.mismatches.push(format!(
                "{}\n   ours:   {}\n   redis:  {}",
                show_argv(argv),
                show(&ours),
                show(&theirs)
            ));
        }
    }

    fn script(&mut self, lines: &[&str]) {
        for line in lines {
            let argv = split(line);
            self.check(&argv);
        }
    }

    fn assert_clean(&self) {
        assert!(
            self.mismatches.is_empty(),
            "{} mismatches:\n{}",
            self.mismatches.len(),
            self.mismatches.join("\n")
        );
    }
}

fn show_argv(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show(r: &R) -> String {
    match r {
        R::Simple(s) => format!("+{}", String::from_utf8_lossy(s)),
        R::Err(s) => format!("-{}", String::from_utf8_lossy(s)),
        R::Int(i) => format!(":{i}"),
        R::Bulk(None) => "(nil)".into(),
        R::Bulk(Some(b)) => format!("{:?}", String::from_utf8_lossy(b)),
        R::Array(None) => "(nil array)".into(),
        R::Array(Some(a)) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
    }
}

/// Splits a script line on spaces; `\r`, `\n`, `\0`, `\xff` and `\s` (space)
/// escapes allow any byte; `""` is the empty string.
fn split(line: &str) -> Vec<Vec<u8>> {
    line.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w == "\"\"" {
                return Vec::new();
            }
            let mut out = Vec::new();
            let b = w.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'\\' && i + 1 < b.len() {
                    match b[i + 1] {
                        b'r' => out.push(b'\r'),
                        b'n' => out.push(b'\n'),
                        b'0' => out.push(0),
                        b's' => out.push(b' '),
                        b'x' if i + 3 < b.len() => {
                            let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
                            out.push(u8::from_str_radix(hex, 16).expect("hex"));
                            i += 2;
                        }
                        other => out.push(other),
                    }
                    i += 2;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            out
        })
        .collect()
}

include!("differential/scripts.rs");
include!("differential/collections.rs");
include!("differential/geo.rs");
include!("differential/scripts_lua.rs");
include!("differential/dump.rs");
include!("differential/functions.rs");
include!("differential/streams.rs");
include!("differential/lists.rs");

#[test]
fn strings_match_redis() {
    let mut p = Pair::new();
    p.script(STRING_SCRIPT);
    p.assert_clean();
}

/// The bitmap commands: GETBIT SETBIT BITCOUNT BITPOS (with BYTE / BIT
/// ranges, negative indexes, empty strings and every error path), BITOP,
/// BITFIELD and BITFIELD_RO (every overflow rule, `#N` offsets, widths 1-64).
const BIT_SCRIPT: &[&str] = &[
    "SETBIT b 7 1",
    "SETBIT b 7 1",
    "SETBIT b 0 1",
    "GETBIT b 0",
    "GETBIT b 1",
    "GETBIT b 7",
    "GETBIT b 100",
    "GETBIT nosuch 3",
    "GET b",
    "SETBIT b 100 1",
    "STRLEN b",
    "GET b",
    "SETBIT b 100 0",
    "SETBIT b -1 1",
    "SETBIT b x 1",
    "SETBIT b 1 2",
    "SETBIT b 1 -1",
    "SETBIT b 1 x",
    "SETBIT b 4294967296 1",
    "GETBIT b -1",
    "GETBIT b x",
    "GETBIT b 4294967295",
    "SET s foobar",
    "BITCOUNT s",
    "BITCOUNT s 0 0",
    "BITCOUNT s 1 1",
    "BITCOUNT s 1 1 BYTE",
    "BITCOUNT s 5 30 BIT",
    "BITCOUNT s 0 -1 BIT",
    "BITCOUNT s -2 -1",
    "BITCOUNT s -1 -2",
    "BITCOUNT s 2 1",
    "BITCOUNT s 0 100",
    "BITCOUNT s -100 -50",
    "BITCOUNT s -100 -1 BIT",
    "BITCOUNT s 3 3 BIT",
    "BITCOUNT s 1 6 BIT",
    "BITCOUNT s 0 -1 WORD",
    "BITCOUNT s 0",
    "BITCOUNT s x 1",
    "BITCOUNT s 0 1 BIT extra",
    "BITCOUNT nosuch",
    "BITCOUNT nosuch 0 1",
    "BITCOUNT nosuch x 1",
    "BITCOUNT nosuch 0",
    "BITCOUNT s -1 -100 x",
    "BITCOUNT nosuch 0 1 x",
    "SET e \"\"",
    "BITCOUNT e",
    "BITPOS e 0",
    "BITPOS e 1",
    "GETBIT e 0",
    "SET z \\xff\\xf0\\x00",
    "BITPOS z 0",
    "BITPOS z 1",
    "BITPOS z 1 2",
    "BITPOS z 0 0 0",
    "BITPOS z 0 0 -1",
    "BITPOS z 0 1",
    "BITPOS z 1 7 15 BIT",
    "BITPOS z 0 0 11 BIT",
    "BITPOS z 0 0 12 BIT",
    "BITPOS z 0 12 BIT",
    "BITPOS z 0 3 2",
    "BITPOS z 1 -1",
    "BITPOS z 0 -1",
    "SET ones \\xff\\xff",
    "BITPOS ones 0",
    "BITPOS ones 0 0 -1",
    "BITPOS ones 0 0",
    "BITPOS ones 0 9 BIT",
    "BITPOS ones 0 9 15 BIT",
    "BITPOS ones 1 5 5 BIT",
    "BITPOS ones 0 5 5 BIT",
    "SET zeros \\x00\\x00\\x00",
    "BITPOS zeros 1",
    "BITPOS zeros 0 1",
    "BITPOS zeros 1 0 -1 BIT",
    "BITPOS zeros 0 -3 -1 BIT",
    "BITPOS nosuch 0",
    "BITPOS nosuch 1",
    "BITPOS nosuch 2",
    "BITPOS z 2",
    "BITPOS z x",
    "BITPOS z 1 x",
    "BITPOS z 1 0 x",
    "BITPOS z 1 0 1 WORD",
    "BITPOS z 1 0 1 BIT x",
    "RPUSH lst a",
    "GETBIT lst 0",
    "SETBIT lst 0 1",
    "BITCOUNT lst",
    "BITPOS lst 1",
    "BITCOUNT lst 0 1 x",
    "SETBIT lst x 1",
    "BITPOS lst 3",
    "BITCOUNT lst 0",
    "SET n 12345",
    "SETBIT n 2 1",
    "GET n",
    "BITCOUNT n",
    "INCR n",
    "SET t v EX 100",
    "SETBIT t 1 1",
    "TTL t",
    // BITOP
    "SET a foobar",
    "SET b abcdef",
    "SET c \\xff\\x00\\x0f",
    "BITOP AND d a b",
    "GET d",
    "OBJECT ENCODING d",
    "BITOP or d a b nosuch",
    "GET d",
    "BITOP XOR d a c nosuch",
    "GET d",
    "BITOP and d c a b",
    "GET d",
    "BITOP NOT d a b",
    "BITOP not d c",
    "GET d",
    "BITOP NOT d nosuch",
    "EXISTS d",
    "BITOP foo d a",
    "BITOP and d lst",
    "BITOP and d a lst",
    "BITOP and d",
    "BITOP not d",
    "SET d x EX 100",
    "BITOP and d nosuch nosuch2",
    "EXISTS d",
    "SET d x EX 100",
    "BITOP or d a",
    "TTL d",
    "SET n 12",
    "BITOP or d n",
    "GET d",
    "OBJECT ENCODING d",
    "RPUSH lst2 x",
    "BITOP xor lst2 a",
    "TYPE lst2",
    "GET lst2",
    "BITOP and a a c",
    "GET a",
    "SET e \"\"",
    "BITOP or d e",
    "EXISTS d",
    // BITFIELD and BITFIELD_RO
    "BITFIELD f",
    "BITFIELD f OVERFLOW sat",
    "BITFIELD lst",
    "BITFIELD lst GET i8 0",
    "BITFIELD lst SET i8 0 1",
    "BITFIELD_RO lst GET i8 0",
    "BITFIELD_RO lst SET i8 0 1",
    "BITFIELD_RO f SET x 0 1",
    "BITFIELD_RO f SET i8 x 1",
    "BITFIELD_RO f SET i8 0 x",
    "BITFIELD_RO f INCRBY i8 0 1",
    "BITFIELD_RO f OVERFLOW sat GET i8 0",
    "BITFIELD_RO f GET i8 0 SET i8 0 1",
    "BITFIELD_RO f SET i8 0 1 GET x 0",
    "BITFIELD_RO f SET i8 0 1 GET i8 -1",
    "EXISTS f",
    "BITFIELD f GET i8 0 SET",
    "BITFIELD f foo",
    "BITFIELD f OVERFLOW",
    "BITFIELD f OVERFLOW xx GET i8 0",
    "BITFIELD f GET u64 0",
    "BITFIELD f GET i65 0",
    "BITFIELD f GET i0 0",
    "BITFIELD f GET u0 0",
    "BITFIELD f GET I8 0",
    "BITFIELD f GET U8 0",
    "BITFIELD f GET i 0",
    "BITFIELD f GET \"\" 0",
    "BITFIELD f GET i8 #-1",
    "BITFIELD f GET i8 #",
    "BITFIELD f GET i8 -1",
    "BITFIELD f GET i8 x",
    "BITFIELD f SET i8 0 x",
    "BITFIELD f SET i8 x x",
    "BITFIELD f INCRBY i8 0 9223372036854775808",
    "BITFIELD f GET i8 4294967288",
    "BITFIELD f GET i8 4294967295",
    "BITFIELD f GET i8 4294967296",
    "BITFIELD f GET i8 #536870911",
    "BITFIELD f GET i8 #536870912",
    "BITFIELD f GET i8 #4611686018427387904",
    "EXISTS f",
    "BITFIELD f OVERFLOW fail INCRBY u2 100 5",
    "STRLEN f",
    "GET f",
    "BITFIELD g SET u8 0 -1 OVERFLOW sat SET u8 8 -1 OVERFLOW fail SET u8 16 -1 GET u8 0 GET u8 8 GET u8 16",
    "GET g",
    "BITFIELD h SET i8 0 100 INCRBY i8 0 100 OVERFLOW sat INCRBY i8 0 100 INCRBY i8 0 -300 OVERFLOW fail INCRBY i8 0 -1 GET i8 0",
    "BITFIELD h overflow WRAP incrby u4 #3 7 incrby u4 #3 9 get u4 #3 get u8 8",
    "BITFIELD h SET i64 0 -9223372036854775808 GET i64 0 GET u63 0 GET u63 1 INCRBY i64 0 -1 GET i64 0",
    "BITFIELD h OVERFLOW sat SET i64 0 9223372036854775807 INCRBY i64 0 1 OVERFLOW fail INCRBY i64 0 1 INCRBY i64 0 -9223372036854775808",
    "BITFIELD h OVERFLOW wrap SET u63 3 -1 GET u63 3 SET i1 0 1 GET i1 0 GET u1 0 SET i1 0 -2 GET i1 0",
    "BITFIELD h SET i5 13 -17 SET i5 13 16 GET i5 13 INCRBY u3 21 9 GET u3 21",
    "GET h",
    "SET k3 a",
    "BITFIELD k3 SET i4 #4611686018427387904 3",
    "GET k3",
    "SET s foobar",
    "BITFIELD s GET i8 0 GET u4 4 GET i16 #1 GET u63 1 GET i64 8 GET i32 40",
    "BITFIELD_RO s GET i8 0 GET u4 4 GET i16 #1 GET u63 1 GET i64 8 GET i32 40",
    "OBJECT ENCODING s",
    "SET n 12345",
    "BITFIELD n GET u8 0",
    "OBJECT ENCODING n",
    "BITFIELD n OVERFLOW fail INCRBY u8 0 1000",
    "OBJECT ENCODING n",
    "GET n",
    "SET t v EX 100",
    "BITFIELD t INCRBY u8 0 1",
    "TTL t",
    "GET t",
];

/// SORT and SORT_RO over lists, sets and sorted sets: numeric (C strtod
/// syntax) and ALPHA, BY / GET patterns with hash fields, LIMIT windows,
/// BY without `*`, STORE, and every error path.
const SORT_SCRIPT: &[&str] = &[
    "RPUSH l 3 1 2 10 -5 2.5 0x10 \" 7\" inf -inf 1e3 -0 0",
    "SORT l",
    "SORT l DESC",
    "SORT l ASC LIMIT 2 3",
    "SORT l LIMIT -5 2",
    "SORT l LIMIT 5 -1",
    "SORT l LIMIT 20 1",
    "SORT l LIMIT 2 0",
    "SORT l LIMIT 0 100 DESC",
    "SORT l ALPHA",
    "SORT l ALPHA DESC LIMIT 1 4",
    "SORT_RO l DESC",
    "SORT l BY nosort",
    "SORT l BY nosort DESC",
    "SORT l BY nosort LIMIT 2 3",
    "SORT l BY nosort DESC LIMIT 2 3",
    "SORT l BY nosort DESC LIMIT 100 3",
    "SORT l BY nosort LIMIT 0 0",
    "RPUSH bad 1 x 2",
    "SORT bad",
    "SORT bad ALPHA",
    "SORT bad BY nosort",
    "SORT bad LIMIT 0 1",
    "SORT bad STORE dst",
    "EXISTS dst",
    "RPUSH nan nan 1",
    "SORT nan",
    "RPUSH trail \"5 \"",
    "SORT trail",
    "RPUSH emp \"\" 1 -1",
    "SORT emp",
    "RPUSH hx 0x1p3 9 0X.8 0x",
    "SORT hx",
    "SORT hx LIMIT 0 2",
    "RPUSH hx2 0x1p3 9 0X.8 0x10 -0x1P-1",
    "SORT hx2",
    "SADD s 5 3 9 1 banana apple 10",
    "SORT s",
    "SORT s ALPHA",
    "SORT s ALPHA DESC LIMIT 1 3",
    "SORT s ALPHA STORE sdst",
    "LRANGE sdst 0 -1",
    "SORT s BY nosort STORE sdst2",
    "LRANGE sdst2 0 -1",
    "SADD sn 5 3 9 1 10 -2",
    "SORT sn",
    "SORT sn DESC LIMIT 1 2",
    "SORT sn BY nosort STORE sdst3",
    "LRANGE sdst3 0 -1",
    "ZADD z 3 c 1 a 2 b 5 e 4 d",
    "OBJECT ENCODING z",
    "SORT z BY nosort",
    "OBJECT ENCODING z",
    "SORT z BY nosort DESC",
    "SORT z BY nosort LIMIT 1 2",
    "SORT z BY nosort DESC LIMIT 1 2",
    "SORT z BY nosort LIMIT -1 100",
    "SORT z BY nosort LIMIT 9 1",
    "SORT z ALPHA DESC",
    "SORT z",
    "ZADD zn 3 10 1 20 2 30",
    "SORT zn",
    "SORT zn BY nosort",
    "ZADD ze 1 x",
    "SORT_RO ze BY nosort LIMIT 5 5",
    "OBJECT ENCODING ze",
    "DEL l2",
    "RPUSH l2 3 1 2",
    "MSET w_1 30 w_2 20 w_3 10 o_1 one o_2 two",
    "HSET h_1 f 5",
    "HSET h_3 f 1",
    "SORT l2 BY w_*",
    "SORT l2 BY w_* DESC",
    "SORT l2 BY w_* GET o_* GET # GET nosort GET h_*->f",
    "SORT l2 BY h_*->f",
    "SORT l2 BY h_*-> GET h_*->",
    "SORT l2 BY h_*->f GET h_*->g GET w_*->f GET h_*",
    "SORT l2 BY w_* LIMIT 1 1 GET #",
    "SORT l2 BY w_* DESC LIMIT 0 2 GET o_* STORE out",
    "LRANGE out 0 -1",
    "SORT l2 BY w_* GET o_* STORE out",
    "LRANGE out 0 -1",
    "TYPE out",
    "OBJECT ENCODING out",
    "SORT l2 BY nosort GET o_* GET #",
    "SORT l2 BY nosort DESC GET w_*",
    "SORT l2 BY o_*",
    "SORT l2 BY o_* ALPHA",
    "SORT l2 BY o_* ALPHA DESC",
    "SORT l2 BY o_* ALPHA GET o_* STORE out2",
    "LRANGE out2 0 -1",
    "SORT l2 BY *_1 GET *",
    "SORT l2 BY w_*_x",
    "SORT l2 GET",
    "SORT l2 BY",
    "SORT l2 LIMIT 1",
    "SORT l2 LIMIT x 1",
    "SORT l2 LIMIT 0 x",
    "SORT l2 LIMIT 0 1.5",
    "SORT l2 STORE",
    "SORT l2 foo",
    "SORT l2 ALPHA ASC DESC",
    "SORT l2 DESC ASC",
    "SORT_RO l2 STORE x",
    "SORT_RO l2 BY w_* GET o_*",
    "SET str v",
    "SORT str",
    "SORT str LIMIT x 1",
    "SORT str foo",
    "SORT_RO str",
    "HSET hh a 1",
    "SORT hh",
    "SORT nosuch",
    "SORT nosuch STORE dst4",
    "EXISTS dst4",
    "SET dst4 x EX 100",
    "SORT l2 STORE dst4",
    "TTL dst4",
    "LRANGE dst4 0 -1",
    "SORT nosuch STORE dst4",
    "EXISTS dst4",
    "RPUSH self 3 1 2",
    "SORT self STORE self",
    "LRANGE self 0 -1",
    "RPUSH al b a B A \"\" ab aB",
    "SORT al ALPHA",
    "SORT al ALPHA STORE alst",
    "LRANGE alst 0 -1",
    "RPUSH dup 2 1 2 1 x",
    "SORT dup ALPHA",
    "SORT dup LIMIT 0 4",
    // Out of range numbers last: Redis 7.0 checks a stale `errno` after
    // strtod, so once one SORT met ERANGE, its later numeric sorts fail
    // too (documented difference; we answer from the number alone).
    "RPUSH rng 1 1e-400",
    "SORT rng",
    "RPUSH rng2 1 1e400",
    "SORT rng2",
    "RPUSH sub 1e-310",
    "SORT sub",
];

#[test]
fn bitmaps_match_redis() {
    let mut p = Pair::new();
    p.script(BIT_SCRIPT);
    p.assert_clean();
}

/// HyperLogLog: PFADD PFCOUNT PFMERGE PFDEBUG on sparse and dense values,
/// the cached cardinality bytes (GET after every step), wrong types and
/// corrupted HLL strings (truncated or overlong sparse bodies, bad headers).
const HLL_SCRIPT: &[&str] = &[
    "PFADD h a b c",
    "GET h",
    "STRLEN h",
    "PFADD h a",
    "PFADD h",
    "GET h",
    "PFCOUNT h",
    "GET h",
    "STRLEN h",
    "PFCOUNT h",
    "PFADD h c",
    "GET h",
    "PFADD h d",
    "GET h",
    "PFADD new",
    "GET new",
    "STRLEN new",
    "PFADD new",
    "PFCOUNT new",
    "GET new",
    "PFCOUNT missing",
    "PFCOUNT missing missing2",
    "EXISTS missing",
    "PFCOUNT h missing",
    "PFCOUNT h new",
    "GET h",
    "PFCOUNT h h",
    "PFADD bin \\x00 \\x00\\x01 \\xff\\xfe\\xfd \\r\\n \\s \"\" 12345678 123456789 abcdefghijklmnop",
    "GET bin",
    "PFCOUNT bin",
    "GET bin",
    "PFADD bin \"\"",
    "PFADD h2 x y z a",
    "PFCOUNT h h2",
    "PFCOUNT h2 h bin",
    "GET h2",
    "PFMERGE dest h h2",
    "GET dest",
    "PFCOUNT dest",
    "GET dest",
    "PFMERGE dest",
    "GET dest",
    "PFMERGE dest dest",
    "GET dest",
    "PFMERGE h2 h",
    "GET h2",
    "PFCOUNT h2",
    "PFMERGE empty",
    "GET empty",
    "TYPE empty",
    "PFMERGE empty2 nosuch nosuch2",
    "GET empty2",
    "PFMERGE bin bin",
    "GET bin",
    "PFDEBUG TODENSE h",
    "PFDEBUG TODENSE h",
    "PFDEBUG ENCODING h",
    "STRLEN h",
    "PFCOUNT h",
    "PFMERGE sd h2 h",
    "PFDEBUG ENCODING sd",
    "STRLEN sd",
    "PFCOUNT sd",
    "PFMERGE h2 bin",
    "PFDEBUG ENCODING h2",
    "GET h2",
    "PFMERGE fromdense h",
    "PFDEBUG ENCODING fromdense",
    "PFCOUNT fromdense h2 bin",
    // 86f8de7b hashes to a run of 36: too big for a sparse VAL, promotes.
    "PFADD big x y",
    "PFADD big 86f8de7b",
    "PFDEBUG ENCODING big",
    "GET big",
    "PFCOUNT big",
    "PFADD big 86f8de7b",
    "PFADD big2 86f8de7b",
    "PFDEBUG ENCODING big2",
    "PFMERGE smallmerge h2 big2",
    "PFDEBUG ENCODING smallmerge",
    "PFCOUNT smallmerge",
    "GET smallmerge",
    "PFADD h zzz",
    "PFCOUNT h",
    "PFADD h zzz",
    "PFDEBUG DECODE h2",
    "PFDEBUG DECODE h",
    "PFDEBUG ENCODING h2",
    "PFDEBUG GETREG nosuch",
    "PFDEBUG foo h2",
    "PFDEBUG foo nosuch",
    "PFDEBUG DECODE new",
    "PFDEBUG DECODE bin",
    "PFDEBUG GETREG bin",
    "PFDEBUG ENCODING bin",
    "GET bin",
    "RPUSH list a",
    "PFADD list a",
    "PFADD list",
    "PFCOUNT list",
    "PFCOUNT h list",
    "PFCOUNT list nosuch",
    "PFMERGE list h",
    "PFMERGE h list",
    "PFMERGE nosuch list",
    "EXISTS nosuch",
    "PFDEBUG ENCODING list",
    "SET str hello",
    "PFADD str a",
    "PFADD str",
    "PFCOUNT str",
    "PFCOUNT h str",
    "PFMERGE d2 str",
    "EXISTS d2",
    "PFMERGE str h",
    "PFDEBUG GETREG str",
    "SET num 12345",
    "PFADD num a",
    "PFCOUNT num",
    "SET short HYL",
    "PFCOUNT short",
    "SET bad HYLL",
    "PFADD bad a",
    "PFCOUNT bad",
    "SET bad HYLL\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80",
    "PFADD bad a",
    "PFCOUNT bad",
    "SET bad HYLL\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x00\\x00",
    "PFADD bad a",
    "PFCOUNT bad",
    "PFMERGE bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80",
    "PFADD bad",
    "PFADD bad a",
    "PFCOUNT bad",
    "PFCOUNT bad h",
    "PFMERGE x bad",
    "EXISTS x",
    "GET bad",
    "PFDEBUG DECODE bad",
    "PFDEBUG GETREG bad",
    "PFDEBUG TODENSE bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
    "PFCOUNT bad",
    "OBJECT ENCODING bad",
    "PFADD bad",
    "OBJECT ENCODING bad",
    "PFCOUNT bad h",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
    "PFADD bad a",
    "PFADD bad b",
    "GET bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x7f\\xfe",
    "PFADD bad a",
    "GET bad",
    "PFADD bad b c d e f g",
    "GET bad",
    "PFCOUNT bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x7f\\xff\\x00",
    "PFADD bad a b c",
    "GET bad",
    "PFCOUNT bad",
    "PFMERGE m bad",
    "PFCOUNT bad h",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x7f\\xff\\x80",
    "PFCOUNT bad",
    "PFCOUNT bad h",
    "PFMERGE m2 bad",
    "GET m2",
    "PFADD bad a b",
    "GET bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x7f",
    "PFDEBUG DECODE bad",
    "PFADD bad a",
    "PFCOUNT bad",
    // (No PFDEBUG DECODE here: Redis reads the byte its split wrote past the
    // end of the string, where we read 0; see docs/architecture.md.)
    "GET bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x7f\\xfd\\x80",
    "PFADD bad a b c d e f g h i j",
    "GET bad",
    "PFCOUNT bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x40\\x00\\x7f\\xfe",
    "PFADD bad a b c d e f g h i j",
    "GET bad",
    "PFDEBUG DECODE bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x7f\\xfb\\x80\\x80\\x80\\x80",
    "PFADD bad a b c",
    "GET bad",
    "PFDEBUG DECODE bad",
    "PFCOUNT bad",
    "SET bad HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\xfc\\x7f\\xfe",
    "PFCOUNT bad",
    "PFMERGE m3 bad",
    "GET m3",
    "PFADD bad a",
    "GET bad",
    "SET bad HYLL\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff",
    "PFCOUNT bad",
    "PFADD t a",
    "EXPIRE t 1000",
    "PFADD t b",
    "TTL t",
    "PFCOUNT t",
    "TTL t",
    "PFMERGE t h",
    "TTL t",
    "PFDEBUG TODENSE t",
    "TTL t",
    "PFADD",
    "PFCOUNT",
    "PFMERGE",
    "PFDEBUG x",
    "PFDEBUG GETREG h extra",
];

#[test]
fn hyperloglog_matches_redis() {
    let mut p = Pair::new();
    p.script(HLL_SCRIPT);
    p.assert_clean();
}

/// Thousands of elements, sent programmatically: the sparse encoding grows
/// opcode by opcode (GET compared along the way), is promoted to dense past
/// 3000 bytes, and PFCOUNT / PFMERGE agree byte for byte at every size.
#[test]
fn hyperloglog_sizes_match_redis() {
    let mut p = Pair::new();
    let arg = |s: &str| s.as_bytes().to_vec();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let sizes = [10usize, 100, 1000, 5000, 100_000];
    for &n in &sizes {
        let key = format!("hll:{n}");
        let batch = if n <= 5000 { 1 } else { 1000 };
        let mut i = 0;
        while i < n {
            let mut argv = vec![arg("PFADD"), key.clone().into_bytes()];
            for _ in 0..batch.min(n - i) {
                // Text elements, and binary ones of every tail length.
                if i % 3 == 0 {
                    let r = next();
                    let len = (r % 20) as usize;
                    argv.push(
                        (0..len)
                            .map(|k| (r >> (k % 8 * 8)) as u8 ^ k as u8)
                            .collect(),
                    );
                } else {
                    argv.push(format!("element:{i}").into_bytes());
                }
                i += 1;
            }
            p.check(&argv);
            if batch == 1 || i % 97 == 0 || i == n {
                p.check(&[arg("GET"), key.clone().into_bytes()]);
            }
        }
        for cmd in ["PFCOUNT", "GET", "STRLEN", "PFCOUNT", "PFDEBUG"] {
            let mut argv = vec![arg(cmd)];
            if cmd == "PFDEBUG" {
                argv.push(arg("ENCODING"));
            }
            argv.push(key.clone().into_bytes());
            p.check(&argv);
        }
    }
    let key = |n: usize| format!("hll:{n}").into_bytes();
    let merges: &[&[usize]] = &[
        &[10, 100],
        &[1000, 5000],
        &[10, 100_000],
        &[100, 1000],
        &[5000, 10],
        &[100_000, 5000, 1000, 100, 10],
    ];
    for (j, srcs) in merges.iter().enumerate() {
        let dest = format!("merged:{j}").into_bytes();
        let mut count = vec![arg("PFCOUNT")];
        count.extend(srcs.iter().map(|&n| key(n)));
        p.check(&count);
        let mut merge = vec![arg("PFMERGE"), dest.clone()];
        merge.extend(srcs.iter().map(|&n| key(n)));
        p.check(&merge);
        for cmd in ["GET", "PFCOUNT", "GET"] {
            p.check(&[arg(cmd), dest.clone()]);
        }
    }
    // Two sparse sources whose union outgrows the sparse limit: the new
    // destination is promoted to dense in the middle of the merge.
    for i in 0..1500 {
        p.check(&[
            arg("PFADD"),
            arg("other"),
            format!("other:{i}").into_bytes(),
        ]);
    }
    for argv in [
        vec![arg("PFDEBUG"), arg("ENCODING"), arg("other")],
        vec![arg("PFDEBUG"), arg("ENCODING"), key(1000)],
        vec![arg("PFMERGE"), arg("union"), key(1000), arg("other")],
        vec![arg("PFDEBUG"), arg("ENCODING"), arg("union")],
        vec![arg("GET"), arg("union")],
        vec![arg("PFCOUNT"), arg("union")],
        vec![arg("PFMERGE"), arg("other"), key(100)],
        vec![arg("GET"), arg("other")],
    ] {
        p.check(&argv);
    }
    // Into existing sparse destinations: the destination's registers count,
    // and a sparse one grows (or is promoted) register by register.
    for (dest, src) in [(10usize, 100usize), (100, 1000), (1000, 10), (10, 5000)] {
        p.check(&[arg("PFMERGE"), key(dest), key(src)]);
        for cmd in ["GET", "PFCOUNT", "GET"] {
            p.check(&[arg(cmd), key(dest)]);
        }
    }
    p.assert_clean();
}

#[test]
fn sort_matches_redis() {
    let mut p = Pair::new();
    p.script(SORT_SCRIPT);
    p.assert_clean();
}

#[test]
fn keys_match_redis() {
    let mut p = Pair::new();
    p.script(KEYS_SCRIPT);
    p.assert_clean();
}

#[test]
fn lists_match_redis() {
    let mut p = Pair::new();
    p.script(LIST_SCRIPT);
    p.assert_clean();
}

#[test]
fn scan_returns_every_key_like_redis() {
    let mut p = Pair::new();
    for i in 0..300 {
        p.check(&[b"SET".to_vec(), format!("k{i}").into_bytes(), b"v".to_vec()]);
    }
    p.check(&[b"RPUSH".to_vec(), b"k_list".to_vec(), b"x".to_vec()]);
    for filter in [
        vec![],
        vec![b"MATCH".to_vec(), b"k1*".to_vec()],
        vec![b"TYPE".to_vec(), b"list".to_vec()],
        vec![
            b"COUNT".to_vec(),
            b"7".to_vec(),
            b"MATCH".to_vec(),
            b"*2".to_vec(),
        ],
    ] {
        let mut sets = Vec::new();
        for side in 0..2 {
            let mut cursor = b"0".to_vec();
            let mut keys = std::collections::BTreeSet::new();
            loop {
                let mut argv = vec![b"SCAN".to_vec(), cursor.clone()];
                argv.extend(filter.iter().cloned());
                let (ours, theirs) = p.both(&argv);
                let r = if side == 0 { ours } else { theirs };
                let R::Array(Some(parts)) = r else {
                    panic!("bad SCAN reply {r:?}")
                };
                let (R::Bulk(Some(next)), R::Array(Some(batch))) = (&parts[0], &parts[1]) else {
                    panic!("bad SCAN reply {parts:?}")
                };
                keys.extend(batch.iter().cloned());
                cursor = next.clone();
                if cursor == b"0" {
                    break;
                }
            }
            sets.push(keys);
        }
        assert_eq!(sets[0], sets[1], "SCAN {filter:?}");
        assert!(!sets[0].is_empty());
    }
    p.assert_clean();
}

/// A deterministic generator (splitmix64).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// Random command sequences over a small key and value space, so that
/// types collide (WRONGTYPE) and lists grow and shrink.
#[test]
fn random_sequences_match_redis() {
    for seed in hunt_seeds((10..16).chain([0x000F_1CA5, 1])) {
        random_sequence(seed);
    }
}

/// With `FINCASKV_DIFF_TRACE=1`, prints each command of a random sequence.
fn trace(seed: u64, step: u64, line: &str) {
    if std::env::var_os("FINCASKV_DIFF_TRACE").is_some() {
        eprintln!("TRACE {seed} {step} {line}");
    }
}

/// The seeds of a random sequence test: `default`, or for a hunt
/// `FINCASKV_DIFF_SEEDS=N [FINCASKV_DIFF_FIRST=S]`, seeds S..S+N (S = 1000
/// unless given).
fn hunt_seeds(default: impl Iterator<Item = u64>) -> Vec<u64> {
    let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    match env("FINCASKV_DIFF_SEEDS") {
        Some(n) => {
            let first = env("FINCASKV_DIFF_FIRST").unwrap_or(1000);
            (first..first + n).collect()
        }
        None => default.collect(),
    }
}

fn random_sequence(seed: u64) {
    let mut p = Pair::new();
    let keys = ["a", "b", "c", "l1", "l2", "\\xff\\0k"];
    let vals = [
        "1",
        "-3",
        "x",
        "\"\"",
        "10.5",
        "\\r\\n",
        "9223372036854775807",
        "abc",
    ];
    let ints = ["0", "1", "-1", "2", "-2", "5", "-100", "x"];
    let mut g = Gen(seed);
    for step in 0..3000u64 {
        let k = g.pick(&keys);
        let k2 = g.pick(&keys);
        let v = g.pick(&vals);
        let v2 = g.pick(&vals);
        let i = g.pick(&ints);
        let i2 = g.pick(&ints);
        let side = g.pick(&["LEFT", "RIGHT", "left", "up"]);
        let side2 = g.pick(&["LEFT", "RIGHT"]);
        let line = match g.below(60) {
            0 => format!("SET {k} {v}"),
            1 => format!("GET {k}"),
            2 => format!("APPEND {k} {v}"),
            3 => format!("INCRBY {k} {i}"),
            // Redis adds in long double: only magnitudes where f64 and long
            // double agree are compared (documented difference).
            4 => format!(
                "INCRBYFLOAT fl{} {}",
                g.below(2),
                g.pick(&["1.5", "-0.25", "3", "abc", "1e2", "0.5", "-7"])
            ),
            5 => format!("GETRANGE {k} {i} {i2}"),
            6 => format!("SETRANGE {k} {} {v}", g.below(5)),
            7 => format!("MSET {k} {v} {k2} {v2}"),
            8 => format!("MGET {k} {k2}"),
            9 => format!("GETDEL {k}"),
            10 => format!("STRLEN {k}"),
            11 => format!("LPUSH {k} {v} {v2}"),
            12 => format!("RPUSH {k} {v}"),
            13 => format!("LPOP {k}"),
            14 => format!("RPOP {k} {i}"),
            15 => format!("LRANGE {k} {i} {i2}"),
            16 => format!("LINDEX {k} {i}"),
            17 => format!("LSET {k} {i} {v}"),
            18 => format!("LREM {k} {i} {v}"),
            19 => format!("LTRIM {k} {i} {i2}"),
            20 => format!("LINSERT {k} {} {v} {v2}", g.pick(&["BEFORE", "AFTER", "x"])),
            21 => format!("LPOS {k} {v} RANK {i}"),
            22 => format!("LMOVE {k} {k2} {side} {side2}"),
            23 => format!("LMPOP 2 {k} {k2} {side2} COUNT {i}"),
            24 => format!("LLEN {k}"),
            25 => format!("DEL {k} {k2}"),
            26 => format!("EXISTS {k} {k2} {k}"),
            27 => format!("TYPE {k}"),
            28 => format!("RENAME {k} {k2}"),
            29 => format!("COPY {k} {k2} REPLACE"),
            // Every EXPIRE gets a TTL no earlier command used (1007 + 10 * step
            // seconds, never 1000 or 5000 as GETEX uses): with equal TTLs, GT/LT
            // would compare the two sides' clock readings, milliseconds apart.
            30 => format!(
                "EXPIRE {k} {} {}",
                1007 + 10 * step,
                g.pick(&["NX", "XX", "GT", "LT", ""])
            ),
            31 => format!("TTL {k}"),
            32 => format!("PERSIST {k}"),
            33 => format!("SETNX {k} {v}"),
            34 => format!("GETSET {k} {v}"),
            35 => format!("LPUSHX {k} {v}"),
            36 => format!("RPOPLPUSH {k} {k2}"),
            37 => format!("BLPOP {k} {k2} 0"),
            38 => format!("DECRBY {k} {i}"),
            39 => format!(
                "GETEX {k} {}",
                g.pick(&["EX 1000", "PERSIST", "PX 5000000", ""])
            ),
            40 => format!("LPOS {k} {v} COUNT {i} MAXLEN {}", g.below(4)),
            41 => format!("BRPOP {k} {k2} 0"),
            42 => format!("BLMOVE {k} {k2} {side2} {side} 0"),
            43 => format!("MSETNX {k} {v} {k2} {v2}"),
            44 => format!("RENAMENX {k} {k2}"),
            45 => format!("OBJECT ENCODING {k}"),
            46 => format!("LCS {k} {k2}"),
            47 => format!("SUBSTR {k} {i} {i2}"),
            48 => format!("SWAPDB 0 {}", g.below(2)),
            49 => format!("MOVE {k} 1"),
            50 => format!("LINDEX {k} {i}"),
            51 => format!("SETBIT {k} {} {}", g.below(40), g.pick(&["0", "1", "2"])),
            52 => format!("GETBIT {k} {}", g.below(40)),
            53 => format!(
                "BITCOUNT {k} {i} {i2} {}",
                g.pick(&["BIT", "BYTE", "", "x"])
            ),
            54 => format!(
                "BITPOS {k} {} {i} {}",
                g.pick(&["0", "1"]),
                g.pick(&["", "3", "-1", "9 BIT"])
            ),
            55 => format!(
                "BITOP {} {k} {k2} {}",
                g.pick(&["AND", "or", "XOR", "NOT", "x"]),
                g.pick(&["", "a", "c"])
            ),
            56 | 57 => {
                const TYPES: &[&str] = &["i8", "u8", "i3", "u1", "i64", "u63", "i16", "u64", "x"];
                const OFFSETS: &[&str] = &["0", "5", "#1", "#3", "17", "-1"];
                let (t1, o1) = (g.pick(TYPES), g.pick(OFFSETS));
                let (t2, o2) = (g.pick(TYPES), g.pick(OFFSETS));
                let ro = if g.below(2) == 0 { "_RO" } else { "" };
                format!(
                    "BITFIELD{ro} {k} OVERFLOW {} {} {t1} {o1} {i} GET {t2} {o2} {}",
                    g.pick(&["WRAP", "SAT", "FAIL"]),
                    g.pick(&["SET", "INCRBY", "GET"]),
                    g.pick(&["", "INCRBY u4 #2 9", "SET i8 8 -129"])
                )
            }
            58 => format!(
                "SORT{} {k} {} {} LIMIT {i} {i2} {}",
                g.pick(&["", "_RO"]),
                g.pick(&["ALPHA", "", "BY nosort", "BY a"]),
                g.pick(&["DESC", "ASC", ""]),
                g.pick(&["", "", "GET #", "STORE c"])
            ),
            _ => "KEYS *".to_owned(),
        };
        trace(seed, step, &line);
        p.check(&split(&line));
    }
    p.assert_clean();
}
