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
//! request  := 0 | db varint | now varint | seed u64 LE | args        (command)
//!           | 1 | db varint | now varint | seed u64 LE | n varint | args*   (transaction)
//!           | 2 | now varint                                         (expire cycle)
//! args     := argc varint | (len varint | bytes)*
//! now      := zigzag varint of now_ms minus the previous request's now_ms
//!             (0 before the first)
//! varint   := LEB128, at most 10 bytes
//! ```
//!
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

/// An argument longer than this is copied out of the buffer when decoded:
/// the keyspace keeps long values by sharing them (`value::keep`), and a
/// shared slice would keep the whole entry's buffer alive with it.
const SHARE_MAX: usize = crate::keyspace::KEEP_COPY_MAX;

/// Requests packed into one buffer (see the module documentation).
#[derive(Clone)]
pub struct Packed {
    buf: Bytes,
    requests: usize,
    replies: usize,
    /// The requests it was packed from, on the proposing node (not
    /// serialised): its own apply reads them instead of decoding.
    from: Option<Arc<[Request]>>,
}

impl Packed {
    /// Packs `reqs`, flattening nested batches.
    pub fn pack(reqs: Vec<Request>) -> Packed {
        let mut flat = Vec::with_capacity(reqs.len());
        for r in reqs {
            match r {
                Request::Batch(subs) => flat.extend(subs.iter().cloned()),
                Request::Packed(p) => flat.extend(p.requests()),
                r => flat.push(r),
            }
        }
        let replies: usize = flat.iter().map(super::state_machine::reply_count).sum();
        let size: usize = flat.iter().map(encoded_len).sum();
        let mut buf = BytesMut::with_capacity(size + 20);
        put_varint(&mut buf, flat.len() as u64);
        put_varint(&mut buf, replies as u64);
        let mut prev_now = 0u64;
        for r in &flat {
            encode(&mut buf, r, &mut prev_now);
        }
        Packed {
            buf: buf.freeze(),
            requests: flat.len(),
            replies,
            from: Some(flat.into()),
        }
    }

