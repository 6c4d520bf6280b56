//! The on-disk record codec and file headers (see `docs/storage-format.md`).
//!
//! Every data file starts with an 8-byte header, then records back to back:
//!
//! ```text
//! file header (8 bytes)
//! +------+------+------+------+------------------------+
//! | 'F'  | 'K'  | 'V'  | type |  format version (u32)  |
//! +------+------+------+------+------------------------+
//!  type = 'D' data file, 'H' hint file; version = 1; little endian.
//!
//! record (30-byte header + key + value), all integers little endian
//! 0        4      5     6              14               22         26         30
//! +--------+------+-----+--------------+----------------+----------+----------+-----+-------+
//! | crc32  | kind | tag | generation   | expire_at_ms   | key_len  | val_len  | key | value |
//! | u32    | u8   | u8  | u64          | u64            | u32      | u32      |     |       |
//! +--------+------+-----+--------------+----------------+----------+----------+-----+-------+
//!  crc32 (crc32fast, IEEE) covers bytes 4..end of the record.
//!  kind: 1 put, 2 delete, 3 batch begin, 4 batch commit (0 is never valid,
//!        so a zero-filled tail is recognised as torn).
//!  batch begin/commit: tag 0, generation = batch id, key empty,
//!        value = record count as u32 (4 bytes); begin and commit must agree.
//! ```

use bytes::Bytes;

/// Length of the fixed part of a record.
pub const RECORD_HEADER_LEN: usize = 30;
/// Length of a file header.
pub const FILE_HEADER_LEN: usize = 8;
/// Current format version, written into every file header.
pub const FORMAT_VERSION: u32 = 1;
/// File-type byte of a data file.
pub const TYPE_DATA: u8 = b'D';
/// File-type byte of a hint file.
pub const TYPE_HINT: u8 = b'H';

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

/// The decoded fixed part of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub crc: u32,
    pub kind: DiskKind,
    pub tag: u8,
    pub gen: u64,
    pub expire_at_ms: u64,
    pub key_len: u32,
    pub val_len: u32,
}

impl RecordHeader {
    /// Total encoded length of the record this header starts.
    pub(crate) fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.key_len) + u64::from(self.val_len)
    }
}

/// Why a header could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Fewer than [`RECORD_HEADER_LEN`] bytes.
    Short,
    /// The kind byte is not a known kind.
    BadKind(u8),
}

/// Total encoded length of a record with this key and value.
pub(crate) fn encoded_len(key_len: usize, val_len: usize) -> usize {
    RECORD_HEADER_LEN + key_len + val_len
}

