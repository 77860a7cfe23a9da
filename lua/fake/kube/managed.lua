-- metadata.managedFields for Update operations, as the apiserver's field
-- manager keeps them (sigs.k8s.io/structured-merge-diff, FieldsV1).
--
--   managed.update{ live, new, manager, subresource, api_version, time,
--                   types, ignore } -> the new managedFields list (or nil)
--
-- A write compares the live object with the new one; the fields it added or
-- changed become the writer's (merged with what it owned before) and are taken
-- from every other manager; removed fields leave every manager; a manager left
-- with nothing is dropped. The writer's time moves only when it changed
-- something. types is a schema-like tree (type, properties, items,
-- additionalProperties, x-kubernetes-list-type, x-kubernetes-list-map-keys,
-- x-kubernetes-map-type); without one, maps are granular and lists atomic.
local json = require("smop.json")
local value = require("fake.kube.value")

local M = {}

-- ObjectMeta as structured-merge-diff types it.
M.object_meta_types = {
  type = "object",
  properties = {
    labels = { type = "object", additionalProperties = { type = "string" } },
    annotations = { type = "object", additionalProperties = { type = "string" } },
    finalizers = { type = "array", items = { type = "string" }, ["x-kubernetes-list-type"] = "set" },
    ownerReferences = {
      type = "array", ["x-kubernetes-list-type"] = "map", ["x-kubernetes-list-map-keys"] = { "uid" },
      items = { type = "object", properties = {
        apiVersion = { type = "string" }, kind = { type = "string" }, name = { type = "string" },
        uid = { type = "string" }, controller = { type = "boolean" },
          blockOwnerDeletion = { type = "boolean" },
      } },
    },
  },
}

---------------------------------------------------------------------------
-- Field sets: a node maps path elements ("f:spec", "k:{...}", "v:...") to
-- child nodes; node["."] = true when the node's own path is in the set.
---------------------------------------------------------------------------

local function is_empty(node)
  return next(node) == nil
end

local function insert(set, path)
  local node = set
  for _, pe in ipairs(path) do
    local c = node[pe]
    if not c then c = {}; node[pe] = c end
    node = c
  end
  if #path > 0 then node["."] = true end
end

local function union(a, b)
  local out = {}
  for k, v in pairs(a) do out[k] = v == true and true or union(v, {}) end
  for k, v in pairs(b) do
    if v == true then out[k] = true
    else out[k] = union(out[k] or {}, v) end
  end
  return out
end

local function difference(a, b)
  local out = {}
  -- membership of a node ("." in it) is decided where its parent is looked at
  for k, v in pairs(a) do
    if k ~= "." then
      local bv = b[k]
      local child
      if bv then
        child = difference(v, bv)
        if v["."] and not bv["."] then child["."] = true end
      else
        child = union(v, {})
      end
      if not is_empty(child) then out[k] = child end
    end
  end
  return out
end
M.difference, M.union = difference, union

