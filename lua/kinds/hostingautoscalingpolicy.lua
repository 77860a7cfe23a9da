-- HostingAutoscalingPolicy (sagemaker.aws.amazon.com/v1) -> Application
-- Auto Scaling: one scalable target per endpoint variant of spec.resourceId,
-- and on each the same scaling policy. The contract this module keeps is
-- "Kind scripts" in lua/README.md; the user's view is
-- docs/kinds/hostingautoscalingpolicy.md.
--
-- What is applied is recorded in the status (resourceIDList, policyName):
-- an update removes what the new spec no longer names, and a delete removes
-- exactly what was recorded. Every resource id is recorded BEFORE it is
-- touched (a first pass only writes the status, Reconciling; the next one
-- calls AWS), so a crash or a failure at any point leaves nothing that a
-- later sync or the delete would not find. RegisterScalableTarget and
-- PutScalingPolicy are upserts, and deleting what is already gone
-- (ObjectNotFoundException) counts as done, so every step can be repeated.
local errors = require("aws.errors")
local json = require("smop.json")
local model_loader = require("aws.model")
local validate = require("aws.validate")

local AAS = "application-autoscaling"

local M = {
  kind = "HostingAutoscalingPolicy",
  plural = "hostingautoscalingpolicies",
  status_field = "hostingAutoscalingPolicyStatus",
  ready = { Created = true },
  failed = {},
  -- Nothing changes on its own once applied: Created is not polled at the
  -- poll interval; reconcile asks for a look every RECHECK poll intervals
  -- (drift: a policy deleted behind our back, or taken along when its
  -- endpoint was deleted and created again).
  terminal = { Created = true },
}

M.CREATED, M.RECONCILING = "Created", "Reconciling"
M.RECHECK = 20 -- poll intervals between two looks at a Created policy (10 min at 30 s)

-- The old operator's defaults (COMPAT.md).
M.DEFAULTS = {
  serviceNamespace = "sagemaker",
  scalableDimension = "sagemaker:variant:DesiredInstanceCount",
  policyType = "TargetTrackingScaling",
  policyName = "SageMakerEndpointInvocationScalingPolicy",
}

function M.resource_id(endpoint, variant)
  return "endpoint/" .. endpoint .. "/variant/" .. variant
end

local function invalid(message)
  return nil, errors.new({ kind = "validation", code = "InvalidSpec", message = message })
end

local function list_of(t)
  return type(t) == "table" and t or {}
end

local function set_of(list)
  local s = {}
  for _, x in ipairs(list) do s[x] = true end
  return s
end

local function contains_all(list, wanted)
  local s = set_of(list)
  for _, x in ipairs(wanted) do
    if not s[x] then return false end
  end
  return true
end

