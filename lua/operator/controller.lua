-- One kind's controller: informer -> work queue -> workers -> driver.sync.
--
--   local ctl = controller.new{ kind = require("kinds.trainingjob"), env = driver_env,
--     open_informer = function(path) return kube.informer{ ..., path = path } end,
--     namespace = nil (all) | "ns", max_concurrent = 16,
--     owns = function(key) return true end,   -- this replica's share (--shard)
--     queue = { base_delay = 0.5, max_delay = 300 } }
--   ctl:start()      -- informer and queue: the cache fills, keys queue up
--   ctl:run()        -- the workers: syncs begin (at once, or once elected leader)
--   ctl:synced(); ctl:state(); ctl:shutdown(); ctl:wait(limit)
--
-- A standby replica (leader election) starts but does not run: its cache
-- is warm and its /readyz true, so a rolling update is not held up by it,
-- and it takes over without listing everything again.
--
-- The queue keys are "namespace/name": it never hands one key to two
-- workers at once, so two syncs of one object never overlap (DESIGN
-- contract 1). Each sync runs as its own task, so a kind script that blows
-- its CPU budget or memory cap fails that object (Error), not a worker.
--
-- The informer's store lags behind our own writes. After a sync wrote the
-- object, the controller remembers the version it got back (`fresh`): the
-- watch events of those writes do not queue another sync (the sync already
-- decided when to look again), and a sync that starts before the store has
-- caught up uses the remembered version, not the stale one. Any change made
-- by someone else drops the memory and queues the key. Events that arrive
-- while the key's sync runs (its own writes may come back before their
-- answers do) are held until it ends, then judged the same way.
local driver = require("operator.driver")
local log = require("smop.log")
local queue = require("smop.queue")
local sweep = require("operator.sweep")
local task = require("smop.task")

local M = {}
local Controller = {}
Controller.__index = Controller

M.GROUP_VERSION = "sagemaker.aws.amazon.com/v1"

function M.new(opts)
  local kind = opts.kind
  local gv = kind.group_version or M.GROUP_VERSION
  local path = "/apis/" .. gv .. "/" .. (opts.namespace and ("namespaces/" .. opts.namespace .. "/") or "")
    .. kind.plural
  return setmetatable({
    kind = kind,
    env = opts.env,
    path = path,
    open_informer = opts.open_informer,
    owns = opts.owns,
    max_concurrent = opts.max_concurrent or 16,
    queue_opts = opts.queue or { base_delay = 0.5, max_delay = 300 },
    fresh = {},
    syncing = {},
    workers = 0,
    idle = task.condition(),
  }, Controller)
end

