//! The List family.
//!
//! A list keeps its elements in memory in a `VecDeque`, each with a sequence
//! number (`seq`) that orders it and names its record on disk: LPUSH takes
//! `head - 1`, RPUSH `tail + 1`, so push and pop are O(1) in memory and one
//! record on disk (`TAG_LIST_ITEM` / `TAG_LIST_REM`). LSET rewrites the
//! element's record (same seq); LINSERT, which needs a seq between two
//! neighbours, rewrites the list as a new incarnation (O(N), as Redis's
//! LINSERT is O(N)).

use std::collections::VecDeque;

use bytes::Bytes;

use super::db::Db;
use super::journal::{
    decode_seq, encode_seq, FixTarget, Journal, RecordKey, TAG_LIST_ITEM, TAG_LIST_REM,
};
use super::replay::{incarnation, Load};
use super::value::Value;
use crate::command::Command;
use crate::storage::{Location, RecordKind, ReplayEntry};

/// The list commands.
pub(crate) static COMMANDS: &[Command] = &[];

/// One element.
#[derive(Clone)]
pub(crate) struct Item {
    /// Position key, strictly increasing from head to tail.
    pub(crate) seq: i64,
    /// The element.
    pub(crate) val: Bytes,
    /// Its record (`None` until the append returns).
    pub(crate) loc: Option<Location>,
}

/// A list value.
#[derive(Default)]
pub(crate) struct ListValue {
    /// Elements, head first, seqs increasing.
    pub(crate) items: VecDeque<Item>,
}

impl ListValue {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Redis 7.0 always answers `quicklist` for lists.
    pub(crate) fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Index of the element with `seq`.
    fn position(&self, seq: i64) -> Result<usize, usize> {
        self.items.binary_search_by_key(&seq, |i| i.seq)
    }

    /// Every record location.
    pub(crate) fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        for item in &self.items {
            if let Some(loc) = item.loc {
                f(loc);
            }
        }
    }

    /// Records recreating the list under `at` (seqs 0, 1, 2, ...).
    pub(crate) fn rewrite(&self, at: &RecordKey, expire_at_ms: u64, journal: &mut Journal) {
        for item in &self.items {
            journal.put(
                TAG_LIST_ITEM,
                at,
                &encode_seq(item.seq),
                expire_at_ms,
                item.val.clone(),
                FixTarget::Seq(item.seq),
            );
        }
    }

    /// A copy without locations.
    pub(crate) fn duplicate(&self) -> ListValue {
        ListValue {
            items: self
                .items
                .iter()
                .map(|i| Item {
                    seq: i.seq,
                    val: i.val.clone(),
                    loc: None,
                })
                .collect(),
        }
    }

    /// Stores the location of an element's record.
    pub(crate) fn set_location(&mut self, target: &FixTarget, loc: Location) {
        if let FixTarget::Seq(seq) = target {
            if let Ok(i) = self.position(*seq) {
                self.items[i].loc = Some(loc);
            }
        }
    }

    /// Whether the element record at `loc` is the element's current one.
    pub(crate) fn is_live(&self, sub: &[u8], loc: Location) -> bool {
        decode_seq(sub)
            .and_then(|seq| self.position(seq).ok())
            .is_some_and(|i| self.items[i].loc == Some(loc))
    }

    /// Merge moved an element record.
    pub(crate) fn relocate(&mut self, sub: &[u8], old: Location, new: Location) {
        if let Some(i) = decode_seq(sub).and_then(|seq| self.position(seq).ok()) {
            if self.items[i].loc == Some(old) {
                self.items[i].loc = Some(new);
            }
        }
    }

    /// Element bytes read at recovery.
    pub(crate) fn fill(&mut self, target: &FixTarget, loc: Location, bytes: Bytes) {
        if let FixTarget::Seq(seq) = target {
            if let Ok(i) = self.position(*seq) {
                if self.items[i].loc == Some(loc) {
                    self.items[i].val = bytes;
                }
            }
        }
    }

    /// Inserts or replaces the element `seq` (replay).
    fn put(&mut self, seq: i64, val: Bytes, loc: Location) {
        let item = Item {
            seq,
            val,
            loc: Some(loc),
        };
        // Pushes arrive at the ends: O(1) there, O(N) only for odd orders.
        match self.items.back() {
            Some(last) if last.seq < seq => return self.items.push_back(item),
            None => return self.items.push_back(item),
            _ => {}
        }
        if self.items.front().is_some_and(|f| f.seq > seq) {
            return self.items.push_front(item);
        }
        match self.position(seq) {
            Ok(i) => self.items[i] = item,
            Err(i) => self.items.insert(i, item),
        }
    }
}

/// Applies a replayed list record.
pub(crate) fn replay(
    db: &mut Db,
    slot: usize,
    key: &[u8],
    sub: &[u8],
    e: &ReplayEntry<'_>,
    loads: &mut Vec<Load>,
) -> Result<(), String> {
    let seq = decode_seq(sub).ok_or("bad list seq")?;
    if e.kind == RecordKind::Delete || e.tag == TAG_LIST_REM {
        let now_empty = match db.get_mut(key) {
            Some(entry) if entry.gen == e.gen => match &mut entry.value {
                Value::List(l) => {
                    if let Ok(i) = l.position(seq) {
                        l.items.remove(i);
                    }
                    l.items.is_empty()
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
    let Some(entry) = incarnation(db, key, e.gen, e.expire_at_ms, || {
        Value::List(ListValue::default())
    }) else {
        return Ok(());
    };
    let Value::List(list) = &mut entry.value else {
        return Err("list record for a key of another type".to_owned());
    };
    let val = e.value.map(Bytes::copy_from_slice).unwrap_or_default();
    list.put(seq, val, e.location);
    if e.value.is_none() {
        loads.push(Load {
            slot,
            key: Bytes::copy_from_slice(key),
            gen: e.gen,
            target: FixTarget::Seq(seq),
            loc: e.location,
        });
    }
    Ok(())
}
