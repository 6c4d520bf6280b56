//! What the hash, set and sorted-set families share: a compact member type,
//! the `*SCAN` cursor walk over a collection, content-deterministic random
//! picks and the dead-byte tally of member records.
//!
//! * SCAN order: members are visited in the order of [`scan_hash`] (the same
//!   fixed hash as the top-level SCAN); the cursor is the next hash to visit,
//!   so a member present during the whole iteration is returned at least once
//!   whatever is added or removed in between (Redis's guarantee). Collections
//!   that Redis keeps in a compact encoding (listpack, intset) are returned
//!   whole with cursor 0, as Redis does.
//! * Random picks (SPOP, SRANDMEMBER, HRANDFIELD) depend only on the content
//!   and `Ctx::rng_seed`, never on hash-table layout or insertion history, so
//!   that every replica (and a replica that restarted) picks the same members.

use std::hash::{Hash, Hasher};

use bytes::Bytes;

use super::db::scan_hash;
use super::glob;
use crate::command::args::{self, err, int_arg, is};
use crate::command::Reply;
use crate::storage::Location;

/// A member (or field) name: up to 22 bytes inline, longer ones on the heap.
/// 24 bytes in a table slot, no allocation for short members: this is what
/// keeps a set of 16-byte members near Redis's memory use.
#[derive(Clone)]
pub(crate) enum Member {
    /// Short member: length and bytes.
    Inline(u8, [u8; INLINE]),
    /// Longer member.
    Heap(Box<[u8]>),
}

/// Longest member kept inline.
const INLINE: usize = 22;

impl Member {
    /// The member's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Member::Inline(len, data) => &data[..usize::from(*len)],
            Member::Heap(b) => b,
        }
    }

    /// The member as `Bytes` (a copy).
    pub(crate) fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl From<&[u8]> for Member {
    fn from(b: &[u8]) -> Member {
        if b.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..b.len()].copy_from_slice(b);
            // b.len() <= 22 fits a u8.
            Member::Inline(b.len() as u8, data)
        } else {
            Member::Heap(b.into())
        }
    }
}

impl std::borrow::Borrow<[u8]> for Member {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Member) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Member {}

impl Hash for Member {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly as `[u8]` does (lookups borrow as `[u8]`).
        self.as_bytes().hash(state);
    }
}

/// Parsed `*SCAN key cursor [MATCH pattern] [COUNT count]` arguments.
pub(crate) struct ScanArgs {
    /// Where to resume (a [`scan_hash`] value; 0 = start).
    pub(crate) cursor: u64,
    /// MATCH pattern.
    pub(crate) pattern: Option<Bytes>,
    /// COUNT (default 10).
    pub(crate) count: usize,
}

/// Parses the cursor and options of HSCAN / SSCAN / ZSCAN (argv\[2..\]).
pub(crate) fn scan_args(argv: &[Bytes]) -> Result<ScanArgs, Reply> {
    let cursor = std::str::from_utf8(&argv[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| err("ERR invalid cursor"))?;
    let mut out = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
    };
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if is(&argv[j], "count") && more {
            let c = int_arg(&argv[j + 1])?;
            if c < 1 {
                return Err(err(args::SYNTAX));
            }
            out.count = usize::try_from(c).unwrap_or(usize::MAX);
        } else if is(&argv[j], "match") && more {
            out.pattern = Some(argv[j + 1].clone());
        } else {
            return Err(err(args::SYNTAX));
        }
        j += 2;
    }
    Ok(out)
}

/// One step of a cursor walk over `items` (in [`scan_hash`] order of
/// `name(item)`): returns the next cursor (0 = done) and the items of this
/// step that match the pattern. `whole` returns everything at once (compact
/// encodings). O(N) per call: the collections keep no hash-ordered index.
pub(crate) fn scan_step<'a, T>(
    items: impl Iterator<Item = T>,
    name: impl Fn(&T) -> &'a [u8],
    a: &ScanArgs,
    whole: bool,
) -> (u64, Vec<T>) {
    let keep = |t: &T| {
        a.pattern
            .as_ref()
            .map_or(true, |p| glob::matches(p, name(t)))
    };
    if whole {
        return (0, items.filter(keep).collect());
    }
    let mut total = 0usize;
    let mut rest: Vec<(u64, T)> = items
        .inspect(|_| total += 1)
        .map(|t| (scan_hash(name(&t)), t))
        .filter(|(h, _)| *h >= a.cursor)
        .collect();
    // Each call costs O(N) here (no hash-ordered index), so a step takes at
    // least 1/SCAN_STEPS of the collection: a full iteration stays O(N) x
    // SCAN_STEPS. COUNT is a hint in Redis too ("may return more").
    let count = a.count.max(total / SCAN_STEPS);
    if rest.len() <= count {
        return (0, rest.into_iter().map(|(_, t)| t).filter(keep).collect());
    }
    rest.select_nth_unstable_by_key(count, |(h, _)| *h);
    let pivot = rest[count].0;
    let mut next = pivot;
    let mut out: Vec<T> = Vec::new();
    let mut taken = 0usize;
    let mut later: Vec<(u64, T)> = Vec::new();
    for (h, t) in rest {
        if h < pivot {
            taken += 1;
            if keep(&t) {
                out.push(t);
            }
        } else {
            later.push((h, t));
        }
    }
    if taken == 0 {
        // Every candidate below the pivot shares its hash: take that group
        // whole (a cursor never splits equal hashes) and go past it.
        next = later
            .iter()
            .map(|(h, _)| *h)
            .filter(|h| *h > pivot)
            .min()
            .unwrap_or(0);
        out = later
            .into_iter()
            .filter(|(h, _)| *h == pivot)
            .map(|(_, t)| t)
            .filter(keep)
            .collect();
    }
    (next, out)
}

