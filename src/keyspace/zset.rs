//! The Sorted Set family: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT
//! ZLEXCOUNT ZRANGE ZRANGESTORE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE
//! ZRANGEBYLEX ZREVRANGEBYLEX ZRANK ZREVRANK ZPOPMIN ZPOPMAX ZMPOP
//! ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX ZUNION ZINTER ZINTERCARD ZDIFF
//! ZUNIONSTORE ZINTERSTORE ZDIFFSTORE ZRANDMEMBER ZSCAN, and BZPOPMIN
//! BZPOPMAX BZMPOP (run non-blocking: the server does the waiting).
//!
//! A sorted set keeps member -> (score, location of its record) in a hash
//! map and (score, member) in an order-statistic B+tree (`ordtree.rs`):
//! ZADD, ZREM, ZRANK and range starts are O(log n). One record per member
//! written (`TAG_ZSET_MEMBER`, sub-key = 8-byte order-preserving score +
//! member, empty value: recovery needs no value read) or removed
//! (`TAG_ZSET_REM`, sub-key = member).

use bytes::Bytes;
use hashbrown::HashMap;

use super::db::{Db, Entry};
use super::journal::{FixTarget, Journal, RecordKey, TAG_ZSET_MEMBER, TAG_ZSET_REM};
use super::members::{self, DeadTally, Member};
use super::notify::ZSET;
use super::ordtree::{OrderTree, Path};
use super::replay::{incarnation, Load};
use super::scanmap::ScanMap;
use super::smallzset::{self, SmallZSet};
use super::value::{SlimLoc, Value};
use super::Exec;
use crate::command::args::{self, err, int_arg, is, parse_f64};
use crate::command::table::cmd;
use crate::command::{Command, Reply};
use crate::storage::{Location, RecordKind, ReplayEntry};

