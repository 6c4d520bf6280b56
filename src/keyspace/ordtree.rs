//! The order-statistic B+tree behind sorted sets: elements ordered by
//! (score, member bytes); every inner node keeps how many elements each
//! child holds, so insert, delete, rank and "element at rank" are O(log n)
//! with a small base.
//!
//! ```text
//! inner:   [ child0 | (s1,m1) child1 | (s2,m2) child2 ]   counts [40, 52, 33]
//!             │              │                 │
//! leaves:  [scores..|members..] <-> [....] <-> [....]    (prev / next links)
//! ```
//!
//! Why not Redis's skiplist (which this replaced): a search in a skiplist of
//! a million elements visits ~40 nodes, each in its own cache line, so a
//! ZADD that moves a member (remove + insert) cost ~6.7 us here, all of it
//! memory latency. Here a search touches 3-4 nodes and, inside each, a
//! contiguous array of scores; members are compared only on equal scores.
//!
//! Invariants: a separator `seps[c]` of an inner node is `<=` every element
//! of child `c + 1` and `>` every element of child `c` (it was the first key
//! of child `c + 1` when that child was split off; deletes leave it a valid
//! bound). No node is empty except an empty tree's absent root. Nodes live
//! in two arenas (`Vec`s, index links, free lists): no `unsafe`.

use std::cmp::Ordering;

use super::members::Member;

/// Elements per leaf at most.
const LEAF_CAP: usize = 32;
/// Children per inner node at most.
const INNER_CAP: usize = 64;
/// "No node".
const NIL: u32 = u32::MAX;
/// Inner levels a move's single walk records ([`OrderTree::move_present`]);
/// a taller tree (it would hold far more than 2^32 elements) takes the
/// general path.
const MAX_PATH: usize = 12;

/// (score, member) order: scores numerically, ties by member bytes. -0 and
/// 0 are equal scores, as in Redis (a big sorted set keeps a -0 score).
pub(crate) fn cmp(a_score: f64, a: &[u8], b_score: f64, b: &[u8]) -> Ordering {
    ordered(a_score)
        .cmp(&ordered(b_score))
        .then_with(|| a.cmp(b))
}

/// Inserts `v` at `at` into the first `len` slots of `a` (one spare slot needed).
fn put<T: Copy>(a: &mut [T], len: usize, at: usize, v: T) {
    a.copy_within(at..len, at + 1);
    a[at] = v;
}

/// Removes slot `at` of the first `len` slots of `a`.
fn take<T: Copy>(a: &mut [T], len: usize, at: usize) -> T {
    let v = a[at];
    a.copy_within(at + 1..len, at);
    v
}

/// In sorted `scores`, the range of those equal to `score` (as `lo..hi`:
/// `lo` are less).
///
/// Two short branch-free counts rather than a binary search or a count over
/// the whole slice: first over the last score of every block of
/// [`BLOCK`] (one load per cache line, independent of each other, so the
/// lines of a node that is not cached are fetched in parallel instead of one
/// miss after another), then inside the one block where `score` falls (a
/// line already fetched). ~20 comparisons for an inner node of 64 instead
/// of 128. The equal ones are counted forward from `lo` (usually none; at
/// most the node).
fn score_span(scores: &[f64], score: f64) -> (usize, usize) {
    // Plain float comparisons: a tree never holds NaN (every command that
    // stores a score refuses or replaces it, as Redis does), and on the
    // other values `<` and `==` are [`ordered`]'s order, -0 equal to 0.
    debug_assert!(!score.is_nan());
    let below = |x: &f64| usize::from(*x < score);
    // Sorted: the blocks that end below `score` are a prefix.
    let full: usize = scores
        .chunks_exact(BLOCK)
        .map(|b| below(&b[BLOCK - 1]))
        .sum();
    let start = full * BLOCK;
    let end = (start + BLOCK).min(scores.len());
    let lo = start + scores[start..end].iter().map(below).sum::<usize>();
    let equal = scores[lo..].iter().take_while(|&&x| x == score).count();
    (lo, lo + equal)
}

/// Scores per block of [`score_span`]'s first count: one cache line of `f64`s.
const BLOCK: usize = 8;

