-- Several `smop run` replicas and their stopping: leader election on a
-- Lease (one replica syncs, a standby takes over when the leader hands the
-- Lease back on SIGTERM, a leader that cannot renew stops), and the
-- graceful shutdown of running syncs within --shutdown-timeout.
local cluster = require("spec.support.cluster")
local fake_aws = require("spec.support.fake_aws")
local fake_kube = require("spec.support.fake_kube")
local json = require("smop.json")
local leader = require("operator.leader")

local LEASE_NS = "sagemaker-k8s-operator-system"
local LEASE = "smop.sagemaker.aws.amazon.com"
-- short periods keep the spec quick; the order duration > deadline > retry holds
local ELECT = { "--leader-elect", "--leader-elect-namespace", LEASE_NS,
  "--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
  "--leader-elect-retry-period", "0.3", "--metrics-addr", "127.0.0.1:0" }

local function lease(c, name)
  local out, _, code = c.fk.kubectl({ "get", "lease", name or LEASE, "-n", LEASE_NS, "-o", "json" })
  if code ~= 0 then return nil end
  return json.decode(out)
end

local function curl(url)
  local out = fake_kube.run("curl -s -w ' %{http_code}' " .. require("spec.support.smop").quote(url))
  local body, code = out:match("^(.-) (%d+)$")
  return tonumber(code), body
end

local function identity(op)
  return op.wait_log("identity=(%S+)")
end

