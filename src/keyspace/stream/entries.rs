//! The entries of a stream in id order, in chunks (the role of Redis's
//! listpack nodes in memory).
//!
//! ```text
//! chunks (VecDeque):  [ (id, entry) x <=64 ] [ (id, entry) x <=64 ] ...
//!                       ids ascending within a chunk and across chunks
//! ```
//!
//! A `BTreeMap<StreamId, StreamEntry>` cost ~116 bytes an entry: its
//! leaves stay about half full under appends (a split leaves the left leaf
//! with half its slots and appends never come back to it). Here an entry is
//! its 48-byte pair in a chunk that appends fill to exactly [`CHUNK`]
//! (a `VecDeque` grown by doubling up to a power of two). XADD appends to
//! the last chunk; trims take entries from the first (O(1) each: a chunk is
//! a deque); XDEL and out-of-order
//! replay (after a merge) remove or insert inside one chunk, which splits
//! past [`MAX_CHUNK`]. A lookup is a binary search over the chunks' first
//! ids, then one inside the chunk. No chunk is empty.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

use super::{StreamEntry, StreamId};

/// Entries a chunk takes by appends before the next chunk starts (a power
/// of two: the chunk's `Vec` then ends with no spare capacity).
const CHUNK: usize = 64;

/// A chunk grown past this by inserts in the middle splits in two.
const MAX_CHUNK: usize = 2 * CHUNK;

/// A stream's entries by id (see the module docs).
#[derive(Default)]
pub(crate) struct Entries {
    chunks: VecDeque<VecDeque<(StreamId, StreamEntry)>>,
    len: usize,
}

/// A place between entries: chunk, then index in the chunk.
type Pos = (usize, usize);

impl Entries {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The smallest id.
    pub(crate) fn first_id(&self) -> Option<StreamId> {
        self.chunks.front().map(|c| c[0].0)
    }

    /// The largest id.
    pub(crate) fn last_id(&self) -> Option<StreamId> {
        self.chunks.back().and_then(|c| c.back()).map(|e| e.0)
    }

    /// Where `id` is: chunk and index.
    fn find(&self, id: StreamId) -> Option<Pos> {
        let k = self
            .chunks
            .partition_point(|c| c[0].0 <= id)
            .checked_sub(1)?;
        let i = self.chunks[k].binary_search_by_key(&id, |e| e.0).ok()?;
        Some((k, i))
    }

    /// The entry of `id`.
    pub(crate) fn get(&self, id: &StreamId) -> Option<&StreamEntry> {
        self.find(*id).map(|(k, i)| &self.chunks[k][i].1)
    }

