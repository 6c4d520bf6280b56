//! The compact form of a batch entry ([`Request::Packed`]): the requests
//! the proposer groups into one raft entry, encoded once into one buffer.
//!
//! Serialising a packed batch (into the raft log's frame, into an
//! AppendEntries for each follower) copies that buffer; deserialising it
//! allocates it once, and the arguments of the commands read from it are
//! slices of it. The derived form of [`Request::Batch`] did one allocation
//! per argument, per command and per argv on every follower, and walked
//! every command twice per serialisation (bincode's size pass, then its
//! write pass) three times on the leader: a follower spent ~23 % of its CPU
//! in that decoding at `redis-benchmark -P 16`.
//!
//! ```text
//! packed   := requests varint | replies varint | request*
//! request  := tag u8 | now | body; tag = kind, plus 0x80 when `now` is
//!             absolute
//! body of kind 0 (command):      db varint | seed u64 LE | args
//! body of kind 1 (transaction):  db varint | seed u64 LE | n varint | args*
//! body of kind 2 (expire cycle): empty
//! args     := argc varint | (len varint | bytes)*
//! now      := the proposer's clock in ms: absolute (varint) when the tag
//!             says so, else the zigzag varint of its difference from the
//!             previous request's
//! varint   := LEB128, at most 10 bytes
//! ```
//!
//! The first request of every packed batch has an absolute clock, so that
//! batches are joined by copying their requests ([`Packer::request`]: the
//! proposer joins the batches its clients submitted into one entry).
//! `replies` is the batch's reply count ([`super::state_machine::reply_count`])
//! so that it needs no walk. Decoding checks the whole buffer once (an
//! invalid one is a deserialisation error, never a panic at apply).

use std::fmt;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::Request;

const COMMAND: u8 = 0;
const TRANSACTION: u8 = 1;
const EXPIRE_CYCLE: u8 = 2;
/// Tag bit: the request's clock is absolute.
const ABSOLUTE: u8 = 0x80;

/// An argument longer than this is copied out of the buffer when decoded:
/// the keyspace keeps long values by sharing them (`value::keep`), and a
/// shared slice would keep the whole entry's buffer alive with it.
const SHARE_MAX: usize = crate::keyspace::KEEP_COPY_MAX;

/// Requests packed into one buffer (see the module documentation).
#[derive(Clone)]
pub struct Packed {
    buf: Bytes,
    /// Where the requests start (after the header).
    body: usize,
    requests: usize,
    replies: usize,
}

/// The most bytes the header takes (two varints).
const HEADER_MAX: usize = 20;

/// Builds a [`Packed`] request by request.
pub struct Packer {
    /// [`HEADER_MAX`] bytes of room for the header, then the requests:
    /// `finish` writes the header at the end of that room (no copy).
    body: BytesMut,
    requests: usize,
    replies: usize,
    /// The previous request's clock (`None`: the next one is absolute).
    prev_now: Option<u64>,
}

impl Default for Packer {
    fn default() -> Packer {
        Packer::with_capacity(0)
    }
}

impl Packer {
    /// An empty batch.
    pub fn new() -> Packer {
        Packer::default()
    }

    /// An empty batch with room for `bytes` of requests (see
    /// [`command_len`]).
    pub fn with_capacity(bytes: usize) -> Packer {
        let mut body = BytesMut::with_capacity(HEADER_MAX + bytes);
        body.put_bytes(0, HEADER_MAX);
        Packer {
            body,
            requests: 0,
            replies: 0,
            prev_now: None,
        }
    }

    fn now(&mut self, kind: u8, now_ms: u64) {
        match self.prev_now.replace(now_ms) {
            Some(prev) => {
                self.body.put_u8(kind);
                put_varint(&mut self.body, zigzag(now_ms.wrapping_sub(prev) as i64));
            }
            None => {
                self.body.put_u8(kind | ABSOLUTE);
                put_varint(&mut self.body, now_ms);
            }
        }
    }

    /// Adds one command (already normalised).
    pub fn command(&mut self, db: usize, now_ms: u64, rng_seed: u64, argv: &[Bytes]) {
        self.body.reserve(command_len(argv));
        self.now(COMMAND, now_ms);
        put_varint(&mut self.body, db as u64);
        self.body.put_u64_le(rng_seed);
        put_args(&mut self.body, argv);
        self.requests += 1;
        self.replies += 1;
    }

