-- AddTags, ListTags, DeleteTags on the ARN of any resource this fake
-- simulates (training, tuning, transform and processing jobs, models,
-- endpoint configurations, endpoints) in the request's region.
local common = require("fake.aws.sagemaker.common")
local hosting = require("fake.aws.sagemaker.hosting")
local json = require("smop.json")

local M = {}

local MAX_TAGS = 50

-- ARN resource type -> store.
local KINDS = {
  ["training-job"] = "training_jobs",
  ["hyper-parameter-tuning-job"] = "tuning_jobs",
  ["transform-job"] = "transform_jobs",
  ["processing-job"] = "processing_jobs",
  ["model"] = hosting.MODELS,
  ["endpoint-config"] = hosting.CONFIGS,
  ["endpoint"] = hosting.ENDPOINTS,
}

-- The ARN of the resource arn names, as its record spells it, when that
-- resource exists now; else nil.
local function canonical(ctx, arn)
  local region, resource, name = arn:match("^arn:aws[%w%-]*:sagemaker:([^:]*):%d+:([%w%-]+)/(.+)$")
  if region ~= ctx.region or not KINDS[resource] then return nil end
  local r = common.store(ctx, KINDS[resource])[common.key(name)]
  if not r or r.arn:lower() ~= arn:lower() then return nil end
  if resource == "endpoint" and not hosting.find_endpoint(ctx, name) then return nil end
  return r.arn
end

local function missing(ctx, arn)
  return nil, ctx.error("ValidationException", "Requested resource not found: " .. arn)
end

M.operations = {
  AddTags = function(ctx, input)
    local arn = canonical(ctx, input.ResourceArn)
    if not arn then return missing(ctx, input.ResourceArn) end
    local keys = {}
    for _, tag in ipairs(common.tags_of(ctx, arn)) do keys[tag.Key] = true end
    local count = #common.tags_of(ctx, arn)
    for _, tag in ipairs(input.Tags) do
      if not keys[tag.Key] then
        keys[tag.Key] = true
        count = count + 1
      end
    end
    if count > MAX_TAGS then
      return nil, ctx.error("ValidationException", string.format(
        "Resource %s would have %d tags; a resource can have at most %d.", arn, count, MAX_TAGS))
    end
    common.add_tags(ctx, arn, input.Tags)
    return { Tags = common.copy(input.Tags) }
  end,

  ListTags = function(ctx, input)
    local arn = canonical(ctx, input.ResourceArn)
    if not arn then return missing(ctx, input.ResourceArn) end
    local page, next_token = common.page(ctx, common.tags_of(ctx, arn), input, MAX_TAGS)
    if not page then return nil, next_token end
    return { Tags = common.copy(page), NextToken = next_token }
  end,

  DeleteTags = function(ctx, input)
    local arn = canonical(ctx, input.ResourceArn)
    if not arn then return missing(ctx, input.ResourceArn) end
    local drop = {}
    for _, key in ipairs(input.TagKeys) do drop[key] = true end
    local kept = json.array({})
    for _, tag in ipairs(common.tags_of(ctx, arn)) do
      if not drop[tag.Key] then kept[#kept + 1] = tag end
    end
    common.store(ctx, "tags")[arn] = kept
    return {}
  end,
}

return M
