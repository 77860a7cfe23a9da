-- JSON values as the fake Kubernetes API holds them, and the few Go formatting
-- rules its messages depend on.
--
-- Objects are plain tables; arrays carry json.array_mt (smop.json); JSON null is
-- json.null. Everything here keeps those marks: a copied empty array is still an
-- array, so it encodes as [] and never as {}.
local encoding = require("util.encoding")
local json = require("smop.json")

local M = {}

M.null = json.null
M.array = json.array

-- "null" | "string" | "boolean" | "integer" | "number" | "array" | "object"
function M.kind(v)
  if v == json.null or v == nil then return "null" end
  local t = type(v)
  if t == "string" or t == "boolean" then return t end
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  if t == "table" then
    if json.is_array(v) then return "array" end
    if next(v) == nil then return "object" end
    if v[1] ~= nil and #v > 0 then
      for k in pairs(v) do
        if math.type(k) ~= "integer" then return "object" end
      end
      return "array"
    end
    return "object"
  end
  return t
end

function M.is_object(v) return M.kind(v) == "object" end
function M.is_array(v) return M.kind(v) == "array" end

-- A deep copy; arrays stay arrays.
function M.copy(v)
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.copy(x) end
  if M.kind(v) == "array" then return json.array(out) end
  return out
end

-- Deep equality of JSON values ({} and [] differ only when not empty: Go's
-- unstructured values do not keep the difference for empty values either).
function M.equal(a, b)
  if a == b then return true end
  local ka, kb = M.kind(a), M.kind(b)
  if ka == "integer" or ka == "number" then
    return (kb == "integer" or kb == "number") and a == b
  end
  if ka ~= kb then
    return (ka == "array" or ka == "object") and (kb == "array" or kb == "object")
      and next(a) == nil and next(b) == nil
  end
  if ka == "array" then
    if #a ~= #b then return false end
    for i = 1, #a do
      if not M.equal(a[i], b[i]) then return false end
    end
    return true
  end
  if ka == "object" then
    for k, x in pairs(a) do
      if b[k] == nil or not M.equal(x, b[k]) then return false end
    end
    for k in pairs(b) do
      if a[k] == nil then return false end
    end
    return true
  end
  return false
end

-- Keys of an object, sorted (Go encodes and iterates maps in this order).
function M.keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

-- Go's strconv 'g' with the shortest precision, as %v prints a float64.
local function shortest_digits(f)
  for p = 1, 17 do
    local s = string.format("%." .. p .. "e", f)
    if tonumber(s) == f then return s end
  end
  return string.format("%.17e", f)
end