    /// Adds `req` (a batch's requests one by one; a packed batch's by
    /// copying its bytes).
    pub fn request(&mut self, req: &Request) {
        match req {
            Request::Command {
                db,
                now_ms,
                rng_seed,
                argv,
            } => self.command(*db, *now_ms, *rng_seed, argv),
            Request::Transaction {
                db,
                now_ms,
                rng_seed,
                cmds,
            } => {
                self.now(TRANSACTION, *now_ms);
                put_varint(&mut self.body, *db as u64);
                self.body.put_u64_le(*rng_seed);
                put_varint(&mut self.body, cmds.len() as u64);
                for c in cmds {
                    put_args(&mut self.body, c);
                }
                self.requests += 1;
                self.replies += cmds.len();
            }
            Request::ExpireCycle { now_ms } => {
                self.now(EXPIRE_CYCLE, *now_ms);
                self.requests += 1;
            }
            Request::Batch(subs) => subs.iter().for_each(|r| self.request(r)),
            Request::Packed(p) => {
                // Its first request's clock is absolute; the request after
                // its last must be too (that clock is not known here).
                self.body.extend_from_slice(&p.buf[p.body..]);
                self.requests += p.requests;
                self.replies += p.replies;
                self.prev_now = None;
            }
        }
    }

    /// The batch.
    pub fn finish(self) -> Packed {
        let mut header = BytesMut::with_capacity(HEADER_MAX);
        put_varint(&mut header, self.requests as u64);
        put_varint(&mut header, self.replies as u64);
        let start = HEADER_MAX - header.len();
        let mut buf = self.body;
        buf[start..HEADER_MAX].copy_from_slice(&header);
        Packed {
            buf: buf.freeze().slice(start..),
            body: header.len(),
            requests: self.requests,
            replies: self.replies,
        }
    }
}

impl Packed {
    /// Packs `reqs` (nested batches flattened).
    pub fn pack(reqs: &[Request]) -> Packed {
        let size = reqs
            .iter()
            .map(|r| match r {
                Request::Packed(p) => p.buf.len() - p.body,
                Request::Command { argv, .. } => command_len(argv),
                _ => 0,
            })
            .sum();
        let mut p = Packer::with_capacity(size);
        reqs.iter().for_each(|r| p.request(r));
        p.finish()
    }

    /// Reads a packed buffer, checking all of it.
    pub fn decode(buf: Bytes) -> Result<Packed, String> {
        let mut r = Reader::new(buf.clone());
        let requests = r.len()?;
        let replies = r.len()?;
        let body = r.pos;
        let mut counted = 0usize;
        for i in 0..requests {
            counted = counted.saturating_add(r.skip_request(i == 0)?);
        }
        if r.pos != buf.len() {
            return Err("trailing bytes after the last request".into());
        }
        if counted != replies {
            return Err(format!(
                "reply count {replies} does not match the requests' {counted}"
            ));
        }
        Ok(Packed {
            buf,
            body,
            requests,
            replies,
        })
    }

    /// The number of requests.
    pub fn len(&self) -> usize {
        self.requests
    }

    /// Whether it holds no request.
    pub fn is_empty(&self) -> bool {
        self.requests == 0
    }

    /// How many replies applying it produces.
    pub fn reply_count(&self) -> usize {
        self.replies
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The requests, in order; their arguments share the buffer.
    pub fn requests(&self) -> Requests {
        self.clone().into_requests()
    }

    /// [`Packed::requests`], taking the batch.
    pub fn into_requests(self) -> Requests {
        let mut reader = Reader::new(self.buf);
        reader.pos = self.body;
        Requests {
            reader,
            left: self.requests,
            prev_now: 0,
        }
    }
}

/// The requests of a [`Packed`] batch, decoded one at a time.
pub struct Requests {
    reader: Reader,
    left: usize,
    prev_now: u64,
}

impl Iterator for Requests {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        self.left = self.left.checked_sub(1)?;
        // `decode` checked every request: this cannot fail.
        self.reader.request(&mut self.prev_now).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Packed) -> bool {
        self.buf == other.buf
    }
}

