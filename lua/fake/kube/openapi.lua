-- OpenAPI: `/openapi/v3` (an index of group-version documents by hashed
-- URL, text/plain, Last-Modified) and `/openapi/v3/<api|apis/g>/<v>` (one
-- document per group-version: paths with their query parameters, and
-- components.schemas generated from each CRD's openAPIV3Schema or from the
-- built-in schemas). A hashed document is immutable: ETag = hash,
-- `Cache-Control: public, immutable`, Expires a year ahead; a stale hash
-- redirects to the current one, as kube-apiserver does.
--
-- kubectl reads these for `explain`, for the fieldValidation check before
-- create/apply/replace (the patch operation must list the fieldValidation
-- parameter) and for strategic merge patches of built-in kinds.
-- `/openapi/v2` is answered 404: kubectl 1.32 then falls back to what it
-- knows (a JSON merge patch for custom resources, its compiled-in types
-- for built-ins).
--
--   openapi.serve(app, req, segments) -> status, headers, body | nil
local json = require("smop.json")
local schemas = require("fake.kube.openapi_schemas")
local texts = require("fake.kube.openapi_texts")
local tls = require("smop.tls")
local wire = require("fake.kube.wire")

local M = {}

local A = json.array
local META = schemas.META
local YEAR = 365 * 86400

-- ---- names ----

local BUILTIN_PREFIX = { [""] = "CoreV1", ["coordination.k8s.io"] = "CoordinationV1",
  ["events.k8s.io"] = "EventsV1", ["apiextensions.k8s.io"] = "ApiextensionsV1" }

local function capitalize(s)
  return (s:gsub("^%l", string.upper))
end

-- "sagemaker.aws.amazon.com" -> "com.amazon.aws.sagemaker"
local function reversed_group(group)
  local parts = {}
  for p in group:gmatch("[^.]+") do table.insert(parts, 1, p) end
  return table.concat(parts, ".")
end

local function schema_name(kind)
  if not kind.custom then
    return schemas.kind_names[(kind.group or "") .. "/" .. kind.kind]
  end
  return reversed_group(kind.group) .. "." .. kind.version .. "." .. kind.kind
end

