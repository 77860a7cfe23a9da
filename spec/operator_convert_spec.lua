-- COMPAT.md "Spec fields": a spec becomes the API request by the model.
local convert = require("operator.convert")
local json = require("smop.json")
local model_loader = require("aws.model")
local validate = require("aws.validate")
local yaml = require("smop.yaml")

local function example()
  local f = assert(io.open("examples/xgboost-mnist-trainingjob.yaml"))
  local obj = yaml.decode(f:read("a"))
  f:close()
  return obj
end

local SKIP = { skip = { region = true, sageMakerEndpoint = true } }

describe("operator.convert", function()
  local sm = assert(model_loader.load("sagemaker"))

  it("turns the example TrainingJob into a valid CreateTrainingJob request", function()
    local req, unknown = convert.to_api(sm, "CreateTrainingJobRequest", example().spec, SKIP)
    assert.are.same({}, unknown)
    req.TrainingJobName = "xgboost-mnist-1"
    local ok, why = validate.request(sm, "CreateTrainingJob", json.decode(json.encode(req)))
    assert.is_true(ok, tostring(why))
    assert.are.same({ max_depth = "5", eta = "0.2", gamma = "4", min_child_weight = "6", silent = "0",
      objective = "multi:softmax", num_class = "10", num_round = "10" }, req.HyperParameters)
    assert.are.same({ { Key = "project", Value = "xgboost-mnist" } }, req.Tags)
    assert.are.equal("s3://my-bucket/xgboost/train/", req.InputDataConfig[1].DataSource.S3DataSource.S3Uri)
    assert.are.equal(5, req.ResourceConfig.VolumeSizeInGB)
    assert.is_nil(req.Region)
    assert.is_nil(req.SageMakerEndpoint)
    assert.is_true(json.is_array(req.InputDataConfig))
  end)

  it("reports spec fields the API does not know and leaves them out", function()
    local spec = example().spec
    spec.resourceConfig.gpuCount = 2
    spec.bogus = true
    local req, unknown = convert.to_api(sm, "CreateTrainingJobRequest", spec, SKIP)
    assert.are.same({ "spec.bogus", "spec.resourceConfig.gpuCount" }, unknown)
    assert.is_nil(req.ResourceConfig.GpuCount)
  end)

  it("matches the spellings the old API kept and old manifests used", function()
    local req = convert.to_api(sm, "CreateTransformJobRequest", {
      dataProcessing = { JoinSource = "Input", inputFilter = "$[1:]" },
    })
    assert.are.same({ JoinSource = "Input", InputFilter = "$[1:]" }, req.DataProcessing)
    local dbg = convert.to_api(sm, "CreateTrainingJobRequest", {
      debugHookConfig = { s3OutputPath = "s3://b/",
        ruleParameters = { { name = "save_interval", value = "5" } } },
    })
    assert.are.same({ save_interval = "5" }, dbg.DebugHookConfig.HookParameters)
  end)

  it("sends an integer weight as a float, and an empty map as an object", function()
    local req = convert.to_api(sm, "CreateEndpointConfigInput", {
      productionVariants = { { variantName = "a", modelName = "m", initialVariantWeight = 1 } },
    })
    assert.are.equal("float", math.type(req.ProductionVariants[1].InitialVariantWeight))
    local env = convert.to_api(sm, "CreateProcessingJobRequest", { environment = json.array({}) })
    assert.are.equal("{}", json.encode(env.Environment))
  end)

  it("leaves a value of the wrong type for validation to word", function()
    local req = convert.to_api(sm, "CreateTrainingJobRequest", { resourceConfig = "big" })
    assert.are.equal("big", req.ResourceConfig)
  end)

  it("helps status writers: lower-camel keys, name/value lists, RFC 3339", function()
    assert.are.same({ trainingJobName = "x", finalMetricDataList = { { metricName = "m" } } },
      convert.lower_keys({ TrainingJobName = "x", FinalMetricDataList = { { MetricName = "m" } } }))
    assert.are.same({ { name = "a", value = "1" }, { name = "b", value = "2" } },
      convert.name_values({ b = "2", a = "1" }))
    assert.are.equal("2019-11-20T23:42:35Z", convert.time(1574293355.25))
  end)
end)
