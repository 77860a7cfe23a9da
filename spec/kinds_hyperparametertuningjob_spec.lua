-- The HyperparameterTuningJob kind end to end: the operator in-process
-- against fake Kubernetes and fake SageMaker (spec/support/operator.lua),
-- with the TrainingJob kind running too, since the tuner's training jobs
-- appear as TrainingJob objects.
local driver = require("operator.driver")
local fake_aws = require("spec.support.fake_aws")
local harness = require("spec.support.operator")
local job = require("kinds.lib.job")
local json = require("smop.json")

local KINDS = { "hyperparametertuningjob", "trainingjob" }
local HPO = "examples/xgboost-mnist-hpo.yaml"
local PLURAL = "hyperparametertuningjobs"

local function tuning_status(h, name, field)
  return h.status(name, field or "hyperParameterTuningJobStatus", PLURAL)
end

-- The TrainingJob objects owned by the tuning job object `name`, by name.
local function children(h, name)
  local owner = h.get(name, PLURAL)
  local list = assert(h.kube:list(harness.TRAININGJOBS,
    { label_selector = driver.OWNER_LABEL .. "=" .. owner.metadata.uid }))
  local out, n = {}, 0
  for _, o in ipairs(list.items) do
    out[o.metadata.name] = o
    n = n + 1
  end
  return out, n
end

-- Waits until the tuning job `name` has `count` children, each with
-- trainingJobStatus `want` (any status when nil); returns them.
local function wait_children(h, name, count, want)
  return h.wait(count .. " TrainingJobs " .. tostring(want), function()
    local kids, n = children(h, name)
    if n ~= count then return nil end
    for _, k in pairs(kids) do
      local st = (k.status or {}).trainingJobStatus
      if want and st ~= want then return nil end
    end
    return kids
  end)
end

local function events_with(h, name, reason)
  local n = 0
  for _, e in ipairs(h.events(name)) do
    if e.reason == reason then n = n + (e.count or 1) end
  end
  return n
end

-- The fake's own answer about a tuning job (signed with the spec's key,
-- not the operator's).
local function describe_tuning(h, name)
  local status, _, body, out = fake_aws.call(h.aws_app, "sagemaker", "DescribeHyperParameterTuningJob",
    { HyperParameterTuningJobName = name }, { region = "us-west-2" })
  assert.are.equal(200, status, body)
  return out
end

