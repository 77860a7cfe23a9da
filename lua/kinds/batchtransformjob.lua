-- BatchTransformJob (sagemaker.aws.amazon.com/v1) -> a SageMaker transform
-- job. The contract this module keeps is "Kind scripts" in lua/README.md;
-- what every job kind shares (create once, describe, stop on delete, a spec
-- that cannot change) is kinds.lib.job.
--
-- spec.modelName names a SageMaker model that must exist already; when it
-- does not, SageMaker refuses the create ("Could not find model ...") and
-- the object shows that as an Error, looked at again after the error
-- interval, so a model created later is picked up.
local job = require("kinds.lib.job")

return job.new({
  kind = "BatchTransformJob",
  plural = "batchtransformjobs",
  status_field = "transformJobStatus",
  noun = "transform job",
  name_status = "sageMakerTransformJobName",
  name_spec = "transformJobName",
  max_len = 63,
  api = { create = "CreateTransformJob", describe = "DescribeTransformJob", stop = "StopTransformJob",
    name = "TransformJobName", status = "TransformJobStatus",
    list = "ListTransformJobs", items = "TransformJobSummaries" },
  -- DescribeTransformJob has no LastModifiedTime (ListTransformJobs has):
  -- the job's latest own instant is a lower bound of it, and a bound too
  -- low costs change detection one extra Describe, never a missed change.
  after_describe = function(desc, _, ctx, status, name)
    local last = math.max(tonumber(desc.CreationTime) or 0, tonumber(desc.TransformStartTime) or 0,
      tonumber(desc.TransformEndTime) or 0)
    if last > 0 then ctx.watch_changes(name, last) end
    return status
  end,
})
