-- SageMaker hyperparameter tuning jobs: CreateHyperParameterTuningJob,
-- DescribeHyperParameterTuningJob, StopHyperParameterTuningJob,
-- ListHyperParameterTuningJobs, ListTrainingJobsForHyperParameterTuningJob.
--
-- A tuning job launches real training jobs (training.lua), named
-- <tuning-job>-NNN-<8 hex>: the first min(MaxParallelTrainingJobs,
-- MaxNumberOfTrainingJobs) `tuning_launch` seconds after creation, then one
-- each time a running one ends, until MaxNumberOfTrainingJobs were launched.
-- It is Completed when the last one ends (Failed if none completed);
-- StopHyperParameterTuningJob stops the running ones: Stopping -> Stopped.
-- Hyperparameters are drawn from the ranges by a hash of the job name (so
-- runs repeat); objective values likewise.
local common = require("fake.aws.sagemaker.common")
local json = require("smop.json")
local training = require("fake.aws.sagemaker.training")

local M = {}

local D = common.durations
local KIND = "tuning_jobs"
local TERMINAL = training.TERMINAL -- tuning jobs end in the same three statuses

local function find(ctx, name)
  return common.store(ctx, KIND)[common.key(name)]
end

local function config(t)
  return t.input.HyperParameterTuningJobConfig
end

local function definitions(t)
  if t.input.TrainingJobDefinitions then return t.input.TrainingJobDefinitions end
  return { t.input.TrainingJobDefinition }
end

-- Categorical values of a grid, in the order Grid search walks them.
local function grid_size(ranges)
  local n = 1
  for _, range in ipairs(ranges and ranges.CategoricalParameterRanges or {}) do n = n * #range.Values end
  return n
end

local function max_jobs(input)
  local limits = input.HyperParameterTuningJobConfig.ResourceLimits
  if limits.MaxNumberOfTrainingJobs then return limits.MaxNumberOfTrainingJobs end
  if input.HyperParameterTuningJobConfig.Strategy == "Grid" then
    return grid_size(input.HyperParameterTuningJobConfig.ParameterRanges or
      (input.TrainingJobDefinition or {}).HyperParameterRanges)
  end
  return limits.MaxParallelTrainingJobs
end

-- ---- hyperparameters ----

local function number_text(x, integer)
  if integer then return string.format("%d", x) end
  return string.format("%.10g", x)
end

local function scaled(lo, hi, f, scaling)
  if scaling == "Logarithmic" and lo > 0 then
    return math.exp(math.log(lo) + f * (math.log(hi) - math.log(lo)))
  end
  if scaling == "ReverseLogarithmic" and hi < 1 then
    return 1 - math.exp(math.log(1 - hi) + f * (math.log(1 - lo) - math.log(1 - hi)))
  end
  return lo + f * (hi - lo)
end

-- The tuned hyperparameters of the index-th training job (1-based).
local function draw(t, def, index)
  local ranges = def.HyperParameterRanges or config(t).ParameterRanges or {}
  local tuned = {}
  local seed = t.name .. "/" .. index .. "/"
  for _, range in ipairs(ranges.IntegerParameterRanges or {}) do
    local lo, hi = math.tointeger(tonumber(range.MinValue)), math.tointeger(tonumber(range.MaxValue))
    if lo and hi and hi >= lo then
      local f = common.fraction(seed .. range.Name)
      local x = math.min(hi, math.floor(scaled(lo, hi + 1, f, range.ScalingType)))
      tuned[range.Name] = number_text(x, true)
    else
      tuned[range.Name] = range.MinValue
    end
  end
  for _, range in ipairs(ranges.ContinuousParameterRanges or {}) do
    local lo, hi = tonumber(range.MinValue), tonumber(range.MaxValue)
    if lo and hi and hi >= lo then
      tuned[range.Name] = number_text(scaled(lo, hi, common.fraction(seed .. range.Name), range.ScalingType))
    else
      tuned[range.Name] = range.MinValue
    end
  end
  local grid = config(t).Strategy == "Grid"
  local rest = index - 1 -- the mixed-radix digits of a grid position
  for _, range in ipairs(ranges.CategoricalParameterRanges or {}) do
    local n = #range.Values
    local pick
    if grid then
      pick = rest % n + 1
      rest = rest // n
    else
      pick = math.floor(common.fraction(seed .. range.Name) * n) + 1
    end
    tuned[range.Name] = range.Values[pick]
  end
  return tuned
end

-- ---- launching ----

local function objective_of(t, def)
  return def.TuningObjective or config(t).HyperParameterTuningJobObjective
