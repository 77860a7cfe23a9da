-- Which objects a `smop run` process takes: --namespace, --label-selector
-- and --shard i/n. Each case applies objects inside and outside the scope
-- with the real kubectl, waits until every object inside has a status, and
-- then checks that nothing outside was touched: no status, no finalizer, no
-- SageMaker job.
local cluster = require("spec.support.cluster")
local fake_kube = require("spec.support.fake_kube")
local shard = require("operator.shard")

-- Applies each { name, opts } and waits until the ones in `inside` have a
-- status; returns the names SageMaker was asked to create.
local function converge(c, objects, inside)
  for _, o in ipairs(objects) do
    local _, err, code = c.apply_trainingjob(o[1], o[2])
    assert.are.equal(0, code, err)
  end
  for _, o in ipairs(objects) do
    if inside[o[1]] then
      c.wait(o[1] .. " InProgress", function()
        return c.status(o[1], o[2] and o[2].namespace) == "InProgress"
      end)
    end
  end
  local created = {}
  for _, call in ipairs(c.creates()) do created[#created + 1] = call.params.TrainingJobName end
  return created
end

-- Objects outside the scope: no status, no finalizer.
local function untouched(c, name, ns)
  local out = c.fk.kubectl({ "get", "trainingjob", name, "-n", ns or "default", "-o",
    "jsonpath={.status}|{.metadata.finalizers}" })
  assert.are.equal("|", out, name .. " was touched")
end

describe("smop run scope", function()
  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end

  local c
  before_each(function() c = cluster.start() end)
  after_each(function() c.stop() end)

  it("--namespace watches one namespace only", function()
    for _, ns in ipairs({ "team-a", "team-b" }) do
      local _, err, code = c.fk.kubectl({ "create", "namespace", ns })
      assert.are.equal(0, code, err)
    end
    local op = c.operator({ "--namespace", "team-a" })
    op.wait_log("caches synced")
    local created = converge(c, {
      { "in-scope", { namespace = "team-a" } },
      { "other-ns", { namespace = "team-b" } },
      { "default-ns" },
    }, { ["in-scope"] = true })
    assert.are.equal(1, #created)
    assert.is_truthy(created[1]:find("^in%-scope"), created[1])
    untouched(c, "other-ns", "team-b")
    untouched(c, "default-ns")
    assert.is_truthy(op.log():find("namespace=team-a", 1, true))
  end)

  it("--label-selector takes only matching objects", function()
    local op = c.operator({ "--label-selector", "team=a,tier!=test" })
    op.wait_log("caches synced")
    local created = converge(c, {
      { "team-a", { labels = { team = "a" } } },
      { "team-a-test", { labels = { team = "a", tier = "test" } } },
      { "team-b", { labels = { team = "b" } } },
      { "no-labels" },
    }, { ["team-a"] = true })
    assert.are.equal(1, #created)
    untouched(c, "team-a-test")
    untouched(c, "team-b")
    untouched(c, "no-labels")

    -- a label change moves an object into the scope
    local _, err, code = c.fk.kubectl({ "label", "trainingjob", "team-b", "team=a", "--overwrite" })
    assert.are.equal(0, code, err)
    c.wait("team-b InProgress", function() return c.status("team-b") == "InProgress" end)
  end)

  it("--shard i/n splits the objects between replicas, each exactly once", function()
    local names = {}
    for i = 1, 8 do names[i] = "job-" .. i end
    local mine = {}
    for _, n in ipairs(names) do
      if shard.index("default/" .. n, 2) == 0 then mine[n] = true end
    end
    local count = 0
    for _ in pairs(mine) do count = count + 1 end
    assert.is_true(count > 0 and count < #names, "the names should fall on both shards")

    local op0 = c.operator({ "--shard", "0/2" })
    op0.wait_log("caches synced")
    local objects = {}
    for i, n in ipairs(names) do objects[i] = { n } end
    local created = converge(c, objects, mine)
    assert.are.equal(count, #created)
    for _, n in ipairs(names) do
      if not mine[n] then untouched(c, n) end
    end

    -- the other shard takes the rest; nothing is created twice
    local op1 = c.operator({ "--shard", "1/2" })
    op1.wait_log("caches synced")
    for _, n in ipairs(names) do
      c.wait(n .. " InProgress", function() return c.status(n) == "InProgress" end)
    end
    created = c.creates()
    assert.are.equal(#names, #created)
    local seen = {}
    for _, call in ipairs(created) do
      local n = call.params.TrainingJobName
      assert.is_nil(seen[n], n .. " created twice")
      seen[n] = true
    end
  end)
end)

describe("operator.shard", function()
  it("hashes namespace/name with FNV-1a and refuses bad values", function()
    assert.are.equal(0x811c9dc5, shard.hash(""))
    assert.are.equal(0xe40c292c, shard.hash("a"))        -- the published FNV-1a 32 vector
    assert.are.equal(0xbf9cf968, shard.hash("foobar"))
    local owns = assert(shard.parse("1/3"))
    local taken = 0
    for i = 1, 300 do
      if owns("ns/job-" .. i) then taken = taken + 1 end
    end
    assert.is_true(taken > 60 and taken < 140, "about a third: " .. taken)
    for _, bad in ipairs({ "3/3", "0/0", "-1/2", "a/b", "1", "" }) do
      local f, err = shard.parse(bad)
      assert.is_nil(f)
      assert.is_truthy(err:find("--shard wants i/n", 1, true))
    end
  end)
end)