function M.go_float(f)
  if f ~= f then return "NaN" end
  if f == math.huge then return "+Inf" end
  if f == -math.huge then return "-Inf" end
  if f == 0 then return (1 / f < 0) and "-0" or "0" end
  local e = shortest_digits(f)
  local sign, int, frac, exp = e:match("^(%-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (int .. frac):gsub("0+$", "")
  if digits == "" then digits = "0" end
  local x = tonumber(exp)
  -- strconv: with the shortest precision, %e from an exponent of 6 on.
  if x < -4 or x >= 6 then
    -- %e form: d[.ddd]e±XX
    local m = digits:sub(1, 1)
    if #digits > 1 then m = m .. "." .. digits:sub(2) end
    local ax = math.abs(x)
    return string.format("%s%se%s%02d", sign, m, x < 0 and "-" or "+", ax)
  end
  if x < 0 then
    return sign .. "0." .. string.rep("0", -x - 1) .. digits
  end
  if #digits <= x + 1 then
    return sign .. digits .. string.rep("0", x + 1 - #digits)
  end
  return sign .. digits:sub(1, x + 1) .. "." .. digits:sub(x + 2)
end

-- %v of an int64, float64, bool or string.
function M.go_v(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return M.go_float(v) end
  return tostring(v)
end

local named_escapes = {
  [7] = "\\a", [8] = "\\b", [12] = "\\f", [10] = "\\n", [13] = "\\r", [9] = "\\t",
  [11] = "\\v", [92] = "\\\\", [34] = '\\"',
}

-- Go's %q (strconv.Quote): printable runes stay, the rest are escaped.
function M.go_quote(s)
  local out, i, n = { '"' }, 1, #s
  while i <= n do
    local c = s:byte(i)
    if c < 0x80 then
      if named_escapes[c] then
        out[#out + 1] = named_escapes[c]
      elseif c < 0x20 or c == 0x7f then
        out[#out + 1] = string.format("\\x%02x", c)
      else
        out[#out + 1] = string.char(c)
      end
      i = i + 1
    else
      local len = c >= 0xf0 and 4 or c >= 0xe0 and 3 or c >= 0xc0 and 2 or 1
      local chunk = s:sub(i, i + len - 1)
      local ok, cp = pcall(utf8.codepoint, chunk, 1)
      if len > 1 and ok and utf8.char(cp) == chunk then
        if cp < 0xa0 or cp == 0xad then
          out[#out + 1] = string.format("\\u%04x", cp)
        else
          out[#out + 1] = chunk
        end
        i = i + len
      else
        out[#out + 1] = string.format("\\x%02x", c)
        i = i + 1
      end
    end
  end
  out[#out + 1] = '"'
  return table.concat(out)
end

-- Go's %#v of an unstructured value (map[string]interface {}, []interface {}).
local function sharp(v, inner)
  local k = M.kind(v)
  if k == "null" then return inner and "interface {}(nil)" or "<nil>" end
  if k == "string" then return M.go_quote(v) end
  if k == "integer" or k == "number" then return M.go_v(v) end
  if k == "boolean" then return tostring(v) end
  local parts = {}
  if k == "array" then
    for i = 1, #v do parts[i] = sharp(v[i], true) end
    return "[]interface {}{" .. table.concat(parts, ", ") .. "}"
  end
  for _, key in ipairs(M.keys(v)) do
    parts[#parts + 1] = M.go_quote(key) .. ":" .. sharp(v[key], true)
  end
  return "map[string]interface {}{" .. table.concat(parts, ", ") .. "}"
end

function M.go_sharp(v) return sharp(v, false) end

-- %#v of a []string.
function M.go_strings(list)
  local parts = {}
  for i, s in ipairs(list) do parts[i] = M.go_quote(s) end
  return "[]string{" .. table.concat(parts, ", ") .. "}"
end

-- RFC 3339 with seconds, UTC: what metav1.Time serializes to.
function M.rfc3339(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(epoch))
end

-- RFC 3339 with microseconds: metav1.MicroTime.
function M.rfc3339_micro(epoch)
  local s = math.floor(epoch)
  local us = math.floor((epoch - s) * 1e6 + 0.5)
  if us >= 1000000 then s, us = s + 1, us - 1000000 end
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. string.format(".%06dZ", us)
end

-- A random (version 4) UUID, as the apiserver gives every object.
M.uuid = encoding.uuid

local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- Base64 (url = true: the URL alphabet without padding, as continue tokens use).
M.base64_encode = encoding.base64

-- Decodes base64 as Go's encoding/base64 does (std: padding required; url:
-- the raw URL alphabet, no padding); nil and Go's message ("illegal base64
-- data at input byte N") for malformed input.
function M.base64_decode(s, url)
  local alphabet = url and b64url or b64
  local map = {}
  for i = 1, 64 do map[alphabet:byte(i)] = i - 1 end
  local out, si, n = {}, 1, #s
  local function fail(at) return nil, string.format("illegal base64 data at input byte %d", at) end
  while true do
    local q, j = {}, 0
    while j < 4 do
      if si > n then
        if j == 0 then return table.concat(out) end
        if j == 1 or not url then return fail(si - 1 - j) end
        break
      end
      local c = s:byte(si)
      si = si + 1
      if c == 10 or c == 13 then goto next_char end -- newlines are skipped
      if map[c] then
        j = j + 1
        q[j] = map[c]
      elseif c ~= 61 or url then
        return fail(si - 2)
      else
        -- padding: only after two or three characters of the quantum
        if j < 2 then return fail(si - 2) end
        if j == 2 then
          while si <= n and (s:byte(si) == 10 or s:byte(si) == 13) do si = si + 1 end
          if si > n then return fail(n) end
          if s:byte(si) ~= 61 then return fail(si - 2) end
          si = si + 1
        end
        while si <= n and (s:byte(si) == 10 or s:byte(si) == 13) do si = si + 1 end
        if si <= n then return fail(si - 1) end
        break
      end
      ::next_char::
    end
    local v = ((q[1] or 0) << 18) | ((q[2] or 0) << 12) | ((q[3] or 0) << 6) | (q[4] or 0)
    out[#out + 1] = string.char((v >> 16) & 0xff)
    if j >= 3 then out[#out + 1] = string.char((v >> 8) & 0xff) end
    if j == 4 then out[#out + 1] = string.char(v & 0xff) end
    if j < 4 then return table.concat(out) end
  end
end

return M