/// The zset commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("zadd", -4, [write, denyoom, fast], (1, 1, 1), "sorted-set", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "1.2.0", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", zadd),
    cmd!("zincrby", 4, [write, denyoom, fast], (1, 1, 1), "sorted-set", "Increments the score of a member in a sorted set.", "1.2.0", "O(log(N)) where N is the number of elements in the sorted set.", zincrby),
    cmd!("zrem", -3, [write, fast], (1, 1, 1), "sorted-set", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "1.2.0", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.", zrem),
    cmd!("zscore", 3, [readonly, fast], (1, 1, 1), "sorted-set", "Returns the score of a member in a sorted set.", "1.2.0", "O(1)", zscore),
    cmd!("zmscore", -3, [readonly, fast], (1, 1, 1), "sorted-set", "Returns the score of one or more members in a sorted set.", "6.2.0", "O(N) where N is the number of members being requested.", zmscore),
    cmd!("zcard", 2, [readonly, fast], (1, 1, 1), "sorted-set", "Returns the number of members in a sorted set.", "1.2.0", "O(1)", zcard),
    cmd!("zcount", 4, [readonly, fast], (1, 1, 1), "sorted-set", "Returns the count of members in a sorted set that have scores within a range.", "2.0.0", "O(log(N)) with N being the number of elements in the sorted set.", zcount),
    cmd!("zlexcount", 4, [readonly, fast], (1, 1, 1), "sorted-set", "Returns the number of members in a sorted set within a lexicographical range.", "2.8.9", "O(log(N)) with N being the number of elements in the sorted set.", zlexcount),
    cmd!("zrange", -4, [readonly], (1, 1, 1), "sorted-set", "Returns members in a sorted set within a range of indexes.", "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", zrange),
    cmd!("zrangestore", -5, [write, denyoom], (1, 2, 1), "sorted-set", "Stores a range of members from sorted set in a key.", "6.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.", zrangestore),
    cmd!("zrevrange", -4, [readonly], (1, 1, 1), "sorted-set", "Returns members in a sorted set within a range of indexes in reverse order.", "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", zrevrange),
    cmd!("zrangebyscore", -4, [readonly], (1, 1, 1), "sorted-set", "Returns members in a sorted set within a range of scores.", "1.0.5", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", zrangebyscore),
    cmd!("zrevrangebyscore", -4, [readonly], (1, 1, 1), "sorted-set", "Returns members in a sorted set within a range of scores in reverse order.", "2.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", zrevrangebyscore),
    cmd!("zrangebylex", -4, [readonly], (1, 1, 1), "sorted-set", "Returns members in a sorted set within a lexicographical range.", "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", zrangebylex),
    cmd!("zrevrangebylex", -4, [readonly], (1, 1, 1), "sorted-set", "Returns members in a sorted set within a lexicographical range in reverse order.", "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", zrevrangebylex),
    cmd!("zrank", 3, [readonly, fast], (1, 1, 1), "sorted-set", "Returns the index of a member in a sorted set ordered by ascending scores.", "2.0.0", "O(log(N))", zrank),
    cmd!("zrevrank", 3, [readonly, fast], (1, 1, 1), "sorted-set", "Returns the index of a member in a sorted set ordered by descending scores.", "2.0.0", "O(log(N))", zrevrank),
    cmd!("zpopmin", -2, [write, fast], (1, 1, 1), "sorted-set", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "5.0.0", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", zpopmin),
    cmd!("zpopmax", -2, [write, fast], (1, 1, 1), "sorted-set", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "5.0.0", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", zpopmax),
    cmd!("zmpop", -4, [write], (0, 0, 0), "sorted-set", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "7.0.0", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", zmpop),
    cmd!("bzpopmin", -3, [write, blocking, fast], (1, -2, 1), "sorted-set", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "5.0.0", "O(log(N)) with N being the number of elements in the sorted set.", bzpopmin),
    cmd!("bzpopmax", -3, [write, blocking, fast], (1, -2, 1), "sorted-set", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "5.0.0", "O(log(N)) with N being the number of elements in the sorted set.", bzpopmax),
    cmd!("bzmpop", -5, [write, blocking], (0, 0, 0), "sorted-set", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "7.0.0", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", bzmpop),
    cmd!("zremrangebyrank", 4, [write], (1, 1, 1), "sorted-set", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "2.0.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zremrangebyrank),
    cmd!("zremrangebyscore", 4, [write], (1, 1, 1), "sorted-set", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zremrangebyscore),
    cmd!("zremrangebylex", 4, [write], (1, 1, 1), "sorted-set", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zremrangebylex),
    cmd!("zunion", -3, [readonly], (0, 0, 0), "sorted-set", "Returns the union of multiple sorted sets.", "6.2.0", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", zunion),
    cmd!("zinter", -3, [readonly], (0, 0, 0), "sorted-set", "Returns the intersect of multiple sorted sets.", "6.2.0", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", zinter),
    cmd!("zintercard", -3, [readonly], (0, 0, 0), "sorted-set", "Returns the number of members of the intersect of multiple sorted sets.", "7.0.0", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", zintercard),
    cmd!("zdiff", -3, [readonly], (0, 0, 0), "sorted-set", "Returns the difference between multiple sorted sets.", "6.2.0", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", zdiff),
    cmd!("zunionstore", -4, [write, denyoom], (1, 1, 1), "sorted-set", "Stores the union of multiple sorted sets in a key.", "2.0.0", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", zunionstore),
    cmd!("zinterstore", -4, [write, denyoom], (1, 1, 1), "sorted-set", "Stores the intersect of multiple sorted sets in a key.", "2.0.0", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", zinterstore),
    cmd!("zdiffstore", -4, [write, denyoom], (1, 1, 1), "sorted-set", "Stores the difference of multiple sorted sets in a key.", "6.2.0", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", zdiffstore),
    cmd!("zrandmember", -2, [readonly, random], (1, 1, 1), "sorted-set", "Returns one or more random members from a sorted set.", "6.2.0", "O(N) where N is the number of members returned", zrandmember),
    cmd!("zscan", -3, [readonly, random], (1, 1, 1), "sorted-set", "Iterates over members and scores of a sorted set.", "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", zscan),
];

/// Redis 7.0's `zset-max-listpack-entries` and `zset-max-listpack-value`:
/// the limits of the compact form.
const LISTPACK_ENTRIES: usize = smallzset::MAX_MEMBERS;
const LISTPACK_VALUE: usize = smallzset::MAX_BYTES;
/// Members from which a ZADD prefetches the new place's leaf: about where
/// the order tree (~50 bytes per member) outgrows a core's 1-2 MB L2.
const PREFETCH_MIN: usize = 32_768;

/// A score as 8 bytes that sort like the number (sign-flipped IEEE bits).
pub(crate) fn encode_score(score: f64) -> [u8; 8] {
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    ordered.to_be_bytes()
}

/// Inverse of [`encode_score`].
pub(crate) fn decode_score(b: &[u8]) -> Option<f64> {
    let raw: [u8; 8] = b.try_into().ok()?;
    let ordered = u64::from_be_bytes(raw);
    let bits = if ordered >> 63 == 1 {
        ordered ^ (1 << 63)
    } else {
        !ordered
    };
    Some(f64::from_bits(bits))
}

/// A score as Redis 7.0 prints it in RESP2 bulk strings and ZSCAN
/// (`%.17g`; `inf`, `-inf`).
pub(crate) fn format_score(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if (-4..17).contains(&exp) {
        let decimals = (16 - exp) as usize;
        let fixed = format!("{d:.decimals$}");
        let fixed = if fixed.contains('.') {
            fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            fixed
        };
        return fixed;
    }
    let m = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    format!(
        "{m}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

/// Where a ZADD of one member found its places in a big sorted set before
/// it wrote the record ([`ZSetValue::prefetch`]): the new one (`to`) and,
/// for a member that moves, the old one (`from`). Each saves
/// [`ZSetValue::set`] a walk while the tree is unchanged.
#[derive(Default)]
pub(crate) struct MovePaths {
    to: Option<Path>,
    from: Option<Path>,
}

/// A member's score and record.
pub(crate) struct ZEntry {
    score: f64,
    loc: SlimLoc,
}

/// A Sorted Set value: compact while it is small (Redis's listpack
/// encoding), a member table and an order-statistic tree once it is not
/// (sticky, as in Redis).
pub(crate) enum ZSetData {
    /// At most 128 members, none over 64 bytes.
    Small(SmallZSet),
    /// Any sorted set (boxed: a small one's value stays 24 bytes).
    Big(Box<BigZSet>),
}

/// The big form of a sorted set.
pub(crate) struct BigZSet {
    /// Member -> score and record.
    dict: ScanMap<ZEntry>,
    /// (score, member) in rank order.
    list: OrderTree,
}

impl Default for ZSetData {
    fn default() -> Self {
        ZSetData::Small(SmallZSet::default())
    }
}

super::value::boxed_value!(
    /// The value as the keyspace holds it (see `boxed_value`).
    ZSetValue => ZSetData
);

impl ZSetValue {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        match &**self {
            ZSetData::Small(z) => z.len(),
            ZSetData::Big(b) => b.list.len(),
        }
    }

    /// Whether Redis would have left the listpack encoding.
    fn is_big(&self) -> bool {
        matches!(&**self, ZSetData::Big(_))
    }

    /// What OBJECT ENCODING answers.
    pub(crate) fn encoding(&self) -> &'static str {
        if self.is_big() {
            "skiplist"
        } else {
            "listpack"
        }
    }

    /// Elements of 0-based ranks `start..=end` (clamped), forward or
    /// reverse (`rev`: ranks counted from the end).
    fn range(&self, start: usize, end: usize, rev: bool) -> Vec<(f64, &[u8])> {
        match &**self {
            ZSetData::Small(z) => z.range(start, end, rev),
            ZSetData::Big(b) => b.list.range(start, end, rev),
        }
    }

    /// How many elements satisfy `before` (true on a prefix of the order).
    fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &**self {
            ZSetData::Small(z) => z.count_before(before),
            ZSetData::Big(b) => b.list.count_before(before),
        }
    }

    /// 0-based rank of `(score, member)`, if present.
    fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        match &**self {
            ZSetData::Small(z) => z.rank(score, member),
            ZSetData::Big(b) => b.list.rank(score, member),
        }
    }

    /// The element at 0-based `rank`.
    fn at_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        match &**self {
            ZSetData::Small(z) => z.at_rank(rank),
            ZSetData::Big(b) => b.list.at_rank(rank).map(|p| b.list.get(p)),
        }
    }

    /// The record location of `member`, mutably, if present.
    fn loc_mut(&mut self, member: &[u8]) -> Option<&mut SlimLoc> {
        match &mut **self {
            ZSetData::Small(z) => z.get_mut(member).map(|it| &mut it.loc),
            ZSetData::Big(b) => b.dict.get_mut(member).map(|e| &mut e.loc),
        }
    }

    /// The record location of `member`, if present (`Some(None)`: none yet).
    fn loc_of(&self, member: &[u8]) -> Option<Option<Location>> {
        match &**self {
            ZSetData::Small(z) => z.get(member).map(|it| it.loc.get()),
            ZSetData::Big(b) => b.dict.get(member).map(|e| e.loc.get()),
        }
    }

    /// Members of ranks `start..=end` (clamped; from the highest when
    /// `rev`), in rank order.
    pub(crate) fn members_by_rank(&self, start: usize, end: usize, rev: bool) -> Vec<&[u8]> {
        self.range(start, end, rev)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    /// Every (score, member), in rank order (DUMP).
    pub(crate) fn entries(&self) -> Vec<(f64, &[u8])> {
        self.range(0, usize::MAX, false)
    }

    /// Leaves the listpack encoding as Redis's SORT does (sticky until the
    /// value is rebuilt, e.g. on reopen, where Redis's RDB load converts
    /// small sorted sets back too).
    pub(crate) fn leave_listpack(&mut self) {
        let ZSetData::Small(z) = &mut **self else {
            return;
        };
        let (mut dict, mut list) = (ScanMap::default(), OrderTree::default());
        for it in std::mem::take(z).into_items() {
            // One copy of a long member for the table and the tree.
            let m = Member::shared(it.member.as_bytes());
            dict.insert_member(
                m.clone(),
                ZEntry {
                    score: it.score,
                    loc: it.loc,
                },
            );
            list.insert_along(it.score, m, None);
        }
        **self = ZSetData::Big(Box::new(BigZSet { dict, list }));
    }

    /// Visits the elements with `min <= score < max` in order (score, then
    /// member) until `f` returns false (GEOSEARCH's scan of a geohash box).
    pub(crate) fn visit_half_open(
        &self,
        min: f64,
        max: f64,
        mut f: impl FnMut(f64, &[u8]) -> bool,
    ) {
        let start = self.count_before(|s, _| s < min);
        match &**self {
            ZSetData::Small(z) => {
                for it in &z.items()[start..] {
                    if it.score >= max || !f(it.score, it.member.as_bytes()) {
                        break;
                    }
                }
            }
            ZSetData::Big(b) => {
                let list = &b.list;
                let mut pos = list.at_rank(start);
                while let Some(p) = pos {
                    let (s, m) = list.get(p);
                    if s >= max || !f(s, m) {
                        break;
                    }
                    pos = list.next(p);
                }
            }
        }
    }

    /// In a set too big for the caches, starts fetching the leaf where
    /// `(score, member)` belongs without waiting for it: ZADD calls it
    /// before it looks the member up, so that the member table's miss and
    /// the new place's overlap instead of following each other. The path
    /// found saves [`ZSetValue::set`] the walk if nothing changes in between.
    pub(crate) fn prefetch(&self, score: f64, member: &[u8]) -> Option<Path> {
        match &**self {
            ZSetData::Big(b) if b.list.len() >= PREFETCH_MIN => b.list.prefetch(score, member),
            _ => None,
        }
    }

    /// [`ZSetValue::score`] for a ZADD of one member: in a set too big
    /// for the caches, the member table's slot starts loading first, and
    /// while it comes the walk to `new`'s place (if given) runs and fetches
    /// that leaf ([`ZSetValue::prefetch`]); returns the score and that path.
    pub(crate) fn score_prefetching(
        &self,
        member: &[u8],
        new: Option<f64>,
    ) -> (Option<f64>, Option<Path>) {
        match &**self {
            ZSetData::Big(b) if b.list.len() >= PREFETCH_MIN => {
                let hash = b.dict.prefetch(member);
                let path = new.and_then(|s| b.list.prefetch(s, member));
                (b.dict.get_hashed(hash, member).map(|e| e.score), path)
            }
            _ => (self.score(member), None),
        }
    }

    /// The score of `member`.
    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        match &**self {
            ZSetData::Small(z) => z.get(member).map(|it| it.score),
            ZSetData::Big(b) => b.dict.get(member).map(|e| e.score),
        }
    }

    /// Sets a member's score in memory, with `loc` as its record's
    /// location (`None`: not known yet). Returns the replaced record's
    /// location (`Some(None)` if the member existed without one), `None` if
    /// new. `paths`: [`ZSetValue::prefetch`]'s answers for this member.
    fn set(
        &mut self,
        member: &[u8],
        score: f64,
        paths: &MovePaths,
        loc: Option<Location>,
    ) -> Option<Option<Location>> {
        if let ZSetData::Small(z) = &mut **self {
            if let Some(i) = z.find(member) {
                let old = std::mem::replace(&mut z.items_mut()[i].loc, SlimLoc::new(loc)).get();
                if z.items()[i].score.total_cmp(&score) != std::cmp::Ordering::Equal {
                    z.rescore(i, score);
                }
                return Some(old);
            }
            if member.len() <= LISTPACK_VALUE && z.len() < LISTPACK_ENTRIES {
                z.insert(score, member, SlimLoc::new(loc));
                return None;
            }
            self.leave_listpack();
        }
        let ZSetData::Big(b) = &mut **self else {
            unreachable!("left the listpack form above");
        };
        let BigZSet { dict, list } = &mut **b;
        if let Some(e) = dict.get_mut(member) {
            if e.score.total_cmp(&score) != std::cmp::Ordering::Equal {
                list.move_present(
                    e.score,
                    member,
                    score,
                    paths.to.as_ref(),
                    paths.from.as_ref(),
                );
                e.score = score;
            }
            return Some(std::mem::replace(&mut e.loc, SlimLoc::new(loc)).get());
        }
        // One copy of a long member for the table and the tree.
        let m = Member::shared(member);
        dict.insert_member(
            m.clone(),
            ZEntry {
                score,
                loc: SlimLoc::new(loc),
            },
        );
        list.insert_along(score, m, paths.to.as_ref());
        None
    }

    /// Removes a member in memory; returns its record's location.
    fn del(&mut self, member: &[u8]) -> Option<Option<Location>> {
        match &mut **self {
            ZSetData::Small(z) => z.remove(member).map(|it| it.loc.get()),
            ZSetData::Big(b) => {
                let BigZSet { dict, list } = &mut **b;
                let e = dict.remove(member)?;
                list.remove_present(e.score, member);
                Some(e.loc.get())
            }
        }
    }

    /// Whether adding or updating `member` leaves the set in the compact
    /// (listpack) encoding, which stores a -0 score as 0 in Redis.
    fn stays_compact(&self, member: &[u8]) -> bool {
        match &**self {
            ZSetData::Small(z) => {
                member.len() <= LISTPACK_VALUE
                    && (z.len() < LISTPACK_ENTRIES || z.find(member).is_some())
            }
            ZSetData::Big(_) => false,
        }
    }

    /// A sorted set of these (member, score) pairs, of distinct members
    /// (every caller's result is), encoded as Redis would: compact when it
    /// has at most [`LISTPACK_ENTRIES`] pairs, none of a member longer than
    /// [`LISTPACK_VALUE`] (`combined_in_listpack`'s rule), the big form
    /// otherwise.
    ///
    /// Built in one go: a compact one is sorted once (adding its members
    /// one by one scans the array for each), a big one goes straight into
    /// the table and the tree (not first into a compact form it outgrows).
    fn from_pairs(pairs: &[(Bytes, f64)]) -> ZSetValue {
        let compact =
            pairs.len() <= LISTPACK_ENTRIES && pairs.iter().all(|(m, _)| m.len() <= LISTPACK_VALUE);
        let mut z = ZSetValue::default();
        if compact {
            let mut sorted: Vec<(f64, &[u8])> =
                pairs.iter().map(|(m, s)| (*s, m.as_ref())).collect();
            sorted.sort_by(|a, b| super::ordtree::cmp(a.0, a.1, b.0, b.1));
            *z = ZSetData::Small(SmallZSet::from_sorted(sorted.into_iter()));
        } else {
            z.leave_listpack();
            if let ZSetData::Big(b) = &mut *z {
                b.dict.reserve(pairs.len());
            }
            for (m, s) in pairs {
                z.set(m, *s, &MovePaths::default(), None);
            }
        }
        debug_assert_eq!(z.len(), pairs.len(), "from_pairs takes distinct members");
        z
    }

    /// Every record location holding part of the value.
    pub(crate) fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        match &**self {
            ZSetData::Small(z) => z.items().iter().filter_map(|it| it.loc.get()).for_each(f),
            ZSetData::Big(b) => b.dict.values().filter_map(|e| e.loc.get()).for_each(f),
        }
    }

    /// Appends the records that recreate the value under `at`.
    pub(crate) fn rewrite(&self, at: &RecordKey<'_>, expire_at_ms: u64, journal: &mut Journal) {
        let mut put = |score: f64, m: &Member| {
            journal.put(
                TAG_ZSET_MEMBER,
                at,
                &sub_key(score, m.as_bytes()),
                expire_at_ms,
                &Bytes::new(),
                FixTarget::Member(m.to_bytes()),
            );
        };
        match &**self {
            ZSetData::Small(z) => z.items().iter().for_each(|it| put(it.score, &it.member)),
            ZSetData::Big(b) => b.dict.iter().for_each(|(m, e)| put(e.score, m)),
        }
    }

    /// A deep copy without locations.
    pub(crate) fn duplicate(&self) -> Self {
        let mut z = ZSetValue::default();
        if self.is_big() {
            z.leave_listpack();
        }
        for (s, m) in self.range(0, usize::MAX, false) {
            z.set(m, s, &MovePaths::default(), None);
        }
        z
    }

    /// Stores the location of a record just appended (`sub`: its sub-key,
    /// score then member).
    pub(crate) fn set_location(&mut self, target: &FixTarget, sub: &[u8], loc: Location) {
        let member = match target {
            FixTarget::Member(m) => m.as_ref(),
            FixTarget::Sub => match sub.get(8..) {
                Some(m) => m,
                None => return,
            },
            _ => return,
        };
        if let Some(l) = self.loc_mut(member) {
            *l = SlimLoc::new(Some(loc));
        }
    }

    /// Whether the record at `loc` with sub-key `sub` is still live.
    pub(crate) fn is_live(&self, sub: &[u8], loc: Location) -> bool {
        sub.get(8..)
            .and_then(|m| self.loc_of(m))
            .is_some_and(|l| l == Some(loc))
    }

    /// Merge moved a live record from `old` to `new`.
    pub(crate) fn relocate(&mut self, sub: &[u8], old: Location, new: Location) {
        if let Some(l) = sub.get(8..).and_then(|m| self.loc_mut(m)) {
            if l.get() == Some(old) {
                *l = SlimLoc::new(Some(new));
            }
        }
    }

    /// Stores bytes read at recovery (zset records need none: the score is
    /// in the record key).
    pub(crate) fn fill(&mut self, _target: &FixTarget, _loc: Location, _bytes: Bytes) {}
}

/// The record sub-key of a member: score (8 B) + member. On the stack for
/// members up to [`SUB_INLINE`] - 8 bytes (no allocation per ZADD member:
/// the journal copies it into its own buffer anyway).
enum SubKey {
    Inline([u8; SUB_INLINE], usize),
    Heap(Vec<u8>),
}

/// Bytes of a sub-key kept on the stack.
const SUB_INLINE: usize = 64;

impl std::ops::Deref for SubKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SubKey::Inline(buf, len) => &buf[..*len],
            SubKey::Heap(v) => v,
        }
    }
}

fn sub_key(score: f64, member: &[u8]) -> SubKey {
    let len = 8 + member.len();
    if len <= SUB_INLINE {
        let mut buf = [0u8; SUB_INLINE];
        buf[..8].copy_from_slice(&encode_score(score));
        buf[8..len].copy_from_slice(member);
        SubKey::Inline(buf, len)
    } else {
        let mut sub = Vec::with_capacity(len);
        sub.extend_from_slice(&encode_score(score));
        sub.extend_from_slice(member);
        SubKey::Heap(sub)
    }
}

/// Applies one replayed record of this family.
pub(crate) fn replay(
    db: &mut Db,
    _slot: usize,
    key: &[u8],
    sub: &[u8],
    e: &ReplayEntry<'_>,
    _loads: &mut Vec<Load>,
) -> Result<(), String> {
    if e.kind == RecordKind::Delete || e.tag == TAG_ZSET_REM {
        let now_empty = match db.get_mut(key) {
            Some(entry) if entry.gen == e.gen => match &mut entry.value {
                Value::ZSet(z) => {
                    z.del(sub);
                    z.len() == 0
                }
                _ => false,
            },
            _ => false,
        };
        if now_empty {
            db.remove(key);
        }
        return Ok(());
    }
    let score = sub
        .get(..8)
        .and_then(decode_score)
        .filter(|s| !s.is_nan())
        .ok_or("bad zset score")?;
    let member = &sub[8..];
    let Some(entry) = incarnation(db, key, e.gen, e.expire_at_ms, || {
        Value::ZSet(ZSetValue::default())
    }) else {
        return Ok(());
    };
    let Value::ZSet(z) = &mut entry.value else {
        return Err("zset record for a key of another type".to_owned());
    };
    z.set(member, score, &MovePaths::default(), Some(e.location));
    Ok(())
}

/// The zset at `key` (lazy expiry): `Ok(None)` if absent, WRONGTYPE if another type.
pub(crate) fn get<'e>(
    ex: &'e mut Exec<'_>,
    key: &[u8],
) -> Result<Option<&'e mut ZSetValue>, Reply> {
    match ex.entry(key) {
        None => Ok(None),
        Some(Entry {
            value: Value::ZSet(z),
            ..
        }) => Ok(Some(z)),
        Some(_) => Err(err(args::WRONGTYPE)),
    }
}

/// Writes (member, score) pairs into the zset at `key` (created if absent;
/// the caller checked the type), one record each.
fn write(ex: &mut Exec<'_>, key: &Bytes, pairs: &[(&[u8], f64)]) {
    write_along(ex, key, pairs, &MovePaths::default());
}

/// [`write`] with the paths of the only pair, if the caller found them
/// (see [`MovePaths`]; ZADD finds them only for a lone pair).
fn write_along(ex: &mut Exec<'_>, key: &Bytes, pairs: &[(&[u8], f64)], paths: &MovePaths) {
    if pairs.is_empty() {
        return;
    }
    let slot = ex.slot();
    if ex.st.dbs[slot].get(key).is_none() {
        ex.replace_in(ex.db, key, Value::ZSet(ZSetValue::default()), 0);
    }
    let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
        return;
    };
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let Value::ZSet(z) = &mut entry.value else {
        return;
    };
    let mut dead = DeadTally::default();
    for &(m, score) in pairs {
        // Redis's compact encoding stores -0 as 0 (a skiplist keeps -0);
        // the record holds what is stored.
        let score = if score == 0.0 && z.stays_compact(m) {
            0.0
        } else {
            score
        };
        // Logged first: the record's foretold location goes into the member
        // (settle then has nothing to look up again).
        let loc = ex.journal.put_predicted(
            TAG_ZSET_MEMBER,
            &at,
            &sub_key(score, m),
            &Bytes::new(),
            FixTarget::Sub,
        );
        if let Some(Some(old)) = z.set(m, score, paths, loc) {
            dead.add(old);
        }
    }
    dead.for_each(&mut |loc| ex.dead(Some(loc)));
    ex.modified(key);
}

/// Removes members of the zset at `key` (the caller checked the type), one
/// record each; deletes the key when it becomes empty. Returns how many.
fn remove(ex: &mut Exec<'_>, key: &Bytes, items: &[Bytes]) -> usize {
    let slot = ex.slot();
    let Some(entry) = ex.st.dbs[slot].get_mut(key) else {
        return 0;
    };
    let at = RecordKey {
        slot,
        key,
        gen: entry.gen,
    };
    let Value::ZSet(z) = &mut entry.value else {
        return 0;
    };
    let mut removed = 0;
    let mut dead = DeadTally::default();
    for m in items {
        if let Some(old) = z.del(m) {
            removed += 1;
            if let Some(loc) = old {
                dead.add(loc);
            }
            ex.journal.delete(TAG_ZSET_REM, &at, m);
        }
    }
    let empty = z.len() == 0;
    dead.for_each(&mut |loc| ex.dead(Some(loc)));
    if empty {
        ex.delete(key);
    } else if removed > 0 {
        ex.modified(key);
    }
    removed
}

/// [`store`] for a command that stores a result (ZUNIONSTORE,
/// GEOSEARCHSTORE, ...): reports `event`, or `del` when an empty result
/// deleted `dst`.
pub(crate) fn store_result(
    ex: &mut Exec<'_>,
    dst: &Bytes,
    pairs: Vec<(Bytes, f64)>,
    in_listpack: usize,
    event: &str,
) -> usize {
    if pairs.is_empty() {
        ex.delete_reported(dst);
        return 0;
    }
    let n = store(ex, dst, pairs, in_listpack);
    ex.notify(ZSET, event, dst);
    n
}

/// Stores `pairs` as a new zset at `dst` (deleting `dst` when empty). The
/// first `in_listpack` members are the ones Redis's result held in its
/// listpack encoding, which stores a -0 score as 0: they are stored so.
pub(crate) fn store(
    ex: &mut Exec<'_>,
    dst: &Bytes,
    mut pairs: Vec<(Bytes, f64)>,
    in_listpack: usize,
) -> usize {
    if pairs.is_empty() {
        ex.delete(dst);
        return 0;
    }
    for (_, s) in &mut pairs[..in_listpack] {
        *s += 0.0;
    }
    let pairs = &pairs[..];
    let value = ZSetValue::from_pairs(pairs);
    let n = value.len();
    let at = ex.replace_in(ex.db, dst, Value::ZSet(value), 0);
    for (m, s) in pairs {
        ex.journal.put(
            TAG_ZSET_MEMBER,
            &at,
            &sub_key(*s, m),
            0,
            &Bytes::new(),
            FixTarget::Sub,
        );
    }
    n
}

fn bulk(m: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(m))
}

/// `[m1, s1, m2, s2, ...]` (pairs in RESP3) or `[m1, m2, ...]`; the
/// members copied into one block ([`Reply::bulks`]).
fn members_reply(items: &[(f64, &[u8])], withscores: bool) -> Reply {
    let members = Reply::bulks(items.iter().map(|(_, m)| *m));
    if !withscores {
        return Reply::Array(members);
    }
    let mut out = Vec::with_capacity(items.len() * 2);
    for ((s, _), m) in items.iter().zip(members) {
        out.push(m);
        out.push(Reply::Double(*s));
    }
    Reply::Pairs(out)
}

// ---------------------------------------------------------------- ranges

/// A score bound: value and exclusivity.
#[derive(Clone, Copy)]
struct ScoreBound {
    v: f64,
    ex: bool,
}

/// A float as C's `strtod` reads a whole argument: overflow refused (Redis
/// checks `ERANGE`), NaN refused. Hexadecimal floats are not supported.
fn score_arg(b: &[u8]) -> Option<f64> {
    let v = parse_f64(b)?;
    if v.is_infinite() && !b.iter().any(|c| c.eq_ignore_ascii_case(&b'i')) {
        return None;
    }
    Some(v)
}

/// A range bound as Redis's `zslParseRange` reads it (`strtod`: leading
/// spaces allowed, the empty string is 0).
fn parse_bound_float(b: &[u8]) -> Option<f64> {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let b = &b[start..];
    if b.is_empty() {
        return Some(0.0);
    }
    score_arg(b)
}

fn parse_score_bound(b: &[u8]) -> Option<ScoreBound> {
    match b.split_first() {
        Some((b'(', rest)) => parse_bound_float(rest).map(|v| ScoreBound { v, ex: true }),
        _ => parse_bound_float(b).map(|v| ScoreBound { v, ex: false }),
    }
}

/// A score argument (ZADD, ZINCRBY) or `ERR value is not a valid float`.
/// "-0" stays -0, as Redis's strtod gives it: the compact encoding stores
/// it as 0 (`write`, `store`), a big set keeps it.
fn score_value(b: &[u8]) -> Result<f64, Reply> {
    score_arg(b).ok_or_else(|| err(args::NOT_FLOAT))
}

fn score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), Reply> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(err("ERR min or max is not a float")),
    }
}

