-- The sandbox of the scripts (see scripting.rs, `Engine`). Runs once per
-- Lua state, with the real globals, before any user script is loaded; the
-- state then serves script after script, so nothing here may be left
-- writable to a script. `raw` holds the Rust callbacks and the set of
-- protected tables. Returns the environment of the user's scripts, the
-- real globals (where KEYS and ARGV go), the runner (xpcall with Redis
-- 7.0's error handler), `where`, the real `redis` table (where each
-- call installs its own redis.call / redis.pcall), the runner of a
-- library's function and the maker of a library's environment
-- (functions.rs).
local raw = ...

-- Locals captured before the globals are cut down: the sandbox's own
-- functions keep working whatever the script can see.
local G = _G
local getinfo = debug.getinfo
local error, type, tostring, select = error, type, tostring, select
local rawget, setmetatable, setfenv = rawget, setmetatable, setfenv
local xpcall, loadstring = xpcall, loadstring
local concat = table.concat
-- The source of this chunk (`=[redis]`): frames of it are skipped when the
-- error handler looks for the script line an error comes from.
local INTERNAL = getinfo(1, 'S').source
local READONLY = 'Attempt to modify a readonly table'
local take_error = raw.take_error

-- What Redis 7.0 does not offer a script.
for _, name in ipairs({ 'debug', 'os', 'io', 'package', 'require', 'dofile', 'loadfile',
  'print', 'getfenv', 'setfenv', 'newproxy', 'module' }) do
  G[name] = nil
end

-- The Redis API functions are Rust callbacks (C functions to Lua: a
-- `return redis.call(...)` tail call keeps the script's frame, which the
-- error handler reports, as Redis's C functions do). math.random /
-- math.randomseed are seeded by the command's Ctx (Lua 5.1's used C's
-- rand(): global state, another sequence on every replica).
math.random, math.randomseed = raw.random, raw.randomseed
-- redis.call / redis.pcall borrow the running command, so each script
-- call sets its own into this table (`Engine::run`).
local redis = {
  sha1hex = raw.sha1hex,
  log = raw.log,
  setresp = raw.setresp,
  acl_check_cmd = raw.acl_check_cmd,
  REDIS_VERSION = raw.version,
  REDIS_VERSION_NUM = raw.version_num,
}
redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  if s:sub(1, 1) ~= '-' then s = '-' .. s end
  if s:find(' ', 1, true) then return { err = s:sub(2) } end
  return { err = 'ERR ' .. s:sub(2) }
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  return { ok = s }
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
G.redis = redis
G.bit = raw.bit
G.cjson = raw.cjson

-- Read-only tables, as Redis 7.0 makes the globals and the libraries: a
-- proxy whose writes fail (vanilla Lua 5.1 has no read-only flag).
local protected = raw.protected
local function readonly_write() error(READONLY, 2) end
local function protect(t, strict_globals)
  local index = t
  if strict_globals then
    index = function(_, k)
      local v = rawget(t, k)
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end
  end
  local proxy = setmetatable({}, { __index = index, __newindex = readonly_write, __metatable = false })
  protected[proxy] = true
  return proxy
end
for _, name in ipairs({ 'string', 'math', 'table', 'coroutine', 'redis', 'bit', 'cjson' }) do
  if type(G[name]) == 'table' then G[name] = protect(G[name]) end
end
local env = protect(G, true)
G._G = env
-- The strings' metatable is shared by every string of the state, so a
-- script could otherwise change what `s:upper()` means for the next one
-- (Redis 7.0 makes it read-only too): getmetatable('') gives a read-only
-- view whose __index is `string` (the read-only one), as Redis's.
local string_meta = getmetatable('')
string_meta.__metatable = protect({ __index = G.string })
-- rawset / setmetatable would otherwise open the proxies (Rust checks
-- `protected`).
G.rawset, G.setmetatable = raw.rawset, raw.setmetatable
-- pcall as Redis 7.0's: an error table is caught as its `err` text, and
-- so are the Rust callbacks' errors (which mlua raises as a userdata).
local pcall = pcall
local function caught(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'userdata' then
    local _, text = take_error()
    if text then return false, text end
  elseif type(e) == 'table' and type(rawget(e, 'err')) == 'string' then
    return false, rawget(e, 'err')
  end
  return false, ...
end
G.pcall = function(...) return caught(pcall(...)) end
-- Code loaded by a script runs in the script's environment, never from
-- bytecode (a sandbox escape in Lua 5.1).
G.loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  local f, e = loadstring(s, name)
  if f then setfenv(f, env) end
  return f, e
end
G.load = function(reader, name)
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  return G.loadstring(concat(parts), name or '=(load)')
end

-- Redis 7.0's error handler: the error as a table with `err`, plus the
-- script source and line it was raised at (skipping one C frame, as
-- Redis does, and the frames of this chunk, which Redis does not have).
local function handler(err)
  local level = 2
  local i = getinfo(level, 'Sl')
  if i and i.what == 'C' then
    level = level + 1
    i = getinfo(level, 'Sl')
  end
  while i and (i.source == INTERNAL or i.what == 'C') do
    level = level + 1
    i = getinfo(level, 'Sl')
  end
  if type(err) == 'userdata' then
    -- Raised by a Rust callback: the error it meant (a table for
    -- redis.call, else text) is waiting in `take_error`.
    local is_table, text = take_error()
    if is_table then
      err = { err = text }
    elseif text then
      err = text
    end
  end
  if type(err) ~= 'table' then
    err = { err = 'ERR ' .. tostring(err) }
  elseif type(rawget(err, 'err')) ~= 'string' then
    err = { err = 'ERR ' .. tostring(rawget(err, 'err')) }
  end
  if i then
    err.source = i.source
    err.line = i.currentline
  end
  return err
end
local function run(f)
  return xpcall(f, handler)
end
-- A function of a library (FCALL): called with its KEYS and ARGV tables
-- (not a tail call, so that its frame stays for the error handler).
local function run_function(f, keys, args)
  return xpcall(function() return (f(keys, args)) end, handler)
end

-- What a library's code sees while FUNCTION LOAD runs it (Redis 7.0):
-- only `redis` with register_function, log, the LOG_* levels and the
-- version; anything else is a nonexistent global.
local load_redis = {
  register_function = raw.register_function,
  log = raw.log,
  REDIS_VERSION = raw.version,
  REDIS_VERSION_NUM = raw.version_num,
}
load_redis.LOG_DEBUG, load_redis.LOG_VERBOSE = 0, 1
load_redis.LOG_NOTICE, load_redis.LOG_WARNING = 2, 3
local load_env = protect({ redis = protect(load_redis, true) }, true)
-- The environment of one library: the load API while its code runs, the
-- scripts' environment once `activate` is called (Redis switches the
-- globals' __index likewise), read-only throughout.
local function library_env()
  local meta = { __index = load_env, __newindex = readonly_write, __metatable = false }
  local proxy = setmetatable({}, meta)
  protected[proxy] = true
  return proxy, function() meta.__index = env end
end

-- "chunk:line: " of the frame `level` levels up from the caller (what
-- luaL_where gives a C function's errors).
local function where(level)
  local i = getinfo(level + 1, 'Sl')
  if i and i.currentline >= 0 then return i.short_src .. ':' .. i.currentline .. ': ' end
  return ''
end

return env, G, run, where, redis, run_function, library_env
