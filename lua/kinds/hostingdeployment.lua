-- HostingDeployment (sagemaker.aws.amazon.com/v1) -> a SageMaker endpoint
-- with the models and the endpoint config it serves. The contract this
-- module keeps is "Kind scripts" in lua/README.md; COMPAT.md "Behaviour"
-- says what it must do.
--
-- Every generation of the spec gets its own models and endpoint config,
-- named after the generation and the object's UID:
--   config:  <metadata.name>-g<generation>-<uid>
--   model i: <spec.models[i].name>-g<generation>-m<i>-<uid>
-- (prefixes cut to fit 63), so an update creates new ones beside those the
-- endpoint serves, and every create is idempotent: after a crash at any
-- point the next sync meets what was made ("already existing") instead of
-- making it twice. The endpoint is spec.endpointName, else
-- <metadata.name>-<uid>.
--
-- One sync looks at the endpoint and takes at most one step:
--   no endpoint         create the generation's models and config, then the
--                       endpoint (Creating)
--   serves this generation
--                       nothing to do; once InService after a change, delete
--                       the other generations' models and configs, and make
--                       the endpoint's tags the spec's
--   InService, older generation
--                       create the new models and config (ReconcilingEndpoint),
--                       then, next sync, UpdateEndpoint (Updating)
--   the update to this generation was rolled back
--                       InService on the old config; `additional` says why,
--                       and nothing is retried until the spec changes again
--   Failed, older generation (the spec was fixed after the endpoint failed)
--                       a Failed endpoint cannot be updated: delete it, and
--                       create it again from the fixed spec
--   Creating, Updating, ...
--                       wait; a spec changed meanwhile is applied once InService
-- The first two columns of "one sync" are decided from SageMaker and the
-- status (observedGeneration, and the endpointStatus the last sync wrote),
-- never from memory, so a restarted operator carries on where it stopped.
local convert = require("operator.convert")
local hosting = require("kinds.lib.hosting")
local json = require("smop.json")

local M = {
  kind = "HostingDeployment",
  plural = "hostingdeployments",
  status_field = "endpointStatus",
  ready = { InService = true },
  failed = { Failed = true },
  -- an endpoint lives until it is deleted: never terminal, but watched
  -- through ListEndpoints (operator.sweep) rather than described every poll
  terminal = {},
  sweep = { list = "ListEndpoints", items = "Endpoints", name = "EndpointName" },
}

M.RECONCILING = "ReconcilingEndpoint"

-- Spec fields that are the HostingDeployment's own, not CreateEndpointConfig's.
local OWN_FIELDS = { models = true, endpointName = true, retainAllVariantProperties = true,
  excludeRetainedVariantProperties = true }

-- States that end on their own; DeleteEndpoint and UpdateEndpoint refuse them.
local MOVING = { Creating = true, Updating = true, SystemUpdating = true, RollingBack = true,
  Deleting = true }

local function uid_of(obj)
  return (tostring(obj.metadata.uid or ""):gsub("-", ""))
end

local function endpoint_name(obj, ctx)
  return (obj.status or {}).endpointName or obj.spec.endpointName or ctx.sagemaker_name(hosting.MAX_NAME)
end

function M.config_name(obj, generation)
  return hosting.name(obj.metadata.name, "g" .. generation .. "-" .. uid_of(obj))
end

function M.model_name(obj, spec_name, i, generation)
  return hosting.name(spec_name, "g" .. generation .. "-m" .. i .. "-" .. uid_of(obj))
end

function M.endpoint_url(region, name)
  return string.format("https://runtime.sagemaker.%s.amazonaws.com/endpoints/%s/invocations", region, name)
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return setmetatable(out, getmetatable(t))
end

-- ---- what a generation of the spec asks for ----

