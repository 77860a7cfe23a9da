-- The control endpoint under /_smop/, for tests (docs/fake-kube.md has the
-- shapes and curl examples). Like fake-aws's, it needs no token: the fake
-- listens on loopback only.
--
--   GET    /_smop/state                  { resourceVersion, kinds, faults, latency, watches }
--   POST   /_smop/watches/drop           end every open watch now -> { dropped = n }
--   POST   /_smop/watches/expire-next    the next watch gets 410 Expired
--   POST   /_smop/compact                forget retained watch events, as an etcd
--                                         compaction: older resourceVersions get 410
--   GET    /_smop/latency                { seconds }
--   POST   /_smop/latency                { seconds = 0.5 }: every API request waits that long
--   GET    /_smop/faults                 { faults = [...] }
--   POST   /_smop/faults                 { count = N, code = 409|500|429, retryAfter = s,
--                                           verbs = [...], resource = plural, name = name }
--                                         the next N matching writes fail -> { fault = ... }
--   DELETE /_smop/faults                 remove every fault
-- Query parameters work as well as a JSON body (?seconds=0.5, ?count=2&code=429).
local json = require("smop.json")
local status = require("fake.kube.status")
local task = require("smop.task")

local M = {}
local Control = {}
Control.__index = Control

local WRITE_VERBS = { create = true, update = true, patch = true, delete = true, deletecollection = true }
local FAULT_CODES = { [409] = true, [429] = true, [500] = true, [503] = true }

function M.new(app)
  return setmetatable({ app = app, latency = 0, faults = {}, seq = 0, watches = {} }, Control)
end

-- ---- used by the API ----

-- Waits the configured latency (API requests only).
function Control:delay()
  if self.latency > 0 then task.sleep(self.latency) end
end

-- Open watch streams register here so they can be dropped.
function Control:watch_opened(w)
  self.watches[w] = true
end

function Control:watch_closed(w)
  self.watches[w] = nil
end

-- The Status an injected fault answers for this write, or nil.
function Control:take_fault(verb, kind, name)
  if not WRITE_VERBS[verb] then return nil end
  for i, f in ipairs(self.faults) do
    local verb_ok = not f.verbs or f.verbs[verb]
    local res_ok = not f.resource or f.resource == kind.plural
    local name_ok = not f.name or f.name == name
    if verb_ok and res_ok and name_ok then
      f.remaining = f.remaining - 1
      if f.remaining <= 0 then table.remove(self.faults, i) end
      if f.code == 409 then
        return status.conflict(kind, name or "")
      elseif f.code == 429 then
        local st = status.new(429, "TooManyRequests", "Too many requests, please try again later.",
          { retryAfterSeconds = f.retry_after })
        return st, { ["Retry-After"] = tostring(f.retry_after) }
      elseif f.code == 503 then
        return status.new(503, "ServiceUnavailable", "the server is currently unable to handle the request",
          { retryAfterSeconds = f.retry_after }), { ["Retry-After"] = tostring(f.retry_after) }
      end
      return status.internal("injected fault (smop fake-kube control endpoint)")
    end
  end
  return nil
end

-- ---- the endpoint ----

local function answer(code, value)
  return code, { ["Content-Type"] = "application/json", ["Cache-Control"] = "no-cache, private" },
    json.encode(value, { sorted = true }) .. "\n"
end

local function bad(msg)
  return answer(400, { error = msg })
end

-- The request's parameters: the JSON body's fields, then the query's.
local function params(req)
  local p = {}
  if req.body and not req.body:match("^%s*$") then
    local v = json.decode(req.body)
    if type(v) ~= "table" or json.is_array(v) then return nil, "the body must be a JSON object" end
    for k, x in pairs(v) do p[k] = x end
  end
  for k, x in pairs(req.args or {}) do p[k] = x end
  return p
end

