-- Small encodings the fake needs in several places: base64 (pagination
-- tokens, session tokens, JWT payloads), request ids, random AWS-looking
-- identifiers, and UTC time text <-> epoch seconds.
local encoding = require("util.encoding")

local M = {}

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local decode_map = {}
for i = 1, 64 do decode_map[B64:byte(i)] = i - 1 end
decode_map[("-"):byte()] = 62 -- base64url
decode_map[("_"):byte()] = 63

M.base64 = encoding.base64

-- Decodes base64 or base64url, padded or not; nil for anything else.
function M.unbase64(s)
  s = s:gsub("=+$", "")
  if #s % 4 == 1 then return nil end
  local out, acc, bits = {}, 0, 0
  for i = 1, #s do
    local v = decode_map[s:byte(i)]
    if not v then return nil end
    acc = ((acc << 6) | v) & 0xFFFFFF
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char((acc >> bits) & 0xFF)
    end
  end
  return table.concat(out)
end

-- A random version 4 UUID, the shape of AWS request ids.
M.uuid = encoding.uuid

-- n random characters from alphabet (default: upper-case letters and digits,
-- as in access key ids).
function M.random_string(n, alphabet)
  alphabet = alphabet or "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
  local out = {}
  for i = 1, n do
    local k = math.random(1, #alphabet)
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end

-- Days since 1970-01-01 of a civil date (proleptic Gregorian), so UTC text
-- converts without the process's time zone (os.time reads local time).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Epoch seconds of a UTC date and time.
function M.timegm(y, mo, d, h, mi, s)
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
end

-- "20150830T123600Z" (SigV4's X-Amz-Date) -> epoch seconds, or nil.
function M.parse_amz_date(text)
  local y, mo, d, h, mi, s = tostring(text):match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
  if not y then return nil end
  return M.timegm(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s))
end

-- epoch seconds -> "20150830T123600Z"
function M.amz_date(t)
  return os.date("!%Y%m%dT%H%M%SZ", math.floor(t))
end

-- epoch seconds -> "2015-08-30T12:36:00Z" (the query protocol's timestamps)
function M.iso8601(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

return M