/// A lex bound: `-`, `+`, `[x` or `(x`.
#[derive(Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

fn parse_lex_bound(b: &Bytes) -> Option<LexBound> {
    match b.first() {
        Some(b'-') if b.len() == 1 => Some(LexBound::Min),
        Some(b'+') if b.len() == 1 => Some(LexBound::Max),
        Some(b'[') => Some(LexBound::Incl(b.slice(1..))),
        Some(b'(') => Some(LexBound::Excl(b.slice(1..))),
        _ => None,
    }
}

fn lex_range(min: &Bytes, max: &Bytes) -> Result<(LexBound, LexBound), Reply> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(err("ERR min or max not valid string range item")),
    }
}

/// Ranks `lo..hi` of the elements inside a score range.
fn score_ranks(z: &ZSetValue, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
    let lo = z.count_before(|s, _| s < min.v || (min.ex && s <= min.v));
    let hi = z.count_before(|s, _| s < max.v || (!max.ex && s <= max.v));
    (lo, hi.max(lo))
}

/// Ranks `lo..hi` of the elements inside a lex range.
fn lex_ranks(z: &ZSetValue, min: &LexBound, max: &LexBound) -> (usize, usize) {
    let lo = z.count_before(|_, m| match min {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(x) => m < x.as_ref(),
        LexBound::Excl(x) => m <= x.as_ref(),
    });
    let hi = z.count_before(|_, m| match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(x) => m <= x.as_ref(),
        LexBound::Excl(x) => m < x.as_ref(),
    });
    (lo, hi.max(lo))
}

