//! A stream's RDB serialization (DUMP / RESTORE), as Redis 7.0 writes it
//! (`RDB_TYPE_STREAM_LISTPACKS_2`) and as it and older versions load it
//! (also `RDB_TYPE_STREAM_LISTPACKS`). Written from the format; no code
//! is taken from Redis.
//!
//! ```text
//! body   = nodes:len  (key:string(16)  listpack:string)*nodes
//!          length:len  last-id  first-id  max-deleted-id  entries-added:len
//!          groups:len  group*                  (type 15: no first-id,
//! id     = ms:len seq:len                       max-deleted, entries-added)
//! group  = name:string  last-id  entries-read:len (type 15: absent)
//!          pel:len  (raw-id:16 BE  delivery-time:u64 LE  delivery-count:len)*
//!          consumers:len  (name:string  seen-time:u64 LE  pel:len  raw-id*)*
//! ```
//!
//! A node key is the 128-bit big-endian id of the node's master entry; the
//! node's listpack holds, as Redis's `streamAppendItem` writes it:
//!
//! ```text
//! master = count  deleted  nfields  field*nfields  0
//! entry  = flags  ms-delta  seq-delta  [nfields  field]  value ...  lp-count
//!          flags: 1 deleted, 2 same fields as the master (then no nfields
//!          and no field names); lp-count = elements of the entry but itself
//! ```
//!
//! Strings (keys, listpacks, names) are written as `rdbSaveRawString`
//! writes them: integer form, LZF when over 20 bytes and it pays, plain.
//!
//! DUMP writes each of our nodes (`StreamData::nodes`, which follow
//! Redis's splitting by stream-node-max-entries / -bytes) as the listpack
//! Redis would hold, so a stream built by XADD dumps byte for byte as
//! Redis dumps it. Entries deleted inside a node (XDEL, an exact trim) are
//! gone from memory here while Redis keeps them flagged in the listpack:
//! such a node is written with its live entries only (count = live,
//! deleted = 0; the master fields are the first live entry's when the
//! master entry itself is gone). Redis loads that; the bytes differ.

use bytes::Bytes;

use super::{
    estimate_distance, Consumer, Fields, Group, Nack, Node, StreamData, StreamEntry, StreamId,
};
use super::{StreamValue, INVALID_READ};
use crate::command::args::parse_i64;
use crate::keyspace::dump::rdb::{listpack, put_len, put_raw_string, seal, Reader};

/// RDB object type: stream of listpacks (Redis 5 and 6).
pub(crate) const RDB_TYPE_STREAM_LISTPACKS: u8 = 15;
/// RDB object type: stream of listpacks with first id, max deleted id,
/// entries added and the groups' entries read (Redis 7.0).
pub(crate) const RDB_TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// What a pending entry, a consumer or a consumer's pending id costs the
/// decode budget (its map nodes), beyond the bytes charged as strings.
const NACK_COST: usize = 64;

/// Entry flag: deleted.
const FLAG_DELETED: i64 = 1;
/// Entry flag: the entry has the master entry's fields.
const FLAG_SAME_FIELDS: i64 = 2;

