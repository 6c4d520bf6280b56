//! The bitmap commands: GETBIT SETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO. A bitmap is a string value (bit 0 is the most significant
//! bit of byte 0). SETBIT and BITFIELD change it in place through
//! `string::edit_string`, keeping its deadline: a big bitmap gets a patch
//! record of the bytes that changed (O(1) amortized per write, as in
//! Redis); BITOP writes its destination whole.

use bytes::Bytes;

use super::notify::STRING;
use super::string::{edit_string, read};
use super::value::StrForm;
use super::Exec;
use crate::command::args::{self, err, int_arg};
use crate::command::table::cmd;
use crate::command::{Command, Reply};

/// The bitmap commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("getbit", 3, [readonly, fast], (1, 1, 1), "bitmap", "Returns a bit value by offset.", "2.2.0", "O(1)", getbit),
    cmd!("setbit", 4, [write, denyoom], (1, 1, 1), "bitmap", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "2.2.0", "O(1)", setbit),
    cmd!("bitcount", -2, [readonly], (1, 1, 1), "bitmap", "Counts the number of set bits (population counting) in a string.", "2.6.0", "O(N)", bitcount),
    cmd!("bitpos", -3, [readonly], (1, 1, 1), "bitmap", "Finds the first set (1) or clear (0) bit in a string.", "2.8.7", "O(N)", bitpos),
    cmd!("bitop", -4, [write, denyoom], (2, -1, 1), "bitmap", "Performs bitwise operations on multiple strings, and stores the result.", "2.6.0", "O(N)", bitop),
    cmd!("bitfield", -2, [write, denyoom], (1, 1, 1), "bitmap", "Performs arbitrary bitfield integer operations on strings.", "3.2.0", "O(1) for each subcommand specified", bitfield),
    cmd!("bitfield_ro", -2, [readonly, fast], (1, 1, 1), "bitmap", "Performs arbitrary read-only bitfield integer operations on strings.", "6.0.0", "O(1) for each subcommand specified", bitfield_ro),
];

/// A bit offset of GETBIT / SETBIT: 0 up to (but not at) the maximum
/// value length in bits.
fn bit_offset(ex: &Exec<'_>, a: &[u8]) -> Result<usize, Reply> {
    match args::parse_i64(a) {
        Some(o) if o >= 0 && ((o as u64) >> 3) < ex.max_value_len() as u64 => Ok(o as usize),
        _ => Err(err("ERR bit offset is not an integer or out of range")),
    }
}

