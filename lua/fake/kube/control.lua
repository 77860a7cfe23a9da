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
--   GET    /_smop/faults                 { faults = [...] } (each with hits: requests failed)
--   POST   /_smop/faults                 { count = N, code = 401|403|404|409|429|500|503,
--                                           retryAfter = s, verbs = [...], resource = plural,
--                                           name = name, user = "system:serviceaccount:ns:sa" }
--                                         the next N matching requests fail -> { fault = ... };
--                                         without verbs only writes match (create, update,
--                                         patch, delete, deletecollection); reads (get, list,
--                                         watch) only when verbs names them. A huge count
--                                         (1000000) lasts until DELETE.
--   DELETE /_smop/faults                 remove every fault
-- Query parameters work as well as a JSON body (?seconds=0.5, ?count=2&code=429).
local json = require("smop.json")
local status = require("fake.kube.status")
local task = require("smop.task")

local M = {}
local Control = {}
Control.__index = Control

local WRITE_VERBS = { create = true, update = true, patch = true, delete = true, deletecollection = true }
local READ_VERBS = { get = true, list = true, watch = true }
local FAULT_CODES = { [401] = true, [403] = true, [404] = true, [409] = true, [429] = true, [500] = true,
  [503] = true }
-- Verbs whose URL names the object (RBAC's attributes carry that name).
local NAMED_VERBS = { get = true, update = true, patch = true, delete = true }

M.DEFAULT_USER = "system:serviceaccount:default:default"

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

-- What RBAC's authorizer denies with (k8s.io/apiserver responsewriters.forbiddenMessage,
-- wrapped by apierrors.NewForbidden).
local function forbidden(f, verb, kind, name, where)
  local resource = kind.plural .. (where.subresource and ("/" .. where.subresource) or "")
  local scope = where.namespace and string.format('in the namespace "%s"', where.namespace)
    or "at the cluster scope"
  return status.forbidden(kind, NAMED_VERBS[verb] and name or "", string.format(
    'User "%s" cannot %s resource "%s" in API group "%s" %s', f.user, verb, resource, kind.group or "",
    scope))
end

-- The Status (and extra headers) an injected fault answers for this request,
-- or nil. verb is RBAC's (get, list, watch, create, ...); name the object's;
-- where = { namespace =, subresource = } from the URL.
function Control:take_fault(verb, kind, name, where)
  for i, f in ipairs(self.faults) do
    local verb_ok
    if f.verbs then verb_ok = f.verbs[verb] else verb_ok = WRITE_VERBS[verb] end
    local res_ok = not f.resource or f.resource == kind.plural
    local name_ok = not f.name or f.name == name
    if verb_ok and res_ok and name_ok then
      f.remaining = f.remaining - 1
      f.hits = f.hits + 1
      if f.remaining <= 0 then table.remove(self.faults, i) end
      if f.code == 401 then
        return status.new(401, "Unauthorized", "Unauthorized")
      elseif f.code == 403 then
        return forbidden(f, verb, kind, name, where)
      elseif f.code == 404 then
        -- an object that is not there, or (no name) a resource not served
        if name and NAMED_VERBS[verb] then return status.not_found(kind, name) end
        return { page_not_found = true }
      elseif f.code == 409 then
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
  return { id = f.id, code = f.code, remaining = f.remaining, hits = f.hits, retryAfter = f.retry_after,
    verbs = f.verbs and verbs or json.null, resource = f.resource or json.null, name = f.name or json.null,
    user = f.user }
end

function Control:faults_view()
  local list = json.array({})
  for i, f in ipairs(self.faults) do list[i] = fault_view(f) end
  return list
end

function Control:add_fault(p)
  local code = math.tointeger(tonumber(p.code or 500))
  if not code or not FAULT_CODES[code] then return nil, "code must be 401, 403, 404, 409, 429, 500 or 503" end
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
      if not WRITE_VERBS[v] and not READ_VERBS[v] then
        return nil, "unknown verb " .. tostring(v)
          .. " (get, list, watch, create, update, patch, delete, deletecollection)"
      end
      verbs[v] = true
    end
  end
  if p.user ~= nil and (type(p.user) ~= "string" or p.user == "") then
    return nil, "user must be a non-empty string"
  end
  self.seq = self.seq + 1
  local f = { id = self.seq, code = code, remaining = count, hits = 0, retry_after = retry, verbs = verbs,
    resource = type(p.resource) == "string" and p.resource or nil,
    name = type(p.name) == "string" and p.name or nil, user = p.user or M.DEFAULT_USER }
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
