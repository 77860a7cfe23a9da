-- The fake SageMaker: one service module (lua/fake/aws/README.md) merged
-- from one file per family of resources. Shared behaviour and the table of
-- simulated durations are in common.lua.
local common = require("fake.aws.sagemaker.common")
local hosting = require("fake.aws.sagemaker.hosting")
local processing = require("fake.aws.sagemaker.processing")
local tags = require("fake.aws.sagemaker.tags")
local training = require("fake.aws.sagemaker.training")
local transform = require("fake.aws.sagemaker.transform")
local tuning = require("fake.aws.sagemaker.tuning")

local FAMILIES = { training, tuning, transform, processing, hosting, tags }

local operations = {}
for _, family in ipairs(FAMILIES) do
  for name, handler in pairs(family.operations) do
    if operations[name] then error("SageMaker operation " .. name .. " is defined twice") end
    operations[name] = handler
  end
end

-- Brings every resource of every region up to ctx.now(), so the log
-- streams jobs write are current whatever was described last. Tuning jobs
-- first: they launch training jobs.
local function advance(ctx)
  for _, region in ipairs(common.regions(ctx)) do
    local rctx = common.in_region(ctx, region)
    tuning.sync(rctx)
    training.refresh_all(rctx)
    transform.jobs.refresh_all(rctx)
    processing.jobs.refresh_all(rctx)
    hosting.refresh_all(rctx)
  end
end

return {
  service = "sagemaker",
  operations = operations,
  advance = advance,
  variant_exists = hosting.variant_exists,
}
