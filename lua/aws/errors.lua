-- AWS error values and their classification.
--
-- Every failure of an AWS call is a table
--   { kind = "service"|"transport"|"credentials", code = "ThrottlingException",
--     message = "...", status = 400, request_id = "...", operation = "..." }
-- with a __tostring in the AWS CLI's words. retryable(err) and throttled(err)
-- say how a caller should react (the operator maps them to Reconciling vs
-- Error).
local M = {}

local throttling_codes = {
  Throttling = true, ThrottlingException = true, ThrottledException = true,
  RequestThrottledException = true, TooManyRequestsException = true,
  ProvisionedThroughputExceededException = true, TransactionInProgressException = true,
  RequestLimitExceeded = true, BandwidthLimitExceeded = true, LimitExceededException = true,
  RequestThrottled = true, SlowDown = true, EC2ThrottledException = true,
}

local transient_codes = {
  RequestTimeout = true, RequestTimeoutException = true, PriorRequestNotComplete = true,
  InternalFailure = true, InternalError = true, InternalServerError = true,
  ServiceUnavailable = true, ServiceUnavailableException = true,
  IDPCommunicationError = true,
}

local mt = {}
mt.__index = mt
function mt.__tostring(e)
  if e.kind == "service" then
    return string.format("An error occurred (%s) when calling the %s operation: %s",
      e.code, e.operation or "?", e.message or "")
  end
  return e.message or e.code or "unknown error"
end

function M.new(fields)
  return setmetatable(fields, mt)
end

function M.is_error(v)
  return getmetatable(v) == mt
end

function M.throttled(e)
  return e.kind == "service" and throttling_codes[e.code] == true
end

function M.retryable(e)
  if e.kind == "transport" then return true end
  if e.kind ~= "service" then return false end
  if throttling_codes[e.code] or transient_codes[e.code] then return true end
  return e.status ~= nil and e.status >= 500
end

return M