    /// Reads a packed buffer, checking all of it.
    pub fn decode(buf: Bytes) -> Result<Packed, String> {
        let mut r = Reader { buf: &buf, pos: 0 };
        let requests = r.len()?;
        let replies = r.len()?;
        let mut counted = 0usize;
        for _ in 0..requests {
            counted = counted.saturating_add(r.skip_request()?);
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
            requests,
            replies,
            from: None,
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

    /// The requests, in order (the ones it was packed from when it was
    /// packed here; else decoded, arguments sharing the buffer).
    pub fn requests(&self) -> Box<dyn Iterator<Item = Request> + Send + '_> {
        match &self.from {
            Some(reqs) => Box::new(reqs.iter().cloned()),
            None => {
                let mut r = Reader {
                    buf: &self.buf,
                    pos: 0,
                };
                // Checked by `decode`: the header reads.
                let _ = (r.len(), r.len());
                let mut prev_now = 0u64;
                Box::new((0..self.requests).map_while(move |_| r.request(&mut prev_now).ok()))
            }
        }
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

fn args_len(args: &[Bytes]) -> usize {
    varint_len(args.len() as u64)
        + args
            .iter()
            .map(|a| varint_len(a.len() as u64) + a.len())
            .sum::<usize>()
}

/// An upper bound of a request's encoded size (the clock delta counted at
/// its widest).
fn encoded_len(r: &Request) -> usize {
    match r {
        Request::Command { argv, .. } => 1 + 10 + 10 + 8 + args_len(argv),
        Request::Transaction { cmds, .. } => {
            1 + 10 + 10 + 8 + 10 + cmds.iter().map(|c| args_len(c)).sum::<usize>()
        }
        Request::ExpireCycle { .. } => 1 + 10,
        // Flattened by `pack`.
        Request::Batch(_) | Request::Packed(_) => 0,
    }
}

fn put_args(buf: &mut BytesMut, args: &[Bytes]) {
    put_varint(buf, args.len() as u64);
    for a in args {
        put_varint(buf, a.len() as u64);
        buf.put_slice(a);
    }
}

fn put_now(buf: &mut BytesMut, now_ms: u64, prev: &mut u64) {
    put_varint(buf, zigzag(now_ms.wrapping_sub(*prev) as i64));
    *prev = now_ms;
}

fn encode(buf: &mut BytesMut, r: &Request, prev_now: &mut u64) {
    match r {
        Request::Command {
            db,
            now_ms,
            rng_seed,
            argv,
        } => {
            buf.put_u8(COMMAND);
            put_varint(buf, *db as u64);
            put_now(buf, *now_ms, prev_now);
            buf.put_u64_le(*rng_seed);
            put_args(buf, argv);
        }
        Request::Transaction {
            db,
            now_ms,
            rng_seed,
            cmds,
        } => {
            buf.put_u8(TRANSACTION);
            put_varint(buf, *db as u64);
            put_now(buf, *now_ms, prev_now);
            buf.put_u64_le(*rng_seed);
            put_varint(buf, cmds.len() as u64);
            for c in cmds {
                put_args(buf, c);
            }
        }
        Request::ExpireCycle { now_ms } => {
            buf.put_u8(EXPIRE_CYCLE);
            put_now(buf, *now_ms, prev_now);
        }
        Request::Batch(_) | Request::Packed(_) => {}
    }
}

/// A cursor over a packed buffer; every read checks its bounds.
struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
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

    fn now(&mut self, prev: &mut u64) -> Result<u64, String> {
        let now = prev.wrapping_add(unzigzag(self.varint()?) as u64);
        *prev = now;
        Ok(now)
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

    /// Checks one request and returns its reply count.
    fn skip_request(&mut self) -> Result<usize, String> {
        let mut prev = 0;
        match self.u8()? {
            COMMAND => {
                self.db()?;
                self.now(&mut prev)?;
                self.u64_le()?;
                self.skip_args()?;
                Ok(1)
            }
            TRANSACTION => {
                self.db()?;
                self.now(&mut prev)?;
                self.u64_le()?;
                let n = self.len()?;
                for _ in 0..n {
                    self.skip_args()?;
                }
                Ok(n)
            }
            EXPIRE_CYCLE => {
                self.now(&mut prev)?;
                Ok(0)
            }
            t => Err(format!("unknown request tag {t}")),
        }
    }

    fn request(&mut self, prev_now: &mut u64) -> Result<Request, String> {
        match self.u8()? {
            COMMAND => {
                let db = self.db()?;
                let now_ms = self.now(prev_now)?;
                let rng_seed = self.u64_le()?;
                let argv = self.args()?.into();
                Ok(Request::Command {
                    db,
                    now_ms,
                    rng_seed,
                    argv,
                })
            }
            TRANSACTION => {
                let db = self.db()?;
                let now_ms = self.now(prev_now)?;
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
            EXPIRE_CYCLE => Ok(Request::ExpireCycle {
                now_ms: self.now(prev_now)?,
            }),
            t => Err(format!("unknown request tag {t}")),
        }
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
        let packed = Packed::pack(reqs.clone());
        assert_eq!((packed.len(), packed.reply_count()), (4, 4));
        let wire = codec().serialize(&Request::Packed(packed.clone())).unwrap();
        let back: Request = codec().deserialize(&wire).unwrap();
        let Request::Packed(back) = back else {
            panic!("not packed: {back:?}")
        };
        assert!(back.from.is_none());
        assert_eq!(back, packed);
        assert_eq!(back.requests().collect::<Vec<_>>(), reqs);
        assert_eq!(packed.requests().collect::<Vec<_>>(), reqs);
    }

    #[test]
    fn nested_batches_are_flattened() {
        let inner = Packed::pack(vec![cmd(2, &[b"b"]), cmd(3, &[b"c"])]);
        let p = Packed::pack(vec![
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
        let p = Packed::pack(vec![
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
            let p = Packed::pack(reqs.clone());
            let back = Packed::decode(p.as_bytes().clone()).unwrap();
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
