-- The BatchTransformJob kind end to end: examples/xgboost-mnist-batchtransform.yaml
-- applied to the fake Kubernetes API, the operator creating, following and
-- stopping the transform job in the fake SageMaker.
local fake_aws = require("spec.support.fake_aws")
local harness = require("spec.support.operator")

local EXAMPLE = "examples/xgboost-mnist-batchtransform.yaml"
local PLURAL = "batchtransformjobs"
local MODEL = "xgboost-mnist-model"
local KINDS = { kinds = { "batchtransformjob" } }

local function status(h, name, field)
  return h.status(name, field or "transformJobStatus", PLURAL)
end

local function gone(h, name)
  local _, err = h.get(name, PLURAL)
  return err and err.code == 404
end

-- The SageMaker model the example names, made in the fake as the Model
-- kind (or the aws CLI) would.
local function create_model(h)
  local code, _, body = fake_aws.call(h.aws_app, "sagemaker", "CreateModel", {
    ModelName = MODEL,
    ExecutionRoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    PrimaryContainer = { Image = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
      ModelDataUrl = "s3://my-bucket/xgboost/output/model.tar.gz" },
  }, { region = "us-west-2" })
  assert(code == 200, body)
end

-- The request the example must become (COMPAT.md "Spec fields"): member
-- names upper-cased, environment a map, region left out.
local function expected_request(name)
  return {
    TransformJobName = name,
    ModelName = MODEL,
    TransformInput = { ContentType = "text/csv", SplitType = "Line", DataSource = {
      S3DataSource = { S3DataType = "S3Prefix", S3Uri = "s3://my-bucket/xgboost/batch-input/" } } },
    TransformOutput = { S3OutputPath = "s3://my-bucket/xgboost/batch-output/", AssembleWith = "Line" },
    TransformResources = { InstanceCount = 1, InstanceType = "ml.m4.xlarge" },
    Environment = { SAGEMAKER_MODEL_SERVER_TIMEOUT = "3600" },
  }
end

