-- The binary as a user meets it: help, version, errors, built-in scripts,
-- --scripts-dir, signals.
local smop = require("spec.support.smop")

local function bin_abs()
  if smop.bin:sub(1, 1) == "/" then return smop.bin end
  local p = assert(io.popen("pwd"))
  local cwd = p:read("l")
  p:close()
  return cwd .. "/" .. smop.bin
end


describe("smop", function()
  it("prints its version", function()
    local out, _, code = smop.run({ "--version" })
    assert.are.equal(0, code)
    assert.matches("^smop %d+%.%d+%.%d+\n$", out)
  end)

  it("lists its commands in --help and with no arguments", function()
    for _, args in ipairs({ { "--help" }, {}, { "help" } }) do
      local out, _, code = smop.run(args)
      assert.are.equal(0, code)
      for _, cmd in ipairs({ "aws", "exec", "test", "version" }) do
        assert.matches("\n  " .. cmd .. " ", out, 1, true)
      end
      assert.matches("--scripts-dir DIR", out, 1, true)
    end
  end)

  it("exits 2 naming the known commands for an unknown one", function()
    local _, err, code = smop.run({ "frobnicate" })
    assert.are.equal(2, code)
    assert.matches("unknown command 'frobnicate' (commands: aws, exec, test", err, 1, true)
  end)

  it("exits 2 on an unknown or incomplete global option", function()
    local _, err, code = smop.run({ "--memory-limit" })
    assert.are.equal(2, code)
    assert.matches("--memory-limit", err, 1, true)
    _, err, code = smop.run({ "--log-format", "xml", "help" })
    assert.are.equal(2, code)
    assert.matches("--log-format must be text or json", err, 1, true)
  end)

  it("runs from any directory with no files beside it (scripts are built in)", function()
    local dir = smop.tempdir()
    assert.is_true(os.execute(string.format("cp %s %s/smop", smop.quote(bin_abs()), dir)))
    local p = assert(io.popen(string.format("cd %s && ./smop aws nope X 2>&1; echo rc=$?", dir)))
    local out = p:read("a")
    p:close()
    os.execute("rm -rf " .. smop.quote(dir))
    assert.matches("unknown service 'nope'", out, 1, true)
    assert.matches("rc=2\n", out, 1, true)
  end)

  it("loads scripts from --scripts-dir over the built-in ones", function()
    local dir = smop.tempdir()
    os.execute("mkdir -p " .. dir .. "/cli")
    smop.write(dir .. "/cli/version.lua", [[
      return { run = function(sys) sys.stdout("overridden " .. sys.version .. "\n") return 7 end }
    ]])
    local out, _, code = smop.run({ "--scripts-dir", dir, "version" })
    os.execute("rm -rf " .. smop.quote(dir))
    assert.are.equal(7, code)
    assert.matches("^overridden %d", out)
  end)

  it("reports an unreadable --scripts-dir", function()
    local _, err, code = smop.run({ "--scripts-dir", "/nonexistent/smop", "version" })
    assert.are.equal(1, code)
    assert.matches("scripts: /nonexistent/smop: No such file or directory", err, 1, true)
  end)

  it("lets a command wait for SIGTERM and shut down on its own terms", function()
    local dir = smop.tempdir()
    os.execute("mkdir -p " .. dir .. "/cli")
    smop.write(dir .. "/cli/version.lua", [[
      local task = require("smop.task")
      return { run = function(sys)
        -- says "waiting" only once the handlers are installed (next loop turn)
        task.spawn(function() task.sleep(0) sys.stdout("waiting\n") end)
        sys.stdout("got " .. sys.wait_signal() .. "\n")
        return 3
      end }
    ]])
    local out_file = os.tmpname()
    local cmd = string.format("%s --scripts-dir %s version >%s & pid=$!; "
      .. "for i in $(seq 400); do grep -q waiting %s && break; sleep 0.05; done; "
      .. "kill -TERM $pid; wait $pid; echo rc=$? >>%s; cat %s; rm -f %s",
      smop.quote(bin_abs()), dir, out_file, out_file, out_file, out_file, out_file)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    os.execute("rm -rf " .. smop.quote(dir))
    assert.are.equal("waiting\ngot SIGTERM\nrc=3\n", out)
  end)
end)
