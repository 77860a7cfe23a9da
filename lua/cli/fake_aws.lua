-- `smop fake-aws [--listen HOST:PORT] [--speed X] [--state FILE]
--  [--credentials KEY:SECRET]...`: serve the fake SageMaker, Application
-- Auto Scaling, CloudWatch Logs and STS (lua/fake/aws) until SIGINT or
-- SIGTERM. The first line on stdout is "fake-aws listening on <url>", so a
-- script can start it on port 0 and read where it went.
local fake = require("fake.aws")
local json = require("smop.json")
local log = require("smop.log")
local server = require("smop.server")

local M = {}

local USAGE = "usage: smop fake-aws [--listen 127.0.0.1:PORT] [--speed X] [--state FILE] "
  .. "[--credentials KEY:SECRET]..."

local function parse_args(args)
  local opts = { host = "127.0.0.1", port = 0, credentials = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    local flag, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    flag = flag or a
    local function value()
      local v = inline or args[i + 1]
      i = i + (inline and 1 or 2)
      if v == nil or v == "" then return nil end
      return v
    end
    if flag == "--listen" then
      local v = value()
      local host, port = (v or ""):match("^%[?([^%]]*)%]?:(%d+)$")
      port = tonumber(port)
      if not host or host == "" or not port or port > 65535 then
        return nil, "--listen needs HOST:PORT, e.g. 127.0.0.1:4566 (port 0 picks a free one)"
      end
      opts.host, opts.port = host, port
    elseif flag == "--speed" then
      local v = tonumber(value() or "")
      if not v or v < 0 or v ~= v or v == math.huge then
        return nil, "--speed needs a number >= 0 (virtual seconds per real second; 0 freezes the clock)"
      end
      opts.speed = v
    elseif flag == "--state" then
      opts.state = value()
      if not opts.state then return nil, "--state needs a file name" end
    elseif flag == "--credentials" then
      local key, secret = (value() or ""):match("^([^:]+):(.+)$")
      if not key then return nil, "--credentials needs ACCESS_KEY_ID:SECRET_ACCESS_KEY" end
      opts.credentials[key] = secret
    elseif flag == "--help" or flag == "-h" then
      opts.help = true
      i = i + 1
    else
      return nil, "unknown argument " .. a
    end
  end
  return opts
end

-- The saved state, nil when the file does not exist yet, or nil, err.
local function read_state(sys, path)
  local text, err = sys.read_file(path)
  if not text then
    if tostring(err):find("No such file", 1, true) then return nil end
    return nil, err
  end
  local state = json.decode(text)
  if type(state) ~= "table" or json.is_array(state) then
    return nil, path .. " is not a fake-aws state file (remove it to start afresh)"
  end
  return state
end

local function saver(sys, path)
  local tmp = path .. ".tmp"
  return function(text)
    local ok, err = sys.write_file(tmp, text)
    if not ok then return nil, err end
    return sys.rename(tmp, path)
  end
end

function M.run(sys, args)
  local opts, perr = parse_args(args)
  if not opts then
    sys.stderr("smop fake-aws: " .. perr .. "\n" .. USAGE .. "\n")
    return 2
  end
  if opts.help then
    sys.stdout(USAGE .. "\n\nThe control endpoint (clock, faults, recorded calls) is described in "
      .. "docs/fake-aws.md.\nDefault credentials: AKIAIOSFODNN7EXAMPLE / "
      .. "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    return 0
  end
  local state, serr
  if opts.state then
    state, serr = read_state(sys, opts.state)
    if serr then
      sys.stderr("smop fake-aws: --state: " .. serr .. "\n")
      return 1
    end
  end
  local app, aerr = fake.new({
    speed = opts.speed, credentials = opts.credentials, state = state,
    save = opts.state and saver(sys, opts.state) or nil,
  })
  if not app then
    sys.stderr("smop fake-aws: --state " .. opts.state .. ": " .. aerr .. "\n")
    return 1
  end
  local srv, lerr = server.listen({
    host = opts.host, port = opts.port,
    -- twice the fake's own limit: bodies in between get AWS's error shape
    max_body = 2 * fake.DEFAULT_MAX_BODY,
    handler = function(req) return app:handle(req) end,
  })
  if not srv then
    sys.stderr("smop fake-aws: " .. lerr .. "\n")
    return 1
  end
  if opts.state then app:save() end
  local url = srv.url
  sys.stdout("fake-aws listening on " .. url .. "\n")
  log.info("fake-aws serving", { url = url, speed = app.clock.speed, state = opts.state })
  local signal = sys.wait_signal()
  srv:close()
  if opts.state then app:save() end
  log.info("fake-aws stopped", { signal = signal })
  return 0
end

return M
