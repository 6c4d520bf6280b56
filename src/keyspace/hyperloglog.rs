//! The HyperLogLog family: PFADD PFCOUNT PFMERGE PFDEBUG, and the checks
//! behind the server command PFSELFTEST ([`selftest`]).
//!
//! A HyperLogLog is an ordinary string value laid out as Redis 7.0 lays it
//! out, so that GET, SET, DUMP-like copies and replies are byte-compatible:
//!
//! ```text
//! "HYLL" | encoding (0 dense, 1 sparse) | 3 unused bytes | cached cardinality
//!                                                          (8 bytes, little
//!                                                          endian; MSB of the
//!                                                          last byte = stale)
//! dense body:  16384 registers of 6 bits, LSB first (12288 bytes)
//! sparse body: run-length opcodes ZERO 00xxxxxx (1..64 zero registers),
//!              XZERO 01xxxxxx yyyyyyyy (1..16384 zero registers),
//!              VAL 1vvvvvxx (1..4 registers of value 1..32)
//! ```
//!
//! An element is hashed with MurmurHash64A (seed `0xadc83b19`); the low 14
//! bits pick the register, the length of the run of zeros above them (plus
//! one) is the candidate value. A new key is sparse; it turns dense when a
//! value above 32 is needed or the sparse string would outgrow
//! [`SPARSE_MAX_BYTES`]. The cardinality is Ertl's improved estimator over
//! the register histogram, as Redis 7 computes it.
//!
//! Every operation here mirrors Redis's algorithm step by step, including
//! its behaviour on corrupted strings (which opcodes it reads, when it stops,
//! what it has already changed), so that the bytes stored after any command
//! equal Redis's. The code never panics on any input: reads past the end of
//! the string see a zero byte, as Redis sees the SDS terminator.
//!
//! PFCOUNT stores the freshly computed cardinality back into the value (as
//! Redis does). That is a write, so PFCOUNT is flagged `write` here (Redis:
//! `readonly`, `may_replicate`): see docs/architecture.md, "Intended
//! differences".

use bytes::Bytes;

use super::value::StrForm;
use super::Exec;
use crate::command::args::{err, is};
use crate::command::table::cmd;
use crate::command::{Command, Reply};

/// The HyperLogLog commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("pfadd", -2, [write, denyoom, fast], (1, 1, 1), "hyperloglog", "Adds the specified elements to the specified HyperLogLog.", "2.8.9", "O(1) to add every element.", pfadd),
    // `write`, not Redis's `readonly` + `may_replicate`: a single-key PFCOUNT
    // may store the cardinality it computed into the value, and every change
    // of the dataset must go through the replicated, persisted write path.
    cmd!("pfcount", -2, [write], (1, -1, 1), "hyperloglog", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).", "2.8.9", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.", pfcount),
    cmd!("pfmerge", -2, [write, denyoom], (1, -1, 1), "hyperloglog", "Merge N different HyperLogLogs into a single one.", "2.8.9", "O(N) to merge N HyperLogLogs, but with high constant times.", pfmerge),
    cmd!("pfdebug", 3, [write, denyoom, admin], (2, 2, 1), "hyperloglog", "Internal commands for debugging HyperLogLog values", "2.8.9", "N/A", pfdebug),
];

