//! The Redis data model over the storage log: databases, keys, the value
//! types, expiry, persistence and the command families.
//!
//! ```text
//! Keyspace ─ state: Mutex<State>   every command runs under this one lock
//!          │   ├ dbs[slot]: Db     key -> Entry { value, expire_at_ms, gen }
//!          │   ├ slot_of[db]       logical db -> physical slot (SWAPDB is O(1))
//!          │   └ next_gen          generation counter
//!          ├ log: Arc<Log>         each mutation = records appended as one batch
//!          └ dropper               frees big values off the caller's path
//! ```
//!
//! A command runs as: look up the table entry (`command::find`), check arity,
//! lock, run the family handler with an [`Exec`] (which collects records in a
//! journal), append the journal as one batch while still holding the lock (so
//! that log order is memory order), unlock, then wait for durability
//! (`Commit::wait`), so that `fsync = always` group-commits across clients.
//! The families live one per file: [`string`], [`list`], [`generic`] (keys),
//! [`hash`], [`set`], [`zset`], [`bloom`], [`hyperloglog`], [`dump`] (DUMP / RESTORE). See docs/architecture.md, "How to
//! add a command family", and docs/storage-format.md, "Keyspace records".

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::command::{args, Ctx, Reply};
use crate::storage::{self, Log, MergeOracle, ReplayEntry};

pub(crate) mod bitmap;
pub(crate) mod bloom;
mod db;
mod dropper;
pub(crate) mod dump;
mod exec;
pub(crate) mod generic;
pub(crate) mod geo;
pub(crate) mod glob;
pub(crate) mod hash;
mod huge;
pub(crate) mod hyperloglog;
mod journal;
pub(crate) mod list;
mod members;
pub mod notify;
mod ordtree;
mod quicklist;
mod renamed;
mod replay;
mod replicated;
mod scanmap;
pub(crate) mod scripting;
mod smallhash;
mod smallzset;
pub use scanmap::set_order_secret;
pub use scripting::{with_script_acl, with_script_reads, ScriptAcl, ScriptDenied};
pub(crate) mod set;
pub(crate) mod sort;
pub(crate) mod stream;
pub(crate) mod string;
mod value;
pub(crate) mod zset;

pub(crate) use db::Db;
use dropper::Dropper;
pub(crate) use exec::Exec;
pub(crate) use journal::Journal;
pub use replicated::{DumpRecord, ExportSink, Import};
pub(crate) use value::{keep, KEEP_COPY_MAX};

/// The most databases a keyspace can have. A physical slot is one byte in
/// record keys (0xFF means "all" in a FLUSH record), and every logical
/// database `d` has a staging twin `STAGING + d` for snapshot imports
/// (`replicated.rs`), so 127 + 128 slots fill the byte.
pub const MAX_DATABASES: usize = 127;

/// The logical index of database 0's staging twin: a snapshot import
/// fills `STAGING + d` while `d` keeps serving, then swaps the two.
/// Fixed (not `databases`) so that the SWAPDB records that remap them mean
/// the same after a restart with another `databases` setting.
pub(crate) const STAGING: usize = 128;

/// Physical slots (and logical indexes, staging twins included).
const SLOTS: usize = STAGING + MAX_DATABASES;

/// Keyspace configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The storage engine's options (directory, fsync policy, ...).
    pub storage: storage::Options,
    /// Number of databases (SELECT 0..databases). Default 16, at most
    /// [`MAX_DATABASES`]; reopening with fewer databases than the data uses
    /// is refused.
    pub databases: usize,
}

impl Config {
    /// Defaults (16 databases) over the given storage options.
    pub fn new(storage: storage::Options) -> Config {
        Config {
            storage,
            databases: 16,
        }
    }
}

/// Errors of the keyspace layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage engine failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// The configuration is invalid.
    #[error("invalid keyspace configuration: {0}")]
    Config(String),
}

