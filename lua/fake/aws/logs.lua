-- CloudWatch Logs: log groups and streams, events written by PutLogEvents
-- or by SageMaker jobs (ctx.log -> M.append), read back by GetLogEvents
-- (forward and backward tokens), FilterLogEvents and the Describe calls.
-- Times are epoch milliseconds, as the API has them.
--
-- State: groups[name] = { creationTime, arn, retentionInDays?, kmsKeyId?,
-- next_stream_id, streams[name] = { id, creationTime, events = [ {
-- timestamp, message, ingestionTime } ] (sorted by timestamp), firstEventTimestamp,
-- lastEventTimestamp, lastIngestionTime, uploadSequenceToken, storedBytes } }.
local json = require("smop.json")
local paginate = require("fake.aws.paginate")

local M = { service = "logs" }

local MAX_EVENTS_BYTES = 1048576
local EVENT_OVERHEAD = 26
local DAY_MS = 86400 * 1000

local function ms(seconds)
  return math.floor(seconds * 1000)
end

local function groups_of(state)
  state.groups = state.groups or {}
  return state.groups
end

local function new_group(region, account, name, now_ms)
  return {
    creationTime = now_ms,
    arn = string.format("arn:aws:logs:%s:%s:log-group:%s:*", region, account, name),
    streams = {}, next_stream_id = 1, storedBytes = 0,
  }
end

local function new_stream(group, name, now_ms)
  local id = group.next_stream_id
  group.next_stream_id = id + 1
  return {
    id = id, creationTime = now_ms, events = json.array(), storedBytes = 0,
    arn = group.arn:gsub(":%*$", "") .. ":log-stream:" .. name,
  }
end

-- Inserts an event keeping the stream sorted by timestamp (appending is
-- the usual case).
local function insert_event(stream, event)
  local events = stream.events
  local i = #events
  while i > 0 and events[i].timestamp > event.timestamp do i = i - 1 end
  table.insert(events, i + 1, event)
  stream.firstEventTimestamp = math.min(stream.firstEventTimestamp or event.timestamp, event.timestamp)
  stream.lastEventTimestamp = math.max(stream.lastEventTimestamp or event.timestamp, event.timestamp)
  stream.lastIngestionTime = event.ingestionTime
  stream.storedBytes = stream.storedBytes + #event.message
end

local function next_sequence_token(stream)
  local n = (tonumber(stream.uploadSequenceToken or "0") or 0) + 1
  stream.uploadSequenceToken = string.format("%056d", n)
  return stream.uploadSequenceToken
end

-- For ctx.log: appends message to group/stream (both created on first use),
-- at and ingested in epoch seconds.
function M.append(state, group_name, stream_name, message, at, ingested, region, account)
  local groups = groups_of(state)
  local group = groups[group_name]
  if not group then
    group = new_group(region or "us-east-1", account or "123456789012", group_name, ms(at))
    groups[group_name] = group
  end
  local stream = group.streams[stream_name]
  if not stream then
    stream = new_stream(group, stream_name, ms(at))
    group.streams[stream_name] = stream
  end
  insert_event(stream, { timestamp = ms(at), message = tostring(message),
    ingestionTime = ms(ingested or at) })
end

-- ---- lookups ----

local function not_found(ctx, what)
  return nil, ctx.error("ResourceNotFoundException", "The specified " .. what .. " does not exist.")
end

local function invalid(ctx, message)
  return nil, ctx.error("InvalidParameterException", message)
end