/// Reply to a string that is not a HyperLogLog.
pub(crate) const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// Reply to a HyperLogLog whose sparse body does not describe 16384 registers.
pub(crate) const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Header bytes: magic, encoding, 3 unused, cached cardinality.
const HDR: usize = 16;
/// Bits of the hash that index a register.
const P: u32 = 14;
/// Bits of the hash left for the run of zeros.
const Q: usize = 64 - P as usize;
/// Number of registers.
const REGISTERS: usize = 1 << P;
/// Bits per dense register.
const BITS: usize = 6;
/// Length of a dense HyperLogLog string.
const DENSE_SIZE: usize = HDR + REGISTERS * BITS / 8;
/// Encoding byte of a dense HyperLogLog.
const DENSE: u8 = 0;
/// Encoding byte of a sparse HyperLogLog.
const SPARSE: u8 = 1;
/// Redis's default `hll-sparse-max-bytes`: a sparse string (header
/// included) that would grow past it is converted to dense.
pub(crate) const SPARSE_MAX_BYTES: usize = 3000;
/// Largest register value a sparse VAL opcode holds.
const VAL_MAX_VALUE: u8 = 32;
/// Longest run a VAL opcode holds.
const VAL_MAX_LEN: usize = 4;
/// Longest run a ZERO opcode holds.
const ZERO_MAX_LEN: usize = 64;
/// Hash seed Redis uses for HyperLogLog elements.
const SEED: u64 = 0xadc8_3b19;
/// 0.5 / ln 2, the estimator's constant for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// MurmurHash64A (Austin Appleby's 64-bit MurmurHash2), reading 8-byte
/// words little-endian as Redis does on every architecture.
pub(crate) fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let mut k = u64::from_le_bytes(b).wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the value it proposes: the number
/// of zero bits above the index bits, plus one (1..=51: a sentinel bit
/// bounds the run).
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Whether `v` is a string Redis accepts as a HyperLogLog: the magic, a
/// known encoding and, when dense, the exact length.
fn is_hll(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

/// A new, empty, sparse HyperLogLog (one XZERO opcode for all registers),
/// its cache valid and zero.
fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.extend_from_slice(&[0; 11]);
    push_zeros(&mut v, REGISTERS);
    v
}

/// Marks the cached cardinality stale.
fn invalidate(v: &mut [u8]) {
    if let Some(b) = v.get_mut(HDR - 1) {
        *b |= 0x80;
    }
}

/// Byte `i` of `v`, or 0 past its end (where Redis reads the terminator).
fn byte(v: &[u8], i: usize) -> u8 {
    v.get(i).copied().unwrap_or(0)
}

/// Register `i` of a dense body.
fn dense_get(body: &[u8], i: usize) -> u8 {
    let bit = i * BITS;
    let at = bit / 8;
    let word = u16::from(byte(body, at)) | u16::from(byte(body, at + 1)) << 8;
    ((word >> (bit % 8)) & 63) as u8
}

/// Sets register `i` of a dense body to `val` (0..=63).
fn dense_put(body: &mut [u8], i: usize, val: u8) {
    let bit = i * BITS;
    let at = bit / 8;
    let shift = bit % 8;
    let mut word = u16::from(byte(body, at)) | u16::from(byte(body, at + 1)) << 8;
    word &= !(63u16 << shift);
    word |= u16::from(val & 63) << shift;
    if let Some(b) = body.get_mut(at) {
        *b = word as u8;
    }
    if let Some(b) = body.get_mut(at + 1) {
        *b = (word >> 8) as u8;
    }
}

/// Raises register `i` of a dense body to `val`; whether it changed.
fn dense_raise(body: &mut [u8], i: usize, val: u8) -> bool {
    if val > dense_get(body, i) {
        dense_put(body, i, val);
        true
    } else {
        false
    }
}

/// A decoded sparse opcode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    /// A run of zero registers, one byte.
    Zero(usize),
    /// A run of zero registers, two bytes.
    XZero(usize),
    /// A run of `len` registers holding `value` (value, len).
    Val(u8, usize),
}

impl Op {
    /// Registers covered.
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    /// Bytes taken.
    fn size(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }
}

/// The opcode at byte `p` of `v` (a second XZERO byte past the end reads 0).
fn op_at(v: &[u8], p: usize) -> Op {
    let b = byte(v, p);
    match b & 0xc0 {
        0x00 => Op::Zero(usize::from(b & 0x3f) + 1),
        0x40 => Op::XZero((usize::from(b & 0x3f) << 8 | usize::from(byte(v, p + 1))) + 1),
        _ => Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1),
    }
}

/// The VAL opcode byte for `len` (1..=4) registers of `value` (1..=32).
fn val_byte(value: u8, len: usize) -> u8 {
    0x80 | (value.wrapping_sub(1) & 0x1f) << 2 | (len.wrapping_sub(1) & 3) as u8
}

