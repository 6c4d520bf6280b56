//! The Stream family: XADD XLEN XRANGE XREVRANGE XDEL XTRIM XREAD
//! XREADGROUP XACK XPENDING XCLAIM XAUTOCLAIM XGROUP XINFO XSETID.
//!
//! In memory a stream is a `BTreeMap` from entry id `(ms, seq)` to the
//! entry's field/value pairs (kept in memory, like hash values), plus the
//! bookkeeping Redis 7.0 reports: last generated id, entries added, the
//! largest deleted id, and the consumer groups (each a `BTreeMap` of
//! consumers and a pending entries list keyed by id). XRANGE with COUNT is
//! O(log n + count), XADD O(log n).
//!
//! Redis keeps entries in listpack "nodes" of at most 100 entries / 4096
//! bytes; `MAXLEN ~` / `MINID ~` trim whole nodes only and XINFO reports
//! the node count. The nodes are modelled (`nodes`: master id -> counts and
//! the estimated listpack size) so that approximate trimming removes what
//! Redis removes.
//!
//! Records (docs/storage-format.md, "Stream records"): every mutation
//! appends a few small records, never a rewrite of the stream: an entry
//! (`TAG_STREAM_ENTRY`), its deletion, a trim (`TAG_STREAM_RANGE_DEL`, one
//! record whatever the number of entries), the stream's counters
//! (`TAG_STREAM_META`, newest one live), a group, a consumer, a pending
//! entry, an acknowledgement. Merge keeps a record iff the value in memory
//! still points at its location.

mod entries;
pub(crate) mod rdb;

use entries::Entries;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::db::{Db, Entry};
use super::journal::{
    FixTarget, Journal, RecordKey, TAG_STREAM_ACK, TAG_STREAM_CONSUMER, TAG_STREAM_CONSUMER_DEL,
    TAG_STREAM_ENTRY, TAG_STREAM_ENTRY_DEL, TAG_STREAM_GROUP, TAG_STREAM_GROUP_DEL,
    TAG_STREAM_META, TAG_STREAM_PENDING, TAG_STREAM_RANGE_DEL,
};
use super::notify::STREAM;
use super::replay::{incarnation, Load};
use super::value::{SlimLoc, Value};
use super::Exec;
use crate::command::args::{self, err, is};
use crate::command::table::cmd;
use crate::command::{Bulks, Command, Reply};
use crate::storage::{Location, ReplayEntry};

/// The stream commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("xadd", -5, [write, denyoom, fast], (1, 1, 1), "stream", "Appends a new entry to a stream", "5.0.0", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.", xadd),
    cmd!("xlen", 2, [readonly, fast], (1, 1, 1), "stream", "Return the number of entries in a stream", "5.0.0", "O(1)", xlen),
    cmd!("xrange", -4, [readonly], (1, 1, 1), "stream", "Return a range of elements in a stream, with IDs matching the specified IDs interval", "5.0.0", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", xrange),
    cmd!("xrevrange", -4, [readonly], (1, 1, 1), "stream", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "5.0.0", "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", xrevrange),
    cmd!("xdel", -3, [write, fast], (1, 1, 1), "stream", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "5.0.0", "O(1) for each single item to delete in the stream, regardless of the stream size.", xdel),
    cmd!("xtrim", -4, [write], (1, 1, 1), "stream", "Trims the stream to (approximately if '~' is passed) a certain size", "5.0.0", "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.", xtrim),
    cmd!("xread", -4, [readonly, blocking], (0, 0, 0), "stream", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "5.0.0", "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.", xread),
    cmd!("xreadgroup", -7, [write, blocking], (0, 0, 0), "stream", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "5.0.0", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.", xreadgroup),
    cmd!("xack", -4, [write, fast], (1, 1, 1), "stream", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "5.0.0", "O(1) for each message ID processed.", xack),
    cmd!("xpending", -3, [readonly], (1, 1, 1), "stream", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "5.0.0", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.", xpending),
    cmd!("xclaim", -6, [write, fast], (1, 1, 1), "stream", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "5.0.0", "O(log N) with N being the number of messages in the PEL of the consumer group.", xclaim),
    cmd!("xautoclaim", -6, [write, fast], (1, 1, 1), "stream", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "6.2.0", "O(1) if COUNT is small.", xautoclaim),
    cmd!("xsetid", -3, [write, denyoom, fast], (1, 1, 1), "stream", "An internal command for replicating stream values", "5.0.0", "O(1)", xsetid),
    cmd!("xgroup", -2, [write], (0, 0, 0), "stream", "A container for consumer groups commands", "5.0.0", "Depends on subcommand.", xgroup),
    cmd!("xinfo", -2, [readonly], (0, 0, 0), "stream", "A container for stream introspection commands", "5.0.0", "Depends on subcommand.", xinfo),
];

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
/// Redis's `SCG_INVALID_ENTRIES_READ`.
const INVALID_READ: i64 = -1;
/// Redis 7.0's `stream-node-max-entries` and `stream-node-max-bytes`.
const NODE_MAX_ENTRIES: u32 = 100;
const NODE_MAX_BYTES: u64 = 4096;

/// An entry id: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StreamId {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl StreamId {
    const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next id, `None` past the last.
    fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            Some(StreamId {
                ms: self.ms + 1,
                seq: 0,
            })
        } else {
            Some(StreamId {
                ms: self.ms,
                seq: self.seq + 1,
            })
        }
    }

    /// The previous id, `None` before 0-0.
    fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            Some(StreamId {
                ms: self.ms - 1,
                seq: u64::MAX,
            })
        } else {
            Some(StreamId {
                ms: self.ms,
                seq: self.seq - 1,
            })
        }
    }

    fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<StreamId> {
        let ms = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        Some(StreamId { ms, seq })
    }

    fn to_bytes(self) -> Bytes {
        Bytes::from(format!("{}-{}", self.ms, self.seq))
    }

    fn reply(self) -> Reply {
        Reply::Bulk(self.to_bytes())
    }
}

/// C's `strtoull` as Redis's `string2ull` uses it: optional white space
/// and sign, digits to the end; a plain negative integer is refused.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = args::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let (neg, digits) = args::c_sign(s);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// How an id argument was written (Redis's `streamGenericParseIDOrReply`).
struct ParsedId {
    id: StreamId,
    /// False for `<ms>-*` (XADD only).
    seq_given: bool,
}

/// Parses an id; `strict` refuses `-` and `+`; `missing_seq` is the
/// sequence of a bare `<ms>`; `allow_star_seq` accepts `<ms>-*`.
fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_star_seq: bool,
) -> Result<ParsedId, Reply> {
    if arg.len() > 127 {
        return Err(err(INVALID_ID));
    }
    // The C code works on a NUL-terminated copy.
    let arg = match arg.iter().position(|&c| c == 0) {
        Some(n) => &arg[..n],
        None => arg,
    };
    let given = |id| {
        Ok(ParsedId {
            id,
            seq_given: true,
        })
    };
    if arg == b"-" || arg == b"+" {
        if strict {
            return Err(err(INVALID_ID));
        }
        return given(if arg == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        });
    }
    let (ms_part, seq_part) = match arg.iter().position(|&c| c == b'-') {
        Some(p) => (&arg[..p], Some(&arg[p + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part).ok_or_else(|| err(INVALID_ID))?;
    match seq_part {
        Some(b"*") if allow_star_seq => Ok(ParsedId {
            id: StreamId { ms, seq: 0 },
            seq_given: false,
        }),
        Some(s) => {
            let seq = string2ull(s).ok_or_else(|| err(INVALID_ID))?;
            given(StreamId { ms, seq })
        }
        None => given(StreamId {
            ms,
            seq: missing_seq,
        }),
    }
}

fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_full(arg, missing_seq, false, false).map(|p| p.id)
}

fn parse_strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    parse_id_full(arg, 0, true, false).map(|p| p.id)
}

/// An interval bound: `(id` is exclusive (start: the next id; end: the
/// previous one).
fn parse_range_start(arg: &[u8]) -> Result<StreamId, Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id_full(&arg[1..], 0, true, false)?.id;
        id.incr()
            .ok_or_else(|| err("ERR invalid start ID for the interval"))
    } else {
        parse_id(arg, 0)
    }
}

fn parse_range_end(arg: &[u8]) -> Result<StreamId, Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id_full(&arg[1..], u64::MAX, true, false)?.id;
        id.decr()
            .ok_or_else(|| err("ERR invalid end ID for the interval"))
    } else {
        parse_id(arg, u64::MAX)
    }
}

/// An entry's field / value pairs (flat) in one block, as its record
/// holds them: `[len u32 BE][bytes]` each. One allocation an entry: a
/// `Vec<Bytes>` cost a vector and a block per field besides (299 B of heap
/// an entry of one 16-byte field against Redis's 35).
#[derive(Clone, Default)]
pub(crate) struct Fields(Box<[u8]>);

impl Fields {
    /// The fields and values, in order.
    pub(crate) fn of<B: AsRef<[u8]>>(fields: &[B]) -> Fields {
        let mut out = Vec::with_capacity(fields.iter().map(|f| f.as_ref().len() + 4).sum());
        for f in fields {
            push_name(&mut out, f.as_ref());
        }
        Fields(out.into_boxed_slice())
    }

    /// The block of a record's value; `None` if it is not one (a
    /// truncated length, an odd count).
    fn decode(b: &[u8]) -> Option<Fields> {
        let (mut rest, mut n) = (b, 0usize);
        while !rest.is_empty() {
            rest = split_name(rest)?.1;
            n += 1;
        }
        (n % 2 == 0).then(|| Fields(b.into()))
    }

    /// Fields and values, flat.
    pub(crate) fn iter(&self) -> FieldsIter<'_> {
        FieldsIter(&self.0)
    }

    /// How many fields and values (twice the pairs).
    pub(crate) fn len(&self) -> usize {
        self.iter().count()
    }

    /// The block (the record's value).
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// [`Fields::iter`].
#[derive(Clone)]
pub(crate) struct FieldsIter<'a>(&'a [u8]);

impl<'a> Iterator for FieldsIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (f, rest) = split_name(self.0)?;
        self.0 = rest;
        Some(f)
    }
}

/// One entry: its field/value pairs and where its record is. Its listpack
/// node is the one with the greatest master id not above its id
/// ([`StreamData::node_of`]).
pub(crate) struct StreamEntry {
    fields: Fields,
    loc: SlimLoc,
}