/// A full `*SCAN` iteration of a big collection takes about this many calls
/// at most (see [`scan_step`]).
const SCAN_STEPS: usize = 32;

/// The reply of a *SCAN step: `[cursor, [elements...]]`.
pub(crate) fn scan_reply(next: u64, elements: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(elements),
    ])
}

/// Orders `items` by a pseudo-random permutation that depends only on their
/// names and `seed` (content-deterministic: the same on every replica).
pub(crate) fn shuffle_by_content<'a, T>(items: &mut [T], name: impl Fn(&T) -> &'a [u8], seed: u64) {
    items.sort_by_cached_key(|t| content_order_key(name(t), seed));
}

/// The sort key of [`shuffle_by_content`]: the first item of that order is
/// the one with the smallest key (an O(N) single pick).
pub(crate) fn content_order_key(name: &[u8], seed: u64) -> (u64, &[u8]) {
    (scan_hash(name) ^ (seed >> 1), name)
}

/// Orders `items` by [`scan_hash`] of their names: a content-deterministic
/// order to pick from by index.
pub(crate) fn sort_by_content<'a, T>(items: &mut [T], name: impl Fn(&T) -> &'a [u8]) {
    items.sort_by_cached_key(|t| (scan_hash(name(t)), name(t)));
}

/// Bytes of member records per data file: how a set reports its records as
/// dead when it is dropped without keeping one `Location` per member.
#[derive(Default, Clone)]
pub(crate) struct FileTally {
    /// (file id, bytes of this value's live records in it).
    files: Vec<(u32, u64)>,
}

impl FileTally {
    /// A record of this value was written at `loc`.
    pub(crate) fn add(&mut self, loc: Location) {
        self.add_bytes(loc.file_id, u64::from(loc.len));
    }

    fn add_bytes(&mut self, file_id: u32, bytes: u64) {
        match self.files.iter_mut().find(|(f, _)| *f == file_id) {
            Some((_, b)) => *b += bytes,
            None => self.files.push((file_id, bytes)),
        }
    }

    /// `bytes` of this value's records died (file unknown: taken from the
    /// newest file that has them). Returns the tally of what was taken.
    pub(crate) fn take(&mut self, mut bytes: u64) -> FileTally {
        let mut out = FileTally::default();
        for (f, b) in self.files.iter_mut().rev() {
            if bytes == 0 {
                break;
            }
            let n = bytes.min(*b);
            *b -= n;
            bytes -= n;
            out.add_bytes(*f, n);
        }
        self.files.retain(|(_, b)| *b > 0);
        out
    }

    /// Merge moved a record of `old.len` bytes from `old` to `new`.
    pub(crate) fn moved(&mut self, old: Location, new: Location) {
        if let Some((_, b)) = self.files.iter_mut().find(|(f, _)| *f == old.file_id) {
            *b = b.saturating_sub(u64::from(old.len));
        }
        self.files.retain(|(_, b)| *b > 0);
        self.add(new);
    }

    /// Calls `f` with pseudo-locations covering every tallied byte.
    pub(crate) fn for_each(&self, f: &mut dyn FnMut(Location)) {
        for &(file_id, bytes) in &self.files {
            spans(file_id, bytes, f);
        }
    }
}

/// Calls `f` with pseudo-locations in `file_id` covering `bytes`.
fn spans(file_id: u32, mut bytes: u64, f: &mut dyn FnMut(Location)) {
    while bytes > 0 {
        let len = bytes.min(u64::from(u32::MAX));
        bytes -= len;
        f(Location {
            file_id,
            offset: 0,
            // len <= u32::MAX by the min above.
            len: len as u32,
        });
    }
}

