-- fake.kube.store (with builtin.lua): the object semantics of kube-apiserver
-- 1.32 without HTTP. Expected values come from the kube-wire recordings
-- where one shows them.
-- luacheck: no max line length (expected messages are quoted whole, as the apiserver writes them)
local json = require("smop.json")
local yaml = require("smop.yaml")
local task = require("smop.task")
local store_mod = require("fake.kube.store")
local builtin = require("fake.kube.builtin")
local value = require("fake.kube.value")

local function J(s) return json.decode(s) end
local function enc(v) return json.encode(v, { sorted = true }) end

local function read(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("a")
  f:close()
  return s
end

local function fixture(name) return yaml.decode(read("spec/fixtures/kube/" .. name)) end

-- A store as the recordings' server was: the CRD applied, a clock we move.
local function setup(opts)
  opts = opts or {}
  local clock = { t = 1795435670 } -- 2026-11-23T12:07:50Z
  local st = store_mod.new({ clock = function() return clock.t end, resource_version = 190,
    max_events = opts.max_events, event_ttl = opts.event_ttl })
  builtin.install(st, { establish_delay = 0 })
  local crd_kd = st:kind_for("apiextensions.k8s.io", "v1", "customresourcedefinitions")
  assert(builtin.load_crd(st, fixture("crd-trainingjobs.yaml"), { field_manager = "kubectl-client-side-apply" }))
  local env = {
    store = st, clock = clock, crd = crd_kd,
    tj = st:kind_for("sagemaker.aws.amazon.com", "v1", "trainingjobs"),
    cm = st:kind_for("", "v1", "configmaps"),
    secret = st:kind_for("", "v1", "secrets"),
    ns = st:kind_for("", "v1", "namespaces"),
    event = st:kind_for("", "v1", "events"),
    events_v1 = st:kind_for("events.k8s.io", "v1", "events"),
    lease = st:kind_for("coordination.k8s.io", "v1", "leases"),
  }
  return env
end

local function run(fn) return task.run(fn) end

local function cm(name, labels, data)
  return { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, labels = labels }, data = data or { k = "v" } }
end

-- kubectl apply's create: the last-applied annotation as kubectl writes it.
local function applied(obj)
  local copy = value.copy(obj)
  copy.metadata.annotations = { ["kubectl.kubernetes.io/last-applied-configuration"] = "{}\n" }
  return copy
end

