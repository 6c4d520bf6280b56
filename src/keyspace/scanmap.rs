//! `ScanMap`: the member table of hashes, sets and sorted sets, a hash
//! table whose slots are in the order of the members' hashes.
//!
//! * Layout: open addressing with linear probing, the home slot of a hash
//!   being its top bits (`h >> shift`), and the occupied slots sorted by
//!   hash ("ordered hash table", as Robin Hood hashing keeps them). No
//!   cluster wraps around: an insert that runs past the last slot appends
//!   one. Invariants ([`ScanMap::check`]): hashes never decrease along the
//!   slots, every member sits at or after its home slot, and no empty slot
//!   lies between a member's home and the member. The layout depends only
//!   on the members and the capacity, never on the order of the inserts.
//! * Member operations are O(1) expected, as for any hash table: the load
//!   stays between 1/8 (it shrinks below) and 3/4 (it doubles above).
//! * `*SCAN` ([`ScanMap::scan`]): the cursor is the next hash to visit; a
//!   step returns the members whose hash is `>= cursor` in hash order. A
//!   member's hash never changes and a resize keeps the order, so a member
//!   present for the whole iteration is returned exactly once, whatever is
//!   added or removed meanwhile (Redis promises at least once), and a step
//!   costs O(count), not O(N).
//! * Random picks ([`ScanMap::pick`]): the first member at or after a random
//!   point of the hash space, then a few more steps; O(1) expected. They
//!   depend only on the members and the draw, never on the capacity or the
//!   insert history, so every replica of a cluster picks the same members
//!   (SPOP is replicated as the command, not as its effect).
//! * The hash: foldhash (quality variant) under the process-wide
//!   order seed ([`set_order_secret`]). Replicas must use the same seed; an
//!   attacker who knows it can choose members whose hashes crowd one
//!   region of the table and make inserts there slow. The server derives it
//!   from `--cluster-secret` when one is given; without one it is a fixed
//!   constant (documented in docs/architecture.md).

use std::hash::BuildHasher;
use std::sync::OnceLock;

use super::members::Member;

/// The seed used when no secret is given.
const DEFAULT_ORDER_SEED: u64 = 0x5EED_F1CA_5C0F_FEE5;

/// The order seed of this process and the hasher built from it.
static ORDER: OnceLock<(u64, foldhash::quality::FixedState)> = OnceLock::new();

fn order_of(seed: u64) -> (u64, foldhash::quality::FixedState) {
    (seed, foldhash::quality::FixedState::with_seed(seed))
}

/// Seeds the member hash of every [`ScanMap`] in this process with
/// `secret`, which every node of a cluster shares (see the module docs); an
/// empty secret is no secret and keeps the default seed. Call it before any
/// keyspace is opened: once the seed was set or used, another one is refused.
pub fn set_order_secret(secret: &[u8]) -> Result<(), String> {
    let seed = if secret.is_empty() {
        DEFAULT_ORDER_SEED
    } else {
        foldhash::quality::FixedState::with_seed(DEFAULT_ORDER_SEED).hash_one(secret)
    };
    if ORDER.get_or_init(|| order_of(seed)).0 == seed {
        Ok(())
    } else {
        Err("the member-order seed was already set in this process".into())
    }
}

/// The 63-bit hash that orders the members (the top bit is always clear).
pub(crate) fn order_hash(member: &[u8]) -> u64 {
    ORDER
        .get_or_init(|| order_of(DEFAULT_ORDER_SEED))
        .1
        .hash_one(member)
        >> 1
}

/// [`ScanMap::pick`]'s rule for members kept densely in hash order (the
/// compact forms of small hashes and sorted sets), so that every form
/// picks alike: the positions of `n` of the `len` members (all if there
/// are fewer), from `start`, the position of the first member whose hash
/// is `>= r >> 1` (`len` when there is none: it wraps to the first), on
/// in order and wrapping around; a single pick moves on a further `r % 8`.
pub(crate) fn dense_picks(
    len: usize,
    start: usize,
    r: u64,
    n: usize,
) -> impl Iterator<Item = usize> {
    let n = n.min(len);
    let mut i = if len == 0 { 0 } else { start % len };
    if n == 1 {
        i = (i + (r % 8) as usize % len) % len;
    }
    (0..n).map(move |k| (i + k) % len)
}

/// One slot: the member's hash (meaningless when empty) and the entry.
#[derive(Clone)]
struct Slot<V> {
    hash: u64,
    entry: Option<(Member, V)>,
}

impl<V> Slot<V> {
    const fn empty() -> Slot<V> {
        Slot {
            hash: 0,
            entry: None,
        }
    }
}

