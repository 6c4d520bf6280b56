//! The RDB object serialization DUMP writes and RESTORE reads, written
//! from the format description (Redis's rdb.c / listpack.c / ziplist.c /
//! intset.c describe it; no code is taken from them).
//!
//! ```text
//! payload = type:u8  object-body  version:u16 LE (<= 10)  crc64:u64 LE
//!           └────────── CRC64 (Jones, reflected) covers all before it ─┘
//!
//! length  = 00pppppp                      6-bit length
//!         | 01pppppp qqqqqqqq             14-bit length (big endian)
//!         | 0x80 u32 BE | 0x81 u64 BE     32 / 64-bit length
//!         | 11eeeeee                      string encoding e (below)
//! string  = length bytes
//!         | 0xC0 i8 | 0xC1 i16 LE | 0xC2 i32 LE      decimal integer
//!         | 0xC3 clen:length ulen:length lzf-block   LZF-compressed
//! ```
//!
//! Object bodies read here (the types Redis 7.0 writes, and the older ones
//! it still loads): 0 string; 1 list, 2 set, 4 hash (`count` then strings);
//! 3 sorted set (member, ASCII double) and 5 (member, binary f64 LE);
//! 10 / 12 / 13 a ziplist blob (list / sorted set / hash); 11 an intset
//! blob; 14 quicklist (`count` ziplist blobs); 16 / 17 a listpack blob
//! (hash / sorted set); 18 quicklist 2 (`count` x (container: 1 plain
//! element | 2 listpack blob)). Blobs are RDB strings (often LZF).
//!
//! DUMP writes only the plain forms (0, 1, 2, 4, 5): Redis 7.0 loads them
//! and converts to its compact encodings itself, so our payloads differ in
//! bytes from Redis's (which uses int-encoded strings, listpacks, intsets)
//! while restoring to the same value.
//!
//! Everything decoded is bounds-checked and charged to a [`Budget`]: a
//! hostile payload gets an error, never a panic or an allocation far beyond
//! its size.

use std::collections::HashSet;

use crate::keyspace::stream::rdb as stream_rdb;

/// RDB version written in the DUMP footer (Redis 7.0 writes 10).
pub(crate) const RDB_VERSION: u16 = 10;

/// Reflected form of the Jones polynomial 0xad93d23594c935a9.
const CRC64_POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn crc64_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ CRC64_POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC64_TABLE: [u64; 256] = crc64_table();

