//! The order-statistic skiplist behind sorted sets: elements ordered by
//! (score, member bytes), every link carries its span (how many elements it
//! skips), so insert, delete, rank and "element at rank" are all O(log n)
//! expected, as in Redis's `zskiplist`.
//!
//! ```text
//! level 2: HEAD ─────────────(span 3)────────────> c ─(span 2)─> NIL
//! level 1: HEAD ─(1)─> a ─────(span 2)───────────> c ─(1)─> d ─> NIL
//! level 0: HEAD ─(1)─> a ─(1)─> b ─(1)─> c ─(1)─> d ─(1)─> e ─> NIL
//!                      a <───── b <───── c <───── d <───── e   (back links)
//! ```
//!
//! Nodes live in one arena (`Vec<Node>`, index links, free list): no
//! `unsafe`, no reference counting. Node 0 is the header.

use std::cmp::Ordering;

use super::members::Member;

/// "No node".
const NIL: u32 = u32::MAX;
/// The header node.
const HEAD: u32 = 0;
/// Levels at most (Redis's ZSKIPLIST_MAXLEVEL).
const MAX_LEVEL: usize = 32;
/// Levels whose links live inside the node.
const INLINE_LEVELS: usize = 2;
/// An unlinked link.
const NO_LINK: Link = Link { next: NIL, span: 0 };

/// Links for a node of `level` levels.
fn new_links(level: usize) -> ([Link; INLINE_LEVELS], Vec<Link>) {
    (
        [NO_LINK; INLINE_LEVELS],
        vec![NO_LINK; level.saturating_sub(INLINE_LEVELS)],
    )
}

/// One link: next node at this level and how many elements it skips.
#[derive(Clone, Copy)]
struct Link {
    next: u32,
    span: u32,
}

struct Node {
    score: f64,
    member: Member,
    /// Previous node at level 0 (`NIL` for the first).
    back: u32,
    /// Links of levels 0 and 1, inline: most steps of a search stay in the
    /// node's own cache line instead of chasing a second allocation.
    low: [Link; INLINE_LEVELS],
    /// Links of levels 2.. (only 1 node in 16 has any).
    high: Vec<Link>,
}

/// (score, member) order: scores numerically, ties by member bytes.
pub(crate) fn cmp(a_score: f64, a: &[u8], b_score: f64, b: &[u8]) -> Ordering {
    a_score.total_cmp(&b_score).then_with(|| a.cmp(b))
}

/// The skiplist.
pub(crate) struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    level: usize,
    len: usize,
    /// Level generator state (xorshift; the shape never affects replies).
    rng: u64,
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList {
            nodes: vec![Node {
                score: 0.0,
                member: Member::from(&b""[..]),
                back: NIL,
                low: new_links(MAX_LEVEL).0,
                high: new_links(MAX_LEVEL).1,
            }],
            free: Vec::new(),
            level: 1,
            len: 0,
            rng: 0x2545_F491_4F6C_DD1D,
        }
    }
}

/// A position in the list: an element's index in the arena.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Pos(u32);

