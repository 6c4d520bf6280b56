//! `SmallZSet`: the compact in-memory form of a small sorted set, where
//! Redis uses a listpack: at most [`MAX_MEMBERS`] members, none longer
//! than [`MAX_BYTES`] bytes. A bigger one lives in a member table and an
//! order-statistic tree (see `zset.rs`).
//!
//! One vector of `(score, member, record location)` in rank order (score,
//! then member bytes: [`ordtree::cmp`]'s order), 48 bytes an element
//! against the table slot plus the tree leaf of the big form. Rank
//! operations are what a sorted array does best: a rank is an index, a
//! score or lex bound a binary search, a range a slice. A member lookup
//! scans the vector (at most 128 members, as Redis scans a listpack); an
//! insert, a removal or a score change moves at most 6 KiB.

use std::cmp::Ordering;

use super::members::Member;
use super::ordtree;
use super::scanmap::{dense_picks, order_hash};
use super::value::SlimLoc;

/// Most members a small sorted set holds (`zset-max-listpack-entries`).
pub(crate) const MAX_MEMBERS: usize = 128;
/// Longest member a small sorted set holds (`zset-max-listpack-value`).
pub(crate) const MAX_BYTES: usize = 64;

/// One element.
pub(crate) struct ZItem {
    /// Its score.
    pub(crate) score: f64,
    /// Its member.
    pub(crate) member: Member,
    /// Its record, if written yet.
    pub(crate) loc: SlimLoc,
}

/// A small sorted set (see the module docs).
#[derive(Default)]
pub(crate) struct SmallZSet {
    items: Vec<ZItem>,
}

