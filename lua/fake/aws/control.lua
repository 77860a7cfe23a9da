-- The control endpoint under /_smop/: what specs and script authors use to
-- drive the fake (docs/fake-aws.md has every shape, with curl examples).
-- No SigV4; it answers loopback clients only.
--
--   GET    /_smop/state[?service=S]   clock, faults, and every service's state
--   GET    /_smop/clock               { now, iso, speed }
--   POST   /_smop/clock               { advance = seconds, speed = x } -> clock
--   POST   /_smop/reset               empty state, no faults, no calls
--   GET    /_smop/faults              { faults = [...] }
--   POST   /_smop/faults              a rule (faults.lua) -> { fault = rule }
--   DELETE /_smop/faults[/ID]         remove one rule, or all
--   GET    /_smop/calls?since=N&service=S&operation=O&limit=L&wait=W
--                                     { calls = [...], next = N }
local codec = require("fake.aws.codec")
local json = require("smop.json")

local M = {}

local MAX_WAIT = 60
local JSON = { ["Content-Type"] = "application/json" }

local function answer(status, value)
  return status, JSON, json.encode(value, { sorted = true }) .. "\n"
end

local function bad(status, message)
  return answer(status, { error = message })
end

local function is_loopback(remote)
  if not remote then return true end -- in-process (app:handle from a spec)
  return remote:match("^127%.") ~= nil or remote:match("^%[?::1%]?") ~= nil
    or remote:match("^%[?::ffff:127%.") ~= nil
end

local function body_object(req)
  if not req.body or req.body:match("^%s*$") then return {} end
  local v, err = json.decode(req.body)
  if type(v) ~= "table" or json.is_array(v) then
    return nil, "the body must be a JSON object" .. (err and (": " .. err) or "")
  end
  return v
end

local function clock_view(app)
  local now = app.clock:now()
  return { now = now, iso = codec.iso8601(now), speed = app.clock.speed }
end

local function faults_view(app)
  return json.array(app.faults:list())
end

local function call_view(c)
  local params = c.params
  if params == nil and c.body then params = json.decode(c.body ~= "" and c.body or "{}") end
  if params == nil and c.body_size then
    params = { _not_kept = string.format("a body of %d bytes is not kept", c.body_size) }
  end
  return {
    seq = c.seq, time = c.time, real_time = c.real_time,
    service = c.service or json.null, operation = c.operation or json.null,
    params = params == nil and json.null or params,
    status = c.status, error = c.error or json.null, request_id = c.request_id,
    access_key_id = c.access_key_id or json.null, dropped = c.dropped or false,
  }
end

-- ---- handlers ----

local function get_state(app, req)
  app:advance_all("control")
  local services = app.state
  local only = req.args.service
  if only then
    if not services[only] then return bad(404, "no service " .. only) end
    services = { [only] = services[only] }
  end
  return answer(200, {
    clock = clock_view(app),
    faults = faults_view(app),
    calls = { count = app.seq - app.calls_first + 1, last = app.seq },
    services = services,
  })
end

local function post_clock(app, req)
  local body, err = body_object(req)
  if not body then return bad(400, err) end
  local advance, speed = body.advance, body.speed
  if advance == nil and speed == nil then
    return bad(400, 'give "advance" (virtual seconds to step forward) and/or "speed" '
      .. '(virtual seconds per real second)')
  end
  if advance ~= nil and (type(advance) ~= "number" or advance < 0 or advance ~= advance) then
    return bad(400, '"advance" must be a number of seconds >= 0')
  end
  if speed ~= nil and (type(speed) ~= "number" or speed < 0 or speed ~= speed or speed == math.huge) then
    return bad(400, '"speed" must be a number >= 0 (0 freezes the clock)')
  end
  if speed ~= nil then app.clock:set_speed(speed) end
  if advance ~= nil then app.clock:advance(advance) end
  app:save()
  return answer(200, clock_view(app))
end

local function post_fault(app, req)
  local body, err = body_object(req)
  if not body then return bad(400, err) end
  local rule, rerr = app.faults:add(body)
  if not rule then return bad(400, rerr) end
  return answer(201, { fault = rule })
end

local function get_calls(app, req)
  local a = req.args
  local since = tonumber(a.since or "0")
  local limit = tonumber(a.limit or "1000")
  local wait = tonumber(a.wait or "0")
  if not since or not limit or limit < 1 or not wait or wait < 0 then
    return bad(400, "since, limit and wait must be numbers (limit >= 1, wait >= 0)")
  end
  wait = math.min(wait, MAX_WAIT)
  local deadline = app.real() + wait
  while true do
    local out, last = {}, math.min(math.max(since, app.calls_first - 1), app.seq)
    for seq = math.max(math.floor(since) + 1, app.calls_first), app.seq do
      local c = app.calls[seq]
      if c and (not a.service or c.service == a.service)
        and (not a.operation or c.operation == a.operation) then
        if #out >= limit then break end
        out[#out + 1] = call_view(c)
      end
      last = seq
    end
    local remaining = deadline - app.real()
    if #out > 0 or remaining <= 0 then
      return answer(200, { calls = json.array(out), next = last })
    end
    since = last
    app.calls_changed:wait(remaining)
  end
end

function M.handle(app, req)
  if not is_loopback(req.remote) then
    return bad(403, "the control endpoint answers loopback clients only")
  end
  local path, m = req.path:gsub("/+$", ""), req.method
  req.args = req.args or {}
  if path == "/_smop/state" and m == "GET" then return get_state(app, req) end
  if path == "/_smop/clock" then
    if m == "GET" then return answer(200, clock_view(app)) end
    if m == "POST" then return post_clock(app, req) end
  end
  if path == "/_smop/reset" and m == "POST" then
    app:reset()
    return answer(200, { reset = true, clock = clock_view(app) })
  end
  if path == "/_smop/faults" then
    if m == "GET" then return answer(200, { faults = faults_view(app) }) end
    if m == "POST" then return post_fault(app, req) end
    if m == "DELETE" then
      app.faults:clear()
      return answer(200, { faults = json.array() })
    end
  end
  local id = path:match("^/_smop/faults/([%w%-]+)$")
  if id and m == "DELETE" then
    if app.faults:remove(id) then return answer(200, { removed = id }) end
    return bad(404, "no fault " .. id)
  end
  if path == "/_smop/calls" and m == "GET" then return get_calls(app, req) end
  return bad(404, string.format("no control endpoint %s %s (see docs/fake-aws.md: GET /_smop/state, "
    .. "GET|POST /_smop/clock, POST /_smop/reset, GET|POST|DELETE /_smop/faults, GET /_smop/calls)",
    m, req.path))
end

return M
