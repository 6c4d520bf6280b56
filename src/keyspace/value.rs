//! The value of a key: one variant per Redis type, each defined in its
//! family's file. Generic commands (TYPE, OBJECT, RENAME, COPY, MOVE, DEL)
//! reach a family only through the methods dispatched here.

use bytes::Bytes;

use super::journal::{FixTarget, Journal, RecordKey};
use super::members::FileTally;
use super::{bloom, hash, list, set, stream, zset};
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

/// Strings up to this many bytes are kept inside the key's entry
/// ([`StrData::Inline`]): no heap block of their own, as Redis keeps an
/// `embstr` in its object's allocation.
pub(crate) const INLINE_STR: usize = 23;

/// A string's bytes: a short one in place, a longer one in a shared block.
/// The same size as a `Bytes` (the inline bytes sit beside the niche of
/// its non-null vtable pointer), so that a string entry is no larger for
/// it. A SET of a short value then copies the argument into the entry:
/// no `malloc` for it, and no `free` when it is overwritten.
#[derive(Clone)]
pub(crate) enum StrData {
    /// Up to [`INLINE_STR`] bytes.
    Inline {
        /// Bytes used of `buf`.
        len: u8,
        /// The bytes, zero padded.
        buf: [u8; INLINE_STR],
    },
    /// A longer string (or one shared with a reply or a buffer).
    Heap(Bytes),
}

impl Default for StrData {
    fn default() -> StrData {
        StrData::Inline {
            len: 0,
            buf: [0; INLINE_STR],
        }
    }
}

impl std::ops::Deref for StrData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StrData::Inline { len, buf } => &buf[..usize::from(*len)],
            StrData::Heap(b) => b,
        }
    }
}

impl From<Bytes> for StrData {
    /// Short bytes are copied in place (the block they came in can go);
    /// longer ones are kept as they are.
    fn from(b: Bytes) -> StrData {
        StrData::short(&b).unwrap_or(StrData::Heap(b))
    }
}

impl StrData {
    /// `bytes` in place, when they fit.
    pub(crate) fn short(bytes: &[u8]) -> Option<StrData> {
        let mut buf = [0; INLINE_STR];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        let len = u8::try_from(bytes.len()).ok()?;
        Some(StrData::Inline { len, buf })
    }

    /// A copy of `bytes`.
    pub(crate) fn copy_from(bytes: &[u8]) -> StrData {
        StrData::short(bytes).unwrap_or_else(|| StrData::Heap(Bytes::copy_from_slice(bytes)))
    }

    /// `n` in decimal (always in place: at most 20 bytes).
    pub(crate) fn int(n: i64) -> StrData {
        let mut digits = [0u8; 20];
        let text = crate::command::args::format_i64(n, &mut digits);
        StrData::copy_from(text)
    }

    /// The bytes of a command argument the keyspace keeps: in place when
    /// short, else as [`keep`] does.
    pub(crate) fn from_arg(arg: &Bytes) -> StrData {
        StrData::short(arg).unwrap_or_else(|| StrData::Heap(keep(arg)))
    }

    /// The bytes as a `Bytes` (for a reply): a copy of a short string, a
    /// shared reference to a long one.
    pub(crate) fn to_bytes(&self) -> Bytes {
        match self {
            StrData::Inline { .. } => Bytes::copy_from_slice(self),
            StrData::Heap(b) => b.clone(),
        }
    }

    /// The bytes as a buffer to change in place: no copy when the keyspace
    /// holds the only reference to a long string (the common case), so that
    /// repeated APPENDs grow it geometrically, as Redis's sds does. Leaves
    /// the value empty.
    pub(crate) fn take_mut(&mut self) -> bytes::BytesMut {
        match std::mem::take(self) {
            StrData::Heap(b) => match b.try_into_mut() {
                Ok(m) => m,
                Err(shared) => bytes::BytesMut::from(&shared[..]),
            },
            short => bytes::BytesMut::from(&short[..]),
        }
    }
}

/// A string value: the bytes (kept in memory) and the locations of the
/// records that hold them (for dead-byte accounting and merge's liveness
/// test).
pub(crate) struct StrValue {
    /// The value.
    pub(crate) data: StrData,
    /// Where its records are, and how Redis would have built the object.
    loc: StrLoc,
}

