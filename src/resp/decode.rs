//! Request decoding: RESP multibulk frames and inline commands.
//!
//! Clients send commands either as a RESP array of bulk strings
//!
//! ```text
//! *<argc>\r\n  then argc times:  $<len>\r\n<len bytes>\r\n
//! ```
//!
//! or as an inline line (`PING\r\n`, what a human types into `nc`), split on
//! whitespace with Redis's quoting rules (`"a b"`, `'c'`, `"\x41\n"`).
//!
//! We decode requests ourselves instead of going through the `redis-protocol`
//! crate: a request is always "array of bulk strings", and a small resumable
//! decoder makes the limits exact (every length is checked *before* anything is
//! allocated for it), handles inline commands, hands out arguments as
//! zero-copy [`Bytes`] slices of the read buffer (except values long enough
//! for the keyspace to keep them by sharing, which are copied so that they
//! do not pin the buffer), and never re-scans a partly received frame.

use bytes::{Buf, Bytes, BytesMut};

/// Longest line (inline command, `*<n>` or `$<n>` header) accepted before a
/// newline arrives: Redis's `PROTO_INLINE_MAX_SIZE`.
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Largest bulk string and multibulk count accepted before the client has
/// authenticated, as in Redis.
const UNAUTHENTICATED_MAX_BULK: usize = 16 * 1024;
const UNAUTHENTICATED_MAX_MULTIBULK: usize = 10;

/// Bulk strings of at least this many bytes get a read buffer grown for
/// them alone and are handed out as slices of it (Redis's
/// `PROTO_MBULK_BIG_ARG`); shorter ones that the keyspace may keep are
/// copied out (see [`Decoder::decode`]).
const BIG_ARG: usize = 32 * 1024;

/// Protocol limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string (Redis `proto-max-bulk-len`, default 512 MB).
    pub max_bulk_len: usize,
    /// Largest argument count of one command (default `i32::MAX`, as Redis).
    pub max_multibulk_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
        }
    }
}

/// A malformed request. The connection replies `-ERR Protocol error: <text>`
/// and is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub &'static str);

/// A resumable request decoder; one per connection.
///
/// Feed it the connection's read buffer with [`Decoder::decode`]; it consumes
/// complete requests from the front and remembers how far it got inside a
/// partly received multibulk, so a large request arriving in many reads is
/// scanned once.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Arguments of the multibulk being received (None between requests).
    partial: Option<Partial>,
    /// Emptied argument vectors handed back ([`Decoder::recycle`]) for the
    /// next requests: a replicated write's arguments are freed after its
    /// reply, often on another thread than the one that allocated them,
    /// where the allocator's per-thread cache cannot serve them again.
    spare: Vec<Vec<Bytes>>,
}

/// Most argument vectors a decoder keeps for reuse, and the largest room
/// one may have to be kept.
const SPARE_MAX: usize = 64;
const SPARE_ROOM_MAX: usize = 64;

#[derive(Debug)]
struct Partial {
    /// Arguments still expected.
    remaining: usize,
    args: Vec<Bytes>,
    /// Length of the bulk whose header was read but whose body has not fully arrived.
    bulk_len: Option<usize>,
    /// Total length of `args`.
    bytes: usize,
}

/// What the decoder found at the front of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete command (never empty).
    Command(Vec<Bytes>),
    /// More bytes are needed. The buffer may have been partly consumed; the
    /// decoder keeps the state. `want` is a hint of how many more bytes the
    /// frame needs at least (used to size the next read).
    Incomplete {
        /// Bytes still missing for the current bulk, if known.
        want: usize,
    },
}