/// Appends the opcode for a run of `len` (1..=16384) zero registers:
/// ZERO up to 64, XZERO above.
fn push_zeros(v: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    if len > ZERO_MAX_LEN {
        v.push(0x40 | ((l >> 8) & 0x3f) as u8);
        v.push((l & 0xff) as u8);
    } else {
        v.push(l as u8);
    }
}

/// Walks a sparse body the way Redis converts or merges it, calling
/// `val(index, value)` for every register a VAL opcode sets. The body is
/// valid when its opcodes cover exactly 16384 registers: the walk stops at
/// the first opcode that would pass the last register (the installed
/// redis-server 7.0.15 carries the CVE-2025-32023 fix, which refuses such
/// a body where the original 7.0.15 source only stopped at an overlong VAL).
fn walk_sparse(v: &[u8], mut val: impl FnMut(usize, u8)) -> bool {
    let mut idx = 0usize;
    let mut p = HDR;
    while p < v.len() {
        let op = op_at(v, p);
        if idx + op.span() > REGISTERS {
            return false;
        }
        if let Op::Val(value, len) = op {
            for i in idx..idx + len {
                val(i, value);
            }
        }
        idx += op.span();
        p += op.size();
    }
    idx == REGISTERS
}

/// The dense form of a sparse HyperLogLog (header copied, encoding
/// changed), or `None` when the sparse body is corrupted.
fn sparse_to_dense(v: &[u8]) -> Option<Vec<u8>> {
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(v.get(..HDR)?);
    dense[4] = DENSE;
    let body = &mut dense[HDR..];
    walk_sparse(v, |i, value| dense_put(body, i, value)).then_some(dense)
}

/// What setting one register did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Set {
    /// The register already held as much.
    Same,
    /// The register (and so the string) changed.
    Changed,
    /// The sparse body is corrupted (the string may already hold earlier
    /// changes, as in Redis).
    Corrupt,
}

/// Converts `v` to dense and raises register `index` to `count`.
fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Set {
    let Some(mut dense) = sparse_to_dense(v) else {
        return Set::Corrupt;
    };
    dense_raise(&mut dense[HDR..], index, count);
    *v = dense;
    Set::Changed
}

