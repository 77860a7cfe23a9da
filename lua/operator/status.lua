-- Status documents: what the driver writes to `/status`, and the merge
-- patch from the current status to the new one.
--
--   local new = status.build{ old = obj.status, fields = kind_status,
--     kind = kind_module, generation = obj.metadata.generation,
--     synced = true | false, message = "...", now = epoch, script_version = "..." }
--   local patch = status.patch(obj.status, new, { refresh = 600, now = epoch })
--   -- nil: nothing worth writing
--
-- `fields` is the whole set of the kind's fields (a field the old status had
-- and `fields` lacks is removed: that is how `additional` is cleared). The
-- driver adds `conditions` (Ready, Synced; metav1.Condition), `observedGeneration`,
-- `lastCheckTime` and `scriptVersion`. A status that differs from the old one
-- only in lastCheckTime is written once that is older than opts.refresh
-- seconds, so polling an unchanged job costs no API write.
local json = require("smop.json")

local M = {}

M.DRIVER_FIELDS = { conditions = true, observedGeneration = true, lastCheckTime = true,
  scriptVersion = true }

function M.time(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(epoch))
end

-- RFC 3339 "2019-11-20T23:42:35Z" -> epoch seconds, or nil.
function M.parse_time(s)
  local y, mo, d, h, mi, sec = tostring(s or ""):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  local days_before = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 }
  y, mo = tonumber(y), tonumber(mo)
  local leap_days = (y - 1969) // 4 - (y - 1901) // 100 + (y - 1601) // 400
  if mo > 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then leap_days = leap_days + 1 end
  local days = (y - 1970) * 365 + leap_days + days_before[mo] + tonumber(d) - 1
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  if json.is_array(a) ~= json.is_array(b) and (next(a) ~= nil or next(b) ~= nil) then return false end
  for k, v in pairs(a) do
    if not equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.equal = equal

-- A condition reason must be CamelCase ([A-Za-z][A-Za-z0-9_,:]*).
local function reason_of(s)
  local r = tostring(s or ""):gsub("[^%w_,:]", "")
  if not r:match("^[A-Za-z]") then r = "Unknown" .. r end
  return r:sub(1, 1024)
end

local function condition(old_list, ctype, ok, reason, message, generation, now)
  local status = ok and "True" or "False"
  local since = M.time(now)
  for _, c in ipairs(type(old_list) == "table" and old_list or {}) do
    if type(c) == "table" and c.type == ctype and c.status == status then
      since = c.lastTransitionTime or since
    end
  end
  return { type = ctype, status = status, reason = reason_of(reason),
    message = tostring(message or ""):sub(1, 32768), lastTransitionTime = since,
    observedGeneration = generation }
end

-- The new status (see the header). opts.kind supplies status_field and
-- ready (a set of status values meaning Ready=True).
function M.build(opts)
  local kind = opts.kind
  local new = {}
  for k, v in pairs(opts.fields or {}) do
    if not M.DRIVER_FIELDS[k] then new[k] = v end
  end
  local value = new[kind.status_field]
  local old = opts.old or {}
  local ready = value ~= nil and (kind.ready or {})[value] == true
  local synced_message = opts.synced and "" or (opts.message or new.additional or "")
  local generation = opts.generation
  local now = opts.now
  new.conditions = json.array({
    condition(old.conditions, "Ready", ready, value or "Unknown",
      ready and "" or (new.additional or ""), generation, now),
    condition(old.conditions, "Synced", opts.synced, opts.synced and "ReconcileSuccess" or "ReconcileError",
      synced_message, generation, now),
  })
  new.observedGeneration = generation
  new.lastCheckTime = M.time(now)
  new.scriptVersion = opts.script_version
  return new
end

-- The merge patch turning old into new ({status = ...}), or nil when there
-- is nothing worth writing (see the header).
function M.patch(old, new, opts)
  old = type(old) == "table" and old or {}
  local patch, changed = {}, false
  for k, v in pairs(new) do
    if not equal(old[k], v) then
      patch[k] = v
      if k ~= "lastCheckTime" then changed = true end
    end
  end
  for k in pairs(old) do
    if new[k] == nil then
      patch[k] = json.null
      changed = true
    end
  end
  if not changed then
    local last = M.parse_time(old.lastCheckTime)
    if last and opts and opts.now and opts.now - last < (opts.refresh or 0) then return nil end
    if next(patch) == nil then return nil end
  end
  return { status = patch }
end

return M
