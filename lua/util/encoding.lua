-- Encodings several modules need: base64 (standard or URL alphabet) and
-- random version 4 UUIDs. Decoding stays with its callers, whose rules
-- differ (Go's strict decoder in the fake Kubernetes API, a lenient one in
-- the fake AWS).
local M = {}

local STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- Base64 of s; url = true: the URL alphabet without padding.
function M.base64(s, url)
  local alphabet = url and URL or STD
  local pad = url and "" or "="
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local i1, i2, i3, i4 = (n >> 18) + 1, ((n >> 12) & 63) + 1, ((n >> 6) & 63) + 1, (n & 63) + 1
    out[#out + 1] = alphabet:sub(i1, i1) .. alphabet:sub(i2, i2)
      .. (b and alphabet:sub(i3, i3) or pad) .. (c and alphabet:sub(i4, i4) or pad)
  end
  return table.concat(out)
end

-- A random version 4 UUID (object uids, request ids).
function M.uuid()
  local r = {}
  for i = 1, 16 do r[i] = math.random(0, 255) end
  r[7] = (r[7] & 0x0F) | 0x40
  r[9] = (r[9] & 0x3F) | 0x80
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
    table.unpack(r))
end

return M
