-- What the SageMaker families share: durations, per-region stores, copies,
-- deterministic "randomness", list filtering, sorting and pages, tags.
--
-- Durations of every simulated step, in virtual seconds (the clock runs
-- `--speed` times faster than the wall clock). Short, but distinct, so a
-- spec can step the clock into the middle of any one of them:
--
-- | step                                   | key                    | s  |
-- |----------------------------------------|------------------------|----|
-- | training: Starting                     | training_starting      | 10 |
-- | training: Downloading                  | training_downloading   | 10 |
-- | training: Training                     | training_training      | 30 |
-- |   a failure injected for the job hits  | training_fails_after   | 15 |
-- |   (seconds into Training)              |                        |    |
-- | training: Uploading                    | training_uploading     | 10 |
-- | Debugger rule: evaluating after the    | debug_rule_evaluation  | 20 |
-- |   training job ended                   |                        |    |
-- | any job: Stopping -> Stopped           | stopping               |  5 |
-- | tuning: first training jobs launched   | tuning_launch          |  5 |
-- | transform: InProgress (start-up part)  | transform_startup      | 10 |
-- | transform: InProgress (total)          | transform              | 40 |
-- | processing: InProgress (start-up part) | processing_startup     | 10 |
-- | processing: InProgress (total)         | processing             | 40 |
-- | transform/processing failure hits at   | job_fails_after        | 20 |
-- | endpoint: Creating -> InService        | endpoint_creating      | 30 |
-- | endpoint: Updating -> InService        | endpoint_updating      | 30 |
-- | endpoint: Deleting -> gone             | endpoint_deleting      | 10 |
--
-- Lifecycles are lazy (lua/fake/aws/README.md): each family's refresh
-- applies every transition due up to ctx.now(), stamping each with the
-- virtual instant it happened, so one read after a long clock jump still
-- shows the whole history.
--
-- State layout: ctx.state[region][kind][lower-case name] = record. SageMaker
-- names are case-insensitive (its ARNs lower-case them), and every region
-- is its own world, as in AWS.
local json = require("smop.json")
local paginate = require("fake.aws.paginate")

local M = {}

M.durations = {
  training_starting = 10,
  training_downloading = 10,
  training_training = 30,
  training_fails_after = 15,
  training_uploading = 10,
  debug_rule_evaluation = 20,
  stopping = 5,
  tuning_launch = 5,
  transform_startup = 10,
  transform = 40,
  processing_startup = 10,
  processing = 40,
  job_fails_after = 20,
  endpoint_creating = 30,
  endpoint_updating = 30,
  endpoint_deleting = 10,
}

local null = json.null

-- ---- stores ----

-- The records of one kind ("training_jobs", "endpoints", ...) in the
-- request's region, created on first use.
function M.store(ctx, kind)
  local region = ctx.state[ctx.region]
  if not region then
    region = {}
    ctx.state[ctx.region] = region
  end
  local records = region[kind]
  if not records then
    records = {}
    region[kind] = records
  end
  return records
end

-- ctx for another region: advance(ctx) walks every region's resources
-- with the caller's ctx, and what it creates (a tuning job's training jobs)
-- must carry its own region's ARNs.
function M.in_region(ctx, region)
  if region == ctx.region then return ctx end
  local proxy = setmetatable({ region = region }, { __index = ctx })
  function proxy.arn(resource, name)
    return string.format("arn:aws:sagemaker:%s:%s:%s/%s", region, ctx.account, resource, name:lower())
  end
  return proxy
end