/// Smallest capacity (slots before any spill past the end).
const MIN_BITS: u32 = 2;

/// Slots allocated past the capacity at a time, for the clusters that run
/// past the last home slot.
const SPILL: usize = 16;

/// Grows `slots` to at least `len` slots, past the capacity a little room
/// at a time: a push into a full Vec would double a big table's memory for
/// one slot.
fn spill_to<V>(slots: &mut Vec<Slot<V>>, len: usize) {
    if len > slots.len() {
        if len > slots.capacity() {
            slots.reserve_exact(len - slots.len() + SPILL);
        }
        slots.resize_with(len, Slot::empty);
    }
}

/// Where a probe for a hash and a member ended.
enum Probe {
    /// The member is in this slot.
    Found(usize),
    /// The member is absent; it belongs in this slot.
    Vacant(usize),
}

/// A map from members to `V`, in hash order (see the module docs).
#[derive(Clone)]
pub(crate) struct ScanMap<V> {
    slots: Vec<Slot<V>>,
    /// log2 of the capacity.
    bits: u32,
    len: usize,
}

impl<V> Default for ScanMap<V> {
    fn default() -> Self {
        ScanMap {
            slots: Vec::new(),
            bits: 0,
            len: 0,
        }
    }
}

impl<V> ScanMap<V> {
    /// Number of members.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no member.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Capacity (the load's denominator).
    fn capacity(&self) -> usize {
        if self.slots.is_empty() {
            0
        } else {
            1 << self.bits
        }
    }

    fn home(&self, hash: u64) -> usize {
        // hash < 2^63, so the shift keeps `bits` bits.
        (hash >> (63 - self.bits)) as usize
    }

    fn probe(&self, hash: u64, member: &[u8]) -> Probe {
        if self.slots.is_empty() {
            return Probe::Vacant(0);
        }
        let mut i = self.home(hash);
        while let Some(slot) = self.slots.get(i) {
            match &slot.entry {
                None => return Probe::Vacant(i),
                Some((m, _)) => {
                    if slot.hash > hash {
                        return Probe::Vacant(i);
                    }
                    if slot.hash == hash && m.as_bytes() == member {
                        return Probe::Found(i);
                    }
                }
            }
            i += 1;
        }
        Probe::Vacant(i)
    }

    /// Starts loading the home slot of `member` into the cache and returns
    /// its hash, for [`ScanMap::get_mut_hashed`] / [`ScanMap::insert_hashed`]
    /// after some other work (a write logs its record in between), so that
    /// a big table's cache miss overlaps that work.
    pub(crate) fn prefetch(&self, member: &[u8]) -> u64 {
        let hash = order_hash(member);
        if let Some(slot) = self.slots.get(self.home(hash)) {
            crate::prefetch::lines(slot);
        }
        hash
    }

    /// The value of `member`.
    pub(crate) fn get(&self, member: &[u8]) -> Option<&V> {
        self.get_hashed(order_hash(member), member)
    }

    /// [`ScanMap::get`] with the member's hash from [`ScanMap::prefetch`].
    pub(crate) fn get_hashed(&self, hash: u64, member: &[u8]) -> Option<&V> {
        debug_assert_eq!(hash, order_hash(member));
        match self.probe(hash, member) {
            Probe::Found(i) => self.slots[i].entry.as_ref().map(|(_, v)| v),
            Probe::Vacant(_) => None,
        }
    }

    /// The value of `member`, to change in place.
    pub(crate) fn get_mut(&mut self, member: &[u8]) -> Option<&mut V> {
        self.get_mut_hashed(order_hash(member), member)
    }

    /// [`ScanMap::get_mut`] with the member's hash from [`ScanMap::prefetch`].
    pub(crate) fn get_mut_hashed(&mut self, hash: u64, member: &[u8]) -> Option<&mut V> {
        debug_assert_eq!(hash, order_hash(member));
        match self.probe(hash, member) {
            Probe::Found(i) => self.slots[i].entry.as_mut().map(|(_, v)| v),
            Probe::Vacant(_) => None,
        }
    }

    /// Whether `member` is present.
    pub(crate) fn contains_key(&self, member: &[u8]) -> bool {
        matches!(self.probe(order_hash(member), member), Probe::Found(_))
    }

    /// Inserts or replaces; returns the value replaced.
    pub(crate) fn insert(&mut self, member: &[u8], value: V) -> Option<V> {
        self.insert_with(order_hash(member), member, Member::from, value)
    }