-- The CreateModel fields of spec.models[i]: one container is the primary
-- container (the one primaryContainer names, or the only one); several are
-- an inference pipeline, sent as Containers (the old operator's rule).
local function model_fields(m, i)
  local fields = {}
  for k, v in pairs(m) do
    if k ~= "name" and k ~= "primaryContainer" and k ~= "containers" then fields[k] = v end
  end
  local containers = m.containers or {}
  if #containers > 1 then
    fields.containers = containers
    return fields
  end
  local primary = containers[1]
  if m.primaryContainer ~= nil and (primary or {}).containerHostname ~= m.primaryContainer then
    return nil, string.format("spec.models[%d].primaryContainer: model '%s' has no container with "
      .. "containerHostname '%s'", i, tostring(m.name), tostring(m.primaryContainer))
  end
  if not primary then
    return nil, string.format("spec.models[%d].containers: model '%s' needs a container", i, tostring(m.name))
  end
  fields.primaryContainer = primary
  return fields
end

-- { models = { {spec_name, name, req} }, config = {name, req}, model_names
-- (status form) } for generation g, or nil, message naming the spec field.
function M.plan(obj, ctx, g)
  local spec = obj.spec
  local index, models = {}, {}
  local model_names = json.array({})
  for i, m in ipairs(spec.models or {}) do
    if index[m.name] then
      return nil, string.format("spec.models[%d].name: '%s' names another model too", i, tostring(m.name))
    end
    index[m.name] = i
    local fields, err = model_fields(m, i)
    if not fields then return nil, err end
    fields.tags = spec.tags
    local name = M.model_name(obj, m.name, i, g)
    local req = ctx.to_api("sagemaker", "CreateModel", fields)
    req.ModelName = name
    models[i] = { spec_name = m.name, name = name, req = req }
    model_names[i] = { name = m.name, value = name }
  end
  local fields = {}
  for k, v in pairs(spec) do
    if not OWN_FIELDS[k] then fields[k] = v end
  end
  local variants = json.array({})
  for i, v in ipairs(spec.productionVariants or {}) do
    local at = index[v.modelName]
    if not at then
      return nil, string.format("spec.productionVariants[%d].modelName: '%s' is not the name of one of "
        .. "spec.models", i, tostring(v.modelName))
    end
    variants[i] = copy(v)
    variants[i].modelName = models[at].name
  end
  fields.productionVariants = variants
  local req = ctx.to_api("sagemaker", "CreateEndpointConfig", fields)
  req.EndpointConfigName = M.config_name(obj, g)
  return { models = models, config = { name = req.EndpointConfigName, req = req },
    model_names = model_names }
end

-- ---- status ----

-- The status form of DescribeEndpoint's ProductionVariants: the fields the
-- CRD keeps (any other would be pruned, and look changed at every sync).
local VARIANT = {
  variantName = true, currentWeight = true, desiredWeight = true, currentInstanceCount = true,
  desiredInstanceCount = true,
  deployedImages = { specifiedImage = true, resolvedImage = true, resolutionTime = "time" },
  variantStatus = { status = true, statusMessage = true, startTime = "time" },
  currentServerlessConfig = { maxConcurrency = true, memorySizeInMB = true },
  desiredServerlessConfig = { maxConcurrency = true, memorySizeInMB = true },
}

local function pick(v, fields)
  if type(v) ~= "table" then return nil end
  if json.is_array(v) then
    local out = json.array({})
    for i, x in ipairs(v) do out[i] = pick(x, fields) or json.object({}) end
    return out
  end
  local out = {}
  for field, how in pairs(fields) do
    local x = v[field:sub(1, 1):upper() .. field:sub(2)]
    if x ~= nil and x ~= json.null then
      if how == "time" then
        out[field] = convert.time(x)
      elseif type(how) == "table" then
        out[field] = pick(x, how)
      else
        out[field] = x
      end
    end
  end
  return out
end

-- The whole status from a DescribeEndpoint answer. opts: status (instead of
-- SageMaker's), model_names, note (for `additional`, before FailureReason).
local function status_of(obj, desc, opts)
  opts = opts or {}
  local name = desc.EndpointName
  local notes = {}
  local parts = { opts.rename, opts.note, desc.FailureReason }
  for i = 1, 3 do
    if parts[i] and parts[i] ~= "" then notes[#notes + 1] = parts[i] end
  end
  return {
    endpointStatus = opts.status or desc.EndpointStatus,
    endpointName = name,
    endpointArn = desc.EndpointArn,
    endpointConfigName = desc.EndpointConfigName,
    endpointUrl = M.endpoint_url(obj.spec.region, name),
    creationTime = convert.time(desc.CreationTime),
    lastModifiedTime = convert.time(desc.LastModifiedTime),
    failureReason = desc.FailureReason,
    productionVariants = desc.ProductionVariants and pick(desc.ProductionVariants, VARIANT) or nil,
    modelNames = opts.model_names or (obj.status or {}).modelNames,
    additional = #notes > 0 and table.concat(notes, "; ") or nil,
  }
end

-- ---- steps ----

local function describe(sm, ep)
  local desc, err = sm:call("DescribeEndpoint", { EndpointName = ep })
  if desc or hosting.not_found(err) then return desc end
  return nil, err
end

-- Creates generation p's models, then its config (each idempotent).
local function ensure_children(sm, ctx, p)
  for _, m in ipairs(p.models) do
    local created, err = hosting.create(sm, "CreateModel", m.req)
    if created == nil then return nil, err end
    if created then ctx.event("Normal", "Created", "Created SageMaker model " .. m.name) end
  end
  local created, err = hosting.create(sm, "CreateEndpointConfig", p.config.req)
  if created == nil then return nil, err end
  if created then ctx.event("Normal", "Created", "Created SageMaker endpoint config " .. p.config.name) end
  return true
end

-- Deletes this object's endpoint configs, then models (all of them carry
-- its UID), except those in keep. Returns the names deleted, or nil, err.
local function delete_children(sm, obj, keep)
  local uid = uid_of(obj)
  local deleted = {}
  for _, kind in ipairs({
    { list = "ListEndpointConfigs", items = "EndpointConfigs", member = "EndpointConfigName",
      delete = "DeleteEndpointConfig" },
    { list = "ListModels", items = "Models", member = "ModelName", delete = "DeleteModel" },
  }) do
    local names, err = hosting.names(sm, kind.list, kind.items, kind.member, uid)
    if not names then return nil, err end
    table.sort(names)
    for _, name in ipairs(names) do
      if not keep[name] then
        local gone, derr = hosting.delete(sm, kind.delete, { [kind.member] = name })
        if gone == nil then return nil, derr end
        if gone then deleted[#deleted + 1] = name end
      end
    end
  end
  return deleted
end

local function cleanup(sm, ctx, obj, p)
  local keep = { [p.config.name] = true }
  for _, m in ipairs(p.models) do keep[m.name] = true end
  local deleted, err = delete_children(sm, obj, keep)
  if not deleted then return nil, err end
  if #deleted > 0 then
    ctx.event("Normal", "DeletedOld", "Deleted the models and endpoint configs the endpoint no longer "
      .. "serves: " .. table.concat(deleted, ", "))
  end
  return true
end

-- Whether the endpoint (InService on another config, with a FailureReason)
-- already tried the config `want` and rolled back: want exists and is older
-- than the endpoint's last change. Returns the answer, or nil, err.
local function rolled_back(sm, desc, want)
  if not desc.FailureReason then return false end
  local cfg, err = sm:call("DescribeEndpointConfig", { EndpointConfigName = want })
  if not cfg then
    if hosting.not_found(err) then return false end
    return nil, err
  end
  return tonumber(cfg.CreationTime) < tonumber(desc.LastModifiedTime)
end

local function create(sm, ctx, obj, ep, p)
  local ok, err = ensure_children(sm, ctx, p)
  if not ok then return nil, err end
  local req = ctx.to_api("sagemaker", "CreateEndpoint", { tags = obj.spec.tags })
  req.EndpointName, req.EndpointConfigName = ep, p.config.name
  local created, cerr = hosting.create(sm, "CreateEndpoint", req)
  if created == nil then return nil, cerr end
  if created then ctx.event("Normal", "Created", "Created SageMaker endpoint " .. ep) end
  local desc, derr = describe(sm, ep)
  if not desc then return nil, derr or ("SageMaker endpoint " .. ep .. " was created but cannot be found") end
  ctx.watch_changes(ep, desc.LastModifiedTime)
  return status_of(obj, desc, { model_names = p.model_names })
end

local function update(sm, ctx, obj, ep, p)
  local req = ctx.to_api("sagemaker", "UpdateEndpoint", {
    retainAllVariantProperties = obj.spec.retainAllVariantProperties,
    excludeRetainedVariantProperties = obj.spec.excludeRetainedVariantProperties,
  })
  req.EndpointName, req.EndpointConfigName = ep, p.config.name
  local _, err = sm:call("UpdateEndpoint", req)
  if err then return nil, err end
  ctx.event("Normal", "Updating",
    "Updating SageMaker endpoint " .. ep .. " to endpoint config " .. p.config.name)
  local desc, derr = describe(sm, ep)
  if not desc then return nil, derr or ("SageMaker endpoint " .. ep .. " no longer exists") end
  ctx.watch_changes(ep, desc.LastModifiedTime)
  return status_of(obj, desc, { model_names = p.model_names })
end

function M.reconcile(obj, ctx)
  local sm = ctx.aws("sagemaker")
  local st = obj.status or {}
  local g = obj.metadata.generation
  local ep = endpoint_name(obj, ctx)
  local p, perr = M.plan(obj, ctx, g)
  if not p then return nil, perr end
  local rename
  if st.endpointName and obj.spec.endpointName and obj.spec.endpointName ~= st.endpointName then
    rename = string.format("spec.endpointName changed to '%s' after endpoint %s was created; an "
      .. "endpoint cannot be renamed, so the change is not applied", obj.spec.endpointName, ep)
  end

  local desc, err = describe(sm, ep)
  if err then return nil, err end
  if not desc then return create(sm, ctx, obj, ep, p) end
  ctx.watch_changes(ep, desc.LastModifiedTime)

  local state = desc.EndpointStatus
  local want = p.config.name
  -- the spec was applied, or its failure reported: nothing left to do
  local settled = (st.endpointStatus == "InService" or st.endpointStatus == "Failed")
    and st.observedGeneration == g
  local pending = type(desc.PendingDeploymentSummary) == "table"
    and desc.PendingDeploymentSummary.EndpointConfigName or nil

  if desc.EndpointConfigName == want or pending == want then
    if state == "InService" and not settled then
      local ok, cerr = cleanup(sm, ctx, obj, p)
      if not ok then return nil, cerr end
      local _, terr = hosting.sync_tags(sm, desc.EndpointArn,
        ctx.to_api("sagemaker", "CreateEndpoint", { tags = obj.spec.tags }).Tags)
      if terr then return nil, terr end
    end
    -- gone once deleted: ListEndpoints cannot say so, so look again
    return status_of(obj, desc, { model_names = p.model_names, rename = rename }),
      state == "Deleting" and ctx.poll_interval or nil
  end

  if state == "InService" then
    if st.endpointStatus == M.RECONCILING and st.observedGeneration == g then
      return update(sm, ctx, obj, ep, p)
    end
    local failed = settled
    if not failed then
      local rerr
      failed, rerr = rolled_back(sm, desc, want)
      if failed == nil then return nil, rerr end
      if failed then
        ctx.event("Warning", "UpdateFailed", string.format("Updating SageMaker endpoint %s to %s failed "
          .. "and was rolled back: %s", ep, want, tostring(desc.FailureReason)))
      end
    end
    if failed then
      return status_of(obj, desc, { model_names = p.model_names, rename = rename,
        note = string.format("the update to endpoint config %s failed and SageMaker rolled it back; the "
          .. "endpoint serves %s (change the spec to try again)", want, desc.EndpointConfigName) })
    end
    local ok, cerr = ensure_children(sm, ctx, p)
    if not ok then return nil, cerr end
    -- UpdateEndpoint at the next sync, at once: the status shows this step
    return status_of(obj, desc, { status = M.RECONCILING, model_names = p.model_names, rename = rename,
      note = "created the models and endpoint config of generation " .. g .. "; updating the endpoint" }), 0
  end

  if state == "Failed" and not settled then
    local _, derr = hosting.delete(sm, "DeleteEndpoint", { EndpointName = ep })
    if derr then return nil, derr end
    ctx.event("Normal", "Deleting", "The spec changed after SageMaker endpoint " .. ep .. " failed: "
      .. "deleting it to create it again from the new spec")
    return status_of(obj, desc, { status = "Deleting", rename = rename,
      note = "deleting the failed endpoint to create it again from the new spec" }), ctx.poll_interval
  end

  if state == "Deleting" then
    return status_of(obj, desc, { rename = rename,
      note = "the endpoint is being deleted; it is created again from the spec once it is gone" }),
      ctx.poll_interval
  end
  local note
  if state ~= "Failed" then
    note = string.format("the spec changed; it is applied once the endpoint is InService (now %s)", state)
  end
  return status_of(obj, desc, { rename = rename, note = note })
end

function M.finalize(obj, ctx)
  local sm = ctx.aws("sagemaker")
  local ep = endpoint_name(obj, ctx)
  local desc, err = describe(sm, ep)
  if err then return nil, err end
  if desc then
    local state = desc.EndpointStatus
    if state == "Deleting" then return false, status_of(obj, desc), ctx.poll_interval end
    if MOVING[state] then
      return false, status_of(obj, desc, { note = "deleting: waiting for the endpoint to leave " .. state }),
        ctx.poll_interval
    end
    local _, derr = hosting.delete(sm, "DeleteEndpoint", { EndpointName = ep })
    if derr then return nil, derr end
    ctx.event("Normal", "Deleting", "Deleting SageMaker endpoint " .. ep)
    return false, status_of(obj, desc, { status = "Deleting" }), ctx.poll_interval
  end
  local deleted, derr = delete_children(sm, obj, {})
  if not deleted then return nil, derr end
  if #deleted > 0 then
    ctx.event("Normal", "Deleted", "Deleted SageMaker endpoint " .. ep .. ", endpoint configs and models: "
      .. table.concat(deleted, ", "))
  end
  return true
end

return M
