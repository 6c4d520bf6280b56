//! `QuickList`: the elements of a list, packed in chunks, as Redis keeps
//! a list in a quicklist of listpacks.
//!
//! ```text
//! chunks:  [ ents: (seq, start, loc) x <=128 | buf: ....bytes bytes bytes ] <-> [ ... ]
//!                         │                          ^head
//!                         └──── start: where the element's bytes begin in buf
//! ```
//!
//! * A chunk holds at most [`MAX_ENTS`] elements and, unless it holds a
//!   single element, at most [`MAX_BYTES`] bytes of them. Its elements'
//!   bytes lie back to back in one buffer (`buf[head..]`), each element's
//!   end being the next one's start (the buffer's end for the last one); an
//!   entry beside them holds the element's sequence number (see list.rs)
//!   and its record location in 24 bytes. A 16-byte element costs about 40
//!   bytes, where a `VecDeque` of separate items cost 72.
//! * A push at the head writes in front of `head` (the buffer keeps room
//!   there, grown as a `Vec` grows at its end), a push at the tail appends:
//!   both O(1) amortized, no memmove of the chunk. A chunk that filled up is
//!   trimmed to its exact size once, when the next chunk starts.
//! * Seqs increase from head to tail across chunks, so a seq is found by a
//!   binary search on the chunks' first seqs, then on the chunk's entries.
//!   An index is found by walking the chunks from the nearer end (O(N /
//!   128), Redis's LINDEX is O(N) too).
//! * A change in the middle (LINSERT, LSET with a longer value, replay out
//!   of order) rebuilds the one chunk it falls in (at most 128 elements;
//!   split in two when it overflows); LREM rebuilds the list.
//! * A record location whose offset does not fit 32 bits (a data file is
//!   at most 2 GiB plus one batch) is kept aside in the chunk, by seq.

use std::collections::VecDeque;

use bytes::Bytes;

use super::value::PackedLoc;
use crate::storage::Location;

/// Most elements in a chunk.
pub(crate) const MAX_ENTS: usize = 128;
/// Most element bytes in a chunk of more than one element.
pub(crate) const MAX_BYTES: usize = 4096;

/// A record location in 12 bytes ([`PackedLoc`]), or one of two markers:
/// none yet, or a location kept in the chunk's `wide` list.
type Cell = PackedLoc;

/// No record yet.
const NONE: Cell = PackedLoc::marker(0);
/// The location is in the chunk's `wide` list.
const WIDE: Cell = PackedLoc::marker(1);

/// One element's entry.
#[derive(Clone, Copy, Debug)]
struct Ent {
    seq: i64,
    /// Where its bytes start in the chunk's `buf`.
    start: u32,
    loc: Cell,
}

/// One element as read: its seq, bytes and record location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Elem<'a> {
    /// Its sequence number.
    pub(crate) seq: i64,
    /// Its bytes.
    pub(crate) val: &'a [u8],
    /// Its record, if written yet.
    pub(crate) loc: Option<Location>,
}

