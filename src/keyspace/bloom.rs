//! The Bloom family (RedisBloom's `BF.*`): BF.RESERVE BF.ADD BF.MADD
//! BF.EXISTS BF.MEXISTS BF.INFO BF.CARD, a scalable bloom filter built on the
//! `bloomfilter` crate.
//!
//! A filter is a stack of sub-filters; when the newest is full (items =
//! capacity), a new one is added with `capacity * expansion` and half the
//! error rate (RedisBloom's tightening), unless the filter is NONSCALING.
//! Every sub-filter's hash seed is fixed by its index, so the bits are a pure
//! function of the parameters and the sequence of items added.
//!
//! Persistence: `TAG_BLOOM_RESERVE` (sub-key = parameters) starts the
//! incarnation; each item that was new to the filter is one `TAG_BLOOM_ADD`
//! record (sub-key = the item). Replay re-adds the items in order and so
//! rebuilds the same bits. Items that were already present change nothing and
//! are not logged. RENAME / MOVE / COPY, which must re-log the filter under
//! another key without its items, write RESERVE plus `TAG_BLOOM_IMAGE`
//! records: each sub-filter serialized, in chunks of at most 256 KiB, in the
//! record KEY (hint files carry keys, not values).

use bloomfilter::Bloom;
use bytes::Bytes;

use super::db::{Db, Entry};
use super::journal::{
    FixTarget, Journal, RecordKey, TAG_BLOOM_ADD, TAG_BLOOM_IMAGE, TAG_BLOOM_RESERVE,
};
use super::replay::{incarnation, Load};
use super::value::Value;
use super::Exec;
use crate::command::args::{self, err, is};
use crate::command::table::cmd;
use crate::command::{Command, Reply};
use crate::storage::{Location, ReplayEntry};

/// The bloom commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!(
        "bf.reserve",
        -4,
        [write, denyoom],
        (1, 1, 1),
        "bf",
        "Creates a new Bloom Filter",
        "1.0.0",
        "O(1)",
        reserve
    ),
    cmd!(
        "bf.add",
        3,
        [write, denyoom],
        (1, 1, 1),
        "bf",
        "Adds an item to a Bloom Filter",
        "1.0.0",
        "O(k), where k is the number of hash functions used by the last sub-filter",
        add
    ),
    cmd!(
        "bf.madd",
        -3,
        [write, denyoom],
        (1, 1, 1),
        "bf",
        "Adds one or more items to a Bloom Filter. A filter will be created if it does not exist",
        "1.0.0",
        "O(k * n), where k is the number of hash functions and n is the number of items",
        madd
    ),
    cmd!(
        "bf.exists",
        3,
        [readonly],
        (1, 1, 1),
        "bf",
        "Checks whether an item exists in a Bloom Filter",
        "1.0.0",
        "O(k), where k is the number of hash functions used by the last sub-filter",
        exists
    ),
    cmd!(
        "bf.mexists",
        -3,
        [readonly],
        (1, 1, 1),
        "bf",
        "Checks whether one or more items exist in a Bloom Filter",
        "1.0.0",
        "O(k * n), where k is the number of hash functions and n is the number of items",
        mexists
    ),
    cmd!(
        "bf.info",
        -2,
        [readonly],
        (1, 1, 1),
        "bf",
        "Returns information about a Bloom Filter",
        "1.0.0",
        "O(1)",
        info
    ),
    cmd!(
        "bf.scandump",
        3,
        [readonly],
        (1, 1, 1),
        "bf",
        "Begins an incremental save of the bloom filter",
        "1.0.0",
        "O(n), where n is the capacity",
        scandump
    ),
    cmd!(
        "bf.loadchunk",
        4,
        [write, denyoom],
        (1, 1, 1),
        "bf",
        "Restores a filter previously saved using SCANDUMP",
        "1.0.0",
        "O(n), where n is the capacity",
        loadchunk
    ),
    cmd!(
        "bf.card",
        2,
        [readonly],
        (1, 1, 1),
        "bf",
        "Returns the cardinality of a Bloom filter",
        "2.4.4",
        "O(1)",
        card
    ),
];

