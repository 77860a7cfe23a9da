-- smop.queue: client-go's rate-limiting work queue, for reconcile workers.
local queue = require("smop.queue")
local task = require("smop.task")

local function drain(q)
  local keys = {}
  while q:len() > 0 do keys[#keys + 1] = q:get() end
  return keys
end

describe("smop.queue", function()
  it("queues a key once while it waits, and hands keys out in FIFO order", function()
    local q = queue.new()
    for _, k in ipairs({ "a", "b", "a", "c", "b", "a" }) do q:add(k) end
    assert.are.equal(3, q:len())
    assert.are.same({ "a", "b", "c" }, drain(q))
    local m = q:metrics()
    assert.are.equal(3, m.adds)
    assert.are.equal(0, m.depth)
    assert.are.equal(3, m.processing)
  end)

  it("queues a key added while it is processed again when done", function()
    local q = queue.new()
    q:add("TrainingJob/default/xgboost-mnist")
    local key = q:get()
    assert.are.equal("TrainingJob/default/xgboost-mnist", key)
    q:add(key)
    q:add(key)
    assert.are.equal(0, q:len())          -- not handed out while processed
    assert.are.equal(1, q:metrics().depth)
    assert.is_true(q:done(key))
    assert.are.equal(1, q:len())
    assert.are.equal(key, q:get())
    assert.is_true(q:done(key))
    assert.is_false(q:done(key))          -- not processed any more
    assert.are.equal(0, q:len())
    assert.are.equal(0, q:metrics().keys)
  end)

  it("never hands a key to two workers at once, and never loses an add", function()
    local q = queue.new()
    local keys = { "k1", "k2", "k3" }
    local busy, pending, processed, overlaps = {}, {}, 0, 0
    local function add(k)
      if busy[k] then pending[k] = true end
      q:add(k)
    end
    task.run(function()
      local workers = {}
      for w = 1, 20 do
        workers[w] = task.spawn(function()
          local n = 0
          while true do
            local k = q:get()
            if not k then return n end
            if busy[k] then overlaps = overlaps + 1 end
            busy[k], pending[k] = true, nil
            n, processed = n + 1, processed + 1
            if (processed + w) % 3 == 0 then add(k) end   -- re-add while processing
            task.sleep(0)
            busy[k] = nil
            assert(q:done(k))
          end
        end)
      end
      for i = 1, 300 do
        add(keys[i % 3 + 1])
        if i % 7 == 0 then task.sleep(0) end
      end
      while q:metrics().depth > 0 or q:metrics().processing > 0 do task.sleep(0) end
      q:shutdown()
      local total = 0
      for _, h in ipairs(workers) do
        local ok, n = task.wait(h)
        assert(ok, n)
        total = total + n
      end
      assert.are.equal(processed, total)
    end)
    assert.are.equal(0, overlaps)
    assert.are.same({}, pending)
    assert.is_true(processed >= 3)
  end)

  it("serves waiting workers in the order they asked", function()
    local got = task.run(function()
      local q, got, hs = queue.new(), {}, {}
      for w = 1, 3 do
        hs[w] = task.spawn(function() got[w] = q:get() end)
      end
      task.sleep(0)                       -- all three wait now
      q:add("a") q:add("b") q:add("c")
      assert.are.equal(0, q:len())        -- handed straight to the waiters
      for _, h in ipairs(hs) do task.wait(h) end
      return got
    end)
    assert.are.same({ "a", "b", "c" }, got)
  end)

  it("adds delayed keys in deadline order, the earliest deadline winning", function()
    local q = queue.new()
    q:add_after("c", 0.03)
    q:add_after("a", 0.01)
    q:add_after("b", 0.02)
    q:add_after("a", 5)                   -- later: ignored
    q:add_after("d", 5)
    q:add_after("d", 0.015)               -- earlier: wins
    assert.are.equal(0, q:len())
    assert.are.equal(4, q:metrics().waiting)
    assert.are.equal(6, q:metrics().retries)
    local order = task.run(function()
      local out = {}
      for i = 1, 4 do out[i] = q:get() end
      return out
    end)
    assert.are.same({ "a", "d", "b", "c" }, order)
    assert.are.equal(0, q:metrics().waiting)   -- no 5 s entry left behind
    q:add_after("now", 0)
    q:add_after("past", -1)
    assert.are.same({ "now", "past" }, drain(q))
  end)

  it("backs a key off exponentially, capped, until it is forgotten", function()
    local q = queue.new({ qps = 0, max_delay = 0.04 })
    local delays = {}
    for i = 1, 6 do delays[i] = q:add_rate_limited("k") end
    assert.are.same({ 0.005, 0.01, 0.02, 0.04, 0.04, 0.04 }, delays)
    assert.are.equal(6, q:num_requeues("k"))
    assert.are.equal(0.005, q:add_rate_limited("other"))   -- per key
    q:forget("k")
    assert.are.equal(0, q:num_requeues("k"))
    assert.are.equal(0.005, q:add_rate_limited("k"))

    local slow = queue.new({ base_delay = 1, max_delay = 8, qps = 0 })
    for _, want in ipairs({ 1, 2, 4, 8, 8 }) do
      assert.are.equal(want, slow:add_rate_limited("k"))
    end
    local default = queue.new({ qps = 0 })
    local d
    for _ = 1, 40 do d = default:add_rate_limited("k") end
    assert.are.equal(1000, d)             -- client-go's cap
  end)

  it("limits the overall rate with a token bucket past its burst", function()
    local q = queue.new({ base_delay = 0, qps = 1, burst = 3 })
    local delays = {}
    for i = 1, 6 do delays[i] = q:add_rate_limited("key" .. i) end
    assert.are.same({ 0, 0, 0 }, { delays[1], delays[2], delays[3] })
    assert.is_true(delays[4] > 0 and delays[5] > delays[4] and delays[6] > delays[5])
    assert.are.equal(3, q:len())
    assert.are.equal(3, q:metrics().waiting)

    -- client-go's default: 100 keys pass at the per-key 5 ms, then 10 per second
    local dq = queue.new()
    local at_base, last = 0, nil
    for i = 1, 150 do
      last = dq:add_rate_limited("job" .. i)
      if last == 0.005 then at_base = at_base + 1 end
    end
    assert.are.equal(100, at_base)
    assert.is_true(last > 4.5 and last <= 5)
  end)

  it("spreads backoff with jitter when asked", function()
    local q = queue.new({ base_delay = 1, max_delay = 100, qps = 0, jitter = 0.5 })
    local seen = {}
    for i = 1, 20 do
      local d = q:add_rate_limited("k" .. i)
      assert.is_true(d >= 1 and d < 1.5, tostring(d))
      seen[d] = true
    end
    assert.is_true(next(seen, next(seen)) ~= nil)   -- not all equal
  end)

  it("drains ready keys after shutdown, then answers nil", function()
    local q = queue.new()
    q:add("a") q:add("b")
    q:add_after("later", 1)
    local processed = q:get()             -- "a"
    q:add(processed)                      -- dirty while processed
    q:shutdown()
    assert.is_true(q:shutting_down())
    q:add("c")
    q:add_after("d", 0)
    assert.are.equal(0, q:metrics().waiting)
    assert.are.equal("b", q:get())
    assert.is_true(q:done(processed))     -- re-queued: it was added before shutdown
    assert.are.equal("a", q:get())
    assert.is_nil(q:get())
    assert.is_nil(q:get())
  end)

  it("wakes every waiting worker with nil on shutdown", function()
    local results = task.run(function()
      local q, hs, out = queue.new(), {}, {}
      for w = 1, 5 do hs[w] = task.spawn(function() return q:get() end) end
      task.sleep(0)
      q:shutdown()
      for w, h in ipairs(hs) do
        local ok, key = task.wait(h)
        out[w] = { ok, key }
      end
      return out
    end)
    assert.are.equal(5, #results)
    for _, r in ipairs(results) do assert.are.same({ true, nil }, r) end
  end)

  it("counts adds, retries and time spent waiting and working", function()
    local q = queue.new({ qps = 0 })
    q:add("a") q:add("b")
    q:add_rate_limited("c")
    q:get()
    local m = q:metrics()
    assert.are.equal(2, m.adds)
    assert.are.equal(1, m.retries)
    assert.are.equal(1, m.queue_duration.count)
    assert.are.equal(0, m.work_duration.count)
    assert.are.equal(1, m.processing)
    assert.are.equal(1, m.depth)
    assert.are.equal(1, m.waiting)
    assert.is_true(m.unfinished_work_seconds >= 0)
    assert.is_true(m.longest_running_processor_seconds >= 0)
    local buckets = m.queue_duration.buckets
    assert.are.equal(10, #buckets)
    assert.are.equal(1e-8, buckets[1].le)
    assert.are.equal(10, buckets[10].le)
    for i = 2, #buckets do assert.is_true(buckets[i].count >= buckets[i - 1].count) end
    q:done("a")
    assert.are.equal(1, q:metrics().work_duration.count)
    q:get() q:done("b")
    q:forget("c")
    q:shutdown()                          -- drops "c", which was waiting
    m = q:metrics()
    assert.are.equal(0, m.keys)
    assert.are.equal(0, m.depth)
  end)

  it("refuses bad options, bad keys and waiting outside a task", function()
    assert.has_error(function() queue.new({ qpss = 1 }) end)
    assert.has_error(function() queue.new({ qps = -1 }) end)
    assert.has_error(function() queue.new({ qps = 1, burst = 0 }) end)
    assert.has_error(function() queue.new({ jitter = 2 }) end)
    assert.has_error(function() queue.new({ base_delay = "1" }) end)
    local q = queue.new()
    assert.has_error(function() q:add(string.rep("x", 5000)) end)
    assert.has_error(function() q:add({}) end)
    assert.has_error(function() q:add_after("k", 0 / 0) end)
    assert.has_error(function() q:add_after("k", math.huge) end)
    assert.has_error(function() q:get() end, "queue:get must be called from a task when nothing is ready")
  end)

  it("lets a queue with delayed keys be collected", function()
    local weak = setmetatable({}, { __mode = "v" })
    do
      local q = queue.new()
      q:add_after("x", 100)
      q:add_rate_limited("y")
      weak[1] = q
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    task.run(function() task.sleep(0) end)   -- the timer's close callback runs
  end)

  it("detaches waiting workers when the queue goes first, as at VM close", function()
    local q = queue.new()
    task.run(function()
      task.spawn(function() q:get() end)      -- waits for good: nobody adds
      task.sleep(0)
      q:add_after("x", 100)
    end)
    getmetatable(q).__gc(q)                  -- what lua_close may do before the waiter's
    getmetatable(q).__gc(q)
    assert.has_error(function() q:len() end, "smop.queue: the queue has been collected")
  end)
end)
