-- The ProcessingJob kind end to end: examples/kmeans-mnist-processingjob.yaml
-- applied to the fake Kubernetes API, the operator creating, following and
-- stopping the job in the fake SageMaker.
local harness = require("spec.support.operator")
local job = require("kinds.lib.job")

local EXAMPLE = "examples/kmeans-mnist-processingjob.yaml"
local PLURAL = "processingjobs"
local KINDS = { kinds = { "processingjob" } }

local function status(h, name, field)
  return h.status(name, field or "processingJobStatus", PLURAL)
end

local function gone(h, name)
  local _, err = h.get(name, PLURAL)
  return err and err.code == 404
end

-- The request the example must become (COMPAT.md "Spec fields"): member
-- names upper-cased, environment a map, tags Key/Value, region left out.
local function expected_request(name)
  local S3 = "s3://my-bucket/mnist_kmeans_example/output/"
  return {
    ProcessingJobName = name,
    RoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    AppSpecification = {
      ImageUri = "763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:1.5.0-cpu-py36-ubuntu16.04",
      ContainerEntrypoint = { "python", "/opt/ml/processing/code/kmeans_preprocessing.py" },
    },
    Environment = { MYVAR = "my_value", MYVAR2 = "my_value2" },
    NetworkConfig = { EnableNetworkIsolation = false },
    ProcessingResources = { ClusterConfig = { InstanceCount = 1, InstanceType = "ml.m5.xlarge",
      VolumeSizeInGB = 20 } },
    ProcessingInputs = {
      { InputName = "mnist_tar", S3Input = {
        S3Uri = "s3://sagemaker-sample-data-us-west-2/algorithms/kmeans/mnist/mnist.pkl.gz",
        LocalPath = "/opt/ml/processing/input", S3DataType = "S3Prefix", S3InputMode = "File",
        S3CompressionType = "None" } },
      { InputName = "source_code", S3Input = {
        S3Uri = "s3://my-bucket/mnist_kmeans_example/processing_code/kmeans_preprocessing.py",
        LocalPath = "/opt/ml/processing/code", S3DataType = "S3Prefix", S3InputMode = "File",
        S3CompressionType = "None" } },
    },
    ProcessingOutputConfig = { Outputs = {
      { OutputName = "train_data", S3Output = { S3Uri = S3, LocalPath = "/opt/ml/processing/output_train/",
        S3UploadMode = "EndOfJob" } },
      { OutputName = "test_data", S3Output = { S3Uri = S3, LocalPath = "/opt/ml/processing/output_test/",
        S3UploadMode = "EndOfJob" } },
      { OutputName = "valid_data", S3Output = { S3Uri = S3, LocalPath = "/opt/ml/processing/output_valid/",
        S3UploadMode = "EndOfJob" } },
    } },
    StoppingCondition = { MaxRuntimeInSeconds = 1800 },
    Tags = { { Key = "project", Value = "kmeans-mnist" } },
  }
end