impl SmallZSet {
    /// A small sorted set of these (score, member) pairs, which are in
    /// rank order, of distinct members, at most [`MAX_MEMBERS`] of them and
    /// none longer than [`MAX_BYTES`] (the caller's to ensure).
    pub(crate) fn from_sorted<'m>(pairs: impl ExactSizeIterator<Item = (f64, &'m [u8])>) -> Self {
        let mut items = Vec::with_capacity(pairs.len());
        items.extend(pairs.map(|(score, member)| ZItem {
            score,
            member: Member::from(member),
            loc: SlimLoc::new(None),
        }));
        debug_assert!(items.len() <= MAX_MEMBERS);
        debug_assert!(items.windows(2).all(|w| {
            ordtree::cmp(
                w[0].score,
                w[0].member.as_bytes(),
                w[1].score,
                w[1].member.as_bytes(),
            ) == Ordering::Less
        }));
        SmallZSet { items }
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Every element, in rank order.
    pub(crate) fn items(&self) -> &[ZItem] {
        &self.items
    }

    /// Every element, in rank order, mutably (not their scores or
    /// members: see [`SmallZSet::rescore`]).
    pub(crate) fn items_mut(&mut self) -> &mut [ZItem] {
        &mut self.items
    }

    /// The elements, in rank order.
    pub(crate) fn into_items(self) -> Vec<ZItem> {
        self.items
    }

    /// The index of `member`, if present.
    pub(crate) fn find(&self, member: &[u8]) -> Option<usize> {
        self.items
            .iter()
            .position(|it| it.member.as_bytes() == member)
    }

    /// The element of `member`, if present.
    pub(crate) fn get(&self, member: &[u8]) -> Option<&ZItem> {
        self.find(member).map(|i| &self.items[i])
    }

    /// The element of `member`, mutably (not its score: see
    /// [`SmallZSet::rescore`]).
    pub(crate) fn get_mut(&mut self, member: &[u8]) -> Option<&mut ZItem> {
        self.find(member).map(|i| &mut self.items[i])
    }

    /// Where `(score, member)` is or belongs.
    fn position(&self, score: f64, member: &[u8]) -> Result<usize, usize> {
        self.items
            .binary_search_by(|it| ordtree::cmp(it.score, it.member.as_bytes(), score, member))
    }

    /// Adds an element the caller knows is absent.
    pub(crate) fn insert(&mut self, score: f64, member: &[u8], loc: SlimLoc) {
        let at = self.position(score, member).unwrap_or_else(|at| at);
        if self.items.len() == self.items.capacity() {
            // A quarter more at a time (not double): at most 128 elements.
            self.items.reserve_exact((self.items.len() / 4).max(1));
        }
        self.items.insert(
            at,
            ZItem {
                score,
                member: Member::from(member),
                loc,
            },
        );
    }

    /// Gives the element at index `i` the score `score`, moving it to its
    /// new rank.
    pub(crate) fn rescore(&mut self, i: usize, score: f64) {
        self.items[i].score = score;
        let member = self.items[i].member.as_bytes();
        // Where it belongs among the others (the slice without it).
        let (before, after) = (&self.items[..i], &self.items[i + 1..]);
        let key = |it: &ZItem| ordtree::cmp(it.score, it.member.as_bytes(), score, member);
        let lo = before.partition_point(|it| key(it) == Ordering::Less);
        if lo < i {
            self.items[lo..=i].rotate_right(1);
            return;
        }
        let hi = i + after.partition_point(|it| key(it) == Ordering::Less);
        self.items[i..=hi].rotate_left(1);
    }

    /// Removes `member`; returns its element.
    pub(crate) fn remove(&mut self, member: &[u8]) -> Option<ZItem> {
        let i = self.find(member)?;
        Some(self.items.remove(i))
    }

    /// `n` distinct elements (all if there are fewer) picked by the draw
    /// `r` exactly as `ScanMap::pick` picks from the same members (by
    /// their order hash: the first at or after the point `r` chooses, then
    /// the next ones, wrapping around; a single pick moves on `r % 8`
    /// more), so that both forms answer ZRANDMEMBER alike.
    pub(crate) fn pick(&self, r: u64, n: usize) -> Vec<&ZItem> {
        if n == 0 {
            return Vec::new();
        }
        let mut order: Vec<(u64, usize)> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (order_hash(it.member.as_bytes()), i))
            .collect();
        order.sort_unstable();
        let start = order.partition_point(|&(h, _)| h < r >> 1);
        dense_picks(order.len(), start, r, n)
            .map(|i| &self.items[order[i].1])
            .collect()
    }

    /// 0-based rank of `(score, member)`, if present.
    pub(crate) fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        self.position(score, member).ok()
    }

    /// The element at 0-based `rank`.
    pub(crate) fn at_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        self.items
            .get(rank)
            .map(|it| (it.score, it.member.as_bytes()))
    }

    /// How many elements satisfy `before` (true on a prefix of the order).
    pub(crate) fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.items
            .partition_point(|it| before(it.score, it.member.as_bytes()))
    }

    /// Elements of 0-based ranks `start..=end` (clamped), forward or
    /// reverse (`rev`: ranks counted from the end), as
    /// `OrderTree::range` gives them.
    pub(crate) fn range(&self, start: usize, end: usize, rev: bool) -> Vec<(f64, &[u8])> {
        let len = self.items.len();
        if start > end || start >= len {
            return Vec::new();
        }
        let end = end.min(len - 1);
        fn pair(it: &ZItem) -> (f64, &[u8]) {
            (it.score, it.member.as_bytes())
        }
        if rev {
            self.items[len - 1 - end..len - start]
                .iter()
                .rev()
                .map(pair)
                .collect()
        } else {
            self.items[start..=end].iter().map(pair).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::keyspace::ordtree::OrderTree;

    proptest! {
        /// Inserts, score changes and removals keep the same ranks, ranges
        /// and bounds as the order-statistic tree of the big form.
        #[test]
        fn matches_the_order_tree(ops in proptest::collection::vec((0u8..3, 0u8..40, -3i8..4), 1..400),
                                  start in 0usize..50, end in 0usize..50, rev in any::<bool>()) {
            let mut small = SmallZSet::default();
            let mut tree = OrderTree::default();
            for (op, m, s) in ops {
                let member = format!("m{m}").into_bytes();
                // -0.0 and 0.0 both occur (the tree takes them as one score).
                let score = if s == 0 && m % 2 == 0 { -0.0 } else { f64::from(s) / 2.0 };
                match (op, small.find(&member)) {
                    (0 | 1, None) => {
                        small.insert(score, &member, SlimLoc::None);
                        tree.insert(score, &member);
                    }
                    (0 | 1, Some(i)) => {
                        let old = small.items()[i].score;
                        small.rescore(i, score);
                        tree.move_present(old, &member, score, None, None);
                    }
                    (_, Some(i)) => {
                        let old = small.items()[i].score;
                        prop_assert!(small.remove(&member).is_some());
                        tree.remove_present(old, &member);
                    }
                    (_, None) => {}
                }
                prop_assert_eq!(small.len(), tree.len());
            }
            let all = tree.range(0, usize::MAX, false);
            prop_assert_eq!(small.range(0, usize::MAX, false), all.clone());
            prop_assert_eq!(small.range(start, end, rev), tree.range(start, end, rev));
            for (r, (s, m)) in all.iter().enumerate() {
                prop_assert_eq!(small.rank(*s, m), Some(r));
                prop_assert_eq!(small.at_rank(r), Some((*s, *m)));
            }
            prop_assert_eq!(small.count_before(|s, _| s < 0.5), tree.count_before(|s, _| s < 0.5));
        }

        /// ZRANDMEMBER's picks are those of the big form's member table.
        #[test]
        fn picks_match_a_table(n in 1u8..128, r in any::<u64>(), want in 1usize..20) {
            let mut small = SmallZSet::default();
            let mut table = crate::keyspace::scanmap::ScanMap::default();
            for i in 0..n {
                let m = format!("m{i}").into_bytes();
                small.insert(f64::from(i % 7), &m, SlimLoc::None);
                table.insert(&m, ());
            }
            let ps: Vec<&[u8]> = small.pick(r, want).iter().map(|it| it.member.as_bytes()).collect();
            let pt: Vec<&[u8]> = table.pick(r, want).iter().map(|(m, _)| m.as_bytes()).collect();
            prop_assert_eq!(ps, pt);
        }
    }
}
