-- The fake AWS app: routes a request to the control endpoint or to a
-- service, and runs an API call through the same steps as AWS's front end.
--
--   local fake = require("fake.aws")
--   local app = assert(fake.new{ speed = 1, credentials = { KEY = SECRET },
--                         state = decoded_saved_state, save = function(text) end })
--   -- for specs: now = the virtual clock's start (epoch seconds), real =
--   -- the clock's real-time source, modules = { [service] = module }
--   -- instead of the built-in ones, max_body, max_calls
--   local status, headers, body = app:handle(req)   -- req as smop.server gives it
--
-- An API call: identify service and operation (X-Amz-Target or Action) ->
-- verify SigV4 -> injected faults (latency, throttle, 5xx) -> decode the
-- input -> validate it against the model (aws.validate) -> every module's
-- advance(ctx) -> the handler -> answer; a `drop` fault then cuts the
-- answer short. Every call is recorded for the control endpoint; a call
-- that changed something is saved (--state). The service module contract
-- is in README.md beside this file.
local auth = require("fake.aws.auth")
local clock = require("fake.aws.clock")
local codec = require("fake.aws.codec")
local control = require("fake.aws.control")
local faults = require("fake.aws.faults")
local json = require("smop.json")
local log = require("smop.log")
local model_loader = require("aws.model")
local protocol = require("fake.aws.protocol")
local task = require("smop.task")
local validate = require("aws.validate")

local M = {}
local App = {}
App.__index = App

M.ACCOUNT = "123456789012"
M.DEFAULT_MAX_BODY = 8 << 20
-- Recorded calls: the last MAX_CALLS, holding at most MAX_CALL_BYTES of
-- request bodies; a body over MAX_KEPT_BODY is not kept (params shows
-- only its size), so a stream of PutLogEvents cannot fill the memory.
local MAX_CALLS = 10000
local MAX_CALL_BYTES = 32 << 20
local MAX_KEPT_BODY = 64 << 10
local STATE_VERSION = 1

-- Service name (aws.model) -> module. SageMaker's module merges its families.
local MODULES = {
  sagemaker = "fake.aws.sagemaker",
  ["application-autoscaling"] = "fake.aws.autoscaling",
  logs = "fake.aws.logs",
  sts = "fake.aws.sts",
}

-- Operations that only read: their calls are not saved (a read may advance
-- lifecycles, but advance(ctx) recomputes that from the saved state).
local READ_PREFIXES = { "Describe", "List", "Get", "Filter", "Search", "BatchDescribe", "BatchGet" }