local function remove_paths(set, paths)
  for _, path in ipairs(paths) do
    local node = set
    for i = 1, #path - 1 do
      node = node[path[i]]
      if not node then break end
    end
    if node then node[path[#path]] = nil end
  end
  return set
end

-- Drops only the membership of a node, keeping what is below it.
local function unmark(set, path)
  local node = set
  for _, pe in ipairs(path) do
    node = node[pe]
    if not node then return end
  end
  node["."] = nil
  local parent = set
  for i = 1, #path - 1 do parent = parent[path[i]] end
  if is_empty(node) then parent[path[#path]] = nil end
end

-- A member without children is {}; a member with children carries ".".
function M.to_fields_v1(node)
  local out = {}
  local children = false
  for k, v in pairs(node) do
    if k ~= "." then out[k] = M.to_fields_v1(v); children = true end
  end
  if node["."] and children then out["."] = {} end
  return out
end

function M.from_fields_v1(obj)
  local node = {}
  if type(obj) ~= "table" then return node end
  for k, v in pairs(obj) do
    if k == "." then
      node["."] = true
    else
      local c = M.from_fields_v1(v)
      if next(v) == nil then c["."] = true end
      node[k] = c
    end
  end
  return node
end

---------------------------------------------------------------------------
-- Walking values by type
---------------------------------------------------------------------------

local function sorted_json(v)
  return json.encode(v, { sorted = true })
end

local function child_type(t, key)
  if type(t) ~= "table" then return nil end
  if t.properties and t.properties[key] then return t.properties[key] end
  if type(t.additionalProperties) == "table" then return t.additionalProperties end
  return nil
end

local function list_type(t)
  if type(t) ~= "table" then return "atomic" end
  return t["x-kubernetes-list-type"] or "atomic"
end

local function item_key(item, t)
  local keys = t["x-kubernetes-list-map-keys"] or {}
  local k = {}
  for _, name in ipairs(keys) do
    if value.kind(item) == "object" and item[name] ~= nil then k[name] = item[name] end
  end
  return "k:" .. sorted_json(k)
end

local function atomic_map(t)
  return type(t) == "table" and (t["x-kubernetes-map-type"] == "atomic")
end

local function append(path, pe)
  local p = { table.unpack(path) }
  p[#p + 1] = pe
  return p
end

local function all_paths(path, v, t, set)
  insert(set, path)
  local k = value.kind(v)
  if k == "object" and not atomic_map(t) then
    for key, x in pairs(v) do all_paths(append(path, "f:" .. key), x, child_type(t, key), set) end
  elseif k == "array" then
    local lt = list_type(t)
    if lt == "set" then
      for _, x in ipairs(v) do insert(set, append(path, "v:" .. sorted_json(x))) end
    elseif lt == "map" then
      for _, x in ipairs(v) do
        local item_path = append(path, item_key(x, t))
        insert(set, item_path)
        if value.kind(x) == "object" then
          for key, y in pairs(x) do all_paths(append(item_path, "f:" .. key), y, child_type(t.items, key),
            set) end
        end
      end
    end
  end
end

local function compare(path, old, new, t, cmp)
  if old == nil and new == nil then return end
  if old == nil then return all_paths(path, new, t, cmp.added) end
  if new == nil then return all_paths(path, old, t, cmp.removed) end
  local ko, kn = value.kind(old), value.kind(new)
  if ko == "object" and kn == "object" and not atomic_map(t) then
    local seen = {}
    for key, x in pairs(new) do
      seen[key] = true
      compare(append(path, "f:" .. key), old[key], x, child_type(t, key), cmp)
    end
    for key, x in pairs(old) do
      if not seen[key] then compare(append(path, "f:" .. key), x, nil, child_type(t, key), cmp) end
    end
    return
  end
  if ko == "array" and kn == "array" and list_type(t) ~= "atomic" then
    local lt = list_type(t)
    if lt == "set" then
      local had, has = {}, {}
      for _, x in ipairs(old) do had[sorted_json(x)] = true end
      for _, x in ipairs(new) do has[sorted_json(x)] = true end
      for s in pairs(has) do if not had[s] then insert(cmp.added, append(path, "v:" .. s)) end end
      for s in pairs(had) do if not has[s] then insert(cmp.removed, append(path, "v:" .. s)) end end
    else
      local by_old = {}
      for _, x in ipairs(old) do by_old[item_key(x, t)] = x end
      local seen = {}
      for _, x in ipairs(new) do
        local id = item_key(x, t)
        seen[id] = true
        local o = by_old[id]
        if o == nil then
          local item_path = append(path, id)
          insert(cmp.added, item_path)
          if value.kind(x) == "object" then
            for key, y in pairs(x) do all_paths(append(item_path, "f:" .. key), y, child_type(t.items, key),
              cmp.added) end
          end
        else
          compare(append(path, id), o, x, t.items, cmp)
        end
      end
      for id, o in pairs(by_old) do
        if not seen[id] then
          local item_path = append(path, id)
          insert(cmp.removed, item_path)
          if value.kind(o) == "object" then
            for key, y in pairs(o) do all_paths(append(item_path, "f:" .. key), y, child_type(t.items, key),
              cmp.removed) end
          end
        end
      end
    end
    return
  end
  if not value.equal(old, new) then insert(cmp.modified, path) end
end

---------------------------------------------------------------------------
-- Entries
---------------------------------------------------------------------------

local stripped = {
  { "f:apiVersion" }, { "f:kind" },
  { "f:metadata", "f:name" }, { "f:metadata", "f:namespace" }, { "f:metadata", "f:creationTimestamp" },
  { "f:metadata", "f:selfLink" }, { "f:metadata", "f:uid" }, { "f:metadata", "f:clusterName" },
  { "f:metadata", "f:generation" }, { "f:metadata", "f:managedFields" }, { "f:metadata",
    "f:resourceVersion" },
}

local function strip(set, ignore)
  remove_paths(set, stripped)
  unmark(set, { "f:metadata" })
  for _, prefix in ipairs(ignore or {}) do
    remove_paths(set, { prefix })
  end
  return set
end

local function without_managed(obj)
  if value.kind(obj) ~= "object" then return obj end
  local o = {}
  for k, v in pairs(obj) do o[k] = v end
  if value.kind(obj.metadata) == "object" then
    local m = {}
    for k, v in pairs(obj.metadata) do if k ~= "managedFields" then m[k] = v end end
    o.metadata = m
  end
  return o
end

local function entry_id(e)
  return (e.manager or "") .. "\0" .. (e.operation or "") .. "\0" .. (e.subresource or "")
end

local function sort_entries(list)
  table.sort(list, function(p, q)
    if (p.operation or "") ~= (q.operation or "") then return (p.operation or "") < (q.operation or "") end
    if (p.time or "") ~= (q.time or "") then return (p.time or "") < (q.time or "") end
    for _, f in ipairs({ "manager", "apiVersion" }) do
      if (p[f] or "") ~= (q[f] or "") then return (p[f] or "") < (q[f] or "") end
    end
    return (p.subresource or "") < (q.subresource or "")
  end)
  return list
end

local function types_for(root)
  local t = { type = "object", properties = {} }
  if type(root) == "table" then
    for k, v in pairs(root) do t[k] = v end
    t.properties = {}
    for k, v in pairs(root.properties or {}) do t.properties[k] = v end
  end
  t.properties.metadata = M.object_meta_types
  return t
end

-- args: live (nil on create), new, manager, subresource, api_version, time
-- (RFC 3339), types, ignore (list of path-element lists reset by this
-- endpoint), entries (the managedFields to start from; default: live's).
function M.update(args)
  local entries = args.entries
  if entries == nil then
    entries = args.live and args.live.metadata and args.live.metadata.managedFields or {}
  end
  local sets, order = {}, {}
  for _, e in ipairs(entries) do
    if value.kind(e) == "object" then
      local id = entry_id(e)
      local copy = value.copy(e)
      copy.set = M.from_fields_v1(e.fieldsV1)
      copy.fieldsV1 = nil
      sets[id] = copy
      order[#order + 1] = id
    end
  end
  local types = types_for(args.types)
  local cmp = { added = {}, modified = {}, removed = {} }
  compare({}, without_managed(args.live or args.zero or {}), without_managed(args.new), types, cmp)
  for _, s in pairs(cmp) do strip(s, args.ignore) end
  local changed = union(cmp.added, cmp.modified)
  local taken = union(changed, cmp.removed)
  for _, id in ipairs(order) do
    local e = sets[id]
    e.set = difference(e.set, taken)
  end
  local me = entry_id({ manager = args.manager, operation = "Update", subresource = args.subresource })
  if not is_empty(changed) then
    local e = sets[me]
    if not e then
      e = { manager = args.manager, operation = "Update", subresource = args.subresource, set = {} }
      sets[me] = e
      order[#order + 1] = me
    end
    e.set = union(e.set, changed)
    e.apiVersion = args.api_version
    e.time = args.time
  end
  local out = {}
  for _, id in ipairs(order) do
    local e = sets[id]
    if not is_empty(e.set) then
      local entry = {
        manager = e.manager, operation = e.operation, apiVersion = e.apiVersion, time = e.time,
        fieldsType = "FieldsV1", fieldsV1 = M.to_fields_v1(e.set), subresource = e.subresource,
      }
      out[#out + 1] = entry
    end
  end
  if #out == 0 then return nil end
  return json.array(sort_entries(out))
end

return M
