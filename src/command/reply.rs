//! The reply of a command, independent of the wire protocol.
//!
//! The RESP layer encodes a [`Reply`] as RESP2 or RESP3; the Python binding
//! converts it to Python objects. RESP3-only shapes (`Map`, `Set`, `Double`,
//! `Bool`, `Push`) have a documented RESP2 fallback, as Redis does it.

use std::borrow::Cow;

use bytes::Bytes;

/// A command's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`-style status line. Must not contain `\r` or `\n`. Borrowed
    /// for the fixed lines (`OK`, `QUEUED`, type names): no allocation.
    Simple(Cow<'static, str>),
    /// An error line, full text including its prefix, e.g.
    /// `ERR wrong number of arguments for 'get' command` or
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`.
    Error(String),
    /// `:123`.
    Integer(i64),
    /// A bulk string (binary safe).
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    Nil,
    /// An array.
    Array(Vec<Reply>),
    /// The null array (`*-1` in RESP2, `_` in RESP3), e.g. BLPOP timing out.
    NilArray,
    /// A map (RESP3 `%`); a flat array of key, value, ... in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set (RESP3 `~`); an array in RESP2.
    Set(Vec<Reply>),
    /// A double (RESP3 `,`); a bulk string in RESP2 (formatted as Redis does).
    Double(f64),
    /// A double already formatted (Redis's "human" long double text, e.g.
    /// GEOPOS coordinates): a bulk string in RESP2, a RESP3 double (`,`)
    /// with that text.
    HumanDouble(Bytes),
    /// A boolean (RESP3 `#`); integer 1/0 in RESP2.
    Bool(bool),
    /// A verbatim string (RESP3 `=`, e.g. INFO); a bulk string in RESP2.
    Verbatim(Bytes),
    /// An out-of-band push (RESP3 `>`, pub/sub messages); an array in RESP2.
    Push(Vec<Reply>),
    /// Pairs kept flat (`[m1, s1, m2, s2, ...]`, even length), e.g. WITHSCORES
    /// results: a flat array in RESP2, an array of 2-element arrays in RESP3,
    /// as Redis 7.0 answers ZRANGE/ZRANDMEMBER/ZUNION ... WITHSCORES,
    /// ZPOPMIN with a count and HRANDFIELD WITHVALUES.
    Pairs(Vec<Reply>),
    /// A map (RESP3 `%`) that RESP2 writes as an array of 2-element
    /// arrays: XREAD / XREADGROUP's streams, as Redis 7.0 answers them.
    PairMap(Vec<(Reply, Reply)>),
}

/// The bulk strings of one reply as they are made: copies go into one
/// shared block (one allocation for the lot), shared strings are kept as
/// they are; [`Bulks::finish`] hands them out in order.
#[derive(Default)]
pub(crate) struct Bulks {
    block: bytes::BytesMut,
    /// Where each copy ends in the block, or the shared string.
    parts: Vec<Result<usize, Bytes>>,
}

impl Bulks {
    /// Room for `parts` strings of which `bytes` bytes are copied.
    pub(crate) fn with_capacity(parts: usize, bytes: usize) -> Bulks {
        Bulks {
            block: bytes::BytesMut::with_capacity(bytes),
            parts: Vec::with_capacity(parts),
        }
    }

    /// Adds `p`: copied or shared.
    pub(crate) fn piece(&mut self, p: Piece<'_>) {
        match p {
            Piece::Copy(v) => self.copy(v),
            Piece::Share(b) => self.share(b),
        }
    }

    /// Adds a copy of `v`.
    pub(crate) fn copy(&mut self, v: &[u8]) {
        self.block.extend_from_slice(v);
        self.parts.push(Ok(self.block.len()));
    }

    /// Adds the text `args` formats (an id, a number).
    pub(crate) fn text(&mut self, args: std::fmt::Arguments<'_>) {
        use std::fmt::Write as _;
        // Writing into a BytesMut cannot fail.
        let _ = self.block.write_fmt(args);
        self.parts.push(Ok(self.block.len()));
    }

    /// Adds `b` as it is.
    pub(crate) fn share(&mut self, b: Bytes) {
        self.parts.push(Err(b));
    }

    /// The strings, in the order they were added.
    pub(crate) fn finish(self) -> impl ExactSizeIterator<Item = Reply> {
        let block = self.block.freeze();
        let mut start = 0;
        self.parts.into_iter().map(move |part| match part {
            Ok(end) => {
                let b = block.slice(start..end);
                start = end;
                Reply::Bulk(b)
            }
            Err(b) => Reply::Bulk(b),
        })
    }

    /// The strings taken two by two, in order (an odd last one is dropped).
    pub(crate) fn finish_pairs(self) -> Vec<(Reply, Reply)> {
        let mut pairs = Vec::with_capacity(self.parts.len() / 2);
        let mut strings = self.finish();
        while let (Some(k), Some(v)) = (strings.next(), strings.next()) {
            pairs.push((k, v));
        }
        pairs
    }
}

/// A string for [`Reply::bulks_of`].
pub(crate) enum Piece<'a> {
    /// Copied into the reply's shared block.
    Copy(&'a [u8]),
    /// Kept as it is.
    Share(Bytes),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    /// An error reply with the given full text (prefix included).
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// Bulk strings of copies of `vals`, all in one block: one allocation
    /// for the lot instead of one a string (the `Bytes` share the block;
    /// LRANGE 0 99 took half the time).
    pub(crate) fn bulks<'a>(vals: impl IntoIterator<Item = &'a [u8]>) -> Vec<Reply> {
        Reply::bulks_of(vals.into_iter().map(Piece::Copy))
    }

    /// [`Reply::bulks`] where some strings are shared as they are (long
    /// values already in a `Bytes`: no copy).
    pub(crate) fn bulks_of<'a>(pieces: impl IntoIterator<Item = Piece<'a>>) -> Vec<Reply> {
        let pieces = pieces.into_iter();
        // Room for the strings the iterator promises, and a guess of 16
        // bytes each for the block (it grows past that by doubling).
        let n = pieces.size_hint().0;
        let mut out = Bulks::with_capacity(n, 16 * n);
        for p in pieces {
            out.piece(p);
        }
        out.finish().collect()
    }

    /// Whether this reply is an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}
