//! `MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
//! [AUTH password | AUTH2 username password] [KEYS key ...]`, as Redis 7.0
//! does it: the keys' DUMP payloads go to the target as `RESTORE key ttl
//! payload [REPLACE]` (after `AUTH` and `SELECT`), pipelined on one
//! connection; a key the target restored is then deleted here unless COPY.
//! The target may be a redis-server or another FincasKV: our payloads are
//! RDB forms both read.
//!
//! Differences from Redis, which runs MIGRATE blocking its one thread:
//! * The keys are read in one atomic step (an internal `EVAL_RO` of DUMP
//!   and PTTL) and deleted in another (an internal `EVAL` that deletes a key
//!   only if its DUMP is still the one sent), with the network in between;
//!   other clients run meanwhile. A key written in between is kept here
//!   (the target has the older value) instead of being lost. Both steps
//!   are ordinary commands, so a cluster replicates the delete.
//! * No connection cache: every MIGRATE connects anew (Redis keeps one per
//!   target for 10 s), so it always sends SELECT; and no second attempt
//!   when the first reply cannot be read (Redis reconnects once).
//! * In a cluster, the target gets `RESTORE`, never `RESTORE-ASKING`
//!   (FincasKV's cluster is replicated, not sharded).

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::connection::Connection;
use crate::command::args::{int_arg, is};
use crate::command::Reply;

/// MIGRATE's parsed arguments.
#[derive(Debug, PartialEq)]
struct Migrate {
    host: String,
    port: u16,
    keys: Vec<Bytes>,
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    /// AUTH password (no user) or AUTH2 user password.
    auth: Option<(Option<Bytes>, Bytes)>,
}

fn syntax() -> Reply {
    Reply::error("ERR syntax error")
}

