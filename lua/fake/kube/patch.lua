-- The three patch formats of the Kubernetes API, over JSON values as smop.json
-- decodes them (arrays marked, json.null for null).
--
--   patch.merge(doc, p)                 JSON merge patch, RFC 7386
--   patch.json(doc, ops)                JSON patch, RFC 6902
--   patch.strategic(doc, p, meta)       strategic merge patch
--   patch.apply(kind, doc, body, meta)  by patch type ("merge", "json",
--                                       "strategic" or their media types)
--
-- None of them changes its arguments. Failures come back as nil, message,
-- how: how = "bad_request" for a patch that cannot be read (the apiserver
-- answers 400), "invalid" for one that does not apply to the document (422,
-- as errors.NewGenericServerResponse words it).
--
-- Strategic merge meta describes the fields with a patch strategy:
--   { fields = { name = meta, ... }, items = meta,
--     strategy = "merge" | "replace" | "retainKeys", key = "mergeKey" }
-- Lists without strategy "merge" are replaced whole, as the apiserver does.
local json = require("smop.json")
local value = require("fake.kube.value")

local M = {}

local null = value.null
local copy = value.copy

---------------------------------------------------------------------------
-- RFC 7386
---------------------------------------------------------------------------

local function merge(target, p)
  if value.kind(p) ~= "object" then return copy(p) end
  local out
  if value.kind(target) == "object" then out = copy(target) else out = {} end
  for k, v in pairs(p) do
    if v == null then
      out[k] = nil
    else
      out[k] = merge(out[k], v)
    end
  end
  return out
end

function M.merge(doc, p)
  if value.kind(p) ~= "object" then
    return nil, "Invalid JSON Patch", "bad_request"
  end
  return merge(doc, p)
end

---------------------------------------------------------------------------
-- RFC 6902
---------------------------------------------------------------------------