/// Redis's CRC64 (Jones, reflected, init 0, no final xor) of `data`,
/// continuing from `crc`.
pub(crate) fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = CRC64_TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// Decompresses an LZF block into exactly `expected_len` bytes.
///
/// Returns `None` on any malformed input (back reference before the start
/// of the output, truncated input, or a length mismatch); never panics.
pub(crate) fn lzf_decompress(input: &[u8], expected_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(expected_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run)?;
            if out.len() + run > expected_len {
                return None;
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            len += 2;
            let low = usize::from(*input.get(i)?);
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            if back > out.len() || out.len() + len > expected_len {
                return None;
            }
            let start = out.len() - back;
            // Byte by byte: the source may overlap the bytes being written.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == expected_len).then_some(out)
}

/// Hash table size (log2) of the LZF compressor Redis links (liblzf 3.6,
/// `HLOG` 16, `VERY_FAST`).
const LZF_HLOG: u32 = 16;
/// Longest literal run, farthest back reference, longest back reference.
const LZF_MAX_LIT: usize = 1 << 5;
const LZF_MAX_OFF: usize = 1 << 13;
const LZF_MAX_REF: usize = (1 << 8) + (1 << 3);

/// liblzf's hash of the three bytes ending the window `h`.
fn lzf_idx(h: u32) -> usize {
    ((h >> (24 - LZF_HLOG)).wrapping_sub(h.wrapping_mul(5)) & ((1 << LZF_HLOG) - 1)) as usize
}

/// Compresses `input` as liblzf 3.6 (Redis's build options) does, into at
/// most `out_len` bytes; `None` when it does not fit (liblzf's 0).
///
/// Written from the format and the algorithm's description so that the
/// output is liblzf's byte for byte: the same hash, the same table
/// updates after a back reference, the same "position 0 is never a
/// reference" and the same conservative room checks. liblzf leaves its
/// hash table uninitialised; this one starts empty, which is what a
/// table of stale slots that never match amounts to.
///
/// ```text
/// 000LLLLL <L+1 bytes>          literal run of 1..32 bytes
/// LLLooooo oooooooo             back reference of L+2 (3..8) bytes, offset o+1
/// 111ooooo LLLLLLLL oooooooo    back reference of L+9 bytes
/// ```
pub(crate) fn lzf_compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n < 3 || out_len == 0 {
        return None;
    }
    let mut table = vec![0u32; 1 << LZF_HLOG];
    // Room for the few bytes liblzf may write past its checks.
    let mut out = vec![0u8; out_len + 4];
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    let mut hval: u32 = (u32::from(input[0]) << 8) | u32::from(input[1]);
    while ip < n - 2 {
        hval = (hval << 8) | u32::from(input[ip + 2]);
        let slot = lzf_idx(hval);
        let reference = table[slot] as usize;
        table[slot] = ip as u32;
        let found = reference > 0
            && reference < ip
            && ip - reference - 1 < LZF_MAX_OFF
            && input[reference..reference + 3] == input[ip..ip + 3];
        if found {
            let off = ip - reference - 1;
            let mut len = 2usize;
            let maxlen = (n - ip - len).min(LZF_MAX_REF);
            if op + 4 >= out_len && op - usize::from(lit == 0) + 4 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            op -= usize::from(lit == 0);
            // liblzf compares 16 bytes unchecked when more than 16 may
            // match, then one at a time up to `maxlen`.
            let mut mismatch = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[reference + len] != input[ip + len] {
                        mismatch = true;
                        break;
                    }
                }
            }
            if !mismatch {
                loop {
                    len += 1;
                    if !(len < maxlen && input[reference + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // the byte after starts the next literal run
            lit = 0;
            ip += len + 1;
            if ip >= n - 2 {
                break;
            }
            ip -= 2;
            hval = (u32::from(input[ip]) << 8) | u32::from(input[ip + 1]);
            hval = (hval << 8) | u32::from(input[ip + 2]);
            table[lzf_idx(hval)] = ip as u32;
            ip += 1;
            hval = (hval << 8) | u32::from(input[ip + 2]);
            table[lzf_idx(hval)] = ip as u32;
            ip += 1;
        } else {
            lzf_literal(&mut out, out_len, input[ip], &mut op, &mut lit)?;
            ip += 1;
        }
    }
    if op + 3 > out_len {
        return None;
    }
    let room = out.len();
    while ip < n {
        lzf_literal(&mut out, room, input[ip], &mut op, &mut lit)?;
        ip += 1;
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// Puts `byte` in the literal run at `out[*op]`, closing the run at
/// [`LZF_MAX_LIT`] literals as liblzf does; `None` when `*op` reached
/// `limit` (the output would not be smaller).
fn lzf_literal(
    out: &mut [u8],
    limit: usize,
    byte: u8,
    op: &mut usize,
    lit: &mut usize,
) -> Option<()> {
    if *op >= limit {
        return None;
    }
    out[*op] = byte;
    *lit += 1;
    *op += 1;
    if *lit == LZF_MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
    Some(())
}

/// Appends `s` as Redis's `rdbSaveRawString` does with `rdbcompression
/// yes`: the integer form for the canonical text of a 32-bit integer,
/// LZF (`0xC3 clen ulen block`) for a string over 20 bytes that
/// compresses by at least 4, else length-prefixed.
pub(crate) fn put_raw_string(out: &mut Vec<u8>, s: &[u8]) {
    let int = crate::command::args::parse_i64(s).and_then(|v| i32::try_from(v).ok());
    if int.is_some() {
        put_str_or_int(out, s);
        return;
    }
    if s.len() > 20 {
        if let Some(block) = lzf_compress(s, s.len() - 4) {
            out.push(0xC3);
            put_len(out, block.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&block);
            return;
        }
    }
    put_str(out, s);
}

/// Appends an RDB length (6-bit, 14-bit, 32-bit or 64-bit form).
pub(crate) fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends a plain length-prefixed RDB string (no int or LZF encoding).
pub(crate) fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Bounds-checked reader over an RDB payload body; every method returns
/// `None` on malformed or truncated input instead of panicking.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// What decoded strings may still take.
    pub(crate) budget: Budget,
}

/// Bytes a decode may still produce: every string and element is charged
/// its length plus [`ELEMENT_COST`], so that a small payload (LZF expands
/// up to ~90x, a listpack entry can be 2 bytes) cannot demand memory far
/// beyond what the command may write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    left: usize,
    /// The budget ran out (as opposed to malformed input).
    pub(crate) exceeded: bool,
}

/// Bookkeeping charged per decoded element on top of its bytes.
const ELEMENT_COST: usize = 32;

impl Budget {
    /// A budget of `bytes`.
    pub(crate) fn new(bytes: usize) -> Budget {
        Budget {
            left: bytes,
            exceeded: false,
        }
    }

    /// Charges one element of `len` bytes; `None` once the budget is gone.
    pub(crate) fn charge(&mut self, len: usize) -> Option<()> {
        let cost = len.checked_add(ELEMENT_COST)?;
        if cost > self.left {
            self.exceeded = true;
            return None;
        }
        self.left -= cost;
        Some(())
    }
}

/// An RDB length field: either a length or a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            budget: Budget::new(usize::MAX),
        }
    }

    /// True once every byte has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Takes one byte.
    pub(crate) fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn len_field(&mut self) -> Option<Len> {
        let b = self.byte()?;
        Some(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain((u64::from(b & 0x3f) << 8) | u64::from(self.byte()?)),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().ok()?,
                ))),
                0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    /// Reads a plain RDB length (special encodings are an error).
    pub(crate) fn len(&mut self) -> Option<u64> {
        match self.len_field()? {
            Len::Plain(n) => Some(n),
            Len::Encoded(_) => None,
        }
    }

    /// Reads an RDB string in any encoding (plain, int8/16/32, LZF).
    pub(crate) fn string(&mut self) -> Option<Vec<u8>> {
        let int = match self.len_field()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).ok()?;
                let s = self.take(n)?;
                self.budget.charge(n)?;
                return Some(s.to_vec());
            }
            Len::Encoded(0) => i64::from(self.byte()? as i8),
            Len::Encoded(1) => i64::from(i16::from_le_bytes(self.take(2)?.try_into().ok()?)),
            Len::Encoded(2) => i64::from(i32::from_le_bytes(self.take(4)?.try_into().ok()?)),
            Len::Encoded(3) => {
                let clen = usize::try_from(self.len()?).ok()?;
                let ulen = usize::try_from(self.len()?).ok()?;
                // One LZF back reference (3 bytes) expands to at most 264.
                if ulen > clen.saturating_mul(LZF_MAX_RATIO) {
                    return None;
                }
                let block = self.take(clen)?;
                self.budget.charge(ulen)?;
                return lzf_decompress(block, ulen);
            }
            Len::Encoded(_) => return None,
        };
        let s = int.to_string().into_bytes();
        self.budget.charge(s.len())?;
        Some(s)
    }

    /// Reads a little-endian binary double (RDB_TYPE_ZSET_2 scores).
    pub(crate) fn binary_double(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// RDB object type: string.
pub(crate) const RDB_TYPE_STRING: u8 = 0;
/// RDB object type: plain list (count, then the elements).
pub(crate) const RDB_TYPE_LIST: u8 = 1;
/// RDB object type: plain set.
pub(crate) const RDB_TYPE_SET: u8 = 2;
/// RDB object type: sorted set with ASCII double scores (before RDB 8).
const RDB_TYPE_ZSET: u8 = 3;
/// RDB object type: plain hash.
pub(crate) const RDB_TYPE_HASH: u8 = 4;
/// RDB object type: sorted set with binary double scores.
pub(crate) const RDB_TYPE_ZSET_2: u8 = 5;
/// RDB object type: list as one ziplist.
const RDB_TYPE_LIST_ZIPLIST: u8 = 10;
/// RDB object type: set of integers as an intset.
const RDB_TYPE_SET_INTSET: u8 = 11;
/// RDB object type: sorted set as one ziplist (member, score, ...).
const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
/// RDB object type: hash as one ziplist (field, value, ...).
const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
/// RDB object type: list as a quicklist of ziplists.
const RDB_TYPE_LIST_QUICKLIST: u8 = 14;
/// RDB object type: hash as one listpack (field, value, ...).
const RDB_TYPE_HASH_LISTPACK: u8 = 16;
/// RDB object type: sorted set as one listpack (member, score, ...).
const RDB_TYPE_ZSET_LISTPACK: u8 = 17;
/// RDB object type: list as a quicklist of listpacks and plain nodes.
const RDB_TYPE_LIST_QUICKLIST_2: u8 = 18;

/// Quicklist 2 node container: one plain element.
const QUICKLIST_NODE_PLAIN: u64 = 1;
/// Quicklist 2 node container: a listpack.
const QUICKLIST_NODE_PACKED: u64 = 2;

/// Largest LZF expansion: a 3-byte back reference writes 264 bytes.
const LZF_MAX_RATIO: usize = 90;

/// Appends the DUMP footer (RDB version, little-endian CRC64) to `body`,
/// which must already start with the object type byte.
pub(crate) fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Appends `s` as Redis writes a short string: in integer form when it is
/// the canonical decimal text of a 32-bit integer, else length-prefixed.
fn put_str_or_int(out: &mut Vec<u8>, s: &[u8]) {
    // `parse_i64` is Redis's `string2ll`: canonical decimal text only.
    let int = crate::command::args::parse_i64(s).and_then(|v| i32::try_from(v).ok());
    match int {
        Some(v) if i8::try_from(v).is_ok() => out.extend_from_slice(&[0xC0, v as u8]),
        Some(v) if i16::try_from(v).is_ok() => {
            out.push(0xC1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        Some(v) => {
            out.push(0xC2);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => put_str(out, s),
    }
}

/// DUMP payload of a string value. Integers of up to 32 bits take the
/// integer form, so that a short string's payload is Redis's byte for byte
/// (Redis also LZF-compresses strings over 20 bytes; we do not).
pub(crate) fn encode_string(v: &[u8]) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_STRING];
    put_str_or_int(&mut b, v);
    seal(b)
}

/// DUMP payload of a list of `len` elements (plain RDB_TYPE_LIST, head first).
pub(crate) fn encode_list<'m>(len: usize, items: impl Iterator<Item = &'m [u8]>) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_LIST];
    put_len(&mut b, len as u64);
    items.for_each(|m| put_str(&mut b, m));
    seal(b)
}

