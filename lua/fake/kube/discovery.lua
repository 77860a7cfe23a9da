-- Discovery: what `/api`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>` and
-- `/api/v1` answer. Clients that accept it get aggregated discovery
-- (apidiscovery.k8s.io v2 or v2beta1, with an ETag, `Cache-Control: public`
-- and `Vary: Accept`; If-None-Match gives 304), others the legacy
-- APIVersions / APIGroupList / APIGroup / APIResourceList documents.
--
--   discovery.serve(app, req, segments) -> status, headers, body | nil
--       (nil: not a discovery path)
local json = require("smop.json")
local sigv4 = require("smop.sigv4")
local tls = require("smop.tls")
local wire = require("fake.kube.wire")

local M = {}

local V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
local V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

local ALL_VERBS = { "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch" }
-- The order the apiextensions server lists a custom resource's verbs in.
local CR_VERBS = { "delete", "deletecollection", "get", "list", "patch", "create", "update", "watch" }
local NAMESPACE_VERBS = { "create", "delete", "get", "list", "patch", "update", "watch" }
local STATUS_VERBS = { "get", "patch", "update" }

local function verbs_of(kind)
  if kind.custom then return CR_VERBS end
  if kind.group == "" and kind.plural == "namespaces" then return NAMESPACE_VERBS end
  return ALL_VERBS
end

local function strings(list)
  if type(list) ~= "table" or #list == 0 then return nil end
  local a = json.array({})
  for i, s in ipairs(list) do a[i] = s end
  return a
end

local function has_status(kind)
  return kind.subresources and kind.subresources.status and true or false
end

-- responseKind: built-in kinds leave group and version empty, as the real
-- server does; custom resources fill them in.
local function response_kind(kind)
  if not kind.custom then
    return wire.obj("group", "", "version", "", "kind", kind.kind)
  end
  return wire.obj("group", kind.group, "version", kind.version, "kind", kind.kind)
end

local function resource_v2(kind)
  local subs
  if has_status(kind) then
    subs = json.array({ wire.obj("subresource", "status", "responseKind", response_kind(kind),
      "verbs", json.array({ table.unpack(STATUS_VERBS) })) })
  end
  return wire.obj(
    "resource", kind.plural,
    "responseKind", response_kind(kind),
    "scope", kind.namespaced and "Namespaced" or "Cluster",
    "singularResource", kind.singular or kind.kind:lower(),
    "verbs", json.array({ table.unpack(verbs_of(kind)) }),
    "shortNames", strings(kind.short_names),
    "categories", strings(kind.categories),
    "subresources", subs)
end

local function group_v2(group)
  local versions = json.array({})
  for i, vs in ipairs(group.versions) do
    local resources = json.array({})
    for j, kind in ipairs(vs.kinds) do resources[j] = resource_v2(kind) end
    versions[i] = wire.obj("version", vs.version, "resources", resources, "freshness", "Current")
  end
  local meta = wire.obj("name", group.name ~= "" and group.name or nil, "creationTimestamp", json.null)
  return wire.obj("metadata", meta, "versions", versions)
end

local function aggregated(app, core, api_version)
  local items = json.array({})
  for _, g in ipairs(app.registry:groups()) do
    if (g.name == "") == core then items[#items + 1] = group_v2(g) end
  end
  return wire.obj("kind", "APIGroupDiscoveryList", "apiVersion", api_version,
    "metadata", json.object({}), "items", items)
end

-- ---- legacy documents ----

local function group_version(group, version)
  return group == "" and version or (group .. "/" .. version)
end

local function api_group(g)
  local versions = json.array({})
  for i, vs in ipairs(g.versions) do
    versions[i] = wire.obj("groupVersion", group_version(g.name, vs.version), "version", vs.version)
  end
  local pref = g.versions[1]
  return versions, wire.obj("groupVersion", group_version(g.name, pref.version), "version", pref.version)
end

-- The storage version hash kube-apiserver publishes: base64 of the first
-- 8 bytes of sha256("group/version/Kind").
local function storage_hash(kind)
  local hex = sigv4.sha256_hex((kind.group or "") .. "/" .. kind.version .. "/" .. kind.kind)
  return wire.base64((hex:sub(1, 16):gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)))
end

local function resource_list(app, group, version)
  local resources = json.array({})
  for _, g in ipairs(app.registry:groups()) do
    if g.name == group then
      for _, vs in ipairs(g.versions) do
        if vs.version == version then
          for _, kind in ipairs(vs.kinds) do
            resources[#resources + 1] = wire.obj(
              "name", kind.plural, "singularName", kind.singular or kind.kind:lower(),
              "namespaced", kind.namespaced and true or false, "kind", kind.kind,
              "verbs", json.array({ table.unpack(verbs_of(kind)) }),
              "shortNames", strings(kind.short_names), "categories", strings(kind.categories),
              "storageVersionHash", storage_hash(kind))
            if has_status(kind) then
              resources[#resources + 1] = wire.obj("name", kind.plural .. "/status", "singularName", "",
                "namespaced", kind.namespaced and true or false, "kind", kind.kind,
                "verbs", json.array({ table.unpack(STATUS_VERBS) }))
            end
          end
        end
      end
    end
  end
  return wire.obj("kind", "APIResourceList", "apiVersion", "v1",
    "groupVersion", group_version(group, version), "resources", resources)
end

-- ---- serving ----

-- The first media type of Accept the fake can answer: "v2", "v2beta1" or
-- "json".
local function negotiate(accept)
  for _, m in ipairs(wire.parse_accept(accept)) do
    local p = m.params
    if m.type == "application/json" and p.g == "apidiscovery.k8s.io" and p.as == "APIGroupDiscoveryList" then
      if p.v == "v2" then return "v2" end
      if p.v == "v2beta1" then return "v2beta1" end
    elseif p.as == nil and (m.type == "application/json" or m.type == "*/*" or m.type == "application/*") then
      return "json"
    end
  end
  return nil
end

local function not_acceptable(app, req)
  return app:status_answer(req, wire.error(406,
    "only the following media types are accepted: application/json, application/yaml, "
      .. "application/vnd.kubernetes.protobuf"))
end

-- Cached aggregated bodies per (core, media type, registry generation).
local function cached_v2(app, core, which)
  local cache = app.discovery_cache
  if not cache or cache.generation ~= app.registry:generation() then
    cache = { generation = app.registry:generation() }
    app.discovery_cache = cache
  end
  local k = (core and "api" or "apis") .. which
  if not cache[k] then
    local api_version = which == "v2" and "apidiscovery.k8s.io/v2" or "apidiscovery.k8s.io/v2beta1"
    local body = wire.encode(aggregated(app, core, api_version))
    cache[k] = { body = body, etag = '"' .. tls.sha512_hex(body) .. '"' }
  end
  return cache[k]
end

local function serve_root(app, req, core)
  local which = negotiate(req.headers["accept"])
  if not which then return not_acceptable(app, req) end
  if which == "json" then
    local doc
    if core then
      doc = wire.obj("kind", "APIVersions", "versions", json.array({ "v1" }),
        "serverAddressByClientCIDRs", json.array({
          wire.obj("clientCIDR", "0.0.0.0/0", "serverAddress", app:server_address()) }))
    else
      local groups = json.array({})
      for _, g in ipairs(app.registry:groups()) do
        if g.name ~= "" then
          local versions, preferred = api_group(g)
          groups[#groups + 1] = wire.obj("name", g.name, "versions", versions, "preferredVersion", preferred)
        end
      end
      doc = wire.obj("kind", "APIGroupList", "apiVersion", "v1", "groups", groups)
    end
    return app:json_answer(req, 200, doc)
  end
  local c = cached_v2(app, core, which)
  local headers = {
    ["Content-Type"] = which == "v2" and V2 or V2BETA1,
    ["Cache-Control"] = "public",
    ["Etag"] = c.etag,
    ["Vary"] = "Accept",
  }
  if req.headers["if-none-match"] == c.etag then
    headers["Content-Type"] = nil
    return 304, app:headers(headers), ""
  end
  return 200, app:headers(headers), c.body
end

function M.serve(app, req, segs)
  local n = #segs
  if req.method ~= "GET" and req.method ~= "HEAD" then return nil end
  if segs[1] == "api" then
    if n == 1 then return serve_root(app, req, true) end
    if n == 2 and app.registry:has_version("", segs[2]) then
      return app:json_answer(req, 200, resource_list(app, "", segs[2]))
    end
  elseif segs[1] == "apis" then
    if n == 1 then return serve_root(app, req, false) end
    if n == 2 then
      for _, g in ipairs(app.registry:groups()) do
        if g.name == segs[2] and g.name ~= "" then
          local versions, preferred = api_group(g)
          return app:json_answer(req, 200, wire.obj("kind", "APIGroup", "apiVersion", "v1",
            "name", g.name, "versions", versions, "preferredVersion", preferred))
        end
      end
    elseif n == 3 and segs[2] ~= "" and app.registry:has_version(segs[2], segs[3]) then
      return app:json_answer(req, 200, resource_list(app, segs[2], segs[3]))
    end
  end
  return nil
end

return M
