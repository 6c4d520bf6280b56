//! Entry points of the cargo-fuzz targets (`fuzz/fuzz_targets/`) and of
//! their regression test (`tests/fuzz_regressions.rs`, which replays every
//! saved input on each `cargo test`). Not an API: each function takes
//! arbitrary bytes and panics only when it finds a bug.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};

use crate::command::{table, Ctx, Reply};
use crate::keyspace::{Config, Keyspace};
use crate::resp::{encode, Decoded, Decoder, Limits, Protocol};
use crate::storage::{self, FsyncPolicy, Options};

pub use crate::storage::fuzz_hooks::{hint, record};

/// Small limits, so that a fuzzer explores them instead of running out of memory.
fn limits() -> Limits {
    Limits {
        max_bulk_len: 1 << 16,
        max_multibulk_len: 1 << 12,
    }
}

/// Decodes everything in `buf` with a fresh decoder, feeding it in pieces
/// of `step` bytes (0 = all at once): the commands, then the error if any.
fn decode_all(data: &[u8], step: usize) -> (Vec<Vec<Bytes>>, Option<String>) {
    let mut dec = Decoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let limits = limits();
    let chunks: Vec<&[u8]> = if step == 0 {
        vec![data]
    } else {
        data.chunks(step).collect()
    };
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(&mut buf, &limits, true) {
                Ok(Decoded::Command(argv)) => {
                    assert!(!argv.is_empty(), "an empty command was returned");
                    out.push(argv);
                }
                Ok(Decoded::Incomplete { .. }) => break,
                Err(e) => return (out, Some(e.0.to_owned())),
            }
        }
    }
    (out, None)
}

/// The RESP request decoder: never panics, and gives the same commands and
/// the same error whether the bytes arrive at once or split into pieces of
/// any size (the decoder is resumable).
pub fn resp(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let whole = decode_all(rest, 0);
    let pieces = decode_all(rest, usize::from(step % 17) + 1);
    assert_eq!(whole, pieces, "split input decodes differently");
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fincaskv-fuzz-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(dir: &Path) -> Options {
    Options::new(dir)
        .with_fsync(FsyncPolicy::No)
        .with_max_file_size(1 << 16)
}

/// Reads every key of every database the way a client would.
fn read_everything(ks: &Keyspace) {
    let argv = |parts: &[&[u8]]| -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
    };
    for db in 0..ks.databases() {
        let ctx = Ctx::new(1_800_000_000_000, 1, db);
        let Reply::Array(keys) = ks.execute(&ctx, &argv(&[b"KEYS", b"*"])) else {
            continue;
        };
        for key in keys {
            let Reply::Bulk(key) = key else { continue };
            for cmd in [
                &[b"TYPE".as_slice()][..],
                &[b"GET"],
                &[b"LRANGE", b"0", b"-1"],
                &[b"HGETALL"],
                &[b"SMEMBERS"],
                &[b"ZRANGE", b"0", b"-1", b"WITHSCORES"],
                &[b"BF.INFO"],
                &[b"PTTL"],
            ] {
                let mut a = argv(cmd);
                a.insert(1, key.clone());
                let _ = ks.execute(&ctx, &a);
            }
        }
    }
}

/// Recovery from an arbitrary directory. The input is a list of files:
/// `[kind][id][len u16 le][bytes]...` with kind even = data file, odd =
/// hint file. Opening must give a store or a clean error, never a panic;
/// an opened store answers reads of every key; after a corruption error,
/// the repair must leave a directory that opens.
pub fn recovery(data: &[u8]) {
    let tmp = TempDir::new("recovery");
    let dir = tmp.0.join("db");
    std::fs::create_dir_all(&dir).expect("create the store directory");
    let mut rest = data;
    while rest.len() >= 4 {
        let (kind, id) = (rest[0], u32::from(rest[1] % 8) + 1);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]])).min(rest.len() - 4);
        let suffix = if kind % 2 == 0 { "data" } else { "hint" };
        let path = dir.join(format!("{id:010}.{suffix}"));
        std::fs::write(&path, &rest[4..4 + len]).expect("write a fuzz file");
        rest = &rest[4 + len..];
    }
    match Keyspace::open(Config::new(options(&dir))) {
        Ok(ks) => read_everything(&ks),
        Err(crate::keyspace::Error::Storage(storage::Error::Corruption { .. })) => {
            // Repair works at the storage level: a directory it salvaged
            // opens, or is refused with a keyspace-level error (a CRC-valid
            // record that contradicts the others, e.g. a bloom item whose
            // filter record was lost), never a storage error or a panic.
            if storage::repair(&dir).is_ok() {
                match Keyspace::open(Config::new(options(&dir))) {
                    Ok(ks) => read_everything(&ks),
                    Err(crate::keyspace::Error::Storage(storage::Error::InvalidArgument(why)))
                        if why.starts_with("keyspace record") => {}
                    Err(e) => panic!("the repaired directory does not open: {e}"),
                }
            }
        }
        Err(_) => {}
    }
}

/// Arbitrary arguments for real command names, through the one execute
/// path, on one keyspace kept across inputs (so state builds up). The
/// input is `[command index][seed][db]` then the arguments separated by
/// 0xFF bytes. Replies must be encodable in RESP2 and RESP3.
pub fn command(data: &[u8]) {
    static KS: OnceLock<(TempDir, Keyspace)> = OnceLock::new();
    let (_, ks) = KS.get_or_init(|| {
        let tmp = TempDir::new("command");
        let ks = Keyspace::open(Config::new(options(&tmp.0))).expect("open a keyspace");
        (tmp, ks)
    });
    if data.len() < 3 {
        return;
    }
    let specs = table();
    let spec = &specs[usize::from(data[0]) % specs.len()];
    // SRANDMEMBER / HRANDFIELD / ZRANDMEMBER with a count of -N return N
    // picks, as on Redis: a huge N on a key the run built up is a reply of
    // many GB, not a bug. Keep counts where the fuzzer's memory limit holds.
    let huge = |a: &[u8]| {
        std::str::from_utf8(a)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|n| n < -100_000)
    };
    if spec.flags.random && data[3..].split(|&b| b == 0xFF).any(huge) {
        return;
    }
    let mut argv = vec![Bytes::from(spec.name.as_bytes().to_vec())];
    if data.len() > 3 {
        argv.extend(data[3..].split(|&b| b == 0xFF).map(Bytes::copy_from_slice));
    }
    // A fixed clock so that runs replay exactly; the seed byte varies picks.
    let ctx = Ctx::new(
        1_800_000_000_000,
        u64::from(data[1]),
        usize::from(data[2] % 16),
    );
    let reply = ks.execute(&ctx, &argv);
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let mut out = BytesMut::new();
        encode(&reply, proto, &mut out);
        assert!(!out.is_empty(), "an empty encoding");
    }
    // Keep memory and open files bounded across a long run: a flush now and
    // then, and the merge the server's housekeeping would run (without it,
    // a million writes left thousands of files open: EMFILE).
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let calls = CALLS.fetch_add(1, Ordering::Relaxed);
    if data[0] == 0 && data[1] == 0 {
        let _ = ks.execute(&ctx, &[Bytes::from_static(b"FLUSHALL")]);
    }
    if calls % 20_000 == 19_999 && ks.needs_merge() {
        ks.merge().unwrap_or_else(|e| panic!("merge failed: {e}"));
    }
}