/// Parses MIGRATE (arity already checked), with Redis's checks in Redis's
/// order: options, then the timeout, then the database.
fn parse(argv: &[Bytes]) -> Result<Migrate, Reply> {
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let mut keys = vec![argv[3].clone()];
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let a = &argv[j];
        if is(a, "copy") {
            copy = true;
        } else if is(a, "replace") {
            replace = true;
        } else if is(a, "auth") {
            if more == 0 {
                return Err(syntax());
            }
            auth = Some((None, argv[j + 1].clone()));
            j += 1;
        } else if is(a, "auth2") {
            if more < 2 {
                return Err(syntax());
            }
            auth = Some((Some(argv[j + 1].clone()), argv[j + 2].clone()));
            j += 2;
        } else if is(a, "keys") {
            if !argv[3].is_empty() {
                return Err(Reply::error(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = argv[j + 1..].to_vec();
            break;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let timeout = int_arg(&argv[5])?;
    let db = int_arg(&argv[4])?;
    if i32::try_from(db).is_err() {
        return Err(Reply::error("ERR value is not an integer or out of range"));
    }
    // Redis: a timeout <= 0 is 1000 ms.
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    Ok(Migrate {
        host: String::from_utf8_lossy(&argv[1]).into_owned(),
        // Redis reads the port with atoi; a port it cannot dial fails the
        // connection.
        port: atoi_port(&argv[2]),
        keys,
        db,
        timeout,
        copy,
        replace,
        auth,
    })
}

/// The port as C's `atoi` reads it, 0 when negative or out of range (no
/// server there).
fn atoi_port(a: &[u8]) -> u16 {
    let (neg, rest) = crate::command::args::c_sign(a);
    let end = rest
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end])
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| !neg)
        .unwrap_or(0)
}

/// Reads every key's DUMP payload and PTTL at once.
/// A key DUMP refuses (a bloom filter) fails the whole MIGRATE with DUMP's
/// error.
const READ_SCRIPT: &str = "local r = {} \
for i, k in ipairs(KEYS) do \
local d = redis.pcall('DUMP', k) \
if type(d) == 'table' and d.err then return d end \
r[2 * i - 1] = d r[2 * i] = redis.call('PTTL', k) end \
return r";

/// Deletes each key whose DUMP is still `ARGV[i]` (compare and delete).
const DELETE_SCRIPT: &str = "for i, k in ipairs(KEYS) do \
if redis.call('DUMP', k) == ARGV[i] then redis.call('DEL', k) end end \
return 0";

/// Why the exchange with the target failed.
enum Failure {
    /// Connecting or writing (Redis says "writing" for both when the
    /// connection is refused).
    Write,
    /// Reading a reply.
    Read,
}

impl Failure {
    fn reply(&self) -> Reply {
        Reply::error(match self {
            Failure::Write => "IOERR error or timeout writing to target instance",
            Failure::Read => "IOERR error or timeout reading to target instance",
        })
    }
}

impl Connection {
    /// MIGRATE (see the module docs).
    pub(super) async fn cmd_migrate(&mut self, argv: &[Bytes]) -> Reply {
        let m = match parse(argv) {
            Ok(m) => m,
            Err(e) => return e,
        };
        // 1. The keys' payloads and TTLs, in one atomic read.
        let mut read = vec![
            Bytes::from_static(b"EVAL_RO"),
            Bytes::from_static(READ_SCRIPT.as_bytes()),
            Bytes::from(m.keys.len().to_string()),
        ];
        read.extend(m.keys.iter().cloned());
        let spec = self.lookup(b"eval_ro").expect("EVAL_RO is in the table");
        let found = match self.exec_keyspace_as(spec, &read, None, false).await {
            Reply::Array(items) => items,
            other if other.is_error() => return other,
            _ => return Reply::error("ERR internal error reading the keys"),
        };
        // (key, payload, ttl) of the keys present.
        let mut moving: Vec<(Bytes, Bytes, i64)> = Vec::new();
        for (key, pair) in m.keys.iter().zip(found.chunks(2)) {
            if let [Reply::Bulk(payload), Reply::Integer(pttl)] = pair {
                // A key with a TTL of less than a millisecond left gets 1,
                // as Redis; an expired one is absent already.
                let ttl = if *pttl < 0 { 0 } else { (*pttl).max(1) };
                moving.push((key.clone(), payload.clone(), ttl));
            }
        }
        if moving.is_empty() {
            return Reply::Simple("NOKEY".into());
        }
        // 2. The exchange with the target.
        let restored = match exchange(&m, &moving).await {
            Ok(r) => r,
            Err(f) => return f.reply(),
        };
        // 3. Delete what the target restored (unless COPY), each key only
        //    if it is still what was sent.
        let (done, error, cut) = restored;
        if !m.copy && !done.is_empty() {
            let mut del = vec![
                Bytes::from_static(b"EVAL"),
                Bytes::from_static(DELETE_SCRIPT.as_bytes()),
                Bytes::from(done.len().to_string()),
            ];
            del.extend(done.iter().map(|&i| moving[i].0.clone()));
            del.extend(done.iter().map(|&i| moving[i].1.clone()));
            let spec = self.lookup(b"eval").expect("EVAL is in the table");
            let r = self.exec_keyspace_as(spec, &del, None, false).await;
            if r.is_error() && error.is_none() {
                return r;
            }
        }
        // Redis: the target's first error, else IOERR if the connection
        // failed after some keys were restored (they are gone here).
        match (error, cut) {
            (Some(e), _) => e,
            (None, true) => Failure::Read.reply(),
            (None, false) => Reply::ok(),
        }
    }
}

/// The target's replies: the indexes (into `moving`) of the keys it
/// restored, the first error it sent (Redis's reply then), and whether the
/// connection failed before every reply came.
type Restored = (Vec<usize>, Option<Reply>, bool);

/// Connects, sends AUTH / SELECT / the RESTOREs in one write, and reads the
/// replies, every step within `m.timeout`.
async fn exchange(m: &Migrate, moving: &[(Bytes, Bytes, i64)]) -> Result<Restored, Failure> {
    let t = m.timeout;
    let stream = tokio::time::timeout(t, TcpStream::connect((m.host.as_str(), m.port)))
        .await
        .map_err(|_| Failure::Write)?
        .map_err(|_| Failure::Write)?;
    let mut stream = BufReader::new(stream);
    let mut out = Vec::new();
    if let Some((user, pass)) = &m.auth {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        args.extend(user.as_deref());
        args.push(pass);
        encode(&mut out, &args);
    }
    let db = m.db.to_string();
    encode(&mut out, &[b"SELECT", db.as_bytes()]);
    for (key, payload, ttl) in moving {
        let ttl = ttl.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), payload];
        if m.replace {
            args.push(b"REPLACE");
        }
        encode(&mut out, &args);
    }
    tokio::time::timeout(t, stream.get_mut().write_all(&out))
        .await
        .map_err(|_| Failure::Write)?
        .map_err(|_| Failure::Write)?;
    let mut line = Vec::new();
    let mut read_line = async |line: &mut Vec<u8>| -> Result<(), Failure> {
        line.clear();
        match tokio::time::timeout(t, stream.read_until(b'\n', line)).await {
            Ok(Ok(n)) if n > 0 => Ok(()),
            _ => Err(Failure::Read),
        }
    };
    // A failed AUTH or SELECT fails every key (as in Redis, whose check
    // looks at them for each key).
    let mut first_error: Option<Vec<u8>> = None;
    if m.auth.is_some() {
        read_line(&mut line).await?;
        if line.starts_with(b"-") {
            first_error = Some(line.clone());
        }
    }
    read_line(&mut line).await?;
    if line.starts_with(b"-") && first_error.is_none() {
        first_error = Some(line.clone());
    }
    let before = first_error.is_some();
    let (mut done, mut cut) = (Vec::new(), false);
    for i in 0..moving.len() {
        if let Err(f) = read_line(&mut line).await {
            // Redis: keys restored before the failure are deleted; the
            // reply is the target's error if there was one, else IOERR.
            if done.is_empty() && first_error.is_none() {
                return Err(f);
            }
            cut = true;
            break;
        }
        if line.starts_with(b"-") {
            first_error.get_or_insert_with(|| line.clone());
        } else if !before {
            done.push(i);
        }
    }
    let error = first_error.map(|e| {
        let text = String::from_utf8_lossy(&e[1..]);
        Reply::Error(format!(
            "ERR Target instance replied with error: {}",
            text.trim_end_matches(['\r', '\n'])
        ))
    });
    Ok((done, error, cut))
}

