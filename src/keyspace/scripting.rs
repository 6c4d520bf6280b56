//! Lua scripting as Redis 7.0 offers it: EVAL, EVALSHA, EVAL_RO,
//! EVALSHA_RO and SCRIPT LOAD / EXISTS / FLUSH / KILL / HELP.
//!
//! A script is one keyspace command: it runs inside its handler, under the
//! keyspace lock, and every `redis.call` it makes runs the called command's
//! handler with the script's own [`Exec`], so all the script's records go
//! into the command's journal and reach the log as ONE batch (atomic across
//! a crash). A script that fails midway keeps the writes it made before the
//! error, as Redis does (no rollback).
//!
//! Scripts run in one Lua 5.1 state per keyspace, kept between calls
//! ([`Engine`]; the sandbox is built once by `scripting_prelude.lua`, and
//! each script is compiled once and kept by its SHA1). Nothing a script
//! does survives it: the globals, the libraries and the strings' metatable
//! are read-only, and what the callbacks keep is reset per call, so the
//! result depends only on the keyspace and the command's [`Ctx`]
//! (`math.random` is seeded from `Ctx::rng_seed`), and replicas applying
//! the same EVAL reach the same state. Two exceptions, from the state's
//! history: what `collectgarbage('count')` answers and the exact point
//! where a script near the 1 GiB memory limit fails (a node that restarted
//! has a younger state); a script that writes such a value may make
//! replicas differ (Redis 7.0 replicates a script's effects; we replicate
//! the command).
//!
//! The script cache (SHA1 -> body) is in memory only, as Redis's is; it is
//! shared with [`Keyspace::script_call_by_body`], which the cluster uses to
//! replicate EVALSHA as EVAL (followers may not have the script).
//!
//! [`Ctx`]: crate::command::Ctx

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use mlua::{chunk::ChunkMode, Function, Lua, LuaOptions, StdLib, Table, Value, Variadic};
use parking_lot::Mutex;

use super::{Exec, Keyspace};

mod cjson;
mod functions;
use crate::command::table::cmd;
use crate::command::{args, Command, Reply};
pub(crate) use functions::Functions;

/// The scripting commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!(
        "eval",
        -3,
        [write],
        (0, 0, 0),
        "scripting",
        "Executes a server-side Lua script.",
        "2.6.0",
        "Depends on the script that is executed.",
        eval
    ),
    cmd!(
        "evalsha",
        -3,
        [write],
        (0, 0, 0),
        "scripting",
        "Executes a server-side Lua script by SHA1 digest.",
        "2.6.0",
        "Depends on the script that is executed.",
        evalsha
    ),
    cmd!(
        "eval_ro",
        -3,
        [readonly],
        (0, 0, 0),
        "scripting",
        "Executes a read-only server-side Lua script.",
        "7.0.0",
        "Depends on the script that is executed.",
        eval_ro
    ),
    cmd!(
        "evalsha_ro",
        -3,
        [readonly],
        (0, 0, 0),
        "scripting",
        "Executes a read-only server-side Lua script by SHA1 digest.",
        "7.0.0",
        "Depends on the script that is executed.",
        evalsha_ro
    ),
    cmd!(
        "fcall",
        -3,
        [write],
        (0, 0, 0),
        "scripting",
        "Invoke a function",
        "7.0.0",
        "Depends on the function that is executed.",
        functions::fcall
    ),
    cmd!(
        "fcall_ro",
        -3,
        [readonly],
        (0, 0, 0),
        "scripting",
        "Invoke a read-only function",
        "7.0.0",
        "Depends on the function that is executed.",
        functions::fcall_ro
    ),
    cmd!(
        "function",
        -2,
        [write],
        (0, 0, 0),
        "scripting",
        "A container for function commands",
        "7.0.0",
        "Depends on subcommand.",
        functions::function
    ),
    cmd!(
        "script",
        -2,
        [readonly],
        (0, 0, 0),
        "scripting",
        "A container for Lua scripts management commands.",
        "2.6.0",
        "Depends on subcommand.",
        script
    ),
];

/// The sandbox, run in each fresh Lua state before the user's script.
const PRELUDE: &str = include_str!("scripting_prelude.lua");

/// `redis.REDIS_VERSION` (the version the server reports to clients).
const VERSION: &str = "7.0.0";
/// `redis.REDIS_VERSION_NUM`: 0x00MMmmpp.
const VERSION_NUM: u32 = 0x07_00_00;

/// The most memory one script's Lua state may allocate.
const MAX_SCRIPT_MEMORY: usize = 1 << 30;

/// Lua VM instructions between two looks of the instruction budget.
const BUDGET_STEP: u32 = 100_000;

/// The most Lua VM instructions one script may run (in [`BUDGET_STEP`]s):
/// 500 million, a few seconds. A script runs under the keyspace lock, so
/// one that loops for ever would stop the whole server; Redis lets it run
/// and answers BUSY to everyone else until SCRIPT KILL or SHUTDOWN NOSAVE.
/// A count of instructions, not a clock, so that every replica of a
/// cluster stops the same script at the same point (its writes before that
/// stay, as after any script error).
const MAX_BUDGET_STEPS: u64 = 5_000;

/// The error of a script stopped by the budget.
const BUDGET_ERROR: &str =
    "ERR Script killed: it ran more than 500000000 Lua instructions (FincasKV's limit)";

/// Deepest nesting of tables converted between Lua and replies.
const MAX_DEPTH: usize = 1000;

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
const NOT_ALLOWED: &str = "ERR This Redis command is not allowed from script";

/// What a running script may do: from its flags and from the command
/// that runs it (EVAL_RO / FCALL_RO).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// Write commands are refused (`no-writes`, or a `*_RO` command).
    pub(super) read_only: bool,
    /// `allow-oom`: `denyoom` commands run even over `maxmemory`.
    pub(super) allow_oom: bool,
}

/// The script cache: lower-case hex SHA1 -> body. Shared (`Arc`) by the
/// keyspace state, whose lock the scripting commands run under, and the
/// [`Keyspace`] itself, which answers [`Keyspace::script_call_by_body`]
/// without taking the state lock (a script may hold it for long). Lock
/// order: state, then this.
#[derive(Default)]
pub(crate) struct ScriptCache {
    bodies: HashMap<String, Bytes>,
}

/// The cache as shared between the state and the keyspace.
pub(crate) type SharedScripts = Arc<Mutex<ScriptCache>>;

/// The lower-case hex SHA1 of `body`.
pub(crate) fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

impl Keyspace {
    /// EVALSHA / EVALSHA_RO rewritten as EVAL / EVAL_RO with the script's
    /// body taken from this node's cache, so that a node that never saw the
    /// script can run it (the cluster replicates this form). A script not
    /// in the cache becomes a call by an impossible digest, which every
    /// node answers with NOSCRIPT, whatever its own cache holds. `None` for
    /// any other command (nothing to rewrite).
    pub fn script_call_by_body(&self, argv: &[Bytes]) -> Option<Vec<Bytes>> {
        let name = argv.first()?;
        let eval = if args::is(name, "evalsha") {
            "EVAL"
        } else if args::is(name, "evalsha_ro") {
            "EVAL_RO"
        } else {
            return None;
        };
        let sha = argv.get(1)?;
        let body = std::str::from_utf8(sha).ok().and_then(|s| {
            self.scripts
                .lock()
                .bodies
                .get(&s.to_ascii_lowercase())
                .cloned()
        });
        let mut out = argv.to_vec();
        match body {
            Some(body) => {
                out[0] = Bytes::from_static(eval.as_bytes());
                out[1] = body;
            }
            // Not hexadecimal: no node's cache can hold it.
            None => out[1] = Bytes::from_static(b"unknown-script"),
        }
        Some(out)
    }
}

fn eval(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    eval_generic(ex, argv, false, false)
}

fn evalsha(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    eval_generic(ex, argv, true, false)
}

fn eval_ro(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    eval_generic(ex, argv, false, true)
}

fn evalsha_ro(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    eval_generic(ex, argv, true, true)
}

