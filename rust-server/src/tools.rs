//! Offline tools on a data directory (the server must not hold it): `dump`
//! (JSON lines or a RESP command stream), `load`, `merge`. Each shows a
//! progress bar with rate and ETA on a terminal and prints a summary.
//!
//! The dump is command-level, so it is portable: the RESP form is what
//! `redis-cli --pipe` sends to a real Redis, and `load` accepts both forms.
//! Strings, lists, hashes, sets and sorted sets round-trip exactly (with
//! their deadlines as PEXPIREAT); Bloom filters travel as RedisBloom's
//! `BF.SCANDUMP` / `BF.LOADCHUNK` chunks (their bytes are FincasKV's own
//! image format, so they load into FincasKV, not into RedisBloom).

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{Config as KeyspaceConfig, Keyspace};
use fincaskv::resp::{Decoded, Decoder, Limits};
use fincaskv::storage;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value as Json};

/// `TYPE` of a Bloom filter (RedisBloom's name).
const BLOOM: &str = "MBbloom--";

/// Dump formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// One JSON object per key: `{"db","key","type","pttl","value"}`.
    Jsonl,
    /// A RESP command stream (SELECT, DEL, SET/RPUSH/HSET/SADD/ZADD, PEXPIREAT).
    Resp,
}

/// Elements per generated command for big collections.
const CHUNK: usize = 1000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn open(dir: &Path) -> Result<Keyspace, String> {
    open_or_create(dir, false)
}

fn open_or_create(dir: &Path, create: bool) -> Result<Keyspace, String> {
    if !create && !dir.is_dir() {
        return Err(format!("{}: no such directory", dir.display()));
    }
    Keyspace::open(KeyspaceConfig::new(
        storage::Options::new(dir).with_merge_interval(None),
    ))
    .map_err(|e| format!("{}: {e}", dir.display()))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_owned());
    // indicatif draws only on a terminal (stderr); pipes and logs get nothing.
    pb
}

fn run(ks: &Keyspace, db: usize, argv: &[&[u8]]) -> Reply {
    let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    ks.execute(&Ctx::new(now_ms(), 0, db), &argv)
}

