//! SORT and SORT_RO: the elements of a list, set or sorted set, ordered as
//! numbers (parsed as C's `strtod` parses them) or as strings (ALPHA), by
//! themselves or by weights looked up through a `BY` pattern, windowed by
//! `LIMIT`, projected through `GET` patterns, answered or stored as a list
//! (`STORE`). Redis 7.0's `sortCommandGeneric` is the reference for every
//! step, including its order of errors and its `BY <no star>` shortcut.
//!
//! Intended differences (see docs/architecture.md): a set sorted `BY` a
//! pattern without `*` (no sorting) comes out in our set's order, not in
//! Redis's hash order; ALPHA compares bytes (up to a NUL, as `strcoll` in
//! the C locale; Redis follows its process locale); and elements whose sort
//! keys tie under `ALPHA BY` keep the input order (Redis's order for ties
//! of set and sorted-set elements depends on its hash tables).

use std::cmp::Ordering;

use bytes::Bytes;

use super::value::Value;
use super::{list, Exec};
use crate::command::args::{self, err};
use crate::command::table::cmd;
use crate::command::{Command, Reply};

/// The sort commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("sort", -2, [write, denyoom], (1, 1, 1), "generic", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", "1.0.0", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", sort),
    cmd!("sort_ro", -2, [readonly], (1, 1, 1), "generic", "Returns the sorted elements of a list, a set, or a sorted set.", "7.0.0", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", sort_ro),
];

fn sort(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    sort_generic(ex, argv, false)
}

fn sort_ro(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    sort_generic(ex, argv, true)
}

/// SORT's options.
#[derive(Default)]
struct Options {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<Bytes>,
    by: Option<Bytes>,
    /// `BY` a pattern without `*`: keep the input order.
    dont_sort: bool,
    gets: Vec<Bytes>,
}