/// EVAL script numkeys [key ...] [arg ...], and its three siblings.
fn eval_generic(ex: &mut Exec<'_>, argv: &[Bytes], by_sha: bool, read_only: bool) -> Reply {
    if ex.oom && eval_denied_on_oom(ex, &argv[1], by_sha) {
        return args::err(args::OOM);
    }
    let Some(numkeys) = args::parse_i64(&argv[2]) else {
        return args::err(args::NOT_INTEGER);
    };
    if numkeys > (argv.len() - 3) as i64 {
        return args::err("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return args::err("ERR Number of keys can't be negative");
    }
    let (keys, argv_rest) = argv[3..].split_at(numkeys as usize);
    let (sha, body) = if by_sha {
        match cached_body(ex, &argv[1]) {
            Some(found) => found,
            None => return args::err(NOSCRIPT),
        }
    } else {
        (sha1_hex(&argv[1]), argv[1].clone())
    };
    let shebang = match Shebang::parse(&body) {
        Ok(shebang) => shebang,
        Err(reply) => return reply,
    };
    if read_only && shebang.present && !shebang.no_writes {
        return args::err("ERR Can not execute a script with write flag using *_ro command.");
    }
    let rules = Rules {
        read_only: read_only || shebang.no_writes,
        allow_oom: shebang.allow_oom,
    };
    let seed = ex.random();
    let saved_db = ex.db;
    let reply = run_script(ex, &sha, &body, keys, argv_rest, rules, seed);
    ex.db = saved_db;
    if !by_sha && !matches!(&reply, Reply::Error(e) if e.starts_with(COMPILE_ERROR)) {
        // Cached as Redis caches an EVAL'd script: a copy, so that the
        // cache does not pin the request's buffer.
        let mut cache = ex.st.scripts.lock();
        cache
            .bodies
            .entry(sha)
            .or_insert_with(|| Bytes::copy_from_slice(&body));
    }
    reply
}

/// Whether EVAL / EVALSHA of `script` (a body, or a digest when `by_sha`)
/// is refused while memory is over `maxmemory`: Redis treats a script
/// with a shebang as a `denyoom` command unless it declares `no-writes` or
/// `allow-oom`. A script without one is checked call by call instead
/// (see [`call_command`]); an unknown digest or a bad shebang is left to
/// the command's own error.
fn eval_denied_on_oom(ex: &Exec<'_>, script: &Bytes, by_sha: bool) -> bool {
    let body = if by_sha {
        match cached_body(ex, script) {
            Some((_, body)) => body,
            None => return false,
        }
    } else {
        script.clone()
    };
    matches!(Shebang::parse(&body), Ok(s) if s.present && !s.no_writes && !s.allow_oom)
}

/// The digest (lower case) and body of the cached script `sha` names.
fn cached_body(ex: &Exec<'_>, sha: &[u8]) -> Option<(String, Bytes)> {
    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
    let body = ex.st.scripts.lock().bodies.get(&sha).cloned()?;
    Some((sha, body))
}

const COMPILE_ERROR: &str = "ERR Error compiling script (new function): ";

/// The `#!lua [flags=f1,f2]` first line a Redis 7.0 script may start with.
#[derive(Debug, Default, PartialEq, Eq)]
struct Shebang {
    /// The script has a shebang line (then EVAL_RO wants `no-writes`).
    present: bool,
    /// `flags=no-writes`: the script runs as a read-only one.
    no_writes: bool,
    /// `flags=allow-oom`: the script runs and writes over `maxmemory`.
    allow_oom: bool,
}

impl Shebang {
    /// The flags Redis 7.0 knows (`no-writes` and `allow-oom` change
    /// something here, the others only matter to Redis Cluster or replicas).
    const FLAGS: &'static [&'static str] = &[
        "no-writes",
        "allow-oom",
        "allow-stale",
        "no-cluster",
        "allow-cross-slot-keys",
    ];

    /// Parses the shebang line of `body`, with Redis 7.0's errors.
    fn parse(body: &[u8]) -> Result<Shebang, Reply> {
        if !body.starts_with(b"#!") {
            return Ok(Shebang::default());
        }
        let Some(end) = body.iter().position(|&c| c == b'\n') else {
            return Err(args::err("ERR Invalid script shebang"));
        };
        let line = String::from_utf8_lossy(&body[..end]);
        let mut parts = line.split_ascii_whitespace();
        let engine = parts.next().unwrap_or_default();
        if engine != "#!lua" {
            return Err(Reply::Error(format!(
                "ERR Unexpected engine in script shebang: {engine}"
            )));
        }
        let mut shebang = Shebang {
            present: true,
            ..Shebang::default()
        };
        for part in parts {
            let Some(flags) = part.strip_prefix("flags=") else {
                return Err(Reply::Error(format!(
                    "ERR Unknown lua shebang option: {part}"
                )));
            };
            for flag in flags.split(',').filter(|f| !f.is_empty()) {
                if !Self::FLAGS.contains(&flag) {
                    return Err(Reply::Error(format!(
                        "ERR Unexpected flag in script shebang: {flag}"
                    )));
                }
                shebang.no_writes |= flag == "no-writes";
                shebang.allow_oom |= flag == "allow-oom";
            }
        }
        Ok(shebang)
    }
}

/// Compiles `body` as the user's script (chunk `@user_script`, text only;
/// a shebang line is compiled as a comment, so line numbers stay).
fn compile(lua: &Lua, body: &[u8], env: Option<Table>) -> Result<Function, Reply> {
    let commented;
    let body = if body.starts_with(b"#!") {
        let mut copy = body.to_vec();
        copy[..2].copy_from_slice(b"--");
        commented = copy;
        &commented[..]
    } else {
        body
    };
    let mut chunk = lua
        .load(body)
        .set_name("@user_script")
        .set_mode(ChunkMode::Text);
    if let Some(env) = env {
        chunk = chunk.set_environment(env);
    }
    chunk.into_function().map_err(|e| match e {
        mlua::Error::SyntaxError { message, .. } => {
            Reply::Error(sanitize(&format!("{COMPILE_ERROR}{message}")))
        }
        e => Reply::Error(sanitize(&format!("{COMPILE_ERROR}{e}"))),
    })
}

/// The prelude compiled once per process (parsing it took a quarter of
/// an EVAL's time); `None` if that failed (then it is parsed each time).
fn prelude_bytecode() -> Option<&'static [u8]> {
    static CODE: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    CODE.get_or_init(|| {
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::new()).ok()?;
        let f = lua
            .load(PRELUDE)
            .set_name("=[redis]")
            .set_mode(ChunkMode::Text)
            .into_function()
            .ok()?;
        Some(f.dump(false))
    })
    .as_deref()
}

/// A Lua state with the libraries Redis loads. The debug library is
/// loaded (hence "unsafe" in mlua's terms) only so that the prelude can
/// take `debug.getinfo` for the error handler; the prelude then removes
/// `debug` (and `os`, `io`, `require`, `loadfile`, ...) from what scripts see.
#[expect(
    unsafe_code,
    reason = "mlua calls loading the debug library unsafe; scripts never see it (the prelude removes it)"
)]
fn new_state() -> Lua {
    // SAFETY: no C module can be loaded (no `package`), the debug library
    // is reachable only from the prelude's locals.
    unsafe {
        Lua::unsafe_new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
            LuaOptions::new(),
        )
    }
}

/// What the Rust callbacks of the running script share, kept in the Lua
/// state's app data and reset at the start of every call
/// ([`Engine::run`]), so that nothing of it passes from a script to the
/// next.
#[derive(Default)]
struct Session {
    /// The error a Rust callback raises, kept for the error handler (mlua
    /// raises a callback's error as a userdata; the handler swaps in this):
    /// `(true, text)` is a `{err = text}` table (redis.call's errors),
    /// `(false, text)` a plain message.
    pending: Option<(bool, String)>,
    /// The state of math.random's generator (splitmix64), seeded from the
    /// command's `Ctx`.
    rng: u64,
    /// [`BUDGET_STEP`]s of instructions the script has run.
    steps: u64,
}

/// Runs `f` on the session of `lua` (never held across a call into Lua).
fn with_session<R>(lua: &Lua, f: impl FnOnce(&mut Session) -> R) -> R {
    match lua.app_data_mut::<Session>() {
        Some(mut session) => f(&mut session),
        // Every engine sets one up before anything runs.
        None => f(&mut Session::default()),
    }
}

/// Records `text` as the error being raised and returns the mlua error
/// that raises it.
fn fail(lua: &Lua, is_table: bool, text: impl Into<String>) -> mlua::Error {
    let text = text.into();
    with_session(lua, |s| s.pending = Some((is_table, text)));
    mlua::Error::runtime("script error")
}