-- Regions that have any state.
function M.regions(ctx)
  local list = {}
  for region in pairs(ctx.state) do list[#list + 1] = region end
  table.sort(list)
  return list
end

function M.key(name)
  return name:lower()
end

-- Records of a kind as a list (any order).
function M.all(ctx, kind)
  local list = {}
  for _, record in pairs(M.store(ctx, kind)) do list[#list + 1] = record end
  return list
end

-- The records of a kind that may still change on their own are kept in a
-- set beside the store ("<kind>_active"), so advance(ctx), which runs before
-- every call, touches those only, however many finished jobs there are.
function M.set_active(ctx, kind, name, active)
  M.store(ctx, kind .. "_active")[M.key(name)] = active or nil
end

-- The active records of a kind, as a list (any order).
function M.active(ctx, kind)
  local set, records = M.store(ctx, kind .. "_active"), M.store(ctx, kind)
  local list = {}
  for key in pairs(set) do
    local r = records[key]
    if r then
      list[#list + 1] = r
    else
      set[key] = nil
    end
  end
  return list
end

-- ---- values ----

-- A deep copy without json.null members (a null member means "absent" to
-- AWS, and answers must not echo it back). Array and object marks stay, so
-- an empty list is still written as [].
function M.copy(value)
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do
    if v ~= null then out[k] = M.copy(v) end
  end
  return setmetatable(out, getmetatable(value))
end

-- v, or nil when v is json.null.
function M.opt(v)
  if v == null then return nil end
  return v
end

-- ---- deterministic "randomness" (FNV-1a, 32 bits) ----

function M.hash(s)
  local h = 0x811c9dc5
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff
  end
  return h
end

function M.hex8(s)
  return string.format("%08x", M.hash(s))
end

-- A number in [0, 1) fixed by s.
function M.fraction(s)
  return M.hash(s) / 4294967296.0
end

-- 64 hex digits fixed by s (an image digest, say).
function M.hex64(s)
  local parts = {}
  for i = 1, 8 do parts[i] = M.hex8(s .. "#" .. i) end
  return table.concat(parts)
end

-- ---- lifecycle helpers ----

-- Appends a transition-like entry to a list kept in a record.
function M.push(list, entry)
  list[#list + 1] = entry
  return entry
end

-- FailureReason is at most 1024 characters in the model.
function M.reason(text)
  text = tostring(text)
  if #text > 1024 then text = text:sub(1, 1024) end
  return text
end

-- ---- lists ----

-- Keeps the records that pass the List* filters of input. fields names
-- the record fields the filters look at: name, created, modified, status.
function M.filter(records, input, fields)
  local contains = M.opt(input.NameContains)
  contains = contains and contains:lower()
  local status = M.opt(input.StatusEquals)
  local c_after, c_before = M.opt(input.CreationTimeAfter), M.opt(input.CreationTimeBefore)
  local m_after, m_before = M.opt(input.LastModifiedTimeAfter), M.opt(input.LastModifiedTimeBefore)
  local out = {}
  for _, r in ipairs(records) do
    local created = r[fields.created]
    local modified = fields.modified and r[fields.modified] or created
    if (not contains or r[fields.name]:lower():find(contains, 1, true))
        and (not status or r[fields.status] == status)
        and (not c_after or created > M.epoch(c_after))
        and (not c_before or created < M.epoch(c_before))
        and (not m_after or modified > M.epoch(m_after))
        and (not m_before or modified < M.epoch(m_before)) then
      out[#out + 1] = r
    end
  end
  return out
end

-- Timestamps arrive as epoch numbers (the SDKs' JSON encoding) or as
-- ISO 8601 text (the validator accepts both).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

function M.epoch(v)
  if type(v) == "number" then return v end
  local y, mo, d, h, mi, s, rest = tostring(v):match("^(%d+)%-(%d+)%-(%d+)[Tt](%d+):(%d+):(%d+)(.*)$")
  if not y then return 0 end
  local frac = rest:match("^(%.%d+)") or ""
  rest = rest:sub(#frac + 1)
  local t = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 +
    tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) + (tonumber("0" .. frac) or 0)
  local sign, oh, om = rest:match("^([%+%-])(%d%d):?(%d%d)$")
  if sign then
    local offset = tonumber(oh) * 3600 + tonumber(om) * 60
    t = sign == "+" and t - offset or t + offset
  end
  return t
end

-- Sorts records in place. keys maps a SortBy value to a record field;
-- ties fall back to the name, so pages are stable.
function M.sort(records, sort_by, order, keys, name_field)
  local field = keys[sort_by]
  local descending = order == "Descending"
  table.sort(records, function(a, b)
    local x, y = a[field], b[field]
    if x == y then
      x, y = a[name_field], b[name_field]
    end
    if descending then return x > y end
    return x < y
  end)
  return records
end

-- One page of items (fake.aws.paginate: opaque tokens, tied to the
-- operation and its filters). Returns page, next_token (nil at the end), or
-- nil, error.
function M.page(ctx, items, input, default_max)
  local page, next_token = paginate.page(items, input, {
    scope = ctx.operation,
    default = default_max or 10,
    limit = 100,
    key = function(item) return item.name or item.Key end,
  })
  if not page then return nil, ctx.error("ValidationException", "Invalid pagination token") end
  return page, next_token
end

-- ---- tags (AddTags / ListTags / DeleteTags, and Tags on create) ----

-- The tag list of an ARN, as a list of {Key, Value} (created on demand).
function M.tags_of(ctx, arn)
  local all = M.store(ctx, "tags")
  local list = all[arn]
  if not list then
    list = json.array({})
    all[arn] = list
  end
  return list
end

-- Sets tags (a Tags input list) on arn, replacing values of existing keys.
function M.add_tags(ctx, arn, tags)
  tags = M.opt(tags)
  if not tags then return end
  local list = M.tags_of(ctx, arn)
  for _, tag in ipairs(tags) do
    local found = false
    for _, have in ipairs(list) do
      if have.Key == tag.Key then
        have.Value = tag.Value
        found = true
        break
      end
    end
    if not found then list[#list + 1] = { Key = tag.Key, Value = M.opt(tag.Value) or "" } end
  end
end

function M.drop_tags(ctx, arn)
  M.store(ctx, "tags")[arn] = nil
end

return M
