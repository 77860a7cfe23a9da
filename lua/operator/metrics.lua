-- Prometheus metrics of the operator, served as text format 0.0.4 on
-- /metrics by the probe server.
--
--   local m = metrics.new()
--   m:inc("smop_reconcile_total", { kind = "TrainingJob", result = "success" })
--   m:observe("smop_reconcile_duration_seconds", { kind = "TrainingJob" }, 0.012)
--   m:collector(function(emit) emit("smop_workqueue_depth", { kind = "..." }, 3) end)
--   m:render() -> text
--
-- Families are declared in FAMILIES (name -> type, help); using an
-- undeclared one is a bug (error). Collectors add gauges read at scrape
-- time (queue depth, informer restarts), so nothing polls in between.
local M = {}
local Registry = {}
Registry.__index = Registry

M.BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 }

local FAMILIES = {
  smop_reconcile_total = { "counter",
    "Syncs of objects, by kind and result (success, error, script_error)." },
  smop_reconcile_duration_seconds = { "histogram", "Time one sync of one object took, by kind." },
  smop_script_errors_total = { "counter",
    "Kind scripts that raised or ran out of CPU budget or memory, by kind." },
  smop_aws_calls_total = { "counter",
    "AWS API calls, by service, operation and error code (empty: success)." },
  smop_aws_throttles_total = { "counter",
    "AWS API calls answered with a throttling error, by service and operation." },
  smop_workqueue_depth = { "gauge", "Keys ready to sync, by kind." },
  smop_workqueue_retries_total = { "counter", "Rate-limited requeues after an error, by kind." },
  smop_watch_restarts_total = { "counter", "Watch streams restarted, by resource." },
  smop_watch_relists_total = { "counter", "Full relists (410 Gone, start), by resource." },
  smop_informer_synced = { "gauge", "1 once the informer delivered its first full list, by resource." },
  smop_lua_memory_bytes = { "gauge", "Memory the Lua VM holds (live data and garbage not yet collected)." },
  smop_script_reloads_total = { "counter", "Script sets from the ConfigMap, by result (loaded, rejected)." },
  smop_leader = { "gauge", "1 while this replica holds the leader Lease, by lease." },
}

function M.new()
  return setmetatable({ series = {}, collectors = {} }, Registry)
end

local function escape(v)
  return (tostring(v):gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub('"', '\\"'))
end

local function label_text(labels, extra)
  local keys = {}
  for k in pairs(labels or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = string.format('%s="%s"', k, escape(labels[k])) end
  if extra then parts[#parts + 1] = extra end
  return #parts > 0 and ("{" .. table.concat(parts, ",") .. "}") or ""
end

function Registry:family(name)
  local f = self.series[name]
  if not f then
    if not FAMILIES[name] then error("metrics: undeclared family " .. tostring(name), 3) end
    f = {}
    self.series[name] = f
  end
  return f
end

function Registry:inc(name, labels, by)
  local f = self:family(name)
  local key = label_text(labels)
  f[key] = (f[key] or 0) + (by or 1)
end

function Registry:observe(name, labels, value)
  local f = self:family(name)
  local key = label_text(labels)
  local h = f[key]
  if not h then
    h = { labels = labels or {}, counts = {}, sum = 0, count = 0 }
    f[key] = h
  end
  for i, le in ipairs(M.BUCKETS) do
    if value <= le then h.counts[i] = (h.counts[i] or 0) + 1 end
  end
  h.sum, h.count = h.sum + value, h.count + 1
end

-- fn(emit) is called at every scrape; emit(name, labels, value) sets a
-- gauge or counter read from elsewhere.
function Registry:collector(fn)
  self.collectors[#self.collectors + 1] = fn
end

local function number(v)
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.17g", v)
end

function Registry:render()
  local scraped = {}
  for _, fn in ipairs(self.collectors) do
    fn(function(name, labels, value)
      if not FAMILIES[name] then error("metrics: undeclared family " .. tostring(name), 2) end
      scraped[name] = scraped[name] or {}
      scraped[name][label_text(labels)] = value
    end)
  end
  local names = {}
  for name in pairs(FAMILIES) do
    if self.series[name] or scraped[name] then names[#names + 1] = name end
  end
  table.sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local kind, help = FAMILIES[name][1], FAMILIES[name][2]
    out[#out + 1] = "# HELP " .. name .. " " .. help
    out[#out + 1] = "# TYPE " .. name .. " " .. kind
    local series = scraped[name] or self.series[name]
    local keys = {}
    for k in pairs(series) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = series[k]
      if kind == "histogram" then
        for i, le in ipairs(M.BUCKETS) do
          out[#out + 1] = string.format("%s_bucket%s %d", name, label_text(v.labels, 'le="' .. le .. '"'),
            v.counts[i] or 0)
        end
        out[#out + 1] = string.format("%s_bucket%s %d", name, label_text(v.labels, 'le="+Inf"'), v.count)
        out[#out + 1] = string.format("%s_sum%s %s", name, k, number(v.sum))
        out[#out + 1] = string.format("%s_count%s %d", name, k, v.count)
      else
        out[#out + 1] = name .. k .. " " .. number(v)
      end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- A smop.server handler answering /metrics, passing anything else to next.
function M.handler(registry, next_handler)
  return function(req)
    if req.path == "/metrics" and (req.method == "GET" or req.method == "HEAD") then
      return 200, { ["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8" }, registry:render()
    end
    return next_handler(req)
  end
end

return M
