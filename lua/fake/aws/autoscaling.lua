-- Application Auto Scaling: scalable targets and scaling policies, as the
-- operator's HostingAutoscalingPolicy uses them (SageMaker endpoint
-- variants), with the other namespaces accepted as plain records.
--
-- State, per region as in AWS: state[region] = { targets, policies },
-- targets[key] = ScalableTarget (the API's shape), policies[key .. "|" ..
-- PolicyName] = ScalingPolicy, key = namespace|resource id|dimension.
--
-- Deleting a SageMaker endpoint deregisters its variants' targets (AWS does
-- so when the caller may): advance() drops the targets, and their
-- policies, of variants SageMaker no longer has.
local codec = require("fake.aws.codec")
local json = require("smop.json")
local paginate = require("fake.aws.paginate")
local regex = require("smop.regex")

local M = { service = "application-autoscaling" }

local SAGEMAKER_NAME = "[a-zA-Z0-9](-*[a-zA-Z0-9])*"
local MAX_NAME = 63

-- Resource id forms of SageMaker's scalable dimensions.
local SAGEMAKER_FORMS = {
  ["sagemaker:variant:DesiredInstanceCount"] = "endpoint/<endpoint-name>/variant/<variant-name>",
}

local function tables(state, region)
  local r = state[region]
  if not r then
    r = { targets = {}, policies = {} }
    state[region] = r
  end
  return r.targets, r.policies
end

local function key_of(input)
  return input.ServiceNamespace .. "|" .. input.ResourceId .. "|" .. input.ScalableDimension
end

local function describe_target(input)
  return string.format("service namespace: %s, resource ID: %s, scalable dimension: %s",
    input.ServiceNamespace, input.ResourceId, input.ScalableDimension)
end

local function validation(ctx, message)
  return nil, ctx.error("ValidationException", message)
end

-- A SageMaker name as the SageMaker API accepts it.
local function sagemaker_name(s)
  if #s < 1 or #s > MAX_NAME then return false end
  return regex.cache("^" .. SAGEMAKER_NAME .. "$"):test(s)
end

