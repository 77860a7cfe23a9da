-- Starts `smop dev` as a subprocess (the built binary, as a user runs it)
-- and drives the real kubectl, curl and aws CLI against it.
--
--   local d = dev.start{ "--aws-speed", "0", "--poll-interval", "0.2" }
--   d.kubectl({ "apply", "-f", "examples/xgboost-mnist-trainingjob.yaml" })
--   d.control("POST", "/_smop/clock", { advance = 25 })  -- fake-aws control endpoint
--   d.wait("InProgress", function() ... end)              -- bounded polling
--   local code = d.stop()    -- SIGINT, as Ctrl-C; its exit code (d.stderr: its log)
--
-- d.kubeconfig, d.aws_url, d.probes (the /readyz URL), d.banner (stdout
-- lines), d.dir (a private temp dir).
local fake_aws = require("spec.support.fake_aws")
local fake_kube = require("spec.support.fake_kube")
local smop = require("spec.support.smop")

local M = {}

local quote = smop.quote
local slurp = fake_kube.slurp

function M.start(args)
  local dir = smop.tempdir()
  local parts = {}
  for _, a in ipairs(args or {}) do parts[#parts + 1] = quote(a) end
  local cmd = string.format("sh -c 'echo $$; exec \"$0\" \"$@\"' %s dev --kubeconfig-out %s %s 2>%s",
    quote(smop.bin), quote(dir .. "/kubeconfig"), table.concat(parts, " "), quote(dir .. "/stderr"))
  local pipe = assert(io.popen(cmd, "r"))
  local pid = tonumber(pipe:read("l") or "")
  local d = { dir = dir, pid = pid, banner = {} }
  repeat
    local line = pipe:read("l")
    if line then d.banner[#d.banner + 1] = line end
  until not line or line == "# Ctrl-C stops everything."
  local text = table.concat(d.banner, "\n")
  d.kubeconfig = text:match("export KUBECONFIG='([^']+)'")
  d.aws_url = text:match("export AWS_ENDPOINT_URL=(%S+)")
  d.probes = text:match("operator probes (%S+)")
  if not (d.kubeconfig and d.aws_url and d.probes) then
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    pipe:close()
    error("smop dev did not start:\n" .. text .. "\n" .. (slurp(dir .. "/stderr") or ""))
  end

  local cache = dir .. "/kubecache"
  function d.kubectl_env()
    return string.format("KUBECONFIG=%s KUBECACHEDIR=%s HOME=%s", quote(d.kubeconfig), quote(cache),
      quote(dir))
  end

  -- kubectl with args; opts.stdin feeds it. Returns stdout, stderr, code.
  function d.kubectl(kargs, kopts)
    local q = {}
    for _, a in ipairs(kargs) do q[#q + 1] = quote(a) end
    local line = string.format("%s %s %s", d.kubectl_env(), quote(fake_kube.KUBECTL), table.concat(q, " "))
    if kopts and kopts.stdin then
      smop.write(dir .. "/stdin", kopts.stdin)
      line = line .. " < " .. quote(dir .. "/stdin")
    end
    return fake_kube.run(line)
  end

  -- Starts `kubectl ARGS` in the background, its output going to a file;
  -- returns a function that stops it and returns that output.
  function d.kubectl_background(kargs)
    local q = {}
    for _, a in ipairs(kargs) do q[#q + 1] = quote(a) end
    local out = dir .. "/bg" .. tostring(#q) .. os.time()
    local p = assert(io.popen(string.format("%s %s %s > %s 2>&1 & echo $!", d.kubectl_env(),
      quote(fake_kube.KUBECTL), table.concat(q, " "), quote(out))))
    local bg = tonumber(p:read("l"))
    p:close()
    return function()
      os.execute("kill " .. bg .. " 2>/dev/null")
      return slurp(out) or ""
    end
  end

  function d.control(method, path, body)
    return fake_aws.curl(d.aws_url, method, path, body)
  end

  -- The aws CLI against the fake (us-west-2, the examples' region).
  function d.aws(aargs)
    local a = { "--region", "us-west-2" }
    for _, x in ipairs(aargs) do a[#a + 1] = x end
    return fake_aws.aws(d.aws_url, a)
  end

  function d.wait(what, fn, limit)
    for _ = 1, limit or 300 do
      local v = fn()
      if v then return v end
      os.execute("sleep 0.1")
    end
    error("timed out waiting for " .. what .. "\n--- smop dev log:\n" .. (slurp(dir .. "/stderr") or ""), 2)
  end

  -- Stops smop dev with SIGINT (Ctrl-C) and returns its exit code.
  function d.stop()
    if pipe then
      os.execute("kill -INT " .. pid .. " 2>/dev/null")
      local _, _, code = pipe:close()
      pipe = nil
      d.stderr = slurp(dir .. "/stderr")
      os.execute("rm -rf " .. quote(dir))
      d.code = code
    end
    return d.code
  end

  return d
end

-- Starts `smop run ARGS...` (env: "NAME=value ..." text before it); returns
-- { pid, log = fn -> its stderr so far, wait_log(pattern) -> capture (bounded),
-- alive() -> bool, kill(signal) -> exit code }.
function M.run_operator(args, env)
  local dir = smop.tempdir()
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = quote(a) end
  local cmd = string.format("%s sh -c 'echo $$; exec \"$0\" \"$@\"' %s run %s 2>%s", env or "",
    quote(smop.bin), table.concat(parts, " "), quote(dir .. "/stderr"))
  local pipe = assert(io.popen(cmd, "r"))
  local op = { pid = tonumber(pipe:read("l") or ""), dir = dir }
  function op.log()
    return slurp(dir .. "/stderr") or ""
  end
  function op.wait_log(pattern, limit)
    for _ = 1, limit or 300 do
      local m = op.log():match(pattern)
      if m then return m end
      os.execute("sleep 0.1")
    end
    error("smop run never logged " .. pattern .. ":\n" .. op.log(), 2)
  end
  -- Whether it still runs (an exited child stays a zombie until kill reaps it).
  function op.alive()
    local f = pipe and io.open("/proc/" .. op.pid .. "/stat")
    if not f then return false end
    local stat = f:read("a")
    f:close()
    return stat:match("^%d+ %b() (%a)") ~= "Z"
  end
  function op.kill(signal)
    if pipe then
      os.execute(string.format("kill -%s %d 2>/dev/null", signal or "TERM", op.pid))
      local _, _, code = pipe:close()
      pipe = nil
      op.stderr = op.log()
      os.execute("rm -rf " .. quote(dir))
      op.code = code
    end
    return op.code
  end
  return op
end

return M
