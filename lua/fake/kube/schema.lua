-- Validation as kube-apiserver 1.32 does it, worded as it words it.
--
-- Three parts:
--   * field errors (k8s.io/apimachinery/pkg/util/validation/field) and the 422
--     Status they aggregate into (errors.NewInvalid);
--   * ObjectMeta rules (names, labels, annotations, finalizers, owner
--     references; create and update);
--   * custom resources against their CRD's structural openAPIV3Schema, as
--     kube-openapi's SchemaValidator checks them (validator order: type,
--     allOf/anyOf/oneOf/not, string, format, number, items, enum, object),
--     plus pruning of unknown fields and defaulting.
--
-- Go iterates a schema's properties in random order; here they go in sorted
-- order, so the causes of one object always come out the same.
local value = require("fake.kube.value")
local status = require("fake.kube.status")

local ok_regex, regex = pcall(require, "smop.regex")
if not ok_regex then regex = nil end

local M = {}

---------------------------------------------------------------------------
-- Field errors
---------------------------------------------------------------------------

local type_words = {
  FieldValueNotFound = "Not found", FieldValueRequired = "Required value",
  FieldValueDuplicate = "Duplicate value", FieldValueInvalid = "Invalid value",
  FieldValueNotSupported = "Unsupported value", FieldValueForbidden = "Forbidden",
  FieldValueTooLong = "Too long", FieldValueTooMany = "Too many",
  InternalError = "Internal error", FieldValueTypeInvalid = "Invalid value",
}

-- A value printed as field.Error prints its BadValue; `repr` overrides (for Go
-- types a JSON value cannot be, like the uint64 of a missing resourceVersion).
local OMIT = {}

local function new_error(kind, field, bad, detail, repr)
  return { type = kind, field = field or "", value = bad, detail = detail or "", repr = repr }
end

M.errors = {
  required = function(f, detail) return new_error("FieldValueRequired", f, "", detail) end,
  invalid = function(f, v, detail, repr) return new_error("FieldValueInvalid", f, v, detail, repr) end,
  type_invalid = function(f, v, detail) return new_error("FieldValueTypeInvalid", f, v, detail) end,
  forbidden = function(f, detail) return new_error("FieldValueForbidden", f, "", detail) end,
  duplicate = function(f, v) return new_error("FieldValueDuplicate", f, v) end,
  not_found = function(f, v) return new_error("FieldValueNotFound", f, v) end,
  not_supported = function(f, v, values)
    local detail = ""
    if values and #values > 0 then
      local q = {}
      for i, s in ipairs(values) do q[i] = value.go_quote(s) end
      detail = "supported values: " .. table.concat(q, ", ")
    end
    return new_error("FieldValueNotSupported", f, v, detail)
  end,
  too_long = function(f, v, max)
    local detail = max >= 0 and string.format("may not be longer than %d", max) or "value is too long"
    return new_error("FieldValueTooLong", f, v, detail)
  end,
  too_long_bytes = function(f, max)
    return new_error("FieldValueTooLong", f, "", string.format("must have at most %d bytes", max))
  end,
  too_many = function(f, actual, max)
    local detail = max >= 0 and string.format("must have at most %d items", max) or "has too many items"
    return new_error("FieldValueTooMany", f, actual >= 0 and actual or OMIT, detail)
  end,
}
local E = M.errors

-- field.Error.ErrorBody
function M.error_body(e)
  local word = type_words[e.type] or e.type
  local s
  if e.type == "FieldValueRequired" or e.type == "FieldValueForbidden"
      or e.type == "FieldValueTooLong" or e.type == "InternalError" or e.value == OMIT then
    s = word
  elseif e.repr then
    s = word .. ": " .. e.repr
  else
    local v, k = e.value, value.kind(e.value)
    if k == "null" then
      s = word .. ": null"
    elseif k == "string" then
      s = word .. ": " .. value.go_quote(v)
    elseif k == "integer" or k == "number" or k == "boolean" then
      s = word .. ": " .. value.go_v(v)
    else
      s = word .. ": " .. value.go_sharp(v)
    end
  end
  if e.detail ~= "" then s = s .. ": " .. e.detail end
  return s
end

function M.error_string(e)
  return e.field .. ": " .. M.error_body(e)
end

-- The StatusCause of one error.
function M.cause(e)
  return { reason = e.type, message = M.error_body(e), field = e.field }
end

