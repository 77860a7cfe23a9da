-- Script sets from a ConfigMap (DESIGN contract 3): kind scripts replaced
-- or wrapped live, a set that fails its checks changes nothing, deleting
-- the ConfigMap goes back to the built-in scripts.
local harness = require("spec.support.operator")
local json = require("smop.json")

local CM = "smop-scripts"
local CMS = "/api/v1/namespaces/default/configmaps"

-- Wraps the built-in TrainingJob script: every job gets one more tag.
local WRAP = [[
local base = require("builtin.kinds.trainingjob")
local M = {}
for k, v in pairs(base) do M[k] = v end
function M.reconcile(obj, ctx)
  local tags = obj.spec.tags or {}
  tags[#tags + 1] = { key = "platform", value = "smop" }
  obj.spec.tags = tags
  return base.reconcile(obj, ctx)
end
return M
]]

local function put(h, data)
  local cur = h.kube:get(CMS .. "/" .. CM)
  local obj = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = CM, namespace = "default" },
    data = data }
  if cur then
    obj.metadata.resourceVersion = cur.metadata.resourceVersion
    return assert(h.kube:update(CMS .. "/" .. CM, obj))
  end
  return assert(h.kube:create(CMS, obj))
end

-- Waits for an Event with reason on the ConfigMap whose message has text
-- (any, without); returns the message.
local function event(h, reason, text)
  return h.wait(reason .. " Event " .. tostring(text), function()
    for _, e in ipairs(h.events(CM)) do
      if e.reason == reason and (not text or e.message:find(text, 1, true)) then return e.message end
    end
  end)
end