/// DUMP payload of a set of `len` members (plain RDB_TYPE_SET).
pub(crate) fn encode_set<'m>(len: usize, members: impl Iterator<Item = &'m [u8]>) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_SET];
    put_len(&mut b, len as u64);
    members.for_each(|m| put_str(&mut b, m));
    seal(b)
}

/// DUMP payload of a hash of `len` fields (plain RDB_TYPE_HASH).
pub(crate) fn encode_hash<'m>(
    len: usize,
    pairs: impl Iterator<Item = (&'m [u8], &'m [u8])>,
) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_HASH];
    put_len(&mut b, len as u64);
    pairs.for_each(|(f, v)| {
        put_str(&mut b, f);
        put_str(&mut b, v);
    });
    seal(b)
}

/// DUMP payload of a sorted set of `len` members (RDB_TYPE_ZSET_2, binary
/// double scores).
pub(crate) fn encode_zset<'m>(
    len: usize,
    entries: impl Iterator<Item = (&'m [u8], f64)>,
) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_ZSET_2];
    put_len(&mut b, len as u64);
    entries.for_each(|(m, score)| {
        put_str(&mut b, m);
        b.extend_from_slice(&score.to_le_bytes());
    });
    seal(b)
}

/// A value decoded from a DUMP payload, before it becomes a keyspace value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Object {
    /// A string.
    Str(Vec<u8>),
    /// A list, head first (never empty).
    List(Vec<Vec<u8>>),
    /// A set's members (never empty, no duplicates).
    Set(Vec<Vec<u8>>),
    /// A hash's fields and values (never empty, no duplicate fields).
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A sorted set's members and scores (never empty, no duplicate
    /// members, no NaN).
    ZSet(Vec<(Vec<u8>, f64)>),
    /// A stream, its groups, pending entries and consumers.
    Stream(crate::keyspace::stream::rdb::Restored),
}

/// Why a payload cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadError {
    /// Shorter than the footer, an RDB version above ours, or a CRC64
    /// mismatch (`ERR DUMP payload version or checksum are wrong`).
    VersionOrChecksum,
    /// A type we do not load, or a malformed body (`ERR Bad data format`).
    BadFormat,
    /// The value decodes into more than the budget.
    TooLarge,
}

