-- SageMaker training jobs: CreateTrainingJob, DescribeTrainingJob,
-- StopTrainingJob, ListTrainingJobs; the job store the tuning family
-- launches its training jobs into; log streams in /aws/sagemaker/TrainingJobs.
--
-- Lifecycle (durations in common.lua):
--   InProgress: Starting -> Downloading -> Training -> Uploading -> Completed
--   a failure injected for the job (ctx.failure_for, or for its tuning job)
--     hits during Training: Failed, with that FailureReason
--   StopTrainingJob while InProgress: Stopping -> Stopped
--   StoppingCondition.MaxRuntimeInSeconds, counted from TrainingStartTime
--     (the start of Downloading): Stopped / MaxRuntimeExceeded
--
-- Debugger rules (DebugRuleConfigurations) each run as a processing job of
-- their own beside the training job, as in SageMaker, and show in
-- DebugRuleEvaluationStatuses: InProgress from the create (with the rule
-- job's ARN once the training job started), then, `debug_rule_evaluation`
-- s after the training job ended, NoIssuesFound, or IssuesFound when a
-- failure is injected for "<job name>/<RuleConfigurationName>" (its reason
-- is the StatusDetails). StopTrainingJob stops the rules with the job:
-- Stopping, then Stopped. The rule jobs are not listed as processing jobs.
local common = require("fake.aws.sagemaker.common")
local json = require("smop.json")

local M = {}

local D = common.durations
local KIND = "training_jobs"
M.KIND = KIND
M.LOG_GROUP = "/aws/sagemaker/TrainingJobs"

-- The InProgress phases, in order. Messages are SageMaker's own; lines are
-- what the job writes to its log stream, at a fraction of the phase.
local PHASES = {
  { status = "Starting", key = "training_starting",
    message = "Preparing the instances for training",
    lines = function()
      return { { 0, "Starting the training job" }, { 0.5, "Launching requested ML instances" } }
    end },
  { status = "Downloading", key = "training_downloading",
    message = "Downloading input data",
    lines = function(r)
      local lines = { { 0, "Downloading input data" } }
      for _, channel in ipairs(r.input.InputDataConfig or {}) do
        local s3 = channel.DataSource and channel.DataSource.S3DataSource
        local from = s3 and (" from " .. s3.S3Uri) or ""
        lines[#lines + 1] = { 0.5, "Downloaded channel '" .. channel.ChannelName .. "'" .. from }
      end
      return lines
    end },
  { status = "Training", key = "training_training",
    message = "Training image download completed. Training in progress.",
    lines = function(r)
      local lines = { { 0, "Training image download completed. Training in progress." } }
      for epoch = 1, 4 do
        local loss = 1 / (epoch + 1) + common.fraction(r.name .. "/loss/" .. epoch) / 10
        lines[#lines + 1] = { epoch / 5, string.format("[%d]#011train-loss:%.5f", epoch - 1, loss) }
      end
      return lines
    end },
  { status = "Uploading", key = "training_uploading",
    message = "Uploading generated training model",
    lines = function(r)
      return { { 0, "Uploading generated training model to " .. M.model_path(r) } }
    end },
}

local PHASE_BY_STATUS = {}
for i, p in ipairs(PHASES) do PHASE_BY_STATUS[p.status] = i end

-- Secondary statuses after InProgress: {primary status, message, log line}.
local ENDINGS = {
  Completed = { "Completed", "Training job completed", "Training job completed" },
  Failed = { "Failed", "Training job failed", "Training job failed: %s" },
  Stopping = { "Stopping", "Stopping the training job", "Stopping the training job" },
  Stopped = { "Stopped", "Training job stopped", "Training job stopped" },
  MaxRuntimeExceeded = { "Stopped", "Training job stopped: it exceeded MaxRuntimeInSeconds",
    "Training job stopped: it exceeded MaxRuntimeInSeconds" },
}

local TERMINAL = { Completed = true, Failed = true, Stopped = true }
M.TERMINAL = TERMINAL

function M.model_path(r)
  local base = r.input.OutputDataConfig.S3OutputPath:gsub("/+$", "")
  return base .. "/" .. r.name .. "/output/model.tar.gz"
end

-- ---- logs ----

-- Log lines of the record's current secondary status: {offset s, text}.
local function segment_lines(r)
  local i = PHASE_BY_STATUS[r.secondary]
  if i then
    local p = PHASES[i]
    local out = {}
    for _, line in ipairs(p.lines(r)) do out[#out + 1] = { line[1] * D[p.key], line[2] } end
    return out
  end
  local ending = ENDINGS[r.secondary]
  return { { 0, ending[3]:format(r.failure_reason or "") } }
end

-- How many instances the job runs on (each writes its own log stream).
local function instance_count(input)
  local rc = type(input.ResourceConfig) == "table" and input.ResourceConfig or {}
  local n = tonumber(rc.InstanceCount)
  if not n and type(rc.InstanceGroups) == "table" then
    n = 0
    for _, g in ipairs(rc.InstanceGroups) do n = n + (tonumber(g.InstanceCount) or 0) end
  end
  return math.max(1, math.floor(n or 1))
end

-- Writes the current segment's lines due by instant upto, once each, to
-- every instance's stream (<job>/algo-<i>-<epoch>, as SageMaker names them;
-- r.stream is instance 1's).
local function emit_logs(ctx, r, upto)
  local lines = segment_lines(r)
  local n = instance_count(r.input)
  for i = r.log_next, #lines do
    local at = r.phase_start + lines[i][1]
    if at > upto then break end
    for k = 1, n do
      ctx.log(M.LOG_GROUP, (r.stream:gsub("/algo%-1%-", "/algo-" .. k .. "-", 1)), lines[i][2], at)
    end
    r.log_next = i + 1
  end
end

-- ---- Debugger rules ----

local function transition_start(r, status)
  for _, t in ipairs(r.transitions) do
    if t.Status == status then return t.StartTime end
  end
  return nil
end

-- The rule's processing job: SageMaker names it after a prefix of the
-- training job, the rule (lower case) and a random suffix.
local function rule_job_arn(ctx, r, rule)
  local rule_part = rule.RuleConfigurationName:lower():gsub("[^%w]", "-"):sub(1, 27)
  return ctx.arn("processing-job", string.format("%s-%s-%s", r.name:sub(1, 25), rule_part,
    common.hex8(r.arn .. "/" .. rule.RuleConfigurationName)))
end

local function set_rule(rule, status, at, details)
  rule.RuleEvaluationStatus = status
  rule.LastModifiedTime = at
  rule.StatusDetails = details
end

-- Applies every rule transition due by ctx.now(); r is already refreshed.
local function refresh_rules(ctx, r)
  if not r.rules then return end
  local now = ctx.now()
  for _, rule in ipairs(r.rules) do
    local state = rule.RuleEvaluationStatus
    if state == "InProgress" and not rule.RuleEvaluationJobArn and r.training_start then
      rule.RuleEvaluationJobArn = rule_job_arn(ctx, r, rule)
      rule.LastModifiedTime = r.training_start
    end
    if r.secondary == "Stopping" or r.secondary == "Stopped" then
      if state == "InProgress" then set_rule(rule, "Stopping", transition_start(r, "Stopping")) end
      if r.secondary == "Stopped" and rule.RuleEvaluationStatus == "Stopping" then
        set_rule(rule, "Stopped", r.training_end)
      end
    elseif TERMINAL[r.status] and state == "InProgress" then
      local done_at = r.training_end + D.debug_rule_evaluation
      if done_at <= now then
        local issues = ctx.failure_for(r.name .. "/" .. rule.RuleConfigurationName)
        if issues then
          set_rule(rule, "IssuesFound", done_at, common.reason(issues))
        else
          set_rule(rule, "NoIssuesFound", done_at)
        end
      end
    end
  end
end

-- ---- lifecycle ----

-- Moves r to a new secondary status at instant `at`.
local function enter(ctx, r, at, secondary, primary, message)
  emit_logs(ctx, r, at)
  local last = r.transitions[#r.transitions]
  if last and not last.EndTime then last.EndTime = at end
  local entry = common.push(r.transitions, { Status = secondary, StartTime = at, StatusMessage = message })
  r.status = primary
  r.secondary = secondary
  r.phase_start = at
  r.modified = at
  r.log_next = 1
  if secondary == "Downloading" then r.training_start = at end
  if TERMINAL[primary] then
    entry.EndTime = at
    r.training_end = at
  end
  emit_logs(ctx, r, at)
end

local function ending(ctx, r, at, secondary)
  local e = ENDINGS[secondary]
  enter(ctx, r, at, secondary, e[1], e[2])
end

-- Final metrics: the job's MetricDefinitions and, under a tuning job, its
-- objective, each with a value fixed by the job's name.
local function final_metrics(r, at)
  local names, seen = {}, {}
  local function add(name)
    if name and not seen[name] then
      seen[name] = true
      names[#names + 1] = name
    end
  end
  for _, def in ipairs(r.input.AlgorithmSpecification.MetricDefinitions or {}) do add(def.Name) end
  if r.tuning and r.tuning.objective then add(r.tuning.objective.MetricName) end
  if #names == 0 then return nil end
  local list = json.array({})
  for _, name in ipairs(names) do
    local value = math.floor(common.fraction(r.name .. "/metric/" .. name) * 1e6) / 1e6
    list[#list + 1] = { MetricName = name, Value = value, Timestamp = at }
  end
  return list
end

local function injected_failure(ctx, r)
  local reason = ctx.failure_for(r.name)
  if not reason and r.tuning then reason = ctx.failure_for(r.tuning.name) end
  return reason
end

-- The next transition due for r: instant, what. A failure lands no earlier
-- than the last time anyone looked, so an answer already given stays true.
local function next_event(r, reason)
  if r.status == "Stopping" then return r.phase_start + D.stopping, "Stopped" end
  if r.status ~= "InProgress" then return nil end
  local i = PHASE_BY_STATUS[r.secondary]
  local at, what = r.phase_start + D[PHASES[i].key], PHASES[i + 1] and PHASES[i + 1].status or "Completed"
  local max_runtime = r.input.StoppingCondition.MaxRuntimeInSeconds
  if max_runtime and r.training_start and r.secondary ~= "Uploading" then
    local limit = r.training_start + max_runtime
    if limit < at then at, what = limit, "MaxRuntimeExceeded" end
  end
  if r.secondary == "Training" and reason then
    local fail_at = math.max(r.phase_start + D.training_fails_after, r.refreshed)
    if fail_at < at then at, what = fail_at, "Failed" end
  end
  return at, what
end

-- Applies every transition due up to ctx.now(). Returns r.
function M.refresh(ctx, r)
  local now = ctx.now()
  if TERMINAL[r.status] and r.refreshed >= r.modified then
    r.refreshed = math.max(r.refreshed, now)
    refresh_rules(ctx, r)
    return r
  end
  local reason = r.status == "InProgress" and injected_failure(ctx, r) or nil
  while true do
    local at, what = next_event(r, reason)
    if not at or at > now then break end
    if what == "Failed" then
      r.failure_reason = common.reason(reason)
      ending(ctx, r, at, "Failed")
    elseif what == "Completed" then
      r.metrics = final_metrics(r, at)
      ending(ctx, r, at, "Completed")
    elseif ENDINGS[what] then
      ending(ctx, r, at, what)
    else
      local p = PHASES[PHASE_BY_STATUS[what]]
      enter(ctx, r, at, p.status, "InProgress", p.message)
    end
  end
  emit_logs(ctx, r, now)
  r.refreshed = math.max(r.refreshed, now)
  refresh_rules(ctx, r)
  if TERMINAL[r.status] then common.set_active(ctx, KIND, r.name, false) end
  return r
end

-- A new job record created at instant `at` (a tuning job launches its
-- training jobs at past instants). tuning: {arn, name, objective,
-- tuned, definition_name} for a job a tuning job launched.
function M.new_record(ctx, input, at, tuning)
  local r = {
    name = input.TrainingJobName,
    arn = ctx.arn("training-job", input.TrainingJobName),
    input = common.copy(input),
    created = at,
    modified = at,
    refreshed = at,
    status = "InProgress",
    secondary = "Starting",
    phase_start = at,
    transitions = json.array({}),
    stream = input.TrainingJobName .. "/algo-1-" .. math.floor(at),
    log_next = 1,
    tuning = tuning,
  }
  r.input.Tags = nil
  local rules = r.input.DebugRuleConfigurations
  if type(rules) == "table" and #rules > 0 then
    r.rules = json.array({})
    for i, rule in ipairs(rules) do
      r.rules[i] = { RuleConfigurationName = rule.RuleConfigurationName,
        RuleEvaluationStatus = "InProgress", LastModifiedTime = at }
    end
  end
  local first = PHASES[1]
  common.push(r.transitions, { Status = first.status, StartTime = at, StatusMessage = first.message })
  emit_logs(ctx, r, at)
  common.store(ctx, KIND)[common.key(r.name)] = r
  common.set_active(ctx, KIND, r.name, true)
  common.add_tags(ctx, r.arn, input.Tags)
  return r
end

function M.find(ctx, name)
  return common.store(ctx, KIND)[common.key(name)]
end

-- Stops r at ctx.now() (refreshed first). Returns true, or nil, error.
function M.stop(ctx, r)
  M.refresh(ctx, r)
  if r.status == "InProgress" then
    ending(ctx, r, ctx.now(), "Stopping")
    return true
  end
  if r.status == "Stopping" then return true end
  return nil, ctx.error("ValidationException",
    "The request was rejected because the training job is in status " .. r.status .. ".")
end

-- The training jobs a tuning job has not launched yet appear only when it
-- is refreshed; the tuning family installs this hook.
M.before_read = function() end

local function not_found(ctx)
  return nil, ctx.error("ValidationException", "Requested resource not found.")
end

local function lookup(ctx, name)
  local r = M.find(ctx, name)
  if not r then
    M.before_read(ctx)
    r = M.find(ctx, name)
  end
  return r and M.refresh(ctx, r)
end

local OPTIONAL_FLAGS = { "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
  "EnableManagedSpotTraining" }
local ECHOED = { "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig",
  "OutputDataConfig", "ResourceConfig", "VpcConfig", "StoppingCondition", "CheckpointConfig",
  "DebugHookConfig", "ExperimentConfig", "DebugRuleConfigurations", "TensorBoardOutputConfig",
  "ProfilerConfig", "ProfilerRuleConfigurations", "Environment", "RetryStrategy" }

-- The DescribeTrainingJob answer for a refreshed record.
local function describe(r)
  local out = {
    TrainingJobName = r.name,
    TrainingJobArn = r.arn,
    TuningJobArn = r.tuning and r.tuning.arn,
    -- Required by the model in every answer; the file exists once Completed.
    ModelArtifacts = { S3ModelArtifacts = M.model_path(r) },
    TrainingJobStatus = r.status,
    SecondaryStatus = r.secondary,
    FailureReason = r.failure_reason,
    CreationTime = r.created,
    TrainingStartTime = r.training_start,
    TrainingEndTime = r.training_end,
    LastModifiedTime = r.modified,
    SecondaryStatusTransitions = r.transitions,
    FinalMetricDataList = r.metrics,
    DebugRuleEvaluationStatuses = r.rules,
  }
  for _, name in ipairs(ECHOED) do out[name] = r.input[name] end
  for _, name in ipairs(OPTIONAL_FLAGS) do out[name] = r.input[name] == true end
  if r.training_start and r.training_end then
    local seconds = math.max(1, math.ceil(r.training_end - r.training_start))
    out.TrainingTimeInSeconds = seconds
    out.BillableTimeInSeconds = seconds
  end
  return common.copy(out)
end

local function summary(r)
  return {
    TrainingJobName = r.name,
    TrainingJobArn = r.arn,
    CreationTime = r.created,
    TrainingEndTime = r.training_end,
    LastModifiedTime = r.modified,
    TrainingJobStatus = r.status,
  }
end

-- Brings every job of the region up to now (those of tuning jobs too).
function M.refresh_all(ctx)
  M.before_read(ctx)
  for _, r in ipairs(common.active(ctx, KIND)) do M.refresh(ctx, r) end
end

local SORT_KEYS = { Name = "name", CreationTime = "created", Status = "status" }
local FILTER_FIELDS = { name = "name", created = "created", modified = "modified", status = "status" }

M.operations = {
  CreateTrainingJob = function(ctx, input)
    local existing = M.find(ctx, input.TrainingJobName)
    if existing then
      return nil, ctx.error("ResourceInUse", "Training job names must be unique within an AWS " ..
        "account and region, and a training job with this name already exists (" .. existing.arn .. ")")
    end
    local r = M.new_record(ctx, input, ctx.now())
    return { TrainingJobArn = r.arn }
  end,

  DescribeTrainingJob = function(ctx, input)
    local r = lookup(ctx, input.TrainingJobName)
    if not r then return not_found(ctx) end
    return describe(r)
  end,

  StopTrainingJob = function(ctx, input)
    local r = lookup(ctx, input.TrainingJobName)
    if not r then return not_found(ctx) end
    local ok, err = M.stop(ctx, r)
    if not ok then return nil, err end
    return {}
  end,

  ListTrainingJobs = function(ctx, input)
    M.refresh_all(ctx)
    local list = common.filter(common.all(ctx, KIND), input, FILTER_FIELDS)
    if common.opt(input.WarmPoolStatusEquals) then list = {} end -- no warm pools here
    common.sort(list, common.opt(input.SortBy) or "CreationTime", common.opt(input.SortOrder) or "Ascending",
      SORT_KEYS, "name")
    local page, next_token = common.page(ctx, list, input)
    if not page then return nil, next_token end
    local summaries = json.array({})
    for i, r in ipairs(page) do summaries[i] = summary(r) end
    return { TrainingJobSummaries = summaries, NextToken = next_token }
  end,
}

return M