local function tags_sent(h, name)
  for _, c in ipairs(h.calls("CreateTrainingJob")) do
    if c.params.TrainingJobName:sub(1, #name + 1) == name .. "-" then
      local out = {}
      for _, t in ipairs(c.params.Tags or {}) do out[t.Key] = t.Value end
      return out
    end
  end
end

local function job(h, name)
  h.create(name)
  h.wait(name .. " InProgress", function() return h.status(name) == "InProgress" end)
  return h.get(name).status
end

describe("script sets from a ConfigMap", function()
  it("wrap a kind live, keep the running set when a new one fails, and go back on delete", function()
    harness.run({ scripts_configmap = { namespace = "default", name = CM } }, function(h)
      local builtin = job(h, "job-0").scriptVersion
      assert.is_truthy(builtin:match("^builtin%-"), builtin)

      put(h, { ["kinds.trainingjob.lua"] = WRAP, ["README"] = "adds the platform tag" })
      local msg = event(h, "ScriptsLoaded")
      assert.is_truthy(msg:find("trainingjob configmap-", 1, true), msg)
      local st = job(h, "job-1")
      assert.is_truthy(st.scriptVersion:match("^configmap%-%x+$"), st.scriptVersion)
      assert.are.equal("smop", tags_sent(h, "job-1").platform)

      -- each broken set is refused whole, naming the key and line; job-2
      -- still runs the wrapped script
      local broken = {
        { { ["kinds.trainingjob.lua"] = "local M = {\nreturn M" }, "kinds.trainingjob.lua:2:" },
        { { ["kinds.trainingjob.lua"] = "local s = require('smop.server')\nreturn s" },
          "module 'smop.server' is not available to ConfigMap scripts" },
        { { ["kinds.trainingjob.lua"] = "error('no')" }, "kinds.trainingjob.lua:1: no" },
        { { ["kinds.trainingjob.lua"] = "local b = require('builtin.kinds.trainingjob')\n"
          .. "return { kind = b.kind, plural = 'other', status_field = b.status_field, "
          .. "reconcile = b.reconcile, finalize = b.finalize }" },
          "plural is other; it must stay trainingjobs" },
        { { ["operator.driver.lua"] = "return {}" }, "only kinds.* modules can be replaced" },
        { { ["kinds.trainingjob.lua"] = "return getmetatable(_ENV).__index.require('smop.server')" },
          "kinds.trainingjob.lua:1: attempt to index a boolean value" },
        { { ["kinds.trainingjob.lua"] = "return _G.require('smop.server')" },
          "module 'smop.server' is not available to ConfigMap scripts" },
        { { ["kinds.trainingjob.lua"] = "return load('return require')()('smop.http')" },
          "module 'smop.http' is not available to ConfigMap scripts" },
      }
      for _, b in ipairs(broken) do
        put(h, b[1])
        event(h, "ScriptsRejected", b[2])
      end
      local still = job(h, "job-2")
      assert.are.equal(st.scriptVersion, still.scriptVersion)
      assert.are.equal("smop", tags_sent(h, "job-2").platform)
      local text = h.sb.op.metrics:render()
      assert.is_truthy(text:find('smop_script_reloads_total{result="rejected"} 8', 1, true), text)

      -- deleting the ConfigMap: the built-in scripts again
      assert(h.kube:delete(CMS .. "/" .. CM))
      h.wait("the built-in set", function()
        return h.sb.op.scripts:state().source == "builtin"
      end)
      local back = job(h, "job-3")
      assert.are.equal(builtin, back.scriptVersion)
      assert.is_nil(tags_sent(h, "job-3").platform)
    end)
  end)

  it("replace a library every job kind uses", function()
    harness.run({ scripts_configmap = { namespace = "default", name = CM } }, function(h)
      -- kinds.lib.job, wrapped: every job kind built on it links the platform's log viewer
      put(h, { ["kinds.lib.job.lua"] = [[
local base = require("builtin.kinds.lib.job")
local M = setmetatable({}, { __index = base })
function M.new(def)
  local status_from = def.status_from
  def.status_from = function(desc, obj, name)
    local st = status_from and status_from(desc, obj, name) or {}
    st.cloudWatchLogUrl = "https://logs.example.com/" .. name
    return st
  end
  return base.new(def)
end
return M
]] })
      event(h, "ScriptsLoaded")
      local st = job(h, "job-l")
      assert.is_truthy(st.scriptVersion:match("^configmap%-"), st.scriptVersion)
      assert.are.equal("https://logs.example.com/" .. st.sageMakerTrainingJobName, st.cloudWatchLogUrl)
      assert.is_truthy(json.encode(h.sb.op.scripts:state()):find("configmap default/smop-scripts@", 1, true))
    end)
  end)
end)

describe("script sets in smop dev", function()
  local dev = require("spec.support.dev")
  local fake_kube = require("spec.support.fake_kube")
  local smop = require("spec.support.smop")
  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end
  local NS = "sagemaker-k8s-operator-system"

  it("load the example ConfigMap, and refuse what the real sandbox forbids", function()
    local d = dev.start({ "--aws-speed", "0", "--poll-interval", "0.2" })
    finally(function() d.stop() end)
    local _, err, code = d.kubectl({ "apply", "-f", "examples/scripts/team-tags.yaml" })
    assert.are.equal(0, code, err)
    d.wait("ScriptsLoaded", function()
      local reasons = d.kubectl({ "get", "events", "-n", NS, "-o", "jsonpath={.items[*].reason}" })
      return reasons:find("ScriptsLoaded")
    end)
    local manifest = fake_kube.slurp("examples/xgboost-mnist-trainingjob.yaml")
      :gsub("metadata:\n  name: xgboost%-mnist\n", "metadata:\n  name: xgboost-mnist\n  labels:\n"
        .. "    cost-center: ml-research\n")
    _, err, code = d.kubectl({ "apply", "-f", "-" }, { stdin = manifest })
    assert.are.equal(0, code, err)
    local version = d.wait("a status from the ConfigMap's script", function()
      local v = d.kubectl({ "get", "trainingjob", "xgboost-mnist", "-o",
        "jsonpath={.status.scriptVersion}" })
      return v:match("^configmap%-%x+$")
    end)
    assert.is_truthy(version)
    local created = d.control("GET", "/_smop/calls?operation=CreateTrainingJob").calls[1]
    local tags = {}
    for _, t in ipairs(created.params.Tags) do tags[t.Key] = t.Value end
    assert.are.equal("default", tags.team)
    assert.are.equal("ml-research", tags["cost-center"])

    -- the real sandbox: no files, no processes, and no way back to the
    -- host's require for a ConfigMap script
    local file = d.dir .. "/kinds.trainingjob.lua"
    local escapes = {
      { "return io.open('/etc/passwd')", "kinds.trainingjob.lua:1: undeclared global 'io'" },
      { "return _G.require('smop.server')", "module 'smop.server' is not available" },
      { "return load('return require')()('smop.http')", "module 'smop.http' is not available" },
      { "return getmetatable(_ENV).__index.require('smop.kube')", "attempt to index a boolean value" },
    }
    for _, e in ipairs(escapes) do
      smop.write(file, e[1])
      local text = d.kubectl({ "create", "configmap", CM, "-n", NS, "--from-file=" .. file,
        "--dry-run=client", "-o", "yaml" })
      smop.write(d.dir .. "/cm.yaml", text)
      _, err, code = d.kubectl({ "replace", "-f", d.dir .. "/cm.yaml" })
      assert.are.equal(0, code, err)
      d.wait("ScriptsRejected: " .. e[2], function()
        local m = d.kubectl({ "get", "events", "-n", NS, "--field-selector", "reason=ScriptsRejected", "-o",
          "jsonpath={.items[*].message}" })
        return m:find(e[2], 1, true)
      end)
    end
  end)
end)

describe("script sets at start", function()
  local cluster = require("spec.support.cluster")
  local fake_kube = require("spec.support.fake_kube")
  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end

  it("are read before the first sync: no object meets a script the ConfigMap replaced", function()
    local c = cluster.start()
    finally(function() c.stop() end)
    -- the ConfigMap and a job are there before smop run starts
    local text = fake_kube.slurp("examples/scripts/team-tags.yaml")
      :gsub("namespace: sagemaker%-k8s%-operator%-system", "namespace: default")
    local _, err, code = c.fk.kubectl({ "apply", "-f", "-" }, { stdin = text })
    assert.are.equal(0, code, err)
    _, err, code = c.apply_trainingjob("early")
    assert.are.equal(0, code, err)
    c.operator({ "--scripts-configmap", "smop-scripts" })
    c.wait("early InProgress", function() return c.status("early") == "InProgress" end)
    local creates = c.creates()
    assert.are.equal(1, #creates)
    local tags = {}
    for _, t in ipairs(creates[1].params.Tags) do tags[t.Key] = t.Value end
    assert.are.equal("default", tags.team)
  end)
end)