local function fault_view(f)
  local verbs = json.array({})
  for v in pairs(f.verbs or {}) do verbs[#verbs + 1] = v end
  table.sort(verbs)
  return { id = f.id, code = f.code, remaining = f.remaining, retryAfter = f.retry_after,
    verbs = f.verbs and verbs or json.null, resource = f.resource or json.null, name = f.name or json.null }
end

function Control:faults_view()
  local list = json.array({})
  for i, f in ipairs(self.faults) do list[i] = fault_view(f) end
  return list
end

function Control:add_fault(p)
  local code = math.tointeger(tonumber(p.code or 500))
  if not code or not FAULT_CODES[code] then return nil, "code must be 409, 429, 500 or 503" end
  local count = math.tointeger(tonumber(p.count or 1))
  if not count or count < 1 then return nil, "count must be a positive integer" end
  local retry = math.tointeger(tonumber(p.retryAfter or p.retry_after or 1))
  if not retry or retry < 0 then return nil, "retryAfter must be a non-negative integer" end
  local verbs
  if p.verbs ~= nil then
    local list = p.verbs
    if type(list) == "string" then
      local split = {}
      for v in list:gmatch("[^,%s]+") do split[#split + 1] = v end
      list = split
    end
    if type(list) ~= "table" then return nil, "verbs must be a list" end
    verbs = {}
    for _, v in ipairs(list) do
      if not WRITE_VERBS[v] then
        return nil, "unknown verb " .. tostring(v) .. " (create, update, patch, delete, deletecollection)"
      end
      verbs[v] = true
    end
  end
  self.seq = self.seq + 1
  local f = { id = self.seq, code = code, remaining = count, retry_after = retry, verbs = verbs,
    resource = type(p.resource) == "string" and p.resource or nil,
    name = type(p.name) == "string" and p.name or nil }
  self.faults[#self.faults + 1] = f
  return f
end

function Control:drop_watches()
  local n = 0
  for w in pairs(self.watches) do
    w:drop()
    n = n + 1
  end
  local store = self.app.store
  if store.drop_watches then store:drop_watches() end
  return n
end

function Control:handle(req, segs)
  local what = table.concat(segs, "/", 2)
  local m = req.method
  local p, perr = params(req)
  if not p then return bad(perr) end
  if what == "state" and m == "GET" then
    local kinds = json.array({})
    for _, g in ipairs(self.app.registry:groups()) do
      for _, vs in ipairs(g.versions) do
        for _, k in ipairs(vs.kinds) do
          kinds[#kinds + 1] = (g.name == "" and "" or (g.name .. "/")) .. vs.version .. "/" .. k.plural
        end
      end
    end
    local nw = 0
    for _ in pairs(self.watches) do nw = nw + 1 end
    return answer(200, { resourceVersion = self.app.store:resource_version(), kinds = kinds,
      faults = self:faults_view(), latency = self.latency, watches = nw })
  elseif what == "watches/drop" and m == "POST" then
    return answer(200, { dropped = self:drop_watches() })
  elseif what == "watches/expire-next" and m == "POST" then
    local store = self.app.store
    if not store.force_expire_next_watch then
      return answer(501, { error = "this store cannot expire watches" })
    end
    store:force_expire_next_watch()
    return answer(200, { ok = true })
  elseif what == "compact" and m == "POST" then
    local store = self.app.store
    if not store.compact then return answer(501, { error = "this store cannot compact" }) end
    store:compact()
    return answer(200, { resourceVersion = store:resource_version() })
  elseif what == "latency" and m == "GET" then
    return answer(200, { seconds = self.latency })
  elseif what == "latency" and m == "POST" then
    local s = tonumber(p.seconds)
    if not s or s < 0 or s > 60 then return bad("seconds must be a number from 0 to 60") end
    self.latency = s
    return answer(200, { seconds = s })
  elseif what == "faults" and m == "GET" then
    return answer(200, { faults = self:faults_view() })
  elseif what == "faults" and m == "POST" then
    local f, err = self:add_fault(p)
    if not f then return bad(err) end
    return answer(200, { fault = fault_view(f) })
  elseif what == "faults" and m == "DELETE" then
    self.faults = {}
    return answer(200, { faults = json.array({}) })
  end
  return answer(404, { error = "no control endpoint " .. m .. " /_smop/" .. what })
end

return M