-- utilerrors.Aggregate of an ErrorList: duplicates dropped, one message bare,
-- several in brackets.
function M.aggregate(errs)
  local seen, msgs = {}, {}
  for _, e in ipairs(errs) do
    local m = M.error_string(e)
    if not seen[m] then seen[m] = true; msgs[#msgs + 1] = m end
  end
  if #msgs == 0 then return nil end
  if #msgs == 1 then return msgs[1] end
  return "[" .. table.concat(msgs, ", ") .. "]"
end

-- errors.NewInvalid: qualified is the GroupKind string ("TrainingJob.sagemaker.aws.amazon.com").
function M.invalid_status(group, kind, name, errs)
  local qualified = group == "" and kind or (kind .. "." .. group)
  local causes = {}
  for i, e in ipairs(errs) do causes[i] = M.cause(e) end
  local agg = M.aggregate(errs)
  local msg = string.format('%s "%s" is invalid', qualified, name)
  if agg then msg = msg .. ": " .. agg end
  return status.new(422, "Invalid", msg, status.details(name, group, kind, { causes = causes }))
end

---------------------------------------------------------------------------
-- apimachinery/pkg/util/validation
---------------------------------------------------------------------------

local function regex_error(msg, fmt, ...)
  local examples = { ... }
  if #examples == 0 then
    return msg .. " (regex used for validation is '" .. fmt .. "')"
  end
  msg = msg .. " (e.g. "
  for i, ex in ipairs(examples) do
    if i > 1 then msg = msg .. " or " end
    msg = msg .. "'" .. ex .. "', "
  end
  return msg .. "regex used for validation is '" .. fmt .. "')"
end
M.regex_error = regex_error

local function max_len_error(n) return string.format("must be no more than %d characters", n) end

-- Lua-pattern twins of the Go regexps, so validation works without smop.regex.
local function is_dns_label_syntax(s)
  return s:match("^[a-z0-9]$") ~= nil or s:match("^[a-z0-9][-a-z0-9]*[a-z0-9]$") ~= nil
end

local function is_dns_subdomain_syntax(s)
  if s == "" then return false end
  for part in (s .. "."):gmatch("(.-)%.") do
    if not is_dns_label_syntax(part) then return false end
  end
  return s:sub(-1) ~= "."
end

local dns1123_label_fmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
local dns1123_subdomain_fmt = dns1123_label_fmt .. "(\\." .. dns1123_label_fmt .. ")*"
local dns1123_subdomain_msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric " ..
  "characters, '-' or '.', and must start and end with an alphanumeric character"
local dns1123_label_msg = "a lowercase RFC 1123 label must consist of lower case alphanumeric " ..
  "characters or '-', and must start and end with an alphanumeric character"

function M.is_dns1123_subdomain(s)
  local errs = {}
  if #s > 253 then errs[#errs + 1] = max_len_error(253) end
  if not is_dns_subdomain_syntax(s) then
    errs[#errs + 1] = regex_error(dns1123_subdomain_msg, dns1123_subdomain_fmt, "example.com")
  end
  return errs
end

function M.is_dns1123_label(s)
  local errs = {}
  if #s > 63 then errs[#errs + 1] = max_len_error(63) end
  if not is_dns_label_syntax(s) then
    if is_dns_subdomain_syntax(s) then
      errs[#errs + 1] = "must not contain dots"
    else
      errs[#errs + 1] = regex_error(dns1123_label_msg, dns1123_label_fmt, "my-name", "123-abc")
    end
  end
  return errs
end

local qname_fmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
local qname_msg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end " ..
  "with an alphanumeric character"

local function is_qname_syntax(s)
  return s:match("^[A-Za-z0-9]$") ~= nil or s:match("^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$") ~= nil
end

function M.is_qualified_name(s)
  local errs = {}
  local parts = {}
  for p in (s .. "/"):gmatch("(.-)/") do parts[#parts + 1] = p end
  local name
  if #parts == 1 then
    name = parts[1]
  elseif #parts == 2 then
    local prefix = parts[1]
    name = parts[2]
    if prefix == "" then
      errs[#errs + 1] = "prefix part must be non-empty"
    else
      for _, m in ipairs(M.is_dns1123_subdomain(prefix)) do errs[#errs + 1] = "prefix part " .. m end
    end
  else
    return { "a qualified name " .. regex_error(qname_msg, qname_fmt, "MyName", "my.name", "123-abc")
      .. " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')" }
  end
  if name == "" then
    errs[#errs + 1] = "name part must be non-empty"
  elseif #name > 63 then
    errs[#errs + 1] = "name part " .. max_len_error(63)
  end
  if not is_qname_syntax(name) then
    errs[#errs + 1] = "name part " .. regex_error(qname_msg, qname_fmt, "MyName", "my.name", "123-abc")
  end
  return errs
end

function M.is_label_value(s)
  local errs = {}
  if #s > 63 then errs[#errs + 1] = max_len_error(63) end
  if s ~= "" and not is_qname_syntax(s) then
    errs[#errs + 1] = regex_error("a valid label must be an empty string or consist of alphanumeric " ..
      "characters, '-', '_' or '.', and must start and end with an alphanumeric character",
      "(" .. qname_fmt .. ")?", "MyValue", "my_value", "12345")
  end
  return errs
end

function M.is_config_map_key(s)
  local errs = {}
  if #s > 253 then errs[#errs + 1] = max_len_error(253) end
  if not s:match("^[-._a-zA-Z0-9]+$") then
    errs[#errs + 1] = regex_error("a valid config key must consist of alphanumeric characters, '-', '_' " ..
      "or '.'",
      "[-._a-zA-Z0-9]+", "key.name", "KEY_NAME", "key-name")
  end
  if s == "." then errs[#errs + 1] = "must not be '.'"
  elseif s == ".." then errs[#errs + 1] = "must not be '..'"
  elseif s:sub(1, 2) == ".." then errs[#errs + 1] = "must not start with '..'" end
  return errs
end

-- Name validators: name_fn(name, prefix) -> list of messages.
local function mask_trailing_dash(s)
  if #s > 1 and s:sub(-1) == "-" then return s:sub(1, -2) .. "a" end
  return s
end

M.name_validators = {
  subdomain = function(name, prefix)
    if prefix then name = mask_trailing_dash(name) end
    return M.is_dns1123_subdomain(name)
  end,
  label = function(name, prefix)
    if prefix then name = mask_trailing_dash(name) end
    return M.is_dns1123_label(name)
  end,
  path_segment = function(name, prefix)
    if prefix then return {} end
    if name == "." then return { "may not be '.'" } end
    if name == ".." then return { "may not be '..'" } end
    if name:find("/", 1, true) then return { "may not contain '/'" } end
    if name:find("%", 1, true) then return { "may not contain '%'" } end
    return {}
  end,
}

---------------------------------------------------------------------------
-- ObjectMeta
---------------------------------------------------------------------------

local standard_finalizers = { kubernetes = true, orphan = true, foregroundDeletion = true }
M.standard_finalizers = standard_finalizers

local function sorted_pairs(t)
  local ks = value.keys(t)
  local i = 0
  return function()
    i = i + 1
    if ks[i] ~= nil then return ks[i], t[ks[i]] end
  end
end

local function validate_labels(labels, path, errs)
  if value.kind(labels) ~= "object" then return end
  for k, v in sorted_pairs(labels) do
    for _, m in ipairs(M.is_qualified_name(k)) do errs[#errs + 1] = E.invalid(path, k, m) end
    if type(v) == "string" then
      for _, m in ipairs(M.is_label_value(v)) do errs[#errs + 1] = E.invalid(path, v, m) end
    end
  end
end

local function validate_annotations(ann, path, errs)
  if value.kind(ann) ~= "object" then return end
  local total = 0
  for k, v in sorted_pairs(ann) do
    for _, m in ipairs(M.is_qualified_name(k:lower())) do errs[#errs + 1] = E.invalid(path, k, m) end
    total = total + #k + (type(v) == "string" and #v or 0)
  end
  if total > 256 * 1024 then errs[#errs + 1] = E.too_long_bytes(path, 256 * 1024) end
end

local function validate_owner_references(refs, path, errs)
  if value.kind(refs) ~= "array" then return end
  local first_controller
  for _, ref in ipairs(refs) do
    if type(ref) == "table" then
      local api_version = ref.apiVersion or ""
      local version = api_version:match("/(.*)$") or api_version
      if version == "" then errs[#errs + 1] = E.invalid(path .. ".apiVersion", api_version,
        "version must not be empty") end
      if (ref.kind or "") == "" then errs[#errs + 1] = E.invalid(path .. ".kind", ref.kind or "",
        "must not be empty") end
      if (ref.name or "") == "" then errs[#errs + 1] = E.invalid(path .. ".name", ref.name or "",
        "must not be empty") end
      if (ref.uid or "") == "" then errs[#errs + 1] = E.invalid(path .. ".uid", ref.uid or "",
        "must not be empty") end
      if api_version == "v1" and ref.kind == "Event" then
        errs[#errs + 1] = E.invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner")
      end
      if ref.controller == true then
        local this = (ref.kind or "") .. "/" .. (ref.name or "")
        if first_controller then
          errs[#errs + 1] = E.invalid(path, refs, string.format(
            'Only one reference can have Controller set to true. Found "true" in references for %s and %s',
            first_controller, this))
        else
          first_controller = this
        end
      end
    end
  end
end

-- core = true adds the rule of the core group's types: a finalizer without a
-- '/' must be one of the standard names (custom resources only get a warning).
local function validate_finalizers(fins, path, errs, core)
  if value.kind(fins) ~= "array" then return end
  local orphan, foreground = false, false
  for _, f in ipairs(fins) do
    if type(f) == "string" then
      for _, m in ipairs(M.is_qualified_name(f)) do errs[#errs + 1] = E.invalid(path, f, m) end
      if f == "orphan" then orphan = true end
      if f == "foregroundDeletion" then foreground = true end
    end
  end
  if orphan and foreground then
    errs[#errs + 1] = E.invalid(path, fins, "finalizer orphan and foregroundDeletion cannot be both set")
  end
  if core then
    for i, f in ipairs(fins) do
      if type(f) == "string" and not f:find("/", 1, true) and not standard_finalizers[f] then
        errs[#errs + 1] = E.invalid(path .. "[" .. (i - 1) .. "]", f,
          "name is neither a standard finalizer name nor is it fully qualified")
      end
    end
  end
end

local function validate_meta_common(meta, namespaced, errs, core)
  if namespaced then
    local ns = meta.namespace
    if ns == nil or ns == "" then
      errs[#errs + 1] = E.required("metadata.namespace", "")
    else
      for _, m in ipairs(M.is_dns1123_label(ns)) do errs[#errs + 1] = E.invalid("metadata.namespace", ns,
        m) end
    end
  elseif meta.namespace ~= nil and meta.namespace ~= "" then
    errs[#errs + 1] = E.forbidden("metadata.namespace", "not allowed on this type")
  end
  if math.type(meta.generation) and meta.generation < 0 then
    errs[#errs + 1] = E.invalid("metadata.generation", meta.generation, "must be greater than or equal to 0")
  end
  validate_labels(meta.labels, "metadata.labels", errs)
  validate_annotations(meta.annotations, "metadata.annotations", errs)
  validate_owner_references(meta.ownerReferences, "metadata.ownerReferences", errs)
  validate_finalizers(meta.finalizers, "metadata.finalizers", errs, core)
end

-- ValidateObjectMetaAccessor (creation). name_fn from M.name_validators.
function M.validate_object_meta(meta, namespaced, name_fn, opts)
  opts = opts or {}
  local errs = {}
  local gen = meta.generateName
  if type(gen) == "string" and gen ~= "" then
    for _, m in ipairs(name_fn(gen, true)) do errs[#errs + 1] = E.invalid("metadata.generateName", gen, m) end
  end
  local name = meta.name
  if name == nil or name == "" then
    errs[#errs + 1] = E.required("metadata.name", "name or generateName is required")
  else
    for _, m in ipairs(name_fn(name, false)) do errs[#errs + 1] = E.invalid("metadata.name", name, m) end
  end
  validate_meta_common(meta, namespaced, errs, opts.core)
  return errs
end

local function string_list(v)
  local out = {}
  if value.kind(v) == "array" then
    for _, s in ipairs(v) do out[#out + 1] = s end
  end
  return out
end

local function immutable(new, old, path, errs)
  if not value.equal(new, old) then
    errs[#errs + 1] = E.invalid(path, new == nil and value.null or new, "field is immutable")
  end
end

-- ValidateObjectMetaAccessorUpdate.
function M.validate_object_meta_update(new, old, opts)
  opts = opts or {}
  local errs = {}
  if old.deletionTimestamp ~= nil then
    local had = {}
    for _, f in ipairs(string_list(old.finalizers)) do had[f] = true end
    local extra, seen = {}, {}
    for _, f in ipairs(string_list(new.finalizers)) do
      if not had[f] and not seen[f] then seen[f] = true; extra[#extra + 1] = f end
    end
    table.sort(extra)
    if #extra > 0 then
      errs[#errs + 1] = E.forbidden("metadata.finalizers", string.format(
        "no new finalizers can be added if the object is being deleted, found new finalizers %s",
        value.go_strings(extra)))
    end
  end
  if new.resourceVersion == nil or new.resourceVersion == "" then
    errs[#errs + 1] = E.invalid("metadata.resourceVersion", new.resourceVersion or "",
      "must be specified for an update")
  end
  if (new.generation or 0) < (old.generation or 0) then
    errs[#errs + 1] = E.invalid("metadata.generation", new.generation or 0, "must not be decremented")
  end
  immutable(new.name, old.name, "metadata.name", errs)
  immutable(new.namespace or "", old.namespace or "", "metadata.namespace", errs)
  immutable(new.uid, old.uid, "metadata.uid", errs)
  immutable(new.creationTimestamp, old.creationTimestamp, "metadata.creationTimestamp", errs)
  immutable(new.deletionTimestamp, old.deletionTimestamp, "metadata.deletionTimestamp", errs)
  immutable(new.deletionGracePeriodSeconds, old.deletionGracePeriodSeconds,
    "metadata.deletionGracePeriodSeconds", errs)
  validate_labels(new.labels, "metadata.labels", errs)
  validate_annotations(new.annotations, "metadata.annotations", errs)
  validate_owner_references(new.ownerReferences, "metadata.ownerReferences", errs)
  validate_finalizers(new.finalizers, "metadata.finalizers", errs, opts.core)
  return errs
end

-- Warnings a custom resource gets for finalizers it adds (sorted, as
-- sets.String.List() gives them).
function M.finalizer_warnings(new_fins, old_fins)
  local had = {}
  for _, f in ipairs(string_list(old_fins)) do had[f] = true end
  local added, seen = {}, {}
  for _, f in ipairs(string_list(new_fins)) do
    if type(f) == "string" and not had[f] and not seen[f] then seen[f] = true; added[#added + 1] = f end
  end
  table.sort(added)
  local warnings = {}
  for _, f in ipairs(added) do
    for _, m in ipairs(M.is_qualified_name(f)) do
      warnings[#warnings + 1] = string.format("metadata.finalizers: %s: %s", value.go_quote(f), m)
    end
    if not f:find("/", 1, true) and not standard_finalizers[f] then
      warnings[#warnings + 1] = string.format(
        "metadata.finalizers: %s: prefer a domain-qualified finalizer name to avoid accidental " ..
          "conflicts with other finalizer writers",
        value.go_quote(f))
    end
  end
  return warnings
end

-- The shape metadata must have before any of the above can look at it.
local meta_string_fields = { "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
  "creationTimestamp", "deletionTimestamp" }
M.object_meta_fields = {
  name = true, generateName = true, namespace = true, selfLink = true, uid = true,
  resourceVersion = true, generation = true, creationTimestamp = true, deletionTimestamp = true,
  deletionGracePeriodSeconds = true, labels = true, annotations = true, ownerReferences = true,
  finalizers = true, managedFields = true,
}

-- nil, or the decoding error Go's json would give for metadata of the wrong shape.
function M.check_meta_shape(meta)
  if value.kind(meta) ~= "object" then
    return "json: cannot unmarshal " .. value.kind(meta) .. " into Go struct field ObjectMeta.metadata " ..
      "of type v1.ObjectMeta"
  end
  for _, f in ipairs(meta_string_fields) do
    local v = meta[f]
    if v ~= nil and v ~= value.null and type(v) ~= "string" then
      return string.format("json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s of " ..
        "type string",
        value.kind(v), f)
    end
  end
  for _, f in ipairs({ "labels", "annotations" }) do
    local v = meta[f]
    if v ~= nil and v ~= value.null then
      if value.kind(v) ~= "object" then
        return string.format("json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s of " ..
          "type map[string]string",
          value.kind(v), f)
      end
      for _, x in pairs(v) do
        if type(x) ~= "string" then
          return string.format("json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s " ..
            "of type string",
            value.kind(x), f)
        end
      end
    end
  end
  local fins = meta.finalizers
  if fins ~= nil and fins ~= value.null then
    if value.kind(fins) ~= "array" then
      return "json: cannot unmarshal " .. value.kind(fins) .. " into Go struct field " ..
        "ObjectMeta.metadata.finalizers of type []string"
    end
    for _, f in ipairs(fins) do
      if type(f) ~= "string" then
        return "json: cannot unmarshal " .. value.kind(f) .. " into Go struct field " ..
          "ObjectMeta.metadata.finalizers of type string"
      end
    end
  end
  local refs = meta.ownerReferences
  if refs ~= nil and refs ~= value.null then
    if value.kind(refs) ~= "array" then
      return "json: cannot unmarshal " .. value.kind(refs) .. " into Go struct field " ..
        "ObjectMeta.metadata.ownerReferences of type []v1.OwnerReference"
    end
    for _, r in ipairs(refs) do
      if value.kind(r) ~= "object" then
        return "json: cannot unmarshal " .. value.kind(r) .. " into Go struct field " ..
          "ObjectMeta.metadata.ownerReferences of type v1.OwnerReference"
      end
    end
  end
  for k, v in pairs(meta) do
    if v == value.null then meta[k] = nil end
  end
  return nil
end

---------------------------------------------------------------------------
-- Structural schemas: validation (kube-openapi)
---------------------------------------------------------------------------

local function types_of(s)
  if s["x-kubernetes-int-or-string"] then return { "integer", "string" } end
  if s.type == nil then return {} end
  if type(s.type) == "table" then return s.type end
  return { s.type }
end

local function contains(list, x)
  for _, y in ipairs(list) do if y == x then return true end end
  return false
end

local function child(path, key)
  if path == "" then return key end
  return path .. "." .. key
end

-- A validation failure in kube-openapi's terms, turned into a field error
-- the way kubeOpenAPIResultToFieldErrors does. loc is the value's location
-- (for ratcheting).
local function add(errs, name, code, message, bad, loc, extra)
  errs[#errs + 1] = { name = name, code = code, message = message, value = bad, loc = loc, extra = extra }
end

local function is_integral(f)
  return math.type(f) == "integer" or (f == math.floor(f) and f > -2^63 and f < 2^63)
end

-- Format checks of strfmt.Default for the formats the apiserver keeps.
local function check_format(format, s)
  if format == "date-time" then
    local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
    if not y then return false end
    if tonumber(mo) < 1 or tonumber(mo) > 12 or tonumber(d) < 1 or tonumber(d) > 31
        or tonumber(h) > 23 or tonumber(mi) > 59 or tonumber(sec) > 60 then return false end
    rest = rest:gsub("^%.%d+", "")
    return rest == "" or rest == "Z" or rest == "z" or rest:match("^[-+]%d%d:%d%d$") ~= nil
  elseif format == "date" then
    return s:match("^%d%d%d%d%-%d%d%-%d%d$") ~= nil
  elseif format == "byte" then
    return value.base64_decode(s) ~= nil
  elseif format == "uuid" or format == "uuid3" or format == "uuid4" or format == "uuid5" then
    local h4 = "%x%x%x%x"
    local uuid = "^" .. h4 .. h4 .. "%-" .. h4 .. "%-" .. h4 .. "%-" .. h4 .. "%-" .. h4 .. h4 .. h4 .. "$"
    return s:lower():match(uuid) ~= nil
  elseif format == "ipv4" then
    local parts = { s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$") }
    if #parts ~= 4 then return false end
    for _, p in ipairs(parts) do if tonumber(p) > 255 then return false end end
    return true
  elseif format == "email" then
    return s:match("^[^@%s]+@[^@%s]+$") ~= nil
  elseif format == "hostname" then
    return #s <= 253 and is_dns_subdomain_syntax(s:lower())
  elseif format == "duration" then
    return s:match("^[-+]?[%d%.]+[a-zµμ]+") ~= nil
  end
  return true
end

local known_formats = {
  ["date-time"] = true, date = true, byte = true, uuid = true, uuid3 = true, uuid4 = true,
  uuid5 = true, ipv4 = true, email = true, hostname = true, duration = true,
}

local validate_node

local function validate_props(s, v, path, errs, loc)
  -- allOf / anyOf / oneOf / not
  if s.allOf then
    for _, sub in ipairs(s.allOf) do validate_node(sub, v, path, errs, loc) end
  end
  if s.anyOf then
    local first, valid = nil, false
    for _, sub in ipairs(s.anyOf) do
      local e = {}
      validate_node(sub, v, path, e, loc)
      if #e == 0 then valid = true; break end
      first = first or e
    end
    if not valid then
      add(errs, path, "composite", path .. " in body must validate at least one schema (anyOf)", nil, loc)
      for _, e in ipairs(first or {}) do errs[#errs + 1] = e end
    end
  end
  if s.oneOf then
    local valid = 0
    for _, sub in ipairs(s.oneOf) do
      local e = {}
      validate_node(sub, v, path, e, loc)
      if #e == 0 then valid = valid + 1 end
    end
    if valid ~= 1 then
      add(errs, path, "composite", path .. " in body must validate one and only one schema (oneOf)", nil, loc)
    end
  end
  if s["not"] then
    local e = {}
    validate_node(s["not"], v, path, e, loc)
    if #e == 0 then add(errs, path, "composite", path .. " in body must not validate the schema (not)", nil,
      loc) end
  end
end

local function append_loc(loc, k)
  local l = { table.unpack(loc) }
  l[#l + 1] = k
  return l
end

function validate_node(s, v, path, errs, loc)
  if type(s) ~= "table" then return end
  local types = types_of(s)
  if v == nil or v == value.null then
    if #types > 0 and not contains(types, "null") and not s.nullable then
      add(errs, path, "type", string.format('%s in body must be of type %s: "null"', path,
        table.concat(types, ",")), "null", loc)
    end
    if s.enum then
      local found = false
      for _, e in ipairs(s.enum) do if e == value.null then found = true end end
      if not found then add(errs, path, "enum", string.format("%s in body should be one of %s", path,
        M.go_list(s.enum)), value.null, loc, { values = s.enum }) end
    end
    return
  end
  local kind = value.kind(v)
  -- type
  if #types > 0 or s.format then
    local sch = kind == "integer" and "integer" or kind
    local float_int = kind == "number" and is_integral(v) and contains(types, "integer")
    local int_float = kind == "integer" and contains(types, "number")
    local numeric_type = contains(types, "number") or contains(types, "integer")
    local skip = not numeric_type and (s.format or "") ~= "" and (kind == "string" or kind == "array")
    if not skip and #types > 0 and not (contains(types, sch) or float_int or int_float) then
      add(errs, path, "type", string.format("%s in body must be of type %s: %s", path,
        table.concat(types, ","), value.go_quote(sch)), sch, loc)
    end
  end
  validate_props(s, v, path, errs, loc)
  -- string
  if kind == "string" then
    local len = utf8.len(v) or #v
    if s.maxLength and len > s.maxLength then
      add(errs, path, "too_long", string.format("%s in body should be at most %d chars long", path,
        s.maxLength), v, loc,
        { max = s.maxLength })
    elseif s.minLength and len < s.minLength then
      add(errs, path, "invalid", string.format("%s in body should be at least %d chars long", path,
        s.minLength), v, loc)
    elseif s.pattern then
      local matched
      if regex then
        local re, err = regex.cache(s.pattern)
        if not re then
          add(errs, path, "invalid", string.format("%s in body should match '%s, but pattern is invalid: %s'",
            path, s.pattern, err), v, loc)
          goto pattern_done
        end
        matched = re:test(v)
      else
        local ok, r = pcall(string.find, v, s.pattern)
        matched = not ok or r ~= nil
      end
      if not matched then
        add(errs, path, "invalid", string.format("%s in body should match '%s'", path, s.pattern), v, loc)
      end
      ::pattern_done::
    end
    -- format
    if s.format and known_formats[s.format] and not check_format(s.format, v) then
      add(errs, path, "type", string.format("%s in body must be of type %s: %s", path, s.format,
        value.go_quote(v)), v, loc)
    end
  end
  -- number
  if kind == "integer" or kind == "number" then
    local int = kind == "integer"
    -- Go compares (and prints) an integer against int64(bound), a float
    -- against the float64 bound.
    local function truncated(b) return math.tointeger(b >= 0 and math.floor(b) or math.ceil(b)) or b end
    local function bound(b)
      if int then return value.go_v(truncated(b)) end
      return value.go_float(b + 0.0)
    end
    if s.multipleOf then
      local f = s.multipleOf
      local ok
      if int and is_integral(f) and f ~= 0 then
        ok = v % math.tointeger(f) == 0
      else
        local m = f < 1 and (1 / f * v) or (v / f)
        ok = m == math.floor(m)
      end
      if not ok then
        add(errs, path, "invalid", string.format("%s in body should be a multiple of %s", path, bound(f)), v,
          loc)
      end
    end
    if s.minimum then
      local excl = s.exclusiveMinimum == true
      local m = int and truncated(s.minimum) or s.minimum
      if (not excl and v < m) or (excl and v <= m) then
        add(errs, path, "invalid", string.format("%s in body should be %s %s", path,
          excl and "greater than" or "greater than or equal to", bound(s.minimum)), v, loc)
      end
    end
    if s.maximum then
      local excl = s.exclusiveMaximum == true
      local m = int and truncated(s.maximum) or s.maximum
      if (not excl and v > m) or (excl and v >= m) then
        add(errs, path, "invalid", string.format("%s in body should be %s %s", path,
          excl and "less than" or "less than or equal to", bound(s.maximum)), v, loc)
      end
    end
  end
  -- array
  if kind == "array" then
    if type(s.items) == "table" then
      for i = 1, #v do
        validate_node(s.items, v[i], string.format("%s[%d]", path, i - 1), errs, append_loc(loc, i))
      end
    end
    if s.minItems and #v < s.minItems then
      add(errs, path, "invalid", string.format("%s in body should have at least %d items", path, s.minItems),
        #v, loc)
    end
    if s.maxItems and #v > s.maxItems then
      add(errs, path, "too_many", string.format("%s in body should have at most %d items", path, s.maxItems),
        #v, loc,
        { max = s.maxItems })
    end
    if s.uniqueItems then
      for i = 1, #v do
        for j = 1, i - 1 do
          if value.equal(v[i], v[j]) then
            add(errs, path, "invalid", string.format("%s in body shouldn't contain duplicates", path), nil,
              loc)
            goto unique_done
          end
        end
      end
      ::unique_done::
    end
  end
  -- enum
  if s.enum then
    local found = false
    for _, e in ipairs(s.enum) do
      if value.equal(e, v) then found = true; break end
    end
    if not found then
      add(errs, path, "enum", string.format("%s in body should be one of %s", path, M.go_list(s.enum)), v,
        loc,
        { values = s.enum })
    end
  end
  -- object
  if kind == "object" then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    if s.minProperties and n < s.minProperties then
      add(errs, path, "invalid", string.format("%s in body should have at least %d properties", path,
        s.minProperties), n, loc)
      return
    end
    if s.maxProperties and n > s.maxProperties then
      add(errs, path, "too_many", string.format("%s in body should have at most %d properties", path,
        s.maxProperties), n, loc,
        { max = s.maxProperties })
      return
    end
    local props = s.properties or {}
    local ap = s.additionalProperties
    if ap == false then
      for _, k in ipairs(value.keys(v)) do
        if props[k] == nil then
          add(errs, path, "invalid", string.format("%s.%s in body is a forbidden property", path, k), k, loc)
        end
      end
    elseif type(ap) == "table" then
      for _, k in ipairs(value.keys(v)) do
        if props[k] == nil then validate_node(ap, v[k], path .. "." .. k, errs, append_loc(loc, k)) end
      end
    end
    for _, k in ipairs(value.keys(props)) do
      if v[k] ~= nil then validate_node(props[k], v[k], child(path, k), errs, append_loc(loc, k)) end
    end
    if s.required then
      for _, k in ipairs(s.required) do
        if v[k] == nil then
          add(errs, path .. "." .. k, "required", path .. "." .. k .. " in body is required", nil, loc)
        end
      end
    end
  end
end

-- fmt's %v of an []interface{} (enum values): [a b 1].
function M.go_list(list)
  local parts = {}
  for i, x in ipairs(list) do
    local k = value.kind(x)
    if k == "string" then parts[i] = x
    elseif k == "null" then parts[i] = "<nil>"
    elseif k == "integer" or k == "number" or k == "boolean" then parts[i] = value.go_v(x)
    else parts[i] = value.go_sharp(x) end
  end
  return "[" .. table.concat(parts, " ") .. "]"
end

local function trim_dot(name) return (name:gsub("^%.", "")) end

local function to_field_error(e, prefix)
  local f = trim_dot(e.name or "")
  if prefix and prefix ~= "" then f = f == "" and prefix or (prefix .. "." .. f) end
  local bad = e.value
  if bad == nil then bad = "" end
  if e.code == "required" then return E.required(f, "") end
  if e.code == "enum" then
    local values = {}
    for i, x in ipairs(e.extra.values) do
      values[i] = type(x) == "string" and x or require("smop.json").encode(x)
    end
    return E.not_supported(f, e.value, values)
  end
  if e.code == "too_long" then return E.too_long(f, bad, e.extra.max) end
  if e.code == "too_many" then return E.too_many(f, math.tointeger(bad) or -1, e.extra.max) end
  if e.code == "type" then return E.type_invalid(f, bad, e.message) end
  return E.invalid(f, bad, e.message)
end

local function get_at(v, loc)
  for _, k in ipairs(loc) do
    if type(v) ~= "table" or v == value.null then return nil end
    v = v[k]
  end
  return v
end

-- Ratcheting (CRDValidationRatcheting, on by default in 1.32): an error
-- inside a value that the update left unchanged does not count. Array items
-- are not correlated by index, so the comparison is made at the nearest
-- enclosing object field.
local function ratcheted(e, new, old)
  local loc = {}
  for _, k in ipairs(e.loc) do
    if math.type(k) == "integer" then break end
    loc[#loc + 1] = k
  end
  local a, b = get_at(new, loc), get_at(old, loc)
  return a ~= nil and b ~= nil and value.equal(a, b)
end

-- Validates v against the structural schema s. Returns field errors. opts:
--   prefix: field path to put before every error (status updates use "status");
--   old: the previous value, for ratcheting.
function M.validate(v, s, opts)
  opts = opts or {}
  local raw = {}
  validate_node(s, v, "", raw, {})
  local errs = {}
  for _, e in ipairs(raw) do
    if not (opts.old ~= nil and ratcheted(e, v, opts.old)) then
      errs[#errs + 1] = to_field_error(e, opts.prefix)
    end
  end
  return errs
end

-- x-kubernetes-list-type set/map: no duplicates (ValidateListSetsAndMaps).
function M.validate_list_types(v, s, path, errs)
  errs = errs or {}
  path = path or ""
  if type(s) ~= "table" or type(v) ~= "table" or v == value.null then return errs end
  local kind = value.kind(v)
  if kind == "object" then
    local props = s.properties or {}
    for _, k in ipairs(value.keys(v)) do
      local sub = props[k] or (type(s.additionalProperties) == "table" and s.additionalProperties or nil)
      if sub then M.validate_list_types(v[k], sub, child(path, k), errs) end
    end
  elseif kind == "array" then
    local lt = s["x-kubernetes-list-type"]
    if lt == "set" then
      for i = 1, #v do
        for j = 1, i - 1 do
          if value.equal(v[i], v[j]) then
            errs[#errs + 1] = E.duplicate(string.format("%s[%d]", path, i - 1), v[i]); break
          end
        end
      end
    elseif lt == "map" then
      local keys = s["x-kubernetes-list-map-keys"] or {}
      local seen = {}
      for i = 1, #v do
        local parts = {}
        for _, k in ipairs(keys) do
          local x = type(v[i]) == "table" and v[i][k] or nil
          parts[#parts + 1] = require("smop.json").encode(x == nil and value.null or x)
        end
        local id = table.concat(parts, "\0")
        if seen[id] then
          local dup = {}
          for _, k in ipairs(keys) do dup[k] = v[i][k] end
          errs[#errs + 1] = E.duplicate(string.format("%s[%d]", path, i - 1), dup)
        end
        seen[id] = true
      end
    end
    if s.items then
      for i = 1, #v do M.validate_list_types(v[i], s.items, string.format("%s[%d]", path, i - 1), errs) end
    end
  end
  return errs
end

---------------------------------------------------------------------------
-- Pruning and defaulting (structural schemas)
---------------------------------------------------------------------------

local prune_node

local function prune_object(v, s, path, pruned, embedded)
  local props = s.properties or {}
  local ap = s.additionalProperties
  local preserve = s["x-kubernetes-preserve-unknown-fields"] == true
  for _, k in ipairs(value.keys(v)) do
    local sub = props[k]
    -- an embedded resource keeps its apiVersion, kind and metadata
    local kept = embedded and (k == "apiVersion" or k == "kind" or k == "metadata")
    if not kept then
      if sub then
        prune_node(v[k], sub, child(path, k), pruned)
      elseif type(ap) == "table" then
        prune_node(v[k], ap, child(path, k), pruned)
      elseif not (ap == true or preserve) then
        pruned[#pruned + 1] = child(path, k)
        v[k] = nil
      end
    end
  end
end

function prune_node(v, s, path, pruned)
  if type(s) ~= "table" or type(v) ~= "table" or v == value.null then return end
  local kind = value.kind(v)
  if kind == "object" then
    prune_object(v, s, path, pruned, s["x-kubernetes-embedded-resource"] == true)
  elseif kind == "array" and type(s.items) == "table" then
    for i = 1, #v do prune_node(v[i], s.items, string.format("%s[%d]", path, i - 1), pruned) end
  end
end

-- Drops fields the schema does not know, as the apiserver does before
-- storing a custom resource; apiVersion, kind and metadata at the root stay
-- (metadata has its own rules: unknown ObjectMeta fields go). Returns the
-- dropped paths ("spec.foo", "spec.items[0].bar"), sorted.
function M.prune(obj, s)
  local pruned = {}
  if type(s) ~= "table" then return pruned end
  for _, k in ipairs(value.keys(obj)) do
    if k == "metadata" then
      if value.kind(obj.metadata) == "object" then
        for _, mk in ipairs(value.keys(obj.metadata)) do
          if not M.object_meta_fields[mk] then
            pruned[#pruned + 1] = "metadata." .. mk
            obj.metadata[mk] = nil
          end
        end
      end
    elseif k ~= "apiVersion" and k ~= "kind" then
      if s.properties and s.properties[k] then
        prune_node(obj[k], s.properties[k], k, pruned)
      elseif type(s.additionalProperties) == "table" then
        prune_node(obj[k], s.additionalProperties, k, pruned)
      elseif not s["x-kubernetes-preserve-unknown-fields"] then
        pruned[#pruned + 1] = k
        obj[k] = nil
      end
    end
  end
  table.sort(pruned)
  return pruned
end

local function is_non_nullable_null(v, s)
  return v == value.null and type(s) == "table" and not s.nullable
end

local function default_node(v, s)
  if type(s) ~= "table" or type(v) ~= "table" or v == value.null then return end
  local kind = value.kind(v)
  if kind == "object" then
    local props = s.properties or {}
    for _, k in ipairs(value.keys(props)) do
      local p = props[k]
      if p.default ~= nil and (v[k] == nil or is_non_nullable_null(v[k], p)) then
        v[k] = value.copy(p.default)
      end
    end
    for _, k in ipairs(value.keys(v)) do
      local p = props[k]
      if p then
        default_node(v[k], p)
      elseif type(s.additionalProperties) == "table" then
        local ap = s.additionalProperties
        if is_non_nullable_null(v[k], ap) and ap.default ~= nil then v[k] = value.copy(ap.default) end
        default_node(v[k], ap)
      end
    end
  elseif kind == "array" and type(s.items) == "table" then
    for i = 1, #v do
      if is_non_nullable_null(v[i],
        s.items) and s.items.default ~= nil then v[i] = value.copy(s.items.default) end
      default_node(v[i], s.items)
    end
  end
end

-- Removes nulls the schema does not allow and has no default for
-- (PruneNonNullableNullsWithoutDefaults).
local function prune_nulls(v, s)
  if type(s) ~= "table" or type(v) ~= "table" or v == value.null then return end
  local kind = value.kind(v)
  if kind == "object" then
    local props = s.properties or {}
    for _, k in ipairs(value.keys(v)) do
      local p = props[k] or (type(s.additionalProperties) == "table" and s.additionalProperties or nil)
      if p then
        if v[k] == value.null and not p.nullable and p.default == nil then
          v[k] = nil
        else
          prune_nulls(v[k], p)
        end
      end
    end
  elseif kind == "array" and type(s.items) == "table" then
    for i = 1, #v do prune_nulls(v[i], s.items) end
  end
end

-- Applies the schema's defaults in place (structural defaulting), then drops
-- nulls that may not be null.
function M.default(obj, s)
  if type(s) ~= "table" then return end
  default_node(obj, s)
  local props = s.properties or {}
  for _, k in ipairs(value.keys(obj)) do
    if k ~= "metadata" and k ~= "apiVersion" and k ~= "kind" then
      local p = props[k]
      if p and obj[k] == value.null and not p.nullable and p.default == nil then
        obj[k] = nil
      elseif p then
        prune_nulls(obj[k], p)
      end
    end
  end
end

return M
