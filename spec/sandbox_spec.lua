-- The sandbox and its limits, through the real binary (`smop exec`).
local smop = require("spec.support.smop")

local function exec_source(source, flags)
  local path = smop.tempfile(source, ".lua")
  local args = flags or {}
  args[#args + 1] = "exec"
  args[#args + 1] = path
  local out, err, code = smop.run(args)
  os.remove(path)
  return out, err, code, path
end

describe("smop exec sandbox", function()
  it("stops a runaway loop and a memory hog while other tasks finish", function()
    local out, err, code = smop.run({ "--memory-limit", "24", "--cpu-budget", "5000000",
      "exec", "spec/fixtures/scripts/runaway.lua" })
    assert.are.equal(0, code)
    assert.matches("spinner\tfalse\tspec/fixtures/scripts/runaway.lua:%d+: CPU budget of 5000000 "
      .. "instructions per resume exceeded", out)
    assert.matches("hog\tfalse\tspec/fixtures/scripts/runaway.lua:%d+: memory cap of 24 MiB exceeded", out)
    for i = 1, 3 do
      assert.matches("worker" .. i .. "\ttrue\t20\n", out, 1, true)
    end
    -- the failures are also logged with script and line
    assert.matches("CPU budget", err, 1, true)
    assert.matches("memory cap", err, 1, true)
  end)

  it("offers no io, os.execute, debug, package or string.dump", function()
    local out, _, code = exec_source([[
      for _, name in ipairs({ "io", "debug", "package", "dofile", "loadfile" }) do
        print(name, (pcall(function() return _G[name] end)))
      end
      print("os.execute", os.execute)
      print("os.getenv", os.getenv)
      print("string.dump", string.dump, ("").dump)
      print("collect", (pcall(collectgarbage, "collect")))
      print("count", type(collectgarbage("count")))
    ]])
    assert.are.equal(0, code)
    for _, name in ipairs({ "io", "debug", "package", "dofile", "loadfile" }) do
      assert.matches(name .. "\tfalse\n", out, 1, true)
    end
    assert.matches("os.execute\tnil\n", out, 1, true)
    assert.matches("os.getenv\tnil\n", out, 1, true)
    assert.matches("string.dump\tnil\tnil\n", out, 1, true)
    assert.matches("collect\tfalse\n", out, 1, true)
    assert.matches("count\tnumber\n", out, 1, true)
  end)

  it("rejects binary chunks, global assignment and the string metatable", function()
    local out, _, code = exec_source([[
      print(load("\27Lua\84\0"))
      print(pcall(function() undeclared_thing = 1 end))
      print(getmetatable(""))
      print(load("return 40 + 2")())
    ]])
    assert.are.equal(0, code)
    assert.matches("nil\tattempt to load a binary chunk (mode is 't')\n", out, 1, true)
    assert.matches("false\t[^\n]*assignment to undeclared global 'undeclared_thing'", out)
    assert.matches("\nfalse\n42\n", out, 1, true)
  end)

  it("bounds string.rep and pattern subjects (C code the budget cannot stop)", function()
    local out = exec_source([[
      print(pcall(string.rep, "x", 1e9))
      local big = ("a"):rep(2 * 1024 * 1024)
      print(pcall(string.find, big, "(a-)b"))
      print(string.find(big, "b", 1, true))
    ]])
    assert.matches("false\t[^\n]*string.rep: result larger than 64 MiB", out)
    assert.matches("false\t[^\n]*pattern subject longer than 1024 KiB", out)
    assert.matches("\nnil\n$", out)
  end)

  it("lets host calls work inside nested coroutines", function()
    local out, _, code = exec_source([[
      local task = require("smop.task")
      local gen = coroutine.wrap(function()
        for i = 1, 3 do
          task.sleep(0.001)
          coroutine.yield(i)
        end
      end)
      print(gen(), gen(), gen())
    ]])
    assert.are.equal(0, code)
    assert.are.equal("1\t2\t3\n", out)
  end)

  it("exits 1 and names the script and line when the main chunk fails", function()
    local _, err, code, path = exec_source("local x = 1\nerror('boom')\n")
    assert.are.equal(1, code)
    assert.matches(path:match("[^/]+$") .. ":2: boom", err, 1, true)
  end)

  it("exits 1 with the parse error for a syntax error", function()
    local _, err, code = exec_source("local = 1\n")
    assert.are.equal(1, code)
    assert.matches(":1: <name> expected near '='", err, 1, true)
  end)
end)