/// `f64::total_cmp` order as a signed integer, with -0 taken as 0.
fn ordered(x: f64) -> i64 {
    // Adding +0 turns -0 into 0 and leaves every other value as it is
    // (no branch in the hot search).
    let x = x + 0.0;
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// A leaf: up to [`LEAF_CAP`] elements in order, all inline in the arena
/// slot: the header, then the scores, then the members. A search reads the
/// slot's few cache lines of `f64`s and touches a member only among equal
/// scores; the member it then reads is at a fixed offset of the same slot
/// (no pointer to follow first, and the arena is advised for huge pages).
struct Leaf {
    prev: u32,
    next: u32,
    len: u32,
    /// One spare slot: an insert overflows, then the leaf splits.
    scores: [f64; LEAF_CAP + 1],
    /// Slots `len..` hold empty members.
    members: [Member; LEAF_CAP + 1],
}

impl Leaf {
    fn empty() -> Leaf {
        Leaf {
            prev: NIL,
            next: NIL,
            len: 0,
            scores: [0.0; LEAF_CAP + 1],
            members: std::array::from_fn(|_| Member::default()),
        }
    }

    /// Number of elements.
    fn len(&self) -> usize {
        self.len as usize
    }

    fn scores(&self) -> &[f64] {
        &self.scores[..self.len()]
    }

    #[cfg(test)]
    fn members(&self) -> &[Member] {
        &self.members[..self.len()]
    }

    /// Index of the first element `>= (score, member)`.
    fn lower_bound(&self, score: f64, member: &[u8]) -> usize {
        // Scores first; members only among equal scores.
        let (lo, hi) = score_span(self.scores(), score);
        lo + self.members[lo..hi].partition_point(|m| m.as_bytes() < member)
    }

    /// Index of `(score, member)` if present.
    fn find(&self, score: f64, member: &[u8]) -> Option<usize> {
        let at = self.lower_bound(score, member);
        let hit = at < self.len()
            && ordered(self.scores[at]) == ordered(score)
            && self.members[at].as_bytes() == member;
        hit.then_some(at)
    }

    /// Index of `(score, member)`, which the caller knows is in this leaf
    /// (the leaf its search reaches): when no other element of the leaf has
    /// this score, that is the index, without reading a member.
    fn find_present(&self, score: f64, member: &[u8]) -> usize {
        let (lo, hi) = score_span(self.scores(), score);
        let at = if hi - lo == 1 {
            lo
        } else {
            lo + self.members[lo..hi].partition_point(|m| m.as_bytes() < member)
        };
        debug_assert_eq!(self.members[at].as_bytes(), member);
        at
    }

    /// Inserts `(score, member)` at `at` (one spare slot needed).
    fn insert(&mut self, at: usize, score: f64, member: Member) {
        let len = self.len();
        put(&mut self.scores, len, at, score);
        self.members[len] = member;
        self.members[at..=len].rotate_right(1);
        self.len += 1;
    }

    /// Removes the element at `at`; returns its member.
    fn remove(&mut self, at: usize) -> Member {
        let len = self.len();
        take(&mut self.scores, len, at);
        // The empty member left at `at` ends up at `len - 1`.
        let member = std::mem::take(&mut self.members[at]);
        self.members[at..len].rotate_left(1);
        self.len -= 1;
        member
    }

    /// Appends the elements of `other` (they fit).
    fn append(&mut self, other: &mut Leaf) {
        let (at, m) = (self.len(), other.len());
        self.scores[at..at + m].copy_from_slice(&other.scores[..m]);
        move_members(&mut self.members[at..at + m], &mut other.members[..m]);
        self.len += other.len;
        other.len = 0;
    }
}

/// Moves the members of `from` into `to` (same length), leaving empty
/// members behind.
fn move_members(to: &mut [Member], from: &mut [Member]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t = std::mem::take(f);
    }
}

/// An inner node: `n` children and `n - 1` separators, inline.
struct Inner {
    n: u32,
    /// `sep_scores[c]` / `sep_members[c]`: the lower bound of child `c + 1`.
    sep_scores: [f64; INNER_CAP],
    children: [u32; INNER_CAP + 1],
    counts: [usize; INNER_CAP + 1],
    sep_members: Vec<Member>,
}

impl Inner {
    fn empty() -> Inner {
        Inner {
            n: 0,
            sep_scores: [0.0; INNER_CAP],
            children: [NIL; INNER_CAP + 1],
            counts: [0; INNER_CAP + 1],
            sep_members: Vec::new(),
        }
    }

    fn seps(&self) -> &[f64] {
        &self.sep_scores[..(self.n as usize).saturating_sub(1)]
    }

    /// How many separators are `<= (score, member)`: the child to descend.
    fn route(&self, score: f64, member: &[u8]) -> usize {
        let (lo, hi) = score_span(self.seps(), score);
        if lo == hi {
            // No separator has this score (the usual case): the members,
            // in their own allocation, are not touched.
            return lo;
        }
        lo + self.sep_members[lo..hi].partition_point(|m| m.as_bytes() <= member)
    }

    /// Elements under children `..c`.
    fn before(&self, c: usize) -> usize {
        self.counts[..c].iter().sum()
    }
}

/// A split off a node: the new right sibling and its separator.
struct Split {
    score: f64,
    member: Member,
    node: u32,
}

/// The tree.
pub(crate) struct OrderTree {
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// Inner levels above the leaves (0: the root is a leaf).
    height: usize,
    len: usize,
    /// Changes so far: a [`Path`] is good only while this is unchanged.
    stamp: u64,
}

/// Where an element belongs, as [`OrderTree::prefetch`] found it: the
/// inner nodes and children on the way down, and the leaf. It saves a
/// [`OrderTree::move_present`] of the same member to the same score that
/// walk; a path the tree changed since is recognised and ignored.
pub(crate) struct Path {
    /// (inner node, child taken), root first; `height` of them.
    steps: [(u32, u32); MAX_PATH],
    leaf: u32,
    /// The score, as [`ordered`].
    score: i64,
    stamp: u64,
}

impl Default for OrderTree {
    fn default() -> Self {
        OrderTree {
            leaves: Vec::new(),
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: NIL,
            height: 0,
            len: 0,
            stamp: 0,
        }
    }
}

/// Puts `node` in a free slot of `arena` (or a new one); returns its index.
fn place<T>(arena: &mut Vec<T>, free: &mut Vec<u32>, node: T) -> u32 {
    match free.pop() {
        Some(id) => {
            arena[id as usize] = node;
            id
        }
        None => {
            if arena.len() == arena.capacity() {
                grow(arena);
            }
            arena.push(node);
            (arena.len() - 1) as u32
        }
    }
}