/// A next value of the script's math.random generator (splitmix64) as a
/// fraction in [0, 1).
fn next_fraction(state: &mut u64) -> f64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    *state = z;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// luaL_checkint: a number (or numeric string) cast to a C int (x86 gives
/// INT_MIN out of range). `Err` is the message.
fn check_int(lua: &Lua, v: &Value, n: usize, func: &str) -> Result<i64, String> {
    match lua.coerce_number(v.clone()) {
        Ok(Some(x)) => {
            let t = x.trunc();
            Ok(
                if t.is_nan() || !(-2_147_483_648.0..2_147_483_648.0).contains(&t) {
                    -2_147_483_648
                } else {
                    t as i64
                },
            )
        }
        _ => {
            let got = match v {
                Value::Nil => "no value".to_owned(),
                v => v.type_name().to_owned(),
            };
            Err(format!(
                "bad argument #{n} to '{func}' (number expected, got {got})"
            ))
        }
    }
}

/// "chunk:line: " of the script line that called the running callback.
fn caller_position(lua: &Lua) -> String {
    lua.named_registry_value::<Function>("fincaskv_where")
        .and_then(|w| w.call::<String>(2))
        .unwrap_or_default()
}

/// The functions of Lua BitOp's `bit` table.
const BIT_FUNCTIONS: &[&str] = &[
    "tobit", "bnot", "band", "bor", "bxor", "lshift", "rshift", "arshift", "rol", "ror", "bswap",
    "tohex",
];

/// Lua BitOp's argument conversion (`barg`): the number rounded to an
/// integer, its low 32 bits (bit.c's 2^52 + 2^51 trick). `Err` is the
/// message.
fn bit_arg(lua: &Lua, v: Option<&Value>, n: usize, name: &str) -> Result<u32, String> {
    if let Some(Ok(Some(x))) = v.map(|v| lua.coerce_number(v.clone())) {
        return Ok((x + 6_755_399_441_055_744.0).to_bits() as u32);
    }
    let got = v.map_or("no value", |v| v.type_name());
    Err(format!(
        "bad argument #{n} to '{name}' (number expected, got {got})"
    ))
}