/// Raises register `index` of a sparse HyperLogLog to `count`, editing the
/// opcodes in place exactly as Redis does (split the covering opcode,
/// splice, merge equal neighbouring VALs among the next few opcodes), or
/// converting to dense when `count` exceeds 32 or the string would pass
/// `max_bytes`.
fn sparse_set(v: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Set {
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev = None;
    let mut found = None;
    while p < v.len() {
        let op = op_at(v, p);
        if index < first + op.span() {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.size();
        first += op.span();
    }
    let Some(op) = found else {
        return Set::Corrupt;
    };
    let span = op.span();
    let next = (p + op.size() < v.len()).then_some(p + op.size());

    // Step 2: the trivial updates in place.
    let in_place = match op {
        Op::Val(old, _) if old >= count => return Set::Same,
        Op::Val(_, 1) | Op::Zero(1) => true,
        _ => false,
    };
    if in_place {
        v[p] = val_byte(count, 1);
    } else {
        // The general case: split the opcode into up to three.
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        match op {
            Op::Val(cur, _) => {
                if index != first {
                    seq.push(val_byte(cur, index - first));
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    seq.push(val_byte(cur, last - index));
                }
            }
            Op::Zero(_) | Op::XZero(_) => {
                if index != first {
                    push_zeros(&mut seq, index - first);
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    push_zeros(&mut seq, last - index);
                }
            }
        }
        // Step 3: splice it in place of the old opcode.
        let grows = seq.len() > op.size();
        if grows && v.len() + seq.len() - op.size() > max_bytes {
            return promote(v, index, count);
        }
        let new_len = (v.len() + seq.len()).saturating_sub(op.size());
        match next {
            Some(n) => {
                v.splice(p..n, seq);
            }
            None => {
                // The last opcode (an XZERO cut short by the end of the
                // string counts two bytes all the same).
                v.truncate(p);
                v.extend_from_slice(&seq);
                v.resize(new_len, 0);
            }
        }
    }

    // Step 4: merge neighbouring VALs of one value, scanning up to five
    // opcodes from the one before the change.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < v.len() && scan > 0 {
        scan -= 1;
        let b = v[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        // A VAL: merge it into the next opcode when that is a VAL of the
        // same value and the runs fit one opcode.
        if p + 1 < v.len() {
            if let (Op::Val(v1, l1), Op::Val(v2, l2)) = (op_at(v, p), op_at(v, p + 1)) {
                if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                    v[p + 1] = val_byte(v1, l1 + l2);
                    v.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate(v);
    Set::Changed
}

/// Adds `element` to the HyperLogLog `v` (dense or sparse).
fn add(v: &mut Vec<u8>, element: &[u8], max_bytes: usize) -> Set {
    let (index, count) = pattern(element);
    if v[4] == DENSE {
        if dense_raise(&mut v[HDR..], index, count) {
            Set::Changed
        } else {
            Set::Same
        }
    } else {
        sparse_set(v, index, count, max_bytes)
    }
}

/// Raises `max[i]` to every register `i` of the HyperLogLog `v`; false when
/// a sparse body is corrupted.
fn merge_into(max: &mut [u8], v: &[u8]) -> bool {
    if v[4] == DENSE {
        let body = &v[HDR..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(body, i));
        }
        true
    } else {
        walk_sparse(v, |i, value| {
            if let Some(m) = max.get_mut(i) {
                *m = (*m).max(value);
            }
        })
    }
}

/// How many registers hold each value (0..=63).
type Histogram = [u32; 64];

/// The register histogram of the HyperLogLog `v`, or `None` when its
/// sparse body does not cover exactly 16384 registers (counted over every
/// opcode, as Redis counts before estimating).
fn histogram(v: &[u8]) -> Option<Histogram> {
    let mut h = [0u32; 64];
    if v[4] == DENSE {
        let body = &v[HDR..];
        for i in 0..REGISTERS {
            h[usize::from(dense_get(body, i))] += 1;
        }
        return Some(h);
    }
    let mut idx = 0usize;
    let mut p = HDR;
    while p < v.len() {
        let op = op_at(v, p);
        let value = match op {
            Op::Val(value, _) => usize::from(value),
            _ => 0,
        };
        h[value] += op.span() as u32;
        idx += op.span();
        if idx > REGISTERS {
            return None;
        }
        p += op.size();
    }
    (idx == REGISTERS).then_some(h)
}

/// The histogram of plain byte registers (the union PFCOUNT builds).
fn raw_histogram(regs: &[u8]) -> Histogram {
    let mut h = [0u32; 64];
    for &r in regs {
        h[usize::from(r & 63)] += 1;
    }
    h
}

/// Ertl's sigma function (arXiv:1702.01284).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau function (arXiv:1702.01284).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate from a register histogram: Ertl's improved
/// raw estimator, computed in the same order as Redis 7 (so that the
/// rounding, and the answer, are the same).
fn estimate(h: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(h[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(h[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(h[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The cached cardinality of `v`, when valid.
fn cached(v: &[u8]) -> Option<u64> {
    let mut card = [0u8; 8];
    card.copy_from_slice(&v[8..HDR]);
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

/// Reads `key` as a HyperLogLog: `Ok(None)` when absent, the HLL WRONGTYPE
/// error for a string that is not one, the usual WRONGTYPE for other types.
fn read(ex: &mut Exec<'_>, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match ex.get_str(key)? {
        None => Ok(None),
        Some(s) if is_hll(&s.data) => Ok(Some(s.data.to_bytes())),
        Some(_) => Err(err(NOT_HLL)),
    }
}

/// Redis unshares the string of a HyperLogLog it accesses for writing,
/// which makes its object encoding `raw` even when nothing changes.
fn unshare(ex: &mut Exec<'_>, key: &[u8]) {
    if let Ok(Some(s)) = ex.get_str(key) {
        s.set_form(StrForm::Raw);
    }
}

/// Stores `v` as the value of `key`, keeping its deadline.
fn store(ex: &mut Exec<'_>, key: &Bytes, v: Vec<u8>) {
    let expire = ex.expire_of(key).unwrap_or(0);
    ex.set_string_as(key, Bytes::from(v), expire, StrForm::Raw);
}

/// PFADD key [element ...]: 1 when a register changed or the key was made.
fn pfadd(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let old = match read(ex, key) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut updated = old.is_none();
    let mut v = old.as_deref().map_or_else(new_sparse, <[u8]>::to_vec);
    for element in &argv[2..] {
        match add(&mut v, element, SPARSE_MAX_BYTES) {
            Set::Same => {}
            Set::Changed => updated = true,
            Set::Corrupt => {
                // Redis answers the error with the earlier elements' changes
                // already made to the value (and the key not signalled).
                if old.as_deref() != Some(&v[..]) {
                    store(ex, key, v);
                } else {
                    unshare(ex, key);
                }
                return err(CORRUPT);
            }
        }
    }
    if updated {
        invalidate(&mut v);
        store(ex, key, v);
        ex.notify(super::notify::STRING, "pfadd", key);
    } else {
        unshare(ex, key);
    }
    Reply::Integer(i64::from(updated))
}

/// PFCOUNT key [key ...]: one key answers (and caches) its estimate; more
/// keys answer the estimate of their union, caching nothing.
fn pfcount(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    for key in &argv[1..] {
        ex.count_read(key);
    }
    if argv.len() > 2 {
        let mut max = vec![0u8; REGISTERS];
        for key in &argv[1..] {
            match read(ex, key) {
                Ok(None) => {}
                Ok(Some(v)) => {
                    if !merge_into(&mut max, &v) {
                        return err(CORRUPT);
                    }
                }
                Err(e) => return e,
            }
        }
        return Reply::Integer(estimate(&raw_histogram(&max)) as i64);
    }
    let key = &argv[1];
    let v = match read(ex, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Integer(0),
        Err(e) => return e,
    };
    if let Some(card) = cached(&v) {
        unshare(ex, key);
        return Reply::Integer(card as i64);
    }
    let Some(h) = histogram(&v) else {
        unshare(ex, key);
        return err(CORRUPT);
    };
    let card = estimate(&h);
    let mut v = v.to_vec();
    v[8..HDR].copy_from_slice(&card.to_le_bytes());
    store(ex, key, v);
    Reply::Integer(card as i64)
}

/// PFMERGE destkey [sourcekey ...]: the union of the registers of every key
/// named (the destination included) into the destination, dense when any
/// of them is dense.
fn pfmerge(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let mut max = vec![0u8; REGISTERS];
    let mut use_dense = false;
    let mut dest_old = None;
    for (j, key) in argv[1..].iter().enumerate() {
        ex.count_read(key);
        match read(ex, key) {
            Ok(None) => {}
            Ok(Some(v)) => {
                use_dense |= v[4] == DENSE;
                if !merge_into(&mut max, &v) {
                    return err(CORRUPT);
                }
                if j == 0 {
                    dest_old = Some(v);
                }
            }
            Err(e) => return e,
        }
    }
    let dest = &argv[1];
    let mut v = dest_old.as_deref().map_or_else(new_sparse, <[u8]>::to_vec);
    if use_dense && v[4] == SPARSE {
        match sparse_to_dense(&v) {
            Some(d) => v = d,
            None => return err(CORRUPT),
        }
    }
    for (i, &m) in max.iter().enumerate() {
        if m == 0 {
            continue;
        }
        if v[4] == DENSE {
            dense_raise(&mut v[HDR..], i, m);
        } else {
            // Redis ignores the outcome here (the body was validated above).
            sparse_set(&mut v, i, m, SPARSE_MAX_BYTES);
        }
    }
    invalidate(&mut v);
    store(ex, dest, v);
    ex.notify(super::notify::STRING, "pfadd", dest);
    Reply::ok()
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
fn pfdebug(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let sub = &argv[1];
    let key = &argv[2];
    let v = match read(ex, key) {
        Ok(Some(v)) => v,
        Ok(None) => return err("ERR The specified key does not exist"),
        Err(e) => return e,
    };
    unshare(ex, key);
    let sparse = v[4] == SPARSE;
    if is(sub, "getreg") || is(sub, "todense") {
        let dense = if sparse {
            let Some(d) = sparse_to_dense(&v) else {
                return err(CORRUPT);
            };
            store(ex, key, d.clone());
            Bytes::from(d)
        } else {
            v
        };
        if is(sub, "todense") {
            return Reply::Integer(i64::from(sparse));
        }
        let body = &dense[HDR..];
        return Reply::Array(
            (0..REGISTERS)
                .map(|i| Reply::Integer(i64::from(dense_get(body, i))))
                .collect(),
        );
    }
    if is(sub, "decode") {
        if !sparse {
            return err("ERR HLL encoding is not sparse");
        }
        let mut out = String::new();
        let mut p = HDR;
        while p < v.len() {
            let op = op_at(&v, p);
            match op {
                Op::Zero(n) => out.push_str(&format!("z:{n} ")),
                Op::XZero(n) => out.push_str(&format!("Z:{n} ")),
                Op::Val(value, n) => out.push_str(&format!("v:{value},{n} ")),
            }
            p += op.size();
        }
        return Reply::Bulk(Bytes::from(out.trim_end_matches(' ').to_owned()));
    }
    if is(sub, "encoding") {
        return Reply::Simple(if sparse { "sparse" } else { "dense" }.into());
    }
    err(&format!(
        "ERR Unknown PFDEBUG subcommand '{}'",
        String::from_utf8_lossy(sub)
    ))
}

/// PFSELFTEST: checks the dense register accessors against plain bytes
/// with random values, then adds 10 million distinct elements to a dense
/// and a sparse HyperLogLog side by side, checking at every power of ten
/// that the sparse one stays sparse while small, that both estimate the
/// same, and that the error stays within six standard errors. `OK`, or a
/// `TESTFAILED` error naming the failure (Redis's texts).
pub(crate) fn selftest(seed: u64) -> Reply {
    let mut state = seed | 1;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[4] = DENSE;
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (rand() & 63) as u8;
            dense_put(&mut dense[HDR..], i, *b);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let got = dense_get(&dense[HDR..], i);
            if got != b {
                return err(&format!(
                    "TESTFAILED Register {i} should be {b} but is {got}"
                ));
            }
        }
    }
    dense[HDR..].fill(0);
    let mut sparse = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    let salt = rand();
    let count = |v: &[u8]| histogram(v).map_or(0, |h| estimate(&h));
    for j in 1..=10_000_000u64 {
        let element = (j ^ salt).to_le_bytes();
        add(&mut dense, &element, SPARSE_MAX_BYTES);
        add(&mut sparse, &element, SPARSE_MAX_BYTES);
        if j != checkpoint {
            continue;
        }
        if j < (SPARSE_MAX_BYTES / 2) as u64 && sparse[4] != SPARSE {
            return err("TESTFAILED sparse encoding not used");
        }
        let estimated = count(&dense);
        if estimated != count(&sparse) {
            return err("TESTFAILED dense/sparse disagree");
        }
        let abserr = checkpoint.abs_diff(estimated);
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return err(&format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registers of any HyperLogLog, as bytes.
    fn registers(v: &[u8]) -> Vec<u8> {
        let mut max = vec![0u8; REGISTERS];
        assert!(merge_into(&mut max, v));
        max
    }

    /// Register and value of a few elements, read from redis-server 7.0.15
    /// with `PFADD x <element>` + `PFDEBUG GETREG x`.
    #[test]
    fn pattern_matches_redis() {
        assert_eq!(pattern(b"hello"), (9216, 1));
        assert_eq!(pattern(b"a"), (12711, 2));
        assert_eq!(pattern(b"foobar"), (1910, 4));
        assert_eq!(pattern(b"12345678"), (10579, 3));
        assert_eq!(pattern(b""), (5938, 2));
        // A run longer than a sparse VAL holds (found by search).
        assert_eq!(pattern(b"86f8de7b"), (15571, 36));
    }

    #[test]
    fn selftest_passes() {
        assert_eq!(selftest(0x5eed), Reply::ok());
    }

    #[test]
    fn new_key_layout() {
        let v = new_sparse();
        assert_eq!(v.len(), 18);
        assert!(is_hll(&v));
        assert_eq!(&v[16..], &[0x7f, 0xff]);
        assert_eq!(histogram(&v).map(|h| h[0]), Some(REGISTERS as u32));
        assert_eq!(estimate(&histogram(&v).unwrap_or([0; 64])), 0);
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut body = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_put(&mut body, i, (i * 7 % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&body, i), (i * 7 % 64) as u8, "register {i}");
        }
    }

    #[test]
    fn estimate_is_within_two_percent_at_1e5() {
        let mut v = new_sparse();
        let n = 100_000u64;
        for i in 0..n {
            add(&mut v, format!("element:{i}").as_bytes(), SPARSE_MAX_BYTES);
        }
        assert_eq!(v[4], DENSE);
        let est = estimate(&histogram(&v).unwrap_or([0; 64])) as f64;
        let error = (est - n as f64).abs() / n as f64;
        assert!(error < 0.02, "estimate {est} for {n}");
    }

    #[test]
    fn sparse_to_dense_keeps_registers() {
        let mut sparse = new_sparse();
        let mut dense = sparse_to_dense(&new_sparse()).unwrap_or_default();
        for i in 0..3000u32 {
            let e = i.to_le_bytes();
            let a = add(&mut sparse, &e, usize::MAX);
            let b = add(&mut dense, &e, usize::MAX);
            if sparse[4] == SPARSE {
                assert_eq!(a, b, "element {i}");
            }
            if i % 100 == 0 {
                assert_eq!(registers(&sparse), registers(&dense), "element {i}");
            }
        }
        // The same elements with the default limit end up dense.
        let mut limited = new_sparse();
        for i in 0..3000u32 {
            add(&mut limited, &i.to_le_bytes(), SPARSE_MAX_BYTES);
        }
        assert_eq!(limited[4], DENSE);
        assert_eq!(registers(&limited), registers(&dense));
        let promoted = sparse_to_dense(&sparse).unwrap_or_default();
        assert_eq!(registers(&promoted), registers(&dense));
        assert_eq!(
            histogram(&sparse).map(|h| estimate(&h)),
            histogram(&dense).map(|h| estimate(&h))
        );
    }

    /// Grown sparse values with one byte changed or cut off: every reader
    /// and writer copes (no panic), and a value that still converts keeps
    /// agreeing with its dense form.
    #[test]
    fn mutated_sparse_values_never_panic() {
        let mut base = new_sparse();
        for i in 0..400u32 {
            add(&mut base, &i.to_le_bytes(), SPARSE_MAX_BYTES);
        }
        assert_eq!(base[4], SPARSE);
        let mut seed = 0x0bad_cafe_u64;
        for round in 0..3000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let mut v = base.clone();
            let at = HDR + (seed >> 20) as usize % (v.len() - HDR);
            if round % 5 == 0 {
                v.truncate(at);
            } else {
                v[at] = (seed >> 40) as u8;
            }
            let h = histogram(&v);
            if let Some(dense) = sparse_to_dense(&v) {
                assert_eq!(
                    h.map(|h| estimate(&h)),
                    histogram(&dense).map(|h| estimate(&h))
                );
            }
            for e in 0..50u32 {
                if add(&mut v, &(e + round).to_le_bytes(), SPARSE_MAX_BYTES) == Set::Corrupt {
                    break;
                }
            }
            let mut max = vec![0u8; REGISTERS];
            let _ = merge_into(&mut max, &v);
        }
    }

    #[test]
    fn corrupted_sparse_bodies_never_panic() {
        let mut seed = 0x1234_5678_u64;
        for round in 0..2000 {
            let mut v = new_sparse();
            v.truncate(HDR);
            for _ in 0..(round % 40) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                v.push((seed >> 33) as u8);
            }
            let _ = histogram(&v);
            let _ = sparse_to_dense(&v);
            let mut max = vec![0u8; REGISTERS];
            let _ = merge_into(&mut max, &v);
            for e in 0..20u32 {
                if add(&mut v, &e.to_le_bytes(), 40) == Set::Corrupt {
                    break;
                }
            }
        }
    }
}