-- The group a request names (logGroupName or logGroupIdentifier: a name or
-- an ARN).
local function group_name_of(ctx, input)
  local name, ident = input.logGroupName, input.logGroupIdentifier
  if name and ident then
    return invalid(ctx, "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
  end
  if ident then
    name = ident:match("^arn:[^:]+:logs:[^:]*:[^:]*:log%-group:([^:]+)") or ident
  end
  if not name then return invalid(ctx, "Either logGroupName or logGroupIdentifier is required.") end
  return name
end

local function find_group(ctx, input)
  local name, err = group_name_of(ctx, input)
  if not name then return nil, err end
  local group = groups_of(ctx.state)[name]
  if not group then return not_found(ctx, "log group") end
  return group, name
end

local function find_stream(ctx, input)
  local group, err = find_group(ctx, input)
  if not group then return nil, err end
  local stream = group.streams[input.logStreamName]
  if not stream then return not_found(ctx, "log stream") end
  return stream, group
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local BAD_TOKEN = "The specified nextToken is invalid."

-- ---- operations ----

local operations = {}

function operations.CreateLogGroup(ctx, input)
  local groups = groups_of(ctx.state)
  local name = input.logGroupName
  if groups[name] then
    return nil, ctx.error("ResourceAlreadyExistsException", "The specified log group already exists")
  end
  local group = new_group(ctx.region, ctx.account, name, ms(ctx.now()))
  group.kmsKeyId = input.kmsKeyId
  groups[name] = group
  return {}
end

function operations.DeleteLogGroup(ctx, input)
  local group, err = find_group(ctx, input)
  if not group then return nil, err end
  groups_of(ctx.state)[input.logGroupName] = nil
  return {}
end

function operations.CreateLogStream(ctx, input)
  local group, err = find_group(ctx, input)
  if not group then return nil, err end
  if group.streams[input.logStreamName] then
    return nil, ctx.error("ResourceAlreadyExistsException", "The specified log stream already exists")
  end
  group.streams[input.logStreamName] = new_stream(group, input.logStreamName, ms(ctx.now()))
  return {}
end

function operations.DeleteLogStream(ctx, input)
  local stream, group = find_stream(ctx, input)
  if not stream then return nil, group end
  group.streams[input.logStreamName] = nil
  return {}
end

function operations.PutLogEvents(ctx, input)
  local stream, group = find_stream(ctx, input)
  if not stream then return nil, group end
  local events = input.logEvents
  local bytes = 0
  for i, e in ipairs(events) do
    if i > 1 and e.timestamp < events[i - 1].timestamp then
      return invalid(ctx, "Log events in a single PutLogEvents request must be in chronological order.")
    end
    bytes = bytes + #e.message + EVENT_OVERHEAD
  end
  if bytes > MAX_EVENTS_BYTES then
    return invalid(ctx, "Upload too large: " .. bytes .. " bytes exceeds the 1048576 bytes limit.")
  end
  if events[#events].timestamp - events[1].timestamp > DAY_MS then
    return invalid(ctx, "The batch of log events in a single PutLogEvents request cannot span "
      .. "more than 24 hours.")
  end
  local now = ms(ctx.now())
  local too_old, too_new
  for i, e in ipairs(events) do
    if e.timestamp < now - 14 * DAY_MS then
      too_old = i - 1 -- the API's indexes count from 0
    elseif e.timestamp > now + 2 * 3600 * 1000 then
      too_new = too_new or i - 1
    else
      insert_event(stream, { timestamp = e.timestamp, message = e.message, ingestionTime = now })
    end
  end
  group.storedBytes = (group.storedBytes or 0) + bytes
  local out = { nextSequenceToken = next_sequence_token(stream) }
  if too_old or too_new then
    out.rejectedLogEventsInfo = { tooOldLogEventEndIndex = too_old, tooNewLogEventStartIndex = too_new }
  end
  return out
end

local function token_text(dir, index)
  return string.format("%s/%056d/s", dir, index)
end

local function parse_token(token)
  local dir, index = token:match("^([fb])/(%d+)/s$")
  if not dir then return nil end
  return dir, tonumber(index)
end

local function in_window(e, input)
  return (not input.startTime or e.timestamp >= input.startTime)
    and (not input.endTime or e.timestamp < input.endTime)
end

-- Tokens are positions in the stream (1-based event index): "f/i" reads
-- forward from event i, "b/i" backward from just before it. At the end,
-- the token given comes back unchanged, which is how clients know to stop.
function operations.GetLogEvents(ctx, input)
  local stream, err = find_stream(ctx, input)
  if not stream then return nil, err end
  local events = stream.events
  local limit = input.limit or 10000
  local dir, pos
  if input.nextToken then
    dir, pos = parse_token(input.nextToken)
    if not dir or pos < 1 or pos > #events + 1 then return invalid(ctx, BAD_TOKEN) end
  elseif input.startFromHead then
    dir, pos = "f", 1
  else
    dir, pos = "b", #events + 1
  end

  local picked, bytes = {}, 0
  local function take(e)
    bytes = bytes + #e.message + EVENT_OVERHEAD
    if #picked >= limit or (bytes > MAX_EVENTS_BYTES and #picked > 0) then return false end
    return true
  end
  if dir == "f" then
    for i = pos, #events do
      local e = events[i]
      if in_window(e, input) then
        if not take(e) then break end
        picked[#picked + 1] = i
      end
    end
  else
    for i = pos - 1, 1, -1 do
      local e = events[i]
      if in_window(e, input) then
        if not take(e) then break end
        table.insert(picked, 1, i)
      end
    end
  end

  local out = json.array()
  for _, i in ipairs(picked) do
    local e = events[i]
    out[#out + 1] = { timestamp = e.timestamp, message = e.message, ingestionTime = e.ingestionTime }
  end
  if #picked == 0 then
    return { events = out, nextForwardToken = token_text("f", pos), nextBackwardToken = token_text("b", pos) }
  end
  return {
    events = out,
    nextForwardToken = token_text("f", picked[#picked] + 1),
    nextBackwardToken = token_text("b", picked[1]),
  }
end

-- Filter patterns: the term syntax (AND of terms, "quoted phrases", -term
-- to exclude, ?term for any-of). JSON and space-delimited patterns are not
-- supported.
local function parse_pattern(pattern)
  local all, any, none = {}, {}, {}
  local rest = pattern
  while true do
    rest = rest:gsub("^%s+", "")
    if rest == "" then break end
    local prefix = rest:match("^([%?%-]?)")
    rest = rest:sub(#prefix + 1)
    local term
    if rest:sub(1, 1) == '"' then
      term = rest:match('^"(.-)"')
      if not term then return nil end
      rest = rest:sub(#term + 3)
    else
      term = rest:match("^(%S+)")
      rest = rest:sub(#term + 1)
    end
    local list = prefix == "?" and any or prefix == "-" and none or all
    list[#list + 1] = term
  end
  return { all = all, any = any, none = none }
end

local function pattern_matches(p, message)
  for _, t in ipairs(p.all) do
    if not message:find(t, 1, true) then return false end
  end
  for _, t in ipairs(p.none) do
    if message:find(t, 1, true) then return false end
  end
  if #p.any == 0 then return true end
  for _, t in ipairs(p.any) do
    if message:find(t, 1, true) then return true end
  end
  return false
end

function operations.FilterLogEvents(ctx, input)
  local group, err = find_group(ctx, input)
  if not group then return nil, err end
  if input.logStreamNames and input.logStreamNamePrefix then
    return invalid(ctx, "You cannot specify both logStreamNames and logStreamNamePrefix.")
  end
  local pattern = input.filterPattern or ""
  local p = parse_pattern(pattern)
  if not p or pattern:match("^%s*[{%[]") then
    return invalid(ctx, "Invalid filter pattern: smop fake-aws supports term patterns only "
      .. "(words, \"phrases\", -exclude, ?any)")
  end
  local names
  if input.logStreamNames then
    names = {}
    for _, n in ipairs(input.logStreamNames) do
      if group.streams[n] then names[#names + 1] = n end
    end
    table.sort(names)
  else
    names = {}
    local prefix = input.logStreamNamePrefix or ""
    for _, n in ipairs(sorted_keys(group.streams)) do
      if n:sub(1, #prefix) == prefix then names[#names + 1] = n end
    end
  end

  local found, searched = {}, json.array()
  for _, n in ipairs(names) do
    local stream = group.streams[n]
    searched[#searched + 1] = { logStreamName = n, searchedCompletely = true }
    for i, e in ipairs(stream.events) do
      if in_window(e, input) and pattern_matches(p, e.message) then
        found[#found + 1] = {
          logStreamName = n, timestamp = e.timestamp, message = e.message,
          ingestionTime = e.ingestionTime,
          eventId = string.format("%d%08d%08d", e.timestamp, stream.id, i),
        }
      end
    end
  end
  table.sort(found, function(a, b)
    if a.timestamp ~= b.timestamp then return a.timestamp < b.timestamp end
    return a.eventId < b.eventId
  end)
  local page, token = paginate.page(found, input, {
    scope = "FilterLogEvents", token_field = "nextToken", max_field = "limit",
    default = 10000, limit = 10000, key = function(e) return e.eventId end,
  })
  if not page then return invalid(ctx, BAD_TOKEN) end
  return { events = page, searchedLogStreams = searched, nextToken = token }
end

function operations.DescribeLogStreams(ctx, input)
  local group, err = find_group(ctx, input)
  if not group then return nil, err end
  local order = input.orderBy or "LogStreamName"
  if order == "LastEventTime" and input.logStreamNamePrefix then
    return invalid(ctx, "Cannot order by LastEventTime with a logStreamNamePrefix.")
  end
  local prefix = input.logStreamNamePrefix or ""
  local list = {}
  for _, n in ipairs(sorted_keys(group.streams)) do
    if n:sub(1, #prefix) == prefix then
      local s = group.streams[n]
      list[#list + 1] = {
        logStreamName = n, creationTime = s.creationTime, arn = s.arn,
        firstEventTimestamp = s.firstEventTimestamp, lastEventTimestamp = s.lastEventTimestamp,
        lastIngestionTime = s.lastIngestionTime, uploadSequenceToken = s.uploadSequenceToken,
        storedBytes = s.storedBytes,
      }
    end
  end
  if order == "LastEventTime" then
    table.sort(list, function(a, b)
      local x, y = a.lastEventTimestamp or 0, b.lastEventTimestamp or 0
      if x ~= y then return x < y end
      return a.logStreamName < b.logStreamName
    end)
  end
  if input.descending then
    local n = #list
    for i = 1, n // 2 do list[i], list[n - i + 1] = list[n - i + 1], list[i] end
  end
  local page, token = paginate.page(list, input, {
    scope = "DescribeLogStreams", token_field = "nextToken", max_field = "limit",
    default = 50, limit = 50, key = function(s) return s.logStreamName end,
  })
  if not page then return invalid(ctx, BAD_TOKEN) end
  return { logStreams = page, nextToken = token }
end

function operations.DescribeLogGroups(ctx, input)
  if input.logGroupNamePrefix and input.logGroupNamePattern then
    return invalid(ctx, "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
  end
  local groups = groups_of(ctx.state)
  local prefix = input.logGroupNamePrefix or ""
  local pattern = input.logGroupNamePattern and input.logGroupNamePattern:lower()
  local list = {}
  for _, n in ipairs(sorted_keys(groups)) do
    local g = groups[n]
    if n:sub(1, #prefix) == prefix and (not pattern or n:lower():find(pattern, 1, true)) then
      list[#list + 1] = {
        logGroupName = n, creationTime = g.creationTime, retentionInDays = g.retentionInDays,
        metricFilterCount = 0, arn = g.arn, storedBytes = g.storedBytes or 0, kmsKeyId = g.kmsKeyId,
      }
    end
  end
  local page, token = paginate.page(list, input, {
    scope = "DescribeLogGroups", token_field = "nextToken", max_field = "limit",
    default = 50, limit = 50, key = function(g) return g.logGroupName end,
  })
  if not page then return invalid(ctx, BAD_TOKEN) end
  return { logGroups = page, nextToken = token }
end

M.operations = operations
return M