/// RedisBloom's defaults for filters created by BF.ADD / BF.MADD.
const DEFAULT_ERROR_RATE: f64 = 0.01;
const DEFAULT_CAPACITY: u64 = 100;
const DEFAULT_EXPANSION: u32 = 2;
/// Largest bitmap of one sub-filter (Redis's 512 MiB value limit).
const MAX_FILTER_BYTES: usize = 512 << 20;
/// Most sub-filters one key may grow to.
const MAX_FILTERS: usize = 64;

/// Creation parameters (the BF.RESERVE arguments).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Params {
    error_rate: f64,
    capacity: u64,
    /// 0 = NONSCALING.
    expansion: u32,
}

impl Default for Params {
    /// What BF.ADD uses for a filter it creates (RedisBloom's defaults).
    fn default() -> Params {
        Params {
            error_rate: DEFAULT_ERROR_RATE,
            capacity: DEFAULT_CAPACITY,
            expansion: DEFAULT_EXPANSION,
        }
    }
}

impl Params {
    fn encode(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&self.error_rate.to_bits().to_be_bytes());
        out[8..16].copy_from_slice(&self.capacity.to_be_bytes());
        out[16..].copy_from_slice(&self.expansion.to_be_bytes());
        out
    }

    fn decode(sub: &[u8]) -> Option<Params> {
        let p = Params {
            error_rate: f64::from_bits(u64::from_be_bytes(sub.get(..8)?.try_into().ok()?)),
            capacity: u64::from_be_bytes(sub.get(8..16)?.try_into().ok()?),
            expansion: u32::from_be_bytes(sub.get(16..20)?.try_into().ok()?),
        };
        p.valid().then_some(p)
    }

    fn valid(&self) -> bool {
        self.error_rate > 0.0 && self.error_rate < 1.0 && self.capacity > 0
    }

    /// Capacity and error rate of sub-filter `i`, if it may exist.
    fn level(&self, i: usize) -> Option<(u64, f64)> {
        let grow = u64::from(self.expansion.max(1)).checked_pow(u32::try_from(i).ok()?)?;
        let capacity = self.capacity.checked_mul(grow)?;
        let error = self.error_rate * 0.5f64.powi(i32::try_from(i).ok()?);
        (error > 0.0).then_some((capacity, error))
    }
}

/// One sub-filter.
struct SubFilter {
    bits: Bloom<[u8]>,
    capacity: u64,
    items: u64,
}

impl SubFilter {
    /// Sub-filter `i` of a filter with `params`, or an error text.
    fn new(params: &Params, i: usize) -> Result<SubFilter, &'static str> {
        let (capacity, error) = params
            .level(i)
            .ok_or("ERR bloom filter cannot scale any further")?;
        let items = usize::try_from(capacity).map_err(|_| "ERR bad capacity")?;
        let bytes = bitmap_bytes(items, error).ok_or(TOO_BIG)?;
        let seed = [i as u8; 32];
        let bits = Bloom::new_with_seed(bytes, items, &seed).map_err(|_| "ERR bad capacity")?;
        Ok(SubFilter {
            bits,
            capacity,
            items: 0,
        })
    }
}

const TOO_BIG: &str = "ERR operation results in filter allocation exceeding size limit";

/// Bitmap bytes for `items` at error rate `error` (the crate's formula,
/// computed here so that absurd sizes are refused instead of allocated).
fn bitmap_bytes(items: usize, error: f64) -> Option<usize> {
    let ln2 = std::f64::consts::LN_2;
    let bytes = ((items as f64) * error.ln() / (-8.0 * ln2 * ln2)).ceil();
    (bytes.is_finite() && bytes >= 1.0 && bytes <= MAX_FILTER_BYTES as f64)
        .then_some(bytes as usize)
}