/// A run of elements (see the module docs).
#[derive(Default)]
struct Chunk {
    ents: VecDeque<Ent>,
    /// The elements' bytes are `buf[head..]`.
    buf: Vec<u8>,
    head: u32,
    /// Locations too wide for a [`Cell`], by seq (boxed: 8 bytes in every
    /// chunk for what almost none has).
    #[allow(clippy::box_collection)]
    wide: Option<Box<Vec<(i64, Location)>>>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.ents.len()
    }

    /// Bytes of elements held.
    fn bytes(&self) -> usize {
        self.buf.len() - self.head as usize
    }

    fn first_seq(&self) -> i64 {
        self.ents.front().map_or(i64::MIN, |e| e.seq)
    }

    /// Whether `val` may join (at either end).
    fn has_room(&self, val: &[u8]) -> bool {
        self.ents.is_empty()
            || (self.ents.len() < MAX_ENTS && self.bytes() + val.len() <= MAX_BYTES)
    }

    fn end(&self, j: usize) -> usize {
        self.ents
            .get(j + 1)
            .map_or(self.buf.len(), |e| e.start as usize)
    }

    fn val(&self, j: usize) -> &[u8] {
        &self.buf[self.ents[j].start as usize..self.end(j)]
    }

    fn loc(&self, e: &Ent) -> Option<Location> {
        match e.loc {
            NONE => None,
            WIDE => self
                .wide
                .as_ref()
                .and_then(|w| w.iter().find(|(s, _)| *s == e.seq))
                .map(|(_, l)| *l),
            c => Some(c.unpack()),
        }
    }

    fn elem(&self, j: usize) -> Elem<'_> {
        let e = &self.ents[j];
        Elem {
            seq: e.seq,
            val: self.val(j),
            loc: self.loc(e),
        }
    }

    /// The cell for `loc` of the element `seq`, noting a wide one aside.
    fn cell(&mut self, seq: i64, loc: Option<Location>) -> Cell {
        let Some(l) = loc else {
            self.forget_wide(seq);
            return NONE;
        };
        match PackedLoc::new(l).filter(|_| l.len != 0) {
            Some(packed) => {
                self.forget_wide(seq);
                packed
            }
            None => {
                let w = self.wide.get_or_insert_with(Default::default);
                match w.iter_mut().find(|(s, _)| *s == seq) {
                    Some(slot) => slot.1 = l,
                    None => w.push((seq, l)),
                }
                WIDE
            }
        }
    }

    fn forget_wide(&mut self, seq: i64) {
        if let Some(w) = &mut self.wide {
            w.retain(|(s, _)| *s != seq);
            if w.is_empty() {
                self.wide = None;
            }
        }
    }

    fn push_back(&mut self, seq: i64, val: &[u8], loc: Option<Location>) {
        self.first_room();
        let loc = self.cell(seq, loc);
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(val);
        self.ents.push_back(Ent { seq, start, loc });
    }

    fn push_front(&mut self, seq: i64, val: &[u8], loc: Option<Location>) {
        self.first_room();
        let loc = self.cell(seq, loc);
        if (self.head as usize) < val.len() {
            self.front_room(val.len());
        }
        let head = self.head as usize - val.len();
        self.buf[head..head + val.len()].copy_from_slice(val);
        self.head = head as u32;
        self.ents.push_front(Ent {
            seq,
            start: self.head,
            loc,
        });
    }

    /// Room for exactly one entry in an empty chunk: a list of one
    /// element (there are many small lists) holds no spare entries.
    fn first_room(&mut self) {
        if self.ents.capacity() == 0 {
            self.ents.reserve_exact(1);
        }
    }

    /// Moves the bytes up to leave at least `need` bytes in front (as much
    /// as they hold, for O(1) amortized pushes).
    fn front_room(&mut self, need: usize) {
        let data = &self.buf[self.head as usize..];
        let room = need.max(data.len()).max(16);
        let mut buf = Vec::with_capacity(room + data.len());
        buf.resize(room, 0);
        buf.extend_from_slice(data);
        let shift = room as u32 - self.head;
        for e in &mut self.ents {
            e.start += shift;
        }
        self.buf = buf;
        self.head = room as u32;
    }

    /// Drops the room around the bytes (a chunk that will not grow).
    fn trim(&mut self) {
        if self.head > 0 || self.buf.capacity() > self.buf.len() {
            let buf = self.buf[self.head as usize..].to_vec();
            for e in &mut self.ents {
                e.start -= self.head;
            }
            self.buf = buf;
            self.head = 0;
        }
        self.ents.shrink_to_fit();
    }

    /// Removes the first (`front`) or last element.
    fn pop(&mut self, front: bool) -> Option<(i64, Bytes, Option<Location>)> {
        let j = if front { 0 } else { self.len().checked_sub(1)? };
        let (seq, val, loc) = {
            let e = self.elem(j);
            (e.seq, Bytes::copy_from_slice(e.val), e.loc)
        };
        if self.ents[j].loc == WIDE {
            self.forget_wide(seq);
        }
        if front {
            self.ents.pop_front();
            self.head = self.ents.front().map_or(self.buf.len() as u32, |e| e.start);
        } else {
            let e = self.ents.pop_back().expect("checked above");
            self.buf.truncate(e.start as usize);
        }
        if self.ents.is_empty() {
            self.buf = Vec::new();
            self.head = 0;
        }
        Some((seq, val, loc))
    }

    /// The chunks holding these elements, each as full as the limits allow.
    fn build<'a>(elems: impl Iterator<Item = Elem<'a>>) -> VecDeque<Chunk> {
        let mut out: VecDeque<Chunk> = VecDeque::new();
        for e in elems {
            if !out.back().is_some_and(|c| c.has_room(e.val)) {
                if let Some(c) = out.back_mut() {
                    c.trim();
                }
                out.push_back(Chunk::default());
            }
            out.back_mut()
                .expect("pushed above")
                .push_back(e.seq, e.val, e.loc);
        }
        if let Some(c) = out.back_mut() {
            c.trim();
        }
        out
    }

    /// The index of the element `seq`.
    fn find(&self, seq: i64) -> Result<usize, usize> {
        match (self.ents.front(), self.ents.back()) {
            (Some(f), _) if f.seq == seq => Ok(0),
            (_, Some(b)) if b.seq == seq => Ok(self.ents.len() - 1),
            _ => self.ents.binary_search_by_key(&seq, |e| e.seq),
        }
    }
}

