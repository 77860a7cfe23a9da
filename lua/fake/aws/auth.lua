-- SigV4 verification, as AWS's front ends do it: the Authorization header
-- is parsed, the key looked up (long-term keys given at start-up, or
-- temporary ones STS issued), the clock skew checked against the real clock
-- (clients sign with theirs), and the signature recomputed with smop.sigv4
-- from exactly the headers the client says it signed.
--
--   local a = auth.new{ keys = { AKIA... = secret }, account = "123456789012" }
--   a:add(key, secret)
--   local caller, kind, message = a:verify(req, {
--     signing_name = "sagemaker", max_skew = 300, real_now = t,
--     temporary = function(key) -> { secret_access_key, session_token,
--       expiration, arn, user_id, account } | nil,
--     virtual_now = t })    -- temporary credentials expire on the virtual clock
--   -- caller = { access_key_id, arn, user_id, account }
--   -- kind: "missing" | "incomplete" | "unknown_key" | "expired_token" |
--   --       "signature" (protocol.auth_code maps it to the protocol's code)
local codec = require("fake.aws.codec")
local sigv4 = require("smop.sigv4")

local M = {}
local Auth = {}
Auth.__index = Auth

M.EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"
M.EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

local SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you "
  .. "provided. Check your AWS Secret Access Key and signing method. Consult the service "
  .. "documentation for details."
local INVALID_TOKEN = "The security token included in the request is invalid."
local EXPIRED_TOKEN = "The security token included in the request is expired"

function M.new(opts)
  opts = opts or {}
  local self = setmetatable({ keys = {}, account = opts.account or "123456789012" }, Auth)
  for key, secret in pairs(opts.keys or {}) do self:add(key, secret) end
  return self
end

-- A stable IAM-looking user id for a long-term key.
local function user_id_of(key)
  local hex = sigv4.sha256_hex(key):upper()
  return "AIDA" .. hex:gsub("[^A-Z2-7]", ""):sub(1, 17)
end

function Auth:add(key, secret)
  self.keys[key] = {
    secret = secret,
    arn = string.format("arn:aws:iam::%s:user/smop", self.account),
    user_id = user_id_of(key),
  }
end

local function parse_authorization(header)
  local algorithm, rest = header:match("^(%S+)%s*(.*)$")
  if algorithm ~= "AWS4-HMAC-SHA256" then
    return nil, string.format("Unsupported AWS 'algorithm': '%s'", tostring(algorithm))
  end
  local fields = {}
  for part in rest:gmatch("[^,]+") do
    local k, v = part:match("^%s*([%w]+)=(.-)%s*$")
    if k then fields[k] = v end
  end
  local missing = {}
  for _, name in ipairs({ "Credential", "Signature", "SignedHeaders" }) do
    if not fields[name] or fields[name] == "" then
      missing[#missing + 1] = "Authorization header requires '" .. name .. "' parameter."
    end
  end
  if #missing > 0 then
    return nil, table.concat(missing, " ") .. " Authorization=" .. header
  end
  local key, date, region, service, terminator =
    fields.Credential:match("^([^/]+)/(%d%d%d%d%d%d%d%d)/([^/]+)/([^/]+)/([^/]+)$")
  if not key or terminator ~= "aws4_request" then
    return nil, "Credential should be scoped to a valid region, not the one in '"
      .. fields.Credential .. "'. Authorization=" .. header
  end
  return {
    key = key, date = date, region = region, service = service,
    signed_headers = fields.SignedHeaders, signature = fields.Signature,
  }
end

local function skew_message(signed_at, now, max_skew)
  local minutes = math.floor(max_skew / 60)
  if signed_at < now then
    return string.format("Signature expired: %s is now earlier than %s (%s - %d min.)",
      codec.amz_date(signed_at), codec.amz_date(now - max_skew), codec.amz_date(now), minutes)
  end
  return string.format("Signature not yet current: %s is still later than %s (%s + %d min.)",
    codec.amz_date(signed_at), codec.amz_date(now + max_skew), codec.amz_date(now), minutes)
end

-- Looks the key up: { secret, session_token?, arn, user_id } or nil, kind.
function Auth:lookup(key, token, opts)
  local long = self.keys[key]
  if long then return long end -- a session token beside a long-term key is ignored
  local temp = opts.temporary and opts.temporary(key)
  if not temp then return nil, "unknown_key", INVALID_TOKEN end
  if token ~= temp.session_token then return nil, "unknown_key", INVALID_TOKEN end
  if opts.virtual_now and temp.expiration <= opts.virtual_now then
    return nil, "expired_token", EXPIRED_TOKEN
  end
  return { secret = temp.secret_access_key, arn = temp.arn, user_id = temp.user_id, account = temp.account }
end

function Auth:verify(req, opts)
  local h = req.headers
  local header = h["authorization"]
  if not header or header == "" then
    return nil, "missing", "Missing Authentication Token"
  end
  local a, why = parse_authorization(header)
  if not a then return nil, "incomplete", why end
  local amz_date = h["x-amz-date"]
  local signed_at = amz_date and codec.parse_amz_date(amz_date)
  if not signed_at then
    return nil, "incomplete", "Authorization header requires existence of either a 'X-Amz-Date' or "
      .. "a 'Date' header. Authorization=" .. header
  end

  local signed = {}
  for name in a.signed_headers:gmatch("[^;]+") do signed[name] = true end
  if not signed.host then
    return nil, "signature", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
  end
  local token = h["x-amz-security-token"]
  local cred, kind, message = self:lookup(a.key, token, opts)
  if not cred then return nil, kind, message end

  local now = opts.real_now
  local max_skew = opts.max_skew or 300
  if math.abs(signed_at - now) > max_skew then
    return nil, "signature", skew_message(signed_at, now, max_skew)
  end
  if a.service ~= opts.signing_name then
    return nil, "signature", string.format("Credential should be scoped to correct service: '%s'. ",
      opts.signing_name)
  end
  if a.date ~= amz_date:sub(1, 8) then
    return nil, "signature", string.format("Date in Credential scope does not match YYYYMMDD from "
      .. "ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, amz_date:sub(1, 8), amz_date)
  end

  local headers = {}
  for name in pairs(signed) do
    if name ~= "x-amz-date" and name ~= "x-amz-security-token" and h[name] then
      headers[name] = h[name]
    end
  end
  local url = "http://" .. (h.host or "") .. req.path .. (req.query and ("?" .. req.query) or "")
  local _, dbg = sigv4.sign({
    method = req.method, url = url, headers = headers, body = req.body or "",
    region = a.region, service = a.service, access_key_id = a.key,
    secret_access_key = cred.secret,
    session_token = signed["x-amz-security-token"] and token or nil,
    time = signed_at,
  })
  if not dbg or dbg.signature ~= a.signature then
    return nil, "signature", SIGNATURE_MISMATCH
  end
  return {
    access_key_id = a.key, arn = cred.arn, user_id = cred.user_id,
    account = cred.account or self.account, region = a.region,
  }
end

return M
