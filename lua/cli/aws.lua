-- `smop aws SERVICE OPERATION [JSON] [--region R] [--endpoint-url URL]
--  [--profile P] [--ca-bundle FILE]`: sign and send one call the way the
-- operator does, print the JSON answer. Exit codes follow the AWS CLI:
-- 0 success, 2 usage (bad arguments, unknown service or operation, bad JSON),
-- 254 an error answered by AWS, 255 any other failure (credentials, network).
local client = require("aws.client")
local creds = require("smop.creds")
local json = require("smop.json")
local model_loader = require("aws.model")

local M = {}

local USAGE = "usage: smop aws SERVICE OPERATION [JSON | file://PATH] [--region R] "
  .. "[--endpoint-url URL] [--profile P] [--ca-bundle FILE]"

local EXIT_USAGE, EXIT_SERVICE, EXIT_OTHER = 2, 254, 255

local function parse_args(args)
  local opts, positional = {}, {}
  local flags = { ["--region"] = "region", ["--endpoint-url"] = "endpoint",
    ["--profile"] = "profile", ["--ca-bundle"] = "ca_file" }
  local i = 1
  while i <= #args do
    local a = args[i]
    local flag, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    flag = flag or a
    if flags[flag] then
      local v = inline or args[i + 1]
      if v == nil or v == "" then return nil, flag .. " needs a value" end
      opts[flags[flag]] = v
      i = i + (inline and 1 or 2)
    elseif a:sub(1, 2) == "--" then
      return nil, "unknown option " .. a
    else
      positional[#positional + 1] = a
      i = i + 1
    end
  end
  if #positional < 2 or #positional > 3 then return nil, "expected SERVICE OPERATION [JSON]" end
  opts.service, opts.operation, opts.input = positional[1], positional[2], positional[3]
  return opts
end

local function wrap_list(names, width)
  local lines, line = {}, "  "
  for i, n in ipairs(names) do
    local piece = n .. (i < #names and ", " or "")
    if #line + #piece > width then
      lines[#lines + 1] = line
      line = "  "
    end
    line = line .. piece
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function read_input(sys, text)
  if text == nil then return {} end
  local path = text:match("^file://(.+)$")
  if path then
    local content, err = sys.read_file(path)
    if not content then return nil, "cannot read " .. err end
    text = content
  end
  local value, err = json.decode(text)
  if value == nil then return nil, "invalid JSON argument: " .. tostring(err) end
  if type(value) ~= "table" or json.is_array(value) then
    return nil, "the JSON argument must be an object, e.g. '{\"TrainingJobName\": \"my-job\"}'"
  end
  return value
end

local function resolve_region(sys, opts)
  if opts.region then return opts.region end
  local r = sys.getenv("AWS_REGION") or sys.getenv("AWS_DEFAULT_REGION")
  if r and r ~= "" then return r end
  return creds.region({ profile = opts.profile })
end

-- --endpoint-url, then AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL (the
-- SDKs' order), else the public endpoint.
local function resolve_endpoint(sys, opts, model)
  if opts.endpoint then return opts.endpoint end
  local specific = sys.getenv("AWS_ENDPOINT_URL_" .. model_loader.endpoint_env_suffix(model))
  if specific and specific ~= "" then return specific end
  local general = sys.getenv("AWS_ENDPOINT_URL")
  if general and general ~= "" then return general end
  return nil
end

function M.run(sys, args)
  local function fail(code, msg)
    sys.stderr("smop aws: " .. msg .. "\n")
    return code
  end
  local opts, perr = parse_args(args)
  if not opts then return fail(EXIT_USAGE, perr .. "\n" .. USAGE) end

  local model, merr = model_loader.load(opts.service)
  if not model then return fail(EXIT_USAGE, merr) end
  local op = model_loader.find_operation(model, opts.operation)
  if not op then
    return fail(EXIT_USAGE, string.format("unknown operation '%s' for %s; known operations:\n%s",
      opts.operation, opts.service, wrap_list(model_loader.operations(model), 100)))
  end
  local input, ierr = read_input(sys, opts.input)
  if not input then return fail(EXIT_USAGE, ierr) end

  local region = resolve_region(sys, opts)
  if not region then
    return fail(EXIT_USAGE, "no region: pass --region, set AWS_REGION, or set region in the profile")
  end
  local c, cerr = client.new({
    service = opts.service, region = region, profile = opts.profile,
    endpoint = resolve_endpoint(sys, opts, model),
    ca_file = opts.ca_file or sys.getenv("AWS_CA_BUNDLE"),
  })
  if not c then return fail(EXIT_USAGE, cerr) end

  local out, err = c:call(op, input)
  if not out then
    return fail(err.kind == "service" and EXIT_SERVICE or EXIT_OTHER, tostring(err))
  end
  sys.stdout(json.encode(out, { indent = 4, sorted = true }) .. "\n")
  return 0
end

return M