/// One `bit.<name>(args...)` call, as Lua BitOp computes it (results are
/// signed 32-bit numbers; `tohex` gives text).
fn bit_op(lua: &Lua, name: &str, args: &[Value]) -> Result<Value, String> {
    let arg = |i: usize| bit_arg(lua, args.get(i), i + 1, name);
    let number = |b: u32| Value::Number(f64::from(b as i32));
    Ok(match name {
        "tobit" => number(arg(0)?),
        "bnot" => number(!arg(0)?),
        "band" | "bor" | "bxor" => {
            let mut acc = arg(0)?;
            for i in 1..args.len() {
                let b = arg(i)?;
                match name {
                    "band" => acc &= b,
                    "bor" => acc |= b,
                    _ => acc ^= b,
                }
            }
            number(acc)
        }
        "lshift" | "rshift" | "arshift" | "rol" | "ror" => {
            let (x, n) = (arg(0)?, arg(1)? & 31);
            number(match name {
                "lshift" => x << n,
                "rshift" => x >> n,
                "arshift" => ((x as i32) >> n) as u32,
                "rol" => x.rotate_left(n),
                _ => x.rotate_right(n),
            })
        }
        "bswap" => number(arg(0)?.swap_bytes()),
        _ => {
            // tohex(x [, n]): n digits (8 by default, at most 8), upper
            // case when n is negative.
            let x = arg(0)?;
            let n = if args.len() >= 2 { arg(1)? as i32 } else { 8 };
            let digits = n.unsigned_abs().min(8) as usize;
            let text = if n < 0 {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Value::String(
                lua.create_string(&text[8 - digits..])
                    .map_err(|e| e.to_string())?,
            )
        }
    })
}

/// The Lua state scripts run in, kept between calls: one per keyspace (in
/// its state, so scripts use it one at a time, under the keyspace lock),
/// built on the first script and rebuilt after anything that could have
/// left it unsound.
///
/// Building a state and its sandbox cost most of an EVAL's time; Redis
/// keeps one state too. What a script could change is reset per call or
/// cannot be changed at all:
/// - the globals and the libraries (`redis`, `string`, `math`, ...) and
///   the strings' metatable are read-only views (the prelude); KEYS and
///   ARGV are new tables on every call;
/// - the [`Session`] (math.random's generator, seeded from the command's
///   `Ctx`, the budget's count, a pending callback error) is reset, and
///   the instruction hook set again (Lua restarts its count), so a script
///   meets the same generator and the same budget on a used state as on a
///   fresh one;
/// - the collector is restarted with Lua's default settings (a script may
///   call `collectgarbage('stop')`).
///
/// The state is dropped (and built again by the next script) after a
/// budget kill, an error outside the script's own protected call (memory,
/// an error in the error handler), when it holds more than
/// [`ENGINE_MEMORY_BOUND`] even after a full collection, and by SCRIPT
/// FLUSH.
pub(crate) struct Engine {
    lua: Lua,
    /// The real `redis` table: `call` / `pcall` borrow the command's
    /// `Exec`, so each call installs its own (scoped) pair here.
    redis: Table,
    /// The real globals, where KEYS and ARGV go.
    globals: Table,
    /// The scripts' environment (the read-only view of the globals).
    env: Table,
    /// xpcall with Redis 7.0's error handler.
    runner: Function,
    /// Compiled scripts by SHA1, a table in the state (Redis keeps an
    /// `f_<sha>` function per script in its state likewise). A Lua table
    /// rather than Rust handles: each mlua handle takes a slot of a Lua
    /// stack, which holds a few thousand at most.
    functions: Table,
    /// Scripts run on this state (for the periodic collector step).
    calls: u64,
    /// xpcall of a library's function with its KEYS and ARGV tables.
    run_function: Function,
    /// Makes a library's environment (see `functions.rs`).
    library_env: Function,
    /// The functions of the loaded libraries: library name -> table of
    /// lower-case function name -> callback.
    libraries: Table,
    /// The [`Functions::version`] `libraries` reflects (`None`: none yet).
    functions_version: Option<u64>,
    /// Something left this state unsound: it is not kept.
    unsound: bool,
}

/// The most memory a kept Lua state may hold after a script: past it, a
/// full collection, and if the live data (compiled scripts) is still past
/// it, the state is dropped.
const ENGINE_MEMORY_BOUND: usize = 64 << 20;

/// Scripts between two extra collector steps (Redis 7.0: 50).
const GC_PERIOD: u64 = 50;

impl Engine {
    /// A state with the sandbox built: the Rust callbacks that do not need
    /// the command's `Exec`, then the prelude.
    fn new() -> mlua::Result<Engine> {
        let lua = new_state();
        lua.set_app_data(Session::default());
        let raw = lua.create_table()?;
        raw.raw_set(
            "take_error",
            lua.create_function(|lua, ()| {
                Ok(match with_session(lua, |s| s.pending.take()) {
                    Some((is_table, text)) => (Some(is_table), Some(text)),
                    None => (None, None),
                })
            })?,
        )?;
        raw.raw_set(
            "sha1hex",
            lua.create_function(|lua, args: Variadic<Value>| {
                if args.len() != 1 {
                    return Err(fail(lua, true, "ERR wrong number of arguments"));
                }
                let text = match lua.coerce_string(args[0].clone()) {
                    Ok(Some(s)) => sha1_hex(&s.as_bytes()),
                    _ => sha1_hex(b""),
                };
                Ok(text)
            })?,
        )?;
        raw.raw_set(
            "log",
            lua.create_function(|lua, args: Variadic<Value>| {
                if args.len() < 2 {
                    return Err(fail(
                        lua,
                        true,
                        "ERR redis.log() requires two arguments or more.",
                    ));
                }
                match lua.coerce_number(args[0].clone()) {
                    Ok(Some(level)) if (0.0..=3.0).contains(&level) => Ok(()),
                    _ => Err(fail(lua, true, "ERR Invalid debug level.")),
                }
            })?,
        )?;
        raw.raw_set(
            "setresp",
            lua.create_function(|lua, args: Variadic<Value>| {
                if args.len() != 1 {
                    return Err(fail(
                        lua,
                        true,
                        "ERR redis.setresp() requires one argument.",
                    ));
                }
                match lua.coerce_number(args[0].clone()) {
                    Ok(Some(2.0)) => Ok(()),
                    Ok(Some(3.0)) => Err(fail(
                        lua,
                        true,
                        "ERR RESP3 replies are not supported from scripts by this server.",
                    )),
                    _ => Err(fail(lua, true, "ERR RESP version must be 2 or 3.")),
                }
            })?,
        )?;
        raw.raw_set(
            "acl_check_cmd",
            lua.create_function(|lua, args: Variadic<Value>| {
                let argv = match lua_argv(lua, &args) {
                    Ok(argv) => argv,
                    Err(text) => return Err(fail(lua, true, text)),
                };
                if is_inline(&argv[0]) {
                    Ok(true)
                } else if let Some(cmd) = crate::command::find(&argv[0]) {
                    Ok(script_acl_denies(&cmd.spec, &argv, false).is_none())
                } else {
                    Err(fail(
                        lua,
                        true,
                        "ERR Invalid command passed to redis.acl_check_cmd()",
                    ))
                }
            })?,
        )?;
        raw.raw_set(
            "random",
            lua.create_function(|lua, args: Variadic<Value>| {
                let r = with_session(lua, |s| next_fraction(&mut s.rng));
                let bad =
                    |text: String| fail(lua, false, format!("{}{text}", caller_position(lua)));
                match args.len() {
                    0 => Ok(r),
                    1 => {
                        let u = check_int(lua, &args[0], 1, "random").map_err(bad)?;
                        if u < 1 {
                            return Err(bad(
                                "bad argument #1 to 'random' (interval is empty)".into()
                            ));
                        }
                        Ok((r * u as f64).floor() + 1.0)
                    }
                    2 => {
                        let l = check_int(lua, &args[0], 1, "random").map_err(bad)?;
                        let u = check_int(lua, &args[1], 2, "random").map_err(bad)?;
                        if l > u {
                            return Err(bad(
                                "bad argument #2 to 'random' (interval is empty)".into()
                            ));
                        }
                        Ok((r * (u - l + 1) as f64).floor() + l as f64)
                    }
                    _ => Err(bad("wrong number of arguments".into())),
                }
            })?,
        )?;
        raw.raw_set(
            "randomseed",
            lua.create_function(|lua, args: Variadic<Value>| {
                let v = args.first().cloned().unwrap_or(Value::Nil);
                let n = check_int(lua, &v, 1, "randomseed")
                    .map_err(|t| fail(lua, false, format!("{}{t}", caller_position(lua))))?;
                with_session(lua, |s| s.rng = n as u64);
                Ok(())
            })?,
        )?;
        // rawset / setmetatable, refusing the read-only proxies.
        let protected = lua.create_table()?;
        let weak = lua.create_table()?;
        weak.raw_set("__mode", "k")?;
        protected.set_metatable(Some(weak))?;
        let globals = lua.globals();
        for name in ["rawset", "setmetatable"] {
            let real: Function = globals.raw_get(name)?;
            let protected = protected.clone();
            raw.raw_set(
                name,
                lua.create_function(move |lua, args: Variadic<Value>| {
                    if let Some(Value::Table(t)) = args.first() {
                        if protected.raw_get::<bool>(t.clone()).unwrap_or(false) {
                            return Err(fail(lua, false, "Attempt to modify a readonly table"));
                        }
                    }
                    real.call::<Value>(args)
                })?,
            )?;
        }
        raw.raw_set("protected", protected)?;
        // The `bit` library (Lua BitOp, which Redis bundles).
        let bit = lua.create_table()?;
        for name in BIT_FUNCTIONS {
            bit.raw_set(
                *name,
                lua.create_function(move |lua, args: Variadic<Value>| {
                    bit_op(lua, name, &args)
                        .map_err(|text| fail(lua, false, format!("{}{text}", caller_position(lua))))
                })?,
            )?;
        }
        raw.raw_set("bit", bit)?;
        // The `cjson` library.
        let json = lua.create_table()?;
        json.raw_set(
            "encode",
            lua.create_function(|lua, args: Variadic<Value>| {
                let raise =
                    |text: String| fail(lua, false, format!("{}{text}", caller_position(lua)));
                if args.len() != 1 {
                    return Err(raise(
                        "bad argument #1 to 'encode' (expected 1 argument)".to_owned(),
                    ));
                }
                let text = cjson::encode(lua, &args[0]).map_err(raise)?;
                lua.create_string(text)
            })?,
        )?;
        json.raw_set(
            "decode",
            lua.create_function(|lua, args: Variadic<Value>| {
                let raise =
                    |text: String| fail(lua, false, format!("{}{text}", caller_position(lua)));
                let text = match args.first().map(|v| lua.coerce_string(v.clone())) {
                    Some(Ok(Some(s))) if args.len() == 1 => s,
                    _ => {
                        return Err(raise(
                            "bad argument #1 to 'decode' (expected 1 argument)".to_owned(),
                        ))
                    }
                };
                cjson::decode(lua, &text.as_bytes()).map_err(raise)
            })?,
        )?;
        json.raw_set("null", cjson::null())?;
        raw.raw_set("cjson", json)?;
        raw.raw_set(
            "register_function",
            lua.create_function(functions::register_function)?,
        )?;
        raw.raw_set("version", VERSION)?;
        raw.raw_set("version_num", VERSION_NUM)?;
        let prelude = match prelude_bytecode() {
            Some(code) => lua.load(code).set_mode(ChunkMode::Binary),
            None => lua.load(PRELUDE).set_mode(ChunkMode::Text),
        };
        let (env, globals, runner, position, redis, run_function, library_env): (
            Table,
            Table,
            Function,
            Function,
            Table,
            Function,
            Function,
        ) = prelude.set_name("=[redis]").call(raw)?;
        lua.set_named_registry_value("fincaskv_where", position)?;
        let functions = lua.create_table()?;
        let libraries = lua.create_table()?;
        Ok(Engine {
            lua,
            redis,
            globals,
            env,
            runner,
            functions,
            calls: 0,
            run_function,
            library_env,
            libraries,
            functions_version: None,
            unsound: false,
        })
    }

    /// The compiled function of `body` (digest `sha`), compiled now if
    /// this state has not seen it.
    fn function(&mut self, sha: &str, body: &[u8]) -> Result<Function, Reply> {
        if let Ok(Some(f)) = self.functions.raw_get::<Option<Function>>(sha) {
            return Ok(f);
        }
        let f = compile(&self.lua, body, Some(self.env.clone()))?;
        self.functions
            .raw_set(sha, f.clone())
            .map_err(|e| Reply::Error(sanitize(&format!("ERR {e}"))))?;
        Ok(f)
    }

    /// Runs the script `body` (digest `sha`); the reply, and whether this
    /// state may serve the next script (as far as soundness goes: see
    /// [`put_back`] for its size).
    #[expect(
        clippy::too_many_arguments,
        reason = "one script call's inputs, passed on from eval_generic"
    )]
    fn run(
        &mut self,
        ex: &mut Exec<'_>,
        sha: &str,
        body: &[u8],
        keys: &[Bytes],
        argv: &[Bytes],
        rules: Rules,
        seed: u64,
    ) -> (Reply, bool) {
        self.run_target(ex, Target::Script { sha, body }, keys, argv, rules, seed)
    }

    /// Runs a script or a library's function (see [`Target`]): the reply,
    /// and whether this state may serve the next call.
    fn run_target(
        &mut self,
        ex: &mut Exec<'_>,
        target: Target<'_>,
        keys: &[Bytes],
        argv: &[Bytes],
        rules: Rules,
        seed: u64,
    ) -> (Reply, bool) {
        // What a script could have changed, back to a fresh state's.
        with_session(&self.lua, |s| {
            *s = Session {
                pending: None,
                rng: seed,
                steps: 0,
            }
        });
        let lua = self.lua.clone();
        lua.gc_restart();
        lua.gc_set_mode(mlua::state::GcMode::Incremental(
            mlua::state::GcIncParams::default()
                .pause(LUA_GC_PAUSE)
                .step_multiplier(LUA_GC_STEP_MULTIPLIER),
        ));
        // The instruction budget, counted from this call's first
        // instruction (setting the hook restarts Lua's count).
        let _ = lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(BUDGET_STEP),
            budget_hook,
        );
        // `sha`: the name errors give (a script's digest, a function's name).
        let (sha, function, is_function) = match target {
            Target::Script { sha, body } => match self.function(sha, body) {
                Ok(f) => (sha, f, false),
                Err(reply) => return (reply, true),
            },
            Target::Function { name, callback } => (name, callback, true),
        };
        let ex = std::cell::RefCell::new(ex);
        // A write command was called (Redis's SCRIPT_WRITE_DIRTY): from
        // then on the script is not stopped for memory.
        let wrote = Cell::new(false);
        let outcome = lua.scope(|scope| {
            // redis.call / redis.pcall: raise or return the command's error.
            let (ex_ref, wrote) = (&ex, &wrote);
            let call =
                move |lua: &Lua, args: &Variadic<Value>| -> mlua::Result<Result<Value, String>> {
                    let argv = match lua_argv(lua, args) {
                        Ok(argv) => argv,
                        Err(text) => return Ok(Err(text.to_owned())),
                    };
                    let mut ex = ex_ref.borrow_mut();
                    match call_command(&mut ex, &argv, rules, wrote) {
                        Reply::Error(text) => Ok(Err(text)),
                        reply => reply_to_lua(lua, reply, 0).map(Ok),
                    }
                };
            self.redis.raw_set(
                "call",
                scope.create_function(move |lua, args: Variadic<Value>| {
                    match call(lua, &args)? {
                        Ok(v) => Ok(v),
                        Err(text) => Err(fail(lua, true, text)),
                    }
                })?,
            )?;
            self.redis.raw_set(
                "pcall",
                scope.create_function(move |lua, args: Variadic<Value>| {
                    match call(lua, &args)? {
                        Ok(v) => Ok(v),
                        Err(text) => error_table(lua, &text),
                    }
                })?,
            )?;
            let strings = |items: &[Bytes]| -> mlua::Result<Table> {
                let t = lua.create_table_with_capacity(items.len(), 0)?;
                for (i, item) in items.iter().enumerate() {
                    t.raw_set(i + 1, lua.create_string(item)?)?;
                }
                Ok(t)
            };
            let (keys, argv) = (strings(keys)?, strings(argv)?);
            if is_function {
                // A function gets them as arguments, not as globals.
                self.globals.raw_set("KEYS", Value::Nil)?;
                self.globals.raw_set("ARGV", Value::Nil)?;
            } else {
                self.globals.raw_set("KEYS", keys.clone())?;
                self.globals.raw_set("ARGV", argv.clone())?;
            }
            // A script cannot take the whole machine's memory (Redis has
            // no such limit; an allocation past it is Lua's "not enough
            // memory" error): MAX_SCRIPT_MEMORY on top of what the state
            // holds. Only while the script runs: with a limit set, mlua
            // guards every API call against an allocation error (a
            // protected call and two closures each), which the setup
            // above, bounded by the command's size, does without.
            let _ = lua.set_memory_limit(lua.used_memory().saturating_add(MAX_SCRIPT_MEMORY));
            let result = if is_function {
                self.run_function
                    .call::<(bool, Value)>((function, keys, argv))
            } else {
                self.runner.call::<(bool, Value)>(function)
            };
            let _ = lua.set_memory_limit(0);
            let (ok, value) = result?;
            // An error the handler did not see (not a table) is Lua's
            // "not enough memory" or an error in the handler itself.
            let sound = ok || matches!(value, Value::Table(_));
            Ok(if ok {
                (lua_to_reply(&value, 0), sound)
            } else {
                (script_error(&value, sha), sound)
            })
        });
        // (The scoped redis.call / pcall left in `redis` are dead now: the
        // next call replaces them before any code can reach them.)
        let killed = with_session(&lua, |s| s.steps >= MAX_BUDGET_STEPS);
        let (reply, sound) = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                let text = e.to_string();
                if text.contains(BUDGET_ERROR) {
                    // Raised again in the error handler itself: the
                    // budget's text.
                    return (Reply::Error(BUDGET_ERROR.to_owned()), false);
                }
                return (Reply::Error(sanitize(&format!("ERR {e}"))), false);
            }
        };
        self.calls += 1;
        if self.calls % GC_PERIOD == 0 {
            let _ = lua.gc_step();
        }
        (reply, sound && !killed)
    }
}