/// A listpack node as Redis would have it.
#[derive(Clone, Copy, Debug, Default)]
struct Node {
    /// Live entries.
    live: u32,
    /// Live and deleted entries (Redis counts both to decide when a node is full).
    used: u32,
    /// The listpack's size in bytes (exact for a node XADD built; after
    /// deletions of its master entry an estimate).
    bytes: u64,
}

/// A pending entry (Redis's NACK).
#[derive(Clone)]
struct Nack {
    consumer: Bytes,
    delivery_time: u64,
    delivery_count: u64,
    loc: Option<Location>,
}

/// A consumer of a group.
#[derive(Clone, Default)]
struct Consumer {
    seen_time: u64,
    pel: BTreeSet<StreamId>,
    loc: Option<Location>,
}

/// A consumer group.
#[derive(Clone)]
struct Group {
    last_id: StreamId,
    entries_read: i64,
    pel: BTreeMap<StreamId, Nack>,
    consumers: BTreeMap<Bytes, Consumer>,
    loc: Option<Location>,
}

impl Group {
    fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
            loc: None,
        }
    }
}

/// A Stream value.
#[derive(Default)]
pub(crate) struct StreamData {
    entries: Entries,
    /// The listpack nodes, by master id: a node holds the entries from its
    /// master id up to the next node's (a node goes when its last live
    /// entry does).
    nodes: BTreeMap<StreamId, Node>,
    last_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
    groups: BTreeMap<Bytes, Group>,
    /// The newest `TAG_STREAM_META` record.
    meta_loc: Option<Location>,
    /// Records that a newer one replaced (META, GROUP, CONSUMER, PENDING)
    /// and entries a trim removed: dead bytes, reported by the next write
    /// to the stream (or when the stream goes).
    superseded: Vec<Location>,
}

super::value::boxed_value!(
    /// The value as the keyspace holds it (see `boxed_value`).
    StreamValue => StreamData
);

impl StreamData {
    /// The id of the first entry, 0-0 when empty (Redis's `first_id`).
    fn first_id(&self) -> StreamId {
        self.entries.first_id().unwrap_or_default()
    }

    /// The last entry's id (Redis's `streamLastValidID`), 0-0 when empty.
    fn last_valid(&self) -> StreamId {
        self.entries.last_id().unwrap_or_default()
    }

    /// The master id of the node entry `id` belongs to.
    fn node_of(&self, id: StreamId) -> Option<StreamId> {
        self.nodes.range(..=id).next_back().map(|(k, _)| *k)
    }
}

/// Bytes of a listpack integer or string element, with its back length.
fn lp_element_bytes(v: &[u8]) -> u64 {
    let enc = match args::parse_i64(v).filter(|_| v.len() <= 20) {
        Some(i) => lp_int_bytes(i) - 1,
        None => {
            let n = v.len() as u64;
            if n < 64 {
                1 + n
            } else if n < 4096 {
                2 + n
            } else {
                5 + n
            }
        }
    };
    enc + backlen_bytes(enc)
}

fn lp_int_bytes(i: i64) -> u64 {
    let enc = if (0..=127).contains(&i) {
        1
    } else if (-4096..=4095).contains(&i) {
        2
    } else if (-32768..=32767).contains(&i) {
        3
    } else if (-8_388_608..=8_388_607).contains(&i) {
        4
    } else if (-2_147_483_648..=2_147_483_647).contains(&i) {
        5
    } else {
        9
    };
    enc + backlen_bytes(enc)
}

