-- A fake cluster for `smop run` processes: `smop fake-kube` with the
-- CRDs, `smop fake-aws` with a frozen clock, and operators
-- started against both.
--
--   local c = cluster.start()
--   local op = c.operator({ "--namespace", "ml" }, "POD_NAME=a")   -- dev.run_operator
--   c.apply_trainingjob("job-1", { namespace = "ml", labels = { team = "a" } })
--   c.status("job-1", "ml")        -- .status.trainingJobStatus ("" when none)
--   c.wait("why", fn)              -- polls fn until truthy (bounded)
--   c.creates()                    -- CreateTrainingJob calls that created a job
--   c.stop()                       -- operators (SIGTERM), then the fakes
--
-- c.fk and c.fa are the fakes (spec.support.fake_kube, spec.support.fake_aws).
local dev = require("spec.support.dev")
local fake_aws = require("spec.support.fake_aws")
local fake_kube = require("spec.support.fake_kube")
local json = require("smop.json")
local smop = require("spec.support.smop")

local M = {}

M.CRDS = "crds"   -- all eight: the operator runs every kind
M.EXAMPLE = "examples/xgboost-mnist-trainingjob.yaml"

function M.start()
  local c = { operators = {} }
  c.fk = fake_kube.start({ crds = { M.CRDS } })
  c.fa = fake_aws.start({ "--speed", "0" })
  c.home = smop.tempdir()

  function c.aws_env()
    return string.format("HOME=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_ENDPOINT_URL=%s "
      .. "AWS_EC2_METADATA_DISABLED=true", smop.quote(c.home), fake_aws.KEY, smop.quote(fake_aws.SECRET),
      smop.quote(c.fa.url))
  end

  -- `smop run` against the fakes with args (after --kubeconfig, no probes
  -- unless args ask, a fast poll); env: more "NAME=value" text.
  function c.operator(args, env)
    local all = { "--kubeconfig", c.fk.kubeconfig, "--poll-interval", "0.2" }
    local has_addr = false
    for _, a in ipairs(args or {}) do
      all[#all + 1] = a
      if a == "--metrics-addr" then has_addr = true end
    end
    if not has_addr then
      all[#all + 1] = "--metrics-addr"
      all[#all + 1] = "off"
    end
    local op = dev.run_operator(all, c.aws_env() .. " " .. (env or ""))
    c.operators[#c.operators + 1] = op
    return op
  end

  -- Applies the example TrainingJob under another name (opts.namespace,
  -- opts.labels); returns kubectl's stdout, stderr, exit code.
  function c.apply_trainingjob(name, opts)
    opts = opts or {}
    local text = assert(fake_kube.slurp(M.EXAMPLE))
    local meta = { "metadata:", "  name: " .. name }
    if opts.namespace then meta[#meta + 1] = "  namespace: " .. opts.namespace end
    if opts.labels then
      meta[#meta + 1] = "  labels:"
      local keys = {}
      for k in pairs(opts.labels) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do meta[#meta + 1] = string.format("    %s: %q", k, opts.labels[k]) end
    end
    text = text:gsub("metadata:\n  name: xgboost%-mnist", function() return table.concat(meta, "\n") end)
    return c.fk.kubectl({ "apply", "-f", "-" }, { stdin = text })
  end

  function c.status(name, ns)
    local out = c.fk.kubectl({ "get", "trainingjob", name, "-n", ns or "default", "-o",
      "jsonpath={.status.trainingJobStatus}" })
    return out
  end

  function c.wait(what, fn, limit)
    for _ = 1, limit or 300 do
      local v = fn()
      if v then return v end
      os.execute("sleep 0.1")
    end
    local logs = {}
    for i, op in ipairs(c.operators) do logs[i] = "--- operator " .. i .. ":\n" .. op.log() end
    error("timed out waiting for " .. what .. "\n" .. table.concat(logs, "\n"), 2)
  end

  -- The CreateTrainingJob calls that created a job (not refused, not dropped).
  function c.creates()
    local out = {}
    for _, call in ipairs(fake_aws.curl(c.fa.url, "GET", "/_smop/calls?operation=CreateTrainingJob").calls) do
      if (call.error == nil or call.error == json.null) and not call.dropped then out[#out + 1] = call end
    end
    return out
  end

  function c.stop()
    for _, op in ipairs(c.operators) do op.kill("TERM") end
    c.fa.stop()
    c.fk.stop()
    os.execute("rm -rf " .. smop.quote(c.home))
  end

  return c
end

return M
