-- The fake Kubernetes API's HTTP layer, in process: the app on smop.server
-- over HTTPS (a CA from smop.tls), driven by smop.http the way client-go
-- and curl talk to kube-apiserver. Expected bytes come from
-- ../shared/kube-wire (real kubectl 1.32 <-> kube-apiserver 1.32).
local http = require("smop.http")
local json = require("smop.json")
local kube = require("fake.kube")
local server = require("smop.server")
local smop = require("spec.support.smop")
local task = require("smop.task")
local tls = require("smop.tls")
local yaml = require("smop.yaml")

local TOKEN = "0123456789abcdef"
local GROUP_PATH = "/apis/sagemaker.aws.amazon.com/v1"
local TJ = GROUP_PATH .. "/namespaces/default/trainingjobs"
local V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
local DISCOVERY_ACCEPT = V2 .. ",application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
  .. "application/json"
local TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
  .. "g=meta.k8s.io,application/json"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local CERT, CA_FILE

local function job(name, extra)
  local obj = yaml.decode(slurp("spec/fixtures/kube/trainingjob-xgboost-mnist.yaml"))
  obj.metadata.name = name or obj.metadata.name
  for k, v in pairs(extra or {}) do obj[k] = v end
  return obj
end

-- Runs fn(f) with a fresh fake serving the TrainingJob CRD.
local function with_fake(fn)
  task.run(function()
    local app = kube.new({ token = TOKEN })
    local loaded, errs = app:load_crds(yaml.decode_all(slurp("spec/fixtures/kube/crd-trainingjobs.yaml")))
    assert.are.same({}, errs)
    assert.are.equal(1, loaded)
    local srv = assert(server.listen({ handler = function(req) return app:handle(req) end,
      tls = { cert = CERT.cert, key = CERT.key } }))
    local f = { app = app, base = "https://127.0.0.1:" .. srv.port }
    app.address = "127.0.0.1:" .. srv.port

    -- f.req(method, path, { body =, headers =, token = false|string, json = value })
    function f.req(method, path, o)
      o = o or {}
      local headers = { ["User-Agent"] = o.ua or "kubectl/v1.32.4 (linux/amd64) kubernetes/abc" }
      if o.token ~= false then headers["Authorization"] = "Bearer " .. (o.token or TOKEN) end
      local body = o.body
      if o.json ~= nil then
        body = json.encode(o.json)
        headers["Content-Type"] = "application/json"
      end
      for k, v in pairs(o.headers or {}) do headers[k] = v end
      return assert(http.request({ method = method, url = f.base .. path, headers = headers, body = body,
        ca_file = CA_FILE, timeout = 30 }))
    end

    function f.json(method, path, o)
      local r = f.req(method, path, o)
      return r, json.decode(r.body)
    end

    function f.stream(path, o)
      o = o or {}
      local headers = { ["Authorization"] = "Bearer " .. TOKEN, ["User-Agent"] = o.ua or "kubectl/v1.32.4" }
      for k, v in pairs(o.headers or {}) do headers[k] = v end
      return assert(http.stream({ url = f.base .. path, headers = headers, ca_file = CA_FILE, timeout = 60 }))
    end

    local ok, err = pcall(fn, f)
    srv:close()
    if not ok then error(err, 0) end
  end)
end

