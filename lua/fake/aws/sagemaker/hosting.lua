-- SageMaker hosting: models, endpoint configurations and endpoints.
--
-- Models and endpoint configurations have no lifecycle: they exist from
-- Create* to Delete*. A configuration names models that must exist when it
-- is created; an endpoint copies what it deploys when asked, so deleting a
-- configuration or model later does not disturb it (as in AWS).
--
-- Endpoint lifecycle (durations in common.lua):
--   CreateEndpoint: Creating -> InService, or Failed with the FailureReason
--     injected for the endpoint (ctx.failure_for)
--   UpdateEndpoint / UpdateEndpointWeightsAndCapacities (InService only):
--     Updating -> InService with the new configuration or weights; an
--     injected failure rolls back: InService on the old one, FailureReason set
--   DeleteEndpoint (not while Creating/Updating/Deleting): Deleting -> gone
local common = require("fake.aws.sagemaker.common")
local json = require("smop.json")

local M = {}

local D = common.durations
local MODELS, CONFIGS, ENDPOINTS = "models", "endpoint_configs", "endpoints"
M.MODELS, M.CONFIGS, M.ENDPOINTS = MODELS, CONFIGS, ENDPOINTS

local function quoted(message, arn)
  return string.format('%s "%s".', message, arn)
end

local function find(ctx, kind, name)
  return common.store(ctx, kind)[common.key(name)]
end

-- Name, CreationTime sorts and filters of ListModels / ListEndpointConfigs.
local STATIC_SORT_KEYS = { Name = "name", CreationTime = "created" }
local STATIC_FILTER_FIELDS = { name = "name", created = "created" }

-- One Create/Describe/Delete/List set for a resource without a lifecycle.
-- spec: kind, resource (ARN type), noun (for messages), field (the Name
-- member prefix, "Model" or "EndpointConfig"), list_member, describe(r),
-- check(ctx, input) -> nil or error.
local function static_resource(spec)
  local name_member, arn_member = spec.field .. "Name", spec.field .. "Arn"
  local ops = {}

  ops["Create" .. spec.field] = function(ctx, input)
    local name = input[name_member]
    local arn = ctx.arn(spec.resource, name)
    if find(ctx, spec.kind, name) then
      return nil, ctx.error("ValidationException",
        quoted("Cannot create already existing " .. spec.noun, arn))
    end
    local err = spec.check and spec.check(ctx, input)
    if err then return nil, err end
    local r = { name = name, arn = arn, input = common.copy(input), created = ctx.now() }
    r.input.Tags = nil
    common.store(ctx, spec.kind)[common.key(name)] = r
    common.add_tags(ctx, arn, input.Tags)
    return { [arn_member] = arn }
  end

  ops["Describe" .. spec.field] = function(ctx, input)
    local r = find(ctx, spec.kind, input[name_member])
    if not r then
      return nil, ctx.error("ValidationException",
        quoted("Could not find " .. spec.noun, ctx.arn(spec.resource, input[name_member])))
    end
    return common.copy(spec.describe(r))
  end

  ops["Delete" .. spec.field] = function(ctx, input)
    local r = find(ctx, spec.kind, input[name_member])
    if not r then
      return nil, ctx.error("ValidationException",
        quoted("Could not find " .. spec.noun, ctx.arn(spec.resource, input[name_member])))
    end
    common.store(ctx, spec.kind)[common.key(r.name)] = nil
    common.drop_tags(ctx, r.arn)
    return {}
  end

  ops["List" .. spec.field .. "s"] = function(ctx, input)
    local list = common.filter(common.all(ctx, spec.kind), input, STATIC_FILTER_FIELDS)
    common.sort(list, common.opt(input.SortBy) or "CreationTime", common.opt(input.SortOrder) or "Descending",
      STATIC_SORT_KEYS, "name")
    local page, next_token = common.page(ctx, list, input)
    if not page then return nil, next_token end
    local summaries = json.array({})
    for i, r in ipairs(page) do
      summaries[i] = { [name_member] = r.name, [arn_member] = r.arn, CreationTime = r.created }
    end
    return { [spec.list_member] = summaries, NextToken = next_token }
  end

  return ops