local function is_read(op)
  for _, p in ipairs(READ_PREFIXES) do
    if op:sub(1, #p) == p then return true end
  end
  return false
end

-- Returns the app, or nil, err for a state it cannot load.
function M.new(opts)
  opts = opts or {}
  if opts.state ~= nil and (type(opts.state) ~= "table" or opts.state.version ~= STATE_VERSION) then
    return nil, string.format("the saved state is not version %d of the fake's state", STATE_VERSION)
  end
  local models, modules = {}, {}
  for service, module_name in pairs(MODULES) do
    models[service] = assert(model_loader.load(service))
    modules[service] = (opts.modules and opts.modules[service]) or require(module_name)
  end
  local keys = { [auth.EXAMPLE_KEY] = auth.EXAMPLE_SECRET }
  for k, v in pairs(opts.credentials or {}) do keys[k] = v end
  local services = {}
  for service in pairs(MODULES) do services[service] = true end

  local self = setmetatable({
    routes = protocol.routes(models),
    modules = modules,
    auth = auth.new({ keys = keys, account = M.ACCOUNT }),
    faults = faults.new(services),
    save_fn = opts.save,
    max_body = opts.max_body or M.DEFAULT_MAX_BODY,
    max_calls = opts.max_calls or MAX_CALLS,
    calls = {}, calls_first = 1, seq = 0, calls_bytes = 0,
    calls_changed = task.condition(),
    real = opts.real or task.time,
  }, App)
  self:load_state(opts.state, opts.speed, opts.now)
  return self
end

-- ---- state ----

local function empty_services()
  local s = {}
  for service in pairs(MODULES) do s[service] = {} end
  return s
end

-- saved: a decoded --state file (or nil). The virtual clock resumes as if
-- it had kept running while the fake was down (what AWS's clock does); a
-- --speed given now wins over the saved one.
function App:load_state(saved, speed, start)
  local services = empty_services()
  local now = start
  local saved_speed
  if saved then
    for service, st in pairs(saved.services or {}) do
      if services[service] and type(st) == "table" then services[service] = st end
    end
    local c = saved.clock
    if type(c) == "table" and type(c.now) == "number" and type(c.real) == "number" then
      saved_speed = tonumber(c.speed) or 1
      now = c.now + math.max(0, self.real() - c.real) * saved_speed
    end
  end
  self.state = services
  self.clock = clock.new({ speed = speed or saved_speed or 1, now = now, real = self.real })
end

function App:snapshot()
  return {
    version = STATE_VERSION,
    clock = { now = self.clock:now(), real = self.real(), speed = self.clock.speed },
    services = self.state,
  }
end

-- Writes the state through opts.save (the CLI writes FILE.tmp and renames).
-- A failure is logged, never fatal: the fake keeps serving.
function App:save()
  if not self.save_fn then return end
  local text, err = json.encode(self:snapshot())
  if text then
    local ok, serr = self.save_fn(text)
    if ok then return end
    err = serr
  end
  log.error("fake-aws: cannot save the state", { error = tostring(err) })
end

function App:reset()
  self.state = empty_services()
  self.faults:clear()
  -- seq keeps counting, so a `since` cursor taken before stays valid
  self.calls, self.calls_first, self.calls_bytes = {}, self.seq + 1, 0
  self:save()
end

-- ---- recorded calls ----

function App:record(entry)
  if entry.body and #entry.body > MAX_KEPT_BODY then
    entry.body_size, entry.body = #entry.body, nil
  end
  self.seq = self.seq + 1
  entry.seq = self.seq
  self.calls[self.seq] = entry
  self.calls_bytes = self.calls_bytes + #(entry.body or "")
  while self.seq - self.calls_first + 1 > self.max_calls or self.calls_bytes > MAX_CALL_BYTES do
    local old = self.calls[self.calls_first]
    self.calls_bytes = self.calls_bytes - #(old.body or "")
    self.calls[self.calls_first] = nil
    self.calls_first = self.calls_first + 1
  end
  self.calls_changed:notify_all()
end

-- ---- contexts ----

function App:context(info, request_id, caller)
  local app = self
  local service = info.service
  local route = self.routes.services[service]
  local ctx = {
    service = service,
    operation = info.operation,
    request_id = request_id,
    caller = caller,
    region = caller and caller.region or "us-east-1",
    account = M.ACCOUNT,
    state = self.state[service],
  }
  function ctx.now() return app.clock:now() end
  function ctx.arn(resource, name)
    if service == "sagemaker" then name = name:lower() end
    return string.format("arn:aws:%s:%s:%s:%s/%s", route.signing_name, ctx.region, ctx.account,
      resource, name)
  end
  function ctx.failure_for(name) return app.faults:failure_for(name) end
  function ctx.log(group, stream, message, at)
    local now = app.clock:now()
    app.modules.logs.append(app.state.logs, group, stream, message, at or now, now, ctx.region, ctx.account)
  end
  function ctx.error(code, message, status)
    return { code = code, message = message, status = status }
  end
  function ctx.state_of(name) return app.state[name] end
  function ctx.module(name) return app.modules[name] end
  return ctx
end

-- Runs every module's advance(ctx) hook (see README.md).
function App:advance_all(request_id, caller)
  for service, mod in pairs(self.modules) do
    if mod.advance then
      mod.advance(self:context({ service = service }, request_id, caller))
    end
  end
end

-- ---- API calls ----

local function unsigned_allowed(info)
  return info.service == "sts"
    and (info.operation == "AssumeRoleWithWebIdentity" or info.operation == "AssumeRoleWithSAML")
end

function App:temporary_lookup()
  local sts = self.modules.sts
  local st = self.state.sts
  return function(key)
    return sts.credentials_for and sts.credentials_for(st, key) or nil
  end
end

-- Runs the call; returns status, headers, body, and fills rec (what the
-- control endpoint shows of it).
function App:call(req, info, request_id, rec)
  local route = self.routes.services[info.service]
  local function fail(code, message, status)
    rec.error = code
    return protocol.error_answer(info, route, code, message, status, request_id)
  end

  if not info.service then
    return fail("UnknownOperationException", info.target
      and ("Unknown target " .. info.target)
      or "Unknown operation: the request names no X-Amz-Target or Action")
  end
  if not info.operation then
    if info.protocol == "query" then
      local version = info.version or "NO_VERSION_SPECIFIED"
      return fail("InvalidAction", string.format("Could not find operation %s for version %s",
        tostring(info.action), version))
    end
    return fail("UnknownOperationException", "Unknown operation " .. tostring(info.target))
  end

  if #(req.body or "") > self.max_body then
    return fail(protocol.code(info.protocol, "too_large"), string.format(
      "Request body is too large: %d bytes, the limit is %d", #req.body, self.max_body), 413)
  end

  local caller
  if not (unsigned_allowed(info) and not req.headers["authorization"]) then
    local kind, message
    caller, kind, message = self.auth:verify(req, {
      signing_name = route.signing_name,
      max_skew = info.service == "sts" and 900 or 300,
      real_now = task.time(), -- clients sign with the real clock, whatever the fake's
      virtual_now = self.clock:now(),
      temporary = self:temporary_lookup(),
    })
    if not caller then return fail(protocol.auth_error(info.protocol, kind, message)) end
    rec.access_key_id = caller.access_key_id
  end

  local delay = self.faults:take_latency(info.service, info.operation)
  if delay > 0 then task.sleep(delay) end
  local injected = self.faults:take_answer(info.service, info.operation)
  if injected then
    if injected.kind == "throttle" then
      return fail(protocol.code(info.protocol, "throttle"), "Rate exceeded")
    end
    local message = injected.message
    if not message then
      message = injected.status == 503 and "The request has failed due to a temporary failure of the server."
        or "The request processing has failed because of an unknown error, exception or failure."
    end
    return fail(injected.code, message, injected.status)
  end

  local input, perr
  if info.protocol == "json" then
    input, perr = protocol.json_input(req.body)
    if not input then return fail("SerializationException", perr) end
    rec.body = req.body -- decoded again when listed: a handler may keep and change input
  else
    input = protocol.query_input(route.model, info.operation, info.form)
    rec.params = protocol.query_input(route.model, info.operation, info.form)
  end

  local ok, message, errors = validate.request(route.model, info.operation, input)
  if not ok then
    return fail(errors and errors.code or protocol.code(info.protocol, "validation"), message)
  end

  local handler = self.modules[info.service].operations[info.operation]
  if not handler then
    return fail(protocol.code(info.protocol, "unknown_operation"), string.format(
      "smop fake-aws does not implement %s %s", route.model.metadata.serviceId, info.operation))
  end

  local ran, out, herr = pcall(function()
    self:advance_all(request_id, caller)
    return handler(self:context(info, request_id, caller), input)
  end)
  if not ran then
    log.error("fake-aws: handler failed", { operation = info.operation, error = tostring(out) })
    return fail("InternalFailure", "The request processing has failed because of an unknown error, "
      .. "exception or failure.")
  end
  if out == nil then
    herr = type(herr) == "table" and herr or { code = "InternalFailure", message = tostring(herr) }
    return fail(herr.code, herr.message, herr.status)
  end
  local status, headers, body = protocol.answer(info, route, out, request_id)
  if not status then
    log.error("fake-aws: cannot encode an answer", { operation = info.operation, error = tostring(headers) })
    return fail("InternalFailure", "The request processing has failed because of an unknown error, "
      .. "exception or failure.")
  end
  rec.mutated = not is_read(info.operation)
  return status, headers, body
end

-- Streams half of the answer, then drops the connection (a `drop` fault).
local function drop_midway(req, status, headers, body)
  local w = req:stream(status, headers)
  if w then
    w:write(body:sub(1, #body // 2))
    w:abort()
  end
end

function App:handle(req)
  if req.path:sub(1, 7) == "/_smop/" or req.path == "/_smop" then
    return control.handle(self, req)
  end
  local request_id = codec.uuid()
  local info = protocol.identify(self.routes, req)
  local rec = { service = info.service, operation = info.operation or info.action or info.target }
  local status, headers, body = self:call(req, info, request_id, rec)
  rec.status = status
  rec.request_id = request_id
  rec.time = self.clock:now()
  rec.real_time = self.real()
  local mutated = rec.mutated
  rec.mutated = nil
  local drop = info.operation and type(req.stream) == "function"
    and self.faults:take("drop", info.service, info.operation)
  rec.dropped = drop and true or nil
  self:record(rec)
  if mutated then self:save() end
  if drop then
    drop_midway(req, status, headers, body)
    return
  end
  return status, headers, body
end

return M