/// Clamps Redis's (start, end) rank arguments; `None` = empty.
fn clamp_ranks(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { start + len } else { start };
    let mut end = if end < 0 { end + len } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

#[derive(Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// What a ZRANGE-family command asks for.
struct RangeQuery {
    kind: RangeType,
    rev: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
}

/// The selected elements of `z`, in reply order.
fn select<'z>(
    z: &'z ZSetValue,
    q: &RangeQuery,
    min: &Bytes,
    max: &Bytes,
) -> Result<Vec<(f64, &'z [u8])>, Reply> {
    let len = z.len();
    let (lo, hi) = match q.kind {
        RangeType::Rank | RangeType::Auto => {
            let start = int_arg(min)?;
            let end = int_arg(max)?;
            return Ok(match clamp_ranks(start, end, len) {
                None => Vec::new(),
                Some((s, e)) => z.range(s, e, q.rev),
            });
        }
        RangeType::Score => {
            let (a, b) = score_range(min, max)?;
            score_ranks(z, a, b)
        }
        RangeType::Lex => {
            let (a, b) = lex_range(min, max)?;
            lex_ranks(z, &a, &b)
        }
    };
    if q.offset < 0 || hi <= lo {
        return Ok(Vec::new());
    }
    let n = hi - lo;
    let offset = usize::try_from(q.offset).unwrap_or(usize::MAX);
    if offset >= n {
        return Ok(Vec::new());
    }
    let take = if q.limit < 0 {
        n - offset
    } else {
        (n - offset).min(usize::try_from(q.limit).unwrap_or(usize::MAX))
    };
    if take == 0 {
        return Ok(Vec::new());
    }
    // In rank terms counted from the end when reversed.
    let (start, end) = if q.rev {
        (len - hi + offset, len - hi + offset + take - 1)
    } else {
        (lo + offset, lo + offset + take - 1)
    };
    Ok(z.range(start, end, q.rev))
}