/// Told (under the keyspace lock) about every modified key: WATCH and
/// blocking pops use it. Implementations must be quick and must not call
/// back into the keyspace.
pub trait KeyObserver: Send + Sync {
    /// A key of database `db` was written, deleted or expired.
    fn key_modified(&self, db: usize, key: &[u8]);
    /// A key of database `db` was removed because its deadline passed
    /// (by default: as [`KeyObserver::key_modified`]).
    fn key_expired(&self, db: usize, key: &[u8]) {
        self.key_modified(db, key);
    }
    /// `FLUSHDB` (`Some(db)`) or `FLUSHALL` (`None`), told before the
    /// keys go: `presence(db, key)` says how `db` holds `key` (as Redis
    /// 7.0, a flush touches only the watched keys it removes).
    fn db_flushed(&self, db: Option<usize>, presence: &dyn Fn(usize, &[u8]) -> Presence);
    /// `SWAPDB a b`, told before the swap; `presence` as for
    /// [`KeyObserver::db_flushed`].
    fn dbs_swapped(&self, a: usize, b: usize, presence: &dyn Fn(usize, &[u8]) -> Presence);
    /// The [`notify`] classes whose events this observer wants now (none
    /// by default). Asked before each event, so it must be cheap.
    fn event_classes(&self) -> u32 {
        0
    }
    /// A keyspace notification: command `event` (Redis's name, e.g.
    /// `"lpush"`) acted on `key` of database `db`; only events of a class
    /// in [`KeyObserver::event_classes`] arrive.
    fn key_event(&self, db: usize, event: &str, key: &[u8]) {
        let _ = (db, event, key);
    }
}

/// Key lookups and expiries since the keyspace opened (or the last
/// [`Keyspace::reset_lookup_stats`]): INFO's `keyspace_hits`,
/// `keyspace_misses` and `expired_keys`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Keys a read-only command found.
    pub hits: u64,
    /// Keys a read-only command looked for and did not find (absent, or
    /// past their deadline).
    pub misses: u64,
    /// Keys removed because their deadline passed (lazily or by the
    /// active expiry round).
    pub expired: u64,
}

/// Counters for INFO.
#[derive(Debug, Clone, Default)]
pub struct KeyspaceStats {
    /// Per logical database: (keys, keys with a deadline).
    pub keys: Vec<(usize, usize)>,
    /// Lookups and expiries.
    pub lookups: LookupStats,
    /// Storage figures.
    pub storage: storage::LogStats,
}

/// Everything the lock protects.
pub(crate) struct State {
    /// Databases by physical slot.
    pub(crate) dbs: Vec<Db>,
    /// Logical database index -> physical slot (SWAPDB swaps two entries);
    /// indexes from [`STAGING`] on are the staging twins.
    pub(crate) slot_of: Vec<usize>,
    /// Number of logical databases clients see (SELECT 0..databases).
    pub(crate) databases: usize,
    /// Next generation to hand out; above every generation on disk.
    pub(crate) next_gen: u64,
    /// Who to tell about modified keys.
    pub(crate) observer: Option<Arc<dyn KeyObserver>>,
    /// The newest replication metadata record (cluster mode), see
    /// `replicated.rs`: its bytes (None until read back after a hint-file
    /// recovery) and its location (merge liveness).
    pub(crate) raft_meta: Option<(Option<Bytes>, storage::Location)>,
    /// Current names of the incarnations RENAME / MOVE renamed in place.
    pub(crate) renamed: renamed::Renamed,
    /// The journal, kept between commands so that its buffers are reused.
    journal: Journal,
    /// The locations of the last append, reused likewise.
    locations: Vec<storage::Location>,
    /// Longest user key / sub-key (member, item) a record key can carry.
    pub(crate) max_key_len: usize,
    /// Longest value a record can carry (strings, list elements).
    pub(crate) max_value_len: usize,
    /// A command changed memory and then its append failed (a full disk):
    /// memory is ahead of the log. The next command reloads memory from the
    /// log first (see `Keyspace::lock_state`); merge treats every record as
    /// live meanwhile.
    pub(crate) stale: bool,
    /// The dead-bytes counter of the data file last counted into (most
    /// overwrites hit the same file): see [`storage::Log::mark_dead_cached`].
    pub(crate) dead: std::cell::RefCell<storage::DeadCache>,
    /// The Lua script cache (EVALSHA, SCRIPT LOAD), shared with
    /// [`Keyspace`] (see `scripting.rs`); memory only, as in Redis.
    pub(crate) scripts: scripting::SharedScripts,
    /// The Lua state scripts run in, kept between scripts (built by the
    /// first one; see `scripting::Engine`). Here, under the state lock,
    /// because scripts run one at a time under it.
    pub(crate) script_engine: Option<scripting::Engine>,
    /// The function libraries (FUNCTION LOAD, FCALL): part of the data,
    /// persisted as `TAG_FUNCTIONS` records (see `scripting/functions.rs`).
    pub(crate) functions: scripting::Functions,
    /// Hits, misses and expiries (INFO stats).
    pub(crate) lookups: LookupStats,
}

