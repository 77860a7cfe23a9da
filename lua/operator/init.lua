-- The operator: one controller per kind sharing a Kubernetes client, an
-- Event recorder and the AWS clients, plus the probe server. `smop run`
-- and `smop dev` both start it with this.
--
--   local operator = require("operator")
--   local op = assert(operator.start{
--     kube = kube_client,                 -- kube.client (writes, informers)
--     kinds = { "trainingjob" },          -- modules kinds.<name> (default M.KINDS)
--     namespace = nil,                    -- watch one namespace (nil: all)
--     label_selector = nil, resync = 3600,
--     max_concurrent = 16,                -- syncs in flight per kind
--     poll_interval = 30,                 -- while a resource is not terminal
--     error_interval = 300,               -- after an Error that a retry cannot fix
--     status_refresh = 600,               -- lastCheckTime of an unchanged status
--     aws = { credentials =, endpoint_url =, endpoints = { sagemaker = url } },
--     listen = { host = "127.0.0.1", port = 8081 } | nil,   -- /metrics, /healthz, /readyz
--     owns = function("ns/name") -> bool | nil,           -- --shard (operator.shard)
--     leader_election = nil | { kube =, namespace =, name =, identity =, ... (operator.leader) },
--     on_lost = function(why),            -- leadership lost: the caller should exit
--     scripts_configmap = nil | { namespace =, name = },  -- a live script set (operator.scriptwatch)
--     script_version = nil,               -- default: per kind, M.script_version(module)
--     instance = "hostname" })
--   op:ready()   op:state()   op.url (probe server)   op:stop(deadline_seconds)
--
-- Caches start at once. Syncs start at once too, or, with leader_election,
-- once this replica holds the Lease; a standby keeps its caches warm and
-- reports ready. op:stop stops taking work, lets running syncs finish
-- within the deadline, and only then hands the Lease back, so the next
-- leader never overlaps a sync of ours.
--
-- Informer trouble (API server unreachable, 401/403, CRD missing) is
-- retried by the informer with backoff; a watcher task logs each new error
-- once, with what to do about it, and /readyz stays 503 meanwhile.
local aws = require("operator.aws")
local controller = require("operator.controller")
local events = require("operator.events")
local health = require("operator.health")
local leader = require("operator.leader")
local log = require("smop.log")
local metrics = require("operator.metrics")
local scripts = require("smop.scripts")
local scriptwatch = require("operator.scriptwatch")
local server = require("smop.server")
local task = require("smop.task")

local M = {}
local Operator = {}
Operator.__index = Operator

-- Every built-in kind script. TrainingJob must run wherever tuning jobs do:
-- the training jobs a tuner launches are mirrored as TrainingJob objects.
M.KINDS = { "trainingjob", "hyperparametertuningjob", "processingjob", "batchtransformjob",
  "model", "endpointconfig", "hostingdeployment", "hostingautoscalingpolicy" }

-- What to do about an informer's error, as kube.c words them: "list <resource>: 403 Forbidden: ...",
-- "watch <resource>: ERROR event 401 Unauthorized: ...", "... the CRD for <resource> is not
-- installed (GET ...: 404 Not Found)", or libcurl's text when no answer came.
local HINTS = {
  { "%f[%d]401 Unauthorized", "the API server does not accept the credentials (401 Unauthorized): "
    .. "check the kubeconfig user's token or client certificate, or the service account token" },
  { "%f[%d]403 Forbidden", "permission denied (403 Forbidden): grant the operator's service account "
    .. "get, list and watch on it (a ClusterRole, or a Role in the namespace given to --namespace)" },
  { "%f[%d]404 Not ?Found", "the resource is not served: install the CRDs (kubectl apply -f crds/)" },
  { "^%a+ %S+: %d%d%d ", "the API server answered with an error; retrying with backoff" },
  { "ERROR event %d", "the API server answered with an error; retrying with backoff" },
  { "SSL", "TLS with the API server failed: check the kubeconfig's certificate-authority(-data) and "
    .. "that the server URL's host is one its certificate names" },
}

local function hint(text)
  for _, h in ipairs(HINTS) do
    if text:find(h[1]) then return h[2] end
  end
  return "cannot reach the API server: check the kubeconfig's server URL, and that the API server is up "
    .. "and reachable from here"