impl SubFilter {
    fn duplicate(&self) -> Option<SubFilter> {
        Some(SubFilter {
            bits: Bloom::from_slice(self.bits.as_slice()).ok()?,
            capacity: self.capacity,
            items: self.items,
        })
    }
}

/// Largest image chunk per record (the record key limit is 1 MiB).
const IMAGE_CHUNK: usize = 256 << 10;

/// A sub-filter image being reassembled at recovery.
struct Assembly {
    index: usize,
    capacity: u64,
    items: u64,
    buf: Vec<u8>,
}

/// A scalable bloom filter. The default (default parameters, no
/// sub-filter yet) is what recovery starts from when it meets an ADD record
/// before its filter's RESERVE.
#[derive(Default)]
pub(crate) struct BloomData {
    params: Params,
    filters: Vec<SubFilter>,
    /// Only during recovery: the image chunks of one sub-filter so far.
    assembly: Option<Box<Assembly>>,
}

super::value::boxed_value!(
    /// The value as the keyspace holds it (see `boxed_value`).
    BloomValue => BloomData
);

impl BloomValue {
    fn new(params: Params) -> Result<BloomValue, &'static str> {
        Ok(BloomValue(Box::new(BloomData {
            params,
            filters: vec![SubFilter::new(&params, 0)?],
            assembly: None,
        })))
    }

    /// Items inserted (BF.CARD).
    pub(crate) fn len(&self) -> usize {
        self.filters.iter().map(|f| f.items as usize).sum()
    }

    /// What OBJECT ENCODING answers.
    pub(crate) fn encoding(&self) -> &'static str {
        "raw"
    }

    fn contains(&self, item: &[u8]) -> bool {
        self.filters.iter().any(|f| f.bits.check(item))
    }

    /// Adds `item`: `Ok(true)` if it was new, `Ok(false)` if (probably)
    /// present, an error text if the filter is full and cannot grow.
    fn add(&mut self, item: &[u8]) -> Result<bool, &'static str> {
        if self.contains(item) {
            return Ok(false);
        }
        let full = self.filters.last().map_or(true, |f| f.items >= f.capacity);
        if full {
            if self.params.expansion == 0 {
                return Err("ERR non scaling filter is full");
            }
            if self.filters.len() >= MAX_FILTERS {
                return Err("ERR bloom object reached max number of filters");
            }
            let next = SubFilter::new(&self.params, self.filters.len())?;
            self.filters.push(next);
        }
        if let Some(last) = self.filters.last_mut() {
            last.bits.set(item);
            last.items += 1;
        }
        Ok(true)
    }

    fn total_capacity(&self) -> u64 {
        self.filters.iter().map(|f| f.capacity).sum()
    }

    fn size_bytes(&self) -> u64 {
        self.filters
            .iter()
            .map(|f| f.bits.len() / 8 + 64)
            .sum::<u64>()
            + 48
    }

    /// Bloom records are all live while their generation is: replay needs
    /// every new item. Their locations are not tracked.
    pub(crate) fn for_each_location(&self, _f: &mut dyn FnMut(Location)) {}

    /// Where each image chunk comes from, in order: (filter index, filter,
    /// chunk number, its bytes). Cheap: nothing is copied until
    /// [`image_record`] builds a chunk.
    fn image_parts(&self) -> impl Iterator<Item = (usize, &SubFilter, usize, &[u8])> {
        self.filters.iter().enumerate().flat_map(|(index, f)| {
            f.bits
                .as_slice()
                .chunks(IMAGE_CHUNK)
                .enumerate()
                .map(move |(n, chunk)| (index, f, n, chunk))
        })
    }

    /// RESERVE plus the image chunks of every sub-filter.
    pub(crate) fn rewrite(&self, at: &RecordKey<'_>, expire_at_ms: u64, journal: &mut Journal) {
        journal.put(
            TAG_BLOOM_RESERVE,
            at,
            &self.params.encode(),
            expire_at_ms,
            &Bytes::new(),
            FixTarget::None,
        );
        for part in self.image_parts() {
            let sub = image_record(part);
            journal.put(
                TAG_BLOOM_IMAGE,
                at,
                &sub,
                expire_at_ms,
                &Bytes::new(),
                FixTarget::None,
            );
        }
    }

    /// Applies one image chunk (recovery).
    fn apply_image(&mut self, sub: &[u8]) -> Option<()> {
        let word = |r: std::ops::Range<usize>| -> Option<u64> {
            Some(u64::from_be_bytes(sub.get(r)?.try_into().ok()?))
        };
        let index = u32::from_be_bytes(sub.get(..4)?.try_into().ok()?) as usize;
        let (capacity, items, total, offset) =
            (word(4..12)?, word(12..20)?, word(20..28)?, word(28..36)?);
        let chunk = &sub[36..];
        if offset == 0 {
            self.assembly = Some(Box::new(Assembly {
                index,
                capacity,
                items,
                buf: Vec::with_capacity(usize::try_from(total).ok()?.min(MAX_FILTER_BYTES + 64)),
            }));
        }
        let asm = self.assembly.as_mut()?;
        if asm.index != index || asm.buf.len() as u64 != offset {
            return None;
        }
        asm.buf.extend_from_slice(chunk);
        if asm.buf.len() as u64 == total {
            let asm = self.assembly.take()?;
            let filter = SubFilter {
                bits: Bloom::from_bytes(asm.buf).ok()?,
                capacity: asm.capacity,
                items: asm.items,
            };
            match index.cmp(&self.filters.len()) {
                std::cmp::Ordering::Less => self.filters[index] = filter,
                std::cmp::Ordering::Equal => self.filters.push(filter),
                std::cmp::Ordering::Greater => return None,
            }
        }
        Some(())
    }

    /// A deep copy.
    pub(crate) fn duplicate(&self) -> BloomValue {
        BloomValue(Box::new(BloomData {
            params: self.params,
            filters: self
                .filters
                .iter()
                .filter_map(SubFilter::duplicate)
                .collect(),
            assembly: None,
        }))
    }

    /// Bloom records carry no value to locate.
    pub(crate) fn set_location(&mut self, _target: &FixTarget, _loc: Location) {}

    /// Every record of the current generation is needed.
    pub(crate) fn is_live(&self, _sub: &[u8], _loc: Location) -> bool {
        true
    }

    /// Nothing points at record locations.
    pub(crate) fn relocate(&mut self, _sub: &[u8], _old: Location, _new: Location) {}

    /// Bloom records carry no value.
    pub(crate) fn fill(&mut self, _target: &FixTarget, _loc: Location, _bytes: Bytes) {}
}

