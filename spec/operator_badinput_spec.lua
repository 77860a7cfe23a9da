-- `smop run` given bad input, as a process (dev.run_operator) against
-- `smop fake-kube`: RBAC that denies list/watch (403), refused credentials
-- (401), an API server that cannot be reached, and kubeconfigs that cannot
-- be used. For each: one log line saying what is wrong and what to do,
-- /readyz 503 with the reason, no crash and no traceback, retries, and
-- /readyz 200 once the cause is gone; a bad kubeconfig stops the start with
-- exit code 1 and one line naming the file and the field.
local dev = require("spec.support.dev")
local fake_kube = require("spec.support.fake_kube")
local server = require("spec.support.server")
local smop = require("spec.support.smop")

local CRD = "crds"   -- all eight: the operator runs every kind
local PROBES = "probes=(http://127%.0%.0%.1:%d+)"
local WARNING = "[^\n]*cannot list/watch trainingjobs[^\n]*"

-- GET url -> status, body.
local function curl(url)
  local out = fake_kube.run("curl -s --max-time 10 -w '\\n%{http_code}' " .. smop.quote(url))
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

-- Polls fn every 0.1 s, up to limit seconds, until it returns a true value.
local function wait_for(what, fn, limit, op)
  for _ = 1, limit * 10 do
    local v = fn()
    if v then return v end
    os.execute("sleep 0.1")
  end
  error("timed out waiting for " .. what .. (op and ("\n--- smop run log:\n" .. op.log()) or ""), 2)
end

local function count(text, plain)
  local n, at = 0, 1
  while true do
    local _, e = text:find(plain, at, true)
    if not e then return n end
    n, at = n + 1, e + 1
  end
end

local function hits(fk)
  local f = fk.faults("GET").faults[1]
  return f and f.hits or 0
end

-- Starts `smop run` on kubeconfig and waits for its warning; checks that the
-- probes serve, /readyz says 503 with reason, and the process lives on.
-- Returns op, the probe URL, the warning line.
local function start_unready(kubeconfig, reason)
  local op = dev.run_operator({ "--kubeconfig", kubeconfig, "--metrics-addr", "127.0.0.1:0" })
  local probes = op.wait_log(PROBES)
  local line = op.wait_log(WARNING)
  local code, body = curl(probes .. "/readyz")
  assert.are.equal(503, code)
  assert.is_truthy(body:find(reason, 1, true), body)
  assert.is_true(op.alive())
  return op, probes, line
end

-- Once the cause is gone: ready, the warning logged once however often the
-- informer failed, a clean exit on SIGTERM and no traceback.
local function assert_recovers(op, probes)
  wait_for("/readyz 200", function() return curl(probes .. "/readyz") == 200 end, 45, op)
  -- logged by the watcher on a pass after every failed attempt
  op.wait_log("caches synced; ready")
  op.wait_log("list/watch recovered")
  local log = op.log()
  assert.are.equal(1, count(log, "cannot list/watch"), log)
  assert.are.equal(1, count(log, "list/watch recovered"), log)
  assert.are.equal(0, op.kill("TERM"))
  assert.is_falsy(op.stderr:find("stack traceback", 1, true), op.stderr)
end