describe("fake-kube API", function()
  setup(function()
    local ca = assert(tls.new_ca({}))
    CERT = assert(tls.new_cert({ ca = ca, dns = { "localhost" }, ip = { "127.0.0.1" } }))
    CA_FILE = smop.tempfile(ca.cert, ".pem")
  end)

  teardown(function()
    os.remove(CA_FILE)
  end)

  describe("authentication", function()
    it("answers 401 Unauthorized without a bearer token, or with a wrong one", function()
      with_fake(function(f)
        local want = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
          .. '"message":"Unauthorized","reason":"Unauthorized","code":401}\n'
        for _, token in ipairs({ false, "nope" }) do
          for _, path in ipairs({ "/api", "/apis", TJ, "/openapi/v3" }) do
            local r = f.req("GET", path, { token = token })
            assert.are.equal(401, r.status)
            assert.are.equal("application/json", r.headers["content-type"])
            assert.are.equal(want, r.body)
          end
        end
      end)
    end)

    it("serves /version without a token (the kubectl dispatcher's preflight), indented, minor 32", function()
      with_fake(function(f)
        local r = f.req("GET", "/version?timeout=5s", { token = false, ua = "kubectl-dispatcher/v1.0",
          headers = { Accept = "application/json, */*", ["Cache-Control"] = "max-age=7200" } })
        assert.are.equal(200, r.status)
        local v = json.decode(r.body)
        assert.are.equal("1", v.major)
        assert.are.equal("32", v.minor)
        assert.matches('^{\n  "major": "1",\n  "minor": "32",\n', r.body)
        assert.are_not.equal("\n", r.body:sub(-1))
      end)
    end)
  end)

  describe("discovery", function()
    it("serves aggregated v2 /api and /apis with ETag, Vary and a 304 for a warm client", function()
      with_fake(function(f)
        local r, doc = f.json("GET", "/apis?timeout=32s", { headers = { Accept = DISCOVERY_ACCEPT } })
        assert.are.equal(200, r.status)
        assert.are.equal(V2, r.headers["content-type"])
        assert.are.equal("public", r.headers["cache-control"])
        assert.are.equal("Accept", r.headers["vary"])
        assert.matches('^"%x+"$', r.headers["etag"])
        assert.are.equal("APIGroupDiscoveryList", doc.kind)
        assert.are.equal("apidiscovery.k8s.io/v2", doc.apiVersion)
        local last = doc.items[#doc.items]
        assert.are.equal("sagemaker.aws.amazon.com", last.metadata.name)
        local v1 = last.versions[1]
        assert.are.equal("Current", v1.freshness)
        local res = v1.resources[1]
        assert.are.equal("trainingjobs", res.resource)
        assert.are.same({ group = "sagemaker.aws.amazon.com", version = "v1", kind = "TrainingJob" },
          res.responseKind)
        assert.are.equal("Namespaced", res.scope)
        assert.are.equal("trainingjob", res.singularResource)
        assert.are.same({ "delete", "deletecollection", "get", "list", "patch", "create", "update", "watch" },
          res.verbs)
        assert.are.equal("status", res.subresources[1].subresource)
        assert.are.same({ "get", "patch", "update" }, res.subresources[1].verbs)

        local again = f.req("GET", "/apis?timeout=32s", { headers = { Accept = DISCOVERY_ACCEPT,
          ["If-None-Match"] = r.headers["etag"] } })
        assert.are.equal(304, again.status)
        assert.are.equal("", again.body)

        local core, cdoc = f.json("GET", "/api", { headers = { Accept = DISCOVERY_ACCEPT } })
        assert.are.equal(200, core.status)
        assert.is_nil(cdoc.items[1].metadata.name)
        local names = {}
        for _, x in ipairs(cdoc.items[1].versions[1].resources) do names[x.resource] = x end
        assert.is_table(names.events)
        assert.are.same({ "cm" }, names.configmaps.shortNames)
        assert.are.same({ group = "", version = "", kind = "ConfigMap" }, names.configmaps.responseKind)
      end)
    end)

    it("serves the legacy documents to clients that only accept application/json", function()
      with_fake(function(f)
        local _, apis = f.json("GET", "/apis", { headers = { Accept = "application/json" } })
        assert.are.equal("APIGroupList", apis.kind)
        local found
        for _, g in ipairs(apis.groups) do
          if g.name == "sagemaker.aws.amazon.com" then found = g end
        end
        assert.are.same({ groupVersion = "sagemaker.aws.amazon.com/v1", version = "v1" },
          found.preferredVersion)
        local _, list = f.json("GET", GROUP_PATH, { headers = { Accept = "application/json" } })
        assert.are.equal("APIResourceList", list.kind)
        assert.are.equal("trainingjobs", list.resources[1].name)
        assert.are.equal("trainingjobs/status", list.resources[2].name)
        local _, api = f.json("GET", "/api")
        assert.are.same({ "v1" }, api.versions)
      end)
    end)
  end)

  describe("OpenAPI v3", function()
    it("indexes hashed documents and serves them immutable, with the CRD's schema", function()
      with_fake(function(f)
        local r, index = f.json("GET", "/openapi/v3?timeout=32s")
        assert.are.equal(200, r.status)
        assert.are.equal("text/plain; charset=utf-8", r.headers["content-type"])
        assert.is_string(r.headers["last-modified"])
        assert.is_nil(r.headers["etag"])
        local url = index.paths["apis/sagemaker.aws.amazon.com/v1"].serverRelativeURL
        local hash = url:match("^/openapi/v3/apis/sagemaker%.aws%.amazon%.com/v1%?hash=(%x+)$")
        assert.are.equal(128, #hash)
        assert.is_table(index.paths["api/v1"])

        local d, doc = f.json("GET", url .. "&timeout=32s", { headers = { Accept = "application/json" } })
        assert.are.equal(200, d.status)
        assert.are.equal("public, immutable", d.headers["cache-control"])
        assert.are.equal('"' .. hash .. '"', d.headers["etag"])
        assert.matches("UTC$", d.headers["expires"])
        local tj = doc.components.schemas["com.amazon.aws.sagemaker.v1.TrainingJob"]
        assert.are.same({ { group = "sagemaker.aws.amazon.com", kind = "TrainingJob", version = "v1" } },
          tj["x-kubernetes-group-version-kind"])
        assert.are.equal("Compute resources (ML instances and storage) for the training job.",
          tj.properties.spec.properties.resourceConfig.description)
        assert.is_table(doc.components.schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"])
        -- kubectl sends fieldValidation=Strict only if the patch operation lists it
        local item_path = "/apis/sagemaker.aws.amazon.com/v1/namespaces/{namespace}/trainingjobs/{name}"
        local patch = doc.paths[item_path].patch
        local names = {}
        for _, p in ipairs(patch.parameters) do names[p.name] = true end
        assert.is_true(names.fieldValidation)
        assert.is_nil(patch.requestBody.content["application/strategic-merge-patch+json"])

        local stale = f.req("GET", "/openapi/v3/apis/sagemaker.aws.amazon.com/v1?hash=0000")
        assert.are.equal(301, stale.status)
        assert.are.equal(url, stale.headers["location"])
        assert.are.equal(404, f.req("GET", "/openapi/v2?timeout=32s").status)
      end)
    end)
  end)

  describe("objects", function()
    it("creates, reads, and words a 404 exactly as the real server", function()
      with_fake(function(f)
        local miss = f.req("GET", TJ .. "/xgboost-mnist", { headers = { Accept = "application/json" } })
        assert.are.equal(404, miss.status)
        assert.are.equal('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
          .. '"trainingjobs.sagemaker.aws.amazon.com \\"xgboost-mnist\\" not found","reason":"NotFound",'
          .. '"details":{"name":"xgboost-mnist","group":"sagemaker.aws.amazon.com","kind":"trainingjobs"},'
          .. '"code":404}\n', miss.body)
        local r, obj = f.json("POST", TJ .. "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
          { json = job() })
        assert.are.equal(201, r.status)
        assert.are.equal("xgboost-mnist", obj.metadata.name)
        assert.are.equal(1, obj.metadata.generation)
        assert.matches("^%d+$", obj.metadata.resourceVersion)
        assert.are.equal("\n", r.body:sub(-1))
        assert.are_not.equal("\n", r.body:sub(-2, -2))
        local g, got = f.json("GET", TJ .. "/xgboost-mnist")
        assert.are.equal(200, g.status)
        assert.are.equal(obj.metadata.uid, got.metadata.uid)
      end)
    end)

    it("answers 422 Invalid with the schema's causes, byte for byte as the real server", function()
      with_fake(function(f)
        local obj = yaml.decode(slurp("spec/fixtures/kube/trainingjob-invalid.yaml"))
        local r = f.req("POST", TJ .. "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
          { json = obj })
        assert.are.equal(422, r.status)
        local bad_count = "spec.resourceConfig.instanceCount in body should be greater than or equal to 1"
        assert.are.equal('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
          .. '"TrainingJob.sagemaker.aws.amazon.com \\"xgboost-invalid\\" is invalid: '
          .. '[spec.resourceConfig.instanceCount: Invalid value: 0: ' .. bad_count
          .. ', spec.roleArn: Required value]","reason":"Invalid","details":{"name":'
          .. '"xgboost-invalid","group":"sagemaker.aws.amazon.com","kind":"TrainingJob","causes":[{"reason":'
          .. '"FieldValueInvalid","message":"Invalid value: 0: ' .. bad_count .. '",'
          .. '"field":"spec.resourceConfig.instanceCount"},{"reason":'
          .. '"FieldValueRequired","message":"Required value","field":"spec.roleArn"}]},"code":422}\n',
          r.body)
      end)
    end)

    it("answers 409 Conflict to a replace with a stale resourceVersion", function()
      with_fake(function(f)
        local _, obj = f.json("POST", TJ, { json = job() })
        local stale_rv = obj.metadata.resourceVersion
        local p = f.req("PATCH", TJ .. "/xgboost-mnist/status?fieldManager=kubectl-patch", {
          body = '{"status":{"trainingJobStatus":"InProgress"}}',
          headers = { ["Content-Type"] = "application/merge-patch+json" } })
        assert.are.equal(200, p.status)
        obj.metadata.resourceVersion = stale_rv
        obj.spec.resourceConfig.volumeSizeInGB = 10
        local r = f.req("PUT", TJ .. "/xgboost-mnist?fieldManager=kubectl-replace&fieldValidation=Strict",
          { json = obj })
        assert.are.equal(409, r.status)
        assert.are.equal('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
          .. '"Operation cannot be fulfilled on trainingjobs.sagemaker.aws.amazon.com \\"xgboost-mnist\\": '
          .. 'the object has been modified; please apply your changes to the latest version and try again",'
          .. '"reason":"Conflict","details":{"name":"xgboost-mnist","group":"sagemaker.aws.amazon.com",'
          .. '"kind":"trainingjobs"},"code":409}\n', r.body)
      end)
    end)

    it("lists as a Table with the printer columns, null cells and server-side ages", function()
      with_fake(function(f)
        f.json("POST", TJ, { json = job() })
        local r, t = f.json("GET", TJ .. "?limit=500", { headers = { Accept = TABLE_ACCEPT } })
        assert.are.equal(200, r.status)
        assert.are.equal("application/json", r.headers["content-type"])
        assert.are.equal("Table", t.kind)
        assert.are.equal("meta.k8s.io/v1", t.apiVersion)
        local names = {}
        for i, c in ipairs(t.columnDefinitions) do names[i] = c.name end
        assert.are.same({ "Name", "Status", "Secondary-Status", "Creation-Time", "Sagemaker-Job-Name" },
          names)
        assert.are.equal("name", t.columnDefinitions[1].format)
        assert.are.equal("Custom resource definition column (in JSONPath format): .status.trainingJobStatus",
          t.columnDefinitions[2].description)
        local cells = t.rows[1].cells
        assert.are.equal("xgboost-mnist", cells[1])
        assert.are.equal(json.null, cells[2])
        assert.matches("^%d+s$", cells[4])
        assert.are.equal(json.null, cells[5])
        assert.are.equal("PartialObjectMetadata", t.rows[1].object.kind)
        assert.is_nil(t.rows[1].object.spec)
        assert.matches('"cells":%["xgboost%-mnist",null,null,"%d+s",null%]', r.body)
      end)
    end)

    it("falls back to JSON when the client asks for protobuf first (describe's events list)", function()
      with_fake(function(f)
        local r, list = f.json("GET", "/api/v1/namespaces/default/events?fieldSelector="
          .. "involvedObject.name%3Dx&limit=500",
          { headers = { Accept = "application/vnd.kubernetes.protobuf,application/json" } })
        assert.are.equal(200, r.status)
        assert.are.equal("application/json", r.headers["content-type"])
        assert.are.equal("EventList", list.kind)
        local n = f.req("GET", TJ, { headers = { Accept = "application/vnd.kubernetes.protobuf" } })
        assert.are.equal(406, n.status)
      end)
    end)

    it("indents JSON for curl", function()
      with_fake(function(f)
        local r = f.req("GET", TJ .. "?resourceVersion=1&resourceVersionMatch=NotOlderThan",
          { ua = "curl/7.88.1" })
        assert.are.equal(200, r.status)
        assert.matches('^{\n  "apiVersion": "sagemaker.aws.amazon.com/v1",\n', r.body)
      end)
    end)
  end)

  describe("unknown fields", function()
    it("warns about them by default, and refuses them with fieldValidation=Strict", function()
      with_fake(function(f)
        local obj = job()
        obj.spec.bogus = 1
        local r, created = f.json("POST", TJ, { json = obj })
        assert.are.equal(201, r.status)
        assert.are.equal('299 - "unknown field \\"spec.bogus\\""', r.headers["warning"])
        assert.is_nil(created.spec.bogus)
        obj.metadata.name = "strict"
        local s, st = f.json("POST", TJ .. "?fieldValidation=Strict", { json = obj })
        assert.are.equal(400, s.status)
        assert.are.equal('TrainingJob in version "v1" cannot be handled as a TrainingJob: '
          .. 'strict decoding error: '
          .. 'unknown field "spec.bogus"', st.message)
      end)
    end)
  end)

  describe("bad input", function()
    it("refuses malformed bodies, wrong apiVersions, unknown groups and oversized requests; loses nothing",
      function()
      with_fake(function(f)
        f.json("POST", TJ, { json = job() })
        local bad = f.req("POST", TJ, { body = '{"apiVersion": ',
          headers = { ["Content-Type"] = "application/json" } })
        assert.are.equal(400, bad.status)
        local st = json.decode(bad.body)
        assert.are.equal("BadRequest", st.reason)
        assert.matches("^the object provided is unrecognized %(must be of type TrainingJob%)", st.message)

        local wrong = job("other")
        wrong.apiVersion = "sagemaker.aws.amazon.com/v2"
        local r, s2 = f.json("POST", TJ, { json = wrong })
        assert.are.equal(400, r.status)
        assert.are.equal("the API version in the data (sagemaker.aws.amazon.com/v2) does not match the "
          .. "expected API version (sagemaker.aws.amazon.com/v1)", s2.message)

        local nf = f.req("GET", "/apis/nope.example.com/v1/namespaces/default/things")
        assert.are.equal(404, nf.status)
        assert.are.equal("404 page not found\n", nf.body)

        local big = job("big")
        big.spec.blob = string.rep("x", 3 * 1024 * 1024)
        local tl, s3 = f.json("POST", TJ, { json = big })
        assert.are.equal(413, tl.status)
        assert.are.equal("RequestEntityTooLarge", s3.reason)

        local um = f.req("POST", TJ, { body = "x", headers = { ["Content-Type"] = "text/plain" } })
        assert.are.equal(415, um.status)

        local smp = f.req("PATCH", TJ .. "/xgboost-mnist", { body = "{}",
          headers = { ["Content-Type"] = "application/strategic-merge-patch+json" } })
        assert.are.equal(415, smp.status)

        -- YAML bodies, as curl users send them
        local y = f.req("POST", TJ, { body = yaml.encode(job("from-yaml")),
          headers = { ["Content-Type"] = "application/yaml" } })
        assert.are.equal(201, y.status)

        local _, list = f.json("GET", TJ)
        local names = {}
        for _, o in ipairs(list.items) do names[#names + 1] = o.metadata.name end
        table.sort(names)
        assert.are.same({ "from-yaml", "xgboost-mnist" }, names)
      end)
    end)
  end)

  describe("watch", function()
    local function read_event(s)
      local line = s:read_line()
      if not line then return nil end
      return json.decode(line), line
    end

    it("replays what came after a resourceVersion, streams live changes, bookmarks before the "
      .. "deadline", function()
      with_fake(function(f)
        local _, obj = f.json("POST", TJ, { json = job() })
        local from = obj.metadata.resourceVersion
        f.req("PATCH", TJ .. "/xgboost-mnist/status", { body = '{"status":{"additional":"replayed"}}',
          headers = { ["Content-Type"] = "application/merge-patch+json" } })
        local s = f.stream(TJ .. "?watch=1&allowWatchBookmarks=true&resourceVersion=" .. from
          .. "&timeoutSeconds=3",
          { ua = "curl/7.88.1" })
        assert.are.equal(200, s.status)
        local ev, line = read_event(s)
        assert.are.equal("MODIFIED", ev.type)
        assert.are.equal("replayed", ev.object.status.additional)
        assert.matches('^{"type":"MODIFIED","object":{"apiVersion":', line) -- compact, even for curl
        task.spawn(function()
          f.req("PATCH", TJ .. "/xgboost-mnist/status", { body = '{"status":{"additional":"live"}}',
            headers = { ["Content-Type"] = "application/merge-patch+json" } })
        end)
        ev = read_event(s)
        assert.are.equal("live", ev.object.status.additional)
        local live_rv = ev.object.metadata.resourceVersion
        ev = read_event(s)
        assert.are.equal("BOOKMARK", ev.type)
        assert.are.equal("sagemaker.aws.amazon.com/v1", ev.object.apiVersion)
        assert.are.equal("TrainingJob", ev.object.kind)
        -- the cluster-wide version the watch is current to: the live event's or later
        assert.is_true(tonumber(ev.object.metadata.resourceVersion) >= tonumber(live_rv))
        assert.is_nil(ev.object.spec)
        assert.is_nil(s:read_line()) -- the stream ends at the deadline
        s:close()
      end)
    end)

    it("bookmarks a quiet long watch periodically", function()
      local watch = require("fake.kube.watch")
      local every = watch.BOOKMARK_EVERY
      watch.BOOKMARK_EVERY = 0.3
      local ok, err = pcall(with_fake, function(f)
        local _, obj = f.json("POST", TJ, { json = job() })
        local s = f.stream(TJ .. "?watch=1&allowWatchBookmarks=true&timeoutSeconds=60&resourceVersion="
          .. obj.metadata.resourceVersion)
        for _ = 1, 2 do
          local ev = read_event(s)
          assert.are.equal("BOOKMARK", ev.type)
          local rv = tonumber(ev.object.metadata.resourceVersion)
          assert.is_true(rv >= tonumber(obj.metadata.resourceVersion))
        end
        s:close()
      end)
      watch.BOOKMARK_EVERY = every
      assert(ok, err)
    end)

    it("sends a 410 Expired ERROR event in a 200 stream for a too old resourceVersion", function()
      with_fake(function(f)
        f.json("POST", TJ, { json = job() })
        local s = f.stream(TJ .. "?watch=1&resourceVersion=1&timeoutSeconds=3")
        assert.are.equal(200, s.status)
        local ev = read_event(s)
        assert.are.equal("ERROR", ev.type)
        assert.are.equal("Status", ev.object.kind)
        assert.are.equal(410, ev.object.code)
        assert.are.equal("Expired", ev.object.reason)
        assert.matches("^too old resource version: 1 %(", ev.object.message)
        assert.is_nil(s:read_line())
        s:close()
      end)
    end)

    it("streams one-row Tables for kubectl get -w, columnDefinitions on the first event only", function()
      with_fake(function(f)
        f.json("POST", TJ, { json = job() })
        local r, t = f.json("GET", TJ .. "?limit=500", { headers = { Accept = TABLE_ACCEPT } })
        assert.are.equal(200, r.status)
        local s = f.stream(TJ .. "?resourceVersion=" .. t.metadata.resourceVersion .. "&watch=true",
          { headers = { Accept = TABLE_ACCEPT } })
        for _, st in ipairs({ "Downloading", "Training" }) do
          f.req("PATCH", TJ .. "/xgboost-mnist/status",
            { body = '{"status":{"secondaryStatus":"' .. st .. '"}}',
            headers = { ["Content-Type"] = "application/merge-patch+json" } })
        end
        local e1, e2 = read_event(s), read_event(s)
        assert.are.equal("Table", e1.object.kind)
        assert.are.equal(5, #e1.object.columnDefinitions)
        assert.are.equal("Downloading", e1.object.rows[1].cells[3])
        assert.are.equal(json.null, e2.object.columnDefinitions)
        assert.are.equal("Training", e2.object.rows[1].cells[3])
        s:close()
      end)
    end)
  end)

  describe("control endpoint", function()
    it("fails the next N writes with 409, 500 or 429 (Retry-After), then lets them through", function()
      with_fake(function(f)
        local c = f.req("POST", "/_smop/faults",
          { token = false, json = { count = 2, code = 429, retryAfter = 3 } })
        assert.are.equal(200, c.status)
        for _ = 1, 2 do
          local r, st = f.json("POST", TJ, { json = job() })
          assert.are.equal(429, r.status)
          assert.are.equal("3", r.headers["retry-after"])
          assert.are.equal("TooManyRequests", st.reason)
          assert.are.equal(3, st.details.retryAfterSeconds)
        end
        assert.are.equal(201, f.req("POST", TJ, { json = job() }).status)
        -- without verbs, reads are not failed
        f.req("POST", "/_smop/faults?count=1&code=409", { token = false })
        assert.are.equal(200, f.req("GET", TJ .. "/xgboost-mnist").status)
        local r409, s409 = f.json("PATCH", TJ .. "/xgboost-mnist", { body = "{}",
          headers = { ["Content-Type"] = "application/merge-patch+json" } })
        assert.are.equal(409, r409.status)
        assert.are.equal("Conflict", s409.reason)
        f.req("POST", "/_smop/faults", { token = false, json = { code = 500 } })
        local r500, s500 = f.json("DELETE", TJ .. "/xgboost-mnist")
        assert.are.equal(500, r500.status)
        assert.are.equal("InternalError", s500.reason)
        assert.are.equal(200, f.req("GET", TJ .. "/xgboost-mnist").status)
        local _, faults = f.json("GET", "/_smop/faults", { token = false })
        assert.are.same({}, faults.faults)
      end)
    end)

    it("fails reads only when verbs names them: 403 as RBAC words it, until removed", function()
      with_fake(function(f)
        f.json("POST", TJ, { json = job() })
        local _, added = f.json("POST", "/_smop/faults", { token = false, json = { count = 1000000,
          code = 403, verbs = { "list", "watch" }, resource = "trainingjobs",
          user = "system:serviceaccount:ns:sa" } })
        assert.are.same({ "list", "watch" }, added.fault.verbs)
        local denied = 'is forbidden: User \\"system:serviceaccount:ns:sa\\" cannot %s resource '
          .. '\\"trainingjobs\\" in API group \\"sagemaker.aws.amazon.com\\" %s'
        local l = f.req("GET", GROUP_PATH .. "/trainingjobs?limit=500")
        assert.are.equal(403, l.status)
        assert.are.equal('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
          .. '"trainingjobs.sagemaker.aws.amazon.com ' .. denied:format("list", "at the cluster scope")
          .. '","reason":"Forbidden","details":{"group":"sagemaker.aws.amazon.com","kind":"trainingjobs"},'
          .. '"code":403}\n', l.body)
        local w, ws = f.json("GET", TJ .. "?watch=1&resourceVersion=0")
        assert.are.equal(403, w.status)
        assert.are.equal("trainingjobs.sagemaker.aws.amazon.com "
          .. denied:format("watch", 'in the namespace \\"default\\"'):gsub("\\", ""), ws.message)
        -- get is not named, writes are not either (verbs replace the write-only default)
        assert.are.equal(200, f.req("GET", TJ .. "/xgboost-mnist").status)
        assert.are.equal(200, f.req("PATCH", TJ .. "/xgboost-mnist", { body = "{}",
          headers = { ["Content-Type"] = "application/merge-patch+json" } }).status)
        local _, faults = f.json("GET", "/_smop/faults", { token = false })
        assert.are.equal(2, faults.faults[1].hits)
        assert.are.equal(1000000 - 2, faults.faults[1].remaining)
        assert.are.equal(200, f.req("DELETE", "/_smop/faults", { token = false }).status)
        assert.are.equal(200, f.req("GET", TJ).status)
      end)
    end)

    it("answers 401 and 404 faults as kube-apiserver does, and 403 on a write without verbs", function()
      with_fake(function(f)
        f.json("POST", TJ, { json = job() })
        f.req("POST", "/_smop/faults", { token = false, json = { code = 401, verbs = { "get" } } })
        local u = f.req("GET", TJ .. "/xgboost-mnist")
        assert.are.equal(401, u.status)
        assert.are.equal('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
          .. '"message":"Unauthorized","reason":"Unauthorized","code":401}\n', u.body)
        assert.are.equal(200, f.req("GET", TJ .. "/xgboost-mnist").status)

        f.req("POST", "/_smop/faults", { token = false,
          json = { code = 404, count = 2, verbs = "get,list" } })
        local g, gs = f.json("GET", TJ .. "/xgboost-mnist")
        assert.are.equal(404, g.status)
        assert.are.equal('trainingjobs.sagemaker.aws.amazon.com "xgboost-mnist" not found', gs.message)
        local l = f.req("GET", TJ)
        assert.are.equal(404, l.status)
        assert.are.equal("404 page not found\n", l.body)

        -- no verbs: writes only; a create's Forbidden names no object (its URL does not)
        f.req("POST", "/_smop/faults", { token = false, json = { code = 403 } })
        assert.are.equal(200, f.req("GET", TJ).status)
        local c, cs = f.json("POST", TJ, { json = job("second") })
        assert.are.equal(403, c.status)
        assert.are.equal('trainingjobs.sagemaker.aws.amazon.com is forbidden: User '
          .. '"system:serviceaccount:default:default" cannot create resource "trainingjobs" in API group '
          .. '"sagemaker.aws.amazon.com" in the namespace "default"', cs.message)
        assert.are.same({ group = "sagemaker.aws.amazon.com", kind = "trainingjobs" }, cs.details)

        local bad, bs = f.json("POST", "/_smop/faults", { token = false, json = { verbs = { "proxy" } } })
        assert.are.equal(400, bad.status)
        assert.is_truthy(bs.error:find("get, list, watch", 1, true), bs.error)
        assert.are.equal(400, f.req("POST", "/_smop/faults?code=402", { token = false }).status)
      end)
    end)

    it("ends every open watch, and expires the next one", function()
      with_fake(function(f)
        f.json("POST", TJ, { json = job() })
        local s = f.stream(TJ .. "?watch=true&resourceVersion=0")
        local first = json.decode(s:read_line())
        assert.are.equal("ADDED", first.type)
        local _, dropped = f.json("POST", "/_smop/watches/drop", { token = false })
        assert.are.equal(1, dropped.dropped)
        assert.is_nil(s:read_line())
        s:close()

        local e = f.req("POST", "/_smop/watches/expire-next", { token = false })
        assert.are.equal(200, e.status)
        local s2 = f.stream(TJ .. "?watch=true&resourceVersion=" .. first.object.metadata.resourceVersion)
        local ev = json.decode(s2:read_line())
        assert.are.equal("ERROR", ev.type)
        assert.are.equal(410, ev.object.code)
        s2:close()
      end)
    end)

    it("compacts: watches from before it get 410, later ones work", function()
      with_fake(function(f)
        local _, obj = f.json("POST", TJ, { json = job() })
        local before = obj.metadata.resourceVersion
        f.req("PATCH", TJ .. "/xgboost-mnist/status", { body = '{"status":{"additional":"x"}}',
          headers = { ["Content-Type"] = "application/merge-patch+json" } })
        local c, compacted = f.json("POST", "/_smop/compact", { token = false })
        assert.are.equal(200, c.status)
        local s = f.stream(TJ .. "?watch=1&timeoutSeconds=5&resourceVersion=" .. before)
        local ev = json.decode(s:read_line())
        assert.are.equal("ERROR", ev.type)
        assert.are.equal("Expired", ev.object.reason)
        s:close()
        local l = f.req("GET", TJ .. "?resourceVersion=" .. before .. "&resourceVersionMatch=Exact")
        assert.are.equal(410, l.status)
        assert.are.equal('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
          .. '"The resourceVersion for the provided list is too old.","reason":"Expired","code":410}\n',
          l.body)
        local ok = f.req("GET", TJ .. "?resourceVersion=" .. compacted.resourceVersion
          .. "&resourceVersionMatch=Exact")
        assert.are.equal(200, ok.status)
      end)
    end)

    it("records a latency for every API request", function()
      with_fake(function(f)
        local _, l = f.json("POST", "/_smop/latency", { token = false, json = { seconds = 0.05 } })
        assert.are.equal(0.05, l.seconds)
        assert.are.equal(200, f.req("GET", TJ).status)
        local _, state = f.json("GET", "/_smop/state", { token = false })
        assert.are.equal(0.05, state.latency)
        local bad = f.req("POST", "/_smop/latency?seconds=-1", { token = false })
        assert.are.equal(400, bad.status)
      end)
    end)
  end)
end)

describe("smop fake-kube command", function()
  local fake_kube = require("spec.support.fake_kube")
  -- a fake that wrongly started serving must not hang the spec
  local BOUNDED = { env = "timeout 20 " }

  it("refuses to listen beyond loopback, and unknown arguments", function()
    local _, err, code = smop.run({ "fake-kube", "--listen", "0.0.0.0:6443" }, BOUNDED)
    assert.are.equal(2, code)
    assert.matches("loopback only", err)
    _, err, code = smop.run({ "fake-kube", "--frobnicate" }, BOUNDED)
    assert.are.equal(2, code)
    assert.matches("unknown argument %-%-frobnicate", err)
  end)

  it("fails at start, naming the file, for CRDs that do not load", function()
    local _, err, code = smop.run({ "fake-kube", "--crds", "/nonexistent/crds" }, BOUNDED)
    assert.are.equal(1, code)
    assert.matches("/nonexistent/crds", err)
    local bad = smop.tempfile("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
      .. "metadata:\n  name: wrong\nspec:\n  group: x\n", ".yaml")
    _, err, code = smop.run({ "fake-kube", "--crds", bad }, BOUNDED)
    os.remove(bad)
    assert.are.equal(1, code)
    assert.matches(bad, err, 1, true)
    assert.matches("is invalid", err)
  end)

  it("writes a JSON kubeconfig when asked, serves, and exits 0 on SIGTERM", function()
    local fk = fake_kube.start({ kubeconfig_name = "kubeconfig.json" })
    local cfg = json.decode(fake_kube.slurp(fk.kubeconfig))
    assert.are.equal("smop-fake-kube", cfg["current-context"])
    assert.are.equal(fk.url, cfg.clusters[1].cluster.server)
    assert.matches("^%x+$", cfg.users[1].user.token)
    -- it holds the token: only its owner may read it
    local p = assert(io.popen("stat -c %a " .. fk.kubeconfig))
    assert.are.equal("600", p:read("l"))
    p:close()
    local out = fk.curl("/version")
    assert.matches('"minor": "32"', out)
    out = fk.curl("/api/v1/namespaces/default", nil, { no_token = true })
    assert.matches('"code": 401', out)
    out = fk.curl("/api/v1/namespaces/default")
    assert.matches('"name": "default"', out)
    assert.are.equal(0, fk.stop())
    assert.matches("fake%-kube stopping", fk.stderr)
  end)
end)