/// The BLOOM_IMAGE sub-key of one chunk: filter index, capacity, items,
/// the filter's total length and the chunk's offset, then its bytes.
fn image_record((index, f, n, chunk): (usize, &SubFilter, usize, &[u8])) -> Vec<u8> {
    let mut sub = Vec::with_capacity(36 + chunk.len());
    sub.extend_from_slice(&(index as u32).to_be_bytes());
    sub.extend_from_slice(&f.capacity.to_be_bytes());
    sub.extend_from_slice(&f.items.to_be_bytes());
    sub.extend_from_slice(&(f.bits.as_slice().len() as u64).to_be_bytes());
    sub.extend_from_slice(&((n * IMAGE_CHUNK) as u64).to_be_bytes());
    sub.extend_from_slice(chunk);
    sub
}

/// Applies a replayed bloom record.
pub(crate) fn replay(
    db: &mut Db,
    _slot: usize,
    key: &[u8],
    sub: &[u8],
    e: &ReplayEntry<'_>,
    _loads: &mut Vec<Load>,
) -> Result<(), String> {
    if e.tag == TAG_BLOOM_RESERVE {
        let params = Params::decode(sub).ok_or("bad bloom parameters")?;
        let value = BloomValue::new(params).map_err(str::to_owned)?;
        let current = db.get(key).map(|entry| entry.gen);
        if current.map_or(true, |g| g < e.gen) {
            db.insert(
                &Bytes::copy_from_slice(key),
                Entry {
                    value: Value::Bloom(value),
                    expire_at_ms: e.expire_at_ms,
                    gen: e.gen,
                },
            );
        }
        return Ok(());
    }
    // An ADD without its RESERVE cannot happen (same batch); ignore stale ones.
    let Some(entry) = incarnation(db, key, e.gen, e.expire_at_ms, || {
        Value::Bloom(BloomValue::default())
    }) else {
        return Ok(());
    };
    match &mut entry.value {
        Value::Bloom(b) if e.tag == TAG_BLOOM_IMAGE => b
            .apply_image(sub)
            .ok_or_else(|| "bad bloom image chunk".to_owned()),
        Value::Bloom(b) => {
            if b.filters.is_empty() {
                return Err("bloom item before its filter".to_owned());
            }
            b.add(sub).map(|_| ()).map_err(str::to_owned)
        }
        _ => Err("bloom record for a key of another type".to_owned()),
    }
}