-- "/a/b~1c" -> { "a", "b/c" }; nil for a malformed pointer.
local function parse_pointer(ptr)
  if type(ptr) ~= "string" then return nil end
  if ptr == "" then return {} end
  if ptr:sub(1, 1) ~= "/" then return nil end
  local parts = {}
  for raw in (ptr:sub(2) .. "/"):gmatch("(.-)/") do
    parts[#parts + 1] = raw:gsub("~1", "/"):gsub("~0", "~")
  end
  return parts
end
M.parse_pointer = parse_pointer

-- An array index token: a number without leading zeros.
local function array_index(tok)
  if tok:match("^0$") or tok:match("^[1-9]%d*$") then return tonumber(tok) end
  return nil
end

-- The container holding the last token, and that token.
local function locate(doc, parts)
  local node = doc
  for i = 1, #parts - 1 do
    local k = value.kind(node)
    if k == "object" then
      node = node[parts[i]]
    elseif k == "array" then
      local idx = array_index(parts[i])
      if not idx then return nil end
      node = node[idx + 1]
    else
      return nil
    end
    if node == nil then return nil end
  end
  return node, parts[#parts]
end

local function get(doc, parts)
  if #parts == 0 then return doc end
  local parent, last = locate(doc, parts)
  if parent == nil then return nil end
  local k = value.kind(parent)
  if k == "object" then return parent[last] end
  if k == "array" then
    local idx = array_index(last)
    if idx then return parent[idx + 1] end
  end
  return nil
end

local function invalid_index(tok)
  return string.format("Unable to access invalid index: %s: invalid index referenced", tok)
end

-- Each op works on the document in place (doc is a private copy) and returns
-- the (possibly new) root, or nil, message.
local function op_add(doc, parts, v, opname)
  if #parts == 0 then return v end
  local parent, last = locate(doc, parts)
  local k = value.kind(parent)
  if parent == nil or (k ~= "object" and k ~= "array") then
    return nil, string.format('%s operation does not apply: doc is missing path: "%s": missing value',
      opname, "/" .. table.concat(parts, "/"))
  end
  if k == "object" then
    parent[last] = v
    return doc
  end
  local n = #parent
  local idx = last == "-" and n or array_index(last)
  if not idx or idx > n then return nil, invalid_index(last) end
  table.insert(parent, idx + 1, v)
  return doc
end

local function op_remove(doc, parts, opname)
  if #parts == 0 then return nil, string.format("%s operation does not apply: cannot remove the root",
    opname) end
  local parent, last = locate(doc, parts)
  local k = value.kind(parent)
  local path = "/" .. table.concat(parts, "/")
  if parent == nil or (k ~= "object" and k ~= "array") then
    return nil, string.format('%s operation does not apply: doc is missing path: "%s": missing value',
      opname, path)
  end
  if k == "object" then
    if parent[last] == nil then
      return nil, string.format("Unable to remove nonexistent key: %s: missing value", last)
    end
    local old = parent[last]
    parent[last] = nil
    return doc, old
  end
  local idx = array_index(last)
  if not idx or idx >= #parent then return nil, invalid_index(last) end
  local old = table.remove(parent, idx + 1)
  return doc, old
end

local function op_test(doc, parts, v, ptr)
  local have = get(doc, parts)
  if have == nil and v == null then return doc end
  if have == nil or not value.equal(have, v) then
    return nil, string.format("testing value %s failed: test failed", ptr)
  end
  return doc
end

function M.json(doc, ops)
  if value.kind(ops) ~= "array" then
    if value.kind(ops) == "object" and next(ops) == nil then ops = {} else
      return nil, "json: cannot unmarshal " .. value.kind(ops) .. " into Go value of type jsonpatch.Patch",
        "bad_request"
    end
  end
  local out = copy(doc)
  for _, op in ipairs(ops) do
    if value.kind(op) ~= "object" then
      return nil, "json: cannot unmarshal " .. value.kind(op) .. " into Go value of type " ..
        "jsonpatch.Operation", "bad_request"
    end
    local name = op.op
    local ptr = op.path
    local parts = parse_pointer(ptr)
    local err
    if name == "add" or name == "replace" or name == "test" then
      if op.value == nil then
        return nil, string.format('%s operation does not apply: value is missing', name), "invalid"
      end
    end
    if not parts and name ~= nil then
      return nil, string.format('%s operation does not apply: doc is missing path: "%s": missing value',
        tostring(name), tostring(ptr or "unknown")), "invalid"
    end
    if name == "add" then
      out, err = op_add(out, parts, copy(op.value), "add")
    elseif name == "remove" then
      out, err = op_remove(out, parts, "remove")
    elseif name == "replace" then
      if #parts == 0 then
        out = copy(op.value)
      elseif get(out, parts) == nil then
        return nil, string.format("replace operation does not apply: doc is missing key: %s: missing value",
          ptr), "invalid"
      else
        local parent, last = locate(out, parts)
        if value.kind(parent) == "array" then parent[array_index(last) + 1] = copy(op.value)
        else parent[last] = copy(op.value) end
      end
    elseif name == "move" or name == "copy" then
      local from = parse_pointer(op.from)
      local v = from and get(out, from)
      if v == nil then
        return nil, string.format("%s operation does not apply: doc is missing from path: %s: missing value",
          name, tostring(op.from)), "invalid"
      end
      if name == "move" then
        if op.from ~= ptr and ptr:sub(1, #op.from + 1) == op.from .. "/" then
          return nil, string.format("move operation does not apply: cannot move %s into its own child %s",
            op.from, ptr), "invalid"
        end
        local removed
        out, removed = op_remove(out, from, "move")
        if out then out, err = op_add(out, parts, removed, "move") end
      else
        out, err = op_add(out, parts, copy(v), "copy")
      end
    elseif name == "test" then
      out, err = op_test(out, parts, op.value, ptr)
    else
      return nil, string.format("Unexpected kind: %s: unknown object type", tostring(name)), "invalid"
    end
    if out == nil then return nil, err, "invalid" end
  end
  return out
end

---------------------------------------------------------------------------
-- Strategic merge patch
---------------------------------------------------------------------------

local DIRECTIVE = "$patch"

local function strip_directives(v)
  local k = value.kind(v)
  if k == "object" then
    local out = {}
    for key, x in pairs(v) do
      if key ~= DIRECTIVE and key ~= "$retainKeys" and not key:match("^%$setElementOrder/")
          and not key:match("^%$deleteFromPrimitiveList/") then
        out[key] = strip_directives(x)
      end
    end
    return out
  elseif k == "array" then
    local out = json.array({})
    for _, x in ipairs(v) do
      if not (value.kind(x) == "object" and x[DIRECTIVE] ~= nil) then out[#out + 1] = strip_directives(x) end
    end
    return out
  end
  return v
end

local merge_map

local function item_key(item, key)
  if value.kind(item) == "object" then return item[key] end
  return nil
end

local function order_list(list, order, key)
  if value.kind(order) ~= "array" then return list end
  local out, used = json.array({}), {}
  for _, want in ipairs(order) do
    local w = key and item_key(want, key) or want
    for i, x in ipairs(list) do
      local id = key and item_key(x, key) or x
      if not used[i] and value.equal(id, w) then
        out[#out + 1] = x; used[i] = true; break
      end
    end
  end
  for i, x in ipairs(list) do
    if not used[i] then out[#out + 1] = x end
  end
  return out
end

local function merge_list(original, p, meta)
  for _, item in ipairs(p) do
    if value.kind(item) == "object" and item[DIRECTIVE] == "replace" then
      return strip_directives(p)
    end
  end
  local out = json.array({})
  if value.kind(original) == "array" then
    for i, x in ipairs(original) do out[i] = copy(x) end
  end
  local key = meta and meta.key
  for _, item in ipairs(p) do
    if key and value.kind(item) == "object" then
      local id = item[key]
      local found
      for i, x in ipairs(out) do
        if value.equal(item_key(x, key), id) then found = i; break end
      end
      if item[DIRECTIVE] == "delete" then
        if found then table.remove(out, found) end
      elseif found then
        local merged, err = merge_map(out[found], item, meta.items)
        if merged == nil and err then return nil, err end
        out[found] = merged
      else
        out[#out + 1] = strip_directives(item)
      end
    else
      local present = false
      for _, x in ipairs(out) do
        if value.equal(x, item) then present = true; break end
      end
      if not present then out[#out + 1] = copy(item) end
    end
  end
  return out
end

function merge_map(original, p, meta)
  meta = meta or {}
  local fields = meta.fields or {}
  local directive = p[DIRECTIVE]
  if directive == "replace" then return strip_directives(p) end
  if directive == "delete" then return nil end
  if directive ~= nil and directive ~= "merge" then
    return nil, string.format("Unknown patch directive %s", value.go_quote(tostring(directive)))
  end
  local out = value.kind(original) == "object" and copy(original) or {}
  local retain = p["$retainKeys"]
  if value.kind(retain) == "array" then
    local keep = {}
    for _, k in ipairs(retain) do keep[k] = true end
    for k in pairs(out) do
      if not keep[k] then out[k] = nil end
    end
  end
  local orders = {}
  for k, v in pairs(p) do
    local del_field = type(k) == "string" and k:match("^%$deleteFromPrimitiveList/(.+)$")
    local order_field = type(k) == "string" and k:match("^%$setElementOrder/(.+)$")
    if del_field then
      if value.kind(out[del_field]) == "array" and value.kind(v) == "array" then
        local kept = json.array({})
        for _, x in ipairs(out[del_field]) do
          local drop = false
          for _, d in ipairs(v) do
            if value.equal(x, d) then drop = true; break end
          end
          if not drop then kept[#kept + 1] = x end
        end
        out[del_field] = kept
      end
    elseif order_field then
      orders[order_field] = v
    end
  end
  for k, v in pairs(p) do
    local directive_key = k == DIRECTIVE or k == "$retainKeys" or (type(k) == "string" and k:match("^%$"))
    if directive_key then
      goto next_field -- handled above
    end
    if v == null then
      out[k] = nil
    else
      local fmeta = fields[k]
      local vk = value.kind(v)
      local replace = fmeta and fmeta.strategy == "replace"
      if vk == "object" and value.kind(out[k]) == "object" and not replace then
        local merged, err = merge_map(out[k], v, fmeta)
        if err then return nil, err end
        out[k] = merged
      elseif vk == "object" then
        if v[DIRECTIVE] == "delete" then
          out[k] = nil
        else
          out[k] = strip_directives(v)
        end
      elseif vk == "array" and fmeta and fmeta.strategy == "merge" then
        local merged, err = merge_list(out[k], v, fmeta)
        if merged == nil then return nil, err end
        out[k] = merged
      else
        out[k] = strip_directives(v)
      end
    end
    ::next_field::
  end
  for k, order in pairs(orders) do
    if value.kind(out[k]) == "array" then
      local fmeta = fields[k]
      out[k] = order_list(out[k], order, fmeta and fmeta.key)
    end
  end
  return out
end

function M.strategic(doc, p, meta)
  if value.kind(p) ~= "object" then
    return nil, "json: cannot unmarshal " .. value.kind(p) .. " into Go value of type " ..
      "map[string]interface {}", "bad_request"
  end
  local out, err = merge_map(doc, p, meta)
  if out == nil then
    if err then return nil, err, "bad_request" end
    return {}
  end
  return out
end

---------------------------------------------------------------------------

local by_name = {
  merge = "merge", ["application/merge-patch+json"] = "merge",
  json = "json", ["application/json-patch+json"] = "json",
  strategic = "strategic", ["application/strategic-merge-patch+json"] = "strategic",
  apply = "apply", ["application/apply-patch+yaml"] = "apply",
}

-- "merge" | "json" | "strategic" | "apply" | nil for a patch type name or media type.
function M.type_of(name)
  if type(name) ~= "string" then return nil end
  return by_name[name] or by_name[name:match("^([^;%s]+)")]
end

-- body: a decoded value or JSON text.
function M.apply(kind, doc, body, meta)
  local t = M.type_of(kind)
  if type(body) == "string" then
    local ok, decoded = pcall(json.decode, body)
    if not ok then return nil, tostring(decoded), "bad_request" end
    body = decoded
  end
  if t == "merge" then return M.merge(doc, body) end
  if t == "json" then return M.json(doc, body) end
  if t == "strategic" then return M.strategic(doc, body, meta) end
  return nil, "unsupported patch type " .. tostring(kind), "unsupported"
end

return M
