-- `smop dev`: fake-kube, fake-aws and the operator in this one process
-- (operator.dev), for trying every example with plain kubectl and the aws
-- CLI: no cluster, no AWS account. Prints the shell lines that point
-- kubectl and the aws CLI at the fakes, then serves until Ctrl-C (SIGINT)
-- or SIGTERM and stops everything.
--
-- The CRDs are read from disk (--crds, default ./crds: run it from the
-- source tree, or point --crds at the CRD files of an install).
--
-- stdout, once the operator's caches are synced:
--   # smop dev: fake Kubernetes API https://127.0.0.1:P, fake AWS http://127.0.0.1:Q, ...
--   export KUBECONFIG=/tmp/smop-dev-P.kubeconfig
--   export AWS_ENDPOINT_URL=http://127.0.0.1:Q
--   export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=us-west-2
--   # then: kubectl apply -f examples/xgboost-mnist-trainingjob.yaml ...
local dev = require("operator.dev")
local log = require("smop.log")
local cli_args = require("cli.args")
local task = require("smop.task")
local yaml = require("smop.yaml")

local M = {}

M.USAGE = "usage: smop dev [--crds DIR] [--kubeconfig-out FILE] [--kube-port P] [--aws-port P]\n"
  .. "  [--aws-speed X] [--poll-interval SECONDS] [--probe-port P] [--log-format text|json] [--log-level L]"

local FLAGS = {
  ["--crds"] = { "crds" },
  ["--kubeconfig-out"] = { "kubeconfig" },
  ["--kube-port"] = { "kube_port", "number" },
  ["--aws-port"] = { "aws_port", "number" },
  ["--aws-speed"] = { "aws_speed" },
  ["--poll-interval"] = { "poll_interval", "number" },
  ["--probe-port"] = { "probe_port", "number" },
  ["--log-format"] = { "log_format" },
  ["--log-level"] = { "log_level" },
}

-- Every CustomResourceDefinition document in dir's *.yaml files.
local function read_crds(sys, dir)
  local names, err = sys.list_dir(dir)
  if not names then
    return nil, string.format("--crds %s: %s (run smop dev from the smop source tree, or give "
      .. "--crds DIR with the CRD files)", dir, tostring(err))
  end
  local docs = {}
  for _, name in ipairs(names) do
    if name:match("%.ya?ml$") then
      local path = dir .. "/" .. name
      local text, rerr = sys.read_file(path)
      if not text then return nil, path .. ": " .. tostring(rerr) end
      local all, yerr = yaml.decode_all(text)
      if not all then return nil, path .. ": " .. tostring(yerr) end
      for _, d in ipairs(all) do docs[#docs + 1] = d end
    end
  end
  return docs
end

local function write_kubeconfig(sys, path, cfg)
  local text, err = yaml.encode(cfg)
  if not text then return nil, err end
  local ok, werr = sys.write_file(path .. ".tmp", text, "w", true)   -- it holds the token
  if not ok then return nil, werr end
  return sys.rename(path .. ".tmp", path)
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Waits (bounded) for the operator's caches, so a kubectl apply right
-- after the banner is seen at once.
local function wait_ready(op)
  for _ = 1, 200 do
    if op:ready() then return true end
    task.sleep(0.05)
  end
  return false
end

function M.run(sys, args)
  local opts, code = cli_args.parse_command(sys, "dev", args, FLAGS, M.USAGE, function(o)
    local speed = tonumber(o.aws_speed or "1")
    if not speed or speed < 0 then return "--aws-speed needs a number >= 0" end
  end)
  if not opts then return code end
  local speed = tonumber(opts.aws_speed or "1")
  local docs, cerr = read_crds(sys, opts.crds or "crds")
  if not docs then
    sys.stderr("smop dev: " .. cerr .. "\n")
    return 1
  end
  local sb, err = dev.start({ crds = docs, kube_port = opts.kube_port, aws_port = opts.aws_port,
    aws_speed = speed, poll_interval = opts.poll_interval, probe_port = opts.probe_port or 0,
    leader_elect = true, scripts_configmap = { namespace = dev.NAMESPACE, name = "smop-scripts" } })
  if not sb then
    sys.stderr("smop dev: " .. tostring(err) .. "\n")
    return 1
  end
  local port = sb.kube_url:match(":(%d+)$")
  local kubeconfig = opts.kubeconfig
    or ((sys.getenv("TMPDIR") or "/tmp") .. "/smop-dev-" .. port .. ".kubeconfig")
  local ok, werr = write_kubeconfig(sys, kubeconfig, sb:kubeconfig())
  if not ok then
    sb:stop(1)
    sys.stderr("smop dev: --kubeconfig-out " .. kubeconfig .. ": " .. tostring(werr) .. "\n")
    return 1
  end
  if not wait_ready(sb.op) then log.warn("operator caches not synced yet; go on anyway") end
  sys.stdout(table.concat({
    string.format("# smop dev: fake Kubernetes API %s, fake AWS %s, operator probes %s/readyz",
      sb.kube_url, sb.aws_url, sb.op.url),
    "export KUBECONFIG=" .. quote(kubeconfig),
    "export AWS_ENDPOINT_URL=" .. sb.aws_url,
    string.format("export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-west-2",
      dev.ACCESS_KEY_ID, quote(dev.SECRET_ACCESS_KEY)),
    "# then, in another shell with those set:",
    "#   kubectl apply -f examples/xgboost-mnist-trainingjob.yaml",
    "#   kubectl get trainingjobs -w",
    "#   aws --endpoint-url \"$AWS_ENDPOINT_URL\" sagemaker list-training-jobs",
    "# Ctrl-C stops everything.",
    "",
  }, "\n"))
  local signal = sys.wait_signal()
  log.info("smop dev stopping", { signal = signal })
  sb:stop(5)
  return 0
end

return M