/// The bloom filter at `key`: `Ok(None)` if absent, WRONGTYPE if another type.
fn get_bloom<'e>(ex: &'e mut Exec<'_>, key: &[u8]) -> Result<Option<&'e mut Entry>, Reply> {
    match ex.entry(key) {
        None => Ok(None),
        Some(e) if matches!(e.value, Value::Bloom(_)) => Ok(Some(e)),
        Some(_) => Err(err(args::WRONGTYPE)),
    }
}

/// Creates the filter at `key` and logs its RESERVE record.
fn create(ex: &mut Exec<'_>, key: &Bytes, params: Params) -> Result<(), Reply> {
    let value = BloomValue::new(params).map_err(err)?;
    let at = ex.replace_in(ex.db, key, Value::Bloom(value), 0);
    ex.journal.put(
        TAG_BLOOM_RESERVE,
        &at,
        &params.encode(),
        0,
        &Bytes::new(),
        FixTarget::None,
    );
    Ok(())
}

fn reserve(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let Some(error_rate) = args::parse_f64(&argv[2]) else {
        return err("ERR bad error rate");
    };
    let capacity = match args::parse_i64(&argv[3]) {
        Some(c) if c <= 0 => return err("ERR (capacity should be larger than 0)"),
        Some(c) => c as u64,
        None => return err("ERR bad capacity"),
    };
    if !(error_rate > 0.0 && error_rate < 1.0) {
        return err("ERR (0 < error rate range < 1)");
    }
    let mut expansion = DEFAULT_EXPANSION;
    let mut nonscaling = false;
    let mut j = 4;
    while j < argv.len() {
        if is(&argv[j], "nonscaling") {
            nonscaling = true;
            j += 1;
        } else if is(&argv[j], "expansion") {
            expansion = match argv
                .get(j + 1)
                .and_then(|a| args::parse_i64(a))
                .and_then(|v| u32::try_from(v).ok())
            {
                Some(v) if v >= 1 => v,
                _ => return err("ERR bad expansion"),
            };
            j += 2;
        } else {
            return err("ERR unknown argument received");
        }
    }
    let key = &argv[1];
    match get_bloom(ex, key) {
        Err(e) => return e,
        Ok(Some(_)) => return err("ERR item exists"),
        Ok(None) => {}
    }
    let params = Params {
        error_rate,
        capacity,
        expansion: if nonscaling { 0 } else { expansion },
    };
    match create(ex, key, params) {
        Ok(()) => Reply::ok(),
        Err(e) => e,
    }
}