end

local function launch(ctx, t, at)
  local index = t.launched + 1
  local defs = definitions(t)
  local def = defs[(index - 1) % #defs + 1]
  local tuned = draw(t, def, index)
  local objective = common.copy(objective_of(t, def))
  local hyperparameters = common.copy(def.StaticHyperParameters or {})
  for k, v in pairs(tuned) do hyperparameters[k] = v end
  if objective then hyperparameters._tuning_objective_metric = objective.MetricName end
  local resources = def.ResourceConfig
  if not resources then
    local hp = def.HyperParameterTuningResourceConfig or {}
    resources = { InstanceType = hp.InstanceType or "ml.m5.large", InstanceCount = hp.InstanceCount or 1,
      VolumeSizeInGB = hp.VolumeSizeInGB or 30, VolumeKmsKeyId = hp.VolumeKmsKeyId }
  end
  local name = string.format("%s-%03d-%s", t.name, index, common.hex8(t.name .. "#" .. index))
  training.new_record(ctx, {
    TrainingJobName = name,
    HyperParameters = hyperparameters,
    AlgorithmSpecification = def.AlgorithmSpecification,
    RoleArn = def.RoleArn,
    InputDataConfig = def.InputDataConfig,
    VpcConfig = def.VpcConfig,
    OutputDataConfig = def.OutputDataConfig,
    ResourceConfig = resources,
    StoppingCondition = def.StoppingCondition,
    EnableNetworkIsolation = def.EnableNetworkIsolation,
    EnableInterContainerTrafficEncryption = def.EnableInterContainerTrafficEncryption,
    EnableManagedSpotTraining = def.EnableManagedSpotTraining,
    CheckpointConfig = def.CheckpointConfig,
    RetryStrategy = def.RetryStrategy,
    Tags = common.copy(common.tags_of(ctx, t.arn)), -- a tuning job's tags go to its training jobs
  }, at, {
    arn = t.arn,
    name = t.name,
    objective = objective,
    tuned = tuned,
    definition_name = def.DefinitionName,
  })
  t.launched = index
  common.push(t.children, { key = common.key(name), freed = false })
  t.modified = at
end

local function child(ctx, entry)
  return common.store(ctx, training.KIND)[entry.key]
end

-- Applies everything due up to ctx.now(): launches, the children's own
-- lifecycles, the end. One freed slot at a time, earliest first, so jobs
-- are numbered in the order they started.
function M.refresh(ctx, t)
  if TERMINAL[t.status] then return t end
  local now = ctx.now()
  if t.launched == 0 and t.status == "InProgress" then
    local first = t.created + D.tuning_launch
    if first > now then return t end
    for _ = 1, math.min(config(t).ResourceLimits.MaxParallelTrainingJobs, t.max_jobs) do
      launch(ctx, t, first)
    end
  end
  while true do
    local earliest, earliest_end
    for _, entry in ipairs(t.children) do
      if not entry.freed then
        local r = training.refresh(ctx, child(ctx, entry))
        if TERMINAL[r.status] and (not earliest_end or r.training_end < earliest_end) then
          earliest, earliest_end = entry, r.training_end
        end
      end
    end
    if not earliest then break end
    earliest.freed = true
    t.modified = math.max(t.modified, earliest_end)
    if t.status == "InProgress" and t.launched < t.max_jobs then launch(ctx, t, earliest_end) end
  end
  local running = false
  local last_end = t.stop_at or t.created
  local completed = 0
  for _, entry in ipairs(t.children) do
    local r = child(ctx, entry)
    if not TERMINAL[r.status] then running = true end
    if r.training_end and r.training_end > last_end then last_end = r.training_end end
    if r.status == "Completed" then completed = completed + 1 end
  end
  if running then return t end
  if t.status == "Stopping" then
    t.status = "Stopped"
  elseif t.launched >= t.max_jobs then
    if completed > 0 then
      t.status = "Completed"
    else
      t.status = "Failed"
      t.failure_reason = common.reason(ctx.failure_for(t.name) or
        "All training jobs failed. Check the FailureReason of each training job.")
    end
  else
    return t
  end
  t.ended = last_end
  t.modified = last_end
  common.set_active(ctx, KIND, t.name, false)
  return t
end

-- Refreshes every tuning job of the region (launching what is due).
function M.sync(ctx)
  for _, t in ipairs(common.active(ctx, KIND)) do M.refresh(ctx, t) end
end
training.before_read = M.sync

-- ---- answers ----

local function objective_value(r)
  if not (r.tuning and r.tuning.objective) then return nil end
  for _, metric in ipairs(r.metrics or {}) do
    if metric.MetricName == r.tuning.objective.MetricName then return metric.Value end
  end
  return nil
end

local function objective_status(r)
  if r.status == "Completed" and objective_value(r) then return "Succeeded" end
  if r.status == "InProgress" or r.status == "Stopping" then return "Pending" end
  return "Failed"
end

-- A failure SageMaker may retry (its own fault) or not (the job's).
local function retryable(reason)
  return reason and reason:match("^InternalServerError") ~= nil
end

local function children(ctx, t)
  local list = {}
  for _, entry in ipairs(t.children) do list[#list + 1] = child(ctx, entry) end
  return list
end

local function counters(ctx, t)
  local jobs = { Completed = 0, InProgress = 0, RetryableError = 0, NonRetryableError = 0, Stopped = 0 }
  local objective = { Succeeded = 0, Pending = 0, Failed = 0 }
  for _, r in ipairs(children(ctx, t)) do
    if r.status == "Failed" then
      local k = retryable(r.failure_reason) and "RetryableError" or "NonRetryableError"
      jobs[k] = jobs[k] + 1
    elseif r.status == "Stopping" then
      jobs.InProgress = jobs.InProgress + 1
    else
      jobs[r.status] = jobs[r.status] + 1
    end
    local o = objective_status(r)
    objective[o] = objective[o] + 1
  end
  return jobs, objective
end

local function training_summary(r)
  local value = objective_value(r)
  local final
  if value then
    final = { Type = r.tuning.objective.Type, MetricName = r.tuning.objective.MetricName, Value = value }
  end
  return common.copy({
    TrainingJobDefinitionName = r.tuning.definition_name,
    TrainingJobName = r.name,
    TrainingJobArn = r.arn,
    TuningJobName = r.tuning.name,
    CreationTime = r.created,
    TrainingStartTime = r.training_start,
    TrainingEndTime = r.training_end,
    TrainingJobStatus = r.status,
    TunedHyperParameters = json.object(common.copy(r.tuning.tuned)),
    FailureReason = r.failure_reason,
    FinalHyperParameterTuningJobObjectiveMetric = final,
    ObjectiveStatus = objective_status(r),
  })
end

local function best(ctx, t)
  local best_r, best_v
  for _, r in ipairs(children(ctx, t)) do
    local v = r.status == "Completed" and objective_value(r)
    if v then
      local maximize = r.tuning.objective.Type == "Maximize"
      if not best_v or (maximize and v > best_v) or (not maximize and v < best_v) then
        best_r, best_v = r, v
      end
    end
  end
  return best_r and training_summary(best_r)
end

local function describe(ctx, t)
  local jobs, objective = counters(ctx, t)
  return common.copy({
    HyperParameterTuningJobName = t.name,
    HyperParameterTuningJobArn = t.arn,
    HyperParameterTuningJobConfig = t.input.HyperParameterTuningJobConfig,
    TrainingJobDefinition = t.input.TrainingJobDefinition,
    TrainingJobDefinitions = t.input.TrainingJobDefinitions,
    HyperParameterTuningJobStatus = t.status,
    CreationTime = t.created,
    HyperParameterTuningEndTime = t.ended,
    LastModifiedTime = t.modified,
    TrainingJobStatusCounters = jobs,
    ObjectiveStatusCounters = objective,
    BestTrainingJob = best(ctx, t),
    WarmStartConfig = t.input.WarmStartConfig,
    FailureReason = t.failure_reason,
  })
end

local function summary(ctx, t)
  local jobs, objective = counters(ctx, t)
  return common.copy({
    HyperParameterTuningJobName = t.name,
    HyperParameterTuningJobArn = t.arn,
    HyperParameterTuningJobStatus = t.status,
    Strategy = config(t).Strategy,
    CreationTime = t.created,
    HyperParameterTuningEndTime = t.ended,
    LastModifiedTime = t.modified,
    TrainingJobStatusCounters = jobs,
    ObjectiveStatusCounters = objective,
    ResourceLimits = config(t).ResourceLimits,
  })
end

local function not_found(ctx, name)
  return nil, ctx.error("ResourceNotFound",
    "Amazon SageMaker can't find a tuning job called " .. name .. ". Type another name.")
end

local function lookup(ctx, name)
  local t = find(ctx, name)
  return t and M.refresh(ctx, t)
end

local SORT_KEYS = { Name = "name", CreationTime = "created", Status = "status" }
local FILTER_FIELDS = { name = "name", created = "created", modified = "modified", status = "status" }
local CHILD_SORT_KEYS = { Name = "name", CreationTime = "created", Status = "status",
  FinalObjectiveMetricValue = "objective" }

M.operations = {
  CreateHyperParameterTuningJob = function(ctx, input)
    local name = input.HyperParameterTuningJobName
    if find(ctx, name) then
      return nil, ctx.error("ResourceInUse", "A hyperparameter tuning job with the name, " .. name ..
        ", already exists. Choose a different name.")
    end
    local defs = common.opt(input.TrainingJobDefinitions)
    if not common.opt(input.TrainingJobDefinition) and not (defs and #defs > 0) then
      return nil, ctx.error("ValidationException",
        "Either TrainingJobDefinition or TrainingJobDefinitions must be provided.")
    end
    for _, def in ipairs(defs or { input.TrainingJobDefinition }) do
      if not common.opt(def.ResourceConfig) and not common.opt(def.HyperParameterTuningResourceConfig) then
        return nil, ctx.error("ValidationException",
          "Either ResourceConfig or HyperParameterTuningResourceConfig must be provided.")
      end
    end
    local now = ctx.now()
    local t = {
      name = name,
      arn = ctx.arn("hyper-parameter-tuning-job", name),
      input = common.copy(input),
      created = now,
      modified = now,
      status = "InProgress",
      launched = 0,
      children = json.array({}),
    }
    t.input.Tags = nil
    t.max_jobs = max_jobs(t.input)
    common.store(ctx, KIND)[common.key(name)] = t
    common.set_active(ctx, KIND, name, true)
    common.add_tags(ctx, t.arn, input.Tags)
    return { HyperParameterTuningJobArn = t.arn }
  end,

  DescribeHyperParameterTuningJob = function(ctx, input)
    local t = lookup(ctx, input.HyperParameterTuningJobName)
    if not t then return not_found(ctx, input.HyperParameterTuningJobName) end
    return describe(ctx, t)
  end,

  StopHyperParameterTuningJob = function(ctx, input)
    local t = lookup(ctx, input.HyperParameterTuningJobName)
    if not t then return not_found(ctx, input.HyperParameterTuningJobName) end
    if t.status == "Stopping" then return {} end
    if t.status ~= "InProgress" then
      return nil, ctx.error("ValidationException", "The request was rejected because the " ..
        "hyperparameter tuning job is in status " .. t.status .. ".")
    end
    t.status = "Stopping"
    t.stop_at = ctx.now()
    t.modified = t.stop_at
    for _, r in ipairs(children(ctx, t)) do
      if r.status == "InProgress" then training.stop(ctx, r) end
    end
    M.refresh(ctx, t)
    return {}
  end,

  ListHyperParameterTuningJobs = function(ctx, input)
    M.sync(ctx)
    local list = common.filter(common.all(ctx, KIND), input, FILTER_FIELDS)
    common.sort(list, common.opt(input.SortBy) or "Name", common.opt(input.SortOrder) or "Ascending",
      SORT_KEYS, "name")
    local page, next_token = common.page(ctx, list, input)
    if not page then return nil, next_token end
    local summaries = json.array({})
    for i, t in ipairs(page) do summaries[i] = summary(ctx, t) end
    return { HyperParameterTuningJobSummaries = summaries, NextToken = next_token }
  end,

  ListTrainingJobsForHyperParameterTuningJob = function(ctx, input)
    local t = lookup(ctx, input.HyperParameterTuningJobName)
    if not t then return not_found(ctx, input.HyperParameterTuningJobName) end
    local status = common.opt(input.StatusEquals)
    local sort_by = common.opt(input.SortBy) or "Name"
    local rows = {}
    for _, r in ipairs(children(ctx, t)) do
      local row = { record = r, name = r.name, created = r.created, status = r.status,
        objective = objective_value(r) }
      -- Sorted by objective, jobs that reported none are left out (as documented).
      if (not status or r.status == status) and (sort_by ~= "FinalObjectiveMetricValue" or row.objective) then
        rows[#rows + 1] = row
      end
    end
    common.sort(rows, sort_by, common.opt(input.SortOrder) or "Ascending", CHILD_SORT_KEYS, "name")
    local page, next_token = common.page(ctx, rows, input)
    if not page then return nil, next_token end
    local summaries = json.array({})
    for i, row in ipairs(page) do summaries[i] = training_summary(row.record) end
    return { TrainingJobSummaries = summaries, NextToken = next_token }
  end,
}

return M
