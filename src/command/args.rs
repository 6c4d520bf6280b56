//! Argument parsing helpers and Redis's standard error texts, shared by the
//! command families. Parsing follows Redis's rules exactly (e.g. `string2ll`:
//! no sign `+`, no leading zeros, no spaces), because clients and the
//! differential tests see the difference.

use bytes::Bytes;

use super::{CommandFlags, Reply};

/// All flags off: the starting point of the `cmd!` macro.
pub(crate) const NO_FLAGS: CommandFlags = CommandFlags {
    write: false,
    readonly: false,
    admin: false,
    blocking: false,
    pubsub: false,
    no_auth: false,
    random: false,
    fast: false,
    denyoom: false,
    no_multi: false,
    pubsub_allowed: false,
};

/// `WRONGTYPE ...`.
pub(crate) const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
/// `ERR syntax error`.
pub(crate) const SYNTAX: &str = "ERR syntax error";
/// `ERR value is not an integer or out of range`.
pub(crate) const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
/// `ERR value is not a valid float`.
pub(crate) const NOT_FLOAT: &str = "ERR value is not a valid float";
/// `ERR increment or decrement would overflow`.
pub(crate) const OVERFLOW: &str = "ERR increment or decrement would overflow";
/// `ERR no such key`.
pub(crate) const NO_SUCH_KEY: &str = "ERR no such key";
/// `ERR index out of range`.
#[allow(dead_code, reason = "used by the list, hash, set and zset families")]
pub(crate) const INDEX_RANGE: &str = "ERR index out of range";
/// `ERR value is out of range, must be positive`.
#[allow(dead_code, reason = "used by the list, hash, set and zset families")]
pub(crate) const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
/// Redis's reply to a command refused while the memory in use is over
/// `maxmemory` (the connection's check and a script's).
pub(crate) const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// Redis's `proto-max-bulk-len` default (512 MiB): the largest string value.
pub(crate) const MAX_STRING: usize = 512 * 1024 * 1024;
/// `ERR string exceeds maximum allowed size (proto-max-bulk-len)`.
pub(crate) const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Shorthand for an error reply.
pub(crate) fn err(text: &str) -> Reply {
    Reply::Error(text.to_owned())
}

/// `ERR wrong number of arguments for '<name>' command`.
pub(crate) fn arity_error(name: &str) -> Reply {
    Reply::Error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Parses an i64 the way Redis's `string2ll` does.
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    // Accumulate as a negative number so that i64::MIN fits.
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(i64::from(c - b'0'))?;
    }
    if neg {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// An i64 argument or `ERR value is not an integer or out of range`.
pub(crate) fn int_arg(b: &[u8]) -> Result<i64, Reply> {
    parse_i64(b).ok_or_else(|| err(NOT_INTEGER))
}

/// A non-negative count argument (`value is out of range, must be positive` when negative).
#[allow(dead_code, reason = "used by the list, hash, set and zset families")]
pub(crate) fn count_arg(b: &[u8]) -> Result<usize, Reply> {
    let v = int_arg(b)?;
    usize::try_from(v).map_err(|_| err(MUST_BE_POSITIVE))
}

/// Parses a float the way Redis's `getLongDoubleFromObject` does: no leading
/// space, the whole string, NaN refused, infinities allowed.
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let first = s.bytes().next()?;
    if first.is_ascii_whitespace() {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    Some(v)
}

/// A float argument or `ERR value is not a valid float`.
pub(crate) fn float_arg(b: &[u8]) -> Result<f64, Reply> {
    parse_f64(b).ok_or_else(|| err(NOT_FLOAT))
}

/// Formats a float as Redis's "human" long-double format does for
/// INCRBYFLOAT: no exponent, no trailing zeros.
pub(crate) fn format_float(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    format!("{v}")
}

/// Whether `arg` equals `word`, ASCII case-insensitively.
pub(crate) fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// One of two keywords (any case): `Ok(true)` for `yes`, `Ok(false)` for
/// `no`, else Redis's syntax error (LEFT / RIGHT, BIT / BYTE, ...).
pub(crate) fn either(arg: &[u8], yes: &str, no: &str) -> Result<bool, Reply> {
    if is(arg, yes) {
        Ok(true)
    } else if is(arg, no) {
        Ok(false)
    } else {
        Err(err(SYNTAX))
    }
}

/// The bytes of an integer, as Redis stores the result of INCR.
pub(crate) fn int_bytes(v: i64) -> Bytes {
    Bytes::copy_from_slice(format_i64(v, &mut [0u8; 20]))
}

/// `v` in decimal, written into `buf` (digits backwards from its end; the
/// formatting machinery of `to_string` costs ~100 instructions more, on
/// INCR's and the RESP encoder's hot paths).
pub(crate) fn format_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// How C's `atoi` / `strtoull` begin reading a number: white space skipped,
/// then an optional sign. Returns whether it was `-` and what follows.
pub(crate) fn c_sign(b: &[u8]) -> (bool, &[u8]) {
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(b.len());
    match b.get(start) {
        Some(b'-') => (true, &b[start + 1..]),
        Some(b'+') => (false, &b[start + 1..]),
        _ => (false, &b[start..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_bytes_formats_like_to_string() {
        let edge = [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            100,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ];
        let more =
            (0..2000).map(|i: i64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64) >> (i % 64));
        for v in edge.into_iter().chain(more) {
            assert_eq!(&int_bytes(v)[..], v.to_string().as_bytes(), "{v}");
        }
    }

    #[test]
    fn i64_parsing_is_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1a",
            b"-",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn float_parsing_and_format() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(format_float(10.5 + 0.1), "10.6");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(-0.0), "0");
    }
}