impl Eq for Packed {}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packed")
            .field("requests", &self.requests)
            .field("replies", &self.replies)
            .field("bytes", &self.buf.len())
            .finish()
    }
}

impl Serialize for Packed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.buf)
    }
}

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a packed batch")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes::copy_from_slice(v))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes::from(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Bytes, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(Bytes::from(v))
            }
        }
        let buf = d.deserialize_byte_buf(Visitor)?;
        Packed::decode(buf).map_err(serde::de::Error::custom)
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// At most the bytes a command with arguments `argv` takes packed.
pub fn command_len(argv: &[Bytes]) -> usize {
    1 + 10 + 10 + 8 + args_len(argv)
}

fn args_len(args: &[Bytes]) -> usize {
    varint_len(args.len() as u64)
        + args
            .iter()
            .map(|a| varint_len(a.len() as u64) + a.len())
            .sum::<usize>()
}

fn put_args(buf: &mut BytesMut, args: &[Bytes]) {
    put_varint(buf, args.len() as u64);
    for a in args {
        put_varint(buf, a.len() as u64);
        buf.put_slice(a);
    }
}

/// A cursor over a packed buffer; every read checks its bounds.
struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    fn new(buf: Bytes) -> Reader {
        Reader { buf, pos: 0 }
    }

    fn u8(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(b)
    }

    /// A varint; one byte (every count, length, database and most clock
    /// steps) is read at once.
    #[inline]
    fn varint(&mut self) -> Result<u64, String> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.long_varint(),
        }
    }

    fn long_varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err("varint overflows 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    /// A count or length: at most the bytes left (each item takes one or
    /// more), so a corrupt one cannot make a huge allocation.
    fn len(&mut self) -> Result<usize, String> {
        let v = self.varint()?;
        let left = self.buf.len() - self.pos;
        usize::try_from(v)
            .ok()
            .filter(|n| *n <= left)
            .ok_or_else(|| format!("length {v} beyond the {left} bytes left"))
    }

    fn u64_le(&mut self) -> Result<u64, String> {
        let bytes = self.buf.get(self.pos..self.pos + 8).ok_or("truncated")?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(a))
    }

    /// The tag's kind and the request's clock.
    fn head(&mut self, prev: &mut u64) -> Result<(u8, u64), String> {
        let tag = self.u8()?;
        let v = self.varint()?;
        let now = if tag & ABSOLUTE != 0 {
            v
        } else {
            prev.wrapping_add(unzigzag(v) as u64)
        };
        *prev = now;
        Ok((tag & !ABSOLUTE, now))
    }

    fn db(&mut self) -> Result<usize, String> {
        usize::try_from(self.varint()?).map_err(|_| "database number out of range".to_string())
    }

    fn arg(&mut self) -> Result<Bytes, String> {
        let n = self.len()?;
        let at = self.pos;
        self.pos += n;
        Ok(if n > SHARE_MAX {
            Bytes::copy_from_slice(&self.buf[at..at + n])
        } else {
            self.buf.slice(at..at + n)
        })
    }

    /// The arguments of a command in one allocation (the range's exact
    /// length lets `collect` size it); the buffer was checked, a failed read
    /// cannot happen and would read as an empty argument.
    fn argv(&mut self) -> Result<Arc<[Bytes]>, String> {
        let n = self.len()?;
        Ok((0..n).map(|_| self.arg().unwrap_or_default()).collect())
    }

    fn args(&mut self) -> Result<Vec<Bytes>, String> {
        let n = self.len()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.arg()?);
        }
        Ok(v)
    }

    fn skip_args(&mut self) -> Result<(), String> {
        for _ in 0..self.len()? {
            let n = self.len()?;
            self.pos += n;
        }
        Ok(())
    }

    /// Checks one request and returns its reply count (the first of a
    /// batch must have an absolute clock).
    fn skip_request(&mut self, first: bool) -> Result<usize, String> {
        if first && self.buf.get(self.pos).is_some_and(|t| t & ABSOLUTE == 0) {
            return Err("the first request's clock is not absolute".into());
        }
        let mut prev = 0;
        match self.head(&mut prev)?.0 {
            COMMAND => {
                self.db()?;
                self.u64_le()?;
                self.skip_args()?;
                Ok(1)
            }
            TRANSACTION => {
                self.db()?;
                self.u64_le()?;
                let n = self.len()?;
                for _ in 0..n {
                    self.skip_args()?;
                }
                Ok(n)
            }
            EXPIRE_CYCLE => Ok(0),
            t => Err(format!("unknown request tag {t}")),
        }
    }

    fn request(&mut self, prev_now: &mut u64) -> Result<Request, String> {
        let (kind, now_ms) = self.head(prev_now)?;
        self.body(kind, now_ms)
    }

    /// The rest of a request after its head.
    fn body(&mut self, kind: u8, now_ms: u64) -> Result<Request, String> {
        match kind {
            COMMAND => Ok(Request::Command {
                db: self.db()?,
                now_ms,
                rng_seed: self.u64_le()?,
                argv: self.argv()?,
            }),
            TRANSACTION => {
                let db = self.db()?;
                let rng_seed = self.u64_le()?;
                let n = self.len()?;
                let mut cmds = Vec::with_capacity(n);
                for _ in 0..n {
                    cmds.push(self.args()?);
                }
                Ok(Request::Transaction {
                    db,
                    now_ms,
                    rng_seed,
                    cmds,
                })
            }
            EXPIRE_CYCLE => Ok(Request::ExpireCycle { now_ms }),
            t => Err(format!("unknown request tag {t}")),
        }
    }
}

