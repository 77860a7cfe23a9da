-- The object store of the fake Kubernetes API: the semantics of
-- kube-apiserver 1.32's generic registry, watch cache and garbage collector,
-- without HTTP (api.lua renders what this returns). The contract is in
-- README.md beside this file; in short every call returns a value, or nil and
-- a Status table (status.lua) for the API layer to send as it is.
--
-- Stored objects are never changed in place: a write stores a new table, so
-- the event window can keep references to old versions. Callers always get
-- copies.
local json = require("smop.json")
local task = require("smop.task")
local value = require("fake.kube.value")
local status = require("fake.kube.status")
local schema = require("fake.kube.schema")
local patch = require("fake.kube.patch")
local managed = require("fake.kube.managed")
local selector = require("fake.kube.selector")

local null = value.null
local copy = value.copy

local Store = {}
Store.__index = Store

local Watcher = {}
Watcher.__index = Watcher

local M = {}

-- opts: clock (epoch seconds), max_events (retained watch events per
-- resource, default 1000), event_ttl (seconds an event is retained; default
-- unlimited), resource_version (the counter's start, default 1),
-- watch_queue_limit (undelivered events before a slow watcher is closed).
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({}, Store)
  self.clock = opts.clock or task.time
  self.rv = opts.resource_version or 1
  self.max_events = opts.max_events or 1000
  self.event_ttl = opts.event_ttl
  self.queue_limit = opts.watch_queue_limit or 10000
  self.defs = {}          -- "group/version/plural" -> kind_def
  self.storages = {}      -- storage key -> storage
  self.uids = {}          -- uid -> { storage, key }
  self.dependents = {}    -- owner uid -> { dependent uid = true }
  self.hooks = {}
  self.gc_queue = {}
  self.gc_running = false
  self.gc_idle = task.condition()
  self.expire_next_watch = false
  return self
end

---------------------------------------------------------------------------
-- Kinds
---------------------------------------------------------------------------

local function def_key(group, version, plural)
  return (group or "") .. "/" .. (version or "") .. "/" .. (plural or "")
end

local function api_version(kd)
  if kd.group == "" then return kd.version end
  return kd.group .. "/" .. kd.version
end
M.api_version = api_version

local function storage_key(kd)
  return kd.storage or (kd.group .. "/" .. kd.plural)
end

function Store:add_kind(kd)
  assert(type(kd) == "table" and kd.kind and kd.plural and kd.version,
    "add_kind: kind_def needs kind, plural, version")
  kd.group = kd.group or ""
  kd.list_kind = kd.list_kind or (kd.kind .. "List")
  kd.singular = kd.singular or kd.kind:lower()
  if kd.allow_unconditional_update == nil then kd.allow_unconditional_update = not kd.custom end
  self.defs[def_key(kd.group, kd.version, kd.plural)] = kd
  local sk = storage_key(kd)
  local s = self.storages[sk]
  if not s then
    s = { key = sk, objects = {}, events = {}, first = 1, last = 0, window_start = self.rv,
          watchers = {}, def = kd }
    self.storages[sk] = s
  end
  if not kd.storage or kd.storage_version then s.def = kd end
  if kd.group == "" and kd.plural == "namespaces" then self.ns_storage = s end
  return kd
end

function Store:remove_kind(kd)
  local key = def_key(kd.group, kd.version, kd.plural)
  if self.defs[key] ~= kd then return end
  self.defs[key] = nil
  local sk = storage_key(kd)
  for _, other in pairs(self.defs) do
    if storage_key(other) == sk then return end
  end
  local s = self.storages[sk]
  if s then
    local list = {}
    for w in pairs(s.watchers) do list[#list + 1] = w end
    for _, w in ipairs(list) do w:close(true) end
    for _, obj in pairs(s.objects) do self.uids[obj.metadata.uid] = nil end
    self.storages[sk] = nil
  end
end

function Store:kind_for(group, version, plural)
  return self.defs[def_key(group, version, plural)]
end

-- Every kind, sorted by group, version and plural.
function Store:kinds()
  local list = {}
  for _, kd in pairs(self.defs) do list[#list + 1] = kd end
  table.sort(list, function(a, b)
    if a.group ~= b.group then return a.group < b.group end
    if a.version ~= b.version then return a.version < b.version end
    return a.plural < b.plural
  end)
  return list
end

function Store:resource_version()
  return tostring(self.rv)
end

-- fn(event, kind_def) after every committed write; event = { type, object,
-- prev, rv }. For the built-in controllers (builtin.lua).
function Store:on_commit(fn)
  self.hooks[#self.hooks + 1] = fn
end

local function storage_of(self, kd)
  return self.storages[storage_key(kd)]
end

local function object_key(kd, namespace, name)
  if kd.namespaced then return (namespace or "") .. "/" .. name end
  return name
end

-- The object as the caller's kind/version shows it.
local function present(kd, obj)
  local o = copy(obj)
  if kd.from_storage then o = kd.from_storage(o) end
  o.apiVersion = api_version(kd)
  o.kind = kd.kind
  return o
end
M.present = present

local function now_rfc3339(self) return value.rfc3339(self.clock()) end

---------------------------------------------------------------------------
-- Indexes (uids, owner references)
---------------------------------------------------------------------------

local function owner_uids(obj)
  local out = {}
  local refs = obj.metadata.ownerReferences
  if value.kind(refs) == "array" then
    for _, r in ipairs(refs) do
      if type(r) == "table" and type(r.uid) == "string" then out[#out + 1] = r.uid end
    end
  end
  return out
end

local function index_remove(self, obj)
  local uid = obj.metadata.uid
  self.uids[uid] = nil
  for _, owner in ipairs(owner_uids(obj)) do
    local deps = self.dependents[owner]
    if deps then
      deps[uid] = nil
      if next(deps) == nil then self.dependents[owner] = nil end
    end
  end
end

local function index_add(self, s, key, obj)
  local uid = obj.metadata.uid
  self.uids[uid] = { storage = s, key = key }
  for _, owner in ipairs(owner_uids(obj)) do
    local deps = self.dependents[owner]
    if not deps then deps = {}; self.dependents[owner] = deps end
    deps[uid] = true
  end
end

local function by_uid(self, uid)
  local at = self.uids[uid]
  if not at then return nil end
  local obj = at.storage.objects[at.key]
  if not obj then return nil end
  return obj, at.storage, at.key
end

---------------------------------------------------------------------------
-- Watch events
---------------------------------------------------------------------------

local function has_finalizer(obj, name)
  local f = obj.metadata.finalizers
  if value.kind(f) ~= "array" then return false end
  for _, x in ipairs(f) do if x == name then return true end end
  return false
end

local function trim_window(self, s)
  local now = self.clock()
  while s.last - s.first + 1 > self.max_events
      or (self.event_ttl and s.first <= s.last and now - s.events[s.first].time > self.event_ttl) do
    local ev = s.events[s.first]
    s.window_start = ev.rv
    s.events[s.first] = nil
    s.first = s.first + 1
  end
end

local gc_schedule

-- Stores (or removes) an object at the next resourceVersion and tells
-- watchers, hooks and the garbage collector.
function Store:commit(s, key, new, old, etype)
  self.rv = self.rv + 1
  local rv = self.rv
  local ev = { type = etype, prev = old, rv = rv, time = self.clock() }
  if etype == "DELETED" then
    s.objects[key] = nil
    index_remove(self, old)
    local gone = copy(old)
    gone.metadata.resourceVersion = tostring(rv)
    ev.object = gone
  else
    new.metadata.resourceVersion = tostring(rv)
    if old then index_remove(self, old) end
    s.objects[key] = new
    index_add(self, s, key, new)
    ev.object = new
  end
  s.last = s.last + 1
  s.events[s.last] = ev
  trim_window(self, s)
  for w in pairs(s.watchers) do w:offer(ev) end
  for _, hook in ipairs(self.hooks) do hook(ev, s.def) end
  -- Garbage collection and the controllers that finish deletions.
  local obj = ev.object
  if etype == "DELETED" then
    gc_schedule(self, { op = "owner_gone", uid = old.metadata.uid })
    for _, owner in ipairs(owner_uids(old)) do gc_schedule(self, { op = "finalize", uid = owner }) end
    local ns = old.metadata.namespace
    if ns and self.ns_storage then
      local nso = self.ns_storage.objects[ns]
      if nso and nso.metadata.deletionTimestamp then gc_schedule(self, { op = "namespace", name = ns }) end
    end
  elseif obj.metadata.deletionTimestamp then
    gc_schedule(self, { op = "finalize", uid = obj.metadata.uid })
  end
  if old and etype == "MODIFIED" then
    -- An owner reference to an object that is gone makes an orphan.
    local dangling = false
    for _, u in ipairs(owner_uids(new)) do
      if not self.uids[u] then dangling = true end
    end
    if dangling then gc_schedule(self, { op = "dependent", uid = new.metadata.uid }) end
  elseif etype == "ADDED" then
    for _, u in ipairs(owner_uids(new)) do
      local owner = by_uid(self, u)
      if not owner or (owner.metadata.deletionTimestamp and has_finalizer(owner, "foregroundDeletion")) then
        gc_schedule(self, { op = "dependent", uid = new.metadata.uid })
        break
      end
    end
  end
  return ev
end

---------------------------------------------------------------------------
-- Field sets, selectors
---------------------------------------------------------------------------

local function field_set(kd, obj)
  local set = { ["metadata.name"] = obj.metadata.name or "" }
  if kd.namespaced then set["metadata.namespace"] = obj.metadata.namespace or "" end
  if kd.field_labels then
    for k, v in pairs(kd.field_labels(obj)) do set[k] = v end
  end
  return set
end

local function supported_fields(kd)
  local set = { ["metadata.name"] = true }
  if kd.namespaced then set["metadata.namespace"] = true end
  for _, f in ipairs(kd.selectable_fields or {}) do set[f] = true end
  return set
end

local function label_set(obj)
  local l = obj.metadata.labels
  if value.kind(l) == "object" then return l end
  return {}
end

local function parse_selectors(kd, opts)
  local lsel, err = selector.labels(opts.label_selector)
  if not lsel then return nil, nil, status.bad_request(err) end
  local fsel
  fsel, err = selector.fields(opts.field_selector, supported_fields(kd))
  if not fsel then return nil, nil, status.bad_request(err) end
  return lsel, fsel
end

local function matcher(kd, namespace, lsel, fsel)
  return function(obj)
    if namespace and namespace ~= "" and obj.metadata.namespace ~= namespace then return false end
    return lsel(label_set(obj)) and fsel(field_set(kd, obj))
  end
end

---------------------------------------------------------------------------
-- Input checks shared by create, update and patch
---------------------------------------------------------------------------

local function decode_error(kd, obj, message)
  local k = type(obj) == "table" and type(obj.kind) == "string" and obj.kind or kd.kind
  return status.bad_request(string.format('%s in version "%s" cannot be handled as a %s: %s',
    k, kd.version, kd.kind, message))
end

-- apiVersion/kind defaulted from the endpoint; a body for another group,
-- version or (for built-ins) kind is refused as the handlers refuse it.
local function check_type_meta(kd, obj)
  if obj.apiVersion == nil or obj.apiVersion == "" then obj.apiVersion = api_version(kd) end
  if obj.kind == nil or obj.kind == "" then obj.kind = kd.kind end
  if type(obj.apiVersion) ~= "string" or type(obj.kind) ~= "string" then
    return decode_error(kd, obj, "apiVersion and kind must be strings")
  end
  if obj.apiVersion ~= api_version(kd) then
    return status.bad_request(string.format(
      "the API version in the data (%s) does not match the expected API version (%s)",
      obj.apiVersion, api_version(kd)))
  end
  if not kd.custom and obj.kind ~= kd.kind then
    return status.bad_request(string.format('%s in version "%s" cannot be handled as a %s: no kind "%s" ' ..
      'is registered for version "%s"',
      obj.kind, kd.version, kd.kind, obj.kind, api_version(kd)))
  end
  return nil
end

-- Unknown fields: pruned (custom resources: by the schema; built-ins: top
-- level against known_fields), refused (fieldValidation=Strict) or warned
-- about (Warn, the default).
local function handle_unknown_fields(kd, obj, opts, warnings)
  local unknown
  if kd.custom then
    unknown = schema.prune(obj, kd.schema)
  else
    unknown = {}
    if kd.known_fields then
      for _, k in ipairs(value.keys(obj)) do
        if k ~= "apiVersion" and k ~= "kind" and k ~= "metadata" and not kd.known_fields[k] then
          unknown[#unknown + 1] = k
          obj[k] = nil
        end
      end
    end
    if value.kind(obj.metadata) == "object" then
      for _, k in ipairs(value.keys(obj.metadata)) do
        if not schema.object_meta_fields[k] then
          unknown[#unknown + 1] = "metadata." .. k
          obj.metadata[k] = nil
        end
      end
    end
    table.sort(unknown)
  end
  if #unknown == 0 then return nil end
  local mode = opts.field_validation or "Warn"
  if mode == "Strict" then
    local parts = {}
    for i, p in ipairs(unknown) do parts[i] = string.format('unknown field "%s"', p) end
    return decode_error(kd, obj, "strict decoding error: " .. table.concat(parts, ", "))
  elseif mode ~= "Ignore" then
    for _, p in ipairs(unknown) do warnings[#warnings + 1] = string.format('unknown field "%s"', p) end
  end
  return nil
end

local function check_body(kd, obj)
  if value.kind(obj) ~= "object" then
    return nil, decode_error(kd, obj,
      "json: cannot unmarshal " .. value.kind(obj) .. " into Go value of type map[string]interface {}")
  end
  obj = copy(obj)
  local err = check_type_meta(kd, obj)
  if err then return nil, err end
  if obj.metadata == nil or obj.metadata == null then obj.metadata = {} end
  local msg = schema.check_meta_shape(obj.metadata)
  if msg then return nil, decode_error(kd, obj, msg) end
  if kd.decode_check then
    msg = kd.decode_check(obj)
    if msg then return nil, decode_error(kd, obj, msg) end
  end
  return obj
end

local function name_fn(kd)
  local v = kd.name_validation or "subdomain"
  if type(v) == "function" then return v end
  return schema.name_validators[v]
end

local function append_all(list, more)
  for _, x in ipairs(more or {}) do list[#list + 1] = x end
  return list
end

local function type_meta_errors(kd, obj)
  local errs = {}
  if obj.kind ~= kd.kind then
    errs[#errs + 1] = schema.errors.invalid("kind", obj.kind, "must be " .. kd.kind)
  end
  if obj.apiVersion ~= api_version(kd) then
    errs[#errs + 1] = schema.errors.invalid("apiVersion", obj.apiVersion,
      "must be " .. kd.group .. "/" .. kd.version)
  end
  return errs
end

local function validate_create(self, kd, obj)
  if kd.custom then
    local errs = type_meta_errors(kd, obj)
    if #errs > 0 then return errs end
    append_all(errs, schema.validate_object_meta(obj.metadata, kd.namespaced, name_fn(kd)))
    append_all(errs, schema.validate(obj, kd.schema))
    append_all(errs, schema.validate_list_types(obj, kd.schema))
    return errs
  end
  local errs = schema.validate_object_meta(obj.metadata, kd.namespaced, name_fn(kd), { core = kd.core })
  if kd.validate then append_all(errs, kd.validate(obj, self)) end
  return errs
end

local function validate_update(self, kd, new, old, subresource)
  if kd.custom then
    local errs = type_meta_errors(kd, new)
    if #errs > 0 then return errs end
    append_all(errs, schema.validate_object_meta_update(new.metadata, old.metadata))
    local sch = kd.schema
    if subresource == "status" then
      local ss = sch and sch.properties and sch.properties.status
      if new.status ~= nil and ss then
        append_all(errs, schema.validate(new.status, ss, { prefix = "status", old = old.status }))
      end
    else
      append_all(errs, schema.validate(new, sch, { old = old }))
      if #schema.validate_list_types(old, sch) == 0 then
        append_all(errs, schema.validate_list_types(new, sch))
      end
    end
    return errs
  end
  local errs = schema.validate_object_meta_update(new.metadata, old.metadata, { core = kd.core })
  if kd.validate_update then
    append_all(errs, kd.validate_update(new, old, self, subresource))
  elseif kd.validate then
    append_all(errs, kd.validate(new, self))
  end
  return errs
end

local function invalid(kd, name, errs)
  return schema.invalid_status(kd.group, kd.kind, name or "", errs)
end

-- NamespaceLifecycle admission: content goes into existing, live namespaces.
local function check_namespace(self, kd, namespace, name)
  if not kd.namespaced or not self.ns_storage or not namespace or namespace == "" then return nil end
  local ns = self.ns_storage.objects[namespace]
  if not ns then return status.not_found_resource("", "namespaces", namespace) end
  if ns.metadata.deletionTimestamp then
    return status.forbidden(kd, name or "", string.format(
      "unable to create new content in namespace %s because it is being terminated", namespace),
      { { reason = "NamespaceTerminating", message = string.format("namespace %s is being terminated",
        namespace),
          field = "metadata.namespace" } })
  end
  return nil
end

local name_chars = "bcdfghjklmnpqrstvwxz2456789"

local function generate_name(base)
  if #base > 58 then base = base:sub(1, 58) end
  local t = {}
  for i = 1, 5 do
    local n = math.random(1, #name_chars)
    t[i] = name_chars:sub(n, n)
  end
  return base .. table.concat(t)
end

-- The endpoint's reset fields, for managedFields.
local function ignored_paths(kd, subresource)
  if subresource == "status" then
    return { { "f:spec" }, { "f:metadata" } }
  end
  if kd.subresources and kd.subresources.status then return { { "f:status" } } end
  return {}
end

local function update_managed(self, kd, live, new, opts, entries)
  if not opts.field_manager then return end
  new.metadata.managedFields = managed.update{
    live = live, new = new, manager = opts.field_manager, subresource = opts.subresource,
    api_version = api_version(kd), time = now_rfc3339(self), types = kd.types,
    ignore = ignored_paths(kd, opts.subresource), entries = entries, zero = kd.zero,
  }
end

---------------------------------------------------------------------------
-- Create
---------------------------------------------------------------------------

-- opts: dry_run, field_manager, field_validation ("Strict" | "Warn" |
-- "Ignore"). Returns the created object and a list of warnings.
function Store:create(kd, namespace, obj, opts)
  opts = opts or {}
  local s = storage_of(self, kd)
  if not s then return nil, status.not_found_resource(kd.group, kd.plural, "") end
  local body, err = check_body(kd, obj)
  if not body then return nil, err end
  obj = body
  local warnings = {}
  err = handle_unknown_fields(kd, obj, opts, warnings)
  if err then return nil, err end
  if kd.custom then schema.default(obj, kd.schema) end
  if kd.to_storage then obj = kd.to_storage(obj) end
  local meta = obj.metadata
  if kd.namespaced and (namespace == nil or namespace == "") then namespace = meta.namespace end
  if not kd.namespaced then namespace = nil end
  if meta.resourceVersion ~= nil and meta.resourceVersion ~= "" then
    return nil, status.bad_request("resourceVersion should not be set on objects to be created")
  end
  err = check_namespace(self, kd, namespace, meta.name or meta.generateName)
  if err then return nil, err end
  -- BeforeCreate
  local unnamed = meta.name == nil or meta.name == ""
  if unnamed and type(meta.generateName) == "string" and meta.generateName ~= "" then
    meta.name = generate_name(meta.generateName)
  end
  if kd.namespaced then
    if meta.namespace == nil or meta.namespace == "" then
      meta.namespace = namespace
    elseif namespace and meta.namespace ~= namespace then
      return nil, status.bad_request("the namespace of the provided object does not match the namespace " ..
        "sent on the request")
    end
  else
    meta.namespace = nil
  end
  meta.uid = value.uuid()
  meta.creationTimestamp = now_rfc3339(self)
  meta.deletionTimestamp = nil
  meta.deletionGracePeriodSeconds = nil
  meta.selfLink = nil
  meta.managedFields = nil
  if kd.custom and kd.subresources and kd.subresources.status then obj.status = nil end
  if kd.generation then meta.generation = 1 else meta.generation = nil end
  if kd.prepare_create then kd.prepare_create(obj, self) end
  local errs = validate_create(self, kd, obj)
  if #errs > 0 then return nil, invalid(kd, meta.name, errs) end
  if kd.custom then append_all(warnings, schema.finalizer_warnings(meta.finalizers, nil)) end
  local key = object_key(kd, meta.namespace, meta.name)
  if s.objects[key] then return nil, status.already_exists(kd, meta.name) end
  update_managed(self, kd, nil, obj, opts, {})
  if opts.dry_run then return present(kd, obj), warnings end
  self:commit(s, key, obj, nil, "ADDED")
  return present(kd, obj), warnings
end

---------------------------------------------------------------------------
-- Get, list
---------------------------------------------------------------------------

local function parse_rv(rv)
  if rv == nil or rv == "" then return nil end
  if type(rv) == "number" then return math.tointeger(rv) end
  if type(rv) ~= "string" or not rv:match("^%d+$") then return false end
  return math.tointeger(tonumber(rv))
end

local function invalid_rv(rv)
  return status.bad_request(string.format("invalid resource version: %s", value.go_quote(tostring(rv))))
end

-- opts.resource_version: "" or nil (latest), "0" (any), or an RV the answer
-- must not be older than.
function Store:get(kd, namespace, name, opts)
  opts = opts or {}
  local s = storage_of(self, kd)
  if not s then return nil, status.not_found(kd, name) end
  local rv = parse_rv(opts.resource_version)
  if rv == false then return nil, invalid_rv(opts.resource_version) end
  if rv and rv > self.rv then return nil, status.too_large_resource_version(rv, self.rv) end
  if not kd.namespaced then namespace = nil end
  local obj = s.objects[object_key(kd, namespace, name)]
  if not obj then return nil, status.not_found(kd, name) end
  return present(kd, obj)
end

-- The objects of a storage as they were at rv (which must be in the window).
local function snapshot(self, s, rv)
  local state = {}
  for k, o in pairs(s.objects) do state[k] = o end
  if rv >= self.rv then return state end
  for i = s.last, s.first, -1 do
    local ev = s.events[i]
    if ev.rv <= rv then break end
    local o = ev.object
    local k = object_key(s.def, o.metadata.namespace, o.metadata.name)
    if ev.type == "ADDED" then
      state[k] = nil
    else
      state[k] = ev.prev
    end
  end
  return state
end

local function encode_continue(rv, start)
  return value.base64_encode(json.encode({ v = "meta.k8s.io/v1", rv = rv, start = start },
    { sorted = true }), true)
end

local function decode_continue(token)
  local raw = value.base64_decode(token, true)
  if not raw then return nil end
  local ok, t = pcall(json.decode, raw)
  if not ok or type(t) ~= "table" or t.v ~= "meta.k8s.io/v1" or math.type(t.rv) ~= "integer"
      or type(t.start) ~= "string" then
    return nil
  end
  return t
end

local continue_expired = "The provided continue parameter is too old to display a consistent list result. "
  .. "You can start a new list without the continue parameter, or use the continue token in this response "
  .. "to retrieve the remainder of the results. Continuing with the provided token results in an "
  .. "inconsistent list - objects that were created, modified, or deleted between the time the first chunk "
  .. "was returned and now may show up in the list."

local function list_options_invalid(errs)
  return schema.invalid_status("meta.k8s.io", "ListOptions", "", errs)
end

-- opts: label_selector, field_selector, limit, continue, resource_version,
-- resource_version_match ("Exact" | "NotOlderThan"). Returns the list object
-- and its resourceVersion.
function Store:list(kd, namespace, opts)
  opts = opts or {}
  local s = storage_of(self, kd)
  if not s then return nil, status.not_found_resource(kd.group, kd.plural, "") end
  if not kd.namespaced then namespace = nil end
  local E = schema.errors
  local rv_text, match = opts.resource_version, opts.resource_version_match
  if match == "" then match = nil end
  if rv_text == "" then rv_text = nil end
  local token = opts.continue
  if token == "" then token = nil end
  if match then
    local errs = {}
    if rv_text == nil then
      errs[#errs + 1] = E.forbidden("resourceVersionMatch",
        "resourceVersionMatch is forbidden unless resourceVersion is provided")
    end
    if token then
      errs[#errs + 1] = E.forbidden("resourceVersionMatch",
        "resourceVersionMatch is forbidden when continue is provided")
    end
    if match ~= "Exact" and match ~= "NotOlderThan" then
      errs[#errs + 1] = E.not_supported("resourceVersionMatch", match, { "Exact", "NotOlderThan", "" })
    end
    if match == "Exact" and rv_text == "0" then
      errs[#errs + 1] = E.forbidden("resourceVersionMatch",
        'resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
    end
    if #errs > 0 then return nil, list_options_invalid(errs) end
  end
  if token and rv_text and rv_text ~= "0" then
    return nil, status.bad_request("specifying resource version is not allowed when using continue")
  end
  local lsel, fsel, serr = parse_selectors(kd, opts)
  if serr then return nil, serr end
  local limit = math.tointeger(tonumber(opts.limit or 0)) or 0
  local rv = parse_rv(rv_text)
  if rv == false then return nil, invalid_rv(rv_text) end
  local at = self.rv
  local start
  if token then
    local t = decode_continue(token)
    if not t then
      return nil, status.bad_request(
        "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    end
    start = t.start
    if t.rv >= 0 then
      if t.rv < s.window_start then
        local fresh = encode_continue(-1, t.start)
        return nil, status.expired(continue_expired, fresh)
      end
      at = t.rv
    end
  elseif rv and rv > 0 then
    if rv > self.rv then return nil, status.too_large_resource_version(rv, self.rv) end
    local exact = match == "Exact" or (match == nil and limit > 0)
    if exact then
      if rv < s.window_start then
        return nil, status.expired("The resourceVersion for the provided list is too old.")
      end
      at = rv
    end
  elseif rv == 0 then
    limit = 0 -- served from the watch cache, which ignores limit
  end
  local state = at == self.rv and s.objects or snapshot(self, s, at)
  local keys = {}
  for k in pairs(state) do keys[#keys + 1] = k end
  table.sort(keys)
  local ok = matcher(kd, namespace, lsel, fsel)
  local items = json.array({})
  local next_start, remaining, last_key = nil, 0, nil
  local selecting = (opts.label_selector or "") ~= "" or (opts.field_selector or "") ~= ""
  for _, k in ipairs(keys) do
    if start == nil or k >= start then
      local o = state[k]
      if ok(o) then
        if limit > 0 and #items >= limit then
          remaining = remaining + 1
          next_start = next_start or last_key
        else
          items[#items + 1] = present(kd, o)
          last_key = k
        end
      end
    end
  end
  local list_meta = { resourceVersion = tostring(at) }
  if next_start then
    list_meta.continue = encode_continue(at, next_start .. "\0")
    if not selecting then list_meta.remainingItemCount = remaining end
  elseif kd.custom then
    list_meta.continue = ""
  end
  return {
    apiVersion = api_version(kd), kind = kd.list_kind, metadata = list_meta, items = items,
  }, tostring(at)
end

---------------------------------------------------------------------------
-- Update, patch
---------------------------------------------------------------------------

local function strip_meta_for_generation(obj)
  local o = {}
  for k, v in pairs(obj) do if k ~= "metadata" then o[k] = v end end
  return o
end

-- The part of an update after the request's object is known: the rules of
-- BeforeUpdate, the strategies and the storage. existing is the stored
-- object, obj the caller's new version (a private copy, in storage form).
function Store:update_object(kd, s, key, existing, obj, opts, warnings)
  local sub = opts.subresource
  local new
  if sub == "status" then
    new = copy(existing)
    new.status = obj.status
    new.metadata.managedFields = obj.metadata.managedFields
    new.metadata.resourceVersion = obj.metadata.resourceVersion
  else
    new = obj
    if kd.subresources and kd.subresources.status then new.status = copy(existing.status) end
  end
  local meta, old_meta = new.metadata, existing.metadata
  -- BeforeUpdate
  meta.generation = old_meta.generation
  if kd.prepare_update then kd.prepare_update(new, existing, self, sub) end
  if kd.custom then
    if sub ~= "status" and not value.equal(strip_meta_for_generation(new),
      strip_meta_for_generation(existing)) then
      meta.generation = (old_meta.generation or 0) + 1
    end
  elseif kd.generation and sub ~= "status" then
    local changed
    if kd.spec_changed then changed = kd.spec_changed(new, existing)
    else changed = not value.equal(new.spec, existing.spec) end
    if changed then meta.generation = (old_meta.generation or 0) + 1 end
  end
  if meta.uid == nil or meta.uid == "" then meta.uid = old_meta.uid end
  if old_meta.creationTimestamp then meta.creationTimestamp = old_meta.creationTimestamp end
  if old_meta.deletionTimestamp then meta.deletionTimestamp = old_meta.deletionTimestamp end
  if old_meta.deletionGracePeriodSeconds ~= nil and meta.deletionGracePeriodSeconds == nil then
    meta.deletionGracePeriodSeconds = old_meta.deletionGracePeriodSeconds
  end
  if kd.namespaced then
    if meta.namespace == nil or meta.namespace == "" then meta.namespace = old_meta.namespace end
  end
  local errs = validate_update(self, kd, new, existing, sub)
  if #errs > 0 then return nil, invalid(kd, meta.name, errs) end
  if kd.custom then append_all(warnings, schema.finalizer_warnings(meta.finalizers, old_meta.finalizers)) end
  -- managedFields: the caller's, when it sent a changed non-empty list to
  -- the main resource; the live ones otherwise.
  local entries
  local sent = meta.managedFields
  if sub ~= "status" and value.kind(sent) == "array" and #sent > 0 and not value.equal(sent,
    old_meta.managedFields) then
    entries = sent
  else
    entries = old_meta.managedFields or {}
  end
  meta.managedFields = old_meta.managedFields
  if opts.field_manager then
    update_managed(self, kd, existing, new, opts, entries)
  elseif entries ~= old_meta.managedFields then
    meta.managedFields = entries
  end
  meta.resourceVersion = old_meta.resourceVersion
  if value.equal(new, existing) then
    return present(kd, existing), warnings
  end
  -- An update that empties the finalizers of an object being deleted
  -- deletes it (deleteWithoutFinalizers): the answer is the object as the
  -- update left it, watchers see it DELETED as it was last stored.
  local fins = meta.finalizers
  local no_fins = fins == nil or (value.kind(fins) == "array" and #fins == 0)
  if meta.deletionTimestamp and no_fins and (not kd.may_delete or kd.may_delete(new)) then
    if opts.dry_run then return present(kd, new), warnings end
    self:commit(s, key, nil, existing, "DELETED")
    return present(kd, new), warnings
  end
  if opts.dry_run then return present(kd, new), warnings end
  self:commit(s, key, new, existing, "MODIFIED")
  return present(kd, new), warnings
end

local function lookup(self, kd, namespace, name)
  local s = storage_of(self, kd)
  if not s then return nil, nil, nil, status.not_found(kd, name) end
  if not kd.namespaced then namespace = nil end
  local key = object_key(kd, namespace, name)
  local obj = s.objects[key]
  if not obj then return nil, s, key, status.not_found(kd, name) end
  return obj, s, key
end

local function check_name(kd, obj, namespace, name)
  local meta = obj.metadata
  if (meta.name or "") ~= name then
    return status.bad_request(string.format("the name of the object (%s) does not match the name on the " ..
      "URL (%s)",
      meta.name or "", name))
  end
  if kd.namespaced and namespace and namespace ~= "" and meta.namespace and meta.namespace ~= ""
      and meta.namespace ~= namespace then
    return status.bad_request(string.format(
      "the namespace of the object (%s) does not match the namespace on the request (%s)", meta.namespace,
        namespace))
  end
  return nil
end

local function check_subresource(kd, opts)
  if opts.subresource == "status" and not (kd.subresources and kd.subresources.status) then
    return status.new(404, "NotFound", "the server could not find the requested resource")
  end
  if opts.subresource ~= nil and opts.subresource ~= "status" then
    return status.new(404, "NotFound", "the server could not find the requested resource")
  end
end

-- PUT. opts: subresource ("status"), dry_run, field_manager,
-- field_validation. Returns the object and warnings.
function Store:update(kd, namespace, name, obj, opts)
  opts = opts or {}
  local err = check_subresource(kd, opts)
  if err then return nil, err end
  local body
  body, err = check_body(kd, obj)
  if not body then return nil, err end
  obj = body
  err = check_name(kd, obj, namespace, name)
  if err then return nil, err end
  local existing, s, key
  existing, s, key, err = lookup(self, kd, namespace, name)
  if not existing then
    if s and kd.allow_create_on_update and opts.subresource == nil then
      obj.metadata.resourceVersion = nil
      return self:create(kd, namespace, obj, opts)
    end
    return nil, err
  end
  local warnings = {}
  err = handle_unknown_fields(kd, obj, opts, warnings)
  if err then return nil, err end
  if kd.custom then schema.default(obj, kd.schema) end
  if kd.to_storage then obj = kd.to_storage(obj) end
  local rv = obj.metadata.resourceVersion
  if rv == nil or rv == "" then
    if not kd.allow_unconditional_update then
      return nil, schema.invalid_status(kd.group, kd.plural, name, {
        schema.errors.invalid("metadata.resourceVersion", 0, "must be specified for an update", "0x0") })
    end
    obj.metadata.resourceVersion = existing.metadata.resourceVersion
  elseif rv ~= existing.metadata.resourceVersion then
    if not tostring(rv):match("^%d+$") then return nil, invalid_rv(rv) end
    return nil, status.conflict(kd, name)
  end
  return self:update_object(kd, s, key, existing, obj, opts, warnings)
end

-- PATCH. patch_type: "merge", "json", "strategic" (or their media types);
-- body: decoded or JSON text. opts as for update.
function Store:patch(kd, namespace, name, patch_type, body, opts)
  opts = opts or {}
  local err = check_subresource(kd, opts)
  if err then return nil, err end
  local t = patch.type_of(patch_type)
  if t == "apply" then
    return nil, status.unsupported_media_type("server-side apply (application/apply-patch+yaml) is not "
      .. "supported by this fake API server: use client-side kubectl apply, or a merge patch")
  end
  if t == nil or (t == "strategic" and kd.custom) then
    local accepted = kd.custom
      and "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
      or "application/json-patch+json, application/merge-patch+json, " ..
        "application/strategic-merge-patch+json, application/apply-patch+yaml"
    return nil, status.unsupported_media_type(
      "the body of the request was in an unknown format - accepted media types include: " .. accepted)
  end
  local existing, s, key
  existing, s, key, err = lookup(self, kd, namespace, name)
  if not existing then return nil, err end
  local current = present(kd, existing)
  local patched, msg, how = patch.apply(t, current, body, kd.patch_meta)
  if not patched then
    if how == "invalid" then return nil, status.patch_failed(msg) end
    return nil, status.bad_request(msg)
  end
  local obj
  obj, err = check_body(kd, patched)
  if not obj then return nil, err end
  err = check_name(kd, obj, namespace, name)
  if err then return nil, err end
  local warnings = {}
  err = handle_unknown_fields(kd, obj, opts, warnings)
  if err then return nil, err end
  if kd.custom then schema.default(obj, kd.schema) end
  if kd.to_storage then obj = kd.to_storage(obj) end
  local rv = obj.metadata.resourceVersion
  if rv == nil or rv == "" then
    obj.metadata.resourceVersion = existing.metadata.resourceVersion
  elseif rv ~= existing.metadata.resourceVersion then
    return nil, status.conflict(kd, name)
  end
  return self:update_object(kd, s, key, existing, obj, opts, warnings)
end

---------------------------------------------------------------------------
-- Delete
---------------------------------------------------------------------------

-- The orphan/foregroundDeletion finalizers a delete sets
-- (deletionFinalizersForGarbageCollection).
local function gc_finalizers(obj, policy, gc_unsupported)
  local fins = {}
  local had_orphan, had_fg = false, false
  for _, f in ipairs(value.kind(obj.metadata.finalizers) == "array" and obj.metadata.finalizers or {}) do
    if f == "orphan" then had_orphan = true
    elseif f == "foregroundDeletion" then had_fg = true
    else fins[#fins + 1] = f end
  end
  local orphan, fg = false, false
  if not gc_unsupported then
    if policy == "Orphan" then orphan = true
    elseif policy == "Foreground" then fg = true
    elseif policy == nil then orphan, fg = had_orphan, had_fg and not had_orphan end
  end
  if orphan then fins[#fins + 1] = "orphan" end
  if fg then fins[#fins + 1] = "foregroundDeletion" end
  return fins
end

-- Marks or removes an object (the generic registry's Delete after its
-- checks). Returns the object still there (being finalized), or the
-- Success Status of an object that is gone.
function Store:delete_object(kd, s, key, existing, opts)
  opts = opts or {}
  local fins = gc_finalizers(existing, opts.propagation_policy, kd.gc_unsupported)
  if #fins > 0 then
    local new = copy(existing)
    local meta = new.metadata
    meta.finalizers = json.array(fins)
    if meta.deletionTimestamp == nil and (meta.generation or 0) > 0 then
      meta.generation = meta.generation + 1
    end
    if meta.deletionTimestamp == nil then meta.deletionTimestamp = now_rfc3339(self) end
    meta.deletionGracePeriodSeconds = 0
    if value.equal(new, existing) or opts.dry_run then return present(kd, new) end
    self:commit(s, key, new, existing, "MODIFIED")
    return present(kd, new)
  end
  if not opts.dry_run then self:commit(s, key, nil, existing, "DELETED") end
  if kd.return_deleted_object then return present(kd, existing) end
  return status.success_deleted(kd, existing.metadata.name, existing.metadata.uid)
end

local policies = { Orphan = true, Background = true, Foreground = true }

-- opts: propagation_policy ("Background" default, "Foreground", "Orphan"),
-- preconditions = { uid, resourceVersion }, dry_run.
function Store:delete(kd, namespace, name, opts)
  opts = opts or {}
  local existing, s, key, err = lookup(self, kd, namespace, name)
  if not existing then return nil, err end
  local policy = opts.propagation_policy
  if policy == "" then policy = nil end
  if policy ~= nil and not policies[policy] then
    return nil, schema.invalid_status("meta.k8s.io", "DeleteOptions", "", {
      schema.errors.not_supported("propagationPolicy", policy, { "Foreground", "Background", "Orphan",
        "nil" }) })
  end
  local pre = opts.preconditions or {}
  if pre.uid and pre.uid ~= existing.metadata.uid then
    return nil, status.conflict_on(kd.group, kd.kind, name, string.format(
      "the UID in the precondition (%s) does not match the UID in record (%s). The object might have " ..
        "been deleted and then recreated",
      pre.uid, existing.metadata.uid))
  end
  if pre.resourceVersion and pre.resourceVersion ~= existing.metadata.resourceVersion then
    return nil, status.conflict_on(kd.group, kd.kind, name, string.format(
      "the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). " ..
        "The object might have been modified",
      pre.resourceVersion, existing.metadata.resourceVersion))
  end
  if kd.delete then return kd.delete(self, kd, s, key, existing, opts) end
  return self:delete_object(kd, s, key, existing, opts)
end

---------------------------------------------------------------------------
-- Controllers' writes
---------------------------------------------------------------------------

-- Changes a stored object the way a controller's update would: mutate(obj)
-- edits a copy (return false to skip the write). opts as for update.
function Store:modify(kd, namespace, name, mutate, opts)
  opts = opts or {}
  local existing, s, key, err = lookup(self, kd, namespace, name)
  if not existing then return nil, err end
  local obj = present(kd, existing)
  if mutate(obj) == false then return obj end
  if kd.to_storage then obj = kd.to_storage(obj) end
  obj.metadata.resourceVersion = existing.metadata.resourceVersion
  return self:update_object(kd, s, key, existing, obj, opts, {})
end

local function def_of(s) return s.def end

---------------------------------------------------------------------------
-- Garbage collection (asynchronous, like kube-controller-manager's)
---------------------------------------------------------------------------

-- Runs fn(store) later, in the collector's task.
function Store:schedule(fn)
  gc_schedule(self, { op = "call", fn = fn })
end

local GC_MANAGER = "kube-controller-manager"

local function remove_owner_refs(self, s, key, drop)
  local obj = s.objects[key]
  if not obj then return end
  local kd = def_of(s)
  self:modify(kd, obj.metadata.namespace, obj.metadata.name, function(o)
    local kept = json.array({})
    for _, r in ipairs(o.metadata.ownerReferences or {}) do
      if not drop[r.uid] then kept[#kept + 1] = r end
    end
    if #kept == 0 then o.metadata.ownerReferences = nil else o.metadata.ownerReferences = kept end
  end, { field_manager = GC_MANAGER })
end

local function remove_finalizer(self, s, key, name)
  local obj = s.objects[key]
  if not obj or not has_finalizer(obj, name) then return end
  local kd = def_of(s)
  self:modify(kd, obj.metadata.namespace, obj.metadata.name, function(o)
    local kept = json.array({})
    for _, f in ipairs(o.metadata.finalizers) do if f ~= name then kept[#kept + 1] = f end end
    if #kept == 0 then o.metadata.finalizers = nil else o.metadata.finalizers = kept end
  end, { field_manager = GC_MANAGER })
end

local function dependents_of(self, uid)
  local out = {}
  for dep in pairs(self.dependents[uid] or {}) do out[#out + 1] = dep end
  table.sort(out)
  return out
end

-- attemptToDeleteItem: a dependent whose owners are all gone (or waiting
-- for their dependents) is deleted; one with a live owner only loses the
-- references to the missing ones.
local function attempt_to_delete(self, uid)
  local obj, s, key = by_uid(self, uid)
  if not obj or obj.metadata.deletionTimestamp then return end
  local solid, dangling, waiting = 0, {}, {}
  local any = false
  for _, r in ipairs(obj.metadata.ownerReferences or {}) do
    any = true
    local owner = by_uid(self, r.uid)
    if not owner then
      dangling[r.uid] = true
    elseif owner.metadata.deletionTimestamp and has_finalizer(owner, "foregroundDeletion") then
      waiting[r.uid] = true
    else
      solid = solid + 1
    end
  end
  if not any then return end
  if solid > 0 then
    if next(dangling) or next(waiting) then
      local drop = {}
      for u in pairs(dangling) do drop[u] = true end
      for u in pairs(waiting) do drop[u] = true end
      remove_owner_refs(self, s, key, drop)
    end
    return
  end
  local policy = "Background"
  if next(waiting) and next(self.dependents[uid] or {}) then policy = "Foreground" end
  local kd = def_of(s)
  self:delete_object(kd, s, key, obj, { propagation_policy = policy })
end

-- An object being deleted: finish its orphan or foreground finalizer.
local function finalize(self, uid)
  local obj, s, key = by_uid(self, uid)
  if not obj or not obj.metadata.deletionTimestamp then return end
  if has_finalizer(obj, "orphan") then
    for _, dep in ipairs(dependents_of(self, uid)) do
      local d, ds, dkey = by_uid(self, dep)
      if d then remove_owner_refs(self, ds, dkey, { [uid] = true }) end
    end
    remove_finalizer(self, s, key, "orphan")
    return
  end
  if has_finalizer(obj, "foregroundDeletion") then
    local blocking = false
    for _, dep in ipairs(dependents_of(self, uid)) do
      local d = by_uid(self, dep)
      if d then
        if not d.metadata.deletionTimestamp then attempt_to_delete(self, dep) end
        d = by_uid(self, dep)
        if d then
          for _, r in ipairs(d.metadata.ownerReferences or {}) do
            if r.uid == uid and r.blockOwnerDeletion == true then blocking = true end
          end
        end
      end
    end
    if not blocking then remove_finalizer(self, s, key, "foregroundDeletion") end
  end
end

-- The namespace controller: a terminating namespace loses its content, then
-- its "kubernetes" finalizer.
local function finish_namespace(self, name)
  local nss = self.ns_storage
  if not nss then return end
  local ns = nss.objects[name]
  if not ns or not ns.metadata.deletionTimestamp then return end
  local remaining = 0
  for _, s in pairs(self.storages) do
    if def_of(s).namespaced then
      local keys = {}
      for k, o in pairs(s.objects) do
        if o.metadata.namespace == name then keys[#keys + 1] = k end
      end
      table.sort(keys)
      for _, k in ipairs(keys) do
        local o = s.objects[k]
        if o and not o.metadata.deletionTimestamp then
          self:delete_object(def_of(s), s, k, o, { propagation_policy = "Background" })
        end
        if s.objects[k] then remaining = remaining + 1 end
      end
    end
  end
  if remaining > 0 then return end
  local kd = def_of(nss)
  if kd.finalize_namespace then kd.finalize_namespace(self, kd, nss, name) end
end

function Store:finish_namespace(name)
  finish_namespace(self, name)
end

local function gc_step(self, item)
  if item.op == "owner_gone" then
    for _, dep in ipairs(dependents_of(self, item.uid)) do attempt_to_delete(self, dep) end
  elseif item.op == "dependent" then
    attempt_to_delete(self, item.uid)
  elseif item.op == "finalize" then
    finalize(self, item.uid)
  elseif item.op == "namespace" then
    finish_namespace(self, item.name)
  elseif item.op == "call" then
    item.fn(self)
  end
end

function gc_schedule(self, item)
  self.gc_queue[#self.gc_queue + 1] = item
  if self.gc_running then return end
  self.gc_running = true
  task.spawn(function()
    while #self.gc_queue > 0 do
      task.sleep(0)
      local it = table.remove(self.gc_queue, 1)
      local ok, err = pcall(gc_step, self, it)
      if not ok then
        local log_ok, log = pcall(require, "smop.log")
        if log_ok then log.error("fake-kube: garbage collector step failed", { error = tostring(err) }) end
      end
    end
    self.gc_running = false
    self.gc_idle:notify_all()
  end)
end

-- Waits (in a task) until the collector has nothing left to do; for specs
-- and the control endpoint.
function Store:settle(timeout)
  local deadline = task.now() + (timeout or 5)
  while self.gc_running or #self.gc_queue > 0 do
    local left = deadline - task.now()
    if left <= 0 or not self.gc_idle:wait(left) then break end
  end
  return not self.gc_running and #self.gc_queue == 0
end

---------------------------------------------------------------------------
-- Watch
---------------------------------------------------------------------------

function Watcher:matches(obj)
  return self.match(obj)
end

-- cacheWatcher.convertToWatchEvent: an object entering the selection is
-- ADDED, leaving it DELETED (its previous state at the event's version).
function Watcher:convert(ev)
  local cur = ev.type ~= "DELETED" and self:matches(ev.object)
  local prev = ev.prev ~= nil and self:matches(ev.prev)
  if not cur and not prev then return nil end
  if cur and not prev then return { type = "ADDED", object = ev.object, rv = ev.rv } end
  if cur and prev then return { type = "MODIFIED", object = ev.object, rv = ev.rv } end
  local gone = copy(ev.prev)
  gone.metadata.resourceVersion = tostring(ev.rv)
  return { type = "DELETED", object = gone, rv = ev.rv }
end

function Watcher:push(e)
  if self.closed then return end
  self.tail = self.tail + 1
  self.queue[self.tail] = e
  if self.tail - self.head + 1 > self.store.queue_limit then
    self:close()
    return
  end
  self.cond:notify_all()
end

function Watcher:offer(ev)
  local e = self:convert(ev)
  if e then self:push(e) end
end

-- The next event { type, object } (a copy), nil, "timeout" after timeout
-- seconds (nil: wait as long as it takes), or nil, "closed".
function Watcher:next(timeout)
  local deadline = timeout and (task.now() + timeout)
  while true do
    if self.head <= self.tail then
      local e = self.queue[self.head]
      self.queue[self.head] = nil
      self.head = self.head + 1
      if e.rv then self.sent_rv = e.rv end
      if e.type == "BOOKMARK" then return { type = e.type, object = copy(e.object) } end
      return { type = e.type, object = present(self.kd, e.object) }
    end
    if self.closed then return nil, "closed" end
    local left = deadline and (deadline - task.now())
    if left and left <= 0 then return nil, "timeout" end
    self.cond:wait(left)
  end
end

-- A BOOKMARK event at the newest version this watcher has seen all events
-- up to (watch cache bookmarks: apiVersion, kind and resourceVersion only).
function Watcher:bookmark()
  local rv = self.head > self.tail and self.store.rv or self.sent_rv
  return { type = "BOOKMARK", object = {
    apiVersion = api_version(self.kd), kind = self.kd.kind, metadata = { resourceVersion = tostring(rv) } } }
end

-- Ends the watch. Events already queued are dropped, unless drain is true
-- (the resource went away: its last events still reach the client).
function Watcher:close(drain)
  if not drain then
    for i = self.head, self.tail do self.queue[i] = nil end
    self.head = self.tail + 1
  end
  if self.closed then return end
  self.closed = true
  if self.storage then self.storage.watchers[self] = nil end
  self.cond:notify_all()
end

function Store:bookmark_object(kd)
  return { apiVersion = api_version(kd), kind = kd.kind, metadata = { resourceVersion = tostring(self.rv) } }
end

-- opts: resource_version (""/nil/"0": the current objects as ADDED first;
-- an RV: every later event first), label_selector, field_selector,
-- allow_bookmarks, send_initial_events. Returns a watcher, or nil and a
-- Status (410 Expired when the version is older than the retained window).
function Store:watch(kd, namespace, opts)
  opts = opts or {}
  local s = storage_of(self, kd)
  if not s then return nil, status.not_found_resource(kd.group, kd.plural, "") end
  if not kd.namespaced then namespace = nil end
  local lsel, fsel, serr = parse_selectors(kd, opts)
  if serr then return nil, serr end
  local rv = parse_rv(opts.resource_version)
  if rv == false then return nil, invalid_rv(opts.resource_version) end
  if self.expire_next_watch then
    self.expire_next_watch = false
    return nil, status.expired(string.format("too old resource version: %d (%d)", rv or 0, self.rv))
  end
  if rv and rv > self.rv then return nil, status.too_large_resource_version(rv, self.rv) end
  if rv and rv > 0 and rv < s.window_start then
    return nil, status.expired(string.format("too old resource version: %d (%d)", rv, s.window_start))
  end
  local w = setmetatable({
    store = self, kd = kd, storage = s, queue = {}, head = 1, tail = 0, cond = task.condition(),
    closed = false, sent_rv = rv or self.rv, bookmarks = opts.allow_bookmarks == true,
  }, Watcher)
  w.match = matcher(kd, namespace, lsel, fsel)
  if rv == nil or rv == 0 or opts.send_initial_events then
    local keys = {}
    for k in pairs(s.objects) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local o = s.objects[k]
      if w:matches(o) then w:push({ type = "ADDED", object = o, rv = self.rv }) end
    end
    if opts.send_initial_events and w.bookmarks then
      w:push({ type = "BOOKMARK", object = {
        apiVersion = api_version(kd), kind = kd.kind,
        metadata = { resourceVersion = tostring(self.rv),
                     annotations = { ["k8s.io/initial-events-end"] = "true" } } } })
    end
  else
    for i = s.first, s.last do
      local ev = s.events[i]
      if ev.rv > rv then w:offer(ev) end
    end
  end
  s.watchers[w] = true
  return w
end

---------------------------------------------------------------------------
-- Control (tests)
---------------------------------------------------------------------------

-- Ends every open watch (their next() answers nil, "closed").
function Store:drop_watches()
  for _, s in pairs(self.storages) do
    local list = {}
    for w in pairs(s.watchers) do list[#list + 1] = w end
    for _, w in ipairs(list) do w:close() end
  end
end

-- The next watch call fails with 410 Expired whatever its version.
function Store:force_expire_next_watch()
  self.expire_next_watch = true
end

-- Forgets every retained event, as an etcd compaction plus a watch cache
-- restart would: watches and Exact lists from older versions get 410.
function Store:compact()
  for _, s in pairs(self.storages) do
    for i = s.first, s.last do s.events[i] = nil end
    s.first = s.last + 1
    s.window_start = self.rv
  end
end

return M