impl Decoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Takes back a request's argument vector once the request is done
    /// with (its arguments are dropped now), for a later request.
    pub fn recycle(&mut self, mut argv: Vec<Bytes>) {
        if self.spare.len() < SPARE_MAX && argv.capacity() <= SPARE_ROOM_MAX {
            argv.clear();
            self.spare.push(argv);
        }
    }

    /// Bytes of arguments already taken out of the read buffer for the
    /// request being received (counts towards the query buffer limit).
    pub fn pending_bytes(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.bytes)
    }

    /// Whether the decoder is in the middle of a multibulk request.
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }

    /// Decodes the next command at the front of `buf`, consuming its bytes.
    ///
    /// `authenticated == false` applies Redis's tighter limits for clients
    /// that still have to AUTH. Empty requests (`*0`, `*-1`, blank inline
    /// lines) are skipped.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
        authenticated: bool,
    ) -> Result<Decoded, ProtocolError> {
        loop {
            if self.partial.is_none() {
                if buf.is_empty() {
                    return Ok(Decoded::Incomplete { want: 0 });
                }
                if buf[0] == b'*' {
                    let Some((n, used)) = read_line_number(buf, b"too big mbulk count string")?
                    else {
                        return Ok(Decoded::Incomplete { want: 0 });
                    };
                    let n = n.ok_or(ProtocolError("invalid multibulk length"))?;
                    if n > i64::from(i32::MAX) || n > limits.max_multibulk_len as i64 {
                        return Err(ProtocolError("invalid multibulk length"));
                    }
                    if !authenticated && n > UNAUTHENTICATED_MAX_MULTIBULK as i64 {
                        return Err(ProtocolError("unauthenticated multibulk length"));
                    }
                    buf.advance(used);
                    if n <= 0 {
                        continue;
                    }
                    let n = n as usize;
                    self.partial = Some(Partial {
                        remaining: n,
                        // The count passed its limit, but a hostile client may
                        // still announce millions: grow as arguments arrive.
                        args: match self.spare.pop() {
                            Some(mut v) => {
                                v.reserve(n.min(SPARE_ROOM_MAX));
                                v
                            }
                            None => Vec::with_capacity(n.min(SPARE_ROOM_MAX)),
                        },
                        bulk_len: None,
                        bytes: 0,
                    });
                } else {
                    match decode_inline(buf)? {
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Decoded::Command(args)),
                        None => return Ok(Decoded::Incomplete { want: 0 }),
                    }
                }
            }
            let Some(partial) = self.partial.as_mut() else {
                continue;
            };
            while partial.remaining > 0 {
                let len = match partial.bulk_len {
                    Some(len) => len,
                    None => {
                        if buf.is_empty() {
                            return Ok(Decoded::Incomplete { want: 0 });
                        }
                        if buf[0] != b'$' {
                            return Err(ProtocolError(expected_dollar(buf[0])));
                        }
                        let Some((n, used)) = read_line_number(buf, b"too big bulk count string")?
                        else {
                            return Ok(Decoded::Incomplete { want: 0 });
                        };
                        let n = n.ok_or(ProtocolError("invalid bulk length"))?;
                        if n < 0 || n as u64 > limits.max_bulk_len as u64 {
                            return Err(ProtocolError("invalid bulk length"));
                        }
                        if !authenticated && n as usize > UNAUTHENTICATED_MAX_BULK {
                            return Err(ProtocolError("unauthenticated bulk length"));
                        }
                        buf.advance(used);
                        let n = n as usize;
                        partial.bulk_len = Some(n);
                        n
                    }
                };
                if buf.len() < len + 2 {
                    // The length passed its limit: now it is safe to make room
                    // for the whole bulk so that it arrives in few reads.
                    let missing = len + 2 - buf.len();
                    if len >= BIG_ARG {
                        buf.reserve(missing);
                    }
                    return Ok(Decoded::Incomplete { want: missing });
                }
                if &buf[len..len + 2] != b"\r\n" {
                    return Err(ProtocolError("expected CRLF after bulk string"));
                }
                let arg = if len > crate::keyspace::KEEP_COPY_MAX && len < BIG_ARG {
                    // A value the keyspace may keep by sharing it
                    // (`value::keep`): a slice would pin the read buffer's
                    // whole allocation (16 KiB or more) for as long as the
                    // value lives, five times the data in a pipelined
                    // SET of 600-byte values. A copy owns exactly its bytes.
                    let arg = Bytes::copy_from_slice(&buf[..len]);
                    buf.advance(len);
                    arg
                } else {
                    // Short ones are copied where they are kept; a big one
                    // had the buffer reserved for it (see above), so it
                    // shares an allocation of about its own size.
                    buf.split_to(len).freeze()
                };
                buf.advance(2);
                partial.bytes += arg.len();
                partial.args.push(arg);
                partial.bulk_len = None;
                partial.remaining -= 1;
            }
            let done = self.partial.take().map(|p| p.args).unwrap_or_default();
            return Ok(Decoded::Command(done));
        }
    }
}

fn expected_dollar(got: u8) -> &'static str {
    // Redis says "expected '$', got '<c>'"; the got-char varies, we keep the
    // message static and name the common case.
    match got {
        b'*' => "expected '$', got '*'",
        b'\r' | b'\n' => "expected '$', got newline",
        _ => "expected '$', got something else",
    }
}

