-- What the fake Kubernetes API looks like on the wire, in one place: JSON
-- the way kube-apiserver writes it (Go's field order for the objects it
-- builds itself, compact with a trailing newline, indented for curl),
-- Status bodies, Accept parsing, time text and the server-side "age".
--
--   local o = wire.obj("kind", "Status", "apiVersion", "v1")
--   wire.encode(o [, pretty])          -> JSON text
--   wire.status{ code=, reason=, message=, details= } -> ordered Status
--
-- An ordered object is written in the order given and leaves out keys whose
-- value is nil (Go's omitempty); json.null is written as null. Any other
-- table is written with smop.json, keys sorted (as the server writes
-- unstructured objects, i.e. custom resources).
local encoding = require("util.encoding")
local json = require("smop.json")

local M = {}

local ordered_mt = { __name = "fake.kube.ordered" }

-- wire.obj(key1, value1, key2, value2, ...): values may be nil.
function M.obj(...)
  local n = select("#", ...)
  local keys, vals = {}, {}
  for i = 1, n, 2 do
    local k, v = select(i, ...)
    keys[#keys + 1] = k
    vals[#keys] = v
  end
  return setmetatable({ keys = keys, vals = vals }, ordered_mt)
end

-- Builds an ordered object from a table and a key order: keys of t missing
-- from order follow, sorted.
function M.order(t, order)
  if type(t) ~= "table" or getmetatable(t) == ordered_mt then return t end
  local keys, vals, seen = {}, {}, {}
  for _, k in ipairs(order) do
    seen[k] = true
    keys[#keys + 1] = k
    vals[#keys] = t[k]
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] and type(k) == "string" then rest[#rest + 1] = k end
  end
  table.sort(rest)
  for _, k in ipairs(rest) do
    keys[#keys + 1] = k
    vals[#keys] = t[k]
  end
  return setmetatable({ keys = keys, vals = vals }, ordered_mt)
end

function M.is_ordered(v)
  return getmetatable(v) == ordered_mt
end

-- Indents every line after the first of a block written at depth 0.
local function reindent(text, pad)
  if pad == "" or not text:find("\n", 1, true) then return text end
  local out, start = {}, 1
  while true do
    local nl = text:find("\n", start, true)
    if not nl then
      out[#out + 1] = text:sub(start)
      break
    end
    out[#out + 1] = text:sub(start, nl)
    out[#out + 1] = pad
    start = nl + 1
  end
  return table.concat(out)
end

local function write(v, pretty, depth, out)
  if getmetatable(v) == ordered_mt then
    local first = true
    out[#out + 1] = "{"
    local pad = pretty and string.rep("  ", depth + 1) or ""
    for i, k in ipairs(v.keys) do
      local val = v.vals[i]
      if val ~= nil then
        out[#out + 1] = first and "" or ","
        if pretty then out[#out + 1] = "\n" .. pad end
        out[#out + 1] = json.encode(k)
        out[#out + 1] = pretty and ": " or ":"
        write(val, pretty, depth + 1, out)
        first = false
      end
    end
    if pretty and not first then out[#out + 1] = "\n" .. string.rep("  ", depth) end
    out[#out + 1] = "}"
  elseif type(v) == "table" and json.is_array(v) then
    local n = #v
    local has_ordered = false
    for i = 1, n do
      if getmetatable(v[i]) == ordered_mt then has_ordered = true break end
    end
    if not has_ordered then
      local text = assert(json.encode(v, { sorted = true, indent = pretty and 2 or nil }))
      out[#out + 1] = pretty and reindent(text, string.rep("  ", depth)) or text
      return
    end
    out[#out + 1] = "["
    local pad = pretty and string.rep("  ", depth + 1) or ""
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      if pretty then out[#out + 1] = "\n" .. pad end
      write(v[i], pretty, depth + 1, out)
    end
    if pretty and n > 0 then out[#out + 1] = "\n" .. string.rep("  ", depth) end
    out[#out + 1] = "]"
  else
    local text = assert(json.encode(v, { sorted = true, indent = pretty and 2 or nil }))
    out[#out + 1] = pretty and reindent(text, string.rep("  ", depth)) or text
  end
end

-- JSON text of v: compact with a trailing newline (Go's json.Encoder), or
-- indented by two spaces without one (json.MarshalIndent), as the server
-- writes for curl and for /version.
function M.encode(v, pretty)
  local out = {}
  write(v, pretty, 0, out)
  if not pretty then out[#out + 1] = "\n" end
  return table.concat(out)
end

-- Turns ordered objects back into plain tables (for YAML output).
function M.plain(v)
  if getmetatable(v) == ordered_mt then
    local t = {}
    for i, k in ipairs(v.keys) do
      if v.vals[i] ~= nil then t[k] = M.plain(v.vals[i]) end
    end
    return json.object(t)
  elseif type(v) == "table" and json.is_array(v) then
    local a = json.array({})
    for i = 1, #v do a[i] = M.plain(v[i]) end
    return a
  end
  return v
end

-- ---- Status ----

local function causes_of(list)
  local out = json.array({})
  for i, c in ipairs(list) do
    out[i] = M.obj("reason", c.reason, "message", c.message, "field", c.field)
  end
  return out
end

local function details_of(d)
  if type(d) ~= "table" then return nil end
  return M.obj("name", d.name, "group", d.group, "kind", d.kind, "uid", d.uid,
    "causes", d.causes and causes_of(d.causes) or nil,
    "retryAfterSeconds", d.retryAfterSeconds)
end

-- e: { code=, reason=, message=, details=, metadata=, status= } (a store
-- error, or one built here).
function M.status(e)
  local meta = type(e.metadata) == "table" and e.metadata or {}
  return M.obj("kind", "Status", "apiVersion", "v1",
    "metadata", M.obj("selfLink", meta.selfLink, "resourceVersion", meta.resourceVersion,
      "continue", meta.continue, "remainingItemCount", meta.remainingItemCount),
    "status", e.status or "Failure", "message", e.message, "reason", e.reason,
    "details", details_of(e.details), "code", e.code)
end

-- HTTP reason phrase -> the StatusReason kube-apiserver uses for it.
local REASONS = {
  [400] = "BadRequest", [401] = "Unauthorized", [403] = "Forbidden", [404] = "NotFound",
  [405] = "MethodNotAllowed", [406] = "NotAcceptable", [409] = "Conflict", [410] = "Expired",
  [413] = "RequestEntityTooLarge", [415] = "UnsupportedMediaType", [422] = "Invalid",
  [429] = "TooManyRequests", [500] = "InternalError", [503] = "ServiceUnavailable",
  [504] = "Timeout",
}

function M.error(code, message, details, reason)
  return { code = code, reason = reason or REASONS[code] or "Unknown", message = message,
    details = details }
end

-- ---- media types ----

-- "application/json;as=Table;v=v1;g=meta.k8s.io, */*" -> list of
-- { type = "application/json", params = { as = "Table", v = "v1", g = ... } }.
function M.parse_accept(header)
  local list = {}
  for part in (header or ""):gmatch("[^,]+") do
    local mt, rest = part:match("^%s*([^;%s]+)%s*(.*)$")
    if mt then
      local params = {}
      for k, v in rest:gmatch(";%s*([^=;%s]+)%s*=%s*\"?([^;\"]*)\"?") do
        params[k:lower()] = v:match("^%s*(.-)%s*$")
      end
      list[#list + 1] = { type = mt:lower(), params = params }
    end
  end
  if #list == 0 then list[1] = { type = "*/*", params = {} } end
  return list
end

-- The media type of a Content-Type header, lower-cased, without parameters.
function M.media_type(header)
  return ((header or ""):match("^%s*([^;%s]+)") or ""):lower()
end

-- ---- time ----

function M.rfc3339(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

-- RFC 3339 with microseconds (MicroTime), as Events and Leases carry.
function M.rfc3339_micro(t)
  local whole = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", whole) .. string.format(".%06dZ", math.floor((t - whole) * 1e6))
end

-- "Mon, 23 Nov 2026 12:07:49 GMT"; Go writes Expires with "UTC".
function M.http_date(t, zone)
  return os.date("!%a, %d %b %Y %H:%M:%S ", math.floor(t)) .. (zone or "GMT")
end

local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- RFC 3339 text -> epoch seconds (fraction kept), or nil.
function M.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac, zone =
    s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  local t = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  if frac ~= "" and frac ~= "." then t = t + tonumber("0" .. frac) end
  if zone == "Z" or zone == "z" then return t end
  local sign, zh, zm = zone:match("^([+-])(%d%d):(%d%d)$")
  if not sign then return nil end
  local off = tonumber(zh) * 3600 + tonumber(zm) * 60
  return sign == "+" and t - off or t + off
end

-- k8s.io/apimachinery/pkg/util/duration.HumanDuration: "5s", "3m20s", "4h".
function M.human_duration(d)
  local seconds = math.floor(d)
  if seconds < -1 then return "<invalid>" end
  if seconds < 0 then return "0s" end
  if seconds < 120 then return seconds .. "s" end
  local minutes = seconds // 60
  if minutes < 10 then
    local s = seconds % 60
    return s == 0 and minutes .. "m" or string.format("%dm%ds", minutes, s)
  elseif minutes < 180 then
    return minutes .. "m"
  end
  local hours = seconds // 3600
  if hours < 8 then
    local m = minutes % 60
    return m == 0 and hours .. "h" or string.format("%dh%dm", hours, m)
  elseif hours < 48 then
    return hours .. "h"
  elseif hours < 24 * 8 then
    local h = hours % 24
    return h == 0 and (hours // 24) .. "d" or string.format("%dd%dh", hours // 24, h)
  elseif hours < 24 * 365 * 2 then
    return (hours // 24) .. "d"
  elseif hours < 24 * 365 * 8 then
    local dy = (hours // 24) % 365
    return dy == 0 and (hours // 24 // 365) .. "y" or string.format("%dy%dd", hours // 24 // 365, dy)
  end
  return (hours // 24 // 365) .. "y"
end

-- The age of an RFC 3339 timestamp at now, as the server renders it.
function M.age(ts, now)
  local t = M.parse_time(ts)
  if not t then return "<unknown>" end
  return M.human_duration(now - t)
end

M.base64 = encoding.base64
-- A random version 4 UUID (Audit-Id).
M.uuid = encoding.uuid

return M
