-- Change detection (DESIGN "Scale and speed"): SageMaker's rate limits, not
-- CPU, are what stops an operator at scale, and one Describe per running
-- job per poll spends them on jobs that did not change. Instead, for each
-- (region, endpoint) with running resources of a kind, one List call per
-- interval asks which of them changed since the last look
-- (LastModifiedTimeAfter), and only those objects are synced (one Describe
-- each). The calls per job then approach create + one Describe per
-- transition, however many jobs run.
--
--   local sw = sweep.new{ def = kind.sweep, clients = env.aws, interval = 30,
--     wake = function(key) queue:add(key) end }
--   sw:watch("ns/name", { region =, endpoint =, name = "sagemaker-name", modified = epoch })
--   sw:forget("ns/name")       -- terminal, deleted, or polled again
--   sw:stop()
--
-- def = { list = "ListTrainingJobs", items = "TrainingJobSummaries",
--         name = "TrainingJobName" }: the List operation, its result list
-- and the name member of an item; items carry LastModifiedTime.
--
-- The watermark is the newest LastModifiedTime SageMaker has shown for the
-- group, less a slack for its eventual consistency: AWS's own clock, never
-- ours, so a skewed node clock (or the fake's virtual one) cannot hide a
-- change. A List that fails is logged once and tried again next interval;
-- meanwhile every object of the group is woken each interval (plain
-- polling, e.g. when the IAM policy lacks the List permission), except
-- when SageMaker throttles, where more calls would only make it worse.
-- The driver also describes each watched object after its safety interval.
local errors = require("aws.errors")
local log = require("smop.log")
local task = require("smop.task")

local M = {}
local Sweep = {}
Sweep.__index = Sweep

M.SLACK = 60          -- seconds of LastModifiedTime before the watermark still asked for
M.MAX_PAGES = 50      -- of 100 items: a bound on one sweep's work

function M.new(opts)
  local self = setmetatable({
    def = opts.def,
    clients = opts.clients,
    interval = opts.interval or 30,
    wake = opts.wake,
    kind = opts.kind or "?",
    groups = {},        -- "region|endpoint" -> { region, endpoint, names = {name -> entry}, watermark }
    keys = {},          -- key -> entry { key, group, name, modified }
    cond = task.condition(),
  }, Sweep)
  self.task = task.spawn(function() self:loop() end)
  return self
end

local function group_id(region, endpoint)
  return tostring(region) .. "|" .. (endpoint or "")
end

function Sweep:watch(key, w)
  if type(w.modified) ~= "number" then return self:forget(key) end
  local id = group_id(w.region, w.endpoint)
  local entry = self.keys[key]
  if entry and (entry.group ~= id or entry.name ~= w.name) then
    self:forget(key)
    entry = nil
  end
  local g = self.groups[id]
  if not g then
    g = { region = w.region, endpoint = w.endpoint, names = {}, count = 0 }
    self.groups[id] = g
  end
  if not entry then
    entry = { key = key, group = id, name = w.name }
    self.keys[key] = entry
    g.names[w.name] = entry
    g.count = g.count + 1
  end
  entry.modified = math.max(entry.modified or w.modified, w.modified)
  g.watermark = math.max(g.watermark or w.modified, w.modified)
end

function Sweep:forget(key)
  local entry = self.keys[key]
  if not entry then return end
  self.keys[key] = nil
  local g = self.groups[entry.group]
  g.names[entry.name] = nil
  g.count = g.count - 1
  if g.count == 0 then self.groups[entry.group] = nil end
end

function Sweep:watching()
  local n = 0
  for _ in pairs(self.keys) do n = n + 1 end
  return n
end

-- One List sweep of group g: wakes the keys whose resource changed.
function Sweep:sweep_group(g)
  local client, cerr = self.clients:get("sagemaker", g.region, g.endpoint)
  if not client then return nil, cerr end
  local after = g.watermark - M.SLACK
  local token
  for _ = 1, M.MAX_PAGES do
    local out, err = client:call(self.def.list, { LastModifiedTimeAfter = after, MaxResults = 100,
      NextToken = token })
    if not out then return nil, err end
    for _, item in ipairs(out[self.def.items] or {}) do
      local modified = tonumber(item.LastModifiedTime)
      local entry = g.names[item[self.def.name]]
      if modified then
        if modified > g.watermark then g.watermark = modified end
        if entry and modified > entry.modified then
          entry.modified = modified
          self.wake(entry.key)
        end
      end
    end
    token = out.NextToken
    if not token then return true end
  end
  return true
end

function Sweep:loop()
  local said = {}
  while not self.stopping do
    self.cond:wait(self.interval)
    if self.stopping then break end
    local ids = {}
    for id in pairs(self.groups) do ids[#ids + 1] = id end
    for _, id in ipairs(ids) do
      local g = self.groups[id]
      if g and not self.stopping then
        local ok, err = self:sweep_group(g)
        local text = not ok and tostring(err) or nil
        if text and not (errors.is_error(err) and errors.throttled(err)) then
          for _, entry in pairs(g.names) do self.wake(entry.key) end
        end
        if text and text ~= said[id] then
          log.warn("change detection: " .. self.def.list .. " failed; polling each object "
            .. "instead until it works", { kind = self.kind, region = g.region, error = text })
        elseif ok and said[id] then
          log.info("change detection: " .. self.def.list .. " works again", { kind = self.kind,
            region = g.region })
        end
        said[id] = text
      end
    end
  end
end

function Sweep:stop()
  self.stopping = true
  self.cond:notify_all()
end

return M