/// Reads `<prefix><number>\r\n` at the front of `buf`.
///
/// Returns `Ok(None)` when the line is not complete yet, `Ok(Some((None, _)))`
/// when it is not a valid number, or the number and the line length.
#[allow(clippy::type_complexity)]
fn read_line_number(
    buf: &[u8],
    too_big: &'static [u8],
) -> Result<Option<(Option<i64>, usize)>, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX_SIZE {
            return Err(ProtocolError(if too_big == b"too big mbulk count string" {
                "too big mbulk count string"
            } else {
                "too big bulk count string"
            }));
        }
        return Ok(None);
    };
    let end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Ok(Some((parse_i64(&buf[1..end]), nl + 1)))
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Strict decimal parse as Redis's `string2ll` (no `+`, no spaces, no leading zeros
/// beyond "0").
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(digit)?
        } else {
            v.checked_add(digit)?
        };
    }
    if neg && v == 0 {
        return None;
    }
    Some(v)
}

/// Decodes one inline command line; `Ok(None)` if the line is incomplete.
fn decode_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX_SIZE {
            return Err(ProtocolError("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut end = nl;
    if end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    split_args(&line[..end])
        .map(Some)
        .ok_or(ProtocolError("unbalanced quotes in request"))
}

/// Splits an inline line into arguments with Redis's `sdssplitargs` rules.
/// Returns `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    // Redis splits a C string: a NUL byte ends the line. (Found by the
    // `resp` fuzz target: breaking on NUL without consuming it looped
    // forever, pushing empty arguments until memory ran out.)
    let line = &line[..memchr(0, line).unwrap_or(line.len())];
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 4;
                    continue;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(Bytes::from(cur));
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        while let Decoded::Command(c) = dec.decode(&mut buf, &Limits::default(), true)? {
            out.push(c);
        }
        Ok(out)
    }

    fn cmd(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn multibulk_and_pipeline() {
        let got = decode_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![cmd(&["GET", "k"]), cmd(&["PING"])]);
    }

    #[test]
    fn binary_safe_and_empty_bulk() {
        let got = decode_all(b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\na\r\nb\r\n").unwrap();
        assert_eq!(got, vec![cmd(&["SET", "", "a\r\nb"])]);
    }

    #[test]
    fn partial_frames_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING\r\n";
        let mut dec = Decoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Decoded::Command(c) = dec.decode(&mut buf, &Limits::default(), true).unwrap()
            {
                out.push(c);
            }
        }
        assert_eq!(out, vec![cmd(&["SET", "key", "value"]), cmd(&["PING"])]);
        assert!(buf.is_empty());
        assert!(!dec.in_progress());
    }

    #[test]
    fn a_recycled_argument_vector_serves_the_next_request() {
        let mut dec = Decoder::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"[..]);
        let Decoded::Command(first) = dec.decode(&mut buf, &Limits::default(), true).unwrap()
        else {
            panic!("a whole request");
        };
        let room = first.as_ptr();
        dec.recycle(first);
        let Decoded::Command(second) = dec.decode(&mut buf, &Limits::default(), true).unwrap()
        else {
            panic!("a whole request");
        };
        assert_eq!(second, cmd(&["PING"]));
        assert_eq!(second.as_ptr(), room, "the handed-back vector is reused");
        // A vector too big to keep is dropped, not kept.
        dec.recycle(Vec::with_capacity(SPARE_ROOM_MAX + 1));
        assert!(dec.spare.is_empty());
    }

    #[test]
    fn values_the_keyspace_may_keep_do_not_share_the_read_buffer() {
        let kept = crate::keyspace::KEEP_COPY_MAX + 1;
        let mut input = Vec::new();
        for len in [3, kept, BIG_ARG - 1, BIG_ARG] {
            input.extend_from_slice(format!("*1\r\n${len}\r\n").as_bytes());
            input.extend(std::iter::repeat_n(b'v', len));
            input.extend_from_slice(b"\r\n");
        }
        let mut buf = BytesMut::from(&input[..]);
        let whole = buf.as_ptr_range();
        let inside = |b: &Bytes| whole.contains(&b.as_ptr());
        let mut dec = Decoder::new();
        let mut args = Vec::new();
        while let Decoded::Command(mut c) = dec.decode(&mut buf, &Limits::default(), true).unwrap()
        {
            args.push(c.remove(0));
        }
        assert_eq!(
            args.iter().map(Bytes::len).collect::<Vec<_>>(),
            vec![3, kept, BIG_ARG - 1, BIG_ARG]
        );
        assert!(args.iter().all(|a| a.iter().all(|&b| b == b'v')));
        // Short (copied where kept) and big (its own buffer): slices.
        assert!(inside(&args[0]) && inside(&args[3]));
        // In between: copies.
        assert!(!inside(&args[1]) && !inside(&args[2]));
    }

    #[test]
    fn incomplete_bulk_reports_missing_bytes() {
        let mut dec = Decoder::new();
        let mut buf = BytesMut::from(&b"*1\r\n$10\r\nabc"[..]);
        let got = dec.decode(&mut buf, &Limits::default(), true).unwrap();
        assert_eq!(got, Decoded::Incomplete { want: 9 });
        assert!(dec.in_progress());
    }

    #[test]
    fn inline_commands_and_quotes() {
        let got = decode_all(b"PING\r\nset k \"a b\\x41\\n\" 'c d'\n  \r\nECHO x\r\n").unwrap();
        assert_eq!(
            got,
            vec![
                cmd(&["PING"]),
                cmd(&["set", "k", "a bA\n", "c d"]),
                cmd(&["ECHO", "x"])
            ]
        );
    }

    #[test]
    fn inline_unbalanced_quotes() {
        assert_eq!(
            decode_all(b"set k \"abc\r\n"),
            Err(ProtocolError("unbalanced quotes in request"))
        );
        assert_eq!(
            decode_all(b"set k \"abc\"x\r\n"),
            Err(ProtocolError("unbalanced quotes in request"))
        );
    }

    #[test]
    fn empty_multibulk_is_skipped() {
        let got = decode_all(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![cmd(&["PING"])]);
    }

    #[test]
    fn bulk_length_limit() {
        let limits = Limits {
            max_bulk_len: 10,
            max_multibulk_len: 100,
        };
        let mut dec = Decoder::new();
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        assert_eq!(
            dec.decode(&mut buf, &limits, true),
            Err(ProtocolError("invalid bulk length"))
        );
        let mut dec = Decoder::new();
        let mut buf = BytesMut::from(&b"*1\r\n$-3\r\n"[..]);
        assert_eq!(
            dec.decode(&mut buf, &limits, true),
            Err(ProtocolError("invalid bulk length"))
        );
        let mut buf = BytesMut::from(&b"*1\r\n$abc\r\n"[..]);
        assert_eq!(
            Decoder::new().decode(&mut buf, &limits, true),
            Err(ProtocolError("invalid bulk length"))
        );
    }

    #[test]
    fn huge_bulk_is_not_allocated() {
        let mut dec = Decoder::new();
        let mut buf = BytesMut::from(&b"*1\r\n$9999999999\r\n"[..]);
        assert_eq!(
            dec.decode(&mut buf, &Limits::default(), true),
            Err(ProtocolError("invalid bulk length"))
        );
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn multibulk_length_limit() {
        assert_eq!(
            decode_all(b"*3000000000\r\n"),
            Err(ProtocolError("invalid multibulk length"))
        );
        assert_eq!(
            decode_all(b"*x\r\n"),
            Err(ProtocolError("invalid multibulk length"))
        );
        let limits = Limits {
            max_bulk_len: 10,
            max_multibulk_len: 2,
        };
        let mut buf = BytesMut::from(&b"*3\r\n"[..]);
        assert_eq!(
            Decoder::new().decode(&mut buf, &limits, true),
            Err(ProtocolError("invalid multibulk length"))
        );
        // A big but allowed count does not preallocate for it.
        let mut dec = Decoder::new();
        let mut buf = BytesMut::from(&b"*2000000000\r\n"[..]);
        assert_eq!(
            dec.decode(&mut buf, &Limits::default(), true),
            Ok(Decoded::Incomplete { want: 0 })
        );
        assert!(dec.partial.as_ref().map(|p| p.args.capacity()).unwrap_or(0) <= 64);
    }

    #[test]
    fn unauthenticated_limits() {
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            Decoder::new().decode(&mut buf, &Limits::default(), false),
            Err(ProtocolError("unauthenticated multibulk length"))
        );
        let mut buf = BytesMut::from(&b"*1\r\n$20000\r\n"[..]);
        assert_eq!(
            Decoder::new().decode(&mut buf, &Limits::default(), false),
            Err(ProtocolError("unauthenticated bulk length"))
        );
    }

    #[test]
    fn expected_dollar_error() {
        assert_eq!(
            decode_all(b"*1\r\n+PING\r\n"),
            Err(ProtocolError("expected '$', got something else"))
        );
    }

    #[test]
    fn too_long_lines() {
        let mut long = vec![b'a'; INLINE_MAX_SIZE + 10];
        assert_eq!(
            decode_all(&long),
            Err(ProtocolError("too big inline request"))
        );
        long[0] = b'*';
        assert_eq!(
            decode_all(&long),
            Err(ProtocolError("too big mbulk count string"))
        );
    }

    #[test]
    fn bulk_without_crlf() {
        assert_eq!(
            decode_all(b"*1\r\n$4\r\nPINGxx"),
            Err(ProtocolError("expected CRLF after bulk string"))
        );
    }

    #[test]
    fn parse_i64_strict() {
        assert_eq!(parse_i64(b"123"), Some(123));
        assert_eq!(parse_i64(b"-5"), Some(-5));
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"99999999999999999999"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }
}