/// Validates a range's bounds without a key (errors come before the lookup).
fn check_bounds(q: &RangeQuery, min: &Bytes, max: &Bytes) -> Result<(), Reply> {
    match q.kind {
        RangeType::Rank | RangeType::Auto => {
            int_arg(min)?;
            int_arg(max)?;
        }
        RangeType::Score => {
            score_range(min, max)?;
        }
        RangeType::Lex => {
            lex_range(min, max)?;
        }
    }
    Ok(())
}

/// Redis's `zrangeGenericCommand`: `argv[key_at]` is the source key,
/// `key_at + 1` and `+ 2` the bounds, options after them.
fn range_generic(
    ex: &mut Exec<'_>,
    argv: &[Bytes],
    key_at: usize,
    store: Option<&Bytes>,
    kind: RangeType,
    rev: Option<bool>,
) -> Reply {
    let mut q = RangeQuery {
        kind,
        rev: rev.unwrap_or(false),
        withscores: false,
        offset: 0,
        limit: -1,
    };
    let mut rev_set = rev.is_some();
    let mut j = key_at + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if store.is_none() && is(a, "withscores") {
            q.withscores = true;
        } else if is(a, "limit") && left >= 2 {
            match (int_arg(&argv[j + 1]), int_arg(&argv[j + 2])) {
                (Ok(o), Ok(l)) => {
                    q.offset = o;
                    q.limit = l;
                }
                (Err(e), _) | (_, Err(e)) => return e,
            }
            j += 2;
        } else if !rev_set && is(a, "rev") {
            q.rev = true;
            rev_set = true;
        } else if q.kind == RangeType::Auto && is(a, "bylex") {
            q.kind = RangeType::Lex;
        } else if q.kind == RangeType::Auto && is(a, "byscore") {
            q.kind = RangeType::Score;
        } else {
            return err(args::SYNTAX);
        }
        j += 1;
    }
    if q.kind == RangeType::Auto {
        q.kind = RangeType::Rank;
    }
    if q.kind == RangeType::Rank && q.limit != -1 {
        return err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if q.withscores && q.kind == RangeType::Lex {
        return err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut min, mut max) = (&argv[key_at + 1], &argv[key_at + 2]);
    if q.rev && q.kind != RangeType::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    if let Err(e) = check_bounds(&q, min, max) {
        return e;
    }
    let src = &argv[key_at];
    ex.count_read(src);
    let Some(dst) = store else {
        // A reply: straight from the members where the set keeps them.
        return match get(ex, src) {
            Err(e) => e,
            Ok(None) => members_reply(&[], q.withscores),
            Ok(Some(z)) => match select(z, &q, min, max) {
                Ok(v) => members_reply(&v, q.withscores),
                Err(e) => e,
            },
        };
    };
    // ZRANGESTORE: the members copied out, the source's borrow ends here.
    let picked: Vec<(Bytes, f64)> = match get(ex, src) {
        Err(e) => return e,
        Ok(None) => Vec::new(),
        Ok(Some(z)) => match select(z, &q, min, max) {
            Ok(v) => v
                .into_iter()
                .map(|(s, m)| (Bytes::copy_from_slice(m), s))
                .collect(),
            Err(e) => return e,
        },
    };
    let in_listpack = range_in_listpack(&picked, q.kind == RangeType::Rank);
    Reply::Integer(store_result(ex, dst, picked, in_listpack, "zrangestore") as i64)
}

/// How many members of a ZRANGESTORE result Redis 7.0 holds in a listpack
/// (see `store`): it fills the result in range order into a listpack and
/// converts it to a skiplist at the first member longer than 64 bytes or
/// at the 129th member. A rank range longer than 128 starts as a skiplist
/// (its length is known up front).
fn range_in_listpack(picked: &[(Bytes, f64)], by_rank: bool) -> usize {
    if by_rank && picked.len() > LISTPACK_ENTRIES {
        return 0;
    }
    picked
        .iter()
        .take(LISTPACK_ENTRIES)
        .take_while(|(m, _)| m.len() <= LISTPACK_VALUE)
        .count()
}

/// How many members of a ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE result
/// Redis 7.0 holds in a listpack (see `store`): it builds the whole result
/// as a skiplist, then converts it to a listpack when it is small enough.
pub(crate) fn combined_in_listpack(result: &[(Bytes, f64)]) -> usize {
    let compact =
        result.len() <= LISTPACK_ENTRIES && result.iter().all(|(m, _)| m.len() <= LISTPACK_VALUE);
    if compact {
        result.len()
    } else {
        0
    }
}

fn zrange(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ex, argv, 1, None, RangeType::Auto, None)
}

fn zrangestore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let dst = argv[1].clone();
    range_generic(ex, argv, 2, Some(&dst), RangeType::Auto, None)
}

fn zrevrange(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ex, argv, 1, None, RangeType::Rank, Some(true))
}

fn zrangebyscore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ex, argv, 1, None, RangeType::Score, Some(false))
}

fn zrevrangebyscore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ex, argv, 1, None, RangeType::Score, Some(true))
}

fn zrangebylex(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ex, argv, 1, None, RangeType::Lex, Some(false))
}

fn zrevrangebylex(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ex, argv, 1, None, RangeType::Lex, Some(true))
}

fn zcount(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (a, b) = match score_range(&argv[2], &argv[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Integer(0),
        Ok(Some(z)) => {
            let (lo, hi) = score_ranks(z, a, b);
            Reply::Integer((hi - lo) as i64)
        }
    }
}

fn zlexcount(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (a, b) = match lex_range(&argv[2], &argv[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Integer(0),
        Ok(Some(z)) => {
            let (lo, hi) = lex_ranks(z, &a, &b);
            Reply::Integer((hi - lo) as i64)
        }
    }
}

/// Removes the elements a ZREMRANGEBY* command selects.
fn remrange(ex: &mut Exec<'_>, argv: &[Bytes], kind: RangeType) -> Reply {
    let q = RangeQuery {
        kind,
        rev: false,
        withscores: false,
        offset: 0,
        limit: -1,
    };
    if let Err(e) = check_bounds(&q, &argv[2], &argv[3]) {
        return e;
    }
    let victims: Vec<Bytes> = match get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(z)) => match select(z, &q, &argv[2], &argv[3]) {
            Ok(v) => v
                .into_iter()
                .map(|(_, m)| Bytes::copy_from_slice(m))
                .collect(),
            Err(e) => return e,
        },
    };
    let removed = remove(ex, &argv[1], &victims);
    if removed > 0 {
        let event = match kind {
            RangeType::Rank => "zremrangebyrank",
            RangeType::Score => "zremrangebyscore",
            _ => "zremrangebylex",
        };
        ex.notify_removal(ZSET, event, &argv[1]);
    }
    Reply::Integer(removed as i64)
}

fn zremrangebyrank(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    remrange(ex, argv, RangeType::Rank)
}

fn zremrangebyscore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    remrange(ex, argv, RangeType::Score)
}

fn zremrangebylex(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    remrange(ex, argv, RangeType::Lex)
}

// ------------------------------------------------------------ add / score

