-- Fault injection rules, set through the control endpoint.
--
--   kind      what it does to a matching call
--   throttle  answer the service's throttling error (no side effect)
--   error     answer an HTTP 5xx (default 500 InternalFailure; 503
--             ServiceUnavailable; or any status/code/message given)
--   latency   wait `seconds` (real time) before handling the call
--   drop      handle the call (its side effects happen), then drop the
--             connection halfway through the answer
--   fail      not a call fault: the job or resource called `name` fails with
--             FailureReason `reason` (services read it as ctx.failure_for)
--
-- A rule matches on `service` (nil = any) and `operation` (nil or "*" =
-- any) and fires `count` times (nil = until removed); `remaining` counts
-- down and a spent rule is dropped. A `fail` rule stays until removed.
local M = {}
local Set = {}
Set.__index = Set

local KINDS = { throttle = true, error = true, latency = true, drop = true, fail = true }
local MAX_LATENCY = 600

local default_codes = { [500] = "InternalFailure", [503] = "ServiceUnavailable" }

function M.new(services)
  return setmetatable({ rules = {}, next_id = 1, services = services or {} }, Set)
end

local function copy(rule)
  local c = {}
  for k, v in pairs(rule) do c[k] = v end
  return c
end

-- Checks and adds a rule from the control endpoint's JSON; returns a copy of
-- the stored rule, or nil, message.
function Set:add(spec)
  if type(spec) ~= "table" then return nil, "a fault is a JSON object" end
  local kind = spec.kind
  if not KINDS[kind] then
    return nil, "kind must be one of throttle, error, latency, drop, fail"
  end
  local rule = { kind = kind }
  if spec.service ~= nil then
    if not self.services[spec.service] then
      local names = {}
      for name in pairs(self.services) do names[#names + 1] = name end
      table.sort(names)
      return nil, "service must be one of " .. table.concat(names, ", ")
    end
    rule.service = spec.service
  end
  if spec.operation ~= nil and spec.operation ~= "*" then
    if type(spec.operation) ~= "string" or spec.operation == "" then
      return nil, "operation must be an operation name such as DescribeTrainingJob, or \"*\""
    end
    rule.operation = spec.operation
  end
  if spec.count ~= nil then
    if math.type(spec.count) ~= "integer" or spec.count < 1 then
      return nil, "count must be a positive integer (leave it out for \"until removed\")"
    end
    rule.count, rule.remaining = spec.count, spec.count
  end
  if kind == "latency" then
    if type(spec.seconds) ~= "number" or spec.seconds < 0 or spec.seconds > MAX_LATENCY then
      return nil, "latency needs seconds, between 0 and " .. MAX_LATENCY
    end
    rule.seconds = spec.seconds
  elseif kind == "error" then
    local status = spec.status or 500
    if math.type(status) ~= "integer" or status < 400 or status > 599 then
      return nil, "status must be an HTTP error status (400-599)"
    end
    rule.status = status
    rule.code = spec.code or default_codes[status] or (status >= 500 and "InternalFailure" or nil)
    if type(rule.code) ~= "string" then return nil, "an error with status " .. status .. " needs a code" end
    if spec.message ~= nil and type(spec.message) ~= "string" then return nil, "message must be a string" end
    rule.message = spec.message
  elseif kind == "fail" then
    if type(spec.name) ~= "string" or spec.name == "" then return nil, "fail needs the name of a job" end
    if type(spec.reason) ~= "string" or spec.reason == "" then return nil, "fail needs a reason" end
    rule.name, rule.reason = spec.name, spec.reason
    rule.count, rule.remaining = nil, nil
  end
  rule.id = "f" .. self.next_id
  rule.hits = 0
  self.next_id = self.next_id + 1
  self.rules[#self.rules + 1] = rule
  return copy(rule)
end

function Set:list()
  local out = {}
  for i, rule in ipairs(self.rules) do out[i] = copy(rule) end
  return out
end

function Set:remove(id)
  for i, rule in ipairs(self.rules) do
    if rule.id == id then
      table.remove(self.rules, i)
      return true
    end
  end
  return false
end

function Set:clear()
  self.rules = {}
end

local function matches(rule, service, operation)
  return (rule.service == nil or rule.service == service)
    and (rule.operation == nil or rule.operation == operation)
end

local function spend(self, i, rule)
  rule.hits = rule.hits + 1
  if rule.remaining then
    rule.remaining = rule.remaining - 1
    if rule.remaining == 0 then table.remove(self.rules, i) end
  end
end

-- The first rule of `kind` matching the call, spent once; or nil.
function Set:take(kind, service, operation)
  for i, rule in ipairs(self.rules) do
    if rule.kind == kind and matches(rule, service, operation) then
      spend(self, i, rule)
      return rule
    end
  end
  return nil
end

-- The first throttle or error rule matching the call (whichever was added
-- first), spent once; or nil.
function Set:take_answer(service, operation)
  for i, rule in ipairs(self.rules) do
    if (rule.kind == "throttle" or rule.kind == "error") and matches(rule, service, operation) then
      spend(self, i, rule)
      return rule
    end
  end
  return nil
end

-- Total latency of every matching latency rule, each spent once.
function Set:take_latency(service, operation)
  local total, i = 0, 1
  while i <= #self.rules do
    local rule = self.rules[i]
    local before = #self.rules
    if rule.kind == "latency" and matches(rule, service, operation) then
      total = total + rule.seconds
      spend(self, i, rule)
    end
    if #self.rules == before then i = i + 1 end
  end
  return total
end

function Set:failure_for(name)
  for _, rule in ipairs(self.rules) do
    if rule.kind == "fail" and rule.name == name then
      return rule.reason
    end
  end
  return nil
end

return M
