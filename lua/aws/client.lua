-- AWS API client: JSON 1.1 (SageMaker, Application Auto Scaling, CloudWatch
-- Logs) and query (STS) protocols, SigV4-signed, with the SDKs' standard
-- retry policy. The same code serves `smop aws` and the kind scripts.
--
--   local client = require("aws.client")
--   local sm = assert(client.new{ service = "sagemaker", region = "us-west-2" })
--   local out, err = sm:call("DescribeTrainingJob", { TrainingJobName = "x" })
--   -- err: an aws.errors value (kind, code, message, status, request_id)
--
-- Options of new: service, region (required); endpoint (URL; default the
-- public regional endpoint); profile or credentials ({access_key_id,
-- secret_access_key, session_token}); max_attempts (default 3, as the SDKs'
-- "standard" mode); timeout (seconds); ca_file.
local creds = require("smop.creds")
local errors = require("aws.errors")
local http = require("smop.http")
local json = require("smop.json")
local log = require("smop.log")
local model_loader = require("aws.model")
local query = require("aws.query")
local sigv4 = require("smop.sigv4")
local task = require("smop.task")

local M = {}
local Client = {}
Client.__index = Client

local MAX_BACKOFF = 20

-- https://<prefix>.<region>.amazonaws.com (.com.cn in the China regions).
function M.default_endpoint(model, region)
  local suffix = region:match("^cn%-") and "amazonaws.com.cn" or "amazonaws.com"
  return string.format("https://%s.%s.%s", model.metadata.endpointPrefix, region, suffix)
end

function M.new(opts)
  local model, err = model_loader.load(opts.service)
  if not model then return nil, err end
  if type(opts.region) ~= "string" or not opts.region:match("^[%w%-]+$") then
    return nil, "a region is required (e.g. us-west-2)"
  end
  local endpoint = opts.endpoint or M.default_endpoint(model, opts.region)
  if not endpoint:match("^https?://[^/]+") then
    return nil, string.format("endpoint '%s' is not an http(s) URL", endpoint)
  end
  return setmetatable({
    service = opts.service,
    model = model,
    region = opts.region,
    endpoint = endpoint:gsub("/+$", ""),
    profile = opts.profile,
    credentials = opts.credentials,
    max_attempts = opts.max_attempts or 3,
    timeout = opts.timeout or 60,
    ca_file = opts.ca_file,
  }, Client)
end

local function service_error(op, status, code, message, request_id)
  return errors.new({ kind = "service", operation = op, status = status,
    code = code or ("HTTP" .. status), message = message or "", request_id = request_id })
end

-- JSON 1.1: the code is in __type ("prefix#Code") or x-amzn-errortype.
local function json_error(op, res)
  local body = json.decode(res.body ~= "" and res.body or "{}") or {}
  local code = type(body) == "table" and body.__type or nil
  if type(code) == "string" then
    code = code:match("#(.+)$") or code
  else
    code = res.headers["x-amzn-errortype"]
    code = code and code:match("^[^:]+")
  end
  local message = type(body) == "table" and (body.message or body.Message or body.errorMessage) or nil
  return service_error(op, res.status, code, message, res.headers["x-amzn-requestid"])
end

function Client:build_request(op, params)
  local meta = self.model.metadata
  if meta.protocol == "json" then
    local body, err = json.encode(params)
    if not body then return nil, err end
    return {
      body = body,
      headers = {
        ["Content-Type"] = "application/x-amz-json-" .. (meta.jsonVersion or "1.1"),
        ["X-Amz-Target"] = meta.targetPrefix .. "." .. op,
      },
    }
  end
  return {
    body = query.encode(self.model, op, params),
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" },
  }
end

function Client:parse_response(op, res)
  local protocol = self.model.metadata.protocol
  if res.status >= 200 and res.status < 300 then
    if protocol == "json" then
      if res.body == "" then return {} end
      local out, err = json.decode(res.body)
      if out == nil then
        return nil, errors.new({ kind = "transport", operation = op,
          message = "invalid JSON in the answer to " .. op .. ": " .. tostring(err) })
      end
      return out
    end
    local out, err = query.decode(self.model, op, res.body)
    if not out then
      return nil, errors.new({ kind = "transport", operation = op, message = err })
    end
    return out
  end
  if protocol == "json" then return nil, json_error(op, res) end
  local code, message, request_id = query.decode_error(res.body)
  return nil, service_error(op, res.status, code, message, request_id)
end

function Client:credentials_for_call()
  if self.credentials then return self.credentials end
  local c, err = creds.get({ profile = self.profile })
  if not c then
    return nil, errors.new({ kind = "credentials", message = err })
  end
  if c.refresh_error then
    -- still valid, but the refresh failed: say so before they expire
    log.warn("AWS credentials refresh failed; using the current ones until they expire",
      { source = c.source, error = c.refresh_error })
  end
  return c
end

-- One attempt: sign and send, return output or nil, err.
function Client:attempt(op, req)
  local c, cerr = self:credentials_for_call()
  if not c then return nil, cerr end
  local url = self.endpoint .. "/"
  local signed, serr = sigv4.sign({
    method = "POST", url = url, headers = req.headers, body = req.body,
    region = self.region, service = self.model.metadata.signingName or self.model.metadata.endpointPrefix,
    access_key_id = c.access_key_id, secret_access_key = c.secret_access_key,
    session_token = c.session_token,
  })
  if not signed then
    return nil, errors.new({ kind = "credentials", message = serr })
  end
  local headers = {}
  for k, v in pairs(req.headers) do headers[k] = v end
  for k, v in pairs(signed) do headers[k] = v end
  local res, herr = http.request({
    method = "POST", url = url, headers = headers, body = req.body,
    timeout = self.timeout, ca_file = self.ca_file,
  })
  if not res then
    return nil, errors.new({ kind = "transport", operation = op,
      message = string.format("%s %s: %s", op, self.endpoint, herr) })
  end
  return self:parse_response(op, res)
end

-- Calls operation op with params (a table shaped like the API's input).
function Client:call(op, params, opts)
  opts = opts or {}
  if not self.model.operations[op] then
    return nil, errors.new({ kind = "service", operation = op, code = "UnknownOperation",
      message = string.format("%s has no operation %s", self.service, op) })
  end
  local req, err = self:build_request(op, params or {})
  if not req then
    return nil, errors.new({ kind = "service", operation = op, code = "InvalidParameter",
      message = "cannot encode the request: " .. tostring(err) })
  end
  local max = opts.max_attempts or self.max_attempts
  for attempt = 1, max do
    local out, cerr = self:attempt(op, req)
    if out then return out end
    if attempt == max or not errors.retryable(cerr) then return nil, cerr end
    -- full jitter, exponential, capped: the SDKs' standard mode
    task.sleep(math.random() * math.min(MAX_BACKOFF, 2 ^ attempt * 0.05))
  end
end

return M