/// Whether `payload` ends in a valid footer: an RDB version we read (as
/// Redis, any version up to ours) and the CRC64 of everything before the
/// checksum.
pub(crate) fn footer_ok(payload: &[u8]) -> bool {
    let Some(n) = payload.len().checked_sub(10) else {
        return false;
    };
    let version = u16::from_le_bytes([payload[n], payload[n + 1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[n + 2..]);
    version <= RDB_VERSION && crc64(0, &payload[..n + 2]) == u64::from_le_bytes(crc)
}

/// Decodes a RESTORE payload into at most `budget` bytes (see [`Budget`]).
///
/// As in Redis, the object is read from the start of the whole payload:
/// bytes left between the object and the footer are ignored.
pub(crate) fn decode(payload: &[u8], budget: usize) -> Result<Object, PayloadError> {
    if !footer_ok(payload) {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut r = Reader::new(payload);
    r.budget = Budget::new(budget);
    match read_object(&mut r).filter(Object::is_valid) {
        Some(obj) => Ok(obj),
        None if r.budget.exceeded => Err(PayloadError::TooLarge),
        None => Err(PayloadError::BadFormat),
    }
}

impl Object {
    /// Collections are non-empty and hold no duplicates (Redis refuses
    /// both, except that 7.0 keeps a small hash with a repeated field: we
    /// refuse that too).
    fn is_valid(&self) -> bool {
        fn unique<'a>(mut it: impl ExactSizeIterator<Item = &'a [u8]>) -> bool {
            let mut seen = HashSet::with_capacity(it.len());
            it.len() > 0 && it.all(|m| seen.insert(m))
        }
        match self {
            Object::Str(_) => true,
            Object::List(v) => !v.is_empty(),
            Object::Set(v) => unique(v.iter().map(Vec::as_slice)),
            Object::Hash(v) => unique(v.iter().map(|(f, _)| f.as_slice())),
            Object::ZSet(v) => unique(v.iter().map(|(m, _)| m.as_slice())),
            Object::Stream(_) => true,
        }
    }
}

/// Reads one object (type byte and body).
fn read_object(r: &mut Reader<'_>) -> Option<Object> {
    let ty = r.byte()?;
    Some(match ty {
        RDB_TYPE_STRING => Object::Str(r.string()?),
        RDB_TYPE_LIST => Object::List(r.strings(1)?),
        RDB_TYPE_SET => Object::Set(r.strings(1)?),
        RDB_TYPE_HASH => Object::Hash(pairs(r.strings(2)?)?),
        RDB_TYPE_ZSET | RDB_TYPE_ZSET_2 => {
            let n = r.len()?;
            let mut out = Vec::new();
            for _ in 0..n {
                let m = r.string()?;
                let score = if ty == RDB_TYPE_ZSET {
                    r.ascii_double()?
                } else {
                    r.binary_double()?
                };
                if score.is_nan() {
                    return None;
                }
                out.push((m, score));
            }
            Object::ZSet(out)
        }
        RDB_TYPE_LIST_ZIPLIST => Object::List(ziplist(&r.string()?, &mut r.budget)?),
        RDB_TYPE_SET_INTSET => Object::Set(intset(&r.string()?, &mut r.budget)?),
        RDB_TYPE_ZSET_ZIPLIST => Object::ZSet(scored(ziplist(&r.string()?, &mut r.budget)?)?),
        RDB_TYPE_HASH_ZIPLIST => Object::Hash(pairs(ziplist(&r.string()?, &mut r.budget)?)?),
        RDB_TYPE_HASH_LISTPACK => Object::Hash(pairs(listpack(&r.string()?, &mut r.budget)?)?),
        RDB_TYPE_ZSET_LISTPACK => Object::ZSet(scored(listpack(&r.string()?, &mut r.budget)?)?),
        stream_rdb::RDB_TYPE_STREAM_LISTPACKS | stream_rdb::RDB_TYPE_STREAM_LISTPACKS_2 => {
            Object::Stream(stream_rdb::read(r, ty)?)
        }
        RDB_TYPE_LIST_QUICKLIST | RDB_TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.len()?;
            let mut out = Vec::new();
            for _ in 0..nodes {
                let container = if ty == RDB_TYPE_LIST_QUICKLIST_2 {
                    r.len()?
                } else {
                    QUICKLIST_NODE_PACKED
                };
                let blob = r.string()?;
                match container {
                    QUICKLIST_NODE_PLAIN => out.push(blob),
                    QUICKLIST_NODE_PACKED if ty == RDB_TYPE_LIST_QUICKLIST => {
                        out.extend(ziplist(&blob, &mut r.budget)?);
                    }
                    // An empty listpack node is skipped, as Redis does.
                    QUICKLIST_NODE_PACKED => out.extend(listpack(&blob, &mut r.budget)?),
                    _ => return None,
                }
            }
            Object::List(out)
        }
        _ => return None,
    })
}

impl Reader<'_> {
    /// `count` then `count * per` strings (never preallocating more than
    /// the input could hold).
    fn strings(&mut self, per: u64) -> Option<Vec<Vec<u8>>> {
        let n = self.len()?.checked_mul(per)?;
        let room = (self.buf.len() - self.pos) as u64;
        let mut out = Vec::with_capacity(n.min(room) as usize);
        for _ in 0..n {
            out.push(self.string()?);
        }
        Some(out)
    }

    /// An ASCII double (RDB_TYPE_ZSET): a length byte, 253 = NaN,
    /// 254 = +inf, 255 = -inf, else that many bytes of decimal text.
    fn ascii_double(&mut self) -> Option<f64> {
        match self.byte()? {
            253 => Some(f64::NAN),
            254 => Some(f64::INFINITY),
            255 => Some(f64::NEG_INFINITY),
            n => parse_double(self.take(usize::from(n))?),
        }
    }
}

/// A score written as text (ASCII doubles, listpack / ziplist scores).
fn parse_double(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Field / value pairs from a flat list.
fn pairs(flat: Vec<Vec<u8>>) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if flat.len() % 2 != 0 {
        return None;
    }
    let mut it = flat.into_iter();
    let mut out = Vec::with_capacity(it.len() / 2);
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        out.push((f, v));
    }
    Some(out)
}

/// Member / score pairs from a flat list (scores as text; NaN refused).
fn scored(flat: Vec<Vec<u8>>) -> Option<Vec<(Vec<u8>, f64)>> {
    pairs(flat)?
        .into_iter()
        .map(|(m, s)| Some((m, parse_double(&s).filter(|d| !d.is_nan())?)))
        .collect()
}

/// A little-endian integer of `n` bytes (1..=8), sign-extended.
fn le_int(b: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for (i, &byte) in b.iter().enumerate() {
        v |= i64::from(byte) << (8 * i);
    }
    let bits = 8 * b.len() as u32;
    if bits < 64 {
        let shift = 64 - bits;
        v = (v << shift) >> shift;
    }
    v
}

