-- fake.kube.schema: custom resources against their CRD's structural schema,
-- ObjectMeta rules, and the 422 Status they make, worded as kube-apiserver
-- 1.32 words them (kube-wire scenario 11 for the wire bytes).
-- luacheck: no max line length (expected messages are quoted whole, as the apiserver writes them)
local json = require("smop.json")
local yaml = require("smop.yaml")
local schema = require("fake.kube.schema")
local value = require("fake.kube.value")

local function J(s) return json.decode(s) end

local function read(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("a")
  f:close()
  return s
end

local crd = yaml.decode(read("spec/fixtures/kube/crd-trainingjobs.yaml"))
local tj_schema = crd.spec.versions[1].schema.openAPIV3Schema

local function messages(errs)
  local out = {}
  for i, e in ipairs(errs) do out[i] = schema.error_string(e) end
  return out
end

describe("fake.kube.schema: the kube-wire 11 answer", function()
  it("gives the recorded 422 message and causes, in the recorded order", function()
    local obj = yaml.decode(read("spec/fixtures/kube/trainingjob-invalid.yaml"))
    local errs = schema.validate(obj, tj_schema)
    local st = schema.invalid_status("sagemaker.aws.amazon.com", "TrainingJob", "xgboost-invalid", errs)
    -- The recorded wire body (11-apply-invalid-422.md, exchange 7), without
    -- its key order, which is the HTTP layer's.
    local wire = J([[{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"TrainingJob.sagemaker.aws.amazon.com \"xgboost-invalid\" is invalid: [spec.resourceConfig.instanceCount: Invalid value: 0: spec.resourceConfig.instanceCount in body should be greater than or equal to 1, spec.roleArn: Required value]","reason":"Invalid","details":{"name":"xgboost-invalid","group":"sagemaker.aws.amazon.com","kind":"TrainingJob","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 0: spec.resourceConfig.instanceCount in body should be greater than or equal to 1","field":"spec.resourceConfig.instanceCount"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.roleArn"}]},"code":422}]])
    assert.are.equal(json.encode(wire, { sorted = true }), json.encode(st, { sorted = true }))
  end)

  it("accepts the valid TrainingJob", function()
    local obj = yaml.decode(read("spec/fixtures/kube/trainingjob-xgboost-mnist.yaml"))
    assert.are.same({}, schema.validate(obj, tj_schema))
  end)
end)

describe("fake.kube.schema validate", function()
  local s = J([[{
    "type": "object",
    "properties": {
      "i": {"type": "integer", "minimum": 1, "maximum": 10},
      "ex": {"type": "integer", "minimum": 0, "exclusiveMinimum": true, "maximum": 5, "exclusiveMaximum": true},
      "n": {"type": "number", "minimum": 0.5, "multipleOf": 0.5},
      "big": {"type": "number", "maximum": 1000000},
      "s": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
      "e": {"type": "string", "enum": ["Fast", "Slow"]},
      "ne": {"type": "integer", "enum": [1, 2]},
      "b": {"type": "boolean"},
      "a": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true, "items": {"type": "string"}},
      "o": {"type": "object", "required": ["x"], "properties": {"x": {"type": "string"}}},
      "m": {"type": "object", "additionalProperties": {"type": "integer"}},
      "null_ok": {"type": "string", "nullable": true},
      "ios": {"x-kubernetes-int-or-string": true},
      "t": {"type": "string", "format": "date-time"},
      "list": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
      "props": {"type": "object", "minProperties": 1, "maxProperties": 2}
    }
  }]])

  local rows = {
    { "integer below minimum", '{"i":0}', { "i: Invalid value: 0: i in body should be greater than or equal to 1" } },
    { "integer above maximum", '{"i":11}', { "i: Invalid value: 11: i in body should be less than or equal to 10" } },
    { "exclusive minimum", '{"ex":0}', { "ex: Invalid value: 0: ex in body should be greater than 0" } },
    { "exclusive maximum", '{"ex":5}', { "ex: Invalid value: 5: ex in body should be less than 5" } },
    { "a string for an integer", '{"i":"3"}',
      { 'i: Invalid value: "string": i in body must be of type integer: "string"' } },
    { "1.5 for an integer", '{"i":1.5}',
      { 'i: Invalid value: "number": i in body must be of type integer: "number"' } },
    { "1.0 for an integer is an integer", '{"i":1.0}', {} },
    { "an integer for a number", '{"n":1}', {} },
    { "multipleOf, then minimum (the validator's order)", '{"n":0.25}',
      { "n: Invalid value: 0.25: n in body should be a multiple of 0.5",
        "n: Invalid value: 0.25: n in body should be greater than or equal to 0.5" } },
    { "large float bounds print as Go's %v", '{"big":2000000.5}',
      { "big: Invalid value: 2.0000005e+06: big in body should be less than or equal to 1e+06" } },
    { "too short", '{"s":"a"}', { 's: Invalid value: "a": s in body should be at least 2 chars long' } },
    { "too long (TooLong hides the value)", '{"s":"abcde"}', { "s: Too long: may not be longer than 4" } },
    { "pattern", '{"s":"AB"}', { "s: Invalid value: \"AB\": s in body should match '^[a-z]+$'" } },
    { "enum", '{"e":"Medium"}', { 'e: Unsupported value: "Medium": supported values: "Fast", "Slow"' } },
    { "numeric enum", '{"ne":3}', { "ne: Unsupported value: 3: supported values: \"1\", \"2\"" } },
    { "boolean", '{"b":"yes"}', { 'b: Invalid value: "string": b in body must be of type boolean: "string"' } },
    { "too few items", '{"a":[]}', { "a: Invalid value: 0: a in body should have at least 1 items" } },
    { "too many items", '{"a":["x","y","z"]}', { "a: Too many: 3: must have at most 2 items" } },
    { "duplicate items", '{"a":["x","x"]}', { 'a: Invalid value: "": a in body shouldn\'t contain duplicates' } },
    { "item type", '{"a":[1]}', { 'a[0]: Invalid value: "integer": a[0] in body must be of type string: "integer"' } },
    { "required in a nested object", '{"o":{}}', { "o.x: Required value" } },
    { "additionalProperties schema", '{"m":{"k":"v"}}',
      { 'm.k: Invalid value: "string": m.k in body must be of type integer: "string"' } },
    { "nullable", '{"null_ok":null}', {} },
    { "null where not nullable", '{"s":null}', { 's: Invalid value: "null": s in body must be of type string: "null"' } },
    { "int-or-string takes both", '{"ios":"50%"}', {} },
    { "int-or-string refuses a bool", '{"ios":true}',
      { 'ios: Invalid value: "boolean": ios in body must be of type integer,string: "boolean"' } },
    { "date-time", '{"t":"yesterday"}',
      { 't: Invalid value: "yesterday": t in body must be of type date-time: "yesterday"' } },
    { "date-time accepted", '{"t":"2026-11-23T12:08:04Z"}', {} },
    { "array item paths", '{"list":[{"name":"a"},{"name":2}]}',
      { 'list[1].name: Invalid value: "integer": list[1].name in body must be of type string: "integer"' } },
    { "minProperties", '{"props":{}}', { "props: Invalid value: 0: props in body should have at least 1 properties" } },
    { "maxProperties", '{"props":{"a":1,"b":2,"c":3}}', { "props: Too many: 3: must have at most 2 items" } },
  }
  for _, row in ipairs(rows) do
    it(row[1], function()
      assert.are.same(row[3], messages(schema.validate(J(row[2]), s)))
    end)
  end

  it("orders causes by validator, then by sorted property name, then required", function()
    local sch = J([[{"type":"object","required":["z"],"properties":{
      "b":{"type":"integer","minimum":5},"a":{"type":"string"}}}]])
    local errs = schema.validate(J('{"b":1,"a":1}'), sch)
    assert.are.same({
      'a: Invalid value: "integer": a in body must be of type string: "integer"',
      "b: Invalid value: 1: b in body should be greater than or equal to 5",
      "z: Required value",
    }, messages(errs))
  end)

  it("prefixes status errors and ratchets unchanged values on update", function()
    local st = tj_schema.properties.status
    local errs = schema.validate(J('{"trainingJobStatus":1}'), st, { prefix = "status" })
    assert.are.same({ 'status.trainingJobStatus: Invalid value: "integer": trainingJobStatus in body must be of type string: "integer"' },
      messages(errs))
    local old = J('{"spec":{"roleArn":"r","region":"x","resourceConfig":{"instanceCount":0}}}')
    local new = J('{"spec":{"roleArn":"r2","region":"x","resourceConfig":{"instanceCount":0}}}')
    assert.are.same({}, schema.validate(new, tj_schema, { old = old }))
    local worse = J('{"spec":{"roleArn":"r2","region":"x","resourceConfig":{"instanceCount":-1}}}')
    assert.are.equal(1, #schema.validate(worse, tj_schema, { old = old }))
  end)

  it("finds duplicates in set and map lists", function()
    local sch = J([[{"type":"object","properties":{
      "s":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
      "m":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
           "items":{"type":"object","properties":{"name":{"type":"string"},"v":{"type":"integer"}}}}}}]])
    local errs = schema.validate_list_types(J('{"s":["a","b","a"],"m":[{"name":"x","v":1},{"name":"x","v":2}]}'), sch)
    assert.are.same({
      'm[1]: Duplicate value: map[string]interface {}{"name":"x"}',
      's[2]: Duplicate value: "a"',
    }, messages(errs))
  end)
end)

describe("fake.kube.schema prune and default", function()
  it("drops unknown fields, keeping apiVersion, kind and known metadata", function()
    local obj = J([[{"apiVersion":"sagemaker.aws.amazon.com/v1","kind":"TrainingJob",
      "metadata":{"name":"x","bogus":1},"extra":true,
      "spec":{"roleArn":"r","region":"x","foo":1,"resourceConfig":{"instanceCount":1,"bar":2},
              "hyperParameters":[{"name":"a","value":"b","baz":3}]},
      "status":{"nope":1}}]])
    local pruned = schema.prune(obj, tj_schema)
    assert.are.same({ "extra", "metadata.bogus", "spec.foo", "spec.hyperParameters[0].baz",
      "spec.resourceConfig.bar", "status.nope" }, pruned)
    assert.are.equal('{"apiVersion":"sagemaker.aws.amazon.com/v1","kind":"TrainingJob","metadata":{"name":"x"},'
      .. '"spec":{"hyperParameters":[{"name":"a","value":"b"}],"region":"x","resourceConfig":{"instanceCount":1},"roleArn":"r"},'
      .. '"status":{}}', json.encode(obj, { sorted = true }))
  end)

  it("keeps what x-kubernetes-preserve-unknown-fields and additionalProperties allow", function()
    local sch = J([[{"type":"object","properties":{
      "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"k":{"type":"object"}}},
      "m":{"type":"object","additionalProperties":{"type":"object","properties":{"a":{"type":"string"}}}},
      "emb":{"type":"object","x-kubernetes-embedded-resource":true,"properties":{}},
      "bare":{"type":"object"}}}]])
    local obj = J([[{"free":{"x":{"y":1},"k":{"z":1}},"m":{"one":{"a":"b","c":"d"}},
      "emb":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{}},"bare":{"q":1}}]])
    local pruned = schema.prune(obj, sch)
    assert.are.same({ "bare.q", "emb.spec", "free.k.z", "m.one.c" }, pruned)
    assert.are.equal(1, obj.free.x.y)
    assert.are.equal("Pod", obj.emb.kind)
  end)

  it("applies defaults, replaces non-nullable nulls and drops other nulls", function()
    local sch = J([[{"type":"object","properties":{"spec":{"type":"object","properties":{
      "mode":{"type":"string","default":"Fast"},
      "count":{"type":"integer","default":1},
      "opt":{"type":"string"},
      "items":{"type":"array","items":{"type":"object","properties":{"w":{"type":"integer","default":5}}}},
      "nested":{"type":"object","default":{},"properties":{"deep":{"type":"boolean","default":true}}}}}}}]])
    local obj = J('{"spec":{"count":null,"opt":null,"items":[{},{"w":2}]}}')
    schema.default(obj, sch)
    assert.are.equal('{"spec":{"count":1,"items":[{"w":5},{"w":2}],"mode":"Fast","nested":{"deep":true}}}',
      json.encode(obj, { sorted = true }))
  end)
end)

describe("fake.kube.schema ObjectMeta", function()
  local subdomain = schema.name_validators.subdomain

  it("words a bad name as the apiserver does", function()
    local errs = schema.validate_object_meta({ name = "Bad_Name", namespace = "default" }, true, subdomain)
    assert.are.same({ 'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')' },
      messages(errs))
  end)

  local rows = {
    { "missing name", { namespace = "default" }, { "metadata.name: Required value: name or generateName is required" } },
    { "long name", { name = string.rep("a", 254), namespace = "default" },
      { 'metadata.name: Invalid value: "' .. string.rep("a", 254) .. '": must be no more than 253 characters' } },
    { "generateName ending in a dash is fine", { generateName = "job-", name = "job-x2b4c", namespace = "default" }, {} },
    { "bad namespace", { name = "a", namespace = "a.b" }, { 'metadata.namespace: Invalid value: "a.b": must not contain dots' } },
    { "bad label value", { name = "a", namespace = "n", labels = { app = "-x" } },
      { "metadata.labels: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" } },
    { "bad label key prefix", { name = "a", namespace = "n", labels = { ["Foo/bar"] = "x" } },
      { "metadata.labels: Invalid value: \"Foo/bar\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')" } },
    { "owner reference without uid", { name = "a", namespace = "n",
        ownerReferences = { { apiVersion = "v1", kind = "ConfigMap", name = "c" } } },
      { 'metadata.ownerReferences.uid: Invalid value: "": must not be empty' } },
    { "two controllers", { name = "a", namespace = "n", ownerReferences = {
        { apiVersion = "v1", kind = "A", name = "a", uid = "1", controller = true },
        { apiVersion = "v1", kind = "B", name = "b", uid = "2", controller = true } } },
      { 'metadata.ownerReferences: Invalid value: []interface {}{map[string]interface {}{"apiVersion":"v1", "controller":true, "kind":"A", "name":"a", "uid":"1"}, map[string]interface {}{"apiVersion":"v1", "controller":true, "kind":"B", "name":"b", "uid":"2"}}: Only one reference can have Controller set to true. Found "true" in references for A/a and B/b' } },
    { "orphan and foreground together", { name = "a", namespace = "n", finalizers = value.array({ "orphan", "foregroundDeletion" }) },
      { 'metadata.finalizers: Invalid value: []interface {}{"orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion cannot be both set' } },
  }
  for _, row in ipairs(rows) do
    it(row[1], function()
      assert.are.same(row[3], messages(schema.validate_object_meta(row[2], true, subdomain)))
    end)
  end

  it("refuses unqualified finalizers on core kinds and only warns on custom resources", function()
    local meta = { name = "a", namespace = "n", finalizers = value.array({ "mine" }) }
    assert.are.same({ 'metadata.finalizers[0]: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified' },
      messages(schema.validate_object_meta(meta, true, subdomain, { core = true })))
    assert.are.same({}, messages(schema.validate_object_meta(meta, true, subdomain)))
    assert.are.same({ 'metadata.finalizers: "mine": prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers' },
      schema.finalizer_warnings(meta.finalizers, nil))
    assert.are.same({}, schema.finalizer_warnings(meta.finalizers, value.array({ "mine" })))
    assert.are.same({}, schema.finalizer_warnings(value.array({ "example.com/x", "orphan" }), nil))
  end)

  it("checks updates: immutable fields, no new finalizers while deleting", function()
    local old = { name = "a", namespace = "n", uid = "u1", resourceVersion = "5", creationTimestamp = "t",
      deletionTimestamp = "d", finalizers = value.array({ "x/a" }) }
    local new = { name = "a", namespace = "n", uid = "u2", resourceVersion = "5", creationTimestamp = "t",
      deletionTimestamp = "d", finalizers = value.array({ "x/a", "x/c", "x/b" }) }
    assert.are.same({
      'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"x/b", "x/c"}',
      'metadata.uid: Invalid value: "u2": field is immutable',
    }, messages(schema.validate_object_meta_update(new, old)))
  end)
end)

describe("fake.kube.schema errors", function()
  local E = schema.errors

  it("prints bad values as field.Error does", function()
    assert.are.equal('f: Invalid value: "a\\"b": why', schema.error_string(E.invalid("f", 'a"b', "why")))
    assert.are.equal("f: Invalid value: 1.5: why", schema.error_string(E.invalid("f", 1.5, "why")))
    assert.are.equal("f: Invalid value: true", schema.error_string(E.invalid("f", true, "")))
    assert.are.equal("f: Invalid value: null: x", schema.error_string(E.invalid("f", value.null, "x")))
    assert.are.equal('f: Invalid value: map[string]interface {}{"a":1}: x', schema.error_string(E.invalid("f", { a = 1 }, "x")))
    assert.are.equal("f: Required value", schema.error_string(E.required("f", "")))
    assert.are.equal("f: Forbidden: no", schema.error_string(E.forbidden("f", "no")))
    assert.are.equal("f: Too many: must have at most 2 items", schema.error_string(E.too_many("f", -1, 2)))
    assert.are.equal("f: Not found: \"x\"", schema.error_string(E.not_found("f", "x")))
    assert.are.equal('metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
      schema.error_string(E.invalid("metadata.resourceVersion", 0, "must be specified for an update", "0x0")))
  end)

  it("aggregates: one message bare, duplicates once, several in brackets", function()
    local a, b = E.required("a", ""), E.required("b", "")
    local one = schema.invalid_status("", "ConfigMap", "c", { a })
    assert.are.equal('ConfigMap "c" is invalid: a: Required value', one.message)
    local two = schema.invalid_status("", "ConfigMap", "c", { a, a, b })
    assert.are.equal('ConfigMap "c" is invalid: [a: Required value, b: Required value]', two.message)
    assert.are.equal(3, #two.details.causes)
    assert.is_nil(two.details.group)
    local none = schema.invalid_status("g.io", "K", "n", {})
    assert.are.equal('K.g.io "n" is invalid', none.message)
  end)
end)
