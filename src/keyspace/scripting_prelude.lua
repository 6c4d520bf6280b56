-- The sandbox of one EVAL (see scripting.rs). Runs once per script call,
-- in a fresh Lua state, with the real globals, before the user's script is
-- loaded. `raw` holds the Rust callbacks; `seed` seeds math.random.
-- Returns the environment of the user's script, the real globals (where
-- KEYS and ARGV go) and the runner (xpcall with Redis 7.0's error handler).
local raw, seed = ...

-- Locals captured before the globals are cut down: the sandbox's own
-- functions keep working whatever the script can see.
local G = _G
local getinfo = debug.getinfo
local error, type, tostring, select = error, type, tostring, select
local rawget, rawset, setmetatable, setfenv = rawget, rawset, setmetatable, setfenv
local xpcall, loadstring, load, floor = xpcall, loadstring, load, math.floor
local concat = table.concat
-- The source of this chunk (`=[redis]`): frames of it are skipped when the
-- error handler looks for the script line an error comes from.
local INTERNAL = getinfo(1, 'S').source
local READONLY = 'Attempt to modify a readonly table'

-- What Redis 7.0 does not offer a script.
for _, name in ipairs({ 'debug', 'os', 'io', 'package', 'require', 'dofile', 'loadfile',
  'print', 'getfenv', 'setfenv', 'newproxy', 'module' }) do
  G[name] = nil
end

-- math.random / math.randomseed over a deterministic generator seeded by
-- the command's Ctx (Lua 5.1's used C's rand(): global state shared by
-- every thread, another sequence on every replica). Park-Miller "minimal
-- standard", exact in doubles (products stay below 2^46).
local state = seed % 2147483646 + 1
local function next_fraction()
  state = (state * 16807) % 2147483647
  return (state - 1) / 2147483646
end
-- luaL_checkint: a C cast to int (x86 gives INT_MIN out of range).
local function checkint(v, n)
  local x = tonumber(v)
  if x == nil then
    error("bad argument #" .. n .. " to 'random' (number expected, got " .. type(v) .. ")", 3)
  end
  x = x >= 0 and floor(x) or -floor(-x)
  if x ~= x or x >= 2147483648 or x < -2147483648 then
    x = -2147483648
  end
  return x
end
math.random = function(...)
  local argc = select('#', ...)
  local r = next_fraction()
  if argc == 0 then
    return r
  elseif argc == 1 then
    local u = checkint((...), 1)
    if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * u) + 1
  elseif argc == 2 then
    local l, u = ...
    l, u = checkint(l, 1), checkint(u, 2)
    if l > u then error("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (u - l + 1)) + l
  end
  error('wrong number of arguments', 2)
end
math.randomseed = function(x)
  state = checkint(x, 1) % 2147483646 + 1
end

-- The redis table.
local raw_call, raw_sha1hex = raw.call, raw.sha1hex
local redis = {}
redis.call = function(...)
  local ok, v = raw_call(false, ...)
  if ok then return v end
  error(v)
end
redis.pcall = function(...)
  local _, v = raw_call(false, ...)
  return v
end
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then error('wrong number of arguments', 0) end
  local s = ...
  if type(s) == 'number' then s = tostring(s) end
  if type(s) ~= 'string' then s = '' end
  return raw_sha1hex(s)
end
redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  if s:sub(1, 1) ~= '-' then s = '-' .. s end
  local space = s:find(' ', 1, true)
  if space then return { err = s:sub(2) } end
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
redis.log = function(...)
  if select('#', ...) < 2 then error('redis.log() requires two arguments or more.', 0) end
  local level = ...
  if type(level) ~= 'number' or level < 0 or level > 3 then error('Invalid debug level.', 0) end
end
redis.setresp = function(...)
  if select('#', ...) ~= 1 then error('redis.setresp() requires one argument.', 0) end
  local v = ...
  if v == 2 then return end
  if v == 3 then error('RESP3 replies are not supported from scripts by this server.', 0) end
  error('RESP version must be 2 or 3.', 0)
end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  if select('#', ...) < 1 then
    error('Please specify at least one argument for this redis lib call', 0)
  end
  local ok, known = raw_call(true, ...)
  if not known then error('Invalid command passed to redis.acl_check_cmd()', 0) end
  return ok
end
redis.REDIS_VERSION = raw.version
redis.REDIS_VERSION_NUM = raw.version_num
G.redis = redis

-- Read-only tables, as Redis 7.0 makes the globals and the libraries: a
-- proxy whose writes fail (vanilla Lua 5.1 has no read-only flag).
local protected = setmetatable({}, { __mode = 'k' })
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
for _, name in ipairs({ 'string', 'math', 'table', 'coroutine', 'redis' }) do
  if type(G[name]) == 'table' then G[name] = protect(G[name]) end
end
local env = protect(G, true)
G._G = env
-- rawset / setmetatable would otherwise open the proxies.
G.rawset = function(t, k, v)
  if protected[t] then error(READONLY, 0) end
  return rawset(t, k, v)
end
G.setmetatable = function(t, mt)
  if protected[t] then error(READONLY, 0) end
  return setmetatable(t, mt)
end
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

return env, G, run
