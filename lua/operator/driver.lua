-- The reconcile driver (DESIGN contract 2): everything about one sync of one
-- object that is the same for every kind, so kind scripts only map a spec
-- to AWS calls and AWS answers to a status. The contract kind scripts see is
-- written down in lua/README.md ("Kind scripts").
--
--   local res = driver.sync(env, obj [, res])  -- res: a table to fill (kept if the sync raises)
--   -- res.requeue_after: sync again after that many seconds (nil: only on change)
--   -- res.backoff: sync again after the key's rate-limited backoff
--   -- res.error: what went wrong, when the sync ended in Reconciling or Error
--   -- res.object: the newest version of obj this sync wrote (nil: none), and
--   -- res.written: the resourceVersions of every write, oldest first
--   -- res.watch: { region, endpoint, name, modified } for the controller's
--   -- change detection (operator.sweep), when the kind named its resource
--
-- env = { kind = <kind module>, kube = <kube.client>, events = <events recorder>,
--         aws = <operator.aws clients>, script_version = "...",
--         poll_interval = 30, error_interval = 300, status_refresh = 600,
--         safety_interval = nil | seconds (set when a sweep watches changes),
--         now = task.time }
--
-- The order of one sync, and why:
--  1. Deleting (deletionTimestamp) with our finalizer: kind.finalize; when it
--     says done, the finalizer goes (a merge patch carrying the object's
--     resourceVersion, so a stale view gets 409 instead of dropping someone
--     else's finalizer).
--  2. The finalizer is added (guarded the same way) BEFORE kind.reconcile can
--     create anything in AWS: nothing is ever created that a delete would
--     not stop.
--  3. The first status, SynchronizingK8sJobWithSageMaker, is written before
--     the first AWS call.
--  4. kind.reconcile; its status is written through /status with a merge
--     patch, only when it changed (operator.status).
--  5. Errors become statuses: retryable ones (throttling, 5xx, transport)
--     `Reconciling` and a rate-limited retry; the rest `Error` (validation,
--     access denied: a retry would fail the same way) with no hot loop.
--     Either way the reason is in `additional`, a Warning Event and a log line.
local convert = require("operator.convert")
local errors = require("aws.errors")
local json = require("smop.json")
local log = require("smop.log")
local model_loader = require("aws.model")
local naming = require("operator.naming")
local status = require("operator.status")
local task = require("smop.task")

local M = {}

M.FINALIZER = "sagemaker-operator-finalizer"
M.SYNCHRONIZING = "SynchronizingK8sJobWithSageMaker"
M.RECONCILING = "Reconciling"
M.ERROR = "Error"

local function copy(t)
  local out = {}
  for k, v in pairs(type(t) == "table" and t or {}) do out[k] = v end
  return out
end

local function now(env)
  return (env.now or task.time)()
end

-- The API path of a namespaced object whose resource is `plural`.
function M.object_path(obj, plural)
  local meta = obj.metadata
  local api = obj.apiVersion or "sagemaker.aws.amazon.com/v1"
  local prefix = api:find("/", 1, true) and ("/apis/" .. api) or ("/api/" .. api)
  return string.format("%s/namespaces/%s/%s/%s", prefix, meta.namespace, plural, meta.name)
end

local function path_of(env, obj)
  return M.object_path(obj, env.kind.plural)
end

local function fields_of(obj)
  local meta = obj.metadata or {}
  return { kind = obj.kind, namespace = meta.namespace, name = meta.name }
end

local function with(fields, extra)
  local out = copy(fields)
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

local function has_finalizer(meta)
  for _, f in ipairs(meta.finalizers or {}) do
    if f == M.FINALIZER then return true end
  end
  return false
end

local function message_of(err)
  if type(err) == "table" then
    if errors.is_error(err) then return tostring(err) end
    return tostring(err.message or err.reason or err.code or "unknown error")
  end
  return tostring(err)
end

-- Notes a version of obj this sync wrote.
local function wrote(res, obj, updated)
  if updated == obj then return end
  res.object = updated
  res.written[#res.written + 1] = updated.metadata.resourceVersion
end

-- Kube API errors are { code, reason, message }; a 409 means our view was
-- stale (the watch brings the newer object), anything else is logged.
local function failed_write(obj, what, err, res)
  local f = fields_of(obj)
  if type(err) == "table" and err.code == 409 then
    log.debug("object changed while syncing; retrying", with(f, { step = what }))
  else
    log.warn("could not " .. what, with(f, { error = message_of(err) }))
  end
  res.backoff = true
  return res
end

local function set_finalizers(env, obj, list)
  local body = { metadata = { resourceVersion = obj.metadata.resourceVersion,
    finalizers = #list > 0 and json.array(list) or json.null } }
  return env.kube:patch(path_of(env, obj), body, "merge")
end

local function write_status(env, obj, new)
  local patch = status.patch(obj.status, new, { now = now(env), refresh = env.status_refresh or 600 })
  if not patch then return obj end
  return env.kube:patch_status(path_of(env, obj), patch)
end

local function build(env, obj, fields, synced, message)
  return status.build({ old = obj.status, fields = fields, kind = env.kind,
    generation = obj.metadata.generation, synced = synced, message = message,
    now = now(env), script_version = env.script_version })
end

-- ---- the context kind scripts get ----

-- Spec fields that are the operator's, never sent to AWS (COMPAT.md).
local OPERATOR_FIELDS = { region = true, sageMakerEndpoint = true }

-- A client whose every call answers this error (the object's region or
-- endpoint is unusable): the kind script needs no extra branch for it.
local function broken_client(service, message)
  return { call = function(_, op)
    return nil, errors.new({ kind = "validation", code = "InvalidParameterValue", operation = op,
      message = string.format("cannot call %s: %s", service, message) })
  end }
end

-- ---- ctx.children: the objects a kind script keeps for its object ----
--
-- Narrow on purpose (a kind script may come from a ConfigMap): objects of
-- this group only, in the object's own namespace only; every object made
-- carries a controller ownerReference to the object (the garbage collector
-- deletes it with its owner) and M.OWNER_LABEL; list sees and delete touches
-- only objects owned so.

M.GROUP_VERSION = "sagemaker.aws.amazon.com/v1"
M.OWNER_LABEL = "sagemaker.aws.amazon.com/owner-uid"

local CHILD_KINDS = {
  batchtransformjobs = "BatchTransformJob", endpointconfigs = "EndpointConfig",
  hostingautoscalingpolicies = "HostingAutoscalingPolicy", hostingdeployments = "HostingDeployment",
  hyperparametertuningjobs = "HyperparameterTuningJob", models = "Model",
  processingjobs = "ProcessingJob", trainingjobs = "TrainingJob",
}

-- The owner's labels go to its children, so an install split by
-- --label-selector watches them too; Argo CD's tracking label does not (the
-- children would look like part of its application, and prunable).
local UNCOPIED_LABELS = { ["app.kubernetes.io/instance"] = true }

-- A DNS subdomain (an object name): nothing that could leave the path.
local function valid_name(name)
  return type(name) == "string" and #name <= 253 and name:match("^[a-z0-9][-a-z0-9.]*$") ~= nil
    and name:match("[a-z0-9]$") ~= nil
end

local function children(env, obj, plural)
  local kind = CHILD_KINDS[plural]
  if not kind then
    error("ctx.children: " .. tostring(plural) .. " is not a resource of " .. M.GROUP_VERSION, 3)
  end
  local meta = obj.metadata
  local uid = meta.uid
  local base = string.format("/apis/%s/namespaces/%s/%s", M.GROUP_VERSION, meta.namespace, plural)
  local function owned(o)
    for _, r in ipairs((o.metadata or {}).ownerReferences or {}) do
      if r.uid == uid and r.controller == true then return true end
    end
    return false
  end
  local kids = {}
  function kids.list(_)
    local res, err = env.kube:list(base, { label_selector = M.OWNER_LABEL .. "=" .. uid })
    if not res then return nil, err end
    local out = json.array({})
    for _, item in ipairs(res.items) do
      if owned(item) then out[#out + 1] = item end
    end
    return out
  end
  function kids.create(_, child)
    local cmeta = child.metadata or {}
    if not valid_name(cmeta.name) then
      return nil, string.format("cannot create %s %q: not a valid object name", kind, tostring(cmeta.name))
    end
    local labels = {}
    for k, v in pairs(meta.labels or {}) do
      if not UNCOPIED_LABELS[k] then labels[k] = v end
    end
    for k, v in pairs(cmeta.labels or {}) do labels[k] = v end
    labels[M.OWNER_LABEL] = uid
    return env.kube:create(base, {
      apiVersion = M.GROUP_VERSION, kind = kind,
      metadata = { name = cmeta.name, namespace = meta.namespace, labels = labels,
        ownerReferences = json.array({ { apiVersion = obj.apiVersion or M.GROUP_VERSION, kind = obj.kind,
          name = meta.name, uid = uid, controller = true, blockOwnerDeletion = true } }) },
      spec = child.spec,
    })
  end
  function kids.delete(_, name)
    if not valid_name(name) then
      return nil, string.format("cannot delete %s %q: not a valid object name", kind, tostring(name))
    end
    local cur, err = env.kube:get(base .. "/" .. name)
    if not cur then
      if type(err) == "table" and err.code == 404 then return true end
      return nil, err
    end
    if not owned(cur) then
      return nil, string.format("%s %s is not owned by %s %s; not deleted", kind, name, obj.kind, meta.name)
    end
    if cur.metadata.deletionTimestamp then return true end
    -- the uid precondition: the object looked at is the object deleted
    local _, derr = env.kube:delete(base .. "/" .. name, { preconditions = { uid = cur.metadata.uid } })
    if derr and not (type(derr) == "table" and derr.code == 404) then return nil, derr end
    return true
  end
  return kids
end

function M.context(env, obj)
  local f = fields_of(obj)
  local spec = type(obj.spec) == "table" and obj.spec or {}
  local ctx = {}
  function ctx.aws(service)
    local endpoint = service == "sagemaker" and spec.sageMakerEndpoint or nil
    local c, err = env.aws:get(service, spec.region, endpoint)
    return c or broken_client(service, tostring(err))
  end
  function ctx.to_api(service, operation, value)
    local model = assert(model_loader.load(service))
    local op = model.operations[operation]
    if not op then error("ctx.to_api: " .. service .. " has no operation " .. tostring(operation), 2) end
    local req, unknown = convert.to_api(model, op.input.shape, value or spec, { skip = OPERATOR_FIELDS })
    for _, path in ipairs(unknown) do
      log.warn("spec field not in the " .. operation .. " request; ignored", with(f, { field = path }))
    end
    return req
  end
  function ctx.from_api(service, operation, answer)
    local model = assert(model_loader.load(service))
    local op = model.operations[operation]
    if not op then error("ctx.from_api: " .. service .. " has no operation " .. tostring(operation), 2) end
    return convert.from_api(model, op.input.shape, answer)
  end
  function ctx.children(plural)
    return children(env, obj, plural)
  end
  function ctx.sagemaker_name(max_len)
    return naming.for_object(obj, max_len)
  end
  function ctx.event(etype, reason, message)
    local fn = etype == "Warning" and log.warn or log.info
    fn(message, with(f, { event = reason, type = etype }))
    if env.events then env.events:emit(obj, etype, reason, message) end
  end
  function ctx.log(level, msg, fields)
    local fn = log[level] or log.info
    fn(msg, with(f, fields))
  end
  function ctx.now()
    return now(env)
  end
  -- Change detection: the script names the SageMaker resource it mirrors
  -- and its LastModifiedTime, and the controller's sweep (operator.sweep)
  -- wakes the object when that changes instead of polling it.
  local seen = {}
  function ctx.watch_changes(name, modified)
    seen.watch = { region = spec.region, endpoint = spec.sageMakerEndpoint, name = name,
      modified = tonumber(modified) }
  end
  ctx.poll_interval = env.poll_interval or 30
  return ctx, seen
end

-- ---- outcomes ----

local function retryable(err)
  if type(err) ~= "table" then return false end
  if errors.is_error(err) then return errors.retryable(err) end
  return err.retryable == true
end

-- nil, err from a kind script: Reconciling (retryable) or Error.
local function on_error(env, obj, err, res)
  local f = fields_of(obj)
  local retry = retryable(err)
  local message = message_of(err)
  res.error = message
  local fields = copy(obj.status)
  fields[env.kind.status_field] = retry and M.RECONCILING or M.ERROR
  fields.additional = message
  local updated, werr = write_status(env, obj, build(env, obj, fields, false, message))
  if not updated then return failed_write(obj, "write the status", werr, res) end
  wrote(res, obj, updated)
  local reason = (type(err) == "table" and type(err.code) == "string" and err.code)
    or (retry and "ReconcileRetry" or "ReconcileError")
  if env.events then env.events:emit(obj, "Warning", reason, message) end
  log.warn(retry and "retrying after an error" or "cannot sync", with(f, { error = message }))
  if retry then
    res.backoff = true
  elseif not (type(err) == "table" and err.kind == "validation") then
    -- access denied, a limit, a script's own verdict: look again later,
    -- slowly; a spec fix arrives as a watch event at once anyway
    res.requeue_after = env.error_interval or 300
  end
  return res
end

-- A status value change worth an Event: failures and arrivals.
local function transition_event(env, obj, old_value, new_fields)
  local kind = env.kind
  local value = new_fields[kind.status_field]
  if value == old_value or not env.events then return end
  local what = string.format("%s %s: %s", obj.kind or kind.kind, obj.metadata.name, tostring(value))
  if (kind.failed or {})[value] then
    local why = new_fields.additional
    env.events:emit(obj, "Warning", value, why and (what .. ": " .. why) or what)
  elseif (kind.ready or {})[value] then
    env.events:emit(obj, "Normal", value, what)
  end
end

-- watch: what ctx.watch_changes named. With a sweep (env.safety_interval
-- set by the controller) a watched object is described again only when the
-- sweep sees it change, or after the safety interval.
local function on_status(env, obj, fields, after, res, watch)
  local old_value = (obj.status or {})[env.kind.status_field]
  local updated, err = write_status(env, obj, build(env, obj, fields, true))
  if not updated then return failed_write(obj, "write the status", err, res) end
  wrote(res, obj, updated)
  transition_event(env, obj, old_value, fields)
  local terminal = (env.kind.terminal or {})[fields[env.kind.status_field]]
  if watch and not terminal and env.safety_interval then res.watch = watch end
  if after then
    res.requeue_after = after
  elseif res.watch then
    res.requeue_after = env.safety_interval
  elseif not terminal then
    res.requeue_after = env.poll_interval or 30
  end
  return res
end

-- A kind script that raised (a bug, the CPU budget, the memory cap): Error
-- with the script's message, looked at again slowly.
function M.script_failed(env, obj, message, res)
  res = res or { written = {} }
  res.backoff, res.requeue_after = nil, nil
  obj = res.object or obj
  local f = fields_of(obj)
  message = "kind script failed: " .. tostring(message)
  log.error("kind script failed", with(f, { error = message }))
  local fields = copy(obj.status)
  fields[env.kind.status_field] = M.ERROR
  fields.additional = message
  local updated, err = write_status(env, obj, build(env, obj, fields, false, message))
  if not updated then return failed_write(obj, "write the status", err, res) end
  wrote(res, obj, updated)
  if env.events then env.events:emit(obj, "Warning", "ScriptError", message) end
  res.requeue_after = env.error_interval or 300
  return res
end

-- ---- the sync ----

local function finalize(env, obj, res)
  local ctx = M.context(env, obj)
  local done, st, after = env.kind.finalize(obj, ctx)
  if done == nil then return on_error(env, obj, st, res) end
  if done then
    local keep = {}
    for _, f in ipairs(obj.metadata.finalizers or {}) do
      if f ~= M.FINALIZER then keep[#keep + 1] = f end
    end
    local _, err = set_finalizers(env, obj, keep)
    if err and not (type(err) == "table" and err.code == 404) then
      return failed_write(obj, "remove the finalizer", err, res)
    end
    log.info("finalized; finalizer removed", fields_of(obj))
    return res
  end
  if st then
    local updated, err = write_status(env, obj, build(env, obj, st, true))
    if not updated then return failed_write(obj, "write the status", err, res) end
    wrote(res, obj, updated)
  end
  res.requeue_after = after or env.poll_interval or 30
  return res
end

function M.sync(env, obj, res)
  res = res or { written = {} }
  res.written = res.written or {}
  local meta = obj.metadata
  if meta.deletionTimestamp then
    if not has_finalizer(meta) then return res end
    return finalize(env, obj, res)
  end
  if not has_finalizer(meta) then
    local list = copy(meta.finalizers)
    list[#list + 1] = M.FINALIZER
    local updated, err = set_finalizers(env, obj, list)
    if not updated then return failed_write(obj, "add the finalizer", err, res) end
    wrote(res, obj, updated)
    obj = updated
  end
  if (obj.status or {})[env.kind.status_field] == nil then
    local fields = copy(obj.status)
    fields[env.kind.status_field] = M.SYNCHRONIZING
    local updated, err = write_status(env, obj, build(env, obj, fields, true))
    if not updated then return failed_write(obj, "write the first status", err, res) end
    wrote(res, obj, updated)
    obj = updated
  end
  local ctx, seen = M.context(env, obj)
  local st, after = env.kind.reconcile(obj, ctx)
  if st == nil then return on_error(env, obj, after, res) end
  return on_status(env, obj, st, after, res, seen.watch)
end

return M
