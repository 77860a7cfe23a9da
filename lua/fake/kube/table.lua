-- Server-side printing: the meta.k8s.io Table kube-apiserver answers when a
-- client asks for `application/json;as=Table;...` (kubectl get), and the
-- PartialObjectMetadata shapes. Columns as the real server prints them:
-- custom resources get Name plus the CRD's additionalPrinterColumns (an Age
-- column when it has none; date cells rendered as an age, missing values
-- null), built-in kinds their own printers (Event, Lease, ConfigMap,
-- Secret, Namespace), a CRD Name and "Created At".
--
--   tables.for_list(kind, objects, list_meta, opts) -> ordered Table
--   tables.for_object(kind, obj, opts)              -> ordered Table
-- opts: now (epoch seconds), no_headers (columnDefinitions null),
--       include ("Metadata" default | "Object" | "None"), api_version.
local json = require("smop.json")
local wire = require("fake.kube.wire")

local M = {}

local NAME_DOC = "Name must be unique within a namespace. Is required when creating resources, "
  .. "although some resources may allow a client to request the generation of an appropriate name "
  .. "automatically. Name is primarily intended for creation idempotence and configuration "
  .. "definition. Cannot be updated. More info: "
  .. "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
local CREATED_DOC = "CreationTimestamp is a timestamp representing the server time when this object "
  .. "was created. It is not guaranteed to be set in happens-before order across separate operations. "
  .. "Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\n"
  .. "Populated by the system. Read-only. Null for lists. More info: "
  .. "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
M.NAME_DOC, M.CREATED_DOC = NAME_DOC, CREATED_DOC

local function column(name, typ, description, priority, format)
  return { name = name, type = typ, format = format or "", description = description,
    priority = priority or 0 }
end

local NAME_COLUMN = column("Name", "string", NAME_DOC, 0, "name")
local AGE_COLUMN = column("Age", "string", CREATED_DOC)

