-- Resources: `/api/v1/...` and `/apis/<g>/<v>/...`, routed to the store.
-- (Bodies may also be protobuf for the kinds kubectl's typed clients
-- create: ConfigMap, Secret, Namespace; proto.lua.)
--
--   [watch/][namespaces/<ns>/]<plural>[/<name>[/status]]
--
-- GET list (or watch, watch.lua) / POST create / DELETE deletecollection on
-- a collection; GET, PUT, PATCH, DELETE on an object; GET, PUT, PATCH on
-- its status. Bodies in JSON or YAML (415 otherwise, 413 past 3 MiB);
-- answers in JSON, YAML, Table or PartialObjectMetadata as Accept asks
-- (406 if none fits; protobuf is passed over, as a JSON-only server may).
-- The store checks the object itself (apiVersion, kind, namespace and name
-- against the URL, the schema) and returns the Status to send. Faults from
-- the control endpoint (control.lua) apply to writes, and to reads (get,
-- list, watch) that a fault names; a read's is answered before anything
-- else, as kube-apiserver authorizes before it serves.
local json = require("smop.json")
local proto = require("fake.kube.proto")
local status = require("fake.kube.status")
local tables = require("fake.kube.table")
local watch = require("fake.kube.watch")
local wire = require("fake.kube.wire")
local yaml = require("smop.yaml")

local M = {}

local function group_version(kind)
  return (kind.group or "") == "" and kind.version or (kind.group .. "/" .. kind.version)
end

-- ---- negotiation ----

-- The first Accept entry the fake can answer:
-- { format = "json" | "yaml" | "table" | "partial", api_version = ... } or nil.
function M.negotiate(accept)
  for _, m in ipairs(wire.parse_accept(accept)) do
    local p = m.params
    local json_like = m.type == "application/json" or m.type == "*/*" or m.type == "application/*"
    if json_like and p.as == nil then
      return { format = "json" }
    elseif m.type == "application/json" and p.g == "meta.k8s.io" and (p.v == "v1" or p.v == "v1beta1") then
      if p.as == "Table" then
        return { format = "table", api_version = "meta.k8s.io/" .. p.v }
      elseif p.as == "PartialObjectMetadata" or p.as == "PartialObjectMetadataList" then
        return { format = "partial", api_version = "meta.k8s.io/" .. p.v }
      end
    elseif (m.type == "application/yaml") and p.as == nil then
      return { format = "yaml" }
    end
  end
  return nil
end

local NOT_ACCEPTABLE = "only the following media types are accepted: application/json, "
  .. "application/yaml, application/vnd.kubernetes.protobuf"

local function answer_doc(app, req, fmt, code, doc, extra)
  if fmt.format == "yaml" then return app:yaml_answer(req, code, doc, extra) end
  return app:json_answer(req, code, doc, extra)
end

-- ---- errors ----

local function fail(app, req, e, extra)
  if type(e) ~= "table" then e = status.internal(tostring(e)) end
  if e.page_not_found then return app:page_not_found() end
  return app:status_answer(req, e, extra)
end

-- "the object provided is unrecognized" and friends quote the body so.
local function summarize(body)
  if #body == 0 then return "<empty>" end
  if body:sub(1, 1) == "{" then
    return #body > 30 and (body:sub(1, 30) .. " ...") or body
  end
  local hex = body:sub(1, 30):gsub(".", function(c) return string.format("%02x", c:byte()) end)
  return #body > 30 and (hex .. " ...") or hex
end

-- ---- request bodies ----

local BODY_TYPES = "application/json, application/yaml, application/vnd.kubernetes.protobuf"

local function too_large(app, req)
  if #(req.body or "") > app.max_body then
    return status.new(413, "RequestEntityTooLarge",
      string.format("Request entity too large: limit is %d", app.max_body))
  end
  return nil
end

