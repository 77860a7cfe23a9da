-- The built-in kinds the operator needs, as kube-apiserver 1.32 serves them:
-- Namespace, ConfigMap, Secret, Event (core/v1 and events.k8s.io/v1, one
-- storage), Lease, CustomResourceDefinition; kind_defs for custom resources
-- from a CRD; and the two controllers of the control plane the store needs
-- (CRD names/establishing/cleanup, namespace termination).
--
--   builtin.install(store, opts) -> kinds    adds the kinds, the default
--       namespaces and the controllers; opts.establish_delay (seconds before a
--       new CRD is Established, default 0.02), opts.namespaces (default
--       default, kube-system, kube-public, kube-node-lease)
--   builtin.kind_from_crd(crd) -> kind_def, all   the storage version's
--       kind_def and one per served version
--
-- kind_def fields beyond the store contract (README.md):
--   field_order  Go's struct field order, for an encoder that wants the
--                apiserver's bytes: { "k1", "k2", fields = { k = node },
--                map = node (a map: sorted keys, values ordered by node) };
--                arrays use the node for every element. Custom resources
--                have none: the apiserver sorts their keys.
--   verbs        discovery verbs.
local json = require("smop.json")
local value = require("fake.kube.value")
local schema = require("fake.kube.schema")
local managed = require("fake.kube.managed")
local store_mod = require("fake.kube.store")

local null = value.null
local E = schema.errors

local M = {}

---------------------------------------------------------------------------
-- Shared pieces
---------------------------------------------------------------------------

local verbs_all = { "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch" }

-- Strategic merge patch meta of ObjectMeta (patchStrategy tags of k8s.io/api).
local meta_patch = { fields = {
  finalizers = { strategy = "merge" },
  ownerReferences = { strategy = "merge", key = "uid" },
} }

local function patch_meta(fields)
  local f = { metadata = meta_patch }
  for k, v in pairs(fields or {}) do f[k] = v end
  return { fields = f }
end

local managed_fields_order = { "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1",
  "subresource" }
local owner_ref_order = { "apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion" }
local meta_order = {
  "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
  "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
  "ownerReferences", "finalizers", "managedFields",
  fields = { ownerReferences = owner_ref_order, managedFields = managed_fields_order },
}
M.object_meta_order = meta_order

local function order(keys, fields)
  keys.fields = fields or {}
  keys.fields.metadata = meta_order
  return keys
end

local function str(v) return type(v) == "string" and v or "" end

local function now(store) return value.rfc3339(store.clock()) end

---------------------------------------------------------------------------
-- Namespace
---------------------------------------------------------------------------

local namespace = {
  group = "", version = "v1", kind = "Namespace", plural = "namespaces", singular = "namespace",
  namespaced = false, short_names = { "ns" }, categories = {}, list_kind = "NamespaceList",
  subresources = { status = true }, core = true, name_validation = "label",
  verbs = { "create", "delete", "get", "list", "patch", "update", "watch" },
  known_fields = { spec = true, status = true },
  return_deleted_object = true,
  zero = { spec = {}, status = {} },
  selectable_fields = { "status.phase" },
  field_order = order({ "kind", "apiVersion", "metadata", "spec", "status" }, {
    spec = { "finalizers" },
    status = { "phase", "conditions", fields = { conditions = { "type", "status", "lastTransitionTime",
      "reason", "message" } } },
  }),
}
namespace.patch_meta = patch_meta({ status = { fields = { conditions = { strategy = "merge",
  key = "type" } } } })

local function ns_label(obj)
  local labels = value.kind(obj.metadata.labels) == "object" and obj.metadata.labels or {}
  labels["kubernetes.io/metadata.name"] = obj.metadata.name
  obj.metadata.labels = labels
end

