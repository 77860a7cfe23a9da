-- What the hosting kinds share (Model, EndpointConfig, HostingDeployment):
-- SageMaker models and endpoint configurations have no lifecycle of their
-- own, so they are created once under a deterministic name (a create that
-- meets "already existing" found what an earlier, interrupted sync made),
-- compared with the spec when it changes, and deleted with the object.
--
--   local hosting = require("kinds.lib.hosting")
--   hosting.create(sm, "CreateModel", req)      -- true (created) | false (was there) | nil, err
--   hosting.delete(sm, "DeleteModel", params)   -- true (deleted) | false (was not there) | nil, err
--   hosting.differs("CreateModel", req, desc)   -- the first member where desc is not req, or nil
--   hosting.sync_tags(sm, arn, req.Tags)        -- make the resource's tags these
--   hosting.names(sm, "ListModels", "Models", "ModelName", part)  -- names containing part
--   hosting.static{...}                         -- a kind for one resource (Model, EndpointConfig)
local json = require("smop.json")
local model_loader = require("aws.model")

local M = {}

M.CREATED = "Created"
M.MAX_NAME = 63

-- SageMaker says "Could not find model|endpoint configuration|endpoint ..."
-- for a name that does not exist.
function M.not_found(err)
  return type(err) == "table" and err.code == "ValidationException"
    and tostring(err.message):find("Could not find", 1, true) ~= nil
end

-- "Cannot create already existing model|endpoint configuration|endpoint ...".
function M.already_exists(err)
  if type(err) ~= "table" then return false end
  if err.code == "ResourceInUse" then return true end
  return err.code == "ValidationException"
    and tostring(err.message):find("Cannot create already existing", 1, true) ~= nil
end

function M.create(sm, op, req)
  local _, err = sm:call(op, req)
  if not err then return true end
  if M.already_exists(err) then return false end
  return nil, err
end

function M.delete(sm, op, params)
  local _, err = sm:call(op, params)
  if not err then return true end
  if M.not_found(err) then return false end
  return nil, err
end

-- ---- comparing a request with what SageMaker describes ----

-- Values SageMaker fills in when a request leaves them out.
local DEFAULTS = { Mode = "SingleModel", EnableNetworkIsolation = false, InitialVariantWeight = 1 }

local function absent(v, key)
  if v == nil or v == json.null then return true end
  if type(v) == "table" and next(v) == nil then return true end
  return DEFAULTS[key] ~= nil and v == DEFAULTS[key]
end

local function same(a, b, key)
  if absent(a, key) and absent(b, key) then return true end
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then return math.abs(a - b) < 1e-9 end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not same(v, b[k], k) then return false end
  end
  for k, v in pairs(b) do
    if a[k] == nil and not absent(v, k) then return false end
  end
  return true
end