fn backlen_bytes(l: u64) -> u64 {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

impl StreamValue {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// What OBJECT ENCODING answers.
    pub(crate) fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Places a new entry in a node as Redis 7.0 would: the last node if
    /// it has room, a new one keyed by the entry's id otherwise.
    fn place(&mut self, id: StreamId, fields: &Fields) -> StreamId {
        let raw: u64 = fields.iter().map(|f| f.len() as u64).sum();
        let count = fields.len();
        let tail = self.nodes.iter().next_back().map(|(k, n)| (*k, *n));
        let master = match tail {
            Some((k, n)) if n.bytes + raw < NODE_MAX_BYTES && n.used < NODE_MAX_ENTRIES => k,
            _ => {
                // Header, end byte, master entry: count, deleted, number of
                // fields, the fields, the terminator.
                let mut bytes = 7 + 3 * 2 + lp_int_bytes((count / 2) as i64);
                for f in fields.iter().step_by(2) {
                    bytes += lp_element_bytes(f);
                }
                self.nodes.insert(
                    id,
                    Node {
                        live: 0,
                        used: 0,
                        bytes,
                    },
                );
                id
            }
        };
        let same_fields = self.entries.get(&master).is_some_and(|m| {
            m.fields.len() == count
                && m.fields
                    .iter()
                    .step_by(2)
                    .zip(fields.iter().step_by(2))
                    .all(|(a, b)| a == b)
        }) || (master == id);
        let node = self.nodes.get_mut(&master).expect("placed above");
        // Flags (0 or 2), the id's deltas, [the field count and names],
        // the values, then the entry's element count: what
        // `streamAppendItem` appends.
        let nfields = (count / 2) as i64;
        let mut bytes = lp_int_bytes(2)
            + lp_int_bytes((id.ms.wrapping_sub(master.ms)) as i64)
            + lp_int_bytes(id.seq.wrapping_sub(master.seq) as i64);
        let lp_count = if same_fields {
            for v in fields.iter().skip(1).step_by(2) {
                bytes += lp_element_bytes(v);
            }
            nfields + 3
        } else {
            bytes += lp_int_bytes(nfields);
            for f in fields.iter() {
                bytes += lp_element_bytes(f);
            }
            2 * nfields + 4
        };
        bytes += lp_int_bytes(lp_count);
        node.bytes += bytes;
        node.live += 1;
        node.used += 1;
        master
    }

    /// Removes an entry from memory and its node's counts.
    fn take_entry(&mut self, id: StreamId) -> Option<StreamEntry> {
        let e = self.entries.remove(&id)?;
        if let Some(node) = self.node_of(id) {
            let n = self.nodes.get_mut(&node).expect("found above");
            n.live = n.live.saturating_sub(1);
            if n.live == 0 {
                self.nodes.remove(&node);
            }
        }
        Some(e)
    }

    /// Every record location holding part of the value.
    pub(crate) fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        if let Some(l) = self.meta_loc {
            f(l);
        }
        for l in &self.superseded {
            f(*l);
        }
        for e in self.entries.values() {
            if let Some(l) = e.loc.get() {
                f(l);
            }
        }
        for g in self.groups.values() {
            if let Some(l) = g.loc {
                f(l);
            }
            for c in g.consumers.values() {
                if let Some(l) = c.loc {
                    f(l);
                }
            }
            for n in g.pel.values() {
                if let Some(l) = n.loc {
                    f(l);
                }
            }
        }
    }

    /// Appends the records that recreate the value under `at`.
    pub(crate) fn rewrite(&self, at: &RecordKey<'_>, _expire_at_ms: u64, journal: &mut Journal) {
        for (id, e) in self.entries.iter() {
            let node = self.node_of(*id).unwrap_or(*id);
            log_entry(journal, at, *id, node, &e.fields);
        }
        log_meta(journal, at, self);
        for (name, g) in &self.groups {
            log_group(journal, at, name, g);
            for (cname, c) in &g.consumers {
                log_consumer(journal, at, name, cname, c.seen_time);
            }
            for (id, n) in &g.pel {
                log_pending(journal, at, name, *id, n);
            }
        }
    }

    /// A deep copy without locations.
    pub(crate) fn duplicate(&self) -> Self {
        let entries = self
            .entries
            .iter()
            .map(|(id, e)| {
                (
                    *id,
                    StreamEntry {
                        fields: e.fields.clone(),
                        loc: SlimLoc::None,
                    },
                )
            })
            .collect();
        let groups = self
            .groups
            .iter()
            .map(|(k, g)| {
                let mut g = g.clone();
                g.loc = None;
                for c in g.consumers.values_mut() {
                    c.loc = None;
                }
                for n in g.pel.values_mut() {
                    n.loc = None;
                }
                (k.clone(), g)
            })
            .collect();
        StreamValue(Box::new(StreamData {
            entries,
            nodes: self.nodes.clone(),
            last_id: self.last_id,
            max_deleted: self.max_deleted,
            entries_added: self.entries_added,
            groups,
            meta_loc: None,
            superseded: Vec::new(),
        }))
    }

    /// Stores the location of a record just appended.
    pub(crate) fn set_location(&mut self, target: &FixTarget, sub: &[u8], loc: Location) {
        let FixTarget::Stream(tag) = target else {
            return;
        };
        let mut old = None;
        self.locate(*tag, sub, |slot| old = slot.replace(loc));
        if let Some(old) = old.filter(|o| *o != loc) {
            self.superseded.push(old);
        }
    }

    /// Calls `f` with the location slot the record `tag` / `sub` belongs to.
    fn locate(&mut self, tag: u8, sub: &[u8], f: impl FnOnce(&mut Option<Location>)) {
        match tag {
            TAG_STREAM_META => f(&mut self.meta_loc),
            TAG_STREAM_ENTRY => {
                if let Some(e) = StreamId::decode(sub).and_then(|id| self.entries.get_mut(&id)) {
                    let mut loc = e.loc.get();
                    f(&mut loc);
                    e.loc = SlimLoc::new(loc);
                }
            }
            TAG_STREAM_GROUP => {
                if let Some((g, _)) = split_name(sub) {
                    if let Some(g) = self.groups.get_mut(g) {
                        f(&mut g.loc);
                    }
                }
            }
            TAG_STREAM_CONSUMER => {
                if let Some((g, rest)) = split_name(sub) {
                    if let Some((c, _)) = split_name(rest) {
                        if let Some(c) = self.groups.get_mut(g).and_then(|g| g.consumers.get_mut(c))
                        {
                            f(&mut c.loc);
                        }
                    }
                }
            }
            TAG_STREAM_PENDING => {
                if let Some((g, rest)) = split_name(sub) {
                    if let Some(id) = StreamId::decode(rest) {
                        if let Some(n) = self.groups.get_mut(g).and_then(|g| g.pel.get_mut(&id)) {
                            f(&mut n.loc);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether the record `tag` at `loc` with sub-key `sub` is still live.
    pub(crate) fn is_live(&self, tag: u8, sub: &[u8], loc: Location) -> bool {
        let found = match tag {
            TAG_STREAM_META => self.meta_loc,
            TAG_STREAM_ENTRY => StreamId::decode(sub)
                .and_then(|id| self.entries.get(&id))
                .and_then(|e| e.loc.get()),
            TAG_STREAM_GROUP => split_name(sub)
                .and_then(|(g, _)| self.groups.get(g))
                .and_then(|g| g.loc),
            TAG_STREAM_CONSUMER => split_name(sub).and_then(|(g, rest)| {
                let (c, _) = split_name(rest)?;
                self.groups.get(g)?.consumers.get(c)?.loc
            }),
            TAG_STREAM_PENDING => split_name(sub).and_then(|(g, rest)| {
                let id = StreamId::decode(rest)?;
                self.groups.get(g)?.pel.get(&id)?.loc
            }),
            _ => None,
        };
        found == Some(loc)
    }

    /// Merge moved a live record from `old` to `new`.
    pub(crate) fn relocate(&mut self, tag: u8, sub: &[u8], old: Location, new: Location) {
        self.locate(tag, sub, |slot| {
            if *slot == Some(old) {
                *slot = Some(new);
            }
        });
    }

    /// Stores an entry's fields read at recovery.
    pub(crate) fn fill(&mut self, target: &FixTarget, loc: Location, bytes: Bytes) {
        if let FixTarget::StreamEntry(ms, seq) = target {
            let id = StreamId { ms: *ms, seq: *seq };
            if let Some(e) = self
                .entries
                .get_mut(&id)
                .filter(|e| e.loc.get() == Some(loc))
            {
                e.fields = Fields::decode(&bytes).unwrap_or_default();
            }
        }
    }
}

/// `[len u32 BE][name]` then the rest.
fn split_name(sub: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u32::from_be_bytes(sub.get(..4)?.try_into().ok()?) as usize;
    let name = sub.get(4..4usize.checked_add(n)?)?;
    Some((name, &sub[4 + n..]))
}

fn push_name(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(&(name.len() as u32).to_be_bytes());
    out.extend_from_slice(name);
}

fn log_entry(j: &mut Journal, at: &RecordKey<'_>, id: StreamId, node: StreamId, fields: &Fields) {
    let mut sub = Vec::with_capacity(32);
    sub.extend_from_slice(&id.encode());
    sub.extend_from_slice(&node.encode());
    j.put_copied(
        TAG_STREAM_ENTRY,
        at,
        &sub,
        fields.as_bytes(),
        FixTarget::Stream(TAG_STREAM_ENTRY),
    );
}

fn log_meta(j: &mut Journal, at: &RecordKey<'_>, s: &StreamData) {
    let mut sub = Vec::with_capacity(72);
    sub.extend_from_slice(&s.last_id.encode());
    sub.extend_from_slice(&s.max_deleted.encode());
    sub.extend_from_slice(&s.entries_added.to_be_bytes());
    let (master, node) = s
        .nodes
        .iter()
        .next_back()
        .map(|(k, n)| (*k, *n))
        .unwrap_or_default();
    sub.extend_from_slice(&master.encode());
    sub.extend_from_slice(&u64::from(node.used).to_be_bytes());
    sub.extend_from_slice(&node.bytes.to_be_bytes());
    j.put(
        TAG_STREAM_META,
        at,
        &sub,
        0,
        &Bytes::new(),
        FixTarget::Stream(TAG_STREAM_META),
    );
}

fn log_group(j: &mut Journal, at: &RecordKey<'_>, name: &[u8], g: &Group) {
    let mut sub = Vec::with_capacity(28 + name.len());
    push_name(&mut sub, name);
    sub.extend_from_slice(&g.last_id.encode());
    sub.extend_from_slice(&g.entries_read.to_be_bytes());
    j.put(
        TAG_STREAM_GROUP,
        at,
        &sub,
        0,
        &Bytes::new(),
        FixTarget::Stream(TAG_STREAM_GROUP),
    );
}

fn log_consumer(j: &mut Journal, at: &RecordKey<'_>, group: &[u8], name: &[u8], seen: u64) {
    let mut sub = Vec::with_capacity(16 + group.len() + name.len());
    push_name(&mut sub, group);
    push_name(&mut sub, name);
    sub.extend_from_slice(&seen.to_be_bytes());
    j.put(
        TAG_STREAM_CONSUMER,
        at,
        &sub,
        0,
        &Bytes::new(),
        FixTarget::Stream(TAG_STREAM_CONSUMER),
    );
}

fn log_pending(j: &mut Journal, at: &RecordKey<'_>, group: &[u8], id: StreamId, n: &Nack) {
    let mut sub = Vec::with_capacity(36 + group.len() + n.consumer.len());
    push_name(&mut sub, group);
    sub.extend_from_slice(&id.encode());
    sub.extend_from_slice(&n.delivery_time.to_be_bytes());
    sub.extend_from_slice(&n.delivery_count.to_be_bytes());
    sub.extend_from_slice(&n.consumer);
    j.put(
        TAG_STREAM_PENDING,
        at,
        &sub,
        0,
        &Bytes::new(),
        FixTarget::Stream(TAG_STREAM_PENDING),
    );
}

fn log_group_del(j: &mut Journal, at: &RecordKey<'_>, group: &[u8]) {
    let mut sub = Vec::new();
    push_name(&mut sub, group);
    j.delete(TAG_STREAM_GROUP_DEL, at, &sub);
}

fn log_consumer_del(j: &mut Journal, at: &RecordKey<'_>, group: &[u8], name: &[u8]) {
    let mut sub = Vec::new();
    push_name(&mut sub, group);
    push_name(&mut sub, name);
    j.delete(TAG_STREAM_CONSUMER_DEL, at, &sub);
}

fn log_ack(j: &mut Journal, at: &RecordKey<'_>, group: &[u8], id: StreamId) {
    let mut sub = Vec::new();
    push_name(&mut sub, group);
    sub.extend_from_slice(&id.encode());
    j.delete(TAG_STREAM_ACK, at, &sub);
}

/// Applies one replayed record of this family.
pub(crate) fn replay(
    db: &mut Db,
    slot: usize,
    key: &[u8],
    sub: &[u8],
    e: &ReplayEntry<'_>,
    loads: &mut Vec<Load>,
) -> Result<(), String> {
    let bad = |what: &str| format!("bad stream {what} record");
    let Some(entry) = incarnation(db, key, e.gen, e.expire_at_ms, || {
        Value::Stream(StreamValue::default())
    }) else {
        return Ok(());
    };
    let Value::Stream(s) = &mut entry.value else {
        return Err("stream record for a key of another type".to_owned());
    };
    let loc = Some(e.location);
    match e.tag {
        TAG_STREAM_META => {
            if sub.len() != 72 {
                return Err(bad("meta"));
            }
            let u64_at = |i: usize| u64::from_be_bytes(sub[i..i + 8].try_into().expect("8"));
            s.last_id = StreamId::decode(&sub[..16]).ok_or_else(|| bad("meta"))?;
            s.max_deleted = StreamId::decode(&sub[16..32]).ok_or_else(|| bad("meta"))?;
            s.entries_added = u64_at(32);
            let master = StreamId::decode(&sub[40..56]).ok_or_else(|| bad("meta"))?;
            if let Some((k, n)) = s.nodes.iter_mut().next_back() {
                if *k == master {
                    n.used = u32::try_from(u64_at(56)).unwrap_or(u32::MAX).max(n.live);
                    n.bytes = u64_at(64);
                }
            }
            s.meta_loc = loc;
        }
        TAG_STREAM_ENTRY => {
            let id = StreamId::decode(sub).ok_or_else(|| bad("entry"))?;
            let node =
                StreamId::decode(sub.get(16..).unwrap_or_default()).ok_or_else(|| bad("entry"))?;
            let fields = match e.value {
                Some(v) => Fields::decode(v).ok_or_else(|| bad("entry"))?,
                None => {
                    loads.push(Load {
                        slot,
                        key: Bytes::copy_from_slice(key),
                        gen: e.gen,
                        target: FixTarget::StreamEntry(id.ms, id.seq),
                        loc: e.location,
                    });
                    Fields::default()
                }
            };
            if s.entries.contains_key(&id) {
                s.take_entry(id);
            }
            let n = s.nodes.entry(node).or_default();
            n.live += 1;
            n.used += 1;
            s.entries.insert(
                id,
                StreamEntry {
                    fields,
                    loc: SlimLoc::new(loc),
                },
            );
        }
        TAG_STREAM_ENTRY_DEL => {
            let id = StreamId::decode(sub).ok_or_else(|| bad("delete"))?;
            s.take_entry(id);
        }
        TAG_STREAM_RANGE_DEL => {
            let upto = StreamId::decode(sub).ok_or_else(|| bad("trim"))?;
            let ids: Vec<StreamId> = s.entries.range(..=upto).map(|(k, _)| *k).collect();
            for id in ids {
                s.take_entry(id);
            }
        }
        TAG_STREAM_GROUP => {
            let (name, rest) = split_name(sub).ok_or_else(|| bad("group"))?;
            let last = StreamId::decode(rest).ok_or_else(|| bad("group"))?;
            let read = rest
                .get(16..24)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .ok_or_else(|| bad("group"))?;
            let g = s
                .groups
                .entry(Bytes::copy_from_slice(name))
                .or_insert_with(|| Group::new(last, read));
            g.last_id = last;
            g.entries_read = read;
            g.loc = loc;
        }
        TAG_STREAM_GROUP_DEL => {
            let (name, _) = split_name(sub).ok_or_else(|| bad("group delete"))?;
            s.groups.remove(name);
        }
        TAG_STREAM_CONSUMER => {
            let (g, rest) = split_name(sub).ok_or_else(|| bad("consumer"))?;
            let (c, rest) = split_name(rest).ok_or_else(|| bad("consumer"))?;
            let seen = rest
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| bad("consumer"))?;
            // The group's newest record may come later (merge keeps only
            // it, and a group's record is rewritten whenever it moves).
            let g = implicit_group(s, g);
            let c = g.consumers.entry(Bytes::copy_from_slice(c)).or_default();
            c.seen_time = seen;
            c.loc = loc;
        }
        TAG_STREAM_CONSUMER_DEL => {
            let (g, rest) = split_name(sub).ok_or_else(|| bad("consumer delete"))?;
            let (c, _) = split_name(rest).ok_or_else(|| bad("consumer delete"))?;
            if let Some(g) = s.groups.get_mut(g) {
                if let Some(c) = g.consumers.remove(c) {
                    for id in c.pel {
                        g.pel.remove(&id);
                    }
                }
            }
        }
        TAG_STREAM_PENDING => {
            let (g, rest) = split_name(sub).ok_or_else(|| bad("pending"))?;
            if rest.len() < 32 {
                return Err(bad("pending"));
            }
            let id = StreamId::decode(rest).ok_or_else(|| bad("pending"))?;
            let time = u64::from_be_bytes(rest[16..24].try_into().expect("8"));
            let count = u64::from_be_bytes(rest[24..32].try_into().expect("8"));
            let consumer = Bytes::copy_from_slice(&rest[32..]);
            {
                let g = implicit_group(s, g);
                if let Some(old) = g.pel.get(&id) {
                    if let Some(c) = g.consumers.get_mut(&old.consumer) {
                        c.pel.remove(&id);
                    }
                }
                g.consumers
                    .entry(consumer.clone())
                    .or_default()
                    .pel
                    .insert(id);
                g.pel.insert(
                    id,
                    Nack {
                        consumer,
                        delivery_time: time,
                        delivery_count: count,
                        loc,
                    },
                );
            }
        }
        TAG_STREAM_ACK => {
            let (g, rest) = split_name(sub).ok_or_else(|| bad("ack"))?;
            let id = StreamId::decode(rest).ok_or_else(|| bad("ack"))?;
            if let Some(g) = s.groups.get_mut(g) {
                if let Some(n) = g.pel.remove(&id) {
                    if let Some(c) = g.consumers.get_mut(&n.consumer) {
                        c.pel.remove(&id);
                    }
                }
            }
        }
        _ => return Err(format!("unknown stream tag {}", e.tag)),
    }
    Ok(())
}

/// The group `name` of a stream being replayed, made (empty, last id 0-0)
/// when a consumer or pending record comes before the group's newest
/// record, which then sets it.
fn implicit_group<'s>(s: &'s mut StreamData, name: &[u8]) -> &'s mut Group {
    s.groups
        .entry(Bytes::copy_from_slice(name))
        .or_insert_with(|| Group::new(StreamId::MIN, INVALID_READ))
}

/// The stream at `key` (lazy expiry): `Ok(None)` if absent, WRONGTYPE if another type.
fn get<'e>(ex: &'e mut Exec<'_>, key: &[u8]) -> Result<Option<&'e mut StreamValue>, Reply> {
    match ex.entry(key) {
        None => Ok(None),
        Some(Entry {
            value: Value::Stream(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => Err(err(args::WRONGTYPE)),
    }
}

/// The stream at `key` and the record identity of its incarnation, with
/// the journal (the caller checked it is a stream).
fn writable<'e>(
    ex: &'e mut Exec<'_>,
    key: &'e Bytes,
) -> Option<(&'e mut StreamValue, RecordKey<'e>, &'e mut Journal)> {
    // Dead bytes of what earlier writes replaced (known once their
    // appends settled).
    let stale = match ex.entry(key) {
        Some(Entry {
            value: Value::Stream(s),
            ..
        }) => std::mem::take(&mut s.superseded),
        _ => Vec::new(),
    };
    for l in stale {
        ex.dead(Some(l));
    }
    let slot = ex.slot();
    let (entry, journal) = ex.entry_and_journal(key);
    let entry = entry?;
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    match &mut entry.value {
        Value::Stream(s) => Some((s, at, journal)),
        _ => None,
    }
}

/// Creates `key` (absent: checked or deleted by the caller) holding `v`,
/// a stream RESTORE decoded, and appends every record of it: its entries
/// (in their nodes), its counters, groups, consumers and pending entries.
pub(crate) fn store(ex: &mut Exec<'_>, key: &Bytes, v: StreamValue) {
    ex.replace_in(ex.db, key, Value::Stream(v), 0);
    if let Some((s, at, journal)) = writable(ex, key) {
        s.rewrite(&at, 0, journal);
    }
    ex.modified(key);
}

fn entry_reply(id: StreamId, fields: &Fields) -> Reply {
    Reply::Array(vec![id.reply(), Reply::Array(Reply::bulks(fields.iter()))])
}

fn range_reply(
    s: &StreamData,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> Vec<Reply> {
    if start > end {
        return Vec::new();
    }
    let limit = if count == 0 { usize::MAX } else { count };
    let range = s.entries.range(start..=end);
    let items: Vec<(StreamId, &Fields)> = if rev {
        range
            .rev()
            .take(limit)
            .map(|(id, e)| (*id, &e.fields))
            .collect()
    } else {
        range.take(limit).map(|(id, e)| (*id, &e.fields)).collect()
    };
    entries_reply(&items)
}

/// Entries as XRANGE and XREAD answer them (`[[id, [f1, v1, ...]], ...]`),
/// every id and field copied into one block ([`Bulks`]): two allocations
/// an entry (its pair and its field list) instead of four.
fn entries_reply(items: &[(StreamId, &Fields)]) -> Vec<Reply> {
    let mut bulks = Bulks::default();
    for (id, fields) in items {
        bulks.text(format_args!("{}-{}", id.ms, id.seq));
        for f in fields.iter() {
            bulks.copy(f);
        }
    }
    let mut flat = bulks.finish();
    items
        .iter()
        .map(|(_, fields)| {
            let id = flat.next().unwrap_or(Reply::Nil);
            let fields = fields.iter().filter_map(|_| flat.next()).collect();
            Reply::Array(vec![id, Reply::Array(fields)])
        })
        .collect()
}

// ---------------------------------------------------------------- XADD / XTRIM

/// A trimming strategy and its arguments.
#[derive(Clone, Copy)]
enum Trim {
    None,
    MaxLen(u64),
    MinId(StreamId),
}

struct TrimArgs {
    trim: Trim,
    approx: bool,
    /// 0 = no limit.
    limit: i64,
}

/// Parses XADD's / XTRIM's options (Redis's
/// `streamParseAddOrTrimArgsOrReply`). For XADD returns the position of
/// the id argument, the id (None for `*`), and NOMKSTREAM.
#[allow(clippy::type_complexity)]
fn parse_trim_args(
    argv: &[Bytes],
    xadd: bool,
) -> Result<(TrimArgs, usize, Option<ParsedId>, bool), Reply> {
    let mut t = TrimArgs {
        trim: Trim::None,
        approx: false,
        limit: 0,
    };
    let mut limit_given = false;
    let mut nomkstream = false;
    let mut id = None;
    let mut i = 2;
    let both = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if !matches!(t.trim, Trim::None) {
                return Err(err(both));
            }
            // An optional `~` (approximate) or `=` (exact) before the
            // threshold.
            let next = &argv[i + 1];
            t.approx = more >= 2 && next.as_ref() == b"~";
            if more >= 2 && (t.approx || next.as_ref() == b"=") {
                i += 1;
            }
            let threshold = &argv[i + 1];
            i += 1;
            t.trim = if is(opt, "maxlen") {
                let n = args::int_arg(threshold)?;
                if n < 0 {
                    return Err(err("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict_id(threshold)?)
            };
        } else if is(opt, "limit") && more > 0 {
            let n = args::int_arg(&argv[i + 1])?;
            if n < 0 {
                return Err(err("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = n;
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            nomkstream = true;
        } else if xadd {
            id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(err(args::SYNTAX));
        }
        i += 1;
    }
    if t.limit != 0 && matches!(t.trim, Trim::None) {
        return Err(err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && matches!(t.trim, Trim::None) {
        return Err(err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !t.approx {
            return Err(err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if t.approx {
        t.limit = 100 * i64::from(NODE_MAX_ENTRIES);
    } else {
        t.limit = 0;
    }
    Ok((t, i, id, nomkstream))
}

/// Trims the stream as Redis's `streamTrim` does; returns how many entries
/// went and the last id removed (every entry up to it is gone).
fn trim(s: &mut StreamData, t: &TrimArgs) -> (u64, Option<StreamId>) {
    let mut deleted: u64 = 0;
    let mut upto = None;
    loop {
        let len = s.entries.len() as u64;
        if let Trim::MaxLen(max) = t.trim {
            if len <= max {
                break;
            }
        }
        let Some((&master, &node)) = s.nodes.iter().next() else {
            break;
        };
        let entries = u64::from(node.live);
        if t.limit > 0 && (deleted + entries) as i64 > t.limit {
            break;
        }
        // The node's entries: up to the next node's master.
        let next_master = s
            .nodes
            .range((
                std::ops::Bound::Excluded(master),
                std::ops::Bound::Unbounded,
            ))
            .next()
            .map(|(k, _)| *k);
        let node_last = match next_master {
            Some(nm) => s.entries.range(..nm).next_back().map(|(k, _)| *k),
            None => s.entries.last_id(),
        };
        let Some(node_last) = node_last else {
            s.nodes.remove(&master);
            continue;
        };
        let remove_node = match t.trim {
            Trim::MaxLen(max) => len - entries >= max,
            Trim::MinId(min) => node_last < min,
            Trim::None => false,
        };
        if remove_node {
            while s.entries.first_id().is_some_and(|id| id <= node_last) {
                if let Some((_, e)) = s.entries.pop_first() {
                    s.superseded.extend(e.loc.get());
                }
            }
            s.nodes.remove(&master);
            deleted += entries;
            upto = Some(node_last);
            continue;
        }
        if t.approx {
            break;
        }
        // Remove entries one by one from inside this node.
        let mut last_removed = None;
        while let Some(id) = s.entries.first_id() {
            let stop = match t.trim {
                Trim::MaxLen(max) => s.entries.len() as u64 <= max,
                Trim::MinId(min) => id >= min,
                Trim::None => true,
            };
            if stop {
                break;
            }
            if let Some((_, e)) = s.entries.pop_first() {
                s.superseded.extend(e.loc.get());
            }
            if let Some(n) = s.nodes.get_mut(&master) {
                n.live -= 1;
            }
            deleted += 1;
            last_removed = Some(id);
        }
        if last_removed.is_some() {
            upto = last_removed;
        }
        if s.nodes.get(&master).is_some_and(|n| n.live == 0) {
            s.nodes.remove(&master);
        }
        break;
    }
    (deleted, upto)
}

fn xadd(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (t, idpos, id, nomkstream) = match parse_trim_args(argv, true) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let field_pos = idpos + 1;
    if argv.len() < field_pos + 2 || (argv.len() - field_pos) % 2 == 1 {
        return args::arity_error("xadd");
    }
    if let Some(p) = &id {
        if p.seq_given && p.id.is_zero() {
            return err("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = &argv[1];
    match get(ex, key) {
        Err(e) => return e,
        Ok(None) if nomkstream => return Reply::Nil,
        Ok(None) => {
            ex.replace_in(ex.db, key, Value::Stream(StreamValue::default()), 0);
        }
        Ok(Some(_)) => {}
    }
    let now = ex.now_ms;
    let Some((s, at, journal)) = writable(ex, key) else {
        return err(args::WRONGTYPE);
    };
    if s.last_id == StreamId::MAX {
        return err("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let new_id = match &id {
        Some(p) if p.seq_given => p.id,
        Some(p) => {
            if s.last_id.ms == p.id.ms {
                match s.last_id.incr().filter(|n| n.ms == p.id.ms) {
                    Some(n) => n,
                    None => {
                        return err("ERR The ID specified in XADD is equal or smaller than the target stream top item")
                    }
                }
            } else {
                p.id
            }
        }
        None => {
            if s.last_id.ms < now {
                StreamId { ms: now, seq: 0 }
            } else {
                s.last_id.incr().unwrap_or(StreamId::MAX)
            }
        }
    };
    if new_id <= s.last_id {
        return err(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        );
    }
    let fields = Fields::of(&argv[field_pos..]);
    let node = s.place(new_id, &fields);
    log_entry(journal, &at, new_id, node, &fields);
    s.entries.insert(
        new_id,
        StreamEntry {
            fields,
            loc: SlimLoc::None,
        },
    );
    s.last_id = new_id;
    s.entries_added += 1;
    let (trimmed, upto) = trim(s, &t);
    if let Some(upto) = upto {
        journal.delete(TAG_STREAM_RANGE_DEL, &at, &upto.encode());
    }
    log_meta(journal, &at, s);
    ex.modified(key);
    ex.notify(STREAM, "xadd", key);
    if trimmed > 0 {
        ex.notify(STREAM, "xtrim", key);
    }
    new_id.reply()
}

fn xtrim(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (t, _, _, _) = match parse_trim_args(argv, false) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let key = &argv[1];
    match get(ex, key) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(_)) => {}
    }
    let Some((s, at, journal)) = writable(ex, key) else {
        return Reply::Integer(0);
    };
    let (removed, upto) = trim(s, &t);
    if let Some(upto) = upto {
        journal.delete(TAG_STREAM_RANGE_DEL, &at, &upto.encode());
        log_meta(journal, &at, s);
    }
    if removed > 0 {
        ex.modified(key);
        ex.notify(STREAM, "xtrim", key);
    }
    Reply::Integer(removed as i64)
}

fn xlen(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Integer(0),
        Ok(Some(s)) => Reply::Integer(s.entries.len() as i64),
    }
}

fn xrange_generic(ex: &mut Exec<'_>, argv: &[Bytes], rev: bool) -> Reply {
    let (start_arg, end_arg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let start = match parse_range_start(start_arg) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let end = match parse_range_end(end_arg) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if is(&argv[j], "count") && j + 1 < argv.len() {
            count = match args::int_arg(&argv[j + 1]) {
                Ok(n) => n.max(0),
                Err(e) => return e,
            };
            j += 2;
        } else {
            return err(args::SYNTAX);
        }
    }
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(_)) if count == 0 => Reply::NilArray,
        Ok(Some(s)) => Reply::Array(range_reply(s, start, end, count.max(0) as usize, rev)),
    }
}

fn xrange(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    xrange_generic(ex, argv, false)
}

fn xrevrange(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    xrange_generic(ex, argv, true)
}

fn xdel(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    match get(ex, key) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(_)) => {}
    }
    let mut ids = Vec::with_capacity(argv.len() - 2);
    for a in &argv[2..] {
        match parse_strict_id(a) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let Some((s, at, journal)) = writable(ex, key) else {
        return Reply::Integer(0);
    };
    let mut deleted = 0;
    let mut dead = Vec::new();
    for id in ids {
        if let Some(e) = s.take_entry(id) {
            dead.push(e.loc.get());
            journal.delete(TAG_STREAM_ENTRY_DEL, &at, &id.encode());
            if id > s.max_deleted {
                s.max_deleted = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        log_meta(journal, &at, s);
        for l in dead {
            ex.dead(l);
        }
        ex.modified(key);
        ex.notify(STREAM, "xdel", key);
    }
    Reply::Integer(deleted)
}

// ---------------------------------------------------------------- XREAD

/// Redis's `streamRangeHasTombstones` from `start` to the end.
fn has_tombstones_from(s: &StreamData, start: StreamId) -> bool {
    if s.entries.is_empty() || s.max_deleted.is_zero() {
        return false;
    }
    if s.first_id() > s.max_deleted {
        return false;
    }
    start <= s.max_deleted
}

/// Redis's `streamEstimateDistanceFromFirstEverEntry`.
fn estimate_distance(s: &StreamData, id: StreamId) -> i64 {
    if s.entries_added == 0 {
        return 0;
    }
    let added = s.entries_added as i64;
    let len = s.entries.len() as i64;
    if s.entries.is_empty() && id <= s.last_id {
        return added;
    }
    if id == s.last_id {
        return added;
    } else if id > s.last_id {
        return INVALID_READ;
    }
    let first = s.first_id();
    if s.max_deleted.is_zero() || s.max_deleted < first {
        if id < first {
            return added - len;
        } else if id == first {
            return added - len + 1;
        }
    }
    INVALID_READ
}

/// The lag of a group (XINFO), `None` when unknown.
fn group_lag(s: &StreamData, g: &Group) -> Option<i64> {
    if s.entries_added == 0 {
        return Some(0);
    }
    let added = s.entries_added as i64;
    if g.entries_read != INVALID_READ && !has_tombstones_from(s, g.last_id) {
        return Some(added - g.entries_read);
    }
    let read = estimate_distance(s, g.last_id);
    (read != INVALID_READ).then_some(added - read)
}

/// The option the server adds to a blocked XREAD / XREADGROUP when it runs
/// it again after a change of its keys (not a Redis option; a NUL byte
/// keeps it out of any client's way). In that form a key that is gone or
/// of another type does not answer an error: XREAD keeps waiting, and
/// XREADGROUP ends with Redis 7.0's errors for a blocked client whose key
/// or group went away.
const RETRY: &[u8] = b"\0retry";

/// The form of a blocked XREAD / XREADGROUP that the server runs when its
/// keys change (see [`RETRY`]).
pub fn retry_form(argv: &[Bytes]) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(argv.len() + 1);
    out.push(argv[0].clone());
    out.push(Bytes::from_static(RETRY));
    out.extend_from_slice(&argv[1..]);
    out
}

/// Parsed XREAD / XREADGROUP arguments.
struct ReadArgs {
    /// The retry form (see [`RETRY`]).
    retry: bool,
    /// Milliseconds; `None` without BLOCK.
    block: Option<i64>,
    count: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    /// Index of the first key.
    streams: usize,
    nstreams: usize,
}

fn parse_read_args(argv: &[Bytes], group_cmd: bool) -> Result<ReadArgs, Reply> {
    let mut r = ReadArgs {
        retry: false,
        block: None,
        count: 0,
        group: None,
        noack: false,
        streams: 0,
        nstreams: 0,
    };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = &argv[i];
        if is(o, "block") && more > 0 {
            i += 1;
            let t = args::parse_i64(&argv[i])
                .ok_or_else(|| err("ERR timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(err("ERR timeout is negative"));
            }
            r.block = Some(t);
        } else if is(o, "count") && more > 0 {
            i += 1;
            r.count = args::int_arg(&argv[i])?.max(0) as usize;
        } else if is(o, "streams") && more > 0 {
            r.streams = i + 1;
            let n = argv.len() - r.streams;
            if n % 2 != 0 {
                // Redis 7.0.15 names XREAD and `$` for XREADGROUP too.
                return Err(err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            r.nstreams = n / 2;
            break;
        } else if is(o, "group") && more >= 2 {
            if !group_cmd {
                return Err(err(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if o.as_ref() == RETRY {
            r.retry = true;
        } else if is(o, "noack") {
            if !group_cmd {
                return Err(err(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(err(args::SYNTAX));
        }
        i += 1;
    }
    if r.streams == 0 {
        return Err(err(args::SYNTAX));
    }
    if group_cmd && r.group.is_none() {
        return Err(err("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// The keys of an XREAD / XREADGROUP call (COMMAND GETKEYS, ACL, blocking):
/// the first half of the arguments after STREAMS.
pub(crate) fn read_keys(argv: &[Bytes]) -> Vec<usize> {
    let group_cmd = argv.first().is_some_and(|n| is(n, "xreadgroup"));
    match parse_read_args(argv, group_cmd) {
        Ok(r) => (r.streams..r.streams + r.nstreams).collect(),
        Err(_) => Vec::new(),
    }
}

/// The BLOCK timeout of an XREAD / XREADGROUP call in milliseconds (`None`:
/// does not block; `Some(0)`: forever) and its keys; an argument error is
/// the reply.
pub fn block_args(argv: &[Bytes]) -> Result<(Option<u64>, Vec<Bytes>), Reply> {
    let group_cmd = argv.first().is_some_and(|n| is(n, "xreadgroup"));
    let r = parse_read_args(argv, group_cmd)?;
    let keys = argv[r.streams..r.streams + r.nstreams].to_vec();
    Ok((r.block.map(|b| b as u64), keys))
}

fn xread(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let r = match parse_read_args(argv, false) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut ids = Vec::with_capacity(r.nstreams);
    for i in 0..r.nstreams {
        let key = &argv[r.streams + i];
        let arg = &argv[r.streams + r.nstreams + i];
        let s = match get(ex, key) {
            Ok(s) => s,
            Err(_) if r.retry => None,
            Err(e) => return e,
        };
        if arg.as_ref() == b"$" {
            ids.push(s.map(|s| s.last_id).unwrap_or_default());
            continue;
        }
        if arg.as_ref() == b">" {
            return err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
        }
        match parse_strict_id(arg) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let mut out = Vec::new();
    for (i, gt) in ids.into_iter().enumerate() {
        let key = &argv[r.streams + i];
        let Ok(Some(s)) = get(ex, key) else {
            continue;
        };
        if s.entries.is_empty() || s.last_valid() <= gt {
            continue;
        }
        let Some(start) = gt.incr() else {
            continue;
        };
        let items = range_reply(s, start, StreamId::MAX, r.count, false);
        out.push((Reply::Bulk(key.clone()), Reply::Array(items)));
    }
    if out.is_empty() {
        Reply::NilArray
    } else {
        Reply::PairMap(out)
    }
}

fn xreadgroup(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let r = match parse_read_args(argv, true) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let (group, consumer) = r.group.clone().expect("checked by parse_read_args");
    // None = ">".
    let mut ids: Vec<Option<StreamId>> = Vec::with_capacity(r.nstreams);
    for i in 0..r.nstreams {
        let key = &argv[r.streams + i];
        let arg = &argv[r.streams + r.nstreams + i];
        ex.count_read(key);
        match get(ex, key) {
            Ok(Some(s)) if s.groups.contains_key(&group) => {}
            Ok(Some(_)) if r.retry => {
                return err(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                )
            }
            _ if r.retry => return err("UNBLOCKED the stream key no longer exists"),
            Err(e) => return e,
            Ok(_) => return nogroup(key, &group, " in XREADGROUP with GROUP option"),
        }
        if arg.as_ref() == b"$" {
            return err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
        }
        if arg.as_ref() == b">" {
            ids.push(None);
            continue;
        }
        match parse_strict_id(arg) {
            Ok(id) => ids.push(Some(id)),
            Err(e) => return e,
        }
    }
    let now = ex.now_ms;
    let mut out = Vec::new();
    for (i, id) in ids.into_iter().enumerate() {
        let key = &argv[r.streams + i];
        // Redis looks each stream up again to serve it (a second read).
        ex.count_read(key);
        let Some((s, at, journal)) = writable(ex, key) else {
            continue;
        };
        let last_delivered = s.groups[&group].last_id;
        let (start, history) = match id {
            Some(id) => (id, true),
            None if !s.entries.is_empty() && s.last_valid() > last_delivered => {
                (last_delivered, false)
            }
            None => continue,
        };
        let start = start.incr().unwrap_or(StreamId::MAX);
        let (items, created) = read_group(
            s, &at, journal, &group, &consumer, start, r.count, history, r.noack, now,
        );
        out.push((Reply::Bulk(key.clone()), Reply::Array(items)));
        ex.modified(key);
        if created {
            ex.notify(STREAM, "xgroup-createconsumer", key);
        }
    }
    if out.is_empty() {
        Reply::NilArray
    } else {
        Reply::PairMap(out)
    }
}

/// Finds or creates `consumer` in `group` (seen now), logging it; true
/// when it was created.
fn touch_consumer(
    s: &mut StreamData,
    at: &RecordKey<'_>,
    journal: &mut Journal,
    group: &[u8],
    consumer: &Bytes,
    now: u64,
) -> bool {
    let Some(g) = s.groups.get_mut(group) else {
        return false;
    };
    let created = !g.consumers.contains_key(consumer);
    let c = g.consumers.entry(super::value::keep(consumer)).or_default();
    c.seen_time = now;
    log_consumer(journal, at, group, consumer, now);
    created
}

#[allow(clippy::too_many_arguments)]
fn read_group(
    s: &mut StreamData,
    at: &RecordKey<'_>,
    journal: &mut Journal,
    group: &Bytes,
    consumer: &Bytes,
    start: StreamId,
    count: usize,
    history: bool,
    noack: bool,
    now: u64,
) -> (Vec<Reply>, bool) {
    let created = touch_consumer(s, at, journal, group, consumer, now);
    let limit = if count == 0 { usize::MAX } else { count };
    let mut out = Vec::new();
    if history {
        let g = s.groups.get_mut(&group[..]).expect("checked");
        let ids: Vec<StreamId> = g.consumers[consumer]
            .pel
            .range(start..)
            .take(limit)
            .copied()
            .collect();
        for id in ids {
            match s.entries.get(&id) {
                Some(e) => {
                    out.push(entry_reply(id, &e.fields));
                    let n = g
                        .pel
                        .get_mut(&id)
                        .expect("consumer pel is in the group pel");
                    n.delivery_time = now;
                    n.delivery_count += 1;
                    log_pending(journal, at, group, id, n);
                }
                None => out.push(Reply::Array(vec![id.reply(), Reply::NilArray])),
            }
        }
        return (out, created);
    }
    let picked: Vec<StreamId> = s
        .entries
        .range(start..)
        .take(limit)
        .map(|(k, _)| *k)
        .collect();
    let mut group_changed = false;
    for &id in &picked {
        let tomb = has_tombstones_from(s, id);
        let est = if s.entries_added > 0 {
            Some(estimate_distance(s, id))
        } else {
            None
        };
        let g = s.groups.get_mut(&group[..]).expect("checked");
        if id > g.last_id {
            if g.entries_read != INVALID_READ && !tomb {
                g.entries_read += 1;
            } else if let Some(est) = est {
                g.entries_read = est;
            }
            g.last_id = id;
            group_changed = true;
        }
        if !noack {
            if let Some(old) = g.pel.get(&id).map(|n| n.consumer.clone()) {
                if let Some(c) = g.consumers.get_mut(&old) {
                    c.pel.remove(&id);
                }
            }
            let n = Nack {
                consumer: g
                    .consumers
                    .get_key_value(consumer)
                    .map(|(k, _)| k.clone())
                    .unwrap_or_else(|| consumer.clone()),
                delivery_time: now,
                delivery_count: 1,
                loc: None,
            };
            log_pending(journal, at, group, id, &n);
            g.pel.insert(id, n);
            if let Some(c) = g.consumers.get_mut(consumer) {
                c.pel.insert(id);
            }
        }
    }
    if group_changed {
        log_group(journal, at, group, &s.groups[&group[..]]);
    }
    let items: Vec<(StreamId, &Fields)> = picked
        .iter()
        .map(|id| (*id, &s.entries[id].fields))
        .collect();
    out = entries_reply(&items);
    (out, created)
}

// ---------------------------------------------------------------- groups

fn xack(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let group = &argv[2];
    match get(ex, key) {
        Err(e) => return e,
        Ok(Some(s)) if s.groups.contains_key(group) => {}
        Ok(_) => return Reply::Integer(0),
    }
    let mut ids = Vec::new();
    for a in &argv[3..] {
        match parse_strict_id(a) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let Some((s, at, journal)) = writable(ex, key) else {
        return Reply::Integer(0);
    };
    let g = s.groups.get_mut(group).expect("checked");
    let mut acked = 0;
    let mut dead = Vec::new();
    for id in ids {
        if let Some(n) = g.pel.remove(&id) {
            if let Some(c) = g.consumers.get_mut(&n.consumer) {
                c.pel.remove(&id);
            }
            dead.push(n.loc);
            log_ack(journal, &at, group, id);
            acked += 1;
        }
    }
    for l in dead {
        ex.dead(l);
    }
    if acked > 0 {
        ex.modified(key);
    }
    Reply::Integer(acked)
}

/// Redis's NOGROUP error (`then`: what XREADGROUP adds).
fn nogroup(key: &[u8], group: &[u8], then: &str) -> Reply {
    Reply::Error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'{then}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn xpending(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return err(args::SYNTAX);
    }
    let mut minidle: i64 = 0;
    let mut range = None;
    let mut consumer = None;
    if argc >= 6 {
        let mut startidx = 3;
        if is(&argv[3], "idle") {
            minidle = match args::int_arg(&argv[4]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            if argc < 8 {
                return err(args::SYNTAX);
            }
            startidx += 2;
        }
        let count = match args::int_arg(&argv[startidx + 2]) {
            Ok(n) => n.max(0),
            Err(e) => return e,
        };
        let start = match parse_range_start(&argv[startidx]) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let end = match parse_range_end(&argv[startidx + 1]) {
            Ok(x) => x,
            Err(e) => return e,
        };
        if startidx + 3 < argc {
            consumer = Some(argv[startidx + 3].clone());
        }
        range = Some((start, end, count));
    }
    let now = ex.now_ms;
    let key = &argv[1];
    let group = &argv[2];
    let s = match get(ex, key) {
        Err(e) => return e,
        Ok(Some(s)) if s.groups.contains_key(group) => s,
        Ok(_) => return nogroup(key, group, ""),
    };
    let g = &s.groups[group];
    let Some((start, end, mut count)) = range else {
        if g.pel.is_empty() {
            return Reply::Array(vec![
                Reply::Integer(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]);
        }
        let first = *g.pel.keys().next().expect("not empty");
        let last = *g.pel.keys().next_back().expect("not empty");
        let consumers = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::Bulk(name.clone()),
                    Reply::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Reply::Array(vec![
            Reply::Integer(g.pel.len() as i64),
            first.reply(),
            last.reply(),
            Reply::Array(consumers),
        ]);
    };
    let ids: Box<dyn Iterator<Item = StreamId> + '_> = match &consumer {
        Some(name) => match g.consumers.get(name) {
            None => return Reply::Array(Vec::new()),
            Some(c) => Box::new(c.pel.iter().copied().filter(move |id| *id >= start)),
        },
        None => Box::new(g.pel.range(start..).map(|(k, _)| *k)),
    };
    let mut out = Vec::new();
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let n = &g.pel[&id];
        let idle = now as i64 - n.delivery_time as i64;
        if minidle != 0 && idle < minidle {
            continue;
        }
        count -= 1;
        out.push(Reply::Array(vec![
            id.reply(),
            Reply::Bulk(n.consumer.clone()),
            Reply::Integer(idle.max(0)),
            Reply::Integer(n.delivery_count as i64),
        ]));
    }
    Reply::Array(out)
}

/// Moves (or creates) the pending entry `id` to `consumer`.
#[allow(clippy::too_many_arguments)]
fn claim_one(
    g: &mut Group,
    id: StreamId,
    consumer: &Bytes,
    time: u64,
    retry: Option<u64>,
    justid: bool,
) -> Nack {
    let n = g.pel.get_mut(&id).expect("caller checked");
    if n.consumer != *consumer {
        let old = std::mem::replace(&mut n.consumer, consumer.clone());
        if let Some(c) = g.consumers.get_mut(&old) {
            c.pel.remove(&id);
        }
    }
    n.delivery_time = time;
    if let Some(r) = retry {
        n.delivery_count = r;
    } else if !justid {
        n.delivery_count += 1;
    }
    let n = n.clone();
    g.consumers
        .entry(consumer.clone())
        .or_default()
        .pel
        .insert(id);
    n
}

fn xclaim(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let group = &argv[2];
    let consumer = &argv[3];
    match get(ex, key) {
        Err(e) => return e,
        Ok(Some(s)) if s.groups.contains_key(group) => {}
        Ok(_) => return nogroup(key, group, ""),
    }
    let minidle = match args::parse_i64(&argv[4]) {
        Some(n) => n.max(0),
        None => return err("ERR Invalid min-idle-time argument for XCLAIM"),
    };
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id(&argv[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ex.now_ms as i64;
    let mut force = false;
    let mut justid = false;
    let mut deliverytime: i64 = -1;
    let mut retry: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = &argv[j];
        let int = |a: &[u8], what: &str| {
            args::parse_i64(a).ok_or_else(|| {
                Reply::Error(format!("ERR Invalid {what} option argument for XCLAIM"))
            })
        };
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            match int(&argv[j], "IDLE") {
                Ok(n) => deliverytime = now.wrapping_sub(n),
                Err(e) => return e,
            }
        } else if is(opt, "time") && more > 0 {
            j += 1;
            match int(&argv[j], "TIME") {
                Ok(n) => deliverytime = n,
                Err(e) => return e,
            }
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            match int(&argv[j], "RETRYCOUNT") {
                Ok(n) => retry = n,
                Err(e) => return e,
            }
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            match parse_strict_id(&argv[j]) {
                Ok(id) => last_id = id,
                Err(e) => return e,
            }
        } else {
            return Reply::Error(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            ));
        }
        j += 1;
    }
    if deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let deliverytime = deliverytime as u64;
    let Some((s, at, journal)) = writable(ex, key) else {
        return Reply::Array(Vec::new());
    };
    let mut changed = false;
    {
        let g = s.groups.get_mut(group).expect("checked");
        if last_id > g.last_id {
            g.last_id = last_id;
            log_group(journal, &at, group, g);
            changed = true;
        }
    }
    let mut out = Vec::new();
    let mut dead = Vec::new();
    let mut consumer_touched = false;
    let mut consumer_created = false;
    for id in ids {
        let exists = s.entries.contains_key(&id);
        let g = s.groups.get_mut(group).expect("checked");
        if !exists {
            if let Some(n) = g.pel.remove(&id) {
                if let Some(c) = g.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                dead.push(n.loc);
                log_ack(journal, &at, group, id);
                changed = true;
            }
            continue;
        }
        let mut fresh = false;
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                Nack {
                    consumer: Bytes::new(),
                    delivery_time: now as u64,
                    delivery_count: 1,
                    loc: None,
                },
            );
            fresh = true;
        }
        let Some(n) = g.pel.get(&id) else {
            continue;
        };
        if !fresh && minidle != 0 && (now - n.delivery_time as i64) < minidle {
            continue;
        }
        if !consumer_touched {
            consumer_touched = true;
            consumer_created = !g.consumers.contains_key(consumer);
            let c = g.consumers.entry(consumer.clone()).or_default();
            c.seen_time = now as u64;
            log_consumer(journal, &at, group, consumer, now as u64);
        }
        let retry = u64::try_from(retry).ok();
        let n = claim_one(g, id, consumer, deliverytime, retry, justid);
        log_pending(journal, &at, group, id, &n);
        changed = true;
        if justid {
            out.push(id.reply());
        } else {
            out.push(entry_reply(id, &s.entries[&id].fields));
        }
    }
    for l in dead {
        ex.dead(l);
    }
    if changed {
        ex.modified(key);
    }
    if consumer_created {
        ex.notify(STREAM, "xgroup-createconsumer", key);
    }
    Reply::Array(out)
}

fn xautoclaim(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let group = &argv[2];
    let consumer = &argv[3];
    let minidle = match args::parse_i64(&argv[4]) {
        Some(n) => n.max(0),
        None => return err("ERR Invalid min-idle-time argument for XAUTOCLAIM"),
    };
    let start = match parse_range_start(&argv[5]) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is(&argv[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            match args::parse_i64(&argv[j + 1]) {
                Some(n) if (1..=max).contains(&n) => count = n,
                _ => return err("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if is(&argv[j], "justid") {
            justid = true;
        } else {
            return err(args::SYNTAX);
        }
        j += 1;
    }
    match get(ex, key) {
        Err(e) => return e,
        Ok(Some(s)) if s.groups.contains_key(group) => {}
        Ok(_) => return nogroup(key, group, ""),
    }
    let now = ex.now_ms;
    let Some((s, at, journal)) = writable(ex, key) else {
        return Reply::Array(Vec::new());
    };
    let mut attempts = count.saturating_mul(10);
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut dead = Vec::new();
    let mut consumer_touched = false;
    let mut consumer_created = false;
    let mut cursor_from = std::ops::Bound::Included(start);
    let mut eof = false;
    let mut changed = false;
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let next = s.groups[&group[..]]
            .pel
            .range((cursor_from, std::ops::Bound::Unbounded))
            .next()
            .map(|(k, _)| *k);
        let Some(id) = next else {
            eof = true;
            break;
        };
        cursor_from = std::ops::Bound::Excluded(id);
        let exists = s.entries.contains_key(&id);
        let g = s.groups.get_mut(&group[..]).expect("checked");
        if !exists {
            let n = g.pel.remove(&id).expect("found above");
            if let Some(c) = g.consumers.get_mut(&n.consumer) {
                c.pel.remove(&id);
            }
            dead.push(n.loc);
            log_ack(journal, &at, group, id);
            deleted.push(id.reply());
            count -= 1;
            changed = true;
            continue;
        }
        let n = &g.pel[&id];
        if minidle != 0 && (now as i64 - n.delivery_time as i64) < minidle {
            continue;
        }
        if !consumer_touched {
            consumer_touched = true;
            consumer_created = !g.consumers.contains_key(consumer);
            let c = g.consumers.entry(consumer.clone()).or_default();
            c.seen_time = now;
            log_consumer(journal, &at, group, consumer, now);
        }
        let n = claim_one(g, id, consumer, now, None, justid);
        log_pending(journal, &at, group, id, &n);
        changed = true;
        if justid {
            out.push(id.reply());
        } else {
            out.push(entry_reply(id, &s.entries[&id].fields));
        }
        count -= 1;
    }
    let cursor = if eof {
        StreamId::MIN
    } else {
        s.groups[&group[..]]
            .pel
            .range((cursor_from, std::ops::Bound::Unbounded))
            .next()
            .map(|(k, _)| *k)
            .unwrap_or(StreamId::MIN)
    };
    for l in dead {
        ex.dead(l);
    }
    if changed {
        ex.modified(key);
    }
    if consumer_created {
        ex.notify(STREAM, "xgroup-createconsumer", key);
    }
    Reply::Array(vec![
        cursor.reply(),
        Reply::Array(out),
        Reply::Array(deleted),
    ])
}

fn xsetid(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let id = match parse_strict_id(&argv[2]) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if is(&argv[i], "entriesadded") && more > 0 {
            entries_added = match args::int_arg(&argv[i + 1]) {
                Ok(n) if n < 0 => return err("ERR entries_added must be positive"),
                Ok(n) => n,
                Err(e) => return e,
            };
            i += 2;
        } else if is(&argv[i], "maxdeletedid") && more > 0 {
            max_xdel = match parse_strict_id(&argv[i + 1]) {
                Ok(m) => m,
                Err(e) => return e,
            };
            if id < max_xdel {
                return err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
            }
            i += 2;
        } else {
            return err(args::SYNTAX);
        }
    }
    let key = &argv[1];
    match get(ex, key) {
        Err(e) => return e,
        Ok(None) => return err(args::NO_SUCH_KEY),
        Ok(Some(_)) => {}
    }
    let Some((s, at, journal)) = writable(ex, key) else {
        return err(args::NO_SUCH_KEY);
    };
    if !s.entries.is_empty() {
        if id < s.last_valid() {
            return err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && s.entries.len() as i64 > entries_added {
            return err("ERR The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    if id < s.max_deleted {
        return err("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id");
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted = max_xdel;
    }
    log_meta(journal, &at, s);
    ex.modified(key);
    ex.notify(STREAM, "xsetid", key);
    Reply::ok()
}

fn help_reply(lines: &[&str]) -> Reply {
    Reply::Array(
        lines
            .iter()
            .map(|l| Reply::Simple((*l).to_owned().into()))
            .collect(),
    )
}

/// A container's subcommand arity check, as Redis's command table does it.
fn sub_arity(container: &str, argv: &[Bytes], subs: &[(&str, i32)]) -> Result<&'static str, Reply> {
    let sub = &argv[1];
    let Some((name, arity)) = subs.iter().find(|(n, _)| is(sub, n)) else {
        return Err(Reply::Error(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(sub),
            container.to_ascii_uppercase()
        )));
    };
    let n = argv.len() as i32;
    if (*arity > 0 && n != *arity) || (*arity < 0 && n < -arity) {
        return Err(Reply::Error(format!(
            "ERR wrong number of arguments for '{container}|{name}' command"
        )));
    }
    // The names are static strings of the table above.
    Ok(match *name {
        "create" => "create",
        "setid" => "setid",
        "destroy" => "destroy",
        "createconsumer" => "createconsumer",
        "delconsumer" => "delconsumer",
        "stream" => "stream",
        "groups" => "groups",
        "consumers" => "consumers",
        _ => "help",
    })
}

fn sub_syntax(container: &str, sub: &[u8]) -> Reply {
    Reply::Error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        container
    ))
}

fn xgroup(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let sub = match sub_arity(
        "xgroup",
        argv,
        &[
            ("create", -5),
            ("setid", -5),
            ("destroy", 4),
            ("createconsumer", 5),
            ("delconsumer", 5),
            ("help", 2),
        ],
    ) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if sub == "help" {
        return help_reply(&[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help.",
        ]);
    }
    let key = &argv[2];
    let group = &argv[3];
    let mut mkstream = false;
    let mut entries_read = INVALID_READ;
    if sub == "create" && argv.len() >= 6 {
        let mut i = 5;
        while i < argv.len() {
            if is(&argv[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if is(&argv[i], "entriesread") && i + 1 < argv.len() {
                entries_read = match args::int_arg(&argv[i + 1]) {
                    Ok(n) => n,
                    Err(e) => return e,
                };
                if entries_read < 0 && entries_read != INVALID_READ {
                    return err("ERR value for ENTRIESREAD must be positive or -1");
                }
                i += 2;
            } else {
                return sub_syntax("XGROUP", &argv[1]);
            }
        }
    }
    let (exists, has_group) = match get(ex, key) {
        Err(e) => return e,
        Ok(None) => (false, false),
        Ok(Some(s)) => (true, s.groups.contains_key(group)),
    };
    if !mkstream {
        if !exists {
            return err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
        }
        if !has_group && matches!(sub, "setid" | "createconsumer" | "delconsumer") {
            return Reply::Error(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(group),
                String::from_utf8_lossy(key)
            ));
        }
    }
    let now = ex.now_ms;
    match sub {
        "create" if argv.len() <= 8 => {
            let id = if argv[4].as_ref() == b"$" {
                match get(ex, key) {
                    Ok(Some(s)) => s.last_id,
                    _ => StreamId::MIN,
                }
            } else {
                match parse_strict_id(&argv[4]) {
                    Ok(id) => id,
                    Err(e) => return e,
                }
            };
            if !exists {
                let at = ex.replace_in(ex.db, key, Value::Stream(StreamValue::default()), 0);
                if let Some((s, _, journal)) = writable(ex, key) {
                    log_meta(journal, &at, s);
                }
            }
            let Some((s, at, journal)) = writable(ex, key) else {
                return err(args::WRONGTYPE);
            };
            if s.groups.contains_key(group) {
                return err("BUSYGROUP Consumer Group name already exists");
            }
            let g = Group::new(id, entries_read);
            log_group(journal, &at, group, &g);
            s.groups.insert(super::value::keep(group), g);
            ex.modified(key);
            ex.notify(STREAM, "xgroup-create", key);
            Reply::ok()
        }
        "setid" if argv.len() == 5 || argv.len() == 7 => {
            let Some((s, _, _)) = writable(ex, key) else {
                return err(args::WRONGTYPE);
            };
            let id = if argv[4].as_ref() == b"$" {
                s.last_id
            } else {
                match parse_strict_id(&argv[4]) {
                    Ok(id) => id,
                    Err(e) => return e,
                }
            };
            let mut read = INVALID_READ;
            if argv.len() == 7 {
                if !is(&argv[5], "entriesread") {
                    return sub_syntax("XGROUP", &argv[1]);
                }
                read = match args::int_arg(&argv[6]) {
                    Ok(n) => n,
                    Err(e) => return e,
                };
                if read < 0 && read != INVALID_READ {
                    return err("ERR value for ENTRIESREAD must be positive or -1");
                }
            }
            let Some((s, at, journal)) = writable(ex, key) else {
                return err(args::WRONGTYPE);
            };
            let g = s.groups.get_mut(group).expect("checked");
            g.last_id = id;
            g.entries_read = read;
            log_group(journal, &at, group, g);
            ex.modified(key);
            ex.notify(STREAM, "xgroup-setid", key);
            Reply::ok()
        }
        "destroy" => {
            let Some((s, at, journal)) = writable(ex, key) else {
                return Reply::Integer(0);
            };
            match s.groups.remove(group) {
                Some(g) => {
                    log_group_del(journal, &at, group);
                    let mut dead = vec![g.loc];
                    dead.extend(g.consumers.values().map(|c| c.loc));
                    dead.extend(g.pel.values().map(|n| n.loc));
                    for l in dead {
                        ex.dead(l);
                    }
                    ex.modified(key);
                    ex.notify(STREAM, "xgroup-destroy", key);
                    Reply::Integer(1)
                }
                None => Reply::Integer(0),
            }
        }
        "createconsumer" => {
            let consumer = &argv[4];
            let Some((s, at, journal)) = writable(ex, key) else {
                return Reply::Integer(0);
            };
            let g = s.groups.get_mut(group).expect("checked");
            if g.consumers.contains_key(consumer) {
                return Reply::Integer(0);
            }
            g.consumers.insert(
                super::value::keep(consumer),
                Consumer {
                    seen_time: now,
                    ..Consumer::default()
                },
            );
            log_consumer(journal, &at, group, consumer, now);
            ex.modified(key);
            ex.notify(STREAM, "xgroup-createconsumer", key);
            Reply::Integer(1)
        }
        "delconsumer" => {
            let consumer = &argv[4];
            let Some((s, at, journal)) = writable(ex, key) else {
                return Reply::Integer(0);
            };
            let g = s.groups.get_mut(group).expect("checked");
            let Some(c) = g.consumers.remove(consumer) else {
                return Reply::Integer(0);
            };
            let pending = c.pel.len() as i64;
            let mut dead = vec![c.loc];
            for id in &c.pel {
                if let Some(n) = g.pel.remove(id) {
                    dead.push(n.loc);
                }
            }
            log_consumer_del(journal, &at, group, consumer);
            for l in dead {
                ex.dead(l);
            }
            ex.modified(key);
            ex.notify(STREAM, "xgroup-delconsumer", key);
            Reply::Integer(pending)
        }
        _ => sub_syntax("XGROUP", &argv[1]),
    }
}

fn xinfo(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let sub = match sub_arity(
        "xinfo",
        argv,
        &[("stream", -3), ("groups", 3), ("consumers", 4), ("help", 2)],
    ) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if sub == "help" {
        return help_reply(&[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ]);
    }
    let now = ex.now_ms;
    let key = &argv[2];
    let s = match get(ex, key) {
        Err(e) => return e,
        Ok(None) => return err(args::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    let b = |t: &'static str| Reply::Bulk(Bytes::from_static(t.as_bytes()));
    match sub {
        "consumers" => {
            let group = &argv[3];
            let Some(g) = s.groups.get(group) else {
                return Reply::Error(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(group),
                    String::from_utf8_lossy(key)
                ));
            };
            Reply::Array(
                g.consumers
                    .iter()
                    .map(|(name, c)| {
                        Reply::Map(vec![
                            (b("name"), Reply::Bulk(name.clone())),
                            (b("pending"), Reply::Integer(c.pel.len() as i64)),
                            (
                                b("idle"),
                                Reply::Integer((now as i64 - c.seen_time as i64).max(0)),
                            ),
                        ])
                    })
                    .collect(),
            )
        }
        "groups" => Reply::Array(
            s.groups
                .iter()
                .map(|(name, g)| {
                    Reply::Map(vec![
                        (b("name"), Reply::Bulk(name.clone())),
                        (b("consumers"), Reply::Integer(g.consumers.len() as i64)),
                        (b("pending"), Reply::Integer(g.pel.len() as i64)),
                        (b("last-delivered-id"), g.last_id.reply()),
                        (b("entries-read"), entries_read_reply(g.entries_read)),
                        (b("lag"), group_lag(s, g).map_or(Reply::Nil, Reply::Integer)),
                    ])
                })
                .collect(),
        ),
        _ => xinfo_stream(s, argv),
    }
}

fn entries_read_reply(n: i64) -> Reply {
    if n == INVALID_READ {
        Reply::Nil
    } else {
        Reply::Integer(n)
    }
}

fn xinfo_stream(s: &StreamData, argv: &[Bytes]) -> Reply {
    let rest = &argv[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !rest.is_empty() {
        if !is(&rest[0], "full") {
            return sub_syntax("XINFO", &argv[1]);
        }
        full = true;
        if rest.len() == 3 && is(&rest[1], "count") {
            count = match args::int_arg(&rest[2]) {
                Ok(n) if n < 0 => 10,
                Ok(n) => n,
                Err(e) => return e,
            };
        } else if rest.len() > 1 {
            return sub_syntax("XINFO", &argv[1]);
        }
    }
    let b = |t: &'static str| Reply::Bulk(Bytes::from_static(t.as_bytes()));
    let (keys, nodes) = rax_shape(s);
    let mut m = vec![
        (b("length"), Reply::Integer(s.entries.len() as i64)),
        (b("radix-tree-keys"), Reply::Integer(keys)),
        (b("radix-tree-nodes"), Reply::Integer(nodes)),
        (b("last-generated-id"), s.last_id.reply()),
        (b("max-deleted-entry-id"), s.max_deleted.reply()),
        (b("entries-added"), Reply::Integer(s.entries_added as i64)),
        (b("recorded-first-entry-id"), s.first_id().reply()),
    ];
    if !full {
        m.push((b("groups"), Reply::Integer(s.groups.len() as i64)));
        let first = s.entries.iter().next();
        let last = s.entries.iter().next_back();
        m.push((
            b("first-entry"),
            first.map_or(Reply::Nil, |(id, e)| entry_reply(*id, &e.fields)),
        ));
        m.push((
            b("last-entry"),
            last.map_or(Reply::Nil, |(id, e)| entry_reply(*id, &e.fields)),
        ));
        return Reply::Map(m);
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    m.push((
        b("entries"),
        Reply::Array(range_reply(
            s,
            StreamId::MIN,
            StreamId::MAX,
            count as usize,
            false,
        )),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id.reply(),
                        Reply::Bulk(n.consumer.clone()),
                        Reply::Integer(n.delivery_time as i64),
                        Reply::Integer(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pel = c
                        .pel
                        .iter()
                        .take(limit)
                        .map(|id| {
                            let n = &g.pel[id];
                            Reply::Array(vec![
                                id.reply(),
                                Reply::Integer(n.delivery_time as i64),
                                Reply::Integer(n.delivery_count as i64),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        (b("name"), Reply::Bulk(cname.clone())),
                        (b("seen-time"), Reply::Integer(c.seen_time as i64)),
                        (b("pel-count"), Reply::Integer(c.pel.len() as i64)),
                        (b("pending"), Reply::Array(pel)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (b("name"), Reply::Bulk(name.clone())),
                (b("last-delivered-id"), g.last_id.reply()),
                (b("entries-read"), entries_read_reply(g.entries_read)),
                (b("lag"), group_lag(s, g).map_or(Reply::Nil, Reply::Integer)),
                (b("pel-count"), Reply::Integer(g.pel.len() as i64)),
                (b("pending"), Reply::Array(pending)),
                (b("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((b("groups"), Reply::Array(groups)));
    Reply::Map(m)
}

/// What XINFO STREAM reports as the radix tree's keys (the listpack
/// nodes) and nodes. The node count of a rax depends on how the 16-byte
/// keys share prefixes; this counts the distinct prefixes of the keys
/// cut where they branch, which is what a compressed radix tree holds.
fn rax_shape(s: &StreamData) -> (i64, i64) {
    let keys: Vec<[u8; 16]> = s.nodes.keys().map(|k| k.encode()).collect();
    let n = keys.len() as i64;
    if keys.is_empty() {
        return (0, 1);
    }
    // A compressed rax: one node per branching point plus one per key
    // (the key's end), plus the root.
    let mut nodes: i64 = 1;
    let mut prev: Option<&[u8; 16]> = None;
    for k in &keys {
        match prev {
            None => nodes += 1,
            Some(p) => {
                let common = p.iter().zip(k.iter()).take_while(|(a, b)| a == b).count();
                // A new branch at `common` (a split adds a node) and the leaf.
                nodes += if common < 16 { 2 } else { 1 };
            }
        }
        prev = Some(k);
    }
    if n == 1 {
        nodes = 2;
    }
    (n, nodes)
}