-- A deep copy that keeps the JSON array marks: kind scripts get objects
-- they may change without touching our memory of our own writes.
local function clone(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = clone(x) end
  return setmetatable(out, getmetatable(v))
end

local function rv_of(obj)
  return type(obj) == "table" and type(obj.metadata) == "table" and obj.metadata.resourceVersion or nil
end

function Controller:start()
  local inf, err = self.open_informer(self.path)
  if not inf then return nil, err end
  self.informer = inf
  self.queue = queue.new(self.queue_opts)
  self.feeder = task.spawn(function() self:feed() end)
  -- change detection for kinds that can list what changed (operator.sweep)
  if self.kind.sweep and self.env.aws and self.env.sweep ~= false then
    local interval = self.env.poll_interval or 30
    self.sweep = sweep.new({ def = self.kind.sweep, clients = self.env.aws, interval = interval,
      kind = self.kind.kind, wake = function(key) self.queue:add(key) end })
    self.env.safety_interval = self.env.safety_interval or math.max(10 * interval, 300)
  end
  return true
end

-- Starts the workers (once).
function Controller:run()
  if self.running or self.stopping then return end
  self.running = true
  for _ = 1, self.max_concurrent do
    self.workers = self.workers + 1
    task.spawn(function() self:work() end)
  end
end

-- Informer events -> queue keys.
function Controller:feed()
  while true do
    local ev = self.informer:next()
    if not ev then break end
    if not self.owns or self.owns(ev.key) then self:on_event(ev) end
  end
end

function Controller:on_event(ev)
  local key = ev.key
  local fresh = self.fresh[key]
  local rv = rv_of(ev.object)
  local held = self.syncing[key]
  if held then
    held[#held + 1] = (ev.type == "MODIFIED" or ev.type == "ADDED") and rv or false
  elseif ev.type == "DELETED" then
    self.fresh[key] = nil
    self.queue:add(key)
  elseif ev.type == "SYNC" then
    self.queue:add(key)   -- the periodic resync: the store's view, not news
  elseif fresh and fresh.own[rv] then
    -- our own write coming back: the sync that made it has already decided
    if rv == rv_of(fresh.object) then self.fresh[key] = nil end
  else
    self.fresh[key] = nil
    self.queue:add(key)
  end
end

-- The object to sync for key: the store's, or our newer write of it.
function Controller:current(key)
  local obj = self.informer:get(key)   -- decoded afresh: a copy of its own
  if not obj then return nil end
  local fresh = self.fresh[key]
  if fresh and fresh.own[rv_of(obj)] ~= nil and rv_of(obj) ~= rv_of(fresh.object) then
    return clone(fresh.object)
  end
  return obj
end

function Controller:remember(key, before, res)
  if res.object then
    local fresh = self.fresh[key] or { own = {} }
    -- the version we synced from counts as ours: a sync starting before the
    -- store moved past it uses our write (false: its event needs no skip);
    -- when it was our own write already, its event is still ours to skip
    if before and fresh.own[before] == nil then fresh.own[before] = false end
    for _, rv in ipairs(res.written or {}) do fresh.own[rv] = true end
    fresh.object = res.object
    self.fresh[key] = fresh
  end
  -- the events held during the sync: our own writes need nothing more
  local fresh = self.fresh[key]
  for _, rv in ipairs(self.syncing[key] or {}) do
    if not (rv and fresh and fresh.own[rv]) then
      self.fresh[key] = nil
      self.queue:add(key)
      break
    end
    if rv == rv_of(fresh.object) then self.fresh[key] = nil end
  end
  self.syncing[key] = nil
end

function Controller:sync_one(obj)
  local meta = obj.metadata
  local started = task.now()
  local res = { written = {} }
  -- one script set for the whole sync, even if a new one arrives meanwhile
  local env = self.env
  local h = task.spawn(driver.sync, env, obj, res)
  local ok, err = task.wait(h)
  local result = "success"
  if not ok then
    result = "script_error"
    res = driver.script_failed(env, obj, err, res)
  elseif res.backoff or res.error then
    result = "error"
  end
  local m = env.metrics
  if m then
    local kind = { kind = self.kind.kind }
    m:inc("smop_reconcile_total", { kind = self.kind.kind, result = result })
    m:observe("smop_reconcile_duration_seconds", kind, task.now() - started)
    if result == "script_error" then m:inc("smop_script_errors_total", kind) end
  end
  log.debug("synced", { kind = self.kind.kind, namespace = meta.namespace, name = meta.name,
    status = type(res.object) == "table" and res.object.status
      and res.object.status[self.kind.status_field] or nil,
    requeue_after = res.requeue_after, backoff = res.backoff })
  return res
end

function Controller:work()
  local q = self.queue
  while true do
    local key = q:get()
    if not key then break end
    local obj = not self.stopping and self:current(key) or nil
    if obj then
      self.syncing[key] = {}
      local res = self:sync_one(obj)
      self:remember(key, rv_of(obj), res)
      if self.sweep then
        if res.watch then self.sweep:watch(key, res.watch) else self.sweep:forget(key) end
      end
      if res.backoff then
        q:add_rate_limited(key)
      else
        q:forget(key)
        if res.requeue_after then q:add_after(key, res.requeue_after) end
      end
    else
      q:forget(key)
      self.fresh[key] = nil
      if self.sweep then self.sweep:forget(key) end
    end
    q:done(key)
  end
  self.workers = self.workers - 1
  self.idle:notify_all()
end

-- Runs kind (a script set's version of this controller's kind, with the
-- version its statuses record) from the next sync on.
function Controller:set_kind(kind, version)
  local env = {}
  for k, v in pairs(self.env) do env[k] = v end
  env.kind, env.script_version = kind, version
  self.env, self.kind = env, kind
end

function Controller:synced()
  return self.informer ~= nil and self.informer:synced()
end

function Controller:state()
  local st = self.informer and self.informer:state() or { phase = "stopped" }
  st.kind = self.kind.kind
  st.path = self.path
  st.synced = self:synced()
  if self.queue then
    st.queue = self.queue:len()
    st.retries = self.queue:metrics().retries
  end
  return st
end

-- Stops taking work: no new syncs start (keys still queued are dropped;
-- the next start lists everything again anyway).
function Controller:shutdown()
  self.stopping = true
  if self.sweep then self.sweep:stop() end
  if self.queue then self.queue:shutdown() end
  if self.informer then self.informer:close() end
end

-- Waits until running syncs have finished, or until task.now() passes
-- limit; returns whether they all finished.
function Controller:wait(limit)
  while self.workers > 0 do
    local left = limit - task.now()
    if left <= 0 then
      log.warn("stopping with syncs still running", { kind = self.kind.kind, running = self.workers })
      return false
    end
    self.idle:wait(left)
  end
  return true
end

return M
