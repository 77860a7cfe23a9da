-- TrainingJob (sagemaker.aws.amazon.com/v1) -> a SageMaker training job.
-- The contract this module keeps is "Kind scripts" in lua/README.md.
--
-- reconcile: create the job once (the name is deterministic, so a create
-- that meets ResourceInUse means an earlier sync created it and only its
-- status write was lost), then mirror DescribeTrainingJob into the status.
-- finalize: stop the job while it runs; done once it is stopped, finished
-- or was never created.
local M = {
  kind = "TrainingJob",
  plural = "trainingjobs",
  status_field = "trainingJobStatus",
  ready = { Completed = true },
  failed = { Failed = true },
  terminal = { Completed = true, Failed = true, Stopped = true },
}

local function job_name(obj, ctx)
  local status = obj.status or {}
  return status.sageMakerTrainingJobName or obj.spec.trainingJobName or ctx.sagemaker_name(63)
end

local function not_found(err)
  return err.code == "ResourceNotFound"
    or (err.code == "ValidationException" and tostring(err.message):find("not found", 1, true) ~= nil)
end

local function log_url(region, name)
  return string.format("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s"
    .. "#logStream:group=/aws/sagemaker/TrainingJobs;prefix=%s;streamFilter=typeLogStreamPrefix",
    region, region, name)
end

local function status_from(desc, obj, name)
  local status = {
    trainingJobStatus = desc.TrainingJobStatus,
    secondaryStatus = desc.SecondaryStatus,
    additional = desc.FailureReason,
    sageMakerTrainingJobName = name,
    cloudWatchLogUrl = log_url(obj.spec.region, name),
  }
  if desc.TrainingJobStatus == "Completed" then
    local artifacts = desc.ModelArtifacts or {}
    status.modelPath = artifacts.S3ModelArtifacts
      or (obj.spec.outputDataConfig.s3OutputPath:gsub("/*$", "/") .. name .. "/output/model.tar.gz")
  end
  return status
end

function M.reconcile(obj, ctx)
  local sm = ctx.aws("sagemaker")
  local name = job_name(obj, ctx)
  if not (obj.status or {}).sageMakerTrainingJobName then
    local req = ctx.to_api("sagemaker", "CreateTrainingJob", obj.spec)
    req.TrainingJobName = name
    local _, err = sm:call("CreateTrainingJob", req)
    if not err then
      ctx.event("Normal", "Created", "Created SageMaker training job " .. name)
    elseif err.code ~= "ResourceInUse" then
      return nil, err
    end
  end
  local desc, err = sm:call("DescribeTrainingJob", { TrainingJobName = name })
  if not desc then
    if not_found(err) then
      return nil, "SageMaker training job " .. name
        .. " no longer exists; delete this object and apply it again"
    end
    return nil, err
  end
  return status_from(desc, obj, name)
end

function M.finalize(obj, ctx)
  local sm = ctx.aws("sagemaker")
  local name = job_name(obj, ctx)
  local desc, err = sm:call("DescribeTrainingJob", { TrainingJobName = name })
  if not desc then
    if not_found(err) then return true end
    return nil, err
  end
  local state = desc.TrainingJobStatus
  if state == "InProgress" then
    local _, serr = sm:call("StopTrainingJob", { TrainingJobName = name })
    if serr then return nil, serr end
    ctx.event("Normal", "Stopping", "Stopping SageMaker training job " .. name)
    desc.TrainingJobStatus, desc.SecondaryStatus = "Stopping", "Stopping"
  elseif state ~= "Stopping" then
    return true
  end
  return false, status_from(desc, obj, name)
end

return M
