//! What the hash, set and sorted-set families share: a compact member type,
//! the `*SCAN` cursor walk over a collection, content-deterministic random
//! picks and the dead-byte tally of member records.
//!
//! * SCAN order: a hash-table collection keeps its members in a
//!   [`ScanMap`], in the order of their hash; the cursor is the next hash to
//!   visit, so a member present during the whole iteration is returned
//!   exactly once whatever is added or removed in between (Redis promises
//!   at least once), in O(COUNT) per call. Collections that Redis keeps in a
//!   compact encoding (listpack, intset) are returned whole with cursor 0,
//!   as Redis does.
//! * Random picks (SPOP, SRANDMEMBER, HRANDFIELD) depend only on the content
//!   and `Ctx::rng_seed`, never on hash-table layout or insertion history, so
//!   that every replica (and a replica that restarted) picks the same members.

use bytes::Bytes;

use super::glob;
use super::scanmap::ScanMap;
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
    /// Longer member held in two places (a sorted set's table and its
    /// tree): one copy of its bytes for both.
    Shared(std::sync::Arc<[u8]>),
}

/// Longest member kept inline.
const INLINE: usize = 22;

impl Member {
    /// The member's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Member::Inline(len, data) => &data[..usize::from(*len)],
            Member::Heap(b) => b,
            Member::Shared(b) => b,
        }
    }

    /// `b` as a member whose clones share its bytes (inline when short).
    pub(crate) fn shared(b: &[u8]) -> Member {
        if b.len() <= INLINE {
            Member::from(b)
        } else {
            Member::Shared(b.into())
        }
    }

    /// The member as `Bytes` (a copy).
    pub(crate) fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl AsRef<[u8]> for Member {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Default for Member {
    /// The empty member (inline, no allocation).
    fn default() -> Member {
        Member::Inline(0, [0; INLINE])
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

/// Parsed `*SCAN key cursor [MATCH pattern] [COUNT count]` arguments.
pub(crate) struct ScanArgs {
    /// Where to resume (a member hash, see [`ScanMap::scan`]; 0 = start).
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

/// The items of a collection that Redis keeps in a compact encoding
/// (listpack, intset) and scans whole, cursor 0: those that match the
/// pattern.
pub(crate) fn scan_whole<'a, T>(
    items: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> &'a [u8],
    a: &ScanArgs,
) -> Vec<T> {
    items.into_iter().filter(|t| matches(a, name(t))).collect()
}

/// One `*SCAN` step over a hash-table collection: about `COUNT` members
/// from the cursor on (see [`ScanMap::scan`]), those that match the
/// pattern, and the next cursor. COUNT counts the members visited, as in
/// Redis, so a step may return fewer than COUNT.
pub(crate) fn scan_map<'m, V>(
    map: &'m ScanMap<V>,
    a: &ScanArgs,
) -> (u64, Vec<(&'m Member, &'m V)>) {
    let (next, mut got) = map.scan(a.cursor, a.count);
    got.retain(|(m, _)| matches(a, m.as_bytes()));
    (next, got)
}

fn matches(a: &ScanArgs, name: &[u8]) -> bool {
    a.pattern.as_ref().map_or(true, |p| glob::matches(p, name))
}

/// The reply of a *SCAN step: `[cursor, [elements...]]`.
pub(crate) fn scan_reply(next: u64, elements: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(elements),
    ])
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
    fn member_is_compact() {
        assert_eq!(std::mem::size_of::<Member>(), 24);
        let short = Member::from(&b"abc"[..]);
        let long = Member::from(&[7u8; 40][..]);
        assert_eq!(short.as_bytes(), b"abc");
        assert_eq!(long.as_bytes(), &[7u8; 40][..]);
    }

    #[test]
    fn scan_map_visits_count_members_a_step_and_filters_by_pattern() {
        let mut map = ScanMap::default();
        for i in 0..1000 {
            map.insert(format!("m{i}").as_bytes(), ());
        }
        let pattern = Some(Bytes::from_static(b"m1*"));
        let mut seen = std::collections::BTreeSet::new();
        let (mut cursor, mut steps) = (0, 0);
        loop {
            let a = ScanArgs {
                cursor,
                pattern: pattern.clone(),
                count: 10,
            };
            let (next, got) = scan_map(&map, &a);
            // COUNT members visited per step; those matching are returned.
            assert!(got.len() <= 10);
            for (m, _) in got {
                assert!(m.as_bytes().starts_with(b"m1"));
                assert!(seen.insert(m.as_bytes().to_vec()), "returned twice");
            }
            steps += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(steps, 100, "1000 members at COUNT 10");
        // m1, m10..m19, m100..m199.
        assert_eq!(seen.len(), 111);
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