end

local function model_missing(ctx, model_name)
  return ctx.error("ValidationException", quoted("Could not find model", ctx.arn("model", model_name)))
end

local model_ops = static_resource({
  kind = MODELS, resource = "model", noun = "model", field = "Model", list_member = "Models",
  describe = function(r)
    local i = r.input
    return {
      ModelName = r.name,
      PrimaryContainer = i.PrimaryContainer,
      Containers = i.Containers,
      InferenceExecutionConfig = i.InferenceExecutionConfig,
      ExecutionRoleArn = i.ExecutionRoleArn,
      VpcConfig = i.VpcConfig,
      CreationTime = r.created,
      ModelArn = r.arn,
      EnableNetworkIsolation = i.EnableNetworkIsolation == true,
    }
  end,
})

local config_ops = static_resource({
  kind = CONFIGS, resource = "endpoint-config", noun = "endpoint configuration",
  field = "EndpointConfig", list_member = "EndpointConfigs",
  check = function(ctx, input)
    for _, list in ipairs({ input.ProductionVariants, common.opt(input.ShadowProductionVariants) or {} }) do
      for _, variant in ipairs(list) do
        if not find(ctx, MODELS, variant.ModelName) then return model_missing(ctx, variant.ModelName) end
      end
    end
    return nil
  end,
  describe = function(r)
    local i = r.input
    return {
      EndpointConfigName = r.name,
      EndpointConfigArn = r.arn,
      ProductionVariants = i.ProductionVariants,
      DataCaptureConfig = i.DataCaptureConfig,
      KmsKeyId = i.KmsKeyId,
      CreationTime = r.created,
      AsyncInferenceConfig = i.AsyncInferenceConfig,
      ExplainerConfig = i.ExplainerConfig,
      ShadowProductionVariants = i.ShadowProductionVariants,
    }
  end,
})

-- ---- endpoints ----

-- The images a model's containers run, as DeployedImages, resolved at `at`.
local function deployed_images(ctx, model_name, at)
  local images = json.array({})
  local model = find(ctx, MODELS, model_name)
  if not model then return images end
  local containers = model.input.Containers or { model.input.PrimaryContainer }
  for _, c in ipairs(containers) do
    if c.Image then
      local repository = c.Image:gsub("@.*$", ""):gsub(":[^/:]*$", "")
      local resolved = repository .. "@sha256:" .. common.hex64(c.Image)
      images[#images + 1] = {
        SpecifiedImage = c.Image,
        ResolvedImage = #resolved <= 255 and resolved or nil,
        ResolutionTime = at,
      }
    end
  end
  return images
end