impl State {
    /// Empty databases, as before replaying a log.
    fn new(cfg: &Config) -> State {
        State {
            dbs: (0..SLOTS).map(|_| Db::new(cfg.storage.index)).collect(),
            slot_of: (0..SLOTS).collect(),
            databases: cfg.databases,
            next_gen: 1,
            observer: None,
            raft_meta: None,
            renamed: Default::default(),
            journal: Journal::default(),
            locations: Vec::new(),
            max_key_len: cfg.storage.max_key_len.saturating_sub(KEY_FRAMING) / 2,
            max_value_len: cfg.storage.max_value_len.min(args::MAX_STRING),
            stale: false,
            dead: Default::default(),
            scripts: Default::default(),
            script_engine: None,
            functions: Default::default(),
            lookups: LookupStats::default(),
        }
    }
}

/// Largest total argument size of one command (a storage batch holds 1 GiB).
const MAX_COMMAND_BYTES: usize = 768 << 20;

/// Room left in a record key for the slot, key length and sub-key framing.
const KEY_FRAMING: usize = 64;

/// The Redis keyspace: every database, over one storage log.
pub struct Keyspace {
    /// The one lock around all databases: commands are atomic, as on Redis's
    /// single thread. Durability is waited for after releasing it.
    state: Mutex<State>,
    /// The log; shared (Arc) with the dropper thread, which reports the
    /// records of freed values as dead bytes.
    log: Arc<Log>,
    /// Frees big values off the caller's path.
    dropper: Dropper,
    /// Number of logical databases.
    databases: usize,
    /// The configuration it was opened with (to rebuild memory from the log).
    cfg: Config,
    /// The script cache, also in the state: read here without the state
    /// lock (`Keyspace::script_call_by_body`).
    scripts: scripting::SharedScripts,
}

// The keyspace is shared between threads (server connections, Python).
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Keyspace>();
};

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("databases", &self.databases)
            .finish_non_exhaustive()
    }
}

/// The reply to a command whose write could not be made durable.
fn persistence_error(e: &storage::Error) -> Reply {
    Reply::Error(format!("ERR persistence failed: {e}"))
}

/// Framing counted per argument by [`command_bytes`].
const ARG_FRAMING: usize = 64;

/// Upper bound of the bytes a command's arguments take in its records
/// (each argument plus record framing).
fn command_bytes(argv: &[Bytes]) -> usize {
    argv.iter().map(|a| a.len() + ARG_FRAMING).sum()
}

/// Refuses arguments the log could not store, before anything is mutated:
/// a key longer than the record key allows, any argument longer than a value
/// may be. (A record key holds the user key plus a sub-key, so each gets
/// half of the storage's key limit.)
fn check_sizes(spec: &crate::command::CommandSpec, argv: &[Bytes], state: &State) -> Option<Reply> {
    // One pass for the common case (every argument short): it runs before
    // every command.
    // (`command_bytes`, counted in the same pass.)
    let (mut longest, mut bytes) = (0, 0);
    for a in argv {
        longest = longest.max(a.len());
        bytes += a.len() + ARG_FRAMING;
    }
    if longest <= state.max_key_len.min(state.max_value_len) && bytes <= MAX_COMMAND_BYTES {
        return None;
    }
    if longest > state.max_value_len {
        return Some(args::err(args::TOO_BIG));
    }
    // One command is one storage batch, and a batch is at most 1 GiB.
    if bytes > MAX_COMMAND_BYTES {
        return Some(args::err(
            "ERR command too large (its records would exceed one storage batch)",
        ));
    }
    if spec
        .keys
        .positions(argv.len())
        .any(|i| argv[i].len() > state.max_key_len)
    {
        return Some(Reply::Error(format!(
            "ERR key is too long (at most {} bytes)",
            state.max_key_len
        )));
    }
    None
}

/// `ERR unknown command '...', with args beginning with: '...' ` as Redis 7.0 words it.
fn unknown_command(argv: &[Bytes]) -> Reply {
    let mut args_text = String::new();
    for a in argv.iter().skip(1) {
        if args_text.len() >= 128 {
            break;
        }
        let room = 128 - args_text.len();
        args_text.push('\'');
        args_text.push_str(&c_string(a, room));
        args_text.push_str("' ");
    }
    let name = argv.first().map(|n| c_string(n, 128)).unwrap_or_default();
    let text = format!("ERR unknown command '{name}', with args beginning with: {args_text}");
    Reply::Error(text.replace(['\r', '\n'], " "))
}

