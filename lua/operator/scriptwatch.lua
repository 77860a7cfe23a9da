-- Watches the ConfigMap that holds a script set and swaps the kinds'
-- scripts when it changes (operator.scriptset builds and checks the set).
--
--   local w = scriptwatch.start{ kube = client, namespace = "ns", name = "smop-scripts",
--     builtin = { trainingjob = <module>, ... }, builtin_versions = { ... },
--     apply = function(set) end,          -- swap: set.kinds, set.versions
--     events = recorder, metrics = registry }
--   w:state() -> { digest =, source = "builtin" | "configmap ns/name@rv", error = }
--   w:settled() -> true once the first look at the ConfigMap is over
--   w:stop()
--
-- A set that fails its checks changes nothing: the running scripts go on,
-- the failure is logged, counted (smop_script_reloads_total{result=
-- "rejected"}) and told as a Warning Event on the ConfigMap naming the key
-- and line. Deleting the ConfigMap (or emptying it) goes back to the
-- built-in scripts. No ConfigMap is the normal case and says nothing; an
-- informer that cannot list ConfigMaps (RBAC) is logged once.
local log = require("smop.log")
local scriptset = require("operator.scriptset")
local task = require("smop.task")

local M = {}
local Watch = {}
Watch.__index = Watch

function M.start(opts)
  local self = setmetatable({ opts = opts, where = opts.namespace .. "/" .. opts.name,
    source = "builtin" }, Watch)
  local inf, err = opts.kube:informer({
    path = "/api/v1/namespaces/" .. opts.namespace .. "/configmaps",
    field_selector = "metadata.name=" .. opts.name,
  })
  if not inf then return nil, err end
  self.informer = inf
  self.wake = task.condition()
  self.task = task.spawn(function() self:loop() end)
  self.checker = task.spawn(function() self:check_errors() end)
  return self
end

function Watch:count(result)
  local m = self.opts.metrics
  if m then m:inc("smop_script_reloads_total", { result = result }) end
end

function Watch:event(obj, etype, reason, message)
  if self.opts.events and obj then self.opts.events:emit(obj, etype, reason, message) end
end

-- Builds the set in a task of its own: a runaway script hits its CPU
-- budget there, not here.
local function build(files, builtin, versions)
  local h = task.spawn(scriptset.build, files, builtin, versions)
  local ok, set, err = task.wait(h)
  if not ok then return nil, tostring(set) end
  return set, err
end

function Watch:use(obj)
  self.busy = true
  self:load(obj)
  self.busy = false
end

function Watch:load(obj)
  local files = {}
  for k, v in pairs(type(obj) == "table" and type(obj.data) == "table" and obj.data or {}) do
    files[k] = v
  end
  local o = self.opts
  local set, err = build(files, o.builtin, o.builtin_versions)
  local rv = obj and obj.metadata and obj.metadata.resourceVersion
  if not set then
    self.error = err
    self:count("rejected")
    log.warn("script set rejected; the running scripts stay", { configmap = self.where,
      resourceVersion = rv, error = err })
    self:event(obj, "Warning", "ScriptsRejected", "script set not loaded, the running scripts stay: " .. err)
    return
  end
  if set.digest == self.digest then return end
  self.digest, self.error = set.digest, nil
  self.source = next(files) and ("configmap " .. self.where .. "@" .. tostring(rv)) or "builtin"
  o.apply(set)
  self:count("loaded")
  local changed = {}
  for name, version in pairs(set.versions) do
    if version ~= o.builtin_versions[name] then changed[#changed + 1] = name .. " " .. version end
  end
  table.sort(changed)
  local what = #changed > 0 and table.concat(changed, ", ") or "the built-in scripts"
  log.info("script set loaded", { configmap = self.where, resourceVersion = rv, kinds = what,
    ignored = #set.ignored > 0 and table.concat(set.ignored, ",") or nil })
  local ignored = #set.ignored > 0
    and ("; not kind scripts of this operator: " .. table.concat(set.ignored, ", ")) or ""
  self:event(obj, "Normal", "ScriptsLoaded", "running " .. what .. ignored)
end

function Watch:loop()
  while true do
    local ev = self.informer:next()
    if not ev then return end
    if ev.type == "DELETED" then
      self:use(nil)
    elseif ev.type ~= "SYNC" then
      self:use(ev.object)
    end
  end
end

-- Logs the informer's trouble once (a 403: RBAC lacks configmaps).
function Watch:check_errors()
  local said
  while not self.stopping do
    local st = self.informer:state()
    local err = (st.attempts or 0) > 0 and st.last_error or nil
    if err and err ~= said then
      log.warn("cannot watch the script ConfigMap; running the scripts loaded so far",
        { configmap = self.where, error = err })
    end
    said = err
    self.wake:wait(5)
  end
end

-- Whether the first look at the ConfigMap is over: listed and applied, or
-- the informer cannot list (then the built-in scripts run meanwhile).
function Watch:settled()
  local st = self.informer:state()
  return (self.informer:synced() and not self.busy) or (st.attempts or 0) > 0
end

function Watch:state()
  return { digest = self.digest, source = self.source, error = self.error }
end

function Watch:stop()
  self.stopping = true
  self.wake:notify_all()
  self.informer:close()
end

return M