end

-- What each status records as scriptVersion: where the kind script came
-- from and a digest of its text, e.g. "builtin-3f2a9c1d0b4e", "dir-...".
function M.script_version(module)
  local info = scripts.info(module)
  if not info then return "unknown" end
  return info.origin .. "-" .. info.sha256:sub(1, 12)
end

function M.start(opts)
  local self = setmetatable({ controllers = {}, opts = opts, metrics = metrics.new() }, Operator)
  self.events = events.new({ kube = opts.kube, component = "smop",
    instance = opts.instance or "smop" })
  local aws_opts = { metrics = self.metrics }
  for k, v in pairs(opts.aws or {}) do aws_opts[k] = v end
  local env_base = {
    kube = opts.kube, events = self.events, metrics = self.metrics,
    aws = aws.new(aws_opts),
    poll_interval = opts.poll_interval or 30,
    error_interval = opts.error_interval or 300, status_refresh = opts.status_refresh or 600,
  }
  local builtin, builtin_versions, by_name = {}, {}, {}
  for _, name in ipairs(opts.kinds or M.KINDS) do
    local kind = type(name) == "table" and name or require("kinds." .. name)
    local env = {}
    for k, v in pairs(env_base) do env[k] = v end
    env.kind = kind
    env.script_version = opts.script_version
      or (type(name) == "table" and "inline" or M.script_version("kinds." .. name))
    if type(name) == "string" then
      builtin[name], builtin_versions[name] = kind, env.script_version
    end
    local ctl = controller.new({
      kind = kind, env = env, namespace = opts.namespace, max_concurrent = opts.max_concurrent,
      queue = opts.queue, owns = opts.owns,
      open_informer = function(path)
        return opts.kube:informer({ path = path, label_selector = opts.label_selector,
          resync = opts.resync or 3600 })
      end,
    })
    local ok, err = ctl:start()
    if not ok then
      self:stop(1)
      return nil, string.format("%s: %s", kind.plural, tostring(err))
    end
    self.controllers[#self.controllers + 1] = ctl
    if type(name) == "string" then by_name[name] = ctl end
    log.info("watching", { kind = kind.kind, path = ctl.path })
  end
  if opts.scripts_configmap then
    local cm = opts.scripts_configmap
    local w, werr = scriptwatch.start({ kube = opts.kube, namespace = cm.namespace, name = cm.name,
      builtin = builtin, builtin_versions = builtin_versions, events = self.events,
      metrics = self.metrics,
      apply = function(set)
        for name, ctl in pairs(by_name) do ctl:set_kind(set.kinds[name], set.versions[name]) end
      end })
    if not w then
      self:stop(1)
      return nil, "script ConfigMap " .. cm.namespace .. "/" .. cm.name .. ": " .. tostring(werr)
    end
    self.scripts = w
  end
  if opts.listen then
    local srv, err = server.listen({ host = opts.listen.host, port = opts.listen.port,
      handler = metrics.handler(self.metrics, health.handler(self)) })
    if not srv then
      self:stop(1)
      return nil, "cannot serve the probes: " .. tostring(err)
    end
    self.server, self.url = srv, srv.url
  end
  self.metrics:collector(function(emit) self:collect(emit) end)
  self.watcher = task.spawn(function() self:watch_informers() end)
  if opts.leader_election then
    self.elector = leader.new(opts.leader_election)
    self.elector:start({
      on_started = function() self:run() end,
      on_lost = function(why) if opts.on_lost then opts.on_lost(why) end end,
    })
  else
    self:run()
  end
  return self
end

M.SCRIPTS_WAIT = 10   -- seconds the first sync waits for the script ConfigMap

-- Starts the syncs: once the script ConfigMap has been read, so that no
-- object is synced by a built-in script a platform team replaced (a
-- ConfigMap that cannot be read holds nothing up for long).
function Operator:run()
  self.starter = task.spawn(function()
    if self.scripts then
      local limit = task.now() + M.SCRIPTS_WAIT
      while not self.scripts:settled() and task.now() < limit and not self.stopping do
        task.sleep(0.05)
      end
    end
    if self.stopping then return end
    for _, ctl in ipairs(self.controllers) do ctl:run() end
  end)
end

-- Scrape-time metrics: queues and informers.
function Operator:collect(emit)
  for _, ctl in ipairs(self.controllers) do
    local st = ctl:state()
    local kind, res = { kind = ctl.kind.kind }, { resource = ctl.kind.plural }
    emit("smop_workqueue_depth", kind, st.queue or 0)
    emit("smop_workqueue_retries_total", kind, st.retries or 0)
    emit("smop_watch_restarts_total", res, st.restarts or 0)
    emit("smop_watch_relists_total", res, st.relists or 0)
    emit("smop_informer_synced", res, st.synced and 1 or 0)
  end
  emit("smop_lua_memory_bytes", {}, math.floor(collectgarbage("count") * 1024))
  if self.elector then
    emit("smop_leader", { lease = self.elector.namespace .. "/" .. self.elector.name },
      self.elector:is_leader() and 1 or 0)
  end
end

function Operator:ready()
  for _, ctl in ipairs(self.controllers) do
    if not ctl:synced() then return false end
  end
  return #self.controllers > 0
end

function Operator:state()
  local list = {}
  for i, ctl in ipairs(self.controllers) do list[i] = ctl:state() end
  return { ready = self:ready(), controllers = list }
end

-- Logs each informer's new error once, and when it recovers.
-- The informer's trouble while it retries, as a key to tell a new error
-- from the same one again: the text stays after a recovery (attempts says
-- whether it still fails), and curl's timings differ on every attempt.
local function trouble(st)
  if (st.attempts or 0) == 0 or not st.last_error then return nil end
  return (st.last_error:gsub("%d+ ms", "N ms"):gsub("%d+ milliseconds", "N milliseconds"))
end
M.trouble = trouble

-- Logs each informer's new trouble once, and the recovery. One cause is one
-- line: an API server that cannot be reached is said once for all kinds,
-- not once per kind (a kind that fails the same way later, while the cause
-- is still there, adds nothing), and recovered once the last kind is over it.
function Operator:watch_informers()
  local seen, ready_logged = {}, false
  local standing = {}   -- hint -> { [ctl] = true } while those informers fail that way
  self.wake = task.condition()
  while not self.stopping do
    local news, order, recovered = {}, {}, {}
    for _, ctl in ipairs(self.controllers) do
      local st = ctl:state()
      local key = trouble(st)
      if key ~= seen[ctl] then
        for h, set in pairs(standing) do
          if set[ctl] then
            set[ctl] = nil
            if not next(set) then recovered[#recovered + 1] = h end
          end
        end
        if key then
          local h = hint(st.last_error)
          if not next(standing[h] or {}) and not news[h] then
            news[h] = { plurals = {}, kinds = {}, error = st.last_error, phase = st.phase }
            order[#order + 1] = h
          end
          if news[h] then
            news[h].plurals[#news[h].plurals + 1] = ctl.kind.plural
            news[h].kinds[#news[h].kinds + 1] = ctl.kind.kind
          end
          standing[h] = standing[h] or {}
          standing[h][ctl] = true
        end
      end
      seen[ctl] = key
    end
    for _, h in ipairs(order) do
      local t = news[h]
      log.warn("cannot list/watch " .. table.concat(t.plurals, ", ") .. ": " .. h,
        { kind = table.concat(t.kinds, ","), phase = t.phase, error = t.error })
    end
    for _, h in ipairs(recovered) do
      if not next(standing[h]) then
        standing[h] = nil
        log.info("list/watch recovered", { was = h })
      end
    end
    if not ready_logged and self:ready() then
      ready_logged = true
      log.info("caches synced; ready", { kinds = #self.controllers })
    end
    self.wake:wait(2)
  end
end

-- Stops every controller (running syncs get up to deadline seconds), the
-- Event recorder, the Lease (released) and the probe server.
function Operator:stop(deadline)
  self.stopping = true
  if self.wake then self.wake:notify_all() end
  if self.scripts then self.scripts:stop() end
  for _, ctl in ipairs(self.controllers) do ctl:shutdown() end
  local limit = task.now() + (deadline or 10)
  for _, ctl in ipairs(self.controllers) do ctl:wait(limit) end
  if self.events then self.events:close(math.max(0.1, limit - task.now())) end
  if self.elector then self.elector:stop() end
  if self.server then self.server:close() end
end

return M
