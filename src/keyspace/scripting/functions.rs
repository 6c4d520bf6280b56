//! Redis 7.0 Functions: FUNCTION LOAD / DELETE / FLUSH / LIST / STATS /
//! KILL / DUMP / RESTORE / HELP and FCALL / FCALL_RO, on the scripting
//! engine of `scripting.rs`.
//!
//! A library is Lua code that starts with `#!lua name=<library>` and
//! registers functions with `redis.register_function`. Its code runs in
//! the keyspace's kept Lua state, in an environment of its own: while
//! FUNCTION LOAD runs it, that environment offers only `redis` with
//! `register_function`, `log`, the `LOG_*` levels and the version (Redis
//! 7.0's load API, same errors); afterwards it reads through to the
//! scripts' environment, so the registered functions see the full API at
//! run time (Redis switches its globals' `__index` the same way).
//!
//! The libraries are part of the dataset, as in Redis 7.0: FLUSHALL does
//! not remove them, and each change appends one `TAG_FUNCTIONS` record
//! whose value is the whole set of libraries in Redis's FUNCTION DUMP
//! format (only the newest such record is live; replay loads its
//! libraries again). What [`Functions`] keeps is the code and what loading
//! it registered (names, flags, descriptions); the Lua callbacks live in
//! the engine (`Engine::libraries`), which loads them again, lazily, when
//! it is new or the set changed ([`Functions::version`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use mlua::{chunk::ChunkMode, Function, Lua, Table, Value, Variadic};

use super::{
    fail, put_back, run_with_engine_checks, sanitize, take_engine, with_session, Engine, Session,
    Target, BUDGET_STEP,
};
use crate::command::{args, Reply};
use crate::keyspace::dump::rdb;
use crate::keyspace::journal::{FUNCTIONS_KEY, TAG_FUNCTIONS};
use crate::keyspace::{Exec, State};
use crate::storage::{Location, RecordKind};

/// The script flags Redis 7.0 knows, in its order (bit i = `FLAGS[i]`).
const FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];
/// The `no-writes` bit.
const NO_WRITES: u8 = 1;
/// The `allow-oom` bit.
const ALLOW_OOM: u8 = 2;

/// The opcode of one library in Redis's FUNCTION DUMP payload
/// (`RDB_OPCODE_FUNCTION2`): followed by the library's code as an RDB
/// string.
const OPCODE_FUNCTION2: u8 = 245;
/// Redis 7.0 release candidates' format, which 7.0 refuses.
const OPCODE_FUNCTION_PRE_GA: u8 = 246;

/// [`BUDGET_STEP`]s of instructions a library's code may run while it is
/// loaded: 50 million, about Redis's 500 ms load timeout (a count, not a
/// clock, so that every replica loads or refuses alike).
const MAX_LOAD_STEPS: u64 = 500;

/// Where the next [`Functions::version`] comes from: unique in the
/// process, so that an engine never mistakes one set of libraries for
/// another (a keyspace reloaded from its log gets a new set).
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

fn next_version() -> u64 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

/// One registered function.
#[derive(Clone, Debug)]
pub(crate) struct FunctionInfo {
    /// Its name as registered.
    name: String,
    /// [`FLAGS`] bits.
    flags: u8,
    /// Its description, if it was given one.
    description: Option<Bytes>,
}

/// One library.
#[derive(Clone, Debug)]
pub(crate) struct Library {
    /// The whole code FUNCTION LOAD was given (shebang line included).
    code: Bytes,
    /// Its functions by name (case-sensitive within a library, as in
    /// Redis; across libraries they are not: see [`Functions::owners`]).
    functions: BTreeMap<String, FunctionInfo>,
}

/// The loaded libraries of a keyspace (in its state, under its lock).
#[derive(Debug)]
pub(crate) struct Functions {
    /// Libraries by name.
    libs: BTreeMap<String, Library>,
    /// Lower-case function name -> its library's name and the function's
    /// name there (FCALL finds functions in any case; a library that has
    /// two names differing in case only gets the first for both).
    owners: HashMap<String, (String, String)>,
    /// Changes with every change of the set (see [`next_version`]).
    version: u64,
    /// Where the newest `TAG_FUNCTIONS` record is (merge liveness).
    pub(crate) record: Option<Location>,
    /// During replay: the newest record's value (`None` when it came
    /// from a hint file: read at the end of the replay).
    pub(crate) replayed: Option<Option<Bytes>>,
}

