-- The reconcile driver end to end in one process: fake-kube and fake-aws
-- behind smop.server, the operator talking to them over HTTP(S), faults
-- injected through their control planes. Assertions are on what a user and
-- AWS would see: the object's status and finalizers, Events, and the calls
-- the fake AWS recorded.
local harness = require("spec.support.operator")
local json = require("smop.json")

local FINALIZER = "sagemaker-operator-finalizer"

local function has_finalizer(obj)
  for _, f in ipairs(obj.metadata.finalizers or {}) do
    if f == FINALIZER then return true end
  end
  return false
end

describe("operator driver", function()
  it("adds the finalizer and the first status before anything is created in AWS", function()
    harness.run({}, function(h)
      local seen
      h.on_aws("CreateTrainingJob", function()
        seen = seen or h.stored("job-a")
      end)
      h.create("job-a")
      h.wait("InProgress", function() return h.status("job-a") == "InProgress" end)
      assert.is_truthy(seen, "CreateTrainingJob was not called")
      assert.is_true(has_finalizer(seen))
      assert.are.equal("SynchronizingK8sJobWithSageMaker", seen.status.trainingJobStatus)

      local obj = h.get("job-a")
      local st = obj.status
      assert.are.equal("Starting", st.secondaryStatus)
      assert.are.equal("job-a-" .. obj.metadata.uid:gsub("-", ""), st.sageMakerTrainingJobName)
      assert.are.equal(1, st.observedGeneration)
      -- where the kind script came from, and a digest of its text
      assert.is_truthy(st.scriptVersion:match("^builtin%-%x%x%x%x%x%x%x%x%x%x%x%x$"), st.scriptVersion)
      local info = require("smop.scripts").info("kinds.trainingjob")
      assert.are.equal("builtin-" .. info.sha256:sub(1, 12), st.scriptVersion)
      assert.is_truthy(st.lastCheckTime:match("^%d+%-%d+%-%d+T%d+:%d+:%d+Z$"))
      local conds = {}
      for _, c in ipairs(st.conditions) do conds[c.type] = c end
      assert.are.equal("False", conds.Ready.status)
      assert.are.equal("InProgress", conds.Ready.reason)
      assert.are.equal("True", conds.Synced.status)
      assert.are.equal(1, conds.Ready.observedGeneration)

      local created = h.calls("CreateTrainingJob")
      assert.are.equal(1, #created)
      local req = created[1].params
      assert.are.equal(st.sageMakerTrainingJobName, req.TrainingJobName)
      assert.are.equal("5", req.HyperParameters.max_depth)
      assert.are.same({ Key = "project", Value = "xgboost-mnist" }, req.Tags[1])
      assert.are.equal("ml.m4.xlarge", req.ResourceConfig.InstanceType)
      assert.is_nil(req.Region)
      local reasons = {}
      for _, e in ipairs(h.events("job-a")) do reasons[e.reason] = e end
      assert.is_truthy(reasons.Created, "no Created event")
      assert.are.equal("Normal", reasons.Created.type)
    end)
  end)

  it("creates nothing while the finalizer cannot be added", function()
    harness.run({}, function(h)
      local fault = h.kube_fault({ code = 500, verbs = { "patch" }, resource = "trainingjobs",
        count = 1000000 })
      h.create("job-b")
      h.wait("several refused finalizer patches", function() return fault.remaining < 1000000 - 3 end)
      assert.are.equal(0, #h.calls())
      assert.is_false(has_finalizer(h.get("job-b")))
      fault.remaining = 0
      h.kube_app.control.faults = {}
      h.wait("InProgress", function() return h.status("job-b") == "InProgress" end)
      assert.is_true(has_finalizer(h.get("job-b")))
      assert.are.equal(1, #h.calls("CreateTrainingJob"))
    end)
  end)

  it("retries a status write refused with 409 and creates the job once", function()
    harness.run({}, function(h)
      h.on_aws("CreateTrainingJob", function(_, status)
        -- the job exists now; the status writes that would record it fail
        if status == 200 then
          h.kube_fault({ code = 409, verbs = { "patch" }, resource = "trainingjobs", count = 2 })
        end
      end)
      h.create("job-c")
      h.wait("InProgress", function() return h.status("job-c") == "InProgress" end)
      h.advance(25)
      h.wait("Training", function() return h.status("job-c", "secondaryStatus") == "Training" end)
      assert.are.equal(1, h.succeeded("CreateTrainingJob"))
      -- every later create met the job the first one made
      for _, c in ipairs(h.calls("CreateTrainingJob")) do
        assert.is_true(c.error == json.null or c.error == "ResourceInUse", tostring(c.error))
      end
      assert.is_true(#h.calls("CreateTrainingJob") >= 2, "the lost status write was not retried")
    end)
  end)

  it("survives a create whose answer was lost: one job, found by its name", function()
    harness.run({}, function(h)
      h.aws_fault({ kind = "drop", operation = "CreateTrainingJob", count = 1 })
      h.create("job-d")
      h.wait("InProgress", function() return h.status("job-d") == "InProgress" end)
      local calls = h.calls("CreateTrainingJob")
      assert.are.equal(2, #calls)
      assert.is_true(calls[1].dropped)
      assert.are.equal("ResourceInUse", calls[2].error)
      assert.are.equal(calls[1].params.TrainingJobName, calls[2].params.TrainingJobName)
    end)
  end)

  it("shows throttling as Reconciling, then converges", function()
    harness.run({}, function(h)
      h.create("job-e")
      h.wait("InProgress", function() return h.status("job-e") == "InProgress" end)
      h.aws_fault({ kind = "throttle", operation = "DescribeTrainingJob" })
      h.advance(10)   -- the job moves on, so the sweep has the object described
      h.wait("Reconciling", function() return h.status("job-e") == "Reconciling" end)
      local obj = h.get("job-e")
      assert.is_truthy(obj.status.additional:find("ThrottlingException", 1, true), obj.status.additional)
      local synced
      for _, c in ipairs(obj.status.conditions) do
        if c.type == "Synced" then synced = c end
      end
      assert.are.equal("False", synced.status)
      -- repeated throttling: one Event, counted
      h.wait("a counted throttling Event", function()
        for _, e in ipairs(h.events("job-e")) do
          if e.reason == "ThrottlingException" and e.count >= 2 then return true end
        end
      end)
      local throttled = 0
      for _, e in ipairs(h.events("job-e")) do
        if e.reason == "ThrottlingException" then throttled = throttled + 1 end
      end
      assert.are.equal(1, throttled)
      h.clear_aws_faults()
      h.wait("InProgress again", function() return h.status("job-e") == "InProgress" end)
      assert.is_nil(h.get("job-e").status.additional)
      h.advance(100)
      h.wait("Completed", function() return h.status("job-e") == "Completed" end)
      obj = h.get("job-e")
      assert.are.equal("s3://my-bucket/xgboost/" .. obj.status.sageMakerTrainingJobName
        .. "/output/model.tar.gz", obj.status.modelPath)
      assert.are.equal(1, #h.calls("CreateTrainingJob"))
      local text = h.sb.op.metrics:render()
      local throttles = 'smop_aws_throttles_total{operation="DescribeTrainingJob",service="sagemaker"} '
      assert.is_truthy(text:find(throttles, 1, true), text)
      assert.is_truthy(text:find('smop_reconcile_total{kind="TrainingJob",result="error"} ', 1, true), text)
      assert.is_truthy(text:find('smop_reconcile_total{kind="TrainingJob",result="success"} ', 1, true), text)
      assert.is_truthy(text:find('smop_informer_synced{resource="trainingjobs"} 1\n', 1, true), text)
    end)
  end)

  it("refuses an invalid spec with Error naming the field, without calling AWS", function()
    harness.run({}, function(h)
      -- the CRD cannot check this one (its pattern uses \p{L}); the API model can
      h.create("job-f", function(obj) obj.spec.tags[1].key = "team#1" end)
      h.wait("Error", function() return h.status("job-f") == "Error" end)
      local additional = h.get("job-f").status.additional
      assert.is_truthy(additional:find("tags.1.member.key", 1, true), additional)
      assert.is_truthy(additional:find("team#1", 1, true), additional)
      assert.are.equal(0, #h.calls())
      local warned
      for _, e in ipairs(h.events("job-f")) do
        if e.type == "Warning" and e.message:find("tags.1.member.key", 1, true) then warned = true end
      end
      assert.is_true(warned)
    end)
  end)

  it("stops a running job on delete and lets the object go once it stopped", function()
    harness.run({}, function(h)
      h.create("job-g")
      h.wait("InProgress", function() return h.status("job-g") == "InProgress" end)
      assert(h.kube:delete(h.path("job-g")))
      h.wait("Stopping", function() return h.status("job-g") == "Stopping" end)
      assert.are.equal(1, h.succeeded("StopTrainingJob"))
      assert.is_truthy(h.get("job-g"), "the object went before the job stopped")
      h.advance(10)
      h.wait("the object gone", function()
        local _, err = h.get("job-g")
        return err and err.code == 404
      end)
      assert.are.equal(1, #h.calls("StopTrainingJob"))
    end)
  end)

  it("lets a job that never reached AWS go at once on delete", function()
    harness.run({}, function(h)
      h.create("job-h", function(obj) obj.spec.tags[1].key = "team#1" end)
      h.wait("Error", function() return h.status("job-h") == "Error" end)
      assert(h.kube:delete(h.path("job-h")))
      h.wait("the object gone", function()
        local _, err = h.get("job-h")
        return err and err.code == 404
      end)
      assert.are.equal(0, #h.calls("StopTrainingJob"))
    end)
  end)
  it("converges through dropped watches, a 410 and an API server restart", function()
    harness.run({}, function(h)
      local store = h.kube_app.store
      h.create("job-i")
      h.wait("InProgress", function() return h.status("job-i") == "InProgress" end)
      h.kube_app.control:drop_watches()
      h.advance(25)
      h.wait("Training", function() return h.status("job-i", "secondaryStatus") == "Training" end)
      store:force_expire_next_watch()
      h.kube_app.control:drop_watches()
      h.create("job-j")
      h.wait("job-j InProgress", function() return h.status("job-j") == "InProgress" end)
      assert(h.sb:restart_kube())
      h.create("job-k")
      h.wait("job-k InProgress", function() return h.status("job-k") == "InProgress" end)
      h.advance(100)
      for _, name in ipairs({ "job-i", "job-j", "job-k" }) do
        h.wait(name .. " Completed", function() return h.status(name) == "Completed" end)
      end
      assert.are.equal(3, #h.calls("CreateTrainingJob"))
      assert.are.equal(3, h.succeeded("CreateTrainingJob"))
      local st = h.sb.op:state().controllers[1]
      assert.is_true(st.restarts + st.relists >= 2, "the informer never re-watched")
    end)
  end)
  it("puts an object whose kind script raises in Error, and keeps serving others", function()
    local kind = {}
    for k, v in pairs(require("kinds.trainingjob")) do kind[k] = v end
    local real = kind.reconcile
    kind.reconcile = function(obj, ctx)
      if obj.metadata.name == "job-bug" then
        local t = nil
        return t.boom
      end
      return real(obj, ctx)
    end
    harness.run({ kinds = { kind } }, function(h)
      h.create("job-bug")
      h.create("job-ok")
      h.wait("job-bug Error", function() return h.status("job-bug") == "Error" end)
      h.wait("job-ok InProgress", function() return h.status("job-ok") == "InProgress" end)
      local additional = h.get("job-bug").status.additional
      local want = "^kind script failed: .*operator_driver_spec%.lua:%d+: attempt to index"
      assert.is_truthy(additional:find(want),
        additional)
      local text = h.sb.op.metrics:render()
      assert.is_truthy(text:find('smop_script_errors_total{kind="TrainingJob"} 1', 1, true), text)
    end)
  end)
end)
