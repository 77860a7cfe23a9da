-- `smop logs KIND NAME` (and `kubectl smlogs`, scripts/kubectl-smlogs): the
-- CloudWatch Logs of the SageMaker job behind a TrainingJob,
-- BatchTransformJob or ProcessingJob object, every stream of the job merged
-- in time order, each line prefixed by its stream's name.
--
-- How it reads (docs/logs.md):
-- - all lines (or those --since): FilterLogEvents on the job's streams
--   (logStreamNamePrefix "<job>/"), which CloudWatch answers interleaved in
--   time order across streams, page by page (up to 1 MB each): memory stays
--   one page whatever the log's size;
-- - --tail N: DescribeLogStreams, then the last N events of each stream
--   (GetLogEvents from the end), merged, the last N kept: at most 2 N events
--   in memory, and no read of the whole log;
-- - --follow: FilterLogEvents again every POLL_INTERVAL seconds from the
--   newest timestamp printed, as `aws logs tail --follow` does; events of
--   that millisecond already printed are recognised (stream and text,
--   counted, so two identical lines stay two) and skipped. It ends after one
--   more read once the object's status is terminal (or the object is gone),
--   or at Ctrl-C.
--
-- Exit codes: 0 done (also after Ctrl-C), 1 the object or its job is not
-- there, or Kubernetes or AWS refused (one line on stderr), 2 usage.
local client = require("aws.client")
local cli_args = require("cli.args")
local config = require("kube.config")
local errors = require("aws.errors")
local job = require("kinds.lib.job")
local kube_client = require("kube.client")
local model_loader = require("aws.model")
local task = require("smop.task")

local M = {}

M.POLL_INTERVAL = 2

M.USAGE = table.concat({
  "usage: smop logs KIND NAME [-n NAMESPACE] [--kubeconfig FILE] [--context NAME]",
  "  [-f|--follow] [--hide-log-stream-name] [--since 10m|1h|2024-05-01T12:00:00Z] [--tail N]",
  "  [--region R] [--endpoint-url URL] [--profile P]",
  "KIND: trainingjob, batchtransformjob or processingjob (or the plural); KIND/NAME works too.",
}, "\n")

-- What each kind keeps where, and where SageMaker writes its logs.
M.KINDS = {
  trainingjob = { plural = "trainingjobs", name_status = "sageMakerTrainingJobName",
    status_field = "trainingJobStatus", group = "/aws/sagemaker/TrainingJobs", noun = "training job" },
  batchtransformjob = { plural = "batchtransformjobs", name_status = "sageMakerTransformJobName",
    status_field = "transformJobStatus", group = "/aws/sagemaker/TransformJobs", noun = "transform job" },
  processingjob = { plural = "processingjobs", name_status = "sageMakerProcessingJobName",
    status_field = "processingJobStatus", group = "/aws/sagemaker/ProcessingJobs", noun = "processing job" },
}

local GROUP_VERSION = "sagemaker.aws.amazon.com/v1"

local FLAGS = {
  ["--namespace"] = { "namespace" }, ["-n"] = { "namespace" },
  ["--kubeconfig"] = { "kubeconfig" },
  ["--context"] = { "context" },
  ["--follow"] = { "follow", "flag" }, ["-f"] = { "follow", "flag" },
  ["--hide-log-stream-name"] = { "hide", "flag" },
  ["--since"] = { "since" },
  ["--tail"] = { "tail" },
  ["--region"] = { "region" },
  ["--endpoint-url"] = { "endpoint" },
  ["--profile"] = { "profile" },
}

-- "trainingjob", "TrainingJobs", "trainingjob.sagemaker.aws.amazon.com" ->
-- its name and M.KINDS entry, or nil.
function M.kind(text)
  local k = text:lower():gsub("%.sagemaker%.aws%.amazon%.com$", "")
  if M.KINDS[k] then return k, M.KINDS[k] end
  local singular = k:gsub("s$", "")
  if M.KINDS[singular] then return singular, M.KINDS[singular] end
  return nil
end

-- Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600, d = 86400 }

