//! The one command table: every keyspace family registers a static slice of
//! [`Command`]s in [`FAMILIES`]; lookup is by lower-cased name.

use std::sync::LazyLock;

use hashbrown::HashMap;

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
];

struct Table {
    specs: Vec<CommandSpec>,
    by_name: HashMap<&'static [u8], &'static Command>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut specs = Vec::new();
    let mut by_name = HashMap::new();
    for family in FAMILIES {
        for cmd in family.iter() {
            specs.push(cmd.spec);
            by_name.insert(cmd.spec.name.as_bytes(), cmd);
        }
    }
    Table { specs, by_name }
});

/// Longest command name we look up (`bf.reserve`, `georadiusbymember_ro`, ...).
const MAX_NAME: usize = 32;

/// Finds a keyspace command by name, case-insensitively.
pub(crate) fn find(name: &[u8]) -> Option<&'static Command> {
    if name.len() > MAX_NAME {
        return None;
    }
    let mut buf = [0u8; MAX_NAME];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    TABLE.by_name.get(&*lower).copied()
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
    }
}
