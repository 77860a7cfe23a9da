-- What every SageMaker job kind shares (training, processing, transform,
-- tuning): create the job once under a deterministic name, mirror its
-- Describe into the status, stop it when the object is deleted. A kind
-- script describes its job and adds what is its own:
--
--   local job = require("kinds.lib.job")
--   return job.new{
--     kind = "ProcessingJob", plural = "processingjobs",
--     status_field = "processingJobStatus",       -- the SageMaker status, verbatim
--     noun = "processing job",                    -- for messages and Events
--     name_status = "sageMakerProcessingJobName", -- where the SageMaker name is kept
--     name_spec = "processingJobName",            -- a spec field naming the job (optional)
--     max_len = 63,                               -- of a generated name
--     api = { create = "CreateProcessingJob", describe = "DescribeProcessingJob",
--             stop = "StopProcessingJob", name = "ProcessingJobName",
--             status = "ProcessingJobStatus",
--             list = "ListProcessingJobs", items = "ProcessingJobSummaries" },  -- (optional)
--     status_from = function(desc, obj, name) return { ... } end,  -- the kind's own fields
--     stopping = function(desc) end,              -- (optional) how desc reads once stopped
--     after_describe = function(desc, obj, ctx, status, name) return status end,  -- (optional)
--     mirror_only = function(obj) return false end,  -- (optional) true: the job was launched by
--                                                 -- someone else (a tuning job); never create it
--     after_finalize = function(obj, ctx, status) return true end,  -- (optional) once the job
--       is over (status nil: it never existed); finalize's returns (true when done)
--   }
--
-- The status is status_from's fields plus the SageMaker status, the name and
-- `additional` (SageMaker's FailureReason). Jobs cannot change in SageMaker:
-- a spec changed after the create is not applied, and `additional` says so
-- from then on (the message itself is the marker, so it is not lost at the
-- next sync). A spec changed while no job exists yet (a create that failed
-- validation, say) is simply used by the next create.
--
-- With api.list and api.items the kind gets change detection: a running
-- job is described again when the controller's sweep sees its
-- LastModifiedTime move (operator.sweep), not every poll interval.
local M = {}

M.TERMINAL = { Completed = true, Failed = true, Stopped = true }

-- On a TrainingJob that mirrors a training job a tuning job launched: the
-- tuning job's SageMaker name.
M.TUNING_JOB_LABEL = "sagemaker.aws.amazon.com/tuning-job-name"

M.IMMUTABLE = "the spec changed after the %s was created; a SageMaker %s cannot be changed, so "
  .. "the change is not applied (delete this object and apply it again to run a new one)"

-- Whether err says the job does not exist (SageMaker answers ValidationException
-- "Requested resource not found." for training jobs, "Could not find requested
-- job with name ..." for processing and transform jobs, ResourceNotFound for
-- tuning jobs).
function M.not_found(err)
  if type(err) ~= "table" then return false end
  if err.code == "ResourceNotFound" then return true end
  local text = tostring(err.message)
  return err.code == "ValidationException"
    and (text:find("not found", 1, true) ~= nil or text:find("does not exist", 1, true) ~= nil
      or text:find("Could not find requested job", 1, true) ~= nil)
end

-- `a; b`, leaving out what is missing.
function M.join(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local p = select(i, ...)
    if p and p ~= "" then parts[#parts + 1] = p end
  end
  return #parts > 0 and table.concat(parts, "; ") or nil
end

function M.new(def)
  local api = def.api
  local immutable = string.format(M.IMMUTABLE, def.noun, def.noun)
  local kind = {
    kind = def.kind, plural = def.plural, status_field = def.status_field,
    ready = def.ready or { Completed = true },
    failed = def.failed or { Failed = true },
    terminal = def.terminal or M.TERMINAL,
    sweep = api.list and { list = api.list, items = api.items, name = api.name } or nil,
  }

  local function job_name(obj, ctx)
    return (obj.status or {})[def.name_status] or (def.name_spec and obj.spec[def.name_spec])
      or ctx.sagemaker_name(def.max_len or 63)
  end
  kind.job_name = job_name

  -- Whether the spec changed after the job was created: generation moved
  -- past what the last status write saw, or an earlier sync said so. (A
  -- delete moves the generation too, when it sets deletionTimestamp.)
  local function changed_after_create(obj)
    local st = obj.status or {}
    if not st[def.name_status] then return false end
    if st.observedGeneration and obj.metadata.generation ~= st.observedGeneration
      and not obj.metadata.deletionTimestamp then
      return true
    end
    return tostring(st.additional or ""):find(immutable, 1, true) ~= nil
  end

  local function status_of(desc, obj, name, immutable_note)
    local status = def.status_from and def.status_from(desc, obj, name) or {}
    status[def.status_field] = desc[api.status]
    status[def.name_status] = name
    status.additional = M.join(desc.FailureReason, immutable_note and immutable or nil)
    return status
  end

  function kind.reconcile(obj, ctx)
    local sm = ctx.aws("sagemaker")
    local name = job_name(obj, ctx)
    local note = changed_after_create(obj)
    if not (obj.status or {})[def.name_status] and not (def.mirror_only and def.mirror_only(obj)) then
      local req = ctx.to_api("sagemaker", api.create, obj.spec)
      req[api.name] = name
      local _, err = sm:call(api.create, req)
      if not err then
        ctx.event("Normal", "Created", "Created SageMaker " .. def.noun .. " " .. name)
      elseif err.code ~= "ResourceInUse" then   -- in use: an earlier sync created it
        return nil, err
      end
    end
    local desc, err = sm:call(api.describe, { [api.name] = name })
    if not desc then
      if M.not_found(err) then
        return nil, string.format("SageMaker %s %s no longer exists; delete this object and apply "
          .. "it again", def.noun, name)
      end
      return nil, err
    end
    if note and not tostring((obj.status or {}).additional or ""):find(immutable, 1, true) then
      ctx.event("Warning", "SpecChangeIgnored", immutable)
    end
    if kind.sweep then ctx.watch_changes(name, desc.LastModifiedTime) end
    local status = status_of(desc, obj, name, note)
    if def.after_describe then return def.after_describe(desc, obj, ctx, status, name) end
    return status
  end

  local function finished(obj, ctx, status)
    if def.after_finalize then return def.after_finalize(obj, ctx, status) end
    return true
  end

  function kind.finalize(obj, ctx)
    local sm = ctx.aws("sagemaker")
    local name = job_name(obj, ctx)
    local desc, err = sm:call(api.describe, { [api.name] = name })
    if not desc then
      if M.not_found(err) then return finished(obj, ctx, nil) end
      return nil, err
    end
    local state = desc[api.status]
    if state == "InProgress" then
      local _, serr = sm:call(api.stop, { [api.name] = name })
      if serr then return nil, serr end
      ctx.event("Normal", "Stopping", "Stopping SageMaker " .. def.noun .. " " .. name)
      desc[api.status] = "Stopping"
      if def.stopping then def.stopping(desc) end
    elseif state ~= "Stopping" then
      return finished(obj, ctx, status_of(desc, obj, name, changed_after_create(obj)))
    end
    return false, status_of(desc, obj, name, changed_after_create(obj))
  end

  return kind
end

return M