-- The first member of op's request (its name and Tags aside, which
-- Describe does not echo) where desc differs from req, or nil. Anything
-- SageMaker adds beyond its known defaults counts as a difference: a
-- false difference costs one needless re-create, a missed one a lost edit.
function M.differs(op, req, desc)
  local model = assert(model_loader.load("sagemaker"))
  local shape = model.shapes[model.operations[op].input.shape]
  local members = {}
  for member in pairs(shape.members) do members[#members + 1] = member end
  table.sort(members)
  local own_name = op:gsub("^Create", "") .. "Name"
  for _, member in ipairs(members) do
    if member ~= "Tags" and member ~= own_name and not same(req[member], desc[member], member) then
      return member
    end
  end
  return nil
end

-- ---- tags ----

local MAX_PAGES = 20

-- Makes the tags of arn exactly `want` (a request's Tags: {Key, Value}),
-- leaving AWS's own `aws:` tags alone: the object owns its resource's tags,
-- so an edit or a removal in the spec is applied, not ignored.
-- Returns true when it changed something, or nil, err.
function M.sync_tags(sm, arn, want)
  local have, token = {}, nil
  for _ = 1, MAX_PAGES do
    local out, err = sm:call("ListTags", { ResourceArn = arn, NextToken = token })
    if not out then return nil, err end
    for _, t in ipairs(out.Tags or {}) do have[t.Key] = t.Value or "" end
    token = out.NextToken
    if not token then break end
  end
  local add, wanted = json.array({}), {}
  for _, t in ipairs(want or {}) do
    wanted[t.Key] = true
    if have[t.Key] ~= (t.Value or "") then add[#add + 1] = { Key = t.Key, Value = t.Value or "" } end
  end
  local drop = json.array({})
  for key in pairs(have) do
    if not wanted[key] and key:sub(1, 4) ~= "aws:" then drop[#drop + 1] = key end
  end
  table.sort(drop)
  if #drop > 0 then
    local _, err = sm:call("DeleteTags", { ResourceArn = arn, TagKeys = drop })
    if err then return nil, err end
  end
  if #add > 0 then
    local _, err = sm:call("AddTags", { ResourceArn = arn, Tags = add })
    if err then return nil, err end
  end
  return #add > 0 or #drop > 0
end

-- ---- names ----

-- `prefix-suffix`, the prefix cut so the whole fits max_len (63). The
-- suffix carries what makes the name unique and is never cut; a Kubernetes
-- name's dots become dashes (SageMaker names allow none).
function M.name(prefix, suffix, max_len)
  local room = (max_len or M.MAX_NAME) - #suffix - 1
  prefix = tostring(prefix or ""):gsub("%.", "-")
  if room < 1 then return suffix end
  return prefix:sub(1, room) .. "-" .. suffix
end

-- The names of a kind's resources containing `part` (ListModels, ...), or
-- nil, err.
function M.names(sm, op, items, member, part)
  local out, token = {}, nil
  for _ = 1, MAX_PAGES do
    local page, err = sm:call(op, { NameContains = part, MaxResults = 100, NextToken = token })
    if not page then return nil, err end
    for _, item in ipairs(page[items] or {}) do out[#out + 1] = item[member] end
    token = page.NextToken
    if not token then break end
  end
  return out
end

-- ---- one resource without a lifecycle: Model, EndpointConfig ----

M.RECREATE = "the spec changed (%s): a SageMaker %s cannot be changed, so %s was deleted and "
  .. "created again from the new spec"

-- def = { kind, plural, noun, name_status, arn_status,
--         api = { create, describe, delete, name, arn },
--         create_error = function(err) return err end }   -- (optional)
--
-- status.status is `Created` once the resource exists and matches the spec
-- (the old operator's value); the driver's own values are
-- SynchronizingK8sJobWithSageMaker, Reconciling and Error. Created is
-- terminal: such a resource never changes on its own, so it is not polled;
-- it is looked at again when the object changes (or at the informer's
-- resync). A spec change re-creates the resource under the same name, as
-- the old operator did.
function M.static(def)
  local api = def.api
  local kind = {
    kind = def.kind, plural = def.plural, status_field = "status",
    ready = { [M.CREATED] = true }, failed = {}, terminal = { [M.CREATED] = true },
  }

  local function name_of(obj, ctx)
    return (obj.status or {})[def.name_status] or ctx.sagemaker_name(M.MAX_NAME)
  end

  local function describe(sm, name)
    local desc, err = sm:call(api.describe, { [api.name] = name })
    if desc or M.not_found(err) then return desc end
    return nil, err
  end

  function kind.reconcile(obj, ctx)
    local sm = ctx.aws("sagemaker")
    local st = obj.status or {}
    local name = name_of(obj, ctx)
    local req = ctx.to_api("sagemaker", api.create, obj.spec)
    req[api.name] = name
    -- Created for this generation: the spec was applied; otherwise (new
    -- generation, or an error since) compare it with SageMaker again.
    local settled = st.status == M.CREATED and st.observedGeneration == obj.metadata.generation
    local desc, err = describe(sm, name)
    if err then return nil, err end
    if desc and not settled then
      local member = M.differs(api.create, req, desc)
      if member then
        local _, derr = M.delete(sm, api.delete, { [api.name] = name })
        if derr then return nil, derr end
        ctx.event("Normal", "Recreating", string.format(M.RECREATE, member, def.noun, name))
        desc = nil
      end
    end
    local fresh = false
    if not desc then
      local created, cerr = M.create(sm, api.create, req)
      if created == nil then return nil, def.create_error and def.create_error(cerr) or cerr end
      if created then ctx.event("Normal", "Created", "Created SageMaker " .. def.noun .. " " .. name) end
      fresh = true
      desc, err = describe(sm, name)
      if not desc then
        return nil, err or string.format("SageMaker %s %s was created but cannot be found", def.noun, name)
      end
    end
    if not settled and not fresh then
      local _, terr = M.sync_tags(sm, desc[api.arn], req.Tags)
      if terr then return nil, terr end
    end
    return { status = M.CREATED, [def.name_status] = name, [def.arn_status] = desc[api.arn] }
  end

  function kind.finalize(obj, ctx)
    local sm = ctx.aws("sagemaker")
    local name = name_of(obj, ctx)
    local deleted, err = M.delete(sm, api.delete, { [api.name] = name })
    if deleted == nil then return nil, err end
    if deleted then ctx.event("Normal", "Deleted", "Deleted SageMaker " .. def.noun .. " " .. name) end
    return true
  end

  return kind
end

return M
