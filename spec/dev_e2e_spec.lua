-- `smop dev` end to end, as a user drives it: the real kubectl applies the
-- example TrainingJob and watches it go SynchronizingK8sJobWithSageMaker ->
-- InProgress (Starting, Training) -> Completed on the fake AWS clock; a
-- second job deleted mid-run is stopped in SageMaker and then goes away;
-- Ctrl-C stops the whole thing cleanly.
local dev = require("spec.support.dev")
local fake_kube = require("spec.support.fake_kube")
local json = require("smop.json")

local EXAMPLE = "examples/xgboost-mnist-trainingjob.yaml"
local STATUS = "jsonpath={.status.trainingJobStatus}/{.status.secondaryStatus}"

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

describe("smop dev", function()
  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end

  local d
  before_each(function()
    d = dev.start({ "--aws-speed", "0", "--poll-interval", "0.2" })
  end)
  after_each(function()
    if d then d.stop() end
  end)

  local function status_of(name)
    local out, _, code = d.kubectl({ "get", "trainingjob", name, "-o", STATUS })
    return code == 0 and out or nil
  end

  local function wait_status(name, want)
    return d.wait(name .. " " .. want, function() return status_of(name) == want end)
  end

  local function calls(operation)
    return d.control("GET", "/_smop/calls?service=sagemaker&operation=" .. operation).calls
  end

  it("prints how to reach the fakes and serves /readyz", function()
    assert.is_truthy(d.banner[1]:match("^# smop dev: fake Kubernetes API https://127%.0%.0%.1:%d+"))
    local text = table.concat(d.banner, "\n")
    assert.is_truthy(text:find("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", 1, true))
    assert.is_truthy(text:find("kubectl apply -f " .. EXAMPLE, 1, true))
    local out = fake_kube.run("curl -s " .. d.probes)
    assert.are.equal("ok\n", out)
    local scraped = fake_kube.run("curl -s " .. d.probes:gsub("/readyz$", "/metrics"))
    assert.is_truthy(scraped:find('smop_informer_synced{resource="trainingjobs"} 1', 1, true), scraped)
    local lua_bytes = tonumber(scraped:match("\nsmop_lua_memory_bytes (%d+)\n"))
    assert.is_true(lua_bytes ~= nil and lua_bytes > 1e6, scraped)
    local ns = d.kubectl({ "get", "namespace", "sagemaker-k8s-operator-system", "-o", "name" })
    assert.are.equal("namespace/sagemaker-k8s-operator-system\n", ns)
    -- the operator holds its Lease there, as an installed one with --leader-elect
    local holder
    d.wait("the Lease", function()
      holder = d.kubectl({ "get", "lease", "smop.sagemaker.aws.amazon.com", "-n",
        "sagemaker-k8s-operator-system", "-o", "jsonpath={.spec.holderIdentity}" })
      return holder ~= ""
    end)
    assert.is_truthy(holder:find("^smop%-dev_"), holder)
    assert.are.equal(0, d.stop())
    assert.is_truthy(d.stderr:find("smop dev stopping", 1, true))
    assert.is_truthy(d.stderr:find("released the leader lease", 1, true), d.stderr)
  end)

  it("runs the example TrainingJob to Completed, and stops one deleted mid-run", function()
    local stop_watch = d.kubectl_background({ "get", "trainingjobs", "-w", "--no-headers",
      "-o", "custom-columns=NAME:.metadata.name,STATUS:.status.trainingJobStatus" })
    local out, err, code = d.kubectl({ "apply", "-f", EXAMPLE })
    assert.are.equal(0, code, err)
    assert.are.equal("trainingjob.sagemaker.aws.amazon.com/xgboost-mnist created\n", out)

    wait_status("xgboost-mnist", "InProgress/Starting")
    d.control("POST", "/_smop/clock", { advance = 25 })
    wait_status("xgboost-mnist", "InProgress/Training")
    d.control("POST", "/_smop/clock", { advance = 100 })
    wait_status("xgboost-mnist", "Completed/Completed")

    local obj = json.decode((d.kubectl({ "get", "trainingjob", "xgboost-mnist", "-o", "json" })))
    local name = obj.status.sageMakerTrainingJobName
    assert.are.equal("xgboost-mnist-" .. obj.metadata.uid:gsub("-", ""), name)
    assert.are.equal("s3://my-bucket/xgboost/" .. name .. "/output/model.tar.gz", obj.status.modelPath)
    assert.are.same({ "sagemaker-operator-finalizer" }, obj.metadata.finalizers)

    -- the status history, as `kubectl get -w` printed it
    local history = stop_watch()
    local sync_at = history:find("xgboost%-mnist%s+SynchronizingK8sJobWithSageMaker")
    local progress_at = history:find("xgboost%-mnist%s+InProgress")
    local done_at = history:find("xgboost%-mnist%s+Completed")
    assert.is_truthy(sync_at, history)
    assert.is_truthy(progress_at and done_at, history)
    assert.is_true(sync_at < progress_at and progress_at < done_at, history)

    local events = d.kubectl({ "get", "events", "--field-selector", "involvedObject.name=xgboost-mnist" })
    assert.is_truthy(events:find("Created", 1, true), events)
    assert.is_truthy(events:find("Completed", 1, true), events)

    -- a second job, deleted while it runs
    local second = read(EXAMPLE):gsub("name: xgboost%-mnist\n", "name: xgboost-mnist-2\n", 1)
    local _
    _, err, code = d.kubectl({ "apply", "-f", "-" }, { stdin = second })
    assert.are.equal(0, code, err)
    wait_status("xgboost-mnist-2", "InProgress/Starting")
    _, err, code = d.kubectl({ "delete", "trainingjob", "xgboost-mnist-2", "--wait=false" })
    assert.are.equal(0, code, err)
    d.wait("StopTrainingJob", function() return #calls("StopTrainingJob") > 0 end)
    wait_status("xgboost-mnist-2", "Stopping/Stopping")
    d.control("POST", "/_smop/clock", { advance = 10 })
    d.wait("xgboost-mnist-2 gone", function()
      local _, gerr, gcode = d.kubectl({ "get", "trainingjob", "xgboost-mnist-2" })
      return gcode ~= 0 and gerr:find("NotFound", 1, true)
    end)
    local stops = calls("StopTrainingJob")
    assert.are.equal(1, #stops)
    assert.is_truthy(stops[1].params.TrainingJobName:match("^xgboost%-mnist%-2%-%x+$"))
    assert.are.equal(2, #calls("CreateTrainingJob"))

    -- what the operator did, through the aws CLI
    local listed, aerr, acode = d.aws({ "sagemaker", "list-training-jobs", "--query",
      "TrainingJobSummaries[].TrainingJobStatus", "--output", "text" })
    assert.are.equal(0, acode, aerr)
    local statuses = {}
    for s in listed:gmatch("%a+") do statuses[#statuses + 1] = s end
    table.sort(statuses)
    assert.are.same({ "Completed", "Stopped" }, statuses)
  end)
end)
