//! The on-disk record codec and file headers (see `docs/storage-format.md`).
//!
//! Every data file starts with an 8-byte header, then records back to back:
//!
//! ```text
//! file header (8 bytes)
//! +------+------+------+------+------------------------+
//! | 'F'  | 'K'  | 'V'  | type |  format version (u32)  |
//! +------+------+------+------+------------------------+
//!  type = 'D' data file, 'H' hint file; version = 2 (1 is still read);
//!  little endian.
//!
//! record, version 2 (7-byte prefix + varints + key + value)
//! 0        4      5     6      7                                      7+vlen
//! +--------+------+-----+------+--------------------------------------+-----+-------+
//! | crc32  | kind | tag | vlen | generation, expire_at_ms, key_len,   | key | value |
//! | u32    | u8   | u8  | u8   | val_len: four LEB128 varints         |     |       |
//! +--------+------+-----+------+--------------------------------------+-----+-------+
//!  vlen: bytes the four varints take (4..=30); key_len and val_len < 2^32.
//!
//! record, version 1 (30-byte header + key + value), read but never written
//! 0        4      5     6              14               22         26         30
//! +--------+------+-----+--------------+----------------+----------+----------+-----+-------+
//! | crc32  | kind | tag | generation   | expire_at_ms   | key_len  | val_len  | key | value |
//! | u32    | u8   | u8  | u64          | u64            | u32      | u32      |     |       |
//! +--------+------+-----+--------------+----------------+----------+----------+-----+-------+
//!
//!  crc32 (crc32fast, IEEE) covers bytes 4..end of the record.
//!  kind: 1 put, 2 delete, 3 batch begin, 4 batch commit (0 is never valid,
//!        so a zero-filled tail is recognised as torn).
//!  batch begin/commit: tag 0, generation = batch id, key empty,
//!        value = record count as u32 (4 bytes); begin and commit must agree.
//! ```

use bytes::Bytes;

/// Length of a file header.
pub const FILE_HEADER_LEN: usize = 8;
/// File-type byte of a data file.
pub const TYPE_DATA: u8 = b'D';
/// File-type byte of a hint file.
pub const TYPE_HINT: u8 = b'H';

/// The fixed prefix of a version 2 record: crc, kind, tag, vlen.
const V2_PREFIX: usize = 7;
/// The most bytes the four varints of a version 2 record take.
const V2_MAX_VARINTS: usize = 10 + 10 + 5 + 5;
/// The fixed header of a version 1 record.
const V1_HEADER: usize = 30;

/// How the records of a data file are laid out: the format version in the
/// file's header. A hint file carries the version of its data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Fixed 30-byte headers (format version 1): read, never written.
    V1,
    /// Varint headers (format version 2): what every new file holds.
    V2,
}

impl Layout {
    /// The layout new files are written in.
    pub(crate) const CURRENT: Layout = Layout::V2;

    /// The format version naming this layout in a file header.
    pub(crate) fn version(self) -> u32 {
        match self {
            Layout::V1 => 1,
            Layout::V2 => 2,
        }
    }

    fn from_version(v: u32) -> Option<Layout> {
        match v {
            1 => Some(Layout::V1),
            2 => Some(Layout::V2),
            _ => None,
        }
    }

    /// Bytes to read from a record's start before its header length is known.
    pub(crate) fn prefix_len(self) -> usize {
        match self {
            Layout::V1 => V1_HEADER,
            Layout::V2 => V2_PREFIX,
        }
    }

    /// The header length a record's prefix announces (`prefix` holds at
    /// least [`Layout::prefix_len`] bytes).
    pub(crate) fn header_len(self, prefix: &[u8]) -> Result<usize, HeaderError> {
        match self {
            Layout::V1 => Ok(V1_HEADER),
            Layout::V2 => {
                let vlen = usize::from(prefix[6]);
                if !(4..=V2_MAX_VARINTS).contains(&vlen) {
                    return Err(HeaderError::Malformed);
                }
                Ok(V2_PREFIX + vlen)
            }
        }
    }

    /// The shortest record of this layout (empty key and value).
    pub(crate) fn min_record_len(self) -> usize {
        match self {
            Layout::V1 => V1_HEADER,
            Layout::V2 => V2_PREFIX + 4,
        }
    }
}

