//! The command layer: the command table and the one execute path shared by
//! the RESP server, the Python binding and the Raft state machine.
//!
//! `argv -> CommandSpec lookup (arity, flags) -> typed command -> keyspace -> Reply`.
//! Nothing here reads the wall clock or a global RNG: everything that varies
//! comes in through [`Ctx`].
//!
//! The keyspace command families (string, list, keys, hash, set, zset, bloom)
//! each register a static slice of [`Command`]s; [`table`] and [`lookup`]
//! see all of them through one table built once (`table.rs`).

pub(crate) mod args;
pub mod keys;
mod reply;
mod spec;
pub(crate) mod table;

pub use reply::Reply;
pub(crate) use reply::{Bulks, Piece};
pub use spec::{CommandFlags, CommandSpec, KeySpec};
pub(crate) use table::{find, Command};
pub use table::{lookup, table};

/// The explicit context of one command execution.
///
/// Every replica applies a command with the same `Ctx` and so reaches the same
/// state: `now_ms` decides expiry, `rng_seed` decides random picks (SPOP,
/// SRANDMEMBER, RANDOMKEY, ...), `db` is the selected database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// Milliseconds since the Unix epoch, as seen by whoever proposed the command.
    pub now_ms: u64,
    /// Seed for any random choice the command makes.
    pub rng_seed: u64,
    /// Index of the selected database (0..databases).
    pub db: usize,
    /// The memory in use was over `maxmemory` when the command arrived
    /// (Redis's pre-command OOM state). Scripts read it: a script's first
    /// `denyoom` call, and EVAL / FCALL of a script that may write without
    /// `allow-oom`, get Redis's OOM error. Connections set it; replicated
    /// applies never do (a command a leader accepted runs everywhere).
    pub oom: bool,
}

impl Ctx {
    /// A context for database `db` at time `now_ms` with seed `rng_seed`.
    pub fn new(now_ms: u64, rng_seed: u64, db: usize) -> Self {
        Ctx {
            now_ms,
            rng_seed,
            db,
            oom: false,
        }
    }
}