/// Appends one encoded record to `out`.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    kind: DiskKind,
    tag: u8,
    gen: u64,
    expire_at_ms: u64,
    key: &[u8],
    value: &[u8],
) {
    let start = out.len();
    out.reserve(encoded_len(key.len(), value.len()));
    // The header is built in place and copied once (the CRC goes in last).
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[4] = kind as u8;
    header[5] = tag;
    header[6..14].copy_from_slice(&gen.to_le_bytes());
    header[14..22].copy_from_slice(&expire_at_ms.to_le_bytes());
    // Lengths are checked against the configured maxima (< 4 GiB) before encoding.
    header[22..26].copy_from_slice(&(key.len() as u32).to_le_bytes());
    header[26..30].copy_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
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

/// Decodes the fixed part of a record (no CRC check: the CRC covers the body too).
pub(crate) fn decode_header(b: &[u8]) -> Result<RecordHeader, HeaderError> {
    if b.len() < RECORD_HEADER_LEN {
        return Err(HeaderError::Short);
    }
    let kind = DiskKind::from_byte(b[4]).ok_or(HeaderError::BadKind(b[4]))?;
    Ok(RecordHeader {
        crc: le_u32(b, 0),
        kind,
        tag: b[5],
        gen: le_u64(b, 6),
        expire_at_ms: le_u64(b, 14),
        key_len: le_u32(b, 22),
        val_len: le_u32(b, 26),
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
    /// Checksum mismatch.
    BadCrc,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Short => write!(f, "record truncated"),
            DecodeError::BadKind(k) => write!(f, "unknown record kind {k}"),
            DecodeError::BadCrc => write!(f, "checksum mismatch"),
        }
    }
}

/// Decodes one record from the start of `b`, checking its CRC.
pub(crate) fn decode(b: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let header = decode_header(b).map_err(|e| match e {
        HeaderError::Short => DecodeError::Short,
        HeaderError::BadKind(k) => DecodeError::BadKind(k),
    })?;
    let total = header.record_len();
    if (b.len() as u64) < total {
        return Err(DecodeError::Short);
    }
    let total = total as usize;
    if !crc_ok(&header, &b[..total]) {
        return Err(DecodeError::BadCrc);
    }
    let key_end = RECORD_HEADER_LEN + header.key_len as usize;
    Ok(Decoded {
        header,
        key: &b[RECORD_HEADER_LEN..key_end],
        value: &b[key_end..total],
    })
}

/// Decodes a whole record held in `Bytes` and returns its value without copying.
pub(crate) fn decode_value(b: Bytes) -> Result<(RecordHeader, Bytes), DecodeError> {
    let d = decode(&b)?;
    let header = d.header;
    let start = RECORD_HEADER_LEN + header.key_len as usize;
    let end = start + header.val_len as usize;
    Ok((header, b.slice(start..end)))
}

/// The 8-byte header of a file of the given type.
pub(crate) fn file_header(file_type: u8) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..3].copy_from_slice(b"FKV");
    h[3] = file_type;
    h[4..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// Checks a file header; returns a reason when it is not one we can read.
pub(crate) fn check_file_header(b: &[u8], file_type: u8) -> Result<(), String> {
    if b.len() < FILE_HEADER_LEN {
        return Err("file shorter than its header".into());
    }
    if &b[..3] != b"FKV" || b[3] != file_type {
        return Err("bad magic".into());
    }
    let version = le_u32(b, 4);
    if version != FORMAT_VERSION {
        return Err(format!("unsupported format version {version}"));
    }
    Ok(())
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

    #[test]
    fn round_trip_put_and_delete() {
        let mut buf = Vec::new();
        encode(&mut buf, DiskKind::Put, 7, 42, 1234, b"key", b"value");
        encode(&mut buf, DiskKind::Delete, 0, 43, 0, b"key", b"");
        assert_eq!(buf.len(), encoded_len(3, 5) + encoded_len(3, 0));
        let a = decode(&buf).expect("first record");
        assert_eq!(a.header.kind, DiskKind::Put);
        assert_eq!(a.header.tag, 7);
        assert_eq!(a.header.gen, 42);
        assert_eq!(a.header.expire_at_ms, 1234);
        assert_eq!(a.key, b"key");
        assert_eq!(a.value, b"value");
        let rest = &buf[a.header.record_len() as usize..];
        let b = decode(rest).expect("second record");
        assert_eq!(b.header.kind, DiskKind::Delete);
        assert_eq!(b.header.gen, 43);
        assert_eq!(b.value, b"");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut buf = Vec::new();
        encode(&mut buf, DiskKind::Put, 1, 2, 3, b"k", b"v");
        for i in 0..buf.len() * 8 {
            let mut m = buf.clone();
            m[i / 8] ^= 1 << (i % 8);
            assert!(decode(&m).is_err(), "flip of bit {i} went unnoticed");
        }
    }

    #[test]
    fn truncated_and_zeroed_records_are_rejected() {
        let mut buf = Vec::new();
        encode(&mut buf, DiskKind::Put, 1, 2, 3, b"key", b"value");
        for cut in 0..buf.len() {
            assert!(matches!(decode(&buf[..cut]), Err(DecodeError::Short)));
        }
        assert!(matches!(decode(&[0u8; 64]), Err(DecodeError::BadKind(0))));
    }

    #[test]
    fn decode_value_slices_without_copy() {
        let mut buf = Vec::new();
        encode(&mut buf, DiskKind::Put, 0, 0, 0, b"abc", b"hello");
        let (h, v) = decode_value(Bytes::from(buf)).expect("valid");
        assert_eq!(h.key_len, 3);
        assert_eq!(&v[..], b"hello");
    }

    #[test]
    fn file_header_round_trip() {
        let h = file_header(TYPE_DATA);
        assert_eq!(check_file_header(&h, TYPE_DATA), Ok(()));
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
