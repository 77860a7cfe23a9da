-- TrainingJob (sagemaker.aws.amazon.com/v1) -> a SageMaker training job.
-- The contract this module keeps is "Kind scripts" in lua/README.md; what
-- every job kind shares (create once, describe, stop on delete, a spec that
-- cannot change) is kinds.lib.job.
--
-- Its own: the secondary status, the CloudWatch Logs URL, and the model's
-- S3 path once the job completed.
local job = require("kinds.lib.job")

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
    }
    if desc.TrainingJobStatus == "Completed" then
      local artifacts = desc.ModelArtifacts or {}
      status.modelPath = artifacts.S3ModelArtifacts
        or (obj.spec.outputDataConfig.s3OutputPath:gsub("/*$", "/") .. name .. "/output/model.tar.gz")
    end
    return status
  end,
  stopping = function(desc) desc.SecondaryStatus = "Stopping" end,
})