-- What deploying a configuration means for each variant: its desired
-- state, from the configuration or, when asked to, the endpoint's current
-- values (UpdateEndpoint's RetainAllVariantProperties).
local function plan(ctx, config, at, current, retain, excluded)
  local variants = json.array({})
  local now_by_name = {}
  for _, v in ipairs(current or {}) do now_by_name[v.VariantName] = v end
  for _, pv in ipairs(config.input.ProductionVariants) do
    local v = {
      VariantName = pv.VariantName,
      ModelName = pv.ModelName,
      InstanceType = pv.InstanceType,
      AcceleratorType = pv.AcceleratorType,
      DesiredWeight = pv.InitialVariantWeight or 1.0,
      DesiredInstanceCount = pv.ServerlessConfig == nil and (pv.InitialInstanceCount or 1) or nil,
      DesiredServerlessConfig = pv.ServerlessConfig,
      DeployedImages = deployed_images(ctx, pv.ModelName, at),
    }
    local old = now_by_name[pv.VariantName]
    if retain and old then
      if not excluded.DesiredWeight then v.DesiredWeight = old.DesiredWeight end
      if not excluded.DesiredInstanceCount and v.DesiredInstanceCount then
        v.DesiredInstanceCount = old.DesiredInstanceCount
      end
    end
    variants[#variants + 1] = v
  end
  return variants
end

-- The variants as they serve once a deployment finished.
local function serving(variants)
  local out = common.copy(variants)
  for _, v in ipairs(out) do
    v.CurrentWeight = v.DesiredWeight
    v.CurrentInstanceCount = v.DesiredInstanceCount
    v.CurrentServerlessConfig = v.DesiredServerlessConfig
  end
  return out
end

-- The states an endpoint leaves on its own.
local MOVING = { Creating = true, Updating = true, Deleting = true }

local function begin(ctx, e, at, status)
  e.status = status
  e.phase_start = at
  e.modified = at
  common.set_active(ctx, ENDPOINTS, e.name, MOVING[status])
end

-- Applies every transition due up to ctx.now(). Returns e, or nil once
-- the endpoint is gone.
function M.refresh(ctx, e)
  local now = ctx.now()
  local key = common.key(e.name)
  if e.status == "Creating" or e.status == "Updating" then
    local duration = e.status == "Creating" and D.endpoint_creating or D.endpoint_updating
    local at = e.phase_start + duration
    if at <= now then
      local reason = ctx.failure_for(e.name)
      if reason and e.status == "Creating" then
        e.failure_reason = common.reason(reason)
        begin(ctx, e, at, "Failed")
      elseif reason then
        -- Rolled back: the old deployment serves on, as it was.
        e.failure_reason = common.reason(reason)
        for _, v in ipairs(e.variants) do
          v.DesiredWeight = v.CurrentWeight
          v.DesiredInstanceCount = v.CurrentInstanceCount
          v.DesiredServerlessConfig = v.CurrentServerlessConfig
        end
        begin(ctx, e, at, "InService")
      else
        e.failure_reason = nil
        e.variants = serving(e.pending.variants)
        e.config_name = e.pending.config_name
        e.data_capture = e.pending.data_capture
        e.async = e.pending.async
        e.explainer = e.pending.explainer
        begin(ctx, e, at, "InService")
      end
      e.pending = nil
    end
  elseif e.status == "Deleting" and e.phase_start + D.endpoint_deleting <= now then
    common.store(ctx, ENDPOINTS)[key] = nil
    common.set_active(ctx, ENDPOINTS, e.name, false)
    common.drop_tags(ctx, e.arn)
    return nil
  end
  return e
end

local function lookup(ctx, name)
  local e = find(ctx, ENDPOINTS, name)
  return e and M.refresh(ctx, e)
end

function M.find_endpoint(ctx, name)
  return lookup(ctx, name)
end

function M.refresh_all(ctx)
  for _, e in ipairs(common.active(ctx, ENDPOINTS)) do M.refresh(ctx, e) end
end

-- For Application Auto Scaling's check of a scalable target: does the
-- endpoint (in `region`, or any region when nil) exist, not failed or
-- going away, with that variant deployed or being deployed? When it does,
-- the endpoint's status comes second (AAS registers InService ones only).
function M.variant_exists(state, endpoint_name, variant_name, region)
  for r, stores in pairs(state) do
    local endpoints = (region == nil or r == region) and stores[ENDPOINTS]
    local e = endpoints and endpoints[common.key(endpoint_name)]
    if e and e.status ~= "Failed" and e.status ~= "Deleting" then
      for _, list in ipairs({ e.variants or {}, e.pending and e.pending.variants or {} }) do
        for _, v in ipairs(list) do
          if v.VariantName == variant_name then return true, e.status end
        end
      end
    end
  end
  return false
end

local function endpoint_missing(ctx, name)
  return nil, ctx.error("ValidationException", quoted("Could not find endpoint", ctx.arn("endpoint", name)))
end

local function config_missing(ctx, name)
  return nil, ctx.error("ValidationException",
    quoted("Could not find endpoint configuration", ctx.arn("endpoint-config", name)))
end

local function in_progress(ctx, e)
  return nil, ctx.error("ValidationException", quoted("Cannot update in-progress endpoint", e.arn))
end

-- Refuses a change unless e is InService.
local function must_serve(ctx, e)
  if e.status == "InService" then return nil end
  if e.status == "Failed" then
    return ctx.error("ValidationException", quoted("Cannot update failed endpoint", e.arn))
  end
  return select(2, in_progress(ctx, e))
end

-- What an endpoint will serve once a deployment of config finished: a copy,
-- so the configuration can go away meanwhile.
local function pending_of(ctx, config, at, current, retain, excluded)
  return common.copy({
    config_name = config.name,
    variants = plan(ctx, config, at, current, retain, excluded),
    data_capture = config.input.DataCaptureConfig,
    async = config.input.AsyncInferenceConfig,
    explainer = config.input.ExplainerConfig,
  })
end

local function variant_summary(v)
  return {
    VariantName = v.VariantName,
    DeployedImages = v.DeployedImages,
    CurrentWeight = v.CurrentWeight,
    DesiredWeight = v.DesiredWeight,
    CurrentInstanceCount = v.CurrentInstanceCount,
    DesiredInstanceCount = v.DesiredInstanceCount,
    CurrentServerlessConfig = v.CurrentServerlessConfig,
    DesiredServerlessConfig = v.DesiredServerlessConfig,
  }
end

local function capture_summary(dc)
  if not dc then return nil end
  local enabled = dc.EnableCapture ~= false
  return {
    EnableCapture = enabled,
    CaptureStatus = enabled and "Started" or "Stopped",
    CurrentSamplingPercentage = dc.InitialSamplingPercentage,
    DestinationS3Uri = dc.DestinationS3Uri,
    KmsKeyId = dc.KmsKeyId or "",
  }
end

local function pending_summary(e)
  local p = e.pending
  if not p or p.weights_only or e.status ~= "Updating" then return nil end
  local variants = json.array({})
  for _, v in ipairs(p.variants) do
    variants[#variants + 1] = {
      VariantName = v.VariantName,
      DeployedImages = v.DeployedImages,
      DesiredWeight = v.DesiredWeight,
      DesiredInstanceCount = v.DesiredInstanceCount,
      InstanceType = v.InstanceType,
      AcceleratorType = v.AcceleratorType,
      VariantStatus = json.array({ { Status = "Creating", StartTime = e.phase_start } }),
      DesiredServerlessConfig = v.DesiredServerlessConfig,
    }
  end
  return { EndpointConfigName = p.config_name, ProductionVariants = variants, StartTime = e.phase_start }
end

local function describe(e)
  local variants
  if e.variants then
    variants = json.array({})
    for i, v in ipairs(e.variants) do variants[i] = variant_summary(v) end
  end
  return common.copy({
    EndpointName = e.name,
    EndpointArn = e.arn,
    EndpointConfigName = e.config_name,
    ProductionVariants = variants,
    DataCaptureConfig = capture_summary(e.data_capture),
    EndpointStatus = e.status,
    FailureReason = e.failure_reason,
    CreationTime = e.created,
    LastModifiedTime = e.modified,
    LastDeploymentConfig = e.deployment_config,
    AsyncInferenceConfig = e.async,
    PendingDeploymentSummary = pending_summary(e),
    ExplainerConfig = e.explainer,
  })
end

local ENDPOINT_SORT_KEYS = { Name = "name", CreationTime = "created", Status = "status" }
local ENDPOINT_FILTER_FIELDS = { name = "name", created = "created", modified = "modified",
  status = "status" }

local endpoint_ops = {
  CreateEndpoint = function(ctx, input)
    local name = input.EndpointName
    local arn = ctx.arn("endpoint", name)
    if find(ctx, ENDPOINTS, name) then
      return nil, ctx.error("ValidationException", quoted("Cannot create already existing endpoint", arn))
    end
    local config = find(ctx, CONFIGS, input.EndpointConfigName)
    if not config then return config_missing(ctx, input.EndpointConfigName) end
    local now = ctx.now()
    local e = {
      name = name,
      arn = arn,
      created = now,
      modified = now,
      status = "Creating",
      phase_start = now,
      config_name = config.name,
      pending = pending_of(ctx, config, now),
      deployment_config = common.copy(common.opt(input.DeploymentConfig)),
    }
    common.store(ctx, ENDPOINTS)[common.key(name)] = e
    common.set_active(ctx, ENDPOINTS, name, true)
    common.add_tags(ctx, arn, input.Tags)
    return { EndpointArn = arn }
  end,

  DescribeEndpoint = function(ctx, input)
    local e = lookup(ctx, input.EndpointName)
    if not e then return endpoint_missing(ctx, input.EndpointName) end
    return describe(e)
  end,

  UpdateEndpoint = function(ctx, input)
    local e = lookup(ctx, input.EndpointName)
    if not e then return endpoint_missing(ctx, input.EndpointName) end
    local config = find(ctx, CONFIGS, input.EndpointConfigName)
    if not config then return config_missing(ctx, input.EndpointConfigName) end
    local refused = must_serve(ctx, e)
    if refused then return nil, refused end
    local excluded = {}
    for _, p in ipairs(common.opt(input.ExcludeRetainedVariantProperties) or {}) do
      excluded[p.VariantPropertyType] = true
    end
    local now = ctx.now()
    e.pending = pending_of(ctx, config, now, e.variants, input.RetainAllVariantProperties == true, excluded)
    if not input.RetainDeploymentConfig then
      e.deployment_config = common.copy(common.opt(input.DeploymentConfig))
    end
    begin(ctx, e, now, "Updating")
    return { EndpointArn = e.arn }
  end,

  UpdateEndpointWeightsAndCapacities = function(ctx, input)
    local e = lookup(ctx, input.EndpointName)
    if not e then return endpoint_missing(ctx, input.EndpointName) end
    local refused = must_serve(ctx, e)
    if refused then return nil, refused end
    local variants = common.copy(e.variants)
    local by_name = {}
    for _, v in ipairs(variants) do by_name[v.VariantName] = v end
    for _, want in ipairs(input.DesiredWeightsAndCapacities) do
      local v = by_name[want.VariantName]
      if not v then
        return nil, ctx.error("ValidationException", string.format(
          'The variant name "%s" does not exist in endpoint "%s".', want.VariantName, e.arn))
      end
      v.DesiredWeight = common.opt(want.DesiredWeight) or v.DesiredWeight
      v.DesiredInstanceCount = common.opt(want.DesiredInstanceCount) or v.DesiredInstanceCount
    end
    -- The new desired values show at once; current ones once Updating ends.
    e.pending = { config_name = e.config_name, variants = variants, data_capture = e.data_capture,
      async = e.async, explainer = e.explainer, weights_only = true }
    e.variants = variants
    begin(ctx, e, ctx.now(), "Updating")
    return { EndpointArn = e.arn }
  end,

  DeleteEndpoint = function(ctx, input)
    local e = lookup(ctx, input.EndpointName)
    if not e then return endpoint_missing(ctx, input.EndpointName) end
    if e.status == "Creating" or e.status == "Updating" or e.status == "Deleting" then
      return in_progress(ctx, e)
    end
    begin(ctx, e, ctx.now(), "Deleting")
    M.refresh(ctx, e)
    return {}
  end,

  ListEndpoints = function(ctx, input)
    M.refresh_all(ctx)
    local list = common.filter(common.all(ctx, ENDPOINTS), input, ENDPOINT_FILTER_FIELDS)
    common.sort(list, common.opt(input.SortBy) or "CreationTime", common.opt(input.SortOrder) or "Descending",
      ENDPOINT_SORT_KEYS, "name")
    local page, next_token = common.page(ctx, list, input)
    if not page then return nil, next_token end
    local summaries = json.array({})
    for i, e in ipairs(page) do
      summaries[i] = { EndpointName = e.name, EndpointArn = e.arn, CreationTime = e.created,
        LastModifiedTime = e.modified, EndpointStatus = e.status }
    end
    return { Endpoints = summaries, NextToken = next_token }
  end,
}

M.operations = {}
for _, ops in ipairs({ model_ops, config_ops, endpoint_ops }) do
  for name, handler in pairs(ops) do M.operations[name] = handler end
end

return M