/// Up to `max` bytes of `b`, stopping at a NUL as C's `%.*s` does.
fn c_string(b: &[u8], max: usize) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len()).min(max);
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// One part of a group of work applied as one storage batch
/// ([`Keyspace::execute_group_replicated`]).
#[derive(Debug, Clone)]
pub enum GroupItem {
    /// One command run with `ctx`.
    Command {
        /// Clock, seed and database.
        ctx: Ctx,
        /// The command (shared: a replicated entry's copies only count
        /// references).
        argv: Arc<[Bytes]>,
    },
    /// One command run with `ctx` whose arguments are `args[at..at + len]`
    /// of the group's shared arguments (a decoded packed batch: no
    /// allocation per command).
    Span {
        /// Clock, seed and database.
        ctx: Ctx,
        /// First argument.
        at: usize,
        /// Number of arguments.
        len: usize,
    },
    /// Commands run in order with `ctx`, as a transaction runs them.
    Commands {
        /// Clock, seed and database.
        ctx: Ctx,
        /// The commands (one for a plain command).
        cmds: Vec<Vec<Bytes>>,
    },
    /// One round of active expiry at `now_ms`.
    Expire {
        /// The clock.
        now_ms: u64,
    },
}

impl GroupItem {
    /// The item as work for [`Keyspace::run_group`] (`args`: the group's
    /// shared arguments; a span outside them is an empty command, which
    /// answers an error).
    fn work<'a>(&'a self, args: &'a [Bytes]) -> Work<'a> {
        match self {
            GroupItem::Command { ctx, argv } => Work::Command(*ctx, argv),
            GroupItem::Span { ctx, at, len } => {
                let argv = at
                    .checked_add(*len)
                    .and_then(|end| args.get(*at..end))
                    .unwrap_or(&[]);
                Work::Command(*ctx, argv)
            }
            GroupItem::Commands { ctx, cmds } => Work::Commands(*ctx, cmds),
            GroupItem::Expire { now_ms } => Work::Expire(*now_ms),
        }
    }

    /// How many replies the item gives (one per command).
    pub fn reply_count(&self) -> usize {
        self.work(&[]).reply_count()
    }
}

/// The last command a group looked up, by the exact bytes of its name:
/// a pipelined group is mostly one command over and over, and comparing a
/// few bytes costs less than the table lookup.
#[derive(Default)]
struct LastCommand {
    name: [u8; LastCommand::MAX],
    len: usize,
    cmd: Option<&'static crate::command::Command>,
}

impl LastCommand {
    /// Longest name remembered.
    const MAX: usize = 24;

    /// The command named `name` (`None`: unknown), as `command::find`.
    fn find(&mut self, name: &[u8]) -> Option<&'static crate::command::Command> {
        if let Some(cmd) = self.cmd {
            if self.name[..self.len] == *name {
                return Some(cmd);
            }
        }
        let cmd = crate::command::find(name)?;
        if name.len() <= Self::MAX {
            self.name[..name.len()].copy_from_slice(name);
            self.len = name.len();
            self.cmd = Some(cmd);
        }
        Some(cmd)
    }
}

/// How a database holds a key, for the observer of a flush or a swap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Not there.
    Absent,
    /// There and not past its deadline.
    Live,
    /// There, past its deadline, not removed yet.
    Expired,
}

/// A group item, borrowed.
#[derive(Clone, Copy)]
enum Work<'a> {
    /// One command run with the context.
    Command(Ctx, &'a [Bytes]),
    /// Commands run in order with the context, as a transaction runs them.
    Commands(Ctx, &'a [Vec<Bytes>]),
    /// One round of active expiry at this time.
    Expire(u64),
}

impl Work<'_> {
    fn reply_count(&self) -> usize {
        match self {
            Work::Command(..) => 1,
            Work::Commands(_, cmds) => cmds.len(),
            Work::Expire(_) => 0,
        }
    }
}