    /// The entry of `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: &StreamId) -> Option<&mut StreamEntry> {
        self.find(*id).map(|(k, i)| &mut self.chunks[k][i].1)
    }

    /// Whether `id` is present.
    pub(crate) fn contains_key(&self, id: &StreamId) -> bool {
        self.find(*id).is_some()
    }

    /// Inserts or replaces; returns the entry replaced.
    pub(crate) fn insert(&mut self, id: StreamId, entry: StreamEntry) -> Option<StreamEntry> {
        if self.last_id().map_or(true, |last| id > last) {
            // An append, as XADD makes.
            match self.chunks.back_mut() {
                Some(c) if c.len() < CHUNK => c.push_back((id, entry)),
                _ => {
                    if let Some(c) = self.chunks.back_mut() {
                        c.shrink_to_fit();
                    }
                    self.chunks.push_back(VecDeque::from([(id, entry)]));
                }
            }
            self.len += 1;
            return None;
        }
        // Before the last: into the chunk whose range holds it (the
        // first when it comes before every entry).
        let k = self
            .chunks
            .partition_point(|c| c[0].0 <= id)
            .saturating_sub(1);
        let c = &mut self.chunks[k];
        match c.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => return Some(std::mem::replace(&mut c[i].1, entry)),
            Err(i) => c.insert(i, (id, entry)),
        }
        if c.len() > MAX_CHUNK {
            let tail = c.split_off(c.len() / 2);
            c.shrink_to_fit();
            self.chunks.insert(k + 1, tail);
        }
        self.len += 1;
        None
    }

    /// Removes `id`; returns its entry.
    pub(crate) fn remove(&mut self, id: &StreamId) -> Option<StreamEntry> {
        let (k, i) = self.find(*id)?;
        let c = &mut self.chunks[k];
        let (_, e) = c.remove(i)?;
        if c.is_empty() {
            self.chunks.remove(k);
        } else if c.len() * 4 < c.capacity() && c.capacity() > 8 {
            // Mostly deleted (XDEL): give the room back.
            c.shrink_to_fit();
        }
        self.len -= 1;
        Some(e)
    }

    /// Removes the first entry (a trim): O(1), no search.
    pub(crate) fn pop_first(&mut self) -> Option<(StreamId, StreamEntry)> {
        let c = self.chunks.front_mut()?;
        let first = c.pop_front();
        if c.is_empty() {
            self.chunks.pop_front();
        }
        self.len -= usize::from(first.is_some());
        first
    }

    /// The first place whose id is not `before` (ids `before` come first:
    /// a prefix).
    fn place(&self, before: impl Fn(StreamId) -> bool) -> Pos {
        let k = self
            .chunks
            .partition_point(|c| c.back().is_some_and(|e| before(e.0)));
        match self.chunks.get(k) {
            Some(c) => (k, c.partition_point(|e| before(e.0))),
            None => (k, 0),
        }
    }

    /// The entries whose ids are in `range`, in id order (and reversible).
    pub(crate) fn range(
        &self,
        range: impl RangeBounds<StreamId>,
    ) -> impl DoubleEndedIterator<Item = (&StreamId, &StreamEntry)> {
        let start = match range.start_bound() {
            Bound::Included(a) => self.place(|id| id < *a),
            Bound::Excluded(a) => self.place(|id| id <= *a),
            Bound::Unbounded => (0, 0),
        };
        let end = match range.end_bound() {
            Bound::Included(b) => self.place(|id| id <= *b),
            Bound::Excluded(b) => self.place(|id| id < *b),
            Bound::Unbounded => (self.chunks.len(), 0),
        };
        // An empty range (bounds crossed) starts where it ends.
        let start = start.min(end);
        let last = end.0.min(self.chunks.len().saturating_sub(1));
        let chunks = if start.0 < self.chunks.len() {
            self.chunks.range(start.0..=last)
        } else {
            self.chunks.range(0..0)
        };
        chunks.enumerate().flat_map(move |(j, c)| {
            let k = start.0 + j;
            let lo = if k == start.0 { start.1 } else { 0 };
            let hi = if k == end.0 { end.1 } else { c.len() };
            c.range(lo..hi).map(|(id, e)| (id, e))
        })
    }

    /// Every entry in id order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &StreamEntry)> {
        self.chunks.iter().flatten().map(|(id, e)| (id, e))
    }

    /// Every entry's value in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &StreamEntry> {
        self.iter().map(|(_, e)| e)
    }
}

impl std::ops::Index<&StreamId> for Entries {
    type Output = StreamEntry;

    fn index(&self, id: &StreamId) -> &StreamEntry {
        self.get(id).expect("no stream entry of this id")
    }
}