local EVENT_COLUMNS = {
  column("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
  column("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
  column("Reason", "string", "This should be a short, machine understandable string that gives the "
    .. "reason for the transition into the object's current status."),
  column("Object", "string", "The object that this event is about."),
  column("Subobject", "string", "If referring to a piece of an object instead of an entire object, this "
    .. "string should contain a valid JSON/Go field access statement, such as "
    .. "desiredState.manifest.containers[2]. For example, if the object reference is to a container "
    .. "within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers "
    .. "to the name of the container that triggered the event) or if no container name is specified "
    .. "\"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have "
    .. "some well-defined way of referencing a part of an object.", 1),
  column("Source", "string", "The component reporting this event. Should be a short machine "
    .. "understandable string.", 1),
  column("Message", "string", "A human-readable description of the status of this operation."),
  column("First Seen", "string", "The time at which the event was first recorded. (Time of server "
    .. "receipt is in TypeMeta.)", 1),
  column("Count", "string", "The number of times this event has occurred.", 1),
  column("Name", "string", NAME_DOC, 1, "name"),
}

local BUILTIN_COLUMNS = {
  ["/Event"] = EVENT_COLUMNS,
  ["events.k8s.io/Event"] = EVENT_COLUMNS,
  ["coordination.k8s.io/Lease"] = { NAME_COLUMN,
    column("Holder", "string", "holderIdentity contains the identity of the holder of a current lease. "
      .. "If Coordinated Leader Election is used, the holder identity must be equal to the elected "
      .. "LeaseCandidate.metadata.name field."),
    AGE_COLUMN },
  ["/ConfigMap"] = { NAME_COLUMN,
    column("Data", "string", "Data contains the configuration data. Each key must consist of "
      .. "alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the "
      .. "BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData "
      .. "field, this is enforced during validation process."),
    AGE_COLUMN },
  ["/Secret"] = { NAME_COLUMN,
    column("Type", "string", "Used to facilitate programmatic handling of secret data. More info: "
      .. "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
    column("Data", "string", "Data contains the secret data. Each key must consist of alphanumeric "
      .. "characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded "
      .. "string, representing the arbitrary (possibly non-string) data value here. Described in "
      .. "https://tools.ietf.org/html/rfc4648#section-4"),
    AGE_COLUMN },
  ["/Namespace"] = { NAME_COLUMN, column("Status", "string", "The status of the namespace"), AGE_COLUMN },
}

-- The default table convertor (kinds without a printer, e.g. CRDs).
local DEFAULT_COLUMNS = { NAME_COLUMN, column("Created At", "date", CREATED_DOC) }

local function kind_key(kind)
  return (kind.group or "") .. "/" .. kind.kind
end

-- The columns of a custom resource kind, from its printer columns.
local function crd_columns(kind)
  local cols = { NAME_COLUMN }
  local pcs = kind.printer_columns
  if not pcs or #pcs == 0 then
    pcs = { { name = "Age", type = "date", jsonPath = ".metadata.creationTimestamp",
      description = CREATED_DOC } }
  end
  for _, pc in ipairs(pcs) do
    cols[#cols + 1] = column(pc.name, pc.type or "string",
      pc.description or ("Custom resource definition column (in JSONPath format): " .. tostring(pc.jsonPath)),
      pc.priority or 0, pc.format)
  end
  return cols
end

function M.columns(kind)
  if not kind.custom then
    return BUILTIN_COLUMNS[kind_key(kind)] or DEFAULT_COLUMNS
  end
  return crd_columns(kind)
end

-- ---- the simple JSONPath of printer columns: .a.b[0]['c.d'] ----

local function parse_path(path)
  path = path:gsub("^{(.*)}$", "%1")
  local steps, i, n = {}, 1, #path
  while i <= n do
    local c = path:sub(i, i)
    if c == "." then
      local key, e = path:match("^([^.%[]+)()", i + 1)
      if not key then return nil end
      steps[#steps + 1] = key
      i = e
    elseif c == "[" then
      local idx, e = path:match("^%[(%-?%d+)%]()", i)
      if idx then
        steps[#steps + 1] = tonumber(idx)
      else
        local key, e2 = path:match("^%[['\"]([^'\"]*)['\"]%]()", i)
        if not key then return nil end
        steps[#steps + 1] = key
        e = e2
      end
      i = e
    else
      return nil
    end
  end
  return steps
end

local path_cache = {}

function M.lookup(obj, path)
  local steps = path_cache[path]
  if steps == nil then
    steps = parse_path(path) or false
    path_cache[path] = steps
  end
  if not steps then return nil end
  local v = obj
  for _, s in ipairs(steps) do
    if type(v) ~= "table" then return nil end
    if type(s) == "number" then
      v = v[s < 0 and #v + s + 1 or s + 1]
    else
      v = v[s]
    end
    if v == nil or v == json.null then return nil end
  end
  return v
end

-- How Go's jsonpath printer writes a value (fmt %v of the decoded JSON).
local function go_text(v)
  if type(v) == "string" then return v end
  if type(v) == "boolean" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then
    if v == math.floor(v) and math.abs(v) < 1e21 then return string.format("%d", v) end
    return string.format("%.14g", v)
  end
  if v == json.null then return "<nil>" end
  if type(v) == "table" then
    local parts = {}
    if json.is_array(v) then
      for i = 1, #v do parts[i] = go_text(v[i]) end
      return "[" .. table.concat(parts, " ") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do parts[i] = k .. ":" .. go_text(v[k]) end
    return "map[" .. table.concat(parts, " ") .. "]"
  end
  return tostring(v)
end

local function crd_cell(pc, obj, now)
  local v = M.lookup(obj, pc.jsonPath or "")
  if v == nil then return json.null end
  local t = pc.type or "string"
  if t == "string" then return go_text(v) end
  if t == "integer" and type(v) == "number" then return math.tointeger(v) or math.floor(v) end
  if t == "number" and type(v) == "number" then return v + 0.0 end
  if t == "boolean" and type(v) == "boolean" then return v end
  if t == "date" and type(v) == "string" then
    if not wire.parse_time(v) then return "<invalid>" end
    return wire.age(v, now)
  end
  return json.null
end

-- ---- built-in printers ----

local function count_keys(t)
  local n = 0
  if type(t) == "table" then
    for _ in pairs(t) do n = n + 1 end
  end
  return n
end

local function str(v)
  return type(v) == "string" and v or ""
end

local function since(ts, now)
  if type(ts) ~= "string" or ts == "" then return nil end
  return wire.age(ts, now)
end

-- pkg/printers/internalversion printEvent (always the wide set, as served).
local function event_cells(obj, now)
  local core = obj.apiVersion ~= "events.k8s.io/v1"
  local involved = (core and obj.involvedObject or obj.regarding) or {}
  local source = (core and obj.source or obj.deprecatedSource) or {}
  local first_ts = core and obj.firstTimestamp or obj.deprecatedFirstTimestamp
  local last_ts = core and obj.lastTimestamp or obj.deprecatedLastTimestamp
  local first = since(first_ts, now) or since(obj.eventTime, now) or "<unknown>"
  local last = since(last_ts, now) or first
  local count = (core and obj.count or obj.deprecatedCount)
  count = math.tointeger(count) or 0
  if type(obj.series) == "table" then
    last = since(obj.series.lastObservedTime, now) or last
    count = math.tointeger(obj.series.count) or count
  elseif count == 0 then
    count = 1
  end
  local target = str(involved.kind):lower()
  if str(involved.name) ~= "" then target = target .. "/" .. involved.name end
  local component = str(source.component) ~= "" and source.component or str(obj.reportingController)
  local instance = str(source.host) ~= "" and source.host or str(obj.reportingInstance)
  local src = instance == "" and component or (component .. ", " .. instance)
  local message = str(core and obj.message or obj.note):match("^%s*(.-)%s*$")
  return { last, str(obj.type), str(obj.reason), target, str(involved.fieldPath), src, message, first,
    count, str((obj.metadata or {}).name) }
end

local function builtin_cells(kind, obj, now)
  local key = kind_key(kind)
  local meta = obj.metadata or {}
  local age = since(meta.creationTimestamp, now) or "<unknown>"
  if key == "/Event" or key == "events.k8s.io/Event" then
    return event_cells(obj, now)
  elseif key == "coordination.k8s.io/Lease" then
    return { meta.name, str((obj.spec or {}).holderIdentity), age }
  elseif key == "/ConfigMap" then
    return { meta.name, count_keys(obj.data) + count_keys(obj.binaryData), age }
  elseif key == "/Secret" then
    return { meta.name, str(obj.type), count_keys(obj.data), age }
  elseif key == "/Namespace" then
    return { meta.name, str((obj.status or {}).phase), age }
  end
  return { meta.name, meta.creationTimestamp or json.null }
end

function M.cells(kind, obj, now)
  local cells
  if not kind.custom then
    cells = builtin_cells(kind, obj, now)
  else
    cells = { (obj.metadata or {}).name }
    local pcs = kind.printer_columns
    if not pcs or #pcs == 0 then
      pcs = { { type = "date", jsonPath = ".metadata.creationTimestamp" } }
    end
    for _, pc in ipairs(pcs) do cells[#cells + 1] = crd_cell(pc, obj, now) end
  end
  return json.array(cells)
end

-- ---- metadata in Go's field order ----

local META_ORDER = { "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
  "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
  "annotations", "ownerReferences", "finalizers", "managedFields" }
local MANAGED_ORDER = { "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1",
  "subresource" }
local OWNER_ORDER = { "apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion" }

local function ordered_list(list, order)
  if type(list) ~= "table" then return list end
  local out = json.array({})
  for i, item in ipairs(list) do out[i] = wire.order(item, order) end
  return out
end

-- ObjectMeta with its fields in Go's order.
function M.meta(m)
  if type(m) ~= "table" then return m end
  local o = wire.order(m, META_ORDER)
  for i, k in ipairs(o.keys) do
    if k == "managedFields" then
      o.vals[i] = ordered_list(o.vals[i], MANAGED_ORDER)
    elseif k == "ownerReferences" then
      o.vals[i] = ordered_list(o.vals[i], OWNER_ORDER)
    end
  end
  return o
end

function M.partial(obj, api_version)
  return wire.obj("kind", "PartialObjectMetadata", "apiVersion", api_version or "meta.k8s.io/v1",
    "metadata", M.meta(obj.metadata or json.object({})))
end

function M.partial_list(objects, list_meta, api_version)
  local items = json.array({})
  for i, o in ipairs(objects) do items[i] = M.partial(o, api_version) end
  return wire.obj("kind", "PartialObjectMetadataList", "apiVersion", api_version or "meta.k8s.io/v1",
    "metadata", list_meta, "items", items)
end

-- ---- objects on the wire ----

-- v ordered by a field_order node (builtin.lua): { "k1", "k2", fields =
-- { k = node }, map = node }; arrays take the node for every element.
local function by_order(v, node)
  if type(v) ~= "table" or v == json.null or type(node) ~= "table" then return v end
  if json.is_array(v) then
    local out = json.array({})
    for i, x in ipairs(v) do out[i] = by_order(x, node) end
    return out
  end
  if node.map then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    local list = {}
    for _, k in ipairs(keys) do
      list[#list + 1] = k
      list[#list + 1] = by_order(v[k], node.map)
    end
    return wire.obj(table.unpack(list, 1, #keys * 2))
  end
  if #node == 0 then return v end
  local o = wire.order(v, node)
  local fields = node.fields or {}
  for i, k in ipairs(o.keys) do
    if fields[k] then o.vals[i] = by_order(o.vals[i], fields[k]) end
  end
  return o
end

-- A built-in object in Go's field order (the kind's field_order); custom
-- resources stay plain, written with sorted keys as the server writes
-- unstructured objects.
function M.shape(kind, obj)
  if kind.custom or type(obj) ~= "table" then return obj end
  if kind.field_order then return by_order(obj, kind.field_order) end
  local o = wire.order(obj, { "kind", "apiVersion", "metadata" })
  for i, k in ipairs(o.keys) do
    if k == "metadata" then o.vals[i] = M.meta(o.vals[i]) end
  end
  return o
end

local function column_defs(kind)
  local defs = json.array({})
  for i, c in ipairs(M.columns(kind)) do
    defs[i] = wire.obj("name", c.name, "type", c.type, "format", c.format,
      "description", c.description, "priority", c.priority)
  end
  return defs
end

local function row(kind, obj, opts)
  local object
  if opts.include == "Object" then
    object = obj
  elseif opts.include ~= "None" then
    object = M.partial(obj)
  end
  return wire.obj("cells", M.cells(kind, obj, opts.now), "object", object)
end

local function build(kind, objects, table_meta, opts)
  local rows = json.array({})
  for i, o in ipairs(objects) do rows[i] = row(kind, o, opts) end
  return wire.obj("kind", "Table", "apiVersion", opts.api_version or "meta.k8s.io/v1",
    "metadata", table_meta,
    "columnDefinitions", opts.no_headers and json.null or column_defs(kind),
    "rows", rows)
end

-- list_meta: { resourceVersion=, continue=, remainingItemCount= }.
function M.for_list(kind, objects, list_meta, opts)
  local c = list_meta.continue
  local tm = wire.obj("resourceVersion", list_meta.resourceVersion,
    "continue", (c ~= nil and c ~= "") and c or nil,
    "remainingItemCount", list_meta.remainingItemCount)
  return build(kind, objects, tm, opts)
end

function M.for_object(kind, obj, opts)
  local tm = wire.obj("resourceVersion", (obj.metadata or {}).resourceVersion)
  return build(kind, { obj }, tm, opts)
end

return M
