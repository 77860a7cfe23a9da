-- The fake SageMaker (lua/fake/aws/sagemaker/): lifecycles on a virtual
-- clock, AWS's errors, lists, tags. Handlers are called directly with a
-- small ctx the spec controls (time, injected failures, recorded log
-- lines); every request is first validated against the API model as the
-- framework does, and every answer is checked against the model's output
-- shape (required members, enums, patterns, no unknown members).
local json = require "smop.json"

-- Load the model modules first (see validate_spec.lua for why).
require("aws.models.sagemaker")
local model_loader = require "aws.model"
local validate = require "aws.validate"

local sagemaker = require "fake.aws.sagemaker"
local common = require "fake.aws.sagemaker.common"

local model = assert(model_loader.load("sagemaker"))
local A = json.array
local D = common.durations
local T0 = 1700000000.25
local ACCOUNT = "123456789012"

-- The same model with every operation's output as its input, so
-- aws.validate checks answers.
local answers = { metadata = model.metadata, shapes = model.shapes, operations = {} }
for name, op in pairs(model.operations) do answers.operations[name] = { input = op.output } end

-- What a client receives: the answer as JSON, decoded.
local function wire(value)
  return json.decode(assert(json.encode(value)))
end

local function check_answer(op, out)
  local decoded = wire(out)
  local ok, warnings = validate.request(answers, op, decoded)
  assert(ok, op .. " answer does not satisfy the model: " .. tostring(warnings))
  assert(#warnings == 0, op .. " answer has members the model does not know: " ..
    (warnings[1] and warnings[1].path or ""))
  return decoded
end

local function arn(resource, name, region)
  return string.format("arn:aws:sagemaker:%s:%s:%s/%s", region or "us-east-1", ACCOUNT, resource,
    name:lower())
end

-- A world: the state, the clock, injected failures and log lines.
local World = {}
World.__index = World

local function world()
  return setmetatable({ now = T0, state = {}, failures = {}, logs = {}, region = "us-east-1" }, World)
end

