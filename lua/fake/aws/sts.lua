-- STS: who is calling, and temporary credentials the fake then accepts for
-- signing (ASIA... keys with a session token, expiring on the virtual
-- clock). AssumeRoleWithWebIdentity is unsigned, as in AWS: the web
-- identity token (a JWT, e.g. a Kubernetes service account token for IRSA)
-- is read but its signature is not checked.
--
-- State: credentials[access_key_id] = { secret_access_key, session_token,
-- expiration, arn, user_id, account }.
local codec = require("fake.aws.codec")
local json = require("smop.json")
local sigv4 = require("smop.sigv4")

local M = { service = "sts" }

local SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
-- Expired credentials are forgotten this long after they expired (a client
-- still using them gets "invalid" instead of "expired" then, as from AWS
-- after a while).
local FORGET_AFTER = 86400

local function credentials_table(ctx)
  ctx.state.credentials = ctx.state.credentials or {}
  return ctx.state.credentials
end

-- For auth.lua: the temporary credentials of an access key id, or nil.
function M.credentials_for(state, key)
  return state.credentials and state.credentials[key] or nil
end

-- "arn:aws:iam::111122223333:role/path/name" -> account, name; or nil.
local function parse_role_arn(arn)
  local partition, account, path = arn:match("^arn:(aws[%w%-]*):iam::(%d%d%d%d%d%d%d%d%d%d%d%d):role/(.+)$")
  if not partition then return nil end
  return account, path:match("([^/]+)$"), partition
end

local function role_id(role_arn)
  return "AROA" .. sigv4.sha256_hex(role_arn):upper():gsub("[^A-Z2-7]", ""):sub(1, 17)
end

local function forget_expired(creds, now)
  for key, c in pairs(creds) do
    if c.expiration + FORGET_AFTER < now then creds[key] = nil end
  end
end

-- Issues credentials for identity { arn, user_id, account }; returns the
-- API's Credentials structure.
local function issue(ctx, identity, duration)
  local creds = credentials_table(ctx)
  local now = ctx.now()
  forget_expired(creds, now)
  local key
  repeat key = "ASIA" .. codec.random_string(16) until not creds[key]
  local entry = {
    secret_access_key = codec.random_string(40, SECRET_ALPHABET),
    session_token = "FwoGZXIvYXdzE" .. codec.random_string(300, SECRET_ALPHABET),
    expiration = math.floor(now + duration),
    arn = identity.arn, user_id = identity.user_id, account = identity.account,
  }
  creds[key] = entry
  return {
    AccessKeyId = key, SecretAccessKey = entry.secret_access_key,
    SessionToken = entry.session_token, Expiration = entry.expiration,
  }
end

local function assume(ctx, role_arn, session_name, duration)
  local account, role_name, partition = parse_role_arn(role_arn)
  if not account then
    return nil, ctx.error("ValidationError", string.format(
      "%s is not a valid role ARN (arn:aws:iam::<account>:role/<name>)", role_arn))
  end
  local user = {
    AssumedRoleId = role_id(role_arn) .. ":" .. session_name,
    Arn = string.format("arn:%s:sts::%s:assumed-role/%s/%s", partition, account, role_name, session_name),
  }
  local credentials = issue(ctx, { arn = user.Arn, user_id = user.AssumedRoleId, account = account },
    duration or 3600)
  return credentials, user
end

local operations = {}

function operations.GetCallerIdentity(ctx)
  local c = ctx.caller
  return { UserId = c.user_id, Account = c.account, Arn = c.arn }
end

function operations.AssumeRole(ctx, input)
  local credentials, user = assume(ctx, input.RoleArn, input.RoleSessionName, input.DurationSeconds)
  if not credentials then return nil, user end
  return { Credentials = credentials, AssumedRoleUser = user }
end

-- The claims of a JWT, or nil: header.payload.signature, base64url JSON.
local function jwt_claims(token)
  local payload = token:match("^[%w%-_=]+%.([%w%-_=]+)%.[%w%-_=]*$")
  local text = payload and codec.unbase64(payload)
  local claims = text and json.decode(text)
  if type(claims) ~= "table" or json.is_array(claims) then return nil end
  return claims
end

function operations.AssumeRoleWithWebIdentity(ctx, input)
  local claims = jwt_claims(input.WebIdentityToken)
  if not claims then
    return nil, ctx.error("InvalidIdentityToken", "The web identity token is not a valid JWT "
      .. "(three base64url parts: header.payload.signature, with a JSON payload)")
  end
  -- The token comes from outside (the Kubernetes API server): its expiry is
  -- on the real clock, not the virtual one.
  local real_now = os.time()
  if type(claims.exp) == "number" and claims.exp < real_now then
    return nil, ctx.error("ExpiredTokenException", string.format(
      "Token expired: current date/time %d must be before the expiration date/time %d",
      real_now, math.floor(claims.exp)))
  end
  local credentials, user = assume(ctx, input.RoleArn, input.RoleSessionName, input.DurationSeconds)
  if not credentials then return nil, user end
  local aud = claims.aud
  if type(aud) == "table" then aud = aud[1] end
  local iss = type(claims.iss) == "string" and claims.iss:gsub("^https://", "") or nil
  return {
    Credentials = credentials, AssumedRoleUser = user,
    SubjectFromWebIdentityToken = type(claims.sub) == "string" and claims.sub or nil,
    Provider = iss, Audience = type(aud) == "string" and aud or nil,
  }
end

function operations.GetSessionToken(ctx, input)
  local c = ctx.caller
  if c.access_key_id:sub(1, 4) == "ASIA" then
    return nil, ctx.error("AccessDenied", "Cannot call GetSessionToken with session credentials")
  end
  return { Credentials = issue(ctx, c, input.DurationSeconds or 43200) }
end

M.operations = operations
return M