/// Adds items, creating the filter with defaults; one reply per item.
fn add_items(ex: &mut Exec<'_>, key: &Bytes, items: &[Bytes]) -> Result<Vec<Reply>, Reply> {
    // Items go into record keys: refuse what the log could not store,
    // before anything changes.
    if items.iter().any(|i| i.len() > ex.max_sub_len()) {
        return Err(Reply::Error(format!(
            "ERR item is too long (at most {} bytes)",
            ex.max_sub_len()
        )));
    }
    if get_bloom(ex, key)?.is_none() {
        create(ex, key, Params::default())?;
    }
    let slot = ex.slot();
    let mut replies = Vec::with_capacity(items.len());
    let mut added = Vec::new();
    let (gen, expire) = {
        let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
            return Ok(replies);
        };
        let Value::Bloom(b) = &mut entry.value else {
            return Err(err(args::WRONGTYPE));
        };
        for item in items {
            match b.add(item) {
                Ok(true) => {
                    added.push(item.clone());
                    replies.push(Reply::Integer(1));
                }
                Ok(false) => replies.push(Reply::Integer(0)),
                Err(e) => replies.push(err(e)),
            }
        }
        (entry.gen, entry.expire_at_ms)
    };
    let at = ex.at(key, gen);
    for item in &added {
        ex.journal.put(
            TAG_BLOOM_ADD,
            &at,
            item,
            expire,
            &Bytes::new(),
            FixTarget::None,
        );
    }
    if !added.is_empty() {
        ex.modified(key);
    }
    Ok(replies)
}

fn add(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match add_items(ex, &argv[1], &argv[2..3]) {
        Ok(mut r) if r.len() == 1 => r.remove(0),
        Ok(_) => err("ERR internal error"),
        Err(e) => e,
    }
}

fn madd(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match add_items(ex, &argv[1], &argv[2..]) {
        Ok(r) => Reply::Array(r),
        Err(e) => e,
    }
}

fn check(ex: &mut Exec<'_>, key: &[u8], items: &[Bytes]) -> Result<Vec<Reply>, Reply> {
    let entry = get_bloom(ex, key)?;
    Ok(items
        .iter()
        .map(|item| {
            let hit = match entry.as_deref() {
                Some(Entry {
                    value: Value::Bloom(b),
                    ..
                }) => b.contains(item),
                _ => false,
            };
            Reply::Integer(i64::from(hit))
        })
        .collect())
}

fn exists(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match check(ex, &argv[1], &argv[2..3]) {
        Ok(mut r) if r.len() == 1 => r.remove(0),
        Ok(_) => err("ERR internal error"),
        Err(e) => e,
    }
}

fn mexists(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match check(ex, &argv[1], &argv[2..]) {
        Ok(r) => Reply::Array(r),
        Err(e) => e,
    }
}

fn info(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return args::arity_error("bf.info");
    }
    let b = match get_bloom(ex, &argv[1]) {
        Ok(Some(Entry {
            value: Value::Bloom(b),
            ..
        })) => b,
        Ok(_) => return err("ERR not found"),
        Err(e) => return e,
    };
    let expansion = match b.params.expansion {
        0 => Reply::Nil,
        x => Reply::Integer(i64::from(x)),
    };
    let fields = [
        (
            "Capacity",
            "capacity",
            Reply::Integer(b.total_capacity() as i64),
        ),
        ("Size", "size", Reply::Integer(b.size_bytes() as i64)),
        (
            "Number of filters",
            "filters",
            Reply::Integer(b.filters.len() as i64),
        ),
        (
            "Number of items inserted",
            "items",
            Reply::Integer(b.len() as i64),
        ),
        ("Expansion rate", "expansion", expansion),
    ];
    match argv.get(2) {
        None => Reply::Map(
            fields
                .into_iter()
                .map(|(label, _, v)| (Reply::Simple(label.to_owned().into()), v))
                .collect(),
        ),
        Some(which) => match fields.into_iter().find(|(_, name, _)| is(which, name)) {
            Some((_, _, v)) => Reply::Array(vec![v]),
            None => err("ERR Invalid information value"),
        },
    }
}