/// A request of a packed batch as [`Requests::next_into`] decodes it.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A command whose arguments were pushed onto the caller's vector.
    Command {
        /// Logical database.
        db: usize,
        /// The proposer's clock.
        now_ms: u64,
        /// Seed for random choices.
        rng_seed: u64,
        /// Where its arguments start in the caller's vector.
        at: usize,
        /// How many there are.
        len: usize,
    },
    /// Any other request.
    Other(Request),
}

impl Requests {
    /// The next request; a command's arguments are pushed onto `args`
    /// (the state machine gathers a whole group's there: no allocation
    /// per command).
    pub fn next_into(&mut self, args: &mut Vec<Bytes>) -> Option<Decoded> {
        self.left = self.left.checked_sub(1)?;
        let r = &mut self.reader;
        // `decode` checked every request: these reads cannot fail.
        let (kind, now_ms) = r.head(&mut self.prev_now).ok()?;
        if kind != COMMAND {
            return r.body(kind, now_ms).ok().map(Decoded::Other);
        }
        let db = r.db().ok()?;
        let rng_seed = r.u64_le().ok()?;
        let len = r.len().ok()?;
        let at = args.len();
        args.reserve(len);
        for _ in 0..len {
            args.push(r.arg().ok()?);
        }
        Some(Decoded::Command {
            db,
            now_ms,
            rng_seed,
            at,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bincode::Options;
    use proptest::prelude::*;

    fn cmd(now_ms: u64, args: &[&[u8]]) -> Request {
        Request::Command {
            db: 3,
            now_ms,
            rng_seed: now_ms.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            argv: args.iter().map(|a| Bytes::copy_from_slice(a)).collect(),
        }
    }

    fn codec() -> impl bincode::Options {
        bincode::DefaultOptions::new()
    }

    #[test]
    fn a_batch_goes_through_bincode_and_back() {
        let big = vec![7u8; SHARE_MAX + 1];
        let reqs = vec![
            cmd(1_700_000_000_000, &[b"set", b"k\r\n\0", b"v"]),
            Request::ExpireCycle {
                now_ms: 1_699_999_999_000,
            },
            Request::Transaction {
                db: 0,
                now_ms: u64::MAX,
                rng_seed: 5,
                cmds: vec![
                    vec![Bytes::from_static(b"incr"), Bytes::from_static(b"n")],
                    vec![],
                ],
            },
            cmd(0, &[b"set", b"big", &big]),
        ];
        let packed = Packed::pack(&reqs);
        assert_eq!((packed.len(), packed.reply_count()), (4, 4));
        let wire = codec().serialize(&Request::Packed(packed.clone())).unwrap();
        let back: Request = codec().deserialize(&wire).unwrap();
        let Request::Packed(back) = back else {
            panic!("not packed: {back:?}")
        };
        assert_eq!(back, packed);
        assert_eq!(back.requests().collect::<Vec<_>>(), reqs);
        assert_eq!(packed.requests().collect::<Vec<_>>(), reqs);
    }

    #[test]
    fn next_into_gathers_the_arguments_of_commands() {
        let expire = Request::ExpireCycle { now_ms: 7 };
        let p = Packed::pack(&[cmd(5, &[b"a", b"b"]), expire.clone(), cmd(9, &[b"c"])]);
        let mut args = vec![Bytes::from_static(b"before")];
        let mut it = p.into_requests();
        let mut got = Vec::new();
        while let Some(d) = it.next_into(&mut args) {
            got.push(d);
        }
        let seed = |n: u64| n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        assert_eq!(
            got,
            vec![
                Decoded::Command {
                    db: 3,
                    now_ms: 5,
                    rng_seed: seed(5),
                    at: 1,
                    len: 2
                },
                Decoded::Other(expire),
                Decoded::Command {
                    db: 3,
                    now_ms: 9,
                    rng_seed: seed(9),
                    at: 3,
                    len: 1
                },
            ]
        );
        assert_eq!(args, [&b"before"[..], b"a", b"b", b"c"]);
    }

    #[test]
    fn nested_batches_are_flattened() {
        let inner = Packed::pack(&[cmd(2, &[b"b"]), cmd(3, &[b"c"])]);
        let p = Packed::pack(&[
            cmd(1, &[b"a"]),
            Request::Packed(inner),
            Request::Batch(vec![cmd(4, &[b"d"])].into()),
        ]);
        let names: Vec<Request> = p.requests().collect();
        assert_eq!(
            names,
            vec![
                cmd(1, &[b"a"]),
                cmd(2, &[b"b"]),
                cmd(3, &[b"c"]),
                cmd(4, &[b"d"])
            ]
        );
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_refused_or_read_whole() {
        let p = Packed::pack(&[
            cmd(1_700_000_000_000, &[b"set", b"key", b"value"]),
            Request::Transaction {
                db: 1,
                now_ms: 1_700_000_000_001,
                rng_seed: 9,
                cmds: vec![vec![Bytes::from_static(b"del"), Bytes::from_static(b"x")]],
            },
        ]);
        let buf = p.as_bytes().clone();
        for cut in 0..buf.len() {
            assert!(Packed::decode(buf.slice(..cut)).is_err(), "cut at {cut}");
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut v = buf.to_vec();
                v[i] ^= 1 << bit;
                if let Ok(q) = Packed::decode(Bytes::from(v)) {
                    // A flip that still reads (an argument's byte) reads
                    // as many requests as it claims.
                    assert_eq!(q.requests().count(), q.len());
                }
            }
        }
    }

    proptest! {
        #[test]
        fn packing_round_trips(
            cmds in proptest::collection::vec(
                (0usize..16, any::<u64>(), any::<u64>(),
                 proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..5)),
                0..20),
        ) {
            let reqs: Vec<Request> = cmds
                .into_iter()
                .map(|(db, now_ms, rng_seed, args)| Request::Command {
                    db,
                    now_ms,
                    rng_seed,
                    argv: args.into_iter().map(Bytes::from).collect(),
                })
                .collect();
            // Packed whole, and in two parts joined.
            let p = Packed::pack(&reqs);
            let back = Packed::decode(p.as_bytes().clone()).unwrap();
            prop_assert_eq!(back.requests().collect::<Vec<_>>(), reqs.clone());
            let (a, b) = reqs.split_at(reqs.len() / 2);
            let joined = Packed::pack(&[
                Request::Packed(Packed::pack(a)),
                Request::Packed(Packed::pack(b)),
            ]);
            prop_assert_eq!(joined.len(), reqs.len());
            let back = Packed::decode(joined.as_bytes().clone()).unwrap();
            prop_assert_eq!(back.requests().collect::<Vec<_>>(), reqs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packed::decode(Bytes::from(bytes)) {
                prop_assert_eq!(p.requests().count(), p.len());
            }
        }
    }
}
