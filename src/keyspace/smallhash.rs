//! `SmallHash`: the compact in-memory form of a small hash, where Redis
//! uses a listpack: at most [`MAX_FIELDS`] fields, no field and no value
//! longer than [`MAX_BYTES`] bytes. A bigger hash lives in a
//! [`ScanMap`](super::scanmap::ScanMap) (see `hash.rs`).
//!
//! * `data`: the entries, packed back to back, each
//!   `file_id u32 | offset u32 | record len u32 | field len u8 |
//!   value len u8 | field | value` (little endian): the field's record
//!   location ([`NO_FILE`] as the file id when it has none yet), its name
//!   and its value. 14 bytes of overhead per field.
//! * `heads`: one 8-byte head per field, `(hash, offset of its entry)`,
//!   sorted by the field's hash (the top 32 bits of the member order hash,
//!   [`order_hash`]) and then by its bytes. A lookup is a binary search on
//!   the heads, then a compare of the field bytes: O(log n).
//! * An insert appends its entry to `data` and inserts a head (a move of
//!   at most 4 KiB of heads); an overwrite of the same length writes in
//!   place, any other overwrite or a removal leaves its old entry behind as
//!   garbage, and `data` is compacted once garbage is half of it. Both
//!   vectors grow by an eighth at a time, not by doubling.
//!
//! Per field: 22 bytes plus the field and the value, against a table
//! slot's 80 bytes at a load of 3/8 to 3/4. The order depends only on the
//! fields (never on the insert history), so that random picks and the
//! reply order of HGETALL are the same on every replica.

use std::cmp::Ordering;

use super::scanmap::{dense_picks, order_hash};
use crate::storage::Location;

/// Most fields a small hash holds (Redis 7.0's `hash-max-listpack-entries`).
pub(crate) const MAX_FIELDS: usize = 512;
/// Longest field or value a small hash holds (`hash-max-listpack-value`).
pub(crate) const MAX_BYTES: usize = 64;
/// Bytes of an entry before its field.
const ENTRY_HEAD: usize = 14;
/// The file id stored for a field without a record yet.
const NO_FILE: u32 = u32::MAX;

/// An insert or a location the small form cannot hold (too many fields, a
/// field or value too long, a location past 32 bits): the caller moves the
/// hash to a table. Nothing was changed.
#[derive(Debug)]
pub(crate) struct NoFit;

/// One field's place: its hash and where its entry starts in `data`.
#[derive(Clone, Copy)]
struct Head {
    hash: u32,
    at: u32,
}

/// One field as stored.
pub(crate) struct FieldRef<'a> {
    /// The field's name.
    pub(crate) name: &'a [u8],
    /// Its value.
    pub(crate) value: &'a [u8],
    /// Its record, if written yet.
    pub(crate) loc: Option<Location>,
}

/// A small hash (see the module docs).
#[derive(Default, Clone)]
pub(crate) struct SmallHash {
    heads: Vec<Head>,
    data: Vec<u8>,
    /// Bytes of `data` no head points at.
    garbage: usize,
}

/// The top bits of a 63-bit member order hash: what a head keeps (32 of
/// them; 4 in the unit tests, so that heads often share one and the
/// paths that tell them apart run).
fn top(full: u64) -> u32 {
    #[cfg(not(test))]
    const SHIFT: u32 = 31;
    #[cfg(test)]
    const SHIFT: u32 = 59;
    (full >> SHIFT) as u32
}

/// The three location words of `loc`, or `None` when they cannot hold it.
fn pack(loc: Option<Location>) -> Option<[u32; 3]> {
    match loc {
        None => Some([NO_FILE, 0, 0]),
        Some(l) if l.file_id == NO_FILE => None,
        Some(l) => Some([l.file_id, u32::try_from(l.offset).ok()?, l.len]),
    }
}

fn word(d: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]])
}

/// Grows `v` so that `more` elements fit, by an eighth at least.
fn grow<T>(v: &mut Vec<T>, more: usize) {
    if v.capacity() - v.len() < more {
        v.reserve_exact(more.max(v.len() / 8));
    }
}

