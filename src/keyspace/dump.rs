//! DUMP / RESTORE (work in progress): RDB payload primitives.
//!
//! Compiled as `keyspace::dump` but not yet in the command table. This file
//! holds the payload checksum (CRC64, Jones polynomial, reflected, as used
//! by Redis's `crc64.c`), an LZF decompressor for `RDB_ENC_LZF` strings, a
//! bounds-checked RDB length/string reader, the footer (RDB version 10 +
//! little-endian CRC64) and DUMP encoders for string, plain set, plain hash
//! and `RDB_TYPE_ZSET_2`, each written from the format description.
//!
//! Still to do: the list encoder (quicklist 2 with listpack nodes), the
//! RESTORE decoders (listpack, ziplist, intset, quicklist), the DUMP and
//! RESTORE commands writing through each type's write path, and the
//! differential / persistence tests. `cluster::state_machine::normalise`
//! already turns RESTORE's relative ttl into an absolute one (ABSTTL).

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
}

/// An RDB length field: either a length or a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
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
        match self.len_field()? {
            Len::Plain(n) => Some(self.take(usize::try_from(n).ok()?)?.to_vec()),
            Len::Encoded(0) => Some((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => {
                let v = i16::from_le_bytes(self.take(2)?.try_into().ok()?);
                Some(v.to_string().into_bytes())
            }
            Len::Encoded(2) => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
                Some(v.to_string().into_bytes())
            }
            Len::Encoded(3) => {
                let clen = usize::try_from(self.len()?).ok()?;
                let ulen = usize::try_from(self.len()?).ok()?;
                if ulen > 512 * 1024 * 1024 {
                    return None;
                }
                lzf_decompress(self.take(clen)?, ulen)
            }
            Len::Encoded(_) => None,
        }
    }

    /// Reads a little-endian binary double (RDB_TYPE_ZSET_2 scores).
    pub(crate) fn binary_double(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// RDB object type: string.
pub(crate) const RDB_TYPE_STRING: u8 = 0;
/// RDB object type: plain set.
pub(crate) const RDB_TYPE_SET: u8 = 2;
/// RDB object type: plain hash.
pub(crate) const RDB_TYPE_HASH: u8 = 4;
/// RDB object type: sorted set with binary double scores.
pub(crate) const RDB_TYPE_ZSET_2: u8 = 5;

/// Appends the DUMP footer (RDB version, little-endian CRC64) to `body`,
/// which must already start with the object type byte.
pub(crate) fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// DUMP payload of a string value.
pub(crate) fn encode_string(v: &[u8]) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_STRING];
    put_str(&mut b, v);
    seal(b)
}

/// DUMP payload of a set (plain RDB_TYPE_SET).
pub(crate) fn encode_set<'m>(members: impl ExactSizeIterator<Item = &'m [u8]>) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_SET];
    put_len(&mut b, members.len() as u64);
    members.for_each(|m| put_str(&mut b, m));
    seal(b)
}

/// DUMP payload of a hash (plain RDB_TYPE_HASH).
pub(crate) fn encode_hash<'m>(
    pairs: impl ExactSizeIterator<Item = (&'m [u8], &'m [u8])>,
) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_HASH];
    put_len(&mut b, pairs.len() as u64);
    pairs.for_each(|(f, v)| {
        put_str(&mut b, f);
        put_str(&mut b, v);
    });
    seal(b)
}

/// DUMP payload of a sorted set (RDB_TYPE_ZSET_2, binary double scores).
pub(crate) fn encode_zset<'m>(entries: impl ExactSizeIterator<Item = (&'m [u8], f64)>) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_ZSET_2];
    put_len(&mut b, entries.len() as u64);
    entries.for_each(|(m, score)| {
        put_str(&mut b, m);
        b.extend_from_slice(&score.to_le_bytes());
    });
    seal(b)
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
}