function World:ctx(op)
  local w = self
  local ctx = { region = w.region, account = ACCOUNT, state = w.state, request_id = "spec",
    service = "sagemaker", operation = op }
  function ctx.now() return w.now end
  function ctx.arn(resource, name)
    return string.format("arn:aws:sagemaker:%s:%s:%s/%s", ctx.region, ACCOUNT, resource, name:lower())
  end
  function ctx.error(code, message, status) return { code = code, message = message, status = status } end
  function ctx.failure_for(name) return w.failures[name] end
  function ctx.log(group, stream, message, at)
    w.logs[#w.logs + 1] = { group = group, stream = stream, message = message, at = at or w.now }
  end
  return ctx
end

-- Calls op as the framework would: the request validated and decoded, the
-- answer checked. Returns the decoded answer, or nil, error.
function World:call(op, input)
  local request = wire(input or {})
  local ok, message = validate.request(model, op, request)
  assert(ok, "the spec sent an invalid " .. op .. " request: " .. tostring(message))
  local handler = assert(sagemaker.operations[op], "no handler for " .. op)
  local out, err = handler(self:ctx(op), request)
  if out == nil then
    assert(type(err) == "table" and err.code, op .. " failed without an error value")
    return nil, err
  end
  return check_answer(op, out)
end

-- Calls op and expects success.
function World:ok(op, input)
  local out, err = self:call(op, input)
  assert(out, op .. " failed: " .. tostring(err and err.code) .. ": " .. tostring(err and err.message))
  return out
end

-- Calls op and expects the error code and message.
function World:fails(op, input, code, message)
  local out, err = self:call(op, input)
  assert(out == nil, op .. " succeeded, expected " .. code)
  assert.equal(code, err.code)
  if message then assert.equal(message, err.message) end
  return err
end

function World:at(seconds)
  self.now = T0 + seconds
  return self
end

-- Log lines of one group (and stream prefix), in order.
function World:lines(group, prefix)
  local out = {}
  for _, l in ipairs(self.logs) do
    if l.group == group and (not prefix or l.stream:sub(1, #prefix) == prefix) then out[#out + 1] = l end
  end
  return out
end

-- ---- requests ----

local function training_job(name, extra)
  local input = {
    TrainingJobName = name,
    AlgorithmSpecification = {
      TrainingImage = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
      TrainingInputMode = "File",
    },
    RoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    InputDataConfig = A{
      { ChannelName = "train",
        DataSource = { S3DataSource = { S3DataType = "S3Prefix", S3Uri = "s3://bucket/train" } } },
    },
    OutputDataConfig = { S3OutputPath = "s3://bucket/output/" },
    ResourceConfig = { InstanceType = "ml.m5.large", InstanceCount = 1, VolumeSizeInGB = 5 },
    StoppingCondition = { MaxRuntimeInSeconds = 86400 },
    HyperParameters = { max_depth = "5", num_round = "10" },
  }
  for k, v in pairs(extra or {}) do input[k] = v end
  return input
end

local function tuning_job(name, limits, extra)
  local input = {
    HyperParameterTuningJobName = name,
    HyperParameterTuningJobConfig = {
      Strategy = "Bayesian",
      HyperParameterTuningJobObjective = { Type = "Maximize", MetricName = "validation:accuracy" },
      ResourceLimits = limits or { MaxNumberOfTrainingJobs = 4, MaxParallelTrainingJobs = 2 },
      ParameterRanges = {
        IntegerParameterRanges = A{ { Name = "max_depth", MinValue = "2", MaxValue = "9" } },
        ContinuousParameterRanges = A{ { Name = "eta", MinValue = "0.1", MaxValue = "0.5" } },
        CategoricalParameterRanges = A{ { Name = "booster", Values = A{ "gbtree", "dart" } } },
      },
    },
    TrainingJobDefinition = {
      StaticHyperParameters = { num_round = "10", objective = "multi:softmax" },
      AlgorithmSpecification = {
        TrainingImage = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
        TrainingInputMode = "File",
      },
      RoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
      OutputDataConfig = { S3OutputPath = "s3://bucket/hpo" },
      ResourceConfig = { InstanceType = "ml.m5.large", InstanceCount = 1, VolumeSizeInGB = 5 },
      StoppingCondition = { MaxRuntimeInSeconds = 3600 },
    },
  }
  for k, v in pairs(extra or {}) do input[k] = v end
  return input
end

local function transform_job(name, model_name)
  return {
    TransformJobName = name,
    ModelName = model_name or "xgboost-model",
    TransformInput = {
      DataSource = { S3DataSource = { S3DataType = "S3Prefix", S3Uri = "s3://bucket/batch" } },
      ContentType = "text/csv" },
    TransformOutput = { S3OutputPath = "s3://bucket/batch-out" },
    TransformResources = { InstanceType = "ml.m5.large", InstanceCount = 1 },
  }
end

local function processing_job(name)
  return {
    ProcessingJobName = name,
    ProcessingResources = { ClusterConfig = { InstanceCount = 1, InstanceType = "ml.m5.large",
      VolumeSizeInGB = 5 } },
    AppSpecification = { ImageUri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prep:1" },
    RoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    StoppingCondition = { MaxRuntimeInSeconds = 3600 },
  }
end

local function model_input(name, image)
  return {
    ModelName = name,
    ExecutionRoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    PrimaryContainer = { Image = image or "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
      ModelDataUrl = "s3://bucket/output/job/output/model.tar.gz" },
  }
end

local function config_input(name, model_name, variants)
  return {
    EndpointConfigName = name,
    ProductionVariants = variants or A{
      { VariantName = "AllTraffic", ModelName = model_name, InitialInstanceCount = 1,
        InstanceType = "ml.m5.large", InitialVariantWeight = 1 },
    },
  }
end

-- The statuses of a list of transitions.
local function statuses(transitions)
  local out = {}
  for i, t in ipairs(transitions) do out[i] = t.Status end
  return out
end

local function names(list, member)
  local out = {}
  for i, item in ipairs(list) do out[i] = item[member] end
  return out
end


describe("fake SageMaker", function()
  it("checks answers against the model strictly enough to catch a bad one", function()
    local good = { TrainingJobSummaries = A{ {
      TrainingJobName = "a", TrainingJobArn = arn("training-job", "a"),
      CreationTime = T0, TrainingJobStatus = "InProgress" } } }
    assert.has_no.errors(function() check_answer("ListTrainingJobs", good) end)
    local bad = {
      { TrainingJobSummaries = {} }, -- an unmarked empty table is written as an object
      { TrainingJobSummaries = A{ { TrainingJobName = "a", TrainingJobArn = arn("training-job", "a"),
        CreationTime = T0 } } }, -- a required member missing
      { TrainingJobSummaries = A{ { TrainingJobName = "a", TrainingJobArn = arn("training-job", "a"),
        CreationTime = T0, TrainingJobStatus = "Running" } } }, -- not in the enum
      { TrainingJobSummaries = A{}, Extra = 1 }, -- unknown to the model
      { TrainingJobSummaries = A{ { TrainingJobName = "a", TrainingJobArn = "arn:aws:s3:::bucket",
        CreationTime = T0, TrainingJobStatus = "InProgress" } } }, -- pattern
    }
    for i, out in ipairs(bad) do
      assert.has.errors(function() check_answer("ListTrainingJobs", out) end, nil, "case " .. i)
    end
  end)

  describe("training jobs", function()
    local JOB = "xgboost-mnist"

    it("walks Starting, Downloading, Training, Uploading, Completed on the virtual clock", function()
      -- Argo CD style: the clock (seconds after creation) -> what DescribeTrainingJob says.
      local cases = {
        { at = 0, status = "InProgress", secondary = "Starting" },
        { at = 9.5, status = "InProgress", secondary = "Starting" },
        { at = 10, status = "InProgress", secondary = "Downloading" },
        { at = 25, status = "InProgress", secondary = "Training" },
        { at = 49, status = "InProgress", secondary = "Training" },
        { at = 55, status = "InProgress", secondary = "Uploading" },
        { at = 60, status = "Completed", secondary = "Completed" },
        { at = 3600, status = "Completed", secondary = "Completed" },
      }
      local w = world()
      local created = w:ok("CreateTrainingJob", training_job(JOB))
      assert.equal(arn("training-job", JOB), created.TrainingJobArn)
      for _, case in ipairs(cases) do
        local d = w:at(case.at):ok("DescribeTrainingJob", { TrainingJobName = JOB })
        assert.equal(case.status, d.TrainingJobStatus, "at +" .. case.at)
        assert.equal(case.secondary, d.SecondaryStatus, "at +" .. case.at)
        assert.equal(case.secondary, d.SecondaryStatusTransitions[#d.SecondaryStatusTransitions].Status)
      end
    end)

    it("records every transition at the instant it happened, even read an hour later", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB, {
        AlgorithmSpecification = { TrainingImage = "img:1", TrainingInputMode = "File",
          MetricDefinitions = A{ { Name = "validation:error", Regex = "error=(.*)" } } },
      }))
      local d = w:at(3600):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      assert.same({
        { Status = "Starting", StartTime = T0, EndTime = T0 + 10,
          StatusMessage = "Preparing the instances for training" },
        { Status = "Downloading", StartTime = T0 + 10, EndTime = T0 + 20,
          StatusMessage = "Downloading input data" },
        { Status = "Training", StartTime = T0 + 20, EndTime = T0 + 50,
          StatusMessage = "Training image download completed. Training in progress." },
        { Status = "Uploading", StartTime = T0 + 50, EndTime = T0 + 60,
          StatusMessage = "Uploading generated training model" },
        { Status = "Completed", StartTime = T0 + 60, EndTime = T0 + 60,
          StatusMessage = "Training job completed" },
      }, d.SecondaryStatusTransitions)
      assert.equal(T0, d.CreationTime)
      assert.equal(T0 + 10, d.TrainingStartTime)
      assert.equal(T0 + 60, d.TrainingEndTime)
      assert.equal(T0 + 60, d.LastModifiedTime)
      assert.equal(50, d.TrainingTimeInSeconds)
      assert.equal(50, d.BillableTimeInSeconds)
      assert.equal("s3://bucket/output/" .. JOB .. "/output/model.tar.gz", d.ModelArtifacts.S3ModelArtifacts)
      assert.equal(1, #d.FinalMetricDataList)
      assert.equal("validation:error", d.FinalMetricDataList[1].MetricName)
      assert.equal(T0 + 60, d.FinalMetricDataList[1].Timestamp)
      assert.is_nil(d.FailureReason)
      -- What was asked for comes back.
      assert.same({ max_depth = "5", num_round = "10" }, d.HyperParameters)
      assert.equal("ml.m5.large", d.ResourceConfig.InstanceType)
      assert.is_false(d.EnableManagedSpotTraining)
    end)

    it("refuses a second job of the same name, whatever its case", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB))
      for _, name in ipairs({ JOB, "XGBoost-MNIST" }) do
        w:fails("CreateTrainingJob", training_job(name), "ResourceInUse",
          "Training job names must be unique within an AWS account and region, and a training job " ..
          "with this name already exists (" .. arn("training-job", JOB) .. ")")
      end
    end)

    it("answers AWS's not-found error for a job it does not know", function()
      local w = world()
      for _, op in ipairs({ "DescribeTrainingJob", "StopTrainingJob" }) do
        w:fails(op, { TrainingJobName = "nope" }, "ValidationException", "Requested resource not found.")
      end
    end)

    it("keeps regions apart", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB))
      w.region = "us-west-2"
      w:fails("DescribeTrainingJob", { TrainingJobName = JOB }, "ValidationException")
      local created = w:ok("CreateTrainingJob", training_job(JOB))
      assert.equal(arn("training-job", JOB, "us-west-2"), created.TrainingJobArn)
    end)

    it("stops mid-way: Stopping, then Stopped after the stopping delay", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB))
      w:at(25):ok("StopTrainingJob", { TrainingJobName = JOB })
      local cases = {
        { at = 25, status = "Stopping", secondary = "Stopping" },
        { at = 25 + D.stopping - 1, status = "Stopping", secondary = "Stopping" },
        { at = 25 + D.stopping, status = "Stopped", secondary = "Stopped" },
        { at = 3600, status = "Stopped", secondary = "Stopped" },
      }
      for _, case in ipairs(cases) do
        local d = w:at(case.at):ok("DescribeTrainingJob", { TrainingJobName = JOB })
        assert.equal(case.status, d.TrainingJobStatus, "at +" .. case.at)
        assert.equal(case.secondary, d.SecondaryStatus, "at +" .. case.at)
      end
      local d = w:ok("DescribeTrainingJob", { TrainingJobName = JOB })
      assert.same({ "Starting", "Downloading", "Training", "Stopping", "Stopped" },
        statuses(d.SecondaryStatusTransitions))
      assert.equal(T0 + 25, d.SecondaryStatusTransitions[3].EndTime)
      assert.equal(T0 + 25 + D.stopping, d.TrainingEndTime)
      assert.equal(T0 + 25 + D.stopping, d.LastModifiedTime)
      assert.equal(20, d.BillableTimeInSeconds)
      assert.is_nil(d.FinalMetricDataList)
    end)

    it("treats a second stop while Stopping as done, and refuses to stop a finished job", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job("a"))
      w:ok("CreateTrainingJob", training_job("b"))
      w:at(5):ok("StopTrainingJob", { TrainingJobName = "a" })
      w:at(6):ok("StopTrainingJob", { TrainingJobName = "a" })
      w:at(3600)
      w:fails("StopTrainingJob", { TrainingJobName = "a" }, "ValidationException",
        "The request was rejected because the training job is in status Stopped.")
      w:fails("StopTrainingJob", { TrainingJobName = "b" }, "ValidationException",
        "The request was rejected because the training job is in status Completed.")
      local a = w:ok("DescribeTrainingJob", { TrainingJobName = "a" })
      assert.same({ "Starting", "Stopping", "Stopped" }, statuses(a.SecondaryStatusTransitions))
      assert.is_nil(a.TrainingStartTime) -- stopped before any instance started
      assert.is_nil(a.BillableTimeInSeconds)
    end)

    it("fails during Training with the injected FailureReason", function()
      local w = world()
      w.failures[JOB] = "AlgorithmError: framework error: out of memory"
      w:ok("CreateTrainingJob", training_job(JOB))
      local mid = w:at(25):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      assert.equal("Training", mid.SecondaryStatus)
      local d = w:at(3600):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      assert.equal("Failed", d.TrainingJobStatus)
      assert.equal("Failed", d.SecondaryStatus)
      assert.equal("AlgorithmError: framework error: out of memory", d.FailureReason)
      assert.same({ "Starting", "Downloading", "Training", "Failed" }, statuses(d.SecondaryStatusTransitions))
      local fail_at = T0 + 20 + D.training_fails_after
      assert.equal(fail_at, d.SecondaryStatusTransitions[3].EndTime)
      assert.equal(fail_at, d.TrainingEndTime)
      assert.is_nil(d.FinalMetricDataList)
    end)

    it("never rewrites what it already answered: a late failure lands at the last look", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB))
      -- Past the instant an injected failure would hit, nobody injected one yet.
      assert.equal("Training", w:at(40):ok("DescribeTrainingJob", { TrainingJobName = JOB }).SecondaryStatus)
      w.failures[JOB] = "InternalServerError: late"
      local d = w:at(45):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      assert.equal("Failed", d.TrainingJobStatus)
      assert.equal(T0 + 40, d.TrainingEndTime)
    end)

    it("completes when the failure comes after Training ended", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB))
      assert.equal("Uploading", w:at(55):ok("DescribeTrainingJob", { TrainingJobName = JOB }).SecondaryStatus)
      w.failures[JOB] = "AlgorithmError: too late"
      local d = w:at(60):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      assert.equal("Completed", d.TrainingJobStatus)
    end)

    it("stops a job that outruns StoppingCondition.MaxRuntimeInSeconds", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB, { StoppingCondition = { MaxRuntimeInSeconds = 20 } }))
      local d = w:at(3600):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      assert.equal("Stopped", d.TrainingJobStatus)
      assert.equal("MaxRuntimeExceeded", d.SecondaryStatus)
      assert.equal(T0 + 10 + 20, d.TrainingEndTime)
      assert.same({ "Starting", "Downloading", "Training", "MaxRuntimeExceeded" },
        statuses(d.SecondaryStatusTransitions))
    end)

    it("grows its CloudWatch log stream as it passes each status, once per line", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB))
      local stream = JOB .. "/algo-1-" .. math.floor(T0)
      local counts = {}
      for _, at in ipairs({ 0, 15, 30, 30, 55, 3600, 7200 }) do
        w:at(at):ok("DescribeTrainingJob", { TrainingJobName = JOB })
        counts[#counts + 1] = #w:lines("/aws/sagemaker/TrainingJobs")
      end
      assert.is_true(counts[1] >= 1)
      assert.is_true(counts[2] > counts[1])
      assert.is_true(counts[3] > counts[2])
      assert.equal(counts[3], counts[4])
      assert.is_true(counts[5] > counts[4])
      assert.is_true(counts[6] > counts[5])
      assert.equal(counts[6], counts[7])
      local lines = w:lines("/aws/sagemaker/TrainingJobs")
      local last = 0
      for _, l in ipairs(lines) do
        assert.equal(stream, l.stream)
        assert.is_true(l.at >= last, "log events go forward in time")
        assert.is_true(l.at <= T0 + 60)
        last = l.at
      end
      assert.equal(T0, lines[1].at)
      assert.equal("Training job completed", lines[#lines].message)
      assert.equal(T0 + 60, lines[#lines].at)
      local texts = {}
      for _, l in ipairs(lines) do texts[#texts + 1] = l.message end
      texts = table.concat(texts, "\n")
      assert.matches("Downloaded channel 'train' from s3://bucket/train", texts, 1, true)
      assert.matches("train%-loss", texts)
      assert.matches("Uploading generated training model to s3://bucket/output/" .. JOB, texts, 1, true)
    end)

    it("writes one log stream per instance, named as SageMaker names them", function()
      local w = world()
      local input = training_job(JOB)
      input.ResourceConfig.InstanceCount = 3
      w:ok("CreateTrainingJob", input)
      w:at(3600):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      local per = {}
      for _, l in ipairs(w:lines("/aws/sagemaker/TrainingJobs")) do
        per[l.stream] = (per[l.stream] or 0) + 1
      end
      local n = 0
      for k = 1, 3 do
        local stream = JOB .. "/algo-" .. k .. "-" .. math.floor(T0)
        assert.is_true((per[stream] or 0) > 0, stream)
        assert.are.equal(per[JOB .. "/algo-1-" .. math.floor(T0)], per[stream])
        n = n + 1
      end
      local streams = 0
      for _ in pairs(per) do streams = streams + 1 end
      assert.are.equal(n, streams)
    end)

    it("logs only up to where a job failed", function()
      local w = world()
      w.failures[JOB] = "AlgorithmError: boom"
      w:ok("CreateTrainingJob", training_job(JOB))
      w:at(3600):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      local lines = w:lines("/aws/sagemaker/TrainingJobs")
      assert.equal("Training job failed: AlgorithmError: boom", lines[#lines].message)
      for _, l in ipairs(lines) do assert.is_true(l.at <= T0 + 20 + D.training_fails_after) end
    end)

    it("survives a JSON round trip of its state mid-lifecycle", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job(JOB))
      w:at(25):ok("DescribeTrainingJob", { TrainingJobName = JOB })
      local reloaded = world()
      reloaded.state = json.decode(assert(json.encode(w.state)))
      reloaded:at(3600)
      w:at(3600)
      assert.same(w:ok("DescribeTrainingJob", { TrainingJobName = JOB }),
        reloaded:ok("DescribeTrainingJob", { TrainingJobName = JOB }))
    end)

    describe("ListTrainingJobs", function()
      -- Four jobs: a created at +0 (Completed by +100), b at +10 (stopped at
      -- +20), c at +20 (Completed), d at +80 (InProgress at +100).
      local function setup()
        local w = world()
        w:ok("CreateTrainingJob", training_job("alpha-a"))
        w:at(10):ok("CreateTrainingJob", training_job("beta-b"))
        w:at(20):ok("CreateTrainingJob", training_job("alpha-c"))
        w:at(20):ok("StopTrainingJob", { TrainingJobName = "beta-b" })
        w:at(80):ok("CreateTrainingJob", training_job("delta-d"))
        return w:at(100)
      end

      it("filters and sorts as asked", function()
        local w = setup()
        local cases = {
          { {}, { "alpha-a", "beta-b", "alpha-c", "delta-d" } },
          { { SortOrder = "Descending" }, { "delta-d", "alpha-c", "beta-b", "alpha-a" } },
          { { SortBy = "Name" }, { "alpha-a", "alpha-c", "beta-b", "delta-d" } },
          { { SortBy = "Name", SortOrder = "Descending" }, { "delta-d", "beta-b", "alpha-c", "alpha-a" } },
          { { SortBy = "Status" }, { "alpha-a", "alpha-c", "delta-d", "beta-b" } },
          { { NameContains = "alpha" }, { "alpha-a", "alpha-c" } },
          { { NameContains = "ALPHA" }, { "alpha-a", "alpha-c" } },
          { { StatusEquals = "Completed" }, { "alpha-a", "alpha-c" } },
          { { StatusEquals = "Stopped" }, { "beta-b" } },
          { { StatusEquals = "InProgress" }, { "delta-d" } },
          { { StatusEquals = "Failed" }, {} },
          { { CreationTimeAfter = T0 + 5 }, { "beta-b", "alpha-c", "delta-d" } },
          { { CreationTimeBefore = T0 + 20 }, { "alpha-a", "beta-b" } },
          { { CreationTimeAfter = T0 + 5, CreationTimeBefore = T0 + 50 }, { "beta-b", "alpha-c" } },
          { { LastModifiedTimeAfter = T0 + 60 }, { "alpha-c", "delta-d" } },
          { { LastModifiedTimeBefore = T0 + 60 }, { "beta-b" } },
          { { CreationTimeAfter = "2023-11-14T22:13:25Z" }, { "beta-b", "alpha-c", "delta-d" } },
        }
        for i, case in ipairs(cases) do
          local out = w:ok("ListTrainingJobs", case[1])
          assert.same(case[2], names(out.TrainingJobSummaries, "TrainingJobName"), "case " .. i)
          assert.is_nil(out.NextToken)
        end
      end)

      it("answers summaries as the model defines them", function()
        local w = setup()
        local out = w:ok("ListTrainingJobs", { NameContains = "beta" })
        assert.same({ {
          TrainingJobName = "beta-b",
          TrainingJobArn = arn("training-job", "beta-b"),
          CreationTime = T0 + 10,
          TrainingEndTime = T0 + 20 + D.stopping,
          LastModifiedTime = T0 + 20 + D.stopping,
          TrainingJobStatus = "Stopped",
        } }, out.TrainingJobSummaries)
      end)

      it("pages with NextToken and MaxResults, and refuses a token it did not give", function()
        local w = setup()
        local seen, token, pages = {}, nil, 0
        repeat
          local out = w:ok("ListTrainingJobs", { SortBy = "Name", MaxResults = 3, NextToken = token })
          for _, s in ipairs(out.TrainingJobSummaries) do seen[#seen + 1] = s.TrainingJobName end
          token = out.NextToken
          pages = pages + 1
        until not token
        assert.equal(2, pages)
        assert.same({ "alpha-a", "alpha-c", "beta-b", "delta-d" }, seen)
        w:fails("ListTrainingJobs", { NextToken = "not-a-token" }, "ValidationException")
      end)
    end)
  end)

  describe("hyperparameter tuning jobs", function()
    local HPO = "xgboost-hpo"
    local JOB_LENGTH = D.training_starting + D.training_downloading + D.training_training +
      D.training_uploading

    local function child_name(index)
      return string.format("%s-%03d-%s", HPO, index, common.hex8(HPO .. "#" .. index))
    end

    it("launches training jobs up to its limits and counts them as they go", function()
      local w = world()
      local created = w:ok("CreateHyperParameterTuningJob", tuning_job(HPO))
      assert.equal(arn("hyper-parameter-tuning-job", HPO), created.HyperParameterTuningJobArn)
      local launch, second = D.tuning_launch, D.tuning_launch + JOB_LENGTH
      -- clock -> status, training job counters, objective counters, training jobs so far
      local cases = {
        { 0, "InProgress", { Completed = 0, InProgress = 0 }, { Succeeded = 0, Pending = 0 }, 0 },
        { launch, "InProgress", { Completed = 0, InProgress = 2 }, { Succeeded = 0, Pending = 2 }, 2 },
        { second - 1, "InProgress", { Completed = 0, InProgress = 2 }, { Succeeded = 0, Pending = 2 }, 2 },
        { second, "InProgress", { Completed = 2, InProgress = 2 }, { Succeeded = 2, Pending = 2 }, 4 },
        { launch + 2 * JOB_LENGTH, "Completed", { Completed = 4, InProgress = 0 },
          { Succeeded = 4, Pending = 0 }, 4 },
        { 3600, "Completed", { Completed = 4, InProgress = 0 }, { Succeeded = 4, Pending = 0 }, 4 },
      }
      for _, case in ipairs(cases) do
        local at = case[1]
        local d = w:at(at):ok("DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
        assert.equal(case[2], d.HyperParameterTuningJobStatus, "at +" .. at)
        local c = d.TrainingJobStatusCounters
        assert.same({ case[3].Completed, case[3].InProgress, 0, 0, 0 },
          { c.Completed, c.InProgress, c.RetryableError, c.NonRetryableError, c.Stopped }, "at +" .. at)
        local o = d.ObjectiveStatusCounters
        assert.same({ case[4].Succeeded, case[4].Pending, 0 }, { o.Succeeded, o.Pending, o.Failed },
          "at +" .. at)
        local list = w:ok("ListTrainingJobsForHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
        assert.equal(case[5], #list.TrainingJobSummaries, "at +" .. at)
      end
      local d = w:ok("DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
      assert.equal(T0, d.CreationTime)
      assert.equal(T0 + launch + 2 * JOB_LENGTH, d.HyperParameterTuningEndTime)
      assert.equal(T0 + launch + 2 * JOB_LENGTH, d.LastModifiedTime)
      assert.equal("Bayesian", d.HyperParameterTuningJobConfig.Strategy)
      assert.equal("multi:softmax", d.TrainingJobDefinition.StaticHyperParameters.objective)
    end)

    it("names its training jobs <tuning job>-NNN-<hex>, creates them as real training jobs", function()
      local w = world()
      local tags = A{ { Key = "team", Value = "ml" } }
      w:ok("CreateHyperParameterTuningJob", tuning_job(HPO, nil, { Tags = tags }))
      w:at(3600)
      local list = w:ok("ListTrainingJobsForHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
      assert.same({ child_name(1), child_name(2), child_name(3), child_name(4) },
        names(list.TrainingJobSummaries, "TrainingJobName"))
      for i, s in ipairs(list.TrainingJobSummaries) do
        assert.matches("^xgboost%-hpo%-00" .. i .. "%-%x%x%x%x%x%x%x%x$", s.TrainingJobName)
        assert.equal(HPO, s.TuningJobName)
        assert.equal(i <= 2 and T0 + D.tuning_launch or T0 + D.tuning_launch + JOB_LENGTH, s.CreationTime)
        local depth = tonumber(s.TunedHyperParameters.max_depth)
        assert.is_true(depth >= 2 and depth <= 9 and depth == math.floor(depth))
        local eta = tonumber(s.TunedHyperParameters.eta)
        assert.is_true(eta >= 0.1 and eta <= 0.5)
        assert.is_truthy(({ gbtree = true, dart = true })[s.TunedHyperParameters.booster])
        assert.equal("Succeeded", s.ObjectiveStatus)
        assert.equal("validation:accuracy", s.FinalHyperParameterTuningJobObjectiveMetric.MetricName)
        -- The training job itself.
        local job = w:ok("DescribeTrainingJob", { TrainingJobName = s.TrainingJobName })
        assert.equal(arn("hyper-parameter-tuning-job", HPO), job.TuningJobArn)
        assert.equal("Completed", job.TrainingJobStatus)
        assert.equal(s.TunedHyperParameters.max_depth, job.HyperParameters.max_depth)
        assert.equal("10", job.HyperParameters.num_round)
        assert.equal("validation:accuracy", job.HyperParameters._tuning_objective_metric)
        assert.equal("s3://bucket/hpo/" .. s.TrainingJobName .. "/output/model.tar.gz",
          job.ModelArtifacts.S3ModelArtifacts)
        -- A tuning job's tags go to its training jobs.
        assert.same({ { Key = "team", Value = "ml" } },
          w:ok("ListTags", { ResourceArn = job.TrainingJobArn }).Tags)
      end
      -- Repeatable: another world draws the same.
      local again = world()
      again:ok("CreateHyperParameterTuningJob", tuning_job(HPO))
      again:at(3600)
      assert.same(list, again:ok("ListTrainingJobsForHyperParameterTuningJob",
        { HyperParameterTuningJobName = HPO }))
    end)

    it("names the best training job by its objective", function()
      for _, objective in ipairs({ "Maximize", "Minimize" }) do
        local w = world()
        local input = tuning_job(HPO)
        input.HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.Type = objective
        w:ok("CreateHyperParameterTuningJob", input)
        w:at(3600)
        local best = w:ok("DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
          .BestTrainingJob
        local sorted = w:ok("ListTrainingJobsForHyperParameterTuningJob", { HyperParameterTuningJobName = HPO,
          SortBy = "FinalObjectiveMetricValue",
          SortOrder = objective == "Maximize" and "Descending" or "Ascending" })
        assert.equal(sorted.TrainingJobSummaries[1].TrainingJobName, best.TrainingJobName, objective)
        assert.equal(objective, best.FinalHyperParameterTuningJobObjectiveMetric.Type)
        local values = {}
        for i, s in ipairs(sorted.TrainingJobSummaries) do
          values[i] = s.FinalHyperParameterTuningJobObjectiveMetric.Value
        end
        for i = 2, #values do
          if objective == "Maximize" then
            assert.is_true(values[i - 1] >= values[i])
          else
            assert.is_true(values[i - 1] <= values[i])
          end
        end
      end
    end)

    it("has no best training job until one completed", function()
      local w = world()
      w:ok("CreateHyperParameterTuningJob", tuning_job(HPO))
      assert.is_nil(w:at(30):ok("DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
        .BestTrainingJob)
    end)

    it("lists its training jobs filtered and sorted", function()
      local w = world()
      w:ok("CreateHyperParameterTuningJob", tuning_job(HPO))
      w:at(D.tuning_launch + JOB_LENGTH + 1)
      local cases = {
        { {}, { child_name(1), child_name(2), child_name(3), child_name(4) } },
        { { SortOrder = "Descending" }, { child_name(4), child_name(3), child_name(2), child_name(1) } },
        { { StatusEquals = "Completed" }, { child_name(1), child_name(2) } },
        { { StatusEquals = "InProgress", SortBy = "CreationTime" }, { child_name(3), child_name(4) } },
        { { SortBy = "Status" }, { child_name(1), child_name(2), child_name(3), child_name(4) } },
        -- jobs with no objective value yet are left out
        { { SortBy = "FinalObjectiveMetricValue" }, 2 },
        { { MaxResults = 3 }, { child_name(1), child_name(2), child_name(3) } },
      }
      for i, case in ipairs(cases) do
        case[1].HyperParameterTuningJobName = HPO
        local out = w:ok("ListTrainingJobsForHyperParameterTuningJob", case[1])
        if type(case[2]) == "number" then
          assert.equal(case[2], #out.TrainingJobSummaries, "case " .. i)
        else
          assert.same(case[2], names(out.TrainingJobSummaries, "TrainingJobName"), "case " .. i)
        end
      end
      local first = w:ok("ListTrainingJobsForHyperParameterTuningJob",
        { HyperParameterTuningJobName = HPO, MaxResults = 3 })
      local rest = w:ok("ListTrainingJobsForHyperParameterTuningJob",
        { HyperParameterTuningJobName = HPO, MaxResults = 3, NextToken = first.NextToken })
      assert.same({ child_name(4) }, names(rest.TrainingJobSummaries, "TrainingJobName"))
      assert.is_nil(rest.NextToken)
    end)

    it("shows its training jobs in ListTrainingJobs without being described first", function()
      local w = world()
      w:ok("CreateHyperParameterTuningJob", tuning_job(HPO))
      local out = w:at(3600):ok("ListTrainingJobs", { NameContains = HPO })
      assert.equal(4, #out.TrainingJobSummaries)
      local job = w:ok("DescribeTrainingJob", { TrainingJobName = child_name(4) })
      assert.equal("Completed", job.TrainingJobStatus)
    end)

    it("stops its running training jobs and launches no more", function()
      local w = world()
      w:ok("CreateHyperParameterTuningJob", tuning_job(HPO))
      w:at(30):ok("StopHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
      local d = w:ok("DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
      assert.equal("Stopping", d.HyperParameterTuningJobStatus)
      assert.equal(2, d.TrainingJobStatusCounters.InProgress)
      local job = w:ok("DescribeTrainingJob", { TrainingJobName = child_name(1) })
      assert.equal("Stopping", job.TrainingJobStatus)
      d = w:at(3600):ok("DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
      assert.equal("Stopped", d.HyperParameterTuningJobStatus)
      assert.equal(2, d.TrainingJobStatusCounters.Stopped)
      assert.equal(0, d.TrainingJobStatusCounters.InProgress)
      assert.equal(2, d.ObjectiveStatusCounters.Failed)
      assert.equal(T0 + 30 + D.stopping, d.HyperParameterTuningEndTime)
      assert.is_nil(d.BestTrainingJob)
      assert.equal(2, #w:ok("ListTrainingJobsForHyperParameterTuningJob",
        { HyperParameterTuningJobName = HPO }).TrainingJobSummaries)
      w:fails("StopHyperParameterTuningJob", { HyperParameterTuningJobName = HPO }, "ValidationException",
        "The request was rejected because the hyperparameter tuning job is in status Stopped.")
    end)

    it("counts a failed training job and carries on", function()
      local w = world()
      w.failures[child_name(1)] = "AlgorithmError: bad hyperparameters"
      w.failures[child_name(4)] = "InternalServerError: We encountered an internal error. Please try again."
      w:ok("CreateHyperParameterTuningJob", tuning_job(HPO))
      local d = w:at(3600):ok("DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
      assert.equal("Completed", d.HyperParameterTuningJobStatus)
      local c = d.TrainingJobStatusCounters
      assert.same({ 2, 1, 1 }, { c.Completed, c.NonRetryableError, c.RetryableError })
      assert.same({ 2, 2 }, { d.ObjectiveStatusCounters.Succeeded, d.ObjectiveStatusCounters.Failed })
      local failed = w:ok("ListTrainingJobsForHyperParameterTuningJob",
        { HyperParameterTuningJobName = HPO, StatusEquals = "Failed" }).TrainingJobSummaries
      assert.same({ child_name(1), child_name(4) }, names(failed, "TrainingJobName"))
      assert.equal("AlgorithmError: bad hyperparameters", failed[1].FailureReason)
      assert.equal("Failed", failed[1].ObjectiveStatus)
      -- The failed job's slot went to the next one at the instant it failed.
      local third = w:ok("DescribeTrainingJob", { TrainingJobName = child_name(3) })
      assert.equal(T0 + D.tuning_launch + D.training_starting + D.training_downloading +
        D.training_fails_after,
        third.CreationTime)
    end)

    it("fails when every training job failed", function()
      local w = world()
      w.failures[HPO] = "ClientError: the training image cannot be pulled"
      w:ok("CreateHyperParameterTuningJob", tuning_job(HPO,
        { MaxNumberOfTrainingJobs = 2, MaxParallelTrainingJobs = 2 }))
      local d = w:at(3600):ok("DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = HPO })
      assert.equal("Failed", d.HyperParameterTuningJobStatus)
      assert.equal("ClientError: the training image cannot be pulled", d.FailureReason)
      assert.equal(2, d.TrainingJobStatusCounters.NonRetryableError)
      assert.equal("ClientError: the training image cannot be pulled",
        w:ok("DescribeTrainingJob", { TrainingJobName = child_name(2) }).FailureReason)
    end)

    it("walks the whole grid when Strategy is Grid", function()
      local w = world()
      local input = tuning_job(HPO, { MaxParallelTrainingJobs = 3 })
      input.HyperParameterTuningJobConfig.Strategy = "Grid"
      input.HyperParameterTuningJobConfig.ParameterRanges = {
        CategoricalParameterRanges = A{
          { Name = "booster", Values = A{ "gbtree", "dart" } },
          { Name = "max_depth", Values = A{ "3", "5", "7" } },
        },
      }
      w:ok("CreateHyperParameterTuningJob", input)
      local list = w:at(3600):ok("ListTrainingJobsForHyperParameterTuningJob",
        { HyperParameterTuningJobName = HPO, MaxResults = 100 }).TrainingJobSummaries
      assert.equal(6, #list)
      local seen = {}
      for _, s in ipairs(list) do
        seen[s.TunedHyperParameters.booster .. "/" .. s.TunedHyperParameters.max_depth] = true
      end
      local n = 0
      for _ in pairs(seen) do n = n + 1 end
      assert.equal(6, n)
    end)

    it("refuses a duplicate name and answers AWS's not-found error", function()
      local w = world()
      w:ok("CreateHyperParameterTuningJob", tuning_job(HPO))
      w:fails("CreateHyperParameterTuningJob", tuning_job(HPO), "ResourceInUse",
        "A hyperparameter tuning job with the name, " .. HPO .. ", already exists. Choose a different name.")
      for _, op in ipairs({ "DescribeHyperParameterTuningJob", "StopHyperParameterTuningJob",
        "ListTrainingJobsForHyperParameterTuningJob" }) do
        w:fails(op, { HyperParameterTuningJobName = "nope" }, "ResourceNotFound",
          "Amazon SageMaker can't find a tuning job called nope. Type another name.")
      end
    end)

    it("lists tuning jobs filtered and sorted", function()
      local w = world()
      w:ok("CreateHyperParameterTuningJob", tuning_job("hpo-b"))
      w:at(10):ok("CreateHyperParameterTuningJob", tuning_job("hpo-a"))
      w:at(20):ok("CreateHyperParameterTuningJob", tuning_job("other-c"))
      w:at(20):ok("StopHyperParameterTuningJob", { HyperParameterTuningJobName = "hpo-a" })
      w:at(130)
      local cases = {
        { {}, { "hpo-a", "hpo-b", "other-c" } },
        { { SortBy = "CreationTime", SortOrder = "Descending" }, { "other-c", "hpo-a", "hpo-b" } },
        { { SortBy = "Status" }, { "hpo-b", "other-c", "hpo-a" } },
        { { NameContains = "hpo" }, { "hpo-a", "hpo-b" } },
        { { StatusEquals = "Stopped" }, { "hpo-a" } },
        { { CreationTimeAfter = T0 + 5 }, { "hpo-a", "other-c" } },
      }
      for i, case in ipairs(cases) do
        local out = w:ok("ListHyperParameterTuningJobs", case[1])
        assert.same(case[2], names(out.HyperParameterTuningJobSummaries, "HyperParameterTuningJobName"), i)
      end
      local b = w:ok("ListHyperParameterTuningJobs", { NameContains = "hpo-b" })
        .HyperParameterTuningJobSummaries[1]
      assert.equal("Completed", b.HyperParameterTuningJobStatus)
      assert.equal("Bayesian", b.Strategy)
      assert.equal(4, b.TrainingJobStatusCounters.Completed)
      assert.equal(2, b.ResourceLimits.MaxParallelTrainingJobs)
    end)
  end)

  -- Transform and processing jobs share a lifecycle; one table drives both.
  local BATCH_FAMILIES = {
    {
      family = "transform", noun = "transform job", resource = "transform-job",
      create = "CreateTransformJob", describe = "DescribeTransformJob", stop = "StopTransformJob",
      list = "ListTransformJobs", name_member = "TransformJobName", status = "TransformJobStatus",
      start = "TransformStartTime", finish = "TransformEndTime", summaries = "TransformJobSummaries",
      arn_member = "TransformJobArn", log_group = "/aws/sagemaker/TransformJobs",
      duration = D.transform, startup = D.transform_startup,
      input = function(name) return transform_job(name) end,
      setup = function(w) w:ok("CreateModel", model_input("xgboost-model")) end,
      default_order = "Descending",
      describe_missing = "Could not find requested job with name nope",
      stop_missing = "Could not find job to update with name nope",
    },
    {
      family = "processing", noun = "processing job", resource = "processing-job",
      create = "CreateProcessingJob", describe = "DescribeProcessingJob", stop = "StopProcessingJob",
      list = "ListProcessingJobs", name_member = "ProcessingJobName", status = "ProcessingJobStatus",
      start = "ProcessingStartTime", finish = "ProcessingEndTime", summaries = "ProcessingJobSummaries",
      arn_member = "ProcessingJobArn", log_group = "/aws/sagemaker/ProcessingJobs",
      duration = D.processing, startup = D.processing_startup,
      input = function(name) return processing_job(name) end,
      setup = function() end,
      default_order = "Ascending",
      describe_missing = "Could not find requested job with name nope",
      stop_missing = "Could not find requested job with name nope",
    },
  }

  for _, f in ipairs(BATCH_FAMILIES) do
    describe(f.family .. " jobs", function()
      local JOB = "batch-" .. f.family

      local function new_world()
        local w = world()
        f.setup(w)
        return w
      end

      local function describe_job(w, name)
        return w:ok(f.describe, { [f.name_member] = name or JOB })
      end

      it("runs InProgress, then Completed, with start and end times", function()
        local w = new_world()
        local created = w:ok(f.create, f.input(JOB))
        assert.equal(arn(f.resource, JOB), created[f.arn_member])
        local cases = {
          { 0, "InProgress", false, false },
          { f.startup - 1, "InProgress", false, false },
          { f.startup, "InProgress", true, false },
          { f.duration - 1, "InProgress", true, false },
          { f.duration, "Completed", true, true },
          { 3600, "Completed", true, true },
        }
        for _, case in ipairs(cases) do
          local d = describe_job(w:at(case[1]))
          assert.equal(case[2], d[f.status], "at +" .. case[1])
          assert.equal(case[3] and T0 + f.startup or nil, d[f.start], "at +" .. case[1])
          assert.equal(case[4] and T0 + f.duration or nil, d[f.finish], "at +" .. case[1])
        end
        local lines = w:lines(f.log_group, JOB .. "/")
        assert.equal(2, #lines)
        assert.same({ T0 + f.startup, T0 + f.duration }, { lines[1].at, lines[2].at })
      end)

      it("stops mid-way and refuses to stop a finished job", function()
        local w = new_world()
        w:ok(f.create, f.input(JOB))
        w:ok(f.create, f.input(JOB .. "-2"))
        w:at(15):ok(f.stop, { [f.name_member] = JOB })
        assert.equal("Stopping", describe_job(w)[f.status])
        w:at(16):ok(f.stop, { [f.name_member] = JOB })
        local d = describe_job(w:at(15 + D.stopping))
        assert.equal("Stopped", d[f.status])
        assert.equal(T0 + 15 + D.stopping, d[f.finish])
        w:at(3600)
        w:fails(f.stop, { [f.name_member] = JOB }, "ValidationException",
          "The request was rejected because the " .. f.noun .. " is in status Stopped.")
        w:fails(f.stop, { [f.name_member] = JOB .. "-2" }, "ValidationException",
          "The request was rejected because the " .. f.noun .. " is in status Completed.")
      end)

      it("fails with the injected FailureReason", function()
        local w = new_world()
        w.failures[JOB] = "ClientError: the input is not valid CSV"
        w:ok(f.create, f.input(JOB))
        local d = describe_job(w:at(3600))
        assert.equal("Failed", d[f.status])
        assert.equal("ClientError: the input is not valid CSV", d.FailureReason)
        assert.equal(T0 + D.job_fails_after, d[f.finish])
        local summary = w:ok(f.list, {})[f.summaries][1]
        assert.equal("ClientError: the input is not valid CSV", summary.FailureReason)
      end)

      it("refuses a duplicate name and answers AWS's not-found errors", function()
        local w = new_world()
        w:ok(f.create, f.input(JOB))
        w:fails(f.create, f.input(JOB), "ResourceInUse", "Job name must be unique within an AWS account " ..
          "and region, and a job with this name already exists (" .. arn(f.resource, JOB) .. ")")
        w:fails(f.describe, { [f.name_member] = "nope" }, "ValidationException", f.describe_missing)
        w:fails(f.stop, { [f.name_member] = "nope" }, "ValidationException", f.stop_missing)
      end)

      it("lists filtered, sorted and paged", function()
        local w = new_world()
        w:ok(f.create, f.input("job-a"))
        w:at(10):ok(f.create, f.input("job-b"))
        w:at(20):ok(f.create, f.input("other-c"))
        w:at(45)
        local by_creation = { "job-a", "job-b", "other-c" }
        if f.default_order == "Descending" then by_creation = { "other-c", "job-b", "job-a" } end
        local cases = {
          { {}, by_creation },
          { { SortBy = "Name", SortOrder = "Ascending" }, { "job-a", "job-b", "other-c" } },
          { { SortBy = "Status", SortOrder = "Ascending" }, { "job-a", "job-b", "other-c" } },
          { { StatusEquals = "InProgress", SortOrder = "Ascending" }, { "job-b", "other-c" } },
          { { NameContains = "job", SortOrder = "Ascending" }, { "job-a", "job-b" } },
          { { CreationTimeBefore = T0 + 10 }, { "job-a" } },
          { { LastModifiedTimeAfter = T0 + 25, SortOrder = "Ascending" }, { "job-a", "other-c" } },
        }
        for i, case in ipairs(cases) do
          assert.same(case[2], names(w:ok(f.list, case[1])[f.summaries], f.name_member), "case " .. i)
        end
        local first = w:ok(f.list, { MaxResults = 2 })
        assert.equal(2, #first[f.summaries])
        local rest = w:ok(f.list, { MaxResults = 2, NextToken = first.NextToken })
        assert.same({ by_creation[3] }, names(rest[f.summaries], f.name_member))
      end)
    end)
  end

  it("runs a transform job only on a model that exists", function()
    local w = world()
    w:fails("CreateTransformJob", transform_job("t", "missing-model"), "ValidationException",
      'Could not find model "' .. arn("model", "missing-model") .. '".')
  end)

  describe("models and endpoint configurations", function()
    it("creates, describes, lists and deletes models", function()
      local w = world()
      local created = w:ok("CreateModel", model_input("model-a"))
      assert.equal(arn("model", "model-a"), created.ModelArn)
      w:at(10):ok("CreateModel", model_input("model-b"))
      local d = w:ok("DescribeModel", { ModelName = "model-a" })
      assert.equal(T0, d.CreationTime)
      assert.equal("s3://bucket/output/job/output/model.tar.gz", d.PrimaryContainer.ModelDataUrl)
      assert.is_false(d.EnableNetworkIsolation)
      w:fails("CreateModel", model_input("model-a"), "ValidationException",
        'Cannot create already existing model "' .. arn("model", "model-a") .. '".')
      assert.same({ "model-b", "model-a" }, names(w:ok("ListModels", {}).Models, "ModelName"))
      assert.same({ "model-a", "model-b" },
        names(w:ok("ListModels", { SortBy = "Name", SortOrder = "Ascending" })
        .Models, "ModelName"))
      assert.same({ "model-b" },
        names(w:ok("ListModels", { CreationTimeAfter = T0 + 5 }).Models, "ModelName"))
      assert.same({ "model-a" }, names(w:ok("ListModels", { NameContains = "l-a" }).Models, "ModelName"))
      w:ok("DeleteModel", { ModelName = "model-a" })
      local missing = 'Could not find model "' .. arn("model", "model-a") .. '".'
      w:fails("DescribeModel", { ModelName = "model-a" }, "ValidationException", missing)
      w:fails("DeleteModel", { ModelName = "model-a" }, "ValidationException", missing)
    end)

    it("creates endpoint configurations only for models that exist", function()
      local w = world()
      w:fails("CreateEndpointConfig", config_input("config-a", "model-a"), "ValidationException",
        'Could not find model "' .. arn("model", "model-a") .. '".')
      w:ok("CreateModel", model_input("model-a"))
      local created = w:ok("CreateEndpointConfig", config_input("config-a", "model-a"))
      assert.equal(arn("endpoint-config", "config-a"), created.EndpointConfigArn)
      local d = w:ok("DescribeEndpointConfig", { EndpointConfigName = "config-a" })
      assert.equal("model-a", d.ProductionVariants[1].ModelName)
      w:fails("CreateEndpointConfig", config_input("config-a", "model-a"), "ValidationException",
        'Cannot create already existing endpoint configuration "' .. arn("endpoint-config", "config-a") ..
        '".')
      assert.same({ "config-a" },
        names(w:ok("ListEndpointConfigs", {}).EndpointConfigs, "EndpointConfigName"))
      w:ok("DeleteEndpointConfig", { EndpointConfigName = "config-a" })
      local missing = 'Could not find endpoint configuration "' .. arn("endpoint-config", "config-a") .. '".'
      w:fails("DescribeEndpointConfig", { EndpointConfigName = "config-a" }, "ValidationException", missing)
      w:fails("DeleteEndpointConfig", { EndpointConfigName = "config-a" }, "ValidationException", missing)
    end)
  end)

  describe("endpoints", function()
    local EP = "xgboost-endpoint"
    local IMAGE_V2 = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:2"

    -- model-1 / config-1 (one variant) and model-2 / config-2 (two variants).
    local function hosting_world()
      local w = world()
      w:ok("CreateModel", model_input("model-1"))
      w:ok("CreateModel", model_input("model-2", IMAGE_V2))
      w:ok("CreateEndpointConfig", config_input("config-1", "model-1"))
      w:ok("CreateEndpointConfig", config_input("config-2", nil, A{
        { VariantName = "blue", ModelName = "model-1", InitialInstanceCount = 2, InstanceType = "ml.m5.large",
          InitialVariantWeight = 3 },
        { VariantName = "green", ModelName = "model-2", InitialInstanceCount = 1,
          InstanceType = "ml.m5.large",
          InitialVariantWeight = 1 },
      }))
      return w
    end

    local function endpoint(w)
      return w:ok("DescribeEndpoint", { EndpointName = EP })
    end

    it("goes Creating, then InService, with its variants", function()
      local w = hosting_world()
      local created = w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-1" })
      assert.equal(arn("endpoint", EP), created.EndpointArn)
      local d = endpoint(w)
      assert.equal("Creating", d.EndpointStatus)
      assert.equal("config-1", d.EndpointConfigName)
      assert.is_nil(d.ProductionVariants)
      assert.equal("Creating", endpoint(w:at(D.endpoint_creating - 1)).EndpointStatus)
      d = endpoint(w:at(D.endpoint_creating))
      assert.equal("InService", d.EndpointStatus)
      assert.equal(T0, d.CreationTime)
      assert.equal(T0 + D.endpoint_creating, d.LastModifiedTime)
      local v = d.ProductionVariants[1]
      assert.same({ "AllTraffic", 1, 1, 1, 1 },
        { v.VariantName, v.CurrentWeight, v.DesiredWeight, v.CurrentInstanceCount, v.DesiredInstanceCount })
      local image = v.DeployedImages[1]
      assert.equal("433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1", image.SpecifiedImage)
      assert.matches("^433757028032%.dkr%.ecr%.us%-west%-2%.amazonaws%.com/xgboost@sha256:%x+$",
        image.ResolvedImage)
      assert.equal(64, #image.ResolvedImage:match("sha256:(%x+)$"))
      assert.equal(T0, image.ResolutionTime)
      w:fails("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-1" }, "ValidationException",
        'Cannot create already existing endpoint "' .. arn("endpoint", EP) .. '".')
    end)

    it("needs an endpoint configuration that exists", function()
      local w = hosting_world()
      w:fails("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "nope" }, "ValidationException",
        'Could not find endpoint configuration "' .. arn("endpoint-config", "nope") .. '".')
    end)

    it("fails to create with the injected FailureReason, and can then only be deleted", function()
      local w = hosting_world()
      w.failures[EP] = "The primary container for production variant AllTraffic did not pass " ..
        "the ping health check."
      w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-1" })
      local d = endpoint(w:at(3600))
      assert.equal("Failed", d.EndpointStatus)
      assert.equal(w.failures[EP], d.FailureReason)
      assert.equal(T0 + D.endpoint_creating, d.LastModifiedTime)
      w:fails("UpdateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" }, "ValidationException",
        'Cannot update failed endpoint "' .. arn("endpoint", EP) .. '".')
      w:ok("DeleteEndpoint", { EndpointName = EP })
      assert.equal("Deleting", endpoint(w).EndpointStatus)
    end)

    it("updates to a new configuration: Updating, then InService with it", function()
      local w = hosting_world()
      w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-1" })
      w:at(5)
      w:fails("UpdateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" }, "ValidationException",
        'Cannot update in-progress endpoint "' .. arn("endpoint", EP) .. '".')
      w:at(100):ok("UpdateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" })
      local d = endpoint(w)
      assert.equal("Updating", d.EndpointStatus)
      assert.equal("config-1", d.EndpointConfigName) -- until the new one serves
      assert.same({ "AllTraffic" }, names(d.ProductionVariants, "VariantName"))
      local pending = d.PendingDeploymentSummary
      assert.equal("config-2", pending.EndpointConfigName)
      assert.equal(T0 + 100, pending.StartTime)
      assert.same({ "blue", "green" }, names(pending.ProductionVariants, "VariantName"))
      w:fails("UpdateEndpoint", { EndpointName = EP, EndpointConfigName = "config-1" }, "ValidationException",
        'Cannot update in-progress endpoint "' .. arn("endpoint", EP) .. '".')
      w:fails("DeleteEndpoint", { EndpointName = EP }, "ValidationException",
        'Cannot update in-progress endpoint "' .. arn("endpoint", EP) .. '".')
      d = endpoint(w:at(100 + D.endpoint_updating))
      assert.equal("InService", d.EndpointStatus)
      assert.equal("config-2", d.EndpointConfigName)
      assert.is_nil(d.PendingDeploymentSummary)
      assert.equal(T0 + 100 + D.endpoint_updating, d.LastModifiedTime)
      local blue, green = d.ProductionVariants[1], d.ProductionVariants[2]
      assert.same({ "blue", 3, 2 }, { blue.VariantName, blue.CurrentWeight, blue.CurrentInstanceCount })
      assert.same({ "green", 1, 1 }, { green.VariantName, green.CurrentWeight, green.CurrentInstanceCount })
      assert.equal(IMAGE_V2, green.DeployedImages[1].SpecifiedImage)
    end)

    it("keeps serving the old configuration when an update fails", function()
      local w = hosting_world()
      w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-1" })
      w:at(100):ok("UpdateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" })
      w.failures[EP] = "Update failed: the new model did not pass the ping health check."
      local d = endpoint(w:at(3600))
      assert.equal("InService", d.EndpointStatus)
      assert.equal("config-1", d.EndpointConfigName)
      assert.equal(w.failures[EP], d.FailureReason)
      assert.same({ "AllTraffic" }, names(d.ProductionVariants, "VariantName"))
    end)

    it("changes weights and capacities in place", function()
      local w = hosting_world()
      w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" })
      w:at(5)
      w:fails("UpdateEndpointWeightsAndCapacities", { EndpointName = EP,
        DesiredWeightsAndCapacities = A{ { VariantName = "blue", DesiredInstanceCount = 4 } } },
        "ValidationException", 'Cannot update in-progress endpoint "' .. arn("endpoint", EP) .. '".')
      w:at(50)
      w:fails("UpdateEndpointWeightsAndCapacities", { EndpointName = EP,
        DesiredWeightsAndCapacities = A{ { VariantName = "red", DesiredWeight = 1 } } },
        "ValidationException")
      w:ok("UpdateEndpointWeightsAndCapacities", { EndpointName = EP,
        DesiredWeightsAndCapacities = A{
          { VariantName = "blue", DesiredInstanceCount = 4, DesiredWeight = 0.5 } } })
      local d = endpoint(w)
      assert.equal("Updating", d.EndpointStatus)
      assert.is_nil(d.PendingDeploymentSummary)
      local blue = d.ProductionVariants[1]
      assert.same({ 2, 4, 3, 0.5 }, { blue.CurrentInstanceCount, blue.DesiredInstanceCount,
        blue.CurrentWeight, blue.DesiredWeight })
      d = endpoint(w:at(50 + D.endpoint_updating))
      assert.equal("InService", d.EndpointStatus)
      blue = d.ProductionVariants[1]
      assert.same({ 4, 4, 0.5, 0.5 }, { blue.CurrentInstanceCount, blue.DesiredInstanceCount,
        blue.CurrentWeight, blue.DesiredWeight })
      assert.equal(1, d.ProductionVariants[2].CurrentInstanceCount)
    end)

    it("retains variant properties on update when asked, except the excluded ones", function()
      local cases = {
        { retain = false, excluded = nil, want = { 2, 3 } },
        { retain = true, excluded = nil, want = { 5, 0.25 } },
        { retain = true, excluded = A{ { VariantPropertyType = "DesiredWeight" } }, want = { 5, 3 } },
      }
      for i, case in ipairs(cases) do
        local w = hosting_world()
        w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" })
        w:at(40):ok("UpdateEndpointWeightsAndCapacities", { EndpointName = EP,
          DesiredWeightsAndCapacities = A{
            { VariantName = "blue", DesiredInstanceCount = 5, DesiredWeight = 0.25 } } })
        w:at(80):ok("UpdateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2",
          RetainAllVariantProperties = case.retain, ExcludeRetainedVariantProperties = case.excluded })
        local blue = endpoint(w:at(200)).ProductionVariants[1]
        assert.same(case.want, { blue.CurrentInstanceCount, blue.CurrentWeight }, "case " .. i)
      end
    end)

    it("deletes: Deleting, then gone, without disturbing configurations or models", function()
      local w = hosting_world()
      w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-1" })
      w:at(5)
      w:fails("DeleteEndpoint", { EndpointName = EP }, "ValidationException",
        'Cannot update in-progress endpoint "' .. arn("endpoint", EP) .. '".')
      w:ok("DeleteEndpointConfig", { EndpointConfigName = "config-1" })
      w:ok("DeleteModel", { ModelName = "model-1" })
      assert.equal("InService", endpoint(w:at(40)).EndpointStatus)
      w:ok("DeleteEndpoint", { EndpointName = EP })
      assert.equal("Deleting", endpoint(w:at(40 + D.endpoint_deleting - 1)).EndpointStatus)
      w:at(40 + D.endpoint_deleting)
      local missing = 'Could not find endpoint "' .. arn("endpoint", EP) .. '".'
      for _, op in ipairs({ "DescribeEndpoint", "DeleteEndpoint" }) do
        w:fails(op, { EndpointName = EP }, "ValidationException", missing)
      end
      w:fails("UpdateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" }, "ValidationException",
        missing)
      assert.same({}, w:ok("ListEndpoints", {}).Endpoints)
      -- The name is free again.
      w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" })
    end)

    it("lists endpoints filtered and sorted", function()
      local w = hosting_world()
      w:ok("CreateEndpoint", { EndpointName = "ep-a", EndpointConfigName = "config-1" })
      w:at(10):ok("CreateEndpoint", { EndpointName = "ep-b", EndpointConfigName = "config-1" })
      w:at(20):ok("CreateEndpoint", { EndpointName = "other-c", EndpointConfigName = "config-1" })
      w:at(35)
      local cases = {
        { {}, { "other-c", "ep-b", "ep-a" } },
        { { SortBy = "Name", SortOrder = "Ascending" }, { "ep-a", "ep-b", "other-c" } },
        { { SortBy = "Status", SortOrder = "Ascending" }, { "ep-b", "other-c", "ep-a" } },
        { { StatusEquals = "InService" }, { "ep-a" } },
        { { NameContains = "ep-" }, { "ep-b", "ep-a" } },
        { { LastModifiedTimeAfter = T0 + 25 }, { "ep-a" } },
        { { LastModifiedTimeBefore = T0 + 25 }, { "other-c", "ep-b" } },
        { { CreationTimeBefore = T0 + 15, CreationTimeAfter = T0 + 5 }, { "ep-b" } },
      }
      for i, case in ipairs(cases) do
        assert.same(case[2], names(w:ok("ListEndpoints", case[1]).Endpoints, "EndpointName"), "case " .. i)
      end
      local a = w:ok("ListEndpoints", { StatusEquals = "InService" }).Endpoints[1]
      assert.same({ EndpointName = "ep-a", EndpointArn = arn("endpoint", "ep-a"), CreationTime = T0,
        LastModifiedTime = T0 + D.endpoint_creating, EndpointStatus = "InService" }, a)
    end)

    it("tells Application Auto Scaling which variants exist", function()
      local w = hosting_world()
      w:ok("CreateEndpoint", { EndpointName = EP, EndpointConfigName = "config-2" })
      local exists = sagemaker.variant_exists
      assert.is_true(exists(w.state, EP, "blue"))
      assert.is_true(exists(w.state, EP, "blue", "us-east-1"))
      assert.is_false(exists(w.state, EP, "blue", "us-west-2"))
      assert.is_false(exists(w.state, EP, "red"))
      assert.is_false(exists(w.state, "nope", "blue"))
    end)
  end)

  describe("tags", function()
    it("adds, lists and deletes tags on every kind of resource", function()
      local w = world()
      local A_TAG = A{ { Key = "team", Value = "ml" } }
      local arns = {
        w:ok("CreateTrainingJob", training_job("job", { Tags = A_TAG })).TrainingJobArn,
        w:ok("CreateHyperParameterTuningJob", tuning_job("hpo", nil, { Tags = A_TAG }))
          .HyperParameterTuningJobArn,
        w:ok("CreateProcessingJob", (function()
          local p = processing_job("prep")
          p.Tags = A_TAG
          return p
        end)()).ProcessingJobArn,
      }
      local m = model_input("model")
      m.Tags = A_TAG
      arns[#arns + 1] = w:ok("CreateModel", m).ModelArn
      local c = config_input("config", "model")
      c.Tags = A_TAG
      arns[#arns + 1] = w:ok("CreateEndpointConfig", c).EndpointConfigArn
      arns[#arns + 1] = w:ok("CreateEndpoint", { EndpointName = "ep", EndpointConfigName = "config",
        Tags = A_TAG }).EndpointArn
      local t = transform_job("batch", "model")
      t.Tags = A_TAG
      arns[#arns + 1] = w:ok("CreateTransformJob", t).TransformJobArn
      for _, resource in ipairs(arns) do
        assert.same({ { Key = "team", Value = "ml" } },
          w:ok("ListTags", { ResourceArn = resource }).Tags, resource)
        local added = w:ok("AddTags", { ResourceArn = resource,
          Tags = A{ { Key = "team", Value = "infra" }, { Key = "cost-center", Value = "42" } } })
        assert.equal(2, #added.Tags)
        assert.same({ { Key = "team", Value = "infra" }, { Key = "cost-center", Value = "42" } },
          w:ok("ListTags", { ResourceArn = resource }).Tags, resource)
        w:ok("DeleteTags", { ResourceArn = resource, TagKeys = A{ "team", "absent" } })
        assert.same({ { Key = "cost-center", Value = "42" } },
          w:ok("ListTags", { ResourceArn = resource }).Tags)
      end
    end)

    it("refuses resources that do not exist, or no longer do", function()
      local w = world()
      local unknown = arn("training-job", "nope")
      w:fails("ListTags", { ResourceArn = unknown }, "ValidationException")
      w:fails("AddTags", { ResourceArn = unknown, Tags = A{ { Key = "k", Value = "v" } } },
        "ValidationException")
      w:fails("DeleteTags", { ResourceArn = unknown, TagKeys = A{ "k" } }, "ValidationException")
      w:fails("ListTags", { ResourceArn = "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/nb" },
        "ValidationException")
      w:ok("CreateModel", model_input("model"))
      w:fails("ListTags", { ResourceArn = arn("model", "model", "us-west-2") }, "ValidationException")
      w:ok("CreateEndpointConfig", config_input("config", "model"))
      w:ok("CreateEndpoint", { EndpointName = "ep", EndpointConfigName = "config",
        Tags = A{ { Key = "k", Value = "v" } } })
      w:at(D.endpoint_creating):ok("DeleteEndpoint", { EndpointName = "ep" })
      w:at(D.endpoint_creating + D.endpoint_deleting)
      w:fails("ListTags", { ResourceArn = arn("endpoint", "ep") }, "ValidationException")
      -- A new endpoint of the same name starts with no tags.
      w:ok("CreateEndpoint", { EndpointName = "ep", EndpointConfigName = "config" })
      assert.same({}, w:ok("ListTags", { ResourceArn = arn("endpoint", "ep") }).Tags)
    end)

    it("allows at most 50 tags on a resource", function()
      local w = world()
      local resource = w:ok("CreateModel", model_input("model")).ModelArn
      local tags = A{}
      for i = 1, 50 do tags[i] = { Key = "k" .. i, Value = "v" } end
      w:ok("AddTags", { ResourceArn = resource, Tags = tags })
      w:ok("AddTags", { ResourceArn = resource, Tags = A{ { Key = "k1", Value = "changed" } } })
      w:fails("AddTags", { ResourceArn = resource, Tags = A{ { Key = "k51", Value = "v" } } },
        "ValidationException")
      assert.equal(50, #w:ok("ListTags", { ResourceArn = resource }).Tags)
    end)
  end)

  describe("advance", function()
    it("brings every region up to now, then has nothing left to watch", function()
      local w = world()
      w:ok("CreateTrainingJob", training_job("job"))
      w:ok("CreateModel", model_input("model"))
      w:ok("CreateEndpointConfig", config_input("config", "model"))
      w:ok("CreateEndpoint", { EndpointName = "ep", EndpointConfigName = "config" })
      w.region = "us-west-2"
      w:ok("CreateHyperParameterTuningJob", tuning_job("hpo"))
      w:ok("CreateProcessingJob", processing_job("prep"))
      w.region = "us-east-1"
      w:at(3600)
      sagemaker.advance(w:ctx())
      -- Nothing was described, yet every job wrote its whole log.
      local job = w:lines("/aws/sagemaker/TrainingJobs", "job/")
      assert.equal("Training job completed", job[#job].message)
      local last_child = w:lines("/aws/sagemaker/TrainingJobs", "hpo-004-")
      assert.equal("Training job completed", last_child[#last_child].message)
      local prep = w:lines("/aws/sagemaker/ProcessingJobs", "prep/")
      assert.equal("Processing job completed", prep[#prep].message)
      -- The training jobs the tuning job launched belong to its region.
      local west = w.state["us-west-2"]
      for key, r in pairs(west.training_jobs) do
        assert.equal(arn("training-job", key, "us-west-2"), r.arn)
        assert.equal("Completed", r.status)
      end
      for _, region in ipairs({ "us-east-1", "us-west-2" }) do
        for name, set in pairs(w.state[region]) do
          if name:match("_active$") then assert.same({}, set, region .. " " .. name) end
        end
      end
      local before = #w.logs
      w:at(7200)
      sagemaker.advance(w:ctx())
      assert.equal(before, #w.logs)
    end)
  end)

  -- The same handlers behind the real app (SigV4, validation, advance
  -- hooks, the control endpoint) and behind a real server with aws.client.
  describe("through the fake-aws app", function()
    local fa = require "spec.support.fake_aws"
    local task = require "smop.task"

    local function step(app, seconds)
      local status = fa.control(app, "POST", "/_smop/clock", { advance = seconds })
      assert.equal(200, status)
    end

    local function call(app, op, params)
      local status, _, body, out = fa.call(app, "sagemaker", op, params)
      assert.equal(200, status, op .. ": " .. tostring(body))
      return check_answer(op, out)
    end

    it("runs a training job to Failed on an injected fault, and its log stream grows unasked", function()
      task.run(function()
        local app = fa.app()
        call(app, "CreateTrainingJob", training_job("xgb"))
        local status = fa.control(app, "POST", "/_smop/faults",
          { kind = "fail", name = "xgb", reason = "AlgorithmError: injected" })
        assert.equal(201, status)
        step(app, 25)
        -- Nobody described the job: the logs are current all the same.
        local _, _, _, streams = fa.call(app, "logs", "DescribeLogStreams",
          { logGroupName = "/aws/sagemaker/TrainingJobs", logStreamNamePrefix = "xgb/" })
        assert.equal(1, #streams.logStreams)
        local stream = streams.logStreams[1].logStreamName
        assert.matches("^xgb/algo%-1%-%d+$", stream)
        local get = { logGroupName = "/aws/sagemaker/TrainingJobs", logStreamName = stream,
          startFromHead = true }
        local _, _, _, early = fa.call(app, "logs", "GetLogEvents", get)
        step(app, 3600)
        local _, _, _, late = fa.call(app, "logs", "GetLogEvents", get)
        assert.is_true(#late.events > #early.events)
        assert.equal("Training job failed: AlgorithmError: injected", late.events[#late.events].message)
        local d = call(app, "DescribeTrainingJob", { TrainingJobName = "xgb" })
        assert.equal("Failed", d.TrainingJobStatus)
        assert.equal("AlgorithmError: injected", d.FailureReason)
        local _, _, _, err = fa.call(app, "sagemaker", "DescribeTrainingJob", { TrainingJobName = "nope" })
        assert.same({ __type = "ValidationException", message = "Requested resource not found." }, err)
      end)
    end)

    it("launches a tuning job's training jobs as the clock moves", function()
      task.run(function()
        local app = fa.app()
        call(app, "CreateHyperParameterTuningJob", tuning_job("hpo"))
        step(app, 3600)
        local listed = call(app, "ListTrainingJobs", { NameContains = "hpo" })
        assert.equal(4, #listed.TrainingJobSummaries)
        local d = call(app, "DescribeHyperParameterTuningJob", { HyperParameterTuningJobName = "hpo" })
        assert.equal("Completed", d.HyperParameterTuningJobStatus)
        assert.equal(4, d.TrainingJobStatusCounters.Completed)
      end)
    end)

    it("serves hosting to aws.client, with AWS's errors", function()
      fa.serve({}, function(env)
        local sm = env.client("sagemaker")
        assert(sm:call("CreateModel", model_input("m")))
        assert(sm:call("CreateEndpointConfig", config_input("c", "m")))
        local created = assert(sm:call("CreateEndpoint", { EndpointName = "ep", EndpointConfigName = "c" }))
        assert.equal(arn("endpoint", "ep"), created.EndpointArn)
        local d = assert(sm:call("DescribeEndpoint", { EndpointName = "ep" }))
        assert.equal("Creating", d.EndpointStatus)
        local _, err = sm:call("UpdateEndpoint", { EndpointName = "ep", EndpointConfigName = "c" })
        assert.same({ "ValidationException",
          'Cannot update in-progress endpoint "' .. arn("endpoint", "ep") .. '".', 400 },
          { err.code, err.message, err.status })
        step(env.app, D.endpoint_creating)
        d = assert(sm:call("DescribeEndpoint", { EndpointName = "ep" }))
        assert.equal("InService", d.EndpointStatus)
        check_answer("DescribeEndpoint", d)
        _, err = sm:call("DescribeEndpoint", { EndpointName = "nope" })
        assert.same({ "ValidationException", 'Could not find endpoint "' .. arn("endpoint", "nope") .. '".' },
          { err.code, err.message })
        -- Application Auto Scaling sees the variant.
        local aas = env.client("application-autoscaling")
        local function target(variant)
          return { ServiceNamespace = "sagemaker", ResourceId = "endpoint/ep/variant/" .. variant,
            ScalableDimension = "sagemaker:variant:DesiredInstanceCount", MinCapacity = 1, MaxCapacity = 4 }
        end
        assert(aas:call("RegisterScalableTarget", target("AllTraffic")))
        local _, missing = aas:call("RegisterScalableTarget", target("Nope"))
        assert.equal("ValidationException", missing.code)
      end)
    end)
  end)
end)
