//! DUMP / RESTORE (work in progress): RDB payload primitives.
//!
//! Not yet wired into `src/keyspace/mod.rs` or the command table. This file
//! currently holds the payload checksum (CRC64, Jones polynomial, reflected,
//! as used by Redis's `crc64.c`) and an LZF decompressor for
//! `RDB_ENC_LZF`-encoded strings, each written from the format description.

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
}
