-- Kubernetes Events on the objects the operator reconciles, recorded the
-- way client-go's EventRecorder does: a repeat of the same (object, type,
-- reason, message) bumps `count` and `lastTimestamp` of the Event already
-- written instead of writing another one.
--
--   local rec = events.new{ kube = client, component = "smop", instance = "host" }
--   rec:emit(obj, "Normal", "Created", "Created SageMaker training job x")
--   rec:close(5)      -- writes what is queued (up to 5 s), then stops
--
-- emit never waits: Events are queued and written by the recorder's own
-- task in order (a failed write is logged, never retried into a loop), so
-- a slow or failing API server cannot hold up a reconcile. The queue and the
-- dedup cache are bounded.
local log = require("smop.log")
local task = require("smop.task")

local M = {}
local Recorder = {}
Recorder.__index = Recorder

local MAX_PENDING = 1000
local MAX_MESSAGE = 1024

function M.new(opts)
  local self = setmetatable({
    kube = opts.kube,
    component = opts.component or "smop",
    instance = opts.instance or "smop",
    now = opts.now or task.time,
    max_cache = opts.max_cache or 4096,
    cache = {}, order = {}, first = 1,
    pending = {}, head = 1, tail = 0,   -- the queue is pending[head..tail]
    cond = task.condition(),
    done = task.condition(),
    seq = 0,
  }, Recorder)
  self.task = task.spawn(function() self:loop() end)
  return self
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

function Recorder:emit(obj, etype, reason, message)
  if self.closed then return end
  local meta = obj and obj.metadata
  if type(meta) ~= "table" or not meta.name then return end
  if self.tail - self.head + 1 >= MAX_PENDING then
    log.warn("events: too many events queued; dropping one",
      { kind = obj.kind, namespace = meta.namespace, name = meta.name, reason = reason })
    return
  end
  -- not #self.pending: the written head is nil, and # of a table with
  -- leading holes may be 0, which would put this event behind the head
  self.tail = self.tail + 1
  self.pending[self.tail] = {
    ref = { apiVersion = obj.apiVersion, kind = obj.kind, name = meta.name,
      namespace = meta.namespace, uid = meta.uid, resourceVersion = meta.resourceVersion },
    type = etype, reason = reason, message = tostring(message or ""):sub(1, MAX_MESSAGE),
    time = self.now(),
  }
  self.cond:notify_one()
end

local function events_path(ns)
  return "/api/v1/namespaces/" .. ns .. "/events"
end

function Recorder:remember(key, entry)
  if not self.cache[key] then
    self.order[#self.order + 1] = key
    if #self.order - self.first + 1 > self.max_cache then
      self.cache[self.order[self.first]] = nil
      self.order[self.first] = nil
      self.first = self.first + 1
    end
  end
  self.cache[key] = entry
end

function Recorder:write(ev)
  local ns = ev.ref.namespace or "default"
  local key = table.concat({ ev.ref.uid or ev.ref.name, ev.type, ev.reason, ev.message }, "\0")
  local seen = self.cache[key]
  local now = iso(ev.time)
  if seen then
    local count = seen.count + 1
    local out, err = self.kube:patch(events_path(ns) .. "/" .. seen.name,
      { count = count, lastTimestamp = now }, "merge")
    if out then
      seen.count = count
      return true
    end
    if not (type(err) == "table" and err.code == 404) then return nil, err end
  end
  self.seq = self.seq + 1
  local base = tostring(ev.ref.name):sub(1, 220)
  local name = string.format("%s.%x%04x", base, math.floor(ev.time * 1e6), self.seq % 0x10000)
  local out, err = self.kube:create(events_path(ns), {
    apiVersion = "v1", kind = "Event",
    metadata = { name = name, namespace = ns },
    involvedObject = ev.ref,
    reason = ev.reason, message = ev.message, type = ev.type,
    count = 1, firstTimestamp = now, lastTimestamp = now,
    source = { component = self.component },
    reportingComponent = self.component, reportingInstance = self.instance,
  })
  if not out then return nil, err end
  self:remember(key, { name = name, count = 1 })
  return true
end

function Recorder:loop()
  while true do
    local ev = self.pending[self.head]
    if ev then
      self.pending[self.head] = nil
      self.head = self.head + 1
      local ok, err = self:write(ev)
      if not ok then
        log.warn("events: could not write an Event", { kind = ev.ref.kind, namespace = ev.ref.namespace,
          name = ev.ref.name, reason = ev.reason,
          error = type(err) == "table" and (err.message or err.reason) or tostring(err) })
      end
    elseif self.closed then
      self.finished = true
      self.done:notify_all()
      return
    else
      self.pending, self.head, self.tail = {}, 1, 0
      self.cond:wait()
    end
  end
end

-- Writes what is queued (for up to deadline seconds), then stops.
function Recorder:close(deadline)
  self.closed = true
  self.cond:notify_all()
  local limit = task.now() + (deadline or 5)
  while not self.finished and task.now() < limit do
    self.done:wait(limit - task.now())
  end
  return self.finished == true
end

return M
