-- The wire side of the fake: which service and operation a request is for,
-- its input as a table, and answers and errors shaped as each AWS protocol
-- sends them.
--
-- JSON 1.1 (SageMaker, Application Auto Scaling, CloudWatch Logs): POST /,
-- X-Amz-Target "<targetPrefix>.<Operation>", a JSON object body. Answers
-- application/x-amz-json-1.1; errors {"__type": code, "message": text} (the
-- member is "Message" where the model's exceptions spell it so), with
-- x-amzn-ErrorType and x-amzn-RequestId headers.
-- Query (STS): Action=<Operation>&Version=2011-06-15&... in a form body (or
-- the URL query). Answers text/xml: <OpResponse><OpResult>...</OpResult>
-- <ResponseMetadata><RequestId>; errors <ErrorResponse><Error><Type>
-- Sender|Receiver</Type><Code/><Message/></Error><RequestId/>.
local codec = require("fake.aws.codec")
local json = require("smop.json")

local M = {}

-- HTTP statuses of codes the models do not list (auth, throttling, server
-- faults), as AWS sends them; anything else is 400.
local STATUS = {
  InternalFailure = 500, InternalServiceException = 500, InternalServerError = 500,
  ServiceUnavailable = 503, ServiceUnavailableException = 503,
  -- query protocol (STS): auth failures are 403
  SignatureDoesNotMatch = 403, InvalidClientTokenId = 403, ExpiredToken = 403,
  MissingAuthenticationToken = 403, AccessDenied = 403,
  RequestEntityTooLarge = 413, RequestEntityTooLargeException = 413,
}

-- Auth failures by kind (auth.lua) -> code per protocol.
local AUTH_CODES = {
  json = {
    missing = "MissingAuthenticationTokenException", incomplete = "IncompleteSignatureException",
    unknown_key = "UnrecognizedClientException", expired_token = "ExpiredTokenException",
    signature = "InvalidSignatureException",
  },
  query = {
    missing = "MissingAuthenticationToken", incomplete = "IncompleteSignature",
    unknown_key = "InvalidClientTokenId", expired_token = "ExpiredToken",
    signature = "SignatureDoesNotMatch",
  },
}

-- Other generic codes per protocol.
local CODES = {
  json = { throttle = "ThrottlingException", validation = "ValidationException",
    unknown_operation = "UnknownOperationException", too_large = "RequestEntityTooLargeException" },
  query = { throttle = "Throttling", validation = "ValidationError",
    unknown_operation = "InvalidAction", too_large = "RequestEntityTooLarge" },
}

-- STS words a missing signature its own way.
local AUTH_MESSAGES = { query = { missing = "Request is missing Authentication Token" } }

-- The code and message of an auth failure (auth.lua's kind and message).
function M.auth_error(protocol, kind, message)
  return AUTH_CODES[protocol][kind], AUTH_MESSAGES[protocol] and AUTH_MESSAGES[protocol][kind] or message
end

function M.code(protocol, what)
  return CODES[protocol][what]
end

-- ---- services ----

-- models: { [service] = decoded model }. Returns the routing table the app
-- keeps: by_target[prefix] = service, and per service its protocol, signing
-- name and error table (code -> { status, member }).
function M.routes(models)
  local routes = { by_target = {}, services = {} }
  for service, model in pairs(models) do
    local meta = model.metadata
    local errors = {}
    for name, shape in pairs(model.shapes) do
      if shape.exception then
        local code = shape.error and shape.error.code or name
        local member = "message"
        if shape.members and shape.members.Message then member = "Message" end
        errors[code] = { status = shape.error and shape.error.httpStatusCode, member = member }
      end
    end
    routes.services[service] = {
      protocol = meta.protocol, model = model, errors = errors,
      signing_name = meta.signingName or meta.endpointPrefix,
      namespace = meta.xmlNamespace,
    }
    if meta.targetPrefix then routes.by_target[meta.targetPrefix] = service end
    if meta.protocol == "query" then routes.query_service = service end
  end
  return routes
end

function M.status_of(route, code)
  local e = route and route.errors[code]
  return (e and e.status) or STATUS[code] or 400
end

-- ---- forms ----

local function url_decode(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- "a=1&b=x%20y" -> { a = "1", b = "x y" } (the last of repeated names wins)
function M.parse_form(text)
  local out = {}
  for pair in (text or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if k and k ~= "" then out[url_decode(k)] = url_decode(v) end
  end
  return out
end

local function is_form(req)
  local ct = (req.headers["content-type"] or ""):lower()
  return ct:find("application/x-www-form-urlencoded", 1, true) ~= nil
end

-- ---- identifying a request ----

-- Returns { protocol, service, operation, target, form } where service or
-- operation may be nil (the app answers UnknownOperation / InvalidAction).
function M.identify(routes, req)
  local target = req.headers["x-amz-target"]
  if target then
    local prefix, op = target:match("^([^.]+)%.(.+)$")
    local service = prefix and routes.by_target[prefix]
    if service and routes.services[service].model.operations[op] then
      return { protocol = "json", service = service, operation = op, target = target }
    end
    return { protocol = "json", service = service, target = target }
  end
  local form
  if req.method == "POST" and is_form(req) then
    form = M.parse_form(req.body)
  elseif req.query and req.query:find("Action=", 1, true) then
    form = M.parse_form(req.query)
  end
  if form and form.Action and routes.query_service then
    local service = routes.query_service
    local model = routes.services[service].model
    local op = form.Action
    local ok = model.operations[op] and form.Version == model.metadata.apiVersion
    return { protocol = "query", service = service, operation = ok and op or nil, form = form,
      action = op, version = form.Version }
  end
  return { protocol = form and "query" or "json", service = form and routes.query_service or nil }
end

-- ---- query input ----

-- Every dotted prefix of every key, so a list or structure knows whether
-- anything of it was sent without scanning all keys.
local function prefix_set(form)
  local set = {}
  for key in pairs(form) do
    local i = 0
    while true do
      i = key:find(".", i + 1, true)
      if not i then break end
      set[key:sub(1, i - 1)] = true
    end
    set[key] = true
  end
  return set
end

local function join(prefix, name)
  return prefix == "" and name or prefix .. "." .. name
end

local function unflatten(form, present, shapes, shape_name, prefix)
  local shape = shapes[shape_name]
  local t = shape.type
  if t == "structure" then
    local out, any = {}, false
    for member, ref in pairs(shape.members or {}) do
      local key = join(prefix, ref.locationName or member)
      if present[key] then
        out[member] = unflatten(form, present, shapes, ref.shape, key)
        any = true
      end
    end
    return (any or prefix == "") and out or nil
  elseif t == "list" then
    local out = json.array()
    if form[prefix] == "" then return out end
    local item = shape.flattened and prefix or join(prefix, shape.member.locationName or "member")
    local i = 1
    while present[item .. "." .. i] do
      out[i] = unflatten(form, present, shapes, shape.member.shape, item .. "." .. i)
      i = i + 1
    end
    return out
  elseif t == "map" then
    local out = {}
    local i = 1
    while present[prefix .. ".entry." .. i] do
      local k = form[prefix .. ".entry." .. i .. ".key"]
      if k then
        out[k] = unflatten(form, present, shapes, shape.value.shape, prefix .. ".entry." .. i .. ".value")
      end
      i = i + 1
    end
    return out
  end
  local v = form[prefix]
  if t == "integer" or t == "long" then
    return math.tointeger(tonumber(v)) or v
  elseif t == "float" or t == "double" then
    return tonumber(v) or v
  elseif t == "boolean" then
    if v == "true" then return true elseif v == "false" then return false end
  end
  return v
end

-- The operation's input table from a query form.
function M.query_input(model, op, form)
  local input = model.operations[op].input
  if not input then return {} end
  return unflatten(form, prefix_set(form), model.shapes, input.shape, "")
end

-- ---- JSON input ----

local function kind_of(v)
  if v == json.null then return "null" end
  if type(v) == "table" then return json.is_array(v) and "list" or "structure" end
  return type(v)
end

-- The decoded JSON object of a request body, or nil, SerializationException
-- text as Coral words it.
function M.json_input(body)
  if body == nil or body:match("^%s*$") then return {} end
  local v = json.decode(body)
  if v == nil then
    return nil, "Unable to parse the request body as JSON: it is not valid JSON."
  end
  local k = kind_of(v)
  if k == "structure" then return v end
  if k == "list" then return nil, "Start of list found where not expected" end
  if k == "null" then return {} end
  return nil, "Expected a JSON object as the request body, found a " .. k
end

-- ---- answers ----

local function xml_escape(s)
  return (tostring(s):gsub("[&<>\"']", {
    ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }))
end

local function number_text(v)
  local i = math.tointeger(v)
  if i then return tostring(i) end
  return string.format("%.17g", v)
end

local function to_xml(out, value, shapes, shape_name, tag, indent)
  if value == nil or value == json.null then return end
  local shape = shapes[shape_name]
  local t = shape.type
  local pad = string.rep("  ", indent)
  if t == "structure" then
    out[#out + 1] = pad .. "<" .. tag .. ">"
    local names = {}
    for member in pairs(shape.members or {}) do names[#names + 1] = member end
    table.sort(names)
    for _, member in ipairs(names) do
      local ref = shape.members[member]
      to_xml(out, value[member], shapes, ref.shape, ref.locationName or member, indent + 1)
    end
    out[#out + 1] = pad .. "</" .. tag .. ">"
  elseif t == "list" then
    local item = shape.member.locationName or "member"
    if shape.flattened then
      for _, v in ipairs(value) do to_xml(out, v, shapes, shape.member.shape, tag, indent) end
    else
      out[#out + 1] = pad .. "<" .. tag .. ">"
      for _, v in ipairs(value) do to_xml(out, v, shapes, shape.member.shape, item, indent + 1) end
      out[#out + 1] = pad .. "</" .. tag .. ">"
    end
  elseif t == "map" then
    out[#out + 1] = pad .. "<" .. tag .. ">"
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      out[#out + 1] = pad .. "  <entry><key>" .. xml_escape(k) .. "</key>"
      to_xml(out, value[k], shapes, shape.value.shape, "value", indent + 2)
      out[#out + 1] = pad .. "  </entry>"
    end
    out[#out + 1] = pad .. "</" .. tag .. ">"
  else
    local text
    if t == "timestamp" and type(value) == "number" then
      text = codec.iso8601(value)
    elseif t == "boolean" then
      text = value and "true" or "false"
    elseif type(value) == "number" then
      text = number_text(value)
    else
      text = xml_escape(value)
    end
    out[#out + 1] = pad .. "<" .. tag .. ">" .. text .. "</" .. tag .. ">"
  end
end

-- The success answer of operation op: status, headers, body; or nil, err
-- when the output cannot be encoded (a bug in a service module).
function M.answer(info, route, output, request_id)
  if info.protocol == "json" then
    local body, err = json.encode(output or {})
    if not body then return nil, err end
    return 200, { ["Content-Type"] = "application/x-amz-json-1.1", ["x-amzn-RequestId"] = request_id }, body
  end
  local model = route.model
  local op = info.operation
  local spec = model.operations[op].output
  local out = { string.format('<%sResponse xmlns="%s">', op, route.namespace) }
  if spec then
    local wrapper = spec.resultWrapper or (op .. "Result")
    to_xml(out, output or {}, model.shapes, spec.shape, wrapper, 1)
  end
  out[#out + 1] = "  <ResponseMetadata>"
  out[#out + 1] = "    <RequestId>" .. request_id .. "</RequestId>"
  out[#out + 1] = "  </ResponseMetadata>"
  out[#out + 1] = "</" .. op .. "Response>"
  return 200, { ["Content-Type"] = "text/xml", ["x-amzn-RequestId"] = request_id },
    table.concat(out, "\n") .. "\n"
end

-- An error answer: status, headers, body. status nil = the code's status.
function M.error_answer(info, route, code, message, status, request_id)
  status = status or M.status_of(route, code)
  if info.protocol == "query" then
    local ns = route and route.namespace or "https://sts.amazonaws.com/doc/2011-06-15/"
    local body = table.concat({
      string.format('<ErrorResponse xmlns="%s">', ns),
      "  <Error>",
      "    <Type>" .. (status >= 500 and "Receiver" or "Sender") .. "</Type>",
      "    <Code>" .. xml_escape(code) .. "</Code>",
      "    <Message>" .. xml_escape(message or "") .. "</Message>",
      "  </Error>",
      "  <RequestId>" .. request_id .. "</RequestId>",
      "</ErrorResponse>",
    }, "\n") .. "\n"
    return status, { ["Content-Type"] = "text/xml", ["x-amzn-RequestId"] = request_id }, body
  end
  local member = route and route.errors[code] and route.errors[code].member or "message"
  local body = json.encode({ __type = code, [member] = message or "" })
  return status, {
    ["Content-Type"] = "application/x-amz-json-1.1",
    ["x-amzn-RequestId"] = request_id,
    ["x-amzn-ErrorType"] = code,
  }, body
end

return M