/// ZADD (GEOADD rewrites itself into a ZADD, as Redis does).
/// The members ZADD writes, in order: a ZADD of one pair keeps its one
/// write inline (no allocation), one of several pairs a list.
enum Writes<'a> {
    One(Option<(&'a [u8], f64)>),
    Many(Vec<(&'a [u8], f64)>),
}

impl<'a> Writes<'a> {
    fn push(&mut self, w: (&'a [u8], f64)) {
        match self {
            Writes::One(one) => *one = Some(w),
            Writes::Many(many) => many.push(w),
        }
    }

    fn as_slice(&self) -> &[(&'a [u8], f64)] {
        match self {
            Writes::One(one) => one.as_slice(),
            Writes::Many(many) => many,
        }
    }
}

pub(crate) fn zadd(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut j = 2;
    while j < argv.len() {
        let a = &argv[j];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "gt") {
            gt = true;
        } else if is(a, "lt") {
            lt = true;
        } else if is(a, "ch") {
            ch = true;
        } else if is(a, "incr") {
            incr = true;
        } else {
            break;
        }
        j += 1;
    }
    let rest = &argv[j..];
    if rest.is_empty() || rest.len() % 2 != 0 {
        return err(args::SYNTAX);
    }
    if nx && xx {
        return err("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && rest.len() > 2 {
        return err("ERR INCR option supports a single increment-element pair");
    }
    // A lone pair (the common ZADD) is kept on the stack: no allocation.
    let lone: [(f64, &Bytes); 1];
    let many: Vec<(f64, &Bytes)>;
    let pairs: &[(f64, &Bytes)] = if rest.len() == 2 {
        match score_value(&rest[0]) {
            Ok(s) => {
                lone = [(s, &rest[1])];
                &lone
            }
            Err(e) => return e,
        }
    } else {
        let mut parsed = Vec::with_capacity(rest.len() / 2);
        for p in rest.chunks_exact(2) {
            match score_value(&p[0]) {
                Ok(s) => parsed.push((s, &p[1])),
                Err(e) => return e,
            }
        }
        many = parsed;
        &many
    };
    let key = &argv[1];
    let z = match get(ex, key) {
        Err(e) => return e,
        Ok(z) => z,
    };
    let mut writes = if pairs.len() > 1 {
        Writes::Many(Vec::with_capacity(pairs.len()))
    } else {
        Writes::One(None)
    };
    let (mut added, mut updated) = (0i64, 0i64);
    let mut incr_result: Option<f64> = None;
    // A lone pair's places in a big set, for the write below.
    let mut paths = MovePaths::default();
    {
        // Decide against the current content and earlier pairs of this
        // command (a map of those only when there are several pairs).
        let mut pending: HashMap<&[u8], f64> = HashMap::new();
        let several = pairs.len() > 1;
        for &(score, m) in pairs {
            let m: &[u8] = m;
            let earlier = if several {
                pending.get(m).copied()
            } else {
                None
            };
            let cur = earlier.or_else(|| {
                let z = z.as_ref()?;
                if several {
                    return z.score(m);
                }
                let (cur, to) = z.score_prefetching(m, (!incr).then_some(score));
                paths.to = to;
                cur
            });
            match cur {
                Some(cur) => {
                    if nx {
                        continue;
                    }
                    let mut new = score;
                    if incr {
                        new += cur;
                        if new.is_nan() {
                            return err("ERR resulting score is not a number (NaN)");
                        }
                    }
                    if (lt && new >= cur) || (gt && new <= cur) {
                        continue;
                    }
                    incr_result = Some(new);
                    if new != cur {
                        updated += 1;
                        if several {
                            pending.insert(m, new);
                        } else if let Some(z) = z.as_ref() {
                            // The old place starts loading while the record
                            // is written.
                            if incr {
                                paths.to = z.prefetch(new, m);
                            }
                            paths.from = z.prefetch(cur, m);
                        }
                        writes.push((m, new));
                    }
                }
                None => {
                    if xx {
                        continue;
                    }
                    added += 1;
                    incr_result = Some(score);
                    if several {
                        pending.insert(m, score);
                    }
                    writes.push((m, score));
                }
            }
        }
    }
    write_along(ex, key, writes.as_slice(), &paths);
    if added + updated > 0 {
        ex.notify(ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
    if incr {
        incr_result.map_or(Reply::Nil, Reply::Double)
    } else {
        Reply::Integer(if ch { added + updated } else { added })
    }
}

fn zincrby(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let by = match score_value(&argv[2]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let cur = match get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(z) => z.and_then(|z| z.score(&argv[3])),
    };
    // A new member gets the increment itself (-0 stays -0, as in Redis).
    let new = cur.map_or(by, |cur| cur + by);
    if new.is_nan() {
        return err("ERR resulting score is not a number (NaN)");
    }
    write(ex, &argv[1], &[(&argv[3][..], new)]);
    // Redis reports a change only (an increment of 0 changes nothing).
    if cur != Some(new) {
        ex.notify(ZSET, "zincr", &argv[1]);
    }
    Reply::Double(new)
}

fn zrem(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Integer(0),
        Ok(Some(_)) => {
            let removed = remove(ex, &argv[1], &argv[2..]);
            if removed > 0 {
                ex.notify_removal(ZSET, "zrem", &argv[1]);
            }
            Reply::Integer(removed as i64)
        }
    }
}

fn zscore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(z) => z
            .and_then(|z| z.score(&argv[2]))
            .map_or(Reply::Nil, Reply::Double),
    }
}

fn zmscore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(z) => {
            let z = z.map(|z| &*z);
            Reply::Array(
                argv[2..]
                    .iter()
                    .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
                    .collect(),
            )
        }
    }
}

fn zcard(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(z) => Reply::Integer(z.map_or(0, |z| z.len()) as i64),
    }
}

fn rank_generic(ex: &mut Exec<'_>, argv: &[Bytes], rev: bool) -> Reply {
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => Reply::Nil,
        Ok(Some(z)) => match z.score(&argv[2]).and_then(|s| z.rank(s, &argv[2])) {
            None => Reply::Nil,
            Some(r) => Reply::Integer(if rev { z.len() - 1 - r } else { r } as i64),
        },
    }
}

fn zrank(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    rank_generic(ex, argv, false)
}

fn zrevrank(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    rank_generic(ex, argv, true)
}

// ------------------------------------------------------------------ pops

/// Pops up to `count` lowest (or highest) elements of the zset at `key`
/// (type already checked; absent = nothing).
fn pop(ex: &mut Exec<'_>, key: &Bytes, max: bool, count: usize) -> Vec<(Bytes, f64)> {
    let picked: Vec<(Bytes, f64)> = match get(ex, key) {
        Ok(Some(z)) => z
            .range(0, count.saturating_sub(1), max)
            .into_iter()
            .map(|(s, m)| (Bytes::copy_from_slice(m), s))
            .collect(),
        _ => return Vec::new(),
    };
    if count == 0 {
        return Vec::new();
    }
    let names: Vec<Bytes> = picked.iter().map(|(m, _)| m.clone()).collect();
    remove(ex, key, &names);
    if !picked.is_empty() {
        ex.notify_removal(ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    picked
}

fn flat_pairs(pairs: &[(Bytes, f64)]) -> Vec<Reply> {
    let mut out = Vec::with_capacity(pairs.len() * 2);
    for (m, s) in pairs {
        out.push(Reply::Bulk(m.clone()));
        out.push(Reply::Double(*s));
    }
    out
}

fn zpop_generic(ex: &mut Exec<'_>, argv: &[Bytes], max: bool) -> Reply {
    if argv.len() > 3 {
        return err(args::SYNTAX);
    }
    let count = match argv.get(2) {
        None => 1,
        Some(c) => match args::parse_i64(c).map(usize::try_from) {
            Some(Ok(c)) => c,
            _ => return err(args::MUST_BE_POSITIVE),
        },
    };
    if let Err(e) = get(ex, &argv[1]) {
        return e;
    }
    let popped = flat_pairs(&pop(ex, &argv[1], max, count));
    // Redis 7.0: flat without COUNT, pairs (in RESP3) with one.
    if argv.len() == 3 {
        Reply::Pairs(popped)
    } else {
        Reply::Array(popped)
    }
}

fn zpopmin(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    zpop_generic(ex, argv, false)
}

fn zpopmax(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    zpop_generic(ex, argv, true)
}

/// Parses a blocking command's timeout (Redis's texts).
fn timeout_arg(b: &[u8]) -> Result<(), Reply> {
    match parse_f64(b) {
        Some(t) if t < 0.0 => Err(err("ERR timeout is negative")),
        Some(t) if t.is_finite() => Ok(()),
        _ => Err(err("ERR timeout is not a float or out of range")),
    }
}

fn bzpop_generic(ex: &mut Exec<'_>, argv: &[Bytes], max: bool) -> Reply {
    let last = argv.len() - 1;
    if let Err(e) = timeout_arg(&argv[last]) {
        return e;
    }
    for key in &argv[1..last] {
        match get(ex, key) {
            Err(e) => return e,
            Ok(None) => continue,
            Ok(Some(_)) => {
                let popped = pop(ex, key, max, 1);
                if let Some((m, s)) = popped.into_iter().next() {
                    return Reply::Array(vec![
                        Reply::Bulk(key.clone()),
                        Reply::Bulk(m),
                        Reply::Double(s),
                    ]);
                }
            }
        }
    }
    Reply::NilArray
}

fn bzpopmin(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    bzpop_generic(ex, argv, false)
}

fn bzpopmax(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    bzpop_generic(ex, argv, true)
}

/// ZMPOP / BZMPOP from `numkeys` at argv\[at\].
fn mpop_generic(ex: &mut Exec<'_>, argv: &[Bytes], at: usize) -> Reply {
    let numkeys = match int_arg(&argv[at]) {
        Ok(n) if n >= 1 => n as usize,
        _ => return err("ERR numkeys should be greater than 0"),
    };
    let where_at = match (at + 1).checked_add(numkeys) {
        Some(w) if w < argv.len() => w,
        _ => return err(args::SYNTAX),
    };
    let max = if is(&argv[where_at], "min") {
        false
    } else if is(&argv[where_at], "max") {
        true
    } else {
        return err(args::SYNTAX);
    };
    let mut count: Option<usize> = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && is(&argv[j], "count") && j + 1 < argv.len() {
            match int_arg(&argv[j + 1]) {
                Ok(c) if c >= 1 => count = Some(c as usize),
                _ => return err("ERR count should be greater than 0"),
            }
            j += 2;
        } else {
            return err(args::SYNTAX);
        }
    }
    let count = count.unwrap_or(1);
    for key in &argv[at + 1..where_at] {
        match get(ex, key) {
            Err(e) => return e,
            Ok(None) => continue,
            Ok(Some(_)) => {
                let popped = pop(ex, key, max, count);
                let pairs = popped
                    .into_iter()
                    .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                    .collect();
                return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(pairs)]);
            }
        }
    }
    Reply::NilArray
}

