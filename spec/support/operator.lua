-- The operator in-process for specs: operator.dev's sandbox (fake-kube and
-- fake-aws on smop.server, the operator talking to them over HTTP(S)) with
-- a frozen AWS clock, fast polls and short backoffs.
--
--   harness.run({ poll_interval = 0.05, kinds = { "trainingjob" } }, function(h)
--     h.create("job-a", function(obj) obj.spec.tags[1].key = "x" end)   -- the example TrainingJob
--     h.apply("examples/kmeans-mnist-processingjob.yaml", "proc-a")     -- any kind's example
--     local obj = h.wait("InProgress", function() return h.status("job-a") == "InProgress" end)
--     h.advance(100)                -- the fake AWS clock, virtual seconds
--     h.calls("CreateTrainingJob")  -- recorded calls to the fake AWS (service: sagemaker
--                                   -- unless a second argument names another)
--     h.sagemaker("DescribeModel", { ModelName = "m" })   -- a call straight to the fake
--   end)
--
-- Objects are named by (name, plural); the plural defaults to trainingjobs:
-- h.get(name, plural), h.status(name, field, plural), h.path(name, plural),
-- h.stored(name, plural). The sandbox serves all eight CRDs of crds/.
--
-- h.wait polls (every 10 ms, bounded) until fn returns a true value and
-- returns it; past the bound it fails naming what it waited for. The bound
-- is a safety net, not a timing assertion.
local fake_aws = require("spec.support.fake_aws")
local json = require("smop.json")
local task = require("smop.task")
local yaml = require("smop.yaml")

local M = {}

M.GROUP_PATH = "/apis/sagemaker.aws.amazon.com/v1/namespaces/default/"
M.TRAININGJOBS = M.GROUP_PATH .. "trainingjobs"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local crds
local examples = {}

-- A decoded example manifest (examples/...; the TrainingJob by default).
function M.example(path)
  path = path or "examples/xgboost-mnist-trainingjob.yaml"
  examples[path] = examples[path] or read(path)
  return yaml.decode(examples[path])
end

-- Every CRD of crds/, decoded; and kind -> plural.
local plurals = {}
local function load_crds()
  if crds then return crds end
  crds = {}
  local p = assert(io.popen("ls crds/*.yaml"))
  for file in p:lines() do
    for _, doc in ipairs(yaml.decode_all(read(file))) do
      crds[#crds + 1] = doc
      plurals[doc.spec.names.kind] = doc.spec.names.plural
    end
  end
  p:close()
  return crds
end

local function harness(sb)
  local h = { sb = sb, kube = sb.client, aws_app = sb.aws_app, kube_app = sb.kube_app }

  function h.path(name, plural)
    return M.GROUP_PATH .. (plural or "trainingjobs") .. "/" .. name
  end

  -- Creates an example (path; the TrainingJob by default) under another
  -- name; edit(obj) may change it first. Returns the created object.
  function h.apply(path, name, edit)
    local obj = M.example(path)
    obj.metadata.name = name
    if edit then edit(obj) end
    return assert(h.kube:create(M.GROUP_PATH .. assert(plurals[obj.kind], obj.kind), obj))
  end

  function h.create(name, edit)
    return h.apply(nil, name, edit)
  end

  function h.get(name, plural)
    return h.kube:get(h.path(name, plural))
  end

  function h.status(name, field, plural)
    local obj = h.get(name, plural)
    return obj and obj.status and obj.status[field or "trainingJobStatus"]
  end

  -- The object as the fake's store holds it right now (no HTTP: usable
  -- from inside a fake's handler).
  function h.stored(name, plural)
    local store = sb.kube_app.store
    return store:get(store:kind_for("sagemaker.aws.amazon.com", "v1", plural or "trainingjobs"),
      "default", name)
  end

  function h.wait(what, fn, limit)
    for _ = 1, limit or 2000 do
      local v = fn()
      if v then return v end
      task.sleep(0.01)
    end
    error("timed out waiting for " .. what, 2)
  end

  function h.advance(seconds)
    local status = fake_aws.control(sb.aws_app, "POST", "/_smop/clock", { advance = seconds })
    assert(status == 200)
  end

  function h.calls(operation, service)
    local _, body = fake_aws.control(sb.aws_app, "GET", "/_smop/calls", nil,
      { service = service or "sagemaker", operation = operation })
    return body.calls
  end

  -- Calls to operation that succeeded.
  function h.succeeded(operation, service)
    local n = 0
    for _, c in ipairs(h.calls(operation, service)) do
      if c.error == json.null or c.error == nil then n = n + 1 end
    end
    return n
  end

  -- A SageMaker call straight to the fake (us-west-2, the examples'
  -- region): the decoded answer, or nil and the error code.
  function h.sagemaker(op, params)
    local status, _, _, body = fake_aws.call(sb.aws_app, "sagemaker", op, params, { region = "us-west-2" })
    if status ~= 200 then return nil, body and body.__type end
    return body
  end

  function h.aws_fault(rule)
    local status, body = fake_aws.control(sb.aws_app, "POST", "/_smop/faults", rule)
    assert(status == 200 or status == 201, json.encode(body))
    return body.fault
  end

  function h.clear_aws_faults()
    fake_aws.control(sb.aws_app, "DELETE", "/_smop/faults")
  end

  -- A fault on the fake Kubernetes API's writes (fake/kube/control.lua).
  function h.kube_fault(rule)
    return assert(sb.kube_app.control:add_fault(rule))
  end

  -- Runs after(req, status, headers, body) after each fake-AWS call whose
  -- target ends in operation, before its answer goes out.
  function h.on_aws(operation, after)
    local app = sb.aws_app
    local handle = getmetatable(app).__index.handle
    app.handle = function(self, req)
      local status, headers, body = handle(self, req)
      local target = req.headers["x-amz-target"] or ""
      if target:sub(-#operation - 1) == "." .. operation then after(req, status, headers, body) end
      return status, headers, body
    end
  end

  -- Events (core/v1) about name.
  function h.events(name)
    local list = assert(h.kube:list("/api/v1/namespaces/default/events"))
    local out = {}
    for _, e in ipairs(list.items) do
      if e.involvedObject and e.involvedObject.name == name then out[#out + 1] = e end
    end
    return out
  end

  return h
end

-- Runs fn(h) in a task with a fresh sandbox; stops it afterwards.
function M.run(opts, fn)
  load_crds()
  local dev = require("operator.dev")
  task.run(function()
    local o = { crds = crds, aws_speed = 0, poll_interval = 0.05, error_interval = 60,
      queue = { base_delay = 0.01, max_delay = 0.1 } }
    for k, v in pairs(opts or {}) do o[k] = v end
    local sb = assert(dev.start(o))
    local h = harness(sb)
    h.wait("the operator's caches", function() return sb.op:ready() end)
    local ok, err = pcall(fn, h)
    sb:stop(2)
    if not ok then error(err, 0) end
  end)
end

return M