/// The records of a string: one whole-value record (`TAG_STR`), then, for a
/// big string changed in place (APPEND, SETRANGE, SETBIT, BITFIELD), the
/// patch records (`TAG_STR_PATCH`) written since, in log order. Replay
/// applies the patches to the base in that order. Each variant also holds
/// the string's [`StrForm`], so that the whole is 16 bytes (tag and form,
/// then a packed location or a box) and leaves its tag's spare values to
/// `Value`: a string entry's value is 48 bytes, a `Bytes`-sized
/// [`StrData`] and this. (It is not a form beside a [`SlimLoc`] plus a
/// patched variant: nested that way the enum takes 24 bytes.)
enum StrLoc {
    /// Not written yet (the append has not returned).
    Unwritten(StrForm),
    /// One whole-value record (every offset fits: a data file is at most
    /// 2 GiB plus one batch).
    Base(StrForm, PackedLoc),
    /// One whole-value record at an offset beyond `u32` (not made by
    /// today's file sizes; kept so that no location is ever cut).
    Wide(StrForm, Box<Location>),
    /// A base record and patches.
    Patched(StrForm, Box<Patched>),
}

/// A [`Location`] whose offset fits a `u32`: 12 bytes, 4-aligned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PackedLoc {
    file_id: u32,
    offset: u32,
    len: u32,
}

impl PackedLoc {
    /// `loc` packed, when its offset fits.
    pub(crate) fn new(loc: Location) -> Option<PackedLoc> {
        Some(PackedLoc {
            file_id: loc.file_id,
            offset: u32::try_from(loc.offset).ok()?,
            len: loc.len,
        })
    }

    /// A value no record's location takes (no record is empty: its
    /// length is never 0), for a holder's own markers, told apart by `tag`.
    pub(crate) const fn marker(tag: u32) -> PackedLoc {
        PackedLoc {
            file_id: tag,
            offset: 0,
            len: 0,
        }
    }

    /// The location.
    pub(crate) fn unpack(self) -> Location {
        Location {
            file_id: self.file_id,
            offset: u64::from(self.offset),
            len: self.len,
        }
    }
}

/// An `Option<Location>` in 16 bytes instead of 24 (the record of a list
/// element, a hash field, a zset member): the offset packed as a `u32` (a
/// data file is at most 2 GiB plus one batch), a wider one boxed, never
/// cut.
#[derive(Clone, Default)]
pub(crate) enum SlimLoc {
    /// No record yet.
    #[default]
    None,
    /// A location whose offset fits.
    Packed(PackedLoc),
    /// Any other location.
    Wide(Box<Location>),
}

impl SlimLoc {
    /// `loc`, slim.
    pub(crate) fn new(loc: Option<Location>) -> SlimLoc {
        match loc {
            None => SlimLoc::None,
            Some(l) => {
                PackedLoc::new(l).map_or_else(|| SlimLoc::Wide(Box::new(l)), SlimLoc::Packed)
            }
        }
    }

    /// The location.
    pub(crate) fn get(&self) -> Option<Location> {
        match self {
            SlimLoc::None => None,
            SlimLoc::Packed(p) => Some(p.unpack()),
            SlimLoc::Wide(l) => Some(**l),
        }
    }
}

impl StrLoc {
    /// One whole-value record at `loc` (`None`: not written yet).
    fn whole(loc: Option<Location>, form: StrForm) -> StrLoc {
        let Some(loc) = loc else {
            return StrLoc::Unwritten(form);
        };
        match PackedLoc::new(loc) {
            Some(p) => StrLoc::Base(form, p),
            None => StrLoc::Wide(form, Box::new(loc)),
        }
    }

    /// The string's form.
    fn form(&self) -> StrForm {
        match self {
            StrLoc::Unwritten(f)
            | StrLoc::Base(f, _)
            | StrLoc::Wide(f, _)
            | StrLoc::Patched(f, _) => *f,
        }
    }

    /// The location of the whole-value record.
    fn base(&self) -> Option<Location> {
        match self {
            StrLoc::Unwritten(_) => None,
            StrLoc::Base(_, p) => Some(p.unpack()),
            StrLoc::Wide(_, l) => Some(**l),
            StrLoc::Patched(_, p) => p.base,
        }
    }
}

/// A base record and the patches written on top of it. A patch is live as
/// long as its incarnation (its generation) is: a whole-value rewrite
/// always makes a new one. So the patches are not kept one by one, only
/// their bytes per data file (dead-byte accounting when the value goes).
struct Patched {
    /// The whole-value record (`None` until its append returns).
    base: Option<Location>,
    /// Bytes of the patch records whose append returned, per data file.
    tally: FileTally,
    /// Bytes the patches logged (settled or not), each charged
    /// [`PATCH_OVERHEAD`] more: the budget.
    bytes: u64,
}

