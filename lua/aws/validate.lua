-- Checks a request against the operation's input shape in the AWS API
-- model, and words what is wrong as AWS's servers do (DESIGN contract 5:
-- bad input never reaches SageMaker; the fake server answers with the same
-- text).
--
--   local ok, warnings = validate.request(model, "CreateTrainingJob", params)
--   -- ok: true; warnings: a list (often empty) of { path, message }
--   local _, message, errors, warnings = validate.request(...)
--   -- message: what AWS answers, e.g. "1 validation error detected: Value
--   --   'abc-' at 'trainingJobName' failed to satisfy constraint: Member must
--   --   satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
--   -- errors: a list of { path, message }; errors.code is the AWS error code:
--   --   "ValidationException", "SerializationException" (JSON protocol: a
--   --   value of the wrong type; message is then AWS's own, which names no
--   --   path), "ValidationError" (query protocol) or "UnknownOperationException"
--   validate.describe(errors) -- one line for a user, naming every path
--
-- The wording follows Coral, the framework behind these services:
--   * "N validation error(s) detected: e1; e2", each error
--     "Value 'v' at 'a.b' failed to satisfy constraint: Member must ...";
--     a missing value is "Value null at ..."; a sensitive one "Value at ...".
--   * paths join lowerCamel member names with '.'; a list element is
--     'list.N.member' (N from 1), a map value 'map.<key>.member'.
--   * a list or map of scalars is checked as a whole, at the list's path:
--     "Member must satisfy constraint: [<the element's constraints>]",
--     "Map keys must satisfy constraint: [...]", "Map value must ...".
--   * one value's failures come pattern first, then length, then enum.
--   * a value of the wrong type stops everything with one
--     SerializationException: "STRING_VALUE can not be converted to an
--     Integer", "Start of list found where not expected", "Expected null"...
--     (under the query protocol, where AWS has no such error, one
--     "Value 'v' at 'a.b' failed to satisfy constraint: Member must be an
--     integer" instead).
-- Stricter than AWS, on purpose: integers must be whole numbers (AWS
-- truncates), and members the model does not know are reported as warnings
-- (AWS ignores them silently).
--
-- Two passes: a quick one that only says "valid, no warnings" (members in
-- whatever order pairs gives, no paths kept) and, when it finds anything,
-- an ordered one that visits members sorted by name and words every error,
-- so the output is stable. Each shape's checker is built once per model, on
-- first use.
local json = require("smop.json")
local regex = require("smop.regex")

local M = {}

local null = json.null
local is_array = json.is_array

-- Raised (as error values): the ordered pass stops at the first type error,
-- as AWS's deserializer does; the quick pass stops at anything to report.
local TYPE_ERROR = setmetatable({}, { __tostring = function() return "type error" end })
local REPORT = setmetatable({}, { __tostring = function() return "something to report" end })

-- ---- text ----

-- Java's Double.toString, which Coral uses to print doubles.
local function java_double(x)
  if x ~= x then return "NaN" end
  if x == math.huge then return "Infinity" end
  if x == -math.huge then return "-Infinity" end
  if x == 0 then return 1 / x < 0 and "-0.0" or "0.0" end
  local e
  for p = 0, 16 do -- the shortest text that reads back the same
    e = string.format("%." .. p .. "e", x)
    if tonumber(e) == x then break end
  end
  local sign, int, frac, exp = e:match("^(%-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (int .. frac):gsub("0+$", "")
  if digits == "" then digits = "0" end
  exp = tonumber(exp)
  local ax = math.abs(x)
  if ax >= 1e-3 and ax < 1e7 then
    if exp < 0 then return sign .. "0." .. string.rep("0", -exp - 1) .. digits end
    local whole = digits:sub(1, exp + 1)
    whole = whole .. string.rep("0", exp + 1 - #whole)
    local rest = digits:sub(exp + 2)
    return sign .. whole .. "." .. (rest == "" and "0" or rest)
  end
  local rest = digits:sub(2)
  return sign .. digits:sub(1, 1) .. "." .. (rest == "" and "0" or rest) .. "E" .. exp
end

local function number_text(x, floating)
  if floating then return java_double(x + 0.0) end
  if math.type(x) == "float" and x == math.floor(x) and math.abs(x) < 2 ^ 63 then
    return string.format("%d", math.tointeger(x))
  end
  return tostring(x)
end

-- A value as Java's toString prints it: lists [a, b], maps {k=v}.
local function value_text(v, floating)
  local t = type(v)
  if v == nil or v == null then return "null" end
  if t == "string" then return v end
  if t == "number" then return number_text(v, floating) end
  if t ~= "table" then return tostring(v) end
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = value_text(v[i], floating) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do parts[i] = tostring(k) .. "=" .. value_text(v[k], floating) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function lower_camel(name)
  return name:sub(1, 1):lower() .. name:sub(2)
end

-- Java's String.length(): UTF-16 code units.
local function java_length(s)
  local n = utf8.len(s)
  if not n then return #s end
  if n == #s then return n end
  local _, four = s:gsub("[\240-\247]", "")
  return n + four
end

-- ---- context: errors, warnings and the current path ----

-- ctx.fast: the quick pass (anything to report raises REPORT; no path).
-- Otherwise ctx.path[1..ctx.depth] is the path of the value being checked.

-- Called first wherever something is reported, so the quick pass stops
-- before any text is made.
local function path_of(ctx, extra)
  if ctx.fast then error(REPORT, 0) end
  local p = table.concat(ctx.path, ".", 1, ctx.depth)
  if extra then p = p == "" and extra or p .. "." .. extra end
  return p
end

local function push(ctx, segment)
  local d = ctx.depth + 1
  ctx.depth = d
  ctx.path[d] = segment
end

local function pop(ctx)
  ctx.depth = ctx.depth - 1
end

-- shown: the text of the value, null, or nil for a sensitive value.
local function fail(ctx, path, shown, constraint)
  if ctx.fast then error(REPORT, 0) end
  local value
  if shown == nil then
    value = "Value at '"
  elseif shown == null then
    value = "Value null at '"
  else
    value = "Value '" .. shown .. "' at '"
  end
  ctx.errors[#ctx.errors + 1] = {
    path = path,
    message = value .. path .. "' failed to satisfy constraint: " .. constraint,
  }
end

-- The first type error ends the check. Under the JSON protocol the message
-- is Coral's (a Jackson token and a Java type); under query, where every
-- value is text, a path-naming constraint in the usual wording.
local function type_error(ctx, v, coral, wanted)
  if ctx.fast then error(REPORT, 0) end
  local path = path_of(ctx)
  local message
  if ctx.query then
    message = "Value '" .. value_text(v) .. "' at '" .. path ..
      "' failed to satisfy constraint: Member must be " .. wanted
  else
    message = coral
  end
  ctx.errors = { { path = path, message = message } }
  ctx.serialization = not ctx.query
  error(TYPE_ERROR, 0)
end

local function token(v)
  local t = type(v)
  if t == "string" then return "STRING_VALUE" end
  if t == "number" then return "NUMBER_VALUE" end
  if v == true then return "TRUE_VALUE" end
  if v == false then return "FALSE_VALUE" end
  return string.upper(t) .. "_VALUE"
end

-- A table where a scalar or a list was expected.
local function container_error(ctx, v, wanted)
  if is_array(v) then
    type_error(ctx, v, "Start of list found where not expected", wanted)
  end
  type_error(ctx, v, "Start of structure or map found where not expected.", wanted)
end

-- ---- scalar shapes ----

-- A spec holds a scalar shape's constraints, precomputed.

local JAVA_TYPE = {
  string = "a String", integer = "an Integer", long = "a Long", float = "a Float",
  double = "a Double", boolean = "a Boolean", blob = "a Blob",
  timestamp = "milliseconds since epoch",
}

local WANTED = {
  string = "a string", integer = "an integer", long = "an integer", float = "a number",
  double = "a number", boolean = "a boolean", blob = "a string",
  timestamp = "a timestamp (epoch seconds or ISO 8601)",
}

local LUA_TYPE = {
  string = "string", integer = "number", long = "number", float = "number",
  double = "number", boolean = "boolean", blob = "string", timestamp = "number",
}

-- 2019-11-20T23:42:35Z, with optional fraction and offset.
local function iso8601(s)
  local rest = s:match("^%d%d%d%d%-%d%d%-%d%d[Tt]%d%d:%d%d:%d%d(.*)$")
  if not rest then return false end
  rest = rest:gsub("^%.%d+", "")
  return rest == "" or rest == "Z" or rest == "z" or rest:match("^[%+%-]%d%d:?%d%d$") ~= nil
end

-- For a value whose Lua type is not spec.lua_type: raises the type error,
-- unless it is a timestamp written as text.
local function check_type(spec, v, ctx)
  if type(v) == "table" then container_error(ctx, v, WANTED[spec.type]) end
  if spec.type == "timestamp" and type(v) == "string" and iso8601(v) then return end
  type_error(ctx, v, token(v) .. " can not be converted to " .. JAVA_TYPE[spec.type], WANTED[spec.type])
end

local function bound_text(spec, x)
  return spec.floating and java_double(x + 0.0) or number_text(x)
end

local function build_spec(shape)
  local spec = {
    type = shape.type,
    lua_type = LUA_TYPE[shape.type],
    floating = shape.type == "double" or shape.type == "float",
    sensitive = shape.sensitive == true,
    min = shape.min,
    max = shape.max,
  }
  local all = {} -- every constraint, as a list's or map's check names them
  if spec.type == "string" then
    if shape.max then
      spec.max_text = "Member must have length less than or equal to " .. shape.max
      all[#all + 1] = spec.max_text
    end
    if shape.min then
      spec.min_text = "Member must have length greater than or equal to " .. shape.min
      all[#all + 1] = spec.min_text
    end
    if shape.pattern then
      local re, err = regex.cache(shape.pattern, "j")
      if not re then error("model pattern " .. shape.pattern .. ": " .. err) end
      spec.pattern = re
      spec.pattern_text = "Member must satisfy regular expression pattern: " .. shape.pattern
      all[#all + 1] = spec.pattern_text
    end
    if shape.enum then
      spec.enum = {}
      for _, value in ipairs(shape.enum) do spec.enum[value] = true end
      spec.enum_text = "Member must satisfy enum value set: [" .. table.concat(shape.enum, ", ") .. "]"
      all[#all + 1] = spec.enum_text
    end
    spec.constrained = #all > 0
  elseif spec.lua_type == "number" and spec.type ~= "timestamp" then
    if shape.max then
      spec.max_text = "Member must have value less than or equal to " .. bound_text(spec, shape.max)
      all[#all + 1] = spec.max_text
    end
    if shape.min then
      spec.min_text = "Member must have value greater than or equal to " .. bound_text(spec, shape.min)
      all[#all + 1] = spec.min_text
    end
    spec.constrained = true -- whole and finite numbers
  end
  spec.all_text = "[" .. table.concat(all, ", ") .. "]"
  all[#all + 1] = "Member must not be null"
  spec.all_null_text = "[" .. table.concat(all, ", ") .. "]"
  return spec
end

-- For a value of the right type: nothing when it satisfies spec, else the
-- texts of the constraints it fails, in AWS's order.
local function violations(spec, v)
  if spec.type == "string" then
    local out
    local re = spec.pattern
    if re and not re:full(v) then out = { spec.pattern_text } end
    local bytes = #v -- a UTF-16 unit takes 1 to 3 bytes: most strings need no count
    if (spec.max and bytes > spec.max) or (spec.min and bytes < 3 * spec.min) then
      local n = java_length(v)
      if spec.max and n > spec.max then
        out = out or {}
        out[#out + 1] = spec.max_text
      elseif spec.min and n < spec.min then
        out = out or {}
        out[#out + 1] = spec.min_text
      end
    end
    if spec.enum and not spec.enum[v] then
      out = out or {}
      out[#out + 1] = spec.enum_text
    end
    return out
  end
  if v ~= v or v == math.huge or v == -math.huge then return { "Member must be a finite number" } end
  if not spec.floating and math.type(v) == "float" and v ~= math.floor(v) then
    return { "Member must be an integer" }
  end
  if spec.max and v > spec.max then return { spec.max_text } end
  if spec.min and v < spec.min then return { spec.min_text } end
  return nil
end

-- The value as a failed constraint shows it (nil: sensitive, not shown).
local function shown(spec, v)
  if spec and spec.sensitive then return nil end
  return value_text(v, spec and spec.floating)
end

local function scalar_checker(spec)
  local want, constrained = spec.lua_type, spec.constrained
  return function(v, ctx)
    if type(v) ~= want then check_type(spec, v, ctx) end
    if not constrained then return end
    local bad = violations(spec, v)
    if bad then
      local path, text = path_of(ctx), shown(spec, v)
      for _, constraint in ipairs(bad) do fail(ctx, path, text, constraint) end
    end
  end
end

-- ---- containers ----

local checker_for

-- model -> shape name -> spec, for scalar shapes
local specs = setmetatable({}, { __mode = "k" })

-- The spec of a scalar shape, or nil for another.
local function spec_of(model, name)
  local shape = model.shapes[name]
  if not LUA_TYPE[shape.type] then return nil end
  local per_model = specs[model]
  if not per_model then
    per_model = {}
    specs[model] = per_model
  end
  local spec = per_model[name]
  if not spec then
    spec = build_spec(shape)
    per_model[name] = spec
  end
  return spec
end

-- Lists and maps: "length" is their number of entries.
local function size_check(shape, size, ctx, v, element_spec)
  if shape.max and size > shape.max then
    fail(ctx, path_of(ctx), shown(element_spec, v),
      "Member must have length less than or equal to " .. shape.max)
  elseif shape.min and size < shape.min then
    fail(ctx, path_of(ctx), shown(element_spec, v),
      "Member must have length greater than or equal to " .. shape.min)
  end
end

-- The element constraints a list's or map's error names (with null
-- elements, "Member must not be null" too).
local function element_constraints(spec, nulls)
  return nulls and spec.all_null_text or spec.all_text
end

-- A list of scalars is judged whole: one error at the list's path.
local function scalar_list(spec, v, n, ctx)
  local want, bad, nulls = spec.lua_type, false, false
  for i = 1, n do
    local item = v[i]
    if item == null then
      bad, nulls = true, true
    else
      if type(item) ~= want then
        if ctx.fast then
          check_type(spec, item, ctx)
        else
          push(ctx, i)
          push(ctx, "member")
          check_type(spec, item, ctx)
          pop(ctx)
          pop(ctx)
        end
      end
      if not bad and spec.constrained and violations(spec, item) then bad = true end
    end
  end
  if bad then
    fail(ctx, path_of(ctx), shown(spec, v),
      "Member must satisfy constraint: " .. element_constraints(spec, nulls))
  end
end

local function list_checker(model, shape)
  local member = shape.member.shape
  local spec, check -- resolved on first use: shapes may be recursive
  local resolved = false
  return function(v, ctx)
    if type(v) ~= "table" then type_error(ctx, v, "Expected list or null", "a list") end
    if not is_array(v) then
      type_error(ctx, v, "Start of structure or map found where not expected.", "a list")
    end
    if not resolved then
      spec = spec_of(model, member)
      if not spec then check = checker_for(model, member) end
      resolved = true
    end
    local n = #v
    size_check(shape, n, ctx, v, spec)
    if spec then return scalar_list(spec, v, n, ctx) end
    for i = 1, n do
      local item = v[i]
      if ctx.fast then
        if item == null then error(REPORT, 0) end
        check(item, ctx)
      else
        push(ctx, i)
        push(ctx, "member")
        if item == null then
          fail(ctx, path_of(ctx), null, "Member must not be null")
        else
          check(item, ctx)
        end
        pop(ctx)
        pop(ctx)
      end
    end
  end
end

local function quick_map(v, ctx, key_spec, value_spec, check, shape)
  local count = 0
  for k, item in pairs(v) do
    count = count + 1
    if type(k) ~= "string" or item == null then error(REPORT, 0) end
    if key_spec.constrained and violations(key_spec, k) then error(REPORT, 0) end
    if value_spec then
      if type(item) ~= value_spec.lua_type then check_type(value_spec, item, ctx) end
      if value_spec.constrained and violations(value_spec, item) then error(REPORT, 0) end
    else
      check(item, ctx)
    end
  end
  if (shape.max and count > shape.max) or (shape.min and count < shape.min) then error(REPORT, 0) end
end

local function map_checker(model, shape)
  local key_spec, value_spec, check
  local resolved = false
  return function(v, ctx)
    if type(v) ~= "table" then type_error(ctx, v, "Expected map or null", "a map") end
    if is_array(v) then type_error(ctx, v, "Start of list found where not expected", "a map") end
    if not resolved then
      key_spec = spec_of(model, shape.key.shape)
      value_spec = spec_of(model, shape.value.shape)
      if not value_spec then check = checker_for(model, shape.value.shape) end
      resolved = true
    end
    if ctx.fast then return quick_map(v, ctx, key_spec, value_spec, check, shape) end
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "string" then
        push(ctx, tostring(k))
        type_error(ctx, k, "Map keys must be strings", "a string")
      end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    size_check(shape, #keys, ctx, v, value_spec)
    local bad_key, bad_value, nulls = false, false, false
    for _, k in ipairs(keys) do
      local item = v[k]
      push(ctx, k)
      if not bad_key and key_spec.constrained and violations(key_spec, k) then bad_key = true end
      push(ctx, "member")
      if value_spec then
        if item == null then
          bad_value, nulls = true, true
        else
          if type(item) ~= value_spec.lua_type then check_type(value_spec, item, ctx) end
          if not bad_value and value_spec.constrained and violations(value_spec, item) then
            bad_value = true
          end
        end
      elseif item == null then
        fail(ctx, path_of(ctx), null, "Member must not be null")
      else
        check(item, ctx)
      end
      pop(ctx)
      pop(ctx)
    end
    local text = shown(value_spec, v)
    if bad_key then
      fail(ctx, path_of(ctx), text, "Map keys must satisfy constraint: " .. key_spec.all_text)
    end
    if bad_value then
      fail(ctx, path_of(ctx), text,
        "Map value must satisfy constraint: " .. element_constraints(value_spec, nulls))
    end
  end
end

-- Members the model does not know: AWS ignores them, the user should know.
local function warn_unknown(ctx, v, index, lower_names)
  local unknown
  for k in pairs(v) do
    if index[k] == nil then
      unknown = unknown or {}
      unknown[#unknown + 1] = tostring(k)
    end
  end
  if not unknown then return end
  table.sort(unknown)
  local where = ctx.depth == 0 and ("the " .. ctx.operation .. " request") or ("'" .. path_of(ctx) .. "'")
  for _, k in ipairs(unknown) do
    local real = lower_names[k:lower()]
    ctx.warnings[#ctx.warnings + 1] = {
      path = path_of(ctx, k),
      message = "unknown member '" .. k .. "' in " .. where .. " is ignored by AWS" ..
        (real and " (did you mean '" .. real .. "'?)" or ""),
    }
  end
end

local function structure_checker(model, shape)
  local members = shape.members or {}
  local names, index, segments, lower_names, required = {}, {}, {}, {}, {}
  for name in pairs(members) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do
    index[name] = i
    segments[i] = lower_camel(name)
    lower_names[name:lower()] = name
  end
  local is_required = {}
  for _, name in ipairs(shape.required or {}) do
    if index[name] and not is_required[name] then
      is_required[name] = true
      required[#required + 1] = name
    end
  end
  local checks -- resolved on first use: shapes may be recursive
  return function(v, ctx)
    if type(v) ~= "table" then type_error(ctx, v, "Expected null", "a structure") end
    if is_array(v) then type_error(ctx, v, "Start of list found where not expected", "a structure") end
    if not checks then
      checks = {}
      for i, name in ipairs(names) do checks[i] = checker_for(model, members[name].shape) end
    end
    if ctx.fast then
      for j = 1, #required do
        local item = v[required[j]]
        if item == nil or item == null then error(REPORT, 0) end
      end
      for k, item in pairs(v) do
        local i = index[k]
        if not i then error(REPORT, 0) end
        if item ~= null then checks[i](item, ctx) end
      end
      return
    end
    warn_unknown(ctx, v, index, lower_names)
    for i = 1, #names do
      local name = names[i]
      local item = v[name]
      if item == nil or item == null then
        if is_required[name] then fail(ctx, path_of(ctx, segments[i]), null, "Member must not be null") end
      else
        push(ctx, segments[i])
        checks[i](item, ctx)
        pop(ctx)
      end
    end
  end
end

-- model -> shape name -> checker(value, ctx)
local checkers = setmetatable({}, { __mode = "k" })

function checker_for(model, name)
  local per_model = checkers[model]
  if not per_model then
    per_model = {}
    checkers[model] = per_model
  end
  local check = per_model[name]
  if check then return check end
  local shape = model.shapes[name]
  if not shape then error("the model has no shape '" .. tostring(name) .. "'") end
  if shape.type == "structure" then
    check = structure_checker(model, shape)
  elseif shape.type == "list" then
    check = list_checker(model, shape)
  elseif shape.type == "map" then
    check = map_checker(model, shape)
  elseif LUA_TYPE[shape.type] then
    check = scalar_checker(spec_of(model, name))
  else
    check = function() end -- a type this validator does not know: let it through
  end
  per_model[name] = check
  return check
end

-- ---- entry points ----

local function summary(errors)
  local texts = {}
  for i, e in ipairs(errors) do texts[i] = e.message end
  return #errors .. (#errors == 1 and " validation error" or " validation errors") ..
    " detected: " .. table.concat(texts, "; ")
end

local EMPTY_INPUT = { type = "structure", members = {} }

function M.request(model, operation, params)
  local op = model.operations[operation]
  if not op then
    local message = "operation '" .. tostring(operation) .. "' is not in the " ..
      tostring(model.metadata.serviceId) .. " model"
    return nil, message, { code = "UnknownOperationException", { path = "", message = message } }, {}
  end
  if params == nil or params == null then params = {} end
  if type(params) ~= "table" then
    error("validate.request: params must be a table, not " .. type(params), 2)
  end
  local check
  if op.input then
    check = checker_for(model, op.input.shape)
  else
    check = structure_checker(model, EMPTY_INPUT)
  end
  local query = model.metadata.protocol == "query"
  local ok, err = pcall(check, params, { fast = true, query = query })
  if ok then return true, {} end
  if err ~= REPORT then error(err, 0) end
  local ctx = { errors = {}, warnings = {}, path = {}, depth = 0, operation = operation, query = query }
  ok, err = pcall(check, params, ctx)
  if not ok and err ~= TYPE_ERROR then error(err, 0) end
  local errors = ctx.errors
  if #errors == 0 then return true, ctx.warnings end
  local message
  if ctx.serialization then
    errors.code = "SerializationException"
    message = errors[1].message
  else
    errors.code = query and "ValidationError" or "ValidationException"
    message = summary(errors)
  end
  return nil, message, errors, ctx.warnings
end

-- One line for a user: AWS's text, with the path added where AWS gives
-- none (a type error under the JSON protocol).
function M.describe(errors)
  if errors.code == "SerializationException" then
    local e = errors[1]
    return "the value at '" .. e.path .. "' has the wrong type: " .. e.message
  end
  if errors.code == "UnknownOperationException" then return errors[1].message end
  return summary(errors)
end

return M
