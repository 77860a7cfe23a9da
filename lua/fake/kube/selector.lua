-- Label and field selectors, parsed and matched as k8s.io/apimachinery's
-- labels.Parse and fields.ParseSelector do.
--
--   selector.labels(text)  -> matcher | nil, message
--   selector.fields(text)  -> matcher | nil, message
--   matcher(set)           -> true | false   (set: map of string -> string)
--   selector.field_names(text) -> the field labels a field selector uses
local schema = require("fake.kube.schema")

local M = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function everything() return true end

-- Label values are checked as the server checks them (labels.Parse validates).
local function check_key(key)
  local errs = schema.is_qualified_name(key)
  if #errs > 0 then
    return string.format('key: Invalid value: %q: %s', key, errs[1])
  end
end

local function check_value(key, v, idx)
  local errs = schema.is_label_value(v)
  if #errs > 0 then
    return string.format('values[%d][%s]: Invalid value: %q: %s', idx or 0, key, v, errs[1])
  end
end

-- Splits on commas that are not inside parentheses.
local function split_requirements(text)
  local out, depth, cur = {}, 0, {}
  for i = 1, #text do
    local c = text:sub(i, i)
    if c == "(" then depth = depth + 1 elseif c == ")" then depth = depth - 1 end
    if c == "," and depth == 0 then
      out[#out + 1] = table.concat(cur); cur = {}
    else
      cur[#cur + 1] = c
    end
  end
  out[#out + 1] = table.concat(cur)
  return out
end

local function parse_set(body)
  local values = {}
  local inner = body:match("^%((.*)%)$")
  if not inner then return nil end
  if trim(inner) == "" then return values end
  for v in (inner .. ","):gmatch("(.-),") do values[#values + 1] = trim(v) end
  return values
end

local function parse_label_requirement(req)
  local r = trim(req)
  if r == "" then return nil, "found '', expected: !, identifier, or 'end of string'" end
  local key = r:match("^!%s*([^%s=!<>(),]+)$")
  if key then
    local bad = check_key(key)
    if bad then return nil, bad end
    return function(set) return set[key] == nil end
  end
  local k, op, rest = r:match("^([^%s=!<>(),]+)%s*(==)%s*(.*)$")
  if not k then k, op, rest = r:match("^([^%s=!<>(),]+)%s*(!=)%s*(.*)$") end
  if not k then k, op, rest = r:match("^([^%s=!<>(),]+)%s*(=)%s*(.*)$") end
  if not k then k, op, rest = r:match("^([^%s=!<>(),]+)%s*([<>])%s*(.*)$") end
  if not k then
    k, op, rest = r:match("^([^%s=!<>(),]+)%s+(notin)%s*(%(.*%))$")
    if not k then k, op, rest = r:match("^([^%s=!<>(),]+)%s+(in)%s*(%(.*%))$") end
  end
  if not k then
    key = r:match("^([^%s=!<>(),]+)$")
    if key then
      local bad = check_key(key)
      if bad then return nil, bad end
      return function(set) return set[key] ~= nil end
    end
    return nil, string.format("unable to parse requirement: found '%s', expected: in, notin, =, ==, !=, " ..
      "gt, lt", r)
  end
  local bad = check_key(k)
  if bad then return nil, bad end
  if op == "in" or op == "notin" then
    local values = parse_set(rest)
    if not values then return nil, string.format("found '%s', expected: '('", rest) end
    local set = {}
    for i, v in ipairs(values) do
      local verr = check_value(k, v, i - 1)
      if verr then return nil, verr end
      set[v] = true
    end
    if op == "in" then
      if #values == 0 then return nil, "for 'in', 'notin' operators, values set can't be empty" end
      return function(s) return s[k] ~= nil and set[s[k]] == true end
    end
    if #values == 0 then return nil, "for 'in', 'notin' operators, values set can't be empty" end
    return function(s) return s[k] == nil or not set[s[k]] end
  end
  local v = trim(rest)
  if op == "<" or op == ">" then
    local n = tonumber(v)
    if not n or math.type(n) ~= "integer" then
      return nil, string.format("for 'Gt', 'Lt' operators, the value must be an integer")
    end
    return function(s)
      local x = s[k] and math.tointeger(tonumber(s[k]))
      if not x then return false end
      if op == "<" then return x < n end
      return x > n
    end
  end
  local verr = check_value(k, v, 0)
  if verr then return nil, verr end
  if op == "!=" then
    return function(s) return s[k] ~= v end
  end
  return function(s) return s[k] == v end
end

local function conjunction(reqs)
  if #reqs == 0 then return everything end
  return function(set)
    for _, r in ipairs(reqs) do
      if not r(set) then return false end
    end
    return true
  end
end

function M.labels(text)
  if text == nil or trim(text) == "" then return everything end
  local reqs = {}
  for _, part in ipairs(split_requirements(text)) do
    local r, err = parse_label_requirement(part)
    if not r then return nil, err end
    reqs[#reqs + 1] = r
  end
  return conjunction(reqs)
end

-- Field selector terms: key=value, key==value, key!=value; '\' escapes ',',
-- '=', '!' and '\' in values.
local function split_escaped(text)
  local terms, cur, i = {}, {}, 1
  while i <= #text do
    local c = text:sub(i, i)
    if c == "\\" and i < #text then
      cur[#cur + 1] = text:sub(i, i + 1); i = i + 2
    else
      if c == "," then terms[#terms + 1] = table.concat(cur); cur = {}
      else cur[#cur + 1] = c end
      i = i + 1
    end
  end
  terms[#terms + 1] = table.concat(cur)
  return terms
end

local function unescape(s) return (s:gsub("\\(.)", "%1")) end

local function parse_field_terms(text)
  local terms = {}
  for _, term in ipairs(split_escaped(text)) do
    if term ~= "" then
      local k, op, v
      -- find the first unescaped operator
      local i = 1
      while i <= #term do
        local c = term:sub(i, i)
        if c == "\\" then i = i + 2
        elseif term:sub(i, i + 1) == "!=" then k, op, v = term:sub(1, i - 1), "!=", term:sub(i + 2); break
        elseif term:sub(i, i + 1) == "==" then k, op, v = term:sub(1, i - 1), "=", term:sub(i + 2); break
        elseif c == "=" then k, op, v = term:sub(1, i - 1), "=", term:sub(i + 1); break
        else i = i + 1 end
      end
      if not k then
        return nil, string.format("invalid selector: '%s'; can't understand '%s'", text, term)
      end
      terms[#terms + 1] = { key = trim(k), op = op, value = unescape(v) }
    end
  end
  return terms
end

function M.field_names(text)
  if text == nil or text == "" then return {} end
  local terms = parse_field_terms(text) or {}
  local names = {}
  for i, t in ipairs(terms) do names[i] = t.key end
  return names
end

-- supported: a set of the field labels the kind can select on; nil means any.
function M.fields(text, supported)
  if text == nil or trim(text) == "" then return everything end
  local terms, err = parse_field_terms(text)
  if not terms then return nil, err end
  for _, t in ipairs(terms) do
    if supported and not supported[t.key] then
      return nil, string.format("field label not supported: %s", t.key)
    end
  end
  return function(set)
    for _, t in ipairs(terms) do
      local have = set[t.key] or ""
      if t.op == "=" and have ~= t.value then return false end
      if t.op == "!=" and have == t.value then return false end
    end
    return true
  end
end

return M