/// The kind of a record the owner appends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A value for a key.
    Put,
    /// A tombstone for a key.
    Delete,
}

/// Every kind byte that can appear on disk, including the internal batch markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DiskKind {
    Put = 1,
    Delete = 2,
    BatchBegin = 3,
    BatchCommit = 4,
}

impl DiskKind {
    pub(crate) fn from_byte(b: u8) -> Option<DiskKind> {
        match b {
            1 => Some(DiskKind::Put),
            2 => Some(DiskKind::Delete),
            3 => Some(DiskKind::BatchBegin),
            4 => Some(DiskKind::BatchCommit),
            _ => None,
        }
    }

    pub(crate) fn from_kind(kind: RecordKind) -> DiskKind {
        match kind {
            RecordKind::Put => DiskKind::Put,
            RecordKind::Delete => DiskKind::Delete,
        }
    }

    pub(crate) fn record_kind(self) -> Option<RecordKind> {
        match self {
            DiskKind::Put => Some(RecordKind::Put),
            DiskKind::Delete => Some(RecordKind::Delete),
            DiskKind::BatchBegin | DiskKind::BatchCommit => None,
        }
    }
}

/// The decoded header of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub crc: u32,
    pub kind: DiskKind,
    pub tag: u8,
    pub gen: u64,
    pub expire_at_ms: u64,
    pub key_len: u32,
    pub val_len: u32,
    /// Bytes before the key.
    pub header_len: u32,
}

impl RecordHeader {
    /// Total encoded length of the record this header starts.
    pub(crate) fn record_len(&self) -> u64 {
        u64::from(self.header_len) + u64::from(self.key_len) + u64::from(self.val_len)
    }

    /// Where the key starts, relative to the record.
    pub(crate) fn key_start(&self) -> usize {
        self.header_len as usize
    }

    /// Where the value starts, relative to the record.
    pub(crate) fn value_start(&self) -> usize {
        self.header_len as usize + self.key_len as usize
    }
}

/// Why a header could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// The buffer ends inside the header.
    Short,
    /// The kind byte is not a known kind.
    BadKind(u8),
    /// The varints do not fill the length the prefix gives, or a length
    /// does not fit 32 bits.
    Malformed,
}

