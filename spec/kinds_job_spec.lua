-- kinds.lib.job, through the TrainingJob kind: what every job kind shares
-- beyond the driver's own behaviour (spec/operator_driver_spec.lua).
local harness = require("spec.support.operator")
local job = require("kinds.lib.job")

describe("job kinds", function()
  it("do not apply a spec changed after the create, and keep saying so", function()
    harness.run({}, function(h)
      h.create("job-a")
      h.wait("InProgress", function() return h.status("job-a") == "InProgress" end)
      local obj = h.get("job-a")
      assert(h.kube:patch(h.path("job-a"), { spec = { stoppingCondition = { maxRuntimeInSeconds = 7200 } } }))
      local additional = h.wait("the message", function()
        local st = h.get("job-a").status
        return st.additional and st.additional:find("not applied", 1, true) and st.additional
      end)
      assert.is_truthy(additional:find("the spec changed after the training job was created", 1, true))
      assert.are.equal("InProgress", h.status("job-a"))

      -- later syncs keep the message, and the job moves on
      h.advance(40)
      h.wait("Training", function() return h.status("job-a", "secondaryStatus") == "Training" end)
      local st = h.get("job-a").status
      assert.are.equal(additional, st.additional)
      assert.is_true(st.observedGeneration > obj.status.observedGeneration)
      assert.are.equal(1, h.succeeded("CreateTrainingJob"))

      local warnings = 0
      for _, e in ipairs(h.events("job-a")) do
        if e.reason == "SpecChangeIgnored" then warnings = warnings + (e.count or 1) end
      end
      assert.are.equal(1, warnings)
    end)
  end)

  it("create with a spec fixed before any job existed", function()
    harness.run({}, function(h)
      -- valid for the CRD (its pattern cannot say \p{L}), refused by the API model
      h.create("job-bad", function(o) o.spec.tags[1].key = "team#1" end)
      h.wait("Error", function() return h.status("job-bad") == "Error" end)
      local tags = h.get("job-bad").spec.tags
      tags[1].key = "team"
      assert(h.kube:patch(h.path("job-bad"), { spec = { tags = tags } }))
      h.wait("InProgress", function() return h.status("job-bad") == "InProgress" end)
      assert.is_nil(h.get("job-bad").status.additional)
      local created = h.calls("CreateTrainingJob")
      assert.are.equal(1, #created)
      assert.are.equal("team", created[1].params.Tags[1].Key)
    end)
  end)

  it("join the failure reason and the note", function()
    assert.are.equal("a; b", job.join("a", nil, "", "b"))
    assert.is_nil(job.join(nil, ""))
    assert.is_true(job.not_found({ code = "ValidationException", message = "Requested resource not found." }))
    assert.is_true(job.not_found({ code = "ResourceNotFound", message = "x" }))
    assert.is_false(job.not_found({ code = "ValidationException", message = "1 validation error" }))
  end)
end)
