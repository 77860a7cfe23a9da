-- HyperparameterTuningJob (sagemaker.aws.amazon.com/v1) -> a SageMaker
-- hyperparameter tuning job. The contract this module keeps is "Kind
-- scripts" in lua/README.md; what every job kind shares (create once,
-- describe, stop on delete, a spec that cannot change) is kinds.lib.job.
--
-- Its own: the training-job counters and the best training job in the
-- status, and the training jobs the tuner launches, each mirrored as a
-- TrainingJob object in the same namespace (ctx.children: owned by this
-- object, so the garbage collector takes them with it). Such a TrainingJob
-- is named after its SageMaker job and labelled job.TUNING_JOB_LABEL, which
-- tells the TrainingJob kind to mirror the job, never create it. On delete
-- the tuning job is stopped first (SageMaker stops its training jobs), then
-- the objects are deleted; the finalizer goes once they are gone.
--
-- No change detection (operator.sweep): a tuning job's LastModifiedTime
-- tells when its status changed, not its counters or its best job, so a
-- running tuning job is described every poll interval. Its training jobs'
-- objects are TrainingJobs, swept like any other.
local convert = require("operator.convert")
local job = require("kinds.lib.job")

local MAX_PAGES = 100 -- of ListTrainingJobsForHyperParameterTuningJob, 100 jobs each

-- A float as the shortest text that reads back the same (the CRD keeps the
-- objective's value as a string).
local function number_text(x)
  if type(x) ~= "number" then return nil end
  if math.type(x) == "integer" then return tostring(x) end
  for digits = 15, 17 do
    local text = string.format("%." .. digits .. "g", x)
    if tonumber(text) == x then return text end
  end
  return string.format("%.17g", x)
end

local function counters_of(c)
  if type(c) ~= "table" then return nil end
  local retryable, non_retryable = c.RetryableError or 0, c.NonRetryableError or 0
  return {
    completed = c.Completed or 0,
    inProgress = c.InProgress or 0,
    retryableError = retryable,
    nonRetryableError = non_retryable,
    stopped = c.Stopped or 0,
    totalError = retryable + non_retryable,
  }
end

-- Training jobs the tuner has launched so far.
local function launched(c)
  if type(c) ~= "table" then return 0 end
  return (c.Completed or 0) + (c.InProgress or 0) + (c.RetryableError or 0)
    + (c.NonRetryableError or 0) + (c.Stopped or 0)
end

-- DescribeHyperParameterTuningJob's BestTrainingJob -> the status field (the
-- fields the CRD lists, times in RFC 3339).
local function best_of(b)
  if type(b) ~= "table" then return nil end
  local metric = b.FinalHyperParameterTuningJobObjectiveMetric
  return {
    trainingJobName = b.TrainingJobName,
    trainingJobArn = b.TrainingJobArn,
    trainingJobDefinitionName = b.TrainingJobDefinitionName,
    tuningJobName = b.TuningJobName,
    trainingJobStatus = b.TrainingJobStatus,
    objectiveStatus = b.ObjectiveStatus,
    failureReason = b.FailureReason,
    creationTime = convert.time(b.CreationTime),
    trainingStartTime = convert.time(b.TrainingStartTime),
    trainingEndTime = convert.time(b.TrainingEndTime),
    tunedHyperParameters = b.TunedHyperParameters and convert.name_values(b.TunedHyperParameters),
    finalHyperParameterTuningJobObjectiveMetric = type(metric) == "table" and {
      metricName = metric.MetricName, type = metric.Type, value = number_text(metric.Value),
    } or nil,
  }
end

-- The TrainingJob object mirroring one training job (desc: its
-- DescribeTrainingJob): the spec it was created with, in this region and
-- at this endpoint, under its own SageMaker name.
local function child_of(desc, obj, ctx, tuning_name)
  local spec = ctx.from_api("sagemaker", "CreateTrainingJob", desc)
  spec.region = obj.spec.region
  spec.sageMakerEndpoint = obj.spec.sageMakerEndpoint
  return {
    -- Kubernetes names are lower case; SageMaker's need not be
    metadata = { name = desc.TrainingJobName:lower(), labels = { [job.TUNING_JOB_LABEL] = tuning_name } },
    spec = spec,
  }