/// A string shorter than this is rewritten whole by in-place edits (a
/// patch record would cost about as much).
pub(crate) const PATCH_MIN_LEN: usize = 1024;
/// What a patch is charged beyond its bytes (record header, key, offset;
/// at recovery, its load).
const PATCH_OVERHEAD: u64 = 64;

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
        StrValue::written(data.into(), None, StrForm::Encoded)
    }

    /// A string whose whole-value record is at `loc` (`None`: not written yet).
    pub(crate) fn written(data: StrData, loc: Option<Location>, form: StrForm) -> StrValue {
        StrValue {
            data,
            loc: StrLoc::whole(loc, form),
        }
    }

    /// How Redis would have built the object (OBJECT ENCODING only).
    pub(crate) fn form(&self) -> StrForm {
        self.loc.form()
    }

    /// Sets the string's form.
    pub(crate) fn set_form(&mut self, form: StrForm) {
        match &mut self.loc {
            StrLoc::Unwritten(f)
            | StrLoc::Base(f, _)
            | StrLoc::Wide(f, _)
            | StrLoc::Patched(f, _) => *f = form,
        }
    }

    /// The location of the whole-value record.
    pub(crate) fn base(&self) -> Option<Location> {
        self.loc.base()
    }

    /// The whole-value record was written at `loc` (settle, recovery).
    fn set_base(&mut self, loc: Location) {
        match &mut self.loc {
            StrLoc::Patched(_, p) => p.base = Some(loc),
            other => *other = StrLoc::whole(Some(loc), other.form()),
        }
    }

    /// A new whole-value record of the same incarnation (in-place INCR,
    /// never on a patched string) replaces the one before it: answers that
    /// one, now dead.
    pub(crate) fn rebase(&mut self, loc: Option<Location>) -> Option<Location> {
        debug_assert!(
            !self.is_patched(),
            "patches live as long as their generation"
        );
        let old = self.base();
        self.loc = StrLoc::whole(loc, self.form());
        old
    }

    /// Calls `f` with the location of every record of the value (the
    /// patches as pseudo-locations per file: only dead bytes need them).
    fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        match &self.loc {
            StrLoc::Patched(_, p) => {
                if let Some(l) = p.base {
                    f(l);
                }
                p.tally.for_each(f);
            }
            whole => {
                if let Some(l) = whole.base() {
                    f(l);
                }
            }
        }
    }

    /// Whether the value has patch records.
    pub(crate) fn is_patched(&self) -> bool {
        matches!(self.loc, StrLoc::Patched(..))
    }

    /// Whether a patch of `len` more bytes fits the budget: a string of at
    /// least [`PATCH_MIN_LEN`] bytes whose patches, overhead included, stay
    /// within its length. So the log holds at most about twice the value,
    /// and a whole rewrite is paid for by the patches before it: an edit
    /// costs O(its bytes) amortized.
    pub(crate) fn patch_fits(&self, len: usize) -> bool {
        let bytes = match &self.loc {
            StrLoc::Patched(_, p) => p.bytes,
            _ => 0,
        };
        self.data.len() >= PATCH_MIN_LEN
            && bytes.saturating_add(len as u64 + PATCH_OVERHEAD) <= self.data.len() as u64
    }

    /// Counts a patch of `len` bytes just logged.
    pub(crate) fn note_patch(&mut self, len: usize) {
        let p = self.patched();
        p.bytes = p.bytes.saturating_add(len as u64 + PATCH_OVERHEAD);
    }

    /// The patch bookkeeping, made on first use.
    fn patched(&mut self) -> &mut Patched {
        if !self.is_patched() {
            let base = self.base();
            self.loc = StrLoc::Patched(
                self.form(),
                Box::new(Patched {
                    base,
                    tally: FileTally::default(),
                    bytes: 0,
                }),
            );
        }
        match &mut self.loc {
            StrLoc::Patched(_, p) => p,
            _ => unreachable!("made above"),
        }
    }

    /// Writes a replayed patch's bytes at `offset`, growing the value with
    /// zero bytes.
    pub(crate) fn apply_patch(&mut self, offset: usize, piece: &[u8]) {
        let mut data = self.data.take_mut();
        let end = offset + piece.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset..end].copy_from_slice(piece);
        self.data = data.freeze().into();
    }

    /// A patch record was written at `loc` (settle, recovery).
    pub(crate) fn push_patch(&mut self, loc: Location) {
        self.patched().tally.add(loc);
    }

    /// Whether the record `tag` at `loc` of this value's incarnation is
    /// live (merge): the newest whole-value record, and every patch.
    pub(crate) fn is_live(&self, tag: u8, loc: Location) -> bool {
        match tag {
            super::journal::TAG_STR => self.base() == Some(loc),
            super::journal::TAG_STR_PATCH => self.is_patched(),
            _ => false,
        }
    }

    /// Merge moved the record `tag` from `old` to `new`.
    pub(crate) fn relocate(&mut self, tag: u8, old: Location, new: Location) {
        match (&mut self.loc, tag) {
            (StrLoc::Patched(_, p), super::journal::TAG_STR) if p.base == Some(old) => {
                p.base = Some(new)
            }
            (StrLoc::Patched(_, p), super::journal::TAG_STR_PATCH) => p.tally.moved(old, new),
            (whole, super::journal::TAG_STR) if whole.base() == Some(old) => {
                *whole = StrLoc::whole(Some(new), whole.form());
            }
            _ => {}
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
    /// Stream.
    Stream(stream::StreamValue),
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
            Value::Stream(_) => "stream",
        }
    }

    /// What OBJECT ENCODING answers.
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => string_encoding(&s.data, s.form()),
            Value::List(v) => v.encoding(),
            Value::Hash(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
            Value::Bloom(v) => v.encoding(),
            Value::Stream(v) => v.encoding(),
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
            Value::Stream(v) => v.len(),
        }
    }

    /// Calls `f` with the location of every record that holds part of this
    /// value (those become dead bytes when the value is dropped).
    pub(crate) fn for_each_location(&self, f: &mut dyn FnMut(Location)) {
        match self {
            Value::Str(s) => s.for_each_location(f),
            Value::List(v) => v.for_each_location(f),
            Value::Hash(v) => v.for_each_location(f),
            Value::Set(v) => v.for_each_location(f),
            Value::ZSet(v) => v.for_each_location(f),
            Value::Bloom(v) => v.for_each_location(f),
            Value::Stream(v) => v.for_each_location(f),
        }
    }

    /// Appends the records that recreate this value under `at` (a new
    /// incarnation, generation `at.gen`): RENAME, MOVE, COPY.
    pub(crate) fn rewrite(&self, at: &RecordKey<'_>, expire_at_ms: u64, journal: &mut Journal) {
        match self {
            Value::Str(s) => {
                journal.put_str(super::journal::TAG_STR, at, &[], &s.data, FixTarget::Whole);
            }
            Value::List(v) => v.rewrite(at, expire_at_ms, journal),
            Value::Hash(v) => v.rewrite(at, expire_at_ms, journal),
            Value::Set(v) => v.rewrite(at, expire_at_ms, journal),
            Value::ZSet(v) => v.rewrite(at, expire_at_ms, journal),
            Value::Bloom(v) => v.rewrite(at, expire_at_ms, journal),
            Value::Stream(v) => v.rewrite(at, expire_at_ms, journal),
        }
    }

    /// A deep copy with no locations (COPY; the copy's records get their own).
    pub(crate) fn duplicate(&self) -> Value {
        match self {
            Value::Str(s) => Value::Str(StrValue::written(s.data.clone(), None, s.form())),
            Value::List(v) => Value::List(v.duplicate()),
            Value::Hash(v) => Value::Hash(v.duplicate()),
            Value::Set(v) => Value::Set(v.duplicate()),
            Value::ZSet(v) => Value::ZSet(v.duplicate()),
            Value::Bloom(v) => Value::Bloom(v.duplicate()),
            Value::Stream(v) => Value::Stream(v.duplicate()),
        }
    }

    /// Records that `target` of this value was written at `loc` (called
    /// after the append returns); `sub` is the record's sub-key.
    pub(crate) fn set_location(&mut self, target: &FixTarget, sub: &[u8], loc: Location) {
        match (self, target) {
            (Value::Str(s), FixTarget::Whole) => s.set_base(loc),
            (Value::Str(s), FixTarget::Patch(_)) => s.push_patch(loc),
            (Value::List(v), t) => v.set_location(t, loc),
            (Value::Hash(v), t) => v.set_location(t, sub, loc),
            (Value::Set(v), t) => v.set_location(t, loc),
            (Value::ZSet(v), t) => v.set_location(t, sub, loc),
            (Value::Bloom(v), t) => v.set_location(t, loc),
            (Value::Stream(v), t) => v.set_location(t, sub, loc),
            _ => {}
        }
    }
}

