-- `smop run` as a process, against `smop fake-kube` and `smop fake-aws`
-- processes: bad configuration, an API server without the CRDs (unready,
-- a log line saying what to do, then recovery), and a SIGKILL right after
-- a create whose answer was lost (the restarted operator finds the job
-- instead of creating a second one).
local cluster = require("spec.support.cluster")
local dev = require("spec.support.dev")
local fake_aws = require("spec.support.fake_aws")
local fake_kube = require("spec.support.fake_kube")
local smop = require("spec.support.smop")

local CRD = "crds"   -- all eight: the operator runs every kind

local function curl_status(url)
  local out = fake_kube.run("curl -s -o /dev/null -w '%{http_code}' " .. smop.quote(url))
  return tonumber(out)
end

describe("smop run", function()
  it("refuses bad arguments and a missing kubeconfig plainly", function()
    local _, err, code = smop.run({ "run", "--bogus" })
    assert.are.equal(2, code)
    assert.is_truthy(err:find("unknown argument --bogus", 1, true))
    _, err, code = smop.run({ "run", "--max-concurrent", "none" })
    assert.are.equal(2, code)
    assert.is_truthy(err:find("--max-concurrent needs a positive number", 1, true))
    _, err, code = smop.run({ "run", "--kubeconfig", "/nonexistent/kubeconfig" })
    assert.are.equal(1, code)
    assert.is_truthy(err:find("no usable Kubernetes configuration", 1, true), err)
    assert.is_truthy(err:find("/nonexistent/kubeconfig", 1, true), err)
  end)

  it("takes --log-format and --log-level after the command name", function()
    local _, err, code = smop.run({ "run", "--log-format", "xml" })
    assert.are.equal(2, code)
    assert.is_truthy(err:find("--log-format must be text or json, not 'xml'", 1, true), err)
    -- smop dev logs the operator's start; SIGINT after a few seconds ends it
    local errfile = os.tmpname()
    local p = assert(io.popen(string.format("timeout -s INT 5 %s dev --log-format json >/dev/null 2>%s",
      smop.quote(smop.bin), smop.quote(errfile))))
    p:close()
    local f = assert(io.open(errfile))
    err = f:read("a")
    f:close()
    os.remove(errfile)
    local msgs = {}
    for line in err:gmatch("[^\n]+") do
      local entry = require("smop.json").decode(line)   -- every line one JSON object
      assert.is_truthy(entry, line)
      msgs[#msgs + 1] = entry.msg
    end
    assert.is_truthy(table.concat(msgs, "|"):find("smop dev stopping", 1, true), err)
  end)

  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end

  it("stays unready while the CRDs are missing, says so, and recovers", function()
    local fk = fake_kube.start()
    local op
    finally(function()
      if op then op.kill() end
      fk.stop()
    end)
    op = dev.run_operator({ "--kubeconfig", fk.kubeconfig, "--metrics-addr", "127.0.0.1:0" })
    local probes = op.wait_log("probes=(http://127%.0%.0%.1:%d+)")
    assert.are.equal(200, curl_status(probes .. "/healthz"))
    op.wait_log("install the CRDs")
    assert.are.equal(503, curl_status(probes .. "/readyz"))
    local body = fake_kube.run("curl -s " .. smop.quote(probes .. "/readyz"))
    assert.is_truthy(body:find("/apis/sagemaker.aws.amazon.com/v1/trainingjobs", 1, true), body)

    local _, err, code = fk.kubectl({ "apply", "-f", CRD })
    assert.are.equal(0, code, err)
    for _ = 1, 600 do
      if curl_status(probes .. "/readyz") == 200 then break end
      os.execute("sleep 0.1")
    end
    assert.are.equal(200, curl_status(probes .. "/readyz"))
    assert.are.equal(0, op.kill("TERM"))
    assert.is_truthy(op.stderr:find("stopping", 1, true))
  end)

  it("creates no second job after a SIGKILL between create and status write", function()
    local c = cluster.start()
    finally(function() c.stop() end)
    -- the create is carried out, its answer lost, and every describe hangs:
    -- the status cannot learn of the job before the kill
    fake_aws.curl(c.fa.url, "POST", "/_smop/faults",
      { kind = "drop", operation = "CreateTrainingJob", count = 1 })
    fake_aws.curl(c.fa.url, "POST", "/_smop/faults", { kind = "latency", operation = "DescribeTrainingJob",
      seconds = 60 })
    local op = c.operator()
    local _, err, code = c.fk.kubectl({ "apply", "-f", "examples/xgboost-mnist-trainingjob.yaml" })
    assert.are.equal(0, code, err)
    local calls = c.wait("the create call", function()
      local list = fake_aws.curl(c.fa.url, "GET", "/_smop/calls?operation=CreateTrainingJob").calls
      return #list > 0 and list
    end)
    assert.is_true(#calls > 0)
    op.kill("KILL")
    local recorded = c.fk.kubectl({ "get", "trainingjob", "xgboost-mnist", "-o",
      "jsonpath={.status.sageMakerTrainingJobName}" })
    assert.are.equal("", recorded)
    fake_aws.curl(c.fa.url, "DELETE", "/_smop/faults")

    c.operator()
    c.wait("InProgress", function() return c.status("xgboost-mnist") == "InProgress" end)
    calls = fake_aws.curl(c.fa.url, "GET", "/_smop/calls?operation=CreateTrainingJob").calls
    assert.is_true(calls[1].dropped)
    for i = 2, #calls do
      assert.are.equal("ResourceInUse", calls[i].error)
    end
    local listed = fake_aws.aws(c.fa.url, { "--region", "us-west-2", "sagemaker", "list-training-jobs",
      "--query", "length(TrainingJobSummaries)" })
    assert.are.equal("1\n", listed)
  end)
end)