/// A list's elements (see the module docs).
#[derive(Default)]
pub(crate) struct QuickList {
    chunks: VecDeque<Chunk>,
    len: usize,
}

impl QuickList {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The seq of the first (`front`) or last element.
    pub(crate) fn end_seq(&self, front: bool) -> Option<i64> {
        if front {
            self.chunks.front()?.ents.front().map(|e| e.seq)
        } else {
            self.chunks.back()?.ents.back().map(|e| e.seq)
        }
    }

    /// Adds an element at the head (`front`) or the tail; its seq must keep
    /// the order.
    pub(crate) fn push(&mut self, front: bool, seq: i64, val: &[u8], loc: Option<Location>) {
        debug_assert!(self
            .end_seq(front)
            .map_or(true, |s| if front { seq < s } else { seq > s }));
        let end = if front {
            self.chunks.front_mut()
        } else {
            self.chunks.back_mut()
        };
        let chunk = match end {
            Some(c) if c.has_room(val) => c,
            other => {
                if let Some(c) = other {
                    c.trim();
                }
                if self.chunks.capacity() == 0 {
                    // One chunk for a short list, no spare ones.
                    self.chunks.reserve_exact(1);
                }
                if front {
                    self.chunks.push_front(Chunk::default());
                    self.chunks.front_mut().expect("pushed")
                } else {
                    self.chunks.push_back(Chunk::default());
                    self.chunks.back_mut().expect("pushed")
                }
            }
        };
        if front {
            chunk.push_front(seq, val, loc);
        } else {
            chunk.push_back(seq, val, loc);
        }
        self.len += 1;
    }

    /// Removes the first (`front`) or last element: its seq, bytes and
    /// record.
    pub(crate) fn pop(&mut self, front: bool) -> Option<(i64, Bytes, Option<Location>)> {
        let chunk = if front {
            self.chunks.front_mut()?
        } else {
            self.chunks.back_mut()?
        };
        let out = chunk.pop(front)?;
        if chunk.ents.is_empty() {
            if front {
                self.chunks.pop_front();
            } else {
                self.chunks.pop_back();
            }
        }
        self.len -= 1;
        Some(out)
    }