impl FromIterator<(StreamId, StreamEntry)> for Entries {
    fn from_iter<I: IntoIterator<Item = (StreamId, StreamEntry)>>(iter: I) -> Entries {
        let mut out = Entries::default();
        for (id, e) in iter {
            out.insert(id, e);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ops::Bound;

    use proptest::prelude::*;

    use super::*;
    use crate::keyspace::stream::Fields;
    use crate::keyspace::value::SlimLoc;

    fn id(n: u16) -> StreamId {
        StreamId {
            ms: u64::from(n / 4),
            seq: u64::from(n % 4),
        }
    }

    fn entry(n: u16) -> StreamEntry {
        StreamEntry {
            fields: Fields::of(&[n.to_string(), "v".into()]),
            loc: SlimLoc::None,
        }
    }

    fn tag(e: &StreamEntry) -> Vec<Vec<u8>> {
        e.fields.iter().map(<[u8]>::to_vec).collect()
    }

    fn bound(kind: u8, n: u16) -> Bound<StreamId> {
        match kind % 3 {
            0 => Bound::Included(id(n)),
            1 => Bound::Excluded(id(n)),
            _ => Bound::Unbounded,
        }
    }

    /// Every entry, forward, the same as the model's.
    fn same(e: &Entries, m: &BTreeMap<StreamId, Vec<Vec<u8>>>) {
        let got: Vec<_> = e.iter().map(|(i, x)| (*i, tag(x))).collect();
        let want: Vec<_> = m.iter().map(|(i, x)| (*i, x.clone())).collect();
        assert_eq!(got, want);
        assert_eq!(e.len(), m.len());
        assert_eq!(e.first_id(), m.keys().next().copied());
        assert_eq!(e.last_id(), m.keys().next_back().copied());
        assert!(e
            .chunks
            .iter()
            .all(|c| !c.is_empty() && c.len() <= MAX_CHUNK));
    }

    /// Inserts in descending order (every one before the first entry, as
    /// a replay in reverse would make): the chunk splits, order holds.
    #[test]
    fn inserts_before_the_first_split_chunks() {
        let mut e = Entries::default();
        let mut m = BTreeMap::new();
        for n in (0..1000u16).rev() {
            e.insert(id(n), entry(n));
            m.insert(id(n), tag(&entry(n)));
        }
        same(&e, &m);
        assert!(e.chunks.len() >= 1000 / MAX_CHUNK);
        for n in (0..1000u16).step_by(7) {
            assert_eq!(e.get(&id(n)).map(tag), m.get(&id(n)).cloned());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Appends (XADD), inserts anywhere (replay after a merge),
        /// removals (XDEL, trims) and ranges of every bound kind, forward
        /// and backward, against a `BTreeMap`.
        #[test]
        fn matches_a_btreemap(ops in proptest::collection::vec((0u8..8, 0u16..2000, 0u16..2000, 0u8..9), 1..2500)) {
            let mut e = Entries::default();
            let mut m = BTreeMap::new();
            let mut next = 0u16;
            for (op, a, b, kinds) in ops {
                match op {
                    0..=2 => {
                        // Append past the last id.
                        next = next.saturating_add(1 + a % 3);
                        prop_assert!(e.insert(id(next), entry(next)).is_none());
                        m.insert(id(next), tag(&entry(next)));
                    }
                    3 => {
                        // Half of them into a narrow span, so that chunks
                        // there grow past their cap and split.
                        let a = if kinds % 2 == 0 { a } else { a % 160 };
                        next = next.max(a);
                        let old = e.insert(id(a), entry(b)).map(|x| tag(&x));
                        prop_assert_eq!(old, m.insert(id(a), tag(&entry(b))));
                    }
                    4 => {
                        let got = e.remove(&id(a)).map(|x| tag(&x));
                        prop_assert_eq!(got, m.remove(&id(a)));
                    }
                    5 => {
                        // Trim from the front, by id or by popping.
                        for _ in 0..(a % 80) {
                            let Some(first) = e.first_id() else { break };
                            if b % 2 == 0 {
                                prop_assert!(e.remove(&first).is_some());
                            } else {
                                prop_assert_eq!(e.pop_first().map(|x| x.0), Some(first));
                            }
                            m.remove(&first);
                        }
                    }
                    6 => {
                        prop_assert_eq!(e.get(&id(a)).map(tag), m.get(&id(a)).cloned());
                        prop_assert_eq!(e.contains_key(&id(b)), m.contains_key(&id(b)));
                        if let Some(x) = e.get_mut(&id(a)) {
                            *x = entry(b);
                            m.insert(id(a), tag(&entry(b)));
                        }
                    }
                    _ => {
                        let (lo, hi) = (bound(kinds, a), bound(kinds / 3, b));
                        // BTreeMap panics on crossed or equal-excluded bounds;
                        // there the answer is empty.
                        let empty = match (lo, hi) {
                            (Bound::Included(x), Bound::Included(y)) => x > y,
                            (Bound::Included(x) | Bound::Excluded(x), Bound::Excluded(y))
                            | (Bound::Excluded(x), Bound::Included(y)) => x >= y,
                            _ => false,
                        };
                        let want: Vec<_> = if empty {
                            Vec::new()
                        } else {
                            m.range((lo, hi)).map(|(i, _)| *i).collect()
                        };
                        let got: Vec<_> = e.range((lo, hi)).map(|(i, _)| *i).collect();
                        prop_assert_eq!(&got, &want);
                        let back: Vec<_> = e.range((lo, hi)).rev().map(|(i, _)| *i).collect();
                        let mut rev = want.clone();
                        rev.reverse();
                        prop_assert_eq!(back, rev);
                        // Mixed ends, as XREVRANGE ... COUNT takes them.
                        let mut it = e.range((lo, hi));
                        let ends = (it.next().map(|x| *x.0), it.next_back().map(|x| *x.0));
                        let want_ends = (want.first().copied(), if want.len() > 1 { want.last().copied() } else { None });
                        prop_assert_eq!(ends, want_ends);
                    }
                }
                same(&e, &m);
            }
        }
    }
}