impl Default for Functions {
    fn default() -> Self {
        Functions {
            libs: BTreeMap::new(),
            owners: HashMap::new(),
            version: next_version(),
            record: None,
            replayed: None,
        }
    }
}

impl Functions {
    /// Adds `lib` called `name` (replacing a library of that name).
    fn link(&mut self, name: String, lib: Library) {
        self.unlink(&name);
        for f in lib.functions.keys() {
            self.owners
                .entry(f.to_ascii_lowercase())
                .or_insert_with(|| (name.clone(), f.clone()));
        }
        self.libs.insert(name, lib);
        self.version = next_version();
    }

    /// Removes the library `name`, if there is one.
    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.remove(name)?;
        for f in lib.functions.keys() {
            self.owners.remove(&f.to_ascii_lowercase());
        }
        self.version = next_version();
        Some(lib)
    }

    /// The function called `name` (any case): its library and its info.
    fn find(&self, name: &str) -> Option<(&str, &FunctionInfo)> {
        let (lib, exact) = self.owners.get(&name.to_ascii_lowercase())?;
        let info = self.libs.get(lib)?.functions.get(exact)?;
        Some((lib, info))
    }

    /// How many functions the libraries have.
    fn function_count(&self) -> usize {
        self.libs.values().map(|l| l.functions.len()).sum()
    }

    /// Whether no library is loaded.
    pub(crate) fn is_empty(&self) -> bool {
        self.libs.is_empty()
    }

    /// Redis's FUNCTION DUMP payload of every library.
    pub(crate) fn dump(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for lib in self.libs.values() {
            body.push(OPCODE_FUNCTION2);
            rdb::put_str(&mut body, &lib.code);
        }
        rdb::seal(body)
    }

    /// After a replay: loads the libraries of the newest record (its value
    /// read from `read` when a hint file left it out).
    pub(crate) fn finish_replay(
        st: &mut State,
        read: impl FnOnce(Location) -> Result<Bytes, crate::storage::Error>,
    ) -> Result<(), crate::storage::Error> {
        let Some(value) = st.functions.replayed.take() else {
            return Ok(());
        };
        let value = match (value, st.functions.record) {
            (Some(v), _) => v,
            (None, Some(loc)) => read(loc)?,
            (None, None) => return Ok(()),
        };
        let codes = match parse_payload(&value) {
            Ok(codes) => codes,
            Err(e) => {
                return Err(crate::storage::Error::InvalidArgument(format!(
                    "the functions record is unreadable: {e}"
                )))
            }
        };
        let mut engine = match Engine::new() {
            Ok(engine) => engine,
            Err(e) => {
                tracing::error!(error = %e, "no Lua state to load the functions in");
                return Ok(());
            }
        };
        let mut functions = Functions {
            record: st.functions.record,
            ..Functions::default()
        };
        for code in codes {
            match create(&mut engine, &functions, &code, true) {
                Ok((name, lib)) => functions.link(name, lib),
                Err(e) => tracing::error!(error = %e, "a library of the log did not load"),
            }
        }
        st.functions = functions;
        st.script_engine = (!engine.unsound).then_some(engine);
        Ok(())
    }
}

/// Whether `name` is a valid library or function name: letters, digits
/// and underscores, at least one.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The shebang line of a library: (engine, library name, where the code
/// after the shebang line starts), with Redis 7.0's errors.
fn metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    // Redis splits the whole line: the first word, "#!" cut off, is the
    // engine (empty for "#! name=x").
    let line = String::from_utf8_lossy(&code[..end]);
    let mut parts = line.split_ascii_whitespace();
    let engine = parts
        .next()
        .unwrap_or_default()
        .get(2..)
        .unwrap_or_default();
    let mut name = None;
    for part in parts {
        match part.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("name=") => {
                if name.is_some() {
                    return Err(
                        "ERR Invalid metadata value, name argument was given multiple times".into(),
                    );
                }
                name = Some(part[5..].to_owned());
            }
            _ => return Err(format!("ERR Invalid metadata value given: {part}")),
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    Ok((engine.to_owned(), name, end))
}

