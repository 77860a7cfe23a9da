-- The HostingDeployment kind end to end: the operator against fake-kube
-- and fake-aws (endpoints take 30 virtual seconds to create or update, 10
-- to delete: lua/fake/aws/sagemaker/common.lua).
local harness = require("spec.support.operator")
local json = require("smop.json")
local task = require("smop.task")

local EXAMPLE = "examples/xgboost-mnist-hostingdeployment.yaml"
local HD = "hostingdeployments"
local KINDS = { "hostingdeployment" }
local ENDPOINT = "xgboost-mnist"   -- the example's spec.endpointName
local IMAGE = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:latest"

local function uid(obj)
  return (obj.metadata.uid:gsub("-", ""))
end

local function status(h, name)
  local obj = h.get(name, HD)
  return obj and obj.status or {}
end

local function wait_status(h, name, value)
  return h.wait(name .. " " .. value, function()
    local st = status(h, name)
    return st.endpointStatus == value and st
  end)
end

local function names(h, op, items, member)
  local out = {}
  for _, item in ipairs(assert(h.sagemaker(op, { MaxResults = 100 }))[items]) do
    out[#out + 1] = item[member]
  end
  table.sort(out)
  return out
end

local function models(h) return names(h, "ListModels", "Models", "ModelName") end
local function configs(h) return names(h, "ListEndpointConfigs", "EndpointConfigs", "EndpointConfigName") end

-- Patches spec.productionVariants[1] (and more of the spec).
local function edit_variant(h, name, fields, more)
  local variants = h.get(name, HD).spec.productionVariants
  for k, v in pairs(fields) do variants[1][k] = v end
  local spec = { productionVariants = variants }
  for k, v in pairs(more or {}) do spec[k] = v end
  assert(h.kube:patch(h.path(name, HD), { spec = spec }))
end

local function edit_image(h, name, image)
  local m = h.get(name, HD).spec.models
  m[1].containers[1].image = image
  assert(h.kube:patch(h.path(name, HD), { spec = { models = m } }))
end

-- Sets of ordered calls: seq of every call to op.
local function seqs(h, op)
  local out = {}
  for _, c in ipairs(h.calls(op)) do out[#out + 1] = c.seq end
  return out
end

-- Creates the example and brings it to InService; returns the object.
local function in_service(h, name, edit)
  local obj = h.apply(EXAMPLE, name, edit)
  wait_status(h, name, "Creating")
  h.advance(30)
  wait_status(h, name, "InService")
  return obj
end

describe("HostingDeployment", function()
  it("creates models, an endpoint config and the endpoint, and mirrors the endpoint", function()
    harness.run({ kinds = KINDS }, function(h)
      local obj = h.apply(EXAMPLE, "xgb-hosting")
      local id = uid(obj)
      local model_name = "xgboost-model-g1-m1-" .. id
      local config_name = "xgb-hosting-g1-" .. id
      local st = wait_status(h, "xgb-hosting", "Creating")

      local cm = h.calls("CreateModel")
      assert.are.equal(1, #cm)
      assert.are.equal(model_name, cm[1].params.ModelName)
      assert.are.equal(IMAGE, cm[1].params.PrimaryContainer.Image)
      assert.are.equal("xgboost", cm[1].params.PrimaryContainer.ContainerHostname)
      assert.is_nil(cm[1].params.Containers)
      local cc = h.calls("CreateEndpointConfig")
      assert.are.equal(1, #cc)
      assert.are.equal(config_name, cc[1].params.EndpointConfigName)
      assert.are.equal(model_name, cc[1].params.ProductionVariants[1].ModelName)
      assert.are.equal(1.0, cc[1].params.ProductionVariants[1].InitialVariantWeight)
      local ce = h.calls("CreateEndpoint")
      assert.are.equal(1, #ce)
      assert.are.same({ EndpointName = ENDPOINT, EndpointConfigName = config_name }, ce[1].params)
      assert.is_true(cm[1].seq < cc[1].seq and cc[1].seq < ce[1].seq)
      assert.are.equal(ENDPOINT, st.endpointName)
      assert.are.equal(config_name, st.endpointConfigName)

      h.advance(30)
      st = wait_status(h, "xgb-hosting", "InService")
      assert.are.equal(ENDPOINT, st.endpointName)
      assert.are.equal("arn:aws:sagemaker:us-west-2:123456789012:endpoint/" .. ENDPOINT, st.endpointArn)
      assert.are.equal(config_name, st.endpointConfigName)
      local url = "https://runtime.sagemaker.us-west-2.amazonaws.com/endpoints/xgboost-mnist/invocations"
      assert.are.equal(url, st.endpointUrl)
      assert.is_truthy(st.creationTime:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
      assert.is_truthy(st.lastModifiedTime:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
      assert.is_true(st.lastModifiedTime > st.creationTime)
      assert.is_nil(st.failureReason)
      assert.is_nil(st.additional)
      assert.are.same({ { name = "xgboost-model", value = model_name } }, st.modelNames)
      local v = st.productionVariants[1]
      assert.are.equal("AllTraffic", v.variantName)
      assert.are.equal(1, v.currentInstanceCount)
      assert.are.equal(1, v.currentWeight)
      assert.are.equal(IMAGE, v.deployedImages[1].specifiedImage)
      assert.is_truthy(v.deployedImages[1].resolutionTime:match("Z$"))
      local ready = st.conditions[1]
      assert.are.same({ "Ready", "True" }, { ready.type, ready.status })
      assert.are.equal(st.observedGeneration, obj.metadata.generation)

      -- an InService endpoint is watched through ListEndpoints, not described every poll
      local describes = #h.calls("DescribeEndpoint")
      task.sleep(0.3)
      assert.are.equal(describes, #h.calls("DescribeEndpoint"))
      assert.is_true(#h.calls("ListEndpoints") > 0)
    end)
  end)

  it("generates the endpoint name when the spec has none", function()
    harness.run({ kinds = KINDS }, function(h)
      local obj = h.apply(EXAMPLE, "xgb-hosting", function(o) o.spec.endpointName = nil end)
      local st = wait_status(h, "xgb-hosting", "Creating")
      assert.are.equal("xgb-hosting-" .. uid(obj), st.endpointName)
      assert.are.equal(st.endpointName, h.calls("CreateEndpoint")[1].params.EndpointName)
    end)
  end)

  it("updates an InService endpoint to a new generation, then deletes the old one", function()
    harness.run({ kinds = KINDS }, function(h)
      local obj = in_service(h, "xgb-hosting")
      local id = uid(obj)
      local before = status(h, "xgb-hosting")
      local seen_at_update
      h.on_aws("UpdateEndpoint", function()
        seen_at_update = h.stored("xgb-hosting", HD).status.endpointStatus
      end)
      edit_variant(h, "xgb-hosting", { initialInstanceCount = 2 }, {
        retainAllVariantProperties = true,
        excludeRetainedVariantProperties = { { variantPropertyType = "DesiredInstanceCount" } },
        tags = { { key = "team", value = "search" } },
      })
      local st = wait_status(h, "xgb-hosting", "Updating")
      assert.are.equal("ReconcilingEndpoint", seen_at_update)

      local model2, config2 = "xgboost-model-g2-m1-" .. id, "xgb-hosting-g2-" .. id
      local calls = h.calls("UpdateEndpoint")
      assert.are.equal(1, #calls)
      assert.are.same({ EndpointName = ENDPOINT, EndpointConfigName = config2,
        RetainAllVariantProperties = true,
        ExcludeRetainedVariantProperties = { { VariantPropertyType = "DesiredInstanceCount" } } },
        calls[1].params)
      local variant2 = h.calls("CreateEndpointConfig")[2].params.ProductionVariants[1]
      assert.are.equal(2, variant2.InitialInstanceCount)
      assert.are.equal(model2, h.calls("CreateModel")[2].params.ModelName)
      -- while the endpoint updates, both generations exist
      assert.are.same({ "xgb-hosting-g1-" .. id, config2 }, configs(h))
      assert.are.equal(2, #models(h))
      assert.are.same({ { name = "xgboost-model", value = model2 } }, st.modelNames)

      h.advance(30)
      st = wait_status(h, "xgb-hosting", "InService")
      assert.are.equal(config2, st.endpointConfigName)
      assert.are.equal(2, st.productionVariants[1].currentInstanceCount)
      h.wait("the old generation deleted", function() return #configs(h) == 1 end)
      assert.are.same({ config2 }, configs(h))
      h.wait("the old model deleted", function() return #models(h) == 1 end)
      assert.are.same({ model2 }, models(h))
      assert.are.equal("xgb-hosting-g1-" .. id, h.calls("DeleteEndpointConfig")[1].params.EndpointConfigName)
      assert.are.equal("xgboost-model-g1-m1-" .. id, h.calls("DeleteModel")[1].params.ModelName)
      assert.are.equal(before.creationTime, st.creationTime)
      -- the endpoint's tags follow the spec's
      local tags = assert(h.sagemaker("ListTags", { ResourceArn = st.endpointArn })).Tags
      assert.are.same({ { Key = "team", Value = "search" } }, tags)
      assert.are.equal("search", h.calls("CreateModel")[2].params.Tags[1].Value)
      assert.are.equal(1, h.succeeded("CreateEndpoint"))
      assert.are.equal(1, #h.calls("UpdateEndpoint"))
    end)
  end)

  it("applies an update made before InService once the endpoint is InService", function()
    harness.run({ kinds = KINDS }, function(h)
      local obj = h.apply(EXAMPLE, "xgb-hosting")
      wait_status(h, "xgb-hosting", "Creating")
      edit_image(h, "xgb-hosting", IMAGE:gsub("latest", "1.7-1"))
      local st = h.wait("the note", function()
        local s = status(h, "xgb-hosting")
        return s.additional and s.observedGeneration == 2 and s
      end)
      assert.are.equal("Creating", st.endpointStatus)
      assert.is_truthy(st.additional:find("applied once the endpoint is InService", 1, true))
      assert.are.equal(0, #h.calls("UpdateEndpoint"))
      assert.are.equal(1, #h.calls("CreateModel"))

      h.advance(30)
      wait_status(h, "xgb-hosting", "Updating")
      local calls = h.calls("UpdateEndpoint")
      assert.are.equal(1, #calls)
      assert.are.equal("xgb-hosting-g2-" .. uid(obj), calls[1].params.EndpointConfigName)
      assert.are.equal(IMAGE:gsub("latest", "1.7-1"), h.calls("CreateModel")[2].params.PrimaryContainer.Image)
      h.advance(30)
      st = wait_status(h, "xgb-hosting", "InService")
      assert.are.equal("xgb-hosting-g2-" .. uid(obj), st.endpointConfigName)
      assert.is_nil(st.additional)
    end)
  end)

  it("picks up a fix to a failed endpoint at once", function()
    harness.run({ kinds = KINDS }, function(h)
      h.aws_fault({ kind = "fail", name = ENDPOINT, reason = "The primary container for production variant "
        .. "AllTraffic did not pass the ping health check." })
      local obj = h.apply(EXAMPLE, "xgb-hosting")
      wait_status(h, "xgb-hosting", "Creating")
      h.advance(30)
      local st = wait_status(h, "xgb-hosting", "Failed")
      assert.is_truthy(st.failureReason:find("ping health check", 1, true))
      assert.are.equal(st.failureReason, st.additional)

      -- nothing more happens to a failed endpoint while the spec stays
      h.advance(100)
      assert.are.equal(0, #h.calls("DeleteEndpoint"))

      h.clear_aws_faults()
      edit_image(h, "xgb-hosting", IMAGE:gsub("latest", "1.7-1"))
      -- at once: no clock step needed for the failed endpoint to go
      wait_status(h, "xgb-hosting", "Deleting")
      assert.are.equal(1, #h.calls("DeleteEndpoint"))
      h.advance(10)
      st = wait_status(h, "xgb-hosting", "Creating")
      assert.are.equal("xgb-hosting-g2-" .. uid(obj), st.endpointConfigName)
      assert.are.equal(2, h.succeeded("CreateEndpoint"))
      h.advance(30)
      st = wait_status(h, "xgb-hosting", "InService")
      assert.is_nil(st.failureReason)
      h.wait("the failed generation deleted", function() return #configs(h) == 1 and #models(h) == 1 end)
      assert.are.same({ "xgb-hosting-g2-" .. uid(obj) }, configs(h))
    end)
  end)

  it("reports an update SageMaker rolled back, and does not retry it", function()
    harness.run({ kinds = KINDS }, function(h)
      local obj = in_service(h, "xgb-hosting")
      h.aws_fault({ kind = "fail", name = ENDPOINT, reason = "Insufficient capacity." })
      edit_variant(h, "xgb-hosting", { initialInstanceCount = 4 })
      wait_status(h, "xgb-hosting", "Updating")
      h.advance(30)
      local st = h.wait("the rollback", function()
        local s = status(h, "xgb-hosting")
        return s.endpointStatus == "InService" and s.failureReason and s
      end)
      assert.are.equal("xgb-hosting-g1-" .. uid(obj), st.endpointConfigName)
      assert.is_truthy(st.additional:find("rolled it back", 1, true))
      assert.is_truthy(st.additional:find("Insufficient capacity.", 1, true))
      h.advance(100)
      task.sleep(0.3)
      assert.are.equal(1, #h.calls("UpdateEndpoint"))
      local warned = false
      for _, e in ipairs(h.events("xgb-hosting")) do warned = warned or e.reason == "UpdateFailed" end
      assert.is_true(warned)

      -- a new spec is tried again
      h.clear_aws_faults()
      edit_variant(h, "xgb-hosting", { initialInstanceCount = 2 })
      wait_status(h, "xgb-hosting", "Updating")
      assert.are.equal("xgb-hosting-g3-" .. uid(obj), h.calls("UpdateEndpoint")[2].params.EndpointConfigName)
      h.advance(30)
      st = wait_status(h, "xgb-hosting", "InService")
      assert.are.equal("xgb-hosting-g3-" .. uid(obj), st.endpointConfigName)
      h.wait("only generation 3 left", function() return #configs(h) == 1 and #models(h) == 1 end)
    end)
  end)

  it("deletes the endpoint, then its configs and models", function()
    harness.run({ kinds = KINDS }, function(h)
      in_service(h, "xgb-hosting")
      assert(h.kube:delete(h.path("xgb-hosting", HD)))
      wait_status(h, "xgb-hosting", "Deleting")
      assert.are.equal(1, #h.calls("DeleteEndpoint"))
      assert.are.equal(0, #h.calls("DeleteEndpointConfig"))
      h.advance(10)
      h.wait("the object gone", function() return h.get("xgb-hosting", HD) == nil end)
      local ep, cfg, mod = seqs(h, "DeleteEndpoint"), seqs(h, "DeleteEndpointConfig"), seqs(h, "DeleteModel")
      assert.are.equal(1, #cfg)
      assert.are.equal(1, #mod)
      assert.is_true(ep[1] < cfg[1] and cfg[1] < mod[1])
      assert.are.same({}, configs(h))
      assert.are.same({}, models(h))
      assert.are.equal(0, #assert(h.sagemaker("ListEndpoints", {})).Endpoints)
    end)
  end)

  it("waits for a Creating endpoint before deleting it", function()
    harness.run({ kinds = KINDS }, function(h)
      h.apply(EXAMPLE, "xgb-hosting")
      wait_status(h, "xgb-hosting", "Creating")
      assert(h.kube:delete(h.path("xgb-hosting", HD)))
      local st = h.wait("the note", function()
        local s = status(h, "xgb-hosting")
        return s.additional and s.additional:find("waiting for the endpoint to leave Creating", 1, true) and s
      end)
      assert.are.equal("Creating", st.endpointStatus)
      h.advance(30)
      wait_status(h, "xgb-hosting", "Deleting")
      h.advance(10)
      h.wait("the object gone", function() return h.get("xgb-hosting", HD) == nil end)
      assert.are.same({}, configs(h))
      assert.are.same({}, models(h))
    end)
  end)

  it("creates the endpoint again when it was deleted behind its back", function()
    harness.run({ kinds = KINDS }, function(h)
      in_service(h, "xgb-hosting")
      h.advance(1)   -- the frozen clock: a later LastModifiedTime than InService's
      assert(h.sagemaker("DeleteEndpoint", { EndpointName = ENDPOINT }))
      wait_status(h, "xgb-hosting", "Deleting")
      h.advance(10)
      wait_status(h, "xgb-hosting", "Creating")
      assert.are.equal(2, h.succeeded("CreateEndpoint"))
      assert.are.equal(1, h.succeeded("CreateModel"))
    end)
  end)

  it("survives lost answers to CreateEndpoint and UpdateEndpoint without duplicates", function()
    harness.run({ kinds = KINDS }, function(h)
      h.aws_fault({ kind = "drop", operation = "CreateEndpoint", count = 1 })
      h.aws_fault({ kind = "drop", operation = "CreateModel", count = 1 })
      local obj = in_service(h, "xgb-hosting")
      assert.are.equal(1, h.succeeded("CreateEndpoint"))
      assert.are.equal(1, h.succeeded("CreateModel"))
      assert.are.equal(1, #assert(h.sagemaker("ListEndpoints", {})).Endpoints)
      assert.are.equal(1, #models(h))

      h.aws_fault({ kind = "drop", operation = "UpdateEndpoint", count = 1 })
      edit_variant(h, "xgb-hosting", { initialInstanceCount = 2 })
      wait_status(h, "xgb-hosting", "Updating")
      assert.are.equal(1, h.succeeded("UpdateEndpoint"))
      h.advance(30)
      local st = wait_status(h, "xgb-hosting", "InService")
      assert.are.equal("xgb-hosting-g2-" .. uid(obj), st.endpointConfigName)
      assert.are.equal(1, #h.calls("UpdateEndpoint"))
      h.wait("one generation left", function() return #configs(h) == 1 and #models(h) == 1 end)
    end)
  end)

  it("says which field is wrong before calling SageMaker", function()
    harness.run({ kinds = KINDS }, function(h)
      h.apply(EXAMPLE, "bad-hosting", function(o) o.spec.productionVariants[1].modelName = "nope" end)
      local st = wait_status(h, "bad-hosting", "Error")
      assert.are.equal("spec.productionVariants[1].modelName: 'nope' is not the name of one of spec.models",
        st.additional)
      h.apply(EXAMPLE, "bad-primary", function(o) o.spec.models[1].primaryContainer = "other" end)
      st = wait_status(h, "bad-primary", "Error")
      assert.is_truthy(st.additional:find("spec.models[1].primaryContainer", 1, true))
      assert.are.equal(0, #h.calls("CreateModel"))

      -- fixed: created at once
      local variants = h.get("bad-hosting", HD).spec.productionVariants
      variants[1].modelName = "xgboost-model"
      assert(h.kube:patch(h.path("bad-hosting", HD), { spec = { productionVariants = variants } }))
      wait_status(h, "bad-hosting", "Creating")
      assert.are.equal(1, #h.calls("CreateEndpoint"))
      assert.is_nil(status(h, "bad-hosting").additional)
      assert.is_true(json.is_array(status(h, "bad-hosting").modelNames))
    end)
  end)
end)
