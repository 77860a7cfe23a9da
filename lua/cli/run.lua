-- `smop run`: the operator. Finds the Kubernetes API the way kubectl does
-- (--kubeconfig, KUBECONFIG, in-cluster, ~/.kube/config), watches the
-- SageMaker kinds and reconciles them until SIGINT or SIGTERM, then stops
-- taking work and lets running syncs finish (--shutdown-timeout).
--
-- With --leader-elect only the replica holding the Lease syncs; the others
-- keep their caches warm. --shard i/n gives this replica one n-th of the
-- objects (with leader election, a Lease per shard).
--
-- Exit codes: 0 after a signal, 2 usage, 1 when it cannot start (no usable
-- Kubernetes configuration, the probe port in use) or lost the Lease (the
-- kubelet restarts it as a candidate). An API server that does
-- not answer, refuses the credentials or lacks the CRDs is not a start
-- failure: the operator logs what is wrong, stays unready and retries.
local config = require("kube.config")
local kube_client = require("kube.client")
local cli_args = require("cli.args")
local encoding = require("util.encoding")
local log = require("smop.log")
local leader = require("operator.leader")
local operator = require("operator")
local shard = require("operator.shard")
local task = require("smop.task")

local M = {}

M.USAGE = table.concat({
  "usage: smop run [--kubeconfig FILE] [--context NAME] [--namespace NS] [--log-format text|json]",
  "  [--kinds trainingjob,...] [--label-selector SEL] [--max-concurrent N] [--poll-interval SECONDS]",
  "  [--resync SECONDS] [--error-interval SECONDS] [--metrics-addr HOST:PORT|off]",
  "  [--aws-endpoint-url URL] [--shutdown-timeout SECONDS] [--log-level debug|info|warn|error]",
  "  [--shard I/N] [--leader-elect] [--leader-elect-namespace NS] [--leader-elect-id NAME]",
  "  [--leader-elect-lease-duration SECONDS] [--leader-elect-renew-deadline SECONDS]",
  "  [--leader-elect-retry-period SECONDS] [--scripts-configmap [NS/]NAME|off]",
}, "\n")


-- flag -> { key, kind = "string"|"number" }
local FLAGS = {
  ["--kubeconfig"] = { "kubeconfig" },
  ["--context"] = { "context" },
  ["--namespace"] = { "namespace" },
  ["--kinds"] = { "kinds" },
  ["--label-selector"] = { "label_selector" },
  ["--max-concurrent"] = { "max_concurrent", "number" },
  ["--poll-interval"] = { "poll_interval", "number" },
  ["--resync"] = { "resync", "number" },
  ["--error-interval"] = { "error_interval", "number" },
  ["--metrics-addr"] = { "metrics_addr" },
  ["--aws-endpoint-url"] = { "aws_endpoint_url" },
  ["--shutdown-timeout"] = { "shutdown_timeout", "number" },
  ["--log-format"] = { "log_format" },
  ["--log-level"] = { "log_level" },
  ["--shard"] = { "shard" },
  ["--leader-elect"] = { "leader_elect", "flag" },
  ["--leader-elect-namespace"] = { "lease_namespace" },
  ["--leader-elect-id"] = { "lease_name" },
  ["--leader-elect-lease-duration"] = { "lease_duration", "number" },
  ["--leader-elect-renew-deadline"] = { "renew_deadline", "number" },
  ["--leader-elect-retry-period"] = { "retry_period", "number" },
  ["--scripts-configmap"] = { "scripts_configmap" },
}

M.SCRIPTS_CONFIGMAP = "smop-scripts"

-- "HOST:PORT" (or ":PORT", "PORT") -> host, port; "off" -> false.
function M.parse_addr(s)
  if s == "off" or s == "0" then return false end
  local host, port = s:match("^%[([^%]]+)%]:(%d+)$")
  if not host then host, port = s:match("^([^:]*):(%d+)$") end
  if not host then port = s:match("^(%d+)$") end
  port = tonumber(port)
  if not port or port > 65535 then return nil, "--metrics-addr wants HOST:PORT (e.g. :8080) or off" end
  if not host or host == "" then host = "0.0.0.0" end
  return host, port
end