impl SmallHash {
    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.heads.len()
    }

    /// The entry starting at `at`.
    fn entry(&self, at: u32) -> FieldRef<'_> {
        let d = &self.data[at as usize..];
        let (flen, vlen) = (usize::from(d[12]), usize::from(d[13]));
        let file_id = word(d, 0);
        FieldRef {
            name: &d[ENTRY_HEAD..ENTRY_HEAD + flen],
            value: &d[ENTRY_HEAD + flen..ENTRY_HEAD + flen + vlen],
            loc: (file_id != NO_FILE).then(|| Location {
                file_id,
                offset: u64::from(word(d, 4)),
                len: word(d, 8),
            }),
        }
    }

    /// Bytes of the entry starting at `at`.
    fn entry_len(&self, at: u32) -> usize {
        let d = &self.data[at as usize..];
        ENTRY_HEAD + usize::from(d[12]) + usize::from(d[13])
    }

    /// The head index of `field` (`Ok`) or where it belongs (`Err`), and
    /// its head hash. Fields are in the order of their full 63-bit hash
    /// (then of their bytes), as in a table: heads sharing the top 32 bits
    /// are told apart by the full hash, computed again for them (rare).
    fn find(&self, field: &[u8]) -> (Result<usize, usize>, u32) {
        let full = order_hash(field);
        let hash = top(full);
        let mut i = self.heads.partition_point(|h| h.hash < hash);
        while let Some(h) = self.heads.get(i).filter(|h| h.hash == hash) {
            let name = self.entry(h.at).name;
            match (order_hash(name), name).cmp(&(full, field)) {
                Ordering::Equal => return (Ok(i), hash),
                Ordering::Greater => break,
                Ordering::Less => i += 1,
            }
        }
        (Err(i), hash)
    }

    /// The index of the first field whose full hash is `>= full`, if any.
    fn seek(&self, full: u64) -> Option<usize> {
        let hash = top(full);
        let mut i = self.heads.partition_point(|h| h.hash < hash);
        while let Some(h) = self.heads.get(i).filter(|h| h.hash == hash) {
            if order_hash(self.entry(h.at).name) >= full {
                break;
            }
            i += 1;
        }
        (i < self.heads.len()).then_some(i)
    }

    /// The field `field`, if present.
    pub(crate) fn get(&self, field: &[u8]) -> Option<FieldRef<'_>> {
        match self.find(field).0 {
            Ok(i) => Some(self.entry(self.heads[i].at)),
            Err(_) => None,
        }
    }

    /// Appends an entry to `data`; returns where it starts.
    fn push_entry(&mut self, field: &[u8], value: &[u8], loc: [u32; 3]) -> u32 {
        grow(&mut self.data, ENTRY_HEAD + field.len() + value.len());
        let at = self.data.len() as u32;
        for w in loc {
            self.data.extend_from_slice(&w.to_le_bytes());
        }
        // Both lengths are at most MAX_BYTES (checked by the callers).
        self.data.push(field.len() as u8);
        self.data.push(value.len() as u8);
        self.data.extend_from_slice(field);
        self.data.extend_from_slice(value);
        at
    }

    /// Sets `field` to `value` with its record at `loc`. Returns the
    /// location of the record it replaced (`Some(None)` if the field had
    /// none yet), `None` if the field is new.
    pub(crate) fn insert(
        &mut self,
        field: &[u8],
        value: &[u8],
        loc: Option<Location>,
    ) -> Result<Option<Option<Location>>, NoFit> {
        let words = pack(loc).ok_or(NoFit)?;
        if field.len() > MAX_BYTES || value.len() > MAX_BYTES {
            return Err(NoFit);
        }
        match self.find(field) {
            (Ok(i), _) => {
                let at = self.heads[i].at;
                let old = self.entry(at);
                let old_loc = old.loc;
                if old.value.len() == value.len() {
                    self.write_loc(at, words);
                    let v = at as usize + ENTRY_HEAD + field.len();
                    self.data[v..v + value.len()].copy_from_slice(value);
                } else {
                    self.garbage += self.entry_len(at);
                    self.heads[i].at = self.push_entry(field, value, words);
                    self.compact_if_worth();
                }
                Ok(Some(old_loc))
            }
            (Err(i), hash) => {
                if self.heads.len() >= MAX_FIELDS {
                    return Err(NoFit);
                }
                let at = self.push_entry(field, value, words);
                grow(&mut self.heads, 1);
                self.heads.insert(i, Head { hash, at });
                Ok(None)
            }
        }
    }

    /// Removes `field`; returns its record's location (`Some(None)` if it
    /// had none), `None` if it was absent.
    pub(crate) fn remove(&mut self, field: &[u8]) -> Option<Option<Location>> {
        let i = self.find(field).0.ok()?;
        let at = self.heads.remove(i).at;
        let loc = self.entry(at).loc;
        if self.heads.is_empty() {
            *self = SmallHash::default();
        } else {
            self.garbage += self.entry_len(at);
            self.compact_if_worth();
        }
        Some(loc)
    }

    /// Stores `field`'s record location (if the field is present and
    /// `only_if` is `None` or its current location).
    pub(crate) fn set_loc(
        &mut self,
        field: &[u8],
        only_if: Option<Location>,
        loc: Location,
    ) -> Result<(), NoFit> {
        let Ok(i) = self.find(field).0 else {
            return Ok(());
        };
        let at = self.heads[i].at;
        if only_if.is_some() && self.entry(at).loc != only_if {
            return Ok(());
        }
        self.write_loc(at, pack(Some(loc)).ok_or(NoFit)?);
        Ok(())
    }

    /// Overwrites the location words of the entry starting at `at`.
    fn write_loc(&mut self, at: u32, words: [u32; 3]) {
        let start = at as usize;
        for (k, w) in words.iter().enumerate() {
            self.data[start + 4 * k..start + 4 * k + 4].copy_from_slice(&w.to_le_bytes());
        }
    }

    /// Rewrites `data` without garbage once garbage is half of it.
    fn compact_if_worth(&mut self) {
        if self.garbage < 64 || self.garbage * 2 < self.data.len() {
            return;
        }
        let mut data = Vec::with_capacity(self.data.len() - self.garbage);
        for i in 0..self.heads.len() {
            let at = self.heads[i].at;
            let len = self.entry_len(at);
            self.heads[i].at = data.len() as u32;
            data.extend_from_slice(&self.data[at as usize..at as usize + len]);
        }
        self.data = data;
        self.garbage = 0;
    }

    /// Every field, in order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = FieldRef<'_>> {
        self.heads.iter().map(|h| self.entry(h.at))
    }

    /// `n` distinct fields (all if there are fewer) picked by the draw `r`,
    /// exactly as `ScanMap::pick` picks from the same fields: the first at
    /// or after the point of the hash space `r` chooses, then the next ones
    /// in order (wrapping around); a single pick moves on a further `r % 8`.
    pub(crate) fn pick(&self, r: u64, n: usize) -> Vec<FieldRef<'_>> {
        let start = self.seek(r >> 1).unwrap_or(0);
        dense_picks(self.heads.len(), start, r, n)
            .map(|i| self.entry(self.heads[i].at))
            .collect()
    }

    /// Checks the layout (tests): heads in order, every entry inside
    /// `data`, garbage accounted.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let mut live = 0;
        for w in self.heads.windows(2) {
            let (a, b) = (self.entry(w[0].at).name, self.entry(w[1].at).name);
            assert!(
                (order_hash(a), a) < (order_hash(b), b),
                "heads out of order"
            );
        }
        for h in &self.heads {
            assert_eq!(h.hash, top(order_hash(self.entry(h.at).name)));
            live += self.entry_len(h.at);
        }
        assert_eq!(live + self.garbage, self.data.len());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn loc(n: u32) -> Location {
        Location {
            file_id: n % 7,
            offset: u64::from(n) * 3,
            len: n + 1,
        }
    }

    proptest! {
        /// Inserts, overwrites (same and other lengths) and removals agree
        /// with a BTreeMap model, locations included; the layout holds.
        #[test]
        fn matches_a_btreemap(ops in proptest::collection::vec((0u8..3, 0u16..80, 0usize..40), 1..600)) {
            let mut h = SmallHash::default();
            let mut model: BTreeMap<Vec<u8>, (Vec<u8>, Option<Location>)> = BTreeMap::new();
            for (n, (op, f, vlen)) in ops.into_iter().enumerate() {
                let field = format!("field-{f}").into_bytes();
                match op {
                    0 | 1 => {
                        let value = vec![b'a' + (n % 26) as u8; vlen];
                        let l = (op == 0).then(|| loc(n as u32));
                        let old = h.insert(&field, &value, l).expect("fits");
                        let want = model.insert(field.clone(), (value, l)).map(|(_, l)| l);
                        prop_assert_eq!(old, want);
                    }
                    _ => {
                        let want = model.remove(&field).map(|(_, l)| l);
                        prop_assert_eq!(h.remove(&field), want);
                    }
                }
                h.check();
                prop_assert_eq!(h.len(), model.len());
            }
            for (field, (value, l)) in &model {
                let got = h.get(field).expect("present");
                prop_assert_eq!(got.value, &value[..]);
                prop_assert_eq!(got.loc, *l);
            }
            let mut names: Vec<&[u8]> = h.iter().map(|f| f.name).collect();
            names.sort();
            prop_assert!(names.iter().copied().eq(model.keys().map(Vec::as_slice)));
        }

        /// The order, and so the picks, depend on the fields only.
        #[test]
        fn picks_depend_on_the_fields_only(n in 1u16..200, r in any::<u64>(), want in 1usize..20) {
            let fields: Vec<Vec<u8>> = (0..n).map(|i| format!("f{i}").into_bytes()).collect();
            let (mut a, mut b) = (SmallHash::default(), SmallHash::default());
            for f in &fields {
                a.insert(f, b"v", None).expect("fits");
            }
            for f in fields.iter().rev() {
                b.insert(f, b"vv", None).expect("fits");
                b.insert(f, b"v", None).expect("fits");
            }
            let pa: Vec<&[u8]> = a.pick(r, want).iter().map(|f| f.name).collect();
            let pb: Vec<&[u8]> = b.pick(r, want).iter().map(|f| f.name).collect();
            prop_assert_eq!(pa.len(), want.min(n as usize));
            prop_assert_eq!(pa, pb);
        }
    }

    proptest! {
        /// Same fields, same order and same picks as a table's: a hash
        /// answers alike whichever form it has (a replica that restarted
        /// may hold a small form where another node kept a table).
        #[test]
        fn order_and_picks_match_a_table(n in 1u16..300, r in any::<u64>(), want in 1usize..20) {
            let mut small = SmallHash::default();
            let mut table = super::super::scanmap::ScanMap::default();
            for i in 0..n {
                let f = format!("m{i}").into_bytes();
                small.insert(&f, b"", None).expect("fits");
                table.insert(&f, ());
            }
            prop_assert!(small.iter().map(|e| e.name).eq(table.keys().map(|k| k.as_bytes())));
            let ps: Vec<&[u8]> = small.pick(r, want).iter().map(|e| e.name).collect();
            let pt: Vec<&[u8]> = table.pick(r, want).iter().map(|(k, _)| k.as_bytes()).collect();
            prop_assert_eq!(ps, pt);
        }
    }

    #[test]
    fn refuses_what_does_not_fit_and_changes_nothing() {
        let mut h = SmallHash::default();
        for i in 0..MAX_FIELDS {
            h.insert(format!("f{i}").as_bytes(), b"v", None)
                .expect("fits");
        }
        assert!(h.insert(b"one more", b"v", None).is_err());
        assert!(h.insert(b"f1", &[b'x'; MAX_BYTES + 1], None).is_err());
        let wide = Location {
            file_id: 1,
            offset: 1 << 33,
            len: 10,
        };
        assert!(h.insert(b"f1", b"v", Some(wide)).is_err());
        assert!(h.set_loc(b"f1", None, wide).is_err());
        assert_eq!(h.len(), MAX_FIELDS);
        assert_eq!(
            h.get(b"f1").map(|f| (f.value, f.loc)),
            Some((&b"v"[..], None))
        );
        h.check();
    }

    #[test]
    fn a_small_field_costs_22_bytes_beyond_its_bytes() {
        let mut h = SmallHash::default();
        for i in 0..400 {
            h.insert(format!("{i:016}").as_bytes(), b"x", Some(loc(i)))
                .expect("fits");
        }
        assert_eq!(h.data.len(), 400 * (ENTRY_HEAD + 17));
        assert_eq!(std::mem::size_of::<Head>(), 8);
    }
}