-- The object in a POST/PUT body, or nil, Status.
local function decode_object(app, req, kind)
  local big = too_large(app, req)
  if big then return nil, big end
  local body = req.body or ""
  local ct = wire.media_type(req.headers["content-type"])
  local v, err
  if ct == "" or ct == "application/json" then
    v, err = json.decode(body)
    if v == nil then
      return nil, status.bad_request(string.format(
        "the object provided is unrecognized (must be of type %s): couldn't get version/kind; "
          .. "json parse error: %s (%s)", kind.kind, tostring(err), summarize(body)))
    end
  elseif ct == "application/vnd.kubernetes.protobuf" and proto.knows(kind) then
    v, err = proto.decode(body, kind)
    if v == nil then
      return nil, status.bad_request(string.format(
        "the object provided is unrecognized (must be of type %s): %s", kind.kind, tostring(err)))
    end
  elseif ct == "application/yaml" then
    v, err = yaml.decode(body)
    if v == nil then
      return nil, status.bad_request(string.format(
        "the object provided is unrecognized (must be of type %s): error converting YAML to JSON: %s",
        kind.kind, tostring(err)))
    end
  else
    return nil, status.unsupported_media_type(
      "the body of the request was in an unknown format - accepted media types include: " .. BODY_TYPES)
  end
  if type(v) ~= "table" or json.is_array(v) or v == json.null then
    return nil, status.bad_request(string.format(
      "the object provided is unrecognized (must be of type %s): couldn't get version/kind; "
        .. "json parse error: json: cannot unmarshal %s into Go value of type struct { APIVersion string "
        .. "\"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" } (%s)",
      kind.kind, json.is_array(v) and "array" or type(v) == "string" and "string" or "number",
      summarize(body)))
  end
  return v
end

local PATCH_TYPES = {
  ["application/merge-patch+json"] = "merge",
  ["application/json-patch+json"] = "json",
  ["application/strategic-merge-patch+json"] = "strategic",
  ["application/apply-patch+yaml"] = "apply",
}

local function decode_patch(app, req, kind)
  local big = too_large(app, req)
  if big then return nil, nil, big end
  local ct = wire.media_type(req.headers["content-type"])
  local ptype = PATCH_TYPES[ct]
  local accepted = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
  if not kind.custom then accepted = accepted .. ", application/strategic-merge-patch+json" end
  if not ptype or (ptype == "strategic" and kind.custom) then
    return nil, nil, status.unsupported_media_type(
      "the body of the request was in an unknown format - accepted media types include: " .. accepted)
  end
  local v, err
  if ptype == "apply" then
    v, err = yaml.decode(req.body or "")
  else
    v, err = json.decode(req.body or "")
  end
  if v == nil then
    return nil, nil, status.bad_request("error decoding patch: " .. tostring(err))
  end
  if ptype == "json" and not json.is_array(v) then
    return nil, nil, status.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
  end
  if ptype ~= "json" and (type(v) ~= "table" or json.is_array(v)) then
    return nil, nil, status.bad_request("error decoding patch: the patch must be a JSON object")
  end
  return ptype, v
end

-- dryRun, fieldManager, fieldValidation -> store options, or nil, Status.
local function write_options(req)
  local a = req.args
  local opts = {}
  if a.dryRun ~= nil then
    if a.dryRun ~= "All" then
      return nil, status.bad_request(string.format('dryRun: Unsupported value: "%s": supported values: "All"',
        a.dryRun))
    end
    opts.dry_run = true
  end
  local fv = a.fieldValidation
  if fv ~= nil and fv ~= "Strict" and fv ~= "Warn" and fv ~= "Ignore" then
    return nil, status.bad_request(string.format(
      'fieldValidation: Unsupported value: "%s": supported values: "Ignore", "Strict", "Warn"', fv))
  end
  opts.field_validation = fv or "Warn"
  local fm = a.fieldManager
  if fm == nil or fm == "" then
    fm = ((req.headers["user-agent"] or ""):match("^([^/%s]+)")) or "unknown"
  end
  if #fm > 128 then
    return nil, status.bad_request("fieldManager: Too long: may not be more than 128 bytes")
  end
  opts.field_manager = fm
  return opts
