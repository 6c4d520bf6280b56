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
    /// Commands by [`bucket`] of their name: a lookup hashes three bytes
    /// and the length and compares one or two names, case-insensitively
    /// (a general hash map first lower-cased a copy of the name and hashed
    /// all of it: 200 instructions of a 2,600-instruction SET).
    buckets: Vec<Vec<&'static Command>>,
}

/// Buckets of the command table (a power of two, several per command).
const BUCKETS: usize = 1024;

/// The bucket of a (non-empty) command name: its length and its first,
/// second and last bytes, lower-cased (ASCII).
fn bucket(name: &[u8]) -> usize {
    let n = name.len();
    let at = |i: usize| usize::from(name[i.min(n - 1)].to_ascii_lowercase());
    (n.wrapping_mul(97)
        ^ at(0).wrapping_mul(31)
        ^ at(1).wrapping_mul(7)
        ^ at(n - 1).wrapping_mul(131))
        % BUCKETS
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut specs = Vec::new();
    let mut buckets = vec![Vec::new(); BUCKETS];
    for family in FAMILIES {
        for cmd in family.iter() {
            specs.push(cmd.spec);
            let name = cmd.spec.name.as_bytes();
            debug_assert!(!name.is_empty() && name.len() <= MAX_NAME);
            buckets[bucket(name)].push(cmd);
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
    TABLE.buckets[bucket(name)]
        .iter()
        .find(|c| c.spec.name.as_bytes().eq_ignore_ascii_case(name))
        .copied()
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
}
