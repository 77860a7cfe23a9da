-- operator.status: the status document the driver writes, and the merge
-- patch that writes it only when something changed.
local json = require("smop.json")
local status = require("operator.status")

local KIND = { status_field = "trainingJobStatus", ready = { Completed = true } }
local T0 = 1795435200 -- 2026-11-23T12:00:00Z

local function build(old, fields, extra)
  local o = { old = old, fields = fields, kind = KIND, generation = 3, synced = true, now = T0,
    script_version = "v1" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return status.build(o)
end

local function cond(st, ctype)
  for _, c in ipairs(st.conditions) do
    if c.type == ctype then return c end
  end
end

describe("operator.status", function()
  it("adds conditions, observedGeneration, lastCheckTime and scriptVersion", function()
    local st = build(nil, { trainingJobStatus = "InProgress", secondaryStatus = "Training" })
    assert.are.equal(3, st.observedGeneration)
    assert.are.equal("2026-11-23T12:00:00Z", st.lastCheckTime)
    assert.are.equal("v1", st.scriptVersion)
    assert.are.same({ type = "Ready", status = "False", reason = "InProgress", message = "",
      lastTransitionTime = "2026-11-23T12:00:00Z", observedGeneration = 3 }, cond(st, "Ready"))
    assert.are.equal("True", cond(st, "Synced").status)
    assert.is_true(json.is_array(st.conditions))
  end)

  it("says Ready when the kind's status value means it, and keeps transition times", function()
    local first = build(nil, { trainingJobStatus = "Completed" })
    assert.are.equal("True", cond(first, "Ready").status)
    local later = build(first, { trainingJobStatus = "Completed" }, { now = T0 + 600 })
    assert.are.equal("2026-11-23T12:00:00Z", cond(later, "Ready").lastTransitionTime)
    local failed = build(later, { trainingJobStatus = "Error", additional = "boom" },
      { now = T0 + 900, synced = false, message = "boom" })
    assert.are.equal("2026-11-23T12:15:00Z", cond(failed, "Ready").lastTransitionTime)
    assert.are.equal("boom", cond(failed, "Synced").message)
    assert.are.equal("ReconcileError", cond(failed, "Synced").reason)
  end)

  it("makes condition reasons CamelCase-safe", function()
    local st = build(nil, { trainingJobStatus = "In Progress!" })
    assert.are.equal("InProgress", cond(st, "Ready").reason)
  end)

  it("patches only what changed, and deletes what went with null", function()
    local old = build(nil, { trainingJobStatus = "Reconciling", additional = "throttled" })
    local new = build(old, { trainingJobStatus = "InProgress" }, { now = T0 + 1 })
    local patch = status.patch(old, new, { now = T0 + 1, refresh = 600 })
    assert.are.equal("InProgress", patch.status.trainingJobStatus)
    assert.are.equal(json.null, patch.status.additional)
    assert.is_nil(patch.status.scriptVersion)
    assert.is_nil(patch.status.observedGeneration)
  end)

  it("writes nothing for an unchanged status until lastCheckTime is due", function()
    local old = build(nil, { trainingJobStatus = "InProgress" })
    local same = build(old, { trainingJobStatus = "InProgress" }, { now = T0 + 30 })
    assert.is_nil(status.patch(old, same, { now = T0 + 30, refresh = 600 }))
    local due = build(old, { trainingJobStatus = "InProgress" }, { now = T0 + 601 })
    local patch = status.patch(old, due, { now = T0 + 601, refresh = 600 })
    assert.are.same({ status = { lastCheckTime = "2026-11-23T12:10:01Z" } }, patch)
  end)

  it("reads back the times it writes", function()
    assert.are.equal(T0, status.parse_time("2026-11-23T12:00:00Z"))
    assert.are.equal(951782400, status.parse_time("2000-02-29T00:00:00Z"))
    assert.is_nil(status.parse_time("yesterday"))
  end)
end)