-- --since: a duration before now ("90s", "10m", "1h30m", "2d") or an RFC
-- 3339 instant ("2024-05-01T12:00:00Z", "...:00.250+02:00"). Returns epoch
-- seconds, or nil.
function M.parse_since(text, now)
  if text:match("^%d") and not text:match("^%d%d%d%d%-") then
    local total, rest = 0, text
    while rest ~= "" do
      local num, unit, tail = rest:match("^(%d+%.?%d*)(%a+)(.*)$")
      if not num or not UNITS[unit] then return nil end
      total = total + tonumber(num) * UNITS[unit]
      rest = tail
    end
    return now - total
  end
  local y, mo, d, h, mi, s, frac, zone =
    text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  if frac ~= "" and not frac:match("^%.%d+$") then return nil end
  local offset = 0
  if zone ~= "Z" and zone ~= "z" then
    local sign, oh, om = zone:match("^([%+%-])(%d%d):(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    + (frac ~= "" and tonumber("0" .. frac) or 0) - offset
end

local function parse_args(args, now)
  local opts, perr = cli_args.parse(args, FLAGS, true)
  if not opts then return nil, perr end
  local positional = opts.positional
  if opts.help then return opts end
  if #positional == 1 and positional[1]:find("/", 1, true) then
    positional = { positional[1]:match("^([^/]*)/(.*)$") }
  end
  if #positional ~= 2 or positional[1] == "" or positional[2] == "" then
    return nil, "expected KIND NAME"
  end
  local kind_name, kind = M.kind(positional[1])
  if not kind then
    return nil, string.format("unknown kind '%s' (trainingjob, batchtransformjob or processingjob)",
      positional[1])
  end
  opts.kind_name, opts.kind, opts.name = kind_name, kind, positional[2]
  if opts.tail then
    local n = opts.tail:match("^%-?%d+$") and tonumber(opts.tail)
    if not n or n < -1 then return nil, "--tail needs a number of lines (-1: all), not " .. opts.tail end
    opts.tail = n >= 0 and n or nil
  end
  if opts.since then
    local at = M.parse_since(opts.since, now)
    if not at then
      return nil, "--since needs a duration (30s, 10m, 1h30m) or an RFC 3339 time "
        .. "(2024-05-01T12:00:00Z), not " .. opts.since
    end
    opts.since_ms = math.floor(at * 1000)
  end
  return opts
end

-- ---- reading the logs ----

local Reader = {}
Reader.__index = Reader

-- opts: cw (an aws.client for "logs"), group, prefix, since_ms, hide,
-- write(text).
function M.reader(opts)
  return setmetatable({
    cw = opts.cw, group = opts.group, prefix = opts.prefix, since_ms = opts.since_ms,
    hide = opts.hide, write = opts.write,
    total = 0,
    -- the newest millisecond printed, and which of its events were (the
    -- count of each stream + text), so a read from that millisecond on
    -- skips them; seen counts them again within one read
    newest = nil, printed = {}, seen = {},
  }, Reader)
end

local function missing(err)
  return err.code == "ResourceNotFoundException"
end

-- Whether the event is new (not printed by an earlier read); records it.
function Reader:admit(stream, message, ts)
  if self.newest and ts < self.newest then return true end
  if not self.newest or ts > self.newest then
    self.newest, self.printed, self.seen = ts, {}, {}
  end
  local key = stream .. "\0" .. message
  local n = (self.seen[key] or 0) + 1
  self.seen[key] = n
  if n > (self.printed[key] or 0) then
    self.printed[key] = n
    return true
  end
  return false
end

function Reader:line(stream, message)
  message = message:gsub("\r?\n$", "")
  return self.hide and message or (stream .. ": " .. message)
end

function Reader:flush(lines)
  if #lines == 0 then return end
  self.write(table.concat(lines, "\n") .. "\n")
  self.total = self.total + #lines
end

-- Prints every event not printed yet, from the newest millisecond printed
-- (or --since, or the start). Returns how many, or nil, err.
function Reader:read()
  self.seen = {}
  local params = { logGroupName = self.group, logStreamNamePrefix = self.prefix,
    startTime = self.newest or self.since_ms }
  local count = 0
  while true do
    local out, err = self.cw:call("FilterLogEvents", params)
    if not out then
      if missing(err) then return count end   -- no log group yet: nothing written
      return nil, err
    end
    local lines = {}
    for _, e in ipairs(out.events or {}) do
      if self:admit(e.logStreamName, e.message, e.timestamp) then
        lines[#lines + 1] = self:line(e.logStreamName, e.message)
      end
    end
    self:flush(lines)
    count = count + #lines
    local token = out.nextToken
    if not token or token == params.nextToken then return count end
    params.nextToken = token
  end
end

-- The names of the job's streams, or nil, err.
function Reader:streams()
  local names = {}
  local params = { logGroupName = self.group, logStreamNamePrefix = self.prefix }
  while true do
    local out, err = self.cw:call("DescribeLogStreams", params)
    if not out then
      if missing(err) then return names end
      return nil, err
    end
    for _, s in ipairs(out.logStreams or {}) do names[#names + 1] = s.logStreamName end
    local token = out.nextToken
    if not token or token == params.nextToken then return names end
    params.nextToken = token
  end
end

-- The last `want` events of one stream (from --since on), oldest first, as
-- { ts, stream, message }; or nil, err.
function Reader:last_events(stream, want)
  local pages, count = {}, 0
  local params = { logGroupName = self.group, logStreamName = stream, startFromHead = false,
    startTime = self.since_ms, limit = math.min(want, 10000) }
  while count < want do
    local out, err = self.cw:call("GetLogEvents", params)
    if not out then
      if missing(err) then break end   -- deleted since it was listed
      return nil, err
    end
    local events = out.events or {}
    if #events == 0 then break end
    table.insert(pages, 1, events)
    count = count + #events
    local token = out.nextBackwardToken
    if not token or token == params.nextToken then break end
    params.nextToken = token
    params.limit = math.min(want - count, 10000)
  end
  local list = {}
  for _, page in ipairs(pages) do
    for _, e in ipairs(page) do
      list[#list + 1] = { ts = e.timestamp, stream = stream, message = e.message }
    end
  end
  return table.move(list, math.max(1, #list - want + 1), #list, 1, {})
end

local function earlier(a, b)
  if a.ts ~= b.ts then return a.ts < b.ts end
  if a.stream ~= b.stream then return a.stream < b.stream end
  return a.seq < b.seq
end

-- Prints the last n events of the job, all streams merged. With n = 0 it
-- prints nothing but still notes the newest event, so --follow goes on
-- from there. Returns the count, or nil, err.
function Reader:tail(n)
  local streams, err = self:streams()
  if not streams then return nil, err end
  local want = math.max(n, 1)
  local merged = {}
  for _, stream in ipairs(streams) do
    local events, lerr = self:last_events(stream, want)
    if not events then return nil, lerr end
    for _, e in ipairs(events) do
      e.seq = #merged + 1
      merged[#merged + 1] = e
    end
    table.sort(merged, earlier)
    if #merged > want then merged = table.move(merged, #merged - want + 1, #merged, 1, {}) end
  end
  local lines = {}
  for i, e in ipairs(merged) do
    self:admit(e.stream, e.message, e.ts)
    if i > #merged - n then lines[#lines + 1] = self:line(e.stream, e.message) end
  end
  self:flush(lines)
  return #lines
end

-- ---- the command ----

local function fail(sys, code, msg)
  sys.stderr("smop logs: " .. msg .. "\n")
  return code
end

local function status_text(kind, st)
  local value = st[kind.status_field] or "none"
  if st.additional and st.additional ~= "" then value = value .. ": " .. st.additional end
  return value
end

-- --endpoint-url, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, AWS_ENDPOINT_URL (the
-- SDKs' order), else the public endpoint.
local function logs_endpoint(sys, opts)
  if opts.endpoint then return opts.endpoint end
  local model = assert(model_loader.load("logs"))
  for _, name in ipairs({ "AWS_ENDPOINT_URL_" .. model_loader.endpoint_env_suffix(model),
    "AWS_ENDPOINT_URL" }) do
    local v = sys.getenv(name)
    if v and v ~= "" then return v end
  end
  return nil
end

-- The object and its SageMaker job's name. With --follow, waits for the
-- operator to create the job (unless the object is in Error).
local function find_job(sys, kc, path, opts)
  local kind = opts.kind
  local noted = false
  while true do
    local obj, err = kc:get(path)
    if not obj then
      if err.code == 404 then
        return nil, string.format("%s %s not found in namespace %s", opts.kind_name, opts.name,
          opts.namespace)
      end
      return nil, tostring(err)
    end
    local st = obj.status or {}
    if st[kind.name_status] then return obj, st[kind.name_status] end
    local msg = string.format("%s %s has no SageMaker job yet (status: %s)", opts.kind_name,
      opts.name, status_text(kind, st))
    if not opts.follow or st[kind.status_field] == "Error" then return nil, msg end
    if not noted then
      sys.stderr("smop logs: " .. msg .. "; waiting for it\n")
      noted = true
    end
    task.sleep(M.POLL_INTERVAL)
  end
end

-- Prints the logs (and follows them); returns the exit code.
function M.show(sys, kc, opts)
  local kind = opts.kind
  local path = string.format("/apis/%s/namespaces/%s/%s/%s", GROUP_VERSION, opts.namespace,
    kind.plural, opts.name)
  local obj, name = find_job(sys, kc, path, opts)
  if not obj then return fail(sys, 1, name) end
  local cw, cerr = client.new({ service = "logs", region = opts.region or obj.spec.region,
    endpoint = logs_endpoint(sys, opts), profile = opts.profile,
    ca_file = sys.getenv("AWS_CA_BUNDLE") })
  if not cw then return fail(sys, 1, cerr) end
  local reader = M.reader({ cw = cw, group = kind.group, prefix = name .. "/",
    since_ms = opts.since_ms, hide = opts.hide, write = sys.stdout })

  local _, err
  if opts.tail then
    _, err = reader:tail(opts.tail)
  else
    _, err = reader:read()
  end
  if err then return fail(sys, 1, tostring(err)) end
  local over = job.TERMINAL[(obj.status or {})[kind.status_field]]
  if not opts.follow or over then
    if reader.total == 0 and opts.tail ~= 0 then
      sys.stderr(string.format("smop logs: no log events%s for SageMaker %s %s in %s\n",
        opts.since and (" since " .. opts.since) or "", kind.noun, name, kind.group))
    end
    return 0
  end

  -- Follow: once the status is terminal (or the object gone), one last read.
  while true do
    task.sleep(M.POLL_INTERVAL)
    local cur, gerr = kc:get(path)
    if cur then
      over = job.TERMINAL[(cur.status or {})[kind.status_field]]
    elseif gerr.code == 404 then
      sys.stderr(string.format("smop logs: %s %s was deleted\n", opts.kind_name, opts.name))
      over = true
    else
      sys.stderr("smop logs: " .. tostring(gerr) .. " (retrying)\n")
    end
    _, err = reader:read()
    if err then
      if not errors.retryable(err) then return fail(sys, 1, tostring(err)) end
      sys.stderr("smop logs: " .. tostring(err) .. " (retrying)\n")
    elseif over then
      return 0
    end
  end
end

function M.run(sys, args)
  local opts, perr = parse_args(args, task.time())
  if not opts then
    sys.stderr("smop logs: " .. perr .. "\n" .. M.USAGE .. "\n")
    return 2
  end
  if opts.help then
    sys.stdout(M.USAGE .. "\n")
    return 0
  end
  local cfg, cerr = config.load({ kubeconfig = opts.kubeconfig, context = opts.context,
    read_file = sys.read_file, getenv = sys.getenv, run = sys.run })
  if not cfg then return fail(sys, 1, "no usable Kubernetes configuration: " .. tostring(cerr)) end
  local kc = kube_client.new(cfg)
  opts.namespace = opts.namespace or cfg.namespace or "default"
  if not opts.follow then return M.show(sys, kc, opts) end

  -- Following runs in a task of its own, so Ctrl-C ends the command at
  -- once, even in the middle of a call.
  local ended = task.condition()
  local code, signal
  local worker = task.spawn(M.show, sys, kc, opts)
  task.spawn(function()
    local ok, result = task.wait(worker)
    if not ok then sys.stderr("smop logs: " .. tostring(result) .. "\n") end
    code = ok and result or 1
    ended:notify_all()
  end)
  task.spawn(function()
    signal = sys.wait_signal()
    ended:notify_all()
  end)
  while not (code or signal) do ended:wait() end
  return code or 0
end

return M
