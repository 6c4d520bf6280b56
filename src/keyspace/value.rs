//! The value of a key: one variant per Redis type, each defined in its
//! family's file. Generic commands (TYPE, OBJECT, RENAME, COPY, MOVE, DEL)
//! reach a family only through the methods dispatched here.

use bytes::Bytes;

use super::journal::{FixTarget, Journal, RecordKey};
use super::{bloom, hash, list, set, zset};
use crate::storage::Location;

/// Declares `$value`, a collection value as the keyspace holds it: one
/// pointer to its `$data`, so that the `Value` enum (and every key's entry)
/// stays small whatever the collection's bookkeeping; it derefs to the data.
macro_rules! boxed_value {
    ($(#[$doc:meta])* $value:ident => $data:ident) => {
        $(#[$doc])*
        #[derive(Default)]
        pub(crate) struct $value(Box<$data>);

        impl std::ops::Deref for $value {
            type Target = $data;
            fn deref(&self) -> &$data {
                &self.0
            }
        }

        impl std::ops::DerefMut for $value {
            fn deref_mut(&mut self) -> &mut $data {
                &mut self.0
            }
        }
    };
}
pub(crate) use boxed_value;

/// A string value: the bytes (kept in memory) and the location of the record
/// that holds them (for dead-byte accounting and merge's liveness test).
pub(crate) struct StrValue {
    /// The value.
    pub(crate) data: Bytes,
    /// Location of the record that wrote it; `None` until the append returns.
    pub(crate) loc: Option<Location>,
    /// How Redis would have built the object (OBJECT ENCODING only).
    pub(crate) form: StrForm,
}

/// How a string was made, which decides what OBJECT ENCODING answers, as in
/// Redis: SET-like commands try `int`, then `embstr` (<= 44 bytes), then
/// `raw`; INCRBYFLOAT makes a plain string object (`embstr` or `raw`, never
/// `int`); APPEND to and SETRANGE of a value modify it in place (`raw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrForm {
    /// `int`, `embstr` or `raw` by content.
    Encoded,
    /// `embstr` or `raw` by length.
    Plain,
    /// Always `raw`.
    Raw,
}

impl StrValue {
    /// A string not yet written (location unknown) made the SET way.
    pub(crate) fn new(data: Bytes) -> StrValue {
        StrValue {
            data,
            loc: None,
            form: StrForm::Encoded,
        }
    }
}

/// A key's value.
#[allow(dead_code, reason = "used by the list, hash, set and zset families")]
pub(crate) enum Value {
    /// String.
    Str(StrValue),
    /// List.
    List(list::ListValue),
    /// Hash.
    Hash(hash::HashValue),
    /// Set.
    Set(set::SetValue),
    /// Sorted set.
    ZSet(zset::ZSetValue),
    /// Scalable bloom filter (RedisBloom's `MBbloom--`).
    Bloom(bloom::BloomValue),
}

/// Collections bigger than this are freed by the background dropper.
pub(crate) const DROP_INLINE_MAX: usize = 64;

impl Value {
    /// What TYPE answers.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Bloom(_) => "MBbloom--",
        }
    }

    /// What OBJECT ENCODING answers.
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => string_encoding(&s.data, s.form),
            Value::List(v) => v.encoding(),
            Value::Hash(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
            Value::Bloom(v) => v.encoding(),
        }
    }

    /// Number of elements (1 for a string): decides whether freeing it is
    /// worth a trip to the background dropper.
    pub(crate) fn len(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::List(v) => v.len(),
            Value::Hash(v) => v.len(),
            Value::Set(v) => v.len(),
            Value::ZSet(v) => v.len(),
            Value::Bloom(v) => v.len(),
        }
    }

    /// Calls `f` with the location of every record that holds part of this
    /// value (those become dead bytes when the value is dropped).
    pub(crate) fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        match self {
            Value::Str(s) => {
                if let Some(loc) = s.loc {
                    f(loc);
                }
            }
            Value::List(v) => v.for_each_location(f),
            Value::Hash(v) => v.for_each_location(f),
            Value::Set(v) => v.for_each_location(f),
            Value::ZSet(v) => v.for_each_location(f),
            Value::Bloom(v) => v.for_each_location(f),
        }
    }

    /// Appends the records that recreate this value under `at` (a new
    /// incarnation, generation `at.gen`): RENAME, MOVE, COPY.
    pub(crate) fn rewrite(&self, at: &RecordKey<'_>, expire_at_ms: u64, journal: &mut Journal) {
        match self {
            Value::Str(s) => {
                journal.put(
                    super::journal::TAG_STR,
                    at,
                    &[],
                    expire_at_ms,
                    &s.data,
                    FixTarget::Whole,
                );
            }
            Value::List(v) => v.rewrite(at, expire_at_ms, journal),
            Value::Hash(v) => v.rewrite(at, expire_at_ms, journal),
            Value::Set(v) => v.rewrite(at, expire_at_ms, journal),
            Value::ZSet(v) => v.rewrite(at, expire_at_ms, journal),
            Value::Bloom(v) => v.rewrite(at, expire_at_ms, journal),
        }
    }

    /// A deep copy with no locations (COPY; the copy's records get their own).
    pub(crate) fn duplicate(&self) -> Value {
        match self {
            Value::Str(s) => Value::Str(StrValue {
                data: s.data.clone(),
                loc: None,
                form: s.form,
            }),
            Value::List(v) => Value::List(v.duplicate()),
            Value::Hash(v) => Value::Hash(v.duplicate()),
            Value::Set(v) => Value::Set(v.duplicate()),
            Value::ZSet(v) => Value::ZSet(v.duplicate()),
            Value::Bloom(v) => Value::Bloom(v.duplicate()),
        }
    }

    /// Records that `target` of this value was written at `loc` (called
    /// after the append returns); `sub` is the record's sub-key.
    pub(crate) fn set_location(&mut self, target: &FixTarget, sub: &[u8], loc: Location) {
        match (self, target) {
            (Value::Str(s), FixTarget::Whole) => s.loc = Some(loc),
            (Value::List(v), t) => v.set_location(t, loc),
            (Value::Hash(v), t) => v.set_location(t, sub, loc),
            (Value::Set(v), t) => v.set_location(t, loc),
            (Value::ZSet(v), t) => v.set_location(t, sub, loc),
            (Value::Bloom(v), t) => v.set_location(t, loc),
            _ => {}
        }
    }
}

