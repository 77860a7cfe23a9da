-- A script set from a ConfigMap (DESIGN contract 3): kind scripts replaced
-- or wrapped live, checked whole before they replace the running ones.
--
--   local set, err = scriptset.build({ ["kinds.trainingjob.lua"] = source, ... },
--     builtin,            -- { trainingjob = <built-in kind module>, ... }: the kinds run
--     builtin_versions)   -- { trainingjob = "builtin-..." }
--   -- set.kinds["trainingjob"] = the kind module to run now
--   -- set.versions["trainingjob"] = "configmap-3f2a9c1d0b4e" | "builtin-..."
--   -- set.digest = the set's SHA-256 (hex), set.ignored = { keys not run }
--   -- err: one line naming the key (and line) at fault
--
-- Keys are `<module>.lua`, and only `kinds.*` modules may be replaced: the
-- driver, the AWS clients and the host stay as built. A key's script runs
-- in a fresh environment whose require sees, in this order:
--   1. the set's own keys (`kinds.trainingjob`, `kinds.lib.job`, ...);
--   2. `builtin.<module>`: the built-in version of a kind module, so a key
--      can wrap it instead of copying it (`local base =
--      require("builtin.kinds.trainingjob")`);
--   3. the built-in `kinds.*` modules, loaded afresh inside the set, so
--      replacing `kinds.lib.job` changes every job kind;
--   4. a few shared modules (SHARED below): JSON, YAML, regexes, logging,
--      tasks, the AWS model and errors, spec conversion.
-- Anything else (smop.server, smop.http, smop.kube, files, processes) is
-- refused: whoever can edit the ConfigMap decides what the operator does
-- with its AWS credentials, but not what else the process can reach.
--
-- Checked before use: every key compiles, every running kind loads through
-- the set and still names the same kind, resource and status field, and
-- has reconcile and finalize. A kind no key touches, in a set that
-- replaces no `kinds.lib.*` module, keeps its running module and version.
local scripts = require("smop.scripts")
local sigv4 = require("smop.sigv4")

local M = {}

M.SHARED = {
  ["smop.json"] = true, ["smop.yaml"] = true, ["smop.regex"] = true, ["smop.log"] = true,
  ["smop.task"] = true, ["smop.scripts"] = true, ["aws.errors"] = true, ["aws.model"] = true,
  ["aws.validate"] = true, ["operator.convert"] = true, ["operator.naming"] = true,
  ["util.encoding"] = true,
}

M.MAX_KEYS = 64

local function sorted(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- The set's digest: every key and its text, in key order.
local function digest(files)
  local parts = {}
  for _, key in ipairs(sorted(files)) do
    parts[#parts + 1] = key .. "\0" .. files[key] .. "\0"
  end
  return sigv4.sha256_hex(table.concat(parts))
end

-- The environment the set's scripts run in, and its require.
local function environment(modules)
  local cache, loading = {}, {}
  -- Every way back to the host's own environment (and its require, which
  -- reaches every module) is closed: getmetatable(_ENV) (__metatable),
  -- _G, and load's default environment all give this env instead.
  local env = setmetatable({}, { __index = _ENV, __metatable = false })
  env._G = env
  function env.load(chunk, chunkname, mode, chunk_env)
    return load(chunk, chunkname, mode, chunk_env or env)
  end
  local function load_module(name)
    local fn
    local src = modules[name]
    if src then
      fn = assert(load(src.text, "=" .. src.key, "t", env))
    else
      local builtin = name:match("^builtin%.(.+)$")
      if builtin and builtin:match("^kinds%.") then
        fn = scripts.load(builtin, env)
      elseif name:match("^kinds%.") then
        fn = scripts.load(name, env)
      end
      if not fn then
        if M.SHARED[name] then return require(name) end
        error(string.format("module '%s' is not available to ConfigMap scripts (kinds.*, "
          .. "builtin.kinds.* and %s)", name, table.concat(sorted(M.SHARED), ", ")), 3)
      end
    end
    return fn(name)
  end
  function env.require(name)
    if type(name) ~= "string" then error("require: a module name is a string", 2) end
    if cache[name] ~= nil then return cache[name] end
    if loading[name] then error("module '" .. name .. "' requires itself (loop in require)", 2) end
    loading[name] = true
    local ok, mod = pcall(load_module, name)
    loading[name] = nil
    if not ok then error(mod, 0) end
    if mod == nil then mod = true end
    cache[name] = mod
    return mod
  end
  return env
end

-- What a kind module must keep to replace the running one.
local function check_kind(name, kind, running)
  if type(kind) ~= "table" then
    return string.format("kinds.%s must return a table (the kind module), not %s", name, type(kind))
  end
  for _, field in ipairs({ "kind", "plural", "status_field" }) do
    if kind[field] ~= running[field] then
      return string.format("kinds.%s: %s is %s; it must stay %s", name, field, tostring(kind[field]),
        tostring(running[field]))
    end
  end
  for _, fn in ipairs({ "reconcile", "finalize" }) do
    if type(kind[fn]) ~= "function" then
      return string.format("kinds.%s has no %s function", name, fn)
    end
  end
end

-- files: ConfigMap data (key -> text). A set always starts from the
-- built-in kinds, never from an earlier set.
function M.build(files, running, builtin_versions)
  local modules, keys = {}, sorted(files)
  if #keys > M.MAX_KEYS then
    return nil, string.format("%d keys; at most %d", #keys, M.MAX_KEYS)
  end
  local set = { kinds = {}, versions = {}, ignored = {}, digest = digest(files) }
  local libs = false
  for _, key in ipairs(keys) do
    local name = key:match("^(kinds%.[%w_%.]+)%.lua$")
    if not name then
      if key:match("%.lua$") then
        return nil, string.format("%s: only kinds.* modules can be replaced (e.g. kinds.trainingjob.lua)",
          key)
      end
      set.ignored[#set.ignored + 1] = key   -- a README, say
    else
      local ok, err = load(files[key], "=" .. key, "t", {})
      if not ok then return nil, err end
      modules[name] = { key = key, text = files[key] }
      if name:match("^kinds%.lib%.") then libs = true end
    end
  end
  local env = environment(modules)
  local version = "configmap-" .. set.digest:sub(1, 12)
  for _, name in ipairs(sorted(running)) do
    local module = "kinds." .. name
    if modules[module] or libs then
      local ok, kind = pcall(env.require, module)
      if not ok then return nil, tostring(kind) end
      local err = check_kind(name, kind, running[name])
      if err then return nil, (modules[module] and modules[module].key or module) .. ": " .. err end
      set.kinds[name], set.versions[name] = kind, version
    else
      set.kinds[name], set.versions[name] = running[name], builtin_versions[name]
    end
  end
  for name, m in pairs(modules) do
    local kind_name = name:match("^kinds%.([%w_]+)$")
    if kind_name and not running[kind_name] then set.ignored[#set.ignored + 1] = m.key end
  end
  table.sort(set.ignored)
  return set
end

return M