    /// The chunk and the index in it of element `i`.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        if i < self.len / 2 {
            let mut left = i;
            for (c, chunk) in self.chunks.iter().enumerate() {
                if left < chunk.len() {
                    return Some((c, left));
                }
                left -= chunk.len();
            }
        } else {
            let mut right = self.len - 1 - i;
            for (c, chunk) in self.chunks.iter().enumerate().rev() {
                if right < chunk.len() {
                    return Some((c, chunk.len() - 1 - right));
                }
                right -= chunk.len();
            }
        }
        None
    }

    /// Element `i` (0 = head).
    pub(crate) fn get(&self, i: usize) -> Option<Elem<'_>> {
        let (c, j) = self.locate(i)?;
        Some(self.chunks[c].elem(j))
    }

    /// Every element, head first (reversible).
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = Elem<'_>> + '_ {
        self.chunks
            .iter()
            .flat_map(|c| (0..c.len()).map(move |j| c.elem(j)))
    }

    /// The bytes of `n` elements from index `from` on, head first (LRANGE:
    /// no record locations, each chunk's entries walked in order).
    pub(crate) fn values(&self, from: usize, n: usize) -> Values<'_> {
        let (c, j) = self.locate(from).unwrap_or((self.chunks.len(), 0));
        let mut v = Values {
            chunks: self.chunks.range(c.min(self.chunks.len())..),
            ents: [].iter().chain([].iter()).peekable(),
            buf: &[],
            left: n.min(self.len.saturating_sub(from)),
        };
        v.next_chunk();
        if j > 0 {
            v.ents.nth(j - 1);
        }
        v
    }

    /// The chunk and index of the element `seq` (`Err`: the chunk where it
    /// would go, absent).
    fn find(&self, seq: i64) -> Option<(usize, usize)> {
        let c = self.chunk_of(seq)?;
        self.chunks[c].find(seq).ok().map(|j| (c, j))
    }

    /// The chunk whose range of seqs would hold `seq` (the last one whose
    /// first seq is `<= seq`; the first one when none is).
    fn chunk_of(&self, seq: i64) -> Option<usize> {
        if self.chunks.is_empty() {
            return None;
        }
        if self.chunks.back().is_some_and(|c| c.first_seq() <= seq) {
            return Some(self.chunks.len() - 1);
        }
        Some(
            self.chunks
                .partition_point(|c| c.first_seq() <= seq)
                .saturating_sub(1),
        )
    }

    /// The element `seq`, if present.
    pub(crate) fn by_seq(&self, seq: i64) -> Option<Elem<'_>> {
        let (c, j) = self.find(seq)?;
        Some(self.chunks[c].elem(j))
    }

    /// Stores the record location of the element `seq` (when `only_if` is
    /// given, only if its location is that one). Whether it did.
    pub(crate) fn set_loc(
        &mut self,
        seq: i64,
        only_if: Option<Option<Location>>,
        loc: Option<Location>,
    ) -> bool {
        let Some((c, j)) = self.find(seq) else {
            return false;
        };
        let chunk = &mut self.chunks[c];
        if only_if.is_some_and(|want| chunk.loc(&chunk.ents[j]) != want) {
            return false;
        }
        let cell = chunk.cell(seq, loc);
        chunk.ents[j].loc = cell;
        true
    }

    /// Gives element `i` the bytes `val` and the record `loc`; returns the
    /// record it had.
    pub(crate) fn set(&mut self, i: usize, val: &[u8], loc: Option<Location>) -> Option<Location> {
        let (c, j) = self.locate(i)?;
        self.set_in(c, j, val, loc)
    }

    /// [`QuickList::set`] of the element at `j` of chunk `c`.
    fn set_in(
        &mut self,
        c: usize,
        j: usize,
        val: &[u8],
        loc: Option<Location>,
    ) -> Option<Location> {
        let chunk = &mut self.chunks[c];
        let e = chunk.ents[j];
        let old = chunk.loc(&e);
        let (start, end) = (e.start as usize, chunk.end(j));
        if end - start == val.len() {
            chunk.buf[start..end].copy_from_slice(val);
            let cell = chunk.cell(e.seq, loc);
            chunk.ents[j].loc = cell;
        } else {
            let new = Elem {
                seq: e.seq,
                val,
                loc,
            };
            self.splice(c, j, true, Some(new));
        }
        old
    }

    /// Rebuilds chunk `c` with element `j` dropped (`drop_j`) and `new`
    /// put in its place (before element `j` when it stays).
    fn splice(&mut self, c: usize, j: usize, drop_j: bool, new: Option<Elem<'_>>) {
        let chunk = &self.chunks[c];
        let after = j + usize::from(drop_j);
        let fresh = Chunk::build(
            (0..j)
                .map(|k| chunk.elem(k))
                .chain(new)
                .chain((after..chunk.len()).map(|k| chunk.elem(k))),
        );
        self.replace(c, fresh);
    }

    /// Replaces chunk `c` by `fresh` (none, one or more chunks). One
    /// chunk takes its place without moving the others (a list of a
    /// million elements has ~8,000 chunks).
    fn replace(&mut self, c: usize, mut fresh: VecDeque<Chunk>) {
        if fresh.len() == 1 {
            self.chunks[c] = fresh.pop_front().expect("one chunk");
            return;
        }
        self.chunks.remove(c);
        for (k, chunk) in fresh.into_iter().enumerate() {
            self.chunks.insert(c + k, chunk);
        }
    }

    /// Inserts an element at index `i` (`len` appends); its seq must lie
    /// between its neighbours'.
    pub(crate) fn insert(&mut self, i: usize, seq: i64, val: &[u8], loc: Option<Location>) {
        if i == 0 {
            return self.push(true, seq, val, loc);
        }
        if i >= self.len {
            return self.push(false, seq, val, loc);
        }
        let (c, j) = self.locate(i).expect("i < len");
        self.insert_in(c, j, seq, val, loc);
    }

    /// Inserts before the element at `j` of chunk `c`.
    fn insert_in(&mut self, c: usize, j: usize, seq: i64, val: &[u8], loc: Option<Location>) {
        self.splice(c, j, false, Some(Elem { seq, val, loc }));
        self.len += 1;
    }

    /// Inserts the element `seq` where its seq puts it, or replaces the
    /// one with that seq (replay).
    pub(crate) fn put(&mut self, seq: i64, val: &[u8], loc: Option<Location>) {
        match (self.end_seq(true), self.end_seq(false)) {
            (None, _) => return self.push(false, seq, val, loc),
            (_, Some(last)) if seq > last => return self.push(false, seq, val, loc),
            (Some(first), _) if seq < first => return self.push(true, seq, val, loc),
            _ => {}
        }
        let c = self.chunk_of(seq).expect("not empty");
        match self.chunks[c].find(seq) {
            Ok(j) => {
                self.set_in(c, j, val, loc);
            }
            Err(j) => self.insert_in(c, j, seq, val, loc),
        }
    }

    /// Removes the element `seq`, if present (replay); returns its record.
    pub(crate) fn remove_seq(&mut self, seq: i64) -> Option<Option<Location>> {
        if self.end_seq(true) == Some(seq) {
            return self.pop(true).map(|(_, _, l)| l);
        }
        if self.end_seq(false) == Some(seq) {
            return self.pop(false).map(|(_, _, l)| l);
        }
        let (c, j) = self.find(seq)?;
        let old = self.chunks[c].elem(j).loc;
        self.splice(c, j, true, None);
        self.len -= 1;
        Some(old)
    }

    /// Removes the elements at these indexes (ascending); returns their
    /// seqs and records.
    pub(crate) fn remove_at(&mut self, positions: &[usize]) -> Vec<(i64, Option<Location>)> {
        let mut removed = Vec::with_capacity(positions.len());
        let mut next = positions.iter().peekable();
        let chunks = Chunk::build(self.iter().enumerate().filter_map(|(i, e)| {
            if next.peek() == Some(&&i) {
                next.next();
                removed.push((e.seq, e.loc));
                None
            } else {
                Some(e)
            }
        }));
        self.len -= removed.len();
        self.chunks = chunks;
        removed
    }

    /// A copy with the seqs `seq(i)` and no record locations.
    pub(crate) fn copy_with(&self, seq: impl Fn(usize, i64) -> i64) -> QuickList {
        QuickList {
            chunks: Chunk::build(self.iter().enumerate().map(|(i, e)| Elem {
                seq: seq(i, e.seq),
                val: e.val,
                loc: None,
            })),
            len: self.len,
        }
    }

    /// Stores bytes read at recovery into the element `seq` if its record
    /// is at `loc`.
    pub(crate) fn fill(&mut self, seq: i64, loc: Location, bytes: &[u8]) {
        if let Some((c, j)) = self.find(seq) {
            if self.chunks[c].elem(j).loc == Some(loc) {
                self.set_in(c, j, bytes, Some(loc));
            }
        }
    }
}

