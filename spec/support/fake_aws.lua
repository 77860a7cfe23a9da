-- Helpers for specs that drive `smop fake-aws`: in-process (app:handle with
-- signed requests, or the app behind smop.server with aws.client) and as a
-- subprocess for the real `aws` CLI.
local client = require("aws.client")
local fake = require("fake.aws")
local json = require("smop.json")
local model_loader = require("aws.model")
local server = require("smop.server")
local sigv4 = require("smop.sigv4")
local smop = require("spec.support.smop")
local task = require("smop.task")
local validate = require("aws.validate")

local M = {}

M.KEY = "AKIAIOSFODNN7EXAMPLE"
M.SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
M.CREDS = { access_key_id = M.KEY, secret_access_key = M.SECRET }

local SERVICES = {
  sagemaker = { prefix = "SageMaker", signing = "sagemaker" },
  ["application-autoscaling"] = { prefix = "AnyScaleFrontendService", signing = "application-autoscaling" },
  logs = { prefix = "Logs_20140328", signing = "logs" },
  sts = { signing = "sts" },
}

-- The service module with every answer checked against the model's output
-- shape (required members, types, enums, no unknown members): a handler
-- answering what AWS would not send fails the call (InternalFailure).
local strict_cache = {}
function M.strict(service, module_name)
  if strict_cache[service] then return strict_cache[service] end
  local mod = require(module_name)
  local model = assert(model_loader.load(service))
  local answers = { metadata = model.metadata, shapes = model.shapes, operations = {} }
  for name, op in pairs(model.operations) do answers.operations[name] = { input = op.output } end
  local ops = {}
  for name, handler in pairs(mod.operations) do
    ops[name] = function(ctx, input)
      local out, err = handler(ctx, input)
      if out then
        local ok, why = validate.request(answers, name, json.decode(assert(json.encode(out))))
        if not ok then error(name .. " answer does not satisfy the model: " .. why, 0) end
        if #why > 0 then error(name .. " answer has a member the model does not know: " .. why[1].path, 0) end
      end
      return out, err
    end
  end
  strict_cache[service] = setmetatable({ operations = ops }, { __index = mod })
  return strict_cache[service]
end

-- A fresh app; the clock is frozen (speed 0) unless opts.speed says
-- otherwise, and the answers of Logs, Auto Scaling and STS are checked
-- against the model (M.strict) unless opts.modules replaces them.
function M.app(opts)
  opts = opts or {}
  if opts.speed == nil then opts.speed = 0 end
  local modules = {
    logs = M.strict("logs", "fake.aws.logs"),
    ["application-autoscaling"] = M.strict("application-autoscaling", "fake.aws.autoscaling"),
    sts = M.strict("sts", "fake.aws.sts"),
  }
  for k, v in pairs(opts.modules or {}) do modules[k] = v end
  opts.modules = modules
  return assert(fake.new(opts))
end

local function form_encode(params)
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. "=" .. tostring(params[k]):gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", c:byte())
    end)
  end
  return table.concat(parts, "&")
end

-- A request as smop.server hands it to the app. opts: target (JSON
-- protocol; default from service/op), body (raw text, else params encoded),
-- form (STS: a flat table, Action/Version added), creds ({access_key_id,
-- secret_access_key, session_token}; false = unsigned), time (signing time,
-- default now), headers (extra), remote, region.
function M.request(service, op, params, opts)
  opts = opts or {}
  local svc = SERVICES[service]
  local headers = {}
  local body = opts.body
  if service == "sts" then
    headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    if not body then
      local form = { Action = op, Version = "2011-06-15" }
      for k, v in pairs(params or {}) do form[k] = v end
      body = form_encode(form)
    end
  else
    headers["Content-Type"] = "application/x-amz-json-1.1"
    headers["X-Amz-Target"] = opts.target or (svc.prefix .. "." .. op)
    body = body or json.encode(json.object(params or {}))
  end
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  headers.Host = "127.0.0.1:4566"
  local creds = opts.creds
  if creds == nil then creds = M.CREDS end
  if creds then
    local add = assert(sigv4.sign({
      method = "POST", url = "http://127.0.0.1:4566/", headers = headers, body = body,
      region = opts.region or "us-east-1", service = opts.signing or svc.signing,
      access_key_id = creds.access_key_id, secret_access_key = creds.secret_access_key,
      session_token = creds.session_token, time = opts.time,
    }))
    for k, v in pairs(add) do headers[k] = v end
  end
  local lower = {}
  for k, v in pairs(headers) do lower[k:lower()] = v end
  return { method = "POST", path = "/", headers = lower, body = body, args = {},
    remote = opts.remote or "127.0.0.1:50000" }
