//! The one command table: every keyspace family registers a static slice of
//! [`Command`]s in [`FAMILIES`]; lookup is by name, case-insensitively.

use std::sync::LazyLock;

use bytes::Bytes;

use super::{CommandSpec, Reply};
use crate::keyspace::Exec;

/// A command handler: parses `argv` (argv\[0\] is the name, arity already
/// checked), applies itself to the keyspace through `Exec`, returns the reply.
///
/// A handler validates every argument before its first mutation, so that an
/// error never leaves a half-applied change.
pub(crate) type Handler = fn(&mut Exec<'_>, &[Bytes]) -> Reply;

/// A table entry: the static description plus the handler.
#[derive(Clone, Copy)]
pub(crate) struct Command {
    /// Name, arity, flags, key positions, docs.
    pub(crate) spec: CommandSpec,
    /// The implementation.
    pub(crate) run: Handler,
}

/// Every family's commands. A new family adds its slice here (one line).
static FAMILIES: &[&[Command]] = &[
    crate::keyspace::string::COMMANDS,
    crate::keyspace::generic::COMMANDS,
    crate::keyspace::list::COMMANDS,
    crate::keyspace::hash::COMMANDS,
    crate::keyspace::set::COMMANDS,
    crate::keyspace::zset::COMMANDS,
    crate::keyspace::bloom::COMMANDS,
    crate::keyspace::bitmap::COMMANDS,
    crate::keyspace::sort::COMMANDS,
    crate::keyspace::hyperloglog::COMMANDS,
    crate::keyspace::geo::COMMANDS,
    crate::keyspace::scripting::COMMANDS,
    crate::keyspace::dump::COMMANDS,
    crate::keyspace::stream::COMMANDS,
];

struct Table {
    specs: Vec<CommandSpec>,
    /// Commands by [`bucket`] of their [`Folded`] name: a lookup lower-cases
    /// the name's first 16 bytes a word at a time, hashes them and compares
    /// two words and the length with each name in the bucket (one, mostly).
    /// A general hash map first lower-cased a copy of the name and hashed
    /// all of it (200 instructions of a 2,600-instruction SET); hashing
    /// three bytes and comparing byte by byte took ~150.
    buckets: Vec<Vec<(Folded, &'static Command)>>,
}

/// Buckets of the command table (a power of two, several per command).
const BUCKETS: usize = 1024;

/// A name's length and its first 16 bytes as two little-endian words,
/// ASCII upper-case letters lower-cased (zeros past the end): names of at
/// most 16 bytes are equal ignoring ASCII case exactly when their
/// `Folded`s are.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Folded {
    words: [u64; 2],
    len: usize,
}

impl Folded {
    fn of(name: &[u8]) -> Folded {
        let mut bytes = [0u8; 16];
        let n = name.len().min(16);
        bytes[..n].copy_from_slice(&name[..n]);
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            lower_word(u64::from_le_bytes(w))
        };
        Folded {
            words: [word(0), word(1)],
            len: name.len(),
        }
    }
}

/// Lower-cases the ASCII letters among the 8 bytes of `w` (bytes of 0x80
/// and above stay as they are).
fn lower_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = w & !HIGH;
    // Per byte: bit 7 set where low7 >= b'A' and not where low7 > b'Z',
    // and only for bytes below 0x80.
    let at_least_a = low7 + ONES * u64::from(0x80 - b'A');
    let above_z = low7 + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = at_least_a & !above_z & !w & HIGH;
    w | (upper >> 2)
}

/// The bucket of a folded name.
fn bucket(f: &Folded) -> usize {
    let h = (f.words[0] ^ f.words[1].rotate_left(29) ^ f.len as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - BUCKETS.trailing_zeros())) as usize
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut specs = Vec::new();
    let mut buckets = vec![Vec::new(); BUCKETS];
    for family in FAMILIES {
        for cmd in family.iter() {
            specs.push(cmd.spec);
            let name = cmd.spec.name.as_bytes();
            debug_assert!(!name.is_empty() && name.len() <= MAX_NAME);
            let f = Folded::of(name);
            buckets[bucket(&f)].push((f, cmd));
        }
    }
    Table { specs, buckets }
});

