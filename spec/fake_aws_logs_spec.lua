-- The fake CloudWatch Logs through the real server and aws.client: groups,
-- streams, PutLogEvents, GetLogEvents tokens both ways, FilterLogEvents,
-- the Describe calls and their pages, and log lines written by services
-- (ctx.log).
local fa = require("spec.support.fake_aws")
local json = require("smop.json")

local T0 = 1700000000000 -- ms

-- The app's clock frozen at T0 (+ a minute), so timestamps are exact.
local function serve(fn, opts)
  opts = opts or {}
  opts.now = T0 / 1000 + 60
  fa.serve(opts, function(env)
    fn(env, env.client("logs"))
  end)
end

local function ok(out, err)
  assert(out, err and tostring(err))
  return out
end

local function put(logs, group, stream, messages, start)
  local events = {}
  for i, m in ipairs(messages) do events[i] = { timestamp = (start or T0) + i, message = m } end
  return ok(logs:call("PutLogEvents", { logGroupName = group, logStreamName = stream, logEvents = events }))
end

local function messages(events)
  local out = {}
  for i, e in ipairs(events) do out[i] = e.message end
  return out
end

describe("fake-aws CloudWatch Logs", function()
  it("creates groups and streams once, and says what is missing", function()
    serve(function(_, logs)
      ok(logs:call("CreateLogGroup", { logGroupName = "/aws/sagemaker/TrainingJobs" }))
      local _, err = logs:call("CreateLogGroup", { logGroupName = "/aws/sagemaker/TrainingJobs" })
      assert.are.same({ "ResourceAlreadyExistsException", "The specified log group already exists", 400 },
        { err.code, err.message, err.status })
      local stream = { logGroupName = "/aws/sagemaker/TrainingJobs", logStreamName = "job/algo-1" }
      ok(logs:call("CreateLogStream", stream))
      _, err = logs:call("CreateLogStream", stream)
      assert.are.equal("The specified log stream already exists", err.message)
      _, err = logs:call("GetLogEvents", { logGroupName = stream.logGroupName, logStreamName = "x" })
      assert.are.same({ "ResourceNotFoundException", "The specified log stream does not exist." },
        { err.code, err.message })
      _, err = logs:call("DescribeLogStreams", { logGroupName = "nope" })
      assert.are.equal("The specified log group does not exist.", err.message)
    end)
  end)

  it("takes PutLogEvents in chronological order only", function()
    serve(function(_, logs)
      ok(logs:call("CreateLogGroup", { logGroupName = "g" }))
      ok(logs:call("CreateLogStream", { logGroupName = "g", logStreamName = "s" }))
      local out = put(logs, "g", "s", { "a", "b" })
      assert.is_string(out.nextSequenceToken)
      local _, err = logs:call("PutLogEvents", { logGroupName = "g", logStreamName = "s", logEvents = {
        { timestamp = T0 + 5, message = "late" }, { timestamp = T0 + 1, message = "early" } } })
      assert.are.equal("InvalidParameterException", err.code)
      assert.are.equal("Log events in a single PutLogEvents request must be in chronological order.",
        err.message)
      out = ok(logs:call("PutLogEvents", { logGroupName = "g", logStreamName = "s", logEvents = {
        { timestamp = T0 - 15 * 86400000, message = "old" },
        { timestamp = T0 - 15 * 86400000 + 1, message = "old" } } }))
      assert.are.same({ tooOldLogEventEndIndex = 1 }, out.rejectedLogEventsInfo)
      out = ok(logs:call("PutLogEvents", { logGroupName = "g", logStreamName = "s", logEvents = {
        { timestamp = T0 + 9, message = "fine" }, { timestamp = T0 + 3 * 3600000, message = "future" } } }))
      assert.are.same({ tooNewLogEventStartIndex = 1 }, out.rejectedLogEventsInfo)
      _, err = logs:call("PutLogEvents", { logGroupName = "g", logStreamName = "s", logEvents = {
        { timestamp = T0 - 2 * 86400000, message = "x" }, { timestamp = T0, message = "y" } } })
      assert.are.equal("The batch of log events in a single PutLogEvents request cannot span more "
        .. "than 24 hours.", err.message)
      out = ok(logs:call("GetLogEvents", { logGroupName = "g", logStreamName = "s" }))
      assert.are.same({ "a", "b", "fine" }, messages(out.events))
      assert.are.same({ timestamp = T0 + 1, message = "a", ingestionTime = T0 + 60000 }, out.events[1])
    end)
  end)

  it("reads forward from the head page by page, and gives the same token back at the end", function()
    serve(function(_, logs)
      ok(logs:call("CreateLogGroup", { logGroupName = "g" }))
      ok(logs:call("CreateLogStream", { logGroupName = "g", logStreamName = "s" }))
      put(logs, "g", "s", { "1", "2", "3", "4", "5" })
      local req = { logGroupName = "g", logStreamName = "s", startFromHead = true, limit = 2 }
      local seen, token = {}, nil
      for _ = 1, 10 do
        req.nextToken = token
        local out = ok(logs:call("GetLogEvents", req))
        for _, m in ipairs(messages(out.events)) do seen[#seen + 1] = m end
        assert.matches("^f/%d+/s$", out.nextForwardToken)
        assert.matches("^b/%d+/s$", out.nextBackwardToken)
        if out.nextForwardToken == token then
          assert.are.equal(0, #out.events)
          break
        end
        token = out.nextForwardToken
      end
      assert.are.same({ "1", "2", "3", "4", "5" }, seen)
      -- new events show up behind the last forward token
      put(logs, "g", "s", { "6" }, T0 + 10)
      req.nextToken = token
      assert.are.same({ "6" }, messages(ok(logs:call("GetLogEvents", req)).events))
    end)
  end)

  it("reads the latest events by default, and backward from there", function()
    serve(function(_, logs)
      ok(logs:call("CreateLogGroup", { logGroupName = "g" }))
      ok(logs:call("CreateLogStream", { logGroupName = "g", logStreamName = "s" }))
      put(logs, "g", "s", { "1", "2", "3", "4", "5" })
      local out = ok(logs:call("GetLogEvents", { logGroupName = "g", logStreamName = "s", limit = 2 }))
      assert.are.same({ "4", "5" }, messages(out.events))
      out = ok(logs:call("GetLogEvents", { logGroupName = "g", logStreamName = "s", limit = 2,
        nextToken = out.nextBackwardToken }))
      assert.are.same({ "2", "3" }, messages(out.events))
      out = ok(logs:call("GetLogEvents", { logGroupName = "g", logStreamName = "s", limit = 2,
        nextToken = out.nextBackwardToken }))
      assert.are.same({ "1" }, messages(out.events))
      local back = out.nextBackwardToken
      out = ok(logs:call("GetLogEvents", { logGroupName = "g", logStreamName = "s", nextToken = back }))
      assert.are.same({ {}, back }, { out.events, out.nextBackwardToken })
    end)
  end)

  it("filters by time: startTime inclusive, endTime exclusive", function()
    serve(function(_, logs)
      ok(logs:call("CreateLogGroup", { logGroupName = "g" }))
      ok(logs:call("CreateLogStream", { logGroupName = "g", logStreamName = "s" }))
      put(logs, "g", "s", { "1", "2", "3", "4" })
      local out = ok(logs:call("GetLogEvents", { logGroupName = "g", logStreamName = "s",
        startTime = T0 + 2, endTime = T0 + 4, startFromHead = true }))
      assert.are.same({ "2", "3" }, messages(out.events))
    end)
  end)

  it("refuses a token that is not one of its own", function()
    serve(function(_, logs)
      ok(logs:call("CreateLogGroup", { logGroupName = "g" }))
      ok(logs:call("CreateLogStream", { logGroupName = "g", logStreamName = "s" }))
      for _, call in ipairs({
        { "GetLogEvents", { logGroupName = "g", logStreamName = "s", nextToken = "f/xyz" } },
        { "DescribeLogStreams", { logGroupName = "g", nextToken = "bogus" } },
        { "FilterLogEvents", { logGroupName = "g", nextToken = "bogus" } },
        { "DescribeLogGroups", { nextToken = "bogus" } },
      }) do
        local _, err = logs:call(call[1], call[2])
        assert.are.equal("InvalidParameterException", err.code, call[1])
        assert.are.equal("The specified nextToken is invalid.", err.message)
      end
    end)
  end)

  it("filters events across streams by pattern, interleaved by time, in pages", function()
    serve(function(_, logs)
      ok(logs:call("CreateLogGroup", { logGroupName = "g" }))
      for _, s in ipairs({ "job/algo-1", "job/algo-2", "other" }) do
        ok(logs:call("CreateLogStream", { logGroupName = "g", logStreamName = s }))
      end
      put(logs, "g", "job/algo-1", { "ERROR disk full", "INFO ok", "ERROR again" }, T0)
      put(logs, "g", "job/algo-2", { "ERROR net", "WARN slow" }, T0 + 1)
      put(logs, "g", "other", { "ERROR elsewhere" }, T0)
      local out = ok(logs:call("FilterLogEvents", { logGroupName = "g", logStreamNamePrefix = "job/",
        filterPattern = "ERROR" }))
      assert.are.same({ "ERROR disk full", "ERROR net", "ERROR again" }, messages(out.events))
      assert.are.same({ "job/algo-1", "job/algo-2", "job/algo-1" },
        { out.events[1].logStreamName, out.events[2].logStreamName, out.events[3].logStreamName })
      assert.is_string(out.events[1].eventId)
      assert.is_nil(out.nextToken)

      out = ok(logs:call("FilterLogEvents", { logGroupName = "g", filterPattern = "?WARN ?disk" }))
      assert.are.same({ "ERROR disk full", "WARN slow" }, messages(out.events))
      out = ok(logs:call("FilterLogEvents", { logGroupName = "g", filterPattern = '"ERROR a" -disk' }))
      assert.are.same({ "ERROR again" }, messages(out.events))
      out = ok(logs:call("FilterLogEvents", { logGroupName = "g", logStreamNames = { "other" } }))
      assert.are.same({ "ERROR elsewhere" }, messages(out.events))

      local seen, token = {}, nil
      repeat
        out = ok(logs:call("FilterLogEvents", { logGroupName = "g", limit = 2, nextToken = token }))
        for _, m in ipairs(messages(out.events)) do seen[#seen + 1] = m end
        token = out.nextToken
      until not token
      assert.are.equal(6, #seen)

      local _, err = logs:call("FilterLogEvents",
        { logGroupName = "g", filterPattern = "{ $.level = \"x\" }" })
      assert.are.equal("InvalidParameterException", err.code)
    end)
  end)

  it("describes streams by name or last event time, with prefixes and pages", function()
    serve(function(_, logs)
      ok(logs:call("CreateLogGroup", { logGroupName = "g" }))
      for _, s in ipairs({ "b", "a", "c" }) do
        ok(logs:call("CreateLogStream", { logGroupName = "g", logStreamName = s }))
      end
      put(logs, "g", "a", { "x" }, T0 + 50)
      put(logs, "g", "b", { "x" }, T0 + 10)
      put(logs, "g", "c", { "x" }, T0 + 30)
      local function names(out)
        local n = {}
        for i, s in ipairs(out.logStreams) do n[i] = s.logStreamName end
        return n
      end
      assert.are.same({ "a", "b", "c" }, names(ok(logs:call("DescribeLogStreams", { logGroupName = "g" }))))
      local out = ok(logs:call("DescribeLogStreams", { logGroupName = "g", orderBy = "LastEventTime",
        descending = true }))
      assert.are.same({ "a", "c", "b" }, names(out))
      assert.are.equal(T0 + 51, out.logStreams[1].lastEventTimestamp)
      assert.matches("^arn:aws:logs:us%-east%-1:123456789012:log%-group:g:log%-stream:a$",
        out.logStreams[1].arn)
      out = ok(logs:call("DescribeLogStreams", { logGroupName = "g", limit = 2 }))
      assert.are.same({ "a", "b" }, names(out))
      out = ok(logs:call("DescribeLogStreams", { logGroupName = "g", limit = 2, nextToken = out.nextToken }))
      assert.are.same({ { "c" }, nil }, { names(out), out.nextToken })
      local _, err = logs:call("DescribeLogStreams", { logGroupName = "g", orderBy = "LastEventTime",
        logStreamNamePrefix = "a" })
      assert.are.equal("Cannot order by LastEventTime with a logStreamNamePrefix.", err.message)
    end)
  end)

  it("describes groups by prefix or pattern", function()
    serve(function(_, logs)
      for _, g in ipairs({ "/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints/e1", "/app/x" }) do
        ok(logs:call("CreateLogGroup", { logGroupName = g }))
      end
      local out = ok(logs:call("DescribeLogGroups", { logGroupNamePrefix = "/aws/sagemaker/" }))
      assert.are.equal(2, #out.logGroups)
      assert.are.equal("/aws/sagemaker/Endpoints/e1", out.logGroups[1].logGroupName)
      assert.are.equal("arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/e1:*",
        out.logGroups[1].arn)
      out = ok(logs:call("DescribeLogGroups", { logGroupNamePattern = "TRAINING" }))
      assert.are.equal(1, #out.logGroups)
      out = ok(logs:call("DescribeLogGroups", { limit = 1 }))
      assert.is_string(out.nextToken)
      local _, err = logs:call("DescribeLogGroups", { logGroupNamePrefix = "/a", logGroupNamePattern = "a" })
      assert.are.equal("InvalidParameterException", err.code)
    end)
  end)

  it("shows what services log through ctx.log, creating group and stream", function()
    local probe = { operations = {
      ListModels = function(ctx)
        ctx.log("/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000", "epoch 1 loss 0.5", ctx.now() - 5)
        ctx.log("/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000", "epoch 2 loss 0.4")
        return { Models = json.array() }
      end } }
    serve(function(env, logs)
      ok(env.client("sagemaker"):call("ListModels", {}))
      local out = ok(logs:call("GetLogEvents", { logGroupName = "/aws/sagemaker/TrainingJobs",
        logStreamName = "job/algo-1-1700000000", startFromHead = true }))
      assert.are.same({ "epoch 1 loss 0.5", "epoch 2 loss 0.4" }, messages(out.events))
      assert.are.same({ T0 + 55000, T0 + 60000 }, { out.events[1].timestamp, out.events[2].timestamp })
      out = ok(logs:call("DescribeLogStreams", { logGroupName = "/aws/sagemaker/TrainingJobs" }))
      assert.are.equal(T0 + 60000, out.logStreams[1].lastEventTimestamp)
    end, { modules = { sagemaker = probe } })
  end)
end)