/// The elements of a listpack:
///
/// ```text
/// total-bytes:u32 LE  count:u16 LE (65535 = unknown)  entry*  0xFF
/// entry = encoding [data] backlen
///   0xxxxxxx                 7-bit unsigned int
///   10llllll <l bytes>       string up to 63 bytes
///   110xxxxx yyyyyyyy        13-bit signed int
///   1110llll llllllll <..>   string up to 4095 bytes
///   0xF0 len:u32 LE <..>     longer string
///   0xF1 / F2 / F3 / F4      signed int of 16 / 24 / 32 / 64 bits, LE
/// backlen = length of encoding + data in 1..5 bytes, 7 bits each, read
///   from the right; every byte but the leftmost has its top bit set
/// ```
pub(crate) fn listpack(blob: &[u8], budget: &mut Budget) -> Option<Vec<Vec<u8>>> {
    let head = blob.get(..6)?;
    let total = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let count = u16::from_le_bytes(head[4..6].try_into().ok()?);
    if total != blob.len() || blob.last() != Some(&0xFF) {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = 6;
    loop {
        let enc = *blob.get(pos)?;
        if enc == 0xFF {
            break;
        }
        let at = |from: usize, n: usize| blob.get(pos + from..pos.checked_add(from + n)?);
        let (len, value): (usize, Vec<u8>) = if enc & 0x80 == 0 {
            (1, i64::from(enc).to_string().into_bytes())
        } else if enc & 0xC0 == 0x80 {
            let n = usize::from(enc & 0x3F);
            (1 + n, at(1, n)?.to_vec())
        } else if enc & 0xE0 == 0xC0 {
            let raw = (i64::from(enc & 0x1F) << 8) | i64::from(*at(1, 1)?.first()?);
            let v = if raw >= 1 << 12 { raw - (1 << 13) } else { raw };
            (2, v.to_string().into_bytes())
        } else if enc & 0xF0 == 0xE0 {
            let n = (usize::from(enc & 0x0F) << 8) | usize::from(*at(1, 1)?.first()?);
            (2 + n, at(2, n)?.to_vec())
        } else {
            match enc {
                0xF0 => {
                    let n = u32::from_le_bytes(at(1, 4)?.try_into().ok()?) as usize;
                    (5usize.checked_add(n)?, at(5, n)?.to_vec())
                }
                0xF1..=0xF4 => {
                    let n = [2, 3, 4, 8][usize::from(enc - 0xF1)];
                    (1 + n, le_int(at(1, n)?).to_string().into_bytes())
                }
                _ => return None,
            }
        };
        let back = backlen_size(len);
        if !backlen_ok(at(len, back)?, len) {
            return None;
        }
        budget.charge(value.len())?;
        out.push(value);
        pos += len + back;
    }
    // The terminator must be the last byte; the count, when known, right.
    if pos + 1 != blob.len() || (count != u16::MAX && usize::from(count) != out.len()) {
        return None;
    }
    Some(out)
}

/// How many bytes a listpack backlen of an entry of `len` bytes takes.
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Whether `b` is a backlen saying `len` (see [`listpack`]).
fn backlen_ok(b: &[u8], len: usize) -> bool {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().rev().enumerate() {
        let leftmost = i + 1 == b.len();
        if (byte & 0x80 == 0) != leftmost {
            return false;
        }
        v |= u64::from(byte & 0x7F) << (7 * i);
    }
    v == len as u64
}

/// The elements of a ziplist (RDB before version 10):
///
/// ```text
/// total-bytes:u32 LE  tail-offset:u32 LE  count:u16 LE  entry*  0xFF
/// entry = prevlen encoding data
///   prevlen: one byte < 254, or 0xFE then u32 LE: the previous entry's size
///   00llllll / 01llllll llllllll / 0x80 len:u32 BE    string (BE lengths)
///   0xC0 i16 | 0xD0 i32 | 0xE0 i64 | 0xF0 i24 | 0xFE i8 (LE)
///   0xF1..0xFD                                       the int 0..12
/// ```
fn ziplist(blob: &[u8], budget: &mut Budget) -> Option<Vec<Vec<u8>>> {
    let head = blob.get(..10)?;
    let total = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let count = u16::from_le_bytes(head[8..10].try_into().ok()?);
    if total != blob.len() || blob.last() != Some(&0xFF) {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = 10;
    let mut prev_size = 0usize;
    loop {
        let first = *blob.get(pos)?;
        if first == 0xFF {
            break;
        }
        let get = |from: usize, n: usize| blob.get(pos + from..pos.checked_add(from + n)?);
        let (prevlen, p) = if first < 0xFE {
            (usize::from(first), 1)
        } else {
            (u32::from_le_bytes(get(1, 4)?.try_into().ok()?) as usize, 5)
        };
        if prevlen != prev_size {
            return None;
        }
        let enc = *get(p, 1)?.first()?;
        let (header, value): (usize, Vec<u8>) = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3F);
                (1 + n, get(p + 1, n)?.to_vec())
            }
            1 => {
                let n = (usize::from(enc & 0x3F) << 8) | usize::from(*get(p + 1, 1)?.first()?);
                (2 + n, get(p + 2, n)?.to_vec())
            }
            2 if enc == 0x80 => {
                let n = u32::from_be_bytes(get(p + 1, 4)?.try_into().ok()?) as usize;
                (5usize.checked_add(n)?, get(p + 5, n)?.to_vec())
            }
            2 => return None,
            _ => {
                let n = match enc {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return None,
                };
                let v = if n == 0 {
                    i64::from(enc & 0x0F) - 1
                } else {
                    le_int(get(p + 1, n)?)
                };
                (1 + n, v.to_string().into_bytes())
            }
        };
        budget.charge(value.len())?;
        out.push(value);
        prev_size = p + header;
        pos += prev_size;
    }
    if pos + 1 != blob.len() || (count != u16::MAX && usize::from(count) != out.len()) {
        return None;
    }
    Some(out)
}