/// The entries of a chunk, in order.
type EntIter<'a> =
    std::iter::Peekable<std::iter::Chain<std::slice::Iter<'a, Ent>, std::slice::Iter<'a, Ent>>>;

/// [`QuickList::values`].
#[derive(Clone)]
pub(crate) struct Values<'a> {
    /// The chunks after the current one.
    chunks: std::collections::vec_deque::Iter<'a, Chunk>,
    /// The current chunk's entries still to visit, and its bytes.
    ents: EntIter<'a>,
    buf: &'a [u8],
    left: usize,
}

impl Values<'_> {
    /// Moves to the next chunk; whether there was one.
    fn next_chunk(&mut self) -> bool {
        let Some(c) = self.chunks.next() else {
            return false;
        };
        let (a, b) = c.ents.as_slices();
        self.ents = a.iter().chain(b.iter()).peekable();
        self.buf = &c.buf;
        true
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let e = match self.ents.next() {
            Some(e) => e,
            None if self.next_chunk() => self.ents.next()?,
            None => return None,
        };
        let end = self
            .ents
            .peek()
            .map_or(self.buf.len(), |n| n.start as usize);
        self.left -= 1;
        self.buf.get(e.start as usize..end)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn loc(n: u64) -> Option<Location> {
        match n % 4 {
            0 => None,
            // A wide one now and then.
            1 => Some(Location {
                file_id: 7,
                offset: (1 << 33) + n,
                len: 40,
            }),
            _ => Some(Location {
                file_id: 3,
                offset: n,
                len: 30 + n as u32 % 100,
            }),
        }
    }

    /// The model: (seq, bytes, loc) in order.
    type Model = VecDeque<(i64, Vec<u8>, Option<Location>)>;

    fn check(q: &QuickList, m: &Model) -> Result<(), TestCaseError> {
        prop_assert_eq!(q.len(), m.len());
        let got: Vec<_> = q.iter().map(|e| (e.seq, e.val.to_vec(), e.loc)).collect();
        let want: Vec<_> = m.iter().cloned().collect();
        prop_assert_eq!(&got, &want);
        let back: Vec<_> = q.iter().rev().map(|e| e.seq).collect();
        let want_back: Vec<_> = m.iter().rev().map(|e| e.0).collect();
        prop_assert_eq!(back, want_back);
        for (i, (seq, val, l)) in m.iter().enumerate() {
            let e = q.get(i).expect("in range");
            prop_assert_eq!((e.seq, e.val, e.loc), (*seq, &val[..], *l));
            prop_assert_eq!(q.by_seq(*seq).map(|e| e.seq), Some(*seq));
        }
        prop_assert!(q.get(m.len()).is_none());
        for (k, c) in q.chunks.iter().enumerate() {
            prop_assert!(!c.ents.is_empty(), "empty chunk {}", k);
            prop_assert!(c.len() <= MAX_ENTS);
            prop_assert!(c.len() == 1 || c.bytes() <= MAX_BYTES);
        }
        let seqs: Vec<i64> = q.iter().map(|e| e.seq).collect();
        prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        Ok(())
    }

    fn value(n: u16) -> Vec<u8> {
        // Mostly short, sometimes past a chunk's byte limit.
        let len = match n % 16 {
            0 => 5000,
            1 => 300,
            _ => usize::from(n % 24),
        };
        (0..len).map(|i| (n as usize + i) as u8).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_a_deque(ops in proptest::collection::vec((0u8..14, any::<u16>(), any::<u16>()), 1..800)) {
            let mut q = QuickList::default();
            let mut m = Model::new();
            let mut most = 0;
            for (op, a, b) in ops {
                // Pushes weigh more: lists of several chunks.
                let op = if op >= 9 { op % 2 } else { op };
                let val = value(b);
                let l = loc(u64::from(a) * 7 + u64::from(b));
                match op {
                    0 | 1 => {
                        let front = op == 0;
                        let seq = if front {
                            m.front().map_or(0, |e| e.0 - 1 - i64::from(a % 3))
                        } else {
                            m.back().map_or(0, |e| e.0 + 1 + i64::from(a % 3))
                        };
                        q.push(front, seq, &val, l);
                        if front { m.push_front((seq, val, l)) } else { m.push_back((seq, val, l)) }
                    }
                    2 | 3 => {
                        let front = op == 2;
                        let got = q.pop(front).map(|(s, v, l)| (s, v.to_vec(), l));
                        let want = if front { m.pop_front() } else { m.pop_back() };
                        prop_assert_eq!(got, want);
                    }
                    4 if !m.is_empty() => {
                        let i = usize::from(a) % m.len();
                        let old = q.set(i, &val, l);
                        prop_assert_eq!(old, m[i].2);
                        m[i].1 = val;
                        m[i].2 = l;
                    }
                    5 if m.len() >= 2 => {
                        // Insert between two neighbours with room.
                        let i = 1 + usize::from(a) % (m.len() - 1);
                        let (lo, hi) = (m[i - 1].0, m[i].0);
                        if hi - lo > 1 {
                            let seq = lo + (hi - lo) / 2;
                            q.insert(i, seq, &val, l);
                            m.insert(i, (seq, val, l));
                        }
                    }
                    6 if !m.is_empty() => {
                        let i = usize::from(a) % m.len();
                        let seq = m[i].0;
                        let got = q.remove_seq(seq);
                        prop_assert_eq!(got, Some(m[i].2));
                        m.remove(i);
                    }
                    7 if !m.is_empty() => {
                        let i = usize::from(a) % m.len();
                        prop_assert!(q.set_loc(m[i].0, Some(m[i].2), l));
                        m[i].2 = l;
                    }
                    8 if !m.is_empty() => {
                        let mut pos: Vec<usize> = (0..m.len()).filter(|p| (p + usize::from(a)) % 3 == 0).collect();
                        pos.dedup();
                        let got = q.remove_at(&pos);
                        let want: Vec<_> = pos.iter().map(|&p| (m[p].0, m[p].2)).collect();
                        prop_assert_eq!(got, want);
                        for &p in pos.iter().rev() {
                            m.remove(p);
                        }
                    }
                    _ => {}
                }
                check(&q, &m)?;
                most = most.max(q.chunks.len());
            }
            prop_assume!(most > 0);
            // Replay order: put by seq in any order rebuilds the same list.
            let mut r = QuickList::default();
            let mut order: Vec<usize> = (0..m.len()).collect();
            order.sort_by_key(|&i| (i * 7919) % (m.len().max(1)));
            for &i in &order {
                r.put(m[i].0, b"", m[i].2);
            }
            for &i in order.iter().rev() {
                if let Some(l) = m[i].2 {
                    r.fill(m[i].0, l, &m[i].1);
                } else {
                    r.put(m[i].0, &m[i].1, None);
                }
            }
            check(&r, &m)?;
            let from = m.len() / 3;
            for n in [0, 1, 130, m.len()] {
                let got: Vec<&[u8]> = q.values(from, n).collect();
                let want: Vec<&[u8]> = m.iter().skip(from).take(n).map(|e| &e.1[..]).collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn a_full_list_packs_its_elements() {
        let mut q = QuickList::default();
        for i in 0..10_000i64 {
            q.push(
                i % 2 == 0,
                if i % 2 == 0 { -i } else { i },
                &[7u8; 16],
                loc(3),
            );
        }
        // Chunks that filled up are exact: 128 entries of 24 bytes and
        // 2 KiB of bytes.
        let sealed = &q.chunks[1];
        assert_eq!(sealed.len(), MAX_ENTS);
        assert_eq!(sealed.buf.capacity(), 16 * MAX_ENTS);
        assert_eq!(std::mem::size_of::<Ent>(), 24);
    }
}