/// The same error as every reply of every item.
fn group_error(work: &[Work<'_>], reply: &Reply) -> Vec<Reply> {
    let n = work.iter().map(Work::reply_count).sum();
    vec![reply.clone(); n]
}

impl Keyspace {
    /// Opens the keyspace: opens the log and replays every record into memory.
    pub fn open(cfg: Config) -> Result<Keyspace, Error> {
        if cfg.databases == 0 || cfg.databases > MAX_DATABASES {
            return Err(Error::Config(format!(
                "databases must be 1..={MAX_DATABASES}, got {}",
                cfg.databases
            )));
        }
        let mut state = State::new(&cfg);
        let mut loads = Vec::new();
        let log = Log::open(cfg.storage.clone(), &mut |entry: ReplayEntry<'_>| {
            replay::apply(&mut state, &entry, &mut loads)
        })?;
        let log = Arc::new(log);
        let dropper = Dropper::new(Arc::clone(&log));
        replicated::drop_staging(&mut state, &dropper)?;
        replay::finish(&mut state, &log, loads)?;
        let scripts = Arc::clone(&state.scripts);
        Ok(Keyspace {
            scripts,
            state: Mutex::new(state),
            dropper,
            log,
            databases: cfg.databases,
            cfg,
        })
    }

    /// Locks the state. If a failed append left memory ahead of the log,
    /// memory is first rebuilt from the log (merges paused, so the file set
    /// holds still), exactly as an open would build it: what a client was
    /// told failed is then gone from memory too.
    pub(crate) fn lock_state(&self) -> Result<parking_lot::MutexGuard<'_, State>, storage::Error> {
        let state = self.state.lock();
        if !state.stale {
            return Ok(state);
        }
        drop(state);
        // Lock order: merge pause first (a merge asks the state lock).
        let pause = self.log.pause_merges();
        let mut state = self.state.lock();
        if state.stale {
            tracing::warn!(
                "a write failed after changing memory; reloading the keyspace from the log"
            );
            let mut fresh = State::new(&self.cfg);
            let mut loads = Vec::new();
            pause.replay(&mut |entry: ReplayEntry<'_>| {
                replay::apply(&mut fresh, &entry, &mut loads)
            })?;
            replicated::drop_staging(&mut fresh, &self.dropper)?;
            replay::finish(&mut fresh, &self.log, loads)?;
            let old = std::mem::replace(&mut state.dbs, fresh.dbs);
            for db in old {
                self.dropper.discard_db(db);
            }
            state.slot_of = fresh.slot_of;
            state.next_gen = state.next_gen.max(fresh.next_gen);
            state.raft_meta = fresh.raft_meta;
            state.functions = fresh.functions;
            state.script_engine = fresh.script_engine;
            // (The script cache stays: it is not in the log.)
            state.stale = false;
            tracing::info!("keyspace reloaded from the log");
        }
        Ok(state)
    }

    /// Runs one command atomically and waits until it is durable per the
    /// fsync policy. Errors (unknown command, arity, WRONGTYPE, ...) are
    /// error replies; nothing is half-applied.
    pub fn execute(&self, ctx: &Ctx, argv: &[Bytes]) -> Reply {
        self.execute_inner(ctx, argv, None)
    }

    /// [`Keyspace::execute`], appending `meta` (replication metadata) in the
    /// same atomic batch when given.
    fn execute_inner(&self, ctx: &Ctx, argv: &[Bytes], meta: Option<Bytes>) -> Reply {
        // A rejected command still records the metadata (the entry was applied).
        let rejected = |reply: Reply| match meta.clone().map(|m| self.put_raft_meta(m)) {
            Some(Err(e)) => Reply::Error(format!("ERR persistence failed: {e}")),
            _ => reply,
        };
        let cmd = match self.admit(ctx, argv) {
            Ok(cmd) => cmd,
            Err(reply) => return rejected(reply),
        };
        if cmd.spec.flags.write {
            if let Err(e) = self.log.check_space(command_bytes(argv) as u64) {
                return rejected(persistence_error(&e));
            }
        }
        let state = match self.lock_state() {
            Ok(state) => state,
            Err(e) => return rejected(persistence_error(&e)),
        };
        self.run_locked(cmd, ctx, argv, state, meta.clone())
            .unwrap_or_else(rejected)
    }

    /// [`Keyspace::execute`] for a caller that must not block (a Python
    /// thread holding the GIL): runs `argv` only if it can finish without
    /// waiting for a lock and without a system call on the log, that is
    /// when the state lock is free and, for a write, the log can take
    /// `log_bytes` bytes by a copy into memory already mapped and backed
    /// on disk (see [`Log::quiet_room`](crate::storage::Log::quiet_room)).
    /// `None` when it cannot: nothing was done, call
    /// [`Keyspace::execute`]. `log_bytes` bounds what the command appends
    /// (GET and SET append one record of about their argv's size); a
    /// command that appends more is still correct, it may only block.
    pub fn try_execute(&self, ctx: &Ctx, argv: &[Bytes], log_bytes: usize) -> Option<Reply> {
        let cmd = match self.admit(ctx, argv) {
            Ok(cmd) => cmd,
            Err(reply) => return Some(reply),
        };
        let state = self.state.try_lock()?;
        // A stale state is rebuilt from the log first: `execute` does that.
        // Even a read may append (a lazily expired key's delete), so the
        // room is asked of every command.
        if state.stale || !self.log.quiet_room(log_bytes as u64) {
            return None;
        }
        Some(
            self.run_locked(cmd, ctx, argv, state, None)
                .unwrap_or_else(|r| r),
        )
    }

    /// The checks that need no lock: the command exists, its arity, the db
    /// index. `Err` is the reply that rejects it.
    fn admit(&self, ctx: &Ctx, argv: &[Bytes]) -> Result<&'static crate::command::Command, Reply> {
        let Some(cmd) = argv.first().and_then(|n| crate::command::find(n)) else {
            return Err(unknown_command(argv));
        };
        if !cmd.spec.arity_ok(argv.len()) {
            return Err(args::arity_error(cmd.spec.name));
        }
        if ctx.db >= self.databases {
            return Err(args::err("ERR DB index is out of range"));
        }
        Ok(cmd)
    }

    /// Runs an admitted command under the state lock and appends its
    /// records. `Err` is a rejection (sizes) made before anything changed.
    fn run_locked(
        &self,
        cmd: &'static crate::command::Command,
        ctx: &Ctx,
        argv: &[Bytes],
        mut state: parking_lot::MutexGuard<'_, State>,
        meta: Option<Bytes>,
    ) -> Result<Reply, Reply> {
        if let Some(e) = check_sizes(&cmd.spec, argv, &state) {
            drop(state);
            return Err(e);
        }
        let mut journal = std::mem::take(&mut state.journal);
        let reply = {
            let mut ex = Exec::new(ctx, &mut state, &mut journal, &self.dropper);
            ex.reading = cmd.spec.flags.readonly;
            if let Some(key) = cmd.spec.keys.positions(argv.len()).next() {
                ex.hint_key(&argv[key]);
            }
            (cmd.run)(&mut ex, argv)
        };
        let commit = self.append(&mut state, &mut journal, meta);
        state.journal = journal;
        drop(state);
        match commit.and_then(|c| c.map_or(Ok(()), |c| c.wait())) {
            Ok(()) => Ok(reply),
            Err(e) => Ok(persistence_error(&e)),
        }
    }

    /// MULTI/EXEC: runs all commands atomically, appends their records as one
    /// storage batch, returns one reply each. A command that fails (arity,
    /// WRONGTYPE, ...) gets its error reply and the others still run, as in
    /// Redis. `SELECT n` inside the list switches the database of the
    /// commands after it.
    pub fn execute_transaction(&self, ctx: &Ctx, cmds: &[Vec<Bytes>]) -> Vec<Reply> {
        self.execute_transaction_inner(ctx, cmds, None)
    }

    /// [`Keyspace::execute_transaction`], appending `meta` in the same batch.
    fn execute_transaction_inner(
        &self,
        ctx: &Ctx,
        cmds: &[Vec<Bytes>],
        meta: Option<Bytes>,
    ) -> Vec<Reply> {
        self.run_group(&[Work::Commands(*ctx, cmds)], meta)
    }

    /// Runs `items` in order under one lock and appends all their records
    /// (and `meta`, last) as ONE storage batch: after a crash either every
    /// item's effect is in the log or none is. The replies of all items in
    /// order ([`GroupItem::reply_count`] each).
    pub(crate) fn execute_group(
        &self,
        items: &[GroupItem],
        args: &[Bytes],
        meta: Option<Bytes>,
    ) -> Vec<Reply> {
        let work: Vec<Work<'_>> = items.iter().map(|i| i.work(args)).collect();
        self.run_group(&work, meta)
    }

    /// [`Keyspace::execute_group`] on borrowed items.
    fn run_group(&self, work: &[Work<'_>], meta: Option<Bytes>) -> Vec<Reply> {
        let bytes: usize = work
            .iter()
            .map(|w| match w {
                Work::Command(_, argv) => command_bytes(argv),
                Work::Commands(_, cmds) => cmds.iter().map(|a| command_bytes(a)).sum(),
                Work::Expire(_) => 0,
            })
            .sum();
        let state = self
            .log
            .check_space(bytes as u64)
            .and_then(|()| self.lock_state());
        let mut state = match state {
            Ok(state) => state,
            Err(e) => return group_error(work, &persistence_error(&e)),
        };
        let mut journal = std::mem::take(&mut state.journal);
        let mut out = Vec::with_capacity(work.iter().map(Work::reply_count).sum());
        let mut last = LastCommand::default();
        for w in work {
            match *w {
                Work::Command(ctx, argv) => {
                    self.run_commands(&mut state, &mut journal, ctx, &[argv], &mut last, &mut out);
                }
                Work::Commands(ctx, cmds) => {
                    self.run_commands(&mut state, &mut journal, ctx, cmds, &mut last, &mut out);
                }
                Work::Expire(now_ms) => {
                    self.expire_due(&mut state, now_ms);
                }
            }
        }
        let commit = self.append(&mut state, &mut journal, meta);
        state.journal = journal;
        drop(state);
        if let Err(e) = commit.and_then(|c| c.map_or(Ok(()), |c| c.wait())) {
            return group_error(work, &persistence_error(&e));
        }
        out
    }

    /// Runs `cmds` as a transaction does: a failing command gets its error
    /// reply and the others still run; `SELECT n` switches the database of
    /// the commands after it.
    fn run_commands<A: AsRef<[Bytes]>>(
        &self,
        state: &mut State,
        journal: &mut Journal,
        mut ctx: Ctx,
        cmds: &[A],
        last: &mut LastCommand,
        replies: &mut Vec<Reply>,
    ) {
        for argv in cmds {
            let argv = argv.as_ref();
            if argv.first().is_some_and(|n| args::is(n, "select")) && argv.len() == 2 {
                match args::parse_i64(&argv[1]).map(usize::try_from) {
                    Some(Ok(db)) if db < self.databases => {
                        ctx.db = db;
                        replies.push(Reply::ok());
                    }
                    Some(_) => replies.push(args::err("ERR DB index is out of range")),
                    None => replies.push(args::err(args::NOT_INTEGER)),
                }
                continue;
            }
            let Some(cmd) = argv.first().and_then(|n| last.find(n)) else {
                replies.push(unknown_command(argv));
                continue;
            };
            if !cmd.spec.arity_ok(argv.len()) {
                replies.push(args::arity_error(cmd.spec.name));
                continue;
            }
            if ctx.db >= self.databases {
                replies.push(args::err("ERR DB index is out of range"));
                continue;
            }
            if let Some(e) = check_sizes(&cmd.spec, argv, state) {
                replies.push(e);
                continue;
            }
            let mut ex = Exec::new(&ctx, state, journal, &self.dropper);
            ex.reading = cmd.spec.flags.readonly;
            replies.push((cmd.run)(&mut ex, argv));
        }
    }

    /// Appends the journal as one batch (under the lock) and stores the
    /// returned locations in memory. Returns the commit to wait for.
    fn append(
        &self,
        state: &mut State,
        journal: &mut Journal,
        meta: Option<Bytes>,
    ) -> Result<Option<storage::Commit>, storage::Error> {
        let has_meta = meta.is_some();
        if let Some(meta) = &meta {
            replicated::log_meta(journal, meta.clone());
        }
        if journal.is_empty() {
            return Ok(None);
        }
        // One vector for every append's locations (no allocation per command).
        let mut locations = std::mem::take(&mut state.locations);
        let result = match journal.single() {
            Some(one) => self
                .log
                .append_into(std::slice::from_ref(&one), &mut locations),
            None => self.log.append_each(journal.records(), &mut locations),
        };
        let result = match result {
            Ok(commit) => {
                let log = &self.log;
                if let (true, Some(meta), Some(loc)) = (has_meta, meta, locations.last()) {
                    if let Some((_, old)) = state.raft_meta.replace((Some(meta), *loc)) {
                        log.mark_dead(old);
                    }
                }
                if journal.has_functions {
                    for i in journal.positions_of(journal::TAG_FUNCTIONS) {
                        if let Some(loc) = locations.get(i) {
                            if let Some(old) = state.functions.record.replace(*loc) {
                                log.mark_dead(old);
                            }
                        }
                    }
                }
                journal.settle(
                    &locations,
                    |slot, key, sub, gen, target, loc| {
                        let (dbs, renamed) = (&mut state.dbs, &state.renamed);
                        if let Some(entry) = renamed::find_mut(dbs, renamed, slot, key, gen) {
                            entry.value.set_location(target, sub, loc);
                        }
                    },
                    |loc| log.mark_dead_cached(&mut state.dead.borrow_mut(), loc),
                );
                Ok(Some(commit))
            }
            Err(e) => {
                // The command already changed memory; the log does not have
                // it. Memory is rebuilt from the log before the next command.
                journal.clear();
                state.stale = true;
                Err(e)
            }
        };
        if locations.capacity() <= 1024 {
            state.locations = locations;
        }
        result
    }

    /// Registers the observer told about modified keys (replaces any previous one).
    pub fn set_observer(&self, obs: Arc<dyn KeyObserver>) {
        self.state.lock().observer = Some(obs);
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.databases
    }

    /// Deletes keys whose deadline is `<= now_ms`: at most 200 per database
    /// per call, earliest first (deterministic: the same call on every
    /// replica removes the same keys). Returns how many were removed.
    pub fn active_expire_cycle(&self, now_ms: u64) -> usize {
        let Ok(mut state) = self.lock_state() else {
            return 0; // the log is unreadable: the next command reports it
        };
        self.expire_due(&mut state, now_ms)
    }

    /// Whether some key of some database is past its deadline at `now_ms`
    /// (the cluster leader proposes an expiry round only then).
    pub fn any_due(&self, now_ms: u64) -> bool {
        let state = self.state.lock();
        (0..self.databases).any(|db| state.dbs[state.slot_of[db]].any_due(now_ms))
    }

    /// Removes up to a bounded number of keys per database whose deadline
    /// is past `now_ms` (expiry writes no record: replay sees the deadline).
    fn expire_due(&self, state: &mut State, now_ms: u64) -> usize {
        const PER_DB: usize = 200;
        let mut removed = 0;
        for db in 0..self.databases {
            let slot = state.slot_of[db];
            let due = state.dbs[slot].due(now_ms, PER_DB);
            for key in due {
                if let Some(entry) = state.dbs[slot].remove(&key) {
                    removed += 1;
                    state.lookups.expired += 1;
                    self.dropper.discard(entry.value, &state.dead);
                    if let Some(obs) = &state.observer {
                        obs.key_expired(db, &key);
                        if obs.event_classes() & notify::EXPIRED != 0 {
                            obs.key_event(db, "expired", &key);
                        }
                    }
                }
            }
        }
        removed
    }

    /// Runs a merge now (compacts the log, dropping dead records).
    pub fn merge(&self) -> Result<(), Error> {
        let oracle = replay::Oracle { state: &self.state };
        let merged = self.log.merge(&oracle as &dyn MergeOracle);
        // The cached dead counter may belong to a file merge removed.
        self.state.lock().dead.get_mut().clear();
        merged?;
        Ok(())
    }

    /// Writes a consistent copy of every database into `dest` (which must
    /// not exist, or be empty) while the keyspace stays open: every command
    /// acknowledged before the call is in it, no command is half in it.
    /// Opening `dest` (or starting a server on it) restores it.
    pub fn backup(&self, dest: &std::path::Path) -> Result<storage::BackupReport, Error> {
        Ok(self.log.backup(dest)?)
    }

    /// Whether the log's dead-bytes ratio asks for a merge.
    pub fn needs_merge(&self) -> bool {
        self.log.needs_merge()
    }

    /// Stops (`false`) or restarts the data files' once-a-second fsync
    /// (`everysec`), for an owner that makes every write durable elsewhere
    /// first and calls [`Keyspace::sync`] before it relies on the data
    /// files (see `storage::Log::set_timer_sync`).
    pub fn set_timer_sync(&self, on: bool) {
        self.log.set_timer_sync(on);
    }

    /// Flushes and fsyncs the log.
    pub fn sync(&self) -> Result<(), Error> {
        self.log.sync()?;
        Ok(())
    }

    /// Keys and deadlines per database, and storage figures.
    pub fn stats(&self) -> KeyspaceStats {
        let state = self.state.lock();
        let keys = (0..self.databases)
            .map(|db| {
                let d = &state.dbs[state.slot_of[db]];
                (d.len(), d.expires_len())
            })
            .collect();
        let lookups = state.lookups;
        drop(state);
        KeyspaceStats {
            keys,
            lookups,
            storage: self.log.stats(),
        }
    }

    /// Zeroes the [`LookupStats`] (CONFIG RESETSTAT).
    pub fn reset_lookup_stats(&self) {
        self.state.lock().lookups = LookupStats::default();
    }
}

#[cfg(test)]
mod tests;