describe("ProcessingJob", function()
  it("creates the job from the example and follows it to Completed", function()
    harness.run(KINDS, function(h)
      local seen
      h.on_aws("CreateProcessingJob", function()
        seen = seen or h.stored("proc-a", PLURAL)
      end)
      local obj = h.apply(EXAMPLE, "proc-a")
      h.wait("InProgress", function() return status(h, "proc-a") == "InProgress" end)
      assert.is_truthy(seen, "CreateProcessingJob was not called")
      assert.are.equal("SynchronizingK8sJobWithSageMaker", seen.status.processingJobStatus)

      local name = "proc-a-" .. obj.metadata.uid:gsub("-", "")
      local created = h.calls("CreateProcessingJob")
      assert.are.equal(1, #created)
      assert.are.same(expected_request(name), created[1].params)

      local st = h.get("proc-a", PLURAL).status
      assert.are.equal(name, st.sageMakerProcessingJobName)
      assert.are.equal("https://us-west-2.console.aws.amazon.com/cloudwatch/home?region=us-west-2"
        .. "#logStream:group=/aws/sagemaker/ProcessingJobs;prefix=" .. name
        .. ";streamFilter=typeLogStreamPrefix", st.cloudWatchLogUrl)
      assert.is_nil(st.additional)

      h.advance(40)
      h.wait("Completed", function() return status(h, "proc-a") == "Completed" end)
      st = h.get("proc-a", PLURAL).status
      assert.are.equal(name, st.sageMakerProcessingJobName)
      local ready
      for _, c in ipairs(st.conditions) do
        if c.type == "Ready" then ready = c end
      end
      assert.are.equal("True", ready.status)
      assert.are.equal(1, #h.calls("CreateProcessingJob"))
      assert.are.equal(0, #h.calls("StopProcessingJob"))
    end)
  end)

  it("shows SageMaker's FailureReason when the job fails", function()
    harness.run(KINDS, function(h)
      local obj = h.apply(EXAMPLE, "proc-f")
      local name = "proc-f-" .. obj.metadata.uid:gsub("-", "")
      h.aws_fault({ kind = "fail", name = name, reason = "AlgorithmError: no such file" })
      h.wait("InProgress", function() return status(h, "proc-f") == "InProgress" end)
      h.advance(40)
      h.wait("Failed", function() return status(h, "proc-f") == "Failed" end)
      assert.are.equal("AlgorithmError: no such file", status(h, "proc-f", "additional"))
    end)
  end)

  it("stops a running job on delete and lets the object go once it stopped", function()
    harness.run(KINDS, function(h)
      local obj = h.apply(EXAMPLE, "proc-d")
      local name = "proc-d-" .. obj.metadata.uid:gsub("-", "")
      h.wait("InProgress", function() return status(h, "proc-d") == "InProgress" end)
      assert(h.kube:delete(h.path("proc-d", PLURAL)))
      h.wait("Stopping", function() return status(h, "proc-d") == "Stopping" end)
      local stops = h.calls("StopProcessingJob")
      assert.are.equal(1, #stops)
      assert.are.same({ ProcessingJobName = name }, stops[1].params)
      assert.is_truthy(h.get("proc-d", PLURAL), "the object went before the job stopped")
      h.advance(10)
      h.wait("the object gone", function() return gone(h, "proc-d") end)
      assert.are.equal(1, #h.calls("StopProcessingJob"))
      assert.are.equal(1, #h.calls("CreateProcessingJob"))
    end)
  end)

  it("does not apply a spec changed after the create, and says so", function()
    harness.run(KINDS, function(h)
      h.apply(EXAMPLE, "proc-u")
      h.wait("InProgress", function() return status(h, "proc-u") == "InProgress" end)
      assert(h.kube:patch(h.path("proc-u", PLURAL),
        { spec = { stoppingCondition = { maxRuntimeInSeconds = 3600 } } }))
      local additional = h.wait("the message", function()
        local a = status(h, "proc-u", "additional")
        return a and a:find("not applied", 1, true) and a
      end)
      assert.is_truthy(additional:find("the spec changed after the processing job was created", 1, true))
      assert.are.equal("InProgress", status(h, "proc-u"))
      h.advance(40)
      h.wait("Completed", function() return status(h, "proc-u") == "Completed" end)
      assert.are.equal(additional, status(h, "proc-u", "additional"))
      assert.are.equal(1, #h.calls("CreateProcessingJob"))
    end)
  end)

  it("puts a spec the API refuses in Error naming the field, and creates nothing", function()
    harness.run(KINDS, function(h)
      -- valid for the CRD (its pattern cannot say \p{L}), refused by the API model
      h.apply(EXAMPLE, "proc-bad", function(o) o.spec.tags[1].key = "team#1" end)
      h.wait("Error", function() return status(h, "proc-bad") == "Error" end)
      local additional = status(h, "proc-bad", "additional")
      assert.is_truthy(additional:find("'tags.1.member.key'", 1, true), additional)
      assert.are.equal(0, #h.calls("CreateProcessingJob"))

      -- no job ever existed: the delete needs no Stop and does not hang
      assert(h.kube:delete(h.path("proc-bad", PLURAL)))
      h.wait("the object gone", function() return gone(h, "proc-bad") end)
      assert.are.equal(0, #h.calls("StopProcessingJob"))
    end)
  end)

  it("knows SageMaker's words for a processing job that does not exist", function()
    assert.is_true(job.not_found({ code = "ValidationException",
      message = "Could not find requested job with name proc-a-0123" }))
    assert.is_false(job.not_found({ code = "ValidationException",
      message = 'Could not find model "arn:aws:sagemaker:us-west-2:123456789012:model/m".' }))
  end)
end)