end

-- Makes the TrainingJob objects the tuner's training jobs still lack. Only
-- when it has launched more than there are objects does it ask SageMaker
-- which, and it describes only the new ones. Returns true, or nil, err.
local function mirror_training_jobs(desc, obj, ctx, name)
  local count = launched(desc.TrainingJobStatusCounters)
  if count == 0 then return true end
  local kids = ctx.children("trainingjobs")
  local have, err = kids:list()
  if not have then return nil, err end
  if #have >= count then return true end
  local mirrored = {}
  for _, k in ipairs(have) do mirrored[(k.spec or {}).trainingJobName or k.metadata.name] = true end
  local sm = ctx.aws("sagemaker")
  local token
  for _ = 1, MAX_PAGES do
    local page, lerr = sm:call("ListTrainingJobsForHyperParameterTuningJob",
      { HyperParameterTuningJobName = name, MaxResults = 100, NextToken = token })
    if not page then return nil, lerr end
    for _, summary in ipairs(page.TrainingJobSummaries or {}) do
      local tj = summary.TrainingJobName
      if not mirrored[tj] then
        local d, derr = sm:call("DescribeTrainingJob", { TrainingJobName = tj })
        if not d then return nil, derr end
        local child = child_of(d, obj, ctx, name)
        local _, cerr = kids:create(child)
        if not cerr then
          ctx.event("Normal", "CreatedTrainingJob", string.format(
            "Created TrainingJob %s for SageMaker training job %s", child.metadata.name, tj))
        elseif type(cerr) == "table" and cerr.code == 409 then
          -- an object of that name that is not ours (ours would have been listed)
          ctx.event("Warning", "TrainingJobNameTaken", string.format("TrainingJob %s exists and is not "
            .. "owned by this tuning job; SageMaker training job %s is not mirrored",
            child.metadata.name, tj))
        else
          return nil, cerr
        end
        mirrored[tj] = true
      end
    end
    token = page.NextToken
    if not token then return true end
  end
  return true
end

return job.new({
  kind = "HyperparameterTuningJob",
  plural = "hyperparametertuningjobs",
  status_field = "hyperParameterTuningJobStatus",
  noun = "hyperparameter tuning job",
  name_status = "sageMakerHyperParameterTuningJobName",
  name_spec = "hyperParameterTuningJobName",
  max_len = 32,
  api = { create = "CreateHyperParameterTuningJob", describe = "DescribeHyperParameterTuningJob",
    stop = "StopHyperParameterTuningJob", name = "HyperParameterTuningJobName",
    status = "HyperParameterTuningJobStatus" },
  status_from = function(desc)
    return {
      trainingJobStatusCounters = counters_of(desc.TrainingJobStatusCounters),
      bestTrainingJob = best_of(desc.BestTrainingJob),
    }
  end,
  -- The mirror is not the tuning job: when it fails, the status keeps
  -- SageMaker's word, `additional` says what failed, and a later sync (even
  -- of an ended tuning job) tries again.
  after_describe = function(desc, obj, ctx, status, name)
    local ok, err = mirror_training_jobs(desc, obj, ctx, name)
    if ok then return status end
    local message = "cannot mirror the tuner's training jobs as TrainingJob objects: " .. tostring(err)
    ctx.event("Warning", "TrainingJobsNotMirrored", message)
    status.additional = job.join(status.additional, message)
    return status, ctx.poll_interval
  end,
  -- The tuning job is over (stopped, or it never existed): its training
  -- jobs' objects go, and the finalizer once they are gone.
  after_finalize = function(_, ctx, status)
    local kids = ctx.children("trainingjobs")
    local have, err = kids:list()
    if not have then return nil, err end
    if #have == 0 then return true end
    local deleting = 0
    for _, k in ipairs(have) do
      if not k.metadata.deletionTimestamp then
        local ok, derr = kids:delete(k.metadata.name)
        if not ok then return nil, derr end
        deleting = deleting + 1
      end
    end
    if deleting > 0 then
      ctx.event("Normal", "DeletingTrainingJobs", string.format(
        "Deleting the TrainingJob objects of the tuner's training jobs (%d)", deleting))
    end
    return false, status, ctx.poll_interval
  end,
})
