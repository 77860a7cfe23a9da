-- Starts `smop fake-kube` as a subprocess (the built binary, as a user runs
-- it) and drives the real kubectl against it.
--
--   local fk = fake_kube.start{ crds = { "spec/fixtures/kube/crd-trainingjobs.yaml" } }
--   local out, err, code = fk.kubectl({ "get", "trainingjobs" })
--   fk.stop()     -- always, in teardown/finally: SIGTERM to the fake's pid;
--                 -- returns its exit code (fk.stderr: what it logged)
--
-- opts: crds (paths), token, kubeconfig_name ("kubeconfig"; ".json" for JSON).
-- fk.url, fk.kubeconfig, fk.ca_file (the CA the kubeconfig trusts), fk.token,
-- fk.dir (a private temp dir), fk.new_cache() (a fresh KUBECACHEDIR for the
-- next kubectl calls), fk.curl(args) (curl with the CA and the token),
-- fk.faults(method, rule) (the control endpoint's faults).
local json = require("smop.json")
local smop = require("spec.support.smop")

local M = {}

M.KUBECTL = os.getenv("KUBECTL") or "/usr/bin/kubectl"

local quote = smop.quote

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
M.slurp = slurp

-- Runs a shell command; returns stdout, stderr, exit code.
local function run(cmd)
  local errfile = os.tmpname()
  local p = assert(io.popen(cmd .. " 2>" .. quote(errfile), "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local err = slurp(errfile) or ""
  os.remove(errfile)
  return out, err, code
end
M.run = run

function M.kubectl_available()
  return os.execute("test -x " .. quote(M.KUBECTL)) == true
end

function M.start(opts)
  opts = opts or {}
  local dir = smop.tempdir()
  local kubeconfig = dir .. "/" .. (opts.kubeconfig_name or "kubeconfig")
  local args = { "fake-kube", "--kubeconfig-out", kubeconfig }
  if opts.crds then
    args[#args + 1] = "--crds"
    for _, c in ipairs(opts.crds) do args[#args + 1] = c end
  end
  if opts.token then
    args[#args + 1] = "--token"
    args[#args + 1] = opts.token
  end
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = quote(a) end
  -- sh prints its pid, then becomes smop: stop() kills exactly that process
  local cmd = string.format("sh -c 'echo $$; exec \"$0\" \"$@\"' %s %s 2>%s", quote(smop.bin),
    table.concat(parts, " "), quote(dir .. "/stderr"))
  local pipe = assert(io.popen(cmd, "r"))
  local pid = tonumber(pipe:read("l") or "")
  local url = pipe:read("l")
  local kc_line = pipe:read("l")
  if not pid or not url or not url:match("^https://127%.0%.0%.1:%d+$") then
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    pipe:close()
    error("smop fake-kube did not start: " .. tostring(url) .. "\n" .. (slurp(dir .. "/stderr") or ""))
  end
  assert(kc_line == "kubeconfig: " .. kubeconfig, "unexpected second line: " .. tostring(kc_line))

  local fk = { url = url, port = tonumber(url:match(":(%d+)$")), kubeconfig = kubeconfig, dir = dir,
    pid = pid }
  local cfg = slurp(kubeconfig)
  fk.token = cfg:match('token"?: "?(%x+)') or opts.token
  local ca_b64 = cfg:match('certificate%-authority%-data"?: "?([%w+/=]+)')
  fk.ca_file = dir .. "/ca.pem"
  assert(os.execute(string.format("printf '%%s' %s | base64 -d > %s", quote(ca_b64), quote(fk.ca_file))))

  local cache_n = 0
  function fk.new_cache()
    cache_n = cache_n + 1
    fk.cache = dir .. "/cache" .. cache_n
    return fk.cache
  end
  fk.new_cache()

  function fk.kubectl_env()
    return string.format("KUBECONFIG=%s KUBECACHEDIR=%s "
      .. "HOME=%s", quote(kubeconfig), quote(fk.cache), quote(dir))
  end

  -- kubectl with args (strings); opts.stdin feeds it.
  function fk.kubectl(kargs, kopts)
    local q = {}
    for _, a in ipairs(kargs) do q[#q + 1] = quote(a) end
    local line = string.format("%s %s %s", fk.kubectl_env(), quote(M.KUBECTL), table.concat(q, " "))
    if kopts and kopts.stdin then
      local f = dir .. "/stdin"
      smop.write(f, kopts.stdin)
      line = line .. " < " .. quote(f)
    end
    return run(line)
  end

  -- curl against the fake: path, extra args (strings, already shell-safe
  -- when given as one string); the token unless opts.no_token.
  function fk.curl(path, extra, copts)
    copts = copts or {}
    local auth = copts.no_token and "" or ("-H " .. quote("Authorization: Bearer " .. fk.token))
    return run(string.format("curl -sS --max-time %d --cacert %s %s %s %s", copts.max_time or 20,
      quote(fk.ca_file), auth, extra or "", quote(url .. path)))
  end

  -- The control endpoint's faults (docs/fake-kube.md): "POST" with a rule,
  -- "GET", "DELETE"; returns the decoded answer.
  function fk.faults(method, body)
    local data = body and (" -H 'Content-Type: application/json' -d " .. quote(json.encode(body))) or ""
    local out, err = fk.curl("/_smop/faults", "-X " .. method .. data, { no_token = true })
    local res = assert(json.decode(out), err)
    assert(method ~= "POST" or res.fault, "fault refused: " .. out)
    return res
  end

  -- Stops the fake (SIGTERM) and returns its exit code.
  function fk.stop()
    if pipe then
      os.execute("kill " .. pid .. " 2>/dev/null")
      local _, _, code = pipe:close()
      pipe = nil
      fk.stderr = slurp(dir .. "/stderr")
      os.execute("rm -rf " .. quote(dir))
      return code
    end
  end

  -- Whether the process is still alive.
  function fk.alive()
    return pipe ~= nil and os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
  end

  return fk
end

return M