/// Bytes `v` takes as a LEB128 varint (1..=10).
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Writes `v` as a LEB128 varint at `out[at..]`; returns the end.
fn put_varint(out: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        out[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    out[at] = v as u8;
    at + 1
}

/// Reads a LEB128 varint from `b[*at..]`, advancing `at`; `None` when it
/// runs past `b` or past 64 bits, or is not the shortest encoding (so a
/// valid record has exactly one encoding).
fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        let bits = u64::from(byte & 0x7f);
        if (shift == 63 && bits > 1) || (shift > 0 && byte == 0) {
            return None;
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Total encoded length (current layout) of a record with this key,
/// value, generation and deadline.
pub(crate) fn encoded_len(key_len: usize, val_len: usize, gen: u64, expire_at_ms: u64) -> usize {
    V2_PREFIX
        + varint_len(gen)
        + varint_len(expire_at_ms)
        + varint_len(key_len as u64)
        + varint_len(val_len as u64)
        + key_len
        + val_len
}

/// The value length of a record of `rec_len` bytes in `layout` with this
/// key length, generation and deadline (what a hint entry gives); `None`
/// when no value length fits.
pub(crate) fn value_len(
    layout: Layout,
    rec_len: u32,
    key_len: usize,
    gen: u64,
    expire_at_ms: u64,
) -> Option<u32> {
    match layout {
        Layout::V1 => {
            let v = (rec_len as usize).checked_sub(V1_HEADER + key_len)?;
            u32::try_from(v).ok()
        }
        Layout::V2 => {
            // `rest` = varint_len(value) + value: the value length grows
            // with its varint, so at most one candidate fits.
            let rest = (rec_len as usize).checked_sub(
                V2_PREFIX
                    + varint_len(gen)
                    + varint_len(expire_at_ms)
                    + varint_len(key_len as u64)
                    + key_len,
            )?;
            (1..=5).find_map(|n| {
                let v = rest.checked_sub(n)?;
                (varint_len(v as u64) == n)
                    .then(|| u32::try_from(v).ok())
                    .flatten()
            })
        }
    }
}

/// Appends one encoded record (current layout) to `out`.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    kind: DiskKind,
    tag: u8,
    gen: u64,
    expire_at_ms: u64,
    key: &[u8],
    value: &[u8],
) {
    // The header is built in place and copied once (the CRC goes in last).
    let mut header = [0u8; V2_PREFIX + V2_MAX_VARINTS];
    header[4] = kind as u8;
    header[5] = tag;
    let mut at = put_varint(&mut header, V2_PREFIX, gen);
    at = put_varint(&mut header, at, expire_at_ms);
    // Lengths are checked against the configured maxima (< 4 GiB) before encoding.
    at = put_varint(&mut header, at, key.len() as u64);
    at = put_varint(&mut header, at, value.len() as u64);
    header[6] = (at - V2_PREFIX) as u8;
    seal(out, &header[..at], key, value);
}

/// Appends a record whose header (its CRC still zero) is `header`, then
/// the key and the value, and fills in the CRC.
fn seal(out: &mut Vec<u8>, header: &[u8], key: &[u8], value: &[u8]) {
    let start = out.len();
    out.reserve(header.len() + key.len() + value.len());
    out.extend_from_slice(header);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Appends one record in the version 1 layout (tests of old files).
#[cfg(test)]
pub(crate) fn encode_v1(
    out: &mut Vec<u8>,
    kind: DiskKind,
    tag: u8,
    gen: u64,
    expire_at_ms: u64,
    key: &[u8],
    value: &[u8],
) {
    let mut header = [0u8; V1_HEADER];
    header[4] = kind as u8;
    header[5] = tag;
    header[6..14].copy_from_slice(&gen.to_le_bytes());
    header[14..22].copy_from_slice(&expire_at_ms.to_le_bytes());
    header[22..26].copy_from_slice(&(key.len() as u32).to_le_bytes());
    header[26..30].copy_from_slice(&(value.len() as u32).to_le_bytes());
    seal(out, &header, key, value);
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The kind and the header length of the record whose prefix
/// ([`Layout::prefix_len`] bytes) is `prefix`.
pub(crate) fn header_len_of(
    prefix: &[u8],
    layout: Layout,
) -> Result<(DiskKind, usize), HeaderError> {
    if prefix.len() < layout.prefix_len() {
        return Err(HeaderError::Short);
    }
    let kind = DiskKind::from_byte(prefix[4]).ok_or(HeaderError::BadKind(prefix[4]))?;
    Ok((kind, layout.header_len(prefix)?))
}

/// Decodes the header of a record (no CRC check: the CRC covers the body too).
pub(crate) fn decode_header(b: &[u8], layout: Layout) -> Result<RecordHeader, HeaderError> {
    let (kind, header_len) = header_len_of(b, layout)?;
    if b.len() < header_len {
        return Err(HeaderError::Short);
    }
    let (gen, expire_at_ms, key_len, val_len) = match layout {
        Layout::V1 => (le_u64(b, 6), le_u64(b, 14), le_u32(b, 22), le_u32(b, 26)),
        Layout::V2 => {
            let varints = &b[..header_len];
            let mut at = V2_PREFIX;
            let mut next = || get_varint(varints, &mut at).ok_or(HeaderError::Malformed);
            let gen = next()?;
            let expire_at_ms = next()?;
            let key_len = u32::try_from(next()?).map_err(|_| HeaderError::Malformed)?;
            let val_len = u32::try_from(next()?).map_err(|_| HeaderError::Malformed)?;
            if at != header_len {
                return Err(HeaderError::Malformed);
            }
            (gen, expire_at_ms, key_len, val_len)
        }
    };
    Ok(RecordHeader {
        crc: le_u32(b, 0),
        kind,
        tag: b[5],
        gen,
        expire_at_ms,
        key_len,
        val_len,
        header_len: header_len as u32,
    })
}

/// Checks the CRC of a whole encoded record (`rec.len()` must be the record length).
pub(crate) fn crc_ok(header: &RecordHeader, rec: &[u8]) -> bool {
    rec.len() >= 4 && crc32(&rec[4..]) == header.crc
}

/// A fully decoded record borrowing from its buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    pub header: RecordHeader,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Why a record could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The buffer ends inside the record.
    Short,
    /// Unknown kind byte.
    BadKind(u8),
    /// The header's varints are malformed.
    BadHeader,
    /// Checksum mismatch.
    BadCrc,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Short => write!(f, "record truncated"),
            DecodeError::BadKind(k) => write!(f, "unknown record kind {k}"),
            DecodeError::BadHeader => write!(f, "malformed record header"),
            DecodeError::BadCrc => write!(f, "checksum mismatch"),
        }
    }
}

