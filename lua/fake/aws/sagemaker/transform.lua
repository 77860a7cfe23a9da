-- SageMaker batch transform jobs: CreateTransformJob, DescribeTransformJob,
-- StopTransformJob, ListTransformJobs. Lifecycle in batchjob.lua; logs in
-- /aws/sagemaker/TransformJobs, one stream per instance: <job>/<instance id>-<epoch>.
local batchjob = require("fake.aws.sagemaker.batchjob")
local common = require("fake.aws.sagemaker.common")
local json = require("smop.json")

local M = {}

local jobs = batchjob.new({
  kind = "transform_jobs",
  resource = "transform-job",
  noun = "transform job",
  duration = "transform",
  startup = "transform_startup",
  log_group = "/aws/sagemaker/TransformJobs",
  instances = function(input) return input.TransformResources.InstanceCount end,
  stream = function(r, i)
    return r.name .. "/i-" .. common.hex64(r.arn .. "/" .. i):sub(1, 17) .. "-" .. math.floor(r.created)
  end,
  lines = function(r)
    local source = r.input.TransformInput.DataSource.S3DataSource
    return {
      started = "Model server started; transforming " .. (source and source.S3Uri or "the input"),
      completed = "Transform job completed; output in " .. r.input.TransformOutput.S3OutputPath,
    }
  end,
})
M.jobs = jobs

local ECHOED = { "ModelName", "MaxConcurrentTransforms", "ModelClientConfig", "MaxPayloadInMB",
  "BatchStrategy", "Environment", "TransformInput", "TransformOutput", "DataCaptureConfig",
  "TransformResources", "DataProcessing", "ExperimentConfig" }

local function describe(r)
  local out = {
    TransformJobName = r.name,
    TransformJobArn = r.arn,
    TransformJobStatus = r.status,
    FailureReason = r.failure_reason,
    CreationTime = r.created,
    TransformStartTime = r.started,
    TransformEndTime = r.ended,
  }
  for _, name in ipairs(ECHOED) do out[name] = r.input[name] end
  return common.copy(out)
end

local function summary(r)
  return {
    TransformJobName = r.name,
    TransformJobArn = r.arn,
    CreationTime = r.created,
    TransformEndTime = r.ended,
    LastModifiedTime = r.modified,
    TransformJobStatus = r.status,
    FailureReason = r.failure_reason,
  }
end

local function lookup(ctx, name)
  local r = jobs.find(ctx, name)
  return r and jobs.refresh(ctx, r)
end

local SORT_KEYS = { Name = "name", CreationTime = "created", Status = "status" }
local FILTER_FIELDS = { name = "name", created = "created", modified = "modified", status = "status" }

M.operations = {
  CreateTransformJob = function(ctx, input)
    local existing = jobs.find(ctx, input.TransformJobName)
    if existing then
      return nil, ctx.error("ResourceInUse", "Job name must be unique within an AWS account and " ..
        "region, and a job with this name already exists (" .. existing.arn .. ")")
    end
    if not common.store(ctx, "models")[common.key(input.ModelName)] then
      return nil, ctx.error("ValidationException",
        string.format('Could not find model "%s".', ctx.arn("model", input.ModelName)))
    end
    return { TransformJobArn = jobs.create(ctx, input.TransformJobName, input).arn }
  end,

  DescribeTransformJob = function(ctx, input)
    local r = lookup(ctx, input.TransformJobName)
    if not r then
      return nil, ctx.error("ValidationException",
        "Could not find requested job with name " .. input.TransformJobName)
    end
    return describe(r)
  end,

  StopTransformJob = function(ctx, input)
    local r = lookup(ctx, input.TransformJobName)
    if not r then
      return nil, ctx.error("ValidationException",
        "Could not find job to update with name " .. input.TransformJobName)
    end
    local ok, err = jobs.stop(ctx, r)
    if not ok then return nil, err end
    return {}
  end,

  ListTransformJobs = function(ctx, input)
    local list = common.filter(jobs.refresh_all(ctx), input, FILTER_FIELDS)
    common.sort(list, common.opt(input.SortBy) or "CreationTime", common.opt(input.SortOrder) or "Descending",
      SORT_KEYS, "name")
    local page, next_token = common.page(ctx, list, input)
    if not page then return nil, next_token end
    local summaries = json.array({})
    for i, r in ipairs(page) do summaries[i] = summary(r) end
    return { TransformJobSummaries = summaries, NextToken = next_token }
  end,
}

return M
