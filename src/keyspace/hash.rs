//! The Hash family: placeholder, filled in by the hash change (branched
//! from the keyspace framework). It declares the value type and the hooks
//! every family implements (see docs/architecture.md, "How to add a command
//! family"), so that the generic code compiles.

use bytes::Bytes;

use super::db::Db;
use super::journal::{FixTarget, Journal, RecordKey};
use super::replay::Load;
use crate::command::Command;
use crate::storage::{Location, ReplayEntry};

/// The hash commands.
pub(crate) static COMMANDS: &[Command] = &[];

/// A Hash value.
#[derive(Default)]
pub(crate) struct HashValue {}

impl HashValue {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        0
    }

    /// What OBJECT ENCODING answers.
    pub(crate) fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Every record location holding part of the value.
    pub(crate) fn for_each_location(&self, _f: &mut dyn FnMut(Location)) {}

    /// Appends the records that recreate the value under `at`.
    pub(crate) fn rewrite(&self, _at: &RecordKey, _expire_at_ms: u64, _journal: &mut Journal) {}

    /// A deep copy without locations.
    pub(crate) fn duplicate(&self) -> Self {
        Self::default()
    }

    /// Stores the location of a record just appended.
    pub(crate) fn set_location(&mut self, _target: &FixTarget, _loc: Location) {}

    /// Whether the record at `loc` with sub-key `sub` is still live.
    pub(crate) fn is_live(&self, _sub: &[u8], _loc: Location) -> bool {
        false
    }

    /// Merge moved a live record from `old` to `new`.
    pub(crate) fn relocate(&mut self, _sub: &[u8], _old: Location, _new: Location) {}

    /// Stores bytes read at recovery for a record that came from a hint file.
    pub(crate) fn fill(&mut self, _target: &FixTarget, _loc: Location, _bytes: Bytes) {}
}

/// Applies one replayed record of this family.
pub(crate) fn replay(
    _db: &mut Db,
    _slot: usize,
    _key: &[u8],
    _sub: &[u8],
    _e: &ReplayEntry<'_>,
    _loads: &mut Vec<Load>,
) -> Result<(), String> {
    Err("hash records are not supported yet".to_owned())
}