/// The bit at `offset` (bit 0 is the most significant bit of byte 0).
fn bit_at(v: &[u8], offset: usize) -> bool {
    v.get(offset >> 3)
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

fn getbit(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let offset = match bit_offset(ex, &argv[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match read(ex, &argv[1]) {
        Ok(v) => Reply::Integer(i64::from(v.is_some_and(|v| bit_at(&v, offset)))),
        Err(e) => e,
    }
}

/// SETBIT: answers the bit's old value; the string grows with zero bytes
/// as needed and keeps its TTL (`edit_string`).
fn setbit(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let offset = match bit_offset(ex, &argv[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match args::parse_i64(&argv[3]) {
        Some(b @ (0 | 1)) => b == 1,
        _ => return err("ERR bit is not an integer or out of range"),
    };
    let byte = offset >> 3;
    let mask = 0x80 >> (offset & 7);
    let old_len = match ex.get_str(&argv[1]) {
        Ok(v) => v.map(|s| s.data.len()),
        Err(e) => return e,
    };
    // Written even when the bit was already so: Redis turns the value raw
    // and counts the key as modified either way.
    let edited = edit_string(ex, &argv[1], byte..byte + 1, |buf| {
        let was = buf[byte] & mask != 0;
        if on {
            buf[byte] |= mask;
        } else {
            buf[byte] &= !mask;
        }
        was
    });
    match edited {
        Ok((was, len)) => {
            // Redis reports a new or grown string, or a bit that changed.
            if old_len != Some(len) || was != on {
                ex.notify(STRING, "setbit", &argv[1]);
            }
            Reply::Integer(i64::from(was))
        }
        Err(e) => e,
    }
}

/// The unit of a BITCOUNT / BITPOS range: `Ok(true)` for BIT.
fn bit_unit(a: &[u8]) -> Result<bool, Reply> {
    args::either(a, "bit", "byte")
}

/// Redis's range arithmetic for BITCOUNT / BITPOS: `start..=end` in the
/// unit (bytes, or bits when `bits`) over `len` bytes, negative indexes
/// from the end, clamped; answers the bit range, or `None` when empty.
fn bit_range(len: usize, start: i64, end: i64, bits: bool) -> Option<(usize, usize)> {
    let total = if bits { len as i64 * 8 } else { len as i64 };
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end {
        return None;
    }
    let (start, end) = (start as usize, end as usize);
    Some(if bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

/// Set bits of `v` in the bit range `lo..=hi` (within `v`).
fn count_bits(v: &[u8], lo: usize, hi: usize) -> i64 {
    let (first, last) = (lo >> 3, hi >> 3);
    let head = 0xFFu8 >> (lo & 7);
    let tail = 0xFFu8 << (7 - (hi & 7));
    let n = if first == last {
        (v[first] & head & tail).count_ones()
    } else {
        (v[first] & head).count_ones()
            + v[first + 1..last]
                .iter()
                .map(|b| b.count_ones())
                .sum::<u32>()
            + (v[last] & tail).count_ones()
    };
    i64::from(n)
}

/// The first bit equal to `bit` in the bit range `lo..=hi` (within `v`),
/// skipping whole bytes that cannot hold it.
fn find_bit(v: &[u8], lo: usize, hi: usize, bit: bool) -> Option<usize> {
    let skip = if bit { 0x00 } else { 0xFF };
    let mut i = lo;
    while i <= hi {
        if i & 7 == 0 && i + 7 <= hi && v[i >> 3] == skip {
            i += 8;
            continue;
        }
        if bit_at(v, i) == bit {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// BITCOUNT: Redis 7.0 looks the key up (0 when missing, WRONGTYPE)
/// before it parses the range.
fn bitcount(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let v = match read(ex, &argv[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Integer(0),
        Err(e) => return e,
    };
    let (start, end, bits) = match argv.len() {
        2 => (0, -1, false),
        4 | 5 => {
            let (start, end) = match (int_arg(&argv[2]), int_arg(&argv[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            // Redis answers this empty range before it reads the unit.
            if start < 0 && end < 0 && start > end {
                return Reply::Integer(0);
            }
            let bits = match argv.get(4).map_or(Ok(false), |a| bit_unit(a)) {
                Ok(b) => b,
                Err(e) => return e,
            };
            (start, end, bits)
        }
        _ => return err(args::SYNTAX),
    };
    match bit_range(v.len(), start, end, bits) {
        Some((lo, hi)) => Reply::Integer(count_bits(&v, lo, hi)),
        None => Reply::Integer(0),
    }
}

fn bitpos(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let bit = match int_arg(&argv[2]) {
        Ok(b @ (0 | 1)) => b == 1,
        Ok(_) => return err("ERR The bit argument must be 1 or 0."),
        Err(e) => return e,
    };
    let v = match read(ex, &argv[1]) {
        // A missing key is an endless run of zero bits.
        Ok(None) => return Reply::Integer(if bit { -1 } else { 0 }),
        Ok(Some(v)) => v,
        Err(e) => return e,
    };
    let (mut start, mut end, mut bits, mut end_given) = (0, -1, false, false);
    match argv.len() {
        3 => {}
        4..=6 => {
            start = match int_arg(&argv[3]) {
                Ok(s) => s,
                Err(e) => return e,
            };
            bits = match argv.get(5).map_or(Ok(false), |u| bit_unit(u)) {
                Ok(b) => b,
                Err(e) => return e,
            };
            if let Some(e) = argv.get(4) {
                end = match int_arg(e) {
                    Ok(e) => e,
                    Err(e) => return e,
                };
                end_given = true;
            }
        }
        _ => return err(args::SYNTAX),
    }
    let Some((lo, hi)) = bit_range(v.len(), start, end, bits) else {
        return Reply::Integer(-1);
    };
    match find_bit(&v, lo, hi, bit) {
        Some(i) => Reply::Integer(i as i64),
        // Looking for a 0 past the string's end finds the padding, unless
        // the caller gave the end of the range.
        None if !bit && !end_given => Reply::Integer(hi as i64 + 1),
        None => Reply::Integer(-1),
    }
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...]: the result is as long
/// as the longest input (shorter ones read as zero bytes), replaces
/// `destkey` whatever its type (without a deadline), or deletes it when
/// every input is empty or missing. Answers the result's length.
fn bitop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    #[derive(Clone, Copy)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match &argv[1] {
        a if args::is(a, "and") => Op::And,
        a if args::is(a, "or") => Op::Or,
        a if args::is(a, "xor") => Op::Xor,
        a if args::is(a, "not") => Op::Not,
        _ => return err(args::SYNTAX),
    };
    let sources = &argv[3..];
    if matches!(op, Op::Not) && sources.len() != 1 {
        return err("ERR BITOP NOT must be called with a single source key.");
    }
    let mut inputs = Vec::with_capacity(sources.len());
    for key in sources {
        ex.count_read(key);
        match read(ex, key) {
            Ok(v) => inputs.push(v.unwrap_or_default()),
            Err(e) => return e,
        }
    }
    let len = inputs.iter().map(Bytes::len).max().unwrap_or(0);
    let dest = &argv[2];
    if len == 0 {
        ex.delete_reported(dest);
        return Reply::Integer(0);
    }
    let byte = |v: &Bytes, i: usize| v.get(i).copied().unwrap_or(0);
    let out: Vec<u8> = (0..len)
        .map(|i| {
            let mut rest = inputs.iter().map(|v| byte(v, i));
            let first = rest.next().unwrap_or(0);
            match op {
                Op::And => rest.fold(first, |a, b| a & b),
                Op::Or => rest.fold(first, |a, b| a | b),
                Op::Xor => rest.fold(first, |a, b| a ^ b),
                Op::Not => !first,
            }
        })
        .collect();
    ex.set_string_as(dest, Bytes::from(out), 0, StrForm::Raw);
    ex.notify(STRING, "set", dest);
    Reply::Integer(len as i64)
}

/// What BITFIELD does when a SET / INCRBY leaves the field's range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One parsed BITFIELD operation.
struct FieldOp {
    /// `None` for GET; `Some((is_incrby, operand))` for SET / INCRBY.
    write: Option<(bool, i64)>,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

const BAD_FIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// `i1`..`i64` or `u1`..`u63` (lower case only, as Redis 7.0). Redis reads
/// the argument as a C string: bytes from the first NUL on are ignored.
fn field_type(a: &[u8]) -> Result<(bool, u32), Reply> {
    let a = a.split(|&b| b == 0).next().unwrap_or_default();
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err(BAD_FIELD_TYPE)),
    };
    match args::parse_i64(&a[1..]) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Ok((signed, b as u32)),
        _ => Err(err(BAD_FIELD_TYPE)),
    }
}

/// A BITFIELD offset: a bit offset, or `#N` for N times the field width
/// (multiplied with wrap-around, as Redis's C does).
fn field_offset(ex: &Exec<'_>, a: &[u8], bits: u32) -> Result<u64, Reply> {
    let (digits, scale) = match a.strip_prefix(b"#") {
        Some(rest) => (rest, i64::from(bits)),
        None => (a, 1),
    };
    match args::parse_i64(digits).map(|o| o.wrapping_mul(scale)) {
        Some(o) if o >= 0 && ((o as u64) >> 3) < ex.max_value_len() as u64 => Ok(o as u64),
        _ => Err(err("ERR bit offset is not an integer or out of range")),
    }
}

/// Parses BITFIELD's operations; `read_only` refuses SET / INCRBY once
/// every operation parsed (as Redis does: any parse error comes first).
fn field_ops(ex: &Exec<'_>, argv: &[Bytes], read_only: bool) -> Result<Vec<FieldOp>, Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let (sub, left) = (&argv[j], argv.len() - j - 1);
        let write = if args::is(sub, "get") && left >= 2 {
            false
        } else if (args::is(sub, "set") || args::is(sub, "incrby")) && left >= 3 {
            true
        } else if args::is(sub, "overflow") && left >= 1 {
            let kind = &argv[j + 1];
            overflow = if args::is(kind, "wrap") {
                Overflow::Wrap
            } else if args::is(kind, "sat") {
                Overflow::Sat
            } else if args::is(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(err("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(err(args::SYNTAX));
        };
        let (signed, bits) = field_type(&argv[j + 1])?;
        let offset = field_offset(ex, &argv[j + 2], bits)?;
        let write = if write {
            Some((args::is(sub, "incrby"), args::int_arg(&argv[j + 3])?))
        } else {
            None
        };
        j += if write.is_some() { 4 } else { 3 };
        ops.push(FieldOp {
            write,
            signed,
            bits,
            offset,
            overflow,
        });
    }
    if read_only && ops.iter().any(|op| op.write.is_some()) {
        return Err(err("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    Ok(ops)
}

/// The `bits`-wide field at bit `offset` of `v` as an unsigned number
/// (bits past the end of `v` read as 0).
fn field_get(v: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, i| {
        let at = offset + i;
        let bit = v
            .get((at >> 3) as usize)
            .is_some_and(|b| b & (0x80 >> (at & 7)) != 0);
        acc << 1 | u64::from(bit)
    })
}

/// Writes the low `bits` bits of `value` at bit `offset` of `v` (long
/// enough already).
fn field_put(v: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let at = offset + i;
        let mask = 0x80 >> (at & 7);
        let byte = &mut v[(at >> 3) as usize];
        if value >> (u64::from(bits) - 1 - i) & 1 == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// The field's raw bits as the number they encode.
fn field_value(raw: u64, signed: bool, bits: u32) -> i128 {
    if signed && bits < 64 && raw >> (bits - 1) & 1 == 1 {
        i128::from(raw) - (1i128 << bits)
    } else if signed {
        i128::from(raw as i64)
    } else {
        i128::from(raw)
    }
}

/// Fits `v` into the field's range by the overflow rule: `None` when it
/// does not fit under FAIL.
fn field_fit(v: i128, signed: bool, bits: u32, rule: Overflow) -> Option<i128> {
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if (min..=max).contains(&v) {
        return Some(v);
    }
    match rule {
        Overflow::Fail => None,
        Overflow::Sat => Some(if v > max { max } else { min }),
        Overflow::Wrap => Some(field_value(
            (v.rem_euclid(1i128 << bits)) as u64,
            signed,
            bits,
        )),
    }
}

fn bitfield(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    bitfield_generic(ex, argv, false)
}

fn bitfield_ro(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    bitfield_generic(ex, argv, true)
}

/// BITFIELD / BITFIELD_RO. With any SET or INCRBY the string is created or
/// grown (zero bytes) to hold the farthest written field, even when every
/// write fails under OVERFLOW FAIL, and rewritten raw, as Redis does.
fn bitfield_generic(ex: &mut Exec<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    let ops = match field_ops(ex, argv, read_only) {
        Ok(ops) => ops,
        Err(e) => return e,
    };
    let key = &argv[1];
    let reach = ops
        .iter()
        .filter(|op| op.write.is_some())
        .map(|op| ((op.offset + u64::from(op.bits) - 1) >> 3) as usize + 1)
        .max();
    let Some(reach) = reach else {
        let v = match read(ex, key) {
            Ok(v) => v.unwrap_or_default(),
            Err(e) => return e,
        };
        let replies = ops
            .iter()
            .map(|op| field_get(&v, op.offset, op.bits))
            .zip(&ops)
            .map(|(raw, op)| Reply::Integer(field_value(raw, op.signed, op.bits) as i64))
            .collect();
        return Reply::Array(replies);
    };
    let first = ops
        .iter()
        .filter(|op| op.write.is_some())
        .map(|op| (op.offset >> 3) as usize)
        .min()
        .unwrap_or(0);
    match edit_string(ex, key, first..reach, |buf| apply_fields(buf, &ops)) {
        Ok((replies, _)) => {
            // A write that OVERFLOW FAIL refused (nil) changed nothing.
            let changes = ops
                .iter()
                .zip(&replies)
                .any(|(op, r)| op.write.is_some() && !matches!(r, Reply::Nil));
            if changes {
                ex.notify(STRING, "setbit", key);
            }
            Reply::Array(replies)
        }
        Err(e) => e,
    }
}

/// Runs BITFIELD's operations on `buf` (long enough for every write):
/// their replies.
fn apply_fields(buf: &mut [u8], ops: &[FieldOp]) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(ops.len());
    for op in ops {
        let current = field_value(field_get(buf, op.offset, op.bits), op.signed, op.bits);
        let Some((incr, operand)) = op.write else {
            replies.push(Reply::Integer(current as i64));
            continue;
        };
        // An unsigned SET takes its operand as C's uint64_t cast of it.
        let wanted = match (incr, op.signed) {
            (true, _) => current + i128::from(operand),
            (false, true) => i128::from(operand),
            (false, false) => i128::from(operand as u64),
        };
        match field_fit(wanted, op.signed, op.bits, op.overflow) {
            Some(v) => {
                field_put(buf, op.offset, op.bits, v as u64);
                replies.push(Reply::Integer(if incr { v } else { current } as i64));
            }
            None => replies.push(Reply::Nil),
        }
    }
    replies
}