describe("smop run given bad input", function()
  local fk, op, gate
  before_each(function()
    fk = fake_kube.start({ crds = { CRD } })
  end)
  after_each(function()
    if op then op.kill("KILL") end
    if gate then gate.stop() end
    fk.stop()
    op, gate = nil, nil
  end)

  it("says which permission RBAC denies (403), stays unready, retries, and recovers", function()
    fk.faults("POST", { code = 403, count = 1000000, verbs = { "list", "watch" },
      resource = "trainingjobs", user = "system:serviceaccount:smop-system:smop" })
    local probes, line
    op, probes, line = start_unready(fk.kubeconfig, "403 Forbidden")
    assert.is_truthy(line:find("permission denied (403 Forbidden)", 1, true), line)
    assert.is_truthy(line:find("grant the operator's service account get, list and watch", 1, true), line)
    assert.is_truthy(line:find("system:serviceaccount:smop-system:smop", 1, true), line)
    local seen = hits(fk)
    wait_for("another list", function() return hits(fk) > seen end, 30, op)
    assert.is_true(op.alive())
    fk.faults("DELETE")
    assert_recovers(op, probes)
  end)

  it("says the credentials were refused (401), stays unready, retries, and recovers", function()
    fk.faults("POST", { code = 401, count = 1000000, verbs = { "list", "watch" },
      resource = "trainingjobs" })
    local probes, line
    op, probes, line = start_unready(fk.kubeconfig, "401 Unauthorized")
    assert.is_truthy(line:find("does not accept the credentials (401 Unauthorized)", 1, true), line)
    assert.is_truthy(line:find("check the kubeconfig user's token or client certificate", 1, true), line)
    local seen = hits(fk)
    wait_for("another list", function() return hits(fk) > seen end, 30, op)
    assert.is_true(op.alive())
    fk.faults("DELETE")
    assert_recovers(op, probes)
  end)

  it("says it cannot reach the API server, retries, and connects once it is up", function()
    -- a port that refuses connections until the gate opens, then leads to the fake
    gate = server.start({ script = "spec/support/tcp_gate.py " .. fk.port })
    local kubeconfig = fk.dir .. "/gated.yaml"
    local text = fake_kube.slurp(fk.kubeconfig)
    smop.write(kubeconfig, (text:gsub("https://127%.0%.0%.1:%d+", "https://127.0.0.1:" .. gate.port)))
    local probes, line
    op, probes, line = start_unready(kubeconfig, "Couldn't connect to server")
    assert.is_truthy(line:find("cannot reach the API server", 1, true), line)
    assert.is_truthy(line:find("check the kubeconfig's server URL", 1, true), line)
    assert.is_truthy(line:find("127.0.0.1 port " .. gate.port, 1, true), line)
    assert.is_true(os.execute("kill -USR1 " .. gate.pid))
    assert_recovers(op, probes)
  end)
end)

describe("smop run given an unusable kubeconfig", function()
  local dir
  setup(function()
    dir = smop.tempdir()
  end)
  teardown(function()
    os.execute("rm -rf " .. smop.quote(dir))
  end)

  local function kubeconfig(name, o)
    local path = dir .. "/" .. name
    smop.write(path, o.text or table.concat({
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: c",
      "  cluster:",
      "    server: https://127.0.0.1:6443",
      "    certificate-authority: " .. (o.ca or (dir .. "/ca.pem")),
      "users:",
      "- name: u",
      "  user:",
      "    token: abc",
      "contexts:",
      "- name: x",
      "  context: {cluster: " .. (o.cluster or "c") .. ", user: " .. (o.user or "u") .. "}",
      "current-context: x",
      "",
    }, "\n"))
    return path
  end

  it("exits 1 with one line naming the file and what is wrong, without a traceback", function()
    smop.write(dir .. "/ca.pem", assert(fake_kube.slurp("spec/fixtures/kube/config/ca.crt")))
    local cases = {
      { kubeconfig("malformed.yaml", { text = "apiVersion: v1\nclusters: [\n  - name: c\n" }), "line 3" },
      { kubeconfig("no-user.yaml", { user = "nobody" }), 'user "nobody"' },
      { kubeconfig("no-cluster.yaml", { cluster = "nowhere" }), 'cluster "nowhere"' },
      { kubeconfig("no-ca.yaml", { ca = dir .. "/missing-ca.pem" }), dir .. "/missing-ca.pem" },
    }
    for _, c in ipairs(cases) do
      local path, field = c[1], c[2]
      local out, err, code = smop.run({ "run", "--kubeconfig", path, "--metrics-addr", "off" })
      assert.are.equal(1, code, err)
      assert.are.equal("", out)
      assert.is_truthy(err:match("^smop run: no usable Kubernetes configuration: [^\n]+\n$"), err)
      assert.is_truthy(err:find(path, 1, true), err)
      assert.is_truthy(err:find(field, 1, true), err)
      assert.is_falsy(err:find("stack traceback", 1, true), err)
    end
  end)
end)