/// Doubles a full arena. A big one moves into a fresh buffer advised for
/// huge pages before anything is written to it (see `huge`): `realloc`
/// would move the old pages as they are, small.
fn grow<T>(arena: &mut Vec<T>) {
    let cap = (arena.capacity() * 2).max(4);
    if cap.saturating_mul(std::mem::size_of::<T>()) < super::huge::MIN_BYTES {
        arena.reserve_exact(cap - arena.len());
        return;
    }
    let mut bigger = Vec::with_capacity(cap);
    super::huge::advise(&bigger);
    bigger.append(arena);
    *arena = bigger;
}

/// A position in the tree: a leaf and an index in it. Valid until the next
/// change of the tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Pos(u32, u32);

impl OrderTree {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn new_leaf(&mut self, leaf: Leaf) -> u32 {
        place(&mut self.leaves, &mut self.free_leaves, leaf)
    }

    fn new_inner(&mut self, inner: Inner) -> u32 {
        place(&mut self.inners, &mut self.free_inners, inner)
    }

    /// Entries of a node: elements of a leaf, children of an inner node.
    fn width(&self, id: u32, height: usize) -> usize {
        if height == 0 {
            self.leaves[id as usize].len()
        } else {
            self.inners[id as usize].n as usize
        }
    }

    /// Elements under a node.
    fn count(&self, id: u32, height: usize) -> usize {
        if height == 0 {
            self.leaves[id as usize].len()
        } else {
            let node = &self.inners[id as usize];
            node.before(node.n as usize)
        }
    }

    /// Inserts an element that is not present. `path`:
    /// [`OrderTree::prefetch`]'s for this element, if the caller has one;
    /// when it is current and its leaf has room, the insert takes no walk.
    /// The tree keeps `member` itself (a sorted set shares one [`Member`]
    /// between its table and its tree).
    pub(crate) fn insert_along(&mut self, score: f64, member: Member, path: Option<&Path>) {
        if let Some(p) = self.current(path, score) {
            let leaf = &mut self.leaves[p.leaf as usize];
            if leaf.len() < LEAF_CAP {
                let at = leaf.lower_bound(score, member.as_bytes());
                leaf.insert(at, score, member);
                for &(id, c) in &p.steps[..self.height] {
                    self.inners[id as usize].counts[c as usize] += 1;
                }
                self.len += 1;
                self.stamp += 1;
                return;
            }
        }
        self.insert_member(score, member);
    }

    /// Inserts an element that is not present (a copy of `member`).
    #[cfg(test)]
    pub(crate) fn insert(&mut self, score: f64, member: &[u8]) {
        self.insert_member(score, Member::from(member));
    }

    /// Inserts an element that is not present; the tree keeps `member`.
    fn insert_member(&mut self, score: f64, member: Member) {
        self.len += 1;
        self.stamp += 1;
        if self.root == NIL {
            let mut leaf = Leaf::empty();
            leaf.insert(0, score, member);
            self.root = self.new_leaf(leaf);
            self.height = 0;
            return;
        }
        let (root, height) = (self.root, self.height);
        if let Some(split) = self.insert_at(root, height, score, member) {
            let mut node = Inner::empty();
            node.n = 2;
            node.children[0] = root;
            node.children[1] = split.node;
            node.counts[0] = self.count(root, height);
            node.counts[1] = self.count(split.node, height);
            node.sep_scores[0] = split.score;
            node.sep_members.push(split.member);
            self.root = self.new_inner(node);
            self.height += 1;
        }
    }

    fn insert_at(&mut self, id: u32, height: usize, score: f64, member: Member) -> Option<Split> {
        if height == 0 {
            let leaf = &mut self.leaves[id as usize];
            let at = leaf.lower_bound(score, member.as_bytes());
            leaf.insert(at, score, member);
            return (leaf.len() > LEAF_CAP).then(|| self.split_leaf(id));
        }
        let node = &mut self.inners[id as usize];
        let c = node.route(score, member.as_bytes());
        node.counts[c] += 1;
        let child = node.children[c];
        let split = self.insert_at(child, height - 1, score, member)?;
        let right = self.count(split.node, height - 1);
        let node = &mut self.inners[id as usize];
        let n = node.n as usize;
        node.counts[c] -= right;
        put(&mut node.counts, n, c + 1, right);
        put(&mut node.children, n, c + 1, split.node);
        put(&mut node.sep_scores, n - 1, c, split.score);
        node.sep_members.insert(c, split.member);
        node.n += 1;
        (node.n as usize > INNER_CAP).then(|| self.split_inner(id))
    }

    fn split_leaf(&mut self, id: u32) -> Split {
        let left = &mut self.leaves[id as usize];
        let len = left.len();
        let half = len / 2;
        let mut right = Leaf::empty();
        right.scores[..len - half].copy_from_slice(&left.scores[half..len]);
        move_members(
            &mut right.members[..len - half],
            &mut left.members[half..len],
        );
        right.len = (len - half) as u32;
        left.len = half as u32;
        right.prev = id;
        right.next = left.next;
        let (score, member) = (right.scores[0], right.members[0].clone());
        let next = right.next;
        let right = self.new_leaf(right);
        self.leaves[id as usize].next = right;
        if next != NIL {
            self.leaves[next as usize].prev = right;
        }
        Split {
            score,
            member,
            node: right,
        }
    }