-- Checks that the dimension belongs to the namespace, and for SageMaker that
-- the resource id names an existing endpoint variant; a registration also
-- needs the endpoint InService (AWS refuses one while it is Creating or
-- Updating; the end of the message is AWS's, which clients match).
local function check_resource(ctx, input, registering)
  local ns, dim, id = input.ServiceNamespace, input.ScalableDimension, input.ResourceId
  if dim:match("^([^:]+):") ~= ns then
    return validation(ctx, string.format("Unsupported service namespace, resource type or scalable "
      .. "dimension: scalable dimension %s does not belong to service namespace %s", dim, ns))
  end
  if ns ~= "sagemaker" then return true end
  local form = SAGEMAKER_FORMS[dim]
  if not form then
    return validation(ctx, "Unsupported scalable dimension " .. dim .. " for service namespace sagemaker")
  end
  local endpoint, variant = id:match("^endpoint/([^/]+)/variant/([^/]+)$")
  if not endpoint or not sagemaker_name(endpoint) or not sagemaker_name(variant) then
    return validation(ctx, string.format("Unsupported resource ID %s for scalable dimension %s: "
      .. "expected %s", id, dim, form))
  end
  local sagemaker = ctx.module("sagemaker")
  if not (sagemaker and sagemaker.variant_exists) then return true end
  local exists, status = sagemaker.variant_exists(ctx.state_of("sagemaker"), endpoint, variant, ctx.region)
  if not exists then
    return validation(ctx, string.format("Endpoint %s or variant %s does not exist: the scalable "
      .. "target %s cannot be registered", endpoint, variant, id))
  end
  if registering and status and status ~= "InService" then
    return validation(ctx, string.format("Endpoint %s is in status %s. The status should be in "
      .. "'InService' to register it as a scalable target", endpoint, status))
  end
  return true
end

local function default_role(ctx, ns)
  if ns == "sagemaker" then
    return string.format("arn:aws:iam::%s:role/aws-service-role/sagemaker.application-autoscaling."
      .. "amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint", ctx.account)
  end
  return string.format("arn:aws:iam::%s:role/aws-service-role/%s.application-autoscaling.amazonaws.com/"
    .. "AWSServiceRoleForApplicationAutoScaling", ctx.account, ns)
end

local operations = {}

function operations.RegisterScalableTarget(ctx, input)
  local ok, err = check_resource(ctx, input, true)
  if not ok then return nil, err end
  local targets = tables(ctx.state, ctx.region)
  local key = key_of(input)
  local t = targets[key]
  if not t and (input.MinCapacity == nil or input.MaxCapacity == nil) then
    return validation(ctx, "MinCapacity and MaxCapacity are required to register a new scalable target")
  end
  local min = input.MinCapacity or t.MinCapacity
  local max = input.MaxCapacity or t.MaxCapacity
  if min < 0 or max < 0 then return validation(ctx, "Capacity values must be non-negative") end
  if min > max then
    return validation(ctx, string.format("Minimum capacity (%d) cannot be greater than maximum capacity (%d)",
      min, max))
  end
  if not t then
    t = {
      ServiceNamespace = input.ServiceNamespace, ResourceId = input.ResourceId,
      ScalableDimension = input.ScalableDimension, CreationTime = ctx.now(),
      RoleARN = input.RoleARN or default_role(ctx, input.ServiceNamespace),
      SuspendedState = { DynamicScalingInSuspended = false, DynamicScalingOutSuspended = false,
        ScheduledScalingSuspended = false },
    }
    targets[key] = t
  elseif input.RoleARN then
    t.RoleARN = input.RoleARN
  end
  t.MinCapacity, t.MaxCapacity = min, max
  if input.SuspendedState then
    for k, v in pairs(input.SuspendedState) do
      if v ~= json.null then t.SuspendedState[k] = v end
    end
  end
  return {}
end

-- Oldest first; ties (a frozen clock) by resource, dimension and name.
local function by_creation(a, b)
  if a.CreationTime ~= b.CreationTime then return a.CreationTime < b.CreationTime end
  if a.ResourceId ~= b.ResourceId then return a.ResourceId < b.ResourceId end
  if a.ScalableDimension ~= b.ScalableDimension then return a.ScalableDimension < b.ScalableDimension end
  return (a.PolicyName or "") < (b.PolicyName or "")
end

local function page_of(ctx, list, input, scope)
  table.sort(list, by_creation)
  local page, token = paginate.page(list, input, {
    scope = scope, default = 50, limit = 50,
    key = function(x) return x.PolicyARN or (x.ResourceId .. "|" .. x.ScalableDimension) end,
  })
  if not page then return nil, ctx.error("InvalidNextTokenException", "Invalid token") end
  return page, token
end

function operations.DescribeScalableTargets(ctx, input)
  local targets = tables(ctx.state, ctx.region)
  local ids
  if input.ResourceIds and #input.ResourceIds > 0 then
    ids = {}
    for _, id in ipairs(input.ResourceIds) do ids[id] = true end
  end
  local list = {}
  for _, t in pairs(targets) do
    if t.ServiceNamespace == input.ServiceNamespace and (not ids or ids[t.ResourceId])
      and (not input.ScalableDimension or t.ScalableDimension == input.ScalableDimension) then
      list[#list + 1] = t
    end
  end
  local page, token = page_of(ctx, list, input, "DescribeScalableTargets")
  if not page then return nil, token end
  return { ScalableTargets = page, NextToken = token }
end

function operations.DeregisterScalableTarget(ctx, input)
  local targets, policies = tables(ctx.state, ctx.region)
  local key = key_of(input)
  if not targets[key] then
    return nil, ctx.error("ObjectNotFoundException",
      "No scalable target found for " .. describe_target(input))
  end
  targets[key] = nil
  for pkey in pairs(policies) do
    if pkey:sub(1, #key + 1) == key .. "|" then policies[pkey] = nil end
  end
  return {}
end

local function alarms_for(ctx, input)
  local alarms = json.array()
  for _, side in ipairs({ "AlarmHigh", "AlarmLow" }) do
    local name = string.format("TargetTracking-%s-%s-%s", input.ResourceId, side, codec.uuid())
    alarms[#alarms + 1] = {
      AlarmName = name,
      AlarmARN = string.format("arn:aws:cloudwatch:%s:%s:alarm:%s", ctx.region, ctx.account, name),
    }
  end
  return alarms
end

function operations.PutScalingPolicy(ctx, input)
  local ok, err = check_resource(ctx, input)
  if not ok then return nil, err end
  local targets, policies = tables(ctx.state, ctx.region)
  local key = key_of(input)
  if not targets[key] then
    return nil, ctx.error("ObjectNotFoundException", "No scalable target registered for "
      .. describe_target(input))
  end
  local policy_type = input.PolicyType or "StepScaling"
  local step, tracking = input.StepScalingPolicyConfiguration, input.TargetTrackingScalingPolicyConfiguration
  if policy_type == "TargetTrackingScaling" then
    if not tracking then
      return validation(ctx, "TargetTrackingScalingPolicyConfiguration is required for a policy of type "
        .. "TargetTrackingScaling")
    end
    if step then
      return validation(ctx, "StepScalingPolicyConfiguration cannot be given for a policy of type "
        .. "TargetTrackingScaling")
    end
  else
    if tracking then
      return validation(ctx, "TargetTrackingScalingPolicyConfiguration cannot be given for a policy of "
        .. "type StepScaling")
    end
    if not step then
      return validation(ctx, "StepScalingPolicyConfiguration is required for a policy of type StepScaling")
    end
  end

  local pkey = key .. "|" .. input.PolicyName
  local p = policies[pkey]
  if not p then
    local id = codec.uuid()
    p = {
      PolicyARN = string.format("arn:aws:autoscaling:%s:%s:scalingPolicy:%s:resource/%s/%s:policyName/%s",
        ctx.region, ctx.account, id, input.ServiceNamespace, input.ResourceId, input.PolicyName),
      PolicyName = input.PolicyName, ServiceNamespace = input.ServiceNamespace,
      ResourceId = input.ResourceId, ScalableDimension = input.ScalableDimension,
      CreationTime = ctx.now(),
    }
    policies[pkey] = p
  end
  p.PolicyType = policy_type
  p.StepScalingPolicyConfiguration = step
  p.TargetTrackingScalingPolicyConfiguration = tracking
  if policy_type == "TargetTrackingScaling" then
    if not p.Alarms or #p.Alarms == 0 then p.Alarms = alarms_for(ctx, input) end
  else
    p.Alarms = json.array()
  end
  return { PolicyARN = p.PolicyARN, Alarms = p.Alarms }
end

function operations.DescribeScalingPolicies(ctx, input)
  local _, policies = tables(ctx.state, ctx.region)
  local names
  if input.PolicyNames and #input.PolicyNames > 0 then
    names = {}
    for _, n in ipairs(input.PolicyNames) do names[n] = true end
  end
  local list = {}
  for _, p in pairs(policies) do
    if p.ServiceNamespace == input.ServiceNamespace and (not names or names[p.PolicyName])
      and (not input.ResourceId or p.ResourceId == input.ResourceId)
      and (not input.ScalableDimension or p.ScalableDimension == input.ScalableDimension) then
      list[#list + 1] = p
    end
  end
  local page, token = page_of(ctx, list, input, "DescribeScalingPolicies")
  if not page then return nil, token end
  return { ScalingPolicies = page, NextToken = token }
end

function operations.DeleteScalingPolicy(ctx, input)
  local _, policies = tables(ctx.state, ctx.region)
  local pkey = key_of(input) .. "|" .. input.PolicyName
  if not policies[pkey] then
    return nil, ctx.error("ObjectNotFoundException", string.format("No scaling policy found for %s, "
      .. "policy name: %s", describe_target(input), input.PolicyName))
  end
  policies[pkey] = nil
  return {}
end

M.operations = operations

-- Drops the SageMaker targets (and their policies) whose variant is gone.
function M.advance(ctx)
  local sagemaker = ctx.module("sagemaker")
  if not (sagemaker and sagemaker.variant_exists) then return end
  local sm_state = ctx.state_of("sagemaker")
  for region, r in pairs(ctx.state) do
    for key, t in pairs(r.targets) do
      local endpoint, variant = t.ResourceId:match("^endpoint/([^/]+)/variant/([^/]+)$")
      if t.ServiceNamespace == "sagemaker" and endpoint
        and not sagemaker.variant_exists(sm_state, endpoint, variant, region) then
        r.targets[key] = nil
        for pkey in pairs(r.policies) do
          if pkey:sub(1, #key + 1) == key .. "|" then r.policies[pkey] = nil end
        end
      end
    end
  end
end

return M