/// Longest command name we look up (`bf.reserve`, `georadiusbymember_ro`, ...).
const MAX_NAME: usize = 32;

/// Finds a keyspace command by name, case-insensitively.
pub(crate) fn find(name: &[u8]) -> Option<&'static Command> {
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    let f = Folded::of(name);
    TABLE.buckets[bucket(&f)]
        .iter()
        .find(|(g, c)| {
            *g == f
                && (name.len() <= 16
                    || c.spec.name.as_bytes()[16..].eq_ignore_ascii_case(&name[16..]))
        })
        .map(|(_, c)| *c)
}

/// The spec of a keyspace command, by name (case-insensitive).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    find(name).map(|c| &c.spec)
}

/// Every keyspace command's spec, in family order.
pub fn table() -> &'static [CommandSpec] {
    &TABLE.specs
}

/// Builds a [`Command`] in a static table.
///
/// `cmd!(name, arity, [flags..], (first, last, step), group, summary, since, complexity, handler)`
/// where each flag is a field name of [`super::CommandFlags`].
macro_rules! cmd {
    ($name:literal, $arity:expr, [$($flag:ident),*], ($first:expr, $last:expr, $step:expr),
     $group:literal, $summary:literal, $since:literal, $complexity:literal, $run:expr) => {
        $crate::command::Command {
            spec: $crate::command::CommandSpec {
                name: $name,
                arity: $arity,
                flags: {
                    #[allow(unused_mut)]
                    let mut f = $crate::command::args::NO_FLAGS;
                    $(f.$flag = true;)*
                    f
                },
                keys: $crate::command::KeySpec { first: $first, last: $last, step: $step },
                group: $group,
                summary: $summary,
                since: $since,
                complexity: $complexity,
            },
            run: $run,
        }
    };
}
pub(crate) use cmd;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_and_found() {
        let mut seen = std::collections::HashSet::new();
        for spec in table() {
            assert!(seen.insert(spec.name), "duplicate {}", spec.name);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.flags.write != spec.flags.readonly, "{}", spec.name);
            assert!(!spec.summary.is_empty(), "{}", spec.name);
        }
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
        assert!(lookup(b"").is_none());
        assert!(lookup(b"g").is_none());
    }

    /// Every command is found by its name in any case, and the buckets
    /// stay short (a lookup compares one or two names).
    #[test]
    fn every_name_is_found_in_any_case_and_buckets_are_short() {
        for spec in table() {
            let upper = spec.name.to_ascii_uppercase();
            assert_eq!(lookup(upper.as_bytes()).map(|s| s.name), Some(spec.name));
            let mixed: String = spec
                .name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            assert_eq!(lookup(mixed.as_bytes()).map(|s| s.name), Some(spec.name));
            // A name one byte longer or shorter is another command or none.
            let longer = format!("{}x", spec.name);
            assert_ne!(lookup(longer.as_bytes()).map(|s| s.name), Some(spec.name));
        }
        let longest = TABLE.buckets.iter().map(Vec::len).max().unwrap_or(0);
        assert!(longest <= 3, "a bucket holds {longest} commands");
    }

    /// The word-at-a-time lower-casing is `to_ascii_lowercase` for every
    /// byte value in every position, so only ASCII case is ignored.
    #[test]
    fn words_lower_case_as_bytes_do() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = *b"aZ@[`{\x80\xff";
                bytes[pos] = b;
                let got = lower_word(u64::from_le_bytes(bytes)).to_le_bytes();
                assert_eq!(
                    got,
                    bytes.map(|c| c.to_ascii_lowercase()),
                    "byte {b:#x} at {pos}"
                );
            }
        }
        // Bytes that differ from a name's only in bit 5 or bit 7 are not it.
        for name in [
            &b"ge\xd4"[..],
            b"ge\x14",
            b"GE@",
            b"get\0",
            b"georadius_ro\x7f",
        ] {
            assert!(lookup(name).is_none(), "{name:?}");
        }
        assert_eq!(
            lookup(b"GEORADIUSBYMEMBER_RO").map(|s| s.name),
            Some("georadiusbymember_ro")
        );
        assert!(lookup(b"GEORADIUSBYMEMBER_RX").is_none());
    }
}