/// Values up to this many bytes are copied out of a command's argument
/// when the keyspace keeps them (see [`keep`]).
const KEEP_COPY_MAX: usize = 512;

/// The bytes a value keeps from a command argument. Small ones are copied
/// into a block of their own: sharing the argument instead would allocate a
/// shared header on its first clone (an argv `Bytes` is built from a
/// `Vec`) and keep it, 32 more bytes per kept value and a reference count to
/// touch when it is freed; the copy also lets the argument's block go back
/// to the allocator at once. Large ones are shared (no copy).
pub(crate) fn keep(arg: &Bytes) -> Bytes {
    if arg.len() <= KEEP_COPY_MAX {
        Bytes::copy_from_slice(arg)
    } else {
        arg.clone()
    }
}

impl Value {
    /// Stores bytes read from disk at recovery (the record came from a hint file).
    pub(crate) fn fill(&mut self, target: &FixTarget, loc: Location, bytes: Bytes) {
        match (self, target) {
            (Value::Str(s), FixTarget::Whole) if s.loc == Some(loc) => s.data = bytes,
            (Value::List(v), t) => v.fill(t, loc, bytes),
            (Value::Hash(v), t) => v.fill(t, loc, bytes),
            (Value::Set(v), t) => v.fill(t, loc, bytes),
            (Value::ZSet(v), t) => v.fill(t, loc, bytes),
            (Value::Bloom(v), t) => v.fill(t, loc, bytes),
            _ => {}
        }
    }
}

/// Redis 7.0's string encodings: `int`, `embstr` (<= 44 bytes), `raw`.
fn string_encoding(data: &[u8], form: StrForm) -> &'static str {
    if form == StrForm::Raw {
        "raw"
    } else if form == StrForm::Encoded
        && data.len() <= 20
        && crate::command::args::parse_i64(data).is_some()
    {
        "int"
    } else if data.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}