function namespace.prepare_create(obj)
  obj.status = { phase = "Active" }
  local spec = value.kind(obj.spec) == "object" and obj.spec or {}
  local fins = value.kind(spec.finalizers) == "array" and spec.finalizers or json.array({})
  local has = false
  for _, f in ipairs(fins) do if f == "kubernetes" then has = true end end
  if not has then fins[#fins + 1] = "kubernetes" end
  spec.finalizers = fins
  obj.spec = spec
  ns_label(obj)
end

function namespace.prepare_update(new, old, _, sub)
  if sub ~= "status" then
    new.spec = value.copy(old.spec)
    new.status = value.copy(old.status)
  end
  ns_label(new)
end

function namespace.validate(obj)
  local errs = {}
  local fins = obj.spec and obj.spec.finalizers
  if value.kind(fins) == "array" then
    for _, f in ipairs(fins) do
      local path = "spec.finalizers"
      for _, m in ipairs(schema.is_qualified_name(f)) do errs[#errs + 1] = E.invalid(path, f, m) end
      if not f:find("/", 1, true) and not schema.standard_finalizers[f] then
        errs[#errs + 1] = E.invalid(path, f,
          "name is neither a standard finalizer name nor is it fully qualified")
      end
    end
  end
  return errs
end

function namespace.field_labels(obj)
  return { ["status.phase"] = str(obj.status and obj.status.phase) }
end

-- ShouldDeleteNamespaceDuringUpdate: spec.finalizers must be empty too.
function namespace.may_delete(obj)
  local f = obj.spec and obj.spec.finalizers
  return not (value.kind(f) == "array" and #f > 0)
end

-- The namespace REST Delete: the first delete marks the namespace
-- Terminating (and answers with it); it goes once its content and
-- spec.finalizers are gone.
function namespace.delete(store, kd, s, key, existing, opts)
  if not existing.metadata.deletionTimestamp then
    local new = value.copy(existing)
    new.metadata.deletionTimestamp = now(store)
    new.status = new.status or {}
    new.status.phase = "Terminating"
    if opts.dry_run then return store_mod.present(kd, new) end
    store:commit(s, key, new, existing, "MODIFIED")
    store:schedule(function(st) st:finish_namespace(existing.metadata.name) end)
    return store_mod.present(kd, new)
  end
  if not namespace.may_delete(existing) then return store_mod.present(kd, existing) end
  return store:delete_object(kd, s, key, existing, opts)
end

-- The namespace controller's last step: /finalize, then the delete.
function namespace.finalize_namespace(store, kd, s, name)
  local obj = s.objects[name]
  if not obj then return end
  local new = value.copy(obj)
  new.spec = new.spec or {}
  new.spec.finalizers = nil
  if next(new.spec) == nil then new.spec = {} end
  if not value.equal(new, obj) then store:commit(s, name, new, obj, "MODIFIED") end
  obj = s.objects[name]
  if obj then store:delete_object(kd, s, name, obj, {}) end
end

---------------------------------------------------------------------------
-- ConfigMap, Secret
---------------------------------------------------------------------------

local function check_string_map(obj, field, kind_name, base64)
  local m = obj[field]
  if m == nil or m == null then obj[field] = nil; return nil end
  if value.kind(m) ~= "object" then
    return string.format("json: cannot unmarshal %s into Go struct field %s.%s of type map[string]%s",
      value.kind(m), kind_name, field, base64 and "[]uint8" or "string")
  end
  for _, k in ipairs(value.keys(m)) do
    local v = m[k]
    if v == null then
      m[k] = ""
    elseif type(v) ~= "string" then
      return string.format("json: cannot unmarshal %s into Go struct field %s.%s of type %s",
        value.kind(v), kind_name, field, base64 and "[]uint8" or "string")
    elseif base64 then
      local _, err = value.base64_decode(v)
      if err then return err end
    end
  end
  return nil
end

local function data_key_errors(obj, field, errs)
  local m = obj[field]
  if value.kind(m) ~= "object" then return 0 end
  local total = 0
  for _, k in ipairs(value.keys(m)) do
    for _, msg in ipairs(schema.is_config_map_key(k)) do
      errs[#errs + 1] = E.invalid(field .. "[" .. k .. "]", k, msg)
    end
    total = total + #k + #m[k]
  end
  return total
end

local configmap = {
  group = "", version = "v1", kind = "ConfigMap", plural = "configmaps", singular = "configmap",
  namespaced = true, short_names = { "cm" }, categories = {}, list_kind = "ConfigMapList",
  core = true, verbs = verbs_all,
  known_fields = { data = true, binaryData = true, immutable = true },
  patch_meta = patch_meta(),
  field_order = order({ "kind", "apiVersion", "metadata", "immutable", "data", "binaryData" }, {
    data = { map = {} }, binaryData = { map = {} } }),
}

function configmap.decode_check(obj)
  return check_string_map(obj, "data", "ConfigMap", false)
    or check_string_map(obj, "binaryData", "ConfigMap", true)
end

function configmap.validate(obj)
  local errs = {}
  local total = data_key_errors(obj, "data", errs)
  if value.kind(obj.binaryData) == "object" then
    for _, k in ipairs(value.keys(obj.binaryData)) do
      for _, msg in ipairs(schema.is_config_map_key(k)) do
        errs[#errs + 1] = E.invalid("binaryData[" .. k .. "]", k, msg)
      end
      if value.kind(obj.data) == "object" and obj.data[k] ~= nil then
        errs[#errs + 1] = E.invalid("binaryData[" .. k .. "]", k, "duplicate of key present in data")
      end
      total = total + #k + #(value.base64_decode(obj.binaryData[k]) or "")
    end
  end
  if total > 1024 * 1024 then errs[#errs + 1] = E.too_long_bytes("", 1024 * 1024) end
  return errs
end

local function immutable_errors(new, old, errs, fields)
  if old.immutable == true then
    if new.immutable ~= true then
      errs[#errs + 1] = E.forbidden("immutable", "field is immutable when `immutable` is set")
    end
    for _, f in ipairs(fields) do
      if not value.equal(new[f], old[f]) then
        errs[#errs + 1] = E.forbidden(f, "field is immutable when `immutable` is set")
      end
    end
  end
end

function configmap.validate_update(new, old)
  local errs = configmap.validate(new)
  immutable_errors(new, old, errs, { "data", "binaryData" })
  return errs
end

local secret = {
  group = "", version = "v1", kind = "Secret", plural = "secrets", singular = "secret",
  namespaced = true, short_names = {}, categories = {}, list_kind = "SecretList",
  core = true, verbs = verbs_all,
  known_fields = { data = true, stringData = true, type = true, immutable = true },
  patch_meta = patch_meta(),
  selectable_fields = { "type" },
  field_order = order({ "kind", "apiVersion", "metadata", "immutable", "data", "stringData", "type" }, {
    data = { map = {} } }),
}

function secret.decode_check(obj)
  return check_string_map(obj, "data", "Secret", true)
    or check_string_map(obj, "stringData", "Secret", false)
end

-- stringData is write-only: merged into data (base64) before storing.
local function fold_string_data(obj)
  if value.kind(obj.stringData) == "object" then
    local data = value.kind(obj.data) == "object" and obj.data or {}
    for k, v in pairs(obj.stringData) do data[k] = value.base64_encode(v) end
    obj.data = data
  end
  obj.stringData = nil
end

function secret.prepare_create(obj)
  fold_string_data(obj)
  if obj.type == nil or obj.type == "" then obj.type = "Opaque" end
end

function secret.prepare_update(new, old)
  fold_string_data(new)
  if new.type == nil or new.type == "" then new.type = old.type end
end

function secret.validate(obj)
  local errs = {}
  local total = data_key_errors(obj, "data", errs)
  if total > 1024 * 1024 then errs[#errs + 1] = E.too_long_bytes("data", 1024 * 1024) end
  local t = obj.type
  local data = value.kind(obj.data) == "object" and obj.data or {}
  if t == "kubernetes.io/tls" then
    if data["tls.crt"] == nil then errs[#errs + 1] = E.required("data[tls.crt]", "") end
    if data["tls.key"] == nil then errs[#errs + 1] = E.required("data[tls.key]", "") end
  elseif t == "kubernetes.io/dockerconfigjson" and data[".dockerconfigjson"] == nil then
    errs[#errs + 1] = E.required("data[.dockerconfigjson]", "")
  elseif t == "kubernetes.io/basic-auth" and data.username == nil and data.password == nil then
    errs[#errs + 1] = E.required("data[username]", "")
    errs[#errs + 1] = E.required("data[password]", "")
  end
  return errs
end

function secret.validate_update(new, old)
  local errs = secret.validate(new)
  if new.type ~= old.type then errs[#errs + 1] = E.invalid("type", new.type, "field is immutable") end
  immutable_errors(new, old, errs, { "data" })
  return errs
end

function secret.field_labels(obj) return { type = str(obj.type) } end

---------------------------------------------------------------------------
-- Events: core/v1 is the storage form; events.k8s.io/v1 renames fields.
---------------------------------------------------------------------------

local event_fields = {
  involvedObject = true, reason = true, message = true, source = true, firstTimestamp = true,
  lastTimestamp = true, count = true, type = true, eventTime = true, series = true, action = true,
  related = true, reportingComponent = true, reportingInstance = true,
}

local object_ref_order = { "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath" }

local event = {
  group = "", version = "v1", kind = "Event", plural = "events", singular = "event",
  namespaced = true, short_names = { "ev" }, categories = {}, list_kind = "EventList",
  verbs = verbs_all, name_validation = "path_segment", allow_create_on_update = true,
  known_fields = event_fields,
  patch_meta = patch_meta(),
  types = { type = "object", properties = { involvedObject = { type = "object",
    ["x-kubernetes-map-type"] = "atomic" },
    related = { type = "object", ["x-kubernetes-map-type"] = "atomic" } } },
  zero = { involvedObject = {}, source = {}, firstTimestamp = null, lastTimestamp = null, eventTime = null,
           reportingComponent = "", reportingInstance = "" },
  selectable_fields = { "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
    "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
    "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type" },
  field_order = order({ "kind", "apiVersion", "metadata", "involvedObject", "reason", "message", "source",
    "firstTimestamp", "lastTimestamp", "count", "type", "eventTime", "series", "action", "related",
    "reportingComponent", "reportingInstance" }, {
    involvedObject = object_ref_order, related = object_ref_order,
    source = { "component", "host" }, series = { "count", "lastObservedTime" } }),
}

-- Fields Go always writes for a core/v1 Event (non-omitempty zero values).
local function event_zero_fields(obj)
  if obj.involvedObject == nil then obj.involvedObject = {} end
  if obj.source == nil then obj.source = {} end
  for _, f in ipairs({ "firstTimestamp", "lastTimestamp", "eventTime" }) do
    if obj[f] == nil then obj[f] = null end
  end
  if obj.reportingComponent == nil then obj.reportingComponent = "" end
  if obj.reportingInstance == nil then obj.reportingInstance = "" end
end

function event.prepare_create(obj) event_zero_fields(obj) end
function event.prepare_update(new) event_zero_fields(new) end

local function is_set(v) return v ~= nil and v ~= null and v ~= "" end

-- ValidateEventCreate/legacyValidateEvent; events_api: the request came
-- through events.k8s.io (its field names, and the strict rules).
local function validate_event(obj, events_api)
  local errs = {}
  local ns = obj.metadata.namespace or ""
  local io = value.kind(obj.involvedObject) == "object" and obj.involvedObject or {}
  local io_path = events_api and "regarding.namespace" or "involvedObject.namespace"
  local controller_path = events_api and "reportingController" or "reportingComponent"
  if not is_set(obj.eventTime) then
    if str(io.namespace) == "" then
      if ns ~= "" and ns ~= "default" then errs[#errs + 1] = E.invalid(io_path, str(io.namespace),
        "does not match event.namespace") end
    elseif ns ~= io.namespace then
      errs[#errs + 1] = E.invalid(io_path, io.namespace, "does not match event.namespace")
    end
  else
    if str(io.namespace) == "" and ns ~= "default" and ns ~= "kube-system" then
      errs[#errs + 1] = E.invalid(io_path, str(io.namespace), "does not match event.namespace")
    end
    local rc = str(obj.reportingComponent)
    if rc == "" then errs[#errs + 1] = E.required(controller_path, "") end
    for _, m in ipairs(schema.is_qualified_name(rc)) do errs[#errs + 1] = E.invalid(controller_path, rc,
      m) end
    if str(obj.reportingInstance) == "" then errs[#errs + 1] = E.required("reportingInstance", "") end
    if #str(obj.reportingInstance) > 128 then errs[#errs + 1] = E.invalid("reportingInstance", "",
      "can have at most 128 characters") end
    if str(obj.action) == "" then errs[#errs + 1] = E.required("action", "") end
    if #str(obj.action) > 128 then errs[#errs + 1] = E.invalid("action", "",
      "can have at most 128 characters") end
    if str(obj.reason) == "" then errs[#errs + 1] = E.required("reason", "") end
    if #str(obj.reason) > 128 then errs[#errs + 1] = E.invalid("reason", "",
      "can have at most 128 characters") end
    if #str(obj.message) > 1024 then
      errs[#errs + 1] = E.invalid(events_api and "note" or "message", "", "can have at most 1024 characters")
    end
  end
  for _, m in ipairs(schema.is_dns1123_subdomain(ns)) do errs[#errs + 1] = E.invalid("namespace", ns, m) end
  if events_api then
    for _, e in ipairs(schema.validate_object_meta(obj.metadata, true, schema.name_validators.subdomain,
      { core = true })) do
      errs[#errs + 1] = e
    end
    if not is_set(obj.eventTime) then errs[#errs + 1] = E.required("eventTime", "") end
    if obj.type ~= "Normal" and obj.type ~= "Warning" then
      errs[#errs + 1] = E.invalid("type", "", "has invalid value: " .. str(obj.type))
    end
    if is_set(obj.firstTimestamp) then errs[#errs + 1] = E.invalid("deprecatedFirstTimestamp", "",
      "needs to be unset") end
    if is_set(obj.lastTimestamp) then errs[#errs + 1] = E.invalid("deprecatedLastTimestamp", "",
      "needs to be unset") end
    if (obj.count or 0) ~= 0 then errs[#errs + 1] = E.invalid("deprecatedCount", "", "needs to be unset") end
    local src = value.kind(obj.source) == "object" and obj.source or {}
    if str(src.component) ~= "" or str(src.host) ~= "" then
      errs[#errs + 1] = E.invalid("deprecatedSource", "", "needs to be unset")
    end
  end
  return errs
end

function event.validate(obj) return validate_event(obj, false) end
function event.validate_update() return {} end

function event.field_labels(obj)
  local io = value.kind(obj.involvedObject) == "object" and obj.involvedObject or {}
  local src = value.kind(obj.source) == "object" and obj.source or {}
  return {
    ["involvedObject.kind"] = str(io.kind), ["involvedObject.namespace"] = str(io.namespace),
    ["involvedObject.name"] = str(io.name), ["involvedObject.uid"] = str(io.uid),
    ["involvedObject.apiVersion"] = str(io.apiVersion),
      ["involvedObject.resourceVersion"] = str(io.resourceVersion),
    ["involvedObject.fieldPath"] = str(io.fieldPath), reason = str(obj.reason),
    reportingComponent = str(obj.reportingComponent), source = str(src.component), type = str(obj.type),
  }
end

-- events.k8s.io/v1 name -> core/v1 name.
local renames = {
  regarding = "involvedObject", note = "message", reportingController = "reportingComponent",
  deprecatedSource = "source", deprecatedFirstTimestamp = "firstTimestamp",
  deprecatedLastTimestamp = "lastTimestamp", deprecatedCount = "count",
}
local back = {}
for k, v in pairs(renames) do back[v] = k end

local function rename(obj, map)
  local out = {}
  for k, v in pairs(obj) do out[map[k] or k] = v end
  return out
end

local events_v1 = {
  group = "events.k8s.io", version = "v1", kind = "Event", plural = "events", singular = "event",
  namespaced = true, short_names = { "ev" }, categories = {}, list_kind = "EventList",
  verbs = verbs_all, storage = "/events", allow_create_on_update = true,
  known_fields = { eventTime = true, series = true, reportingController = true, reportingInstance = true,
    action = true, reason = true, regarding = true, related = true, note = true, type = true,
    deprecatedSource = true, deprecatedFirstTimestamp = true, deprecatedLastTimestamp = true,
    deprecatedCount = true },
  patch_meta = patch_meta(),
  types = event.types, zero = event.zero,
  selectable_fields = event.selectable_fields, field_labels = event.field_labels,
  field_order = order({ "kind", "apiVersion", "metadata", "eventTime", "series", "reportingController",
    "reportingInstance", "action", "reason", "regarding", "related", "note", "type", "deprecatedSource",
    "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount" }, {
    regarding = object_ref_order, related = object_ref_order,
    deprecatedSource = { "component", "host" }, series = { "count", "lastObservedTime" } }),
}

function events_v1.to_storage(obj) return rename(obj, renames) end

function events_v1.from_storage(obj)
  local out = rename(obj, back)
  -- events.k8s.io omits what core/v1 writes as zero values.
  for _, k in ipairs({ "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "eventTime", "note",
      "reportingController", "reportingInstance", "reason", "action", "type" }) do
    if out[k] == null or out[k] == "" then out[k] = nil end
  end
  local src = out.deprecatedSource
  if value.kind(src) == "object" and next(src) == nil then out.deprecatedSource = nil end
  if out.deprecatedCount == 0 then out.deprecatedCount = nil end
  if value.kind(out.regarding) == "object" and next(out.regarding) == nil then out.regarding = nil end
  return out
end

events_v1.prepare_create = event.prepare_create
events_v1.prepare_update = event.prepare_update
function events_v1.validate(obj) return validate_event(obj, true) end
function events_v1.validate_update() return {} end

---------------------------------------------------------------------------
-- Lease
---------------------------------------------------------------------------

local lease = {
  group = "coordination.k8s.io", version = "v1", kind = "Lease", plural = "leases", singular = "lease",
  namespaced = true, short_names = {}, categories = {}, list_kind = "LeaseList",
  core = true, verbs = verbs_all,
  known_fields = { spec = true },
  patch_meta = patch_meta(),
  zero = { spec = {} },
  field_order = order({ "kind", "apiVersion", "metadata", "spec" }, {
    spec = { "holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions",
             "strategy", "preferredHolder" } }),
}

function lease.prepare_create(obj)
  if obj.spec == nil or obj.spec == null then obj.spec = {} end
end
lease.prepare_update = lease.prepare_create

function lease.validate(obj)
  local errs = {}
  local spec = value.kind(obj.spec) == "object" and obj.spec or {}
  local d = spec.leaseDurationSeconds
  if d ~= nil and d ~= null and d <= 0 then
    errs[#errs + 1] = E.invalid("spec.leaseDurationSeconds", d, "must be greater than 0")
  end
  local t = spec.leaseTransitions
  if t ~= nil and t ~= null and t < 0 then
    errs[#errs + 1] = E.invalid("spec.leaseTransitions", t, "must be greater than or equal to 0")
  end
  return errs
end

---------------------------------------------------------------------------
-- CustomResourceDefinition
---------------------------------------------------------------------------

local CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

local schema_order = {
  "id", "$schema", "$ref", "description", "type", "format", "title", "default", "maximum",
  "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
  "minItems", "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties", "required", "items",
  "allOf", "oneOf", "anyOf", "not", "properties", "additionalProperties", "patternProperties",
  "dependencies", "additionalItems", "definitions", "externalDocs", "example", "nullable",
  "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
  "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type", "x-kubernetes-validations",
}
schema_order.fields = {
  items = schema_order, ["not"] = schema_order, allOf = schema_order, oneOf = schema_order,
  anyOf = schema_order, additionalProperties = schema_order, additionalItems = schema_order,
  properties = { map = schema_order }, patternProperties = { map = schema_order },
  definitions = { map = schema_order },
  ["x-kubernetes-validations"] = { "rule", "message", "messageExpression", "reason", "fieldPath",
    "optionalOldSelf" },
}

local names_order = { "plural", "singular", "shortNames", "kind", "listKind", "categories" }

local crd = {
  group = "apiextensions.k8s.io", version = "v1", kind = "CustomResourceDefinition",
  plural = "customresourcedefinitions", singular = "customresourcedefinition", namespaced = false,
  short_names = { "crd", "crds" }, categories = { "api-extensions" },
    list_kind = "CustomResourceDefinitionList",
  subresources = { status = true }, generation = true, allow_unconditional_update = false,
  verbs = verbs_all, gc_unsupported = false,
  known_fields = { spec = true, status = true },
  patch_meta = patch_meta(),
  types = { type = "object", properties = {
    spec = { type = "object", properties = { versions = { type = "array" } } },
    status = { type = "object", properties = {
      conditions = { type = "array", ["x-kubernetes-list-type"] = "map",
        ["x-kubernetes-list-map-keys"] = { "type" } } } },
  } },
  zero = { metadata = { creationTimestamp = null },
           spec = { group = "", names = { plural = "", kind = "" }, scope = "", versions = null },
           status = { conditions = null, acceptedNames = { plural = "", kind = "" },
             storedVersions = null } },
  field_order = order({ "kind", "apiVersion", "metadata", "spec", "status" }, {
    spec = { "group", "names", "scope", "versions", "conversion", "preserveUnknownFields", fields = {
      names = names_order,
      versions = { "name", "served", "storage", "deprecated", "deprecationWarning", "schema", "subresources",
        "additionalPrinterColumns", "selectableFields", fields = {
          schema = { "openAPIV3Schema", fields = { openAPIV3Schema = schema_order } },
          subresources = { "status", "scale" },
          additionalPrinterColumns = { "name", "type", "format", "description", "priority", "jsonPath" },
        } },
      conversion = { "strategy", "webhook" },
    } },
    status = { "conditions", "acceptedNames", "storedVersions", fields = {
      conditions = { "type", "status", "lastTransitionTime", "reason", "message" },
      acceptedNames = names_order } },
  }),
}

local function storage_version(obj)
  for _, v in ipairs(obj.spec and obj.spec.versions or {}) do
    if v.storage == true then return v.name end
  end
end

function crd.prepare_create(obj)
  local spec = value.kind(obj.spec) == "object" and obj.spec or {}
  obj.spec = spec
  local names = value.kind(spec.names) == "object" and spec.names or {}
  spec.names = names
  if str(names.singular) == "" and str(names.kind) ~= "" then names.singular = names.kind:lower() end
  if str(names.listKind) == "" and str(names.kind) ~= "" then names.listKind = names.kind .. "List" end
  if spec.conversion == nil or spec.conversion == null then spec.conversion = { strategy = "None" } end
  local stored = json.array({})
  local sv = storage_version(obj)
  if sv then stored[1] = sv end
  obj.status = { conditions = null, acceptedNames = { plural = "", kind = "" }, storedVersions = stored }
end

function crd.prepare_update(new, old, _, sub)
  if sub == "status" then return end
  local spec = value.kind(new.spec) == "object" and new.spec or {}
  new.spec = spec
  local names = value.kind(spec.names) == "object" and spec.names or {}
  spec.names = names
  if str(names.singular) == "" and str(names.kind) ~= "" then names.singular = names.kind:lower() end
  if str(names.listKind) == "" and str(names.kind) ~= "" then names.listKind = names.kind .. "List" end
  if spec.conversion == nil or spec.conversion == null then spec.conversion = { strategy = "None" } end
  new.status = value.copy(old.status)
  local sv = storage_version(new)
  if sv and new.status then
    local stored = new.status.storedVersions
    if value.kind(stored) ~= "array" then stored = json.array({}) end
    local has = false
    for _, v in ipairs(stored) do if v == sv then has = true end end
    if not has then stored[#stored + 1] = sv end
    new.status.storedVersions = stored
  end
end

function crd.validate(obj)
  local errs = {}
  local spec = value.kind(obj.spec) == "object" and obj.spec or {}
  local names = value.kind(spec.names) == "object" and spec.names or {}
  local group, plural = str(spec.group), str(names.plural)
  if obj.metadata.name ~= plural .. "." .. group then
    errs[#errs + 1] = E.invalid("metadata.name", obj.metadata.name,
      'must be spec.names.plural+"."+spec.group')
  end
  if group == "" then
    errs[#errs + 1] = E.required("spec.group", "")
  elseif not group:find(".", 1, true) then
    errs[#errs + 1] = E.invalid("spec.group", group, "should be a domain with at least one dot")
  end
  if spec.scope ~= "Namespaced" and spec.scope ~= "Cluster" then
    errs[#errs + 1] = E.not_supported("spec.scope", str(spec.scope), { "Cluster", "Namespaced" })
  end
  if plural == "" then errs[#errs + 1] = E.required("spec.names.plural", "") end
  if str(names.kind) == "" then errs[#errs + 1] = E.required("spec.names.kind", "") end
  local versions = value.kind(spec.versions) == "array" and spec.versions or {}
  if #versions == 0 then
    errs[#errs + 1] = E.invalid("spec.versions", json.array({}),
      "must have exactly one version marked as storage version")
  else
    local storage = 0
    for i, v in ipairs(versions) do
      local p = string.format("spec.versions[%d]", i - 1)
      if v.storage == true then storage = storage + 1 end
      if str(v.name) == "" then errs[#errs + 1] = E.required(p .. ".name", "") end
      local sch = v.schema and v.schema.openAPIV3Schema
      if value.kind(sch) ~= "object" then
        errs[#errs + 1] = E.required(p .. ".schema.openAPIV3Schema", "schemas are required")
      end
    end
    if storage ~= 1 then
      errs[#errs + 1] = E.invalid("spec.versions", versions,
        "must have exactly one version marked as storage version")
    end
  end
  return errs
end

function crd.validate_update(new)
  return crd.validate(new)
end

local function set_condition(status, cond)
  local conds = value.kind(status.conditions) == "array" and status.conditions or json.array({})
  for i, c in ipairs(conds) do
    if c.type == cond.type then
      if c.status == cond.status then cond.lastTransitionTime = c.lastTransitionTime end
      conds[i] = cond
      status.conditions = conds
      return
    end
  end
  conds[#conds + 1] = cond
  status.conditions = conds
end

-- The CRD REST Delete: mark Terminating with the cleanup finalizer; the
-- finalizer controller deletes the custom resources, then the CRD goes.
function crd.delete(store, kd, s, key, existing, opts)
  if existing.metadata.deletionTimestamp then
    return store:delete_object(kd, s, key, existing, opts)
  end
  local new = value.copy(existing)
  new.metadata.deletionTimestamp = now(store)
  local fins = value.kind(new.metadata.finalizers) == "array" and new.metadata.finalizers or json.array({})
  local has = false
  for _, f in ipairs(fins) do if f == CLEANUP_FINALIZER then has = true end end
  if not has then fins[#fins + 1] = CLEANUP_FINALIZER end
  new.metadata.finalizers = fins
  new.status = new.status or {}
  set_condition(new.status, { type = "Terminating", status = "True", lastTransitionTime = now(store),
    reason = "InstanceDeletionPending",
    message = "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon" })
  if opts.dry_run then return store_mod.present(kd, new) end
  store:commit(s, key, new, existing, "MODIFIED")
  return store_mod.present(kd, new)
end

---------------------------------------------------------------------------
-- Custom resources
---------------------------------------------------------------------------

local default_printer_columns = json.array({
  { name = "Age", type = "date", jsonPath = ".metadata.creationTimestamp" },
})

-- The kind_def of a CRD's storage version, and one per served version.
function M.kind_from_crd(obj)
  local spec = obj.spec or {}
  local names = spec.names or {}
  local group = spec.group
  local all, storage_kd = {}, nil
  for _, v in ipairs(spec.versions or {}) do
    if v.served ~= false then
      local sub = v.subresources or {}
      local kd = {
        group = group, version = v.name, kind = names.kind, plural = names.plural,
        singular = names.singular or (names.kind or ""):lower(), namespaced = spec.scope ~= "Cluster",
        short_names = names.shortNames or {}, categories = names.categories or {},
        list_kind = names.listKind or ((names.kind or "") .. "List"),
        subresources = { status = sub.status ~= nil and sub.status ~= null, scale = sub.scale },
        printer_columns = v.additionalPrinterColumns or default_printer_columns,
        schema = v.schema and v.schema.openAPIV3Schema,
        types = v.schema and v.schema.openAPIV3Schema,
        custom = true, generation = true, allow_unconditional_update = false,
        storage = group .. "/" .. names.plural, storage_version = v.storage == true,
        deprecated = v.deprecated, deprecation_warning = v.deprecationWarning,
        verbs = verbs_all, crd_name = obj.metadata and obj.metadata.name,
        selectable_fields = {},
      }
      for _, f in ipairs(v.selectableFields or {}) do
        kd.selectable_fields[#kd.selectable_fields + 1] = (f.jsonPath or ""):gsub("^%.", "")
      end
      if #kd.selectable_fields > 0 then
        kd.field_labels = function(o)
          local out = {}
          for _, f in ipairs(kd.selectable_fields) do
            local x = o
            for part in f:gmatch("[^.]+") do x = type(x) == "table" and x[part] or nil end
            out[f] = x == nil and "" or value.go_v(x)
          end
          return out
        end
      end
      all[#all + 1] = kd
      if kd.storage_version then storage_kd = kd end
    end
  end
  return storage_kd or all[1], all
end

---------------------------------------------------------------------------
-- Controllers
---------------------------------------------------------------------------

local function crd_established(obj)
  local conds = obj.status and obj.status.conditions
  for _, c in ipairs(value.kind(conds) == "array" and conds or {}) do
    if c.type == "Established" and c.status == "True" then return true end
  end
  return false
end

-- New kind_defs replace the old ones in place, so the stored custom
-- resources (and their watchers) survive an update of their CRD.
local function register_crd(store, obj, registered)
  local name = obj.metadata.name
  local _, all = M.kind_from_crd(obj)
  for _, kd in ipairs(all) do store:add_kind(kd) end
  for _, kd in ipairs(registered[name] or {}) do store:remove_kind(kd) end
  registered[name] = all
end

local function establish(store, crd_kd, name, delay)
  store:schedule(function(st)
    if delay > 0 then require("smop.task").sleep(delay) end
    local opts = { subresource = "status", field_manager = "kube-apiserver" }
    st:modify(crd_kd, nil, name, function(o)
      if o.metadata.deletionTimestamp or crd_established(o) then return false end
      local t = now(st)
      o.status.acceptedNames = value.copy(o.spec.names)
      set_condition(o.status, { type = "NamesAccepted", status = "True", lastTransitionTime = t,
        reason = "NoConflicts", message = "no conflicts found" })
      set_condition(o.status, { type = "Established", status = "False", lastTransitionTime = t,
        reason = "Installing", message = "the initial names have been accepted" })
    end, opts)
    st:modify(crd_kd, nil, name, function(o)
      if o.metadata.deletionTimestamp or crd_established(o) then return false end
      set_condition(o.status, { type = "Established", status = "True", lastTransitionTime = now(st),
        reason = "InitialNamesAccepted", message = "the initial names have been accepted" })
    end, opts)
  end)
end

-- The CRD finalizer: delete every instance, then let the CRD go.
local function cleanup_crd(store, crd_kd, name, registered)
  local s = store.storages["apiextensions.k8s.io/customresourcedefinitions"]
  local obj = s and s.objects[name]
  if not obj or not obj.metadata.deletionTimestamp then return end
  local kd = (registered[name] or {})[1]
  local remaining = 0
  if kd then
    local cs = store.storages[kd.storage]
    if cs then
      local keys = {}
      for k in pairs(cs.objects) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do
        local o = cs.objects[k]
        if o and not o.metadata.deletionTimestamp then
          store:delete_object(cs.def, cs, k, o, { propagation_policy = "Background" })
        end
        if cs.objects[k] then remaining = remaining + 1 end
      end
    end
  end
  if remaining > 0 then return end
  store:modify(crd_kd, nil, name, function(o)
    local kept = json.array({})
    for _, f in ipairs(o.metadata.finalizers or {}) do
      if f ~= CLEANUP_FINALIZER then kept[#kept + 1] = f end
    end
    if #kept == #(o.metadata.finalizers or {}) then return false end
    o.metadata.finalizers = #kept > 0 and kept or nil
  end, { field_manager = "kube-apiserver" })
end

M.kinds = {
  namespace = namespace, configmap = configmap, secret = secret, event = event,
  events_v1 = events_v1, lease = lease, crd = crd,
}

function M.install(store, opts)
  opts = opts or {}
  local delay = opts.establish_delay or 0.02
  for _, kd in ipairs({ namespace, configmap, secret, event, events_v1, lease, crd }) do
    -- a private copy per store, so hooks and kinds of two stores stay apart
    local own = {}
    for k, v in pairs(kd) do own[k] = v end
    store:add_kind(own)
  end
  local crd_kd = store:kind_for("apiextensions.k8s.io", "v1", "customresourcedefinitions")
  local registered = {}
  local terminating = {}
  store:on_commit(function(ev, kd)
    if kd.group == "apiextensions.k8s.io" and kd.plural == "customresourcedefinitions" then
      local obj = ev.object
      local name = obj.metadata.name
      if ev.type == "DELETED" then
        for _, k in ipairs(registered[name] or {}) do store:remove_kind(k) end
        registered[name] = nil
        terminating[name] = nil
        return
      end
      if ev.type == "ADDED" or not ev.prev or not value.equal(ev.prev.spec, obj.spec) then
        register_crd(store, obj, registered)
      end
      if obj.metadata.deletionTimestamp then
        terminating[name] = true
        store:schedule(function(st) cleanup_crd(st, crd_kd, name, registered) end)
      elseif not crd_established(obj) and ev.type == "ADDED" then
        establish(store, crd_kd, name, delay)
      end
    elseif kd.custom and ev.type == "DELETED" and kd.crd_name and terminating[kd.crd_name] then
      local name = kd.crd_name
      store:schedule(function(st) cleanup_crd(st, crd_kd, name, registered) end)
    end
  end)
  local ns_kd = store:kind_for("", "v1", "namespaces")
  for _, name in ipairs(opts.namespaces or { "default", "kube-system", "kube-public", "kube-node-lease" }) do
    store:create(ns_kd, nil, { apiVersion = "v1", kind = "Namespace", metadata = { name = name } },
      { field_manager = "kube-apiserver" })
  end
  return store:kinds()
end

-- The kind_def a CRD file describes, for loading crds/ at start: creates the
-- CRD through the store (so it is listed and watched like one applied).
function M.load_crd(store, obj, opts)
  local crd_kd = store:kind_for("apiextensions.k8s.io", "v1", "customresourcedefinitions")
  return store:create(crd_kd, nil, obj, opts or { field_manager = "kube-apiserver" })
end

-- The managedFields type tree of ObjectMeta, for encoders and specs.
M.object_meta_types = managed.object_meta_types

return M
