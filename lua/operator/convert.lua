-- Spec <-> SageMaker API conversion (COMPAT.md "Spec fields"), driven by the
-- API model so one function serves every kind.
--
--   local req, unknown = convert.to_api(model, "CreateTrainingJobRequest", spec,
--                                       { skip = { region = true } })
--   local spec = convert.from_api(model, "CreateTrainingJobRequest", describe_answer)
--
-- Spec members are the API members with a lower-case first letter; they are
-- matched without regard to case, so the spellings the old API kept
-- (dataProcessing's `JoinSource`) work too. Map-typed members are lists of
-- {name, value} in the spec and become maps; `tags` ({key, value}) need no
-- rule of their own (Tag's members are Key and Value). A float member given
-- as an integer (initialVariantWeight) is sent as a float. What the model
-- does not know is left out and reported in `unknown` (paths, for a
-- warning); what does not fit its type is passed through unchanged for
-- aws.validate to word.
local json = require("smop.json")

local M = {}

-- Old manifests' spellings that the case-blind match does not cover.
local ALIASES = {
  DebugHookConfig = { ruleparameters = "HookParameters" },
}

local index_cache = setmetatable({}, { __mode = "k" })

-- lower-cased spec key -> member name, per structure shape.
local function member_index(shape_name, shape)
  local idx = index_cache[shape]
  if idx then return idx end
  idx = {}
  for member in pairs(shape.members or {}) do idx[member:lower()] = member end
  for alias, member in pairs(ALIASES[shape_name] or {}) do
    if not idx[alias] then idx[alias] = member end
  end
  index_cache[shape] = idx
  return idx
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local convert

local function structure(model, shape_name, shape, v, path, unknown, skip)
  if type(v) ~= "table" or json.is_array(v) then return v end
  local idx = member_index(shape_name, shape)
  local out = {}
  for _, k in ipairs(sorted_keys(v)) do
    local member = type(k) == "string" and idx[k:lower()]
    -- skip: the operator's own fields (region, ...), never sent
    if member and not (skip and skip[k]) then
      out[member] = convert(model, shape.members[member].shape, v[k], path .. k, unknown)
    elseif not (skip and skip[k]) then
      unknown[#unknown + 1] = path .. tostring(k)
    end
  end
  if next(out) == nil then return json.object(out) end
  return out
end

-- A list of {name, value} (or a map already) -> a map.
local function map(model, shape, v, path, unknown)
  if type(v) ~= "table" then return v end
  local out = {}
  if json.is_array(v) or #v > 0 then
    for i, item in ipairs(v) do
      if type(item) ~= "table" or item.name == nil then return v end
      out[tostring(item.name)] = convert(model, shape.value.shape, item.value,
        string.format("%s[%d].value", path, i - 1), unknown)
    end
  else
    for k, x in pairs(v) do out[k] = convert(model, shape.value.shape, x, path .. "." .. k, unknown) end
  end
  return json.object(out)
end

function convert(model, shape_name, v, path, unknown)
  local shape = model.shapes[shape_name]
  if v == nil or v == json.null or not shape or shape.document then return v end
  local t = shape.type
  if t == "structure" then
    return structure(model, shape_name, shape, v, path .. ".", unknown)
  elseif t == "list" then
    if type(v) ~= "table" then return v end
    local out = json.array({})
    for i, x in ipairs(v) do
      out[i] = convert(model, shape.member.shape, x, string.format("%s[%d]", path, i - 1), unknown)
    end
    return out
  elseif t == "map" then
    return map(model, shape, v, path, unknown)
  elseif (t == "float" or t == "double") and math.type(v) == "integer" then
    return v + 0.0
  end
  return v
end

-- spec (a decoded object spec) -> the request for the operation whose input
-- shape is shape_name, and the spec paths the model does not know.
-- opts.skip: top-level spec keys that are the operator's own (region, ...).
function M.to_api(model, shape_name, spec, opts)
  local shape = model.shapes[shape_name]
  if not shape then error("convert.to_api: the model has no shape " .. tostring(shape_name), 2) end
  local unknown = {}
  local out = structure(model, shape_name, shape, spec or {}, "spec.", unknown, opts and opts.skip)
  return out, unknown
end

-- An API value -> the spec's form: to_api reversed, for a structure of shape
-- shape_name (an operation's input, say). Only the members the shape has are
-- kept (a Describe answer's extra members drop out), names get a lower-case
-- first letter, maps become {name, value} lists sorted by name.
local function from_api(model, shape_name, v)
  local shape = model.shapes[shape_name]
  if v == nil or v == json.null or not shape or shape.document or type(v) ~= "table" then return v end
  local t = shape.type
  if t == "structure" then
    local out = {}
    for member, m in pairs(shape.members or {}) do
      if v[member] ~= nil then
        out[member:sub(1, 1):lower() .. member:sub(2)] = from_api(model, m.shape, v[member])
      end
    end
    if next(out) == nil then return json.object(out) end
    return out
  elseif t == "list" then
    local out = json.array({})
    for i, x in ipairs(v) do out[i] = from_api(model, shape.member.shape, x) end
    return out
  elseif t == "map" then
    local out = {}
    for k, x in pairs(v) do out[k] = from_api(model, shape.value.shape, x) end
    return M.name_values(out)
  end
  return v
end

function M.from_api(model, shape_name, value)
  if not model.shapes[shape_name] then
    error("convert.from_api: the model has no shape " .. tostring(shape_name), 2)
  end
  return from_api(model, shape_name, value)
end

-- An API answer's member names with a lower-case first letter, recursively
-- (status fields are spelled that way).
function M.lower_keys(v)
  if type(v) ~= "table" then return v end
  if json.is_array(v) then
    local out = json.array({})
    for i, x in ipairs(v) do out[i] = M.lower_keys(x) end
    return out
  end
  local out = {}
  for k, x in pairs(v) do
    local key = type(k) == "string" and (k:sub(1, 1):lower() .. k:sub(2)) or k
    out[key] = M.lower_keys(x)
  end
  return out
end

-- A map -> a list of {name, value}, sorted by name (the spec's form).
function M.name_values(m)
  local out = json.array({})
  if type(m) ~= "table" then return out end
  for _, k in ipairs(sorted_keys(m)) do out[#out + 1] = { name = k, value = m[k] } end
  return out
end

-- Epoch seconds (SageMaker's JSON protocol) -> RFC 3339 (Kubernetes).
function M.time(epoch)
  if type(epoch) ~= "number" then return nil end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(epoch))
end

return M
