-- smop.task: tasks, sleeping, waiting and conditions on the one loop.
local task = require("smop.task")

describe("smop.task", function()
  it("runs a task to completion and returns its results", function()
    local a, b = task.run(function(x) task.sleep(0.001) return x + 1, "two" end, 41)
    assert.are.equal(42, a)
    assert.are.equal("two", b)
  end)

  it("raises the task's error from task.run with its location", function()
    local ok, err = pcall(task.run, function() error("bad thing") end)
    assert.is_false(ok)
    assert.matches("task_spec.lua:%d+: bad thing", err)
  end)

  it("interleaves many tasks on one thread and waits for each", function()
    local order = {}
    local results = task.run(function()
      local handles = {}
      for i = 1, 50 do
        handles[i] = task.spawn(function()
          task.sleep((50 - i) * 0.0002)
          order[#order + 1] = i
          return i * i
        end)
      end
      local out = {}
      for i, h in ipairs(handles) do
        local ok, v = task.wait(h)
        assert(ok)
        out[i] = v
      end
      return out
    end)
    assert.are.equal(50, #results)
    assert.are.equal(49 * 49, results[49])
    assert.are.equal(50, #order)
    assert.are_not.equal(1, order[1])   -- the shortest sleeps finished first
  end)

  it("reports a failed task to its waiter as false, message", function()
    local ok, msg = task.run(function()
      return task.wait(task.spawn(function() error({ code = 7 }) end))
    end)
    assert.is_false(ok)
    assert.matches("table", msg)
  end)

  it("waits on a finished task without suspending", function()
    local v = task.run(function()
      local h = task.spawn(function() return "done" end)
      task.sleep(0.001)
      local ok, r = task.wait(h)
      return ok and r
    end)
    assert.are.equal("done", v)
  end)

  it("refuses to wait for itself and host calls outside a task", function()
    assert.has_error(function() task.sleep(0) end, "task.sleep must be called from a task")
    local ok, err = pcall(task.run, function()
      local me
      me = task.spawn(function() task.sleep(0.001) return task.wait(me) end)
      return task.wait(me)
    end)
    assert.is_true(ok)
    assert.is_false(err)
  end)

  it("detects a task waiting on nothing", function()
    local ok, err = pcall(task.run, function() task.condition():wait() end)
    assert.is_false(ok)
    assert.matches("waits on something that can never happen", err, 1, true)
  end)

  it("wakes condition waiters on notify, in order, and times out the others", function()
    local log = task.run(function()
      local cond, got = task.condition(), {}
      local hs = {}
      for i = 1, 3 do
        hs[i] = task.spawn(function()
          local notified = cond:wait(i == 3 and 0.01 or nil)
          got[#got + 1] = { i, notified }
        end)
      end
      task.sleep(0.001)
      assert(cond:waiting() == 3)
      cond:notify_one()
      task.sleep(0.05)          -- the third times out meanwhile
      cond:notify_all()
      for _, h in ipairs(hs) do task.wait(h) end
      return got
    end)
    assert.are.same({ { 1, true }, { 3, false }, { 2, true } }, log)
  end)

  it("lets host calls run inside coroutines nested in a task", function()
    local v = task.run(function()
      local co = coroutine.wrap(function()
        task.sleep(0.001)
        coroutine.yield("a")
        task.sleep(0.001)
        return "b"
      end)
      return co() .. co()
    end)
    assert.are.equal("ab", v)
  end)
end)
