-- The sandbox and the `redis` table, run once per Lua state (sandbox.rs).
-- Arguments: the real globals, the table of Rust functions (`impl`), the
-- server version and its number. Returns the protected globals.
local G, impl, version, version_num = ...
local real_error, real_type, real_rawset, real_rawget = error, type, rawset, rawget
local real_pcall, real_setmetatable, real_tostring = pcall, setmetatable, tostring
local select = select

-- Proxies that refuse writes (Redis's read-only tables).
local protected = real_setmetatable(impl.protected, { __mode = 'k' })
local function protect(real, strict)
  local proxy = {}
  local index = real
  if strict then
    index = function(_, key)
      local value = real[key]
      if value == nil then
        real_error("Script attempted to access nonexistent global variable '"
          .. real_tostring(key) .. "'", 2)
      end
      return value
    end
  end
  real_setmetatable(proxy, {
    __index = index,
    __newindex = function() real_error('Attempt to modify a readonly table', 2) end,
    __metatable = false,
  })
  protected[proxy] = true
  return proxy
end

local error_text = impl.error_text
-- Redis 7's pcall: an error's message rather than the error table.
local function settle(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if real_type(e) == 'table' then
    local message = real_rawget(e, 'err')
    if real_type(message) == 'string' then return false, message end
  elseif real_type(e) == 'userdata' then
    local text = error_text(e)
    if text ~= nil then return false, text end
  end
  return false, e
end
G.pcall = function(...) return settle(real_pcall(...)) end
G.rawset, G.setmetatable = impl.rawset, impl.setmetatable
G.print, G.dofile, G.loadfile, G.module, G.require = nil, nil, nil, nil, nil
G.math.random, G.math.randomseed = impl.random, impl.randomseed

-- `call`, `pcall` and `setresp` are set for each run (vm.rs).
local redis = {}
redis.sha1hex = impl.sha1hex
redis.error_reply = impl.error_reply
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or real_type(s) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  return { ok = s }
end
redis.log = impl.log
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.set_repl = impl.set_repl
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = impl.acl_check_cmd
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = version, version_num
G.redis = redis
impl.redis = redis

-- Protect the libraries, then the globals themselves.
for _, name in ipairs({ 'string', 'math', 'table', 'coroutine', 'redis' }) do
  if G[name] ~= nil then G[name] = protect(G[name], false) end
end
local globals = protect(G, true)
G._G = globals
return globals