/// A listpack under construction (see `dump::rdb::listpack` for the
/// element encodings).
struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl ListpackWriter {
    fn new() -> Self {
        ListpackWriter {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// Appends an element's encoding followed by its back length.
    fn push_encoded(&mut self, enc: &[u8]) {
        self.buf.extend_from_slice(enc);
        let l = enc.len() as u64;
        let mut back = [0u8; 5];
        let n = if l <= 127 {
            back[0] = l as u8;
            1
        } else if l < 16383 {
            back[..2].copy_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
            2
        } else if l < 2_097_151 {
            back[..3].copy_from_slice(&[
                (l >> 14) as u8,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
            3
        } else if l < 268_435_455 {
            back[..4].copy_from_slice(&[
                (l >> 21) as u8,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
            4
        } else {
            back.copy_from_slice(&[
                (l >> 28) as u8,
                ((l >> 21) & 127) as u8 | 128,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
            5
        };
        self.buf.extend_from_slice(&back[..n]);
        self.count += 1;
    }

    /// Appends an integer in its smallest encoding.
    fn int(&mut self, v: i64) {
        let mut enc = Vec::with_capacity(9);
        if (0..=127).contains(&v) {
            enc.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = if v < 0 { (1 << 13) + v } else { v };
            enc.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        } else if (-32768..=32767).contains(&v) {
            enc.push(0xF1);
            enc.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            enc.push(0xF2);
            enc.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (-2_147_483_648..=2_147_483_647).contains(&v) {
            enc.push(0xF3);
            enc.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            enc.push(0xF4);
            enc.extend_from_slice(&v.to_le_bytes());
        }
        self.push_encoded(&enc);
    }

    /// Appends a string, as an integer when it is one's canonical text
    /// (listpack's `lpStringToInt64`).
    fn string(&mut self, s: &[u8]) {
        if let Some(v) = parse_i64(s) {
            return self.int(v);
        }
        let n = s.len();
        let mut enc = Vec::with_capacity(n + 5);
        if n < 64 {
            enc.push(0x80 | n as u8);
        } else if n < 4096 {
            enc.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
        } else {
            enc.push(0xF0);
            enc.extend_from_slice(&(n as u32).to_le_bytes());
        }
        enc.extend_from_slice(s);
        self.push_encoded(&enc);
    }

    /// The finished listpack: header (total bytes, element count or
    /// 65535 when unknown) and terminator.
    fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(usize::from(u16::MAX)) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// The listpack of one node: master `master`, its live `entries`.
fn node_listpack(master: StreamId, entries: &[(&StreamId, &StreamEntry)]) -> Vec<u8> {
    let mut lp = ListpackWriter::new();
    let master_fields: Vec<&[u8]> = entries
        .first()
        .map(|(_, e)| e.fields.iter().step_by(2).collect())
        .unwrap_or_default();
    lp.int(entries.len() as i64);
    lp.int(0);
    lp.int(master_fields.len() as i64);
    for f in &master_fields {
        lp.string(f);
    }
    lp.int(0);
    for (id, e) in entries {
        let nfields = e.fields.len() / 2;
        let same = nfields == master_fields.len()
            && e.fields
                .iter()
                .step_by(2)
                .zip(&master_fields)
                .all(|(a, b)| a == *b);
        lp.int(if same { FLAG_SAME_FIELDS } else { 0 });
        lp.int(id.ms.wrapping_sub(master.ms) as i64);
        lp.int(id.seq.wrapping_sub(master.seq) as i64);
        if !same {
            lp.int(nfields as i64);
        }
        let mut flat = e.fields.iter();
        while let Some(field) = flat.next() {
            if !same {
                lp.string(field);
            }
            lp.string(flat.next().unwrap_or_default());
        }
        let lp_count = nfields + 3 + if same { 0 } else { nfields + 1 };
        lp.int(lp_count as i64);
    }
    lp.finish()
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_len(out, id.ms);
    put_len(out, id.seq);
}

/// The DUMP payload of a stream (type 19, footer included).
pub(crate) fn encode(s: &StreamData) -> Vec<u8> {
    let mut b = vec![RDB_TYPE_STREAM_LISTPACKS_2];
    // Entries grouped by node, in id order (a node's entries are a run).
    let mut nodes: Vec<(StreamId, Vec<(&StreamId, &StreamEntry)>)> = Vec::new();
    for (id, e) in s.entries.iter() {
        let node = s.node_of(*id).unwrap_or(*id);
        match nodes.last_mut() {
            Some((master, list)) if *master == node => list.push((id, e)),
            _ => nodes.push((node, vec![(id, e)])),
        }
    }
    put_len(&mut b, nodes.len() as u64);
    for (master, entries) in &nodes {
        put_raw_string(&mut b, &master.encode());
        put_raw_string(&mut b, &node_listpack(*master, entries));
    }
    put_len(&mut b, s.entries.len() as u64);
    put_id(&mut b, s.last_id);
    put_id(&mut b, s.first_id());
    put_id(&mut b, s.max_deleted);
    put_len(&mut b, s.entries_added);
    put_len(&mut b, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_raw_string(&mut b, name);
        put_id(&mut b, g.last_id);
        put_len(&mut b, g.entries_read as u64);
        put_len(&mut b, g.pel.len() as u64);
        for (id, n) in &g.pel {
            b.extend_from_slice(&id.encode());
            b.extend_from_slice(&n.delivery_time.to_le_bytes());
            put_len(&mut b, n.delivery_count);
        }
        put_len(&mut b, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            put_raw_string(&mut b, cname);
            b.extend_from_slice(&c.seen_time.to_le_bytes());
            put_len(&mut b, c.pel.len() as u64);
            for id in &c.pel {
                b.extend_from_slice(&id.encode());
            }
        }
    }
    seal(b)
}

/// A stream decoded by RESTORE, not yet in the keyspace.
pub(crate) struct Restored(pub(crate) StreamValue);

impl std::fmt::Debug for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Stream(len {}, groups {})",
            self.0.entries.len(),
            self.0.groups.len()
        )
    }
}

impl Clone for Restored {
    fn clone(&self) -> Self {
        Restored(self.0.duplicate())
    }
}

impl PartialEq for Restored {
    /// Equal when they dump to the same bytes.
    fn eq(&self, other: &Self) -> bool {
        encode(&self.0) == encode(&other.0)
    }
}

impl Restored {
    /// The longest group or consumer name, and the longest entry as this
    /// server stores it (one record value: each field and value with a
    /// 4-byte length).
    pub(crate) fn longest(&self) -> (usize, usize) {
        let mut name = 0;
        for (g, group) in &self.0.groups {
            name = name.max(g.len());
            for c in group.consumers.keys() {
                name = name.max(c.len());
            }
        }
        let entry = self
            .0
            .entries
            .values()
            .map(|e| e.fields.iter().map(|f| f.len() + 4).sum::<usize>())
            .max()
            .unwrap_or(0);
        (name, entry)
    }
}

/// Reads a 16-byte big-endian id.
fn raw_id(r: &mut Reader<'_>) -> Option<StreamId> {
    StreamId::decode(r.take(16)?)
}

fn read_id(r: &mut Reader<'_>) -> Option<StreamId> {
    Some(StreamId {
        ms: r.len()?,
        seq: r.len()?,
    })
}

fn millis(r: &mut Reader<'_>) -> Option<u64> {
    Some(u64::from_le_bytes(r.take(8)?.try_into().ok()?))
}

/// Reads one listpack node into `s`; `prev` is the last id read so far
/// (live or deleted), which every entry must follow.
fn read_node(
    s: &mut StreamData,
    master: StreamId,
    blob: &[u8],
    r: &mut Reader<'_>,
    prev: &mut Option<StreamId>,
) -> Option<()> {
    let elems = listpack(blob, &mut r.budget)?;
    let mut it = elems.into_iter();
    let int = |it: &mut std::vec::IntoIter<Vec<u8>>| parse_i64(&it.next()?);
    let count = int(&mut it)?;
    let deleted = int(&mut it)?;
    let nfields = usize::try_from(int(&mut it)?).ok()?;
    if nfields > it.len() {
        return None;
    }
    let master_fields: Vec<Bytes> = it.by_ref().take(nfields).map(Bytes::from).collect();
    if int(&mut it)? != 0 {
        return None;
    }
    let (mut live, mut dead) = (0i64, 0i64);
    while it.len() > 0 {
        let flags = int(&mut it)?;
        if flags & !(FLAG_DELETED | FLAG_SAME_FIELDS) != 0 {
            return None;
        }
        let id = StreamId {
            ms: master.ms.wrapping_add(int(&mut it)? as u64),
            seq: master.seq.wrapping_add(int(&mut it)? as u64),
        };
        if id < master || prev.is_some_and(|p| id <= p) {
            return None;
        }
        *prev = Some(id);
        let mut fields = Vec::new();
        let n = if flags & FLAG_SAME_FIELDS != 0 {
            for f in &master_fields {
                fields.push(f.clone());
                fields.push(Bytes::from(it.next()?));
            }
            nfields
        } else {
            let n = usize::try_from(int(&mut it)?).ok()?;
            if n.checked_mul(2)? > it.len() {
                return None;
            }
            fields.extend(it.by_ref().take(2 * n).map(Bytes::from));
            n
        };
        let expected = n
            + 3
            + if flags & FLAG_SAME_FIELDS != 0 {
                0
            } else {
                n + 1
            };
        if n == 0 || int(&mut it)? != expected as i64 {
            return None;
        }
        if flags & FLAG_DELETED != 0 {
            dead += 1;
            continue;
        }
        live += 1;
        s.entries.insert(
            id,
            StreamEntry {
                fields: Fields::of(&fields),
                loc: crate::keyspace::value::SlimLoc::None,
            },
        );
    }
    if live != count || dead != deleted {
        return None;
    }
    if live > 0 {
        let node = Node {
            live: u32::try_from(live).ok()?,
            used: u32::try_from(live + dead).ok()?,
            bytes: blob.len() as u64,
        };
        s.nodes.insert(master, node);
    }
    Some(())
}

/// Reads a stream body of type `ty` (15 or 19); `None` if malformed or
/// inconsistent (lengths, ids out of order, a pending entry without its
/// consumer, duplicates).
pub(crate) fn read(r: &mut Reader<'_>, ty: u8) -> Option<Restored> {
    let mut s = StreamData::default();
    let nodes = r.len()?;
    let mut prev: Option<StreamId> = None;
    let mut prev_master: Option<StreamId> = None;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return None;
        }
        let master = StreamId::decode(&key)?;
        if prev_master.is_some_and(|p| master <= p) || prev.is_some_and(|p| master <= p) {
            return None;
        }
        prev_master = Some(master);
        let blob = r.string()?;
        read_node(&mut s, master, &blob, r, &mut prev)?;
    }
    let length = r.len()?;
    s.last_id = read_id(r)?;
    if ty == RDB_TYPE_STREAM_LISTPACKS_2 {
        let _first = read_id(r)?;
        s.max_deleted = read_id(r)?;
        s.entries_added = r.len()?;
    } else {
        s.entries_added = length;
    }
    if length != s.entries.len() as u64 || s.last_valid() > s.last_id {
        return None;
    }
    let groups = r.len()?;
    for _ in 0..groups {
        let name = Bytes::from(r.string()?);
        let last_id = read_id(r)?;
        let entries_read = if ty == RDB_TYPE_STREAM_LISTPACKS_2 {
            r.len()? as i64
        } else {
            estimate_distance(&s, last_id)
        };
        let mut g = Group::new(last_id, entries_read.max(INVALID_READ));
        let pel = r.len()?;
        for _ in 0..pel {
            // Memory per pending entry, beyond the bytes it was read from.
            r.budget.charge(NACK_COST)?;
            let id = raw_id(r)?;
            let nack = Nack {
                consumer: Bytes::new(),
                delivery_time: millis(r)?,
                delivery_count: r.len()?,
                loc: None,
            };
            if g.pel.insert(id, nack).is_some() {
                return None;
            }
        }
        let consumers = r.len()?;
        for _ in 0..consumers {
            r.budget.charge(NACK_COST)?;
            let cname = Bytes::from(r.string()?);
            let mut c = Consumer {
                seen_time: millis(r)?,
                ..Consumer::default()
            };
            let owned = r.len()?;
            for _ in 0..owned {
                r.budget.charge(NACK_COST)?;
                let id = raw_id(r)?;
                let nack = g.pel.get_mut(&id)?;
                if !nack.consumer.is_empty() || !c.pel.insert(id) {
                    return None;
                }
                nack.consumer = cname.clone();
            }
            if g.consumers.insert(cname, c).is_some() {
                return None;
            }
        }
        if g.pel.values().any(|n| n.consumer.is_empty()) {
            return None;
        }
        if s.groups.insert(name, g).is_some() {
            return None;
        }
    }
    let mut v = StreamValue::default();
    *v = s;
    Some(Restored(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::dump::rdb::{decode, Object, PayloadError};

    fn entry(kv: &[&str]) -> StreamEntry {
        StreamEntry {
            fields: Fields::of(kv),
            loc: crate::keyspace::value::SlimLoc::None,
        }
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// A stream with two nodes, a non-master field set, a group with a
    /// pending entry owned by a consumer.
    fn sample() -> StreamData {
        let mut s = StreamData::default();
        let (a, b) = (id(1, 0), id(5, 0));
        s.entries.insert(a, entry(&["f", "1"]));
        s.entries.insert(id(2, 3), entry(&["f", "-77", "g", "x"]));
        s.entries.insert(
            b,
            entry(&["name", "a value long enough to be compressed, a value"]),
        );
        // Two nodes: a's (two entries) and b's.
        for (master, live) in [(a, 2), (b, 1)] {
            let node = Node {
                live,
                used: live,
                bytes: 0,
            };
            s.nodes.insert(master, node);
        }
        s.last_id = id(9, 9);
        s.entries_added = 5;
        s.max_deleted = id(3, 0);
        let mut g = Group::new(id(2, 3), 2);
        g.pel.insert(
            a,
            Nack {
                consumer: Bytes::from_static(b"c1"),
                delivery_time: 1234,
                delivery_count: 2,
                loc: None,
            },
        );
        let mut c = Consumer {
            seen_time: 99,
            ..Consumer::default()
        };
        c.pel.insert(a);
        g.consumers.insert(Bytes::from_static(b"c1"), c);
        g.consumers
            .insert(Bytes::from_static(b"12"), Consumer::default());
        s.groups.insert(Bytes::from_static(b"grp"), g);
        s
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let p = encode(&s);
        let Ok(Object::Stream(back)) = decode(&p, usize::MAX) else {
            panic!("not a stream");
        };
        assert_eq!(encode(&back.0), p);
        assert_eq!(back.0.entries.len(), 3);
        assert_eq!(back.0.nodes.len(), 2);
        assert_eq!(back.0.groups[&b"grp"[..]].pel[&id(1, 0)].consumer, "c1");
    }

    #[test]
    fn empty_stream_round_trips() {
        let s = StreamData {
            last_id: id(7, 1),
            entries_added: 3,
            max_deleted: id(7, 1),
            ..StreamData::default()
        };
        let p = encode(&s);
        let Ok(Object::Stream(back)) = decode(&p, usize::MAX) else {
            panic!("not a stream");
        };
        assert_eq!(back.0.last_id, id(7, 1));
        assert!(back.0.entries.is_empty());
    }

    /// Redis 5 / 6 payloads (type 15): no first id, max deleted id,
    /// entries added or entries read; the entries read are estimated.
    #[test]
    fn type_15_loads_with_estimates() {
        let master = id(1, 0);
        let entries = [
            (id(1, 0), entry(&["f", "a"])),
            (id(2, 0), entry(&["f", "b"])),
        ];
        let refs: Vec<(&StreamId, &StreamEntry)> = entries.iter().map(|(i, e)| (i, e)).collect();
        let mut b = vec![RDB_TYPE_STREAM_LISTPACKS];
        put_len(&mut b, 1);
        put_raw_string(&mut b, &master.encode());
        put_raw_string(&mut b, &node_listpack(master, &refs));
        put_len(&mut b, 2);
        put_id(&mut b, id(2, 0));
        put_len(&mut b, 1);
        put_raw_string(&mut b, b"g");
        put_id(&mut b, id(1, 0));
        put_len(&mut b, 0);
        put_len(&mut b, 0);
        let Ok(Object::Stream(back)) = decode(&seal(b), usize::MAX) else {
            panic!("not a stream");
        };
        let s = &back.0;
        assert_eq!(
            (s.entries.len(), s.entries_added, s.max_deleted),
            (2, 2, StreamId::MIN)
        );
        assert_eq!(s.groups[&b"g"[..]].entries_read, 1);
        assert_eq!(s.nodes[&master].live, 2);
    }

    /// A pending entry no consumer owns, a consumer owning an unknown id,
    /// a length that disagrees with the entries: `Bad data format`.
    #[test]
    fn inconsistent_streams_are_refused() {
        let mut s = sample();
        s.groups
            .get_mut(&b"grp"[..])
            .expect("group")
            .consumers
            .clear();
        assert_eq!(
            decode(&encode(&s), usize::MAX),
            Err(PayloadError::BadFormat)
        );
        let mut s = sample();
        let g = s.groups.get_mut(&b"grp"[..]).expect("group");
        g.consumers
            .get_mut(&b"12"[..])
            .expect("consumer")
            .pel
            .insert(id(9, 9));
        assert_eq!(
            decode(&encode(&s), usize::MAX),
            Err(PayloadError::BadFormat)
        );
        // The consistent one (2 entries, last id 2-0) loads.
        for (length, last, ok) in [
            (2, id(2, 0), true),
            (3, id(2, 0), false),
            (1, id(2, 0), false),
            (2, id(1, 5), false),
        ] {
            let master = id(1, 0);
            let entries = [
                (id(1, 0), entry(&["f", "a"])),
                (id(2, 0), entry(&["f", "b"])),
            ];
            let refs: Vec<(&StreamId, &StreamEntry)> =
                entries.iter().map(|(i, e)| (i, e)).collect();
            let mut b = vec![RDB_TYPE_STREAM_LISTPACKS_2];
            put_len(&mut b, 1);
            put_raw_string(&mut b, &master.encode());
            put_raw_string(&mut b, &node_listpack(master, &refs));
            put_len(&mut b, length);
            put_id(&mut b, last);
            put_id(&mut b, master);
            put_id(&mut b, StreamId::MIN);
            put_len(&mut b, 2);
            put_len(&mut b, 0);
            let got = decode(&seal(b), usize::MAX);
            assert_eq!(got.is_ok(), ok, "{length} {last:?}");
            if !ok {
                assert_eq!(got, Err(PayloadError::BadFormat));
            }
        }
    }

    /// Pending entries are charged to the decode budget: many of them in a
    /// small budget are `TooLarge`, not an allocation.
    #[test]
    fn pending_entries_count_against_the_budget() {
        let mut s = sample();
        let g = s.groups.get_mut(&b"grp"[..]).expect("group");
        for seq in 0..500 {
            g.pel.insert(
                id(100, seq),
                Nack {
                    consumer: Bytes::from_static(b"c1"),
                    delivery_time: 1,
                    delivery_count: 1,
                    loc: None,
                },
            );
            g.consumers
                .get_mut(&b"c1"[..])
                .expect("c1")
                .pel
                .insert(id(100, seq));
        }
        let p = encode(&s);
        assert!(decode(&p, usize::MAX).is_ok());
        assert_eq!(decode(&p, 20_000), Err(PayloadError::TooLarge));
    }

    /// Every truncation and every single-byte change of a valid payload
    /// (with the footer recomputed) is refused or decodes: never a panic.
    #[test]
    fn mangled_payloads_never_panic() {
        let p = encode(&sample());
        let body = &p[..p.len() - 10];
        let whole = decode(&p, usize::MAX);
        assert!(matches!(whole, Ok(Object::Stream(_))));
        // A cut body is read on into the footer (as Redis reads it): it
        // may happen to parse, never into the stream it was cut from.
        let mut refused = 0;
        for cut in 0..body.len() {
            let q = seal(body[..cut].to_vec());
            let got = decode(&q, usize::MAX);
            assert_ne!(got, whole);
            refused += usize::from(got == Err(PayloadError::BadFormat));
        }
        assert!(refused + 2 >= body.len(), "{refused} of {}", body.len());
        for i in 1..body.len() {
            for x in [0u8, 1, 0x7F, 0x80, 0xC3, 0xFF] {
                let mut b = body.to_vec();
                b[i] ^= x;
                let _ = decode(&seal(b), 1 << 20);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn random_stream_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut b = vec![RDB_TYPE_STREAM_LISTPACKS_2];
            b.extend_from_slice(&body);
            let _ = decode(&seal(b.clone()), 1 << 20);
            b[0] = RDB_TYPE_STREAM_LISTPACKS;
            let _ = decode(&seal(b), 1 << 20);
        }
    }
}