fn zmpop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    mpop_generic(ex, argv, 1)
}

fn bzmpop(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if let Err(e) = timeout_arg(&argv[1]) {
        return e;
    }
    mpop_generic(ex, argv, 2)
}

// ------------------------------------------------- union / inter / diff

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(a: Aggregate, target: f64, v: f64) -> f64 {
    match a {
        Aggregate::Sum => {
            let s = target + v;
            // +inf + -inf: Redis's convention is 0.
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Aggregate::Min => target.min(v),
        Aggregate::Max => target.max(v),
    }
}

/// One input of ZUNION & co and ZINTERCARD, looked up as Redis does (a
/// read, lazy expiry): `None` when absent, WRONGTYPE unless a sorted set
/// or a set.
fn input<'e>(ex: &'e mut Exec<'_>, key: &[u8]) -> Result<Option<Input<'e>>, Reply> {
    ex.count_read(key);
    Input::of(ex.entry(key).map(|e| &e.value))
}

/// `numkeys key [key ...]` at argv\[at\] of ZUNION & co and ZINTERCARD:
/// the input keys, after Redis's checks in Redis's order (numkeys, syntax,
/// then each input's lazy expiry, read count and WRONGTYPE; the options
/// after the keys are the caller's). The inputs themselves are then taken
/// where they are ([`Input::all`]), not copied.
fn checked_inputs<'a>(
    ex: &mut Exec<'_>,
    argv: &'a [Bytes],
    at: usize,
    name: &str,
) -> Result<&'a [Bytes], Reply> {
    let keys = input_keys(argv, at, name)?;
    for k in keys {
        input(ex, k)?;
    }
    Ok(keys)
}

/// The input keys of `numkeys key [key ...]` at argv\[at\], with Redis's
/// numkeys and syntax errors.
fn input_keys<'a>(argv: &'a [Bytes], at: usize, name: &str) -> Result<&'a [Bytes], Reply> {
    let setnum = int_arg(&argv[at])?;
    if setnum < 1 {
        return Err(err(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let setnum = setnum as usize;
    if setnum > argv.len() - (at + 1) {
        return Err(err(args::SYNTAX));
    }
    Ok(&argv[at + 1..at + 1 + setnum])
}

/// An input of ZUNION & co and ZINTERCARD, where the keyspace keeps it.
enum Input<'a> {
    Z(&'a ZSetValue),
    S(&'a super::set::SetValue),
}

impl<'a> Input<'a> {
    /// The input a value is: `None` when absent, WRONGTYPE unless a
    /// sorted set or a set.
    fn of(value: Option<&'a Value>) -> Result<Option<Input<'a>>, Reply> {
        match value {
            None => Ok(None),
            Some(Value::ZSet(z)) => Ok(Some(Input::Z(z))),
            Some(Value::Set(s)) => Ok(Some(Input::S(s))),
            Some(_) => Err(err(args::WRONGTYPE)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Input::Z(z) => z.len(),
            Input::S(s) => s.len(),
        }
    }

    fn has(&self, m: &[u8]) -> bool {
        match self {
            Input::Z(z) => z.score(m).is_some(),
            Input::S(s) => s.contains(m),
        }
    }

    /// The score of `m` (a plain set's members score 1), if present.
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Input::Z(z) => z.score(m),
            Input::S(s) => s.contains(m).then_some(1.0),
        }
    }

    /// Every (member, score) pair, a sorted set's in rank order.
    fn pairs(&self) -> Vec<(&'a [u8], f64)> {
        match self {
            Input::Z(z) => z
                .range(0, usize::MAX, false)
                .into_iter()
                .map(|(s, m)| (m, s))
                .collect(),
            Input::S(s) => s.iter().map(|m| (m, 1.0)).collect(),
        }
    }

    /// The inputs at `keys` of a database, `None` for an absent key (their
    /// types were checked: see [`checked_inputs`]).
    fn all(db: &'a Db, keys: &[Bytes]) -> Vec<Option<Input<'a>>> {
        keys.iter()
            .map(|k| Input::of(db.get(k).map(|e| &e.value)).ok().flatten())
            .collect()
    }
}

/// Redis's `zunionInterDiffGenericCommand`; `at` is the numkeys index.
fn combine(
    ex: &mut Exec<'_>,
    argv: &[Bytes],
    at: usize,
    op: SetOp,
    dst: Option<&Bytes>,
    name: &str,
) -> Reply {
    let keys = match checked_inputs(ex, argv, at, name) {
        Ok(k) => k,
        Err(e) => return e,
    };
    let setnum = keys.len();
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut j = at + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        if op != SetOp::Diff && remaining > setnum && is(&argv[j], "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match parse_f64(&argv[j]) {
                    Some(v) => *w = v,
                    None => return err("ERR weight value is not a float"),
                }
                j += 1;
            }
        } else if op != SetOp::Diff && remaining >= 2 && is(&argv[j], "aggregate") {
            let a = &argv[j + 1];
            agg = if is(a, "sum") {
                Aggregate::Sum
            } else if is(a, "min") {
                Aggregate::Min
            } else if is(a, "max") {
                Aggregate::Max
            } else {
                return err(args::SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && is(&argv[j], "withscores") {
            withscores = true;
            j += 1;
        } else {
            return err(args::SYNTAX);
        }
    }
    let db: &Db = ex.db_mut();
    let inputs = Input::all(db, keys);
    let result = combined(&inputs, op, &weights, agg);
    match dst {
        Some(d) => {
            // The result is copied out: the store writes the database the
            // inputs are read from (and `dst` may be one of them).
            let result: Vec<(Bytes, f64)> = result
                .into_iter()
                .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                .collect();
            let in_listpack = combined_in_listpack(&result);
            Reply::Integer(store_result(ex, d, result, in_listpack, name) as i64)
        }
        None => {
            let mut sorted: Vec<(f64, &[u8])> = result.into_iter().map(|(m, s)| (s, m)).collect();
            sorted.sort_by(|a, b| super::ordtree::cmp(a.0, a.1, b.0, b.1));
            members_reply(&sorted, withscores)
        }
    }
}

/// The union, intersection or difference of `inputs` (`None`: an absent
/// key), with `weights` and `agg` applied, as (member, score) pairs that
/// borrow the inputs' members; in the order Redis's result is built (an
/// input's members in rank order, the inputs smallest first for a union
/// or an intersection).
fn combined<'a>(
    inputs: &[Option<Input<'a>>],
    op: SetOp,
    weights: &[f64],
    agg: Aggregate,
) -> Vec<(&'a [u8], f64)> {
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let len = |i: &usize| inputs[*i].as_ref().map_or(0, Input::len);
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    match op {
        SetOp::Diff => {
            let Some(first) = &inputs[0] else {
                return Vec::new();
            };
            let others: Vec<&Input<'a>> = inputs[1..].iter().flatten().collect();
            first
                .pairs()
                .into_iter()
                .filter(|(m, _)| !others.iter().any(|o| o.has(m)))
                .collect()
        }
        SetOp::Inter => {
            // An absent input makes the intersection empty.
            let Some(present) = inputs
                .iter()
                .map(Option::as_ref)
                .collect::<Option<Vec<_>>>()
            else {
                return Vec::new();
            };
            order.sort_by_key(len);
            let (first, rest) = (order[0], &order[1..]);
            let mut out = Vec::new();
            'member: for (m, s) in present[first].pairs() {
                let mut score = weighted(s, weights[first]);
                for &i in rest {
                    match present[i].score(m) {
                        // Redis makes a NaN product 0 for the first input
                        // only; here it reaches the aggregate (SUM makes
                        // it 0, MIN / MAX keep the score so far).
                        Some(v) => score = aggregate(agg, score, v * weights[i]),
                        None => continue 'member,
                    }
                }
                out.push((m, score));
            }
            out
        }
        SetOp::Union => {
            order.sort_by_key(len);
            use hashbrown::hash_map::Entry as Seen;
            // Member -> its place in `out` (first-seen order).
            let mut seen: HashMap<&[u8], usize> = HashMap::new();
            let mut out: Vec<(&'a [u8], f64)> = Vec::new();
            for &i in &order {
                let Some(input) = &inputs[i] else { continue };
                for (m, s) in input.pairs() {
                    let v = weighted(s, weights[i]);
                    match seen.entry(m) {
                        Seen::Occupied(at) => {
                            let t = &mut out[*at.get()].1;
                            *t = aggregate(agg, *t, v);
                        }
                        Seen::Vacant(place) => {
                            place.insert(out.len());
                            out.push((m, v));
                        }
                    }
                }
            }
            out
        }
    }
}

fn zunion(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine(ex, argv, 1, SetOp::Union, None, "zunion")
}

fn zinter(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine(ex, argv, 1, SetOp::Inter, None, "zinter")
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]: the size of the
/// intersection (sets count as zsets of score 1), counting stops at a
/// non-zero LIMIT. Redis checks the keys' types before the options.
fn zintercard(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let keys = match checked_inputs(ex, argv, 1, "zintercard") {
        Ok(k) => k,
        Err(e) => return e,
    };
    let mut limit = 0usize;
    let mut j = 2 + keys.len();
    while j < argv.len() {
        if argv.len() - j >= 2 && is(&argv[j], "limit") {
            match super::set::limit_arg(&argv[j + 1]) {
                Ok(l) => limit = l,
                Err(e) => return e,
            }
            j += 2;
        } else {
            return err(args::SYNTAX);
        }
    }
    // An absent input makes the intersection empty. The members are
    // probed, not scored: no `combined` (scores, a result vector).
    let Some(mut inputs) = Input::all(ex.db_mut(), keys)
        .into_iter()
        .collect::<Option<Vec<_>>>()
    else {
        return Reply::Integer(0);
    };
    inputs.sort_by_key(Input::len);
    let (first, others) = inputs.split_at(1);
    let mut count = 0usize;
    for (m, _) in first[0].pairs() {
        if others.iter().all(|o| o.has(m)) {
            count += 1;
            if count == limit {
                break;
            }
        }
    }
    Reply::Integer(count as i64)
}

fn zdiff(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    combine(ex, argv, 1, SetOp::Diff, None, "zdiff")
}

fn zunionstore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let dst = argv[1].clone();
    combine(ex, argv, 2, SetOp::Union, Some(&dst), "zunionstore")
}

fn zinterstore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let dst = argv[1].clone();
    combine(ex, argv, 2, SetOp::Inter, Some(&dst), "zinterstore")
}

fn zdiffstore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let dst = argv[1].clone();
    combine(ex, argv, 2, SetOp::Diff, Some(&dst), "zdiffstore")
}

// ---------------------------------------------------------- random, scan

fn zrandmember(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 4 || (argv.len() == 4 && !is(&argv[3], "withscores")) {
        return err(args::SYNTAX);
    }
    let withscores = argv.len() == 4;
    let count = match argv.get(2).map(|c| int_arg(c)) {
        None => None,
        Some(Ok(i64::MIN)) => {
            return err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        }
        Some(Ok(c)) if withscores && c < -(i64::MAX / 2) => {
            return err("ERR value is out of range")
        }
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return e,
    };
    let seed = ex.random();
    let mut draws = Vec::new();
    if let Some(c) = count {
        if c < 0 {
            draws = (0..c.unsigned_abs()).map(|_| ex.random()).collect();
        }
    }
    let z = match get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(None) => {
            return match count {
                None => Reply::Nil,
                Some(_) => Reply::Array(Vec::new()),
            }
        }
        Ok(Some(z)) => z,
    };
    let n = z.len();
    let picked: Vec<(f64, &[u8])> = match count {
        None => {
            let p = z.at_rank((seed % n as u64) as usize);
            return p.map_or(Reply::Nil, |p| bulk(p.1));
        }
        // Distinct members, content-deterministically, in O(count).
        Some(c) if c >= 0 => match &**z {
            ZSetData::Small(small) => small
                .pick(seed, c as usize)
                .into_iter()
                .map(|it| (it.score, it.member.as_bytes()))
                .collect(),
            ZSetData::Big(b) => b
                .dict
                .pick(seed, c as usize)
                .into_iter()
                .map(|(m, e)| (e.score, m.as_bytes()))
                .collect(),
        },
        Some(_) => draws
            .iter()
            .filter_map(|r| z.at_rank((r % n as u64) as usize))
            .collect(),
    };
    members_reply(&picked, withscores)
}

