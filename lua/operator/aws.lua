-- The AWS clients kind scripts get from ctx.aws(service): one per
-- (service, region, endpoint), and every call checked against the API model
-- before it is sent (DESIGN contract 5: bad input never reaches SageMaker).
--
--   local clients = aws.new{ endpoints = { sagemaker = url }, endpoint_url = url,
--                            credentials = {...} | nil (the chain), max_attempts = 1 }
--   local sm = clients:get("sagemaker", "us-west-2", spec_endpoint)
--   local out, err = sm:call("DescribeTrainingJob", { TrainingJobName = "x" })
--
-- A request the model refuses comes back as an aws.errors value of kind
-- "validation" (code ValidationException or SerializationException, the
-- message in AWS's words, naming the member path): not retryable, so the
-- driver shows it as Error. One attempt per call by default: the work
-- queue's per-object backoff is the retry, and a reconcile does not hold a
-- worker while it sleeps.
local client = require("aws.client")
local errors = require("aws.errors")
local log = require("smop.log")
local validate = require("aws.validate")

local M = {}
local Clients = {}
Clients.__index = Clients

local Checked = {}
Checked.__index = Checked

function M.new(opts)
  opts = opts or {}
  return setmetatable({
    endpoints = opts.endpoints or {},
    endpoint_url = opts.endpoint_url,
    credentials = opts.credentials,
    max_attempts = opts.max_attempts or 1,
    timeout = opts.timeout or 30,
    metrics = opts.metrics,
    cache = {},
  }, Clients)
end

-- endpoint: the object's own override (spec.sageMakerEndpoint) or nil.
function Clients:get(service, region, endpoint)
  endpoint = endpoint or self.endpoints[service] or self.endpoint_url
  local key = table.concat({ service, tostring(region), endpoint or "" }, "|")
  local c = self.cache[key]
  if c then return c end
  local inner, err = client.new({ service = service, region = region, endpoint = endpoint,
    credentials = self.credentials, max_attempts = self.max_attempts, timeout = self.timeout })
  if not inner then return nil, err end
  c = setmetatable({ inner = inner, service = service, metrics = self.metrics }, Checked)
  self.cache[key] = c
  return c
end

function Checked:call(op, params, opts)
  local ok, warnings_or_message, errs = validate.request(self.inner.model, op, params or {})
  if not ok then
    return nil, errors.new({ kind = "validation", operation = op,
      code = errs and errs.code or "ValidationException", message = warnings_or_message })
  end
  for _, w in ipairs(warnings_or_message) do
    log.debug("aws: request member not in the model", { operation = op, path = w.path })
  end
  local out, err = self.inner:call(op, params, opts)
  if self.metrics then
    local code = err and (err.code or err.kind) or ""
    self.metrics:inc("smop_aws_calls_total", { service = self.service, operation = op, code = code })
    if err and errors.throttled(err) then
      self.metrics:inc("smop_aws_throttles_total", { service = self.service, operation = op })
    end
  end
  return out, err
end

return M