    fn split_inner(&mut self, id: u32) -> Split {
        let left = &mut self.inners[id as usize];
        let n = left.n as usize;
        let half = n / 2;
        let mut right = Inner::empty();
        right.n = (n - half) as u32;
        right.children[..n - half].copy_from_slice(&left.children[half..n]);
        right.counts[..n - half].copy_from_slice(&left.counts[half..n]);
        // Separator half-1 moves up; those after it go right.
        right.sep_scores[..n - 1 - half].copy_from_slice(&left.sep_scores[half..n - 1]);
        right.sep_members = left.sep_members.split_off(half);
        let score = left.sep_scores[half - 1];
        let member = left
            .sep_members
            .pop()
            .unwrap_or_else(|| Member::from(&b""[..]));
        left.n = half as u32;
        Split {
            score,
            member,
            node: self.new_inner(right),
        }
    }

    /// Starts fetching the leaf where `(score, member)` belongs, without
    /// waiting for it: the inner nodes on the way are read (they are few and
    /// usually cached), the leaf's cache lines are only prefetched. A ZADD
    /// that moves a member calls it with the new score before it looks the
    /// member up in its member table, so that the two misses overlap, and
    /// hands the path it returns to [`OrderTree::move_present`].
    pub(crate) fn prefetch(&self, score: f64, member: &[u8]) -> Option<Path> {
        if self.root == NIL || self.height > MAX_PATH {
            return None;
        }
        let mut steps = [(0u32, 0u32); MAX_PATH];
        let x = self.walk(score, member, &mut steps);
        crate::prefetch::lines(&self.leaves[x as usize]);
        // The move changes one count per level: the counts are not in the
        // lines the walk read (the separators), and the lowest levels'
        // nodes are not cached in a big tree.
        for &(a, c) in steps.iter().take(self.height) {
            crate::prefetch::lines(&self.inners[a as usize].counts[c as usize]);
        }
        Some(Path {
            steps,
            leaf: x,
            score: ordered(score),
            stamp: self.stamp,
        })
    }

    /// Walks down to the leaf where `(score, member)` belongs, writing the
    /// (inner node, child taken) of each level into `steps` (at least
    /// `height` long); returns the leaf.
    fn walk(&self, score: f64, member: &[u8], steps: &mut [(u32, u32)]) -> u32 {
        let mut x = self.root;
        for step in steps.iter_mut().take(self.height) {
            let node = &self.inners[x as usize];
            let c = node.route(score, member);
            // A child index is below INNER_CAP + 1.
            *step = (x, c as u32);
            x = node.children[c];
        }
        x
    }

    /// The leaf where `(score, member)` belongs and the steps down to it:
    /// `path`'s if the caller has a current one, else from a walk.
    fn place(
        &self,
        path: Option<&Path>,
        score: f64,
        member: &[u8],
    ) -> (u32, [(u32, u32); MAX_PATH]) {
        match path {
            Some(p) => (p.leaf, p.steps),
            None => {
                let mut steps = [(0u32, 0u32); MAX_PATH];
                (self.walk(score, member, &mut steps), steps)
            }
        }
    }