/// What [`Engine::run_target`] runs.
#[derive(Clone)]
enum Target<'b> {
    /// An EVAL'd script (compiled and kept by its digest).
    Script {
        /// Its SHA1 (named in errors).
        sha: &'b str,
        /// Its body.
        body: &'b [u8],
    },
    /// A function of a loaded library (FCALL).
    Function {
        /// Its name (named in errors).
        name: &'b str,
        /// Its callback.
        callback: Function,
    },
}

/// Lua 5.1's default collector settings (`LUAI_GCPAUSE`, `LUAI_GCMUL`).
const LUA_GC_PAUSE: std::ffi::c_int = 200;
const LUA_GC_STEP_MULTIPLIER: std::ffi::c_int = 200;

/// The instruction budget's hook, every [`BUDGET_STEP`] instructions. Once
/// the budget is spent it fires at every instruction, so a script that
/// catches the error with pcall is stopped again at its next instruction,
/// out of every pcall in turn.
fn budget_hook(lua: &Lua, _: &mlua::debug::Debug<'_>) -> mlua::Result<mlua::VmState> {
    let steps = with_session(lua, |s| {
        s.steps += 1;
        s.steps
    });
    if steps < MAX_BUDGET_STEPS {
        return Ok(mlua::VmState::Continue);
    }
    if steps == MAX_BUDGET_STEPS {
        let _ = lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(1),
            |_, _| Err(mlua::Error::runtime(BUDGET_ERROR)),
        );
    }
    Err(mlua::Error::runtime(BUDGET_ERROR))
}

/// Runs the script `body` (digest `sha`) on the keyspace's kept Lua state
/// (built now if there is none; dropped afterwards if it may be unsound:
/// see [`Engine`]).
fn run_script(
    ex: &mut Exec<'_>,
    sha: &str,
    body: &[u8],
    keys: &[Bytes],
    argv: &[Bytes],
    rules: Rules,
    seed: u64,
) -> Reply {
    let mut engine = match take_engine(ex) {
        Ok(engine) => engine,
        Err(reply) => return reply,
    };
    let (reply, sound) = engine.run(ex, sha, body, keys, argv, rules, seed);
    if sound {
        put_back(ex, engine);
    }
    reply
}

/// Runs `f` (a call on the engine: its reply and whether the state is
/// still sound) with the keyspace's Lua state, which is kept afterwards
/// only if it is sound (see [`put_back`]).
fn run_with_engine_checks(
    ex: &mut Exec<'_>,
    f: impl FnOnce(&mut Engine, &mut Exec<'_>) -> (Reply, bool),
) -> Reply {
    let mut engine = match take_engine(ex) {
        Ok(engine) => engine,
        Err(reply) => return reply,
    };
    let (reply, sound) = f(&mut engine, ex);
    if sound && !engine.unsound {
        put_back(ex, engine);
    }
    reply
}

/// Keeps `engine` for the next script unless it holds more than
/// [`ENGINE_MEMORY_BOUND`] even after a full collection (compiled
/// functions of very many scripts, or what a script left for the
/// collector: Lua collects only when allocating).
fn put_back(ex: &mut Exec<'_>, engine: Engine) {
    if engine.lua.used_memory() > ENGINE_MEMORY_BOUND {
        let _ = engine.lua.gc_collect();
        if engine.lua.used_memory() > ENGINE_MEMORY_BOUND {
            return;
        }
    }
    ex.st.script_engine = Some(engine);
}

/// The keyspace's Lua state, taken out of it for the time of a use (a
/// state whose use fails is then simply not put back), or a new one.
fn take_engine(ex: &mut Exec<'_>) -> Result<Engine, Reply> {
    match ex.st.script_engine.take() {
        Some(engine) => Ok(engine),
        None => Engine::new().map_err(|e| Reply::Error(sanitize(&format!("ERR {e}")))),
    }
}

/// The error reply of a script that raised `value` (the error handler's
/// table): `<err> script: <sha>, on <source>:<line>.` as Redis 7.0 words it.
fn script_error(value: &Value, sha: &str) -> Reply {
    let Value::Table(t) = value else {
        return Reply::Error(format!("ERR unknown error script: {sha}"));
    };
    let err = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => "ERR unknown error".to_owned(),
    };
    let source = match t.raw_get::<Value>("source") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => "?".to_owned(),
    };
    let line = match t.raw_get::<Value>("line") {
        Ok(Value::Number(n)) => (n as i64).to_string(),
        Ok(Value::Integer(n)) => n.to_string(),
        _ => "?".to_owned(),
    };
    Reply::Error(sanitize(&format!(
        "{err} script: {sha}, on {source}:{line}."
    )))
}

/// An error reply's text on one line (Redis turns CR / LF into spaces).
fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// `{err = text}`.
fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    Ok(Value::Table(t))
}

/// The arguments of `redis.call` as a command: strings as they are,
/// numbers as Lua prints them. `Err` is the error text.
fn lua_argv(lua: &Lua, args: &[Value]) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    const BAD_ARG: &str = "ERR Lua redis lib command arguments must be strings or integers";
    args.iter()
        .map(|v| match v {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Number(_) | Value::Integer(_) => match lua.coerce_string(v.clone()) {
                Ok(Some(s)) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
                _ => Err(BAD_ARG),
            },
            _ => Err(BAD_ARG),
        })
        .collect()
}

