-- ProcessingJob (sagemaker.aws.amazon.com/v1) -> a SageMaker processing job.
-- The contract this module keeps is "Kind scripts" in lua/README.md; what
-- every job kind shares (create once, describe, stop on delete, a spec that
-- cannot change) is kinds.lib.job.
--
-- Its own: the CloudWatch Logs URL. The spec has no field naming the job
-- (the old API had none), so the name is always generated.
local job = require("kinds.lib.job")

local function log_url(region, name)
  return string.format("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s"
    .. "#logStream:group=/aws/sagemaker/ProcessingJobs;prefix=%s;streamFilter=typeLogStreamPrefix",
    region, region, name)
end

return job.new({
  kind = "ProcessingJob",
  plural = "processingjobs",
  status_field = "processingJobStatus",
  noun = "processing job",
  name_status = "sageMakerProcessingJobName",
  max_len = 63,
  api = { create = "CreateProcessingJob", describe = "DescribeProcessingJob", stop = "StopProcessingJob",
    name = "ProcessingJobName", status = "ProcessingJobStatus",
    list = "ListProcessingJobs", items = "ProcessingJobSummaries" },
  status_from = function(_, obj, name)
    return { cloudWatchLogUrl = log_url(obj.spec.region, name) }
  end,
})