/// The records one command overwrote or removed, summed per file, to be
/// marked dead once the value is no longer borrowed. The first file is
/// kept inline: a command whose dead records are all in one file (nearly
/// every one) allocates nothing.
#[derive(Default)]
pub(crate) struct DeadTally {
    first: Option<(u32, u64)>,
    rest: FileTally,
}

impl DeadTally {
    /// The record at `loc` died.
    pub(crate) fn add(&mut self, loc: Location) {
        match &mut self.first {
            None => self.first = Some((loc.file_id, u64::from(loc.len))),
            Some((f, b)) if *f == loc.file_id => *b += u64::from(loc.len),
            Some(_) => self.rest.add(loc),
        }
    }

    /// Calls `f` with pseudo-locations covering every tallied byte.
    pub(crate) fn for_each(&self, f: &mut dyn FnMut(Location)) {
        if let Some((file_id, bytes)) = self.first {
            spans(file_id, bytes, f);
        }
        self.rest.for_each(f);
    }
}

/// Bytes of one member record on disk: storage header (30 B, see
/// docs/storage-format.md) + record key (slot, key length, key, sub-key) + value.
pub(crate) fn record_bytes(key: &[u8], sub_len: usize, value_len: usize) -> u64 {
    (30 + 5 + key.len() + sub_len + value_len) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_tally_sums_per_file_and_covers_every_byte() {
        let loc = |file_id, len| Location {
            file_id,
            offset: 7,
            len,
        };
        let mut t = DeadTally::default();
        for l in [
            loc(3, 10),
            loc(3, 5),
            loc(4, 1),
            loc(3, 2),
            loc(5, 8),
            loc(4, 9),
        ] {
            t.add(l);
        }
        let mut got = std::collections::BTreeMap::new();
        t.for_each(&mut |l| *got.entry(l.file_id).or_insert(0u64) += u64::from(l.len));
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![(3, 17), (4, 10), (5, 8)]
        );
        let mut none = 0;
        DeadTally::default().for_each(&mut |_| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn member_is_compact_and_hashes_as_bytes() {
        assert_eq!(std::mem::size_of::<Member>(), 24);
        let short = Member::from(&b"abc"[..]);
        let long = Member::from(&[7u8; 40][..]);
        assert_eq!(short.as_bytes(), b"abc");
        assert_eq!(long.as_bytes(), &[7u8; 40][..]);
        let mut set = hashbrown::HashSet::new();
        set.insert(short);
        set.insert(long);
        assert!(set.contains(&b"abc"[..]));
        assert!(set.contains(&[7u8; 40][..]));
        assert!(!set.contains(&b"abd"[..]));
    }

    #[test]
    fn scan_step_visits_everything_once_without_changes() {
        let names: Vec<Vec<u8>> = (0..1000).map(|i| format!("m{i}").into_bytes()).collect();
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            let a = ScanArgs {
                cursor,
                pattern: None,
                count: 7,
            };
            let (next, got) = scan_step(names.iter(), |n| n.as_slice(), &a, false);
            for n in got {
                assert!(seen.insert(n.clone()), "returned twice");
            }
            if next == 0 {
                break;
            }
            assert!(next > cursor);
            cursor = next;
        }
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn scan_step_keeps_redis_guarantee_under_changes() {
        // Members 0..500 stay the whole time; others come and go between calls.
        let stable: Vec<Vec<u8>> = (0..500).map(|i| format!("s{i}").into_bytes()).collect();
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0u32;
        loop {
            let churn: Vec<Vec<u8>> = (0..300)
                .map(|i| format!("c{round}-{i}").into_bytes())
                .collect();
            let a = ScanArgs {
                cursor,
                pattern: None,
                count: 5,
            };
            let all = stable.iter().chain(churn.iter());
            let (next, got) = scan_step(all, |n| n.as_slice(), &a, false);
            seen.extend(got.into_iter().cloned());
            round += 1;
            if next == 0 {
                break;
            }
            cursor = next;
            assert!(round < 10_000, "scan does not terminate");
        }
        for m in &stable {
            assert!(
                seen.contains(m),
                "{m:?} present throughout but never returned"
            );
        }
    }

    #[test]
    fn tally_accounts_bytes() {
        let mut t = FileTally::default();
        t.add(Location {
            file_id: 1,
            offset: 0,
            len: 100,
        });
        t.add(Location {
            file_id: 2,
            offset: 0,
            len: 50,
        });
        let taken = t.take(70);
        let mut sum = 0;
        taken.for_each(&mut |l| sum += u64::from(l.len));
        assert_eq!(sum, 70);
        let mut rest = 0;
        t.for_each(&mut |l| rest += u64::from(l.len));
        assert_eq!(rest, 80);
    }
}