/// Commands answered by the script layer itself (they live in the server
/// outside scripts): PING, ECHO, TIME (from the command's clock) and SELECT
/// (for the rest of the script only, as in Redis 7.0).
fn is_inline(name: &[u8]) -> bool {
    ["ping", "echo", "time", "select"]
        .iter()
        .any(|n| args::is(name, n))
}

/// Server commands Redis refuses in scripts (or that this server cannot
/// run from the keyspace): the "not allowed" error, not "unknown".
const SERVER_ONLY: &[&str] = &[
    "multi",
    "exec",
    "discard",
    "watch",
    "unwatch",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
    "publish",
    "spublish",
    "pubsub",
    "auth",
    "hello",
    "client",
    "config",
    "debug",
    "shutdown",
    "save",
    "bgsave",
    "bgrewriteaof",
    "lastsave",
    "monitor",
    "sync",
    "psync",
    "replicaof",
    "slaveof",
    "cluster",
    "readonly",
    "readwrite",
    "wait",
    "reset",
    "quit",
    "info",
    "command",
    "acl",
    "function",
    "fcall",
    "fcall_ro",
    "role",
    "backup",
    "memory",
    "latency",
    "slowlog",
    "object",
    "dump",
    "restore",
];

/// Why a script's caller may not run a command (see [`ScriptAcl`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptDenied {
    /// The command itself.
    Command,
    /// One of its keys.
    Key,
    /// One of its channels.
    Channel,
}

impl ScriptDenied {
    /// Redis 7.0's error for a `redis.call` refused so.
    fn error(self) -> &'static str {
        match self {
            ScriptDenied::Command => {
                "ERR The user executing the script can't run this command or subcommand"
            }
            ScriptDenied::Key => {
                "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
            }
            ScriptDenied::Channel => {
                "ERR The user executing the script can't publish to the channel mentioned in the command"
            }
        }
    }
}

/// The permissions of the client whose script runs: asked by `redis.call`
/// / `redis.pcall` (with `log` true: a refusal goes to ACL LOG) and by
/// `redis.acl_check_cmd` (`log` false). The server installs one around the
/// command of a restricted user ([`with_script_acl`]); without one a script
/// may run everything (the embedded database, an unrestricted user).
pub type ScriptAcl =
    Arc<dyn Fn(&crate::command::CommandSpec, &[Bytes], bool) -> Option<ScriptDenied> + Send + Sync>;