end

-- ---- warnings ----

-- The Warning header for a list of messages (one 299 value each).
local function warning_header(warnings, extra)
  local seen, parts = {}, {}
  for _, w in ipairs(warnings) do
    if not seen[w] then
      seen[w] = true
      parts[#parts + 1] = '299 - "' .. w:gsub('[\\"]', "\\%0") .. '"'
    end
  end
  local h = extra or {}
  if #parts > 0 then h["Warning"] = table.concat(parts, ", ") end
  return h
end

-- ---- verbs ----

local function object_answer(app, req, kind, fmt, code, obj, warnings)
  local extra = warning_header(type(warnings) == "table" and warnings or {})
  if fmt.format == "table" then
    return app:json_answer(req, code, tables.for_object(kind, obj,
      { now = app:now(), api_version = fmt.api_version, include = req.args.includeObject }), extra)
  elseif fmt.format == "partial" then
    return app:json_answer(req, code, tables.partial(obj, fmt.api_version), extra)
  end
  if type(obj) == "table" and obj.kind == "Status" and obj.apiVersion == "v1" then
    return app:json_answer(req, code, wire.status(obj), extra)
  end
  return answer_doc(app, req, fmt, code, tables.shape(kind, obj), extra)
end

-- Normalizes what store:list returns into items, list metadata.
local function list_parts(app, list, rv)
  local items = list
  local meta = {}
  if type(list) == "table" and (list.items or list.metadata) then
    items = list.items or {}
    meta = list.metadata or {}
  end
  return items or {}, {
    resourceVersion = tostring(rv or list.resource_version or meta.resourceVersion
      or app.store:resource_version()),
    continue = list.continue or meta.continue,
    remainingItemCount = list.remaining_item_count or list.remainingItemCount or meta.remainingItemCount,
  }
end

local function list_options(req)
  local a = req.args
  local limit
  if a.limit ~= nil and a.limit ~= "" then
    limit = math.tointeger(tonumber(a.limit))
    if not limit then
      return nil, status.bad_request(string.format('limit: Invalid value: "%s": must be an integer', a.limit))
    end
    if limit <= 0 then limit = nil end
  end
  return {
    label_selector = a.labelSelector, field_selector = a.fieldSelector, limit = limit,
    continue = a["continue"], resource_version = a.resourceVersion,
    resource_version_match = a.resourceVersionMatch,
  }
end

local function do_list(app, req, kind, ns, fmt)
  local opts, oerr = list_options(req)
  if not opts then return fail(app, req, oerr) end
  local list, rv = app.store:list(kind, ns, opts)
  if not list then return fail(app, req, rv) end
  local items, meta = list_parts(app, list, rv)
  if fmt.format == "table" then
    return app:json_answer(req, 200, tables.for_list(kind, items, meta,
      { now = app:now(), api_version = fmt.api_version, include = req.args.includeObject }))
  elseif fmt.format == "partial" then
    local lm = wire.obj("resourceVersion", meta.resourceVersion,
      "continue", meta.continue ~= "" and meta.continue or nil, "remainingItemCount", meta.remainingItemCount)
    return app:json_answer(req, 200, tables.partial_list(items, lm, fmt.api_version))
  end
  local list_kind = kind.list_kind or (kind.kind .. "List")
  local doc
  if not kind.custom then
    local arr = json.array({})
    for i, o in ipairs(items) do arr[i] = tables.shape(kind, o) end
    doc = wire.obj("kind", list_kind, "apiVersion", group_version(kind),
      "metadata", wire.obj("resourceVersion", meta.resourceVersion,
        "continue", meta.continue ~= "" and meta.continue or nil,
        "remainingItemCount", meta.remainingItemCount),
      "items", arr)
  else
    doc = list -- unstructured: written with sorted keys, as the store built it
  end
  return answer_doc(app, req, fmt, 200, doc)
end

local function do_create(app, req, kind, ns, fmt)
  local obj, err = decode_object(app, req, kind)
  if not obj then return fail(app, req, err) end
  local opts, oerr = write_options(req)
  if not opts then return fail(app, req, oerr) end
  local name = type(obj.metadata) == "table" and obj.metadata.name or nil
  local fault, fh = app.control:take_fault("create", kind, name, { namespace = ns })
  if fault then return fail(app, req, fault, fh) end
  local created, warnings = app.store:create(kind, ns, obj, opts)
  if not created then return fail(app, req, warnings) end
  return object_answer(app, req, kind, fmt, 201, created, warnings)
end

local function do_get(app, req, kind, ns, name, fmt)
  local obj, err = app.store:get(kind, ns, name)
  if not obj then return fail(app, req, err or status.not_found(kind, name)) end
  return object_answer(app, req, kind, fmt, 200, obj)
end

local function do_update(app, req, kind, ns, name, sub, fmt)
  local obj, err = decode_object(app, req, kind)
  if not obj then return fail(app, req, err) end
  local opts, oerr = write_options(req)
  if not opts then return fail(app, req, oerr) end
  opts.subresource = sub
  local fault, fh = app.control:take_fault("update", kind, name, { namespace = ns, subresource = sub })
  if fault then return fail(app, req, fault, fh) end
  local updated, warnings = app.store:update(kind, ns, name, obj, opts)
  if not updated then return fail(app, req, warnings) end
  return object_answer(app, req, kind, fmt, 200, updated, warnings)
end

local function do_patch(app, req, kind, ns, name, sub, fmt)
  local ptype, patch, perr = decode_patch(app, req, kind)
  if not ptype then return fail(app, req, perr) end
  local opts, oerr = write_options(req)
  if not opts then return fail(app, req, oerr) end
  opts.subresource = sub
  opts.force = req.args.force == "true"
  local fault, fh = app.control:take_fault("patch", kind, name, { namespace = ns, subresource = sub })
  if fault then return fail(app, req, fault, fh) end
  local patched, warnings = app.store:patch(kind, ns, name, ptype, patch, opts)
  if not patched then return fail(app, req, warnings) end
  return object_answer(app, req, kind, fmt, 200, patched, warnings)
end

-- DeleteOptions from the body and the query.
local function delete_options(app, req)
  local o = {}
  local body = req.body or ""
  if not body:match("^%s*$") then
    local big = too_large(app, req)
    if big then return nil, big end
    local v = json.decode(body)
    if type(v) ~= "table" or json.is_array(v) then
      return nil, status.bad_request("the object provided is unrecognized (must be of type DeleteOptions): "
        .. "couldn't get version/kind; json parse error (" .. summarize(body) .. ")")
    end
    o = v
  end
  local a = req.args
  local policy = a.propagationPolicy or o.propagationPolicy
  local dry = a.dryRun == "All" or (type(o.dryRun) == "table" and o.dryRun[1] == "All")
  return {
    propagation_policy = policy,
    preconditions = type(o.preconditions) == "table" and o.preconditions or nil,
    grace_period_seconds = tonumber(a.gracePeriodSeconds) or o.gracePeriodSeconds,
    dry_run = dry or nil,
  }
end

local function do_delete(app, req, kind, ns, name, fmt)
  local opts, oerr = delete_options(app, req)
  if not opts then return fail(app, req, oerr) end
  local fault, fh = app.control:take_fault("delete", kind, name, { namespace = ns })
  if fault then return fail(app, req, fault, fh) end
  local result, err = app.store:delete(kind, ns, name, opts)
  if not result then return fail(app, req, err) end
  return object_answer(app, req, kind, fmt, 200, result)
end

local function do_delete_collection(app, req, kind, ns, fmt)
  local opts, oerr = delete_options(app, req)
  if not opts then return fail(app, req, oerr) end
  local lopts, lerr = list_options(req)
  if not lopts then return fail(app, req, lerr) end
  local list, rv = app.store:list(kind, ns, lopts)
  if not list then return fail(app, req, rv) end
  local items, meta = list_parts(app, list, rv)
  local deleted = {}
  for _, o in ipairs(items) do
    local m = o.metadata or {}
    local fault, fh = app.control:take_fault("deletecollection", kind, m.name, { namespace = ns })
    if fault then return fail(app, req, fault, fh) end
    local r = app.store:delete(kind, m.namespace, m.name, opts)
    if r then
      deleted[#deleted + 1] = (type(r) == "table" and r.kind ~= "Status") and r or o
    end
  end
  local arr = json.array({})
  for i, o in ipairs(deleted) do arr[i] = tables.shape(kind, o) end
  return answer_doc(app, req, fmt, 200, wire.obj("kind", kind.list_kind or (kind.kind .. "List"),
    "apiVersion", group_version(kind), "metadata", wire.obj("resourceVersion", meta.resourceVersion),
    "items", arr))
end

-- ---- routing ----

local function method_not_allowed(app, req)
  return fail(app, req, status.new(405, "MethodNotAllowed",
    "the server does not allow this method on the requested resource", {}))
end

-- segs starts with "api" or "apis"; returns the route or nil (404).
local function parse(app, segs)
  local group, version, i
  if segs[1] == "api" then
    group, version, i = "", segs[2], 3
  else
    group, version, i = segs[2], segs[3], 4
  end
  if not version or not app.registry:has_version(group, version) then return nil end
  local rest = { table.unpack(segs, i) }
  local is_watch = false
  if rest[1] == "watch" then
    is_watch = true
    table.remove(rest, 1)
  end
  local ns
  if rest[1] == "namespaces" and #rest >= 3 then
    local own_sub = group == "" and #rest == 3 and (rest[3] == "status" or rest[3] == "finalize")
    if not own_sub then
      ns = rest[2]
      rest = { table.unpack(rest, 3) }
    end
  end
  if #rest == 0 or #rest > 3 then return nil end
  local kind = app:kind(group, version, rest[1])
  if not kind then return nil end
  return { kind = kind, namespace = ns, name = rest[2], sub = rest[3], watch = is_watch }
end

function M.serve(app, req, segs)
  local r = parse(app, segs)
  if not r then return app:page_not_found() end
  local kind, ns, name, sub = r.kind, r.namespace, r.name, r.sub
  if (ns and not kind.namespaced) or (kind.namespaced and not ns and name) then
    return app:page_not_found()
  end
  if sub and (sub ~= "status" or not (kind.subresources and kind.subresources.status)) then
    return app:page_not_found()
  end
  local m = req.method
  local a = req.args
  local watching = r.watch or a.watch == "true" or a.watch == "1"
  if m == "GET" or m == "HEAD" then
    local verb = watching and "watch" or (name and "get" or "list")
    local fault, fh = app.control:take_fault(verb, kind, name, { namespace = ns, subresource = sub })
    if fault then return fail(app, req, fault, fh) end
  end
  local fmt = M.negotiate(req.headers["accept"])
  if not fmt then
    return fail(app, req, status.new(406, "NotAcceptable", NOT_ACCEPTABLE))
  end
  if not name then
    if m == "GET" or m == "HEAD" then
      if watching then
        return watch.serve(app, req, kind, ns, fmt)
      end
      return do_list(app, req, kind, ns, fmt)
    end
    if kind.namespaced and not ns then return method_not_allowed(app, req) end
    if m == "POST" then return do_create(app, req, kind, ns, fmt) end
    if m == "DELETE" then return do_delete_collection(app, req, kind, ns, fmt) end
    return method_not_allowed(app, req)
  end
  if r.watch then return method_not_allowed(app, req) end
  if m == "GET" or m == "HEAD" then return do_get(app, req, kind, ns, name, fmt) end
  if m == "PUT" then return do_update(app, req, kind, ns, name, sub, fmt) end
  if m == "PATCH" then return do_patch(app, req, kind, ns, name, sub, fmt) end
  if m == "DELETE" and not sub then return do_delete(app, req, kind, ns, name, fmt) end
  return method_not_allowed(app, req)
end

return M