/// Values up to this many bytes are copied out of a command's argument
/// when the keyspace keeps them (see [`keep`]).
pub(crate) const KEEP_COPY_MAX: usize = 512;

/// The bytes a value keeps from a command argument. Small ones are copied
/// into a block of their own: sharing the argument instead would allocate a
/// shared header on its first clone (an argv `Bytes` is built from a
/// `Vec`) and keep it, 32 more bytes per kept value and a reference count to
/// touch when it is freed; the copy also lets the argument's block go back
/// to the allocator at once. Large ones are shared (no copy): the RESP
/// decoder gave them an allocation of about their own size. Anything
/// long-lived that keeps an argument (the server's tracking table, pub/sub
/// names, client names, watches) keeps it through this, so that it never
/// holds a connection's read buffer.
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
            (Value::Str(s), FixTarget::Whole) if s.base() == Some(loc) => s.data = bytes.into(),
            (Value::Str(s), FixTarget::Patch(offset)) => s.apply_patch(*offset as usize, &bytes),
            (Value::List(v), t) => v.fill(t, loc, bytes),
            (Value::Hash(v), t) => v.fill(t, loc, bytes),
            (Value::Set(v), t) => v.fill(t, loc, bytes),
            (Value::ZSet(v), t) => v.fill(t, loc, bytes),
            (Value::Bloom(v), t) => v.fill(t, loc, bytes),
            (Value::Stream(v), t) => v.fill(t, loc, bytes),
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