describe("fake.kube.store: the kube-wire TrainingJob lifecycle", function()
  it("creates, patches, patches status, adds a finalizer, deletes and finalizes as recorded", function()
    run(function()
      local env = setup()
      local st, tj, clock = env.store, env.tj, env.clock
      assert.is_not_nil(tj, "the CRD registered its kind")
      -- 02: kubectl apply (create)
      clock.t = 1795435673 -- 12:07:53
      local obj, warnings = st:create(tj, "default", applied(fixture("trainingjob-xgboost-mnist.yaml")),
        { field_manager = "kubectl-client-side-apply", field_validation = "Strict" })
      assert.is_table(obj, warnings)
      assert.are.same({}, warnings)
      local meta = obj.metadata
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", meta.uid)
      assert.are.equal("2026-11-23T12:07:53Z", meta.creationTimestamp)
      assert.are.equal(1, meta.generation)
      assert.are.equal("sagemaker.aws.amazon.com/v1", obj.apiVersion)
      local apply_fields = '{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},'
        .. '"f:spec":{".":{},"f:hyperParameters":{},"f:region":{},"f:resourceConfig":{".":{},"f:instanceCount":{},'
        .. '"f:instanceType":{},"f:volumeSizeInGB":{}},"f:roleArn":{}}}'
      assert.are.equal(1, #meta.managedFields)
      assert.are.equal(enc(J(apply_fields)), enc(meta.managedFields[1].fieldsV1))
      assert.are.equal(enc(J([[{"apiVersion":"sagemaker.aws.amazon.com/v1","fieldsType":"FieldsV1",
        "manager":"kubectl-client-side-apply","operation":"Update","time":"2026-11-23T12:07:53Z"}]])),
        enc({ apiVersion = meta.managedFields[1].apiVersion, fieldsType = meta.managedFields[1].fieldsType,
              manager = meta.managedFields[1].manager, operation = meta.managedFields[1].operation,
              time = meta.managedFields[1].time }))
      local created_rv = tonumber(meta.resourceVersion)

      -- 03: kubectl apply (changed spec) -> merge patch, generation 2
      clock.t = 1795435675
      obj = st:patch(tj, "default", "xgboost-mnist", "application/merge-patch+json",
        '{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\\n"}},'
        .. '"spec":{"hyperParameters":[{"name":"max_depth","value":"5"},{"name":"eta","value":"0.2"},'
        .. '{"name":"objective","value":"multi:softmax"},{"name":"num_class","value":"10"},'
        .. '{"name":"num_round","value":"20"}],"resourceConfig":{"instanceCount":2}}}',
        { field_manager = "kubectl-client-side-apply", field_validation = "Strict" })
      assert.are.equal(2, obj.metadata.generation)
      assert.are.equal(created_rv + 1, tonumber(obj.metadata.resourceVersion))
      assert.are.equal("2026-11-23T12:07:55Z", obj.metadata.managedFields[1].time)
      assert.are.equal(enc(J(apply_fields)), enc(obj.metadata.managedFields[1].fieldsV1))

      -- 04: the same apply again is no write at all
      local same = st:patch(tj, "default", "xgboost-mnist", "merge", '{"spec":{"resourceConfig":{"instanceCount":2}}}',
        { field_manager = "kubectl-client-side-apply" })
      assert.are.equal(obj.metadata.resourceVersion, same.metadata.resourceVersion)

      -- 10: kubectl patch --subresource=status: generation unchanged
      clock.t = 1795435684 -- 12:08:04
      obj = st:patch(tj, "default", "xgboost-mnist", "merge",
        '{"status":{"trainingJobStatus":"InProgress","secondaryStatus":"Starting",'
        .. '"sageMakerTrainingJobName":"xgboost-mnist-8c0f4b2a6d1e11ef","lastCheckTime":"2026-11-23T12:08:04Z"}}',
        { subresource = "status", field_manager = "kubectl-patch" })
      assert.are.equal(2, obj.metadata.generation)
      assert.are.equal(2, #obj.metadata.managedFields)
      local status_entry = obj.metadata.managedFields[2]
      assert.are.equal(enc(J([[{"apiVersion":"sagemaker.aws.amazon.com/v1","fieldsType":"FieldsV1",
        "fieldsV1":{"f:status":{".":{},"f:lastCheckTime":{},"f:sageMakerTrainingJobName":{},"f:secondaryStatus":{},
        "f:trainingJobStatus":{}}},"manager":"kubectl-patch","operation":"Update","subresource":"status",
        "time":"2026-11-23T12:08:04Z"}]])), enc(status_entry))

      -- 13: a second status write by the same manager: its fields are the union
      clock.t = 1795435696
      obj = st:patch(tj, "default", "xgboost-mnist", "merge", '{"status":{"additional":"training started"}}',
        { subresource = "status", field_manager = "kubectl-patch" })
      assert.are.equal(enc(J([[{"f:status":{".":{},"f:additional":{},"f:lastCheckTime":{},
        "f:sageMakerTrainingJobName":{},"f:secondaryStatus":{},"f:trainingJobStatus":{}}}]])),
        enc(obj.metadata.managedFields[2].fieldsV1))
      assert.are.equal("2026-11-23T12:08:16Z", obj.metadata.managedFields[2].time)

      -- 19: the unqualified finalizer is added with a warning
      clock.t = 1795435719 -- 12:08:39
      obj, warnings = st:patch(tj, "default", "xgboost-mnist", "merge",
        '{"metadata":{"finalizers":["sagemaker-operator-finalizer"]}}', { field_manager = "kubectl-patch" })
      assert.are.same({ 'metadata.finalizers: "sagemaker-operator-finalizer": prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers' },
        warnings)
      assert.are.equal(2, obj.metadata.generation)
      assert.are.equal(3, #obj.metadata.managedFields)
      assert.are.equal(enc(J([[{"f:metadata":{"f:finalizers":{".":{},"v:\"sagemaker-operator-finalizer\"":{}}}}]])),
        enc(obj.metadata.managedFields[3].fieldsV1))
      assert.is_nil(obj.metadata.managedFields[3].subresource)
      local before_delete = obj.metadata.resourceVersion

      -- kubectl delete: 200 with the object, deletionTimestamp, grace 0, generation 3
      local deleted = st:delete(tj, "default", "xgboost-mnist", { propagation_policy = "Background" })
      assert.are.equal("TrainingJob", deleted.kind)
      assert.are.equal("2026-11-23T12:08:39Z", deleted.metadata.deletionTimestamp)
      assert.are.equal(0, deleted.metadata.deletionGracePeriodSeconds)
      assert.are.equal(3, deleted.metadata.generation)
      assert.are.equal(tonumber(before_delete) + 1, tonumber(deleted.metadata.resourceVersion))
      assert.are.equal(3, #deleted.metadata.managedFields, "a delete adds no managedFields entry")
      local got = st:get(tj, "default", "xgboost-mnist")
      assert.are.equal(deleted.metadata.resourceVersion, got.metadata.resourceVersion)

      -- removing the finalizer: 200 with the object at the same resourceVersion, then 404
      local w = assert(st:watch(tj, "default", { resource_version = deleted.metadata.resourceVersion }))
      obj = st:patch(tj, "default", "xgboost-mnist", "merge", '{"metadata":{"finalizers":null}}',
        { field_manager = "kubectl-patch" })
      assert.is_nil(obj.metadata.finalizers)
      assert.are.equal(deleted.metadata.resourceVersion, obj.metadata.resourceVersion)
      assert.are.equal(2, #obj.metadata.managedFields, "kubectl-patch's emptied entry is gone")
      local none, err = st:get(tj, "default", "xgboost-mnist")
      assert.is_nil(none)
      assert.are.equal(enc(J([[{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"trainingjobs.sagemaker.aws.amazon.com \"xgboost-mnist\" not found","reason":"NotFound",
        "details":{"name":"xgboost-mnist","group":"sagemaker.aws.amazon.com","kind":"trainingjobs"},"code":404}]])),
        enc(err))
      -- watchers see the object go as it was last stored, at a new version
      local ev = assert(w:next(1))
      assert.are.equal("DELETED", ev.type)
      assert.are.equal(tonumber(deleted.metadata.resourceVersion) + 1, tonumber(ev.object.metadata.resourceVersion))
      assert.are.same({ "sagemaker-operator-finalizer" }, ev.object.metadata.finalizers)
    end)
  end)
end)

describe("fake.kube.store create and get", function()
  it("answers AlreadyExists and NotFound with the apiserver's Status", function()
    run(function()
      local env = setup()
      local st, tj = env.store, env.tj
      assert(st:create(tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local none, err = st:create(tj, "default", fixture("trainingjob-xgboost-mnist.yaml"))
      assert.is_nil(none)
      assert.are.equal(enc(J([[{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"trainingjobs.sagemaker.aws.amazon.com \"xgboost-mnist\" already exists","reason":"AlreadyExists",
        "details":{"name":"xgboost-mnist","group":"sagemaker.aws.amazon.com","kind":"trainingjobs"},"code":409}]])),
        enc(err))
      none, err = st:get(env.cm, "default", "nope")
      assert.is_nil(none)
      assert.are.equal('configmaps "nope" not found', err.message)
      assert.are.same({ name = "nope", kind = "configmaps" }, err.details)
    end)
  end)

  it("validates a custom resource (kube-wire 11) before looking for a duplicate", function()
    run(function()
      local env = setup()
      local none, err = env.store:create(env.tj, "default", fixture("trainingjob-invalid.yaml"),
        { field_manager = "kubectl-client-side-apply", field_validation = "Strict" })
      assert.is_nil(none)
      assert.are.equal(422, err.code)
      assert.are.equal('TrainingJob.sagemaker.aws.amazon.com "xgboost-invalid" is invalid: [spec.resourceConfig.instanceCount: Invalid value: 0: spec.resourceConfig.instanceCount in body should be greater than or equal to 1, spec.roleArn: Required value]',
        err.message)
      local bad = fixture("trainingjob-xgboost-mnist.yaml")
      bad.metadata.name = "Bad_Name"
      none, err = env.store:create(env.tj, "default", bad)
      assert.is_nil(none)
      assert.are.equal("metadata.name", err.details.causes[1].field)
      assert.matches("a lowercase RFC 1123 subdomain must consist of", err.message, 1, true)
    end)
  end)

  it("refuses unknown fields with Strict, warns about them otherwise, and prunes them", function()
    run(function()
      local env = setup()
      local obj = fixture("trainingjob-xgboost-mnist.yaml")
      obj.spec.wrongParam = "x"
      local none, err = env.store:create(env.tj, "default", obj, { field_validation = "Strict" })
      assert.is_nil(none)
      assert.are.equal(400, err.code)
      assert.are.equal('TrainingJob in version "v1" cannot be handled as a TrainingJob: strict decoding error: unknown field "spec.wrongParam"',
        err.message)
      local created, warnings = env.store:create(env.tj, "default", obj)
      assert.are.same({ 'unknown field "spec.wrongParam"' }, warnings)
      assert.is_nil(created.spec.wrongParam)
      local _, w2 = env.store:create(env.cm, "default", { metadata = { name = "c" }, extra = 1 }, { field_validation = "Ignore" })
      assert.are.same({}, w2)
    end)
  end)

  it("fills apiVersion and kind, refuses another version, resourceVersion and a namespace mismatch", function()
    run(function()
      local env = setup()
      local st = env.store
      local obj = assert(st:create(env.cm, "default", { metadata = { name = "a" } }))
      assert.are.equal("v1", obj.apiVersion)
      assert.are.equal("ConfigMap", obj.kind)
      local _, err = st:create(env.cm, "default", { apiVersion = "v2", kind = "ConfigMap", metadata = { name = "b" } })
      assert.are.equal("the API version in the data (v2) does not match the expected API version (v1)", err.message)
      _, err = st:create(env.cm, "default", { metadata = { name = "b", resourceVersion = "5" } })
      assert.are.equal("resourceVersion should not be set on objects to be created", err.message)
      _, err = st:create(env.cm, "default", { metadata = { name = "b", namespace = "kube-system" } })
      assert.are.equal("the namespace of the provided object does not match the namespace sent on the request", err.message)
      local tjbad = fixture("trainingjob-xgboost-mnist.yaml")
      tjbad.kind = "Other"
      _, err = st:create(env.tj, "default", tjbad)
      assert.are.equal('TrainingJob.sagemaker.aws.amazon.com "xgboost-mnist" is invalid: kind: Invalid value: "Other": must be TrainingJob',
        err.message)
    end)
  end)

  it("generates names, drops status on create and answers a dry run without storing", function()
    run(function()
      local env = setup()
      local st = env.store
      local obj = fixture("trainingjob-xgboost-mnist.yaml")
      obj.metadata.name = nil
      obj.metadata.generateName = "xgb-"
      obj.status = { trainingJobStatus = "Completed" }
      local made = assert(st:create(env.tj, "default", obj))
      assert.matches("^xgb%-[bcdfghjklmnpqrstvwxz2456789]+$", made.metadata.name)
      assert.are.equal(9, #made.metadata.name)
      assert.is_nil(made.status)
      local rv = st:resource_version()
      local dry = assert(st:create(env.cm, "default", cm("dry"), { dry_run = true }))
      assert.is_string(dry.metadata.uid)
      assert.are.equal(rv, st:resource_version())
      assert.is_nil(st:get(env.cm, "default", "dry"))
    end)
  end)

  it("keeps namespaces: missing is 404, terminating is 403", function()
    run(function()
      local env = setup()
      local st = env.store
      local _, err = st:create(env.cm, "nowhere", cm("a"))
      assert.are.equal(404, err.code)
      assert.are.equal('namespaces "nowhere" not found', err.message)
      assert(st:create(env.ns, nil, { metadata = { name = "team" } }))
      assert(st:create(env.cm, "team", cm("a")))
      local gone = assert(st:delete(env.ns, nil, "team"))
      assert.are.equal("Terminating", gone.status.phase)
      _, err = st:create(env.cm, "team", cm("b"))
      assert.are.equal(403, err.code)
      assert.are.equal('configmaps "b" is forbidden: unable to create new content in namespace team because it is being terminated', err.message)
      assert.are.equal("NamespaceTerminating", err.details.causes[1].reason)
      assert.is_true(st:settle())
      assert.is_nil(st:get(env.cm, "team", "a"))
      assert.is_nil(st:get(env.ns, nil, "team"))
    end)
  end)
end)

describe("fake.kube.store resourceVersion, update and conflicts", function()
  it("counts one resourceVersion over every kind, status writes included", function()
    run(function()
      local env = setup()
      local st = env.store
      local rvs = {}
      local function note(obj) rvs[#rvs + 1] = tonumber(obj.metadata.resourceVersion) end
      note(assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml"))))
      note(assert(st:create(env.event, "default", fixture("event-xgboost-mnist.yaml"))))
      note(assert(st:create(env.lease, "default", fixture("lease-0.yaml"))))
      note(assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"status":{"additional":"x"}}', { subresource = "status" })))
      note(assert(st:create(env.cm, "default", cm("c"))))
      for i = 2, #rvs do assert.are.equal(rvs[i - 1] + 1, rvs[i]) end
      assert.are.equal(tostring(rvs[#rvs]), st:resource_version())
    end)
  end)

  it("answers a stale PUT with the recorded 409 (kube-wire 15)", function()
    run(function()
      local env = setup()
      local st = env.store
      local obj = assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"spec":{"region":"eu-west-1"}}'))
      local stale = fixture("stale-xgboost-mnist.yaml")
      stale.metadata.uid = obj.metadata.uid
      stale.metadata.resourceVersion = obj.metadata.resourceVersion
      local none, err = st:update(env.tj, "default", "xgboost-mnist", stale,
        { field_manager = "kubectl-replace", field_validation = "Strict" })
      assert.is_nil(none)
      assert.are.equal(enc(J([[{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"Operation cannot be fulfilled on trainingjobs.sagemaker.aws.amazon.com \"xgboost-mnist\": the object has been modified; please apply your changes to the latest version and try again",
        "reason":"Conflict","details":{"name":"xgboost-mnist","group":"sagemaker.aws.amazon.com","kind":"trainingjobs"},"code":409}]])),
        enc(err))
      -- a patch carrying a stale resourceVersion is a conflict too
      none, err = st:patch(env.tj, "default", "xgboost-mnist", "merge",
        '{"metadata":{"resourceVersion":"' .. obj.metadata.resourceVersion .. '"},"spec":{"region":"x"}}')
      assert.is_nil(none)
      assert.are.equal(409, err.code)
    end)
  end)

  it("needs a resourceVersion to PUT a custom resource but not a ConfigMap", function()
    run(function()
      local env = setup()
      local st = env.store
      assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local _, err = st:update(env.tj, "default", "xgboost-mnist", fixture("trainingjob-xgboost-mnist-changed.yaml"))
      assert.are.equal(422, err.code)
      assert.are.equal('trainingjobs.sagemaker.aws.amazon.com "xgboost-mnist" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
        err.message)
      assert(st:create(env.cm, "default", cm("c")))
      local upd = assert(st:update(env.cm, "default", "c", cm("c", nil, { k = "w" })))
      assert.are.equal("w", upd.data.k)
      _, err = st:update(env.cm, "default", "other", cm("c"))
      assert.are.equal("the name of the object (c) does not match the name on the URL (other)", err.message)
      _, err = st:update(env.cm, "default", "missing", cm("missing"))
      assert.are.equal(404, err.code)
      -- Events may be created by PUT
      local evobj = fixture("event-xgboost-mnist.yaml")
      assert(st:update(env.event, "default", evobj.metadata.name, evobj))
    end)
  end)

  it("bumps generation on spec changes only, keeps server fields, refuses changing the uid", function()
    run(function()
      local env = setup()
      local st = env.store
      local obj = assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local labeled = assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"metadata":{"labels":{"a":"b"}}}'))
      assert.are.equal(1, labeled.metadata.generation)
      local put = fixture("trainingjob-xgboost-mnist-changed.yaml")
      put.metadata.resourceVersion = labeled.metadata.resourceVersion
      put.metadata.generation = 7
      put.metadata.creationTimestamp = "2000-01-01T00:00:00Z"
      local upd = assert(st:update(env.tj, "default", "xgboost-mnist", put))
      assert.are.equal(2, upd.metadata.generation)
      assert.are.equal(obj.metadata.uid, upd.metadata.uid)
      assert.are.equal(obj.metadata.creationTimestamp, upd.metadata.creationTimestamp)
      assert.is_nil(upd.metadata.labels, "a PUT replaces metadata too")
      put.metadata.resourceVersion = upd.metadata.resourceVersion
      put.metadata.uid = "00000000-0000-4000-8000-000000000000"
      local _, err = st:update(env.tj, "default", "xgboost-mnist", put)
      assert.are.equal('TrainingJob.sagemaker.aws.amazon.com "xgboost-mnist" is invalid: metadata.uid: Invalid value: "00000000-0000-4000-8000-000000000000": field is immutable',
        err.message)
    end)
  end)

  it("applies the status subresource rules both ways", function()
    run(function()
      local env = setup()
      local st, tj = env.store, env.tj
      assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      -- on /status only status changes: spec and labels are ignored
      local s1 = assert(st:patch(tj, "default", "xgboost-mnist", "merge",
        '{"metadata":{"labels":{"x":"y"}},"spec":{"region":"eu-west-1"},"status":{"trainingJobStatus":"InProgress"}}',
        { subresource = "status" }))
      assert.are.equal("us-west-2", s1.spec.region)
      assert.is_nil(s1.metadata.labels)
      assert.are.equal("InProgress", s1.status.trainingJobStatus)
      assert.are.equal(1, s1.metadata.generation)
      -- on the main resource status changes are ignored
      local m = assert(st:patch(tj, "default", "xgboost-mnist", "merge",
        '{"spec":{"region":"eu-west-1"},"status":{"trainingJobStatus":"Failed"}}'))
      assert.are.equal("InProgress", m.status.trainingJobStatus)
      assert.are.equal(2, m.metadata.generation)
      -- a status-only change to the main resource is no write at all
      local noop = assert(st:patch(tj, "default", "xgboost-mnist", "merge", '{"status":{"trainingJobStatus":"Failed"}}'))
      assert.are.equal(m.metadata.resourceVersion, noop.metadata.resourceVersion)
      -- status is validated with its own paths
      local _, err = st:patch(tj, "default", "xgboost-mnist", "merge", '{"status":{"trainingJobStatus":5}}',
        { subresource = "status" })
      assert.are.equal('TrainingJob.sagemaker.aws.amazon.com "xgboost-mnist" is invalid: status.trainingJobStatus: Invalid value: "integer": trainingJobStatus in body must be of type string: "integer"',
        err.message)
      -- no /status on a kind without it
      _, err = st:patch(env.cm, "default", "x", "merge", "{}", { subresource = "status" })
      assert.are.equal(404, err.code)
    end)
  end)

  it("applies CRD defaults, and answers a dry-run update without storing it", function()
    run(function()
      local env = setup()
      local st = env.store
      local crd = assert(st:get(env.crd, nil, "trainingjobs.sagemaker.aws.amazon.com"))
      local props = crd.spec.versions[1].schema.openAPIV3Schema.properties.spec.properties
      props.resourceConfig.properties.volumeSizeInGB.default = 30
      crd.metadata.managedFields = nil
      assert(st:update(env.crd, nil, crd.metadata.name, crd))
      env.tj = st:kind_for("sagemaker.aws.amazon.com", "v1", "trainingjobs") -- the new schema's kind_def
      local obj = fixture("trainingjob-xgboost-mnist.yaml")
      obj.spec.resourceConfig.volumeSizeInGB = nil
      local made = assert(st:create(env.tj, "default", obj))
      assert.are.equal(30, made.spec.resourceConfig.volumeSizeInGB)
      local dry = assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"spec":{"region":"eu-west-1"}}',
        { dry_run = true }))
      assert.are.equal("eu-west-1", dry.spec.region)
      assert.are.equal(2, dry.metadata.generation)
      local kept = assert(st:get(env.tj, "default", "xgboost-mnist"))
      assert.are.equal("us-west-2", kept.spec.region)
      assert.are.equal(made.metadata.resourceVersion, kept.metadata.resourceVersion)
      local _, err = st:patch(env.tj, "default", "xgboost-mnist", "application/apply-patch+yaml", "spec: {}")
      assert.are.equal(415, err.code)
    end)
  end)

  it("supports JSON patch and refuses strategic merge patch for custom resources", function()
    run(function()
      local env = setup()
      local st = env.store
      assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local p = assert(st:patch(env.tj, "default", "xgboost-mnist", "application/json-patch+json",
        '[{"op":"test","path":"/spec/region","value":"us-west-2"},{"op":"replace","path":"/spec/region","value":"eu-west-1"}]'))
      assert.are.equal("eu-west-1", p.spec.region)
      local _, err = st:patch(env.tj, "default", "xgboost-mnist", "json", '[{"op":"test","path":"/spec/region","value":"x"}]')
      assert.are.equal(422, err.code)
      assert.are.equal("the server rejected our request due to an error in our request", err.message)
      assert.are.equal("testing value /spec/region failed: test failed", err.details.causes[1].message)
      _, err = st:patch(env.tj, "default", "xgboost-mnist", "strategic", '{"spec":{}}')
      assert.are.equal(415, err.code)
      assert.are.equal("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        err.message)
      _, err = st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"spec":')
      assert.are.equal(400, err.code)
    end)
  end)
end)

describe("fake.kube.store finalizers", function()
  it("refuses new finalizers on an object being deleted", function()
    run(function()
      local env = setup()
      local st = env.store
      assert(st:create(env.cm, "default", { metadata = { name = "c", finalizers = { "example.com/a" } } }))
      local marked = assert(st:delete(env.cm, "default", "c"))
      assert.is_string(marked.metadata.deletionTimestamp)
      assert.is_nil(marked.metadata.generation, "kinds without generation do not get one")
      local _, err = st:patch(env.cm, "default", "c", "merge", '{"metadata":{"finalizers":["example.com/a","example.com/b"]}}')
      assert.are.equal('ConfigMap "c" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/b"}',
        err.message)
      -- deleting again changes nothing
      local again = assert(st:delete(env.cm, "default", "c"))
      assert.are.equal(marked.metadata.resourceVersion, again.metadata.resourceVersion)
      -- an unqualified finalizer on a core kind is an error, not a warning
      local _, err2 = st:create(env.cm, "default", { metadata = { name = "d", finalizers = { "mine" } } })
      assert.are.equal('ConfigMap "d" is invalid: metadata.finalizers[0]: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified',
        err2.message)
    end)
  end)

  it("deletes at once without finalizers and answers with a Success Status", function()
    run(function()
      local env = setup()
      local st = env.store
      local obj = assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local res = assert(st:delete(env.tj, "default", "xgboost-mnist"))
      assert.are.equal(enc({ kind = "Status", apiVersion = "v1", metadata = {}, status = "Success",
        details = { name = "xgboost-mnist", group = "sagemaker.aws.amazon.com", kind = "trainingjobs", uid = obj.metadata.uid } }),
        enc(res))
      local _, err = st:delete(env.tj, "default", "xgboost-mnist")
      assert.are.equal(404, err.code)
    end)
  end)

  it("checks delete preconditions and options", function()
    run(function()
      local env = setup()
      local st = env.store
      local obj = assert(st:create(env.cm, "default", cm("c")))
      local _, err = st:delete(env.cm, "default", "c", { preconditions = { uid = "other" } })
      assert.are.equal(409, err.code)
      assert.are.equal('Operation cannot be fulfilled on ConfigMap "c": the UID in the precondition (other) does not match the UID in record (' .. obj.metadata.uid .. '). The object might have been deleted and then recreated',
        err.message)
      _, err = st:delete(env.cm, "default", "c", { preconditions = { resourceVersion = "1" } })
      assert.matches("the ResourceVersion in the precondition %(1%) does not match", err.message)
      _, err = st:delete(env.cm, "default", "c", { propagation_policy = "Sometimes" })
      assert.are.equal('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sometimes": supported values: "Foreground", "Background", "Orphan", "nil"',
        err.message)
      assert(st:delete(env.cm, "default", "c", { dry_run = true }))
      assert.is_table(st:get(env.cm, "default", "c"))
    end)
  end)
end)

describe("fake.kube.store garbage collection", function()
  local function owned(name, owner, extra)
    local ref = { apiVersion = owner.apiVersion, kind = owner.kind, name = owner.metadata.name, uid = owner.metadata.uid }
    for k, v in pairs(extra or {}) do ref[k] = v end
    return { metadata = { name = name, ownerReferences = { ref } }, data = { k = "v" } }
  end

  it("deletes dependents of a deleted owner in the background, in cascade", function()
    run(function()
      local env = setup()
      local st = env.store
      local owner = assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local child = assert(st:create(env.cm, "default", owned("child", owner)))
      assert(st:create(env.cm, "default", owned("grandchild", child)))
      assert(st:create(env.cm, "default", cm("bystander")))
      assert(st:delete(env.tj, "default", "xgboost-mnist", { propagation_policy = "Background" }))
      -- asynchronous, like the real collector: still there right after the delete
      assert.is_table(st:get(env.cm, "default", "child"))
      assert.is_true(st:settle())
      assert.is_nil(st:get(env.cm, "default", "child"))
      assert.is_nil(st:get(env.cm, "default", "grandchild"))
      assert.is_table(st:get(env.cm, "default", "bystander"))
    end)
  end)

  it("waits for the owner to be really gone, and keeps dependents with another live owner", function()
    run(function()
      local env = setup()
      local st = env.store
      local obj = fixture("trainingjob-xgboost-mnist.yaml")
      obj.metadata.finalizers = { "example.com/hold" }
      local owner = assert(st:create(env.tj, "default", obj))
      local other = assert(st:create(env.cm, "default", cm("other")))
      local two = owned("two", owner)
      two.metadata.ownerReferences[2] = { apiVersion = "v1", kind = "ConfigMap", name = "other", uid = other.metadata.uid }
      assert(st:create(env.cm, "default", two))
      assert(st:create(env.cm, "default", owned("one", owner)))
      assert(st:delete(env.tj, "default", "xgboost-mnist"))
      assert.is_true(st:settle())
      assert.is_table(st:get(env.cm, "default", "one"), "the owner is only being deleted")
      assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"metadata":{"finalizers":null}}'))
      assert.is_true(st:settle())
      assert.is_nil(st:get(env.cm, "default", "one"))
      local kept = assert(st:get(env.cm, "default", "two"))
      assert.are.equal(1, #kept.metadata.ownerReferences)
      assert.are.equal(other.metadata.uid, kept.metadata.ownerReferences[1].uid)
    end)
  end)

  it("orphans dependents with propagationPolicy Orphan", function()
    run(function()
      local env = setup()
      local st = env.store
      local owner = assert(st:create(env.cm, "default", cm("owner")))
      assert(st:create(env.cm, "default", owned("dep", owner)))
      local marked = assert(st:delete(env.cm, "default", "owner", { propagation_policy = "Orphan" }))
      assert.are.same({ "orphan" }, marked.metadata.finalizers)
      assert.is_true(st:settle())
      assert.is_nil(st:get(env.cm, "default", "owner"))
      local dep = assert(st:get(env.cm, "default", "dep"))
      assert.is_nil(dep.metadata.ownerReferences)
    end)
  end)

  it("holds a Foreground-deleted owner until its blocking dependents are gone", function()
    run(function()
      local env = setup()
      local st = env.store
      local owner = assert(st:create(env.cm, "default", cm("owner")))
      local dep = owned("dep", owner, { blockOwnerDeletion = true })
      dep.metadata.finalizers = { "example.com/slow" }
      assert(st:create(env.cm, "default", dep))
      local marked = assert(st:delete(env.cm, "default", "owner", { propagation_policy = "Foreground" }))
      assert.are.same({ "foregroundDeletion" }, marked.metadata.finalizers)
      assert.is_true(st:settle())
      local d = assert(st:get(env.cm, "default", "dep"))
      assert.is_string(d.metadata.deletionTimestamp)
      assert.is_table(st:get(env.cm, "default", "owner"), "blocked by its dependent")
      assert(st:patch(env.cm, "default", "dep", "merge", '{"metadata":{"finalizers":null}}'))
      assert.is_true(st:settle())
      assert.is_nil(st:get(env.cm, "default", "dep"))
      assert.is_nil(st:get(env.cm, "default", "owner"))
    end)
  end)
end)

describe("fake.kube.store list", function()
  local function names(list)
    local out = {}
    for i, o in ipairs(list.items) do out[i] = o.metadata.name end
    return out
  end

  local function seed(env)
    local st = env.store
    assert(st:create(env.cm, "default", cm("a", { app = "web", tier = "front" })))
    assert(st:create(env.cm, "default", cm("b", { app = "web", tier = "back" })))
    assert(st:create(env.cm, "default", cm("c", { app = "db" })))
    assert(st:create(env.cm, "default", cm("d")))
    assert(st:create(env.cm, "kube-system", cm("e", { app = "web" })))
  end

  it("selects by label", function()
    run(function()
      local env = setup()
      seed(env)
      local rows = {
        { "app=web", { "a", "b" } }, { "app==web", { "a", "b" } }, { "app!=web", { "c", "d" } },
        { "app in (web,db)", { "a", "b", "c" } }, { "app notin (web)", { "c", "d" } },
        { "tier", { "a", "b" } }, { "!tier", { "c", "d" } }, { "app=web,tier=back", { "b" } },
        { "", { "a", "b", "c", "d" } },
      }
      for _, row in ipairs(rows) do
        local list = assert(env.store:list(env.cm, "default", { label_selector = row[1] }))
        assert.are.same(row[2], names(list), row[1])
      end
      local all = assert(env.store:list(env.cm, nil, { label_selector = "app=web" }))
      assert.are.same({ "a", "b", "e" }, names(all))
      local _, err = env.store:list(env.cm, nil, { label_selector = "app=(" })
      assert.are.equal(400, err.code)
    end)
  end)

  it("selects by field, Events by involvedObject (kubectl describe, kube-wire 15)", function()
    run(function()
      local env = setup()
      seed(env)
      local st = env.store
      local list = assert(st:list(env.cm, nil, { field_selector = "metadata.namespace=kube-system" }))
      assert.are.same({ "e" }, names(list))
      list = assert(st:list(env.cm, "default", { field_selector = "metadata.name!=a,metadata.name!=b" }))
      assert.are.same({ "c", "d" }, names(list))
      local ev = fixture("event-xgboost-mnist.yaml")
      assert(st:create(env.event, "default", ev))
      local other = fixture("event-xgboost-mnist.yaml")
      other.metadata.name = "other.1"
      other.involvedObject.name = "someone-else"
      assert(st:create(env.event, "default", other))
      list = assert(st:list(env.event, "default", { limit = 500, field_selector =
        "involvedObject.name=xgboost-mnist,involvedObject.namespace=default,involvedObject.kind=TrainingJob,involvedObject.uid=fd1fc888-9737-4ed6-a96d-7694ea74f920" }))
      assert.are.same({ "xgboost-mnist.18eaab4334b27300" }, names(list))
      local _, err = st:list(env.cm, nil, { field_selector = "data.k=v" })
      assert.are.equal("field label not supported: data.k", err.message)
      _, err = st:list(env.tj, nil, { field_selector = "spec.region=x" })
      assert.are.equal(400, err.code)
    end)
  end)

  it("pages with limit and continue on a consistent snapshot", function()
    run(function()
      local env = setup()
      seed(env)
      local st = env.store
      local p1 = assert(st:list(env.cm, "default", { limit = 2 }))
      assert.are.same({ "a", "b" }, names(p1))
      assert.are.equal(2, p1.metadata.remainingItemCount)
      assert.is_string(p1.metadata.continue)
      assert(st:create(env.cm, "default", cm("bb")))
      assert(st:delete(env.cm, "default", "c"))
      local p2 = assert(st:list(env.cm, "default", { limit = 2, continue = p1.metadata.continue }))
      assert.are.same({ "c", "d" }, names(p2), "the page is served at the first page's version")
      assert.are.equal(p1.metadata.resourceVersion, p2.metadata.resourceVersion)
      assert.is_nil(p2.metadata.continue)
      assert.are.equal("ConfigMapList", p2.kind)
      local _, err = st:list(env.cm, "default", { continue = "not-a-token" })
      assert.are.equal(400, err.code)
    end)
  end)

  it("answers 410 to a continue token past the retained window, with a token to go on", function()
    run(function()
      local env = setup()
      seed(env)
      local st = env.store
      local p1 = assert(st:list(env.cm, "default", { limit = 1 }))
      assert(st:create(env.cm, "default", cm("z")))
      st:compact()
      local none, err = st:list(env.cm, "default", { limit = 1, continue = p1.metadata.continue })
      assert.is_nil(none)
      assert.are.equal(410, err.code)
      assert.are.equal("Expired", err.reason)
      assert.matches("^The provided continue parameter is too old to display a consistent list result%.", err.message)
      local rest = assert(st:list(env.cm, "default", { continue = err.metadata.continue }))
      assert.are.same({ "b", "c", "d", "z" }, names(rest), "the inconsistent continuation sees the new object")
    end)
  end)

  it("serves resourceVersion and resourceVersionMatch like the watch cache (kube-wire 14)", function()
    run(function()
      local env = setup()
      local st = env.store
      local a = assert(st:create(env.cm, "default", cm("a")))
      local old_rv = a.metadata.resourceVersion
      assert(st:create(env.cm, "default", cm("b")))
      assert(st:patch(env.cm, "default", "a", "merge", '{"data":{"k":"changed"}}'))
      local exact = assert(st:list(env.cm, "default", { resource_version = old_rv, resource_version_match = "Exact" }))
      assert.are.same({ "a" }, names(exact))
      assert.are.equal("v", exact.items[1].data.k)
      assert.are.equal(old_rv, exact.metadata.resourceVersion)
      local newer = assert(st:list(env.cm, "default", { resource_version = old_rv, resource_version_match = "NotOlderThan" }))
      assert.are.same({ "a", "b" }, names(newer))
      assert.are.equal(st:resource_version(), newer.metadata.resourceVersion)
      local any = assert(st:list(env.cm, "default", { resource_version = "0", limit = 1 }))
      assert.are.equal(2, #any.items, "resourceVersion=0 is served from the cache, which ignores limit")
      st:compact()
      local none, err = st:list(env.cm, "default", { resource_version = old_rv, resource_version_match = "Exact" })
      assert.is_nil(none)
      assert.are.equal(enc(J([[{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"The resourceVersion for the provided list is too old.","reason":"Expired","code":410}]])), enc(err))
      assert(st:list(env.cm, "default", { resource_version = old_rv, resource_version_match = "NotOlderThan" }))
      none, err = st:list(env.cm, "default", { resource_version = "999999" })
      assert.is_nil(none)
      assert.are.equal(504, err.code)
      assert.matches("^Too large resource version: 999999, current: %d+$", err.message)
      none, err = st:list(env.cm, "default", { resource_version_match = "Exact" })
      assert.is_nil(none)
      assert.are.equal('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
        err.message)
      none, err = st:list(env.cm, "default", { resource_version = "0", resource_version_match = "Exact" })
      assert.is_nil(none)
      assert.are.equal(422, err.code)
    end)
  end)

  it("keeps continue empty on custom resource lists", function()
    run(function()
      local env = setup()
      assert(env.store:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local list, rv = assert(env.store:list(env.tj, "default", {}))
      assert.are.equal("", list.metadata.continue)
      assert.are.equal("TrainingJobList", list.kind)
      assert.are.equal("sagemaker.aws.amazon.com/v1", list.apiVersion)
      assert.are.equal(list.metadata.resourceVersion, rv)
    end)
  end)
end)

describe("fake.kube.store watch", function()
  it("starts with the current objects, then streams changes", function()
    run(function()
      local env = setup()
      local st = env.store
      assert(st:create(env.cm, "default", cm("a")))
      local w = assert(st:watch(env.cm, "default", {}))
      local ev = assert(w:next(1))
      assert.are.equal("ADDED", ev.type)
      assert.are.equal("a", ev.object.metadata.name)
      assert.are.equal("ConfigMap", ev.object.kind)
      local none, why = w:next(0.01)
      assert.is_nil(none)
      assert.are.equal("timeout", why)
      task.spawn(function()
        task.sleep(0.01)
        assert(st:patch(env.cm, "default", "a", "merge", '{"data":{"k":"x"}}'))
      end)
      ev = assert(w:next(2))
      assert.are.equal("MODIFIED", ev.type)
      assert.are.equal("x", ev.object.data.k)
      w:close()
      assert.are.same({ nil, "closed" }, { w:next(0.01) })
    end)
  end)

  it("replays every later event from a resourceVersion (kube-wire 13) and ends at the window (kube-wire 14)", function()
    run(function()
      local env = setup({ max_events = 3 })
      local st = env.store
      local obj = assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local from = obj.metadata.resourceVersion
      assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"status":{"additional":"write 1"}}', { subresource = "status" }))
      assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"status":{"additional":"write 2"}}', { subresource = "status" }))
      local w = assert(st:watch(env.tj, "default", { resource_version = from }))
      local e1, e2 = assert(w:next(1)), assert(w:next(1))
      assert.are.equal("MODIFIED", e1.type)
      assert.are.equal("write 1", e1.object.status.additional)
      assert.are.equal("write 2", e2.object.status.additional)
      assert.are.equal(tonumber(from) + 2, tonumber(e2.object.metadata.resourceVersion))
      assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"status":{"additional":"write 3"}}', { subresource = "status" }))
      assert(st:patch(env.tj, "default", "xgboost-mnist", "merge", '{"status":{"additional":"write 4"}}', { subresource = "status" }))
      -- three events are kept: the window starts after "write 1"
      local none, err = st:watch(env.tj, "default", { resource_version = from })
      assert.is_nil(none)
      assert.are.equal(enc(J(string.format([[{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"too old resource version: %s (%d)","reason":"Expired","code":410}]], from, tonumber(from) + 1))), enc(err))
      assert(st:watch(env.tj, "default", { resource_version = tostring(tonumber(from) + 1) }))
      -- a watch from before the kind existed is too old as well (kube-wire 14, RV 198)
      none, err = st:watch(env.tj, "default", { resource_version = "191" })
      assert.is_nil(none)
      assert.matches("^too old resource version: 191 %(%d+%)$", err.message)
    end)
  end)

  it("drops events older than event_ttl", function()
    run(function()
      local env = setup({ event_ttl = 60 })
      local st = env.store
      local a = assert(st:create(env.cm, "default", cm("a")))
      env.clock.t = env.clock.t + 120
      assert(st:create(env.cm, "default", cm("b")))
      local before_a = tostring(tonumber(a.metadata.resourceVersion) - 1)
      local _, err = st:watch(env.cm, "default", { resource_version = before_a })
      assert.are.equal(410, err.code)
      assert(st:watch(env.cm, "default", { resource_version = a.metadata.resourceVersion }),
        "resuming from the last dropped event loses nothing")
    end)
  end)

  it("makes bookmarks of apiVersion, kind and resourceVersion (kube-wire 13)", function()
    run(function()
      local env = setup()
      local st = env.store
      local obj = assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      local w = assert(st:watch(env.tj, "default", { resource_version = obj.metadata.resourceVersion, allow_bookmarks = true }))
      assert(st:create(env.cm, "default", cm("elsewhere")))
      local bm = w:bookmark()
      assert.are.equal(enc({ type = "BOOKMARK", object = { apiVersion = "sagemaker.aws.amazon.com/v1", kind = "TrainingJob",
        metadata = { resourceVersion = st:resource_version() } } }), enc(bm))
      assert.are.equal(enc(bm.object), enc(st:bookmark_object(env.tj)))
      -- with initial events, the end of them is a bookmark with the annotation
      local w2 = assert(st:watch(env.tj, "default", { send_initial_events = true, allow_bookmarks = true,
        resource_version = "" }))
      assert.are.equal("ADDED", assert(w2:next(1)).type)
      local last = assert(w2:next(1))
      assert.are.equal("BOOKMARK", last.type)
      assert.are.equal("true", last.object.metadata.annotations["k8s.io/initial-events-end"])
    end)
  end)

  it("turns objects entering and leaving a selector into ADDED and DELETED", function()
    run(function()
      local env = setup()
      local st = env.store
      assert(st:create(env.cm, "default", cm("a", { app = "db" })))
      local w = assert(st:watch(env.cm, "default", { resource_version = st:resource_version(), label_selector = "app=web" }))
      assert(st:patch(env.cm, "default", "a", "merge", '{"metadata":{"labels":{"app":"web"}}}'))
      local p2 = assert(st:patch(env.cm, "default", "a", "merge", '{"data":{"k":"2"}}'))
      assert(st:patch(env.cm, "default", "a", "merge", '{"metadata":{"labels":{"app":"db"}}}'))
      assert(st:create(env.cm, "default", cm("other", { app = "db" })))
      local e = { assert(w:next(1)), assert(w:next(1)), assert(w:next(1)) }
      assert.are.same({ "ADDED", "MODIFIED", "DELETED" }, { e[1].type, e[2].type, e[3].type })
      assert.are.equal("web", e[3].object.metadata.labels.app, "DELETED carries the last state that matched")
      assert.are.equal(tonumber(p2.metadata.resourceVersion) + 1, tonumber(e[3].object.metadata.resourceVersion))
      assert.are.same({ nil, "timeout" }, { w:next(0.01) })
      local _, err = st:watch(env.cm, "default", { label_selector = "a in (" })
      assert.are.equal(400, err.code)
    end)
  end)

  it("watches one namespace or all, and by field", function()
    run(function()
      local env = setup()
      local st = env.store
      local rv = st:resource_version()
      local one = assert(st:watch(env.cm, "kube-system", { resource_version = rv }))
      local all = assert(st:watch(env.cm, nil, { resource_version = rv }))
      local named = assert(st:watch(env.cm, nil, { resource_version = rv, field_selector = "metadata.name=b" }))
      assert(st:create(env.cm, "default", cm("a")))
      assert(st:create(env.cm, "kube-system", cm("b")))
      assert.are.equal("b", assert(one:next(1)).object.metadata.name)
      assert.are.equal("a", assert(all:next(1)).object.metadata.name)
      assert.are.equal("b", assert(all:next(1)).object.metadata.name)
      assert.are.equal("b", assert(named:next(1)).object.metadata.name)
      assert.are.same({ nil, "timeout" }, { named:next(0.01) })
    end)
  end)

  it("obeys the control endpoint: drop all watches, expire the next one", function()
    run(function()
      local env = setup()
      local st = env.store
      local w = assert(st:watch(env.cm, "default", { resource_version = st:resource_version() }))
      local waiting = task.spawn(function() return w:next(5) end)
      task.sleep(0.01)
      st:drop_watches()
      local ok, ev, why = task.wait(waiting)
      assert.is_true(ok)
      assert.is_nil(ev)
      assert.are.equal("closed", why)
      st:force_expire_next_watch()
      local none, err = st:watch(env.cm, "default", { resource_version = st:resource_version() })
      assert.is_nil(none)
      assert.are.equal(410, err.code)
      assert.matches("^too old resource version", err.message)
      assert(st:watch(env.cm, "default", { resource_version = st:resource_version() }), "only the next one")
    end)
  end)
end)

describe("fake.kube.builtin kinds", function()
  it("keeps Secret data base64, folding stringData in", function()
    run(function()
      local env = setup()
      local st = env.store
      local _, err = st:create(env.secret, "default", { metadata = { name = "s" }, data = { k = "not base64!" } })
      assert.are.equal(400, err.code)
      assert.are.equal('Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3', err.message)
      local s = assert(st:create(env.secret, "default", { metadata = { name = "s" }, data = { a = "eA==" },
        stringData = { b = "hello" } }))
      assert.are.same({ a = "eA==", b = "aGVsbG8=" }, s.data)
      assert.is_nil(s.stringData)
      assert.are.equal("Opaque", s.type)
      local _, err2 = st:patch(env.secret, "default", "s", "merge", '{"type":"kubernetes.io/tls"}')
      assert.are.equal(422, err2.code)
      local listed = assert(st:list(env.secret, "default", { field_selector = "type=Opaque" }))
      assert.are.equal(1, #listed.items)
    end)
  end)

  it("validates ConfigMap keys and immutability", function()
    run(function()
      local env = setup()
      local st = env.store
      local _, err = st:create(env.cm, "default", { metadata = { name = "c" }, data = { ["bad key"] = "v" } })
      assert.are.equal([[ConfigMap "c" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')]],
        err.message)
      _, err = st:create(env.cm, "default", { metadata = { name = "c" }, data = { k = 5 } })
      assert.are.equal(400, err.code)
      assert(st:create(env.cm, "default", { metadata = { name = "frozen" }, data = { k = "v" }, immutable = true }))
      _, err = st:patch(env.cm, "default", "frozen", "merge", '{"data":{"k":"w"}}')
      assert.are.equal('ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set', err.message)
    end)
  end)

  it("renews a Lease with a strategic merge patch (kube-wire 17)", function()
    run(function()
      local env = setup()
      local st = env.store
      env.clock.t = 1795435708 -- 12:08:28
      local l = assert(st:create(env.lease, "default", applied(fixture("lease-0.yaml")), { field_manager = "kubectl-client-side-apply" }))
      assert.is_nil(l.metadata.generation)
      assert.are.equal(enc(J([[{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},
        "f:spec":{"f:acquireTime":{},"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:leaseTransitions":{},"f:renewTime":{}}}]])),
        enc(l.metadata.managedFields[1].fieldsV1))
      env.clock.t = 1795435710
      local r = assert(st:patch(env.lease, "default", "sagemaker-operator-leader", "application/strategic-merge-patch+json",
        '{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\\n"}},"spec":{"renewTime":"2026-11-23T12:08:30.693822Z"}}',
        { field_manager = "kubectl-client-side-apply" }))
      assert.are.equal("2026-11-23T12:08:30.693822Z", r.spec.renewTime)
      assert.are.equal(15, r.spec.leaseDurationSeconds)
      assert.are.equal(tonumber(l.metadata.resourceVersion) + 1, tonumber(r.metadata.resourceVersion))
      assert.are.equal("2026-11-23T12:08:30Z", r.metadata.managedFields[1].time)
      local _, err = st:patch(env.lease, "default", "sagemaker-operator-leader", "merge", '{"spec":{"leaseDurationSeconds":0}}')
      assert.are.equal('Lease.coordination.k8s.io "sagemaker-operator-leader" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0',
        err.message)
    end)
  end)

  it("stores core/v1 Events as recorded (kube-wire 16) and shows them through events.k8s.io", function()
    run(function()
      local env = setup()
      local st = env.store
      local ev = assert(st:create(env.event, "default", fixture("event-xgboost-mnist.yaml"), { field_manager = "kubectl-create" }))
      assert.are.equal(value.null, ev.eventTime)
      assert.are.equal(enc(J([[{"f:count":{},"f:firstTimestamp":{},"f:involvedObject":{},"f:lastTimestamp":{},"f:message":{},
        "f:reason":{},"f:reportingComponent":{},"f:reportingInstance":{},"f:source":{"f:component":{}},"f:type":{}}]])),
        enc(ev.metadata.managedFields[1].fieldsV1))
      local v1 = assert(st:get(env.events_v1, "default", ev.metadata.name))
      assert.are.equal("events.k8s.io/v1", v1.apiVersion)
      assert.are.equal("xgboost-mnist", v1.regarding.name)
      assert.are.equal("TrainingJob status changed to InProgress/Training", v1.note)
      assert.are.equal("sagemaker-k8s-operator", v1.reportingController)
      assert.are.equal(1, v1.deprecatedCount)
      assert.is_nil(v1.involvedObject)
      -- events.k8s.io/v1 requires the new fields
      local _, err = st:create(env.events_v1, "default", { metadata = { name = "n.1" }, regarding = { name = "x", namespace = "default" },
        reason = "R", type = "Normal" })
      assert.are.equal(422, err.code)
      assert.matches("eventTime: Required value", err.message, 1, true)
      local made = assert(st:create(env.events_v1, "default", { metadata = { name = "n.2" },
        regarding = { kind = "TrainingJob", name = "x", namespace = "default" }, reason = "Started", type = "Normal",
        action = "Create", note = "hi", eventTime = "2026-11-23T12:08:26.000000Z",
        reportingController = "example.com/op", reportingInstance = "op-1" }))
      assert.are.equal("hi", made.note)
      local core = assert(st:get(env.event, "default", "n.2"))
      assert.are.equal("hi", core.message)
      assert.are.equal("x", core.involvedObject.name)
      assert.are.equal("example.com/op", core.reportingComponent)
      -- the legacy rule: the involved object's namespace must be the event's
      local bad = fixture("event-xgboost-mnist.yaml")
      bad.metadata.name = "elsewhere.1"
      bad.involvedObject.namespace = "kube-system"
      _, err = st:create(env.event, "default", bad)
      assert.are.equal('Event "elsewhere.1" is invalid: involvedObject.namespace: Invalid value: "kube-system": does not match event.namespace',
        err.message)
    end)
  end)

  it("creates a CRD as recorded (kube-wire 01), establishes it later and registers its kind", function()
    run(function()
      local clock = { t = 1795435670 }
      local st = store_mod.new({ clock = function() return clock.t end })
      builtin.install(st, { establish_delay = 0.01 })
      local crd_kd = st:kind_for("apiextensions.k8s.io", "v1", "customresourcedefinitions")
      local crd = assert(builtin.load_crd(st, fixture("crd-trainingjobs.yaml"), { field_manager = "kubectl-client-side-apply" }))
      assert.are.equal(1, crd.metadata.generation)
      assert.are.equal(enc(J('{"conditions":null,"acceptedNames":{"plural":"","kind":""},"storedVersions":["v1"]}')),
        enc(crd.status))
      assert.are.equal("None", crd.spec.conversion.strategy)
      assert.are.equal(enc(J([[{"f:spec":{"f:conversion":{".":{},"f:strategy":{}},"f:group":{},
        "f:names":{"f:kind":{},"f:listKind":{},"f:plural":{},"f:singular":{}},"f:scope":{},"f:versions":{}}}]])),
        enc(crd.metadata.managedFields[1].fieldsV1))
      local kd = assert(st:kind_for("sagemaker.aws.amazon.com", "v1", "trainingjobs"))
      assert.is_true(kd.namespaced)
      assert.is_true(kd.subresources.status)
      assert.are.equal("TrainingJobList", kd.list_kind)
      assert.are.equal(4, #kd.printer_columns)
      assert.is_true(st:settle())
      local est = assert(st:get(crd_kd, nil, crd.metadata.name))
      local conds = {}
      for _, c in ipairs(est.status.conditions) do conds[c.type] = c end
      assert.are.equal("True", conds.NamesAccepted.status)
      assert.are.equal("no conflicts found", conds.NamesAccepted.message)
      assert.are.equal("True", conds.Established.status)
      assert.are.equal("InitialNamesAccepted", conds.Established.reason)
      assert.are.equal("TrainingJob", est.status.acceptedNames.kind)
      assert.are.equal(1, est.metadata.generation, "status writes leave generation alone")
      -- same second: sorted by manager name, as the apiserver sorts them
      assert.are.equal("kube-apiserver", est.metadata.managedFields[1].manager)
      assert.are.equal("status", est.metadata.managedFields[1].subresource)
      assert.are.equal("kubectl-client-side-apply", est.metadata.managedFields[2].manager)
      -- short names and categories as discovery lists them
      assert.are.same({ "crd", "crds" }, crd_kd.short_names)
      assert.are.same({ "api-extensions" }, crd_kd.categories)
      assert.are.same({ "cm" }, st:kind_for("", "v1", "configmaps").short_names)
      assert.are.same({ "ns" }, st:kind_for("", "v1", "namespaces").short_names)
      assert.are.same({ "ev" }, st:kind_for("", "v1", "events").short_names)
    end)
  end)

  it("refuses a CRD whose name is not plural.group", function()
    run(function()
      local env = setup()
      local bad = fixture("crd-trainingjobs.yaml")
      bad.metadata.name = "jobs.example.com"
      local _, err = env.store:create(env.crd, nil, bad)
      assert.are.equal('CustomResourceDefinition.apiextensions.k8s.io "jobs.example.com" is invalid: metadata.name: Invalid value: "jobs.example.com": must be spec.names.plural+"."+spec.group',
        err.message)
    end)
  end)

  it("keeps custom resources across a CRD update and deletes them with the CRD", function()
    run(function()
      local env = setup()
      local st = env.store
      assert(st:create(env.tj, "default", fixture("trainingjob-xgboost-mnist.yaml")))
      assert.is_true(st:settle())
      local crd = assert(st:get(env.crd, nil, "trainingjobs.sagemaker.aws.amazon.com"))
      local upd = assert(st:patch(env.crd, nil, crd.metadata.name, "merge", '{"spec":{"names":{"shortNames":["tj"]}}}'))
      assert.are.equal(2, upd.metadata.generation)
      local kd = st:kind_for("sagemaker.aws.amazon.com", "v1", "trainingjobs")
      assert.are.same({ "tj" }, kd.short_names)
      assert.is_table(st:get(kd, "default", "xgboost-mnist"), "still there after the CRD changed")
      local w = assert(st:watch(kd, "default", { resource_version = st:resource_version() }))
      local marked = assert(st:delete(env.crd, nil, crd.metadata.name))
      assert.are.same({ "customresourcecleanup.apiextensions.k8s.io" }, marked.metadata.finalizers)
      assert.is_true(st:settle())
      assert.are.equal("DELETED", assert(w:next(1)).type)
      assert.is_nil(st:get(env.crd, nil, crd.metadata.name))
      assert.is_nil(st:kind_for("sagemaker.aws.amazon.com", "v1", "trainingjobs"))
    end)
  end)

  it("lists every kind for discovery", function()
    run(function()
      local env = setup()
      local seen = {}
      for _, kd in ipairs(env.store:kinds()) do seen[#seen + 1] = (kd.group == "" and "core" or kd.group) .. "/" .. kd.plural end
      assert.are.same({ "core/configmaps", "core/events", "core/namespaces", "core/secrets",
        "apiextensions.k8s.io/customresourcedefinitions", "coordination.k8s.io/leases", "events.k8s.io/events",
        "sagemaker.aws.amazon.com/trainingjobs" }, seen)
      local nss = assert(env.store:list(env.ns, nil, {}))
      assert.are.equal(4, #nss.items)
      assert.are.equal("Active", nss.items[1].status.phase)
      assert.are.equal("default", nss.items[1].metadata.labels["kubernetes.io/metadata.name"])
      assert.are.same({ "kubernetes" }, nss.items[1].spec.finalizers)
    end)
  end)
end)