thread_local! {
    /// The [`ScriptAcl`] of the command running on this thread.
    static SCRIPT_ACL: std::cell::RefCell<Option<ScriptAcl>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (which executes a client's command on this thread) with `acl`
/// as the permissions its scripts' calls are checked against.
pub fn with_script_acl<R>(acl: Option<ScriptAcl>, f: impl FnOnce() -> R) -> R {
    /// Puts the previous permissions back, also when `f` unwinds.
    struct Restore(Option<ScriptAcl>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            SCRIPT_ACL.with(|c| *c.borrow_mut() = prev);
        }
    }
    if acl.is_none() && SCRIPT_ACL.with(|c| c.borrow().is_none()) {
        return f();
    }
    let _restore = Restore(SCRIPT_ACL.with(|c| c.replace(acl)));
    f()
}

/// Whether the running client may not run `argv` (`spec`'s command).
fn script_acl_denies(
    spec: &crate::command::CommandSpec,
    argv: &[Bytes],
    log: bool,
) -> Option<ScriptDenied> {
    let acl = SCRIPT_ACL.with(|c| c.borrow().clone())?;
    acl(spec, argv, log)
}

thread_local! {
    /// Whether a script of the command running on this thread ran a
    /// read-only command, when its client tracks keys
    /// ([`with_script_reads`]).
    static SCRIPT_READ: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` (a client's command) noting, if `watch`, whether its scripts
/// run a read-only command (`redis.call` / `pcall`). Redis 7.0 then
/// remembers the script's declared keys (its `KEYS`, not the keys the
/// inner command read) for a caller that tracks keys (CLIENT TRACKING).
/// Returns `f`'s result and whether a read ran.
pub fn with_script_reads<R>(watch: bool, f: impl FnOnce() -> R) -> (R, bool) {
    if !watch {
        return (f(), false);
    }
    /// Takes the watch down, also when `f` unwinds.
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            SCRIPT_READ.with(|c| c.set(None));
        }
    }
    let stop = Stop;
    SCRIPT_READ.with(|c| c.set(Some(false)));
    let r = f();
    let read = SCRIPT_READ.with(|c| c.get()) == Some(true);
    drop(stop);
    (r, read)
}

/// Runs one `redis.call` with the script's `Exec`: the same checks as a
/// command from a client (unknown, arity, sizes, and memory: a `denyoom`
/// command is refused over `maxmemory` unless the script `allow-oom` or
/// already `wrote`, as Redis cannot stop a script halfway), worded as
/// Redis words them for scripts, then the command's own handler.
fn call_command(ex: &mut Exec<'_>, argv: &[Bytes], rules: Rules, wrote: &Cell<bool>) -> Reply {
    const WRONG_ARGS: &str = "ERR Wrong number of args calling Redis command from script";
    let name = &argv[0];
    if is_inline(name) {
        return inline_command(ex, argv);
    }
    let Some(cmd) = crate::command::find(name) else {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        if SERVER_ONLY.contains(&lower.as_str()) {
            return args::err(NOT_ALLOWED);
        }
        return args::err("ERR Unknown Redis command called from script");
    };
    if !cmd.spec.arity_ok(argv.len()) {
        return args::err(WRONG_ARGS);
    }
    let stream_read = matches!(cmd.spec.name, "xread" | "xreadgroup");
    if (cmd.spec.flags.blocking && !stream_read) || cmd.spec.group == "scripting" {
        return args::err(NOT_ALLOWED);
    }
    if stream_read && matches!(super::stream::block_args(argv), Ok((Some(_), _))) {
        return Reply::Error(format!(
            "ERR {} command is not allowed with BLOCK option from scripts",
            String::from_utf8_lossy(name)
        ));
    }
    if let Some(denied) = script_acl_denies(&cmd.spec, argv, true) {
        return args::err(denied.error());
    }
    if rules.read_only && cmd.spec.flags.write {
        return args::err("ERR Write commands are not allowed from read-only scripts.");
    }
    if ex.oom && cmd.spec.flags.denyoom && !rules.allow_oom && !wrote.get() {
        return args::err(args::OOM);
    }
    if cmd.spec.flags.write {
        wrote.set(true);
    }
    if let Some(e) = super::check_sizes(&cmd.spec, argv, ex.st) {
        return e;
    }
    if cmd.spec.flags.readonly {
        SCRIPT_READ.with(|c| {
            if c.get().is_some() {
                c.set(Some(true));
            }
        });
    }
    let reading = std::mem::replace(&mut ex.reading, cmd.spec.flags.readonly);
    let reply = (cmd.run)(ex, argv);
    ex.reading = reading;
    reply
}

/// PING, ECHO, TIME and SELECT inside a script.
fn inline_command(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    const WRONG_ARGS: &str = "ERR Wrong number of args calling Redis command from script";
    let name = &argv[0];
    if args::is(name, "ping") {
        return match argv.len() {
            1 => Reply::Simple("PONG".into()),
            2 => Reply::Bulk(argv[1].clone()),
            _ => args::arity_error("ping"),
        };
    }
    if args::is(name, "echo") {
        return match argv.len() {
            2 => Reply::Bulk(argv[1].clone()),
            _ => args::err(WRONG_ARGS),
        };
    }
    if args::is(name, "time") {
        if argv.len() != 1 {
            return args::err(WRONG_ARGS);
        }
        let (secs, micros) = (ex.now_ms / 1000, (ex.now_ms % 1000) * 1000);
        return Reply::Array(vec![
            Reply::Bulk(Bytes::from(secs.to_string())),
            Reply::Bulk(Bytes::from(micros.to_string())),
        ]);
    }
    // SELECT
    if argv.len() != 2 {
        return args::err(WRONG_ARGS);
    }
    match args::parse_i64(&argv[1]).map(usize::try_from) {
        Some(Ok(db)) if db < ex.databases() => {
            ex.db = db;
            Reply::ok()
        }
        Some(_) => args::err("ERR DB index is out of range"),
        None => args::err(args::NOT_INTEGER),
    }
}

/// A command's reply as a script sees it (RESP2 view): integer -> number,
/// bulk -> string, nil -> false, array -> table, status -> `{ok=...}`,
/// error -> `{err=...}`, double -> its RESP2 text, map -> flat table.
fn reply_to_lua(lua: &Lua, reply: Reply, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return error_table(lua, "ERR reached lua stack limit");
    }
    let string = |b: &[u8]| lua.create_string(b).map(Value::String);
    let items = |items: Vec<Reply>| -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.into_iter().enumerate() {
            t.raw_set(i + 1, reply_to_lua(lua, item, depth + 1)?)?;
        }
        Ok(Value::Table(t))
    };
    Ok(match reply {
        Reply::Integer(i) => Value::Number(i as f64),
        Reply::Bulk(b) | Reply::Verbatim(b) | Reply::HumanDouble(b) => string(&b)?,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Simple(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", s.as_ref())?;
            Value::Table(t)
        }
        Reply::Error(e) => error_table(lua, &e)?,
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Pairs(v) => items(v)?,
        Reply::Map(pairs) => items(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())?,
        Reply::PairMap(pairs) => items(
            pairs
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![k, v]))
                .collect(),
        )?,
        Reply::Double(d) => string(crate::resp::format_double(d).as_bytes())?,
        Reply::Bool(b) => Value::Number(f64::from(u8::from(b))),
    })
}

/// A Lua number as Redis 7.0 replies it: truncated to a 64-bit integer (a
/// C cast: NaN and out-of-range values give i64::MIN, as on x86).
fn lua_number(n: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// A script's result as a reply (Redis 7.0, RESP2): string -> bulk,
/// number -> integer (truncated), true -> 1, false / nil -> nil bulk,
/// `{err=s}` -> error, `{ok=s}` -> status, other tables -> array up to the
/// first nil.
fn lua_to_reply(value: &Value, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return args::err("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(true) => Reply::Integer(1),
        Value::Number(n) => Reply::Integer(lua_number(*n)),
        Value::Integer(i) => Reply::Integer(*i),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(sanitize(&e.to_string_lossy()));
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                return Reply::Simple(sanitize(&s.to_string_lossy()).into());
            }
            let mut out = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => out.push(lua_to_reply(&v, depth + 1)),
                }
            }
            Reply::Array(out)
        }
        _ => Reply::Nil,
    }
}

/// SCRIPT LOAD / EXISTS / FLUSH / KILL / HELP.
fn script(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let sub = &argv[1];
    let wrong_args = |name: &str| {
        Reply::Error(format!(
            "ERR wrong number of arguments for 'script|{name}' command"
        ))
    };
    if args::is(sub, "load") {
        if argv.len() != 3 {
            return wrong_args("load");
        }
        if let Err(reply) = Shebang::parse(&argv[2]) {
            return reply;
        }
        // Compiled (and kept) in the state the script will run in.
        let sha = sha1_hex(&argv[2]);
        let mut engine = match take_engine(ex) {
            Ok(engine) => engine,
            Err(reply) => return reply,
        };
        let compiled = engine.function(&sha, &argv[2]);
        put_back(ex, engine);
        if let Err(reply) = compiled {
            return reply;
        }
        let mut cache = ex.st.scripts.lock();
        cache
            .bodies
            .entry(sha.clone())
            .or_insert_with(|| Bytes::copy_from_slice(&argv[2]));
        return Reply::Bulk(Bytes::from(sha));
    }
    if args::is(sub, "exists") {
        if argv.len() < 3 {
            return wrong_args("exists");
        }
        let cache = ex.st.scripts.lock();
        return Reply::Array(
            argv[2..]
                .iter()
                .map(|sha| {
                    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                    Reply::Integer(i64::from(cache.bodies.contains_key(&sha)))
                })
                .collect(),
        );
    }
    if args::is(sub, "flush") {
        let mode_ok = match argv.len() {
            2 => true,
            3 => args::is(&argv[2], "async") || args::is(&argv[2], "sync"),
            _ => false,
        };
        if !mode_ok {
            return args::err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        }
        ex.st.scripts.lock().bodies = HashMap::new();
        // The compiled functions go with the Lua state they live in.
        ex.st.script_engine = None;
        return Reply::ok();
    }
    if args::is(sub, "kill") {
        if argv.len() != 2 {
            return wrong_args("kill");
        }
        return args::err("NOTBUSY No scripts in execution right now.");
    }
    if args::is(sub, "help") && argv.len() == 2 {
        const HELP: &[&str] = &[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script (never busy here: answers NOTBUSY).",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help.",
        ];
        return Reply::Array(HELP.iter().map(|l| Reply::Simple((*l).into())).collect());
    }
    Reply::Error(format!(
        "ERR unknown subcommand '{}'. Try SCRIPT HELP.",
        String::from_utf8_lossy(sub)
    ))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::command::{Ctx, Reply};
    use crate::keyspace::tests::{open, run, NOW};

    fn argv(args: &[&str]) -> Vec<Bytes> {
        args.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// The cluster replicates EVALSHA as EVAL with the body (followers may
    /// not have the script); an unknown digest becomes one no node knows.
    #[test]
    fn evalsha_is_rewritten_as_eval_with_the_body() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        let body = "return ARGV[1]";
        let sha = super::sha1_hex(body.as_bytes());
        assert_eq!(run(&ks, NOW, &["SCRIPT", "LOAD", body]), bulk(&sha));
        let upper = sha.to_ascii_uppercase();
        assert_eq!(
            ks.script_call_by_body(&argv(&["evalsha", &upper, "1", "k", "a"])),
            Some(argv(&["EVAL", body, "1", "k", "a"]))
        );
        assert_eq!(
            ks.script_call_by_body(&argv(&["EVALSHA_RO", &sha, "0"])),
            Some(argv(&["EVAL_RO", body, "0"]))
        );
        let unknown = "0".repeat(40);
        let rewritten = ks
            .script_call_by_body(&argv(&["EVALSHA", &unknown, "0"]))
            .expect("rewritten");
        assert_eq!(
            ks.execute(&Ctx::new(NOW, 1, 0), &rewritten),
            Reply::Error(super::NOSCRIPT.into())
        );
        assert_eq!(ks.script_call_by_body(&argv(&["EVAL", body, "0"])), None);
        assert_eq!(ks.script_call_by_body(&argv(&["GET", "k"])), None);
        assert_eq!(ks.script_call_by_body(&argv(&["EVALSHA"])), None);
        // The rewritten call runs the same script on a node without it.
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = open(other_dir.path());
        let call = ks
            .script_call_by_body(&argv(&["EVALSHA", &sha, "0", "x"]))
            .expect("rewritten");
        assert_eq!(other.execute(&Ctx::new(NOW, 1, 0), &call), bulk("x"));
    }

    /// Replicas applying the same EVAL with the same Ctx agree, random
    /// picks included; another seed gives other numbers.
    #[test]
    fn scripts_are_deterministic_given_the_ctx() {
        let script = "local t = {} for i = 1, 8 do t[i] = math.random(1000000) end \
            redis.call('sadd', 's', 'a', 'b', 'c', 'd') t[9] = redis.call('spop', 's') \
            t[10] = math.floor(math.random() * 1e9) return t";
        let call = argv(&["EVAL", script, "0"]);
        let replies: Vec<Reply> = (0..2)
            .map(|_| {
                let dir = tempfile::tempdir().expect("tempdir");
                let ks = open(dir.path());
                ks.execute(&Ctx::new(NOW, 42, 0), &call)
            })
            .collect();
        assert!(matches!(&replies[0], Reply::Array(a) if a.len() == 10));
        assert_eq!(replies[0], replies[1]);
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        assert_ne!(ks.execute(&Ctx::new(NOW, 43, 0), &call), replies[0]);
    }

    /// TIME inside a script is the command's clock; SELECT lasts for the
    /// rest of the script only.
    #[test]
    fn time_and_select_inside_a_script() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        assert_eq!(
            run(
                &ks,
                1_700_000_000_123,
                &["EVAL", "return redis.call('time')", "0"]
            ),
            Reply::Array(vec![bulk("1700000000"), bulk("123000")])
        );
        assert_eq!(
            run(
                &ks,
                NOW,
                &[
                    "EVAL",
                    "redis.call('select', 3) return redis.call('set', 'k', 'v')",
                    "0"
                ]
            ),
            Reply::ok()
        );
        assert_eq!(run(&ks, NOW, &["GET", "k"]), Reply::Nil);
        assert_eq!(
            ks.execute(&Ctx::new(NOW, 1, 3), &argv(&["GET", "k"])),
            bulk("v")
        );
    }

    /// A script inside MULTI/EXEC, and a script's keys checked like a
    /// client's (a key longer than the record key allows is refused).
    #[test]
    fn scripts_in_transactions_and_size_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        let replies = ks.execute_transaction(
            &Ctx::new(NOW, 1, 0),
            &[
                argv(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "n"]),
                argv(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "n"]),
            ],
        );
        assert_eq!(replies, vec![Reply::Integer(1), Reply::Integer(2)]);
        let reply = run(
            &ks,
            NOW,
            &[
                "EVAL",
                "return redis.pcall('set', string.rep('k', 1000000), 'v')",
                "0",
            ],
        );
        assert!(
            matches!(&reply, Reply::Error(e) if e.starts_with("ERR key is too long")),
            "{reply:?}"
        );
    }

    fn engine_kept(ks: &crate::keyspace::Keyspace) -> bool {
        ks.state.lock().script_engine.is_some()
    }

    fn is_error_with(reply: &Reply, text: &str) -> bool {
        matches!(reply, Reply::Error(e) if e.contains(text))
    }

    /// Scripts share one Lua state; none can change what the next one
    /// meets: globals, the libraries, `redis.call`, the strings'
    /// metatable, the collector, the random generator, KEYS / ARGV.
    #[test]
    fn a_script_cannot_leak_into_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        const READONLY: &str = "Attempt to modify a readonly table";
        let attempts: &[&str] = &[
            "x = 1",
            "_G.x = 1",
            "rawset(_G, 'x', 1)",
            "setmetatable(_G, {})",
            "redis.call = function() return 'hijacked' end",
            "rawset(redis, 'call', function() return 'hijacked' end)",
            "string.upper = function() return 'hijacked' end",
            "math.random = function() return 4 end",
            "table.concat = nil",
            "getmetatable('').__index.upper = function() return 'hijacked' end",
            "getmetatable('').__index = {}",
            "rawset(getmetatable(''), '__index', {})",
            "setmetatable(getmetatable(''), {__index = function() return 'hijacked' end})",
            "getmetatable('').__metatable = 1",
        ];
        for body in attempts {
            let reply = run(&ks, NOW, &["EVAL", body, "0"]);
            assert!(is_error_with(&reply, READONLY), "{body}: {reply:?}");
        }
        // Allowed, and undone before the next script.
        assert_eq!(
            run(
                &ks,
                NOW,
                &[
                    "EVAL",
                    "collectgarbage('stop') math.randomseed(1) KEYS[1] = 'changed' \
                     ARGV[2] = 'added' return 1",
                    "1",
                    "k",
                    "a"
                ]
            ),
            Reply::Integer(1)
        );
        assert!(engine_kept(&ks));
        let check = "return {type(x), redis.call('ping'), ('abc'):upper(), \
            type(getmetatable('').__index.upper), tostring(rawequal(getmetatable('').__index, string)), \
            table.concat({'a', 'b'}, ','), KEYS[1], #ARGV, \
            tostring(collectgarbage('count') > 0)}";
        let reply = run(&ks, NOW, &["EVAL", check, "1", "k2", "b"]);
        assert!(
            is_error_with(&reply, "nonexistent global variable 'x'"),
            "{reply:?}"
        );
        let check = check.replace("type(x)", "'no x'");
        assert_eq!(
            run(&ks, NOW, &["EVAL", &check, "1", "k2", "b"]),
            Reply::Array(vec![
                bulk("no x"),
                Reply::Simple("PONG".into()),
                bulk("ABC"),
                bulk("function"),
                bulk("true"),
                bulk("a,b"),
                bulk("k2"),
                Reply::Integer(1),
                bulk("true"),
            ])
        );
        // The collector runs again after a script stopped it.
        let garbage = "for i = 1, 100000 do local t = {i} end return 1";
        assert_eq!(
            run(&ks, NOW, &["EVAL", "collectgarbage('stop') return 1", "0"]),
            Reply::Integer(1)
        );
        for _ in 0..20 {
            assert_eq!(run(&ks, NOW, &["EVAL", garbage, "0"]), Reply::Integer(1));
        }
        let used = ks
            .state
            .lock()
            .script_engine
            .as_ref()
            .map(|e| e.lua.used_memory())
            .expect("engine kept");
        assert!(used < 16 << 20, "{used} bytes");
    }

    /// math.random gives the same numbers on a state used before (by a
    /// script that reseeded it, too) as on a fresh one, given the Ctx.
    #[test]
    fn the_random_sequence_does_not_depend_on_the_states_history() {
        let script = "local t = {} for i = 1, 8 do t[i] = math.random(1000000) end \
            t[9] = math.floor(math.random() * 1e9) return t";
        let call = argv(&["EVAL", script, "0"]);
        let fresh_dir = tempfile::tempdir().expect("tempdir");
        let fresh = open(fresh_dir.path());
        let expected = fresh.execute(&Ctx::new(NOW, 42, 0), &call);
        assert!(matches!(&expected, Reply::Array(a) if a.len() == 9));
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        for other in [
            "math.randomseed(7) return math.random()",
            "return math.random(5)",
            script,
        ] {
            let _ = ks.execute(&Ctx::new(NOW, 99, 0), &argv(&["EVAL", other, "0"]));
        }
        assert!(engine_kept(&ks));
        assert_eq!(ks.execute(&Ctx::new(NOW, 42, 0), &call), expected);
        assert_eq!(ks.execute(&Ctx::new(NOW, 42, 0), &call), expected);
    }

    /// A state that may be unsound is dropped and the next script gets a
    /// new one: after running out of memory, past the memory bound; SCRIPT
    /// FLUSH drops it with the compiled functions. A plain script error
    /// keeps it.
    #[test]
    fn the_state_is_rebuilt_after_trouble() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        let ok = "return redis.call('set', KEYS[1], ARGV[1])";
        assert_eq!(run(&ks, NOW, &["EVAL", ok, "1", "k", "1"]), Reply::ok());
        assert!(engine_kept(&ks));
        let reply = run(&ks, NOW, &["EVAL", "error('plain')", "0"]);
        assert!(is_error_with(&reply, "plain"), "{reply:?}");
        assert!(engine_kept(&ks));
        // More than MAX_SCRIPT_MEMORY (Lua's "not enough memory", which
        // the error handler does not see; Redis has no such limit).
        let reply = run(&ks, NOW, &["EVAL", "return #string.rep('x', 2^30)", "0"]);
        assert!(
            is_error_with(&reply, "ERR unknown error script"),
            "{reply:?}"
        );
        assert!(!engine_kept(&ks));
        assert_eq!(run(&ks, NOW, &["EVAL", ok, "1", "k", "2"]), Reply::ok());
        assert!(engine_kept(&ks));
        // Garbage past the bound of a kept state is collected; live data
        // past it (here compiled scripts, each with a 1 MiB constant)
        // drops the state.
        let big = "local s = string.rep('x', 80 * 2^20) return #s";
        assert_eq!(run(&ks, NOW, &["EVAL", big, "0"]), Reply::Integer(80 << 20));
        assert!(engine_kept(&ks));
        let filler = "x".repeat(1 << 20);
        for i in 0..super::ENGINE_MEMORY_BOUND >> 20 {
            let body = format!("return '{filler}{i}'");
            assert!(matches!(
                run(&ks, NOW, &["SCRIPT", "LOAD", &body]),
                Reply::Bulk(_)
            ));
        }
        assert!(!engine_kept(&ks));
        assert_eq!(run(&ks, NOW, &["EVAL", ok, "1", "k", "3"]), Reply::ok());
        assert_eq!(run(&ks, NOW, &["GET", "k"]), bulk("3"));
        // SCRIPT LOAD compiles into the kept state; FLUSH drops it.
        let sha = super::sha1_hex(ok.as_bytes());
        assert_eq!(run(&ks, NOW, &["SCRIPT", "LOAD", ok]), bulk(&sha));
        assert!(ks
            .state
            .lock()
            .script_engine
            .as_ref()
            .is_some_and(|e| matches!(
                e.functions.raw_get::<Option<super::Function>>(sha.as_str()),
                Ok(Some(_))
            )));
        assert_eq!(run(&ks, NOW, &["SCRIPT", "FLUSH"]), Reply::ok());
        assert!(!engine_kept(&ks));
        assert_eq!(
            run(&ks, NOW, &["EVALSHA", &sha, "1", "k", "4"]),
            Reply::Error(super::NOSCRIPT.into())
        );
        assert_eq!(run(&ks, NOW, &["EVAL", ok, "1", "k", "4"]), Reply::ok());
        assert_eq!(
            run(&ks, NOW, &["EVALSHA", &sha, "1", "k", "5"]),
            Reply::ok()
        );
        assert_eq!(run(&ks, NOW, &["GET", "k"]), bulk("5"));
    }
}
