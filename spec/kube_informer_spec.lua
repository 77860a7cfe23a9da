-- smop.kube informers against a scripted Kubernetes API (smop.server in this
-- process): LIST pages, watch streams with bookmarks, drops, 410s and error
-- statuses on cue, so every fault is deterministic. The last block runs the
-- same informer against `smop fake-kube` through kube.config and kube.client.
local kube = require("smop.kube")
local server = require("smop.server")
local task = require("smop.task")
local json = require("smop.json")
local http = require("smop.http")

local PATH = "/apis/sagemaker.aws.amazon.com/v1/trainingjobs"
local RESOURCE = "trainingjobs.sagemaker.aws.amazon.com"

local function status_body(code, reason, message)
  return json.encode({ kind = "Status", apiVersion = "v1", metadata = json.object({}),
    status = "Failure", message = message, reason = reason, code = code })
end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return setmetatable(out, getmetatable(v))
end

-- The scripted API server. Objects live in `objects` (key -> object); every
-- change is appended to `history` with its resourceVersion, which watches
-- replay from. Knobs: faults (answers for the next requests), hold_watches,
-- compacted (watches from older RVs get ERROR 410), expire_continue.
local function new_api()
  local api = {
    rv = 100, objects = {}, history = {}, compacted = 0, requests = {}, faults = {},
    streams = {}, changed = task.condition(), serial = 0, token = nil,
  }

  local function bump()
    api.rv = api.rv + 1
    return api.rv
  end

  function api:put(name, spec, ns)
    ns = ns or "default"
    local key = ns .. "/" .. name
    local old = self.objects[key]
    local rv = bump()
    self.serial = self.serial + 1
    local obj = {
      apiVersion = "sagemaker.aws.amazon.com/v1", kind = "TrainingJob",
      metadata = { name = name, namespace = ns, resourceVersion = tostring(rv),
        uid = old and old.metadata.uid or ("uid-" .. name .. "-" .. self.serial),
        managedFields = json.array({ { manager = "kubectl", operation = "Update" } }) },
      spec = spec or { n = 0 },
    }
    self.objects[key] = obj
    self.history[#self.history + 1] = { rv = rv, type = old and "MODIFIED" or "ADDED",
      object = deep_copy(obj) }
    self.changed:notify_all()
    return obj
  end

  function api:delete(name, ns)
    local key = (ns or "default") .. "/" .. name
    local obj = assert(self.objects[key])
    self.objects[key] = nil
    local gone = deep_copy(obj)
    gone.metadata.resourceVersion = tostring(bump())
    self.history[#self.history + 1] = { rv = api.rv, type = "DELETED", object = gone }
    self.changed:notify_all()
  end

  -- Advances the RV without a change to our resource (another kind was
  -- written), as the server's clock does.
  function api.tick()
    return bump()
  end

  -- Every open watch sends a BOOKMARK with the current RV.
  function api:bookmark()
    for s in pairs(self.streams) do s.bookmark = true end
    self.changed:notify_all()
  end

  -- Ends every open watch: "close" cleanly, "abort" drops the connection.
  function api:drop(how)
    for s in pairs(self.streams) do s.drop = how or "close" end
    self.changed:notify_all()
  end

  function api:count(kind)
    local n = 0
    for _, r in ipairs(self.requests) do
      if r.kind == kind then n = n + 1 end
    end
    return n
  end

  function api:last(kind)
    for i = #self.requests, 1, -1 do
      if self.requests[i].kind == kind then return self.requests[i] end
    end
  end

  local function sorted_keys()
    local keys = {}
    for k in pairs(api.objects) do keys[#keys + 1] = k end
    table.sort(keys)
    return keys
  end

  local function serve_list(req)
    local a = req.args
    local keys = sorted_keys()
    local offset, list_rv = 0, tostring(api.rv)
    if a["continue"] then
      if api.expire_continue then
        api.expire_continue = nil
        return 410, { ["Content-Type"] = "application/json" }, status_body(410, "Expired",
          "The provided continue parameter is too old to display a consistent list result.")
      end
      list_rv, offset = a["continue"]:match("^(%d+):(%d+)$")
      offset = tonumber(offset)
    end
    local limit = tonumber(a.limit) or #keys
    local items = json.array({})
    for i = offset + 1, math.min(offset + limit, #keys) do
      items[#items + 1] = api.objects[keys[i]]
    end
    local cont = offset + limit < #keys and (list_rv .. ":" .. (offset + limit)) or nil
    return 200, { ["Content-Type"] = "application/json" }, json.encode({
      apiVersion = "sagemaker.aws.amazon.com/v1", kind = "TrainingJobList", items = items,
      metadata = { resourceVersion = list_rv, ["continue"] = cont } })
  end

  local function serve_watch(req)
    while api.hold_watches and not api.closed do api.changed:wait(1) end
    local from = tonumber(req.args.resourceVersion) or 0
    local w = req:stream(200, { ["Content-Type"] = "application/json" })
    if from < api.compacted then
      w:write(json.encode({ type = "ERROR", object = {
        kind = "Status", apiVersion = "v1", metadata = json.object({}), status = "Failure",
        message = string.format("too old resource version: %d (%d)", from, api.compacted),
        reason = "Expired", code = 410 } }) .. "\n")
      return
    end
    local s = {}
    api.streams[s] = true
    local pos = from
    while not s.drop and not api.closed do
      for _, ev in ipairs(api.history) do
        if ev.rv > pos then
          pos = ev.rv
          if not w:write(json.encode({ type = ev.type, object = ev.object }) .. "\n") then
            s.drop = "gone"
            break
          end
        end
      end
      if s.bookmark and not s.drop then
        s.bookmark = nil
        w:write(json.encode({ type = "BOOKMARK", object = {
          apiVersion = "sagemaker.aws.amazon.com/v1", kind = "TrainingJob",
          metadata = { resourceVersion = tostring(api.rv) } } }) .. "\n")
      end
      if not s.drop and not api.closed then api.changed:wait(1) end
    end
    api.streams[s] = nil
    if s.drop == "abort" then w:abort() end
  end

  function api.handler(req)
    local kind = req.args.watch and "watch" or "list"
    api.requests[#api.requests + 1] = { kind = kind, args = req.args,
      auth = req.headers.authorization, path = req.path }
    if req.path ~= PATH then
      return 404, { ["Content-Type"] = "application/json" },
        status_body(404, "NotFound", "the server could not find the requested resource")
    end
    if api.token and req.headers.authorization ~= "Bearer " .. api.token then
      return 401, { ["Content-Type"] = "application/json" },
        status_body(401, "Unauthorized", "Unauthorized")
    end
    local fault = api.faults[1]
    if fault and (not fault.kind or fault.kind == kind) then
      fault.count = (fault.count or 1) - 1
      if fault.count <= 0 then table.remove(api.faults, 1) end
      return fault.status, { ["Content-Type"] = "application/json",
        ["Retry-After"] = fault.retry_after }, fault.body
    end
    if kind == "watch" then return serve_watch(req) end
    return serve_list(req)
  end

  return api
end

-- Yields until check() holds; fails after a generous deadline (not a
-- timing assertion: only a hang guard).
local function eventually(check, what)
  local deadline = task.now() + 15
  while not check() do
    if task.now() > deadline then error("timed out waiting for " .. what, 2) end
    task.sleep(0.005)
  end
end

-- Runs fn(api, srv) in a task with the scripted server; a watchdog closes
-- informers that hang so a failing spec ends instead of blocking.
local function with_api(fn)
  task.run(function()
    local api = new_api()
    local srv = assert(server.listen({ handler = api.handler }))
    local ok, err = pcall(fn, api, srv)
    -- end the handlers still streaming, so no task outlives the spec
    api.closed = true
    api.changed:notify_all()
    task.sleep(0)
    srv:close()
    if not ok then
      error(type(err) == "table" and tostring(err.message) or err, 0)
    end
  end)
end

local function informer(srv, opts)
  opts = opts or {}
  opts.server = srv.url
  opts.path = opts.path or PATH
  opts.backoff = opts.backoff or { base = 0.001, max = 0.02 }
  return assert(kube.informer(opts))
end

-- Reads n events, failing (instead of hanging) if they do not come.
local function take(inf, n)
  local out, done = {}, task.condition()
  task.spawn(function()
    if not done:wait(15) then inf:close() end
  end)
  for i = 1, n do
    local ev, err = inf:next()
    if not ev then done:notify_all() end
    assert(ev, "informer:next: " .. tostring(err) .. " after " .. (i - 1) .. " events")
    out[#out + 1] = ev
  end
  done:notify_all()
  return out
end

local function summary(events)
  local out = {}
  for _, ev in ipairs(events) do
    out[#out + 1] = ev.type .. " " .. ev.key
  end
  return out
end

describe("smop.kube informer", function()
  it("lists page by page, then delivers ADDED for each object and becomes synced", function()
    with_api(function(api, srv)
      for _, n in ipairs({ "a", "b", "c", "d", "e" }) do api:put(n) end
      local inf = informer(srv, { page_size = 2 })
      assert.is_false(inf:synced())
      local evs = take(inf, 4)
      assert.are.same({ "ADDED default/a", "ADDED default/b", "ADDED default/c",
        "ADDED default/d" }, summary(evs))
      assert.is_false(inf:synced())
      evs = take(inf, 1)
      assert.are.same({ "ADDED default/e" }, summary(evs))
      assert.is_true(inf:synced())
      assert.are.equal(3, api:count("list"))
      local first, third = api.requests[1], api.requests[3]
      assert.are.equal("2", first.args.limit)
      assert.is_nil(first.args["continue"])
      assert.are.equal("105:4", third.args["continue"])
      -- the object arrives decoded, arrays marked, managedFields dropped
      local a = inf:get("default/a")
      assert.are.equal("a", a.metadata.name)
      assert.is_nil(a.metadata.managedFields)
      assert.are.same(evs[1].object, inf:get("default/e"))
      -- the store keeps text: each get is a copy of its own to change
      local copy = inf:get("default/e")
      assert.are_not.equal(copy, inf:get("default/e"))
      copy.spec.n = 99
      assert.are.equal(0, inf:get("default/e").spec.n)
      assert.are.equal(5, #inf:list())
      eventually(function() return api:count("watch") == 1 end, "the watch")
      local w = api:last("watch")
      assert.are.equal("105", w.args.resourceVersion)
      assert.are.equal("true", w.args.allowWatchBookmarks)
      assert.are.equal("1", w.args.watch)
      local t = tonumber(w.args.timeoutSeconds)
      assert.is_true(t >= 300 and t <= 600)
      local st = inf:state()
      assert.are.equal("watching", st.phase)
      assert.are.equal("105", st.resource_version)
      assert.are.equal(0, st.relists)
      inf:close()
    end)
  end)

  it("is synced at once when the first list is empty; selectors go on every request", function()
    with_api(function(api, srv)
      local inf = informer(srv, { label_selector = "app in (a,b),tier!=x",
        field_selector = "metadata.namespace=team-a" })
      eventually(function() return inf:synced() end, "synced")
      api:put("late")
      assert.are.same({ "ADDED default/late" }, summary(take(inf, 1)))
      for _, r in ipairs(api.requests) do
        assert.are.equal("app in (a,b),tier!=x", r.args.labelSelector)
        assert.are.equal("metadata.namespace=team-a", r.args.fieldSelector)
      end
      assert.are.equal(2, #api.requests)
      inf:close()
    end)
  end)

  it("streams ADDED, MODIFIED and DELETED from the watch, advancing the resourceVersion", function()
    with_api(function(api, srv)
      api:put("a")
      local inf = informer(srv)
      take(inf, 1)
      api:put("b", { n = 1 })
      api:put("a", { n = 2 })
      api:delete("b")
      local evs = take(inf, 3)
      assert.are.same({ "ADDED default/b", "MODIFIED default/a", "DELETED default/b" },
        summary(evs))
      assert.are.equal(2, evs[2].object.spec.n)
      assert.are.equal("b", evs[3].object.metadata.name)
      assert.is_nil(evs[3].final_state_unknown)
      assert.is_nil(inf:get("default/b"))
      assert.are.equal(2, inf:get("default/a").spec.n)
      eventually(function() return inf:state().resource_version == tostring(api.rv) end,
        "the last RV")
      inf:close()
    end)
  end)

  it("re-watches from the last resourceVersion after a clean end or a dropped connection", function()
    with_api(function(api, srv)
      api:put("a")
      local inf = informer(srv)
      take(inf, 1)
      api:put("b")
      assert.are.same({ "ADDED default/b" }, summary(take(inf, 1)))
      local rv_b = tostring(api.rv)
      eventually(function() return next(api.streams) ~= nil end, "an open watch")
      api:drop("close")
      api:put("c")     -- made while no watch is open: replayed from rv_b
      assert.are.same({ "ADDED default/c" }, summary(take(inf, 1)))
      local watches = {}
      for _, r in ipairs(api.requests) do
        if r.kind == "watch" then watches[#watches + 1] = r.args.resourceVersion end
      end
      assert.are.equal("101", watches[1])
      assert.are.equal(rv_b, watches[2])
      local rv_c = tostring(api.rv)
      eventually(function() return next(api.streams) ~= nil end, "the new watch")
      api:drop("abort")
      api:put("d")
      assert.are.same({ "ADDED default/d" }, summary(take(inf, 1)))
      assert.are.equal(rv_c, api:last("watch").args.resourceVersion)
      assert.are.equal(2, inf:state().restarts)
      assert.are.equal(0, inf:state().relists)
      assert.are.equal(1, api:count("list"))
      inf:close()
    end)
  end)

  it("advances the resourceVersion on bookmarks and re-watches from it", function()
    with_api(function(api, srv)
      api:put("a")
      local inf = informer(srv)
      take(inf, 1)
      eventually(function() return next(api.streams) ~= nil end, "an open watch")
      api.tick()
      local rv = tostring(api.tick())
      api:bookmark()
      eventually(function() return inf:state().resource_version == rv end, "the bookmark RV")
      api:drop("close")
      eventually(function() return api:count("watch") == 2 end, "the second watch")
      assert.are.equal(rv, api:last("watch").args.resourceVersion)
      assert.are.equal(0, inf:state().queued) -- a bookmark is not an event
      inf:close()
    end)
  end)

  it("relists on an ERROR 410 in a 200 stream: synthetic DELETED, ADDED and MODIFIED", function()
    with_api(function(api, srv)
      api:put("a")
      api:put("b", { n = 1 })
      api:put("c")
      local inf = informer(srv)
      take(inf, 3)
      eventually(function() return next(api.streams) ~= nil end, "an open watch")
      -- the watch drops, and while the informer cannot watch, history moves
      -- on and is compacted
      api.hold_watches = true
      api:drop("close")
      eventually(function() return api:count("watch") == 2 end, "the held re-watch")
      api:delete("b")
      api:put("c", { n = 9 })
      api:put("d")
      api.compacted = api.rv + 1
      api.hold_watches = false
      api.changed:notify_all()
      local evs = take(inf, 3)
      table.sort(evs, function(x, y) return x.key < y.key end)
      assert.are.same({ "DELETED default/b", "MODIFIED default/c", "ADDED default/d" },
        summary(evs))
      -- the made-up DELETED carries the last state the informer saw
      assert.is_true(evs[1].final_state_unknown)
      assert.are.equal(1, evs[1].object.spec.n)
      assert.are.equal("uid-b-2", evs[1].object.metadata.uid)
      assert.are.equal(9, evs[2].object.spec.n)
      assert.is_nil(inf:get("default/b"))
      local st = inf:state()
      assert.are.equal(1, st.relists)
      assert.are.equal(2, api:count("list"))
      -- and the new watch starts from the relist's resourceVersion
      api:put("e")
      assert.are.same({ "ADDED default/e" }, summary(take(inf, 1)))
      inf:close()
    end)
  end)

  it("relists on HTTP 410 for a continue page without duplicating events", function()
    with_api(function(api, srv)
      for _, n in ipairs({ "a", "b", "c", "d", "e" }) do api:put(n) end
      api.expire_continue = true
      local inf = informer(srv, { page_size = 2 })
      local evs = take(inf, 5)
      assert.are.same({ "ADDED default/a", "ADDED default/b", "ADDED default/c",
        "ADDED default/d", "ADDED default/e" }, summary(evs))
      assert.is_true(inf:synced())
      assert.are.equal(1, inf:state().relists)
      assert.are.equal(5, api:count("list")) -- page 1, the 410, then three pages
      eventually(function() return api:count("watch") == 1 end, "the watch")
      assert.are.equal(0, inf:state().queued)
      inf:close()
    end)
  end)

  it("relists when an object was deleted and created again under the same name", function()
    with_api(function(api, srv)
      api:put("a", { n = 1 })
      local inf = informer(srv)
      take(inf, 1)
      eventually(function() return next(api.streams) ~= nil end, "an open watch")
      api.hold_watches = true
      api:drop("close")
      eventually(function() return api:count("watch") == 2 end, "the held re-watch")
      api:delete("a")
      api:put("a", { n = 2 })   -- a new uid
      api.compacted = api.rv + 1
      api.hold_watches = false
      api.changed:notify_all()
      local evs = take(inf, 2)
      assert.are.same({ "DELETED default/a", "ADDED default/a" }, summary(evs))
      assert.are.equal(1, evs[1].object.spec.n)
      assert.are.equal(2, evs[2].object.spec.n)
      inf:close()
    end)
  end)

  it("reports 403 with the server's message, backs off and retries until it works", function()
    with_api(function(api, srv)
      api:put("a")
      local message = 'trainingjobs.sagemaker.aws.amazon.com is forbidden: User ' ..
        '"system:serviceaccount:x:y" cannot list resource "trainingjobs" in API group ' ..
        '"sagemaker.aws.amazon.com" at the cluster scope'
      api.faults = { { kind = "list", status = 403, count = 3,
        body = status_body(403, "Forbidden", message) } }
      local inf = informer(srv)
      assert.are.same({ "ADDED default/a" }, summary(take(inf, 1)))
      assert.are.equal(4, api:count("list"))
      local st = inf:state()
      assert.are.equal("list " .. RESOURCE .. ": 403 Forbidden: " .. message ..
        " (the operator's RBAC role must allow get, list and watch on " .. RESOURCE .. ")",
        st.last_error)
      assert.are.equal(0, st.attempts) -- healthy again
      inf:close()
    end)
  end)

  it("says the CRD is missing on 404 and keeps retrying with backoff", function()
    with_api(function(api, srv)
      local path = "/apis/sagemaker.aws.amazon.com/v1/namespaces/ns1/processingjobs"
      local inf = informer(srv, { path = path })
      eventually(function() return inf:state().attempts >= 3 end, "three failed attempts")
      local st = inf:state()
      assert.are.equal("list processingjobs.sagemaker.aws.amazon.com: the CRD for " ..
        "processingjobs.sagemaker.aws.amazon.com is not installed (GET " .. path ..
        ": 404 Not Found)", st.last_error)
      assert.is_false(inf:synced())
      assert.is_true(api:count("list") >= 3)
      inf:close()
    end)
  end)

  it("retries 5xx, 429 and refused connections, and watch errors, with backoff", function()
    with_api(function(api, srv)
      api:put("a")
      api.faults = {
        { kind = "list", status = 503, body = "upstream connect error" },
        { kind = "list", status = 429, retry_after = "0",
          body = status_body(429, "TooManyRequests", "slow down") },
        { kind = "watch", status = 500, body = status_body(500, "InternalError", "etcd is sad") },
      }
      local inf = informer(srv)
      take(inf, 1)
      eventually(function() return api:count("watch") == 2 end, "the second watch")
      assert.are.equal("watch " .. RESOURCE .. ": 500 Internal Server Error: etcd is sad",
        inf:state().last_error)
      assert.are.equal(3, api:count("list"))
      inf:close()

      -- nothing listening at all
      local dead = assert(server.listen({ handler = api.handler }))
      local url = dead.url
      dead:close()
      local inf2 = assert(kube.informer({ server = url, path = PATH,
        backoff = { base = 0.001, max = 0.01 } }))
      eventually(function() return inf2:state().attempts >= 2 end, "failed attempts")
      assert.matches("^list " .. RESOURCE:gsub("%.", "%%.") .. ": .*onnect",
        inf2:state().last_error)
      inf2:close()
    end)
  end)

  it("pauses the watch while the consumer is slow, and loses nothing", function()
    with_api(function(api, srv)
      local pad = string.rep("x", 1000)
      api:put("a", { n = 0, pad = pad })
      local inf = informer(srv, { queue_bytes = 4096 })
      take(inf, 1)
      eventually(function() return next(api.streams) ~= nil end, "an open watch")
      for i = 1, 200 do api:put("a", { n = i, pad = pad }) end
      eventually(function() return inf:state().paused end, "the pause")
      -- paused: the queue stays near the mark although 200 events were sent
      task.sleep(0.05)
      local st = inf:state()
      assert.is_true(st.paused)
      assert.is_true(st.queued <= 8, "queued " .. st.queued)
      local evs = take(inf, 200)
      for i, ev in ipairs(evs) do
        assert.are.equal(i, ev.object.spec.n)
      end
      assert.is_false(inf:state().paused)
      inf:close()
    end)
  end)

  it("holds the next list page while the consumer is slow", function()
    with_api(function(api, srv)
      local pad = string.rep("y", 1000)
      for i = 1, 9 do api:put("o" .. i, { pad = pad }) end
      local inf = informer(srv, { page_size = 3, queue_bytes = 2048 })
      eventually(function() return inf:state().paused end, "the pause")
      assert.are.equal(1, api:count("list"))
      assert.are.equal(9, #take(inf, 9))
      assert.are.equal(3, api:count("list"))
      assert.is_true(inf:synced())
      inf:close()
    end)
  end)

  it("close() wakes a task waiting in next() and ends the watch", function()
    with_api(function(api, srv)
      api:put("a")
      local inf = informer(srv)
      take(inf, 1)
      eventually(function() return next(api.streams) ~= nil end, "an open watch")
      local in_flight = http.in_flight()
      local waiter = task.spawn(function() return inf:next() end)
      task.sleep(0.01)
      inf:close()
      local ok, ev, err = task.wait(waiter)
      assert.is_true(ok)
      assert.is_nil(ev)
      assert.are.equal("closed", err)
      assert.are.equal(in_flight - 1, http.in_flight())
      assert.are.same({ phase = "closed" }, inf:state())
      assert.are.same({ nil, "closed" }, { inf:next() })
      inf:close() -- idempotent
      api:drop("close")
    end)
  end)

  it("replays its store as SYNC events on resync", function()
    with_api(function(api, srv)
      api:put("a")
      api:put("b")
      local inf = informer(srv, { resync = 0.05 })
      take(inf, 2)
      local evs = take(inf, 2)
      table.sort(evs, function(x, y) return x.key < y.key end)
      assert.are.same({ "SYNC default/a", "SYNC default/b" }, summary(evs))
      assert.are.same(inf:get("default/a"), evs[1].object)
      inf:close()
    end)
  end)

  it("asks its token function again after a 401 and goes on with the new token", function()
    with_api(function(api, srv)
      api.token = "t1"
      local current, calls = "t1", 0
      api:put("a")
      local inf = informer(srv, { token = function()
        calls = calls + 1
        return current
      end })
      take(inf, 1)
      assert.are.equal(1, calls)
      assert.are.equal("Bearer t1", api:last("list").auth)
      eventually(function() return next(api.streams) ~= nil end, "an open watch")
      api.token, current = "t2", "t2"  -- rotated: the old token is refused
      api:drop("close")
      api:put("b")
      assert.are.same({ "ADDED default/b" }, summary(take(inf, 1)))
      assert.are.equal(2, calls)
      assert.are.equal("Bearer t2", api:last("watch").auth)
      assert.matches("401 Unauthorized", inf:state().last_error)
      inf:close()
    end)
  end)

  it("keeps the old token when the token function fails, and says why", function()
    with_api(function(api, srv)
      api.token = "t1"
      local fail = false
      api:put("a")
      local inf = informer(srv, { token = function()
        if fail then return nil, "/var/run/token: No such file or directory" end
        return "t1"
      end })
      take(inf, 1)
      eventually(function() return next(api.streams) ~= nil end, "an open watch")
      fail = true
      api.token = "t2"
      api:drop("close")
      local waiter = task.spawn(function() return inf:next() end)
      eventually(function() return (inf:state().last_error or ""):find("No such file") end,
        "the token error")
      assert.are.equal("watch " .. RESOURCE .. ": no token: /var/run/token: No such file or directory",
        inf:state().last_error)
      inf:close()
      task.wait(waiter)
    end)
  end)

  it("rejects bad options as programmer errors", function()
    assert.has_error(function() kube.informer({ server = "http://x" }) end,
      "kube.informer: options server and path are required")
    assert.has_error(function() kube.informer({ server = "http://x", path = "/a", bogus = 1 }) end,
      "kube.informer: unknown option bogus")
    assert.has_error(function()
      kube.informer({ server = "http://x", path = "/a", token_file = "/t" })
    end)
    assert.has_error(function() kube.informer({ server = "http://x", path = "a" }) end,
      "kube.informer: path must start with /")
    local inf, err = kube.informer({ server = "ftp://x", path = "/a" })
    assert.is_nil(inf)
    assert.are.equal("informer: server must be an http:// or https:// URL", err)
  end)
end)