/// Decodes one record of `layout` from the start of `b`, checking its CRC.
pub(crate) fn decode(b: &[u8], layout: Layout) -> Result<Decoded<'_>, DecodeError> {
    let header = decode_header(b, layout).map_err(|e| match e {
        HeaderError::Short => DecodeError::Short,
        HeaderError::BadKind(k) => DecodeError::BadKind(k),
        HeaderError::Malformed => DecodeError::BadHeader,
    })?;
    let total = header.record_len();
    if (b.len() as u64) < total {
        return Err(DecodeError::Short);
    }
    let total = total as usize;
    if !crc_ok(&header, &b[..total]) {
        return Err(DecodeError::BadCrc);
    }
    Ok(Decoded {
        header,
        key: &b[header.key_start()..header.value_start()],
        value: &b[header.value_start()..total],
    })
}

/// Decodes a whole record held in `Bytes` and returns its value without copying.
pub(crate) fn decode_value(b: Bytes, layout: Layout) -> Result<(RecordHeader, Bytes), DecodeError> {
    let d = decode(&b, layout)?;
    let header = d.header;
    let start = header.value_start();
    let end = start + header.val_len as usize;
    Ok((header, b.slice(start..end)))
}

/// The 8-byte header of a new file of the given type (current layout).
pub(crate) fn file_header(file_type: u8) -> [u8; FILE_HEADER_LEN] {
    file_header_of(file_type, Layout::CURRENT)
}

/// The 8-byte header of a file of the given type and layout.
pub(crate) fn file_header_of(file_type: u8, layout: Layout) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..3].copy_from_slice(b"FKV");
    h[3] = file_type;
    h[4..].copy_from_slice(&layout.version().to_le_bytes());
    h
}

/// Checks a file header; returns the file's layout, or a reason when it is
/// not one we can read.
pub(crate) fn check_file_header(b: &[u8], file_type: u8) -> Result<Layout, String> {
    if b.len() < FILE_HEADER_LEN {
        return Err("file shorter than its header".into());
    }
    if &b[..3] != b"FKV" || b[3] != file_type {
        return Err("bad magic".into());
    }
    let version = le_u32(b, 4);
    Layout::from_version(version).ok_or_else(|| format!("unsupported format version {version}"))
}

/// Encodes the value of a batch marker (the record count).
pub(crate) fn batch_marker_value(count: u32) -> [u8; 4] {
    count.to_le_bytes()
}

/// Decodes the value of a batch marker.
pub(crate) fn batch_marker_count(value: &[u8]) -> Option<u32> {
    (value.len() == 4).then(|| le_u32(value, 0))
}