    /// [`ScanMap::insert`] with the member's hash from [`ScanMap::prefetch`].
    pub(crate) fn insert_hashed(&mut self, hash: u64, member: &[u8], value: V) -> Option<V> {
        debug_assert_eq!(hash, order_hash(member));
        self.insert_with(hash, member, Member::from, value)
    }

    /// Makes room for `n` members in all, so that inserting up to `n`
    /// resizes the table at most once, here (a table built whole: a STORE
    /// result, a restored value). Only the capacity changes: the order, the
    /// scans and the picks depend on the members alone.
    pub(crate) fn reserve(&mut self, n: usize) {
        if n * 4 > self.capacity() * 3 {
            self.resize(self.bits_for(n));
        }
    }

    /// Inserts `member` itself (not a copy) or replaces its value; returns
    /// the value replaced.
    pub(crate) fn insert_member(&mut self, member: Member, value: V) -> Option<V> {
        let hash = order_hash(member.as_bytes());
        self.insert_with(hash, member, |m| m, value)
    }

    fn insert_with<K: AsRef<[u8]>>(
        &mut self,
        hash: u64,
        key: K,
        make: impl FnOnce(K) -> Member,
        value: V,
    ) -> Option<V> {
        let member = key.as_ref();
        match self.probe(hash, member) {
            Probe::Found(i) => self.slots[i]
                .entry
                .as_mut()
                .map(|(_, v)| std::mem::replace(v, value)),
            Probe::Vacant(mut at) => {
                if (self.len + 1) * 4 > self.capacity() * 3 {
                    self.resize(self.bits_for(self.len + 1));
                    let Probe::Vacant(moved) = self.probe(hash, member) else {
                        unreachable!("the member was absent before the resize");
                    };
                    at = moved;
                }
                self.place(at, hash, make(key), value);
                self.len += 1;
                None
            }
        }
    }

    /// Puts an entry into slot `at` (its probe's answer), shifting the
    /// cluster from there up to its first empty slot one slot to the right.
    fn place(&mut self, at: usize, hash: u64, member: Member, value: V) {
        let gap = (at..self.slots.len())
            .find(|&j| self.slots[j].entry.is_none())
            .unwrap_or_else(|| {
                let end = self.slots.len();
                spill_to(&mut self.slots, end + 1);
                end
            });
        self.slots[at..=gap].rotate_right(1);
        self.slots[at] = Slot {
            hash,
            entry: Some((member, value)),
        };
    }

    /// Removes `member`; returns its value.
    pub(crate) fn remove(&mut self, member: &[u8]) -> Option<V> {
        let Probe::Found(at) = self.probe(order_hash(member), member) else {
            return None;
        };
        let (_, value) = self.slots[at].entry.take()?;
        // Backward shift: the members after it that sit past their home
        // move one slot left, up to the first that is at its home.
        let mut end = at + 1;
        while let Some(slot) = self.slots.get(end) {
            if slot.entry.is_none() || self.home(slot.hash) >= end {
                break;
            }
            end += 1;
        }
        self.slots[at..end].rotate_left(1);
        self.len -= 1;
        if self.len * 8 < self.capacity() && self.bits > MIN_BITS {
            self.resize(self.bits_for(self.len));
        }
        Some(value)
    }

    /// log2 of the capacity for `n` members at a load of at most 1/2.
    fn bits_for(&self, n: usize) -> u32 {
        (n * 2).next_power_of_two().trailing_zeros().max(MIN_BITS)
    }

    /// Rebuilds the slots at capacity `2^bits`, keeping the order.
    fn resize(&mut self, bits: u32) {
        let old = std::mem::take(&mut self.slots);
        self.bits = bits;
        let mut slots: Vec<Slot<V>> = Vec::with_capacity((1usize << bits) + SPILL);
        super::huge::advise(&slots);
        slots.resize_with(1 << bits, Slot::empty);
        let mut next = 0usize;
        for slot in old {
            if slot.entry.is_none() {
                continue;
            }
            let at = next.max(self.home(slot.hash));
            spill_to(&mut slots, at + 1);
            slots[at] = slot;
            next = at + 1;
        }
        self.slots = slots;
    }

    /// A copy with every value mapped by `f` (same members, same layout).
    pub(crate) fn map_values<W>(&self, f: impl Fn(&V) -> W) -> ScanMap<W> {
        ScanMap {
            slots: self
                .slots
                .iter()
                .map(|s| Slot {
                    hash: s.hash,
                    entry: s.entry.as_ref().map(|(m, v)| (m.clone(), f(v))),
                })
                .collect(),
            bits: self.bits,
            len: self.len,
        }
    }