describe("BatchTransformJob", function()
  it("creates the job from the example and follows it to Completed", function()
    harness.run(KINDS, function(h)
      create_model(h)
      local seen
      h.on_aws("CreateTransformJob", function()
        seen = seen or h.stored("batch-a", PLURAL)
      end)
      local obj = h.apply(EXAMPLE, "batch-a")
      h.wait("InProgress", function() return status(h, "batch-a") == "InProgress" end)
      assert.is_truthy(seen, "CreateTransformJob was not called")
      assert.are.equal("SynchronizingK8sJobWithSageMaker", seen.status.transformJobStatus)

      local name = "batch-a-" .. obj.metadata.uid:gsub("-", "")
      local created = h.calls("CreateTransformJob")
      assert.are.equal(1, #created)
      assert.are.same(expected_request(name), created[1].params)
      assert.are.equal(name, status(h, "batch-a", "sageMakerTransformJobName"))

      h.advance(40)
      h.wait("Completed", function() return status(h, "batch-a") == "Completed" end)
      local done = h.get("batch-a", PLURAL)
      local st = done.status
      assert.are.equal(name, st.sageMakerTransformJobName)
      assert.is_nil(done.spec.transformJobName)   -- the generated name lives in the status only
      assert.is_nil(st.additional)
      assert.are.equal(1, #h.calls("CreateTransformJob"))
      assert.are.equal(0, #h.calls("StopTransformJob"))
    end)
  end)

  it("uses spec.transformJobName when given, and the old dataProcessing spellings", function()
    harness.run(KINDS, function(h)
      create_model(h)
      h.apply(EXAMPLE, "batch-n", function(o)
        o.spec.transformJobName = "my-batch-1"
        o.spec.dataProcessing = { JoinSource = "Input", InputFilter = "$[1:]", OutputFilter = "$[0,-1]" }
      end)
      h.wait("InProgress", function() return status(h, "batch-n") == "InProgress" end)
      assert.are.equal("my-batch-1", status(h, "batch-n", "sageMakerTransformJobName"))
      local req = h.calls("CreateTransformJob")[1].params
      assert.are.equal("my-batch-1", req.TransformJobName)
      assert.are.same({ JoinSource = "Input", InputFilter = "$[1:]", OutputFilter = "$[0,-1]" },
        req.DataProcessing)
    end)
  end)

  it("stops a running job on delete and lets the object go once it stopped", function()
    harness.run(KINDS, function(h)
      create_model(h)
      local obj = h.apply(EXAMPLE, "batch-d")
      local name = "batch-d-" .. obj.metadata.uid:gsub("-", "")
      h.wait("InProgress", function() return status(h, "batch-d") == "InProgress" end)
      assert(h.kube:delete(h.path("batch-d", PLURAL)))
      h.wait("Stopping", function() return status(h, "batch-d") == "Stopping" end)
      local stops = h.calls("StopTransformJob")
      assert.are.equal(1, #stops)
      assert.are.same({ TransformJobName = name }, stops[1].params)
      assert.is_truthy(h.get("batch-d", PLURAL), "the object went before the job stopped")
      h.advance(10)
      h.wait("the object gone", function() return gone(h, "batch-d") end)
      assert.are.equal(1, #h.calls("StopTransformJob"))
      assert.are.equal(1, #h.calls("CreateTransformJob"))
    end)
  end)

  it("does not apply a spec changed after the create, and says so", function()
    harness.run(KINDS, function(h)
      create_model(h)
      h.apply(EXAMPLE, "batch-u")
      h.wait("InProgress", function() return status(h, "batch-u") == "InProgress" end)
      assert(h.kube:patch(h.path("batch-u", PLURAL),
        { spec = { transformResources = { instanceCount = 2 } } }))
      local additional = h.wait("the message", function()
        local a = status(h, "batch-u", "additional")
        return a and a:find("not applied", 1, true) and a
      end)
      assert.is_truthy(additional:find("the spec changed after the transform job was created", 1, true))
      assert.are.equal("InProgress", status(h, "batch-u"))
      h.advance(40)
      h.wait("Completed", function() return status(h, "batch-u") == "Completed" end)
      assert.are.equal(additional, status(h, "batch-u", "additional"))
      local created = h.calls("CreateTransformJob")
      assert.are.equal(1, #created)
      assert.are.equal(1, created[1].params.TransformResources.InstanceCount)
    end)
  end)

  it("puts a spec the API refuses in Error naming the field, and creates nothing", function()
    harness.run(KINDS, function(h)
      create_model(h)
      -- valid for the CRD (its pattern cannot say \p{L}), refused by the API model
      h.apply(EXAMPLE, "batch-bad", function(o) o.spec.tags = { { key = "team#1", value = "x" } } end)
      h.wait("Error", function() return status(h, "batch-bad") == "Error" end)
      local additional = status(h, "batch-bad", "additional")
      assert.is_truthy(additional:find("'tags.1.member.key'", 1, true), additional)
      assert.are.equal(0, #h.calls("CreateTransformJob"))

      assert(h.kube:delete(h.path("batch-bad", PLURAL)))
      h.wait("the object gone", function() return gone(h, "batch-bad") end)
      assert.are.equal(0, #h.calls("StopTransformJob"))
    end)
  end)

  it("shows SageMaker's refusal of a model that does not exist, and creates once it does", function()
    harness.run({ kinds = { "batchtransformjob" }, error_interval = 0.2 }, function(h)
      h.apply(EXAMPLE, "batch-m")
      h.wait("Error", function() return status(h, "batch-m") == "Error" end)
      assert.are.equal("An error occurred (ValidationException) when calling the CreateTransformJob "
        .. 'operation: Could not find model '
        .. '"arn:aws:sagemaker:us-west-2:123456789012:model/xgboost-mnist-model".',
        status(h, "batch-m", "additional"))
      assert.are.equal(0, h.succeeded("CreateTransformJob"))
      local warned = false
      for _, e in ipairs(h.events("batch-m")) do
        if e.type == "Warning" and e.reason == "ValidationException" then warned = true end
      end
      assert.is_true(warned)

      -- the model appears (a Model object synced, say): the next look creates the job
      create_model(h)
      h.wait("InProgress", function() return status(h, "batch-m") == "InProgress" end)
      assert.is_nil(status(h, "batch-m", "additional"))
      assert.are.equal(1, h.succeeded("CreateTransformJob"))
    end)
  end)
end)
