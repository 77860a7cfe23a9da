-- TrainingJob (sagemaker.aws.amazon.com/v1) -> a SageMaker training job.
-- The contract this module keeps is "Kind scripts" in lua/README.md; what
-- every job kind shares (create once, describe, stop on delete, a spec that
-- cannot change) is kinds.lib.job.
--
-- Its own: the secondary status, the CloudWatch Logs URL, the model's S3
-- path once the job completed, and the Debugger rules' statuses. Rules go
-- on evaluating after the job ended, so an ended job whose rules are still
-- InProgress or Stopping is polled on, as the old operator did, until they
-- reach their verdict.
local convert = require("operator.convert")
local job = require("kinds.lib.job")
local json = require("smop.json")

-- DescribeTrainingJob's DebugRuleEvaluationStatuses -> the status list
-- (the CRD's field names: the API's lower-camel, but `statusDetail`).
local function rule_statuses(list)
  if type(list) ~= "table" or #list == 0 then return nil end
  local out = json.array({})
  for i, rule in ipairs(list) do
    out[i] = {
      ruleConfigurationName = rule.RuleConfigurationName,
      ruleEvaluationJobArn = rule.RuleEvaluationJobArn,
      ruleEvaluationStatus = rule.RuleEvaluationStatus,
      statusDetail = rule.StatusDetails,
      lastModifiedTime = convert.time(rule.LastModifiedTime),
    }
  end
  return out
end

local RULES_PENDING = { InProgress = true, Stopping = true }

local function log_url(region, name)
  return string.format("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s"
    .. "#logStream:group=/aws/sagemaker/TrainingJobs;prefix=%s;streamFilter=typeLogStreamPrefix",
    region, region, name)
end

return job.new({
  kind = "TrainingJob",
  plural = "trainingjobs",
  status_field = "trainingJobStatus",
  noun = "training job",
  name_status = "sageMakerTrainingJobName",
  name_spec = "trainingJobName",
  max_len = 63,
  api = { create = "CreateTrainingJob", describe = "DescribeTrainingJob", stop = "StopTrainingJob",
    name = "TrainingJobName", status = "TrainingJobStatus",
    list = "ListTrainingJobs", items = "TrainingJobSummaries" },
  status_from = function(desc, obj, name)
    local status = {
      secondaryStatus = desc.SecondaryStatus,
      cloudWatchLogUrl = log_url(obj.spec.region, name),
      debugRuleEvaluationStatuses = rule_statuses(desc.DebugRuleEvaluationStatuses),
    }
    if desc.TrainingJobStatus == "Completed" then
      local artifacts = desc.ModelArtifacts or {}
      status.modelPath = artifacts.S3ModelArtifacts
        or (obj.spec.outputDataConfig.s3OutputPath:gsub("/*$", "/") .. name .. "/output/model.tar.gz")
    end
    return status
  end,
  -- what the next Describe will say: StopTrainingJob stops the rules too
  stopping = function(desc)
    desc.SecondaryStatus = "Stopping"
    for _, rule in ipairs(desc.DebugRuleEvaluationStatuses or {}) do
      if rule.RuleEvaluationStatus == "InProgress" then rule.RuleEvaluationStatus = "Stopping" end
    end
  end,
  -- a tuning job's training job, mirrored by the HyperparameterTuningJob kind
  mirror_only = function(obj) return ((obj.metadata or {}).labels or {})[job.TUNING_JOB_LABEL] ~= nil end,
  -- a running job is looked at anyway; an ended one only for its rules
  after_describe = function(desc, _, ctx, status)
    if not job.TERMINAL[desc.TrainingJobStatus] then return status end
    for _, rule in ipairs(desc.DebugRuleEvaluationStatuses or {}) do
      if RULES_PENDING[rule.RuleEvaluationStatus] then return status, ctx.poll_interval end
    end
    return status
  end,
})