end

-- Sends a request to the app in-process; returns status, headers, body and
-- the body decoded (JSON answers).
function M.call(app, service, op, params, opts)
  local status, headers, body = app:handle(M.request(service, op, params, opts))
  local decoded
  if headers and (headers["Content-Type"] or ""):find("json", 1, true) then decoded = json.decode(body) end
  return status, headers, body, decoded
end

-- A control endpoint call in-process: returns status and the decoded body.
function M.control(app, method, path, body, args)
  local status, _, text = app:handle({
    method = method, path = path, headers = {}, args = args or {},
    body = body and json.encode(body) or "", remote = "127.0.0.1:50000",
  })
  return status, json.decode(text)
end

-- Runs fn(env) in a task with the app behind a real server; env = { app,
-- url, client = function(service, creds) -> aws.client }.
function M.serve(opts, fn)
  task.run(function()
    local app = M.app(opts)
    local srv = assert(server.listen({ handler = function(req) return app:handle(req) end }))
    local env = { app = app, url = srv.url }
    function env.client(service, creds, extra)
      local o = { service = service, region = "us-east-1", endpoint = srv.url,
        credentials = creds or M.CREDS, max_attempts = 1 }
      for k, v in pairs(extra or {}) do o[k] = v end
      return assert(client.new(o))
    end
    local ok, err = pcall(fn, env)
    srv:close()
    if not ok then error(type(err) == "table" and tostring(err.message) or err, 0) end
  end)
end

-- ---- the binary as a subprocess ----

-- Starts `smop fake-aws ARGS...`; returns { url, pid, stop = fn }. The first
-- line of its stdout names the URL.
function M.start(args)
  local parts = {}
  for _, a in ipairs(args or {}) do parts[#parts + 1] = smop.quote(a) end
  local log = os.tmpname()
  local cmd = string.format("echo $$; exec %s fake-aws --listen 127.0.0.1:0 %s 2>%s",
    smop.quote(smop.bin), table.concat(parts, " "), smop.quote(log))
  local pipe = assert(io.popen(cmd, "r"))
  local pid = tonumber(pipe:read("l"))
  local first = pipe:read("l") or ""
  local url = first:match("^fake%-aws listening on (http://%S+)$")
  local proc = { pid = pid, url = url, log = log }
  function proc.stop()
    if pipe then
      os.execute("kill " .. pid .. " 2>/dev/null")
      pipe:close()
      pipe = nil
      os.remove(log)
    end
  end
  if not url then
    local f = io.open(log)
    local errtext = f and f:read("a") or ""
    if f then f:close() end
    proc.stop()
    error("smop fake-aws did not start: " .. first .. errtext)
  end
  return proc
end

-- Runs the real aws CLI against url in a clean environment; returns stdout,
-- stderr, exit code. env: extra "NAME=value " text.
function M.aws(url, args, env)
  local home = smop.tempdir()
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = smop.quote(a) end
  local errfile = os.tmpname()
  local cmd = string.format("env -i PATH=/usr/bin:/bin HOME=%s AWS_ACCESS_KEY_ID=%s "
    .. "AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true "
    .. "AWS_PAGER= %s /usr/bin/aws --endpoint-url %s %s 2>%s",
    smop.quote(home), M.KEY, smop.quote(M.SECRET), env or "", smop.quote(url),
    table.concat(parts, " "), smop.quote(errfile))
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local f = assert(io.open(errfile))
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  os.execute("rm -rf " .. smop.quote(home))
  return out, err, code
end

-- curl against the control endpoint of a subprocess; returns the decoded
-- JSON answer.
function M.curl(url, method, path, body)
  local cmd = string.format("curl -s -X %s %s%s", method, smop.quote(url .. path),
    body and (" -H 'Content-Type: application/json' -d " .. smop.quote(json.encode(body))) or "")
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  p:close()
  return json.decode(out)
end

return M
