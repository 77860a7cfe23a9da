-- The lifecycle transform and processing jobs share (they differ in names
-- and answers, not in behaviour):
--
--   InProgress (started after `<kind>_startup` s) -> Completed after `<kind>` s
--   a failure injected for the job (ctx.failure_for) hits `job_fails_after`
--     s in: Failed, with that FailureReason
--   Stop* while InProgress: Stopping -> Stopped after `stopping` s
--
-- A family describes itself once with batchjob.new{...} and gets back the
-- store, refresh and stop functions, with log lines in `log_group`.
local common = require("fake.aws.sagemaker.common")

local M = {}

local D = common.durations
local TERMINAL = { Completed = true, Failed = true, Stopped = true }

-- spec: kind (store name), resource (ARN resource type), noun ("transform
-- job"), duration and startup (keys of common.durations), log_group,
-- instances(input) -> the job's instance count, stream(record, i) -> the
-- stream of instance i, lines(record) -> {started=, completed=}.
function M.new(spec)
  local family = {}

  -- Every instance of the job writes the line to its own stream, as in
  -- SageMaker. The names follow from the record, so nothing is stored.
  local function log(ctx, r, text, at)
    for i = 1, spec.instances(r.input) do
      ctx.log(spec.log_group, spec.stream(r, i), text, at)
    end
  end

  local function finish(ctx, r, at, status)
    r.status = status
    r.modified = at
    r.ended = at
    local lines = spec.lines(r)
    if status == "Completed" then
      log(ctx, r, lines.completed, at)
    elseif status == "Failed" then
      log(ctx, r, "Job failed: " .. r.failure_reason, at)
    else
      log(ctx, r, "Job stopped", at)
    end
  end

  function family.find(ctx, name)
    return common.store(ctx, spec.kind)[common.key(name)]
  end

  function family.create(ctx, name, input)
    local now = ctx.now()
    local r = {
      name = name,
      arn = ctx.arn(spec.resource, name),
      input = common.copy(input),
      created = now,
      modified = now,
      refreshed = now,
      status = "InProgress",
    }
    r.input.Tags = nil
    common.store(ctx, spec.kind)[common.key(name)] = r
    common.set_active(ctx, spec.kind, name, true)
    common.add_tags(ctx, r.arn, input.Tags)
    return r
  end

  -- Applies every transition due up to ctx.now(); a failure lands no
  -- earlier than the last look, so answers already given stay true.
  function family.refresh(ctx, r)
    local now = ctx.now()
    if r.status == "InProgress" then
      local start_at = r.created + D[spec.startup]
      if not r.started and start_at <= now then
        r.started = start_at
        r.modified = start_at
        log(ctx, r, spec.lines(r).started, start_at)
      end
      local end_at, status = r.created + D[spec.duration], "Completed"
      local reason = ctx.failure_for(r.name)
      if reason then
        local fail_at = math.max(r.created + D.job_fails_after, r.refreshed)
        if fail_at < end_at then end_at, status = fail_at, "Failed" end
      end
      if end_at <= now then
        if status == "Failed" then r.failure_reason = common.reason(reason) end
        if not r.started then r.started = end_at end
        finish(ctx, r, end_at, status)
      end
    elseif r.status == "Stopping" then
      local end_at = r.stop_at + D.stopping
      if end_at <= now then finish(ctx, r, end_at, "Stopped") end
    end
    r.refreshed = math.max(r.refreshed, now)
    if TERMINAL[r.status] then common.set_active(ctx, spec.kind, r.name, false) end
    return r
  end

  -- Stops r at ctx.now(). Returns true, or nil, error.
  function family.stop(ctx, r)
    family.refresh(ctx, r)
    if r.status == "Stopping" then return true end
    if r.status ~= "InProgress" then
      return nil, ctx.error("ValidationException", "The request was rejected because the " ..
        spec.noun .. " is in status " .. r.status .. ".")
    end
    local now = ctx.now()
    r.status = "Stopping"
    r.stop_at = now
    r.modified = now
    log(ctx, r, "Stopping the " .. spec.noun, now)
    return true
  end

  -- Brings every job of the region up to now; returns them all.
  function family.refresh_all(ctx)
    for _, r in ipairs(common.active(ctx, spec.kind)) do family.refresh(ctx, r) end
    return common.all(ctx, spec.kind)
  end

  return family
end

return M
