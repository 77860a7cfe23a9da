-- The Model kind end to end: the operator against fake-kube and fake-aws.
local harness = require("spec.support.operator")
local task = require("smop.task")

local EXAMPLE = "examples/xgboost-mnist-model.yaml"
local IMAGE = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:latest"

local function tags_of(h, arn)
  local out = {}
  for _, t in ipairs(assert(h.sagemaker("ListTags", { ResourceArn = arn })).Tags) do out[t.Key] = t.Value end
  return out
end

-- Events about name with that reason (and a message starting with prefix).
local function count_events(h, name, reason, prefix)
  local n = 0
  for _, e in ipairs(h.events(name)) do
    if e.reason == reason and e.message:sub(1, #(prefix or "")) == (prefix or "") then
      n = n + (e.count or 1)
    end
  end
  return n
end

local function created(h, name)
  return h.wait(name .. " Created", function()
    local obj = h.get(name, "models")
    return obj and obj.status and obj.status.status == "Created" and obj
  end)
end

describe("Model", function()
  it("creates the SageMaker model under a generated name and does not poll it", function()
    harness.run({ kinds = { "model" } }, function(h)
      local obj = h.apply(EXAMPLE, "xgb-model")
      local st = created(h, "xgb-model").status
      local name = "xgb-model-" .. obj.metadata.uid:gsub("-", "")
      assert.are.equal(name, st.sageMakerModelName)
      assert.are.equal("arn:aws:sagemaker:us-west-2:123456789012:model/" .. name, st.modelArn)
      assert.are.equal("True", st.conditions[1].status)

      local calls = h.calls("CreateModel")
      assert.are.equal(1, #calls)
      local req = calls[1].params
      assert.are.equal(name, req.ModelName)
      assert.are.equal(IMAGE, req.PrimaryContainer.Image)
      assert.are.equal("20", req.PrimaryContainer.Environment.SAGEMAKER_CONTAINER_LOG_LEVEL)
      assert.are.equal("xgboost-mnist", req.Tags[1].Value)
      assert.is_nil(req.Region)
      local desc = assert(h.sagemaker("DescribeModel", { ModelName = name }))
      assert.are.equal(IMAGE, desc.PrimaryContainer.Image)

      -- Created is terminal: a model does not change on its own
      local describes = #h.calls("DescribeModel")
      h.advance(600)
      task.sleep(0.3)
      assert.are.equal(describes, #h.calls("DescribeModel"))
      assert.are.equal(1, count_events(h, "xgb-model", "Created", "Created SageMaker model"))
    end)
  end)

  it("re-creates the model under the same name when the spec changes", function()
    harness.run({ kinds = { "model" } }, function(h)
      h.apply(EXAMPLE, "xgb-model")
      local obj = created(h, "xgb-model")
      local name = obj.status.sageMakerModelName
      local new_image = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1.7-1"
      local container = obj.spec.primaryContainer
      container.image = new_image
      assert(h.kube:patch(h.path("xgb-model", "models"), { spec = { primaryContainer = container } }))
      h.wait("the new image", function()
        local desc = h.sagemaker("DescribeModel", { ModelName = name })
        return desc and desc.PrimaryContainer.Image == new_image
      end)
      local st = created(h, "xgb-model").status
      assert.are.equal(name, st.sageMakerModelName)
      assert.are.equal(1, #h.calls("DeleteModel"))
      assert.are.equal(2, h.succeeded("CreateModel"))
      assert.are.equal(1, count_events(h, "xgb-model", "Recreating"))
      local events = h.events("xgb-model")
      local found = false
      for _, e in ipairs(events) do
        if e.reason == "Recreating" then found = e.message:find("PrimaryContainer", 1, true) ~= nil end
      end
      assert.is_true(found)
    end)
  end)

  it("applies a tag edit without re-creating, and a no-op edit does nothing", function()
    harness.run({ kinds = { "model" } }, function(h)
      h.apply(EXAMPLE, "xgb-model")
      local st = created(h, "xgb-model").status
      assert(h.kube:patch(h.path("xgb-model", "models"),
        { spec = { tags = { { key = "team", value = "search" } } } }))
      h.wait("the new tags", function()
        local tags = tags_of(h, st.modelArn)
        return tags.team == "search" and tags.project == nil
      end)
      created(h, "xgb-model")
      assert.are.equal(0, #h.calls("DeleteModel"))
      assert.are.equal(1, #h.calls("CreateModel"))

      -- the same spec written again (a new generation, nothing to change)
      local gen = h.get("xgb-model", "models").metadata.generation
      assert(h.kube:patch(h.path("xgb-model", "models"), { spec = { enableNetworkIsolation = false } }))
      h.wait("the generation seen", function()
        local o = h.get("xgb-model", "models")
        return o.metadata.generation > gen and o.status.observedGeneration == o.metadata.generation
      end)
      assert.are.equal(0, #h.calls("DeleteModel"))
      assert.are.equal(1, #h.calls("AddTags"))
    end)
  end)

  it("says which field is wrong, and creates once the spec is fixed", function()
    harness.run({ kinds = { "model" } }, function(h)
      -- valid for the CRD (its pattern cannot say \p{L}), refused by the API model
      h.apply(EXAMPLE, "bad-model", function(o) o.spec.tags[1].key = "team#1" end)
      h.wait("Error", function() return h.status("bad-model", "status", "models") == "Error" end)
      local st = h.get("bad-model", "models").status
      assert.is_truthy(st.additional:find("tags.1.member.key", 1, true))
      assert.are.equal(0, #h.calls("CreateModel"))
      assert(h.kube:patch(h.path("bad-model", "models"),
        { spec = { tags = { { key = "team", value = "x" } } } }))
      st = created(h, "bad-model").status
      assert.is_nil(st.additional)
      assert.are.equal(1, #h.calls("CreateModel"))
    end)
  end)

  it("survives a create whose answer was lost, without a second model", function()
    harness.run({ kinds = { "model" } }, function(h)
      h.aws_fault({ kind = "drop", operation = "CreateModel", count = 1 })
      h.apply(EXAMPLE, "xgb-model")
      local st = created(h, "xgb-model").status
      assert.are.equal(1, h.succeeded("CreateModel"))
      local list = assert(h.sagemaker("ListModels", {}))
      assert.are.equal(1, #list.Models)
      assert.are.equal(st.sageMakerModelName, list.Models[1].ModelName)
    end)
  end)

  it("deletes the SageMaker model with the object", function()
    harness.run({ kinds = { "model" } }, function(h)
      h.apply(EXAMPLE, "xgb-model")
      local name = created(h, "xgb-model").status.sageMakerModelName
      assert(h.kube:delete(h.path("xgb-model", "models")))
      h.wait("the object gone", function() return h.get("xgb-model", "models") == nil end)
      local calls = h.calls("DeleteModel")
      assert.are.equal(1, #calls)
      assert.are.equal(name, calls[1].params.ModelName)
      local _, code = h.sagemaker("DescribeModel", { ModelName = name })
      assert.are.equal("ValidationException", code)

      -- an object whose model never existed goes at once
      h.apply(EXAMPLE, "bad-model", function(o) o.spec.tags[1].key = "team#1" end)
      h.wait("Error", function() return h.status("bad-model", "status", "models") == "Error" end)
      assert(h.kube:delete(h.path("bad-model", "models")))
      h.wait("the object gone", function() return h.get("bad-model", "models") == nil end)
    end)
  end)
end)