/// crc32 (IEEE) of `bytes`. `crc32fast::hash` detects the CPU's features
/// on every call (~25 instructions, once per record appended); this clones
/// a hasher that detected them once.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    static DETECTED: std::sync::LazyLock<crc32fast::Hasher> =
        std::sync::LazyLock::new(crc32fast::Hasher::new);
    let mut h = DETECTED.clone();
    h.update(bytes);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDGES: [u64; 12] = [
        0,
        1,
        0x7f,
        0x80,
        0x3fff,
        0x4000,
        u32::MAX as u64 - 1,
        u32::MAX as u64,
        1 << 35,
        1_800_000_000_000,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn round_trip_put_and_delete() {
        let mut buf = Vec::new();
        encode(&mut buf, DiskKind::Put, 7, 42, 1234, b"key", b"value");
        encode(&mut buf, DiskKind::Delete, 0, 43, 0, b"key", b"");
        assert_eq!(
            buf.len(),
            encoded_len(3, 5, 42, 1234) + encoded_len(3, 0, 43, 0)
        );
        let a = decode(&buf, Layout::V2).expect("first record");
        assert_eq!(a.header.kind, DiskKind::Put);
        assert_eq!(a.header.tag, 7);
        assert_eq!(a.header.gen, 42);
        assert_eq!(a.header.expire_at_ms, 1234);
        assert_eq!(a.key, b"key");
        assert_eq!(a.value, b"value");
        let rest = &buf[a.header.record_len() as usize..];
        let b = decode(rest, Layout::V2).expect("second record");
        assert_eq!(b.header.kind, DiskKind::Delete);
        assert_eq!(b.header.gen, 43);
        assert_eq!(b.value, b"");
    }

    #[test]
    fn varint_headers_round_trip_at_every_width() {
        for &gen in &EDGES {
            for &exp in &EDGES {
                let mut buf = Vec::new();
                encode(&mut buf, DiskKind::Put, 3, gen, exp, b"k", b"vv");
                assert_eq!(buf.len(), encoded_len(1, 2, gen, exp));
                let d = decode(&buf, Layout::V2).expect("valid");
                assert_eq!((d.header.gen, d.header.expire_at_ms), (gen, exp));
                assert_eq!((d.key, d.value), (&b"k"[..], &b"vv"[..]));
            }
        }
        for &v in &EDGES {
            let mut b = [0u8; 10];
            let end = put_varint(&mut b, 0, v);
            assert_eq!(end, varint_len(v));
            let mut at = 0;
            assert_eq!(get_varint(&b[..end], &mut at), Some(v));
            assert_eq!(at, end);
        }
    }

    #[test]
    fn a_small_record_is_smaller_than_in_version_1() {
        // A SET of a 16-byte key and a 3-byte value: 30 + 19 bytes before.
        let mut v2 = Vec::new();
        encode(&mut v2, DiskKind::Put, 1, 1_000_000, 0, &[b'k'; 16], b"xxx");
        let mut v1 = Vec::new();
        encode_v1(&mut v1, DiskKind::Put, 1, 1_000_000, 0, &[b'k'; 16], b"xxx");
        assert_eq!(v1.len(), 49);
        assert_eq!(v2.len(), 32);
    }

    #[test]
    fn value_len_inverts_the_record_length() {
        let lens = [
            0usize, 1, 126, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152,
        ];
        for &gen in &EDGES {
            for &exp in &[0, 1_800_000_000_000] {
                for &key_len in &[0usize, 1, 200] {
                    for &val_len in &lens {
                        let rec = encoded_len(key_len, val_len, gen, exp) as u32;
                        let got = value_len(Layout::V2, rec, key_len, gen, exp);
                        assert_eq!(got, Some(val_len as u32), "gen {gen} key {key_len}");
                        let rec1 = (V1_HEADER + key_len + val_len) as u32;
                        let got = value_len(Layout::V1, rec1, key_len, gen, exp);
                        assert_eq!(got, Some(val_len as u32));
                    }
                }
            }
        }
        assert_eq!(value_len(Layout::V2, 5, 0, 0, 0), None);
        assert_eq!(value_len(Layout::V1, 29, 0, 0, 0), None);
    }

    #[test]
    fn version_1_records_are_read() {
        let mut buf = Vec::new();
        encode_v1(&mut buf, DiskKind::Put, 9, u64::MAX, 77, b"old", b"value");
        let d = decode(&buf, Layout::V1).expect("v1 record");
        assert_eq!(d.header.header_len, 30);
        assert_eq!(
            (d.header.tag, d.header.gen, d.header.expire_at_ms),
            (9, u64::MAX, 77)
        );
        assert_eq!((d.key, d.value), (&b"old"[..], &b"value"[..]));
        // Read as the other layout, the bytes do not pass.
        assert!(decode(&buf, Layout::V2).is_err());
    }

    #[test]
    fn malformed_varints_are_rejected() {
        let mut buf = Vec::new();
        encode(&mut buf, DiskKind::Put, 1, 300, 0, b"k", b"v");
        // vlen out of range, or not the bytes the varints take.
        for vlen in [0u8, 3, 4, 6, 31, 255] {
            let mut m = buf.clone();
            m[6] = vlen;
            assert!(decode(&m, Layout::V2).is_err(), "vlen {vlen}");
        }
        // A key length of 2^32 does not fit.
        let mut m = vec![0, 0, 0, 0, 1, 0, 0];
        let mut v = [0u8; 30];
        let mut at = put_varint(&mut v, 0, 0);
        at = put_varint(&mut v, at, 0);
        at = put_varint(&mut v, at, 1 << 32);
        at = put_varint(&mut v, at, 0);
        m[6] = at as u8;
        m.extend_from_slice(&v[..at]);
        assert_eq!(decode_header(&m, Layout::V2), Err(HeaderError::Malformed));
        // A longer encoding than needed (0 as two bytes).
        let mut at = 0;
        assert_eq!(get_varint(&[0x80, 0x00], &mut at), None);
        // A varint running past 64 bits.
        let mut at = 0;
        assert_eq!(get_varint(&[0xff; 10], &mut at), None);
        let mut at = 0;
        assert_eq!(
            get_varint(
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                &mut at
            ),
            None
        );
    }

    proptest::proptest! {
        /// Any record round-trips, its length is `encoded_len`, a hint's
        /// view of it gives back the value length, and every cut short of
        /// its end reads as truncated.
        #[test]
        fn any_record_round_trips(
            kind in 1u8..=4,
            tag: u8,
            gen: u64,
            exp: u64,
            key in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            value in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let kind = DiskKind::from_byte(kind).expect("valid kind");
            let mut buf = Vec::new();
            encode(&mut buf, kind, tag, gen, exp, &key, &value);
            proptest::prop_assert_eq!(buf.len(), encoded_len(key.len(), value.len(), gen, exp));
            let d = decode(&buf, Layout::V2).expect("decodes");
            proptest::prop_assert_eq!(d.header.kind, kind);
            proptest::prop_assert_eq!((d.header.tag, d.header.gen, d.header.expire_at_ms), (tag, gen, exp));
            proptest::prop_assert_eq!(d.key, &key[..]);
            proptest::prop_assert_eq!(d.value, &value[..]);
            proptest::prop_assert_eq!(
                value_len(Layout::V2, buf.len() as u32, key.len(), gen, exp),
                Some(value.len() as u32)
            );
            let cut = buf.len() / 2;
            proptest::prop_assert_eq!(decode(&buf[..cut], Layout::V2), Err(DecodeError::Short));
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        for layout in [Layout::V1, Layout::V2] {
            let mut buf = Vec::new();
            match layout {
                Layout::V1 => encode_v1(&mut buf, DiskKind::Put, 1, 2, 3, b"k", b"v"),
                Layout::V2 => encode(&mut buf, DiskKind::Put, 1, 2, 3, b"k", b"v"),
            }
            for i in 0..buf.len() * 8 {
                let mut m = buf.clone();
                m[i / 8] ^= 1 << (i % 8);
                assert!(
                    decode(&m, layout).is_err(),
                    "flip of bit {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn truncated_and_zeroed_records_are_rejected() {
        let mut buf = Vec::new();
        encode(&mut buf, DiskKind::Put, 1, 2, 3, b"key", b"value");
        for cut in 0..buf.len() {
            assert!(matches!(
                decode(&buf[..cut], Layout::V2),
                Err(DecodeError::Short)
            ));
        }
        for layout in [Layout::V1, Layout::V2] {
            assert!(matches!(
                decode(&[0u8; 64], layout),
                Err(DecodeError::BadKind(0))
            ));
        }
    }

    #[test]
    fn decode_value_slices_without_copy() {
        let mut buf = Vec::new();
        encode(&mut buf, DiskKind::Put, 0, 0, 0, b"abc", b"hello");
        let (h, v) = decode_value(Bytes::from(buf), Layout::V2).expect("valid");
        assert_eq!(h.key_len, 3);
        assert_eq!(&v[..], b"hello");
    }

    #[test]
    fn file_header_round_trip() {
        let h = file_header(TYPE_DATA);
        assert_eq!(check_file_header(&h, TYPE_DATA), Ok(Layout::V2));
        assert_eq!(
            check_file_header(&file_header_of(TYPE_DATA, Layout::V1), TYPE_DATA),
            Ok(Layout::V1)
        );
        assert!(check_file_header(&h, TYPE_HINT).is_err());
        let mut bad = h;
        bad[4] = 9;
        assert!(check_file_header(&bad, TYPE_DATA).is_err());
        assert!(check_file_header(&h[..5], TYPE_DATA).is_err());
    }

    #[test]
    fn batch_marker_round_trip() {
        assert_eq!(batch_marker_count(&batch_marker_value(17)), Some(17));
        assert_eq!(batch_marker_count(b"abc"), None);
    }
}