    /// Every member and value, in hash order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Member, &V)> {
        self.slots
            .iter()
            .filter_map(|s| s.entry.as_ref().map(|(m, v)| (m, v)))
    }

    /// Every member, in hash order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Member> {
        self.iter().map(|(m, _)| m)
    }

    /// Every value, in hash order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// The first occupied slot at or after `from`, if any.
    fn occupied_from(&self, from: usize) -> Option<usize> {
        (from..self.slots.len()).find(|&j| self.slots[j].entry.is_some())
    }

    /// The slot of the first member whose hash is `>= hash`, if any.
    fn seek(&self, hash: u64) -> Option<usize> {
        if self.slots.is_empty() || hash >= 1 << 63 {
            return None;
        }
        let mut i = self.home(hash);
        loop {
            i = self.occupied_from(i)?;
            if self.slots[i].hash >= hash {
                return Some(i);
            }
            i += 1;
        }
    }

    fn entry_at(&self, i: usize) -> (&Member, &V) {
        let (m, v) = self.slots[i]
            .entry
            .as_ref()
            .expect("callers pass occupied slots");
        (m, v)
    }

    /// One `*SCAN` step: about `count` members with hash `>= cursor` (all
    /// those sharing the last one's hash), and the next cursor (0: done).
    pub(crate) fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Member, &V)>) {
        let mut out = Vec::new();
        let Some(mut i) = self.seek(cursor) else {
            return (0, out);
        };
        let mut last = 0;
        loop {
            let hash = self.slots[i].hash;
            if out.len() >= count.max(1) && hash != last {
                return (hash, out);
            }
            out.push(self.entry_at(i));
            last = hash;
            match self.occupied_from(i + 1) {
                Some(j) => i = j,
                None => return (0, out),
            }
        }
    }

    /// `n` distinct members (all if there are fewer) picked by the draw
    /// `r`: the first at or after a point of the hash space that `r`
    /// chooses, then the next ones in hash order (wrapping around). A single
    /// pick moves on a further `r % 8` members: the chance of a member is
    /// then the mean of eight gaps between hashes rather than one gap.
    pub(crate) fn pick(&self, r: u64, n: usize) -> Vec<(&Member, &V)> {
        let n = n.min(self.len);
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return out;
        }
        let first = self.occupied_from(0).expect("a non-empty map has a member");
        let next = |i: usize| self.occupied_from(i + 1).unwrap_or(first);
        let mut i = self.seek(r >> 1).unwrap_or(first);
        if n == 1 {
            for _ in 0..(r % 8) as usize % self.len {
                i = next(i);
            }
        }
        for _ in 0..n {
            out.push(self.entry_at(i));
            i = next(i);
        }
        out
    }

    /// Checks the invariants of the module docs (tests).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let mut prev = 0u64;
        let mut count = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some((m, _)) = &slot.entry else { continue };
            count += 1;
            assert_eq!(slot.hash, order_hash(m.as_bytes()));
            assert!(slot.hash >= prev, "hashes decrease at slot {i}");
            prev = slot.hash;
            let home = self.home(slot.hash);
            assert!(home <= i, "slot {i} is before its home {home}");
            assert!(
                self.slots[home..i].iter().all(|s| s.entry.is_some()),
                "an empty slot between home {home} and slot {i}"
            );
        }
        assert_eq!(count, self.len);
        assert!(self.slots.len() >= self.capacity());
        if self.len > 0 {
            assert!(self.len * 4 <= self.capacity() * 3);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    fn member(i: u16) -> Vec<u8> {
        format!("m{i}").into_bytes()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Inserts, removes and lookups agree with a BTreeMap, and the
        /// layout keeps its invariants after every change.
        #[test]
        fn matches_a_btreemap(ops in proptest::collection::vec((any::<bool>(), 0u16..400, any::<u32>()), 1..1500)) {
            let mut map = ScanMap::default();
            let mut model = BTreeMap::new();
            for (add, m, v) in ops {
                let key = member(m);
                if add {
                    prop_assert_eq!(map.insert(&key, v), model.insert(key.clone(), v));
                } else {
                    prop_assert_eq!(map.remove(&key), model.remove(&key));
                }
                map.check();
                prop_assert_eq!(map.len(), model.len());
                prop_assert_eq!(map.get(&key), model.get(&key));
            }
            let mut all: Vec<(Vec<u8>, u32)> =
                map.iter().map(|(m, v)| (m.as_bytes().to_vec(), *v)).collect();
            prop_assert!(all.windows(2).all(|w| order_hash(&w[0].0) <= order_hash(&w[1].0)));
            all.sort();
            prop_assert_eq!(all, model.into_iter().collect::<Vec<_>>());
        }

        /// A scan returns every member present for the whole iteration
        /// exactly once, whatever is added and removed between its steps,
        /// and a step returns about `count` members.
        #[test]
        fn scan_returns_every_stable_member_once(
            stable in 0u16..300,
            churn in proptest::collection::vec((any::<bool>(), 300u16..2000), 0..400),
            count in 1usize..40,
        ) {
            let mut map = ScanMap::default();
            for m in 0..stable {
                map.insert(&member(m), ());
            }
            let mut seen: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
            let mut cursor = 0;
            let mut churn = churn.into_iter();
            loop {
                let (next, got) = map.scan(cursor, count);
                prop_assert!(got.len() <= count + 1, "a step returned {} for count {count}", got.len());
                let got: Vec<Vec<u8>> = got.iter().map(|(m, _)| m.as_bytes().to_vec()).collect();
                for m in got {
                    *seen.entry(m).or_default() += 1;
                }
                if next == 0 {
                    break;
                }
                prop_assert!(next > cursor);
                cursor = next;
                for (add, m) in churn.by_ref().take(5) {
                    if add { map.insert(&member(m), ()); } else { map.remove(&member(m)); }
                }
            }
            for m in 0..stable {
                prop_assert_eq!(seen.get(&member(m)).copied(), Some(1));
            }
        }

        /// Picks are distinct members, depend on the members and the draw
        /// only (not on the insert order or the capacity history).
        #[test]
        fn picks_depend_on_the_members_only(n in 1u16..300, r in any::<u64>(), want in 1usize..20) {
            let mut a = ScanMap::default();
            let mut b = ScanMap::default();
            for m in 0..n {
                a.insert(&member(m), ());
            }
            // b: reverse order, after growing big and shrinking back.
            for m in (0..3000u16).rev() {
                b.insert(&member(m), ());
            }
            for m in n..3000 {
                b.remove(&member(m));
            }
            b.check();
            let pa: Vec<&[u8]> = a.pick(r, want).iter().map(|(m, _)| m.as_bytes()).collect();
            let pb: Vec<&[u8]> = b.pick(r, want).iter().map(|(m, _)| m.as_bytes()).collect();
            prop_assert_eq!(&pa, &pb);
            prop_assert_eq!(pa.len(), want.min(usize::from(n)));
            prop_assert_eq!(pa.iter().collect::<BTreeSet<_>>().len(), pa.len());
        }
    }

    proptest! {
        /// A table reserved for its members resizes only at the reserve and
        /// holds them in the order, with the picks, of one grown insert by
        /// insert.
        #[test]
        fn a_reserved_table_is_the_grown_one_with_room(n in 0u16..3000, r in any::<u64>()) {
            let mut grown = ScanMap::default();
            let mut reserved = ScanMap::default();
            reserved.reserve(usize::from(n));
            let capacity = reserved.capacity();
            for m in 0..n {
                grown.insert(&member(m), ());
                reserved.insert(&member(m), ());
            }
            reserved.check();
            prop_assert_eq!(reserved.capacity(), capacity);
            let order = |t: &ScanMap<()>| t.keys().map(|m| m.as_bytes().to_vec()).collect::<Vec<_>>();
            prop_assert_eq!(order(&grown), order(&reserved));
            let picks = |t: &ScanMap<()>| {
                t.pick(r, 5).iter().map(|(m, _)| m.as_bytes().to_vec()).collect::<Vec<_>>()
            };
            prop_assert_eq!(picks(&grown), picks(&reserved));
        }
    }

    #[test]
    fn single_picks_reach_every_member_roughly_evenly() {
        let mut map = ScanMap::default();
        for m in 0..64u16 {
            map.insert(&member(m), ());
        }
        let mut hits: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        let mut r = 0x1234_5678_9abc_def0u64;
        for _ in 0..64_000 {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (m, _) = map.pick(r, 1)[0];
            *hits.entry(m.as_bytes().to_vec()).or_default() += 1;
        }
        assert_eq!(hits.len(), 64, "every member is picked");
        let (min, max) = (hits.values().min().unwrap(), hits.values().max().unwrap());
        assert!(
            *max < 4 * *min,
            "picks are lopsided: {min}..{max} of an expected 1000"
        );
    }

    #[test]
    fn a_scan_with_a_cursor_past_every_hash_is_done() {
        let mut map = ScanMap::default();
        map.insert(b"a", ());
        assert_eq!(map.scan(u64::MAX, 10).0, 0);
        assert!(map.scan(u64::MAX, 10).1.is_empty());
    }
}
