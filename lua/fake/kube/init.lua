-- The fake Kubernetes API as an app for smop.server:
--
--   local kube = require("fake.kube")
--   local app = kube.new{ token = "...", now = task.time }
--   local n, errs = app:load_crds(docs)   -- decoded YAML documents
--   server.listen{ handler = function(req) return app:handle(req) end, tls = ... }
--
-- app:handle(req) answers `status, headers, body`, or streams (watches).
-- The pieces (README.md beside this file): the store keeps objects and
-- builtin.lua its built-in kinds and controllers (CRDs become kinds there),
-- the registry shapes the kinds for discovery, api.lua routes and speaks
-- HTTP, control.lua is /_smop/.
local api = require("fake.kube.api")
local builtin = require("fake.kube.builtin")
local control = require("fake.kube.control")
local json = require("smop.json")
local registry = require("fake.kube.registry")
local store_mod = require("fake.kube.store")
local task = require("smop.task")
local wire = require("fake.kube.wire")

local M = {}
local App = {}
App.__index = App

-- What /version reports: minor "32" makes the gcloud kubectl dispatcher run
-- its built-in kubectl 1.32 (kube-wire fact 2).
M.VERSION = {
  major = "1", minor = "32", gitVersion = "v1.32.0+smop",
  gitCommit = "0000000000000000000000000000000000000000", gitTreeState = "clean",
  buildDate = "2026-01-01T00:00:00Z", goVersion = "go1.23.5", compiler = "gc",
  platform = "linux/amd64",
}

-- kube-apiserver's request body limit.
M.MAX_BODY = 3 * 1024 * 1024

-- opts: token (nil: no authentication), now (epoch seconds), address
-- ("host:port" clients reach), store_opts (fake.kube.store), builtin_opts
-- (builtin.install), max_body.
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({
    token = opts.token,
    now_fn = opts.now or task.time,
    max_body = opts.max_body or M.MAX_BODY,
    address = opts.address or "127.0.0.1:6443",
    version = opts.version or M.VERSION,
  }, App)
  local store_opts = { clock = self.now_fn }
  for k, v in pairs(opts.store_opts or {}) do store_opts[k] = v end
  self.store = store_mod.new(store_opts)
  builtin.install(self.store, opts.builtin_opts)
  self.registry = registry.new(self.store)
  self.control = control.new(self)
  return self
end

function App:now()
  return self.now_fn()
end

function App:kind(group, version, plural)
  return self.registry:find(group, version, plural)
end

-- The host:port clients reach (legacy /api's serverAddressByClientCIDRs).
function App:server_address()
  return self.address
end

-- The manifest as `kubectl apply` records it in its annotation.
local LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

local function with_last_applied(doc)
  if type(doc.metadata) ~= "table" then return doc end
  local annotations = {}
  for k, v in pairs(type(doc.metadata.annotations) == "table" and doc.metadata.annotations or {}) do
    if k ~= LAST_APPLIED then annotations[k] = v end
  end
  doc.metadata.annotations = json.object(annotations)
  local text = json.encode(doc, { sorted = true })
  annotations[LAST_APPLIED] = text and (text .. "\n") or nil
  doc.metadata.annotations = annotations
  return doc
end

-- docs: decoded YAML documents; every CustomResourceDefinition among them
-- is created (or updated) through the store as `kubectl apply` would (with
-- its last-applied annotation, so a later apply patches quietly), and
-- served. Returns the count loaded and a list of "name: message" for the
-- ones refused.
function App:load_crds(docs)
  local crd_kind = self:kind("apiextensions.k8s.io", "v1", "customresourcedefinitions")
  local loaded, errs = 0, {}
  local opts = { field_manager = "kubectl-client-side-apply", field_validation = "Strict" }
  for _, doc in ipairs(docs) do
    if type(doc) == "table" and doc.kind == "CustomResourceDefinition" then
      local name = type(doc.metadata) == "table" and doc.metadata.name or "?"
      doc = with_last_applied(doc)
      local existing = self.store:get(crd_kind, nil, name)
      local obj, err
      if existing then
        doc.metadata.resourceVersion = existing.metadata.resourceVersion
        obj, err = self.store:update(crd_kind, nil, name, doc, opts)
      else
        obj, err = self.store:create(crd_kind, nil, doc, opts)
      end
      if obj then
        loaded = loaded + 1
      else
        errs[#errs + 1] = name .. ": " .. tostring(type(err) == "table" and err.message or err)
      end
    end
  end
  return loaded, errs
end

-- ---- answers ----

-- Headers every answer carries, plus h.
function App.headers(_, h)
  local out = { ["Audit-Id"] = wire.uuid(), ["Cache-Control"] = "no-cache, private" }
  for k, v in pairs(h or {}) do out[k] = v end
  return out
end

function App:handle(req)
  return api.handle(self, req)
end

api.install(App)
M.App = App
return M