/// Appends a RESP command.
fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| {
                if a == "''" {
                    Bytes::new()
                } else {
                    Bytes::copy_from_slice(a.as_bytes())
                }
            })
            .collect()
    }

    #[test]
    fn arguments_are_checked_in_redis_order() {
        let m = parse(&argv("MIGRATE h 7000 k 3 0 COPY REPLACE AUTH2 u p")).unwrap();
        assert_eq!(m.keys, vec![Bytes::from("k")]);
        assert_eq!((m.db, m.copy, m.replace, m.port), (3, true, true, 7000));
        assert_eq!(m.timeout, Duration::from_millis(1000));
        assert_eq!(m.auth, Some((Some(Bytes::from("u")), Bytes::from("p"))));
        let m = parse(&argv("MIGRATE h 7000 '' 0 5 AUTH pw KEYS a b")).unwrap();
        assert_eq!(m.keys, vec![Bytes::from("a"), Bytes::from("b")]);
        assert_eq!(m.auth, Some((None, Bytes::from("pw"))));
        let error = |s: &str| match parse(&argv(s)) {
            Err(Reply::Error(e)) => e,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(error("MIGRATE h 1 k 0 5 AUTH"), "ERR syntax error");
        assert_eq!(error("MIGRATE h 1 k 0 5 AUTH2 u"), "ERR syntax error");
        assert_eq!(error("MIGRATE h 1 k 0 5 NOPE"), "ERR syntax error");
        assert!(error("MIGRATE h 1 k 0 5 KEYS a").starts_with("ERR When using MIGRATE KEYS"));
        // Options before numbers: a syntax error wins over a bad timeout.
        assert_eq!(error("MIGRATE h 1 k 0 x NOPE"), "ERR syntax error");
        assert_eq!(
            error("MIGRATE h 1 k x 5"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error("MIGRATE h 1 k 0 5x"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error("MIGRATE h 1 k 4294967296 5"),
            "ERR value is not an integer or out of range"
        );
    }

    #[test]
    fn the_port_is_read_as_atoi_reads_it() {
        assert_eq!(atoi_port(b"7000"), 7000);
        assert_eq!(atoi_port(b" 7000x"), 7000);
        assert_eq!(atoi_port(b"x"), 0);
        assert_eq!(atoi_port(b"99999"), 0);
    }
}