describe("smop run --leader-elect", function()
  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end

  local c
  before_each(function()
    c = cluster.start()
    local _, err, code = c.fk.kubectl({ "create", "namespace", LEASE_NS })
    assert.are.equal(0, code, err)
  end)
  after_each(function() c.stop() end)

  it("lets one replica sync, and hands over on SIGTERM", function()
    local a = c.operator(ELECT, "POD_NAME=replica-a")
    a.wait_log("became leader")
    local b = c.operator(ELECT, "POD_NAME=replica-b")
    b.wait_log("waiting for the leader lease")
    local a_id = identity(a)
    assert.is_truthy(a_id:find("^replica%-a_"), a_id)

    local l = assert(lease(c))
    assert.are.equal(a_id, l.spec.holderIdentity)
    assert.are.equal(3, l.spec.leaseDurationSeconds)
    assert.is_truthy(l.spec.renewTime:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%dZ$"),
      l.spec.renewTime)

    -- the standby is ready (its cache is synced), so a rolling update goes on
    local probes = b.wait_log("probes=(http://127%.0%.0%.1:%d+)")
    c.wait("standby ready", function() return curl(probes .. "/readyz") == 200 end)
    local _, metrics = curl(probes .. "/metrics")
    assert.is_truthy(metrics:find('smop_leader{lease="' .. LEASE_NS .. "/" .. LEASE .. '"} 0', 1, true),
      metrics)

    local _, err, code = c.apply_trainingjob("first")
    assert.are.equal(0, code, err)
    c.wait("first InProgress", function() return c.status("first") == "InProgress" end)
    -- every Event on it comes from the leader: the standby did not sync
    local reporters = c.fk.kubectl({ "get", "events", "--field-selector", "involvedObject.name=first",
      "-o", "jsonpath={range .items[*]}{.reportingInstance}{\"\\n\"}{end}" })
    assert.is_truthy(reporters:find("replica-a", 1, true), reporters)
    assert.is_falsy(reporters:find("replica-b", 1, true), reporters)

    -- the leader renews: renewTime moves while the holder stays
    local renewed = l.spec.renewTime
    c.wait("a renewal", function()
      local now = lease(c)
      return now and now.spec.renewTime ~= renewed and now.spec.holderIdentity == a_id
    end)

    -- SIGTERM: the Lease is handed back, and the standby takes it well
    -- before the 3 s lease would have run out
    assert.are.equal(0, a.kill("TERM"))
    assert.is_truthy(a.stderr:find("released the leader lease", 1, true), a.stderr)
    b.wait_log("became leader", 20)
    l = assert(lease(c))
    assert.is_truthy(l.spec.holderIdentity:find("^replica%-b_"), l.spec.holderIdentity)
    assert.are.equal(1, l.spec.leaseTransitions)

    _, err, code = c.apply_trainingjob("second")
    assert.are.equal(0, code, err)
    c.wait("second InProgress", function() return c.status("second") == "InProgress" end)
    assert.are.equal(2, #c.creates())
  end)

  it("takes over an abandoned lease only after it expires", function()
    -- a holder that vanished without releasing (SIGKILL)
    local a = c.operator(ELECT, "POD_NAME=replica-a")
    a.wait_log("became leader")
    a.kill("KILL")
    local b = c.operator(ELECT, "POD_NAME=replica-b")
    b.wait_log("waiting for the leader lease")
    b.wait_log("became leader", 100)
    assert.are.equal(1, assert(lease(c)).spec.leaseTransitions)
  end)

  it("stops, exit code 1, when it cannot renew the lease", function()
    local a = c.operator(ELECT, "POD_NAME=replica-a")
    a.wait_log("became leader")
    -- every write to leases fails from now on
    c.fk.faults("POST", { code = 500, count = 100000, resource = "leases" })
    a.wait_log("lost the leader lease", 100)
    for _ = 1, 100 do
      if not a.alive() then break end
      os.execute("sleep 0.1")
    end
    assert.is_false(a.alive())
    assert.are.equal(1, a.kill("TERM"))
    assert.is_truthy(a.stderr:find("no longer holds the leader lease", 1, true), a.stderr)
  end)

  it("says so when RBAC denies the lease, and leads once allowed", function()
    c.fk.faults("POST", { code = 403, count = 100000, resource = "leases", verbs = { "get", "create" } })
    local a = c.operator(ELECT, "POD_NAME=replica-a")
    local line = a.wait_log("[^\n]*waiting for the leader lease[^\n]*")
    assert.is_truthy(line:find("403", 1, true), line)
    assert.is_truthy(line:find("leases", 1, true), line)
    c.fk.faults("DELETE")
    a.wait_log("became leader", 50)
  end)

  it("keeps one lease per shard", function()
    local args = { "--shard", "1/2" }
    for _, x in ipairs(ELECT) do args[#args + 1] = x end
    local a = c.operator(args, "POD_NAME=replica-a")
    a.wait_log("became leader")
    assert.is_truthy(lease(c, LEASE .. "-shard-1-of-2"))
    assert.is_nil(lease(c))
  end)
end)

describe("operator.leader", function()
  it("writes MicroTime as the API server does", function()
    assert.are.equal("2026-11-23T15:45:32.123456Z", leader.micro_time(1795448732.123456))
    assert.are.equal("1970-01-01T00:00:00.000000Z", leader.micro_time(0))
  end)
end)

describe("smop run shutdown", function()
  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end

  local c
  before_each(function() c = cluster.start() end)
  after_each(function() c.stop() end)

  -- A sync is inside CreateTrainingJob (the fake holds its answer for
  -- `latency` seconds) when the operator gets SIGTERM. Returns the operator,
  -- its exit code and the wall time of the signal.
  local function stop_during_create(timeout, latency)
    fake_aws.curl(c.fa.url, "POST", "/_smop/faults", { kind = "latency", operation = "CreateTrainingJob",
      seconds = latency, count = 1 })
    local op = c.operator({ "--shutdown-timeout", tostring(timeout) })
    op.wait_log("caches synced")
    local _, err, code = c.apply_trainingjob("slow")
    assert.are.equal(0, code, err)
    -- the finalizer is written just before the create is sent
    c.wait("the finalizer", function()
      return c.fk.kubectl({ "get", "trainingjob", "slow", "-o", "jsonpath={.metadata.finalizers}" }) ~= ""
    end)
    os.execute("sleep 0.3")
    local signalled = tonumber((fake_kube.run("date +%s.%N")))
    return op, op.kill("TERM"), signalled
  end

  it("lets a running sync finish and write its status", function()
    local op, code, signalled = stop_during_create(20, 1.5)
    assert.are.equal(0, code)
    assert.is_falsy(op.stderr:find("syncs still running", 1, true), op.stderr)
    assert.are.equal("InProgress", c.status("slow"))
    -- the create really was running when the signal came
    local calls = fake_aws.curl(c.fa.url, "GET", "/_smop/calls?operation=CreateTrainingJob").calls
    assert.are.equal(1, #calls)
    assert.is_true(calls[1].real_time > signalled)
  end)

  it("stops at the deadline when a sync takes longer", function()
    local op, code = stop_during_create(0.5, 30)
    assert.are.equal(0, code)
    assert.is_truthy(op.stderr:find("stopping with syncs still running", 1, true), op.stderr)
    assert.are.equal("SynchronizingK8sJobWithSageMaker", c.status("slow"))   -- never learnt of the job
  end)
end)