/// Parses the options after the key, as Redis does (a LIMIT with a bad
/// number answers that number's error; anything else unknown, or STORE in
/// SORT_RO, is a syntax error).
fn options(argv: &[Bytes], read_only: bool) -> Result<Options, Reply> {
    let mut o = Options::default();
    let mut j = 2;
    while j < argv.len() {
        let (a, left) = (&argv[j], argv.len() - j - 1);
        if args::is(a, "asc") {
            o.desc = false;
        } else if args::is(a, "desc") {
            o.desc = true;
        } else if args::is(a, "alpha") {
            o.alpha = true;
        } else if args::is(a, "limit") && left >= 2 {
            o.limit = Some((args::int_arg(&argv[j + 1])?, args::int_arg(&argv[j + 2])?));
            j += 2;
        } else if !read_only && args::is(a, "store") && left >= 1 {
            o.store = Some(argv[j + 1].clone());
            j += 1;
        } else if args::is(a, "by") && left >= 1 {
            let pattern = &argv[j + 1];
            o.dont_sort = !c_str(pattern).contains(&b'*');
            o.by = Some(pattern.clone());
            j += 1;
        } else if args::is(a, "get") && left >= 1 {
            o.gets.push(argv[j + 1].clone());
            j += 1;
        } else {
            return Err(err(args::SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// The bytes of `b` before its first NUL (what C string functions see).
fn c_str(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or_default()
}

/// The kind of value SORT reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// The source's kind and length (a missing key is an empty list), or
/// WRONGTYPE.
fn source(ex: &mut Exec<'_>, key: &[u8]) -> Result<(Kind, usize), Reply> {
    match ex.entry(key).map(|e| &mut e.value) {
        None => Ok((Kind::List, 0)),
        Some(Value::List(l)) => Ok((Kind::List, l.len())),
        Some(Value::Set(s)) => Ok((Kind::Set, s.len())),
        Some(Value::ZSet(z)) => {
            // Redis converts a sorted set to its skiplist encoding for SORT
            // (OBJECT ENCODING shows it afterwards).
            z.leave_listpack();
            Ok((Kind::ZSet, z.len()))
        }
        Some(_) => Err(err(args::WRONGTYPE)),
    }
}

/// Elements `start..=end` in the source's own order (from the tail when
/// `rev`); sets come whole, in their iteration order.
fn elements(ex: &mut Exec<'_>, key: &[u8], start: usize, end: usize, rev: bool) -> Vec<Bytes> {
    match ex.entry(key).map(|e| &mut e.value) {
        Some(Value::List(l)) if start <= end && start < l.len() => {
            let end = end.min(l.len() - 1);
            let (from, to) = if rev {
                (l.len() - 1 - end, l.len() - 1 - start)
            } else {
                (start, end)
            };
            let mut out: Vec<Bytes> = l
                .items
                .values(from, to - from + 1)
                .map(Bytes::copy_from_slice)
                .collect();
            if rev {
                out.reverse();
            }
            out
        }
        Some(Value::Set(s)) => s.iter().map(Bytes::copy_from_slice).collect(),
        Some(Value::ZSet(z)) => z
            .members_by_rank(start, end, rev)
            .into_iter()
            .map(Bytes::copy_from_slice)
            .collect(),
        _ => Vec::new(),
    }
}

/// What a `BY` / `GET` pattern names for `element`: `#` is the element;
/// otherwise the first `*` takes the element, and `key->field` reads a
/// hash field. `None` when the key (or field) is missing or of another
/// type, or the pattern has no `*`.
fn lookup(ex: &mut Exec<'_>, pattern: &[u8], element: &Bytes) -> Option<Bytes> {
    let visible = c_str(pattern);
    if visible == b"#" {
        return Some(element.clone());
    }
    let star = visible.iter().position(|&c| c == b'*')?;
    let after = &visible[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&at| after.len() > at + 2);
    let (suffix, field) = match arrow {
        Some(at) => (
            &pattern[star + 1..star + 1 + at],
            Some(&pattern[star + 1 + at + 2..]),
        ),
        None => (&pattern[star + 1..], None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(suffix);
    match (field, &ex.entry(&key)?.value) {
        (None, Value::Str(s)) => Some(s.data.to_bytes()),
        (Some(f), Value::Hash(h)) => h.get(f).map(|v| v.to_bytes()),
        _ => None,
    }
}

/// C's `strtod` over the bytes before the first NUL, as SORT uses it: the
/// number, or `None` when text follows it, it is NaN, or it is out of
/// range (`ERANGE`: overflow, or an underflow to zero or a subnormal).
/// Leading white space, a sign, `inf` / `infinity`, and hexadecimal
/// (`0x1.8p3`) are accepted; an empty string is 0.
pub(crate) fn c_strtod(b: &[u8]) -> Option<f64> {
    let s = c_str(b);
    let mut i = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(s.len());
    if i == s.len() {
        // No conversion: strtod points back at the start of the string.
        return s.is_empty().then_some(0.0);
    }
    let negative = s[i] == b'-';
    if matches!(s[i], b'+' | b'-') {
        i += 1;
    }
    let rest = &s[i..];
    let lower: Vec<u8> = rest.iter().map(u8::to_ascii_lowercase).collect();
    let magnitude = if lower.starts_with(b"inf") {
        let len = if lower.starts_with(b"infinity") { 8 } else { 3 };
        (rest.len() == len).then_some(f64::INFINITY)?
    } else if lower.starts_with(b"nan") {
        return None;
    } else if lower.starts_with(b"0x")
        && lower.get(2).is_some_and(|c| {
            c.is_ascii_hexdigit() || (*c == b'.' && lower.get(3).is_some_and(u8::is_ascii_hexdigit))
        })
    {
        hex_float(&lower[2..])?
    } else {
        decimal(rest)?
    };
    let v = if negative { -magnitude } else { magnitude };
    Some(v)
}

/// A decimal number filling all of `s` (digits, an optional fraction and
/// an optional exponent); out-of-range values are `None` (ERANGE).
fn decimal(s: &[u8]) -> Option<f64> {
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(0);
    let mut end = int;
    let mut frac = 0;
    if s.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        end += 1 + frac;
    }
    if int + frac == 0 {
        return None;
    }
    if matches!(s.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(s.get(end + 1), Some(b'+' | b'-')));
        let exp = digits(end + 1 + sign);
        if exp > 0 {
            end += 1 + sign + exp;
        }
    }
    if end != s.len() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = text.parse().ok()?;
    let nonzero = s
        .iter()
        .take(int + frac + 1)
        .any(|c| (b'1'..=b'9').contains(c));
    in_range(v, nonzero)
}

/// A hexadecimal float (after `0x`) filling all of `s`: hex digits, an
/// optional fraction, an optional binary exponent `p[+-]N`.
fn hex_float(s: &[u8]) -> Option<f64> {
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let mut nonzero = false;
    let mut i = 0;
    let mut seen_dot = false;
    while let Some(&c) = s.get(i) {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'.' if !seen_dot => {
                seen_dot = true;
                i += 1;
                continue;
            }
            _ => break,
        };
        nonzero |= d != 0;
        if mantissa >> 56 == 0 {
            mantissa = mantissa << 4 | u64::from(d);
            if seen_dot {
                exp -= 4;
            }
        } else if !seen_dot {
            exp += 4;
        }
        i += 1;
    }
    if s.get(i) == Some(&b'p') {
        let sign = matches!(s.get(i + 1), Some(b'+' | b'-'));
        let from = i + 1 + usize::from(sign);
        let n = s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n > 0 {
            let text = std::str::from_utf8(&s[from..from + n]).ok()?;
            let e: i64 = text.parse().unwrap_or(i64::MAX / 2).min(100_000);
            exp += if s[i + 1] == b'-' { -e } else { e };
            i = from + n;
        }
    }
    if i != s.len() {
        return None;
    }
    let v = mantissa as f64 * 2f64.powi(exp.clamp(-2000, 2000) as i32);
    in_range(v, nonzero)
}

/// `strtod`'s ERANGE: an infinite result, or a zero / subnormal one from
/// non-zero digits.
fn in_range(v: f64, nonzero: bool) -> Option<f64> {
    if v.is_infinite() || (nonzero && (v == 0.0 || v.is_subnormal())) {
        None
    } else {
        Some(v)
    }
}

/// One element to sort and the key it sorts by.
struct Item {
    element: Bytes,
    score: f64,
    /// ALPHA BY: the looked-up string (`None` when missing).
    by: Option<Bytes>,
}

/// Redis's `sortCompare` (before DESC is applied).
fn compare(a: &Item, b: &Item, alpha: bool, by: bool, store: bool) -> Ordering {
    // Without STORE, ALPHA collates with strcoll (C strings); with STORE
    // it compares whole binary strings.
    let text = |x: &[u8], y: &[u8]| {
        if store {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    if !alpha {
        a.score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.element.cmp(&b.element))
    } else if by {
        match (&a.by, &b.by) {
            (Some(x), Some(y)) => text(x, y),
            (x, y) => x.is_some().cmp(&y.is_some()),
        }
    } else {
        text(&a.element, &b.element)
    }
}

fn sort_generic(ex: &mut Exec<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    let mut o = match options(argv, read_only) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let key = &argv[1];
    ex.count_read(key);
    let (kind, len) = match source(ex, key) {
        Ok(s) => s,
        Err(e) => return e,
    };
    // The source counts as one read (its elements are read again below).
    ex.reading = false;
    // A set has no order of its own: stored unsorted it would depend on
    // the hash order, so Redis sorts it ALPHA instead.
    if o.dont_sort && kind == Kind::Set && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    // Redis's LIMIT arithmetic (`start > end` means nothing to answer).
    let n = len as i64;
    let (limit_start, limit_count) = o.limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(n);
    let count = limit_count.max(-1).min(n);
    let mut end = if count < 0 { n - 1 } else { start + count - 1 };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    end = end.min(n - 1);
    let loaded = if o.dont_sort && kind != Kind::Set {
        // Lists and sorted sets in their own order: only the window.
        let window = if end >= start {
            elements(ex, key, start as usize, end as usize, o.desc)
        } else {
            Vec::new()
        };
        end -= start.max(0);
        start = 0;
        window
    } else {
        elements(ex, key, 0, usize::MAX, false)
    };
    let mut items: Vec<Item> = loaded
        .into_iter()
        .map(|element| Item {
            element,
            score: 0.0,
            by: None,
        })
        .collect();
    if !o.dont_sort {
        let mut bad_number = false;
        for item in &mut items {
            let by = match &o.by {
                Some(pattern) => match lookup(ex, pattern, &item.element) {
                    Some(v) => v,
                    None => continue,
                },
                None => item.element.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.by = Some(by);
                }
            } else {
                match c_strtod(&by) {
                    Some(v) => item.score = v,
                    None => bad_number = true,
                }
            }
        }
        if bad_number {
            return err("ERR One or more scores can't be converted into double");
        }
        let (alpha, by, store) = (o.alpha, o.by.is_some(), o.store.is_some());
        items.sort_by(|a, b| {
            let c = compare(a, b, alpha, by, store);
            if o.desc {
                c.reverse()
            } else {
                c
            }
        });
    }
    let window: &[Item] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut out = Vec::with_capacity(window.len() * o.gets.len().max(1));
    for item in window {
        if o.gets.is_empty() {
            out.push(Some(item.element.clone()));
        }
        for pattern in &o.gets {
            out.push(lookup(ex, pattern, &item.element));
        }
    }
    let Some(dest) = o.store else {
        return Reply::Array(
            out.into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        );
    };
    // STORE: a new list (no deadline) replaces the destination; an empty
    // result deletes it. Missing GET values are stored as empty strings.
    if out.is_empty() {
        ex.delete_reported(&dest);
        return Reply::Integer(0);
    }
    // A new incarnation (the old value, if any, is overwritten: no `new`
    // event for it, as Redis's setKey), then the elements.
    let values: Vec<Bytes> = out.into_iter().map(Option::unwrap_or_default).collect();
    ex.replace_in(ex.db, &dest, Value::List(list::ListValue::default()), 0);
    list::push(ex, &dest, &values, false);
    ex.notify(super::notify::LIST, "sortstore", &dest);
    Reply::Integer(values.len() as i64)
}

#[cfg(test)]
mod tests {
    use super::c_strtod;

    #[test]
    fn strtod_accepts_what_c_accepts() {
        for (text, want) in [
            ("", Some(0.0)),
            (" 5", Some(5.0)),
            ("\t-7.5", Some(-7.5)),
            ("+4", Some(4.0)),
            ("1e3", Some(1000.0)),
            ("1.", Some(1.0)),
            (".5", Some(0.5)),
            ("0x10", Some(16.0)),
            ("0x1p3", Some(8.0)),
            ("0x.8", Some(0.5)),
            ("-0x1.8p1", Some(-3.0)),
            ("inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("5\0junk", Some(5.0)),
            ("1e-400", None),
            ("1e-310", None),
            ("1e400", None),
            ("nan", None),
            ("5 ", None),
            (" ", None),
            ("x", None),
            ("1e", None),
            ("0x", None),
            (".", None),
            ("infx", None),
            ("0e-999", Some(0.0)),
        ] {
            assert_eq!(c_strtod(text.as_bytes()), want, "{text:?}");
        }
    }
}