/// The members of an intset: `width:u32 LE (2, 4 or 8)  count:u32 LE`
/// then `count` little-endian signed integers, strictly increasing.
fn intset(blob: &[u8], budget: &mut Budget) -> Option<Vec<Vec<u8>>> {
    let width = u32::from_le_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() - 8 != width.checked_mul(count)? {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    let mut prev: Option<i64> = None;
    for chunk in blob[8..].chunks_exact(width) {
        let v = le_int(chunk);
        if prev.is_some_and(|p| p >= v) {
            return None;
        }
        prev = Some(v);
        let s = v.to_string().into_bytes();
        budget.charge(s.len())?;
        out.push(s);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_check_value() {
        // Check value from Redis's crc64.c test: "123456789".
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn lzf_literal_and_backref() {
        // Literal "ab" then a back reference of 4 bytes at distance 2.
        let block = [1u8, b'a', b'b', 2 << 5, 1];
        assert_eq!(lzf_decompress(&block, 6).unwrap(), b"ababab");
        assert!(lzf_decompress(&block, 5).is_none());
        assert!(lzf_decompress(&[2 << 5, 5], 4).is_none());
        assert!(lzf_decompress(&[3, b'a'], 4).is_none());
    }

    #[test]
    fn real_redis_lzf_payload() {
        // `DUMP k` from redis-server 7.0 after `SET k <1000 x 'a'>`:
        // type 0, LZF string (0xc3, clen 18, len 1000), version 10, CRC64.
        let p: &[u8] = &[
            0x00, 0xc3, 0x12, 0x43, 0xe8, 0x01, 0x61, 0x61, 0xe0, 0xff, 0x00, 0xe0, 0xff, 0x00,
            0xe0, 0xff, 0x00, 0xe0, 0xc3, 0x00, 0x01, 0x61, 0x61, 0x0a, 0x00, 0x86, 0xc2, 0x12,
            0xdb, 0x54, 0x81, 0x9e, 0x3c,
        ];
        let n = p.len();
        let crc = u64::from_le_bytes(p[n - 8..].try_into().unwrap());
        assert_eq!(crc64(0, &p[..n - 8]), crc);
        assert_eq!(u16::from_le_bytes([p[n - 10], p[n - 9]]), RDB_VERSION);
        assert_eq!(lzf_decompress(&p[5..23], 1000).unwrap(), vec![b'a'; 1000]);
    }

    #[test]
    fn lengths_and_strings_round_trip() {
        for n in [0u64, 63, 64, 16383, 16384, u64::from(u32::MAX), 1 << 40] {
            let mut b = Vec::new();
            put_len(&mut b, n);
            let mut r = Reader::new(&b);
            assert_eq!(r.len(), Some(n));
            assert!(r.is_empty());
        }
        let mut b = Vec::new();
        put_str(&mut b, b"\x00bin\xff");
        assert_eq!(Reader::new(&b).string().unwrap(), b"\x00bin\xff");
        assert_eq!(Reader::new(&[0xc0, 0xfb]).string().unwrap(), b"-5");
        assert_eq!(Reader::new(&[0xc1, 0x39, 0x30]).string().unwrap(), b"12345");
        assert_eq!(
            Reader::new(&[0xc2, 0, 0, 0, 0x80]).string().unwrap(),
            b"-2147483648"
        );
        assert!(Reader::new(&[0xc2, 0]).string().is_none());
        assert!(Reader::new(&[0x05, b'a']).string().is_none());
        assert!(Reader::new(&[0xc4]).string().is_none());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn decoded(payload_hex: &str) -> Object {
        decode(&hex(payload_hex), usize::MAX).unwrap()
    }

    #[test]
    fn redis_7_payloads_decode() {
        // `DUMP` from redis-server 7.0.15 of small values (compact encodings).
        assert_eq!(
            decoded("00c0fb0a0049c4c6f4d7263f68"),
            Object::Str(b"-5".to_vec())
        );
        assert_eq!(
            decoded("00c2006cca880a0035ffaebd7f1d7a67"),
            Object::Str(b"-2000000000".to_vec())
        );
        // RPUSH ql a 12 -300 <70 x> 70000: quicklist 2, one LZF listpack.
        let mut want = strs(&["a", "12", "-300"]);
        want.push(vec![b'x'; 70]);
        want.push(b"70000".to_vec());
        assert_eq!(
            decoded("120102c31d405d105d00000005008161020c01ded402e04678e03c000648f270110104ff0a00b00a02ab407f0472"),
            Object::List(want)
        );
        assert_eq!(
            decoded("1013130000000400816602817602816e02dff902ff0a00ee2801f56ed3eb65"),
            Object::Hash(vec![
                (b"f".to_vec(), b"v".to_vec()),
                (b"n".to_vec(), b"-7".to_vec())
            ])
        );
        assert_eq!(
            decoded("11c328311a310000000600816202dffe0281610283312e350481630297312e30e005000731652b33303018ff0a000bc547d39defdcf8"),
            Object::ZSet(vec![
                (b"b".to_vec(), -2.0),
                (b"a".to_vec(), 1.5),
                (b"c".to_vec(), 1e300)
            ])
        );
        assert_eq!(
            decoded(
                "0bc31a2004080000000320030390eefeff40000005200be00000020100000a001f6caf9a17eebd0a"
            ),
            Object::Set(strs(&["-70000", "5", "1099511627776"]))
        );
    }

    /// Builds a ziplist of `items` (strings or ints) by hand.
    fn ziplist_of(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        for e in entries {
            let start = body.len();
            body.push(prev as u8);
            body.extend_from_slice(e);
            prev = body.len() - start;
        }
        let total = 10 + body.len() + 1;
        let mut z = Vec::new();
        z.extend_from_slice(&(total as u32).to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        z.extend_from_slice(&body);
        z.push(0xFF);
        z
    }

    #[test]
    fn older_and_plain_forms_decode() {
        // Ziplist entries: "ab", int 7 (immediate), i16 -300, i24, i8 -2.
        let zl = ziplist_of(&[
            &[0x02, b'a', b'b'],
            &[0xF8],
            &[0xC0, 0xD4, 0xFE],
            &[0xF0, 0x70, 0x11, 0x01],
            &[0xFE, 0xFE],
        ]);
        let mut p = vec![RDB_TYPE_LIST_ZIPLIST];
        put_str(&mut p, &zl);
        assert_eq!(
            decode(&seal(p), usize::MAX).unwrap(),
            Object::List(strs(&["ab", "7", "-300", "70000", "-2"]))
        );
        // Quicklist (RDB 7-9): nodes of ziplists.
        let mut p = vec![RDB_TYPE_LIST_QUICKLIST, 2];
        put_str(&mut p, &ziplist_of(&[&[0x01, b'x']]));
        put_str(&mut p, &ziplist_of(&[&[0xF2]]));
        assert_eq!(
            decode(&seal(p), usize::MAX).unwrap(),
            Object::List(strs(&["x", "1"]))
        );
        // Hash and zset ziplists.
        let mut p = vec![RDB_TYPE_HASH_ZIPLIST];
        put_str(&mut p, &ziplist_of(&[&[0x01, b'f'], &[0x01, b'v']]));
        assert_eq!(
            decode(&seal(p), usize::MAX).unwrap(),
            Object::Hash(vec![(b"f".to_vec(), b"v".to_vec())])
        );
        let mut p = vec![RDB_TYPE_ZSET_ZIPLIST];
        put_str(
            &mut p,
            &ziplist_of(&[&[0x01, b'm'], &[0x03, b'2', b'.', b'5']]),
        );
        assert_eq!(
            decode(&seal(p), usize::MAX).unwrap(),
            Object::ZSet(vec![(b"m".to_vec(), 2.5)])
        );
        // A wrong prevlen is refused.
        let mut bad = ziplist_of(&[&[0x01, b'x'], &[0x01, b'y']]);
        bad[13] = 9;
        let mut p = vec![RDB_TYPE_LIST_ZIPLIST];
        put_str(&mut p, &bad);
        assert_eq!(decode(&seal(p), usize::MAX), Err(PayloadError::BadFormat));
        // Quicklist 2 with a PLAIN node.
        let mut p = vec![RDB_TYPE_LIST_QUICKLIST_2, 1, 1];
        put_str(&mut p, b"plain");
        assert_eq!(
            decode(&seal(p), usize::MAX).unwrap(),
            Object::List(strs(&["plain"]))
        );
        // Old sorted set with ASCII doubles.
        let mut p = vec![RDB_TYPE_ZSET, 2];
        put_str(&mut p, b"a");
        p.push(254);
        put_str(&mut p, b"b");
        put_str(&mut p, b"-1.25");
        assert_eq!(
            decode(&seal(p), usize::MAX).unwrap(),
            Object::ZSet(vec![(b"a".to_vec(), f64::INFINITY), (b"b".to_vec(), -1.25)])
        );
    }

    #[test]
    fn our_payloads_round_trip() {
        let items = strs(&["a", "", "\r\n\0", "12"]);
        let it = || items.iter().map(Vec::as_slice);
        assert_eq!(
            decode(&encode_list(items.len(), it()), usize::MAX).unwrap(),
            Object::List(items.clone())
        );
        assert_eq!(
            decode(&encode_set(items.len(), it()), usize::MAX).unwrap(),
            Object::Set(items.clone())
        );
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"f", b"v"), (b"g", b"")];
        assert_eq!(
            decode(&encode_hash(2, pairs.iter().copied()), usize::MAX).unwrap(),
            Object::Hash(vec![
                (b"f".to_vec(), b"v".to_vec()),
                (b"g".to_vec(), vec![])
            ])
        );
        let scored: Vec<(&[u8], f64)> = vec![(b"m", -0.5), (b"n", f64::NEG_INFINITY)];
        assert_eq!(
            decode(&encode_zset(2, scored.iter().copied()), usize::MAX).unwrap(),
            Object::ZSet(vec![
                (b"m".to_vec(), -0.5),
                (b"n".to_vec(), f64::NEG_INFINITY)
            ])
        );
        for (text, form) in [
            (&b"-5"[..], &[0xC0, 0xFB][..]),
            (b"12345", &[0xC1, 0x39, 0x30]),
            (b"-2147483648", &[0xC2, 0, 0, 0, 0x80]),
            (b"2147483648", b"\x0a2147483648"),
            (b"007", b"\x03007"),
            (b"-0", b"\x02-0"),
        ] {
            let p = encode_string(text);
            assert_eq!(&p[1..p.len() - 10], form);
            assert_eq!(decode(&p, usize::MAX).unwrap(), Object::Str(text.to_vec()));
        }
        let big = vec![7u8; 100_000];
        assert_eq!(
            decode(&encode_string(&big), usize::MAX).unwrap(),
            Object::Str(big)
        );
    }

    #[test]
    fn footer_and_body_errors() {
        let good = encode_string(b"hi");
        assert!(footer_ok(&good));
        assert_eq!(
            decode(&good[..9], usize::MAX),
            Err(PayloadError::VersionOrChecksum)
        );
        let mut flipped = good.clone();
        flipped[1] ^= 1;
        assert_eq!(
            decode(&flipped, usize::MAX),
            Err(PayloadError::VersionOrChecksum)
        );
        // Version 11 (with a correct CRC) is too new; 9 is fine.
        let mut v11 = vec![RDB_TYPE_STRING, 1, b'x'];
        v11.extend_from_slice(&11u16.to_le_bytes());
        let crc = crc64(0, &v11);
        v11.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode(&v11, usize::MAX),
            Err(PayloadError::VersionOrChecksum)
        );
        // Empty and duplicate collections, unknown types, NaN.
        for body in [
            vec![RDB_TYPE_SET, 0],
            vec![RDB_TYPE_SET, 2, 1, b'a', 1, b'a'],
            vec![RDB_TYPE_HASH, 2, 1, b'a', 0, 1, b'a', 0],
            vec![RDB_TYPE_LIST, 0],
            vec![RDB_TYPE_LIST_QUICKLIST_2, 0],
            vec![7, 0],
            vec![RDB_TYPE_ZSET, 1, 1, b'a', 253],
        ] {
            assert_eq!(
                decode(&seal(body), usize::MAX),
                Err(PayloadError::BadFormat)
            );
        }
        // The budget: 1000 elements of 100 bytes do not fit in 10 KB.
        let items = vec![vec![1u8; 100]; 1000];
        let p = encode_list(items.len(), items.iter().map(Vec::as_slice));
        assert_eq!(decode(&p, 10_000), Err(PayloadError::TooLarge));
        assert!(decode(&p, 1 << 20).is_ok());
    }

    #[test]
    fn listpack_entries_and_backlens() {
        // Every listpack encoding, built by hand with correct backlens.
        fn entry(out: &mut Vec<u8>, e: &[u8]) {
            out.extend_from_slice(e);
            let n = e.len();
            if n < 128 {
                out.push(n as u8);
            } else {
                out.push((n >> 7) as u8);
                out.push((n & 127) as u8 | 128);
            }
        }
        let mut body = Vec::new();
        entry(&mut body, &[0x05]); // 7-bit uint
        entry(&mut body, &[0xC0 | 0x1F, 0xFF]); // 13-bit: -1
        entry(&mut body, &[0xF1, 0x00, 0x80]); // i16 -32768
        entry(&mut body, &[0xF2, 0xFF, 0xFF, 0x7F]); // i24 max
        entry(&mut body, &[0xF3, 0, 0, 0, 0x80]); // i32 min
        entry(
            &mut body,
            &[0xF4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        ); // i64 max
        let mut long = vec![0xE0 | 0x01, 0x00]; // 12-bit string of 256
        long.extend_from_slice(&[b'q'; 256]);
        entry(&mut body, &long);
        let mut lp = Vec::new();
        lp.extend_from_slice(&((6 + body.len() + 1) as u32).to_le_bytes());
        lp.extend_from_slice(&7u16.to_le_bytes());
        lp.extend_from_slice(&body);
        lp.push(0xFF);
        let mut budget = Budget::new(usize::MAX);
        let got = listpack(&lp, &mut budget).unwrap();
        let mut want = strs(&[
            "5",
            "-1",
            "-32768",
            "8388607",
            "-2147483648",
            "9223372036854775807",
        ]);
        want.push(vec![b'q'; 256]);
        assert_eq!(got, want);
        // A wrong count or backlen is refused.
        let mut bad = lp.clone();
        bad[4] = 6;
        assert!(listpack(&bad, &mut budget).is_none());
        let mut bad = lp.clone();
        bad[7] = 9;
        assert!(listpack(&bad, &mut budget).is_none());
    }

    /// Re-seals a body so that a mutation reaches the decoder past the CRC.
    fn reseal(mut p: Vec<u8>) -> Vec<u8> {
        if p.len() >= 10 {
            let n = p.len() - 8;
            let crc = crc64(0, &p[..n]);
            p[n..].copy_from_slice(&crc.to_le_bytes());
        }
        p
    }

    fn seeds() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = [
            "120102c31d405d105d00000005008161020c01ded402e04678e03c000648f270110104ff0a00b00a02ab407f0472",
            "1013130000000400816602817602816e02dff902ff0a00ee2801f56ed3eb65",
            "11c328311a310000000600816202dffe0281610283312e350481630297312e30e005000731652b33303018ff0a000bc547d39defdcf8",
            "0bc31a2004080000000320030390eefeff40000005200be00000020100000a001f6caf9a17eebd0a",
            "00c2006cca880a0035ffaebd7f1d7a67",
        ]
        .iter()
        .map(|h| hex(h))
        .collect();
        let items = strs(&["a", "bb", "12"]);
        v.push(encode_list(3, items.iter().map(Vec::as_slice)));
        v.push(encode_zset(1, [(&b"m"[..], 1.0)].into_iter()));
        let mut zl = vec![RDB_TYPE_HASH_ZIPLIST];
        put_str(&mut zl, &ziplist_of(&[&[0x01, b'f'], &[0xF3]]));
        v.push(seal(zl));
        v
    }

    /// Outputs of the liblzf 3.6 that Debian's redis-server links
    /// (`lzf_compress(in, len, out, len - 4)`, read through ctypes).
    #[test]
    fn lzf_compress_is_liblzf() {
        let cases: [(Vec<u8>, &str); 3] = [
            (b"a".repeat(40), "016161e01b00016161"),
            (
                b"abcabcabcabcabcabcabcabcabcabc-hello-hello-hello".to_vec(),
                "0361626361e01102052d68656c6c6fe00105016c6f",
            ),
            (
                [(0u8..32).collect::<Vec<u8>>().repeat(3), b"xyz".repeat(30)].concat(),
                "1f000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
                 0000e0361f0278797ae04c0201797a",
            ),
        ];
        for (input, want) in cases {
            let got = lzf_compress(&input, input.len() - 4).expect("compresses");
            let hex: String = got.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, want.replace(' ', ""));
            assert_eq!(lzf_decompress(&got, input.len()), Some(input));
        }
        // Incompressible: no room within len - 4.
        let noise: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(lzf_compress(&noise, noise.len() - 4), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// What LZF compresses (small alphabet: many back references)
        /// decompresses to the input, within the room it was given.
        #[test]
        fn lzf_round_trips(data in proptest::collection::vec(0u8..4, 0..3000)) {
            if let Some(c) = lzf_compress(&data, data.len().saturating_sub(4)) {
                proptest::prop_assert!(c.len() <= data.len() - 4);
                proptest::prop_assert_eq!(lzf_decompress(&c, data.len()), Some(data));
            }
        }

        /// Random bytes, sealed or not, never panic and never allocate
        /// beyond the budget.
        #[test]
        fn random_payloads_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = decode(&body, 1 << 20);
            let _ = decode(&seal(body), 1 << 20);
        }

        /// Valid payloads with bytes flipped, inserted or cut, re-sealed so
        /// that the body decoder sees them: an error or a value, no panic.
        #[test]
        fn mutated_payloads_never_panic(
            which in 0usize..8,
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>(), 0u8..3), 1..6),
        ) {
            let mut p = seeds()[which].clone();
            for (at, byte, kind) in edits {
                let body_len = p.len().saturating_sub(10);
                if body_len == 0 {
                    break;
                }
                let i = at % body_len;
                match kind {
                    0 => p[i] = byte,
                    1 => p.insert(i, byte),
                    _ => {
                        p.remove(i);
                    }
                }
            }
            let _ = decode(&reseal(p), 1 << 20);
        }
    }
}