local function split(s)
  local out = {}
  for part in tostring(s):gmatch("[^,%s]+") do out[#out + 1] = part:lower() end
  return out
end

-- Who this replica is (the pod's name in a cluster), and the namespace it
-- runs in (where its Lease and script ConfigMap live).
local function instance(sys)
  return sys.getenv("POD_NAME") or sys.getenv("HOSTNAME") or "smop"
end

local function own_namespace(cfg, sys)
  return sys.getenv("POD_NAMESPACE") or cfg.namespace or "default"
end

-- The leader election options, or nil, message.
local function election(opts, cfg, sys, shard_info)
  if not opts.leader_elect then return nil end
  local name = opts.lease_name or leader.LEASE_NAME
  if shard_info and not opts.lease_name then
    name = string.format("%s-shard-%d-of-%d", name, shard_info.index, shard_info.count)
  end
  return {
    -- a short timeout: a renewal that hangs must not outlive the renew deadline
    kube = kube_client.new(cfg, { timeout = math.max(1, (opts.renew_deadline or 10) / 2) }),
    namespace = opts.lease_namespace or own_namespace(cfg, sys),
    name = name,
    identity = instance(sys) .. "_" .. encoding.uuid(),
    lease_duration = opts.lease_duration, renew_deadline = opts.renew_deadline,
    retry_period = opts.retry_period,
  }
end

-- The ConfigMap of the live script set: [NS/]NAME (default NS: the
-- operator's own namespace), or nil for "off".
local function scripts_configmap(opts, cfg, sys)
  local v = opts.scripts_configmap or M.SCRIPTS_CONFIGMAP
  if v == "off" then return nil end
  local ns, name = v:match("^([^/]+)/([^/]+)$")
  return { namespace = ns or own_namespace(cfg, sys), name = name or v }
end

local function check(opts)
  if opts.shard then
    local owns, err = shard.parse(opts.shard)
    if not owns then return err end
  end
  local d = opts.lease_duration or 15
  local r = opts.renew_deadline or 10
  local p = opts.retry_period or 2
  if not (d > r and r > p) then
    return string.format("leader election wants --leader-elect-lease-duration (%g) > "
      .. "--leader-elect-renew-deadline (%g) > --leader-elect-retry-period (%g)", d, r, p)
  end
end

function M.run(sys, args)
  local opts, code = cli_args.parse_command(sys, "run", args, FLAGS, M.USAGE, check)
  if not opts then return code end
  local host, port = M.parse_addr(opts.metrics_addr or ":8080")
  if host == nil then
    sys.stderr("smop run: " .. port .. "\n")
    return 2
  end
  local kinds = opts.kinds and split(opts.kinds) or operator.KINDS
  for _, k in ipairs(kinds) do
    local ok, kind = pcall(require, "kinds." .. k)
    if not (ok and type(kind) == "table" and kind.plural and kind.reconcile) then
      sys.stderr("smop run: --kinds: no kind script kinds." .. k .. " (known: "
        .. table.concat(operator.KINDS, ", ") .. ")\n")
      return 2
    end
  end
  local owns, shard_info
  if opts.shard then owns, shard_info = shard.parse(opts.shard) end
  local cfg, cerr = config.load({ kubeconfig = opts.kubeconfig, context = opts.context,
    read_file = sys.read_file, getenv = sys.getenv, run = sys.run })
  if not cfg then
    sys.stderr("smop run: no usable Kubernetes configuration: " .. tostring(cerr) .. "\n")
    return 1
  end
  for _, w in ipairs(cfg.warnings or {}) do log.warn(w, { source = cfg.source }) end
  local endpoint = opts.aws_endpoint_url or sys.getenv("AWS_ENDPOINT_URL")
  local ended = task.condition()
  local lost
  local op, err = operator.start({
    kube = kube_client.new(cfg), kinds = kinds, namespace = opts.namespace,
    label_selector = opts.label_selector, resync = opts.resync,
    max_concurrent = opts.max_concurrent and math.floor(opts.max_concurrent),
    poll_interval = opts.poll_interval, error_interval = opts.error_interval,
    aws = { endpoint_url = endpoint,
      endpoints = { sagemaker = sys.getenv("AWS_DEFAULT_SAGEMAKER_ENDPOINT") } },
    listen = host and { host = host, port = port } or nil,
    owns = owns,
    leader_election = election(opts, cfg, sys, shard_info),
    scripts_configmap = scripts_configmap(opts, cfg, sys),
    on_lost = function(why)
      lost = why
      ended:notify_all()
    end,
    instance = instance(sys),
  })
  if not op then
    sys.stderr("smop run: " .. tostring(err) .. "\n")
    return 1
  end
  log.info("operator started", { kubernetes = cfg.source, server = cfg.server,
    namespace = opts.namespace or "(all)", probes = op.url, shard = opts.shard,
    leader_lease = op.elector and (op.elector.namespace .. "/" .. op.elector.name) or nil,
    scripts_configmap = op.scripts and op.scripts.where or "off" })
  local signal
  task.spawn(function()
    signal = sys.wait_signal()
    ended:notify_all()
  end)
  while not (signal or lost) do ended:wait() end
  if lost then
    log.error("stopping: this replica no longer holds the leader lease", { reason = lost })
    -- running syncs may end only until another replica can take the Lease
    op:stop(math.min(opts.shutdown_timeout or 10,
      (opts.lease_duration or 15) - (opts.renew_deadline or 10)))
    return 1
  end
  log.info("stopping", { signal = signal })
  op:stop(opts.shutdown_timeout or 10)
  return 0
end

return M
