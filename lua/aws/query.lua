-- The AWS query protocol (STS): parameters flattened into a form body,
-- answers in XML read back through the operation's output shape.
local json = require("smop.json")
local xml = require("aws.xml")

local M = {}

local function url_encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function iso8601(v)
  if type(v) == "number" then return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(v)) end
  return tostring(v)
end

local function flatten(value, shape_name, shapes, prefix, out)
  local shape = shapes[shape_name]
  local t = shape.type
  if t == "structure" then
    for member, ref in pairs(shape.members or {}) do
      local v = value[member]
      if v ~= nil and v ~= json.null then
        local name = ref.locationName or member
        flatten(v, ref.shape, shapes, prefix == "" and name or prefix .. "." .. name, out)
      end
    end
  elseif t == "list" then
    if #value == 0 then out[#out + 1] = { prefix, "" } end
    local item = shape.flattened and "" or "." .. (shape.member.locationName or "member")
    for i, v in ipairs(value) do
      flatten(v, shape.member.shape, shapes, prefix .. item .. "." .. i, out)
    end
  elseif t == "map" then
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do
      local entry = prefix .. ".entry." .. i
      out[#out + 1] = { entry .. ".key", tostring(k) }
      flatten(value[k], shape.value.shape, shapes, entry .. ".value", out)
    end
  elseif t == "boolean" then
    out[#out + 1] = { prefix, value and "true" or "false" }
  elseif t == "timestamp" then
    out[#out + 1] = { prefix, iso8601(value) }
  else
    out[#out + 1] = { prefix, tostring(value) }
  end
end

-- The form body for operation op of model with params.
function M.encode(model, op, params)
  local pairs_out = { { "Action", op }, { "Version", model.metadata.apiVersion } }
  local input = model.operations[op].input
  if input then flatten(params, input.shape, model.shapes, "", pairs_out) end
  local parts = {}
  for i, kv in ipairs(pairs_out) do parts[i] = url_encode(kv[1]) .. "=" .. url_encode(kv[2]) end
  return table.concat(parts, "&")
end

local function from_xml(node, shape_name, shapes)
  local shape = shapes[shape_name]
  local t = shape.type
  local text = node.text or ""
  if t == "structure" then
    local out = {}
    for member, ref in pairs(shape.members or {}) do
      local child = xml.child(node, ref.locationName or member)
      if child then out[member] = from_xml(child, ref.shape, shapes) end
    end
    return out
  elseif t == "list" then
    local out = json.array()
    local item = shape.member.locationName or "member"
    for _, c in ipairs(node.children) do
      if c.name == item then out[#out + 1] = from_xml(c, shape.member.shape, shapes) end
    end
    return out
  elseif t == "map" then
    local out = {}
    for _, entry in ipairs(node.children) do
      local k, v = xml.child(entry, "key"), xml.child(entry, "value")
      if k and v then out[k.text or ""] = from_xml(v, shape.value.shape, shapes) end
    end
    return out
  elseif t == "boolean" then
    return text == "true"
  elseif t == "integer" or t == "long" then
    return math.tointeger(tonumber(text)) or tonumber(text)
  elseif t == "float" or t == "double" then
    return tonumber(text)
  end
  return text
end

-- Decodes a successful answer: returns the output table, or nil, err.
function M.decode(model, op, body)
  local root, err = xml.parse(body)
  if not root then return nil, err end
  local output = model.operations[op].output
  if not output then return {} end
  local result = xml.child(root, output.resultWrapper or (op .. "Result")) or root
  return from_xml(result, output.shape, model.shapes)
end

-- Decodes an error answer: code, message, request id (any may be nil).
function M.decode_error(body)
  local root = xml.parse(body)
  if not root then return nil end
  local err = xml.child(root, "Error") or root
  local code, message = xml.child(err, "Code"), xml.child(err, "Message")
  local rid = xml.child(root, "RequestId")
  return code and code.text, message and message.text, rid and rid.text
end

return M