    /// `path` if it is still good for an element of `score`: the tree has
    /// not changed since it was taken, and it was taken for this score.
    fn current<'p>(&self, path: Option<&'p Path>, score: f64) -> Option<&'p Path> {
        path.filter(|p| p.stamp == self.stamp && p.score == ordered(score))
    }

    /// Moves `member`, present with score `old`, to score `new`.
    ///
    /// One walk down both paths side by side (their nodes' cache misses
    /// overlap instead of following each other), or down the old one only
    /// when the caller has the new one's path; when neither leaf changes
    /// shape, that is the whole move: the member goes from one leaf to the
    /// other and the counts on both paths are adjusted. Otherwise (the old
    /// leaf would run low, the new one is full) the general remove and
    /// insert follow, on nodes the walk left cached.
    ///
    /// `to` and `from` are [`OrderTree::prefetch`]'s paths for `(new,
    /// member)` and `(old, member)`, if the caller has them: the walk to
    /// that place is then skipped (a path for another score, or one the
    /// tree changed since, is ignored; one for another member is the
    /// caller's bug).
    pub(crate) fn move_present(
        &mut self,
        old: f64,
        member: &[u8],
        new: f64,
        to: Option<&Path>,
        from: Option<&Path>,
    ) {
        if !self.move_within(old, member, new, to, from) {
            // The same member moves (shared with the sorted set's table).
            if let Some(m) = self.remove_checked(old, member, true) {
                self.insert_member(new, m);
            }
        }
    }

    /// [`OrderTree::move_present`]'s walk and its move when no node changes
    /// shape; false when nothing changed and the general path must run.
    fn move_within(
        &mut self,
        old: f64,
        member: &[u8],
        new: f64,
        to_path: Option<&Path>,
        from_path: Option<&Path>,
    ) -> bool {
        let height = self.height;
        if self.root == NIL || height > MAX_PATH {
            return false;
        }
        // (inner node, child taken) on the way to each leaf.
        let (from_path, to_path) = (self.current(from_path, old), self.current(to_path, new));
        let (x, y, from, to) = if from_path.is_some() || to_path.is_some() {
            let (x, from) = self.place(from_path, old, member);
            let (y, to) = self.place(to_path, new, member);
            (x, y, from, to)
        } else {
            // Neither path: both walks side by side.
            let mut from = [(0u32, 0u32); MAX_PATH];
            let mut to = [(0u32, 0u32); MAX_PATH];
            let (mut x, mut y) = (self.root, self.root);
            for level in 0..height {
                let (nx, ny) = (&self.inners[x as usize], &self.inners[y as usize]);
                let (cx, cy) = (nx.route(old, member), ny.route(new, member));
                from[level] = (x, cx as u32);
                to[level] = (y, cy as u32);
                x = nx.children[cx];
                y = ny.children[cy];
            }
            (x, y, from, to)
        };
        let (lx, ly) = (&self.leaves[x as usize], &self.leaves[y as usize]);
        // Every line of both leaves, not only the scores the searches read:
        // the remove and the insert shift members further on.
        crate::prefetch::lines(lx);
        crate::prefetch::lines(ly);
        let at = lx.find_present(old, member);
        let place = ly.lower_bound(new, member);
        if x == y {
            // Within one leaf: its length and every count stay.
            let leaf = &mut self.leaves[x as usize];
            let m = leaf.remove(at);
            // `place` was found with the old element still in the leaf.
            leaf.insert(if place > at { place - 1 } else { place }, new, m);
            self.stamp += 1;
            return true;
        }
        // The old leaf must keep enough elements that a remove would not
        // rebalance (see `rebalance`), the new one room without a split.
        if lx.len() - 1 < LEAF_CAP / 4 || ly.len() >= LEAF_CAP {
            return false;
        }
        let m = self.leaves[x as usize].remove(at);
        self.leaves[y as usize].insert(place, new, m);
        self.stamp += 1;
        for level in 0..height {
            let (a, ca) = from[level];
            self.inners[a as usize].counts[ca as usize] -= 1;
            let (b, cb) = to[level];
            self.inners[b as usize].counts[cb as usize] += 1;
        }
        true
    }

    /// Removes an element; false if absent.
    #[cfg(test)]
    pub(crate) fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        self.remove_checked(score, member, false).is_some()
    }

    /// Removes an element the caller knows is present (the sorted set's
    /// member table says so): in its leaf, a score no other element there
    /// has identifies it without reading a member.
    pub(crate) fn remove_present(&mut self, score: f64, member: &[u8]) {
        let removed = self.remove_checked(score, member, true);
        debug_assert!(removed.is_some());
    }

    /// The removed element's member, `None` when it was absent.
    fn remove_checked(&mut self, score: f64, member: &[u8], present: bool) -> Option<Member> {
        if self.root == NIL {
            return None;
        }
        let (root, height) = (self.root, self.height);
        let removed = self.remove_at(root, height, score, member, present)?;
        self.len -= 1;
        self.stamp += 1;
        if self.len == 0 {
            // Every node is gone or empty: give the arenas back.
            let stamp = self.stamp;
            *self = OrderTree::default();
            self.stamp = stamp;
            return Some(removed);
        }
        // Shrink the root while it is an inner node with one child.
        while self.height > 0 && self.inners[self.root as usize].n == 1 {
            let old = self.root;
            self.root = self.inners[old as usize].children[0];
            self.inners[old as usize] = Inner::empty();
            self.free_inners.push(old);
            self.height -= 1;
        }
        Some(removed)
    }

    fn remove_at(
        &mut self,
        id: u32,
        height: usize,
        score: f64,
        member: &[u8],
        present: bool,
    ) -> Option<Member> {
        if height == 0 {
            let leaf = &mut self.leaves[id as usize];
            let found = if present {
                Some(leaf.find_present(score, member))
            } else {
                leaf.find(score, member)
            };
            return found.map(|at| leaf.remove(at));
        }
        let c = self.inners[id as usize].route(score, member);
        let child = self.inners[id as usize].children[c];
        let removed = self.remove_at(child, height - 1, score, member, present)?;
        self.inners[id as usize].counts[c] -= 1;
        self.rebalance(id, height, c);
        Some(removed)
    }

    /// Removes child `c` of inner node `id` and the separator in front of
    /// it (behind it, for child 0); frees the child's slot.
    fn drop_child(&mut self, id: u32, height: usize, c: usize) {
        let node = &mut self.inners[id as usize];
        let n = node.n as usize;
        let child = take(&mut node.children, n, c);
        take(&mut node.counts, n, c);
        if n > 1 {
            let s = c.saturating_sub(1);
            take(&mut node.sep_scores, n - 1, s);
            node.sep_members.remove(s);
        }
        node.n -= 1;
        if height == 1 {
            self.leaves[child as usize] = Leaf::empty();
            self.free_leaves.push(child);
        } else {
            self.inners[child as usize] = Inner::empty();
            self.free_inners.push(child);
        }
    }

    /// After a removal under child `c` of inner node `id`: drops the child
    /// if empty, merges it into a sibling if it ran low and both fit.
    fn rebalance(&mut self, id: u32, height: usize, c: usize) {
        let child = self.inners[id as usize].children[c];
        let w = self.width(child, height - 1);
        let n = self.inners[id as usize].n as usize;
        if w == 0 {
            if height == 1 {
                self.unlink_leaf(child);
            }
            // A lone child leaves this node empty: the caller's rebalance
            // then drops this node too.
            self.drop_child(id, height, c);
            return;
        }
        let cap = if height == 1 { LEAF_CAP } else { INNER_CAP };
        if w >= cap / 4 || n < 2 {
            return;
        }
        // Merge the pair (left, left + 1) that holds child c into left.
        let left = if c + 1 < n { c } else { c - 1 };
        let (a, b) = {
            let node = &self.inners[id as usize];
            (node.children[left], node.children[left + 1])
        };
        if self.width(a, height - 1) + self.width(b, height - 1) > cap {
            return;
        }
        let moved = self.inners[id as usize].counts[left + 1];
        self.inners[id as usize].counts[left] += moved;
        if height == 1 {
            let mut right = std::mem::replace(&mut self.leaves[b as usize], Leaf::empty());
            let l = &mut self.leaves[a as usize];
            l.append(&mut right);
            l.next = right.next;
            if right.next != NIL {
                self.leaves[right.next as usize].prev = a;
            }
            // b's slot is already empty: drop_child frees it.
        } else {
            let right = std::mem::replace(&mut self.inners[b as usize], Inner::empty());
            let sep_score = self.inners[id as usize].sep_scores[left];
            let sep_member = self.inners[id as usize].sep_members[left].clone();
            let l = &mut self.inners[a as usize];
            let (at, m) = (l.n as usize, right.n as usize);
            l.sep_scores[at - 1] = sep_score;
            l.sep_scores[at..at + m - 1].copy_from_slice(&right.sep_scores[..m - 1]);
            l.sep_members.push(sep_member);
            l.sep_members.extend(right.sep_members);
            l.children[at..at + m].copy_from_slice(&right.children[..m]);
            l.counts[at..at + m].copy_from_slice(&right.counts[..m]);
            l.n += right.n;
        }
        // Child left + 1 is now empty: remove it and the separator in front.
        self.inners[id as usize].counts[left + 1] = 0;
        self.drop_child(id, height, left + 1);
    }

    /// Takes a leaf out of the prev / next chain.
    fn unlink_leaf(&mut self, id: u32) {
        let (prev, next) = {
            let l = &self.leaves[id as usize];
            (l.prev, l.next)
        };
        if prev != NIL {
            self.leaves[prev as usize].next = next;
        }
        if next != NIL {
            self.leaves[next as usize].prev = prev;
        }
    }

    /// 0-based rank of an element present in the tree.
    pub(crate) fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        if self.root == NIL {
            return None;
        }
        let (mut id, mut rank) = (self.root, 0);
        for _ in 0..self.height {
            let node = &self.inners[id as usize];
            let c = node.route(score, member);
            rank += node.before(c);
            id = node.children[c];
        }
        self.leaves[id as usize]
            .find(score, member)
            .map(|at| rank + at)
    }

    /// The element at 0-based `rank`.
    pub(crate) fn at_rank(&self, rank: usize) -> Option<Pos> {
        if rank >= self.len {
            return None;
        }
        let (mut id, mut left) = (self.root, rank);
        for _ in 0..self.height {
            let node = &self.inners[id as usize];
            let mut c = 0;
            while c + 1 < node.n as usize && left >= node.counts[c] {
                left -= node.counts[c];
                c += 1;
            }
            id = node.children[c];
        }
        (left < self.leaves[id as usize].len()).then_some(Pos(id, left as u32))
    }

    /// How many elements satisfy `before` (a predicate true on a prefix of
    /// the order): the 0-based rank of the first element that does not.
    pub(crate) fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        if self.root == NIL {
            return 0;
        }
        let (mut id, mut rank) = (self.root, 0);
        for _ in 0..self.height {
            let node = &self.inners[id as usize];
            // A separator satisfying `before` means every element of the
            // children in front of it does.
            let mut c = 0;
            while c < node.seps().len()
                && before(node.sep_scores[c], node.sep_members[c].as_bytes())
            {
                c += 1;
            }
            rank += node.before(c);
            id = node.children[c];
        }
        let leaf = &self.leaves[id as usize];
        let mut at = 0;
        while at < leaf.len() && before(leaf.scores[at], leaf.members[at].as_bytes()) {
            at += 1;
        }
        rank + at
    }

    /// The element at `p`.
    pub(crate) fn get(&self, p: Pos) -> (f64, &[u8]) {
        let leaf = &self.leaves[p.0 as usize];
        (
            leaf.scores[p.1 as usize],
            leaf.members[p.1 as usize].as_bytes(),
        )
    }

    /// The element after `p`.
    pub(crate) fn next(&self, p: Pos) -> Option<Pos> {
        let leaf = &self.leaves[p.0 as usize];
        if (p.1 as usize) + 1 < leaf.len() {
            return Some(Pos(p.0, p.1 + 1));
        }
        (leaf.next != NIL).then_some(Pos(leaf.next, 0))
    }

    /// The element before `p`.
    pub(crate) fn prev(&self, p: Pos) -> Option<Pos> {
        if p.1 > 0 {
            return Some(Pos(p.0, p.1 - 1));
        }
        let prev = self.leaves[p.0 as usize].prev;
        if prev == NIL {
            return None;
        }
        Some(Pos(prev, self.leaves[prev as usize].len() as u32 - 1))
    }

    /// Elements of 0-based ranks `start..=end` (clamped), forward or reverse
    /// (`rev`: ranks counted from the end).
    pub(crate) fn range(&self, start: usize, end: usize, rev: bool) -> Vec<(f64, &[u8])> {
        let mut out = Vec::new();
        if start > end || start >= self.len {
            return out;
        }
        let end = end.min(self.len - 1);
        out.reserve(end - start + 1);
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

    /// Checks every invariant (tests).
    #[cfg(test)]
    fn check(&self) {
        if self.root == NIL {
            assert_eq!(self.len, 0);
            return;
        }
        let mut all = Vec::new();
        let n = self.check_node(self.root, self.height, &mut all);
        assert_eq!(n, self.len);
        assert!(all
            .windows(2)
            .all(|w| cmp(w[0].0, &w[0].1, w[1].0, &w[1].1) == Ordering::Less));
        // The leaf chain walks the same elements, both ways.
        let mut p = self.at_rank(0);
        let mut walked = Vec::new();
        while let Some(cur) = p {
            let (s, m) = self.get(cur);
            walked.push((s, m.to_vec()));
            p = self.next(cur);
        }
        assert_eq!(walked, all);
    }

    #[cfg(test)]
    fn check_node(&self, id: u32, height: usize, all: &mut Vec<(f64, Vec<u8>)>) -> usize {
        if height == 0 {
            let l = &self.leaves[id as usize];
            assert!(l.len() > 0 && l.len() <= LEAF_CAP);
            for (s, m) in l.scores().iter().zip(l.members()) {
                all.push((*s, m.as_bytes().to_vec()));
            }
            return l.len();
        }
        let node = &self.inners[id as usize];
        assert!(node.n > 0 && node.n as usize <= INNER_CAP);
        assert_eq!(node.sep_members.len() + 1, node.n as usize);
        let mut total = 0;
        for (c, &child) in node.children[..node.n as usize].iter().enumerate() {
            let from = all.len();
            let n = self.check_node(child, height - 1, all);
            assert_eq!(n, node.counts[c]);
            for (s, m) in &all[from..] {
                if c > 0 {
                    let sep = (node.sep_scores[c - 1], node.sep_members[c - 1].as_bytes());
                    assert_ne!(cmp(*s, m, sep.0, sep.1), Ordering::Less);
                }
                if c < node.seps().len() {
                    let sep = (node.sep_scores[c], node.sep_members[c].as_bytes());
                    assert_eq!(cmp(*s, m, sep.0, sep.1), Ordering::Less);
                }
            }
            total += n;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Applies adds / removes to the tree and a sorted-vec model; compares.
    fn run(ops: &[(bool, u16, i8)], members: u16) -> Result<(), TestCaseError> {
        let mut tree = OrderTree::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        for &(add, m, s) in ops {
            let m = m % members;
            let member = format!("m{m}").into_bytes();
            let score = f64::from(s);
            let present = model.iter().position(|(_, mm)| *mm == member);
            if add {
                // As a sorted set does: a present member moves.
                if let Some(i) = present {
                    let old = model.remove(i);
                    // Every other move with the new place's path, as ZADD
                    // gives it, every third with the old place's.
                    let path = (m % 2 == 0)
                        .then(|| tree.prefetch(score, &member))
                        .flatten();
                    let from = (m % 3 == 0).then(|| tree.prefetch(old.0, &old.1)).flatten();
                    tree.move_present(old.0, &old.1, score, path.as_ref(), from.as_ref());
                } else if m % 3 == 0 {
                    let path = tree.prefetch(score, &member);
                    tree.insert_along(score, Member::from(&member[..]), path.as_ref());
                } else {
                    tree.insert(score, &member);
                }
                let at =
                    model.partition_point(|(s, m)| cmp(*s, m, score, &member) == Ordering::Less);
                model.insert(at, (score, member));
            } else if let Some(i) = present {
                let old = model.remove(i);
                if i % 2 == 0 {
                    tree.remove_present(old.0, &old.1);
                } else {
                    prop_assert!(tree.remove(old.0, &old.1));
                }
            } else {
                prop_assert!(!tree.remove(score, &member));
            }
            prop_assert_eq!(tree.len(), model.len());
        }
        tree.check();
        for (i, (s, m)) in model.iter().enumerate() {
            prop_assert_eq!(tree.rank(*s, m), Some(i));
            let p = tree.at_rank(i).expect("rank in range");
            prop_assert_eq!(tree.get(p), (*s, m.as_slice()));
        }
        prop_assert_eq!(tree.rank(0.5, b"absent"), None);
        let all = tree.range(0, usize::MAX, false);
        prop_assert_eq!(all.len(), model.len());
        let rev = tree.range(0, usize::MAX, true);
        prop_assert!(rev.iter().rev().eq(all.iter()));
        for cut in -1..6 {
            let c = f64::from(cut);
            let below = tree.count_before(|s, _| s < c);
            prop_assert_eq!(below, model.iter().filter(|(s, _)| *s < c).count());
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_a_sorted_vec(ops in proptest::collection::vec((any::<bool>(), any::<u16>(), 0i8..6), 1..300)) {
            run(&ops, 40)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Random adds and removes over enough members for splits, merges
        /// and a changing height.
        #[test]
        fn matches_a_sorted_vec_when_deep(ops in proptest::collection::vec((any::<bool>(), any::<u16>(), 0i8..6), 1..4000)) {
            run(&ops, 700)?;
        }

        /// Enough elements for several levels, then most removed (merges,
        /// root shrinking).
        #[test]
        fn deep_trees_grow_and_shrink(seed in any::<u64>(), keep in 0u16..200) {
            let mut x = seed | 1;
            let mut ops = Vec::new();
            for i in 0..6000u16 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ops.push((true, i, (x % 5) as i8));
            }
            for i in keep..6000u16 {
                ops.push((false, i, 0));
            }
            // Removing needs the score: re-add with a known score first.
            let ops: Vec<(bool, u16, i8)> = ops
                .into_iter()
                .flat_map(|(add, m, s)| {
                    if add { vec![(true, m, s)] } else { vec![(true, m, 0), (false, m, 0)] }
                })
                .collect();
            run(&ops, 6000)?;
        }
    }

    proptest! {
        #[test]
        fn score_span_is_the_range_of_equal_scores(
            mut scores in proptest::collection::vec(-4i8..4, 0..80),
            probe in -5i8..5,
        ) {
            let mut scores: Vec<f64> = scores.drain(..).map(|s| f64::from(s) * 0.5).collect();
            scores.sort_by(f64::total_cmp);
            let key = f64::from(probe) * 0.5;
            let lo = scores.iter().filter(|x| x.total_cmp(&key).is_lt()).count();
            let hi = scores.iter().filter(|x| x.total_cmp(&key).is_le()).count();
            prop_assert_eq!(score_span(&scores, key), (lo, hi));
        }
    }

    /// A tree big enough for its arenas to move into buffers advised for
    /// huge pages (`grow`): the moves keep every node, link and count.
    #[test]
    fn a_tree_whose_arenas_grow_past_the_huge_page_threshold_stays_whole() {
        let mut tree = OrderTree::default();
        let n = 2 * super::super::huge::MIN_BYTES / std::mem::size_of::<Leaf>() * LEAF_CAP / 2;
        let score = |i: usize, round: usize| ((i * 7919 + round * 104_729) % 1_000_003) as f64;
        for i in 0..n {
            tree.insert(score(i, 0), format!("m{i:07}").as_bytes());
        }
        assert!(
            tree.leaves.capacity() * std::mem::size_of::<Leaf>() >= super::super::huge::MIN_BYTES
        );
        // Every member moves (remove + insert), as ZADD of a new score does.
        for i in 0..n {
            let m = format!("m{i:07}");
            assert!(tree.remove(score(i, 0), m.as_bytes()));
            tree.insert(score(i, 1), m.as_bytes());
        }
        tree.check();
        assert_eq!(tree.len(), n);
        for i in (0..n).step_by(997) {
            let m = format!("m{i:07}");
            let r = tree.rank(score(i, 1), m.as_bytes()).expect("present");
            let p = tree.at_rank(r).expect("rank in range");
            assert_eq!(tree.get(p), (score(i, 1), m.as_bytes()));
        }
    }

    /// A path the tree changed since (splits, merges, other moves) is
    /// ignored, and so is one for another score: every move still lands
    /// where it belongs.
    #[test]
    fn a_stale_path_is_ignored() {
        let mut tree = OrderTree::default();
        let score = |i: u32, round: u32| f64::from((i * 7919 + round * 104_729) % 100_003);
        for i in 0..20_000u32 {
            tree.insert(score(i, 0), format!("m{i:05}").as_bytes());
        }
        let mut scores: Vec<f64> = (0..20_000).map(|i| score(i, 0)).collect();
        for round in 1..4u32 {
            // Paths for every member first, then all the moves: each path
            // but the first is stale when used.
            let paths: Vec<Option<Path>> = (0..20_000u32)
                .map(|i| tree.prefetch(score(i, round), format!("m{i:05}").as_bytes()))
                .collect();
            assert!(paths.iter().all(Option::is_some));
            // The old places' paths too, for every other member.
            let froms: Vec<Option<Path>> = (0..20_000u32)
                .map(|i| {
                    let m = format!("m{i:05}");
                    (i % 2 == 0)
                        .then(|| tree.prefetch(scores[i as usize], m.as_bytes()))
                        .flatten()
                })
                .collect();
            for i in 0..20_000u32 {
                let m = format!("m{i:05}");
                let new = score(i, round);
                tree.move_present(
                    scores[i as usize],
                    m.as_bytes(),
                    new,
                    paths[i as usize].as_ref(),
                    froms[i as usize].as_ref(),
                );
                scores[i as usize] = new;
            }
            tree.check();
            // A fresh path for another score than the move's.
            let m = b"m00001";
            let path = tree.prefetch(-1.0, m);
            tree.move_present(scores[1], m, 1e9, path.as_ref(), path.as_ref());
            scores[1] = 1e9;
            tree.check();
            // New members inserted along paths taken before all of them.
            let fresh: Vec<(f64, String)> = (0..3_000u32)
                .map(|i| (score(i, round + 7), format!("n{round}:{i:05}")))
                .collect();
            let paths: Vec<Option<Path>> = fresh
                .iter()
                .map(|(s, m)| tree.prefetch(*s, m.as_bytes()))
                .collect();
            for ((s, m), path) in fresh.iter().zip(&paths) {
                tree.insert_along(*s, Member::from(m.as_bytes()), path.as_ref());
            }
            tree.check();
            for (s, m) in &fresh {
                assert!(tree.remove(*s, m.as_bytes()));
            }
        }
        assert_eq!(tree.len(), 20_000);
        for (i, s) in scores.iter().enumerate() {
            let m = format!("m{i:05}");
            let r = tree.rank(*s, m.as_bytes()).expect("present");
            assert_eq!(
                tree.get(tree.at_rank(r).expect("rank in range")),
                (*s, m.as_bytes())
            );
        }
    }

    #[test]
    fn equal_scores_order_by_member_across_splits() {
        let mut tree = OrderTree::default();
        for i in (0..5000u32).rev() {
            tree.insert(1.0, format!("{i:05}").as_bytes());
        }
        tree.check();
        assert_eq!(tree.rank(1.0, b"00000"), Some(0));
        assert_eq!(tree.rank(1.0, b"04999"), Some(4999));
        assert_eq!(tree.count_before(|_, m| m < &b"02500"[..]), 2500);
        for i in 0..5000u32 {
            assert!(tree.remove(1.0, format!("{i:05}").as_bytes()));
        }
        tree.check();
        assert_eq!(tree.len(), 0);
        assert!(tree.at_rank(0).is_none());
    }
}