/// `BF.SCANDUMP key iterator`: iterator 0 starts; each reply is
/// `[next, chunk]` and `[0, ""]` ends. Each call builds only its own chunk. Chunk 1 holds the parameters, the
/// others the image of the sub-filters (the format of the log's own image
/// records, docs/storage-format.md), so `BF.LOADCHUNK` replays them as
/// recovery would.
fn scandump(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let Some(iter) = args::parse_i64(&argv[2]).filter(|i| *i >= 0) else {
        return err("ERR invalid iterator");
    };
    let b = match get_bloom(ex, &argv[1]) {
        Err(e) => return e,
        Ok(None) => return err("ERR not found"),
        Ok(Some(Entry {
            value: Value::Bloom(b),
            ..
        })) => b,
        Ok(Some(_)) => return err(args::WRONGTYPE),
    };
    let chunk = match iter {
        0 => Some(b.params.encode().to_vec()),
        n => b.image_parts().nth(n as usize - 1).map(image_record),
    };
    match chunk {
        Some(c) => Reply::Array(vec![Reply::Integer(iter + 1), Reply::bulk(c)]),
        None => Reply::Array(vec![Reply::Integer(0), Reply::bulk(Bytes::new())]),
    }
}

/// `BF.LOADCHUNK key iterator data`: iterator 1 (the parameters) creates
/// the filter, replacing a filter already there; later chunks fill it in.
fn loadchunk(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let Some(iter) = args::parse_i64(&argv[2]).filter(|i| *i >= 1) else {
        return err("ERR invalid iterator");
    };
    let (key, data) = (&argv[1], &argv[3]);
    if data.len() > ex.max_sub_len() {
        return err("ERR received bad data");
    }
    if iter == 1 {
        let Some(params) = Params::decode(data) else {
            return err("ERR received bad data");
        };
        if let Err(e) = get_bloom(ex, key) {
            return e;
        }
        return match create(ex, key, params) {
            Ok(()) => Reply::ok(),
            Err(e) => e,
        };
    }
    let (gen, expire) = match get_bloom(ex, key) {
        Err(e) => return e,
        Ok(None) => return err("ERR invalid chunk - Too big for current filter"),
        Ok(Some(entry)) => {
            let Value::Bloom(b) = &mut entry.value else {
                return err(args::WRONGTYPE);
            };
            if b.apply_image(data).is_none() {
                b.assembly = None;
                return err("ERR received bad data");
            }
            (entry.gen, entry.expire_at_ms)
        }
    };
    let at = ex.at(key, gen);
    ex.journal.put(
        TAG_BLOOM_IMAGE,
        &at,
        data,
        expire,
        &Bytes::new(),
        FixTarget::None,
    );
    ex.modified(key);
    Reply::ok()
}

fn card(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get_bloom(ex, &argv[1]) {
        Ok(Some(Entry {
            value: Value::Bloom(b),
            ..
        })) => Reply::Integer(b.len() as i64),
        Ok(_) => Reply::Integer(0),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip() {
        let p = Params {
            error_rate: 0.001,
            capacity: 1000,
            expansion: 0,
        };
        assert_eq!(Params::decode(&p.encode()), Some(p));
        assert_eq!(Params::decode(&[0u8; 5]), None);
    }

    #[test]
    fn scaling_keeps_old_items_and_nonscaling_fills_up() {
        let mut b = BloomValue::new(Params {
            error_rate: 0.01,
            capacity: 10,
            expansion: 2,
        })
        .expect("filter");
        for i in 0..100u32 {
            b.add(&i.to_be_bytes()).expect("add");
        }
        assert!(b.filters.len() > 1);
        for i in 0..100u32 {
            assert!(b.contains(&i.to_be_bytes()), "lost item {i}");
        }
        let mut n = BloomValue::new(Params {
            error_rate: 0.01,
            capacity: 2,
            expansion: 0,
        })
        .expect("filter");
        assert_eq!(n.add(b"a"), Ok(true));
        assert_eq!(n.add(b"b"), Ok(true));
        assert_eq!(n.add(b"a"), Ok(false));
        assert_eq!(n.add(b"c"), Err("ERR non scaling filter is full"));
    }

    #[test]
    fn absurd_sizes_are_refused() {
        assert!(BloomValue::new(Params {
            error_rate: 1e-300,
            capacity: u64::from(u32::MAX),
            expansion: 2,
        })
        .is_err());
    }
}
