-- kube.client: requests, Status errors and token rotation against a
-- scripted server (smop.server), then the client and an informer against
-- `smop fake-kube` over TLS, configured by kube.config from its kubeconfig.
local client = require("kube.client")
local config = require("kube.config")
local server = require("smop.server")
local task = require("smop.task")
local json = require("smop.json")
local http = require("smop.http")
local smop = require("spec.support.smop")

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

local function status_body(code, reason, message, details)
  return json.encode({ kind = "Status", apiVersion = "v1", metadata = json.object({}),
    status = "Failure", message = message, reason = reason, code = code, details = details })
end

-- A server answering from `routes[method .. " " .. path]` (a function of
-- req returning status, headers, body), recording every request.
local function with_server(routes, fn)
  task.run(function()
    local seen = {}
    local srv = assert(server.listen({ handler = function(req)
      seen[#seen + 1] = req
      local route = routes[req.method .. " " .. req.path]
      if not route then
        return 404, { ["Content-Type"] = "application/json" },
          status_body(404, "NotFound", "the server could not find the requested resource")
      end
      return route(req)
    end }))
    local ok, err = pcall(fn, srv, seen)
    srv:close()
    if not ok then error(type(err) == "table" and tostring(err.message) or err, 0) end
  end)
end

local function json_answer(status, obj)
  return function()
    return status, { ["Content-Type"] = "application/json" }, json.encode(obj)
  end
end

local TJ = "/apis/sagemaker.aws.amazon.com/v1/namespaces/default/trainingjobs"

describe("kube.client", function()
  it("GETs with the token and decodes the object, arrays marked", function()
    with_server({ ["GET " .. TJ .. "/a"] = json_answer(200, { metadata = { name = "a" },
      spec = { hyperParameters = json.array({}) } }) }, function(srv, seen)
      local kc = client.new({ server = srv.url .. "/", token = "tok" })
      local obj = assert(kc:get(TJ .. "/a"))
      assert.are.equal("a", obj.metadata.name)
      assert.is_true(json.is_array(obj.spec.hyperParameters))
      assert.are.equal("Bearer tok", seen[1].headers.authorization)
      assert.are.equal("application/json", seen[1].headers.accept)
    end)
  end)

  it("returns Kubernetes Status errors as nil, {code, reason, message, details}", function()
    local message = 'Operation cannot be fulfilled on trainingjobs.sagemaker.aws.amazon.com ' ..
      '"a": the object has been modified; please apply your changes to the latest version and try again'
    local details = { name = "a", group = "sagemaker.aws.amazon.com", kind = "trainingjobs" }
    with_server({
      ["PUT " .. TJ .. "/a"] = function()
        return 409, { ["Content-Type"] = "application/json" },
          status_body(409, "Conflict", message, details)
      end,
      ["GET " .. TJ .. "/proxy"] = function()
        return 502, { ["Content-Type"] = "text/html" }, "<html>\nbad gateway</html>"
      end,
      ["POST " .. TJ] = function()
        return 429, { ["Content-Type"] = "application/json", ["Retry-After"] = "3" },
          status_body(429, "TooManyRequests", "slow down")
      end,
    }, function(srv)
      local kc = client.new({ server = srv.url })
      local obj, err = kc:update(TJ .. "/a", { metadata = { name = "a" } })
      assert.is_nil(obj)
      assert.are.equal(409, err.code)
      assert.are.equal("Conflict", err.reason)
      assert.are.equal(message, err.message)
      assert.are.same(details, err.details)
      assert.is_true(client.is_error(err))
      assert.are.equal("PUT " .. TJ .. "/a?fieldManager=smop: 409 Conflict: " .. message,
        tostring(err))
      obj, err = kc:get(TJ .. "/missing")
      assert.is_nil(obj)
      assert.are.equal(404, err.code)
      assert.are.equal("NotFound", err.reason)
      obj, err = kc:get(TJ .. "/proxy")
      assert.is_nil(obj)
      assert.are.equal(502, err.code)
      assert.are.equal("<html> bad gateway</html>", err.message)
      obj, err = kc:create(TJ, { metadata = { name = "b" } })
      assert.is_nil(obj)
      assert.are.equal(429, err.code)
      assert.are.equal(3, err.retry_after)
    end)
  end)

  it("returns transport failures as code 0, reason Transport", function()
    task.run(function()
      local srv = assert(server.listen({ handler = function() return 200, {}, "{}" end }))
      local url = srv.url
      srv:close()
      local kc = client.new({ server = url })
      local obj, err = kc:get("/api/v1/namespaces")
      assert.is_nil(obj)
      assert.are.equal(0, err.code)
      assert.are.equal("Transport", err.reason)
      assert.matches("^GET /api/v1/namespaces: .*onnect", tostring(err))
    end)
  end)

  it("sends each patch kind with its content type, and writes with a field manager", function()
    local echo = function(req)
      return 200, { ["Content-Type"] = "application/json" }, json.encode({
        content_type = req.headers["content-type"], query = req.query or json.null,
        body = req.body, method = req.method })
    end
    with_server({ ["PATCH " .. TJ .. "/a"] = echo, ["PATCH " .. TJ .. "/a/status"] = echo,
      ["DELETE " .. TJ .. "/a"] = echo, ["POST " .. TJ] = echo }, function(srv)
      local kc = client.new({ server = srv.url })
      local got = assert(kc:patch(TJ .. "/a", { metadata = { finalizers = json.null } }))
      assert.are.equal("application/merge-patch+json", got.content_type)
      assert.are.equal("fieldManager=smop", got.query)
      assert.are.equal('{"metadata":{"finalizers":null}}', got.body)
      got = assert(kc:patch(TJ .. "/a", json.array({ { op = "remove", path = "/x" } }), "json"))
      assert.are.equal("application/json-patch+json", got.content_type)
      assert.are.same({ { op = "remove", path = "/x" } }, json.decode(got.body))
      assert.is_true(json.is_array(json.decode(got.body)))
      got = assert(kc:patch(TJ .. "/a", "{}", "strategic"))
      assert.are.equal("application/strategic-merge-patch+json", got.content_type)
      got = assert(kc:patch(TJ .. "/a", { spec = {} }, "apply"))
      assert.are.equal("application/apply-patch+yaml", got.content_type)
      assert.are.equal("fieldManager=smop&force=true", got.query)
      got = assert(kc:patch_status(TJ .. "/a", { status = { phase = "x" } }))
      assert.are.equal("application/merge-patch+json", got.content_type)
      got = assert(kc:delete(TJ .. "/a", { propagationPolicy = "Background" }))
      assert.are.equal("DELETE", got.method)
      assert.are.equal('{"propagationPolicy":"Background"}', got.body)
      assert.are.equal(json.null, got.query)
      got = assert(client.new({ server = srv.url }, { field_manager = "op x" })
        :create(TJ, { metadata = { name = "n" } }))
      assert.are.equal("fieldManager=op%20x", got.query)
      assert.has_error(function() kc:patch(TJ .. "/a", {}, "bogus") end)
    end)
  end)

  it("lists every page", function()
    with_server({ ["GET " .. TJ] = function(req)
      local page = req.args["continue"] == "p2" and 2 or 1
      return 200, { ["Content-Type"] = "application/json" }, json.encode({
        items = json.array({ { metadata = { name = "item" .. page } } }),
        metadata = { resourceVersion = "7", ["continue"] = page == 1 and "p2" or nil } })
    end }, function(srv, seen)
      local kc = client.new({ server = srv.url })
      local list = assert(kc:list(TJ, { label_selector = "app=x", limit = 1 }))
      assert.are.equal(2, #list.items)
      assert.are.equal("item2", list.items[2].metadata.name)
      assert.are.equal("7", list.resource_version)
      assert.are.equal("app=x", seen[1].args.labelSelector)
      assert.are.equal("1", seen[2].args.limit)
    end)
  end)

  it("re-reads its token file after a 401 and retries once", function()
    local path = smop.tempfile("t1\n")
    local current = "t1"
    with_server({ ["GET " .. TJ .. "/a"] = function(req)
      if req.headers.authorization ~= "Bearer " .. current then
        return 401, { ["Content-Type"] = "application/json" },
          status_body(401, "Unauthorized", "Unauthorized")
      end
      return 200, { ["Content-Type"] = "application/json" }, '{"metadata":{"name":"a"}}'
    end }, function(srv, seen)
      local cfg = { server = srv.url, token = "t1", token_file = path, read_file = read_file }
      local kc = client.new(cfg)
      assert(kc:get(TJ .. "/a"))
      assert.are.equal(1, #seen)
      smop.write(path, "t2\n")   -- kubelet rotated it
      current = "t2"
      assert(kc:get(TJ .. "/a"))
      assert.are.equal(3, #seen)
      assert.are.equal("Bearer t1", seen[2].headers.authorization)
      assert.are.equal("Bearer t2", seen[3].headers.authorization)
      -- a revoked token stays an error after the one retry
      current = "t3"
      local obj, err = kc:get(TJ .. "/a")
      assert.is_nil(obj)
      assert.are.equal(401, err.code)
      assert.are.equal(5, #seen)
    end)
    os.remove(path)
  end)

  it("re-reads its token file when it is older than TOKEN_REFRESH", function()
    local path = smop.tempfile("t1")
    with_server({ ["GET /x"] = json_answer(200, {}) }, function(srv, seen)
      local kc = client.new({ server = srv.url, token = "t1", token_file = path },
        { read_file = read_file })
      smop.write(path, "t2")
      assert(kc:get("/x"))
      assert.are.equal("Bearer t1", seen[1].headers.authorization) -- fresh enough
      local saved = client.TOKEN_REFRESH
      client.TOKEN_REFRESH = 0
      local ok, err = pcall(function() assert(kc:get("/x")) end)
      client.TOKEN_REFRESH = saved
      assert(ok, err)
      assert.are.equal("Bearer t2", seen[2].headers.authorization)
    end)
    os.remove(path)
  end)

  it("starts informers whose token follows the token file", function()
    local path = smop.tempfile("t1")
    local current, watches = "t1", {}
    local PATH = "/apis/sagemaker.aws.amazon.com/v1/trainingjobs"
    local cond = task.condition()
    with_server({ ["GET " .. PATH] = function(req)
      if req.headers.authorization ~= "Bearer " .. current then
        return 401, { ["Content-Type"] = "application/json" },
          status_body(401, "Unauthorized", "Unauthorized")
      end
      if not req.args.watch then
        return 200, { ["Content-Type"] = "application/json" }, json.encode({
          items = json.array({ { metadata = { name = "a", namespace = "default",
            resourceVersion = "5", uid = "u1" } } }), metadata = { resourceVersion = "5" } })
      end
      watches[#watches + 1] = req.headers.authorization
      local w = req:stream(200, { ["Content-Type"] = "application/json" })
      if #watches == 1 then
        cond:wait(10)   -- held open until the spec ends it
        return
      end
      w:write(json.encode({ type = "ADDED", object = { metadata = { name = "b",
        namespace = "default", resourceVersion = "6", uid = "u2" } } }) .. "\n")
      cond:wait(10)
    end }, function(srv)
      local kc = client.new({ server = srv.url, token = "t1", token_file = path,
        read_file = read_file })
      local inf = assert(kc:informer({ path = PATH, backoff = { base = 0.001, max = 0.01 } }))
      assert.are.equal("default/a", assert(inf:next()).key)
      while #watches < 1 do task.sleep(0.005) end
      smop.write(path, "t2")  -- rotated; the old one is refused from now on
      current = "t2"
      cond:notify_all()       -- the first watch ends; re-watching with t1 gets 401
      local ev = assert(inf:next())
      assert.are.equal("default/b", ev.key)
      assert.are.equal("Bearer t2", watches[2])
      assert.matches("401 Unauthorized", inf:state().last_error)
      inf:close()
      cond:notify_all()
    end)
    os.remove(path)
  end)

  it("needs a configuration, and a reader for a token file", function()
    assert.has_error(function() client.new(nil) end,
      "kube.client.new: a configuration from kube.config.load is required")
    assert.has_error(function() client.new({ server = "https://x", token_file = "/t" }) end,
      "kube.client.new: cfg.token_file needs read_file (cfg.read_file or opts.read_file)")
  end)
end)

describe("kube.client and informers against smop fake-kube", function()
  local fake_kube = require("spec.support.fake_kube")
  local fk, kc, cfg

  setup(function()
    fk = fake_kube.start({ crds = { "spec/fixtures/kube/crd-trainingjobs.yaml" } })
    cfg = assert(config.load({ kubeconfig = fk.kubeconfig, read_file = read_file, env = {} }))
    kc = client.new(cfg)
  end)

  teardown(function()
    if fk then fk.stop() end
  end)

  local function control(path)
    local res = assert(http.request({ method = "POST", url = fk.url .. "/_smop/" .. path,
      ca_file = fk.ca_file }))
    assert.are.equal(200, res.status, res.body)
  end

  it("creates, reads, patches, conflicts and deletes over TLS with the kubeconfig's CA", function()
    task.run(function()
      assert.matches("^https://127%.0%.0%.1:", cfg.server)
      local obj = { apiVersion = "sagemaker.aws.amazon.com/v1", kind = "TrainingJob",
        metadata = { name = "client-a", namespace = "default" },
        spec = { roleArn = "arn:aws:iam::123456789012:role/r", region = "us-west-2",
          resourceConfig = { instanceCount = 1, instanceType = "ml.m4.xlarge", volumeSizeInGB = 5 } } }
      local created = assert(kc:create(TJ, obj))
      assert.are.equal(1, created.metadata.generation)
      local got = assert(kc:get(TJ .. "/client-a"))
      assert.are.equal(created.metadata.uid, got.metadata.uid)
      local patched = assert(kc:patch(TJ .. "/client-a",
        { metadata = { finalizers = json.array({ "sagemaker.aws.amazon.com/finalizer" }) } }))
      assert.are.same({ "sagemaker.aws.amazon.com/finalizer" }, patched.metadata.finalizers)
      local st = assert(kc:patch_status(TJ .. "/client-a",
        { status = { trainingJobStatus = "InProgress" } }))
      assert.are.equal("InProgress", st.status.trainingJobStatus)
      assert.are.equal(1, st.metadata.generation)
      -- a stale update: 409 Conflict as the API server words it
      local stale = got
      local _, err = kc:update(TJ .. "/client-a", stale)
      assert.are.equal(409, err.code)
      assert.are.equal("Conflict", err.reason)
      assert.matches("the object has been modified", err.message)
      assert.are.equal("client-a", err.details.name)
      -- schema violations: 422 with causes
      local bad = { apiVersion = "sagemaker.aws.amazon.com/v1", kind = "TrainingJob",
        metadata = { name = "client-bad" }, spec = { resourceConfig = { instanceCount = 0 } } }
      _, err = kc:create(TJ, bad)
      assert.are.equal(422, err.code)
      assert.are.equal("Invalid", err.reason)
      assert.is_true(#err.details.causes >= 1)
      -- delete with a finalizer: it stays, marked; removing the finalizer ends it
      local deleting = assert(kc:delete(TJ .. "/client-a", { propagationPolicy = "Background" }))
      assert.is_string(deleting.metadata.deletionTimestamp)
      assert(kc:patch(TJ .. "/client-a", { metadata = { finalizers = json.null } }))
      _, err = kc:get(TJ .. "/client-a")
      assert.are.equal(404, err.code)
      assert.are.equal('trainingjobs.sagemaker.aws.amazon.com "client-a" not found', err.message)
    end)
  end)

  it("runs an informer through changes, a dropped watch and a forced 410", function()
    task.run(function()
      local function job(name, n)
        return { apiVersion = "sagemaker.aws.amazon.com/v1", kind = "TrainingJob",
          metadata = { name = name, namespace = "default" },
          spec = { roleArn = "arn:aws:iam::123456789012:role/r", region = "us-west-2",
            resourceConfig = { instanceCount = n, instanceType = "ml.m4.xlarge",
              volumeSizeInGB = 5 } } }
      end
      assert(kc:create(TJ, job("inf-a", 1)))
      local inf = assert(kc:informer({ path = "/apis/sagemaker.aws.amazon.com/v1/trainingjobs",
        backoff = { base = 0.01, max = 0.1 } }))
      local function next_event()
        local ev, err = inf:next()
        assert(ev, err)
        return ev.type .. " " .. ev.key
      end
      assert.are.equal("ADDED default/inf-a", next_event())
      assert.is_true(inf:synced())
      assert(kc:create(TJ, job("inf-b", 1)))
      assert.are.equal("ADDED default/inf-b", next_event())
      assert(kc:patch_status(TJ .. "/inf-a", { status = { trainingJobStatus = "InProgress" } }))
      assert.are.equal("MODIFIED default/inf-a", next_event())
      assert.are.equal("InProgress", inf:get("default/inf-a").status.trainingJobStatus)

      control("watches/drop")
      assert(kc:patch(TJ .. "/inf-b", { spec = { resourceConfig = { instanceCount = 2 } } }))
      assert.are.equal("MODIFIED default/inf-b", next_event())
      assert.are.equal(0, inf:state().relists)

      -- the next watch gets ERROR 410: the informer relists and goes on
      control("watches/expire-next")
      control("watches/drop")
      assert(kc:delete(TJ .. "/inf-a"))
      assert.are.equal("DELETED default/inf-a", next_event())
      assert.are.equal(1, inf:state().relists)
      assert(kc:create(TJ, job("inf-c", 1)))
      assert.are.equal("ADDED default/inf-c", next_event())
      assert.is_nil(inf:state().last_error)
      inf:close()
    end)
  end)
end)
