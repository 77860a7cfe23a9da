-- Change detection (operator.sweep): running jobs are described when a List
-- sweep sees them change, not every poll interval.
local harness = require("spec.support.operator")
local sweep = require("operator.sweep")
local task = require("smop.task")

local function in_progress(h, names)
  for _, n in ipairs(names) do
    h.wait(n .. " InProgress", function() return h.status(n) == "InProgress" end)
  end
end

describe("change detection", function()
  it("describes running jobs only when they change, with one List per interval", function()
    harness.run({ poll_interval = 0.05 }, function(h)
      local names = { "job-1", "job-2", "job-3", "job-4", "job-5" }
      for _, n in ipairs(names) do h.create(n) end
      in_progress(h, names)
      -- a quiet spell of about twenty sweep intervals: Lists, no Describes
      local describes = #h.calls("DescribeTrainingJob")
      local lists = #h.calls("ListTrainingJobs")
      task.sleep(1)
      assert.are.equal(describes, #h.calls("DescribeTrainingJob"))
      local swept = #h.calls("ListTrainingJobs") - lists
      assert.is_true(swept >= 5 and swept <= 25, "sweeps in 1 s at 0.05 s: " .. swept)

      -- every job moves on: each is described and shows its new state
      h.advance(10)
      for _, n in ipairs(names) do
        h.wait(n .. " moved on", function() return h.status(n, "secondaryStatus") ~= "Starting" end)
      end
      local more = #h.calls("DescribeTrainingJob") - describes
      assert.is_true(more >= #names and more <= 3 * #names, "describes after one transition each: " .. more)

      -- a sweep asks only for what changed lately (AWS's clock, less the slack)
      local last = h.calls("ListTrainingJobs")
      local params = last[#last].params
      assert.is_number(params.LastModifiedTimeAfter)
      h.advance(100)
      for _, n in ipairs(names) do
        h.wait(n .. " Completed", function() return h.status(n) == "Completed" end)
      end
      -- terminal: nobody is watched, so no more sweeps
      lists = #h.calls("ListTrainingJobs")
      task.sleep(0.3)
      assert.is_true(#h.calls("ListTrainingJobs") <= lists + 1)
      assert.are.equal(#names, h.succeeded("CreateTrainingJob"))
    end)
  end)

  it("falls back to polling while the List is refused", function()
    harness.run({ poll_interval = 0.05 }, function(h)
      h.aws_fault({ kind = "error", status = 400, code = "AccessDeniedException",
        operation = "ListTrainingJobs", message = "not authorized to perform: sagemaker:ListTrainingJobs" })
      h.create("job-p")
      h.wait("InProgress", function() return h.status("job-p") == "InProgress" end)
      local describes = #h.calls("DescribeTrainingJob")
      h.wait("polling", function() return #h.calls("DescribeTrainingJob") > describes + 3 end)
      h.advance(200)
      h.wait("Completed", function() return h.status("job-p") == "Completed" end)
    end)
  end)
end)

describe("operator.sweep", function()
  -- A List stub: answers pages of the items given; records the calls.
  local function stub(pages)
    local calls = {}
    local client = { call = function(_, op, params)
      calls[#calls + 1] = { op = op, params = params }
      local page = pages[#calls] or { items = {} }
      return { Summaries = page.items, NextToken = page.next }
    end }
    return { get = function() return client end }, calls
  end

  it("wakes what changed after what it last saw, following pages", function()
    task.run(function()
      local clients, calls = stub({
        { items = { { Name = "a", LastModifiedTime = 100 }, { Name = "b", LastModifiedTime = 150 } },
          next = "t" },
        { items = { { Name = "c", LastModifiedTime = 400 }, { Name = "other", LastModifiedTime = 500 } } },
      })
      local woken = {}
      local sw = sweep.new({ def = { list = "ListX", items = "Summaries", name = "Name" }, clients = clients,
        interval = 0.01, wake = function(key) woken[#woken + 1] = key end })
      sw:watch("ns/a", { region = "r", name = "a", modified = 100 })
      sw:watch("ns/b", { region = "r", name = "b", modified = 120 })
      sw:watch("ns/c", { region = "r", name = "c", modified = 300 })
      task.sleep(0.015)
      sw:stop()
      table.sort(woken)
      assert.are.same({ "ns/b", "ns/c" }, woken)
      assert.are.equal(300 - sweep.SLACK, calls[1].params.LastModifiedTimeAfter)
      assert.are.equal("t", calls[2].params.NextToken)
      assert.are.equal(3, sw:watching())
      sw:forget("ns/a")
      sw:forget("ns/b")
      sw:forget("ns/c")
      assert.are.equal(0, sw:watching())
    end)
  end)
end)