fn zscan(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let a = match members::scan_args(argv) {
        Ok(a) => a,
        Err(e) => return e,
    };
    match get(ex, &argv[1]) {
        Err(e) => e,
        Ok(None) => members::scan_reply(0, Vec::new()),
        Ok(Some(z)) => {
            // A listpack-encoded zset answers in score order, as Redis does.
            let (next, got) = match &**z {
                ZSetData::Big(b) => {
                    let (next, got) = members::scan_map(&b.dict, &a);
                    let got = got.into_iter().map(|(m, e)| (m.as_bytes(), e.score));
                    (next, got.collect())
                }
                ZSetData::Small(_) => {
                    let all = z.range(0, usize::MAX, false);
                    let all = all.into_iter().map(|(s, m)| (m, s));
                    (0, members::scan_whole(all, |p| p.0, &a))
                }
            };
            let mut out = Vec::with_capacity(got.len() * 2);
            for (m, s) in got {
                out.push(bulk(m));
                out.push(Reply::Bulk(Bytes::from(format_score(s))));
            }
            members::scan_reply(next, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_sorted_set_costs_one_24_byte_block_beyond_its_elements() {
        // The big form is boxed, so a small set's value is not as large.
        assert_eq!(std::mem::size_of::<ZSetData>(), 24);
        assert_eq!(std::mem::size_of::<super::super::smallzset::ZItem>(), 48);
    }

    #[test]
    fn from_pairs_is_compact_up_to_the_listpack_limits() {
        let pairs = |n: usize, len: usize| -> Vec<(Bytes, f64)> {
            (0..n)
                .map(|i| (Bytes::from(format!("{i:0>len$}")), (i % 7) as f64))
                .collect()
        };
        let encoding = |p: Vec<(Bytes, f64)>| ZSetValue::from_pairs(&p).encoding();
        assert_eq!(
            encoding(pairs(LISTPACK_ENTRIES, LISTPACK_VALUE)),
            "listpack"
        );
        assert_eq!(encoding(pairs(LISTPACK_ENTRIES + 1, 8)), "skiplist");
        assert_eq!(encoding(pairs(3, LISTPACK_VALUE + 1)), "skiplist");
    }

    proptest::proptest! {
        /// A set built in one go is the one its pairs make added one by
        /// one, with the same encoding: counts and member lengths around
        /// the compact limits.
        #[test]
        fn from_pairs_builds_what_adding_one_by_one_builds(
            pairs in proptest::collection::btree_map(0u16..400, (0u8..40, -3i8..4), 0..140),
        ) {
            let pairs: Vec<(Bytes, f64)> = pairs
                .into_iter()
                .map(|(m, (long, s))| {
                    // Now and then a member at or just past the limit.
                    let len = match long {
                        0 => LISTPACK_VALUE + 1,
                        1 => LISTPACK_VALUE,
                        _ => 8,
                    };
                    (Bytes::from(format!("{m:0>len$}")), f64::from(s) * 0.5)
                })
                .collect();
            let built = ZSetValue::from_pairs(&pairs);
            let mut added = ZSetValue::default();
            for (m, s) in &pairs {
                added.set(m, *s, &MovePaths::default(), None);
            }
            proptest::prop_assert_eq!(built.encoding(), added.encoding());
            proptest::prop_assert_eq!(built.len(), added.len());
            proptest::prop_assert_eq!(
                built.range(0, usize::MAX, false),
                added.range(0, usize::MAX, false)
            );
            for (m, _) in &pairs {
                proptest::prop_assert_eq!(built.score(m), added.score(m));
            }
        }
    }

    #[test]
    fn a_long_member_is_stored_once_for_the_table_and_the_tree() {
        let mut z = ZSetValue::default();
        let name = |i: usize| format!("{i:04}-{}", "m".repeat(40)).into_bytes();
        for i in 0..2000 {
            z.set(&name(i), i as f64, &MovePaths::default(), None);
        }
        // Moves that split and merge leaves (the general remove + insert)
        // and moves within them.
        for round in 1..4 {
            for i in (0..2000).step_by(round) {
                z.set(
                    &name(i),
                    ((i * 7919 * round) % 2000) as f64,
                    &MovePaths::default(),
                    None,
                );
            }
        }
        assert_eq!(z.len(), 2000);
        let ZSetData::Big(b) = &*z else {
            panic!("2000 members are a big sorted set");
        };
        let BigZSet { dict, list } = &**b;
        let table: std::collections::HashMap<&[u8], *const u8> = dict
            .iter()
            .map(|(m, _)| (m.as_bytes(), m.as_bytes().as_ptr()))
            .collect();
        for (_, m) in list.range(0, 2000, false) {
            assert_eq!(table[m], m.as_ptr(), "the tree holds its own copy");
        }
    }

    #[test]
    fn score_encoding_sorts_and_round_trips() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -0.0,
            0.0,
            1e-300,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for w in scores.windows(2) {
            assert!(encode_score(w[0]) <= encode_score(w[1]), "{w:?}");
        }
        for s in scores {
            assert_eq!(
                decode_score(&encode_score(s)).map(f64::to_bits),
                Some(s.to_bits())
            );
        }
    }

    #[test]
    fn scores_format_like_redis() {
        assert_eq!(format_score(1.1), "1.1000000000000001");
        assert_eq!(format_score(0.1), "0.10000000000000001");
        assert_eq!(format_score(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_score(1e30), "1e+30");
        assert_eq!(format_score(1.0), "1");
        assert_eq!(format_score(-2.5), "-2.5");
        assert_eq!(format_score(100.0), "100");
        assert_eq!(format_score(f64::INFINITY), "inf");
        assert_eq!(format_score(12345678901234567.0), "12345678901234568");
    }
}