-- operationId infix ("SagemakerAwsAmazonComV1") and tag ("sagemakerAwsAmazonCom_v1").
local function op_prefix(kind)
  if not kind.custom then
    local p = BUILTIN_PREFIX[kind.group or ""] or "CoreV1"
    return p, (p:gsub("V%d.*$", ""):gsub("^%u", string.lower)) .. "_" .. kind.version
  end
  local camel = {}
  for p in kind.group:gmatch("[^.%-]+") do camel[#camel + 1] = capitalize(p) end
  local g = table.concat(camel)
  return g .. capitalize(kind.version), (g:gsub("^%u", string.lower)) .. "_" .. kind.version
end

-- ---- paths ----

local function param(name, text_key, typ)
  return wire.obj("name", name, "in", "query", "description", texts[text_key or name],
    "schema", wire.obj("type", typ or "string", "uniqueItems", true))
end

local function params(list)
  local out = A({})
  for i, p in ipairs(list) do out[i] = p end
  return out
end

local LIST_PARAMS = {
  param("allowWatchBookmarks", nil, "boolean"), param("continue"), param("fieldSelector"),
  param("labelSelector"), param("limit", nil, "integer"), param("resourceVersion"),
  param("resourceVersionMatch"), param("sendInitialEvents", nil, "boolean"),
  param("timeoutSeconds", nil, "integer"), param("watch", nil, "boolean") }
local WRITE_PARAMS = { param("dryRun"), param("fieldManager"), param("fieldValidation") }
local PATCH_PARAMS = { param("dryRun"), param("fieldManager", "fieldManagerPatch"),
  param("fieldValidation"), param("force", nil, "boolean") }
local DELETE_PARAMS = { param("dryRun"), param("gracePeriodSeconds", nil, "integer"),
  param("ignoreStoreReadErrorWithClusterBreakingPotential", nil, "boolean"),
  param("orphanDependents", nil, "boolean"), param("propagationPolicy") }
local GET_PARAMS = { param("resourceVersion") }
local PRETTY = param("pretty")

local function path_param(name, description)
  return wire.obj("name", name, "in", "path", "description", description, "required", true,
    "schema", wire.obj("type", "string", "uniqueItems", true))
end
local NAMESPACE_PARAM = path_param("namespace", "object name and auth scope, such as for teams and projects")

local function ref(name)
  return wire.obj("$ref", "#/components/schemas/" .. name)
end

local function content(kind, schema, extra_types)
  local types = { "application/json", "application/yaml" }
  if not kind.custom then
    types = { "application/json", "application/vnd.kubernetes.protobuf", "application/yaml" }
  end
  for _, t in ipairs(extra_types or {}) do types[#types + 1] = t end
  table.sort(types)
  local pairs_list = {}
  for _, t in ipairs(types) do
    pairs_list[#pairs_list + 1] = t
    pairs_list[#pairs_list + 1] = wire.obj("schema", ref(schema))
  end
  return wire.obj(table.unpack(pairs_list))
end

local function responses(kind, schema, codes, extra_types)
  local names = { ["200"] = "OK", ["201"] = "Created", ["202"] = "Accepted" }
  local list = {}
  for _, c in ipairs(codes) do
    list[#list + 1] = c
    list[#list + 1] = wire.obj("description", names[c], "content", content(kind, schema, extra_types))
  end
  list[#list + 1] = "401"
  list[#list + 1] = wire.obj("description", "Unauthorized")
  return wire.obj(table.unpack(list))
end

local function gvk_ext(kind)
  return wire.obj("group", kind.group or "", "version", kind.version, "kind", kind.kind)
end

local function operation(kind, tag, description, op_id, action, plist, resp, body)
  return wire.obj("tags", A({ tag }), "description", description, "operationId", op_id,
    "parameters", plist and #plist > 0 and params(plist) or nil,
    "requestBody", body, "responses", resp,
    "x-kubernetes-action", action, "x-kubernetes-group-version-kind", gvk_ext(kind))
end

-- Built-ins take any body type (*/*); custom resources JSON and YAML.
local function body_types(kind)
  return not kind.custom and { "*/*" } or { "application/json", "application/yaml" }
end

local function request_body(schema, types)
  local list = {}
  for _, t in ipairs(types) do
    list[#list + 1] = t
    list[#list + 1] = wire.obj("schema", ref(schema))
  end
  return wire.obj("content", wire.obj(table.unpack(list)), "required", true)
end

local function patch_types(kind)
  local types = { "application/apply-patch+yaml", "application/json-patch+json",
    "application/merge-patch+json" }
  -- Strategic merge patch for the built-ins whose schema is complete here
  -- (kubectl computes such patches from these schemas).
  if not kind.custom and kind.kind ~= "CustomResourceDefinition" then
    types[#types + 1] = "application/strategic-merge-patch+json"
  end
  return types
end

-- The paths of one kind, as { path, ordered path item } pairs.
local function kind_paths(kind)
  local prefix, tag = op_prefix(kind)
  local K = kind.kind
  local schema = schema_name(kind)
  local list_schema = schema:gsub("%.[^.]+$", "") .. "." .. (kind.list_kind or (K .. "List"))
  local root = (kind.group == "" or kind.group == nil) and "/api/" .. kind.version
    or ("/apis/" .. kind.group .. "/" .. kind.version)
  local ns = kind.namespaced and "Namespaced" or ""
  local coll = root .. (kind.namespaced and "/namespaces/{namespace}/" or "/") .. kind.plural
  local watch_types = not kind.custom and { "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch" } or nil
  local del = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
  local status = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
  local patch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
  local name_param = path_param("name", "name of the " .. K)
  local scope = kind.namespaced and { NAMESPACE_PARAM, PRETTY } or { PRETTY }
  local item_scope = kind.namespaced and { name_param, NAMESPACE_PARAM, PRETTY } or { name_param, PRETTY }
  local out = {}
  out[#out + 1] = { coll, wire.obj(
    "get", operation(kind, tag, "list objects of kind " .. K, "list" .. prefix .. ns .. K, "list",
      LIST_PARAMS, responses(kind, list_schema, { "200" }, watch_types)),
    "post", operation(kind, tag, "create a " .. K, "create" .. prefix .. ns .. K, "post", WRITE_PARAMS,
      responses(kind, schema, { "200", "201", "202" }),
      request_body(schema, body_types(kind))),
    "delete", operation(kind, tag, "delete collection of " .. K,
      "delete" .. prefix .. "Collection" .. ns .. K, "deletecollection", LIST_PARAMS,
      responses(kind, status, { "200" })),
    "parameters", params(scope)) }
  out[#out + 1] = { coll .. "/{name}", wire.obj(
    "get", operation(kind, tag, "read the specified " .. K, "read" .. prefix .. ns .. K, "get", GET_PARAMS,
      responses(kind, schema, { "200" })),
    "put", operation(kind, tag, "replace the specified " .. K, "replace" .. prefix .. ns .. K, "put",
      WRITE_PARAMS, responses(kind, schema, { "200", "201" }),
      request_body(schema, body_types(kind))),
    "delete", operation(kind, tag, "delete a " .. K, "delete" .. prefix .. ns .. K, "delete", DELETE_PARAMS,
      responses(kind, status, { "200", "202" }),
      request_body(del, body_types(kind))),
    "patch", operation(kind, tag, "partially update the specified " .. K, "patch" .. prefix .. ns .. K,
      "patch", PATCH_PARAMS, responses(kind, schema, { "200", "201" }),
      request_body(patch, patch_types(kind))),
    "parameters", params(item_scope)) }
  if kind.subresources and kind.subresources.status then
    out[#out + 1] = { coll .. "/{name}/status", wire.obj(
      "get", operation(kind, tag, "read status of the specified " .. K,
        "read" .. prefix .. ns .. K .. "Status", "get", GET_PARAMS, responses(kind, schema, { "200" })),
      "put", operation(kind, tag, "replace status of the specified " .. K,
        "replace" .. prefix .. ns .. K .. "Status", "put", WRITE_PARAMS,
        responses(kind, schema, { "200", "201" }),
        request_body(schema, body_types(kind))),
      "patch", operation(kind, tag, "partially update status of the specified " .. K,
        "patch" .. prefix .. ns .. K .. "Status", "patch", PATCH_PARAMS,
        responses(kind, schema, { "200", "201" }), request_body(patch, patch_types(kind))),
      "parameters", params(item_scope)) }
  end
  if kind.namespaced then
    local all = { table.unpack(LIST_PARAMS) }
    table.insert(all, 6, PRETTY)
    out[#out + 1] = { root .. "/" .. kind.plural, wire.obj(
      "get", operation(kind, tag, "list objects of kind " .. K,
        "list" .. prefix .. K .. "ForAllNamespaces", "list", nil,
        responses(kind, list_schema, { "200" }, watch_types)),
      "parameters", params(all)) }
  end
  return out, schema, list_schema
end

-- ---- schemas ----

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return setmetatable(c, getmetatable(v))
end

-- The published schema of a custom resource: the CRD's, with apiVersion,
-- kind and metadata described and the group-version-kind extension.
local function cr_schema(kind)
  local s = deep_copy(kind.schema) or { type = "object", ["x-kubernetes-preserve-unknown-fields"] = true }
  s.properties = s.properties or {}
  s.properties.apiVersion = { description = texts._apiVersion, type = "string" }
  s.properties.kind = { description = texts._kind, type = "string" }
  s.properties.metadata = { description = texts._metadata,
    allOf = A({ { ["$ref"] = "#/components/schemas/" .. META .. "ObjectMeta" } }) }
  s["x-kubernetes-group-version-kind"] = A({ { group = kind.group, kind = kind.kind,
    version = kind.version } })
  s["x-kubernetes-selectable-fields"] = A({})
  return s
end

local function cr_list_schema(kind, item)
  local plural = kind.plural
  return {
    description = (kind.list_kind or (kind.kind .. "List")) .. " is a list of " .. kind.kind,
    type = "object", required = A({ "items" }),
    properties = {
      apiVersion = { description = texts._apiVersion, type = "string" },
      items = { description = "List of " .. plural .. ". More info: "
        .. "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
        type = "array", items = { ["$ref"] = "#/components/schemas/" .. item } },
      kind = { description = texts._kind, type = "string" },
      metadata = { description = texts._listMetadata,
        allOf = A({ { ["$ref"] = "#/components/schemas/" .. META .. "ListMeta" } }) },
    },
    ["x-kubernetes-group-version-kind"] = A({ { group = kind.group,
      kind = kind.list_kind or (kind.kind .. "List"), version = kind.version } }),
    ["x-kubernetes-selectable-fields"] = A({}),
  }
end

-- Adds every schema named by a $ref inside v (transitively) to out.
local function collect_refs(v, out)
  local pending = { v }
  while #pending > 0 do
    local x = table.remove(pending)
    if type(x) == "table" then
      local r
      if wire.is_ordered(x) then
        for i, k in ipairs(x.keys) do
          if k == "$ref" then r = x.vals[i] end
          pending[#pending + 1] = x.vals[i]
        end
      else
        r = x["$ref"]
        for _, y in pairs(x) do pending[#pending + 1] = y end
      end
      local name = type(r) == "string" and r:match("^#/components/schemas/(.+)$")
      if name and not out[name] and schemas.schemas[name] then
        out[name] = schemas.schemas[name]
        pending[#pending + 1] = out[name]
      end
    end
  end
end

local function build_doc(kinds)
  local paths, comps = {}, {}
  local builtin = false
  for _, kind in ipairs(kinds) do
    builtin = builtin or not kind.custom
    local kp, sname, lname = kind_paths(kind)
    for _, p in ipairs(kp) do paths[#paths + 1] = p end
    if not kind.custom then
      comps[sname] = schemas.schemas[sname]
      comps[lname] = schemas.schemas[lname]
    else
      comps[sname] = cr_schema(kind)
      comps[lname] = cr_list_schema(kind, sname)
    end
  end
  table.sort(paths, function(a, b) return a[1] < b[1] end)
  local plist = {}
  for _, p in ipairs(paths) do
    plist[#plist + 1] = p[1]
    plist[#plist + 1] = p[2]
    collect_refs(p[2], comps)
  end
  local own = {}
  for _, s in pairs(comps) do own[#own + 1] = s end
  for _, s in ipairs(own) do collect_refs(s, comps) end
  local title, ver = "Kubernetes", "1.32"
  if not builtin then title, ver = "Kubernetes CRD Swagger", "v0.1.0" end
  return wire.obj("openapi", "3.0.0", "info", wire.obj("title", title, "version", ver),
    "paths", wire.obj(table.unpack(plist)), "components", wire.obj("schemas", json.object(comps)))
end

-- "api/v1", "apis/<g>/<v>" -> { body, hash, key }; cached per registry generation.
local function documents(app)
  local cache = app.openapi_cache
  if cache and cache.generation == app.registry:generation() then return cache end
  cache = { generation = app.registry:generation(), docs = {}, order = {}, modified = app:now() }
  for _, g in ipairs(app.registry:groups()) do
    for _, vs in ipairs(g.versions) do
      local key = g.name == "" and ("api/" .. vs.version) or ("apis/" .. g.name .. "/" .. vs.version)
      local body = wire.encode(build_doc(vs.kinds))
      cache.docs[key] = { body = body, hash = tls.sha512_hex(body) }
      cache.order[#cache.order + 1] = key
    end
  end
  table.sort(cache.order)
  app.openapi_cache = cache
  return cache
end

local function index(app)
  local cache = documents(app)
  local list = {}
  for _, key in ipairs(cache.order) do
    list[#list + 1] = key
    list[#list + 1] = wire.obj("serverRelativeURL", "/openapi/v3/" .. key .. "?hash=" .. cache.docs[key].hash)
  end
  local body = wire.encode(wire.obj("paths", wire.obj(table.unpack(list))))
  return 200, app:headers({ ["Content-Type"] = "text/plain; charset=utf-8",
    ["Last-Modified"] = wire.http_date(app:now()) }), body
end

local function document(app, req, key)
  local cache = documents(app)
  local doc = cache.docs[key]
  if not doc then return nil end
  local etag = '"' .. doc.hash .. '"'
  local hash = req.args.hash
  if hash and hash ~= doc.hash then
    -- kube-apiserver sends a client holding an old hash to the current one
    return 301, app:headers({ ["Location"] = "/openapi/v3/" .. key .. "?hash=" .. doc.hash,
      ["Content-Type"] = "text/plain; charset=utf-8" }), ""
  end
  local headers = {
    ["Content-Type"] = "application/json",
    ["Etag"] = etag,
    ["Last-Modified"] = wire.http_date(cache.modified),
    ["Vary"] = "Accept",
  }
  if hash then
    headers["Cache-Control"] = "public, immutable"
    headers["Expires"] = wire.http_date(app:now() + YEAR, "UTC")
  end
  if req.headers["if-none-match"] == etag then
    headers["Content-Type"] = nil
    return 304, app:headers(headers), ""
  end
  return 200, app:headers(headers), doc.body
end

function M.serve(app, req, segs)
  if segs[1] ~= "openapi" or (req.method ~= "GET" and req.method ~= "HEAD") then return nil end
  if segs[2] == "v3" then
    if #segs == 2 then return index(app) end
    return document(app, req, table.concat(segs, "/", 3))
  end
  return nil
end

return M