/// What one `redis.register_function` call gave, kept in the state while a
/// library loads.
const LOADING: &str = "fincaskv_loading";

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=, callback=, flags=, description=}`
/// while FUNCTION LOAD runs a library (the only time it can be reached).
pub(super) fn register_function(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    let Ok(pending) = lua.named_registry_value::<Table>(LOADING) else {
        return Err(fail(
            lua,
            true,
            "ERR redis.register_function can only be called on FUNCTION LOAD command",
        ));
    };
    let Registration {
        name,
        callback,
        flags,
        description,
    } = read_register_args(lua, &args).map_err(|e| fail(lua, true, format!("ERR {e}")))?;
    if !valid_name(name.as_bytes()) {
        // (Redis 7.0 says "Library names" here too.)
        return Err(fail(lua, true, "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    if pending.raw_get::<Option<Table>>(name.as_str())?.is_some() {
        return Err(fail(
            lua,
            true,
            "ERR Function already exists in the library",
        ));
    }
    let entry = lua.create_table()?;
    entry.raw_set("name", name.as_str())?;
    entry.raw_set("callback", callback)?;
    entry.raw_set("flags", flags)?;
    if let Some(d) = description {
        entry.raw_set("description", lua.create_string(&d)?)?;
    }
    pending.raw_set(name, entry)?;
    Ok(())
}

/// A string argument as `lua_isstring` / `lua_tostring` see it (numbers
/// too).
fn lua_text(lua: &Lua, v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Number(_) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| s.as_bytes().to_vec()),
        _ => None,
    }
}

/// What one `redis.register_function` call registers.
struct Registration {
    name: String,
    callback: Function,
    flags: u8,
    description: Option<Vec<u8>>,
}

/// The arguments of one `redis.register_function` call; `Err` is Redis
/// 7.0's text (without `ERR `).
fn read_register_args(lua: &Lua, args: &[Value]) -> Result<Registration, &'static str> {
    match args {
        [Value::Table(t)] => {
            let (mut name, mut callback, mut flags, mut description) = (None, None, 0, None);
            for pair in t.clone().pairs::<Value, Value>() {
                let Ok((k, v)) = pair else {
                    return Err("named argument key given to redis.register_function is not a string");
                };
                let Some(key) = lua_text(lua, &k) else {
                    return Err(
                        "named argument key given to redis.register_function is not a string",
                    );
                };
                let key = String::from_utf8_lossy(&key).to_ascii_lowercase();
                match key.as_str() {
                    "function_name" => match lua_text(lua, &v) {
                        Some(n) => name = Some(String::from_utf8_lossy(&n).into_owned()),
                        None => return Err("function_name argument given to redis.register_function must be a string"),
                    },
                    "description" => match lua_text(lua, &v) {
                        Some(d) => description = Some(d),
                        None => return Err("description argument given to redis.register_function must be a string"),
                    },
                    "callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err("callback argument given to redis.register_function must be a function"),
                    },
                    "flags" => {
                        let Value::Table(list) = v else {
                            return Err("flags argument to redis.register_function must be a table representing function flags");
                        };
                        flags = read_flags(lua, &list).ok_or("unknown flag given")?;
                    }
                    _ => return Err("unknown argument given to redis.register_function"),
                }
            }
            let Some(name) = name else {
                return Err("redis.register_function must get a function name argument");
            };
            let Some(callback) = callback else {
                return Err("redis.register_function must get a callback argument");
            };
            Ok(Registration {
                name,
                callback,
                flags,
                description,
            })
        }
        [_] => Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
        [name, callback] => {
            let Some(name) = lua_text(lua, name) else {
                return Err("first argument to redis.register_function must be a string");
            };
            let Value::Function(callback) = callback else {
                return Err("second argument to redis.register_function must be a function");
            };
            Ok(Registration {
                name: String::from_utf8_lossy(&name).into_owned(),
                callback: callback.clone(),
                flags: 0,
                description: None,
            })
        }
        _ => Err("wrong number of arguments to redis.register_function"),
    }
}

/// The flags of a `flags={...}` list (names in any case); `None` for an
/// unknown one.
fn read_flags(lua: &Lua, list: &Table) -> Option<u8> {
    let mut bits = 0u8;
    for i in 1.. {
        let v = list.raw_get::<Value>(i).ok()?;
        if v.is_nil() {
            break;
        }
        let text = lua_text(lua, &v)?;
        let at = FLAGS
            .iter()
            .position(|f| f.as_bytes().eq_ignore_ascii_case(&text))?;
        bits |= 1 << at;
    }
    Some(bits)
}

impl Engine {
    /// Runs a library's code (`code` is the part after its shebang line,
    /// which starts with the line's `\n`, so line numbers stay) in a new
    /// library environment: the functions it registered (their callbacks
    /// by name in the returned table), or Redis 7.0's error.
    /// Also whether the state is still sound.
    fn load_code(&mut self, code: &[u8]) -> (Result<(Table, Vec<FunctionInfo>), String>, bool) {
        let lua = self.lua.clone();
        let setup = || -> mlua::Result<(Table, Function)> {
            let (env, activate): (Table, Function) = self.library_env.call(())?;
            lua.set_named_registry_value(LOADING, lua.create_table()?)?;
            Ok((env, activate))
        };
        let (env, activate) = match setup() {
            Ok(v) => v,
            Err(e) => return (Err(sanitize(&format!("ERR {e}"))), false),
        };
        let chunk = lua
            .load(code)
            .set_name("@user_function")
            .set_mode(ChunkMode::Text)
            .set_environment(env)
            .into_function();
        let chunk = match chunk {
            Ok(f) => f,
            Err(e) => {
                let _ = lua.unset_named_registry_value(LOADING);
                let message = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    e => e.to_string(),
                };
                return (
                    Err(sanitize(&format!(
                        "ERR Error compiling function: {message}"
                    ))),
                    true,
                );
            }
        };
        with_session(&lua, |s| *s = Session::default());
        let _ = lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(BUDGET_STEP),
            load_budget_hook,
        );
        let result = self.runner.call::<(bool, Value)>(chunk);
        lua.remove_hook();
        let timed_out = with_session(&lua, |s| s.steps >= MAX_LOAD_STEPS);
        let pending = lua.named_registry_value::<Table>(LOADING);
        let _ = lua.unset_named_registry_value(LOADING);
        let (ok, value) = match result {
            Ok(r) => r,
            Err(e) => {
                let text = if timed_out {
                    "ERR FUNCTION LOAD timeout".to_owned()
                } else {
                    e.to_string()
                };
                return (
                    Err(sanitize(&format!(
                        "ERR Error registering functions: {text}"
                    ))),
                    false,
                );
            }
        };
        if !ok {
            let err = match &value {
                Value::Table(t) => match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => s.to_string_lossy(),
                    _ => "ERR unknown error".to_owned(),
                },
                _ => "ERR unknown error".to_owned(),
            };
            let sound = matches!(value, Value::Table(_)) && !timed_out;
            let err = if timed_out {
                "ERR FUNCTION LOAD timeout".to_owned()
            } else {
                err
            };
            return (
                Err(sanitize(&format!("ERR Error registering functions: {err}"))),
                sound,
            );
        }
        let collect = || -> mlua::Result<(Table, Vec<FunctionInfo>)> {
            let callbacks = lua.create_table()?;
            let mut infos = Vec::new();
            if let Ok(pending) = pending {
                for pair in pending.pairs::<String, Table>() {
                    let (name, entry) = pair?;
                    callbacks.raw_set(name.as_str(), entry.raw_get::<Function>("callback")?)?;
                    infos.push(FunctionInfo {
                        name: entry.raw_get("name")?,
                        flags: entry.raw_get("flags")?,
                        description: entry
                            .raw_get::<Option<mlua::LuaString>>("description")?
                            .map(|s| Bytes::copy_from_slice(&s.as_bytes())),
                    });
                }
            }
            activate.call::<()>(())?;
            Ok((callbacks, infos))
        };
        match collect() {
            Ok(v) => (Ok(v), true),
            Err(e) => (Err(sanitize(&format!("ERR {e}"))), false),
        }
    }

    /// Makes this state's functions those of `functions` (loading every
    /// library again) unless they already are.
    fn sync_functions(&mut self, functions: &Functions) -> bool {
        if self.functions_version == Some(functions.version) {
            return true;
        }
        let Ok(libraries) = self.lua.create_table() else {
            return false;
        };
        for (name, lib) in &functions.libs {
            let Ok((_, _, start)) = metadata(&lib.code) else {
                continue;
            };
            match self.load_code(&lib.code[start..]) {
                (Ok((callbacks, _)), true) => {
                    if libraries.raw_set(name.as_str(), callbacks).is_err() {
                        return false;
                    }
                }
                (Err(e), sound) => {
                    tracing::error!(library = %name, error = %e, "a library did not load again");
                    if !sound {
                        return false;
                    }
                }
                (Ok(_), false) => return false,
            }
        }
        self.libraries = libraries;
        self.functions_version = Some(functions.version);
        true
    }
}

/// The instruction budget of a library's code while it loads.
fn load_budget_hook(lua: &Lua, _: &mlua::debug::Debug<'_>) -> mlua::Result<mlua::VmState> {
    let steps = with_session(lua, |s| {
        s.steps += 1;
        s.steps
    });
    if steps < MAX_LOAD_STEPS {
        return Ok(mlua::VmState::Continue);
    }
    if steps == MAX_LOAD_STEPS {
        let _ = lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(1),
            |lua, _| Err(fail(lua, true, "ERR FUNCTION LOAD timeout")),
        );
    }
    Err(fail(lua, true, "ERR FUNCTION LOAD timeout"))
}

/// Checks and loads `code` as a library against `functions` (nothing is
/// linked): the library's name and the library, or Redis 7.0's error.
fn create(
    engine: &mut Engine,
    functions: &Functions,
    code: &Bytes,
    replace: bool,
) -> Result<(String, Library), String> {
    let (engine_name, name, start) = metadata(code)?;
    if !valid_name(name.as_bytes()) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine_name.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine_name}' not found"));
    }
    if functions.libs.contains_key(&name) && !replace {
        return Err(format!("ERR Library '{name}' already exists"));
    }
    let (loaded, sound) = engine.load_code(&code[start..]);
    if !sound {
        engine.functions_version = None;
        engine.unsound = true;
    }
    let (_, infos) = loaded?;
    if infos.is_empty() {
        return Err("ERR No functions registered".into());
    }
    let mut lib = Library {
        code: Bytes::copy_from_slice(code),
        functions: BTreeMap::new(),
    };
    for info in infos {
        let lower = info.name.to_ascii_lowercase();
        if functions
            .owners
            .get(&lower)
            .is_some_and(|(owner, _)| *owner != name)
        {
            return Err(format!("ERR Function {} already exists", info.name));
        }
        lib.functions.insert(info.name.clone(), info);
    }
    Ok((name, lib))
}

/// The libraries' codes of a FUNCTION DUMP payload, with Redis 7.0's
/// errors (without `ERR `).
fn parse_payload(payload: &[u8]) -> Result<Vec<Bytes>, &'static str> {
    if !rdb::footer_ok(payload) {
        return Err("DUMP payload version or checksum are wrong");
    }
    let body = &payload[..payload.len() - 10];
    let mut r = rdb::Reader::new(body);
    let mut codes = Vec::new();
    while !r.is_empty() {
        match r.byte() {
            Some(OPCODE_FUNCTION2) => {}
            Some(OPCODE_FUNCTION_PRE_GA) => return Err("Pre-GA function format not supported"),
            Some(_) => return Err("given type is not a function"),
            None => return Err("can not read data type"),
        }
        let code = r.string().ok_or("Failed loading library payload")?;
        codes.push(Bytes::from(code));
    }
    Ok(codes)
}

/// Journals the whole set of libraries (one `TAG_FUNCTIONS` record; the
/// newest is the live one).
fn persist(ex: &mut Exec<'_>) {
    let payload = ex.st.functions.dump();
    ex.journal.raw(
        RecordKind::Put,
        TAG_FUNCTIONS,
        0,
        0,
        FUNCTIONS_KEY.to_vec(),
        Bytes::from(payload),
    );
}

/// FUNCTION LOAD / DELETE / FLUSH / LIST / STATS / KILL / DUMP / RESTORE /
/// HELP.
pub(super) fn function(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let sub = &argv[1];
    let syntax = || {
        Reply::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(sub)
        ))
    };
    let wrong_args = |name: &str| {
        Reply::Error(format!(
            "ERR wrong number of arguments for 'function|{name}' command"
        ))
    };
    if args::is(sub, "load") {
        if argv.len() < 3 {
            return wrong_args("load");
        }
        let mut replace = false;
        for opt in &argv[2..argv.len() - 1] {
            if args::is(opt, "replace") {
                replace = true;
            } else {
                return Reply::Error(format!(
                    "ERR Unknown option given: {}",
                    String::from_utf8_lossy(opt)
                ));
            }
        }
        return load(ex, &argv[argv.len() - 1], replace);
    }
    if args::is(sub, "delete") {
        if argv.len() != 3 {
            return wrong_args("delete");
        }
        let name = String::from_utf8_lossy(&argv[2]);
        if ex.st.functions.unlink(&name).is_none() {
            return args::err("ERR Library not found");
        }
        persist(ex);
        return Reply::ok();
    }
    if args::is(sub, "flush") {
        match argv.len() {
            2 => {}
            3 if args::is(&argv[2], "async") || args::is(&argv[2], "sync") => {}
            3 => return args::err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"),
            _ => return syntax(),
        }
        let record = ex.st.functions.record;
        ex.st.functions = Functions {
            record,
            ..Functions::default()
        };
        persist(ex);
        return Reply::ok();
    }
    if args::is(sub, "list") {
        return list(ex, argv);
    }
    if args::is(sub, "stats") {
        if argv.len() != 2 {
            return wrong_args("stats");
        }
        let f = &ex.st.functions;
        let counts = Reply::Map(vec![
            (
                Reply::Bulk(Bytes::from_static(b"libraries_count")),
                Reply::Integer(f.libs.len() as i64),
            ),
            (
                Reply::Bulk(Bytes::from_static(b"functions_count")),
                Reply::Integer(f.function_count() as i64),
            ),
        ]);
        return Reply::Map(vec![
            (
                Reply::Bulk(Bytes::from_static(b"running_script")),
                Reply::Nil,
            ),
            (
                Reply::Bulk(Bytes::from_static(b"engines")),
                Reply::Map(vec![(Reply::Bulk(Bytes::from_static(b"LUA")), counts)]),
            ),
        ]);
    }
    if args::is(sub, "kill") {
        if argv.len() != 2 {
            return wrong_args("kill");
        }
        return args::err("NOTBUSY No scripts in execution right now.");
    }
    if args::is(sub, "dump") {
        if argv.len() != 2 {
            return wrong_args("dump");
        }
        return Reply::Bulk(Bytes::from(ex.st.functions.dump()));
    }
    if args::is(sub, "restore") {
        if argv.len() < 3 {
            return wrong_args("restore");
        }
        if argv.len() > 4 {
            return syntax();
        }
        return restore(ex, &argv[2], argv.get(3));
    }
    if args::is(sub, "help") {
        if argv.len() != 2 {
            return wrong_args("help");
        }
        return Reply::Array(HELP.iter().map(|l| Reply::Simple((*l).into())).collect());
    }
    Reply::Error(format!(
        "ERR unknown subcommand '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// FUNCTION HELP, as Redis 7.0.15 words it.
const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// Runs `f` with the keyspace's Lua state (built if there is none),
/// keeping the state afterwards unless it was found unsound.
fn with_engine<R>(
    ex: &mut Exec<'_>,
    f: impl FnOnce(&mut Engine, &mut Exec<'_>) -> R,
) -> Result<R, Reply> {
    let mut engine = take_engine(ex)?;
    let out = f(&mut engine, ex);
    if !engine.unsound {
        put_back(ex, engine);
    }
    Ok(out)
}

/// FUNCTION LOAD [REPLACE] code.
fn load(ex: &mut Exec<'_>, code: &Bytes, replace: bool) -> Reply {
    let created = with_engine(ex, |engine, ex| {
        create(engine, &ex.st.functions, code, replace)
    });
    match created {
        Err(reply) => reply,
        Ok(Err(text)) => Reply::Error(text),
        Ok(Ok((name, lib))) => {
            ex.st.functions.link(name.clone(), lib);
            persist(ex);
            Reply::Bulk(Bytes::from(name))
        }
    }
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
fn restore(ex: &mut Exec<'_>, payload: &[u8], policy: Option<&Bytes>) -> Reply {
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy =
        match policy {
            None => Policy::Append,
            Some(p) if args::is(p, "append") => Policy::Append,
            Some(p) if args::is(p, "replace") => Policy::Replace,
            Some(p) if args::is(p, "flush") => Policy::Flush,
            Some(_) => return args::err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    let codes = match parse_payload(payload) {
        Ok(codes) => codes,
        Err(e) => return Reply::Error(format!("ERR {e}")),
    };
    // The payload's libraries, checked among themselves.
    let staged = with_engine(ex, |engine, _| {
        let mut staged = Functions::default();
        for code in &codes {
            let (name, lib) = create(engine, &staged, code, false)?;
            staged.link(name, lib);
        }
        Ok::<Functions, String>(staged)
    });
    let staged = match staged {
        Err(reply) => return reply,
        Ok(Err(text)) => return Reply::Error(text),
        Ok(Ok(staged)) => staged,
    };
    let current = &ex.st.functions;
    if policy == Policy::Flush {
        let record = current.record;
        ex.st.functions = Functions { record, ..staged };
        ex.st.functions.version = next_version();
        persist(ex);
        return Reply::ok();
    }
    // Join: libraries of the same name (REPLACE takes the new ones), then
    // functions of other libraries.
    let replace = policy == Policy::Replace;
    for name in staged.libs.keys() {
        if current.libs.contains_key(name) && !replace {
            return Reply::Error(format!("ERR Library {name} already exists"));
        }
    }
    for (lower, (_, shown)) in &staged.owners {
        if let Some((owner, _)) = current.owners.get(lower) {
            if !staged.libs.contains_key(owner) {
                return Reply::Error(format!("ERR Function {shown} already exists"));
            }
        }
    }
    for (name, lib) in staged.libs {
        ex.st.functions.link(name, lib);
    }
    persist(ex);
    Reply::ok()
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn list(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < argv.len() {
        let arg = &argv[i];
        if !with_code && args::is(arg, "withcode") {
            with_code = true;
        } else if pattern.is_none() && args::is(arg, "libraryname") {
            if i + 1 >= argv.len() {
                return args::err("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(&argv[i]);
        } else {
            return Reply::Error(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(arg)
            ));
        }
        i += 1;
    }
    let bulk = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
    let mut out = Vec::new();
    for (name, lib) in &ex.st.functions.libs {
        if let Some(p) = pattern {
            if !crate::keyspace::glob::matches_case(p, name.as_bytes(), true) {
                continue;
            }
        }
        let functions = lib
            .functions
            .values()
            .map(|f| {
                Reply::Map(vec![
                    (bulk("name"), Reply::Bulk(Bytes::from(f.name.clone()))),
                    (
                        bulk("description"),
                        f.description.clone().map_or(Reply::Nil, Reply::Bulk),
                    ),
                    (
                        bulk("flags"),
                        Reply::Set(
                            FLAGS
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| f.flags & (1 << i) != 0)
                                .map(|(_, n)| Reply::Simple((*n).into()))
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        let mut fields = vec![
            (bulk("library_name"), Reply::Bulk(Bytes::from(name.clone()))),
            (bulk("engine"), bulk("LUA")),
            (bulk("functions"), Reply::Array(functions)),
        ];
        if with_code {
            fields.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(fields));
    }
    Reply::Array(out)
}

/// FCALL function numkeys [key ...] [arg ...].
pub(super) fn fcall(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    fcall_generic(ex, argv, false)
}

/// FCALL_RO function numkeys [key ...] [arg ...].
pub(super) fn fcall_ro(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    fcall_generic(ex, argv, true)
}

fn fcall_generic(ex: &mut Exec<'_>, argv: &[Bytes], ro: bool) -> Reply {
    let name = String::from_utf8_lossy(&argv[1]);
    let Some((lib, info)) = ex.st.functions.find(&name) else {
        return args::err("ERR Function not found");
    };
    let (lib, flags, shown) = (lib.to_owned(), info.flags, info.name.clone());
    // Redis treats FCALL of a function that may write as a `denyoom`
    // command unless the function declares `allow-oom`.
    if ex.oom && flags & (NO_WRITES | ALLOW_OOM) == 0 {
        return args::err(args::OOM);
    }
    let Some(numkeys) = args::parse_i64(&argv[2]) else {
        return args::err("ERR Bad number of keys provided");
    };
    if numkeys > (argv.len() - 3) as i64 {
        return args::err("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return args::err("ERR Number of keys can't be negative");
    }
    if ro && flags & NO_WRITES == 0 {
        return args::err("ERR Can not execute a script with write flag using *_ro command.");
    }
    let rules = super::Rules {
        read_only: ro || flags & NO_WRITES != 0,
        allow_oom: flags & ALLOW_OOM != 0,
    };
    let (keys, rest) = argv[3..].split_at(numkeys as usize);
    let seed = ex.random();
    let saved_db = ex.db;
    let reply = run_with_engine_checks(ex, |engine, ex| {
        if !engine.sync_functions(&ex.st.functions) {
            return (
                args::err("ERR the function's library could not be loaded"),
                false,
            );
        }
        let callback = engine
            .libraries
            .raw_get::<Option<Table>>(lib.as_str())
            .ok()
            .flatten()
            .and_then(|t| t.raw_get::<Option<Function>>(shown.as_str()).ok().flatten());
        let Some(callback) = callback else {
            return (args::err("ERR Function not found"), true);
        };
        let target = Target::Function {
            name: &shown,
            callback,
        };
        engine.run_target(ex, target, keys, rest, rules, seed)
    });
    ex.db = saved_db;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::tests::{open, run, NOW};

    const LIB: &str = "#!lua name=lib\n\
        redis.register_function('setk', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
        redis.register_function{function_name='loop', callback=function() while true do end end, flags={'no-writes'}}\n\
        redis.register_function('rand', function(keys) redis.call('set', keys[1], math.random(1000000)) return 1 end)";

    #[test]
    fn functions_outlive_the_lua_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(dir.path());
        assert_eq!(
            run(&ks, NOW, &["FUNCTION", "LOAD", LIB]),
            Reply::Bulk(Bytes::from_static(b"lib"))
        );
        assert_eq!(
            run(&ks, NOW, &["FCALL", "setk", "1", "k", "1"]),
            Reply::ok()
        );
        // SCRIPT FLUSH drops the state: the libraries are loaded again.
        assert_eq!(run(&ks, NOW, &["SCRIPT", "FLUSH"]), Reply::ok());
        assert_eq!(
            run(&ks, NOW, &["FCALL", "SETK", "1", "k", "2"]),
            Reply::ok()
        );
        // A function stopped by the budget drops the state likewise.
        let reply = run(&ks, NOW, &["FCALL_RO", "loop", "0"]);
        assert!(
            matches!(&reply, Reply::Error(e) if e.starts_with("ERR Script killed")),
            "{reply:?}"
        );
        assert_eq!(
            run(&ks, NOW, &["FCALL", "setk", "1", "k", "3"]),
            Reply::ok()
        );
        assert_eq!(
            run(&ks, NOW, &["GET", "k"]),
            Reply::Bulk(Bytes::from_static(b"3"))
        );
        // A failed LOAD and a failed REPLACE leave the library as it was.
        let reply = run(
            &ks,
            NOW,
            &["FUNCTION", "LOAD", "REPLACE", "#!lua name=lib\nx = 1"],
        );
        assert!(matches!(reply, Reply::Error(_)), "{reply:?}");
        assert_eq!(
            run(&ks, NOW, &["FCALL", "setk", "1", "k", "4"]),
            Reply::ok()
        );
    }

    #[test]
    fn a_function_is_deterministic_given_the_ctx() {
        // Two keyspaces with different histories (one rebuilt its state)
        // write the same random value from the same Ctx.
        let (d1, d2) = (
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
        );
        let (a, b) = (open(d1.path()), open(d2.path()));
        for ks in [&a, &b] {
            assert_eq!(
                run(ks, NOW, &["FUNCTION", "LOAD", LIB]),
                Reply::Bulk(Bytes::from_static(b"lib"))
            );
        }
        assert_eq!(
            run(&b, NOW, &["EVAL", "return math.random()", "0"]),
            run(&a, NOW, &["EVAL", "return math.random()", "0"])
        );
        assert_eq!(run(&b, NOW, &["SCRIPT", "FLUSH"]), Reply::ok());
        for ks in [&a, &b] {
            assert_eq!(
                run(ks, NOW, &["FCALL", "rand", "1", "r"]),
                Reply::Integer(1)
            );
        }
        assert_eq!(run(&a, NOW, &["GET", "r"]), run(&b, NOW, &["GET", "r"]));
    }

    #[test]
    fn metadata_errors_are_redis_s() {
        assert_eq!(
            metadata(b"return 1").unwrap_err(),
            "ERR Missing library metadata"
        );
        assert_eq!(
            metadata(b"#!lua").unwrap_err(),
            "ERR Invalid library metadata"
        );
        assert_eq!(
            metadata(b"#!\n").unwrap_err(),
            "ERR Library name was not given"
        );
        assert_eq!(
            metadata(b"#!lua foo=b\n").unwrap_err(),
            "ERR Invalid metadata value given: foo=b"
        );
        assert_eq!(
            metadata(b"#!lua name=a name=b\n").unwrap_err(),
            "ERR Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(
            metadata(b"#!lua\n").unwrap_err(),
            "ERR Library name was not given"
        );
        assert_eq!(
            metadata(b"#!lua name=lib\nreturn").unwrap(),
            ("lua".to_owned(), "lib".to_owned(), 14)
        );
    }

    #[test]
    fn payload_round_trip() {
        let mut f = Functions::default();
        f.link(
            "a".into(),
            Library {
                code: Bytes::from_static(b"#!lua name=a\nx"),
                functions: BTreeMap::new(),
            },
        );
        let payload = f.dump();
        assert_eq!(payload[0], OPCODE_FUNCTION2);
        assert_eq!(
            parse_payload(&payload).unwrap(),
            vec![Bytes::from_static(b"#!lua name=a\nx")]
        );
        // Redis 7.0.15's dump of no libraries.
        let empty = [0x0a, 0x00, 0x5d, 0x9b, 0x5c, 0x40, 0x0f, 0x7f, 0xa2, 0xda];
        assert_eq!(Functions::default().dump(), empty);
        assert_eq!(
            parse_payload(b"x"),
            Err("DUMP payload version or checksum are wrong")
        );
    }
}