fn bulk_items(reply: Reply) -> Vec<Bytes> {
    match reply {
        Reply::Array(items) | Reply::Set(items) | Reply::Pairs(items) => items
            .into_iter()
            .filter_map(|r| match r {
                Reply::Bulk(b) | Reply::Verbatim(b) | Reply::HumanDouble(b) => Some(b),
                Reply::Double(d) => Some(Bytes::from(fincaskv::resp::format_double(d))),
                _ => None,
            })
            .collect(),
        Reply::Map(pairs) | Reply::PairMap(pairs) => pairs
            .into_iter()
            .flat_map(|(k, v)| [k, v])
            .filter_map(|r| match r {
                Reply::Bulk(b) => Some(b),
                Reply::Double(d) => Some(Bytes::from(fincaskv::resp::format_double(d))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One key as the commands that recreate it.
struct KeyDump {
    db: usize,
    key: Bytes,
    kind: String,
    /// Absolute deadline in ms, or none.
    deadline: Option<u64>,
    /// Flat elements: string [value]; list [e..]; hash/zset [f, v, ..] (zset:
    /// member, score); set [m..].
    items: Vec<Bytes>,
}

impl KeyDump {
    fn read(ks: &Keyspace, db: usize, key: Bytes) -> Option<KeyDump> {
        let kind = match run(ks, db, &[b"TYPE", &key]) {
            Reply::Simple(t) => t.into_owned(),
            _ => return None,
        };
        let items = match kind.as_str() {
            "string" => match run(ks, db, &[b"GET", &key]) {
                Reply::Bulk(b) => vec![b],
                _ => return None,
            },
            "list" => bulk_items(run(ks, db, &[b"LRANGE", &key, b"0", b"-1"])),
            "hash" => bulk_items(run(ks, db, &[b"HGETALL", &key])),
            "set" => {
                // Sorted, so that dumps of equal data are equal files.
                let mut members = bulk_items(run(ks, db, &[b"SMEMBERS", &key]));
                members.sort();
                members
            }
            "zset" => bulk_items(run(ks, db, &[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"])),
            BLOOM => {
                let mut chunks = Vec::new();
                let mut iter = 0i64;
                loop {
                    let reply = run(ks, db, &[b"BF.SCANDUMP", &key, iter.to_string().as_bytes()]);
                    let Reply::Array(parts) = reply else {
                        return None;
                    };
                    match parts.as_slice() {
                        [Reply::Integer(0), _] => break,
                        [Reply::Integer(next), Reply::Bulk(data)] => {
                            chunks.push(data.clone());
                            iter = *next;
                        }
                        _ => return None,
                    }
                }
                chunks
            }
            _ => Vec::new(),
        };
        let deadline = match run(ks, db, &[b"PEXPIRETIME", &key]) {
            Reply::Integer(t) if t > 0 => Some(t as u64),
            _ => None,
        };
        Some(KeyDump {
            db,
            key,
            kind,
            deadline,
            items,
        })
    }

    fn portable(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "string" | "list" | "hash" | "set" | "zset" | BLOOM
        )
    }

    /// The commands that recreate the key (after a DEL).
    fn commands(&self) -> Vec<Vec<Bytes>> {
        let key = self.key.clone();
        let mut out = vec![vec![Bytes::from_static(b"DEL"), key.clone()]];
        if self.kind == BLOOM {
            // Chunk i goes with iterator i + 1, as BF.SCANDUMP numbered it.
            for (i, chunk) in self.items.iter().enumerate() {
                out.push(vec![
                    Bytes::from_static(b"BF.LOADCHUNK"),
                    key.clone(),
                    Bytes::from((i + 1).to_string()),
                    chunk.clone(),
                ]);
            }
            out.extend(self.expiry_command());
            return out;
        }
        let (name, step): (&'static [u8], usize) = match self.kind.as_str() {
            "string" => (b"SET", 1),
            "list" => (b"RPUSH", 1),
            "hash" => (b"HSET", 2),
            "set" => (b"SADD", 1),
            "zset" => (b"ZADD", 2),
            _ => return Vec::new(),
        };
        for chunk in self.items.chunks(CHUNK * step) {
            let mut cmd = vec![Bytes::from_static(name), key.clone()];
            if self.kind == "zset" {
                for pair in chunk.chunks(2) {
                    cmd.push(pair[1].clone());
                    cmd.push(pair[0].clone());
                }
            } else {
                cmd.extend(chunk.iter().cloned());
            }
            out.push(cmd);
        }
        out.extend(self.expiry_command());
        out
    }

    /// PEXPIREAT of a key with a deadline.
    fn expiry_command(&self) -> Option<Vec<Bytes>> {
        self.deadline.map(|at| {
            vec![
                Bytes::from_static(b"PEXPIREAT"),
                self.key.clone(),
                Bytes::from(at.to_string()),
            ]
        })
    }

    fn to_json(&self) -> Json {
        let value = match self.kind.as_str() {
            "string" => text(&self.items[0]),
            "list" | "set" | BLOOM => Json::Array(self.items.iter().map(|b| text(b)).collect()),
            "hash" => {
                let mut m = Map::new();
                let mut pairs = Vec::new();
                for p in self.items.chunks(2) {
                    pairs.push(json!([text(&p[0]), text(&p[1])]));
                    if let Ok(k) = std::str::from_utf8(&p[0]) {
                        m.insert(k.to_owned(), text(&p[1]));
                    }
                }
                // Field names that are not UTF-8 need the pair form.
                if m.len() == pairs.len() {
                    Json::Object(m)
                } else {
                    Json::Array(pairs)
                }
            }
            "zset" => Json::Array(
                self.items
                    .chunks(2)
                    .map(|p| json!([text(&p[0]), text(&p[1])]))
                    .collect(),
            ),
            _ => Json::Null,
        };
        json!({
            "db": self.db,
            "key": text(&self.key),
            "type": self.kind,
            "pexpireat": self.deadline,
            "value": value,
        })
    }
}

/// A byte string as JSON: the string itself when it is UTF-8, else
/// `{"hex": "..."}`.
fn text(b: &[u8]) -> Json {
    match std::str::from_utf8(b) {
        Ok(s) => Json::String(s.to_owned()),
        Err(_) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            json!({ "hex": hex })
        }
    }
}

fn from_text(v: &Json) -> Result<Bytes, String> {
    match v {
        Json::String(s) => Ok(Bytes::copy_from_slice(s.as_bytes())),
        Json::Number(n) => Ok(Bytes::from(n.to_string())),
        Json::Object(m) => {
            let hex = m
                .get("hex")
                .and_then(Json::as_str)
                .ok_or_else(|| format!("expected a string or {{\"hex\": ...}}, got {v}"))?;
            if hex.len() % 2 != 0 {
                return Err(format!("odd-length hex string {hex:?}"));
            }
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map(Bytes::from)
                .map_err(|e| format!("bad hex {hex:?}: {e}"))
        }
        other => Err(format!("expected a string, got {other}")),
    }
}

fn resp_command(out: &mut impl Write, cmd: &[Bytes]) -> std::io::Result<()> {
    write!(out, "*{}\r\n", cmd.len())?;
    for a in cmd {
        write!(out, "${}\r\n", a.len())?;
        out.write_all(a)?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
}

/// Figures of a dump.
#[derive(Debug, Default)]
pub struct DumpSummary {
    /// Keys written.
    pub keys: u64,
    /// Keys left out (Bloom filters with `--no-bloom`).
    pub skipped: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// `dump DIR`: every key of every database to `out`.
pub fn dump(
    dir: &Path,
    format: DumpFormat,
    no_bloom: bool,
    out: &mut dyn Write,
) -> Result<DumpSummary, String> {
    let ks = open(dir)?;
    let total: u64 = ks.stats().keys.iter().map(|(k, _)| *k as u64).sum();
    let pb = bar(total, "dump");
    let mut w = CountingWriter {
        inner: BufWriter::new(out),
        bytes: 0,
    };
    let mut summary = DumpSummary::default();
    let io = |e: std::io::Error| format!("writing the dump: {e}");
    for db in 0..ks.databases() {
        let mut cursor = Bytes::from_static(b"0");
        let mut selected = false;
        loop {
            let reply = run(&ks, db, &[b"SCAN", &cursor, b"COUNT", b"1000"]);
            let Reply::Array(mut parts) = reply else {
                return Err(format!("SCAN failed in db {db}"));
            };
            let keys = bulk_items(parts.pop().unwrap_or(Reply::Nil));
            cursor = match parts.pop() {
                Some(Reply::Bulk(c)) => c,
                _ => return Err(format!("SCAN gave no cursor in db {db}")),
            };
            for key in keys {
                let Some(k) = KeyDump::read(&ks, db, key) else {
                    continue; // expired or deleted meanwhile
                };
                pb.inc(1);
                if !k.portable() || (no_bloom && k.kind == BLOOM) {
                    summary.skipped += 1;
                    continue;
                }
                match format {
                    DumpFormat::Jsonl => {
                        serde_json::to_writer(&mut w, &k.to_json())
                            .map_err(|e| format!("writing the dump: {e}"))?;
                        w.write_all(b"\n").map_err(io)?;
                    }
                    DumpFormat::Resp => {
                        if !selected {
                            let sel = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
                            resp_command(&mut w, &sel).map_err(io)?;
                            selected = true;
                        }
                        for cmd in k.commands() {
                            resp_command(&mut w, &cmd).map_err(io)?;
                        }
                    }
                }
                summary.keys += 1;
            }
            if cursor.as_ref() == b"0" {
                break;
            }
        }
    }
    w.flush().map_err(io)?;
    summary.bytes = w.bytes;
    pb.finish_and_clear();
    Ok(summary)
}

struct CountingWriter<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Figures of a load.
#[derive(Debug, Default)]
pub struct LoadSummary {
    /// Commands executed.
    pub commands: u64,
    /// Keys loaded (JSON lines) or SELECT-separated key commands (RESP).
    pub keys: u64,
}

/// `load DIR FILE`: executes a dump (either format, detected from its first
/// byte) into the store in `dir`. Any error reply stops the load and names
/// the line or command.
pub fn load(dir: &Path, input: &mut dyn Read) -> Result<LoadSummary, String> {
    let ks = open_or_create(dir, true)?;
    let mut reader = BufReader::new(input);
    let first = reader
        .fill_buf()
        .map_err(|e| format!("reading the dump: {e}"))?
        .first()
        .copied();
    let pb = ProgressBar::new_spinner();
    pb.set_message("load");
    let mut summary = LoadSummary::default();
    let mut exec = |db: usize, cmd: &[Bytes], at: &str| -> Result<(), String> {
        let reply = ks.execute(&Ctx::new(now_ms(), 0, db), cmd);
        if let Reply::Error(e) = reply {
            return Err(format!("{at}: {e}"));
        }
        summary.commands += 1;
        Ok(())
    };
    match first {
        None => {}
        Some(b'*') => {
            let mut buf = BytesMut::new();
            let mut decoder = Decoder::new();
            let limits = Limits::default();
            let mut db = 0usize;
            let mut chunk = vec![0u8; 1 << 16];
            let mut n = 0u64;
            loop {
                match decoder
                    .decode(&mut buf, &limits, true)
                    .map_err(|e| format!("command {}: {e:?}", n + 1))?
                {
                    Decoded::Command(cmd) => {
                        n += 1;
                        pb.inc(1);
                        if cmd[0].eq_ignore_ascii_case(b"SELECT") && cmd.len() == 2 {
                            db = std::str::from_utf8(&cmd[1])
                                .ok()
                                .and_then(|s| s.parse().ok())
                                .filter(|d| *d < ks.databases())
                                .ok_or_else(|| format!("command {n}: invalid SELECT"))?;
                            continue;
                        }
                        if cmd[0].eq_ignore_ascii_case(b"DEL") {
                            summary.keys += 1;
                        }
                        exec(db, &cmd, &format!("command {n}"))?;
                    }
                    Decoded::Incomplete { .. } => {
                        let got = reader
                            .read(&mut chunk)
                            .map_err(|e| format!("reading the dump: {e}"))?;
                        if got == 0 {
                            if decoder.in_progress() || !buf.is_empty() {
                                return Err("the dump ends in the middle of a command".into());
                            }
                            break;
                        }
                        buf.extend_from_slice(&chunk[..got]);
                    }
                }
            }
        }
        Some(_) => {
            for (i, line) in reader.lines().enumerate() {
                let at = format!("line {}", i + 1);
                let line = line.map_err(|e| format!("reading the dump: {e}"))?;
                if line.trim().is_empty() {
                    continue;
                }
                let v: Json = serde_json::from_str(&line).map_err(|e| format!("{at}: {e}"))?;
                let k = key_from_json(&v).map_err(|e| format!("{at}: {e}"))?;
                if k.db >= ks.databases() {
                    return Err(format!("{at}: database {} out of range", k.db));
                }
                for cmd in k.commands() {
                    exec(k.db, &cmd, &at)?;
                }
                summary.keys += 1;
                pb.inc(1);
            }
        }
    }
    ks.sync()
        .map_err(|e| format!("syncing {}: {e}", dir.display()))?;
    pb.finish_and_clear();
    Ok(summary)
}

fn key_from_json(v: &Json) -> Result<KeyDump, String> {
    let db = v.get("db").and_then(Json::as_u64).ok_or("missing \"db\"")? as usize;
    let key = from_text(v.get("key").ok_or("missing \"key\"")?)?;
    let kind = v
        .get("type")
        .and_then(Json::as_str)
        .ok_or("missing \"type\"")?
        .to_owned();
    let deadline = v.get("pexpireat").and_then(Json::as_u64);
    let value = v.get("value").ok_or("missing \"value\"")?;
    let list = |v: &Json| -> Result<Vec<Bytes>, String> {
        v.as_array()
            .ok_or_else(|| format!("\"value\" of a {kind} must be an array"))?
            .iter()
            .map(from_text)
            .collect()
    };
    let pairs = |v: &Json| -> Result<Vec<Bytes>, String> {
        let mut out = Vec::new();
        for p in v.as_array().ok_or("\"value\" must be an array of pairs")? {
            match p.as_array().map(Vec::as_slice) {
                Some([a, b]) => {
                    out.push(from_text(a)?);
                    out.push(from_text(b)?);
                }
                _ => return Err(format!("expected a [field, value] pair, got {p}")),
            }
        }
        Ok(out)
    };
    let items = match kind.as_str() {
        "string" => vec![from_text(value)?],
        "list" | "set" | BLOOM => list(value)?,
        "hash" => match value {
            Json::Object(m) => m
                .iter()
                .flat_map(|(k, v)| [Ok(Bytes::copy_from_slice(k.as_bytes())), from_text(v)])
                .collect::<Result<Vec<_>, String>>()?,
            other => pairs(other)?,
        },
        "zset" => pairs(value)?,
        other => return Err(format!("unknown type {other:?}")),
    };
    Ok(KeyDump {
        db,
        key,
        kind,
        deadline,
        items,
    })
}

/// `merge DIR`: one offline merge, with before/after figures.
pub fn merge(dir: &Path) -> Result<String, String> {
    let started = Instant::now();
    let ks = open(dir)?;
    let before = ks.stats().storage;
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("merging");
    spinner.enable_steady_tick(Duration::from_millis(200));
    ks.merge().map_err(|e| format!("merge failed: {e}"))?;
    spinner.finish_and_clear();
    let after = ks.stats().storage;
    Ok(format!(
        "{}: merged in {:.1} s: {} files / {} bytes before, {} files / {} bytes after ({} dead bytes dropped)",
        dir.display(),
        started.elapsed().as_secs_f64(),
        before.files,
        before.disk_bytes,
        after.files,
        after.disk_bytes,
        before.dead_bytes
    ))
}