-- a, then what b adds.
local function union(a, b)
  local out, s = {}, {}
  for _, list in ipairs({ a, b }) do
    for _, x in ipairs(list) do
      if not s[x] then s[x], out[#out + 1] = true, x end
    end
  end
  return out
end

-- What the spec asks for, defaults filled: { name, namespace, dimension,
-- ids, target (the RegisterScalableTarget request less ResourceId),
-- policy (PutScalingPolicy's, likewise) }; or nil, a validation error
-- naming the field. Checks here what the CRD schema cannot say, before
-- anything is sent: a spec refused half-way would leave half a policy.
local function desired(spec, ctx)
  local ids = {}
  for i, r in ipairs(list_of(spec.resourceId)) do
    if type(r) ~= "table" or type(r.endpointName) ~= "string" or type(r.variantName) ~= "string" then
      return invalid(string.format("spec.resourceId[%d] needs endpointName and variantName", i - 1))
    end
    ids[#ids + 1] = M.resource_id(r.endpointName, r.variantName)
  end
  ids = union(ids, {})
  if #ids == 0 then return invalid("spec.resourceId must name at least one endpoint variant") end
  if type(spec.minCapacity) == "number" and type(spec.maxCapacity) == "number"
    and spec.minCapacity > spec.maxCapacity then
    return invalid(string.format("spec.minCapacity (%s) must not be greater than spec.maxCapacity (%s)",
      tostring(spec.minCapacity), tostring(spec.maxCapacity)))
  end

  local want = {
    name = spec.policyName or M.DEFAULTS.policyName,
    namespace = spec.serviceNamespace or M.DEFAULTS.serviceNamespace,
    dimension = spec.scalableDimension or M.DEFAULTS.scalableDimension,
    ids = ids,
  }
  local policy_type = spec.policyType or M.DEFAULTS.policyType
  local tracking, step = spec.targetTrackingScalingPolicyConfiguration, spec.stepScalingPolicyConfiguration
  if policy_type == "TargetTrackingScaling" then
    if not tracking then
      return invalid("spec.targetTrackingScalingPolicyConfiguration is required when policyType is "
        .. "TargetTrackingScaling (the default)")
    end
    if step then
      return invalid("spec.stepScalingPolicyConfiguration cannot be given when policyType is "
        .. "TargetTrackingScaling")
    end
    if (tracking.predefinedMetricSpecification == nil) == (tracking.customizedMetricSpecification == nil) then
      return invalid("spec.targetTrackingScalingPolicyConfiguration needs exactly one of "
        .. "predefinedMetricSpecification and customizedMetricSpecification")
    end
  elseif policy_type == "StepScaling" then
    if not step then
      return invalid("spec.stepScalingPolicyConfiguration is required when policyType is StepScaling")
    end
    if tracking then
      return invalid("spec.targetTrackingScalingPolicyConfiguration cannot be given when policyType is "
        .. "StepScaling")
    end
  end

  -- suspendedState is sent whole, each member false unless the spec says
  -- true (the old operator's default): removing it from the spec resumes
  -- scaling instead of leaving the target as it was.
  local suspended = type(spec.suspendedState) == "table" and spec.suspendedState or {}
  want.target = ctx.to_api(AAS, "RegisterScalableTarget", {
    serviceNamespace = want.namespace, scalableDimension = want.dimension,
    minCapacity = spec.minCapacity, maxCapacity = spec.maxCapacity,
    suspendedState = {
      dynamicScalingInSuspended = suspended.dynamicScalingInSuspended == true,
      dynamicScalingOutSuspended = suspended.dynamicScalingOutSuspended == true,
      scheduledScalingSuspended = suspended.scheduledScalingSuspended == true,
    },
  })
  want.policy = ctx.to_api(AAS, "PutScalingPolicy", {
    policyName = want.name, serviceNamespace = want.namespace, scalableDimension = want.dimension,
    policyType = policy_type,
    targetTrackingScalingPolicyConfiguration = tracking,
    stepScalingPolicyConfiguration = step,
  })

  -- The API model's verdict, in AWS's words (the member paths are the
  -- spec's field names), on the requests of the first variant: the others
  -- differ only in ResourceId.
  local model = assert(model_loader.load(AAS))
  for _, op in ipairs({ { "RegisterScalableTarget", want.target }, { "PutScalingPolicy", want.policy } }) do
    local req = { ResourceId = ids[1] }
    for k, v in pairs(op[2]) do req[k] = v end
    local ok, message, errs = validate.request(model, op[1], req)
    if not ok then
      return nil, errors.new({ kind = "validation", operation = op[1],
        code = errs and errs.code or "ValidationException", message = message })
    end
  end
  return want
end

local function request(base, id)
  local req = { ResourceId = id }
  for k, v in pairs(base) do req[k] = v end
  return req
end

-- Another try soon rather than Error: AAS's own "try again" answers.
local function transient(err)
  if type(err) == "table" and err.code == "ConcurrentUpdateException" then
    return { code = err.code, message = tostring(err), retryable = true }
  end
  return err
end

-- Calls op; a missing object counts as done when deleting.
local function call(aas, op, req, gone_is_done)
  local out, err = aas:call(op, req)
  if out or (gone_is_done and err.code == "ObjectNotFoundException") then return true end
  return nil, transient(err)
end

local function target_key(namespace, dimension)
  return { ServiceNamespace = namespace, ScalableDimension = dimension }
end

-- Deletes the policy `name` of id and, unless keep_target, its scalable target.
local function remove(aas, key, name, id, keep_target)
  if name then
    local req = request(key, id)
    req.PolicyName = name
    local ok, err = call(aas, "DeleteScalingPolicy", req, true)
    if not ok then return nil, err end
  end
  if keep_target then return true end
  return call(aas, "DeregisterScalableTarget", request(key, id), true)
end

-- Why RegisterScalableTarget refused id, asked of SageMaker (AAS's own
-- wording for it is not documented): "wait" and a message when the
-- endpoint is missing or not InService (a HostingDeployment applied with
-- this object is still creating it), "error" and a message when the
-- variant is not the endpoint's, nil when SageMaker sees nothing wrong.
local function diagnose(ctx, id)
  local endpoint, variant = id:match("^endpoint/([^/]+)/variant/([^/]+)$")
  local desc, err = ctx.aws("sagemaker"):call("DescribeEndpoint", { EndpointName = endpoint })
  if not desc then
    local missing = tostring(err.message):find("Could not find endpoint", 1, true)
    if err.code == "ValidationException" and missing then
      return "wait", string.format("SageMaker endpoint %s does not exist (yet); the scaling policy is "
        .. "applied once it is InService (checked every %s s)", endpoint, ctx.poll_interval), "Warning"
    end
    return nil
  end
  if desc.EndpointStatus ~= "InService" then
    return "wait", string.format("SageMaker endpoint %s is %s; the scaling policy is applied once it is "
      .. "InService (checked every %s s)", endpoint, tostring(desc.EndpointStatus), ctx.poll_interval),
      "Normal"
  end
  local names = {}
  for _, v in ipairs(list_of(desc.ProductionVariants)) do
    if v.VariantName == variant then return nil end
    names[#names + 1] = v.VariantName
  end
  return "error", string.format("SageMaker endpoint %s has no variant %s (its variants: %s)",
    endpoint, variant, #names > 0 and table.concat(names, ", ") or "none")
end

local function status_of(value, want, ids, additional)
  return { [M.status_field] = value, policyName = want.name, resourceIDList = json.array(ids),
    additional = additional }
end

-- Whether every policy is still there (a failed look counts as yes: it is
-- asked again at the next look, and a policy applied is not an error).
local function intact(ctx, aas, want)
  for _, id in ipairs(want.ids) do
    local req = request(target_key(want.namespace, want.dimension), id)
    req.PolicyNames = { want.name }
    local out, err = aas:call("DescribeScalingPolicies", req)
    if not out then
      ctx.log("warn", "could not look at the scaling policy", { resource = id, error = tostring(err) })
    elseif #list_of(out.ScalingPolicies) == 0 then
      ctx.event("Warning", "PolicyMissing", string.format(
        "Scaling policy %s of %s is gone; applying it again", want.name, id))
      return false
    end
  end
  return true
end

function M.reconcile(obj, ctx)
  local want, verr = desired(obj.spec or {}, ctx)
  if not want then return nil, verr end
  local st = obj.status or {}
  local applied, applied_name = list_of(st.resourceIDList), st.policyName
  local aas = ctx.aws(AAS)
  local key = target_key(want.namespace, want.dimension)

  -- 1. Record first. A renamed policy goes now: the status holds one name.
  if applied_name ~= want.name or not contains_all(applied, want.ids) then
    if applied_name and applied_name ~= want.name then
      for _, id in ipairs(applied) do
        local ok, err = remove(aas, key, applied_name, id, true)
        if not ok then return nil, err end
      end
      ctx.event("Normal", "PolicyRemoved", string.format("Deleted scaling policy %s of %s", applied_name,
        table.concat(applied, ", ")))
    end
    return status_of(M.RECONCILING, want, union(applied, want.ids)), 0
  end

  local recheck = ctx.poll_interval * M.RECHECK
  if st[M.status_field] == M.CREATED and st.observedGeneration == obj.metadata.generation
    and #applied == #want.ids and intact(ctx, aas, want) then
    return status_of(M.CREATED, want, want.ids), recheck
  end

  -- 2. What the spec no longer names goes (COMPAT: an update deletes the
  -- old policies and targets) ...
  local wanted, removed = set_of(want.ids), {}
  for _, id in ipairs(applied) do
    if not wanted[id] then
      local ok, err = remove(aas, key, want.name, id, false)
      if not ok then return nil, err end
      removed[#removed + 1] = id
    end
  end
  if #removed > 0 then
    ctx.event("Normal", "TargetRemoved", string.format("Deleted scaling policy %s and deregistered %s",
      want.name, table.concat(removed, ", ")))
  end

  -- 3. ... and the new list is applied: register, then put, per variant.
  for _, id in ipairs(want.ids) do
    local _, err = aas:call("RegisterScalableTarget", request(want.target, id))
    if err then
      if err.kind == "service"
        and (err.code == "ValidationException" or err.code == "ObjectNotFoundException") then
        local verdict, message, etype = diagnose(ctx, id)
        if verdict == "wait" then
          -- once per reason, not once per look
          if st.additional ~= message then ctx.event(etype, "WaitingForEndpoint", message) end
          return status_of(M.RECONCILING, want, want.ids, message), ctx.poll_interval
        elseif verdict == "error" then
          return nil, message
        end
      end
      return nil, transient(err)
    end
    local ok, perr = call(aas, "PutScalingPolicy", request(want.policy, id))
    if not ok then return nil, perr end
  end
  ctx.event("Normal", "Applied", string.format("Registered %s and put scaling policy %s",
    table.concat(want.ids, ", "), want.name))
  return status_of(M.CREATED, want, want.ids), recheck
end

-- Removes what the status recorded: each policy, then each target.
function M.finalize(obj, ctx)
  local st, spec = obj.status or {}, obj.spec or {}
  local ids = list_of(st.resourceIDList)
  if #ids == 0 then return true end
  local aas = ctx.aws(AAS)
  local key = target_key(spec.serviceNamespace or M.DEFAULTS.serviceNamespace,
    spec.scalableDimension or M.DEFAULTS.scalableDimension)
  for _, id in ipairs(ids) do
    local ok, err = remove(aas, key, st.policyName, id, false)
    if not ok then return nil, err end
  end
  ctx.event("Normal", "Deleted", string.format("Deleted scaling policy %s and deregistered %s",
    tostring(st.policyName), table.concat(ids, ", ")))
  return true
end

return M