impl SkipList {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            // p = 1/4, as Redis.
            if self.rng & 3 != 0 || level >= MAX_LEVEL {
                return level;
            }
            level += 1;
        }
    }

    fn before(&self, x: u32, score: f64, member: &[u8]) -> bool {
        let n = &self.nodes[x as usize];
        cmp(n.score, n.member.as_bytes(), score, member) == Ordering::Less
    }

    fn link(&self, x: u32, i: usize) -> Link {
        let n = &self.nodes[x as usize];
        if i < INLINE_LEVELS {
            n.low[i]
        } else {
            n.high[i - INLINE_LEVELS]
        }
    }

    fn link_mut(&mut self, x: u32, i: usize) -> &mut Link {
        let n = &mut self.nodes[x as usize];
        if i < INLINE_LEVELS {
            &mut n.low[i]
        } else {
            &mut n.high[i - INLINE_LEVELS]
        }
    }

    /// Inserts an element that is not present.
    pub(crate) fn insert(&mut self, score: f64, member: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = self.link(x, i);
                if l.next != NIL && self.before(l.next, score, member) {
                    rank[i] += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_mut(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let (low, high) = new_links(level);
        let node = Node {
            score,
            member: Member::from(member),
            back: NIL,
            low,
            high,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let u = self.link(update[i], i);
            *self.link_mut(id, i) = Link {
                next: u.next,
                span: u.span - (rank[0] - rank[i]),
            };
            *self.link_mut(update[i], i) = Link {
                next: id,
                span: rank[0] - rank[i] + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(u, i).span += 1;
        }
        self.nodes[id as usize].back = if update[0] == HEAD { NIL } else { update[0] };
        let next0 = self.link(id, 0).next;
        if next0 != NIL {
            self.nodes[next0 as usize].back = id;
        }
        self.len += 1;
    }

    /// Removes an element; false if absent.
    pub(crate) fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL && self.before(l.next, score, member) {
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let x = self.link(x, 0).next;
        if x == NIL {
            return false;
        }
        let n = &self.nodes[x as usize];
        if n.score.total_cmp(&score) != Ordering::Equal || n.member.as_bytes() != member {
            return false;
        }
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.link(u, i);
            if ul.next == x {
                let xl = self.link(x, i);
                *self.link_mut(u, i) = Link {
                    next: xl.next,
                    span: ul.span + xl.span - 1,
                };
            } else {
                self.link_mut(u, i).span -= 1;
            }
        }
        let next0 = self.link(x, 0).next;
        let back = self.nodes[x as usize].back;
        if next0 != NIL {
            self.nodes[next0 as usize].back = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).next == NIL {
            self.level -= 1;
        }
        // Free the node's memory now (a big member would otherwise linger).
        self.nodes[x as usize].high = Vec::new();
        self.nodes[x as usize].member = Member::from(&b""[..]);
        self.free.push(x);
        self.len -= 1;
        true
    }

    /// 0-based rank of an element present in the list.
    pub(crate) fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut rank = 0u64;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL {
                    break;
                }
                let n = &self.nodes[l.next as usize];
                if cmp(n.score, n.member.as_bytes(), score, member) != Ordering::Greater {
                    rank += u64::from(l.span);
                    x = l.next;
                } else {
                    break;
                }
            }
            if x != HEAD && self.nodes[x as usize].member.as_bytes() == member {
                return Some(rank as usize - 1);
            }
        }
        None
    }

    /// The element at 0-based `rank`.
    pub(crate) fn at_rank(&self, rank: usize) -> Option<Pos> {
        if rank >= self.len {
            return None;
        }
        let target = rank as u64 + 1;
        let mut traversed = 0u64;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL && traversed + u64::from(l.span) <= target {
                    traversed += u64::from(l.span);
                    x = l.next;
                } else {
                    break;
                }
            }
            if traversed == target {
                return Some(Pos(x));
            }
        }
        None
    }

    /// How many elements satisfy `before` (a predicate true on a prefix of
    /// the order): the 0-based rank of the first element that does not.
    pub(crate) fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut rank = 0u64;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL {
                    break;
                }
                let n = &self.nodes[l.next as usize];
                if before(n.score, n.member.as_bytes()) {
                    rank += u64::from(l.span);
                    x = l.next;
                } else {
                    break;
                }
            }
        }
        rank as usize
    }

    /// The element at `p`.
    pub(crate) fn get(&self, p: Pos) -> (f64, &[u8]) {
        let n = &self.nodes[p.0 as usize];
        (n.score, n.member.as_bytes())
    }

    /// The element after `p`.
    pub(crate) fn next(&self, p: Pos) -> Option<Pos> {
        let n = self.link(p.0, 0).next;
        (n != NIL).then_some(Pos(n))
    }

    /// The element before `p`.
    pub(crate) fn prev(&self, p: Pos) -> Option<Pos> {
        let b = self.nodes[p.0 as usize].back;
        (b != NIL).then_some(Pos(b))
    }

    /// Elements of 0-based ranks `start..=end` (clamped), forward or reverse
    /// (`rev`: ranks counted from the end).
    pub(crate) fn range(&self, start: usize, end: usize, rev: bool) -> Vec<(f64, &[u8])> {
        let mut out = Vec::new();
        if start > end || start >= self.len {
            return out;
        }
        let end = end.min(self.len - 1);
        let first = if rev {
            self.at_rank(self.len - 1 - start)
        } else {
            self.at_rank(start)
        };
        let mut p = first;
        for _ in start..=end {
            let Some(cur) = p else { break };
            out.push(self.get(cur));
            p = if rev { self.prev(cur) } else { self.next(cur) };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_a_sorted_vec(ops in proptest::collection::vec((any::<bool>(), 0u8..40, 0i8..6), 1..300)) {
            let mut list = SkipList::default();
            let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
            for (add, m, s) in ops {
                let member = vec![b'a' + m % 26, m];
                let score = f64::from(s);
                let present = model.iter().position(|(_, mm)| *mm == member);
                if add {
                    if let Some(i) = present {
                        let old = model.remove(i);
                        prop_assert!(list.remove(old.0, &old.1));
                    }
                    list.insert(score, &member);
                    model.push((score, member));
                    model.sort_by(|a, b| cmp(a.0, &a.1, b.0, &b.1));
                } else if let Some(i) = present {
                    let old = model.remove(i);
                    prop_assert!(list.remove(old.0, &old.1));
                } else {
                    prop_assert!(!list.remove(score, &member));
                }
                prop_assert_eq!(list.len(), model.len());
            }
            for (i, (s, m)) in model.iter().enumerate() {
                prop_assert_eq!(list.rank(*s, m), Some(i));
                let p = list.at_rank(i).expect("rank in range");
                prop_assert_eq!(list.get(p), (*s, m.as_slice()));
            }
            let all = list.range(0, usize::MAX, false);
            prop_assert_eq!(all.len(), model.len());
            let rev = list.range(0, usize::MAX, true);
            prop_assert!(rev.iter().rev().eq(all.iter()));
            let below2 = list.count_before(|s, _| s < 2.0);
            prop_assert_eq!(below2, model.iter().filter(|(s, _)| *s < 2.0).count());
        }
    }
}