describe("HyperparameterTuningJob", function()
  it("runs the tuning job and mirrors every training job it launches as a TrainingJob", function()
    harness.run({ kinds = KINDS }, function(h)
      local created = h.apply(HPO, "hpo-a")
      h.wait("InProgress", function() return tuning_status(h, "hpo-a") == "InProgress" end)
      local st = h.get("hpo-a", PLURAL).status
      local name = st.sageMakerHyperParameterTuningJobName
      -- metadata.name + "-" + uid is over 32: the uid alone
      assert.are.equal(32, #name)
      assert.are.equal((created.metadata.uid:gsub("-", "")), name)
      assert.are.same({ completed = 0, inProgress = 0, retryableError = 0, nonRetryableError = 0,
        stopped = 0, totalError = 0 }, st.trainingJobStatusCounters)
      local create = h.calls("CreateHyperParameterTuningJob")
      assert.are.equal(1, #create)
      assert.are.equal(name, create[1].params.HyperParameterTuningJobName)
      assert.are.equal("0.5", create[1].params.TrainingJobDefinition.StaticHyperParameters.base_score)

      -- the tuner launches maxParallelTrainingJobs (5) training jobs
      h.advance(5)
      local kids = wait_children(h, "hpo-a", 5, "InProgress")
      for kname, k in pairs(kids) do
        local sm_name = k.spec.trainingJobName
        assert.are.equal(sm_name:lower(), kname)
        assert.matches("^" .. name .. "%-%d%d%d%-%x+$", sm_name)
        assert.are.equal(sm_name, k.status.sageMakerTrainingJobName)
        assert.are.equal(name, k.metadata.labels[job.TUNING_JOB_LABEL])
        local refs = k.metadata.ownerReferences
        assert.are.equal(1, #refs)
        assert.are.same({ apiVersion = "sagemaker.aws.amazon.com/v1", kind = "HyperparameterTuningJob",
          name = "hpo-a", uid = created.metadata.uid, controller = true, blockOwnerDeletion = true },
          setmetatable(refs[1], nil))
        -- the spec SageMaker ran: static and tuned hyperparameters, the definition's resources
        local hp = {}
        for _, p in ipairs(k.spec.hyperParameters) do hp[p.name] = p.value end
        assert.are.equal("gbtree", hp.booster)
        assert.is_truthy(tonumber(hp.num_round) >= 10 and tonumber(hp.num_round) <= 20)
        assert.are.equal("ml.m4.xlarge", k.spec.resourceConfig.instanceType)
        assert.are.equal("us-west-2", k.spec.region)
      end
      h.wait("5 in progress", function()
        local c = tuning_status(h, "hpo-a", "trainingJobStatusCounters")
        return c and c.inProgress == 5
      end)

      -- the first five end, five more start; then those end and the tuning job with them
      h.advance(60)
      wait_children(h, "hpo-a", 10)
      h.advance(60)
      h.wait("Completed", function() return tuning_status(h, "hpo-a") == "Completed" end)
      kids = wait_children(h, "hpo-a", 10, "Completed")
      st = h.get("hpo-a", PLURAL).status
      assert.are.same({ completed = 10, inProgress = 0, retryableError = 0, nonRetryableError = 0,
        stopped = 0, totalError = 0 }, st.trainingJobStatusCounters)

      -- the best training job, as SageMaker names it
      local best = st.bestTrainingJob
      local want = describe_tuning(h, name).BestTrainingJob
      assert.are.equal(want.TrainingJobName, best.trainingJobName)
      assert.is_truthy(kids[best.trainingJobName:lower()])
      assert.are.equal("Completed", best.trainingJobStatus)
      assert.are.equal("Succeeded", best.objectiveStatus)
      assert.are.equal(name, best.tuningJobName)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", best.creationTime)
      local metric = best.finalHyperParameterTuningJobObjectiveMetric
      assert.are.equal("validation:error", metric.metricName)
      assert.are.equal("Minimize", metric.type)
      assert.are.equal("string", type(metric.value))
      assert.are.equal(want.FinalHyperParameterTuningJobObjectiveMetric.Value, tonumber(metric.value))
      assert.are.equal(1, #best.tunedHyperParameters)
      assert.are.same({ name = "num_round", value = want.TunedHyperParameters.num_round },
        setmetatable(best.tunedHyperParameters[1], nil))

      -- SageMaker launched the training jobs: the operator never created one,
      -- and asked for the tuner's list once per wave of launches
      assert.are.equal(0, #h.calls("CreateTrainingJob"))
      assert.are.equal(2, #h.calls("ListTrainingJobsForHyperParameterTuningJob"))
      h.wait("10 CreatedTrainingJob Events", function()
        return events_with(h, "hpo-a", "CreatedTrainingJob") == 10
      end)
      assert.are.equal(1, h.succeeded("CreateHyperParameterTuningJob"))
    end)
  end)

  it("counts failed training jobs by kind of error, and mirrors their reasons", function()
    harness.run({ kinds = KINDS }, function(h)
      h.apply(HPO, "hpo-f", function(o) o.spec.hyperParameterTuningJobName = "hpo-f" end)
      h.wait("InProgress", function() return tuning_status(h, "hpo-f") == "InProgress" end)
      h.advance(5)
      local kids = wait_children(h, "hpo-f", 5, "InProgress")
      local names = {}
      for _, k in pairs(kids) do names[#names + 1] = k.spec.trainingJobName end
      table.sort(names)
      -- SageMaker's own fault (retryable), and the algorithm's (not)
      h.aws_fault({ kind = "fail", name = names[1], reason = "InternalServerError: We encountered an "
        .. "internal error. Please try again." })
      h.aws_fault({ kind = "fail", name = names[2], reason = "AlgorithmError: framework error" })
      -- both fail 15 s into Training; two more start; then everything ends
      h.advance(35)
      h.advance(60)
      h.advance(25)
      h.wait("Completed", function() return tuning_status(h, "hpo-f") == "Completed" end)
      assert.are.same({ completed = 8, inProgress = 0, retryableError = 1, nonRetryableError = 1,
        stopped = 0, totalError = 2 }, tuning_status(h, "hpo-f", "trainingJobStatusCounters"))
      kids = wait_children(h, "hpo-f", 10)
      local failed = h.wait("the failures mirrored", function()
        local a, b = kids[names[1]], kids[names[2]]
        a, b = h.get(a.metadata.name), h.get(b.metadata.name)
        return a.status.trainingJobStatus == "Failed" and b.status.trainingJobStatus == "Failed" and { a, b }
      end)
      assert.matches("^InternalServerError", failed[1].status.additional)
      assert.matches("^AlgorithmError", failed[2].status.additional)
    end)
  end)

  it("makes a TrainingJob deleted by hand again, showing its training job stopped", function()
    harness.run({ kinds = KINDS }, function(h)
      h.apply(HPO, "hpo-d")
      h.wait("InProgress", function() return tuning_status(h, "hpo-d") == "InProgress" end)
      h.advance(5)
      local kids = wait_children(h, "hpo-d", 5, "InProgress")
      local victim = next(kids)
      local uid = kids[victim].metadata.uid
      h.advance(1)
      assert(h.kube:delete(h.path(victim)))
      -- its own finalizer stops the training job
      h.wait("StopTrainingJob", function() return h.succeeded("StopTrainingJob") == 1 end)
      h.advance(5)
      local back = h.wait("the TrainingJob made again", function()
        local o = h.get(victim)
        return o and o.metadata.uid ~= uid and o.status and o.status.trainingJobStatus == "Stopped" and o
      end)
      assert.are.equal(kids[victim].spec.trainingJobName, back.spec.trainingJobName)
      h.wait("1 stopped", function()
        return (tuning_status(h, "hpo-d", "trainingJobStatusCounters") or {}).stopped == 1
      end)
      assert.are.equal("InProgress", tuning_status(h, "hpo-d"))
      assert.are.equal(0, #h.calls("CreateTrainingJob"))
    end)
  end)

  it("on delete, stops the tuning job, then deletes its TrainingJobs, then goes", function()
    harness.run({ kinds = KINDS }, function(h)
      h.apply(HPO, "hpo-b")
      h.wait("InProgress", function() return tuning_status(h, "hpo-b") == "InProgress" end)
      local name = tuning_status(h, "hpo-b", "sageMakerHyperParameterTuningJobName")
      h.advance(5)
      wait_children(h, "hpo-b", 5, "InProgress")

      -- (a later instant: the stop changes the jobs' LastModifiedTime, which
      -- is how the TrainingJobs' change detection notices)
      h.advance(1)
      assert(h.kube:delete(h.path("hpo-b", PLURAL)))
      h.wait("Stopping", function() return tuning_status(h, "hpo-b") == "Stopping" end)
      -- a delete is no spec change
      assert.is_nil(tuning_status(h, "hpo-b", "additional"))
      local stops = h.calls("StopHyperParameterTuningJob")
      assert.are.equal(1, #stops)
      assert.are.equal(name, stops[1].params.HyperParameterTuningJobName)
      -- SageMaker stops the training jobs; their objects stay while it does
      local kids = wait_children(h, "hpo-b", 5, "Stopping")
      for _, k in pairs(kids) do assert.is_nil(k.metadata.deletionTimestamp) end

      h.advance(5)
      h.wait("the tuning job object gone", function() return h.get("hpo-b", PLURAL) == nil end)
      local left = assert(h.kube:list(harness.TRAININGJOBS))
      assert.are.equal(0, #left.items)
      -- the training jobs were stopped by the tuner, not one by one
      assert.are.equal(0, #h.calls("StopTrainingJob"))
      assert.are.equal(0, #h.calls("CreateTrainingJob"))
      h.wait("the DeletingTrainingJobs Event", function()
        return events_with(h, "hpo-b", "DeletingTrainingJobs") == 1
      end)
    end)
  end)

  it("leaves its TrainingJobs to the garbage collector when its finalizer is removed by hand", function()
    harness.run({ kinds = KINDS }, function(h)
      h.apply(HPO, "hpo-gc")
      h.wait("InProgress", function() return tuning_status(h, "hpo-gc") == "InProgress" end)
      h.advance(5)
      wait_children(h, "hpo-gc", 5, "InProgress")
      -- the escape hatch for an operator that is gone (lua/README.md)
      assert(h.kube:patch(h.path("hpo-gc", PLURAL), { metadata = { finalizers = json.null } }))
      assert(h.kube:delete(h.path("hpo-gc", PLURAL)))
      h.wait("the TrainingJobs' own finalizers stopping their jobs", function()
        return h.succeeded("StopTrainingJob") == 5
      end)
      h.advance(5)
      h.wait("the TrainingJobs collected", function()
        return #assert(h.kube:list(harness.TRAININGJOBS)).items == 0
      end)
      assert.are.equal(5, h.succeeded("StopTrainingJob"))
      assert.are.equal(0, #h.calls("StopHyperParameterTuningJob"))
    end)
  end)

  it("uses spec.hyperParameterTuningJobName, and says what is wrong with a bad spec", function()
    harness.run({ kinds = KINDS }, function(h)
      h.apply(HPO, "hpo-named", function(o) o.spec.hyperParameterTuningJobName = "My-Tuning-1" end)
      h.wait("InProgress", function() return tuning_status(h, "hpo-named") == "InProgress" end)
      assert.are.equal("My-Tuning-1", tuning_status(h, "hpo-named", "sageMakerHyperParameterTuningJobName"))
      h.advance(5)
      -- Kubernetes names are lower case; the SageMaker name stays in the spec
      local kids = wait_children(h, "hpo-named", 5, "InProgress")
      for kname, k in pairs(kids) do
        assert.matches("^my%-tuning%-1%-%d%d%d%-%x+$", kname)
        assert.matches("^My%-Tuning%-1%-", k.spec.trainingJobName)
      end

      -- valid for the CRD, refused by the API model: never sent
      h.apply(HPO, "hpo-bad", function(o) o.spec.tags[1].key = "team#1" end)
      h.wait("Error", function() return tuning_status(h, "hpo-bad") == "Error" end)
      local additional = tuning_status(h, "hpo-bad", "additional")
      assert.is_truthy(additional:find("tags.1.member.key", 1, true), additional)
      assert.are.equal(1, #h.calls("CreateHyperParameterTuningJob"))
    end)
  end)

  it("keeps SageMaker's status while it cannot make the TrainingJobs, and makes them once it can", function()
    harness.run({ kinds = KINDS }, function(h)
      h.apply(HPO, "hpo-c")
      h.wait("InProgress", function() return tuning_status(h, "hpo-c") == "InProgress" end)
      -- until cleared below (the fake's control state, as DELETE /_smop/faults clears it)
      h.kube_fault({ code = 403, verbs = { "create" }, resource = "trainingjobs", count = 1000000 })
      h.advance(5)
      local additional = h.wait("the message", function()
        return tuning_status(h, "hpo-c", "additional")
      end)
      assert.is_truthy(additional:find("cannot mirror the tuner's training jobs", 1, true), additional)
      assert.is_truthy(additional:find("403", 1, true), additional)
      assert.are.equal("InProgress", tuning_status(h, "hpo-c"))
      assert.are.equal(0, select(2, children(h, "hpo-c")))
      h.kube_app.control.faults = {}
      wait_children(h, "hpo-c", 5, "InProgress")
      h.wait("the message cleared", function() return tuning_status(h, "hpo-c", "additional") == nil end)
      h.wait("a TrainingJobsNotMirrored Event", function()
        return events_with(h, "hpo-c", "TrainingJobsNotMirrored") >= 1
      end)
    end)
  end)
end)

-- A kind with nothing to do: the operator starts, and leaves the objects
-- these tests make alone.
local IDLE = { { kind = "Model", plural = "models", status_field = "status",
  reconcile = function() return {} end, finalize = function() return true end } }

describe("ctx.children", function()
  it("reaches only its own objects, of its own group, in its own namespace", function()
    harness.run({ kinds = IDLE }, function(h)
      local owner = h.apply(HPO, "owner", function(o) o.metadata.labels = { team = "a",
        ["app.kubernetes.io/instance"] = "argo-app" } end)
      local ctx = driver.context({ kube = h.kube }, owner)
      assert.has_error(function() ctx.children("secrets") end)
      assert.has_error(function() ctx.children("pods") end)
      local kids = ctx.children("trainingjobs")

      local spec = harness.example().spec
      local made = assert(kids:create({ metadata = { name = "kid-1", namespace = "other",
        labels = { x = "y" } }, spec = spec }))
      assert.are.equal("default", made.metadata.namespace)
      assert.are.equal("a", made.metadata.labels.team)
      assert.are.equal("y", made.metadata.labels.x)
      assert.is_nil(made.metadata.labels["app.kubernetes.io/instance"])
      assert.are.equal(owner.metadata.uid, made.metadata.labels[driver.OWNER_LABEL])
      assert.are.equal(owner.metadata.uid, made.metadata.ownerReferences[1].uid)

      local _, err = kids:create({ metadata = { name = "../../secrets/x" }, spec = spec })
      assert.is_truthy(tostring(err):find("not a valid object name", 1, true))
      _, err = kids:delete("../x")
      assert.is_truthy(tostring(err):find("not a valid object name", 1, true))

      -- someone else's TrainingJob, even with the owner label copied on
      h.create("stranger", function(o)
        o.metadata.labels = { [driver.OWNER_LABEL] = owner.metadata.uid }
      end)
      local list = assert(kids:list())
      assert.are.equal(1, #list)
      assert.are.equal("kid-1", list[1].metadata.name)
      _, err = kids:delete("stranger")
      assert.is_truthy(tostring(err):find("not owned", 1, true), tostring(err))
      assert.is_truthy(h.get("stranger"))

      assert.is_true(kids:delete("kid-1"))
      assert.is_nil(h.get("kid-1"))
      assert.is_true(kids:delete("kid-1"))  -- already gone
    end)
  end)

  it("from_api is to_api reversed", function()
    harness.run({ kinds = IDLE }, function(h)
      local obj = h.create("conv")
      local ctx = driver.context({ kube = h.kube }, obj)
      local req = ctx.to_api("sagemaker", "CreateTrainingJob", obj.spec)
      local answer = {}
      for k, v in pairs(req) do answer[k] = v end
      -- a Describe member that is no request member
      answer.TrainingJobArn = "arn:aws:sagemaker:us-west-2:123456789012:training-job/x"
      local spec = ctx.from_api("sagemaker", "CreateTrainingJob", answer)
      assert.is_nil(spec.trainingJobArn)
      assert.are.equal("string", type(spec.hyperParameters[1].name))
      assert.are.same(json.decode(json.encode(req, { sorted = true })),
        json.decode(json.encode(ctx.to_api("sagemaker", "CreateTrainingJob", spec), { sorted = true })))
    end)
  end)
end)
