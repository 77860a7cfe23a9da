-- SageMaker processing jobs: CreateProcessingJob, DescribeProcessingJob,
-- StopProcessingJob, ListProcessingJobs. Lifecycle in batchjob.lua; logs in
-- /aws/sagemaker/ProcessingJobs, one stream per instance: <job>/algo-<i>-<epoch>.
local batchjob = require("fake.aws.sagemaker.batchjob")
local common = require("fake.aws.sagemaker.common")
local json = require("smop.json")

local M = {}

local jobs = batchjob.new({
  kind = "processing_jobs",
  resource = "processing-job",
  noun = "processing job",
  duration = "processing",
  startup = "processing_startup",
  log_group = "/aws/sagemaker/ProcessingJobs",
  instances = function(input) return input.ProcessingResources.ClusterConfig.InstanceCount end,
  stream = function(r, i)
    return r.name .. "/algo-" .. i .. "-" .. math.floor(r.created)
  end,
  lines = function(r)
    return {
      started = "Processing job started: " .. r.input.AppSpecification.ImageUri,
      completed = "Processing job completed",
    }
  end,
})
M.jobs = jobs

local ECHOED = { "ProcessingInputs", "ProcessingOutputConfig", "ProcessingResources",
  "StoppingCondition", "AppSpecification", "Environment", "NetworkConfig", "RoleArn",
  "ExperimentConfig" }

local function describe(r)
  local out = {
    ProcessingJobName = r.name,
    ProcessingJobArn = r.arn,
    ProcessingJobStatus = r.status,
    FailureReason = r.failure_reason,
    CreationTime = r.created,
    ProcessingStartTime = r.started,
    ProcessingEndTime = r.ended,
    LastModifiedTime = r.modified,
  }
  for _, name in ipairs(ECHOED) do out[name] = r.input[name] end
  return common.copy(out)
end

local function summary(r)
  return {
    ProcessingJobName = r.name,
    ProcessingJobArn = r.arn,
    CreationTime = r.created,
    ProcessingEndTime = r.ended,
    LastModifiedTime = r.modified,
    ProcessingJobStatus = r.status,
    FailureReason = r.failure_reason,
  }
end

local function not_found(ctx, name)
  return nil, ctx.error("ValidationException", "Could not find requested job with name " .. name)
end

local function lookup(ctx, name)
  local r = jobs.find(ctx, name)
  return r and jobs.refresh(ctx, r)
end

local SORT_KEYS = { Name = "name", CreationTime = "created", Status = "status" }
local FILTER_FIELDS = { name = "name", created = "created", modified = "modified", status = "status" }

M.operations = {
  CreateProcessingJob = function(ctx, input)
    local existing = jobs.find(ctx, input.ProcessingJobName)
    if existing then
      return nil, ctx.error("ResourceInUse", "Job name must be unique within an AWS account and " ..
        "region, and a job with this name already exists (" .. existing.arn .. ")")
    end
    return { ProcessingJobArn = jobs.create(ctx, input.ProcessingJobName, input).arn }
  end,

  DescribeProcessingJob = function(ctx, input)
    local r = lookup(ctx, input.ProcessingJobName)
    if not r then return not_found(ctx, input.ProcessingJobName) end
    return describe(r)
  end,

  StopProcessingJob = function(ctx, input)
    local r = lookup(ctx, input.ProcessingJobName)
    if not r then return not_found(ctx, input.ProcessingJobName) end
    local ok, err = jobs.stop(ctx, r)
    if not ok then return nil, err end
    return {}
  end,

  ListProcessingJobs = function(ctx, input)
    local list = common.filter(jobs.refresh_all(ctx), input, FILTER_FIELDS)
    common.sort(list, common.opt(input.SortBy) or "CreationTime", common.opt(input.SortOrder) or "Ascending",
      SORT_KEYS, "name")
    local page, next_token = common.page(ctx, list, input)
    if not page then return nil, next_token end
    local summaries = json.array({})
    for i, r in ipairs(page) do summaries[i] = summary(r) end
    return { ProcessingJobSummaries = summaries, NextToken = next_token }
  end,
}

return M