#[cfg(test)]
mod tests {
    use super::{StrData, StrForm, StrValue, Value, INLINE_STR};
    use crate::storage::Location;
    use bytes::Bytes;

    #[test]
    fn a_short_string_lives_in_the_entry() {
        // The inline bytes fit beside the `Bytes` niche: no larger entries.
        assert_eq!(std::mem::size_of::<StrData>(), std::mem::size_of::<Bytes>());
        assert_eq!(std::mem::size_of::<super::StrLoc>(), 16);
        assert_eq!(std::mem::size_of::<super::StrValue>(), 48);
        assert_eq!(std::mem::size_of::<Value>(), 48);
        assert_eq!(std::mem::size_of::<super::SlimLoc>(), 16);
        for len in [0, 1, INLINE_STR - 1, INLINE_STR, INLINE_STR + 1, 600] {
            let arg = Bytes::from(vec![b'x'; len]);
            let kept = StrData::from_arg(&arg);
            assert_eq!(&kept[..], &arg[..], "{len} bytes");
            assert_eq!(matches!(kept, StrData::Inline { .. }), len <= INLINE_STR);
            assert_eq!(kept.to_bytes(), arg);
            let mut edited = kept.clone();
            let mut buf = edited.take_mut();
            assert_eq!(&buf[..], &arg[..]);
            assert!(edited.is_empty(), "take_mut leaves the value empty");
            buf.extend_from_slice(b"!");
            assert_eq!(StrData::from(buf.freeze()).len(), len + 1);
        }
        // A location keeps every bit, packed or boxed, and the form too.
        for offset in [0, 77, u64::from(u32::MAX), u64::from(u32::MAX) + 1, 5 << 40] {
            let at = |offset| Location {
                file_id: 7,
                offset,
                len: 99,
            };
            let mut v = StrValue::written(StrData::int(1), Some(at(offset)), StrForm::Plain);
            assert_eq!(v.base(), Some(at(offset)));
            assert_eq!(v.form(), StrForm::Plain);
            v.relocate(super::super::journal::TAG_STR, at(offset), at(offset + 3));
            assert_eq!(v.base(), Some(at(offset + 3)));
            assert_eq!(v.rebase(Some(at(offset + 9))), Some(at(offset + 3)));
            v.set_form(StrForm::Raw);
            assert_eq!((v.base(), v.form()), (Some(at(offset + 9)), StrForm::Raw));
            let slim = super::SlimLoc::new(Some(at(offset)));
            assert_eq!(slim.get(), Some(at(offset)));
            v.note_patch(10);
            assert!(v.is_patched());
            assert_eq!((v.base(), v.form()), (Some(at(offset + 9)), StrForm::Raw));
        }
        for n in [0, -1, i64::MIN, i64::MAX, 1234567] {
            assert_eq!(&StrData::int(n)[..], n.to_string().as_bytes());
            assert!(matches!(StrData::int(n), StrData::Inline { .. }));
        }
    }
}
