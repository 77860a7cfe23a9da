-- The EndpointConfig kind end to end: the operator against fake-kube and
-- fake-aws, with the Model kind making the SageMaker model it names.
local harness = require("spec.support.operator")

local EXAMPLE = "examples/xgboost-mnist-endpointconfig.yaml"
local KINDS = { "model", "endpointconfig" }

-- A SageMaker model made by a Model object; its SageMaker name.
local function model(h, name)
  h.apply("examples/xgboost-mnist-model.yaml", name)
  return h.wait("model " .. name, function()
    local obj = h.get(name, "models")
    return obj and obj.status and obj.status.status == "Created" and obj.status.sageMakerModelName
  end)
end

local function config(h, name, model_name, edit)
  return h.apply(EXAMPLE, name, function(o)
    o.spec.productionVariants[1].modelName = model_name
    if edit then edit(o) end
  end)
end

local function created(h, name)
  return h.wait(name .. " Created", function()
    local obj = h.get(name, "endpointconfigs")
    return obj and obj.status and obj.status.status == "Created" and obj
  end)
end

describe("EndpointConfig", function()
  it("creates the SageMaker endpoint config under a generated name", function()
    harness.run({ kinds = KINDS }, function(h)
      local model_name = model(h, "xgb-model")
      local obj = config(h, "xgb-config", model_name)
      local st = created(h, "xgb-config").status
      local name = "xgb-config-" .. obj.metadata.uid:gsub("-", "")
      assert.are.equal(name, st.sageMakerEndpointConfigName)
      assert.are.equal("arn:aws:sagemaker:us-west-2:123456789012:endpoint-config/" .. name,
        st.endpointConfigArn)

      local calls = h.calls("CreateEndpointConfig")
      assert.are.equal(1, #calls)
      local v = calls[1].params.ProductionVariants[1]
      assert.are.equal(model_name, v.ModelName)
      assert.are.equal("AllTraffic", v.VariantName)
      assert.are.equal("ml.r5.large", v.InstanceType)
      assert.are.equal(1, v.InitialInstanceCount)
      assert.are.equal(1.0, v.InitialVariantWeight)
      assert.are.equal("project", calls[1].params.Tags[1].Key)
      local desc = assert(h.sagemaker("DescribeEndpointConfig", { EndpointConfigName = name }))
      assert.are.equal(model_name, desc.ProductionVariants[1].ModelName)
    end)
  end)

  it("waits for a model that does not exist yet", function()
    harness.run({ kinds = KINDS }, function(h)
      config(h, "xgb-config", "later-model")
      local st = h.wait("Reconciling", function()
        local obj = h.get("xgb-config", "endpointconfigs")
        return obj and obj.status and obj.status.status == "Reconciling" and obj.status
      end)
      assert.is_truthy(st.additional:find("Could not find model", 1, true))
      assert.is_truthy(st.additional:find("later-model", 1, true))
      local role = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
      assert(h.sagemaker("CreateModel", { ModelName = "later-model", ExecutionRoleArn = role,
        PrimaryContainer = { Image = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:latest" } }))
      st = created(h, "xgb-config").status
      assert.is_nil(st.additional)
      assert.are.equal(1, h.succeeded("CreateEndpointConfig"))
    end)
  end)

  it("re-creates the endpoint config when the spec changes", function()
    harness.run({ kinds = KINDS }, function(h)
      local model_name = model(h, "xgb-model")
      config(h, "xgb-config", model_name)
      local obj = created(h, "xgb-config")
      local name = obj.status.sageMakerEndpointConfigName
      local variants = obj.spec.productionVariants
      variants[1].initialInstanceCount = 3
      assert(h.kube:patch(h.path("xgb-config", "endpointconfigs"),
        { spec = { productionVariants = variants } }))
      h.wait("three instances", function()
        local desc = h.sagemaker("DescribeEndpointConfig", { EndpointConfigName = name })
        return desc and desc.ProductionVariants[1].InitialInstanceCount == 3
      end)
      assert.are.equal(name, created(h, "xgb-config").status.sageMakerEndpointConfigName)
      assert.are.equal(1, #h.calls("DeleteEndpointConfig"))
      assert.are.equal(2, h.succeeded("CreateEndpointConfig"))
    end)
  end)

  it("survives a create whose answer was lost, and deletes the config with the object", function()
    harness.run({ kinds = KINDS }, function(h)
      local model_name = model(h, "xgb-model")
      h.aws_fault({ kind = "drop", operation = "CreateEndpointConfig", count = 1 })
      config(h, "xgb-config", model_name)
      local name = created(h, "xgb-config").status.sageMakerEndpointConfigName
      assert.are.equal(1, h.succeeded("CreateEndpointConfig"))
      assert.are.equal(1, #assert(h.sagemaker("ListEndpointConfigs", {})).EndpointConfigs)

      assert(h.kube:delete(h.path("xgb-config", "endpointconfigs")))
      h.wait("the object gone", function() return h.get("xgb-config", "endpointconfigs") == nil end)
      local calls = h.calls("DeleteEndpointConfig")
      assert.are.equal(1, #calls)
      assert.are.equal(name, calls[1].params.EndpointConfigName)
      assert.are.equal(0, #assert(h.sagemaker("ListEndpointConfigs", {})).EndpointConfigs)
      -- the model is the Model object's, not the config's
      assert(h.sagemaker("DescribeModel", { ModelName = model_name }))
    end)
  end)
end)
