//! Encoding of [`Reply`] as RESP2 or RESP3.
//!
//! RESP3-only shapes fall back in RESP2 as Redis 7.0 does: maps become flat
//! arrays, sets arrays, doubles bulk strings, booleans integers, verbatim
//! strings bulk strings, pushes arrays, and the RESP3 null `_` becomes `$-1`
//! or `*-1`.

use bytes::{BufMut, BytesMut};

use crate::command::Reply;

/// The protocol version spoken on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default of every new connection.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

impl Protocol {
    /// The number HELLO reports (2 or 3).
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// Appends the encoding of `reply` to `out`.
pub fn encode(reply: &Reply, proto: Protocol, out: &mut BytesMut) {
    match reply {
        Reply::Simple(s) => line(out, b'+', s.as_bytes()),
        Reply::Error(s) => line(out, b'-', s.as_bytes()),
        Reply::Integer(n) => {
            out.put_u8(b':');
            put_int(out, *n);
            out.put_slice(b"\r\n");
        }
        Reply::Bulk(b) => bulk(out, b),
        Reply::Nil => match proto {
            Protocol::Resp2 => out.put_slice(b"$-1\r\n"),
            Protocol::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::NilArray => match proto {
            Protocol::Resp2 => out.put_slice(b"*-1\r\n"),
            Protocol::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::Array(items) => {
            header(out, b'*', items.len());
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Pairs(items) => match proto {
            Protocol::Resp2 => {
                header(out, b'*', items.len());
                for item in items {
                    encode(item, proto, out);
                }
            }
            Protocol::Resp3 => {
                header(out, b'*', items.len() / 2);
                for pair in items.chunks(2) {
                    header(out, b'*', pair.len());
                    for item in pair {
                        encode(item, proto, out);
                    }
                }
            }
        },
        Reply::PairMap(pairs) => {
            match proto {
                Protocol::Resp2 => header(out, b'*', pairs.len()),
                Protocol::Resp3 => header(out, b'%', pairs.len()),
            }
            for (k, v) in pairs {
                if proto == Protocol::Resp2 {
                    header(out, b'*', 2);
                }
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Map(pairs) => {
            match proto {
                Protocol::Resp2 => header(out, b'*', pairs.len() * 2),
                Protocol::Resp3 => header(out, b'%', pairs.len()),
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Set(items) => {
            header(
                out,
                match proto {
                    Protocol::Resp2 => b'*',
                    Protocol::Resp3 => b'~',
                },
                items.len(),
            );
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Push(items) => {
            header(
                out,
                match proto {
                    Protocol::Resp2 => b'*',
                    Protocol::Resp3 => b'>',
                },
                items.len(),
            );
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Double(d) => {
            // A whole score (the common case) is printed as an integer,
            // without the general formatting's allocations.
            let mut digits = [0u8; 20];
            let general;
            let text = match whole(*d) {
                Some(n) => crate::command::args::format_i64(n, &mut digits),
                None => {
                    general = format_general(*d);
                    general.as_bytes()
                }
            };
            match proto {
                Protocol::Resp2 => bulk(out, text),
                Protocol::Resp3 => line(out, b',', text),
            }
        }
        Reply::HumanDouble(text) => match proto {
            Protocol::Resp2 => bulk(out, text),
            Protocol::Resp3 => line(out, b',', text),
        },
        Reply::Bool(b) => match proto {
            Protocol::Resp2 => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
            Protocol::Resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        },
        Reply::Verbatim(text) => match proto {
            Protocol::Resp2 => bulk(out, text),
            Protocol::Resp3 => {
                header(out, b'=', text.len() + 4);
                out.put_slice(b"txt:");
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
        },
    }
}

/// A status or error line; `\r` and `\n` inside are replaced by spaces so the
/// frame cannot be broken by text that came from a client.
fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.put_u8(prefix);
    if text.iter().any(|&c| c == b'\r' || c == b'\n') {
        out.extend(
            text.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

fn header(out: &mut BytesMut, prefix: u8, len: usize) {
    out.put_u8(prefix);
    put_int(out, len as i64);
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    header(out, b'$', data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn put_int(out: &mut BytesMut, n: i64) {
    out.put_slice(crate::command::args::format_i64(n, &mut [0u8; 20]));
}

/// `d` as an integer when `%.17g` prints it as one: a whole number of
/// magnitude below 1e17 (17 significant digits then cover every digit,
/// so the integer's digits are exactly what `%.17g` prints), not -0.
fn whole(d: f64) -> Option<i64> {
    let plain = d.fract() == 0.0 && d.abs() < 1e17 && !(d == 0.0 && d.is_sign_negative());
    // In range: the cast is exact.
    plain.then_some(d as i64)
}

/// Formats a double as Redis 7.0 does (`printf("%.17g")`, `inf`, `-inf`, `nan`).
pub fn format_double(d: f64) -> String {
    match whole(d) {
        Some(n) => n.to_string(),
        None => format_general(d),
    }
}

/// [`format_double`] by way of Rust's scientific formatting (any value).
fn format_general(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_owned();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // 17 significant digits in scientific notation: d.dddddddddddddddde±x.
    let sci = format!("{:.16e}", d);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        // Exponential form, trailing zeros of the fraction removed.
        let frac = digits[1..].trim_end_matches('0');
        out.push_str(&digits[..1]);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    } else {
        let point = exp as usize + 1;
        let (int, frac) = digits.split_at(point.min(digits.len()));
        out.push_str(int);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(r: &Reply, p: Protocol) -> String {
        let mut out = BytesMut::new();
        encode(r, p, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    /// Whole numbers take the integer path; it prints what the general
    /// formatting prints, at the edges of its range too.
    #[test]
    fn whole_doubles_print_as_the_general_formatting() {
        let mut values = vec![
            0.0,
            1.0,
            -1.0,
            9_007_199_254_740_992.0,
            9_007_199_254_740_993.0,
            -9_007_199_254_740_994.0,
            1e16,
            99_999_999_999_999_984.0,
            -99_999_999_999_999_984.0,
            123_456_789_012_345_680.0,
            1e17,
            -1e17,
            0.5,
            -0.0,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = 1 + (x % 17) as u32;
            let n = (x >> 8) % 10u64.pow(digits);
            let v = n as f64;
            values.push(if x % 2 == 0 { v } else { -v });
        }
        for v in values {
            assert_eq!(format_double(v), format_general(v), "{v:e}");
        }
        assert!(whole(1e17).is_none() && whole(-0.0).is_none() && whole(0.5).is_none());
        assert_eq!(whole(-42.0), Some(-42));
    }

    #[test]
    fn doubles_match_redis_7_0() {
        // Values checked against redis-server 7.0.15 (ZSCORE / ZINCRBY).
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(3.3), "3.2999999999999998");
        assert_eq!(format_double(1.1 + 2.2), "3.3000000000000003");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_double(1e30), "1e+30");
        assert_eq!(
            format_double(123456789012345678.0),
            "1.2345678901234568e+17"
        );
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(100.0), "100");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(12345678901234567.0), "12345678901234568");
    }

    #[test]
    fn scalars() {
        assert_eq!(enc(&Reply::ok(), Protocol::Resp2), "+OK\r\n");
        assert_eq!(
            enc(&Reply::error("ERR x\ny"), Protocol::Resp2),
            "-ERR x y\r\n"
        );
        assert_eq!(enc(&Reply::Integer(-42), Protocol::Resp2), ":-42\r\n");
        assert_eq!(
            enc(&Reply::Integer(i64::MIN), Protocol::Resp2),
            ":-9223372036854775808\r\n"
        );
        assert_eq!(enc(&Reply::bulk("ab"), Protocol::Resp2), "$2\r\nab\r\n");
        assert_eq!(enc(&Reply::Nil, Protocol::Resp2), "$-1\r\n");
        assert_eq!(enc(&Reply::Nil, Protocol::Resp3), "_\r\n");
        assert_eq!(enc(&Reply::NilArray, Protocol::Resp2), "*-1\r\n");
        assert_eq!(enc(&Reply::NilArray, Protocol::Resp3), "_\r\n");
        assert_eq!(enc(&Reply::Bool(true), Protocol::Resp2), ":1\r\n");
        assert_eq!(enc(&Reply::Bool(false), Protocol::Resp3), "#f\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Protocol::Resp2), "$3\r\n1.5\r\n");
        assert_eq!(
            enc(&Reply::Double(f64::INFINITY), Protocol::Resp3),
            ",inf\r\n"
        );
    }

    #[test]
    fn aggregates() {
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Integer(1))]);
        assert_eq!(enc(&map, Protocol::Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, Protocol::Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        let set = Reply::Set(vec![Reply::bulk("x")]);
        assert_eq!(enc(&set, Protocol::Resp2), "*1\r\n$1\r\nx\r\n");
        assert_eq!(enc(&set, Protocol::Resp3), "~1\r\n$1\r\nx\r\n");
        let push = Reply::Push(vec![Reply::bulk("message")]);
        assert_eq!(enc(&push, Protocol::Resp2), "*1\r\n$7\r\nmessage\r\n");
        assert_eq!(enc(&push, Protocol::Resp3), ">1\r\n$7\r\nmessage\r\n");
        let arr = Reply::Array(vec![Reply::Nil, Reply::Array(vec![])]);
        assert_eq!(enc(&arr, Protocol::Resp2), "*2\r\n$-1\r\n*0\r\n");
        let v = Reply::Verbatim(Bytes::from_static(b"hi"));
        assert_eq!(enc(&v, Protocol::Resp3), "=6\r\ntxt:hi\r\n");
        assert_eq!(enc(&v, Protocol::Resp2), "$2\r\nhi\r\n");
    }

    #[test]
    fn round_trip_through_redis_protocol_crate() {
        // Our encoder's output must parse with an independent RESP3 decoder.
        use redis_protocol::resp3::decode::complete::decode;
        let reply = Reply::Array(vec![
            Reply::bulk("k"),
            Reply::Map(vec![(Reply::Simple("a".into()), Reply::Double(2.5))]),
            Reply::Set(vec![Reply::Integer(3)]),
            Reply::Nil,
            Reply::Bool(true),
        ]);
        let mut out = BytesMut::new();
        encode(&reply, Protocol::Resp3, &mut out);
        let (frame, used) = decode(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert!(matches!(
            frame,
            redis_protocol::resp3::types::OwnedFrame::Array { ref data, .. } if data.len() == 5
        ));
        let mut out2 = BytesMut::new();
        encode(&reply, Protocol::Resp2, &mut out2);
        let (frame2, used2) = redis_protocol::resp2::decode::decode(&out2)
            .unwrap()
            .unwrap();
        assert_eq!(used2, out2.len());
        assert!(matches!(
            frame2,
            redis_protocol::resp2::types::OwnedFrame::Array(ref items) if items.len() == 5
        ));
    }
}
